import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

/**
 * API Endpoints ({@code /v0/pipes/<pipe>.json|.csv|.ndjson}, with {@code q=} over the pipe's result as {@code _}) and
 * the Query API ({@code /v0/sql}): SQL run by the engine on readonly connections, its output sent as ClickHouse wrote
 * it (Tinybird's JSON is ClickHouse's JSON format: meta, data, rows, rows_before_limit_at_least, statistics).
 *
 * <p>A pipe is SQL with {@code {name:Type}} placeholders. Invariant: a request's parameter reaches SQL only as a literal
 * built here from a value checked against the placeholder's type (a string is quoted with its backslashes and quotes
 * escaped; numbers and dates are parsed first), never as pasted text. The project's endpoints (EmulatorProject) come
 * rendered by PipeTemplate under the same invariant.
 */
final class EmulatorQueries {
    private final TinybirdEmulator emu;

    EmulatorQueries(TinybirdEmulator emu) {
        this.emu = emu;
    }

    /** A pipe: its SQL, with {name:Type} parameters and their defaults ("NULL" or none for Nullable types: NULL). */
    record SqlPipe(String name, String sql, Map<String, String> defaults) {}

    static final Pattern PLACEHOLDER = Pattern.compile("\\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)}");
    static final Pattern TRAILING_FORMAT = Pattern.compile("(?is)^(.*?)\\s+format\\s+([A-Za-z]+)\\s*;?\\s*$");

    // ------------------------------------------------------------------ API Endpoints

    void listPipes(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        ArrayNode a = o.putArray("pipes");
        java.util.TreeSet<String> names = new java.util.TreeSet<>(emu.pipes.keySet());
        if (emu.project != null) emu.project.project.endpoints().forEach(e -> names.add(e.name()));
        names.forEach(n -> a.addObject().put("name", n));
        EmulatorHttp.sendJson(ex, 200, o);
    }

