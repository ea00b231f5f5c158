import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * One input's conversion: types from a sample, then the write, in parallel chunks of whole records, with every value
 * checked against its column's type; a value that does not fit makes a classification pass over the whole input and a
 * second write. Also the chunking: buffers from a pool, cut at line feeds, a cut inside quotes redone one record at a
 * time. Invariant: the types written are those of the whole input, and no value is ever altered.
 */
final class Conversion {
    private Conversion() {}

    static final class Job {
        final CsvToNdjson.Settings s;
        final CsvInput.Source src;
        final Cli.Progress progress;
        String[] names;
        byte[][] keys; // ,"name":
        int ncols;
        int[] type, forcedType, sampleMask;
        boolean[] hasEmpty;
        int[] dateState; // schema only: see Dates
        long rows, bytesIn, raggedRows, sequentialChunks, chunks;
        byte delim;
        int restarts;
        byte[] head;
        int headLen;
        boolean headIsAll;
        Path shownAs; // the output file named in write errors

        Job(CsvToNdjson.Settings s, CsvInput.Source src, Cli.Progress progress) {
            this.s = s;
            this.src = src;
            this.progress = progress;
            ValueTypes.CURRENT_BOOLS.set(new ValueTypes.Bools(s.trueWords, s.falseWords));
        }

        void run(Path part, OutputStream out) throws Exception {
            long progress0 = progress.done();
            InputStream first = new CsvInput.Prefetch(src.open(), src.name);
            try {
                readHead(first);
                delim = s.delim != 0 ? s.delim : CsvCore.detectDelimiter(head, headLen); // per input
                sample();
                try {
                    write(new SequenceInputStream(new ByteArrayInputStream(head, 0, headLen), first), part, out, progress0);
                    return;
                } catch (CsvToNdjson.Violation v) {
                    if (s.stream || !src.reopenable()) {
                        String col = names[v.column];
                        throw new Cli.Failure(src.name + ": line " + v.line + " (record " + v.record + "), column '" + col
                                + "': value does not fit the type " + CsvToNdjson.TYPE_NAMES[type[v.column]]
                                + " guessed from the first records (--stream); rerun without --stream, or with --types '" + col + ":string'");
                    }
                }
            } finally {
                first.close();
            }
            // A value did not fit: classify the whole input, then write again with the final types.
            restarts++;
            classifyAll();
            try (InputStream again = new CsvInput.Prefetch(src.open(), src.name)) {
                write(again, part, out, progress0);
            }
        }

        private void readHead(InputStream in) throws IOException {
            head = new byte[Math.max(s.sampleBytes, 4096)];
            headLen = in.readNBytes(head, 0, head.length);
            headIsAll = headLen < head.length;
            if (headLen == 0) throw new Cli.Failure(src.name + ": the input is empty");
        }

        /** Header and the first records of the head: names, keys and tentative types. */
        private void sample() throws IOException {
            CsvCore.Parser p = new CsvCore.Parser(new ByteArrayInputStream(head, 0, headLen), src.name, delim, !headIsAll);
            p.maxRecord = s.maxRecord;
            // make sure the header is inside the head
            boolean got = p.next();
            if (!got && !headIsAll) throw new Cli.Failure(src.name + ": the first record is longer than --sample " + s.sampleBytes + " bytes; give a larger --sample");
            if (!got) throw new Cli.Failure(src.name + ": the input is empty (no records)");
            setColumns(p);
            p.columns = names;
            if (s.header) p.records = 0; // record numbers count data records
            sampleMask = new int[ncols];
            boolean[] seen = new boolean[ncols];
            Arrays.fill(sampleMask, CsvToNdjson.M_ALL);
            boolean more = s.header ? p.next() : true;
            while (more) {
                int m = Math.min(p.n, ncols);
                for (int c = 0; c < m; c++) {
                    int st = p.start[c], en = p.end[c];
                    if (st == en) continue;
                    seen[c] = true;
                    sampleMask[c] &= ValueTypes.classify(p.buf, st, en, p.flags[c]);
                }
                more = p.next();
            }
            type = new int[ncols];
            for (int c = 0; c < ncols; c++) {
                type[c] = forcedType[c] != 0 ? forcedType[c] : s.allStrings ? CsvToNdjson.T_STRING : !seen[c] ? CsvToNdjson.T_UNDECIDED : CsvToNdjson.typeOf(sampleMask[c]);
                if (s.empty == CsvToNdjson.Settings.EMPTY_STRING && type[c] > CsvToNdjson.T_STRING && forcedType[c] == 0) type[c] = CsvToNdjson.T_STRING;
            }
        }

