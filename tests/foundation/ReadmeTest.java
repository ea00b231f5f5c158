import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/**
 * The documentation cannot rot: the top README's table of tools matches jbang-catalog.json and the files on disk, and
 * every `./jbang ...` example of the READMEs, docs/ and the scripts' help footers parses against its script's command.
 */
class ReadmeTest {
    /** A row of the README's table of tools: | [folder/](...) | `script.java` (`alias`) | what | `example` |. */
    record ToolRow(String folder, String script, String alias, String example) {}

    static final Pattern ROW = Pattern.compile(
            "^\\|\\s*\\[([\\w.-]+/)\\]\\([^)]*\\)\\s*\\|\\s*`([\\w.-]+\\.java)`\\s*\\(`([\\w-]+)`\\)\\s*\\|[^|]*\\|\\s*`([^`]*)`\\s*\\|\\s*$");

    static List<ToolRow> toolTable() throws IOException {
        List<String> lines = Files.readAllLines(TestServices.repoRoot().resolve("README.md"));
        int start = lines.indexOf("## The tools");
        assertTrue(start >= 0, "README.md has no '## The tools' section");
        List<ToolRow> rows = new ArrayList<>();
        for (int i = start + 1; i < lines.size() && !lines.get(i).startsWith("## "); i++) {
            String l = lines.get(i);
            if (!l.startsWith("| [")) continue;
            Matcher m = ROW.matcher(l);
            assertTrue(m.matches(), "README.md line " + (i + 1) + " is not | [folder/](link) | `script.java` (`alias`) | what | `example` |: " + l);
            rows.add(new ToolRow(m.group(1), m.group(2), m.group(3), m.group(4)));
        }
        return rows;
    }

