///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/Latency.java
//SOURCES ../lib/PgClient.java
//DESCRIPTION Queries Supabase both ways: its REST API (PostgREST, as supabase-py does: SUPABASE_URL, SUPABASE_KEY) or PostgreSQL
//DESCRIPTION directly through the pooler connection string (prepared statements off in transaction mode, port 6543 or --pooler).
//DESCRIPTION Usage: supabase-query.java [--city CITY] [--eq col=v] [--ilike col=pat] [--in col=a,b] [--order col.desc] [--limit N] [--format F]
//DESCRIPTION        supabase-query.java --url 'postgresql://postgres.ref:pw@aws-0-region.pooler.supabase.com:6543/postgres' --city denver
//MAIN SupabaseQuery

import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "supabase-query", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"Reads rows from Supabase through its REST API (PostgREST) or straight from PostgreSQL through the pooler,",
                "with the same filters both ways; times the requests (printing excluded)."},
        footer = {"", "Examples:",
                "  SUPABASE_URL=https://abcd.supabase.co SUPABASE_KEY=your-api-key ./jbang supabase-query --city denver",
                "  ./jbang supabase-query --gte temp_f=90 --in site_name=Denver,Boulder --order timestamp.desc --limit 5000 --format csv",
                "  ./jbang supabase-query --ilike 'description=*rain*' --select site_name,timestamp,precip --format ndjson",
                "  ./jbang supabase-query --url 'postgresql://postgres.abcd:pw@aws-0-us-east-1.pooler.supabase.com:6543/postgres' --city denver",
                "",
                "REST: GET {SUPABASE_URL}/rest/v1/<table>?select=...&col=op.value with apikey and Authorization: Bearer headers;",
                "more rows than --page-size are fetched in pages with Range headers. Filters: --eq --neq --gt --gte --lt --lte",
                "--like --ilike (* is the wildcard) --in (comma list) and --filter col=op.value for anything else (REST only).",
                "Direct: --url (or --via postgres with DATABASE_URL / PG* variables); on port 6543 or with --pooler",
                "server-side prepared statements are turned off (transaction-mode pooler). Exit codes: 0 ok, 1 failure, 2 usage."})
