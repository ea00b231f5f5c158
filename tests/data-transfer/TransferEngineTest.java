import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The engine's paging and watermark logic against a source that behaves like the weather 'reports' pipe
 * (start/end inclusive, newest first, capped), and the PostgreSQL target against the real test database.
 * The end-to-end tests against the Tinybird emulator are in TbTransferTest.
 */
class TransferEngineTest {
    static final List<Transfer.Column> META = List.of(new Transfer.Column("timestamp", "DateTime"),
            new Transfer.Column("site_name", "String"), new Transfer.Column("temp_f", "Nullable(Float32)"),
            new Transfer.Column("description", "String"));

    /** Rows sorted by timestamp; like the reports pipe: [start_time, end_time], newest first, at most max_results (or cap). */
    static final class PipeLike implements Transfer.Source {
        final List<Object[]> rows = new ArrayList<>();
        final int cap;
        int calls;

        PipeLike(int cap) {
            this.cap = cap;
        }

        @Override
        public Transfer.Page fetch(Map<String, List<String>> params) {
            calls++;
            String start = params.containsKey("start_time") ? params.get("start_time").get(0) : null;
            String end = params.containsKey("end_time") ? params.get("end_time").get(0) : null;
            int limit = params.containsKey("max_results") ? Integer.parseInt(params.get("max_results").get(0)) : cap;
            List<Object[]> in = new ArrayList<>();
            for (Object[] r : rows) {
                String ts = (String) r[0];
                if (start != null && ts.compareTo(start) < 0) continue;
                if (end != null && ts.compareTo(end) > 0) continue;
                in.add(r);
            }
            in.sort(Comparator.comparing((Object[] r) -> (String) r[0]).reversed()
                    .thenComparing(r -> (String) r[1], Comparator.nullsFirst(Comparator.naturalOrder())));
            List<Object[]> page = in.subList(0, Math.min(limit, in.size()));
            return new Transfer.Page(META, new ArrayList<>(page), in.size());
        }
    }

    /** Rows: n timestamps one minute apart from 2024-01-01, sites per timestamp. */
    static void fill(PipeLike src, int timestamps, int sites, int fromMinute) {
        for (int t = fromMinute; t < fromMinute + timestamps; t++) {
            String ts = String.format("2024-01-%02d %02d:%02d:00", 1 + t / 1440, (t / 60) % 24, t % 60);
            for (int s = 0; s < sites; s++) {
                src.rows.add(new Object[] {ts, "site " + s, new BigDecimal(t % 100 + "." + s), "it's \"fine\"\tok\\n"});
            }
        }
    }

    /** A target that keeps rows by key in memory and checks that every batch moves the watermark forward. */
    static class MemTarget implements Transfer.Target {
        final Map<String, Object[]> rows = new TreeMap<>();
        final List<Object> watermarks = new ArrayList<>();
        int writes;

