import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * What a CSV value can be in JSON: integer (signed 64-bit), float, boolean (true/false and --booleans), and the date
 * forms the schema names; checks on the bytes in place, without a String. Invariant: a value gets a JSON type only when
 * its text is exactly that JSON (01234, 0x1F and 20-digit integers stay strings).
 */
final class ValueTypes {
    private ValueTypes() {}

    static final byte[] MAX_LONG = "9223372036854775807".getBytes(StandardCharsets.US_ASCII);
    static final byte[] MIN_LONG = "9223372036854775808".getBytes(StandardCharsets.US_ASCII);

    /** Everything a non-empty value could be: M_INT | M_FLOAT | M_BOOL bits (0: a string). */
    static int classify(byte[] b, int s, int e, byte flags) {
        if ((flags & CsvCore.Parser.FLAG_ESC) != 0) return 0;
        int first = b[s];
        if (first == '-' || (first >= '0' && first <= '9')) {
            if (isInt(b, s, e)) return CsvToNdjson.M_INT | CsvToNdjson.M_FLOAT | (CURRENT_BOOLS.get().numeric ? boolBit(b, s, e) : 0);
            return isFloat(b, s, e) ? CsvToNdjson.M_FLOAT : (CURRENT_BOOLS.get().numeric ? boolBit(b, s, e) : 0);
        }
        return boolBit(b, s, e);
    }

    static int boolBit(byte[] b, int s, int e) {
        return boolValue(b, s, e, CURRENT_BOOLS.get()) >= 0 ? CsvToNdjson.M_BOOL : 0;
    }

    /** The extra boolean spellings of the running conversion (per thread, so tests can run in parallel). */
    static final class Bools {
        final byte[][] trues, falses;
        final boolean numeric;

        Bools(List<byte[]> t, List<byte[]> f) {
            trues = t.toArray(byte[][]::new);
            falses = f.toArray(byte[][]::new);
            boolean num = false;
            for (byte[] w : trues) num |= w.length > 0 && (w[0] == '-' || (w[0] >= '0' && w[0] <= '9'));
            for (byte[] w : falses) num |= w.length > 0 && (w[0] == '-' || (w[0] >= '0' && w[0] <= '9'));
            numeric = num;
        }
    }

    static final ThreadLocal<Bools> CURRENT_BOOLS = ThreadLocal.withInitial(() -> new Bools(List.of(), List.of()));

    static boolean isInt(byte[] b, int s, int e) {
        int i = s;
        boolean neg = false;
        if (b[i] == '-') {
            neg = true;
            i++;
        }
        int n = e - i;
        if (n <= 0 || n > 19) return false;
        if (b[i] == '0') return n == 1;
        for (int k = i; k < e; k++) {
            int c = b[k] - '0';
            if (c < 0 || c > 9) return false;
        }
        if (n < 19) return true;
        byte[] lim = neg ? MIN_LONG : MAX_LONG;
        for (int k = 0; k < 19; k++) {
            int d = b[i + k] - lim[k];
            if (d != 0) return d < 0;
        }
        return true;
    }

    /** A JSON number that means what it says: needs a decimal point (1e5 and 6164739959125e55 are hex-id lookalikes), finite. */
    static boolean isFloat(byte[] b, int s, int e) {
        int i = s;
        if (b[i] == '-') i++;
        if (i >= e) return false;
        if (b[i] == '0') i++;
        else if (b[i] >= '1' && b[i] <= '9') {
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
        } else return false;
        boolean dot = false, exp = false;
        if (i < e && b[i] == '.') {
            int st = ++i;
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
            if (i == st) return false;
            dot = true;
        }
        if (i < e && (b[i] | 0x20) == 'e') {
            i++;
            if (i < e && (b[i] == '+' || b[i] == '-')) i++;
            int st = i;
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
            if (i == st) return false;
            exp = true;
        }
        if (i != e) return false;
        if (!dot) return !exp && isInt(b, s, e);
        if (exp) {
            double d = Double.parseDouble(new String(b, s, e - s, StandardCharsets.US_ASCII));
            return Double.isFinite(d);
        }
        return true;
    }

