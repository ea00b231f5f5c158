/*
 * settings.yaml: the original generator's keys, read with a one-line error for every mistake (file, line, key).
 * Why here: the script resolves defaults, then this file, then its options; the file's rules are long and dull.
 * Invariant: a key is read once (a duplicate is an error, never "the last one wins"); weights add up to more than 0.
 */
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;

/** The settings.yaml keys (and ours), resolved: defaults, then the file, then options. */
final class EStoreSettings {
    static final String DEFAULT_ENDPOINT = "https://{CLOUD_REGION}.tinybird.co/v0/events?name={DATASOURCE_NAME}";
    String endpoint = DEFAULT_ENDPOINT;
    int customers = 500;
    int products = 500;
    double duplicatePct = 2;
    Duration dbUpdateInterval = Duration.ofMinutes(10);
    boolean writeToPostgres = false;
    double[] weights = {65, 15, 5, 10, 5};
    int restockThreshold = 5;
    String source = "built-in defaults";

    static final List<String> KEYS = List.of("tinybird_api_endpoint", "num_customers", "num_products",
            "duplicate_data_percentage", "db_update_interval_minutes", "write_to_postgres", "event_type_weights",
            "restock_threshold");

    /** Reads a settings file; every mistake is one line naming the file, the line and the key. */
    static EStoreSettings load(Path file) {
        EStoreSettings s = new EStoreSettings();
        s.source = file.toString();
        Node root;
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            root = new Yaml(new SafeConstructor(new LoaderOptions())).compose(r);
        } catch (MarkedYAMLException e) {
            int line = e.getProblemMark() != null ? e.getProblemMark().getLine() + 1 : 0;
            throw new Cli.Failure(file + ":" + line + ": not valid YAML: " + e.getProblem());
        } catch (YAMLException e) {
            throw new Cli.Failure(file + ": not valid YAML: " + e.getMessage());
        } catch (java.nio.file.NoSuchFileException e) {
            throw new Cli.Failure("settings file not found: " + file);
        } catch (IOException e) {
            throw new Cli.Failure("cannot read settings file " + file + ": " + e.getMessage());
        }
        if (root == null) return s; // empty file
        if (!(root instanceof MappingNode map)) throw new Cli.Failure(file + ":1: expected 'key: value' lines");
        // the YAML loader would keep the last of two equal keys: a silent surprise, so each key is read once
        Map<String, Integer> firstLine = new java.util.HashMap<>();
        for (NodeTuple t : map.getValue()) {
            int line = t.getKeyNode().getStartMark().getLine() + 1;
            String where = file + ":" + line + ": ";
            if (!(t.getKeyNode() instanceof ScalarNode k)) throw new Cli.Failure(where + "expected a key");
            String key = k.getValue();
            once(firstLine, where, key, line);
            Node v = t.getValueNode();
            switch (key) {
                case "tinybird_api_endpoint" -> s.endpoint = endpoint(where + key, scalar(where, key, v));
                case "num_customers" -> s.customers = positiveInt(where + key, scalar(where, key, v));
                case "num_products" -> s.products = positiveInt(where + key, scalar(where, key, v));
                case "duplicate_data_percentage" -> s.duplicatePct = percentage(where + key, scalar(where, key, v));
                case "db_update_interval_minutes" -> s.dbUpdateInterval = interval(where + key, scalar(where, key, v));
                case "write_to_postgres" -> s.writeToPostgres = bool(where + key, scalar(where, key, v));
                case "restock_threshold" -> s.restockThreshold = restock(where + key, scalar(where, key, v));
                case "event_type_weights" -> {
                    if (!(v instanceof MappingNode wm)) throw new Cli.Failure(where + key + ": expected a mapping (view: 65, cart: 15, ...)");
                    double[] w = new double[5];
                    boolean[] seen = new boolean[5];
                    Map<String, Integer> firstAction = new java.util.HashMap<>();
                    for (NodeTuple wt : wm.getValue()) {
                        int wline = wt.getKeyNode().getStartMark().getLine() + 1;
                        String wwhere = file + ":" + wline + ": ";
                        String a = wt.getKeyNode() instanceof ScalarNode sk ? sk.getValue() : "?";
                        once(firstAction, wwhere, "event_type_weights." + a, wline);
                        int i = Shop.actionIndex(a);
                        if (i < 0) throw new Cli.Failure(wwhere + "event_type_weights: unknown action '" + a
                                + "' (expected " + String.join(", ", Shop.ACTIONS) + ")");
                        w[i] = weight(wwhere + "event_type_weights." + a, scalar(wwhere, "event_type_weights." + a, wt.getValueNode()));
                        seen[i] = true;
                    }
                    for (int i = 0; i < 5; i++) if (!seen[i]) w[i] = 0;
                    checkWeights(where + key, w);
                    s.weights = w;
                }
                default -> throw new Cli.Failure(where + "unknown key '" + key + "' (known: " + String.join(", ", KEYS) + ")");
            }
        }
        return s;
    }

    private static void once(Map<String, Integer> firstLine, String where, String key, int line) {
        Integer first = firstLine.putIfAbsent(key, line);
        if (first != null) throw new Cli.Failure(where + "duplicate key '" + key + "' (first on line " + first + ")");
    }

    static String endpoint(String what, String v) {
        if (v.isEmpty()) throw new Cli.Failure(prefix(what) + "expected the Events API URL, got nothing");
        return v;
    }

    private static String scalar(String where, String key, Node v) {
        if (!(v instanceof ScalarNode sn)) throw new Cli.Failure(where + key + ": expected a single value");
        return sn.getValue().strip();
    }

    /** "what: " before a rule's message; nothing for an option's value, which picocli names itself. */
    private static String prefix(String what) {
        return what.isEmpty() ? "" : what + ": ";
    }

    static int positiveInt(String what, String v) {
        try {
            long n = Long.parseLong(v.replace("_", ""));
            if (n >= 1 && n <= 1_000_000_000) return (int) n;
        } catch (NumberFormatException ignored) {
            // below
        }
        throw new Cli.Failure(prefix(what) + "expected a whole number from 1 to 1000000000, got '" + v + "'");
    }

    static double percentage(String what, String v) {
        try {
            double d = Double.parseDouble(v);
            if (d >= 0 && d <= 100) return d;
        } catch (NumberFormatException ignored) {
            // below
        }
        throw new Cli.Failure(prefix(what) + "expected a percentage from 0 to 100, got '" + v + "'");
    }

    static double weight(String what, String v) {
        try {
            double d = Double.parseDouble(v);
            if (d >= 0 && Double.isFinite(d)) return d;
        } catch (NumberFormatException ignored) {
            // below
        }
        throw new Cli.Failure(prefix(what) + "expected a weight >= 0, got '" + v + "'");
    }

    static void checkWeights(String what, double[] w) {
        double sum = 0;
        for (double d : w) sum += d;
        if (sum <= 0) throw new Cli.Failure(what + ": the weights add up to 0");
        if (!Double.isFinite(sum)) throw new Cli.Failure(what + ": the weights add up to more than a double holds");
    }

    /** A bare number is minutes (the setting's unit); 30s, 2m, 1h also work. */
    static Duration interval(String what, String v) {
        Duration d;
        try {
            d = v.matches("[0-9]+(\\.[0-9]+)?") ? Duration.ofMillis((long) (Double.parseDouble(v) * 60_000)) : CliTypes.parseDuration(v);
        } catch (picocli.CommandLine.TypeConversionException e) {
            throw new Cli.Failure(prefix(what) + "expected minutes (10) or a duration (30s, 2m), got '" + v + "'");
        }
        if (d.toMillis() < 100) throw new Cli.Failure(prefix(what) + "expected at least 100ms, got '" + v + "'");
        // a longer one is never reached, and its nanoseconds would overflow the clock arithmetic
        if (d.compareTo(Duration.ofMinutes(525_600)) > 0) throw new Cli.Failure(prefix(what) + "expected at most a year (525600 minutes), got '" + v + "'");
        return d;
    }

    static boolean bool(String what, String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> throw new Cli.Failure(prefix(what) + "expected true or false, got '" + v + "'");
        };
    }

    static int restock(String what, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n >= -1) return n;
        } catch (NumberFormatException ignored) {
            // below
        }
        throw new Cli.Failure(prefix(what) + "expected -1 (never) or a stock level >= 0, got '" + v + "'");
    }
}
