//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Tinybird.java
//SOURCES TinybirdNet.java

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The connection options of a script that talks to one Tinybird workspace: {@code @Mixin TinybirdOptions tb;} then
 * {@code tb.client(cfg, "TINYBIRD_TOKEN")}. --host, --region, --token and --insecure, plus the timeouts and trust of
 * {@link TinybirdNet.Options}.
 *
 * <p>Why a mixin: every script spells these options the same way and resolves them through {@link Tinybird}, so help
 * and behaviour can not drift apart between tools. Invariant: the token given here is registered as a secret before
 * anything can print it.
 */
public final class TinybirdOptions {
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

    @Mixin public TinybirdNet.Options net = new TinybirdNet.Options();

    /** The base URL. */
    public String host(Config cfg) {
        net.net(cfg);
        return Tinybird.resolveHost(host, region, insecure, cfg);
    }

    /** A client; the token from --token, else the first of tokenEnvKeys set (default TINYBIRD_TOKEN). */
    public TinybirdClient client(Config cfg, String... tokenEnvKeys) {
        net.net(cfg);
        return Tinybird.connect(host, region, token, insecure, cfg, tokenEnvKeys);
    }
}
