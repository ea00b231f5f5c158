//SOURCES Cli.java
//SOURCES Json.java
//SOURCES CursorValues.java
//SOURCES Transfer.java
//SOURCES TransferOptions.java
//SOURCES TransferPager.java

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Hands a transfer's segments to the target: validation and --on-error (the reject file), one row per key, batches of
 * at most the target's size, the watermark with the last batch of each segment, the --state file, and the totals.
 *
 * <p>Why apart: what a target sees (which rows, in which batches, with which watermark) is the contract every target
 * relies on, and reads best on its own. Invariant: a batch carries a watermark only when every row up to it is in
 * that batch or an earlier one; the state file is written (atomically) only after the batch that completes it.
 */
final class TransferWriter {
    private final TransferOptions o;
    private final Transfer.Target target;
    private final PrintWriter err;
    private final boolean quiet;
    private final Transfer.Totals totals;
    /** Where the columns come from: the first page the pager read. */
    private final TransferPager pager;
    private boolean prepared;
    /** What each flush of this run added to the totals, newest last: a rewind takes the lost ones out again. */
    private final Deque<Flushed> history = new ArrayDeque<>();
    private static final int MAX_HISTORY = 10_000;

    private record Flushed(Object watermark, long read, Transfer.Counts counts) {}
    private BufferedWriter rejects;
    /** Counts rows read (a progress bar on a terminal; the engine's); may be null. */
    Cli.Progress progress;

    TransferWriter(TransferOptions o, Transfer.Target target, PrintWriter err, boolean quiet, Transfer.Totals totals, TransferPager pager) {
        this.o = o;
        this.target = target;
        this.err = err;
        this.quiet = quiet;
        this.totals = totals;
        this.pager = pager;
    }

    /** Most rows per write: --batch-rows, at most the target's own. */
    int maxBatch() {
        return o.batchRows != null ? Math.min(o.batchRows, target.maxBatchRows()) : target.maxBatchRows();
    }

    /**
     * A rewind to back: takes the flushes above it out of the totals (their rows are read and written again, and
     * counted then) and has the target prepared again.
     */
    void forgetAbove(Transfer.Resume back) {
        for (java.util.Iterator<Flushed> it = history.descendingIterator(); it.hasNext(); ) {
            Flushed f = it.next();
            if (back != null && CursorValues.compare(f.watermark(), back.value()) <= 0) break;
            totals.read -= f.read();
            totals.batches--;
            Transfer.Counts c = f.counts();
            totals.counts.inserted -= c.inserted;
            totals.counts.updated -= c.updated;
            totals.counts.upserted -= c.upserted;
            totals.counts.skipped -= c.skipped;
            totals.counts.rejected -= c.rejected;
            it.remove();
        }
        prepared = false;
    }

    /** Closes the reject file, when one was opened. */
    void close() throws IOException {
        if (rejects != null) rejects.close();
    }

