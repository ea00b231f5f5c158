//SOURCES Cli.java

import java.time.Duration;
import java.util.Locale;

import picocli.CommandLine.Option;

/**
 * The one timeout policy of the scripts' network clients: how long to wait for a connection, how long for an answer,
 * how long to keep retrying while nothing succeeds, and how long a stopped run waits for what is in flight.
 *
 * <p>Why three limits: a connection that does not open is a different fault (host down, firewall) from a server that
 * accepts and never answers, and a retry loop without an overall limit turns either into silence. The connect and
 * read timeouts bound one attempt; the give-up time (--retry-for) bounds the whole wait, counted from the last request
 * that succeeded, so a long run that meets a short outage keeps going while one that meets a dead host stops.
 *
 * <pre>{@code
 * @Mixin Timeouts.Options timeouts;      // --connect-timeout, --read-timeout
 * Duration c = timeouts.connect(), r = timeouts.read();
 * }</pre>
 */
public final class Timeouts {
    private Timeouts() {}

    /** Longest wait for a TCP (and TLS) connection. */
    public static final Duration CONNECT = Duration.ofSeconds(10);
    /** Longest wait for an answer: long enough for a wait=true ingest of a full batch, short enough to notice a silent host. */
    public static final Duration READ = Duration.ofSeconds(30);
    /** How long retries go on while no request succeeds (the transfers' --retry-for default too). */
    public static final Duration RETRY_FOR = Duration.ofMinutes(2);
    /** How long a stopped run (Ctrl-C, SIGTERM) waits for the requests in flight. */
    public static final Duration DRAIN = Duration.ofSeconds(5);
    /** A request without an answer for this long is shown as a wait (progress line, --verbose). */
    public static final Duration SLOW = Duration.ofSeconds(10);

    /** The per-attempt timeouts as options: {@code @Mixin Timeouts.Options timeouts;}. */
    public static final class Options {
        @Option(names = "--connect-timeout", paramLabel = "DURATION", converter = CliTypes.PositiveDuration.class,
                description = "Longest wait for a connection to the server, TLS included (default: 10s).")
        public Duration connect = CONNECT;

        @Option(names = "--read-timeout", paramLabel = "DURATION", converter = CliTypes.PositiveDuration.class,
                description = "Longest wait for an answer to a request, or for the next bytes of one (default: 30s).")
        public Duration read = READ;

        public Duration connect() {
            return positive("--connect-timeout", connect);
        }

        public Duration read() {
            return positive("--read-timeout", read);
        }
    }

    /** d when it is more than zero, else a usage error naming the option. */
    public static Duration positive(String option, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) throw Cli.usage(option + " must be more than 0");
        return d;
    }

    /** A short human duration: 450ms, 4s, 1m40s, 2h5m. */
    public static String human(Duration d) {
        long ms = Math.max(0, d.toMillis());
        if (ms < 1000) return ms + "ms";
        long s = (ms + 500) / 1000;
        if (s < 60) return s + "s";
        long m = s / 60, h = m / 60;
        if (h == 0) return m + "m" + (s % 60 == 0 ? "" : (s % 60) + "s");
        return String.format(Locale.ROOT, "%dh%s", h, m % 60 == 0 ? "" : (m % 60) + "m");
    }
}
