//DEPS de.bwaldvogel:mongo-java-server:1.47.0

import static org.junit.jupiter.api.Assertions.*;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import org.bson.Document;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The MongoDB target against mongo-java-server (a MongoDB wire-protocol server in this JVM: no MongoDB server can be
 * installed on our machines) and the Tinybird emulator.
 */
class TbToMongodbTest {
    static final String SINCE = TbTransferTest.SINCE, UNTIL = TbTransferTest.UNTIL;

    static void assertCollectionEqualsSource(MongoCollection<Document> coll, Map<String, ObjectNode> source) {
        Map<String, Integer> seen = new HashMap<>();
        java.time.format.DateTimeFormatter f = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
        for (Document d : coll.find()) {
            String ts = f.format(java.time.LocalDateTime.ofInstant(d.getDate("timestamp").toInstant(), java.time.ZoneOffset.UTC));
            String k = ts + "|" + d.getString("site_name");
            seen.merge(k, 1, Integer::sum);
            ObjectNode s = source.get(k);
            assertNotNull(s, "not in the source: " + k);
            assertEquals(s.get("temp_f").asDouble(), ((Number) d.get("temp_f")).doubleValue(), 1e-9, k);
            assertEquals(s.get("clouds").asInt(), ((Number) d.get("clouds")).intValue(), k);
            assertEquals(s.get("description").asText(), d.getString("description"), k);
        }
        assertEquals(source.size(), seen.size(), "every source row is in the collection");
        assertTrue(seen.values().stream().allMatch(n -> n == 1), "no duplicates");
    }

    @Test
    void upsertsEveryRowOnceAndResumesFromTheMaxCursor() throws Exception {
        MongoServer server = new MongoServer(new MemoryBackend());
        server.bind("127.0.0.1", 0);
        InetSocketAddress addr = server.getLocalAddress();
        String uri = "mongodb://127.0.0.1:" + addr.getPort();
        try (TinybirdEmulator emu = TinybirdEmulator.start(0); MongoClient mc = MongoClients.create(uri)) {
            MongoCollection<Document> coll = mc.getDatabase("weather").getCollection("weather_reports");
            TbTransferTest.Result r = TbTransferTest.runIn(new TbToMongodb(), "--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(),
                    "--connection-string", uri, "--since", SINCE, "--until", UNTIL);
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.err().contains("done: 3,132 rows read, 3,132 inserted, 0 updated"), r.err());
            assertCollectionEqualsSource(coll, TbTransferTest.sourceRows(emu, SINCE, UNTIL));
            assertTrue(coll.find().first().get("timestamp") instanceof Date, "DateTime is a BSON date");
            // the same run again: resumes at the max cursor (inclusive): the boundary's rows are matched, not doubled
            TbTransferTest.Result again = TbTransferTest.runIn(new TbToMongodb(), "--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(),
                    "--connection-string", uri, "--until", "2023-05-04 08:00:00");
            assertEquals(0, again.exitCode(), again.err());
            assertTrue(again.err().contains("696 rows read, 522 inserted, 0 updated, 174 skipped"), again.err());
            assertTrue(again.err().contains("from max(timestamp) of collection weather.weather_reports (timestamp >= 2023-05-03 20:00:00)"), again.err());
            assertCollectionEqualsSource(coll, TbTransferTest.sourceRows(emu, SINCE, "2023-05-04 08:00:00"));
        } finally {
            server.shutdownNow();
        }
    }

    @Test
    void survivesSigkillAtRandomPoints(@TempDir Path dir) throws Exception {
        MongoServer server = new MongoServer(new MemoryBackend());
        server.bind("127.0.0.1", 0);
        InetSocketAddress addr = server.getLocalAddress();
        String uri = "mongodb://127.0.0.1:" + addr.getPort();
        String until = "2023-05-08 00:00:00";
        try (TinybirdEmulator emu = TinybirdEmulator.start(0); MongoClient mc = MongoClients.create(uri)) {
            TbTransferTest.flakyReports(emu, 0, 0, 40);
            Path log = dir.resolve("log.txt");
            List<String> args = List.of("--once", "--quiet", "--host", emu.url(), "--token", emu.adminToken(), "--connection-string", uri,
                    "--since", SINCE, "--until", until, "--limit-param", "max_results", "--page-size", "300", "--batch-rows", "300", "--window", "1d");
            MongoCollection<Document> coll = mc.getDatabase("weather").getCollection("weather_reports");
            int landed = TbTransferTest.runWithKills("data-transfer/tb-to-mongodb.java", "TbToMongodb", log, args, 3, 5, coll::countDocuments);
            assertTrue(landed >= 2, "a kill hit a running transfer: " + java.nio.file.Files.readString(log));
            TbTransferTest.unflaky(emu);
            assertCollectionEqualsSource(mc.getDatabase("weather").getCollection("weather_reports"), TbTransferTest.sourceRows(emu, SINCE, until));
        } finally {
            server.shutdownNow();
        }
    }
}
