///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 22+
//SOURCES ../../lib/Cli.java
//SOURCES ../../lib/Config.java
//SOURCES ../../lib/Json.java
//SOURCES ../../lib/Pg.java
//SOURCES ../../lib/Dynamo.java
//SOURCES ../../lib/Tinybird.java
//SOURCES ../../lib/TinybirdApiException.java
//SOURCES ../../lib/TinybirdClient.java
//SOURCES ../../lib/TinybirdNet.java
//SOURCES ../../lib/TinybirdOptions.java
//SOURCES ../../lib/TinybirdRowScanner.java
//SOURCES ../../lib/TinybirdRows.java
//SOURCES ../../lib/TinybirdWriter.java
//SOURCES ../../lib/TinybirdWriterSettings.java
//SOURCES ../../lib/Transfer.java
//SOURCES ../../lib/ClickHouseTypes.java
//SOURCES ../../lib/CursorValues.java
//SOURCES ../../lib/TinybirdSource.java
//SOURCES ../../lib/TransferEngine.java
//SOURCES ../../lib/TransferOptions.java
//SOURCES ../../lib/TransferPager.java
//SOURCES ../../lib/TransferWriter.java
//SOURCES ../../lib/WeatherReports.java
//SOURCES ../../data-transfer/tb-to-postgres.java
//SOURCES ../../data-transfer/tb-to-dynamodb.java
//SOURCES ../../tinybird/tinybird-emulator.java
//JAVA_OPTIONS -Xmx2g
//DESCRIPTION Benchmark of data-transfer/: weather rows from the Tinybird emulator into PostgreSQL (vs psql \copy of the same
//DESCRIPTION rows from CSV, 1,000-row INSERTs, one INSERT per row) and into DynamoDB/dynalite (vs a bare parallel BatchWriteItem loop).
//DESCRIPTION Run from the checkout: ./jbang bench/data-transfer/bench.java [--rows 1000000] [--dynamo-rows 100000] [--per-row-rows 20000]
//DESCRIPTION (--dynamo-rows 0 runs the PostgreSQL part only)
//MAIN DataTransferBench

import java.io.BufferedWriter;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import picocli.CommandLine;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.*;

/**
 * Generates its data deterministically (the emulator's weather generator, 125 cities x N/125 report times), starts its
 * own PostgreSQL 15 (Debian binaries) and dynalite, runs our scripts (in this JVM, next to the emulator) and the peers
 * in one run, and prints seconds, rows/s and ratios.
 */
