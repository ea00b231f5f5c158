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
//SOURCES ../lib/TinybirdApiException.java
//SOURCES ../lib/TinybirdClient.java
//SOURCES ../lib/TinybirdNet.java
//SOURCES ../lib/TinybirdOptions.java
//SOURCES ../lib/TinybirdRowScanner.java
//SOURCES ../lib/TinybirdRows.java
//SOURCES ../lib/TinybirdWriter.java
//SOURCES ../lib/TinybirdWriterSettings.java
//SOURCES Workload.java
//SOURCES *Target.java
//SOURCES Http1.java
//SOURCES HttpLoop.java
//SOURCES Deadlines.java
//SOURCES BlockingSocketFactory.java
//SOURCES LoadEngine.java
//SOURCES StressReport.java
//SOURCES Threshold.java
//SOURCES HtmlReport.java
//SOURCES HlogMerge.java
//DESCRIPTION PostgreSQL vs a Tinybird endpoint under load, side by side, with coordinated-omission-correct latency.
//DESCRIPTION   ./jbang stress-case --target both --duration 60s --concurrency 10 --html report.html
//DESCRIPTION   ./jbang stress-case --target tinybird --rate 500 --duration 30s --threshold 'p99<200ms'
//DESCRIPTION   ./jbang stress-case merge machine1.hlog machine2.hlog --json merged.json
//MAIN StressCase

import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;


import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "stress-case", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        subcommands = {HlogMerge.class},
        description = {
                "Loads PostgreSQL and a Tinybird API endpoint with the same questions, side by side, and measures latency",
                "with HdrHistogram. Default workload (the original's): a random city and a random 2..90-day window between",
                "2023-05-01 and today, sent as bind parameters to weather_reports and as city/start_time/end_time to reports.json;",
                "a window reaching past the data moves to the data's time range (asked of each target before the run).",
                "Closed model (--concurrency N workers, each waits for its answer) or open model (--rate N requests/s on a",
                "fixed schedule; latency counts from each request's intended start, so a stalling server can't hide its tail).",
                ""},
        footer = {"",
                "Parameters (--param NAME=SPEC, repeatable; named :NAME in --sql, query parameters of --pipe / --http-url).",
                "Without --param: city=city start_time=window.start end_time=window.end. Any --param replaces all three.",
                "  city                    a random city (api_cities, and/or SELECT DISTINCT site_name FROM weather_reports)",
                "  window.start, window.end  a random window of --window days between --window-from and --window-to",
                "  int:LO..HI              a random integer;   list:a,b,c  a random item;   value:X  always X",
                "",
                "Thresholds (--threshold, repeatable, exit code 99 when one is missed): [TARGET.]METRIC OP VALUE",
                "  p50 p90 p99 p99.9 mean max (ms, s or us)   errors (%% or a count)   rps",
                "  e.g. 'p99<200ms'  'errors<1%%'  'tinybird.p99.9<=1s'  'postgres.rps>500'",
                "",
                "Examples:",
                "  ./jbang stress-case --target both --duration 60s --concurrency 10 --html report.html",
                "  ./jbang stress-case --target postgres --rate 1000 --duration 30s --threshold 'p99<50ms' --threshold 'errors<1%%'",
                "  ./jbang stress-case --target postgres --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' --param aid=int:1..100000",
                "  ./jbang stress-case --target tinybird --pipe top_cities --param limit=int:1..50 --hlog run1.hlog",
                "  ./jbang stress-case merge run1.hlog run2.hlog --html merged.html",
                "",
                "Environment: DATABASE_URL / PG* / POSTGRES_DATABASE_* (PostgreSQL); TINYBIRD_HOST or TB_HOST (API host,",
                "default https://api.tinybird.co); TINYBIRD_READ_TOKEN / TINYBIRD_TOKEN / TB_TOKEN / TINYBIRD_KEY (read token)."})
class StressCase implements Callable<Integer> {

    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;
    @Mixin TinybirdOptions tb;

    /** The targets --target knows: a new target is one file, NameTarget.java, with a KIND (see PostgresTarget) and one line here. */
    static final List<LoadTarget.Kind> TARGETS = List.of(PostgresTarget.KIND, TinybirdTarget.KIND, HttpTarget.KIND);

