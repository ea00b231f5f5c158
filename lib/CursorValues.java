//SOURCES Cli.java

import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * Cursor values (the column that orders a transfer's rows): how they compare, how they are written as endpoint
 * parameters and state, and the value just below one.
 *
 * <p>Why not text order: "2024-04-29 16:05:00" sorts before "2024-04-29T16:00:00Z" as text (' ' before 'T'), and a
 * window compared so would drop rows. Invariant: {@link #compare} orders numbers numerically and timestamps and dates
 * in time (any ISO 8601 form, offsets taken to UTC), and is plain string comparison when both values have the same
 * shape (the common case, rows of one endpoint against a bound in the same form).
 */
public final class CursorValues {
    private CursorValues() {}

    /**
     * Orders cursor values by what they are: numbers numerically, timestamps (any ISO 8601 form: T or space,
     * optional fraction, Z or an offset, taken to UTC) and dates in time, other text as text. Text alone would put
     * "2024-04-29 16:05:00" before "2024-04-29T16:00:00Z" (' ' sorts before 'T') and drop every row of a window.
     */
    public static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) return toDecimal(x).compareTo(toDecimal(y));
        if (a instanceof String x && b instanceof String y) {
            if (sameShape(x, y)) return x.compareTo(y);
            // DateTime64 rows against a bound without a fraction (or the other way round)
            if (x.length() > y.length() + 1 && isFraction(x, y.length()) && sameShape(x.substring(0, y.length()), y)) {
                int k = x.substring(0, y.length()).compareTo(y);
                return k != 0 ? k : zeros(x, y.length() + 1) ? 0 : 1;
            }
            if (y.length() > x.length() + 1 && isFraction(y, x.length()) && sameShape(y.substring(0, x.length()), x)) {
                int k = x.compareTo(y.substring(0, x.length()));
                return k != 0 ? k : zeros(y, x.length() + 1) ? 0 : -1;
            }
        }
        Object pa = parse(a), pb = parse(b);
        if (pa instanceof LocalDateTime x && pb instanceof LocalDateTime y) return x.compareTo(y);
        if (pa instanceof BigDecimal x && pb instanceof BigDecimal y) return x.compareTo(y);
        return text(a).compareTo(text(b));
    }

    /**
     * True when text order is value order: same length, digits in the same places, the same other characters, no
     * sign in front, no exponent and no UTC offset (values at different offsets can share a shape). The common case
     * (rows of one endpoint against a bound in the same form) stays a plain string comparison.
     */
    static boolean sameShape(String x, String y) {
        int n = x.length();
        if (n != y.length() || n == 0 || !isDigit(x.charAt(0)) || !isDigit(y.charAt(0))) return false;
        for (int i = 1; i < n; i++) {
            char c = x.charAt(i), d = y.charAt(i);
            boolean dc = isDigit(c);
            if (dc != isDigit(d) || (!dc && c != d)) return false;
            if (c == '+' || (c == '-' && i > 7) || c == 'e' || c == 'E') return false;
        }
        return true;
    }

    /** True when s from i on is a fraction of a second: a point and digits only. */
    private static boolean isFraction(String s, int i) {
        if (i < 19 || s.charAt(i) != '.' || s.charAt(i - 3) != ':') return false;
        for (int j = i + 1; j < s.length(); j++) if (!isDigit(s.charAt(j))) return false;
        return true;
    }

    private static boolean zeros(String s, int from) {
        for (int j = from; j < s.length(); j++) if (s.charAt(j) != '0') return false;
        return true;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static final java.util.regex.Pattern TIMESTAMP = java.util.regex.Pattern.compile(
            "(\\d{4}-\\d{2}-\\d{2})[T ](\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d{1,9})?)?)\\s*(Z|z|UTC|[+-]\\d{2}(?::?\\d{2})?)?");
    private static final java.util.regex.Pattern DATE = java.util.regex.Pattern.compile("\\d{4}-\\d{2}-\\d{2}");
    private static final java.util.regex.Pattern NUMBER = java.util.regex.Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");

    /**
     * A cursor value as what it is: a timestamp as a UTC LocalDateTime, a date as the LocalDateTime of its midnight
     * (so dates and timestamps order together), a number as a BigDecimal; null when it is none of these (2023-13-45
     * is none).
     */
    static Object parse(Object v) {
        if (v == null) return null;
        if (v instanceof Number n) return toDecimal(n);
        String s = text(v).strip();
        try {
            java.util.regex.Matcher m = TIMESTAMP.matcher(s);
            if (m.matches()) {
                String time = m.group(2).replace(',', '.');
                LocalDateTime t = LocalDateTime.of(java.time.LocalDate.parse(m.group(1)), java.time.LocalTime.parse(time));
                String z = m.group(3);
                if (z != null && !z.equalsIgnoreCase("Z") && !z.equals("UTC")) {
                    String off = z.length() == 3 ? z + ":00" : z.length() == 5 ? z.substring(0, 3) + ":" + z.substring(3) : z;
                    t = t.atOffset(ZoneOffset.of(off)).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
                }
                return t;
            }
            if (DATE.matcher(s).matches()) return java.time.LocalDate.parse(s).atStartOfDay();
            if (NUMBER.matcher(s).matches()) return new BigDecimal(s);
        } catch (java.time.DateTimeException | NumberFormatException e) {
            return null;
        }
        return null;
    }

    /** The forms --since and --until accept, for their usage error. */
    static final String VALUE_FORMS = "a timestamp (2024-04-29 16:00:00, 2024-04-29T16:00:00Z, 2024-04-29T18:00:00+02:00), "
            + "a date (2024-04-29) or a number";

    /**
     * An option's cursor value in the form endpoints take: timestamps as "yyyy-MM-dd HH:mm:ss" in UTC (a fraction
     * kept when there is one), dates and numbers as given; anything else is a usage error naming the option.
     */
    static String normalizeOption(String option, String value) {
        String s = value == null ? "" : value.strip();
        if (!s.isEmpty()) {
            if (DATE.matcher(s).matches() && parse(s) != null) return s;
            if (NUMBER.matcher(s).matches()) return new BigDecimal(s).toPlainString();
            if (parse(s) instanceof LocalDateTime t) return timestamp(t);
        }
        throw Cli.usage(option + " '" + value + "' is not " + VALUE_FORMS);
    }

    /** A stored watermark or resume value in the endpoint's form (a timestamp stored in another ISO form included). */
    static Object normalizeStored(Object v) {
        if (v instanceof String s && !DATE.matcher(s).matches() && TIMESTAMP.matcher(s.strip()).matches() && parse(s) instanceof LocalDateTime t) {
            return timestamp(t);
        }
        return v;
    }

    static BigDecimal toDecimal(Number n) {
        return n instanceof BigDecimal d ? d : new BigDecimal(n.toString());
    }

    /** A cursor value as an endpoint parameter / state value. */
    public static String text(Object v) {
        if (v instanceof BigDecimal d) return d.toPlainString();
        return String.valueOf(v);
    }

    private static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    /** A timestamp cursor value plus d, or null when v is not a timestamp. */
    static Object plus(Object v, Duration d) {
        if (v instanceof Number || !(v instanceof String s) || !TIMESTAMP.matcher(s.strip()).matches()) return null;
        return parse(s) instanceof LocalDateTime t ? timestamp(t.plus(d)) : null;
    }

    /**
     * A value just below v, for asking an endpoint for "v and newer" whatever its start parameter means (start &lt; t or
     * start &lt;= t): timestamps one second (dates one day) earlier, numbers one less. Rows below v are dropped on arrival.
     */
    public static Object below(Object v) {
        if (v instanceof Number n) return toDecimal(n).subtract(BigDecimal.ONE);
        String s = text(v).strip();
        Object p = parse(s);
        if (p == null) return v; // text cursors: the endpoint must treat start as inclusive
        if (DATE.matcher(s).matches()) return ((LocalDateTime) p).toLocalDate().minusDays(1).toString();
        if (p instanceof LocalDateTime t) return TS.format(t.minusSeconds(1)); // the fraction dropped: still below v
        return ((BigDecimal) p).subtract(BigDecimal.ONE).toPlainString();
    }

    /** ClickHouse DateTime text for an instant (UTC); a fraction of a second, when there is one, as DateTime64 writes it. */
    public static String timestamp(LocalDateTime t) {
        if (t.getNano() == 0) return TS.format(t);
        String f = String.format(Locale.ROOT, "%09d", t.getNano()).replaceFirst("0+$", "");
        return TS.format(t) + "." + f;
    }
}