    void pipe(HttpExchange ex, Map<String, List<String>> q, String rest) throws IOException {
        if (ex.getRequestMethod().equals("POST")) {
            String ct = ex.getRequestHeaders().getFirst("Content-Type");
            byte[] body = ex.getRequestBody().readAllBytes();
            if (ct == null || ct.contains("x-www-form-urlencoded")) {
                EmulatorHttp.parseQuery(new String(body, StandardCharsets.UTF_8)).forEach((k, v) -> q.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
            }
        }
        TinybirdEmulator.Token t = emu.token(ex, q);
        int dot = rest.lastIndexOf('.');
        String name = EmulatorHttp.dec(dot < 0 ? rest : rest.substring(0, dot));
        String format = dot < 0 ? "json" : rest.substring(dot + 1);
        if (t == null) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        if (t.regionHost() != null) throw new EmulatorHttp.BadRequest(404, "Wrong region: this token belongs to a Workspace in another region. Use the API host " + t.regionHost());
        SqlPipe p = emu.pipes.get(name); // one added in-process wins over the project's endpoint of that name
        boolean fromProject = p == null && emu.project != null && emu.project.serves(name);
        if (p == null && !fromProject) throw new EmulatorHttp.BadRequest(404, "The pipe '" + name + "' does not exist");
        if (!TinybirdEmulator.has(t, "PIPES:READ:" + name)) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        String chFormat = switch (format) {
            case "json" -> "JSON";
            case "ndjson" -> "JSONEachRow";
            case "csv" -> "CSV";
            default -> throw new EmulatorHttp.BadRequest(400, "Unsupported format '" + format + "' (emulator: json, ndjson, csv)");
        };
        String sql = fromProject ? emu.project.sql(name, q) : bind(p, q);
        String sub = EmulatorHttp.first(q, "q");
        if (sub != null && !sub.isBlank()) sql = overPipe(sql, sub);
        run(ex, sql, chFormat);
    }

    /** q= over a pipe's result: the pipe becomes the CTE {@code _} (joined to the query's own WITH, if it has one). */
    static String overPipe(String pipeSql, String q) {
        String s = stripFormat(q)[0];
        Matcher with = Pattern.compile("(?is)^\\s*with\\s+(.*)$").matcher(s);
        if (with.matches()) return "WITH _ AS (" + pipeSql + "), " + with.group(1);
        return "WITH _ AS (" + pipeSql + ") " + s;
    }

    /** The pipe's SQL with each {name:Type} replaced by the request's value (or the default) as a checked literal. */
    static String bind(SqlPipe p, Map<String, List<String>> params) {
        Matcher m = PLACEHOLDER.matcher(p.sql());
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1), type = m.group(2).strip();
            List<String> values = params.get(name);
            String v = values == null || values.isEmpty() ? null : values.get(0);
            String lit;
            boolean nullable = type.startsWith("Nullable(");
            if (v == null || (v.isBlank() && !type.contains("String"))) {
                String def = p.defaults().get(name);
                if (def == null && type.startsWith("Array(")) def = "";
                if (def == null && !nullable) {
                    throw new EmulatorHttp.BadRequest(400, "[Error] Missing columns: '" + name + "' while processing query: the parameter '" + name + "' is required");
                }
                lit = def == null || def.equals("NULL") ? "NULL" : def.isEmpty() && type.startsWith("Array(") ? "[]"
                        : literal(type, def, List.of(def), name);
            } else {
                lit = literal(type, v, values, name);
            }
            m.appendReplacement(out, Matcher.quoteReplacement(lit));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** A value as a ClickHouse literal of the type; 400 (Tinybird's template error) when it is not one. */
    static String literal(String type, String v, List<String> all, String name) {
        String base = type;
        Matcher w;
        while ((w = Pattern.compile("^(?:Nullable|LowCardinality)\\((.*)\\)$").matcher(base.strip())).matches()) base = w.group(1).strip();
        EmulatorHttp.BadRequest bad = new EmulatorHttp.BadRequest(400, "Template Syntax Error: Error validating '"
                + EmulatorSchema.abbreviate(v) + "' to type " + base + " for parameter '" + name + "'");
        String s = v.strip();
        if (base.equals("String")) return EmulatorTables.quote(v);
        if (base.matches("U?Int(8|16|32|64|128|256)")) {
            if (!s.matches("-?\\d{1,40}")) throw bad;
            BigInteger i = new BigInteger(s);
            if (name.equals("max_results") || name.equals("limit") || name.equals("offset") || name.equals("page_size")) {
                if (i.signum() < 0) throw new EmulatorHttp.BadRequest(400, name + " must be >= 0");
            }
            return i.toString();
        }
        if (base.startsWith("Float") || base.startsWith("Decimal")) {
            try {
                double d = Double.parseDouble(s);
                if (!Double.isFinite(d)) throw bad;
                return Double.toString(d);
            } catch (NumberFormatException e) {
                throw bad;
            }
        }
        if (base.startsWith("DateTime")) return EmulatorTables.quote(dateTime(s, bad).format(EmulatorSchema.DT));
        if (base.equals("Date")) {
            if (!s.matches("\\d{4}-\\d{2}-\\d{2}") || !EmulatorSchema.validDate(s)) throw bad;
            return EmulatorTables.quote(s);
        }
        if (base.equals("Bool") || base.equals("Boolean")) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "true", "1" -> "true";
                case "false", "0" -> "false";
                default -> throw bad;
            };
        }
        if (base.startsWith("Array(")) {
            String inner = base.substring(6, base.length() - 1);
            List<String> items = new ArrayList<>();
            for (String x : all) for (String part : x.split(",")) items.add(literal(inner, part, List.of(part), name));
            return "[" + String.join(", ", items) + "]";
        }
        return "CAST(" + EmulatorTables.quote(v) + " AS " + type + ")";
    }

    /** A DateTime parameter: YYYY-MM-DD[ HH:MM[:SS]][.fff][Z|+hh:mm], offsets converted to UTC. */
    static LocalDateTime dateTime(String v, RuntimeException bad) {
        Matcher m = EmulatorSchema.DATETIME.matcher(v.strip());
        if (!m.matches() || !EmulatorSchema.validDate(m.group(1))) throw bad;
        String time = m.group(2) == null ? "00:00:00" : m.group(2).length() == 5 ? m.group(2) + ":00" : m.group(2);
        LocalDateTime t;
        try {
            t = LocalDateTime.parse(m.group(1) + "T" + time);
        } catch (java.time.format.DateTimeParseException e) {
            throw bad;
        }
        String z = m.group(4);
        if (z != null) {
            String off = z.equals("Z") ? "Z" : z.length() == 5 ? z.substring(0, 3) + ":" + z.substring(3) : z;
            t = OffsetDateTime.of(t, ZoneOffset.of(off)).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
        }
        return t;
    }

    // ------------------------------------------------------------------ Query API

    void sql(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        String query = EmulatorHttp.first(q, "q");
        if (query == null && ex.getRequestMethod().equals("POST")) {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String ct = ex.getRequestHeaders().getFirst("Content-Type");
            if (ct != null && ct.contains("x-www-form-urlencoded")) query = EmulatorHttp.first(EmulatorHttp.parseQuery(body), "q");
            else if (!body.isBlank()) query = body;
        }
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        if (query == null || query.isBlank()) throw new EmulatorHttp.BadRequest(400, "missing q parameter. example q=select%201");
        String[] sf = stripFormat(query);
        String format = sf[1] == null ? "JSON" : sf[1];
        if (format.equalsIgnoreCase("NDJSON") || format.equalsIgnoreCase("JSONLines")) format = "JSONEachRow";
        if (!TinybirdEmulator.has(t, "ADMIN")) {
            for (String ds : emu.tables.dataSources.keySet()) {
                if (Pattern.compile("(?<![A-Za-z0-9_])" + Pattern.quote(ds) + "(?![A-Za-z0-9_])").matcher(sf[0]).find() && !TinybirdEmulator.canRead(t, ds)) {
                    throw new EmulatorHttp.BadRequest(403, "[Error] Not enough permissions to read datasource '" + ds + "'");
                }
            }
        }
        run(ex, sf[0], format);
    }

