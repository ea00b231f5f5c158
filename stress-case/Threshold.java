import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A --threshold criterion, k6 style: [TARGET.]METRIC OP VALUE (p99<200ms, errors<1%, tinybird.rps>500).
 * Why: a run in CI passes or fails on numbers (exit 99 when a threshold is missed), not on someone reading a table.
 * Invariant: latency values are held in milliseconds whatever unit the user wrote.
 */
record Threshold(String text, String target, String metric, String op, double value) {
    static final Pattern P = Pattern.compile(
            "\\s*(?:([a-z]+)\\.)?(p\\d+(?:\\.\\d+)?|mean|avg|min|max|errors|rps|req/s)\\s*(<=|>=|<|>|==)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(ms|s|us|%|/s)?\\s*");

    static Threshold parse(String text, List<String> targets) {
        Matcher m = P.matcher(text.toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw Cli.usage("--threshold: cannot read '" + text + "' (examples: 'p99<200ms', 'errors<1%', 'tinybird.p99.9<=1s', 'rps>500')");
        }
        String target = m.group(1);
        if (target != null) {
            List<String> t = StressCase.parseTargets(target);
            target = t.get(0);
            if (targets != null && !targets.contains(target)) throw Cli.usage("--threshold " + text + ": '" + target + "' is not a target of this run");
        }
        String metric = m.group(2).equals("req/s") ? "rps" : m.group(2);
        double v = Double.parseDouble(m.group(4));
        String unit = m.group(5);
        boolean latency = metric.startsWith("p") || metric.equals("mean") || metric.equals("avg") || metric.equals("min") || metric.equals("max");
        if (latency) {
            if (metric.startsWith("p") && Double.parseDouble(metric.substring(1)) > 100) throw Cli.usage("--threshold " + text + ": a percentile is at most p100");
            if (unit == null || unit.equals("%") || unit.equals("/s")) throw Cli.usage("--threshold " + text + ": give a time unit (ms, s or us)");
            v = switch (unit) { case "s" -> v * 1000; case "us" -> v / 1000; default -> v; };
        } else if (metric.equals("errors")) {
            if (unit != null && unit.equals("%")) metric = "errors%";
            else if (unit != null) throw Cli.usage("--threshold " + text + ": errors take % or a plain count");
        } else if (unit != null && !unit.equals("/s")) {
            throw Cli.usage("--threshold " + text + ": rps takes a plain number");
        }
        return new Threshold(text.strip(), target, metric, m.group(3), v);
    }

    boolean holds(double actual) {
        return switch (op) {
            case "<" -> actual < value;
            case "<=" -> actual <= value;
            case ">" -> actual > value;
            case ">=" -> actual >= value;
            default -> actual == value;
        };
    }

    void check(StressReport report, List<String> misses, List<ObjectNode> checks) {
        for (TargetResult r : report.results) {
            if (target != null && !target.equals(r.name)) continue;
            double actual = r.metric(metric);
            boolean ok = holds(actual);
            ObjectNode o = Json.MAPPER.createObjectNode();
            o.put("threshold", text);
            o.put("target", r.name);
            o.put("actual", StressReport.round3(actual));
            o.put("passed", ok);
            checks.add(o);
            if (!ok) misses.add(r.name + " " + text + " (was " + show(actual) + ")");
        }
    }

    String show(double actual) {
        if (metric.equals("errors%")) return String.format(Locale.ROOT, "%.2f%%", actual);
        if (metric.equals("errors")) return String.format(Locale.ROOT, "%,.0f", actual);
        if (metric.equals("rps")) return String.format(Locale.ROOT, "%,.1f/s", actual);
        return StressReport.fmtMs(actual);
    }
}
