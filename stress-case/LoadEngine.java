import java.io.EOFException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogWriter;
import org.HdrHistogram.Recorder;

/**
 * The load engine: workers (or HttpLoop's selector threads) send requests, a ticker closes one interval a
 * second (the live line, the series, the hlog, giving up on a dead target), and the totals become a StressReport.
 * Why: the two ways users ask "how fast": the closed model (--concurrency N workers, each waits for its answer) and
 * the open model (--rate N on a fixed schedule), where latency counts from each request's intended start, so a
 * stalling server can not hide its tail (coordinated omission corrected).
 * Invariant: a measured request is counted once, as a latency or an error; warm-up requests never are.
 */
record RunSettings(List<String> targets, Double rate, int concurrency, Duration duration, Duration warmup, Long maxRequests,
                Duration timeout, long seed, String workload, String threads, boolean eventLoop, String drive, ObjectNode about) {
    ObjectNode toJson(long startMs) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("started", Instant.ofEpochMilli(startMs).toString());
        ArrayNode t = o.putArray("targets");
        targets.forEach(t::add);
        o.put("model", rate == null ? "closed" : "open");
        if (rate != null) o.put("rate_per_s", rate);
        o.put("concurrency", concurrency);
        o.put("duration_s", duration.toMillis() / 1000.0);
        o.put("warmup_s", warmup.toMillis() / 1000.0);
        if (maxRequests != null) o.put("max_requests", maxRequests);
        o.put("timeout_s", timeout.toMillis() / 1000.0);
        o.put("seed", seed);
        o.put("threads", drive);
        o.put("workload", workload);
        o.set("about", about); // what each target is (StressCase: LoadTarget.about); the report and merge show it
        o.put("java", Runtime.version().toString());
        o.put("cpus", Runtime.getRuntime().availableProcessors());
        return o;
    }

    String model() {
        return rate == null ? "closed: " + concurrency + " workers per target"
                : String.format(Locale.ROOT, "open: %,.0f requests/s per target, at most %d in flight", rate, concurrency);
    }
}

/** One target's live state during a run. */
final class LiveTarget {
    final LoadTarget target;
    final Recorder recorder = new Recorder(1, TimeUnit.HOURS.toMicros(1), 3);
    final AtomicLong seq = new AtomicLong();
    final AtomicLong measuredIssued = new AtomicLong();
    final LongAdder intervalErrors = new LongAdder(), anyOk = new LongAdder(), anyErrors = new LongAdder();
    final LongAdder late = new LongAdder(), rows = new LongAdder(), answered = new LongAdder(), empty = new LongAdder();
    final AtomicLong maxStartDelayNs = new AtomicLong();
    final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    final Histogram total = new Histogram(1, TimeUnit.HOURS.toMicros(1), 3);
    final List<SeriesPoint> series = new ArrayList<>();
    volatile boolean stop;
    volatile String gaveUp;
    int badSeconds;
    long endNs;
    final CountDownLatch done;
    Histogram recycle;

    LiveTarget(LoadTarget t, int workers) {
        this.target = t;
        this.done = new CountDownLatch(workers);
    }
}

/** One second of one target: throughput and latency (milliseconds). */
record SeriesPoint(double t, double rps, long errors, double p50, double p99, double max) {}

final class LoadEngine {
    final List<LiveTarget> lives = new ArrayList<>();
    final RunSettings s;
    final Workload wl;
    final PrintWriter err;
    final boolean showLive;
    final long giveUpNs, lateNs;
    final Path hlogPath;
    long t0, measureStart, end;
    HistogramLogWriter hlogWriter;
    PrintStream hlogStream;
    Path hlogTmp;
    long startWallMs;

    LoadEngine(List<LoadTarget> targets, RunSettings s, Workload wl, PrintWriter err, boolean showLive, Duration giveUp, Duration lateAfter, Path hlog) {
        this.s = s;
        this.wl = wl;
        this.err = err;
        this.showLive = showLive;
        this.giveUpNs = giveUp.toNanos();
        this.lateNs = lateAfter.toNanos();
        this.hlogPath = hlog;
        for (LoadTarget t : targets) lives.add(new LiveTarget(t, s.concurrency()));
    }

