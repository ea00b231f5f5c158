import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** supabase-query.java: REST against a PostgREST-compatible server over the real test PostgreSQL, and direct SQL. */
class SupabaseQueryTest {
    static final String KEY = "eyJhbGciOiJIUzI1NiJ9.test-anon-key.sig";
    static final String ROLE = "supa_special";
    static final String PASSWORD = "p@ss:w/o%rd supa";
    static Pg.Target db;
    static PostgrestServer rest;
    static String directUrl;

    record Out(int rc, String out, String err) {}

    static Out supa(Map<String, String> vars, String... args) {
        SupabaseQuery cmd = new SupabaseQuery();
        CommandLine cl = new CommandLine(cmd);
        cmd.common.config(Config.of(vars, Path.of("/nonexistent-dir"), null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = cl.setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Out(rc, out.toString(), err.toString());
    }

    static Out viaRest(String... args) {
        return supa(Map.of("SUPABASE_URL", rest.url(), "SUPABASE_KEY", KEY), args);
    }

    @BeforeAll
    static void setUp() throws SQLException {
        db = TestServices.newDatabase();
        try (Connection c = Pg.connect(TestServices.postgres()); Statement st = c.createStatement()) {
            st.execute("DROP ROLE IF EXISTS " + ROLE);
            st.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "'");
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
                      (40, 'rain', 70, 0.4, 30, 'Denver', 60, '2024-05-01 13:00', 210, 6),
                      (0, 'clear sky', 20, 0, 31, 'Boulder', 75, '2024-05-01 10:00', 90, 1),
                      (5, 'heavy rain', 90, 2, 31, 'Boulder', 55, '2024-05-01 11:00', 95, 2),
                      (90, 'snow', 80, 1.5, 29, 'Coeur d''Alene', 30, '2024-05-01 10:00', 0, 12),
                      (50, '100% cloudy', 85, NULL, 29, 'Denver_X', 50, '2024-05-01 10:00', 0, 12)""");
            st.execute("GRANT SELECT ON weather_reports TO " + ROLE);
        }
        rest = PostgrestServer.start(db, KEY);
        String hp = db.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
        directUrl = "postgresql://" + ROLE + ":" + URLEncoder.encode(PASSWORD, StandardCharsets.UTF_8).replace("+", "%20")
                + "@" + hp + "/" + db.database();
    }

    @AfterAll
    static void tearDown() {
        if (rest != null) rest.close();
    }

    @Test
    void defaultIsTheOriginalsRequestWithACaseInsensitiveCity() {
        rest.requests.clear();
        Out r = viaRest("--format", "csv", "--select", "site_name,timestamp", "--order", "timestamp");
        assertEquals(0, r.rc, r.err);
        assertEquals("site_name,timestamp\nDenver,2024-05-01T10:00:00\nDenver,2024-05-01T11:00:00\n"
                + "Denver,2024-05-01T12:00:00\nDenver,2024-05-01T13:00:00\n", r.out);
        assertEquals(List.of("GET /rest/v1/weather_reports?select=site_name,timestamp&site_name=ilike.Denver&order=timestamp&limit=1000"),
                rest.requests);
        assertTrue(r.err.startsWith("REST: 1 request, "), r.err);

        Out city = viaRest("--city", "COEUR D'ALENE", "--format", "json", "--select", "site_name,temp_f,precip");
        assertEquals("[{\"site_name\":\"Coeur d'Alene\",\"temp_f\":30,\"precip\":1.5}]\n", city.out, city.err);
        Out underscore = viaRest("--city", "denver_x", "--format", "csv", "--select", "site_name,precip");
        assertEquals("site_name,precip\nDenver_X,\n", underscore.out, "_ is literal, NULL is an empty field: " + underscore.err);
    }

    @Test
    void everyFilterOperatorAndOrder() {
        Out r = viaRest("--gte", "temp_f=60", "--in", "site_name=Denver,Boulder", "--order", "temp_f.desc", "--select", "site_name,temp_f", "--format", "csv");
        assertEquals("site_name,temp_f\nBoulder,75\nDenver,71.5\nDenver,68.25\nDenver,65\nDenver,60\n", r.out, r.err);
        assertEquals(List.of("Denver"), names("--eq", "clouds=30"));
        assertEquals(List.of("Boulder", "Boulder", "Denver_X"), names("--neq", "site_name=Denver", "--neq", "site_name=Coeur d'Alene", "--order", "site_name"));
        assertEquals(List.of("Boulder"), names("--gt", "temp_f=71.5"));
        assertEquals(List.of("Coeur d'Alene"), names("--lt", "temp_f=50"));
        assertEquals(List.of("Coeur d'Alene", "Denver_X"), names("--lte", "temp_f=50", "--order", "temp_f"));
        assertEquals(List.of("Denver", "Boulder"), names("--like", "description=*rain", "--neq", "description=light rain", "--order", "temp_f.desc"));
        assertEquals(List.of(), names("--like", "description=*RAIN"), "like is case-sensitive");
        assertEquals(List.of("Denver_X"), names("--ilike", "description=100%*CLOUDY"));
        assertEquals(List.of("Denver_X"), names("--filter", "precip=is.null"));
        assertEquals(List.of(), names("--city", "Atlantis"));
        Out none = viaRest("--city", "Atlantis");
        assertTrue(none.err.startsWith("supabase-query: no rows in weather_reports match the filters\n"), none.err);
    }

    /** site_name of the rows the REST call returns. */
    static List<String> names(String... filters) {
        Out r = viaRest(concat(filters, List.of("--select", "site_name", "--format", "csv")));
        assertEquals(0, r.rc, r.err);
        return r.out.lines().skip(1).toList();
    }

    @Test
    void morePagesThanOneAreFetchedWithRangeHeaders() {
        rest.requests.clear();
        Out r = viaRest("--eq", "pressure=30", "--order", "timestamp", "--select", "temp_f", "--limit", "3", "--page-size", "2", "--format", "csv");
        assertEquals("temp_f\n71.5\n65\n68.25\n", r.out, r.err);
        assertEquals(List.of(
                "GET /rest/v1/weather_reports?select=temp_f&pressure=eq.30&order=timestamp | Range: 0-1",
                "GET /rest/v1/weather_reports?select=temp_f&pressure=eq.30&order=timestamp | Range: 2-2"), rest.requests);
        assertTrue(r.err.startsWith("REST: 2 requests, "), r.err);

        rest.requests.clear();
        Out all = viaRest("--filter", "site_name=not.is.null", "--order", "site_name,timestamp", "--select", "site_name", "--limit", "100",
                "--page-size", "3", "--format", "csv");
        assertEquals(9, all.out.lines().count(), all.out);
        assertEquals(3, rest.requests.size(), "8 rows in pages of 3: 3 + 3 + 2, the short page ends it: " + rest.requests);
    }

    @Test
    void restErrorsAreOneLineAndNeverShowTheKey() {
        Out wrongKey = supa(Map.of("SUPABASE_URL", rest.url(), "SUPABASE_KEY", "wrong-key-123456"), "--city", "Denver");
        assertEquals(1, wrongKey.rc);
        assertEquals("supabase-query: Supabase refused the API key (HTTP 401 from " + rest.url() + "): Invalid API key hint: "
                + "Double check your Supabase `anon` or `service_role` API key.\n", wrongKey.err);
        assertFalse(wrongKey.err.contains("wrong-key-123456"));

        Out column = viaRest("--eq", "no_such_column=1");
        assertEquals(1, column.rc);
        assertTrue(column.err.contains("(HTTP 400 from " + rest.url() + ") [SQLSTATE 42703]: column \"no_such_column\" does not exist"), column.err);
        Out table = viaRest("--table", "nope");
        assertTrue(table.err.startsWith("supabase-query: not found: table 'nope' (HTTP 404"), table.err);
        assertTrue(table.err.contains("[SQLSTATE 42P01]"), table.err);

        Out unset = supa(Map.of(), "--city", "Denver");
        assertEquals(1, unset.rc);
        assertTrue(unset.err.contains("the Supabase project URL is not set: set SUPABASE_URL"), unset.err);
        int free;
        try (ServerSocket s = new ServerSocket(0)) {
            free = s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        Out refused = supa(Map.of("SUPABASE_URL", "http://127.0.0.1:" + free, "SUPABASE_KEY", KEY), "--city", "Denver");
        assertEquals("supabase-query: connection refused by http://127.0.0.1:" + free + " (check SUPABASE_URL)\n", refused.err);
        Out unknown = supa(Map.of("SUPABASE_URL", "https://no-such-project.invalid", "SUPABASE_KEY", KEY), "--city", "Denver");
        assertTrue(unknown.err.startsWith("supabase-query: unknown host: no-such-project.invalid"), unknown.err);
        assertFalse(unknown.err.contains(KEY) || refused.err.contains(KEY) || unset.err.contains(KEY));
    }

    @Test
    void directPostgresGivesTheSameRowsAsRest() {
        for (String[] q : List.of(
                new String[] {"--city", "denver", "--order", "timestamp.desc"},
                new String[] {"--gte", "temp_f=60", "--in", "site_name=Denver,Boulder", "--order", "temp_f.desc"},
                new String[] {"--ilike", "description=*RAIN*", "--order", "site_name,timestamp", "--limit", "2"})) {
            List<String> common = List.of("--select", "site_name,temp_f,humidity,description", "--format", "json");
            String[] a = concat(q, common);
            Out r = viaRest(a);
            Out d = supa(Map.of(), concat(new String[] {"--url", directUrl}, List.of(a)));
            assertEquals(0, d.rc, d.err);
            assertEquals(r.out, d.out, String.join(" ", q));
            assertTrue(d.err.startsWith("postgres: connect "), d.err);
        }
    }

    @Test
    void directThroughPgBouncerInTransactionModeTurnsPreparedStatementsOff() throws SQLException {
        TestServices.requireTool("pgbouncer", () -> PgBouncerServer.binary() != null);
        try (PgBouncerServer b = PgBouncerServer.start(db, "transaction", 1, Map.of(ROLE, PASSWORD))) {
            String via = directUrl.replaceFirst("@[^/]+/", "@127.0.0.1:" + b.port + "/");
            for (int i = 0; i < 3; i++) {
                Out r = supa(Map.of(), "--url", via, "--pooler", "--city", "Boulder", "--select", "site_name", "--format", "csv");
                assertEquals(0, r.rc, r.err);
                assertEquals("site_name\nBoulder\nBoulder\n", r.out);
                assertTrue(r.err.startsWith("postgres via transaction pooler (prepared statements off): "), r.err);
            }
        }
        Pg.Target t = Pg.resolve("postgresql://u@db.example.supabase.com:6543/postgres", Config.of(Map.of(), Path.of("/x"), null));
        assertTrue(PgClient.looksLikeTransactionPooler(t), "Supabase's pooler port 6543 is recognised");
        assertFalse(PgClient.looksLikeTransactionPooler(Pg.resolve("postgresql://u@h:5432/d", Config.of(Map.of(), Path.of("/x"), null))));
    }

    static String[] concat(String[] a, List<String> b) {
        String[] out = new String[a.length + b.size()];
        System.arraycopy(a, 0, out, 0, a.length);
        for (int i = 0; i < b.size(); i++) out[a.length + i] = b.get(i);
        return out;
    }
}
