import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * e-store checks Tinybird before it generates anything: a host that does not connect, one that does not answer, a
 * token that is refused are one line and exit 1, with nothing generated (no file, no summary, no rows).
 */
class EStorePreflightTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(Map<String, String> env, String... args) {
        EStore cmd = new EStore();
        cmd.common.config(Config.of(env, tmp, null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    /** One line, exit 1, and nothing generated: no output file (not even its temp file), no summary. */
    void assertStoppedBeforeGenerating(Result r, Path out) {
        assertEquals(1, r.rc, r.err);
        assertEquals(1, r.err.strip().lines().count(), "one line: " + r.err);
        assertFalse(r.err.contains("sent:"), "no summary: nothing was generated: " + r.err);
        assertFalse(r.err.contains("Exception"), r.err);
        assertNull(r.cmd.stats, "the run never started");
        assertFalse(Files.exists(out), "no output file");
        assertFalse(Files.exists(out.resolveSibling(out.getFileName() + ".tmp")), "no temp file");
    }

    @Test
    @Timeout(60)
    void aHostThatDoesNotAnswerIsOneLineWithinTheCappedReadTimeout() throws Exception {
        try (EStoreReliabilityTest.SilentServer silent = new EStoreReliabilityTest.SilentServer()) {
            Path out = tmp.resolve("events.ndjson");
            // a long --read-timeout is capped for the check: the line says the 10s it waited
            Result r = run(Map.of("TINYBIRD_TOKEN", "p.preflight-token"), "--host", silent.url(), "--datasource", "ev",
                    "--count", "300", "--read-timeout", "60s", "--out", out.toString());
            assertStoppedBeforeGenerating(r, out);
            assertTrue(r.err.startsWith("e-store: Tinybird at " + silent.url() + " does not answer: nothing within 10s (--read-timeout)"), r.err);
            assertEquals(1, silent.accepted.get(), "one request, then no more");
        }
    }

    @Test
    @Timeout(60)
    void anUnreachableHostIsOneLine() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        Path out = tmp.resolve("events.ndjson");
        Result r = run(Map.of("TINYBIRD_TOKEN", "p.preflight-token"), "--host", "http://127.0.0.1:" + port, "--datasource", "ev",
                "--count", "300", "--out", out.toString());
        assertStoppedBeforeGenerating(r, out);
        assertTrue(r.err.startsWith("e-store: cannot reach Tinybird at http://127.0.0.1:" + port), r.err);
        assertTrue(r.err.contains("connection refused"), r.err);
    }

    @Test
    @Timeout(60)
    void aWrongTokenOrOneThatMayNotCreateTheDataSourceIsOneLineAndNoRowArrives() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            Path out = tmp.resolve("events.ndjson");
            Result wrong = run(Map.of("TINYBIRD_TOKEN", "p.not-a-real-token-456"), "--host", emu.url(), "--datasource", "ev",
                    "--count", "300", "--out", out.toString());
            assertStoppedBeforeGenerating(wrong, out);
            assertTrue(wrong.err.contains("403") && wrong.err.contains("the token was refused"), wrong.err);
            assertFalse(wrong.err.contains("not-a-real-token"), wrong.err);

            String appendOnly = emu.addToken("append-only", "DATASOURCES:APPEND:ev");
            Result noCreate = run(Map.of("TINYBIRD_TOKEN", appendOnly), "--host", emu.url(), "--datasource", "ev",
                    "--count", "300", "--out", out.toString());
            assertStoppedBeforeGenerating(noCreate, out);
            assertTrue(noCreate.err.contains("DATASOURCES:CREATE"), "says which scope a missing data source needs: " + noCreate.err);
            assertEquals(0, emu.stats().rowsReceived(), "no row was sent");
        }
    }

    @Test
    @Timeout(60)
    void aTokenThatMayCreateTheDataSourcePassesAndEveryEventArrives() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.addToken("estore", "DATASOURCES:APPEND:ev", "DATASOURCES:CREATE");
            Result r = run(Map.of("TINYBIRD_TOKEN", token), "--host", emu.url(), "--datasource", "ev", "--count", "300", "--seed", "3");
            assertEquals(0, r.rc, r.err);
            assertEquals(300, emu.rows("ev").size());
            assertEquals(300, r.cmd.lastProgress.done(), "the progress line counts what Tinybird acknowledged");
        }
    }

    @Test
    @Timeout(60)
    void aMissingDataSourceIsCreatedFromTheEventsDefinitionWithExplicitTypes() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.addToken("estore", "DATASOURCES:APPEND:ev", "DATASOURCES:CREATE");
            Result r = run(Map.of("TINYBIRD_TOKEN", token), "--host", emu.url(), "--datasource", "ev", "--count", "500", "--seed", "3");
            assertEquals(0, r.rc, r.err);
            assertTrue(r.err.contains("e-store: created Tinybird data source ev from the event's definition"), r.err);
            assertEquals(java.util.List.of("customer_id String `json:$.customer_id`", "product_id String `json:$.product_id`",
                    "action LowCardinality(String) `json:$.action`", "timestamp DateTime64(6) `json:$.timestamp`",
                    "event_id UUID `json:$.event_id`", "price Nullable(Decimal(10, 2)) `json:$.price`"), emu.schema("ev"));
            assertEquals(500, emu.rows("ev").size(), "every row fits the explicit types (none quarantined)");
        }
    }

    @Test
    @Timeout(60)
    void aDataSourceWithoutAFieldOfTheEventIsOneLineSayingWhatToAdd() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            emu.createDataSource("ev", "`customer_id` String `json:$.customer_id`, `product_id` String `json:$.product_id`, "
                    + "`action` String `json:$.action`, `timestamp` DateTime64(6) `json:$.timestamp`, `event_id` String `json:$.event_id`");
            String token = emu.addToken("estore", "DATASOURCES:APPEND:ev", "DATASOURCES:CREATE");
            Path out = tmp.resolve("events.ndjson");
            Result r = run(Map.of("TINYBIRD_TOKEN", token), "--host", emu.url(), "--datasource", "ev", "--count", "300", "--out", out.toString());
            assertStoppedBeforeGenerating(r, out);
            assertTrue(r.err.startsWith("e-store: Tinybird data source ev has no column for price (a field of EStoreEvent.java): add"
                    + " `price` Nullable(Decimal(10, 2)) `json:$.price` to its schema"), r.err);
            assertEquals(0, emu.stats().rowsReceived());

            // the original format's four keys all have a column: the check lets it through
            Result original = run(Map.of("TINYBIRD_TOKEN", token), "--host", emu.url(), "--datasource", "ev", "--count", "300",
                    "--format", "original");
            assertFalse(original.err.contains("has no column"), original.err);
            assertEquals(300, emu.stats().rowsReceived(), original.err);
        }
    }

    @Test
    void withoutATokenATerminalIsToldThatNdjsonGoesToStdoutAndHowToSendInstead() {
        EStore cmd = new EStore();
        cmd.common.config(Config.of(Map.of(), tmp, null));
        cmd.stdoutIsTerminal = () -> true;
        cmd.stdoutStream = null;
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute("--count", "3");
        assertEquals(0, rc, err.toString());
        assertEquals(3, out.toString().lines().count());
        String first = err.toString().lines().findFirst().orElse("");
        assertEquals("e-store: no Tinybird token: writing NDJSON to stdout; to send to Tinybird, set TINYBIRD_TOKEN (or --token)"
                + " and --datasource NAME", first);

        // a file asked for, or stdout redirected (not a terminal): no such line
        Result toFile = run(Map.of(), "--count", "3", "--out", tmp.resolve("e.ndjson").toString());
        assertFalse(toFile.err.contains("no Tinybird token"), toFile.err);
    }
}
