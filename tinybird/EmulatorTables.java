import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One emulator's data sources as ClickHouse tables in its own database on the process's chDB engine.
 *
 * <p>Why a database each: chDB allows one engine per process and the tests start dozens of emulators in one JVM, so
 * each emulator is a database ({@code tb_<random>}, dropped on close; {@code tinybird} with {@code --data}, kept with
 * its tables across restarts). A data source is a MergeTree table ordered by its sorting key (tuple() without one); its
 * Tinybird schema, jsonpaths included, rides in the table's COMMENT so an on-disk engine restores it.
 *
 * <p>Invariants: rows live only in the engine (the JVM holds none); statements run on pooled connections opened with
 * {@code USE <database>}, one statement per connection at a time; the readonly pool's connections have
 * {@code readonly = 1}, so nothing sent to the Query API can write or change settings.
 */
final class EmulatorTables implements AutoCloseable {
    /** Arrival order: the insert's block, then the row's place in it (for a table with a sorting key, in key order). */
    static final String ARRIVAL = "_block_number, _block_offset";

    final Chdb engine;
    final String db;
    final boolean keep;
    final Map<String, DataSource> dataSources = new ConcurrentHashMap<>();
    volatile boolean storeRows = true;
    private final Pool rw = new Pool(false), ro = new Pool(true);
    private volatile boolean closed;

    /** A data source: its columns (with jsonpaths for JSON ones), id, and whether it is the read-only built-in weather. */
    static final class DataSource {
        final String name, id, sortingKey;
        final List<EmulatorSchema.Col> cols;
        final boolean json, builtin;
        final Map<String, EmulatorSchema.Col> topLevel = new HashMap<>();
        final boolean allTopLevel;
        /** Every column at $.<its name>: NDJSON lines go to the engine as they came. */
        final boolean identity;
        /** Rows counted when rows are not stored (storeRows(false), benchmarks). */
        final AtomicLong counted = new AtomicLong();

        DataSource(String name, String id, List<EmulatorSchema.Col> cols, boolean json, boolean builtin, String sortingKey) {
            this.name = name;
            this.id = id;
            this.cols = List.copyOf(cols);
            this.json = json;
            this.builtin = builtin;
            this.sortingKey = sortingKey;
            boolean all = true, same = true;
            for (int i = 0; i < this.cols.size(); i++) this.cols.get(i).index = i;
            for (EmulatorSchema.Col c : this.cols) {
                if (c.topLevel()) topLevel.put(c.pathParts[0], c);
                else all = false;
                if (!c.topLevel() || !c.pathParts[0].equals(c.name)) same = false;
            }
            this.allTopLevel = all && topLevel.size() == this.cols.size();
            this.identity = same;
        }

        /** The schema as Tinybird writes it: {@code `name` Type `json:$.path`, ...}. */
        String schema() {
            List<String> out = new ArrayList<>();
            for (EmulatorSchema.Col c : cols) out.add("`" + c.name + "` " + c.type + (c.path == null ? "" : " `json:" + c.path + "`"));
            return String.join(", ", out);
        }
    }

    EmulatorTables(Path dataDir) {
        engine = Chdb.engine(dataDir);
        keep = dataDir != null;
        db = keep ? "tinybird" : "tb_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        Chdb.Connection c = engine.connect();
        try {
            c.execute("CREATE DATABASE IF NOT EXISTS " + ident(db));
        } finally {
            c.close();
        }
        if (keep) restore();
    }

    /** Tables of an on-disk engine come back as data sources (their schema from the COMMENT). */
    private void restore() {
        String rows = write(c -> c.text("SELECT name, comment FROM system.tables WHERE database = " + quote(db)
                + " AND engine LIKE '%MergeTree'", "JSONEachRow"));
        for (String line : rows.split("\n")) {
            if (line.isBlank()) continue;
            try {
                JsonNode t = Json.MAPPER.readTree(line);
                JsonNode meta = Json.MAPPER.readTree(t.path("comment").asText("{}"));
                if (!meta.has("schema")) continue;
                String name = t.path("name").asText();
                DataSource ds = new DataSource(name, meta.path("id").asText(), EmulatorSchema.parseSchema(meta.path("schema").asText()),
                        meta.path("json").asBoolean(), false, meta.path("sorting_key").isTextual() ? meta.path("sorting_key").asText() : null);
                dataSources.put(name, ds);
            } catch (IOException | IllegalArgumentException e) {
                System.err.println("tinybird-emulator: skipping table " + line.strip() + ": " + e.getMessage());
            }
        }
    }

    // ------------------------------------------------------------------ data sources

