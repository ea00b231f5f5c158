import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** pg-query.java against the real test PostgreSQL. */
class PgQueryTest {
    static final String ROLE = "pgq_special";
    static final String PASSWORD = "p@ss:w/o%rd x y";
    static Pg.Target admin, db;
    static String host, port, dbname;

    record Out(int rc, String out, String err) {}

    static Config env(Map<String, String> vars) {
        return Config.of(vars, Path.of("/nonexistent-dir"), null);
    }

    /** Runs pg-query in-process with exactly these settings (no real environment, no .env files). */
    static Out query(Map<String, String> vars, String... args) {
        PgQuery cmd = new PgQuery();
        CommandLine cl = new CommandLine(cmd); // injects the mixins, so the settings can be set before execute
        cmd.common.config(env(vars));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = cl.setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Out(rc, out.toString(), err.toString());
    }

    static String url(String user, String pw) {
        String enc = URLEncoder.encode(pw, StandardCharsets.UTF_8).replace("+", "%20");
        return "postgresql://" + user + ":" + enc + "@" + host + ":" + port + "/" + dbname;
    }

    @BeforeAll
    static void setUp() throws SQLException {
        admin = TestServices.postgres();
        db = TestServices.newDatabase();
        dbname = db.database();
        String hp = db.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
        host = hp.substring(0, hp.lastIndexOf(':'));
        port = hp.substring(hp.lastIndexOf(':') + 1);
        try (Connection c = Pg.connect(admin); Statement st = c.createStatement()) {
            st.execute("DROP ROLE IF EXISTS " + ROLE);
            st.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD.replace("'", "''") + "'");
        }
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("""
                    CREATE TABLE weather_reports (clouds smallint, description text, humidity smallint, precip real,
                      pressure smallint, site_name text, temp_f real, "timestamp" timestamp, wind_dir smallint, wind_speed real,
                      PRIMARY KEY ("timestamp", site_name))""");
            st.execute("""
                    INSERT INTO weather_reports VALUES
                      (10, 'clear sky', 40, 0, 30, 'Denver', 71.5, '2024-05-01 10:00', 180, 3.5),
                      (20, 'light rain', 60, 0.2, 30, 'Denver', 65, '2024-05-01 11:00', 190, 4),
                      (30, 'few clouds', 45, 0, 30, 'Denver', 68.25, '2024-05-01 12:00', 200, 5),
                      (0, 'clear sky', 20, 0, 31, 'Boulder', 75, '2024-05-01 10:00', 90, 1),
                      (90, 'snow', 80, 1.5, 29, 'Coeur d''Alene', 30, '2024-05-01 10:00', 0, 12)""");
            st.execute("CREATE SEQUENCE counter");
            st.execute("GRANT SELECT ON weather_reports TO " + ROLE);
            st.execute("GRANT USAGE, SELECT, UPDATE ON SEQUENCE counter TO " + ROLE);
        }
    }

    @Test
    void defaultQueryIsTheOriginalsWithACaseInsensitiveCityAndAPsqlTable() {
        Out r = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--city", "dEnVeR");
        assertEquals(0, r.rc, r.err);
        List<String> lines = r.out.lines().toList();
        assertEquals(" clouds | description | humidity | precip | pressure | site_name | temp_f |      timestamp      | wind_dir | wind_speed",
                lines.get(0));
        assertTrue(lines.get(1).startsWith("--------+-------------+"), lines.get(1));
        assertEquals(3, lines.stream().filter(l -> l.contains("| Denver ")).count(), r.out);
        assertEquals("(3 rows)", lines.get(lines.size() - 1));
        assertTrue(r.err.matches("(?s)connect [0-9.]+ ms, execute [0-9.]+ ms \\(to first row\\), fetch [0-9.]+ ms \\(3 rows\\); printing excluded.*"), r.err);
    }

    @Test
    void limitCapsTheRowsOfAGivenQueryToo() {
        Out r = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "SELECT g FROM generate_series(1, 50) g ORDER BY g",
                "--limit", "5", "--format", "csv");
        assertEquals(0, r.rc, r.err);
        assertEquals(List.of("g", "1", "2", "3", "4", "5"), r.out.lines().toList());
        Out all = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "SELECT g FROM generate_series(1, 1500) g", "--format", "csv");
        assertEquals(1501, all.out.lines().count(), "without --limit a given query is not capped at the default query's 1000");
        assertEquals(2, query(Map.of(), "--sql", "SELECT 1", "--limit", "0").rc);
    }

    @Test
    void passwordWithAtColonSlashPercentAndSpacesEveryWay() {
        List<Map<String, String>> ways = List.of(
                Map.of("DATABASE_URL", url(ROLE, PASSWORD)),
                Map.of("PGHOST", host, "PGPORT", port, "PGUSER", ROLE, "PGPASSWORD", PASSWORD, "PGDATABASE", dbname),
                Map.of("POSTGRES_DATABASE_HOST", host, "POSTGRES_DATABASE_PORT", port, "POSTGRES_DATABASE_USER", ROLE,
                        "POSTGRES_DATABASE_PASSWORD", PASSWORD, "POSTGRES_DATABASE_NAME", dbname));
        for (Map<String, String> vars : ways) {
            Out r = query(vars, "--sql", "SELECT current_user AS who", "--format", "csv");
            assertEquals(0, r.rc, vars.keySet() + ": " + r.err);
            assertEquals("who\n" + ROLE + "\n", r.out, vars.keySet().toString());
            assertFalse(r.err.contains(PASSWORD), r.err);
        }
        for (String u : List.of(url(ROLE, PASSWORD),
                "host=" + host + " port=" + port + " dbname=" + dbname + " user=" + ROLE + " password='" + PASSWORD + "'",
                "jdbc:postgresql://" + host + ":" + port + "/" + dbname + "?user=" + ROLE + "&password="
                        + URLEncoder.encode(PASSWORD, StandardCharsets.UTF_8).replace("+", "%20"))) {
            Out r = query(Map.of(), "--url", u, "--sql", "SELECT current_user AS who", "--format", "csv");
            assertEquals(0, r.rc, r.err);
            assertEquals("who\n" + ROLE + "\n", r.out);
        }
    }

    @Test
    void pgpassFileIsReadWhenNoPasswordIsGiven() throws Exception {
        Path dir = Files.createTempDirectory("pgpass");
        Path good = dir.resolve("good.pgpass"), bad = dir.resolve("bad.pgpass");
        String escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:");
        Files.writeString(good, "# host:port:database:user:password\n*:*:*:someone_else:nope\n"
                + host + ":" + port + ":" + dbname + ":" + ROLE + ":" + escaped + "\n");
        Files.writeString(bad, host + ":" + port + ":*:" + ROLE + ":wrong-password\n");
        for (Path p : List.of(good, bad)) Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));

        Out ok = subprocess(dir, Map.of("PGHOST", host, "PGPORT", port, "PGUSER", ROLE, "PGDATABASE", dbname,
                "PGPASSFILE", good.toString()), "--sql", "SELECT current_user AS who", "--format", "csv");
        assertEquals(0, ok.rc, ok.err);
        assertEquals("who\n" + ROLE + "\n", ok.out);

        Out no = subprocess(dir, Map.of("PGHOST", host, "PGPORT", port, "PGUSER", ROLE, "PGDATABASE", dbname,
                "PGPASSFILE", bad.toString()), "--sql", "SELECT 1");
        assertEquals(1, no.rc, no.err);
        assertTrue(no.err.contains("authentication failed for user \"" + ROLE + "\"") && no.err.contains("28P01"), no.err);
        assertEquals(1, no.err.strip().lines().count(), "one line: " + no.err);
    }

    /** Runs ./jbang postgres-client/pg-query.java in dir with a clean environment plus vars. */
    static Out subprocess(Path dir, Map<String, String> vars, String... args) throws Exception {
        Path root = TestServices.repoRoot();
        List<String> cmd = new ArrayList<>(List.of(root.resolve("jbang").toString(), root.resolve("postgres-client/pg-query.java").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("PG") || k.startsWith("POSTGRES_") || k.startsWith("DATABASE_"));
        env.putAll(vars);
        Path out = Files.createTempFile(dir, "out", ".txt"), err = Files.createTempFile(dir, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("pg-query did not finish: " + Files.readString(err));
        }
        String e = Files.readString(err).lines().filter(l -> !l.startsWith("[jbang]")).reduce("", (a, b) -> a + b + "\n");
        return new Out(p.exitValue(), Files.readString(out), e);
    }

    /**
     * CSV as psql writes it: byte for byte what the server's own COPY ... (FORMAT csv) gives for plain and quoted values,
     * LF line ends (CRLF with --crlf), and read back by COPY FROM the same rows (NULL apart from the empty string).
     */
    @Test
    void csvIsWhatPsqlWritesAndReadsBackTheSameRows() throws Exception {
        Map<String, String> vars = Map.of("DATABASE_URL", url(ROLE, PASSWORD));
        String values = "(1, 'plain', NULL), (2, '', 'x'), (3, 'a,b', 'say \"hi\"'), (4, E'two\\nlines', E'cr\\rlf'), (5, 'café', '')";
        String sql = "SELECT * FROM (VALUES " + values + ") AS t(id, a, b) ORDER BY id";
        Out csv = query(vars, "--sql", sql, "--format", "csv");
        assertEquals(0, csv.rc, csv.err);
        StringBuilder copy = new StringBuilder();
        try (Connection c = Pg.connect(db)) {
            var cm = c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            var bytes = new java.io.ByteArrayOutputStream();
            cm.copyOut("COPY (" + sql + ") TO STDOUT (FORMAT csv, HEADER true)", bytes);
            copy.append(bytes.toString(StandardCharsets.UTF_8));
        }
        assertEquals(copy.toString(), csv.out, "the same bytes as the server's COPY ... csv");
        assertEquals("id,a,b\n1,plain,\n2,\"\",x\n", csv.out.substring(0, csv.out.indexOf("3,")));

        Out crlf = query(vars, "--sql", "SELECT 1 AS n UNION ALL SELECT 2", "--format", "csv", "--crlf");
        assertEquals("n\r\n1\r\n2\r\n", crlf.out);

        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE csv_back (id int, a text, b text)");
            var cm = c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            cm.copyIn("COPY csv_back FROM STDIN (FORMAT csv, HEADER true)", new java.io.StringReader(csv.out));
            ResultSet back = st.executeQuery("SELECT count(*) FROM csv_back b JOIN (VALUES " + values + ") AS t(id, a, b) ON b.id = t.id"
                    + " AND b.a IS NOT DISTINCT FROM t.a AND b.b IS NOT DISTINCT FROM t.b");
            back.next();
            assertEquals(5, back.getInt(1), "every row read back as it was, NULL and '' apart");
            st.execute("DROP TABLE csv_back");
        }
    }

    @Test
    void formatsAndNamedParameters() {
        Map<String, String> vars = Map.of("DATABASE_URL", url(ROLE, PASSWORD));
        String sql = "SELECT site_name, temp_f, precip > 0 AS wet, description FROM weather_reports "
                + "WHERE temp_f >= :t AND site_name <> :not_city ORDER BY temp_f DESC -- :ignored in a comment";
        Out csv = query(vars, "--sql", sql, "-p", "t=68", "-p", "not_city=Boulder", "--format", "csv");
        assertEquals(0, csv.rc, csv.err);
        assertEquals("site_name,temp_f,wet,description\nDenver,71.5,f,clear sky\nDenver,68.25,f,few clouds\n", csv.out);
        Out json = query(vars, "--sql", sql, "-p", "t=68", "-p", "not_city=Boulder", "--format", "json");
        assertEquals("[{\"site_name\":\"Denver\",\"temp_f\":71.5,\"wet\":false,\"description\":\"clear sky\"},"
                + "{\"site_name\":\"Denver\",\"temp_f\":68.25,\"wet\":false,\"description\":\"few clouds\"}]\n", json.out);
        Out nd = query(vars, "--sql", "SELECT site_name, '{\"a\": [1]}'::jsonb AS j, NULL::int AS n FROM weather_reports WHERE site_name = :c",
                "-p", "c=Coeur d'Alene", "--format", "ndjson");
        assertEquals("{\"site_name\":\"Coeur d'Alene\",\"j\":{\"a\":[1]},\"n\":null}\n", nd.out);
        Out nd2 = query(vars, "--sql", sql, "-p", "t=68", "-p", "not_city=Boulder", "--format", "ndjson");
        assertEquals("{\"site_name\":\"Denver\",\"temp_f\":71.5,\"wet\":false,\"description\":\"clear sky\"}\n"
                + "{\"site_name\":\"Denver\",\"temp_f\":68.25,\"wet\":false,\"description\":\"few clouds\"}\n", nd2.out);
        Out table = query(vars, "--sql", "SELECT site_name AS city, count(*) AS n FROM weather_reports GROUP BY 1 ORDER BY 2 DESC, 1");
        assertEquals("""
                     city      | n
                ---------------+---
                 Denver        | 3
                 Boulder       | 1
                 Coeur d'Alene | 1
                (3 rows)
                """, table.out);
        Out missing = query(vars, "--sql", "SELECT :x");
        assertEquals(2, missing.rc);
        assertTrue(missing.err.contains("--param x=VALUE"), missing.err);
    }

    @Test
    void queryFromFile() throws Exception {
        Path f = Files.createTempFile("q", ".sql");
        Files.writeString(f, "SELECT count(*) AS n\nFROM weather_reports\nWHERE site_name = :c;\n");
        Out r = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "-f", f.toString(), "-p", "c=Denver", "--format", "csv");
        assertEquals("n\n3\n", r.out, r.err);
    }

    @Test
    void repeatRunsTheQueryNTimesAndReportsMinMedianP99() throws SQLException {
        Out r = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "SELECT nextval('counter') AS v",
                "--repeat", "40", "--warmup", "5", "--format", "csv");
        assertEquals(0, r.rc, r.err);
        assertEquals("v\n45\n", r.out, "the rows of the last run");
        assertTrue(r.err.startsWith("40 runs on one connection (after 5 warm-up runs), 1 row each"), r.err);
        assertTrue(r.err.matches("(?s).*min +median +p99 +max\nexecute +[0-9.]+ ms +[0-9.]+ ms +[0-9.]+ ms +[0-9.]+ ms\nfetch .*\ntotal .*"), r.err);
        try (Connection c = Pg.connect(db); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT last_value FROM counter")) {
            rs.next();
            assertTrue(rs.getLong(1) >= 45, "45 real executions (or more when another test ran first)");
        }
    }

    @Test
    void explainShowsThePlan() {
        Map<String, String> vars = Map.of("DATABASE_URL", url(ROLE, PASSWORD));
        Out plan = query(vars, "--city", "Denver", "--explain");
        assertEquals(0, plan.rc, plan.err);
        assertTrue(plan.out.contains("Seq Scan on weather_reports"), plan.out);
        assertTrue(plan.out.contains("lower(site_name) = 'denver'"), plan.out);
        Out analyze = query(vars, "--city", "Denver", "--explain", "--analyze");
        assertTrue(analyze.out.contains("actual time=") && analyze.out.contains("rows=3"), analyze.out);
    }

    @Test
    void errorsAreOneLineWithSqlstateAndNeverThePassword() throws Exception {
        Out wrong = query(Map.of("DATABASE_URL", url(ROLE, "not the password")), "--city", "x");
        assertEquals(1, wrong.rc);
        assertTrue(wrong.err.startsWith("pg-query: authentication failed for user \"pgq_special\" at " + host + ":" + port), wrong.err);
        assertTrue(wrong.err.contains("[SQLSTATE 28P01]"), wrong.err);
        assertFalse(wrong.err.contains("not the password"), wrong.err);
        assertOneLine(wrong);

        Out unknown = query(Map.of("DATABASE_URL", "postgresql://u:" + "s3cr3t-pw" + "@no-such-host.invalid:5432/db"), "--sql", "SELECT 1");
        assertEquals(1, unknown.rc);
        assertTrue(unknown.err.contains("unknown host: no-such-host.invalid"), unknown.err);
        assertFalse(unknown.err.contains("s3cr3t-pw"), unknown.err);
        assertOneLine(unknown);

        int free;
        try (ServerSocket s = new ServerSocket(0)) {
            free = s.getLocalPort();
        }
        Out refused = query(Map.of("DATABASE_URL", "postgresql://u:pw12345@127.0.0.1:" + free + "/db"), "--sql", "SELECT 1");
        assertEquals(1, refused.rc);
        assertTrue(refused.err.contains("connection refused by 127.0.0.1:" + free + "/db") && refused.err.contains("08001"), refused.err);
        assertOneLine(refused);

        Out ssl = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD) + "?sslmode=require"), "--sql", "SELECT 1");
        assertEquals(1, ssl.rc);
        assertTrue(ssl.err.contains("SSL is required by sslmode=require but " + host + ":" + port), ssl.err);
        assertFalse(ssl.err.contains(PASSWORD), ssl.err);
        assertOneLine(ssl);

        Out slow = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "SELECT pg_sleep(30)", "--timeout", "1s");
        assertEquals(1, slow.rc);
        assertTrue(slow.err.contains("query timed out after 1 s (--timeout) [SQLSTATE 57014]"), slow.err);
        assertOneLine(slow);

        try (ServerSocket silent = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            List<Socket> held = new ArrayList<>();
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) held.add(silent.accept()); // accepts, never answers
                } catch (Exception closed) {
                    // test over
                }
            });
            Out timeout = query(Map.of("DATABASE_URL", "postgresql://u:pw12345@127.0.0.1:" + silent.getLocalPort() + "/db"),
                    "--sql", "SELECT 1", "--connect-timeout", "1s");
            assertEquals(1, timeout.rc);
            assertTrue(timeout.err.contains("timed out connecting to 127.0.0.1:" + silent.getLocalPort()), timeout.err);
            assertOneLine(timeout);
            acceptor.interrupt();
            for (Socket s : held) s.close();
        }

        Out sqlError = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "SELECT * FROM no_such_table");
        assertEquals(1, sqlError.rc);
        assertEquals("pg-query: database error [SQLSTATE 42P01]: ERROR: relation \"no_such_table\" does not exist\n", sqlError.err);

        Out denied = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--sql", "DELETE FROM weather_reports");
        assertTrue(denied.err.contains("[SQLSTATE 42501]"), denied.err);

        Out empty = query(Map.of("DATABASE_URL", url(ROLE, PASSWORD)), "--city", "Atlantis", "--format", "csv");
        assertEquals(0, empty.rc, empty.err);
        assertEquals("clouds,description,humidity,precip,pressure,site_name,temp_f,timestamp,wind_dir,wind_speed\n", empty.out);
        assertTrue(empty.err.startsWith("pg-query: no rows: no weather_reports row has site_name 'Atlantis' (matched case-insensitively)\n"), empty.err);
    }

    @Test
    void aServerThatRequiresSslSaysSoAndSslmodeRequireConnects() {
        TestServices.requireTool("pgbouncer", () -> PgBouncerServer.binary() != null);
        TestServices.requireTool("openssl", () -> TestServices.onPath("openssl"));
        try (PgBouncerServer tls = PgBouncerServer.start(db, "session", 2, Map.of(ROLE, PASSWORD), true)) {
            String via = url(ROLE, PASSWORD).replaceFirst("@[^/]+/", "@127.0.0.1:" + tls.port + "/");
            Out plain = query(Map.of("DATABASE_URL", via + "?sslmode=disable"), "--sql", "SELECT 1");
            assertEquals(1, plain.rc);
            assertTrue(plain.err.startsWith("pg-query: the server at 127.0.0.1:" + tls.port + "/" + dbname + " requires SSL ("), plain.err);
            assertTrue(plain.err.contains("add sslmode=require"), plain.err);
            assertOneLine(plain);
            Out ssl = query(Map.of("DATABASE_URL", via + "?sslmode=require"), "--sql", "SELECT current_user AS who", "--format", "csv");
            assertEquals(0, ssl.rc, ssl.err);
            assertEquals("who\n" + ROLE + "\n", ssl.out);
        }
    }

    @Test
    void helpOfEveryClientRendersItsExamples() {
        String q = new CommandLine(new PgQuery()).getUsageMessage();
        assertTrue(q.contains("postgresql://app:p%40ss@db.example.com:5432/weather") && q.contains("--repeat"), q);
        String p = new CommandLine(new PgPool()).getUsageMessage();
        assertTrue(p.contains("--copy-in weather.csv") && p.contains("--random"), p);
        String s = new CommandLine(new SupabaseQuery()).getUsageMessage();
        assertTrue(s.contains("pooler.supabase.com:6543") && s.contains("Range headers"), s);
    }

    static void assertOneLine(Out r) {
        assertEquals(1, r.err.strip().lines().count(), "one line, no stack trace: " + r.err);
    }
}
