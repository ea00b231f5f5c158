//SOURCES Pg.java
//SOURCES Json.java
//SOURCES Csv.java

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * What the postgres-client scripts share: named parameters, clear one-line connection errors, pooler
 * detection, and result output as a psql-like table, CSV, JSON or NDJSON.
 */
public final class PgClient {
    private PgClient() {}

    /** The original's query (city match made case-insensitive, the original's to-do). */
    public static final String CITY_QUERY =
            "SELECT * FROM weather_reports WHERE lower(site_name) = lower(:city) LIMIT :limit";

    // ------------------------------------------------------------------ named parameters

    /** SQL with :name placeholders turned into ?, the names in order, and how many bare ? marks it already had. */
    public record Named(String sql, List<String> names, int bareMarks) {}

    /**
     * Replaces {@code :name} with {@code ?}, leaving alone quoted strings, quoted identifiers, comments,
     * dollar-quoted strings and {@code ::type} casts.
     */
    public static Named named(String sql) {
        StringBuilder out = new StringBuilder(sql.length());
        List<String> names = new ArrayList<>();
        int n = sql.length(), bare = 0;
        for (int i = 0; i < n; ) {
            char c = sql.charAt(i);
            if (c == '\'' || c == '"') {
                int j = i + 1;
                while (j < n) {
                    if (sql.charAt(j) == c) {
                        if (j + 1 < n && sql.charAt(j + 1) == c) { j += 2; continue; }
                        break;
                    }
                    j++;
                }
                j = Math.min(j + 1, n);
                out.append(sql, i, j);
                i = j;
            } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                int j = sql.indexOf('\n', i);
                j = j < 0 ? n : j;
                out.append(sql, i, j);
                i = j;
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int j = sql.indexOf("*/", i + 2);
                j = j < 0 ? n : j + 2;
                out.append(sql, i, j);
                i = j;
            } else if (c == '$' && (i == 0 || !Character.isJavaIdentifierPart(sql.charAt(i - 1)))) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\$([A-Za-z_][A-Za-z0-9_]*)?\\$").matcher(sql);
                if (m.find(i) && m.start() == i) {
                    String tag = m.group();
                    int end = sql.indexOf(tag, m.end());
                    end = end < 0 ? n : end + tag.length();
                    out.append(sql, i, end);
                    i = end;
                } else {
                    out.append(c);
                    i++;
                }
            } else if (c == ':' && i + 1 < n && sql.charAt(i + 1) == ':') {
                out.append("::");
                i += 2;
            } else if (c == ':' && i + 1 < n && Character.isJavaIdentifierStart(sql.charAt(i + 1))) {
                int j = i + 1;
                while (j < n && (Character.isLetterOrDigit(sql.charAt(j)) || sql.charAt(j) == '_')) j++;
                names.add(sql.substring(i + 1, j));
                out.append('?');
                i = j;
            } else {
                if (c == '?') bare++;
                out.append(c);
                i++;
            }
        }
        return new Named(out.toString(), names, bare);
    }

    /** Repeated {@code name=value} options (each checked by {@link CliTypes.NameValue}) as a map, in order. */
    public static Map<String, String> params(List<String> pairs) {
        Map<String, String> m = new LinkedHashMap<>();
        if (pairs == null) return m;
        for (String p : pairs) {
            int eq = p.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("not NAME=VALUE: " + p);
            m.put(p.substring(0, eq).strip(), p.substring(eq + 1));
        }
        return m;
    }

    /**
     * Binds values by name. Values are sent untyped (like psql's variables in a prepared statement), so the
     * server types them from the context: {@code id = :id} takes an integer, {@code ts > :t} a timestamp.
     */
    public static void bind(PreparedStatement ps, Named q, Map<String, String> values) throws SQLException {
        for (int i = 0; i < q.names().size(); i++) {
            String name = q.names().get(i);
            if (!values.containsKey(name)) {
                throw Cli.usage("the query uses :" + name + " but no --param " + name + "=VALUE was given");
            }
            ps.setObject(i + 1, values.get(name), Types.OTHER);
        }
    }

    // ------------------------------------------------------------------ connections

    /** True for Supabase's transaction-mode pooler (port 6543, or a *.pooler.supabase.com host on 6543). */
    public static boolean looksLikeTransactionPooler(Pg.Target t) {
        String hosts = t.jdbcUrl().substring("jdbc:postgresql://".length()).replaceAll("/.*$", "");
        for (String hp : hosts.split(",")) {
            if (hp.endsWith(":6543")) return true;
        }
        return false;
    }

    /**
     * Results in text format (as psql and pgbench get them) unless binaryTransfer was set: every value is read as
     * text anyway, and pgjdbc's getString on a binary column builds a TimestampUtils (with a GregorianCalendar) per
     * result set, which showed up in pg-pool's profile (the CPU saved was within this machine's noise).
     */
    public static void textResults(Pg.Target t) {
        t.props().putIfAbsent("binaryTransfer", "false");
    }

    /** Turns server-side prepared statements off (PgBouncer / Supavisor in transaction mode). */
    public static void transactionPooler(Pg.Target t) {
        t.props().setProperty("prepareThreshold", "0");
    }

    /** Connects; failures become one line naming the server (never the password) and the SQLSTATE. */
    public static Connection connect(Pg.Target t) {
        try {
            return Pg.connect(t);
        } catch (SQLException e) {
            Cli.Failure f = explain(e, t);
            // a refusal that does not say where (a missing database, too many connections) still names host:port/database
            if (f.getMessage().contains(server(t))) throw f;
            throw new Cli.Failure(Config.redact("cannot connect to " + server(t) + ": " + f.getMessage()), e);
        }
    }

    /** A one-line, actionable description of a driver error. */
    public static Cli.Failure explain(SQLException e, Pg.Target t) {
        String state = e.getSQLState() == null ? "" : " [SQLSTATE " + e.getSQLState() + "]";
        String where = t == null ? "" : " " + server(t);
        Throwable root = e;
        for (Throwable c = e; c != null; c = c.getCause()) root = c;
        String msg;
        if (root instanceof UnknownHostException) {
            msg = "unknown host: " + root.getMessage() + state;
        } else if (root instanceof ConnectException || root instanceof NoRouteToHostException) {
            msg = "connection refused by" + where + " (is PostgreSQL running there, on that port?)" + state;
        } else if (root instanceof SocketTimeoutException || "08001".equals(e.getSQLState()) && String.valueOf(e.getMessage()).contains("timed out")) {
            msg = "timed out connecting to" + where + " (connect_timeout " + t.props().getProperty("connectTimeout", "10") + " s)" + state;
        } else if (("28000".equals(e.getSQLState()) && String.valueOf(e.getMessage()).contains("no encryption"))
                || String.valueOf(e.getMessage()).contains("SSL required")) {
            msg = "the server at" + where + " requires SSL (" + firstLine(serverText(e)) + "): add sslmode=require to the URL"
                    + " or set PGSSLMODE=require" + state;
        } else if ("28P01".equals(e.getSQLState()) || "28000".equals(e.getSQLState())) {
            msg = "authentication failed for user \"" + (t == null ? "?" : t.user()) + "\" at" + where + ": " + firstLine(serverText(e)) + state;
        } else if ("08004".equals(e.getSQLState()) && String.valueOf(e.getMessage()).contains("SSL")) {
            msg = "SSL is required by sslmode=" + (t == null ? "require" : t.props().getProperty("sslmode", "require"))
                    + " but" + where + " does not support SSL (use sslmode=prefer or disable for a local server)" + state;
        } else if ("57014".equals(e.getSQLState())) {
            msg = "query cancelled: " + firstLine(serverText(e)) + state;
        } else if (String.valueOf(e.getMessage()).contains("SSL")) {
            msg = "SSL error at" + where + ": " + firstLine(e.getMessage()) + state;
        } else {
            msg = "database error" + state + ": " + firstLine(serverText(e));
            if (e instanceof org.postgresql.util.PSQLException p && p.getServerErrorMessage() != null) {
                var sem = p.getServerErrorMessage();
                if (sem.getWhere() != null && !sem.getWhere().isBlank()) msg += " (" + firstLine(sem.getWhere()) + ")";
                if (sem.getHint() != null && !sem.getHint().isBlank()) msg += " hint: " + firstLine(sem.getHint());
            }
        }
        return new Cli.Failure(Config.redact(msg), e);
    }

    private static String serverText(SQLException e) {
        if (e instanceof org.postgresql.util.PSQLException p && p.getServerErrorMessage() != null) {
            var sem = p.getServerErrorMessage();
            return sem.getSeverity() + ": " + sem.getMessage();
        }
        return e.getMessage();
    }

    /** host:port/db, safe to print. */
    public static String server(Pg.Target t) {
        String rest = t.jdbcUrl().substring("jdbc:postgresql://".length());
        int q = rest.indexOf('?');
        return q < 0 ? rest : rest.substring(0, q);
    }

    static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    // ------------------------------------------------------------------ results

    public enum Format { table, csv, json, ndjson }

    /** A fetched result: column names and types, and every value in PostgreSQL's text form (null for NULL). */
    public record Result(List<String> columns, List<Kind> kinds, List<String[]> rows) {}

    /** How a column is written in JSON. */
    public enum Kind { NUMBER, BOOLEAN, JSON, TEXT }

    public static List<String> columns(ResultSetMetaData md) throws SQLException {
        List<String> cols = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) cols.add(md.getColumnLabel(i));
        return cols;
    }

    public static List<Kind> kinds(ResultSetMetaData md) throws SQLException {
        List<Kind> kinds = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            String type = md.getColumnTypeName(i).toLowerCase(Locale.ROOT);
            kinds.add(switch (type) {
                case "int2", "int4", "int8", "float4", "float8", "numeric", "oid" -> Kind.NUMBER;
                case "bool" -> Kind.BOOLEAN;
                case "json", "jsonb" -> Kind.JSON;
                default -> Kind.TEXT;
            });
        }
        return kinds;
    }

    /** Reads the current row (rs.next() already true) as text values. */
    public static String[] row(ResultSet rs, int ncols) throws SQLException {
        String[] r = new String[ncols];
        for (int i = 0; i < ncols; i++) r[i] = rs.getString(i + 1);
        return r;
    }

    /** Writes the result in the format (CSV lines end with LF, as psql writes them). */
    public static void write(Result r, Format f, Writer w) throws IOException {
        write(r, f, w, false);
    }

    /** Writes the result in the format; crlf: CSV lines end with CRLF (RFC 4180's line end) instead of LF. */
    public static void write(Result r, Format f, Writer w, boolean crlf) throws IOException {
        switch (f) {
            case table -> table(r, w);
            case csv -> csv(r, w, crlf);
            case json -> json(r, w, false);
            case ndjson -> json(r, w, true);
        }
        w.flush();
    }

    /** psql's aligned format: centred headers, numbers right-aligned, "(N rows)". */
    static void table(Result r, Writer w) throws IOException {
        int n = r.columns().size();
        int[] width = new int[n];
        for (int i = 0; i < n; i++) width[i] = displayWidth(r.columns().get(i));
        for (String[] row : r.rows()) {
            for (int i = 0; i < n; i++) width[i] = Math.max(width[i], displayWidth(row[i] == null ? "" : firstLine(row[i])));
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            String h = r.columns().get(i);
            int pad = width[i] - displayWidth(h);
            int left = pad / 2;
            sb.append(i == 0 ? " " : " | ").append(" ".repeat(left)).append(h).append(" ".repeat(pad - left));
        }
        w.write(sb.toString().stripTrailing() + "\n");
        sb.setLength(0);
        for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : "+").append("-".repeat(width[i] + 2));
        w.write(sb + "\n");
        for (String[] row : r.rows()) {
            sb.setLength(0);
            for (int i = 0; i < n; i++) {
                String v = row[i] == null ? "" : row[i].replace("\n", "\\n");
                int pad = width[i] - displayWidth(v);
                sb.append(i == 0 ? " " : " | ");
                if (r.kinds().get(i) == Kind.NUMBER) sb.append(" ".repeat(Math.max(0, pad))).append(v);
                else sb.append(v).append(" ".repeat(Math.max(0, pad)));
            }
            w.write(sb.toString().stripTrailing() + "\n");
        }
        int rows = r.rows().size();
        w.write("(" + rows + (rows == 1 ? " row)" : " rows)") + "\n");
    }

    private static int displayWidth(String s) {
        return s.codePointCount(0, s.length());
    }

    /** CSV with a header, as psql's \copy ... csv writes it: NULL is an empty field, the empty string "". */
    static void csv(Result r, Writer w, boolean crlf) throws IOException {
        Csv.writeRecord(w, r.columns().toArray(String[]::new), crlf);
        for (String[] row : r.rows()) Csv.writeRecord(w, row, crlf);
    }

    /** JSON array of objects, or one object per line; numbers, booleans and json columns keep their type. */
    static void json(Result r, Writer w, boolean lines) throws IOException {
        PrintWriter pw = new PrintWriter(w);
        JsonGenerator g = Json.FACTORY.createGenerator(pw);
        g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
        g.setRootValueSeparator(null); // Jackson puts a space between root values: " {...}" on every line after the first
        if (!lines) g.writeStartArray();
        boolean first = true;
        for (String[] row : r.rows()) {
            if (lines && !first) {
                g.flush();
                pw.write('\n');
            }
            first = false;
            g.writeStartObject();
            for (int i = 0; i < row.length; i++) {
                g.writeFieldName(r.columns().get(i));
                String v = row[i];
                if (v == null) {
                    g.writeNull();
                    continue;
                }
                switch (r.kinds().get(i)) {
                    case NUMBER -> {
                        if (v.matches("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")) g.writeNumber(v);
                        else g.writeString(v); // NaN, Infinity
                    }
                    case BOOLEAN -> g.writeBoolean(v.equals("t") || v.equals("true"));
                    case JSON -> {
                        JsonNode node = Json.MAPPER.readTree(v);
                        g.writeTree(node);
                    }
                    default -> g.writeString(v);
                }
            }
            g.writeEndObject();
        }
        if (!lines) g.writeEndArray();
        g.flush();
        if (!first || !lines) pw.write('\n');
        pw.flush();
    }
}