    /** Creates the table of a new data source; false when one of that name exists. */
    synchronized boolean create(DataSource ds) {
        if (dataSources.containsKey(ds.name)) return false;
        ObjectNode meta = JsonNodeFactory.instance.objectNode();
        meta.put("schema", ds.schema());
        meta.put("id", ds.id);
        meta.put("json", ds.json);
        if (ds.sortingKey != null) meta.put("sorting_key", ds.sortingKey);
        StringBuilder sql = new StringBuilder("CREATE TABLE ").append(table(ds.name)).append(" (");
        for (int i = 0; i < ds.cols.size(); i++) {
            EmulatorSchema.Col c = ds.cols.get(i);
            sql.append(i > 0 ? ", " : "").append(ident(c.name)).append(' ').append(c.type);
        }
        sql.append(") ENGINE = MergeTree ORDER BY ").append(ds.sortingKey == null || ds.sortingKey.isBlank() ? "tuple()" : "(" + ds.sortingKey + ")")
                .append(" SETTINGS enable_block_number_column = 1, enable_block_offset_column = 1 COMMENT ").append(quote(meta.toString()));
        write(c -> {
            c.execute(sql.toString());
            return null;
        });
        dataSources.put(ds.name, ds); // visible once its table exists
        return true;
    }

    /** A read-only data source over a query (the built-in weather data): a VIEW, which refuses inserts. */
    void createView(DataSource ds, String select) {
        dataSources.put(ds.name, ds);
        write(c -> {
            c.execute("CREATE OR REPLACE VIEW " + table(ds.name) + " AS " + select);
            return null;
        });
    }

    void drop(String name) {
        DataSource ds = dataSources.remove(name);
        if (ds == null) return;
        write(c -> {
            c.execute("DROP " + (ds.builtin ? "VIEW" : "TABLE") + " IF EXISTS " + table(name) + " SYNC");
            return null;
        });
    }

    void truncate(DataSource ds) {
        ds.counted.set(0);
        write(c -> {
            c.execute("TRUNCATE TABLE IF EXISTS " + table(ds.name) + " SYNC");
            return null;
        });
    }

    /** The quarantine data source of ds, created on first use. */
    DataSource quarantineOf(DataSource ds) {
        String n = ds.name + "_quarantine";
        DataSource q = dataSources.get(n);
        if (q != null) return q;
        synchronized (this) {
            q = dataSources.get(n);
            if (q != null) return q;
            q = new DataSource(n, "t_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16),
                    EmulatorSchema.quarantineColumns(ds.cols), false, false, null);
            create(q);
            return q;
        }
    }

    // ------------------------------------------------------------------ rows