class SupabaseQuery implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;

    enum Via { rest, postgres }

    @Option(names = "--via", paramLabel = "rest|postgres", description = "Transport: ${COMPLETION-CANDIDATES} (default: postgres when --url is given, else rest).")
    Via via;

    @Option(names = "--supabase-url", paramLabel = "URL", description = "Project URL (default: SUPABASE_URL).")
    String supabaseUrl;

    @Option(names = "--key", paramLabel = "KEY", description = "API key (default: SUPABASE_KEY; prefer the variable: a key on the command line lands in your shell history).")
    String key;

    @Option(names = "--table", paramLabel = "TABLE", defaultValue = "weather_reports", description = "Table or view (default: ${DEFAULT-VALUE}).")
    String table;

    @Option(names = "--select", paramLabel = "COLUMNS", defaultValue = "*", description = "Columns, comma-separated (default: ${DEFAULT-VALUE}).")
    String select;

    @Option(names = "--city", paramLabel = "CITY", description = "site_name matched case-insensitively (the default query uses Denver when no filter is given).")
    String city;

    @Option(names = "--eq", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> eq = new ArrayList<>();
    @Option(names = "--neq", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> neq = new ArrayList<>();
    @Option(names = "--gt", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> gt = new ArrayList<>();
    @Option(names = "--gte", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> gte = new ArrayList<>();
    @Option(names = "--lt", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> lt = new ArrayList<>();
    @Option(names = "--lte", paramLabel = "COL=VALUE", converter = CliTypes.NameValue.class) List<String> lte = new ArrayList<>();
    @Option(names = "--like", paramLabel = "COL=PATTERN", converter = CliTypes.NameValue.class, description = "Case-sensitive pattern, * is the wildcard.")
    List<String> like = new ArrayList<>();
    @Option(names = "--ilike", paramLabel = "COL=PATTERN", converter = CliTypes.NameValue.class, description = "Case-insensitive pattern, * is the wildcard.")
    List<String> ilike = new ArrayList<>();
    @Option(names = "--in", paramLabel = "COL=A,B,C", converter = CliTypes.NameValue.class, description = "One of the values.") List<String> in = new ArrayList<>();

    @Option(names = "--filter", paramLabel = "COL=OP.VALUE", converter = CliTypes.NameValue.class,
            description = "A raw PostgREST filter (REST only), e.g. 'precip=not.is.null'.")
    List<String> rawFilters = new ArrayList<>();

    @Option(names = "--order", paramLabel = "SPEC", description = "PostgREST order: col[.asc|.desc][.nullsfirst|.nullslast][,col2...].")
    String order;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "1000", converter = CliTypes.NonNegativeLong.class, description = "Rows at most (default: ${DEFAULT-VALUE}).")
    long limit;

    @Option(names = "--page-size", paramLabel = "N", defaultValue = "1000", converter = CliTypes.PositiveInt.class,
            description = "Rows per REST request; more are fetched in pages with Range headers (default: ${DEFAULT-VALUE}, Supabase's max-rows).")
    int pageSize;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "table", description = "table, csv, json or ndjson (default: ${DEFAULT-VALUE}).")
    PgClient.Format format;

    @Option(names = "--crlf", description = "With --format csv: end lines with CRLF (RFC 4180) instead of LF (as psql writes CSV).")
    boolean crlf;

    @Option(names = "--no-rows", description = "Do not print the rows (timings only).")
    boolean noRows;

    @Option(names = "--timeout", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class, defaultValue = "30s",
            description = "Per request / query (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--pooler", description = "Direct mode through a transaction-mode pooler: prepared statements off (automatic on port 6543).")
    boolean pooler;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new SupabaseQuery()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::run);
    }

    /** One filter: column, PostgREST operator, value(s). */
    record Filter(String column, String op, List<String> values) {}

    int requests; // REST requests made (tests read it)

    int run() throws Exception {
        List<Filter> filters = filters();
        Via mode = via != null ? via : pg.url != null ? Via.postgres : Via.rest;
        PgClient.Result result;
        long t0 = System.nanoTime();
        String timing;
        if (mode == Via.rest) {
            Rest r = rest(filters);
            result = r.result();
            timing = String.format(Locale.ROOT, "REST: %d %s, %s until the last body arrived, parse %s (%,d rows)",
                    r.requests(), r.requests() == 1 ? "request" : "requests", Latency.ms(r.httpNs()), Latency.ms(r.parseNs()), result.rows().size());
        } else {
            if (!rawFilters.isEmpty()) throw Cli.usage("--filter is REST only; use the typed filters (--eq, --ilike, ...) with --via postgres");
            Direct d = direct(filters);
            result = d.result();
            timing = String.format(Locale.ROOT, "postgres%s: connect %s, execute %s (to first row), fetch %s (%,d rows)",
                    d.pooled() ? " via transaction pooler (prepared statements off)" : "",
                    Latency.ms(d.connectNs()), Latency.ms(d.executeNs()), Latency.ms(d.fetchNs()), result.rows().size());
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long p0 = System.nanoTime();
        if (!noRows) PgClient.write(result, format, out, crlf);
        out.flush();
        long printNs = System.nanoTime() - p0;
        if (result.rows().isEmpty()) err.println("supabase-query: no rows in " + table + " match the filters");
        err.println(timing + (noRows ? "; rows not printed" : "; printing excluded (it took " + Latency.ms(printNs) + ")"));
        err.flush();
        return 0;
    }

    List<Filter> filters() {
        List<Filter> fs = new ArrayList<>();
        for (var e : List.of(Map.entry("eq", eq), Map.entry("neq", neq), Map.entry("gt", gt), Map.entry("gte", gte),
                Map.entry("lt", lt), Map.entry("lte", lte), Map.entry("like", like), Map.entry("ilike", ilike), Map.entry("in", in))) {
            for (String s : e.getValue()) {
                int i = s.indexOf('=');
                String col = s.substring(0, i).strip(), v = s.substring(i + 1);
                fs.add(new Filter(col, e.getKey(), e.getKey().equals("in") ? List.of(v.split(",", -1)) : List.of(v)));
            }
        }
        if (city != null) fs.add(new Filter("site_name", "ilike", List.of(escapeLike(city))));
        if (fs.isEmpty() && rawFilters.isEmpty() && table.equals("weather_reports")) {
            fs.add(new Filter("site_name", "ilike", List.of("Denver"))); // the original's query, case-insensitive
        }
        return fs;
    }

    /** A literal for LIKE / ILIKE: the wildcards % _ * and the escape \ lose their meaning. */
    static String escapeLike(String s) {
        return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "\\*");
    }

    // ------------------------------------------------------------------ REST (PostgREST)

    record Rest(PgClient.Result result, int requests, long httpNs, long parseNs) {}

    Rest rest(List<Filter> filters) throws Exception {
        Config cfg = common.config();
        String base = supabaseUrl != null ? supabaseUrl : cfg.require("the Supabase project URL", "SUPABASE_URL");
        String apiKey = key != null ? key : cfg.require("the Supabase API key", "SUPABASE_KEY");
        Config.registerSecret(apiKey);
        base = base.strip().replaceAll("/+$", "");
        if (!base.matches("(?i)https?://.+")) throw Cli.usage("SUPABASE_URL must start with https:// (got '" + Config.redact(base) + "')");
        StringBuilder qs = new StringBuilder("select=").append(enc(select.replace(" ", "")));
        for (Filter f : filters) {
            qs.append('&').append(enc(f.column())).append('=').append(f.op()).append('.');
            if (f.op().equals("in")) {
                qs.append(enc("(" + String.join(",", f.values().stream().map(SupabaseQuery::inValue).toList()) + ")"));
            } else {
                qs.append(enc(f.values().get(0)));
            }
        }
        for (String raw : rawFilters) {
            int i = raw.indexOf('=');
            qs.append('&').append(enc(raw.substring(0, i))).append('=').append(enc(raw.substring(i + 1)));
        }
        if (order != null) qs.append("&order=").append(enc(order.replace(" ", "")));
        String url = base + "/rest/v1/" + enc(table) + "?" + qs;
        HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NORMAL).build();

        List<String> columns = null;
        List<PgClient.Kind> kinds = null;
        List<String[]> rows = new ArrayList<>();
        long httpNs = 0, parseNs = 0;
        int reqs = 0;
        boolean paged = limit > pageSize;
        long offset = 0;
        while (offset < limit || (limit == 0 && reqs == 0)) {
            long want = Math.min(pageSize, limit - offset);
            HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(paged || limit == 0 ? url + (limit == 0 ? "&limit=0" : "") : url + "&limit=" + limit))
                    .timeout(timeout)
                    .header("apikey", apiKey)
                    .header("Authorization", "Bearer " + apiKey)
                    .header("Accept", "application/json")
                    .GET();
            if (paged) rb.header("Range-Unit", "items").header("Range", offset + "-" + (offset + want - 1));
            long h0 = System.nanoTime();
            HttpResponse<byte[]> resp = send(http, rb.build(), base);
            httpNs += System.nanoTime() - h0;
            reqs++;
            requests = reqs;
            if (resp.statusCode() == 416) break; // range past the end
            if (resp.statusCode() != 200 && resp.statusCode() != 206) throw restError(resp, base);
            long p0 = System.nanoTime();
            JsonNode arr = Json.MAPPER.readTree(resp.body());
            if (arr == null || !arr.isArray()) throw new Cli.Failure("Supabase answered HTTP " + resp.statusCode() + " without a JSON array of rows");
            for (JsonNode o : arr) {
                if (columns == null) {
                    columns = new ArrayList<>();
                    kinds = new ArrayList<>();
                    for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                        columns.add(it.next());
                        kinds.add(null);
                    }
                }
                String[] r = new String[columns.size()];
                for (int i = 0; i < r.length; i++) {
                    JsonNode v = o.get(columns.get(i));
                    if (v == null || v.isNull()) continue;
                    PgClient.Kind k = v.isNumber() ? PgClient.Kind.NUMBER : v.isBoolean() ? PgClient.Kind.BOOLEAN
                            : v.isContainerNode() ? PgClient.Kind.JSON : PgClient.Kind.TEXT;
                    if (kinds.get(i) == null) kinds.set(i, k);
                    r[i] = v.isValueNode() ? (v.isBoolean() ? (v.booleanValue() ? "t" : "f") : v.asText()) : v.toString();
                }
                rows.add(r);
            }
            parseNs += System.nanoTime() - p0;
            if (!paged || arr.size() < want) break;
            offset += arr.size();
        }
        if (columns == null) columns = List.of();
        List<PgClient.Kind> ks = new ArrayList<>();
        for (int i = 0; i < columns.size(); i++) ks.add(kinds.get(i) == null ? PgClient.Kind.TEXT : kinds.get(i));
        return new Rest(new PgClient.Result(columns, ks, rows), reqs, httpNs, parseNs);
    }

    private HttpResponse<byte[]> send(HttpClient http, HttpRequest req, String base) throws Exception {
        try {
            return http.send(req, HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            throw new Cli.Failure("timed out after " + timeout.toSeconds() + " s waiting for " + base + " (--timeout)", e);
        } catch (ConnectException e) {
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof UnresolvedAddressException || c instanceof java.net.UnknownHostException) {
                    throw new Cli.Failure("unknown host: " + URI.create(base).getHost() + " (check SUPABASE_URL)", e);
                }
            }
            throw new Cli.Failure("connection refused by " + base + " (check SUPABASE_URL)", e);
        } catch (java.io.IOException e) {
            if (e.getCause() instanceof UnresolvedAddressException) {
                throw new Cli.Failure("unknown host: " + URI.create(base).getHost() + " (check SUPABASE_URL)", e);
            }
            if (e instanceof javax.net.ssl.SSLException) throw new Cli.Failure("TLS error talking to " + base + ": " + e.getMessage(), e);
            throw e;
        }
    }

    /** One line from a PostgREST error body: {"code":"42703","message":"...","details":...,"hint":...}. */
    private Cli.Failure restError(HttpResponse<byte[]> resp, String base) {
        String code = null, message = null, hint = null;
        try {
            JsonNode j = Json.MAPPER.readTree(resp.body());
            if (j != null && j.isObject()) {
                code = j.path("code").isMissingNode() || j.path("code").isNull() ? null : j.path("code").asText();
                message = j.path("message").isMissingNode() || j.path("message").isNull() ? null : j.path("message").asText();
                hint = j.path("hint").isMissingNode() || j.path("hint").isNull() ? null : j.path("hint").asText();
            }
        } catch (Exception notJson) {
            message = new String(resp.body(), StandardCharsets.UTF_8).strip();
            if (message.length() > 200) message = message.substring(0, 200) + "...";
        }
        String tag = code == null ? "" : code.matches("[0-9A-Z]{5}") && !code.startsWith("PGRST") ? " [SQLSTATE " + code + "]" : " [" + code + "]";
        String what = switch (resp.statusCode()) {
            case 401 -> "Supabase refused the API key (HTTP 401";
            case 403 -> "permission denied by Supabase (HTTP 403";
            case 404 -> "not found: table '" + table + "' (HTTP 404";
            default -> "Supabase REST error (HTTP " + resp.statusCode();
        };
        return new Cli.Failure(Config.redact(what + " from " + base + ")" + tag + (message == null || message.isBlank() ? "" : ": " + message)
                + (hint == null || hint.isBlank() ? "" : " hint: " + hint)));
    }

    private static String inValue(String v) {
        if (v.matches("[^,().\":\\s]*") && !v.isEmpty()) return v;
        return "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20").replace("%2A", "*").replace("%2C", ",");
    }

    // ------------------------------------------------------------------ direct PostgreSQL

    record Direct(PgClient.Result result, boolean pooled, long connectNs, long executeNs, long fetchNs) {}

    Direct direct(List<Filter> filters) {
        Pg.Target t = pg.resolve(common.config());
        boolean pooled = pooler || PgClient.looksLikeTransactionPooler(t);
        if (pooled) PgClient.transactionPooler(t);
        PgClient.textResults(t);
        String host = PgClient.server(t);
        if (host.matches("(?i)[^/]*\\.supabase\\.(com|co)(:[0-9]+)?/.*")) t.props().putIfAbsent("sslmode", "require");
        t.props().putIfAbsent("loginTimeout", t.props().getProperty("connectTimeout", "10"));
        StringBuilder sql = new StringBuilder("SELECT ");
        if (select.strip().equals("*")) sql.append('*');
        else sql.append(String.join(", ", List.of(select.split(",")).stream().map(s -> Pg.ident(s.strip())).toList()));
        sql.append(" FROM ").append(Pg.qualified(table));
        List<String> values = new ArrayList<>();
        List<String> where = new ArrayList<>();
        for (Filter f : filters) {
            String col = Pg.ident(f.column());
            switch (f.op()) {
                case "eq" -> where.add(col + " = ?");
                case "neq" -> where.add(col + " <> ?");
                case "gt" -> where.add(col + " > ?");
                case "gte" -> where.add(col + " >= ?");
                case "lt" -> where.add(col + " < ?");
                case "lte" -> where.add(col + " <= ?");
                case "like" -> where.add(col + " LIKE ?");
                case "ilike" -> where.add(col + " ILIKE ?");
                case "in" -> where.add(col + " IN (" + String.join(", ", f.values().stream().map(v -> "?").toList()) + ")");
                default -> throw new IllegalStateException(f.op());
            }
            for (String v : f.values()) values.add(f.op().endsWith("like") ? starToPercent(v) : v);
        }
        if (!where.isEmpty()) sql.append(" WHERE ").append(String.join(" AND ", where));
        if (order != null) sql.append(" ORDER BY ").append(orderBy(order));
        sql.append(" LIMIT ").append(limit);
        long c0 = System.nanoTime();
        try (Connection c = PgClient.connect(t)) {
            long connectNs = System.nanoTime() - c0;
            try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
                for (int i = 0; i < values.size(); i++) ps.setObject(i + 1, values.get(i), Types.OTHER);
                ps.setQueryTimeout((int) Math.max(1, timeout.toSeconds()));
                long e0 = System.nanoTime();
                try (ResultSet rs = ps.executeQuery()) {
                    boolean has = rs.next();
                    long e1 = System.nanoTime();
                    ResultSetMetaData md = rs.getMetaData();
                    int n = md.getColumnCount();
                    List<String[]> rows = new ArrayList<>();
                    if (has) {
                        do rows.add(PgClient.row(rs, n)); while (rs.next());
                    }
                    long e2 = System.nanoTime();
                    return new Direct(new PgClient.Result(PgClient.columns(md), PgClient.kinds(md), rows), pooled, connectNs, e1 - e0, e2 - e1);
                }
            }
        } catch (SQLException e) {
            throw PgClient.explain(e, t);
        }
    }

    /** PostgREST's * wildcard as SQL's %, keeping escaped \* literal. */
    static String starToPercent(String pattern) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c == '\\' && i + 1 < pattern.length()) {
                char n = pattern.charAt(++i);
                if (n == '*') sb.append('*');
                else sb.append('\\').append(n);
            } else if (c == '*') {
                sb.append('%');
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** "timestamp.desc.nullslast,site_name" as SQL. */
    static String orderBy(String spec) {
        List<String> parts = new ArrayList<>();
        for (String term : spec.split(",")) {
            String[] p = term.strip().split("\\.");
            if (p.length == 0 || p[0].isEmpty()) throw Cli.usage("bad --order term '" + term + "'");
            StringBuilder sb = new StringBuilder(Pg.ident(p[0]));
            for (int i = 1; i < p.length; i++) {
                switch (p[i].toLowerCase(Locale.ROOT)) {
                    case "asc" -> sb.append(" ASC");
                    case "desc" -> sb.append(" DESC");
                    case "nullsfirst" -> sb.append(" NULLS FIRST");
                    case "nullslast" -> sb.append(" NULLS LAST");
                    default -> throw Cli.usage("bad --order modifier '" + p[i] + "' (asc, desc, nullsfirst, nullslast)");
                }
            }
            parts.add(sb.toString());
        }
        return String.join(", ", parts);
    }
}
