import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class TinybirdSmokeTest {
    @Test
    void writerStoresRowsAndReaderReadsWeather() {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0);
             Tinybird.Client c = new Tinybird.Client(emu.url(), emu.adminToken())) {
            try (Tinybird.Writer w = c.writer("events", new Tinybird.Writer.Settings().maxRows(100))) {
                for (int i = 0; i < 1000; i++) w.append(Map.of("id", i, "action", "view"));
                w.flush();
                Tinybird.Writer.Stats s = w.stats();
                assertEquals(1000, s.appended());
                assertEquals(1000, s.acknowledged());
            }
            List<ObjectNode> rows = emu.rows("events");
            assertEquals(1000, rows.size());
            Tinybird.PipeResult r = c.readAll("reports", Map.of("city", "denver", "max_results", 5));
            assertEquals(5, r.data().size());
            assertEquals("Denver", r.data().get(0).get("site_name").asText());
            assertEquals(10, r.meta().size());
            assertEquals(174, c.readAll("api_cities", Map.of()).data().size());
        }
    }
}
