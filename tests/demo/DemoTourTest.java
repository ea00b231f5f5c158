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
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Cli.commandLine(new DemoTour());
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
        // each step printed the one-liner that reruns it, and the figures its script measured
        for (String s : List.of("$ ./jbang seed-data --target postgres", "$ ./jbang e-store --host http://127.0.0.1:", "$ ./jbang tb-to-postgres --once",
                "$ ./jbang stress-case --target both", "seed: postgres: 381,060 rows", "stream: e-store: sent: 1,500 events", "transfer: done: 2,190 rows read",
                "stress: p99 ", "report: " + report)) {
            assertTrue(r.out().contains(s), "the tour printed " + s + "\n" + r.out());
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
        HttpResponse<String> events = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tb.port()
                        + "/v0/sql?q=" + URLEncoder.encode("SELECT count() FROM estore_events FORMAT CSV", StandardCharsets.UTF_8)))
                .header("Authorization", "Bearer " + s.token()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("1500", events.body().strip(), "e-store's events in Tinybird (500 a second for 3 s)");
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
