//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Json.java
//SOURCES NetErrors.java
//SOURCES Tinybird.java

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Option;

/**
 * The transfer engine shared by the data-transfer/ scripts: a source (a Tinybird API Endpoint read window by
 * window) -> ascending batches -> a target (PostgreSQL, DynamoDB, Tinybird, MongoDB), with a watermark, --once or
 * follow (--every) modes, --dry-run, --on-error and the summary line.
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
 */
public final class Transfer {
    private Transfer() {}

    // ------------------------------------------------------------------ data model

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

    // ------------------------------------------------------------------ options

    /** Options of every transfer script: {@code @Mixin Transfer.Options transfer;} */
    public static final class Options {
        @Option(names = "--pipe", paramLabel = "NAME", defaultValue = "reports",
                description = "Source API Endpoint (pipe) name (default: ${DEFAULT-VALUE}).")
        public String pipe;

        @Option(names = "--param", paramLabel = "K=V", description = "Extra endpoint parameter; repeat for more (k=a --param k=b is an array).")
        public List<String> params = new ArrayList<>();

        @Option(names = "--cursor", paramLabel = "COLUMN", defaultValue = "timestamp",
                description = "Column that orders the rows and bounds the windows (default: ${DEFAULT-VALUE}).")
        public String cursor;

        @Option(names = "--start-param", paramLabel = "NAME", defaultValue = "start_time",
                description = "Endpoint parameter for the window's start, inclusive (default: ${DEFAULT-VALUE}).")
        public String startParam;

        @Option(names = "--end-param", paramLabel = "NAME", defaultValue = "end_time",
                description = "Endpoint parameter for the window's end, inclusive (default: ${DEFAULT-VALUE}).")
        public String endParam;

        @Option(names = "--limit-param", paramLabel = "NAME",
                description = "Endpoint parameter for the page size (e.g. max_results); set to --page-size on every call.")
        public String limitParam;

        @Option(names = "--page-size", paramLabel = "N", defaultValue = "1000",
                description = "Most rows the endpoint returns per call (its cap; default: ${DEFAULT-VALUE}). A page this full is narrowed.")
        public int pageSize;

        @Option(names = "--since", paramLabel = "VALUE",
                description = "Start from this cursor value (inclusive) when neither --state nor the target has a resume point: a timestamp "
                        + "(2024-04-29 16:00:00, 2024-04-29T16:00:00Z, with an offset: taken to UTC), a date (2024-04-29) or a number.")
        public String since;

        @Option(names = "--until", paramLabel = "VALUE", defaultValue = "now",
                description = "Window end: 'now' (UTC now minus --lag, as YYYY-MM-DD HH:MM:SS), 'none' (no end; numeric cursors), "
                        + "or a timestamp, date or number as --since takes.")
        public String until;

        @Option(names = "--lag", paramLabel = "DURATION", defaultValue = "0s", converter = Cli.DurationConverter.class,
                description = "With --until now: leave rows newer than now minus this for the next round (late ingestion).")
        public Duration lag;

        @Option(names = "--window", paramLabel = "DURATION", converter = Cli.DurationConverter.class,
                description = "Timestamp cursors: read at most this span per window (e.g. 7d for a first sync of a long history), "
                        + "oldest first; bounds memory and re-reads.")
        public Duration window;

        @Option(names = "--once", description = "One sync up to the window end, then exit (default: follow, every --every).")
        public boolean once;

        @Option(names = "--every", paramLabel = "DURATION", defaultValue = "60s", converter = Cli.DurationConverter.class,
                description = "Follow mode: time between syncs (default: ${DEFAULT-VALUE}). Ctrl-C stops cleanly after the batch in flight.")
        public Duration every;

        @Option(names = "--state", paramLabel = "FILE",
                description = "Keep the watermark in FILE too (resume from it first); written atomically after each batch.")
        public Path state;

        @Option(names = "--job", paramLabel = "NAME", description = "Name of this transfer in the target's state (default: the pipe name).")
        public String job;

        @Option(names = "--dry-run", description = "Read the source and show what would be written; change nothing.")
        public boolean dryRun;

        @Option(names = "--on-error", paramLabel = "skip|fail", defaultValue = "fail",
                description = "A row the target can't take: 'fail' stops (default), 'skip' writes it to --reject-file and goes on.")
        public String onError;

        @Option(names = "--reject-file", paramLabel = "FILE", defaultValue = "rejected.ndjson",
                description = "With --on-error skip: rejected rows, one JSON object a line with the reason (default: ${DEFAULT-VALUE}).")
        public Path rejectFile;

        @Option(names = "--retry-for", paramLabel = "DURATION", defaultValue = "2m", converter = Cli.DurationConverter.class,
                description = "Keep retrying a failed read (429, 5xx, network) or write (target unreachable) for this long (default: ${DEFAULT-VALUE}).")
        public Duration retryFor;

        @Option(names = "--batch-rows", paramLabel = "N",
                description = "Most rows per write to the target, at most the target's own (PostgreSQL 50000, Tinybird 50000 "
                        + "through the Events API, MongoDB 5000), which is the default; each write commits a watermark.")
        public Integer batchRows;

        public String job() {
            return job != null ? job : pipe;
        }

