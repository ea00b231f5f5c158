///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 22+
//SOURCES ../../data-generators/e-store.java
//SOURCES ../../tinybird/tinybird-emulator.java
//JAVA_OPTIONS -Xmx6g
//DESCRIPTION Benchmark of data-generators/e-store.java, with its peers, in one run (run from the checkout root):
//DESCRIPTION   ./jbang bench/e-store/EStoreBench.java [--quick]   (--quick skips the 60 s pacing run)
//DESCRIPTION 1. generation alone to /dev/null; 2. end to end into the local Tinybird emulator (wait=true, gzip,
//DESCRIPTION every event stored and counted) beside the original's way (one POST per event) and Mockingbird's way
//DESCRIPTION (one uncompressed batch per second, answer unchecked); 3. --eps 5000 --duration 60s delivered count.
//MAIN EStoreBench

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import picocli.CommandLine;

/** Prints a table: scenario, events, seconds, events/s, and the ratio to ours. */
class EStoreBench {
    record Row(String what, long events, double seconds, String note, double cpuSeconds) {
        Row(String what, long events, double seconds, String note) {
            this(what, events, seconds, note, lastCpu);
        }

        double rate() {
            return events / seconds;
        }

        /** CPU time of this JVM (generator, writer and emulator alike) per event, in microseconds. */
        String cpuPerEvent() {
            return cpuSeconds <= 0 ? "" : String.format(Locale.ROOT, "%.2f", cpuSeconds * 1e6 / events);
        }
    }

    static double lastCpu;
    static long cpuMark;

    static long cpuNanos() {
        return Cli.processCpuNanos();
    }

    static void cpuStart() {
        cpuMark = cpuNanos();
    }

    static void cpuStop() {
        lastCpu = (cpuNanos() - cpuMark) / 1e9;
    }

    static String load() {
        try {
            return java.nio.file.Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (java.io.IOException e) {
            return "?";
        }
    }

    static EStoreStats runEStore(Map<String, String> env, String... args) {
        EStore cmd = new EStore();
        cmd.stdoutStream = null; // the output is captured through the PrintWriter
        cmd.common.config(Config.of(env, Path.of("/nonexistent"), null));
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        if (rc != 0) throw new IllegalStateException("e-store failed: " + err);
        System.err.print("  " + err);
        return cmd.stats;
    }

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(args).contains("--quick");
        String loadAtStart = load();
        List<Row> gen = new ArrayList<>(), e2e = new ArrayList<>();
        System.err.println("machine: " + Runtime.getRuntime().availableProcessors() + " cores, Java " + Runtime.version());

        boolean e2eOnly = List.of(args).contains("--e2e-only");
        // 1. generation alone (a warm-up run first: JIT)
        if (!e2eOnly) {
        runEStore(Map.of(), "--count", "3000000", "--out", "/dev/null", "--seed", "1", "--quiet");
        cpuStart();
        EStoreStats g = runEStore(Map.of(), "--count", "20000000", "--out", "/dev/null", "--seed", "2", "--quiet");
        cpuStop();
        gen.add(new Row("e-store -> /dev/null (ndjson, 2% duplicates)", g.sent, g.seconds, ""));
        cpuStart();
        EStoreStats go = runEStore(Map.of(), "--count", "20000000", "--out", "/dev/null", "--seed", "3", "--format", "original", "--quiet");
        cpuStop();
        gen.add(new Row("e-store -> /dev/null (--format original)", go.sent, go.seconds, ""));
        }

        // 2. end to end into the emulator, every event stored
        try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
            String token = emu.adminToken();
            Map<String, String> env = Map.of("TINYBIRD_TOKEN", token);
            String endpoint = emu.url() + "/v0/events?name={DATASOURCE_NAME}";
            runEStore(env, "--endpoint", endpoint, "--datasource", "warmup", "--count", "300000", "--seed", "4", "--quiet");
            emu.dropDataSource("warmup");
            cpuStart();
            EStoreStats t = runEStore(env, "--endpoint", endpoint, "--datasource", "estore", "--count", "2000000", "--seed", "5", "--quiet");
            cpuStop();
            long stored = emu.rowCount("estore");
            e2e.add(new Row("e-store -> emulator (10k-row gzip batches, wait=true, 4 in flight)", stored, t.seconds,
                    String.format(Locale.ROOT, "sent %,d, stored %,d", t.sent, stored)));

            // the original's way: one POST per event, each waiting for its answer (sequential; the original's threaded
            // version was no better, about 10 events/s against the real service)
            if (!List.of(args).contains("--no-peers")) e2e.add(perEventPosts(emu, token, 5.0));
            // Mockingbird's way: whatever was generated in the last second, one uncompressed POST, answer unchecked
            if (!List.of(args).contains("--no-peers")) e2e.add(mockingbird(emu, token, 5.0));
        }