    /**
     * Inserts NDJSON rows (lines of body at pairs[2i], length pairs[2i+1]) in one statement; null when all went in,
     * else the engine's error for each row (null = stored), found by inserting the rows one by one.
     */
    String[] insertLines(DataSource ds, byte[] body, int[] pairs, int n) {
        if (n == 0) return null;
        if (!storeRows) {
            ds.counted.addAndGet(n);
            return null;
        }
        byte[] head = ("INSERT INTO " + table(ds.name) + " FORMAT JSONEachRow\n").getBytes(StandardCharsets.UTF_8);
        byte[][] rows = ds.identity ? null : new byte[n][];
        long size = head.length;
        for (int i = 0; i < n; i++) {
            if (rows != null) rows[i] = project(ds, body, pairs[2 * i], pairs[2 * i + 1]);
            size += (rows != null ? rows[i].length : pairs[2 * i + 1]) + 1;
        }
        if (size > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("batch over 2 GB");
        byte[] sql = new byte[(int) size];
        System.arraycopy(head, 0, sql, 0, head.length);
        int pos = head.length;
        for (int i = 0; i < n; i++) {
            if (rows != null) {
                System.arraycopy(rows[i], 0, sql, pos, rows[i].length);
                pos += rows[i].length;
            } else {
                System.arraycopy(body, pairs[2 * i], sql, pos, pairs[2 * i + 1]);
                pos += pairs[2 * i + 1];
            }
            sql[pos++] = '\n';
        }
        try {
            write(c -> {
                c.query(sql, null).close();
                return null;
            });
            return null;
        } catch (Chdb.QueryException e) {
            if (n == 1) return new String[] {e.getMessage()};
            String[] errors = new String[n];
            for (int i = 0; i < n; i++) {
                String[] one = insertLines(ds, body, new int[] {pairs[2 * i], pairs[2 * i + 1]}, 1);
                errors[i] = one == null ? null : one[0];
            }
            return errors;
        }
    }

    /** Inserts rows given as JSON objects keyed by column name. */
    String[] insertObjects(DataSource ds, List<ObjectNode> objects) {
        if (objects.isEmpty()) return null;
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        int[] pairs = new int[objects.size() * 2];
        try {
            for (int i = 0; i < objects.size(); i++) {
                pairs[2 * i] = b.size();
                Json.MAPPER.writeValue(b, objects.get(i));
                pairs[2 * i + 1] = b.size() - pairs[2 * i];
                b.write('\n');
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        DataSource byName = ds.identity ? ds : new DataSource(ds.name, ds.id, ds.cols.stream()
                .map(c -> new EmulatorSchema.Col(c.name, c.type, null)).toList(), ds.json, false, ds.sortingKey);
        byName.counted.set(0);
        String[] errors = insertLines(byName, b.toByteArray(), pairs, objects.size());
        if (byName != ds) ds.counted.addAndGet(byName.counted.get());
        return errors;
    }

    /** A JSON line as an object keyed by column name (values found by each column's jsonpath). */
    private static byte[] project(DataSource ds, byte[] body, int off, int len) {
        try {
            JsonNode n = Json.MAPPER.readTree(body, off, len);
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            for (EmulatorSchema.Col c : ds.cols) {
                JsonNode v = EmulatorSchema.at(n, c);
                if (v != null && !v.isMissingNode()) o.set(c.name, v);
            }
            return Json.MAPPER.writeValueAsBytes(o);
        } catch (IOException e) {
            throw new IllegalStateException("a validated row did not parse", e);
        }
    }

    long count(DataSource ds) {
        if (!storeRows && !ds.builtin) return ds.counted.get();
        return Long.parseLong(write(c -> c.text("SELECT count() FROM " + table(ds.name), "TSV")).strip());
    }

    /** Every row, parsed, in arrival order (tests and small tables: the rows come onto the heap here). */
    List<ObjectNode> rows(DataSource ds) {
        String order = ds.builtin ? "" : " ORDER BY " + ARRIVAL;
        List<ObjectNode> out = new ArrayList<>();
        write(c -> {
            try (Chdb.Result r = c.query("SELECT * FROM " + table(ds.name) + order, "JSONEachRow")) {
                var it = Json.MAPPER.readerFor(ObjectNode.class).<ObjectNode>readValues(r.bytes());
                while (it.hasNext()) out.add(it.next());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            return null;
        });
        return out;
    }

    // ------------------------------------------------------------------ connections

    /** Runs f on a read-write connection of this database. */
    <T> T write(Function<Chdb.Connection, T> f) {
        return rw.with(f);
    }

    /** Runs f on a readonly connection of this database (the Query API, pipes). */
    <T> T read(Function<Chdb.Connection, T> f) {
        return ro.with(f);
    }

    /** The data source's table, qualified with this emulator's database. */
    String table(String name) {
        return ident(db) + "." + ident(name);
    }

    static String ident(String name) {
        return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`";
    }

    /** A ClickHouse string literal, so the value can never end the literal (one quoting for the whole emulator). */
    static String quote(String v) {
        return PipeTemplate.quote(v);
    }

    /** Connections of one kind, opened on demand up to a cap, each used by one caller at a time. */
    private final class Pool {
        final boolean readonly;
        final ConcurrentLinkedQueue<Chdb.Connection> idle = new ConcurrentLinkedQueue<>();
        final Semaphore permits;

        /** Readonly connections stay with an answer until it is sent, so a slow reader holds one: more of them. */
        Pool(boolean readonly) {
            this.readonly = readonly;
            int cores = Runtime.getRuntime().availableProcessors();
            this.permits = new Semaphore(readonly ? Math.max(8, 4 * cores) : Math.max(4, 2 * cores));
        }

        <T> T with(Function<Chdb.Connection, T> f) {
            if (closed) throw new IllegalStateException("the emulator is closed");
            permits.acquireUninterruptibly();
            Chdb.Connection c = idle.poll();
            try {
                if (c == null) c = open();
                return f.apply(c);
            } finally {
                if (c != null) {
                    if (closed) c.close();
                    else idle.add(c);
                }
                permits.release();
            }
        }

        Chdb.Connection open() {
            Chdb.Connection c = engine.connect();
            c.execute("USE " + ident(db));
            c.execute("SET session_timezone = 'UTC'");
            c.execute("SET date_time_input_format = 'best_effort'");
            // Tinybird writes 64-bit integers (count(), UInt64 columns) as JSON numbers, not ClickHouse's quoted strings
            c.execute("SET output_format_json_quote_64bit_integers = 0");
            // no system.query_log: nobody reads it here, and it costs every request and grows with a long run
            c.execute("SET log_queries = 0");
            if (readonly) c.execute("SET readonly = 1");
            return c;
        }

        void close() {
            Chdb.Connection c;
            while ((c = idle.poll()) != null) c.close();
        }
    }

    @Override
    public void close() {
        if (closed) return;
        try {
            if (!keep) write(c -> {
                c.execute("DROP DATABASE IF EXISTS " + ident(db) + " SYNC");
                return null;
            });
        } catch (IllegalStateException e) {
            if (!engine.stopping) throw e; // at JVM exit the engine goes, and an in-memory database with it
        } finally {
            closed = true;
            ro.close();
            rw.close();
        }
    }
}
