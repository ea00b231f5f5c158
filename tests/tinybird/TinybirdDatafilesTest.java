import static org.junit.jupiter.api.Assertions.*;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The project's tinybird/tests/*.yaml run as `tb test run` does, through the emulator's HTTP API: the emulator serves
 * tinybird/ with fixtures/ loaded, each case is a GET of /v0/pipes/<endpoint>.ndjson with its parameters and the
 * endpoint's own READ token, and the answer must equal expected_result byte for byte (or answer its
 * expected_http_status). One JUnit test per case, so a broken .pipe names the case it breaks.
 */
class TinybirdDatafilesTest {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final Path PROJECT = TestServices.repoRoot().resolve("tinybird");
    static TinybirdEmulator emu;
    static TinybirdProject project;

    @BeforeAll
    static void start() {
        project = TinybirdProject.load(PROJECT);
        emu = new TinybirdEmulator().port(0).weather(false).project(PROJECT).fixtures(true).start();
    }

    @AfterAll
    static void stop() {
        if (emu != null) emu.close();
    }

    /** A case's answer from the emulator: status and body text. */
    record Answer(int status, String body) {}

    static Answer call(TinybirdEmulator e, TinybirdProject p, TinybirdProjectTests.Case c) throws Exception {
        StringBuilder q = new StringBuilder();
        for (Map.Entry<String, List<String>> kv : c.params().entrySet()) {
            for (String v : kv.getValue()) {
                q.append(q.length() == 0 ? "?" : "&").append(URLEncoder.encode(kv.getKey(), StandardCharsets.UTF_8)).append('=')
                        .append(URLEncoder.encode(v, StandardCharsets.UTF_8));
            }
        }
        String token = p.pipes().get(c.pipe()).tokens().stream().map(t -> e.projectToken(t.name())).findFirst().orElse(e.adminToken());
        HttpRequest r = HttpRequest.newBuilder(URI.create(e.url() + "/v0/pipes/" + c.pipe() + ".ndjson" + q))
                .header("Authorization", "Bearer " + token).GET().build();
        HttpResponse<String> resp = HTTP.send(r, HttpResponse.BodyHandlers.ofString());
        return new Answer(resp.statusCode(), resp.body());
    }

    /** null when the answer is what the case expects, else why not. */
    static String check(TinybirdProjectTests.Case c, Answer a) {
        int want = c.expectedHttpStatus() == null ? 200 : c.expectedHttpStatus();
        if (a.status() != want) return c.where() + ": test '" + c.name() + "': HTTP " + a.status() + ", expected " + want + ": " + a.body();
        if (a.status() == 200 && !a.body().equals(c.expectedResult())) {
            return c.where() + ": test '" + c.name() + "' of " + c.pipe() + ": the result differs\n" + TinybirdProjectTests.diff(c.expectedResult(), a.body());
        }
        return null;
    }

