import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The emulator as the README runs it: ./jbang tinybird/tinybird-emulator.java --port N. */
class TinybirdEmulatorScriptTest {
    @Test
    void runsAsAScriptForOfflineDemos() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(List.of(TestServices.repoRoot().resolve("jbang").toString(), "tinybird/tinybird-emulator.java",
                "--port", Integer.toString(port), "--admin-token", "admin-dev", "--token", "ingest-dev=DATASOURCES:CREATE"))
                .directory(TestServices.repoRoot().toFile()).redirectErrorStream(true).start();
        // a watchdog: a script that never starts must not hang the run
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                if (!p.waitFor(10, TimeUnit.MINUTES)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException done) {
                // the test finished first
            }
        });
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        try {
            StringBuilder seen = new StringBuilder();
            String line;
            while ((line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.startsWith("try: curl")) break;
            }
            String text = seen.toString();
            assertTrue(text.contains("Tinybird emulator listening on http://127.0.0.1:" + port), text);
            assertTrue(text.contains("admin token: admin-dev"), text);
            assertTrue(text.contains("weather_data (381060 rows, built in and read-only"), text);
            try (TinybirdClient c = new TinybirdClient("http://localhost:" + port, "ingest-dev");
                 TinybirdWriter w = c.writer("demo")) {
                w.append(Map.of("id", 1));
                w.close();
                assertEquals(1, w.stats().acknowledged());
            }
            try (TinybirdClient c = new TinybirdClient("http://localhost:" + port, "admin-dev")) {
                assertEquals(1, c.sql("select count() from demo").data().get(0).get("count()").asInt());
                assertEquals(3, c.readAll("reports", Map.of("city", "denver", "max_results", 3)).data().size());
            }
            // Ctrl-C / SIGTERM: a summary line, then the end (the launcher may have exec'd java: p is then the emulator)
            p.descendants().forEach(ProcessHandle::destroy);
            p.toHandle().destroy(); // a SIGTERM that leaves our end of the pipe open (Process.destroy would close it)
            StringBuilder rest = new StringBuilder();
            while ((line = out.readLine()) != null) rest.append(line).append('\n');
            assertTrue(rest.toString().contains("stopped: ") && rest.toString().contains("1 rows stored"), rest.toString());
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
