import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.HdrHistogram.HistogramIterationValue;

/**
 * The --html report: one self-contained page, inline SVG charts, no script and no network (it opens offline).
 * Why: the page is what a demo shows and what people forward; it has to tell what was compared and what came out.
 * Invariant: every chart is drawn from the StressReport alone, so a merged report looks like a run's.
 */
final class HtmlReport {
    static final String[] COLORS = {"#336791", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a"};

    static String color(StressReport r, TargetResult t) {
        return switch (t.name) {
            case "postgres" -> "#336791";
            case "tinybird" -> "#e8590c";
            case "http" -> "#2b8a3e";
            default -> COLORS[(3 + r.results.indexOf(t)) % COLORS.length];
        };
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    record Line(String label, String color, boolean dashed, double[] xs, double[] ys) {}

    /** An axis: linear, logarithmic, or HdrHistogram's percentile axis (x = log10(1 / (1 - p)), p50 to p99.99). */
    enum Scale { LINEAR, LOG, PERCENTILE }

    static String render(StressReport r, List<ObjectNode> checks) {
        JsonNode s = r.settingsJson.has("runs") && r.settingsJson.path("runs").size() > 0 ? r.settingsJson.path("runs").get(0) : r.settingsJson;
        boolean merged = r.settings == null;
        StringBuilder sb = new StringBuilder(64 * 1024);
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stress-case report</title>\n<style>\n")
                .append("body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}\n")
                .append("h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px}\n")
                .append("table{border-collapse:collapse;font-size:14px} td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}\n")
                .append("th{background:#f4f4f4} td:first-child,th:first-child{text-align:left} td.l{text-align:left}\n")
                .append(".verdict{font-size:17px;margin:12px 0} .warn{color:#a61e1e;font-weight:bold} .pass{color:#2b8a3e} .fail{color:#c92a2a;font-weight:bold}\n")
                .append(".charts{display:flex;flex-wrap:wrap;gap:16px} svg{background:#fff;border:1px solid #ddd}\n")
                .append("</style></head><body>\n");
        sb.append("<h1>stress-case: ");
        for (int i = 0; i < r.results.size(); i++) {
            TargetResult t = r.results.get(i);
            if (i > 0) sb.append(" vs ");
            sb.append("<span style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</span>");
        }
        sb.append("</h1>\n<p class=\"verdict\" id=\"verdict\">").append(esc(verdict(r, s, merged))).append("</p>\n");

        // what was compared: the targets, then how they were loaded
        sb.append("<h2>What was compared</h2>\n<table id=\"compared\"><tr><th></th>");
        for (TargetResult t : r.results) sb.append("<th style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</th>");
        sb.append("</tr>\n");
        List<String> keys = new ArrayList<>();
        for (TargetResult t : r.results) s.path("about").path(t.name).fieldNames().forEachRemaining(k -> { if (!keys.contains(k)) keys.add(k); });
        for (String k : keys) {
            sb.append("<tr><td>").append(esc(k)).append("</td>");
            for (TargetResult t : r.results) sb.append("<td class=\"l\">").append(esc(Config.redact(s.path("about").path(t.name).path(k).asText("")))).append("</td>");
            sb.append("</tr>\n");
        }
        sb.append("</table>\n<table id=\"how\">\n");
        if (merged) row(sb, "runs", r.settingsJson.path("merged_files").asInt() + " hlog files merged (settings of the first below)");
        row(sb, "model", model(s));
        row(sb, "duration", s.path("duration_s").asDouble() + " s measured after " + s.path("warmup_s").asDouble() + " s of warm-up"
                + (s.has("max_requests") ? ", at most " + s.path("max_requests").asLong() + " requests per target" : ""));
        String workload = s.path("workload").asText("");
        int at = workload.lastIndexOf("parameters: ");
        row(sb, "parameters", at < 0 ? workload : workload.substring(at + 12));
        row(sb, "timeout, seed", s.path("timeout_s").asDouble() + " s, " + s.path("seed").asText());
        row(sb, "started", s.path("started").asText());
        row(sb, "client", "stress-case " + Cli.VERSION + ", Java " + s.path("java").asText() + ", " + s.path("cpus").asInt() + " cpus; "
                + s.path("threads").asText());
        String cpu = r.clientCpu();
        if (cpu != null) row(sb, "client cpu", cpu.substring("client cpu  ".length()));
        sb.append("</table>\n");
        String bottleneck = clientBottleneck(r, s);
        if (bottleneck != null) sb.append("<p class=\"warn\" id=\"client-warning\">").append(esc(bottleneck)).append("</p>\n");

        sb.append("<h2>Summary</h2>\n<table id=\"summary\"><tr><th></th>");
        for (TargetResult t : r.results) sb.append("<th style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</th>");
        sb.append("</tr>\n");
        String[] rows = {"requests", "req/s", "errors", "mean", "p50", "p90", "p99", "p99.9", "max", "rows/request", "empty answers"};
        for (String row : rows) {
            if (row.equals("rows/request") && r.results.stream().noneMatch(t -> t.answered > 0)) break;
            sb.append("<tr><td>").append(row).append("</td>");
            for (TargetResult t : r.results) {
                String v = switch (row) {
                    case "requests" -> String.format(Locale.ROOT, "%,d", t.count());
                    case "req/s" -> String.format(Locale.ROOT, "%,.1f", t.rps());
                    case "errors" -> String.format(Locale.ROOT, "%,d (%.2f%%)", t.errorCount(), t.errorPct());
                    case "rows/request" -> t.answered == 0 ? "-" : String.format(Locale.ROOT, "%,.1f", t.rowsPerRequest());
                    case "empty answers" -> t.answered == 0 ? "-" : String.format(Locale.ROOT, "%,d (%.0f%%)", t.empty, t.emptyPct());
                    default -> StressReport.fmtMs(t.metric(row));
                };
                sb.append("<td>").append(esc(v)).append("</td>");
            }
            sb.append("</tr>\n");
        }
        sb.append("</table>\n");
        for (TargetResult t : r.results) {
            if (t.mostlyEmpty()) {
                sb.append("<p class=\"warn\">").append(esc(String.format(Locale.ROOT, "%s: %.0f%% of the answers had no rows: the questions"
                        + " miss the data.", t.name, t.emptyPct()))).append("</p>\n");
            }
        }

        if (!checks.isEmpty()) {
            sb.append("<h2>Thresholds</h2>\n<table id=\"thresholds\"><tr><th>threshold</th><th>target</th><th>actual</th><th></th></tr>\n");
            for (ObjectNode c : checks) {
                boolean ok = c.path("passed").asBoolean();
                sb.append("<tr><td>").append(esc(c.path("threshold").asText())).append("</td><td>").append(esc(c.path("target").asText()))
                        .append("</td><td>").append(esc(c.path("actual").asText())).append("</td><td class=\"").append(ok ? "pass\">passed" : "fail\">FAILED")
                        .append("</td></tr>\n");
            }
            sb.append("</table>\n");
        }

        sb.append("<h2>Charts</h2>\n<div class=\"charts\">\n");
        // HdrHistogram's percentile plot: x = 1/(1-percentile) on a log scale, latency on a log scale
        List<Line> dist = new ArrayList<>();
        for (TargetResult t : r.results) {
            if (t.ok() == 0) continue;
            List<double[]> pts = new ArrayList<>();
            for (HistogramIterationValue v : t.h.percentiles(5)) {
                double p = v.getPercentileLevelIteratedTo() / 100.0;
                if (p < 0.5) continue;
                double x = p >= 1.0 ? 4 : Math.min(4, Math.log10(1 / (1 - p)));
                pts.add(new double[] {x, v.getValueIteratedTo() / 1000.0});
                if (x >= 4) break;
            }
            dist.add(line(t.name, color(r, t), false, pts));
        }
        sb.append(chart("percentile-distribution", "Latency by percentile", "percentile", "ms (log)", dist, Scale.PERCENTILE, Scale.LOG));
        List<Line> lat = new ArrayList<>(), thr = new ArrayList<>(), err = new ArrayList<>();
        for (TargetResult t : r.results) {
            List<double[]> p50 = new ArrayList<>(), p99 = new ArrayList<>(), rps = new ArrayList<>(), errs = new ArrayList<>();
            for (SeriesPoint p : t.series) {
                p50.add(new double[] {p.t(), p.p50()});
                p99.add(new double[] {p.t(), p.p99()});
                rps.add(new double[] {p.t(), p.rps()});
                errs.add(new double[] {p.t(), p.errors()});
            }
            lat.add(line(t.name + " p99", color(r, t), false, p99));
            lat.add(line(t.name + " p50", color(r, t), true, p50));
            thr.add(line(t.name, color(r, t), false, rps));
            err.add(line(t.name, color(r, t), false, errs));
        }
        sb.append(chart("latency-over-time", "Latency over time (p99 solid, p50 dashed)", "seconds", "ms (log)", lat, Scale.LINEAR, Scale.LOG));
        sb.append(chart("throughput-over-time", "Throughput over time", "seconds", "requests/s", thr, Scale.LINEAR, Scale.LINEAR));
        sb.append(chart("errors-over-time", "Errors over time", "seconds", "errors per second", err, Scale.LINEAR, Scale.LINEAR));
        List<TargetResult> withRows = r.results.stream().filter(t -> t.answered > 0).toList();
        if (!withRows.isEmpty()) sb.append(bars("rows-per-request", "Rows returned per request", withRows, r));
        sb.append("</div>\n");
        if (withRows.isEmpty()) sb.append("<p>Rows per request: not known for these targets (a plain URL's answer is not counted in rows).</p>\n");

        boolean anyErr = r.results.stream().anyMatch(t -> t.errorCount() > 0);
        if (anyErr) {
            sb.append("<h2>Errors by kind</h2>\n<table><tr><th>kind</th>");
            for (TargetResult t : r.results) sb.append("<th>").append(esc(t.name)).append("</th>");
            sb.append("</tr>\n");
            TreeMap<String, Boolean> kinds = new TreeMap<>();
            for (TargetResult t : r.results) t.errors.keySet().forEach(k -> kinds.put(k, true));
            for (String k : kinds.keySet()) {
                sb.append("<tr><td>").append(esc(k)).append("</td>");
                for (TargetResult t : r.results) sb.append("<td>").append(String.format(Locale.ROOT, "%,d", t.errors.getOrDefault(k, 0L))).append("</td>");
                sb.append("</tr>\n");
            }
            sb.append("</table>\n");
        }
        for (TargetResult t : r.results) {
            if (t.gaveUp != null) sb.append("<p><b>").append(esc(t.name)).append("</b>: ").append(esc(t.gaveUp)).append("</p>\n");
        }
        sb.append("<h2>All settings</h2>\n");
        settingsTable(sb, r.settingsJson);
        sb.append("<p style=\"font-size:12px;color:#777\">stress-case ").append(Cli.VERSION).append(", ")
                .append(esc(Instant.now().toString())).append("</p>\n</body></html>\n");
        return sb.toString();
    }

    private static void row(StringBuilder sb, String k, String v) {
        sb.append("<tr><td>").append(esc(k)).append("</td><td class=\"l\">").append(esc(Config.redact(v))).append("</td></tr>\n");
    }

    static String model(JsonNode s) {
        int c = s.path("concurrency").asInt();
        return s.path("model").asText().equals("open")
                ? String.format(Locale.ROOT, "open: %,.0f requests/s per target on a fixed schedule, at most %d in flight", s.path("rate_per_s").asDouble(), c)
                : "closed: " + c + " connections per target, each sending its next request when the answer is in";
    }

    /** Why the client, not the target, may have set the pace; null when nothing says so. */
    static String clientBottleneck(StressReport r, JsonNode s) {
        int cpus = s.path("cpus").asInt(0);
        if (r.clientCpuNs >= 0 && r.clientSeconds > 0 && cpus > 0) {
            double cores = r.clientCpuNs / 1e9 / r.clientSeconds;
            if (cores >= 0.8 * cpus) {
                return String.format(Locale.ROOT, "The client used %.1f of the machine's %d cores: it, not the target, may have set the pace"
                        + " (run it on another machine, or several and merge their --hlog files).", cores, cpus);
            }
        }
        for (TargetResult t : r.results) {
            if (t.count() > 0 && t.late * 100 > t.count()) {
                return String.format(Locale.ROOT, "The client started %.1f%% of %s's requests late: it could not keep the schedule, and"
                        + " the figures include its delays.", 100.0 * t.late / t.count(), t.name);
            }
        }
        return null;
    }

    /** One sentence drawn from the numbers: how the targets' p99 compare, at what load, and what went wrong. */
    static String verdict(StressReport r, JsonNode s, boolean merged) {
        List<TargetResult> ok = new ArrayList<>(r.results.stream().filter(t -> t.ok() > 0).toList());
        if (ok.isEmpty()) return "No target answered a request: see the errors below.";
        String load = merged ? "Across the merged runs" : s.path("model").asText().equals("open")
                ? String.format(Locale.ROOT, "At %,.0f requests/s", s.path("rate_per_s").asDouble())
                : "With " + s.path("concurrency").asInt() + " connections per target";
        StringBuilder v = new StringBuilder(load).append(", ");
        if (ok.size() == 1) {
            TargetResult t = ok.get(0);
            v.append(String.format(Locale.ROOT, "%s's p99 was %s (p50 %s) over %,d requests, %,.0f requests/s", t.name,
                    StressReport.fmtMs(t.pct(99)), StressReport.fmtMs(t.pct(50)), t.count(), t.rps()));
        } else {
            ok.sort((a, b) -> Double.compare(a.pct(99), b.pct(99)));
            TargetResult best = ok.get(0), worst = ok.get(ok.size() - 1);
            double ratio = worst.pct(99) / Math.max(best.pct(99), 1e-3);
            if (ratio < 1.1) {
                v.append(String.format(Locale.ROOT, "%s and %s had about the same p99 (%s and %s)", best.name, worst.name,
                        StressReport.fmtMs(best.pct(99)), StressReport.fmtMs(worst.pct(99))));
            } else {
                v.append(String.format(Locale.ROOT, "%s's p99 was %.1fx lower than %s's (%s vs %s)", best.name, ratio, worst.name,
                        StressReport.fmtMs(best.pct(99)), StressReport.fmtMs(worst.pct(99))));
            }
            if (!s.path("model").asText().equals("open")) {
                ok.sort((a, b) -> Double.compare(b.rps(), a.rps()));
                double more = ok.get(0).rps() / Math.max(ok.get(ok.size() - 1).rps(), 1e-9);
                if (more >= 1.1) v.append(String.format(Locale.ROOT, ", and %s served %.1fx the requests/s", ok.get(0).name, more));
            }
        }
        for (TargetResult t : r.results) {
            if (t.errorPct() >= 1) v.append(String.format(Locale.ROOT, "; %s failed %.1f%% of its requests", t.name, t.errorPct()));
            if (t.mostlyEmpty()) v.append("; most of ").append(t.name).append("'s answers had no rows");
        }
        v.append('.');
        if (clientBottleneck(r, s) != null) v.append(" The client was near its limit: the figures may be the client's.");
        return v.toString();
    }

    static Line line(String label, String color, boolean dashed, List<double[]> pts) {
        double[] x = new double[pts.size()], y = new double[pts.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = pts.get(i)[0];
            y[i] = pts.get(i)[1];
        }
        return new Line(label, color, dashed, x, y);
    }

    static void settingsTable(StringBuilder sb, JsonNode o) {
        sb.append("<table>\n");
        for (Map.Entry<String, JsonNode> e : o.properties()) {
            JsonNode v = e.getValue();
            sb.append("<tr><td>").append(esc(e.getKey())).append("</td><td style=\"text-align:left\">");
            if (v.isObject()) {
                settingsTable(sb, v);
            } else if (v.isArray() && v.size() > 0 && v.get(0).isObject()) {
                for (JsonNode x : v) settingsTable(sb, x);
            } else if (v.isArray()) {
                List<String> items = new ArrayList<>();
                v.forEach(x -> items.add(x.asText()));
                sb.append(esc(String.join(", ", items)));
            } else {
                sb.append(esc(Config.redact(v.asText())).replace("\n", "<br>"));
            }
            sb.append("</td></tr>\n");
        }
        sb.append("</table>\n");
    }

    static String chart(String id, String title, String xLabel, String yLabel, List<Line> lines, Scale xs, Scale ys) {
        int w = 560, h = 320, l = 64, rgt = 16, top = 36, bot = 48;
        double xmin = Double.MAX_VALUE, xmax = -Double.MAX_VALUE, ymin = Double.MAX_VALUE, ymax = 0;
        for (Line ln : lines) {
            for (int i = 0; i < ln.xs().length; i++) {
                if (ys == Scale.LOG && !(ln.ys()[i] > 0)) continue;
                xmin = Math.min(xmin, ln.xs()[i]);
                xmax = Math.max(xmax, ln.xs()[i]);
                ymin = Math.min(ymin, ln.ys()[i]);
                ymax = Math.max(ymax, ln.ys()[i]);
            }
        }
        if (xmin == Double.MAX_VALUE) {
            xmin = 0;
            xmax = 1;
            ymin = 1;
            ymax = 1;
        }
        if (xs == Scale.PERCENTILE) {
            xmin = Math.log10(2);
            xmax = 4;
        } else {
            xmin = Math.min(0, xmin);
        }
        if (xmax <= xmin) xmax = xmin + 1;
        double yLo, yHi;
        if (ys == Scale.LOG) {
            yLo = Math.pow(10, Math.floor(Math.log10(ymin)));
            yHi = Math.pow(10, Math.ceil(Math.log10(ymax)));
            if (yHi <= yLo) yHi = yLo * 10;
        } else {
            yLo = 0;
            yHi = niceCeil(ymax <= 0 ? 1 : ymax * 1.05);
        }
        int pw = w - l - rgt, ph = h - top - bot;
        final double x0 = xmin, x1 = xmax, lo = yLo, hi = yHi;
        java.util.function.DoubleUnaryOperator fx = v -> l + pw * (v - x0) / (x1 - x0);
        java.util.function.DoubleUnaryOperator fy = ys == Scale.LOG
                ? v -> top + ph - ph * (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))
                : v -> top + ph - ph * Math.min(v, hi) / hi;
        StringBuilder sb = new StringBuilder();
        int points = 0;
        for (Line ln : lines) for (double y : ln.ys()) if (ys != Scale.LOG || y > 0) points++;
        sb.append("<svg id=\"").append(id).append("\" data-points=\"").append(points).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(w).append("\" height=\"").append(h).append("\" viewBox=\"0 0 ").append(w).append(' ').append(h)
                .append("\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.append("<text x=\"").append(w / 2).append("\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">")
                .append(esc(title)).append("</text>\n");
        // y grid: every power of ten on a log axis (and 2x, 5x while there are few decades), else six steps
        List<Double> yTicks = new ArrayList<>();
        if (ys == Scale.LOG) {
            boolean fine = yHi / yLo <= 1000;
            for (double d = yLo; d <= yHi * 1.0001; d *= 10) {
                yTicks.add(d);
                if (fine && d * 2 < yHi) yTicks.add(d * 2);
                if (fine && d * 5 < yHi) yTicks.add(d * 5);
            }
        } else {
            for (int i = 0; i <= 5; i++) yTicks.add(yHi * i / 5);
        }
        for (double v : yTicks) {
            double y = fy.applyAsDouble(v);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", l, y, l + pw, y));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", l - 6, y + 4, axisNum(v)));
        }
        // x grid
        if (xs == Scale.PERCENTILE) {
            String[] labels = {"50%", "90%", "99%", "99.9%", "99.99%"};
            double[] at = {Math.log10(2), 1, 2, 3, 4};
            for (int i = 0; i < at.length; i++) {
                double x = fx.applyAsDouble(at[i]);
                sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>", x, top, x, top + ph));
                sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x, top + ph + 16,
                        i == at.length - 1 ? "end" : i == 0 ? "start" : "middle", labels[i]));
            }
        } else {
            double step = niceStep((xmax - xmin) / 6);
            for (double v = Math.ceil(xmin / step) * step; v <= xmax + 1e-9; v += step) {
                double x = fx.applyAsDouble(v);
                sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>", x, top, x, top + ph));
                sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, top + ph + 16, axisNum(v)));
            }
        }
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", l, top, pw, ph));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", l + pw / 2, h - 8, esc(xLabel)));
        sb.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">%s</text>\n",
                top + ph / 2, top + ph / 2, esc(yLabel)));
        int legendX = l + 8, legendY = top + 14;
        for (Line ln : lines) {
            StringBuilder pts = new StringBuilder();
            int n = 0;
            for (int i = 0; i < ln.xs().length; i++) {
                if (ys == Scale.LOG && !(ln.ys()[i] > 0)) continue; // an interval without answers has no latency
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", fx.applyAsDouble(ln.xs()[i]), fy.applyAsDouble(ln.ys()[i])));
                n++;
            }
            if (n == 0) continue;
            if (n == 1) {
                String[] xy = pts.toString().strip().split(",");
                sb.append("<circle class=\"series\" cx=\"").append(xy[0]).append("\" cy=\"").append(xy[1])
                        .append("\" r=\"4\" fill=\"").append(ln.color()).append("\"/>\n");
            }
            sb.append("<polyline class=\"series\" fill=\"none\" stroke=\"").append(ln.color()).append("\" stroke-width=\"2.5\"")
                    .append(ln.dashed() ? " stroke-dasharray=\"6 4\"" : "").append(" points=\"").append(pts.toString().strip()).append("\"/>\n");
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2.5\"%s/>",
                    legendX, legendY - 4, legendX + 18, legendY - 4, ln.color(), ln.dashed() ? " stroke-dasharray=\"6 4\"" : ""));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>\n", legendX + 22, legendY, esc(ln.label())));
            legendY += 15;
        }
        sb.append("</svg>\n");
        return sb.toString();
    }

    /** Rows per request as one bar a target, the value written beside it. */
    static String bars(String id, String title, List<TargetResult> targets, StressReport r) {
        int w = 560, l = 110, rgt = 150, top = 36, barH = 26, gap = 14;
        int h = top + targets.size() * (barH + gap) + 24;
        double max = 0;
        for (TargetResult t : targets) max = Math.max(max, t.rowsPerRequest());
        double scale = max <= 0 ? 0 : (w - l - rgt) / max;
        StringBuilder sb = new StringBuilder();
        sb.append("<svg id=\"").append(id).append("\" data-points=\"").append(targets.size()).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(w).append("\" height=\"").append(h).append("\" viewBox=\"0 0 ").append(w).append(' ').append(h)
                .append("\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.append("<text x=\"").append(w / 2).append("\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">")
                .append(esc(title)).append("</text>\n");
        int y = top;
        for (TargetResult t : targets) {
            double v = t.rowsPerRequest();
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", l - 8, y + barH / 2 + 4, esc(t.name)));
            sb.append(String.format(Locale.ROOT, "<rect class=\"series\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
                    l, y, Math.max(2, v * scale), barH, color(r, t)));
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\">%s</text>\n", l + Math.max(2, v * scale) + 6, y + barH / 2 + 4,
                    esc(String.format(Locale.ROOT, "%,.1f (%.0f%% empty)", v, t.emptyPct()))));
            y += barH + gap;
        }
        sb.append("</svg>\n");
        return sb.toString();
    }

    static double niceCeil(double v) {
        double e = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10}) if (m * e >= v) return m * e;
        return 10 * e;
    }

    static double niceStep(double v) {
        if (v <= 0) return 1;
        double e = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 5, 10}) if (m * e >= v) return m * e;
        return 10 * e;
    }

    static String axisNum(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e7) return String.format(Locale.ROOT, "%,d", (long) v);
        if (Math.abs(v) >= 10) return String.format(Locale.ROOT, "%,.0f", v);
        if (Math.abs(v) >= 1) return String.format(Locale.ROOT, "%.1f", v);
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
