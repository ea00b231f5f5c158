import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * The NDJSON writer: copies numbers and booleans verbatim and escapes strings straight from the input bytes, into
 * buffers handed to a sink (a stream, or a file written on its own thread). Invariant: a record too long for one
 * buffer is written in pieces with the same bytes as whole, and buffers keep their size (memory bounded by settings).
 */
final class NdjsonOut {
    private NdjsonOut() {}

    /** Where output bytes go: full buffers are handed over and an empty one comes back. */
    interface Sink {
        byte[] swap(byte[] full, int len) throws IOException;

        void close(boolean ok) throws IOException;
    }

    static final class StreamSink implements Sink {
        final OutputStream out;

        StreamSink(OutputStream out) {
            this.out = out;
        }

        public byte[] swap(byte[] full, int len) throws IOException {
            out.write(full, 0, len);
            return full;
        }

        public void close(boolean ok) throws IOException {
            out.flush();
        }
    }

    /** Writes buffers to a file on a background thread (the page-cache copy is real work on 2 cores). */
    static final class AsyncFileSink implements Sink {
        final FileChannel ch;
        final Path shownAs;
        final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(3);
        final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(4);
        final Thread thread;
        volatile Throwable failure;
        static final Object STOP = new Object();

        /** Writes to p; errors name shownAs (the file the user asked for, p being its temp file). */
        AsyncFileSink(Path p, Path shownAs) throws IOException {
            this.shownAs = shownAs;
            try {
                ch = FileChannel.open(p, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.CREATE);
            } catch (IOException e) {
                throw OutputFiles.cannotWrite(shownAs, e);
            }
            for (int i = 0; i < 3; i++) free.add(new byte[Writer.BUF]);
            thread = new Thread(this::loop, "ndjson-writer");
            thread.setDaemon(true);
            thread.start();
        }

        private void loop() {
            try {
                for (;;) {
                    Object o = queue.take();
                    if (o == STOP) return;
                    Object[] item = (Object[]) o;
                    byte[] b = (byte[]) item[0];
                    int len = (Integer) item[1];
                    if (failure == null) {
                        try {
                            ByteBuffer bb = ByteBuffer.wrap(b, 0, len);
                            while (bb.hasRemaining()) ch.write(bb);
                        } catch (Throwable t) {
                            failure = t;
                        }
                    }
                    free.put(b);
                }
            } catch (InterruptedException e) {
                // closing
            }
        }

        public byte[] swap(byte[] full, int len) throws IOException {
            check();
            try {
                queue.put(new Object[] {full, len});
                byte[] next = free.take();
                if (next.length < full.length) next = new byte[full.length];
                return next;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            }
        }

        private void check() {
            Throwable t = failure;
            if (t != null) throw OutputFiles.cannotWrite(shownAs, t);
        }

        public void close(boolean ok) throws IOException {
            try {
                queue.put(STOP);
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                ch.close();
            } catch (IOException e) {
                if (ok) throw OutputFiles.cannotWrite(shownAs, e);
            }
            if (ok) check();
        }
    }

    /** Formats records as JSON lines into a buffer; numbers are copied, strings escaped, straight from the input bytes. */
    static final class Writer {
        static final int BUF = 1 << 20;
        static final byte[] NULL = "null".getBytes(StandardCharsets.US_ASCII), TRUE = "true".getBytes(StandardCharsets.US_ASCII),
                FALSE = "false".getBytes(StandardCharsets.US_ASCII), HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
        final Conversion.Job job;
        final Sink sink;
        final int[] ty;
        final byte[][] keys;
        final int ncols, empty, keysLen;
        final boolean schema, ragged;
        final ValueTypes.Bools bools;
        byte[] ob = Conversion.BUFFERS.get(BUF);
        int op;
        final boolean[] hasEmpty;
        final int[] dateState;

        Writer(Conversion.Job job, Sink sink, int[] ty) {
            this.job = job;
            this.sink = sink;
            this.ty = ty;
            this.keys = job.keys;
            this.ncols = job.ncols;
            this.empty = job.s.empty;
            this.schema = job.s.schema;
            this.ragged = job.s.ragged;
            this.bools = new ValueTypes.Bools(job.s.trueWords, job.s.falseWords);
            ValueTypes.CURRENT_BOOLS.set(bools);
            int kl = 0;
            for (byte[] k : keys) kl += k.length;
            keysLen = kl;
            hasEmpty = new boolean[ncols];
            dateState = new int[ncols];
            Arrays.fill(dateState, ValueTypes.Dates.START);
        }

        /** Adds this writer's column statistics (empties, date shapes) to the job's. */
        void mergeInto(Conversion.Job j) {
            for (int c = 0; c < ncols; c++) {
                j.hasEmpty[c] |= hasEmpty[c];
                j.dateState[c] = ValueTypes.Dates.merge(j.dateState[c], dateState[c]);
            }
        }

