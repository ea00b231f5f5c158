/*
 * The event: every field in one place. FIELDS lists them (JSON name, how the value is made, PostgreSQL and Tinybird
 * types); the NDJSON line, the Events API payload (the same bytes), the PostgreSQL table 'events' and its COPY rows,
 * the duplicates (the same bytes again) and the Tinybird data source schema all follow from it.
 * Why a hand encoder and not jackson: it writes well over 2M lines/s (bench/e-store); the built-in fields write only
 * digits, a UUID, an action name or a fixed prefix, checked once to need no escaping, and a text() field goes through
 * escapeJson / escapeCopy, which escape everything (EStoreEventTest proves it on hostile strings). The encoder calls
 * each position's field from a call site of its own, so the JIT inlines every field's lambda into the line's code.
 * Invariant: every line is one valid JSON object, and its COPY row holds the same values.
 */
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

final class EStoreEvent {
    /** What the shop decided for this event (reused): the fields below are made from it. */
    int customer, product, action, priceCents;
    long micros, idHi, idLo;

    /**
     * The event's fields, in the order of the NDJSON line. To add one, add a line, for example
     * {@code text("session_id", e -> "session_" + e.customer % 1000),} or {@code integer("quantity", e -> 1 + e.product % 3),}.
     */
    static final Field[] FIELDS = {
        safe("customer_id", "text", "String", true, (o, e) -> o.prefixed(Plain.CUSTOMER, e.customer)),
        safe("product_id", "text", "String", true, (o, e) -> o.prefixed(Plain.PRODUCT, e.product)),
        safe("action", "text", "LowCardinality(String)", true, (o, e) -> o.safe(Plain.ACTION[e.action])),
        safe("timestamp", "timestamptz", "DateTime64(6)", true, (o, e) -> o.timestamp(e.micros)),
        safe("event_id", "uuid", "UUID", false, (o, e) -> o.uuid(e.idHi, e.idLo)),
        cents("price", e -> e.priceCents >= 0, e -> e.priceCents),
    };

    /** The built-in fields' constant bytes, checked to need no escaping. */
    static final class Plain {
        static final byte[] CUSTOMER = ascii("customer_"), PRODUCT = ascii("product_");
        static final byte[][] ACTION = new byte[Shop.ACTIONS.length][];

        static {
            for (int i = 0; i < ACTION.length; i++) ACTION[i] = ascii(Shop.ACTIONS[i]);
        }
    }

    // ------------------------------------------------------------------ how a field is made

    /** Writes a field's value (without quotes) through an Out, which knows whether it writes JSON or a COPY row. */
    interface Value {
        void write(Out o, EStoreEvent e);
    }

    /**
     * One field: its JSON name, whether the JSON value is a quoted string, its PostgreSQL and Tinybird types,
     * whether --format original has it, when it is present (absent: no key in JSON, NULL in PostgreSQL), its value.
     */
    record Field(String name, boolean quoted, String pgType, String tbType, boolean original, Predicate<EStoreEvent> present, Value value) {
        Field {
            if (!name.matches("[a-z_][a-z0-9_]*")) throw new IllegalArgumentException("field name '" + name + "': use a-z, 0-9 and _");
        }
    }

    /** A text field: any string, escaped; null leaves the field out. */
    static Field text(String name, Function<EStoreEvent, String> value) {
        return new Field(name, true, "text", "Nullable(String)", false, e -> value.apply(e) != null, (o, e) -> o.text(value.apply(e)));
    }

    /** A whole-number field. */
    static Field integer(String name, ToLongFunction<EStoreEvent> value) {
        return new Field(name, false, "bigint", "Int64", false, null, (o, e) -> o.integer(value.applyAsLong(e)));
    }

    /** A number field; NaN and infinities (not JSON) leave the field out. */
    static Field number(String name, ToDoubleFunction<EStoreEvent> value) {
        return new Field(name, false, "double precision", "Nullable(Float64)", false, e -> Double.isFinite(value.applyAsDouble(e)),
                (o, e) -> o.number(value.applyAsDouble(e)));
    }

    /** A price in cents, written as 12.34. */
    static Field cents(String name, Predicate<EStoreEvent> present, ToLongFunction<EStoreEvent> cents) {
        return new Field(name, false, "numeric(10,2)", "Nullable(Decimal(10, 2))", false, present, (o, e) -> o.cents(cents.applyAsLong(e)));
    }

