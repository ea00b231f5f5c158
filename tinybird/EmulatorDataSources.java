import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

/**
 * The Data Sources API: {@code POST /v0/datasources?mode=create|append|replace&name=ds&format=csv|ndjson} (a multipart
 * part or a whole body), {@code POST /v0/datasources/<ds>/truncate}, and {@code GET /v0/datasources[/<ds>]}.
 *
 * <p>Why Java parses the file: a line that does not fit is counted (quarantine_rows, invalid_lines) as Tinybird counts
 * it, which a bulk insert into the engine would not tell. Invariant: replace empties the table (and its quarantine)
 * before the new rows go in; a bad file leaves what was there on create/append.
 */
final class EmulatorDataSources {
    private final TinybirdEmulator emu;

    EmulatorDataSources(TinybirdEmulator emu) {
        this.emu = emu;
    }

    void post(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        String mode = EmulatorHttp.first(q, "mode") == null ? "create" : EmulatorHttp.first(q, "mode");
        String name = EmulatorHttp.first(q, "name");
        String format = EmulatorHttp.first(q, "format") == null ? "csv" : EmulatorHttp.first(q, "format");
        if (!List.of("create", "append", "replace").contains(mode)) throw new EmulatorHttp.BadRequest(400, "Invalid mode '" + mode + "': use create, append or replace");
        if (name == null || name.isBlank()) throw new EmulatorHttp.BadRequest(400, "Missing 'name' parameter");
        if (mode.equals("create") ? !TinybirdEmulator.has(t, "DATASOURCES:CREATE") : !TinybirdEmulator.canAppend(t, name)) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        String ct = ex.getRequestHeaders().getFirst("Content-Type");
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        boolean multipart = ct != null && ct.toLowerCase(Locale.ROOT).startsWith("multipart/form-data");
        byte[] data;
        if (multipart) {
            byte[] body = EmulatorHttp.readBody(ex, 500_000_000L, emu.bytesReceived);
            if (body == null) throw new EmulatorHttp.BadRequest(413, "The file is too big: 500 MB is the limit for a multipart upload");
            Matcher bm = Pattern.compile("boundary=\"?([^\";]+)\"?").matcher(ct);
            if (!bm.find()) throw new EmulatorHttp.BadRequest(400, "multipart body without a boundary");
            EmulatorHttp.Part part = EmulatorHttp.multipartPart(body, bm.group(1));
            if (part == null) throw new EmulatorHttp.BadRequest(400, "No file part: send the file as a multipart part named csv, ndjson or parquet");
            if (part.name().equals("parquet")) throw new EmulatorHttp.BadRequest(400, "The emulator does not read Parquet");
            if (EmulatorHttp.first(q, "format") == null && part.name().equals("ndjson")) format = "ndjson";
            data = part.data();
        } else {
            if (cl == null) {
                emu.rateHeaders(ex, false);
                emu.sendJsonError(ex, 411, "Length Required: send the body with a Content-Length, or use a multipart upload");
                return;
            }
            byte[] body = EmulatorHttp.readBody(ex, 8_000_000L, emu.bytesReceived);
            if (body == null) throw new EmulatorHttp.BadRequest(413, "The body is too big: 8 MB is the limit without multipart; use a multipart upload");
            data = body;
        }
        if (!format.equals("csv") && !format.equals("ndjson")) throw new EmulatorHttp.BadRequest(400, "Unsupported format '" + format + "' (emulator: csv, ndjson)");
        String schema = EmulatorHttp.first(q, "schema");
        EmulatorTables.DataSource ds = emu.tables.dataSources.get(name);
        if (mode.equals("create")) {
            if (ds != null) throw new EmulatorHttp.BadRequest(409, "Data Source '" + name + "' already exists");
            List<EmulatorSchema.Col> cols;
            if (schema != null && !schema.isBlank()) {
                try {
                    cols = EmulatorSchema.parseSchema(schema);
                } catch (IllegalArgumentException e) {
                    throw new EmulatorHttp.BadRequest(400, "Invalid schema: " + e.getMessage());
                }
            } else if (format.equals("ndjson")) {
                List<JsonNode> sample = new ArrayList<>();
                for (String line : new String(data, StandardCharsets.UTF_8).split("\n")) {
                    if (line.isBlank()) continue;
                    if (sample.size() >= 100) break;
                    try {
                        JsonNode n = Json.MAPPER.readTree(line);
                        if (n instanceof ObjectNode) sample.add(n);
                    } catch (IOException skip) {
                        // counted as invalid below
                    }
                }
                if (sample.isEmpty()) throw new EmulatorHttp.BadRequest(400, "Cannot infer a schema: no valid NDJSON rows");
                cols = EmulatorSchema.infer(sample);
            } else {
                cols = EmulatorSchema.inferCsv(data);
            }
            boolean json = format.equals("ndjson") && cols.stream().allMatch(c -> c.path != null);
            String key = EmulatorHttp.first(q, "engine_sorting_key");
            ds = new EmulatorTables.DataSource(name, TinybirdEmulator.newId(), cols, json, false, key == null || key.isBlank() ? null : key);
            if (!emu.tables.create(ds)) throw new EmulatorHttp.BadRequest(409, "Data Source '" + name + "' already exists");
        } else {
            if (ds == null) throw new EmulatorHttp.BadRequest(404, "Data Source '" + name + "' does not exist");
            if (ds.builtin) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
            if (mode.equals("replace")) {
                emu.tables.truncate(ds);
                EmulatorTables.DataSource qd = emu.tables.dataSources.get(name + "_quarantine");
                if (qd != null) emu.tables.truncate(qd);
            }
        }
        String importId = TinybirdEmulator.newId();
        long[] counts = format.equals("csv") ? importCsv(ds, data, importId) : importNdjson(ds, data, importId);
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", importId);
        o.put("import_id", importId);
        o.put("job_id", importId);
        ObjectNode d = o.putObject("datasource");
        d.put("id", ds.id);
        d.put("name", ds.name);
        o.put("quarantine_rows", counts[1]);
        o.put("invalid_lines", counts[2]);
        if (counts[1] > 0 || counts[2] > 0) {
            o.put("error", "There was an error with file contents: " + counts[1] + " rows in quarantine and " + counts[2] + " invalid lines.");
        } else {
            o.put("error", false);
        }
        emu.importCounter.incrementAndGet();
        emu.rateHeaders(ex, false);
        EmulatorHttp.sendJson(ex, 200, o);
    }

