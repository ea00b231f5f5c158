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
//DEPS org.mongodb:mongodb-driver-sync:5.14.0
//DESCRIPTION Copies the rows of a Tinybird API Endpoint into a MongoDB collection, incrementally and resumably:
//DESCRIPTION ordered bulk upserts by key (never plain inserts), resume from the collection's max cursor.
//DESCRIPTION Usage: tb-to-mongodb.java [--once | --every 60s] [--pipe reports] [--connection-string URI] [--database weather] [--collection weather_reports]
//MAIN TbToMongodb

import java.io.PrintWriter;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import com.mongodb.ConnectionString;
import com.mongodb.MongoBulkWriteException;
import com.mongodb.MongoClientSettings;
import com.mongodb.MongoException;
import com.mongodb.MongoSocketException;
import com.mongodb.MongoTimeoutException;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.BulkWriteOptions;
import com.mongodb.client.model.IndexOptions;
import com.mongodb.client.model.Indexes;
import com.mongodb.client.model.ReplaceOneModel;
import com.mongodb.client.model.ReplaceOptions;
import com.mongodb.client.model.Sorts;
import com.mongodb.client.model.WriteModel;
import com.mongodb.event.ConnectionClosedEvent;
import com.mongodb.event.ConnectionPoolListener;
import com.mongodb.bulk.BulkWriteResult;
import org.bson.Document;
import org.bson.types.Decimal128;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "tb-to-mongodb", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, sortOptions = false, usageHelpWidth = 130,
        description = {"Copies the rows of a Tinybird API Endpoint into a MongoDB collection, window by window, with no row lost",
                "or written twice: pages past the endpoint's row cap and upserts by --key with ordered bulk writes in cursor",
                "order, so the collection's max cursor is a safe resume point (rows on it are upserted again, never doubled)."},
        footer = {"", "Examples:",
                "  ./jbang tb-to-mongodb --once --connection-string mongodb://localhost:27017 --database weather",
                "  ./jbang tb-to-mongodb --every 60s                                # follow; Ctrl-C stops",
                "  ./jbang tb-to-mongodb --once --host http://localhost:7181 --since '2023-05-01 00:00:00' --until '2023-05-08 00:00:00'",
                "",
                "Source: TINYBIRD_SOURCE_TOKEN (or TINYBIRD_TOKEN), --host / TINYBIRD_HOST. MongoDB: --connection-string",
                "(MONGODB_CONNECTION_STRING), --database (MONGODB_DATABASE_NAME), --collection (MONGODB_COLLECTION_NAME).",
                "DateTime columns are stored as BSON dates (UTC), Decimal as Decimal128, arrays/objects as arrays/documents.",
                "Exit codes: 0 ok, 1 failure, 2 usage."})
