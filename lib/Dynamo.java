//DEPS software.amazon.awssdk:bom:2.57.8@pom
//DEPS software.amazon.awssdk:dynamodb
//DEPS software.amazon.awssdk:apache-client
//SOURCES Cli.java
//SOURCES Config.java

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;

import picocli.CommandLine.Option;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.DynamoDbClientBuilder;

/**
 * DynamoDB client: credentials from the AWS default chain (env, ~/.aws, SSO, instance roles), --region and
 * --endpoint-url. Static dummy credentials are used only for a loopback endpoint (dynalite, a local emulator)
 * when no AWS_ACCESS_KEY_ID is set.
 */
public final class Dynamo {
    private Dynamo() {}

    /** {@code @Mixin Dynamo.Options dynamo;} */
    public static final class Options {
        @Option(names = "--region", paramLabel = "REGION",
                description = "AWS region (default: DYNAMODB_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config).")
        public String region;

        @Option(names = "--endpoint-url", paramLabel = "URL",
                description = "DynamoDB endpoint, e.g. http://localhost:4567 for dynalite (default: AWS_ENDPOINT_URL_DYNAMODB, the region's).")
        public String endpointUrl;

        public DynamoDbClient client(Config cfg) {
            return Dynamo.client(region, endpointUrl, cfg, 64);
        }
    }

    public static DynamoDbClient client(String region, String endpointUrl, Config cfg, int maxConnections) {
        String endpoint = endpointUrl != null ? endpointUrl : cfg.get("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL").orElse(null);
        String reg = region != null ? region : cfg.get("DYNAMODB_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION").orElse(null);
        DynamoDbClientBuilder b = DynamoDbClient.builder()
                .httpClient(ApacheHttpClient.builder()
                        .maxConnections(maxConnections)
                        .connectionTimeout(Duration.ofSeconds(10))
                        .socketTimeout(Duration.ofSeconds(60))
                        .build())
                .overrideConfiguration(ClientOverrideConfiguration.builder()
                        .apiCallTimeout(Duration.ofMinutes(2))
                        .build());
        boolean loopback = false;
        if (endpoint != null) {
            URI uri;
            try {
                uri = URI.create(endpoint);
            } catch (IllegalArgumentException e) {
                throw Cli.usage("not a URL: --endpoint-url " + endpoint);
            }
            if (uri.getScheme() == null || uri.getHost() == null) throw Cli.usage("not a URL: --endpoint-url " + endpoint);
            b.endpointOverride(uri);
            loopback = isLoopback(uri.getHost());
        }
        if (reg != null) b.region(Region.of(reg));
        else if (loopback) b.region(Region.US_EAST_1);
        if (loopback && cfg.get("AWS_ACCESS_KEY_ID").isEmpty()) {
            b.credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")));
        } else {
            b.credentialsProvider(DefaultCredentialsProvider.builder().build());
        }
        try {
            return b.build();
        } catch (software.amazon.awssdk.core.exception.SdkClientException e) {
            throw new Cli.Failure("DynamoDB client: " + e.getMessage() + " (set --region or AWS_REGION)");
        }
    }

    static boolean isLoopback(String host) {
        if (host.equals("localhost")) return true;
        try {
            return InetAddress.getByName(host.replace("[", "").replace("]", "")).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
