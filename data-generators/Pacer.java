/*
 * Rate control: how many events are due by now for --eps, --count and --duration, and a short nap until the next one.
 * Why here: the arithmetic at the ends of a run (the last event of a duration, a count reached mid-batch) is easy
 * to get wrong and dull to read in the main loop.
 * Invariant: with --eps E, after t seconds exactly floor(t * E) + 1 events are due (never more than --count); when
 * --duration D is over, the events due just before D and no more; without --eps, everything up to --count at once.
 */
import java.time.Duration;

final class Pacer {
    final long t0, count, durNanos;
    final double eps;

    Pacer(long t0, Long count, Duration duration, Double eps) {
        this.t0 = t0;
        this.count = count != null ? count : Long.MAX_VALUE;
        this.durNanos = duration != null ? duration.toNanos() : Long.MAX_VALUE;
        this.eps = eps != null ? eps : 0;
    }

    /** The number of events that should have been sent by now (sent: those sent so far). */
    long due(long now, long sent) {
        long elapsed = now - t0;
        boolean timeUp = elapsed >= durNanos;
        long target = count;
        if (eps > 0) {
            long at = timeUp ? durNanos - 1 : elapsed;
            target = Math.min(target, (long) Math.floor(at / 1e9 * eps) + 1);
        }
        if (timeUp && eps <= 0) target = sent;
        return target;
    }

    /** True when the run is over: the duration is up or the count is reached. */
    boolean over(long now, long sent) {
        return now - t0 >= durNanos || sent >= count;
    }

    /** Sleeps until the next event is due (or the duration ends), at most 50 ms so a stop is seen soon. */
    void sleepUntilNext(long sent) {
        long due = t0 + (long) Math.ceil(sent * 1e9 / eps);
        long wait = Math.min(due, t0 + durNanos) - System.nanoTime();
        if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(Math.min(wait, 50_000_000L));
    }
}
