//SOURCES Json.java

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The rows of a JSON answer's {@code data} array, read from the bytes after its '[': a hand-written scanner for
 * Tinybird's flat row objects that makes each value straight from the bytes (an ASCII string is one copy, a
 * short integer no object but its Long). Field names are matched by their bytes against the name seen at the
 * same place in the previous row, so a row costs no name lookups. Nested arrays and objects are cut out
 * (string-aware bracket matching) and handed to Jackson.
 *
 * <p>Why hand-written: bench/data-transfer measured it against Jackson's streaming parser on the transfers' hot path
 * (bench/README.md has the figures). Invariant: the values are those Jackson would give (numbers exact, never a
 * double); malformed input is an IOException naming what was expected.
 */
final class TinybirdRowScanner {
    private final InputStream in;
    private byte[] buf = new byte[64 << 10];
    private int pos, lim;
    private final Map<String, Integer> index;
    private final int width;
    private byte[][] seenName = new byte[16][];
    private int[] seenPos = new int[16];
    private boolean first = true, end;

    TinybirdRowScanner(InputStream in, Map<String, Integer> index, int width) {
        this.in = in;
        this.index = index;
        this.width = width;
    }

    /** Makes n bytes available from pos (fewer at the end of the input); returns how many are. */
    private int fill(int n) throws IOException {
        if (lim - pos >= n) return lim - pos;
        if (pos > 0) {
            System.arraycopy(buf, pos, buf, 0, lim - pos);
            lim -= pos;
            pos = 0;
        }
        if (n > buf.length) buf = java.util.Arrays.copyOf(buf, Math.max(n, buf.length * 2));
        while (lim < n) {
            int k = in.read(buf, lim, buf.length - lim);
            if (k < 0) break;
            lim += k;
        }
        return lim - pos;
    }

    /** The next byte that is not white space (not consumed), or -1 at the end of the input. */
    private int peek() throws IOException {
        while (true) {
            if (pos >= lim && fill(1) == 0) return -1;
            byte b = buf[pos];
            if (b == ' ' || b == '\n' || b == '\r' || b == '\t') pos++;
            else return b;
        }
    }

    private static IOException expected(String what, int got) {
        return new IOException("expected " + what + ", got " + (got < 0 ? "the end of the answer" : "'" + (char) got + "'"));
    }

    /** The next row, or null after the array's ']'. */
    Object[] next() throws IOException {
        if (end) return null;
        int b = peek();
        if (first) {
            first = false;
        } else if (b == ',') {
            pos++;
            b = peek();
        } else if (b != ']') {
            throw expected("',' or ']' after a row", b);
        }
        if (b == ']') {
            pos++;
            end = true;
            return null;
        }
        if (b != '{') throw expected("a row object", b);
        pos++;
        Object[] r = new Object[width];
        b = peek();
        if (b == '}') {
            pos++;
            return r;
        }
        for (int field = 0; ; field++) {
            if (b != '"') throw expected("a field name", b);
            pos++;
            int col = name(field);
            if ((b = peek()) != ':') throw expected("':'", b);
            pos++;
            Object v = value(col >= 0);
            if (col >= 0) r[col] = v;
            b = peek();
            pos++;
            if (b == '}') return r;
            if (b != ',') throw expected("',' or '}' in a row", b);
            b = peek();
        }
    }

    /** A field name (after its opening quote): its position in the row, -1 when not wanted; past the closing quote. */
    private int name(int field) throws IOException {
        if (field < seenName.length && seenName[field] != null) {
            byte[] nm = seenName[field];
            int len = nm.length;
            if (fill(len + 1) > len && buf[pos + len] == '"') {
                int k = 0;
                while (k < len && buf[pos + k] == nm[k]) k++;
                if (k == len) {
                    pos += len + 1;
                    return seenPos[field];
                }
            }
        }
        String s = string();
        Integer i = index.get(s);
        int col = i == null ? -1 : i;
        if (field >= seenName.length) {
            seenName = java.util.Arrays.copyOf(seenName, field * 2);
            seenPos = java.util.Arrays.copyOf(seenPos, field * 2);
        }
        // its bytes, to be matched as they stand: only a name with no quote or backslash is the same text escaped
        seenName[field] = s.indexOf('"') < 0 && s.indexOf('\\') < 0 ? s.getBytes(StandardCharsets.UTF_8) : null;
        seenPos[field] = col;
        return col;
    }

