///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/NetErrors.java
//SOURCES ../lib/Tinybird.java
//SOURCES ../lib/TinybirdApiException.java
//SOURCES ../lib/TinybirdClient.java
//SOURCES ../lib/TinybirdNet.java
//SOURCES ../lib/TinybirdOptions.java
//SOURCES ../lib/TinybirdRowScanner.java
//SOURCES ../lib/TinybirdRows.java
//SOURCES ../lib/TinybirdWriter.java
//SOURCES ../lib/TinybirdWriterSettings.java
//SOURCES ../lib/Transfer.java
//SOURCES ../lib/ClickHouseTypes.java
//SOURCES ../lib/CursorValues.java
//SOURCES ../lib/TinybirdSource.java
//SOURCES ../lib/TransferEngine.java
//SOURCES ../lib/TransferOptions.java
//SOURCES ../lib/TransferPager.java
//SOURCES ../lib/TransferWriter.java
//DESCRIPTION Copies the rows of a Tinybird API Endpoint into a Tinybird data source (same or another workspace),
//DESCRIPTION incrementally and resumably: Events API (batched, gzip, wait=true) or the Data Sources API (--via datasources).
//DESCRIPTION Usage: tb-to-tinybird.java [--once | --every 60s] [--pipe reports] [--datasource weather_data_json] [--target-host URL] [--via events|datasources]
//MAIN TbToTinybird

import java.io.BufferedWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "tb-to-tinybird", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, sortOptions = false, usageHelpWidth = 130,
        description = {"Copies the rows of a Tinybird API Endpoint into a Tinybird data source, window by window, with no row lost",
                "or written twice: pages past the endpoint's row cap, sends batches in cursor order one request at a time with",
                "wait=true, and resumes from the data source's latest cursor; rows of that last cursor value already there are",
                "not sent again."},
        footer = {"", "Examples:",
                "  ./jbang tb-to-tinybird --once --datasource weather_data_json",
                "  ./jbang tb-to-tinybird --every 60s --target-host https://api.us-east.tinybird.co     # another region",
                "  ./jbang tb-to-tinybird --once --via datasources --since '2023-05-01 00:00:00'       # bulk: NDJSON file appends",
                "  ./jbang tb-to-tinybird --once --host http://localhost:7181 --token admin-dev --target-token admin-dev",
                "",
                "Source: TINYBIRD_SOURCE_TOKEN (or TINYBIRD_TOKEN), --host / TINYBIRD_HOST. Target: --target-token",
                "(TINYBIRD_TARGET_TOKEN), --target-host (TINYBIRD_TARGET_HOST, default: the source's host). The data source is",
                "created from the endpoint's columns (with jsonpaths) when missing. Exit codes: 0 ok, 1 failure, 2 usage."})
