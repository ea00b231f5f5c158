///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/Latency.java
//SOURCES ../lib/PgClient.java
//DESCRIPTION Runs one query over plain JDBC (pgjdbc) and times it honestly: connect, execute (to first row), fetch (all rows); printing excluded.
//DESCRIPTION Default query: the original's SELECT * FROM weather_reports WHERE site_name = 'Denver' LIMIT 1000 (city matched case-insensitively).
//DESCRIPTION Usage: pg-query.java [--url URL] [--sql SQL | -f FILE | --city CITY] [--param name=value]... [--format table|csv|json|ndjson] [--repeat N] [--explain]
//MAIN PgQuery

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "pg-query", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"Runs a query over plain JDBC and reports connect, execute (to first row) and fetch (all rows) times;",
                "printing is never included. Rows go to stdout, timings to stderr."},
        footer = {"", "Examples:",
                "  ./jbang pg-query --url 'postgresql://app:p%%40ss@db.example.com:5432/weather' --city denver",
                "  PGHOST=localhost PGUSER=app ./jbang pg-query --sql 'SELECT * FROM weather_reports WHERE temp_f > :t' --param t=90 --format csv",
                "  ./jbang pg-query -f report.sql --format ndjson > rows.ndjson",
                "  ./jbang pg-query --sql 'SELECT 1' --repeat 1000 --no-rows      # min / median / p99",
                "  ./jbang pg-query --city Denver --explain --analyze",
                "",
                "Connection: --url, else DATABASE_URL, else PG* variables, else POSTGRES_DATABASE_*; ~/.pgpass (or PGPASSFILE)",
                "when no password is given. Exit codes: 0 ok (also for an empty result, noted on stderr), 1 failure, 2 usage."})
