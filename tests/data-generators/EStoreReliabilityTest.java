import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * data-generators/e-store.java against hosts that misbehave: one that accepts and never answers, a certificate it does
 * not trust, Ctrl-C and SIGTERM while requests hang, and secrets in the host URL and the token.
 */
class EStoreReliabilityTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(Map<String, String> env, String... args) {
        EStore cmd = new EStore();
        cmd.common.config(Config.of(env, tmp, null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    /**
     * A server that accepts connections, reads what comes and never answers; with answerFirst, the first two requests
     * (e-store's check before generating: the data source's schema, an empty append) get a 200, and then silence.
     */
    static final class SilentServer implements AutoCloseable {
        final ServerSocket server;
        final AtomicInteger toAnswer;
        final List<Socket> held = new CopyOnWriteArrayList<>();
        final AtomicInteger accepted = new AtomicInteger();
        final AtomicLong bytesRead = new AtomicLong();
        /** Bytes of requests that get no answer (all but the answered first one). */
        final AtomicLong heldBytes = new AtomicLong();

        SilentServer() throws IOException {
            this(false);
        }

        SilentServer(boolean answerFirst) throws IOException {
            toAnswer = new AtomicInteger(answerFirst ? 2 : 0);
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        held.add(s);
                        accepted.incrementAndGet();
                        Thread.ofVirtual().start(() -> {
                            byte[] b = new byte[8192];
                            try (InputStream in = s.getInputStream()) {
                                for (int n; (n = in.read(b)) > 0; ) {
                                    bytesRead.addAndGet(n);
                                    String head = new String(b, 0, Math.min(n, 5), StandardCharsets.US_ASCII);
                                    boolean request = head.startsWith("GET ") || head.startsWith("POST ");
                                    if (request && toAnswer.getAndDecrement() > 0) {
                                        s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".getBytes(StandardCharsets.US_ASCII));
                                        s.getOutputStream().flush();
                                    } else {
                                        heldBytes.addAndGet(n);
                                    }
                                }
                            } catch (IOException gone) {
                                // the client gave up
                            }
                        });
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "silent-server");
            t.setDaemon(true);
            t.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : held) s.close();
        }
    }

    // ------------------------------------------------------------------ a silent host

    @Test
    @Timeout(120)
    void aSilentHostIsReportedAndGivenUpOnWithOneLineAndTheSummary() throws Exception {
        try (SilentServer silent = new SilentServer(true)) {
            Result r = run(Map.of("TINYBIRD_TOKEN", "p.silent-host-token"), "--host", silent.url(), "--datasource", "ev",
                    "--count", "300", "--seed", "1", "--read-timeout", "1s", "--retry-for", "4s");
            assertEquals(1, r.rc, r.err);
            assertTrue(silent.accepted.get() > 0, "the requests reached the server");
            // the wait is a line of its own while it lasts, not only a summary at the end
            assertTrue(r.err.contains("e-store: tinybird ev: waiting for " + silent.url() + ": no answer within 1s (--read-timeout)"), r.err);
            assertTrue(r.err.contains("sent: 300 events"), "the summary: " + r.err);
            assertTrue(r.err.contains("tinybird ev: 0 stored, 0 quarantined, 300 failed (not acknowledged)"), r.err);
            assertEquals(0, r.cmd.lastProgress.done(), "the progress line counts acknowledged events only, none here");
            String last = r.err.strip().lines().reduce((a, b) -> b).orElse("");
            assertTrue(last.startsWith("e-store: 300 of 300 rows were not written to Tinybird data source ev: gave up writing to Tinybird at "
                    + silent.url() + ": no request succeeded for 4s (--retry-for)"), last);
            assertFalse(r.err.contains("Exception"), r.err);
        }
    }

    // ------------------------------------------------------------------ Ctrl-C and SIGTERM while requests hang

    Process startEStore(Path err, String... args) throws IOException {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT", javaBin, "-cp", System.getProperty("java.class.path"), "EStore"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile()).redirectError(err.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("TINYBIRD_TOKEN", "p.signal-test-token");
        return pb.start();
    }

