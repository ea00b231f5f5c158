//SOURCES Cli.java

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The CSV core of csv-to-ndjson and csv-splitter: record boundaries and fields of RFC 4180 CSV over bytes (quotes,
 * doubled quotes, line breaks inside quotes, LF, CRLF and a lone CR as line ends, a UTF-8 BOM, any one-byte
 * delimiter, line and record numbers for errors). Input in another encoding is transcoded to UTF-8 before it gets
 * here, so every delimiter, quote and line break is one ASCII byte.
 *
 * <p>Why not commons-csv here: both tools work on bytes, copying slices and never decoding a value to a String; a
 * commons-csv converter measured 2.4x slower. commons-csv is the oracle instead: CsvCoreTest compares the two on
 * thousands of generated documents. Invariant: the core and commons-csv agree on every record of a document, or both
 * reject it.
 *
 * <p>Two ways in: {@link Parser} gives the fields of each record (the converter); {@link #scanRecordEnds} only finds
 * where records end, eight bytes at a time (the splitter, which copies records verbatim and needs no fields).
 */
public final class CsvCore {
    private CsvCore() {}

    public static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    /** 3 when b starts with a UTF-8 BOM, else 0. */
    public static int bomLength(byte[] b, int len) {
        return len >= 3 && b[0] == BOM[0] && b[1] == BOM[1] && b[2] == BOM[2] ? 3 : 0;
    }

    /** 3 when buf (from 0) starts with a UTF-8 BOM, else 0. */
    public static int bomLength(ByteBuffer buf, int len) {
        return len >= 3 && buf.get(0) == BOM[0] && buf.get(1) == BOM[1] && buf.get(2) == BOM[2] ? 3 : 0;
    }

    // ------------------------------------------------------------------ record ends, eight bytes at a time

    /** Told where each record ends (the offset just after its line feed). */
    public interface RecordEnds {
        void record(long end);
    }

    static final long ONES = 0x0101010101010101L, LOW7 = 0x7F7F7F7F7F7F7F7FL, HIGH = 0x8080808080808080L;
    static final long QUOTES = ONES * '"', NEWLINES = ONES * '\n';

    /** Bit 7 of each byte of w that equals the byte repeated in pattern (SWAR). */
    static long eq(long w, long pattern) {
        long x = w ^ pattern;
        return ~(((x & LOW7) + LOW7) | x | LOW7);
    }

    /** Where a scan stands between two chunks: inside quotes or not, the byte before the next chunk, the delimiter. */
    public static final class ScanState {
        long quotes; // 0 outside quotes, -1 (every bit) inside
        byte prev = '\n'; // the input starts as after a line end; a quote taken as text counts as an ordinary byte
        long delims = ONES * ','; // the delimiter last seen before a quoted field, in every byte: the quick test knows it

        /** True when the input ended inside quotes: an unclosed quote. */
        public boolean insideQuotes() {
            return quotes != 0;
        }
    }

    /** The bytes after which a quote opens a quoted field, below 64: TAB LF CR " , ; (and '|', tested apart). */
    static final long FIELD_START_LOW = 1L << '\t' | 1L << '\n' | 1L << '\r' | 1L << '"' | 1L << ',' | 1L << ';';

    /**
     * Whether a quote after this byte opens a quoted field: after a delimiter (any of , ; TAB |, so no detection is
     * needed), a line end, or a quote (the second of a doubled pair).
     */
    static boolean fieldStartBefore(byte prev) {
        int u = prev & 0xFF;
        return u < 64 ? (FIELD_START_LOW >>> u & 1) != 0 : u == '|';
    }

    /**
     * The record ends in buf[from, n) (little-endian, at offset base of the input): line feeds outside quotes. The scan
     * starts at from (after a BOM: the first field starts there); state carries the quotes, the last byte and the
     * delimiter from chunk to chunk.
     *
     * <p>Per word of eight bytes, without a branch: the quote parity after each byte is a prefix sum of the quote mask
     * (one multiplication: doubled quotes toggle twice and cancel), and a quote that opens a quoted field must follow a
     * quote, a line feed or the delimiter (three byte masks, the first two already at hand; the byte before the word is
     * carried). A quote that would open a field in the middle of an unquoted one (5'10") is text, as commons-csv reads
     * it; any word where the quick test fails is looked at closer: a CR or another delimiter before the quote
     * (the delimiter is then remembered), or such a quote (the word goes byte by byte). The check is what keeps a part
     * from starting in the middle of a record, and leaves the scan at about four fifths of the speed it has without
     * the check, all of it arithmetic:
     * a branch on quoted words cost more (they are one in six in typical CSV, too many to predict).
     */
    public static void scanRecordEnds(ByteBuffer buf, int from, int n, long base, ScanState state, RecordEnds out) {
        long qs = state.quotes, delims = state.delims;
        int i = from;
        int words = from + ((n - from) & ~7);
        long last = (long) state.prev << 56; // the byte before the word, in the top byte
        long startBefore = fieldStartBefore(state.prev) ? 0x80L : 0; // bit 7: a quote in byte 0 may open a field
        for (; i < words; i += 8) {
            long w = buf.getLong(i);
            // eq(w, c) for three ASCII bytes c, sharing what does not depend on c: the low seven bits of each byte
            // (x ^ c + LOW7 sets bit 7 unless they equal c, with no carry between bytes) and "bit 7 clear"
            long low = w & LOW7, ascii = ~w & HIGH;
            long q = ~((low ^ QUOTES) + LOW7) & ascii;
            long nl = ~((low ^ NEWLINES) + LOW7) & ascii;
            long inside = (q >>> 7) * HIGH ^ qs; // bit 7 of byte k: inside quotes after byte k (other bits: noise)
            long starts = q | nl | ~((low ^ delims) + LOW7) & ascii; // bytes after which a quote opens a field (quick test)
            long odd = q & inside & ~(starts << 8 | startBefore); // opening quotes after any other byte
            if (odd != 0) { // rare: a CR or another delimiter before the quote (remembered), or a quote that is text
                boolean text = false;
                for (; odd != 0 && !text; odd &= odd - 1) {
                    int k = Long.numberOfTrailingZeros(odd) >>> 3;
                    byte before = (byte) (k > 0 ? w >>> ((k - 1) << 3) : last >>> 56);
                    text = !fieldStartBefore(before);
                    if (before == ',' || before == ';' || before == '\t' || before == '|') delims = ONES * (before & 0xFF);
                }
                if (text) {
                    state.quotes = qs;
                    byteByByte(buf, i, (byte) (last >>> 56), base, state, out);
                    qs = state.quotes;
                    last = (long) state.prev << 56;
                    startBefore = fieldStartBefore(state.prev) ? 0x80L : 0;
                    continue;
                }
            }
            nl &= ~inside; // line feeds outside quotes
            if (nl != 0) { // a do-while under an if: C2 compiles the word loop about 15 % faster than with a plain while
                do {
                    out.record(base + i + (Long.numberOfTrailingZeros(nl) >>> 3) + 1);
                    nl &= nl - 1;
                } while (nl != 0);
            }
            qs = inside >> 63; // inside after the last byte: every bit
            startBefore = starts >>> 56;
            last = w;
        }
        byte prev = (byte) (last >>> 56);
        for (; i < n; i++) {
            byte c = buf.get(i);
            if (c == '"') {
                if (qs != 0 || fieldStartBefore(prev)) qs = ~qs;
                else c = 'x';
            } else if (c == '\n' && qs == 0) out.record(base + i + 1);
            prev = c;
        }
        state.quotes = qs;
        state.prev = prev;
        state.delims = delims;
    }

    /**
     * The word at buf[i] byte by byte (it holds a quote that is text: a quote after any byte but a field start), from
     * the quotes in state and the byte before it; state then holds the quotes and the last byte.
     */
    private static void byteByByte(ByteBuffer buf, int i, byte prev, long base, ScanState state, RecordEnds out) {
        long qs = state.quotes;
        for (int j = i; j < i + 8; j++) {
            byte c = buf.get(j);
            if (c == '"') {
                if (qs != 0 || fieldStartBefore(prev)) qs = ~qs;
                else c = 'x';
            } else if (c == '\n' && qs == 0) out.record(base + j + 1);
            prev = c;
        }
        state.quotes = qs;
        state.prev = prev;
    }

    /** The line ends in buf[0, n) (NDJSON: every line feed ends a record). */
    public static void scanLineEnds(ByteBuffer buf, int n, long base, RecordEnds out) {
        int i = 0;
        int words = n & ~7;
        for (; i < words; i += 8) {
            long nl = eq(buf.getLong(i), NEWLINES);
            while (nl != 0) {
                out.record(base + i + (Long.numberOfTrailingZeros(nl) >>> 3) + 1);
                nl &= nl - 1;
            }
        }
        for (; i < n; i++) if (buf.get(i) == '\n') out.record(base + i + 1);
    }

    // ------------------------------------------------------------------ records and their fields

    /**
     * RFC 4180 records over a byte stream: fields are (start, end, flags) slices of {@link #buf}, valid until the next
     * call. Quoted fields are slices between the quotes; FLAG_ESC says "" pairs are inside.
     */
    static final class Parser {
        static final int FLAG_QUOTED = 1, FLAG_ESC = 2;
        final InputStream in;
        final String name;
        final boolean partial; // the stream is only the beginning: stop at its end instead of finishing the record
        byte delim;
        byte[] buf;
        int pos, lim;
        long base; // stream offset of buf[0]
        boolean eof, incomplete;
        int n; // fields in the current record
        int[] start = new int[64], end = new int[64];
        byte[] flags = new byte[64];
        long line = 1, recordLine, records;
        int recStart, recEnd;
        Cli.Progress progress;
        long progressBase;
        long maxRecord = Integer.MAX_VALUE - 64; // a longer record is an error: it bounds the buffer, so memory
        String[] columns; // column names for errors (null: field N)

        Parser(InputStream in, String name, byte delim, boolean partial) {
            this.in = in;
            this.name = name;
            this.delim = delim;
            this.partial = partial;
            this.buf = new byte[1 << 20];
        }

        /** A parser over bytes already in memory: a chunk of whole records (last: the chunk ends the input). */
        Parser(byte[] b, int len, String name, byte delim, boolean last) {
            this.in = null;
            this.name = name;
            this.delim = delim;
            this.partial = !last;
            this.buf = b;
            this.lim = len;
            this.eof = last;
        }

        long offset() {
            return base + pos;
        }

        /** The next record that is not a blank line; false at the end. */
        boolean next() throws IOException {
            for (;;) {
                if (pos >= lim && eof) return false;
                int r = pos < lim ? parse(pos) : -1;
                if (r < 0) {
                    if (eof) {
                        r = parse(pos);
                    } else {
                        if (!refill()) {
                            if (partial) {
                                incomplete = pos < lim;
                                return false;
                            }
                        }
                        continue;
                    }
                }
                if (r - pos > maxRecord) throw tooLong(pos, r, true);
                recStart = pos;
                recEnd = r;
                pos = r;
                if (n == 1 && start[0] == end[0] && flags[0] == 0) continue; // blank line
                records++;
                return true;
            }
        }

        private boolean refill() throws IOException {
            if (in == null) return false;
            if (pos > 0) {
                System.arraycopy(buf, pos, buf, 0, lim - pos);
                base += pos;
                lim -= pos;
                pos = 0;
            }
            if (lim == buf.length) { // the record under way fills the buffer
                if (lim - pos > maxRecord) throw tooLong(pos, lim, false);
                buf = Arrays.copyOf(buf, (int) Math.max(lim + 1L, Math.min(buf.length * 2L, maxRecord + 2)));
            }
            int r = in.read(buf, lim, buf.length - lim);
            if (r < 0) {
                eof = true;
                return false;
            }
            lim += r;
            if (progress != null) progress.set(progressBase + base + lim);
            return true;
        }

        /** Parses the record at p; returns the position after it, or -1 when the buffer ends first (and not at EOF). */
        private int parse(int p) {
            final byte[] b = buf;
            final int lim = this.lim;
            final byte d = delim;
            int f = 0;
            long nl = 0;
            recordLine = line;
            for (;;) {
                if (f == start.length) grow();
                if (p < lim && b[p] == '"') {
                    int s = p + 1, i = s;
                    byte fl = FLAG_QUOTED;
                    for (;;) {
                        if (i >= lim) {
                            if (!eof) return -1;
                            throw new Cli.Failure(name + ": unclosed quote in the record that starts on line " + recordLine);
                        }
                        byte c = b[i];
                        if (c == '"') {
                            if (i + 1 >= lim && !eof) return -1;
                            if (i + 1 < lim && b[i + 1] == '"') {
                                fl = FLAG_QUOTED | FLAG_ESC;
                                i += 2;
                                continue;
                            }
                            break;
                        }
                        if (c == '\n') nl++;
                        i++;
                    }
                    start[f] = s;
                    end[f] = i;
                    flags[f] = fl;
                    f++;
                    p = i + 1;
                    if (p >= lim) { // EOF (checked above)
                        n = f;
                        line += nl;
                        return p;
                    }
                    byte c = b[p];
                    if (c == d) {
                        p++;
                        continue;
                    }
                    if (c == '\n') {
                        n = f;
                        line += nl + 1;
                        return p + 1;
                    }
                    if (c == '\r') {
                        if (p + 1 >= lim && !eof) return -1;
                        n = f;
                        line += nl + 1;
                        return p + 1 < lim && b[p + 1] == '\n' ? p + 2 : p + 1;
                    }
                    throw new Cli.Failure(name + ": line " + (recordLine + nl) + ", field " + f
                            + ": text after a closing quote (a quote inside a quoted field must be doubled: \"\")");
                } else {
                    int s = p;
                    while (p < lim) {
                        byte c = b[p];
                        if (c == d || c == '\n' || c == '\r') break;
                        p++;
                    }
                    start[f] = s;
                    end[f] = p;
                    flags[f] = 0;
                    f++;
                    if (p >= lim) {
                        if (!eof) return -1;
                        n = f;
                        line += nl;
                        return p;
                    }
                    byte c = b[p];
                    if (c == d) {
                        p++;
                        continue;
                    }
                    if (c == '\n') {
                        n = f;
                        line += nl + 1;
                        return p + 1;
                    }
                    if (p + 1 >= lim && !eof) return -1;
                    n = f;
                    line += nl + 1;
                    return p + 1 < lim && b[p + 1] == '\n' ? p + 2 : p + 1;
                }
            }
        }

        /** The record in buf[from, to) is over --max-record: the error names its line and its longest field. */
        private Cli.Failure tooLong(int from, int to, boolean complete) {
            int best = 0, bestLen = -1, f = 0, fs = from;
            boolean quoted = false;
            for (int i = from; i < to; i++) {
                byte c = buf[i];
                if (c == '"') quoted = !quoted;
                else if (c == delim && !quoted) {
                    if (i - fs > bestLen) {
                        best = f;
                        bestLen = i - fs;
                    }
                    f++;
                    fs = i + 1;
                }
            }
            if (to - fs > bestLen) {
                best = f;
                bestLen = to - fs;
            }
            String col = columns != null && best < columns.length ? "column '" + columns[best] + "'" : "field " + (best + 1);
            return new Cli.Failure(name + ": line " + recordLine + " (record " + (records + 1) + "), " + col + ": the record is longer than --max-record "
                    + Cli.humanBytes(maxRecord) + " (this field alone is " + Cli.humanBytes(bestLen) + (complete ? "" : " so far")
                    + "); give a larger --max-record");
        }

        /** The start of field i as a Java string, for messages (a long value is not decoded whole). */
        String preview(int i) {
            int len = Math.min(end[i] - start[i], 256);
            String t = new String(buf, start[i], len, StandardCharsets.UTF_8);
            if ((flags[i] & FLAG_ESC) != 0) t = t.replace("\"\"", "\"");
            return t.length() > 60 || len < end[i] - start[i] ? t.substring(0, Math.min(60, t.length())) + "..." : t;
        }

        private void grow() {
            int c = start.length * 2;
            start = Arrays.copyOf(start, c);
            end = Arrays.copyOf(end, c);
            flags = Arrays.copyOf(flags, c);
        }

        /** Field i as a Java string (quotes unescaped). */
        String text(int i) {
            String t = new String(buf, start[i], end[i] - start[i], StandardCharsets.UTF_8);
            return (flags[i] & FLAG_ESC) != 0 ? t.replace("\"\"", "\"") : t;
        }
    }

    /** Picks the delimiter among , ; TAB | from the first records of the sample: the one that splits them evenly. */
    static byte detectDelimiter(byte[] head, int len) {
        byte[] cands = {',', ';', '\t', '|'};
        int lines = 0;
        int[][] counts = new int[cands.length][20];
        int[] cur = new int[cands.length];
        boolean q = false;
        for (int i = 0; i < len && lines < 20; i++) {
            byte c = head[i];
            if (c == '"') q = !q;
            else if (!q && (c == '\n' || (c == '\r' && (i + 1 >= len || head[i + 1] != '\n')))) {
                for (int k = 0; k < cands.length; k++) {
                    counts[k][lines] = cur[k];
                    cur[k] = 0;
                }
                lines++;
            } else if (!q) {
                for (int k = 0; k < cands.length; k++) if (c == cands[k]) cur[k]++;
            }
        }
        if (lines < 20) { // the last line without a line break
            boolean any = false;
            for (int k = 0; k < cands.length; k++) any |= cur[k] > 0;
            if (any || lines == 0) {
                for (int k = 0; k < cands.length; k++) counts[k][lines] = cur[k];
                lines++;
            }
        }
        int best = -1;
        long bestScore = -1;
        for (int k = 0; k < cands.length; k++) {
            int first = counts[k][0];
            if (first == 0) continue;
            int same = 0;
            for (int l = 0; l < lines; l++) if (counts[k][l] == first) same++;
            long score = (long) same * 1000 + first; // consistency first, then frequency
            if (score > bestScore) {
                bestScore = score;
                best = k;
            }
        }
        return best < 0 ? (byte) ',' : cands[best];
    }
}
