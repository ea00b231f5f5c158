import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.zip.GZIPInputStream;

/**
 * The converter's input: a source that can be opened again (a file, or stdin spooled while it is read), gunzipped when
 * its first bytes say gzip, transcoded to UTF-8 from --encoding, and read ahead on its own thread that strips a BOM
 * and validates UTF-8. It exists because the parser (CsvCore) works on UTF-8 bytes only and a second pass reads the
 * input again. Invariant: the parser sees valid UTF-8, or the run stops with the byte offset of the first bad byte.
 */
final class CsvInput {
    private CsvInput() {}

    /** An input that can be opened again (a file, or stdin spooled to a temp file while it is read). */
    abstract static class Source {
        final String name;
        final CsvToNdjson.Settings s;

        Source(String name, CsvToNdjson.Settings s) {
            this.name = name;
            this.s = s;
        }

        /** The raw bytes from the start (still compressed, still in the input's encoding). */
        abstract InputStream openRaw() throws IOException;

        abstract boolean reopenable();

        void cleanup() throws IOException {}

        /** The decoded stream: gunzip when the bytes say gzip, transcoding to UTF-8; BOM and validation are in Prefetch. */
        InputStream open() throws IOException {
            InputStream raw = new java.io.BufferedInputStream(openRaw(), 1 << 16);
            raw.mark(2);
            int a = raw.read(), b = raw.read();
            raw.reset();
            InputStream in = raw;
            if (a == 0x1f && b == 0x8b) in = new GZIPInputStream(raw, 1 << 16);
            if (!s.utf8()) in = new Transcoder(in, s.charset);
            return in;
        }

        static Source file(Path p, CsvToNdjson.Settings s) throws IOException {
            if (Files.isDirectory(p)) throw new Cli.Failure(p + ": is a folder, not a CSV file");
            if (!Files.exists(p)) throw new java.nio.file.NoSuchFileException(p.toString());
            return new Source(p.toString(), s) {
                InputStream openRaw() throws IOException {
                    return Files.newInputStream(p);
                }

                boolean reopenable() {
                    return true;
                }
            };
        }

        /** stdin: read as it comes with --stream; otherwise first copied to a temp file, so a second pass can read it. */
        static Source stdin(CsvToNdjson.Settings s, OutputFiles.Temps temps) throws IOException {
            if (s.stream) {
                return new Source("stdin", s) {
                    boolean opened;

                    InputStream openRaw() {
                        if (opened) throw new IllegalStateException("stdin read twice");
                        opened = true;
                        return CsvToNdjson.STDIN.get();
                    }

                    boolean reopenable() {
                        return false;
                    }
                };
            }
            Path spool = temps.create(null, "csv-to-ndjson-stdin", ".csv", Path.of(System.getProperty("java.io.tmpdir")));
            try (OutputStream os = new OutputFiles.Named(Files.newOutputStream(spool, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), spool)) {
                CsvToNdjson.STDIN.get().transferTo(os);
            } catch (IOException | RuntimeException e) {
                OutputFiles.deleteQuietly(spool);
                throw e;
            }
            return new Source("stdin", s) {
                InputStream openRaw() throws IOException {
                    return Files.newInputStream(spool);
                }

                boolean reopenable() {
                    return true;
                }

                @Override
                void cleanup() throws IOException {
                    Files.deleteIfExists(spool);
                }
            };
        }
    }

    /** Any charset to UTF-8 bytes. */
    static final class Transcoder extends InputStream {
        final Reader reader;
        final char[] chars = new char[1 << 15];
        byte[] out = new byte[0];
        int pos, lim;
        char pendingHigh;
        boolean eof;

        Transcoder(InputStream in, Charset cs) {
            this.reader = new InputStreamReader(in, cs.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT));
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (pos >= lim) {
                if (eof) return -1;
                int start = 0;
                if (pendingHigh != 0) {
                    chars[0] = pendingHigh;
                    pendingHigh = 0;
                    start = 1;
                }
                int n;
                try {
                    n = reader.read(chars, start, chars.length - start);
                } catch (java.nio.charset.CharacterCodingException e) {
                    throw new Cli.Failure("the input is not valid in its --encoding: " + e.getMessage());
                }
                if (n < 0) {
                    eof = true;
                    n = 0;
                }
                int total = start + n;
                if (!eof && total > 0 && Character.isHighSurrogate(chars[total - 1])) pendingHigh = chars[--total];
                out = new String(chars, 0, total).getBytes(StandardCharsets.UTF_8);
                pos = 0;
                lim = out.length;
            }
            int k = Math.min(len, lim - pos);
            System.arraycopy(out, pos, b, off, k);
            pos += k;
            return k;
        }

