import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** --schema end to end: the schema creates a Tinybird data source (in the emulator) that takes every converted row. */
class CsvToNdjsonTinybirdTest {
    @TempDir Path dir;

    @Test
    void schemaCreatesADataSourceThatTakesTheNdjsonWithNothingQuarantined() throws Exception {
        StringBuilder csv = new StringBuilder("id,event_time,logged_at,day,price,qty,in_stock,city,session_id,note\n");
        int n = 500;
        for (int i = 0; i < n; i++) {
            csv.append(1_000_000_000L + i).append(',')
                    .append(String.format("2024-01-%02dT10:%02d:%02d.%03dZ", 1 + i % 28, i % 60, (i * 7) % 60, i % 1000)).append(',')
                    .append(String.format("2024-02-%02d 08:%02d:00", 1 + i % 28, i % 60)).append(',')
                    .append(String.format("2023-12-%02d", 1 + i % 31)).append(',')
                    .append(i % 10 == 0 ? "" : (i * 1.25) + "").append(',')
                    .append(i % 3 == 0 ? "" : String.valueOf(i % 17)).append(',')
                    .append(i % 2 == 0 ? "TRUE" : "false").append(',')
                    .append(i % 4 == 0 ? "\"São Paulo, BR\"" : "Zürich").append(',')
                    .append(i % 50 == 0 ? "6164739959125e55" : String.format("%016x", i * 2654435761L)).append(',')
                    .append(i % 25 == 0 ? "\"multi\nline, \"\"quoted\"\"\"" : "").append('\n');
        }
        Path in = dir.resolve("events.csv");
        Files.writeString(in, csv);
        Path out = dir.resolve("events.ndjson"), schemaFile = dir.resolve("events.schema");
        StringWriter err = new StringWriter();
        int rc = new CommandLine(new CsvToNdjson()).setErr(new PrintWriter(err))
                .execute(in.toString(), "-o", out.toString(), "--schema", schemaFile.toString());
        assertEquals(0, rc, err.toString());
        String schema = Files.readString(schemaFile);
        assertEquals("""
                `id` Int64 `json:$.id`,
                `event_time` DateTime64(3) `json:$.event_time`,
                `logged_at` DateTime `json:$.logged_at`,
                `day` Date `json:$.day`,
                `price` Nullable(Float64) `json:$.price`,
                `qty` Nullable(Int64) `json:$.qty`,
                `in_stock` Bool `json:$.in_stock`,
                `city` String `json:$.city`,
                `session_id` String `json:$.session_id`,
                `note` Nullable(String) `json:$.note`
                """, schema);

        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            HttpClient http = HttpClient.newHttpClient();
            String q = "mode=create&name=events&format=ndjson&schema=" + URLEncoder.encode(schema, StandardCharsets.UTF_8);
            HttpResponse<String> create = http.send(HttpRequest.newBuilder(URI.create(emu.url() + "/v0/datasources?" + q))
                    .header("Authorization", "Bearer " + emu.adminToken())
                    .POST(HttpRequest.BodyPublishers.ofFile(out)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, create.statusCode(), create.body());
            JsonNode body = Json.MAPPER.readTree(create.body());
            assertEquals(0, body.path("quarantine_rows").asLong(-1), create.body());
            assertEquals(0, body.path("invalid_lines").asLong(-1), create.body());
            assertFalse(body.path("error").asBoolean(true), create.body());

            // and appending more of the same goes in whole too
            HttpResponse<String> append = http.send(HttpRequest.newBuilder(URI.create(emu.url() + "/v0/datasources?mode=append&name=events&format=ndjson"))
                    .header("Authorization", "Bearer " + emu.adminToken())
                    .POST(HttpRequest.BodyPublishers.ofFile(out)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, append.statusCode(), append.body());
            assertEquals(0, Json.MAPPER.readTree(append.body()).path("quarantine_rows").asLong(-1), append.body());

            List<ObjectNode> rows = emu.rows("events");
            assertEquals(2 * n, rows.size());
            assertEquals(0, emu.rowCount("events_quarantine"));
            ObjectNode first = rows.get(0);
            assertEquals(1_000_000_000L, first.get("id").asLong());
            assertEquals("São Paulo, BR", first.get("city").asText());
            assertEquals("6164739959125e55", first.get("session_id").asText());
            assertTrue(first.get("price").isNull());
            assertEquals("multi\nline, \"quoted\"", first.get("note").asText());
            assertTrue(first.get("in_stock").booleanValue());
            assertEquals("2024-01-01 10:00:00.000", first.get("event_time").asText(), "as the engine stores it (UTC), as Tinybird answers it");
        }
    }
}
