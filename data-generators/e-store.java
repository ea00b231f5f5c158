///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DEPS org.yaml:snakeyaml:2.5
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Tinybird.java
//SOURCES ../lib/TinybirdApiException.java
//SOURCES ../lib/TinybirdClient.java
//SOURCES ../lib/TinybirdNet.java
//SOURCES ../lib/TinybirdOptions.java
//SOURCES ../lib/TinybirdRowScanner.java
//SOURCES ../lib/TinybirdRows.java
//SOURCES ../lib/TinybirdWriter.java
//SOURCES ../lib/TinybirdWriterSettings.java
//SOURCES ../lib/Timeouts.java
//SOURCES ../lib/NetErrors.java
//SOURCES EStoreSettings.java
//SOURCES Shop.java
//SOURCES EStoreEvent.java
//SOURCES EStoreSinks.java
//SOURCES PgInventorySink.java
//SOURCES EStoreStream.java
//SOURCES Pacer.java
//SOURCES EStoreStopper.java
//SOURCES EStoreTarget.java
//SOURCES EStoreStats.java
//DESCRIPTION Streams synthetic e-commerce events (view, cart, uncart, purchase, return) as NDJSON: to stdout,
//DESCRIPTION a file, the Tinybird Events API and/or PostgreSQL (running totals and a product inventory).
//DESCRIPTION   ./jbang data-generators/e-store.java --count 10
//DESCRIPTION   ./jbang data-generators/e-store.java --eps 5000 --duration 10m --datasource estore_events
//MAIN EStore

import java.io.FileOutputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "e-store", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, sortOptions = false,
        usageHelpWidth = 130,
        description = {
            "Streams synthetic e-commerce events (view, cart, uncart, purchase, return) that follow the shop's rules:",
            "a cart needs a prior view, an uncart or a purchase needs the product in the cart, a return needs an",
            "unreturned purchase. The mix matches event_type_weights; duplicate_data_percentage %% of the events are",
            "sent twice with the same event_id. Sinks: stdout (the default), --out FILE, the Tinybird Events API,",
            "PostgreSQL (ecomm_totals, product_inventory, optionally every event).",
            "Before generating for Tinybird, one empty request checks that the host answers and takes the token; the",
            "progress line counts the events delivered (acknowledged), and shows the ones generated beside them.",
            "Settings: --config FILE (default: settings.yaml in the working folder, else beside the script, else the",
            "original's defaults); every settings key is also an option, which wins over the file."},
        footer = {"",
            "Examples:",
            "  ./jbang data-generators/e-store.java --count 10",
            "  ./jbang data-generators/e-store.java --seed 42 --start-time 2026-01-01T00:00:00Z --count 1000 --out events.ndjson",
            "  ./jbang data-generators/e-store.java --eps 5000 --duration 10m --datasource estore_events   # TINYBIRD_TOKEN set",
            "  ./jbang data-generators/e-store.java --postgres --db-update-interval 30s --url postgresql://me@localhost/shop",
            "  ./jbang data-generators/e-store.java --shard 0/2 --seed 7 --datasource estore_events   # and --shard 1/2 on another machine",
            "",
            "  ./jbang data-generators/e-store.java --host http://localhost:7181 --datasource estore_events --eps 500   # the emulator",
            "",
            "Environment: TINYBIRD_TOKEN (or the original's TINYBIRD_SOURCE_TOKEN, TINYBIRD_KEY), CLOUD_REGION or TINYBIRD_HOST,",
            "DATASOURCE_NAME, DATABASE_URL / PG* / POSTGRES_DATABASE_*; also read from .env.local, .env and --env-file."})
