import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPOutputStream;

/**
 * The writer thread of csv-splitter. Writes the parts, one after the other, from the scanned chunks (the bytes are read once). Bytes of a part that
 * are no longer in a buffer (the tail of a record that spans chunks) are copied from the input file.
 * Plain parts are written with {@link FileChannel#write}; --gzip and --manifest go through streams.
 * Invariant: each part is the repeated prefix followed by the input's bytes [start, end), verbatim.
 */
final class PartWriter implements Runnable {
    record Chunk(ByteBuffer buf, long base, List<CsvSplitter.Part> cuts, long decided) {}

    static final Chunk END = new Chunk(null, -1, List.of(), -1), ABORT = new Chunk(null, -1, List.of(), -1);

    final SplitScan sp;
    final FileChannel in;
    final java.util.concurrent.BlockingQueue<Chunk> queue = new java.util.concurrent.ArrayBlockingQueue<>(SplitScan.BUFFERS + 2);
    final java.util.concurrent.BlockingQueue<ByteBuffer> free = new java.util.concurrent.ArrayBlockingQueue<>(SplitScan.BUFFERS);
    final List<CsvSplitter.Written> written = new ArrayList<>();
    volatile Throwable failure;

    // the part being written
    int current = 1;
    long pos; // input bytes [0, pos) are written
    Path tmp;
    FileChannel outCh;
    OutputStream outStream;
    CountingStream counted;
    MessageDigest md;
    byte[] copyBuf;

    PartWriter(SplitScan sp, FileChannel in) {
        this.sp = sp;
        this.in = in;
    }

    @Override
    public void run() {
        try {
            while (true) {
                Chunk c = queue.take();
                if (c == END || c == ABORT) break;
                if (failure == null) {
                    try {
                        for (CsvSplitter.Part p : c.cuts()) {
                            advance(c, p.end());
                            finishPart(p);
                        }
                        advance(c, c.decided());
                    } catch (IOException e) {
                        failure = sp.job.cannotWrite(current, e);
                    } catch (Throwable t) {
                        failure = t;
                    }
                }
                if (c.buf() != null) free.put(c.buf());
            }
        } catch (InterruptedException e) {
            failure = e;
        } finally {
            closeQuietly();
        }
    }

    void rethrow() {
        Throwable t = failure;
        if (t != null) throw sneaky(t);
    }

    @SuppressWarnings("unchecked")
    static <T extends Throwable> RuntimeException sneaky(Throwable t) throws T {
        throw (T) t;
    }

    /** Writes input bytes [pos, to) to the current part: from the file before the chunk, then from the chunk. */
    void advance(Chunk c, long to) throws IOException, NoSuchAlgorithmException {
        if (to <= pos) return;
        open();
        long fromBuf = c.buf() == null ? to : Math.max(pos, c.base());
        if (pos < fromBuf) copyFromFile(pos, Math.min(to, fromBuf));
        if (fromBuf < to) {
            ByteBuffer slice = c.buf().slice((int) (fromBuf - c.base()), (int) (to - fromBuf));
            if (outCh != null) {
                while (slice.hasRemaining()) outCh.write(slice);
            } else {
                if (copyBuf == null) copyBuf = new byte[1 << 16];
                while (slice.hasRemaining()) {
                    int k = Math.min(copyBuf.length, slice.remaining());
                    slice.get(copyBuf, 0, k);
                    outStream.write(copyBuf, 0, k);
                }
            }
        }
        pos = to;
    }

