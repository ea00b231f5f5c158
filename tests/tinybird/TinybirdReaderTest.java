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
import java.util.Random;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The API Endpoint reader, the Data Sources API (file import) and the Query API against the emulator. */
class TinybirdReaderTest {
    TinybirdEmulator emu;
    TinybirdClient client;

    @BeforeEach
    void start() {
        emu = TinybirdEmulator.start(0);
        client = new TinybirdClient(emu.url(), emu.adminToken());
        // a pipe that answers its parameters k, n and city back, one row per value, in that order
        emu.addPipe("echo", "SELECT kv.1 AS key, kv.2 AS value FROM (SELECT arrayJoin(arrayConcat("
                + "arrayMap(x -> ('k', x), {k:Array(String)}), arrayMap(x -> ('n', x), {n:Array(String)}),"
                + " arrayMap(x -> ('city', x), {city:Array(String)}))) AS kv)");
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
        try (TinybirdRows rows = client.read("reports", params)) {
            assertEquals(10, rows.meta().size());
            assertEquals(new TinybirdRows.Column("timestamp", "DateTime"), rows.meta().get(7));
            assertEquals(new TinybirdRows.Column("temp_f", "Float32"), rows.meta().get(6));
            List<ObjectNode> got = new ArrayList<>();
            while (rows.hasNext()) got.add(rows.next());
            assertEquals(5, got.size());
            assertEquals("2023-06-03 00:00:00", got.get(0).get("timestamp").asText(), "newest first");
            assertEquals("Denver", got.get(0).get("site_name").asText());
            assertEquals(12L, rows.rowsBeforeLimitAtLeast(), "the cap hides 7 rows; the reader tells");
            assertEquals(5L, rows.rowsField());
            assertTrue(rows.statistics().has("elapsed"));
        }
        TinybirdRows.PipeResult cities = client.readAll("api_cities", Map.of());
        assertEquals(174, cities.data().size());
        assertNull(cities.rowsBeforeLimitAtLeast());
        assertEquals(174, client.readAll("current_conditions", Map.of()).data().size());
        assertEquals(100, client.readAll("most_recent", Map.of()).data().size());
    }

