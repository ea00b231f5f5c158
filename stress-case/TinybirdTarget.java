import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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
