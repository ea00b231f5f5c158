import static org.junit.jupiter.api.Assertions.*;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** data-generators/e-store.java when things go wrong: a full disk, lost PostgreSQL connections, bad settings files. */
class EStoreSinksReliabilityTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(java.util.function.Consumer<EStore> tune, String... args) {
        EStore cmd = new EStore();
        cmd.stdoutStream = null; // the output is captured through the PrintWriter
        cmd.common.config(Config.of(Map.of(), tmp, null));
        if (tune != null) tune.accept(cmd);
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    // ------------------------------------------------------------------ --out on a full disk

    @Test
    void aFullDiskLeavesNoFinalFileAndTheErrorNamesIt() throws Exception {
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("ev.ndjson");
            Path tmpFile = disk.dir.resolve("ev.ndjson.tmp");

            Result r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertFalse(Files.exists(out), "no final name after a failed write");
            assertFalse(Files.exists(tmpFile), "the partial temp file is deleted");
            assertEquals("e-store: cannot write " + out + ": No space left on device", lastLine(r.err), "the error is the last line, after the summary");
            assertTrue(r.err.startsWith("e-store: sent: "), r.err);
            assertEquals(2, r.err.lines().count(), r.err);

            // a file of an earlier run under that name is left as it was
            Files.writeString(out, "{\"earlier\":true}\n");
            r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.contains(out.toString()), r.err);
            assertEquals("{\"earlier\":true}\n", Files.readString(out));
            assertFalse(Files.exists(tmpFile));

