///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/WeatherReports.java
//DESCRIPTION A local Tinybird emulator (Events API, API Endpoints, Data Sources API, Query API) for tests and offline demos.
//DESCRIPTION ./jbang tests/tinybird-emulator.java --port 7181   (prints the admin token; Ctrl-C stops it)
//MAIN TinybirdEmulator

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.PushbackInputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A local Tinybird emulator: the parts of Tinybird's HTTP API our scripts use, following
 * shared/reference/tinybird-api.md (status codes, body texts, headers). JDK HttpServer on virtual threads.
 *
 * <h2>In-process API (for tests and benchmarks)</h2>
 * <pre>{@code
 * try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {          // 0 = a free port on 127.0.0.1
 *     String url = emu.url();                                       // http://127.0.0.1:PORT
 *     String admin = emu.adminToken();                              // scope ADMIN
 *     String t = emu.addToken("append", "DATASOURCES:APPEND:events"); // returns the token's value
 *     emu.createDataSource("events", "`id` Int64 `json:$.id`, `ts` DateTime `json:$.ts`");
 *     ... // point Tinybird.Client at url with a token
 *     List<ObjectNode> stored = emu.rows("events");                // rows as sent (parsed), in arrival order
 *     emu.rows("events_quarantine");                               // c__error_column, c__error, c__import_id, insertion_date, ...
 *     emu.rowCount("events"); emu.stats();                         // requests, bytes, rows received/stored/quarantined
 *     emu.faults().failNext(2, Fault.status(503));                 // the next 2 /v0/events requests answer 503
 *     emu.faults().fraction(0.2, 42, Fault.status(500).afterStore(), Fault.drop(), Fault.tooManyRequests(1));
 *     emu.faults().clear();
 *     emu.faults().on("/v0/pipes/").failNext(1, Fault.tooManyRequests(2)); // API Endpoint reads (any path prefix; "/" for all)
 *     emu.registerPipe("big", params -> PipeResult.of(cols, iteratorOfObjectArrays));  // a pipe in code
 * }
 * }</pre>
 * Settings before start: {@code new TinybirdEmulator().port(0).maxRequestBytes(1 << 20).rateLimit(1000).autocreate(false)
 * .storeRows(false).start()}. Built in (read-only, deterministic): data source {@code weather_data}
 * (174 US cities, one report every 4 hours from 2023-05-01 00:00:00 for 365 days: 381,060 rows, computed on demand)
 * and pipes {@code reports} (alias {@code reportsv2}), {@code api_cities}, {@code most_recent},
 * {@code current_conditions}.
 *
 * <h2>HTTP</h2>
 * {@code POST /v0/events}, {@code GET|POST /v0/pipes/<pipe>.json|.ndjson|.csv}, {@code POST /v0/datasources}
 * (multipart part csv/ndjson, or a full body), {@code GET|POST /v0/sql} (SELECT cols|*|count() FROM ds [WHERE a = 'x'
 * AND ...] [ORDER BY c [DESC]] [LIMIT n] [FORMAT JSON|JSONEachRow|CSV]), {@code GET /tokens}, {@code GET /v0/jobs/<id>}.
 */
@Command(name = "tinybird-emulator", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"A local Tinybird emulator for tests and offline demos: Events API, API Endpoints (pipes), Data Sources API",
                "and a small Query API, with the built-in weather demo data."},
        footer = {"", "Examples:",
                "  ./jbang tests/tinybird-emulator.java --port 7181",
                "  ./jbang tests/tinybird-emulator.java --admin-token admin-dev --token ingest-dev=DATASOURCES:APPEND:events",
                "  TINYBIRD_TOKEN=admin-dev ./jbang data-generators/e-store.java --region local --datasource estore_events --eps 500",
                "  curl -H 'Authorization: Bearer admin-dev' 'http://localhost:7181/v0/pipes/reports.json?city=denver&max_results=3'"})
class TinybirdEmulator implements Callable<Integer>, AutoCloseable {

    // ------------------------------------------------------------------ command line

    @Spec CommandSpec spec;
    @Mixin Cli.Common common;

    @Option(names = "--port", paramLabel = "N", description = "Port to listen on (default: ${DEFAULT-VALUE}; 0 = any free port).")
    int port = 7181;

