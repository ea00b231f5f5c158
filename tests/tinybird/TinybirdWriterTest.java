import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Events API writer against the emulator: every row of the reference's error table, retries, splitting, accounting. */
class TinybirdWriterTest {
    TinybirdEmulator emu;
    TinybirdClient client;

    @BeforeEach
    void start() {
        emu = TinybirdEmulator.start(0);
        client = new TinybirdClient(emu.url(), emu.adminToken());
    }

    @AfterEach
    void stop() {
        client.close();
        emu.close();
    }

    static TinybirdWriterSettings fast() {
        // batches close by rows, bytes or flush() only (a linger under a loaded CI machine would make counts vary)
        return new TinybirdWriterSettings().backoff(Duration.ofMillis(1), Duration.ofMillis(5)).linger(Duration.ofMinutes(5));
    }

    static Map<String, Object> row(long id) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("action", "view");
        return m;
    }

    static void assertAddsUp(TinybirdWriter.Stats s) {
        assertEquals(s.appended(), s.acknowledged() + s.quarantined() + s.failed(), s.toString());
        assertEquals(0, s.pending());
    }

    static List<Long> ids(List<ObjectNode> rows) {
        return rows.stream().map(n -> n.get("id").asLong()).toList();
    }

    TinybirdWriter.Stats write(TinybirdClient c, String ds, TinybirdWriterSettings settings, int n) {
        try (TinybirdWriter w = c.writer(ds, settings)) {
            for (int i = 0; i < n; i++) w.append(row(i));
            w.flush();
            return w.stats();
        }
    }

    @Test
    void acceptsMapsNodesRecordsStringsAndBytes() {
        record Ev(long id, String action) {}
        try (TinybirdWriter w = client.writer("kinds", fast())) {
            w.append(row(1));
            w.append(Json.MAPPER.createObjectNode().put("id", 2).put("action", "cart"));
            w.append(new Ev(3, "purchase"));
            w.append("{\"id\":4,\"action\":\"view\"}\n");
            w.append("{\"id\":5,\"action\":\"view\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertThrows(IllegalArgumentException.class, () -> w.append("{\"id\":6,\n\"action\":\"x\"}"));
            w.close();
            assertAddsUp(w.stats());
            assertEquals(5, w.stats().acknowledged());
            assertThrows(IllegalStateException.class, () -> w.append(row(7)));
        }
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L), ids(emu.rows("kinds")));
        assertEquals("purchase", emu.rows("kinds").get(2).get("action").asText());
    }

    @Test
    void batchesByRows() {
        try (TinybirdWriter w = client.writer("b", fast().maxRows(100).linger(Duration.ofMinutes(5)))) {
            for (int i = 0; i < 250; i++) w.append(row(i));
            w.flush();
            assertEquals(3, w.stats().requests(), "100 + 100 + the last 50 at flush()");
            assertEquals(250, emu.rowCount("b"));
        }
    }

    @Test
    void lingerSendsAHalfEmptyBatchWithoutFlush() throws Exception {
        try (TinybirdWriter w = client.writer("l", fast().maxRows(1000).linger(Duration.ofMillis(100)))) {
            w.append(row(1));
            long deadline = System.nanoTime() + 30_000_000_000L;
            while ((emu.rowCount("l") < 1 || w.stats().acknowledged() < 1) && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(1, emu.rowCount("l"));
            assertEquals(1, w.stats().acknowledged());
        }
    }

    @Test
    void batchesByBytes() {
        TinybirdWriter.Stats s = write(client, "bytes", fast().maxRows(1_000_000).maxBytes(2_000).gzip(false), 1000);
        assertAddsUp(s);
        assertTrue(s.requests() >= s.bytesRaw() / 2_000, s.toString());
        assertEquals(0, s.splits());
        assertEquals(1000, emu.rowCount("bytes"));
    }

    @Test
    void gzipOnTheWireOrNot() {
        TinybirdWriter.Stats gz = write(client, "gz", fast().maxRows(5_000), 5_000);
        long wireGz = emu.stats().bytesReceived();
        TinybirdWriter.Stats plain = write(client, "plain", fast().maxRows(5_000).gzip(false), 5_000);
        long wirePlain = emu.stats().bytesReceived() - wireGz;
        assertEquals(plain.bytesRaw(), wirePlain, "uncompressed: the NDJSON bytes themselves");
        assertEquals(gz.bytesSent(), wireGz);
        assertTrue(wireGz * 4 < wirePlain, "gzip " + wireGz + " vs plain " + wirePlain);
        List<Long> a = new ArrayList<>(ids(emu.rows("gz"))), b = new ArrayList<>(ids(emu.rows("plain")));
        a.sort(null);
        b.sort(null);
        assertEquals(5_000, a.size());
        assertTrue(a.equals(b), "the same rows either way");
    }

    @Test
    void status400DataSourceNotJsonFailsWithoutRetry() {
        emu.createDataSource("csvds", "id Int64, action String");
        TinybirdWriter.Stats s = write(client, "csvds", fast(), 10);
        assertAddsUp(s);
        assertEquals(10, s.failed());
        assertEquals(1, s.requests());
        assertTrue(s.firstError().contains("400") && s.firstError().contains("Data Source must be of type JSON"), s.firstError());
    }

    @Test
    void status403IsExplainedWithoutTheTokenAndStopsTheWriter() {
        String secret = "p.eyJ1c2VyX3NlY3JldF9wYXJ0XzEyMzQ1";
        try (TinybirdClient bad = new TinybirdClient(emu.url(), secret);
             TinybirdWriter w = bad.writer("events", fast())) {
            for (int i = 0; i < 10; i++) w.append(row(i));
            w.flush();
            TinybirdWriter.Stats s = w.stats();
            assertAddsUp(s);
            assertEquals(10, s.failed());
            assertEquals(1, s.requests(), "403 is not retried");
            TinybirdApiException e = assertThrows(TinybirdApiException.class, () -> w.append(row(11)));
            assertEquals(403, e.status);
            assertEquals("Invalid token", e.serverText);
            assertTrue(e.getMessage().contains("DATASOURCES:APPEND:events") && e.getMessage().contains("region")
                    && e.getMessage().contains(emu.url()), e.getMessage());
            assertFalse(e.getMessage().contains(secret));
            Cli.Failure f = assertThrows(Cli.Failure.class, w::throwIfFailed);
            assertFalse(f.getMessage().contains(secret));
            assertTrue(f.getMessage().startsWith("10 of 10 rows were not written"), f.getMessage());
        }
        // a token that may append but not create: the autocreation message
        String append = emu.addToken("append", "DATASOURCES:APPEND:other");
        try (TinybirdClient c = new TinybirdClient(emu.url(), append)) {
            TinybirdWriter.Stats s = write(c, "missing_ds", fast(), 3);
            assertTrue(s.firstError().contains("Invalid token for DS autocreation"), s.firstError());
            assertEquals(3, s.failed());
        }
    }

    @Test
    void status404RegionMismatchNamesTheHost() {
        String foreign = emu.addForeignRegionToken("eu", "https://api.europe-west2.gcp.tinybird.co", "ADMIN");
        try (TinybirdClient c = new TinybirdClient(emu.url(), foreign)) {
            TinybirdWriter.Stats s = write(c, "events", fast(), 5);
            assertEquals(5, s.failed());
            assertEquals(1, s.requests());
            assertTrue(s.firstError().contains("https://api.europe-west2.gcp.tinybird.co"), s.firstError());
            assertTrue(s.firstError().contains("--host"), s.firstError());
            assertFalse(s.firstError().contains(foreign));
        }
    }

    @Test
    void status413SplitsTheBatchAndResendsTheHalves() {
        emu.close();
        emu = new TinybirdEmulator().port(0).maxRequestBytes(5_000).start();
        try (TinybirdClient c = new TinybirdClient(emu.url(), emu.adminToken())) {
            TinybirdWriter.Stats s = write(c, "split", fast().gzip(false).maxRows(1000).maxBytes(1_000_000).linger(Duration.ofMinutes(5)), 1000);
            assertAddsUp(s);
            assertEquals(1000, s.acknowledged());
            assertTrue(s.splits() >= 5, s.toString()); // ~27 KB into <= 5 KB pieces: at least 6 pieces
            List<Long> stored = new ArrayList<>(ids(emu.rows("split")));
            assertEquals(1000, stored.size());
            assertEquals(1000, new HashSet<>(stored).size(), "each row exactly once");
            // a single row over the limit can't be split: it fails, the others go through
            try (TinybirdWriter w = c.writer("split2", fast().gzip(false).maxRows(10))) {
                w.append(row(1));
                w.append(Map.of("id", 2, "pad", "x".repeat(6_000)));
                w.append(row(3));
                w.close();
                assertAddsUp(w.stats());
                assertEquals(1, w.stats().failed());
                assertEquals(2, w.stats().acknowledged());
                assertTrue(w.stats().firstError().contains("413"));
            }
            assertEquals(List.of(1L, 3L), ids(emu.rows("split2")));
        }
    }

    @Test
    void status422IsNotRetried() {
        emu.faults().failNext(1, EmulatorFault.status(422).afterStore());
        TinybirdWriter.Stats s = write(client, "mv", fast().maxRows(10), 10);
        assertAddsUp(s);
        assertEquals(10, s.failed());
        assertEquals(1, s.requests());
        assertEquals(10, emu.rowCount("mv"), "partially done: stored, yet counted as failed (a retry would duplicate)");
        // and the writer goes on: 422 is not a reason to stop
        assertTrue(s.firstError().contains("422"));
    }

    @Test
    void status429WaitsRetryAfter() {
        emu.faults().failNext(1, EmulatorFault.tooManyRequests(1));
        long t0 = System.nanoTime();
        TinybirdWriter.Stats s = write(client, "rl", fast().maxRows(10), 10);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertAddsUp(s);
        assertEquals(10, s.acknowledged());
        assertEquals(1, s.retries());
        assertEquals(0, s.unknownOutcomes());
        assertTrue(ms >= 995, "waited only " + ms + " ms for Retry-After: 1 (the backoff alone is <= 5 ms)");
    }

    @Test
    void status429WithoutRetryAfterWaitsXRateLimitReset() {
        emu.faults().failNext(1, EmulatorFault.tooManyRequests(-1));
        long t0 = System.nanoTime();
        TinybirdWriter.Stats s = write(client, "rl", fast().maxRows(10), 10);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(10, s.acknowledged());
        assertTrue(ms >= 995, "waited only " + ms + " ms for X-RateLimit-Reset: 1");
    }

    @Test
    void status500And503AreRetriedWithBackoff() {
        emu.faults().failNext(2, EmulatorFault.status(503)).failNext(2, EmulatorFault.status(500));
        TinybirdWriter.Stats s = write(client, "r", fast().maxRows(10), 10);
        assertAddsUp(s);
        assertEquals(10, s.acknowledged());
        assertEquals(4, s.retries());
        assertEquals(2, s.unknownOutcomes(), "503 says no data ingested; 500 does not");
        assertEquals(20, s.unknownOutcomeRows());
        assertEquals(10, emu.rowCount("r"));
    }

    @Test
    void status501AndOther4xxFailWithTheServersText() {
        emu.faults().failNext(1, EmulatorFault.status(501));
        TinybirdWriter.Stats s = write(client, "x", fast().maxRows(5).failFast(false), 5);
        assertEquals(5, s.failed());
        assertEquals(1, s.requests());
        assertTrue(s.firstError().contains("501"), s.firstError());
    }

    @Test
    void retriesAreBoundedAndTheRowsFail() {
        emu.faults().failNext(100, EmulatorFault.status(503));
        TinybirdWriter.Stats s = write(client, "bounded", fast().maxRows(10).maxAttempts(3), 10);
        assertAddsUp(s);
        assertEquals(10, s.failed());
        assertEquals(3, s.requests());
        assertTrue(s.firstError().contains("gave up after 3 attempts"), s.firstError());
    }

    @Test
    void droppedConnectionIsAnUnknownOutcomeAndIsRetried() {
        emu.faults().failNext(1, EmulatorFault.drop().afterStore());
        TinybirdWriter.Stats s = write(client, "drop", fast().maxRows(10), 10);
        assertAddsUp(s);
        assertEquals(10, s.acknowledged());
        assertEquals(1, s.unknownOutcomes());
        assertEquals(20, emu.rowCount("drop"), "stored before the drop, and again by the retry: the documented duplicate case");
        assertTrue(emu.rowCount("drop") - s.acknowledged() <= s.unknownOutcomeRows());
    }

    @Test
    void unreachableHostFailsAfterTheAttempts() throws Exception {
        int port;
        try (java.net.ServerSocket ss = new java.net.ServerSocket(0)) {
            port = ss.getLocalPort();
        }
        try (TinybirdClient c = new TinybirdClient("http://127.0.0.1:" + port, "p.whatever-token")) {
            TinybirdWriter.Stats s = write(c, "x", fast().maxAttempts(2), 3);
            assertAddsUp(s);
            assertEquals(3, s.failed());
            assertEquals(0, s.unknownOutcomes(), "connection refused: nothing was sent");
            assertTrue(s.firstError().contains("cannot connect"), s.firstError());
        }
    }

    /** A server that accepts and never answers; closed with the test. */
    static java.net.ServerSocket silentServer(List<java.net.Socket> held) throws Exception {
        java.net.ServerSocket ss = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            try {
                while (true) held.add(ss.accept());
            } catch (java.io.IOException closed) {
                // the test is over
            }
        });
        t.setDaemon(true);
        t.start();
        return ss;
    }

    @Test
    void aSilentHostIsGivenUpOnAfterRetryForWithOneLineAndTheNextAppendThrowsIt() throws Exception {
        List<java.net.Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (java.net.ServerSocket ss = silentServer(held);
             TinybirdClient c = new TinybirdClient("http://127.0.0.1:" + ss.getLocalPort(), "p.whatever-token")) {
            List<String> notices = new java.util.concurrent.CopyOnWriteArrayList<>();
            TinybirdWriter w = c.writer("x", fast().maxRows(2).requestTimeout(Duration.ofMillis(300)).retryFor(Duration.ofSeconds(2))
                    .onNotice(notices::add));
            for (int i = 0; i < 6; i++) w.append(row(i));
            w.flush();
            TinybirdWriter.Stats s = w.stats();
            assertAddsUp(s);
            assertEquals(6, s.failed());
            String why = "gave up writing to Tinybird at http://127.0.0.1:" + ss.getLocalPort()
                    + ": no request succeeded for 2s (--retry-for); the last attempt: no answer within 300ms (--read-timeout)";
            assertEquals(why, w.fatal().getMessage());
            assertTrue(s.unknownOutcomes() > 0, "a request without an answer may have been stored");
            assertFalse(notices.isEmpty(), "every retry is told");
            assertTrue(notices.get(0).startsWith("waiting for http://127.0.0.1:" + ss.getLocalPort() + ": no answer within 300ms"), notices.get(0));
            Cli.Failure f = assertThrows(Cli.Failure.class, () -> w.append(row(7)));
            assertEquals(why, f.getMessage());
            w.close();
        } finally {
            for (java.net.Socket k : held) k.close();
        }
    }

    @Test
    void abandonEndsTheWaitAtOnceAndTheRowsCountAsNotAcknowledged() throws Exception {
        List<java.net.Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (java.net.ServerSocket ss = silentServer(held);
             TinybirdClient c = new TinybirdClient("http://127.0.0.1:" + ss.getLocalPort(), "p.whatever-token")) {
            TinybirdWriter w = c.writer("x", fast().maxRows(10).inFlight(2).queuedBatches(1).requestTimeout(Duration.ofHours(1)));
            // 2 batches in flight, 1 queued, then append blocks on the full queue until abandon()
            Thread appender = new Thread(() -> {
                for (int i = 0; i < 100; i++) w.append(row(i));
            });
            appender.start();
            while (held.size() < 2) Thread.sleep(10);
            w.abandon();
            appender.join();
            w.close();
            TinybirdWriter.Stats s = w.stats();
            assertAddsUp(s);
            assertEquals(100, s.appended());
            assertEquals(100, s.failed());
            assertEquals(2, s.unknownOutcomes(), "the two requests in flight may have been stored");
            assertEquals(20, s.unknownOutcomeRows());
        } finally {
            for (java.net.Socket k : held) k.close();
        }
    }

    @Test
    void status401FailsAtOnceWithOneLine() throws Exception {
        com.sun.net.httpserver.HttpServer h = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 16);
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        h.createContext("/", ex -> {
            calls.incrementAndGet();
            ex.getRequestBody().readAllBytes();
            byte[] b = "{\"error\":\"invalid authentication token\"}".getBytes();
            ex.sendResponseHeaders(401, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        h.start();
        try (TinybirdClient c = new TinybirdClient("http://127.0.0.1:" + h.getAddress().getPort(), "p.whatever-token")) {
            TinybirdWriter.Stats s = write(c, "x", fast(), 5);
            assertEquals(5, s.failed());
            assertEquals(1, calls.get(), "not retried");
            assertTrue(s.firstError().startsWith("Tinybird answered 401 (invalid authentication token)") && s.firstError().contains("the token is not valid here"),
                    s.firstError());
        } finally {
            h.stop(0);
        }
    }

    @Test
    void quarantinedRowsAreCounted() {
        emu.createDataSource("q", "`id` Int64 `json:$.id`, `action` String `json:$.action`");
        try (TinybirdWriter w = client.writer("q", fast().maxRows(7))) {
            for (int i = 0; i < 100; i++) {
                if (i % 10 == 0) w.append(Map.of("id", "not a number", "action", "view"));
                else w.append(row(i));
            }
            w.close();
            assertAddsUp(w.stats());
            assertEquals(10, w.stats().quarantined());
            assertEquals(90, w.stats().acknowledged());
        }
        assertEquals(90, emu.rowCount("q"));
        assertEquals(10, emu.rowCount("q_quarantine"));
    }

    @Test
    void concurrentAppendersEachRowStoredOnce() throws Exception {
        int threads = 4, per = 5_000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (TinybirdWriter w = client.writer("conc", fast().maxRows(500).inFlight(3).queuedBatches(1))) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int base = t * per;
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < per; i++) w.append(row(base + i));
                }));
            }
            for (Future<?> f : fs) f.get();
            w.close();
            assertAddsUp(w.stats());
            assertEquals(threads * per, w.stats().acknowledged());
        } finally {
            pool.shutdown();
        }
        List<Long> stored = ids(emu.rows("conc"));
        assertEquals(threads * per, stored.size());
        assertEquals(threads * per, new HashSet<>(stored).size());
    }

    @Test
    void appendBlocksWhenTheQueueIsFull() {
        // one request in flight, none queued, each request held 300 ms: 4 single-row batches need >= 3 x 300 ms
        emu.faults().failNext(4, EmulatorFault.delay(Duration.ofMillis(300)));
        long t0 = System.nanoTime();
        try (TinybirdWriter w = client.writer("bp", fast().maxRows(1).inFlight(1).queuedBatches(0))) {
            for (int i = 0; i < 4; i++) w.append(row(i));
            long appendMs = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(appendMs >= 890, "append returned after " + appendMs + " ms: no back-pressure");
            w.close();
            assertEquals(4, w.stats().acknowledged());
        }
    }

    /** Every kind of fault on 20 % of the requests, before and after storing: the accounting adds up. */
    @Test
    void twentyPercentFaultsOfEveryKind() {
        emu.createDataSource("f", "`id` Int64 `json:$.id`, `action` String `json:$.action`");
        emu.faults().fraction(0.2, 42,
                EmulatorFault.tooManyRequests(0), EmulatorFault.status(503), EmulatorFault.status(500),
                EmulatorFault.status(500).afterStore(), EmulatorFault.drop(), EmulatorFault.drop().afterStore(),
                EmulatorFault.delay(Duration.ofMillis(50)), EmulatorFault.delay(Duration.ofMillis(3_000)).afterStore(),
                EmulatorFault.status(422).afterStore());
        int n = 20_000;
        TinybirdWriter.Stats s;
        try (TinybirdWriter w = client.writer("f", fast().maxRows(100).inFlight(4).maxAttempts(12).failFast(false)
                .requestTimeout(Duration.ofMillis(1_500)))) {
            for (int i = 0; i < n; i++) {
                if (i % 97 == 0) w.append(Map.of("id", "bad", "action", "view"));
                else w.append(row(i));
            }
            w.close();
            s = w.stats();
        }
        assertAddsUp(s);
        assertEquals(n, s.appended());
        assertTrue(emu.stats().faultsInjected() > 20, emu.stats().toString());
        assertTrue(s.unknownOutcomes() > 0 && s.retries() > 0, s.toString());
        Map<Long, Integer> copies = new HashMap<>();
        for (ObjectNode r : emu.rows("f")) copies.merge(r.get("id").asLong(), 1, Integer::sum);
        long stored = copies.values().stream().mapToLong(Integer::longValue).sum();
        long distinct = copies.size();
        // every acknowledged row is stored; only 422 rows (failed, yet stored) and unknown outcomes add rows
        assertTrue(distinct >= s.acknowledged(), s + " distinct " + distinct);
        assertTrue(distinct <= s.acknowledged() + s.failed(), s + " distinct " + distinct);
        assertTrue(stored - distinct <= s.unknownOutcomeRows(), "duplicates " + (stored - distinct) + " > " + s);
        assertTrue(s.quarantined() >= n / 97 - s.failed() && s.quarantined() <= emu.rowCount("f_quarantine"), s.toString());
    }

    /** 20 % faults whose outcome is known to be "nothing stored": every acknowledged row is stored exactly once. */
    @Test
    void twentyPercentFaultsBeforeStoringEveryRowExactlyOnce() {
        emu.faults().fraction(0.2, 7, EmulatorFault.tooManyRequests(0), EmulatorFault.status(503),
                EmulatorFault.status(500), EmulatorFault.drop(), EmulatorFault.delay(Duration.ofMillis(20)));
        int n = 20_000;
        TinybirdWriter.Stats s = write(client, "once", fast().maxRows(100).inFlight(4).maxAttempts(12), n);
        assertAddsUp(s);
        assertEquals(n, s.acknowledged(), s.toString());
        assertTrue(s.retries() > 10, s.toString());
        List<Long> stored = ids(emu.rows("once"));
        assertEquals(n, stored.size());
        assertEquals(n, new HashSet<>(stored).size(), "every row exactly once");
        Set<Long> expected = new HashSet<>();
        for (long i = 0; i < n; i++) expected.add(i);
        assertEquals(expected, new HashSet<>(stored));
    }
}