            // room enough: the whole file under its name, no temp file
            Files.delete(out);
            r = run(null, "--count", "200", "--seed", "1", "--out", out.toString());
            assertEquals(0, r.rc, r.err);
            assertEquals(200, Files.readAllLines(out).size());
            assertFalse(Files.exists(tmpFile));
        }
    }

    /** e-store as its own process (java -cp, as the Ctrl-C tests run it), for what only a real stdout shows. */
    static ProcessBuilder estoreProcess(String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-cp", System.getProperty("java.class.path"), "EStore"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    @Test
    void stdoutToAFileOnAFullDiskIsAnErrorNotAQuietStop() throws Exception {
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("ev.ndjson");
            Path err = tmp.resolve("err.txt");
            Process p = estoreProcess("--count", "100000", "--seed", "1").directory(tmp.toFile())
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            try {
                assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "ended");
                String stderr = Files.readString(err);
                assertEquals(1, p.exitValue(), stderr);
                assertEquals("e-store: cannot write stdout (" + out.toRealPath() + "): No space left on device", lastLine(stderr), stderr);
                assertEquals(2, stderr.lines().count(), "the summary, then the error: " + stderr);
            } finally {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void aReaderThatLeavesStopsTheRunQuietly() throws Exception {
        Path err = tmp.resolve("err.txt");
        // like '| head -1': one line read, then the pipe is closed
        Process p = estoreProcess("--duration", "10m", "--seed", "1").directory(tmp.toFile()).redirectError(err.toFile()).start();
        try {
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertTrue(in.readLine().startsWith("{\"customer_id\""));
            in.close();
            assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "stopped when its reader left");
            String stderr = Files.readString(err);
            assertEquals(0, p.exitValue(), stderr);
            assertTrue(stderr.startsWith("e-store: sent: "), stderr);
            assertEquals(1, stderr.lines().count(), stderr);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void anUnwritableFolderIsOneLineNamingTheFile() {
        Path out = tmp.resolve("no-such-folder/ev.ndjson");
        Result r = run(null, "--count", "10", "--out", out.toString());
        assertEquals(1, r.rc, r.err);
        assertEquals("e-store: cannot write " + out + ": no such folder\n", r.err);
    }

    // ------------------------------------------------------------------ PostgreSQL: lost connections

    /** e-store writing totals, inventory and every event, in the background until stopped. */
    final class Background implements AutoCloseable {
        final AtomicReference<EStore> cmd = new AtomicReference<>();
        final AtomicReference<Result> result = new AtomicReference<>();
        final Thread thread;
        final Path out = tmp.resolve("pg.ndjson");

        Background(String url) {
            this(url, null);
        }

        Background(String url, java.util.function.Consumer<EStore> tune) {
            thread = new Thread(() -> result.set(run(c -> {
                if (tune != null) tune.accept(c);
                cmd.set(c);
            }, "--postgres", "--pg-events", "--url", url,
                    "--db-update-interval", "200ms", "--eps", "20000", "--duration", "1h", "--seed", "5",
                    "--products", "40", "--customers", "60", "--out", out.toString())), "e-store-under-test");
            thread.start();
        }

        Result stop() throws InterruptedException {
            waitFor("e-store has started", () -> cmd.get() != null);
            cmd.get().requestStop();
            thread.join(300_000);
            assertNotNull(result.get(), "e-store ended after the stop request");
            return result.get();
        }

        /** Waits for a condition while e-store runs; a run that ended on its own fails the test at once. */
        void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
            EStoreSinksReliabilityTest.waitFor(what, () -> {
                Result r = result.get();
                if (r != null) fail("e-store ended while waiting for: " + what + " (exit " + r.rc + "): " + r.err);
                return condition.getAsBoolean();
            });
        }

        @Override
        public void close() throws InterruptedException {
            if (cmd.get() != null) cmd.get().requestStop();
            thread.join(300_000);
        }
    }

    static void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L; // only so that a broken run ends the test instead of hanging it
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("gave up waiting: " + what);
            Thread.sleep(20);
        }
    }

    static long one(Pg.Target db, String sql) {
        try (Connection c = Pg.connect(db); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            return -1; // not there yet
        }
    }

    /** Rows in a table (-1 before it exists): how far e-store got. */
    static long rows(Pg.Target db, String table) {
        return one(db, "SELECT count(*) FROM " + table);
    }

    /**
     * Everything e-store reported is in the database exactly once: each event sent (duplicates included) one row,
     * a totals row per interval committed, intervals that add up to the unique events, and the inventory equal to a
     * replay of the stream.
     */
    void assertExactlyOnce(Pg.Target db, Result r, Path out) throws Exception {
        EStoreStats st = r.cmd.stats;
        PgInventorySink sink = (PgInventorySink) r.cmd.lastSinks.stream().filter(s -> s instanceof PgInventorySink).findFirst().orElseThrow();
        EStoreTest.Checker chk = EStoreTest.Checker.forSeed(5, 40, 5);
        chk.file(out);
        assertEquals(List.of(), chk.violations);
        assertEquals(st.sent, chk.lines, "the file has every event sent");
        try (Connection c = Pg.connect(db); Statement s = c.createStatement()) {
            ResultSet rs = s.executeQuery("SELECT count(*), count(DISTINCT event_id) FROM events");
            rs.next();
            assertEquals(st.sent, rs.getLong(1), "every event sent is in the table once, duplicates included");
            assertEquals(st.unique, rs.getLong(2));
            assertEquals(st.sent, sink.eventsCopied, "the summary counts what was committed");

            rs = s.executeQuery("SELECT count(*), sum(views + carts + uncarts + orders + returns), max(total_views), sum(views) FROM ecomm_totals");
            rs.next();
            assertEquals(sink.rowsWritten, rs.getLong(1), "one totals row per interval committed");
            assertEquals(st.unique, rs.getLong(2), "the intervals add up to the unique events");
            assertEquals(rs.getLong(4), rs.getLong(3), "the running total is the sum of the intervals");

            rs = s.executeQuery("SELECT product_id, on_hand FROM product_inventory");
            int n = 0;
            while (rs.next()) {
                int p = Integer.parseInt(rs.getString(1).substring("product_".length()));
                assertEquals(chk.stock[p], rs.getInt(2), "on_hand of " + rs.getString(1) + ": each change applied once");
                n++;
            }
            assertEquals(40, n);
        }
        assertTrue(r.err.contains(String.format(java.util.Locale.ROOT, "%,d events copied", st.sent)), r.err);
    }

    @Test
    void terminatedBackendsAreReconnectedAndNoEventIsLostOrDoubled() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        Pg.Target admin = TestServices.postgres();
        Result r;
        try (Background run = new Background(db.libpqUri())) {
            for (int kill = 0; kill < 5; kill++) {
                long totals = rows(db, "ecomm_totals"), events = rows(db, "events");
                run.waitFor("e-store commits again", () -> rows(db, "ecomm_totals") > totals + 1 && rows(db, "events") > events);
                try (Connection c = Pg.connect(admin); PreparedStatement ps = c.prepareStatement(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()")) {
                    ps.setString(1, db.database());
                    ResultSet rs = ps.executeQuery();
                    rs.next();
                    assertTrue(rs.getLong(1) >= 1, "e-store's connections were terminated");
                }
            }
            long totals = rows(db, "ecomm_totals"), events = rows(db, "events");
            run.waitFor("e-store commits after the last kill", () -> rows(db, "ecomm_totals") > totals + 1 && rows(db, "events") > events);
            r = run.stop();
        }
        assertEquals(0, r.rc, r.err);
        assertTrue(r.err.contains("reconnecting"), r.err);
        assertExactlyOnce(db, r, tmp.resolve("pg.ndjson"));
    }

    @Test
    void aCommitWhoseAnswerIsLostIsNotWrittenTwice() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (CommitCutter cutter = new CommitCutter(db); Background run = new Background(cutter.url())) {
            run.waitFor("e-store commits", () -> rows(db, "ecomm_totals") > 0 && rows(db, "events") > 0);
            // the answer to a COMMIT of each kind of transaction, three times each: the server committed, e-store cannot know
            for (int i = 0; i < 3; i++) {
                for (boolean copy : new boolean[] {false, true}) {
                    int before = cutter.cut.get();
                    (copy ? cutter.cutCopyCommit : cutter.cutOtherCommit).set(1);
                    run.waitFor("a COMMIT answer cut", () -> cutter.cut.get() > before);
                    long totals = rows(db, "ecomm_totals"), events = rows(db, "events");
                    run.waitFor("e-store commits again", () -> rows(db, "ecomm_totals") > totals && rows(db, "events") > events);
                }
            }
            Result r = run.stop();
            assertEquals(0, r.rc, r.err);
            assertEquals(6, cutter.cut.get());
            assertExactlyOnce(db, r, run.out);
        }
    }

    @Test
    void aServerGoneLongerThanTheGiveUpTimeIsOneLineAndExitOne() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        CommitCutter cutter = new CommitCutter(db);
        Background run = new Background(cutter.url(), cmd -> cmd.retryFor = java.time.Duration.ofMillis(600));
        try (run) {
            run.waitFor("e-store commits", () -> rows(db, "ecomm_totals") > 0 && rows(db, "events") > 0);
            cutter.close(); // every connection cut, every new one refused
            waitFor("e-store gives up", () -> run.result.get() != null);
        } finally {
            cutter.close();
        }
        Result r = run.result.get();
        assertEquals(1, r.rc, r.err);
        List<String> lines = r.err.lines().toList();
        assertTrue(lines.get(lines.size() - 1).matches("e-store: postgres (totals|events): the connection was lost and did not come back"
                + " within 0\\.6s: .*"), r.err);
        assertTrue(lines.subList(0, lines.size() - 1).stream().allMatch(l -> l.contains("reconnecting in") || l.startsWith("e-store: sent: ")), r.err);
        assertEquals(1, lines.stream().filter(l -> l.startsWith("e-store: sent: ")).count(), "one summary: " + r.err);
        assertFalse(r.err.contains("\tat "), "no stack trace");
    }

    /**
     * A TCP proxy in front of the test PostgreSQL that, when armed, swallows the server's answer to a COMMIT and
     * cuts that connection: the transaction is committed, the client sees only a broken connection. Connections that
     * ran a COPY and the others are armed apart. The protocol after start-up is messages of type, length, body.
     */
    static final class CommitCutter implements AutoCloseable {
        final Pg.Target db;
        final int pgPort;
        final ServerSocket server;
        final AtomicInteger cutCopyCommit = new AtomicInteger(), cutOtherCommit = new AtomicInteger(), cut = new AtomicInteger();
        final List<Socket> sockets = new CopyOnWriteArrayList<>();
        final Thread acceptor;

        CommitCutter(Pg.Target db) throws IOException {
            this.db = db;
            this.pgPort = Integer.parseInt(db.jdbcUrl().replaceAll("^jdbc:postgresql://[^/]*:([0-9]+)/.*$", "$1"));
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            acceptor = new Thread(this::acceptLoop, "commit-cutter");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        /** The database's URL through the proxy (no TLS or GSS negotiation: plain protocol messages from the start). */
        String url() {
            return db.libpqUri().replaceFirst(":" + pgPort + "/", ":" + server.getLocalPort() + "/").replaceAll("\\?.*$", "")
                    + "?sslmode=disable&gssencmode=disable";
        }

        private void acceptLoop() {
            while (!server.isClosed()) {
                try {
                    Socket client = server.accept();
                    Socket up = new Socket(InetAddress.getLoopbackAddress(), pgPort);
                    sockets.add(client);
                    sockets.add(up);
                    daemon(() -> pump(client, up));
                    daemon(() -> answers(up, client));
                } catch (IOException e) {
                    // closed
                }
            }
        }

        private static void daemon(Runnable r) {
            Thread t = new Thread(r, "commit-cutter-pipe");
            t.setDaemon(true);
            t.start();
        }

        private static void pump(Socket from, Socket to) {
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                in.transferTo(out);
            } catch (IOException e) {
                // one side closed
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }

        /** Server to client, message by message. */
        private void answers(Socket from, Socket to) {
            boolean copied = false;
            try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(from.getInputStream()));
                 OutputStream out = to.getOutputStream()) {
                while (true) {
                    int type = in.readUnsignedByte();
                    int len = in.readInt();
                    byte[] body = in.readNBytes(len - 4);
                    if (body.length != len - 4) throw new EOFException();
                    if (type == 'G') copied = true; // CopyInResponse: this connection carries the COPY
                    if (type == 'C' && new String(body, StandardCharsets.US_ASCII).startsWith("COMMIT")) {
                        AtomicInteger arm = copied ? cutCopyCommit : cutOtherCommit;
                        if (arm.getAndUpdate(x -> Math.max(0, x - 1)) > 0) {
                            cut.incrementAndGet();
                            return; // the answer is dropped with the connection
                        }
                    }
                    out.write(type);
                    out.write(new byte[] {(byte) (len >>> 24), (byte) (len >>> 16), (byte) (len >>> 8), (byte) len});
                    out.write(body);
                    if (in.available() == 0) out.flush();
                }
            } catch (IOException e) {
                // one side closed
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }

        private static void closeQuietly(Socket s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // already closed
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : sockets) closeQuietly(s);
        }
    }

    // ------------------------------------------------------------------ settings.yaml mistakes

    /** Every mistake in the settings file: exit 1 and exactly one line, FILE:LINE: and what is wrong with which key. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            duplicate key            | num_customers: 10\\nnum_products: 5\\nnum_customers: 20              | 3: duplicate key 'num_customers' (first on line 1)
            duplicate weight         | event_type_weights:\\n  view: 1\\n  cart: 2\\n  view: 3            | 4: duplicate key 'event_type_weights.view' (first on line 2)
            duplicate mapping key    | event_type_weights:\\n  view: 1\\nevent_type_weights:\\n  cart: 1  | 3: duplicate key 'event_type_weights' (first on line 1)
            unknown key              | num_customers: 10\\nnum_customer: 5                                 | 2: unknown key 'num_customer' (known: tinybird_api_endpoint, num_customers, num_products, duplicate_data_percentage, db_update_interval_minutes, write_to_postgres, event_type_weights, restock_threshold)
            unknown action           | event_type_weights:\\n  view: 1\\n  buy: 2                          | 3: event_type_weights: unknown action 'buy' (expected view, cart, uncart, purchase, return)
            list for a number        | num_customers: [1, 2]                                                | 1: num_customers: expected a single value
            mapping for a number     | num_products:\\n  a: 1                                               | 1: num_products: expected a single value
            text for a number        | num_products: lots                                                   | 1: num_products: expected a whole number from 1 to 1000000000, got 'lots'
            fraction for a count     | num_products: 1.5                                                    | 1: num_products: expected a whole number from 1 to 1000000000, got '1.5'
            negative count           | num_customers: -3                                                    | 1: num_customers: expected a whole number from 1 to 1000000000, got '-3'
            no value                 | num_customers:                                                       | 1: num_customers: expected a whole number from 1 to 1000000000, got ''
            percentage above 100     | duplicate_data_percentage: 101                                       | 1: duplicate_data_percentage: expected a percentage from 0 to 100, got '101'
            negative percentage      | duplicate_data_percentage: -1                                        | 1: duplicate_data_percentage: expected a percentage from 0 to 100, got '-1'
            negative interval        | db_update_interval_minutes: -5                                       | 1: db_update_interval_minutes: expected minutes (10) or a duration (30s, 2m), got '-5'
            interval too short       | db_update_interval_minutes: 10ms                                     | 1: db_update_interval_minutes: expected at least 100ms, got '10ms'
            interval past a year     | db_update_interval_minutes: 99999999999999999                        | 1: db_update_interval_minutes: expected at most a year (525600 minutes), got '99999999999999999'
            not a boolean            | write_to_postgres: maybe                                             | 1: write_to_postgres: expected true or false, got 'maybe'
            restock below -1         | restock_threshold: -2                                                | 1: restock_threshold: expected -1 (never) or a stock level >= 0, got '-2'
            weights not a mapping    | event_type_weights: 5                                                | 1: event_type_weights: expected a mapping (view: 65, cart: 15, ...)
            weight a list            | event_type_weights:\\n  view: [1]                                    | 2: event_type_weights.view: expected a single value
            negative weight          | event_type_weights:\\n  view: 10\\n  cart: -1                        | 3: event_type_weights.cart: expected a weight >= 0, got '-1'
            NaN weight               | event_type_weights:\\n  view: .nan                                   | 2: event_type_weights.view: expected a weight >= 0, got '.nan'
            infinite weights         | event_type_weights:\\n  view: 1e308\\n  cart: 1e308                  | 1: event_type_weights: the weights add up to more than a double holds
            all-zero weights         | event_type_weights:\\n  view: 0\\n  cart: 0                          | 1: event_type_weights: the weights add up to 0
            empty endpoint           | tinybird_api_endpoint: ''                                            | 1: tinybird_api_endpoint: expected the Events API URL, got nothing
            a list, not keys         | - num_customers: 5                                                   | 1: expected 'key: value' lines
            """)
    void aBadSettingsFileIsOneLineNamingFileLineAndKey(String name, String yaml, String error) throws Exception {
        Path file = tmp.resolve("settings.yaml");
        Files.writeString(file, yaml.replace("\\n", "\n") + "\n");
        Result r = run(null, "--config", file.toString(), "--count", "1");
        assertEquals(1, r.rc, r.err);
        assertEquals("e-store: " + file + ":" + error + "\n", r.err);
        assertEquals("", r.out, "nothing generated");
    }

    static String lastLine(String text) {
        List<String> lines = text.strip().lines().toList();
        return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
    }
}