class PgQuery implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;

    /** The query: --sql or --file (neither: the default query). */
    @ArgGroup(exclusive = true)
    Query query;

    static final class Query {
        @Option(names = "--sql", paramLabel = "SQL", description = "The query; :name placeholders are bound from --param.")
        String sql;

        @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the query from FILE.")
        Path file;
    }

    @Option(names = "--city", paramLabel = "CITY", defaultValue = "Denver",
            description = "City for the default query (case-insensitive; default: ${DEFAULT-VALUE}).")
    String city;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "1000", converter = CliTypes.PositiveInt.class,
            description = "Row limit of the default query (default: ${DEFAULT-VALUE}); with --sql or --file, the most rows fetched and printed.")
    int limit;

    @Option(names = {"-p", "--param"}, paramLabel = "NAME=VALUE", converter = CliTypes.NameValue.class, description = "Bind :NAME to VALUE (repeatable); the server infers the type.")
    List<String> params = new ArrayList<>();

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "table",
            description = "table (psql-like), csv, json or ndjson (default: ${DEFAULT-VALUE}).")
    PgClient.Format format;

    @Option(names = "--crlf", description = "With --format csv: end lines with CRLF (RFC 4180) instead of LF (as psql writes CSV).")
    boolean crlf;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "1", converter = CliTypes.PositiveInt.class,
            description = "Run the query N times on one connection and report min, median, p99 (default: ${DEFAULT-VALUE}).")
    int repeat;

    @Option(names = "--warmup", paramLabel = "N", converter = CliTypes.NonNegativeInt.class,
            description = "With --repeat: run N times first without counting them (JIT warm-up; default with --repeat > 1: "
                    + "for 1 s or 20,000 runs, whichever ends first).")
    Integer warmup;

    @Option(names = "--no-rows", description = "Do not print the rows (timings only).")
    boolean noRows;

    @Option(names = "--explain", description = "Print the query plan (EXPLAIN) instead of the rows.")
    boolean explain;

    @Option(names = "--analyze", description = "With --explain: run the query and show actual times (EXPLAIN ANALYZE, BUFFERS).")
    boolean analyze;

    @Option(names = "--fetch-size", paramLabel = "N", defaultValue = "0", converter = CliTypes.NonNegativeInt.class,
            description = "Rows per round trip (0 = all at once, the default; >0 uses a cursor inside a transaction).")
    int fetchSize;

    @Option(names = "--timeout", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Cancel the query after this long (e.g. 30s).")
    Duration timeout;

    @Option(names = "--connect-timeout", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Give up connecting after this long (default 10s, or connect_timeout in the URL).")
    Duration connectTimeout;

    @Option(names = "--pooler", description = "Behind PgBouncer/Supavisor in transaction mode: no server-side prepared statements "
            + "(automatic on port 6543).")
    boolean pooler;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new PgQuery()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::run);
    }

    /** Timings of one run, in nanoseconds. */
    record Run(long execute, long fetch, int rows) {}

    int run() throws Exception {
        int warmMax = warmup != null ? warmup : repeat > 1 ? 20_000 : 0;
        long warmEnd = warmup != null ? Long.MAX_VALUE : System.nanoTime(); // set again once connected
        if (analyze && !explain) throw Cli.usage("--analyze goes with --explain");
        String sql = query == null ? null : query.sql;
        Path file = query == null ? null : query.file;
        Map<String, String> values = PgClient.params(params);
        String text;
        if (sql != null) text = sql;
        else if (file != null) text = Files.readString(file, StandardCharsets.UTF_8);
        else {
            text = PgClient.CITY_QUERY;
            values.putIfAbsent("city", city);
            values.putIfAbsent("limit", Integer.toString(limit));
        }
        text = text.strip();
        while (text.endsWith(";")) text = text.substring(0, text.length() - 1).strip();
        if (text.isEmpty()) throw Cli.usage("the query is empty" + (file != null ? ": " + file : ""));
        PgClient.Named q = PgClient.named(text);

        Pg.Target t = pg.resolve(common.config());
        if (pooler || PgClient.looksLikeTransactionPooler(t)) PgClient.transactionPooler(t);
        PgClient.textResults(t);
        if (connectTimeout != null) {
            long s = Math.max(1, connectTimeout.toSeconds());
            t.props().setProperty("connectTimeout", Long.toString(s));
            t.props().setProperty("loginTimeout", Long.toString(s));
        } else {
            t.props().putIfAbsent("loginTimeout", t.props().getProperty("connectTimeout", "10"));
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        long c0 = System.nanoTime();
        try (Connection c = PgClient.connect(t)) {
            long connectNs = System.nanoTime() - c0;
            if (explain) {
                explain(c, q, values, t, out);
                return 0;
            }
            if (fetchSize > 0) c.setAutoCommit(false);
            Latency exec = new Latency(), fetch = new Latency(), total = new Latency();
            int warm = 0;
            PgClient.Result last = null;
            try (PreparedStatement ps = c.prepareStatement(q.sql())) {
                PgClient.bind(ps, q, values);
                if (fetchSize > 0) ps.setFetchSize(fetchSize);
                if ((sql != null || file != null) && spec.commandLine().getParseResult().hasMatchedOption("--limit")) ps.setMaxRows(limit);
                if (timeout != null) ps.setQueryTimeout((int) Math.max(1, timeout.toSeconds()));
                if (warmup == null) warmEnd = System.nanoTime() + 1_000_000_000L;
                for (; warm < warmMax && System.nanoTime() < warmEnd; warm++) {
                    try (ResultSet rs = ps.executeQuery()) {
                        int n = rs.getMetaData().getColumnCount();
                        while (rs.next()) PgClient.row(rs, n);
                    }
                    if (fetchSize > 0) c.commit();
                }
                for (int i = 0; i < repeat; i++) {
                    List<String[]> rows = new ArrayList<>();
                    long t0 = System.nanoTime();
                    long t1, t2;
                    List<String> cols;
                    List<PgClient.Kind> kinds;
                    try (ResultSet rs = ps.executeQuery()) {
                        boolean has = rs.next();
                        t1 = System.nanoTime();
                        ResultSetMetaData md = rs.getMetaData();
                        int n = md.getColumnCount();
                        if (has) {
                            do rows.add(PgClient.row(rs, n)); while (rs.next());
                        }
                        if (fetchSize > 0) c.commit();
                        t2 = System.nanoTime();
                        cols = i == 0 || i == repeat - 1 ? PgClient.columns(md) : null;
                        kinds = cols == null ? null : PgClient.kinds(md);
                    }
                    exec.record(t1 - t0);
                    fetch.record(t2 - t1);
                    total.record(t2 - t0);
                    if (cols != null) last = new PgClient.Result(cols, kinds, rows);
                }
            } catch (SQLException e) {
                if ("57014".equals(e.getSQLState()) && timeout != null) {
                    throw new Cli.Failure("query timed out after " + timeout.toSeconds() + " s (--timeout) [SQLSTATE 57014]", e);
                }
                throw PgClient.explain(e, t);
            }
            long p0 = System.nanoTime();
            if (!noRows) PgClient.write(last, format, out, crlf);
            out.flush();
            long printNs = System.nanoTime() - p0;
            int rows = last.rows().size();
            if (rows == 0) {
                err.println("pg-query: no rows" + (sql == null && file == null
                        ? ": no weather_reports row has site_name '" + city + "' (matched case-insensitively)" : ""));
            }
            err.println(report(connectNs, warm, exec.stats(), fetch.stats(), total.stats(), rows, noRows ? -1 : printNs));
            err.flush();
            return 0;
        }
    }

    private void explain(Connection c, PgClient.Named q, Map<String, String> values, Pg.Target t, PrintWriter out) {
        String prefix = analyze ? "EXPLAIN (ANALYZE, BUFFERS) " : "EXPLAIN ";
        try (PreparedStatement ps = c.prepareStatement(prefix + q.sql())) {
            PgClient.bind(ps, q, values);
            if (timeout != null) ps.setQueryTimeout((int) Math.max(1, timeout.toSeconds()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) out.println(rs.getString(1));
            }
            out.flush();
        } catch (SQLException e) {
            throw PgClient.explain(e, t);
        }
    }

    /** The timing lines: one run, or min / median / p99 over --repeat runs. */
    static String report(long connectNs, int warm, Latency.Stats exec, Latency.Stats fetch, Latency.Stats total, int rows, long printNs) {
        String printing = printNs < 0 ? "rows not printed" : String.format(Locale.ROOT, "printing excluded (it took %s)", Latency.ms(printNs));
        if (exec.count() == 1) {
            return String.format(Locale.ROOT, "connect %s, execute %s (to first row), fetch %s (%,d %s)%s; %s",
                    Latency.ms(connectNs), Latency.ms(exec.min()), Latency.ms(fetch.min()), rows, rows == 1 ? "row" : "rows",
                    warm > 0 ? String.format(Locale.ROOT, " after %,d warm-up runs", warm) : "", printing);
        }
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%,d runs on one connection (after %,d warm-up runs), %,d %s each; connect %s (once); %s%n",
                exec.count(), warm, rows, rows == 1 ? "row" : "rows", Latency.ms(connectNs), printing));
        sb.append(String.format(Locale.ROOT, "%-8s %12s %12s %12s %12s%n", "", "min", "median", "p99", "max"));
        for (var e : List.of(Map.entry("execute", exec), Map.entry("fetch", fetch), Map.entry("total", total))) {
            Latency.Stats s = e.getValue();
            sb.append(String.format(Locale.ROOT, "%-8s %12s %12s %12s %12s%n", e.getKey(),
                    Latency.ms(s.min()), Latency.ms(s.p50()), Latency.ms(s.p99()), Latency.ms(s.max())));
        }
        return sb.toString().stripTrailing();
    }
}
