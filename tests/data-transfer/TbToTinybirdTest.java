import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Tinybird target: the emulator is both the source (weather 'reports') and the target (a data source). */
class TbToTinybirdTest {
    static final String SINCE = TbTransferTest.SINCE, UNTIL = TbTransferTest.UNTIL;

    static void assertDataSourceEqualsSource(TinybirdEmulator emu, String ds, Map<String, ObjectNode> source) {
        Map<String, Integer> seen = new HashMap<>();
        for (ObjectNode n : emu.rows(ds)) {
            String k = n.get("timestamp").asText() + "|" + n.get("site_name").asText();
            seen.merge(k, 1, Integer::sum);
            ObjectNode s = source.get(k);
            assertNotNull(s, "not in the source: " + k);
            assertEquals(s.get("temp_f").asDouble(), n.get("temp_f").asDouble(), 1e-9, k);
            assertEquals(s.get("description").asText(), n.get("description").asText(), k);
        }
        assertEquals(source.size(), seen.size(), "every source row is in " + ds);
        List<String> doubled = seen.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList();
        assertEquals(List.of(), doubled, "no duplicates");
    }

    @Test
    void eventsApiGetsEveryRowOnceAndAResumedRunSendsOnlyNewRows() {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String tok = emu.adminToken();
            TbTransferTest.Result r = TbTransferTest.runIn(new TbToTinybird(), "--once", "--quiet", "--host", emu.url(), "--token", tok,
                    "--target-token", tok, "--since", SINCE, "--until", UNTIL);
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("done: 3,132 rows read, 3,132 inserted"), r.err());
            assertTrue(emu.schema("weather_data_json").toString().contains("timestamp DateTime `json:$.timestamp`"), emu.schema("weather_data_json").toString());
            assertDataSourceEqualsSource(emu, "weather_data_json", TbTransferTest.sourceRows(emu, SINCE, UNTIL));
            // a pre-store 503 and 429s on the target are retried by the writer
            emu.faults().failNext(1, EmulatorFault.status(503)).failNext(1, EmulatorFault.tooManyRequests(1));
            TbTransferTest.Result again = TbTransferTest.runIn(new TbToTinybird(), "--once", "--quiet", "--host", emu.url(), "--token", tok,
                    "--target-token", tok, "--until", "2023-05-04 08:00:00");
            assertEquals(0, again.exitCode(), again.err());
            assertTrue(again.err().contains("696 rows read, 522 inserted, 0 updated, 174 skipped"), again.err());
            assertDataSourceEqualsSource(emu, "weather_data_json", TbTransferTest.sourceRows(emu, SINCE, "2023-05-04 08:00:00"));
        }
    }

    @Test
    void dataSourcesApiAppendsNdjson() {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String tok = emu.adminToken();
            TbTransferTest.Result r = TbTransferTest.runIn(new TbToTinybird(), "--once", "--quiet", "--host", emu.url(), "--token", tok,
                    "--target-token", tok, "--via", "datasources", "--datasource", "copy", "--since", SINCE, "--until", UNTIL);
            assertEquals(0, r.exitCode(), r.err());
            assertDataSourceEqualsSource(emu, "copy", TbTransferTest.sourceRows(emu, SINCE, UNTIL));
        }
    }

    @Test
    void survivesSigkillAtRandomPoints(@TempDir Path dir) throws Exception {
        String until = "2023-05-08 00:00:00";
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            TbTransferTest.flakyReports(emu, 0, 0, 40);
            String tok = emu.adminToken();
            Path log = dir.resolve("log.txt");
            List<String> args = List.of("--once", "--quiet", "--host", emu.url(), "--token", tok, "--target-token", tok,
                    "--since", SINCE, "--until", until, "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--window", "1d");
            int landed = TbTransferTest.runWithKills("data-transfer/tb-to-tinybird.java", "TbToTinybird", log, args, 3, 9,
                    () -> emu.hasDataSource("weather_data_json") ? emu.rowCount("weather_data_json") : 0);
            assertTrue(landed >= 2, "a kill hit a running transfer: " + java.nio.file.Files.readString(log));
            TbTransferTest.unflaky(emu);
            assertDataSourceEqualsSource(emu, "weather_data_json", TbTransferTest.sourceRows(emu, SINCE, until));
        }
    }
}
