import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
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
            default -> COLORS[(2 + r.results.indexOf(t)) % COLORS.length];
        };
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    record Line(String label, String color, boolean dashed, double[] xs, double[] ys) {}

    static String render(StressReport r) {
        StringBuilder sb = new StringBuilder(64 * 1024);
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stress-case report</title>\n<style>\n")
                .append("body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}\n")
                .append("h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px}\n")
                .append("table{border-collapse:collapse;font-size:14px} td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}\n")
                .append("th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}\n")
                .append(".charts{display:flex;flex-wrap:wrap;gap:16px} svg{background:#fff;border:1px solid #ddd}\n")
                .append("pre{background:#f7f7f7;padding:8px;font-size:12px;white-space:pre-wrap}\n")
                .append("</style></head><body>\n");
        sb.append("<h1>stress-case: ");
        for (int i = 0; i < r.results.size(); i++) {
            TargetResult t = r.results.get(i);
            if (i > 0) sb.append(" vs ");
            sb.append("<span style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</span>");
        }
        sb.append("</h1>\n<div>").append(esc(r.settings != null ? r.settings.model() + ", " + r.settings.duration().toSeconds()
                + " s measured" : "merged from several hlog files")).append("</div>\n");

        sb.append("<h2>Summary</h2>\n<table><tr><th></th>");
        for (TargetResult t : r.results) sb.append("<th style=\"color:").append(color(r, t)).append("\">").append(esc(t.name)).append("</th>");
        sb.append("</tr>\n");
        String[][] rows = {{"requests", null}, {"req/s", null}, {"errors", null}, {"mean", "mean"}, {"p50", "p50"}, {"p90", "p90"},
                {"p99", "p99"}, {"p99.9", "p99.9"}, {"max", "max"}};
        for (String[] row : rows) {
            sb.append("<tr><td>").append(row[0]).append("</td>");
            for (TargetResult t : r.results) {
                String v = switch (row[0]) {
                    case "requests" -> String.format(Locale.ROOT, "%,d", t.count());
                    case "req/s" -> String.format(Locale.ROOT, "%,.1f", t.rps());
                    case "errors" -> String.format(Locale.ROOT, "%,d (%.2f%%)", t.errorCount(), t.errorPct());
                    default -> StressReport.fmtMs(t.metric(row[1]));
                };
                sb.append("<td>").append(esc(v)).append("</td>");
            }
            sb.append("</tr>\n");
        }
        sb.append("</table>\n<div class=\"charts\">\n");

        // latency over time (p99 solid, p50 dashed)
        List<Line> lat = new ArrayList<>();
        List<Line> thr = new ArrayList<>();
        for (TargetResult t : r.results) {
            int n = t.series.size();
            double[] x = new double[n], p50 = new double[n], p99 = new double[n], rps = new double[n];
            for (int i = 0; i < n; i++) {
                SeriesPoint p = t.series.get(i);
                x[i] = p.t();
                p50[i] = p.p50();
                p99[i] = p.p99();
                rps[i] = p.rps();
            }
            lat.add(new Line(t.name + " p99", color(r, t), false, x, p99));
            lat.add(new Line(t.name + " p50", color(r, t), true, x, p50));
            thr.add(new Line(t.name, color(r, t), false, x, rps));
        }
        sb.append(chart("latency-over-time", "Latency over time", "seconds", "ms", lat, false));
        sb.append(chart("throughput-over-time", "Throughput over time", "seconds", "requests/s", thr, false));

        // percentile distribution, HdrHistogram style: x = 1/(1-percentile) on a log scale
        List<Line> dist = new ArrayList<>();
        for (TargetResult t : r.results) {
            if (t.ok() == 0) continue;
            List<double[]> pts = new ArrayList<>();
            for (HistogramIterationValue v : t.h.percentiles(5)) {
                double p = v.getPercentileLevelIteratedTo() / 100.0;
                if (p >= 1.0) p = Math.min(1 - 1e-7, 1 - 1.0 / Math.max(10, t.ok()));
                pts.add(new double[] {Math.log10(1 / (1 - p)), v.getValueIteratedTo() / 1000.0});
            }
            double[] x = new double[pts.size()], y = new double[pts.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = pts.get(i)[0];
                y[i] = pts.get(i)[1];
            }
            dist.add(new Line(t.name, color(r, t), false, x, y));
        }
        sb.append(chart("percentile-distribution", "Latency by percentile", "percentile", "ms", dist, true));
        sb.append("</div>\n");

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
        sb.append("<h2>RunSettings</h2>\n");
        settingsTable(sb, r.settingsJson);
        sb.append("<p style=\"font-size:12px;color:#777\">stress-case ").append(Cli.VERSION).append(", ")
                .append(esc(Instant.now().toString())).append("</p>\n</body></html>\n");
        return sb.toString();
    }

    static void settingsTable(StringBuilder sb, JsonNode o) {
        sb.append("<table>\n");
        for (Map.Entry<String, JsonNode> e : o.properties()) {
            JsonNode v = e.getValue();
            sb.append("<tr><td>").append(esc(e.getKey())).append("</td><td style=\"text-align:left\">");
            if (v.isArray() && v.size() > 0 && v.get(0).isObject()) {
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

    static String chart(String id, String title, String xLabel, String yLabel, List<Line> lines, boolean percentileAxis) {
        int w = 560, h = 320, l = 64, rgt = 16, top = 36, bot = 48;
        double xmin = Double.MAX_VALUE, xmax = -Double.MAX_VALUE, ymax = 0;
        for (Line ln : lines) {
            for (double x : ln.xs()) {
                xmin = Math.min(xmin, x);
                xmax = Math.max(xmax, x);
            }
            for (double y : ln.ys()) ymax = Math.max(ymax, y);
        }
        if (xmin == Double.MAX_VALUE) {
            xmin = 0;
            xmax = 1;
        }
        if (percentileAxis) {
            xmin = 0;
            xmax = Math.max(2, Math.ceil(xmax));
        } else {
            xmin = Math.min(0, xmin);
        }
        if (xmax <= xmin) xmax = xmin + 1;
        double yTop = niceCeil(ymax <= 0 ? 1 : ymax * 1.05);
        StringBuilder sb = new StringBuilder();
        sb.append("<svg id=\"").append(id).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(w).append("\" height=\"").append(h)
                .append("\" viewBox=\"0 0 ").append(w).append(' ').append(h).append("\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.append("<text x=\"").append(w / 2).append("\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">")
                .append(esc(title)).append("</text>\n");
        int pw = w - l - rgt, ph = h - top - bot;
        // y grid
        for (int i = 0; i <= 5; i++) {
            double v = yTop * i / 5;
            double y = top + ph - ph * i / 5.0;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", l, y, l + pw, y));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", l - 6, y + 4, axisNum(v)));
        }
        // x grid
        if (percentileAxis) {
            String[] labels = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"};
            for (int i = 0; i <= (int) xmax && i < labels.length; i++) {
                double x = l + pw * (i - xmin) / (xmax - xmin);
                sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>", x, top, x, top + ph));
                sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x, top + ph + 16,
                        i == (int) xmax ? "end" : "middle", labels[i]));
            }
        } else {
            double step = niceStep((xmax - xmin) / 6);
            for (double v = Math.ceil(xmin / step) * step; v <= xmax + 1e-9; v += step) {
                double x = l + pw * (v - xmin) / (xmax - xmin);
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
            if (ln.xs().length == 0) continue;
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < ln.xs().length; i++) {
                double x = l + pw * (ln.xs()[i] - xmin) / (xmax - xmin);
                double y = top + ph - ph * Math.min(ln.ys()[i], yTop) / yTop;
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
            }
            if (ln.xs().length == 1) {
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
