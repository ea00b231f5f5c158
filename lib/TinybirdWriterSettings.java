//SOURCES Cli.java
//SOURCES Timeouts.java

import java.time.Duration;
import java.util.function.LongConsumer;

import picocli.CommandLine.Option;

/**
 * The Events API writer's knobs: fluent settings for code ({@code new TinybirdWriterSettings().maxRows(10_000)}) and
 * {@link Options}, the picocli mixin that fills them from a script's command line
 * ({@code @Mixin TinybirdWriterSettings.Options wo;} then {@code client.writer(ds, wo.settings())}).
 *
 * <p>Why apart from the writer: a reader tuning a batch size should not have to page through the retry loop.
 * Invariant: the defaults keep a request well under Tinybird's 10 MB limit and wait for the write (wait=true), so
 * "acknowledged" means stored unless the user asks otherwise.
 */
public final class TinybirdWriterSettings {
    int maxRows = 10_000;
    long maxBytes = 4_000_000;
    Duration linger = Duration.ofSeconds(1);
    boolean gzip = true;
    boolean waitForAck = true;
    int inFlight = 4;
    int queuedBatches = 4;
    int maxAttempts; // 0: no limit, retryFor decides
    Duration retryFor = Timeouts.RETRY_FOR;
    java.util.function.Consumer<String> onNotice;
    Duration backoffBase = Duration.ofMillis(200);
    Duration backoffCap = Duration.ofSeconds(3);
    Duration maxRetryWait = Duration.ofSeconds(60);
    Duration requestTimeout;
    boolean failFast = true;
    LongConsumer onAcknowledged;

    /** TinybirdRows per request (default 10,000). */
    public TinybirdWriterSettings maxRows(int n) { if (n < 1) throw Cli.usage("batch rows must be >= 1"); maxRows = n; return this; }
    /** Uncompressed NDJSON bytes per request (default 4 MB, well under the 10 MB limit). */
    public TinybirdWriterSettings maxBytes(long n) { if (n < 1) throw Cli.usage("batch bytes must be >= 1"); maxBytes = n; return this; }
    /** Longest a row waits for its batch to fill (default 1 s). */
    public TinybirdWriterSettings linger(Duration d) { linger = d; return this; }
    public TinybirdWriterSettings gzip(boolean b) { gzip = b; return this; }
    /** wait=true (default): the answer comes once the rows are stored. */
    public TinybirdWriterSettings waitForAck(boolean b) { waitForAck = b; return this; }
    /** Concurrent requests (default 4). */
    public TinybirdWriterSettings inFlight(int n) { if (n < 1) throw Cli.usage("in-flight requests must be >= 1"); inFlight = n; return this; }
    /** Sealed batches that may wait for a free request slot (default 4). */
    public TinybirdWriterSettings queuedBatches(int n) { queuedBatches = Math.max(0, n); return this; }
    /** Attempts per batch, the first included (default: no limit, retryFor decides); 0: no limit. */
    public TinybirdWriterSettings maxAttempts(int n) { maxAttempts = Math.max(0, n); return this; }
    /** Give up once no request has succeeded for this long while retrying (default 2 minutes). */
    public TinybirdWriterSettings retryFor(Duration d) { retryFor = Timeouts.positive("--retry-for", d); return this; }
    /** Called (from a sender thread) with a line, already redacted, for every retry and when the host answers again. */
    public TinybirdWriterSettings onNotice(java.util.function.Consumer<String> c) { onNotice = c; return this; }
    public TinybirdWriterSettings backoff(Duration base, Duration cap) { backoffBase = base; backoffCap = cap; return this; }
    /** Longest honoured Retry-After (default 60 s). */
    public TinybirdWriterSettings maxRetryWait(Duration d) { maxRetryWait = d; return this; }
    /** Per-request timeout (default: the client's read timeout, 30 s). */
    public TinybirdWriterSettings requestTimeout(Duration d) { requestTimeout = d; return this; }
    public TinybirdWriterSettings failFast(boolean b) { failFast = b; return this; }
    /** Called (from a sender thread) with the number of rows of each acknowledged request. */
    public TinybirdWriterSettings onAcknowledged(LongConsumer c) { onAcknowledged = c; return this; }

    /**
     * Events API writer options for scripts: {@code @Mixin TinybirdWriterSettings.Options wo;} then
     * {@code client.writer(ds, wo.settings())}.
     */
    public static final class Options {
        @Option(names = "--batch-rows", paramLabel = "N", converter = CliTypes.PositiveInt.class, description = "TinybirdRows per Events API request (default: ${DEFAULT-VALUE}).")
        public int batchRows = 10_000;

        @Option(names = "--batch-bytes", paramLabel = "SIZE", converter = CliTypes.PositiveSize.class,
                description = "Uncompressed NDJSON bytes per request (default: 4MB, well under Tinybird's 10 MB request limit).")
        public long batchBytes = 4_000_000;

        @Option(names = "--linger", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
                description = "Longest a row waits for its batch to fill (default: 1s).")
        public Duration linger = Duration.ofSeconds(1);

        @Option(names = "--in-flight", paramLabel = "N", converter = CliTypes.PositiveInt.class, description = "Concurrent Events API requests (default: ${DEFAULT-VALUE}).")
        public int inFlight = 4;

        @Option(names = "--no-wait", description = "Send without wait=true: Tinybird answers 202 before the rows are written, "
                + "so a row it later loses still counts as sent. The default waits for the write (200), so 'acknowledged' means stored.")
        public boolean noWait;

        @Option(names = "--no-gzip", description = "Send NDJSON uncompressed (default: gzip, about 5-10x fewer bytes on the wire).")
        public boolean noGzip;

        @Option(names = "--max-attempts", paramLabel = "N",
                description = "Attempts per batch on 429/500/503/connection errors before its rows count as failed "
                        + "(default: no limit; the writer gives up once no request succeeded for 2 minutes).")
        public int maxAttempts;

        public TinybirdWriterSettings settings() {
            return new TinybirdWriterSettings().maxRows(batchRows).maxBytes(batchBytes).linger(linger).inFlight(inFlight)
                    .waitForAck(!noWait).gzip(!noGzip).maxAttempts(maxAttempts <= 0 ? 0 : maxAttempts);
        }
    }
}
