//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Json.java
//SOURCES NetErrors.java
//SOURCES Timeouts.java

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The Tinybird client: host and token resolution, the Events API writer, the API Endpoint reader, the Data Sources
 * API (file import) and the Query API. The contract is shared/reference/tinybird-api.md; tests run it against the
 * local emulator (tinybird/tinybird-emulator.java).
 *
 * <h2>Quick use</h2>
 * <pre>{@code
 * @Mixin Tinybird.Options tb;                                   // --host URL, --region NAME, --token, --insecure
 * Tinybird.Client client = tb.client(common.config(), "TINYBIRD_TOKEN", "TINYBIRD_TARGET_TOKEN");
 *
 * // Events API: thread-safe, batched (rows / bytes / linger), gzip, wait=true, retries, back-pressure
 * try (Tinybird.Writer w = client.writer("events", new Tinybird.Writer.Settings().maxRows(10_000))) {
 *     w.append(Map.of("id", 1, "action", "view"));            // a Map / JsonNode / POJO, serialised by Jackson
 *     w.append("{\"id\":2}");                                  // or a pre-serialised JSON object (String or byte[])
 *     w.flush();                                               // everything appended so far has an outcome
 *     Tinybird.Writer.Stats s = w.stats();                     // appended == acknowledged + quarantined + failed
 * }
 *
 * // API Endpoint: streamed, so a huge answer never sits in memory
 * try (Tinybird.Rows rows = client.read("reports", Map.of("city", "Denver", "max_results", 5000))) {
 *     rows.meta();                                             // [Column(name, type)] (JSON format)
 *     while (rows.hasNext()) { ObjectNode r = rows.next(); }
 *     rows.statistics(); rows.rowsBeforeLimitAtLeast();        // known once the rows are consumed
 * }
 * Tinybird.PipeResult all = client.readAll("api_cities", Map.of());
 *
 * // Data Sources API (multipart upload of a CSV or NDJSON file) and the Query API
 * Tinybird.ImportResult r = client.importFile("append", "weather", Path.of("w.csv"), null);
 * Tinybird.PipeResult q = client.sql("select count() from weather");
 * }</pre>
 *
 * <h2>Accounting and duplicates</h2>
 * The writer counts every appended row exactly once as acknowledged (the server stored it), quarantined (the server
 * took it into {@code <ds>_quarantine}) or failed (given up: a non-retryable answer, or retries exhausted). After
 * {@link Writer#flush()} or {@link Writer#close()}, {@code appended == acknowledged + quarantined + failed}; before,
 * the difference is {@link Writer.Stats#pending()}. A retry can duplicate rows only after an <b>unknown outcome</b>:
 * the connection dropped or timed out after the request was sent, or the server answered 500, so the rows may
 * already be stored. Those attempts are counted in {@code unknownOutcomes} / {@code unknownOutcomeRows}, an upper
 * bound for the duplicates. 429 and 503 ("no data ingested") and a refused connection are safe to retry. A 422
 * (partially done) is not retried (it would duplicate) and its rows count as failed though some may be stored.
 *
 * <h2>Errors</h2>
 * Every non-2xx answer becomes an {@link ApiException} (a {@link Cli.Failure}: one line, the server's text, the host,
 * never the token); 403 and region-mismatch 404 are explained (scope? region? which host?).
 */
public final class Tinybird {
    private Tinybird() {}

    public static final String DEFAULT_HOST = "https://api.tinybird.co";
    public static final String LOCAL_HOST = "http://localhost:7181";
    static final DateTimeFormatter DATETIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    /** Region name -> API host, the reference's table. Other spellings are accepted by {@link #regionHost}. */
    public static final Map<String, String> REGIONS;

    static {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("gcp-europe-west3", "https://api.tinybird.co");
        m.put("gcp-europe-west2", "https://api.europe-west2.gcp.tinybird.co");
        m.put("gcp-us-east4", "https://api.us-east.tinybird.co");
        m.put("gcp-northamerica-northeast2", "https://api.northamerica-northeast2.gcp.tinybird.co");
        m.put("aws-eu-central-1", "https://api.eu-central-1.aws.tinybird.co");
        m.put("aws-eu-west-1", "https://api.eu-west-1.aws.tinybird.co");
        m.put("aws-us-east-1", "https://api.us-east.aws.tinybird.co");
        m.put("aws-us-west-2", "https://api.us-west-2.aws.tinybird.co");
        m.put("local", LOCAL_HOST);
        REGIONS = Collections.unmodifiableMap(m);
    }

    /**
     * The API host of a region. Accepts the canonical names of {@link #REGIONS} ({@code gcp-europe-west2},
     * {@code aws-us-east-1}, {@code local}), the bare cloud region ({@code europe-west2}, {@code us-east4},
     * {@code eu-central-1}) and the host's prefix as in the original's {@code https://{CLOUD_REGION}.tinybird.co}
     * ({@code api}, {@code api.us-east}, {@code api.eu-central-1.aws}, {@code us-east.aws}).
     */
    public static String regionHost(String region) {
        String n = region.strip().toLowerCase(Locale.ROOT);
        if (n.startsWith("https://") || n.startsWith("http://")) return n;
        if (n.endsWith(".tinybird.co")) n = n.substring(0, n.length() - ".tinybird.co".length());
        if (n.equals("api") || n.equals("default") || n.equals("europe-west3")) n = "gcp-europe-west3";
        if (n.startsWith("api.")) n = n.substring(4);
        if (n.equals("tinybird-local") || n.equals("localhost")) n = "local";
        if (REGIONS.containsKey(n)) return REGIONS.get(n);
        if (REGIONS.containsKey("gcp-" + n)) return REGIONS.get("gcp-" + n);
        if (REGIONS.containsKey("aws-" + n)) return REGIONS.get("aws-" + n);
        for (String host : REGIONS.values()) {
            String prefix = host.replaceFirst("^https?://api\\.?", "").replaceFirst("\\.?tinybird\\.co$", "");
            if (!prefix.isEmpty() && prefix.equals(n)) return host;
        }
        throw Cli.usage("unknown Tinybird region '" + region + "' (known: " + String.join(", ", REGIONS.keySet())
                + "; or give the API host with --host)");
    }

    /** A base URL and, when the URL named one (an Events API URL), the data source. */
    public record Endpoint(String host, String datasource) {}

    /**
     * Parses a host, a full API URL or the original's template
     * {@code https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}} (placeholders substituted from
     * vars; a missing one is a usage error). Returns the base URL (scheme://host[:port]) and the {@code name=} of an
     * Events API URL. Plain http to a host that is not loopback is refused unless insecure.
     */
    public static Endpoint parseUrl(String url, Map<String, String> vars, boolean insecure) {
        String s = url.strip();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\{([A-Za-z0-9_]+)\\}").matcher(s);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String v = vars == null ? null : vars.get(m.group(1));
            if (v == null || v.isBlank()) {
                throw Cli.usage("the Tinybird URL '" + s + "' has the placeholder {" + m.group(1) + "} and no value for it"
                        + (m.group(1).equals("CLOUD_REGION") ? " (give --region, e.g. api.us-east)" : ""));
            }
            m.appendReplacement(sb, java.util.regex.Matcher.quoteReplacement(v));
        }
        m.appendTail(sb);
        s = sb.toString();
        if (!s.contains("://")) s = (isLoopbackName(s.replaceFirst("[:/].*", "")) ? "http://" : "https://") + s;
        URI u;
        try {
            u = new URI(s);
        } catch (URISyntaxException e) {
            throw Cli.usage("not a URL: '" + Config.redact(url) + "'");
        }
        String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || u.getHost() == null) {
            throw Cli.usage("not an http(s) URL: '" + Config.redact(url) + "'");
        }
        if (scheme.equals("http") && !insecure && !isLoopbackName(u.getHost())) {
            throw Cli.usage("refusing plain http to " + u.getHost() + ": the token would travel unencrypted "
                    + "(use https, or --insecure if you mean it)");
        }
        String path = u.getRawPath() == null ? "" : u.getRawPath();
        int v0 = path.indexOf("/v0/");
        String prefix = v0 >= 0 ? path.substring(0, v0) : path.replaceFirst("/+$", "");
        String base = scheme + "://" + withoutUserInfo(u) + prefix;
        String ds = null;
        if (u.getRawQuery() != null) {
            for (String kv : u.getRawQuery().split("&")) {
                if (kv.startsWith("name=")) ds = URLDecoder.decode(kv.substring(5), StandardCharsets.UTF_8);
            }
        }
        return new Endpoint(base, ds);
    }

    /**
     * The authority of u without its user info, whose secret part is registered for redaction. The token goes in a
     * header and our clients send no user info, so keeping it would only print it wherever the host is shown.
     */
    static String withoutUserInfo(URI u) {
        String authority = u.getRawAuthority();
        String info = u.getRawUserInfo();
        if (info == null) return authority;
        int colon = info.indexOf(':');
        Config.registerSecret(colon >= 0 ? info.substring(colon + 1) : info);
        return authority.substring(authority.lastIndexOf('@') + 1);
    }

    static boolean isLoopbackName(String host) {
        String h = host.toLowerCase(Locale.ROOT).replace("[", "").replace("]", "");
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1") || h.endsWith(".localhost");
    }

    /** Host (and token) resolution shared by the mixin and by scripts with two connections (source and target). */
    public static Client connect(String host, String region, String token, boolean insecure, Config cfg,
                                 String... tokenEnvKeys) {
        String base = resolveHost(host, region, insecure, cfg);
        String t = token;
        if (t != null && !t.isBlank()) {
            Config.registerSecret(t);
        } else {
            String[] keys = tokenEnvKeys.length == 0 ? new String[] {"TINYBIRD_TOKEN"} : tokenEnvKeys;
            t = cfg.require("the Tinybird token", keys);
            Config.registerSecret(t);
        }
        return new Client(base, t);
    }

    /** --host, else --region, else TINYBIRD_HOST / TB_HOST, else TINYBIRD_REGION, else the default host. */
    public static String resolveHost(String host, String region, boolean insecure, Config cfg) {
        Map<String, String> vars = new LinkedHashMap<>();
        String reg = region != null ? region : cfg == null ? null : cfg.get("TINYBIRD_REGION", "CLOUD_REGION").orElse(null);
        if (reg != null) vars.put("CLOUD_REGION", reg);
        vars.put("DATASOURCE_NAME", "_"); // only the host matters here
        if (host != null && !host.isBlank()) return parseUrl(host, vars, insecure).host();
        if (region != null && !region.isBlank()) return parseUrl(regionHost(region), vars, insecure).host();
        if (cfg != null) {
            Optional<String> h = cfg.get("TINYBIRD_HOST", "TB_HOST", "TINYBIRD_API_URL");
            if (h.isPresent()) return parseUrl(h.get(), vars, insecure).host();
            Optional<String> r = cfg.get("TINYBIRD_REGION");
            if (r.isPresent()) return parseUrl(regionHost(r.get()), vars, insecure).host();
        }
        return DEFAULT_HOST;
    }

    /** The connection options: {@code @Mixin Tinybird.Options tb;} then {@code tb.client(cfg, "TINYBIRD_TOKEN")}. */
    public static final class Options {
        @Option(names = "--host", paramLabel = "URL",
                description = "Tinybird API host (https://api.us-east.tinybird.co), a full Events API URL, or the original's "
                        + "template https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}. "
                        + "Default: --region, else TINYBIRD_HOST, else TINYBIRD_REGION, else https://api.tinybird.co.")
        public String host;

        @Option(names = "--region", paramLabel = "NAME",
                description = "Tinybird region instead of --host: gcp-europe-west3 (default), gcp-europe-west2, gcp-us-east4, "
                        + "gcp-northamerica-northeast2, aws-eu-central-1, aws-eu-west-1, aws-us-east-1, aws-us-west-2, "
                        + "local (http://localhost:7181, the emulator); also fills {CLOUD_REGION} in --host.")
        public String region;

        @Option(names = "--token", paramLabel = "TOKEN",
                description = "Tinybird token (default: the token variables listed below, from the environment or .env). "
                        + "Prefer the environment: a command line shows in ps. Never printed.")
        public String token;

        @Option(names = "--insecure", description = "Allow plain http to a host that is not localhost.")
        public boolean insecure;

        @Mixin public NetOptions net = new NetOptions();

        /** The base URL. */
        public String host(Config cfg) {
            net.net(cfg);
            return resolveHost(host, region, insecure, cfg);
        }

        /** A client; the token from --token, else the first of tokenEnvKeys set (default TINYBIRD_TOKEN). */
        public Client client(Config cfg, String... tokenEnvKeys) {
            net.net(cfg);
            return connect(host, region, token, insecure, cfg, tokenEnvKeys);
        }
    }

    /**
     * Timeouts and trust of every Tinybird connection: {@code @Mixin Tinybird.NetOptions net;} (part of
     * {@link Options}). {@link #net(Config)} makes them the settings of every client the command creates after it.
     */
    public static final class NetOptions {
        @Mixin public Timeouts.Options timeouts = new Timeouts.Options();

        @Option(names = "--ca-file", paramLabel = "FILE",
                description = "Also trust the certificate authorities in FILE (PEM, one or more certificates), for a server "
                        + "whose certificate a private CA signed (default: TINYBIRD_CA_FILE; the JVM's own CAs are always trusted).")
        public Path caFile;

        /** The settings (--ca-file, else TINYBIRD_CA_FILE), made the default of new clients. */
        public Net net(Config cfg) {
            Path ca = caFile;
            if (ca == null && cfg != null) ca = cfg.get("TINYBIRD_CA_FILE").map(Path::of).orElse(null);
            Net n = new Net(timeouts.connect(), timeouts.read(), ca);
            Net.current = n;
            return n;
        }
    }

    /**
     * How a client connects: the connect and read timeouts and, with a CA file, a TLS context that trusts the JVM's
     * CAs plus the file's. {@link #current()}: the settings of clients created without explicit ones (set by the
     * command's options, so a script's second connection gets them too).
     */
    public record Net(Duration connectTimeout, Duration readTimeout, Path caFile, javax.net.ssl.SSLContext ssl) {
        static volatile Net current = new Net(Timeouts.CONNECT, Timeouts.READ, null);

        public Net(Duration connectTimeout, Duration readTimeout, Path caFile) {
            this(connectTimeout, readTimeout, caFile, caFile == null ? null : trusting(caFile));
        }

        public static Net current() {
            return current;
        }

        /** A TLS context that trusts the JVM's default CAs and every certificate in a PEM file. */
        static javax.net.ssl.SSLContext trusting(Path pem) {
            String where = "--ca-file " + pem;
            java.util.Collection<? extends java.security.cert.Certificate> certs;
            try (InputStream in = Files.newInputStream(pem)) {
                certs = java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in);
            } catch (java.nio.file.NoSuchFileException e) {
                throw Cli.usage(where + ": no such file");
            } catch (IOException e) {
                throw Cli.usage(where + ": cannot read it (" + e.getMessage() + ")");
            } catch (java.security.cert.CertificateException e) {
                throw Cli.usage(where + ": not a PEM certificate file (" + e.getMessage() + ")");
            }
            if (certs.isEmpty()) throw Cli.usage(where + ": no certificate in it (expected -----BEGIN CERTIFICATE-----)");
            try {
                java.security.KeyStore ks = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
                ks.load(null, null);
                javax.net.ssl.TrustManagerFactory jvm = javax.net.ssl.TrustManagerFactory.getInstance(
                        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
                jvm.init((java.security.KeyStore) null);
                int i = 0;
                for (javax.net.ssl.TrustManager tm : jvm.getTrustManagers()) {
                    if (tm instanceof javax.net.ssl.X509TrustManager x) {
                        for (java.security.cert.X509Certificate c : x.getAcceptedIssuers()) ks.setCertificateEntry("jvm-" + i++, c);
                    }
                }
                int j = 0;
                for (java.security.cert.Certificate c : certs) ks.setCertificateEntry("ca-file-" + j++, c);
                javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(ks);
                javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
                ctx.init(null, tmf.getTrustManagers(), null);
                return ctx;
            } catch (java.security.GeneralSecurityException | IOException e) {
                throw new Cli.Failure(where + ": cannot build a trust store from it: " + e.getMessage());
            }
        }
    }

    /**
     * Events API writer options for scripts: {@code @Mixin Tinybird.WriterOptions wo;} then
     * {@code client.writer(ds, wo.settings())}.
     */
    public static final class WriterOptions {
        @Option(names = "--batch-rows", paramLabel = "N", description = "Rows per Events API request (default: ${DEFAULT-VALUE}).")
        public int batchRows = 10_000;

        @Option(names = "--batch-bytes", paramLabel = "SIZE", converter = Cli.SizeConverter.class,
                description = "Uncompressed NDJSON bytes per request (default: 4MB, well under Tinybird's 10 MB request limit).")
        public long batchBytes = 4_000_000;

        @Option(names = "--linger", paramLabel = "DURATION", converter = Cli.DurationConverter.class,
                description = "Longest a row waits for its batch to fill (default: 1s).")
        public Duration linger = Duration.ofSeconds(1);

        @Option(names = "--in-flight", paramLabel = "N", description = "Concurrent Events API requests (default: ${DEFAULT-VALUE}).")
        public int inFlight = 4;

        @Option(names = "--no-wait", description = "Send without wait=true: Tinybird answers 202 before the rows are written, "
                + "so a row it later loses still counts as sent. The default waits for the write (200), so 'acknowledged' means stored.")
        public boolean noWait;

        @Option(names = "--no-gzip", description = "Send NDJSON uncompressed (default: gzip, about 5-10x fewer bytes on the wire).")
        public boolean noGzip;

        @Option(names = "--max-attempts", paramLabel = "N",
                description = "Attempts per batch on 429/500/503/connection errors before its rows count as failed "
                        + "(default: no limit; the writer gives up once no request succeeded for 2 minutes).")
        public int maxAttempts;

        public Writer.Settings settings() {
            return new Writer.Settings().maxRows(batchRows).maxBytes(batchBytes).linger(linger).inFlight(inFlight)
                    .waitForAck(!noWait).gzip(!noGzip).maxAttempts(maxAttempts <= 0 ? 0 : maxAttempts);
        }
    }

    // ================================================================== errors

    /** A non-2xx answer: the status, the server's text and a one-line explanation (never the token). */
    public static final class ApiException extends Cli.Failure {
        public final int status;
        public final String serverText;
        /** How long the server asked to wait, in ms (Retry-After; for a 429 else X-RateLimit-Reset); null when it did not say. */
        public final Long retryAfterMillis;

        public ApiException(int status, String serverText, String message) {
            this(status, serverText, message, null);
        }

        public ApiException(int status, String serverText, String message, Long retryAfterMillis) {
            super(Config.redact(message));
            this.status = status;
            this.serverText = serverText;
            this.retryAfterMillis = retryAfterMillis;
        }
    }

    static String oneLine(String s) {
        if (s == null) return "";
        String t = s.strip().replaceAll("\\s*\\n\\s*", " ");
        return t.length() > 500 ? t.substring(0, 500) + "..." : t;
    }

    /** The server's message: the {@code error} of a JSON body, else the plain text. */
    static String serverText(String body) {
        if (body == null) return "";
        String b = body.strip();
        if (b.startsWith("{")) {
            try {
                JsonNode n = Json.MAPPER.readTree(b);
                if (n.hasNonNull("error") && n.get("error").isTextual()) return n.get("error").asText();
                if (n.has("errors")) return n.get("errors").toString();
            } catch (IOException notJson) {
                // plain text after all
            }
        }
        return b;
    }

    static ApiException error(String host, int status, String body, String what, String scopeHint) {
        return error(host, status, body, what, scopeHint, null);
    }

    static ApiException error(String host, int status, String body, String what, String scopeHint, Long retryAfterMillis) {
        String text = oneLine(serverText(body));
        String msg = "Tinybird answered " + status + (text.isEmpty() ? "" : " (" + text + ")") + " to " + what + " at " + host;
        if (status == 401) {
            msg += ": the token is not valid here: check its value (TINYBIRD_TOKEN or --token), and the region (--host / --region)";
        } else if (status == 403) {
            msg += ": the token was refused: check that it exists in this workspace, that it has the scope "
                    + scopeHint + ", and the region (--host / --region)";
        } else if (status == 404 && text.toLowerCase(Locale.ROOT).contains("region")) {
            msg += ": the token belongs to another region: point --host (or --region) at the host named above";
        } else if (status == 404 && what.startsWith("GET /v0/pipes") || status == 404 && what.startsWith("POST /v0/pipes")) {
            msg += " (is the pipe published as an API Endpoint in this workspace and region?)";
        }
        return new ApiException(status, text, msg, retryAfterMillis);
    }

    // ================================================================== client

    /** A host and a token: writes and imports over one java.net.http.HttpClient, reads over HttpURLConnection. Thread-safe. */
    public static final class Client implements AutoCloseable {
        private final String host;
        private final String shown;
        private final String token;
        private final HttpClient http;
        private final Net net;
        private Duration timeout;

        /** A client with the command's timeouts and trust ({@link Net#current()}). */
        public Client(String host, String token) {
            this(host, token, Net.current());
        }

        public Client(String host, String token, Net net) {
            Config.registerSecret(token);
            String h = host.replaceFirst("/+$", "");
            try {
                URI u = new URI(h);
                if (u.getRawUserInfo() != null) h = u.getScheme() + "://" + withoutUserInfo(u) + (u.getRawPath() == null ? "" : u.getRawPath());
            } catch (URISyntaxException e) {
                throw Cli.usage("not a URL: '" + Config.redact(host) + "'");
            }
            this.host = h;
            this.shown = Config.redact(this.host);
            this.token = token;
            this.net = net;
            this.timeout = net.readTimeout();
            HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(net.connectTimeout());
            if (net.ssl() != null) b.sslContext(net.ssl());
            if (this.host.startsWith("http://")) b.version(HttpClient.Version.HTTP_1_1);
            this.http = b.build();
        }

        public String host() {
            return host;
        }

        /** The host as it may be printed (redacted). */
        public String shownHost() {
            return shown;
        }

        public Net net() {
            return net;
        }

        /** Read timeout: the longest wait for an answer (default: the Net's, 30 s). */
        public Client timeout(Duration d) {
            this.timeout = d;
            return this;
        }

        public Duration timeout() {
            return timeout;
        }

        HttpClient http() {
            return http;
        }

        HttpRequest.Builder request(String pathAndQuery) {
            return HttpRequest.newBuilder(URI.create(host + pathAndQuery))
                    .timeout(timeout)
                    .header("Authorization", "Bearer " + token)
                    .header("User-Agent", "py-utilities-java/" + Cli.VERSION);
        }

        /** An Events API writer with default settings. */
        public Writer writer(String datasource) {
            return new Writer(this, datasource, new Writer.Settings());
        }

        public Writer writer(String datasource, Writer.Settings settings) {
            return new Writer(this, datasource, settings);
        }

        /** Streams an API Endpoint's rows (JSON format). Close the result. */
        public Rows read(String pipe, Map<String, ?> params) {
            return read(pipe, params, "json");
        }

        /** format: json (meta, data, statistics) or ndjson (rows only). */
        public Rows read(String pipe, Map<String, ?> params, String format) {
            if (!format.equals("json") && !format.equals("ndjson")) throw Cli.usage("unsupported pipe format: " + format);
            String query = encodeParams(params);
            String path = "/v0/pipes/" + enc(pipe) + "." + format;
            if (query.length() > 8000) { // past about 8 KB of query string nginx answers 414: form params instead
                return open(path, query, "application/x-www-form-urlencoded", "POST " + path, "PIPES:READ:" + pipe, format.equals("ndjson"));
            }
            return open(path + (query.isEmpty() ? "" : "?" + query), null, null, "GET " + path, "PIPES:READ:" + pipe, format.equals("ndjson"));
        }

        /** Reads a whole (small) API Endpoint answer into memory. */
        public PipeResult readAll(String pipe, Map<String, ?> params) {
            try (Rows rows = read(pipe, params)) {
                return rows.toResult();
            }
        }

        /** The Query API: runs SQL (FORMAT JSON appended when no FORMAT is given) and returns the whole answer. */
        public PipeResult sql(String sql) {
            try (Rows rows = sqlRows(sql)) {
                return rows.toResult();
            }
        }

        /** The Query API, streamed. */
        public Rows sqlRows(String sql) {
            String q = sql.strip();
            if (!q.toUpperCase(Locale.ROOT).matches("(?s).*\\bFORMAT\\s+\\w+\\s*;?$")) q = q + " FORMAT JSON";
            return open("/v0/sql", q, "text/plain", "POST /v0/sql", "DATASOURCES:READ / PIPES:READ", false);
        }

        /**
         * Sends a read (GET, or POST of body) and returns its rows as they arrive. Answers are streamed over the JDK's
         * blocking HttpURLConnection rather than java.net.http: the bytes go straight from the socket to the parser in
         * the reading thread (for 190 MB of rows: 0.2 s of CPU against the 1.3 s java.net.http's selector thread and
         * body hand-off took). Keep-alive connections are reused; the read timeout applies to every
         * read, so a stalled answer fails instead of hanging; redirects are not followed (as with java.net.http).
         */
        private Rows open(String pathAndQuery, String body, String contentType, String what, String scope, boolean ndjson) {
            java.net.HttpURLConnection c = null;
            int status;
            try {
                c = (java.net.HttpURLConnection) URI.create(host + pathAndQuery).toURL().openConnection();
                if (c instanceof javax.net.ssl.HttpsURLConnection tls && net.ssl() != null) tls.setSSLSocketFactory(net.ssl().getSocketFactory());
                c.setConnectTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, net.connectTimeout().toMillis())));
                c.setReadTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis())));
                c.setInstanceFollowRedirects(false);
                c.setUseCaches(false);
                c.setRequestProperty("Authorization", "Bearer " + token);
                c.setRequestProperty("User-Agent", "py-utilities-java/" + Cli.VERSION);
                if (body != null) {
                    byte[] b = body.getBytes(StandardCharsets.UTF_8);
                    c.setRequestMethod("POST");
                    c.setDoOutput(true);
                    c.setFixedLengthStreamingMode(b.length);
                    c.setRequestProperty("Content-Type", contentType);
                    try (java.io.OutputStream os = c.getOutputStream()) {
                        os.write(b);
                    }
                }
                status = c.getResponseCode();
            } catch (IOException e) {
                if (c != null) c.disconnect();
                throw unreachable(what, e);
            }
            if (status != 200) {
                String text;
                try (InputStream in = c.getErrorStream()) {
                    text = in == null ? "" : new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    text = "";
                }
                // a 429's wait: Retry-After, else X-RateLimit-Reset; any other status: Retry-After only (the rate-limit
                // headers come with every answer and ask for nothing)
                java.net.HttpURLConnection conn = c;
                Long wait = status == 429 ? serverWait(conn::getHeaderField)
                        : Optional.ofNullable(c.getHeaderField("Retry-After")).map(Tinybird::parseRetryAfter).orElse(null);
                throw error(shown, status, text, what, scope, wait);
            }
            try {
                return new Rows(c.getInputStream(), ndjson, what, c::disconnect);
            } catch (IOException e) {
                c.disconnect();
                throw new Cli.Failure("bad answer from Tinybird to " + what + ": " + e.getMessage(), e);
            }
        }

        /**
         * The Data Sources API from a local file: mode create (schema: columns with jsonpaths for NDJSON, may be null
         * to let the server infer), append or replace. CSV or NDJSON by the file's extension (.csv; .ndjson, .jsonl,
         * .json). A multipart upload, streamed from the file.
         */
        public ImportResult importFile(String mode, String datasource, Path file, String schema) {
            if (!List.of("create", "append", "replace").contains(mode)) throw Cli.usage("mode must be create, append or replace");
            String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
            String format = name.endsWith(".csv") || name.endsWith(".csv.gz") ? "csv"
                    : name.matches(".*\\.(ndjson|jsonl|json)(\\.gz)?$") ? "ndjson" : null;
            if (format == null) throw Cli.usage(file + ": unknown file type (expected .csv, .ndjson or .jsonl)");
            if (!Files.isRegularFile(file)) throw new Cli.Failure("no such file: " + file);
            String boundary = "----py-utilities-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
            String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + format + "\"; filename=\""
                    + file.getFileName().toString().replace("\"", "") + "\"\r\nContent-Type: "
                    + (format.equals("csv") ? "text/csv" : "application/x-ndjson") + "\r\n\r\n";
            String tail = "\r\n--" + boundary + "--\r\n";
            HttpRequest.BodyPublisher body;
            try {
                body = HttpRequest.BodyPublishers.concat(HttpRequest.BodyPublishers.ofString(head),
                        HttpRequest.BodyPublishers.ofFile(file), HttpRequest.BodyPublishers.ofString(tail));
            } catch (java.io.FileNotFoundException e) {
                throw new Cli.Failure("no such file: " + file);
            }
            StringBuilder q = new StringBuilder("/v0/datasources?mode=").append(mode).append("&name=").append(enc(datasource))
                    .append("&format=").append(format);
            if (schema != null && !schema.isBlank()) q.append("&schema=").append(enc(schema));
            HttpRequest req = request(q.toString()).timeout(timeout.multipliedBy(10))
                    .header("Content-Type", "multipart/form-data; boundary=" + boundary).POST(body).build();
            String what = "POST /v0/datasources?mode=" + mode + "&name=" + datasource;
            HttpResponse<String> resp;
            try {
                resp = http.send(req, HttpResponse.BodyHandlers.ofString());
            } catch (IOException e) {
                throw unreachable(what, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Cli.Failure("interrupted", e);
            }
            if (resp.statusCode() != 200) {
                throw error(shown, resp.statusCode(), resp.body(), what,
                        mode.equals("create") ? "DATASOURCES:CREATE" : "DATASOURCES:APPEND:" + datasource);
            }
            try {
                JsonNode n = Json.MAPPER.readTree(resp.body());
                JsonNode err = n.path("error");
                String error = err.isTextual() ? err.asText() : err.isBoolean() && err.asBoolean() ? "error" : null;
                return new ImportResult(n.path("import_id").asText(null), n.path("datasource").path("name").asText(datasource),
                        n.path("quarantine_rows").asLong(0), n.path("invalid_lines").asLong(0), error, n);
            } catch (IOException e) {
                throw new Cli.Failure("bad answer from Tinybird to " + what + ": " + e.getMessage(), e);
            }
        }

        /** NetErrors' reason no retry can help, also for java.net.http's way of saying "unknown host"; else null. */
        String permanent(IOException e) {
            for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
                if (c instanceof java.nio.channels.UnresolvedAddressException) {
                    return "unknown host " + URI.create(host).getHost() + " (check the host name)";
                }
            }
            return NetErrors.permanent(e);
        }

        /**
         * The failure of a request that got no answer. One that no retry can fix (certificate, handshake, unknown host)
         * has no cause, so retry loops that retry I/O failures stop at once; the others keep theirs.
         */
        Cli.Failure unreachable(String what, IOException e) {
            String permanent = permanent(e);
            if (permanent != null) return new Cli.Failure(Config.redact("cannot reach Tinybird at " + shown + ": " + permanent));
            return new Cli.Failure(Config.redact("cannot reach Tinybird at " + shown + " (" + what + "): " + describe(e)), e);
        }

        @Override
        public void close() {
            http.shutdownNow();
        }
    }

    static String describe(IOException e) {
        String m = e.getMessage();
        if (e instanceof ConnectException) return "connection refused" + (m == null ? "" : " (" + m + ")");
        if (e instanceof java.net.http.HttpTimeoutException || e instanceof java.net.SocketTimeoutException) return "timed out";
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** Query string of pipe params: collections and arrays repeat the key; dates as YYYY-MM-DD HH:MM:SS (UTC). */
    public static String encodeParams(Map<String, ?> params) {
        if (params == null || params.isEmpty()) return "";
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, ?> e : params.entrySet()) {
            Object v = e.getValue();
            if (v == null) continue;
            List<Object> values = new ArrayList<>();
            if (v instanceof Collection<?> c) values.addAll(c);
            else if (v instanceof Object[] a) values.addAll(List.of(a));
            else values.add(v);
            for (Object x : values) {
                if (x == null) continue;
                if (sb.length() > 0) sb.append('&');
                sb.append(enc(e.getKey())).append('=').append(enc(paramText(x)));
            }
        }
        return sb.toString();
    }

    static String paramText(Object x) {
        if (x instanceof LocalDateTime t) return t.format(DATETIME);
        if (x instanceof Instant t) return LocalDateTime.ofInstant(t, ZoneOffset.UTC).format(DATETIME);
        if (x instanceof OffsetDateTime t) return t.withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime().format(DATETIME);
        if (x instanceof ZonedDateTime t) return t.withZoneSameInstant(ZoneOffset.UTC).toLocalDateTime().format(DATETIME);
        if (x instanceof LocalDate d) return d.toString();
        return x.toString();
    }

    // ================================================================== reader

    /** A column of an answer's meta: name and ClickHouse type. */
    public record Column(String name, String type) {}

    /** A whole answer in memory. rowsBeforeLimitAtLeast is null when the query had no LIMIT. */
    public record PipeResult(List<Column> meta, List<ObjectNode> data, long rows, Long rowsBeforeLimitAtLeast,
                             JsonNode statistics) {}

    /**
     * The rows of an answer, parsed as they arrive (Jackson streaming): memory stays flat however long the answer.
     * meta() is known at once (Tinybird sends it first); rowsBeforeLimitAtLeast() and statistics() once the rows are
     * consumed. Not thread-safe. Close it (or read to the end).
     */
    public static final class Rows implements Iterator<ObjectNode>, AutoCloseable {
        private final InputStream in;
        private final JsonParser p;
        private final boolean ndjson;
        private final String what;
        private List<Column> meta = List.of();
        private Long rowsBeforeLimit;
        private JsonNode statistics;
        private Long rowsField;
        private long count;
        private ObjectNode next;
        private boolean inData, done;
        private final Runnable abort;
        private JsonParser tail;
        private RowScanner scanner;

        Rows(InputStream in, boolean ndjson, String what) throws IOException {
            this(in, ndjson, what, null);
        }

        /** abort: drops the connection when the answer is closed before its end (else closing would drain it). */
        Rows(InputStream in, boolean ndjson, String what, Runnable abort) throws IOException {
            this.in = in;
            this.ndjson = ndjson;
            this.what = what;
            this.abort = abort;
            this.p = Json.FACTORY.createParser(in);
            if (!ndjson) {
                if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException("expected a JSON object");
                readFieldsUntilData(p);
            }
        }

        /** Reads the answer's fields from q up to the start of its data array (or its end). */
        private void readFieldsUntilData(JsonParser q) throws IOException {
            JsonToken t;
            while ((t = q.nextToken()) == JsonToken.FIELD_NAME) {
                String f = q.currentName();
                q.nextToken();
                switch (f) {
                    case "data" -> {
                        if (q.currentToken() != JsonToken.START_ARRAY) throw new IOException("'data' is not an array");
                        inData = true;
                        return;
                    }
                    case "meta" -> {
                        List<Column> cols = new ArrayList<>();
                        for (JsonNode c : (JsonNode) Json.MAPPER.readTree(q)) cols.add(new Column(c.path("name").asText(), c.path("type").asText()));
                        meta = List.copyOf(cols);
                    }
                    case "rows" -> rowsField = q.getValueAsLong();
                    case "rows_before_limit_at_least" -> rowsBeforeLimit = q.getValueAsLong();
                    case "statistics" -> statistics = Json.MAPPER.readTree(q);
                    default -> q.skipChildren();
                }
            }
            if (t != JsonToken.END_OBJECT) throw new IOException("unexpected " + t);
            done = true;
        }

        public List<Column> meta() {
            return meta;
        }

        /** Rows read so far. */
        public long count() {
            return count;
        }

        public Long rowsBeforeLimitAtLeast() {
            return rowsBeforeLimit;
        }

        public JsonNode statistics() {
            return statistics;
        }

        /** The {@code rows} field of the answer (null until read, and for ndjson). */
        public Long rowsField() {
            return rowsField;
        }

        @Override
        public boolean hasNext() {
            if (next != null) return true;
            try {
                if (!atRow()) return false;
                next = Json.MAPPER.readTree(p);
                return true;
            } catch (IOException e) {
                throw broken(e);
            }
        }

        /** Moves to the next row's START_OBJECT; false (and the trailing fields read) after the last row. */
        private boolean atRow() throws IOException {
            if (done) return false;
            JsonToken t = p.nextToken();
            if (ndjson ? t == null : t == JsonToken.END_ARRAY) {
                if (!ndjson) {
                    inData = false;
                    readFieldsUntilData(p);
                }
                done = true;
                return false;
            }
            if (t != JsonToken.START_OBJECT) throw new IOException("expected a row object, got " + t);
            return true;
        }

        private Cli.Failure broken(IOException e) {
            done = true;
            return new Cli.Failure("broken answer from Tinybird to " + what + " after " + count + " rows: " + describe(e), e);
        }

        @Override
        public ObjectNode next() {
            if (!hasNext()) throw new NoSuchElementException();
            ObjectNode r = next;
            next = null;
            count++;
            return r;
        }

        /**
         * The next row as an array of values in the order of {@code index} (field name -> position; fields not in it
         * are skipped, absent ones stay null), parsed straight from the bytes with no tokens or tree in between:
         * String, Long or BigInteger, BigDecimal (exact, from the number's text; never a double), Boolean, null, and a
         * JsonNode for arrays and objects. Returns null after the last row. A faster alternative to {@link #next()}
         * for bulk reads; don't mix the two on one answer. JSON answers go through {@link RowScanner} (the trailing
         * fields, rows_before_limit_at_least and statistics, through Jackson again); NDJSON through Jackson.
         */
        public Object[] nextValues(Map<String, Integer> index, int width) {
            if (next != null) throw new IllegalStateException("nextValues() after hasNext(): use next()");
            try {
                if (!ndjson) {
                    if (done) return null;
                    if (scanner == null) {
                        ByteArrayOutputStream rest = new ByteArrayOutputStream();
                        if (p.releaseBuffered(rest) < 0) throw new IOException("cannot hand the answer over to the row scanner");
                        scanner = new RowScanner(new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(rest.toByteArray()), in), index, width);
                    }
                    Object[] r = scanner.next();
                    if (r != null) {
                        count++;
                        return r;
                    }
                    // after the data array: the answer's other fields, through Jackson (as an object of its own)
                    inData = false;
                    if (scanner.atTrailingFields()) {
                        byte[] head = {'{'};
                        tail = Json.FACTORY.createParser(new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(head), scanner.remaining()));
                        tail.nextToken();
                        readFieldsUntilData(tail);
                        if (inData) throw new IOException("a second 'data' array");
                    }
                    done = true;
                    return null;
                }
                if (!atRow()) return null;
                Object[] r = new Object[width];
                JsonToken t;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    Integer i = index.get(p.currentName());
                    t = p.nextToken();
                    if (i == null) {
                        p.skipChildren();
                        continue;
                    }
                    r[i] = switch (t) {
                        case VALUE_STRING -> p.getText();
                        case VALUE_NUMBER_INT -> p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? p.getBigIntegerValue() : (Object) p.getLongValue();
                        case VALUE_NUMBER_FLOAT -> p.getDecimalValue();
                        case VALUE_TRUE -> Boolean.TRUE;
                        case VALUE_FALSE -> Boolean.FALSE;
                        case VALUE_NULL -> null;
                        default -> Json.MAPPER.readTree(p);
                    };
                }
                if (t != JsonToken.END_OBJECT) throw new IOException("unexpected " + t + " in a row");
                count++;
                return r;
            } catch (IOException e) {
                throw broken(e);
            }
        }

        /** Reads the rest into memory. */
        public PipeResult toResult() {
            List<ObjectNode> data = new ArrayList<>();
            while (hasNext()) data.add(next());
            return new PipeResult(meta, data, rowsField != null ? rowsField : data.size(), rowsBeforeLimit, statistics);
        }

        @Override
        public void close() {
            if (!done && abort != null) abort.run(); // an answer left unread: drop the connection, don't drain it
            try {
                p.close();
                if (tail != null) tail.close();
                in.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
    }

    /**
     * The rows of a JSON answer's {@code data} array, read from the bytes after its '[': a hand-written scanner for
     * Tinybird's flat row objects that makes each value straight from the bytes (an ASCII string is one copy, a
     * short integer no object but its Long). Field names are matched by their bytes against the name seen at the
     * same place in the previous row, so a row costs no name lookups. Nested arrays and objects are cut out
     * (string-aware bracket matching) and handed to Jackson. bench/data-transfer measured it against Jackson's
     * streaming parser (the same values, 1M weather rows, 190 MB, C1-compiled): 1.0 s of CPU against 1.8 s.
     * Malformed input is an IOException naming what was expected.
     */
    static final class RowScanner {
        private final InputStream in;
        private byte[] buf = new byte[64 << 10];
        private int pos, lim;
        private final Map<String, Integer> index;
        private final int width;
        private byte[][] seenName = new byte[16][];
        private int[] seenPos = new int[16];
        private boolean first = true, end;

        RowScanner(InputStream in, Map<String, Integer> index, int width) {
            this.in = in;
            this.index = index;
            this.width = width;
        }

        /** Makes n bytes available from pos (fewer at the end of the input); returns how many are. */
        private int fill(int n) throws IOException {
            if (lim - pos >= n) return lim - pos;
            if (pos > 0) {
                System.arraycopy(buf, pos, buf, 0, lim - pos);
                lim -= pos;
                pos = 0;
            }
            if (n > buf.length) buf = java.util.Arrays.copyOf(buf, Math.max(n, buf.length * 2));
            while (lim < n) {
                int k = in.read(buf, lim, buf.length - lim);
                if (k < 0) break;
                lim += k;
            }
            return lim - pos;
        }

        /** The next byte that is not white space (not consumed), or -1 at the end of the input. */
        private int peek() throws IOException {
            while (true) {
                if (pos >= lim && fill(1) == 0) return -1;
                byte b = buf[pos];
                if (b == ' ' || b == '\n' || b == '\r' || b == '\t') pos++;
                else return b;
            }
        }

        private static IOException expected(String what, int got) {
            return new IOException("expected " + what + ", got " + (got < 0 ? "the end of the answer" : "'" + (char) got + "'"));
        }

        /** The next row, or null after the array's ']'. */
        Object[] next() throws IOException {
            if (end) return null;
            int b = peek();
            if (first) {
                first = false;
            } else if (b == ',') {
                pos++;
                b = peek();
            } else if (b != ']') {
                throw expected("',' or ']' after a row", b);
            }
            if (b == ']') {
                pos++;
                end = true;
                return null;
            }
            if (b != '{') throw expected("a row object", b);
            pos++;
            Object[] r = new Object[width];
            b = peek();
            if (b == '}') {
                pos++;
                return r;
            }
            for (int field = 0; ; field++) {
                if (b != '"') throw expected("a field name", b);
                pos++;
                int col = name(field);
                if ((b = peek()) != ':') throw expected("':'", b);
                pos++;
                Object v = value(col >= 0);
                if (col >= 0) r[col] = v;
                b = peek();
                pos++;
                if (b == '}') return r;
                if (b != ',') throw expected("',' or '}' in a row", b);
                b = peek();
            }
        }

        /** A field name (after its opening quote): its position in the row, -1 when not wanted; past the closing quote. */
        private int name(int field) throws IOException {
            if (field < seenName.length && seenName[field] != null) {
                byte[] nm = seenName[field];
                int len = nm.length;
                if (fill(len + 1) > len && buf[pos + len] == '"') {
                    int k = 0;
                    while (k < len && buf[pos + k] == nm[k]) k++;
                    if (k == len) {
                        pos += len + 1;
                        return seenPos[field];
                    }
                }
            }
            String s = string();
            Integer i = index.get(s);
            int col = i == null ? -1 : i;
            if (field >= seenName.length) {
                seenName = java.util.Arrays.copyOf(seenName, field * 2);
                seenPos = java.util.Arrays.copyOf(seenPos, field * 2);
            }
            // its bytes, to be matched as they stand: only a name with no quote or backslash is the same text escaped
            seenName[field] = s.indexOf('"') < 0 && s.indexOf('\\') < 0 ? s.getBytes(StandardCharsets.UTF_8) : null;
            seenPos[field] = col;
            return col;
        }

        private Object value(boolean wanted) throws IOException {
            int b = peek();
            switch (b) {
                case '"' -> {
                    pos++;
                    return string();
                }
                case 't' -> {
                    literal("true");
                    return Boolean.TRUE;
                }
                case 'f' -> {
                    literal("false");
                    return Boolean.FALSE;
                }
                case 'n' -> {
                    literal("null");
                    return null;
                }
                case '{', '[' -> {
                    byte[] raw = nested();
                    return wanted ? Json.MAPPER.readTree(raw) : null;
                }
                default -> {
                    if (b == '-' || b >= '0' && b <= '9') return number();
                    throw expected("a value", b);
                }
            }
        }

        private void literal(String word) throws IOException {
            int n = word.length();
            if (fill(n) < n) throw expected(word, -1);
            for (int i = 0; i < n; i++) if (buf[pos + i] != word.charAt(i)) throw expected(word, buf[pos + i]);
            pos += n;
        }

        /** A number as Long (when it fits), BigInteger, or BigDecimal from its text (exact; never a double). */
        private Object number() throws IOException {
            int i = pos;
            boolean integral = true;
            while (true) {
                if (i >= lim) {
                    int off = i - pos;
                    if (fill(off + 1) <= off) break;
                    i = pos + off;
                }
                byte c = buf[i];
                if (c >= '0' && c <= '9' || c == '-') {
                    i++;
                } else if (c == '.' || c == 'e' || c == 'E' || c == '+') {
                    integral = false;
                    i++;
                } else {
                    break;
                }
            }
            int len = i - pos;
            Object v = null;
            if (!integral && len <= 19) v = shortDecimal(pos, i);
            if (integral && len <= 18) {
                int j = pos;
                boolean neg = buf[j] == '-';
                if (neg) j++;
                if (j < i) {
                    long x = 0;
                    for (; j < i; j++) {
                        int d = buf[j] - '0';
                        if (d < 0 || d > 9) break;
                        x = x * 10 + d;
                    }
                    if (j == i) v = neg ? -x : x;
                }
            }
            if (v == null) {
                String s = new String(buf, pos, len, StandardCharsets.ISO_8859_1);
                try {
                    if (integral) {
                        java.math.BigInteger big = new java.math.BigInteger(s);
                        v = big.bitLength() < 64 ? (Object) big.longValue() : big;
                    } else {
                        v = new java.math.BigDecimal(s);
                    }
                } catch (NumberFormatException e) {
                    throw new IOException("bad number '" + s + "'");
                }
            }
            pos = i;
            return v;
        }

        /**
         * A plain decimal of up to 18 digits (-?digits.digits, as ClickHouse writes floats) as BigDecimal.valueOf(unscaled,
         * scale): the value new BigDecimal(text) gives, without the text; null for anything else (exponents...).
         */
        private java.math.BigDecimal shortDecimal(int from, int to) {
            int j = from;
            boolean neg = buf[j] == '-';
            if (neg) j++;
            long x = 0;
            int digits = 0, scale = -1;
            for (; j < to; j++) {
                byte c = buf[j];
                if (c >= '0' && c <= '9') {
                    x = x * 10 + (c - '0');
                    digits++;
                    if (scale >= 0) scale++;
                } else if (c == '.' && scale < 0 && digits > 0) {
                    scale = 0;
                } else {
                    return null;
                }
            }
            if (scale <= 0 || digits > 18) return null; // no digit after the point, or too long for a long
            return java.math.BigDecimal.valueOf(neg ? -x : x, scale);
        }

        /** A string, after its opening quote; past its closing quote. ASCII with no escapes is one copy of the bytes. */
        private String string() throws IOException {
            int i = pos;
            while (true) {
                if (i >= lim) {
                    int off = i - pos;
                    if (fill(off + 1) <= off) throw expected("the end of a string", -1);
                    i = pos + off;
                }
                byte c = buf[i];
                if (c == '"') {
                    String s = i - pos <= 64 ? shared(pos, i) : new String(buf, pos, i - pos, StandardCharsets.ISO_8859_1);
                    pos = i + 1;
                    return s;
                }
                if (c == '\\' || c < 0) return escapedString(i);
                i++;
            }
        }

        private final String[] recent = new String[4096];
        private final byte[][] recentBytes = new byte[4096][];

        /**
         * A short ASCII string, the same String as the last one with these bytes in its slot of a 4,096-entry cache:
         * a city, a description or a timestamp repeated over thousands of rows is one object, not one a row (less to
         * allocate, and far less for the collector to copy while rows wait to be written).
         */
        private String shared(int from, int to) {
            int h = 0;
            for (int k = from; k < to; k++) h = 31 * h + buf[k];
            int slot = (h ^ (h >>> 12) ^ (h >>> 24)) & (recent.length - 1);
            byte[] b = recentBytes[slot];
            int len = to - from;
            if (b != null && b.length == len) {
                int k = 0;
                while (k < len && b[k] == buf[from + k]) k++;
                if (k == len) return recent[slot];
            }
            b = java.util.Arrays.copyOfRange(buf, from, to);
            String s = new String(b, StandardCharsets.ISO_8859_1);
            recentBytes[slot] = b;
            recent[slot] = s;
            return s;
        }

        /** The rest of a string with escapes or non-ASCII (UTF-8) bytes, from i. */
        private String escapedString(int i) throws IOException {
            ByteArrayOutputStream o = new ByteArrayOutputStream(Math.max(32, (i - pos) * 2));
            o.write(buf, pos, i - pos);
            pos = i;
            while (true) {
                if (pos >= lim && fill(1) == 0) throw expected("the end of a string", -1);
                byte c = buf[pos++];
                if (c == '"') return o.toString(StandardCharsets.UTF_8);
                if (c != '\\') {
                    o.write(c);
                    continue;
                }
                if (pos >= lim && fill(1) == 0) throw expected("an escape", -1);
                byte e = buf[pos++];
                switch (e) {
                    case '"', '\\', '/' -> o.write(e);
                    case 'b' -> o.write('\b');
                    case 'f' -> o.write('\f');
                    case 'n' -> o.write('\n');
                    case 'r' -> o.write('\r');
                    case 't' -> o.write('\t');
                    case 'u' -> {
                        char ch = hex4();
                        if (Character.isHighSurrogate(ch) && fill(6) >= 6 && buf[pos] == '\\' && buf[pos + 1] == 'u') {
                            pos += 2;
                            char lo = hex4();
                            o.writeBytes(new String(new char[] {ch, lo}).getBytes(StandardCharsets.UTF_8));
                        } else {
                            o.writeBytes(String.valueOf(ch).getBytes(StandardCharsets.UTF_8));
                        }
                    }
                    default -> throw new IOException("bad escape '\\" + (char) e + "' in a string");
                }
            }
        }

        private char hex4() throws IOException {
            if (fill(4) < 4) throw expected("four hex digits", -1);
            int v = 0;
            for (int k = 0; k < 4; k++) {
                int d = Character.digit(buf[pos + k], 16);
                if (d < 0) throw new IOException("bad \\u escape in a string");
                v = v * 16 + d;
            }
            pos += 4;
            return (char) v;
        }

        /** A nested array or object's bytes, brackets matched outside strings. */
        private byte[] nested() throws IOException {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            int depth = 0;
            boolean str = false, esc = false;
            while (true) {
                if (pos >= lim && fill(1) == 0) throw expected("the end of a nested value", -1);
                byte c = buf[pos++];
                o.write(c);
                if (str) {
                    if (esc) esc = false;
                    else if (c == '\\') esc = true;
                    else if (c == '"') str = false;
                } else if (c == '"') {
                    str = true;
                } else if (c == '{' || c == '[') {
                    depth++;
                } else if ((c == '}' || c == ']') && --depth == 0) {
                    return o.toByteArray();
                }
            }
        }

        /** After the array: true when the answer has more fields (a ',' follows), false at its closing '}'. */
        boolean atTrailingFields() throws IOException {
            int b = peek();
            pos++;
            if (b == ',') return true;
            if (b == '}') return false;
            throw expected("',' or '}' after the rows", b);
        }

        /** The input not consumed yet. */
        InputStream remaining() {
            return new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(buf, pos, lim - pos), in);
        }
    }

    /** The Data Sources API's answer. error is null when all went well, else the server's message. */
    public record ImportResult(String importId, String datasource, long quarantineRows, long invalidLines, String error,
                               JsonNode raw) {}

    // ================================================================== writer

    /**
     * The Events API writer. {@link #append} is thread-safe and cheap; rows are NDJSON-serialised into the current
     * batch, which is sent when it reaches maxRows or maxBytes, or when its first row is older than linger. Up to
     * inFlight requests run at once, with up to queuedBatches sealed batches waiting: past that, append blocks
     * (back-pressure, bounded memory of about (inFlight + queuedBatches + 1) x maxBytes).
     *
     * <p>Retries: 429 waits Retry-After (else X-RateLimit-Reset, else the backoff); 500, 503, timeouts and connection
     * errors back off exponentially (backoffBase x 2^n, capped at backoffCap, with jitter) until no request has
     * succeeded for retryFor (default 2 minutes, counted from the first failed attempt since the last success), or
     * for at most maxAttempts attempts when set; then the writer gives up (every batch not stored fails, and with
     * failFast the next append throws the one-line reason). 413 splits the batch in halves and sends each; every other
     * 4xx fails the batch with the server's text and, with failFast (default), makes the next append throw. Errors no
     * retry can fix (an untrusted certificate, a failed TLS handshake, an unknown host: {@link NetErrors}) fail the
     * same way at once, and as the request never left the client they are no unknown outcome. wait=true (default)
     * makes the server answer only once the rows are written, so acknowledged means stored (with wait=false a 202 can
     * still be lost).
     *
     * <p>While it waits, {@link #status()} says for what (for a progress line) and onNotice gets one line a retry;
     * {@link #abandon()} stops waiting at once (for a bounded stop on Ctrl-C).
     */
    public static final class Writer implements AutoCloseable {
        /** Writer settings (fluent). */
        public static final class Settings {
            int maxRows = 10_000;
            long maxBytes = 4_000_000;
            Duration linger = Duration.ofSeconds(1);
            boolean gzip = true;
            boolean waitForAck = true;
            int inFlight = 4;
            int queuedBatches = 4;
            int maxAttempts; // 0: no limit, retryFor decides
            Duration retryFor = Timeouts.RETRY_FOR;
            java.util.function.Consumer<String> onNotice;
            Duration backoffBase = Duration.ofMillis(200);
            Duration backoffCap = Duration.ofSeconds(3);
            Duration maxRetryWait = Duration.ofSeconds(60);
            Duration requestTimeout;
            boolean failFast = true;
            LongConsumer onAcknowledged;

            /** Rows per request (default 10,000). */
            public Settings maxRows(int n) { if (n < 1) throw Cli.usage("batch rows must be >= 1"); maxRows = n; return this; }
            /** Uncompressed NDJSON bytes per request (default 4 MB, well under the 10 MB limit). */
            public Settings maxBytes(long n) { if (n < 1) throw Cli.usage("batch bytes must be >= 1"); maxBytes = n; return this; }
            /** Longest a row waits for its batch to fill (default 1 s). */
            public Settings linger(Duration d) { linger = d; return this; }
            public Settings gzip(boolean b) { gzip = b; return this; }
            /** wait=true (default): the answer comes once the rows are stored. */
            public Settings waitForAck(boolean b) { waitForAck = b; return this; }
            /** Concurrent requests (default 4). */
            public Settings inFlight(int n) { if (n < 1) throw Cli.usage("in-flight requests must be >= 1"); inFlight = n; return this; }
            /** Sealed batches that may wait for a free request slot (default 4). */
            public Settings queuedBatches(int n) { queuedBatches = Math.max(0, n); return this; }
            /** Attempts per batch, the first included (default: no limit, retryFor decides); 0: no limit. */
            public Settings maxAttempts(int n) { maxAttempts = Math.max(0, n); return this; }
            /** Give up once no request has succeeded for this long while retrying (default 2 minutes). */
            public Settings retryFor(Duration d) { retryFor = Timeouts.positive("--retry-for", d); return this; }
            /** Called (from a sender thread) with a line, already redacted, for every retry and when the host answers again. */
            public Settings onNotice(java.util.function.Consumer<String> c) { onNotice = c; return this; }
            public Settings backoff(Duration base, Duration cap) { backoffBase = base; backoffCap = cap; return this; }
            /** Longest honoured Retry-After (default 60 s). */
            public Settings maxRetryWait(Duration d) { maxRetryWait = d; return this; }
            /** Per-request timeout (default: the client's read timeout, 30 s). */
            public Settings requestTimeout(Duration d) { requestTimeout = d; return this; }
            public Settings failFast(boolean b) { failFast = b; return this; }
            /** Called (from a sender thread) with the number of rows of each acknowledged request. */
            public Settings onAcknowledged(LongConsumer c) { onAcknowledged = c; return this; }
        }

        /**
         * Counters. appended = acknowledged + quarantined + failed + pending; pending is 0 after flush()/close().
         * unknownOutcomes: attempts whose outcome was unknown (dropped connection, timeout, 500); their rows
         * (unknownOutcomeRows) may have been stored and then sent again: an upper bound of the duplicates.
         */
        public record Stats(long appended, long acknowledged, long quarantined, long failed, long requests, long retries,
                            long splits, long unknownOutcomes, long unknownOutcomeRows, long bytesSent, long bytesRaw,
                            String firstError) {
            public long pending() {
                return appended - acknowledged - quarantined - failed;
            }
        }

        private final Client client;
        private final String datasource;
        private final Settings s;
        private final String path;
        private final Duration timeout;
        private final ExecutorService senders;
        private final ScheduledExecutorService lingerTimer;
        private final Semaphore slots;
        private final Object lock = new Object();
        private final Object doneLock = new Object();
        private long outstanding; // sealed batches not finished, under doneLock
        private byte[] buf;
        private int len, rows;
        private long firstRowNanos;
        private volatile boolean closed;
        private final AtomicReference<Cli.Failure> fatal = new AtomicReference<>();
        private final AtomicReference<String> firstError = new AtomicReference<>();
        private final AtomicLong appended = new AtomicLong(), acknowledged = new AtomicLong(), quarantined = new AtomicLong(),
                failed = new AtomicLong(), requests = new AtomicLong(), retries = new AtomicLong(), splits = new AtomicLong(),
                unknown = new AtomicLong(), unknownRows = new AtomicLong(), bytesSent = new AtomicLong(), bytesRaw = new AtomicLong();
        /** Why the writer stopped sending (abandoned, or gave up): batches not stored fail with it; null while it sends. */
        private volatile String stopped;
        /** Start of the first failed attempt since the last success (System.nanoTime), 0 while all goes well. */
        private final AtomicLong troubleSince = new AtomicLong();
        private final AtomicLong troubleAttempts = new AtomicLong();
        private volatile String lastProblem;
        /** Sender threads at work, and the start of the request each is waiting on (0 between requests). */
        private final java.util.concurrent.ConcurrentHashMap<Thread, Long> active = new java.util.concurrent.ConcurrentHashMap<>();

        private static final String STOPPED_UNSENT = "stopped before it was sent";
        private static final String ABANDONED = "stopped before an answer came";

        Writer(Client client, String datasource, Settings settings) {
            if (datasource == null || datasource.isBlank()) throw Cli.usage("no Tinybird data source name given");
            this.client = client;
            this.datasource = datasource;
            this.s = settings;
            this.timeout = settings.requestTimeout != null ? settings.requestTimeout : client.timeout();
            this.path = "/v0/events?name=" + enc(datasource) + (settings.waitForAck ? "&wait=true" : "") + "&format=ndjson";
            this.slots = new Semaphore(settings.inFlight + settings.queuedBatches);
            AtomicLong n = new AtomicLong();
            this.senders = Executors.newFixedThreadPool(settings.inFlight, r -> {
                Thread t = new Thread(r, "tinybird-writer-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
            this.lingerTimer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "tinybird-linger");
                t.setDaemon(true);
                return t;
            });
            long tick = Math.max(5, Math.min(250, settings.linger.toMillis() / 4));
            lingerTimer.scheduleWithFixedDelay(this::lingerCheck, tick, tick, TimeUnit.MILLISECONDS);
            this.buf = new byte[(int) Math.min(settings.maxBytes + 1024, 256 * 1024)];
        }

        public String datasource() {
            return datasource;
        }

        /**
         * Appends one row: a Map, a JsonNode or any Jackson-serialisable object; or a String / byte[] that already is
         * one JSON object (one line, no newline inside). Blocks when the queue is full. Throws the first
         * non-retryable error (with failFast) and IllegalStateException after close().
         */
        public void append(Object record) {
            byte[] line;
            if (record instanceof byte[] b) line = b;
            else if (record instanceof String str) line = str.getBytes(StandardCharsets.UTF_8);
            else {
                try {
                    line = Json.MAPPER.writeValueAsBytes(record);
                } catch (IOException e) {
                    throw new IllegalArgumentException("cannot serialise the row to JSON: " + e.getMessage(), e);
                }
            }
            appendLine(line, 0, line.length);
        }

        /** Appends a pre-serialised JSON object from a slice of bytes (copied). After abandon() the row counts as failed at once. */
        public void appendLine(byte[] b, int off, int n) {
            while (n > 0 && (b[off + n - 1] == '\n' || b[off + n - 1] == '\r')) n--;
            for (int i = off; i < off + n; i++) {
                if (b[i] == '\n') throw new IllegalArgumentException("a row must be one line of JSON (found a newline inside)");
            }
            if (n == 0) throw new IllegalArgumentException("empty row");
            Cli.Failure f = fatal.get();
            if (f != null && s.failFast) throw f;
            synchronized (lock) {
                if (closed) throw new IllegalStateException("the writer is closed");
                if (stopped != null) {
                    appended.incrementAndGet();
                    fail(1, STOPPED_UNSENT, null);
                    return;
                }
                if (rows > 0 && (len + n + 1 > s.maxBytes)) sealAndSubmit();
                if (rows == 0) firstRowNanos = System.nanoTime();
                ensure(n + 1);
                System.arraycopy(b, off, buf, len, n);
                len += n;
                buf[len++] = '\n';
                rows++;
                appended.incrementAndGet();
                if (rows >= s.maxRows || len >= s.maxBytes) sealAndSubmit();
            }
        }

        private void ensure(int extra) {
            if (len + extra <= buf.length) return;
            long want = Math.max((long) buf.length * 2, (long) len + extra);
            want = Math.max(Math.min(want, s.maxBytes + 1024), (long) len + extra);
            buf = java.util.Arrays.copyOf(buf, (int) Math.min(want, Integer.MAX_VALUE - 16));
        }

        private void lingerCheck() {
            try {
                synchronized (lock) {
                    if (rows > 0 && System.nanoTime() - firstRowNanos >= s.linger.toNanos()) sealAndSubmit();
                }
            } catch (RuntimeException e) {
                // the timer must keep running; errors surface through the stats
            }
        }

        /** Under lock: hands the current batch to a sender (blocking while the queue is full, until abandon()). */
        private void sealAndSubmit() {
            if (rows == 0) return;
            byte[] data = buf;
            int dataLen = len, dataRows = rows;
            buf = new byte[(int) Math.min(s.maxBytes + 1024, Math.max(64 * 1024, dataLen + 1024))];
            len = 0;
            rows = 0;
            boolean acquired = false;
            while (!acquired && stopped == null) {
                try {
                    acquired = slots.tryAcquire(50, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (!acquired) {
                fail(dataRows, stopped != null ? stopped : "interrupted", null);
                return;
            }
            synchronized (doneLock) {
                outstanding++;
            }
            try {
                senders.execute(() -> {
                    active.put(Thread.currentThread(), 0L);
                    try {
                        send(data, 0, dataLen, dataRows);
                    } catch (RuntimeException e) {
                        fail(dataRows, "unexpected error: " + e, null);
                    } finally {
                        active.remove(Thread.currentThread());
                        Thread.interrupted(); // an abandon() that came late must not reach the next batch
                        slots.release();
                        synchronized (doneLock) {
                            outstanding--;
                            doneLock.notifyAll();
                        }
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                slots.release();
                synchronized (doneLock) {
                    outstanding--;
                    doneLock.notifyAll();
                }
                fail(dataRows, "the writer was shut down", null);
            }
        }

        /** Sends everything appended so far and waits until every row has an outcome. */
        public void flush() {
            synchronized (lock) {
                sealAndSubmit();
            }
            awaitOutstanding();
        }

        private void awaitOutstanding() {
            synchronized (doneLock) {
                while (outstanding > 0) {
                    try {
                        doneLock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
        }

        /** flush(), then stops the threads. Idempotent. Check stats() afterwards. */
        @Override
        public void close() {
            synchronized (lock) {
                if (closed) return;
                closed = true; // from here on append() throws, so nothing can slip in after the last batch
                sealAndSubmit();
            }
            awaitOutstanding();
            lingerTimer.shutdownNow();
            senders.shutdown();
        }

        /**
         * Stops waiting, from any thread: no more retries; requests in flight are cancelled (their rows fail and count
         * as unknown outcomes: the server may have stored them); batches not sent yet, and rows appended from now on,
         * fail without being sent; a blocked append() returns. close() then returns as soon as the senders have noted
         * it. Idempotent.
         */
        public void abandon() {
            stop(ABANDONED);
        }

        private void stop(String why) {
            synchronized (this) {
                if (stopped != null) return;
                stopped = why;
            }
            for (Thread t : active.keySet()) {
                if (t != Thread.currentThread()) t.interrupt();
            }
        }

        /**
         * What the writer waits for, for a progress line: null while all goes well; else "waiting for HOST: the last
         * problem, attempt N, giving up in T", or "waiting for HOST: no answer for T" for a request unanswered for
         * 10 s or more.
         */
        public String status() {
            long now = System.nanoTime();
            long since = troubleSince.get();
            if (since != 0 && stopped == null) {
                return "waiting for " + client.shownHost() + ": " + lastProblem + ", attempt " + (troubleAttempts.get() + 1)
                        + ", giving up in " + Timeouts.human(s.retryFor.minusNanos(now - since));
            }
            long oldest = 0;
            for (long t : active.values()) if (t != 0 && (oldest == 0 || t < oldest)) oldest = t;
            if (oldest != 0 && now - oldest >= Timeouts.SLOW.toNanos()) {
                return "waiting for " + client.shownHost() + ": no answer for " + Timeouts.human(Duration.ofNanos(now - oldest))
                        + " (read timeout " + Timeouts.human(timeout) + ")";
            }
            return null;
        }

        public Stats stats() {
            return new Stats(appended.get(), acknowledged.get(), quarantined.get(), failed.get(), requests.get(), retries.get(),
                    splits.get(), unknown.get(), unknownRows.get(), bytesSent.get(), bytesRaw.get(), firstError.get());
        }

        /** Throws the first error as one line when any row failed (call after flush/close). */
        public void throwIfFailed() {
            Stats st = stats();
            if (st.failed() > 0) {
                Cli.Failure f = fatal.get();
                String why = f != null ? f.getMessage() : st.firstError();
                throw new Cli.Failure(String.format(Locale.ROOT, "%,d of %,d rows were not written to Tinybird data source %s: %s",
                        st.failed(), st.appended(), datasource, why));
            }
        }

        /** The error that stopped the writer (a non-retryable answer, an error no retry can fix, or giving up), or null. */
        public Cli.Failure fatal() {
            return fatal.get();
        }

        private void fail(int n, String message, Cli.Failure e) {
            failed.addAndGet(n);
            firstError.compareAndSet(null, Config.redact(message));
            if (e != null) fatal.compareAndSet(null, e);
        }

        private void notice(String line) {
            if (s.onNotice != null) {
                try {
                    s.onNotice.accept(Config.redact(line));
                } catch (RuntimeException ignored) {
                    // a listener's error must not lose a batch
                }
            }
        }

        private static byte[] gzip(byte[] data, int off, int n) {
            ByteArrayOutputStream bos = new ByteArrayOutputStream(Math.max(1024, n / 5));
            try (GZIPOutputStream gz = new GZIPOutputStream(bos, 64 * 1024) {
                { def.setLevel(Deflater.BEST_SPEED); }
            }) {
                gz.write(data, off, n);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return bos.toByteArray();
        }

        /** Sends one batch (a slice of NDJSON with n rows) until it has an outcome. */
        private void send(byte[] data, int off, int n, int nrows) {
            byte[] body = s.gzip ? gzip(data, off, n) : java.util.Arrays.copyOfRange(data, off, off + n);
            int attempt = 0;
            String what = "POST /v0/events?name=" + datasource;
            Thread me = Thread.currentThread();
            while (true) {
                String why = stopped;
                if (why != null) {
                    fail(nrows, attempt == 0 && why.equals(ABANDONED) ? STOPPED_UNSENT : why, null);
                    return;
                }
                attempt++;
                requests.incrementAndGet();
                long waitMs;
                boolean unknownOutcome = false;
                String problem;
                long started = System.nanoTime();
                active.put(me, started);
                try {
                    HttpRequest.Builder rb = client.request(path).timeout(timeout)
                            .header("Content-Type", "application/x-ndjson")
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
                    if (s.gzip) rb.header("Content-Encoding", "gzip");
                    HttpResponse<String> r = client.http().send(rb.build(), HttpResponse.BodyHandlers.ofString());
                    active.put(me, 0L);
                    int code = r.statusCode();
                    if (code == 200 || code == 202) {
                        succeeded();
                        bytesSent.addAndGet(body.length);
                        bytesRaw.addAndGet(n);
                        long q = 0;
                        try {
                            JsonNode j = Json.MAPPER.readTree(r.body());
                            q = Math.max(0, Math.min(nrows, j.path("quarantined_rows").asLong(0)));
                        } catch (IOException ignored) {
                            // a 2xx without the usual body: the rows are acknowledged
                        }
                        acknowledged.addAndGet(nrows - q);
                        quarantined.addAndGet(q);
                        if (s.onAcknowledged != null) s.onAcknowledged.accept(nrows - q);
                        return;
                    }
                    if (code == 413) {
                        if (nrows > 1) {
                            splits.incrementAndGet();
                            int mid = off, seen = 0;
                            while (seen < nrows / 2) {
                                if (data[mid++] == '\n') seen++;
                            }
                            send(data, off, mid - off, nrows / 2);
                            send(data, mid, off + n - mid, nrows - nrows / 2);
                        } else {
                            fail(1, "a single row of " + n + " bytes is over Tinybird's request size limit (413)", null);
                        }
                        return;
                    }
                    if (code == 429) {
                        problem = "429 Too many requests";
                        waitMs = retryAfterMillis(r, attempt);
                    } else if (code == 500 || code == 503 || code == 502 || code == 504) {
                        problem = code + " " + oneLine(r.body());
                        unknownOutcome = code != 503;
                        waitMs = backoffMillis(attempt);
                    } else {
                        ApiException e = error(client.shownHost(), code, r.body(), what, "DATASOURCES:APPEND:" + datasource
                                + " (and DATASOURCES:CREATE when the data source does not exist yet)");
                        fail(nrows, e.getMessage(), code == 422 ? null : e);
                        return;
                    }
                } catch (IOException e) {
                    String permanent = client.permanent(e);
                    if (permanent != null) {
                        // the same on every attempt, and nothing was sent: no retry, no unknown outcome
                        Cli.Failure f = new Cli.Failure(Config.redact("cannot write to Tinybird at " + client.shownHost() + ": " + permanent));
                        fail(nrows, f.getMessage(), f);
                        return;
                    }
                    if (stopped != null) {
                        unknown.incrementAndGet();
                        unknownRows.addAndGet(nrows);
                        fail(nrows, stopped, null);
                        return;
                    }
                    if (e instanceof HttpConnectTimeoutException) {
                        problem = "no connection within " + Timeouts.human(client.net().connectTimeout()) + " (--connect-timeout)";
                    } else if (e instanceof ConnectException) {
                        problem = "cannot connect: " + describe(e);
                    } else if (e instanceof java.net.http.HttpTimeoutException) {
                        problem = "no answer within " + Timeouts.human(timeout) + " (--read-timeout)";
                        unknownOutcome = true;
                    } else {
                        problem = "request failed: " + describe(e);
                        unknownOutcome = true;
                    }
                    waitMs = backoffMillis(attempt);
                } catch (InterruptedException e) {
                    // abandon(): the request may have reached the server
                    unknown.incrementAndGet();
                    unknownRows.addAndGet(nrows);
                    fail(nrows, stopped != null ? stopped : "interrupted", null);
                    return;
                } finally {
                    active.put(me, 0L);
                }
                if (unknownOutcome) {
                    unknown.incrementAndGet();
                    unknownRows.addAndGet(nrows);
                }
                lastProblem = problem;
                troubleSince.compareAndSet(0, started);
                long streak = troubleAttempts.incrementAndGet();
                if (s.maxAttempts > 0 && attempt >= s.maxAttempts) {
                    fail(nrows, "gave up after " + attempt + " attempts: " + problem, null);
                    return;
                }
                long since = troubleSince.get();
                long leftMs = s.retryFor.toMillis() - (System.nanoTime() - (since == 0 ? started : since)) / 1_000_000;
                if (leftMs <= 0) {
                    Cli.Failure f = new Cli.Failure(Config.redact("gave up writing to Tinybird at " + client.shownHost()
                            + ": no request succeeded for " + Timeouts.human(s.retryFor) + " (--retry-for); the last attempt: " + problem));
                    fail(nrows, f.getMessage(), f);
                    stop(f.getMessage());
                    return;
                }
                waitMs = Math.min(waitMs, leftMs);
                notice("waiting for " + client.shownHost() + ": " + problem + ", attempt " + streak + ", giving up in "
                        + Timeouts.human(Duration.ofMillis(leftMs)) + " (next try in " + Timeouts.human(Duration.ofMillis(waitMs)) + ")");
                retries.incrementAndGet();
                try {
                    Thread.sleep(waitMs);
                } catch (InterruptedException e) {
                    fail(nrows, stopped != null ? stopped : "interrupted", null);
                    return;
                }
            }
        }

        /** A request succeeded: the retry clock starts afresh. */
        private void succeeded() {
            long since = troubleSince.get();
            if (since != 0 && troubleSince.compareAndSet(since, 0)) {
                troubleAttempts.set(0);
                notice(client.shownHost() + " answers again (after " + Timeouts.human(Duration.ofNanos(System.nanoTime() - since)) + ")");
            }
        }

        long backoffMillis(int attempt) {
            long base = s.backoffBase.toMillis();
            long cap = s.backoffCap.toMillis();
            long d = Math.min(cap, base << Math.min(20, attempt - 1));
            return d / 2 + ThreadLocalRandom.current().nextLong(d / 2 + 1);
        }

        long retryAfterMillis(HttpResponse<?> r, int attempt) {
            Long ms = serverWait(r);
            if (ms == null) return backoffMillis(attempt);
            return Math.max(0, Math.min(ms, s.maxRetryWait.toMillis()));
        }
    }

    /** The wait an answer asks for, in ms: Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (seconds); null when none. */
    static Long serverWait(HttpResponse<?> r) {
        return serverWait(h -> r.headers().firstValue(h).orElse(null));
    }

    /** serverWait of an answer whose headers are looked up by name (null when absent). */
    static Long serverWait(java.util.function.Function<String, String> header) {
        String ra = header.apply("Retry-After");
        Long ms = ra != null ? parseRetryAfter(ra) : null;
        if (ms == null) {
            String reset = header.apply("X-RateLimit-Reset");
            if (reset != null) {
                try {
                    ms = (long) (Double.parseDouble(reset.strip()) * 1000);
                } catch (NumberFormatException ignored) {
                    // no usable hint
                }
            }
        }
        return ms;
    }

    static Long parseRetryAfter(String v) {
        String t = v.strip();
        try {
            return (long) (Double.parseDouble(t) * 1000);
        } catch (NumberFormatException notSeconds) {
            try {
                ZonedDateTime when = ZonedDateTime.parse(t, DateTimeFormatter.RFC_1123_DATE_TIME);
                return Math.max(0, Duration.between(Instant.now(), when.toInstant()).toMillis());
            } catch (java.time.format.DateTimeParseException bad) {
                return null;
            }
        }
    }
}