        PrintWriter out = new PrintWriter(System.out, true);
        out.println();
        out.println("load average at the start: " + loadAtStart + ", at the end: " + load() + " (2 cores; a load above 2 means other work shared them)");
        out.println();
        out.println("| generation alone | events | seconds | events/s | CPU us/event |");
        out.println("|---|---:|---:|---:|---:|");
        for (Row r : gen) out.printf(Locale.ROOT, "| %s | %,d | %.2f | %,.0f | %s |%n", r.what, r.events, r.seconds, r.rate(), r.cpuPerEvent());
        out.println();
        double ours = e2e.get(0).rate();
        out.println("| end to end into the local Tinybird emulator | events stored | seconds | events/s | ours / this | CPU us/event (client + emulator) |");
        out.println("|---|---:|---:|---:|---:|---:|");
        for (Row r : e2e) {
            out.printf(Locale.ROOT, "| %s | %,d | %.2f | %,.0f | %s | %s |%n", r.what, r.events, r.seconds, r.rate(),
                    r == e2e.get(0) ? "1" : String.format(Locale.ROOT, "%,.0f x", ours / r.rate()), r.cpuPerEvent());
        }
        for (Row r : e2e) if (!r.note.isEmpty()) out.println("  " + r.what + ": " + r.note);

        // 3. pacing: --eps 5000 --duration 60s
        if (!quick) {
            try (TinybirdEmulator emu = TinybirdEmulator.start(0)) {
                Map<String, String> env = Map.of("TINYBIRD_TOKEN", emu.adminToken());
                EStoreStats p = runEStore(env, "--endpoint", emu.url() + "/v0/events?name={DATASOURCE_NAME}", "--datasource", "paced",
                        "--eps", "5000", "--duration", "60s", "--seed", "6", "--quiet");
                long stored = emu.rowCount("paced");
                out.println();
                out.printf(Locale.ROOT, "pacing: --eps 5000 --duration 60s: sent %,d, stored in the emulator %,d (target 300,000: %+.3f %%), %.2f s%n",
                        p.sent, stored, 100.0 * (stored - 300_000) / 300_000, p.seconds);
            }
        } else {
            out.println();
            out.println("pacing: skipped (--quick)");
        }
    }

    static List<byte[]> sampleLines(int n) {
        EStore cmd = new EStore();
        cmd.stdoutStream = null; // the output is captured through the PrintWriter
        cmd.common.config(Config.of(Map.of(), Path.of("/nonexistent"), null));
        StringWriter out = new StringWriter();
        new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(new StringWriter()))
                .execute("--count", Integer.toString(n), "--seed", "9", "--quiet");
        List<byte[]> l = new ArrayList<>();
        for (String s : out.toString().split("\n")) l.add(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return l;
    }

    static Row perEventPosts(TinybirdEmulator emu, String token, double seconds) throws Exception {
        List<byte[]> lines = sampleLines(200_000);
        HttpClient http = HttpClient.newHttpClient();
        cpuStart();
        URI uri = URI.create(emu.url() + "/v0/events?name=per_event&wait=true");
        long t0 = System.nanoTime(), end = t0 + (long) (seconds * 1e9), n = 0;
        while (System.nanoTime() < end && n < lines.size()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(lines.get((int) n))).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 429) { // the workspace's 1,000 requests/s limit: wait as told, send again
                long wait = r.headers().firstValueAsLong("Retry-After").orElse(1);
                Thread.sleep(Math.max(1, wait) * 1000);
                continue;
            }
            if (r.statusCode() / 100 != 2) throw new IllegalStateException("per-event POST: " + r.statusCode());
            n++;
        }
        double s = (System.nanoTime() - t0) / 1e9;
        cpuStop();
        return new Row("original's way: one POST per event (wait=true, sequential)", emu.rowCount("per_event"), s, "");
    }

    static Row mockingbird(TinybirdEmulator emu, String token, double seconds) throws Exception {
        // Mockingbird generates what it can between sends and posts it once a second; its generator is much slower
        // than ours, so this is a generous version: our generator feeds it.
        List<byte[]> lines = sampleLines(1_000_000);
        HttpClient http = HttpClient.newHttpClient();
        cpuStart();
        URI uri = URI.create(emu.url() + "/v0/events?name=mockingbird");
        long t0 = System.nanoTime(), end = t0 + (long) (seconds * 1e9);
        int i = 0;
        List<java.util.concurrent.CompletableFuture<HttpResponse<Void>>> sent = new ArrayList<>();
        while (System.nanoTime() < end && i < lines.size()) {
            long tick = System.nanoTime() + 1_000_000_000L;
            java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
            // one second's worth at the rate Mockingbird is usually run at in demos (its default: 1 batch of eps events)
            int batch = Math.min(lines.size() - i, 10_000);
            for (int k = 0; k < batch; k++) {
                body.write(lines.get(i++));
                body.write('\n');
            }
            sent.add(http.sendAsync(HttpRequest.newBuilder(uri).header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(), HttpResponse.BodyHandlers.discarding()));
            long wait = tick - System.nanoTime();
            if (wait > 0) Thread.sleep(wait / 1_000_000L);
        }
        for (var f : sent) f.join(); // (Mockingbird never looks at the answer; we wait so the count is final)
        double s = (System.nanoTime() - t0) / 1e9;
        cpuStop();
        return new Row("Mockingbird's way: 1 batch/s of 10,000 (no gzip, no wait, answer unchecked)", emu.rowCount("mockingbird"), s, "");
    }
}
