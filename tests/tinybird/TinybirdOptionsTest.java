import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Host, region and token resolution; secrets never printed. */
class TinybirdOptionsTest {
    static Config env(Map<String, String> m) {
        return Config.of(m, Path.of("/nonexistent-folder-for-tests"), null);
    }

    @Test
    void everyRegionOfTheReferenceTable() {
        Map<String, String> expected = Map.of(
                "gcp-europe-west3", "https://api.tinybird.co",
                "gcp-europe-west2", "https://api.europe-west2.gcp.tinybird.co",
                "gcp-us-east4", "https://api.us-east.tinybird.co",
                "gcp-northamerica-northeast2", "https://api.northamerica-northeast2.gcp.tinybird.co",
                "aws-eu-central-1", "https://api.eu-central-1.aws.tinybird.co",
                "aws-eu-west-1", "https://api.eu-west-1.aws.tinybird.co",
                "aws-us-east-1", "https://api.us-east.aws.tinybird.co",
                "aws-us-west-2", "https://api.us-west-2.aws.tinybird.co",
                "local", "http://localhost:7181");
        assertEquals(expected, Map.copyOf(Tinybird.REGIONS));
        expected.forEach((name, host) -> assertEquals(host, Tinybird.regionHost(name)));
        // other spellings: the bare cloud region and the host prefix of the original's {CLOUD_REGION}
        assertEquals("https://api.europe-west2.gcp.tinybird.co", Tinybird.regionHost("europe-west2"));
        assertEquals("https://api.us-east.tinybird.co", Tinybird.regionHost("us-east4"));
        assertEquals("https://api.us-east.tinybird.co", Tinybird.regionHost("api.us-east"));
        assertEquals("https://api.us-east.aws.tinybird.co", Tinybird.regionHost("us-east-1"));
        assertEquals("https://api.us-east.aws.tinybird.co", Tinybird.regionHost("api.us-east.aws"));
        assertEquals("https://api.eu-central-1.aws.tinybird.co", Tinybird.regionHost("EU-CENTRAL-1"));
        assertEquals("https://api.tinybird.co", Tinybird.regionHost("api"));
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Tinybird.regionHost("mars-1"));
        assertEquals(Cli.EXIT_USAGE, f.exitCode);
        assertTrue(f.getMessage().contains("aws-us-west-2"), f.getMessage());
    }

    @Test
    void theOriginalsTemplateIsUnderstood() {
        String tpl = "https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}";
        Tinybird.Endpoint e = Tinybird.parseUrl(tpl, Map.of("CLOUD_REGION", "api.us-east", "DATASOURCE_NAME", "estore_events"), false);
        assertEquals(new Tinybird.Endpoint("https://api.us-east.tinybird.co", "estore_events"), e);
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Tinybird.parseUrl(tpl, Map.of(), false));
        assertTrue(f.getMessage().contains("{CLOUD_REGION}") && f.getMessage().contains("--region"), f.getMessage());
        assertEquals("https://api.us-east.tinybird.co",
                Tinybird.resolveHost("https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}", "api.us-east", false, env(Map.of())));
        assertEquals("https://api.eu-central-1.aws.tinybird.co",
                Tinybird.resolveHost(tpl, null, false, env(Map.of("TINYBIRD_REGION", "api.eu-central-1.aws"))));
        assertEquals(new Tinybird.Endpoint("http://localhost:7181", null), Tinybird.parseUrl("localhost:7181", Map.of(), false));
        assertEquals(new Tinybird.Endpoint("https://api.tinybird.co", null), Tinybird.parseUrl("https://api.tinybird.co/", Map.of(), false));
    }

    @Test
    void plainHttpOnlyToLoopbackUnlessInsecure() {
        assertEquals("http://127.0.0.1:7181", Tinybird.resolveHost("http://127.0.0.1:7181", null, false, null));
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Tinybird.resolveHost("http://tinybird.internal:7181", null, false, null));
        assertTrue(f.getMessage().contains("--insecure"), f.getMessage());
        assertEquals("http://tinybird.internal:7181", Tinybird.resolveHost("http://tinybird.internal:7181", null, true, null));
        assertThrows(Cli.Failure.class, () -> Tinybird.resolveHost("ftp://x", null, false, null));
    }

    @Test
    void hostPrecedence() {
        Config cfg = env(Map.of("TINYBIRD_HOST", "https://api.us-west-2.aws.tinybird.co", "TINYBIRD_REGION", "aws-eu-west-1"));
        assertEquals("https://api.europe-west2.gcp.tinybird.co", Tinybird.resolveHost("https://api.europe-west2.gcp.tinybird.co", "local", false, cfg));
        assertEquals("http://localhost:7181", Tinybird.resolveHost(null, "local", false, cfg));
        assertEquals("https://api.us-west-2.aws.tinybird.co", Tinybird.resolveHost(null, null, false, cfg));
        assertEquals("https://api.eu-west-1.aws.tinybird.co", Tinybird.resolveHost(null, null, false, env(Map.of("TINYBIRD_REGION", "aws-eu-west-1"))));
        assertEquals(Tinybird.DEFAULT_HOST, Tinybird.resolveHost(null, null, false, env(Map.of())));
    }

    @Command(name = "tbdemo", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class)
    static class Demo implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @Mixin TinybirdOptions tb;
        Config cfg;

        public Integer call() {
            return Cli.run(spec, common, () -> {
                try (TinybirdClient c = tb.client(cfg, "TINYBIRD_TARGET_TOKEN", "TINYBIRD_TOKEN")) {
                    spec.commandLine().getOut().println(c.host());
                    c.readAll("reports", Map.of("max_results", 1));
                }
                return 0;
            });
        }
    }

    record Result(int rc, String out, String err) {}

    static Result run(Config cfg, String... args) {
        Demo d = new Demo();
        d.cfg = cfg;
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(d).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    @Test
    void tokenFromTheEnvironmentOrTheOptionAndNeverPrinted() {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String reader = emu.addToken("reader", "PIPES:READ:reports");
            // the first key given wins over TINYBIRD_TOKEN
            Result r = run(env(Map.of("TINYBIRD_TARGET_TOKEN", reader, "TINYBIRD_TOKEN", "p.wrong-token-1234")), "--host", emu.url());
            assertEquals(0, r.rc, r.err);
            assertEquals(emu.url() + "\n", r.out);
            // a refused token: one line that explains, without the token
            String secret = "p.refused-token-abcdef";
            r = run(env(Map.of("TINYBIRD_TOKEN", secret)), "--host", emu.url());
            assertEquals(1, r.rc);
            assertEquals(1, r.err.strip().lines().count(), r.err);
            assertTrue(r.err.contains("403") && r.err.contains("PIPES:READ:reports") && r.err.contains(emu.url()), r.err);
            assertFalse(r.err.contains(secret), r.err);
            // --token wins, and is never printed either
            r = run(env(Map.of()), "--host", emu.url(), "--token", "p.option-token-xyz", "--verbose");
            assertEquals(1, r.rc);
            assertFalse(r.err.contains("p.option-token-xyz"), r.err);
            // no token at all: the keys are named
            r = run(env(Map.of()), "--host", emu.url());
            assertEquals(1, r.rc);
            assertTrue(r.err.contains("TINYBIRD_TARGET_TOKEN or TINYBIRD_TOKEN"), r.err);
            // unreachable host: one line
            r = run(env(Map.of("TINYBIRD_TOKEN", reader)), "--host", "http://127.0.0.1:9");
            assertEquals(1, r.rc);
            assertTrue(r.err.contains("cannot reach Tinybird at http://127.0.0.1:9"), r.err);
            assertFalse(r.err.contains(reader));
        }
    }

    @Command(name = "wdemo")
    static class WriterDemo implements Runnable {
        @Mixin TinybirdWriterSettings.Options wo;

        public void run() {
        }
    }

    @Test
    void writerOptions() {
        WriterDemo d = new WriterDemo();
        new CommandLine(d).parseArgs("--batch-rows", "500", "--batch-bytes", "1MB", "--linger", "250ms", "--in-flight", "2", "--no-wait",
                "--no-gzip", "--max-attempts", "3");
        TinybirdWriterSettings s = d.wo.settings();
        assertEquals(500, s.maxRows);
        assertEquals(1_000_000, s.maxBytes);
        assertEquals(java.time.Duration.ofMillis(250), s.linger);
        assertEquals(2, s.inFlight);
        assertFalse(s.waitForAck);
        assertFalse(s.gzip);
        assertEquals(3, s.maxAttempts);
        WriterDemo def = new WriterDemo();
        new CommandLine(def).parseArgs();
        assertTrue(def.wo.settings().waitForAck);
        assertTrue(def.wo.settings().gzip);
        StringWriter help = new StringWriter();
        new CommandLine(new WriterDemo()).usage(new PrintWriter(help));
        assertTrue(help.toString().contains("202"), "--no-wait's help says why waiting is the default");
    }

    @Test
    void emulatorCommandHelp() {
        StringWriter out = new StringWriter();
        int rc = new CommandLine(new TinybirdEmulator()).setOut(new PrintWriter(out)).execute("--help");
        assertEquals(0, rc);
        assertTrue(out.toString().contains("--port") && out.toString().contains("--token") && out.toString().contains("--fault-rate"));
    }
}
