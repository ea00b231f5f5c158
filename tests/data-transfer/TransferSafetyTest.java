import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Transfers never lose rows silently: cursor values compared as values whatever their ISO 8601 form, bad --since
 * and --until refused, a window whose rows all fall outside it by value stops the run, lost commits after a database
 * reconnect are written again, and errors no retry can fix stop at once.
 */
class TransferSafetyTest {
    static final String SINCE = TbTransferTest.SINCE;

    static TbTransferTest.Result pg(Object... args) {
        List<String> a = new ArrayList<>();
        for (Object o : args) a.add(String.valueOf(o));
        return TbTransferTest.runIn(new TbToPostgres(), a.toArray(String[]::new));
    }

    static String query(Pg.Target db, String sql) throws Exception {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    static long count(Pg.Target db, String table) throws Exception {
        return Long.parseLong(query(db, "SELECT count(*) FROM " + table));
    }

    @Test
    void cursorValuesCompareAsValuesInEveryIsoForm() {
        assertTrue(CursorValues.compare("2024-04-29 16:05:00", "2024-04-29T16:00:00Z") > 0, "' ' sorts before 'T' as text only");
        assertEquals(0, CursorValues.compare("2024-04-29 16:00:00", "2024-04-29T18:00:00+02:00"));
        assertEquals(0, CursorValues.compare("2024-04-29 16:00:00", "2024-04-29T16:00:00.000Z"));
        assertEquals(0, CursorValues.compare("2024-04-29 16:00:00.000", "2024-04-29 16:00:00"), "DateTime64 against a bound");
        assertTrue(CursorValues.compare("2024-04-29 16:00:00", "2024-04-29 16:00:00.001") < 0);
        assertTrue(CursorValues.compare("2024-04-29 15:59:59.999", "2024-04-29 16:00:00") < 0);
        assertTrue(CursorValues.compare("2024-04-29T17:00:00+02:00", "2024-04-29T16:00:00+00:00") < 0, "offsets taken to UTC");
        assertTrue(CursorValues.compare("2024-04-29 16:00:00.5", "2024-04-29 16:00:00") > 0);
        assertTrue(CursorValues.compare("2024-04-29", "2024-04-29 00:00:01") < 0, "a date is its midnight");
        assertTrue(CursorValues.compare("2024-04-29 16:00:00+00", "2024-04-29 16:00:01") < 0, "PostgreSQL's timestamptz text");
        assertTrue(CursorValues.compare("-5", "-3") < 0);
        assertTrue(CursorValues.compare("9e1", "1e2") < 0);
        assertTrue(CursorValues.compare("99", "100") < 0);
        assertTrue(CursorValues.compare(99L, "100") < 0, "a number against a stored text watermark");
        assertTrue(CursorValues.compare("b", "a") > 0, "other text as text");
        assertEquals("2024-04-29 15:59:59", CursorValues.below("2024-04-29T18:00:00+02:00"));
        assertEquals("2024-04-28", CursorValues.below("2024-04-29"));
    }

    @Test
    void isoSinceAndUntilReadEveryRowAndTheWatermarkIsAValue() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            // the run: --since with T and Z read 0 rows and moved the watermark past 348 of them
            TbTransferTest.Result r = pg("--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(),
                    "--since", "2023-05-01T00:00:00Z", "--until", "2023-05-01T06:00:00+02:00");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("done: 348 rows read, 348 inserted"), r.err());
            assertEquals(348, count(db, "weather_reports"));
            assertEquals("2023-05-01 04:00:00", query(db, "SELECT watermark FROM transfer_state"), "the endpoint's form, in UTC");
            TbTransferTest.assertTableEqualsSource(db, "weather_reports", TbTransferTest.sourceRows(emu, SINCE, "2023-05-01 04:00:00"));
            // a watermark stored in another ISO form still loads, and is compared as a value
            try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
                st.execute("UPDATE transfer_state SET watermark = '2023-05-01T06:00:00+02:00'");
            }
            TbTransferTest.Result again = pg("--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(),
                    "--until", "2023-05-01 08:00:00");
            assertEquals(0, again.exitCode(), again.err());
            assertTrue(again.err().contains("done: 174 rows read, 174 inserted"), again.err());
            TbTransferTest.assertTableEqualsSource(db, "weather_reports", TbTransferTest.sourceRows(emu, SINCE, "2023-05-01 08:00:00"));
        }
    }

    @Test
    void sinceOrUntilThatIsNoValueIsAOneLineUsageError() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            for (String[] bad : new String[][] {{"--since", "garbage"}, {"--since", "2023-13-45 99:00:00"}, {"--until", "2023-02-30"},
                    {"--until", "yesterday"}}) {
                TbTransferTest.Result r = pg("--once", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(), bad[0], bad[1]);
                assertEquals(2, r.exitCode(), String.join(" ", bad) + ": " + r.err());
                assertEquals(1, r.err().strip().lines().count(), r.err());
                assertTrue(r.err().contains(bad[0] + " '" + bad[1] + "' is not a timestamp"), r.err());
            }
            assertNull(query(db, "SELECT to_regclass('transfer_state')::text"), "nothing was written");
        }
    }

    @Test
    void emptyNamesAreOneLineUsageErrors() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        for (String[] bad : new String[][] {{"--table", ""}, {"--state-table", " "}, {"--key", ""}, {"--cursor", ""},
                {"--pipe", ""}}) {
            TbTransferTest.Result r = pg("--once", "--host", "http://127.0.0.1:9", "--token", "t", "--url", db.libpqUri(), "--retry-for", "1s",
                    bad[0], bad[1]);
            assertEquals(2, r.exitCode(), String.join(" ", bad) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("'" + bad[0] + "'") && r.err().contains("expected a name, got '" + bad[1] + "'")
                    || r.err().contains(bad[0] + " needs at least one"), r.err());
        }
        assertNull(query(db, "SELECT to_regclass('transfer_state')::text"), "nothing reached the database");
    }

    /**
     * An endpoint that shows its cursor in a form that does not compare with the window's bounds (day first): the
     * window filter can place its rows only as text, and drops them all. Going on would write nothing and move the
     * watermark over them; the run stops instead, with the window and the count.
     */
    @Test
    void aWindowWhoseRowsAllFallOutsideItStopsAndKeepsTheWatermark() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            emu.createDataSource("dayfirst_rows", "ts String, site_name String, temp_f Float32");
            emu.append("dayfirst_rows", List.of(Json.MAPPER.createObjectNode().put("ts", "01/05/2023 04:00:00").put("site_name", "a").put("temp_f", 1.5),
                    Json.MAPPER.createObjectNode().put("ts", "01/05/2023 04:00:00").put("site_name", "b").put("temp_f", 2.5),
                    Json.MAPPER.createObjectNode().put("ts", "01/05/2023 03:00:00").put("site_name", "a").put("temp_f", 3.5)));
            emu.addPipe("dayfirst", "SELECT ts, site_name, temp_f FROM dayfirst_rows ORDER BY ts DESC, site_name");
            TbTransferTest.Result r = pg("--once", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(), "--pipe", "dayfirst",
                    "--cursor", "ts", "--key", "ts,site_name", "--since", "2023-05-01 00:00:00", "--until", "2023-05-02 00:00:00");
            assertEquals(1, r.exitCode(), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("returned 3 rows for the window ts >= 2023-05-01 00:00:00 and <= 2023-05-02 00:00:00"), r.err());
            assertTrue(r.err().contains("(0 of them in it) and 3 (e.g. ts = 01/05/2023 04:00:00) can't be placed by value"), r.err());
            assertNull(query(db, "SELECT to_regclass('transfer_state')::text"), "no watermark was written");
        }
    }

    // ------------------------------------------------------------------ errors no retry can fix

    /** An HTTPS server with a self-signed certificate made by keytool (a fresh key pair per test). */
    static HttpsServer selfSignedServer(Path dir) throws Exception {
        Path ks = dir.resolve("server.p12");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Process p = new ProcessBuilder(keytool, "-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
                "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-storetype", "PKCS12", "-keystore", ks.toString(),
                "-storepass", "changeit", "-keypass", "changeit").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ks)) {
            store.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, "changeit".toCharArray());
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(ctx));
        server.createContext("/", ex -> {
            byte[] b = "{\"meta\":[],\"data\":[]}".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        server.start();
        return server;
    }

    @Test
    void anUntrustedCertificateFailsAtOnceInOneLine(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        HttpsServer server = selfSignedServer(dir);
        try {
            long t0 = System.nanoTime();
            TbTransferTest.Result r = pg("--once", "--host", "https://127.0.0.1:" + server.getAddress().getPort(), "--token", "secret-token-42",
                    "--url", db.libpqUri(), "--since", SINCE, "--until", "2023-05-02 00:00:00", "--retry-for", "30s");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(1, r.exitCode(), r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line, no retries: " + r.err());
            assertTrue(r.err().contains("certificate is not trusted"), r.err());
            assertFalse(r.err().contains("retrying") || r.err().contains("secret-token-42"), r.err());
            assertTrue(ms < 20_000, "stopped well before --retry-for 30s: " + ms + " ms");
        } finally {
            server.stop(0);
        }
    }

    @Test
    void a401Or403FromTheSourceFailsAtOnceInOneLine() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            for (int status : new int[] {401, 403}) {
                emu.faults().on("/v0/pipes/").failNext(1, EmulatorFault.status(status));
                TbTransferTest.Result r = pg("--once", "--host", emu.url(), "--token", emu.adminToken(), "--url", db.libpqUri(),
                        "--since", SINCE, "--until", "2023-05-02 00:00:00", "--retry-for", "30s");
                assertEquals(1, r.exitCode(), r.err());
                assertEquals(1, r.err().strip().lines().count(), "one line, no retries: " + r.err());
                assertTrue(r.err().contains("answered " + status), r.err());
                emu.faults().clear();
            }
        }
    }

    @Test
    void anUnknownDatabaseHostFailsAtOnceInOneLine() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            long t0 = System.nanoTime();
            TbTransferTest.Result r = pg("--once", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", "postgresql://app:pw-secret-9@no-such-host.invalid:5432/weather", "--since", SINCE, "--retry-for", "30s");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(1, r.exitCode(), r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line, no retries: " + r.err());
            assertTrue(r.err().contains("unknown host"), r.err());
            assertFalse(r.err().contains("retrying") || r.err().contains("pw-secret-9"), r.err());
            assertTrue(ms < 20_000, "stopped well before --retry-for 30s: " + ms + " ms");
        }
    }

    @Test
    void aDatabaseThatStaysAwayIsOneErrorNamingHostAndDatabase() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: connections are refused
        }
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            TbTransferTest.Result r = pg("--once", "--dry-run", "--quiet", "--host", emu.url(), "--token", emu.adminToken(),
                    "--url", "postgresql://app:pw-secret-9@127.0.0.1:" + port + "/weatherdb", "--since", SINCE, "--retry-for", "1s");
            assertEquals(1, r.exitCode(), r.err());
            String last = r.err().strip().lines().reduce((a, b) -> b).orElse("");
            assertTrue(last.contains("PostgreSQL at postgresql://app@127.0.0.1:" + port + "/weatherdb did not come back within --retry-for 1s"), r.err());
            assertFalse(r.err().contains("pw-secret-9"), r.err());
        }
    }

    // ------------------------------------------------------------------ a lost commit

    /**
     * What a crash with synchronous_commit=off (or a failover to a lagging replica) looks like to the transfer: the
     * database confirmed batches, then holds them no more. Mid-run, with both tables locked (no batch in flight), the
     * test takes the database back to a watermark it had committed earlier (its later rows deleted, transfer_state
     * rolled back) and ends the transfer's connection. The transfer must notice on reconnecting, read the lost rows
     * again, and count each row once.
     */
    @Test
    void commitsLostByTheDatabaseAreWrittenAgainAndCountedOnce(@TempDir Path dir) throws Exception {
        Pg.Target db = TestServices.newDatabase();
        String until = "2023-05-11 00:00:00"; // 10,614 rows
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            // 36 pages of 300 rows at 400 ms each: the transfer is mid-run for about 14 s, however slowly the test polls
            TbTransferTest.flakyReports(emu, 0, 0, 400);
            Path log = dir.resolve("log.txt");
            Process p = TbTransferTest.start("data-transfer/tb-to-postgres.java", "TbToPostgres", log, List.of("--once", "--host", emu.url(),
                    "--token", emu.adminToken(), "--url", db.libpqUri(), "--since", SINCE, "--until", until,
                    "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--retry-for", "90s"));
            try {
                // a watermark the database committed, then two more batches after it
                String earlier = null, later = null;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                int moves = 0;
                String last = null;
                while (System.nanoTime() < deadline && p.isAlive() && moves < 3) {
                    String w = state(db);
                    if (w != null && !w.equals(last)) {
                        if (earlier == null) earlier = w;
                        else moves++;
                        last = w;
                    }
                    Thread.sleep(20);
                }
                assertTrue(p.isAlive() && moves >= 3, "the transfer is still running, past three batches: " + Files.readString(log));
                long kept;
                try (Connection c = Pg.connect(db)) {
                    c.setAutoCommit(false);
                    try (Statement st = c.createStatement()) {
                        st.execute("LOCK TABLE weather_reports, transfer_state IN ACCESS EXCLUSIVE MODE"); // waits for a batch in flight
                        try (ResultSet rs = st.executeQuery("SELECT watermark FROM transfer_state")) {
                            rs.next();
                            later = rs.getString(1);
                        }
                        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM weather_reports")) {
                            rs.next();
                            assertTrue(rs.getLong(1) < 10_614, "the transfer still had rows to write when the test took the database back");
                        }
                        try (PreparedStatement ps = c.prepareStatement("DELETE FROM weather_reports WHERE timestamp > ?::timestamp")) {
                            ps.setString(1, earlier);
                            assertTrue(ps.executeUpdate() > 0, "rows after " + earlier + " are lost");
                        }
                        try (PreparedStatement ps = c.prepareStatement("UPDATE transfer_state SET watermark = ?")) {
                            ps.setString(1, earlier);
                            ps.executeUpdate();
                        }
                        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM weather_reports")) {
                            rs.next();
                            kept = rs.getLong(1);
                        }
                        st.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
                    }
                    c.commit();
                }
                assertTrue(CursorValues.compare(later, earlier) > 0 && kept > 0, earlier + " .. " + later);
                assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the transfer finishes");
            } finally {
                if (p.isAlive()) TbTransferTest.sigkill(p);
            }
            String out = Files.readString(log);
            assertEquals(0, p.exitValue(), out);
            TbTransferTest.unflaky(emu);
            try {
                TbTransferTest.assertTableEqualsSource(db, "weather_reports", TbTransferTest.sourceRows(emu, SINCE, until));
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "; the transfer's output:\n" + out, e);
            }
            assertTrue(out.contains("lost commits"), "the lost commits were noticed: " + out);
            Matcher m = Pattern.compile("done: ([\\d,]+) rows read, ([\\d,]+) inserted, ([\\d,]+) updated").matcher(out);
            assertTrue(m.find(), out);
            long table = count(db, "weather_reports");
            assertEquals(table, Long.parseLong(m.group(2).replace(",", "")), "the summary counts what the table holds: " + out);
            assertEquals(table, Long.parseLong(m.group(1).replace(",", "")), "rows read once each in the summary: " + out);
            assertEquals("0", m.group(3), out);
        }
    }

    static String state(Pg.Target db) {
        try {
            return query(db, "SELECT watermark FROM transfer_state");
        } catch (Exception notYet) {
            return null;
        }
    }
}
