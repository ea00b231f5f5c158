import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Tinybird schemas on the Java side of the emulator: parsing {@code `name` Type `json:$.path`} definitions, checking
 * each incoming JSON/CSV value against its column, and inferring a schema from the first rows.
 *
 * <p>Why in Java and not left to ClickHouse: Tinybird quarantines a row that does not fit instead of failing the whole
 * request, and says which column and why; ClickHouse rejects the whole insert. So each row is checked here first and
 * only rows that fit reach the engine. Invariant: a row that {@link #validate} accepts is one ClickHouse can insert
 * into the column types given (the few it still rejects are quarantined one by one, see EmulatorTables).
 */
final class EmulatorSchema {
    private EmulatorSchema() {}

    static final DateTimeFormatter DT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

    /** A column: name, ClickHouse type, jsonpath (null for CSV data sources). */
    static final class Col {
        final String name, type, path;
        final String[] pathParts;
        final boolean nullable;
        final String base; // type without Nullable/LowCardinality
        final Kind kind;
        final long min, max; // integer range (kind INT)
        int index; // position in its data source

        Col(String name, String type, String path) {
            this.name = name;
            this.type = type;
            this.path = path;
            String t = type.strip();
            boolean n = false;
            for (boolean changed = true; changed; ) {
                changed = false;
                Matcher m = Pattern.compile("^(Nullable|LowCardinality)\\((.*)\\)$").matcher(t);
                if (m.matches()) {
                    if (m.group(1).equals("Nullable")) n = true;
                    t = m.group(2).strip();
                    changed = true;
                }
            }
            this.nullable = n;
            this.base = t;
            Kind k = Kind.OTHER;
            long lo = Long.MIN_VALUE, hi = Long.MAX_VALUE;
            if (t.equals("String") || t.startsWith("FixedString") || t.startsWith("Enum")) k = Kind.STRING;
            else if (t.matches("U?Int(8|16|32|64|128|256)")) {
                k = Kind.INT;
                int bits = Integer.parseInt(t.replaceAll("\\D", ""));
                boolean unsigned = t.startsWith("U");
                if (bits < 64) {
                    lo = unsigned ? 0 : -(1L << (bits - 1));
                    hi = unsigned ? (1L << bits) - 1 : (1L << (bits - 1)) - 1;
                } else if (bits == 64 && unsigned) lo = 0;
                else if (bits > 64) k = Kind.BIGINT;
            } else if (t.startsWith("Float") || t.startsWith("Decimal")) k = Kind.FLOAT;
            else if (t.equals("Bool") || t.equals("Boolean")) k = Kind.BOOL;
            else if (t.startsWith("DateTime")) k = Kind.DATETIME;
            else if (t.startsWith("Date")) k = Kind.DATE;
            else if (t.equals("UUID")) k = Kind.UUID;
            else if (t.startsWith("Array")) k = Kind.ARRAY;
            else if (t.startsWith("Map") || t.startsWith("JSON") || t.startsWith("Object") || t.startsWith("Tuple")) k = Kind.OBJECT;
            this.kind = k;
            this.min = lo;
            this.max = hi;
            String p = path == null ? "$." + name : path;
            this.pathParts = p.replaceFirst("^\\$\\.?", "").isEmpty() ? new String[0] : p.replaceFirst("^\\$\\.?", "").split("\\.");
        }

        boolean topLevel() {
            return pathParts.length == 1;
        }
    }

    enum Kind { STRING, INT, BIGINT, FLOAT, BOOL, DATETIME, DATE, UUID, ARRAY, OBJECT, OTHER }

    static final Pattern COLUMN = Pattern.compile(
            "\\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\\s+((?:[A-Za-z0-9_]+(?:\\((?:[^()]|\\([^()]*\\))*\\))?))\\s*(?:`json:([^`]*)`)?\\s*(?:DEFAULT\\s+[^,]+)?\\s*");

    /** Parses a Tinybird schema: comma-separated columns {@code `name` Type `json:$.path`}. */
    static List<Col> parseSchema(String schema) {
        List<Col> cols = new ArrayList<>();
        for (String part : splitTopLevel(schema)) {
            if (part.isBlank()) continue;
            Matcher m = COLUMN.matcher(part);
            if (!m.matches()) throw new IllegalArgumentException("cannot parse column definition '" + part.strip() + "'");
            cols.add(new Col(m.group(1), m.group(2), m.group(3) == null ? null : m.group(3).strip()));
        }
        if (cols.isEmpty()) throw new IllegalArgumentException("empty schema");
        return cols;
    }

    static List<String> splitTopLevel(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, start = 0;
        boolean tick = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '`') tick = !tick;
            else if (!tick && c == '(') depth++;
            else if (!tick && c == ')') depth--;
            else if (!tick && depth == 0 && (c == ',' || c == '\n')) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    /** A data source: columns and rows (stored as JSON lines). */

    // ------------------------------------------------------------------ value checks

    static final Pattern DATETIME = Pattern.compile(
            "(\\d{4}-\\d{2}-\\d{2})(?:[ T](\\d{2}:\\d{2}(?::\\d{2})?)(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?");

    /** Null if the value under the parser fits the column, else the error text. */
    static String check(Col c, JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NULL) return c.nullable ? null : "value is null for non-Nullable column";
        String b = c.base;
        switch (c.kind) {
            case STRING -> {
                return t == JsonToken.VALUE_STRING ? null : "value is not a String: " + shortText(p);
            }
            case INT -> {
                if (t != JsonToken.VALUE_NUMBER_INT) return "value is not an integer: " + shortText(p);
                JsonParser.NumberType nt = p.getNumberType();
                if (nt == JsonParser.NumberType.BIG_INTEGER) {
                    java.math.BigInteger v = p.getBigIntegerValue();
                    boolean ok = b.equals("UInt64") && v.signum() >= 0 && v.bitLength() <= 64;
                    return ok ? null : "value " + v + " is out of range for " + b;
                }
                long v = p.getLongValue();
                return v < c.min || v > c.max ? "value " + v + " is out of range for " + b : null;
            }
            case BIGINT -> {
                return t == JsonToken.VALUE_NUMBER_INT ? null : "value is not an integer: " + shortText(p);
            }
            case FLOAT -> {
                return t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT ? null : "value is not a number: " + shortText(p);
            }
            case BOOL -> {
                return t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE || t == JsonToken.VALUE_NUMBER_INT ? null
                        : "value is not a Bool: " + shortText(p);
            }
            case DATETIME, DATE -> {
                if (t == JsonToken.VALUE_NUMBER_INT && c.kind == Kind.DATETIME) return null;
                if (t != JsonToken.VALUE_STRING) return "value is not a " + b + ": " + shortText(p);
                String text = p.getText();
                if (!quickDateTime(text)) {
                    Matcher m = DATETIME.matcher(text.strip());
                    if (!m.matches() || !validDate(m.group(1))) return "cannot parse " + b + " from '" + abbreviate(text) + "'";
                }
                return null;
            }
            case UUID -> {
                return t == JsonToken.VALUE_STRING && p.getText().matches("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
                        ? null : "value is not a UUID: " + shortText(p);
            }
            case ARRAY -> {
                return t == JsonToken.START_ARRAY ? null : "value is not an Array: " + shortText(p);
            }
            case OBJECT -> {
                return t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY ? null : "value is not an object: " + shortText(p);
            }
            default -> {
                return null;
            }
        }
    }

    /** Fast path for the common "YYYY-MM-DD HH:MM:SS[.ffffff]" / "YYYY-MM-DDTHH:MM:SS[.ffffff][Z]" shapes. */
    static boolean quickDateTime(String s) {
        int n = s.length();
        if (n != 10 && n < 19) return false;
        for (int i = 0; i < Math.min(n, 19); i++) {
            char ch = s.charAt(i);
            boolean ok = switch (i) {
                case 4, 7 -> ch == '-';
                case 10 -> ch == ' ' || ch == 'T';
                case 13, 16 -> ch == ':';
                default -> ch >= '0' && ch <= '9';
            };
            if (!ok) return false;
        }
        int month = (s.charAt(5) - '0') * 10 + (s.charAt(6) - '0'), day = (s.charAt(8) - '0') * 10 + (s.charAt(9) - '0');
        if (month < 1 || month > 12 || day < 1 || day > 28) return false; // other days: the full check
        if (n > 10) {
            int h = (s.charAt(11) - '0') * 10 + (s.charAt(12) - '0'), mi = (s.charAt(14) - '0') * 10 + (s.charAt(15) - '0'),
                    se = (s.charAt(17) - '0') * 10 + (s.charAt(18) - '0');
            if (h > 23 || mi > 59 || se > 59) return false;
            if (n == 19) return true;
            int i = 19;
            if (s.charAt(i) == '.') {
                i++;
                int d0 = i;
                while (i < n && s.charAt(i) >= '0' && s.charAt(i) <= '9') i++;
                if (i == d0 || i - d0 > 9) return false;
            }
            return i == n || (i == n - 1 && s.charAt(i) == 'Z');
        }
        return true;
    }

    static boolean validDate(String ymd) {
        try {
            LocalDate.parse(ymd);
            return true;
        } catch (DateTimeParseException e) {
            return false;
        }
    }

    static String shortText(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT) return "an object";
        if (t == JsonToken.START_ARRAY) return "an array";
        return abbreviate(t == JsonToken.VALUE_STRING ? "'" + p.getText() + "'" : p.getText());
    }

    static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    /** Validates one NDJSON line against a JSON data source: null if fine, else [column, error]. */
    static String[] validate(EmulatorTables.DataSource ds, byte[] b, int off, int len) {
        try {
            if (ds.allTopLevel) {
                try (JsonParser p = Json.FACTORY.createParser(b, off, len)) {
                    if (p.nextToken() != JsonToken.START_OBJECT) return new String[] {"", "row is not a JSON object"};
                    int seen = 0;
                    boolean[] got = new boolean[ds.cols.size()];
                    JsonToken t;
                    while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                        Col c = ds.topLevel.get(p.currentName());
                        p.nextToken();
                        if (c != null) {
                            String err = check(c, p);
                            if (err != null) return new String[] {c.name, err};
                            int i = c.index;
                            if (!got[i]) {
                                got[i] = true;
                                seen++;
                            }
                        }
                        p.skipChildren();
                    }
                    if (t != JsonToken.END_OBJECT) return new String[] {"", "invalid JSON"};
                    if (p.nextToken() != null) return new String[] {"", "invalid JSON: more than one value on the line"};
                    if (seen < ds.cols.size()) {
                        for (int i = 0; i < got.length; i++) {
                            if (!got[i] && !ds.cols.get(i).nullable) return new String[] {ds.cols.get(i).name, "value is missing"};
                        }
                    }
                    return null;
                }
            }
            JsonNode n = Json.MAPPER.readTree(b, off, len);
            if (!(n instanceof ObjectNode)) return new String[] {"", "row is not a JSON object"};
            for (Col c : ds.cols) {
                JsonNode v = at(n, c);
                if (v == null || v.isMissingNode()) {
                    if (!c.nullable) return new String[] {c.name, "value is missing"};
                    continue;
                }
                try (JsonParser p = v.traverse()) {
                    p.nextToken();
                    String err = check(c, p);
                    if (err != null) return new String[] {c.name, err};
                }
            }
            return null;
        } catch (IOException e) {
            return new String[] {"", "invalid JSON: " + abbreviate(String.valueOf(e.getMessage()).split("\n")[0])};
        }
    }

    static String[][] validateAll(EmulatorTables.DataSource ds, byte[] body, int[] lp, int n) {
        if (!ds.allTopLevel || n == 0) return null;
        String[][] errors = new String[n][];
        int ncols = ds.cols.size();
        boolean[] got = new boolean[ncols];
        try (JsonParser p = Json.FACTORY.createParser(body, 0, body.length)) {
            for (int i = 0; i < n; i++) {
                int off = lp[2 * i], end = off + lp[2 * i + 1];
                if (p.nextToken() != JsonToken.START_OBJECT || p.currentTokenLocation().getByteOffset() != off) return null;
                Arrays.fill(got, false);
                int seen = 0;
                String[] err = null;
                JsonToken t;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    Col c = err == null ? ds.topLevel.get(p.currentName()) : null;
                    p.nextToken();
                    if (c != null) {
                        String e = check(c, p);
                        if (e != null) err = new String[] {c.name, e};
                        else if (!got[c.index]) {
                            got[c.index] = true;
                            seen++;
                        }
                    }
                    p.skipChildren();
                }
                if (t != JsonToken.END_OBJECT || p.currentLocation().getByteOffset() > end) return null;
                if (err == null && seen < ncols) {
                    for (int k = 0; k < ncols; k++) {
                        if (!got[k] && !ds.cols.get(k).nullable) {
                            err = new String[] {ds.cols.get(k).name, "value is missing"};
                            break;
                        }
                    }
                }
                errors[i] = err;
            }
            if (p.nextToken() != null) return null;
            return errors;
        } catch (IOException e) {
            return null;
        }
    }

    static JsonNode at(JsonNode n, Col c) {
        JsonNode v = n;
        for (String part : c.pathParts) {
            v = v.get(part);
            if (v == null) return null;
        }
        return v;
    }

    static ObjectNode quarantineRow(List<Col> cols, byte[] b, int off, int len, String[] err, String importId) {
        ObjectNode q = JsonNodeFactory.instance.objectNode();
        q.putArray("c__error_column").add(err[0]);
        q.putArray("c__error").add(err[1]);
        q.put("c__import_id", importId);
        q.put("insertion_date", LocalDateTime.now(ZoneOffset.UTC).format(DT));
        JsonNode n = null;
        try {
            n = Json.MAPPER.readTree(b, off, len);
        } catch (IOException ignored) {
            // invalid JSON: no column values
        }
        for (Col c : cols) {
            JsonNode v = n == null ? null : at(n, c);
            if (v == null || v.isNull()) q.putNull(c.name);
            else q.put(c.name, v.isValueNode() ? v.asText() : v.toString());
        }
        q.put("c__raw", n == null ? new String(b, off, len, StandardCharsets.UTF_8) : null);
        return q;
    }

    /** The columns of a data source's quarantine: the error, the import, when, the raw line, then every column as text. */
    static List<Col> quarantineColumns(List<Col> cols) {
        List<Col> out = new ArrayList<>();
        out.add(new Col("c__error_column", "Array(String)", null));
        out.add(new Col("c__error", "Array(String)", null));
        out.add(new Col("c__import_id", "Nullable(String)", null));
        out.add(new Col("insertion_date", "DateTime", null));
        out.add(new Col("c__raw", "Nullable(String)", null));
        for (Col c : cols) out.add(new Col(c.name, "Nullable(String)", null));
        return out;
    }

    /** Infers columns with jsonpaths from the first rows (nested objects flattened with _). */
    static List<Col> infer(List<JsonNode> sample) {
        Map<String, String[]> found = new LinkedHashMap<>(); // name -> [path, type]
        Map<String, Integer> seen = new HashMap<>();
        Set<String> nullable = new java.util.HashSet<>();
        for (JsonNode row : sample) {
            Set<String> here = new java.util.HashSet<>();
            flatten(row, "", "$", found, nullable, here);
            for (String k : here) seen.merge(k, 1, Integer::sum);
        }
        List<Col> cols = new ArrayList<>();
        for (Map.Entry<String, String[]> e : found.entrySet()) {
            String type = e.getValue()[1] == null ? "String" : e.getValue()[1];
            boolean n = nullable.contains(e.getKey()) || seen.getOrDefault(e.getKey(), 0) < sample.size();
            cols.add(new Col(e.getKey(), n && !type.startsWith("Array") ? "Nullable(" + type + ")" : type, e.getValue()[0]));
        }
        return cols;
    }

    private static void flatten(JsonNode n, String prefix, String path, Map<String, String[]> found, Set<String> nullable, Set<String> here) {
        Iterator<Map.Entry<String, JsonNode>> it = n.properties().iterator();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = (prefix.isEmpty() ? "" : prefix + "_") + e.getKey().replaceAll("[^A-Za-z0-9_]", "_");
            String p = path + "." + e.getKey();
            JsonNode v = e.getValue();
            if (v.isObject() && v.size() > 0) {
                flatten(v, name, p, found, nullable, here);
                continue;
            }
            here.add(name);
            String t = v.isNull() ? null : v.isBoolean() ? "Bool" : v.isIntegralNumber() ? "Int64" : v.isNumber() ? "Float64"
                    : v.isArray() ? arrayType(v) : v.isObject() ? "String" : textType(v.asText());
            if (v.isNull()) nullable.add(name);
            String[] old = found.get(name);
            if (old == null) found.put(name, new String[] {p, t});
            else if (old[1] == null) old[1] = t;
            else if (t != null && !old[1].equals(t)) {
                old[1] = (old[1].equals("Int64") && t.equals("Float64") || old[1].equals("Float64") && t.equals("Int64")) ? "Float64" : "String";
            }
        }
    }

    private static String arrayType(JsonNode a) {
        String t = null;
        for (JsonNode x : a) {
            String xt = x.isIntegralNumber() ? "Int64" : x.isNumber() ? "Float64" : x.isBoolean() ? "Bool" : "String";
            t = t == null ? xt : t.equals(xt) ? t : "String";
        }
        return "Array(" + (t == null ? "String" : t) + ")";
    }

    static String textType(String s) {
        Matcher m = DATETIME.matcher(s);
        if (m.matches() && validDate(m.group(1))) {
            if (m.group(2) == null) return "Date";
            return m.group(3) == null ? "DateTime" : "DateTime64(" + Math.min(9, m.group(3).length() - 1) + ")";
        }
        return "String";
    }

    static List<List<String>> parseCsv(String text) {
        List<List<String>> out = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder f = new StringBuilder();
        boolean quoted = false, any = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"') {
                    if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
                        f.append('"');
                        i++;
                    } else quoted = false;
                } else f.append(c);
            } else if (c == '"') {
                quoted = true;
                any = true;
            } else if (c == ',') {
                row.add(f.toString());
                f.setLength(0);
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') i++;
                if (any || f.length() > 0) {
                    row.add(f.toString());
                    out.add(row);
                }
                row = new ArrayList<>();
                f.setLength(0);
                any = false;
            } else {
                f.append(c);
                any = true;
            }
        }
        if (any || f.length() > 0) {
            row.add(f.toString());
            out.add(row);
        }
        return out;
    }

    static List<Col> inferCsv(byte[] data) {
        List<List<String>> rows = parseCsv(new String(data, 0, Math.min(data.length, 1 << 20), StandardCharsets.UTF_8));
        if (rows.isEmpty()) throw new EmulatorHttp.BadRequest(400, "Cannot infer a schema from an empty file");
        List<String> header = rows.get(0);
        List<String> sample = rows.size() > 1 ? rows.get(1) : null;
        List<Col> cols = new ArrayList<>();
        for (int i = 0; i < header.size(); i++) {
            String n = header.get(i).strip().replaceAll("[^A-Za-z0-9_]", "_");
            if (n.isEmpty() || Character.isDigit(n.charAt(0))) n = "c_" + n;
            String v = sample != null && i < sample.size() ? sample.get(i) : "";
            String type = v.matches("-?\\d{1,18}") ? "Int64" : v.matches("-?\\d*\\.\\d+([eE][-+]?\\d+)?") ? "Float64" : textType(v);
            cols.add(new Col(n, type, null));
        }
        return cols;
    }

    static JsonNode csvValue(Col c, String v) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if ((v.isEmpty() || v.equals("\\N")) && c.nullable) return f.nullNode();
        String b = c.base;
        try {
            if (b.matches("U?Int(8|16|32|64)")) {
                JsonParser p = Json.FACTORY.createParser(v.strip());
                p.nextToken();
                if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || check(c, p) != null) return null;
                return f.numberNode(Long.parseLong(v.strip()));
            }
            if (b.startsWith("Float") || b.startsWith("Decimal")) return f.numberNode(Double.parseDouble(v.strip()));
            if (b.equals("Bool")) {
                if (v.equalsIgnoreCase("true") || v.equals("1")) return f.booleanNode(true);
                if (v.equalsIgnoreCase("false") || v.equals("0")) return f.booleanNode(false);
                return null;
            }
            if (b.startsWith("Date")) {
                Matcher m = DATETIME.matcher(v.strip());
                return m.matches() && validDate(m.group(1)) ? f.textNode(v.strip()) : null;
            }
            if (b.startsWith("Array") || b.startsWith("Map") || b.startsWith("JSON")) return Json.MAPPER.readTree(v);
            return f.textNode(v);
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

}
