/*
 * A Tinybird project folder read into plain records: data sources (.datasource: SCHEMA with types and jsonpaths,
 * ENGINE and its keys, TOKEN), pipes (.pipe: NODEs with SQL templates, TYPE endpoint|materialized|copy, DATASOURCE),
 * fixtures (fixtures/<data source>.ndjson|.csv) and the SQL ClickHouse runs for them: CREATE TABLE for a data
 * source, CREATE MATERIALIZED VIEW for a materialization, and one SELECT for an API Endpoint and its request's
 * parameters (earlier nodes and referenced endpoints as WITH clauses).
 * Why: the project's datafiles are what a presenter deploys with the Tinybird CLI; the local emulator serves and
 * tests the same files, so a query changed here is the query that runs everywhere.
 * Invariant: a bad datafile is refused at load with one line naming the file, the line and what is wrong.
 */
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public record TinybirdProject(Path folder, Map<String, Datasource> datasources, Map<String, Pipe> pipes, Map<String, Path> fixtures) {

    /** A datafile that can't be read: the message is one line, "file:line: what is wrong". */
    public static final class DatafileException extends RuntimeException {
        public DatafileException(String message) {
            super(message);
        }
    }

    /** A column: name, ClickHouse type, jsonpath (null when none), DEFAULT expression and CODEC (null when none). */
    public record Column(String name, String type, String jsonPath, String defaultExpr, String codec) {}

    /** A token a datafile grants: its name and scope (READ for pipes, READ or APPEND for data sources). */
    public record Token(String name, String scope) {}

    /**
     * A data source: ENGINE (MergeTree when not given), its keys (null when not given) and any other ENGINE_* setting
     * (ENGINE_VER, ENGINE_SIGN, ENGINE_SETTINGS, ...: key without the ENGINE_ prefix, lower-case).
     */
    public record Datasource(String name, Path file, String description, List<Column> columns, String engine, String sortingKey,
                             String partitionKey, String ttl, String primaryKey, Map<String, String> engineOptions, List<Token> tokens) {
        public Column column(String name) {
            return columns.stream().filter(c -> c.name().equals(name)).findFirst().orElse(null);
        }

        /** The schema as the Data Sources API takes it: `name` Type `json:$.path`, comma separated (DEFAULT and CODEC left out). */
        public String schema() {
            StringBuilder b = new StringBuilder();
            for (Column c : columns) {
                if (b.length() > 0) b.append(", ");
                b.append(PipeTemplate.ident(c.name())).append(' ').append(c.type());
                if (c.jsonPath() != null) b.append(" `json:").append(c.jsonPath()).append('`');
            }
            return b.toString();
        }

        /** Whether every column is filled from JSON (the Events API can feed it). */
        public boolean hasJsonPaths() {
            return columns.stream().allMatch(c -> c.jsonPath() != null || c.defaultExpr() != null);
        }
    }

    /** A node: its SQL (a template when it starts with '%'), the file line of its SQL, TYPE and DATASOURCE (null when none). */
    public record Node(String name, String description, PipeTemplate sql, int sqlLine, String type, String datasource,
                       Map<String, String> options) {}

    /** A pipe: its nodes in file order; type is the TYPE of its typed node (endpoint, materialized, copy), or null. */
    public record Pipe(String name, Path file, String description, List<Token> tokens, List<Node> nodes) {
        /** The node with a TYPE, or null. */
        public Node typedNode() {
            return nodes.stream().filter(n -> n.type() != null).findFirst().orElse(null);
        }

        public String type() {
            Node n = typedNode();
            return n == null ? null : n.type();
        }

        public boolean isEndpoint() {
            return "endpoint".equals(type());
        }

        public boolean isMaterialized() {
            return "materialized".equals(type());
        }

        /** The node whose result the pipe gives: the typed node, else the last. */
        public Node resultNode() {
            Node n = typedNode();
            return n != null ? n : nodes.get(nodes.size() - 1);
        }

        /** The materialization's target data source, or null. */
        public String targetDatasource() {
            Node n = typedNode();
            return n == null ? null : n.datasource();
        }

        /** Every parameter the nodes declare (the first declaration of a name gives its type and description). */
        public List<PipeTemplate.Param> params() {
            Map<String, PipeTemplate.Param> m = new LinkedHashMap<>();
            for (Node n : nodes) for (PipeTemplate.Param p : n.sql().params()) m.putIfAbsent(p.name(), p);
            return List.copyOf(m.values());
        }
    }

    /** The folders a project keeps its datafiles in (Tinybird Forward's layout; pipes/ and copies/ too). */
    static final List<String> FOLDERS = List.of("datasources", "endpoints", "materializations", "pipes", "copies", "sinks");

    /** Reads every .datasource and .pipe under the project folder, and its fixtures/; a bad file is a DatafileException. */
    public static TinybirdProject load(Path folder) {
        if (!Files.isDirectory(folder)) throw new DatafileException(folder + ": not a folder");
        Map<String, Datasource> ds = new TreeMap<>();
        Map<String, Pipe> pipes = new TreeMap<>();
        Map<String, Path> where = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        for (String sub : FOLDERS) {
            Path d = folder.resolve(sub);
            if (!Files.isDirectory(d)) continue;
            try (Stream<Path> s = Files.walk(d)) {
                s.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".datasource") || p.toString().endsWith(".pipe")).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        for (Path f : files) {
            String file = shown(folder, f);
            String fn = f.getFileName().toString();
            String name = fn.substring(0, fn.lastIndexOf('.'));
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) throw new DatafileException(file + ":1: the name '" + name + "' must be letters, digits and _ (it names a table)");
            if (where.containsKey(name)) throw new DatafileException(file + ":1: '" + name + "' is also defined by " + shown(folder, where.get(name)));
            where.put(name, f);
            List<Directive> dirs = lex(read(f), file);
            if (fn.endsWith(".datasource")) ds.put(name, datasource(name, f, file, dirs));
            else pipes.put(name, pipe(name, f, file, dirs));
        }
        Map<String, Path> fixtures = new TreeMap<>();
        Path fx = folder.resolve("fixtures");
        if (Files.isDirectory(fx)) {
            try (Stream<Path> s = Files.list(fx)) {
                for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
                    String fn = p.getFileName().toString();
                    if (!(fn.endsWith(".ndjson") || fn.endsWith(".csv"))) continue;
                    String name = fn.substring(0, fn.lastIndexOf('.'));
                    if (!ds.containsKey(name)) throw new DatafileException(shown(folder, p) + ":1: a fixture names a data source, and there is no " + name + ".datasource");
                    fixtures.put(name, p);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        TinybirdProject project = new TinybirdProject(folder, ds, pipes, fixtures);
        project.check();
        return project;
    }

    /** Cross-file checks: materialization targets exist; endpoint references have no cycle. */
    private void check() {
        for (Pipe p : pipes.values()) {
            Node t = p.typedNode();
            if (t != null && t.datasource() != null && !datasources.containsKey(t.datasource())) {
                throw new DatafileException(shown(folder, p.file()) + ":" + t.sqlLine() + ": DATASOURCE " + t.datasource() + ": no such data source in the project");
            }
        }
        for (Pipe p : pipes.values()) referencedPipes(p, p, new ArrayDeque<>(List.of(p.name())));
    }

    private void referencedPipes(Pipe root, Pipe p, Deque<String> stack) {
        for (String ref : references(p, p.nodes().stream().map(n -> n.sql().source()).toList())) {
            if (stack.contains(ref)) throw new DatafileException(shown(folder, root.file()) + ":1: the pipes reference each other in a cycle: " + String.join(" -> ", stack) + " -> " + ref);
            stack.addLast(ref);
            referencedPipes(root, pipes.get(ref), stack);
            stack.removeLast();
        }
    }

    /** A pipe's parameters with those of the endpoints it reads (they receive the same request's parameters). */
    public List<PipeTemplate.Param> params(String pipe) {
        Map<String, PipeTemplate.Param> m = new LinkedHashMap<>();
        collectParams(pipes.get(pipe), m, new LinkedHashSet<>());
        return List.copyOf(m.values());
    }

    private void collectParams(Pipe p, Map<String, PipeTemplate.Param> m, Set<String> seen) {
        if (p == null || !seen.add(p.name())) return;
        for (PipeTemplate.Param prm : p.params()) m.putIfAbsent(prm.name(), prm);
        for (String ref : references(p, p.nodes().stream().map(n -> n.sql().source()).toList())) collectParams(pipes.get(ref), m, seen);
    }

    public List<Pipe> endpoints() {
        return pipes.values().stream().filter(Pipe::isEndpoint).toList();
    }

    public List<Pipe> materializations() {
        return pipes.values().stream().filter(Pipe::isMaterialized).toList();
    }

    /** The materializations that read from a data source (they feed their target on every append to it). */
    public List<Pipe> materializationsFrom(String datasource) {
        return materializations().stream().filter(p -> references(List.of(p.resultNode().sql().source()), Set.of(datasource)).contains(datasource)).toList();
    }

    // ------------------------------------------------------------------ SQL for ClickHouse

    /**
     * The single SELECT of a pipe for a request's parameters: its result node, with the nodes before it and the
     * endpoints its SQL names (rendered with the same parameters, as Tinybird passes them down) as WITH clauses. No
     * FORMAT clause: append one. Throws {@link PipeTemplate.TemplateError} (400 and Tinybird's JSON body) for bad
     * parameters, IllegalArgumentException for an unknown pipe.
     */
    public String sql(String pipe, Map<String, List<String>> params) {
        Pipe p = pipes.get(pipe);
        if (p == null) throw new IllegalArgumentException("no pipe " + pipe);
        Map<String, String> ctes = new LinkedHashMap<>();
        String last = body(p, params, ctes, new ArrayDeque<>());
        return withClauses(ctes, last);
    }

    /** Renders p's nodes into ctes (referenced endpoints first, then p's earlier nodes); returns the result node's SQL. */
    private String body(Pipe p, Map<String, List<String>> params, Map<String, String> ctes, Deque<String> stack) {
        Node result = p.resultNode();
        List<String> rendered = new ArrayList<>();
        List<Node> used = new ArrayList<>();
        for (Node n : p.nodes()) {
            rendered.add(n.sql().render(params));
            used.add(n);
            if (n == result) break;
        }
        stack.addLast(p.name());
        for (String ref : references(p, rendered)) {
            if (ctes.containsKey(ref) || stack.contains(ref)) continue;
            Map<String, String> inner = new LinkedHashMap<>();
            String innerLast = body(pipes.get(ref), params, inner, stack);
            ctes.put(ref, withClauses(inner, innerLast));
        }
        stack.removeLast();
        for (int i = 0; i < used.size() - 1; i++) ctes.put(used.get(i).name(), rendered.get(i));
        return rendered.get(rendered.size() - 1);
    }

    private static final Pattern LEADING_WITH = Pattern.compile("(?is)^\\s*WITH\\s");

    /** WITH `a` AS (...), `b` AS (...) last; a last query that has its own WITH gets the clauses in front of its own. */
    static String withClauses(Map<String, String> ctes, String last) {
        if (ctes.isEmpty()) return last;
        StringBuilder b = new StringBuilder("WITH\n");
        int i = 0;
        for (Map.Entry<String, String> e : ctes.entrySet()) {
            if (i++ > 0) b.append(",\n");
            b.append(PipeTemplate.ident(e.getKey())).append(" AS (\n").append(e.getValue().strip()).append("\n)");
        }
        Matcher m = LEADING_WITH.matcher(last);
        if (m.find()) return b.append(",\n").append(last.substring(m.end())).toString();
        return b.append('\n').append(last).toString();
    }

    /** The other endpoints a pipe's SQL names (outside literals and comments; a node of the same name wins). */
    private Set<String> references(Pipe p, List<String> texts) {
        Set<String> nodeNames = new LinkedHashSet<>();
        p.nodes().forEach(n -> nodeNames.add(n.name()));
        Set<String> candidates = new LinkedHashSet<>();
        for (Pipe q : pipes.values()) if (q != p && q.isEndpoint() && !nodeNames.contains(q.name())) candidates.add(q.name());
        return references(texts, candidates);
    }

    private static Set<String> references(List<String> texts, Set<String> candidates) {
        Set<String> out = new LinkedHashSet<>();
        for (String t : texts) {
            for (String w : words(t)) if (candidates.contains(w)) out.add(w);
        }
        return out;
    }

    /** The identifiers of SQL text, leaving out string literals and comments. */
    static List<String> words(String s) {
        List<String> out = new ArrayList<>();
        int i = 0, n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '\'') {
                i++;
                while (i < n && s.charAt(i) != '\'') i += s.charAt(i) == '\\' ? 2 : 1;
                i++;
            } else if (c == '-' && i + 1 < n && s.charAt(i + 1) == '-') {
                while (i < n && s.charAt(i) != '\n') i++;
            } else if (c == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
                int e = s.indexOf("*/", i + 2);
                i = e < 0 ? n : e + 2;
            } else if (c == '`' || c == '"') {
                int e = s.indexOf(c, i + 1);
                if (e < 0) e = n;
                out.add(s.substring(i + 1, e));
                i = e + 1;
            } else if (Character.isLetter(c) || c == '_') {
                int st = i;
                while (i < n && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) i++;
                out.add(s.substring(st, i));
            } else {
                i++;
            }
        }
        return out;
    }

    /** CREATE TABLE for a data source (table named as the data source). */
    public String createTableSql(String datasource) {
        Datasource d = datasources.get(datasource);
        if (d == null) throw new IllegalArgumentException("no data source " + datasource);
        StringBuilder b = new StringBuilder("CREATE TABLE IF NOT EXISTS ").append(PipeTemplate.ident(d.name())).append(" (\n");
        for (int i = 0; i < d.columns().size(); i++) {
            Column c = d.columns().get(i);
            b.append("    ").append(PipeTemplate.ident(c.name())).append(' ').append(c.type());
            if (c.defaultExpr() != null) b.append(" DEFAULT ").append(c.defaultExpr());
            if (c.codec() != null) b.append(" CODEC(").append(c.codec()).append(')');
            b.append(i + 1 < d.columns().size() ? ",\n" : "\n");
        }
        b.append(") ENGINE = ").append(engineClause(d));
        if (!d.engine().equals("Null")) {
            if (d.partitionKey() != null) b.append("\nPARTITION BY ").append(d.partitionKey());
            b.append("\nORDER BY (").append(d.sortingKey() == null ? "" : d.sortingKey()).append(')');
            if (d.primaryKey() != null) b.append("\nPRIMARY KEY (").append(d.primaryKey()).append(')');
            if (d.ttl() != null) b.append("\nTTL ").append(d.ttl());
            if (d.engineOptions().containsKey("settings")) b.append("\nSETTINGS ").append(d.engineOptions().get("settings"));
        }
        return b.toString();
    }

    private static String engineClause(Datasource d) {
        Map<String, String> o = d.engineOptions();
        List<String> args = new ArrayList<>();
        switch (d.engine()) {
            case "ReplacingMergeTree" -> {
                if (o.containsKey("ver")) args.add(o.get("ver"));
                if (o.containsKey("is_deleted")) args.add(o.get("is_deleted"));
            }
            case "CollapsingMergeTree" -> args.add(o.get("sign"));
            case "VersionedCollapsingMergeTree" -> {
                args.add(o.get("sign"));
                args.add(o.get("version"));
            }
            case "SummingMergeTree" -> {
                if (o.containsKey("summing_columns")) args.add("(" + o.get("summing_columns") + ")");
            }
            default -> { }
        }
        return d.engine() + "(" + String.join(", ", args) + ")";
    }

    /**
     * CREATE MATERIALIZED VIEW for a materialization (view named as the pipe, TO its target data source): ClickHouse
     * then feeds the target on every insert into the data source the SQL reads, as Tinybird does on every append.
     */
    public String materializedViewSql(String pipe) {
        Pipe p = pipes.get(pipe);
        if (p == null || !p.isMaterialized()) throw new IllegalArgumentException("no materialization " + pipe);
        return "CREATE MATERIALIZED VIEW IF NOT EXISTS " + PipeTemplate.ident(p.name()) + " TO " + PipeTemplate.ident(p.targetDatasource())
                + " AS\n" + sql(pipe, Map.of());
    }

    /**
     * Every statement that makes the project's tables in an empty ClickHouse: data sources first (targets before
     * the views that feed them), then the materialized views.
     */
    public List<String> ddl() {
        List<String> out = new ArrayList<>();
        for (String d : datasources.keySet()) out.add(createTableSql(d));
        for (Pipe p : materializations()) out.add(materializedViewSql(p.name()));
        return out;
    }

    // ------------------------------------------------------------------ reading datafiles

    /** One directive: KEY, its text (the rest of the line, or the indented block after 'KEY >'), its line. */
    record Directive(String key, String value, int line, int valueLine, boolean block) {}

    static String shown(Path folder, Path f) {
        Path base = folder.toAbsolutePath().normalize();
        Path abs = f.toAbsolutePath().normalize();
        Path name = base.getFileName();
        return abs.startsWith(base) ? (name == null ? abs.toString() : name.resolve(base.relativize(abs)).toString()) : f.toString();
    }

    private static List<String> read(Path f) {
        try {
            return List.of(Files.readString(f).replace("\r\n", "\n").split("\n", -1));
        } catch (IOException e) {
            throw new DatafileException(f + ":1: cannot read: " + e.getMessage());
        }
    }

    static List<Directive> lex(List<String> lines, String file) {
        List<Directive> out = new ArrayList<>();
        int i = 0;
        while (i < lines.size()) {
            String l = lines.get(i);
            if (l.isBlank() || l.startsWith("#")) {
                i++;
                continue;
            }
            int lineNo = i + 1;
            if (Character.isWhitespace(l.charAt(0))) throw new DatafileException(file + ":" + lineNo + ": an indented line outside a block (a 'KEY >' line starts one): " + l.strip());
            String[] kv = l.strip().split("\\s+", 2);
            String key = kv[0];
            if (!key.matches("[A-Z][A-Z0-9_]*")) throw new DatafileException(file + ":" + lineNo + ": expected a KEY in capitals, got '" + key + "'");
            String rest = kv.length > 1 ? kv[1].strip() : "";
            if (rest.equals(">")) {
                int j = i + 1;
                List<String> block = new ArrayList<>();
                while (j < lines.size() && (lines.get(j).isBlank() || Character.isWhitespace(lines.get(j).charAt(0)))) block.add(lines.get(j++));
                while (!block.isEmpty() && block.get(block.size() - 1).isBlank()) block.remove(block.size() - 1);
                int first = 0;
                while (first < block.size() && block.get(first).isBlank()) first++;
                List<String> kept = block.subList(first, block.size());
                if (kept.isEmpty()) throw new DatafileException(file + ":" + lineNo + ": " + key + " > is followed by no indented lines");
                int indent = kept.stream().filter(s -> !s.isBlank()).mapToInt(TinybirdProject::indentOf).min().orElse(0);
                StringBuilder b = new StringBuilder();
                for (String s : kept) b.append(s.isBlank() ? "" : s.substring(Math.min(indent, s.length()))).append('\n');
                out.add(new Directive(key, b.toString(), lineNo, i + 2 + first, true));
                i = j;
            } else {
                out.add(new Directive(key, unquote(rest), lineNo, lineNo, false));
                i++;
            }
        }
        return out;
    }

    private static int indentOf(String s) {
        int k = 0;
        while (k < s.length() && Character.isWhitespace(s.charAt(k))) k++;
        return k;
    }

    static String unquote(String s) {
        s = s.strip();
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) return s.substring(1, s.length() - 1);
        return s;
    }

    static final Set<String> ENGINES = Set.of("MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
            "CollapsingMergeTree", "VersionedCollapsingMergeTree", "Null");

    private static Datasource datasource(String name, Path f, String file, List<Directive> dirs) {
        String description = null, engine = null, sorting = null, partition = null, ttl = null, primary = null;
        List<Column> columns = null;
        Map<String, String> options = new LinkedHashMap<>();
        List<Token> tokens = new ArrayList<>();
        for (Directive d : dirs) {
            String where = file + ":" + d.line() + ": ";
            switch (d.key()) {
                case "DESCRIPTION" -> description = d.value().strip();
                case "SCHEMA" -> {
                    if (!d.block()) throw new DatafileException(where + "SCHEMA takes an indented block: SCHEMA > then one column a line");
                    columns = schema(d.value(), file, d.valueLine());
                }
                case "ENGINE" -> {
                    engine = d.value().replaceAll("\\(\\s*\\)$", "").strip();
                    if (!ENGINES.contains(engine)) throw new DatafileException(where + "ENGINE " + engine + " is not one of " + new java.util.TreeSet<>(ENGINES));
                }
                case "ENGINE_SORTING_KEY" -> sorting = nonEmpty(d, where);
                case "ENGINE_PARTITION_KEY" -> partition = nonEmpty(d, where);
                case "ENGINE_TTL" -> ttl = nonEmpty(d, where);
                case "ENGINE_PRIMARY_KEY" -> primary = nonEmpty(d, where);
                case "ENGINE_VER", "ENGINE_SIGN", "ENGINE_VERSION", "ENGINE_IS_DELETED", "ENGINE_SETTINGS", "ENGINE_SUMMING_COLUMNS" ->
                        options.put(d.key().substring("ENGINE_".length()).toLowerCase(Locale.ROOT), nonEmpty(d, where));
                case "TOKEN" -> tokens.add(token(d, where, Set.of("READ", "APPEND"), "READ"));
                case "TAGS", "VERSION", "INDEXES", "FORWARD_QUERY", "SHARED_WITH" -> { }
                default -> throw new DatafileException(where + "unknown key " + d.key() + " in a .datasource (known: DESCRIPTION, SCHEMA, ENGINE, "
                        + "ENGINE_SORTING_KEY, ENGINE_PARTITION_KEY, ENGINE_TTL, ENGINE_PRIMARY_KEY, ENGINE_VER, ENGINE_SIGN, ENGINE_SETTINGS, TOKEN, TAGS, INDEXES)");
            }
        }
        if (columns == null) throw new DatafileException(file + ":1: no SCHEMA (SCHEMA > then one `column` Type `json:$.path` a line)");
        if (engine == null) engine = "MergeTree";
        if ((engine.equals("CollapsingMergeTree") || engine.equals("VersionedCollapsingMergeTree")) && !options.containsKey("sign")) {
            throw new DatafileException(file + ":1: ENGINE " + engine + " needs ENGINE_SIGN");
        }
        if (engine.equals("VersionedCollapsingMergeTree") && !options.containsKey("version")) throw new DatafileException(file + ":1: ENGINE " + engine + " needs ENGINE_VERSION");
        return new Datasource(name, f, description, List.copyOf(columns), engine, sorting, partition, ttl, primary, Map.copyOf(options), List.copyOf(tokens));
    }

    private static String nonEmpty(Directive d, String where) {
        String v = d.value().strip();
        if (v.isEmpty()) throw new DatafileException(where + d.key() + " has no value");
        return v;
    }

    private static final Pattern TOKEN = Pattern.compile("(\"[^\"]+\"|'[^']+'|\\S+)(?:\\s+(\\S+))?");

    private static Token token(Directive d, String where, Set<String> scopes, String def) {
        Matcher m = TOKEN.matcher(d.value().strip());
        if (d.block() || !m.matches()) throw new DatafileException(where + "TOKEN takes a name and a scope, e.g. TOKEN \"reports_read\" READ");
        String scope = m.group(2) == null ? def : m.group(2).toUpperCase(Locale.ROOT);
        if (!scopes.contains(scope)) throw new DatafileException(where + "TOKEN scope " + m.group(2) + " is not one of " + scopes);
        return new Token(unquote(m.group(1)), scope);
    }

    /** The columns of a SCHEMA block: `name` Type [DEFAULT expr] [CODEC(...)] [`json:$.path`], comma separated. */
    static List<Column> schema(String block, String file, int firstLine) {
        List<Column> out = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        int line = firstLine;
        int start = 0, depth = 0;
        char q = 0;
        int startLine = line;
        for (int i = 0; i <= block.length(); i++) {
            char c = i < block.length() ? block.charAt(i) : ',';
            if (i < block.length() && c == '\n') line++;
            if (q != 0) {
                if (c == '\\') i++;
                else if (c == q) q = 0;
                continue;
            }
            if (c == '`' || c == '\'' || c == '"') q = c;
            else if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == ',' && depth == 0) {
                String col = block.substring(start, Math.min(i, block.length())).strip();
                int colLine = startLine + leadingNewlines(block.substring(start, Math.min(i, block.length())));
                if (!col.isEmpty()) {
                    Column parsed = column(col, file + ":" + colLine + ": ");
                    if (!names.add(parsed.name())) throw new DatafileException(file + ":" + colLine + ": column " + parsed.name() + " appears twice");
                    out.add(parsed);
                } else if (i < block.length()) {
                    throw new DatafileException(file + ":" + colLine + ": an empty column (two commas in a row?)");
                }
                start = i + 1;
                startLine = line;
            }
        }
        if (q != 0 || depth != 0) throw new DatafileException(file + ":" + firstLine + ": SCHEMA has an unclosed " + (q != 0 ? "quote " + q : "parenthesis"));
        if (out.isEmpty()) throw new DatafileException(file + ":" + firstLine + ": SCHEMA has no columns");
        return out;
    }

    private static int leadingNewlines(String s) {
        int n = 0;
        for (int i = 0; i < s.length() && Character.isWhitespace(s.charAt(i)); i++) if (s.charAt(i) == '\n') n++;
        return n;
    }

    /** The jsonpath, written after the type, before or after DEFAULT / CODEC (Tinybird takes both). */
    private static final Pattern JSONPATH = Pattern.compile("`json:([^`]*)`");

    private static Column column(String text, String where) {
        String s = text;
        String jsonPath = null;
        Matcher jm = JSONPATH.matcher(s);
        if (jm.find()) {
            jsonPath = jm.group(1).strip();
            if (!jsonPath.startsWith("$")) throw new DatafileException(where + "the jsonpath of '" + text + "' must start with $");
            s = (s.substring(0, jm.start()) + " " + s.substring(jm.end())).strip();
            if (jm.find()) throw new DatafileException(where + "two jsonpaths in '" + text + "'");
        }
        String name;
        int i;
        if (s.startsWith("`")) {
            int e = s.indexOf('`', 1);
            if (e < 0) throw new DatafileException(where + "unclosed ` in '" + text + "'");
            name = s.substring(1, e);
            i = e + 1;
        } else {
            Matcher m = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*").matcher(s);
            if (!m.lookingAt()) throw new DatafileException(where + "expected a column name in '" + text + "'");
            name = m.group();
            i = m.end();
        }
        String rest = s.substring(i).strip();
        if (rest.isEmpty()) throw new DatafileException(where + "column " + name + " has no type");
        int t = typeEnd(rest);
        if (t < 0) throw new DatafileException(where + "cannot read the type of column " + name + " in '" + text + "'");
        String type = rest.substring(0, t).strip();
        String after = rest.substring(t).strip();
        String def = null, codec = null;
        Matcher cm = Pattern.compile("(?i)\\s*CODEC\\s*\\((.*)\\)\\s*$").matcher(after);
        if (cm.find()) {
            codec = cm.group(1).strip();
            after = after.substring(0, cm.start()).strip();
        }
        if (!after.isEmpty()) {
            Matcher dm = Pattern.compile("(?is)^(DEFAULT|MATERIALIZED)\\s+(.+)$").matcher(after);
            if (!dm.matches()) throw new DatafileException(where + "unexpected '" + after + "' after the type of column " + name + " (expected DEFAULT, CODEC or `json:$.path`)");
            if (dm.group(1).equalsIgnoreCase("MATERIALIZED")) throw new DatafileException(where + "MATERIALIZED columns are not supported; use DEFAULT");
            def = dm.group(2).strip();
        }
        return new Column(name, type, jsonPath, def, codec);
    }

    /** Where a ClickHouse type ends: an identifier and a balanced (...) after it. */
    private static int typeEnd(String s) {
        Matcher m = Pattern.compile("[A-Za-z][A-Za-z0-9_]*").matcher(s);
        if (!m.lookingAt()) return -1;
        int i = m.end();
        int j = i;
        while (j < s.length() && s.charAt(j) == ' ') j++;
        if (j < s.length() && s.charAt(j) == '(') {
            int depth = 0;
            char q = 0;
            for (int k = j; k < s.length(); k++) {
                char c = s.charAt(k);
                if (q != 0) {
                    if (c == q) q = 0;
                } else if (c == '\'') {
                    q = c;
                } else if (c == '(') {
                    depth++;
                } else if (c == ')' && --depth == 0) {
                    return k + 1;
                }
            }
            return -1;
        }
        return i;
    }

    private static Pipe pipe(String name, Path f, String file, List<Directive> dirs) {
        String description = null;
        List<Token> tokens = new ArrayList<>();
        List<Node> nodes = new ArrayList<>();
        String nName = null, nDesc = null, nType = null, nDs = null;
        PipeTemplate nSql = null;
        int nSqlLine = 0, nLine = 0;
        Map<String, String> nOpts = new LinkedHashMap<>();
        Set<String> names = new LinkedHashSet<>();
        for (int k = 0; k <= dirs.size(); k++) {
            Directive d = k < dirs.size() ? dirs.get(k) : null;
            if (d == null || d.key().equals("NODE")) {
                if (nName != null) {
                    if (nSql == null) throw new DatafileException(file + ":" + nLine + ": NODE " + nName + " has no SQL >");
                    nodes.add(new Node(nName, nDesc, nSql, nSqlLine, nType, nDs, Map.copyOf(nOpts)));
                }
                if (d == null) break;
                nName = d.value().strip();
                nLine = d.line();
                if (!nName.matches("[A-Za-z_][A-Za-z0-9_]*")) throw new DatafileException(file + ":" + d.line() + ": NODE name '" + nName + "' must be letters, digits and _");
                if (nName.equals(name)) throw new DatafileException(file + ":" + d.line() + ": NODE " + nName + " has the pipe's name; give it another");
                if (!names.add(nName)) throw new DatafileException(file + ":" + d.line() + ": NODE " + nName + " appears twice");
                nDesc = nType = nDs = null;
                nSql = null;
                nOpts.clear();
                continue;
            }
            String where = file + ":" + d.line() + ": ";
            switch (d.key()) {
                case "DESCRIPTION" -> {
                    if (nName == null) description = d.value().strip();
                    else nDesc = d.value().strip();
                }
                case "TOKEN" -> tokens.add(token(d, where, Set.of("READ"), "READ"));
                case "SQL" -> {
                    if (nName == null) throw new DatafileException(where + "SQL before any NODE");
                    if (nSql != null) throw new DatafileException(where + "NODE " + nName + " has a second SQL");
                    if (!d.block()) throw new DatafileException(where + "SQL takes an indented block: SQL > then the query, indented");
                    nSql = PipeTemplate.parse(d.value(), file, d.valueLine());
                    nSqlLine = d.valueLine();
                }
                case "TYPE" -> {
                    if (nName == null) throw new DatafileException(where + "TYPE before any NODE");
                    String t = d.value().strip().toLowerCase(Locale.ROOT);
                    if (!Set.of("endpoint", "materialized", "copy", "sink").contains(t)) throw new DatafileException(where + "TYPE " + d.value() + " is not endpoint, materialized, copy or sink");
                    for (Node n : nodes) if (n.type() != null) throw new DatafileException(where + "a second TYPE: NODE " + n.name() + " is already " + n.type());
                    if (nType != null) throw new DatafileException(where + "NODE " + nName + " has a second TYPE");
                    nType = t;
                }
                case "DATASOURCE", "TARGET_DATASOURCE" -> {
                    if (nName == null) throw new DatafileException(where + d.key() + " before any NODE");
                    nDs = d.value().strip();
                }
                case "TAGS", "VERSION" -> { }
                default -> {
                    if (nName != null && (d.key().startsWith("ENGINE") || d.key().startsWith("COPY_") || d.key().startsWith("EXPORT_"))) {
                        nOpts.put(d.key(), d.value().strip());
                    } else {
                        throw new DatafileException(where + "unknown key " + d.key() + " in a .pipe (known: DESCRIPTION, TOKEN, NODE, SQL, TYPE, DATASOURCE, TAGS)");
                    }
                }
            }
        }
        if (nodes.isEmpty()) throw new DatafileException(file + ":1: no NODE (a pipe is NODE name, then SQL > and the query)");
        for (Node n : nodes) {
            if ("materialized".equals(n.type()) && n.datasource() == null) throw new DatafileException(file + ":" + n.sqlLine() + ": TYPE MATERIALIZED needs DATASOURCE <target>");
            if (n.datasource() != null && !("materialized".equals(n.type()) || "copy".equals(n.type()))) {
                throw new DatafileException(file + ":" + n.sqlLine() + ": NODE " + n.name() + " has a DATASOURCE but no TYPE MATERIALIZED or COPY");
            }
        }
        return new Pipe(name, f, description, List.copyOf(tokens), List.copyOf(nodes));
    }
}
