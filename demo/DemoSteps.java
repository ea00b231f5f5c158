import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The tour's steps. Each runs one of the collection's scripts through ./jbang as a subprocess, so what the audience
 * sees is that script's own output, and prints the one-liner that reruns it. On the local stack the connection goes
 * on the command line (--host, --url: no secrets in them) and the token in the child's environment only, under every
 * name a script reads, so a token or host in the user's environment or dotenv files can never send a local tour
 * elsewhere. With --cloud the scripts read the user's settings as the tour did; only --host is spelled out.
 */
final class DemoSteps {
    enum Step { seed, stream, transfer, stress }

    /** One thing a step measured, in the words (and numbers) its script or endpoint gave. */
    record Figure(Step step, String text) {
        @Override
        public String toString() {
            return String.format("%-9s %s", step, text);
        }
    }

    static final String PG_TABLE = "weather_reports", TRANSFER_TABLE = "demo_reports", EVENTS = "estore_events", WEATHER = "weather_data";
    static final List<String> TOKEN_NAMES = List.of("TINYBIRD_TOKEN", "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_READ_TOKEN", "TINYBIRD_KEY", "TB_TOKEN");

    final Path repo;
    final boolean cloud;
    final String host, token, databaseUrl;
    final Config config;
    final PrintWriter out;
    Path report;
    /** --cloud's --env-file, passed on to every script (and so in each one-liner). */
    Path envFile;
    Duration streamDuration = Duration.ofSeconds(5), stressDuration = Duration.ofSeconds(20);
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private DemoSteps(Path repo, boolean cloud, String host, String token, String databaseUrl, Config config, PrintWriter out) {
        this.repo = repo;
        this.cloud = cloud;
        this.host = host.replaceAll("/+$", "");
        this.token = token;
        this.databaseUrl = databaseUrl;
        this.config = config;
        this.out = out;
    }

    static DemoSteps local(Path repo, LocalServices stack, PrintWriter out) {
        Map<String, String> s = stack.settings();
        return new DemoSteps(repo, false, s.get("TINYBIRD_HOST"), s.get("TINYBIRD_TOKEN"), s.get("DATABASE_URL"),
                Config.of(Map.of(), Path.of("/nonexistent"), null), out);
    }

    /** The user's workspace and database: checked for the project's resources before anything is written. */
    static DemoSteps cloud(Path repo, Config cfg, PrintWriter out) throws Exception {
        String host = cfg.get("TINYBIRD_HOST", "TB_HOST").orElseThrow(() -> new Cli.Failure("--cloud: set TINYBIRD_HOST (your workspace's API host)"));
        String token = cfg.get("TINYBIRD_TOKEN", "TB_TOKEN").orElseThrow(() -> new Cli.Failure("--cloud: set TINYBIRD_TOKEN (a token that can read and append)"));
        String db = cfg.get("DATABASE_URL").orElseThrow(() -> new Cli.Failure("--cloud: set DATABASE_URL (the PostgreSQL the demo may write its tables to)"));
        if (!host.startsWith("https://") && !loopback(host)) throw new Cli.Failure("--cloud: TINYBIRD_HOST must be https://");
        DemoSteps d = new DemoSteps(repo, true, host, token, db, cfg, out);
        d.checkWorkspace();
        out.println("== --cloud: the tour writes only to Tinybird data source " + EVENTS + " (events appended), " + WEATHER
                + " (seeded only when empty), and PostgreSQL tables " + PG_TABLE + " (seeded only when empty), " + TRANSFER_TABLE
                + " and transfer_state (tb-to-postgres's watermark), at " + Pg.resolve(db, cfg));
        return d;
    }

    /** A local host name: the only plain-http host --cloud accepts (a workspace tunnelled to this machine). */
    static boolean loopback(String url) {
        String h = URI.create(url).getHost();
        return h != null && (h.equals("localhost") || h.startsWith("127.") || h.equals("[::1]"));
    }

    // ------------------------------------------------------------------ the steps

    List<Figure> run(Step step) throws Exception {
        return switch (step) {
            case seed -> seed();
            case stream -> stream();
            case transfer -> transfer();
            case stress -> stress();
        };
    }