    static void waitFor(String what, java.util.function.BooleanSupplier ok) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!ok.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("never happened: " + what);
            Thread.sleep(20);
        }
    }

    @Test
    @Timeout(300)
    void sigtermDrainsForTheDrainTimeOnlyAndPrintsWhatWasNotAcknowledged() throws Exception {
        try (SilentServer silent = new SilentServer(true)) {
            Path err = tmp.resolve("term.err");
            // the read timeout and the retry time are far longer than the drain: only the drain can end the run
            Process p = startEStore(err, "--host", silent.url(), "--datasource", "ev", "--eps", "2000", "--duration", "600s",
                    "--batch-rows", "500", "--read-timeout", "10m", "--retry-for", "1h", "--drain-timeout", "2s");
            try {
                waitFor("a request held by the silent server", () -> silent.heldBytes.get() > 0);
                p.destroy(); // SIGTERM
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "stopped well before its 10-minute read timeout: " + Files.readString(err));
                String stderr = Files.readString(err);
                assertEquals(143, p.exitValue(), stderr);
                assertTrue(stderr.contains("e-store: stopping: waiting up to 2s for the events in flight (Ctrl-C again to stop at once)"), stderr);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("sent: ([0-9,]+) events").matcher(stderr);
                assertTrue(m.find(), "the summary: " + stderr);
                long sent = Long.parseLong(m.group(1).replace(",", ""));
                assertTrue(sent > 0, stderr);
                assertTrue(stderr.contains(String.format(java.util.Locale.ROOT, "tinybird ev: 0 stored, 0 quarantined, %,d failed (not acknowledged)", sent)),
                        "every event sent is counted as not acknowledged: " + stderr);
                assertTrue(stderr.contains("unknown-outcome attempts"), "the requests in flight may have been stored: " + stderr);
            } finally {
                p.destroyForcibly();
            }
        }
    }

    @Test
    @Timeout(300)
    void aSecondCtrlCStopsAtOnceWithTheSummary() throws Exception {
        try (SilentServer silent = new SilentServer(true)) {
            Path err = tmp.resolve("int.err");
            Process p = startEStore(err, "--host", silent.url(), "--datasource", "ev", "--eps", "2000", "--duration", "600s",
                    "--batch-rows", "500", "--read-timeout", "10m", "--retry-for", "1h", "--drain-timeout", "10m");
            try {
                waitFor("a request held by the silent server", () -> silent.heldBytes.get() > 0);
                assertEquals(0, new ProcessBuilder("sh", "-c", "kill -INT " + p.pid()).start().waitFor());
                waitFor("the first Ctrl-C noted", () -> {
                    try {
                        return Files.readString(err).contains("stopping: waiting up to 10m");
                    } catch (IOException e) {
                        return false;
                    }
                });
                assertTrue(p.isAlive(), "the first Ctrl-C waits for the drain");
                assertEquals(0, new ProcessBuilder("sh", "-c", "kill -INT " + p.pid()).start().waitFor());
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the second Ctrl-C does not wait for the 10-minute drain: " + Files.readString(err));
                String stderr = Files.readString(err);
                assertEquals(130, p.exitValue(), stderr);
                assertTrue(stderr.contains("sent: ") && stderr.contains("failed (not acknowledged)"), "the summary: " + stderr);
            } finally {
                p.destroyForcibly();
            }
        }
    }

    // ------------------------------------------------------------------ a certificate it does not trust

    /** An HTTPS Events API stand-in with a self-signed certificate for 127.0.0.1: counts the rows it is sent. */
    static final class TlsEvents implements AutoCloseable {
        final com.sun.net.httpserver.HttpsServer server;
        final AtomicLong rows = new AtomicLong();
        final AtomicInteger requests = new AtomicInteger();
        final Path certPem;

        TlsEvents(Path dir) throws Exception {
            String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
            Path ks = dir.resolve("server.p12");
            certPem = dir.resolve("server.pem");
            String pw = "changeit-" + System.nanoTime();
            for (List<String> cmd : List.of(
                    List.of(keytool, "-genkeypair", "-alias", "s", "-keyalg", "EC", "-dname", "CN=test-ca", "-ext", "SAN=ip:127.0.0.1",
                            "-validity", "2", "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", pw),
                    List.of(keytool, "-exportcert", "-rfc", "-alias", "s", "-keystore", ks.toString(), "-storepass", pw, "-file", certPem.toString()))) {
                TestServices.Run k = TestServices.run(dir, Duration.ofMinutes(1), cmd);
                assertEquals(0, k.exitCode(), k.stderr());
            }
            java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(ks)) {
                store.load(in, pw.toCharArray());
            }
            var kmf = javax.net.ssl.KeyManagerFactory.getInstance(javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(store, pw.toCharArray());
            var ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            server = com.sun.net.httpserver.HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            server.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(ctx));
            server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
            server.createContext("/v0/events", ex -> {
                requests.incrementAndGet();
                InputStream in = ex.getRequestBody();
                if ("gzip".equals(ex.getRequestHeaders().getFirst("Content-Encoding"))) in = new GZIPInputStream(in);
                long n = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).count();
                rows.addAndGet(n);
                byte[] b = ("{\"successful_rows\":" + n + ",\"quarantined_rows\":0}").getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, b.length);
                ex.getResponseBody().write(b);
                ex.close();
            });
            server.start();
        }

        String url() {
            return "https://127.0.0.1:" + server.getAddress().getPort();
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    @Test
    @Timeout(120)
    void anUntrustedCertificateFailsAtOnceAndCaFileTrustsIt() throws Exception {
        try (TlsEvents tls = new TlsEvents(tmp)) {
            Result r = run(Map.of("TINYBIRD_TOKEN", "p.tls-test-token"), "--host", tls.url(), "--datasource", "ev",
                    "--count", "1000", "--seed", "2");
            assertEquals(1, r.rc, r.err);
            assertEquals(0, tls.requests.get(), "nothing got through");
            // found by the check before generating: one line, nothing generated, no retry
            assertEquals(1, r.err.strip().lines().count(), r.err);
            assertTrue(r.err.startsWith("e-store: cannot reach Tinybird at " + tls.url() + ": the server's TLS certificate is not trusted")
                    && r.err.strip().endsWith(NetErrors.TRUST_HINT), r.err);
            assertNull(r.cmd.stats, "nothing was generated");
            assertFalse(r.err.contains("Exception"), r.err);

            // the option, then the variable
            r = run(Map.of("TINYBIRD_TOKEN", "p.tls-test-token"), "--host", tls.url(), "--datasource", "ev",
                    "--count", "1000", "--seed", "2", "--ca-file", tls.certPem.toString());
            assertEquals(0, r.rc, r.err);
            assertEquals(1000, tls.rows.get());
            r = run(Map.of("TINYBIRD_TOKEN", "p.tls-test-token", "TINYBIRD_CA_FILE", tls.certPem.toString()), "--host", tls.url(),
                    "--datasource", "ev", "--count", "500", "--seed", "3");
            assertEquals(0, r.rc, r.err);
            assertEquals(1500, tls.rows.get());

            // a CA file that is not one: one line naming it
            Path notPem = tmp.resolve("not.pem");
            Files.writeString(notPem, "hello\n");
            r = run(Map.of("TINYBIRD_TOKEN", "p.tls-test-token"), "--host", tls.url(), "--datasource", "ev", "--count", "5",
                    "--ca-file", notPem.toString());
            assertEquals(2, r.rc, r.err);
            assertTrue(r.err.startsWith("e-store: --ca-file " + notPem + ": "), r.err);
            assertEquals(1, r.err.strip().lines().count(), r.err);
        }
    }

    // ------------------------------------------------------------------ secrets

    @Test
    @Timeout(120)
    void neitherTheUrlPasswordNorTheTokenIsPrintedInAnyForm() throws Exception {
        String token = "p.tok/en+with=chars==";
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).adminToken(token).start()) {
            String hostWithPassword = emu.url().replace("http://", "http://admin:s3cret-pw@");
            for (boolean verbose : List.of(false, true)) {
                emu.faults().clear();
                emu.faults().failNext(2, EmulatorFault.status(500)).failNext(1, EmulatorFault.drop());
                List<String> args = new ArrayList<>(List.of("--host", hostWithPassword, "--datasource", "sec", "--count", "200"));
                if (verbose) args.add("--verbose");
                Result r = run(Map.of("TINYBIRD_TOKEN", token), args.toArray(String[]::new));
                assertEquals(0, r.rc, r.err);
                String all = r.out + r.err;
                if (verbose) assertTrue(r.err.contains("waiting for http://127.0.0.1:"), "retry lines with --verbose: " + r.err);
                for (String secret : List.of("s3cret-pw", token, URLEncoder.encode(token, StandardCharsets.UTF_8),
                        URLEncoder.encode(token, StandardCharsets.UTF_8).toLowerCase(java.util.Locale.ROOT), "tok/en")) {
                    assertFalse(all.contains(secret), "'" + secret + "' printed (verbose=" + verbose + "): " + all);
                }
            }
            assertEquals(400, emu.rowCount("sec"));
        }
        // a token that shows up percent-encoded in a message (a URL, a form body) is redacted in that form too
        Config.registerSecret(token);
        String encoded = URLEncoder.encode(token, StandardCharsets.UTF_8);
        for (String form : List.of(encoded, encoded.replace("+", "%20"), encoded.toLowerCase(java.util.Locale.ROOT))) {
            String shown = Config.redact("GET https://h/x?q=" + form + " failed");
            assertFalse(shown.contains("tok"), form + " -> " + shown);
        }
    }
}
