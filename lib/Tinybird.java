//SOURCES Cli.java
//SOURCES Config.java
//SOURCES TinybirdClient.java
//SOURCES TinybirdOptions.java

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Where a Tinybird workspace is and how to connect to it: region names, API hosts and URLs (the original's
 * {@code https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}} template included), the token, and the
 * client that comes out of them. The contract is shared/reference/tinybird-api.md; tests run it against the local
 * emulator (tinybird/tinybird-emulator.java).
 *
 * <p>Why one entry point: every script takes its host from the same places in the same order (--host, --region,
 * TINYBIRD_HOST, TINYBIRD_REGION, the default), so a presenter who sets one variable gets the same workspace from
 * every tool. Invariant: a host that comes out of here has no user info and is https unless it is loopback or the
 * user said --insecure, so the token never travels or prints in clear.
 *
 * <h2>The Tinybird files of lib/</h2>
 * <ul>
 * <li>{@link TinybirdOptions}, {@link TinybirdNet}: the connection options (--host, --region, --token, timeouts, --ca-file)</li>
 * <li>{@link TinybirdClient}: one host and token; the API Endpoint reader, the Data Sources API (file import) and the Query API</li>
 * <li>{@link TinybirdRows}, {@link TinybirdRowScanner}: an answer's rows, streamed</li>
 * <li>{@link TinybirdWriter}, {@link TinybirdWriterSettings}: the Events API writer and its knobs</li>
 * <li>{@link TinybirdApiException}: what a non-2xx answer means, in one line</li>
 * </ul>
 *
 * <h2>Quick use</h2>
 * <pre>{@code
 * @Mixin TinybirdOptions tb;                                    // --host URL, --region NAME, --token, --insecure
 * TinybirdClient client = tb.client(common.config(), "TINYBIRD_TOKEN", "TINYBIRD_TARGET_TOKEN");
 *
 * // Events API: thread-safe, batched (rows / bytes / linger), gzip, wait=true, retries, back-pressure
 * try (TinybirdWriter w = client.writer("events", new TinybirdWriterSettings().maxRows(10_000))) {
 *     w.append(Map.of("id", 1, "action", "view"));            // a Map / JsonNode / POJO, serialised by Jackson
 *     w.append("{\"id\":2}");                                  // or a pre-serialised JSON object (String or byte[])
 *     w.flush();                                               // everything appended so far has an outcome
 *     TinybirdWriter.Stats s = w.stats();                      // appended == acknowledged + quarantined + failed
 * }
 *
 * // API Endpoint: streamed, so a huge answer never sits in memory
 * try (TinybirdRows rows = client.read("reports", Map.of("city", "Denver", "max_results", 5000))) {
 *     rows.meta();                                             // [Column(name, type)] (JSON format)
 *     while (rows.hasNext()) { ObjectNode r = rows.next(); }
 *     rows.statistics(); rows.rowsBeforeLimitAtLeast();        // known once the rows are consumed
 * }
 * TinybirdRows.PipeResult all = client.readAll("api_cities", Map.of());
 *
 * // Data Sources API (multipart upload of a CSV or NDJSON file) and the Query API
 * TinybirdClient.ImportResult r = client.importFile("append", "weather", Path.of("w.csv"), null);
 * TinybirdRows.PipeResult q = client.sql("select count() from weather");
 * }</pre>
 */
public final class Tinybird {
    private Tinybird() {}

    public static final String DEFAULT_HOST = "https://api.tinybird.co";
    public static final String LOCAL_HOST = "http://localhost:7181";

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
    public static TinybirdClient connect(String host, String region, String token, boolean insecure, Config cfg,
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
        return new TinybirdClient(base, t);
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
}