class TbToMongodb implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin TinybirdOptions tinybird;
    @Mixin TransferOptions transfer;

    @Option(names = "--connection-string", paramLabel = "URI",
            description = "MongoDB connection string (default: MONGODB_CONNECTION_STRING, else mongodb://localhost:27017).")
    String connectionString;

    @Option(names = "--database", paramLabel = "NAME", converter = CliTypes.Name.class, description = "Database (default: MONGODB_DATABASE_NAME, else weather).")
    String database;

    @Option(names = "--collection", paramLabel = "NAME", converter = CliTypes.Name.class, description = "Collection (default: MONGODB_COLLECTION_NAME, else weather_reports).")
    String collection;

    @Option(names = "--key", paramLabel = "COLUMNS", converter = CliTypes.Name.class, split = ",", defaultValue = "timestamp,site_name",
            description = "Fields that identify a document (unique index; default: ${DEFAULT-VALUE}).")
    List<String> key;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new TbToMongodb()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            PrintWriter err = spec.commandLine().getErr();
            TransferOptions.names("--key", key);
            Config cfg = common.config();
            String uri = connectionString != null ? connectionString : cfg.getOr("MONGODB_CONNECTION_STRING", "mongodb://localhost:27017");
            Config.registerSecret(uri);
            String db = database != null ? database : cfg.getOr("MONGODB_DATABASE_NAME", "weather");
            String coll = collection != null ? collection : cfg.getOr("MONGODB_COLLECTION_NAME", "weather_reports");
            TinybirdClient client = tinybird.client(cfg, "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_TOKEN");
            Transfer.Source source = new TinybirdSource(client, transfer.pipe, transfer.retryFor, err, common.quiet);
            MongoTarget target = new MongoTarget(uri, db, coll, key, transfer.retryFor, err);
            return TransferEngine.runCommand(transfer, source, target, err, common.quiet);
        });
    }

    /** The MongoDB target: ordered bulk ReplaceOne upserts in cursor order; resume from the max cursor, inclusive. */
    static final class MongoTarget implements Transfer.Target {
        static final int MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
        static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);
        private final MongoClient client;
        private final MongoCollection<Document> coll;
        private final String where;
        private final List<String> key;
        private final Duration retryFor;
        private final PrintWriter err;
        private String[] names;
        private String[] kinds; // datetime, date, decimal, float, other
        /** A connection was closed (a server restart, a failover, a network cut): check what the collection holds. */
        private volatile boolean reconnected;
        /** The largest cursor value written (as resume() reads it back), to this process's knowledge. */
        private Object known;

        MongoTarget(String uri, String database, String collection, List<String> key, Duration retryFor, PrintWriter err) {
            ConnectionString cs;
            try {
                cs = new ConnectionString(uri);
            } catch (IllegalArgumentException e) {
                throw Cli.usage("not a MongoDB connection string: " + Config.redact(uri) + " (" + Config.redact(e.getMessage()) + ")");
            }
            // the driver reconnects (and may retry a write) by itself: a closed connection is the sign to look
            ConnectionPoolListener closed = new ConnectionPoolListener() {
                @Override
                public void connectionClosed(ConnectionClosedEvent event) {
                    reconnected = true;
                }
            };
            this.client = MongoClients.create(MongoClientSettings.builder().applyConnectionString(cs)
                    .applyToClusterSettings(b -> b.serverSelectionTimeout(10, java.util.concurrent.TimeUnit.SECONDS))
                    .applyToConnectionPoolSettings(b -> b.addConnectionPoolListener(closed)).build());
            this.coll = client.getDatabase(database).getCollection(collection);
            this.where = "collection " + database + "." + collection;
            this.key = List.copyOf(key);
            this.retryFor = retryFor;
            this.err = err;
            if (this.key.isEmpty()) throw Cli.usage("--key needs at least one field");
        }

        @Override
        public String describe() {
            return where;
        }

        @Override
        public List<String> keyColumns() {
            return key;
        }

        private interface Work<T> {
            T run() throws Exception;
        }

        /** Retries work (idempotent upserts) while the server is unreachable, up to --retry-for. */
        private <T> T withRetry(String what, Work<T> work) throws Exception {
            long deadline = System.nanoTime() + retryFor.toNanos();
            long backoff = 100;
            while (true) {
                try {
                    return work.run();
                } catch (MongoSocketException | MongoTimeoutException e) {
                    String permanent = NetErrors.permanent(e);
                    if (permanent != null) {
                        throw new Cli.Failure("cannot reach MongoDB while " + what + ": " + permanent.replace(NetErrors.TRUST_HINT,
                                "trust its CA in the JVM's trust store (-Djavax.net.ssl.trustStore=FILE)"), e);
                    }
                    if (System.nanoTime() > deadline) throw new Cli.Failure("MongoDB unreachable while " + what + ": " + Config.redact(e.getMessage()), e);
                    err.println("tb-to-mongodb: " + what + ": " + Config.redact(e.getMessage()) + "; retrying in " + backoff + " ms");
                    err.flush();
                    Thread.sleep(backoff);
                    backoff = Math.min(backoff * 2, 5000);
                }
            }
        }

        @Override
        public Optional<Transfer.Resume> resume(String job, String cursor) throws Exception {
            return withRetry("reading the resume point", () -> {
                Object value = maxCursor(cursor);
                known = value;
                if (value == null) return Optional.<Transfer.Resume>empty();
                return Optional.of(new Transfer.Resume(value, true, "max(" + cursor + ") of " + where));
            });
        }

        /** The collection's largest cursor value, as a cursor value (timestamps as the endpoint writes them), or null. */
        private Object maxCursor(String cursor) {
            Document d = coll.find().sort(Sorts.descending(cursor)).projection(new Document(cursor, 1)).limit(1).first();
            return d == null ? null : cursorValue(d.get(cursor));
        }

        static Object cursorValue(Object v) {
            if (v == null) return null;
            return v instanceof Date t ? TS.format(LocalDateTime.ofInstant(t.toInstant(), ZoneOffset.UTC))
                    : v instanceof Decimal128 x ? x.bigDecimalValue() : v instanceof Number n ? new BigDecimal(n.toString()) : v.toString();
        }

        /**
         * After a reconnect the collection may hold less than the server acknowledged (a failover to a secondary that
         * had not the writes yet, a crash before the journal was flushed): a max cursor behind the one written means
         * lost writes, and the engine reads them again (Transfer.Rewind).
         */
        private void checkAfterReconnect(String cursor) throws Transfer.Rewind {
            reconnected = false;
            Object now = maxCursor(cursor);
            if (known != null && (now == null || CursorValues.compare(now, known) < 0)) {
                throw new Transfer.Rewind("after reconnecting, the max " + cursor + " of " + where + " is " + (now == null ? "none" : CursorValues.text(now))
                        + ", behind " + CursorValues.text(known) + " written before: MongoDB lost writes it had acknowledged");
            }
        }

        @Override
        public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter out) throws Exception {
            names = meta.stream().map(Transfer.Column::name).toArray(String[]::new);
            kinds = new String[names.length];
            for (int i = 0; i < names.length; i++) {
                String t = ClickHouseTypes.unwrapType(meta.get(i).type());
                kinds[i] = t.startsWith("DateTime") ? "datetime" : t.startsWith("Date") ? "date" : t.startsWith("Decimal") || t.matches("U?Int(128|256)|UInt64") ? "decimal"
                        : t.startsWith("Float") ? "float" : "other";
            }
            for (String k : key) Transfer.indexOf(meta, k, "key (--key)");
            if (dryRun) {
                out.println("dry run: would make sure " + where + " has a unique index on " + key);
                return;
            }
            withRetry("creating indexes", () -> {
                Document keys = new Document();
                for (String k : key) keys.append(k, 1);
                coll.createIndex(keys, new IndexOptions().unique(true).name("transfer_key"));
                return null;
            });
        }

        /** A row value as a BSON value. */
        Object bson(int i, Object v) {
            if (v == null) return null;
            switch (kinds[i]) {
                case "datetime" -> {
                    if (v instanceof String s && s.length() >= 19) {
                        LocalDateTime t = LocalDateTime.parse(s.substring(0, 10) + "T" + s.substring(11));
                        return Date.from(t.toInstant(ZoneOffset.UTC));
                    }
                }
                case "date" -> {
                    if (v instanceof String s && s.length() == 10) return Date.from(LocalDate.parse(s).atStartOfDay().toInstant(ZoneOffset.UTC));
                }
                case "decimal" -> {
                    if (v instanceof BigDecimal d) return new Decimal128(d);
                    if (v instanceof BigInteger b) return new Decimal128(new BigDecimal(b));
                }
                case "float" -> {
                    if (v instanceof Number n) return n.doubleValue();
                }
                default -> { }
            }
            return plain(v);
        }

        static Object plain(Object v) {
            if (v instanceof BigDecimal d) return d.doubleValue();
            if (v instanceof BigInteger b) return new Decimal128(new BigDecimal(b));
            if (v instanceof JsonNode n) return json(n);
            return v;
        }

        static Object json(JsonNode n) {
            if (n == null || n.isNull()) return null;
            if (n.isArray()) {
                List<Object> l = new ArrayList<>(n.size());
                for (JsonNode x : n) l.add(json(x));
                return l;
            }
            if (n.isObject()) {
                Document d = new Document();
                for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    d.append(e.getKey(), json(e.getValue()));
                }
                return d;
            }
            return plain(Transfer.value(n));
        }

        Document document(Object[] row) {
            Document d = new Document();
            for (int i = 0; i < names.length; i++) d.append(names[i], bson(i, row[i]));
            return d;
        }

        @Override
        public String validate(List<Transfer.Column> meta, Object[] row) {
            long size = 0;
            for (int i = 0; i < meta.size(); i++) {
                if (row[i] == null && key.contains(meta.get(i).name())) return "key field " + meta.get(i).name() + " is null";
                size += meta.get(i).name().length() + (row[i] instanceof String s ? s.length() * 3L : row[i] instanceof JsonNode n ? n.toString().length() : 16);
            }
            if (size > MAX_DOCUMENT_BYTES) return "document of about " + size + " bytes, over MongoDB's 16 MB limit";
            return null;
        }

        @Override
        public Transfer.Counts write(String job, String cursor, Transfer.Batch batch) throws Exception {
            Transfer.Counts c = new Transfer.Counts();
            if (batch.rows().isEmpty()) return c;
            List<WriteModel<Document>> ops = new ArrayList<>(batch.rows().size());
            ReplaceOptions upsert = new ReplaceOptions().upsert(true);
            int[] keyIdx = new int[key.size()];
            for (int j = 0; j < key.size(); j++) keyIdx[j] = java.util.Arrays.asList(names).indexOf(key.get(j));
            for (Object[] r : batch.rows()) {
                Document doc = document(r);
                Document filter = new Document();
                for (int j = 0; j < key.size(); j++) filter.append(key.get(j), doc.get(key.get(j)));
                ops.add(new ReplaceOneModel<>(filter, doc, upsert));
            }
            BulkWriteResult res = withRetry("writing a batch", () -> {
                if (reconnected) checkAfterReconnect(cursor);
                try {
                    return coll.bulkWrite(ops, new BulkWriteOptions().ordered(true));
                } catch (MongoBulkWriteException e) {
                    throw new Cli.Failure("MongoDB refused a write to " + where + ": "
                            + (e.getWriteErrors().isEmpty() ? e.getMessage() : e.getWriteErrors().get(0).getMessage()), e);
                }
            });
            int ci = java.util.Arrays.asList(names).indexOf(cursor);
            if (ci >= 0) { // rows come in cursor order: the last one is the largest
                Object last = cursorValue(bson(ci, batch.rows().get(batch.rows().size() - 1)[ci]));
                if (last != null && (known == null || CursorValues.compare(last, known) > 0)) known = last;
            }
            c.inserted = res.getUpserts().size();
            c.updated = res.getModifiedCount();
            c.skipped = res.getMatchedCount() - res.getModifiedCount();
            return c;
        }

        @Override
        public int maxBatchRows() {
            return 5_000;
        }

        @Override
        public void close() {
            client.close();
        }
    }
}