        void check() {
            if (!onError.equals("skip") && !onError.equals("fail")) throw Cli.usage("--on-error must be skip or fail, not '" + onError + "'");
            if (pageSize < 1) throw Cli.usage("--page-size must be at least 1");
            if (batchRows != null && batchRows < 1) throw Cli.usage("--batch-rows must be at least 1");
            if (!once && every.isZero()) throw Cli.usage("--every must be more than 0");
            for (String p : params) {
                if (p.indexOf('=') <= 0) throw Cli.usage("--param expects NAME=VALUE, not '" + p + "'");
            }
            name("--pipe", pipe);
            name("--cursor", cursor);
            name("--start-param", startParam);
            name("--end-param", endParam);
            if (limitParam != null) name("--limit-param", limitParam);
            if (job != null) name("--job", job);
            if (since != null) since = normalizeOption("--since", since);
            if (until != null && !until.equals("now") && !until.equals("none")) until = normalizeOption("--until", until);
        }
    }

    /** Refuses an empty or blank name (a table, column, key...) with a usage error naming the option; returns it. */
    public static String name(String option, String value) {
        if (value == null || value.isBlank()) throw Cli.usage(option + " must not be empty");
        return value;
    }

    /** As {@link #name(String, String)} for each of a list (--key a,b); the list must not be empty either. */
    public static List<String> names(String option, List<String> values) {
        if (values == null || values.isEmpty()) throw Cli.usage(option + " needs at least one name");
        for (String v : values) name(option, v);
        return values;
    }

    // ------------------------------------------------------------------ the Tinybird source

