import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** demo/local.java: real processes, real ports; every test ends with nothing of its stack running. */
class LocalStackTest {
    Path dir;
    final List<Long> pids = new ArrayList<>();

    record R(int rc, String out, String err) {}

    @BeforeEach
    void folder() throws Exception {
        // world-traversable: as root, PostgreSQL runs as nobody
        dir = Files.createTempDirectory("local-stack", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    @AfterEach
    void nothingLeft() throws Exception {
        local("down", "--dir", dir.toString());
        for (long pid : pids) ProcessHandle.of(pid).ifPresent(p -> p.destroyForcibly());
        LocalServices.deleteTree(dir);
    }

    static R local(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Cli.commandLine(new LocalStack());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int rc = cl.execute(args);
        return new R(rc, out.toString(), err.toString());
    }

    LocalServices services() {
        return new LocalServices(dir, TestServices.repoRoot(), new PrintWriter(new StringWriter()));
    }

    LocalServices.Service svc(String name) {
        LocalServices.Service s = services().recorded(name).orElseThrow(() -> new AssertionError(name + " not recorded"));
        pids.add(s.pid());
        return s;
    }

    R up() {
        R r = local("up", "--dir", dir.toString(), "--tinybird-port", "0", "--postgres-port", "0");
        assertEquals(0, r.rc(), r.out() + r.err());
        svc("tinybird");
        svc("postgres");
        return r;
    }

    @Test
    void upTwiceReusesAndDownLeavesNoProcessOrPortBehind() throws Exception {
        up();
        LocalServices.Service tb = svc("tinybird"), pg = svc("postgres");
        assertTrue(LocalServices.listening(tb.port()) && LocalServices.listening(pg.port()));
        R again = local("up", "--dir", dir.toString());
        assertEquals(0, again.rc(), again.err());
        assertTrue(again.out().contains("tinybird: running, reused (pid " + tb.pid()) && again.out().contains("postgres: running, reused (pid " + pg.pid()), again.out());
        assertEquals(tb, svc("tinybird"));
        assertEquals(pg, svc("postgres"));
        assertFalse(again.out().contains(services().token()), "the token is never printed");

        R down = local("down", "--dir", dir.toString());
        assertEquals(0, down.rc(), down.err());
        for (LocalServices.Service s : List.of(tb, pg)) {
            ProcessHandle.of(s.pid()).ifPresent(p -> p.onExit().orTimeout(60, java.util.concurrent.TimeUnit.SECONDS).join());
            assertFalse(ProcessHandle.of(s.pid()).map(ProcessHandle::isAlive).orElse(false), s.name() + " still runs");
            assertFalse(LocalServices.listening(s.port()), s.name() + " still listens on " + s.port());
            assertTrue(LocalServices.portFree(s.port()), s.name() + "'s port " + s.port() + " is still taken");
        }
        assertTrue(local("down", "--dir", dir.toString()).out().contains("tinybird: not started here"), "a second down stops nothing");
        R purge = local("down", "--purge", "--dir", dir.toString());
        assertEquals(0, purge.rc(), purge.err());
        assertFalse(Files.exists(dir), "--purge deletes the folder");
    }

    @Test
    void statusReportsACrashedServiceAndDownStopsTheOther() throws Exception {
        up();
        assertEquals(0, local("status", "--dir", dir.toString()).rc());
        LocalServices.Service tb = svc("tinybird"), pg = svc("postgres");
        ProcessHandle.of(tb.pid()).orElseThrow().destroyForcibly();
        ProcessHandle.of(tb.pid()).ifPresent(p -> p.onExit().join());
        R st = local("status", "--dir", dir.toString());
        assertEquals(1, st.rc(), st.out());
        assertTrue(st.out().contains("tinybird: CRASHED: pid " + tb.pid() + " is gone"), st.out());
        assertTrue(st.out().contains("postgres: running (pid " + pg.pid()), st.out());
        R down = local("down", "--dir", dir.toString());
        assertTrue(down.out().contains("tinybird: was not running") && down.out().contains("postgres: stopped"), down.out());
        ProcessHandle.of(pg.pid()).ifPresent(p -> p.onExit().orTimeout(60, java.util.concurrent.TimeUnit.SECONDS).join());
        assertFalse(LocalServices.listening(pg.port()));
        assertTrue(LocalServices.portFree(pg.port()));
    }

    @Test
    void envWrittenToDotEnvLocalIsWhatTheScriptsRead() throws Exception {
        up();
        Path work = Files.createTempDirectory("local-env");
        Files.writeString(work.resolve(".env.local"), "# mine\nMY_SETTING=1\n");
        R w = local("env", "--write", "--file", work.resolve(".env.local").toString(), "--dir", dir.toString());
        assertEquals(0, w.rc(), w.err());
        String file = Files.readString(work.resolve(".env.local"));
        assertTrue(file.startsWith("# mine\nMY_SETTING=1\n"), file);
        // the scripts, run from that folder, find both servers through it
        TestServices.Run pg = TestServices.run(work, Duration.ofMinutes(5), List.of(TestServices.repoRoot().resolve("jbang").toString(),
                "seed-data", "--target", "postgres", "--days", "2", "--cities", "3", "--replace", "--quiet"));
        assertEquals(0, pg.exitCode(), pg.stderr());
        TestServices.Run tb = TestServices.run(work, Duration.ofMinutes(5), List.of(TestServices.repoRoot().resolve("jbang").toString(),
                "seed-data", "--target", "tinybird", "--datasource", "weather_copy", "--days", "1", "--cities", "2", "--quiet"));
        assertEquals(0, tb.exitCode(), tb.stderr());
        LocalServices.Service pgs = svc("postgres"), tbs = svc("tinybird");
        try (Connection c = TestServices.connect(Pg.resolve(LocalServices.databaseUrl(pgs.port()), Config.of(Map.of(), Path.of("/nonexistent"), null)));
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM weather_reports")) {
            rs.next();
            assertEquals(2 * 6 * 3, rs.getLong(1), "rows seeded into the stack's PostgreSQL");
        }
        HttpResponse<String> count = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tbs.port()
                        + "/v0/sql?q=" + URLEncoder.encode("SELECT count() FROM weather_copy FORMAT CSV", StandardCharsets.UTF_8)))
                .header("Authorization", "Bearer " + services().token()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("12", count.body().strip(), "rows seeded into the stack's Tinybird");
        // printed settings name the token's file, never its value
        R env = local("env", "--dir", dir.toString());
        assertTrue(env.out().contains("export TINYBIRD_TOKEN=\"$(cat '" + dir.resolve("tinybird/admin-token") + "')\""), env.out());
        assertFalse(env.out().contains(services().token()));
        LocalServices.deleteTree(work);
    }

    @Test
    void aTakenPortIsReportedAndNothingStarts() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            R r = local("up", "--dir", dir.toString(), "--tinybird-port", "0", "--postgres-port", Integer.toString(taken.getLocalPort()));
            assertEquals(1, r.rc());
            assertEquals("local: postgres: port " + taken.getLocalPort() + " is taken: pass another --postgres-port, or 0 for a free one", r.err().strip());
            assertTrue(services().recorded("tinybird").isEmpty(), "nothing started");
        }
    }

    @Test
    void onePortIsNotGivenToBothServices() throws Exception {
        // both on the same free port: the second is refused before anything starts (it started tinybird, then pg_ctl failed)
        int p = LocalServices.freePort();
        R r = local("up", "--dir", dir.toString(), "--tinybird-port", Integer.toString(p), "--postgres-port", Integer.toString(p));
        assertEquals(1, r.rc(), r.out());
        assertEquals("local: postgres: port " + p + " is taken: pass another --postgres-port, or 0 for a free one", r.err().strip());
        assertTrue(services().recorded("tinybird").isEmpty(), "nothing started");
        // a default or free-port pick skips the port another service of the stack has claimed
        java.util.Set<Integer> claimed = java.util.Set.of(p);
        assertNotEquals(p, services().choosePort("postgres", null, p, "--postgres-port", claimed));
        for (int i = 0; i < 20; i++) assertNotEquals(p, services().choosePort("postgres", 0, p, "--postgres-port", claimed));
    }

    @Test
    void dotEnvKeepsOtherLinesAndRefusesToOverwriteAForeignValue() throws Exception {
        Path f = dir.resolve(".env.local");
        Files.writeString(f, "A=1\nDATABASE_URL=postgresql://me@prod/db\n");
        Map<String, String> s = new java.util.LinkedHashMap<>(Map.of("DATABASE_URL", "postgresql://postgres@127.0.0.1:5/postgres"));
        Cli.Failure e = org.junit.jupiter.api.Assertions.assertThrows(Cli.Failure.class, () -> DotEnv.write(f, s, false));
        assertEquals(f + ":2 sets DATABASE_URL to another value: edit it, or pass --replace to comment it out", e.getMessage());
        assertEquals("A=1\nDATABASE_URL=postgresql://me@prod/db\n", Files.readString(f), "untouched");
        DotEnv.write(f, s, true);
        DotEnv.write(f, s, false); // our own line is ours to update
        assertEquals("A=1\n# replaced by the local stack: DATABASE_URL=postgresql://me@prod/db\n\n" + DotEnv.MARK
                + "\nDATABASE_URL=postgresql://postgres@127.0.0.1:5/postgres\n", Files.readString(f));
        Files.writeString(dir.resolve("notes.txt"), "mine");
        R purge = local("down", "--purge", "--dir", dir.toString());
        assertNotEquals(0, purge.rc());
        assertTrue(Files.exists(dir.resolve("notes.txt")), "--purge leaves a folder with the user's files alone");
    }
}
