//DEPS de.bwaldvogel:mongo-java-server:1.47.0

import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
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
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.Sorts;
import picocli.CommandLine;
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
    void anUnknownHostFailsAfterOneServerSelectionNotAfterRetryFor() throws Exception {
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            long t0 = System.nanoTime();
            TbTransferTest.Result r = TbTransferTest.runIn(new TbToMongodb(), "--once", "--quiet", "--host", emu.url(), "--token",
                    emu.adminToken(), "--connection-string", "mongodb://no-such-host.invalid:27017", "--since", SINCE, "--until", UNTIL,
                    "--retry-for", "10m");
            long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
            assertEquals(1, r.exitCode(), r.err());
            assertTrue(r.err().contains("unknown host no-such-host.invalid"), r.err());
            assertFalse(r.err().contains("retrying"), "not retried: " + r.err());
            assertTrue(seconds < 300, "gave up long before --retry-for 10m: " + seconds + " s");
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

    /** A TCP relay to a server whose connections the test can cut (what a failover or a server restart does to them). */
    static final class Relay implements AutoCloseable {
        final ServerSocket listener;
        final List<Socket> open = new CopyOnWriteArrayList<>();

        Relay(InetSocketAddress to) throws Exception {
            listener = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            Thread.ofPlatform().daemon().start(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket in = listener.accept();
                        Socket out = new Socket(to.getAddress(), to.getPort());
                        open.add(in);
                        open.add(out);
                        pump(in, out);
                        pump(out, in);
                    } catch (Exception closed) {
                        // the relay is closing, or the server went away: the client sees a closed connection
                    }
                }
            });
        }

        static void pump(Socket from, Socket to) {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    from.getInputStream().transferTo(to.getOutputStream());
                } catch (Exception cut) {
                    // one side was closed
                }
                try {
                    from.close();
                    to.close();
                } catch (Exception ignored) {
                    // already closed
                }
            });
        }

        int port() {
            return listener.getLocalPort();
        }

        /** Closes every connection through the relay; new ones are relayed again. */
        void cutAll() throws Exception {
            for (Socket s : open) s.close();
            open.clear();
        }

        @Override
        public void close() throws Exception {
            listener.close();
            cutAll();
        }
    }

    /**
     * Writes the MongoDB server acknowledged and then lost (a failover to a secondary without them): between two
     * batches the test deletes the documents written after the first batch and cuts the transfer's connections. The
     * transfer must notice on reconnecting, read the lost rows again and count each row once.
     */
    @Test
    void writesLostByTheServerAreWrittenAgainAndCountedOnce() throws Exception {
        MongoServer server = new MongoServer(new MemoryBackend());
        server.bind("127.0.0.1", 0);
        try (Relay relay = new Relay(server.getLocalAddress());
             MongoClient direct = MongoClients.create("mongodb://127.0.0.1:" + server.getLocalAddress().getPort())) {
            MongoCollection<Document> coll = direct.getDatabase("weather").getCollection("r");
            TransferEngineTest.PipeLike src = new TransferEngineTest.PipeLike(1000);
            TransferEngineTest.fill(src, 400, 3, 0); // 1,200 rows
            StringWriter log = new StringWriter();
            TbToMongodb.MongoTarget mongo = new TbToMongodb.MongoTarget("mongodb://127.0.0.1:" + relay.port(), "weather", "r",
                    List.of("timestamp", "site_name"), java.time.Duration.ofSeconds(30), new PrintWriter(log, true));
            List<Date> firstMax = new ArrayList<>();
            Transfer.Target target = new Transfer.Target() { // the real target, with the loss staged between its writes
                int writes;
                public String describe() { return mongo.describe(); }
                public List<String> keyColumns() { return mongo.keyColumns(); }
                public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter err) throws Exception { mongo.prepare(meta, dryRun, err); }
                public Optional<Transfer.Resume> resume(String job, String cursor) throws Exception { return mongo.resume(job, cursor); }
                public String validate(List<Transfer.Column> meta, Object[] row) { return mongo.validate(meta, row); }
                public int maxBatchRows() { return mongo.maxBatchRows(); }
                public Transfer.Counts write(String job, String cursor, Transfer.Batch b) throws Exception {
                    if (++writes == 4) {
                        long gone = coll.deleteMany(Filters.gt("timestamp", firstMax.get(0))).getDeletedCount();
                        assertTrue(gone > 0, "documents after the first batch are lost");
                        relay.cutAll();
                    }
                    Transfer.Counts c = mongo.write(job, cursor, b);
                    if (writes == 1) firstMax.add(coll.find().sort(Sorts.descending("timestamp")).first().getDate("timestamp"));
                    return c;
                }
                public void close() { mongo.close(); }
            };
            TransferOptions o = new TransferOptions();
            new CommandLine(new Object() {
                @CommandLine.Mixin TransferOptions opts = o;
            }).parseArgs("--once", "--until", "none", "--limit-param", "max_results", "--page-size", "250", "--batch-rows", "250");
            Transfer.Totals t;
            try {
                t = new TransferEngine(o, src, target, new PrintWriter(log, true), true).run();
            } finally {
                target.close();
            }
            assertEquals(1200, coll.countDocuments(), "every row is there again: " + log);
            assertEquals(1200, t.counts.inserted, "each row counted once: " + log);
            assertTrue(log.toString().contains("MongoDB lost writes it had acknowledged"), log.toString());
        } finally {
            server.shutdownNow();
        }
    }
}