        private void setColumns(CsvCore.Parser p) {
            List<String> raw = new ArrayList<>();
            if (s.columns != null) raw.addAll(s.columns);
            else if (s.header) for (int i = 0; i < p.n; i++) raw.add(p.text(i));
            else for (int i = 0; i < p.n; i++) raw.add("column_" + (i + 1));
            if (raw.size() == 1 && raw.get(0).isEmpty() && s.header) throw new Cli.Failure(src.name + ": the header row is empty");
            Map<String, Integer> seen = new HashMap<>();
            List<String> out = new ArrayList<>();
            for (int i = 0; i < raw.size(); i++) {
                String name = raw.get(i);
                Integer prev = seen.putIfAbsent(name, i);
                if (prev != null) {
                    if (!s.dedupe) throw new Cli.Failure(src.name + ": duplicate column name '" + name + "' (columns " + (prev + 1) + " and " + (i + 1)
                            + "); use --dedupe-headers to rename it");
                    int k = 2;
                    while (seen.containsKey(name + "_" + k) || raw.contains(name + "_" + k)) k++;
                    name = name + "_" + k;
                    seen.put(name, i);
                }
                out.add(name);
            }
            names = out.toArray(String[]::new);
            ncols = names.length;
            keys = new byte[ncols][];
            for (int i = 0; i < ncols; i++) {
                String k = "," + Cli.jsonString(names[i]) + ":";
                keys[i] = k.getBytes(StandardCharsets.UTF_8);
            }
            forcedType = new int[ncols];
            for (Map.Entry<String, Integer> e : s.forced.entrySet()) {
                int idx = Arrays.asList(names).indexOf(e.getKey());
                if (idx < 0) throw Cli.usage("--types: no column named '" + e.getKey() + "' in " + src.name + " (columns: " + String.join(", ", names) + ")");
                forcedType[idx] = e.getValue();
            }
        }

        /** The fallback: every value of the whole input decides its column's type. */
        private void classifyAll() throws IOException {
            int[] mask = new int[ncols];
            boolean[] seen = new boolean[ncols];
            Arrays.fill(mask, CsvToNdjson.M_ALL);
            try (InputStream in = new CsvInput.Prefetch(src.open(), src.name)) {
                CsvCore.Parser p = new CsvCore.Parser(in, src.name, delim, false);
                p.maxRecord = s.maxRecord;
                p.columns = names;
                if (s.header) {
                    p.next();
                    p.records = 0; // record numbers count data records
                }
                while (p.next()) {
                    int m = Math.min(p.n, ncols);
                    for (int c = 0; c < m; c++) {
                        int st = p.start[c], en = p.end[c];
                        if (st == en) continue;
                        seen[c] = true;
                        mask[c] &= ValueTypes.classify(p.buf, st, en, p.flags[c]);
                    }
                }
            }
            for (int c = 0; c < ncols; c++) {
                if (forcedType[c] != 0 || s.allStrings) continue;
                type[c] = seen[c] ? CsvToNdjson.typeOf(mask[c]) : CsvToNdjson.T_STRING;
                if (s.empty == CsvToNdjson.Settings.EMPTY_STRING) type[c] = CsvToNdjson.T_STRING;
            }
        }