    List<Figure> seed() throws Exception {
        header("seed", "the weather data into both stores (seed-data's deterministic rows, the same on each side)");
        long inTinybird = sqlCount("SELECT count() FROM " + WEATHER);
        List<String> args = new ArrayList<>(List.of("seed-data"));
        if (!cloud) {
            // the stack is the tour's own: both stores are loaded afresh, so every tour measures the same load
            if (inTinybird > 0) truncate(WEATHER);
            for (String fed : materializedFrom(WEATHER)) if (sqlCount("SELECT count() FROM " + fed) > 0) truncate(fed);
            args.addAll(List.of("--target", "both"));
            args.addAll(pg());
            args.addAll(List.of("--replace", "--host", host, "--datasource", WEATHER));
        } else {
            // the user's stores: filled when empty, never emptied
            long inPostgres = pgCount(PG_TABLE);
            if (inTinybird > 0) out.printf("Tinybird %s already holds %,d rows: left as it is%n", WEATHER, inTinybird);
            if (inPostgres > 0) out.printf("PostgreSQL %s already holds %,d rows: left as it is%n", PG_TABLE, inPostgres);
            if (inTinybird > 0 && inPostgres > 0) return List.of(new Figure(Step.seed, "nothing to seed: both stores already hold the weather data"));
            String target = inTinybird > 0 ? "postgres" : inPostgres > 0 ? "tinybird" : "both";
            args.addAll(List.of("--target", target));
            if (!target.equals("tinybird")) args.addAll(pg());
            if (!target.equals("postgres")) args.addAll(List.of("--host", host, "--datasource", WEATHER));
        }
        return script(Step.seed, args, l -> l.matches("(postgres|tinybird): [\\d,]+ rows in .*") ? List.of(l.strip()) : List.of());
    }

    List<Figure> stream() throws Exception {
        header("stream", "e-store events into Tinybird for " + dur(streamDuration) + ", then an API Endpoint over them");
        String start = DT.format(LocalDateTime.now(ZoneOffset.UTC).minusSeconds(1).truncatedTo(ChronoUnit.SECONDS));
        // e-store's summary is one long line: its rate and what Tinybird stored are the figures
        List<Figure> figures = new ArrayList<>(script(Step.stream, List.of("e-store", "--host", host, "--datasource", EVENTS, "--eps", "500",
                "--duration", dur(streamDuration), "--quiet"), l -> java.util.Arrays.stream(l.strip().split("; "))
                .filter(part -> part.startsWith("e-store: sent: ") || part.startsWith("tinybird " + EVENTS + ": ")).toList()));
        String end = DT.format(LocalDateTime.now(ZoneOffset.UTC).plusSeconds(2).truncatedTo(ChronoUnit.SECONDS));
        Map<String, String> params = new LinkedHashMap<>();
        params.put("start_time", start);
        params.put("end_time", end);
        params.put("action", "view");
        params.put("limit", "5");
        String query = query(params);
        out.println("$ curl -H \"Authorization: Bearer $TINYBIRD_TOKEN\" '" + host + "/v0/pipes/top_products.json?" + query + "'");
        HttpResponse<String> r = get("/v0/pipes/top_products.json?" + query);
        if (r.statusCode() != 200) throw new Cli.Failure("step stream failed: top_products answered " + r.statusCode() + ": " + firstLine(r.body()));
        JsonNode body = Json.MAPPER.readTree(r.body());
        out.println("  product        events  customers");
        for (JsonNode row : body.path("data")) {
            out.printf("  %-13s %7d %10d%n", row.path("product_id").asText(), row.path("events").asLong(), row.path("customers").asLong());
        }
        double ms = body.path("statistics").path("elapsed").asDouble() * 1000;
        figures.add(new Figure(Step.stream, String.format("top_products over the events just sent: %d rows in %.1f ms (the endpoint's statistics.elapsed)",
                body.path("data").size(), ms)));
        return figures;
    }

    List<Figure> transfer() throws Exception {
        header("transfer", "the reports endpoint (Denver) into PostgreSQL table " + TRANSFER_TABLE + " with tb-to-postgres");
        return script(Step.transfer, join(List.of("tb-to-postgres", "--once", "--host", host), pg(), List.of("--pipe", "reports",
                "--param", "city=Denver", "--table", TRANSFER_TABLE)), l -> l.startsWith("done: ") ? List.of(l.strip()) : List.of());
    }

