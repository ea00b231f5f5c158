///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//JAVA_OPTIONS -XX:TieredStopAtLevel=1 -XX:CompileThresholdScaling=0.05 -XX:+UseSerialGC -XX:+UseTransparentHugePages -Xlog:pagesize=off
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/PgClient.java
//SOURCES ../lib/Pool.java
//SOURCES ../lib/Latency.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/Tinybird.java
//DESCRIPTION PostgreSQL vs a Tinybird endpoint under load, side by side, with coordinated-omission-correct latency.
//DESCRIPTION   stress-case.java --target both --duration 60s --concurrency 10 --html report.html
//DESCRIPTION   stress-case.java --target tinybird --rate 500 --duration 30s --threshold 'p99<200ms'
//DESCRIPTION   stress-case.java merge machine1.hlog machine2.hlog --json merged.json
//MAIN StressCase

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.net.ssl.SSLSocketFactory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariDataSource;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogReader;
import org.HdrHistogram.HistogramLogWriter;
import org.HdrHistogram.Recorder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "stress-case", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        subcommands = {StressCase.Merge.class},
        description = {
                "Loads PostgreSQL and a Tinybird API endpoint with the same questions, side by side, and measures latency",
                "with HdrHistogram. Default workload (the original's): a random city and a random 2..90-day window between",
                "2023-05-01 and today, sent as bind parameters to weather_reports and as city/start_time/end_time to reports.json.",
                "Closed model (--concurrency N workers, each waits for its answer) or open model (--rate N requests/s on a",
                "fixed schedule; latency counts from each request's intended start, so a stalling server can't hide its tail).",
                ""},
        footer = {"",
                "Parameters (--param NAME=SPEC, repeatable; named :NAME in --sql, query parameters of --pipe / --http-url):",
                "  city                    a random city (api_cities, and/or SELECT DISTINCT site_name FROM weather_reports)",
                "  window.start, window.end  a random window of --window days between --window-from and --window-to",
                "  int:LO..HI              a random integer;   list:a,b,c  a random item;   value:X  always X",
                "",
                "Thresholds (--threshold, repeatable, exit code 99 when one is missed): [TARGET.]METRIC OP VALUE",
                "  p50 p90 p99 p99.9 mean max (ms, s or us)   errors (%% or a count)   rps",
                "  e.g. 'p99<200ms'  'errors<1%%'  'tinybird.p99.9<=1s'  'postgres.rps>500'",
                "",
                "Examples:",
                "  stress-case.java --target both --duration 60s --concurrency 10 --html report.html",
                "  stress-case.java --target postgres --rate 1000 --duration 30s --threshold 'p99<50ms' --threshold 'errors<1%%'",
                "  stress-case.java --target postgres --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' \\",
                "      --param aid=int:1..100000 --concurrency 50",
                "  stress-case.java --target tinybird --pipe top_cities --param limit=int:1..50 --hlog run1.hlog",
                "  stress-case.java merge run1.hlog run2.hlog --html merged.html",
                "",
                "Environment: DATABASE_URL / PG* / POSTGRES_DATABASE_* (PostgreSQL); TINYBIRD_HOST or TB_HOST (API host,",
                "default https://api.tinybird.co); TINYBIRD_READ_TOKEN / TINYBIRD_TOKEN / TB_TOKEN / TINYBIRD_KEY (read token)."})
class StressCase implements Callable<Integer> {

    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;
    @Mixin Tinybird.Options tb;

    @Option(names = "--target", paramLabel = "WHICH", defaultValue = "both",
            description = "postgres, tinybird, both (= postgres,tinybird), http, or a comma list. Default: ${DEFAULT-VALUE}.")
    String target;

    @Option(names = {"-c", "--concurrency"}, paramLabel = "N", defaultValue = "10",
            description = "Workers (connections) per target. Closed model: requests in flight. Open model: the most in flight. Default: ${DEFAULT-VALUE}.")
    int concurrency;

    @Option(names = "--rate", paramLabel = "N[/s]",
            description = "Open model: N requests per second per target on a fixed schedule (coordinated omission corrected).")
    String rate;

    @Option(names = {"-d", "--duration"}, paramLabel = "TIME", defaultValue = "30s", converter = Cli.DurationConverter.class,
            description = "How long to measure (after the warm-up). Default: ${DEFAULT-VALUE}.")
    Duration duration;

    @Option(names = "--warmup", paramLabel = "TIME", defaultValue = "0s", converter = Cli.DurationConverter.class,
            description = "Load before measuring, excluded from every result. Default: ${DEFAULT-VALUE}.")
    Duration warmup;

    @Option(names = "--max-requests", paramLabel = "N", description = "Stop a target after N measured requests.")
    Long maxRequests;

