import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end against the Tinybird emulator's weather 'reports' pipe (start exclusive, end inclusive, newest first,
 * max_results 1000): PostgreSQL in-process and as a subprocess killed with SIGKILL at random points, PostgreSQL
 * restarted mid-run, 429/503 on the source.
 */
class TbTransferTest {
    // 18 report times x 174 cities = 3,132 rows: more than 3x the endpoint's 1000-row cap
    static final String SINCE = "2023-05-01 00:00:00", UNTIL = "2023-05-03 23:59:59";

    record Result(int exitCode, String out, String err) {}

    /** Runs a transfer command as its main does (Cli.commandLine: a bad option is one line). */
    static Result runIn(Object command, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Cli.commandLine(command).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    /**
     * Makes the emulator's 'reports' endpoint flaky through its fault switches: the first failFirst calls fail, then a
     * share of calls, with 503 or 429 (alternating), and every call is answered after delayMs (a slow source for the
     * kill tests; for Retry-After and dropped connections see sourceFaultsFromTheEmulator...).
     */
    static void flakyReports(TinybirdEmulator emu, int failFirst, double failShare, long delayMs) {
        EmulatorFaults f = emu.faults().clear().on("/v0/pipes/reports");
        for (int n = 1; n <= failFirst; n++) f.failNext(1, n % 2 == 1 ? EmulatorFault.status(503) : EmulatorFault.tooManyRequests(1));
        if (failShare > 0) f.fraction(failShare, 7, EmulatorFault.status(503), EmulatorFault.tooManyRequests(1));
        f.slow(Duration.ofMillis(delayMs));
    }

    static void unflaky(TinybirdEmulator emu) {
        emu.faults().clear();
    }

    /** The source's rows of [since, until] read in one call (key "timestamp|site_name" -> row). */
    static Map<String, ObjectNode> sourceRows(TinybirdEmulator emu, String since, String until) {
        try (TinybirdClient c = new TinybirdClient(emu.url(), emu.adminToken())) {
            TinybirdRows.PipeResult r = c.readAll("reports", Map.of("start_time", CursorValues.below(since), "end_time", until, "max_results", 1_000_000));
            Map<String, ObjectNode> m = new HashMap<>();
            for (ObjectNode n : r.data()) m.put(n.get("timestamp").asText() + "|" + n.get("site_name").asText(), n);
            return m;
        }
    }

    /** Asserts that the PostgreSQL table holds exactly the source rows (no loss, no duplicates, same values). */
    static void assertTableEqualsSource(Pg.Target db, String table, Map<String, ObjectNode> source) throws Exception {
        Map<String, Integer> seen = new HashMap<>();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT timestamp::text, site_name, temp_f, clouds, description, precip FROM " + table)) {
            while (rs.next()) {
                String k = rs.getString(1) + "|" + rs.getString(2);
                seen.merge(k, 1, Integer::sum);
                ObjectNode s = source.get(k);
                assertNotNull(s, "row not in the source: " + k);
                assertEquals((float) s.get("temp_f").asDouble(), rs.getFloat(3), k);
                assertEquals(s.get("clouds").asInt(), rs.getInt(4), k);
                assertEquals(s.get("description").asText(), rs.getString(5), k);
                assertEquals((float) s.get("precip").asDouble(), rs.getFloat(6), k);
            }
        }
        assertEquals(source.size(), seen.size(), "every source row is in the table");
        assertTrue(seen.values().stream().allMatch(n -> n == 1), "no duplicates");
    }

