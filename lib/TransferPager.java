//SOURCES Cli.java
//SOURCES CursorValues.java
//SOURCES Transfer.java
//SOURCES TransferOptions.java

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads one window of the source page by page and queues its rows as complete segments, oldest first: when a page
 * comes back full, the rows newer than its oldest cursor value are kept aside and the window narrows (see
 * {@link Transfer}, "Windows and paging"). Kept-aside segments past a memory bound are dropped and read again when
 * their turn comes. Learns the columns from the first page and checks the cursor and key columns are among them.
 *
 * <p>Why apart: the paging is the subtle part of a transfer and reads best without the writing around it.
 * Invariant: a segment is queued only when every row of its range has been read; a row the window filter could not
 * place by value stops the run before anything of the window is written.
 */
final class TransferPager {
    private final TransferOptions o;
    private final Transfer.Source source;
    private final Transfer.Target target;
    private final AtomicBoolean stop;
    private final Transfer.Totals totals;
    private List<Transfer.Column> meta;
    int cursorIdx = -1;
    int[] keyIdx;
    /** Rows of kept-aside segments held in memory at most (the engine's setting); beyond, segments are re-read when their turn comes. */
    long maxHeldRows;
    private long heldRows;

    TransferPager(TransferOptions o, Transfer.Source source, Transfer.Target target, AtomicBoolean stop, Transfer.Totals totals) {
        this.o = o;
        this.source = source;
        this.target = target;
        this.stop = stop;
        this.totals = totals;
    }

    /** The columns of the endpoint, from its first page (null before). */
    List<Transfer.Column> meta() {
        return meta;
    }

    /** A complete range of the window: its rows in ascending cursor order (null: dropped, read again) and the watermark they reach. */
    record Segment(Object lo, boolean loInclusive, Object hi, List<Object[]> rows, Object watermark) {}

    /** Reads [lo, hi] page by page and queues complete segments, oldest first. */
    void produce(Transfer.Resume lo, Object hi, BlockingQueue<Object> out) throws Exception {
        Deque<Segment> aside = new ArrayDeque<>();
        Object loValue = lo == null ? null : lo.value();
        boolean loInc = lo == null || lo.inclusive();
        Object curHi = hi;
        while (!stop.get()) {
            Transfer.Page p = fetch(loValue, loInc, curHi);
            List<Object[]> rows = within(p.rows(), loValue, loInc, curHi);
            refuseIncomparable(p.rows(), rows.size(), loValue, loInc, curHi);
            boolean full = p.rows().size() >= o.pageSize || p.rowsBeforeLimit() > p.rows().size();
            if (!full) {
                Object wm = curHi != null ? curHi : maxCursor(rows, loValue);
                out.put(new Segment(loValue, loInc, curHi, sortAscending(rows), wm));
                break;
            }
            Object m = null, max = null;
            for (Object[] r : p.rows()) {
                Object c = r[cursorIdx];
                if (c == null) throw new Cli.Failure("the endpoint returned a row with a null cursor (" + o.cursor + "): "
                        + Transfer.toJson(meta, r));
                if (m == null || CursorValues.compare(c, m) < 0) m = c;
                if (max == null || CursorValues.compare(c, max) > 0) max = c;
            }
            boolean belowLo = loValue != null && (CursorValues.compare(m, loValue) < 0 || (CursorValues.compare(m, loValue) == 0 && !loInc));
            List<Object[]> newer = new ArrayList<>();
            for (Object[] r : rows) if (CursorValues.compare(r[cursorIdx], m) > 0) newer.add(r);
            Object wm = curHi != null ? curHi : max;
            if (belowLo) { // everything of the window above lo is in this page
                out.put(new Segment(loValue, loInc, curHi, sortAscending(rows), wm));
                break;
            }
            if (CursorValues.compare(m, max) == 0) {
                throw new Cli.Failure("more than " + p.rows().size() + " rows share " + o.cursor + " = " + CursorValues.text(m)
                        + ": a page of the endpoint can't hold them; raise the page size (--limit-param NAME --page-size N)");
            }
            boolean keep = heldRows + newer.size() <= maxHeldRows;
            if (keep) heldRows += newer.size();
            aside.push(new Segment(m, false, curHi, keep ? sortAscending(newer) : null, wm));
            curHi = m; // narrow: [lo, m], m inclusive (its rows are read again, entirely)
        }
        while (!aside.isEmpty() && !stop.get()) {
            Segment s = aside.pop();
            if (s.rows() != null) {
                heldRows -= s.rows().size();
                out.put(s);
            } else {
                produce(new Transfer.Resume(s.lo(), false, "segment"), s.hi(), out); // dropped to save memory: read again
            }
        }
    }