    static Map<String, String> catalog() throws IOException {
        JsonNode aliases = new ObjectMapper().readTree(TestServices.repoRoot().resolve("jbang-catalog.json").toFile()).get("aliases");
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = aliases.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), e.getValue().get("script-ref").asText());
        }
        return out;
    }

    @Test
    void theReadmesTableListsEveryAliasWithItsScriptOnDisk() throws IOException {
        Path root = TestServices.repoRoot();
        Map<String, String> catalog = catalog();
        List<ToolRow> rows = toolTable();
        List<String> problems = new ArrayList<>();
        TreeSet<String> listed = new TreeSet<>();
        for (ToolRow r : rows) {
            if (!listed.add(r.alias())) problems.add("alias listed twice: " + r.alias());
            String path = r.folder() + r.script();
            if (!Files.isRegularFile(root.resolve(path))) problems.add(r.alias() + ": " + path + " does not exist");
            String ref = catalog.get(r.alias());
            if (ref == null) problems.add(r.alias() + ": not an alias of jbang-catalog.json");
            else if (!ref.equals(path)) problems.add(r.alias() + ": the README says " + path + ", jbang-catalog.json " + ref);
            if (!(r.example() + " ").startsWith("./jbang " + r.alias() + " ")) problems.add(r.alias() + ": its example does not run it: " + r.example());
        }
        for (Map.Entry<String, String> e : catalog.entrySet()) {
            if (!listed.contains(e.getKey())) problems.add("alias " + e.getKey() + " (" + e.getValue() + ") is missing from README.md's table");
            if (!Files.isRegularFile(root.resolve(e.getValue()))) problems.add("jbang-catalog.json: " + e.getKey() + " -> " + e.getValue() + " does not exist");
        }
        assertEquals(List.of(), problems);
    }

    /** Every folder that holds a script has a README. */
    @Test
    void everyToolFolderHasAReadme() throws IOException {
        Path root = TestServices.repoRoot();
        List<String> missing = new ArrayList<>();
        for (String ref : catalog().values()) {
            Path folder = root.resolve(ref).getParent();
            if (folder.equals(root.resolve("tests"))) continue; // the tests are described in the top README
            if (!Files.isRegularFile(folder.resolve("README.md"))) missing.add(root.relativize(folder) + "/README.md");
        }
        assertEquals(List.of(), missing.stream().distinct().toList());
    }

    /** The variable names the scripts read: upper-case literals on lines that read settings (cfg, Config, getenv). */
    static TreeSet<String> variablesRead() throws IOException {
        Path root = TestServices.repoRoot();
        Pattern literal = Pattern.compile("\"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PG[A-Z]+)\"");
        Pattern reading = Pattern.compile("cfg|getenv|config\\(|Config\\.|env\\.get");
        TreeSet<String> out = new TreeSet<>();
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root, 2)) {
            s.filter(p -> p.toString().endsWith(".java")).filter(p -> {
                String top = root.relativize(p).getName(0).toString();
                return !top.equals("tests") && !top.equals("bench") && !top.startsWith(".");
            }).forEach(files::add);
        }
        for (Path p : files) {
            for (String l : Files.readAllLines(p)) {
                if (!reading.matcher(l).find()) continue;
                Matcher m = literal.matcher(l);
                while (m.find()) out.add(m.group(1));
            }
        }
        return out;
    }

    /** Each tool folder's .env.example: variable name -> whether a comment line precedes it (in its block). */
    static Map<Path, List<String>> envExamples() throws IOException {
        Path root = TestServices.repoRoot();
        Map<Path, List<String>> out = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(root)) {
            for (Path d : s.filter(Files::isDirectory).sorted().toList()) {
                Path f = d.resolve(".env.example");
                if (Files.isRegularFile(f)) out.put(f, Files.readAllLines(f));
            }
        }
        return out;
    }

    @Test
    void everyVariableAScriptReadsIsInAnEnvExampleOrTheConfigurationPage() throws IOException {
        Path root = TestServices.repoRoot();
        TreeSet<String> read = variablesRead();
        assertTrue(read.contains("TINYBIRD_TOKEN") && read.contains("PGHOST"), "the scan found too little: " + read);
        StringBuilder documented = new StringBuilder(Files.readString(root.resolve("docs/configuration.md")));
        envExamples().values().forEach(lines -> lines.forEach(l -> documented.append('\n').append(l)));
        List<String> missing = read.stream().filter(v -> !Pattern.compile("\\b" + v + "\\b").matcher(documented).find()).toList();
        assertEquals(List.of(), missing, "variables the scripts read that neither docs/configuration.md nor a .env.example names");
    }

    /** An example file holds no value (nothing secret can slip in), and every variable in it is explained by a comment. */
    @Test
    void everyEnvExampleVariableIsCommentedAndEmpty() throws IOException {
        Path root = TestServices.repoRoot();
        TreeSet<String> read = variablesRead();
        Map<Path, List<String>> examples = envExamples();
        assertTrue(examples.size() >= 4, "expected a .env.example in each folder that needs settings: " + examples.keySet());
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Path, List<String>> e : examples.entrySet()) {
            String where = root.relativize(e.getKey()).toString();
            boolean commented = false;
            for (String l : e.getValue()) {
                if (l.isBlank()) { commented = false; continue; }
                if (l.startsWith("#")) { commented = true; continue; }
                Matcher m = Pattern.compile("([A-Z][A-Z0-9_]*)=(.*)").matcher(l);
                if (!m.matches()) { problems.add(where + ": not KEY=: " + l); continue; }
                if (!m.group(2).isEmpty()) problems.add(where + ": " + m.group(1) + " has a value");
                if (!commented) problems.add(where + ": " + m.group(1) + " has no comment above it");
                if (!read.contains(m.group(1))) problems.add(where + ": " + m.group(1) + " is read by no script");
            }
        }
        assertEquals(List.of(), problems);
    }


    /** An example: where it was found, and the command line as a shell would split it. */
    record Example(String where, List<String> words) {}

    @Test
    void everyExampleParsesAgainstItsScriptsCommand() throws Exception {
        Path root = TestServices.repoRoot();
        List<Example> examples = new ArrayList<>();
        for (Path md : markdownFiles()) {
            List<String> lines = Files.readAllLines(md);
            String name = root.relativize(md).toString();
            boolean fenced = false;
            for (int i = 0; i < lines.size(); i++) {
                int lineNo = i + 1;
                String l = lines.get(i);
                if (l.startsWith("```")) {
                    fenced = !fenced;
                    continue;
                }
                if (fenced) {
                    while (l.endsWith("\\") && i + 1 < lines.size()) l = l.substring(0, l.length() - 1) + " " + lines.get(++i).strip();
                    commandsOf(l).forEach(w -> examples.add(new Example(name + ":" + lineNo, w)));
                } else {
                    Matcher m = Pattern.compile("`([^`]*\\./jbang [^`]*)`").matcher(l);
                    while (m.find()) commandsOf(m.group(1)).forEach(w -> examples.add(new Example(name + ":" + lineNo, w)));
                }
            }
        }
        for (Map.Entry<Path, picocli.CommandLine> e : RepoTest.commands()) {
            if (e.getValue().getParent() != null) continue;
            for (String l : footerExamples(e.getValue())) {
                commandsOf(l).forEach(w -> examples.add(new Example(root.relativize(e.getKey()) + " (help footer)", w)));
            }
        }
        assertTrue(examples.size() > 40, "too few examples found (" + examples.size() + "): is the extraction broken?");
        Map<String, String> catalog = catalog();
        List<String> problems = new ArrayList<>();
        int parsed = 0;
        for (Example ex : examples) {
            List<String> w = ex.words();
            if (w.size() < 2) continue;
            String target = w.get(1);
            String ref = catalog.getOrDefault(target, target.endsWith(".java") ? target : null);
            if (ref == null) continue; // a JBang command of its own (alias list, export ...)
            if (ref.endsWith("RunTests.java")) continue; // the test runner: its arguments are class-name patterns
            Path script = root.resolve(ref);
            if (!Files.isRegularFile(script)) {
                problems.add(ex.where() + ": no such script " + ref + ": " + String.join(" ", w));
                continue;
            }
            String[] args = w.subList(2, w.size()).toArray(String[]::new);
            try {
                picocli.CommandLine cl = new picocli.CommandLine(commandObject(script));
                cl.parseArgs(args);
                parsed++;
            } catch (picocli.CommandLine.ParameterException pe) {
                problems.add(ex.where() + ": " + String.join(" ", w) + "  <- " + pe.getMessage());
            }
        }
        assertEquals(List.of(), problems);
        assertTrue(parsed > 40, "only " + parsed + " examples parsed");
    }

    /** The example lines of a help footer: after "Examples:" up to a blank line, continuation lines joined, %% as %. */
    static List<String> footerExamples(picocli.CommandLine cl) {
        List<String> out = new ArrayList<>();
        boolean in = false;
        String pending = "";
        for (String raw : cl.getCommandSpec().usageMessage().footer()) {
            String l = raw.replace("%%", "%").strip();
            if (l.equals("Examples:")) {
                in = true;
                continue;
            }
            if (!in) continue;
            if (l.isEmpty()) break;
            if (l.startsWith("#")) { // a comment cut from the example above it: the reader sees half a sentence on each line
                out.add(l);
                continue;
            }
            if (l.endsWith("\\")) {
                pending += l.substring(0, l.length() - 1) + " ";
                continue;
            }
            out.add(pending + l);
            pending = "";
        }
        return out;
    }

    /**
     * Every example of a script's --help can be pasted into a shell as it is: it runs ./jbang (a bare
     * "tb-to-postgres.java ..." is no command on a PATH), and the only prose on its line is a '#' comment.
     */
    @Test
    void everyHelpExampleIsPasteable() throws Exception {
        Path root = TestServices.repoRoot();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Path, picocli.CommandLine> e : RepoTest.commands()) {
            if (e.getValue().getParent() != null) continue;
            for (String l : footerExamples(e.getValue())) {
                String code = l.replaceAll("'[^']*'|\"[^\"]*\"", "''");
                int hash = code.indexOf(" #");
                if (hash >= 0) code = code.substring(0, hash);
                String where = root.relativize(e.getKey()) + ": ";
                if (l.startsWith("#")) {
                    problems.add(where + "a comment on a line of its own, cut from the example above: " + l);
                    continue;
                }
                if (code.matches(".*(^|[\\s|])[\\w./-]+\\.java\\b.*") && commandsOf(l).isEmpty()) problems.add(where + "not run through ./jbang: " + l);
                else if (code.contains("(") || code.contains("...")) problems.add(where + "prose or '...' outside a # comment: " + l);
            }
        }
        assertEquals(List.of(), problems);
    }

    static List<Path> markdownFiles() throws IOException {
        Path root = TestServices.repoRoot();
        List<Path> out = new ArrayList<>();
        out.add(root.resolve("README.md"));
        try (Stream<Path> s = Files.list(root)) {
            for (Path d : s.filter(Files::isDirectory).sorted().toList()) {
                if (Files.isRegularFile(d.resolve("README.md")) && !d.getFileName().toString().equals("bench")) out.add(d.resolve("README.md"));
            }
        }
        Path docs = root.resolve("docs");
        if (Files.isDirectory(docs)) {
            try (Stream<Path> s = Files.list(docs)) {
                s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(out::add);
            }
        }
        return out;
    }

    static Object commandObject(Path script) throws Exception {
        Matcher cls = Pattern.compile("(?m)^(public\\s+)?(final\\s+)?class\\s+(\\w+)").matcher(Files.readString(script));
        assertTrue(cls.find(), script + ": no top-level class");
        return Class.forName(cls.group(3)).getDeclaredConstructor().newInstance();
    }

    /**
     * The ./jbang commands of a shell line, each split as sh would split it: quotes and backslashes, a comment, pipes,
     * redirections, '&', '&&' and ';' between commands; leading VAR=value assignments are dropped.
     */
    static List<List<String>> commandsOf(String line) {
        List<List<String>> commands = new ArrayList<>();
        List<String> words = new ArrayList<>();
        StringBuilder w = null;
        boolean skipNext = false; // the file name after a redirection
        int n = line.length();
        for (int i = 0; i <= n; i++) {
            char c = i < n ? line.charAt(i) : '\n';
            if (c == '\'' || c == '"') {
                int end = line.indexOf(c, i + 1);
                if (end < 0) end = n;
                if (w == null) w = new StringBuilder();
                w.append(line, i + 1, end);
                i = end;
                continue;
            }
            if (c == '\\' && i + 1 < n) {
                if (w == null) w = new StringBuilder();
                w.append(line.charAt(++i));
                continue;
            }
            if (c == '#' && w == null) break;
            boolean space = c == ' ' || c == '\t' || c == '\n';
            boolean op = c == '|' || c == '&' || c == ';' || c == '>' || c == '<';
            if (space || op) {
                if (w != null) {
                    if (skipNext) skipNext = false;
                    else words.add(w.toString());
                    w = null;
                }
                if (c == '>' || c == '<') {
                    skipNext = true;
                    if (i + 1 < n && line.charAt(i + 1) == '&') i++; // 2>&1
                } else if (op) {
                    commands.add(words);
                    words = new ArrayList<>();
                }
                continue;
            }
            if (w == null) w = new StringBuilder();
            w.append(c);
        }
        commands.add(words);
        List<List<String>> out = new ArrayList<>();
        for (List<String> cmd : commands) {
            int k = 0;
            while (k < cmd.size() && cmd.get(k).matches("[A-Za-z_][A-Za-z0-9_]*=.*")) k++;
            if (k < cmd.size() && (cmd.get(k).equals("./jbang") || cmd.get(k).endsWith("/jbang"))) out.add(cmd.subList(k, cmd.size()));
        }
        return out;
    }
}