class EStore implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common = new Cli.Common();
    @Mixin Pg.Options pg = new Pg.Options();

    @Option(names = "--config", paramLabel = "FILE",
            description = "Settings YAML (default: settings.yaml in the working folder, else beside the script when run through ./jbang).")
    Path config;

    @Option(names = "--endpoint", paramLabel = "URL",
            description = "tinybird_api_endpoint: Events API URL; {CLOUD_REGION} and {DATASOURCE_NAME} are filled in.")
    String endpoint;

    @Option(names = "--customers", paramLabel = "N", converter = SettingRule.Count.class, description = "num_customers (default 500).")
    Integer customers;

    @Option(names = "--products", paramLabel = "N", converter = SettingRule.Count.class, description = "num_products (default 500).")
    Integer products;

    @Option(names = "--duplicate-percentage", paramLabel = "PCT", converter = CliTypes.Percent.class, description = "duplicate_data_percentage (default 2).")
    Double duplicatePct;

    @Option(names = "--db-update-interval", paramLabel = "TIME", converter = SettingRule.Interval.class,
            description = "db_update_interval_minutes: 10 (minutes), or 30s, 2m, 1h (default 10).")
    Duration dbUpdateInterval;

    @Option(names = "--postgres", negatable = true, description = "write_to_postgres (default false).")
    Boolean writeToPostgres;

    @Option(names = "--weights", paramLabel = "ACTION=W", split = ",",
            description = "event_type_weights, e.g. view=65,cart=15,uncart=5,purchase=10,return=5 (the ones given replace the defaults).")
    Map<String, String> weights;

    @Option(names = "--restock-threshold", paramLabel = "N", converter = SettingRule.Restock.class,
            description = "restock_threshold: a product whose stock falls to N is restocked to its initial level; "
                    + "-1: never (a purchase of an out-of-stock product becomes a view). Default 5.")
    Integer restockThreshold;

    enum Format { ndjson, original }

    @Option(names = "--format", paramLabel = "FORMAT",
            description = "ndjson (default: customer_id, product_id, action, timestamp, event_id, price) or original (the four original keys).")
    Format format = Format.ndjson;

    @Option(names = {"-n", "--count"}, paramLabel = "N", converter = CliTypes.NonNegativeLong.class,
            description = "Stop after N events sent (duplicates included).")
    Long count;

    @Option(names = "--duration", paramLabel = "TIME", converter = CliTypes.NonNegativeDuration.class, description = "Stop after TIME (10s, 10m, 1h).")
    Duration duration;

    @Option(names = "--eps", paramLabel = "N", converter = CliTypes.Rate.class,
            description = "Events per second, paced exactly (default: as fast as the sinks take them).")
    Double eps;

    @Option(names = "--seed", paramLabel = "S", description = "Seed for a reproducible stream (with --start-time: identical bytes).")
    Long seed;

    @Option(names = "--start-time", paramLabel = "TIME", converter = StartTime.class,
            description = "Simulated clock from TIME (2026-01-01T00:00:00Z): one event every 1/eps s (1 ms without --eps).")
    Long startTime;

    @Option(names = "--duplicate-delay", paramLabel = "TIME", converter = CliTypes.DurationConverter.class,
            description = "Send each duplicate TIME later (out of order) instead of right after its original.")
    Duration duplicateDelay;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE", description = "Write the NDJSON to FILE (written to FILE.tmp, renamed at the end).")
    Path out;

    @Option(names = "--stdout", description = "Also write to stdout when another sink is used (stdout is the default when none is).")
    boolean toStdout;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Tinybird token with DATASOURCES:APPEND (default: TINYBIRD_TOKEN).")
    String token;

    @Option(names = "--datasource", paramLabel = "NAME", split = ",",
            description = "Tinybird data source(s) for {DATASOURCE_NAME}; several: every event goes to each (default: DATASOURCE_NAME).")
    List<String> datasources;

    @Option(names = "--cloud-region", paramLabel = "HOST",
            description = "Value for {CLOUD_REGION} in the endpoint, e.g. api.us-east.aws (default: CLOUD_REGION).")
    String cloudRegion;

    @Option(names = "--host", paramLabel = "URL",
            description = "Tinybird API host instead of the endpoint template, e.g. https://api.us-east.tinybird.co or "
                    + "http://localhost:7181 (default: TINYBIRD_HOST when neither --endpoint nor --cloud-region is given).")
    String host;

    @Option(names = "--region", paramLabel = "NAME",
            description = "Tinybird region instead of --host: gcp-europe-west3, gcp-us-east4, aws-us-east-1, ..., "
                    + "or local (the emulator on http://localhost:7181).")
    String region;

    @Option(names = "--insecure", description = "Allow plain http to a host that is not localhost.")
    boolean insecure;

    @Option(names = "--pg-events", description = "Also COPY every event sent into the PostgreSQL table 'events'.")
    boolean pgEvents;

    @Option(names = "--shard", paramLabel = "I/N", converter = Shard.Parser.class,
            description = "Generate only the customers c with c mod N = I (0-based): N processes, disjoint consistent streams.")
    Shard shard = new Shard(0, 1);

    @Option(names = "--batch-rows", paramLabel = "N", converter = CliTypes.PositiveInt.class, description = "Tinybird: rows per request (default 10000).")
    int batchRows = 10_000;

    @Option(names = "--linger", paramLabel = "TIME", converter = CliTypes.DurationConverter.class,
            description = "Tinybird: longest an event waits for its batch to fill (default 1s).")
    Duration linger = Duration.ofSeconds(1);

    @Option(names = "--no-wait", description = "Tinybird: do not ask for wait=true (faster acknowledgements that can still be lost).")
    boolean noWait;

    @Mixin TinybirdNet.Options net = new TinybirdNet.Options();

    @Option(names = "--retry-for", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Keep retrying (Tinybird: timeouts, 429, 5xx, network; PostgreSQL: a lost connection) while nothing "
                    + "succeeds for up to this long, then stop with the reason (default: 2m). A wait (a retry, or no answer for 10s) "
                    + "is a line on stderr and shows in the progress line; with --verbose every retry is a line.")
    Duration retryFor = Timeouts.RETRY_FOR;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", converter = CliTypes.NonNegativeDuration.class,
            description = "On Ctrl-C or SIGTERM: stop generating at once and wait this long for the events in flight, then print "
                    + "the summary (what was acknowledged and what was not); a second Ctrl-C stops at once (default: 5s).")
    Duration drainTimeout = Timeouts.DRAIN;

    /** For tests: extra settings of the Tinybird writer (backoff, attempts). */
    java.util.function.UnaryOperator<TinybirdWriterSettings> writerTuning = x -> x;

    TinybirdWriterSettings writerSettings() {
        return writerTuning.apply(new TinybirdWriterSettings().maxRows(batchRows).linger(linger).gzip(true).waitForAck(!noWait)
                .retryFor(Timeouts.positive("--retry-for", retryFor)));
    }

    /**
     * Where stdout bytes go: the raw descriptor, which (unlike System.out) says why a write failed, a reader gone or a
     * full disk. Tests that capture the output through the command's PrintWriter set it to null.
     */
    OutputStream stdoutStream = new FileOutputStream(java.io.FileDescriptor.out);

    /** Whether stdout is a terminal, where NDJSON scrolling by could be mistaken for sending (tests set it). */
    java.util.function.BooleanSupplier stdoutIsTerminal = Cli::isTerminal;

    /** The progress counter of the last run: events delivered (for tests). */
    Cli.Progress lastProgress;

    /** The outcome of the last run (for tests and the bench). */
    EStoreStats stats;

    /** The sinks of the last run, closed (for tests and the bench: their final counters). */
    List<EStoreSinks.Sink> lastSinks = List.of();

    private volatile boolean stop;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new EStore()).execute(args));
    }

    /**
     * True when this JVM runs e-store as its main class: then it takes Ctrl-C and SIGTERM itself. Not when it runs
     * inside another program (the tests), whose own signal handling must stay as it is.
     */
    static boolean ownSignals() {
        String command = System.getProperty("sun.java.command", "").strip();
        return command.split("\\s+", 2)[0].equals(EStore.class.getName());
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            EStoreSettings s = settings();
            Run run = new Run(s, this);
            EStoreStopper stopper = new EStoreStopper(this, run, drainTimeout);
            stopper.install();
            try {
                try {
                    stats = run.execute();
                } catch (Throwable t) {
                    // what was done before the failure still gets its summary (a usage error before the start does not)
                    if (run.started) stopper.summaryOnce();
                    throw t;
                }
                stopper.summaryOnce();
                if (stopper.signal != 0) return 128 + stopper.signal;
                for (EStoreSinks.Sink k : run.sinks) {
                    if (k instanceof EStoreSinks.TinybirdSink t) t.throwIfFailed();
                }
                return stats.failed > 0 ? Cli.EXIT_FAILURE : 0;
            } finally {
                stopper.uninstall();
            }
        });
    }

    /** Asks a running generator to stop (as Ctrl-C does): it flushes and returns. */
    void requestStop() {
        stop = true;
    }

    /** One line on stderr, redacted, named after the command. */
    void note(String line) {
        PrintWriter err = spec.commandLine().getErr();
        err.println(Config.redact(spec.root().name() + ": " + line));
        err.flush();
    }

    /** Defaults, then the file (--config, else settings.yaml of the working folder, else beside the script), then the options. */
    EStoreSettings settings() {
        Path file = config;
        if (file == null && Files.isRegularFile(Path.of("settings.yaml"))) file = Path.of("settings.yaml");
        if (file == null) file = Config.besideScript("settings.yaml").orElse(null);
        EStoreSettings s = file == null ? new EStoreSettings() : EStoreSettings.load(file);
        if (endpoint != null) s.endpoint = endpoint;
        if (customers != null) s.customers = customers;
        if (products != null) s.products = products;
        if (duplicatePct != null) s.duplicatePct = duplicatePct;
        if (dbUpdateInterval != null) s.dbUpdateInterval = dbUpdateInterval;
        if (writeToPostgres != null) s.writeToPostgres = writeToPostgres;
        if (restockThreshold != null) s.restockThreshold = restockThreshold;
        if (weights != null) {
            double[] w = s.weights.clone();
            for (Map.Entry<String, String> e : weights.entrySet()) {
                int i = Shop.actionIndex(e.getKey());
                if (i < 0) throw Cli.usage("--weights: unknown action '" + e.getKey() + "' (expected " + String.join(", ", Shop.ACTIONS) + ")");
                try {
                    w[i] = EStoreSettings.weight("--weights " + e.getKey(), e.getValue());
                } catch (Cli.Failure f) {
                    throw Cli.usage(f.getMessage());
                }
            }
            EStoreSettings.checkWeights("--weights", w);
            s.weights = w;
        }
        return s;
    }

    /** An option that sets a settings key takes the file's rule for it (EStoreSettings); picocli names the option. */
    abstract static class SettingRule<T> implements CommandLine.ITypeConverter<T> {
        abstract T rule(String value);

        public T convert(String value) {
            try {
                return rule(value);
            } catch (Cli.Failure f) {
                throw new CommandLine.TypeConversionException(f.getMessage());
            }
        }

        static final class Count extends SettingRule<Integer> {
            Integer rule(String v) { return EStoreSettings.positiveInt("", v); }
        }

        static final class Interval extends SettingRule<Duration> {
            Duration rule(String v) { return EStoreSettings.interval("", v); }
        }

        static final class Restock extends SettingRule<Integer> {
            Integer rule(String v) { return EStoreSettings.restock("", v); }
        }
    }

    /** --shard I/N: shard I of N, 0 <= I < N. */
    record Shard(int index, int count) {
        static final class Parser implements CommandLine.ITypeConverter<Shard> {
            public Shard convert(String text) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("([0-9]{1,9})/([0-9]{1,9})").matcher(text.strip());
                int i = m.matches() ? Integer.parseInt(m.group(1)) : -1, n = m.matches() ? Integer.parseInt(m.group(2)) : 0;
                if (n < 1 || i < 0 || i >= n) throw new CommandLine.TypeConversionException("expected I/N with 0 <= I < N, such as 0/4, got '" + text + "'");
                return new Shard(i, n);
            }
        }
    }

    /** --start-time: an ISO-8601 time, UTC unless it has an offset; in microseconds since the epoch. */
    static final class StartTime implements CommandLine.ITypeConverter<Long> {
        public Long convert(String text) {
            try {
                Instant t = text.endsWith("Z") || text.matches(".*[+-][0-9]{2}:[0-9]{2}$")
                        ? OffsetDateTime.parse(text).toInstant()
                        : LocalDateTime.parse(text).toInstant(ZoneOffset.UTC);
                return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
            } catch (DateTimeParseException e) {
                throw new CommandLine.TypeConversionException("expected an ISO-8601 time such as 2026-01-01T00:00:00Z, got '" + text + "'");
            }
        }
    }

    // =====================================================================================================
    // the run

    /** One run: the shop, its stream of events, and the sinks. */
    static final class Run {
        final EStoreSettings s;
        final EStore cmd;
        final long seed;
        final int[] shard;
        final Shop model;
        final EStoreStream stream;
        final List<EStoreSinks.Sink> sinks = new ArrayList<>();
        final EStoreStats st = new EStoreStats();

        Run(EStoreSettings s, EStore cmd) {
            this.s = s;
            this.cmd = cmd;
            this.seed = cmd.seed != null ? cmd.seed : new java.security.SecureRandom().nextLong();
            this.shard = new int[] {cmd.shard.index(), cmd.shard.count()};
            this.model = new Shop(s, Shop.Catalog.of(seed, s.products), seed, shard[0], shard[1]);
            this.stream = new EStoreStream(model, seed, shard, cmd.format == Format.original,
                    cmd.startTime != null ? cmd.startTime : Long.MIN_VALUE, cmd.eps != null ? 1e6 / cmd.eps : 1000,
                    cmd.duplicateDelay == null ? -1 : cmd.duplicateDelay.toNanos() / 1000, s.duplicatePct, cmd.pgEvents, st);
            st.seed = seed;
        }

        /** Set once the sinks are open and events flow (a failure after it still gets a summary). */
        volatile boolean started;
        /** Set once st is final. */
        volatile boolean accounted;
        long t0;

        EStoreStats execute() throws Exception {
            stream.startClock();
            t0 = System.nanoTime();
            cmd.lastSinks = sinks;
            Cli.Progress progress = Cli.Progress.items("e-store", cmd.count != null ? cmd.count : -1, "events delivered", cmd.common.quiet);
            cmd.lastProgress = progress;
            java.util.concurrent.ScheduledExecutorService ticker = null;
            Throwable failure = null;
            try {
                openSinks(t0);
                started = true;
                for (EStoreSinks.Sink k : sinks) {
                    if (k instanceof EStoreSinks.TinybirdSink t) {
                        ticker = t.statusTicker(progress, this::deliveredNow, () -> st.sent, cmd.common.quiet, cmd.common.verbose, cmd::note);
                    }
                }
                loop(t0, progress);
            } catch (Throwable t) {
                failure = t;
            }
            // flush and close every sink, even after a failure or Ctrl-C
            for (EStoreSinks.Sink k : sinks) {
                try {
                    k.close();
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                }
            }
            if (ticker != null) ticker.shutdownNow();
            progress.set(deliveredNow());
            progress.close();
            st.account(sinks, model, t0);
            accounted = true;
            if (failure instanceof Exception ex) throw ex;
            if (failure instanceof Error er) throw er;
            return st;
        }

        /** The main loop: a batch whenever events are due, to every sink; ahead of schedule, a flush and a nap. */
        void loop(long t0, Cli.Progress progress) throws Exception {
            Pacer pacer = new Pacer(t0, cmd.count, cmd.duration, cmd.eps);
            EStoreEvent.Batch batch = stream.batch;
            long lastIdle = t0;
            while (!cmd.stop) {
                long now = System.nanoTime();
                long todo = pacer.due(now, st.sent) - st.sent;
                if (todo > 0) {
                    stream.fill((int) Math.min(todo, EStoreEvent.Batch.CAPACITY), pacer.count);
                    for (EStoreSinks.Sink k : sinks) k.accept(batch);
                    progress.set(deliveredNow());
                    long c = stream.clockMicros();
                    for (EStoreSinks.Sink k : sinks) k.tick(now, c);
                    continue;
                }
                if (pacer.over(now, st.sent)) break;
                if (now - lastIdle > 20_000_000L) {
                    for (EStoreSinks.Sink k : sinks) {
                        k.idle();
                        k.tick(now, stream.clockMicros());
                    }
                    lastIdle = now;
                }
                pacer.sleepUntilNext(st.sent);
            }
            // stopped (count, duration or Ctrl-C): what was generated and is still pending goes out too
            while (stream.drainPending()) {
                for (EStoreSinks.Sink k : sinks) k.accept(batch);
                progress.set(deliveredNow());
            }
        }

        /** Tinybird (after its preflight), the file, stdout, PostgreSQL: the sinks the options ask for, open. */
        void openSinks(long nowNanos) throws Exception {
            EStoreTarget target = EStoreTarget.of(cmd, s);
            List<Tinybird.Endpoint> endpoints = target.endpoints();
            boolean tinybird = !endpoints.isEmpty();
            if (tinybird) {
                TinybirdWriterSettings ws = cmd.writerSettings();
                TinybirdNet net = cmd.net.net(cmd.common.config());
                // nothing is generated for a host that cannot take it
                EStoreSinks.TinybirdSink.preflight(endpoints, target.token(), net, stream.enc.fields, cmd.common.quiet ? l -> {} : cmd::note);
                // --verbose: a line a retry; the waits themselves are announced by the status ticker either way
                if (cmd.common.verbose && !cmd.common.quiet) ws.onNotice(l -> {
                    if (l.startsWith("waiting for")) cmd.note("tinybird: " + l);
                });
                sinks.add(new EStoreSinks.TinybirdSink(endpoints, target.token(), ws, net));
            }
            if (cmd.out != null) sinks.add(new EStoreSinks.FileSink(cmd.out));
            if (target.token() == null && cmd.out == null && !cmd.toStdout && !cmd.common.quiet && cmd.stdoutIsTerminal.getAsBoolean()) {
                cmd.note("no Tinybird token: writing NDJSON to stdout; to send to Tinybird, set TINYBIRD_TOKEN (or --token) and --datasource NAME");
            }
            if (cmd.toStdout || (cmd.out == null && !tinybird)) {
                EStoreSinks.StdoutSink so = new EStoreSinks.StdoutSink(cmd.spec.commandLine().getOut(), cmd.stdoutStream);
                so.onClosed = cmd::requestStop;
                sinks.add(so);
            }
            if (s.writeToPostgres || cmd.pgEvents) {
                Pg.Target t = cmd.pg.resolve(cmd.common.config());
                PgInventorySink p = new PgInventorySink(t, model, s.dbUpdateInterval, cmd.pgEvents, shard[1] == 1 ? null : shard[0] + "/" + shard[1],
                        Timeouts.positive("--retry-for", cmd.retryFor), cmd.common.quiet ? null : cmd.spec.commandLine().getErr());
                sinks.add(p);
                p.open(nowNanos);
            }
        }

        /** Events delivered by every sink: what the progress line counts. */
        long deliveredNow() {
            return EStoreStats.delivered(sinks, st.sent);
        }

        /** The run's counts: the final ones, or (a run that did not come back) what the sinks know now. */
        EStoreStats snapshot() {
            if (accounted) return st;
            EStoreStats c = st.copyCounts();
            c.account(sinks, model, t0);
            c.sinkLines.add("stopped before the sinks were closed");
            return c;
        }

        boolean hasTinybird() {
            for (EStoreSinks.Sink k : List.copyOf(sinks)) if (k instanceof EStoreSinks.TinybirdSink) return true;
            return false;
        }

        /** Stops waiting for the Tinybird writers (Ctrl-C past the drain time, a second Ctrl-C). */
        void abandon() {
            for (EStoreSinks.Sink k : List.copyOf(sinks)) {
                if (k instanceof EStoreSinks.TinybirdSink t) t.abandon();
            }
        }

    }
}