        /**
         * Converts the stream on all cores: a chunker cuts it into about 1 MiB chunks after a line feed, workers parse
         * and format the chunks in parallel, and this thread writes their output in order. A cut is a guess (the line
         * feed may be inside a quoted field): a chunk counts only when its records end exactly at its cut. When one
         * does not, or a chunk fails (a ragged row, a value that does not fit), the rest of the input from that chunk
         * on is converted here, one record after another, which gives exact line numbers in the error.
         */
        private void write(InputStream in, Path part, OutputStream out, long progress0) throws Exception {
            progress.set(progress0);
            rows = 0;
            raggedRows = 0;
            hasEmpty = new boolean[ncols];
            dateState = new int[ncols];
            Arrays.fill(dateState, ValueTypes.Dates.START);
            int[] ty = type.clone();
            NdjsonOut.Sink sink = part != null ? new NdjsonOut.AsyncFileSink(part, shownAs) : new NdjsonOut.StreamSink(out);
            Chunker chunker = new Chunker(in, progress, progress0);
            int nWorkers = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
            java.util.concurrent.ExecutorService workers = java.util.concurrent.Executors.newFixedThreadPool(nWorkers, r -> {
                Thread th = new Thread(r, "csv-worker");
                th.setDaemon(true);
                return th;
            });
            chunker.workers = workers;
            chunker.work = c -> convertChunk(c, ty);
            Thread chunkThread = new Thread(chunker, "csv-chunker");
            chunkThread.setDaemon(true);
            chunkThread.start();
            boolean ok = false;
            long lines = 0, records = 0;
            sequentialChunks = 0;
            try {
                for (;;) {
                    Chunk c = chunker.next();
                    if (c == null) break;
                    ChunkResult r = c.result.get();
                    if (r.error == null && r.clean) {
                        for (int i = 0; i < r.bufs.size(); i++) BUFFERS.release(sink.swap(r.bufs.get(i), r.lens.get(i)));
                        r.writer.mergeInto(this);
                        rows += r.rows;
                        raggedRows += r.ragged;
                        lines += r.lines;
                        records += r.records;
                        BUFFERS.release(c.data);
                        continue;
                    }
                    // this chunk's cut was inside a quoted field, or it failed: go on one record at a time from here,
                    // up to the first chunk end that is also a record end; the chunks after it were cut right
                    ChunkStream cs = new ChunkStream(chunker, c);
                    CsvCore.Parser p = new CsvCore.Parser(cs, src.name, delim, false);
                    p.maxRecord = s.maxRecord;
                    p.columns = names;
                    p.line = 1 + lines;
                    p.records = records;
                    NdjsonOut.Writer w = new NdjsonOut.Writer(this, sink, ty);
                    if (c.index == 0 && s.header) {
                        if (!p.next()) throw new Cli.Failure(src.name + ": the input is empty");
                        p.records = 0; // record numbers count data records
                    }
                    boolean more = false;
                    while (p.next()) {
                        if (p.n != ncols) {
                            if (!s.ragged) throw new Cli.Failure(src.name + ": line " + p.recordLine + " (record " + p.records + ") has "
                                    + p.n + " fields, expected " + ncols + " (--allow-ragged pads or truncates such rows)");
                            raggedRows++;
                        }
                        w.record(p);
                        rows++;
                        if (p.pos == p.lim && cs.atChunkEnd() && !cs.cur.last) {
                            more = true;
                            break;
                        }
                    }
                    w.finish();
                    w.mergeInto(this);
                    lines = p.line - 1;
                    records = p.records;
                    sequentialChunks += cs.chunks;
                    if (!more) break;
                }
                ok = true;
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) throw ex;
                throw new IOException(cause);
            } finally {
                chunker.abandon = true;
                chunkThread.interrupt();
                workers.shutdownNow();
                sink.close(ok);
            }
            if (chunker.failure != null) throw chunker.failure;
            type = ty; // UNDECIDED columns settled while writing
            bytesIn = chunker.bytes;
            chunks = chunker.count;
        }