    private Object value(boolean wanted) throws IOException {
        int b = peek();
        switch (b) {
            case '"' -> {
                pos++;
                return string();
            }
            case 't' -> {
                literal("true");
                return Boolean.TRUE;
            }
            case 'f' -> {
                literal("false");
                return Boolean.FALSE;
            }
            case 'n' -> {
                literal("null");
                return null;
            }
            case '{', '[' -> {
                byte[] raw = nested();
                return wanted ? Json.MAPPER.readTree(raw) : null;
            }
            default -> {
                if (b == '-' || b >= '0' && b <= '9') return number();
                throw expected("a value", b);
            }
        }
    }

    private void literal(String word) throws IOException {
        int n = word.length();
        if (fill(n) < n) throw expected(word, -1);
        for (int i = 0; i < n; i++) if (buf[pos + i] != word.charAt(i)) throw expected(word, buf[pos + i]);
        pos += n;
    }

    /** A number as Long (when it fits), BigInteger, or BigDecimal from its text (exact; never a double). */
    private Object number() throws IOException {
        int i = pos;
        boolean integral = true;
        while (true) {
            if (i >= lim) {
                int off = i - pos;
                if (fill(off + 1) <= off) break;
                i = pos + off;
            }
            byte c = buf[i];
            if (c >= '0' && c <= '9' || c == '-') {
                i++;
            } else if (c == '.' || c == 'e' || c == 'E' || c == '+') {
                integral = false;
                i++;
            } else {
                break;
            }
        }
        int len = i - pos;
        Object v = null;
        if (!integral && len <= 19) v = shortDecimal(pos, i);
        if (integral && len <= 18) {
            int j = pos;
            boolean neg = buf[j] == '-';
            if (neg) j++;
            if (j < i) {
                long x = 0;
                for (; j < i; j++) {
                    int d = buf[j] - '0';
                    if (d < 0 || d > 9) break;
                    x = x * 10 + d;
                }
                if (j == i) v = neg ? -x : x;
            }
        }
        if (v == null) {
            String s = new String(buf, pos, len, StandardCharsets.ISO_8859_1);
            try {
                if (integral) {
                    java.math.BigInteger big = new java.math.BigInteger(s);
                    v = big.bitLength() < 64 ? (Object) big.longValue() : big;
                } else {
                    v = new java.math.BigDecimal(s);
                }
            } catch (NumberFormatException e) {
                throw new IOException("bad number '" + s + "'");
            }
        }
        pos = i;
        return v;
    }

    /**
     * A plain decimal of up to 18 digits (-?digits.digits, as ClickHouse writes floats) as BigDecimal.valueOf(unscaled,
     * scale): the value new BigDecimal(text) gives, without the text; null for anything else (exponents...).
     */
    private java.math.BigDecimal shortDecimal(int from, int to) {
        int j = from;
        boolean neg = buf[j] == '-';
        if (neg) j++;
        long x = 0;
        int digits = 0, scale = -1;
        for (; j < to; j++) {
            byte c = buf[j];
            if (c >= '0' && c <= '9') {
                x = x * 10 + (c - '0');
                digits++;
                if (scale >= 0) scale++;
            } else if (c == '.' && scale < 0 && digits > 0) {
                scale = 0;
            } else {
                return null;
            }
        }
        if (scale <= 0 || digits > 18) return null; // no digit after the point, or too long for a long
        return java.math.BigDecimal.valueOf(neg ? -x : x, scale);
    }

    /** A string, after its opening quote; past its closing quote. ASCII with no escapes is one copy of the bytes. */
    private String string() throws IOException {
        int i = pos;
        while (true) {
            if (i >= lim) {
                int off = i - pos;
                if (fill(off + 1) <= off) throw expected("the end of a string", -1);
                i = pos + off;
            }
            byte c = buf[i];
            if (c == '"') {
                String s = i - pos <= 64 ? shared(pos, i) : new String(buf, pos, i - pos, StandardCharsets.ISO_8859_1);
                pos = i + 1;
                return s;
            }
            if (c == '\\' || c < 0) return escapedString(i);
            i++;
        }
    }

