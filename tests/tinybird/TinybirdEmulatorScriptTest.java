import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The emulator as the README runs it: ./jbang tests/tinybird-emulator.java --port N. */
class TinybirdEmulatorScriptTest {
    @Test
    void runsAsAScriptForOfflineDemos() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(List.of(TestServices.repoRoot().resolve("jbang").toString(), "tests/tinybird-emulator.java",
                "--port", Integer.toString(port), "--admin-token", "admin-dev", "--token", "ingest-dev=DATASOURCES:CREATE"))
                .directory(TestServices.repoRoot().toFile()).redirectErrorStream(true).start();
        // a watchdog: a script that never starts must not hang the run
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                if (!p.waitFor(5, TimeUnit.MINUTES)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException done) {
                // the test finished first
            }
        });
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            StringBuilder seen = new StringBuilder();
            String line;
            while ((line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.startsWith("try: curl")) break;
            }
            String text = seen.toString();
            assertTrue(text.contains("Tinybird emulator listening on http://127.0.0.1:" + port), text);
            assertTrue(text.contains("admin token: admin-dev"), text);
            assertTrue(text.contains("weather_data (381060 rows)"), text);
            try (Tinybird.Client c = new Tinybird.Client("http://localhost:" + port, "ingest-dev");
                 Tinybird.Writer w = c.writer("demo")) {
                w.append(Map.of("id", 1));
                w.close();
                assertEquals(1, w.stats().acknowledged());
            }
            try (Tinybird.Client c = new Tinybird.Client("http://localhost:" + port, "admin-dev")) {
                assertEquals(1, c.sql("select count() from demo").data().get(0).get("count()").asInt());
                assertEquals(3, c.readAll("reports", Map.of("city", "denver", "max_results", 3)).data().size());
            }
        } finally {
            watchdog.interrupt();
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
    }
}
