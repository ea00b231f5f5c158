///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 22+
//SOURCES ../../lib/Tinybird.java
//SOURCES ../../lib/TinybirdApiException.java
//SOURCES ../../lib/TinybirdClient.java
//SOURCES ../../lib/TinybirdNet.java
//SOURCES ../../lib/TinybirdOptions.java
//SOURCES ../../lib/TinybirdRowScanner.java
//SOURCES ../../lib/TinybirdRows.java
//SOURCES ../../lib/TinybirdWriter.java
//SOURCES ../../lib/TinybirdWriterSettings.java
//SOURCES ../../tinybird/tinybird-emulator.java
//JAVA_OPTIONS -Xmx2g
//DESCRIPTION Benchmark: the Tinybird emulator's ingest rate and the Events API writer end to end, with peers.
//DESCRIPTION ./jbang bench/tinybird/bench.java [--rows N] [--python-rows N]
//MAIN TinybirdBench

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "tinybird-bench", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class,
        description = "Measures the emulator's NDJSON ingest (gzip, wait=true) and the Events API writer end to end, "
                + "beside the original's approach (Python requests, one POST per event) and a batching Python client.")
class TinybirdBench implements Callable<Integer> {
    @Option(names = "--rows", description = "Rows for the Java measurements (default: ${DEFAULT-VALUE}).")
    int rows = 2_000_000;

    @Option(names = "--python-rows", description = "Rows for the Python peers (default: ${DEFAULT-VALUE}).")
    int pythonRows = 3_000;

    @Option(names = "--batch", description = "Rows per request (default: ${DEFAULT-VALUE}).")
    int batch = 10_000;

    @Option(names = "--clients", description = "Concurrent requests for the raw ingest run (default: ${DEFAULT-VALUE}).")
    int clients = 4;

    public static void main(String[] args) {
        System.exit(new CommandLine(new TinybirdBench()).execute(args));
    }

    record Line(String name, long rows, double seconds, double cpuSeconds, String note) {}

    /** CPU time of this JVM (all threads: emulator and client side alike), in seconds. */
    static double cpu() {
        return Cli.processCpuNanos() / 1e9;
    }

    static final String[] ACTIONS = {"view", "view", "view", "cart", "purchase", "uncart", "return"};