    /** A built-in string field whose bytes need no escaping (digits, prefixes and names checked by ascii()). */
    static Field safe(String name, String pgType, String tbType, boolean original, Value value) {
        return new Field(name, true, pgType, tbType, original, null, value);
    }

    /** The bytes of a constant that needs no escaping in JSON or COPY; anything else is refused at start. */
    static byte[] ascii(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') throw new IllegalArgumentException("not a plain constant: " + s);
        }
        return s.getBytes(StandardCharsets.US_ASCII);
    }

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

    /** The writer of values: into JSON (a string's content) or into a COPY text row, each with its escaping. */
    static final class Out {
        ByteBuf b;
        boolean json;
        private long cachedSecond = Long.MIN_VALUE;
        private final byte[] secondText = new byte[20]; // 2026-11-28T16:53:25.

        void safe(byte[] plain) {
            b.bytes(plain);
        }

        void prefixed(byte[] plain, long n) {
            b.bytes(plain);
            b.digits(n);
        }

        void integer(long v) {
            if (v < 0) {
                if (v == Long.MIN_VALUE) {
                    b.ascii(Long.toString(v));
                    return;
                }
                b.put((byte) '-');
                v = -v;
            }
            b.digits(v);
        }

        void number(double v) {
            if (v == Math.rint(v) && Math.abs(v) < 1e15) integer((long) v);
            else b.ascii(Double.toString(v));
        }

        void cents(long c) {
            if (c < 0) {
                b.put((byte) '-');
                c = -c;
            }
            b.digits(c / 100);
            b.put((byte) '.');
            b.fixed(c % 100, 2);
        }

        void text(String s) {
            if (json) escapeJson(b, s);
            else escapeCopy(b, s);
        }

        /** 2026-11-28T16:53:25.123456Z */
        void timestamp(long micros) {
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
            b.put((byte) 'Z');
        }

        void uuid(long hi, long lo) {
            ByteBuf buf = b;
            buf.ensure(36);
            byte[] a = buf.a;
            int p = buf.len;
            // 8-4-4-4-12 hex digits, each group filled from its end by a loop of fixed length (the JIT unrolls it)
            hex(a, p, hi >>> 32, 8);
            a[p + 8] = '-';
            hex(a, p + 9, hi >>> 16, 4);
            a[p + 13] = '-';
            hex(a, p + 14, hi, 4);
            a[p + 18] = '-';
            hex(a, p + 19, lo >>> 48, 4);
            a[p + 23] = '-';
            hex(a, p + 24, lo, 12);
            buf.len = p + 36;
        }

        /** The low n hex digits of v into a[p, p + n). */
        private static void hex(byte[] a, int p, long v, int n) {
            for (int i = p + n - 1; i >= p; i--) {
                a[i] = HEX[(int) v & 15];
                v >>>= 4;
            }
        }
    }

    /** A JSON string's content: quotes, backslashes and control characters escaped; UTF-8; a lone surrogate becomes U+FFFD. */
    static void escapeJson(ByteBuf b, String s) {
        int n = s.length();
        b.ensure(n * 6);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.put((byte) '\\');
                b.put((byte) c);
            } else if (c < 0x20 || c == 0x7f) {
                b.put((byte) '\\');
                b.put((byte) 'u');
                b.put((byte) '0');
                b.put((byte) '0');
                b.put(HEX[c >> 4]);
                b.put(HEX[c & 15]);
            } else {
                i = utf8(b, s, i, c);
            }
        }
    }

    /** A COPY text value: backslash, tab, newline and carriage return escaped; UTF-8; NUL (not in PostgreSQL text) and a lone surrogate become U+FFFD. */
    static void escapeCopy(ByteBuf b, String s) {
        int n = s.length();
        b.ensure(n * 4);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> b.ascii("\\\\");
                case '\t' -> b.ascii("\\t");
                case '\n' -> b.ascii("\\n");
                case '\r' -> b.ascii("\\r");
                case 0 -> i = utf8(b, s, i, '\uFFFD');
                default -> i = utf8(b, s, i, c);
            }
        }
    }

    /** Writes c (and its low surrogate) as UTF-8; returns the index of the last char used. */
    private static int utf8(ByteBuf b, String s, int i, char c) {
        b.ensure(4);
        if (c < 0x80) {
            b.put((byte) c);
            return i;
        }
        if (c < 0x800) {
            b.put((byte) (0xc0 | c >> 6));
            b.put((byte) (0x80 | c & 0x3f));
            return i;
        }
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
            int cp = Character.toCodePoint(c, s.charAt(i + 1));
            b.put((byte) (0xf0 | cp >> 18));
            b.put((byte) (0x80 | cp >> 12 & 0x3f));
            b.put((byte) (0x80 | cp >> 6 & 0x3f));
            b.put((byte) (0x80 | cp & 0x3f));
            return i + 1;
        }
        if (Character.isSurrogate(c)) c = '\uFFFD';
        b.put((byte) (0xe0 | c >> 12));
        b.put((byte) (0x80 | c >> 6 & 0x3f));
        b.put((byte) (0x80 | c & 0x3f));
        return i;
    }

    /** Writes events as NDJSON lines (and, for PostgreSQL, COPY rows) from FIELDS. */
    static final class Encoder {
        final Field[] fields; // the line's: all, or --format original's
        final byte[][] keys; // ,"name": and the opening quote of a string
        final Out out = new Out();

        Encoder(boolean original) {
            java.util.List<Field> l = new java.util.ArrayList<>();
            for (Field f : FIELDS) if (!original || f.original()) l.add(f);
            fields = l.toArray(new Field[0]);
            keys = new byte[fields.length][];
            for (int i = 0; i < fields.length; i++) {
                // the name is checked by Field: a-z, 0-9 and _
                keys[i] = ((i == 0 ? "{" : ",") + "\"" + fields[i].name() + "\":" + (fields[i].quoted() ? "\"" : "")).getBytes(StandardCharsets.US_ASCII);
            }
        }

        void encode(ByteBuf b, EStoreEvent e) {
            b.ensure(256);
            Out o = out;
            o.b = b;
            o.json = true;
            Field[] fs = fields;
            for (int i = 0; i < fs.length; i++) {
                Field f = fs[i];
                if (f.present() != null && !f.present().test(e)) continue;
                b.bytes(keys[i]);
                Value v = f.value();
                // One call site per position: each sees one field's lambda, which the JIT then inlines; the loop's
                // single call site would see every lambda and make an interface call per field (bench/README.md).
                switch (i) {
                    case 0 -> v.write(o, e);
                    case 1 -> v.write(o, e);
                    case 2 -> v.write(o, e);
                    case 3 -> v.write(o, e);
                    case 4 -> v.write(o, e);
                    case 5 -> v.write(o, e);
                    case 6 -> v.write(o, e);
                    case 7 -> v.write(o, e);
                    default -> v.write(o, e);
                }
                if (f.quoted()) b.put((byte) '"');
            }
            b.put((byte) '}');
            b.put((byte) '\n');
        }

        /** A COPY text row of every field, in FIELDS order (copyColumns()); an absent one is NULL. */
        void encodeCopy(ByteBuf b, EStoreEvent e) {
            Out o = out;
            o.b = b;
            o.json = false;
            for (int i = 0; i < FIELDS.length; i++) {
                Field f = FIELDS[i];
                if (i > 0) b.put((byte) '\t');
                if (f.present() != null && !f.present().test(e)) b.ascii("\\N");
                else f.value().write(o, e);
            }
            b.put((byte) '\n');
        }
    }

    /** The column list of the COPY rows: every field, quoted. */
    static String copyColumns() {
        StringBuilder sb = new StringBuilder();
        for (Field f : FIELDS) sb.append(sb.length() == 0 ? "" : ", ").append(Pg.ident(f.name()));
        return sb.toString();
    }

    /** Up to CAPACITY lines: their bytes, their COPY rows (when PostgreSQL takes every event), their action. */
    static final class Batch {
        static final int CAPACITY = 4096;
        final ByteBuf bytes = new ByteBuf(CAPACITY * 200);
        final ByteBuf copy = new ByteBuf(1024);
        final int[] end = new int[CAPACITY], copyEnd = new int[CAPACITY];
        final int[] action = new int[CAPACITY];
        final boolean[] duplicate = new boolean[CAPACITY];
        int n;

        void clear() {
            n = 0;
            bytes.len = 0;
            copy.len = 0;
        }

        int start(int i) {
            return i == 0 ? 0 : end[i - 1];
        }
    }

    /** A pending duplicate: its line, its COPY row (or null) and its action. */
    record Dup(long dueMicros, byte[] line, byte[] copyRow, int action) {}
}
