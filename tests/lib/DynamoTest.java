import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.*;

class DynamoTest {
    @Test
    void loopbackDetection() {
        assertTrue(Dynamo.isLoopback("localhost"));
        assertTrue(Dynamo.isLoopback("127.0.0.1"));
        assertTrue(Dynamo.isLoopback("[::1]"));
        assertFalse(Dynamo.isLoopback("dynamodb.us-east-1.amazonaws.invalid"));
    }

    @Test
    void badEndpointIsAUsageError() {
        Config cfg = Config.of(Map.of(), Path.of("/nonexistent"), null);
        assertThrows(Cli.Failure.class, () -> Dynamo.client("us-east-1", "not a url", cfg, 4));
    }

    @Test
    void createBatchWriteQueryRoundTrip() {
        String endpoint = TestServices.dynamodbEndpoint();
        Config cfg = Config.of(Map.of(), Path.of("/nonexistent"), null);
        try (DynamoDbClient db = Dynamo.client(null, endpoint, cfg, 8)) {
            String table = "roundtrip_" + System.nanoTime();
            db.createTable(CreateTableRequest.builder().tableName(table)
                    .attributeDefinitions(AttributeDefinition.builder().attributeName("site_name").attributeType(ScalarAttributeType.S).build(),
                            AttributeDefinition.builder().attributeName("timestamp").attributeType(ScalarAttributeType.S).build())
                    .keySchema(KeySchemaElement.builder().attributeName("site_name").keyType(KeyType.HASH).build(),
                            KeySchemaElement.builder().attributeName("timestamp").keyType(KeyType.RANGE).build())
                    .billingMode(BillingMode.PAY_PER_REQUEST).build());
            db.waiter().waitUntilTableExists(b -> b.tableName(table));
            List<WriteRequest> writes = new ArrayList<>();
            for (int i = 0; i < 25; i++) {
                Map<String, AttributeValue> item = new HashMap<>();
                item.put("site_name", AttributeValue.fromS(i % 2 == 0 ? "Denver" : "Coeur d'Alene"));
                item.put("timestamp", AttributeValue.fromS(String.format("2024-01-01 00:%02d:00", i)));
                item.put("temp_f", AttributeValue.fromN("12.345678901234567890"));
                item.put("precip", AttributeValue.fromNul(true));
                writes.add(WriteRequest.builder().putRequest(PutRequest.builder().item(item).build()).build());
            }
            BatchWriteItemResponse r = db.batchWriteItem(BatchWriteItemRequest.builder().requestItems(Map.of(table, writes)).build());
            assertTrue(r.unprocessedItems().isEmpty());
            QueryResponse q = db.query(QueryRequest.builder().tableName(table)
                    .keyConditionExpression("site_name = :s").expressionAttributeValues(Map.of(":s", AttributeValue.fromS("Denver"))).build());
            assertEquals(13, q.count());
            assertEquals(0, new java.math.BigDecimal("12.345678901234567890").compareTo(new java.math.BigDecimal(q.items().get(0).get("temp_f").n())),
                    "numbers stay exact");
            assertTrue(q.items().get(0).get("precip").nul());
        }
    }
}
