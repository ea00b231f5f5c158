/*
 * The stream of events: the shop's next event with its time and event_id, encoded into a batch, and the duplicates,
 * each sent after its original (right after it, or --duplicate-delay later) with the same bytes.
 * Why here: the script's loop only asks for a batch; how an event is made and copied is this file's business.
 * Invariant: exactly round(duplicate_data_percentage * 100) of every 10,000 events get one duplicate, and --count
 * counts duplicates too: an event gets a duplicate only when there is still room for it under --count.
 */
import java.util.ArrayDeque;

final class EStoreStream {
    static final int DUP_BLOCK = 10_000;
    final Shop model;
    final EStoreEvent.Encoder enc;
    final Shop.Rng idRng, dupRng;
    final ArrayDeque<EStoreEvent.Dup> pending = new ArrayDeque<>();
    final EStoreEvent e = new EStoreEvent();
    final EStoreEvent.Batch batch = new EStoreEvent.Batch();
    final long startMicros; // simulated clock start, or Long.MIN_VALUE for the wall clock
    final double stepMicros;
    final long delayMicros;
    final int dupPerBlock;
    final EStoreStats st;
    /** Also a COPY row per event (PostgreSQL takes every event). */
    final boolean copyRows;
    int blockLeft, dupLeft;
    long wallBaseMicros, wallBaseNanos;

    EStoreStream(Shop model, long seed, int[] shard, boolean original, long startMicros, double stepMicros, long delayMicros,
            double duplicatePct, boolean copyRows, EStoreStats st) {
        this.copyRows = copyRows;
        this.model = model;
        this.enc = new EStoreEvent.Encoder(original);
        long shardSalt = shard[0] * 1_000_003L + shard[1];
        this.idRng = new Shop.Rng(Shop.Rng.mix(seed, 0x1D000000L + shardSalt));
        this.dupRng = new Shop.Rng(Shop.Rng.mix(seed, 0xD0B00000L + shardSalt));
        this.startMicros = startMicros;
        this.stepMicros = stepMicros;
        this.delayMicros = delayMicros;
        this.dupPerBlock = (int) Math.round(duplicatePct * DUP_BLOCK / 100.0);
        this.st = st;
    }

    /** The wall clock starts now (without --start-time). */
    void startClock() {
        java.time.Instant now = java.time.Instant.now();
        wallBaseMicros = now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
        wallBaseNanos = System.nanoTime();
    }

    long clockMicros() {
        if (startMicros != Long.MIN_VALUE) return startMicros + (long) (st.unique * stepMicros);
        return wallBaseMicros + (System.nanoTime() - wallBaseNanos) / 1000;
    }

    /** Exactly dupPerBlock of every DUP_BLOCK events, at random places (selection sampling). */
    boolean nextIsDuplicate() {
        if (blockLeft == 0) {
            blockLeft = DUP_BLOCK;
            dupLeft = dupPerBlock;
        }
        boolean pick = dupLeft > 0 && dupRng.nextInt(blockLeft) < dupLeft;
        blockLeft--;
        if (pick) dupLeft--;
        return pick;
    }

    /** The pending duplicates into the batch, up to its capacity; false when none was left. */
    boolean drainPending() {
        if (pending.isEmpty()) return false;
        batch.clear();
        while (!pending.isEmpty() && batch.n < EStoreEvent.Batch.CAPACITY) emit(pending.poll());
        return true;
    }

    /** Generates up to n lines into the batch (fewer when --count is reached). */
    void fill(int n, long count) {
        batch.clear();
        for (int i = 0; i < n; i++) {
            long remaining = count - st.sent;
            if (remaining <= 0) break;
            EStoreEvent.Dup head = pending.peek();
            if (head != null && (remaining <= pending.size() || head.dueMicros() <= clockMicros())) {
                emit(pending.poll());
                continue;
            }
            // a duplicate of this event must still fit under --count
            generate(remaining - 1 > pending.size());
        }
    }

    private void generate(boolean roomForDuplicate) {
        EStoreEvent ev = e;
        int a = model.next(ev);
        ev.micros = clockMicros();
        ev.idHi = (idRng.next() & ~0xF000L) | 0x4000L;
        ev.idLo = (idRng.next() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        EStoreEvent.ByteBuf b = batch.bytes;
        int startLen = b.len;
        enc.encode(b, ev);
        int i = batch.n++;
        batch.end[i] = b.len;
        EStoreEvent.ByteBuf c = batch.copy;
        int copyStart = c.len;
        if (copyRows) {
            enc.encodeCopy(c, ev);
            batch.copyEnd[i] = c.len;
        }
        batch.action[i] = a;
        batch.duplicate[i] = false;
        st.unique++;
        st.sent++;
        st.byAction[a]++;
        if (dupPerBlock > 0 && roomForDuplicate && nextIsDuplicate()) {
            byte[] line = java.util.Arrays.copyOfRange(b.a, startLen, b.len);
            long due = delayMicros < 0 ? Long.MIN_VALUE : ev.micros + delayMicros;
            byte[] row = copyRows ? java.util.Arrays.copyOfRange(c.a, copyStart, c.len) : null;
            pending.add(new EStoreEvent.Dup(due, line, row, a));
        }
    }

    private void emit(EStoreEvent.Dup d) {
        batch.bytes.bytes(d.line());
        int i = batch.n++;
        batch.end[i] = batch.bytes.len;
        if (d.copyRow() != null) {
            batch.copy.bytes(d.copyRow());
            batch.copyEnd[i] = batch.copy.len;
        }
        batch.action[i] = d.action();
        batch.duplicate[i] = true;
        st.duplicates++;
        st.sent++;
    }
}