        /** A worker's job: parse and format one chunk into pooled buffers; errors are kept for the in-order check. */
        ChunkResult convertChunk(Chunk c, int[] ty) {
            ChunkResult r = new ChunkResult();
            if (c.abandoned()) {
                r.error = new IllegalStateException("abandoned");
                return r;
            }
            CsvCore.Parser p = new CsvCore.Parser(c.data, c.len, src.name, delim, c.last);
            p.maxRecord = s.maxRecord;
            CollectSink cs = new CollectSink(r);
            try {
                NdjsonOut.Writer w = new NdjsonOut.Writer(this, cs, ty);
                r.writer = w;
                if (c.index == 0 && s.header) {
                    if (!p.next()) throw new Cli.Failure(src.name + ": the input is empty");
                    p.records = 0;
                }
                while (p.next()) {
                    if (p.n != ncols) {
                        if (!s.ragged) throw new Cli.Failure("ragged");
                        r.ragged++;
                    }
                    w.record(p);
                    r.rows++;
                }
                w.finish();
                r.clean = !p.incomplete;
                r.lines = p.line - 1;
                r.records = p.records;
            } catch (Throwable e) {
                r.error = e;
            }
            if (r.error != null || !r.clean) {
                for (byte[] b : r.bufs) BUFFERS.release(b);
                r.bufs.clear();
                r.lens.clear();
            }
            return r;
        }

