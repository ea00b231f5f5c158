import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.ScanRequest;

/** The DynamoDB target against dynalite, directly and through a proxy that throttles and leaves items unprocessed. */
class TbToDynamodbTest {

    /**
     * A proxy in front of dynalite: for a share of BatchWriteItem requests it answers ProvisionedThroughputExceededException,
     * or forwards only the first half of the items and returns the rest as UnprocessedItems.
     */
    static final class FaultProxy implements AutoCloseable {
        final HttpServer server;
        final AtomicInteger throttled = new AtomicInteger(), partial = new AtomicInteger(), forwarded = new AtomicInteger();
        final Random random = new Random(42);
        final double throttleShare, partialShare;
        final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

        FaultProxy(String upstream, double throttleShare, double partialShare) throws Exception {
            this.throttleShare = throttleShare;
            this.partialShare = partialShare;
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            server.setExecutor(Executors.newFixedThreadPool(16));
            server.createContext("/", ex -> {
                try (InputStream in = ex.getRequestBody()) {
                    byte[] body = in.readAllBytes();
                    String target = ex.getRequestHeaders().getFirst("X-Amz-Target");
                    double roll;
                    synchronized (random) {
                        roll = random.nextDouble();
                    }
                    ObjectNode unprocessed = null;
                    if (target != null && target.endsWith("BatchWriteItem")) {
                        if (roll < throttleShare) {
                            throttled.incrementAndGet();
                            reply(ex, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\","
                                    + "\"message\":\"The level of configured provisioned throughput for the table was exceeded.\"}");
                            return;
                        }
                        if (roll < throttleShare + partialShare) {
                            ObjectNode req = (ObjectNode) Json.MAPPER.readTree(body);
                            ObjectNode items = (ObjectNode) req.get("RequestItems");
                            String table = items.fieldNames().next();
                            ArrayNode all = (ArrayNode) items.get(table);
                            if (all.size() > 1) {
                                partial.incrementAndGet();
                                ArrayNode keep = Json.MAPPER.createArrayNode(), rest = Json.MAPPER.createArrayNode();
                                for (int i = 0; i < all.size(); i++) (i < all.size() / 2 ? keep : rest).add(all.get(i));
                                items.set(table, keep);
                                body = Json.MAPPER.writeValueAsBytes(req);
                                unprocessed = Json.MAPPER.createObjectNode();
                                unprocessed.set(table, rest);
                            }
                        }
                    }
                    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(upstream + ex.getRequestURI()))
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
                    for (var h : ex.getRequestHeaders().entrySet()) {
                        String k = h.getKey().toLowerCase();
                        if (k.equals("host") || k.equals("content-length") || k.equals("connection") || k.equals("expect")) continue;
                        for (String v : h.getValue()) b.header(h.getKey(), v);
                    }
                    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                    forwarded.incrementAndGet();
                    String out = r.body();
                    if (unprocessed != null && r.statusCode() == 200) {
                        ObjectNode resp = (ObjectNode) Json.MAPPER.readTree(out);
                        resp.set("UnprocessedItems", unprocessed);
                        out = Json.MAPPER.writeValueAsString(resp);
                    }
                    reply(ex, r.statusCode(), out);
                } catch (Exception e) {
                    reply(ex, 500, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"proxy: " + e + "\"}");
                }
            });
            server.start();
        }

        static void reply(com.sun.net.httpserver.HttpExchange ex, int status, String body) throws java.io.IOException {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/x-amz-json-1.0");
            ex.sendResponseHeaders(status, b.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(b);
            }
        }

        String endpoint() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    static Map<String, Map<String, AttributeValue>> scanAll(DynamoDbClient db, String table) {
        Map<String, Map<String, AttributeValue>> out = new HashMap<>();
        Map<String, AttributeValue> start = null;
        do {
            var resp = db.scan(ScanRequest.builder().tableName(table).exclusiveStartKey(start).build());
            for (var item : resp.items()) {
                String k = item.get("site_name").s() + "|" + item.get("timestamp").s();
                assertNull(out.put(k, item), "duplicate " + k);
            }
            start = resp.hasLastEvaluatedKey() && !resp.lastEvaluatedKey().isEmpty() ? resp.lastEvaluatedKey() : null;
        } while (start != null);
        return out;
    }

    static TbToDynamodb.DynamoTarget target(String endpoint, String table, int writers) {
        DynamoDbClient db = Dynamo.client("us-east-1", endpoint, Config.of(Map.of(), Path.of("/nonexistent"), null), 32);
        return new TbToDynamodb.DynamoTarget(db, table, "site_name", "timestamp", table + "_transfer_state", writers,
                Duration.ofMinutes(2), new PrintWriter(new StringWriter()));
    }