class TbToTinybird implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin TinybirdOptions tinybird;
    @Mixin TransferOptions transfer;

    @Option(names = "--datasource", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "weather_data_json",
            description = "Target data source (default: ${DEFAULT-VALUE}, the original's).")
    String datasource;

    @Option(names = "--target-host", paramLabel = "URL", description = "Target API host (default: TINYBIRD_TARGET_HOST, else the source's host).")
    String targetHost;

    @Option(names = "--target-token", paramLabel = "TOKEN",
            description = "Target token (default: TINYBIRD_TARGET_TOKEN, else TINYBIRD_TOKEN). Never printed.")
    String targetToken;

    /** How rows reach the target data source. */
    enum Via { events, datasources }

    @Option(names = "--via", paramLabel = "events|datasources", defaultValue = "events",
            description = "events: the Events API (default); datasources: NDJSON appends through the Data Sources API (big batches).")
    Via via;

    @Option(names = "--key", paramLabel = "COLUMNS", converter = CliTypes.Name.class, split = ",", defaultValue = "timestamp,site_name",
            description = "Columns that identify a row, to skip rows already sent before a crash (default: ${DEFAULT-VALUE}).")
    List<String> key;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new TbToTinybird()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            PrintWriter err = spec.commandLine().getErr();
            Config cfg = common.config();
            TransferOptions.names("--key", key);
            TinybirdClient source = tinybird.client(cfg, "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_TOKEN");
            String th = targetHost != null ? targetHost : cfg.get("TINYBIRD_TARGET_HOST").orElse(source.host());
            TinybirdClient target = Tinybird.connect(th, null, targetToken, tinybird.insecure, cfg, "TINYBIRD_TARGET_TOKEN", "TINYBIRD_TOKEN");
            TbTarget t = new TbTarget(target, datasource, via, key, transfer.cursor, err);
            t.retryFor = transfer.retryFor;
            return TransferEngine.runCommand(transfer, new TinybirdSource(source, transfer.pipe, transfer.retryFor, err, common.quiet),
                    t, err, common.quiet);
        });
    }

    /**
     * The Tinybird target. Appends only, so "no row twice" comes from order: batches go out in cursor order, one request
     * at a time, each acknowledged (wait=true) before the next. After a crash, every row below the data source's max
     * cursor M is there; rows at M may be partly there. The resume point is M (inclusive), and rows whose key is
     * already in the data source at cursor values from the batch's first up to M are skipped.
     */
    static final class TbTarget implements Transfer.Target {
        private final TinybirdClient client;
        private final String ds, cursor;
        private final Via via;
        private final List<String> key;
        private final PrintWriter err;
        /** --retry-for: how long the writer keeps retrying, as the source does. */
        java.time.Duration retryFor = Timeouts.RETRY_FOR;
        private TinybirdWriter writer;
        private Object recoverUpTo; // the max cursor found at start: rows up to it may already be there
        private List<Transfer.Column> meta;

        TbTarget(TinybirdClient client, String ds, Via via, List<String> key, String cursor, PrintWriter err) {
            this.client = client;
            this.ds = ds;
            this.via = via;
            this.key = List.copyOf(key);
            this.cursor = cursor;
            this.err = err;
        }

        @Override
        public String describe() {
            return "Tinybird data source " + ds + " at " + client.host();
        }

        @Override
        public List<String> keyColumns() {
            return key;
        }

        @Override
        public int maxBatchRows() {
            return via == Via.events ? 50_000 : 200_000;
        }

        static String quote(String s) {
            return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
        }

        static String ident(String s) {
            return "`" + s.replace("`", "") + "`";
        }

        private boolean exists() {
            try {
                client.sql("SELECT count() FROM " + ident(ds));
                return true;
            } catch (TinybirdApiException e) {
                if (e.status == 404) return false;
                throw e;
            }
        }

        @Override
        public Optional<Transfer.Resume> resume(String job, String cursorCol) {
            TinybirdRows.PipeResult r;
            try {
                r = client.sql("SELECT " + ident(cursorCol) + " FROM " + ident(ds) + " ORDER BY " + ident(cursorCol) + " DESC LIMIT 1");
            } catch (TinybirdApiException e) {
                if (e.status == 404) return Optional.empty();
                throw e;
            }
            if (r.data().isEmpty() || r.data().get(0).get(cursorCol) == null || r.data().get(0).get(cursorCol).isNull()) return Optional.empty();
            Object m = Transfer.value(r.data().get(0).get(cursorCol));
            recoverUpTo = m;
            return Optional.of(new Transfer.Resume(m, true, "max(" + cursorCol + ") of data source " + ds));
        }

        /** The data source schema for the endpoint's columns, with jsonpaths (so the Events API can feed it). */
        static String schema(List<Transfer.Column> meta) {
            List<String> cols = new ArrayList<>();
            for (Transfer.Column c : meta) cols.add(ident(c.name()) + " " + c.type() + " `json:$." + c.name() + "`");
            return String.join(", ", cols);
        }

        @Override
        public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter out) throws Exception {
            this.meta = meta;
            for (String k : key) Transfer.indexOf(meta, k, "key (--key)");
            if (!exists()) {
                if (dryRun) {
                    out.println("dry run: would create the data source " + ds + " (" + schema(meta) + ")");
                } else {
                    Path empty = Files.createTempFile("tb-to-tinybird", ".ndjson");
                    try {
                        TinybirdClient.ImportResult r = client.importFile("create", ds, empty, schema(meta));
                        if (r.error() != null) throw new Cli.Failure("creating data source " + ds + ": " + r.error());
                    } finally {
                        Files.deleteIfExists(empty);
                    }
                }
            }
            if (!dryRun && via == Via.events) {
                writer = client.writer(ds, new TinybirdWriterSettings().maxRows(10_000).inFlight(1).queuedBatches(2).waitForAck(true)
                        .retryFor(retryFor));
            }
        }

        /** Keys already in the data source with cursor in [from, to]. */
        private Set<List<String>> keysIn(Object from, Object to) {
            String c = ident(cursor);
            String lit = from instanceof Number ? CursorValues.text(from) : quote(CursorValues.text(from));
            String litTo = to instanceof Number ? CursorValues.text(to) : quote(CursorValues.text(to));
            String cols = String.join(", ", key.stream().map(TbTarget::ident).toList());
            Set<List<String>> keys = new HashSet<>();
            try (TinybirdRows rows = client.sqlRows("SELECT " + cols + " FROM " + ident(ds) + " WHERE " + c + " >= " + lit + " AND " + c + " <= " + litTo)) {
                while (rows.hasNext()) {
                    ObjectNode n = rows.next();
                    List<String> k = new ArrayList<>(key.size());
                    for (String col : key) k.add(n.path(col).asText());
                    keys.add(k);
                }
            }
            return keys;
        }

        @Override
        public Transfer.Counts write(String job, String cursorCol, Transfer.Batch batch) throws Exception {
            Transfer.Counts c = new Transfer.Counts();
            List<Object[]> rows = batch.rows();
            if (rows.isEmpty()) return c;
            int ci = Transfer.indexOf(meta, cursor, "cursor");
            if (recoverUpTo != null) {
                Object first = rows.get(0)[ci];
                if (CursorValues.compare(first, recoverUpTo) <= 0) {
                    Set<List<String>> there = keysIn(first, recoverUpTo);
                    int[] kidx = key.stream().mapToInt(k -> Transfer.indexOf(meta, k, "key")).toArray();
                    List<Object[]> left = new ArrayList<>(rows.size());
                    for (Object[] r : rows) {
                        List<String> k = new ArrayList<>(kidx.length);
                        for (int i : kidx) k.add(CursorValues.text(r[i]));
                        if (CursorValues.compare(r[ci], recoverUpTo) <= 0 && there.contains(k)) c.skipped++;
                        else left.add(r);
                    }
                    rows = left;
                }
                if (CursorValues.compare(rows.isEmpty() ? recoverUpTo : rows.get(rows.size() - 1)[ci], recoverUpTo) >= 0) recoverUpTo = null;
            }
            if (rows.isEmpty()) return c;
            if (writer != null) {
                TinybirdWriter.Stats before = writer.stats();
                for (Object[] r : rows) writer.append(Transfer.toJson(meta, r));
                writer.flush();
                writer.throwIfFailed();
                TinybirdWriter.Stats after = writer.stats();
                c.inserted = after.acknowledged() - before.acknowledged();
                c.rejected = after.quarantined() - before.quarantined();
                if (c.rejected > 0) err.println("tb-to-tinybird: " + c.rejected + " rows went to " + ds + "_quarantine (they don't fit the schema)");
            } else {
                Path f = Files.createTempFile("tb-to-tinybird", ".ndjson");
                try {
                    try (BufferedWriter w = Files.newBufferedWriter(f, StandardCharsets.UTF_8)) {
                        for (Object[] r : rows) {
                            w.write(Json.MAPPER.writeValueAsString(Transfer.toJson(meta, r)));
                            w.write('\n');
                        }
                    }
                    TinybirdClient.ImportResult r = client.importFile("append", ds, f, null);
                    c.rejected = r.quarantineRows() + r.invalidLines();
                    c.inserted = rows.size() - c.rejected;
                    if (c.rejected > 0) err.println("tb-to-tinybird: " + String.format(Locale.ROOT, "%,d", c.rejected) + " rows quarantined or invalid: " + r.error());
                } finally {
                    Files.deleteIfExists(f);
                }
            }
            return c;
        }

        @Override
        public void close() {
            if (writer != null) writer.close();
            client.close();
        }
    }
}
