import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The API Endpoint reader, the Data Sources API (file import) and the Query API against the emulator. */
class TinybirdReaderTest {
    TinybirdEmulator emu;
    Tinybird.Client client;

    @BeforeEach
    void start() {
        emu = TinybirdEmulator.start(0);
        client = new Tinybird.Client(emu.url(), emu.adminToken());
        // a pipe that answers its parameters back, one row per value
        emu.registerPipe("echo", p -> {
            List<Object[]> rows = new ArrayList<>();
            p.values.forEach((k, vs) -> vs.forEach(v -> rows.add(new Object[] {k, v})));
            return TinybirdEmulator.PipeResult.of(List.of("key String", "value String"), rows.iterator());
        });
    }

    @AfterEach
    void stop() {
        client.close();
        emu.close();
    }

    @Test
    void reportsWithParamsMetaRowsAndStatistics() {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("city", "denver");
        params.put("start_time", LocalDateTime.of(2023, 6, 1, 0, 0));
        params.put("end_time", "2023-06-03 00:00:00");
        params.put("max_results", 5);
        try (Tinybird.Rows rows = client.read("reports", params)) {
            assertEquals(10, rows.meta().size());
            assertEquals(new Tinybird.Column("timestamp", "DateTime"), rows.meta().get(7));
            assertEquals(new Tinybird.Column("temp_f", "Float32"), rows.meta().get(6));
            List<ObjectNode> got = new ArrayList<>();
            while (rows.hasNext()) got.add(rows.next());
            assertEquals(5, got.size());
            assertEquals("2023-06-03 00:00:00", got.get(0).get("timestamp").asText(), "newest first");
            assertEquals("Denver", got.get(0).get("site_name").asText());
            assertEquals(12L, rows.rowsBeforeLimitAtLeast(), "the cap hides 7 rows; the reader tells");
            assertEquals(5L, rows.rowsField());
            assertTrue(rows.statistics().has("elapsed"));
        }
        Tinybird.PipeResult cities = client.readAll("api_cities", Map.of());
        assertEquals(174, cities.data().size());
        assertNull(cities.rowsBeforeLimitAtLeast());
        assertEquals(174, client.readAll("current_conditions", Map.of()).data().size());
        assertEquals(100, client.readAll("most_recent", Map.of()).data().size());
    }

    @Test
    void ndjsonFormat() {
        try (Tinybird.Rows rows = client.read("reports", Map.of("city", "Boston", "max_results", 3), "ndjson")) {
            int n = 0;
            while (rows.hasNext()) {
                assertEquals("Boston", rows.next().get("site_name").asText());
                n++;
            }
            assertEquals(3, n);
            assertEquals(List.of(), rows.meta());
        }
    }

