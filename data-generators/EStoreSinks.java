/*
 * The sinks: where the generated lines go. stdout, a file, the Tinybird Events API (the PostgreSQL one is
 * PgInventorySink). Each takes whole batches from the generator thread and counts what it delivered.
 * Why here: each has its own failure rules (a reader gone, a full disk, a silent host) that the script need not show.
 * Invariant: delivered() counts only what reached its destination (written, or acknowledged by Tinybird), never
 * what was merely handed over.
 */
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

final class EStoreSinks {
    private EStoreSinks() {}

    /** Where events go. accept() is called from the generator thread only. */
    interface Sink extends AutoCloseable {
        String name();

        void accept(EStoreEvent.Batch b) throws Exception;

        /** Called when the generator waits (pacing): push out what is buffered. */
        default void idle() throws Exception {}

        /** Called after every batch with the clock: periodic work (PostgreSQL intervals). */
        default void tick(long nowNanos, long clockMicros) throws Exception {}

        /** Flushes everything and releases resources. */
        @Override
        void close() throws Exception;

        long delivered();

        default long failed() {
            return 0;
        }
    }

    /** NDJSON to the command's stdout. */
    static final class StdoutSink implements Sink {
        final PrintWriter writer;
        final OutputStream stream;
        long delivered;

        StdoutSink(PrintWriter writer, OutputStream stream) {
            this.writer = writer;
            this.stream = stream;
        }

        public String name() {
            return "stdout";
        }

        /** Set when the reader went away (e.g. {@code | head}): the run stops quietly, as other command-line tools do. */
        Runnable onClosed = () -> {};
        boolean gone;

        public void accept(EStoreEvent.Batch b) throws IOException {
            if (gone) return;
            if (stream != null) {
                try {
                    stream.write(b.bytes.a, 0, b.bytes.len);
                } catch (IOException e) {
                    failed(e);
                    return;
                }
            } else {
                writer.write(new String(b.bytes.a, 0, b.bytes.len, StandardCharsets.ISO_8859_1));
                // picocli's default writer wraps System.out, a PrintStream that keeps write errors to itself
                if (writer.checkError() || System.out.checkError()) {
                    gone = true;
                    onClosed.run();
                    return;
                }
            }
            delivered += b.n;
        }

        public void idle() throws IOException {
            if (gone) return;
            if (stream == null) {
                writer.flush();
                return;
            }
            try {
                stream.flush();
            } catch (IOException e) {
                failed(e);
            }
        }

        /** The reader went away (EPIPE): stop quietly. Anything else (a full disk under {@code > FILE}) is an error. */
        private void failed(IOException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("Broken pipe") || m.contains("Connection reset")) {
                gone = true;
                onClosed.run();
                return;
            }
            throw new Cli.Failure("cannot write " + describe() + ": " + m, e);
        }

        /** "stdout", with the file it was sent to when that is a file (> FILE). */
        private String describe() {
            try {
                if (stream instanceof FileOutputStream f && f.getFD() == java.io.FileDescriptor.out) {
                    Path real = Path.of("/proc/self/fd/1").toRealPath();
                    if (Files.isRegularFile(real)) return "stdout (" + real + ")";
                }
            } catch (IOException | RuntimeException e) {
                // no /proc: the plain name
            }
            return "stdout";
        }

        public void close() throws IOException {
            idle();
        }