    /** 1 true, 0 false, -1 neither (true/false in any case, plus --booleans). */
    static int boolValue(byte[] b, int s, int e, Bools extra) {
        int n = e - s;
        if (n == 4 && (b[s] | 0x20) == 't' && (b[s + 1] | 0x20) == 'r' && (b[s + 2] | 0x20) == 'u' && (b[s + 3] | 0x20) == 'e') return 1;
        if (n == 5 && (b[s] | 0x20) == 'f' && (b[s + 1] | 0x20) == 'a' && (b[s + 2] | 0x20) == 'l' && (b[s + 3] | 0x20) == 's'
                && (b[s + 4] | 0x20) == 'e') return 0;
        for (byte[] w : extra.trues) if (equalsIgnoreCase(b, s, e, w)) return 1;
        for (byte[] w : extra.falses) if (equalsIgnoreCase(b, s, e, w)) return 0;
        return -1;
    }

    static boolean equalsIgnoreCase(byte[] b, int s, int e, byte[] lower) {
        if (e - s != lower.length) return false;
        for (int i = 0; i < lower.length; i++) {
            int c = b[s + i];
            if (c >= 'A' && c <= 'Z') c += 32;
            if (c != lower[i]) return false;
        }
        return true;
    }

    /** Date and date-time text, for the schema: DateTime, DateTime64(p) or Date when every value of a column is one. */
    static final class Dates {
        // state: bit 0 all dates, bit 1 all datetimes, bit 2 some value outside DateTime's 1970-2105, bits 8+: max fraction digits
        static final int START = 3, ALL_DATES = 1, ALL_DT = 2, WIDE = 4;

        static int update(int state, byte[] b, int s, int e) {
            if ((state & 3) == 0) return state;
            int n = e - s;
            if (n < 10 || !digits(b, s, 4) || b[s + 4] != '-' || !digits(b, s + 5, 2) || b[s + 7] != '-' || !digits(b, s + 8, 2)) return 0;
            int year = num(b, s, 4), month = num(b, s + 5, 2), day = num(b, s + 8, 2);
            if (month < 1 || month > 12 || day < 1 || day > 31) return 0;
            if (year < 1970 || year > 2105) state |= WIDE;
            if (n == 10) return state & ~ALL_DT;
            state &= ~ALL_DATES;
            if (n < 19 || (b[s + 10] != ' ' && b[s + 10] != 'T') || !digits(b, s + 11, 2) || b[s + 13] != ':' || !digits(b, s + 14, 2)
                    || b[s + 16] != ':' || !digits(b, s + 17, 2)) return 0;
            if (num(b, s + 11, 2) > 23 || num(b, s + 14, 2) > 59 || num(b, s + 17, 2) > 59) return 0;
            int i = s + 19, frac = 0;
            if (i < e && b[i] == '.') {
                int st = ++i;
                while (i < e && b[i] >= '0' && b[i] <= '9') i++;
                frac = i - st;
                if (frac == 0 || frac > 9) return 0;
            }
            if (i < e) {
                if (b[i] == 'Z' && i + 1 == e) i++;
                else if ((b[i] == '+' || b[i] == '-') && e - i == 6 && digits(b, i + 1, 2) && b[i + 3] == ':' && digits(b, i + 4, 2)) i += 6;
                else return 0;
            }
            return (state & ~0xff00) | (Math.max((state >> 8) & 0xff, frac) << 8);
        }

        /** Two states of one column over different records, combined. */
        static int merge(int a, int b) {
            boolean sa = (a & 0x10000000) != 0, sb = (b & 0x10000000) != 0;
            if (!sa) return b;
            if (!sb) return a;
            int flags = (a & b & 3) | ((a | b) & WIDE);
            int frac = Math.max((a >> 8) & 0xff, (b >> 8) & 0xff);
            return 0x10000000 | frac << 8 | flags;
        }

        static boolean digits(byte[] b, int s, int n) {
            for (int i = s; i < s + n; i++) if (b[i] < '0' || b[i] > '9') return false;
            return true;
        }

        static int num(byte[] b, int s, int n) {
            int v = 0;
            for (int i = s; i < s + n; i++) v = v * 10 + (b[i] - '0');
            return v;
        }

        static String clickhouseType(int state) {
            boolean seen = (state & 0x10000000) != 0;
            if (!seen || (state & 3) == 0) return "String";
            int frac = (state >> 8) & 0xff;
            if ((state & ALL_DATES) != 0) return (state & WIDE) != 0 ? "Date32" : "Date";
            if (frac == 0 && (state & WIDE) == 0) return "DateTime";
            int p = frac <= 3 ? 3 : frac <= 6 ? 6 : 9;
            return "DateTime64(" + p + ")";
        }
    }
}
