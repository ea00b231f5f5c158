import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * picocli converters for the values several scripts take: sizes (100MB, 10MiB), durations (500ms, 10s, 1h30m), rates
 * (5000, 10000/s), counts with a lower bound, percentages, NAME=VALUE pairs. picocli reports a value they refuse as one
 * line naming the option, such as {@code Invalid value for option '--rows': expected a whole number of at least 1,
 * got '0'}, exit code 2. Use: {@code @Option(names = "--rows", converter = CliTypes.PositiveInt.class) int rows;}
 *
 * <p>Why converters: each rule is written once, and picocli refuses a bad value while it parses, before a script runs
 * anything. Invariant: a refusal is a {@link TypeConversionException} whose message quotes the value as given.
 * Whole numbers are Java's ({@code 12}, {@code +12}), as picocli's own int and long converters read them.
 */
public final class CliTypes {
    private CliTypes() {}

    /** Parses 100MB, 10 MiB, 1.5GB, 512k, 1000 (bytes). Decimal units are powers of 1000, binary of 1024. */
    public static long parseSize(String text) {
        String s = text.strip().replace("_", "").replace(",", "");
        Matcher m = Pattern.compile("(?i)([0-9]+(?:\\.[0-9]+)?)\\s*([kmgt]?)(i?)(b?)").matcher(s);
        if (!m.matches()) throw new TypeConversionException("not a size: '" + text + "' (examples: 100MB, 10MiB, 512KB, 1GB)");
        double n = Double.parseDouble(m.group(1));
        String p = m.group(2).toLowerCase(Locale.ROOT);
        boolean bin = !m.group(3).isEmpty();
        if (bin && p.isEmpty()) throw new TypeConversionException("not a size: '" + text + "'");
        int exp = switch (p) { case "k" -> 1; case "m" -> 2; case "g" -> 3; case "t" -> 4; default -> 0; };
        double mult = Math.pow(bin ? 1024 : 1000, exp);
        return (long) Math.floor(n * mult);
    }