    @TestFactory
    Stream<DynamicTest> everyDatafileTestPassesThroughTheEmulator() {
        List<TinybirdProjectTests.Case> cases = TinybirdProjectTests.load(project);
        assertFalse(cases.isEmpty(), "tinybird/tests holds the cases");
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.pipe() + ": " + c.name(), () -> {
            String why = check(c, call(emu, project, c));
            if (why != null) fail(why);
        }));
    }

    @Test
    void everyEndpointHasTests() {
        List<String> tested = TinybirdProjectTests.load(project).stream().map(TinybirdProjectTests.Case::pipe).distinct().toList();
        for (TinybirdProject.Pipe e : project.endpoints()) assertTrue(tested.contains(e.name()), "tinybird/tests/" + e.name() + ".yaml");
    }

    /** What CI relies on: a .pipe whose query changes makes its cases fail (here: most_recent sorted oldest first). */
    @Test
    void aBrokenPipeFailsItsCases(@TempDir Path dir) throws Exception {
        Path copy = dir.resolve("tinybird");
        try (Stream<Path> s = Files.walk(PROJECT)) {
            for (Path f : s.filter(f -> !f.toString().contains("node_modules")).toList()) {
                Path to = copy.resolve(PROJECT.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        Path pipe = copy.resolve("endpoints/most_recent.pipe");
        String text = Files.readString(pipe);
        assertTrue(text.contains("timestamp DESC"), text);
        Files.writeString(pipe, text.replace("timestamp DESC", "timestamp ASC"));
        TinybirdProject broken = TinybirdProject.load(copy);
        try (TinybirdEmulator e = new TinybirdEmulator().port(0).weather(false).project(copy).fixtures(true).start()) {
            List<String> failures = new ArrayList<>();
            for (TinybirdProjectTests.Case c : TinybirdProjectTests.load(broken)) {
                String why = check(c, call(e, broken, c));
                if (why != null) failures.add(c.pipe() + ": " + c.name());
            }
            assertFalse(failures.isEmpty(), "the broken most_recent fails a case");
            assertTrue(failures.stream().allMatch(f -> f.startsWith("most_recent: ")), failures.toString());
        }
    }

    @Test
    void aPipesReadTokenReadsItAndNoOtherPipe() throws Exception {
        String reports = emu.projectToken("reports_read"), estore = emu.projectToken("estore_read");
        assertNotNull(reports);
        assertNotNull(estore);
        assertEquals(200, get("/v0/pipes/api_cities.json", reports).statusCode());
        assertEquals(403, get("/v0/pipes/product_funnel.json", reports).statusCode());
        assertEquals(200, get("/v0/pipes/product_funnel.json", estore).statusCode());
        assertEquals(403, get("/v0/pipes/reports.json", estore).statusCode());
        assertEquals(403, get("/v0/sql?q=" + URLEncoder.encode("SELECT count() FROM estore_events", StandardCharsets.UTF_8), reports).statusCode(),
                "a pipe's token reads the pipe, not its data sources");
    }

    @Test
    void aParameterErrorIs400WithTheEmulatorsErrorBody() throws Exception {
        HttpResponse<String> r = get("/v0/pipes/reports.json?start_time=yesterday", emu.adminToken());
        assertEquals(400, r.statusCode(), r.body());
        JsonNode b = Json.MAPPER.readTree(r.body());
        assertTrue(b.path("error").asText().contains("start_time"), r.body());
        HttpResponse<String> missing = get("/v0/pipes/nope.json", emu.adminToken());
        assertEquals(404, missing.statusCode());
        assertEquals(Json.MAPPER.readTree(missing.body()).path("documentation"), b.path("documentation"), "the same body as the emulator's other errors");
        assertEquals(List.of("error", "documentation"), iterable(b.fieldNames()));
        r = get("/v0/pipes/top_products.json?start_time=2024-05-01%2000:00:00", emu.adminToken());
        assertEquals(400, r.statusCode(), "end_time is required: " + r.body());
        assertTrue(r.body().contains("end_time"), r.body());
    }

    /** As Tinybird's templates: an empty value is given (defined, '' for a String), and no Int32 for max_results. */
    @Test
    void anEmptyParameterIsAValue() throws Exception {
        HttpResponse<String> r = get("/v0/pipes/reports.json?city=", emu.adminToken());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, Json.MAPPER.readTree(r.body()).path("rows").asInt(), "no city is named '': " + r.body());
        r = get("/v0/pipes/reports.json?max_results=", emu.adminToken());
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains("Error validating '' to type Int32"), r.body());
    }

    @Test
    void qRunsSqlOverAProjectEndpoint() throws Exception {
        HttpResponse<String> r = get("/v0/pipes/product_funnel.json?q=" + URLEncoder.encode("SELECT sum(views) AS v FROM _", StandardCharsets.UTF_8), emu.adminToken());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(28, Json.MAPPER.readTree(r.body()).path("data").get(0).path("v").asLong(), r.body());
    }

    /** The materialization feeds its target on every append: the Events API's and the Data Sources API's alike. */
    @Test
    void appendsThroughEitherApiFeedTheMaterialization() throws Exception {
        try (TinybirdEmulator e = new TinybirdEmulator().port(0).weather(false).project(PROJECT).start()) {
            String append = e.projectToken("estore_events_append");
            String row = "{\"customer_id\":\"c1\",\"product_id\":\"p9\",\"action\":\"view\",\"timestamp\":\"2024-06-01T10:00:00.000001Z\",\"event_id\":\"%s\"}\n";
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(e.url() + "/v0/events?name=estore_events&wait=true"))
                    .header("Authorization", "Bearer " + append)
                    .POST(HttpRequest.BodyPublishers.ofString(row.formatted("00000000-0000-4000-8000-000000000001")
                            + row.formatted("00000000-0000-4000-8000-000000000002"))).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("2", views(e, "p9"), "the Events API's rows reached estore_product_daily");

            String boundary = "b0undary";
            String multipart = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"ndjson\"; filename=\"e.ndjson\"\r\nContent-Type: application/x-ndjson\r\n\r\n"
                    + row.formatted("00000000-0000-4000-8000-000000000003") + "\r\n--" + boundary + "--\r\n";
            r = HTTP.send(HttpRequest.newBuilder(URI.create(e.url() + "/v0/datasources?name=estore_events&mode=append&format=ndjson"))
                    .header("Authorization", "Bearer " + e.adminToken()).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                    .POST(HttpRequest.BodyPublishers.ofString(multipart)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(3, e.rowCount("estore_events"));
            assertEquals("3", views(e, "p9"), "the Data Sources API's rows reached estore_product_daily");
        }
    }

    static String views(TinybirdEmulator e, String product) {
        return e.execute("SELECT countMerge(events) FROM estore_product_daily WHERE product_id = '" + product + "' AND action = 'view'", "TSV").strip();
    }

    static HttpResponse<String> get(String pathAndQuery, String token) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).header("Authorization", "Bearer " + token).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