    /** An e-store event as one NDJSON line (StringBuilder, not String.format: the generator must not be the bottleneck). */
    static byte[] event(SplittableRandom r, long i) {
        StringBuilder sb = new StringBuilder(160);
        sb.append("{\"customer_id\":\"customer_").append(r.nextInt(500)).append("\",\"product_id\":\"product_").append(r.nextInt(500))
                .append("\",\"action\":\"").append(ACTIONS[r.nextInt(ACTIONS.length)]).append("\",\"timestamp\":\"2024-09-06T14:");
        two(sb, r.nextInt(60)).append(':');
        two(sb, r.nextInt(60)).append('.');
        String us = Integer.toString(1_000_000 + r.nextInt(1_000_000));
        sb.append(us, 1, 7).append("\",\"seq\":").append(i).append('}');
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    static StringBuilder two(StringBuilder sb, int v) {
        if (v < 10) sb.append('0');
        return sb.append(v);
    }

    static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos) { { def.setLevel(Deflater.BEST_SPEED); } }) {
            gz.write(b);
        }
        return bos.toByteArray();
    }

    @Override
    public Integer call() throws Exception {
        List<Line> out = new ArrayList<>();
        System.out.printf(Locale.ROOT, "machine: %d cores, Java %s, load average at the start %.2f%n", Runtime.getRuntime().availableProcessors(),
                Runtime.version(), java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());

        // 1. emulator ingest: pre-built gzip NDJSON bodies, posted by several clients
        int nBodies = Math.max(1, rows / batch);
        List<byte[]> bodies = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(7);
        long raw = 0;
        long seq = 0;
        for (int b = 0; b < Math.min(nBodies, 20); b++) {
            ByteArrayOutputStream bos = new ByteArrayOutputStream();
            for (int i = 0; i < batch; i++) {
                bos.write(event(r, seq++));
                bos.write('\n');
            }
            raw += bos.size();
            bodies.add(gzip(bos.toByteArray()));
        }
        double rawPerBody = (double) raw / bodies.size();
        for (int pass = 0; pass < 3; pass++) {
            boolean warmUp = pass == 0, store = pass != 2;
            int bodiesNow = warmUp ? Math.min(nBodies, 40) : nBodies; // the first pass warms up the JIT
            try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).storeRows(store).start()) {
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                String url = emu.url() + "/v0/events?name=bench&wait=true&format=ndjson";
                String token = emu.adminToken();
                AtomicInteger next = new AtomicInteger();
                // warm-up
                post(http, url, token, bodies.get(0));
                double c0 = cpu();
                long t0 = System.nanoTime();
                ExecutorService pool = Executors.newFixedThreadPool(clients);
                List<Future<?>> fs = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    fs.add(pool.submit(() -> {
                        int i;
                        while ((i = next.getAndIncrement()) < bodiesNow) post(http, url, token, bodies.get(i % bodies.size()));
                        return null;
                    }));
                }
                for (Future<?> f : fs) f.get();
                pool.shutdown();
                double s = (System.nanoTime() - t0) / 1e9;
                long stored = emu.rowCount("bench") - batch;
                if (stored != (long) bodiesNow * batch) throw new IllegalStateException("emulator stored " + stored + " rows, expected " + (long) bodiesNow * batch);
                if (warmUp) continue;
                out.add(new Line("emulator ingest, gzip NDJSON, " + clients + " clients" + (store ? ", rows kept" : ", rows counted only"),
                        (long) nBodies * batch, s, cpu() - c0, String.format(Locale.ROOT, "%.0f MB/s raw NDJSON", nBodies * rawPerBody / s / 1e6)));
            }
        }

        // 2. the writer end to end: Map rows -> Jackson -> batches -> gzip -> emulator (wait=true)
        for (String kind : new String[] {"Map", "pre-serialised bytes"}) {
            try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).storeRows(false).start();
                 TinybirdClient client = new TinybirdClient(emu.url(), emu.adminToken())) {
                SplittableRandom rr = new SplittableRandom(11);
                double c0 = cpu();
                long t0 = System.nanoTime();
                TinybirdWriter.Stats st;
                try (TinybirdWriter w = client.writer("events", new TinybirdWriterSettings().maxRows(batch))) {
                    String[] actions = {"view", "view", "view", "cart", "purchase", "uncart", "return"};
                    for (long i = 0; i < rows; i++) {
                        if (kind.equals("Map")) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("customer_id", "customer_" + rr.nextInt(500));
                            m.put("product_id", "product_" + rr.nextInt(500));
                            m.put("action", actions[rr.nextInt(actions.length)]);
                            m.put("timestamp", "2024-09-06T14:53:25.123456");
                            m.put("seq", i);
                            w.append(m);
                        } else {
                            w.append(event(rr, i));
                        }
                    }
                    w.close();
                    st = w.stats();
                }
                double s = (System.nanoTime() - t0) / 1e9;
                if (st.acknowledged() != rows || emu.rowCount("events") != rows) throw new IllegalStateException("writer: " + st);
                out.add(new Line("TinybirdWriter end to end (" + kind + " rows, gzip, wait=true)", rows, s, cpu() - c0,
                        String.format(Locale.ROOT, "%d requests, %.1f MB sent", st.requests(), st.bytesSent() / 1e6)));
            }
        }

        // 3. peers: Python requests, the original's one POST per event, and a batching client (gzip NDJSON, 10k rows)
        boolean python = TestLikeTools.onPath("python3") && TestLikeTools.pythonHasRequests();
        if (python) {
            try (TinybirdEmulator emu = new TinybirdEmulator().port(0).rateLimit(0).storeRows(false).start()) {
                for (String mode : new String[] {"per-event", "batched"}) {
                    int n = mode.equals("per-event") ? pythonRows : Math.max(pythonRows, rows / 4);
                    Path script = Files.createTempFile("tb-peer", ".py");
                    Files.writeString(script, PYTHON);
                    double c0 = cpu();
                    Process p = new ProcessBuilder("python3", script.toString(), emu.url(), emu.adminToken(), mode, Integer.toString(n),
                            Integer.toString(batch)).redirectErrorStream(true).start();
                    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                    p.waitFor();
                    Files.deleteIfExists(script);
                    String[] parts = text.split("\\s+");
                    double secs = Double.parseDouble(parts[parts.length - 2]);
                    double pyCpu = Double.parseDouble(parts[parts.length - 1]);
                    double emuCpu = cpu() - c0;
                    long stored = emu.rowCount("py_" + mode.replace('-', '_'));
                    if (stored != n) throw new IllegalStateException("python " + mode + ": stored " + stored + " of " + n + ": " + text);
                    out.add(new Line(mode.equals("per-event") ? "peer: Python requests, one POST per event (the original)"
                            : "peer: Python requests, gzip NDJSON batches of " + batch + " (1 connection)", n, secs, pyCpu + emuCpu,
                            String.format(Locale.ROOT, "CPU: Python %.2f s + emulator %.2f s", pyCpu, emuCpu)));
                }
            }
        } else {
            System.err.println("python3 with requests not found: the Python peers are left out");
        }

        double writer = out.stream().filter(l -> l.name.startsWith("TinybirdWriter") && l.name.contains("Map")).findFirst().map(l -> l.rows / l.seconds).orElse(1.0);
        System.out.printf(Locale.ROOT, "%-76s %11s %8s %12s %9s %8s %13s  %s%n", "run", "rows", "seconds", "rows/s", "vs writer",
                "CPU s", "rows/CPU-s", "note");
        for (Line l : out) {
            System.out.printf(Locale.ROOT, "%-76s %,11d %8.2f %,12.0f %8.2fx %8.2f %,13.0f  %s%n", l.name, l.rows, l.seconds, l.rows / l.seconds,
                    l.rows / l.seconds / writer, l.cpuSeconds, l.rows / l.cpuSeconds, l.note);
        }
        System.out.printf(Locale.ROOT, "load average at the end: %.2f (2 cores; other work on the machine slows every row above alike)%n",
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        return 0;
    }

    static void post(HttpClient http, String url, String token, byte[] body) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + token)
                .header("Content-Encoding", "gzip").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IOException("HTTP " + r.statusCode() + ": " + r.body());
    }

    static final class TestLikeTools {
        static boolean onPath(String exe) {
            for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
                if (Files.isExecutable(Path.of(d, exe))) return true;
            }
            return false;
        }

        static boolean pythonHasRequests() {
            try {
                return new ProcessBuilder("python3", "-c", "import requests").start().waitFor() == 0;
            } catch (IOException | InterruptedException e) {
                return false;
            }
        }
    }

    static final String PYTHON = """
            import gzip, json, random, sys, time
            import requests
            url, token, mode, n, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
            rnd = random.Random(7)
            actions = ["view", "view", "view", "cart", "purchase", "uncart", "return"]
            def event(i):
                return {"customer_id": f"customer_{rnd.randrange(500)}", "product_id": f"product_{rnd.randrange(500)}",
                        "action": rnd.choice(actions), "timestamp": "2024-09-06T14:53:25.123456", "seq": i}
            headers = {"Authorization": f"Bearer {token}"}
            t0 = time.perf_counter()
            if mode == "per-event":
                # the original: requests.post per event, no session, no batching
                for i in range(n):
                    r = requests.post(f"{url}/v0/events?name=py_per_event", data=json.dumps(event(i)), headers=headers)
                    r.raise_for_status()
            else:
                s = requests.Session()
                for start in range(0, n, batch):
                    body = "\\n".join(json.dumps(event(i)) for i in range(start, min(n, start + batch))).encode()
                    r = s.post(f"{url}/v0/events?name=py_batched&wait=true", data=gzip.compress(body, 1),
                               headers={**headers, "Content-Encoding": "gzip"})
                    r.raise_for_status()
            print(f"{time.perf_counter() - t0:.3f} {time.process_time():.3f}")
            """;
}
