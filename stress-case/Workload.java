import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parameters of every request: named generators (a city, a window, an integer, a list item, a constant).
 * Why: every target must answer the same questions, so a run compares targets and not luck.
 * Invariant: values(i) is a pure function of the seed and i; the same seed sends the same sequence to every target.
 */
final class Workload {
    final List<String> names = new ArrayList<>();
    final List<String> specs = new ArrayList<>();
    /** Each parameter's generator, parsed once: values(i) runs per request, and a regex a request cost ~25 % of the client's CPU. */
    final List<Gen> gens = new ArrayList<>();
    final long seed;
    final int minDays, maxDays;
    LocalDate from, today; // the window's bounds: --window-from/--window-to, or the data's range (StressCase.meetTheData)
    List<String> cities;

    private Workload(long seed, int minDays, int maxDays, LocalDate from, LocalDate today) {
        this.seed = seed;
        this.minDays = minDays;
        this.maxDays = maxDays;
        this.from = from;
        this.today = today;
    }

    /** The workload of these --param values (each as {@link Param} reads it); a name given twice is a usage error. */
    static Workload parse(List<String> params, long seed, int minDays, int maxDays, LocalDate from, LocalDate today) {
        Workload w = new Workload(seed, minDays, maxDays, from, today);
        for (String text : params) {
            Param p = Param.of(text);
            if (w.names.contains(p.name())) throw Cli.usage("--param " + p.name() + " given twice");
            w.names.add(p.name());
            w.specs.add(p.spec());
            w.gens.add(p.gen());
        }
        return w;
    }

    /** One --param value: NAME=SPEC, SPEC one of the generators; picocli checks each as it reads it ({@link Check}). */
    record Param(String name, String spec, Gen gen) {
        static Param of(String p) {
            int eq = p.indexOf('=');
            if (eq <= 0) throw bad("expected NAME=SPEC, got '" + p + "'");
            String name = p.substring(0, eq).strip(), spec = p.substring(eq + 1).strip();
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) throw bad("invalid name '" + name + "' in '" + p + "'");
            Gen g;
            if (spec.startsWith("int:")) {
                Matcher m = Pattern.compile("\\s*(-?\\d{1,18})\\s*\\.\\.\\s*(-?\\d{1,18})\\s*").matcher(spec.substring(4));
                if (!m.matches()) throw bad(name + ": expected int:LO..HI, got '" + spec + "'");
                long lo = Long.parseLong(m.group(1)), hi = Long.parseLong(m.group(2));
                if (hi < lo) throw bad(name + ": int:LO..HI needs LO <= HI, got '" + spec + "'");
                g = new Gen.Int(lo, hi);
            } else if (spec.startsWith("list:")) {
                if (spec.length() == 5) throw bad(name + ": list: needs values");
                g = new Gen.Items(spec.substring(5).split(",", -1));
            } else if (spec.startsWith("value:")) {
                g = new Gen.Value(spec.substring(6));
            } else if (spec.equals("city")) {
                g = new Gen.City();
            } else if (spec.equals("window.start") || spec.equals("window.end")) {
                g = new Gen.Window(spec.endsWith("start") ? 0 : 1);
            } else {
                throw bad(name + ": unknown generator '" + spec + "' (city, window.start, window.end, int:LO..HI, list:a,b,c, value:X)");
            }
            return new Param(name, spec, g);
        }

        private static picocli.CommandLine.TypeConversionException bad(String message) {
            return new picocli.CommandLine.TypeConversionException(message);
        }

        /** {@code @Option(converter = Workload.Param.Check.class)}: the value as given, once it reads as a Param. */
        static final class Check implements picocli.CommandLine.ITypeConverter<String> {
            public String convert(String value) {
                of(value);
                return value;
            }
        }
    }

    boolean hasWindow() {
        return specs.stream().anyMatch(s -> s.startsWith("window."));
    }

    boolean needsCities() {
        return specs.contains("city");
    }

    void cities(List<String> c) {
        List<String> sorted = new ArrayList<>(c);
        Collections.sort(sorted);
        this.cities = List.copyOf(sorted);
    }

    int indexOf(String name) {
        return names.indexOf(name);
    }

    /** The values of request i (String, Long or LocalDateTime), in the order of {@link #names}. */
    Object[] values(long i) {
        SplittableRandom r = new SplittableRandom(mix(seed, i));
        Object[] v = new Object[names.size()];
        LocalDateTime[] win = null;
        for (int k = 0; k < v.length; k++) {
            switch (gens.get(k)) {
                case Gen.City c -> v[k] = cities.get(r.nextInt(cities.size()));
                case Gen.Window w -> {
                    if (win == null) win = window(r);
                    v[k] = win[w.end()];
                }
                case Gen.Int n -> v[k] = n.lo() + (n.hi() == n.lo() ? 0 : r.nextLong(n.hi() - n.lo() + 1));
                case Gen.Items l -> v[k] = l.items()[r.nextInt(l.items().length)];
                case Gen.Value x -> v[k] = x.value();
            }
        }
        return v;
    }

    /** A parameter's generator, as --param SPEC names it. */
    sealed interface Gen {
        record City() implements Gen {}

        /** window.start (end 0) or window.end (end 1): both from the same random window of a request. */
        record Window(int end) implements Gen {}

        record Int(long lo, long hi) implements Gen {}

        record Items(String[] items) implements Gen {}

        record Value(String value) implements Gen {}
    }

    /** The original's window: length MIN..MAX days, start between --window-from and today minus the length. */
    LocalDateTime[] window(SplittableRandom r) {
        int days = minDays + r.nextInt(maxDays - minDays + 1);
        long first = from.atStartOfDay().toEpochSecond(ZoneOffset.UTC);
        long last = today.atStartOfDay().toEpochSecond(ZoneOffset.UTC) - days * 86_400L;
        long start = last <= first ? first : first + r.nextLong(last - first + 1);
        LocalDateTime s = LocalDateTime.ofEpochSecond(start, 0, ZoneOffset.UTC);
        return new LocalDateTime[] {s, s.plusDays(days)};
    }

    static long mix(long seed, long i) {
        long z = seed * 0x9E3779B97F4A7C15L + i * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    String describe() {
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < names.size(); k++) {
            if (k > 0) sb.append(", ");
            sb.append(names.get(k)).append('=').append(specs.get(k));
        }
        if (specs.stream().anyMatch(s -> s.startsWith("window."))) {
            sb.append(" (window ").append(minDays).append("..").append(maxDays).append(" days between ").append(from).append(" and ").append(today).append(")");
        }
        if (cities != null) sb.append(" (").append(cities.size()).append(" cities)");
        return sb.toString();
    }

    static String text(Object v) {
        return v instanceof LocalDateTime t ? t.format(TB_TIME) : String.valueOf(v);
    }

    static final DateTimeFormatter TB_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);
}
