///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 22+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/WeatherReports.java
//SOURCES Emulator*.java
//SOURCES Chdb.java
//SOURCES TinybirdProject.java
//SOURCES PipeTemplate.java
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED
//DESCRIPTION A local Tinybird on embedded ClickHouse (chDB): Events API, API Endpoints, Data Sources API, Query API, for tests and offline demos.
//DESCRIPTION ./jbang tinybird/tinybird-emulator.java --port 7181   (prints the admin token; Ctrl-C stops it)
//MAIN TinybirdEmulator

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import com.fasterxml.jackson.databind.JsonNode;
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
 * A local Tinybird: the parts of Tinybird's HTTP API our scripts use, following shared/reference/tinybird-api.md
 * (status codes, body texts, headers), with data sources stored as tables of an embedded ClickHouse (chDB).
 * JDK HttpServer on virtual threads. The mechanisms live beside this file: Chdb (the engine, through FFM),
 * EmulatorTables (one database per emulator), EmulatorEvents (the Events API), EmulatorDataSources (the Data Sources
 * API), EmulatorQueries (API Endpoints and the Query API), EmulatorSchema (schemas and row checks), EmulatorWeather
 * (the built-in demo data and its pipes), EmulatorFaults (the fault switches), EmulatorHttp (plumbing).
 *
 * <h2>In-process API (for tests and benchmarks)</h2>
 * <pre>{@code
 * try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {          // 0 = a free port on 127.0.0.1
 *     String url = emu.url();                                       // http://127.0.0.1:PORT
 *     String admin = emu.adminToken();                              // scope ADMIN
 *     String t = emu.addToken("append", "DATASOURCES:APPEND:events"); // returns the token's value
 *     emu.createDataSource("events", "`id` Int64 `json:$.id`, `ts` DateTime `json:$.ts`");
 *     ... // point TinybirdClient at url with a token
 *     List<ObjectNode> stored = emu.rows("events");                // rows as stored, in arrival order
 *     emu.rows("events_quarantine");                               // c__error_column, c__error, c__import_id, insertion_date, ...
 *     emu.rowCount("events"); emu.stats();                         // requests, bytes, rows received/stored/quarantined
 *     emu.addPipe("top", "SELECT * FROM events WHERE id > {min_id:Int64} ORDER BY id LIMIT {n:Int32}", Map.of("n", "10"));
 *     emu.faults().failNext(2, EmulatorFault.status(503));                 // the next 2 /v0/events requests answer 503
 *     emu.faults().fraction(0.2, 42, EmulatorFault.status(500).afterStore(), EmulatorFault.drop(), EmulatorFault.tooManyRequests(1));
 *     emu.faults().clear();
 *     emu.faults().on("/v0/pipes/").failNext(1, EmulatorFault.tooManyRequests(2)); // API Endpoint reads (any path prefix; "/" for all)
 * }
 * }</pre>
 * Settings before start: {@code new TinybirdEmulator().port(0).maxRequestBytes(1 << 20).rateLimit(1000).autocreate(false)
 * .storeRows(false).data(dir).project(dir).fixtures(true).start()}. Served: the Tinybird project of the repo's
 * tinybird/ folder (EmulatorProject: its data sources, materializations, API Endpoints and tokens, e.g.
 * {@code emu.projectToken("reports_read")}; {@code project(null)} for an empty workspace). Built in (read-only,
 * deterministic): the rows of data source {@code weather_data} (174 US cities, one report every 4 hours from
 * 2023-05-01 00:00:00 for 365 days: 381,060 rows), read by the project's {@code reports}, {@code reportsv2},
 * {@code api_cities}, {@code most_recent} and {@code current_conditions}.
 *
 * <h2>HTTP</h2>
 * {@code POST /v0/events}, {@code GET|POST /v0/pipes/<pipe>.json|.ndjson|.csv} ({@code q=} over {@code _}),
 * {@code POST /v0/datasources} (multipart part csv/ndjson, or a full body), {@code POST /v0/datasources/<ds>/truncate},
 * {@code GET /v0/datasources[/<ds>]}, {@code GET|POST /v0/sql} (any read-only SELECT; FORMAT JSON, CSV, CSVWithNames,
 * JSONEachRow/NDJSON), {@code GET /tokens}, {@code GET /v0/jobs/<id>}.
 */