        public long delivered() {
            return delivered;
        }
    }

    /**
     * NDJSON to a file: FILE.tmp, renamed to FILE only once every byte is written and forced to disk, so FILE never
     * holds a cut line; after a failed write the temp file is deleted and FILE is left as it was. A device such as
     * /dev/null is written directly.
     */
    static final class FileSink implements Sink {
        final Path target, tmp;
        final FileChannel ch;
        long delivered;
        private boolean broken, closed;

        FileSink(Path target) {
            this.target = target;
            boolean special = Files.exists(target) && !Files.isRegularFile(target);
            this.tmp = special ? null : target.resolveSibling(target.getFileName() + ".tmp");
            try {
                this.ch = special ? FileChannel.open(target, StandardOpenOption.WRITE)
                        : FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
            } catch (IOException e) {
                throw failure(target, e);
            }
        }

        public String name() {
            return target.toString();
        }

        public void accept(EStoreEvent.Batch b) {
            if (broken) return;
            try {
                ByteBuffer buf = ByteBuffer.wrap(b.bytes.a, 0, b.bytes.len);
                while (buf.hasRemaining()) ch.write(buf);
            } catch (IOException e) {
                broken = true;
                discard();
                throw failure(target, e);
            }
            delivered += b.n;
        }

        public void close() {
            if (closed) return;
            closed = true;
            if (broken) return; // already discarded, and the failure already reported
            try {
                if (tmp != null) ch.force(true); // on disk before the name says the file is complete
                ch.close();
                if (tmp != null) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    syncFolder(target);
                }
            } catch (IOException e) {
                broken = true;
                discard();
                throw failure(target, e);
            }
        }

        /** The temp file goes; nothing under the final name was touched. */
        private void discard() {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the write already failed; the file is deleted below
            }
            delivered = 0;
            if (tmp == null) return;
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do: FILE itself was never written
            }
        }

        /** Makes the rename itself durable (best effort: not every file system lets a folder be forced). */
        private static void syncFolder(Path file) {
            Path dir = file.toAbsolutePath().getParent();
            if (dir == null) return;
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException ignored) {
                // the file itself is on disk; only the folder entry may still be in the page cache
            }
        }

        static Cli.Failure failure(Path file, IOException e) {
            String why = e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null ? fse.getReason()
                    : e instanceof java.nio.file.NoSuchFileException ? "no such folder"
                    : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
            return new Cli.Failure("cannot write " + file + ": " + why, e);
        }

        public long delivered() {
            return delivered;
        }
    }

    /**
     * The Tinybird Events API through lib/Tinybird's writer (batches of up to 10,000 rows / 4 MB or 1 s, gzip,
     * wait=true, retries with backoff, accounting): one writer per data source, every event to each.
     */
    static final class TinybirdSink implements Sink {
        final List<TinybirdClient> clients = new ArrayList<>();
        final List<TinybirdWriter> writers = new ArrayList<>();
        final List<TinybirdWriter.Stats> finalStats = new ArrayList<>();

        TinybirdSink(List<Tinybird.Endpoint> endpoints, String token, TinybirdWriterSettings settings, TinybirdNet net) {
            Map<String, TinybirdClient> byHost = new LinkedHashMap<>();
            for (Tinybird.Endpoint ep : endpoints) {
                TinybirdClient c = byHost.computeIfAbsent(ep.host(), h -> new TinybirdClient(h, token, net));
                writers.add(c.writer(ep.datasource(), settings));
            }
            clients.addAll(byHost.values());
        }

        /** The longest a check before generating may take per data source (the connect and read timeouts are capped to it). */
        static final java.time.Duration PREFLIGHT = Timeouts.SLOW;

        /**
         * Before anything is generated, for each data source: its schema is read (GET /v0/datasources/NAME); a data
         * source that lacks a field of the event is one line saying what to add, a missing one is created from the
         * event's definition (explicit types and jsonpaths). Then one POST of an empty body to the Events API, which
         * appends nothing: a refused token (401, 403: not valid here, no DATASOURCES:APPEND, or a missing data source
         * it may not create), a wrong region, a host that does not connect or does not answer is one line, thrown.
         * Any other answer (2xx, 400 for the empty body, 429, 5xx) shows a host that answers and a token it accepts;
         * the writer's retries deal with the rest. A token that may not read the schema skips that part.
         */
        static void preflight(List<Tinybird.Endpoint> endpoints, String token, TinybirdNet net, EStoreEvent.Field[] fields,
                java.util.function.Consumer<String> note) {
            java.time.Duration connect = min(net.connectTimeout(), PREFLIGHT), read = min(net.readTimeout(), PREFLIGHT);
            TinybirdNet quick = new TinybirdNet(connect, read, net.caFile(), net.ssl());
            for (Tinybird.Endpoint ep : endpoints) {
                try (TinybirdClient c = new TinybirdClient(ep.host(), token, quick)) {
                    String ds = ep.datasource();
                    String scope = "DATASOURCES:APPEND on " + ds + " (and DATASOURCES:CREATE while it does not exist)";
                    java.net.http.HttpResponse<String> r = send(c, c.request("/v0/datasources/" + TinybirdClient.enc(ds)).GET().build(),
                            "GET /v0/datasources/" + ds, connect, read);
                    if (r.statusCode() == 200) {
                        checkColumns(ds, r.body(), fields);
                    } else if (r.statusCode() == 404 && !r.body().toLowerCase(Locale.ROOT).contains("region")) {
                        String what = "POST /v0/datasources?name=" + ds + " (created from the event's definition)";
                        java.net.http.HttpResponse<String> created = send(c, c.request("/v0/datasources?mode=create&format=ndjson&name="
                                + TinybirdClient.enc(ds) + "&schema=" + TinybirdClient.enc(schema(fields)))
                                .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), what, connect, read);
                        if (created.statusCode() / 100 == 2) note.accept("created Tinybird data source " + ds + " from the event's definition");
                        // else (no DATASOURCES:CREATE for this API, a race): the Events API request below says what the token may do
                    }
                    String what = "POST /v0/events?name=" + ds + " (an empty request, before generating)";
                    r = send(c, c.request("/v0/events?name=" + TinybirdClient.enc(ds) + "&wait=true&format=ndjson")
                            .header("Content-Type", "application/x-ndjson")
                            .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), what, connect, read);
                    int code = r.statusCode();
                    if (code == 401 || code == 403 || code == 404) throw TinybirdApiException.of(c.shownHost(), code, r.body(), what, scope);
                }
            }
        }

        /** The Tinybird schema of the fields: {@code `name` Type `json:$.name`, ...}. */
        static String schema(EStoreEvent.Field[] fields) {
            StringBuilder sb = new StringBuilder();
            for (EStoreEvent.Field f : fields) {
                sb.append(sb.length() == 0 ? "" : ", ").append('`').append(f.name()).append("` ").append(f.tbType())
                        .append(" `json:$.").append(f.name()).append('`');
            }
            return sb.toString();
        }

        /** A data source without a column for each field would drop the field's values: one line saying what to add. */
        static void checkColumns(String ds, String body, EStoreEvent.Field[] fields) {
            java.util.Set<String> have = new java.util.HashSet<>();
            try {
                for (com.fasterxml.jackson.databind.JsonNode col : Json.MAPPER.readTree(body).path("schema").path("columns")) {
                    have.add(col.path("name").asText());
                }
            } catch (IOException notJson) {
                return; // not the answer we know: nothing to compare
            }
            if (have.isEmpty()) return;
            List<EStoreEvent.Field> missing = new ArrayList<>();
            for (EStoreEvent.Field f : fields) if (!have.contains(f.name())) missing.add(f);
            if (missing.isEmpty()) return;
            throw new Cli.Failure("Tinybird data source " + ds + " has no column for " + String.join(", ", missing.stream().map(EStoreEvent.Field::name).toList())
                    + " (a field of EStoreEvent.java): add " + schema(missing.toArray(new EStoreEvent.Field[0])) + " to its schema and deploy,"
                    + " or send to a new data source (--datasource NEW: e-store creates it)");
        }

        /** One request of the check: a dropped connection is tried again while PREFLIGHT lasts; no answer is one line. */
        private static java.net.http.HttpResponse<String> send(TinybirdClient c, java.net.http.HttpRequest req, String what,
                java.time.Duration connect, java.time.Duration read) {
            long deadline = System.nanoTime() + PREFLIGHT.toNanos();
            for (int attempt = 1; ; attempt++) {
                try {
                    return c.http().send(req, java.net.http.HttpResponse.BodyHandlers.ofString());
                } catch (java.net.http.HttpConnectTimeoutException e) {
                    throw new Cli.Failure(Config.redact("cannot reach Tinybird at " + c.shownHost() + ": no connection within "
                            + Timeouts.human(connect) + " (--connect-timeout)"));
                } catch (java.net.http.HttpTimeoutException e) {
                    throw new Cli.Failure(Config.redact("Tinybird at " + c.shownHost() + " does not answer: nothing within "
                            + Timeouts.human(read) + " (--read-timeout) to " + what));
                } catch (IOException e) {
                    if (c.permanent(e) != null || System.nanoTime() - deadline > 0 || attempt >= 5) throw c.unreachable(what, e);
                    try {
                        Thread.sleep(200L * attempt);
                    } catch (InterruptedException stop) {
                        Thread.currentThread().interrupt();
                        throw c.unreachable(what, e);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new Cli.Failure("stopped while checking Tinybird at " + c.shownHost());
                }
            }
        }

        private static java.time.Duration min(java.time.Duration a, java.time.Duration b) {
            return a.compareTo(b) <= 0 ? a : b;
        }

        /** Stops waiting for Tinybird (see TinybirdWriter#abandon): what has no answer yet counts as not acknowledged. */
        void abandon() {
            for (TinybirdWriter w : writers) w.abandon();
        }

        /** What the writers wait for (the first that waits), or null. */
        String status() {
            for (TinybirdWriter w : writers) {
                String st = w.status();
                if (st != null) return w.datasource() + ": " + st;
            }
            return null;
        }

        /**
         * Twice a second the progress line takes the events delivered (its count and rate), the events generated and
         * what the writers wait for; and (unless quiet) the start of each wait and its end are a line each, so a silent
         * host is never silence.
         */
        java.util.concurrent.ScheduledExecutorService statusTicker(Cli.Progress progress, java.util.function.LongSupplier delivered,
                java.util.function.LongSupplier generated, boolean quiet, boolean verbose, java.util.function.Consumer<String> note) {
            java.util.concurrent.ScheduledExecutorService ex = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "e-store-status");
                t.setDaemon(true);
                return t;
            });
            boolean[] waiting = {false};
            ex.scheduleWithFixedDelay(() -> {
                try {
                    String status = status();
                    progress.set(delivered.getAsLong());
                    progress.status(String.format(Locale.ROOT, "%,d generated", generated.getAsLong()) + (status == null ? "" : "; " + status));
                    if (quiet) return;
                    // with --verbose every retry is a line already; a request that just hangs is not a retry
                    boolean retryLines = verbose && status != null && status.contains(", attempt ");
                    if (status != null && !waiting[0] && !retryLines) note.accept("tinybird " + status);
                    else if (status == null && waiting[0]) note.accept("tinybird answers again");
                    waiting[0] = status != null;
                } catch (RuntimeException e) {
                    // the ticker must keep going; the writers report their errors themselves
                }
            }, 500, 500, java.util.concurrent.TimeUnit.MILLISECONDS);
            return ex;
        }

        /** The reason of the first writer that stopped (an error no retry fixes, a refused token, giving up), as one line. */
        void throwIfFailed() {
            for (TinybirdWriter w : writers) {
                if (w.fatal() != null) w.throwIfFailed();
            }
        }

        public String name() {
            return "tinybird";
        }

        public void accept(EStoreEvent.Batch b) {
            byte[] a = b.bytes.a;
            for (TinybirdWriter w : writers) {
                int start = 0;
                for (int i = 0; i < b.n; i++) {
                    int end = b.end[i];
                    w.appendLine(a, start, end - start);
                    start = end;
                }
            }
        }

        public void close() {
            try {
                for (TinybirdWriter w : writers) w.close();
            } finally {
                for (TinybirdWriter w : writers) finalStats.add(w.stats());
                for (TinybirdClient c : clients) c.close();
            }
        }

        List<TinybirdWriter.Stats> stats() {
            if (!finalStats.isEmpty()) return finalStats;
            List<TinybirdWriter.Stats> l = new ArrayList<>();
            for (TinybirdWriter w : writers) l.add(w.stats());
            return l;
        }

        public long delivered() {
            long min = Long.MAX_VALUE;
            for (TinybirdWriter.Stats st : stats()) min = Math.min(min, st.acknowledged() + st.quarantined());
            return min == Long.MAX_VALUE ? 0 : min;
        }

        public long failed() {
            long f = 0;
            for (TinybirdWriter.Stats st : stats()) f += st.failed();
            return f;
        }

        List<String> lines() {
            List<String> out = new ArrayList<>();
            List<TinybirdWriter.Stats> sts = stats();
            for (int i = 0; i < sts.size(); i++) {
                TinybirdWriter.Stats st = sts.get(i);
                String line = String.format(Locale.ROOT, "tinybird %s: %,d stored, %,d quarantined, %,d failed (not acknowledged)",
                        writers.get(i).datasource(), st.acknowledged(), st.quarantined(), st.failed());
                if (st.pending() > 0) line += String.format(Locale.ROOT, ", %,d without an answer yet", st.pending());
                line += String.format(Locale.ROOT, ", %,d requests, %,d retries", st.requests(), st.retries());
                if (st.unknownOutcomes() > 0) {
                    line += String.format(Locale.ROOT, ", %,d unknown-outcome attempts (up to %,d rows may be stored twice, or stored though counted failed)",
                            st.unknownOutcomes(), st.unknownOutcomeRows());
                }
                if (st.firstError() != null) line += " (first error: " + st.firstError() + ")";
                out.add(line);
            }
            return out;
        }
    }
}
