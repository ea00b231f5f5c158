import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The scan of csv-splitter: finds record boundaries (CsvCore's eight-bytes-at-a-time scan) and decides the parts. A
 * reader thread reads the input once, sequentially, into a few rotating direct buffers; each chunk is scanned here,
 * then goes to the {@link PartWriter} thread with the cuts decided in it, so reading, scanning and writing overlap
 * (the scan, which checks where each quoted field opens, is the slowest of the three).
 * Invariant: a cut falls only at a record end, and a part holds at least one record.
 */
final class SplitScan implements CsvCore.RecordEnds {
    /** Bytes read and scanned at a time (a multiple of 8); tests make it tiny to cross chunk edges often. */
    static int chunkSize = 512 << 10;
    static final int BUFFERS = 6; // one being read, one scanned, the rest queued or being written
    static final byte[] BOM = CsvCore.BOM;
    /** A longer header is not held in memory (it would grow with the input): each part copies it from the input. */
    static final int MAX_PREFIX_IN_MEMORY = 1 << 20;

    final CsvSplitter.Run run;
    final CsvSplitter.Settings s;
    final SplitInput job;
    final boolean csv;

    // decisions
    boolean headerPending;
    long bomLen, headerEnd, prefixLen, prefixCur;
    byte[] prefix = new byte[0]; // null: the header is long, parts get it copied from the input file
    boolean prefixBom;
    long partStart, prevEnd, rowsInPart, records, emittedRecords;
    int partCount;
    long[] targets; // PARTS mode: cut at the first record end >= targets[nextTarget]
    int nextTarget;
    final CsvCore.ScanState quotes = new CsvCore.ScanState();
    List<CsvSplitter.Part> cuts = new ArrayList<>(); // parts decided in the current chunk
    FileChannel in;

    SplitScan(CsvSplitter.Run run, SplitInput job) {
        this.run = run;
        this.s = run.s;
        this.job = job;
        this.csv = !job.ndjson;
    }

    void run() throws Exception {
        try (FileChannel ch = FileChannel.open(job.input, StandardOpenOption.READ)) {
            in = ch;
            long size = ch.size();
            job.inputSize = size;
            if (size == 0) {
                run.warn(job.display + ": empty input, no parts written");
                return;
            }
            PartWriter writer = new PartWriter(this, ch);
            Thread wt = new Thread(writer, "csv-splitter-writer");
            wt.setDaemon(true);
            wt.start();
            boolean ok = false;
            try (Cli.Progress progress = Cli.Progress.bytes("split " + job.display, size, run.quiet)) {
                scan(ch, size, progress, writer);
                ok = true;
            } finally {
                writer.queue.put(ok ? PartWriter.END : PartWriter.ABORT);
                wt.join();
                if (!ok) writer.stopCompression();
            }
            try {
                writer.rethrow();
                job.written.addAll(writer.results());
            } finally {
                writer.stopCompression();
            }
            job.records = records;
        }
    }

    void scan(FileChannel ch, long size, Cli.Progress progress, PartWriter writer) throws Exception {
        int cap = (int) Math.min(chunkSize, Math.max(8, (size + 7) & ~7L));
        for (int i = 0; i < BUFFERS; i++) writer.free.put(ByteBuffer.allocateDirect(cap).order(ByteOrder.LITTLE_ENDIAN));
        ChunkReader reader = new ChunkReader(ch, size, writer.free);
        Thread rt = new Thread(reader, "csv-splitter-reader");
        rt.setDaemon(true);
        rt.start();
        try {
            long pos = 0;
            boolean first = true;
            for (;;) {
                ByteBuffer buf = reader.filled.take();
                writer.rethrow(); // a write failed (a full disk): stop now
                if (buf == ChunkReader.END) break;
                int n = buf.position();
                if (first) {
                    first = false;
                    start(buf, n);
                }
                scanChunk(buf, n, pos);
                buf.limit(n);
                writer.queue.put(new PartWriter.Chunk(buf, pos, cuts, prevEnd));
                cuts = new ArrayList<>();
                pos += n;
                progress.add(n);
            }
            reader.rethrow();
            end(pos);
            writer.queue.put(new PartWriter.Chunk(null, pos, cuts, pos));
        } finally {
            reader.stop = true;
            rt.join();
        }
    }

    /**
     * The reader thread: fills free buffers with the input in order (a buffer's position is its length) and hands them
     * over, then {@link #END}; a chunk shorter than the buffer only at the end of the input (or where it shrank).
     */
    static final class ChunkReader implements Runnable {
        static final ByteBuffer END = ByteBuffer.allocate(0);
        final FileChannel ch;
        final long size;
        final BlockingQueue<ByteBuffer> free;
        final BlockingQueue<ByteBuffer> filled = new ArrayBlockingQueue<>(BUFFERS + 1);
        volatile boolean stop; // the scan is over (or failed): give up waiting
        volatile Exception failure;

        ChunkReader(FileChannel ch, long size, BlockingQueue<ByteBuffer> free) {
            this.ch = ch;
            this.size = size;
            this.free = free;
        }

        @Override
        public void run() {
            try {
                long pos = 0;
                while (pos < size && !stop) {
                    ByteBuffer buf = free.poll(100, TimeUnit.MILLISECONDS);
                    if (buf == null) continue;
                    buf.clear();
                    while (buf.hasRemaining()) {
                        int r = ch.read(buf, pos + buf.position());
                        if (r < 0) break;
                    }
                    int n = buf.position();
                    if (n == 0) { // the file shrank while we read it
                        free.put(buf);
                        break;
                    }
                    hand(buf);
                    pos += n;
                }
            } catch (Exception e) {
                failure = e;
            }
            try {
                hand(END);
            } catch (InterruptedException e) {
                if (failure == null) failure = e;
            }
        }

        private void hand(ByteBuffer buf) throws InterruptedException {
            while (!stop) if (filled.offer(buf, 100, TimeUnit.MILLISECONDS)) return;
        }

        void rethrow() throws Exception {
            Exception e = failure;
            if (e != null) throw e;
        }
    }

    /** The first chunk: gzip input is refused, a BOM is noted, the header (if any) starts. */
    void start(ByteBuffer buf, int n) {
        if (n >= 2 && buf.get(0) == (byte) 0x1f && buf.get(1) == (byte) 0x8b)
            throw new Cli.Failure(job.display + ": looks gzip-compressed; decompress it on the way in: " + gunzipCommand());
        bomLen = CsvCore.bomLength(buf, n);
        headerPending = csv && s.header();
        if (!headerPending) setupPrefix(bomLen);
    }

    /** The command that splits this input decompressed into the parts splitting it plain would give. */
    String gunzipCommand() {
        String cmd = " | csv-splitter.java -" + run.optionsForHint;
        if (!job.outDir.toString().isEmpty()) cmd += " -o " + CsvSplitter.shellQuoted(job.outDir.toString());
        if (job.stdinSpool) return "... | gzip -dc" + cmd;
        String plain = job.input.getFileName().toString().replaceFirst("(?i)\\.(gz|gzip)$", "");
        int dot = plain.lastIndexOf('.');
        String base = dot <= 0 ? plain : plain.substring(0, dot), ext = dot <= 0 ? "csv" : plain.substring(dot + 1);
        cmd += " --name " + CsvSplitter.shellQuoted(s.nameTemplate().replace("{base}", base).replace("{ext}", ext));
        if (s.format().equals("auto") && (ext.equalsIgnoreCase("ndjson") || ext.equalsIgnoreCase("jsonl"))) cmd += " --format ndjson";
        return "gzip -dc " + CsvSplitter.shellQuoted(job.input.toString()) + cmd;
    }

    /** The header ends at {@code end} (or there is none): the repeated prefix, its size check, the targets. */
    void setupPrefix(long end) {
        headerEnd = end;
        prevEnd = end;
        prefixBom = bomLen > 0 && s.bomEach();
        prefixLen = (prefixBom ? 3 : 0) + end - bomLen;
        if (prefixLen > MAX_PREFIX_IN_MEMORY) {
            prefix = null;
        } else {
            try {
                ByteBuffer h = ByteBuffer.allocate((int) (end - bomLen));
                while (h.hasRemaining()) if (in.read(h, bomLen + h.position()) < 0) break;
                if (h.hasRemaining()) throw new IOException(job.display + ": the input shrank while it was being split");
                prefix = new byte[(int) prefixLen];
                if (prefixBom) System.arraycopy(BOM, 0, prefix, 0, 3);
                System.arraycopy(h.array(), 0, prefix, prefixBom ? 3 : 0, h.position());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        if (s.mode() == CsvSplitter.Mode.SIZE && (s.maxSize() < headerEnd || s.maxSize() < prefixLen))
            throw Cli.usage(job.display + ": --max-size " + s.maxSize() + " B is smaller than the header ("
                    + Math.max(headerEnd, prefixLen) + " bytes with its line end" + (bomLen > 0 ? " and BOM" : "") + ")");
        if (s.mode() == CsvSplitter.Mode.PARTS) {
            long dataLen = job.inputSize - end;
            targets = new long[Math.max(0, s.parts() - 1)];
            for (int i = 1; i < s.parts(); i++) targets[i - 1] = end + ceilDiv((long) i * dataLen, s.parts());
        }
    }

    static long ceilDiv(long a, long b) {
        return -Math.floorDiv(-a, b);
    }

    /** SWAR scan of one chunk; {@code base} is its position in the file. */
    void scanChunk(ByteBuffer buf, int n, long base) {
        if (csv) CsvCore.scanRecordEnds(buf, base == 0 ? (int) bomLen : 0, n, base, quotes, this);
        else CsvCore.scanLineEnds(buf, n, base, this);
    }

    /** A record ends at {@code e} (exclusive; just after its newline, or at the end of the file). */
    @Override
    public void record(long e) {
        if (headerPending) {
            headerPending = false;
            setupPrefix(e);
            return;
        }
        records++;
        switch (s.mode()) {
            case SIZE -> {
                long cap = s.maxSize();
                if (e - partStart + prefixCur > cap) {
                    if (rowsInPart > 0) cut(prevEnd);
                    if (e - partStart + prefixCur > cap) { // this record alone is too big
                        rowsInPart++;
                        prevEnd = e;
                        run.warn(job.display + ": record " + records + " is " + Cli.humanBytes(e - partStart + prefixCur)
                                + (prefixCur > 0 || headerEnd > bomLen ? " with the header" : "") + ", over --max-size "
                                + Cli.humanBytes(cap) + ": it gets part " + (partCount + 1) + " of its own");
                        cut(e);
                        return;
                    }
                }
                rowsInPart++;
                prevEnd = e;
            }
            case ROWS -> {
                rowsInPart++;
                prevEnd = e;
                if (rowsInPart == s.rows()) cut(e);
            }
            case PARTS -> {
                rowsInPart++;
                prevEnd = e;
                if (nextTarget < targets.length && e >= targets[nextTarget]) {
                    cut(e);
                    while (nextTarget < targets.length && targets[nextTarget] <= e) nextTarget++;
                }
            }
        }
    }

    /** The current part ends at {@code end}; the next one starts there. */
    void cut(long end) {
        partCount++;
        cuts.add(new CsvSplitter.Part(partCount, partStart, end, partCount > 1, rowsInPart, emittedRecords + 1));
        emittedRecords += rowsInPart;
        rowsInPart = 0;
        partStart = end;
        prefixCur = prefixLen;
    }

    void end(long size) throws IOException {
        if (quotes.insideQuotes()) {
            long line = 1 + countNewlines(prevEnd);
            String what = headerPending ? "the header" : "record " + (records + 1);
            throw new Cli.Failure(job.display + ": unclosed quote: " + what + ", starting on line " + line
                    + ", runs to the end of the file; no parts written");
        }
        if (prevEnd < size || headerPending) record(size); // the last record has no newline, or a header-only file without one
        if (rowsInPart > 0 || partCount == 0) cut(size);
    }

    long countNewlines(long upTo) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 20);
        long n = 0, pos = 0;
        while (pos < upTo) {
            b.clear();
            if (upTo - pos < b.capacity()) b.limit((int) (upTo - pos));
            int r = in.read(b, pos);
            if (r <= 0) break;
            byte[] a = b.array();
            for (int i = 0; i < r; i++) if (a[i] == '\n') n++;
            pos += r;
        }
        return n;
    }
}
