import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A PostgREST-compatible HTTP server for tests: {@code GET /rest/v1/<table>} answered from a real PostgreSQL
 * database, with Supabase's key check (apikey header and Authorization: Bearer; 401 otherwise).
 *
 * <p>Supported, as PostgREST does it: {@code select=a,b} or {@code *}; filters {@code col=op.value} with eq, neq, gt,
 * gte, lt, lte, like, ilike ({@code *} as the wildcard), in ({@code (a,b,"c,d")}), is (null/true/false), each
 * optionally negated with {@code not.}; {@code order=col.desc.nullslast,...}; {@code limit}, {@code offset};
 * {@code Range: a-b} (with or without {@code Range-Unit: items}); {@code Prefer: count=exact}; Content-Range on every
 * answer; 206 for a partial range when the count is known, 416 past the end; errors as
 * {@code {"code","message","details","hint"}} with 400 (bad column or value) or 404 (unknown table).
 * The SQL uses quoted identifiers and bound values, and json_agg builds the rows as PostgREST itself does.
 */
public final class PostgrestServer implements AutoCloseable {
    private final HttpServer server;
    private final Connection db;
    private final String key;
    /** Every request seen: "GET /rest/v1/t?query | Range: a-b" (tests assert on it). */
    public final List<String> requests = new CopyOnWriteArrayList<>();

    private PostgrestServer(Pg.Target target, String key) throws IOException, SQLException {
        this.db = Pg.connect(target);
        this.key = key;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    public static PostgrestServer start(Pg.Target target, String key) {
        try {
            return new PostgrestServer(target, key);
        } catch (IOException | SQLException e) {
            throw new IllegalStateException("cannot start the PostgREST test server", e);
        }
    }

    /** The project URL to use as SUPABASE_URL. */
    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        try {
            db.close();
        } catch (SQLException ignored) {
            // closing anyway
        }
    }

    private record Answer(int status, String body, String contentRange) {}

    private synchronized void handle(HttpExchange ex) throws IOException {
        Answer a;
        try {
            String range = ex.getRequestHeaders().getFirst("Range");
            requests.add(ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath()
                    + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery())
                    + (range == null ? "" : " | Range: " + range));
            a = answer(ex);
        } catch (Bad b) {
            a = new Answer(b.status, error(b.code, b.getMessage(), null), null);
        } catch (SQLException e) {
            int status = "42P01".equals(e.getSQLState()) ? 404 : e.getSQLState() != null && e.getSQLState().startsWith("42") ? 400
                    : e.getSQLState() != null && e.getSQLState().startsWith("22") ? 400 : 500;
            String msg = e.getMessage() == null ? "" : e.getMessage().replaceFirst("^ERROR: ", "").split("\n")[0];
            a = new Answer(status, error(e.getSQLState(), msg, null), null);
        } catch (RuntimeException e) {
            a = new Answer(500, error("PGRST000", String.valueOf(e), null), null);
        }
        byte[] body = a.body().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        if (a.contentRange() != null) ex.getResponseHeaders().set("Content-Range", a.contentRange());
        ex.sendResponseHeaders(a.status(), body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    private static final class Bad extends RuntimeException {
        final int status;
        final String code;

        Bad(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    private static String error(String code, String message, String hint) {
        return "{\"code\":" + jstr(code) + ",\"details\":null,\"hint\":" + jstr(hint) + ",\"message\":" + jstr(message) + "}";
    }

    private static String jstr(String s) {
        return Cli.jsonString(s);
    }

    private Answer answer(HttpExchange ex) throws SQLException {
        if (!"GET".equals(ex.getRequestMethod())) throw new Bad(405, "PGRST117", "only GET in this test server");
        String apikey = ex.getRequestHeaders().getFirst("apikey");
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (!key.equals(apikey) || !("Bearer " + key).equals(auth)) {
            return new Answer(401, "{\"message\":\"Invalid API key\",\"hint\":\"Double check your Supabase `anon` or `service_role` API key.\"}", null);
        }
        String path = ex.getRequestURI().getRawPath();
        if (!path.startsWith("/rest/v1/") || path.length() <= "/rest/v1/".length()) throw new Bad(404, "PGRST125", "Invalid path specified in request URL");
        String table = dec(path.substring("/rest/v1/".length()));

        String select = "*";
        String order = null;
        Long limit = null, offset = null;
        List<String> where = new ArrayList<>();
        List<String> values = new ArrayList<>();
        String raw = ex.getRequestURI().getRawQuery();
        if (raw != null) {
            for (String kv : raw.split("&")) {
                if (kv.isEmpty()) continue;
                int eq = kv.indexOf('=');
                String k = dec(eq < 0 ? kv : kv.substring(0, eq));
                String v = eq < 0 ? "" : dec(kv.substring(eq + 1));
                switch (k) {
                    case "select" -> select = v;
                    case "order" -> order = v;
                    case "limit" -> limit = num(k, v);
                    case "offset" -> offset = num(k, v);
                    default -> filter(k, v, where, values);
                }
            }
        }
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null) {
            var m = java.util.regex.Pattern.compile("(?:items=)?\\s*([0-9]+)-([0-9]*)").matcher(range.strip());
            if (!m.matches()) throw new Bad(416, "PGRST103", "Requested range not satisfiable");
            long from = Long.parseLong(m.group(1));
            long rLimit = m.group(2).isEmpty() ? Long.MAX_VALUE : Long.parseLong(m.group(2)) - from + 1;
            if (rLimit <= 0) throw new Bad(416, "PGRST103", "Requested range not satisfiable");
            offset = (offset == null ? 0 : offset) + from;
            limit = limit == null ? rLimit : Math.min(limit, rLimit);
        }

        StringBuilder cols = new StringBuilder();
        if (select.isBlank() || select.equals("*")) cols.append('*');
        else {
            for (String c : select.split(",")) {
                if (cols.length() > 0) cols.append(", ");
                cols.append(Pg.ident(c.strip()));
            }
        }
        String from = " FROM " + Pg.ident(table) + (where.isEmpty() ? "" : " WHERE " + String.join(" AND ", where));
        String inner = "SELECT " + cols + from + (order == null ? "" : " ORDER BY " + orderBy(order))
                + (limit == null ? "" : " LIMIT " + limit) + (offset == null ? "" : " OFFSET " + offset);
        String json;
        int n;
        try (PreparedStatement ps = db.prepareStatement("SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM (" + inner + ") t")) {
            bind(ps, values, 0);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                json = rs.getString(1);
                n = rs.getInt(2);
            }
        }
        Long total = null;
        String prefer = ex.getRequestHeaders().getFirst("Prefer");
        if (prefer != null && prefer.contains("count=exact")) {
            try (PreparedStatement ps = db.prepareStatement("SELECT count(*)" + from)) {
                bind(ps, values, 0);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    total = rs.getLong(1);
                }
            }
        }
        long start = offset == null ? 0 : offset;
        if (n == 0 && total != null && start > 0 && start >= total) {
            return new Answer(416, error("PGRST103", "Requested range not satisfiable", null), "*/" + total);
        }
        String cr = (n == 0 ? "*" : start + "-" + (start + n - 1)) + "/" + (total == null ? "*" : total);
        int status = total != null && n < total ? 206 : 200;
        return new Answer(status, json, cr);
    }