        void record(CsvCore.Parser p) throws IOException {
            long need = (p.recEnd - p.recStart) * 6L + keysLen + ncols * 8L + 8;
            if (op + need > ob.length) {
                flush();
                if (need > ob.length) {
                    recordLarge(p);
                    return;
                }
            }
            final byte[] b = p.buf, o = ob;
            final int[] st = p.start, en = p.end;
            final int n = Math.min(p.n, ncols);
            int q = op;
            o[q++] = '{';
            boolean firstKey = true;
            for (int c = 0; c < ncols; c++) {
                int s, e;
                byte fl;
                if (c < n) {
                    s = st[c];
                    e = en[c];
                    fl = p.flags[c];
                } else {
                    s = e = 0;
                    fl = 0;
                }
                if (s == e) {
                    hasEmpty[c] = true;
                    if (empty == CsvToNdjson.Settings.EMPTY_OMIT) continue;
                    q = key(o, q, c, firstKey);
                    firstKey = false;
                    if (empty == CsvToNdjson.Settings.EMPTY_NULL) {
                        System.arraycopy(NULL, 0, o, q, 4);
                        q += 4;
                    } else {
                        o[q++] = '"';
                        o[q++] = '"';
                    }
                    continue;
                }
                q = key(o, q, c, firstKey);
                firstKey = false;
                switch (ty[c]) {
                    case CsvToNdjson.T_INT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !ValueTypes.isInt(b, s, e)) throw bad(p, c);
                        System.arraycopy(b, s, o, q, e - s);
                        q += e - s;
                    }
                    case CsvToNdjson.T_FLOAT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !ValueTypes.isFloat(b, s, e)) throw bad(p, c);
                        System.arraycopy(b, s, o, q, e - s);
                        q += e - s;
                    }
                    case CsvToNdjson.T_BOOL -> {
                        int v = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? -1 : ValueTypes.boolValue(b, s, e, bools);
                        if (v < 0) throw bad(p, c);
                        byte[] w = v == 1 ? TRUE : FALSE;
                        System.arraycopy(w, 0, o, q, w.length);
                        q += w.length;
                    }
                    case CsvToNdjson.T_UNDECIDED -> {
                        // the sample had no value here: a plain string settles it, anything else needs the whole input
                        if (ValueTypes.classify(b, s, e, fl) != 0 && !job.s.stream) throw bad(p, c);
                        ty[c] = CsvToNdjson.T_STRING;
                        o[q++] = '"';
                        q = stringBody(b, s, e, fl, o, q);
                        o[q++] = '"';
                        if (schema) dateState[c] = ValueTypes.Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                    default -> { // the quotes here and one call a string: the copy of the fields is the hot path
                        o[q++] = '"';
                        q = stringBody(b, s, e, fl, o, q);
                        o[q++] = '"';
                        if (schema) dateState[c] = ValueTypes.Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                }
            }
            o[q++] = '}';
            o[q++] = '\n';
            op = q;
        }

        /**
         * A record that may not fit one output buffer (up to 6 output bytes an input byte): the same bytes as
         * {@link #record}, written in pieces, so output buffers keep their size whatever the record.
         */
        private void recordLarge(CsvCore.Parser p) throws IOException {
            final byte[] b = p.buf;
            final int n = Math.min(p.n, ncols);
            put(OPEN, 0, 1);
            boolean firstKey = true;
            for (int c = 0; c < ncols; c++) {
                int s = c < n ? p.start[c] : 0, e = c < n ? p.end[c] : 0;
                byte fl = c < n ? p.flags[c] : 0;
                if (s == e) {
                    hasEmpty[c] = true;
                    if (empty == CsvToNdjson.Settings.EMPTY_OMIT) continue;
                    put(keys[c], firstKey ? 1 : 0, keys[c].length);
                    firstKey = false;
                    if (empty == CsvToNdjson.Settings.EMPTY_NULL) put(NULL, 0, 4);
                    else put(EMPTY_STRING, 0, 2);
                    continue;
                }
                put(keys[c], firstKey ? 1 : 0, keys[c].length);
                firstKey = false;
                switch (ty[c]) {
                    case CsvToNdjson.T_INT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !ValueTypes.isInt(b, s, e)) throw bad(p, c);
                        put(b, s, e);
                    }
                    case CsvToNdjson.T_FLOAT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !ValueTypes.isFloat(b, s, e)) throw bad(p, c);
                        put(b, s, e);
                    }
                    case CsvToNdjson.T_BOOL -> {
                        int v = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? -1 : ValueTypes.boolValue(b, s, e, bools);
                        if (v < 0) throw bad(p, c);
                        byte[] w = v == 1 ? TRUE : FALSE;
                        put(w, 0, w.length);
                    }
                    case CsvToNdjson.T_UNDECIDED -> {
                        if (ValueTypes.classify(b, s, e, fl) != 0 && !job.s.stream) throw bad(p, c);
                        ty[c] = CsvToNdjson.T_STRING;
                        stringLarge(b, s, e, fl);
                        if (schema) dateState[c] = ValueTypes.Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                    default -> {
                        stringLarge(b, s, e, fl);
                        if (schema) dateState[c] = ValueTypes.Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                }
            }
            put(CLOSE, 0, 2);
        }

        static final byte[] OPEN = {'{'}, CLOSE = {'}', '\n'}, QUOTE = {'"'}, EMPTY_STRING = {'"', '"'};

        /** Copies src[s, e) to the output, flushing full buffers. */
        private void put(byte[] src, int s, int e) throws IOException {
            while (s < e) {
                if (op == ob.length) flush();
                int k = Math.min(e - s, ob.length - op);
                System.arraycopy(src, s, ob, op, k);
                op += k;
                s += k;
            }
        }

        /** A JSON string of any length, escaped a piece at a time (a piece never splits a "" pair). */
        private void stringLarge(byte[] b, int s, int e, byte fl) throws IOException {
            put(QUOTE, 0, 1);
            int piece = ob.length / 8;
            for (int i = s; i < e; ) {
                int j = Math.min(e, i + piece);
                if ((fl & CsvCore.Parser.FLAG_ESC) != 0 && j < e) {
                    int k = j;
                    while (k > i && b[k - 1] == '"') k--;
                    if (((j - k) & 1) == 1) j++; // the run of quotes ends with the first of a pair
                }
                if (op + (j - i) * 6 > ob.length) flush();
                op = stringBody(b, i, j, fl, ob, op);
                i = j;
            }
            put(QUOTE, 0, 1);
        }

        private int key(byte[] o, int q, int c, boolean first) {
            byte[] k = keys[c];
            if (first) {
                System.arraycopy(k, 1, o, q, k.length - 1);
                return q + k.length - 1;
            }
            System.arraycopy(k, 0, o, q, k.length);
            return q + k.length;
        }

        private RuntimeException bad(CsvCore.Parser p, int c) {
            if (job.forcedType[c] != 0) {
                String v = p.preview(c);
                return new Cli.Failure(job.src.name + ": line " + p.recordLine + " (record " + p.records + "), column '" + job.names[c]
                        + "': '" + v + "' is not " + (ty[c] == CsvToNdjson.T_INT ? "an " : "a ") + CsvToNdjson.TYPE_NAMES[ty[c]] + " (--types)");
            }
            return new CsvToNdjson.Violation(c, p.records, p.recordLine);
        }

        /** The inside of a JSON string from the field bytes: "" pairs become \", control characters are escaped, UTF-8 is copied. */
        static int stringBody(byte[] b, int s, int e, byte fl, byte[] o, int q) {
            int step = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? 2 : 1;
            int i = s;
            while (i < e) {
                int clean = cleanRun(b, i, e);
                if (clean > i) {
                    System.arraycopy(b, i, o, q, clean - i);
                    q += clean - i;
                    i = clean;
                    if (i >= e) break;
                }
                byte c = b[i];
                if (c == '"') {
                    o[q++] = '\\';
                    o[q++] = '"';
                    i += (fl & CsvCore.Parser.FLAG_QUOTED) != 0 ? step : 1;
                    continue;
                }
                o[q++] = '\\';
                switch (c) {
                    case '\\' -> o[q++] = '\\';
                    case '\n' -> o[q++] = 'n';
                    case '\r' -> o[q++] = 'r';
                    case '\t' -> o[q++] = 't';
                    case '\b' -> o[q++] = 'b';
                    case '\f' -> o[q++] = 'f';
                    default -> {
                        o[q++] = 'u';
                        o[q++] = '0';
                        o[q++] = '0';
                        o[q++] = HEX[(c >> 4) & 0xf];
                        o[q++] = HEX[c & 0xf];
                    }
                }
                i++;
            }
            return q;
        }

        /** The end of the run of bytes that need no escaping (no ", \ or control character), 8 at a time. */
        static int cleanRun(byte[] b, int i, int e) {
            while (i + 8 <= e) {
                long x = (long) CsvToNdjson.LONGS.get(b, i);
                long quote = x ^ 0x2222222222222222L, bs = x ^ 0x5C5C5C5C5C5C5C5CL;
                long t = ((quote - 0x0101010101010101L) & ~quote) | ((bs - 0x0101010101010101L) & ~bs)
                        | ((x - 0x2020202020202020L) & ~x);
                t &= 0x8080808080808080L;
                if (t != 0) return i + (Long.numberOfTrailingZeros(t) >> 3);
                i += 8;
            }
            while (i < e) {
                byte c = b[i];
                if ((c >= 0 && c < 0x20) || c == '"' || c == '\\') return i;
                i++;
            }
            return e;
        }

        void flush() throws IOException {
            if (op > 0) ob = sink.swap(ob, op);
            op = 0;
        }

        void finish() throws IOException {
            flush();
            Conversion.BUFFERS.release(ob);
            ob = null;
        }
    }
}
