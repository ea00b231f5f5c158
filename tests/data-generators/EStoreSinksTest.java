import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** data-generators/e-store.java into real PostgreSQL and into the local Tinybird emulator (with faults). */
class EStoreSinksTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(Map<String, String> env, java.util.function.Consumer<EStore> tune, String... args) {
        EStore cmd = new EStore();
        cmd.stdoutStream = null; // the output is captured through the PrintWriter
        cmd.common.config(Config.of(env, tmp, null));
        if (tune != null) tune.accept(cmd);
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    // ------------------------------------------------------------------ PostgreSQL

    @Test
    void postgresTotalsInventoryAndEventsMatchARecountOfTheStream() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            // the original's table, as a user of the Python script has it: our columns are added to it
            st.execute("CREATE TABLE ecomm_totals (timestamp TIMESTAMP, total_orders INT, total_returns INT, total_carts INT,"
                    + " total_uncarts INT, total_views INT)");
        }
        Path f = tmp.resolve("pg.ndjson");
        String url = db.libpqUri();
        Result r = run(Map.of(), null, "--postgres", "--pg-events", "--url", url, "--db-update-interval", "300ms",
                "--eps", "40000", "--duration", "2s", "--seed", "21", "--products", "40", "--customers", "60",
                "--out", f.toString());
        assertEquals(0, r.rc, r.err);

        // recount from the stream: unique events by action, and the stock replayed with the restock rule
        EStoreTest.Checker chk = EStoreTest.Checker.forSeed(21, 40, 5);
        chk.file(f);
        assertEquals(List.of(), chk.violations);
        List<String> lines = Files.readAllLines(f);

        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            ResultSet rs = st.executeQuery("SELECT count(*), sum(orders), sum(returns), sum(carts), sum(uncarts), sum(views),"
                    + " max(total_orders), max(total_returns), max(total_carts), max(total_uncarts), max(total_views) FROM ecomm_totals");
            rs.next();
            assertTrue(rs.getLong(1) >= 3, "a row every 300 ms over 2 s, got " + rs.getLong(1));
            long[] want = {chk.mix[3], chk.mix[4], chk.mix[1], chk.mix[2], chk.mix[0]};
            for (int i = 0; i < 5; i++) {
                assertEquals(want[i], rs.getLong(2 + i), "interval sums, column " + i);
                assertEquals(want[i], rs.getLong(7 + i), "final running total, column " + i);
            }
            // running totals never decrease and equal the sum of the intervals so far
            rs = st.executeQuery("SELECT total_views, sum(views) OVER (ORDER BY timestamp, total_views) FROM ecomm_totals ORDER BY timestamp, total_views");
            while (rs.next()) assertEquals(rs.getLong(2), rs.getLong(1));

            rs = st.executeQuery("SELECT product_id, on_hand, price, description FROM product_inventory");
            int n = 0;
            Shop.Catalog cat = Shop.Catalog.of(21, 40);
            while (rs.next()) {
                int p = Integer.parseInt(rs.getString(1).substring("product_".length()));
                assertEquals(chk.stock[p], rs.getInt(2), "on_hand of " + rs.getString(1));
                assertEquals(cat.priceCents()[p], rs.getBigDecimal(3).movePointRight(2).intValueExact());
                assertFalse(rs.getString(4).isBlank());
                n++;
            }
            assertEquals(40, n);

            rs = st.executeQuery("SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE price IS NOT NULL) FROM events");
            rs.next();
            assertEquals(lines.size(), rs.getLong(1), "every event sent, duplicates included");
            assertEquals(chk.unique, rs.getLong(2));
            long priced = 0;
            for (String l : lines) if (l.contains("\"price\"")) priced++;
            assertEquals(priced, rs.getLong(3));
        }
        assertTrue(r.err.contains("events copied"), r.err);
    }

    @Test
    void postgresSettingFromTheFileAndOriginalVariablesWithoutAPort() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        Path yaml = tmp.resolve("settings.yaml");
        Files.writeString(yaml, "write_to_postgres: true\ndb_update_interval_minutes: 10\n");
        String hostPort = db.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
        String port = hostPort.substring(hostPort.lastIndexOf(':') + 1);
        // the original's variables; the port in PGPORT only, to show POSTGRES_DATABASE_PORT may be unset
        Map<String, String> env = Map.of("POSTGRES_DATABASE_HOST", "127.0.0.1", "POSTGRES_DATABASE_NAME", db.database(),
                "POSTGRES_DATABASE_USER", db.user(), "PGPORT", port);
        Result r = run(env, null, "--config", yaml.toString(), "--count", "5000", "--seed", "2", "--out", tmp.resolve("x.ndjson").toString());
        assertEquals(0, r.rc, r.err);
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            ResultSet rs = st.executeQuery("SELECT count(*), sum(views + carts + uncarts + orders + returns) FROM ecomm_totals");
            rs.next();
            assertEquals(1, rs.getLong(1), "one row at the end of a run shorter than the interval");
            assertEquals(r.cmd.stats.unique, rs.getLong(2));
        }
        Result bad = run(Map.of(), null, "--postgres", "--url", "postgresql://nobody@127.0.0.1:1/none", "--count", "1");
        assertEquals(1, bad.rc);
        assertEquals(1, bad.err.lines().count(), bad.err);
    }

    // ------------------------------------------------------------------ Tinybird

    static java.util.function.Consumer<EStore> fastRetries() {
        return cmd -> cmd.writerTuning = s -> s.backoff(Duration.ofMillis(5), Duration.ofMillis(50)).maxAttempts(40).inFlight(4);
    }

    @Test
    void everyEventArrivesInTinybirdDespiteInjectedFaults() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.addToken("estore", "DATASOURCES:APPEND:estore_events", "DATASOURCES:CREATE");
            emu.faults().fraction(0.2, 7,
                    EmulatorFault.tooManyRequests(1), EmulatorFault.status(503),
                    EmulatorFault.status(500).afterStore(), EmulatorFault.drop(),
                    EmulatorFault.drop().afterStore());
            Path f = tmp.resolve("tb.ndjson");
            Result r = run(Map.of("TINYBIRD_TOKEN", token), fastRetries(),
                    "--endpoint", emu.url() + "/v0/events?name={DATASOURCE_NAME}", "--datasource", "estore_events",
                    "--count", "150000", "--seed", "31", "--batch-rows", "2000", "--out", f.toString());
            assertEquals(0, r.rc, r.err);
            assertFalse(r.err.contains(token), "the token is never printed");
            List<String> sent = Files.readAllLines(f);
            assertEquals(150000, sent.size());
            Set<String> sentIds = new HashSet<>();
            for (String l : sent) sentIds.add(Json.MAPPER.readTree(l).path("event_id").asText());

            List<ObjectNode> rows = emu.rows("estore_events");
            Map<String, Integer> copies = new HashMap<>();
            for (JsonNode row : rows) copies.merge(row.path("event_id").asText(), 1, Integer::sum);
            assertEquals(sentIds, copies.keySet(), "every event arrived, and nothing else");
            long extra = rows.size() - sent.size();
            EStoreSinks.TinybirdSink sink = (EStoreSinks.TinybirdSink) r.cmd.lastSinks.stream().filter(s -> s instanceof EStoreSinks.TinybirdSink).findFirst().orElseThrow();
            TinybirdWriter.Stats ws = sink.stats().get(0);
            assertEquals(150000, ws.acknowledged());
            assertEquals(0, ws.failed());
            assertTrue(ws.retries() > 0, "faults were met and retried");
            assertTrue(extra >= 0 && extra <= ws.unknownOutcomeRows(),
                    "extra copies (" + extra + ") only from unknown-outcome retries (" + ws.unknownOutcomeRows() + ")");
            assertTrue(r.err.contains("tinybird estore_events: 150,000 stored"), r.err);
            assertEquals(150000, r.cmd.lastProgress.done(), "the progress line ends at the events acknowledged");
        }
    }

    @Test
    void severalDataSourcesEachGetEveryEvent() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.adminToken();
            Result r = run(Map.of("TINYBIRD_TOKEN", token, "CLOUD_REGION", "ignored-for-a-full-url"), fastRetries(),
                    "--endpoint", emu.url() + "/v0/events?name={DATASOURCE_NAME}", "--datasource", "a_events,b_events",
                    "--count", "20000", "--seed", "4");
            assertEquals(0, r.rc, r.err);
            assertEquals("", r.out, "Tinybird configured: nothing on stdout");
            assertEquals(20000, emu.rowCount("a_events"));
            assertEquals(20000, emu.rowCount("b_events"));
            assertEquals(r.cmd.stats.unique, new HashSet<>(emu.rows("a_events").stream().map(j -> j.path("event_id").asText()).toList()).size());
        }
    }

    /**
     * The README's emulator set-up (TINYBIRD_HOST + TINYBIRD_TOKEN, "every script now talks to the emulator") and the
     * --host every other script has: e-store used to build its URL from {CLOUD_REGION} only and went to the cloud.
     */
    @Test
    void theHostComesFromTinybirdHostOrHostLikeEveryOtherScript() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.adminToken();
            Result r = run(Map.of("TINYBIRD_TOKEN", token, "TINYBIRD_HOST", emu.url()), fastRetries(),
                    "--datasource", "from_env_host", "--count", "700", "--seed", "3");
            assertEquals(0, r.rc, r.err);
            assertEquals(700, emu.rowCount("from_env_host"));

            // --host beats TINYBIRD_HOST; a trailing slash is fine
            r = run(Map.of("TINYBIRD_TOKEN", token, "TINYBIRD_HOST", "http://127.0.0.1:9"), fastRetries(),
                    "--host", emu.url() + "/", "--datasource", "from_option", "--count", "300");
            assertEquals(0, r.rc, r.err);
            assertEquals(300, emu.rowCount("from_option"));

            // an option wins over the settings file: --host over its tinybird_api_endpoint
            Path yaml = tmp.resolve("custom-endpoint.yaml");
            Files.writeString(yaml, "tinybird_api_endpoint: \"https://no-such-host.invalid/v0/events?name={DATASOURCE_NAME}\"\n");
            r = run(Map.of("TINYBIRD_TOKEN", token), fastRetries(), "--config", yaml.toString(), "--host", emu.url(),
                    "--datasource", "over_the_file", "--count", "200");
            assertEquals(0, r.rc, r.err);
            assertEquals(200, emu.rowCount("over_the_file"));

            // the original's CLOUD_REGION still works where TINYBIRD_HOST is not set (here: an unresolvable name fails)
            r = run(Map.of("TINYBIRD_TOKEN", token), tb -> tb.writerTuning = s -> s.maxAttempts(1), "--cloud-region", "no-such-region.invalid", "--datasource", "x", "--count", "5");
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.contains("no-such-region.invalid.tinybird.co"), r.err);

            r = run(Map.of("TINYBIRD_TOKEN", token), null, "--host", emu.url(), "--endpoint", emu.url() + "/v0/events?name=x", "--count", "5");
            assertEquals(2, r.rc);
            assertTrue(r.err.contains("--endpoint names the whole Events API URL"), r.err);
        }
    }

    @Test
    void tokenAndDataSourceFromDotEnvLocal() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            Files.writeString(tmp.resolve(".env.local"), "TINYBIRD_TOKEN=" + emu.adminToken() + "\nDATASOURCE_NAME=from_env\n");
            Result r = run(Map.of(), fastRetries(), "--endpoint", emu.url() + "/v0/events?name={DATASOURCE_NAME}", "--count", "3000");
            assertEquals(0, r.rc, r.err);
            assertEquals(3000, emu.rowCount("from_env"));
            assertFalse(r.err.contains(emu.adminToken()));
        }
        // a token but no data source named anywhere: stdout, with a note
        Files.writeString(tmp.resolve(".env.local"), "TINYBIRD_TOKEN=p.some-token-value\n");
        Result r = run(Map.of(), null, "--count", "5");
        assertEquals(0, r.rc, r.err);
        assertEquals(5, r.out.lines().count());
        assertTrue(r.err.contains("no data source"), r.err);
        assertFalse(r.err.contains("some-token-value"), r.err);
    }

    @Test
    void aRejectedTokenStopsTheRunWithOneLine() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            Result r = run(Map.of("TINYBIRD_TOKEN", "p.not-a-real-token-123"), fastRetries(),
                    "--endpoint", emu.url() + "/v0/events?name=x", "--count", "50000", "--batch-rows", "1000");
            assertEquals(1, r.rc);
            assertFalse(r.err.contains("not-a-real-token"), r.err);
            assertTrue(r.err.contains("403") || r.err.toLowerCase().contains("token"), r.err);
        }
    }
}