        @Override
        public void close() throws IOException {
            reader.close();
        }
    }

    // ================================================================== reading on its own thread, with UTF-8 validation


    /**
     * Reads the decoded stream on a background thread in 1 MiB chunks, strips a UTF-8 BOM and validates UTF-8
     * there (errors name the byte offset); the parser copies chunks out.
     */
    static final class Prefetch extends InputStream {
        static final byte[] END = new byte[0];
        final BlockingQueue<Object> full = new ArrayBlockingQueue<>(4);
        final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(6);
        final Thread thread;
        final String name;
        volatile boolean closed;
        byte[] cur;
        int curPos, curLim;
        boolean done;

        Prefetch(InputStream in, String name) {
            this.name = name;
            for (int i = 0; i < 5; i++) free.add(new byte[1 << 20]);
            thread = new Thread(() -> pump(in), "csv-reader");
            thread.setDaemon(true);
            thread.start();
        }

        private void pump(InputStream in) {
            Utf8 utf8 = new Utf8();
            long offset = 0;
            boolean first = true;
            try (in) {
                while (!closed) {
                    byte[] b = free.take();
                    int n = 0;
                    while (n < b.length) {
                        int r = in.read(b, n, b.length - n);
                        if (r < 0) break;
                        n += r;
                        if (n >= 1 << 16 && in.available() <= 0) break; // a pipe: hand over what we have
                    }
                    if (n == 0) break;
                    int start = 0;
                    if (first) {
                        first = false;
                        start = CsvCore.bomLength(b, n);
                    }
                    long bad = utf8.check(b, start, n, offset);
                    if (bad >= 0) throw badUtf8(bad);
                    offset += n;
                    full.put(new int[] {start, n});
                    full.put(b);
                }
                if (utf8.need > 0) throw badUtf8(utf8.seqStart);
                full.put(END);
            } catch (InterruptedException e) {
                // closed
            } catch (Throwable t) {
                try {
                    full.put(t);
                } catch (InterruptedException ignored) {
                    // closed
                }
            }
        }

        Cli.Failure badUtf8(long offset) {
            return new Cli.Failure(name + ": invalid UTF-8 at byte offset " + offset
                    + " (use --encoding, e.g. --encoding windows-1252 or ISO-8859-1)");
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            while (cur == null || curPos >= curLim) {
                if (done) return -1;
                if (cur != null) {
                    free.add(cur);
                    cur = null;
                }
                Object o;
                try {
                    o = full.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
                if (o == END) {
                    done = true;
                    return -1;
                }
                if (o instanceof Throwable t) {
                    done = true;
                    if (t instanceof IOException io) throw io;
                    if (t instanceof RuntimeException re) throw re;
                    throw new IOException(t);
                }
                int[] range = (int[]) o;
                try {
                    cur = (byte[]) full.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
                curPos = range[0];
                curLim = range[1];
            }
            int k = Math.min(len, curLim - curPos);
            System.arraycopy(cur, curPos, b, off, k);
            curPos += k;
            return k;
        }

        @Override
        public void close() {
            closed = true;
            thread.interrupt();
        }
    }

    /** A streaming UTF-8 validator (rejects overlongs, surrogates, > U+10FFFF), 8 ASCII bytes at a time. */
    static final class Utf8 {
        int need, lo = 0x80, hi = 0xBF;
        long seqStart;

        /** -1 when valid so far, else the offset of the first bad sequence; base is the offset of b[0]. */
        long check(byte[] b, int from, int to, long base) {
            int i = from;
            while (i < to) {
                if (need == 0) {
                    while (i + 8 <= to && ((long) CsvToNdjson.LONGS.get(b, i) & 0x8080808080808080L) == 0) i += 8;
                    if (i >= to) break;
                    int c = b[i] & 0xff;
                    if (c < 0x80) {
                        i++;
                        continue;
                    }
                    if (c >= 0xC2 && c <= 0xDF) {
                        need = 1; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xE0) {
                        need = 2; lo = 0xA0; hi = 0xBF;
                    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
                        need = 2; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xED) {
                        need = 2; lo = 0x80; hi = 0x9F;
                    } else if (c == 0xF0) {
                        need = 3; lo = 0x90; hi = 0xBF;
                    } else if (c >= 0xF1 && c <= 0xF3) {
                        need = 3; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xF4) {
                        need = 3; lo = 0x80; hi = 0x8F;
                    } else {
                        return base + i;
                    }
                    seqStart = base + i;
                    i++;
                } else {
                    int c = b[i] & 0xff;
                    if (c < lo || c > hi) return seqStart;
                    lo = 0x80;
                    hi = 0xBF;
                    need--;
                    i++;
                }
            }
            return -1;
        }
    }
}
