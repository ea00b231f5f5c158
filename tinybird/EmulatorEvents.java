import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

/**
 * The Events API ({@code POST /v0/events?name=ds}): NDJSON (gzip or not) checked row by row against the data source's
 * jsonpaths, rows that fit inserted into its table in one statement, the others quarantined, as Tinybird does.
 *
 * <p>Why this shape: validation, quarantine, autocreation, rate limits and fault switches are the contract clients are
 * tested against, so they stay in Java; the rows themselves go to the engine as the lines that came in (JSONEachRow),
 * with no per-row Java objects on the common path. Invariant: the answer's successful_rows + quarantined_rows is the
 * number of non-blank lines, and the successful ones are in the table before the answer is sent.
 */
final class EmulatorEvents {
    private final TinybirdEmulator emu;

    EmulatorEvents(TinybirdEmulator emu) {
        this.emu = emu;
    }

    void handle(HttpExchange ex, Map<String, List<String>> q) throws IOException {
        emu.eventsRequests.increment();
        if (!ex.getRequestMethod().equals("POST")) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 405, "Method not allowed\n", "text/plain");
            return;
        }
        boolean limited = emu.overRate();
        TinybirdEmulator.Token t = emu.token(ex, q);
        if (t == null) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 403, "Invalid token\n", "text/plain");
            return;
        }
        if (t.regionHost() != null) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 404, "Wrong region: this token belongs to a Workspace in another region. Use the API host "
                    + t.regionHost() + "\n", "text/plain");
            return;
        }
        String name = EmulatorHttp.first(q, "name");
        if (name == null || name.isBlank()) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 400, "Missing 'name' parameter\n", "text/plain");
            return;
        }
        String format = EmulatorHttp.first(q, "format");
        if (format != null && !format.equals("ndjson") && !format.equals("json")) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 501, "Unimplemented format " + format, "text/plain");
            return;
        }
        if (limited) {
            emu.rateLimited.increment();
            emu.rateHeaders(ex, true);
            EmulatorHttp.sendText(ex, 429, "Too many requests\n", "text/plain");
            return;
        }
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        if (cl != null) {
            try {
                if (Long.parseLong(cl.strip()) > emu.maxRequestBytes) {
                    emu.rateHeaders(ex, false);
                    EmulatorHttp.drain(ex);
                    ex.sendResponseHeaders(413, -1);
                    return;
                }
            } catch (NumberFormatException ignored) {
                // let the read decide
            }
        }
        byte[] body = EmulatorHttp.readBody(ex, emu.maxRequestBytes, emu.bytesReceived);
        if (body == null) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.drain(ex);
            ex.sendResponseHeaders(413, -1);
            return;
        }
        boolean wait = "true".equalsIgnoreCase(EmulatorHttp.first(q, "wait"));
        EmulatorFault fault = emu.faults.pick("/v0/events");
        if (fault != null && !fault.after()) {
            emu.faultsInjected.increment();
            if (EmulatorFaults.apply(emu, ex, fault)) return;
        }
        // split lines: [start, length] pairs
        int[] lp = new int[64];
        int nLines = 0;
        int start = 0;
        for (int i = 0; i <= body.length; i++) {
            if (i == body.length || body[i] == '\n') {
                int end = i;
                if (end > start && body[end - 1] == '\r') end--;
                int s0 = start;
                while (s0 < end && (body[s0] == ' ' || body[s0] == '\t')) s0++;
                if (end > s0) {
                    if (2 * nLines + 2 > lp.length) lp = Arrays.copyOf(lp, lp.length * 2);
                    lp[2 * nLines] = s0;
                    lp[2 * nLines + 1] = end - s0;
                    nLines++;
                }
                start = i + 1;
            }
        }
        emu.rowsReceived.add(nLines);
        EmulatorTables.DataSource ds = emu.tables.dataSources.get(name);
        if (ds == null) {
            if (emu.noAutocreate || !TinybirdEmulator.has(t, "DATASOURCES:CREATE")) {
                emu.rateHeaders(ex, false);
                EmulatorHttp.sendText(ex, 403, "Invalid token for DS autocreation\n", "text/plain");
                return;
            }
            List<JsonNode> sample = new ArrayList<>();
            for (int i = 0; i < nLines; i++) {
                if (sample.size() >= 100) break;
                try {
                    JsonNode n = Json.MAPPER.readTree(body, lp[2 * i], lp[2 * i + 1]);
                    if (n instanceof ObjectNode) sample.add(n);
                } catch (IOException skip) {
                    // goes to quarantine below
                }
            }
            if (sample.isEmpty()) {
                emu.rateHeaders(ex, false);
                EmulatorHttp.sendText(ex, 400, "Cannot infer a schema: no valid JSON rows\n", "text/plain");
                return;
            }
            EmulatorTables.DataSource fresh = new EmulatorTables.DataSource(name, TinybirdEmulator.newId(), EmulatorSchema.infer(sample), true, false, null);
            emu.tables.create(fresh);
            ds = emu.tables.dataSources.get(name);
        } else if (ds.builtin || !TinybirdEmulator.canAppend(t, name)) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 403, "Invalid token\n", "text/plain");
            return;
        } else if (!ds.json) {
            emu.rateHeaders(ex, false);
            EmulatorHttp.sendText(ex, 400, "Data Source must be of type JSON\n", "text/plain");
            return;
        }
        String importId = TinybirdEmulator.newId();
        String[][] errors = EmulatorSchema.validateAll(ds, body, lp, nLines);
        int[] goodPairs = new int[nLines * 2];
        int nGood = 0;
        List<ObjectNode> bad = new ArrayList<>();
        for (int i = 0; i < nLines; i++) {
            int off = lp[2 * i], len = lp[2 * i + 1];
            String[] err = errors != null ? errors[i] : EmulatorSchema.validate(ds, body, off, len);
            if (err == null) {
                goodPairs[2 * nGood] = off;
                goodPairs[2 * nGood + 1] = len;
                nGood++;
            } else {
                bad.add(EmulatorSchema.quarantineRow(ds.cols, body, off, len, err, importId));
            }
        }
        nGood = store(ds, body, goodPairs, nGood, bad, importId);
        emu.rowsStored.add(nGood);
        emu.rowsQuarantined.add(bad.size());
        if (fault != null && fault.after()) {
            emu.faultsInjected.increment();
            if (EmulatorFaults.apply(emu, ex, fault)) return;
        }
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("successful_rows", nGood);
        o.put("quarantined_rows", bad.size());
        emu.rateHeaders(ex, false);
        EmulatorHttp.sendJson(ex, wait ? 200 : 202, o);
    }

    /**
     * Inserts the good rows (and the bad ones into the quarantine); a row the engine still refuses joins the bad ones,
     * with the engine's reason. Returns how many rows were stored.
     */
    int store(EmulatorTables.DataSource ds, byte[] body, int[] goodPairs, int nGood, List<ObjectNode> bad, String importId) {
        String[] refused = emu.tables.insertLines(ds, body, goodPairs, nGood);
        int stored = nGood;
        if (refused != null) {
            for (int i = 0; i < nGood; i++) {
                if (refused[i] == null) continue;
                stored--;
                bad.add(EmulatorSchema.quarantineRow(ds.cols, body, goodPairs[2 * i], goodPairs[2 * i + 1],
                        new String[] {"", EmulatorSchema.abbreviate(refused[i].lines().findFirst().orElse(""))}, importId));
            }
        }
        if (!bad.isEmpty()) emu.tables.insertObjects(emu.tables.quarantineOf(ds), bad);
        return stored;
    }
}
