import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;

import org.junit.jupiter.api.Test;

class PgTest {
    static Config env(Map<String, String> vars) {
        return Config.of(vars, Path.of("/nonexistent-dir"), null);
    }

    @Test
    void libpqUriWithEncodedPasswordAndSslmode() {
        Pg.Target t = Pg.resolve("postgresql://app%40team:p%40ss%3Aw%2Fo%25rd%20x@db.example.com:6543/my%20db?sslmode=require&application_name=demo", env(Map.of()));
        assertEquals("jdbc:postgresql://db.example.com:6543/my%20db", t.jdbcUrl());
        assertEquals("app@team", t.user());
        assertEquals("p@ss:w/o%rd x", t.props().getProperty("password"));
        assertEquals("require", t.props().getProperty("sslmode"));
        assertEquals("demo", t.props().getProperty("ApplicationName"));
        assertEquals("my db", t.database());
        assertFalse(t.toString().contains("p@ss"), t.toString());
    }

    @Test
    void postgresSchemeMissingPartsAndDefaults() {
        Pg.Target t = Pg.resolve("postgres://onlyhost", env(Map.of()));
        assertEquals("jdbc:postgresql://onlyhost:5432/" + System.getProperty("user.name"), t.jdbcUrl());
        assertNull(t.props().getProperty("password"));
        Pg.Target bare = Pg.resolve("postgresql://", env(Map.of()));
        assertTrue(bare.jdbcUrl().startsWith("jdbc:postgresql://localhost:5432/"), bare.jdbcUrl());
        Pg.Target plus = Pg.resolve("postgresql://u:a+b@h/d", env(Map.of()));
        assertEquals("a+b", plus.props().getProperty("password"), "'+' stays a plus in libpq URIs");
        Pg.Target ipv6 = Pg.resolve("postgresql://u@[::1]:5433/d", env(Map.of()));
        assertEquals("jdbc:postgresql://[::1]:5433/d", ipv6.jdbcUrl());
        Pg.Target multi = Pg.resolve("postgresql://h1:5433,h2/d?target_session_attrs=read-write", env(Map.of()));
        assertEquals("jdbc:postgresql://h1:5433,h2:5432/d", multi.jdbcUrl());
        assertEquals("primary", multi.props().getProperty("targetServerType"));
    }

    @Test
    void keyValueAndJdbcForms() {
        Pg.Target kv = Pg.resolve("host=h port=5444 dbname=d user=u password='a b\\'c'", env(Map.of()));
        assertEquals("jdbc:postgresql://h:5444/d", kv.jdbcUrl());
        assertEquals("a b'c", kv.props().getProperty("password"));
        Pg.Target j = Pg.resolve("jdbc:postgresql://h:1234/d?sslmode=disable", env(Map.of("PGUSER", "envuser")));
        assertEquals("jdbc:postgresql://h:1234/d", j.jdbcUrl());
        assertEquals("disable", j.props().getProperty("sslmode"));
        assertEquals("envuser", j.user());
    }

    @Test
    void environmentSources() {
        Pg.Target fromUrl = Pg.resolve(null, env(Map.of("DATABASE_URL", "postgresql://a:b@h1/d1", "PGHOST", "ignored")));
        assertEquals("jdbc:postgresql://h1:5432/d1", fromUrl.jdbcUrl());
        Pg.Target pgvars = Pg.resolve(null, env(Map.of("PGHOST", "h2", "PGPORT", "6000", "PGUSER", "u2", "PGPASSWORD", "pw2!",
                "PGDATABASE", "d2", "PGSSLMODE", "verify-full")));
        assertEquals("jdbc:postgresql://h2:6000/d2", pgvars.jdbcUrl());
        assertEquals("pw2!", pgvars.props().getProperty("password"));
        assertEquals("verify-full", pgvars.props().getProperty("sslmode"));
        Pg.Target original = Pg.resolve(null, env(Map.of("POSTGRES_DATABASE_HOST", "h3", "POSTGRES_DATABASE_NAME", "d3",
                "POSTGRES_DATABASE_USER", "u3", "POSTGRES_DATABASE_PASSWORD", "pw3")));
        assertEquals("jdbc:postgresql://h3:5432/d3", original.jdbcUrl(), "no port set: the original crashed, we default to 5432");
        assertEquals("u3", original.user());
    }