    @Option(names = "--target", paramLabel = "WHICH", defaultValue = "both", completionCandidates = TargetNames.class,
            description = "One of ${COMPLETION-CANDIDATES} (both = postgres,tinybird), or a comma list. Default: ${DEFAULT-VALUE}.")
    String target;

    @Option(names = {"-c", "--concurrency"}, paramLabel = "N", defaultValue = "10", converter = CliTypes.PositiveInt.class,
            description = "Workers (connections) per target. Closed model: requests in flight. Open model: the most in flight. Default: ${DEFAULT-VALUE}.")
    int concurrency;

    @Option(names = "--rate", paramLabel = "N[/s]", converter = CliTypes.Rate.class,
            description = "Open model: N requests per second per target on a fixed schedule (coordinated omission corrected).")
    Double rate;

    @Option(names = {"-d", "--duration"}, paramLabel = "TIME", defaultValue = "30s", converter = CliTypes.PositiveDuration.class,
            description = "How long to measure (after the warm-up). Default: ${DEFAULT-VALUE}.")
    Duration duration;

    @Option(names = "--warmup", paramLabel = "TIME", defaultValue = "0s", converter = CliTypes.DurationConverter.class,
            description = "Load before measuring, excluded from every result. Default: ${DEFAULT-VALUE}.")
    Duration warmup;

    @Option(names = "--max-requests", paramLabel = "N", description = "Stop a target after N measured requests.")
    Long maxRequests;