    @Test
    void ndjsonFormat() {
        try (TinybirdRows rows = client.read("reports", Map.of("city", "Boston", "max_results", 3), "ndjson")) {
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
    void aSlowAnswerTimesOutAndAnAnswerLeftUnreadIsDropped() {
        emu.addPipe("big", bigPipe(50_000_000));
        try (TinybirdClient slow = new TinybirdClient(emu.url(), emu.adminToken()).timeout(Duration.ofMillis(500))) {
            emu.faults().on("/v0/pipes/").failNext(1, EmulatorFault.delay(Duration.ofSeconds(30)));
            long t0 = System.nanoTime();
            Cli.Failure f = assertThrows(Cli.Failure.class, () -> slow.readAll("api_cities", Map.of()));
            assertTrue(f.getMessage().startsWith("cannot reach Tinybird at " + emu.url() + " (GET /v0/pipes/api_cities.json): timed out"), f.getMessage());
            assertTrue((System.nanoTime() - t0) / 1_000_000 < 10_000, "the read timeout, not the server's 30 s delay, ended the wait");
            emu.faults().clear();
            // 50M rows asked as NDJSON (streamed by the engine, about 3 GB), 10 read, then closed: the connection is
            // dropped at once rather than drained
            t0 = System.nanoTime();
            Map<String, Integer> index = Map.of("id", 0);
            try (TinybirdRows r = slow.read("big", Map.of(), "ndjson")) {
                for (int i = 0; i < 10; i++) assertNotNull(r.nextValues(index, 1));
            }
            assertTrue((System.nanoTime() - t0) / 1_000_000 < 10_000, "closing an unread answer took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            // and the client reads on (with a longer timeout: a loaded machine may stall 500 ms)
            assertEquals(174, slow.timeout(Duration.ofSeconds(30)).readAll("api_cities", Map.of()).data().size());
        }
    }

    /**
     * A password in the host's user info: the transfers print every retry's message as it is (only the last line goes
     * through the command's redaction), so the client's own messages must not hold it.
     */
    @Test
    void aPasswordInTheHostIsInNoMessageAndARetryLoopMeetsNone() throws Exception {
        String host = emu.url().replace("http://", "http://admin:pa55-word@");
        emu.faults().on("/v0/pipes/").failNext(2, EmulatorFault.drop());
        java.io.StringWriter err = new java.io.StringWriter();
        try (TinybirdClient c = new TinybirdClient(host, emu.adminToken())) {
            Transfer.Source src = new TinybirdSource(c, "api_cities", Duration.ofMinutes(1), new java.io.PrintWriter(err, true), false);
            assertEquals(174, src.fetch(new LinkedHashMap<>()).rows().size());
        }
        assertTrue(err.toString().contains("cannot reach Tinybird at " + emu.url()), "the retries were printed: " + err);
        assertFalse(err.toString().contains("pa55-word"), err.toString());
        assertEquals(emu.url(), Tinybird.parseUrl(host, Map.of(), false).host(), "no user info in the base URL");
    }

    /** An error no retry can fix (here: an unknown host) fails with no I/O cause, so a retry loop stops at once. */
    @Test
    void anUnknownHostIsNotRetried() {
        java.io.StringWriter err = new java.io.StringWriter();
        try (TinybirdClient c = new TinybirdClient("http://no-such-host.invalid", emu.adminToken())) {
            Transfer.Source src = new TinybirdSource(c, "api_cities", Duration.ofMinutes(5), new java.io.PrintWriter(err, true), false);
            Cli.Failure f = assertThrows(Cli.Failure.class, () -> src.fetch(new LinkedHashMap<>()));
            assertEquals("cannot reach Tinybird at http://no-such-host.invalid: unknown host no-such-host.invalid (check the host name)", f.getMessage());
        }
        assertEquals("", err.toString(), "no retry line");
    }

    @Test
    void errorsCarryTheServersText() {
        TinybirdApiException e = assertThrows(TinybirdApiException.class, () -> client.readAll("nope", Map.of()));
        assertEquals(404, e.status);
        assertEquals("The pipe 'nope' does not exist", e.serverText);
        assertTrue(e.getMessage().contains("GET /v0/pipes/nope.json") && e.getMessage().contains(emu.url()), e.getMessage());
        e = assertThrows(TinybirdApiException.class, () -> client.readAll("reports", Map.of("max_results", "lots")));
        assertEquals(400, e.status);
        assertTrue(e.serverText.contains("max_results"), e.serverText);
        String reader = emu.addToken("reader", "PIPES:READ:api_cities");
        try (TinybirdClient c = new TinybirdClient(emu.url(), reader)) {
            assertEquals(174, c.readAll("api_cities", Map.of()).data().size());
            e = assertThrows(TinybirdApiException.class, () -> c.readAll("reports", Map.of()));
            assertEquals(403, e.status);
            assertTrue(e.getMessage().contains("PIPES:READ:reports"), e.getMessage());
            assertFalse(e.getMessage().contains(reader));
        }
    }

    /** The SQL of a pipe of n generated rows (id, city, ts, v), made by the engine. */
    static String bigPipe(long n) {
        return "SELECT number AS id, concat('city_', toString(number % 174)) AS city, toDateTime('2024-01-01 00:00:00') + number AS ts,"
                + " number * 0.5 AS v FROM numbers(" + n + ")";
    }

    /** Reads a pipe in a JVM of its own: prints rows, the sum of ids and the heap limit. */
    public static final class SmallHeapReader {
        public static void main(String[] args) {
            long n = 0, sum = 0;
            try (TinybirdClient c = new TinybirdClient(args[0], args[1]);
                 TinybirdRows rows = c.read(args[2], Map.of())) {
                while (rows.hasNext()) {
                    sum += rows.next().get("id").asLong();
                    n++;
                }
                System.out.println(n + " " + sum + " " + Runtime.getRuntime().maxMemory() + " " + rows.rowsField());
            }
        }
    }

    /** An answer's rows as JSON (meta, data, rows, rows_before_limit_at_least, statistics) and as NDJSON, the same rows. */
    static String[] scannerAnswer() {
        String big = "x".repeat(200_000) + "\\\"é" + "y".repeat(70_000); // past the scanner's 64 KB buffer, an escape and UTF-8 across it
        List<String> rows = List.of(
                "{\"s\":\"plain\",\"n\":42,\"d\":1.50,\"b\":true,\"z\":null,\"a\":[1,\"]\",{\"k\":\"}\\\"\"}],\"o\":{\"x\":[]}}",
                "{\"s\":\"tab\\tnl\\nq\\\"bs\\\\sl\\/u\\u00e9\\ud83d\\ude00 é😀 \\b\\f\\r\",\"n\":-9223372036854775808,\"d\":1e5,\"b\":false,\"z\":0,\"a\":[],\"o\":{}}",
                "{\"n\":9223372036854775807,\"s\":\"fields in another order, one unknown\",\"extra\":{\"deep\":[[[\"[\"]]]},\"d\":-0.0,\"b\":true,\"z\":123456789012345678901234567890}",
                "{}",
                " { \"s\" : \"spaces\" ,\n \"n\" : 0 , \"d\" : 2.5E-3 , \"a\" : [ 1 , 2 ] } ",
                "{\"s\":\"" + big + "\",\"n\":123456789012345678,\"d\":0.1,\"z\":-12345678901234567890}",
                "{\"s\":\"\",\"n\":-1,\"d\":3,\"b\":null}",
                "{\"d\":-123456789.123456789,\"n\":1}", "{\"d\":1234567890.1234567891}", "{\"d\":-0.000}", "{\"d\":0.5e1}", "{\"d\":100.0}");
        String meta = "[{\"name\":\"s\",\"type\":\"String\"},{\"name\":\"n\",\"type\":\"Int64\"},{\"name\":\"d\",\"type\":\"Float64\"},"
                + "{\"name\":\"b\",\"type\":\"Bool\"},{\"name\":\"z\",\"type\":\"Nullable(Int256)\"},{\"name\":\"a\",\"type\":\"Array(String)\"},"
                + "{\"name\":\"o\",\"type\":\"JSON\"}]";
        String json = "{\"meta\": " + meta + ",\n\"data\": [\n" + String.join(",\n", rows) + "\n],\n\"rows\": 7,\n\"rows_before_limit_at_least\": 70,"
                + "\"statistics\":{\"elapsed\":0.001,\"rows_read\":70,\"bytes_read\":1000}}";
        return new String[] {json, String.join("\n", rows) + "\n"};
    }

    /** Reads every row with nextValues into s, n, d, b, z, a, o (the field "extra" is not asked for). */
    static List<Object[]> values(TinybirdRows r) {
        Map<String, Integer> index = new LinkedHashMap<>();
        for (String c : List.of("s", "n", "d", "b", "z", "a", "o")) index.put(c, index.size());
        List<Object[]> out = new ArrayList<>();
        for (Object[] v; (v = r.nextValues(index, index.size())) != null; ) out.add(v);
        return out;
    }

    /** An input stream that hands out one byte per read: every value crosses a buffer refill. */
    static java.io.InputStream trickle(byte[] b) {
        return new java.io.ByteArrayInputStream(b) {
            @Override
            public synchronized int read(byte[] dst, int off, int len) {
                return super.read(dst, off, Math.min(len, 1));
            }
        };
    }

    @Test
    void theRowScannerGivesTheValuesJacksonGives() throws Exception {
        String[] answer = scannerAnswer();
        byte[] json = answer[0].getBytes(java.nio.charset.StandardCharsets.UTF_8);
        List<Object[]> jackson = values(new TinybirdRows(new java.io.ByteArrayInputStream(answer[1].getBytes(java.nio.charset.StandardCharsets.UTF_8)), true, "ndjson"));
        assertEquals(12, jackson.size());
        for (java.io.InputStream in : List.of(new java.io.ByteArrayInputStream(json), trickle(json))) {
            try (TinybirdRows r = new TinybirdRows(in, false, "json")) {
                List<Object[]> scanned = values(r);
                assertEquals(jackson.size(), scanned.size());
                for (int i = 0; i < scanned.size(); i++) {
                    assertArrayEquals(jackson.get(i), scanned.get(i), "row " + i);
                    for (int c = 0; c < 7; c++) {
                        Object a = jackson.get(i)[c], b = scanned.get(i)[c];
                        assertEquals(a == null ? null : a.getClass(), b == null ? null : b.getClass(), "row " + i + " column " + c);
                    }
                }
                assertEquals(12, r.count());
                assertEquals(7L, r.rowsField());
                assertEquals(70L, r.rowsBeforeLimitAtLeast());
                assertEquals(70, r.statistics().get("rows_read").asInt());
                assertEquals(7, r.meta().size());
            }
        }
        // spot checks of what both say
        Object[] r1 = jackson.get(1);
        assertEquals("tab\tnl\nq\"bs\\sl/u\u00e9\ud83d\ude00 é😀 \b\f\r", r1[0]);
        assertEquals(Long.MIN_VALUE, r1[1]);
        assertEquals(new java.math.BigDecimal("1e5"), r1[2]);
        assertEquals(new java.math.BigInteger("123456789012345678901234567890"), jackson.get(2)[4]);
        assertEquals(new java.math.BigDecimal("1.50"), jackson.get(0)[2]);
        assertEquals("[1,\"]\",{\"k\":\"}\\\"\"}]", jackson.get(0)[5].toString());
        assertEquals(new java.math.BigDecimal("-123456789.123456789"), jackson.get(7)[2]);
        assertEquals(new java.math.BigDecimal("0.000"), jackson.get(9)[2]);
        assertEquals(270_002, ((String) jackson.get(5)[0]).length()); // x..., an escaped quote, é, y...
        // many short strings, repeated and not (the scanner shares the String of a recent equal one): each its own text
        StringBuilder many = new StringBuilder("{\"meta\":[],\"data\":[");
        StringBuilder manyNd = new StringBuilder();
        Random rnd = new Random(3);
        for (int i = 0; i < 30_000; i++) {
            String row = "{\"s\":\"" + Integer.toString(rnd.nextInt(20_000), 36) + "-".repeat(rnd.nextInt(3)) + "\",\"a\":\"" + (i % 7 == 0 ? "" : "x" + i % 50) + "\"}";
            many.append(i == 0 ? "" : ",").append(row);
            manyNd.append(row).append('\n');
        }
        many.append("]}");
        List<Object[]> manyScanned = values(new TinybirdRows(new java.io.ByteArrayInputStream(many.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)), false, "json"));
        List<Object[]> manyJackson = values(new TinybirdRows(new java.io.ByteArrayInputStream(manyNd.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)), true, "ndjson"));
        assertEquals(30_000, manyScanned.size());
        for (int i = 0; i < manyScanned.size(); i++) assertArrayEquals(manyJackson.get(i), manyScanned.get(i), "row " + i);
        // a cut anywhere: an error, never fewer rows as if the answer were complete
        for (int cut = 1; cut < json.length; cut += cut < 2000 ? 7 : 9973) {
            byte[] part = java.util.Arrays.copyOf(json, cut);
            try (TinybirdRows r = new TinybirdRows(new java.io.ByteArrayInputStream(part), false, "json")) {
                values(r);
                fail("an answer cut at byte " + cut + " of " + json.length + " was read as complete");
            } catch (java.io.IOException | Cli.Failure expected) {
                // the header or the rows are incomplete
            }
        }
        // field names with a quote or a backslash, then a row whose text looks like such a name: each read as itself
        String odd = "{\"meta\":[],\"data\":[{\"s\\\":1,\\\"n\":\"x\"},{\"s\":1,\"n\":2}]}";
        String oddNd = "{\"s\\\":1,\\\"n\":\"x\"}\n{\"s\":1,\"n\":2}\n";
        Map<String, Integer> oddIndex = Map.of("s", 0, "n", 1, "s\":1,\"n", 2);
        List<Object[]> oddScanned = new ArrayList<>(), oddJackson = new ArrayList<>();
        try (TinybirdRows r = new TinybirdRows(new java.io.ByteArrayInputStream(odd.getBytes(java.nio.charset.StandardCharsets.UTF_8)), false, "json")) {
            for (Object[] v; (v = r.nextValues(oddIndex, 3)) != null; ) oddScanned.add(v);
        }
        try (TinybirdRows r = new TinybirdRows(new java.io.ByteArrayInputStream(oddNd.getBytes(java.nio.charset.StandardCharsets.UTF_8)), true, "ndjson")) {
            for (Object[] v; (v = r.nextValues(oddIndex, 3)) != null; ) oddJackson.add(v);
        }
        assertArrayEquals(new Object[] {null, null, "x"}, oddJackson.get(0));
        assertArrayEquals(new Object[] {1L, 2L, null}, oddJackson.get(1));
        for (int i = 0; i < 2; i++) assertArrayEquals(oddJackson.get(i), oddScanned.get(i), "row " + i);
        // malformed rows: one clear error
        for (String bad : List.of("[{\"s\":\"a\"}{}]", "[{\"s\" \"a\"}]", "[{\"n\":1-2}]", "[{\"n\":tru}]", "[{\"s\":\"\\x\"}]", "[{\"n\":.}]")) {
            byte[] b = ("{\"meta\":[],\"data\":" + bad + "}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            try (TinybirdRows r = new TinybirdRows(new java.io.ByteArrayInputStream(b), false, "GET /v0/pipes/x.json")) {
                Cli.Failure f = assertThrows(Cli.Failure.class, () -> values(r), bad);
                assertTrue(f.getMessage().startsWith("broken answer from Tinybird to GET /v0/pipes/x.json after "), f.getMessage());
            }
        }
    }

    @Test
    void streamsAMillionRowsWithA64MegabyteHeap() throws Exception {
        long n = 1_000_000;
        emu.addPipe("million", bigPipe(n));
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
        TinybirdClient.ImportResult r = client.importFile("create", "w", nd,
                "`id` Int32 `json:$.id`, `city` String `json:$.city`, `ts` DateTime `json:$.ts`");
        assertNull(r.error());
        assertEquals("w", r.datasource());
        assertEquals(0, r.quarantineRows());
        assertNotNull(r.importId());
        assertEquals(2, emu.rowCount("w"));
        // the NDJSON data source takes Events API rows too
        try (TinybirdWriter w = client.writer("w")) {
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
        TinybirdRows.PipeResult q = client.sql("select id, city from w where city = 'Miami'");
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
        try (TinybirdWriter w = client.writer("c")) {
            w.append(Map.of("site_name", "x", "temp_f", 1, "timestamp", "2024-01-01 00:00:00"));
            w.close();
            assertTrue(w.stats().firstError().contains("Data Source must be of type JSON"));
        }
        TinybirdApiException e = assertThrows(TinybirdApiException.class, () -> client.importFile("append", "missing", csv, null));
        assertEquals(404, e.status);
        String appendOnly = emu.addToken("a", "DATASOURCES:APPEND:c");
        try (TinybirdClient c = new TinybirdClient(emu.url(), appendOnly)) {
            e = assertThrows(TinybirdApiException.class, () -> c.importFile("create", "new_ds", csv, null));
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