@Command(name = "tinybird-emulator", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"A local Tinybird for tests and offline demos, on embedded ClickHouse (chDB): Events API, API Endpoints (pipes),",
                "Data Sources API and the Query API, with the built-in weather demo data. The first run installs chDB's library",
                "(npm ci of tinybird/package-lock.json, about 178 MB, once) unless CHDB_LIBRARY points at a libchdb.so."},
        footer = {"", "Examples:",
                "  ./jbang tinybird/tinybird-emulator.java --port 7181",
                "  ./jbang tinybird/tinybird-emulator.java --admin-token admin-dev --token ingest-dev=DATASOURCES:APPEND:events",
                "  ./jbang tinybird/tinybird-emulator.java --data ~/tinybird-local       # data sources kept across restarts",
                "  TINYBIRD_TOKEN=admin-dev ./jbang data-generators/e-store.java --region local --datasource estore_events --eps 500",
                "  curl -H 'Authorization: Bearer admin-dev' 'http://localhost:7181/v0/pipes/reports.json?city=denver&max_results=3'",
                "  curl -H 'Authorization: Bearer admin-dev' 'http://localhost:7181/v0/sql?q=SELECT+avg(temp_f)+FROM+weather_data+FORMAT+CSV'"})
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

    @Option(names = "--max-request-size", paramLabel = "SIZE", converter = CliTypes.SizeConverter.class,
            description = "Events API per-request body limit, answered with 413 (default: 10MB).")
    long maxRequestBytes = 10_000_000;

    @Option(names = "--rate-limit", paramLabel = "N", description = "Requests per second before 429 (default: ${DEFAULT-VALUE}; 0 = none).")
    int rateLimit = 1000;

    @Option(names = "--no-autocreate", negatable = false, description = "Answer 403 instead of creating a missing data source from the first rows.")
    boolean noAutocreate;

    @Option(names = "--no-weather", description = "Leave out the built-in weather data set and its pipes.")
    boolean noWeather;

    @Option(names = "--project", paramLabel = "DIR",
            description = "The Tinybird project to serve: its datasources/, materializations/ and endpoints/ (default: the tinybird/ folder beside this script).")
    Path projectDir;

    @Option(names = "--no-project", description = "Serve no project: an empty workspace (the built-in weather rows as a read-only weather_data, no pipes).")
    boolean noProject;

    @Option(names = "--fixtures", description = "Load the project's fixtures/ into its data sources (with --no-weather, weather_data holds only its fixture).")
    boolean loadFixtures;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Keep the data sources in DIR (an on-disk ClickHouse), across restarts (default: in memory, gone at exit).")
    Path dataDir;

    @Option(names = "--check-engine", description = "Load chDB (installing it on first use), print its version and exit 0; exit 1 with the reason when it can't load.")
    boolean checkEngine;

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
            if (checkEngine) {
                Chdb engine;
                try {
                    engine = Chdb.engine(dataDir);
                } catch (IllegalStateException e) {
                    throw new Cli.Failure(e.getMessage(), e);
                }
                try (Chdb.Connection c = engine.connect()) {
                    spec.commandLine().getOut().println("chDB " + c.text("SELECT version()", "TSV").strip() + " (" + Chdb.library() + ")");
                }
                return 0;
            }
            for (String t : tokenOptions) {
                int eq = t.indexOf('=');
                if (eq <= 0) throw Cli.usage("--token expects VALUE=SCOPES, got '" + t + "'");
                tokenPlan.put(t.substring(0, eq), t.substring(eq + 1));
            }
            if (faultRate > 0) {
                List<EmulatorFault> kinds = new ArrayList<>();
                for (String k : faultKinds.isEmpty() ? List.of("429", "500", "503", "drop") : faultKinds) kinds.add(EmulatorFault.parse(k));
                faults.on(faultPath).fraction(faultRate, seed, kinds.toArray(EmulatorFault[]::new));
            }
            start();
            PrintWriter out = spec.commandLine().getOut();
            out.println("Tinybird emulator listening on " + url() + " (Ctrl-C stops it); data "
                    + (dataDir == null ? "in memory" : "in " + dataDir.toAbsolutePath()));
            out.println("admin token: " + adminToken());
            for (Token t : tokens.values()) {
                if (!t.value.equals(adminToken) && !t.value.equals(userToken)) out.println("token " + t.name + ": " + String.join(",", t.scopes));
            }
            if (project != null) {
                out.println("project " + project.project.folder() + ": data sources " + String.join(", ", project.project.datasources().keySet())
                        + "; API Endpoints " + String.join(", ", project.project.endpoints().stream().map(TinybirdProject.Pipe::name).toList()));
            }
            if (!noWeather) {
                out.println("demo data: weather_data (" + EmulatorWeather.ROWS + " rows, built in and read-only: appends to it are refused "
                        + "with 403, seed another name)");
            }
            if (project != null && project.serves("reports")) {
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
    final Map<String, EmulatorQueries.SqlPipe> pipes = new ConcurrentHashMap<>();
    /** The project served (null: none). */
    EmulatorProject project;
    final EmulatorFaults faults = new EmulatorFaults();
    private boolean storeRows = true;
    EmulatorTables tables;
    final EmulatorEvents events = new EmulatorEvents(this);
    private final EmulatorQueries queries = new EmulatorQueries(this);
    private final EmulatorDataSources datasources = new EmulatorDataSources(this);
    final AtomicLong importCounter = new AtomicLong();
    final LongAdder requests = new LongAdder(), eventsRequests = new LongAdder(), bytesReceived = new LongAdder(),
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

    /** Serves the Tinybird project in dir (null: none, an empty workspace); the default is the repo's tinybird/. */
    public TinybirdEmulator project(Path dir) {
        this.projectDir = dir;
        this.noProject = dir == null;
        return this;
    }

    /** Loads the project's fixtures/ at start (tb test run's data). */
    public TinybirdEmulator fixtures(boolean b) { this.loadFixtures = b; return this; }

    /** The value of a token the project's datafiles declare (TOKEN name READ|APPEND), or null. */
    public String projectToken(String name) {
        return project == null ? null : project.tokens.get(name);
    }

    /** Keeps the data sources in dir (an on-disk engine; one per process), across restarts. */
    public TinybirdEmulator data(Path dir) { this.dataDir = dir; return this; }

    /** Starts the engine (the process's chDB, shared by every emulator in it) and the server; returns this. */
    public synchronized TinybirdEmulator start() {
        if (server != null) return this;
        adminToken = adminTokenOption != null ? adminTokenOption : "p.admin." + newId();
        userToken = "p.user." + newId();
        tokens.put(adminToken, new Token("admin token", adminToken, Set.of("ADMIN"), null));
        tokens.put(userToken, new Token("user token", userToken, Set.of("ADMIN"), null));
        tokenPlan.forEach((v, scopes) -> tokens.put(v, new Token(v, v, parseScopes(scopes), null)));
        Config.registerSecret(adminToken);
        try {
            tables = new EmulatorTables(dataDir);
        } catch (IllegalStateException e) {
            throw new Cli.Failure(e.getMessage(), e);
        }
        tables.storeRows = storeRows;
        Path folder = noProject ? null : projectDir != null ? projectDir : EmulatorProject.defaultFolder().orElse(null);
        if (folder != null) {
            try {
                project = EmulatorProject.load(this, folder, noWeather ? null : seed, loadFixtures);
            } catch (RuntimeException e) {
                tables.close();
                throw new Cli.Failure(e.getMessage(), e);
            }
        }
        if (!noWeather && !tables.dataSources.containsKey("weather_data")) {
            EmulatorWeather.load(tables.engine, seed);
            tables.createView(new EmulatorTables.DataSource("weather_data", "t_weather_" + Long.toUnsignedString(seed),
                    EmulatorSchema.parseSchema(EmulatorWeather.SCHEMA), true, true, null), EmulatorWeather.view(seed));
        }
        // TCP_NODELAY on answers, as Tinybird's front (nginx: tcp_nodelay on) has it: without it, the JDK server's small
        // chunk writes wait on the client's delayed ACKs (the JDK reads the property once, when the first server of a JVM starts)
        if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getByName(bind), port), 1024);
        } catch (IOException e) {
            tables.close();
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
        String v = "p." + name.replaceAll("[^A-Za-z0-9_]", "_") + "." + newId();
        tokens.put(v, new Token(name, v, new LinkedHashSet<>(Arrays.asList(scopes)), null));
        Config.registerSecret(v);
        return v;
    }

    /** Adds a token of a workspace in another region (answers 404 naming regionHost); returns its value. */
    public String addForeignRegionToken(String name, String regionHost, String... scopes) {
        String v = "p." + name.replaceAll("[^A-Za-z0-9_]", "_") + "." + newId();
        tokens.put(v, new Token(name, v, new LinkedHashSet<>(Arrays.asList(scopes)), regionHost));
        Config.registerSecret(v);
        return v;
    }

    public EmulatorFaults faults() {
        return faults;
    }

    /** Creates a data source from a Tinybird schema: {@code `id` Int64 `json:$.id`, name String `json:$.name`}. */
    public void createDataSource(String name, String schema) {
        createDataSource(name, schema, null);
    }

    /** Creates a data source whose table is ordered by sortingKey (ClickHouse's ORDER BY; null = tuple()). */
    public void createDataSource(String name, String schema, String sortingKey) {
        List<EmulatorSchema.Col> cols = EmulatorSchema.parseSchema(schema);
        EmulatorTables.DataSource ds = new EmulatorTables.DataSource(name, newId(), cols, cols.stream().allMatch(c -> c.path != null), false, sortingKey);
        if (!tables.create(ds)) throw new IllegalArgumentException("data source exists: " + name);
    }

    /** Removes a data source (and its quarantine). */
    public void dropDataSource(String name) {
        tables.drop(name);
        tables.drop(name + "_quarantine");
    }

    public boolean hasDataSource(String name) {
        return tables.dataSources.containsKey(name);
    }

    /** Column definitions ("name Type `json:$.path`") of a data source, or null. */
    public List<String> schema(String name) {
        EmulatorTables.DataSource ds = tables.dataSources.get(name);
        if (ds == null) return null;
        List<String> out = new ArrayList<>();
        for (EmulatorSchema.Col c : ds.cols) out.add(c.name + " " + c.type + (c.path == null ? "" : " `json:" + c.path + "`"));
        return out;
    }

    /**
     * The stored rows as the engine returns them (JSONEachRow), in arrival order (one insert's rows in sorting-key order
     * when the data source has a key); the quarantine is {@code <ds>_quarantine}.
     */
    public List<ObjectNode> rows(String datasource) {
        EmulatorTables.DataSource ds = tables.dataSources.get(datasource);
        return ds == null ? List.of() : tables.rows(ds);
    }

    /** Stored row count (SELECT count() in the engine; counted in Java when storeRows(false)). */
    public long rowCount(String datasource) {
        EmulatorTables.DataSource ds = tables.dataSources.get(datasource);
        return ds == null ? 0 : tables.count(ds);
    }

    /**
     * Adds (or replaces) an API Endpoint: SQL over this emulator's data sources with {@code {name:Type}} parameters, as
     * in ClickHouse; a request's value becomes a checked, quoted literal. defaults: a value for each optional parameter
     * ("NULL" for a Nullable type; Nullable ones without a default are NULL when absent); the others are required.
     */
    public void addPipe(String name, String sql, Map<String, String> defaults) {
        pipes.put(name, new EmulatorQueries.SqlPipe(name, sql, Map.copyOf(defaults)));
    }

    public void addPipe(String name, String sql) {
        addPipe(name, sql, Map.of());
    }

    /** Appends rows (JSON objects keyed by column name) to a data source, as a file import would; returns rows stored. */
    public long append(String datasource, List<? extends JsonNode> rows) {
        EmulatorTables.DataSource ds = tables.dataSources.get(datasource);
        if (ds == null) throw new IllegalArgumentException("no data source " + datasource);
        List<ObjectNode> objects = new ArrayList<>();
        for (JsonNode r : rows) objects.add((ObjectNode) r);
        String[] refused = tables.insertObjects(ds, objects);
        if (refused != null) {
            for (String e : refused) if (e != null) throw new IllegalArgumentException("the engine refused a row: " + e);
        }
        return objects.size();
    }

    /** Runs a statement on this emulator's database (read-write), for tests that need data no API writes; its output as text. */
    public String execute(String sql, String format) {
        return tables.write(c -> c.text(sql, format));
    }

    /** Counters since start. */
    public record Stats(long requests, long eventsRequests, long bytesReceived, long rowsReceived, long rowsStored,
                        long rowsQuarantined, long rateLimited, long faultsInjected) {}

    public Stats stats() {
        return new Stats(requests.sum(), eventsRequests.sum(), bytesReceived.sum(), rowsReceived.sum(), rowsStored.sum(),
                rowsQuarantined.sum(), rateLimited.sum(), faultsInjected.sum());
    }

    /** Stops the server and drops this emulator's database (kept with --data). The engine stays for the next one. */
    @Override
    public synchronized void close() {
        if (server != null) {
            server.stop(0);
            executor.shutdownNow();
            server = null;
            tables.close();
        }
    }

    static String newId() {
        return UUID.randomUUID().toString().replace("-", "");
    }

    static Set<String> parseScopes(String s) {
        Set<String> out = new LinkedHashSet<>();
        for (String x : s.split(",")) if (!x.isBlank()) out.add(x.strip());
        return out;
    }

    // ------------------------------------------------------------------ routes, tokens, rate limits

    private void handle(HttpExchange ex) throws IOException {
        requests.increment();
        try {
            String path = ex.getRequestURI().getRawPath();
            String method = ex.getRequestMethod();
            String rawQuery = ex.getRequestURI().getRawQuery();
            if (rawQuery != null && rawQuery.length() > 8192) { // nginx in front of Tinybird
                EmulatorHttp.sendText(ex, 414, "<html><head><title>414 Request-URI Too Large</title></head></html>\n", "text/html");
                return;
            }
            Map<String, List<String>> q = EmulatorHttp.parseQuery(rawQuery);
            faults.gate(path);
            if (!path.equals("/v0/events")) { // the Events API applies its own, before or after storing the rows
                EmulatorFault fault = faults.pick(path);
                if (fault != null) {
                    faultsInjected.increment();
                    if (EmulatorFaults.apply(this, ex, fault)) return;
                }
            }
            if (path.equals("/v0/events")) {
                events.handle(ex, q);
            } else if (path.startsWith("/v0/pipes/")) {
                queries.pipe(ex, q, path.substring("/v0/pipes/".length()));
            } else if (path.equals("/v0/pipes") || path.equals("/v0/pipes/")) {
                queries.listPipes(ex, q);
            } else if (path.equals("/v0/datasources") && method.equals("POST")) {
                datasources.post(ex, q);
            } else if (path.startsWith("/v0/datasources/") && path.endsWith("/truncate") && method.equals("POST")) {
                datasources.truncate(ex, q, EmulatorHttp.dec(path.substring("/v0/datasources/".length(), path.length() - "/truncate".length())));
            } else if (path.equals("/v0/datasources") || path.startsWith("/v0/datasources/")) {
                datasources.describe(ex, q, path);
            } else if (path.equals("/v0/sql")) {
                queries.sql(ex, q);
            } else if (path.equals("/tokens")) {
                ObjectNode o = JsonNodeFactory.instance.objectNode();
                o.put("user_token", userToken);
                o.put("admin_token", adminToken);
                o.put("workspace_admin_token", adminToken);
                EmulatorHttp.sendJson(ex, 200, o);
            } else if (path.startsWith("/v0/jobs/")) {
                Token t = token(ex, q);
                if (t == null) {
                    sendJsonError(ex, 403, "invalid authentication token");
                    return;
                }
                ObjectNode o = JsonNodeFactory.instance.objectNode();
                o.put("id", path.substring("/v0/jobs/".length()));
                o.put("status", "done");
                EmulatorHttp.sendJson(ex, 200, o);
            } else if (path.equals("/")) {
                EmulatorHttp.sendText(ex, 200, "Tinybird emulator\n", "text/plain");
            } else {
                sendJsonError(ex, 404, "Not found");
            }
        } catch (EmulatorHttp.BadRequest e) {
            sendJsonError(ex, e.status, e.getMessage());
        } catch (IOException e) {
            ex.close(); // client went away
        } catch (RuntimeException e) {
            try {
                EmulatorHttp.sendText(ex, 500, "Internal server error: " + e + "\n", "text/plain");
            } catch (IOException ignored) {
                ex.close();
            }
        } finally {
            ex.close();
        }
    }

    /** A 4xx with a JSON error body (pipes, sql, datasources). */
    Token token(HttpExchange ex, Map<String, List<String>> q) {
        String v = EmulatorHttp.first(q, "token");
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

    void rateHeaders(HttpExchange ex, boolean limited) {
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
    boolean overRate() {
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

    void sendJsonError(HttpExchange ex, int code, String message) throws IOException {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("error", message);
        o.put("documentation", "https://www.tinybird.co/docs/api-reference");
        rateHeaders(ex, code == 429);
        EmulatorHttp.sendJson(ex, code, o);
    }

}
