import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** pg-pool.java against the real test PostgreSQL, and through a real PgBouncer in transaction mode. */
class PgPoolTest {
    static final String ROLE = "pgpool_special";
    static final String PASSWORD = "p@ss:w/o%rd \"pool\" x";
    static Pg.Target admin, db;
    static String url;
    static PgBouncerServer bouncer;

    record Out(int rc, String out, String err) {}

    static Out pool(String... args) {
        PgPool cmd = new PgPool();
        CommandLine cl = new CommandLine(cmd);
        cmd.common.config(Config.of(Map.of(), Path.of("/nonexistent-dir"), null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = cl.setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Out(rc, out.toString(), err.toString());
    }

    @BeforeAll
    static void setUp() throws SQLException {
        admin = TestServices.postgres();
        db = TestServices.newDatabase();
        try (Connection c = Pg.connect(admin); Statement st = c.createStatement()) {
            st.execute("DROP ROLE IF EXISTS " + ROLE);
            st.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD.replace("'", "''") + "'");
        }
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("GRANT ALL ON SCHEMA public TO " + ROLE);
            st.execute("ALTER DATABASE " + Pg.ident(db.database()) + " OWNER TO " + ROLE);
        }
        String hp = db.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
        url = "postgresql://" + ROLE + ":" + URLEncoder.encode(PASSWORD, StandardCharsets.UTF_8).replace("+", "%20")
                + "@" + hp + "/" + db.database();
        try (Connection c = Pg.connect(user()); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE hits (id bigserial PRIMARY KEY, w int NOT NULL)");
            st.execute("""
                    CREATE TABLE weather_reports (clouds smallint, description text, humidity smallint, precip real,
                      pressure smallint, site_name text, temp_f real, "timestamp" timestamp, wind_dir smallint, wind_speed real,
                      PRIMARY KEY ("timestamp", site_name))""");
            st.execute("""
                    INSERT INTO weather_reports (site_name, "timestamp", temp_f) VALUES
                      ('Denver', '2024-05-01 10:00', 70), ('Denver', '2024-05-01 11:00', 71), ('Boulder', '2024-05-01 10:00', 60)""");
        }
    }

    @AfterAll
    static void tearDown() {
        if (bouncer != null) bouncer.close();
    }