    void copyFromFile(long from, long to) throws IOException {
        if (outCh != null) {
            while (from < to) {
                long n = in.transferTo(from, to - from, outCh);
                if (n <= 0) throw new Cli.Failure(sp.job.display + ": the input shrank while it was being split; no parts written");
                from += n;
            }
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        while (from < to) {
            b.clear();
            if (to - from < b.capacity()) b.limit((int) (to - from));
            int r = in.read(b, from);
            if (r <= 0) throw new Cli.Failure(sp.job.display + ": the input shrank while it was being split; no parts written");
            outStream.write(b.array(), 0, r);
            from += r;
        }
    }

    void open() throws IOException, NoSuchAlgorithmException {
        if (tmp != null) return;
        tmp = sp.job.tmpDir.resolve("part-" + current);
        if (sp.s.gzip() || !sp.s.digest()) { // with --gzip: the plain part first, compressed on the pool
            outCh = FileChannel.open(sp.s.gzip() ? raw(tmp) : tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } else {
            md = sp.s.digest() ? MessageDigest.getInstance("SHA-256") : null;
            OutputStream file = new java.io.BufferedOutputStream(
                    Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), 1 << 16);
            counted = new CountingStream(md == null ? file : new DigestOutputStream(file, md));
            outStream = counted;
        }
        if (current > 1) writePrefix();
    }

    /** The repeated header (and BOM with --bom-each), from memory or, when long, from the input file. */
    void writePrefix() throws IOException {
        byte[] head = sp.prefix != null ? sp.prefix : sp.prefixBom ? SplitScan.BOM : new byte[0];
        if (outCh != null) {
            ByteBuffer pre = ByteBuffer.wrap(head);
            while (pre.hasRemaining()) outCh.write(pre);
        } else {
            outStream.write(head);
        }
        if (sp.prefix == null) copyFromFile(sp.bomLen, sp.headerEnd);
    }

    void finishPart(CsvSplitter.Part p) throws IOException, NoSuchAlgorithmException {
        open();
        long bytes;
        String sha = null;
        if (outCh != null && sp.s.gzip()) {
            outCh.close();
            outCh = null;
            Path gz = tmp;
            compressed.add(zipPool().submit(() -> gzip(p, raw(gz), gz)));
            tmp = null;
            current++;
            return;
        } else if (outCh != null) {
            bytes = outCh.size();
            outCh.close();
            outCh = null;
        } else {
            outStream.close();
            bytes = counted.count;
            if (md != null) sha = HexFormat.of().formatHex(md.digest());
            outStream = null;
        }
        written.add(new CsvSplitter.Written(p, tmp, bytes, sha));
        tmp = null;
        current++;
    }

    // --gzip: deflate is the slow part (about gzip -6 speed per core), so parts are compressed in parallel
    final List<Future<CsvSplitter.Written>> compressed = new ArrayList<>();
    ExecutorService zip;

    ExecutorService zipPool() {
        if (zip == null) {
            zip = Executors.newFixedThreadPool(Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), r -> {
                Thread t = new Thread(r, "csv-splitter-gzip");
                t.setDaemon(true);
                return t;
            });
        }
        return zip;
    }

    static Path raw(Path part) {
        return part.resolveSibling(part.getFileName() + ".raw");
    }

    CsvSplitter.Written gzip(CsvSplitter.Part p, Path raw, Path gz) throws NoSuchAlgorithmException {
        MessageDigest digest = sp.s.digest() ? MessageDigest.getInstance("SHA-256") : null;
        CountingStream count;
        try {
            try (InputStream in = Files.newInputStream(raw);
                 OutputStream file = new java.io.BufferedOutputStream(
                         Files.newOutputStream(gz, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), 1 << 16)) {
                count = new CountingStream(digest == null ? file : new DigestOutputStream(file, digest));
                try (GZIPOutputStream z = new GZIPOutputStream(count, 1 << 16)) {
                    in.transferTo(z);
                }
            }
            Files.delete(raw);
        } catch (IOException e) {
            throw sp.job.cannotWrite(p.index(), e);
        }
        return new CsvSplitter.Written(p, gz, count.count, digest == null ? null : HexFormat.of().formatHex(digest.digest()));
    }

    /** After the writer thread ended: the parts in order (waits for the compression of --gzip parts). */
    List<CsvSplitter.Written> results() throws InterruptedException {
        for (Future<CsvSplitter.Written> f : compressed) {
            try {
                written.add(f.get());
            } catch (ExecutionException e) {
                throw sneaky(e.getCause());
            }
        }
        return written;
    }

    void stopCompression() throws InterruptedException {
        if (zip != null) {
            zip.shutdownNow();
            zip.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
        }
    }

    void closeQuietly() {
        try {
            if (outCh != null) outCh.close();
            if (outStream != null) outStream.close();
        } catch (IOException ignored) {
            // the temporary folder is deleted anyway
        }
    }
}

/** Counts the bytes that reach the file. */
final class CountingStream extends java.io.FilterOutputStream {
    long count;

    CountingStream(OutputStream out) {
        super(out);
    }

    @Override
    public void write(int b) throws IOException {
        out.write(b);
        count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        count += len;
    }
}