    StressReport run() throws Exception {
        if (hlogPath != null) openHlog();
        startWallMs = System.currentTimeMillis();
        t0 = System.nanoTime();
        measureStart = t0 + s.warmup().toNanos();
        end = measureStart + s.duration().toNanos();
        long[] cpuAtMeasure = {-1};
        Thread cpuMark = Thread.ofVirtual().start(() -> { // the process's CPU as the warm-up ends
            long w;
            while ((w = measureStart - System.nanoTime()) > 0) {
                LockSupport.parkNanos(w);
                if (Thread.currentThread().isInterrupted()) return; // the run ended during the warm-up
            }
            cpuAtMeasure[0] = Cli.processCpuNanos();
        });
        List<Thread> workers = new ArrayList<>();
        Thread.Builder builder = s.threads().equals("platform") ? Thread.ofPlatform().daemon(true) : Thread.ofVirtual();
        for (LiveTarget l : lives) {
            if (s.eventLoop() && l.target instanceof HttpTarget h && h.plain()) {
                int n = loopThreads(s.concurrency());
                for (int k = 0; k < n; k++) {
                    HttpLoop loop = new HttpLoop(this, l, h, s.concurrency() / n + (k < s.concurrency() % n ? 1 : 0));
                    workers.add(Thread.ofPlatform().daemon(true).name("load-" + h.name() + "-loop-" + k).start(loop));
                }
                continue;
            }
            for (int w = 0; w < s.concurrency(); w++) {
                LoadTarget.Session session = l.target.session();
                workers.add(builder.name("load-" + l.target.name() + "-" + w).start(() -> work(l, session)));
            }
        }
        // the ticker: one interval a second, the live line, giving up on dead targets
        long tick = t0;
        long prevTick = t0;
        while (true) {
            tick += 1_000_000_000L;
            boolean allDone = true;
            for (LiveTarget l : lives) allDone &= l.done.getCount() == 0;
            if (allDone) break;
            long now = System.nanoTime();
            long wake = Math.min(tick, end);
            if (wake > now) {
                for (LiveTarget l : lives) {
                    if (l.done.await(wake - now, TimeUnit.NANOSECONDS)) break;
                    now = System.nanoTime();
                    if (now >= wake) break;
                }
                boolean all = true;
                for (LiveTarget l : lives) all &= l.done.getCount() == 0;
                if (!all) LockSupport.parkNanos(Math.max(0, wake - System.nanoTime()));
            }
            now = System.nanoTime();
            if (now >= end) break;
            roll(prevTick, now, false);
            prevTick = now;
        }
        if (System.nanoTime() < measureStart) cpuMark.interrupt();
        cpuMark.join();
        long cpuAtEnd = Cli.processCpuNanos(), measuredEnd = System.nanoTime();
        // let in-flight requests finish, then close whatever still hangs
        long grace = s.timeout().toNanos() + 1_000_000_000L;
        for (LiveTarget l : lives) {
            l.done.await(Math.max(0, end + grace - System.nanoTime()), TimeUnit.NANOSECONDS);
            l.stop = true;
        }
        for (LiveTarget l : lives) {
            if (l.done.getCount() > 0) {
                l.target.close();
                l.done.await(2, TimeUnit.SECONDS);
            }
        }
        long now = System.nanoTime();
        roll(prevTick, Math.min(now, Math.max(prevTick, end)), true);
        if (showLive) err.flush();
        List<TargetResult> results = new ArrayList<>();
        for (LiveTarget l : lives) {
            long stopAt = l.endNs > 0 ? Math.min(l.endNs, end) : end;
            double secs = Math.max(1e-9, (stopAt - measureStart) / 1e9);
            Map<String, Long> errs = new TreeMap<>();
            l.errors.forEach((k, v) -> errs.put(k, v.sum()));
            results.add(new TargetResult(l.target.name(), l.total, errs, secs, l.late.sum(),
                    l.maxStartDelayNs.get() / 1000, l.rows.sum(), l.answered.sum(), l.empty.sum(), l.series, l.gaveUp));
        }
        if (hlogWriter != null) closeHlog(results);
        StressReport report = new StressReport(s.toJson(startWallMs), s, results);
        if (cpuAtMeasure[0] >= 0 && cpuAtEnd >= 0 && measuredEnd > measureStart) {
            report.clientCpuNs = cpuAtEnd - cpuAtMeasure[0];
            report.clientSeconds = (measuredEnd - measureStart) / 1e9;
        }
        return report;
    }

