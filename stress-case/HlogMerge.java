import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogReader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * 'stress-case merge': adds the HdrHistogram interval logs (--hlog) of several machines or runs per target and
 * writes the same table, JSON, HTML and thresholds as a run.
 * Why: one machine can not always load a target hard enough; percentiles can not be averaged, histograms can be added.
 * Invariant: the merged percentiles are those of all requests together; req/s is the sum of the files' rates.
 */
@Command(name = "merge", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {"Combines --hlog files (from several load machines, or several runs) into one result:",
                "histograms are added per target, so percentiles are those of all requests together; req/s is the",
                "sum of each file's req/s (machines loading at the same time)."},
        footer = {"", "Example:", "  ./jbang stress-case merge m1.hlog m2.hlog --json all.json --html all.html --threshold 'p99<200ms'"})
final class HlogMerge implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;

    @Parameters(paramLabel = "FILE", arity = "1..*", description = "hlog files written by --hlog.")
    List<Path> files;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the merged summary as JSON.")
    Path json;

    @Option(names = "--html", paramLabel = "FILE", description = "Write an HTML report of the merged result.")
    Path html;

    @Option(names = "--threshold", paramLabel = "EXPR", description = "As for a run; exit code 99 when missed.")
    List<String> thresholds = new ArrayList<>();

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            List<Threshold> ths = new ArrayList<>();
            for (String t : thresholds) ths.add(Threshold.parse(t, null));
            StressReport r = merge(files);
            StressCase owner = new StressCase();
            owner.spec = spec;
            owner.json = json;
            owner.html = html;
            return owner.finish(r, ths);
        });
    }

    /** Adds the histograms of several hlog files per target; series are aligned by seconds since each file's start. */
    static StressReport merge(List<Path> files) throws IOException {
        Map<String, Histogram> totals = new LinkedHashMap<>();
        Map<String, TreeMap<Long, Histogram>> buckets = new LinkedHashMap<>();
        Map<String, TreeMap<Long, Long>> bucketErrors = new LinkedHashMap<>();
        Map<String, Map<String, Long>> errors = new LinkedHashMap<>();
        Map<String, double[]> stats = new LinkedHashMap<>(); // rps sum, seconds max, late, max delay, rows
        Map<String, String> gaveUp = new LinkedHashMap<>();
        ArrayNode settings = Json.MAPPER.createArrayNode();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new Cli.Failure("no such file: " + f);
            Map<String, Long> counts = new LinkedHashMap<>();
            Map<String, Long> errCounts = new LinkedHashMap<>();
            Double start = null;
            HistogramLogReader reader;
            try {
                reader = new HistogramLogReader(f.toFile());
            } catch (IOException e) {
                throw new Cli.Failure(f + ": cannot read: " + StressCase.oneLine(e));
            }
            int n = 0;
            try {
                for (EncodableHistogram eh = reader.nextIntervalHistogram(); eh != null; eh = reader.nextIntervalHistogram()) {
                    n++;
                    if (!(eh instanceof Histogram h)) throw new Cli.Failure(f + ": interval " + n + ": not an integer histogram");
                    String tag = h.getTag() == null ? "unnamed" : h.getTag();
                    if (tag.equals("none")) continue;
                    if (start == null) start = h.getStartTimeStamp() / 1000.0;
                    long bucket = Math.max(0, Math.round(h.getEndTimeStamp() / 1000.0 - start));
                    if (tag.endsWith(".errors")) {
                        String t = tag.substring(0, tag.length() - 7);
                        errCounts.merge(t, h.getTotalCount(), Long::sum);
                        bucketErrors.computeIfAbsent(t, k -> new TreeMap<>()).merge(bucket, h.getTotalCount(), Long::sum);
                        continue;
                    }
                    totals.computeIfAbsent(tag, k -> new Histogram(1, TimeUnit.HOURS.toMicros(1), 3)).add(h);
                    buckets.computeIfAbsent(tag, k -> new TreeMap<>())
                            .computeIfAbsent(bucket, k -> new Histogram(1, TimeUnit.HOURS.toMicros(1), 3)).add(h);
                    counts.merge(tag, h.getTotalCount(), Long::sum);
                }
            } catch (Cli.Failure e) {
                throw e;
            } catch (RuntimeException e) {
                throw new Cli.Failure(f + ": not an HdrHistogram log written by --hlog (" + StressCase.oneLine(e) + ")");
            }
            // our comment lines: per target seconds, late starts, rows, errors by kind
            boolean ours = false;
            try (BufferedReader br = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                for (String line = br.readLine(); line != null; line = br.readLine()) {
                    if (line.startsWith("#stress-case settings ")) {
                        ours = true;
                        settings.add(Json.MAPPER.readTree(line.substring(22)));
                    } else if (line.startsWith("#stress-case target ")) {
                        String[] p = line.substring(20).split(" ");
                        String t = p[0];
                        Map<String, String> kv = new LinkedHashMap<>();
                        for (int i = 1; i < p.length; i++) {
                            int eq = p[i].indexOf('=');
                            if (eq > 0) kv.put(p[i].substring(0, eq), p[i].substring(eq + 1));
                        }
                        double secs = Double.parseDouble(kv.getOrDefault("seconds", "1"));
                        long c = counts.getOrDefault(t, 0L) + errCounts.getOrDefault(t, 0L);
                        double[] st = stats.computeIfAbsent(t, k -> new double[7]);
                        st[0] += c / Math.max(secs, 1e-9);
                        st[1] = Math.max(st[1], secs);
                        st[2] += Long.parseLong(kv.getOrDefault("late", "0"));
                        st[3] = Math.max(st[3], Long.parseLong(kv.getOrDefault("max_start_delay_us", "0")));
                        st[4] += Long.parseLong(kv.getOrDefault("rows", "0"));
                        st[5] += Long.parseLong(kv.getOrDefault("answered", "0"));
                        st[6] += Long.parseLong(kv.getOrDefault("empty", "0"));
                        if (kv.containsKey("gave_up")) gaveUp.put(t, java.net.URLDecoder.decode(kv.get("gave_up"), StandardCharsets.UTF_8));
                    } else if (line.startsWith("#stress-case errors ")) {
                        String[] p = line.substring(20).split(" ");
                        errors.computeIfAbsent(p[0], k -> new TreeMap<>())
                                .merge(java.net.URLDecoder.decode(p[1], StandardCharsets.UTF_8), Long.parseLong(p[2]), Long::sum);
                    }
                }
            } catch (RuntimeException e) {
                throw new Cli.Failure(f + ": a damaged stress-case comment line (" + StressCase.oneLine(e) + ")");
            }
            if (!ours) throw new Cli.Failure(f + ": not written by stress-case --hlog (no settings line)");
        }
        List<TargetResult> results = new ArrayList<>();
        for (Map.Entry<String, Histogram> e : totals.entrySet()) {
            String t = e.getKey();
            double[] st = stats.getOrDefault(t, new double[] {0, 1, 0, 0, 0, 0, 0});
            Map<String, Long> errs = errors.getOrDefault(t, new TreeMap<>());
            long count = e.getValue().getTotalCount() + errs.values().stream().mapToLong(Long::longValue).sum();
            double secs = st[0] > 0 ? count / st[0] : Math.max(st[1], 1e-9); // so that rps() is the sum of the files' rates
            List<SeriesPoint> series = new ArrayList<>();
            TreeMap<Long, Long> be = bucketErrors.getOrDefault(t, new TreeMap<>());
            for (Map.Entry<Long, Histogram> b : buckets.get(t).entrySet()) {
                Histogram h = b.getValue();
                long errsB = be.getOrDefault(b.getKey(), 0L);
                boolean any = h.getTotalCount() > 0;
                series.add(new SeriesPoint(b.getKey(), h.getTotalCount() + errsB, errsB, any ? h.getValueAtPercentile(50) / 1000.0 : 0,
                        any ? h.getValueAtPercentile(99) / 1000.0 : 0, any ? h.getMaxValue() / 1000.0 : 0));
            }
            results.add(new TargetResult(t, e.getValue(), errs, secs, (long) st[2], (long) st[3], (long) st[4], (long) st[5], (long) st[6], series, gaveUp.get(t)));
        }
        if (results.isEmpty()) throw new Cli.Failure("no latency data in " + files);
        ObjectNode s = Json.MAPPER.createObjectNode();
        s.put("merged_files", files.size());
        s.set("runs", settings);
        return new StressReport(s, null, results);
    }
}