    private final String[] recent = new String[4096];
    private final byte[][] recentBytes = new byte[4096][];

    /**
     * A short ASCII string, the same String as the last one with these bytes in its slot of a 4,096-entry cache:
     * a city, a description or a timestamp repeated over thousands of rows is one object, not one a row (less to
     * allocate, and far less for the collector to copy while rows wait to be written).
     */
    private String shared(int from, int to) {
        int h = 0;
        for (int k = from; k < to; k++) h = 31 * h + buf[k];
        int slot = (h ^ (h >>> 12) ^ (h >>> 24)) & (recent.length - 1);
        byte[] b = recentBytes[slot];
        int len = to - from;
        if (b != null && b.length == len) {
            int k = 0;
            while (k < len && b[k] == buf[from + k]) k++;
            if (k == len) return recent[slot];
        }
        b = java.util.Arrays.copyOfRange(buf, from, to);
        String s = new String(b, StandardCharsets.ISO_8859_1);
        recentBytes[slot] = b;
        recent[slot] = s;
        return s;
    }

    /** The rest of a string with escapes or non-ASCII (UTF-8) bytes, from i. */
    private String escapedString(int i) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream(Math.max(32, (i - pos) * 2));
        o.write(buf, pos, i - pos);
        pos = i;
        while (true) {
            if (pos >= lim && fill(1) == 0) throw expected("the end of a string", -1);
            byte c = buf[pos++];
            if (c == '"') return o.toString(StandardCharsets.UTF_8);
            if (c != '\\') {
                o.write(c);
                continue;
            }
            if (pos >= lim && fill(1) == 0) throw expected("an escape", -1);
            byte e = buf[pos++];
            switch (e) {
                case '"', '\\', '/' -> o.write(e);
                case 'b' -> o.write('\b');
                case 'f' -> o.write('\f');
                case 'n' -> o.write('\n');
                case 'r' -> o.write('\r');
                case 't' -> o.write('\t');
                case 'u' -> {
                    char ch = hex4();
                    if (Character.isHighSurrogate(ch) && fill(6) >= 6 && buf[pos] == '\\' && buf[pos + 1] == 'u') {
                        pos += 2;
                        char lo = hex4();
                        o.writeBytes(new String(new char[] {ch, lo}).getBytes(StandardCharsets.UTF_8));
                    } else {
                        o.writeBytes(String.valueOf(ch).getBytes(StandardCharsets.UTF_8));
                    }
                }
                default -> throw new IOException("bad escape '\\" + (char) e + "' in a string");
            }
        }
    }

    private char hex4() throws IOException {
        if (fill(4) < 4) throw expected("four hex digits", -1);
        int v = 0;
        for (int k = 0; k < 4; k++) {
            int d = Character.digit(buf[pos + k], 16);
            if (d < 0) throw new IOException("bad \\u escape in a string");
            v = v * 16 + d;
        }
        pos += 4;
        return (char) v;
    }

    /** A nested array or object's bytes, brackets matched outside strings. */
    private byte[] nested() throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        int depth = 0;
        boolean str = false, esc = false;
        while (true) {
            if (pos >= lim && fill(1) == 0) throw expected("the end of a nested value", -1);
            byte c = buf[pos++];
            o.write(c);
            if (str) {
                if (esc) esc = false;
                else if (c == '\\') esc = true;
                else if (c == '"') str = false;
            } else if (c == '"') {
                str = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return o.toByteArray();
            }
        }
    }

    /** After the array: true when the answer has more fields (a ',' follows), false at its closing '}'. */
    boolean atTrailingFields() throws IOException {
        int b = peek();
        pos++;
        if (b == ',') return true;
        if (b == '}') return false;
        throw expected("',' or '}' after the rows", b);
    }

    /** The input not consumed yet. */
    InputStream remaining() {
        return new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(buf, pos, lim - pos), in);
    }
}