    private static void bind(PreparedStatement ps, List<String> values, int from) throws SQLException {
        for (int i = 0; i < values.size(); i++) ps.setObject(from + i + 1, values.get(i), Types.OTHER);
    }

    private static long num(String k, String v) {
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new Bad(400, "PGRST102", "invalid " + k + ": " + v);
        }
    }

    private static void filter(String col, String v, List<String> where, List<String> values) {
        boolean not = false;
        if (v.startsWith("not.")) {
            not = true;
            v = v.substring(4);
        }
        int dot = v.indexOf('.');
        if (dot < 0) throw new Bad(400, "PGRST100", "failed to parse filter (" + v + ")");
        String op = v.substring(0, dot), val = v.substring(dot + 1);
        String c = Pg.ident(col);
        String cond = switch (op) {
            case "eq" -> c + " = ?";
            case "neq" -> c + " <> ?";
            case "gt" -> c + " > ?";
            case "gte" -> c + " >= ?";
            case "lt" -> c + " < ?";
            case "lte" -> c + " <= ?";
            case "like" -> c + " LIKE ?";
            case "ilike" -> c + " ILIKE ?";
            case "in" -> {
                List<String> items = inList(val);
                values.addAll(items);
                yield c + " IN (" + String.join(", ", items.stream().map(x -> "?").toList()) + ")";
            }
            case "is" -> switch (val.toLowerCase(Locale.ROOT)) {
                case "null" -> c + " IS NULL";
                case "true" -> c + " IS TRUE";
                case "false" -> c + " IS FALSE";
                default -> throw new Bad(400, "PGRST100", "failed to parse filter (is." + val + ")");
            };
            default -> throw new Bad(400, "PGRST100", "failed to parse filter (" + op + "." + val + ")");
        };
        if (op.equals("like") || op.equals("ilike")) values.add(val.replace('*', '%'));
        else if (!op.equals("in") && !op.equals("is")) values.add(val);
        where.add(not ? "NOT (" + cond + ")" : cond);
    }

    /** {@code (a,b,"c,d","e\"f")} as a list. */
    private static List<String> inList(String s) {
        if (!s.startsWith("(") || !s.endsWith(")")) throw new Bad(400, "PGRST100", "failed to parse filter (in." + s + ")");
        String body = s.substring(1, s.length() - 1);
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean q = false;
        for (int i = 0; i < body.length(); i++) {
            char ch = body.charAt(i);
            if (q) {
                if (ch == '\\' && i + 1 < body.length()) cur.append(body.charAt(++i));
                else if (ch == '"') q = false;
                else cur.append(ch);
            } else if (ch == '"') {
                q = true;
            } else if (ch == ',') {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        out.add(cur.toString());
        return out;
    }

    private static String orderBy(String spec) {
        List<String> parts = new ArrayList<>();
        for (String term : spec.split(",")) {
            String[] p = term.strip().split("\\.");
            StringBuilder sb = new StringBuilder(Pg.ident(p[0]));
            for (int i = 1; i < p.length; i++) {
                switch (p[i]) {
                    case "asc" -> sb.append(" ASC");
                    case "desc" -> sb.append(" DESC");
                    case "nullsfirst" -> sb.append(" NULLS FIRST");
                    case "nullslast" -> sb.append(" NULLS LAST");
                    default -> throw new Bad(400, "PGRST100", "failed to parse order (" + term + ")");
                }
            }
            parts.add(sb.toString());
        }
        return String.join(", ", parts);
    }

    private static String dec(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }
}
