//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Json.java
//SOURCES NetErrors.java
//SOURCES Timeouts.java
//SOURCES TinybirdApiException.java
//SOURCES TinybirdClient.java
//SOURCES TinybirdWriterSettings.java

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The Events API writer. {@link #append} is thread-safe and cheap; rows are NDJSON-serialised into the current
 * batch, which is sent when it reaches maxRows or maxBytes, or when its first row is older than linger. Up to
 * inFlight requests run at once, with up to queuedBatches sealed batches waiting: past that, append blocks
 * (back-pressure, bounded memory of about (inFlight + queuedBatches + 1) x maxBytes). Settings:
 * {@link TinybirdWriterSettings}.
 *
 * <p>Retries: 429 waits Retry-After (else X-RateLimit-Reset, else the backoff); 500, 503, timeouts and connection
 * errors back off exponentially (backoffBase x 2^n, capped at backoffCap, with jitter) until no request has
 * succeeded for retryFor (default 2 minutes, counted from the first failed attempt since the last success), or
 * for at most maxAttempts attempts when set; then the writer gives up (every batch not stored fails, and with
 * failFast the next append throws the one-line reason). 413 splits the batch in halves and sends each; every other
 * 4xx fails the batch with the server's text and, with failFast (default), makes the next append throw. Errors no
 * retry can fix (an untrusted certificate, a failed TLS handshake, an unknown host: {@link NetErrors}) fail the
 * same way at once, and as the request never left the client they are no unknown outcome. wait=true (default)
 * makes the server answer only once the rows are written, so acknowledged means stored (with wait=false a 202 can
 * still be lost).
 *
 * <p>While it waits, {@link #status()} says for what (for a progress line) and onNotice gets one line a retry;
 * {@link #abandon()} stops waiting at once (for a bounded stop on Ctrl-C).
 *
 * <p><b>Invariant: every appended row is counted exactly once</b> as acknowledged (the server stored it), quarantined
 * (the server took it into {@code <ds>_quarantine}) or failed (given up: a non-retryable answer, or retries
 * exhausted). After {@link #flush()} or {@link #close()}, {@code appended == acknowledged + quarantined + failed};
 * before, the difference is {@link Stats#pending()}. A retry can duplicate rows only after an <b>unknown outcome</b>:
 * the connection dropped or timed out after the request was sent, or the server answered 500, so the rows may
 * already be stored. Those attempts are counted in {@code unknownOutcomes} / {@code unknownOutcomeRows}, an upper
 * bound for the duplicates. 429 and 503 ("no data ingested") and a refused connection are safe to retry. A 422
 * (partially done) is not retried (it would duplicate) and its rows count as failed though some may be stored.
 */
public final class TinybirdWriter implements AutoCloseable {
    /**
     * Counters. appended = acknowledged + quarantined + failed + pending; pending is 0 after flush()/close().
     * unknownOutcomes: attempts whose outcome was unknown (dropped connection, timeout, 500); their rows
     * (unknownOutcomeRows) may have been stored and then sent again: an upper bound of the duplicates.
     */
    public record Stats(long appended, long acknowledged, long quarantined, long failed, long requests, long retries,
                        long splits, long unknownOutcomes, long unknownOutcomeRows, long bytesSent, long bytesRaw,
                        String firstError) {
        public long pending() {
            return appended - acknowledged - quarantined - failed;
        }
    }

    private final TinybirdClient client;
    private final String datasource;
    private final TinybirdWriterSettings s;
    private final String path;
    private final Duration timeout;
    private final ExecutorService senders;
    private final ScheduledExecutorService lingerTimer;
    private final Semaphore slots;
    private final Object lock = new Object();
    private final Object doneLock = new Object();
    private long outstanding; // sealed batches not finished, under doneLock
    private byte[] buf;
    private int len, rows;
    private long firstRowNanos;
    private volatile boolean closed;
    private final AtomicReference<Cli.Failure> fatal = new AtomicReference<>();
    private final AtomicReference<String> firstError = new AtomicReference<>();
    private final AtomicLong appended = new AtomicLong(), acknowledged = new AtomicLong(), quarantined = new AtomicLong(),
            failed = new AtomicLong(), requests = new AtomicLong(), retries = new AtomicLong(), splits = new AtomicLong(),
            unknown = new AtomicLong(), unknownRows = new AtomicLong(), bytesSent = new AtomicLong(), bytesRaw = new AtomicLong();
    /** Why the writer stopped sending (abandoned, or gave up): batches not stored fail with it; null while it sends. */
    private volatile String stopped;
    /** Start of the first failed attempt since the last success (System.nanoTime), 0 while all goes well. */
    private final AtomicLong troubleSince = new AtomicLong();
    private final AtomicLong troubleAttempts = new AtomicLong();
    private volatile String lastProblem;
    /** Sender threads at work, and the start of the request each is waiting on (0 between requests). */
    private final java.util.concurrent.ConcurrentHashMap<Thread, Long> active = new java.util.concurrent.ConcurrentHashMap<>();

    private static final String STOPPED_UNSENT = "stopped before it was sent";
    private static final String ABANDONED = "stopped before an answer came";

    TinybirdWriter(TinybirdClient client, String datasource, TinybirdWriterSettings settings) {
        if (datasource == null || datasource.isBlank()) throw Cli.usage("no Tinybird data source name given");
        this.client = client;
        this.datasource = datasource;
        this.s = settings;
        this.timeout = settings.requestTimeout != null ? settings.requestTimeout : client.timeout();
        this.path = "/v0/events?name=" + TinybirdClient.enc(datasource) + (settings.waitForAck ? "&wait=true" : "") + "&format=ndjson";
        this.slots = new Semaphore(settings.inFlight + settings.queuedBatches);
        AtomicLong n = new AtomicLong();
        this.senders = Executors.newFixedThreadPool(settings.inFlight, r -> {
            Thread t = new Thread(r, "tinybird-writer-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.lingerTimer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tinybird-linger");
            t.setDaemon(true);
            return t;
        });
        long tick = Math.max(5, Math.min(250, settings.linger.toMillis() / 4));
        lingerTimer.scheduleWithFixedDelay(this::lingerCheck, tick, tick, TimeUnit.MILLISECONDS);
        this.buf = new byte[(int) Math.min(settings.maxBytes + 1024, 256 * 1024)];
    }

    public String datasource() {
        return datasource;
    }

    /**
     * Appends one row: a Map, a JsonNode or any Jackson-serialisable object; or a String / byte[] that already is
     * one JSON object (one line, no newline inside). Blocks when the queue is full. Throws the first
     * non-retryable error (with failFast) and IllegalStateException after close().
     */
    public void append(Object record) {
        byte[] line;
        if (record instanceof byte[] b) line = b;
        else if (record instanceof String str) line = str.getBytes(StandardCharsets.UTF_8);
        else {
            try {
                line = Json.MAPPER.writeValueAsBytes(record);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot serialise the row to JSON: " + e.getMessage(), e);
            }
        }
        appendLine(line, 0, line.length);
    }

    /** Appends a pre-serialised JSON object from a slice of bytes (copied). After abandon() the row counts as failed at once. */
    public void appendLine(byte[] b, int off, int n) {
        while (n > 0 && (b[off + n - 1] == '\n' || b[off + n - 1] == '\r')) n--;
        for (int i = off; i < off + n; i++) {
            if (b[i] == '\n') throw new IllegalArgumentException("a row must be one line of JSON (found a newline inside)");
        }
        if (n == 0) throw new IllegalArgumentException("empty row");
        Cli.Failure f = fatal.get();
        if (f != null && s.failFast) throw f;
        synchronized (lock) {
            if (closed) throw new IllegalStateException("the writer is closed");
            if (stopped != null) {
                appended.incrementAndGet();
                fail(1, STOPPED_UNSENT, null);
                return;
            }
            if (rows > 0 && (len + n + 1 > s.maxBytes)) sealAndSubmit();
            if (rows == 0) firstRowNanos = System.nanoTime();
            ensure(n + 1);
            System.arraycopy(b, off, buf, len, n);
            len += n;
            buf[len++] = '\n';
            rows++;
            appended.incrementAndGet();
            if (rows >= s.maxRows || len >= s.maxBytes) sealAndSubmit();
        }
    }

    private void ensure(int extra) {
        if (len + extra <= buf.length) return;
        long want = Math.max((long) buf.length * 2, (long) len + extra);
        want = Math.max(Math.min(want, s.maxBytes + 1024), (long) len + extra);
        buf = java.util.Arrays.copyOf(buf, (int) Math.min(want, Integer.MAX_VALUE - 16));
    }

    private void lingerCheck() {
        try {
            synchronized (lock) {
                if (rows > 0 && System.nanoTime() - firstRowNanos >= s.linger.toNanos()) sealAndSubmit();
            }
        } catch (RuntimeException e) {
            // the timer must keep running; errors surface through the stats
        }
    }

    /** Under lock: hands the current batch to a sender (blocking while the queue is full, until abandon()). */
    private void sealAndSubmit() {
        if (rows == 0) return;
        byte[] data = buf;
        int dataLen = len, dataRows = rows;
        buf = new byte[(int) Math.min(s.maxBytes + 1024, Math.max(64 * 1024, dataLen + 1024))];
        len = 0;
        rows = 0;
        boolean acquired = false;
        while (!acquired && stopped == null) {
            try {
                acquired = slots.tryAcquire(50, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (!acquired) {
            fail(dataRows, stopped != null ? stopped : "interrupted", null);
            return;
        }
        synchronized (doneLock) {
            outstanding++;
        }
        try {
            senders.execute(() -> {
                active.put(Thread.currentThread(), 0L);
                try {
                    send(data, 0, dataLen, dataRows);
                } catch (RuntimeException e) {
                    fail(dataRows, "unexpected error: " + e, null);
                } finally {
                    active.remove(Thread.currentThread());
                    Thread.interrupted(); // an abandon() that came late must not reach the next batch
                    slots.release();
                    synchronized (doneLock) {
                        outstanding--;
                        doneLock.notifyAll();
                    }
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            slots.release();
            synchronized (doneLock) {
                outstanding--;
                doneLock.notifyAll();
            }
            fail(dataRows, "the writer was shut down", null);
        }
    }

    /** Sends everything appended so far and waits until every row has an outcome. */
    public void flush() {
        synchronized (lock) {
            sealAndSubmit();
        }
        awaitOutstanding();
    }

    private void awaitOutstanding() {
        synchronized (doneLock) {
            while (outstanding > 0) {
                try {
                    doneLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** flush(), then stops the threads. Idempotent. Check stats() afterwards. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) return;
            closed = true; // from here on append() throws, so nothing can slip in after the last batch
            sealAndSubmit();
        }
        awaitOutstanding();
        lingerTimer.shutdownNow();
        senders.shutdown();
    }

    /**
     * Stops waiting, from any thread: no more retries; requests in flight are cancelled (their rows fail and count
     * as unknown outcomes: the server may have stored them); batches not sent yet, and rows appended from now on,
     * fail without being sent; a blocked append() returns. close() then returns as soon as the senders have noted
     * it. Idempotent.
     */
    public void abandon() {
        stop(ABANDONED);
    }

    private void stop(String why) {
        synchronized (this) {
            if (stopped != null) return;
            stopped = why;
        }
        for (Thread t : active.keySet()) {
            if (t != Thread.currentThread()) t.interrupt();
        }
    }

    /**
     * What the writer waits for, for a progress line: null while all goes well; else "waiting for HOST: the last
     * problem, attempt N, giving up in T", or "waiting for HOST: no answer for T" for a request unanswered for
     * 10 s or more.
     */
    public String status() {
        long now = System.nanoTime();
        long since = troubleSince.get();
        if (since != 0 && stopped == null) {
            return "waiting for " + client.shownHost() + ": " + lastProblem + ", attempt " + (troubleAttempts.get() + 1)
                    + ", giving up in " + Timeouts.human(s.retryFor.minusNanos(now - since));
        }
        long oldest = 0;
        for (long t : active.values()) if (t != 0 && (oldest == 0 || t < oldest)) oldest = t;
        if (oldest != 0 && now - oldest >= Timeouts.SLOW.toNanos()) {
            return "waiting for " + client.shownHost() + ": no answer for " + Timeouts.human(Duration.ofNanos(now - oldest))
                    + " (read timeout " + Timeouts.human(timeout) + ")";
        }
        return null;
    }

    public Stats stats() {
        return new Stats(appended.get(), acknowledged.get(), quarantined.get(), failed.get(), requests.get(), retries.get(),
                splits.get(), unknown.get(), unknownRows.get(), bytesSent.get(), bytesRaw.get(), firstError.get());
    }

    /** Throws the first error as one line when any row failed (call after flush/close). */
    public void throwIfFailed() {
        Stats st = stats();
        if (st.failed() > 0) {
            Cli.Failure f = fatal.get();
            String why = f != null ? f.getMessage() : st.firstError();
            throw new Cli.Failure(String.format(Locale.ROOT, "%,d of %,d rows were not written to Tinybird data source %s: %s",
                    st.failed(), st.appended(), datasource, why));
        }
    }

    /** The error that stopped the writer (a non-retryable answer, an error no retry can fix, or giving up), or null. */
    public Cli.Failure fatal() {
        return fatal.get();
    }

    private void fail(int n, String message, Cli.Failure e) {
        failed.addAndGet(n);
        firstError.compareAndSet(null, Config.redact(message));
        if (e != null) fatal.compareAndSet(null, e);
    }

    private void notice(String line) {
        if (s.onNotice != null) {
            try {
                s.onNotice.accept(Config.redact(line));
            } catch (RuntimeException ignored) {
                // a listener's error must not lose a batch
            }
        }
    }

    private static byte[] gzip(byte[] data, int off, int n) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream(Math.max(1024, n / 5));
        try (GZIPOutputStream gz = new GZIPOutputStream(bos, 64 * 1024) {
            { def.setLevel(Deflater.BEST_SPEED); }
        }) {
            gz.write(data, off, n);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    /** Sends one batch (a slice of NDJSON with n rows) until it has an outcome. */
    private void send(byte[] data, int off, int n, int nrows) {
        byte[] body = s.gzip ? gzip(data, off, n) : java.util.Arrays.copyOfRange(data, off, off + n);
        int attempt = 0;
        String what = "POST /v0/events?name=" + datasource;
        Thread me = Thread.currentThread();
        while (true) {
            String why = stopped;
            if (why != null) {
                fail(nrows, attempt == 0 && why.equals(ABANDONED) ? STOPPED_UNSENT : why, null);
                return;
            }
            attempt++;
            requests.incrementAndGet();
            long waitMs;
            boolean unknownOutcome = false;
            String problem;
            long started = System.nanoTime();
            active.put(me, started);
            try {
                HttpRequest.Builder rb = client.request(path).timeout(timeout)
                        .header("Content-Type", "application/x-ndjson")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body));
                if (s.gzip) rb.header("Content-Encoding", "gzip");
                HttpResponse<String> r = client.http().send(rb.build(), HttpResponse.BodyHandlers.ofString());
                active.put(me, 0L);
                int code = r.statusCode();
                if (code == 200 || code == 202) {
                    succeeded();
                    bytesSent.addAndGet(body.length);
                    bytesRaw.addAndGet(n);
                    long q = 0;
                    try {
                        JsonNode j = Json.MAPPER.readTree(r.body());
                        q = Math.max(0, Math.min(nrows, j.path("quarantined_rows").asLong(0)));
                    } catch (IOException ignored) {
                        // a 2xx without the usual body: the rows are acknowledged
                    }
                    acknowledged.addAndGet(nrows - q);
                    quarantined.addAndGet(q);
                    if (s.onAcknowledged != null) s.onAcknowledged.accept(nrows - q);
                    return;
                }
                if (code == 413) {
                    if (nrows > 1) {
                        splits.incrementAndGet();
                        int mid = off, seen = 0;
                        while (seen < nrows / 2) {
                            if (data[mid++] == '\n') seen++;
                        }
                        send(data, off, mid - off, nrows / 2);
                        send(data, mid, off + n - mid, nrows - nrows / 2);
                    } else {
                        fail(1, "a single row of " + n + " bytes is over Tinybird's request size limit (413)", null);
                    }
                    return;
                }
                if (code == 429) {
                    problem = "429 Too many requests";
                    waitMs = retryAfterMillis(r, attempt);
                } else if (code == 500 || code == 503 || code == 502 || code == 504) {
                    problem = code + " " + TinybirdApiException.oneLine(r.body());
                    unknownOutcome = code != 503;
                    waitMs = backoffMillis(attempt);
                } else {
                    TinybirdApiException e = TinybirdApiException.of(client.shownHost(), code, r.body(), what, "DATASOURCES:APPEND:" + datasource
                            + " (and DATASOURCES:CREATE when the data source does not exist yet)");
                    fail(nrows, e.getMessage(), code == 422 ? null : e);
                    return;
                }
            } catch (IOException e) {
                String permanent = client.permanent(e);
                if (permanent != null) {
                    // the same on every attempt, and nothing was sent: no retry, no unknown outcome
                    Cli.Failure f = new Cli.Failure(Config.redact("cannot write to Tinybird at " + client.shownHost() + ": " + permanent));
                    fail(nrows, f.getMessage(), f);
                    return;
                }
                if (stopped != null) {
                    unknown.incrementAndGet();
                    unknownRows.addAndGet(nrows);
                    fail(nrows, stopped, null);
                    return;
                }
                if (e instanceof HttpConnectTimeoutException) {
                    problem = "no connection within " + Timeouts.human(client.net().connectTimeout()) + " (--connect-timeout)";
                } else if (e instanceof ConnectException) {
                    problem = "cannot connect: " + TinybirdClient.describe(e);
                } else if (e instanceof java.net.http.HttpTimeoutException) {
                    problem = "no answer within " + Timeouts.human(timeout) + " (--read-timeout)";
                    unknownOutcome = true;
                } else {
                    problem = "request failed: " + TinybirdClient.describe(e);
                    unknownOutcome = true;
                }
                waitMs = backoffMillis(attempt);
            } catch (InterruptedException e) {
                // abandon(): the request may have reached the server
                unknown.incrementAndGet();
                unknownRows.addAndGet(nrows);
                fail(nrows, stopped != null ? stopped : "interrupted", null);
                return;
            } finally {
                active.put(me, 0L);
            }
            if (unknownOutcome) {
                unknown.incrementAndGet();
                unknownRows.addAndGet(nrows);
            }
            lastProblem = problem;
            troubleSince.compareAndSet(0, started);
            long streak = troubleAttempts.incrementAndGet();
            if (s.maxAttempts > 0 && attempt >= s.maxAttempts) {
                fail(nrows, "gave up after " + attempt + " attempts: " + problem, null);
                return;
            }
            long since = troubleSince.get();
            long leftMs = s.retryFor.toMillis() - (System.nanoTime() - (since == 0 ? started : since)) / 1_000_000;
            if (leftMs <= 0) {
                Cli.Failure f = new Cli.Failure(Config.redact("gave up writing to Tinybird at " + client.shownHost()
                        + ": no request succeeded for " + Timeouts.human(s.retryFor) + " (--retry-for); the last attempt: " + problem));
                fail(nrows, f.getMessage(), f);
                stop(f.getMessage());
                return;
            }
            waitMs = Math.min(waitMs, leftMs);
            notice("waiting for " + client.shownHost() + ": " + problem + ", attempt " + streak + ", giving up in "
                    + Timeouts.human(Duration.ofMillis(leftMs)) + " (next try in " + Timeouts.human(Duration.ofMillis(waitMs)) + ")");
            retries.incrementAndGet();
            try {
                Thread.sleep(waitMs);
            } catch (InterruptedException e) {
                fail(nrows, stopped != null ? stopped : "interrupted", null);
                return;
            }
        }
    }

    /** A request succeeded: the retry clock starts afresh. */
    private void succeeded() {
        long since = troubleSince.get();
        if (since != 0 && troubleSince.compareAndSet(since, 0)) {
            troubleAttempts.set(0);
            notice(client.shownHost() + " answers again (after " + Timeouts.human(Duration.ofNanos(System.nanoTime() - since)) + ")");
        }
    }

    long backoffMillis(int attempt) {
        long base = s.backoffBase.toMillis();
        long cap = s.backoffCap.toMillis();
        long d = Math.min(cap, base << Math.min(20, attempt - 1));
        return d / 2 + ThreadLocalRandom.current().nextLong(d / 2 + 1);
    }

    long retryAfterMillis(HttpResponse<?> r, int attempt) {
        Long ms = TinybirdApiException.serverWait(r);
        if (ms == null) return backoffMillis(attempt);
        return Math.max(0, Math.min(ms, s.maxRetryWait.toMillis()));
    }
}