        String schemaText(boolean datasourceFile) {
            StringBuilder sb = new StringBuilder();
            if (datasourceFile) sb.append("SCHEMA >\n");
            Map<String, Integer> used = new HashMap<>();
            for (int c = 0; c < ncols; c++) {
                String ch = switch (type[c]) {
                    case CsvToNdjson.T_INT -> "Int64";
                    case CsvToNdjson.T_FLOAT -> "Float64";
                    case CsvToNdjson.T_BOOL -> "Bool";
                    default -> ValueTypes.Dates.clickhouseType(dateState[c]);
                };
                boolean nullable = hasEmpty[c] && s.empty != CsvToNdjson.Settings.EMPTY_STRING;
                if (nullable) ch = "Nullable(" + ch + ")";
                String col = columnName(names[c], used);
                sb.append(datasourceFile ? "    " : "").append('`').append(col).append("` ").append(ch).append(" `json:")
                        .append(jsonPath(names[c])).append('`').append(c + 1 < ncols ? "," : "").append('\n');
            }
            return sb.toString();
        }
    }

    /** Reused 1 MiB buffers (input chunks and output), so a big file allocates little. */
    static final class Pool {
        static final int SIZE = 1 << 20;
        final java.util.concurrent.ConcurrentLinkedQueue<byte[]> free = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();

        byte[] get(int min) {
            if (min <= SIZE) {
                byte[] b = free.poll();
                if (b != null) {
                    count.decrementAndGet();
                    return b;
                }
                return new byte[SIZE];
            }
            return new byte[min];
        }

        void release(byte[] b) {
            if (b != null && b.length == SIZE && count.incrementAndGet() <= 48) free.add(b);
            else if (b != null && b.length == SIZE) count.decrementAndGet();
        }
    }

    static final Pool BUFFERS = new Pool();

    /** A piece of the input that ends just after a line feed (or at the end of the input). */
    static final class Chunk {
        final int index, len;
        final byte[] data;
        final boolean last;
        final Chunker owner;
        java.util.concurrent.Future<ChunkResult> result;

        Chunk(Chunker owner, int index, byte[] data, int len, boolean last) {
            this.owner = owner;
            this.index = index;
            this.data = data;
            this.len = len;
            this.last = last;
        }

        boolean abandoned() {
            return owner.abandon;
        }
    }

    static final class ChunkResult {
        final List<byte[]> bufs = new ArrayList<>();
        final List<Integer> lens = new ArrayList<>();
        NdjsonOut.Writer writer;
        long rows, ragged, lines, records;
        boolean clean;
        Throwable error;
    }

    /** Collects a worker's output buffers. */
    static final class CollectSink implements NdjsonOut.Sink {
        final ChunkResult r;

        CollectSink(ChunkResult r) {
            this.r = r;
        }

        public byte[] swap(byte[] full, int len) {
            r.bufs.add(full);
            r.lens.add(len);
            return BUFFERS.get(full.length);
        }

        public void close(boolean ok) {}
    }

    /** Cuts the input into chunks after the last line feed of each MiB and hands them to the workers, in order. */
    static final class Chunker implements Runnable {
        static final Chunk END = new Chunk(null, -1, null, 0, true);
        /** The largest chunk: chunks in flight stay bounded whatever the records (a longer one goes one record at a time). */
        static final int MAX_CHUNK = 8 << 20;
        final InputStream in;
        final Cli.Progress progress;
        final long progress0;
        final BlockingQueue<Chunk> queue = new ArrayBlockingQueue<>(6);
        java.util.concurrent.ExecutorService workers;
        java.util.function.Function<Chunk, ChunkResult> work;
        volatile boolean abandon;
        volatile Exception failure;
        volatile long bytes;
        volatile int count;

        Chunker(InputStream in, Cli.Progress progress, long progress0) {
            this.in = in;
            this.progress = progress;
            this.progress0 = progress0;
        }

        @Override
        public void run() {
            try {
                byte[] b = BUFFERS.get(Pool.SIZE);
                int n = 0, index = 0;
                long total = 0;
                for (;;) {
                    int r = n < b.length ? in.read(b, n, b.length - n) : 0;
                    if (r < 0) {
                        if (n > 0 || index == 0) put(new Chunk(this, index++, b, n, true));
                        break;
                    }
                    n += r;
                    total += r;
                    bytes = total;
                    progress.set(progress0 + total);
                    if (n < b.length) continue;
                    int cut = n;
                    while (cut > 0 && b[cut - 1] != '\n') cut--;
                    if (cut == 0) {
                        if (b.length < MAX_CHUNK) { // no line feed yet: a long record, read on into a bigger buffer
                            b = Arrays.copyOf(b, Math.min(MAX_CHUNK, b.length * 2));
                            continue;
                        }
                        cut = n; // still none: cut anyway; the check will fail and the rest goes one record at a time
                    }
                    byte[] next = BUFFERS.get(Math.min(MAX_CHUNK, Math.max(Pool.SIZE, (n - cut) * 2)));
                    System.arraycopy(b, cut, next, 0, n - cut);
                    put(new Chunk(this, index++, b, cut, false));
                    n = n - cut;
                    b = next;
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                failure = e;
            }
            try {
                queue.put(END);
            } catch (InterruptedException ignored) {
                // closing
            }
        }

        private void put(Chunk c) throws InterruptedException {
            Chunk chunk = c;
            count = c.index + 1;
            chunk.result = workers.submit(() -> work.apply(chunk));
            queue.put(chunk);
        }

        /** The next chunk in input order, or null at the end (a read failure is thrown). */
        Chunk next() throws Exception {
            Chunk c = queue.take();
            if (c == END) {
                if (failure != null) throw failure;
                return null;
            }
            return c;
        }
    }

    /** The input from a chunk on, chunk after chunk (one chunk's bytes per read), for the one-record-at-a-time path. */
    static final class ChunkStream extends InputStream {
        final Chunker chunker;
        Chunk cur;
        int pos, chunks = 1;

        ChunkStream(Chunker chunker, Chunk first) {
            this.chunker = chunker;
            this.cur = first;
        }

        /** True when every byte of the current chunk has been read. */
        boolean atChunkEnd() {
            return pos >= cur.len;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] dst, int off, int len) throws IOException {
            while (pos >= cur.len) {
                if (cur.last) return -1;
                Chunk c;
                try {
                    c = chunker.next();
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
                if (c == null) return -1;
                cur = c;
                pos = 0;
                chunks++;
            }
            int k = Math.min(len, cur.len - pos);
            System.arraycopy(cur.data, pos, dst, off, k);
            pos += k;
            return k;
        }
    }

    /** A Tinybird column name: letters, digits and _, not starting with a digit; unique. */
    static String columnName(String name, Map<String, Integer> used) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            sb.append((ch < 128 && (Character.isLetterOrDigit(ch) || ch == '_')) ? ch : '_');
        }
        if (sb.isEmpty() || Character.isDigit(sb.charAt(0))) sb.insert(0, '_');
        String base = sb.toString(), n = base;
        int k = used.merge(base.toLowerCase(Locale.ROOT), 1, Integer::sum);
        if (k > 1) n = base + "_" + k;
        return n;
    }

    /** $.name for plain names, $.['odd name'] otherwise. */
    static String jsonPath(String name) {
        if (name.matches("[A-Za-z_][A-Za-z0-9_]*")) return "$." + name;
        return "$.['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']";
    }
}