    /** Parses 10s, 500ms, 10m, 1h, 1h30m, 90 (seconds), or ISO-8601 PT10S. */
    public static Duration parseDuration(String text) {
        String s = text.strip().toLowerCase(Locale.ROOT);
        if (s.startsWith("pt")) {
            try {
                return Duration.parse(s.toUpperCase(Locale.ROOT));
            } catch (java.time.format.DateTimeParseException e) {
                throw new TypeConversionException("not a duration: '" + text + "' (examples: 500ms, 10s, 10m, 1h30m, PT10S)");
            }
        }
        if (s.matches("[0-9]+(\\.[0-9]+)?")) return Duration.ofMillis((long) (Double.parseDouble(s) * 1000));
        Matcher m = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h|d)").matcher(s);
        long ms = 0;
        int pos = 0;
        while (m.find()) {
            if (m.start() != pos) break;
            double v = Double.parseDouble(m.group(1));
            ms += (long) (v * switch (m.group(2)) {
                case "ms" -> 1; case "s" -> 1000; case "m" -> 60_000; case "h" -> 3_600_000; default -> 86_400_000;
            });
            pos = m.end();
        }
        if (pos == 0 || pos != s.length()) throw new TypeConversionException("not a duration: '" + text + "' (examples: 500ms, 10s, 10m, 1h30m)");
        return Duration.ofMillis(ms);
    }

    /** A size in bytes, 0 or more (100MB, 10MiB, 512KB, 1000). */
    public static final class SizeConverter implements ITypeConverter<Long> {
        public Long convert(String value) {
            return parseSize(value);
        }
    }

    /** A duration (10s, 500ms, 1h30m, 90 for seconds, PT10S). */
    public static final class DurationConverter implements ITypeConverter<Duration> {
        public Duration convert(String value) {
            return parseDuration(value);
        }
    }

    /** The highest --rate / --eps taken: ten million a second, more than one process sends. */
    public static final double MAX_RATE = 10_000_000;

    static long wholeNumber(String value, long min) {
        long n;
        try {
            n = Long.parseLong(value);
        } catch (NumberFormatException e) {
            n = Long.MIN_VALUE;
        }
        if (n < min) throw new TypeConversionException("expected a whole number of at least " + min + ", got '" + value + "'");
        return n;
    }

    static int wholeInt(String value, int min) {
        long n = wholeNumber(value, min);
        if (n > Integer.MAX_VALUE) throw new TypeConversionException("expected a whole number up to " + Integer.MAX_VALUE + ", got '" + value + "'");
        return (int) n;
    }

    /** 1 or more. */
    public static final class PositiveInt implements ITypeConverter<Integer> {
        public Integer convert(String value) {
            return wholeInt(value, 1);
        }
    }

    /** 0 or more. */
    public static final class NonNegativeInt implements ITypeConverter<Integer> {
        public Integer convert(String value) {
            return wholeInt(value, 0);
        }
    }

    /** 1 or more. */
    public static final class PositiveLong implements ITypeConverter<Long> {
        public Long convert(String value) {
            return wholeNumber(value, 1);
        }
    }

    /** 0 or more. */
    public static final class NonNegativeLong implements ITypeConverter<Long> {
        public Long convert(String value) {
            return wholeNumber(value, 0);
        }
    }

    /** A duration of 0 or more (10s, 500ms, 1h30m, 90 for seconds, PT10S). */
    public static final class NonNegativeDuration implements ITypeConverter<Duration> {
        public Duration convert(String value) {
            Duration d = parseDuration(value);
            if (d.isNegative()) throw new TypeConversionException("expected a duration of 0 or more, got '" + value + "'");
            return d;
        }
    }

    /** A duration of more than 0. */
    public static final class PositiveDuration implements ITypeConverter<Duration> {
        public Duration convert(String value) {
            Duration d = parseDuration(value);
            if (d.isZero() || d.isNegative()) throw new TypeConversionException("expected a duration of more than 0, got '" + value + "'");
            return d;
        }
    }

    /** A size of at least one byte (100MB, 10MiB, 512KB, 1000). */
    public static final class PositiveSize implements ITypeConverter<Long> {
        public Long convert(String value) {
            long n = parseSize(value);
            if (n < 1) throw new TypeConversionException("expected a size of at least 1 byte, got '" + value + "'");
            return n;
        }
    }

    /** Events or requests per second: 100, 2.5, 10000/s, 10_000, 10,000; more than 0, at most {@link #MAX_RATE}. */
    public static final class Rate implements ITypeConverter<Double> {
        public Double convert(String value) {
            String t = value.strip().toLowerCase(Locale.ROOT).replace("_", "").replace(",", "");
            if (t.endsWith("/s")) t = t.substring(0, t.length() - 2);
            double r;
            try {
                r = Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("not a rate: '" + value + "' (examples: 100, 10000/s)");
            }
            if (!(r > 0) || r > MAX_RATE) {
                throw new TypeConversionException("expected more than 0 and at most 10,000,000 per second, got '" + value + "'");
            }
            return r;
        }
    }

    /** A name (a table, a column, a pipe...): not empty, not only blanks. */
    public static final class Name implements ITypeConverter<String> {
        public String convert(String value) {
            if (value.isBlank()) throw new TypeConversionException("expected a name, got '" + value + "'");
            return value;
        }
    }

    /** NAME=VALUE with a name before the '=' (the value may be empty or hold more '='); kept as given. */
    public static final class NameValue implements ITypeConverter<String> {
        public String convert(String value) {
            if (value.indexOf('=') <= 0) throw new TypeConversionException("expected NAME=VALUE, got '" + value + "'");
            return value;
        }
    }

    /** A percentage from 0 to 100 (2, 0.5). */
    public static final class Percent implements ITypeConverter<Double> {
        public Double convert(String value) {
            double d;
            try {
                d = Double.parseDouble(value);
            } catch (NumberFormatException e) {
                d = Double.NaN;
            }
            if (!(d >= 0 && d <= 100)) throw new TypeConversionException("expected a percentage from 0 to 100, got '" + value + "'");
            return d;
        }
    }
}
