import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** demo/demo.java end to end on a local stack it starts and stops itself; the report drawn by headless Chromium. */
class DemoTourTest {
    Path dir;
    final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void folder() throws Exception {
        dir = Files.createTempDirectory("demo-tour", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    @AfterEach
    void nothingLeft() throws Exception {
        LocalStackTest.local("down", "--dir", dir.toString());
        for (long pid : pids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        LocalServices.deleteTree(dir);
    }

    static LocalStackTest.R demo(String... args) {
        return demo(t -> {}, args);
    }

    static LocalStackTest.R demo(java.util.function.Consumer<DemoTour> set, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        DemoTour tour = new DemoTour();
        set.accept(tour);
        CommandLine cl = Cli.commandLine(tour);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int rc = cl.execute(args);
        return new LocalStackTest.R(rc, out.toString(), err.toString());
    }

    @Test
    void theTourRunsEndToEndDrawsItsReportAndLeavesNothingRunning() throws Exception {
        Path report = dir.resolve("out/report.html");
        LocalStackTest.R r = demo("--dir", dir.toString(), "--report", report.toString(), "--stress-duration", "5s", "--stream-duration", "3s");
        Matcher started = Pattern.compile("(tinybird|postgres): started \\(pid (\\d+), port (\\d+)").matcher(r.out());
        List<Integer> ports = new ArrayList<>();
        while (started.find()) {
            pids.add(Long.parseLong(started.group(2)));
            ports.add(Integer.parseInt(started.group(3)));
        }
        assertEquals(0, r.rc(), r.out() + r.err());
        assertEquals(2, pids.size(), r.out());
        // each step printed the one-liner that reruns it
        for (String s : List.of("$ ./jbang seed-data --target both --url postgresql://postgres@127.0.0.1:", "$ ./jbang e-store --host http://127.0.0.1:",
                "$ ./jbang tb-to-postgres --once", "$ ./jbang stress-case --target both", "report: " + report)) {
            assertTrue(r.out().contains(s), "the tour printed " + s + "\n" + r.out());
        }
        // the summary: what each step measured, each figure a line (or part of one) its own step printed
        String summary = r.out().substring(r.out().indexOf("\n== done in "));
        for (String s : List.of("\nseed      postgres: 381,060 rows in ", "\nseed      tinybird: 381,060 rows in ", "\nstream    e-store: sent: 1,500 events in ",
                "\nstream    tinybird estore_events: 1,500 stored, 0 quarantined", "\nstream    top_products over the events just sent: 5 rows in ",
                "\ntransfer  done: 2,190 rows read, 2,190 inserted")) {
            assertTrue(summary.contains(s), "the summary has " + s.strip() + "\n" + summary);
        }
        assertTrue(Pattern.compile("\nstress +postgres +tinybird\nstress +requests .*\nstress +req/s .*\nstress +errors .*\nstress +p50 .*\nstress +p99 .*")
                .matcher(summary).find(), "stress-case's table, header and rows\n" + summary);
        for (String line : summary.lines().filter(l -> l.matches("(seed|stream|transfer|stress) .*")).toList()) {
            String figure = line.substring(10);
            String step = line.substring(0, 10).strip();
            int from = r.out().indexOf("\n== " + step + ": ");
            String section = r.out().substring(from, r.out().indexOf("\n== ", from + 1));
            assertTrue(figure.startsWith("top_products ") || section.contains(figure), "'" + figure + "' was printed by step " + step + "\n" + section);
        }
        // nothing of the stack it started still runs
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(p -> p.onExit().orTimeout(60, java.util.concurrent.TimeUnit.SECONDS).join());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still runs");
        }
        for (int port : ports) assertFalse(LocalServices.listening(port), "port " + port + " still listens");
        assertChartsDrawn(report);

        // what the steps wrote is in the stores: start the stack again on the same data and look
        LocalStackTest.R up = LocalStackTest.local("up", "--dir", dir.toString(), "--tinybird-port", "0", "--postgres-port", "0");
        assertEquals(0, up.rc(), up.err());
        LocalServices s = new LocalServices(dir, TestServices.repoRoot(), new PrintWriter(new StringWriter()));
        LocalServices.Service pg = s.recorded("postgres").orElseThrow(), tb = s.recorded("tinybird").orElseThrow();
        pids.add(pg.pid());
        pids.add(tb.pid());
        try (Connection c = TestServices.connect(Pg.resolve(LocalServices.databaseUrl(pg.port()), Config.of(Map.of(), Path.of("/nonexistent"), null)));
             Statement st = c.createStatement()) {
            assertEquals(381_060, count(st, "SELECT count(*) FROM weather_reports"));
            assertEquals(2_190, count(st, "SELECT count(*) FROM demo_reports WHERE site_name = 'Denver'"));
        }
        assertEquals("381060", sql(tb.port(), s.token(), "SELECT count() FROM weather_data"), "seed-data's rows in Tinybird");
        assertEquals("1500", sql(tb.port(), s.token(), "SELECT count() FROM estore_events"), "e-store's events in Tinybird (500 a second for 3 s)");
    }

    static String sql(int port, String token, String q) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/v0/sql?q=" + URLEncoder.encode(q + " FORMAT CSV", StandardCharsets.UTF_8)))
                .header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body().strip();
    }

    @Test
    void keepLeavesTheStackUpWithItsSettingsAndTheNextTourReusesItAndLeavesItUp() throws Exception {
        Path env = dir.resolve("work/.env.local");
        Files.createDirectories(env.getParent());
        Files.writeString(env, "# mine\nMINE=1\n");
        LocalStackTest.R first = demo(t -> t.envLocal = env, "--dir", dir.toString(), "--keep", "--step", "seed");
        assertEquals(0, first.rc(), first.out() + first.err());
        LocalServices s = new LocalServices(dir, TestServices.repoRoot(), new PrintWriter(new StringWriter()));
        LocalServices.Service pg = s.recorded("postgres").orElseThrow(), tb = s.recorded("tinybird").orElseThrow();
        pids.add(pg.pid());
        pids.add(tb.pid());
        assertTrue(pg.running() && tb.running(), "--keep leaves the stack up\n" + first.out());
        assertTrue(first.out().contains("the stack stays up; its settings are in " + env), first.out());
        String file = Files.readString(env);
        assertTrue(file.startsWith("# mine\nMINE=1\n"), "other lines kept: " + file);
        assertTrue(file.contains("\nTINYBIRD_HOST=http://127.0.0.1:" + tb.port() + "\n") && file.contains("\nDATABASE_URL=" + LocalServices.databaseUrl(pg.port()) + "\n")
                && file.contains("\nTINYBIRD_TOKEN="), file);
        assertFalse(first.out().contains(s.token()), "the token is never printed");
        assertFalse(first.out().contains("\n== stream: ") || first.out().contains("\n== stress: "), "--step seed runs seed alone");

        // a running stack is used as it is, and left running: the next tour did not start it; its seed step loads the
        // stores afresh (weather_data and what its materializations fill), so the endpoint still answers each row once
        LocalStackTest.R second = demo("--dir", dir.toString(), "--step", "seed,transfer");
        assertEquals(0, second.rc(), second.out() + second.err());
        assertTrue(second.out().contains("tinybird: running, reused (pid " + tb.pid()) && second.out().contains("postgres: running, reused (pid " + pg.pid()), second.out());
        assertTrue(second.out().contains("\ntransfer  done: 2,190 rows read"), second.out());
        assertFalse(second.out().contains("== stopping"), second.out());
        assertTrue(ProcessHandle.of(pg.pid()).map(ProcessHandle::isAlive).orElse(false) && ProcessHandle.of(tb.pid()).map(ProcessHandle::isAlive).orElse(false));
    }

    @Test
    void ctrlCStopsTheStackTheTourStartedAndPrintsWhatTheStepsMeasuredAndTheUsersSettingsAreNotUsed() throws Exception {
        // the tour as a terminal runs it: its own process group, which Ctrl-C signals whole (the tour and its script)
        TestServices.requireTool("setsid", () -> TestServices.onPath("setsid"));
        Path log = Files.createTempFile("demo-ctrl-c", ".out");
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder("setsid", "env", "--default-signal=INT", javaBin, "-cp", System.getProperty("java.class.path"), "DemoTour",
                "--dir", dir.toString(), "--step", "seed,stress", "--stress-duration", "10m", "--report", dir.resolve("report.html").toString())
                .directory(TestServices.repoRoot().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        // the user's own workspace and database in the environment: a tour without --cloud must not touch them
        Pg.Target theirs = TestServices.newDatabase();
        TinybirdEmulator workspace = new TinybirdEmulator().port(0).project(null).start();
        for (String k : List.of("TINYBIRD_HOST", "TB_HOST")) pb.environment().put(k, workspace.url());
        for (String k : DemoSteps.TOKEN_NAMES) pb.environment().put(k, workspace.adminToken());
        pb.environment().put("DATABASE_URL", theirs.libpqUri());
        Process p = pb.start();
        String out;
        try (workspace) {
            long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
            while (!Files.readString(log).contains("$ ./jbang stress-case ")) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, "the tour reached stress-case\n" + Files.readString(log));
                p.onExit().completeOnTimeout(null, 100, java.util.concurrent.TimeUnit.MILLISECONDS).join(); // a pause that ends early if the tour does
            }
            assertEquals(0, new ProcessBuilder("kill", "-INT", "--", "-" + p.pid()).start().waitFor());
            assertTrue(p.waitFor(3, java.util.concurrent.TimeUnit.MINUTES), "the tour ended on Ctrl-C\n" + Files.readString(log));
            out = Files.readString(log);
            assertEquals(0, workspace.stats().requests(), "the user's workspace untouched\n" + out);
        } finally {
            p.destroyForcibly();
            Files.deleteIfExists(log);
        }
        assertFalse(p.exitValue() == 0, out);
        Matcher started = Pattern.compile("(tinybird|postgres): started \\(pid (\\d+), port (\\d+)").matcher(out);
        List<Integer> ports = new ArrayList<>();
        while (started.find()) {
            pids.add(Long.parseLong(started.group(2)));
            ports.add(Integer.parseInt(started.group(3)));
        }
        assertEquals(2, pids.size(), out);
        assertTrue(out.contains("== stopping what the tour started\n"), out);
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(h -> h.onExit().completeOnTimeout(h, 60, java.util.concurrent.TimeUnit.SECONDS).join());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still runs a minute after\n" + out);
        }
        for (int port : ports) assertFalse(LocalServices.listening(port), "port " + port + " still listens");
        assertTrue(Pattern.compile("\n== (interrupted|the tour stopped)[^\n]*what the steps[^\n]*\nseed      postgres: 381,060 rows in [^\n]*\nseed      tinybird: 381,060 rows in ")
                .matcher(out).find(), "the summary of the steps done\n" + out);
        try (Connection c = TestServices.connect(theirs); Statement st = c.createStatement()) {
            assertEquals(0, count(st, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"), "the user's database untouched");
        }
    }

    @Test
    void aFailingStepStopsTheTourWithItsOneLineErrorAndStopsTheStack() throws Exception {
        // stress alone on a fresh stack: PostgreSQL has no weather_reports yet, and stress-case's own error ends the tour
        LocalStackTest.R r = demo("--dir", dir.toString(), "--step", "stress", "--report", dir.resolve("report.html").toString(), "--stress-duration", "1s");
        assertEquals(1, r.rc(), r.out());
        assertTrue(r.err().strip().startsWith("demo: step stress failed: "), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        Matcher started = Pattern.compile("started \\(pid (\\d+)").matcher(r.out());
        while (started.find()) pids.add(Long.parseLong(started.group(1)));
        assertEquals(2, pids.size(), r.out());
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(p -> p.onExit().orTimeout(60, java.util.concurrent.TimeUnit.SECONDS).join());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still runs");
        }
    }

    @Test
    void cloudChecksTheWorkspaceAndNamesWhatIsMissingBeforeWritingAnything() throws Exception {
        // a workspace without the project: an emulator serving no project stands in for it
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).project(null).start()) {
            StringWriter out = new StringWriter(), err = new StringWriter();
            DemoTour tour = new DemoTour();
            CommandLine cl = Cli.commandLine(tour);
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            cl.parseArgs("--cloud");
            tour.common.config(Config.of(Map.of("TINYBIRD_HOST", emu.url(), "TINYBIRD_TOKEN", emu.adminToken(),
                    "DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none"), Path.of("/nonexistent"), null));
            int rc = tour.call();
            assertEquals(1, rc, out.toString());
            String line = err.toString().strip();
            assertTrue(line.startsWith("demo: --cloud: the workspace lacks estore_events.datasource, estore_product_daily.datasource"), line);
            assertTrue(line.contains("top_products.pipe") && line.contains("tb --cloud deploy"), line);
            assertFalse(line.contains(emu.adminToken()));
            assertEquals(0, emu.stats().rowsReceived(), "nothing written");
        }
    }

    @Test
    void cloudNamesWhatItWritesFirstWritesOnlyThatAndNeverPrintsThePassword() throws Exception {
        // a workspace with the project (an emulator serving tinybird/) and a database whose URL holds a password
        Pg.Target admin = TestServices.newDatabase();
        String role = "demo_cloud_" + ProcessHandle.current().pid(), password = "pw-n0t-printed";
        try (Connection c = TestServices.connect(admin); Statement st = c.createStatement()) {
            st.execute("CREATE ROLE " + Pg.ident(role) + " LOGIN PASSWORD '" + password + "'");
            st.execute("ALTER DATABASE " + Pg.ident(admin.database()) + " OWNER TO " + Pg.ident(role));
            st.execute("ALTER SCHEMA public OWNER TO " + Pg.ident(role));
        }
        URI server = URI.create(admin.libpqUri());
        String url = "postgresql://" + role + ":" + password + "@" + server.getHost() + ":" + server.getPort() + "/" + admin.database();
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).start()) {
            Path env = dir.resolve("cloud.env");
            Files.writeString(env, "TINYBIRD_HOST=" + emu.url() + "\nTINYBIRD_TOKEN=" + emu.adminToken() + "\nDATABASE_URL=" + url + "\n");
            LocalStackTest.R r = demo("--cloud", "--env-file", env.toString(), "--step", "transfer");
            assertEquals(0, r.rc(), r.out() + r.err());
            int named = r.out().indexOf("== --cloud: the tour writes only to Tinybird data source estore_events");
            int ran = r.out().indexOf("$ ./jbang tb-to-postgres --env-file " + env + " --once --host " + emu.url() + " --pipe reports --param city=Denver --table demo_reports\n");
            assertTrue(named >= 0 && ran > named, "what it writes is named before the first write\n" + r.out());
            assertTrue(r.out().contains("\ntransfer  done: 2,190 rows read"), r.out());
            for (String secret : List.of(password, emu.adminToken())) {
                assertFalse(r.out().contains(secret) || r.err().contains(secret), "a secret printed\n" + r.out() + r.err());
            }
            assertEquals(0, emu.stats().rowsReceived(), "nothing written to the workspace by the transfer step");
            assertFalse(r.out().contains("started (pid"), "no local stack with --cloud\n" + r.out());
            assertTrue(r.out().contains("rerun a step alone: ./jbang demo --step NAME --cloud --env-file " + env), r.out());
        }
        try (Connection c = TestServices.connect(admin); Statement st = c.createStatement()) {
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = st.executeQuery("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")) {
                while (rs.next()) tables.add(rs.getString(1));
            }
            assertEquals(List.of("demo_reports", "transfer_state"), tables, "only the tables the tour named");
            assertEquals(2_190, count(st, "SELECT count(*) FROM demo_reports"));
        }
    }

    static long count(Statement st, String sql) throws Exception {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Every chart of the report has points, and Chromium draws both targets' lines. */
    static void assertChartsDrawn(Path report) throws Exception {
        String page = Files.readString(report);
        for (String id : List.of("percentile-distribution", "latency-over-time", "throughput-over-time")) {
            Matcher m = Pattern.compile("<svg id=\"" + id + "\" data-points=\"(\\d+)\"(.*?)</svg>", Pattern.DOTALL).matcher(page);
            assertTrue(m.find(), id);
            assertTrue(Integer.parseInt(m.group(1)) > 0 && m.group(2).contains("class=\"series\""), id + " has data");
        }
        TestServices.requireTool("chromium", () -> TestServices.onPath("chromium"));
        Path png = report.resolveSibling("report.png"), profile = Files.createTempDirectory("chromium-profile");
        TestServices.Run c = TestServices.run(report.getParent(), Duration.ofSeconds(90), List.of("chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile, "--window-size=1280,2600", "--screenshot=" + png, report.toUri().toString()));
        LocalServices.deleteTree(profile);
        assertTrue(Files.isRegularFile(png), "chromium wrote no screenshot: " + c.stderr());
        BufferedImage img = ImageIO.read(png.toFile());
        long postgres = 0, tinybird = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y), rr = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                if (Math.abs(rr - 0x33) < 30 && Math.abs(g - 0x67) < 30 && Math.abs(b - 0x91) < 30) postgres++;
                if (Math.abs(rr - 0xe8) < 30 && Math.abs(g - 0x59) < 30 && Math.abs(b - 0x0c) < 30) tinybird++;
            }
        }
        assertTrue(postgres > 300, "postgres's lines drawn: " + postgres + " pixels");
        assertTrue(tinybird > 300, "tinybird's lines drawn: " + tinybird + " pixels");
    }
}