    @Test
    void badInputIsAUsageError() {
        assertThrows(Cli.Failure.class, () -> Pg.resolve("mysql://x", env(Map.of())));
        assertThrows(Cli.Failure.class, () -> Pg.resolve("postgresql://h:notaport/d", env(Map.of())));
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Pg.resolve("host=/var/run/postgresql", env(Map.of())));
        assertTrue(f.getMessage().contains("Unix-socket"), f.getMessage());
    }

    @Test
    void identifiersAreQuoted() {
        assertEquals("\"weather_reports\"", Pg.ident("weather_reports"));
        assertEquals("\"a\"\"b\"", Pg.ident("a\"b"));
        assertEquals("\"public\".\"t\"", Pg.qualified("public.t"));
    }

    @Test
    void roundTripAgainstRealPostgres() throws SQLException {
        Pg.Target db = TestServices.newDatabase();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE " + Pg.ident("weird \"name\"") + " (id int primary key, city text)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + Pg.ident("weird \"name\"") + " VALUES (?, ?)")) {
                ps.setInt(1, 1);
                ps.setString(2, "Coeur d'Alene");
                ps.addBatch();
                ps.setInt(1, 2);
                ps.setString(2, "Zürich");
                ps.addBatch();
                ps.executeBatch();
            }
            try (ResultSet rs = st.executeQuery("SELECT city FROM " + Pg.ident("weird \"name\"") + " ORDER BY id")) {
                assertTrue(rs.next());
                assertEquals("Coeur d'Alene", rs.getString(1));
                assertTrue(rs.next());
                assertEquals("Zürich", rs.getString(1));
                assertFalse(rs.next());
            }
        }
    }

    @Test
    void passwordWithSpecialCharactersEveryWay() throws SQLException {
        Pg.Target admin = TestServices.postgres();
        String pw = "p@ss:w/o%rd x#?&=+'\"";
        try (Connection c = Pg.connect(admin); Statement st = c.createStatement()) {
            st.execute("DROP ROLE IF EXISTS special_user");
            st.execute("CREATE ROLE special_user LOGIN PASSWORD '" + pw.replace("'", "''") + "'");
        }
        String host = admin.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
        String h = host.substring(0, host.lastIndexOf(':')), port = host.substring(host.lastIndexOf(':') + 1);
        String enc = java.net.URLEncoder.encode(pw, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20");
        Pg.Target[] ways = {
            Pg.resolve("postgresql://special_user:" + enc + "@" + host + "/postgres", env(Map.of())),
            Pg.resolve(null, env(Map.of("DATABASE_URL", "postgres://special_user:" + enc + "@" + host + "/postgres"))),
            Pg.resolve(null, env(Map.of("PGHOST", h, "PGPORT", port, "PGUSER", "special_user", "PGPASSWORD", pw, "PGDATABASE", "postgres"))),
            Pg.resolve(null, env(Map.of("POSTGRES_DATABASE_HOST", h, "POSTGRES_DATABASE_PORT", port, "POSTGRES_DATABASE_USER", "special_user",
                    "POSTGRES_DATABASE_PASSWORD", pw, "POSTGRES_DATABASE_NAME", "postgres"))),
            Pg.resolve("host=" + h + " port=" + port + " user=special_user dbname=postgres password='" + pw.replace("\\", "\\\\").replace("'", "\\'") + "'", env(Map.of())),
        };
        for (Pg.Target t : ways) {
            try (Connection c = Pg.connect(t); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_user")) {
                rs.next();
                assertEquals("special_user", rs.getString(1), t.toString());
            }
        }
        Pg.Target wrong = Pg.resolve("postgresql://special_user:wrong@" + host + "/postgres", env(Map.of()));
        SQLException e = assertThrows(SQLException.class, () -> Pg.connect(wrong).close());
        assertEquals("28P01", e.getSQLState(), "a wrong password is refused: password auth is really on");
    }
}
