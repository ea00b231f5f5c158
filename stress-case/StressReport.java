import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.HdrHistogram.Histogram;

/**
 * The result of a run (or of a merge): per target the latency histogram, errors by kind, rows and the per-second
 * series; the text table and the JSON summary are written from it (HtmlReport.java draws the page).
 * Why one object: the table, --json, --html and the thresholds read the same numbers, so they can not disagree.
 * Invariant: requests = ok + errors for every target; latencies are in microseconds in the histogram, ms outside.
 */
final class TargetResult {
    final String name;
    final Histogram h;
    final Map<String, Long> errors;
    final double seconds;
    final long late, maxStartDelayUs, rows;
    /** Answers whose rows are known (PostgreSQL, Tinybird), and of those the ones with no rows. */
    final long answered, empty;
    final List<SeriesPoint> series;
    final String gaveUp;

    TargetResult(String name, Histogram h, Map<String, Long> errors, double seconds, long late, long maxStartDelayUs, long rows, long answered, long empty,
                 List<SeriesPoint> series, String gaveUp) {
        this.name = name;
        this.h = h;
        this.errors = errors;
        this.seconds = seconds;
        this.late = late;
        this.maxStartDelayUs = maxStartDelayUs;
        this.rows = rows;
        this.answered = answered;
        this.empty = empty;
        this.series = series;
        this.gaveUp = gaveUp;
    }

    double rowsPerRequest() {
        return answered == 0 ? 0 : (double) rows / answered;
    }

    double emptyPct() {
        return answered == 0 ? 0 : 100.0 * empty / answered;
    }

    /** Most answers had no rows: the run measured empty answers, which says little about the target. */
    boolean mostlyEmpty() {
        return answered > 0 && empty * 2 > answered;
    }

    long ok() {
        return h.getTotalCount();
    }

    long errorCount() {
        return errors.values().stream().mapToLong(Long::longValue).sum();
    }

    long count() {
        return ok() + errorCount();
    }

    double rps() {
        return count() / seconds;
    }

    double errorPct() {
        return count() == 0 ? 0 : 100.0 * errorCount() / count();
    }

    /** Percentile in milliseconds (0 when nothing succeeded). */
    double pct(double p) {
        return ok() == 0 ? 0 : h.getValueAtPercentile(p) / 1000.0;
    }

    double mean() {
        return ok() == 0 ? 0 : h.getMean() / 1000.0;
    }

    double max() {
        return ok() == 0 ? 0 : h.getMaxValue() / 1000.0;
    }

    double metric(String m) {
        return switch (m) {
            case "p50" -> pct(50);
            case "mean", "avg" -> mean();
            case "max" -> max();
            case "min" -> ok() == 0 ? 0 : h.getMinValue() / 1000.0;
            case "rps" -> rps();
            case "errors%" -> errorPct();
            case "errors" -> errorCount();
            default -> pct(Double.parseDouble(m.substring(1)));
        };
    }
}

final class StressReport {
    final ObjectNode settingsJson;
    final RunSettings settings; // null after 'merge'
    final List<TargetResult> results;
    /** This process's CPU over the measured part of the run, in nanoseconds (-1: not known, or a merge). */
    long clientCpuNs = -1;
    double clientSeconds;

    StressReport(ObjectNode settingsJson, RunSettings settings, List<TargetResult> results) {
        this.settingsJson = settingsJson;
        this.settings = settings;
        this.results = results;
    }

    TargetResult get(String name) {
        for (TargetResult r : results) if (r.name.equals(name)) return r;
        return null;
    }