    @Option(names = "--timeout", paramLabel = "TIME", defaultValue = "10s", converter = Cli.DurationConverter.class,
            description = "Per-request timeout (HTTP read, PostgreSQL statement_timeout). Default: ${DEFAULT-VALUE}.")
    Duration timeout;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42",
            description = "Seed of the parameter generators: the same seed sends the same sequence to every target. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--sql", paramLabel = "SQL", description = "PostgreSQL query with :named parameters (default: the original's weather_reports query).")
    String sql;

    @Option(names = "--pipe", paramLabel = "NAME", defaultValue = "reports", description = "Tinybird pipe (API endpoint). Default: ${DEFAULT-VALUE}.")
    String pipe;

    @Option(names = "--cities-pipe", paramLabel = "NAME", defaultValue = "api_cities",
            description = "Pipe listing the cities (column site_name). Default: ${DEFAULT-VALUE}.")
    String citiesPipe;

    @Option(names = "--http-url", paramLabel = "URL", description = "The 'http' target: GET this URL (plus --param values as query parameters).")
    String httpUrl;

    @Option(names = "--param", paramLabel = "NAME=SPEC", description = "A request parameter and its generator (see below); replaces the default ones.")
    List<String> params = new ArrayList<>();

    @Option(names = "--window", paramLabel = "MIN..MAX", defaultValue = "2..90", description = "Window length in days for window.start/end. Default: ${DEFAULT-VALUE}.")
    String window;

    @Option(names = "--window-from", paramLabel = "DATE", defaultValue = "2023-05-01", description = "Earliest window start. Default: ${DEFAULT-VALUE}.")
    LocalDate windowFrom;

    @Option(names = "--window-to", paramLabel = "DATE", description = "Latest window end (default: today, UTC).")
    LocalDate windowTo;

    @Option(names = "--pool", paramLabel = "N", description = "PostgreSQL pool size (default: --concurrency).")
    Integer poolSize;

    @Option(names = "--threads", paramLabel = "KIND", defaultValue = "auto",
            description = "How requests are driven: loop (plain-http targets in the closed model: a few selector threads, one a core, "
                    + "each serving many connections, as wrk), platform or virtual (a thread a worker), or auto (loop where it "
                    + "applies; else platform threads up to 256 workers per target, virtual beyond). Default: ${DEFAULT-VALUE}.")
    String threads;

    @Option(names = "--threshold", paramLabel = "EXPR", description = "A pass/fail criterion, k6 style; exit code 99 when missed.")
    List<String> thresholds = new ArrayList<>();

    @Option(names = "--json", paramLabel = "FILE", description = "Write the summary as JSON.")
    Path json;

    @Option(names = "--hlog", paramLabel = "FILE", description = "Write HdrHistogram interval logs (1 s intervals, microseconds) for 'merge'.")
    Path hlog;

    @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML report (charts, settings; no network needed).")
    Path html;

    @Option(names = "--live", description = "Print the per-second live line even when stderr is not a terminal.")
    boolean live;

    @Option(names = "--give-up", paramLabel = "TIME", defaultValue = "5s", converter = Cli.DurationConverter.class,
            description = "Stop loading a target that has answered nothing but errors for this long (0 = never). Default: ${DEFAULT-VALUE}.")
    Duration giveUp;

    @Option(names = "--late-after", paramLabel = "TIME", defaultValue = "10ms", converter = Cli.DurationConverter.class, hidden = true,
            description = "Open model: a request that starts later than this after its intended time counts as a late start.")
    Duration lateAfter;

    static final int EXIT_THRESHOLD = 99;
    static final String DEFAULT_SQL =
            "SELECT * FROM weather_reports WHERE site_name = :city AND timestamp > :start_time AND timestamp <= :end_time ORDER BY timestamp DESC";
    static final DateTimeFormatter TB_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new StressCase()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::execute);
    }

    // =====================================================================================================
    // the run
    // =====================================================================================================

    int execute() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        List<String> kinds = parseTargets(target);
        if (concurrency < 1) throw Cli.usage("--concurrency must be at least 1");
        if (duration.isZero() || duration.isNegative()) throw Cli.usage("--duration must be positive");
        Double ratePerSec = rate == null ? null : parseRate(rate);
        List<Threshold> ths = new ArrayList<>();
        for (String t : thresholds) ths.add(Threshold.parse(t, kinds));
        if (!List.of("auto", "loop", "platform", "virtual").contains(threads)) throw Cli.usage("--threads must be auto, loop, platform or virtual");
        if (threads.equals("loop") && ratePerSec != null) {
            throw Cli.usage("--threads loop drives the closed model only (--concurrency); with --rate use auto, platform or virtual");
        }
        boolean eventLoop = ratePerSec == null && (threads.equals("auto") || threads.equals("loop"));
        String threadKind = threads.equals("platform") || threads.equals("virtual") ? threads
                : concurrency * kinds.size() <= 256 ? "platform" : "virtual";
        int[] win = parseRange(window, "--window");
        if (win[0] < 0 || win[1] < win[0]) throw Cli.usage("--window: MIN..MAX days with 0 <= MIN <= MAX");

        Config cfg = common.config();
        List<String> ps = params.isEmpty() && kinds.equals(List.of("http")) ? List.of() : params.isEmpty()
                ? List.of("city=city", "start_time=window.start", "end_time=window.end") : params;
        Workload wl = Workload.parse(ps, seed, win[0], win[1], windowFrom,
                windowTo == null ? LocalDate.now(ZoneOffset.UTC) : windowTo);
        List<Target> targets = new ArrayList<>();
        try {
            for (String k : kinds) {
                targets.add(switch (k) {
                    case "postgres" -> new PgTarget(pg.resolve(cfg), sql == null ? DEFAULT_SQL : sql, wl,
                            poolSize == null ? concurrency : poolSize, concurrency, timeout);
                    case "tinybird" -> new HttpTarget("tinybird", tinybirdBase(cfg) + "/v0/pipes/" + enc(pipe) + ".json",
                            tinybirdToken(cfg), wl, timeout, true);
                    default -> {
                        if (httpUrl == null) throw Cli.usage("--target http needs --http-url URL");
                        yield new HttpTarget("http", httpUrl, null, wl, timeout, false);
                    }
                });
            }
            List<String> drive = new ArrayList<>();
            for (Target t : targets) {
                if (eventLoop && t instanceof HttpTarget h && h.plain()) drive.add(t.name() + ": event loop, " + loopThreads(concurrency) + " threads");
                else if (threads.equals("loop")) throw Cli.usage("--threads loop speaks plain http; " + t.name() + " needs auto, platform or virtual");
                else drive.add(t.name() + ": " + threadKind + " threads");
            }
            // cities: from the endpoint's api_cities when Tinybird is a target, else from the table
            if (wl.needsCities()) {
                // both targets: the cities both know, so that both answer the same questions
                List<String> cities = null;
                for (Target t : targets) if (t instanceof HttpTarget h && h.tinybird) cities = h.cities(tinybirdBase(cfg), citiesPipe);
                for (Target t : targets) {
                    if (t instanceof PgTarget p) {
                        List<String> inTable = p.cities();
                        if (cities == null) cities = inTable;
                        else cities.retainAll(inTable);
                    }
                }
                if (cities == null) throw Cli.usage("the 'city' parameter needs a postgres or tinybird target (or use list:a,b,c)");
                if (cities.isEmpty()) throw new Cli.Failure("no cities to choose from (is the data loaded? see stress-case/seed-data.java)");
                wl.cities(cities);
            }
            for (Target t : targets) t.check(); // one real request each: a target down at start is one clear error

            Settings settings = new Settings(kinds, ratePerSec, concurrency, duration, warmup, maxRequests, timeout, seed,
                    describeWorkload(kinds, wl), threadKind, eventLoop, String.join(", ", drive));
            Engine engine = new Engine(targets, settings, wl, err, live || (!common.quiet && Cli.isTerminal()), giveUp, lateAfter, hlog);
            Report report = engine.run();
            return finish(report, ths);
        } finally {
            for (Target t : targets) t.close();
        }
    }

    /** Prints the table, writes the files, checks the thresholds; shared by the run and 'merge'. */
    int finish(Report report, List<Threshold> ths) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        out.print(report.table());
        out.flush();
        List<String> misses = new ArrayList<>();
        List<ObjectNode> checks = new ArrayList<>();
        for (Threshold t : ths) t.check(report, misses, checks);
        if (json != null) writeAtomically(json, report.json(checks).toPrettyString() + "\n");
        if (html != null) writeAtomically(html, Html.render(report));
        for (TargetResult r : report.results) {
            if (r.gaveUp != null) err.println(spec.root().name() + ": " + r.name + ": " + r.gaveUp);
            err.println(Cli.summary(r.name, r.count(), "requests", -1, Duration.ofNanos((long) (r.seconds * 1e9)))
                    + (r.errorCount() > 0 ? String.format(Locale.ROOT, ", %,d errors", r.errorCount()) : ""));
        }
        for (String m : misses) err.println(spec.root().name() + ": threshold missed: " + m);
        err.flush();
        return misses.isEmpty() ? 0 : EXIT_THRESHOLD;
    }

    static void writeAtomically(Path file, String text) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = tempBeside(abs);
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW);
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new Cli.Failure("cannot write " + file + ": " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A temporary name next to the file (created with the usual permissions, unlike createTempFile's 0600). */
    static Path tempBeside(Path abs) {
        return abs.resolveSibling("." + abs.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
    }

    static List<String> parseTargets(String s) {
        List<String> out = new ArrayList<>();
        for (String p : s.toLowerCase(Locale.ROOT).split(",")) {
            switch (p.strip()) {
                case "both" -> { add(out, "postgres"); add(out, "tinybird"); }
                case "postgres", "pg", "postgresql" -> add(out, "postgres");
                case "tinybird", "tb" -> add(out, "tinybird");
                case "http" -> add(out, "http");
                default -> throw Cli.usage("--target: unknown target '" + p.strip() + "' (postgres, tinybird, both, http)");
            }
        }
        return out;
    }

    private static void add(List<String> l, String s) {
        if (!l.contains(s)) l.add(s);
    }

    static double parseRate(String s) {
        String t = s.strip().toLowerCase(Locale.ROOT).replace("_", "").replace(",", "");
        if (t.endsWith("/s")) t = t.substring(0, t.length() - 2);
        try {
            double r = Double.parseDouble(t);
            if (!(r > 0) || r > 10_000_000) throw Cli.usage("--rate must be between 0 and 10,000,000 per second");
            return r;
        } catch (NumberFormatException e) {
            throw Cli.usage("--rate: not a rate: '" + s + "' (examples: 100, 10000/s)");
        }
    }

    static int[] parseRange(String s, String what) {
        Matcher m = Pattern.compile("\\s*(-?\\d+)\\s*\\.\\.\\s*(-?\\d+)\\s*").matcher(s);
        if (!m.matches()) throw Cli.usage(what + ": expected LO..HI, got '" + s + "'");
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
    }

    String tinybirdBase(Config cfg) {
        return tb.host(cfg);
    }

    String tinybirdToken(Config cfg) {
        String t = tb.token != null && !tb.token.isBlank() ? tb.token
                : cfg.get("TINYBIRD_READ_TOKEN", "TINYBIRD_TOKEN", "TB_TOKEN", "TINYBIRD_KEY").orElse(null);
        if (t != null) Config.registerSecret(t);
        return t;
    }

    String describeWorkload(List<String> kinds, Workload wl) {
        StringBuilder sb = new StringBuilder();
        if (kinds.contains("postgres")) sb.append("postgres: ").append(sql == null ? DEFAULT_SQL : sql).append('\n');
        if (kinds.contains("tinybird")) sb.append("tinybird: ").append(pipe).append(".json\n");
        if (kinds.contains("http")) sb.append("http: GET ").append(Config.redact(httpUrl)).append('\n');
        sb.append("parameters: ").append(wl.describe());
        return sb.toString();
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    // =====================================================================================================
    // workload: parameter generators, deterministic per (seed, request index)
    // =====================================================================================================

    /** The parameters of every request. values(i) is a pure function of the seed and i: every target gets the same sequence. */
    static final class Workload {
        final List<String> names = new ArrayList<>();
        final List<String> specs = new ArrayList<>();
        final long seed;
        final int minDays, maxDays;
        final LocalDate from, today;
        List<String> cities;

        private Workload(long seed, int minDays, int maxDays, LocalDate from, LocalDate today) {
            this.seed = seed;
            this.minDays = minDays;
            this.maxDays = maxDays;
            this.from = from;
            this.today = today;
        }

        static Workload parse(List<String> params, long seed, int minDays, int maxDays, LocalDate from, LocalDate today) {
            Workload w = new Workload(seed, minDays, maxDays, from, today);
            for (String p : params) {
                int eq = p.indexOf('=');
                if (eq <= 0) throw Cli.usage("--param: expected NAME=SPEC, got '" + p + "'");
                String name = p.substring(0, eq).strip(), spec = p.substring(eq + 1).strip();
                if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) throw Cli.usage("--param: invalid name '" + name + "'");
                if (!(spec.equals("city") || spec.equals("window.start") || spec.equals("window.end") || spec.startsWith("int:")
                        || spec.startsWith("list:") || spec.startsWith("value:"))) {
                    throw Cli.usage("--param " + name + ": unknown generator '" + spec
                            + "' (city, window.start, window.end, int:LO..HI, list:a,b,c, value:X)");
                }
                if (spec.startsWith("int:")) {
                    long[] r = longRange(spec.substring(4), name);
                    if (r[1] < r[0]) throw Cli.usage("--param " + name + ": int:LO..HI needs LO <= HI");
                }
                if (spec.startsWith("list:") && spec.length() == 5) throw Cli.usage("--param " + name + ": list: needs values");
                if (w.names.contains(name)) throw Cli.usage("--param " + name + " given twice");
                w.names.add(name);
                w.specs.add(spec);
            }
            return w;
        }

        static long[] longRange(String s, String name) {
            Matcher m = Pattern.compile("\\s*(-?\\d+)\\s*\\.\\.\\s*(-?\\d+)\\s*").matcher(s);
            if (!m.matches()) throw Cli.usage("--param " + name + ": expected int:LO..HI, got 'int:" + s + "'");
            return new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
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
                String s = specs.get(k);
                if (s.equals("city")) {
                    v[k] = cities.get(r.nextInt(cities.size()));
                } else if (s.startsWith("window.")) {
                    if (win == null) win = window(r);
                    v[k] = s.endsWith("start") ? win[0] : win[1];
                } else if (s.startsWith("int:")) {
                    long[] range = longRange(s.substring(4), names.get(k));
                    v[k] = range[0] + (range[1] == range[0] ? 0 : r.nextLong(range[1] - range[0] + 1));
                } else if (s.startsWith("list:")) {
                    String[] items = s.substring(5).split(",", -1);
                    v[k] = items[r.nextInt(items.length)];
                } else {
                    v[k] = s.substring(6);
                }
            }
            return v;
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
                sb.append(" (window ").append(minDays).append("..").append(maxDays).append(" days from ").append(from).append(')');
            }
            if (cities != null) sb.append(" (").append(cities.size()).append(" cities)");
            return sb.toString();
        }

        static String text(Object v) {
            return v instanceof LocalDateTime t ? t.format(TB_TIME) : String.valueOf(v);
        }
    }

    /** Replaces :name parameters with ? (lib/PgClient.named); returns the names in order. A bare ? is refused. */
    static String bindNamed(String sql, List<String> namesOut) {
        PgClient.Named q = PgClient.named(sql);
        if (q.bareMarks() > 0) throw Cli.usage("--sql: use :name parameters, not '?'");
        namesOut.addAll(q.names());
        return q.sql();
    }

    // =====================================================================================================
    // targets
    // =====================================================================================================

    /** Something to load. A session belongs to one worker (one connection for HTTP). */
    interface Target extends AutoCloseable {
        String name();

        Session session();

        /** One real request before the run: a target that is down or misconfigured fails here with one line. */
        void check() throws Exception;

        @Override
        void close();
    }

    interface Session extends AutoCloseable {
        /** Sends request i's values; returns the rows in the answer (-1 when unknown); throws on any failure. */
        long call(Object[] values) throws Exception;

        @Override
        void close();
    }

    static final class PgTarget implements Target {
        final Pg.Target where;
        final String sql;
        final int[] slots; // for each ?, the workload value index
        final int poolSize, workers;
        final Duration timeout;
        final Workload wl;
        HikariDataSource ds;

        PgTarget(Pg.Target t, String namedSql, Workload wl, int poolSize, int workers, Duration timeout) {
            List<String> names = new ArrayList<>();
            this.sql = bindNamed(namedSql, names);
            this.slots = new int[names.size()];
            for (int k = 0; k < names.size(); k++) {
                slots[k] = wl.indexOf(names.get(k));
                if (slots[k] < 0) throw Cli.usage("--sql uses :" + names.get(k) + " but no --param " + names.get(k) + "=... defines it");
            }
            Properties p = new Properties();
            p.putAll(t.props());
            String opt = "-c statement_timeout=" + Math.max(1, timeout.toMillis());
            p.setProperty("options", p.containsKey("options") ? p.getProperty("options") + " " + opt : opt);
            p.setProperty("socketTimeout", Long.toString(timeout.toSeconds() + 5));
            p.putIfAbsent("connectTimeout", "10");
            p.putIfAbsent("socketFactory", BlockingSocketFactory.class.getName()); // blocking sockets, timeouts by Deadlines
            p.putIfAbsent("ApplicationName", "stress-case");
            this.where = new Pg.Target(t.jdbcUrl(), p);
            this.wl = wl;
            this.poolSize = poolSize;
            this.workers = workers;
            this.timeout = timeout;
        }

        public String name() {
            return "postgres";
        }

        HikariDataSource pool() {
            if (ds == null) {
                try {
                    ds = Pool.create(where, poolSize);
                    ds.setConnectionTimeout(Math.max(250, Math.min(timeout.toMillis(), 30_000))); // a dead server: errors, not a 30 s hang
                } catch (SQLException | RuntimeException e) {
                    throw new Cli.Failure("postgres: cannot connect to " + where.jdbcUrl().replaceFirst("^jdbc:postgresql://", "")
                            + (where.user() == null ? "" : " as " + where.user()) + ": " + oneLine(e), e);
                }
            }
            return ds;
        }

        List<String> cities() {
            try (Connection c = pool().getConnection(); PreparedStatement ps = c.prepareStatement(
                    "SELECT DISTINCT site_name FROM weather_reports WHERE site_name IS NOT NULL")) {
                List<String> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) out.add(rs.getString(1));
                }
                return out;
            } catch (SQLException e) {
                throw new Cli.Failure("postgres: cannot read the cities from weather_reports: " + oneLine(e), e);
            }
        }

        /**
         * Every connection of the pool opened before the clock starts (HikariCP opens them one at a time in the
         * background: a run that started at once had ~40 of 50, and its workers queued for connections), then one
         * real query: a target down or a query failing at start is one clear error.
         */
        public void check() {
            try {
                Pool.fill(pool(), poolSize);
            } catch (SQLException e) {
                throw new Cli.Failure("postgres: cannot open the pool's " + poolSize + " connections: " + oneLine(e), e);
            }
            try (Session s = session()) {
                s.call(wl.values(Long.MAX_VALUE));
            } catch (Cli.Failure f) {
                throw f;
            } catch (Exception e) {
                throw new Cli.Failure("postgres: the query fails: " + oneLine(e), e);
            }
        }

        /**
         * A connection from the pool per request, returned at once (HikariCP keeps a thread's last connection handy;
         * pgjdbc caches the server-side prepared statement per connection). A variant keeping one connection and one
         * PreparedStatement per worker was tried: on the shared, overloaded bench machine the two could not be told apart.
         */
        public Session session() {
            HikariDataSource pool = pool();
            return new Session() {
                public long call(Object[] v) throws SQLException {
                    try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                        return execute(ps, v);
                    }
                }

                public void close() {}
            };
        }

        long execute(PreparedStatement ps, Object[] v) throws SQLException {
            for (int k = 0; k < slots.length; k++) {
                Object o = v[slots[k]];
                if (o instanceof Long l) ps.setLong(k + 1, l);
                else if (o instanceof LocalDateTime t) ps.setObject(k + 1, t);
                else ps.setString(k + 1, (String) o);
            }
            long rows = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) rows++;
            }
            return rows;
        }

        public void close() {
            if (ds != null) ds.close();
        }
    }

    /** An HTTP GET target (a Tinybird pipe or any URL) over our own minimal HTTP/1.1 keep-alive client. */
    static final class HttpTarget implements Target {
        final String name;
        final URI base;
        final String token;
        final Workload wl;
        final Duration timeout;
        final boolean tinybird;
        final List<Http1> open = new CopyOnWriteArrayList<>();
        final List<HttpLoop> loops = new CopyOnWriteArrayList<>();

        HttpTarget(String name, String url, String token, Workload wl, Duration timeout, boolean tinybird) {
            this.name = name;
            try {
                this.base = URI.create(url);
            } catch (IllegalArgumentException e) {
                throw Cli.usage(name + ": not a URL: " + Config.redact(url));
            }
            if (base.getHost() == null || !(base.getScheme().equals("http") || base.getScheme().equals("https"))) {
                throw Cli.usage(name + ": not an http(s) URL: " + Config.redact(url));
            }
            this.token = token;
            this.wl = wl;
            this.timeout = timeout;
            this.tinybird = tinybird;
        }

        public String name() {
            return name;
        }

        /** Plain http (the event loop speaks no TLS). */
        boolean plain() {
            return base.getScheme().equals("http");
        }

        Http1 connection() {
            Http1 h = new Http1(base, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            open.add(h);
            return h;
        }

        String pathAndQuery(Object[] v) {
            StringBuilder sb = new StringBuilder(base.getRawPath().isEmpty() ? "/" : base.getRawPath());
            boolean q = base.getRawQuery() != null;
            if (q) sb.append('?').append(base.getRawQuery());
            for (int k = 0; k < v.length; k++) {
                sb.append(q ? '&' : '?');
                q = true;
                sb.append(enc(wl.names.get(k))).append('=').append(enc(Workload.text(v[k])));
            }
            return sb.toString();
        }

        String headers() {
            return token == null ? "" : "Authorization: Bearer " + token + "\r\n";
        }

        List<String> cities(String tbBase, String citiesPipe) {
            try (Http1 h = connection()) {
                URI u = URI.create(tbBase + "/v0/pipes/" + enc(citiesPipe) + ".json");
                int status = h.get(u.getRawPath(), headers());
                String body = h.bodyText();
                if (status != 200) throw new Cli.Failure(name + ": " + citiesPipe + " answered HTTP " + status + ": " + shorten(body));
                JsonNode data = Json.MAPPER.readTree(body).path("data");
                List<String> out = new ArrayList<>();
                for (JsonNode row : data) {
                    JsonNode c = row.has("site_name") ? row.get("site_name") : row.elements().hasNext() ? row.elements().next() : null;
                    if (c != null && !c.isNull()) out.add(c.asText());
                }
                return out;
            } catch (Cli.Failure f) {
                throw f;
            } catch (Exception e) {
                throw new Cli.Failure(name + ": cannot reach " + tbBase + ": " + oneLine(e), e);
            }
        }

        public void check() {
            try (Session s = session()) {
                s.call(wl.values(Long.MAX_VALUE));
            } catch (HttpStatus e) {
                if (e.status >= 500 || e.status == 429) return; // the server is there; its failures are counted during the run
                throw new Cli.Failure(name + ": " + base.getScheme() + "://" + base.getAuthority() + base.getRawPath()
                        + " answered HTTP " + e.status + ": " + shorten(e.body), e);
            } catch (Exception e) {
                throw new Cli.Failure(name + ": cannot reach " + base.getScheme() + "://" + base.getAuthority() + ": " + oneLine(e), e);
            }
        }

        public Session session() {
            Http1 h = connection();
            h.tailOnly = true; // the answers are counted, not kept (an error's text is its end)
            String hdr = headers();
            byte[] fixed = wl.names.isEmpty() ? h.request(pathAndQuery(new Object[0]), hdr) : null;
            return new Session() {
                public long call(Object[] v) throws IOException {
                    int status = fixed != null ? h.send(fixed) : h.get(pathAndQuery(v), hdr);
                    if (status < 200 || status > 299) throw new HttpStatus(status, h.bodyText());
                    return tinybird ? h.tinybirdRows() : -1;
                }

                public void close() {
                    h.close();
                    open.remove(h);
                }
            };
        }

        public void close() {
            for (Http1 h : open) h.close();
            for (HttpLoop l : loops) l.abort();
        }
    }

    static final class HttpStatus extends IOException {
        final int status;
        final String body;

        HttpStatus(int status, String body) {
            super("HTTP " + status);
            this.status = status;
            this.body = body;
        }
    }

    /**
     * Request timeouts without SO_TIMEOUT. A timed read (or a connect with a timeout) switches a JDK socket to
     * non-blocking mode for good: from then on every read of a platform thread that finds nothing yet costs three
     * system calls (read, poll, read) where a blocking socket needs one, and every read of a virtual thread that has
     * to wait schedules and cancels a timer. Measured on the 2-core bench machine against nginx: ~20 % more CPU per
     * request. Instead, sockets stay blocking and one daemon thread closes the socket of a request that is past its
     * deadline (checked every 10 ms); the blocked read then fails and the caller reports a timeout.
     */
    static final class Deadlines {
        static final long IDLE = 0, FIRED = -1;
        static final Set<Watched> watched = ConcurrentHashMap.newKeySet();
        private static Thread ticker;

        private Deadlines() {}

        /** One socket's deadline (System.nanoTime(), IDLE or FIRED) and how to close it (run on the ticker thread). */
        static final class Watched {
            final AtomicLong deadline = new AtomicLong(IDLE);
            final Runnable expire;

            Watched(Runnable expire) {
                this.expire = expire;
            }

            /** Watches this socket from now on (until {@link #unwatch}). */
            void watch() {
                if (watched.add(this)) startTicker();
            }

            void unwatch() {
                watched.remove(this);
            }

            /** Starts a deadline timeoutNanos from now; returns it, the token for {@link #disarm}. */
            long arm(long timeoutNanos) {
                long d = System.nanoTime() + timeoutNanos;
                if (d == IDLE || d == FIRED) d = 1;
                deadline.set(d);
                return d;
            }

            /** Ends the deadline; false when the ticker fired it first (the socket is closed or being closed). */
            boolean disarm(long token) {
                return deadline.compareAndSet(token, IDLE) || deadline.get() != FIRED;
            }

            boolean fired() {
                return deadline.get() == FIRED;
            }
        }

        private static synchronized void startTicker() {
            if (ticker == null) ticker = Thread.ofPlatform().daemon(true).name("stress-case-deadlines").start(Deadlines::tick);
            else LockSupport.unpark(ticker); // it sleeps while nothing is watched
        }

        private static void tick() {
            while (true) {
                if (watched.isEmpty()) LockSupport.park(); // a watch() after this check leaves a permit: no lost wake-up
                LockSupport.parkNanos(10_000_000L);
                long now = System.nanoTime();
                for (Watched w : watched) {
                    long d = w.deadline.get();
                    if (d != IDLE && d != FIRED && now - d >= 0 && w.deadline.compareAndSet(d, FIRED)) {
                        try {
                            w.expire.run();
                        } catch (RuntimeException ignored) {
                            // closing anyway
                        }
                    }
                }
            }
        }
    }

    /**
     * pgjdbc's socket factory (property socketFactory) for blocking sockets with {@link Deadlines}: connectTimeout
     * and socketTimeout (setSoTimeout) are enforced by closing the socket, which pgjdbc then reports as an I/O error,
     * as it does a timed-out read. Public with a public constructor: pgjdbc instantiates it by name.
     */
    public static final class BlockingSocketFactory extends javax.net.SocketFactory {
        public BlockingSocketFactory() {}

        @Override
        public Socket createSocket() {
            return new WatchedSocket();
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            Socket s = createSocket();
            s.connect(new InetSocketAddress(host, port));
            return s;
        }

        @Override
        public Socket createSocket(String host, int port, java.net.InetAddress localHost, int localPort) throws IOException {
            Socket s = createSocket();
            s.bind(new InetSocketAddress(localHost, localPort));
            s.connect(new InetSocketAddress(host, port));
            return s;
        }

        @Override
        public Socket createSocket(java.net.InetAddress host, int port) throws IOException {
            Socket s = createSocket();
            s.connect(new InetSocketAddress(host, port));
            return s;
        }

        @Override
        public Socket createSocket(java.net.InetAddress address, int port, java.net.InetAddress localAddress, int localPort) throws IOException {
            Socket s = createSocket();
            s.bind(new InetSocketAddress(localAddress, localPort));
            s.connect(new InetSocketAddress(address, port));
            return s;
        }
    }

    /** A blocking socket whose connect and read timeouts are {@link Deadlines}. */
    static final class WatchedSocket extends Socket {
        final Deadlines.Watched watch = new Deadlines.Watched(this::abort);
        volatile int soTimeoutMs;
        private InputStream in;

        private void abort() {
            try {
                super.close();
            } catch (IOException ignored) {
                // closed anyway
            }
        }

        @Override
        public void connect(java.net.SocketAddress endpoint, int timeoutMs) throws IOException {
            watch.watch(); // once: the reads' deadlines need it too
            try {
                if (timeoutMs <= 0) {
                    super.connect(endpoint, 0);
                    return;
                }
                long token = watch.arm(timeoutMs * 1_000_000L);
                try {
                    super.connect(endpoint, 0); // blocking; a connect with a timeout would make the socket non-blocking
                } catch (IOException e) {
                    if (watch.fired()) throw new SocketTimeoutException("connect timed out after " + timeoutMs + " ms");
                    throw e;
                }
                if (!watch.disarm(token)) throw new SocketTimeoutException("connect timed out after " + timeoutMs + " ms");
            } catch (IOException e) {
                watch.unwatch();
                throw e;
            }
        }

        @Override
        public void setSoTimeout(int timeout) {
            soTimeoutMs = Math.max(0, timeout); // enforced by the deadlines, the socket itself stays blocking
        }

        @Override
        public int getSoTimeout() {
            return soTimeoutMs;
        }

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                InputStream raw = super.getInputStream();
                in = new java.io.FilterInputStream(raw) {
                    @Override
                    public int read() throws IOException {
                        byte[] one = new byte[1];
                        int n = read(one, 0, 1);
                        return n < 0 ? -1 : one[0] & 0xff;
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        int t = soTimeoutMs;
                        if (t == 0) return raw.read(b, off, len);
                        long token = watch.arm(t * 1_000_000L);
                        try {
                            return raw.read(b, off, len);
                        } catch (IOException e) {
                            if (watch.fired()) throw new SocketTimeoutException("Read timed out after " + t + " ms");
                            throw e;
                        } finally {
                            watch.disarm(token); // a read that completed as the deadline fired: the next one fails
                        }
                    }
                };
            }
            return in;
        }

        @Override
        public synchronized void close() throws IOException {
            watch.unwatch();
            super.close();
        }
    }

    /** A minimal HTTP/1.1 client: one keep-alive connection, GET only, Content-Length and chunked bodies. */
    static final class Http1 implements AutoCloseable {
        final String host, hostHeader;
        final int port, timeoutMs;
        final boolean tls;
        volatile Socket raw; // the TCP socket under TLS, closed by the deadline ticker
        final Deadlines.Watched watch = new Deadlines.Watched(this::expire);
        Socket socket;
        InputStream in;
        OutputStream out;
        final byte[] buf = new byte[16 * 1024];
        int pos, lim;
        byte[] body = new byte[16 * 1024];
        int bodyLen;
        boolean received;
        /** Only the end of an answer is needed (the measured requests: Tinybird's row count is at its end). */
        boolean tailOnly;

        Http1(URI u, int timeoutMs) {
            this.host = u.getHost();
            this.tls = u.getScheme().equals("https");
            this.port = u.getPort() > 0 ? u.getPort() : tls ? 443 : 80;
            this.hostHeader = hostHeader(u);
            this.timeoutMs = timeoutMs;
        }

        /** Connects (blocking: see {@link Deadlines}; the caller's deadline bounds it). */
        void connect() throws IOException {
            Socket r = new Socket();
            raw = r;
            watch.watch();
            if (watch.fired()) r.close(); // the deadline passed before the socket was there to close
            Socket s = r;
            try {
                r.setTcpNoDelay(true);
                // --connect-timeout and --ca-file (Tinybird.Options) hold for every HTTP target; the request's own
                // deadline (--timeout) still bounds the whole exchange
                Tinybird.Net net = Tinybird.Net.current();
                r.connect(new InetSocketAddress(host, port), (int) Math.max(1, Math.min(timeoutMs, net.connectTimeout().toMillis())));
                if (tls) {
                    SSLSocketFactory f = net.ssl() != null ? net.ssl().getSocketFactory() : (SSLSocketFactory) SSLSocketFactory.getDefault();
                    javax.net.ssl.SSLSocket t = (javax.net.ssl.SSLSocket) f.createSocket(r, host, port, true);
                    javax.net.ssl.SSLParameters sp = t.getSSLParameters();
                    sp.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the host
                    t.setSSLParameters(sp);
                    s = t;
                }
            } catch (IOException e) {
                r.close();
                raw = null;
                throw e;
            }
            socket = s;
            in = s.getInputStream();
            out = s.getOutputStream();
            pos = lim = 0;
        }

        void expire() {
            Socket r = raw;
            if (r != null) {
                try {
                    r.close();
                } catch (IOException ignored) {
                    // closed anyway
                }
            }
        }

        byte[] request(String pathAndQuery, String extraHeaders) {
            return getRequest(hostHeader, pathAndQuery, extraHeaders);
        }

        int get(String pathAndQuery, String extraHeaders) throws IOException {
            return send(request(pathAndQuery, extraHeaders));
        }

        /**
         * Sends a GET and reads the whole answer within timeoutMs (connecting included); returns the status. Retries
         * once on a stale keep-alive connection. A request past its deadline fails with SocketTimeoutException.
         */
        int send(byte[] req) throws IOException {
            long token = watch.arm(timeoutMs * 1_000_000L);
            try {
                boolean reused = socket != null;
                if (socket == null) connect();
                received = false;
                try {
                    out.write(req);
                    out.flush();
                    return readResponse();
                } catch (IOException e) {
                    close();
                    if (!reused || received || watch.fired()) throw e;
                    connect();
                    out.write(req);
                    out.flush();
                    return readResponse();
                }
            } catch (IOException e) {
                if (!watch.fired()) throw e;
                close();
                throw new SocketTimeoutException("no complete answer within " + timeoutMs + " ms");
            } finally {
                if (!watch.disarm(token)) close(); // fired just as the answer completed: reconnect next time
            }
        }

        private int fill() throws IOException {
            if (pos < lim) return lim - pos;
            pos = 0;
            lim = in.read(buf, 0, buf.length);
            if (lim < 0) {
                lim = 0;
                return -1;
            }
            received = true;
            return lim;
        }

        private String line() throws IOException {
            StringBuilder sb = new StringBuilder(64);
            while (true) {
                if (fill() < 0) throw new EOFException("connection closed by the server");
                while (pos < lim) {
                    byte b = buf[pos++];
                    if (b == '\n') {
                        int l = sb.length();
                        if (l > 0 && sb.charAt(l - 1) == '\r') sb.setLength(l - 1);
                        return sb.toString();
                    }
                    sb.append((char) (b & 0xff));
                    if (sb.length() > 65_536) throw new IOException("HTTP header line too long");
                }
            }
        }

        /** Index just past the blank line ending the header block, reading more as needed. */
        private int headerEnd() throws IOException {
            int from = pos;
            while (true) {
                for (int i = Math.max(from, pos + 3); i < lim; i++) {
                    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') return i + 1;
                }
                from = Math.max(pos, lim - 3);
                if (pos > 0) { // compact
                    System.arraycopy(buf, pos, buf, 0, lim - pos);
                    from -= pos;
                    lim -= pos;
                    pos = 0;
                }
                if (lim == buf.length) throw new IOException("HTTP headers over " + buf.length + " bytes");
                int n = in.read(buf, lim, buf.length - lim);
                if (n < 0) throw new EOFException(received ? "connection closed in the middle of a response" : "connection closed by the server");
                received = true;
                lim += n;
            }
        }

        private int readResponse() throws IOException {
            int end = headerEnd();
            Head h = Head.parse(buf, pos, end);
            if (h.interim()) {
                pos = end;
                return readResponse();
            }
            int code = h.code();
            long length = h.length();
            boolean chunked = h.chunked(), closeAfter = h.closeAfter();
            pos = end;
            bodyLen = 0;
            if (h.noBody()) {
                // no body
            } else if (chunked) {
                while (true) {
                    String sz = line();
                    int semi = sz.indexOf(';');
                    long n = Long.parseLong((semi < 0 ? sz : sz.substring(0, semi)).strip(), 16);
                    if (n == 0) {
                        while (!line().isEmpty()) { /* trailers */ }
                        break;
                    }
                    readBody(n);
                    line();
                }
            } else if (length >= 0) {
                readBody(length);
            } else {
                while (fill() > 0) {
                    append(lim - pos);
                }
                closeAfter = true;
            }
            if (closeAfter) close();
            return code;
        }

        private void readBody(long n) throws IOException {
            while (n > 0) {
                if (fill() < 0) throw new EOFException("connection closed in the middle of a response");
                int take = (int) Math.min(n, lim - pos);
                append(take);
                n -= take;
            }
        }

        private void append(int take) {
            if (bodyLen + take > body.length && tailOnly && body.length >= HttpLoop.KEEP) {
                // a long answer: keep its last TAIL bytes, so the buffer stays about KEEP bytes (as HttpLoop.compact)
                int keep = Math.min(bodyLen, HttpLoop.TAIL);
                System.arraycopy(body, bodyLen - keep, body, 0, keep);
                bodyLen = keep;
            }
            if (bodyLen + take > body.length) {
                body = java.util.Arrays.copyOf(body, Math.max(body.length * 2, bodyLen + take));
            }
            System.arraycopy(buf, pos, body, bodyLen, take);
            bodyLen += take;
            pos += take;
        }

        String bodyText() {
            return new String(body, 0, bodyLen, StandardCharsets.UTF_8);
        }

        /** The "rows" count of a Tinybird JSON answer (it follows "data"), or -1. */
        long tinybirdRows() {
            return StressCase.tinybirdRows(body, 0, bodyLen);
        }

        @Override
        public void close() {
            Socket s = socket, r = raw;
            socket = null;
            raw = null;
            watch.unwatch();
            for (Socket x : new Socket[] {s, r}) {
                if (x == null) continue;
                try {
                    x.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
    }

    /**
     * The closed model on a plain-http target the way wrk drives it: a few selector threads, each keeping its share
     * of the keep-alive connections busy. With a thread a connection, each thread blocks and wakes once a request: on
     * the 2-core bench machine that scheduling was 41 % of the client's CPU. Here one epoll_wait serves every
     * connection that is ready. The bookkeeping is {@link Engine#work}'s: a request starts when its connection is
     * free, its latency runs to the last byte of the answer, --timeout bounds it (connecting included, checked every
     * 10 ms), a stale keep-alive connection is retried once on a new one, and a connection that could not connect
     * waits 10 ms before the next try (no hot loop on a dead server).
     */
    static final class HttpLoop implements Runnable {
        static final long TICK_NS = 10_000_000L;
        static final int MAX_ANSWER = 1 << 30; // a header or a chunk this long is refused
        static final int KEEP = 1 << 20, TAIL = 64 * 1024; // of a longer answer, the last TAIL bytes are kept (compact)
        final Engine engine;
        final Live live;
        final HttpTarget target;
        final Selector selector;
        final List<Conn> conns = new ArrayList<>();
        final long timeoutNs;
        final byte[] fixed;
        final String hostHeader, extraHeaders;
        final int port;
        InetSocketAddress address;
        long resolvedAt;
        int retired;
        volatile boolean aborted;

        /** One keep-alive connection and the request on it. */
        static final class Conn {
            SocketChannel ch;
            SelectionKey key;
            ByteBuffer out, inBuf;
            byte[] in = new byte[16 * 1024];
            int len, headEnd = -1, scanned, chunkAt;
            long dropped; // body bytes of this answer let go (see compact)
            Head head;
            long intended, deadline, wakeAt;
            boolean measured, busy, reused, received, retried, retired;
        }

        HttpLoop(Engine engine, Live live, HttpTarget target, int connections) throws IOException {
            this.engine = engine;
            this.live = live;
            this.target = target;
            this.selector = Selector.open();
            this.timeoutNs = engine.s.timeout().toNanos();
            this.hostHeader = hostHeader(target.base);
            this.extraHeaders = target.headers();
            this.port = target.base.getPort() > 0 ? target.base.getPort() : 80;
            this.fixed = target.wl.names.isEmpty() ? getRequest(hostHeader, target.pathAndQuery(new Object[0]), extraHeaders) : null;
            for (int k = 0; k < connections; k++) {
                Conn c = new Conn();
                c.inBuf = ByteBuffer.wrap(c.in);
                conns.add(c);
            }
            this.resolvedAt = System.nanoTime();
            this.address = new InetSocketAddress(target.base.getHost(), port); // once, as wrk does
            target.loops.add(this);
        }

        /** Ends the loop at once: in-flight requests are dropped uncounted, as a closed connection's are. */
        void abort() {
            aborted = true;
            selector.wakeup();
        }

        @Override
        public void run() {
            try {
                for (Conn c : conns) next(c, System.nanoTime()); // each request's clock starts as it is sent
                long nextTick = System.nanoTime() + TICK_NS;
                while (retired < conns.size() && !aborted) {
                    long wait = Math.max(1, (nextTick - System.nanoTime()) / 1_000_000);
                    selector.select(this::ready, wait);
                    long now = System.nanoTime();
                    if (now - nextTick >= 0) {
                        nextTick = now + TICK_NS;
                        for (Conn c : conns) {
                            if (c.retired) continue;
                            if (c.busy && now - c.deadline >= 0) {
                                c.retried = true; // no second try past the deadline
                                fail(c, new SocketTimeoutException("no complete answer within " + timeoutNs / 1_000_000 + " ms"), now);
                            }
                            resume(c, now);
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // the selector itself failed: counted once, this loop's connections end
                if (!live.stop) engine.failed(live, System.nanoTime() - engine.measureStart >= 0, e);
            } finally {
                for (Conn c : conns) if (!c.retired) retire(c);
                try {
                    selector.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
                target.loops.remove(this);
            }
        }

        /** Starts the connection's next request, or retires it when the run has none left for it. */
        void next(Conn c, long now) {
            while (true) {
                if (live.stop || now - engine.end >= 0) {
                    retire(c);
                    return;
                }
                long i = live.seq.getAndIncrement();
                boolean measured = now - engine.measureStart >= 0;
                if (measured && engine.s.maxRequests() != null && live.measuredIssued.incrementAndGet() > engine.s.maxRequests()) {
                    live.endNs = now;
                    live.stop = true;
                    retire(c);
                    return;
                }
                c.intended = now;
                c.measured = measured;
                c.deadline = now + timeoutNs;
                c.busy = true;
                c.retried = false;
                c.out = ByteBuffer.wrap(fixed != null ? fixed : getRequest(hostHeader, target.pathAndQuery(target.wl.values(i)), extraHeaders));
                if (send(c, now) || c.busy || c.retired || now - c.wakeAt < 0) return; // sent, retried, or waiting
                now = System.nanoTime(); // failed at once (counted): the next request
            }
        }

        /** Sends c.out on the open connection or a new one; false when the request failed at once (already counted). */
        boolean send(Conn c, long now) {
            c.len = 0;
            c.headEnd = -1;
            c.dropped = 0;
            c.scanned = 0;
            c.received = false;
            c.reused = c.ch != null;
            try {
                if (c.ch == null) {
                    if (address.isUnresolved()) { // looked up again at most once a second (a lookup blocks the loop)
                        if (now - resolvedAt >= 1_000_000_000L) {
                            resolvedAt = now;
                            address = new InetSocketAddress(target.base.getHost(), port);
                        }
                        if (address.isUnresolved()) throw new UnknownHostException(target.base.getHost());
                    }
                    SocketChannel ch = SocketChannel.open();
                    c.ch = ch;
                    ch.configureBlocking(false);
                    ch.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                    boolean connected = ch.connect(address);
                    c.key = ch.register(selector, connected ? SelectionKey.OP_READ : SelectionKey.OP_CONNECT, c);
                    if (!connected) return true;
                }
                write(c);
                return true;
            } catch (IOException e) {
                fail(c, e, now);
                return false;
            }
        }

        void write(Conn c) throws IOException {
            try {
                c.ch.write(c.out);
            } catch (IOException e) {
                throw connectionError(e);
            }
            c.key.interestOps(c.out.hasRemaining() ? SelectionKey.OP_READ | SelectionKey.OP_WRITE : SelectionKey.OP_READ);
        }

        void ready(SelectionKey k) {
            Conn c = (Conn) k.attachment();
            if (!k.isValid() || c.key != k || !c.busy) return;
            try {
                if (k.isConnectable()) {
                    try {
                        c.ch.finishConnect();
                    } catch (IOException e) {
                        throw connectionError(e);
                    }
                    write(c);
                    return;
                }
                if (k.isWritable()) write(c);
                if (k.isReadable()) read(c);
            } catch (IOException | RuntimeException e) {
                long now = System.nanoTime();
                fail(c, e instanceof IOException io ? io : new IOException(e.toString(), e), now);
                resume(c, now);
            }
        }

        /** A channel's own failure ("Broken pipe", "Connection reset by peer") as the socket would name it. */
        static IOException connectionError(IOException e) {
            if (e instanceof SocketException || e instanceof EOFException) return e;
            SocketException s = new SocketException(e.getMessage());
            s.initCause(e);
            return s;
        }

        /** After a failure: the next request now, unless the connection waits (or is retired). */
        void resume(Conn c, long now) {
            if (!c.busy && !c.retired && now - c.wakeAt >= 0) next(c, now);
        }

        void read(Conn c) throws IOException {
            while (true) {
                if (c.len == c.in.length && c.len >= KEEP) compact(c);
                if (c.len == c.in.length) {
                    if (c.in.length >= MAX_ANSWER) throw new IOException("an answer over " + (MAX_ANSWER >> 20) + " MB");
                    c.in = Arrays.copyOf(c.in, c.in.length * 2);
                    c.inBuf = ByteBuffer.wrap(c.in);
                }
                c.inBuf.limit(c.in.length).position(c.len);
                int n;
                try {
                    n = c.ch.read(c.inBuf);
                } catch (IOException e) {
                    throw connectionError(e);
                }
                if (n == 0) return;
                if (n < 0) {
                    if (c.headEnd >= 0 && !c.head.noBody() && !c.head.chunked() && c.head.length() < 0) {
                        done(c, c.len, true); // the body ran to the end of the connection
                        return;
                    }
                    throw new EOFException(c.received ? "connection closed in the middle of a response" : "connection closed by the server");
                }
                c.received = true;
                c.len += n;
                int end = answerEnd(c);
                if (end >= 0) {
                    done(c, end, end < c.len || c.head.closeAfter());
                    return;
                }
                if (c.len < c.in.length) return; // all there was for now
            }
        }

        /** Where the answer in c.in ends, or -1 while it is incomplete. */
        int answerEnd(Conn c) throws IOException {
            if (c.headEnd < 0) {
                byte[] b = c.in;
                for (int i = Math.max(3, c.scanned); i < c.len; i++) {
                    if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
                        c.headEnd = i + 1;
                        break;
                    }
                }
                if (c.headEnd < 0) {
                    c.scanned = c.len;
                    if (c.len > 64 * 1024) throw new IOException("HTTP headers over 64 KB");
                    return -1;
                }
                c.head = Head.parse(b, 0, c.headEnd);
                c.chunkAt = c.headEnd;
                if (c.head.interim()) { // 100 Continue, 103 Early Hints: the answer follows
                    System.arraycopy(b, c.headEnd, b, 0, c.len - c.headEnd);
                    c.len -= c.headEnd;
                    c.headEnd = -1;
                    c.scanned = 0;
                    return answerEnd(c);
                }
            }
            Head h = c.head;
            if (h.noBody()) return c.headEnd;
            if (h.chunked()) return chunkedEnd(c);
            if (h.length() >= 0) return c.len - c.headEnd + c.dropped >= h.length() ? (int) (c.headEnd + h.length() - c.dropped) : -1;
            return -1; // until the server closes the connection
        }

        /**
         * A long answer: only its end is needed (Tinybird's row count follows the data), so the body read so far is cut
         * to its last TAIL bytes and the buffer stays about KEEP bytes, whatever the answer's size (50 connections x
         * 100 MB answers were 5 GB of heap). A chunked body keeps its complete chunks as one chunk of their last TAIL
         * data bytes, so the chunk walk and dechunk go on as before.
         */
        static void compact(Conn c) throws IOException {
            if (c.headEnd < 0 || c.head.noBody()) return;
            byte[] b = c.in;
            if (!c.head.chunked()) {
                int body = c.len - c.headEnd;
                if (body <= TAIL) return;
                System.arraycopy(b, c.len - TAIL, b, c.headEnd, TAIL);
                c.dropped += body - TAIL;
                c.len = c.headEnd + TAIL;
                return;
            }
            if (c.chunkAt - c.headEnd <= 2 * TAIL) return; // too little walked to be worth it; the buffer grows
            byte[] data = dechunkTo(c, c.chunkAt);
            if (data.length == 0) return; // (only the last chunk is empty; a chunk of 0 bytes here would end the body)
            int keep = Math.min(data.length, TAIL);
            byte[] size = (Integer.toHexString(keep) + "\r\n").getBytes(StandardCharsets.US_ASCII);
            int rest = c.len - c.chunkAt, at = c.headEnd;
            System.arraycopy(size, 0, b, at, size.length);
            at += size.length;
            System.arraycopy(data, data.length - keep, b, at, keep);
            at += keep;
            b[at++] = '\r';
            b[at++] = '\n';
            System.arraycopy(b, c.chunkAt, b, at, rest);
            c.dropped += c.chunkAt - at;
            c.chunkAt = at;
            c.len = at + rest;
        }

        /** The data of the complete chunks in c.in[headEnd, to). */
        static byte[] dechunkTo(Conn c, int to) throws IOException {
            byte[] b = c.in, data = new byte[to - c.headEnd];
            int n = 0, p = c.headEnd;
            while (p < to) {
                int nl = indexOf(b, '\n', p, to);
                int size = (int) chunkSize(b, p, nl);
                System.arraycopy(b, nl + 1, data, n, size);
                n += size;
                p = indexOf(b, '\n', nl + 1 + size, to) + 1;
            }
            return Arrays.copyOf(data, n);
        }

        /** Walks the chunks received so far (remembering complete ones); the answer's end, or -1. */
        static int chunkedEnd(Conn c) throws IOException {
            byte[] b = c.in;
            while (true) {
                int nl = indexOf(b, '\n', c.chunkAt, c.len);
                if (nl < 0) return -1;
                long size = chunkSize(b, c.chunkAt, nl);
                if (size == 0) { // trailers up to an empty line
                    int p = nl + 1;
                    while (true) {
                        int e = indexOf(b, '\n', p, c.len);
                        if (e < 0) return -1;
                        if (e == p || (e == p + 1 && b[p] == '\r')) return e + 1;
                        p = e + 1;
                    }
                }
                long dataEnd = nl + 1 + size;
                if (dataEnd >= c.len) return -1;
                int e = indexOf(b, '\n', (int) dataEnd, c.len);
                if (e < 0) return -1;
                c.chunkAt = e + 1;
            }
        }

        static long chunkSize(byte[] b, int from, int nl) throws IOException {
            int to = nl;
            for (int i = from; i < nl; i++) {
                if (b[i] == ';') {
                    to = i;
                    break;
                }
            }
            String sz = new String(b, from, to - from, StandardCharsets.ISO_8859_1).strip();
            try {
                long n = Long.parseLong(sz, 16);
                if (n < 0 || n > MAX_ANSWER) throw new NumberFormatException();
                return n;
            } catch (NumberFormatException e) {
                throw new IOException("bad chunk size: " + shorten(sz));
            }
        }

        static int indexOf(byte[] b, char ch, int from, int to) {
            for (int i = from; i < to; i++) if (b[i] == ch) return i;
            return -1;
        }

        /** The body of a chunked answer in c.in, joined. */
        static byte[] dechunk(Conn c, int end) throws IOException {
            byte[] b = c.in, body = new byte[end - c.headEnd];
            int n = 0, p = c.headEnd;
            while (true) {
                int nl = indexOf(b, '\n', p, end);
                long size = chunkSize(b, p, nl);
                if (size == 0) return Arrays.copyOf(body, n);
                System.arraycopy(b, nl + 1, body, n, (int) size);
                n += (int) size;
                p = indexOf(b, '\n', nl + 1 + (int) size, end) + 1;
            }
        }

        /** The answer in c.in[0, end) is complete: counts it, then starts the next request. */
        void done(Conn c, int end, boolean close) throws IOException {
            long now = System.nanoTime();
            int code = c.head.code();
            if (code >= 200 && code <= 299) {
                long rows = -1;
                if (target.tinybird) {
                    if (c.head.chunked()) {
                        byte[] body = dechunk(c, end);
                        rows = tinybirdRows(body, 0, body.length);
                    } else {
                        rows = tinybirdRows(c.in, c.headEnd, end);
                    }
                }
                engine.succeeded(live, c.intended, c.measured, rows, now);
            } else {
                engine.failed(live, c.measured, new HttpStatus(code, ""));
            }
            c.busy = false;
            if (close || c.out.hasRemaining()) closeChannel(c); // "Connection: close", stray bytes, or answered before sent in full
            next(c, now);
        }

        /**
         * A request failed: once more on a new connection when a kept-alive one turned out stale, else counted, and
         * the connection waits 10 ms after a connection error (the caller starts the next request: {@link #resume}).
         */
        void fail(Conn c, IOException e, long now) {
            closeChannel(c);
            if (c.reused && !c.received && !c.retried && now - c.deadline < 0) {
                c.retried = true;
                c.out.rewind();
                send(c, now);
                return;
            }
            c.busy = false;
            if (live.stop) {
                retire(c);
                return;
            }
            engine.failed(live, c.measured, e);
            c.wakeAt = errorKind(e).equals("connection") ? now + TICK_NS : now;
        }

        void closeChannel(Conn c) {
            SocketChannel ch = c.ch;
            c.ch = null;
            c.key = null;
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // closed anyway
                }
            }
        }

        void retire(Conn c) {
            if (c.retired) return;
            c.retired = true;
            c.busy = false;
            closeChannel(c);
            retired++;
            live.done.countDown();
        }
    }

    /** An HTTP/1.x answer's status line and headers, as far as a client reading answers needs them. */
    record Head(int code, long length, boolean chunked, boolean closeAfter) {
        /** Parses the header block buf[p, end) (end just past the blank line). */
        static Head parse(byte[] buf, int p, int end) throws IOException {
            int eol = p;
            while (buf[eol] != '\n') eol++;
            String status = new String(buf, p, eol - p, StandardCharsets.ISO_8859_1).strip();
            if (!status.startsWith("HTTP/1.") || status.length() < 12) throw new IOException("not an HTTP response: " + shorten(status));
            int code;
            try {
                code = Integer.parseInt(status.substring(9, 12));
            } catch (NumberFormatException e) {
                throw new IOException("bad HTTP status line: " + shorten(status));
            }
            long length = -1;
            boolean chunked = false, closeAfter = status.startsWith("HTTP/1.0");
            p = eol + 1;
            while (p < end - 2) {
                eol = p;
                while (buf[eol] != '\n') eol++;
                int colon = p;
                while (colon < eol && buf[colon] != ':') colon++;
                if (colon < eol) {
                    int nameLen = colon - p;
                    if (nameIs(buf, p, nameLen, "content-length")) {
                        long n = 0;
                        for (int i = colon + 1; i < eol; i++) if (buf[i] >= '0' && buf[i] <= '9') n = n * 10 + (buf[i] - '0');
                        length = n;
                    } else if (nameIs(buf, p, nameLen, "transfer-encoding")) {
                        chunked = new String(buf, colon + 1, eol - colon - 1, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT).contains("chunked");
                    } else if (nameIs(buf, p, nameLen, "connection")) {
                        String lv = new String(buf, colon + 1, eol - colon - 1, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
                        if (lv.contains("close")) closeAfter = true;
                        else if (lv.contains("keep-alive")) closeAfter = false;
                    }
                }
                p = eol + 1;
            }
            return new Head(code, length, chunked, closeAfter);
        }

        /** An interim answer (1xx but 101): the real one follows on the same connection. */
        boolean interim() {
            return code >= 100 && code < 200 && code != 101;
        }

        /** An answer with this status has no body, whatever its headers say. */
        boolean noBody() {
            return code == 204 || code == 304 || (code >= 100 && code < 200);
        }

        private static boolean nameIs(byte[] b, int off, int len, String name) {
            if (len != name.length()) return false;
            for (int i = 0; i < len; i++) if (Character.toLowerCase((char) (b[off + i] & 0xff)) != name.charAt(i)) return false;
            return true;
        }
    }

    /** The "rows" count of a Tinybird JSON answer in body[from, to) (it follows "data"), or -1. */
    static long tinybirdRows(byte[] body, int from, int to) {
        byte[] key = ROWS_KEY;
        outer:
        for (int i = to - key.length; i >= from; i--) {
            for (int k = 0; k < key.length; k++) if (body[i + k] != key[k]) continue outer;
            int j = i + key.length;
            while (j < to && body[j] == ' ') j++;
            long n = 0;
            boolean any = false;
            while (j < to && body[j] >= '0' && body[j] <= '9') {
                n = n * 10 + (body[j++] - '0');
                any = true;
            }
            return any ? n : -1;
        }
        return -1;
    }

    static final byte[] ROWS_KEY = "\"rows\":".getBytes(StandardCharsets.US_ASCII);

    /** A GET request's bytes. */
    static byte[] getRequest(String hostHeader, String pathAndQuery, String extraHeaders) {
        return ("GET " + pathAndQuery + " HTTP/1.1\r\nHost: " + hostHeader
                + "\r\nUser-Agent: stress-case\r\nAccept: */*\r\n" + extraHeaders + "\r\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The Host header for a URL: the port only when the URL names one. */
    static String hostHeader(URI u) {
        return u.getPort() > 0 ? u.getHost() + ":" + u.getPort() : u.getHost();
    }

    /** The kind of a failed request: "http 503", "sqlstate 42P01", "timeout", "connection", or the exception's name. */
    static String errorKind(Throwable e) {
        if (e instanceof HttpStatus h) return "http " + h.status;
        if (e instanceof SocketTimeoutException || e instanceof java.net.http.HttpTimeoutException) return "timeout";
        if (e instanceof SQLTransientConnectionException) return e.getMessage() != null && e.getMessage().contains("timed out") ? "timeout" : "connection";
        if (e instanceof SQLException s) {
            String st = s.getSQLState();
            if (st == null) return s.getCause() != null ? errorKind(s.getCause()) : "sql error";
            if (st.startsWith("08") || st.equals("57P01") || st.equals("57P02") || st.equals("57P03")) return "connection";
            if (st.equals("57014")) return "timeout";
            return "sqlstate " + st;
        }
        if (e instanceof ConnectException || e instanceof NoRouteToHostException || e instanceof UnknownHostException
                || e instanceof EOFException || e instanceof SocketException) {
            return "connection";
        }
        if (e instanceof IOException) return "io: " + e.getClass().getSimpleName();
        return e.getClass().getSimpleName();
    }

    static String oneLine(Throwable e) {
        Throwable t = e;
        if (t instanceof RuntimeException && t.getCause() != null && t.getMessage() != null && t.getMessage().startsWith("java.")) t = t.getCause();
        String d = Cli.describe(t);
        if (d == null) d = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
        int nl = d.indexOf('\n');
        return Config.redact(nl < 0 ? d : d.substring(0, nl));
    }

    static String shorten(String s) {
        if (s == null) return "";
        String t = s.strip().replaceAll("\\s+", " ");
        return Config.redact(t.length() > 200 ? t.substring(0, 200) + "..." : t);
    }

    // =====================================================================================================
    // the load engine
    // =====================================================================================================

    record Settings(List<String> targets, Double rate, int concurrency, Duration duration, Duration warmup, Long maxRequests,
                    Duration timeout, long seed, String workload, String threads, boolean eventLoop, String drive) {
        ObjectNode toJson(long startMs) {
            ObjectNode o = Json.MAPPER.createObjectNode();
            o.put("started", Instant.ofEpochMilli(startMs).toString());
            ArrayNode t = o.putArray("targets");
            targets.forEach(t::add);
            o.put("model", rate == null ? "closed" : "open");
            if (rate != null) o.put("rate_per_s", rate);
            o.put("concurrency", concurrency);
            o.put("duration_s", duration.toMillis() / 1000.0);
            o.put("warmup_s", warmup.toMillis() / 1000.0);
            if (maxRequests != null) o.put("max_requests", maxRequests);
            o.put("timeout_s", timeout.toMillis() / 1000.0);
            o.put("seed", seed);
            o.put("threads", drive);
            o.put("workload", workload);
            o.put("java", Runtime.version().toString());
            o.put("cpus", Runtime.getRuntime().availableProcessors());
            return o;
        }

        String model() {
            return rate == null ? "closed: " + concurrency + " workers per target"
                    : String.format(Locale.ROOT, "open: %,.0f requests/s per target, at most %d in flight", rate, concurrency);
        }
    }

    /** One target's live state during a run. */
    static final class Live {
        final Target target;
        final Recorder recorder = new Recorder(1, TimeUnit.HOURS.toMicros(1), 3);
        final AtomicLong seq = new AtomicLong();
        final AtomicLong measuredIssued = new AtomicLong();
        final LongAdder intervalErrors = new LongAdder(), anyOk = new LongAdder(), anyErrors = new LongAdder();
        final LongAdder late = new LongAdder(), rows = new LongAdder();
        final AtomicLong maxStartDelayNs = new AtomicLong();
        final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
        final Histogram total = new Histogram(1, TimeUnit.HOURS.toMicros(1), 3);
        final List<Point> series = new ArrayList<>();
        volatile boolean stop;
        volatile String gaveUp;
        int badSeconds;
        long endNs;
        final CountDownLatch done;
        Histogram recycle;

        Live(Target t, int workers) {
            this.target = t;
            this.done = new CountDownLatch(workers);
        }
    }

    /** One second of one target: throughput and latency (milliseconds). */
    record Point(double t, double rps, long errors, double p50, double p99, double max) {}

    static final class Engine {
        final List<Live> lives = new ArrayList<>();
        final Settings s;
        final Workload wl;
        final PrintWriter err;
        final boolean showLive;
        final long giveUpNs, lateNs;
        final Path hlogPath;
        long t0, measureStart, end;
        HistogramLogWriter hlogWriter;
        PrintStream hlogStream;
        Path hlogTmp;
        long startWallMs;

        Engine(List<Target> targets, Settings s, Workload wl, PrintWriter err, boolean showLive, Duration giveUp, Duration lateAfter, Path hlog) {
            this.s = s;
            this.wl = wl;
            this.err = err;
            this.showLive = showLive;
            this.giveUpNs = giveUp.toNanos();
            this.lateNs = lateAfter.toNanos();
            this.hlogPath = hlog;
            for (Target t : targets) lives.add(new Live(t, s.concurrency()));
        }

        Report run() throws Exception {
            if (hlogPath != null) openHlog();
            startWallMs = System.currentTimeMillis();
            t0 = System.nanoTime();
            measureStart = t0 + s.warmup().toNanos();
            end = measureStart + s.duration().toNanos();
            long[] cpuAtMeasure = {-1};
            Thread cpuMark = Thread.ofVirtual().start(() -> { // the process's CPU as the warm-up ends
                long w;
                while ((w = measureStart - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(w);
                    if (Thread.currentThread().isInterrupted()) return; // the run ended during the warm-up
                }
                cpuAtMeasure[0] = Cli.processCpuNanos();
            });
            List<Thread> workers = new ArrayList<>();
            Thread.Builder builder = s.threads().equals("platform") ? Thread.ofPlatform().daemon(true) : Thread.ofVirtual();
            for (Live l : lives) {
                if (s.eventLoop() && l.target instanceof HttpTarget h && h.plain()) {
                    int n = loopThreads(s.concurrency());
                    for (int k = 0; k < n; k++) {
                        HttpLoop loop = new HttpLoop(this, l, h, s.concurrency() / n + (k < s.concurrency() % n ? 1 : 0));
                        workers.add(Thread.ofPlatform().daemon(true).name("load-" + h.name() + "-loop-" + k).start(loop));
                    }
                    continue;
                }
                for (int w = 0; w < s.concurrency(); w++) {
                    Session session = l.target.session();
                    workers.add(builder.name("load-" + l.target.name() + "-" + w).start(() -> work(l, session)));
                }
            }
            // the ticker: one interval a second, the live line, giving up on dead targets
            long tick = t0;
            long prevTick = t0;
            while (true) {
                tick += 1_000_000_000L;
                boolean allDone = true;
                for (Live l : lives) allDone &= l.done.getCount() == 0;
                if (allDone) break;
                long now = System.nanoTime();
                long wake = Math.min(tick, end);
                if (wake > now) {
                    for (Live l : lives) {
                        if (l.done.await(wake - now, TimeUnit.NANOSECONDS)) break;
                        now = System.nanoTime();
                        if (now >= wake) break;
                    }
                    boolean all = true;
                    for (Live l : lives) all &= l.done.getCount() == 0;
                    if (!all) LockSupport.parkNanos(Math.max(0, wake - System.nanoTime()));
                }
                now = System.nanoTime();
                if (now >= end) break;
                roll(prevTick, now, false);
                prevTick = now;
            }
            if (System.nanoTime() < measureStart) cpuMark.interrupt();
            cpuMark.join();
            long cpuAtEnd = Cli.processCpuNanos(), measuredEnd = System.nanoTime();
            // let in-flight requests finish, then close whatever still hangs
            long grace = s.timeout().toNanos() + 1_000_000_000L;
            for (Live l : lives) {
                l.done.await(Math.max(0, end + grace - System.nanoTime()), TimeUnit.NANOSECONDS);
                l.stop = true;
            }
            for (Live l : lives) {
                if (l.done.getCount() > 0) {
                    l.target.close();
                    l.done.await(2, TimeUnit.SECONDS);
                }
            }
            long now = System.nanoTime();
            roll(prevTick, Math.min(now, Math.max(prevTick, end)), true);
            if (showLive) err.flush();
            List<TargetResult> results = new ArrayList<>();
            for (Live l : lives) {
                long stopAt = l.endNs > 0 ? Math.min(l.endNs, end) : end;
                double secs = Math.max(1e-9, (stopAt - measureStart) / 1e9);
                Map<String, Long> errs = new TreeMap<>();
                l.errors.forEach((k, v) -> errs.put(k, v.sum()));
                results.add(new TargetResult(l.target.name(), l.total, errs, secs, l.late.sum(),
                        l.maxStartDelayNs.get() / 1000, l.rows.sum(), l.series, l.gaveUp));
            }
            if (hlogWriter != null) closeHlog(results);
            Report report = new Report(s.toJson(startWallMs), s, results);
            if (cpuAtMeasure[0] >= 0 && cpuAtEnd >= 0 && measuredEnd > measureStart) {
                report.clientCpuNs = cpuAtEnd - cpuAtMeasure[0];
                report.clientSeconds = (measuredEnd - measureStart) / 1e9;
            }
            return report;
        }

        void work(Live l, Session session) {
            try {
                double period = s.rate() == null ? 0 : 1e9 / s.rate();
                while (!l.stop) {
                    long i = l.seq.getAndIncrement();
                    long intended;
                    if (s.rate() != null) {
                        intended = t0 + (long) (i * period);
                        if (intended >= end) break;
                        long wait;
                        while ((wait = intended - System.nanoTime()) > 0) {
                            LockSupport.parkNanos(wait);
                            if (l.stop) return;
                        }
                    } else {
                        intended = System.nanoTime();
                        if (intended >= end) break;
                    }
                    boolean measured = intended >= measureStart;
                    if (measured && s.maxRequests() != null && l.measuredIssued.incrementAndGet() > s.maxRequests()) {
                        l.endNs = System.nanoTime();
                        l.stop = true;
                        break;
                    }
                    long start = System.nanoTime();
                    if (s.rate() != null && measured) {
                        long delay = start - intended;
                        if (delay > lateNs) l.late.increment();
                        l.maxStartDelayNs.accumulateAndGet(delay, Math::max);
                    }
                    Object[] v = wl.values(i);
                    try {
                        long rows = session.call(v);
                        succeeded(l, intended, measured, rows, System.nanoTime());
                    } catch (Exception e) {
                        if (l.stop) break;
                        failed(l, measured, e);
                        if (s.rate() == null && errorKind(e).equals("connection")) LockSupport.parkNanos(10_000_000L); // no hot loop on a dead server
                    }
                }
            } finally {
                session.close();
                l.done.countDown();
            }
        }

        /** Counts an answer; its latency runs from the intended start (open model) or the actual start (closed model). */
        void succeeded(Live l, long intended, boolean measured, long rows, long done) {
            l.anyOk.increment();
            if (measured) {
                l.recorder.recordValue(Math.max(1, Math.min((done - intended) / 1000, TimeUnit.HOURS.toMicros(1))));
                if (rows > 0) l.rows.add(rows);
            }
        }

        void failed(Live l, boolean measured, Exception e) {
            l.anyErrors.increment();
            if (measured) {
                l.intervalErrors.increment();
                l.errors.computeIfAbsent(errorKind(e), k -> new LongAdder()).increment();
            }
        }

        /** Closes the interval [from, to): adds it to the totals, the series, the hlog and the live line. */
        void roll(long from, long to, boolean last) {
            StringBuilder line = new StringBuilder();
            line.append(String.format(Locale.ROOT, "%5.0fs", (to - t0) / 1e9));
            for (Live l : lives) {
                Histogram h = l.recorder.getIntervalHistogram(l.recycle);
                l.recycle = h;
                long errs = l.intervalErrors.sumThenReset();
                long ok = l.anyOk.sumThenReset(), bad = l.anyErrors.sumThenReset();
                long measFrom = Math.max(from, measureStart);
                double secs = (to - measFrom) / 1e9;
                if (to > measureStart && secs > 0.05) {
                    l.total.add(h);
                    double tRel = (to - measureStart) / 1e9;
                    l.series.add(new Point(round3(tRel), (h.getTotalCount() + errs) / secs, errs,
                            h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(50) / 1000.0,
                            h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(99) / 1000.0,
                            h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0));
                    if (hlogWriter != null) writeInterval(l.target.name(), h, errs, measFrom, to);
                } else if (to > measureStart) {
                    l.total.add(h); // a sliver at the very end: keep its requests (in the hlog too: a merge must add up)
                    if (hlogWriter != null && h.getTotalCount() + errs > 0) writeInterval(l.target.name(), h, errs, measFrom, to);
                }
                if (!last && giveUpNs > 0 && l.gaveUp == null && l.done.getCount() > 0) {
                    if (ok == 0 && bad > 0) l.badSeconds++;
                    else l.badSeconds = 0;
                    if (l.badSeconds * 1_000_000_000L >= giveUpNs) {
                        l.gaveUp = "answered nothing but errors for " + l.badSeconds + " s, stopped loading it";
                        l.endNs = to;
                        l.stop = true;
                        l.target.close(); // unblocks workers waiting on a dead connection
                    }
                }
                double rps = secs > 0 ? (h.getTotalCount() + errs) / Math.max(secs, (to - from) / 1e9) : 0;
                line.append(String.format(Locale.ROOT, "  %s %,8.0f req/s  p99 %s  err %,d", l.target.name(), rps,
                        h.getTotalCount() == 0 ? "    -   " : fmtMs(h.getValueAtPercentile(99) / 1000.0), errs));
                if (to <= measureStart) line.append(" (warm-up)");
            }
            if (showLive && !last) {
                err.println(line);
                err.flush();
            }
        }

        void openHlog() throws IOException {
            Path abs = hlogPath.toAbsolutePath();
            if (abs.getParent() != null) Files.createDirectories(abs.getParent());
            hlogTmp = tempBeside(abs);
            hlogStream = new PrintStream(Files.newOutputStream(hlogTmp, java.nio.file.StandardOpenOption.CREATE_NEW), false, StandardCharsets.UTF_8);
            hlogWriter = new HistogramLogWriter(hlogStream);
        }

        void writeInterval(String tag, Histogram h, long errs, long fromNs, long toNs) {
            if (!headerWritten) {
                hlogWriter.outputComment("stress-case " + Cli.VERSION + ": latency in microseconds; tags are targets, <target>.errors counts errors");
                hlogWriter.outputComment("stress-case settings " + s.toJson(startWallMs));
                long base = startWallMs + (measureStart - t0) / 1_000_000;
                hlogWriter.outputStartTime(base);
                hlogWriter.setBaseTime(base);
                hlogWriter.outputLogFormatVersion();
                hlogWriter.outputLegend();
                headerWritten = true;
            }
            long startMs = startWallMs + (fromNs - t0) / 1_000_000, endMs = startWallMs + (toNs - t0) / 1_000_000;
            Histogram c = h.copy();
            c.setTag(tag);
            c.setStartTimeStamp(startMs);
            c.setEndTimeStamp(endMs);
            hlogWriter.outputIntervalHistogram(c);
            if (errs > 0) {
                Histogram e = new Histogram(1, TimeUnit.HOURS.toMicros(1), 3);
                e.recordValueWithCount(1, errs);
                e.setTag(tag + ".errors");
                e.setStartTimeStamp(startMs);
                e.setEndTimeStamp(endMs);
                hlogWriter.outputIntervalHistogram(e);
            }
        }

        boolean headerWritten;

        void closeHlog(List<TargetResult> results) throws IOException {
            if (!headerWritten) writeInterval("none", new Histogram(1, 2, 1), 0, measureStart, measureStart);
            for (TargetResult r : results) {
                hlogWriter.outputComment("stress-case target " + r.name + " seconds=" + r.seconds + " late=" + r.late
                        + " max_start_delay_us=" + r.maxStartDelayUs + " rows=" + r.rows
                        + (r.gaveUp == null ? "" : " gave_up=" + enc(r.gaveUp)));
                for (Map.Entry<String, Long> e : r.errors.entrySet()) {
                    hlogWriter.outputComment("stress-case errors " + r.name + " " + enc(e.getKey()) + " " + e.getValue());
                }
            }
            hlogStream.close();
            if (hlogStream.checkError()) throw new IOException("cannot write " + hlogPath);
            Files.move(hlogTmp, hlogPath.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** Selector threads for the event loop: one a core (wrk's -t2 on the 2-core bench machine), at most one a connection. */
    static int loopThreads(int connections) {
        return Math.max(1, Math.min(connections, Runtime.getRuntime().availableProcessors()));
    }

    static double round3(double d) {
        return Math.round(d * 1000) / 1000.0;
    }

    static String fmtMs(double ms) {
        if (ms >= 10_000) return String.format(Locale.ROOT, "%.2f s", ms / 1000);
        if (ms >= 100) return String.format(Locale.ROOT, "%.1f ms", ms);
        return String.format(Locale.ROOT, "%.2f ms", ms);
    }

    // =====================================================================================================
    // results, table, JSON
    // =====================================================================================================

    static final class TargetResult {
        final String name;
        final Histogram h;
        final Map<String, Long> errors;
        final double seconds;
        final long late, maxStartDelayUs, rows;
        final List<Point> series;
        final String gaveUp;

        TargetResult(String name, Histogram h, Map<String, Long> errors, double seconds, long late, long maxStartDelayUs, long rows,
                     List<Point> series, String gaveUp) {
            this.name = name;
            this.h = h;
            this.errors = errors;
            this.seconds = seconds;
            this.late = late;
            this.maxStartDelayUs = maxStartDelayUs;
            this.rows = rows;
            this.series = series;
            this.gaveUp = gaveUp;
        }

        long ok() {
            return h.getTotalCount();
        }

        long errorCount() {
            return errors.values().stream().mapToLong(Long::longValue).sum();
        }

        long count() {
            return ok() + errorCount();
        }

        double rps() {
            return count() / seconds;
        }

        double errorPct() {
            return count() == 0 ? 0 : 100.0 * errorCount() / count();
        }

        /** Percentile in milliseconds (0 when nothing succeeded). */
        double pct(double p) {
            return ok() == 0 ? 0 : h.getValueAtPercentile(p) / 1000.0;
        }

        double mean() {
            return ok() == 0 ? 0 : h.getMean() / 1000.0;
        }

        double max() {
            return ok() == 0 ? 0 : h.getMaxValue() / 1000.0;
        }

        double metric(String m) {
            return switch (m) {
                case "p50" -> pct(50);
                case "mean", "avg" -> mean();
                case "max" -> max();
                case "min" -> ok() == 0 ? 0 : h.getMinValue() / 1000.0;
                case "rps" -> rps();
                case "errors%" -> errorPct();
                case "errors" -> errorCount();
                default -> pct(Double.parseDouble(m.substring(1)));
            };
        }
    }

    static final class Report {
        final ObjectNode settingsJson;
        final Settings settings; // null after 'merge'
        final List<TargetResult> results;
        /** This process's CPU over the measured part of the run, in nanoseconds (-1: not known, or a merge). */
        long clientCpuNs = -1;
        double clientSeconds;

        Report(ObjectNode settingsJson, Settings settings, List<TargetResult> results) {
            this.settingsJson = settingsJson;
            this.settings = settings;
            this.results = results;
        }

        TargetResult get(String name) {
            for (TargetResult r : results) if (r.name.equals(name)) return r;
            return null;
        }

        String table() {
            List<String[]> rows = new ArrayList<>();
            rows.add(row("", r -> r.name));
            rows.add(row("requests", r -> String.format(Locale.ROOT, "%,d", r.count())));
            rows.add(row("req/s", r -> String.format(Locale.ROOT, "%,.1f", r.rps())));
            rows.add(row("errors", r -> String.format(Locale.ROOT, "%,d (%.2f%%)", r.errorCount(), r.errorPct())));
            rows.add(row("mean", r -> fmtMs(r.mean())));
            rows.add(row("p50", r -> fmtMs(r.pct(50))));
            rows.add(row("p90", r -> fmtMs(r.pct(90))));
            rows.add(row("p99", r -> fmtMs(r.pct(99))));
            rows.add(row("p99.9", r -> fmtMs(r.pct(99.9))));
            rows.add(row("max", r -> fmtMs(r.max())));
            boolean open = results.stream().anyMatch(r -> r.late > 0 || r.maxStartDelayUs > 0);
            if (open) {
                rows.add(row("late starts", r -> String.format(Locale.ROOT, "%,d", r.late)));
                rows.add(row("max start delay", r -> fmtMs(r.maxStartDelayUs / 1000.0)));
            }
            if (results.stream().anyMatch(r -> r.rows > 0)) rows.add(row("rows returned", r -> String.format(Locale.ROOT, "%,d", r.rows)));
            TreeMap<String, Boolean> kinds = new TreeMap<>();
            for (TargetResult r : results) r.errors.keySet().forEach(k -> kinds.put(k, true));
            for (String k : kinds.keySet()) rows.add(row("  " + k, r -> String.format(Locale.ROOT, "%,d", r.errors.getOrDefault(k, 0L))));
            int[] w = new int[results.size() + 1];
            for (String[] r : rows) for (int i = 0; i < r.length; i++) w[i] = Math.max(w[i], r[i].length());
            StringBuilder sb = new StringBuilder();
            for (String[] r : rows) {
                sb.append(pad(r[0], w[0], false));
                for (int i = 1; i < r.length; i++) sb.append("  ").append(pad(r[i], Math.max(w[i], 10), true));
                sb.append('\n');
            }
            String cpu = clientCpu();
            if (cpu != null) sb.append(cpu).append('\n');
            return sb.toString();
        }

        /** "client cpu  41.0 us per request, 38 % of one core (...)", or null. */
        String clientCpu() {
            long n = 0;
            for (TargetResult r : results) n += r.count();
            if (clientCpuNs < 0 || n == 0 || clientSeconds <= 0) return null;
            return String.format(Locale.ROOT, "client cpu  %.1f us per request, %.0f %% of one core (this process, measured part;"
                    + " on a machine it shares with a server, its CPU is the server's loss)", clientCpuNs / 1e3 / n, 100 * clientCpuNs / 1e9 / clientSeconds);
        }

        private String[] row(String label, java.util.function.Function<TargetResult, String> f) {
            String[] r = new String[results.size() + 1];
            r[0] = label;
            for (int i = 0; i < results.size(); i++) r[i + 1] = f.apply(results.get(i));
            return r;
        }

        private static String pad(String s, int w, boolean right) {
            if (s.length() >= w) return s;
            String sp = " ".repeat(w - s.length());
            return right ? sp + s : s + sp;
        }

        ObjectNode json(List<ObjectNode> checks) {
            ObjectNode root = Json.MAPPER.createObjectNode();
            root.set("settings", settingsJson);
            ObjectNode ts = root.putObject("targets");
            for (TargetResult r : results) {
                ObjectNode t = ts.putObject(r.name);
                t.put("requests", r.count());
                t.put("ok", r.ok());
                t.put("errors", r.errorCount());
                t.put("error_pct", round3(r.errorPct()));
                t.put("seconds", round3(r.seconds));
                t.put("rps", round3(r.rps()));
                ObjectNode lat = t.putObject("latency_ms");
                lat.put("mean", round3(r.mean()));
                lat.put("min", round3(r.metric("min")));
                for (double p : new double[] {50, 90, 99, 99.9, 99.99}) {
                    lat.put("p" + (p == Math.rint(p) ? Long.toString((long) p) : Double.toString(p)), round3(r.pct(p)));
                }
                lat.put("max", round3(r.max()));
                ObjectNode ek = t.putObject("errors_by_kind");
                r.errors.forEach(ek::put);
                t.put("late_starts", r.late);
                t.put("max_start_delay_ms", round3(r.maxStartDelayUs / 1000.0));
                t.put("rows", r.rows);
                if (r.gaveUp != null) t.put("gave_up", r.gaveUp);
                ArrayNode series = t.putArray("series");
                for (Point p : r.series) {
                    ObjectNode o = series.addObject();
                    o.put("t", p.t());
                    o.put("rps", round3(p.rps()));
                    o.put("errors", p.errors());
                    o.put("p50_ms", round3(p.p50()));
                    o.put("p99_ms", round3(p.p99()));
                    o.put("max_ms", round3(p.max()));
                }
            }
            long n = 0;
            for (TargetResult r : results) n += r.count();
            if (clientCpuNs >= 0 && n > 0 && clientSeconds > 0) {
                ObjectNode c = root.putObject("client_cpu");
                c.put("us_per_request", round3(clientCpuNs / 1e3 / n));
                c.put("cores", round3(clientCpuNs / 1e9 / clientSeconds));
            }
            ArrayNode th = root.putArray("thresholds");
            checks.forEach(th::add);
            return root;
        }
    }

    // =====================================================================================================
    // thresholds
    // =====================================================================================================

    record Threshold(String text, String target, String metric, String op, double value) {
        static final Pattern P = Pattern.compile(
                "\\s*(?:([a-z]+)\\.)?(p\\d+(?:\\.\\d+)?|mean|avg|min|max|errors|rps|req/s)\\s*(<=|>=|<|>|==)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(ms|s|us|%|/s)?\\s*");

        static Threshold parse(String text, List<String> targets) {
            Matcher m = P.matcher(text.toLowerCase(Locale.ROOT));
            if (!m.matches()) {
                throw Cli.usage("--threshold: cannot read '" + text + "' (examples: 'p99<200ms', 'errors<1%', 'tinybird.p99.9<=1s', 'rps>500')");
            }
            String target = m.group(1);
            if (target != null) {
                List<String> t = parseTargets(target);
                target = t.get(0);
                if (targets != null && !targets.contains(target)) throw Cli.usage("--threshold " + text + ": '" + target + "' is not a target of this run");
            }
            String metric = m.group(2).equals("req/s") ? "rps" : m.group(2);
            double v = Double.parseDouble(m.group(4));
            String unit = m.group(5);
            boolean latency = metric.startsWith("p") || metric.equals("mean") || metric.equals("avg") || metric.equals("min") || metric.equals("max");
            if (latency) {
                if (metric.startsWith("p") && Double.parseDouble(metric.substring(1)) > 100) throw Cli.usage("--threshold " + text + ": a percentile is at most p100");
                if (unit == null || unit.equals("%") || unit.equals("/s")) throw Cli.usage("--threshold " + text + ": give a time unit (ms, s or us)");
                v = switch (unit) { case "s" -> v * 1000; case "us" -> v / 1000; default -> v; };
            } else if (metric.equals("errors")) {
                if (unit != null && unit.equals("%")) metric = "errors%";
                else if (unit != null) throw Cli.usage("--threshold " + text + ": errors take % or a plain count");
            } else if (unit != null && !unit.equals("/s")) {
                throw Cli.usage("--threshold " + text + ": rps takes a plain number");
            }
            return new Threshold(text.strip(), target, metric, m.group(3), v);
        }

        boolean holds(double actual) {
            return switch (op) {
                case "<" -> actual < value;
                case "<=" -> actual <= value;
                case ">" -> actual > value;
                case ">=" -> actual >= value;
                default -> actual == value;
            };
        }

        void check(Report report, List<String> misses, List<ObjectNode> checks) {
            for (TargetResult r : report.results) {
                if (target != null && !target.equals(r.name)) continue;
                double actual = r.metric(metric);
                boolean ok = holds(actual);
                ObjectNode o = Json.MAPPER.createObjectNode();
                o.put("threshold", text);
                o.put("target", r.name);
                o.put("actual", round3(actual));
                o.put("passed", ok);
                checks.add(o);
                if (!ok) misses.add(r.name + " " + text + " (was " + show(actual) + ")");
            }
        }

        String show(double actual) {
            if (metric.equals("errors%")) return String.format(Locale.ROOT, "%.2f%%", actual);
            if (metric.equals("errors")) return String.format(Locale.ROOT, "%,.0f", actual);
            if (metric.equals("rps")) return String.format(Locale.ROOT, "%,.1f/s", actual);
            return fmtMs(actual);
        }
    }

    // =====================================================================================================
    // merge
    // =====================================================================================================

    @Command(name = "merge", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
            description = {"Combines --hlog files (from several load machines, or several runs) into one result:",
                    "histograms are added per target, so percentiles are those of all requests together; req/s is the",
                    "sum of each file's req/s (machines loading at the same time)."},
            footer = {"", "Example:", "  stress-case.java merge m1.hlog m2.hlog --json all.json --html all.html --threshold 'p99<200ms'"})
    static final class Merge implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;

        @Parameters(paramLabel = "FILE", arity = "1..*", description = "hlog files written by --hlog.")
        List<Path> files;

        @Option(names = "--json", paramLabel = "FILE", description = "Write the merged summary as JSON.")
        Path json;

        @Option(names = "--html", paramLabel = "FILE", description = "Write an HTML report of the merged result.")
        Path html;

        @Option(names = "--threshold", paramLabel = "EXPR", description = "As for a run; exit code 99 when missed.")
        List<String> thresholds = new ArrayList<>();

        @Override
        public Integer call() {
            return Cli.run(spec, common, () -> {
                List<Threshold> ths = new ArrayList<>();
                for (String t : thresholds) ths.add(Threshold.parse(t, null));
                Report r = merge(files);
                StressCase owner = new StressCase();
                owner.spec = spec;
                owner.json = json;
                owner.html = html;
                return owner.finish(r, ths);
            });
        }
    }

    /** Adds the histograms of several hlog files per target; series are aligned by seconds since each file's start. */
    static Report merge(List<Path> files) throws IOException {
        Map<String, Histogram> totals = new LinkedHashMap<>();
        Map<String, TreeMap<Long, Histogram>> buckets = new LinkedHashMap<>();
        Map<String, TreeMap<Long, Long>> bucketErrors = new LinkedHashMap<>();
        Map<String, Map<String, Long>> errors = new LinkedHashMap<>();
        Map<String, double[]> stats = new LinkedHashMap<>(); // rps sum, seconds max, late, max delay, rows
        Map<String, String> gaveUp = new LinkedHashMap<>();
        ArrayNode settings = Json.MAPPER.createArrayNode();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new Cli.Failure("no such file: " + f);
            Map<String, Long> counts = new LinkedHashMap<>();
            Map<String, Long> errCounts = new LinkedHashMap<>();
            Double start = null;
            HistogramLogReader reader;
            try {
                reader = new HistogramLogReader(f.toFile());
            } catch (IOException e) {
                throw new Cli.Failure(f + ": cannot read: " + oneLine(e));
            }
            int n = 0;
            try {
                for (EncodableHistogram eh = reader.nextIntervalHistogram(); eh != null; eh = reader.nextIntervalHistogram()) {
                    n++;
                    if (!(eh instanceof Histogram h)) throw new Cli.Failure(f + ": interval " + n + ": not an integer histogram");
                    String tag = h.getTag() == null ? "unnamed" : h.getTag();
                    if (tag.equals("none")) continue;
                    if (start == null) start = h.getStartTimeStamp() / 1000.0;
                    long bucket = Math.max(0, Math.round(h.getEndTimeStamp() / 1000.0 - start));
                    if (tag.endsWith(".errors")) {
                        String t = tag.substring(0, tag.length() - 7);
                        errCounts.merge(t, h.getTotalCount(), Long::sum);
                        bucketErrors.computeIfAbsent(t, k -> new TreeMap<>()).merge(bucket, h.getTotalCount(), Long::sum);
                        continue;
                    }
                    totals.computeIfAbsent(tag, k -> new Histogram(1, TimeUnit.HOURS.toMicros(1), 3)).add(h);
                    buckets.computeIfAbsent(tag, k -> new TreeMap<>())
                            .computeIfAbsent(bucket, k -> new Histogram(1, TimeUnit.HOURS.toMicros(1), 3)).add(h);
                    counts.merge(tag, h.getTotalCount(), Long::sum);
                }
            } catch (Cli.Failure e) {
                throw e;
            } catch (RuntimeException e) {
                throw new Cli.Failure(f + ": not an HdrHistogram log written by --hlog (" + oneLine(e) + ")");
            }
            // our comment lines: per target seconds, late starts, rows, errors by kind
            boolean ours = false;
            try (BufferedReader br = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                for (String line = br.readLine(); line != null; line = br.readLine()) {
                    if (line.startsWith("#stress-case settings ")) {
                        ours = true;
                        settings.add(Json.MAPPER.readTree(line.substring(22)));
                    } else if (line.startsWith("#stress-case target ")) {
                        String[] p = line.substring(20).split(" ");
                        String t = p[0];
                        Map<String, String> kv = new LinkedHashMap<>();
                        for (int i = 1; i < p.length; i++) {
                            int eq = p[i].indexOf('=');
                            if (eq > 0) kv.put(p[i].substring(0, eq), p[i].substring(eq + 1));
                        }
                        double secs = Double.parseDouble(kv.getOrDefault("seconds", "1"));
                        long c = counts.getOrDefault(t, 0L) + errCounts.getOrDefault(t, 0L);
                        double[] st = stats.computeIfAbsent(t, k -> new double[5]);
                        st[0] += c / Math.max(secs, 1e-9);
                        st[1] = Math.max(st[1], secs);
                        st[2] += Long.parseLong(kv.getOrDefault("late", "0"));
                        st[3] = Math.max(st[3], Long.parseLong(kv.getOrDefault("max_start_delay_us", "0")));
                        st[4] += Long.parseLong(kv.getOrDefault("rows", "0"));
                        if (kv.containsKey("gave_up")) gaveUp.put(t, java.net.URLDecoder.decode(kv.get("gave_up"), StandardCharsets.UTF_8));
                    } else if (line.startsWith("#stress-case errors ")) {
                        String[] p = line.substring(20).split(" ");
                        errors.computeIfAbsent(p[0], k -> new TreeMap<>())
                                .merge(java.net.URLDecoder.decode(p[1], StandardCharsets.UTF_8), Long.parseLong(p[2]), Long::sum);
                    }
                }
            } catch (RuntimeException e) {
                throw new Cli.Failure(f + ": a damaged stress-case comment line (" + oneLine(e) + ")");
            }
            if (!ours) throw new Cli.Failure(f + ": not written by stress-case --hlog (no settings line)");
        }
        List<TargetResult> results = new ArrayList<>();
        for (Map.Entry<String, Histogram> e : totals.entrySet()) {
            String t = e.getKey();
            double[] st = stats.getOrDefault(t, new double[] {0, 1, 0, 0, 0});
            Map<String, Long> errs = errors.getOrDefault(t, new TreeMap<>());
            long count = e.getValue().getTotalCount() + errs.values().stream().mapToLong(Long::longValue).sum();
            double secs = st[0] > 0 ? count / st[0] : Math.max(st[1], 1e-9); // so that rps() is the sum of the files' rates
            List<Point> series = new ArrayList<>();
            TreeMap<Long, Long> be = bucketErrors.getOrDefault(t, new TreeMap<>());
            for (Map.Entry<Long, Histogram> b : buckets.get(t).entrySet()) {
                Histogram h = b.getValue();
                long errsB = be.getOrDefault(b.getKey(), 0L);
                boolean any = h.getTotalCount() > 0;
                series.add(new Point(b.getKey(), h.getTotalCount() + errsB, errsB, any ? h.getValueAtPercentile(50) / 1000.0 : 0,
                        any ? h.getValueAtPercentile(99) / 1000.0 : 0, any ? h.getMaxValue() / 1000.0 : 0));
            }
            results.add(new TargetResult(t, e.getValue(), errs, secs, (long) st[2], (long) st[3], (long) st[4], series, gaveUp.get(t)));
        }
        if (results.isEmpty()) throw new Cli.Failure("no latency data in " + files);
        ObjectNode s = Json.MAPPER.createObjectNode();
        s.put("merged_files", files.size());
        s.set("runs", settings);
        return new Report(s, null, results);
    }

    // =====================================================================================================
    // HTML report: inline SVG, no script, no network
    // =====================================================================================================

    static final class Html {
        static final String[] COLORS = {"#336791", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a"};

        static String color(Report r, TargetResult t) {
            return switch (t.name) {
                case "postgres" -> "#336791";
                case "tinybird" -> "#e8590c";
                default -> COLORS[(2 + r.results.indexOf(t)) % COLORS.length];
            };
        }

        static String esc(String s) {
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
        }

        record Line(String label, String color, boolean dashed, double[] xs, double[] ys) {}

        static String render(Report r) {
            StringBuilder sb = new StringBuilder(64 * 1024);
            sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stress-case report</title>\n<style>\n")
                    .append("body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}\n")
                    .append("h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px}\n")
                    .append("table{border-collapse:collapse;font-size:14px} td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}\n")
                    .append("th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}\n")
                    .append(".charts{display:flex;flex-wrap:wrap;gap:16px} svg{background:#fff;border:1px solid #ddd}\n")
                    .append("pre{background:#f7f7f7;padding:8px;font-size:12px;white-space:pre-wrap}\n")
                    .append("</style></head><body>\n");
            sb.append("<h1>stress-case: ");
            for (int i = 0; i < r.results.size(); i++) {
                TargetResult t = r.results.get(i);
                if (i > 0) sb.append(" vs ");
                sb.append("<span style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</span>");
            }
            sb.append("</h1>\n<div>").append(esc(r.settings != null ? r.settings.model() + ", " + r.settings.duration().toSeconds()
                    + " s measured" : "merged from several hlog files")).append("</div>\n");

            sb.append("<h2>Summary</h2>\n<table><tr><th></th>");
            for (TargetResult t : r.results) sb.append("<th style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</th>");
            sb.append("</tr>\n");
            String[][] rows = {{"requests", null}, {"req/s", null}, {"errors", null}, {"mean", "mean"}, {"p50", "p50"}, {"p90", "p90"},
                    {"p99", "p99"}, {"p99.9", "p99.9"}, {"max", "max"}};
            for (String[] row : rows) {
                sb.append("<tr><td>").append(row[0]).append("</td>");
                for (TargetResult t : r.results) {
                    String v = switch (row[0]) {
                        case "requests" -> String.format(Locale.ROOT, "%,d", t.count());
                        case "req/s" -> String.format(Locale.ROOT, "%,.1f", t.rps());
                        case "errors" -> String.format(Locale.ROOT, "%,d (%.2f%%)", t.errorCount(), t.errorPct());
                        default -> fmtMs(t.metric(row[1]));
                    };
                    sb.append("<td>").append(esc(v)).append("</td>");
                }
                sb.append("</tr>\n");
            }
            sb.append("</table>\n<div class=\"charts\">\n");

            // latency over time (p99 solid, p50 dashed)
            List<Line> lat = new ArrayList<>();
            List<Line> thr = new ArrayList<>();
            for (TargetResult t : r.results) {
                int n = t.series.size();
                double[] x = new double[n], p50 = new double[n], p99 = new double[n], rps = new double[n];
                for (int i = 0; i < n; i++) {
                    Point p = t.series.get(i);
                    x[i] = p.t();
                    p50[i] = p.p50();
                    p99[i] = p.p99();
                    rps[i] = p.rps();
                }
                lat.add(new Line(t.name + " p99", color(r, t), false, x, p99));
                lat.add(new Line(t.name + " p50", color(r, t), true, x, p50));
                thr.add(new Line(t.name, color(r, t), false, x, rps));
            }
            sb.append(chart("latency-over-time", "Latency over time", "seconds", "ms", lat, false));
            sb.append(chart("throughput-over-time", "Throughput over time", "seconds", "requests/s", thr, false));

            // percentile distribution, HdrHistogram style: x = 1/(1-percentile) on a log scale
            List<Line> dist = new ArrayList<>();
            for (TargetResult t : r.results) {
                if (t.ok() == 0) continue;
                List<double[]> pts = new ArrayList<>();
                for (HistogramIterationValue v : t.h.percentiles(5)) {
                    double p = v.getPercentileLevelIteratedTo() / 100.0;
                    if (p >= 1.0) p = Math.min(1 - 1e-7, 1 - 1.0 / Math.max(10, t.ok()));
                    pts.add(new double[] {Math.log10(1 / (1 - p)), v.getValueIteratedTo() / 1000.0});
                }
                double[] x = new double[pts.size()], y = new double[pts.size()];
                for (int i = 0; i < x.length; i++) {
                    x[i] = pts.get(i)[0];
                    y[i] = pts.get(i)[1];
                }
                dist.add(new Line(t.name, color(r, t), false, x, y));
            }
            sb.append(chart("percentile-distribution", "Latency by percentile", "percentile", "ms", dist, true));
            sb.append("</div>\n");

            boolean anyErr = r.results.stream().anyMatch(t -> t.errorCount() > 0);
            if (anyErr) {
                sb.append("<h2>Errors by kind</h2>\n<table><tr><th>kind</th>");
                for (TargetResult t : r.results) sb.append("<th>").append(esc(t.name)).append("</th>");
                sb.append("</tr>\n");
                TreeMap<String, Boolean> kinds = new TreeMap<>();
                for (TargetResult t : r.results) t.errors.keySet().forEach(k -> kinds.put(k, true));
                for (String k : kinds.keySet()) {
                    sb.append("<tr><td>").append(esc(k)).append("</td>");
                    for (TargetResult t : r.results) sb.append("<td>").append(String.format(Locale.ROOT, "%,d", t.errors.getOrDefault(k, 0L))).append("</td>");
                    sb.append("</tr>\n");
                }
                sb.append("</table>\n");
            }
            for (TargetResult t : r.results) {
                if (t.gaveUp != null) sb.append("<p><b>").append(esc(t.name)).append("</b>: ").append(esc(t.gaveUp)).append("</p>\n");
            }
            sb.append("<h2>Settings</h2>\n");
            settingsTable(sb, r.settingsJson);
            sb.append("<p style=\"font-size:12px;color:#777\">stress-case ").append(Cli.VERSION).append(", ")
                    .append(esc(Instant.now().toString())).append("</p>\n</body></html>\n");
            return sb.toString();
        }

        static void settingsTable(StringBuilder sb, JsonNode o) {
            sb.append("<table>\n");
            for (Map.Entry<String, JsonNode> e : o.properties()) {
                JsonNode v = e.getValue();
                sb.append("<tr><td>").append(esc(e.getKey())).append("</td><td style=\"text-align:left\">");
                if (v.isArray() && v.size() > 0 && v.get(0).isObject()) {
                    for (JsonNode x : v) settingsTable(sb, x);
                } else if (v.isArray()) {
                    List<String> items = new ArrayList<>();
                    v.forEach(x -> items.add(x.asText()));
                    sb.append(esc(String.join(", ", items)));
                } else {
                    sb.append(esc(Config.redact(v.asText())).replace("\n", "<br>"));
                }
                sb.append("</td></tr>\n");
            }
            sb.append("</table>\n");
        }

        static String chart(String id, String title, String xLabel, String yLabel, List<Line> lines, boolean percentileAxis) {
            int w = 560, h = 320, l = 64, rgt = 16, top = 36, bot = 48;
            double xmin = Double.MAX_VALUE, xmax = -Double.MAX_VALUE, ymax = 0;
            for (Line ln : lines) {
                for (double x : ln.xs()) {
                    xmin = Math.min(xmin, x);
                    xmax = Math.max(xmax, x);
                }
                for (double y : ln.ys()) ymax = Math.max(ymax, y);
            }
            if (xmin == Double.MAX_VALUE) {
                xmin = 0;
                xmax = 1;
            }
            if (percentileAxis) {
                xmin = 0;
                xmax = Math.max(2, Math.ceil(xmax));
            } else {
                xmin = Math.min(0, xmin);
            }
            if (xmax <= xmin) xmax = xmin + 1;
            double yTop = niceCeil(ymax <= 0 ? 1 : ymax * 1.05);
            StringBuilder sb = new StringBuilder();
            sb.append("<svg id=\"").append(id).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(w).append("\" height=\"").append(h)
                    .append("\" viewBox=\"0 0 ").append(w).append(' ').append(h).append("\" font-family=\"sans-serif\" font-size=\"11\">\n");
            sb.append("<text x=\"").append(w / 2).append("\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">")
                    .append(esc(title)).append("</text>\n");
            int pw = w - l - rgt, ph = h - top - bot;
            // y grid
            for (int i = 0; i <= 5; i++) {
                double v = yTop * i / 5;
                double y = top + ph - ph * i / 5.0;
                sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", l, y, l + pw, y));
                sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", l - 6, y + 4, axisNum(v)));
            }
            // x grid
            if (percentileAxis) {
                String[] labels = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"};
                for (int i = 0; i <= (int) xmax && i < labels.length; i++) {
                    double x = l + pw * (i - xmin) / (xmax - xmin);
                    sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>", x, top, x, top + ph));
                    sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x, top + ph + 16,
                            i == (int) xmax ? "end" : "middle", labels[i]));
                }
            } else {
                double step = niceStep((xmax - xmin) / 6);
                for (double v = Math.ceil(xmin / step) * step; v <= xmax + 1e-9; v += step) {
                    double x = l + pw * (v - xmin) / (xmax - xmin);
                    sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>", x, top, x, top + ph));
                    sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, top + ph + 16, axisNum(v)));
                }
            }
            sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", l, top, pw, ph));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", l + pw / 2, h - 8, esc(xLabel)));
            sb.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">%s</text>\n",
                    top + ph / 2, top + ph / 2, esc(yLabel)));
            int legendX = l + 8, legendY = top + 14;
            for (Line ln : lines) {
                if (ln.xs().length == 0) continue;
                StringBuilder pts = new StringBuilder();
                for (int i = 0; i < ln.xs().length; i++) {
                    double x = l + pw * (ln.xs()[i] - xmin) / (xmax - xmin);
                    double y = top + ph - ph * Math.min(ln.ys()[i], yTop) / yTop;
                    pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
                }
                if (ln.xs().length == 1) {
                    String[] xy = pts.toString().strip().split(",");
                    sb.append("<circle class=\"series\" cx=\"").append(xy[0]).append("\" cy=\"").append(xy[1])
                            .append("\" r=\"4\" fill=\"").append(ln.color()).append("\"/>\n");
                }
                sb.append("<polyline class=\"series\" fill=\"none\" stroke=\"").append(ln.color()).append("\" stroke-width=\"2.5\"")
                        .append(ln.dashed() ? " stroke-dasharray=\"6 4\"" : "").append(" points=\"").append(pts.toString().strip()).append("\"/>\n");
                sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2.5\"%s/>",
                        legendX, legendY - 4, legendX + 18, legendY - 4, ln.color(), ln.dashed() ? " stroke-dasharray=\"6 4\"" : ""));
                sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>\n", legendX + 22, legendY, esc(ln.label())));
                legendY += 15;
            }
            sb.append("</svg>\n");
            return sb.toString();
        }

        static double niceCeil(double v) {
            double e = Math.pow(10, Math.floor(Math.log10(v)));
            for (double m : new double[] {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10}) if (m * e >= v) return m * e;
            return 10 * e;
        }

        static double niceStep(double v) {
            if (v <= 0) return 1;
            double e = Math.pow(10, Math.floor(Math.log10(v)));
            for (double m : new double[] {1, 2, 5, 10}) if (m * e >= v) return m * e;
            return 10 * e;
        }

        static String axisNum(double v) {
            if (v == Math.rint(v) && Math.abs(v) < 1e7) return String.format(Locale.ROOT, "%,d", (long) v);
            if (Math.abs(v) >= 10) return String.format(Locale.ROOT, "%,.0f", v);
            if (Math.abs(v) >= 1) return String.format(Locale.ROOT, "%.1f", v);
            return String.format(Locale.ROOT, "%.2f", v);
        }
    }
}
