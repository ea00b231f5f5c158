///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DEPS org.yaml:snakeyaml:2.5
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Tinybird.java
//SOURCES ../lib/Timeouts.java
//SOURCES ../lib/NetErrors.java
//DESCRIPTION Streams synthetic e-commerce events (view, cart, uncart, purchase, return) as NDJSON: to stdout,
//DESCRIPTION a file, the Tinybird Events API and/or PostgreSQL (running totals and a product inventory).
//DESCRIPTION   ./jbang data-generators/e-store.java --count 10
//DESCRIPTION   ./jbang data-generators/e-store.java --eps 5000 --duration 10m --datasource estore_events
//MAIN EStore

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
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
            "Settings: --config FILE (default ./settings.yaml when present, else the original's defaults); every",
            "settings key is also an option, which wins over the file."},
        footer = {"",
            "Examples:",
            "  ./jbang data-generators/e-store.java --count 10",
            "  ./jbang data-generators/e-store.java --seed 42 --start-time 2026-01-01T00:00:00Z --count 1000 --out events.ndjson",
            "  ./jbang data-generators/e-store.java --eps 5000 --duration 10m --datasource estore_events   # TINYBIRD_TOKEN set",
            "  ./jbang data-generators/e-store.java --postgres --db-update-interval 30s --url postgresql://me@localhost/shop",
            "  ./jbang data-generators/e-store.java --shard 0/2 --seed 7 ...   and   --shard 1/2 --seed 7 ... on another machine",
            "",
            "  ./jbang data-generators/e-store.java --host http://localhost:7181 --datasource estore_events --eps 500   # the emulator",
            "",
            "Environment: TINYBIRD_TOKEN (or the original's TINYBIRD_SOURCE_TOKEN, TINYBIRD_KEY), CLOUD_REGION or TINYBIRD_HOST,",
            "DATASOURCE_NAME, DATABASE_URL / PG* / POSTGRES_DATABASE_*; also read from .env.local, .env and --env-file."})