    /** [stored, quarantined, invalid] */
    private long[] importNdjson(EmulatorTables.DataSource ds, byte[] data, String importId) {
        int[] good = new int[64];
        int nGood = 0;
        List<ObjectNode> bad = new ArrayList<>();
        long invalid = 0;
        int start = 0;
        for (int i = 0; i <= data.length; i++) {
            if (i == data.length || data[i] == '\n') {
                int end = i;
                if (end > start && data[end - 1] == '\r') end--;
                if (end > start && !new String(data, start, end - start, StandardCharsets.UTF_8).isBlank()) {
                    String[] err = EmulatorSchema.validate(ds, data, start, end - start);
                    if (err == null) {
                        if (2 * nGood + 2 > good.length) good = java.util.Arrays.copyOf(good, good.length * 2);
                        good[2 * nGood] = start;
                        good[2 * nGood + 1] = end - start;
                        nGood++;
                    } else if (err[1].startsWith("invalid JSON") || err[1].startsWith("row is not")) invalid++;
                    else bad.add(EmulatorSchema.quarantineRow(ds.cols, data, start, end - start, err, importId));
                }
                start = i + 1;
            }
        }
        int stored = emu.events.store(ds, data, good, nGood, bad, importId);
        emu.rowsStored.add(stored);
        emu.rowsQuarantined.add(bad.size());
        return new long[] {stored, bad.size(), invalid};
    }