    /**
     * Rows the window filter dropped although they may belong to the window: their cursor values do not compare
     * with the window's bounds as values (a timestamp bound and a value that is no timestamp, say), so the filter
     * could only order them as text. Dropping them would move the watermark over rows never written; the run
     * stops instead, before anything of the window is handed to the target. Rows that compare as values and fall
     * outside are the endpoint's business (the boundary just below lo comes back by design) and stay dropped.
     */
    private void refuseIncomparable(List<Object[]> page, int kept, Object lo, boolean loInc, Object hi) {
        if (kept == page.size()) return;
        Object floor = lo == null ? null : CursorValues.below(lo);
        long outside = 0;
        Object example = null;
        for (Object[] r : page) {
            Object c = r[cursorIdx];
            if (c == null) continue;
            boolean in = (lo == null || CursorValues.compare(c, lo) > 0 || (loInc && CursorValues.compare(c, lo) == 0)) && (hi == null || CursorValues.compare(c, hi) <= 0);
            if (in) continue;
            boolean boundary = lo != null && CursorValues.compare(c, floor) >= 0 && CursorValues.compare(c, lo) <= 0;
            if (boundary && sameKind(c, lo)) continue;
            if ((lo == null || sameKind(c, lo)) && (hi == null || sameKind(c, hi))) continue;
            outside++;
            if (example == null) example = c;
        }
        if (outside == 0) return;
        String window = o.cursor + (lo == null ? "" : (loInc ? " >= " : " > ") + CursorValues.text(lo)) + (lo != null && hi != null ? " and" : "")
                + (hi == null ? "" : " <= " + CursorValues.text(hi));
        throw new Cli.Failure(String.format(Locale.ROOT, "the endpoint returned %,d rows for the window %s (%,d of them in it) and %,d "
                + "(e.g. %s = %s) can't be placed by value: its %s values and the window's bounds are not the same kind of "
                + "timestamp, date or number; nothing of the window was written and the watermark did not move",
                page.size(), window, kept, outside, o.cursor, CursorValues.text(example), o.cursor));
    }

    /** True when both values parse to the same kind (timestamps and dates alike, numbers) or neither parses (text). */
    private static boolean sameKind(Object a, Object b) {
        Object pa = CursorValues.parse(a), pb = CursorValues.parse(b);
        return pa == null ? pb == null : pb != null && pa.getClass() == pb.getClass();
    }

    private Object maxCursor(List<Object[]> rows, Object dflt) {
        Object max = dflt;
        for (Object[] r : rows) if (max == null || CursorValues.compare(r[cursorIdx], max) > 0) max = r[cursorIdx];
        return max;
    }

    private List<Object[]> sortAscending(List<Object[]> rows) {
        List<Object[]> copy = new ArrayList<>(rows);
        final int ci = cursorIdx;
        copy.sort((a, b) -> CursorValues.compare(a[ci], b[ci]));
        return copy;
    }

    private List<Object[]> within(List<Object[]> rows, Object lo, boolean loInc, Object hi) {
        List<Object[]> out = new ArrayList<>(rows.size());
        for (Object[] r : rows) {
            Object c = r[cursorIdx];
            if (c == null) continue;
            if (lo != null) {
                int k = CursorValues.compare(c, lo);
                if (k < 0 || (k == 0 && !loInc)) continue;
            }
            if (hi != null && CursorValues.compare(c, hi) > 0) continue;
            out.add(r);
        }
        return out;
    }

    private Transfer.Page fetch(Object lo, boolean loInclusive, Object hi) throws Exception {
        Map<String, List<String>> params = new LinkedHashMap<>();
        for (String p : o.params) {
            int eq = p.indexOf('=');
            params.computeIfAbsent(p.substring(0, eq), k -> new ArrayList<>()).add(p.substring(eq + 1));
        }
        if (lo != null) params.put(o.startParam, List.of(CursorValues.text(loInclusive ? CursorValues.below(lo) : lo)));
        if (hi != null) params.put(o.endParam, List.of(CursorValues.text(hi)));
        if (o.limitParam != null) params.put(o.limitParam, List.of(Integer.toString(o.pageSize)));
        Transfer.Page p = source.fetch(params);
        synchronized (this) {
            totals.requests++;
            if (meta == null) {
                meta = p.meta();
                cursorIdx = Transfer.indexOf(meta, o.cursor, "cursor (--cursor)");
                List<String> keys = target.keyColumns();
                keyIdx = new int[keys.size()];
                for (int i = 0; i < keys.size(); i++) keyIdx[i] = Transfer.indexOf(meta, keys.get(i), "key");
            }
        }
        return p;
    }
}
