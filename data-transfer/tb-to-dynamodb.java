///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/NetErrors.java
//SOURCES ../lib/Dynamo.java
//SOURCES ../lib/Tinybird.java
//SOURCES ../lib/TinybirdApiException.java
//SOURCES ../lib/TinybirdClient.java
//SOURCES ../lib/TinybirdNet.java
//SOURCES ../lib/TinybirdOptions.java
//SOURCES ../lib/TinybirdRowScanner.java
//SOURCES ../lib/TinybirdRows.java
//SOURCES ../lib/TinybirdWriter.java
//SOURCES ../lib/TinybirdWriterSettings.java
//SOURCES ../lib/Transfer.java
//SOURCES ../lib/ClickHouseTypes.java
//SOURCES ../lib/CursorValues.java
//SOURCES ../lib/TinybirdSource.java
//SOURCES ../lib/TransferEngine.java
//SOURCES ../lib/TransferOptions.java
//SOURCES ../lib/TransferPager.java
//SOURCES ../lib/TransferWriter.java
//DESCRIPTION Copies the rows of a Tinybird API Endpoint into a DynamoDB table, incrementally and resumably:
//DESCRIPTION parallel BatchWriteItem of 25, UnprocessedItems and throttling retried, exact numbers, watermark in a small state item.
//DESCRIPTION Usage: tb-to-dynamodb.java [--once | --every 60s] [--pipe reports] [--table NAME] [--partition-key site_name --sort-key timestamp] [--endpoint-url URL]
//MAIN TbToDynamodb

import java.io.PrintWriter;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.*;

@Command(name = "tb-to-dynamodb", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, sortOptions = false, usageHelpWidth = 130,
        description = {"Copies the rows of a Tinybird API Endpoint into a DynamoDB table, window by window, with no row lost or",
                "written twice: pages past the endpoint's row cap, writes BatchWriteItem requests of 25 items from several",
                "writers at once, retries UnprocessedItems and throttling with exponential backoff, and records the",
                "watermark in a small state item (table <table>_transfer_state) once a batch has fully landed."},
        footer = {"", "Examples:",
                "  ./jbang tb-to-dynamodb --once --table weather_reports --region us-east-1",
                "  ./jbang tb-to-dynamodb --every 60s --table weather_reports                          # follow; Ctrl-C stops",
                "  ./jbang tb-to-dynamodb --once --endpoint-url http://localhost:4567 --table weather_reports --host http://localhost:7181",
                "",
                "Source: TINYBIRD_SOURCE_TOKEN (or TINYBIRD_TOKEN), --host / TINYBIRD_HOST. DynamoDB: AWS default credentials,",
                "--region (DYNAMODB_AWS_REGION, AWS_REGION), --endpoint-url; --table defaults to DYNAMODB_TABLE_NAME. The table is",
                "created on demand (PAY_PER_REQUEST) when missing. Numbers stay exact (N), null is NULL, arrays/objects are L/M.",
                "Exit codes: 0 ok, 1 failure, 2 usage."})
