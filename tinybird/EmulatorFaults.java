import java.io.IOException;
import java.time.Duration;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

import com.sun.net.httpserver.HttpExchange;

/**
 * The emulator's fault switches: injected HTTP statuses (429 with Retry-After, 500, 503, 422...), dropped
 * connections, delays and holds, on one path prefix, for the clients' retry tests and for --fault-rate.
 * Why here: the emulator's real contract (TinybirdEmulator and its Emulator* siblings) reads without them; a test
 * turns them on through {@code emu.faults()}.
 * Invariant: deterministic by seed in request order, so a failing test repeats.
 */
final class EmulatorFaults {
    private final ConcurrentLinkedQueue<EmulatorFault> next = new ConcurrentLinkedQueue<>();
    private volatile double fraction;
    private volatile long seed;
    private volatile EmulatorFault[] kinds = new EmulatorFault[0];
    private volatile String pathPrefix = "/v0/events";
    private final AtomicLong counter = new AtomicLong(), held = new AtomicLong();
    private volatile Duration slow = Duration.ZERO;
    private volatile java.util.concurrent.CountDownLatch hold;
    private volatile long holdAfter;

    /** The next n matching requests get fault f (before any fraction-based fault). */
    public EmulatorFaults failNext(int n, EmulatorFault f) {
        for (int i = 0; i < n; i++) next.add(f);
        return this;
    }

    /** Each matching request fails with probability p, the kind drawn from kinds; deterministic by seed. */
    public EmulatorFaults fraction(double p, long seed, EmulatorFault... kinds) {
        this.seed = seed;
        this.kinds = kinds.clone();
        this.counter.set(0);
        this.fraction = kinds.length == 0 ? 0 : p;
        return this;
    }

    /** Which requests are subject to faults (default /v0/events; "/" for all). */
    public EmulatorFaults on(String prefix) {
        this.pathPrefix = prefix;
        return this;
    }

    /** Every matching request waits d before it is answered (a slow source); Duration.ZERO = none. */
    public EmulatorFaults slow(Duration d) {
        this.slow = d;
        return this;
    }

    /** Matching requests after the first n wait until open is counted down (at most 60 s), then go on as usual. */
    public EmulatorFaults holdAfter(long n, java.util.concurrent.CountDownLatch open) {
        this.holdAfter = n;
        this.held.set(0);
        this.hold = open;
        return this;
    }

    public EmulatorFaults clear() {
        next.clear();
        fraction = 0;
        slow = Duration.ZERO;
        hold = null;
        return this;
    }

    /** The waits of slow() and holdAfter() for a matching request. */
    void gate(String path) {
        if (!path.startsWith(pathPrefix)) return;
        try {
            java.util.concurrent.CountDownLatch h = hold;
            if (h != null && held.incrementAndGet() > holdAfter) h.await(60, java.util.concurrent.TimeUnit.SECONDS);
            Duration d = slow;
            if (!d.isZero()) Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    EmulatorFault pick(String path) {
        if (!path.startsWith(pathPrefix)) return null;
        EmulatorFault f = next.poll();
        if (f != null) return f;
        if (fraction <= 0) return null;
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + counter.getAndIncrement());
        if (r.nextDouble() >= fraction) return null;
        EmulatorFault[] k = kinds;
        return k[r.nextInt(k.length)];
    }

    /** Answers ex with fault f (true), or delays it and lets it go on (false). */
    static boolean apply(TinybirdEmulator emu, HttpExchange ex, EmulatorFault f) throws IOException {
        switch (f.kind()) {
            case DELAY -> {
                try {
                    Thread.sleep(f.delay().toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            }
            case DROP -> {
                ex.close(); // no response headers sent: the connection is closed
                return true;
            }
            default -> {
                int code = f.status();
                emu.rateHeaders(ex, code == 429);
                if (code == 429 && f.retryAfterSeconds() >= 0) ex.getResponseHeaders().set("Retry-After", Integer.toString(f.retryAfterSeconds()));
                if (code == 429 && f.retryAfterSeconds() < 0) ex.getResponseHeaders().remove("Retry-After"); // X-RateLimit-Reset only
                String text = switch (code) {
                    case 429 -> "Too many requests\n";
                    case 503 -> "Service temporarily unavailable, no data ingested, please retry again\n";
                    case 500 -> "Internal server error\n";
                    case 422 -> "Partially done: the rows were written to the Data Source but a Materialized View failed\n";
                    default -> "Injected fault " + code + "\n";
                };
                EmulatorHttp.sendText(ex, code, text, "text/plain");
                return true;
            }
        }
    }
}

/**
 * One injected fault: an HTTP status, a dropped connection or a delay;
 * before storing the rows (default) or after ({@link #afterStore()}), so clients meet the "unknown outcome" case.
 */
record EmulatorFault(Kind kind, int status, int retryAfterSeconds, Duration delay, boolean after) {
    /** Kinds of injected faults. */
    public enum Kind { STATUS, DROP, DELAY }

    public static EmulatorFault status(int code) { return new EmulatorFault(Kind.STATUS, code, 0, Duration.ZERO, false); }
    public static EmulatorFault tooManyRequests(int retryAfterSeconds) { return new EmulatorFault(Kind.STATUS, 429, retryAfterSeconds, Duration.ZERO, false); }
    public static EmulatorFault drop() { return new EmulatorFault(Kind.DROP, 0, 0, Duration.ZERO, false); }
    public static EmulatorFault delay(Duration d) { return new EmulatorFault(Kind.DELAY, 0, 0, d, false); }
    public EmulatorFault afterStore() { return new EmulatorFault(kind, status, retryAfterSeconds, delay, true); }

    static EmulatorFault parse(String s) {
        String k = s.strip().toLowerCase(Locale.ROOT);
        return switch (k) {
            case "429" -> tooManyRequests(1);
            case "drop" -> drop();
            case "drop-after" -> drop().afterStore();
            case "delay" -> delay(Duration.ofSeconds(2));
            default -> {
                if (!k.matches("[45][0-9][0-9]")) throw Cli.usage("unknown fault kind '" + s + "' (429, 500, 503, 422, drop, drop-after, delay)");
                yield k.equals("422") ? status(422).afterStore() : status(Integer.parseInt(k));
            }
        };
    }
}
