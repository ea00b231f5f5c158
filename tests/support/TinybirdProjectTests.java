/*
 * The project's tests/*.yaml, the files `tb test run` reads: a list of {name, description, parameters,
 * expected_result, expected_http_status} for the endpoint the file is named after, and the check itself: each
 * case's SQL is run and its text output compared, byte for byte, with expected_result.
 * Why: the datafiles ship with their tests; the local emulator runs them over fixtures/ so a broken .pipe fails the
 * build here before it fails a deploy.
 * Invariant: the comparison is exact text (the endpoint's .ndjson answer: one JSON object a line, each ending in
 * '\n'; '' for no rows), as `tb test run` compares.
 * Test support for TinybirdDatafilesTest. Needs snakeyaml on the class path; it is declared once in the repo
 * (data-generators/e-store.java), and the test runner compiles both.
 */
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

public final class TinybirdProjectTests {
    private TinybirdProjectTests() {}

    /** One test case of tests/<pipe>.yaml; expectedHttpStatus is null when the file doesn't say. */
    public record Case(String file, int line, String pipe, String name, String description, String parameters,
                       String expectedResult, Integer expectedHttpStatus) {
        /** The parameters as a request's: URL-decoded, a repeated key keeps every value. */
        public Map<String, List<String>> params() {
            return parseParameters(parameters);
        }

        public String where() {
            return file + ":" + line;
        }
    }

    /** What SQL gives as text: ClickHouse's output of the SQL (which ends in FORMAT JSONEachRow), or its error. */
    public interface SqlRunner {
        String run(String sql) throws Exception;
    }

    /** A case's outcome: passed, or why not (expected and actual text, or the error). */
    public record Outcome(Case test, boolean passed, int status, String actual, String message) {}

    /** The settings an .ndjson answer is written with (Tinybird writes 64-bit integers as numbers). */
    public static final String NDJSON = "\nFORMAT JSONEachRow\nSETTINGS output_format_json_quote_64bit_integers = 0";

    /** Reads every tests/*.yaml of the project (file name = endpoint name); a bad file is a DatafileException. */
    public static List<Case> load(TinybirdProject project) {
        Path dir = project.folder().resolve("tests");
        List<Case> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (Path f : files) {
            String fn = f.getFileName().toString();
            String pipe = fn.substring(0, fn.lastIndexOf('.'));
            String shown = TinybirdProject.shown(project.folder(), f);
            TinybirdProject.Pipe p = project.pipes().get(pipe);
            if (p == null || !p.isEndpoint()) throw new TinybirdProject.DatafileException(shown + ":1: a test file is named after its endpoint, and there is no endpoint " + pipe);
            out.addAll(read(f, shown, pipe));
        }
        return out;
    }

