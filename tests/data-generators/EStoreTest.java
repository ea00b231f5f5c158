import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** data-generators/e-store.java: rules, mix, duplicates, seeds, pacing, shards, settings, Ctrl-C. */
class EStoreTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    /** Runs the command in-process with an empty environment (no token, no database settings). */
    Result run(String... args) {
        EStore cmd = new EStore();
        cmd.stdoutStream = null; // the output is captured through the PrintWriter
        cmd.common.config(Config.of(Map.of(), tmp, null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    // ------------------------------------------------------------------ an independent checker

    /**
     * Replays an event stream with the shop's rules, written here from the README and not from the generator:
     * a cart needs a prior view of the pair and the product not in the cart; uncart and purchase need it in the cart
     * and remove it; a purchase needs stock, takes one, and restocks to the initial level at the threshold; a return
     * needs an unreturned purchase and puts the unit back. A line with an event_id seen before is a duplicate: it must
     * repeat the first line byte for byte and changes nothing.
     */
    static final class Checker {
        final int products;
        final int[] price, stock, initial;
        final int restockThreshold;
        final Map<Long, int[]> pairs = new HashMap<>(); // [viewed, inCart, openPurchases]
        final IdMap firstLine = new IdMap(); // event_id -> hash of its first line (primitive: 1M ids in ~40 MB)
        final long[] mix = new long[5];
        long unique, duplicates, lines;
        final Set<Integer> customers = new HashSet<>();
        final List<String> violations = new ArrayList<>();
        String lastTimestamp = "";

        Checker(Shop.Catalog catalog, int[] stockShare, int restockThreshold) {
            this.products = catalog.size();
            this.price = catalog.priceCents();
            this.initial = stockShare.clone();
            this.stock = stockShare.clone();
            this.restockThreshold = restockThreshold;
        }

        static Checker forSeed(long seed, int products, int restockThreshold) {
            Shop.Catalog c = Shop.Catalog.of(seed, products);
            return new Checker(c, c.initialStock(), restockThreshold);
        }

        void violation(String s) {
            if (violations.size() < 20) violations.add(s);
        }

        void line(String line) throws IOException {
            lines++;
            JsonNode j = Json.MAPPER.readTree(line);
            String id = j.path("event_id").asText();
            java.util.UUID uuid = java.util.UUID.fromString(id);
            Integer before = firstLine.putIfAbsent(uuid.getMostSignificantBits(), uuid.getLeastSignificantBits(), line.hashCode());
            if (before != null) {
                duplicates++;
                if (before != line.hashCode()) violation("duplicate differs from its first copy: " + line);
                return;
            }
            unique++;
            int c = Integer.parseInt(j.path("customer_id").asText().substring("customer_".length()));
            int p = Integer.parseInt(j.path("product_id").asText().substring("product_".length()));
            String action = j.path("action").asText();
            String ts = j.path("timestamp").asText();
            if (!ts.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z")) violation("timestamp format: " + line);
            Instant.parse(ts);
            if (ts.compareTo(lastTimestamp) < 0) violation("time went backwards: " + line);
            lastTimestamp = ts;
            customers.add(c);
            int[] st = pairs.computeIfAbsent((long) c * products + p, k -> new int[3]);
            boolean priced = j.has("price");
            int a;
            switch (action) {
                case "view" -> {
                    a = 0;
                    st[0] = 1;
                }
                case "cart" -> {
                    a = 1;
                    if (st[0] == 0) violation("cart without a view: " + line);
                    if (st[1] == 1) violation("cart of a product already in the cart: " + line);
                    st[1] = 1;
                }
                case "uncart" -> {
                    a = 2;
                    if (st[1] == 0) violation("uncart of a product not in the cart: " + line);
                    st[1] = 0;
                }
                case "purchase" -> {
                    a = 3;
                    if (st[1] == 0) violation("purchase of a product not in the cart: " + line);
                    if (stock[p] <= 0) violation("purchase out of stock: " + line);
                    st[1] = 0;
                    st[2]++;
                    stock[p]--;
                    if (restockThreshold >= 0 && stock[p] <= restockThreshold && stock[p] < initial[p]) stock[p] = initial[p];
                }
                case "return" -> {
                    a = 4;
                    if (st[2] <= 0) violation("return without an unreturned purchase: " + line);
                    st[2]--;
                    stock[p]++;
                }
                default -> throw new AssertionError("unknown action: " + line);
            }
            mix[a]++;
            boolean wantPrice = a == 1 || a == 3 || a == 4;
            if (priced != wantPrice) violation("price present=" + priced + " for " + action + ": " + line);
            if (priced && Math.round(j.path("price").asDouble() * 100) != price[p]) violation("wrong price: " + line);
        }

        void file(Path f) throws IOException {
            try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                for (String l; (l = r.readLine()) != null; ) line(l);
            }
        }

        double pct(int action) {
            return 100.0 * mix[action] / unique;
        }
    }

    /** An open-addressing map from a UUID (two longs) to an int. */
    static final class IdMap {
        long[] hi = new long[1 << 16], lo = new long[1 << 16];
        int[] val = new int[1 << 16];
        boolean[] used = new boolean[1 << 16];
        int size;

        Integer putIfAbsent(long h, long l, int v) {
            if (size * 2 >= used.length) grow();
            int mask = used.length - 1;
            int i = (int) ((h * 0x9E3779B97F4A7C15L ^ l) >>> 20) & mask;
            while (used[i]) {
                if (hi[i] == h && lo[i] == l) return val[i];
                i = (i + 1) & mask;
            }
            used[i] = true;
            hi[i] = h;
            lo[i] = l;
            val[i] = v;
            size++;
            return null;
        }

        private void grow() {
            long[] oh = hi, ol = lo;
            int[] ov = val;
            boolean[] ou = used;
            int n = ou.length * 2;
            hi = new long[n];
            lo = new long[n];
            val = new int[n];
            used = new boolean[n];
            size = 0;
            for (int i = 0; i < ou.length; i++) if (ou[i]) putIfAbsent(oh[i], ol[i], ov[i]);
        }

        int size() {
            return size;
        }
    }

    // ------------------------------------------------------------------ tests

    @Test
    void countIsExactEvenWhenTheLastEventWouldBeDuplicated() {
        // seed 1 duplicates its 5th event: the duplicate must not push the output past --count
        for (int seed = 1; seed <= 30; seed++) {
            Result r = run("--count", "5", "--seed", Integer.toString(seed), "--duplicate-percentage", "20");
            assertEquals(0, r.rc, r.err);
            assertEquals(5, r.out.lines().count(), "seed " + seed + ":\n" + r.out);
        }
    }

    @Test
    void countTenPrintsTenEventsOnStdout() throws IOException {
        Result r = run("--count", "10");
        assertEquals(0, r.rc, r.err);
        List<String> lines = r.out.lines().toList();
        assertEquals(10, lines.size(), r.out);
        for (String l : lines) {
            JsonNode j = Json.MAPPER.readTree(l);
            assertTrue(j.path("customer_id").asText().matches("customer_\\d+"), l);
            assertTrue(j.path("product_id").asText().matches("product_\\d+"), l);
            assertTrue(j.path("event_id").asText().matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"), l);
            assertTrue(j.path("timestamp").asText().endsWith("Z"), l);
        }
        assertTrue(r.err.startsWith("e-store: sent: 10 events"), r.err);
        assertEquals(1, r.err.lines().count(), "one summary line: " + r.err);
    }

    @Test
    void rulesMixAndDuplicatesOverAMillionEvents() throws IOException {
        Path f = tmp.resolve("m.ndjson");
        Result r = run("--count", "1000000", "--seed", "42", "--out", f.toString(), "--quiet");
        assertEquals(0, r.rc, r.err);
        assertEquals("", r.out, "--out alone: nothing on stdout");
        Checker c = Checker.forSeed(42, 500, 5);
        c.file(f);
        assertEquals(List.of(), c.violations);
        assertEquals(1_000_000, c.lines);
        double[] want = {65, 15, 5, 10, 5};
        for (int a = 0; a < 5; a++) {
            assertEquals(want[a], c.pct(a), 1.0, Shop.ACTIONS[a] + " share, mix " + java.util.Arrays.toString(c.mix));
        }
        assertEquals(2.0, 100.0 * c.duplicates / c.unique, 0.1, "duplicate rate");
        // the run reports what the checker counted
        EStoreStats st = r.cmd.stats;
        assertEquals(c.unique, st.unique);
        assertEquals(c.duplicates, st.duplicates);
        for (int a = 0; a < 5; a++) assertEquals(c.mix[a], st.byAction[a]);
        assertTrue(r.err.contains(String.format(java.util.Locale.ROOT, "view %,d (", c.mix[0])), r.err);
        assertFalse(Files.exists(tmp.resolve("m.ndjson.tmp")), "the temp file was renamed");
    }

    @Test
    void otherWeightsAndDuplicatePercentageHoldToo() throws IOException {
        Path f = tmp.resolve("w.ndjson");
        Result r = run("--count", "200000", "--seed", "9", "--out", f.toString(), "--weights", "view=40,cart=25,uncart=10,purchase=15,return=10",
                "--duplicate-percentage", "7.5", "--customers", "50", "--products", "80");
        assertEquals(0, r.rc, r.err);
        Checker c = Checker.forSeed(9, 80, 5);
        c.file(f);
        assertEquals(List.of(), c.violations);
        double[] want = {40, 25, 10, 15, 10};
        for (int a = 0; a < 5; a++) assertEquals(want[a], c.pct(a), 1.0, Shop.ACTIONS[a] + " " + java.util.Arrays.toString(c.mix));
        assertEquals(7.5, 100.0 * c.duplicates / c.unique, 0.1);
        assertTrue(c.customers.size() <= 50);
    }

    @Test
    void outOfStockPurchasesBecomeViewsWithoutRestock() throws IOException {
        Path f = tmp.resolve("s.ndjson");
        Result r = run("--count", "100000", "--seed", "3", "--out", f.toString(), "--restock-threshold", "-1", "--products", "20");
        assertEquals(0, r.rc, r.err);
        Checker c = Checker.forSeed(3, 20, -1);
        c.file(f);
        assertEquals(List.of(), c.violations, "never a purchase out of stock");
        assertTrue(r.cmd.stats.fallbacks > 0, "with 20 products and no restock, stock runs out and purchases become views");
    }

    @Test
    void sameSeedAndStartTimeGiveTheSameBytes() throws IOException {
        String[] args = {"--count", "50000", "--seed", "77", "--start-time", "2026-01-01T00:00:00Z", "--out"};
        Path a = tmp.resolve("a.ndjson"), b = tmp.resolve("b.ndjson"), c = tmp.resolve("c.ndjson");
        assertEquals(0, run(concat(args, a.toString())).rc);
        assertEquals(0, run(concat(args, b.toString())).rc);
        assertEquals(-1, Files.mismatch(a, b), "same seed, same start time: identical output");
        assertEquals(0, run("--count", "50000", "--seed", "78", "--start-time", "2026-01-01T00:00:00Z", "--out", c.toString()).rc);
        assertNotEquals(-1, Files.mismatch(a, c));
        String first = Files.readAllLines(a).get(0);
        assertTrue(first.contains("\"timestamp\":\"2026-01-01T00:00:00.000000Z\""), first);
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void originalFormatHasExactlyTheFourKeys() throws IOException {
        Result r = run("--count", "200", "--format", "original", "--duplicate-percentage", "0");
        assertEquals(0, r.rc, r.err);
        for (String l : r.out.lines().toList()) {
            List<String> keys = new ArrayList<>();
            Json.MAPPER.readTree(l).fieldNames().forEachRemaining(keys::add);
            assertEquals(List.of("customer_id", "product_id", "action", "timestamp"), keys, l);
        }
        assertEquals(2, run("--format", "xml", "--count", "1").rc);
    }

    /** An option that sets a settings key is refused as any bad option is: exit 2, the option and the value named. */
    @Test
    void aBadSettingsOptionIsAUsageErrorNamingTheOption() {
        for (String[] bad : new String[][] {{"--customers", "0"}, {"--products", "lots"}, {"--db-update-interval", "10ms"},
                {"--restock-threshold", "-2"}, {"--duplicate-percentage", "101"}, {"--shard", "2/2"}, {"--eps", "0"}}) {
            Result r = run(bad[0], bad[1], "--count", "1");
            assertEquals(2, r.rc, String.join(" ", bad) + ": " + r.err);
            assertTrue(r.err.startsWith("Invalid value for option '" + bad[0] + "': ") && r.err.contains("'" + bad[1] + "'"), r.err);
            assertEquals("", r.out, "nothing generated");
        }
    }

    @Test
    void delayedDuplicatesComeLaterOutOfOrderAndNoneIsLost() throws IOException {
        Path f = tmp.resolve("d.ndjson");
        // simulated clock: one event per ms; duplicates 50 ms later
        Result r = run("--count", "20000", "--seed", "5", "--start-time", "2026-01-01T00:00:00Z", "--duplicate-delay", "50ms",
                "--duplicate-percentage", "5", "--out", f.toString());
        assertEquals(0, r.rc, r.err);
        List<String> lines = Files.readAllLines(f);
        assertEquals(20000, lines.size());
        Map<String, Integer> firstAt = new HashMap<>();
        int dups = 0, later = 0;
        for (int i = 0; i < lines.size(); i++) {
            String id = Json.MAPPER.readTree(lines.get(i)).path("event_id").asText();
            Integer at = firstAt.putIfAbsent(id, i);
            if (at != null) {
                dups++;
                assertEquals(lines.get(at), lines.get(i));
                if (i - at >= 45) later++;
            }
        }
        assertEquals(r.cmd.stats.duplicates, dups);
        assertEquals(5.0, 100.0 * dups / (lines.size() - dups), 0.1);
        assertTrue(later >= dups - 10, "duplicates arrive about 50 events later (" + later + " of " + dups + ")");
    }

    @Test
    void epsPacesExactlyOverADuration() throws IOException {
        Result r = run("--eps", "2000", "--duration", "1500ms", "--duplicate-percentage", "0", "--seed", "1");
        assertEquals(0, r.rc, r.err);
        assertEquals(3000, r.out.lines().count(), "2,000 events/s for 1.5 s");
        assertTrue(r.cmd.stats.seconds >= 1.4, "paced, not as fast as possible: " + r.cmd.stats.seconds);
    }

    @Test
    void shardsAreDisjointAndEachFollowsTheRules() throws IOException {
        int n = 3;
        Set<Integer> all = new HashSet<>();
        Set<String> ids = new HashSet<>();
        long total = 0;
        for (int i = 0; i < n; i++) {
            Path f = tmp.resolve("shard" + i + ".ndjson");
            Result r = run("--count", "60000", "--seed", "11", "--shard", i + "/" + n, "--out", f.toString(), "--customers", "100", "--products", "60");
            assertEquals(0, r.rc, r.err);
            Shop.Catalog cat = Shop.Catalog.of(11, 60);
            int[] share = new int[60];
            for (int p = 0; p < 60; p++) share[p] = cat.share(p, i, n);
            Checker c = new Checker(cat, share, 5);
            c.file(f);
            assertEquals(List.of(), c.violations, "shard " + i);
            for (int cust : c.customers) {
                assertEquals(i, cust % n, "customer " + cust + " belongs to shard " + cust % n);
                assertTrue(all.add(cust));
            }
            for (int k = 0; k < c.firstLine.used.length; k++) if (c.firstLine.used[k]) ids.add(c.firstLine.hi[k] + ":" + c.firstLine.lo[k]);
            total += c.unique;
            for (int a = 0; a < 5; a++) assertEquals(new double[] {65, 15, 5, 10, 5}[a], c.pct(a), 1.5);
        }
        assertEquals(total, ids.size(), "event ids are unique across shards");
        assertEquals(100, all.size(), "the shards together cover every customer");
        assertEquals(2, run("--shard", "3/3", "--count", "1").rc);
    }

    // ------------------------------------------------------------------ settings

    @Test
    void settingsFileOptionsOverrideAndExampleEqualsDefaults() throws IOException {
        Path yaml = tmp.resolve("s.yaml");
        Files.writeString(yaml, """
                num_customers: 7
                num_products: 3
                duplicate_data_percentage: 0
                event_type_weights:
                  view: 50
                  cart: 50
                """);
        Result r = run("--config", yaml.toString(), "--count", "3000", "--products", "4", "--seed", "1");
        assertEquals(0, r.rc, r.err);
        Set<String> cust = new HashSet<>(), prod = new HashSet<>(), actions = new HashSet<>();
        for (String l : r.out.lines().toList()) {
            JsonNode j = Json.MAPPER.readTree(l);
            cust.add(j.path("customer_id").asText());
            prod.add(j.path("product_id").asText());
            actions.add(j.path("action").asText());
        }
        assertEquals(7, cust.size());
        assertEquals(4, prod.size(), "--products overrides the file");
        assertEquals(Set.of("view", "cart"), actions, "weights absent from the file are 0");
        assertEquals(0, r.cmd.stats.duplicates);

        EStoreSettings ex = EStoreSettings.load(TestServices.repoRoot().resolve("data-generators/settings.example.yaml"));
        EStoreSettings def = new EStoreSettings();
        assertEquals(def.endpoint, ex.endpoint);
        assertEquals(def.customers, ex.customers);
        assertEquals(def.products, ex.products);
        assertEquals(def.duplicatePct, ex.duplicatePct);
        assertEquals(def.dbUpdateInterval, ex.dbUpdateInterval);
        assertEquals(def.writeToPostgres, ex.writeToPostgres);
        assertArrayEquals(def.weights, ex.weights);
        assertEquals(def.restockThreshold, ex.restockThreshold);
    }

    @Test
    void badSettingsAreOneLineNamingFileLineAndKey() throws IOException {
        Path yaml = tmp.resolve("bad.yaml");
        Files.writeString(yaml, "num_customers: 10\nnum_customer: 5\n");
        Result r = run("--config", yaml.toString(), "--count", "1");
        assertEquals(1, r.rc);
        assertEquals("e-store: " + yaml + ":2: unknown key 'num_customer' (known: " + String.join(", ", EStoreSettings.KEYS) + ")\n", r.err);

        Files.writeString(yaml, "num_products: lots\n");
        r = run("--config", yaml.toString(), "--count", "1");
        assertEquals(1, r.rc);
        assertEquals("e-store: " + yaml + ":1: num_products: expected a whole number from 1 to 1000000000, got 'lots'\n", r.err);

        Files.writeString(yaml, "event_type_weights:\n  view: 1\n  buy: 2\n");
        r = run("--config", yaml.toString(), "--count", "1");
        assertTrue(r.err.startsWith("e-store: " + yaml + ":3: event_type_weights: unknown action 'buy'"), r.err);

        Files.writeString(yaml, "write_to_postgres: maybe\n");
        r = run("--config", yaml.toString(), "--count", "1");
        assertTrue(r.err.contains(":1: write_to_postgres: expected true or false, got 'maybe'"), r.err);

        Files.writeString(yaml, "num_products: [1, 2\n");
        r = run("--config", yaml.toString(), "--count", "1");
        assertEquals(1, r.rc);
        assertTrue(r.err.startsWith("e-store: " + yaml + ":"), r.err);
        assertEquals(1, r.err.lines().count(), r.err);

        r = run("--weights", "view=1,fly=2", "--count", "1");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("unknown action 'fly'"), r.err);
        r = run("--config", tmp.resolve("missing.yaml").toString());
        assertEquals("e-store: settings file not found: " + tmp.resolve("missing.yaml") + "\n", r.err);
    }

    @Test
    void aDatasourceWithoutATokenIsAClearError() {
        Result r = run("--datasource", "estore", "--count", "1");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("needs a token"), r.err);
    }

    // ------------------------------------------------------------------ Ctrl-C

    @Test
    void sigintFlushesEverythingGeneratedAndPrintsTheSummary() throws Exception {
        stopBySignal("INT");
    }

    @Test
    void sigtermToo() throws Exception {
        stopBySignal("TERM");
    }

    void stopBySignal(String signal) throws Exception {
        Path f = tmp.resolve("int.ndjson");
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        // --duration: a safety net, the signal comes long before
        // env --default-signal (GNU coreutils): a runner started in the background by a shell ignores SIGINT, and its
        // children would inherit that; the child gets the default disposition back, so the test always runs
        List<String> cmd = List.of("env", "--default-signal=INT", javaBin, "-cp", System.getProperty("java.class.path"), "EStore",
                "--eps", "20000", "--duration", "300s", "--out", f.toString(), "--seed", "8");
        Path err = tmp.resolve("err.txt");
        Process p = new ProcessBuilder(cmd).directory(tmp.toFile()).redirectError(err.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            signalAndCheck(p, signal, f, err);
        } finally {
            p.destroyForcibly();
        }
    }

    void signalAndCheck(Process p, String signal, Path f, Path err) throws Exception {
        Path partial = tmp.resolve("int.ndjson.tmp");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline && (!Files.exists(partial) || Files.size(partial) < 200_000)) Thread.sleep(50);
        assertTrue(Files.exists(partial), "the run started");
        assertTrue(p.isAlive(), "still running");
        // the shell's own kill: no procps needed
        assertEquals(0, new ProcessBuilder("sh", "-c", "kill -" + signal + " " + p.pid()).start().waitFor());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "stopped after SIG" + signal);
        String stderr = Files.readString(err);
        assertTrue(Files.exists(f), "renamed on Ctrl-C: " + stderr);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("sent: ([0-9,]+) events").matcher(stderr);
        assertTrue(m.find(), "summary printed: " + stderr);
        long sent = Long.parseLong(m.group(1).replace(",", ""));
        Checker c = Checker.forSeed(8, 500, 5);
        c.file(f);
        assertEquals(sent, c.lines, "every event counted as sent is in the file");
        assertEquals(List.of(), c.violations);
        assertTrue(sent >= 1_000, "ran a while: " + sent);
    }
}
