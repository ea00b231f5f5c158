//DEPS org.hdrhistogram:HdrHistogram:2.2.2

import java.util.Locale;
import java.util.concurrent.TimeUnit;

import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;

/**
 * Latency recording with HdrHistogram: thread-safe, constant memory, 3 significant digits from 1 microsecond to
 * 1 hour. Record nanoseconds; read percentiles as a {@link Stats} snapshot.
 */
public final class Latency {
    private final Histogram histogram;

    public Latency() {
        histogram = new ConcurrentHistogram(TimeUnit.HOURS.toNanos(1), 3);
    }

    /** Records one duration in nanoseconds (clamped into the histogram's range). */
    public void record(long nanos) {
        histogram.recordValue(Math.max(1, Math.min(nanos, histogram.getHighestTrackableValue())));
    }

    /** Times a piece of work and records it; returns the nanoseconds it took. */
    public long time(Runnable work) {
        long t0 = System.nanoTime();
        work.run();
        long d = System.nanoTime() - t0;
        record(d);
        return d;
    }

    public long count() {
        return histogram.getTotalCount();
    }

    public void reset() {
        histogram.reset();
    }

    /** A snapshot of the distribution, in nanoseconds. */
    public Stats stats() {
        Histogram h = histogram.copy();
        if (h.getTotalCount() == 0) return new Stats(0, 0, 0, 0, 0, 0, 0, 0);
        return new Stats(h.getTotalCount(), h.getMinValue(), (long) h.getMean(), h.getValueAtPercentile(50),
                h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue());
    }

    /** The underlying histogram (for merging or custom percentiles). */
    public Histogram histogram() {
        return histogram;
    }

    /** Percentiles in nanoseconds. */
    public record Stats(long count, long min, long mean, long p50, long p90, long p99, long p999, long max) {
        /** "min 0.21 ms, p50 0.30 ms, p90 0.41 ms, p99 0.90 ms, max 3.10 ms (1,000 samples)" */
        public String summary() {
            return String.format(Locale.ROOT, "min %s, p50 %s, p90 %s, p99 %s, max %s (%,d samples)",
                    ms(min), ms(p50), ms(p90), ms(p99), ms(max), count);
        }
    }

    /** Nanoseconds as milliseconds with 3 decimals: "0.123 ms". */
    public static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3f ms", nanos / 1e6);
    }
}