    List<Figure> stress() throws Exception {
        header("stress", "stress-case: PostgreSQL and Tinybird side by side for " + dur(stressDuration) + ", HTML report");
        if (!Files.isDirectory(report.getParent())) Files.createDirectories(report.getParent());
        // the side-by-side table's header and the rows a presenter compares, as stress-case aligned them
        return script(Step.stress, join(List.of("stress-case", "--target", "both", "--host", host), pg(), List.of("--concurrency", "4",
                "--duration", dur(stressDuration), "--window-from", "2023-05-01", "--window-to", "2024-04-30", "--html", report.toString())),
                l -> l.strip().matches("postgres\\s+tinybird|(requests|req/s|errors|p50|p99) .*") ? List.of(l.stripTrailing()) : List.of());
    }

    // ------------------------------------------------------------------ running a script

    /**
     * The PostgreSQL of a script's one-liner: the local stack's URL (no password in it); with --cloud none, as the
     * script reads DATABASE_URL from the same settings and a URL there may hold a password, which is never printed.
     */
    List<String> pg() {
        return cloud ? List.of() : List.of("--url", databaseUrl);
    }

    @SafeVarargs
    static List<String> join(List<String>... parts) {
        return Stream.of(parts).flatMap(List::stream).toList();
    }

    void header(String step, String what) {
        out.println();
        out.println("== " + step + ": " + what);
        out.flush();
    }

