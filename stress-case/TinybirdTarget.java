import java.net.URI;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The Tinybird target: GET an API endpoint (--pipe, default reports.json) with the --param values as its query
 * parameters and the read token as a bearer header, over our HTTP/1.1 client (HttpTarget).
 * Why a target of its own: it knows Tinybird's answers (the "rows" count at their end) and where the cities are
 * (the api_cities endpoint).
 * Invariant: the token travels only in the Authorization header, never in a URL or a message.
 */
final class TinybirdTarget extends HttpTarget {
    static final LoadTarget.Kind KIND = new LoadTarget.Kind("tinybird", List.of("tb"),
            (run, wl) -> new TinybirdTarget(run.tb.host(run.cfg), run.tinybirdToken(), run.pipe, run.citiesPipe, wl, run.timeout));

    final String host, pipe, citiesPipe;

    TinybirdTarget(String host, String token, String pipe, String citiesPipe, Workload wl, Duration timeout) {
        super("tinybird", host + "/v0/pipes/" + StressCase.enc(pipe) + ".json", token, wl, timeout, true);
        this.host = host;
        this.pipe = pipe;
        this.citiesPipe = citiesPipe;
    }

    @Override
    public String describe() {
        return pipe + ".json";
    }

    @Override
    public Map<String, String> about() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("kind", "Tinybird API endpoint");
        a.put("host", host + (emulator() ? " (local emulator)" : ""));
        a.put("endpoint", "/v0/pipes/" + pipe + ".json");
        a.put("asks", describe() + " with " + String.join(", ", wl.names));
        return a;
    }

    /** The local emulator (tinybird/tinybird-emulator.java) names itself at '/'; Tinybird does not answer that way. */
    boolean emulator() {
        try (Http1 h = connection()) {
            return h.get("/", "") == 200 && h.bodyText().startsWith("Tinybird emulator");
        } catch (Exception e) {
            return false;
        }
    }

    /**
     * For the reports endpoint: the first and last row of its data source, weather_data, asked through the Query API
     * (ORDER BY ... LIMIT 1, which the local emulator answers too). A token that may not use the Query API gets a
     * "could not check" instead.
     */
    @Override
    public LoadTarget.DataRange dataRange() {
        if (!pipe.equals("reports")) return null;
        try {
            LocalDateTime first = firstTime(""), last = firstTime(" DESC");
            return first == null ? LoadTarget.DataRange.unknown(DATA_SOURCE, "the data source is empty")
                    : new LoadTarget.DataRange(DATA_SOURCE, first, last, null);
        } catch (HttpStatus e) {
            return LoadTarget.DataRange.unknown(DATA_SOURCE, "the Query API answered HTTP " + e.status
                    + (e.status == 401 || e.status == 403 ? " (the token may not read " + DATA_SOURCE + " through /v0/sql)" : "")
                    + ": " + StressCase.shorten(e.body));
        } catch (Exception e) {
            return LoadTarget.DataRange.unknown(DATA_SOURCE, StressCase.oneLine(e));
        }
    }

    static final String DATA_SOURCE = "weather_data";

    private LocalDateTime firstTime(String order) throws Exception {
        try (Http1 h = connection()) {
            String q = "SELECT timestamp FROM " + DATA_SOURCE + " ORDER BY timestamp" + order + " LIMIT 1 FORMAT JSON";
            int status = h.get(URI.create(host + "/v0/sql").getRawPath() + "?q=" + StressCase.enc(q), headers());
            String body = h.bodyText();
            if (status != 200) throw new HttpStatus(status, body);
            JsonNode row = Json.MAPPER.readTree(body).path("data").path(0);
            if (row.isMissingNode()) return null;
            String t = row.path("timestamp").asText();
            return LocalDateTime.parse(t.length() > 19 ? t.substring(0, 19) : t, Workload.TB_TIME);
        }
    }

    @Override
    public List<String> cities() {
        try (Http1 h = connection()) {
            URI u = URI.create(host + "/v0/pipes/" + StressCase.enc(citiesPipe) + ".json");
            int status = h.get(u.getRawPath(), headers());
            String body = h.bodyText();
            if (status != 200) throw new Cli.Failure(name + ": " + citiesPipe + " answered HTTP " + status + ": " + StressCase.shorten(body));
            JsonNode data = Json.MAPPER.readTree(body).path("data");
            List<String> out = new ArrayList<>();
            for (JsonNode row : data) {
                JsonNode c = row.has("site_name") ? row.get("site_name") : row.elements().hasNext() ? row.elements().next() : null;
                if (c != null && !c.isNull()) out.add(c.asText());
            }
            return out;
        } catch (Cli.Failure f) {
            throw f;
        } catch (Exception e) {
            throw new Cli.Failure(name + ": cannot reach " + host + ": " + StressCase.oneLine(e), e);
        }
    }
}