    /** Reads one test file (pipe: the endpoint it tests; shown: the file as error messages name it). */
    public static List<Case> read(Path f, String shown, String pipe) {
        String text;
        try {
            text = Files.readString(f);
        } catch (IOException e) {
            throw new TinybirdProject.DatafileException(shown + ":1: cannot read: " + e.getMessage());
        }
        Node root;
        try {
            LoaderOptions lo = new LoaderOptions();
            lo.setAllowDuplicateKeys(false);
            root = new Yaml(new SafeConstructor(lo), new org.yaml.snakeyaml.representer.Representer(new org.yaml.snakeyaml.DumperOptions()),
                    new org.yaml.snakeyaml.DumperOptions(), lo).compose(new java.io.StringReader(text));
        } catch (MarkedYAMLException e) {
            int line = e.getProblemMark() == null ? 1 : e.getProblemMark().getLine() + 1;
            throw new TinybirdProject.DatafileException(shown + ":" + line + ": not valid YAML: " + e.getProblem());
        } catch (YAMLException e) {
            throw new TinybirdProject.DatafileException(shown + ":1: not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        List<Case> out = new ArrayList<>();
        if (root == null) return out;
        if (!(root instanceof SequenceNode seq)) throw new TinybirdProject.DatafileException(shown + ":1: a test file is a list of tests (- name: ...)");
        java.util.Set<String> names = new java.util.HashSet<>();
        for (Node item : seq.getValue()) {
            int line = item.getStartMark().getLine() + 1;
            String where = shown + ":" + line + ": ";
            if (!(item instanceof MappingNode m)) throw new TinybirdProject.DatafileException(where + "a test is a mapping (name, parameters, expected_result)");
            Map<String, String> v = new LinkedHashMap<>();
            for (NodeTuple t : m.getValue()) {
                String key = t.getKeyNode() instanceof ScalarNode k ? k.getValue() : null;
                if (key == null || !(t.getValueNode() instanceof ScalarNode val)) {
                    throw new TinybirdProject.DatafileException(shown + ":" + (t.getKeyNode().getStartMark().getLine() + 1) + ": '" + key + "' takes a text value");
                }
                if (!List.of("name", "description", "parameters", "expected_result", "expected_http_status").contains(key)) {
                    throw new TinybirdProject.DatafileException(shown + ":" + (t.getKeyNode().getStartMark().getLine() + 1) + ": unknown key '" + key
                            + "' (known: name, description, parameters, expected_result, expected_http_status)");
                }
                v.put(key, val.getValue());
            }
            String name = v.get("name");
            if (name == null || name.isBlank()) throw new TinybirdProject.DatafileException(where + "a test without a name");
            if (!names.add(name)) throw new TinybirdProject.DatafileException(where + "the test name '" + name + "' appears twice");
            if (!v.containsKey("expected_result") && !v.containsKey("expected_http_status")) {
                throw new TinybirdProject.DatafileException(where + "test '" + name + "' has no expected_result");
            }
            Integer status = null;
            if (v.containsKey("expected_http_status")) {
                try {
                    status = Integer.parseInt(v.get("expected_http_status").strip());
                } catch (NumberFormatException e) {
                    throw new TinybirdProject.DatafileException(where + "expected_http_status '" + v.get("expected_http_status") + "' is not a number");
                }
            }
            String params = v.getOrDefault("parameters", "");
            try {
                parseParameters(params);
            } catch (IllegalArgumentException e) {
                throw new TinybirdProject.DatafileException(where + "parameters: " + e.getMessage());
            }
            out.add(new Case(shown, line, pipe, name, v.get("description"), params, v.getOrDefault("expected_result", ""), status));
        }
        return out;
    }

    /** a=1&b=x%20y (a leading '?' allowed): URL-decoded, in order, a repeated key keeps every value. */
    public static Map<String, List<String>> parseParameters(String parameters) {
        Map<String, List<String>> m = new LinkedHashMap<>();
        if (parameters == null) return m;
        String p = parameters.strip();
        if (p.startsWith("?")) p = p.substring(1);
        if (p.isEmpty()) return m;
        for (String kv : p.split("&")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            String val = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            m.computeIfAbsent(k, x -> new ArrayList<>()).add(val);
        }
        return m;
    }

    /**
     * Runs one case: renders the endpoint's SQL with the case's parameters, asks the runner for its .ndjson text
     * (the SQL ends with {@link #NDJSON}) and compares. A parameter error is status 400 and Tinybird's JSON body; a
     * ClickHouse error (the runner throws) is status 400 with its message. A case that names an
     * expected_http_status passes on that status (its expected_result compared too when the status is 200).
     */
    public static Outcome run(TinybirdProject project, Case c, SqlRunner runner) {
        int status;
        String actual;
        try {
            String sql = project.sql(c.pipe(), c.params());
            actual = runner.run(sql + NDJSON);
            status = 200;
        } catch (PipeTemplate.TemplateError e) {
            status = e.status();
            actual = e.jsonBody();
        } catch (Exception e) {
            status = 400;
            actual = String.valueOf(e.getMessage());
        }
        int want = c.expectedHttpStatus() == null ? 200 : c.expectedHttpStatus();
        if (status != want) {
            return new Outcome(c, false, status, actual, c.where() + ": test '" + c.name() + "' of " + c.pipe() + ": HTTP " + status + ", expected " + want + ": " + firstLine(actual));
        }
        if (status != 200 || actual.equals(c.expectedResult())) return new Outcome(c, true, status, actual, null);
        return new Outcome(c, false, status, actual, c.where() + ": test '" + c.name() + "' of " + c.pipe() + ": the result differs\n"
                + diff(c.expectedResult(), actual));
    }

    /** Runs every case; the outcomes in order. */
    public static List<Outcome> runAll(TinybirdProject project, List<Case> cases, SqlRunner runner) {
        return cases.stream().map(c -> run(project, c, runner)).toList();
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    /** The first differing line of two texts, both sides shown. */
    static String diff(String expected, String actual) {
        List<String> e = expected.lines().toList(), a = actual.lines().toList();
        for (int i = 0; i < Math.max(e.size(), a.size()); i++) {
            String x = i < e.size() ? e.get(i) : "(no line)", y = i < a.size() ? a.get(i) : "(no line)";
            if (!x.equals(y)) return "  line " + (i + 1) + " expected: " + x + "\n  line " + (i + 1) + " actual:   " + y
                    + "\n  (" + e.size() + " lines expected, " + a.size() + " returned)";
        }
        return "  the lines are equal; the text differs in its last newline (expected " + (expected.endsWith("\n") ? "one" : "none")
                + ", got " + (actual.endsWith("\n") ? "one" : "none") + ")";
    }
}