    private long[] importCsv(EmulatorTables.DataSource ds, byte[] data, String importId) throws IOException {
        List<List<String>> rows = EmulatorSchema.parseCsv(new String(data, StandardCharsets.UTF_8));
        List<ObjectNode> good = new ArrayList<>();
        List<ObjectNode> bad = new ArrayList<>();
        long invalid = 0;
        for (int r = 0; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            if (r == 0 && row.size() == ds.cols.size()) {
                boolean header = true;
                for (int i = 0; i < row.size(); i++) {
                    if (!row.get(i).strip().replaceAll("[^A-Za-z0-9_]", "_").equalsIgnoreCase(ds.cols.get(i).name)) header = false;
                }
                if (header) continue;
            }
            if (row.size() != ds.cols.size()) {
                invalid++;
                continue;
            }
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            String[] err = null;
            for (int i = 0; i < row.size(); i++) {
                EmulatorSchema.Col c = ds.cols.get(i);
                String v = row.get(i);
                JsonNode node = EmulatorSchema.csvValue(c, v);
                if (node == null) {
                    err = new String[] {c.name, "cannot parse " + c.base + " from '" + EmulatorSchema.abbreviate(v) + "'"};
                    break;
                }
                o.set(c.name, node);
            }
            try {
                if (err == null) good.add(o);
                else {
                    ObjectNode raw = JsonNodeFactory.instance.objectNode();
                    for (int i = 0; i < row.size(); i++) raw.put(ds.cols.get(i).name, row.get(i));
                    byte[] rb = Json.MAPPER.writeValueAsBytes(raw);
                    bad.add(EmulatorSchema.quarantineRow(ds.cols.stream().map(c -> new EmulatorSchema.Col(c.name, "String", null)).toList(), rb, 0, rb.length, err, importId));
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        String[] refused = emu.tables.insertObjects(ds, good);
        long stored = good.size();
        if (refused != null) {
            for (int i = 0; i < refused.length; i++) {
                if (refused[i] == null) continue;
                stored--;
                byte[] rb = Json.MAPPER.writeValueAsBytes(good.get(i));
                bad.add(EmulatorSchema.quarantineRow(ds.cols, rb, 0, rb.length, new String[] {"", EmulatorSchema.abbreviate(refused[i].lines().findFirst().orElse(""))}, importId));
            }
        }
        if (!bad.isEmpty()) emu.tables.insertObjects(emu.tables.quarantineOf(ds), bad);
        emu.rowsStored.add(stored);
        emu.rowsQuarantined.add(bad.size());
        return new long[] {stored, bad.size(), invalid};
    }

    /** A CSV field as a JSON value of the column's type, or null when it doesn't parse. */

    void describe(HttpExchange ex, Map<String, List<String>> q, String path) throws IOException {
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        if (path.startsWith("/v0/datasources/")) {
            String name = EmulatorHttp.dec(path.substring("/v0/datasources/".length()));
            EmulatorTables.DataSource ds = emu.tables.dataSources.get(name);
            if (ds == null) throw new EmulatorHttp.BadRequest(404, "Data Source '" + name + "' does not exist");
            EmulatorHttp.sendJson(ex, 200, describe(ds));
            return;
        }
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        ArrayNode a = o.putArray("datasources");
        new java.util.TreeMap<>(emu.tables.dataSources).values().forEach(ds -> a.add(describe(ds)));
        EmulatorHttp.sendJson(ex, 200, o);
    }

    private ObjectNode describe(EmulatorTables.DataSource ds) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", ds.id);
        o.put("name", ds.name);
        ArrayNode cols = o.putObject("schema").putArray("columns");
        for (EmulatorSchema.Col c : ds.cols) {
            ObjectNode co = cols.addObject();
            co.put("name", c.name);
            co.put("type", c.type);
            co.put("nullable", c.nullable);
            if (c.path != null) co.put("jsonpath", c.path);
        }
        o.putObject("statistics").put("row_count", emu.tables.count(ds));
        return o;
    }

    /** {@code POST /v0/datasources/<ds>/truncate}: every row goes (the quarantine's too); 205 as Tinybird answers. */
    void truncate(HttpExchange ex, Map<String, List<String>> q, String name) throws IOException {
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null || !TinybirdEmulator.has(t, "DATASOURCES:CREATE")) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        EmulatorTables.DataSource ds = emu.tables.dataSources.get(name);
        if (ds == null) throw new EmulatorHttp.BadRequest(404, "Data Source '" + name + "' does not exist");
        if (ds.builtin) throw new EmulatorHttp.BadRequest(403, "invalid authentication token");
        emu.tables.truncate(ds);
        EmulatorTables.DataSource qd = emu.tables.dataSources.get(name + "_quarantine");
        if (qd != null) emu.tables.truncate(qd);
        emu.rateHeaders(ex, false);
        EmulatorHttp.drain(ex);
        ex.sendResponseHeaders(205, -1);
    }
}
