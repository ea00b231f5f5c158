///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//JAVA_OPTIONS -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/NetErrors.java
//SOURCES ../lib/Pg.java
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
//DESCRIPTION Copies the rows of a Tinybird API Endpoint into a PostgreSQL table, incrementally and resumably:
//DESCRIPTION COPY (into the table; when a key exists, into a temporary table then INSERT ... ON CONFLICT (key) DO UPDATE), batch and watermark in one transaction.
//DESCRIPTION Usage: tb-to-postgres.java [--once | --every 60s] [--pipe reports] [--table weather_reports] [--key timestamp,site_name] [--url URL]
//MAIN TbToPostgres

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "tb-to-postgres", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, sortOptions = false, usageHelpWidth = 130,
        description = {"Copies the rows of a Tinybird API Endpoint into a PostgreSQL table, window by window, with no row lost or",
                "written twice: pages past the endpoint's row cap, upserts by --key, and commits each batch with its watermark",
                "(table transfer_state) in one transaction, so a crash or a restart resumes exactly where it stopped."},
        footer = {"", "Examples:",
                "  ./jbang tb-to-postgres --once --url postgresql://app@localhost/weather            # one sync of the 'reports' pipe",
                "  ./jbang tb-to-postgres --every 60s                                              # follow (the original's schedule); Ctrl-C stops",
                "  ./jbang tb-to-postgres --once --host http://localhost:7181 --pipe reports --param city=denver \\",
                "      --limit-param max_results --page-size 10000",
                "  ./jbang tb-to-postgres --once --dry-run                                         # read and count, write nothing",
                "",
                "Source: TINYBIRD_SOURCE_TOKEN (or TINYBIRD_TOKEN), --host / TINYBIRD_HOST. PostgreSQL: --url, else DATABASE_URL, PG*,",
                "POSTGRES_DATABASE_*. The table is created when missing from the endpoint's columns (ClickHouse -> PostgreSQL types),",
                "with --key as its primary key. Exit codes: 0 ok, 1 failure, 2 usage."})