class DataTransferBench {
    static final int CITIES = 125;
    static final DateTimeFormatter DT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);
    static final List<String[]> RESULTS = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        long rows = 1_000_000, dynamoRows = 100_000, perRowRows = 20_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rows" -> rows = Long.parseLong(args[++i]);
                case "--dynamo-rows" -> dynamoRows = Long.parseLong(args[++i]);
                case "--per-row-rows" -> perRowRows = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("usage: bench.java [--rows N] [--dynamo-rows N] [--per-row-rows N]");
            }
        }
        if (!Files.isExecutable(Path.of("jbang")) || !Files.exists(Path.of("data-transfer/tb-to-postgres.java"))) {
            throw new IllegalStateException("run from the checkout: ./jbang bench/data-transfer/bench.java");
        }
        if (new ProcessBuilder("./jbang", "build", SCRIPT).inheritIO().start().waitFor() != 0) {
            throw new IllegalStateException("./jbang build " + SCRIPT + " failed");
        }
        Process info = new ProcessBuilder("./jbang", "info", "classpath", SCRIPT).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String[] cpLines = new String(info.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().split("\\n");
        if (info.waitFor() != 0) throw new IllegalStateException("./jbang info classpath " + SCRIPT + " failed");
        classpath = cpLines[cpLines.length - 1];
        Path work = Files.createTempDirectory("dt-bench");
        BenchWeather weather = new BenchWeather(1);
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).start()) {
            stored = store(weather, rows);
            load(emu, stored);
            // the weather 'reports' pipe over these rows: start_time < timestamp <= end_time, newest first, max_results
            emu.addPipe("reports_bench", "SELECT " + BenchWeather.NAMES + " FROM weather_bench"
                    + " WHERE ({start_time:Nullable(DateTime)} IS NULL OR timestamp > {start_time:Nullable(DateTime)})"
                    + " AND ({end_time:Nullable(DateTime)} IS NULL OR timestamp <= {end_time:Nullable(DateTime)})"
                    + " ORDER BY timestamp DESC, site_name LIMIT {max_results:Int32}", Map.of("max_results", "1000"));
            String since = DT.format(BenchWeather.START);
            String until = DT.format(BenchWeather.time((int) (rows / CITIES) - 1));
            System.out.printf("data: %,d weather rows (%d cities x %,d report times, %s .. %s) served by the emulator's endpoint%n",
                    rows, CITIES, rows / CITIES, since, until);
            postgres(emu, weather, work, rows, perRowRows, since, until);
            dynamo(emu, weather, dynamoRows, since);
        }
        System.out.println();
        System.out.printf("%-58s %12s %9s %12s %8s%n", "run", "rows", "seconds", "rows/s", "ratio");
        for (String[] r : RESULTS) System.out.printf("%-58s %12s %9s %12s %8s%n", (Object[]) r);
    }

    /**
     * The rows, generated once before any run, as a data source stores them: the endpoint serves them (as `\copy` reads
     * a CSV written beforehand), so no run pays for generating weather, only for reading and writing it.
     */
    static Object[][][] stored;

    static Object[][][] store(BenchWeather w, long rows) {
        Object[][][] mem = new Object[(int) (rows / CITIES)][CITIES][];
        for (int s = 0; s < mem.length; s++) {
            for (int c = 0; c < CITIES; c++) {
                Object[] r = w.row(s, c);
                for (int i = 0; i < r.length; i++) {
                    Object v = r[i];
                    r[i] = v instanceof Integer x ? (Object) x.longValue() : v instanceof Float f ? new java.math.BigDecimal(Float.toString(f))
                            : v instanceof LocalDateTime t ? DT.format(t) : v;
                }
                mem[s][c] = r;
            }
        }
        return mem;
    }

    /** The stored rows into the emulator's data source weather_bench (ordered as the endpoint reads it), as TSV. */
    static void load(TinybirdEmulator emu, Object[][][] mem) {
        emu.createDataSource("weather_bench", "clouds Int8, description String, humidity Int8, precip Float32, pressure Int8, "
                + "site_name String, temp_f Float32, timestamp DateTime, wind_dir Int8, wind_speed Float32", "timestamp, site_name");
        StringBuilder sb = new StringBuilder();
        int n = 0;
        for (Object[][] step : mem) {
            for (Object[] r : step) {
                if (n == 0) sb.append("INSERT INTO weather_bench FORMAT TabSeparated\n");
                for (int i = 0; i < r.length; i++) sb.append(i > 0 ? "\t" : "").append(r[i]);
                sb.append('\n');
                if (++n == 50_000) {
                    emu.execute(sb.toString(), null);
                    sb.setLength(0);
                    n = 0;
                }
            }
        }
        if (n > 0) emu.execute(sb.toString(), null);
    }

    /** The weather generator (lib/WeatherReports.java) over the bench's first CITIES cities, row by row. */
    static final class BenchWeather {
        static final List<String> COLUMNS = List.of("clouds Int8", "description String", "humidity Int8", "precip Float32",
                "pressure Int8", "site_name String", "temp_f Float32", "timestamp DateTime", "wind_dir Int8", "wind_speed Float32");
        static final String NAMES = "clouds, description, humidity, precip, pressure, site_name, temp_f, timestamp, wind_dir, wind_speed";
        static final LocalDateTime START = WeatherReports.START;
        final long seed;
        final double[][] climate = new double[WeatherReports.CITIES.length][];

        BenchWeather(long seed) {
            this.seed = seed;
            for (int i = 0; i < climate.length; i++) climate[i] = WeatherReports.climate(seed, WeatherReports.CITIES[i]);
        }

        Object[] row(int s, int c) {
            WeatherReports.Report w = WeatherReports.report(seed, s, c, climate[c]);
            return new Object[] {w.clouds(), w.description(), w.humidity(), w.precip(), w.pressure(), WeatherReports.CITIES[c], w.tempF(),
                    w.timestamp(), w.windDir(), w.windSpeed()};
        }

        static LocalDateTime time(int step) {
            return WeatherReports.time(step);
        }

        static int stepAtOrBefore(LocalDateTime t) {
            if (t.isBefore(START)) return -1;
            return (int) Math.min(Integer.MAX_VALUE, Duration.between(START, t).toHours() / WeatherReports.STEP_HOURS);
        }

        static List<String[]> toMeta(List<String> cols) {
            return cols.stream().map(x -> x.split(" ", 2)).toList();
        }
    }

    static void result(String name, long rows, double secs, Double peerRate) {
        double rate = rows / secs;
        RESULTS.add(new String[] {name, String.format(Locale.ROOT, "%,d", rows), String.format(Locale.ROOT, "%.2f", secs),
                String.format(Locale.ROOT, "%,.0f", rate), peerRate == null ? "1.00" : String.format(Locale.ROOT, "%.2f", rate / peerRate)});
        double machine = (machineBusyTicks() - busyMark) / (double) TICKS, jvm = (Cli.processCpuNanos() - jvmMark) / 1e9;
        System.out.printf("  %s: %,d rows in %.2f s (%,.0f rows/s); CPU %.2f s (bench JVM %.2f s, other processes %.2f s%s)%n",
                name, rows, secs, rate, machine, jvm, machine - jvm, scriptCpu < 0 ? "" : String.format(Locale.ROOT, ", of them the script %.2f s", scriptCpu));
        scriptCpu = -1;
    }

    /** CPU accounting of a run: the machine's busy time (/proc/stat) and this JVM's own (the emulator; the in-memory runs). */
    static long busyMark, jvmMark;
    static final long TICKS = 100; // USER_HZ

    static long mark() {
        busyMark = machineBusyTicks();
        jvmMark = Cli.processCpuNanos();
        return System.nanoTime();
    }

    static long machineBusyTicks() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long busy = 0;
            for (int i = 1; i < f.length && i <= 8; i++) if (i != 4 && i != 5) busy += Long.parseLong(f[i]); // all but idle, iowait
            return busy;
        } catch (Exception e) {
            return 0;
        }
    }

    // ------------------------------------------------------------------ PostgreSQL

    static Process pg;

    static void postgres(TinybirdEmulator emu, BenchWeather w, Path work, long rows, long perRowRows, String since, String until) throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path data = work.resolve("pg");
        String bin = "/usr/lib/postgresql/15/bin/";
        boolean root = "root".equals(System.getProperty("user.name"));
        Files.createDirectories(data);
        if (root) run(List.of("chown", "-R", "postgres", work.toString()));
        run(asPg(root, bin + "initdb", "-D", data.toString(), "-A", "trust", "-U", "postgres", "--no-sync"));
        run(asPg(root, bin + "pg_ctl", "-D", data.toString(), "-l", work.resolve("pg.log").toString(), "-w", "start",
                "-o", "-p " + port + " -k " + work + " -c listen_addresses=127.0.0.1 -c max_wal_size=4GB"));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                run(asPg(root, bin + "pg_ctl", "-D", data.toString(), "-m", "immediate", "stop"));
            } catch (Exception ignored) {
                // going away
            }
        }));
        Pg.Target db = Pg.resolve("postgresql://postgres@127.0.0.1:" + port + "/postgres", Config.of(Map.of(), Path.of("/nonexistent"), null));
        System.out.println("PostgreSQL 15 (Debian binaries, default settings) on port " + port);
        List<Transfer.Column> meta = new ArrayList<>();
        for (String[] c : BenchWeather.toMeta(BenchWeather.COLUMNS)) meta.add(new Transfer.Column(c[0], c[1]));
        TbToPostgres.PgTarget shape = new TbToPostgres.PgTarget(db, "weather_reports", List.of("timestamp", "site_name"), "transfer_state",
                Duration.ofMinutes(1), new java.io.PrintWriter(System.err));
        String ddl = shape.createTableSql(meta);

        // the same rows as CSV, oldest first
        Path csv = work.resolve("weather.csv");
        if (root) run(List.of("chown", "-R", "postgres", work.toString()));
        try (BufferedWriter bw = Files.newBufferedWriter(csv, StandardCharsets.UTF_8)) {
            StringBuilder sb = new StringBuilder();
            for (int s = 0; s < rows / CITIES; s++) {
                for (int c = 0; c < CITIES; c++) {
                    Object[] r = w.row(s, c);
                    sb.setLength(0);
                    for (int i = 0; i < r.length; i++) {
                        if (i > 0) sb.append(',');
                        Object v = r[i];
                        if (v instanceof LocalDateTime t) sb.append(DT.format(t));
                        else if (v instanceof String str) sb.append('"').append(str.replace("\"", "\"\"")).append('"');
                        else sb.append(v);
                    }
                    sb.append('\n');
                    bw.write(sb.toString());
                }
            }
        }
        System.out.printf("CSV for psql: %s (%.1f MB)%n", csv, Files.size(csv) / 1e6);

        // 0. warm-up, not reported: the emulator stands in for Tinybird, a server that is warm when a transfer starts,
        //    so its JSON writer is JIT-compiled by one full read before anything is measured
        java.io.StringWriter warm = new java.io.StringWriter();
        if (new CommandLine(new TbToPostgres()).setErr(new java.io.PrintWriter(warm)).execute("--once", "--quiet", "--dry-run",
                "--host", emu.url(), "--token", emu.adminToken(), "--pipe", "reports_bench", "--url", db.libpqUri(), "--table", "none",
                "--since", since, "--until", until, "--limit-param", "max_results", "--page-size", "10000", "--window", "30d") != 0) {
            throw new IllegalStateException("warm-up read failed: " + warm);
        }
        System.gc();

        // 1. psql \copy
        fresh(db, ddl);
        long c0 = mark();
        run(List.of("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db.libpqUri(), "-c",
                "\\copy weather_reports FROM '" + csv + "' WITH (FORMAT csv)"));
        double copySecs = (System.nanoTime() - c0) / 1e9;
        checkCount(db, rows);
        double copyRate = rows / copySecs;
        result("psql \\copy from CSV (peer)", rows, copySecs, null);

        // 2. our tool in its own process (JVM start, JIT warm-up and all), reading the emulator's endpoint, upsert
        //    semantics, the token in the environment: as a java process (the script's //JAVA_OPTIONS, -cp of its jar),
        //    and as users run it, through ./jbang (which adds JBang's own resolution, about 1 s)
        List<String> args = List.of("--once", "--host", emu.url(), "--pipe", "reports_bench", "--url", db.libpqUri(),
                "--since", since, "--until", until, "--limit-param", "max_results", "--page-size", "10000", "--window", "30d");
        fresh(db, ddl);
        long t0 = mark();
        String summary = script(emu, false, args, "--quiet");
        double javaSecs = (System.nanoTime() - t0) / 1e9;
        System.out.println("  " + summary);
        checkCount(db, rows);
        result("tb-to-postgres (java process; endpoint -> COPY + upsert)", rows, javaSecs, copyRate);

        fresh(db, ddl);
        t0 = mark();
        script(emu, true, args, "--quiet");
        double ourSecs = (System.nanoTime() - t0) / 1e9;
        checkCount(db, rows);
        result("tb-to-postgres (through ./jbang)", rows, ourSecs, copyRate);

        // 2b. the source alone: endpoint read and parsed, nothing written (--dry-run), as a java process
        t0 = mark();
        script(emu, false, args, "--quiet", "--dry-run", "--table", "none");
        double srcSecs = (System.nanoTime() - t0) / 1e9;
        result("  source alone: endpoint read + parsed (java, --dry-run)", rows, srcSecs, copyRate);

        // 2c. the engine and the PostgreSQL target alone: the same rows already parsed in memory (no HTTP, no JSON)
        Object[][][] mem = stored;
        Transfer.Source memSource = params -> {
            LocalDateTime start = LocalDateTime.parse(params.get("start_time").get(0).replace(' ', 'T'));
            LocalDateTime end = LocalDateTime.parse(params.get("end_time").get(0).replace(' ', 'T'));
            int max = Integer.parseInt(params.get("max_results").get(0));
            int sHi = Math.min(mem.length - 1, BenchWeather.stepAtOrBefore(end));
            int sLo = Math.max(0, BenchWeather.stepAtOrBefore(start) + 1);
            List<Object[]> page = new ArrayList<>();
            long total = sHi < sLo ? 0 : (long) (sHi - sLo + 1) * CITIES;
            for (int s = sHi; s >= sLo && page.size() < max; s--) {
                for (int c = 0; c < CITIES && page.size() < max; c++) page.add(mem[s][c]);
            }
            return new Transfer.Page(meta, page, total);
        };
        fresh(db, ddl);
        TransferOptions mo = new TransferOptions();
        new CommandLine(new Object() {
            @CommandLine.Mixin TransferOptions opts = mo;
        }).parseArgs("--once", "--since", since, "--until", until, "--limit-param", "max_results", "--page-size", "10000", "--window", "30d");
        t0 = mark();
        TbToPostgres.PgTarget target = new TbToPostgres.PgTarget(db, "weather_reports", List.of("timestamp", "site_name"), "transfer_state",
                Duration.ofMinutes(1), new java.io.PrintWriter(System.err));
        new TransferEngine(mo, memSource, target, new java.io.PrintWriter(System.err), true).run();
        target.close();
        double engSecs = (System.nanoTime() - t0) / 1e9;
        checkCount(db, rows);

        result("  engine + PostgreSQL target alone (rows in memory)", rows, engSecs, copyRate);

        // 3. 1,000-row INSERT ... ON CONFLICT DO UPDATE statements (JDBC, rows already in memory)
        long multi = rows / 1000 * 1000; // whole statements only
        fresh(db, ddl);
        t0 = mark();
        insertRows(db, w, multi, 1000);
        double multiSecs = (System.nanoTime() - t0) / 1e9;
        checkCount(db, multi);
        result("1,000-row INSERT ... ON CONFLICT (JDBC, peer)", multi, multiSecs, copyRate);

        // 4. one INSERT per row, the original's way (on a subset)
        long sub = Math.min(perRowRows, rows) / CITIES * CITIES;
        fresh(db, ddl);
        t0 = mark();
        insertRows(db, w, sub, 1);
        double perRowSecs = (System.nanoTime() - t0) / 1e9;
        checkCount(db, sub);
        result("one INSERT ... ON CONFLICT per row (original's way, peer)", sub, perRowSecs, copyRate);
    }

    static final String SCRIPT = "data-transfer/tb-to-postgres.java", MAIN = "TbToPostgres";
    /** The last script run's own CPU seconds (user + system, from /usr/bin/time), -1 when unknown. */
    static double scriptCpu = -1;
    static String classpath;

    /**
     * Runs tb-to-postgres in its own process, through ./jbang or as a java process (this JVM's java, the script's
     * //JAVA_OPTIONS, the classpath ./jbang resolved), with TINYBIRD_TOKEN in its environment; returns its summary line.
     */
    static String script(TinybirdEmulator emu, boolean viaJbang, List<String> args, String... more) throws Exception {
        List<String> cmd = new ArrayList<>();
        boolean timed = !viaJbang && Files.isExecutable(Path.of("/usr/bin/time"));
        if (timed) cmd.addAll(List.of("/usr/bin/time", "-f", "cpu %U %S")); // the script process's own CPU time
        String extra = System.getenv("BENCH_JAVA_OPTIONS"); // e.g. -XX:StartFlightRecording=filename=/tmp/x.jfr to profile the script
        List<String> extraOpts = extra == null || extra.isBlank() ? List.of() : List.of(extra.strip().split("\\s+"));
        if (viaJbang) {
            cmd.add("./jbang");
            for (String x : extraOpts) cmd.add("-R" + x);
            cmd.add(SCRIPT);
        } else {
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            for (String line : Files.readAllLines(Path.of(SCRIPT))) {
                if (line.startsWith("//JAVA_OPTIONS ")) cmd.addAll(List.of(line.substring(15).strip().split("\\s+")));
            }
            cmd.addAll(extraOpts);
            cmd.addAll(List.of("-cp", classpath, MAIN));
        }
        cmd.addAll(args);
        cmd.addAll(List.of(more));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("TINYBIRD_TOKEN", emu.adminToken());
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) throw new IllegalStateException(SCRIPT + " failed: " + err);
        String[] lines = err.split("\\n");
        String last = lines[lines.length - 1];
        if (timed && last.startsWith("cpu ") && lines.length > 1) {
            String[] f = last.split(" ");
            scriptCpu = Double.parseDouble(f[1]) + Double.parseDouble(f[2]);
            return lines[lines.length - 2];
        }
        scriptCpu = -1;
        return last;
    }

    static List<String> asPg(boolean root, String... cmd) {
        List<String> l = new ArrayList<>();
        if (root) l.addAll(List.of("runuser", "-u", "postgres", "--"));
        l.addAll(List.of(cmd));
        return l;
    }

    static void fresh(Pg.Target db, String ddl) throws Exception {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS weather_reports");
            st.execute("DROP TABLE IF EXISTS transfer_state");
            st.execute(ddl);
            st.execute("CHECKPOINT");
        }
    }

    static void checkCount(Pg.Target db, long want) throws Exception {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
             var rs = st.executeQuery("SELECT count(*), count(DISTINCT (timestamp, site_name)) FROM weather_reports")) {
            rs.next();
            if (rs.getLong(1) != want || rs.getLong(2) != want) throw new IllegalStateException("expected " + want + " rows, got " + rs.getLong(1));
        }
    }

    static void insertRows(Pg.Target db, BenchWeather w, long rows, int perStatement) throws Exception {
        String cols = "clouds, description, humidity, precip, pressure, site_name, temp_f, timestamp, wind_dir, wind_speed";
        String one = "(?, ?, ?, ?, ?, ?, ?, ?::timestamp, ?, ?)";
        String upd = " ON CONFLICT (timestamp, site_name) DO UPDATE SET clouds = EXCLUDED.clouds, description = EXCLUDED.description,"
                + " humidity = EXCLUDED.humidity, precip = EXCLUDED.precip, pressure = EXCLUDED.pressure, temp_f = EXCLUDED.temp_f,"
                + " wind_dir = EXCLUDED.wind_dir, wind_speed = EXCLUDED.wind_speed";
        try (Connection c = Pg.connect(db)) {
            c.setAutoCommit(false);
            String sql = "INSERT INTO weather_reports (" + cols + ") VALUES " + String.join(", ", Collections.nCopies(perStatement, one)) + upd;
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                int k = 0;
                for (long i = 0; i < rows; i++) {
                    Object[] r = w.row((int) (i / CITIES), (int) (i % CITIES));
                    for (int j = 0; j < r.length; j++) {
                        Object v = r[j];
                        ps.setObject(++k, v instanceof LocalDateTime t ? DT.format(t) : v);
                    }
                    if (k == perStatement * r.length) {
                        ps.executeUpdate();
                        k = 0;
                        if (perStatement > 1) c.commit();
                    }
                }
            }
            c.commit();
        }
    }

    // ------------------------------------------------------------------ DynamoDB

    static void dynamo(TinybirdEmulator emu, BenchWeather w, long rows, String since) throws Exception {
        rows = rows / CITIES * CITIES;
        if (rows == 0) return; // --dynamo-rows 0: PostgreSQL only
        Process node = new ProcessBuilder("node", "support/dynalite-server.js").directory(new File("tests"))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Runtime.getRuntime().addShutdownHook(new Thread(node::destroyForcibly));
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(node.getInputStream())).readLine();
        if (line == null || !line.startsWith("PORT ")) throw new IllegalStateException("dynalite did not start: " + line);
        String endpoint = "http://127.0.0.1:" + line.substring(5).strip();
        System.out.println("dynalite on " + endpoint + "; " + String.format(Locale.ROOT, "%,d", rows) + " items per run, 8 writers");
        String until = DT.format(BenchWeather.time((int) (rows / CITIES) - 1));
        Config cfg = Config.of(Map.of(), Path.of("/nonexistent"), null);

        // 1. bare parallel BatchWriteItem loop, items built in memory
        try (DynamoDbClient db = Dynamo.client("us-east-1", endpoint, cfg, 64)) {
            createTable(db, "bare");
            List<WriteRequest> all = new ArrayList<>((int) rows);
            for (long i = 0; i < rows; i++) {
                Object[] r = w.row((int) (i / CITIES), (int) (i % CITIES));
                Map<String, AttributeValue> item = new HashMap<>();
                for (int j = 0; j < r.length; j++) {
                    String name = BenchWeather.COLUMNS.get(j).split(" ")[0];
                    Object v = r[j];
                    item.put(name, v instanceof String s ? AttributeValue.fromS(s) : v instanceof LocalDateTime t ? AttributeValue.fromS(DT.format(t))
                            : AttributeValue.fromN(v.toString()));
                }
                all.add(WriteRequest.builder().putRequest(PutRequest.builder().item(item).build()).build());
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            long t0 = mark();
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < all.size(); i += 25) {
                List<WriteRequest> chunk = all.subList(i, Math.min(all.size(), i + 25));
                fs.add(pool.submit(() -> {
                    List<WriteRequest> todo = chunk;
                    while (!todo.isEmpty()) {
                        final List<WriteRequest> send = todo;
                        BatchWriteItemResponse resp = db.batchWriteItem(b -> b.requestItems(Map.of("bare", send)));
                        todo = resp.unprocessedItems().getOrDefault("bare", List.of());
                    }
                }));
            }
            for (Future<?> f : fs) f.get();
            double secs = (System.nanoTime() - t0) / 1e9;
            pool.shutdown();
            result("bare parallel BatchWriteItem(25) loop, 8 threads (peer)", rows, secs, null);
            double bareRate = rows / secs;

            // 2. our tool, from the emulator's endpoint
            java.io.StringWriter err = new java.io.StringWriter();
            t0 = mark();
            int rc = new CommandLine(new TbToDynamodb()).setErr(new java.io.PrintWriter(err)).execute("--once", "--quiet",
                    "--host", emu.url(), "--token", emu.adminToken(), "--pipe", "reports_bench", "--endpoint-url", endpoint,
                    "--region", "us-east-1", "--table", "ours", "--since", since, "--until", until, "--limit-param", "max_results",
                    "--page-size", "10000", "--window", "30d", "--writers", "8");
            double ours = (System.nanoTime() - t0) / 1e9;
            if (rc != 0) throw new IllegalStateException("tb-to-dynamodb failed: " + err);
            System.out.print("  " + err);
            long count = 0; // Scan pages at 1 MB even with Select.COUNT: add up every page
            for (ScanResponse page : db.scanPaginator(b -> b.tableName("ours").select(Select.COUNT))) count += page.count();
            if (count != rows) throw new IllegalStateException("expected " + rows + " items, got " + count);
            result("tb-to-dynamodb (emulator endpoint -> BatchWriteItem)", rows, ours, bareRate);
        } finally {
            node.destroyForcibly();
        }
    }

    static void createTable(DynamoDbClient db, String name) {
        db.createTable(b -> b.tableName(name).billingMode(BillingMode.PAY_PER_REQUEST)
                .attributeDefinitions(AttributeDefinition.builder().attributeName("site_name").attributeType(ScalarAttributeType.S).build(),
                        AttributeDefinition.builder().attributeName("timestamp").attributeType(ScalarAttributeType.S).build())
                .keySchema(KeySchemaElement.builder().attributeName("site_name").keyType(KeyType.HASH).build(),
                        KeySchemaElement.builder().attributeName("timestamp").keyType(KeyType.RANGE).build()));
        TbToDynamodb.DynamoTarget.awaitActive(db, name);
    }

    static void run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IllegalStateException(cmd.get(0) + " failed: " + out);
    }
}