class EStore implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common = new Cli.Common();
    @Mixin Pg.Options pg = new Pg.Options();

    @Option(names = "--config", paramLabel = "FILE", description = "Settings YAML (default: ./settings.yaml when present).")
    Path config;

    @Option(names = "--endpoint", paramLabel = "URL",
            description = "tinybird_api_endpoint: Events API URL; {CLOUD_REGION} and {DATASOURCE_NAME} are filled in.")
    String endpoint;

    @Option(names = "--customers", paramLabel = "N", description = "num_customers (default 500).")
    Integer customers;

    @Option(names = "--products", paramLabel = "N", description = "num_products (default 500).")
    Integer products;

    @Option(names = "--duplicate-percentage", paramLabel = "PCT", description = "duplicate_data_percentage (default 2).")
    Double duplicatePct;

    @Option(names = "--db-update-interval", paramLabel = "TIME",
            description = "db_update_interval_minutes: 10 (minutes), or 30s, 2m, 1h (default 10).")
    String dbUpdateInterval;

    @Option(names = "--postgres", negatable = true, description = "write_to_postgres (default false).")
    Boolean writeToPostgres;

    @Option(names = "--weights", paramLabel = "ACTION=W", split = ",",
            description = "event_type_weights, e.g. view=65,cart=15,uncart=5,purchase=10,return=5 (the ones given replace the defaults).")
    Map<String, String> weights;

    @Option(names = "--restock-threshold", paramLabel = "N",
            description = "restock_threshold: a product whose stock falls to N is restocked to its initial level; "
                    + "-1: never (a purchase of an out-of-stock product becomes a view). Default 5.")
    Integer restockThreshold;

    @Option(names = "--format", paramLabel = "FORMAT",
            description = "ndjson (default: customer_id, product_id, action, timestamp, event_id, price) or original (the four original keys).")
    String format = "ndjson";

    @Option(names = {"-n", "--count"}, paramLabel = "N", description = "Stop after N events sent (duplicates included).")
    Long count;

    @Option(names = "--duration", paramLabel = "TIME", converter = Cli.DurationConverter.class, description = "Stop after TIME (10s, 10m, 1h).")
    Duration duration;

    @Option(names = "--eps", paramLabel = "N", description = "Events per second, paced exactly (default: as fast as the sinks take them).")
    Double eps;

    @Option(names = "--seed", paramLabel = "S", description = "Seed for a reproducible stream (with --start-time: identical bytes).")
    Long seed;

    @Option(names = "--start-time", paramLabel = "TIME",
            description = "Simulated clock from TIME (2026-01-01T00:00:00Z): one event every 1/eps s (1 ms without --eps).")
    String startTime;

    @Option(names = "--duplicate-delay", paramLabel = "TIME", converter = Cli.DurationConverter.class,
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

    @Option(names = "--shard", paramLabel = "I/N",
            description = "Generate only the customers c with c mod N = I (0-based): N processes, disjoint consistent streams.")
    String shard;

    @Option(names = "--batch-rows", paramLabel = "N", description = "Tinybird: rows per request (default 10000).")
    int batchRows = 10_000;

    @Option(names = "--linger", paramLabel = "TIME", converter = Cli.DurationConverter.class,
            description = "Tinybird: longest an event waits for its batch to fill (default 1s).")
    Duration linger = Duration.ofSeconds(1);

    @Option(names = "--no-wait", description = "Tinybird: do not ask for wait=true (faster acknowledgements that can still be lost).")
    boolean noWait;

    @Mixin Tinybird.NetOptions net = new Tinybird.NetOptions();

    @Option(names = "--retry-for", paramLabel = "DURATION", converter = Cli.DurationConverter.class,
            description = "Keep retrying (Tinybird: timeouts, 429, 5xx, network; PostgreSQL: a lost connection) while nothing "
                    + "succeeds for up to this long, then stop with the reason (default: 2m). A wait (a retry, or no answer for 10s) "
                    + "is a line on stderr and shows in the progress line; with --verbose every retry is a line.")
    Duration retryFor = Timeouts.RETRY_FOR;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", converter = Cli.DurationConverter.class,
            description = "On Ctrl-C or SIGTERM: stop generating at once and wait this long for the events in flight, then print "
                    + "the summary (what was acknowledged and what was not); a second Ctrl-C stops at once (default: 5s).")
    Duration drainTimeout = Timeouts.DRAIN;

    /** For tests: extra settings of the Tinybird writer (backoff, attempts). */
    java.util.function.UnaryOperator<Tinybird.Writer.Settings> writerTuning = x -> x;

    Tinybird.Writer.Settings writerSettings() {
        if (batchRows < 1) throw Cli.usage("--batch-rows must be >= 1");
        return writerTuning.apply(new Tinybird.Writer.Settings().maxRows(batchRows).linger(linger).gzip(true).waitForAck(!noWait)
                .retryFor(Timeouts.positive("--retry-for", retryFor)));
    }

    /**
     * Where stdout bytes go: the raw descriptor, which (unlike System.out) says why a write failed, a reader gone or a
     * full disk. Tests that capture the output through the command's PrintWriter set it to null.
     */
    OutputStream stdoutStream = new FileOutputStream(java.io.FileDescriptor.out);

    /** The outcome of the last run (for tests and the bench). */
    Stats stats;

    /** The sinks of the last run, closed (for tests and the bench: their final counters). */
    List<Sink> lastSinks = List.of();

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
            Settings s = settings();
            if (drainTimeout == null || drainTimeout.isNegative()) throw Cli.usage("--drain-timeout must be 0 or more");
            Run run = new Run(s, this);
            Stopper stopper = new Stopper(run, drainTimeout);
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
                for (Sink k : run.sinks) {
                    if (k instanceof TinybirdSink t) t.throwIfFailed();
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

    /**
     * Ctrl-C and SIGTERM: the first stops generating at once and gives the events in flight --drain-timeout to be
     * acknowledged; then the Tinybird writers are abandoned (what has no answer counts as not acknowledged) and the
     * summary is printed. A second signal abandons at once. Either way, if the run does not come back within a few
     * seconds after abandoning (a sink stuck elsewhere), the summary is printed from what is known and the process
     * ends. Signals are taken by the process's own handlers (a JVM shutdown hook cannot see a second Ctrl-C); where
     * that is not possible (-Xrs, SIGHUP, tests run in-process) a shutdown hook does the bounded drain.
     */
    final class Stopper {
        static final long GRACE_MS = 3_000;
        final Run run;
        final Duration drain;
        final CountDownLatch finished = new CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicBoolean summaryPrinted = new java.util.concurrent.atomic.AtomicBoolean();
        final java.util.concurrent.atomic.AtomicInteger signals = new java.util.concurrent.atomic.AtomicInteger();
        volatile int signal;
        final List<Object[]> previous = new ArrayList<>();
        Thread hook;

        Stopper(Run run, Duration drain) {
            this.run = run;
            this.drain = drain;
        }

        void install() {
            if (ownSignals()) {
                for (String name : List.of("INT", "TERM")) {
                    try {
                        Object sig = SIGNAL.getConstructor(String.class).newInstance(name);
                        int number = (Integer) SIGNAL.getMethod("getNumber").invoke(sig);
                        Object handler = java.lang.reflect.Proxy.newProxyInstance(SIGNAL.getClassLoader(), new Class<?>[] {HANDLER},
                                (proxy, method, args) -> {
                                    if (method.getName().equals("handle")) onSignal(number);
                                    return null;
                                });
                        previous.add(new Object[] {sig, handle(sig, handler)});
                    } catch (ReflectiveOperationException | RuntimeException notAllowed) {
                        // -Xrs or a signal the JVM keeps: the shutdown hook below does the drain
                    }
                }
            }
            hook = new Thread(() -> {
                stop = true;
                if (!await(drain.toMillis())) {
                    run.abandon();
                    await(GRACE_MS);
                }
            }, "e-store-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
        }

        void uninstall() {
            finished.countDown();
            for (Object[] p : previous) {
                try {
                    handle(p[0], p[1]);
                } catch (ReflectiveOperationException | RuntimeException ignored) {
                    // the process ends soon anyway
                }
            }
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running and waits for us
            }
        }

        // sun.misc.Signal (jdk.unsupported) through reflection: the same calls, without javac's warning on every build
        static final Class<?> SIGNAL, HANDLER;

        static {
            Class<?> s = null, h = null;
            try {
                s = Class.forName("sun.misc.Signal");
                h = Class.forName("sun.misc.SignalHandler");
            } catch (ClassNotFoundException | LinkageError absent) {
                // a JVM without it: the shutdown hook does the drain
            }
            SIGNAL = s;
            HANDLER = h;
        }

        private static Object handle(Object sig, Object handler) throws ReflectiveOperationException {
            return SIGNAL.getMethod("handle", SIGNAL, HANDLER).invoke(null, sig, handler);
        }

        private void onSignal(int number) {
            int n = signals.incrementAndGet();
            if (n == 1) {
                signal = number;
                stop = true;
                if (!common.quiet && run.hasTinybird()) {
                    note("stopping: waiting up to " + Timeouts.human(drain) + " for the events in flight (Ctrl-C again to stop at once)");
                }
                Thread t = new Thread(() -> {
                    if (await(drain.toMillis())) return;
                    run.abandon();
                    if (!await(GRACE_MS)) forceExit();
                }, "e-store-drain");
                t.setDaemon(true);
                t.start();
            } else {
                run.abandon();
                if (!await(GRACE_MS)) forceExit();
            }
        }

        private boolean await(long ms) {
            try {
                return finished.await(ms, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return true;
            }
        }

        /** The run did not come back: the summary from what is known, and out. */
        private void forceExit() {
            summaryOnce();
            Runtime.getRuntime().halt(128 + (signal == 0 ? 15 : signal));
        }

        void summaryOnce() {
            if (!summaryPrinted.compareAndSet(false, true)) return;
            Stats st = run.snapshot();
            PrintWriter err = spec.commandLine().getErr();
            err.println(Config.redact(st.summary(spec.root().name())));
            err.flush();
        }
    }

    /** One line on stderr, redacted, named after the command. */
    void note(String line) {
        PrintWriter err = spec.commandLine().getErr();
        err.println(Config.redact(spec.root().name() + ": " + line));
        err.flush();
    }

    // =====================================================================================================
    // settings

    static final String[] ACTIONS = {"view", "cart", "uncart", "purchase", "return"};
    static final int VIEW = 0, CART = 1, UNCART = 2, PURCHASE = 3, RETURN = 4;

    /** The settings.yaml keys (and ours), resolved: defaults, then the file, then options. */
    static final class Settings {
        static final String DEFAULT_ENDPOINT = "https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}";
        String endpoint = DEFAULT_ENDPOINT;
        int customers = 500;
        int products = 500;
        double duplicatePct = 2;
        Duration dbUpdateInterval = Duration.ofMinutes(10);
        boolean writeToPostgres = false;
        double[] weights = {65, 15, 5, 10, 5};
        int restockThreshold = 5;
        String source = "built-in defaults";

        static final List<String> KEYS = List.of("tinybird_api_endpoint", "num_customers", "num_products",
                "duplicate_data_percentage", "db_update_interval_minutes", "write_to_postgres", "event_type_weights",
                "restock_threshold");

        /** Reads a settings file; every mistake is one line naming the file, the line and the key. */
        static Settings load(Path file) {
            Settings s = new Settings();
            s.source = file.toString();
            Node root;
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                root = new Yaml(new SafeConstructor(new LoaderOptions())).compose(r);
            } catch (MarkedYAMLException e) {
                int line = e.getProblemMark() != null ? e.getProblemMark().getLine() + 1 : 0;
                throw new Cli.Failure(file + ":" + line + ": not valid YAML: " + e.getProblem());
            } catch (YAMLException e) {
                throw new Cli.Failure(file + ": not valid YAML: " + e.getMessage());
            } catch (java.nio.file.NoSuchFileException e) {
                throw new Cli.Failure("settings file not found: " + file);
            } catch (IOException e) {
                throw new Cli.Failure("cannot read settings file " + file + ": " + e.getMessage());
            }
            if (root == null) return s; // empty file
            if (!(root instanceof MappingNode map)) throw new Cli.Failure(file + ":1: expected 'key: value' lines");
            // the YAML loader would keep the last of two equal keys: a silent surprise, so each key is read once
            Map<String, Integer> firstLine = new java.util.HashMap<>();
            for (NodeTuple t : map.getValue()) {
                int line = t.getKeyNode().getStartMark().getLine() + 1;
                String where = file + ":" + line + ": ";
                if (!(t.getKeyNode() instanceof ScalarNode k)) throw new Cli.Failure(where + "expected a key");
                String key = k.getValue();
                once(firstLine, where, key, line);
                Node v = t.getValueNode();
                switch (key) {
                    case "tinybird_api_endpoint" -> s.endpoint = endpoint(where + key, scalar(where, key, v));
                    case "num_customers" -> s.customers = positiveInt(where + key, scalar(where, key, v));
                    case "num_products" -> s.products = positiveInt(where + key, scalar(where, key, v));
                    case "duplicate_data_percentage" -> s.duplicatePct = percentage(where + key, scalar(where, key, v));
                    case "db_update_interval_minutes" -> s.dbUpdateInterval = interval(where + key, scalar(where, key, v));
                    case "write_to_postgres" -> s.writeToPostgres = bool(where + key, scalar(where, key, v));
                    case "restock_threshold" -> s.restockThreshold = restock(where + key, scalar(where, key, v));
                    case "event_type_weights" -> {
                        if (!(v instanceof MappingNode wm)) throw new Cli.Failure(where + key + ": expected a mapping (view: 65, cart: 15, ...)");
                        double[] w = new double[5];
                        boolean[] seen = new boolean[5];
                        Map<String, Integer> firstAction = new java.util.HashMap<>();
                        for (NodeTuple wt : wm.getValue()) {
                            int wline = wt.getKeyNode().getStartMark().getLine() + 1;
                            String wwhere = file + ":" + wline + ": ";
                            String a = wt.getKeyNode() instanceof ScalarNode sk ? sk.getValue() : "?";
                            once(firstAction, wwhere, "event_type_weights." + a, wline);
                            int i = actionIndex(a);
                            if (i < 0) throw new Cli.Failure(wwhere + "event_type_weights: unknown action '" + a
                                    + "' (expected " + String.join(", ", ACTIONS) + ")");
                            w[i] = weight(wwhere + "event_type_weights." + a, scalar(wwhere, "event_type_weights." + a, wt.getValueNode()));
                            seen[i] = true;
                        }
                        for (int i = 0; i < 5; i++) if (!seen[i]) w[i] = 0;
                        checkWeights(where + key, w);
                        s.weights = w;
                    }
                    default -> throw new Cli.Failure(where + "unknown key '" + key + "' (known: " + String.join(", ", KEYS) + ")");
                }
            }
            return s;
        }

        private static void once(Map<String, Integer> firstLine, String where, String key, int line) {
            Integer first = firstLine.putIfAbsent(key, line);
            if (first != null) throw new Cli.Failure(where + "duplicate key '" + key + "' (first on line " + first + ")");
        }

        static String endpoint(String what, String v) {
            if (v.isEmpty()) throw new Cli.Failure(what + ": expected the Events API URL, got nothing");
            return v;
        }

        private static String scalar(String where, String key, Node v) {
            if (!(v instanceof ScalarNode sn)) throw new Cli.Failure(where + key + ": expected a single value");
            return sn.getValue().strip();
        }

        static int positiveInt(String what, String v) {
            try {
                long n = Long.parseLong(v.replace("_", ""));
                if (n >= 1 && n <= 1_000_000_000) return (int) n;
            } catch (NumberFormatException ignored) {
                // below
            }
            throw new Cli.Failure(what + ": expected a whole number from 1 to 1000000000, got '" + v + "'");
        }

        static double percentage(String what, String v) {
            try {
                double d = Double.parseDouble(v);
                if (d >= 0 && d <= 100) return d;
            } catch (NumberFormatException ignored) {
                // below
            }
            throw new Cli.Failure(what + ": expected a percentage from 0 to 100, got '" + v + "'");
        }

        static double weight(String what, String v) {
            try {
                double d = Double.parseDouble(v);
                if (d >= 0 && Double.isFinite(d)) return d;
            } catch (NumberFormatException ignored) {
                // below
            }
            throw new Cli.Failure(what + ": expected a weight >= 0, got '" + v + "'");
        }

        static void checkWeights(String what, double[] w) {
            double sum = 0;
            for (double d : w) sum += d;
            if (sum <= 0) throw new Cli.Failure(what + ": the weights add up to 0");
            if (!Double.isFinite(sum)) throw new Cli.Failure(what + ": the weights add up to more than a double holds");
        }

        /** A bare number is minutes (the setting's unit); 30s, 2m, 1h also work. */
        static Duration interval(String what, String v) {
            Duration d;
            try {
                d = v.matches("[0-9]+(\\.[0-9]+)?") ? Duration.ofMillis((long) (Double.parseDouble(v) * 60_000)) : Cli.parseDuration(v);
            } catch (Cli.Failure | DateTimeParseException e) {
                throw new Cli.Failure(what + ": expected minutes (10) or a duration (30s, 2m), got '" + v + "'");
            }
            if (d.toMillis() < 100) throw new Cli.Failure(what + ": expected at least 100ms, got '" + v + "'");
            // a longer one is never reached, and its nanoseconds would overflow the clock arithmetic
            if (d.compareTo(Duration.ofMinutes(525_600)) > 0) throw new Cli.Failure(what + ": expected at most a year (525600 minutes), got '" + v + "'");
            return d;
        }

        static boolean bool(String what, String v) {
            return switch (v.toLowerCase(Locale.ROOT)) {
                case "true", "yes", "on" -> true;
                case "false", "no", "off" -> false;
                default -> throw new Cli.Failure(what + ": expected true or false, got '" + v + "'");
            };
        }

        static int restock(String what, String v) {
            try {
                int n = Integer.parseInt(v);
                if (n >= -1) return n;
            } catch (NumberFormatException ignored) {
                // below
            }
            throw new Cli.Failure(what + ": expected -1 (never) or a stock level >= 0, got '" + v + "'");
        }
    }

    static int actionIndex(String a) {
        for (int i = 0; i < ACTIONS.length; i++) if (ACTIONS[i].equals(a)) return i;
        return -1;
    }

    /** Defaults, then the file (--config, else ./settings.yaml when present), then the options. */
    Settings settings() {
        Path file = config;
        if (file == null && Files.isRegularFile(Path.of("settings.yaml"))) file = Path.of("settings.yaml");
        Settings s = file == null ? new Settings() : Settings.load(file);
        if (endpoint != null) s.endpoint = endpoint;
        if (customers != null) s.customers = Settings.positiveInt("--customers", customers.toString());
        if (products != null) s.products = Settings.positiveInt("--products", products.toString());
        if (duplicatePct != null) s.duplicatePct = percentageOption(duplicatePct);
        if (dbUpdateInterval != null) s.dbUpdateInterval = Settings.interval("--db-update-interval", dbUpdateInterval);
        if (writeToPostgres != null) s.writeToPostgres = writeToPostgres;
        if (restockThreshold != null) s.restockThreshold = Settings.restock("--restock-threshold", restockThreshold.toString());
        if (weights != null) {
            double[] w = s.weights.clone();
            for (Map.Entry<String, String> e : weights.entrySet()) {
                int i = actionIndex(e.getKey());
                if (i < 0) throw Cli.usage("--weights: unknown action '" + e.getKey() + "' (expected " + String.join(", ", ACTIONS) + ")");
                try {
                    w[i] = Settings.weight("--weights " + e.getKey(), e.getValue());
                } catch (Cli.Failure f) {
                    throw Cli.usage(f.getMessage());
                }
            }
            Settings.checkWeights("--weights", w);
            s.weights = w;
        }
        if (!format.equals("ndjson") && !format.equals("original")) throw Cli.usage("--format: expected ndjson or original, got '" + format + "'");
        if (count != null && count < 0) throw Cli.usage("--count must be >= 0");
        if (eps != null && !(eps > 0)) throw Cli.usage("--eps must be > 0");
        if (duration != null && duration.isNegative()) throw Cli.usage("--duration must be >= 0");
        return s;
    }

    private static double percentageOption(double d) {
        if (d < 0 || d > 100) throw Cli.usage("--duplicate-percentage: expected 0 to 100, got " + d);
        return d;
    }

    static int[] parseShard(String text) {
        if (text == null) return new int[] {0, 1};
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("([0-9]+)/([0-9]+)").matcher(text.strip());
        if (!m.matches()) throw Cli.usage("--shard: expected I/N such as 0/4, got '" + text + "'");
        int i = Integer.parseInt(m.group(1)), n = Integer.parseInt(m.group(2));
        if (n < 1 || i >= n) throw Cli.usage("--shard: expected 0 <= I < N, got '" + text + "'");
        return new int[] {i, n};
    }

    static long parseStartTime(String text) {
        try {
            Instant t = text.endsWith("Z") || text.matches(".*[+-][0-9]{2}:[0-9]{2}$")
                    ? OffsetDateTime.parse(text).toInstant()
                    : LocalDateTime.parse(text).toInstant(ZoneOffset.UTC);
            return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
        } catch (DateTimeParseException e) {
            throw Cli.usage("--start-time: expected an ISO-8601 time such as 2026-01-01T00:00:00Z, got '" + text + "'");
        }
    }

    // =====================================================================================================
    // random numbers, catalog, model

    /** SplitMix64: tiny, fast, and the same stream on every JDK (the reproducibility of --seed depends on it). */
    static final class Rng {
        private long s;

        Rng(long seed) {
            s = seed;
        }

        long next() {
            long z = (s += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        /** Uniform in [0, bound). */
        int nextInt(int bound) {
            return (int) (((next() >>> 32) * bound) >>> 32);
        }

        static long mix(long a, long b) {
            long z = a * 0x9E3779B97F4A7C15L + b + 0x9E3779B97F4A7C15L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
    }

    static final String[] ADJECTIVES = {"Classic", "Compact", "Deluxe", "Eco", "Everyday", "Lightweight", "Premium",
        "Rugged", "Sleek", "Smart", "Sturdy", "Vintage", "Cozy", "Bold", "Soft", "Portable"};
    static final String[] MATERIALS = {"cotton", "leather", "steel", "bamboo", "wool", "ceramic", "oak", "linen",
        "aluminium", "glass", "canvas", "silk"};
    static final String[] NOUNS = {"backpack", "mug", "lamp", "t-shirt", "sneakers", "notebook", "watch", "blanket",
        "headphones", "water bottle", "jacket", "chair", "wallet", "scarf", "desk organizer", "umbrella", "speaker",
        "cutting board", "sunglasses", "plant pot"};

    /** The products: the same for a seed whatever the shard, so every shard sells the same catalog. */
    record Catalog(int[] priceCents, int[] initialStock, String[] description) {
        static Catalog of(long seed, int n) {
            Rng r = new Rng(Rng.mix(seed, 0xCA7A1067L));
            int[] price = new int[n], stock = new int[n];
            String[] desc = new String[n];
            for (int i = 0; i < n; i++) {
                price[i] = 1000 + r.nextInt(9001); // 10.00 .. 100.00, as the original
                stock[i] = 20 + r.nextInt(181); // 20 .. 200 on hand
                desc[i] = ADJECTIVES[r.nextInt(ADJECTIVES.length)] + " " + MATERIALS[r.nextInt(MATERIALS.length)] + " "
                        + NOUNS[r.nextInt(NOUNS.length)];
            }
            return new Catalog(price, stock, desc);
        }

        int size() {
            return priceCents.length;
        }

        /** This shard's share of a product's stock: the shares of all shards add up to the stock. */
        int share(int product, int shardIndex, int shardCount) {
            int s = initialStock[product];
            return s / shardCount + (shardIndex < s % shardCount ? 1 : 0);
        }
    }

    /**
     * The shop's state and rules. Per (customer, product) pair: viewed, in the cart, purchases not yet returned.
     * Pools of the pairs where each action is valid make the choice O(1): the chosen action happens whenever
     * some pair allows it; only when none does it becomes a view.
     */
    static final class Model {
        final int products, shardIndex, shardCount, localCustomers;
        final Catalog catalog;
        final int[] stock, stockShare;
        final int restockThreshold;
        final long[] cumWeights = new long[5];
        final Rng rng;
        long restocks, fallbacks, outOfStock;

        // pair slots: an insert-only open-addressing map (customer * products + product) -> slot
        private long[] tableKey; // key + 1; 0 = empty
        private int[] tableSlot;
        private int mask;
        private int slots;
        private long[] slotKey = new long[1024];
        private byte[] flags = new byte[1024]; // 1 viewed, 2 in cart
        private int[] open = new int[1024]; // purchases not yet returned
        private int[] posCartable = new int[1024], posInCart = new int[1024], posReturnable = new int[1024];
        private final Pool cartable = new Pool(), inCart = new Pool(), returnable = new Pool();
        /** Dense mode (customers x products up to DENSE_MAX): the slot is the pair key itself, no hash map. */
        private final boolean dense;
        static final long DENSE_MAX = 1L << 23;

        Model(Settings s, Catalog catalog, long seed, int shardIndex, int shardCount) {
            this.products = s.products;
            this.catalog = catalog;
            this.shardIndex = shardIndex;
            this.shardCount = shardCount;
            this.localCustomers = (s.customers - shardIndex + shardCount - 1) / shardCount;
            if (localCustomers <= 0) throw Cli.usage("--shard " + shardIndex + "/" + shardCount + ": no customers in this shard (num_customers " + s.customers + ")");
            this.restockThreshold = s.restockThreshold;
            this.rng = new Rng(Rng.mix(seed, 0x5EED0000L + shardIndex * 7919L + shardCount));
            stock = new int[products];
            stockShare = new int[products];
            for (int p = 0; p < products; p++) stock[p] = stockShare[p] = catalog.share(p, shardIndex, shardCount);
            double sum = 0;
            for (double w : s.weights) sum += w;
            double acc = 0;
            for (int i = 0; i < 5; i++) {
                acc += s.weights[i];
                cumWeights[i] = i == 4 ? Long.MAX_VALUE : (long) (acc / sum * 0x1p53);
            }
            long pairs = (long) s.customers * products;
            dense = pairs <= DENSE_MAX;
            if (dense) {
                int n = (int) pairs;
                slotKey = null;
                flags = new byte[n];
                open = new int[n];
                posCartable = new int[n];
                posInCart = new int[n];
                posReturnable = new int[n];
            } else {
                int cap = 1 << 12;
                tableKey = new long[cap];
                tableSlot = new int[cap];
                mask = cap - 1;
            }
        }

        private long keyOf(int slot) {
            return dense ? slot : slotKey[slot];
        }

        /** Picks an action by weight and a pair where it is valid; fills e. Returns the action emitted. */
        int next(Event e) {
            long r = rng.next() >>> 11;
            int a = 0;
            while (r >= cumWeights[a]) a++;
            int slot;
            switch (a) {
                case CART -> {
                    if (cartable.size > 0) {
                        slot = cartable.random(rng);
                        cartable.remove(slot, posCartable);
                        flags[slot] |= 2;
                        inCart.add(slot, posInCart);
                        return set(e, slot, CART);
                    }
                }
                case UNCART -> {
                    if (inCart.size > 0) {
                        slot = inCart.random(rng);
                        inCart.remove(slot, posInCart);
                        flags[slot] &= ~2;
                        cartable.add(slot, posCartable);
                        return set(e, slot, UNCART);
                    }
                }
                case PURCHASE -> {
                    for (int tries = 0; tries < 8 && inCart.size > 0; tries++) {
                        slot = inCart.random(rng);
                        int p = (int) (keyOf(slot) % products);
                        if (stock[p] <= 0) {
                            outOfStock++;
                            continue;
                        }
                        inCart.remove(slot, posInCart);
                        flags[slot] &= ~2;
                        cartable.add(slot, posCartable);
                        if (open[slot]++ == 0) returnable.add(slot, posReturnable);
                        if (--stock[p] <= restockThreshold && restockThreshold >= 0 && stock[p] < stockShare[p]) {
                            stock[p] = stockShare[p];
                            restocks++;
                        }
                        return set(e, slot, PURCHASE);
                    }
                }
                case RETURN -> {
                    if (returnable.size > 0) {
                        slot = returnable.random(rng);
                        if (--open[slot] == 0) returnable.remove(slot, posReturnable);
                        stock[(int) (keyOf(slot) % products)]++;
                        return set(e, slot, RETURN);
                    }
                }
                default -> {
                    // view: below
                }
            }
            if (a != VIEW) fallbacks++;
            int c = shardIndex + shardCount * rng.nextInt(localCustomers);
            int p = rng.nextInt(products);
            slot = slot((long) c * products + p);
            if ((flags[slot] & 1) == 0) {
                flags[slot] |= 1;
                cartable.add(slot, posCartable);
            }
            return set(e, slot, VIEW);
        }

        private int set(Event e, int slot, int action) {
            long key = keyOf(slot);
            e.customer = (int) (key / products);
            e.product = (int) (key % products);
            e.action = action;
            e.priceCents = action == VIEW || action == UNCART ? -1 : catalog.priceCents()[e.product];
            return action;
        }

        private int slot(long key) {
            if (dense) {
                if (flags[(int) key] == 0 && open[(int) key] == 0) slots++;
                return (int) key;
            }
            long k = key + 1;
            int i = (int) (Rng.mix(key, 0) & mask);
            while (true) {
                long t = tableKey[i];
                if (t == k) return tableSlot[i];
                if (t == 0) break;
                i = (i + 1) & mask;
            }
            int s = slots++;
            if (s == slotKey.length) growSlots();
            slotKey[s] = key;
            tableKey[i] = k;
            tableSlot[i] = s;
            if (slots * 2 > tableKey.length) rehash();
            return s;
        }

        private void growSlots() {
            int n = slotKey.length * 2;
            slotKey = java.util.Arrays.copyOf(slotKey, n);
            flags = java.util.Arrays.copyOf(flags, n);
            open = java.util.Arrays.copyOf(open, n);
            posCartable = java.util.Arrays.copyOf(posCartable, n);
            posInCart = java.util.Arrays.copyOf(posInCart, n);
            posReturnable = java.util.Arrays.copyOf(posReturnable, n);
        }

        private void rehash() {
            int cap = tableKey.length * 2;
            long[] nk = new long[cap];
            int[] ns = new int[cap];
            int m = cap - 1;
            for (int s = 0; s < slots; s++) {
                long key = slotKey[s];
                int i = (int) (Rng.mix(key, 0) & m);
                while (nk[i] != 0) i = (i + 1) & m;
                nk[i] = key + 1;
                ns[i] = s;
            }
            tableKey = nk;
            tableSlot = ns;
            mask = m;
        }

        /** Distinct (customer, product) pairs seen so far (the model's memory grows with them). */
        int pairs() {
            return slots;
        }
    }

    /** A set of slots with O(1) add, remove and uniform pick. */
    static final class Pool {
        int[] items = new int[1024];
        int size;

        void add(int slot, int[] pos) {
            if (size == items.length) items = java.util.Arrays.copyOf(items, size * 2);
            items[size] = slot;
            pos[slot] = size++;
        }

        void remove(int slot, int[] pos) {
            int i = pos[slot];
            int last = items[--size];
            items[i] = last;
            pos[last] = i;
        }

        int random(Rng r) {
            return items[r.nextInt(size)];
        }
    }

    /** One generated event (reused). */
    static final class Event {
        int customer, product, action, priceCents;
        long micros, idHi, idLo;
    }

    // =====================================================================================================
    // encoding

    /** A growable byte buffer. */
    static final class ByteBuf {
        byte[] a;
        int len;

        ByteBuf(int cap) {
            a = new byte[cap];
        }

        void ensure(int more) {
            if (len + more > a.length) a = java.util.Arrays.copyOf(a, Math.max(a.length * 2, len + more));
        }

        void ascii(String s) {
            int n = s.length();
            ensure(n);
            for (int i = 0; i < n; i++) a[len++] = (byte) s.charAt(i);
        }

        void bytes(byte[] b) {
            ensure(b.length);
            System.arraycopy(b, 0, a, len, b.length);
            len += b.length;
        }

        void bytes(byte[] b, int off, int n) {
            ensure(n);
            System.arraycopy(b, off, a, len, n);
            len += n;
        }

        void put(byte b) {
            ensure(1);
            a[len++] = b;
        }

        void digits(long v) { // v >= 0
            ensure(20);
            if (v == 0) {
                a[len++] = '0';
                return;
            }
            int start = len;
            while (v > 0) {
                a[len++] = (byte) ('0' + v % 10);
                v /= 10;
            }
            for (int i = start, j = len - 1; i < j; i++, j--) {
                byte t = a[i];
                a[i] = a[j];
                a[j] = t;
            }
        }

        void fixed(long v, int width) { // zero-padded
            ensure(width);
            for (int i = width - 1; i >= 0; i--) {
                a[len + i] = (byte) ('0' + v % 10);
                v /= 10;
            }
            len += width;
        }
    }

    static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** Writes events as JSON lines, straight into bytes. */
    static final class Encoder {
        final boolean original;
        private long cachedSecond = Long.MIN_VALUE;
        private final byte[] secondText = new byte[20]; // 2026-11-28T16:53:25.
        private static final byte[][] ACTION_JSON = new byte[5][];

        static {
            for (int i = 0; i < 5; i++) ACTION_JSON[i] = ("\",\"action\":\"" + ACTIONS[i] + "\",\"timestamp\":\"").getBytes(StandardCharsets.US_ASCII);
        }

        private static final byte[] C = "{\"customer_id\":\"customer_".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] P = "\",\"product_id\":\"product_".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] ID = "Z\",\"event_id\":\"".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] PRICE = "\",\"price\":".getBytes(StandardCharsets.US_ASCII);

        Encoder(boolean original) {
            this.original = original;
        }

        void encode(ByteBuf b, Event e) {
            b.ensure(256);
            b.bytes(C);
            b.digits(e.customer);
            b.bytes(P);
            b.digits(e.product);
            b.bytes(ACTION_JSON[e.action]);
            timestamp(b, e.micros);
            if (original) {
                b.ascii("Z\"}\n");
                return;
            }
            b.bytes(ID);
            uuid(b, e.idHi, e.idLo);
            if (e.priceCents >= 0) {
                b.bytes(PRICE);
                b.digits(e.priceCents / 100);
                b.put((byte) '.');
                b.fixed(e.priceCents % 100, 2);
                b.ascii("}\n");
            } else {
                b.ascii("\"}\n");
            }
        }

        /** 2026-11-28T16:53:25.123456 (the Z is written by the caller). */
        void timestamp(ByteBuf b, long micros) {
            long sec = Math.floorDiv(micros, 1_000_000L);
            if (sec != cachedSecond) {
                LocalDateTime t = LocalDateTime.ofEpochSecond(sec, 0, ZoneOffset.UTC);
                ByteBuf d = new ByteBuf(20);
                d.fixed(t.getYear(), 4);
                d.put((byte) '-');
                d.fixed(t.getMonthValue(), 2);
                d.put((byte) '-');
                d.fixed(t.getDayOfMonth(), 2);
                d.put((byte) 'T');
                d.fixed(t.getHour(), 2);
                d.put((byte) ':');
                d.fixed(t.getMinute(), 2);
                d.put((byte) ':');
                d.fixed(t.getSecond(), 2);
                d.put((byte) '.');
                System.arraycopy(d.a, 0, secondText, 0, 20);
                cachedSecond = sec;
            }
            b.bytes(secondText);
            b.fixed(Math.floorMod(micros, 1_000_000L), 6);
        }

        static void uuid(ByteBuf b, long hi, long lo) {
            b.ensure(36);
            byte[] a = b.a;
            int p = b.len;
            for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10) a[p++] = '-';
                long v = i < 8 ? hi >>> (56 - 8 * i) : lo >>> (56 - 8 * (i - 8));
                a[p++] = HEX[(int) (v >>> 4) & 15];
                a[p++] = HEX[(int) v & 15];
            }
            b.len = p;
        }

        static String uuid(long hi, long lo) {
            ByteBuf b = new ByteBuf(36);
            uuid(b, hi, lo);
            return new String(b.a, 0, 36, StandardCharsets.US_ASCII);
        }
    }

    // =====================================================================================================
    // batches and sinks

    /** Up to CAPACITY lines: their bytes and fields. */
    static final class Batch {
        static final int CAPACITY = 4096;
        final ByteBuf bytes = new ByteBuf(CAPACITY * 200);
        final int[] end = new int[CAPACITY];
        final int[] customer = new int[CAPACITY], product = new int[CAPACITY], action = new int[CAPACITY], price = new int[CAPACITY];
        final long[] micros = new long[CAPACITY], idHi = new long[CAPACITY], idLo = new long[CAPACITY];
        final boolean[] duplicate = new boolean[CAPACITY];
        int n;

        void clear() {
            n = 0;
            bytes.len = 0;
        }

        int start(int i) {
            return i == 0 ? 0 : end[i - 1];
        }
    }

    /** Where events go. accept() is called from the generator thread only. */
    interface Sink extends AutoCloseable {
        String name();

        void accept(Batch b) throws Exception;

        /** Called when the generator waits (pacing): push out what is buffered. */
        default void idle() throws Exception {}

        /** Called after every batch with the clock: periodic work (PostgreSQL intervals). */
        default void tick(long nowNanos, long clockMicros) throws Exception {}

        /** Flushes everything and releases resources. */
        @Override
        void close() throws Exception;

        long delivered();

        default long failed() {
            return 0;
        }
    }

    /** NDJSON to the command's stdout. */
    static final class StdoutSink implements Sink {
        final PrintWriter writer;
        final OutputStream stream;
        long delivered;

        StdoutSink(PrintWriter writer, OutputStream stream) {
            this.writer = writer;
            this.stream = stream;
        }

        public String name() {
            return "stdout";
        }

        /** Set when the reader went away (e.g. {@code | head}): the run stops quietly, as other command-line tools do. */
        Runnable onClosed = () -> {};
        boolean gone;

        public void accept(Batch b) throws IOException {
            if (gone) return;
            if (stream != null) {
                try {
                    stream.write(b.bytes.a, 0, b.bytes.len);
                } catch (IOException e) {
                    failed(e);
                    return;
                }
            } else {
                writer.write(new String(b.bytes.a, 0, b.bytes.len, StandardCharsets.ISO_8859_1));
                // picocli's default writer wraps System.out, a PrintStream that keeps write errors to itself
                if (writer.checkError() || System.out.checkError()) {
                    gone = true;
                    onClosed.run();
                    return;
                }
            }
            delivered += b.n;
        }

        public void idle() throws IOException {
            if (gone) return;
            if (stream == null) {
                writer.flush();
                return;
            }
            try {
                stream.flush();
            } catch (IOException e) {
                failed(e);
            }
        }

        /** The reader went away (EPIPE): stop quietly. Anything else (a full disk under {@code > FILE}) is an error. */
        private void failed(IOException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("Broken pipe") || m.contains("Connection reset")) {
                gone = true;
                onClosed.run();
                return;
            }
            throw new Cli.Failure("cannot write " + describe() + ": " + m, e);
        }

        /** "stdout", with the file it was sent to when that is a file (> FILE). */
        private String describe() {
            try {
                if (stream instanceof FileOutputStream f && f.getFD() == java.io.FileDescriptor.out) {
                    Path real = Path.of("/proc/self/fd/1").toRealPath();
                    if (Files.isRegularFile(real)) return "stdout (" + real + ")";
                }
            } catch (IOException | RuntimeException e) {
                // no /proc: the plain name
            }
            return "stdout";
        }

        public void close() throws IOException {
            idle();
        }

        public long delivered() {
            return delivered;
        }
    }

    /**
     * NDJSON to a file: FILE.tmp, renamed to FILE only once every byte is written and forced to disk, so FILE never
     * holds a cut line; after a failed write the temp file is deleted and FILE is left as it was. A device such as
     * /dev/null is written directly.
     */
    static final class FileSink implements Sink {
        final Path target, tmp;
        final FileChannel ch;
        long delivered;
        private boolean broken, closed;

        FileSink(Path target) {
            this.target = target;
            boolean special = Files.exists(target) && !Files.isRegularFile(target);
            this.tmp = special ? null : target.resolveSibling(target.getFileName() + ".tmp");
            try {
                this.ch = special ? FileChannel.open(target, StandardOpenOption.WRITE)
                        : FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
            } catch (IOException e) {
                throw failure(target, e);
            }
        }

        public String name() {
            return target.toString();
        }

        public void accept(Batch b) {
            if (broken) return;
            try {
                ByteBuffer buf = ByteBuffer.wrap(b.bytes.a, 0, b.bytes.len);
                while (buf.hasRemaining()) ch.write(buf);
            } catch (IOException e) {
                broken = true;
                discard();
                throw failure(target, e);
            }
            delivered += b.n;
        }

        public void close() {
            if (closed) return;
            closed = true;
            if (broken) return; // already discarded, and the failure already reported
            try {
                if (tmp != null) ch.force(true); // on disk before the name says the file is complete
                ch.close();
                if (tmp != null) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    syncFolder(target);
                }
            } catch (IOException e) {
                broken = true;
                discard();
                throw failure(target, e);
            }
        }

        /** The temp file goes; nothing under the final name was touched. */
        private void discard() {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the write already failed; the file is deleted below
            }
            delivered = 0;
            if (tmp == null) return;
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do: FILE itself was never written
            }
        }

        /** Makes the rename itself durable (best effort: not every file system lets a folder be forced). */
        private static void syncFolder(Path file) {
            Path dir = file.toAbsolutePath().getParent();
            if (dir == null) return;
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException ignored) {
                // the file itself is on disk; only the folder entry may still be in the page cache
            }
        }

        static Cli.Failure failure(Path file, IOException e) {
            String why = e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null ? fse.getReason()
                    : e instanceof java.nio.file.NoSuchFileException ? "no such folder"
                    : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
            return new Cli.Failure("cannot write " + file + ": " + why, e);
        }

        public long delivered() {
            return delivered;
        }
    }

    /**
     * The Tinybird Events API through lib/Tinybird's writer (batches of up to 10,000 rows / 4 MB or 1 s, gzip,
     * wait=true, retries with backoff, accounting): one writer per data source, every event to each.
     */
    static final class TinybirdSink implements Sink {
        final List<Tinybird.Client> clients = new ArrayList<>();
        final List<Tinybird.Writer> writers = new ArrayList<>();
        final List<Tinybird.Writer.Stats> finalStats = new ArrayList<>();

        TinybirdSink(List<Tinybird.Endpoint> endpoints, String token, Tinybird.Writer.Settings settings, Tinybird.Net net) {
            Map<String, Tinybird.Client> byHost = new LinkedHashMap<>();
            for (Tinybird.Endpoint ep : endpoints) {
                Tinybird.Client c = byHost.computeIfAbsent(ep.host(), h -> new Tinybird.Client(h, token, net));
                writers.add(c.writer(ep.datasource(), settings));
            }
            clients.addAll(byHost.values());
        }

        /** Stops waiting for Tinybird (see Tinybird.Writer#abandon): what has no answer yet counts as not acknowledged. */
        void abandon() {
            for (Tinybird.Writer w : writers) w.abandon();
        }

        /** What the writers wait for (the first that waits), or null. */
        String status() {
            for (Tinybird.Writer w : writers) {
                String st = w.status();
                if (st != null) return w.datasource() + ": " + st;
            }
            return null;
        }

        /** The reason of the first writer that stopped (an error no retry fixes, a refused token, giving up), as one line. */
        void throwIfFailed() {
            for (Tinybird.Writer w : writers) {
                if (w.fatal() != null) w.throwIfFailed();
            }
        }

        public String name() {
            return "tinybird";
        }

        public void accept(Batch b) {
            byte[] a = b.bytes.a;
            for (Tinybird.Writer w : writers) {
                int start = 0;
                for (int i = 0; i < b.n; i++) {
                    int end = b.end[i];
                    w.appendLine(a, start, end - start);
                    start = end;
                }
            }
        }

        public void close() {
            try {
                for (Tinybird.Writer w : writers) w.close();
            } finally {
                for (Tinybird.Writer w : writers) finalStats.add(w.stats());
                for (Tinybird.Client c : clients) c.close();
            }
        }

        List<Tinybird.Writer.Stats> stats() {
            if (!finalStats.isEmpty()) return finalStats;
            List<Tinybird.Writer.Stats> l = new ArrayList<>();
            for (Tinybird.Writer w : writers) l.add(w.stats());
            return l;
        }

        public long delivered() {
            long min = Long.MAX_VALUE;
            for (Tinybird.Writer.Stats st : stats()) min = Math.min(min, st.acknowledged() + st.quarantined());
            return min == Long.MAX_VALUE ? 0 : min;
        }

        public long failed() {
            long f = 0;
            for (Tinybird.Writer.Stats st : stats()) f += st.failed();
            return f;
        }

        List<String> lines() {
            List<String> out = new ArrayList<>();
            List<Tinybird.Writer.Stats> sts = stats();
            for (int i = 0; i < sts.size(); i++) {
                Tinybird.Writer.Stats st = sts.get(i);
                String line = String.format(Locale.ROOT, "tinybird %s: %,d stored, %,d quarantined, %,d failed (not acknowledged)",
                        writers.get(i).datasource(), st.acknowledged(), st.quarantined(), st.failed());
                if (st.pending() > 0) line += String.format(Locale.ROOT, ", %,d without an answer yet", st.pending());
                line += String.format(Locale.ROOT, ", %,d requests, %,d retries", st.requests(), st.retries());
                if (st.unknownOutcomes() > 0) {
                    line += String.format(Locale.ROOT, ", %,d unknown-outcome attempts (up to %,d rows may be stored twice, or stored though counted failed)",
                            st.unknownOutcomes(), st.unknownOutcomeRows());
                }
                if (st.firstError() != null) line += " (first error: " + st.firstError() + ")";
                out.add(line);
            }
            return out;
        }
    }

    // =====================================================================================================
    // PostgreSQL

    /**
     * ecomm_totals (a row per interval: the interval's counts and the running totals, unique events only),
     * product_inventory (seeded at start, updated every interval in one transaction by the stock change), and
     * optionally every event sent into 'events' with COPY (on a second connection, in the background).
     *
     * <p>A lost connection (server restart, network, a terminated backend) is survived: each interval's update and
     * each COPY batch is one transaction, retried whole on a fresh connection for up to retryFor. Each of those
     * transactions also inserts its own row into e_store_commits (run, part, seq), keyed: when a COMMIT's answer is
     * lost, the retry's insert of that row finds it (or waits for the first attempt to end) and the batch is not
     * written twice. The counters count committed work only.
     */
    static final class PgSink implements Sink {
        static final String LEDGER = "e_store_commits";
        final Pg.Target target;
        final Model model;
        final long intervalNanos;
        final boolean events;
        final String shardText;
        final Duration retryFor;
        final PrintWriter notes; // retry notices; null: quiet
        final String runId = java.util.UUID.randomUUID().toString();
        final Link main = new Link("totals"), copyLink = new Link("events");
        boolean opened;
        long nextFlush;
        final long[] interval = new long[5], totals = new long[5];
        long intervalEvents, intervalSeq, copySeq;
        int[] lastStock;
        long rowsWritten, eventsCopied;
        final java.util.concurrent.atomic.AtomicLong reconnects = new java.util.concurrent.atomic.AtomicLong();
        long clockMicros;
        // COPY
        ExecutorService copier;
        final Semaphore inflight = new Semaphore(3);
        volatile Throwable copyError;
        /** Set once a transaction gave up: the others stop retrying too (the run is failing). */
        volatile boolean gaveUp;
        ByteBuf copyBuf;
        final Encoder ts = new Encoder(false);

        PgSink(Pg.Target target, Model model, Duration interval, boolean events, String shardText, Duration retryFor, PrintWriter notes) {
            java.util.Properties props = new java.util.Properties();
            props.putAll(target.props());
            // a read that never returns (a silently dropped connection) fails instead, and is retried like any lost connection
            props.putIfAbsent("socketTimeout", "120");
            this.target = new Pg.Target(target.jdbcUrl(), props);
            this.model = model;
            this.intervalNanos = interval.toNanos();
            this.events = events;
            this.shardText = shardText;
            this.retryFor = retryFor;
            this.notes = notes;
        }

        public String name() {
            return "postgres " + target;
        }

        /** One of the sink's connections, opened again after it was lost. Used by one thread at a time. */
        final class Link {
            final String part;
            Connection c;

            Link(String part) {
                this.part = part;
            }

            Connection get() throws SQLException {
                if (c == null || c.isClosed()) {
                    c = Pg.connect(target);
                    c.setAutoCommit(false);
                }
                return c;
            }

            void drop() {
                if (c == null) return;
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // already broken: that is why it is dropped
                }
                c = null;
            }
        }

        interface SqlWork<T> {
            T run(Connection c) throws SQLException;
        }

        /**
         * Runs work in one transaction; a connection-level failure rolls it back (or the server does, with the
         * connection) and the whole transaction runs again on a new connection, with backoff, for up to retryFor.
         */
        <T> T transaction(Link link, String what, SqlWork<T> work) throws SQLException, InterruptedException {
            long deadline = 0, backoff = 100;
            while (true) {
                Connection c = null;
                try {
                    c = link.get();
                    T r = work.run(c);
                    c.commit();
                    return r;
                } catch (SQLException e) {
                    if (c != null) {
                        try {
                            if (!c.isClosed()) c.rollback();
                        } catch (SQLException ignored) {
                            // the connection is gone; the server rolls back what it had
                        }
                    }
                    boolean retryable = Pg.retryable(e) || "55P03".equals(e.getSQLState()); // 55P03: lock_timeout, below
                    if (!retryable || gaveUp) throw e;
                    long now = System.nanoTime();
                    if (deadline == 0) deadline = now + retryFor.toNanos();
                    String why = Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
                    if (now - deadline > 0) {
                        gaveUp = true;
                        throw new Cli.Failure("postgres " + what + ": the connection was lost and did not come back within "
                                + retryFor.toString().substring(2).toLowerCase(Locale.ROOT) + ": " + why, e);
                    }
                    link.drop();
                    long wait = backoff + java.util.concurrent.ThreadLocalRandom.current().nextLong(backoff / 4 + 1);
                    if (notes != null) {
                        notes.println("e-store: postgres " + what + ": " + why + "; reconnecting in " + wait + " ms");
                        notes.flush();
                    }
                    Thread.sleep(wait);
                    backoff = Math.min(backoff * 2, 5000);
                    reconnects.incrementAndGet();
                }
            }
        }

        /**
         * Runs work in a transaction that also records (run, part, seq) in the ledger, so it commits once however
         * often it is tried. True when this call committed it, false when an earlier attempt had (its answer lost).
         */
        boolean commitOnce(Link link, String what, long seq, long rows, SqlWork<Void> work) throws SQLException, InterruptedException {
            return transaction(link, what, c -> {
                // an earlier attempt stranded on a half-open connection holds this row until the server notices: waiting
                // for it is bounded, and then retried like a lost connection
                try (Statement st = c.createStatement()) {
                    st.execute("SET LOCAL lock_timeout = '10s'");
                }
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + LEDGER + " (run_id, part, seq, rows, committed_at)"
                        + " VALUES (?::uuid, ?, ?, ?, now()) ON CONFLICT DO NOTHING")) {
                    ps.setString(1, runId);
                    ps.setString(2, link.part);
                    ps.setLong(3, seq);
                    ps.setLong(4, rows);
                    // 0: committed by an earlier attempt; an attempt still running on a lost connection makes this wait
                    if (ps.executeUpdate() == 0) return false;
                }
                try (Statement st = c.createStatement()) {
                    st.execute("SET LOCAL lock_timeout = 0");
                }
                work.run(c);
                return true;
            });
        }

        void open(long nowNanos) throws SQLException, InterruptedException {
            main.get(); // a wrong URL or password fails at once: only a connection that worked is waited for
            transaction(main, "set-up", c -> {
                try (Statement st = c.createStatement()) {
                    st.execute("CREATE TABLE IF NOT EXISTS ecomm_totals (timestamp timestamptz, total_orders bigint, total_returns bigint,"
                            + " total_carts bigint, total_uncarts bigint, total_views bigint)");
                    st.execute("ALTER TABLE ecomm_totals ADD COLUMN IF NOT EXISTS orders bigint, ADD COLUMN IF NOT EXISTS returns bigint,"
                            + " ADD COLUMN IF NOT EXISTS carts bigint, ADD COLUMN IF NOT EXISTS uncarts bigint,"
                            + " ADD COLUMN IF NOT EXISTS views bigint, ADD COLUMN IF NOT EXISTS shard text");
                    st.execute("CREATE TABLE IF NOT EXISTS product_inventory (product_id text PRIMARY KEY, description text,"
                            + " price numeric(10,2), on_hand integer, updated_at timestamptz)");
                    st.execute("CREATE TABLE IF NOT EXISTS " + LEDGER + " (run_id uuid NOT NULL, part text NOT NULL, seq bigint NOT NULL,"
                            + " rows bigint, committed_at timestamptz, PRIMARY KEY (run_id, part, seq))");
                    if (events) {
                        st.execute("CREATE TABLE IF NOT EXISTS events (event_id uuid, customer_id text, product_id text, action text,"
                                + " price numeric(10,2), timestamp timestamptz)");
                    }
                }
                seedInventory(c);
                return null;
            });
            lastStock = model.stockShare.clone();
            nextFlush = nowNanos + intervalNanos;
            opened = true;
            if (events) {
                copyLink.get();
                copier = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "e-store-copy");
                    t.setDaemon(true);
                    return t;
                });
                copyBuf = new ByteBuf(1 << 20);
            }
        }

        /** Idempotent, so it can be retried: a single process seeds afresh, shards add what is missing. */
        private void seedInventory(Connection c) throws SQLException {
            Catalog cat = model.catalog;
            String sql = "INSERT INTO product_inventory (product_id, description, price, on_hand, updated_at) VALUES (?, ?, ?, ?, now())"
                    + (model.shardCount == 1
                            ? " ON CONFLICT (product_id) DO UPDATE SET description = EXCLUDED.description, price = EXCLUDED.price,"
                                    + " on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at"
                            : " ON CONFLICT (product_id) DO NOTHING");
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int p = 0; p < cat.size(); p++) {
                    ps.setString(1, "product_" + p);
                    ps.setString(2, cat.description()[p]);
                    ps.setBigDecimal(3, java.math.BigDecimal.valueOf(cat.priceCents()[p], 2));
                    ps.setInt(4, cat.initialStock()[p]);
                    ps.addBatch();
                    if (p % 1000 == 999) ps.executeBatch();
                }
                ps.executeBatch();
            }
        }

        public void accept(Batch b) throws Exception {
            for (int i = 0; i < b.n; i++) {
                if (!b.duplicate[i]) {
                    interval[b.action[i]]++;
                    intervalEvents++;
                }
                if (events) copyRow(b, i);
            }
            if (events && copyBuf.len >= (1 << 20)) submitCopy();
        }

        private void copyRow(Batch b, int i) {
            ByteBuf c = copyBuf;
            Encoder.uuid(c, b.idHi[i], b.idLo[i]);
            c.ascii("\tcustomer_");
            c.digits(b.customer[i]);
            c.ascii("\tproduct_");
            c.digits(b.product[i]);
            c.put((byte) '\t');
            c.ascii(ACTIONS[b.action[i]]);
            c.put((byte) '\t');
            if (b.price[i] >= 0) {
                c.digits(b.price[i] / 100);
                c.put((byte) '.');
                c.fixed(b.price[i] % 100, 2);
            } else {
                c.ascii("\\N");
            }
            c.put((byte) '\t');
            ts.timestamp(c, b.micros[i]);
            c.ascii("Z\n");
        }

        private void submitCopy() throws Exception {
            checkCopy();
            if (copyBuf.len == 0) return;
            byte[] chunk = java.util.Arrays.copyOf(copyBuf.a, copyBuf.len);
            int rows = 0;
            for (int i = 0; i < chunk.length; i++) if (chunk[i] == '\n') rows++;
            copyBuf.len = 0;
            inflight.acquire();
            int n = rows;
            long seq = ++copySeq;
            copier.execute(() -> {
                try {
                    if (copyError == null) {
                        commitOnce(copyLink, "events", seq, n, c -> {
                            try {
                                c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn(
                                        "COPY events (event_id, customer_id, product_id, action, price, timestamp) FROM STDIN",
                                        new java.io.ByteArrayInputStream(chunk));
                            } catch (IOException e) {
                                throw new SQLException("COPY: " + e.getMessage(), "08006", e); // cannot come from a byte array: the link
                            }
                            return null;
                        });
                        synchronized (this) {
                            eventsCopied += n;
                        }
                    }
                } catch (Throwable t) {
                    copyError = t;
                } finally {
                    inflight.release();
                }
            });
        }

        private void checkCopy() throws Exception {
            Throwable t = copyError;
            if (t instanceof Exception e) throw e;
            if (t != null) throw new RuntimeException(t);
        }

        public void tick(long nowNanos, long clockMicros) throws Exception {
            this.clockMicros = clockMicros;
            if (nowNanos >= nextFlush) {
                flushInterval();
                nextFlush = nowNanos + intervalNanos;
            }
        }

        /** One transaction: the totals row and the inventory changes since the last one; the state moves on once committed. */
        void flushInterval() throws SQLException, InterruptedException {
            long[] newTotals = new long[5];
            for (int i = 0; i < 5; i++) newTotals[i] = totals[i] + interval[i];
            int[] stockNow = model.stock.clone();
            Timestamp now = new Timestamp(Math.floorDiv(clockMicros, 1000));
            now.setNanos((int) Math.floorMod(clockMicros, 1_000_000L) * 1000);
            commitOnce(main, "totals", intervalSeq + 1, 1, c -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO ecomm_totals (timestamp, total_orders, total_returns,"
                        + " total_carts, total_uncarts, total_views, orders, returns, carts, uncarts, views, shard)"
                        + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                    ps.setTimestamp(1, now);
                    int[] order = {PURCHASE, RETURN, CART, UNCART, VIEW};
                    for (int i = 0; i < 5; i++) {
                        ps.setLong(2 + i, newTotals[order[i]]);
                        ps.setLong(7 + i, interval[order[i]]);
                    }
                    ps.setString(12, shardText);
                    ps.executeUpdate();
                }
                try (PreparedStatement ps = c.prepareStatement(
                        "UPDATE product_inventory SET on_hand = on_hand + ?, updated_at = ? WHERE product_id = ?")) {
                    int n = 0;
                    for (int p = 0; p < lastStock.length; p++) {
                        int d = stockNow[p] - lastStock[p];
                        if (d == 0) continue;
                        ps.setInt(1, d);
                        ps.setTimestamp(2, now);
                        ps.setString(3, "product_" + p);
                        ps.addBatch();
                        n++;
                    }
                    if (n > 0) ps.executeBatch();
                }
                return null;
            });
            intervalSeq++;
            System.arraycopy(newTotals, 0, totals, 0, 5);
            lastStock = stockNow;
            java.util.Arrays.fill(interval, 0);
            intervalEvents = 0;
            rowsWritten++;
        }

        public void close() throws Exception {
            Throwable failure = null;
            try {
                if (opened && (intervalEvents > 0 || rowsWritten == 0)) flushInterval();
            } catch (Throwable t) {
                failure = t;
            }
            try {
                if (events && copier != null) {
                    if (failure == null) submitCopy();
                    copier.shutdown();
                    copier.awaitTermination(10, TimeUnit.MINUTES);
                    checkCopy();
                }
            } catch (Throwable t) {
                if (failure == null) failure = t;
            } finally {
                main.drop();
                copyLink.drop();
            }
            if (failure instanceof Exception e) throw e;
            if (failure instanceof Error e) throw e;
        }

        /** The summary's part: what was committed, and how often a lost connection was opened again. */
        String line() {
            String s = String.format(Locale.ROOT, "postgres: %,d totals rows", rowsWritten);
            if (events) s += String.format(Locale.ROOT, ", %,d events copied", delivered());
            if (reconnects.get() > 0) s += String.format(Locale.ROOT, ", %,d reconnects", reconnects.get());
            return s;
        }

        public long delivered() {
            synchronized (this) {
                return events ? eventsCopied : 0;
            }
        }
    }

    // =====================================================================================================
    // the run

    /** What a run did. */
    static final class Stats {
        final long[] byAction = new long[5];
        long unique, duplicates, sent, fallbacks, restocks, failed, delivered;
        double seconds;
        long seed;
        final List<String> sinkLines = new ArrayList<>();

        String summary(String name) {
            StringBuilder sb = new StringBuilder(name).append(": ");
            sb.append(Cli.summary("sent", sent, "events", -1, Duration.ofNanos((long) (seconds * 1e9))));
            sb.append(String.format(Locale.ROOT, "; %,d unique + %,d duplicates (%.2f%%); mix", unique, duplicates,
                    unique == 0 ? 0.0 : 100.0 * duplicates / unique));
            for (int i = 0; i < 5; i++) {
                sb.append(String.format(Locale.ROOT, " %s %,d (%.1f%%)", ACTIONS[i], byAction[i], unique == 0 ? 0.0 : 100.0 * byAction[i] / unique));
                if (i < 4) sb.append(',');
            }
            if (fallbacks > 0) sb.append(String.format(Locale.ROOT, "; %,d became views (no valid pair)", fallbacks));
            sb.append(String.format(Locale.ROOT, "; delivered %,d, failed %,d", delivered, failed));
            for (String s : sinkLines) sb.append("; ").append(s);
            sb.append("; seed ").append(seed);
            return sb.toString();
        }
    }

    /** A pending duplicate: its line and fields. */
    record Dup(long dueMicros, byte[] line, int customer, int product, int action, int price, long micros, long idHi, long idLo) {}

    /** One run: the model, the clock, pacing, duplicates and the sinks. */
    static final class Run {
        final Settings s;
        final EStore cmd;
        final long seed;
        final int[] shard;
        final Model model;
        final Encoder enc;
        final Rng idRng, dupRng;
        final List<Sink> sinks = new ArrayList<>();
        final ArrayDeque<Dup> pending = new ArrayDeque<>();
        final Event e = new Event();
        final Batch batch = new Batch();
        final long startMicros; // simulated clock start, or Long.MIN_VALUE for the wall clock
        final double stepMicros;
        final long delayMicros;
        final int dupPerBlock;
        int blockLeft, dupLeft;
        long wallBaseMicros, wallBaseNanos;
        final Stats st = new Stats();

        static final int DUP_BLOCK = 10_000;

        Run(Settings s, EStore cmd) {
            this.s = s;
            this.cmd = cmd;
            this.seed = cmd.seed != null ? cmd.seed : new java.security.SecureRandom().nextLong();
            this.shard = parseShard(cmd.shard);
            Catalog cat = Catalog.of(seed, s.products);
            this.model = new Model(s, cat, seed, shard[0], shard[1]);
            this.enc = new Encoder(cmd.format.equals("original"));
            long shardSalt = shard[0] * 1_000_003L + shard[1];
            this.idRng = new Rng(Rng.mix(seed, 0x1D000000L + shardSalt));
            this.dupRng = new Rng(Rng.mix(seed, 0xD0B00000L + shardSalt));
            this.startMicros = cmd.startTime != null ? parseStartTime(cmd.startTime) : Long.MIN_VALUE;
            this.stepMicros = cmd.eps != null ? 1e6 / cmd.eps : 1000;
            this.delayMicros = cmd.duplicateDelay == null ? -1 : cmd.duplicateDelay.toNanos() / 1000;
            this.dupPerBlock = (int) Math.round(s.duplicatePct * DUP_BLOCK / 100.0);
            st.seed = seed;
        }

        long clockMicros() {
            if (startMicros != Long.MIN_VALUE) return startMicros + (long) (st.unique * stepMicros);
            return wallBaseMicros + (System.nanoTime() - wallBaseNanos) / 1000;
        }

        /** Exactly dupPerBlock of every DUP_BLOCK events, at random places (selection sampling). */
        boolean nextIsDuplicate() {
            if (blockLeft == 0) {
                blockLeft = DUP_BLOCK;
                dupLeft = dupPerBlock;
            }
            boolean pick = dupLeft > 0 && dupRng.nextInt(blockLeft) < dupLeft;
            blockLeft--;
            if (pick) dupLeft--;
            return pick;
        }

        void openSinks(long nowNanos) throws Exception {
            List<Tinybird.Endpoint> endpoints = tinybirdEndpoints();
            boolean tinybird = !endpoints.isEmpty();
            if (tinybird) {
                Tinybird.Writer.Settings ws = cmd.writerSettings();
                // --verbose: a line a retry; the waits themselves are announced by the status ticker either way
                if (cmd.common.verbose && !cmd.common.quiet) ws.onNotice(l -> {
                    if (l.startsWith("waiting for")) cmd.note("tinybird: " + l);
                });
                sinks.add(new TinybirdSink(endpoints, token, ws, cmd.net.net(cmd.common.config())));
            }
            if (cmd.out != null) sinks.add(new FileSink(cmd.out));
            if (cmd.toStdout || (cmd.out == null && !tinybird)) {
                StdoutSink so = new StdoutSink(cmd.spec.commandLine().getOut(), cmd.stdoutStream);
                so.onClosed = cmd::requestStop;
                sinks.add(so);
            }
            if (s.writeToPostgres || cmd.pgEvents) {
                Pg.Target t = cmd.pg.resolve(cmd.common.config());
                PgSink p = new PgSink(t, model, s.dbUpdateInterval, cmd.pgEvents, shard[1] == 1 ? null : shard[0] + "/" + shard[1],
                        Timeouts.positive("--retry-for", cmd.retryFor), cmd.common.quiet ? null : cmd.spec.commandLine().getErr());
                sinks.add(p);
                p.open(nowNanos);
            }
        }

        String token;

        /**
         * The Tinybird data sources to write to: none when no token is set (stdout then), else one per --datasource
         * (or DATASOURCE_NAME, or the name= of an endpoint without the placeholder). {CLOUD_REGION} defaults to "api"
         * (https://api.tinybird.co).
         */
        List<Tinybird.Endpoint> tinybirdEndpoints() {
            Config cfg = cmd.common.config();
            token = cmd.token != null && !cmd.token.isBlank() ? cmd.token
                    : cfg.get("TINYBIRD_TOKEN", "TINYBIRD_TARGET_TOKEN", "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_KEY").orElse(null);
            List<String> names = cmd.datasources != null ? cmd.datasources
                    : cfg.get("DATASOURCE_NAME").map(List::of).orElse(List.of());
            if (token == null) {
                if (cmd.datasources != null || cmd.endpoint != null || cmd.host != null || cmd.region != null) {
                    throw Cli.usage("writing to Tinybird needs a token: set TINYBIRD_TOKEN (environment, .env.local, .env) or --token");
                }
                return List.of();
            }
            Config.registerSecret(token);
            String template = eventsTemplate(cfg);
            boolean named = !template.contains("{DATASOURCE_NAME}");
            if (names.isEmpty() && !named) {
                cmd.spec.commandLine().getErr().println(cmd.spec.root().name() + ": a Tinybird token is set but no data source:"
                        + " writing to stdout (set --datasource or DATASOURCE_NAME to send to Tinybird)");
                return List.of();
            }
            String region = cmd.cloudRegion != null ? cmd.cloudRegion : cfg.get("CLOUD_REGION", "TINYBIRD_REGION").orElse("api");
            List<Tinybird.Endpoint> out = new ArrayList<>();
            for (String ds : named && names.isEmpty() ? List.of("") : names) {
                Map<String, String> vars = new LinkedHashMap<>();
                vars.put("CLOUD_REGION", region);
                vars.put("DATASOURCE_NAME", ds);
                Tinybird.Endpoint ep = Tinybird.parseUrl(template, vars, cmd.insecure);
                String name = ep.datasource() != null && !ep.datasource().isBlank() ? ep.datasource() : ds;
                if (name.isBlank()) throw Cli.usage("tinybird_api_endpoint names no data source (?name=...): " + Config.redact(template));
                out.add(new Tinybird.Endpoint(ep.host(), name));
            }
            return out;
        }

        /**
         * The Events API URL template: --endpoint; else --host or --region (as every other script names the host);
         * else the original's (tinybird_api_endpoint from the file, or the default with {CLOUD_REGION} from
         * --cloud-region); else TINYBIRD_HOST (or TINYBIRD_REGION without CLOUD_REGION); else the default template.
         */
        String eventsTemplate(Config cfg) {
            boolean hostGiven = cmd.host != null && !cmd.host.isBlank(), regionGiven = cmd.region != null && !cmd.region.isBlank();
            if ((hostGiven || regionGiven) && cmd.endpoint != null) {
                throw Cli.usage("--endpoint names the whole Events API URL: give it or --host/--region, not both");
            }
            // an option wins over the file: --host/--region over its tinybird_api_endpoint; the file over the environment
            boolean customEndpoint = cmd.endpoint != null || !s.endpoint.equals(Settings.DEFAULT_ENDPOINT);
            if (!hostGiven && !regionGiven && (customEndpoint || cmd.cloudRegion != null)) return s.endpoint;
            String host;
            if (hostGiven) host = cmd.host.strip();
            else if (regionGiven) host = Tinybird.resolveHost(null, cmd.region, cmd.insecure, cfg);
            else if (cfg.get("TINYBIRD_HOST", "TB_HOST", "TINYBIRD_API_URL").isPresent()
                    || cfg.get("CLOUD_REGION").isEmpty() && cfg.get("TINYBIRD_REGION").isPresent()) host = Tinybird.resolveHost(null, null, cmd.insecure, cfg);
            else return s.endpoint;
            return host.contains("/v0/") ? host : host.replaceAll("/+$", "") + "/v0/events?name={DATASOURCE_NAME}";
        }

        /** Set once the sinks are open and events flow (a failure after it still gets a summary). */
        volatile boolean started;
        /** Set once st is final. */
        volatile boolean accounted;
        long t0;

        boolean hasTinybird() {
            for (Sink k : List.copyOf(sinks)) if (k instanceof TinybirdSink) return true;
            return false;
        }

        /** Stops waiting for the Tinybird writers (Ctrl-C past the drain time, a second Ctrl-C). */
        void abandon() {
            for (Sink k : List.copyOf(sinks)) {
                if (k instanceof TinybirdSink t) t.abandon();
            }
        }

        Stats execute() throws Exception {
            wallBaseMicros = Instant.now().getEpochSecond() * 1_000_000L + Instant.now().getNano() / 1000;
            wallBaseNanos = System.nanoTime();
            t0 = System.nanoTime();
            cmd.lastSinks = sinks;
            Cli.Progress progress = Cli.Progress.items("e-store", cmd.count != null ? cmd.count : -1, "events", cmd.common.quiet);
            java.util.concurrent.ScheduledExecutorService ticker = null;
            Throwable failure = null;
            try {
                openSinks(t0);
                started = true;
                ticker = statusTicker(progress);
                loop(t0, progress);
            } catch (Throwable t) {
                failure = t;
            }
            // flush and close every sink, even after a failure or Ctrl-C
            for (Sink k : sinks) {
                try {
                    k.close();
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                }
            }
            if (ticker != null) ticker.shutdownNow();
            progress.close();
            account(st);
            accounted = true;
            if (failure instanceof Exception ex) throw ex;
            if (failure instanceof Error er) throw er;
            return st;
        }

        /** Fills in the totals of a run's Stats from the sinks. */
        void account(Stats to) {
            to.seconds = (System.nanoTime() - t0) / 1e9;
            to.fallbacks = model.fallbacks;
            to.restocks = model.restocks;
            long delivered = Long.MAX_VALUE;
            for (Sink k : List.copyOf(sinks)) {
                if (k instanceof TinybirdSink t) to.sinkLines.addAll(t.lines());
                if (k instanceof PgSink p) to.sinkLines.add(p.line());
                if (k instanceof PgSink p && !p.events) continue;
                delivered = Math.min(delivered, k.delivered());
                to.failed += k.failed();
            }
            to.delivered = delivered == Long.MAX_VALUE ? to.sent : delivered;
        }

        /** The run's Stats: the final ones, or (a run that did not come back) a copy with what the sinks know now. */
        Stats snapshot() {
            if (accounted) return st;
            Stats c = new Stats();
            System.arraycopy(st.byAction, 0, c.byAction, 0, 5);
            c.unique = st.unique;
            c.duplicates = st.duplicates;
            c.sent = st.sent;
            c.seed = st.seed;
            account(c);
            c.sinkLines.add("stopped before the sinks were closed");
            return c;
        }

        /**
         * While Tinybird is written to: twice a second, what the writers wait for goes to the progress line, and (unless
         * --quiet) the start of each wait and its end are a line each, so a silent host is never silence.
         */
        java.util.concurrent.ScheduledExecutorService statusTicker(Cli.Progress progress) {
            TinybirdSink tb = null;
            for (Sink k : sinks) if (k instanceof TinybirdSink t) tb = t;
            if (tb == null) return null;
            TinybirdSink sink = tb;
            java.util.concurrent.ScheduledExecutorService ex = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "e-store-status");
                t.setDaemon(true);
                return t;
            });
            boolean[] waiting = {false};
            ex.scheduleWithFixedDelay(() -> {
                try {
                    String status = sink.status();
                    progress.status(status);
                    if (cmd.common.quiet) return;
                    // with --verbose every retry is a line already; a request that just hangs is not a retry
                    boolean retryLines = cmd.common.verbose && status != null && status.contains(", attempt ");
                    if (status != null && !waiting[0] && !retryLines) cmd.note("tinybird " + status);
                    else if (status == null && waiting[0]) cmd.note("tinybird answers again");
                    waiting[0] = status != null;
                } catch (RuntimeException e) {
                    // the ticker must keep going; the writers report their errors themselves
                }
            }, 500, 500, TimeUnit.MILLISECONDS);
            return ex;
        }

        void loop(long t0, Cli.Progress progress) throws Exception {
            final long count = cmd.count != null ? cmd.count : Long.MAX_VALUE;
            final long durNanos = cmd.duration != null ? cmd.duration.toNanos() : Long.MAX_VALUE;
            final double eps = cmd.eps != null ? cmd.eps : 0;
            long lastIdle = t0;
            while (!cmd.stop) {
                long now = System.nanoTime();
                long elapsed = now - t0;
                boolean timeUp = elapsed >= durNanos;
                long target = count;
                if (eps > 0) {
                    long at = timeUp ? durNanos - 1 : elapsed;
                    target = Math.min(target, (long) Math.floor(at / 1e9 * eps) + 1);
                }
                if (timeUp && eps <= 0) target = st.sent;
                long todo = target - st.sent;
                if (todo > 0) {
                    fill((int) Math.min(todo, Batch.CAPACITY), count);
                    for (Sink k : sinks) k.accept(batch);
                    progress.add(batch.n);
                    long c = clockMicros();
                    for (Sink k : sinks) k.tick(now, c);
                    continue;
                }
                if (timeUp || st.sent >= count) break;
                // ahead of the schedule: flush now and then, then sleep until the next event is due
                if (now - lastIdle > 20_000_000L) {
                    for (Sink k : sinks) {
                        k.idle();
                        k.tick(now, clockMicros());
                    }
                    lastIdle = now;
                }
                long due = t0 + (long) Math.ceil(st.sent * 1e9 / eps);
                long wait = Math.min(due, t0 + durNanos) - System.nanoTime();
                if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(Math.min(wait, 50_000_000L));
            }
            // stopped (count, duration or Ctrl-C): what was generated and is still pending goes out too
            while (!pending.isEmpty()) {
                batch.clear();
                while (!pending.isEmpty() && batch.n < Batch.CAPACITY) emit(pending.poll());
                for (Sink k : sinks) k.accept(batch);
                progress.add(batch.n);
            }
        }

        /** Generates up to n lines into the batch (fewer when --count is reached). */
        void fill(int n, long count) {
            batch.clear();
            for (int i = 0; i < n; i++) {
                long remaining = count - st.sent;
                if (remaining <= 0) break;
                Dup head = pending.peek();
                if (head != null && (remaining <= pending.size() || head.dueMicros <= clockMicros())) {
                    emit(pending.poll());
                    continue;
                }
                // a duplicate of this event must still fit under --count
                generate(remaining - 1 > pending.size());
            }
        }

        private void generate(boolean roomForDuplicate) {
            Event ev = e;
            int a = model.next(ev);
            ev.micros = clockMicros();
            ev.idHi = (idRng.next() & ~0xF000L) | 0x4000L;
            ev.idLo = (idRng.next() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
            ByteBuf b = batch.bytes;
            int startLen = b.len;
            enc.encode(b, ev);
            int i = batch.n++;
            batch.end[i] = b.len;
            batch.customer[i] = ev.customer;
            batch.product[i] = ev.product;
            batch.action[i] = a;
            batch.price[i] = ev.priceCents;
            batch.micros[i] = ev.micros;
            batch.idHi[i] = ev.idHi;
            batch.idLo[i] = ev.idLo;
            batch.duplicate[i] = false;
            st.unique++;
            st.sent++;
            st.byAction[a]++;
            if (dupPerBlock > 0 && roomForDuplicate && nextIsDuplicate()) {
                byte[] line = java.util.Arrays.copyOfRange(b.a, startLen, b.len);
                long due = delayMicros < 0 ? Long.MIN_VALUE : ev.micros + delayMicros;
                pending.add(new Dup(due, line, ev.customer, ev.product, a, ev.priceCents, ev.micros, ev.idHi, ev.idLo));
            }
        }

        private void emit(Dup d) {
            batch.bytes.bytes(d.line());
            int i = batch.n++;
            batch.end[i] = batch.bytes.len;
            batch.customer[i] = d.customer();
            batch.product[i] = d.product();
            batch.action[i] = d.action();
            batch.price[i] = d.price();
            batch.micros[i] = d.micros();
            batch.idHi[i] = d.idHi();
            batch.idLo[i] = d.idLo();
            batch.duplicate[i] = true;
            st.duplicates++;
            st.sent++;
        }
    }
}
