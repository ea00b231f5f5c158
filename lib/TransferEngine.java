//SOURCES Cli.java
//SOURCES Json.java
//SOURCES CursorValues.java
//SOURCES Transfer.java
//SOURCES TransferOptions.java
//SOURCES TransferPager.java
//SOURCES TransferWriter.java

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a transfer: rounds (--once, or follow mode every --every), each reading the window from the resume point to
 * its end; the reading ({@link TransferPager}) runs in its own thread ahead of the writing ({@link TransferWriter}).
 * Also the resume point (--state, else the target, else --since), rewinds when a target lost commits, and
 * {@link #runCommand}: Ctrl-C and the summary line. Build one per command invocation.
 *
 * <p>Why a pipeline: while one batch is written, the next pages are read, so a transfer takes about as long as the
 * slower of the two. Invariant: the watermark a round ends on covers only rows the target has confirmed.
 */
public final class TransferEngine {
    private final TransferOptions o;
    private final Transfer.Target target;
    private final PrintWriter err;
    private final boolean quiet;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Transfer.Totals totals = new Transfer.Totals();
    private final TransferPager pager;
    private final TransferWriter writer;
    /** Counts rows read (a progress bar on a terminal); may be null. */
    Cli.Progress progress;
    /** Rows of kept-aside segments held in memory at most; beyond, segments are re-read when their turn comes. */
    long maxHeldRows = 500_000;

    public TransferEngine(TransferOptions o, Transfer.Source source, Transfer.Target target, PrintWriter err, boolean quiet) {
        this.o = o;
        this.target = target;
        this.err = err;
        this.quiet = quiet;
        this.pager = new TransferPager(o, source, target, stop, totals);
        this.writer = new TransferWriter(o, target, err, quiet, totals, pager);
    }

    /** Asks a follow-mode run to stop after the batch in flight (Ctrl-C). */
    public void stop() {
        stop.set(true);
    }

    public Transfer.Totals totals() {
        return totals;
    }

    /** Runs --once or follow mode; returns the totals. The summary line is printed by the caller. */
    public Transfer.Totals run() throws Exception {
        o.check();
        pager.maxHeldRows = maxHeldRows;
        writer.progress = progress;
        Transfer.Resume start = resumePoint();
        totals.resumedFrom = start == null ? "the beginning" : start.from() + " (" + o.cursor + (start.inclusive() ? " >= " : " > ")
                + CursorValues.text(start.value()) + ")";
        Transfer.Resume lo = start;
        try {
            for (int round = 1; ; round++) {
                Object hi = windowEnd();
                Transfer.Totals before = o.once ? null : copy(totals);
                long t0 = System.nanoTime();
                // --window: consecutive sub-windows, oldest first, read ahead of the writes (one pipeline)
                Object reached;
                for (int rewinds = 0; ; rewinds++) {
                    try {
                        reached = syncWindow(lo, hi);
                        break;
                    } catch (Transfer.Rewind r) {
                        if (rewinds >= 10) throw new Cli.Failure(r.getMessage() + ", again after 10 rewinds: giving up");
                        lo = rewind(r);
                    }
                }
                if (reached != null) lo = new Transfer.Resume(reached, false, "watermark");
                if (before != null && !quiet) roundLine(round, before, Duration.ofNanos(System.nanoTime() - t0));
                if (o.once || stop.get()) break;
                if (sleepInterruptibly(o.every)) break;
            }
        } finally {
            writer.close();
        }
        return totals;
    }

    /**
     * The target lost commits it had confirmed (a database crash with synchronous_commit=off, a failover to a lagging
     * replica): the database, not memory, says what is there. Takes the resume point from the target again (else
     * --since, else the beginning), takes the flushes above it out of the totals (their rows are read and written
     * again, and counted then), drops the --state file (it is ahead) and has the target prepared again.
     */
    private Transfer.Resume rewind(Transfer.Rewind r) throws Exception {
        Optional<Transfer.Resume> t = target.resume(o.job(), o.cursor);
        Transfer.Resume back = t.isPresent() ? new Transfer.Resume(CursorValues.normalizeStored(t.get().value()), t.get().inclusive(), t.get().from())
                : o.since != null ? new Transfer.Resume(o.since, true, "--since") : null;
        writer.forgetAbove(back);
        totals.watermark = back == null ? null : back.value();
        if (o.state != null) Files.deleteIfExists(o.state);
        err.println("transfer: " + r.getMessage() + "; reading again from " + (back == null ? "the beginning"
                : back.from() + " (" + o.cursor + (back.inclusive() ? " >= " : " > ") + CursorValues.text(back.value()) + ")"));
        err.flush();
        return back;
    }

    private static Transfer.Totals copy(Transfer.Totals t) {
        Transfer.Totals c = new Transfer.Totals();
        c.read = t.read;
        c.batches = t.batches;
        c.windows = t.windows;
        c.requests = t.requests;
        c.counts.add(t.counts);
        return c;
    }

    /** Follow mode: one line a round (what that round did), so a log shows each sync, not only the final total. */
    private void roundLine(int round, Transfer.Totals before, Duration took) {
        Transfer.Totals d = copy(totals);
        d.read -= before.read;
        d.batches -= before.batches;
        d.windows -= before.windows;
        d.requests -= before.requests;
        d.counts.inserted -= before.counts.inserted;
        d.counts.updated -= before.counts.updated;
        d.counts.upserted -= before.counts.upserted;
        d.counts.skipped -= before.counts.skipped;
        d.counts.rejected -= before.counts.rejected;
        d.watermark = totals.watermark;
        String line = "round " + round + ": " + summary(d, took, o.dryRun).replaceFirst("^(done|dry run): ", "")
                + (stop.get() ? "" : "; next in " + (o.every.toMillis() % 1000 == 0 ? o.every.toSeconds() + " s" : o.every.toMillis() + " ms"));
        boolean bar = progress != null && progress.visible();
        err.println((bar ? "\r\033[K" : "") + line);
        err.flush();
    }

    private boolean sleepInterruptibly(Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            if (stop.get()) return true;
            Thread.sleep(Math.min(200, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
        }
        return stop.get();
    }

    private Object windowEnd() {
        return switch (o.until) {
            case "now" -> CursorValues.timestamp(LocalDateTime.now(ZoneOffset.UTC).minus(o.lag).withNano(0));
            case "none" -> null;
            default -> o.until;
        };
    }

    Transfer.Resume resumePoint() throws Exception {
        if (o.state != null && Files.isRegularFile(o.state)) {
            try {
                var node = Json.MAPPER.readTree(o.state.toFile());
                if (node.hasNonNull("watermark")) {
                    var w = node.get("watermark");
                    Object v = w.isNumber() ? w.decimalValue() : CursorValues.normalizeStored(w.asText());
                    return new Transfer.Resume(v, false, "state file " + o.state);
                }
            } catch (IOException e) {
                throw new Cli.Failure("state file " + o.state + " is not valid JSON (" + e.getMessage() + "); fix or delete it");
            }
        }
        Optional<Transfer.Resume> fromTarget = target.resume(o.job(), o.cursor);
        if (fromTarget.isPresent()) {
            Transfer.Resume r = fromTarget.get();
            return new Transfer.Resume(CursorValues.normalizeStored(r.value()), r.inclusive(), r.from());
        }
        if (o.since != null) return new Transfer.Resume(o.since, true, "--since");
        return null;
    }

    /**
     * Transfers every row of [lo, hi], in consecutive --window sub-windows when set; returns the new watermark (or
     * null when nothing moved). Reading runs ahead of writing in its own thread, across sub-windows: while one
     * sub-window's rows are written, the next one's pages are read.
     */
    Object syncWindow(Transfer.Resume lo, Object hi) throws Exception {
        if (lo != null && hi != null && CursorValues.compare(lo.value(), hi) > 0) {
            totals.windows++;
            return null;
        }
        BlockingQueue<Object> queue = new ArrayBlockingQueue<>(4);
        final Object END = new Object();
        Thread producer = Thread.ofPlatform().name("transfer-reader").daemon().start(() -> {
            try {
                Transfer.Resume cur = lo;
                while (o.window != null && cur != null && hi != null && !stop.get()) {
                    Object subHi = CursorValues.plus(cur.value(), o.window);
                    if (subHi == null || CursorValues.compare(subHi, hi) >= 0) break;
                    countWindow();
                    pager.produce(cur, subHi, queue);
                    cur = new Transfer.Resume(subHi, false, "watermark"); // every segment of a bounded window ends at its hi
                }
                if (!stop.get()) {
                    countWindow();
                    pager.produce(cur, hi, queue);
                }
                queue.put(END);
            } catch (Throwable t) {
                try {
                    queue.put(t);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        Object watermark = null;
        try {
            List<TransferPager.Segment> pending = new ArrayList<>();
            int pendingRows = 0;
            while (true) {
                Object item = queue.poll(200, TimeUnit.MILLISECONDS);
                if (item == null) {
                    if (!pending.isEmpty()) { // nothing new soon: write what we have
                        watermark = writer.flush(pending, watermark);
                        pending.clear();
                        pendingRows = 0;
                    }
                    continue;
                }
                if (item == END) break;
                if (item instanceof Throwable t) {
                    if (!pending.isEmpty()) watermark = writer.flush(pending, watermark);
                    pending.clear();
                    if (t instanceof Exception e) throw e;
                    throw (Error) t;
                }
                TransferPager.Segment s = (TransferPager.Segment) item;
                if (pendingRows + s.rows().size() > writer.maxBatch() && !pending.isEmpty()) {
                    watermark = writer.flush(pending, watermark);
                    pending.clear();
                    pendingRows = 0;
                }
                pending.add(s);
                pendingRows += s.rows().size();
                if (stop.get()) break;
            }
            if (!pending.isEmpty()) watermark = writer.flush(pending, watermark);
        } finally {
            producer.interrupt();
            producer.join(5000);
        }
        return watermark;
    }

    private synchronized void countWindow() {
        totals.windows++;
    }

    /** The summary line: rows read, inserted, updated, skipped, rejected, seconds, rows/s. */
    public static String summary(Transfer.Totals t, Duration elapsed, boolean dryRun) {
        double s = Math.max(elapsed.toNanos() / 1e9, 1e-9);
        Transfer.Counts c = t.counts;
        StringBuilder sb = new StringBuilder(dryRun ? "dry run: " : "done: ");
        sb.append(String.format(Locale.ROOT, "%,d rows read", t.read));
        if (c.upserted > 0) sb.append(String.format(Locale.ROOT, ", %,d written (upserts)", c.upserted));
        // a target that can't tell inserts from updates (DynamoDB) reports upserts only: "0 inserted, 0 updated" there
        // read as if nothing had been written
        if (c.upserted == 0 || c.inserted + c.updated > 0) sb.append(String.format(Locale.ROOT, ", %,d inserted, %,d updated", c.inserted, c.updated));
        sb.append(String.format(Locale.ROOT, ", %,d skipped, %,d rejected", c.skipped, c.rejected));
        sb.append(String.format(Locale.ROOT, " in %.2f s (%,.0f rows/s; %,d requests", s, t.read / s, t.requests));
        if (t.watermark != null) sb.append(", watermark ").append(CursorValues.text(t.watermark));
        if (t.resumedFrom != null) sb.append(", from ").append(t.resumedFrom);
        sb.append(')');
        return sb.toString();
    }

    /**
     * Runs an engine inside a command: Ctrl-C (SIGINT/SIGTERM) asks it to stop after the batch in flight and waits
     * for it (up to 30 s); prints the summary line on err.
     */
    public static int runCommand(TransferOptions o, Transfer.Source source, Transfer.Target target, PrintWriter err, boolean quiet) throws Exception {
        TransferEngine e = new TransferEngine(o, source, target, err, quiet);
        java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(1);
        Thread hook = new Thread(() -> {
            if (finished.getCount() == 0) return;
            e.stop();
            try {
                finished.await(30, TimeUnit.SECONDS); // the batch in flight commits, the summary prints
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "transfer-stop");
        boolean hooked = false;
        try {
            Runtime.getRuntime().addShutdownHook(hook);
            hooked = true;
        } catch (IllegalStateException shuttingDown) {
            // already stopping
        }
        long t0 = System.nanoTime();
        try {
            Transfer.Totals t;
            try (Cli.Progress p = Cli.Progress.items("transfer", -1, "rows", quiet)) {
                e.progress = p;
                t = e.run();
            }
            err.println(summary(t, Duration.ofNanos(System.nanoTime() - t0), o.dryRun) + (e.stop.get() && !o.once ? " (stopped)" : ""));
            err.flush();
            return Cli.EXIT_OK;
        } finally {
            try {
                target.close();
            } finally {
                finished.countDown();
                if (hooked) {
                    try {
                        Runtime.getRuntime().removeShutdownHook(hook);
                    } catch (IllegalStateException shuttingDown) {
                        // the hook is running and returns now
                    }
                }
            }
        }
    }
}
