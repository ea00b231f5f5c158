import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The project's e-store endpoints (tinybird/endpoints/product_funnel.pipe over the materialization,
 * top_products.pipe over the raw events) on live e-store events: data-generators/e-store.java streams into the
 * emulator serving tinybird/, then the endpoints' answers must agree with the events stored and with each other.
 */
class EStoreEndpointsTest {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    @TempDir Path tmp;

    @Test
    void liveEventsGiveConsistentFunnelAndTopProducts() throws Exception {
        try (TinybirdEmulator emu = new TinybirdEmulator().port(0).weather(false).project(TestServices.repoRoot().resolve("tinybird")).start()) {
            String append = emu.projectToken("estore_events_append"), read = emu.projectToken("estore_read");
            EStore cmd = new EStore();
            cmd.stdoutStream = null;
            cmd.common.config(Config.of(Map.of("TINYBIRD_TOKEN", append), tmp, null));
            StringWriter err = new StringWriter();
            int rc = new CommandLine(cmd).setOut(new PrintWriter(new StringWriter())).setErr(new PrintWriter(err)).execute(
                    "--endpoint", emu.url() + "/v0/events?name={DATASOURCE_NAME}", "--datasource", "estore_events",
                    "--count", "20000", "--seed", "11", "--start-time", "2026-01-01T00:00:00Z", "--duplicate-percentage", "0",
                    "--products", "40", "--customers", "200", "--batch-rows", "2000");
            assertEquals(0, rc, err.toString());
            assertEquals(20000, emu.rowCount("estore_events"), "every event stored");

            Map<String, Long> stored = new HashMap<>();
            for (String line : emu.execute("SELECT action, count() FROM estore_events GROUP BY action", "TSV").strip().split("\n")) {
                String[] f = line.split("\t");
                stored.put(f[0], Long.parseLong(f[1]));
            }
            assertTrue(stored.getOrDefault("purchase", 0L) > 0, "the stream has purchases: " + stored);

            JsonNode funnel = get(emu, "/v0/pipes/product_funnel.json?limit=1000", read).path("data");
            assertTrue(funnel.size() > 0, "product_funnel has rows");
            Map<String, Long> sums = new HashMap<>();
            Map<String, Long> purchasesByProduct = new HashMap<>();
            for (JsonNode p : funnel) {
                long views = p.path("views").asLong(), carts = p.path("carts").asLong(), purchases = p.path("purchases").asLong();
                assertTrue(purchases <= carts, "a purchase needs a cart: " + p);
                assertTrue(carts <= views, "a cart needs a view: " + p);
                sums.merge("view", views, Long::sum);
                sums.merge("cart", carts, Long::sum);
                sums.merge("purchase", purchases, Long::sum);
                sums.merge("return", p.path("returns").asLong(), Long::sum);
                purchasesByProduct.put(p.path("product_id").asText(), purchases);
            }
            for (String a : new String[] {"view", "cart", "purchase", "return"}) {
                assertEquals(stored.getOrDefault(a, 0L), sums.getOrDefault(a, 0L), a + ": the materialization counted every stored event");
            }

            String window = "start_time=" + enc("2026-01-01 00:00:00") + "&end_time=" + enc("2026-01-02 00:00:00") + "&limit=1000";
            JsonNode top = get(emu, "/v0/pipes/top_products.json?" + window, read).path("data");
            assertTrue(top.size() > 0, "top_products has rows");
            long total = 0, previous = Long.MAX_VALUE;
            for (JsonNode p : top) {
                long events = p.path("events").asLong();
                assertTrue(events <= previous, "most purchased first: " + top);
                previous = events;
                total += events;
                assertEquals(purchasesByProduct.get(p.path("product_id").asText()), events, "top_products and product_funnel agree on " + p);
            }
            assertEquals(stored.get("purchase"), total, "top_products counts every purchase of the window");
            JsonNode carts = get(emu, "/v0/pipes/top_products.json?action=cart&" + window, read).path("data");
            assertEquals(stored.get("cart"), sumOf(carts, "events"));
            assertEquals(0, get(emu, "/v0/pipes/top_products.json?start_time=" + enc("2026-01-02 00:00:00") + "&end_time=" + enc("2026-01-03 00:00:00"), read)
                    .path("data").size(), "a window without events has no rows");
        }
    }

    static long sumOf(JsonNode rows, String field) {
        long s = 0;
        for (JsonNode r : rows) s += r.path(field).asLong();
        return s;
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    static JsonNode get(TinybirdEmulator emu, String pathAndQuery, String token) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(emu.url() + pathAndQuery)).header("Authorization", "Bearer " + token).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), pathAndQuery + ": " + r.body());
        return Json.MAPPER.readTree(r.body());
    }
}
