import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.Statement;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** tb-to-postgres's errors say which PostgreSQL they come from (host, port, database), never its password. */
class TbToPostgresErrorsTest {
    @Test
    void aDryRunThatTheDatabaseRefusesNamesHostAndDatabaseButNotThePassword() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        String password = "s3cret-Pw_" + ProcessHandle.current().pid();
        String role = "docs_app_" + Long.toHexString(System.nanoTime());
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
            st.execute("CREATE TABLE reports_elsewhere (id int)"); // no cursor column: max(timestamp) fails
            st.execute("GRANT SELECT ON reports_elsewhere TO " + role);
        }
        String server = PgClient.server(db); // host:port/database
        String host = server.substring(0, server.indexOf(':'));
        String url = "postgresql://" + role + ":" + password + "@" + server;
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            StringWriter out = new StringWriter(), err = new StringWriter();
            int rc = new CommandLine(new TbToPostgres()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(
                    "--once", "--dry-run", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--url", url,
                    "--table", "reports_elsewhere", "--since", "2023-05-01 00:00:00", "--until", "2023-05-01 04:00:00");
            String e = err.toString();
            assertEquals(1, rc, e);
            assertTrue(e.contains("SQLSTATE 42703"), e);
            assertTrue(e.contains(host) && e.contains(server.substring(server.indexOf('/') + 1)), "names host and database: " + e);
            assertFalse(e.contains(password), "never the password: " + e);
            assertEquals(1, e.strip().lines().count(), "one line: " + e);
        }
    }
}