class TbToDynamodb implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin TransferOptions transfer;
    @Mixin Dynamo.Options dynamo;

    // the source's connection (TinybirdOptions' --region would clash with DynamoDB's --region)
    @Option(names = "--host", paramLabel = "URL", description = "Tinybird API host of the source (default: TINYBIRD_HOST, else https://api.tinybird.co).")
    String tbHost;

    @Option(names = "--tb-region", paramLabel = "NAME", description = "Tinybird region instead of --host (e.g. gcp-us-east4, aws-eu-west-1, local).")
    String tbRegion;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Source token (default: TINYBIRD_SOURCE_TOKEN, else TINYBIRD_TOKEN). Never printed.")
    String tbToken;

    @Option(names = "--insecure", description = "Allow plain http to a Tinybird host that is not localhost.")
    boolean insecure;

    @Option(names = "--table", paramLabel = "NAME", converter = CliTypes.Name.class, description = "Target table (default: DYNAMODB_TABLE_NAME, else weather_reports).")
    String table;

    @Option(names = "--partition-key", paramLabel = "COLUMN", converter = CliTypes.Name.class, defaultValue = "site_name", description = "Partition (hash) key (default: ${DEFAULT-VALUE}).")
    String partitionKey;

    @Option(names = "--sort-key", paramLabel = "COLUMN", converter = CliTypes.Name.class, defaultValue = "timestamp",
            description = "Sort (range) key (default: ${DEFAULT-VALUE}; 'none' for a table with a partition key only).")
    String sortKey;

    @Option(names = "--state-table", paramLabel = "NAME", converter = CliTypes.Name.class, description = "Table for the watermark item (default: <table>_transfer_state).")
    String stateTable;

    @Option(names = "--writers", paramLabel = "N", defaultValue = "8", converter = CliTypes.PositiveInt.class, description = "BatchWriteItem requests in flight at once (default: ${DEFAULT-VALUE}).")
    int writers;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new TbToDynamodb()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            PrintWriter err = spec.commandLine().getErr();
            Config cfg = common.config();
            String t = table != null ? table : cfg.getOr("DYNAMODB_TABLE_NAME", "weather_reports");
            TinybirdClient client = Tinybird.connect(tbHost, tbRegion, tbToken, insecure, cfg, "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_TOKEN");
            Transfer.Source source = new TinybirdSource(client, transfer.pipe, transfer.retryFor, err, common.quiet);
            DynamoDbClient db = Dynamo.client(dynamo.region, dynamo.endpointUrl, cfg, Math.max(64, writers * 2));
            DynamoTarget target = new DynamoTarget(db, t, partitionKey, sortKey.equals("none") ? null : sortKey,
                    stateTable != null ? stateTable : t + "_transfer_state", writers, transfer.retryFor, err);
            return TransferEngine.runCommand(transfer, source, target, err, common.quiet);
        });
    }

    /** The DynamoDB target: parallel BatchWriteItem(25) with retries, a state item per job. */
    static final class DynamoTarget implements Transfer.Target {
        static final int MAX_ITEM_BYTES = 400 * 1024;
        private final DynamoDbClient db;
        private final String table, pk, sk, stateTable;
        private final int writers;
        private final Duration retryFor;
        private final PrintWriter err;
        private final ExecutorService pool;
        private boolean stateTableReady;
        private String[] names;
        final AtomicLong retries = new AtomicLong(), throttled = new AtomicLong(), unprocessed = new AtomicLong();

        DynamoTarget(DynamoDbClient db, String table, String pk, String sk, String stateTable, int writers, Duration retryFor, PrintWriter err) {
            this.db = db;
            this.table = table;
            this.pk = pk;
            this.sk = sk;
            this.stateTable = stateTable;
            this.writers = writers;
            this.retryFor = retryFor;
            this.err = err;
            this.pool = Executors.newFixedThreadPool(writers, r -> {
                Thread th = new Thread(r, "dynamodb-writer");
                th.setDaemon(true);
                return th;
            });
        }

        @Override
        public String describe() {
            return "DynamoDB table " + table;
        }

        @Override
        public List<String> keyColumns() {
            return sk == null ? List.of(pk) : List.of(pk, sk);
        }

        @Override
        public int maxBatchRows() {
            return 25 * writers * 20;
        }

        private boolean tableExists(String name) {
            try {
                db.describeTable(b -> b.tableName(name));
                return true;
            } catch (ResourceNotFoundException e) {
                return false;
            }
        }

        private static ScalarAttributeType keyType(List<Transfer.Column> meta, String col) {
            String t = ClickHouseTypes.unwrapType(meta.get(Transfer.indexOf(meta, col, "key")).type());
            boolean numeric = t.matches("U?Int\\d+|Float\\d+|Decimal.*");
            return numeric ? ScalarAttributeType.N : ScalarAttributeType.S;
        }

        private void createTable(String name, String hash, ScalarAttributeType hashType, String range, ScalarAttributeType rangeType) {
            CreateTableRequest.Builder b = CreateTableRequest.builder().tableName(name).billingMode(BillingMode.PAY_PER_REQUEST);
            List<AttributeDefinition> defs = new ArrayList<>();
            List<KeySchemaElement> keys = new ArrayList<>();
            defs.add(AttributeDefinition.builder().attributeName(hash).attributeType(hashType).build());
            keys.add(KeySchemaElement.builder().attributeName(hash).keyType(KeyType.HASH).build());
            if (range != null) {
                defs.add(AttributeDefinition.builder().attributeName(range).attributeType(rangeType).build());
                keys.add(KeySchemaElement.builder().attributeName(range).keyType(KeyType.RANGE).build());
            }
            try {
                db.createTable(b.attributeDefinitions(defs).keySchema(keys).build());
            } catch (ResourceInUseException racing) {
                // created meanwhile
            }
            awaitActive(db, name);
        }

        /**
         * Polls DescribeTable every 200 ms until the table is ACTIVE (up to 5 minutes). The SDK's waiter waits 20 s
         * between its calls: a table that is still CREATING at the first look (dynalite: half a second; DynamoDB: a few
         * seconds) cost a run 20 s.
         */
        static void awaitActive(DynamoDbClient db, String name) {
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (true) {
                try {
                    if (db.describeTable(r -> r.tableName(name)).table().tableStatus() == TableStatus.ACTIVE) return;
                } catch (ResourceNotFoundException notYet) {
                    // eventually consistent: not visible yet
                }
                if (System.nanoTime() > deadline) throw new Cli.Failure("DynamoDB table " + name + " is not ACTIVE after 5 minutes");
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new Cli.Failure("interrupted while waiting for table " + name);
                }
            }
        }

        @Override
        public Optional<Transfer.Resume> resume(String job, String cursor) {
            if (!tableExists(stateTable)) return Optional.empty();
            stateTableReady = true;
            GetItemResponse r = db.getItem(b -> b.tableName(stateTable).consistentRead(true)
                    .key(Map.of("job", AttributeValue.fromS(job + "@" + table))));
            if (!r.hasItem() || !r.item().containsKey("watermark")) return Optional.empty();
            AttributeValue w = r.item().get("watermark");
            Object v = w.n() != null ? new BigDecimal(w.n()) : w.s();
            return Optional.of(new Transfer.Resume(v, false, "state item in " + stateTable));
        }

        @Override
        public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter out) {
            names = meta.stream().map(Transfer.Column::name).toArray(String[]::new);
            ScalarAttributeType pkType = keyType(meta, pk);
            ScalarAttributeType skType = sk == null ? null : keyType(meta, sk);
            if (!tableExists(table)) {
                if (dryRun) {
                    out.println("dry run: would create the DynamoDB table " + table + " (" + pk + " " + pkType + " HASH"
                            + (sk == null ? "" : ", " + sk + " " + skType + " RANGE") + ", PAY_PER_REQUEST)");
                } else {
                    createTable(table, pk, pkType, sk, skType);
                }
            } else {
                TableDescription d = db.describeTable(b -> b.tableName(table)).table();
                for (KeySchemaElement k : d.keySchema()) {
                    String want = k.keyType() == KeyType.HASH ? pk : sk;
                    if (!k.attributeName().equals(want)) {
                        throw new Cli.Failure("DynamoDB table " + table + " has " + k.keyType() + " key " + k.attributeName()
                                + ", not " + want + " (--partition-key / --sort-key)");
                    }
                }
            }
            if (!dryRun && !stateTableReady) {
                if (!tableExists(stateTable)) createTable(stateTable, "job", ScalarAttributeType.S, null, null);
                stateTableReady = true;
            }
        }

        // ---------------------------------------------------------- items

        /** A row value as an attribute: exact numbers (N), NULL, BOOL, S, L, M. */
        static AttributeValue attr(Object v) {
            if (v == null) return AttributeValue.fromNul(true);
            if (v instanceof String s) return AttributeValue.fromS(s);
            if (v instanceof BigDecimal d) return AttributeValue.fromN(d.toPlainString());
            if (v instanceof Long || v instanceof Integer || v instanceof BigInteger || v instanceof Short) return AttributeValue.fromN(v.toString());
            if (v instanceof Number n) return AttributeValue.fromN(new BigDecimal(n.toString()).toPlainString());
            if (v instanceof Boolean b) return AttributeValue.fromBool(b);
            if (v instanceof JsonNode n) return attr(n);
            return AttributeValue.fromS(v.toString());
        }

        static AttributeValue attr(JsonNode n) {
            if (n == null || n.isNull()) return AttributeValue.fromNul(true);
            if (n.isArray()) {
                List<AttributeValue> l = new ArrayList<>(n.size());
                for (JsonNode x : n) l.add(attr(x));
                return AttributeValue.fromL(l);
            }
            if (n.isObject()) {
                Map<String, AttributeValue> m = new LinkedHashMap<>();
                for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    m.put(e.getKey(), attr(e.getValue()));
                }
                return AttributeValue.fromM(m);
            }
            return attr(Transfer.value(n));
        }

        Map<String, AttributeValue> item(Object[] row) {
            Map<String, AttributeValue> m = new HashMap<>(names.length * 2);
            for (int i = 0; i < names.length; i++) m.put(names[i], attr(row[i]));
            return m;
        }

        /** DynamoDB's item size: attribute names plus values (UTF-8 strings, numbers about 1 byte per 2 digits + 1). */
        static long size(Map<String, AttributeValue> item) {
            long n = 0;
            for (Map.Entry<String, AttributeValue> e : item.entrySet()) n += e.getKey().getBytes(StandardCharsets.UTF_8).length + size(e.getValue());
            return n;
        }

        static long size(AttributeValue v) {
            if (v.s() != null) return v.s().getBytes(StandardCharsets.UTF_8).length;
            if (v.n() != null) return v.n().replaceAll("[^0-9]", "").length() / 2 + 2;
            if (v.bool() != null || v.nul() != null) return 1;
            if (v.hasL()) {
                long n = 3;
                for (AttributeValue x : v.l()) n += 1 + size(x);
                return n;
            }
            if (v.hasM()) {
                long n = 3;
                for (Map.Entry<String, AttributeValue> e : v.m().entrySet()) n += 1 + e.getKey().getBytes(StandardCharsets.UTF_8).length + size(e.getValue());
                return n;
            }
            if (v.b() != null) return v.b().asByteArray().length;
            return 1;
        }

        @Override
        public String validate(List<Transfer.Column> meta, Object[] row) {
            if (names == null) names = meta.stream().map(Transfer.Column::name).toArray(String[]::new);
            for (String k : keyColumns()) {
                Object v = row[Transfer.indexOf(meta, k, "key")];
                if (v == null) return "key attribute " + k + " is null";
                if (v instanceof String s && s.isEmpty()) return "key attribute " + k + " is an empty string";
            }
            long size = size(item(row));
            if (size > MAX_ITEM_BYTES) return "item is " + size + " bytes, over DynamoDB's 400 KB item limit";
            return null;
        }

        // ---------------------------------------------------------- writing

        @Override
        public Transfer.Counts write(String job, String cursor, Transfer.Batch batch) throws Exception {
            List<WriteRequest> all = new ArrayList<>(batch.rows().size());
            for (Object[] r : batch.rows()) all.add(WriteRequest.builder().putRequest(PutRequest.builder().item(item(r)).build()).build());
            List<Future<?>> futures = new ArrayList<>();
            long deadline = System.nanoTime() + retryFor.toNanos();
            for (int i = 0; i < all.size(); i += 25) {
                List<WriteRequest> chunk = all.subList(i, Math.min(all.size(), i + 25));
                futures.add(pool.submit(() -> {
                    writeChunk(chunk, deadline);
                    return null;
                }));
            }
            Exception failure = null;
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    if (failure == null) failure = e.getCause() instanceof Exception x ? x : e;
                }
            }
            if (failure != null) throw failure;
            if (batch.watermark() != null) {
                Object w = batch.watermark();
                AttributeValue wv = w instanceof Number n ? AttributeValue.fromN(new BigDecimal(n.toString()).toPlainString()) : AttributeValue.fromS(CursorValues.text(w));
                retrying(deadline, () -> db.putItem(b -> b.tableName(stateTable).item(Map.of(
                        "job", AttributeValue.fromS(job + "@" + table), "watermark", wv, "cursor", AttributeValue.fromS(cursor),
                        "updated_at", AttributeValue.fromS(Instant.now().toString())))));
            }
            Transfer.Counts c = new Transfer.Counts();
            c.upserted = all.size();
            return c;
        }

        /** One BatchWriteItem of up to 25, until every item landed or the deadline passed. */
        void writeChunk(List<WriteRequest> chunk, long deadline) throws Exception {
            List<WriteRequest> todo = chunk;
            int attempt = 0;
            while (!todo.isEmpty()) {
                final List<WriteRequest> send = todo;
                BatchWriteItemResponse r;
                try {
                    r = db.batchWriteItem(b -> b.requestItems(Map.of(table, send)));
                } catch (ProvisionedThroughputExceededException | RequestLimitExceededException e) {
                    throttled.incrementAndGet();
                    backoff(++attempt, deadline, e);
                    continue;
                } catch (DynamoDbException e) {
                    if (!retryable(e)) throw new Cli.Failure("DynamoDB refused a batch for " + table + ": " + e.awsErrorDetails().errorMessage(), e);
                    backoff(++attempt, deadline, e);
                    continue;
                } catch (SdkClientException e) {
                    backoff(++attempt, deadline, e);
                    continue;
                }
                List<WriteRequest> left = r.hasUnprocessedItems() ? r.unprocessedItems().getOrDefault(table, List.of()) : List.of();
                if (!left.isEmpty()) {
                    unprocessed.addAndGet(left.size());
                    backoff(++attempt, deadline, null);
                } else {
                    attempt = 0;
                }
                todo = left;
            }
        }

        static boolean retryable(DynamoDbException e) {
            String code = e.awsErrorDetails() == null ? "" : String.valueOf(e.awsErrorDetails().errorCode());
            return e.statusCode() >= 500 || code.contains("Throttling") || code.contains("ThroughputExceeded") || code.contains("LimitExceeded");
        }

        private void backoff(int attempt, long deadline, Exception cause) throws Exception {
            retries.incrementAndGet();
            if (System.nanoTime() > deadline) {
                String why = cause == null ? "items stayed unprocessed" : cause.getClass().getSimpleName() + ": " + cause.getMessage();
                throw new Cli.Failure("DynamoDB kept refusing writes to " + table + " for longer than --retry-for (" + why + ")");
            }
            long cap = Math.min(5000, 25L << Math.min(attempt, 10));
            Thread.sleep(ThreadLocalRandom.current().nextLong(cap / 2, cap + 1));
        }

        private void retrying(long deadline, Runnable r) throws Exception {
            int attempt = 0;
            while (true) {
                try {
                    r.run();
                    return;
                } catch (ProvisionedThroughputExceededException | SdkClientException e) {
                    backoff(++attempt, deadline, e);
                } catch (DynamoDbException e) {
                    if (!retryable(e)) throw e;
                    backoff(++attempt, deadline, e);
                }
            }
        }

        @Override
        public void close() {
            pool.shutdownNow();
            if ((retries.get() > 0) && err != null) {
                err.println("tb-to-dynamodb: " + retries.get() + " retries (" + throttled.get() + " throttled requests, "
                        + unprocessed.get() + " unprocessed items sent again)");
            }
            db.close();
        }
    }
}