    /**
     * A Tinybird API Endpoint as a source, through the lib/ endpoint reader. 429, 5xx, a refused connection and an
     * answer cut short are retried with exponential backoff (200 ms x 2^n, capped at 10 s, with jitter) for up to
     * retryFor, waiting instead as long as a 429 or 503 asks (Retry-After, for a 429 else X-RateLimit-Reset; 50 ms to
     * 60 s); other errors (401, 403, 404, 400: a bad token, pipe or parameter) stop at once, and so do network errors
     * no retry can fix (an untrusted certificate, a failed TLS handshake, an unknown host: see NetErrors).
     */
    public static Source tinybirdSource(TinybirdClient client, String pipe, Duration retryFor, PrintWriter err, boolean quiet) {
        return params -> {
            long deadline = System.nanoTime() + retryFor.toNanos();
            long backoff = 200;
            while (true) {
                long wait = backoff + java.util.concurrent.ThreadLocalRandom.current().nextLong(backoff / 4 + 1);
                try (TinybirdRows rows = client.read(pipe, params)) {
                    List<Column> meta = new ArrayList<>();
                    for (TinybirdRows.Column c : rows.meta()) meta.add(new Column(c.name(), c.type()));
                    List<Object[]> data = new ArrayList<>();
                    Map<String, Integer> index = new HashMap<>();
                    for (int i = 0; i < meta.size(); i++) index.put(meta.get(i).name(), i);
                    for (Object[] r; (r = rows.nextValues(index, meta.size())) != null; ) data.add(r);
                    Long rbl = rows.rowsBeforeLimitAtLeast();
                    return new Page(meta, data, rbl == null ? -1 : rbl);
                } catch (TinybirdApiException e) {
                    int st = e.status;
                    boolean retry = st == 429 || st == 408 || st >= 500;
                    if (!retry || System.nanoTime() > deadline) throw e;
                    boolean asked = e.retryAfterMillis != null && (st == 429 || st == 503);
                    if (asked) wait = Math.max(50, Math.min(e.retryAfterMillis, 60_000)); // the server's Retry-After (or rate-limit reset)
                    if (!quiet) err.println("source: " + e.getMessage() + "; retrying in " + wait + " ms" + (asked ? " (as the server asked)" : ""));
                } catch (Cli.Failure e) {
                    String permanent = NetErrors.permanent(e);
                    if (permanent != null) {
                        throw new Cli.Failure("cannot read from Tinybird at " + Config.redact(client.host()) + ": " + permanent, e);
                    }
                    if (!(e.getCause() instanceof IOException) || System.nanoTime() > deadline) throw e;
                    if (!quiet) err.println("source: " + e.getMessage() + "; retrying in " + wait + " ms");
                }
                err.flush();
                Thread.sleep(wait);
                backoff = Math.min(backoff * 2, 10_000);
            }
        };
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

    // ------------------------------------------------------------------ cursor values

    /**
     * Orders cursor values by what they are: numbers numerically, timestamps (any ISO 8601 form: T or space,
     * optional fraction, Z or an offset, taken to UTC) and dates in time, other text as text. Text alone would put
     * "2024-04-29 16:05:00" before "2024-04-29T16:00:00Z" (' ' sorts before 'T') and drop every row of a window.
     */
    public static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) return toDecimal(x).compareTo(toDecimal(y));
        if (a instanceof String x && b instanceof String y) {
            if (sameShape(x, y)) return x.compareTo(y);
            // DateTime64 rows against a bound without a fraction (or the other way round)
            if (x.length() > y.length() + 1 && isFraction(x, y.length()) && sameShape(x.substring(0, y.length()), y)) {
                int k = x.substring(0, y.length()).compareTo(y);
                return k != 0 ? k : zeros(x, y.length() + 1) ? 0 : 1;
            }
            if (y.length() > x.length() + 1 && isFraction(y, x.length()) && sameShape(y.substring(0, x.length()), x)) {
                int k = x.compareTo(y.substring(0, x.length()));
                return k != 0 ? k : zeros(y, x.length() + 1) ? 0 : -1;
            }
        }
        Object pa = parse(a), pb = parse(b);
        if (pa instanceof LocalDateTime x && pb instanceof LocalDateTime y) return x.compareTo(y);
        if (pa instanceof BigDecimal x && pb instanceof BigDecimal y) return x.compareTo(y);
        return text(a).compareTo(text(b));
    }

    /**
     * True when text order is value order: same length, digits in the same places, the same other characters, no
     * sign in front, no exponent and no UTC offset (values at different offsets can share a shape). The common case
     * (rows of one endpoint against a bound in the same form) stays a plain string comparison.
     */
    static boolean sameShape(String x, String y) {
        int n = x.length();
        if (n != y.length() || n == 0 || !isDigit(x.charAt(0)) || !isDigit(y.charAt(0))) return false;
        for (int i = 1; i < n; i++) {
            char c = x.charAt(i), d = y.charAt(i);
            boolean dc = isDigit(c);
            if (dc != isDigit(d) || (!dc && c != d)) return false;
            if (c == '+' || (c == '-' && i > 7) || c == 'e' || c == 'E') return false;
        }
        return true;
    }

    /** True when s from i on is a fraction of a second: a point and digits only. */
    private static boolean isFraction(String s, int i) {
        if (i < 19 || s.charAt(i) != '.' || s.charAt(i - 3) != ':') return false;
        for (int j = i + 1; j < s.length(); j++) if (!isDigit(s.charAt(j))) return false;
        return true;
    }

    private static boolean zeros(String s, int from) {
        for (int j = from; j < s.length(); j++) if (s.charAt(j) != '0') return false;
        return true;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static final java.util.regex.Pattern TIMESTAMP = java.util.regex.Pattern.compile(
            "(\\d{4}-\\d{2}-\\d{2})[T ](\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d{1,9})?)?)\\s*(Z|z|UTC|[+-]\\d{2}(?::?\\d{2})?)?");
    private static final java.util.regex.Pattern DATE = java.util.regex.Pattern.compile("\\d{4}-\\d{2}-\\d{2}");
    private static final java.util.regex.Pattern NUMBER = java.util.regex.Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");

    /**
     * A cursor value as what it is: a timestamp as a UTC LocalDateTime, a date as the LocalDateTime of its midnight
     * (so dates and timestamps order together), a number as a BigDecimal; null when it is none of these (2023-13-45
     * is none).
     */
    static Object parse(Object v) {
        if (v == null) return null;
        if (v instanceof Number n) return toDecimal(n);
        String s = text(v).strip();
        try {
            java.util.regex.Matcher m = TIMESTAMP.matcher(s);
            if (m.matches()) {
                String time = m.group(2).replace(',', '.');
                LocalDateTime t = LocalDateTime.of(java.time.LocalDate.parse(m.group(1)), java.time.LocalTime.parse(time));
                String z = m.group(3);
                if (z != null && !z.equalsIgnoreCase("Z") && !z.equals("UTC")) {
                    String off = z.length() == 3 ? z + ":00" : z.length() == 5 ? z.substring(0, 3) + ":" + z.substring(3) : z;
                    t = t.atOffset(ZoneOffset.of(off)).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
                }
                return t;
            }
            if (DATE.matcher(s).matches()) return java.time.LocalDate.parse(s).atStartOfDay();
            if (NUMBER.matcher(s).matches()) return new BigDecimal(s);
        } catch (java.time.DateTimeException | NumberFormatException e) {
            return null;
        }
        return null;
    }

    /** The forms --since and --until accept, for their usage error. */
    static final String VALUE_FORMS = "a timestamp (2024-04-29 16:00:00, 2024-04-29T16:00:00Z, 2024-04-29T18:00:00+02:00), "
            + "a date (2024-04-29) or a number";

    /**
     * An option's cursor value in the form endpoints take: timestamps as "yyyy-MM-dd HH:mm:ss" in UTC (a fraction
     * kept when there is one), dates and numbers as given; anything else is a usage error naming the option.
     */
    static String normalizeOption(String option, String value) {
        String s = value == null ? "" : value.strip();
        if (!s.isEmpty()) {
            if (DATE.matcher(s).matches() && parse(s) != null) return s;
            if (NUMBER.matcher(s).matches()) return new BigDecimal(s).toPlainString();
            if (parse(s) instanceof LocalDateTime t) return timestamp(t);
        }
        throw Cli.usage(option + " '" + value + "' is not " + VALUE_FORMS);
    }

    /** A stored watermark or resume value in the endpoint's form (a timestamp stored in another ISO form included). */
    static Object normalizeStored(Object v) {
        if (v instanceof String s && !DATE.matcher(s).matches() && TIMESTAMP.matcher(s.strip()).matches() && parse(s) instanceof LocalDateTime t) {
            return timestamp(t);
        }
        return v;
    }

    static BigDecimal toDecimal(Number n) {
        return n instanceof BigDecimal d ? d : new BigDecimal(n.toString());
    }

    /** A cursor value as an endpoint parameter / state value. */
    public static String text(Object v) {
        if (v instanceof BigDecimal d) return d.toPlainString();
        return String.valueOf(v);
    }

    private static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    /** A timestamp cursor value plus d, or null when v is not a timestamp. */
    static Object plus(Object v, Duration d) {
        if (v instanceof Number || !(v instanceof String s) || !TIMESTAMP.matcher(s.strip()).matches()) return null;
        return parse(s) instanceof LocalDateTime t ? timestamp(t.plus(d)) : null;
    }

    /**
     * A value just below v, for asking an endpoint for "v and newer" whatever its start parameter means (start &lt; t or
     * start &lt;= t): timestamps one second (dates one day) earlier, numbers one less. Rows below v are dropped on arrival.
     */
    public static Object below(Object v) {
        if (v instanceof Number n) return toDecimal(n).subtract(BigDecimal.ONE);
        String s = text(v).strip();
        Object p = parse(s);
        if (p == null) return v; // text cursors: the endpoint must treat start as inclusive
        if (DATE.matcher(s).matches()) return ((LocalDateTime) p).toLocalDate().minusDays(1).toString();
        if (p instanceof LocalDateTime t) return TS.format(t.minusSeconds(1)); // the fraction dropped: still below v
        return ((BigDecimal) p).subtract(BigDecimal.ONE).toPlainString();
    }

    /** ClickHouse DateTime text for an instant (UTC); a fraction of a second, when there is one, as DateTime64 writes it. */
    public static String timestamp(LocalDateTime t) {
        if (t.getNano() == 0) return TS.format(t);
        String f = String.format(Locale.ROOT, "%09d", t.getNano()).replaceFirst("0+$", "");
        return TS.format(t) + "." + f;
    }

    // ------------------------------------------------------------------ type mapping

    /** ClickHouse type -> PostgreSQL type (tinybird-api.md). Nullable/LowCardinality wrappers are unwrapped. */
    public static String postgresType(String chType) {
        String t = unwrapType(chType);
        if (t.startsWith("Decimal")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("Decimal(?:32|64|128|256)?\\((\\d+)\\s*,\\s*(\\d+)\\)").matcher(t);
            if (m.matches()) return "numeric(" + m.group(1) + "," + m.group(2) + ")";
            java.util.regex.Matcher m1 = java.util.regex.Pattern.compile("Decimal(32|64|128|256)\\((\\d+)\\)").matcher(t);
            if (m1.matches()) {
                int p = switch (m1.group(1)) { case "32" -> 9; case "64" -> 18; case "128" -> 38; default -> 76; };
                return "numeric(" + p + "," + m1.group(2) + ")";
            }
            return "numeric";
        }
        if (t.startsWith("DateTime")) return "timestamp";
        if (t.startsWith("Date")) return "date";
        if (t.startsWith("Array(") || t.startsWith("Map(") || t.startsWith("Tuple(") || t.startsWith("JSON") || t.startsWith("Object(")
                || t.startsWith("Nested(")) return "jsonb";
        if (t.startsWith("FixedString") || t.startsWith("Enum")) return "text";
        return switch (t) {
            case "String" -> "text";
            case "Int8", "UInt8", "Int16" -> "smallint";
            case "UInt16", "Int32" -> "integer";
            case "UInt32", "Int64" -> "bigint";
            case "UInt64", "Int128", "UInt128", "Int256", "UInt256" -> "numeric";
            case "Float32" -> "real";
            case "Float64" -> "double precision";
            case "Bool", "Boolean" -> "boolean";
            case "UUID" -> "uuid";
            case "IPv4", "IPv6" -> "inet";
            default -> "text";
        };
    }

    /** True for Nullable(...) types. */
    public static boolean nullable(String chType) {
        String t = chType.strip();
        if (t.startsWith("LowCardinality(")) t = t.substring(15, t.length() - 1);
        return t.startsWith("Nullable(");
    }

    public static String unwrapType(String chType) {
        String t = chType.strip();
        boolean changed = true;
        while (changed) {
            changed = false;
            for (String w : new String[] {"Nullable(", "LowCardinality(", "SimpleAggregateFunction("}) {
                if (t.startsWith(w) && t.endsWith(")")) {
                    t = t.substring(w.length(), t.length() - 1).strip();
                    if (w.startsWith("Simple")) t = t.substring(t.indexOf(',') + 1).strip();
                    changed = true;
                }
            }
        }
        return t;
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

    // ------------------------------------------------------------------ the engine

    /** Totals of a run. */
    public static final class Totals {
        public long read, batches, windows, requests;
        public final Counts counts = new Counts();
        public Object watermark;
        public String resumedFrom;
    }

    /** Runs the transfer. Build one per command invocation. */
    public static final class Engine {
        private final Options o;
        private final Source source;
        private final Target target;
        private final PrintWriter err;
        private final boolean quiet;
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Totals totals = new Totals();
        private List<Column> meta;
        private boolean prepared;
        /** What each flush of this run added to the totals, newest last: a rewind takes the lost ones out again. */
        private final Deque<Flushed> history = new ArrayDeque<>();
        private static final int MAX_HISTORY = 10_000;

        private record Flushed(Object watermark, long read, Counts counts) {}
        private int cursorIdx = -1;
        private int[] keyIdx;
        private BufferedWriter rejects;
        /** Counts rows read (a progress bar on a terminal); may be null. */
        Cli.Progress progress;
        /** Rows of kept-aside segments held in memory at most; beyond, segments are re-read when their turn comes. */
        long maxHeldRows = 500_000;
        private long heldRows;

        public Engine(Options o, Source source, Target target, PrintWriter err, boolean quiet) {
            this.o = o;
            this.source = source;
            this.target = target;
            this.err = err;
            this.quiet = quiet;
        }

        private int maxBatch() {
            return o.batchRows != null ? Math.min(o.batchRows, target.maxBatchRows()) : target.maxBatchRows();
        }

        /** Asks a follow-mode run to stop after the batch in flight (Ctrl-C). */
        public void stop() {
            stop.set(true);
        }

        public Totals totals() {
            return totals;
        }

        /** Runs --once or follow mode; returns the totals. The summary line is printed by the caller. */
        public Totals run() throws Exception {
            o.check();
            Resume start = resumePoint();
            totals.resumedFrom = start == null ? "the beginning" : start.from() + " (" + o.cursor + (start.inclusive() ? " >= " : " > ")
                    + text(start.value()) + ")";
            Resume lo = start;
            try {
                for (int round = 1; ; round++) {
                    Object hi = windowEnd();
                    Totals before = o.once ? null : copy(totals);
                    long t0 = System.nanoTime();
                    // --window: consecutive sub-windows, oldest first, read ahead of the writes (one pipeline)
                    Object reached;
                    for (int rewinds = 0; ; rewinds++) {
                        try {
                            reached = syncWindow(lo, hi);
                            break;
                        } catch (Rewind r) {
                            if (rewinds >= 10) throw new Cli.Failure(r.getMessage() + ", again after 10 rewinds: giving up");
                            lo = rewind(r);
                        }
                    }
                    if (reached != null) lo = new Resume(reached, false, "watermark");
                    if (before != null && !quiet) roundLine(round, before, Duration.ofNanos(System.nanoTime() - t0));
                    if (o.once || stop.get()) break;
                    if (sleepInterruptibly(o.every)) break;
                }
            } finally {
                if (rejects != null) rejects.close();
            }
            return totals;
        }

        /**
         * The target lost commits it had confirmed (a database crash with synchronous_commit=off, a failover to a lagging
         * replica): the database, not memory, says what is there. Takes the resume point from the target again (else
         * --since, else the beginning), takes the flushes above it out of the totals (their rows are read and written
         * again, and counted then), drops the --state file (it is ahead) and has the target prepared again.
         */
        private Resume rewind(Rewind r) throws Exception {
            Optional<Resume> t = target.resume(o.job(), o.cursor);
            Resume back = t.isPresent() ? new Resume(normalizeStored(t.get().value()), t.get().inclusive(), t.get().from())
                    : o.since != null ? new Resume(o.since, true, "--since") : null;
            for (java.util.Iterator<Flushed> it = history.descendingIterator(); it.hasNext(); ) {
                Flushed f = it.next();
                if (back != null && compare(f.watermark(), back.value()) <= 0) break;
                totals.read -= f.read();
                totals.batches--;
                Counts c = f.counts();
                totals.counts.inserted -= c.inserted;
                totals.counts.updated -= c.updated;
                totals.counts.upserted -= c.upserted;
                totals.counts.skipped -= c.skipped;
                totals.counts.rejected -= c.rejected;
                it.remove();
            }
            totals.watermark = back == null ? null : back.value();
            prepared = false;
            if (o.state != null) Files.deleteIfExists(o.state);
            err.println("transfer: " + r.getMessage() + "; reading again from " + (back == null ? "the beginning"
                    : back.from() + " (" + o.cursor + (back.inclusive() ? " >= " : " > ") + text(back.value()) + ")"));
            err.flush();
            return back;
        }

        private static Totals copy(Totals t) {
            Totals c = new Totals();
            c.read = t.read;
            c.batches = t.batches;
            c.windows = t.windows;
            c.requests = t.requests;
            c.counts.add(t.counts);
            return c;
        }

        /** Follow mode: one line a round (what that round did), so a log shows each sync, not only the final total. */
        private void roundLine(int round, Totals before, Duration took) {
            Totals d = copy(totals);
            d.read -= before.read;
            d.batches -= before.batches;
            d.windows -= before.windows;
            d.requests -= before.requests;
            d.counts.inserted -= before.counts.inserted;
            d.counts.updated -= before.counts.updated;
            d.counts.upserted -= before.counts.upserted;
            d.counts.skipped -= before.counts.skipped;
            d.counts.rejected -= before.counts.rejected;
            d.watermark = totals.watermark;
            String line = "round " + round + ": " + summary(d, took, o.dryRun).replaceFirst("^(done|dry run): ", "")
                    + (stop.get() ? "" : "; next in " + (o.every.toMillis() % 1000 == 0 ? o.every.toSeconds() + " s" : o.every.toMillis() + " ms"));
            boolean bar = progress != null && progress.visible();
            err.println((bar ? "\r\033[K" : "") + line);
            err.flush();
        }

        private boolean sleepInterruptibly(Duration d) throws InterruptedException {
            long end = System.nanoTime() + d.toNanos();
            while (System.nanoTime() < end) {
                if (stop.get()) return true;
                Thread.sleep(Math.min(200, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
            }
            return stop.get();
        }

        private Object windowEnd() {
            return switch (o.until) {
                case "now" -> timestamp(LocalDateTime.now(ZoneOffset.UTC).minus(o.lag).withNano(0));
                case "none" -> null;
                default -> o.until;
            };
        }

        Resume resumePoint() throws Exception {
            if (o.state != null && Files.isRegularFile(o.state)) {
                try {
                    var node = Json.MAPPER.readTree(o.state.toFile());
                    if (node.hasNonNull("watermark")) {
                        var w = node.get("watermark");
                        Object v = w.isNumber() ? w.decimalValue() : normalizeStored(w.asText());
                        return new Resume(v, false, "state file " + o.state);
                    }
                } catch (IOException e) {
                    throw new Cli.Failure("state file " + o.state + " is not valid JSON (" + e.getMessage() + "); fix or delete it");
                }
            }
            Optional<Resume> fromTarget = target.resume(o.job(), o.cursor);
            if (fromTarget.isPresent()) {
                Resume r = fromTarget.get();
                return new Resume(normalizeStored(r.value()), r.inclusive(), r.from());
            }
            if (o.since != null) return new Resume(o.since, true, "--since");
            return null;
        }

        // ---------------------------------------------------------- one window, paged

        private record Segment(Object lo, boolean loInclusive, Object hi, List<Object[]> rows, Object watermark) {}

        /**
         * Transfers every row of [lo, hi], in consecutive --window sub-windows when set; returns the new watermark (or
         * null when nothing moved). Reading runs ahead of writing in its own thread, across sub-windows: while one
         * sub-window's rows are written, the next one's pages are read.
         */
        Object syncWindow(Resume lo, Object hi) throws Exception {
            if (lo != null && hi != null && compare(lo.value(), hi) > 0) {
                totals.windows++;
                return null;
            }
            BlockingQueue<Object> queue = new ArrayBlockingQueue<>(4);
            final Object END = new Object();
            Thread producer = Thread.ofPlatform().name("transfer-reader").daemon().start(() -> {
                try {
                    Resume cur = lo;
                    while (o.window != null && cur != null && hi != null && !stop.get()) {
                        Object subHi = plus(cur.value(), o.window);
                        if (subHi == null || compare(subHi, hi) >= 0) break;
                        countWindow();
                        produce(cur, subHi, queue);
                        cur = new Resume(subHi, false, "watermark"); // every segment of a bounded window ends at its hi
                    }
                    if (!stop.get()) {
                        countWindow();
                        produce(cur, hi, queue);
                    }
                    queue.put(END);
                } catch (Throwable t) {
                    try {
                        queue.put(t);
                    } catch (InterruptedException ignored) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            Object watermark = null;
            try {
                List<Segment> pending = new ArrayList<>();
                int pendingRows = 0;
                while (true) {
                    Object item = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (item == null) {
                        if (!pending.isEmpty()) { // nothing new soon: write what we have
                            watermark = flush(pending, watermark);
                            pending.clear();
                            pendingRows = 0;
                        }
                        continue;
                    }
                    if (item == END) break;
                    if (item instanceof Throwable t) {
                        if (!pending.isEmpty()) watermark = flush(pending, watermark);
                        pending.clear();
                        if (t instanceof Exception e) throw e;
                        throw (Error) t;
                    }
                    Segment s = (Segment) item;
                    if (pendingRows + s.rows().size() > maxBatch() && !pending.isEmpty()) {
                        watermark = flush(pending, watermark);
                        pending.clear();
                        pendingRows = 0;
                    }
                    pending.add(s);
                    pendingRows += s.rows().size();
                    if (stop.get()) break;
                }
                if (!pending.isEmpty()) watermark = flush(pending, watermark);
            } finally {
                producer.interrupt();
                producer.join(5000);
            }
            return watermark;
        }

        private synchronized void countWindow() {
            totals.windows++;
        }

        /** Reads [lo, hi] page by page and queues complete segments, oldest first. */
        private void produce(Resume lo, Object hi, BlockingQueue<Object> out) throws Exception {
            Deque<Segment> aside = new ArrayDeque<>();
            Object loValue = lo == null ? null : lo.value();
            boolean loInc = lo == null || lo.inclusive();
            Object curHi = hi;
            while (!stop.get()) {
                Page p = fetch(loValue, loInc, curHi);
                List<Object[]> rows = within(p.rows(), loValue, loInc, curHi);
                refuseIncomparable(p.rows(), rows.size(), loValue, loInc, curHi);
                boolean full = p.rows().size() >= o.pageSize || p.rowsBeforeLimit() > p.rows().size();
                if (!full) {
                    Object wm = curHi != null ? curHi : maxCursor(rows, loValue);
                    out.put(new Segment(loValue, loInc, curHi, sortAscending(rows), wm));
                    break;
                }
                Object m = null, max = null;
                for (Object[] r : p.rows()) {
                    Object c = r[cursorIdx];
                    if (c == null) throw new Cli.Failure("the endpoint returned a row with a null cursor (" + o.cursor + "): "
                            + toJson(meta, r));
                    if (m == null || compare(c, m) < 0) m = c;
                    if (max == null || compare(c, max) > 0) max = c;
                }
                boolean belowLo = loValue != null && (compare(m, loValue) < 0 || (compare(m, loValue) == 0 && !loInc));
                List<Object[]> newer = new ArrayList<>();
                for (Object[] r : rows) if (compare(r[cursorIdx], m) > 0) newer.add(r);
                Object wm = curHi != null ? curHi : max;
                if (belowLo) { // everything of the window above lo is in this page
                    out.put(new Segment(loValue, loInc, curHi, sortAscending(rows), wm));
                    break;
                }
                if (compare(m, max) == 0) {
                    throw new Cli.Failure("more than " + p.rows().size() + " rows share " + o.cursor + " = " + text(m)
                            + ": a page of the endpoint can't hold them; raise the page size (--limit-param NAME --page-size N)");
                }
                boolean keep = heldRows + newer.size() <= maxHeldRows;
                if (keep) heldRows += newer.size();
                aside.push(new Segment(m, false, curHi, keep ? sortAscending(newer) : null, wm));
                curHi = m; // narrow: [lo, m], m inclusive (its rows are read again, entirely)
            }
            while (!aside.isEmpty() && !stop.get()) {
                Segment s = aside.pop();
                if (s.rows() != null) {
                    heldRows -= s.rows().size();
                    out.put(s);
                } else {
                    produce(new Resume(s.lo(), false, "segment"), s.hi(), out); // dropped to save memory: read again
                }
            }
        }

        /**
         * Rows the window filter dropped although they may belong to the window: their cursor values do not compare
         * with the window's bounds as values (a timestamp bound and a value that is no timestamp, say), so the filter
         * could only order them as text. Dropping them would move the watermark over rows never written; the run
         * stops instead, before anything of the window is handed to the target. Rows that compare as values and fall
         * outside are the endpoint's business (the boundary just below lo comes back by design) and stay dropped.
         */
        private void refuseIncomparable(List<Object[]> page, int kept, Object lo, boolean loInc, Object hi) {
            if (kept == page.size()) return;
            Object floor = lo == null ? null : below(lo);
            long outside = 0;
            Object example = null;
            for (Object[] r : page) {
                Object c = r[cursorIdx];
                if (c == null) continue;
                boolean in = (lo == null || compare(c, lo) > 0 || (loInc && compare(c, lo) == 0)) && (hi == null || compare(c, hi) <= 0);
                if (in) continue;
                boolean boundary = lo != null && compare(c, floor) >= 0 && compare(c, lo) <= 0;
                if (boundary && sameKind(c, lo)) continue;
                if ((lo == null || sameKind(c, lo)) && (hi == null || sameKind(c, hi))) continue;
                outside++;
                if (example == null) example = c;
            }
            if (outside == 0) return;
            String window = o.cursor + (lo == null ? "" : (loInc ? " >= " : " > ") + text(lo)) + (lo != null && hi != null ? " and" : "")
                    + (hi == null ? "" : " <= " + text(hi));
            throw new Cli.Failure(String.format(Locale.ROOT, "the endpoint returned %,d rows for the window %s (%,d of them in it) and %,d "
                    + "(e.g. %s = %s) can't be placed by value: its %s values and the window's bounds are not the same kind of "
                    + "timestamp, date or number; nothing of the window was written and the watermark did not move",
                    page.size(), window, kept, outside, o.cursor, text(example), o.cursor));
        }

        /** True when both values parse to the same kind (timestamps and dates alike, numbers) or neither parses (text). */
        private static boolean sameKind(Object a, Object b) {
            Object pa = parse(a), pb = parse(b);
            return pa == null ? pb == null : pb != null && pa.getClass() == pb.getClass();
        }

        private Object maxCursor(List<Object[]> rows, Object dflt) {
            Object max = dflt;
            for (Object[] r : rows) if (max == null || compare(r[cursorIdx], max) > 0) max = r[cursorIdx];
            return max;
        }

        private List<Object[]> sortAscending(List<Object[]> rows) {
            List<Object[]> copy = new ArrayList<>(rows);
            final int ci = cursorIdx;
            copy.sort((a, b) -> compare(a[ci], b[ci]));
            return copy;
        }

        private List<Object[]> within(List<Object[]> rows, Object lo, boolean loInc, Object hi) {
            List<Object[]> out = new ArrayList<>(rows.size());
            for (Object[] r : rows) {
                Object c = r[cursorIdx];
                if (c == null) continue;
                if (lo != null) {
                    int k = compare(c, lo);
                    if (k < 0 || (k == 0 && !loInc)) continue;
                }
                if (hi != null && compare(c, hi) > 0) continue;
                out.add(r);
            }
            return out;
        }

        private Page fetch(Object lo, boolean loInclusive, Object hi) throws Exception {
            Map<String, List<String>> params = new LinkedHashMap<>();
            for (String p : o.params) {
                int eq = p.indexOf('=');
                params.computeIfAbsent(p.substring(0, eq), k -> new ArrayList<>()).add(p.substring(eq + 1));
            }
            if (lo != null) params.put(o.startParam, List.of(text(loInclusive ? below(lo) : lo)));
            if (hi != null) params.put(o.endParam, List.of(text(hi)));
            if (o.limitParam != null) params.put(o.limitParam, List.of(Integer.toString(o.pageSize)));
            Page p = source.fetch(params);
            synchronized (this) {
                totals.requests++;
                if (meta == null) {
                    meta = p.meta();
                    cursorIdx = indexOf(meta, o.cursor, "cursor (--cursor)");
                    List<String> keys = target.keyColumns();
                    keyIdx = new int[keys.size()];
                    for (int i = 0; i < keys.size(); i++) keyIdx[i] = indexOf(meta, keys.get(i), "key");
                }
            }
            return p;
        }

        // ---------------------------------------------------------- writing

        private Object flush(List<Segment> segs, Object watermark) throws Exception {
            List<Object[]> rows = new ArrayList<>();
            for (Segment s : segs) rows.addAll(s.rows());
            Object wm = segs.get(segs.size() - 1).watermark();
            if (progress != null) progress.add(rows.size());
            if (!prepared) {
                target.prepare(meta, o.dryRun, err);
                prepared = true;
            }
            Counts c = new Counts();
            // validation and --on-error
            List<Object[]> ok = new ArrayList<>(rows.size());
            for (Object[] r : rows) {
                String why = target.validate(meta, r);
                if (why == null) {
                    ok.add(r);
                    continue;
                }
                reject(r, why);
                c.rejected++;
            }
            // one row per key (the last read wins): an upsert can't touch a row twice in one statement
            if (keyIdx.length > 0) ok = dedupe(ok, c);
            if (o.dryRun) {
                if (!quiet) err.println("dry run: would write " + ok.size() + " rows up to " + o.cursor + " = " + text(wm)
                        + " to " + target.describe());
            } else if (target.splitOnlyBetweenCursorValues()) {
                c.add(target.write(o.job(), o.cursor, new Batch(meta, ok, wm)));
            } else {
                // a segment bigger than the target's batch: intermediate parts carry no watermark
                int max = maxBatch();
                int i = 0;
                do {
                    List<Object[]> part = ok.subList(i, Math.min(ok.size(), i + max));
                    boolean last = i + max >= ok.size();
                    c.add(target.write(o.job(), o.cursor, new Batch(meta, part, last ? wm : null)));
                    i += max;
                } while (i < ok.size());
            }
            totals.read += rows.size();
            totals.counts.add(c);
            totals.batches++;
            if (wm != null && !o.dryRun) {
                history.addLast(new Flushed(wm, rows.size(), c));
                if (history.size() > MAX_HISTORY) history.removeFirst();
            }
            if (wm != null) {
                totals.watermark = wm;
                if (o.state != null && !o.dryRun) writeState(wm);
            }
            return wm != null ? wm : watermark;
        }

        private List<Object[]> dedupe(List<Object[]> rows, Counts c) {
            Map<Object, Integer> last = new HashMap<>(rows.size() * 2);
            for (int i = 0; i < rows.size(); i++) {
                Object[] r = rows.get(i);
                Object k;
                if (keyIdx.length == 1) {
                    k = keyPart(r[keyIdx[0]]);
                    if (k == null) k = Collections.singletonList(null); // apart from every non-null key
                } else {
                    Object[] parts = new Object[keyIdx.length];
                    for (int j = 0; j < parts.length; j++) parts[j] = keyPart(r[keyIdx[j]]);
                    k = Arrays.asList(parts);
                }
                last.put(k, i);
            }
            if (last.size() == rows.size()) return rows;
            boolean[] keep = new boolean[rows.size()];
            for (int i : last.values()) keep[i] = true;
            List<Object[]> out = new ArrayList<>(last.size());
            for (int i = 0; i < rows.size(); i++) {
                if (keep[i]) out.add(rows.get(i));
                else c.skipped++;
            }
            return out;
        }

        /** A key value as dedupe compares it: decimals by value (1.50 = 1.5). */
        private static Object keyPart(Object v) {
            return v instanceof BigDecimal d ? d.stripTrailingZeros() : v;
        }

        private void reject(Object[] row, String why) throws IOException {
            String where = o.cursor + " = " + text(row[cursorIdx]);
            if (o.onError.equals("fail")) {
                throw new Cli.Failure("row with " + where + ": " + why + " (--on-error skip writes such rows to a reject file and goes on)");
            }
            if (o.dryRun) {
                err.println("dry run: would reject the row with " + where + ": " + why);
                return;
            }
            if (rejects == null) {
                Path parent = o.rejectFile.toAbsolutePath().getParent();
                if (parent != null) Files.createDirectories(parent);
                rejects = Files.newBufferedWriter(o.rejectFile, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            }
            ObjectNode line = Json.MAPPER.createObjectNode();
            line.put("reason", why);
            line.set("row", toJson(meta, row));
            rejects.write(Json.MAPPER.writeValueAsString(line));
            rejects.write('\n');
            rejects.flush();
        }

        private void writeState(Object wm) throws IOException {
            ObjectNode n = Json.MAPPER.createObjectNode();
            n.put("job", o.job());
            n.put("cursor", o.cursor);
            if (wm instanceof BigDecimal d) n.put("watermark", d);
            else n.put("watermark", text(wm));
            n.put("updated_at", java.time.Instant.now().toString());
            Path abs = o.state.toAbsolutePath();
            if (abs.getParent() != null) Files.createDirectories(abs.getParent());
            Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
            Files.writeString(tmp, Json.MAPPER.writeValueAsString(n) + "\n");
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** The summary line: rows read, inserted, updated, skipped, rejected, seconds, rows/s. */
    public static String summary(Totals t, Duration elapsed, boolean dryRun) {
        double s = Math.max(elapsed.toNanos() / 1e9, 1e-9);
        Counts c = t.counts;
        StringBuilder sb = new StringBuilder(dryRun ? "dry run: " : "done: ");
        sb.append(String.format(Locale.ROOT, "%,d rows read", t.read));
        if (c.upserted > 0) sb.append(String.format(Locale.ROOT, ", %,d written (upserts)", c.upserted));
        // a target that can't tell inserts from updates (DynamoDB) reports upserts only: "0 inserted, 0 updated" there
        // read as if nothing had been written
        if (c.upserted == 0 || c.inserted + c.updated > 0) sb.append(String.format(Locale.ROOT, ", %,d inserted, %,d updated", c.inserted, c.updated));
        sb.append(String.format(Locale.ROOT, ", %,d skipped, %,d rejected", c.skipped, c.rejected));
        sb.append(String.format(Locale.ROOT, " in %.2f s (%,.0f rows/s; %,d requests", s, t.read / s, t.requests));
        if (t.watermark != null) sb.append(", watermark ").append(text(t.watermark));
        if (t.resumedFrom != null) sb.append(", from ").append(t.resumedFrom);
        sb.append(')');
        return sb.toString();
    }

    /**
     * Runs an engine inside a command: Ctrl-C (SIGINT/SIGTERM) asks it to stop after the batch in flight and waits
     * for it (up to 30 s); prints the summary line on err.
     */
    public static int runCommand(Options o, Source source, Target target, PrintWriter err, boolean quiet) throws Exception {
        Engine e = new Engine(o, source, target, err, quiet);
        java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(1);
        Thread hook = new Thread(() -> {
            if (finished.getCount() == 0) return;
            e.stop();
            try {
                finished.await(30, TimeUnit.SECONDS); // the batch in flight commits, the summary prints
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "transfer-stop");
        boolean hooked = false;
        try {
            Runtime.getRuntime().addShutdownHook(hook);
            hooked = true;
        } catch (IllegalStateException shuttingDown) {
            // already stopping
        }
        long t0 = System.nanoTime();
        try {
            Totals t;
            try (Cli.Progress p = Cli.Progress.items("transfer", -1, "rows", quiet)) {
                e.progress = p;
                t = e.run();
            }
            err.println(summary(t, Duration.ofNanos(System.nanoTime() - t0), o.dryRun) + (e.stop.get() && !o.once ? " (stopped)" : ""));
            err.flush();
            return Cli.EXIT_OK;
        } finally {
            try {
                target.close();
            } finally {
                finished.countDown();
                if (hooked) {
                    try {
                        Runtime.getRuntime().removeShutdownHook(hook);
                    } catch (IllegalStateException shuttingDown) {
                        // the hook is running and returns now
                    }
                }
            }
        }
    }
}
