import java.time.Duration;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * picocli converters for the values several scripts take: counts with a lower bound, positive durations, sizes and
 * rates, and percentages. picocli reports a value they refuse as one line naming the option, such as
 * {@code Invalid value for option '--rows': expected a whole number of at least 1, got '0'}, exit code 2.
 * Use: {@code @Option(names = "--rows", converter = CliTypes.PositiveInt.class) int rows;}
 *
 * <p>The spellings of sizes and durations are {@link Cli#parseSize} and {@link Cli#parseDuration}; whole numbers are
 * Java's ({@code 12}, {@code +12}), as picocli's own int and long converters read them.
 */
public final class CliTypes {
    private CliTypes() {}

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
            Duration d = duration(value);
            if (d.isNegative()) throw new TypeConversionException("expected a duration of 0 or more, got '" + value + "'");
            return d;
        }
    }

    /** A duration of more than 0. */
    public static final class PositiveDuration implements ITypeConverter<Duration> {
        public Duration convert(String value) {
            Duration d = duration(value);
            if (d.isZero() || d.isNegative()) throw new TypeConversionException("expected a duration of more than 0, got '" + value + "'");
            return d;
        }
    }

    static Duration duration(String value) {
        try {
            return Cli.parseDuration(value);
        } catch (Cli.Failure | java.time.format.DateTimeParseException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }

    /** A size of at least one byte (100MB, 10MiB, 512KB, 1000). */
    public static final class PositiveSize implements ITypeConverter<Long> {
        public Long convert(String value) {
            long n;
            try {
                n = Cli.parseSize(value);
            } catch (Cli.Failure e) {
                throw new TypeConversionException(e.getMessage());
            }
            if (n < 1) throw new TypeConversionException("expected a size of at least 1 byte, got '" + value + "'");
            return n;
        }
    }

    /** Events or requests per second: 100, 2.5, 10000/s, 10_000, 10,000; more than 0, at most {@link #MAX_RATE}. */
    public static final class Rate implements ITypeConverter<Double> {
        public Double convert(String value) {
            String t = value.strip().toLowerCase(java.util.Locale.ROOT).replace("_", "").replace(",", "");
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