    /**
     * Runs ./jbang ARGS from the checkout, echoing its output as it comes; returns the step's figures, taken by
     * {@code figures} from the lines the script printed. A non-zero exit stops the tour with the script's own last line.
     */
    List<Figure> script(Step step, List<String> args, java.util.function.Function<String, List<String>> figures) throws Exception {
        if (envFile != null) args = join(args.subList(0, 1), List.of("--env-file", envFile.toString()), args.subList(1, args.size()));
        out.println("$ " + launcher() + " " + String.join(" ", args.stream().map(DemoSteps::shellQuote).toList()));
        out.flush();
        List<String> cmd = new ArrayList<>();
        cmd.add(repo.resolve("jbang").toString());
        cmd.addAll(args);
        // from the working folder, as the printed one-liner would run (its .env.local and relative paths)
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        if (!cloud) {
            pb.environment().keySet().removeIf(k -> k.startsWith("TINYBIRD_") || k.startsWith("TB_") || k.startsWith("PG")
                    || k.startsWith("POSTGRES_DATABASE_") || k.equals("DATABASE_URL"));
            for (String k : TOKEN_NAMES) pb.environment().put(k, token);
        }
        // with --cloud the script reads the settings the tour read: the same environment, working folder and --env-file
        Process p = pb.start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) {
                if (l.startsWith("[jbang] ")) continue; // the first run's build messages
                lines.add(l);
                out.println("  " + l);
                out.flush();
            }
        }
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new Cli.Failure("step " + step + ": " + args.get(0) + " did not finish in 10 minutes");
        }
        if (p.exitValue() != 0) {
            String last = lines.stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("(no output)").strip();
            throw new Cli.Failure("step " + step + " failed: " + last);
        }
        return lines.stream().flatMap(l -> figures.apply(l).stream()).map(f -> new Figure(step, f)).toList();
    }

    /** ./jbang from the checkout, else the launcher's path: what the one-liners start with. */
    String launcher() {
        Path cwd = Path.of("").toAbsolutePath();
        return cwd.equals(repo) ? "./jbang" : repo.resolve("jbang").toString();
    }

    /** A duration as the scripts' options take it: 5s, 1500ms. */
    static String dur(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }

    static String shellQuote(String a) {
        return a.matches("[A-Za-z0-9_./:=@,%+-]+") ? a : "'" + a.replace("'", "'\\''") + "'";
    }

    // ------------------------------------------------------------------ Tinybird and PostgreSQL

    static final DateTimeFormatter DT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

    static String query(Map<String, String> params) {
        List<String> parts = new ArrayList<>();
        params.forEach((k, v) -> parts.add(k + "=" + URLEncoder.encode(v, StandardCharsets.UTF_8)));
        return String.join("&", parts);
    }

    HttpResponse<String> get(String pathAndQuery) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(host + pathAndQuery)).header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Empties a data source of the local stack (Data Sources API), said as the one-liner that does the same. */
    void truncate(String datasource) throws Exception {
        out.println("$ curl -X POST -H \"Authorization: Bearer $TINYBIRD_TOKEN\" '" + host + "/v0/datasources/" + datasource + "/truncate'");
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(host + "/v0/datasources/" + datasource + "/truncate"))
                .header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) throw new Cli.Failure("step seed failed: truncating " + datasource + " answered " + r.statusCode() + ": " + firstLine(r.body()));
    }

    /**
     * The data sources the project's materializations fill from {@code source}: emptying a data source leaves what
     * was materialized from it, so a reload must empty those too, or an endpoint reading them answers each row twice.
     */
    List<String> materializedFrom(String source) throws IOException {
        Path d = repo.resolve("tinybird/materializations");
        if (!Files.isDirectory(d)) return List.of();
        java.util.regex.Pattern from = java.util.regex.Pattern.compile("(?i)\\bFROM\\s+" + source + "\\b");
        java.util.regex.Pattern target = java.util.regex.Pattern.compile("(?m)^DATASOURCE\\s+(\\w+)\\s*$");
        List<String> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(d)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".pipe")).sorted().toList()) {
                String text = Files.readString(f);
                java.util.regex.Matcher m = target.matcher(text);
                if (from.matcher(text).find() && m.find()) out.add(m.group(1));
            }
        }
        return out;
    }

    /** A count over the Query API; -1 when the data source does not exist. */
    long sqlCount(String sql) throws Exception {
        HttpResponse<String> r = get("/v0/sql?q=" + URLEncoder.encode(sql + " FORMAT CSV", StandardCharsets.UTF_8));
        if (r.statusCode() == 404 || (r.statusCode() == 400 && r.body().contains("not found"))) return -1;
        if (r.statusCode() != 200) throw new Cli.Failure("Tinybird answered " + r.statusCode() + " to " + sql + ": " + firstLine(r.body()));
        return Long.parseLong(r.body().strip());
    }

    long pgCount(String table) throws SQLException {
        try (Connection c = Pg.connect(Pg.resolve(databaseUrl, config)); Statement st = c.createStatement()) {
            try (var ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
                ps.setString(1, Pg.ident(table));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (!rs.getBoolean(1)) return -1;
                }
            }
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + Pg.ident(table))) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** --cloud deploys nothing: the workspace must already have the project's data sources and endpoints. */
    void checkWorkspace() throws Exception {
        java.util.Set<String> there = new java.util.HashSet<>();
        for (String kind : List.of("datasources", "pipes")) {
            HttpResponse<String> r = get("/v0/" + kind);
            if (r.statusCode() == 401 || r.statusCode() == 403) throw new Cli.Failure("--cloud: the token may not list the workspace's " + kind + " (" + r.statusCode() + ")");
            if (r.statusCode() != 200) throw new Cli.Failure("--cloud: /v0/" + kind + " answered " + r.statusCode() + ": " + firstLine(r.body()));
            for (JsonNode n : Json.MAPPER.readTree(r.body()).path(kind)) there.add(n.path("name").asText() + (kind.equals("pipes") ? ".pipe" : ".datasource"));
        }
        List<String> missing = new ArrayList<>();
        // materializations/ left out: the local emulator does not list them under /v0/pipes, and their target data
        // sources (checked) are what a workspace without them would lack
        for (String folder : List.of("datasources", "endpoints")) {
            Path d = repo.resolve("tinybird").resolve(folder);
            if (!Files.isDirectory(d)) continue;
            try (Stream<Path> files = Files.list(d)) {
                files.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".datasource") || f.endsWith(".pipe"))
                        .sorted().filter(f -> !there.contains(f)).forEach(missing::add);
            }
        }
        if (!missing.isEmpty()) {
            throw new Cli.Failure("--cloud: the workspace lacks " + String.join(", ", missing)
                    + ": deploy the project with `cd tinybird && tb --cloud deploy` (Tinybird Forward) or `tb push` each file (Classic)");
        }
    }

    static String firstLine(String s) {
        String t = s == null ? "" : s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl);
    }
}
