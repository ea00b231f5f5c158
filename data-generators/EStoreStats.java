/*
 * What a run did: the events generated (unique, duplicates, the mix), what the sinks delivered and lost, and the
 * one-line summary printed at the end, on Ctrl-C too.
 * Why here: the counts come from the stream and the sinks alike; adding them up is bookkeeping, not the story.
 * Invariant: delivered is what every sink acknowledged (the least of them), never more than sent; sent counts the
 * duplicates; a PostgreSQL sink that only keeps totals delivers nothing and is left out.
 */
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

final class EStoreStats {
    final long[] byAction = new long[5];
    long unique, duplicates, sent, fallbacks, restocks, failed, delivered;
    double seconds;
    long seed;
    final List<String> sinkLines = new ArrayList<>();

    String summary(String name) {
        StringBuilder sb = new StringBuilder(name).append(": ");
        sb.append(Cli.summary("sent", sent, "events", -1, Duration.ofNanos((long) (seconds * 1e9))));
        sb.append(String.format(Locale.ROOT, "; %,d unique + %,d duplicates (%.2f%%); mix", unique, duplicates,
                unique == 0 ? 0.0 : 100.0 * duplicates / unique));
        for (int i = 0; i < 5; i++) {
            sb.append(String.format(Locale.ROOT, " %s %,d (%.1f%%)", Shop.ACTIONS[i], byAction[i], unique == 0 ? 0.0 : 100.0 * byAction[i] / unique));
            if (i < 4) sb.append(',');
        }
        if (fallbacks > 0) sb.append(String.format(Locale.ROOT, "; %,d became views (no valid pair)", fallbacks));
        sb.append(String.format(Locale.ROOT, "; delivered %,d, failed %,d", delivered, failed));
        for (String s : sinkLines) sb.append("; ").append(s);
        sb.append("; seed ").append(seed);
        return sb.toString();
    }

    /**
     * Events every sink has delivered (written, acknowledged by Tinybird, copied into PostgreSQL): what the progress
     * line counts, so its rate is never one of events merely generated.
     */
    static long delivered(List<EStoreSinks.Sink> sinks, long sent) {
        long delivered = Long.MAX_VALUE;
        for (EStoreSinks.Sink k : List.copyOf(sinks)) {
            if (k instanceof PgInventorySink p && !p.events) continue;
            delivered = Math.min(delivered, k.delivered());
        }
        return delivered == Long.MAX_VALUE ? sent : delivered;
    }

    /** Fills in the totals from the shop and the sinks (their lines, delivered and failed counts). */
    void account(List<EStoreSinks.Sink> sinks, Shop model, long t0) {
        seconds = (System.nanoTime() - t0) / 1e9;
        fallbacks = model.fallbacks;
        restocks = model.restocks;
        for (EStoreSinks.Sink k : List.copyOf(sinks)) {
            if (k instanceof EStoreSinks.TinybirdSink t) sinkLines.addAll(t.lines());
            if (k instanceof PgInventorySink p) sinkLines.add(p.line());
            if (k instanceof PgInventorySink p && !p.events) continue;
            failed += k.failed();
        }
        delivered = delivered(sinks, sent);
    }

    /** A copy of the generator's counts, for a summary while the run is still going. */
    EStoreStats copyCounts() {
        EStoreStats c = new EStoreStats();
        System.arraycopy(byAction, 0, c.byAction, 0, 5);
        c.unique = unique;
        c.duplicates = duplicates;
        c.sent = sent;
        c.seed = seed;
        return c;
    }
}