    @Option(names = "--bind", paramLabel = "ADDRESS", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind = "127.0.0.1";

    @Option(names = "--admin-token", paramLabel = "TOKEN", description = "The admin token's value (default: a random one, printed at start).")
    String adminTokenOption;

    @Option(names = "--token", paramLabel = "VALUE=SCOPES",
            description = "Adds a token VALUE with comma-separated SCOPES, e.g. ingest=DATASOURCES:APPEND:events,DATASOURCES:CREATE. Repeatable.")
    List<String> tokenOptions = new ArrayList<>();

    @Option(names = "--max-request-size", paramLabel = "SIZE", converter = Cli.SizeConverter.class,
            description = "Events API per-request body limit, answered with 413 (default: 10MB).")
    long maxRequestBytes = 10_000_000;

    @Option(names = "--rate-limit", paramLabel = "N", description = "Requests per second before 429 (default: ${DEFAULT-VALUE}; 0 = none).")
    int rateLimit = 1000;

    @Option(names = "--no-autocreate", negatable = false, description = "Answer 403 instead of creating a missing data source from the first rows.")
    boolean noAutocreate;

    @Option(names = "--no-weather", description = "Leave out the built-in weather data set and its pipes.")
    boolean noWeather;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the weather data (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--fault-rate", paramLabel = "FRACTION",
            description = "Fail this fraction of requests (the Events API's, or those of --fault-path; deterministic by --seed), with the kinds of --fault.")
    double faultRate;

    @Option(names = "--fault-path", paramLabel = "PREFIX",
            description = "Requests subject to --fault-rate: paths starting with PREFIX (default: ${DEFAULT-VALUE}; /v0/pipes/ for API Endpoints, / for all).")
    String faultPath = "/v0/events";

    @Option(names = "--fault", paramLabel = "KIND", split = ",",
            description = "Fault kinds for --fault-rate: 429, 500, 503, 422, drop, drop-after, delay (default: 429,500,503,drop).")
    List<String> faultKinds = new ArrayList<>();

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new TinybirdEmulator()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            for (String t : tokenOptions) {
                int eq = t.indexOf('=');
                if (eq <= 0) throw Cli.usage("--token expects VALUE=SCOPES, got '" + t + "'");
                tokenPlan.put(t.substring(0, eq), t.substring(eq + 1));
            }
            if (faultRate > 0) {
                List<Fault> kinds = new ArrayList<>();
                for (String k : faultKinds.isEmpty() ? List.of("429", "500", "503", "drop") : faultKinds) kinds.add(Fault.parse(k));
                faults.on(faultPath).fraction(faultRate, seed, kinds.toArray(Fault[]::new));
            }
            start();
            PrintWriter out = spec.commandLine().getOut();
            out.println("Tinybird emulator listening on " + url() + " (Ctrl-C stops it)");
            out.println("admin token: " + adminToken());
            for (Token t : tokens.values()) {
                if (!t.value.equals(adminToken) && !t.value.equals(userToken)) out.println("token " + t.name + ": " + String.join(",", t.scopes));
            }
            if (!noWeather) {
                out.println("demo data: weather_data (" + WEATHER.rows() + " rows, built in and read-only: appends to it are refused "
                        + "with 403, seed another name); pipes reports, reportsv2, api_cities, most_recent, current_conditions");
                out.println("try: curl -H 'Authorization: Bearer " + adminToken() + "' '" + url() + "/v0/pipes/reports.json?city=denver&max_results=3'");
            } else {
                out.println("try: curl -H 'Authorization: Bearer " + adminToken() + "' '" + url() + "/v0/datasources'");
            }
            out.flush();
            CountDownLatch stop = new CountDownLatch(1);
            PrintWriter err = spec.commandLine().getErr();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                close();
                Stats st = stats();
                err.printf(Locale.ROOT, "stopped: %,d requests, %s received, %,d rows stored, %,d quarantined, %,d faults injected%n",
                        st.requests(), Cli.humanBytes(st.bytesReceived()), st.rowsStored(), st.rowsQuarantined(), st.faultsInjected());
                err.flush();
                stop.countDown();
            }));
            stop.await();
            return 0;
        });
    }

    // ------------------------------------------------------------------ state

    private HttpServer server;
    private ExecutorService executor;
    private String adminToken, userToken;
    private final Map<String, String> tokenPlan = new LinkedHashMap<>();
    private final Map<String, Token> tokens = new ConcurrentHashMap<>();
    private final Map<String, DataSource> dataSources = new ConcurrentHashMap<>();
    private final Map<String, Pipe> pipes = new ConcurrentHashMap<>();
    private final Faults faults = new Faults();
    private boolean storeRows = true;
    private String region = "local";
    private Weather WEATHER;
    private final AtomicLong importCounter = new AtomicLong();
    private final LongAdder requests = new LongAdder(), eventsRequests = new LongAdder(), bytesReceived = new LongAdder(),
            rowsReceived = new LongAdder(), rowsStored = new LongAdder(), rowsQuarantined = new LongAdder(),
            rateLimited = new LongAdder(), faultsInjected = new LongAdder();
    private final Object rateLock = new Object();
    private long rateWindow;
    private int rateCount;

    /** A token: value, name, scopes; region non-null when it belongs to another region's workspace. */
    record Token(String name, String value, Set<String> scopes, String regionHost) {}

    // ------------------------------------------------------------------ in-process API

    /** Starts an emulator on 127.0.0.1:port (0 = a free port) with the default settings. */
    public static TinybirdEmulator start(int port) {
        return new TinybirdEmulator().port(port).start();
    }

    public TinybirdEmulator port(int p) { this.port = p; return this; }
    /** Events API per-request limit (413 past it). */
    public TinybirdEmulator maxRequestBytes(long n) { this.maxRequestBytes = n; return this; }
    /** Requests per second before 429; 0 = none. */
    public TinybirdEmulator rateLimit(int n) { this.rateLimit = n; return this; }
    public TinybirdEmulator autocreate(boolean b) { this.noAutocreate = !b; return this; }
    /** false: count rows but keep none (benchmarks). */
    public TinybirdEmulator storeRows(boolean b) { this.storeRows = b; return this; }
    public TinybirdEmulator weather(boolean b) { this.noWeather = !b; return this; }
    public TinybirdEmulator seed(long s) { this.seed = s; return this; }
    public TinybirdEmulator adminToken(String v) { this.adminTokenOption = v; return this; }

    /** Starts the server; returns this. */
    public synchronized TinybirdEmulator start() {
        if (server != null) return this;
        adminToken = adminTokenOption != null ? adminTokenOption : "p.admin." + randomHex();
        userToken = "p.user." + randomHex();
        tokens.put(adminToken, new Token("admin token", adminToken, Set.of("ADMIN"), null));
        tokens.put(userToken, new Token("user token", userToken, Set.of("ADMIN"), null));
        tokenPlan.forEach((v, scopes) -> tokens.put(v, new Token(v, v, parseScopes(scopes), null)));
        Config.registerSecret(adminToken);
        if (!noWeather) {
            WEATHER = new Weather(seed);
            DataSource w = new DataSource("weather_data", parseSchema(Weather.SCHEMA), true);
            w.builtin = WEATHER;
            dataSources.put(w.name, w);
            Pipe reports = WEATHER::reports;
            pipes.put("reports", reports);
            pipes.put("reportsv2", reports);
            pipes.put("api_cities", WEATHER::apiCities);
            pipes.put("most_recent", WEATHER::mostRecent);
            pipes.put("current_conditions", WEATHER::currentConditions);
        }
        // TCP_NODELAY on answers, as Tinybird's front (nginx: tcp_nodelay on) has it: without it, the JDK server's small
        // chunk writes wait on the client's delayed ACKs (the JDK reads the property once, when the first server of a JVM starts)
        if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getByName(bind), port), 1024);
        } catch (IOException e) {
            throw new Cli.Failure("cannot listen on " + bind + ":" + port + ": " + e.getMessage(), e);
        }
        executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
        return this;
    }

    public String url() {
        String host = server.getAddress().getAddress().getHostAddress();
        if (host.contains(":")) host = "[" + host + "]";
        return "http://" + host + ":" + server.getAddress().getPort();
    }

    public int boundPort() {
        return server.getAddress().getPort();
    }

    public String adminToken() {
        return adminToken;
    }

    /** Adds a token with the given scopes (ADMIN, DATASOURCES:APPEND:ds, DATASOURCES:CREATE, DATASOURCES:READ:ds, PIPES:READ:pipe); returns its value. */
    public String addToken(String name, String... scopes) {
        String v = "p." + name.replaceAll("[^A-Za-z0-9_]", "_") + "." + randomHex();
        tokens.put(v, new Token(name, v, new LinkedHashSet<>(Arrays.asList(scopes)), null));
        Config.registerSecret(v);
        return v;
    }

    /** Adds a token of a workspace in another region (answers 404 naming regionHost); returns its value. */
    public String addForeignRegionToken(String name, String regionHost, String... scopes) {
        String v = "p." + name.replaceAll("[^A-Za-z0-9_]", "_") + "." + randomHex();
        tokens.put(v, new Token(name, v, new LinkedHashSet<>(Arrays.asList(scopes)), regionHost));
        Config.registerSecret(v);
        return v;
    }

    public Faults faults() {
        return faults;
    }

    /** Creates a data source from a Tinybird schema: {@code `id` Int64 `json:$.id`, name String `json:$.name`}. */
    public void createDataSource(String name, String schema) {
        List<Col> cols = parseSchema(schema);
        DataSource ds = new DataSource(name, cols, cols.stream().allMatch(c -> c.path != null));
        if (dataSources.putIfAbsent(name, ds) != null) throw new IllegalArgumentException("data source exists: " + name);
    }

    /** Removes a data source (and its quarantine). */
    public void dropDataSource(String name) {
        dataSources.remove(name);
        dataSources.remove(name + "_quarantine");
    }

    public boolean hasDataSource(String name) {
        return dataSources.containsKey(name);
    }

    /** Column definitions ("name Type `json:$.path`") of a data source, or null. */
    public List<String> schema(String name) {
        DataSource ds = dataSources.get(name);
        if (ds == null) return null;
        List<String> out = new ArrayList<>();
        for (Col c : ds.cols) out.add(c.name + " " + c.type + (c.path == null ? "" : " `json:" + c.path + "`"));
        return out;
    }

    /** The stored rows, parsed, in arrival order: as sent for JSON data sources, keyed by column for CSV imports. */
    public List<ObjectNode> rows(String datasource) {
        DataSource ds = dataSources.get(datasource);
        if (ds == null) return List.of();
        List<ObjectNode> out = new ArrayList<>();
        if (ds.builtin != null) {
            for (long i = 0; i < ds.builtin.rows(); i++) out.add(ds.builtin.rowObject(i));
            return out;
        }
        for (byte[] b : ds.snapshot()) {
            try {
                out.add((ObjectNode) Json.MAPPER.readTree(b));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    /** Stored row count (also counted when storeRows(false)). */
    public long rowCount(String datasource) {
        DataSource ds = dataSources.get(datasource);
        return ds == null ? 0 : ds.builtin != null ? ds.builtin.rows() : ds.count.get();
    }

    /** Counters since start. */
    public record Stats(long requests, long eventsRequests, long bytesReceived, long rowsReceived, long rowsStored,
                        long rowsQuarantined, long rateLimited, long faultsInjected) {}

    public Stats stats() {
        return new Stats(requests.sum(), eventsRequests.sum(), bytesReceived.sum(), rowsReceived.sum(), rowsStored.sum(),
                rowsQuarantined.sum(), rateLimited.sum(), faultsInjected.sum());
    }

    /** Registers a pipe (an API Endpoint) computed in code. */
    public void registerPipe(String name, Pipe pipe) {
        pipes.put(name, pipe);
    }

    @Override
    public synchronized void close() {
        if (server != null) {
            server.stop(0);
            executor.shutdownNow();
            server = null;
        }
    }

    private static String randomHex() {
        return UUID.randomUUID().toString().replace("-", "");
    }

    static Set<String> parseScopes(String s) {
        Set<String> out = new LinkedHashSet<>();
        for (String x : s.split(",")) if (!x.isBlank()) out.add(x.strip());
        return out;
    }

    // ------------------------------------------------------------------ faults

    /** Kinds of injected faults. */
    public enum FaultKind { STATUS, DROP, DELAY }

    /**
     * One injected fault: an HTTP status (429 with Retry-After, 500, 503, 422...), a dropped connection or a delay;
     * before storing the rows (default) or after ({@link #afterStore()}), so clients meet the "unknown outcome" case.
     */
    public record Fault(FaultKind kind, int status, int retryAfterSeconds, Duration delay, boolean after) {
        public static Fault status(int code) { return new Fault(FaultKind.STATUS, code, 0, Duration.ZERO, false); }
        public static Fault tooManyRequests(int retryAfterSeconds) { return new Fault(FaultKind.STATUS, 429, retryAfterSeconds, Duration.ZERO, false); }
        public static Fault drop() { return new Fault(FaultKind.DROP, 0, 0, Duration.ZERO, false); }
        public static Fault delay(Duration d) { return new Fault(FaultKind.DELAY, 0, 0, d, false); }
        public Fault afterStore() { return new Fault(kind, status, retryAfterSeconds, delay, true); }

        static Fault parse(String s) {
            String k = s.strip().toLowerCase(Locale.ROOT);
            return switch (k) {
                case "429" -> tooManyRequests(1);
                case "drop" -> drop();
                case "drop-after" -> drop().afterStore();
                case "delay" -> delay(Duration.ofSeconds(2));
                default -> {
                    if (!k.matches("[45][0-9][0-9]")) throw Cli.usage("unknown fault kind '" + s + "' (429, 500, 503, 422, drop, drop-after, delay)");
                    yield k.equals("422") ? status(422).afterStore() : status(Integer.parseInt(k));
                }
            };
        }
    }

    /** Fault injection on one path prefix (default /v0/events), deterministic by seed in request order. */
    public static final class Faults {
        private final ConcurrentLinkedQueue<Fault> next = new ConcurrentLinkedQueue<>();
        private volatile double fraction;
        private volatile long seed;
        private volatile Fault[] kinds = new Fault[0];
        private volatile String pathPrefix = "/v0/events";
        private final AtomicLong counter = new AtomicLong();

        /** The next n matching requests get fault f (before any fraction-based fault). */
        public Faults failNext(int n, Fault f) {
            for (int i = 0; i < n; i++) next.add(f);
            return this;
        }

        /** Each matching request fails with probability p, the kind drawn from kinds; deterministic by seed. */
        public Faults fraction(double p, long seed, Fault... kinds) {
            this.seed = seed;
            this.kinds = kinds.clone();
            this.counter.set(0);
            this.fraction = kinds.length == 0 ? 0 : p;
            return this;
        }

        /** Which requests are subject to faults (default /v0/events; "/" for all). */
        public Faults on(String prefix) {
            this.pathPrefix = prefix;
            return this;
        }

        public Faults clear() {
            next.clear();
            fraction = 0;
            return this;
        }

        Fault pick(String path) {
            if (!path.startsWith(pathPrefix)) return null;
            Fault f = next.poll();
            if (f != null) return f;
            if (fraction <= 0) return null;
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + counter.getAndIncrement());
            if (r.nextDouble() >= fraction) return null;
            Fault[] k = kinds;
            return k[r.nextInt(k.length)];
        }
    }

    // ------------------------------------------------------------------ schema and data sources

    /** A column: name, ClickHouse type, jsonpath (null for CSV data sources). */
    static final class Col {
        final String name, type, path;
        final String[] pathParts;
        final boolean nullable;
        final String base; // type without Nullable/LowCardinality
        final Kind kind;
        final long min, max; // integer range (kind INT)
        int index; // position in its data source

        Col(String name, String type, String path) {
            this.name = name;
            this.type = type;
            this.path = path;
            String t = type.strip();
            boolean n = false;
            for (boolean changed = true; changed; ) {
                changed = false;
                Matcher m = Pattern.compile("^(Nullable|LowCardinality)\\((.*)\\)$").matcher(t);
                if (m.matches()) {
                    if (m.group(1).equals("Nullable")) n = true;
                    t = m.group(2).strip();
                    changed = true;
                }
            }
            this.nullable = n;
            this.base = t;
            Kind k = Kind.OTHER;
            long lo = Long.MIN_VALUE, hi = Long.MAX_VALUE;
            if (t.equals("String") || t.startsWith("FixedString") || t.startsWith("Enum")) k = Kind.STRING;
            else if (t.matches("U?Int(8|16|32|64|128|256)")) {
                k = Kind.INT;
                int bits = Integer.parseInt(t.replaceAll("\\D", ""));
                boolean unsigned = t.startsWith("U");
                if (bits < 64) {
                    lo = unsigned ? 0 : -(1L << (bits - 1));
                    hi = unsigned ? (1L << bits) - 1 : (1L << (bits - 1)) - 1;
                } else if (bits == 64 && unsigned) lo = 0;
                else if (bits > 64) k = Kind.BIGINT;
            } else if (t.startsWith("Float") || t.startsWith("Decimal")) k = Kind.FLOAT;
            else if (t.equals("Bool") || t.equals("Boolean")) k = Kind.BOOL;
            else if (t.startsWith("DateTime")) k = Kind.DATETIME;
            else if (t.startsWith("Date")) k = Kind.DATE;
            else if (t.equals("UUID")) k = Kind.UUID;
            else if (t.startsWith("Array")) k = Kind.ARRAY;
            else if (t.startsWith("Map") || t.startsWith("JSON") || t.startsWith("Object") || t.startsWith("Tuple")) k = Kind.OBJECT;
            this.kind = k;
            this.min = lo;
            this.max = hi;
            String p = path == null ? "$." + name : path;
            this.pathParts = p.replaceFirst("^\\$\\.?", "").isEmpty() ? new String[0] : p.replaceFirst("^\\$\\.?", "").split("\\.");
        }

        boolean topLevel() {
            return pathParts.length == 1;
        }
    }

    enum Kind { STRING, INT, BIGINT, FLOAT, BOOL, DATETIME, DATE, UUID, ARRAY, OBJECT, OTHER }

    static final Pattern COLUMN = Pattern.compile(
            "\\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\\s+((?:[A-Za-z0-9_]+(?:\\((?:[^()]|\\([^()]*\\))*\\))?))\\s*(?:`json:([^`]*)`)?\\s*(?:DEFAULT\\s+[^,]+)?\\s*");

    /** Parses a Tinybird schema: comma-separated columns {@code `name` Type `json:$.path`}. */
    static List<Col> parseSchema(String schema) {
        List<Col> cols = new ArrayList<>();
        for (String part : splitTopLevel(schema)) {
            if (part.isBlank()) continue;
            Matcher m = COLUMN.matcher(part);
            if (!m.matches()) throw new IllegalArgumentException("cannot parse column definition '" + part.strip() + "'");
            cols.add(new Col(m.group(1), m.group(2), m.group(3) == null ? null : m.group(3).strip()));
        }
        if (cols.isEmpty()) throw new IllegalArgumentException("empty schema");
        return cols;
    }

    static List<String> splitTopLevel(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, start = 0;
        boolean tick = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '`') tick = !tick;
            else if (!tick && c == '(') depth++;
            else if (!tick && c == ')') depth--;
            else if (!tick && depth == 0 && (c == ',' || c == '\n')) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    /** A data source: columns and rows (stored as JSON lines). */
    final class DataSource {
        final String name, id;
        final List<Col> cols;
        final boolean json;
        final Map<String, Col> topLevel = new HashMap<>();
        final boolean allTopLevel;
        /** Rows as slices of request bodies: one segment per request, no copy per row. */
        final List<Segment> rows = new ArrayList<>();
        final AtomicLong count = new AtomicLong();
        Weather builtin;

        DataSource(String name, List<Col> cols, boolean json) {
            this.name = name;
            this.id = "t_" + randomHex().substring(0, 16);
            this.cols = List.copyOf(cols);
            this.json = json;
            boolean all = true;
            for (int i = 0; i < this.cols.size(); i++) this.cols.get(i).index = i;
            for (Col c : cols) {
                if (c.topLevel()) topLevel.put(c.pathParts[0], c);
                else all = false;
            }
            this.allTopLevel = all && topLevel.size() == cols.size();
        }

        void append(List<byte[]> batch) {
            if (batch.isEmpty()) return;
            int total = 0;
            for (byte[] b : batch) total += b.length;
            byte[] buf = new byte[total];
            int[] pairs = new int[batch.size() * 2];
            int pos = 0;
            for (int i = 0; i < batch.size(); i++) {
                byte[] b = batch.get(i);
                System.arraycopy(b, 0, buf, pos, b.length);
                pairs[2 * i] = pos;
                pairs[2 * i + 1] = b.length;
                pos += b.length;
            }
            append(new Segment(buf, pairs, batch.size()));
        }

        void append(Segment seg) {
            if (seg.n == 0) return;
            synchronized (rows) {
                if (storeRows) rows.add(seg);
                count.addAndGet(seg.n);
            }
        }

        void clear() {
            synchronized (rows) {
                rows.clear();
                count.set(0);
            }
        }

        List<byte[]> snapshot() {
            List<Segment> segs;
            synchronized (rows) {
                segs = new ArrayList<>(rows);
            }
            List<byte[]> out = new ArrayList<>();
            for (Segment sg : segs) {
                for (int i = 0; i < sg.n; i++) out.add(Arrays.copyOfRange(sg.buf, sg.pairs[2 * i], sg.pairs[2 * i] + sg.pairs[2 * i + 1]));
            }
            return out;
        }
    }

    /** n rows inside buf: row i at pairs[2i] with length pairs[2i+1]. */
    record Segment(byte[] buf, int[] pairs, int n) {}

    private DataSource quarantineOf(DataSource ds) {
        return dataSources.computeIfAbsent(ds.name + "_quarantine", n -> {
            List<Col> cols = new ArrayList<>();
            cols.add(new Col("c__error_column", "Array(String)", null));
            cols.add(new Col("c__error", "Array(String)", null));
            cols.add(new Col("c__import_id", "Nullable(String)", null));
            cols.add(new Col("insertion_date", "DateTime", null));
            for (Col c : ds.cols) cols.add(new Col(c.name, "Nullable(String)", null));
            return new DataSource(n, cols, false);
        });
    }

    // ------------------------------------------------------------------ value checks

    static final Pattern DATETIME = Pattern.compile(
            "(\\d{4}-\\d{2}-\\d{2})(?:[ T](\\d{2}:\\d{2}(?::\\d{2})?)(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?");

    /** Null if the value under the parser fits the column, else the error text. */
    static String check(Col c, JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NULL) return c.nullable ? null : "value is null for non-Nullable column";
        String b = c.base;
        switch (c.kind) {
            case STRING -> {
                return t == JsonToken.VALUE_STRING ? null : "value is not a String: " + shortText(p);
            }
            case INT -> {
                if (t != JsonToken.VALUE_NUMBER_INT) return "value is not an integer: " + shortText(p);
                JsonParser.NumberType nt = p.getNumberType();
                if (nt == JsonParser.NumberType.BIG_INTEGER) {
                    java.math.BigInteger v = p.getBigIntegerValue();
                    boolean ok = b.equals("UInt64") && v.signum() >= 0 && v.bitLength() <= 64;
                    return ok ? null : "value " + v + " is out of range for " + b;
                }
                long v = p.getLongValue();
                return v < c.min || v > c.max ? "value " + v + " is out of range for " + b : null;
            }
            case BIGINT -> {
                return t == JsonToken.VALUE_NUMBER_INT ? null : "value is not an integer: " + shortText(p);
            }
            case FLOAT -> {
                return t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT ? null : "value is not a number: " + shortText(p);
            }
            case BOOL -> {
                return t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE || t == JsonToken.VALUE_NUMBER_INT ? null
                        : "value is not a Bool: " + shortText(p);
            }
            case DATETIME, DATE -> {
                if (t == JsonToken.VALUE_NUMBER_INT && c.kind == Kind.DATETIME) return null;
                if (t != JsonToken.VALUE_STRING) return "value is not a " + b + ": " + shortText(p);
                String text = p.getText();
                if (!quickDateTime(text)) {
                    Matcher m = DATETIME.matcher(text.strip());
                    if (!m.matches() || !validDate(m.group(1))) return "cannot parse " + b + " from '" + abbreviate(text) + "'";
                }
                return null;
            }
            case UUID -> {
                return t == JsonToken.VALUE_STRING && p.getText().matches("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
                        ? null : "value is not a UUID: " + shortText(p);
            }
            case ARRAY -> {
                return t == JsonToken.START_ARRAY ? null : "value is not an Array: " + shortText(p);
            }
            case OBJECT -> {
                return t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY ? null : "value is not an object: " + shortText(p);
            }
            default -> {
                return null;
            }
        }
    }

    /** Fast path for the common "YYYY-MM-DD HH:MM:SS[.ffffff]" / "YYYY-MM-DDTHH:MM:SS[.ffffff][Z]" shapes. */
    static boolean quickDateTime(String s) {
        int n = s.length();
        if (n != 10 && n < 19) return false;
        for (int i = 0; i < Math.min(n, 19); i++) {
            char ch = s.charAt(i);
            boolean ok = switch (i) {
                case 4, 7 -> ch == '-';
                case 10 -> ch == ' ' || ch == 'T';
                case 13, 16 -> ch == ':';
                default -> ch >= '0' && ch <= '9';
            };
            if (!ok) return false;
        }
        int month = (s.charAt(5) - '0') * 10 + (s.charAt(6) - '0'), day = (s.charAt(8) - '0') * 10 + (s.charAt(9) - '0');
        if (month < 1 || month > 12 || day < 1 || day > 28) return false; // other days: the full check
        if (n > 10) {
            int h = (s.charAt(11) - '0') * 10 + (s.charAt(12) - '0'), mi = (s.charAt(14) - '0') * 10 + (s.charAt(15) - '0'),
                    se = (s.charAt(17) - '0') * 10 + (s.charAt(18) - '0');
            if (h > 23 || mi > 59 || se > 59) return false;
            if (n == 19) return true;
            int i = 19;
            if (s.charAt(i) == '.') {
                i++;
                int d0 = i;
                while (i < n && s.charAt(i) >= '0' && s.charAt(i) <= '9') i++;
                if (i == d0 || i - d0 > 9) return false;
            }
            return i == n || (i == n - 1 && s.charAt(i) == 'Z');
        }
        return true;
    }

    static boolean validDate(String ymd) {
        try {
            LocalDate.parse(ymd);
            return true;
        } catch (DateTimeParseException e) {
            return false;
        }
    }

    static String shortText(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT) return "an object";
        if (t == JsonToken.START_ARRAY) return "an array";
        return abbreviate(t == JsonToken.VALUE_STRING ? "'" + p.getText() + "'" : p.getText());
    }

    static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    /** Validates one NDJSON line against a JSON data source: null if fine, else [column, error]. */
    static String[] validate(DataSource ds, byte[] b, int off, int len) {
        try {
            if (ds.allTopLevel) {
                try (JsonParser p = Json.FACTORY.createParser(b, off, len)) {
                    if (p.nextToken() != JsonToken.START_OBJECT) return new String[] {"", "row is not a JSON object"};
                    int seen = 0;
                    boolean[] got = new boolean[ds.cols.size()];
                    JsonToken t;
                    while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                        Col c = ds.topLevel.get(p.currentName());
                        p.nextToken();
                        if (c != null) {
                            String err = check(c, p);
                            if (err != null) return new String[] {c.name, err};
                            int i = c.index;
                            if (!got[i]) {
                                got[i] = true;
                                seen++;
                            }
                        }
                        p.skipChildren();
                    }
                    if (t != JsonToken.END_OBJECT) return new String[] {"", "invalid JSON"};
                    if (p.nextToken() != null) return new String[] {"", "invalid JSON: more than one value on the line"};
                    if (seen < ds.cols.size()) {
                        for (int i = 0; i < got.length; i++) {
                            if (!got[i] && !ds.cols.get(i).nullable) return new String[] {ds.cols.get(i).name, "value is missing"};
                        }
                    }
                    return null;
                }
            }
            JsonNode n = Json.MAPPER.readTree(b, off, len);
            if (!(n instanceof ObjectNode)) return new String[] {"", "row is not a JSON object"};
            for (Col c : ds.cols) {
                JsonNode v = at(n, c);
                if (v == null || v.isMissingNode()) {
                    if (!c.nullable) return new String[] {c.name, "value is missing"};
                    continue;
                }
                try (JsonParser p = v.traverse()) {
                    p.nextToken();
                    String err = check(c, p);
                    if (err != null) return new String[] {c.name, err};
                }
            }
            return null;
        } catch (IOException e) {
            return new String[] {"", "invalid JSON: " + abbreviate(String.valueOf(e.getMessage()).split("\n")[0])};
        }
    }

    static List<int[]> linesView(int[] lp, int n) {
        return new java.util.AbstractList<>() {
            public int[] get(int i) {
                return new int[] {lp[2 * i], lp[2 * i + 1]};
            }

            public int size() {
                return n;
            }
        };
    }

    /**
     * Validates every line with ONE parser over the whole body (fast path for data sources whose jsonpaths are all
     * top-level). Returns the error of each line (null = fits), or null when the body is not one JSON object per line
     * (then each line is validated on its own, to report exactly which lines are broken).
     */
    static String[][] validateAll(DataSource ds, byte[] body, int[] lp, int n) {
        if (!ds.allTopLevel || n == 0) return null;
        String[][] errors = new String[n][];
        int ncols = ds.cols.size();
        boolean[] got = new boolean[ncols];
        try (JsonParser p = Json.FACTORY.createParser(body, 0, body.length)) {
            for (int i = 0; i < n; i++) {
                int off = lp[2 * i], end = off + lp[2 * i + 1];
                if (p.nextToken() != JsonToken.START_OBJECT || p.currentTokenLocation().getByteOffset() != off) return null;
                Arrays.fill(got, false);
                int seen = 0;
                String[] err = null;
                JsonToken t;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    Col c = err == null ? ds.topLevel.get(p.currentName()) : null;
                    p.nextToken();
                    if (c != null) {
                        String e = check(c, p);
                        if (e != null) err = new String[] {c.name, e};
                        else if (!got[c.index]) {
                            got[c.index] = true;
                            seen++;
                        }
                    }
                    p.skipChildren();
                }
                if (t != JsonToken.END_OBJECT || p.currentLocation().getByteOffset() > end) return null;
                if (err == null && seen < ncols) {
                    for (int k = 0; k < ncols; k++) {
                        if (!got[k] && !ds.cols.get(k).nullable) {
                            err = new String[] {ds.cols.get(k).name, "value is missing"};
                            break;
                        }
                    }
                }
                errors[i] = err;
            }
            if (p.nextToken() != null) return null;
            return errors;
        } catch (IOException e) {
            return null;
        }
    }

    static JsonNode at(JsonNode n, Col c) {
        JsonNode v = n;
        for (String part : c.pathParts) {
            v = v.get(part);
            if (v == null) return null;
        }
        return v;
    }

    static final DateTimeFormatter DT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    private byte[] quarantineRow(DataSource ds, byte[] b, int off, int len, String[] err, String importId) {
        ObjectNode q = JsonNodeFactory.instance.objectNode();
        q.putArray("c__error_column").add(err[0]);
        q.putArray("c__error").add(err[1]);
        q.put("c__import_id", importId);
        q.put("insertion_date", LocalDateTime.now(ZoneOffset.UTC).format(DT));
        JsonNode n = null;
        try {
            n = Json.MAPPER.readTree(b, off, len);
        } catch (IOException ignored) {
            // invalid JSON: no column values
        }
        for (Col c : ds.cols) {
            JsonNode v = n == null ? null : at(n, c);
            if (v == null || v.isNull()) q.putNull(c.name);
            else q.put(c.name, v.isValueNode() ? v.asText() : v.toString());
        }
        if (n == null) q.put("c__raw", new String(b, off, len, StandardCharsets.UTF_8));
        try {
            return Json.MAPPER.writeValueAsBytes(q);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Infers columns with jsonpaths from the first rows (nested objects flattened with _). */
    static List<Col> infer(List<JsonNode> sample) {
        Map<String, String[]> found = new LinkedHashMap<>(); // name -> [path, type]
        Map<String, Integer> seen = new HashMap<>();
        Set<String> nullable = new java.util.HashSet<>();
        for (JsonNode row : sample) {
            Set<String> here = new java.util.HashSet<>();
            flatten(row, "", "$", found, nullable, here);
            for (String k : here) seen.merge(k, 1, Integer::sum);
        }
        List<Col> cols = new ArrayList<>();
        for (Map.Entry<String, String[]> e : found.entrySet()) {
            String type = e.getValue()[1] == null ? "String" : e.getValue()[1];
            boolean n = nullable.contains(e.getKey()) || seen.getOrDefault(e.getKey(), 0) < sample.size();
            cols.add(new Col(e.getKey(), n && !type.startsWith("Array") ? "Nullable(" + type + ")" : type, e.getValue()[0]));
        }
        return cols;
    }

    private static void flatten(JsonNode n, String prefix, String path, Map<String, String[]> found, Set<String> nullable, Set<String> here) {
        Iterator<Map.Entry<String, JsonNode>> it = n.properties().iterator();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = (prefix.isEmpty() ? "" : prefix + "_") + e.getKey().replaceAll("[^A-Za-z0-9_]", "_");
            String p = path + "." + e.getKey();
            JsonNode v = e.getValue();
            if (v.isObject() && v.size() > 0) {
                flatten(v, name, p, found, nullable, here);
                continue;
            }
            here.add(name);
            String t = v.isNull() ? null : v.isBoolean() ? "Bool" : v.isIntegralNumber() ? "Int64" : v.isNumber() ? "Float64"
                    : v.isArray() ? arrayType(v) : v.isObject() ? "String" : textType(v.asText());
            if (v.isNull()) nullable.add(name);
            String[] old = found.get(name);
            if (old == null) found.put(name, new String[] {p, t});
            else if (old[1] == null) old[1] = t;
            else if (t != null && !old[1].equals(t)) {
                old[1] = (old[1].equals("Int64") && t.equals("Float64") || old[1].equals("Float64") && t.equals("Int64")) ? "Float64" : "String";
            }
        }
    }

    private static String arrayType(JsonNode a) {
        String t = null;
        for (JsonNode x : a) {
            String xt = x.isIntegralNumber() ? "Int64" : x.isNumber() ? "Float64" : x.isBoolean() ? "Bool" : "String";
            t = t == null ? xt : t.equals(xt) ? t : "String";
        }
        return "Array(" + (t == null ? "String" : t) + ")";
    }

    private static String textType(String s) {
        Matcher m = DATETIME.matcher(s);
        if (m.matches() && validDate(m.group(1))) {
            if (m.group(2) == null) return "Date";
            return m.group(3) == null ? "DateTime" : "DateTime64(" + Math.min(9, m.group(3).length() - 1) + ")";
        }
        return "String";
    }

    // ------------------------------------------------------------------ HTTP plumbing

    private void handle(HttpExchange ex) throws IOException {
        requests.increment();
        try {
            String path = ex.getRequestURI().getRawPath();
            String method = ex.getRequestMethod();
            String rawQuery = ex.getRequestURI().getRawQuery();
            if (rawQuery != null && rawQuery.length() > 8192) { // nginx in front of Tinybird
                sendText(ex, 414, "<html><head><title>414 Request-URI Too Large</title></head></html>\n", "text/html");
                return;
            }
            Map<String, List<String>> q = parseQuery(rawQuery);
            if (!path.equals("/v0/events")) { // the Events API applies its own, before or after storing the rows
                Fault fault = faults.pick(path);
                if (fault != null) {
                    faultsInjected.increment();
                    if (applyFault(ex, fault)) return;
                }
            }
            if (path.equals("/v0/events")) {
                events(ex, q);
            } else if (path.startsWith("/v0/pipes/")) {
                pipe(ex, q, path.substring("/v0/pipes/".length()));
            } else if (path.equals("/v0/pipes") || path.equals("/v0/pipes/")) {
                listPipes(ex, q);
            } else if (path.equals("/v0/datasources") && method.equals("POST")) {
                datasources(ex, q);
            } else if (path.equals("/v0/datasources") || path.startsWith("/v0/datasources/")) {
                describeDataSources(ex, q, path);
            } else if (path.equals("/v0/sql")) {
                sql(ex, q);
            } else if (path.equals("/tokens")) {
                ObjectNode o = JsonNodeFactory.instance.objectNode();
                o.put("user_token", userToken);
                o.put("admin_token", adminToken);
                o.put("workspace_admin_token", adminToken);
                sendJson(ex, 200, o);
            } else if (path.startsWith("/v0/jobs/")) {
                Token t = token(ex, q);
                if (t == null) {
                    sendJsonError(ex, 403, "invalid authentication token");
                    return;
                }
                ObjectNode o = JsonNodeFactory.instance.objectNode();
                o.put("id", path.substring("/v0/jobs/".length()));
                o.put("status", "done");
                sendJson(ex, 200, o);
            } else if (path.equals("/")) {
                sendText(ex, 200, "Tinybird emulator\n", "text/plain");
            } else {
                sendJsonError(ex, 404, "Not found");
            }
        } catch (BadRequest e) {
            sendJsonError(ex, e.status, e.getMessage());
        } catch (IOException e) {
            ex.close(); // client went away
        } catch (RuntimeException e) {
            try {
                sendText(ex, 500, "Internal server error: " + e + "\n", "text/plain");
            } catch (IOException ignored) {
                ex.close();
            }
        } finally {
            ex.close();
        }
    }

    /** A 4xx with a JSON error body (pipes, sql, datasources). */
    static final class BadRequest extends RuntimeException {
        final int status;

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    static Map<String, List<String>> parseQuery(String raw) {
        Map<String, List<String>> m = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) return m;
        for (String kv : raw.split("&")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            String k = dec(eq < 0 ? kv : kv.substring(0, eq));
            String v = eq < 0 ? "" : dec(kv.substring(eq + 1));
            m.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return m;
    }

    static String dec(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }

    static String first(Map<String, List<String>> q, String k) {
        List<String> v = q.get(k);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    private Token token(HttpExchange ex, Map<String, List<String>> q) {
        String v = first(q, "token");
        if (v == null) {
            String h = ex.getRequestHeaders().getFirst("Authorization");
            if (h != null && h.regionMatches(true, 0, "Bearer ", 0, 7)) v = h.substring(7).strip();
        }
        return v == null ? null : tokens.get(v);
    }

    static boolean has(Token t, String scope) {
        if (t.scopes.contains("ADMIN") || t.scopes.contains(scope)) return true;
        // DATASOURCES:APPEND (no name) = any data source
        int last = scope.lastIndexOf(':');
        return last > 0 && scope.indexOf(':') != last && t.scopes.contains(scope.substring(0, last));
    }

    static boolean canAppend(Token t, String ds) {
        return has(t, "DATASOURCES:APPEND:" + ds) || has(t, "DATASOURCES:CREATE");
    }

    static boolean canRead(Token t, String ds) {
        return has(t, "DATASOURCES:READ:" + ds) || has(t, "DATASOURCES:APPEND:" + ds) || has(t, "DATASOURCES:CREATE");
    }

    private void rateHeaders(HttpExchange ex, boolean limited) {
        Headers h = ex.getResponseHeaders();
        int limit = rateLimit > 0 ? rateLimit : 1000;
        int count;
        synchronized (rateLock) {
            count = rateCount;
        }
        h.set("X-RateLimit-Limit", Integer.toString(limit));
        h.set("X-RateLimit-Remaining", Integer.toString(Math.max(0, limit - count)));
        h.set("X-RateLimit-Reset", "1");
        if (limited) h.set("Retry-After", "1");
    }

    /** Counts the request in the current one-second window; true when over the limit. */
    private boolean overRate() {
        long sec = System.nanoTime() / 1_000_000_000L;
        synchronized (rateLock) {
            if (sec != rateWindow) {
                rateWindow = sec;
                rateCount = 0;
            }
            rateCount++;
            return rateLimit > 0 && rateCount > rateLimit;
        }
    }

    /** Reads what is left of the request body, so an early answer is not lost to a connection reset. */
    static void drain(HttpExchange ex) {
        try {
            ex.getRequestBody().transferTo(OutputStream.nullOutputStream());
        } catch (IOException ignored) {
            // the client went away
        }
    }

    private void sendText(HttpExchange ex, int code, String text, String type) throws IOException {
        drain(ex);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
        ex.sendResponseHeaders(code, b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(b);
            }
        }
    }

    private void sendJson(HttpExchange ex, int code, JsonNode n) throws IOException {
        drain(ex);
        byte[] b = Json.MAPPER.writeValueAsBytes(n);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(code, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    private void sendJsonError(HttpExchange ex, int code, String message) throws IOException {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("error", message);
        o.put("documentation", "https://www.tinybird.co/docs/api-reference");
        rateHeaders(ex, code == 429);
        sendJson(ex, code, o);
    }

    /** Reads the request body (inflating gzip by header or magic bytes), at most limit wire bytes; null when over. */
    private byte[] readBody(HttpExchange ex, long limit) throws IOException {
        InputStream raw = ex.getRequestBody();
        CountingInput counted = new CountingInput(raw, limit);
        PushbackInputStream in = new PushbackInputStream(counted, 2);
        byte[] head = in.readNBytes(2);
        if (head.length > 0) in.unread(head);
        String enc = ex.getRequestHeaders().getFirst("Content-Encoding");
        boolean gz = (enc != null && enc.toLowerCase(Locale.ROOT).contains("gzip"))
                || (head.length == 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b);
        try {
            byte[] wire = in.readAllBytes();
            bytesReceived.add(counted.count);
            return gz ? gunzip(wire) : wire;
        } catch (TooBig e) {
            bytesReceived.add(counted.count);
            return null;
        }
    }

    /** Inflates a gzip body into an array sized by the gzip trailer (ISIZE), so the rows are copied once. */
    static byte[] gunzip(byte[] wire) throws IOException {
        GZIPInputStream g = new GZIPInputStream(new java.io.ByteArrayInputStream(wire), 64 * 1024);
        int isize = wire.length >= 18 ? (wire[wire.length - 4] & 0xff) | (wire[wire.length - 3] & 0xff) << 8
                | (wire[wire.length - 2] & 0xff) << 16 | (wire[wire.length - 1] & 0xff) << 24 : -1;
        if (isize < 0 || isize > 256_000_000) return g.readAllBytes();
        byte[] out = new byte[isize];
        int n = g.readNBytes(out, 0, isize);
        int next = g.read();
        if (n == isize && next == -1) return out;
        // several gzip members (ISIZE is the last one's): the rest the slow way
        ByteArrayOutputStream bos = new ByteArrayOutputStream(Math.max(n * 2, 1024));
        bos.write(out, 0, n);
        if (next != -1) bos.write(next);
        g.transferTo(bos);
        return bos.toByteArray();
    }

    static final class TooBig extends IOException {
        TooBig() {
            super("request body over the limit");
        }
    }

    static final class CountingInput extends InputStream {
        final InputStream in;
        final long limit;
        long count;

        CountingInput(InputStream in, long limit) {
            this.in = in;
            this.limit = limit;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0 && ++count > limit) throw new TooBig();
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                count += n;
                if (count > limit) throw new TooBig();
            }
            return n;
        }
    }

    // ------------------------------------------------------------------ Events API

    private void events(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        eventsRequests.increment();
        if (!ex.getRequestMethod().equals("POST")) {
            rateHeaders(ex, false);
            sendText(ex, 405, "Method not allowed\n", "text/plain");
            return;
        }
        boolean limited = overRate();
        Token t = token(ex, q);
        if (t == null) {
            rateHeaders(ex, false);
            sendText(ex, 403, "Invalid token\n", "text/plain");
            return;
        }
        if (t.regionHost != null) {
            rateHeaders(ex, false);
            sendText(ex, 404, "Wrong region: this token belongs to a Workspace in another region. Use the API host "
                    + t.regionHost + "\n", "text/plain");
            return;
        }
        String name = first(q, "name");
        if (name == null || name.isBlank()) {
            rateHeaders(ex, false);
            sendText(ex, 400, "Missing 'name' parameter\n", "text/plain");
            return;
        }
        String format = first(q, "format");
        if (format != null && !format.equals("ndjson") && !format.equals("json")) {
            rateHeaders(ex, false);
            sendText(ex, 501, "Unimplemented format " + format, "text/plain");
            return;
        }
        if (limited) {
            rateLimited.increment();
            rateHeaders(ex, true);
            sendText(ex, 429, "Too many requests\n", "text/plain");
            return;
        }
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        if (cl != null) {
            try {
                if (Long.parseLong(cl.strip()) > maxRequestBytes) {
                    rateHeaders(ex, false);
                    drain(ex);
                    ex.sendResponseHeaders(413, -1);
                    return;
                }
            } catch (NumberFormatException ignored) {
                // let the read decide
            }
        }
        byte[] body = readBody(ex, maxRequestBytes);
        if (body == null) {
            rateHeaders(ex, false);
            drain(ex);
            ex.sendResponseHeaders(413, -1);
            return;
        }
        boolean wait = "true".equalsIgnoreCase(first(q, "wait"));
        Fault fault = faults.pick("/v0/events");
        if (fault != null && !fault.after) {
            faultsInjected.increment();
            if (applyFault(ex, fault)) return;
        }
        // split lines: [start, length] pairs
        int[] lp = new int[64];
        int nLines = 0;
        int start = 0;
        for (int i = 0; i <= body.length; i++) {
            if (i == body.length || body[i] == '\n') {
                int end = i;
                if (end > start && body[end - 1] == '\r') end--;
                int s0 = start;
                while (s0 < end && (body[s0] == ' ' || body[s0] == '\t')) s0++;
                if (end > s0) {
                    if (2 * nLines + 2 > lp.length) lp = Arrays.copyOf(lp, lp.length * 2);
                    lp[2 * nLines] = s0;
                    lp[2 * nLines + 1] = end - s0;
                    nLines++;
                }
                start = i + 1;
            }
        }
        List<int[]> lines = linesView(lp, nLines);
        rowsReceived.add(lines.size());
        DataSource ds = dataSources.get(name);
        if (ds == null) {
            if (noAutocreate || !has(t, "DATASOURCES:CREATE")) {
                rateHeaders(ex, false);
                sendText(ex, 403, "Invalid token for DS autocreation\n", "text/plain");
                return;
            }
            List<JsonNode> sample = new ArrayList<>();
            for (int[] l : lines) {
                if (sample.size() >= 100) break;
                try {
                    JsonNode n = Json.MAPPER.readTree(body, l[0], l[1]);
                    if (n instanceof ObjectNode) sample.add(n);
                } catch (IOException skip) {
                    // goes to quarantine below
                }
            }
            if (sample.isEmpty()) {
                rateHeaders(ex, false);
                sendText(ex, 400, "Cannot infer a schema: no valid JSON rows\n", "text/plain");
                return;
            }
            DataSource fresh = new DataSource(name, infer(sample), true);
            DataSource prev = dataSources.putIfAbsent(name, fresh);
            ds = prev == null ? fresh : prev;
        } else if (ds.builtin != null || !canAppend(t, name)) {
            rateHeaders(ex, false);
            sendText(ex, 403, "Invalid token\n", "text/plain");
            return;
        } else if (!ds.json) {
            rateHeaders(ex, false);
            sendText(ex, 400, "Data Source must be of type JSON\n", "text/plain");
            return;
        }
        String importId = randomHex();
        String[][] errors = validateAll(ds, body, lp, nLines);
        int[] goodPairs = new int[nLines * 2];
        int nGood = 0;
        List<byte[]> bad = new ArrayList<>();
        for (int i = 0; i < nLines; i++) {
            int off = lp[2 * i], len = lp[2 * i + 1];
            String[] err = errors != null ? errors[i] : validate(ds, body, off, len);
            if (err == null) {
                goodPairs[2 * nGood] = off;
                goodPairs[2 * nGood + 1] = len;
                nGood++;
            } else {
                bad.add(quarantineRow(ds, body, off, len, err, importId));
            }
        }
        ds.append(new Segment(body, goodPairs, nGood));
        if (!bad.isEmpty()) quarantineOf(ds).append(bad);
        rowsStored.add(nGood);
        rowsQuarantined.add(bad.size());
        if (fault != null && fault.after) {
            faultsInjected.increment();
            if (applyFault(ex, fault)) return;
        }
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("successful_rows", nGood);
        o.put("quarantined_rows", bad.size());
        rateHeaders(ex, false);
        sendJson(ex, wait ? 200 : 202, o);
    }

    /** Applies a fault; true when the answer has been given (or the connection dropped). */
    private boolean applyFault(HttpExchange ex, Fault f) throws IOException {
        switch (f.kind) {
            case DELAY -> {
                try {
                    Thread.sleep(f.delay.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            }
            case DROP -> {
                ex.close(); // no response headers sent: the connection is closed
                return true;
            }
            default -> {
                int code = f.status;
                rateHeaders(ex, code == 429);
                if (code == 429 && f.retryAfterSeconds >= 0) ex.getResponseHeaders().set("Retry-After", Integer.toString(f.retryAfterSeconds));
                if (code == 429 && f.retryAfterSeconds < 0) ex.getResponseHeaders().remove("Retry-After"); // X-RateLimit-Reset only
                String text = switch (code) {
                    case 429 -> "Too many requests\n";
                    case 503 -> "Service temporarily unavailable, no data ingested, please retry again\n";
                    case 500 -> "Internal server error\n";
                    case 422 -> "Partially done: the rows were written to the Data Source but a Materialized View failed\n";
                    default -> "Injected fault " + code + "\n";
                };
                sendText(ex, code, text, "text/plain");
                return true;
            }
        }
    }

    // ------------------------------------------------------------------ pipes

    /** A pipe computed in code: params -> result. Throw {@link BadRequest} (400) for a bad parameter. */
    @FunctionalInterface
    public interface Pipe {
        PipeResult run(Params params);
    }

    /** A pipe's answer: columns (name, ClickHouse type), rows as Object[] (String, Number, Boolean, LocalDateTime,
     * List, JsonNode, null), rows_before_limit_at_least (null without LIMIT), rows and bytes read for statistics. */
    public record PipeResult(List<String[]> meta, Iterator<Object[]> rows, Long rowsBeforeLimit, long rowsRead, long bytesRead) {
        /** meta as "name Type" strings. */
        public static PipeResult of(List<String> columns, Iterator<Object[]> rows) {
            List<String[]> m = new ArrayList<>();
            for (String c : columns) {
                int sp = c.indexOf(' ');
                m.add(new String[] {c.substring(0, sp), c.substring(sp + 1).strip()});
            }
            return new PipeResult(m, rows, null, 0, 0);
        }
    }

    /** A pipe's parameters with typed access; every error is a 400 with Tinybird's JSON error body. */
    public static final class Params {
        final Map<String, List<String>> values;

        Params(Map<String, List<String>> values) {
            this.values = values;
        }

        public String string(String name, String def) {
            String v = first(values, name);
            return v == null ? def : v;
        }

        public String required(String name) {
            String v = first(values, name);
            if (v == null) throw new BadRequest(400, "[Error] Missing columns: '" + name + "' while processing query: the parameter '" + name + "' is required");
            return v;
        }

        public List<String> list(String name) {
            return values.getOrDefault(name, List.of());
        }

        public long integer(String name, long def) {
            String v = first(values, name);
            if (v == null) return def;
            try {
                return Long.parseLong(v.strip());
            } catch (NumberFormatException e) {
                throw new BadRequest(400, "Template Syntax Error: Error validating '" + abbreviate(v) + "' to type Int32 for parameter '" + name + "'");
            }
        }

        public LocalDateTime dateTime(String name, LocalDateTime def) {
            String v = first(values, name);
            if (v == null || v.isBlank()) return def;
            Matcher m = DATETIME.matcher(v.strip());
            if (!m.matches() || !validDate(m.group(1))) {
                throw new BadRequest(400, "Template Syntax Error: Error validating '" + abbreviate(v) + "' to type DateTime for parameter '" + name + "'");
            }
            String time = m.group(2) == null ? "00:00:00" : m.group(2).length() == 5 ? m.group(2) + ":00" : m.group(2);
            LocalDateTime t = LocalDateTime.parse(m.group(1) + "T" + time);
            if (m.group(4) != null) t = OffsetDateTime.of(t, ZoneOffset.of(m.group(4).equals("Z") ? "Z" : m.group(4).length() == 5 ? m.group(4).substring(0, 3) + ":" + m.group(4).substring(3) : m.group(4)))
                    .withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
            return t;
        }
    }

    private void listPipes(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        Token t = token(ex, q);
        if (t == null) throw new BadRequest(403, "invalid authentication token");
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        ArrayNode a = o.putArray("pipes");
        new java.util.TreeSet<>(pipes.keySet()).forEach(n -> a.addObject().put("name", n));
        sendJson(ex, 200, o);
    }

    private void pipe(HttpExchange ex, Map<String, List<String>> q, String rest) throws IOException {
        if (ex.getRequestMethod().equals("POST")) {
            String ct = ex.getRequestHeaders().getFirst("Content-Type");
            byte[] body = ex.getRequestBody().readAllBytes();
            if (ct == null || ct.contains("x-www-form-urlencoded")) {
                parseQuery(new String(body, StandardCharsets.UTF_8)).forEach((k, v) -> q.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
            }
        }
        Token t = token(ex, q);
        int dot = rest.lastIndexOf('.');
        String name = dec(dot < 0 ? rest : rest.substring(0, dot));
        String format = dot < 0 ? "json" : rest.substring(dot + 1);
        if (t == null) throw new BadRequest(403, "invalid authentication token");
        if (t.regionHost != null) throw new BadRequest(404, "Wrong region: this token belongs to a Workspace in another region. Use the API host " + t.regionHost);
        Pipe p = pipes.get(name);
        if (p == null) throw new BadRequest(404, "The pipe '" + name + "' does not exist");
        if (!has(t, "PIPES:READ:" + name)) throw new BadRequest(403, "invalid authentication token");
        if (!List.of("json", "ndjson", "csv").contains(format)) throw new BadRequest(400, "Unsupported format '" + format + "' (emulator: json, ndjson, csv)");
        q.remove("token");
        long t0 = System.nanoTime();
        PipeResult r = p.run(new Params(q));
        String sqlq = first(q, "q");
        if (sqlq != null) r = pipeQuery(r, sqlq);
        writeResult(ex, r, format, t0);
    }

    /** q= over a pipe's result: only "select count() from _" and "select * from _ [limit n]". */
    private static PipeResult pipeQuery(PipeResult r, String q) {
        String s = q.strip().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
        if (s.matches("select count\\(\\) from _( format json)?")) {
            long n = 0;
            while (r.rows.hasNext()) {
                r.rows.next();
                n++;
            }
            return new PipeResult(List.<String[]>of(new String[] {"count()", "UInt64"}), List.<Object[]>of(new Object[] {n}).iterator(), null, r.rowsRead, r.bytesRead);
        }
        Matcher m = Pattern.compile("select \\* from _(?: limit (\\d+))?( format json)?").matcher(s);
        if (m.matches()) {
            if (m.group(1) == null) return r;
            long lim = Long.parseLong(m.group(1));
            List<Object[]> rows = new ArrayList<>();
            long total = 0;
            while (r.rows.hasNext()) {
                Object[] row = r.rows.next();
                if (total++ < lim) rows.add(row);
            }
            return new PipeResult(r.meta, rows.iterator(), total, r.rowsRead, r.bytesRead);
        }
        throw new BadRequest(400, "[Error] the emulator supports only 'select count() from _' and 'select * from _ [limit N]' in q=");
    }

    private void writeResult(HttpExchange ex, PipeResult r, String format, long t0) throws IOException {
        Headers h = ex.getResponseHeaders();
        h.set("Content-Type", switch (format) {
            case "csv" -> "text/csv; charset=utf-8";
            case "ndjson" -> "application/x-ndjson; charset=utf-8";
            default -> "application/json";
        });
        rateHeaders(ex, false);
        ex.sendResponseHeaders(200, 0);
        try (OutputStream os = new BufferedOutputStream(ex.getResponseBody(), 64 * 1024)) {
            if (format.equals("csv")) {
                StringBuilder sb = new StringBuilder();
                while (r.rows.hasNext()) {
                    Object[] row = r.rows.next();
                    sb.setLength(0);
                    for (int i = 0; i < row.length; i++) {
                        if (i > 0) sb.append(',');
                        Object v = row[i];
                        if (v == null) sb.append("\\N");
                        else if (v instanceof Number || v instanceof Boolean) sb.append(v);
                        else sb.append('"').append(text(v).replace("\"", "\"\"")).append('"');
                    }
                    sb.append('\n');
                    os.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                }
                return;
            }
            JsonGenerator g = Json.FACTORY.createGenerator(os);
            if (format.equals("ndjson")) {
                g.setRootValueSeparator(new com.fasterxml.jackson.core.io.SerializedString("\n"));
                while (r.rows.hasNext()) {
                    writeRow(g, r.meta, r.rows.next());
                }
                g.writeRaw('\n');
                g.flush();
                return;
            }
            g.writeStartObject();
            g.writeArrayFieldStart("meta");
            for (String[] c : r.meta) {
                g.writeStartObject();
                g.writeStringField("name", c[0]);
                g.writeStringField("type", c[1]);
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeArrayFieldStart("data");
            long n = 0;
            while (r.rows.hasNext()) {
                writeRow(g, r.meta, r.rows.next());
                n++;
            }
            g.writeEndArray();
            g.writeNumberField("rows", n);
            if (r.rowsBeforeLimit != null) g.writeNumberField("rows_before_limit_at_least", r.rowsBeforeLimit);
            g.writeObjectFieldStart("statistics");
            g.writeNumberField("elapsed", (System.nanoTime() - t0) / 1e9);
            g.writeNumberField("rows_read", Math.max(r.rowsRead, n));
            g.writeNumberField("bytes_read", r.bytesRead);
            g.writeEndObject();
            g.writeEndObject();
            g.flush();
        }
    }

    private static void writeRow(JsonGenerator g, List<String[]> meta, Object[] row) throws IOException {
        g.writeStartObject();
        for (int i = 0; i < meta.size(); i++) {
            g.writeFieldName(meta.get(i)[0]);
            writeValue(g, row[i]);
        }
        g.writeEndObject();
    }

    private static void writeValue(JsonGenerator g, Object v) throws IOException {
        if (v == null) g.writeNull();
        else if (v instanceof String s) g.writeString(s);
        else if (v instanceof Integer i) g.writeNumber(i);
        else if (v instanceof Long l) g.writeNumber(l);
        else if (v instanceof Float f) g.writeNumber(f);
        else if (v instanceof Double d) g.writeNumber(d);
        else if (v instanceof Number n) g.writeNumber(n.toString());
        else if (v instanceof Boolean b) g.writeBoolean(b);
        else if (v instanceof LocalDateTime t) g.writeString(t.format(DT));
        else if (v instanceof JsonNode n) Json.MAPPER.writeTree(g, n);
        else if (v instanceof List<?> l) {
            g.writeStartArray();
            for (Object x : l) writeValue(g, x);
            g.writeEndArray();
        } else g.writeString(v.toString());
    }

    private static String text(Object v) {
        if (v instanceof LocalDateTime t) return t.format(DT);
        if (v instanceof JsonNode n) return n.isValueNode() ? n.asText() : n.toString();
        return v.toString();
    }

    // ------------------------------------------------------------------ Data Sources API

    private void datasources(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        Token t = token(ex, q);
        if (t == null) throw new BadRequest(403, "invalid authentication token");
        String mode = first(q, "mode") == null ? "create" : first(q, "mode");
        String name = first(q, "name");
        String format = first(q, "format") == null ? "csv" : first(q, "format");
        if (!List.of("create", "append", "replace").contains(mode)) throw new BadRequest(400, "Invalid mode '" + mode + "': use create, append or replace");
        if (name == null || name.isBlank()) throw new BadRequest(400, "Missing 'name' parameter");
        if (mode.equals("create") ? !has(t, "DATASOURCES:CREATE") : !canAppend(t, name)) throw new BadRequest(403, "invalid authentication token");
        String ct = ex.getRequestHeaders().getFirst("Content-Type");
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        boolean multipart = ct != null && ct.toLowerCase(Locale.ROOT).startsWith("multipart/form-data");
        byte[] data;
        if (multipart) {
            byte[] body = readBody(ex, 500_000_000L);
            if (body == null) throw new BadRequest(413, "The file is too big: 500 MB is the limit for a multipart upload");
            Matcher bm = Pattern.compile("boundary=\"?([^\";]+)\"?").matcher(ct);
            if (!bm.find()) throw new BadRequest(400, "multipart body without a boundary");
            Part part = multipartPart(body, bm.group(1));
            if (part == null) throw new BadRequest(400, "No file part: send the file as a multipart part named csv, ndjson or parquet");
            if (part.name.equals("parquet")) throw new BadRequest(400, "The emulator does not read Parquet");
            if (first(q, "format") == null && part.name.equals("ndjson")) format = "ndjson";
            data = part.data;
        } else {
            if (cl == null) {
                rateHeaders(ex, false);
                sendJsonError(ex, 411, "Length Required: send the body with a Content-Length, or use a multipart upload");
                return;
            }
            byte[] body = readBody(ex, 8_000_000L);
            if (body == null) throw new BadRequest(413, "The body is too big: 8 MB is the limit without multipart; use a multipart upload");
            data = body;
        }
        if (!format.equals("csv") && !format.equals("ndjson")) throw new BadRequest(400, "Unsupported format '" + format + "' (emulator: csv, ndjson)");
        String schema = first(q, "schema");
        DataSource ds = dataSources.get(name);
        if (mode.equals("create")) {
            if (ds != null) throw new BadRequest(409, "Data Source '" + name + "' already exists");
            List<Col> cols;
            if (schema != null && !schema.isBlank()) {
                try {
                    cols = parseSchema(schema);
                } catch (IllegalArgumentException e) {
                    throw new BadRequest(400, "Invalid schema: " + e.getMessage());
                }
            } else if (format.equals("ndjson")) {
                List<JsonNode> sample = new ArrayList<>();
                for (String line : new String(data, StandardCharsets.UTF_8).split("\n")) {
                    if (line.isBlank()) continue;
                    if (sample.size() >= 100) break;
                    try {
                        JsonNode n = Json.MAPPER.readTree(line);
                        if (n instanceof ObjectNode) sample.add(n);
                    } catch (IOException skip) {
                        // counted as invalid below
                    }
                }
                if (sample.isEmpty()) throw new BadRequest(400, "Cannot infer a schema: no valid NDJSON rows");
                cols = infer(sample);
            } else {
                cols = inferCsv(data);
            }
            boolean json = format.equals("ndjson") && cols.stream().allMatch(c -> c.path != null);
            ds = new DataSource(name, cols, json);
            DataSource prev = dataSources.putIfAbsent(name, ds);
            if (prev != null) throw new BadRequest(409, "Data Source '" + name + "' already exists");
        } else {
            if (ds == null) throw new BadRequest(404, "Data Source '" + name + "' does not exist");
            if (ds.builtin != null) throw new BadRequest(403, "invalid authentication token");
            if (mode.equals("replace")) {
                ds.clear();
                DataSource qd = dataSources.get(name + "_quarantine");
                if (qd != null) qd.clear();
            }
        }
        String importId = randomHex();
        long[] counts = format.equals("csv") ? importCsv(ds, data, importId) : importNdjson(ds, data, importId);
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", importId);
        o.put("import_id", importId);
        o.put("job_id", importId);
        ObjectNode d = o.putObject("datasource");
        d.put("id", ds.id);
        d.put("name", ds.name);
        o.put("quarantine_rows", counts[1]);
        o.put("invalid_lines", counts[2]);
        if (counts[1] > 0 || counts[2] > 0) {
            o.put("error", "There was an error with file contents: " + counts[1] + " rows in quarantine and " + counts[2] + " invalid lines.");
        } else {
            o.put("error", false);
        }
        importCounter.incrementAndGet();
        rateHeaders(ex, false);
        sendJson(ex, 200, o);
    }

    record Part(String name, byte[] data) {}

    static Part multipartPart(byte[] body, String boundary) {
        byte[] delim = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        int pos = indexOf(body, delim, 0);
        while (pos >= 0) {
            int headStart = pos + delim.length;
            if (headStart + 2 <= body.length && body[headStart] == '-' && body[headStart + 1] == '-') return null;
            int headEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), headStart);
            if (headEnd < 0) return null;
            String headers = new String(body, headStart, headEnd - headStart, StandardCharsets.UTF_8);
            int dataStart = headEnd + 4;
            int next = indexOf(body, ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1), dataStart);
            if (next < 0) return null;
            Matcher m = Pattern.compile("(?i)name=\"([^\"]*)\"").matcher(headers);
            if (m.find() && List.of("csv", "ndjson", "parquet").contains(m.group(1))) {
                return new Part(m.group(1), Arrays.copyOfRange(body, dataStart, next));
            }
            pos = next + 2;
        }
        return null;
    }

    static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    /** [stored, quarantined, invalid] */
    private long[] importNdjson(DataSource ds, byte[] data, String importId) {
        List<byte[]> good = new ArrayList<>();
        List<byte[]> bad = new ArrayList<>();
        long invalid = 0;
        int start = 0;
        for (int i = 0; i <= data.length; i++) {
            if (i == data.length || data[i] == '\n') {
                int end = i;
                if (end > start && data[end - 1] == '\r') end--;
                if (end > start && !new String(data, start, end - start, StandardCharsets.UTF_8).isBlank()) {
                    String[] err = validate(ds, data, start, end - start);
                    if (err == null) good.add(Arrays.copyOfRange(data, start, end));
                    else if (err[1].startsWith("invalid JSON") || err[1].startsWith("row is not")) invalid++;
                    else bad.add(quarantineRow(ds, data, start, end - start, err, importId));
                }
                start = i + 1;
            }
        }
        ds.append(good);
        if (!bad.isEmpty()) quarantineOf(ds).append(bad);
        rowsStored.add(good.size());
        rowsQuarantined.add(bad.size());
        return new long[] {good.size(), bad.size(), invalid};
    }

    static List<List<String>> parseCsv(String text) {
        List<List<String>> out = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder f = new StringBuilder();
        boolean quoted = false, any = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"') {
                    if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
                        f.append('"');
                        i++;
                    } else quoted = false;
                } else f.append(c);
            } else if (c == '"') {
                quoted = true;
                any = true;
            } else if (c == ',') {
                row.add(f.toString());
                f.setLength(0);
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') i++;
                if (any || f.length() > 0) {
                    row.add(f.toString());
                    out.add(row);
                }
                row = new ArrayList<>();
                f.setLength(0);
                any = false;
            } else {
                f.append(c);
                any = true;
            }
        }
        if (any || f.length() > 0) {
            row.add(f.toString());
            out.add(row);
        }
        return out;
    }

    static List<Col> inferCsv(byte[] data) {
        List<List<String>> rows = parseCsv(new String(data, 0, Math.min(data.length, 1 << 20), StandardCharsets.UTF_8));
        if (rows.isEmpty()) throw new BadRequest(400, "Cannot infer a schema from an empty file");
        List<String> header = rows.get(0);
        List<String> sample = rows.size() > 1 ? rows.get(1) : null;
        List<Col> cols = new ArrayList<>();
        for (int i = 0; i < header.size(); i++) {
            String n = header.get(i).strip().replaceAll("[^A-Za-z0-9_]", "_");
            if (n.isEmpty() || Character.isDigit(n.charAt(0))) n = "c_" + n;
            String v = sample != null && i < sample.size() ? sample.get(i) : "";
            String type = v.matches("-?\\d{1,18}") ? "Int64" : v.matches("-?\\d*\\.\\d+([eE][-+]?\\d+)?") ? "Float64" : textType(v);
            cols.add(new Col(n, type, null));
        }
        return cols;
    }

    private long[] importCsv(DataSource ds, byte[] data, String importId) {
        List<List<String>> rows = parseCsv(new String(data, StandardCharsets.UTF_8));
        List<byte[]> good = new ArrayList<>();
        List<byte[]> bad = new ArrayList<>();
        long invalid = 0;
        for (int r = 0; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            if (r == 0 && row.size() == ds.cols.size()) {
                boolean header = true;
                for (int i = 0; i < row.size(); i++) {
                    if (!row.get(i).strip().replaceAll("[^A-Za-z0-9_]", "_").equalsIgnoreCase(ds.cols.get(i).name)) header = false;
                }
                if (header) continue;
            }
            if (row.size() != ds.cols.size()) {
                invalid++;
                continue;
            }
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            String[] err = null;
            for (int i = 0; i < row.size(); i++) {
                Col c = ds.cols.get(i);
                String v = row.get(i);
                JsonNode node = csvValue(c, v);
                if (node == null) {
                    err = new String[] {c.name, "cannot parse " + c.base + " from '" + abbreviate(v) + "'"};
                    break;
                }
                o.set(c.path == null ? c.name : c.pathParts.length == 0 ? c.name : c.pathParts[c.pathParts.length - 1], node);
            }
            try {
                if (err == null) good.add(Json.MAPPER.writeValueAsBytes(o));
                else {
                    ObjectNode raw = JsonNodeFactory.instance.objectNode();
                    for (int i = 0; i < row.size(); i++) raw.put(ds.cols.get(i).name, row.get(i));
                    byte[] rb = Json.MAPPER.writeValueAsBytes(raw);
                    bad.add(quarantineRow(new DataSource(ds.name, ds.cols.stream().map(c -> new Col(c.name, "String", null)).toList(), false), rb, 0, rb.length, err, importId));
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        ds.append(good);
        if (!bad.isEmpty()) quarantineOf(ds).append(bad);
        rowsStored.add(good.size());
        rowsQuarantined.add(bad.size());
        return new long[] {good.size(), bad.size(), invalid};
    }

    /** A CSV field as a JSON value of the column's type, or null when it doesn't parse. */
    static JsonNode csvValue(Col c, String v) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if ((v.isEmpty() || v.equals("\\N")) && c.nullable) return f.nullNode();
        String b = c.base;
        try {
            if (b.matches("U?Int(8|16|32|64)")) {
                JsonParser p = Json.FACTORY.createParser(v.strip());
                p.nextToken();
                if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || check(c, p) != null) return null;
                return f.numberNode(Long.parseLong(v.strip()));
            }
            if (b.startsWith("Float") || b.startsWith("Decimal")) return f.numberNode(Double.parseDouble(v.strip()));
            if (b.equals("Bool")) {
                if (v.equalsIgnoreCase("true") || v.equals("1")) return f.booleanNode(true);
                if (v.equalsIgnoreCase("false") || v.equals("0")) return f.booleanNode(false);
                return null;
            }
            if (b.startsWith("Date")) {
                Matcher m = DATETIME.matcher(v.strip());
                return m.matches() && validDate(m.group(1)) ? f.textNode(v.strip()) : null;
            }
            if (b.startsWith("Array") || b.startsWith("Map") || b.startsWith("JSON")) return Json.MAPPER.readTree(v);
            return f.textNode(v);
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

    private void describeDataSources(HttpExchange ex, Map<String, List<String>> q, String path) throws IOException {
        Token t = token(ex, q);
        if (t == null) throw new BadRequest(403, "invalid authentication token");
        if (path.startsWith("/v0/datasources/")) {
            String name = dec(path.substring("/v0/datasources/".length()));
            DataSource ds = dataSources.get(name);
            if (ds == null) throw new BadRequest(404, "Data Source '" + name + "' does not exist");
            sendJson(ex, 200, describe(ds));
            return;
        }
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        ArrayNode a = o.putArray("datasources");
        new java.util.TreeMap<>(dataSources).values().forEach(ds -> a.add(describe(ds)));
        sendJson(ex, 200, o);
    }

    private ObjectNode describe(DataSource ds) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", ds.id);
        o.put("name", ds.name);
        ArrayNode cols = o.putObject("schema").putArray("columns");
        for (Col c : ds.cols) {
            ObjectNode co = cols.addObject();
            co.put("name", c.name);
            co.put("type", c.type);
            co.put("nullable", c.nullable);
            if (c.path != null) co.put("jsonpath", c.path);
        }
        o.putObject("statistics").put("row_count", rowCount(ds.name));
        return o;
    }

    // ------------------------------------------------------------------ Query API

    static final Pattern SELECT = Pattern.compile(
            "(?is)\\s*select\\s+(.+?)\\s+from\\s+`?([A-Za-z_][A-Za-z0-9_]*)`?(?:\\s+where\\s+(.+?))?(?:\\s+order\\s+by\\s+(.+?))?"
                    + "(?:\\s+limit\\s+(\\d+))?(?:\\s+format\\s+(\\w+))?\\s*;?\\s*");
    static final Pattern COND = Pattern.compile(
            "(?is)\\s*(lower\\()?`?([A-Za-z_][A-Za-z0-9_]*)`?\\)?\\s*(=|!=|<>|<=|>=|<|>)\\s*('(?:[^'\\\\]|\\\\.|'')*'|-?[0-9.]+)\\s*");

    private void sql(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        String query = first(q, "q");
        if (query == null && ex.getRequestMethod().equals("POST")) {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String ct = ex.getRequestHeaders().getFirst("Content-Type");
            if (ct != null && ct.contains("x-www-form-urlencoded")) query = first(parseQuery(body), "q");
            else if (!body.isBlank()) query = body;
        }
        Token t = token(ex, q);
        if (t == null) throw new BadRequest(403, "invalid authentication token");
        if (query == null || query.isBlank()) throw new BadRequest(400, "missing q parameter. example q=select%201");
        long t0 = System.nanoTime();
        String qs = query.strip();
        Matcher one = Pattern.compile("(?is)select\\s+(-?\\d+)(?:\\s+format\\s+(\\w+))?\\s*;?").matcher(qs);
        if (one.matches()) {
            PipeResult r = new PipeResult(List.<String[]>of(new String[] {one.group(1), "UInt8"}),
                    List.<Object[]>of(new Object[] {Long.parseLong(one.group(1))}).iterator(), null, 1, 1);
            writeResult(ex, r, sqlFormat(one.group(2)), t0);
            return;
        }
        Matcher m = SELECT.matcher(qs);
        if (!m.matches()) throw new BadRequest(400, "[Error] the emulator's SQL is: SELECT cols|*|count() FROM ds [WHERE c = 'x' AND ...] [ORDER BY c [DESC], ...] [LIMIT n] [FORMAT JSON]");
        String dsName = m.group(2);
        DataSource ds = dataSources.get(dsName);
        if (ds == null) throw new BadRequest(404, "[Error] Resource '" + dsName + "' not found");
        if (!canRead(t, dsName)) throw new BadRequest(403, "[Error] Not enough permissions to read datasource '" + dsName + "'");
        String format = sqlFormat(m.group(6));
        // rows as column maps, streamed; filtered on the fly; collected only for ORDER BY and the LIMIT's rows
        java.util.function.Predicate<Map<String, Object>> where = r -> true;
        if (m.group(3) != null) {
            for (String cond : m.group(3).split("(?i)\\s+and\\s+")) {
                Matcher cm = COND.matcher(cond);
                if (!cm.matches()) throw new BadRequest(400, "[Error] the emulator's WHERE supports col op literal joined by AND, got: " + cond);
                boolean lower = cm.group(1) != null;
                String col = cm.group(2);
                if (ds.cols.stream().noneMatch(c -> c.name.equals(col))) throw new BadRequest(400, "[Error] Missing columns: '" + col + "'");
                String op = cm.group(3);
                String lit = cm.group(4);
                Object value = lit.startsWith("'") ? lit.substring(1, lit.length() - 1).replace("''", "'").replace("\\'", "'") : Double.parseDouble(lit);
                where = where.and(r -> compare(r.get(col), value, op, lower));
            }
        }
        String sel = m.group(1).strip();
        boolean count = sel.replaceAll("\\s", "").equalsIgnoreCase("count()");
        long limit = m.group(5) == null ? Long.MAX_VALUE : Long.parseLong(m.group(5));
        long read;
        long bytesRead = 0;
        long matched = 0;
        List<Map<String, Object>> rows = new ArrayList<>();
        boolean sortLater = m.group(4) != null;
        if (ds.builtin != null && count && m.group(3) == null) {
            read = matched = ds.builtin.rows();
        } else {
            Iterator<Map<String, Object>> source;
            if (ds.builtin != null) {
                Weather w = ds.builtin;
                source = new Iterator<>() {
                    long i = 0;
                    public boolean hasNext() { return i < w.rows(); }
                    public Map<String, Object> next() { return w.rowMap(i++); }
                };
                read = w.rows();
            } else {
                List<byte[]> snap = ds.snapshot();
                read = snap.size();
                for (byte[] b : snap) bytesRead += b.length;
                Iterator<byte[]> it = snap.iterator();
                source = new Iterator<>() {
                    public boolean hasNext() { return it.hasNext(); }
                    public Map<String, Object> next() {
                        try {
                            JsonNode n = Json.MAPPER.readTree(it.next());
                            Map<String, Object> r = new LinkedHashMap<>();
                            for (Col c : ds.cols) r.put(c.name, normalize(c, at(n, c)));
                            return r;
                        } catch (IOException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                };
            }
            while (source.hasNext()) {
                Map<String, Object> r = source.next();
                if (!where.test(r)) continue;
                matched++;
                if (!count && (sortLater || rows.size() < limit)) rows.add(r);
            }
        }
        if (sortLater && !count) {
            Comparator<Map<String, Object>> cmp = null;
            for (String part : m.group(4).split(",")) {
                String[] w = part.strip().split("\\s+");
                String col = w[0].replace("`", "");
                boolean desc = w.length > 1 && w[1].equalsIgnoreCase("desc");
                Comparator<Map<String, Object>> c = (a, b) -> compareValues(a.get(col), b.get(col));
                if (desc) c = c.reversed();
                cmp = cmp == null ? c : cmp.thenComparing(c);
            }
            rows.sort(cmp);
            if (rows.size() > limit) rows = rows.subList(0, (int) limit);
        }
        Long before = m.group(5) == null ? null : matched;
        PipeResult r;
        if (count) {
            r = new PipeResult(List.<String[]>of(new String[] {"count()", "UInt64"}), List.<Object[]>of(new Object[] {matched}).iterator(), null, read, bytesRead);
        } else {
            List<Col> outCols = new ArrayList<>();
            if (sel.equals("*")) outCols.addAll(ds.cols);
            else {
                for (String s : sel.split(",")) {
                    String n = s.strip().replace("`", "");
                    Col c = ds.cols.stream().filter(x -> x.name.equals(n)).findFirst()
                            .orElseThrow(() -> new BadRequest(400, "[Error] Missing columns: '" + n + "'"));
                    outCols.add(c);
                }
            }
            List<String[]> meta = outCols.stream().map(c -> new String[] {c.name, c.type}).toList();
            List<Object[]> out = new ArrayList<>(rows.size());
            for (Map<String, Object> row : rows) {
                Object[] o = new Object[outCols.size()];
                for (int i = 0; i < o.length; i++) o[i] = row.get(outCols.get(i).name);
                out.add(o);
            }
            r = new PipeResult(meta, out.iterator(), before, read, bytesRead);
        }
        writeResult(ex, r, format, t0);
    }

    static String sqlFormat(String f) {
        if (f == null || f.equalsIgnoreCase("JSON")) return "json";
        if (f.equalsIgnoreCase("JSONEachRow")) return "ndjson";
        if (f.equalsIgnoreCase("CSV")) return "csv";
        throw new BadRequest(400, "[Error] the emulator's FORMAT is JSON, JSONEachRow or CSV");
    }

    /** A stored JSON value as the column's output value (DateTime normalised to YYYY-MM-DD HH:MM:SS). */
    static Object normalize(Col c, JsonNode v) {
        if (v == null || v.isNull() || v.isMissingNode()) return null;
        if (c.base.startsWith("DateTime") && v.isTextual()) {
            Matcher m = DATETIME.matcher(v.asText().strip());
            if (m.matches()) {
                String time = m.group(2) == null ? "00:00:00" : m.group(2).length() == 5 ? m.group(2) + ":00" : m.group(2);
                String frac = c.base.startsWith("DateTime64") && m.group(3) != null ? m.group(3) : "";
                return m.group(1) + " " + time + frac;
            }
        }
        if (v.isIntegralNumber()) return v.asLong();
        if (v.isNumber()) return v.asDouble();
        if (v.isTextual()) return v.asText();
        if (v.isBoolean()) return v.asBoolean();
        return v;
    }

    static boolean compare(Object a, Object lit, String op, boolean lower) {
        if (a == null) return false;
        int c;
        if (lit instanceof Double d) {
            if (!(a instanceof Number n)) return false;
            c = Double.compare(n.doubleValue(), d);
        } else {
            String s = a instanceof LocalDateTime t ? t.format(DT) : a.toString();
            if (lower) s = s.toLowerCase(Locale.ROOT);
            c = s.compareTo((String) lit);
        }
        return switch (op) {
            case "=" -> c == 0;
            case "!=", "<>" -> c != 0;
            case "<" -> c < 0;
            case "<=" -> c <= 0;
            case ">" -> c > 0;
            default -> c >= 0;
        };
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static int compareValues(Object a, Object b) {
        if (a == null || b == null) return a == null ? (b == null ? 0 : -1) : 1;
        if (a instanceof Number x && b instanceof Number y) return Double.compare(x.doubleValue(), y.doubleValue());
        if (a instanceof Comparable ca && a.getClass() == b.getClass()) return ca.compareTo(b);
        return a.toString().compareTo(b.toString());
    }

    // ------------------------------------------------------------------ the weather demo data

    /**
     * The weather demo data, a pure function of (seed, time step, city): 174 US cities, one report every 4 hours from
     * 2023-05-01 00:00:00 for 365 days, in (timestamp, site_name) order. Nothing is kept in memory.
     */
    static final class Weather {
        static final String SCHEMA = "`clouds` Int8 `json:$.clouds`, `description` String `json:$.description`, "
                + "`humidity` Int8 `json:$.humidity`, `precip` Float32 `json:$.precip`, `pressure` Int8 `json:$.pressure`, "
                + "`site_name` String `json:$.site_name`, `temp_f` Float32 `json:$.temp_f`, `timestamp` DateTime `json:$.timestamp`, "
                + "`wind_dir` Int8 `json:$.wind_dir`, `wind_speed` Float32 `json:$.wind_speed`";
        static final List<String> COLUMNS = List.of("clouds Int8", "description String", "humidity Int8", "precip Float32",
                "pressure Int8", "site_name String", "temp_f Float32", "timestamp DateTime", "wind_dir Int8", "wind_speed Float32");
        static final LocalDateTime START = WeatherReports.START;
        static final int STEP_HOURS = WeatherReports.STEP_HOURS;
        static final int STEPS = 365 * 24 / STEP_HOURS;
        static final String[] CITIES = WeatherReports.CITIES;
        static final String[] DESCRIPTIONS = {"clear sky", "few clouds", "scattered clouds", "broken clouds", "overcast clouds",
                "mist", "light rain", "moderate rain", "heavy intensity rain", "thunderstorm", "light snow", "snow"};

        final long seed;
        final double[][] climate; // per city: mean temperature, wetness

        Weather(long seed) {
            this.seed = seed;
            climate = new double[CITIES.length][];
            for (int i = 0; i < CITIES.length; i++) climate[i] = WeatherReports.climate(seed, CITIES[i]);
        }

        long rows() {
            return (long) STEPS * CITIES.length;
        }

        static LocalDateTime time(int step) {
            return WeatherReports.time(step);
        }

        /** step of the last report at or before t (may be -1 or past the end). */
        static int stepAtOrBefore(LocalDateTime t) {
            long h = Duration.between(START, t).toHours();
            if (t.isBefore(START)) return -1;
            return (int) Math.min(Integer.MAX_VALUE, h / STEP_HOURS);
        }

        /** The row (in schema order) of time step s and city c. */
        Object[] row(int s, int c) {
            WeatherReports.Report w = WeatherReports.report(seed, s, c, climate[c]);
            return new Object[] {w.clouds(), w.description(), w.humidity(), w.precip(), w.pressure(), CITIES[c], w.tempF(),
                    w.timestamp(), w.windDir(), w.windSpeed()};
        }

        Object[] row(long index) {
            return row((int) (index / CITIES.length), (int) (index % CITIES.length));
        }

        ObjectNode rowObject(long index) {
            Object[] r = row(index);
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            for (int i = 0; i < COLUMNS.size(); i++) {
                String n = COLUMNS.get(i).split(" ")[0];
                Object v = r[i];
                if (v instanceof Integer x) o.put(n, x);
                else if (v instanceof Float x) o.put(n, x);
                else if (v instanceof LocalDateTime x) o.put(n, x.format(DT));
                else o.put(n, (String) v);
            }
            return o;
        }

        Map<String, Object> rowMap(long index) {
            Object[] r = row(index);
            Map<String, Object> m = new LinkedHashMap<>();
            for (int i = 0; i < COLUMNS.size(); i++) {
                Object v = r[i];
                m.put(COLUMNS.get(i).split(" ")[0], v instanceof LocalDateTime t ? t.format(DT) : v);
            }
            return m;
        }

        static int cityIndex(String name) {
            for (int i = 0; i < CITIES.length; i++) if (CITIES[i].equalsIgnoreCase(name.strip())) return i;
            return -1;
        }

        /** reports: city (case-insensitive), start_time < timestamp <= end_time, newest first, max_results (1000). */
        PipeResult reports(Params p) {
            String city = p.string("city", null);
            LocalDateTime start = p.dateTime("start_time", null);
            LocalDateTime end = p.dateTime("end_time", null);
            long max = p.integer("max_results", 1000);
            if (max < 0) throw new BadRequest(400, "max_results must be >= 0");
            int c0 = 0, c1 = CITIES.length - 1;
            if (city != null) {
                int ci = cityIndex(city);
                if (ci < 0) return new PipeResult(toMeta(COLUMNS), Collections.emptyIterator(), 0L, 0, 0);
                c0 = c1 = ci;
            }
            int sHi = end == null ? STEPS - 1 : Math.min(STEPS - 1, stepAtOrBefore(end));
            int sLo = start == null ? 0 : Math.max(0, stepAtOrBefore(start) + 1);
            long perStep = c1 - c0 + 1;
            long total = sHi < sLo ? 0 : (long) (sHi - sLo + 1) * perStep;
            long n = Math.min(total, max);
            final int cc0 = c0, shi = sHi;
            Iterator<Object[]> it = new Iterator<>() {
                long i = 0;

                public boolean hasNext() {
                    return i < n;
                }

                public Object[] next() {
                    if (i >= n) throw new NoSuchElementException();
                    int s = (int) (shi - i / perStep);
                    int c = (int) (cc0 + i % perStep);
                    i++;
                    return row(s, c);
                }
            };
            return new PipeResult(toMeta(COLUMNS), it, total, total, total * 60);
        }

        PipeResult apiCities(Params p) {
            List<Object[]> rows = new ArrayList<>();
            for (String c : CITIES) rows.add(new Object[] {c});
            return new PipeResult(toMeta(List.of("site_name String")), rows.iterator(), null, rows(), rows() * 10);
        }

        /** most_recent: the newest rows overall (timestamp desc, site_name), max_results (default 100). */
        PipeResult mostRecent(Params p) {
            long max = p.integer("max_results", 100);
            String city = p.string("city", null);
            Params q = new Params(new HashMap<>(Map.of("max_results", List.of(Long.toString(max)))));
            if (city != null) q.values.put("city", List.of(city));
            PipeResult r = reports(q);
            return r;
        }

        /** current_conditions: the latest report of every city (or of city). */
        PipeResult currentConditions(Params p) {
            String city = p.string("city", null);
            List<Object[]> rows = new ArrayList<>();
            for (int c = 0; c < CITIES.length; c++) {
                if (city == null || CITIES[c].equalsIgnoreCase(city.strip())) rows.add(row(STEPS - 1, c));
            }
            return new PipeResult(toMeta(COLUMNS), rows.iterator(), null, rows.size(), rows.size() * 60L);
        }

        static List<String[]> toMeta(List<String> cols) {
            return cols.stream().map(s -> s.split(" ", 2)).toList();
        }
    }
}
