import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The emulator's own answers (status, body text, headers) checked against shared/reference/tinybird-api.md. */
class TinybirdEmulatorApiTest {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    TinybirdEmulator emu;

    @BeforeEach
    void start() {
        emu = TinybirdEmulator.start(0);
    }

    @AfterEach
    void stop() {
        emu.close();
    }

    HttpResponse<String> post(String pathAndQuery, String token, byte[] body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (token != null) b.header("Authorization", "Bearer " + token);
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String pathAndQuery, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).GET();
        if (token != null) b.header("Authorization", "Bearer " + token);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(b);
        }
        return bos.toByteArray();
    }

    /** Every Events API answer carries the three X-RateLimit-* integers; Retry-After only on 429. */
    static void assertRateHeaders(HttpResponse<?> r) {
        for (String h : List.of("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")) {
            String v = r.headers().firstValue(h).orElse(null);
            assertNotNull(v, h + " missing on " + r.statusCode());
            assertTrue(v.matches("\\d+"), h + " is not an integer: " + v);
        }
        assertEquals(r.statusCode() == 429, r.headers().firstValue("Retry-After").isPresent(), "Retry-After only on 429");
    }

    static void assertPlain(HttpResponse<String> r, int code, String body) {
        assertEquals(code, r.statusCode(), r.body());
        assertEquals(body, r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        assertRateHeaders(r);
    }

    @Test
    void waitTrueAnswers200AndOtherwise202WithTheCounts() throws Exception {
        HttpResponse<String> r = post("/v0/events?name=ev&wait=true", emu.adminToken(), bytes("{\"id\":1}\n{\"id\":2}\n"));
        assertEquals(200, r.statusCode());
        assertEquals("{\"successful_rows\":2,\"quarantined_rows\":0}", r.body());
        assertRateHeaders(r);
        r = post("/v0/events?name=ev", emu.adminToken(), bytes("{\"id\":3}"));
        assertEquals(202, r.statusCode());
        assertEquals("{\"successful_rows\":1,\"quarantined_rows\":0}", r.body());
        assertRateHeaders(r);
        r = post("/v0/events?name=ev&format=ndjson&wait=false", emu.adminToken(), bytes("{\"id\":4}\r\n\r\n{\"id\":5}"));
        assertEquals(202, r.statusCode());
        assertEquals(List.of(1, 2, 3, 4, 5), emu.rows("ev").stream().map(n -> n.get("id").asInt()).toList());
    }

    @Test
    void missingName400() throws Exception {
        assertPlain(post("/v0/events?wait=true", emu.adminToken(), bytes("{\"id\":1}")), 400, "Missing 'name' parameter\n");
    }

    @Test
    void dataSourceWithoutJsonpaths400() throws Exception {
        emu.createDataSource("from_csv", "id Int64, name String");
        assertPlain(post("/v0/events?name=from_csv", emu.adminToken(), bytes("{\"id\":1,\"name\":\"a\"}")), 400,
                "Data Source must be of type JSON\n");
        assertEquals(0, emu.rowCount("from_csv"));
    }

    @Test
    void tokens403() throws Exception {
        emu.createDataSource("ds", "`id` Int64 `json:$.id`");
        String other = emu.addToken("other", "DATASOURCES:APPEND:elsewhere");
        String append = emu.addToken("append", "DATASOURCES:APPEND:ds");
        assertPlain(post("/v0/events?name=ds", "p.not-a-token", bytes("{\"id\":1}")), 403, "Invalid token\n");
        assertPlain(post("/v0/events?name=ds", null, bytes("{\"id\":1}")), 403, "Invalid token\n");
        assertPlain(post("/v0/events?name=ds", other, bytes("{\"id\":1}")), 403, "Invalid token\n");
        assertPlain(post("/v0/events?name=missing", append, bytes("{\"id\":1}")), 403, "Invalid token for DS autocreation\n");
        assertFalse(emu.hasDataSource("missing"));
        assertEquals(200, post("/v0/events?name=ds&wait=true", append, bytes("{\"id\":1}")).statusCode());
        // ?token= is checked first
        assertEquals(200, post("/v0/events?name=ds&wait=true&token=" + append, "p.not-a-token", bytes("{\"id\":2}")).statusCode());
        assertPlain(post("/v0/events?name=ds&token=p.not-a-token", append, bytes("{\"id\":3}")), 403, "Invalid token\n");
        assertEquals(2, emu.rowCount("ds"));
    }

    @Test
    void autocreateFromTheFirstRowsWhenTheTokenMayCreate() throws Exception {
        String create = emu.addToken("create", "DATASOURCES:CREATE");
        HttpResponse<String> r = post("/v0/events?name=auto&wait=true", create,
                bytes("{\"id\":1,\"name\":\"a\",\"ts\":\"2024-09-06T14:53:25.123456\",\"price\":1.5,\"tags\":[\"x\"],\"u\":{\"v\":2}}\n"
                        + "{\"id\":2,\"name\":null,\"ts\":\"2024-09-06T14:53:26.000001\",\"price\":2,\"tags\":[],\"u\":{\"v\":3}}"));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(List.of("id Int64 `json:$.id`", "name Nullable(String) `json:$.name`", "ts DateTime64(6) `json:$.ts`",
                "price Float64 `json:$.price`", "tags Array(String) `json:$.tags`", "u_v Int64 `json:$.u.v`"), emu.schema("auto"));
        // the inferred schema then quarantines rows that don't fit
        r = post("/v0/events?name=auto&wait=true", create, bytes("{\"id\":\"x\",\"ts\":\"2024-01-01 00:00:00\",\"price\":1,\"tags\":[],\"u\":{\"v\":1}}"));
        assertEquals("{\"successful_rows\":0,\"quarantined_rows\":1}", r.body());
        try (TinybirdEmulator off = new TinybirdEmulator().port(0).autocreate(false).start()) {
            HttpResponse<String> r2 = HTTP.send(HttpRequest.newBuilder(URI.create(off.url() + "/v0/events?name=auto"))
                    .header("Authorization", "Bearer " + off.adminToken()).POST(HttpRequest.BodyPublishers.ofString("{\"id\":1}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertPlain(r2, 403, "Invalid token for DS autocreation\n");
        }
    }

    @Test
    void regionMismatch404NamesTheRightHost() throws Exception {
        String foreign = emu.addForeignRegionToken("us", "https://api.us-east.aws.tinybird.co", "ADMIN");
        HttpResponse<String> r = post("/v0/events?name=ds", foreign, bytes("{\"id\":1}"));
        assertEquals(404, r.statusCode());
        assertTrue(r.body().contains("https://api.us-east.aws.tinybird.co"), r.body());
        assertTrue(r.body().contains("region"), r.body());
        assertRateHeaders(r);
    }

    @Test
    void overTheRequestLimit413WithAndWithoutContentLength() throws Exception {
        emu.close();
        emu = new TinybirdEmulator().port(0).maxRequestBytes(1000).start();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100; i++) sb.append("{\"id\":").append(i).append(",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n");
        HttpResponse<String> r = post("/v0/events?name=big", emu.adminToken(), bytes(sb.toString()));
        assertEquals(413, r.statusCode());
        assertRateHeaders(r);
        // chunked: no Content-Length, the limit is counted while reading
        byte[] body = bytes(sb.toString());
        r = HTTP.send(HttpRequest.newBuilder(URI.create(emu.url() + "/v0/events?name=big")).header("Authorization", "Bearer " + emu.adminToken())
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(413, r.statusCode());
        assertEquals(0, emu.rowCount("big"));
        // the limit is on the wire: the same rows gzip-compressed fit
        r = post("/v0/events?name=big&wait=true", emu.adminToken(), gzip(body), "Content-Encoding", "gzip");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(100, emu.rowCount("big"));
    }

    @Test
    void gzipByHeaderOrByMagicBytes() throws Exception {
        byte[] plain = bytes("{\"id\":1}\n{\"id\":2}\n");
        assertEquals(200, post("/v0/events?name=gz&wait=true", emu.adminToken(), gzip(plain), "Content-Encoding", "gzip").statusCode());
        assertEquals(200, post("/v0/events?name=gz&wait=true", emu.adminToken(), gzip(plain)).statusCode());
        assertEquals(200, post("/v0/events?name=gz&wait=true", emu.adminToken(), plain).statusCode());
        assertEquals(List.of(1, 2, 1, 2, 1, 2), emu.rows("gz").stream().map(n -> n.get("id").asInt()).toList());
    }

    @Test
    void unknownFormat501() throws Exception {
        assertPlain(post("/v0/events?name=ds&format=csv", emu.adminToken(), bytes("a,b")), 501, "Unimplemented format csv");
    }

    @Test
    void rateLimit429WithRetryAfter() throws Exception {
        emu.close();
        emu = new TinybirdEmulator().port(0).rateLimit(1).start();
        HttpResponse<String> limited = null;
        for (int i = 0; i < 10 && limited == null; i++) {
            HttpResponse<String> r = post("/v0/events?name=rl", emu.adminToken(), bytes("{\"id\":1}"));
            if (r.statusCode() == 429) limited = r;
            else assertEquals(202, r.statusCode());
        }
        assertNotNull(limited, "no 429 in 10 requests at a limit of 1 per second");
        assertPlain(limited, 429, "Too many requests\n");
        assertEquals("0", limited.headers().firstValue("X-RateLimit-Remaining").orElseThrow());
        assertTrue(Integer.parseInt(limited.headers().firstValue("Retry-After").orElseThrow()) >= 1);
    }

    @Test
    void injected500And503And422AndDrop() throws Exception {
        emu.faults().failNext(1, EmulatorFault.status(503)).failNext(1, EmulatorFault.status(500))
                .failNext(1, EmulatorFault.status(422).afterStore()).failNext(1, EmulatorFault.tooManyRequests(3))
                .failNext(1, EmulatorFault.drop().afterStore());
        assertPlain(post("/v0/events?name=f", emu.adminToken(), bytes("{\"id\":1}")), 503,
                "Service temporarily unavailable, no data ingested, please retry again\n");
        HttpResponse<String> r = post("/v0/events?name=f", emu.adminToken(), bytes("{\"id\":2}"));
        assertEquals(500, r.statusCode());
        assertRateHeaders(r);
        assertEquals(0, emu.rowCount("f"));
        r = post("/v0/events?name=f", emu.adminToken(), bytes("{\"id\":3}"));
        assertEquals(422, r.statusCode());
        assertEquals(1, emu.rowCount("f"), "422: partially done, the rows are stored");
        r = post("/v0/events?name=f", emu.adminToken(), bytes("{\"id\":4}"));
        assertPlain(r, 429, "Too many requests\n");
        assertEquals("3", r.headers().firstValue("Retry-After").orElseThrow());
        assertThrows(IOException.class, () -> post("/v0/events?name=f", emu.adminToken(), bytes("{\"id\":5}")));
        assertEquals(List.of(3, 5), emu.rows("f").stream().map(n -> n.get("id").asInt()).toList(), "the drop came after storing");
        assertEquals(5, emu.stats().faultsInjected());
    }

    @Test
    void faultFractionIsDeterministicBySeed() throws Exception {
        List<List<Integer>> runs = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            try (TinybirdEmulator e = TinybirdEmulator.start(0)) {
                e.faults().fraction(0.3, 42, EmulatorFault.status(503), EmulatorFault.status(500));
                List<Integer> codes = new ArrayList<>();
                for (int i = 0; i < 30; i++) {
                    codes.add(HTTP.send(HttpRequest.newBuilder(URI.create(e.url() + "/v0/events?name=d"))
                            .header("Authorization", "Bearer " + e.adminToken()).POST(HttpRequest.BodyPublishers.ofString("{\"id\":1}")).build(),
                            HttpResponse.BodyHandlers.ofString()).statusCode());
                }
                runs.add(codes);
            }
        }
        assertEquals(runs.get(0), runs.get(1));
        long failed = runs.get(0).stream().filter(c -> c != 202).count();
        assertTrue(failed > 0 && failed < 30, runs.get(0).toString());
    }

    @Test
    void quarantineRowsGoToTheQuarantineDataSource() throws Exception {
        emu.createDataSource("q", "`id` Int16 `json:$.id`, `ts` DateTime `json:$.ts`, `v` Nullable(Float32) `json:$.v`");
        HttpResponse<String> r = post("/v0/events?name=q&wait=true", emu.adminToken(), bytes(
                "{\"id\":1,\"ts\":\"2024-01-23 10:30:00\",\"v\":1.5}\n"
                        + "{\"id\":70000,\"ts\":\"2024-01-23 10:30:00\"}\n"
                        + "{\"id\":3,\"ts\":\"not a date\"}\n"
                        + "{\"id\":4}\n"
                        + "not json\n"
                        + "{\"id\":6,\"ts\":\"2024-01-23T10:30:00Z\",\"v\":null}\n"));
        assertEquals("{\"successful_rows\":2,\"quarantined_rows\":4}", r.body());
        List<ObjectNode> q = emu.rows("q_quarantine");
        assertEquals(4, q.size());
        assertEquals(List.of("id", "ts", "ts", ""), q.stream().map(n -> n.get("c__error_column").get(0).asText()).toList());
        for (ObjectNode n : q) {
            assertTrue(n.get("c__error").isArray() && n.get("c__error").get(0).asText().length() > 3, n.toString());
            assertTrue(n.get("c__import_id").isTextual());
            assertTrue(n.get("insertion_date").asText().matches("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d"));
        }
        assertEquals("70000", q.get(0).get("id").asText());
    }

    @Test
    void tokensEndpointLikeTinybirdLocal() throws Exception {
        JsonNode n = Json.MAPPER.readTree(get("/tokens", null).body());
        assertEquals(emu.adminToken(), n.get("admin_token").asText());
        assertTrue(n.get("user_token").isTextual());
        assertEquals(emu.adminToken(), n.get("workspace_admin_token").asText());
    }

    @Test
    void pipesAnswerJsonNdjsonCsvAndJsonErrors() throws Exception {
        HttpResponse<String> r = get("/v0/pipes/reports.json?city=DENVER&max_results=3&start_time=2023-06-01%2000:00:00&end_time=2023-06-02%2000:00:00", emu.adminToken());
        assertEquals(200, r.statusCode());
        JsonNode n = Json.MAPPER.readTree(r.body());
        assertEquals("clouds", n.get("meta").get(0).get("name").asText());
        assertEquals("Int8", n.get("meta").get(0).get("type").asText());
        assertEquals(3, n.get("rows").asInt());
        assertEquals(6, n.get("rows_before_limit_at_least").asInt(), "6 reports a day, start exclusive, end inclusive");
        assertEquals("2023-06-02 00:00:00", n.get("data").get(0).get("timestamp").asText());
        assertEquals("2023-06-01 16:00:00", n.get("data").get(2).get("timestamp").asText());
        for (String k : List.of("elapsed", "rows_read", "bytes_read")) assertTrue(n.get("statistics").has(k));
        assertFalse(Json.MAPPER.readTree(get("/v0/pipes/api_cities.json", emu.adminToken()).body()).has("rows_before_limit_at_least"),
                "only with a LIMIT");
        String nd = get("/v0/pipes/reports.ndjson?city=denver&max_results=2", emu.adminToken()).body();
        assertEquals(2, nd.strip().split("\n").length);
        String csv = get("/v0/pipes/api_cities.csv", emu.adminToken()).body();
        assertEquals(174, csv.strip().split("\n").length);
        assertFalse(csv.startsWith("\"site_name\""), "no header");
        // the same answer twice: deterministic
        assertEquals(get("/v0/pipes/reports.ndjson?city=denver&max_results=50", emu.adminToken()).body(),
                get("/v0/pipes/reports.ndjson?city=Denver&max_results=50", emu.adminToken()).body());

        r = get("/v0/pipes/nope.json", emu.adminToken());
        assertEquals(404, r.statusCode());
        assertEquals("The pipe 'nope' does not exist", Json.MAPPER.readTree(r.body()).get("error").asText());
        assertTrue(Json.MAPPER.readTree(r.body()).has("documentation"));
        r = get("/v0/pipes/reports.json", "p.bad");
        assertEquals(403, r.statusCode());
        assertEquals("invalid authentication token", Json.MAPPER.readTree(r.body()).get("error").asText());
        String otherPipe = emu.addToken("reader", "PIPES:READ:api_cities");
        assertEquals(403, get("/v0/pipes/reports.json", otherPipe).statusCode());
        assertEquals(200, get("/v0/pipes/api_cities.json", otherPipe).statusCode());
        r = get("/v0/pipes/reports.json?max_results=lots", emu.adminToken());
        assertEquals(400, r.statusCode());
        assertTrue(Json.MAPPER.readTree(r.body()).get("error").asText().contains("max_results"));
        r = get("/v0/pipes/reports.json?start_time=yesterday", emu.adminToken());
        assertEquals(400, r.statusCode());
        r = get("/v0/pipes/reports.json?q=select%20count()%20from%20_&city=denver&max_results=100000", emu.adminToken());
        assertEquals(2190, Json.MAPPER.readTree(r.body()).get("data").get(0).get("count()").asInt());
    }

    @Test
    void sqlCountAndSelect() throws Exception {
        post("/v0/events?name=s&wait=true", emu.adminToken(), bytes("{\"id\":1,\"c\":\"b\"}\n{\"id\":2,\"c\":\"a\"}\n{\"id\":3,\"c\":\"a\"}"));
        JsonNode n = Json.MAPPER.readTree(get("/v0/sql?q=" + java.net.URLEncoder.encode("SELECT count() FROM s FORMAT JSON", StandardCharsets.UTF_8), emu.adminToken()).body());
        assertEquals(3, n.get("data").get(0).get("count()").asInt());
        assertEquals("UInt64", n.get("meta").get(0).get("type").asText());
        HttpResponse<String> r = post("/v0/sql", emu.adminToken(), bytes("select id from s where c = 'a' order by id desc limit 1"), "Content-Type", "text/plain");
        n = Json.MAPPER.readTree(r.body());
        assertEquals(3, n.get("data").get(0).get("id").asInt());
        assertEquals(2, n.get("rows_before_limit_at_least").asInt());
        r = get("/v0/sql", emu.adminToken());
        assertEquals(400, r.statusCode());
        assertEquals("missing q parameter. example q=select%201", Json.MAPPER.readTree(r.body()).get("error").asText());
        n = Json.MAPPER.readTree(get("/v0/sql?q=select%20count()%20from%20weather_data", emu.adminToken()).body());
        assertEquals(381_060, n.get("data").get(0).get("count()").asLong());
    }
}