    @Test
    void copyOutOntoAFullDiskNamesTheFileAndLeavesNothing() throws Exception {
        try (Connection c = Pg.connect(user()); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE wide AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 5000) g");
        }
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("wide.csv");
            Out o = pool("--url", url, "--copy-out", out.toString(), "--table", "wide");
            assertEquals(1, o.rc, o.err);
            assertEquals(1, o.err.strip().lines().count(), o.err);
            assertTrue(o.err.contains("cannot write " + out) && o.err.contains("No space left on device"), o.err);
            try (var files = Files.list(disk.dir)) {
                assertEquals(List.of(), files.map(p -> p.getFileName().toString()).toList(), "no file, no temp file");
            }
        }
    }

    static Pg.Target user() {
        return Pg.resolve(url, Config.of(Map.of(), Path.of("/nonexistent-dir"), null));
    }

    static long count(String sql) throws SQLException {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void runsEveryQueryOverConcurrentWorkersAndReportsPercentiles() throws SQLException {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("TRUNCATE hits");
        }
        Out r = pool("--url", url, "--sql", "INSERT INTO hits (w) VALUES (:w)", "-p", "w=7", "-n", "300", "-c", "8");
        assertEquals(0, r.rc, r.err);
        assertEquals(300, count("SELECT count(*) FROM hits WHERE w = 7"), "every query ran exactly once");
        assertTrue(r.out.startsWith("queries     300 ok, 0 failed, 0 rows; 8 workers (virtual threads), pool of 8 connections\n"), r.out);
        assertTrue(r.out.matches("(?s).*throughput +[0-9,]+ queries/s over [0-9.]+ s\nlatency +min [0-9.]+ ms, p50 [0-9.]+ ms, p90 .*, p99 .*"), r.out);
        var cpu = java.util.regex.Pattern.compile("\nclient cpu  ([0-9.]+) us per query, [0-9]+ % of one core").matcher(r.out);
        assertTrue(cpu.find(), r.out);
        assertTrue(Double.parseDouble(cpu.group(1)) > 0, "a query costs the client some CPU: " + r.out);
        assertTrue(r.err.startsWith("done: 300 queries in "), r.err);
    }

    @Test
    void defaultQueryAndRandomParameters() throws SQLException {
        Out r = pool("--url", url, "--city", "DENVER", "-n", "40", "-c", "4", "--pool-size", "2");
        assertEquals(0, r.rc, r.err);
        assertTrue(r.out.startsWith("queries     40 ok, 0 failed, 80 rows; 4 workers (virtual threads), pool of 2 connections"), r.out);

        try (Connection c = Pg.connect(user()); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS picks (v int)");
            st.execute("TRUNCATE picks");
        }
        Out rnd = pool("--url", url, "--sql", "INSERT INTO picks VALUES (:v)", "--random", "v=1..5", "-n", "200", "-c", "4");
        assertEquals(0, rnd.rc, rnd.err);
        assertEquals(200, count("SELECT count(*) FROM picks"));
        assertEquals(0, count("SELECT count(*) FROM picks WHERE v NOT BETWEEN 1 AND 5"));
        assertTrue(count("SELECT count(DISTINCT v) FROM picks") >= 3, "values are drawn, not fixed");
    }

    @Test
    void durationModeAndFailures() throws SQLException {
        Out d = pool("--url", url, "--sql", "SELECT 1", "--duration", "300ms", "-c", "2");
        assertEquals(0, d.rc, d.err);
        assertTrue(d.out.matches("(?s)queries +[0-9,]+ ok, 0 failed.*"), d.out);

        Out bad = pool("--url", url, "--sql", "SELECT 1/0", "-n", "100", "-c", "2", "--max-errors", "3");
        assertEquals(1, bad.rc);
        assertTrue(bad.err.contains("queries failed (stopped at --max-errors 3); first: database error [SQLSTATE 22012]: ERROR: division by zero"), bad.err);

        Out wrong = pool("--url", url.replace("%20x@", "%20y@"), "-n", "1");
        assertEquals(1, wrong.rc);
        assertTrue(wrong.err.contains("authentication failed for user \"" + ROLE + "\"") && wrong.err.contains("28P01"), wrong.err);
        assertFalse(wrong.err.contains("pool\""), "no password in: " + wrong.err);
        assertEquals(1, wrong.err.strip().lines().count(), wrong.err);
    }

    @Test
    void copyInLoadsCsvByHeaderAndCopyOutWritesOne() throws Exception {
        try (Connection c = Pg.connect(user()); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE cities (id int PRIMARY KEY, name text, note text, pop bigint)");
        }
        Path dir = Files.createTempDirectory("copy");
        Path in = dir.resolve("in.csv");
        // header in another order than the table, quoting, an embedded comma, quote and newline, unicode, NULL vs ""
        Files.writeString(in, "name,id,pop,note\r\n"
                + "Denver,1,715522,\"Mile High, CO\"\r\n"
                + "\"Coeur d'Alene\",2,,\"says \"\"hi\"\"\nand bye\"\r\n"
                + "Zürich,3,421878,\"\"\r\n");
        Out r = pool("--url", url, "--copy-in", in.toString(), "--table", "cities");
        assertEquals(0, r.rc, r.err);
        assertTrue(r.err.startsWith("copied in: 3 rows, "), r.err);
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id, name, note, pop FROM cities ORDER BY id")) {
            List<String> rows = new ArrayList<>();
            while (rs.next()) rows.add(rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getString(3) + "|" + rs.getString(4));
            assertEquals(List.of("1|Denver|Mile High, CO|715522", "2|Coeur d'Alene|says \"hi\"\nand bye|null", "3|Zürich||421878"), rows);
        }

        Path out = dir.resolve("out.csv");
        Out o = pool("--url", url, "--copy-out", out.toString(), "--table", "cities");
        assertEquals(0, o.rc, o.err);
        assertEquals("id,name,note,pop\n1,Denver,\"Mile High, CO\",715522\n2,Coeur d'Alene,\"says \"\"hi\"\"\nand bye\",\n3,Zürich,\"\",421878\n",
                Files.readString(out));
        Out again = pool("--url", url, "--copy-out", out.toString(), "--table", "cities");
        assertEquals(1, again.rc);
        assertTrue(again.err.contains("already exists"), again.err);

        Out q = pool("--url", url, "--copy-out", out.toString(), "--force", "--sql", "SELECT name FROM cities WHERE id > :min ORDER BY id", "-p", "min=1");
        assertEquals(0, q.rc, q.err);
        assertEquals("name\nCoeur d'Alene\nZürich\n", Files.readString(out));
        try (var s = Files.list(dir)) {
            assertEquals(List.of("in.csv", "out.csv"), s.map(p -> p.getFileName().toString()).sorted().toList(), "no temp files left");
        }

        Path reference = Files.createFile(dir.resolve("reference"));
        assertEquals(Files.getPosixFilePermissions(reference), Files.getPosixFilePermissions(out),
                "--copy-out writes with the user's umask, like any file the user creates");
        Files.delete(reference);

        Path bad = dir.resolve("bad.csv");
        Files.writeString(bad, "id,name\n10,ok\n11,fine\nnot-a-number,broken\n");
        Out b = pool("--url", url, "--copy-in", bad.toString(), "--table", "cities");
        assertEquals(1, b.rc);
        assertTrue(b.err.contains(bad + ": database error [SQLSTATE 22P02]") && b.err.contains("line 4, column id"), b.err);
        assertEquals(0, count("SELECT count(*) FROM cities WHERE id >= 10"), "COPY is one transaction: nothing half-loaded");
    }

    /** The header names the columns: a BOM, quotes, a delimiter or a line break inside a name, blanks around it. */
    @Test
    void copyInReadsTheHeaderAsCsvAndRefusesABrokenOne() throws Exception {
        try (Connection c = Pg.connect(user()); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE odd_names (\"pop, 2020\" int, \"two\nlines\" text, id int)");
        }
        Path dir = Files.createTempDirectory("header");
        Path in = dir.resolve("odd.csv");
        Files.writeString(in, "\uFEFF id ,\"two\nlines\",\"pop, 2020\"\n7,x,42\n");
        Out r = pool("--url", url, "--copy-in", in.toString(), "--table", "odd_names");
        assertEquals(0, r.rc, r.err);
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id, \"two\nlines\", \"pop, 2020\" FROM odd_names")) {
            assertTrue(rs.next());
            assertEquals("7|x|42", rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getInt(3));
        }
        Path broken = dir.resolve("broken.csv");
        Files.writeString(broken, "id,\"name\"x\n1,a\n");
        Out b = pool("--url", url, "--copy-in", broken.toString(), "--table", "odd_names");
        assertEquals(1, b.rc);
        assertEquals(1, b.err.strip().lines().count(), b.err);
        assertTrue(b.err.contains(broken + ": the header is not valid CSV: line 1"), b.err);
        assertEquals(1, count("SELECT count(*) FROM odd_names"), "nothing loaded from the broken file");
    }

    // ------------------------------------------------------------------ PgBouncer, transaction mode

    static PgBouncerServer bouncer() {
        TestServices.requireTool("pgbouncer", () -> PgBouncerServer.binary() != null);
        if (bouncer == null) bouncer = PgBouncerServer.start(db, "transaction", 2, Map.of(ROLE, PASSWORD));
        return bouncer;
    }

    @Test
    void pooledPathWorksThroughPgBouncerInTransactionMode() throws SQLException {
        PgBouncerServer b = bouncer();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("TRUNCATE hits");
        }
        String via = url.replaceFirst("@[^/]+/", "@127.0.0.1:" + b.port + "/");
        // 20 workers, a pool of 10 client connections, and PgBouncer multiplexing them over 2 server connections
        Out r = pool("--url", via, "--pooler", "--sql", "INSERT INTO hits (w) VALUES (:w)", "-p", "w=1", "-n", "400", "-c", "20", "--pool-size", "10");
        assertEquals(0, r.rc, r.err + r.out);
        assertEquals(400, count("SELECT count(*) FROM hits WHERE w = 1"));
        Out q = pool("--url", via, "--pooler", "--city", "denver", "-n", "200", "-c", "10");
        assertEquals(0, q.rc, q.err + q.out);
        assertTrue(q.out.startsWith("queries     200 ok, 0 failed, 400 rows"), q.out);
    }

    @Test
    void naivePreparedStatementsBreakBehindPgBouncerAndPrepareThresholdZeroFixesIt() throws SQLException {
        PgBouncerServer b = bouncer();
        Pg.Target naive = b.front(user());
        naive.props().setProperty("prepareThreshold", "1"); // server-side prepared statement from the first execution
        Pg.Target safe = b.front(user());
        PgClient.transactionPooler(safe);

        SQLException e = assertThrows(SQLException.class, () -> scenario(naive));
        // the statement is missing on the new server connection (26000), or pgjdbc re-parses it on one that has it (42P05)
        assertTrue(List.of("26000", "42P05").contains(e.getSQLState()), e.getSQLState() + " " + e.getMessage());
        assertTrue(e.getMessage().matches("(?s).*prepared statement \"S_[0-9]+\" (does not exist|already exists).*"), e.getMessage());
        assertEquals(List.of(1, 1), scenario(safe));
    }

    /**
     * A runs a statement (prepared on server connection X), B holds X in an open transaction, A runs the statement
     * again: PgBouncer gives A another server connection, where the prepared statement does not exist.
     */
    static List<Integer> scenario(Pg.Target t) throws SQLException {
        try (Connection a = Pg.connect(t); Connection bConn = Pg.connect(t)) {
            List<Integer> got = new ArrayList<>();
            try (PreparedStatement ps = a.prepareStatement("SELECT count(*)::int FROM hits WHERE w = ? AND id > -1")) {
                ps.setInt(1, 12345);
                got.add(one(ps) + 1);
                bConn.setAutoCommit(false);
                try (Statement st = bConn.createStatement()) {
                    st.execute("SELECT 1"); // B now holds the server connection A used
                    got.add(one(ps) + 1);
                }
                bConn.rollback();
            }
            return got;
        }
    }

    private static int one(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