    @Test
    void postgresGetsEveryRowOfAWindowThreeTimesTheCapThenOnlyNewRows() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            Result r = runIn(new TbToPostgres(), "--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", db.libpqUri(), "--since", SINCE, "--until", UNTIL);
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("done: 3,132 rows read, 3,132 inserted, 0 updated, 0 skipped, 0 rejected"), r.err());
            assertFalse(r.err().contains(emu.adminToken()), "the token is never printed");
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, UNTIL));
            // next run: resumes after the watermark; a later window adds only its rows
            Result again = runIn(new TbToPostgres(), "--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", db.libpqUri(), "--until", "2023-05-04 08:00:00");
            assertEquals(0, again.exitCode(), again.err());
            assertTrue(again.err().contains("done: 522 rows read, 522 inserted, 0 updated"), again.err());
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, "2023-05-04 08:00:00"));
            // dry run: reads, says what it would do, writes nothing
            Result dry = runIn(new TbToPostgres(), "--once", "--dry-run", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", db.libpqUri(), "--table", "other", "--since", SINCE, "--until", "2023-05-01 04:00:00");
            assertEquals(0, dry.exitCode(), dry.err());
            assertTrue(dry.err().contains("would create the table") && dry.err().contains("dry run: 348 rows read"), dry.err());
            try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
                ResultSet rs = st.executeQuery("SELECT to_regclass('other') IS NULL");
                rs.next();
                assertTrue(rs.getBoolean(1), "dry run created nothing");
            }
        }
    }

    /**
     * Values that trip naive code, through the streaming reader (no JSON tree) and the COPY writer (UTF-8 written by
     * hand, in 256 KB pieces): tabs, newlines, backslashes, quotes, accents, emoji, a 350 KB string
     * (more than one piece), integers past 64 bits, decimals with more digits than a double holds, booleans, nulls,
     * arrays. The table must hold exactly what the endpoint sent.
     */
    /** COPY text writes numbers digit by digit: the same text as Long.toString and BigDecimal.toPlainString. */
    @Test
    void copyTextNumbersAreTheirPlainText() throws Exception {
        List<java.math.BigDecimal> decimals = new ArrayList<>();
        for (String t : List.of("0", "0.0", "-0.000", "0.05", "-0.05", "1.50", "80.5", "-12.25", "123456789012345678", "-0.123456789012345678",
                "1234567890.12345678", "12345678901234567890.5", "1E+5", "1E-20", "-7E+2", "0.000000000000000001", "999999999999999999")) {
            decimals.add(new java.math.BigDecimal(t));
        }
        Random rnd = new Random(7);
        for (int i = 0; i < 20_000; i++) decimals.add(java.math.BigDecimal.valueOf(rnd.nextLong() >> rnd.nextInt(63), rnd.nextInt(22) - 2));
        for (int i = 0; i < 200_000; i++) { // 15 digits and fewer, every scale: the double route must give the exact digits
            long u = (long) (rnd.nextDouble() * Math.pow(10, 1 + rnd.nextInt(15)));
            decimals.add(java.math.BigDecimal.valueOf(rnd.nextBoolean() ? u : -u, rnd.nextInt(19)));
        }
        for (long u : new long[] {999_999_999_999_999L, 100_000_000_000_000L, 123_456_789_012_345L, 5, 1}) {
            for (int sc = 0; sc <= 18; sc++) decimals.add(java.math.BigDecimal.valueOf(u, sc));
        }
        TbToPostgres.PgTarget.CopyText t = new TbToPostgres.PgTarget.CopyText(null); // never flushed: a value is far below its buffer
        for (java.math.BigDecimal d : decimals) {
            t.n = 0;
            t.decimal(d);
            assertEquals(d.toPlainString(), new String(t.buf, 0, t.n, java.nio.charset.StandardCharsets.US_ASCII), d.toString());
        }
        List<Long> longs = new ArrayList<>(List.of(0L, -1L, 9L, 10L, -10L, Long.MAX_VALUE, Long.MIN_VALUE, 1_000_000_000_000_000_000L));
        for (int i = 0; i < 20_000; i++) longs.add(rnd.nextLong() >> rnd.nextInt(64));
        for (long x : longs) {
            t.n = 0;
            t.number(x);
            assertEquals(Long.toString(x), new String(t.buf, 0, t.n, java.nio.charset.StandardCharsets.US_ASCII));
        }
    }

    @Test
    void postgresKeepsAwkwardValuesExactly() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        String big = "x\t\\é😀".repeat(50_000);
        List<Object[]> rows = List.of(
                new Object[] {1L, "2023-05-01 00:00:01", "tab\there, newline\nthere, cr\r, back\\slash, \"quotes\", \\N", new java.math.BigInteger("340282366920938463463374607431768211455"),
                        new java.math.BigDecimal("12345678901234567890.123456789012345678"), true, List.of("a\tb", "ü")},
                new Object[] {2L, "2023-05-01 00:00:02", "Zürich São Paulo 東京 😀", new java.math.BigInteger("-1"), new java.math.BigDecimal("0.10"), false, List.of()},
                new Object[] {3L, "2023-05-01 00:00:03", null, null, null, null, List.of()},
                new Object[] {4L, "2023-05-01 00:00:04", big, new java.math.BigInteger("18446744073709551616"), new java.math.BigDecimal("-1E-18"), true, List.of(big)});
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            emu.createDataSource("odd_rows", "id Int64, ts DateTime, name Nullable(String), huge Nullable(Int256), "
                    + "amount Nullable(Decimal(38, 18)), flag Nullable(Bool), tags Array(String)");
            List<ObjectNode> json = new ArrayList<>();
            for (Object[] row : rows) {
                ObjectNode o = Json.MAPPER.createObjectNode();
                o.put("id", (Long) row[0]);
                o.put("ts", (String) row[1]);
                o.put("name", (String) row[2]);
                if (row[3] == null) o.putNull("huge"); else o.put("huge", (java.math.BigInteger) row[3]);
                if (row[4] == null) o.putNull("amount"); else o.put("amount", (java.math.BigDecimal) row[4]);
                if (row[5] == null) o.putNull("flag"); else o.put("flag", (Boolean) row[5]);
                ((List<?>) row[6]).forEach(t -> o.withArray("tags").add((String) t));
                if (!o.has("tags")) o.putArray("tags");
                json.add(o);
            }
            emu.append("odd_rows", json);
            emu.addPipe("odd", "SELECT * FROM odd_rows ORDER BY id");
            Result r = runIn(new TbToPostgres(), "--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--pipe", "odd",
                    "--url", db.libpqUri(), "--table", "odd", "--key", "id", "--cursor", "ts", "--since", "2023-05-01 00:00:00",
                    "--until", "2023-05-02 00:00:00");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("4 rows read, 4 inserted"), r.err());
        }
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id, ts::text, name, huge::text, amount, flag, tags::text FROM odd ORDER BY id")) {
            for (Object[] want : rows) {
                assertTrue(rs.next());
                assertEquals(want[0], rs.getLong(1));
                assertEquals(want[1], rs.getString(2));
                assertEquals(want[2], rs.getString(3), "text of row " + want[0]);
                assertEquals(want[3] == null ? null : want[3].toString(), rs.getString(4));
                if (want[4] == null) assertNull(rs.getBigDecimal(5));
                else assertEquals(0, ((java.math.BigDecimal) want[4]).compareTo(rs.getBigDecimal(5)), "exact decimal of row " + want[0]);
                assertEquals(want[5], rs.getObject(6));
                String tags = rs.getString(7);
                if (want[6] == null) assertNull(tags);
                else assertEquals(Json.MAPPER.valueToTree(want[6]), Json.MAPPER.readTree(tags));
            }
            assertFalse(rs.next());
        }
    }

    @Test
    void sourceAnswering429And503IsRetriedAndNothingIsLost() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            flakyReports(emu, 2, 0.4, 0);
            Result r = runIn(new TbToPostgres(), "--once", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", db.libpqUri(), "--since", SINCE, "--until", UNTIL, "--limit-param", "max_results", "--page-size", "500");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("answered 503") && r.err().contains("answered 429") && r.err().contains("retrying"), r.err());
            unflaky(emu);
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, UNTIL));
        }
    }

    @Test
    void sourceFaultsFromTheEmulatorAreRetriedHonouringRetryAfterAndNothingIsLost() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            // the first reads answer 429 with Retry-After: 2, 503, two dropped connections (java.net.http retries a GET
            // once by itself when the connection closes before an answer) and 500; then a fifth of them fail
            emu.faults().on("/v0/pipes/").failNext(1, EmulatorFault.tooManyRequests(2))
                    .failNext(1, EmulatorFault.status(503)).failNext(2, EmulatorFault.drop())
                    .failNext(1, EmulatorFault.status(500))
                    .fraction(0.2, 11, EmulatorFault.status(503), EmulatorFault.status(500), EmulatorFault.drop());
            long t0 = System.nanoTime();
            Result r = runIn(new TbToPostgres(), "--once", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", db.libpqUri(), "--since", SINCE, "--until", UNTIL, "--limit-param", "max_results", "--page-size", "500");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("answered 429") && r.err().contains("retrying in 2000 ms (as the server asked)"), r.err());
            assertTrue(ms >= 2000, "the 429's Retry-After: 2 was waited for, took " + ms + " ms");
            assertTrue(r.err().contains("answered 503") && r.err().contains("answered 500"), r.err());
            assertTrue(r.err().contains("cannot reach Tinybird"), "a dropped connection was retried: " + r.err());
            assertFalse(r.err().contains("answered 503 (Service temporarily unavailable, no data ingested, please retry again) to GET /v0/pipes/reports.json at "
                    + emu.url() + "; retrying in 1000 ms (as"), "a 503 without Retry-After backs off (X-RateLimit-Reset is no wait request): " + r.err());
            assertTrue(emu.stats().faultsInjected() >= 4, "faults injected: " + emu.stats().faultsInjected());
            emu.faults().clear();
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, UNTIL));
        }
    }

    @Test
    void aBadTokenOrPipeIsOneLineAndNoRetry() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            Result r = runIn(new TbToPostgres(), "--once", "--host", emu.url(), "--token", "wrong-token-123",
                    "--url", db.libpqUri(), "--since", SINCE, "--until", UNTIL);
            assertEquals(1, r.exitCode());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("403"), r.err());
            Result p = runIn(new TbToPostgres(), "--once", "--host", emu.url(), "--token", emu.adminToken(), "--pipe", "nope",
                    "--url", db.libpqUri(), "--since", SINCE, "--until", UNTIL);
            assertEquals(1, p.exitCode());
            assertTrue(p.err().contains("The pipe 'nope' does not exist"), p.err());
        }
    }

    // ------------------------------------------------------------------ subprocesses, SIGKILL, restarts

    private static final Map<String, String> CLASSPATHS = new ConcurrentHashMap<>();

    /** The script's classpath (built by jbang once), to run it with plain java: fast start, one process to kill. */
    static String classpath(String script) {
        return CLASSPATHS.computeIfAbsent(script, s -> {
            for (int attempt = 0; ; attempt++) {
                TestServices.Run b = TestServices.jbang(null, Duration.ofMinutes(5), "build", s);
                assertEquals(0, b.exitCode(), b.stderr());
                TestServices.Run cp = TestServices.jbang(null, Duration.ofMinutes(2), "info", "classpath", s);
                assertEquals(0, cp.exitCode(), cp.stderr());
                String classpath = cp.stdout().strip().lines().reduce((a, x) -> x).orElseThrow();
                // the script's own jar comes first; it is missing when a source changed between the two calls
                if (Files.exists(Path.of(classpath.split(File.pathSeparator)[0])) || attempt == 2) return classpath;
            }
        });
    }

    static Process start(String script, String mainClass, Path log, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("-cp");
        String cp = classpath(script);
        for (int i = 0; i < 3 && !hasClass(cp, mainClass); i++) { // another process may be rebuilding the cached jar
            Thread.sleep(1000);
            TestServices.jbang(null, Duration.ofMinutes(5), "build", "--fresh", script); // a racing build left it incomplete
            CLASSPATHS.remove(script);
            cp = classpath(script);
        }
        cmd.add(cp);
        cmd.add(mainClass);
        cmd.addAll(args);
        return new ProcessBuilder(cmd).directory(TestServices.repoRoot().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    static boolean hasClass(String classpath, String mainClass) {
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(classpath.split(File.pathSeparator)[0])) {
            return z.getEntry(mainClass + ".class") != null;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    static void sigkill(Process p) throws InterruptedException {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly(); // SIGKILL on Unix
        p.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * Runs script until it exits 0, first killing it with SIGKILL kills times, each time at a random moment (0-300 ms)
     * after progress() (rows in the target) has moved: mid-transfer, never during start-up. Returns the kills that
     * hit a running process.
     */
    static int runWithKills(String script, String mainClass, Path log, List<String> args, int kills, long seed,
                            java.util.function.LongSupplier progress) throws Exception {
        Random rnd = new Random(seed);
        int landed = 0;
        for (int i = 0; i < kills; i++) {
            long before = progress.getAsLong();
            Process p = start(script, mainClass, log, args);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (p.isAlive() && progress.getAsLong() <= before && System.nanoTime() < deadline) Thread.sleep(20);
            Thread.sleep(rnd.nextInt(300));
            if (p.isAlive()) {
                sigkill(p);
                landed++;
                Files.writeString(log, "\n--- SIGKILL at " + progress.getAsLong() + " rows ---\n", java.nio.file.StandardOpenOption.APPEND);
            } else if (p.exitValue() != 0) {
                fail("run " + i + " failed (exit " + p.exitValue() + "):\n" + Files.readString(log));
            }
        }
        Process p = start(script, mainClass, log, args);
        assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the last run finishes");
        assertEquals(0, p.exitValue(), Files.readString(log));
        return landed;
    }

    @Test
    void postgresSurvivesSigkillAtRandomPoints(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        String until = "2023-05-11 00:00:00"; // 60 report times: 10,440 rows
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            flakyReports(emu, 0, 0, 40);
            Path log = dir.resolve("log.txt");
            List<String> args = List.of("--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(),
                    "--since", SINCE, "--until", until, "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--window", "1d");
            int landed = runWithKills("data-transfer/tb-to-postgres.java", "TbToPostgres", log, args, 4, 11, () -> countRows(db));
            assertTrue(landed >= 3, "most kills hit a running transfer: " + landed + "\n" + Files.readString(log));
            unflaky(emu);
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, until));
        }
    }

    @Test
    void postgresRestartMidRunIsRetried(@TempDir Path dir) throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path data = dir.resolve("pgdata");
        EmbeddedPostgres pg = EmbeddedPostgres.builder().setDataDirectory(data).setCleanDataDirectory(false).setPort(port)
                .setServerConfig("fsync", "off").setPGStartupWait(Duration.ofSeconds(60)).start();
        String until = "2023-05-11 00:00:00";
        Pg.Target db = Pg.resolve("postgresql://postgres@127.0.0.1:" + port + "/postgres", Config.of(Map.of(), Path.of("/nonexistent"), null));
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            // day by day (--window 1d), the source holds its answers after the 8th page (about two days) until
            // PostgreSQL is down: the transfer can not finish before the outage, and has rows to write during it
            java.util.concurrent.CountDownLatch serverDown = new java.util.concurrent.CountDownLatch(1);
            emu.faults().on("/v0/pipes/reports").holdAfter(8, serverDown);
            Path log = dir.resolve("log.txt");
            Process p = start("data-transfer/tb-to-postgres.java", "TbToPostgres", log, List.of("--once", "--host", emu.url(),
                    "--token", emu.adminToken(), "--url", db.libpqUri(), "--since", SINCE, "--until", until,
                    "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--window", "1d", "--retry-for", "90s"));
            // wait until some rows are in, then stop the server and start it again
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline && countRows(db) < 600) Thread.sleep(100);
            assertTrue(p.isAlive(), "still running when PostgreSQL stops: " + Files.readString(log));
            long postmaster = Long.parseLong(Files.readAllLines(data.resolve("postmaster.pid")).get(0).trim());
            pg.close(); // pg_ctl stop -m fast -t 5: it gives up silently after 5 s on a busy machine
            stopForSure(postmaster);
            serverDown.countDown();
            // the transfer must meet the outage: restart only once it has said it is retrying
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline && p.isAlive() && !Files.readString(log).contains("retrying")) Thread.sleep(50);
            Thread.sleep(500);
            pg = EmbeddedPostgres.builder().setDataDirectory(data).setCleanDataDirectory(false).setPort(port)
                    .setServerConfig("fsync", "off").setPGStartupWait(Duration.ofSeconds(60)).start();
            assertTrue(p.waitFor(3, TimeUnit.MINUTES));
            String out = Files.readString(log);
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("retrying"), "the batch was retried: " + out);
            System.out.println(out);
            unflaky(emu);
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, until));
        } finally {
            Path pid = data.resolve("postmaster.pid");
            long postmaster = Files.exists(pid) ? Long.parseLong(Files.readAllLines(pid).get(0).trim()) : -1;
            pg.close();
            if (postmaster > 0) stopForSure(postmaster); // before @TempDir is deleted under it
        }
    }

    /** Fast shutdown (SIGINT) of a postmaster that is still up, and wait until it is gone. */
    static void stopForSure(long postmaster) throws Exception {
        ProcessHandle pm = ProcessHandle.of(postmaster).orElse(null);
        if (pm == null || !pm.isAlive()) return;
        new ProcessBuilder("kill", "-INT", Long.toString(postmaster)).inheritIO().start().waitFor();
        pm.onExit().get(60, TimeUnit.SECONDS);
    }

    static long countRows(Pg.Target db) {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM weather_reports")) {
            rs.next();
            return rs.getLong(1);
        } catch (Exception notYet) {
            return 0;
        }
    }

    /** Follow mode prints a line a round (what that round did), for logs: before, only the final total came out. */
    @Test
    void followModeSaysWhatEachRoundDid(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String until = "2023-05-02 00:00:00";
            int expected = sourceRows(emu, SINCE, until).size();
            Path log = dir.resolve("log.txt");
            Process p = start("data-transfer/tb-to-postgres.java", "TbToPostgres", log, List.of("--every", "300ms", "--host", emu.url(),
                    "--token", emu.adminToken(), "--url", db.libpqUri(), "--since", SINCE, "--until", until));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline && !Files.readString(log).contains("round 3:")) Thread.sleep(50);
            p.destroy();
            assertTrue(p.waitFor(40, TimeUnit.SECONDS), "stops promptly");
            String out = Files.readString(log);
            assertTrue(out.contains(String.format(java.util.Locale.ROOT, "round 1: %,d rows read, %,d inserted, 0 updated", expected, expected)), out);
            assertTrue(out.contains("; next in 300 ms"), out);
            assertTrue(out.contains("round 2: 0 rows read, 0 inserted, 0 updated") && out.contains("round 3: 0 rows read"), out);
            assertTrue(out.contains(String.format(java.util.Locale.ROOT, "done: %,d rows read", expected)), out);
            assertEquals(expected, countRows(db));
        }
    }

    @Test
    void followModeStopsCleanlyOnSigterm(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            flakyReports(emu, 0, 0, 40);
            Path log = dir.resolve("log.txt");
            Path state = dir.resolve("state.json");
            Process p = start("data-transfer/tb-to-postgres.java", "TbToPostgres", log, List.of("--every", "1s", "--host", emu.url(),
                    "--token", emu.adminToken(), "--url", db.libpqUri(), "--since", SINCE, "--until", "2023-05-20 00:00:00",
                    "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--state", state.toString()));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline && countRows(db) < 900) Thread.sleep(50);
            assertTrue(p.isAlive(), Files.readString(log));
            p.destroy(); // SIGTERM, as Ctrl-C's SIGINT: stop after the batch in flight
            assertTrue(p.waitFor(40, TimeUnit.SECONDS), "stops promptly");
            String out = Files.readString(log);
            assertTrue(out.contains("done: ") && out.contains("(stopped)"), "the summary line is printed: " + out);
            // what was committed is consistent: the state's watermark covers exactly the rows in the table
            String wm = Json.MAPPER.readTree(state.toFile()).get("watermark").asText();
            unflaky(emu);
            assertTableEqualsSource(db, "weather_reports", sourceRows(emu, SINCE, wm));
        }
    }
}
