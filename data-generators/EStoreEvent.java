/*
 * The event: one generated e-commerce event (reused), its encoding as an NDJSON line straight into bytes, the
 * batches the sinks take, and the pending duplicates.
 * Why a hand encoder: it writes well over 2M lines/s (bench/e-store); every value it writes is a number, a UUID, an
 * action name or a fixed prefix, so nothing needs escaping.
 * Invariant: a batch's line i and its field columns i describe the same event; a duplicate is the same bytes.
 */
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

final class EStoreEvent {
        int customer, product, action, priceCents;
        long micros, idHi, idLo;

    /** A growable byte buffer. */
    static final class ByteBuf {
        byte[] a;
        int len;

        ByteBuf(int cap) {
            a = new byte[cap];
        }

        void ensure(int more) {
            if (len + more > a.length) a = java.util.Arrays.copyOf(a, Math.max(a.length * 2, len + more));
        }

        void ascii(String s) {
            int n = s.length();
            ensure(n);
            for (int i = 0; i < n; i++) a[len++] = (byte) s.charAt(i);
        }

        void bytes(byte[] b) {
            ensure(b.length);
            System.arraycopy(b, 0, a, len, b.length);
            len += b.length;
        }

        void bytes(byte[] b, int off, int n) {
            ensure(n);
            System.arraycopy(b, off, a, len, n);
            len += n;
        }

        void put(byte b) {
            ensure(1);
            a[len++] = b;
        }

        void digits(long v) { // v >= 0
            ensure(20);
            if (v == 0) {
                a[len++] = '0';
                return;
            }
            int start = len;
            while (v > 0) {
                a[len++] = (byte) ('0' + v % 10);
                v /= 10;
            }
            for (int i = start, j = len - 1; i < j; i++, j--) {
                byte t = a[i];
                a[i] = a[j];
                a[j] = t;
            }
        }

        void fixed(long v, int width) { // zero-padded
            ensure(width);
            for (int i = width - 1; i >= 0; i--) {
                a[len + i] = (byte) ('0' + v % 10);
                v /= 10;
            }
            len += width;
        }
    }

    static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** Writes events as JSON lines, straight into bytes. */
    static final class Encoder {
        final boolean original;
        private long cachedSecond = Long.MIN_VALUE;
        private final byte[] secondText = new byte[20]; // 2026-11-28T16:53:25.
        private static final byte[][] ACTION_JSON = new byte[5][];

        static {
            for (int i = 0; i < 5; i++) ACTION_JSON[i] = ("\",\"action\":\"" + Shop.ACTIONS[i] + "\",\"timestamp\":\"").getBytes(StandardCharsets.US_ASCII);
        }

        private static final byte[] C = "{\"customer_id\":\"customer_".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] P = "\",\"product_id\":\"product_".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] ID = "Z\",\"event_id\":\"".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] PRICE = "\",\"price\":".getBytes(StandardCharsets.US_ASCII);

        Encoder(boolean original) {
            this.original = original;
        }

        void encode(ByteBuf b, EStoreEvent e) {
            b.ensure(256);
            b.bytes(C);
            b.digits(e.customer);
            b.bytes(P);
            b.digits(e.product);
            b.bytes(ACTION_JSON[e.action]);
            timestamp(b, e.micros);
            if (original) {
                b.ascii("Z\"}\n");
                return;
            }
            b.bytes(ID);
            uuid(b, e.idHi, e.idLo);
            if (e.priceCents >= 0) {
                b.bytes(PRICE);
                b.digits(e.priceCents / 100);
                b.put((byte) '.');
                b.fixed(e.priceCents % 100, 2);
                b.ascii("}\n");
            } else {
                b.ascii("\"}\n");
            }
        }

        /** 2026-11-28T16:53:25.123456 (the Z is written by the caller). */
        void timestamp(ByteBuf b, long micros) {
            long sec = Math.floorDiv(micros, 1_000_000L);
            if (sec != cachedSecond) {
                LocalDateTime t = LocalDateTime.ofEpochSecond(sec, 0, ZoneOffset.UTC);
                ByteBuf d = new ByteBuf(20);
                d.fixed(t.getYear(), 4);
                d.put((byte) '-');
                d.fixed(t.getMonthValue(), 2);
                d.put((byte) '-');
                d.fixed(t.getDayOfMonth(), 2);
                d.put((byte) 'T');
                d.fixed(t.getHour(), 2);
                d.put((byte) ':');
                d.fixed(t.getMinute(), 2);
                d.put((byte) ':');
                d.fixed(t.getSecond(), 2);
                d.put((byte) '.');
                System.arraycopy(d.a, 0, secondText, 0, 20);
                cachedSecond = sec;
            }
            b.bytes(secondText);
            b.fixed(Math.floorMod(micros, 1_000_000L), 6);
        }

        static void uuid(ByteBuf b, long hi, long lo) {
            b.ensure(36);
            byte[] a = b.a;
            int p = b.len;
            for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10) a[p++] = '-';
                long v = i < 8 ? hi >>> (56 - 8 * i) : lo >>> (56 - 8 * (i - 8));
                a[p++] = HEX[(int) (v >>> 4) & 15];
                a[p++] = HEX[(int) v & 15];
            }
            b.len = p;
        }

        static String uuid(long hi, long lo) {
            ByteBuf b = new ByteBuf(36);
            uuid(b, hi, lo);
            return new String(b.a, 0, 36, StandardCharsets.US_ASCII);
        }
    }

    /** Up to CAPACITY lines: their bytes and fields. */
    static final class Batch {
        static final int CAPACITY = 4096;
        final ByteBuf bytes = new ByteBuf(CAPACITY * 200);
        final int[] end = new int[CAPACITY];
        final int[] customer = new int[CAPACITY], product = new int[CAPACITY], action = new int[CAPACITY], price = new int[CAPACITY];
        final long[] micros = new long[CAPACITY], idHi = new long[CAPACITY], idLo = new long[CAPACITY];
        final boolean[] duplicate = new boolean[CAPACITY];
        int n;

        void clear() {
            n = 0;
            bytes.len = 0;
        }

        int start(int i) {
            return i == 0 ? 0 : end[i - 1];
        }
    }

    /** A pending duplicate: its line and fields. */
    record Dup(long dueMicros, byte[] line, int customer, int product, int action, int price, long micros, long idHi, long idLo) {}
}
