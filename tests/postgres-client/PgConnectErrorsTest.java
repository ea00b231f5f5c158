import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.util.Map;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** A failed connection says which server and database it tried (host:port/database), whatever the cause. */
class PgConnectErrorsTest {
    @Test
    void aMissingDatabaseNamesTheServerItWasAskedOf() throws Exception {
        Pg.Target admin = TestServices.postgres();
        String server = PgClient.server(admin);
        String hostPort = server.substring(0, server.indexOf('/'));
        String password = "no-such-pw-" + ProcessHandle.current().pid();
        String url = "postgresql://" + admin.user() + ":" + password + "@" + hostPort + "/no_such_database_here";
        PgQuery cmd = new PgQuery();
        CommandLine cl = new CommandLine(cmd);
        cmd.common.config(Config.of(Map.of(), Files.createTempDirectory("pgerr"), null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = cl.setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute("--url", url, "--sql", "SELECT 1");
        String e = err.toString();
        assertEquals(1, rc, e);
        assertTrue(e.contains("SQLSTATE 3D000"), e);
        assertTrue(e.contains(hostPort + "/no_such_database_here"), "names host, port and database: " + e);
        assertFalse(e.contains(password), "never the password: " + e);
        assertEquals(1, e.strip().lines().count(), "one line: " + e);
    }
}
