///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//JAVA_OPTIONS -XX:TieredStopAtLevel=1 -XX:CompileThresholdScaling=0.05 -XX:+UseSerialGC -XX:+UseTransparentHugePages -Xlog:pagesize=off
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/Latency.java
//SOURCES ../lib/Pool.java
//SOURCES ../lib/PgClient.java
//SOURCES ../lib/Csv.java
//DESCRIPTION Runs a query N times over C concurrent workers (virtual threads) on a HikariCP pool and reports queries/s and
//DESCRIPTION latency percentiles; --copy-in FILE loads a CSV with COPY, --copy-out FILE writes one.
//DESCRIPTION Usage: pg-pool.java [--url URL] [--sql SQL | -f FILE | --city CITY] [-n N | --duration 30s] [-c C] [--random name=LO..HI]
//DESCRIPTION        pg-pool.java --copy-in data.csv --table weather_reports   |   pg-pool.java --copy-out out.csv (--table T | --sql SQL)
//MAIN PgPool

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import com.zaxxer.hikari.HikariDataSource;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "pg-pool", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"Runs a query N times over C concurrent workers (virtual threads) sharing a HikariCP pool, and reports",
                "queries/s and latency percentiles (pool checkout + execute + fetch). Or loads/unloads CSV with COPY."},
        footer = {"", "Examples:",
                "  ./jbang pg-pool --url postgresql://app@db:5432/weather --city denver -n 10000 -c 50",
                "  ./jbang pg-pool --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' --random aid=1..1000000 -c 50 --duration 30s",
                "  ./jbang pg-pool --url 'postgresql://app@pooler:6543/db' --pooler -c 20 -n 5000        # PgBouncer, transaction mode",
                "  ./jbang pg-pool --copy-in weather.csv --table weather_reports",
                "  ./jbang pg-pool --copy-out denver.csv --sql \"SELECT * FROM weather_reports WHERE site_name = :city\" --param city=Denver",
                "",
                "Connection: --url, else DATABASE_URL, else PG* variables, else POSTGRES_DATABASE_*; ~/.pgpass when no password.",
                "The report goes to stdout; progress and the summary line to stderr. Exit codes: 0 ok, 1 failures, 2 usage."})
