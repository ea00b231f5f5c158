
import java.util.Map;

/**
 * ClickHouse column types as the targets need them: the PostgreSQL type of a column (tinybird-api.md's table), and
 * whether it is Nullable.
 *
 * <p>Why here: tb-to-postgres creates tables from an endpoint's meta and the mapping is the one thing a user may want
 * to change (data-transfer/README.md). Invariant: every ClickHouse type maps to some PostgreSQL type (text when
 * unknown), with Nullable, LowCardinality and SimpleAggregateFunction wrappers unwrapped first.
 */
public final class ClickHouseTypes {
    private ClickHouseTypes() {}

    /** ClickHouse type -> PostgreSQL type (tinybird-api.md). Nullable/LowCardinality wrappers are unwrapped. */
    public static String postgresType(String chType) {
        String t = unwrapType(chType);
        if (t.startsWith("Decimal")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("Decimal(?:32|64|128|256)?\\((\\d+)\\s*,\\s*(\\d+)\\)").matcher(t);
            if (m.matches()) return "numeric(" + m.group(1) + "," + m.group(2) + ")";
            java.util.regex.Matcher m1 = java.util.regex.Pattern.compile("Decimal(32|64|128|256)\\((\\d+)\\)").matcher(t);
            if (m1.matches()) {
                int p = switch (m1.group(1)) { case "32" -> 9; case "64" -> 18; case "128" -> 38; default -> 76; };
                return "numeric(" + p + "," + m1.group(2) + ")";
            }
            return "numeric";
        }
        if (t.startsWith("DateTime")) return "timestamp";
        if (t.startsWith("Date")) return "date";
        if (t.startsWith("Array(") || t.startsWith("Map(") || t.startsWith("Tuple(") || t.startsWith("JSON") || t.startsWith("Object(")
                || t.startsWith("Nested(")) return "jsonb";
        if (t.startsWith("FixedString") || t.startsWith("Enum")) return "text";
        return switch (t) {
            case "String" -> "text";
            case "Int8", "UInt8", "Int16" -> "smallint";
            case "UInt16", "Int32" -> "integer";
            case "UInt32", "Int64" -> "bigint";
            case "UInt64", "Int128", "UInt128", "Int256", "UInt256" -> "numeric";
            case "Float32" -> "real";
            case "Float64" -> "double precision";
            case "Bool", "Boolean" -> "boolean";
            case "UUID" -> "uuid";
            case "IPv4", "IPv6" -> "inet";
            default -> "text";
        };
    }

    /** True for Nullable(...) types. */
    public static boolean nullable(String chType) {
        String t = chType.strip();
        if (t.startsWith("LowCardinality(")) t = t.substring(15, t.length() - 1);
        return t.startsWith("Nullable(");
    }

    public static String unwrapType(String chType) {
        String t = chType.strip();
        boolean changed = true;
        while (changed) {
            changed = false;
            for (String w : new String[] {"Nullable(", "LowCardinality(", "SimpleAggregateFunction("}) {
                if (t.startsWith(w) && t.endsWith(")")) {
                    t = t.substring(w.length(), t.length() - 1).strip();
                    if (w.startsWith("Simple")) t = t.substring(t.indexOf(',') + 1).strip();
                    changed = true;
                }
            }
        }
        return t;
    }
}
