import static org.junit.jupiter.api.Assertions.*;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The emulator on its real engine: safe parameters, real SQL and its formats, readonly, isolation, --data, memory. */
class TinybirdEngineTest {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final String INJECTION = "x'); drop table t; --";

    static HttpResponse<String> get(TinybirdEmulator emu, String pathAndQuery) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).header("Authorization", "Bearer " + emu.adminToken())
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(TinybirdEmulator emu, String pathAndQuery, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).header("Authorization", "Bearer " + emu.adminToken())
                .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    static JsonNode sql(TinybirdEmulator emu, String q) throws Exception {
        HttpResponse<String> r = get(emu, "/v0/sql?q=" + enc(q));
        assertEquals(200, r.statusCode(), r.body());
        return Json.MAPPER.readTree(r.body());
    }

    /** Parameter values reach SQL as checked literals: quotes, backslashes and SQL in a value are only text. */
    @Test
    void parameterValuesAreLiteralsNeverSql() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            emu.createDataSource("t", "site_name String, n Int32");
            List<String> names = List.of("Coeur d'Alene", INJECTION, "back\\slash' OR 1=1 --", "plain");
            List<JsonNode> rows = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) rows.add(Json.MAPPER.createObjectNode().put("site_name", names.get(i)).put("n", i));
            emu.append("t", rows);
            emu.addPipe("by_city", "SELECT site_name, n FROM t WHERE site_name = {city:String} ORDER BY n");
            for (int i = 0; i < names.size(); i++) {
                HttpResponse<String> r = get(emu, "/v0/pipes/by_city.json?city=" + enc(names.get(i)));
                assertEquals(200, r.statusCode(), r.body());
                JsonNode data = Json.MAPPER.readTree(r.body()).path("data");
                assertEquals(1, data.size(), names.get(i) + ": " + r.body());
                assertEquals(names.get(i), data.get(0).path("site_name").asText());
                assertEquals(i, data.get(0).path("n").asInt());
            }
            assertEquals(4, emu.rowCount("t"), "the table is still there, whole");
            // the built-in pipes the same way: no rows for a city that is not one, and weather_data untouched
            HttpResponse<String> r = get(emu, "/v0/pipes/reports.json?city=" + enc("x'); drop table weather_data; --"));
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(0, Json.MAPPER.readTree(r.body()).path("rows").asInt());
            assertEquals(381_060, emu.rowCount("weather_data"));
            // a typed parameter that is not of its type is Tinybird's 400, never SQL
            r = get(emu, "/v0/pipes/reports.json?max_results=" + enc("1; drop table t"));
            assertEquals(400, r.statusCode());
            assertTrue(r.body().contains("Error validating '1; drop table t' to type Int32 for parameter 'max_results'"), r.body());
            r = get(emu, "/v0/pipes/reports.json?start_time=" + enc("2023-06-01' OR '1'='1"));
            assertEquals(400, r.statusCode(), r.body());
            // q= over the pipe's result
            r = get(emu, "/v0/pipes/by_city.json?city=plain&q=" + enc("select count() as c, max(n) as m from _"));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode d = Json.MAPPER.readTree(r.body()).path("data").get(0);
            assertEquals(1, d.path("c").asInt());
            assertEquals(3, d.path("m").asInt());
        }
    }

    /** /v0/sql runs real SELECTs (GROUP BY, functions) in Tinybird's formats and refuses anything that writes. */
    @Test
    void sqlRunsRealSelectsInEachFormatAndRefusesWrites() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            JsonNode j = sql(emu, "SELECT site_name, round(avg(temp_f), 1) AS avg_f, count() AS n FROM weather_data "
                    + "WHERE site_name IN ('Boston', 'Denver') GROUP BY site_name ORDER BY site_name LIMIT 1");
            assertEquals("site_name", j.path("meta").get(0).path("name").asText());
            assertEquals("UInt64", j.path("meta").get(2).path("type").asText());
            assertEquals(1, j.path("rows").asInt());
            assertEquals(2, j.path("rows_before_limit_at_least").asInt());
            assertEquals("Boston", j.path("data").get(0).path("site_name").asText());
            assertEquals(2190, j.path("data").get(0).path("n").asInt(), "365 days of reports every 4 hours");
            assertTrue(j.path("statistics").path("rows_read").asLong() > 0, j.toString());
            assertFalse(sql(emu, "SELECT 1 AS one").has("rows_before_limit_at_least"), "only with a LIMIT");
            String q = "SELECT site_name, toDate(timestamp) AS d FROM weather_data WHERE site_name = 'Boston' ORDER BY timestamp LIMIT 2";
            assertEquals("\"Boston\",\"2023-05-01\"\n\"Boston\",\"2023-05-01\"\n", get(emu, "/v0/sql?q=" + enc(q + " FORMAT CSV")).body());
            assertEquals("\"site_name\",\"d\"\n\"Boston\",\"2023-05-01\"\n\"Boston\",\"2023-05-01\"\n",
                    get(emu, "/v0/sql?q=" + enc(q + " FORMAT CSVWithNames")).body());
            String nd = "{\"site_name\":\"Boston\",\"d\":\"2023-05-01\"}\n{\"site_name\":\"Boston\",\"d\":\"2023-05-01\"}\n";
            assertEquals(nd, get(emu, "/v0/sql?q=" + enc(q + " FORMAT JSONEachRow")).body());
            assertEquals(nd, post(emu, "/v0/sql", q + " FORMAT NDJSON").body(), "NDJSON is JSONEachRow; POST with the query as the body");
            // writes and DDL: refused (ClickHouse readonly), nothing changed
            emu.createDataSource("w", "id Int64");
            for (String write : List.of("INSERT INTO w VALUES (1)", "DROP TABLE w", "TRUNCATE TABLE w", "CREATE TABLE x (a Int8) ENGINE = Memory",
                    "SELECT 1 SETTINGS readonly = 0", "ALTER TABLE w DELETE WHERE 1")) {
                HttpResponse<String> r = get(emu, "/v0/sql?q=" + enc(write));
                assertTrue(r.statusCode() == 403 || r.statusCode() == 400, write + ": " + r.statusCode() + " " + r.body());
                assertTrue(Json.MAPPER.readTree(r.body()).path("error").asText().contains("readonly"), write + ": " + r.body());
            }
            assertTrue(emu.hasDataSource("w"));
            assertEquals(0, emu.rowCount("w"));
            assertEquals(1, sql(emu, "EXISTS TABLE w").path("data").get(0).elements().next().asInt());
            // a data source that is not there: 404 naming it; bad SQL: 400 with ClickHouse's reason
            HttpResponse<String> r = get(emu, "/v0/sql?q=" + enc("SELECT * FROM nowhere"));
            assertEquals(404, r.statusCode());
            assertTrue(r.body().contains("Resource 'nowhere' not found"), r.body());
            r = get(emu, "/v0/sql?q=" + enc("SELEC 1"));
            assertEquals(400, r.statusCode());
            assertTrue(r.body().contains("Syntax error"), r.body());
        }
    }

    /** Data Sources API: a sorting key becomes the table's ORDER BY; truncate empties the table and keeps it. */
    @Test
    void sortingKeyAndTruncate() throws Exception {
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).weather(false).start()) {
            String schema = enc("`id` Int64 `json:$.id`, `city` String `json:$.city`");
            HttpResponse<String> r = post(emu, "/v0/datasources?mode=create&name=sorted&format=ndjson&engine_sorting_key=" + enc("city, id")
                    + "&schema=" + schema, "{\"id\":2,\"city\":\"b\"}\n{\"id\":1,\"city\":\"a\"}\n");
            assertEquals(200, r.statusCode(), r.body());
            String ddl = sql(emu, "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'sorted'")
                    .path("data").get(0).path("sorting_key").asText();
            assertEquals("city, id", ddl);
            assertEquals(List.of(1, 2), emu.rows("sorted").stream().map(n -> n.get("id").asInt()).toList(), "one insert's rows in key order");
            r = post(emu, "/v0/datasources/sorted/truncate", "");
            assertEquals(205, r.statusCode(), r.body());
            assertEquals(0, emu.rowCount("sorted"));
            assertTrue(emu.hasDataSource("sorted"));
            assertEquals(202, post(emu, "/v0/events?name=sorted", "{\"id\":3,\"city\":\"c\"}\n").statusCode());
            assertEquals(1, emu.rowCount("sorted"));
        }
    }

    /** Two emulators in one JVM share the engine, not their data: each is a database of its own, dropped on close. */
    @Test
    void twoEmulatorsWithTheSameDataSourceNameDoNotSeeEachOther() throws Exception {
        String dbA;
        try (TinybirdEmulator a = new TinybirdEmulator().port(0).weather(false).project(null).start();
             TinybirdEmulator b = new TinybirdEmulator().port(0).weather(false).project(null).start()) {
            dbA = a.tables.db;
            assertNotEquals(dbA, b.tables.db);
            for (TinybirdEmulator e : List.of(a, b)) e.createDataSource("events", "id Int64 `json:$.id`");
            assertEquals(202, post(a, "/v0/events?name=events", "{\"id\":1}\n{\"id\":2}\n").statusCode());
            assertEquals(202, post(b, "/v0/events?name=events", "{\"id\":10}\n").statusCode());
            assertEquals(List.of(1, 2), a.rows("events").stream().map(n -> n.get("id").asInt()).toList());
            assertEquals(List.of(10), b.rows("events").stream().map(n -> n.get("id").asInt()).toList());
            assertEquals(3, sql(a, "SELECT sum(id) AS s FROM events").path("data").get(0).path("s").asInt());
            assertEquals(10, sql(b, "SELECT sum(id) AS s FROM events").path("data").get(0).path("s").asInt());
            a.close();
            assertEquals(1, b.rowCount("events"), "closing one leaves the other's data");
            assertFalse(b.hasDataSource("weather_data"));
        }
        try (TinybirdEmulator c = new TinybirdEmulator().port(0).weather(false).start()) {
            assertFalse(c.hasDataSource("events"));
            assertEquals(0, sql(c, "SELECT count() AS n FROM system.databases WHERE name = '" + dbA + "'").path("data").get(0).path("n").asInt(),
                    "a closed emulator's database is gone");
        }
    }

    /** --data DIR: an on-disk engine; data sources, their schema and rows are there again after a restart. */
    @Test
    void dataIsKeptAcrossARestartWithData(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("tb");
        for (int round = 1; round <= 2; round++) {
            Process p = new ProcessBuilder(TestServices.repoRoot().resolve("jbang").toString(), "tinybird/tinybird-emulator.java",
                    "--port", "0", "--admin-token", "admin-t", "--no-weather", "--data", data.toString())
                    .directory(TestServices.repoRoot().toFile()).redirectErrorStream(true).start();
            try {
                java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                String url = null;
                StringBuilder seen = new StringBuilder();
                for (String line; url == null && (line = out.readLine()) != null; ) {
                    seen.append(line).append('\n');
                    java.util.regex.Matcher m = java.util.regex.Pattern.compile("listening on (http://\\S+)").matcher(line);
                    if (m.find()) url = m.group(1);
                }
                assertNotNull(url, seen.toString());
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + "/v0/events?name=kept&wait=true")).header("Authorization", "Bearer admin-t");
                HttpResponse<String> r = HTTP.send(b.POST(HttpRequest.BodyPublishers.ofString("{\"id\":" + round + ",\"at\":\"2024-01-01 00:00:0" + round + "\"}\n")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
                r = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/v0/sql?q=" + enc("SELECT id, at FROM kept ORDER BY id FORMAT CSV")))
                        .header("Authorization", "Bearer admin-t").GET().build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(round == 1 ? "1,\"2024-01-01 00:00:01\"\n" : "1,\"2024-01-01 00:00:01\"\n2,\"2024-01-01 00:00:02\"\n", r.body(),
                        "round " + round);
            } finally {
                p.destroy(); // SIGTERM: the shutdown hook stops the server; the data stays in DIR
                assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            }
        }
    }

    /** Rows live in the engine: ingesting them leaves the JVM heap as it was, and count() reads no row into Java. */
    @Test
    void manyRowsAreStoredAndCountedOffTheHeap() throws Exception {
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).weather(false).start()) {
            emu.createDataSource("big", "id Int64 `json:$.id`, city String `json:$.city`, payload String `json:$.payload`");
            StringBuilder sb = new StringBuilder();
            String pad = "x".repeat(200);
            long before = usedHeapAfterGc(), sent = 0;
            int perRequest = 20_000, requests = 15;
            for (int k = 0; k < requests; k++) {
                sb.setLength(0);
                for (int i = 0; i < perRequest; i++) {
                    sb.append("{\"id\":").append((long) k * perRequest + i).append(",\"city\":\"c").append(i % 50).append("\",\"payload\":\"").append(pad).append("\"}\n");
                }
                sent += sb.length();
                HttpResponse<String> r = post(emu, "/v0/events?name=big&wait=true", sb.toString());
                assertEquals(200, r.statusCode(), r.body());
            }
            sb = null;
            long grown = usedHeapAfterGc() - before;
            assertTrue(grown < sent / 4, "the heap grew by " + grown + " bytes for " + sent + " bytes of rows sent");
            assertEquals((long) perRequest * requests, emu.rowCount("big"));
            assertEquals((long) perRequest * requests, sql(emu, "SELECT count() AS n FROM big").path("data").get(0).path("n").asLong());
        }
    }

    static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