        public String describe() { return "memory"; }
        public List<String> keyColumns() { return List.of("timestamp", "site_name"); }
        public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter err) {}
        public Optional<Transfer.Resume> resume(String job, String cursor) {
            return watermarks.isEmpty() ? Optional.empty() : Optional.of(new Transfer.Resume(watermarks.get(watermarks.size() - 1), false, "memory"));
        }
        public Transfer.Counts write(String job, String cursor, Transfer.Batch b) {
            writes++;
            Transfer.Counts c = new Transfer.Counts();
            for (Object[] r : b.rows()) {
                if (rows.put(r[0] + "|" + r[1], r) == null) c.inserted++;
                else c.updated++;
            }
            if (b.watermark() != null) {
                if (!watermarks.isEmpty()) assertTrue(CursorValues.compare(b.watermark(), watermarks.get(watermarks.size() - 1)) >= 0, "watermark never goes back");
                watermarks.add(b.watermark());
            }
            return c;
        }
    }

    static TransferOptions options(String... args) {
        TransferOptions o = new TransferOptions();
        new CommandLine(new Object() {
            @CommandLine.Mixin TransferOptions opts = o;
        }).parseArgs(args);
        return o;
    }

    static Transfer.Totals run(TransferOptions o, Transfer.Source src, Transfer.Target t) throws Exception {
        return new TransferEngine(o, src, t, new PrintWriter(new StringWriter()), true).run();
    }

    @Test
    void windowThreeTimesTheCapTransfersEveryRowOnce() throws Exception {
        PipeLike src = new PipeLike(1000);
        fill(src, 1000, 3, 0); // 3000 rows, a page boundary falls inside a timestamp (1000 is not a multiple of 3)
        MemTarget t = new MemTarget();
        Transfer.Totals tot = run(options("--once", "--until", "2024-01-01 16:39:00"), src, t);
        assertEquals(3000, t.rows.size());
        assertEquals(3000, tot.counts.inserted);
        assertEquals(0, tot.counts.updated, "no row written twice");
        assertEquals(3000, tot.read);
        assertTrue(src.calls >= 4, "paged: " + src.calls);
        // again: nothing new, nothing written
        Transfer.Totals again = run(options("--once", "--until", "2024-01-01 16:39:00"), src, t);
        assertEquals(0, again.read);
        // new rows later: only they are read
        fill(src, 10, 3, 1000);
        Transfer.Totals more = run(options("--once", "--until", "2024-12-31 00:00:00"), src, t);
        assertEquals(30, more.read);
        assertEquals(3030, t.rows.size());
    }

    @Test
    void limitParamAndSmallHeldMemoryStillReadEverything() throws Exception {
        PipeLike src = new PipeLike(1000);
        fill(src, 700, 7, 0); // 4900 rows
        MemTarget t = new MemTarget();
        TransferOptions o = options("--once", "--until", "none", "--limit-param", "max_results", "--page-size", "500");
        TransferEngine e = new TransferEngine(o, src, t, new PrintWriter(new StringWriter()), true);
        e.maxHeldRows = 600; // most kept-aside segments are dropped and read again
        Transfer.Totals tot = e.run();
        assertEquals(4900, t.rows.size());
        assertEquals(4900, tot.counts.inserted);
        assertEquals(0, tot.counts.updated);
    }

    @Test
    void windowOptionReadsConsecutiveSubWindowsOldestFirst() throws Exception {
        PipeLike src = new PipeLike(1000);
        fill(src, 1000, 3, 0); // 2024-01-01 00:00 .. 16:39
        MemTarget t = new MemTarget();
        Transfer.Totals tot = run(options("--once", "--since", "2024-01-01 00:00:00", "--until", "2024-01-01 16:39:00", "--window", "2h"), src, t);
        assertEquals(3000, t.rows.size());
        assertEquals(3000, tot.counts.inserted);
        assertEquals(9, tot.windows, "8 windows of 2 h and the rest");
        assertEquals(9, src.calls, "each window fits a page: no narrowing");
        assertEquals("2024-01-01 16:39:00", t.watermarks.get(t.watermarks.size() - 1));
    }

    @Test
    void moreRowsOnOneCursorValueThanAPageHoldsIsAClearError() {
        PipeLike src = new PipeLike(10);
        fill(src, 1, 25, 0);
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> run(options("--once", "--until", "none"), src, new MemTarget()));
        assertTrue(f.getMessage().contains("share timestamp = 2024-01-01 00:00:00"), f.getMessage());
        assertTrue(f.getMessage().contains("--page-size"), f.getMessage());
    }

    @Test
    void stateFileResumesExclusively(@TempDir Path dir) throws Exception {
        PipeLike src = new PipeLike(100);
        fill(src, 50, 2, 0);
        MemTarget t = new MemTarget() {
            @Override
            public Optional<Transfer.Resume> resume(String job, String cursor) {
                return Optional.empty();
            }
        };
        Path state = dir.resolve("s/state.json");
        run(options("--once", "--until", "none", "--state", state.toString()), src, t);
        assertTrue(Files.readString(state).contains("\"watermark\":\"2024-01-01 00:49:00\""), Files.readString(state));
        fill(src, 5, 2, 50);
        Transfer.Totals tot = run(options("--once", "--until", "none", "--state", state.toString()), src, t);
        assertEquals(10, tot.read);
        assertEquals(110, t.rows.size());
    }

    @Test
    void clickHouseTypesMapToPostgres() {
        assertEquals("text", ClickHouseTypes.postgresType("LowCardinality(Nullable(String))"));
        assertEquals("smallint", ClickHouseTypes.postgresType("Int8"));
        assertEquals("bigint", ClickHouseTypes.postgresType("UInt32"));
        assertEquals("numeric", ClickHouseTypes.postgresType("UInt64"));
        assertEquals("real", ClickHouseTypes.postgresType("Float32"));
        assertEquals("double precision", ClickHouseTypes.postgresType("Nullable(Float64)"));
        assertEquals("numeric(10,2)", ClickHouseTypes.postgresType("Decimal(10, 2)"));
        assertEquals("numeric(18,4)", ClickHouseTypes.postgresType("Decimal64(4)"));
        assertEquals("timestamp", ClickHouseTypes.postgresType("DateTime64(3, 'UTC')"));
        assertEquals("date", ClickHouseTypes.postgresType("Date32"));
        assertEquals("boolean", ClickHouseTypes.postgresType("Bool"));
        assertEquals("uuid", ClickHouseTypes.postgresType("UUID"));
        assertEquals("jsonb", ClickHouseTypes.postgresType("Array(String)"));
        assertEquals("jsonb", ClickHouseTypes.postgresType("Map(String, UInt64)"));
        assertTrue(ClickHouseTypes.nullable("Nullable(Float32)"));
        assertFalse(ClickHouseTypes.nullable("Float32"));
    }

    // ------------------------------------------------------------------ PostgreSQL target

    static Map<String, String> pgRows(Pg.Target db, String table) throws Exception {
        Map<String, String> out = new HashMap<>();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT timestamp::text, site_name, temp_f::text, description FROM " + table)) {
            while (rs.next()) {
                String k = rs.getString(1) + "|" + rs.getString(2);
                assertNull(out.put(k, rs.getString(3) + "|" + rs.getString(4)), "duplicate " + k);
            }
        }
        return out;
    }

    @Test
    void postgresTargetCreatesTableUpsertsAndResumesFromItsState(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        PipeLike src = new PipeLike(1000);
        fill(src, 800, 3, 0);
        StringWriter log = new StringWriter();
        TbToPostgres.PgTarget t = new TbToPostgres.PgTarget(db, "weather_reports", List.of("timestamp", "site_name"), "transfer_state",
                java.time.Duration.ofSeconds(10), new PrintWriter(log));
        Transfer.Totals tot = run(options("--once", "--until", "none"), src, t);
        t.close();
        assertEquals(2400, tot.counts.inserted);
        Map<String, String> rows = pgRows(db, "weather_reports");
        assertEquals(2400, rows.size());
        assertEquals("12.1|it's \"fine\"\tok\\n", rows.get("2024-01-01 00:12:00|site 1"), "quotes, tabs and backslashes survive COPY");
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            ResultSet rs = st.executeQuery("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'weather_reports'::regclass AND attnum > 0 ORDER BY attnum");
            List<String> types = new ArrayList<>();
            while (rs.next()) types.add(rs.getString(1));
            assertEquals(List.of("timestamp without time zone", "text", "real", "text"), types);
            rs = st.executeQuery("SELECT watermark FROM transfer_state WHERE job = 'reports'");
            assertTrue(rs.next());
            assertEquals("2024-01-01 13:19:00", rs.getString(1));
        }
        // a changed row and new rows: the next run resumes after the watermark, updates and inserts
        fill(src, 5, 3, 800);
        src.rows.add(new Object[] {"2024-01-01 13:24:00", "site 0", new BigDecimal("99.5"), "changed"});
        TbToPostgres.PgTarget t2 = new TbToPostgres.PgTarget(db, "weather_reports", List.of("timestamp", "site_name"), "transfer_state",
                java.time.Duration.ofSeconds(10), new PrintWriter(log));
        Transfer.Totals tot2 = run(options("--once", "--until", "none"), src, t2);
        t2.close();
        assertEquals(16, tot2.read);
        assertEquals(15, tot2.counts.inserted);
        assertEquals(1, tot2.counts.skipped, "the duplicate key within the batch: the last one read wins");
        assertEquals("99.5|changed", pgRows(db, "weather_reports").get("2024-01-01 13:24:00|site 0"));
        assertEquals(2415, pgRows(db, "weather_reports").size());
        // without a state row (another state table) it resumes at max(timestamp), inclusive: the rows there exist
        // already, so the batch goes through the temporary table and ON CONFLICT: one changed row updated, the rest skipped
        src.rows.removeIf(r -> r[0].equals("2024-01-01 13:24:00") && r[1].equals("site 2"));
        src.rows.add(new Object[] {"2024-01-01 13:24:00", "site 2", new BigDecimal("-1.5"), "colder"});
        TbToPostgres.PgTarget t3 = new TbToPostgres.PgTarget(db, "weather_reports", List.of("timestamp", "site_name"), "other_state",
                java.time.Duration.ofSeconds(10), new PrintWriter(log));
        Transfer.Totals tot3 = run(options("--once", "--until", "none"), src, t3);
        t3.close();
        assertEquals(4, tot3.read);
        assertEquals(0, tot3.counts.inserted);
        assertEquals(1, tot3.counts.updated);
        assertEquals(3, tot3.counts.skipped, "two unchanged rows and the in-batch duplicate");
        assertEquals("-1.5|colder", pgRows(db, "weather_reports").get("2024-01-01 13:24:00|site 2"));
        assertEquals(2415, pgRows(db, "weather_reports").size());
    }

    @Test
    void postgresNullKeyFollowsOnErrorPolicy(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        PipeLike src = new PipeLike(1000);
        fill(src, 3, 2, 0);
        src.rows.add(new Object[] {"2024-01-01 00:01:00", null, null, "no site"});
        Path rejects = dir.resolve("rejects.ndjson");
        TbToPostgres.PgTarget t = new TbToPostgres.PgTarget(db, "w", List.of("timestamp", "site_name"), "transfer_state",
                java.time.Duration.ofSeconds(10), new PrintWriter(new StringWriter()));
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> run(options("--once", "--until", "none"), src, t));
        assertTrue(f.getMessage().contains("key column site_name is null"), f.getMessage());
        assertTrue(f.getMessage().contains("timestamp = 2024-01-01 00:01:00"), f.getMessage());
        Transfer.Totals tot = run(options("--once", "--until", "none", "--on-error", "skip", "--reject-file", rejects.toString()), src, t);
        t.close();
        assertEquals(1, tot.counts.rejected);
        assertEquals(6, pgRows(db, "w").size());
        String line = Files.readString(rejects).strip();
        assertTrue(line.contains("\"reason\":\"key column site_name is null\"") && line.contains("\"description\":\"no site\""), line);
    }
}