    String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(row("", r -> r.name));
        rows.add(row("requests", r -> String.format(Locale.ROOT, "%,d", r.count())));
        rows.add(row("req/s", r -> String.format(Locale.ROOT, "%,.1f", r.rps())));
        rows.add(row("errors", r -> String.format(Locale.ROOT, "%,d (%.2f%%)", r.errorCount(), r.errorPct())));
        rows.add(row("mean", r -> fmtMs(r.mean())));
        rows.add(row("p50", r -> fmtMs(r.pct(50))));
        rows.add(row("p90", r -> fmtMs(r.pct(90))));
        rows.add(row("p99", r -> fmtMs(r.pct(99))));
        rows.add(row("p99.9", r -> fmtMs(r.pct(99.9))));
        rows.add(row("max", r -> fmtMs(r.max())));
        boolean open = results.stream().anyMatch(r -> r.late > 0 || r.maxStartDelayUs > 0);
        if (open) {
            rows.add(row("late starts", r -> String.format(Locale.ROOT, "%,d", r.late)));
            rows.add(row("max start delay", r -> fmtMs(r.maxStartDelayUs / 1000.0)));
        }
        if (results.stream().anyMatch(r -> r.rows > 0)) rows.add(row("rows returned", r -> String.format(Locale.ROOT, "%,d", r.rows)));
        if (results.stream().anyMatch(r -> r.answered > 0)) {
            rows.add(row("rows/request", r -> r.answered == 0 ? "-" : String.format(Locale.ROOT, "%,.1f", r.rowsPerRequest())));
            rows.add(row("empty answers", r -> r.answered == 0 ? "-" : String.format(Locale.ROOT, "%,d (%.0f%%)", r.empty, r.emptyPct())));
        }
        TreeMap<String, Boolean> kinds = new TreeMap<>();
        for (TargetResult r : results) r.errors.keySet().forEach(k -> kinds.put(k, true));
        for (String k : kinds.keySet()) rows.add(row("  " + k, r -> String.format(Locale.ROOT, "%,d", r.errors.getOrDefault(k, 0L))));
        int[] w = new int[results.size() + 1];
        for (String[] r : rows) for (int i = 0; i < r.length; i++) w[i] = Math.max(w[i], r[i].length());
        StringBuilder sb = new StringBuilder();
        for (String[] r : rows) {
            sb.append(pad(r[0], w[0], false));
            for (int i = 1; i < r.length; i++) sb.append("  ").append(pad(r[i], Math.max(w[i], 10), true));
            sb.append('\n');
        }
        for (TargetResult r : results) {
            if (r.mostlyEmpty()) {
                sb.append(String.format(Locale.ROOT, "%s: %.0f%% of the answers had no rows: the questions miss the data"
                        + " (is the window where the data is? see --window-from, --window-to)\n", r.name, r.emptyPct()));
            }
        }
        String cpu = clientCpu();
        if (cpu != null) sb.append(cpu).append('\n');
        return sb.toString();
    }

    /** "client cpu  41.0 us per request, 38 % of one core (...)", or null. */
    String clientCpu() {
        long n = 0;
        for (TargetResult r : results) n += r.count();
        if (clientCpuNs < 0 || n == 0 || clientSeconds <= 0) return null;
        return String.format(Locale.ROOT, "client cpu  %.1f us per request, %.0f %% of one core (this process, measured part;"
                + " on a machine it shares with a server, its CPU is the server's loss)", clientCpuNs / 1e3 / n, 100 * clientCpuNs / 1e9 / clientSeconds);
    }

    private String[] row(String label, java.util.function.Function<TargetResult, String> f) {
        String[] r = new String[results.size() + 1];
        r[0] = label;
        for (int i = 0; i < results.size(); i++) r[i + 1] = f.apply(results.get(i));
        return r;
    }

    private static String pad(String s, int w, boolean right) {
        if (s.length() >= w) return s;
        String sp = " ".repeat(w - s.length());
        return right ? sp + s : s + sp;
    }

    ObjectNode json(List<ObjectNode> checks) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.set("settings", settingsJson);
        ObjectNode ts = root.putObject("targets");
        for (TargetResult r : results) {
            ObjectNode t = ts.putObject(r.name);
            t.put("requests", r.count());
            t.put("ok", r.ok());
            t.put("errors", r.errorCount());
            t.put("error_pct", round3(r.errorPct()));
            t.put("seconds", round3(r.seconds));
            t.put("rps", round3(r.rps()));
            ObjectNode lat = t.putObject("latency_ms");
            lat.put("mean", round3(r.mean()));
            lat.put("min", round3(r.metric("min")));
            for (double p : new double[] {50, 90, 99, 99.9, 99.99}) {
                lat.put("p" + (p == Math.rint(p) ? Long.toString((long) p) : Double.toString(p)), round3(r.pct(p)));
            }
            lat.put("max", round3(r.max()));
            ObjectNode ek = t.putObject("errors_by_kind");
            r.errors.forEach(ek::put);
            t.put("late_starts", r.late);
            t.put("max_start_delay_ms", round3(r.maxStartDelayUs / 1000.0));
            t.put("rows", r.rows);
            if (r.answered > 0) {
                t.put("rows_per_request", round3(r.rowsPerRequest()));
                t.put("empty_answers", r.empty);
            }
            if (r.gaveUp != null) t.put("gave_up", r.gaveUp);
            ArrayNode series = t.putArray("series");
            for (SeriesPoint p : r.series) {
                ObjectNode o = series.addObject();
                o.put("t", p.t());
                o.put("rps", round3(p.rps()));
                o.put("errors", p.errors());
                o.put("p50_ms", round3(p.p50()));
                o.put("p99_ms", round3(p.p99()));
                o.put("max_ms", round3(p.max()));
            }
        }
        long n = 0;
        for (TargetResult r : results) n += r.count();
        if (clientCpuNs >= 0 && n > 0 && clientSeconds > 0) {
            ObjectNode c = root.putObject("client_cpu");
            c.put("us_per_request", round3(clientCpuNs / 1e3 / n));
            c.put("cores", round3(clientCpuNs / 1e9 / clientSeconds));
        }
        ArrayNode th = root.putArray("thresholds");
        checks.forEach(th::add);
        return root;
    }

    static double round3(double d) {
        return Math.round(d * 1000) / 1000.0;
    }

    static String fmtMs(double ms) {
        if (ms >= 10_000) return String.format(Locale.ROOT, "%.2f s", ms / 1000);
        if (ms >= 100) return String.format(Locale.ROOT, "%.1f ms", ms);
        return String.format(Locale.ROOT, "%.2f ms", ms);
    }
}