class TbToPostgres implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin TinybirdOptions tinybird;
    @Mixin TransferOptions transfer;
    @Mixin Pg.Options pg;

    @Option(names = "--table", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "weather_reports",
            description = "Target table, optionally schema.table (default: ${DEFAULT-VALUE}).")
    String table;

    @Option(names = "--key", paramLabel = "COLUMNS", converter = CliTypes.Name.class, split = ",", defaultValue = "timestamp,site_name",
            description = "Primary-key columns, comma-separated (default: ${DEFAULT-VALUE}).")
    List<String> key;

    @Option(names = "--state-table", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "transfer_state",
            description = "Table that holds the watermark of each job (default: ${DEFAULT-VALUE}).")
    String stateTable;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new TbToPostgres()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            PrintWriter err = spec.commandLine().getErr();
            TransferOptions.names("--key", key);
            Config cfg = common.config();
            TinybirdClient client = tinybird.client(cfg, "TINYBIRD_SOURCE_TOKEN", "TINYBIRD_TOKEN");
            Transfer.Source source = new TinybirdSource(client, transfer.pipe, transfer.retryFor, err, common.quiet);
            PgTarget target = new PgTarget(pg.resolve(cfg), table, key, stateTable, transfer.retryFor, err);
            return TransferEngine.runCommand(transfer, source, target, err, common.quiet);
        });
    }

    /** The PostgreSQL target: COPY into a temp table, INSERT ... ON CONFLICT DO UPDATE, watermark in the same transaction. */
    static final class PgTarget implements Transfer.Target {
        private final Pg.Target db;
        private final String table;
        private final List<String> key;
        private final String stateTable;
        private final Duration retryFor;
        private final PrintWriter err;
        private Connection conn;
        private List<String> columns; // written columns (endpoint order, present in the table)
        private int[] colIdx; // their indexes in the endpoint's meta
        private String[] kinds; // how to write each: text, json, bool
        private String upsertSql;
        private boolean tempReady;
        private boolean optimistic = true;
        private boolean connectedBefore;
        /** A new connection replaced a lost one: the database is asked what it holds before the next batch. */
        private boolean verify;
        /** The job's watermark as transfer_state last held it to this process's knowledge (read or committed). */
        private Object known;

        PgTarget(Pg.Target db, String table, List<String> key, String stateTable, Duration retryFor, PrintWriter err) {
            this.db = db;
            this.table = table;
            this.key = List.copyOf(key);
            this.stateTable = stateTable;
            this.retryFor = retryFor;
            this.err = err;
            if (this.key.isEmpty()) throw Cli.usage("--key needs at least one column");
        }

        @Override
        public String describe() {
            return "table " + table + " in " + db;
        }

        @Override
        public List<String> keyColumns() {
            return key;
        }

        private Connection conn() throws SQLException {
            if (conn == null || conn.isClosed()) {
                conn = Pg.connect(db);
                conn.setAutoCommit(false);
                tempReady = false;
                if (connectedBefore) verify = true;
                connectedBefore = true;
            }
            return conn;
        }

        private void dropConnection() {
            if (conn != null) {
                try {
                    conn.close();
                } catch (SQLException ignored) {
                    // already broken
                }
            }
            conn = null;
        }

        /** What an error no retry fixes means and how to fix it, in one line; null for other errors. */
        String permanentReason(SQLException e) {
            String first = Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
            String net = NetErrors.permanent(e);
            if (net != null) {
                return "cannot connect to PostgreSQL at " + db + ": " + net.replace(NetErrors.TRUST_HINT,
                        "trust its CA with sslrootcert=FILE in --url (or PGSSLROOTCERT=FILE)");
            }
            String st = String.valueOf(e.getSQLState());
            if (st.equals("28P01") || st.equals("28000")) {
                return "PostgreSQL at " + db + " refused the login (" + first + "): check the user and password (--url, PGUSER, PGPASSWORD)";
            }
            if (st.equals("3D000")) return "PostgreSQL at " + db + ": " + first + " (check the database name in --url or PGDATABASE)";
            if (st.equals("42501")) {
                return "PostgreSQL at " + db + ": " + first + " (grant the user the rights it needs on " + table + " and " + stateTable
                        + ", or use --table / --state-table in a schema it may write)";
            }
            return null;
        }

        private interface SqlWork<T> {
            T run(Connection c) throws Exception;
        }

        /** Runs work in a transaction, retrying on a fresh connection while the server is away (up to --retry-for). */
        private <T> T withRetry(String what, SqlWork<T> work) throws Exception {
            long deadline = System.nanoTime() + retryFor.toNanos();
            long backoff = 100;
            while (true) {
                try {
                    T r = work.run(conn());
                    conn.commit();
                    return r;
                } catch (Exception x) {
                    try {
                        if (conn != null && !conn.isClosed()) conn.rollback();
                    } catch (SQLException ignored) {
                        // the connection is gone
                    }
                    if (!(x instanceof SQLException e)) throw x;
                    String permanent = permanentReason(e);
                    if (permanent != null) throw new Cli.Failure(permanent, e);
                    if (!Pg.retryable(e)) { // a statement the database refuses: say which database, as for a connection error
                        String state = e.getSQLState() == null ? "" : " [SQLSTATE " + e.getSQLState() + "]";
                        throw new Cli.Failure("PostgreSQL at " + db + ", " + what + state + ": "
                                + Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse("")), e);
                    }
                    if (System.nanoTime() > deadline) {
                        throw new Cli.Failure("PostgreSQL at " + db + " did not come back within --retry-for " + Timeouts.human(retryFor)
                                + " while " + what + ": " + Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse("")), e);
                    }
                    dropConnection();
                    err.println("tb-to-postgres: " + what + ": " + Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse(""))
                            + "; retrying in " + backoff + " ms");
                    err.flush();
                    Thread.sleep(backoff);
                    backoff = Math.min(backoff * 2, 5000);
                }
            }
        }

        @Override
        public Optional<Transfer.Resume> resume(String job, String cursor) throws Exception {
            return withRetry("reading the resume point", c -> {
                if (exists(c, stateTable)) {
                    try (PreparedStatement ps = c.prepareStatement("SELECT watermark FROM " + Pg.qualified(stateTable) + " WHERE job = ? AND target = ?")) {
                        ps.setString(1, job);
                        ps.setString(2, table);
                        try (ResultSet rs = ps.executeQuery()) {
                            if (rs.next() && rs.getString(1) != null) {
                                known = rs.getString(1);
                                return Optional.of(new Transfer.Resume(rs.getString(1), false, "state in " + stateTable));
                            }
                        }
                    }
                }
                known = null;
                if (exists(c, table)) {
                    try (Statement st = c.createStatement();
                         ResultSet rs = st.executeQuery("SELECT max(" + Pg.ident(cursor) + ")::text FROM " + Pg.qualified(table))) {
                        if (rs.next() && rs.getString(1) != null) {
                            return Optional.of(new Transfer.Resume(rs.getString(1), true, "max(" + cursor + ") of " + table));
                        }
                    }
                }
                return Optional.<Transfer.Resume>empty();
            });
        }

        static boolean exists(Connection c, String name) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
                ps.setString(1, Pg.qualified(name));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getBoolean(1);
                }
            }
        }

        /** CREATE TABLE for the endpoint's meta: ClickHouse -> PostgreSQL types, key columns NOT NULL + PRIMARY KEY. */
        String createTableSql(List<Transfer.Column> meta) {
            StringBuilder sb = new StringBuilder("CREATE TABLE IF NOT EXISTS " + Pg.qualified(table) + " (\n");
            for (Transfer.Column col : meta) {
                sb.append("  ").append(Pg.ident(col.name())).append(' ').append(ClickHouseTypes.postgresType(col.type()));
                if (key.contains(col.name())) sb.append(" NOT NULL");
                sb.append(",\n");
            }
            sb.append("  PRIMARY KEY (").append(String.join(", ", key.stream().map(Pg::ident).toList())).append(")\n)");
            return sb.toString();
        }

        @Override
        public void prepare(List<Transfer.Column> meta, boolean dryRun, PrintWriter out) throws Exception {
            for (String k : key) Transfer.indexOf(meta, k, "key (--key)");
            withRetry("preparing the table", c -> {
                boolean has = exists(c, table);
                if (!has) {
                    if (dryRun) {
                        out.println("dry run: would create the table:\n" + createTableSql(meta));
                    } else {
                        try (Statement st = c.createStatement()) {
                            st.execute(createTableSql(meta));
                        }
                    }
                }
                if (!dryRun) {
                    try (Statement st = c.createStatement()) {
                        st.execute("CREATE TABLE IF NOT EXISTS " + Pg.qualified(stateTable)
                                + " (job text NOT NULL, target text NOT NULL, cursor_column text, watermark text, updated_at timestamptz,"
                                + " PRIMARY KEY (job, target))");
                    }
                }
                // the table's columns: write the endpoint's columns it has
                Map<String, String> tableCols = new LinkedHashMap<>();
                if (has || !dryRun) {
                    try (PreparedStatement ps = c.prepareStatement(
                            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                                    + " WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")) {
                        ps.setString(1, Pg.qualified(table));
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) tableCols.put(rs.getString(1), rs.getString(2));
                        }
                    }
                } else {
                    for (Transfer.Column col : meta) tableCols.put(col.name(), ClickHouseTypes.postgresType(col.type()));
                }
                List<String> cols = new ArrayList<>();
                List<Integer> idx = new ArrayList<>();
                List<String> missing = new ArrayList<>();
                for (int i = 0; i < meta.size(); i++) {
                    String n = meta.get(i).name();
                    if (tableCols.containsKey(n)) {
                        cols.add(n);
                        idx.add(i);
                    } else {
                        missing.add(n);
                    }
                }
                for (String k : key) {
                    if (!tableCols.containsKey(k)) throw new Cli.Failure("table " + table + " has no column " + k + " (of --key)");
                }
                if (!missing.isEmpty()) out.println("tb-to-postgres: table " + table + " lacks columns " + missing + "; they are not copied");
                columns = cols;
                colIdx = idx.stream().mapToInt(Integer::intValue).toArray();
                kinds = new String[cols.size()];
                for (int i = 0; i < cols.size(); i++) {
                    String t = tableCols.get(cols.get(i));
                    kinds[i] = t.startsWith("json") ? KIND_JSON : t.equals("boolean") ? "bool" : "text";
                }
                upsertSql = upsertSql();
                return null;
            });
        }

        private String upsertSql() {
            String cols = String.join(", ", columns.stream().map(Pg::ident).toList());
            List<String> nonKey = columns.stream().filter(c -> !key.contains(c)).toList();
            String keys = String.join(", ", key.stream().map(Pg::ident).toList());
            StringBuilder sb = new StringBuilder("WITH w AS (INSERT INTO " + Pg.qualified(table) + " AS t (" + cols + ") SELECT " + cols
                    + " FROM pg_temp.transfer_batch ON CONFLICT (" + keys + ") ");
            if (nonKey.isEmpty()) {
                sb.append("DO NOTHING");
            } else {
                sb.append("DO UPDATE SET ");
                sb.append(String.join(", ", nonKey.stream().map(c -> Pg.ident(c) + " = EXCLUDED." + Pg.ident(c)).toList()));
                sb.append(" WHERE (").append(String.join(", ", nonKey.stream().map(c -> "t." + Pg.ident(c)).toList()));
                sb.append(") IS DISTINCT FROM (").append(String.join(", ", nonKey.stream().map(c -> "EXCLUDED." + Pg.ident(c)).toList())).append(")");
            }
            sb.append(" RETURNING (xmax = 0) AS ins) SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM w");
            return sb.toString();
        }

        private List<Transfer.Column> keyMeta;
        private boolean[] isKey;
        private String[] lastClean;

        @Override
        public String validate(List<Transfer.Column> meta, Object[] row) {
            if (meta != keyMeta) { // once per answer's meta, not once per row
                isKey = new boolean[meta.size()];
                lastClean = new String[meta.size()];
                for (int i = 0; i < meta.size(); i++) isKey[i] = key.contains(meta.get(i).name());
                keyMeta = meta;
            }
            for (int i = 0; i < meta.size(); i++) {
                if (row[i] == null && isKey[i]) return "key column " + meta.get(i).name() + " is null";
                if (row[i] instanceof String s && s != lastClean[i]) { // a String shared by many rows is checked once
                    if (s.indexOf('\0') >= 0) return "column " + meta.get(i).name() + " contains a NUL character (PostgreSQL text can't)";
                    lastClean[i] = s;
                }
            }
            return null;
        }

        @Override
        public Transfer.Counts write(String job, String cursor, Transfer.Batch batch) throws Exception {
            List<Object[]> data = batch.rows();
            Transfer.Counts written = withRetry("writing a batch", c -> {
                if (verify) checkAfterReconnect(c, job);
                if (!tempReady) {
                    try (Statement st = c.createStatement()) {
                        st.execute("CREATE TEMP TABLE IF NOT EXISTS transfer_batch (LIKE " + Pg.qualified(table) + ") ON COMMIT DELETE ROWS");
                    }
                    tempReady = true;
                }
                Transfer.Counts counts = new Transfer.Counts();
                if (!batch.rows().isEmpty()) {
                    String cols = String.join(", ", columns.stream().map(Pg::ident).toList());
                    boolean done = false;
                    if (optimistic) {
                        // new rows (the usual case): COPY straight into the table; a key already there undoes it
                        java.sql.Savepoint sp = c.setSavepoint();
                        try {
                            copy(c, "COPY " + Pg.qualified(table) + " (" + cols + ") FROM STDIN", data);
                            c.releaseSavepoint(sp);
                            counts.inserted = batch.rows().size();
                            done = true;
                        } catch (SQLException e) {
                            if (!"23505".equals(e.getSQLState())) throw e;
                            c.rollback(sp);
                            optimistic = false;
                        }
                    }
                    if (!done) {
                        copy(c, "COPY pg_temp.transfer_batch (" + cols + ") FROM STDIN", data);
                        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(upsertSql)) {
                            rs.next();
                            counts.inserted = rs.getLong(1);
                            counts.updated = rs.getLong(2);
                            counts.skipped = batch.rows().size() - counts.inserted - counts.updated;
                        }
                        optimistic = counts.inserted == batch.rows().size(); // back to plain COPY once a batch is all new
                    }
                }
                if (batch.watermark() != null) {
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + Pg.qualified(stateTable)
                            + " (job, target, cursor_column, watermark, updated_at) VALUES (?, ?, ?, ?, now())"
                            + " ON CONFLICT (job, target) DO UPDATE SET cursor_column = EXCLUDED.cursor_column,"
                            + " watermark = EXCLUDED.watermark, updated_at = EXCLUDED.updated_at")) {
                        ps.setString(1, job);
                        ps.setString(2, table);
                        ps.setString(3, cursor);
                        ps.setString(4, CursorValues.text(batch.watermark()));
                        ps.executeUpdate();
                    }
                }
                return counts;
            });
            if (batch.watermark() != null) known = batch.watermark();
            return written;
        }

        /**
         * After a reconnect the database may hold less than it confirmed (a crash with synchronous_commit=off, a
         * failover to a lagging replica): its table must still be there, and a watermark behind the one known to be
         * committed means batches were lost, so the engine reads them again (Transfer.Rewind).
         */
        private void checkAfterReconnect(Connection c, String job) throws Exception {
            if (!exists(c, table)) {
                throw new Cli.Failure("after reconnecting to PostgreSQL, table " + table + " is gone (with the rows written to it): restore it, "
                        + "or delete the row of job '" + job + "' from " + stateTable + " and run again to copy from --since");
            }
            String now = null;
            if (exists(c, stateTable)) {
                try (PreparedStatement ps = c.prepareStatement("SELECT watermark FROM " + Pg.qualified(stateTable) + " WHERE job = ? AND target = ?")) {
                    ps.setString(1, job);
                    ps.setString(2, table);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) now = rs.getString(1);
                    }
                }
            }
            verify = false;
            if (known != null && (now == null || CursorValues.compare(now, known) < 0)) {
                throw new Transfer.Rewind("after reconnecting, " + stateTable + " holds " + (now == null ? "no watermark" : "watermark " + now)
                        + " for job '" + job + "', behind " + CursorValues.text(known) + " committed before: PostgreSQL lost commits it had confirmed");
            }
        }

        /**
         * COPY ... FROM STDIN of the rows, formatted in 256 KB pieces that are sent as they fill: the server parses
         * one piece while the next is formatted (both cores work), and memory stays at one piece.
         */
        private void copy(Connection c, String sql, List<Object[]> rows) throws SQLException {
            CopyIn in = c.unwrap(PGConnection.class).getCopyAPI().copyIn(sql);
            try {
                CopyText out = new CopyText(in);
                try {
                    for (Object[] r : rows) {
                        for (int i = 0; i < colIdx.length; i++) {
                            if (i > 0) out.ascii('\t');
                            Object v = r[colIdx[i]];
                            if (v == null) {
                                out.ascii('\\');
                                out.ascii('N');
                            } else if (kinds[i] == KIND_JSON) {
                                out.escaped(Json.MAPPER.writeValueAsString(v));
                            } else if (v instanceof String str) {
                                out.escaped(str);
                            } else if (v instanceof Long x) {
                                out.number(x);
                            } else if (v instanceof BigDecimal d) {
                                out.decimal(d);
                            } else {
                                out.escaped(String.valueOf(v)); // Long, BigInteger, Boolean, a JsonNode in a text column
                            }
                        }
                        out.ascii('\n');
                    }
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new SQLException("a value could not be written as JSON: " + e.getOriginalMessage(), e);
                }
                out.flush();
                in.endCopy();
            } finally {
                if (in.isActive()) in.cancelCopy();
            }
        }

        static final String KIND_JSON = "json";

        /** COPY text format (tab-separated, \\N for null, backslash escapes) written as UTF-8 into a buffer sent in pieces. */
        static final class CopyText {
            final CopyIn in;
            final byte[] buf = new byte[256 << 10];
            int n;

            CopyText(CopyIn in) {
                this.in = in;
            }

            void ascii(char ch) throws SQLException {
                if (n == buf.length) flush();
                buf[n++] = (byte) ch;
            }

            void escaped(String s) throws SQLException {
                int len = s.length();
                if (buf.length - n < (long) len * 6 + 8) flush(); // worst case: every char escaped or 3 UTF-8 bytes
                if ((long) len * 6 + 8 > buf.length) { // a huge value: in slices
                    for (int i = 0; i < len; i += 8192) {
                        int e = Math.min(len, i + 8192);
                        if (e < len && Character.isHighSurrogate(s.charAt(e - 1))) e++;
                        escaped(s.substring(i, e));
                        i = e - 8192;
                    }
                    return;
                }
                for (int i = 0; i < len; i++) {
                    char ch = s.charAt(i);
                    if (ch < 0x80) {
                        switch (ch) {
                            case '\\' -> { buf[n++] = '\\'; buf[n++] = '\\'; }
                            case '\t' -> { buf[n++] = '\\'; buf[n++] = 't'; }
                            case '\n' -> { buf[n++] = '\\'; buf[n++] = 'n'; }
                            case '\r' -> { buf[n++] = '\\'; buf[n++] = 'r'; }
                            default -> buf[n++] = (byte) ch;
                        }
                    } else if (ch < 0x800) {
                        buf[n++] = (byte) (0xC0 | (ch >> 6));
                        buf[n++] = (byte) (0x80 | (ch & 0x3F));
                    } else if (Character.isHighSurrogate(ch) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                        int cp = Character.toCodePoint(ch, s.charAt(++i));
                        buf[n++] = (byte) (0xF0 | (cp >> 18));
                        buf[n++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                        buf[n++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                        buf[n++] = (byte) (0x80 | (cp & 0x3F));
                    } else if (Character.isSurrogate(ch)) {
                        buf[n++] = '?'; // a lone surrogate: what String.getBytes(UTF_8) writes too
                    } else {
                        buf[n++] = (byte) (0xE0 | (ch >> 12));
                        buf[n++] = (byte) (0x80 | ((ch >> 6) & 0x3F));
                        buf[n++] = (byte) (0x80 | (ch & 0x3F));
                    }
                }
            }

            static final double[] POW10 = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

            /** A long's digits, with no String in between (a quarter of a transfer's garbage was Long.toString). */
            void number(long x) throws SQLException {
                if (buf.length - n < 20) flush();
                if (x == Long.MIN_VALUE) {
                    escaped(Long.toString(x));
                    return;
                }
                if (x < 0) {
                    buf[n++] = '-';
                    x = -x;
                }
                if (x <= Integer.MAX_VALUE) { // int arithmetic: C1 makes a runtime call of every long division
                    int v = (int) x, len = 1;
                    for (int t = v; t >= 10; t /= 10) len++;
                    for (int i = n + len - 1; i >= n; i--) {
                        buf[i] = (byte) ('0' + v % 10);
                        v /= 10;
                    }
                    n += len;
                    return;
                }
                int len = 1;
                for (long t = x; t >= 10; t /= 10) len++;
                for (int i = n + len - 1; i >= n; i--) {
                    buf[i] = (byte) ('0' + x % 10);
                    x /= 10;
                }
                n += len;
            }

            /**
             * A decimal as toPlainString() writes it, with no String in between. Up to 15 digits, the unscaled value is
             * Math.round(doubleValue() x 10^scale), exactly: both roundings together are off by less than
             * |unscaled| x 2.3e-16 < 0.5, and neither allocates (unscaledValue() would make a BigInteger).
             */
            void decimal(BigDecimal d) throws SQLException {
                int scale = d.scale();
                if (scale < 0 || scale > 18 || d.precision() > 15) {
                    escaped(d.toPlainString());
                    return;
                }
                long u = Math.round(d.doubleValue() * POW10[scale]);
                if (buf.length - n < 24) flush();
                if (u < 0) {
                    buf[n++] = '-';
                    u = -u;
                }
                int digits = 1;
                for (long t = u; t >= 10; t /= 10) digits++;
                int len = Math.max(digits, scale + 1) + (scale > 0 ? 1 : 0); // a zero before the point when all digits are decimals
                int i = n + len - 1;
                if (u <= Integer.MAX_VALUE) { // int arithmetic, as in number()
                    int v = (int) u;
                    for (int k = 0; k < scale; k++) {
                        buf[i--] = (byte) ('0' + v % 10);
                        v /= 10;
                    }
                    if (scale > 0) buf[i--] = '.';
                    do {
                        buf[i--] = (byte) ('0' + v % 10);
                        v /= 10;
                    } while (i >= n);
                    n += len;
                    return;
                }
                for (int k = 0; k < scale; k++) {
                    buf[i--] = (byte) ('0' + u % 10);
                    u /= 10;
                }
                if (scale > 0) buf[i--] = '.';
                do {
                    buf[i--] = (byte) ('0' + u % 10);
                    u /= 10;
                } while (i >= n);
                n += len;
            }

            void flush() throws SQLException {
                if (n > 0) in.writeToCopy(buf, 0, n);
                n = 0;
            }
        }

        /** 50,000 rows a transaction: a fifth of the commits (WAL flushes) of the engine's default 10,000, ~10 MB a batch. */
        @Override
        public int maxBatchRows() {
            return 50_000;
        }

        @Override
        public void close() {
            dropConnection();
        }
    }
}
