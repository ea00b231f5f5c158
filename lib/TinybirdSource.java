//SOURCES Cli.java
//SOURCES Config.java
//SOURCES NetErrors.java
//SOURCES TinybirdClient.java
//SOURCES TinybirdRows.java
//SOURCES TinybirdApiException.java
//SOURCES Transfer.java

import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Tinybird API Endpoint as a transfer's source, through the lib/ endpoint reader ({@link TinybirdClient#read}). 429,
 * 5xx, a refused connection and an answer cut short are retried with exponential backoff (200 ms x 2^n, capped at
 * 10 s, with jitter) for up to retryFor, waiting instead as long as a 429 or 503 asks (Retry-After, for a 429 else
 * X-RateLimit-Reset; 50 ms to 60 s); other errors (401, 403, 404, 400: a bad token, pipe or parameter) stop at once,
 * and so do network errors no retry can fix (an untrusted certificate, a failed TLS handshake, an unknown host: see
 * NetErrors).
 *
 * <p>Why retries here: a transfer in follow mode runs for hours and meets rate limits and restarts. Invariant: a page
 * is returned whole or not at all; a retry asks for the same window again.
 */
public final class TinybirdSource implements Transfer.Source {
    private final TinybirdClient client;
    private final String pipe;
    private final Duration retryFor;
    private final PrintWriter err;
    private final boolean quiet;

    public TinybirdSource(TinybirdClient client, String pipe, Duration retryFor, PrintWriter err, boolean quiet) {
        this.client = client;
        this.pipe = pipe;
        this.retryFor = retryFor;
        this.err = err;
        this.quiet = quiet;
    }

    @Override
    public Transfer.Page fetch(Map<String, List<String>> params) throws Exception {
        long deadline = System.nanoTime() + retryFor.toNanos();
        long backoff = 200;
        while (true) {
            long wait = backoff + java.util.concurrent.ThreadLocalRandom.current().nextLong(backoff / 4 + 1);
            try (TinybirdRows rows = client.read(pipe, params)) {
                List<Transfer.Column> meta = new ArrayList<>();
                for (TinybirdRows.Column c : rows.meta()) meta.add(new Transfer.Column(c.name(), c.type()));
                List<Object[]> data = new ArrayList<>();
                Map<String, Integer> index = new HashMap<>();
                for (int i = 0; i < meta.size(); i++) index.put(meta.get(i).name(), i);
                for (Object[] r; (r = rows.nextValues(index, meta.size())) != null; ) data.add(r);
                Long rbl = rows.rowsBeforeLimitAtLeast();
                return new Transfer.Page(meta, data, rbl == null ? -1 : rbl);
            } catch (TinybirdApiException e) {
                int st = e.status;
                boolean retry = st == 429 || st == 408 || st >= 500;
                if (!retry || System.nanoTime() > deadline) throw e;
                boolean asked = e.retryAfterMillis != null && (st == 429 || st == 503);
                if (asked) wait = Math.max(50, Math.min(e.retryAfterMillis, 60_000)); // the server's Retry-After (or rate-limit reset)
                if (!quiet) err.println("source: " + e.getMessage() + "; retrying in " + wait + " ms" + (asked ? " (as the server asked)" : ""));
            } catch (Cli.Failure e) {
                String permanent = NetErrors.permanent(e);
                if (permanent != null) {
                    throw new Cli.Failure("cannot read from Tinybird at " + Config.redact(client.host()) + ": " + permanent, e);
                }
                if (!(e.getCause() instanceof IOException) || System.nanoTime() > deadline) throw e;
                if (!quiet) err.println("source: " + e.getMessage() + "; retrying in " + wait + " ms");
            }
            err.flush();
            Thread.sleep(wait);
            backoff = Math.min(backoff * 2, 10_000);
        }
    }
}