    void work(LiveTarget l, LoadTarget.Session session) {
        try {
            double period = s.rate() == null ? 0 : 1e9 / s.rate();
            while (!l.stop) {
                long i = l.seq.getAndIncrement();
                long intended;
                if (s.rate() != null) {
                    intended = t0 + (long) (i * period);
                    if (intended >= end) break;
                    long wait;
                    while ((wait = intended - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                        if (l.stop) return;
                    }
                } else {
                    intended = System.nanoTime();
                    if (intended >= end) break;
                }
                boolean measured = intended >= measureStart;
                if (measured && s.maxRequests() != null && l.measuredIssued.incrementAndGet() > s.maxRequests()) {
                    l.endNs = System.nanoTime();
                    l.stop = true;
                    break;
                }
                long start = System.nanoTime();
                if (s.rate() != null && measured) {
                    long delay = start - intended;
                    if (delay > lateNs) l.late.increment();
                    l.maxStartDelayNs.accumulateAndGet(delay, Math::max);
                }
                Object[] v = wl.values(i);
                try {
                    long rows = session.call(v);
                    succeeded(l, intended, measured, rows, System.nanoTime());
                } catch (Exception e) {
                    if (l.stop) break;
                    failed(l, measured, e);
                    if (s.rate() == null && errorKind(e).equals("connection")) LockSupport.parkNanos(10_000_000L); // no hot loop on a dead server
                }
            }
        } finally {
            session.close();
            l.done.countDown();
        }
    }

    /** Counts an answer; its latency runs from the intended start (open model) or the actual start (closed model). */
    void succeeded(LiveTarget l, long intended, boolean measured, long rows, long done) {
        l.anyOk.increment();
        if (measured) {
            l.recorder.recordValue(Math.max(1, Math.min((done - intended) / 1000, TimeUnit.HOURS.toMicros(1))));
            if (rows >= 0) { // -1: an answer whose rows are not known (a plain URL)
                l.answered.increment();
                if (rows > 0) l.rows.add(rows);
                else l.empty.increment();
            }
        }
    }

    void failed(LiveTarget l, boolean measured, Exception e) {
        l.anyErrors.increment();
        if (measured) {
            l.intervalErrors.increment();
            l.errors.computeIfAbsent(errorKind(e), k -> new LongAdder()).increment();
        }
    }

    /** Closes the interval [from, to): adds it to the totals, the series, the hlog and the live line. */
    void roll(long from, long to, boolean last) {
        StringBuilder line = new StringBuilder();
        line.append(String.format(Locale.ROOT, "%5.0fs", (to - t0) / 1e9));
        for (LiveTarget l : lives) {
            Histogram h = l.recorder.getIntervalHistogram(l.recycle);
            l.recycle = h;
            long errs = l.intervalErrors.sumThenReset();
            long ok = l.anyOk.sumThenReset(), bad = l.anyErrors.sumThenReset();
            long measFrom = Math.max(from, measureStart);
            double secs = (to - measFrom) / 1e9;
            if (to > measureStart && secs > 0.05) {
                l.total.add(h);
                double tRel = (to - measureStart) / 1e9;
                l.series.add(new SeriesPoint(StressReport.round3(tRel), (h.getTotalCount() + errs) / secs, errs,
                        h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(50) / 1000.0,
                        h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(99) / 1000.0,
                        h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0));
                if (hlogWriter != null) writeInterval(l.target.name(), h, errs, measFrom, to);
            } else if (to > measureStart) {
                l.total.add(h); // a sliver at the very end: keep its requests (in the hlog too: a merge must add up)
                if (hlogWriter != null && h.getTotalCount() + errs > 0) writeInterval(l.target.name(), h, errs, measFrom, to);
            }
            if (!last && giveUpNs > 0 && l.gaveUp == null && l.done.getCount() > 0) {
                if (ok == 0 && bad > 0) l.badSeconds++;
                else l.badSeconds = 0;
                if (l.badSeconds * 1_000_000_000L >= giveUpNs) {
                    l.gaveUp = "answered nothing but errors for " + l.badSeconds + " s, stopped loading it";
                    l.endNs = to;
                    l.stop = true;
                    l.target.close(); // unblocks workers waiting on a dead connection
                }
            }
            double rps = secs > 0 ? (h.getTotalCount() + errs) / Math.max(secs, (to - from) / 1e9) : 0;
            line.append(String.format(Locale.ROOT, "  %s %,8.0f req/s  p99 %s  err %,d", l.target.name(), rps,
                    h.getTotalCount() == 0 ? "    -   " : StressReport.fmtMs(h.getValueAtPercentile(99) / 1000.0), errs));
            if (to <= measureStart) line.append(" (warm-up)");
        }
        if (showLive && !last) {
            err.println(line);
            err.flush();
        }
    }

    void openHlog() throws IOException {
        Path abs = hlogPath.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        hlogTmp = StressCase.tempBeside(abs);
        hlogStream = new PrintStream(Files.newOutputStream(hlogTmp, java.nio.file.StandardOpenOption.CREATE_NEW), false, StandardCharsets.UTF_8);
        hlogWriter = new HistogramLogWriter(hlogStream);
    }

    void writeInterval(String tag, Histogram h, long errs, long fromNs, long toNs) {
        if (!headerWritten) {
            hlogWriter.outputComment("stress-case " + Cli.VERSION + ": latency in microseconds; tags are targets, <target>.errors counts errors");
            hlogWriter.outputComment("stress-case settings " + s.toJson(startWallMs));
            long base = startWallMs + (measureStart - t0) / 1_000_000;
            hlogWriter.outputStartTime(base);
            hlogWriter.setBaseTime(base);
            hlogWriter.outputLogFormatVersion();
            hlogWriter.outputLegend();
            headerWritten = true;
        }
        long startMs = startWallMs + (fromNs - t0) / 1_000_000, endMs = startWallMs + (toNs - t0) / 1_000_000;
        Histogram c = h.copy();
        c.setTag(tag);
        c.setStartTimeStamp(startMs);
        c.setEndTimeStamp(endMs);
        hlogWriter.outputIntervalHistogram(c);
        if (errs > 0) {
            Histogram e = new Histogram(1, TimeUnit.HOURS.toMicros(1), 3);
            e.recordValueWithCount(1, errs);
            e.setTag(tag + ".errors");
            e.setStartTimeStamp(startMs);
            e.setEndTimeStamp(endMs);
            hlogWriter.outputIntervalHistogram(e);
        }
    }

    boolean headerWritten;

    void closeHlog(List<TargetResult> results) throws IOException {
        if (!headerWritten) writeInterval("none", new Histogram(1, 2, 1), 0, measureStart, measureStart);
        for (TargetResult r : results) {
            hlogWriter.outputComment("stress-case target " + r.name + " seconds=" + r.seconds + " late=" + r.late
                    + " max_start_delay_us=" + r.maxStartDelayUs + " rows=" + r.rows
                    + " answered=" + r.answered + " empty=" + r.empty
                    + (r.gaveUp == null ? "" : " gave_up=" + StressCase.enc(r.gaveUp)));
            for (Map.Entry<String, Long> e : r.errors.entrySet()) {
                hlogWriter.outputComment("stress-case errors " + r.name + " " + StressCase.enc(e.getKey()) + " " + e.getValue());
            }
        }
        hlogStream.close();
        if (hlogStream.checkError()) throw new IOException("cannot write " + hlogPath);
        Files.move(hlogTmp, hlogPath.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The kind of a failed request: "http 503", "sqlstate 42P01", "timeout", "connection", or the exception's name. */
    static String errorKind(Throwable e) {
        if (e instanceof HttpStatus h) return "http " + h.status;
        if (e instanceof SocketTimeoutException || e instanceof java.net.http.HttpTimeoutException) return "timeout";
        if (e instanceof SQLTransientConnectionException) return e.getMessage() != null && e.getMessage().contains("timed out") ? "timeout" : "connection";
        if (e instanceof SQLException s) {
            String st = s.getSQLState();
            if (st == null) return s.getCause() != null ? errorKind(s.getCause()) : "sql error";
            if (st.startsWith("08") || st.equals("57P01") || st.equals("57P02") || st.equals("57P03")) return "connection";
            if (st.equals("57014")) return "timeout";
            return "sqlstate " + st;
        }
        if (e instanceof ConnectException || e instanceof NoRouteToHostException || e instanceof UnknownHostException
                || e instanceof EOFException || e instanceof SocketException) {
            return "connection";
        }
        if (e instanceof IOException) return "io: " + e.getClass().getSimpleName();
        return e.getClass().getSimpleName();
    }

    /** Selector threads for the event loop: one a core (wrk's -t2 on the 2-core bench machine), at most one a connection. */
    static int loopThreads(int connections) {
        return Math.max(1, Math.min(connections, Runtime.getRuntime().availableProcessors()));
    }
}