    @Test
    void arraysRepeatTheKeyAndLongQueriesUsePost() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("k", List.of("a", "b", "c d&e"));
        p.put("n", 1);
        List<ObjectNode> rows = client.readAll("echo", p).data();
        assertEquals(List.of("k=a", "k=b", "k=c d&e", "n=1"), rows.stream().map(r -> r.get("key").asText() + "=" + r.get("value").asText()).toList());
        // past 8 KB of query string a GET would meet nginx's 414: the reader switches to POST
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 1500; i++) many.add("city_" + i);
        rows = client.readAll("echo", Map.of("city", many)).data();
        assertEquals(1500, rows.size());
        assertEquals("city_1499", rows.get(1499).get("value").asText());
    }

    @Test
    void errorsCarryTheServersText() {
        Tinybird.ApiException e = assertThrows(Tinybird.ApiException.class, () -> client.readAll("nope", Map.of()));
        assertEquals(404, e.status);
        assertEquals("The pipe 'nope' does not exist", e.serverText);
        assertTrue(e.getMessage().contains("GET /v0/pipes/nope.json") && e.getMessage().contains(emu.url()), e.getMessage());
        e = assertThrows(Tinybird.ApiException.class, () -> client.readAll("reports", Map.of("max_results", "lots")));
        assertEquals(400, e.status);
        assertTrue(e.serverText.contains("max_results"), e.serverText);
        String reader = emu.addToken("reader", "PIPES:READ:api_cities");
        try (Tinybird.Client c = new Tinybird.Client(emu.url(), reader)) {
            assertEquals(174, c.readAll("api_cities", Map.of()).data().size());
            e = assertThrows(Tinybird.ApiException.class, () -> c.readAll("reports", Map.of()));
            assertEquals(403, e.status);
            assertTrue(e.getMessage().contains("PIPES:READ:reports"), e.getMessage());
            assertFalse(e.getMessage().contains(reader));
        }
    }

    /** A pipe of n generated rows, produced lazily by the emulator. */
    static TinybirdEmulator.Pipe bigPipe(long n) {
        return p -> TinybirdEmulator.PipeResult.of(List.of("id UInt64", "city String", "ts DateTime", "v Float64"), new Iterator<>() {
            long i = 0;
            final LocalDateTime t0 = LocalDateTime.of(2024, 1, 1, 0, 0);

            public boolean hasNext() {
                return i < n;
            }

            public Object[] next() {
                if (i >= n) throw new NoSuchElementException();
                long k = i++;
                return new Object[] {k, "city_" + (k % 174), t0.plusSeconds(k), k * 0.5};
            }
        });
    }

    /** Reads a pipe in a JVM of its own: prints rows, the sum of ids and the heap limit. */
    public static final class SmallHeapReader {
        public static void main(String[] args) {
            long n = 0, sum = 0;
            try (Tinybird.Client c = new Tinybird.Client(args[0], args[1]);
                 Tinybird.Rows rows = c.read(args[2], Map.of())) {
                while (rows.hasNext()) {
                    sum += rows.next().get("id").asLong();
                    n++;
                }
                System.out.println(n + " " + sum + " " + Runtime.getRuntime().maxMemory() + " " + rows.rowsField());
            }
        }
    }

    @Test
    void streamsAMillionRowsWithA64MegabyteHeap() throws Exception {
        long n = 1_000_000;
        emu.registerPipe("million", bigPipe(n));
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = List.of(java, "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                SmallHeapReader.class.getName(), emu.url(), emu.adminToken(), "million");
        TestServices.Run r = TestServices.run(Path.of("."), Duration.ofMinutes(3), cmd);
        assertEquals(0, r.exitCode(), r.stderr());
        String[] out = r.stdout().strip().split(" ");
        assertEquals(Long.toString(n), out[0], r.stdout());
        assertEquals(Long.toString(n * (n - 1) / 2), out[1]);
        assertTrue(Long.parseLong(out[2]) <= 64L * 1024 * 1024, "heap limit " + out[2]);
        assertEquals(Long.toString(n), out[3]);
        // the answer is far bigger than the heap
        assertTrue(emu.stats().requests() >= 1);
    }

    @Test
    void importFilesCreateAppendReplace(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path nd = dir.resolve("w.ndjson");
        Files.writeString(nd, "{\"id\":1,\"city\":\"Denver\",\"ts\":\"2024-01-01 00:00:00\"}\n{\"id\":2,\"city\":\"Boston\",\"ts\":\"2024-01-01 01:00:00\"}\n");
        Tinybird.ImportResult r = client.importFile("create", "w", nd,
                "`id` Int32 `json:$.id`, `city` String `json:$.city`, `ts` DateTime `json:$.ts`");
        assertNull(r.error());
        assertEquals("w", r.datasource());
        assertEquals(0, r.quarantineRows());
        assertNotNull(r.importId());
        assertEquals(2, emu.rowCount("w"));
        // the NDJSON data source takes Events API rows too
        try (Tinybird.Writer w = client.writer("w")) {
            w.append(Map.of("id", 3, "city", "Austin", "ts", "2024-01-01 02:00:00"));
            w.close();
            assertEquals(1, w.stats().acknowledged());
        }
        Path nd2 = dir.resolve("more.jsonl");
        Files.writeString(nd2, "{\"id\":4,\"city\":\"Miami\",\"ts\":\"2024-01-01 03:00:00\"}\n{\"id\":\"x\",\"city\":\"Bad\",\"ts\":\"2024-01-01 03:00:00\"}\n{broken\n");
        r = client.importFile("append", "w", nd2, null);
        assertEquals(1, r.quarantineRows());
        assertEquals(1, r.invalidLines());
        assertNotNull(r.error(), "partial failure: error is a message");
        assertEquals(4, emu.rowCount("w"));
        Tinybird.PipeResult q = client.sql("select id, city from w where city = 'Miami'");
        assertEquals(4, q.data().get(0).get("id").asInt());
        assertEquals(4, client.sql("select count() from w").data().get(0).get("count()").asInt());

        Path csv = dir.resolve("c.csv");
        Files.writeString(csv, "site_name,temp_f,timestamp\nDenver,50.5,2024-01-01 00:00:00\n\"Salt Lake City, UT\",40,2024-01-01 00:00:00\n");
        r = client.importFile("create", "c", csv, null);
        assertNull(r.error());
        assertEquals(List.of("site_name String", "temp_f Float64", "timestamp DateTime"), emu.schema("c"));
        assertEquals("Salt Lake City, UT", emu.rows("c").get(1).get("site_name").asText());
        Files.writeString(csv, "Austin,70,2024-01-02 00:00:00\nBoston,cold,2024-01-02 00:00:00\nonly,two\n");
        r = client.importFile("append", "c", csv, null);
        assertEquals(1, r.quarantineRows());
        assertEquals(1, r.invalidLines());
        assertEquals(3, emu.rowCount("c"));
        r = client.importFile("replace", "c", csv, null);
        assertEquals(1, emu.rowCount("c"));
        // a CSV data source has no jsonpaths: the Events API refuses it
        try (Tinybird.Writer w = client.writer("c")) {
            w.append(Map.of("site_name", "x", "temp_f", 1, "timestamp", "2024-01-01 00:00:00"));
            w.close();
            assertTrue(w.stats().firstError().contains("Data Source must be of type JSON"));
        }
        Tinybird.ApiException e = assertThrows(Tinybird.ApiException.class, () -> client.importFile("append", "missing", csv, null));
        assertEquals(404, e.status);
        String appendOnly = emu.addToken("a", "DATASOURCES:APPEND:c");
        try (Tinybird.Client c = new Tinybird.Client(emu.url(), appendOnly)) {
            e = assertThrows(Tinybird.ApiException.class, () -> c.importFile("create", "new_ds", csv, null));
            assertEquals(403, e.status);
            assertTrue(e.getMessage().contains("DATASOURCES:CREATE"), e.getMessage());
        }
    }

    @Test
    void dataSourcesApiRulesOnRawBodies() throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        byte[] small = "a,b\n1,2\n".getBytes();
        // a full body without Content-Length (chunked): 411
        var r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(emu.url() + "/v0/datasources?mode=create&name=raw&format=csv"))
                .header("Authorization", "Bearer " + emu.adminToken())
                .POST(java.net.http.HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(small))).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(411, r.statusCode(), r.body());
        // a full body with Content-Length: accepted up to 8 MB
        r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(emu.url() + "/v0/datasources?mode=create&name=raw&format=csv"))
                .header("Authorization", "Bearer " + emu.adminToken()).POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(small)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, Json.MAPPER.readTree(r.body()).get("datasource").size() > 0 ? emu.rowCount("raw") : -1);
        byte[] big = new byte[8_000_001];
        java.util.Arrays.fill(big, (byte) 'x');
        r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(emu.url() + "/v0/datasources?mode=append&name=raw&format=csv"))
                .header("Authorization", "Bearer " + emu.adminToken()).POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(big)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(413, r.statusCode());
        assertTrue(Json.MAPPER.readTree(r.body()).get("error").asText().contains("multipart"));
    }
}
