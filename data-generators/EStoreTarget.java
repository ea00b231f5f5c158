/*
 * Where the events go in Tinybird: the token and one Events API endpoint per data source, from the options, the
 * settings file (tinybird_api_endpoint) and the environment.
 * Why here: the original's endpoint template, --host/--region like every other script, and the environment each
 * name the host; choosing between them is the script's longest rule and none of its story.
 * Invariant: no token means no endpoint (stdout, said on stderr), and an option naming Tinybird without a token is a
 * usage error; an endpoint always names its data source.
 */
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

record EStoreTarget(String token, List<Tinybird.Endpoint> endpoints) {
    /**
     * The token and the data sources to write to: none when no token is set (stdout then), else one per --datasource
     * (or DATASOURCE_NAME, or the name= of an endpoint without the placeholder). {CLOUD_REGION} defaults to "api"
     * (https://api.tinybird.co).
     */
    static EStoreTarget of(EStore cmd, EStoreSettings s) {
        Config cfg = cmd.common.config();
        String token = cmd.token != null && !cmd.token.isBlank() ? cmd.token
                : cfg.get("TINYBIRD_TOKEN", "TINYBIRD_TARGET_TOKEN", "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_KEY").orElse(null);
        List<String> names = cmd.datasources != null ? cmd.datasources
                : cfg.get("DATASOURCE_NAME").map(List::of).orElse(List.of());
        if (token == null) {
            if (cmd.datasources != null || cmd.endpoint != null || cmd.host != null || cmd.region != null) {
                throw Cli.usage("writing to Tinybird needs a token: set TINYBIRD_TOKEN (environment, .env.local, .env) or --token");
            }
            return new EStoreTarget(null, List.of());
        }
        Config.registerSecret(token);
        String template = eventsTemplate(cmd, s, cfg);
        boolean named = !template.contains("{DATASOURCE_NAME}");
        if (names.isEmpty() && !named) {
            cmd.spec.commandLine().getErr().println(cmd.spec.root().name() + ": a Tinybird token is set but no data source:"
                    + " writing to stdout (set --datasource or DATASOURCE_NAME to send to Tinybird)");
            return new EStoreTarget(token, List.of());
        }
        String region = cmd.cloudRegion != null ? cmd.cloudRegion : cfg.get("CLOUD_REGION", "TINYBIRD_REGION").orElse("api");
        List<Tinybird.Endpoint> out = new ArrayList<>();
        for (String ds : named && names.isEmpty() ? List.of("") : names) {
            Map<String, String> vars = new LinkedHashMap<>();
            vars.put("CLOUD_REGION", region);
            vars.put("DATASOURCE_NAME", ds);
            Tinybird.Endpoint ep = Tinybird.parseUrl(template, vars, cmd.insecure);
            String name = ep.datasource() != null && !ep.datasource().isBlank() ? ep.datasource() : ds;
            if (name.isBlank()) throw Cli.usage("tinybird_api_endpoint names no data source (?name=...): " + Config.redact(template));
            out.add(new Tinybird.Endpoint(ep.host(), name));
        }
        return new EStoreTarget(token, out);
    }

    /**
     * The Events API URL template: --endpoint; else --host or --region (as every other script names the host);
     * else the original's (tinybird_api_endpoint from the file, or the default with {CLOUD_REGION} from
     * --cloud-region); else TINYBIRD_HOST (or TINYBIRD_REGION without CLOUD_REGION); else the default template.
     */
    static String eventsTemplate(EStore cmd, EStoreSettings s, Config cfg) {
        boolean hostGiven = cmd.host != null && !cmd.host.isBlank(), regionGiven = cmd.region != null && !cmd.region.isBlank();
        if ((hostGiven || regionGiven) && cmd.endpoint != null) {
            throw Cli.usage("--endpoint names the whole Events API URL: give it or --host/--region, not both");
        }
        // an option wins over the file: --host/--region over its tinybird_api_endpoint; the file over the environment
        boolean customEndpoint = cmd.endpoint != null || !s.endpoint.equals(EStoreSettings.DEFAULT_ENDPOINT);
        if (!hostGiven && !regionGiven && (customEndpoint || cmd.cloudRegion != null)) return s.endpoint;
        String host;
        if (hostGiven) host = cmd.host.strip();
        else if (regionGiven) host = Tinybird.resolveHost(null, cmd.region, cmd.insecure, cfg);
        else if (cfg.get("TINYBIRD_HOST", "TB_HOST", "TINYBIRD_API_URL").isPresent()
                || cfg.get("CLOUD_REGION").isEmpty() && cfg.get("TINYBIRD_REGION").isPresent()) host = Tinybird.resolveHost(null, null, cmd.insecure, cfg);
        else return s.endpoint;
        return host.contains("/v0/") ? host : host.replaceAll("/+$", "") + "/v0/events?name={DATASOURCE_NAME}";
    }
}