class PgPool implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;

    /** The query: --sql or --file (neither: the default query). */
    @ArgGroup(exclusive = true)
    Query query;

    static final class Query {
        @Option(names = "--sql", paramLabel = "SQL", description = "The query; :name placeholders are bound from --param / --random.")
        String sql;

        @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the query from FILE.")
        Path file;
    }

    @Option(names = "--city", paramLabel = "CITY", defaultValue = "Denver", description = "City for the default query (default: ${DEFAULT-VALUE}).")
    String city;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "1000", description = "Row limit of the default query (default: ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = {"-p", "--param"}, paramLabel = "NAME=VALUE", converter = CliTypes.NameValue.class, description = "Bind :NAME to VALUE (repeatable).")
    List<String> params = new ArrayList<>();

    @Option(names = "--random", paramLabel = "NAME=LO..HI", converter = Rand.Parser.class,
            description = "Bind :NAME to a uniform random integer in [LO, HI] per query (repeatable).")
    List<Rand> randoms = new ArrayList<>();

    @Option(names = {"-n", "--count"}, paramLabel = "N", defaultValue = "10000", description = "Queries to run in all (default: ${DEFAULT-VALUE}).")
    long count;

    @Option(names = "--duration", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Run for this long instead of a count (e.g. 30s).")
    Duration duration;

    @Option(names = {"-c", "--concurrency"}, paramLabel = "C", defaultValue = "10", converter = CliTypes.PositiveInt.class, description = "Concurrent workers (default: ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--warmup", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Run the workload this long first without counting it (JIT warm-up), e.g. 3s.")
    Duration warmup;

    @Option(names = "--pool-size", paramLabel = "N", description = "Connections in the pool (default: the concurrency).")
    Integer poolSize;

    @Option(names = "--max-errors", paramLabel = "N", defaultValue = "10", description = "Stop after this many failed queries (default: ${DEFAULT-VALUE}).")
    int maxErrors;

    @Option(names = "--pooler", description = "Behind PgBouncer/Supavisor in transaction mode: no server-side prepared statements "
            + "(automatic on port 6543).")
    boolean pooler;

    /** COPY instead of a query load: --copy-in or --copy-out. */
    @ArgGroup(exclusive = true)
    Copy copy;

    static final class Copy {
        @Option(names = "--copy-in", paramLabel = "FILE", description = "Load the CSV FILE into --table with COPY (one transaction).")
        Path in;

        @Option(names = "--copy-out", paramLabel = "FILE", description = "Write --table or the query's rows to FILE as CSV with COPY.")
        Path out;
    }

    @Option(names = "--table", paramLabel = "TABLE", description = "Table for --copy-in / --copy-out (schema.table allowed).")
    String table;

    @Option(names = "--no-header", description = "The CSV has (--copy-in) or gets (--copy-out) no header line; columns in table order.")
    boolean noHeader;

    @Option(names = "--force", description = "Overwrite the --copy-out file.")
    boolean force;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new PgPool()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::run);
    }

    int run() throws Exception {
        Pg.Target t = pg.resolve(common.config());
        if (pooler || PgClient.looksLikeTransactionPooler(t)) PgClient.transactionPooler(t);
        PgClient.textResults(t);
        if (copy != null && copy.in != null) return copyIn(t, copy.in);
        if (copy != null) return copyOut(t, copy.out);
        return load(t);
    }

    // ------------------------------------------------------------------ query load

    /** A --random value: NAME=LO..HI. */
    record Rand(String name, long lo, long hi) {
        static final class Parser implements CommandLine.ITypeConverter<Rand> {
            public Rand convert(String r) {
                var m = java.util.regex.Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9]+)\\.\\.(-?[0-9]+)").matcher(r.strip());
                if (!m.matches()) throw new CommandLine.TypeConversionException("expected NAME=LO..HI (e.g. aid=1..100000), got '" + r + "'");
                long lo = Long.parseLong(m.group(2)), hi = Long.parseLong(m.group(3));
                if (hi < lo) throw new CommandLine.TypeConversionException("HI is below LO in '" + r + "'");
                return new Rand(m.group(1), lo, hi);
            }
        }
    }

    /** Outcome of a load run (for the report and for tests). */
    record Outcome(long ok, long failed, long rows, Duration elapsed, Latency.Stats latency, String firstError, long cpuNanos) {
        double qps() {
            return ok / Math.max(elapsed.toNanos() / 1e9, 1e-9);
        }
    }

    Outcome outcome;

    int load(Pg.Target t) throws Exception {
        if (duration == null && count < 1) throw Cli.usage("--count must be at least 1");
        if (table != null || noHeader || force) throw Cli.usage("--table, --no-header and --force go with --copy-in / --copy-out");
        Map<String, String> values = PgClient.params(params);
        for (Rand r : randoms) values.put(r.name(), Long.toString(r.lo())); // placeholder, replaced per query
        PgClient.Named q = PgClient.named(query(values));
        int size = poolSize != null ? poolSize : concurrency;
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        AtomicLong next = new AtomicLong(), ok = new AtomicLong(), failed = new AtomicLong(), rows = new AtomicLong();
        AtomicReference<SQLException> firstError = new AtomicReference<>();
        Latency latency = new Latency();
        long elapsedNs, cpuNs;
        try (HikariDataSource ds = pool(t, size);
             Cli.Progress progress = Cli.Progress.items("queries", duration == null ? count : -1, "queries", common.quiet)) {
            fill(ds, size, t);
            if (warmup != null && !warmup.isZero()) {
                run(ds, q, values, randoms, Long.MAX_VALUE, System.nanoTime() + warmup.toNanos(), new AtomicLong(), new AtomicLong(),
                        new AtomicLong(), new AtomicLong(), new AtomicReference<>(), new Latency(), null);
            }
            long cpu0 = Cli.processCpuNanos();
            long t0 = System.nanoTime();
            long end = duration == null ? Long.MAX_VALUE : t0 + duration.toNanos();
            run(ds, q, values, randoms, duration == null ? count : Long.MAX_VALUE, end, next, ok, failed, rows, firstError, latency, progress);
            elapsedNs = System.nanoTime() - t0;
            cpuNs = cpu0 < 0 ? -1 : Cli.processCpuNanos() - cpu0;
        }
        SQLException fe = firstError.get();
        outcome = new Outcome(ok.get(), failed.get(), rows.get(), Duration.ofNanos(elapsedNs), latency.stats(),
                fe == null ? null : PgClient.explain(fe, t).getMessage(), cpuNs);
        out.print(report(outcome, concurrency, size));
        out.flush();
        err.println(Cli.summary("done", ok.get(), "queries", -1, outcome.elapsed())
                + (failed.get() > 0 ? ", " + failed.get() + " failed" : ""));
        if (fe != null) {
            err.println("pg-pool: " + failed.get() + " " + (failed.get() == 1 ? "query" : "queries") + " failed"
                    + (failed.get() >= maxErrors ? " (stopped at --max-errors " + maxErrors + ")" : "") + "; first: " + outcome.firstError());
            return Cli.EXIT_FAILURE;
        }
        return Cli.EXIT_OK;
    }

    /** C workers on virtual threads run the query until limit queries have been started or the clock passes end. */
    private void run(HikariDataSource ds, PgClient.Named q, Map<String, String> values, List<Rand> rands, long limit, long end,
                     AtomicLong next, AtomicLong ok, AtomicLong failed, AtomicLong rows, AtomicReference<SQLException> firstError,
                     Latency latency, Cli.Progress progress) throws Exception {
        try (ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < concurrency; w++) {
                fs.add(workers.submit(() -> {
                    while (failed.get() < maxErrors) {
                        if (next.getAndIncrement() >= limit || System.nanoTime() >= end) break;
                        long s = System.nanoTime();
                        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(q.sql())) {
                            PgClient.bind(ps, q, values);
                            for (Rand r : rands) {
                                long v = ThreadLocalRandom.current().nextLong(r.lo(), r.hi() + 1);
                                for (int i = 0; i < q.names().size(); i++) {
                                    if (q.names().get(i).equals(r.name())) ps.setObject(i + 1, Long.toString(v), java.sql.Types.OTHER);
                                }
                            }
                            long n = 0;
                            if (ps.execute()) {
                                try (ResultSet rs = ps.getResultSet()) {
                                    int cols = rs.getMetaData().getColumnCount();
                                    while (rs.next()) {
                                        PgClient.row(rs, cols);
                                        n++;
                                    }
                                }
                            }
                            latency.record(System.nanoTime() - s);
                            ok.incrementAndGet();
                            rows.addAndGet(n);
                            if (progress != null) progress.add(1);
                        } catch (SQLException e) {
                            failed.incrementAndGet();
                            firstError.compareAndSet(null, e);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
        }
    }

    /** Opens every connection of the pool before the clock starts (pgbench also times "without initial connection time"). */
    private static void fill(HikariDataSource ds, int size, Pg.Target t) {
        try {
            Pool.fill(ds, size);
        } catch (SQLException e) {
            throw PgClient.explain(e, t);
        }
    }

    static String report(Outcome o, int workers, int pool) {
        Latency.Stats s = o.latency();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "queries     %,d ok, %,d failed, %,d rows; %d workers (virtual threads), pool of %d connections%n",
                o.ok(), o.failed(), o.rows(), workers, pool));
        sb.append(String.format(Locale.ROOT, "throughput  %,.0f queries/s over %.2f s%n", o.qps(), o.elapsed().toNanos() / 1e9));
        sb.append(String.format(Locale.ROOT, "latency     min %s, p50 %s, p90 %s, p99 %s, p99.9 %s, max %s (pool checkout + execute + fetch)%n",
                Latency.ms(s.min()), Latency.ms(s.p50()), Latency.ms(s.p90()), Latency.ms(s.p99()), Latency.ms(s.p999()), Latency.ms(s.max())));
        if (o.cpuNanos() >= 0 && o.ok() + o.failed() > 0) {
            sb.append(String.format(Locale.ROOT, "client cpu  %.1f us per query, %.0f %% of one core (this process; when it shares the server's machine, its CPU is the server's loss)%n",
                    o.cpuNanos() / 1e3 / (o.ok() + o.failed()), 100.0 * o.cpuNanos() / Math.max(1, o.elapsed().toNanos())));
        }
        return sb.toString();
    }

    private String query(Map<String, String> values) throws IOException {
        String text;
        if (query != null && query.sql != null) text = query.sql;
        else if (query != null) text = Files.readString(query.file, StandardCharsets.UTF_8);
        else {
            values.putIfAbsent("city", city);
            values.putIfAbsent("limit", Integer.toString(limit));
            text = PgClient.CITY_QUERY;
        }
        text = text.strip();
        while (text.endsWith(";")) text = text.substring(0, text.length() - 1).strip();
        if (text.isEmpty()) throw Cli.usage("the query is empty");
        return text;
    }

    private static HikariDataSource pool(Pg.Target t, int size) {
        try {
            return Pool.create(t, size);
        } catch (SQLException e) {
            throw PgClient.explain(e, t);
        }
    }

    // ------------------------------------------------------------------ COPY

    int copyIn(Pg.Target t, Path copyIn) throws Exception {
        if (table == null) throw Cli.usage("--copy-in needs --table TABLE");
        if (!Files.isRegularFile(copyIn)) throw new Cli.Failure("no such file: " + copyIn);
        long size = Files.size(copyIn);
        String columns = "";
        if (!noHeader) {
            List<String> header = header(copyIn);
            if (header.isEmpty()) throw new Cli.Failure(copyIn + ": line 1: no header (use --no-header for a file without one)");
            columns = " (" + String.join(", ", header.stream().map(Pg::ident).toList()) + ")";
        }
        String copy = "COPY " + Pg.qualified(table) + columns + " FROM STDIN (FORMAT csv" + (noHeader ? "" : ", HEADER true") + ")";
        long t0 = System.nanoTime();
        long rows;
        AtomicLong bytes = new AtomicLong();
        try (Connection c = PgClient.connect(t);
             Cli.Progress progress = Cli.Progress.bytes("copy in", size, common.quiet);
             InputStream in = new FilterInputStream(Files.newInputStream(copyIn)) {
                 @Override
                 public int read(byte[] b, int off, int len) throws IOException {
                     int n = super.read(b, off, len);
                     if (n > 0) {
                         progress.add(n);
                         bytes.addAndGet(n);
                     }
                     return n;
                 }
             }) {
            CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
            rows = cm.copyIn(copy, in, 1 << 16);
        } catch (SQLException e) {
            throw new Cli.Failure(copyIn + ": " + PgClient.explain(e, t).getMessage(), e);
        }
        spec.commandLine().getErr().println(Cli.summary("copied in", rows, "rows", bytes.get(), Duration.ofNanos(System.nanoTime() - t0))
                + " into " + table);
        return 0;
    }

    /** The CSV header's column names. */
    static List<String> header(Path f) throws IOException {
        try {
            return Csv.header(f, ',');
        } catch (Csv.BadCsv e) {
            throw new Cli.Failure(f + ": the header is not valid CSV: " + e.getMessage(), e);
        }
    }

    int copyOut(Pg.Target t, Path copyOut) throws Exception {
        if ((table == null) == (query == null)) throw Cli.usage("--copy-out needs --table TABLE or a query (--sql / --file)");
        String source;
        if (table != null) {
            source = Pg.qualified(table);
        } else {
            Map<String, String> values = PgClient.params(params);
            PgClient.Named q = PgClient.named(query(values));
            // COPY takes no parameters: inline them as quoted literals (typed by the server from the context)
            StringBuilder s = new StringBuilder();
            String[] parts = (q.sql() + " ").split("\\?", -1);
            if (parts.length - 1 != q.names().size()) throw Cli.usage("'?' is not allowed in a --copy-out query; use :name parameters");
            for (int i = 0; i < parts.length; i++) {
                s.append(parts[i]);
                if (i < q.names().size()) {
                    String v = values.get(q.names().get(i));
                    if (v == null) throw Cli.usage("the query uses :" + q.names().get(i) + " but no --param " + q.names().get(i) + "=VALUE was given");
                    s.append('\'').append(v.replace("'", "''")).append('\'');
                }
            }
            source = "(" + s.toString().strip() + ")";
        }
        Path target = copyOut.toAbsolutePath();
        if (Files.exists(target) && !force) throw new FileAlreadyExistsException(copyOut.toString());
        Path dir = target.getParent();
        if (!Files.isDirectory(dir)) throw new Cli.Failure("no such folder: " + dir);
        // beside the target, created with the user's umask (createTempFile would make it 0600)
        Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".part");
        long t0 = System.nanoTime();
        long rows;
        AtomicLong bytes = new AtomicLong();
        try {
            try (Connection c = PgClient.connect(t);
                 Cli.Progress progress = Cli.Progress.bytes("copy out", -1, common.quiet);
                 OutputStream os = new FilterOutputStream(Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW)) {
                     @Override
                     public void write(byte[] b, int off, int len) throws IOException {
                         out.write(b, off, len);
                         progress.add(len);
                         bytes.addAndGet(len);
                     }
                 }) {
                CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
                rows = cm.copyOut("COPY " + source + " TO STDOUT (FORMAT csv" + (noHeader ? "" : ", HEADER true") + ")", os);
            } catch (SQLException e) {
                if (e.getCause() instanceof IOException io) throw new Cli.Failure("cannot write " + copyOut + ": " + io.getMessage(), io);
                throw PgClient.explain(e, t);
            } catch (IOException e) {
                throw new Cli.Failure("cannot write " + copyOut + ": " + e.getMessage(), e);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        spec.commandLine().getErr().println(Cli.summary("copied out", rows, "rows", bytes.get(), Duration.ofNanos(System.nanoTime() - t0))
                + " to " + copyOut);
        return 0;
    }
}
