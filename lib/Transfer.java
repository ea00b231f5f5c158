//SOURCES Cli.java
//SOURCES Json.java
//SOURCES ClickHouseTypes.java
//SOURCES CursorValues.java
//SOURCES TinybirdSource.java
//SOURCES TransferEngine.java
//SOURCES TransferOptions.java
//SOURCES TransferPager.java
//SOURCES TransferWriter.java

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What the data-transfer/ scripts share: a source (a Tinybird API Endpoint read window by window) -> ascending
 * batches -> a target (PostgreSQL, DynamoDB, Tinybird, MongoDB), with a watermark, --once or follow (--every) modes,
 * --dry-run, --on-error and the summary line. This file holds the contract between the parts (pages, batches,
 * resume points, counts, the {@link Target} a script implements); the parts live beside it:
 * <ul>
 * <li>{@link TransferOptions}: the options every transfer script mixes in</li>
 * <li>{@link TinybirdSource}: a Tinybird API Endpoint as the source, with retries</li>
 * <li>{@link TransferEngine}: the run (rounds, rewinds, Ctrl-C, the summary); {@link TransferPager} reads a window page by
 * page, {@link TransferWriter} hands its rows to the target</li>
 * <li>{@link CursorValues}: how cursor values compare and print; {@link ClickHouseTypes}: ClickHouse types for the targets</li>
 * </ul>
 *
 * <p><b>Windows and paging.</b> The source is asked for the rows of a window of the cursor column
 * ({@code start_time=lo&end_time=hi}, both inclusive at the endpoint). Endpoints cap their answer (the weather
 * {@code reports} pipe returns at most {@code max_results} rows, newest first), so when a page comes back full
 * (as many rows as the page size, or {@code rows_before_limit_at_least} above the rows returned), only the rows
 * strictly newer than the page's oldest cursor value {@code m} are known to be complete: they are kept aside and
 * the window narrows to {@code [lo, m]} (m inclusive, so rows on the boundary are read again, never lost). When a
 * page is not full, its window is complete. The kept-aside segments are then handed to the target oldest first,
 * so the watermark only ever moves forward over rows that are all written. When more rows share one cursor value
 * than a page can hold, the transfer stops with a clear message (raise the page size with --limit-param).
 *
 * <p><b>Watermark.</b> Each batch handed to the target carries the watermark it completes (all rows with cursor
 * &lt;= watermark are written once the batch is). Targets commit it with the batch (PostgreSQL, one transaction),
 * after the batch (DynamoDB state item), or derive it from their own max cursor (MongoDB: ordered bulk writes in
 * cursor order, resume inclusive; Tinybird: batches split only between cursor values, resume exclusive). Writes are
 * upserts by key (except Tinybird, which appends), so re-reading a boundary never doubles a row.
 *
 * <p>Invariant: no row is lost or written twice; the watermark a target stores never passes a row that is not written.
 */
public final class Transfer {
    private Transfer() {}

    /** A column of the endpoint's meta: name and ClickHouse type. */
    public record Column(String name, String type) {}

    /** One answer of the source. rowsBeforeLimit is -1 when the endpoint did not say. */
    public record Page(List<Column> meta, List<Object[]> rows, long rowsBeforeLimit) {}

    /** Reads one page of the endpoint with the given parameters (retries are the source's business). */
    public interface Source {
        Page fetch(Map<String, List<String>> params) throws Exception;
    }

    /** Where the next window starts: the cursor value, and whether rows equal to it are still wanted. */
    public record Resume(Object value, boolean inclusive, String from) {}

    /** What a target did with a batch. upserted counts rows written where insert and update can't be told apart. */
    public static final class Counts {
        public long inserted, updated, upserted, skipped, rejected;

        public void add(Counts o) {
            inserted += o.inserted;
            updated += o.updated;
            upserted += o.upserted;
            skipped += o.skipped;
            rejected += o.rejected;
        }
    }

    /**
     * Thrown by a target's write when, after reconnecting, its database holds less than it had confirmed (a lost
     * commit): the engine reads the source again from the target's resume point. The message says what was found.
     */
    public static final class Rewind extends Exception {
        public Rewind(String message) {
            super(message);
        }
    }

    /** A batch: rows in ascending cursor order, and the watermark they complete. */
    public record Batch(List<Column> meta, List<Object[]> rows, Object watermark) {}

    /** A destination. Implementations live in the scripts. */
    public interface Target extends AutoCloseable {
        /** "table weather_reports in postgresql://..." (safe to print). */
        String describe();

        /** The columns rows are identified by (for de-duplication within a batch); empty when none. */
        List<String> keyColumns();

        /** Creates the table when missing (with dryRun: only says what it would do). Called once, before writing. */
        void prepare(List<Column> meta, boolean dryRun, PrintWriter err) throws Exception;

        /** Where to resume from, as stored by the target (state or max cursor), or empty. Called before prepare. */
        Optional<Resume> resume(String job, String cursor) throws Exception;

        /** Why a row can't be written (a key is null, too big...), or null when it can. */
        default String validate(List<Column> meta, Object[] row) {
            return null;
        }

        /** Writes the batch and records its watermark for job. Must be atomic or idempotent. */
        Counts write(String job, String cursor, Batch batch) throws Exception;

        /** Largest number of rows per write (the engine merges small segments up to it). */
        default int maxBatchRows() {
            return 10_000;
        }

        /** True when the target must not receive one cursor value split over two batches (append-only targets). */
        default boolean splitOnlyBetweenCursorValues() {
            return false;
        }

        @Override
        default void close() throws Exception {}
    }

    /** Totals of a run. */
    public static final class Totals {
        public long read, batches, windows, requests;
        public final Counts counts = new Counts();
        public Object watermark;
        public String resumedFrom;
    }

    /** A JSON value as a row value: String, Long/BigInteger, BigDecimal (exact, never a float), Boolean, null, or a JsonNode (arrays, objects). */
    public static Object value(com.fasterxml.jackson.databind.JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) return null;
        if (n.isTextual()) return n.textValue();
        if (n.isIntegralNumber()) return n.canConvertToLong() ? (Object) n.longValue() : n.bigIntegerValue();
        if (n.isNumber()) return n.decimalValue();
        if (n.isBoolean()) return n.booleanValue();
        return n;
    }

    /** Index of a column in meta, or a Failure naming what the endpoint has. */
    public static int indexOf(List<Column> meta, String name, String what) {
        for (int i = 0; i < meta.size(); i++) if (meta.get(i).name().equals(name)) return i;
        List<String> names = meta.stream().map(Column::name).toList();
        throw Cli.usage(what + " column '" + name + "' is not in the endpoint's columns " + names);
    }

    /** A row as a JSON object (for reject files and messages). */
    public static ObjectNode toJson(List<Column> meta, Object[] row) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        for (int i = 0; i < meta.size(); i++) o.set(meta.get(i).name(), Json.MAPPER.valueToTree(row[i]));
        return o;
    }
}