    @Test
    void everyItemLandsThroughThrottlingAndUnprocessedItems() throws Exception {
        String endpoint = TestServices.dynamodbEndpoint();
        TransferEngineTest.PipeLike src = new TransferEngineTest.PipeLike(1000);
        TransferEngineTest.fill(src, 700, 3, 0); // 2100 rows, 3 pages past the cap
        String table = "w_" + System.nanoTime();
        try (FaultProxy proxy = new FaultProxy(endpoint, 0.2, 0.3)) {
            TbToDynamodb.DynamoTarget t = target(proxy.endpoint(), table, 4);
            Transfer.Totals tot = TransferEngineTest.run(TransferEngineTest.options("--once", "--until", "none"), src, t);
            t.close();
            assertEquals(2100, tot.counts.upserted);
            // DynamoDB can't tell inserts from updates: the summary says upserts, not "0 inserted, 0 updated"
            String line = TransferEngine.summary(tot, java.time.Duration.ofSeconds(1), false);
            assertTrue(line.startsWith("done: 2,100 rows read, 2,100 written (upserts), 0 skipped, 0 rejected in 1.00 s"), line);
            assertTrue(proxy.throttled.get() > 0 && proxy.partial.get() > 0, "faults were injected: " + proxy.throttled + " / " + proxy.partial);
        }
        try (DynamoDbClient db = TestServices.dynamodb()) {
            var items = scanAll(db, table);
            assertEquals(2100, items.size());
            var one = items.get("site 2|2024-01-01 00:12:00");
            assertEquals(0, new BigDecimal("12.2").compareTo(new BigDecimal(one.get("temp_f").n())), "exact number");
            assertEquals("it's \"fine\"\tok\\n", one.get("description").s());
            var state = db.getItem(b -> b.tableName(table + "_transfer_state").key(Map.of("job", AttributeValue.fromS("reports@" + table))));
            assertEquals("2024-01-01 11:39:00", state.item().get("watermark").s());
        }
        // resume from the state item: only the new rows are read
        TransferEngineTest.fill(src, 4, 3, 700);
        TbToDynamodb.DynamoTarget t2 = target(endpoint, table, 2);
        Transfer.Totals tot2 = TransferEngineTest.run(TransferEngineTest.options("--once", "--until", "none"), src, t2);
        t2.close();
        assertEquals(12, tot2.read);
        try (DynamoDbClient db = TestServices.dynamodb()) {
            assertEquals(2112, scanAll(db, table).size());
        }
    }

    @Test
    void nullsNestedValuesAndOversizedItemsFollowOnError(@TempDir Path dir) throws Exception {
        String endpoint = TestServices.dynamodbEndpoint();
        TransferEngineTest.PipeLike src = new TransferEngineTest.PipeLike(1000);
        TransferEngineTest.fill(src, 2, 2, 0);
        src.rows.add(new Object[] {"2024-01-01 00:00:30", "nulls", null, null});
        src.rows.add(new Object[] {"2024-01-01 00:00:40", "nested", new BigDecimal("12345678901234567890.123456789"),
                Json.MAPPER.readTree("{\"a\":[1,2.5,\"x\",null,{\"b\":true}]}")});
        src.rows.add(new Object[] {"2024-01-01 00:00:50", "huge", BigDecimal.ONE, "x".repeat(410_000)});
        String table = "n_" + System.nanoTime();
        TbToDynamodb.DynamoTarget t = target(endpoint, table, 2);
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> TransferEngineTest.run(TransferEngineTest.options("--once", "--until", "none"), src, t));
        assertTrue(f.getMessage().contains("over DynamoDB's 400 KB item limit"), f.getMessage());
        Path rejects = dir.resolve("r.ndjson");
        Transfer.Totals tot = TransferEngineTest.run(TransferEngineTest.options("--once", "--until", "none", "--on-error", "skip",
                "--reject-file", rejects.toString()), src, t);
        t.close();
        assertEquals(1, tot.counts.rejected);
        assertEquals(6, tot.counts.upserted);
        assertTrue(Files.readString(rejects).contains("\"site_name\":\"huge\""));
        try (DynamoDbClient db = TestServices.dynamodb()) {
            var items = scanAll(db, table);
            assertEquals(6, items.size());
            assertTrue(items.get("nulls|2024-01-01 00:00:30").get("temp_f").nul(), "null number -> NULL");
            var nested = items.get("nested|2024-01-01 00:00:40");
            assertEquals("12345678901234567890.123456789", nested.get("temp_f").n());
            var l = nested.get("description").m().get("a").l();
            assertEquals("2.5", l.get(1).n());
            assertEquals("x", l.get(2).s());
            assertTrue(l.get(3).nul());
            assertTrue(l.get(4).m().get("b").bool());
        }
    }

    @Test
    void fromTheEmulatorSurvivingSigkillAtRandomPoints(@TempDir Path dir) throws Exception {
        String endpoint = TestServices.dynamodbEndpoint();
        String table = "k_" + System.nanoTime();
        String since = TbTransferTest.SINCE, until = "2023-05-08 00:00:00";
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            TbTransferTest.flakyReports(emu, 0, 0, 40);
            Path log = dir.resolve("log.txt");
            List<String> args = List.of("--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--endpoint-url", endpoint,
                    "--table", table, "--since", since, "--until", until, "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--window", "1d");
            DynamoDbClient counter = TestServices.dynamodb();
            int landed = TbTransferTest.runWithKills("data-transfer/tb-to-dynamodb.java", "TbToDynamodb", log, args, 3, 3, () -> {
                try {
                    return counter.scan(b -> b.tableName(table).select(software.amazon.awssdk.services.dynamodb.model.Select.COUNT)).count();
                } catch (software.amazon.awssdk.services.dynamodb.model.ResourceNotFoundException notYet) {
                    return 0;
                }
            });
            counter.close();
            assertTrue(landed >= 2, "a kill hit a running transfer: " + Files.readString(log));
            assertFalse(Files.readString(log).contains("SLF4J"), "the AWS SDK's logging facade warned: " + Files.readString(log));
            TbTransferTest.unflaky(emu);
            Map<String, ObjectNode> source = TbTransferTest.sourceRows(emu, since, until);
            try (DynamoDbClient db = TestServices.dynamodb()) {
                var items = scanAll(db, table); // fails on a duplicate key
                assertEquals(source.size(), items.size());
                for (var e : source.entrySet()) {
                    String[] k = e.getKey().split("\\|");
                    var item = items.get(k[1] + "|" + k[0]);
                    assertNotNull(item, e.getKey());
                    assertEquals(0, e.getValue().get("temp_f").decimalValue().compareTo(new BigDecimal(item.get("temp_f").n())), e.getKey());
                    assertEquals(e.getValue().get("description").asText(), item.get("description").s());
                }
            }
        }
    }
}