    /** Writes the segments' rows (in batches of at most maxBatch()); returns the watermark reached (else the one given). */
    Object flush(List<TransferPager.Segment> segs, Object watermark) throws Exception {
        List<Transfer.Column> meta = pager.meta();
        List<Object[]> rows = new ArrayList<>();
        for (TransferPager.Segment s : segs) rows.addAll(s.rows());
        Object wm = segs.get(segs.size() - 1).watermark();
        if (progress != null) progress.add(rows.size());
        if (!prepared) {
            target.prepare(meta, o.dryRun, err);
            prepared = true;
        }
        Transfer.Counts c = new Transfer.Counts();
        // validation and --on-error
        List<Object[]> ok = new ArrayList<>(rows.size());
        for (Object[] r : rows) {
            String why = target.validate(meta, r);
            if (why == null) {
                ok.add(r);
                continue;
            }
            reject(r, why);
            c.rejected++;
        }
        // one row per key (the last read wins): an upsert can't touch a row twice in one statement
        if (pager.keyIdx.length > 0) ok = dedupe(ok, c);
        if (o.dryRun) {
            if (!quiet) err.println("dry run: would write " + ok.size() + " rows up to " + o.cursor + " = " + CursorValues.text(wm)
                    + " to " + target.describe());
        } else if (target.splitOnlyBetweenCursorValues()) {
            c.add(target.write(o.job(), o.cursor, new Transfer.Batch(meta, ok, wm)));
        } else {
            // a segment bigger than the target's batch: intermediate parts carry no watermark
            int max = maxBatch();
            int i = 0;
            do {
                List<Object[]> part = ok.subList(i, Math.min(ok.size(), i + max));
                boolean last = i + max >= ok.size();
                c.add(target.write(o.job(), o.cursor, new Transfer.Batch(meta, part, last ? wm : null)));
                i += max;
            } while (i < ok.size());
        }
        totals.read += rows.size();
        totals.counts.add(c);
        totals.batches++;
        if (wm != null && !o.dryRun) {
            history.addLast(new Flushed(wm, rows.size(), c));
            if (history.size() > MAX_HISTORY) history.removeFirst();
        }
        if (wm != null) {
            totals.watermark = wm;
            if (o.state != null && !o.dryRun) writeState(wm);
        }
        return wm != null ? wm : watermark;
    }

    private List<Object[]> dedupe(List<Object[]> rows, Transfer.Counts c) {
        Map<Object, Integer> last = new HashMap<>(rows.size() * 2);
        for (int i = 0; i < rows.size(); i++) {
            Object[] r = rows.get(i);
            Object k;
            if (pager.keyIdx.length == 1) {
                k = keyPart(r[pager.keyIdx[0]]);
                if (k == null) k = Collections.singletonList(null); // apart from every non-null key
            } else {
                Object[] parts = new Object[pager.keyIdx.length];
                for (int j = 0; j < parts.length; j++) parts[j] = keyPart(r[pager.keyIdx[j]]);
                k = Arrays.asList(parts);
            }
            last.put(k, i);
        }
        if (last.size() == rows.size()) return rows;
        boolean[] keep = new boolean[rows.size()];
        for (int i : last.values()) keep[i] = true;
        List<Object[]> out = new ArrayList<>(last.size());
        for (int i = 0; i < rows.size(); i++) {
            if (keep[i]) out.add(rows.get(i));
            else c.skipped++;
        }
        return out;
    }

    /** A key value as dedupe compares it: decimals by value (1.50 = 1.5). */
    private static Object keyPart(Object v) {
        return v instanceof BigDecimal d ? d.stripTrailingZeros() : v;
    }

    private void reject(Object[] row, String why) throws IOException {
        String where = o.cursor + " = " + CursorValues.text(row[pager.cursorIdx]);
        if (o.onError == TransferOptions.OnError.fail) {
            throw new Cli.Failure("row with " + where + ": " + why + " (--on-error skip writes such rows to a reject file and goes on)");
        }
        if (o.dryRun) {
            err.println("dry run: would reject the row with " + where + ": " + why);
            return;
        }
        if (rejects == null) {
            Path parent = o.rejectFile.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            rejects = Files.newBufferedWriter(o.rejectFile, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        ObjectNode line = Json.MAPPER.createObjectNode();
        line.put("reason", why);
        line.set("row", Transfer.toJson(pager.meta(), row));
        rejects.write(Json.MAPPER.writeValueAsString(line));
        rejects.write('\n');
        rejects.flush();
    }

    private void writeState(Object wm) throws IOException {
        ObjectNode n = Json.MAPPER.createObjectNode();
        n.put("job", o.job());
        n.put("cursor", o.cursor);
        if (wm instanceof BigDecimal d) n.put("watermark", d);
        else n.put("watermark", CursorValues.text(wm));
        n.put("updated_at", java.time.Instant.now().toString());
        Path abs = o.state.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        Files.writeString(tmp, Json.MAPPER.writeValueAsString(n) + "\n");
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
