import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class StressCaseTest {
    @TempDir Path dir;

    static HttpServer server;
    static String base;
    static final AtomicLong flaky = new AtomicLong();
    static volatile long stallFrom, stallUntil; // nanoTime window in which /stall answers only at its end

    @BeforeAll
    static void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 512);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/ok", ex -> answer(ex, 200, "{\"data\":[{\"x\":1}],\"rows\":1}"));
        server.createContext("/flaky", ex -> answer(ex, flaky.incrementAndGet() % 4 == 0 ? 500 : 200, "{\"rows\":1}"));
        server.createContext("/stall", ex -> {
            long now = System.nanoTime();
            if (stallFrom == 0) {
                stallFrom = now + 800_000_000L; // the first request arms it: stall from 0.8 s to 1.8 s
                stallUntil = stallFrom + 1_000_000_000L;
            }
            if (now >= stallFrom && now < stallUntil) {
                try {
                    Thread.sleep(Duration.ofNanos(stallUntil - now));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            answer(ex, 200, "{\"rows\":1}");
        });
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterAll
    static void stopServer() {
        server.stop(0);
    }

    static void answer(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    record R(int rc, String out, String err) {}

    static R stress(Map<String, String> env, String... args) {
        StressCase sc = new StressCase();
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(sc).setOut(new PrintWriter(out)).setErr(new PrintWriter(err));
        sc.common.config(Config.of(env, Path.of("/nonexistent-dir"), null));
        int rc = cl.execute(args);
        return new R(rc, out.toString(), err.toString());
    }

    static R seed(Map<String, String> env, String... args) {
        SeedData sd = new SeedData();
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(sd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err));
        sd.common.config(Config.of(env, Path.of("/nonexistent-dir"), null));
        int rc = cl.execute(args);
        return new R(rc, out.toString(), err.toString());
    }

    static JsonNode json(Path p) throws IOException {
        return Json.MAPPER.readTree(Files.readString(p));
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    // ------------------------------------------------------------------ workload

    @Test
    void theSameSeedGivesEveryTargetTheSameQuestions() {
        Workload a = Workload.parse(List.of("city=city", "start_time=window.start", "end_time=window.end",
                "n=int:5..7", "kind=list:a,b"), 7, 2, 90, LocalDate.of(2023, 5, 1), LocalDate.of(2024, 5, 1));
        Workload b = Workload.parse(List.of("city=city", "start_time=window.start", "end_time=window.end",
                "n=int:5..7", "kind=list:a,b"), 7, 2, 90, LocalDate.of(2023, 5, 1), LocalDate.of(2024, 5, 1));
        a.cities(List.of("Denver", "Coeur d'Alene", "Boston"));
        b.cities(List.of("Boston", "Denver", "Coeur d'Alene")); // order of discovery does not matter
        boolean differs = false;
        for (long i = 0; i < 500; i++) {
            Object[] x = a.values(i), y = b.values(i);
            assertArrayEquals(x, y);
            LocalDateTime s = (LocalDateTime) x[1], e = (LocalDateTime) x[2];
            long days = Duration.between(s, e).toDays();
            assertTrue(days >= 2 && days <= 90, "window " + days);
            assertFalse(s.isBefore(LocalDateTime.of(2023, 5, 1, 0, 0)));
            assertFalse(e.isAfter(LocalDateTime.of(2024, 5, 1, 0, 0)));
            long n = (Long) x[3];
            assertTrue(n >= 5 && n <= 7);
            if (!java.util.Arrays.equals(a.values(i), a.values(i + 1))) differs = true;
        }
        assertTrue(differs);
        Workload other = Workload.parse(List.of("city=city"), 8, 2, 90, LocalDate.of(2023, 5, 1), LocalDate.of(2024, 5, 1));
        other.cities(List.of("Denver", "Coeur d'Alene", "Boston"));
        int same = 0;
        for (long i = 0; i < 100; i++) if (other.values(i)[0].equals(a.values(i)[0])) same++;
        assertTrue(same < 80, "another seed, another sequence");
    }

    @Test
    void namedParametersBecomeBindParameters() {
        List<String> names = new ArrayList<>();
        String sql = PostgresTarget.bindNamed("SELECT ':no', x::text, \"a:b\" FROM t -- :comment\nWHERE a = :city AND b > :start_time AND c = :city", names);
        assertEquals("SELECT ':no', x::text, \"a:b\" FROM t -- :comment\nWHERE a = ? AND b > ? AND c = ?", sql);
        assertEquals(List.of("city", "start_time", "city"), names);
        // block comments and dollar quotes too (the one parser, lib/PgClient.named), and a bare ? is refused
        names.clear();
        assertEquals("SELECT /* :x */ $$ :y $$, ?", PostgresTarget.bindNamed("SELECT /* :x */ $$ :y $$, :z", names));
        assertEquals(List.of("z"), names);
        assertThrows(Cli.Failure.class, () -> PostgresTarget.bindNamed("SELECT * FROM t WHERE a = ?", new ArrayList<>()));
        assertEquals(0, PgClient.named("SELECT '?'").bareMarks(), "a ? inside quotes is text");
    }

    // ------------------------------------------------------------------ PostgreSQL and Tinybird side by side

    @Test
    void bothTargetsAnswerTheSameQuestionsOverIdenticalData() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        R s = seed(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--days", "10", "--cities", "5");
        assertEquals(0, s.rc, s.err);
        assertTrue(s.err.contains("postgres: 300 rows"), s.err);
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).start();
             Connection c = Pg.connect(db)) {
            // pg-query's default query (a case-insensitive city) can use an index on the seeded table, not only a scan
            try (Statement st = c.createStatement()) {
                st.execute("SET enable_seqscan = off");
                StringBuilder plan = new StringBuilder();
                try (ResultSet rs = st.executeQuery("EXPLAIN " + PgClient.CITY_QUERY.replace(":city", "'denver'").replace(":limit", "1000"))) {
                    while (rs.next()) plan.append(rs.getString(1)).append('\n');
                }
                assertTrue(plan.toString().contains("weather_reports_lower_site"), plan.toString());
                st.execute("RESET enable_seqscan");
            }
            // identical data: PostgreSQL's rows are the emulator's reports rows, field by field
            String city = "Anaheim";
            JsonNode tb = Json.MAPPER.readTree(java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create(emu.url()
                            + "/v0/pipes/reports.json?city=Anaheim&start_time=2023-05-01%2000:00:00&end_time=2023-05-10%2020:00:00"))
                            .header("Authorization", "Bearer " + emu.adminToken()).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body()).path("data");
            List<String> fromPg = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM weather_reports WHERE site_name = ? AND timestamp > ? "
                    + "AND timestamp <= ? ORDER BY timestamp DESC")) {
                ps.setString(1, city);
                ps.setObject(2, LocalDateTime.of(2023, 5, 1, 0, 0));
                ps.setObject(3, LocalDateTime.of(2023, 5, 10, 20, 0));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        fromPg.add(rs.getTimestamp("timestamp").toLocalDateTime().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss"))
                                + "|" + rs.getInt("clouds") + "|" + rs.getString("description") + "|" + rs.getInt("humidity") + "|"
                                + rs.getFloat("precip") + "|" + rs.getInt("pressure") + "|" + rs.getFloat("temp_f") + "|"
                                + rs.getInt("wind_dir") + "|" + rs.getFloat("wind_speed"));
                    }
                }
            }
            List<String> fromTb = new ArrayList<>();
            for (JsonNode r : tb) {
                fromTb.add(r.get("timestamp").asText() + "|" + r.get("clouds").asInt() + "|" + r.get("description").asText() + "|"
                        + r.get("humidity").asInt() + "|" + (float) r.get("precip").asDouble() + "|" + r.get("pressure").asInt() + "|"
                        + (float) r.get("temp_f").asDouble() + "|" + r.get("wind_dir").asInt() + "|" + (float) r.get("wind_speed").asDouble());
            }
            assertEquals(59, fromTb.size()); // 10 days of 4-hour reports, the first one excluded (start_time < timestamp)
            assertEquals(fromTb, fromPg);

            // the same 60 questions to both: the same rows come back
            Path out = dir.resolve("both.json");
            R r = stress(Map.of("TINYBIRD_TOKEN", emu.adminToken()), "--target", "both", "--url", db.libpqUri(), "--host", emu.url(),
                    "--window-from", "2023-05-01", "--window-to", "2023-05-10", "--window", "2..5", "-c", "3",
                    "--duration", "120s", "--max-requests", "60", "--json", out.toString());
            assertEquals(0, r.rc, r.err);
            JsonNode j = json(out);
            JsonNode pg = j.path("targets").path("postgres"), tbr = j.path("targets").path("tinybird");
            assertEquals(60, pg.path("requests").asLong(), r.out);
            assertEquals(60, tbr.path("requests").asLong(), r.out);
            assertEquals(0, pg.path("errors").asLong(), r.out);
            assertEquals(0, tbr.path("errors").asLong(), r.out);
            assertTrue(pg.path("rows").asLong() > 300, r.out);
            assertEquals(pg.path("rows").asLong(), tbr.path("rows").asLong(), "same questions, same data, same answers\n" + r.out);
            // what each target is, for the report
            JsonNode about = j.path("settings").path("about");
            assertTrue(about.path("postgres").path("version").asText().startsWith("PostgreSQL "), about.toString());
            assertEquals("PostgreSQL", about.path("postgres").path("kind").asText(), about.toString());
            assertFalse(about.path("postgres").path("database").asText().isEmpty(), about.toString());
            assertEquals(emu.url() + " (local emulator)", about.path("tinybird").path("host").asText(), about.toString());
            assertTrue(r.out.contains("postgres") && r.out.contains("tinybird") && r.out.contains("p99.9"), r.out);
        }
    }

    @Test
    void aWindowPastTheDataMovesToTheDataAndSaysSo() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        R s = seed(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--days", "10", "--cities", "5");
        assertEquals(0, s.rc, s.err);
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).start()) {
            // the default window runs to today; the data ends on 2023-05-10 (PostgreSQL) and in 2024 (the emulator)
            Path out = dir.resolve("moved.json");
            R r = stress(Map.of("TINYBIRD_TOKEN", emu.adminToken()), "--target", "both", "--url", db.libpqUri(), "--host", emu.url(),
                    "-c", "2", "--duration", "120s", "--max-requests", "40", "--json", out.toString());
            assertEquals(0, r.rc, r.err);
            assertTrue(r.err.contains("reaches past the data (postgres weather_reports 2023-05-01 00:00:00 to 2023-05-10 20:00:00, "
                    + "tinybird weather_data 2023-05-01 00:00:00 to 2024-"), r.err);
            assertTrue(r.err.contains("using 2023-05-01..2023-05-11"), r.err);
            JsonNode j = json(out);
            for (String t : List.of("postgres", "tinybird")) {
                assertEquals(40, j.path("targets").path(t).path("requests").asLong(), t + "\n" + r.out);
                assertEquals(0, j.path("targets").path(t).path("empty_answers").asLong(), t + "\n" + r.out);
                assertTrue(j.path("targets").path(t).path("rows_per_request").asDouble() > 1, t + "\n" + r.out);
            }
            assertTrue(r.out.contains("rows/request"), r.out);
            assertFalse(r.out.contains("had no rows"), r.out);

            // a token that may not use the Query API: the run goes on and says it could not check
            String reader = emu.addToken("reader", "PIPES:READ:reports", "PIPES:READ:api_cities");
            R t = stress(Map.of("TINYBIRD_TOKEN", reader), "--target", "tinybird", "--host", emu.url(),
                    "-c", "1", "--duration", "120s", "--max-requests", "5");
            assertEquals(0, t.rc, t.err);
            assertTrue(t.err.contains("tinybird: could not check the time range of the data (weather_data): the Query API answered HTTP 403"
                    + " (the token may not read weather_data through /v0/sql)"), t.err);
            assertFalse(t.err.contains(reader), t.err);
        }
        // a window the user fixed stays (with a warning), and a run of empty answers says so
        Path out = dir.resolve("fixed.json");
        R f = stress(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--window-from", "2025-01-01", "--window-to", "2025-06-01",
                "-c", "2", "--duration", "120s", "--max-requests", "20", "--json", out.toString());
        assertEquals(0, f.rc, f.err);
        assertTrue(f.err.contains("the window 2025-01-01..2025-06-01 reaches past the data"), f.err);
        assertTrue(f.err.contains("(--window-from and --window-to are yours)"), f.err);
        assertEquals(20, json(out).path("targets").path("postgres").path("empty_answers").asLong(), f.out);
        assertTrue(f.out.contains("postgres: 100% of the answers had no rows"), f.out);
    }

    /** The examples of --help, of the catalog description and of the README are commands as they are pasted. */
    @Test
    void theExamplesArePasteableCommands() throws IOException {
        Path root = TestServices.repoRoot();
        List<String> lines = new ArrayList<>();
        CommandLine help = Cli.commandLine(new StressCase());
        lines.addAll(help.getUsageMessage().lines().toList());
        lines.addAll(help.getSubcommands().get("merge").getUsageMessage().lines().toList());
        for (String l : Files.readAllLines(root.resolve("stress-case/stress-case.java"))) {
            if (l.startsWith("//DESCRIPTION ")) lines.add(l.substring(14));
        }
        lines.addAll(Files.readAllLines(root.resolve("stress-case/README.md")));
        int n = 0;
        for (String l : lines) {
            String t = l.strip();
            if (!t.matches("^(\\S*/)?(jbang )?stress-case(\\.java)? .*")) continue; // a line that starts a command
            assertTrue(t.startsWith("./jbang stress-case "), "an example to paste from the top of the checkout: " + t);
            assertFalse(t.endsWith("\\"), "an example on one line: " + t);
            List<String> args = new ArrayList<>();
            Matcher m = Pattern.compile("'([^']*)'|(\\S+)").matcher(t.substring("./jbang stress-case ".length()));
            while (m.find()) args.add(m.group(1) != null ? m.group(1) : m.group(2));
            assertDoesNotThrow(() -> Cli.commandLine(new StressCase()).parseArgs(args.toArray(String[]::new)), t);
            n++;
        }
        assertTrue(n >= 12, n + " examples");
        // --param replaces the default parameters, and says so where it matters
        R r = stress(Map.of(), "--target", "postgres", "--url", "postgresql://127.0.0.1:1/x", "--param", "aid=int:1..9");
        assertEquals(2, r.rc, r.err);
        assertTrue(r.err.contains("--sql uses :city but no --param city=... defines it (any --param replaces the default parameters"), r.err);
    }

    @Test
    void aCityWithAnApostropheWorksInBothTargets() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).weather(false).start()) {
            Map<String, String> env = Map.of("TINYBIRD_TOKEN", emu.adminToken());
            R s = seed(env, "--url", db.libpqUri(), "--host", emu.url(), "--days", "6", "--cities", "0", "--city", "Coeur d'Alene");
            assertEquals(0, s.rc, s.err);
            assertEquals(36, emu.rowCount("weather_data"), "seed-data loaded the rows into the data source");
            // the reports and api_cities pipes over the loaded data source, as a workspace would define them
            emu.addPipe("api_cities", "SELECT DISTINCT site_name FROM weather_data ORDER BY site_name");
            emu.addPipe("reports", "SELECT site_name, timestamp, temp_f FROM weather_data WHERE lowerUTF8(site_name) = lowerUTF8({city:String})"
                    + " AND ({start_time:Nullable(DateTime)} IS NULL OR timestamp > {start_time:Nullable(DateTime)})"
                    + " AND ({end_time:Nullable(DateTime)} IS NULL OR timestamp <= {end_time:Nullable(DateTime)}) ORDER BY timestamp DESC",
                    Map.of("city", ""));
            Path out = dir.resolve("apostrophe.json");
            R r = stress(env, "--target", "both", "--url", db.libpqUri(), "--host", emu.url(), "--window-from", "2023-05-01",
                    "--window-to", "2023-05-07", "--window", "1..3", "-c", "2", "--duration", "120s", "--max-requests", "20",
                    "--json", out.toString());
            assertEquals(0, r.rc, r.err);
            JsonNode j = json(out);
            assertTrue(j.path("settings").path("workload").asText().contains("(1 cities)"), j.toString());
            for (String t : List.of("postgres", "tinybird")) {
                JsonNode n = j.path("targets").path(t);
                assertEquals(20, n.path("requests").asLong(), t + "\n" + r.out);
                assertEquals(0, n.path("errors").asLong(), t + "\n" + r.out);
                assertTrue(n.path("rows").asLong() > 20, t + " found Coeur d'Alene's rows\n" + r.out);
            }
            assertEquals(j.path("targets").path("postgres").path("rows").asLong(), j.path("targets").path("tinybird").path("rows").asLong());
        }
    }

    // ------------------------------------------------------------------ failures

    @Test
    void aTargetDownAtStartIsOneClearError() throws IOException {
        int port = freePort();
        R r = stress(Map.of(), "--target", "postgres", "--url", "postgresql://postgres@127.0.0.1:" + port + "/x", "--duration", "1s");
        assertEquals(1, r.rc, r.err);
        assertTrue(r.err.startsWith("stress-case: postgres: cannot connect to 127.0.0.1:" + port + "/x as postgres: database error [SQLSTATE 08001]"), r.err);
        assertEquals(1, r.err.strip().lines().count(), r.err);
        r = stress(Map.of("TINYBIRD_TOKEN", "secret-token-123"), "--target", "tinybird", "--host", "http://127.0.0.1:" + port,
                "--duration", "1s");
        assertEquals(1, r.rc, r.err);
        assertTrue(r.err.startsWith("stress-case: tinybird: cannot reach http://127.0.0.1:" + port + ": connection refused"), r.err);
        assertEquals(1, r.err.strip().lines().count(), r.err);
        assertFalse(r.err.contains("secret-token-123"));
        r = stress(Map.of(), "--target", "http", "--http-url", base + "/nope", "--duration", "1s");
        assertEquals(1, r.rc, r.err);
        assertTrue(r.err.contains("http: " + base + "/nope answered HTTP 404"), r.err);
    }

    @Test
    void everyConnectionOfThePoolIsOpenBeforeTheFirstMeasuredRequest() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        // a division by zero (SQLSTATE 22012) for a request that sees fewer than 20 of the run's connections open
        String sql = "SELECT 1 / (CASE WHEN (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stress-case'"
                + " AND datname = current_database()) >= :n::int THEN 1 ELSE 0 END)";
        Path js = dir.resolve("pool.json");
        R r = stress(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--sql", sql, "--param", "n=value:20",
                "-c", "20", "--warmup", "0s", "--duration", "1s", "--json", js.toString());
        assertEquals(0, r.rc, r.err);
        JsonNode root = json(js), t = root.path("targets").path("postgres");
        assertTrue(t.path("ok").asLong() > 20, r.out);
        assertEquals(0, t.path("errors").asLong(), "a request ran before the pool was full\n" + r.out);
        // the client's own CPU over the measured part, in the table and the JSON
        assertTrue(r.out.matches("(?s).*client cpu +[0-9.]+ us per request, [0-9]+ % of one core.*"), r.out);
        assertTrue(root.path("client_cpu").path("us_per_request").asDouble() > 0, root.path("client_cpu").toString());
        assertTrue(root.path("client_cpu").path("cores").asDouble() > 0, root.path("client_cpu").toString());
    }

    /**
     * Workers hold a connection each for the run; with --pool smaller than --concurrency they share the pool instead,
     * a connection a request: none waits out the pool's timeout for a connection another worker keeps.
     */
    @Test
    void workersShareAPoolSmallerThanTheirNumber() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        Path js = dir.resolve("small-pool.json");
        R r = stress(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--sql", "SELECT :n::int", "--param", "n=int:1..9",
                "-c", "4", "--pool", "2", "--timeout", "1s", "--duration", "3s", "--json", js.toString());
        assertEquals(0, r.rc, r.err);
        JsonNode t = json(js).path("targets").path("postgres");
        assertTrue(t.path("ok").asLong() > 20, r.out);
        assertEquals(0, t.path("errors").asLong(), "a worker went without a connection\n" + r.out);
    }

    /**
     * A "server" that takes the connection and never answers: the socket timeout (--timeout + 5 s, which pgjdbc also
     * applies while it logs in) ends it, though the sockets are blocking (deadlines close them).
     */
    @Test
    void aPostgresServerThatNeverAnswersIsOneClearErrorOnTime() throws Exception {
        List<Socket> held = new CopyOnWriteArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 128, java.net.InetAddress.getLoopbackAddress())) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) held.add(silent.accept());
                } catch (IOException closed) {
                    // the test is over
                }
            });
            Thread.ofVirtual().start(() -> { // never a hung test: the "server" hangs up after 40 s
                try {
                    Thread.sleep(40_000);
                    silent.close();
                    for (Socket s : held) s.close();
                } catch (Exception ignored) {
                    // over
                }
            });
            long t0 = System.nanoTime();
            R r = stress(Map.of(), "--target", "postgres", "--url",
                    "postgresql://someone@127.0.0.1:" + silent.getLocalPort() + "/db?sslmode=disable", "--timeout", "1s", "--duration", "1s");
            double seconds = (System.nanoTime() - t0) / 1e9;
            silent.close();
            acceptor.join();
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.startsWith("stress-case: postgres: cannot connect to 127.0.0.1:" + silent.getLocalPort()), r.err);
            assertEquals(1, r.err.strip().lines().count(), r.err);
            assertFalse(held.isEmpty(), "it did connect");
            assertTrue(seconds > 5 && seconds < 60, "the 6 s socket timeout ended it: " + seconds + " s");
        } finally {
            for (Socket s : held) s.close();
        }
    }

    @Test
    void postgresErrorsAreCountedByKindAndTheRunGoesOn() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        R bad = stress(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--sql", "SELECT * FROM nope WHERE x = :n",
                "--param", "n=int:1..9", "--duration", "1s");
        assertEquals(1, bad.rc, bad.err);
        assertTrue(bad.err.startsWith("stress-case: postgres: the query fails: database error [SQLSTATE 42P01]"), bad.err);
        // every backend of the run killed once the run is under way: counted as connection errors, the pool
        // reconnects, the run goes on
        Thread killer = Thread.ofVirtual().start(() -> {
            try (Connection c = Pg.connect(TestServices.postgres())) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stress-case' AND datname = ?")) {
                    ps.setString(1, db.database());
                    while (System.nanoTime() < deadline) {
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            if (rs.getLong(1) >= 3) break;
                        }
                        Thread.sleep(20);
                    }
                }
                Thread.sleep(700); // past the start-up check, into the run
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stress-case' AND datname = ?")) {
                    ps.setString(1, db.database());
                    ps.executeQuery().close();
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Path js = dir.resolve("pgkill.json");
        R r = stress(Map.of(), "--target", "postgres", "--url", db.libpqUri(), "--sql", "SELECT :n::int FROM pg_sleep(0.01)",
                "--param", "n=int:1..9", "-c", "3", "--duration", "5s", "--json", js.toString());
        killer.join();
        assertEquals(0, r.rc, r.err);
        JsonNode t = json(js).path("targets").path("postgres");
        assertTrue(t.path("errors_by_kind").path("connection").asLong() >= 1, r.out);
        assertEquals(t.path("errors").asLong(), t.path("errors_by_kind").path("connection").asLong(), r.out);
        assertTrue(t.path("ok").asLong() > 50, r.out);
        JsonNode series = t.path("series");
        assertTrue(series.get(series.size() - 1).path("rps").asDouble() > 0, "requests succeed again after the kill: " + series);
    }

    @Test
    void aTargetDyingMidRunIsCountedAndTheReportIsWritten() throws Exception {
        HttpServer dying = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
        dying.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        AtomicLong served = new AtomicLong();
        dying.createContext("/", ex -> {
            served.incrementAndGet();
            answer(ex, 200, "{}");
        });
        dying.start();
        Thread killer = Thread.ofVirtual().start(() -> {
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (served.get() < 50 && System.nanoTime() < deadline) Thread.sleep(10); // the run is under way
            } catch (InterruptedException ignored) {
                // stop now
            }
            dying.stop(0);
        });
        Path js = dir.resolve("dying.json"), html = dir.resolve("dying.html");
        R r = stress(Map.of(), "--target", "http", "--http-url", "http://127.0.0.1:" + dying.getAddress().getPort() + "/",
                "-c", "4", "--duration", "30s", "--give-up", "1s", "--json", js.toString(), "--html", html.toString());
        killer.join();
        assertEquals(0, r.rc, r.err);
        JsonNode t = json(js).path("targets").path("http");
        assertTrue(t.path("ok").asLong() > 0, r.out);
        assertTrue(t.path("errors_by_kind").path("connection").asLong() > 0, r.out);
        assertTrue(t.path("gave_up").asText().contains("nothing but errors"), t.toString());
        assertTrue(t.path("seconds").asDouble() < 20, "the run ended once the target was gone: " + t.path("seconds"));
        assertTrue(r.err.contains("http: answered nothing but errors"), r.err);
        String page = Files.readString(html);
        assertTrue(page.contains("<svg id=\"latency-over-time\"") && page.contains("connection"), "report written");
    }

    /**
     * A server that answers the first request (the check before the run) and then takes requests without answering:
     * each is a timeout after --timeout, not a hang.
     */
    @Test
    void aServerThatStopsAnsweringGivesTimeoutsOnTime() throws Exception {
        List<Socket> held = new CopyOnWriteArrayList<>();
        AtomicLong requests = new AtomicLong();
        try (ServerSocket silent = new ServerSocket(0, 128, java.net.InetAddress.getLoopbackAddress())) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        Socket c = silent.accept();
                        held.add(c);
                        Thread.ofVirtual().start(() -> {
                            try {
                                var in = new java.io.BufferedReader(new java.io.InputStreamReader(c.getInputStream(), StandardCharsets.ISO_8859_1));
                                for (String line; (line = in.readLine()) != null; ) {
                                    if (!line.isEmpty()) continue; // the end of a request's headers
                                    if (requests.incrementAndGet() == 1) {
                                        c.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".getBytes(StandardCharsets.US_ASCII));
                                    }
                                }
                            } catch (IOException closed) {
                                // the client gave up on it
                            }
                        });
                    }
                } catch (IOException closed) {
                    // the test is over
                }
            });
            Path js = dir.resolve("silent.json");
            long t0 = System.nanoTime();
            R r = stress(Map.of(), "--target", "http", "--http-url", "http://127.0.0.1:" + silent.getLocalPort() + "/",
                    "-c", "2", "--duration", "2s", "--timeout", "300ms", "--give-up", "30s", "--json", js.toString());
            double seconds = (System.nanoTime() - t0) / 1e9;
            silent.close();
            acceptor.join();
            assertEquals(0, r.rc, r.err);
            JsonNode t = json(js).path("targets").path("http");
            assertEquals(0, t.path("ok").asLong(), r.out);
            long timeouts = t.path("errors_by_kind").path("timeout").asLong();
            // 2 workers x 2 s / 0.3 s = ~13 timeouts (the ticker checks every 10 ms); none of another kind
            assertTrue(timeouts >= 2 && timeouts <= 16, "timeouts: " + timeouts + "\n" + r.out);
            assertEquals(timeouts, t.path("errors").asLong(), r.out);
            assertTrue(held.size() >= timeouts, "a timed-out connection is closed and a new one opened: " + held.size());
            assertTrue(seconds < 30, "the run ended on time: " + seconds + " s");
        } finally {
            for (Socket s : held) s.close();
        }
    }

    /**
     * The event loop (the closed model's default on plain http) reads every framing an HTTP/1.1 server may use and
     * retries a kept-alive connection the server closed without notice: Content-Length (headers and body in separate
     * writes), chunked (split mid-chunk, with an extension and a trailer), a body running to the end of the connection
     * (HTTP/1.0), "Connection: close", and a keep-alive connection dropped after its 5th answer. Every answer the
     * server sent is counted, rows from the Tinybird "rows" field included, and nothing is an error; the same with a
     * thread a worker.
     */
    @Test
    void everyWayAnAnswerCanBeFramedIsReadAndStaleConnectionsAreRetried() throws Exception {
        AtomicLong answered = new AtomicLong(), connections = new AtomicLong();
        try (ServerSocket srv = new ServerSocket(0, 128, java.net.InetAddress.getLoopbackAddress())) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        Socket c = srv.accept();
                        long k = connections.incrementAndGet();
                        Thread.ofVirtual().start(() -> serveFramings(c, k, answered));
                    }
                } catch (IOException closed) {
                    // the test is over
                }
            });
            String url = "http://127.0.0.1:" + srv.getLocalPort();
            for (String threads : List.of("loop", "platform")) {
                long before = answered.get();
                Path js = dir.resolve("framed-" + threads + ".json");
                R r = stress(Map.of("TINYBIRD_TOKEN", "t"), "--target", "tinybird", "--host", url, "--pipe", "reports",
                        "--param", "city=list:Denver", "-c", "4", "--duration", "1s", "--threads", threads, "--json", js.toString());
                assertEquals(0, r.rc, threads + ": " + r.err + r.out);
                JsonNode t = json(js).path("targets").path("tinybird");
                assertEquals(0, t.path("errors").asLong(), threads + ": " + r.out);
                long sent = answered.get() - before - 2; // before the run: the check, and the look at / for the local emulator
                assertTrue(sent > 100, threads + ": " + sent);
                assertEquals(sent, t.path("requests").asLong(), threads + ": every answer counted once\n" + r.out);
                assertEquals(3 * sent, t.path("rows").asLong(), threads + ": rows\n" + r.out);
                assertTrue(json(js).path("settings").path("threads").asText().contains(threads.equals("loop") ? "event loop" : "platform"),
                        json(js).path("settings").toString());
            }
            assertTrue(connections.get() > answered.get() / 4, "connections were closed and reopened: " + connections.get());
            srv.close();
            acceptor.join();
        }
        // an answer that cannot be read is one error, and the loop goes on with the next request
        try (ServerSocket srv = new ServerSocket(0, 128, java.net.InetAddress.getLoopbackAddress())) {
            AtomicLong requests = new AtomicLong();
            Thread acceptor = answerEachRequest(srv, () -> {
                String size = requests.incrementAndGet() == 1 ? "2" : "7fffffffffffffff"; // the check passes
                return ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\n{}\r\n"
                        + (size.equals("2") ? "0\r\n\r\n" : "")).getBytes(StandardCharsets.US_ASCII);
            });
            Path js = dir.resolve("garbled.json");
            R r = stress(Map.of(), "--target", "http", "--http-url", "http://127.0.0.1:" + srv.getLocalPort() + "/", "-c", "2",
                    "--duration", "1s", "--give-up", "0", "--json", js.toString());
            srv.close();
            acceptor.join();
            assertEquals(0, r.rc, r.err);
            JsonNode t = json(js).path("targets").path("http");
            assertEquals(0, t.path("ok").asLong(), r.out);
            assertTrue(t.path("errors").asLong() > 20, "every garbled answer is an error, and the loop goes on\n" + r.out);
            assertEquals(t.path("errors").asLong(), t.path("errors_by_kind").path("io: IOException").asLong(), r.out);
        }
        R bad = stress(Map.of(), "--target", "http", "--http-url", "http://127.0.0.1:1/", "--rate", "10/s", "--threads", "loop");
        assertEquals(2, bad.rc, bad.err);
        assertTrue(bad.err.contains("--threads loop drives the closed model only"), bad.err);
        bad = stress(Map.of(), "--target", "http", "--http-url", "https://127.0.0.1:1/", "--threads", "loop");
        assertEquals(2, bad.rc, bad.err);
        assertTrue(bad.err.contains("--threads loop speaks plain http"), bad.err);
    }

    /**
     * A pipe that answers 12 MB a request: the measured answers are counted, not kept, so a run fits a small heap.
     * stress-case runs in its own JVM with -Xmx48m and 4 connections, with the event loop and with platform threads,
     * the answers framed by Content-Length and chunked (8 KB chunks) in turn; before, each connection's buffer grew
     * to the size of the answer (4 x 16 MB) and the run died of OutOfMemoryError. The row count (at the answer's
     * end) must still be right.
     */
    @Test
    void longAnswersAreCountedInBoundedMemory() throws Exception {
        int rows = 400_000;
        StringBuilder json = new StringBuilder("{\"meta\":[{\"name\":\"site_name\",\"type\":\"String\"}],\"data\":[");
        for (int i = 0; i < rows; i++) json.append(i == 0 ? "" : ",").append("{\"site_name\":\"Denver\",\"n\":").append(i).append('}');
        json.append("],\"rows\":").append(rows).append(",\"rows_before_limit_at_least\":").append(rows)
                .append(",\"statistics\":{\"elapsed\":0.001,\"rows_read\":1,\"bytes_read\":1}}");
        byte[] body = json.toString().getBytes(StandardCharsets.US_ASCII);
        assertTrue(body.length > 10_000_000, "a long answer: " + body.length);
        byte[] plain = concat(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII), body);
        java.io.ByteArrayOutputStream chunked = new java.io.ByteArrayOutputStream();
        chunked.writeBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        for (int at = 0; at < body.length; at += 8192) {
            int n = Math.min(8192, body.length - at);
            chunked.writeBytes((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            chunked.write(body, at, n);
            chunked.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        }
        chunked.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        byte[][] answers = {plain, chunked.toByteArray()};
        AtomicLong answered = new AtomicLong();
        try (ServerSocket srv = new ServerSocket(0, 128, java.net.InetAddress.getLoopbackAddress())) {
            Thread acceptor = answerEachRequest(srv, () -> answers[(int) (answered.getAndIncrement() % 2)]);
            String cp = TbTransferTest.classpath("stress-case/stress-case.java");
            for (String threads : List.of("loop", "platform")) {
                Path js = dir.resolve("long-" + threads + ".json"), log = dir.resolve("long-" + threads + ".log");
                ProcessBuilder pb = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-Xmx48m", "-cp", cp,
                        "StressCase", "--target", "tinybird", "--host", "http://127.0.0.1:" + srv.getLocalPort(), "--pipe", "reports",
                        "--param", "city=list:Denver", "-c", "4", "--warmup", "0s", "--duration", "2s", "--threads", threads,
                        "-q", "--json", js.toString()).redirectErrorStream(true).redirectOutput(log.toFile());
                pb.environment().put("TINYBIRD_TOKEN", "t");
                Process p = pb.start();
                assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), threads + ": ends");
                assertEquals(0, p.exitValue(), threads + ": " + Files.readString(log));
                JsonNode t = json(js).path("targets").path("tinybird");
                assertEquals(0, t.path("errors").asLong(), threads + ": " + Files.readString(log));
                long requests = t.path("requests").asLong();
                assertTrue(requests >= 4, threads + ": " + requests);
                assertEquals((long) rows * requests, t.path("rows").asLong(), threads + ": the row count of every answer\n" + Files.readString(log));
            }
            srv.close();
            acceptor.join();
        }
    }

    /**
     * A bare HTTP/1.1 server on srv: a virtual thread a connection writes answer.get() after each request's empty line
     * (keep-alive); the returned acceptor ends when srv is closed.
     */
    static Thread answerEachRequest(ServerSocket srv, java.util.function.Supplier<byte[]> answer) {
        return Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    Socket c = srv.accept();
                    Thread.ofVirtual().start(() -> {
                        try (c) {
                            var in = new java.io.BufferedReader(new java.io.InputStreamReader(c.getInputStream(), StandardCharsets.ISO_8859_1));
                            OutputStream out = c.getOutputStream();
                            for (String line; (line = in.readLine()) != null; ) {
                                if (!line.isEmpty()) continue;
                                out.write(answer.get());
                                out.flush();
                            }
                        } catch (IOException gone) {
                            // closed by the client
                        }
                    });
                }
            } catch (IOException closed) {
                // the test is over
            }
        });
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /**
     * Answers the requests on the k-th connection (see the test above): of three connections, one answers four with
     * Content-Length and chunked in turn and is then dropped; one answers with 103 Early Hints and Content-Length, then
     * HTTP/1.0 to the end of the connection; one chunked, then with "Connection: close".
     */
    static void serveFramings(Socket c, long k, AtomicLong answered) {
        try (c) {
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(c.getInputStream(), StandardCharsets.ISO_8859_1));
            OutputStream out = c.getOutputStream();
            byte[] body = "{\"data\":[{\"a\":1},{\"a\":2},{\"a\":3}],\"rows\":3,\"statistics\":{}}".getBytes(StandardCharsets.US_ASCII);
            int onThis = 0;
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.isEmpty()) continue; // the end of a request's headers
                answered.incrementAndGet();
                onThis++;
                int framing = switch ((int) (k % 3)) {
                    case 0 -> onThis % 2; // Content-Length, chunked, Content-Length, chunked, dropped
                    case 1 -> onThis == 1 ? 0 : 2;
                    default -> onThis == 1 ? 1 : 3;
                };
                if (k % 3 == 1 && onThis == 1) { // an interim answer first: the real one follows
                    out.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
                switch (framing) {
                    case 0 -> {
                        out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                        out.write(body);
                    }
                    case 1 -> {
                        out.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                        out.write(("10;part=1\r\n" + new String(body, 0, 16, StandardCharsets.US_ASCII) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                        out.write(Integer.toHexString(body.length - 16).getBytes(StandardCharsets.US_ASCII));
                        out.flush(); // the rest of the size line, the data and the end come in another segment
                        out.write(("\r\n" + new String(body, 16, body.length - 16, StandardCharsets.US_ASCII) + "\r\n0\r\nX-Trailer: y\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                    }
                    case 2 -> {
                        out.write("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                        out.write(body);
                        return; // the body ends with the connection
                    }
                    default -> {
                        out.write(("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                        out.write(body);
                        return;
                    }
                }
                out.flush();
                if (onThis == 4) return; // dropped without notice: the client's next request on it finds it closed
            }
        } catch (IOException gone) {
            // the client closed it
        }
    }

    /** https: the certificate must be trusted and name the host (a trusted certificate for another name is refused). */
    @Test
    void httpsChecksThatTheCertificateNamesTheHost() throws Exception {
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Path ks = dir.resolve("ks.p12"), cer = dir.resolve("s.cer"), ts = dir.resolve("ts.p12");
        String pw = "changeit-" + System.nanoTime();
        for (List<String> cmd : List.of(
                List.of(keytool, "-genkeypair", "-alias", "s", "-keyalg", "EC", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost",
                        "-validity", "2", "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", pw),
                List.of(keytool, "-exportcert", "-alias", "s", "-keystore", ks.toString(), "-storepass", pw, "-file", cer.toString()),
                List.of(keytool, "-importcert", "-noprompt", "-alias", "s", "-file", cer.toString(), "-storetype", "PKCS12",
                        "-keystore", ts.toString(), "-storepass", pw))) {
            TestServices.Run k = TestServices.run(dir, Duration.ofMinutes(1), cmd);
            assertEquals(0, k.exitCode(), k.stderr());
        }
        java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(ks)) {
            store.load(in, pw.toCharArray());
        }
        var kmf = javax.net.ssl.KeyManagerFactory.getInstance(javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, pw.toCharArray());
        var ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        var https = com.sun.net.httpserver.HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
        https.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(ctx));
        https.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        https.createContext("/", ex -> answer(ex, 200, "{\"rows\":1}"));
        https.start();
        try {
            int port = https.getAddress().getPort();
            List<String> java = List.of("env", "JAVA_TOOL_OPTIONS=-Djavax.net.ssl.trustStore=" + ts + " -Djavax.net.ssl.trustStorePassword=" + pw,
                    TestServices.repoRoot().resolve("jbang").toString(), "stress-case/stress-case.java", "--target", "http", "-c", "2",
                    "--duration", "1s", "-q");
            Path js = dir.resolve("tls.json");
            List<String> good = new ArrayList<>(java);
            good.addAll(List.of("--http-url", "https://localhost:" + port + "/x", "--json", js.toString()));
            TestServices.Run ok = TestServices.run(TestServices.repoRoot(), Duration.ofMinutes(5), good);
            assertEquals(0, ok.exitCode(), ok.stderr());
            JsonNode t = json(js).path("targets").path("http");
            assertTrue(t.path("ok").asLong() > 0 && t.path("errors").asLong() == 0, t.toString());

            List<String> wrongName = new ArrayList<>(java);
            wrongName.addAll(List.of("--http-url", "https://127.0.0.1:" + port + "/x"));
            TestServices.Run bad = TestServices.run(TestServices.repoRoot(), Duration.ofMinutes(5), wrongName);
            assertNotEquals(0, bad.exitCode(), bad.stdout());
            assertTrue(bad.stderr().contains("stress-case: http: cannot reach https://127.0.0.1:" + port)
                    && bad.stderr().contains("127.0.0.1 found"), bad.stderr());
        } finally {
            https.stop(0);
        }
    }

    // ------------------------------------------------------------------ thresholds

    @Test
    void thresholdsPassAndFailAsSpecified() throws IOException {
        Path js = dir.resolve("t.json");
        R ok = stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "-c", "2", "--duration", "1s",
                "--threshold", "p99<10s", "--threshold", "errors<1%", "--threshold", "rps>1", "--threshold", "http.p99.9<=10000ms",
                "--json", js.toString());
        assertEquals(0, ok.rc, ok.err);
        assertFalse(ok.err.contains("threshold missed"), ok.err);
        JsonNode th = json(js).path("thresholds");
        assertEquals(4, th.size());
        th.forEach(x -> assertTrue(x.path("passed").asBoolean(), x.toString()));

        R bad = stress(Map.of(), "--target", "http", "--http-url", base + "/flaky", "-c", "2", "--duration", "2s",
                "--threshold", "errors<1%", "--threshold", "p50<1us", "--threshold", "p99<10s");
        assertEquals(StressCase.EXIT_THRESHOLD, bad.rc, bad.err);
        assertTrue(bad.err.matches("(?s).*threshold missed: http errors<1% \\(was 2[0-5]\\.[0-9]+%\\).*"), bad.err);
        assertTrue(bad.err.contains("threshold missed: http p50<1us (was "), bad.err);
        assertFalse(bad.err.contains("p99<10s"), bad.err);
        assertTrue(bad.out.contains("http 500"), bad.out);

        R usage = stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "--threshold", "p99 is small");
        assertEquals(2, usage.rc);
        assertTrue(usage.err.contains("--threshold: cannot read 'p99 is small'"), usage.err);
        assertEquals(2, stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "--threshold", "p99<200").rc);
        assertEquals(2, stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "--threshold", "tinybird.p99<2ms").rc);
    }

    // ------------------------------------------------------------------ open model

    @Test
    void theOpenModelShowsAStallInTheTail() throws IOException {
        stallFrom = 0;
        Path js = dir.resolve("open.json");
        R r = stress(Map.of(), "--target", "http", "--http-url", base + "/stall", "--rate", "200/s", "-c", "20",
                "--duration", "3s", "--json", js.toString(), "--live");
        assertEquals(0, r.rc, r.err);
        JsonNode t = json(js).path("targets").path("http");
        assertEquals(0, t.path("errors").asLong(), r.out);
        // every request of the schedule was sent, the late ones too
        assertEquals(600, t.path("requests").asLong(), 3, r.out);
        // the 1 s stall shows in the tail, measured from the intended start times
        assertTrue(t.path("latency_ms").path("p99.9").asDouble() >= 700, r.out);
        assertTrue(t.path("latency_ms").path("p50").asDouble() < 200, r.out);
        assertTrue(t.path("late_starts").asLong() > 50, "requests due during the stall could not start on time\n" + r.out);
        assertTrue(r.out.contains("late starts"), r.out);
        assertTrue(r.err.lines().anyMatch(l -> l.contains("req/s") && l.contains("p99")), "live line\n" + r.err);
        assertEquals(2, stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "--rate", "fast").rc);
    }

    // ------------------------------------------------------------------ hlog + merge

    @Test
    void mergedHlogsGiveTheSamePercentilesAsOneCombinedRun() throws Exception {
        Path a = dir.resolve("a.hlog"), b = dir.resolve("b.hlog"), ja = dir.resolve("a.json"), jm = dir.resolve("m.json"), ja2 = dir.resolve("a2.json");
        assertEquals(0, stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "-c", "2", "--duration", "1500ms",
                "--hlog", a.toString(), "--json", ja.toString()).rc);
        assertEquals(0, stress(Map.of(), "--target", "http", "--http-url", base + "/flaky", "-c", "3", "--duration", "1500ms",
                "--hlog", b.toString()).rc);
        // one file merged alone gives back its run
        R one = stress(Map.of(), "merge", a.toString(), "--json", ja2.toString());
        assertEquals(0, one.rc, one.err);
        JsonNode run = json(ja).path("targets").path("http"), back = json(ja2).path("targets").path("http");
        assertEquals(run.path("requests"), back.path("requests"));
        assertEquals(run.path("latency_ms"), back.path("latency_ms"));
        assertEquals(run.path("rps").asDouble(), back.path("rps").asDouble(), 0.01);
        // two files: the percentiles of all their requests together
        Path hm = dir.resolve("m.html");
        R m = stress(Map.of(), "merge", a.toString(), b.toString(), "--json", jm.toString(), "--html", hm.toString(), "--threshold", "errors<1%");
        assertEquals(StressCase.EXIT_THRESHOLD, m.rc, m.err);
        // the merged page tells the same story from the settings the hlog files carry
        String page = Files.readString(hm);
        for (String s : List.of("2 hlog files merged", "HTTP GET", HtmlReport.esc(base), "closed: 2 connections per target", "class=\"fail\">FAILED",
                "Across the merged runs, http's p99 was")) {
            assertTrue(page.contains(s), "the merged page says " + s);
        }
        Histogram all = new Histogram(1, 3_600_000_000L, 3);
        long errors = 0;
        for (Path p : List.of(a, b)) {
            HistogramLogReader reader = new HistogramLogReader(p.toFile());
            for (EncodableHistogram h = reader.nextIntervalHistogram(); h != null; h = reader.nextIntervalHistogram()) {
                if ("http".equals(h.getTag())) all.add((Histogram) h);
                if ("http.errors".equals(h.getTag())) errors += ((Histogram) h).getTotalCount();
            }
        }
        JsonNode merged = json(jm).path("targets").path("http");
        assertTrue(errors > 0);
        assertEquals(all.getTotalCount() + errors, merged.path("requests").asLong());
        assertEquals(errors, merged.path("errors").asLong());
        assertEquals(errors, merged.path("errors_by_kind").path("http 500").asLong());
        for (String[] p : new String[][] {{"p50", "50"}, {"p90", "90"}, {"p99", "99"}, {"p99.9", "99.9"}}) {
            assertEquals(all.getValueAtPercentile(Double.parseDouble(p[1])) / 1000.0, merged.path("latency_ms").path(p[0]).asDouble(), 0.0011, p[0]);
        }
        assertEquals(all.getMaxValue() / 1000.0, merged.path("latency_ms").path("max").asDouble(), 0.0011);
        R garbage = stress(Map.of(), "merge", ja.toString());
        assertEquals(1, garbage.rc);
        assertTrue(garbage.err.startsWith("stress-case: " + ja), garbage.err);
    }

    @Test
    void aReportThatCanNotBeWrittenNamesItsFileAndLeavesNothing() throws Exception {
        Path a = dir.resolve("a.hlog");
        assertEquals(0, stress(Map.of(), "--target", "http", "--http-url", base + "/ok", "-c", "2", "--duration", "1s",
                "--hlog", a.toString()).rc);
        try (FullDisk disk = FullDisk.mount("64k")) {
            disk.fill();
            Path html = disk.dir.resolve("report.html");
            R r = stress(Map.of(), "merge", a.toString(), "--html", html.toString());
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.contains("cannot write " + html) && r.err.contains("No space left on device"), r.err);
            try (var files = Files.list(disk.dir)) {
                assertEquals(List.of(".filler"), files.map(p -> p.getFileName().toString()).toList(), "no report, no temp file");
            }
        }
    }

    // ------------------------------------------------------------------ HTML in a real browser

    @Test
    void theHtmlReportDrawsInHeadlessChromium() throws Exception {
        TestServices.requireTool("chromium", () -> TestServices.onPath("chromium"));
        Path html = dir.resolve("report.html"), png = dir.resolve("report.png"), profile = Files.createTempDirectory("chromium-profile");
        String page;
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).start()) {
            R r = stress(Map.of("TINYBIRD_TOKEN", emu.adminToken()), "--target", "tinybird,http", "--host", emu.url(), "--http-url", base + "/ok",
                    "-c", "2", "--duration", "2s", "--threshold", "p99<100s", "--threshold", "tinybird.errors<1%", "--html", html.toString());
            assertEquals(0, r.rc, r.err);
            page = Files.readString(html);
            // what was compared: kinds, hosts (the emulator named as such), endpoint, parameters, versions, start time
            for (String s : List.of("Tinybird API endpoint", emu.url() + " (local emulator)", "/v0/pipes/reports.json", "HTTP GET", base,
                    "closed: 2 connections per target", "city=city, start_time=window.start, end_time=window.end", "cities)",
                    "stress-case " + Cli.VERSION, "Java " + Runtime.version(), "started", "rows/request", "client cpu")) {
                assertTrue(page.contains(HtmlReport.esc(s)), "the page says " + s);
            }
            assertFalse(page.contains(emu.adminToken()), "no token on the page");
        }
        assertFalse(page.contains("http://") && page.contains("src=\"http"), "self-contained");
        assertFalse(page.contains("<script"), "no script");
        Matcher verdict = Pattern.compile("<p class=\"verdict\" id=\"verdict\">With 2 connections per target, (tinybird|http)'s p99 was .*</p>").matcher(page);
        assertTrue(verdict.find(), page);
        assertEquals(3, page.split("class=\"pass\">passed", -1).length - 1, "thresholds on the page (p99 of each target, tinybird's errors)");
        // every chart has data: its points and a drawn series
        List<String> charts = List.of("percentile-distribution", "latency-over-time", "throughput-over-time", "errors-over-time", "rows-per-request");
        assertEquals(charts.size(), page.split("<svg ", -1).length - 1);
        for (String id : charts) {
            Matcher m = Pattern.compile("<svg id=\"" + id + "\" data-points=\"(\\d+)\"(.*?)</svg>", Pattern.DOTALL).matcher(page);
            assertTrue(m.find(), id);
            assertTrue(Integer.parseInt(m.group(1)) > 0 && m.group(2).contains("class=\"series\""), id + " has data");
        }
        assertTrue(page.contains(">99.99%</text>") && page.contains(">50%</text>"), "the percentile axis runs p50 to p99.99");
        TestServices.Run c = TestServices.run(dir, Duration.ofSeconds(90), List.of("chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile, "--window-size=1280,2600", "--screenshot=" + png, html.toUri().toString()));
        assertTrue(Files.isRegularFile(png), "chromium wrote no screenshot: " + c.stderr());
        BufferedImage img = ImageIO.read(png.toFile());
        long series = 0, tinybird = 0, dark = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y);
                int rr = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, bb = rgb & 0xff;
                if (Math.abs(rr - 0x2b) < 30 && Math.abs(g - 0x8a) < 30 && Math.abs(bb - 0x3e) < 30) series++; // the http target's colour
                if (Math.abs(rr - 0xe8) < 30 && Math.abs(g - 0x59) < 30 && Math.abs(bb - 0x0c) < 30) tinybird++; // tinybird's colour
                if (rr < 80 && g < 80 && bb < 80) dark++; // text and axes
            }
        }
        assertTrue(series > 300, "chart lines drawn: " + series + " pixels");
        assertTrue(tinybird > 300, "tinybird's lines drawn: " + tinybird + " pixels");
        assertTrue(dark > 1000, "text drawn: " + dark + " pixels");
    }
}