    /** [query without a trailing FORMAT clause and semicolon, the format or null]. */
    static String[] stripFormat(String query) {
        String s = query.strip();
        while (s.endsWith(";")) s = s.substring(0, s.length() - 1).strip();
        Matcher m = TRAILING_FORMAT.matcher(s);
        if (m.matches()) return new String[] {m.group(1), m.group(2)};
        return new String[] {s, null};
    }

    /**
     * Runs a SELECT on a readonly connection and sends the engine's output; engine errors as Tinybird's 4xx. Row
     * formats (JSONEachRow, CSV, ...) stream block by block; JSON is one document whose rows_before_limit_at_least and
     * statistics come at its end, which chDB's streaming would split per block, so it is materialized (in native memory)
     * and sent with its length.
     */
    void run(HttpExchange ex, String sql, String format) throws IOException {
        if (format.equalsIgnoreCase("JSON") || format.toUpperCase(Locale.ROOT).endsWith("WITHNAMES") || format.toUpperCase(Locale.ROOT).endsWith("WITHNAMESANDTYPES")) {
            runWhole(ex, sql, format);
            return;
        }
        IOException[] failed = new IOException[1];
        OutputStream[] os = new OutputStream[1];
        try {
            emu.tables.read(c -> {
                try {
                    c.stream(sql, format, new Chdb.ChunkSink() {
                        public void start() throws IOException {
                            ex.getResponseHeaders().set("Content-Type", contentType(format));
                            emu.rateHeaders(ex, false);
                            EmulatorHttp.drain(ex);
                            ex.sendResponseHeaders(200, 0);
                            os[0] = ex.getResponseBody();
                        }

                        public void write(Chdb.Result chunk) throws IOException {
                            chunk.writeTo(os[0]);
                        }
                    });
                } catch (IOException e) {
                    failed[0] = e;
                }
                return null;
            });
        } catch (Chdb.QueryException e) {
            if (os[0] != null) throw new IOException("the query failed mid-answer: " + e.getMessage(), e);
            throw error(e);
        }
        if (failed[0] != null) throw failed[0];
        os[0].close();
    }

    private void runWhole(HttpExchange ex, String sql, String format) throws IOException {
        Chdb.Result r;
        try {
            r = emu.tables.read(c -> c.query(sql, format));
        } catch (Chdb.QueryException e) {
            throw error(e);
        }
        try (r) {
            ex.getResponseHeaders().set("Content-Type", contentType(format));
            emu.rateHeaders(ex, false);
            EmulatorHttp.drain(ex);
            ex.sendResponseHeaders(200, r.length == 0 ? -1 : r.length);
            if (r.length > 0) {
                try (OutputStream os = ex.getResponseBody()) {
                    r.writeTo(os);
                }
            }
        }
    }

    static String contentType(String format) {
        String f = format.toLowerCase(Locale.ROOT);
        if (f.startsWith("csv")) return "text/csv; charset=utf-8";
        if (f.equals("jsoneachrow")) return "application/x-ndjson; charset=utf-8";
        if (f.startsWith("json")) return "application/json";
        return "text/plain; charset=utf-8";
    }

    /** An engine error as Tinybird answers it: 403 for writes (readonly), 404 for a missing table, else 400. */
    EmulatorHttp.BadRequest error(Chdb.QueryException e) {
        String msg = e.getMessage().replace("`" + emu.tables.db + "`.", "").replace(emu.tables.db + ".", "");
        String first = msg.lines().findFirst().orElse(msg);
        if (e.code == 164) return new EmulatorHttp.BadRequest(403, "[Error] DB::Exception: only SELECT queries are allowed (readonly): " + first);
        if (e.code == 60) {
            Matcher m = Pattern.compile("Unknown table expression identifier '([^']+)'|Table (\\S+) does not exist").matcher(first);
            String what = m.find() ? (m.group(1) != null ? m.group(1) : m.group(2)) : "";
            return new EmulatorHttp.BadRequest(404, "[Error] Resource '" + what + "' not found: " + first);
        }
        return new EmulatorHttp.BadRequest(400, "[Error] " + first);
    }
}