    @Option(names = "--timeout", paramLabel = "TIME", defaultValue = "10s", converter = CliTypes.DurationConverter.class,
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

    @Option(names = "--param", paramLabel = "NAME=SPEC", converter = Workload.Param.Check.class, description = "A request parameter and its generator (see below). Any --param replaces the default city, start_time and end_time.")
    List<String> params = new ArrayList<>();

    @Option(names = "--window", paramLabel = "MIN..MAX", defaultValue = "2..90", converter = Days.Parser.class,
            description = "Window length in days for window.start/end. Default: ${DEFAULT-VALUE}.")
    Days window;

    /** --window: MIN..MAX days, 0 <= MIN <= MAX. */
    record Days(int min, int max) {
        static final class Parser implements CommandLine.ITypeConverter<Days> {
            public Days convert(String s) {
                Matcher m = Pattern.compile("\\s*(-?\\d{1,9})\\s*\\.\\.\\s*(-?\\d{1,9})\\s*").matcher(s);
                Days d = m.matches() ? new Days(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))) : null;
                if (d == null || d.min < 0 || d.max < d.min) {
                    throw new CommandLine.TypeConversionException("expected MIN..MAX days with 0 <= MIN <= MAX, got '" + s + "'");
                }
                return d;
            }
        }
    }

    @Option(names = "--window-from", paramLabel = "DATE", defaultValue = "2023-05-01", description = "Earliest window start. Default: ${DEFAULT-VALUE}.")
    LocalDate windowFrom;

    @Option(names = "--window-to", paramLabel = "DATE", description = "Latest window end (default: today, UTC).")
    LocalDate windowTo;

    @Option(names = "--pool", paramLabel = "N", description = "PostgreSQL pool size (default: --concurrency).")
    Integer poolSize;

    enum Threads { auto, loop, platform, virtual }

    @Option(names = "--threads", paramLabel = "KIND", defaultValue = "auto",
            description = "How requests are driven: loop (plain-http targets in the closed model: a few selector threads, one a core, "
                    + "each serving many connections, as wrk), platform or virtual (a thread a worker), or auto (loop where it "
                    + "applies; else platform threads up to 256 workers per target, virtual beyond). Default: ${DEFAULT-VALUE}.")
    Threads threads;

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

    @Option(names = "--give-up", paramLabel = "TIME", defaultValue = "5s", converter = CliTypes.DurationConverter.class,
            description = "Stop loading a target that has answered nothing but errors for this long (0 = never). Default: ${DEFAULT-VALUE}.")
    Duration giveUp;

    @Option(names = "--late-after", paramLabel = "TIME", defaultValue = "10ms", converter = CliTypes.DurationConverter.class, hidden = true,
            description = "Open model: a request that starts later than this after its intended time counts as a late start.")
    Duration lateAfter;

    static final int EXIT_THRESHOLD = 99;
    Config cfg;

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
        List<Threshold> ths = new ArrayList<>();
        for (String t : thresholds) ths.add(Threshold.parse(t, kinds));
        if (threads == Threads.loop && rate != null) {
            throw Cli.usage("--threads loop drives the closed model only (--concurrency); with --rate use auto, platform or virtual");
        }
        boolean eventLoop = rate == null && (threads == Threads.auto || threads == Threads.loop);
        String threadKind = threads == Threads.platform || threads == Threads.virtual ? threads.name()
                : concurrency * kinds.size() <= 256 ? "platform" : "virtual";

        cfg = common.config();
        List<String> ps = params.isEmpty() && kinds.equals(List.of("http")) ? List.of() : params.isEmpty()
                ? List.of("city=city", "start_time=window.start", "end_time=window.end") : params;
        Workload wl = Workload.parse(ps, seed, window.min(), window.max(), windowFrom,
                windowTo == null ? LocalDate.now(ZoneOffset.UTC) : windowTo);
        List<LoadTarget> targets = new ArrayList<>();
        try {
            for (String k : kinds) targets.add(kind(k).factory().make(this, wl));
            List<String> drive = new ArrayList<>();
            for (LoadTarget t : targets) {
                if (eventLoop && t instanceof HttpTarget h && h.plain()) drive.add(t.name() + ": event loop, " + LoadEngine.loopThreads(concurrency) + " threads");
                else if (threads == Threads.loop) throw Cli.usage("--threads loop speaks plain http; " + t.name() + " needs auto, platform or virtual");
                else drive.add(t.name() + ": " + threadKind + " threads");
            }
            // cities: the ones every target that can list them knows, so that all answer the same questions
            if (wl.needsCities()) {
                List<String> cities = null;
                for (LoadTarget t : targets) {
                    List<String> known = t.cities();
                    if (known == null) continue;
                    if (cities == null) cities = new ArrayList<>(known);
                    else cities.retainAll(known);
                }
                if (cities == null) throw Cli.usage("the 'city' parameter needs a postgres or tinybird target (or use list:a,b,c)");
                if (cities.isEmpty()) throw new Cli.Failure("no cities to choose from (is the data loaded? see stress-case/seed-data.java)");
                wl.cities(cities);
            }
            meetTheData(targets, wl, err);
            for (LoadTarget t : targets) t.check(); // one real request each: a target down at start is one clear error

            RunSettings settings = new RunSettings(kinds, rate, concurrency, duration, warmup, maxRequests, timeout, seed,
                    describeWorkload(targets, wl), threadKind, eventLoop, String.join(", ", drive), about(targets));
            LoadEngine engine = new LoadEngine(targets, settings, wl, err, live || (!common.quiet && Cli.isTerminal()), giveUp, lateAfter, hlog);
            StressReport report = engine.run();
            return finish(report, ths);
        } finally {
            for (LoadTarget t : targets) t.close();
        }
    }

    /**
     * The window against the data: a window reaching past the data asks questions with no answer (the demo data ends
     * on 2024-04-30 while the default window runs to today), and a run of empty answers measures little. A bound the
     * user did not set moves to the data's range (the range every target has); a bound the user set stays, with a warning.
     */
    void meetTheData(List<LoadTarget> targets, Workload wl, PrintWriter err) {
        if (!wl.hasWindow()) return;
        String me = spec.root().name();
        LocalDateTime first = null, last = null;
        List<String> seen = new ArrayList<>();
        for (LoadTarget t : targets) {
            LoadTarget.DataRange r = t.dataRange();
            if (r == null) continue;
            if (r.first() == null) {
                err.println(me + ": " + t.name() + ": could not check the time range of the data (" + r.where() + "): " + r.unknown());
                continue;
            }
            seen.add(t.name() + " " + r.where() + " " + r.first().format(Workload.TB_TIME) + " to " + r.last().format(Workload.TB_TIME));
            if (first == null || r.first().isAfter(first)) first = r.first();
            if (last == null || r.last().isBefore(last)) last = r.last();
        }
        if (first == null) return;
        LocalDate dataFrom = first.toLocalDate(), dataTo = last.toLocalDate().plusDays(1);
        if (!wl.from.isBefore(dataFrom) && !wl.today.isAfter(dataTo)) return;
        String was = wl.from + ".." + wl.today + " reaches past the data (" + String.join(", ", seen) + ")";
        var parsed = spec.commandLine().getParseResult();
        LocalDate from = parsed != null && parsed.hasMatchedOption("--window-from") || !dataFrom.isBefore(dataTo) ? wl.from : dataFrom;
        LocalDate to = parsed != null && parsed.hasMatchedOption("--window-to") || !dataFrom.isBefore(dataTo) ? wl.today : dataTo;
        if (!from.isBefore(to)) { // the user's bound and the data's leave no window: the user's window stays
            from = wl.from;
            to = wl.today;
        }
        if (from.equals(wl.from) && to.equals(wl.today)) {
            err.println(me + ": the window " + was + ": questions outside the data find no rows (--window-from and --window-to are yours)");
        } else {
            err.println(me + ": the window " + was + ": most questions would find no rows; using " + from + ".." + to
                    + " (--window-from and --window-to set a window)");
            wl.from = from;
            wl.today = to;
        }
        err.flush();
    }

    /** Prints the table, writes the files, checks the thresholds; shared by the run and 'merge'. */
    int finish(StressReport report, List<Threshold> ths) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        out.print(report.table());
        out.flush();
        List<String> misses = new ArrayList<>();
        List<ObjectNode> checks = new ArrayList<>();
        for (Threshold t : ths) t.check(report, misses, checks);
        if (json != null) writeAtomically(json, report.json(checks).toPrettyString() + "\n");
        if (html != null) writeAtomically(html, HtmlReport.render(report, checks));
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

    /** The target names of a --target value (aliases and 'both' resolved), in order, each once. */
    static List<String> parseTargets(String s) {
        List<String> out = new ArrayList<>();
        for (String p : s.toLowerCase(Locale.ROOT).split(",")) {
            List<String> names = p.strip().equals("both") ? List.of("postgres", "tinybird") : List.of(kind(p.strip()).name());
            for (String n : names) if (!out.contains(n)) out.add(n);
        }
        return out;
    }

    static LoadTarget.Kind kind(String name) {
        for (LoadTarget.Kind k : TARGETS) if (k.name().equals(name) || k.aliases().contains(name)) return k;
        throw Cli.usage("--target: unknown target '" + name + "' (" + String.join(", ", new TargetNames()) + ")");
    }

    /** --target's values for --help and completion: every registered target, and 'both'. */
    static final class TargetNames implements Iterable<String> {
        public java.util.Iterator<String> iterator() {
            List<String> names = new ArrayList<>();
            for (LoadTarget.Kind k : TARGETS) names.add(k.name());
            names.add("both");
            return names.iterator();
        }
    }

    String tinybirdToken() {
        String t = tb.token != null && !tb.token.isBlank() ? tb.token
                : cfg.get("TINYBIRD_READ_TOKEN", "TINYBIRD_TOKEN", "TB_TOKEN", "TINYBIRD_KEY").orElse(null);
        if (t != null) Config.registerSecret(t);
        return t;
    }

    static ObjectNode about(List<LoadTarget> targets) {
        ObjectNode about = Json.MAPPER.createObjectNode();
        for (LoadTarget t : targets) {
            ObjectNode o = about.putObject(t.name());
            t.about().forEach(o::put);
        }
        return about;
    }

    static String describeWorkload(List<LoadTarget> targets, Workload wl) {
        StringBuilder sb = new StringBuilder();
        for (LoadTarget t : targets) sb.append(t.name()).append(": ").append(t.describe()).append('\n');
        sb.append("parameters: ").append(wl.describe());
        return sb.toString();
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
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
}
