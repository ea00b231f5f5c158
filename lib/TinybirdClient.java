//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Json.java
//SOURCES NetErrors.java
//SOURCES Tinybird.java
//SOURCES TinybirdApiException.java
//SOURCES TinybirdNet.java
//SOURCES TinybirdRows.java
//SOURCES TinybirdWriter.java
//SOURCES TinybirdWriterSettings.java

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
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
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One Tinybird host and token: streamed reads of API Endpoints and of the Query API, file imports through the Data
 * Sources API, and the {@link TinybirdWriter}s of the Events API. Writes and imports go over one
 * java.net.http.HttpClient, reads over HttpURLConnection (see {@link #open}). Thread-safe.
 *
 * <p>Why a client object: the token, the host as it may be printed, and the timeouts and trust ({@link TinybirdNet})
 * are decided once and every request carries them. Invariant: the token goes only in the Authorization header; the
 * host this client prints is redacted and has no user info.
 */
public final class TinybirdClient implements AutoCloseable {
    private final String host;
    private final String shown;
    private final String token;
    private final HttpClient http;
    private final TinybirdNet net;
    private Duration timeout;

    /** A client with the command's timeouts and trust ({@link TinybirdNet#current()}). */
    public TinybirdClient(String host, String token) {
        this(host, token, TinybirdNet.current());
    }

    public TinybirdClient(String host, String token, TinybirdNet net) {
        Config.registerSecret(token);
        String h = host.replaceFirst("/+$", "");
        try {
            URI u = new URI(h);
            if (u.getRawUserInfo() != null) h = u.getScheme() + "://" + Tinybird.withoutUserInfo(u) + (u.getRawPath() == null ? "" : u.getRawPath());
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

    public TinybirdNet net() {
        return net;
    }

    /** Read timeout: the longest wait for an answer (default: the Net's, 30 s). */
    public TinybirdClient timeout(Duration d) {
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
    public TinybirdWriter writer(String datasource) {
        return new TinybirdWriter(this, datasource, new TinybirdWriterSettings());
    }

    public TinybirdWriter writer(String datasource, TinybirdWriterSettings settings) {
        return new TinybirdWriter(this, datasource, settings);
    }

    /** Streams an API Endpoint's rows (JSON format). Close the result. */
    public TinybirdRows read(String pipe, Map<String, ?> params) {
        return read(pipe, params, "json");
    }

    /** format: json (meta, data, statistics) or ndjson (rows only). */
    public TinybirdRows read(String pipe, Map<String, ?> params, String format) {
        if (!format.equals("json") && !format.equals("ndjson")) throw Cli.usage("unsupported pipe format: " + format);
        String query = encodeParams(params);
        String path = "/v0/pipes/" + enc(pipe) + "." + format;
        if (query.length() > 8000) { // past about 8 KB of query string nginx answers 414: form params instead
            return open(path, query, "application/x-www-form-urlencoded", "POST " + path, "PIPES:READ:" + pipe, format.equals("ndjson"));
        }
        return open(path + (query.isEmpty() ? "" : "?" + query), null, null, "GET " + path, "PIPES:READ:" + pipe, format.equals("ndjson"));
    }

    /** Reads a whole (small) API Endpoint answer into memory. */
    public TinybirdRows.PipeResult readAll(String pipe, Map<String, ?> params) {
        try (TinybirdRows rows = read(pipe, params)) {
            return rows.toResult();
        }
    }

    /** The Query API: runs SQL (FORMAT JSON appended when no FORMAT is given) and returns the whole answer. */
    public TinybirdRows.PipeResult sql(String sql) {
        try (TinybirdRows rows = sqlRows(sql)) {
            return rows.toResult();
        }
    }

    /** The Query API, streamed. */
    public TinybirdRows sqlRows(String sql) {
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
    private TinybirdRows open(String pathAndQuery, String body, String contentType, String what, String scope, boolean ndjson) {
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
            Long wait = status == 429 ? TinybirdApiException.serverWait(conn::getHeaderField)
                    : Optional.ofNullable(c.getHeaderField("Retry-After")).map(TinybirdApiException::parseRetryAfter).orElse(null);
            throw TinybirdApiException.of(shown, status, text, what, scope, wait);
        }
        try {
            return new TinybirdRows(c.getInputStream(), ndjson, what, c::disconnect);
        } catch (IOException e) {
            c.disconnect();
            throw new Cli.Failure("bad answer from Tinybird to " + what + ": " + e.getMessage(), e);
        }
    }

    /** The Data Sources API's answer. error is null when all went well, else the server's message. */
    public record ImportResult(String importId, String datasource, long quarantineRows, long invalidLines, String error,
                               JsonNode raw) {}

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
            throw TinybirdApiException.of(shown, resp.statusCode(), resp.body(), what,
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

    static final DateTimeFormatter DATETIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    static String paramText(Object x) {
        if (x instanceof LocalDateTime t) return t.format(DATETIME);
        if (x instanceof Instant t) return LocalDateTime.ofInstant(t, ZoneOffset.UTC).format(DATETIME);
        if (x instanceof OffsetDateTime t) return t.withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime().format(DATETIME);
        if (x instanceof ZonedDateTime t) return t.withZoneSameInstant(ZoneOffset.UTC).toLocalDateTime().format(DATETIME);
        if (x instanceof LocalDate d) return d.toString();
        return x.toString();
    }
}
