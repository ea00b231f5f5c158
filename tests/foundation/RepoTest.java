import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** The shape of the repository: catalog, script conventions, every script compiling on its own, the launcher. */
class RepoTest {
    static final List<String> SCRIPT_FOLDERS =
            List.of("data-generators", "data-transfer", "stress-case", "postgres-client", "converter", "large-files", "tinybird", "demo");

    /** Every runnable script: the folders above plus the runnable files in tests/ (not *Test.java). */
    /** A script starts with the jbang line; the other .java files of a tool folder are its siblings (//SOURCES). */
    static boolean isScript(Path p) {
        if (!p.toString().endsWith(".java")) return false;
        try (java.io.BufferedReader r = Files.newBufferedReader(p)) {
            String first = r.readLine();
            return first != null && first.startsWith("///usr/bin/env jbang");
        } catch (IOException e) {
            return true; // unreadable: checked (and reported) like a script
        }
    }

    static List<Path> scripts() throws IOException {
        Path root = TestServices.repoRoot();
        List<Path> out = new ArrayList<>();
        for (String f : SCRIPT_FOLDERS) {
            Path d = root.resolve(f);
            if (!Files.isDirectory(d)) continue;
            List<Path> files;
            try (Stream<Path> s = Files.list(d)) {
                files = s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
            }
            // a sibling a script pulls in with //SOURCES Name.java (or a pattern) is part of that script, not a script of
            // its own; a file that is neither (no jbang line, pulled in by nothing) is checked, and reported, as a script
            List<java.nio.file.PathMatcher> siblings = new ArrayList<>();
            for (Path p : files) {
                for (String l : Files.readAllLines(p)) {
                    if (!l.startsWith("//SOURCES ")) continue;
                    for (String ref : l.substring(10).strip().split("\\s+")) {
                        if (!ref.contains("/")) siblings.add(d.getFileSystem().getPathMatcher("glob:" + ref));
                    }
                }
            }
            files.stream().filter(p -> isScript(p) || siblings.stream().noneMatch(m -> m.matches(p.getFileName()))).forEach(out::add);
        }
        try (Stream<Path> s = Files.list(root.resolve("tests"))) {
            s.filter(p -> p.toString().endsWith(".java")).sorted().forEach(out::add);
        }
        return out;
    }

    @Test
    void catalogAliasesPointToScriptsAndEveryScriptHasOne() throws IOException {
        Path root = TestServices.repoRoot();
        JsonNode aliases = Json.MAPPER.readTree(root.resolve("jbang-catalog.json").toFile()).path("aliases");
        assertTrue(aliases.isObject() && aliases.size() > 0, "jbang-catalog.json has aliases");
        Set<Path> referenced = new HashSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = aliases.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String ref = e.getValue().path("script-ref").asText("");
            Path p = root.resolve(ref).normalize();
            assertTrue(Files.isRegularFile(p), "alias '" + e.getKey() + "' points nowhere: " + ref);
            assertFalse(e.getValue().path("description").asText("").isBlank(), "alias '" + e.getKey() + "' has a description");
            referenced.add(p);
        }
        for (Path s : scripts()) {
            assertTrue(referenced.contains(s.normalize()), "script without an alias in jbang-catalog.json: " + root.relativize(s));
        }
        assertTrue(referenced.contains(root.resolve("tests/RunTests.java")), "the 'test' alias runs the tests");
    }

    @Test
    void everyScriptFollowsTheConventions() throws IOException {
        Path root = TestServices.repoRoot();
        List<String> problems = new ArrayList<>();
        for (Path s : scripts()) {
            String rel = root.relativize(s).toString();
            String text = Files.readString(s);
            List<String> lines = text.lines().toList();
            if (lines.isEmpty() || !lines.get(0).equals("///usr/bin/env jbang \"$0\" \"$@\" ; exit $?")) problems.add(rel + ": line 1 is not the jbang shebang");
            // Java 22 only where chDB is called through FFM (final in 22): the emulator, and the test runner that compiles it
            boolean ffm = lines.contains("//SOURCES Chdb.java") || lines.contains("//SOURCES ../tinybird/*.java");
            if (!lines.contains(ffm ? "//JAVA 22+" : "//JAVA 21+")) problems.add(rel + ": no " + (ffm ? "//JAVA 22+" : "//JAVA 21+"));
            if (lines.stream().noneMatch(l -> l.startsWith("//DESCRIPTION "))) problems.add(rel + ": no //DESCRIPTION");
            String base = s.getFileName().toString().replace(".java", "");
            if (base.contains("-") && lines.stream().noneMatch(l -> l.startsWith("//MAIN "))) problems.add(rel + ": hyphenated name without //MAIN");
            if (rel.startsWith("tests/") && base.equals("RunTests")) continue;
            Matcher cls = Pattern.compile("(?m)^(public\\s+)?(final\\s+)?class\\s+(\\w+)").matcher(text);
            if (!cls.find()) {
                problems.add(rel + ": no top-level class");
                continue;
            }
            if (cls.group(1) != null && base.contains("-")) problems.add(rel + ": the class of a hyphenated script must not be public");
            if (!text.contains("mixinStandardHelpOptions = true")) problems.add(rel + ": not a picocli command with mixinStandardHelpOptions");
            if (!text.contains("versionProvider = Cli.Version.class")) problems.add(rel + ": does not use the shared version provider");
            Matcher main = Pattern.compile("static\\s+void\\s+main\\s*\\(String\\[\\]\\s*(\\w+)\\)[^{]*\\{\\s*([^}]*)\\}").matcher(text);
            if (!main.find()) problems.add(rel + ": no main");
            else if (!main.group(2).strip().matches("System\\.exit\\(Cli\\.commandLine\\(new \\w+\\(\\)\\)\\.execute\\(" + main.group(1) + "\\)\\);")) {
                problems.add(rel + ": main must only be System.exit(Cli.commandLine(new X()).execute(args))");
            }
            if (lines.stream().anyMatch(l -> l.startsWith("//DEPS ") && !l.contains("@pom") && l.split(":").length < 3)) {
                problems.add(rel + ": unpinned //DEPS");
            }
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void eachLibraryIsDeclaredOnceWithOneVersion() throws IOException {
        Path root = TestServices.repoRoot();
        Map<String, String> seen = new java.util.HashMap<>();
        List<String> problems = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(x -> x.toString().endsWith(".java") && !x.toString().contains("node_modules")).toList()) {
                for (String line : Files.readAllLines(p)) {
                    if (!line.startsWith("//DEPS ")) continue;
                    for (String dep : line.substring(7).trim().split("\\s+")) {
                        String[] g = dep.split(":");
                        if (g.length < 3) continue; // versionless, managed by a BOM
                        String ga = g[0] + ":" + g[1];
                        String where = root.relativize(p).toString();
                        String prev = seen.putIfAbsent(ga, where + " " + g[2]);
                        if (prev != null) problems.add(ga + " declared in " + prev + " and again in " + where + " " + g[2]);
                    }
                }
            }
        }
        assertEquals(List.of(), problems, "declare each library once (in the lib/ file that uses it)");
    }

    @Test
    void everyScriptCompilesOnItsOwn() throws IOException {
        List<String> failures = new ArrayList<>();
        for (Path s : scripts()) {
            TestServices.Run r = TestServices.jbang(null, Duration.ofMinutes(5), "build", s.toString());
            if (r.exitCode() != 0) failures.add(s.getFileName() + ":\n" + r.stderr());
        }
        assertEquals(List.of(), failures);
    }


    /** Every script's command and its subcommands, each with its script (the test runner compiled them all). */
    static List<Map.Entry<Path, picocli.CommandLine>> commands() throws Exception {
        List<Map.Entry<Path, picocli.CommandLine>> out = new ArrayList<>();
        for (Path s : scripts()) {
            if (s.getFileName().toString().equals("RunTests.java")) continue;
            Matcher cls = Pattern.compile("(?m)^(public\\s+)?(final\\s+)?class\\s+(\\w+)").matcher(Files.readString(s));
            assertTrue(cls.find(), s + ": no top-level class");
            picocli.CommandLine cl = new picocli.CommandLine(Class.forName(cls.group(3)).getDeclaredConstructor().newInstance());
            out.add(Map.entry(s, cl));
            cl.getSubcommands().values().forEach(sub -> out.add(Map.entry(s, sub)));
        }
        return out;
    }

    /** Run through ./jbang from another folder, a script reads the .env.local kept beside it. */
    @Test
    void aScriptReadsTheSettingsBesideItFromAnyFolder() throws Exception {
        Path root = TestServices.repoRoot();
        Path tool = Files.createTempDirectory("tool"), elsewhere = Files.createTempDirectory("elsewhere");
        try {
            Files.writeString(tool.resolve("ShowSetting.java"), String.join("\n",
                    "///usr/bin/env jbang \"$0\" \"$@\" ; exit $?",
                    "//JAVA 21+",
                    "//SOURCES " + root.resolve("lib/Cli.java"),
                    "class ShowSetting {",
                    "    public static void main(String[] a) {",
                    "        Config c = Config.load(null);",
                    "        System.out.println(c.getOr(\"DEMO_SETTING\", \"unset\") + \" \" + c.getOr(\"OTHER\", \"unset\"));",
                    "    }",
                    "}", ""));
            Files.writeString(tool.resolve(".env.local"), "DEMO_SETTING=beside-the-script\nOTHER=beside\n");
            Files.writeString(elsewhere.resolve(".env"), "OTHER=working-folder\n");
            TestServices.Run r = TestServices.run(elsewhere, Duration.ofMinutes(5),
                    List.of(root.resolve("jbang").toString(), tool.resolve("ShowSetting.java").toString()));
            assertEquals(0, r.exitCode(), r.stderr());
            assertEquals("beside-the-script working-folder", r.stdout().strip(), r.stderr());
        } finally {
            TestServices.run(root, Duration.ofMinutes(1), List.of("rm", "-rf", tool.toString(), elsewhere.toString()));
        }
    }

    /** On a terminal (a pseudo-terminal here), a script's output starts with its progress bar, not with JVM warnings. */
    @Test
    void aScriptOnATerminalPrintsNoJvmWarning() throws Exception {
        TestServices.requireTool("script", () -> TestServices.onPath("script"));
        Path dir = Files.createTempDirectory("tty");
        try {
            Files.writeString(dir.resolve("in.csv"), "a,b\n1,2\n3,4\n");
            Path root = TestServices.repoRoot();
            String cmd = root.resolve("jbang") + " " + root.resolve("converter/csv-to-ndjson.java") + " in.csv -o out.ndjson";
            TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(5), List.of("script", "-qec", cmd, "/dev/null"));
            String all = r.stdout() + r.stderr();
            assertEquals(0, r.exitCode(), all);
            assertTrue(all.contains("converted: 2 rows"), all);
            assertFalse(all.contains("WARNING"), "no JVM warning on a terminal:\n" + all);
        } finally {
            TestServices.run(TestServices.repoRoot(), Duration.ofMinutes(1), List.of("rm", "-rf", dir.toString()));
        }
    }

    /** A mistyped option or a bad value is one line naming it and pointing at --help, never the whole usage. */
    @Test
    void everyScriptsBadOptionIsOneLineThatPointsAtHelp() throws Exception {
        Path root = TestServices.repoRoot();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Path, picocli.CommandLine> e : commands()) {
            if (e.getValue().getParent() != null) continue;
            java.io.StringWriter out = new java.io.StringWriter(), err = new java.io.StringWriter();
            picocli.CommandLine cl = Cli.commandLine(e.getValue().getCommand())
                    .setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(err));
            int rc = cl.execute("--quite");
            String rel = root.relativize(e.getKey()).toString();
            String text = err.toString();
            if (rc != 2) problems.add(rel + ": exit " + rc + ", not 2");
            if (text.strip().lines().count() != 1 || text.contains("Usage:") || !text.contains("see --help")) {
                problems.add(rel + ": not one line pointing at --help:\n" + text);
            }
            if (!text.contains("'--quite'") && !text.contains("Missing required")) problems.add(rel + ": does not say what is wrong: " + text);
        }
        assertEquals(List.of(), problems);
    }

    /**
     * picocli runs each help text through String.format: a bare '%' (as in "errors<1%") prints "[picocli WARN] Could
     * not format ..." above the help and leaves the line unformatted. Every script's texts must format cleanly.
     */
    @Test
    void everyScriptsHelpFormatsWithoutPicocliWarnings() throws Exception {
        Path root = TestServices.repoRoot();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Path, picocli.CommandLine> cmd : commands()) {
            picocli.CommandLine.Model.CommandSpec spec = cmd.getValue().getCommandSpec();
            List<String> texts = new ArrayList<>();
            texts.addAll(List.of(spec.usageMessage().description()));
            texts.addAll(List.of(spec.usageMessage().header()));
            texts.addAll(List.of(spec.usageMessage().footer()));
            for (picocli.CommandLine.Model.OptionSpec o : spec.options()) texts.addAll(List.of(o.description()));
            for (picocli.CommandLine.Model.PositionalParamSpec p : spec.positionalParameters()) texts.addAll(List.of(p.description()));
            for (String t : texts) {
                if (!t.contains("%")) continue;
                try {
                    String.format(t);
                } catch (java.util.IllegalFormatException e) {
                    problems.add(root.relativize(cmd.getKey()) + " (" + spec.qualifiedName() + "): " + t + "  <- " + e.getMessage());
                }
            }
        }
        assertEquals(List.of(), problems, "write a literal % as %% in picocli texts");
    }

    /**
     * The scripts' descriptions and examples are written as lines; picocli wraps each at the usage width (80 unless
     * the command says otherwise), which cut them mid-sentence ("... and reports" / "queries/s and ...") and split
     * example commands over two lines. Every such line must come out of --help whole.
     */
    @Test
    void everyScriptsHelpKeepsItsDescriptionAndExampleLinesWhole() throws Exception {
        Path root = TestServices.repoRoot();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Path, picocli.CommandLine> cmd : commands()) {
            picocli.CommandLine c = cmd.getValue();
            List<String> shown = c.getUsageMessage(picocli.CommandLine.Help.Ansi.OFF).lines().map(String::strip).toList();
            List<String> texts = new ArrayList<>(List.of(c.getCommandSpec().usageMessage().description()));
            texts.addAll(List.of(c.getCommandSpec().usageMessage().footer()));
            for (String t : texts) {
                String line = t.replace("%%", "%").strip();
                if (line.isEmpty() || line.contains("${") || line.contains("%n")) continue;
                if (!shown.contains(line)) problems.add(root.relativize(cmd.getKey()) + " (" + c.getCommandSpec().qualifiedName() + "): " + line);
            }
        }
        assertEquals(List.of(), problems, "these lines were wrapped in --help: set usageHelpWidth = 130 or shorten them");
    }

    @Test
    void launcherPrintsJbangVersion() {
        TestServices.Run r = TestServices.jbang(null, Duration.ofMinutes(3), "--version");
        assertEquals(0, r.exitCode(), r.stderr());
        // JBang prints its version on stderr
        assertTrue((r.stdout() + r.stderr()).strip().matches("(?s)\\d+\\.\\d+\\.\\d+.*"), r.stdout() + r.stderr());
    }

    /**
     * The launcher's fast path: a script's second launch reuses the command line JBang resolved the first time; the
     * arguments still arrive verbatim, and an edit of a file the script pulls in with //SOURCES is picked up.
     */
    @Test
    void launcherReusesTheResolvedCommandUntilASourceChanges() throws Exception {
        Path dir = Files.createTempDirectory("launcher-cache");
        Files.createDirectories(dir.resolve("app"));
        Files.createDirectories(dir.resolve("shared"));
        Files.writeString(dir.resolve("app/hello.java"), """
                ///usr/bin/env jbang "$0" "$@" ; exit $?
                //JAVA 21+
                //SOURCES ../shared/Greet.java
                class hello {
                    public static void main(String[] args) {
                        System.out.println(Greet.text() + "|" + String.join("|", args));
                    }
                }
                """);
        Path greet = dir.resolve("shared/Greet.java");
        Files.writeString(greet, "class Greet { static String text() { return \"v1\"; } }\n");
        List<String> cmd = List.of(TestServices.repoRoot().resolve("jbang").toString(), "app/hello.java", "a b", "$HOME", "it's", "", "*");
        String expected = "|a b|$HOME|it's||*";
        for (int i = 0; i < 2; i++) { // the first launch resolves through JBang, the second reuses its command line
            TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(3), cmd);
            assertEquals(0, r.exitCode(), r.stderr());
            assertEquals("v1" + expected, r.stdout().strip());
        }
        if (!TestServices.onPath("jbang")) { // an installed jbang is used as it is, without this cache
            assertTrue(launcherCached("hello") > 0, "a cached command line for hello.java under " + launcherHome());
        }
        Files.writeString(greet, "class Greet { static String text() { return \"v2\"; } }\n");
        TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(3), cmd);
        assertEquals(0, r.exitCode(), r.stderr());
        assertEquals("v2" + expected, r.stdout().strip(), "the edit of a //SOURCES file was picked up");
    }

    /**
     * A //SOURCES glob (stress-case's `*Target.java`) is expanded for the fast path's key: the script's command line is
     * cached (the launcher skipped its cache for every glob, ~1 s a launch), and a file added to the folder that the
     * glob matches is compiled in at the next launch.
     */
    @Test
    void launcherCachesAScriptWithASourcesGlobAndSeesAFileAddedToIt() throws Exception {
        Path dir = Files.createTempDirectory("launcher-glob");
        Files.createDirectories(dir.resolve("app/parts"));
        Files.writeString(dir.resolve("app/globby.java"), """
                ///usr/bin/env jbang "$0" "$@" ; exit $?
                //JAVA 21+
                //SOURCES parts/*Part.java
                class globby {
                    public static void main(String[] args) {
                        String extra;
                        try {
                            extra = Class.forName("ExtraPart").getSimpleName();
                        } catch (ClassNotFoundException e) {
                            extra = "none";
                        }
                        System.out.println(FirstPart.text() + "|" + extra);
                    }
                }
                """);
        Files.writeString(dir.resolve("app/parts/FirstPart.java"), "class FirstPart { static String text() { return \"first\"; } }\n");
        List<String> cmd = List.of(TestServices.repoRoot().resolve("jbang").toString(), "app/globby.java");
        long before = TestServices.onPath("jbang") ? 0 : launcherCached("globby");
        for (int i = 0; i < 2; i++) {
            TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(3), cmd);
            assertEquals(0, r.exitCode(), r.stderr());
            assertEquals("first|none", r.stdout().strip());
        }
        if (!TestServices.onPath("jbang")) {
            assertTrue(launcherCached("globby") > before, "a cached command line for globby.java (//SOURCES parts/*Part.java) under " + launcherHome());
        }
        Files.writeString(dir.resolve("app/parts/ExtraPart.java"), "class ExtraPart {}\n");
        TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(3), cmd);
        assertEquals(0, r.exitCode(), r.stderr());
        assertEquals("first|ExtraPart", r.stdout().strip(), "a file added where the glob looks was compiled in");
    }

    static Path launcherHome() {
        return Path.of(System.getenv().getOrDefault("JBANG_LAUNCHER_HOME", System.getProperty("user.home") + "/.jbang/launcher"));
    }

    /** How many command lines of the launcher's cache run this main class (one a set of sources: a new folder adds one). */
    static long launcherCached(String mainClass) throws IOException {
        if (!Files.isDirectory(launcherHome())) return 0;
        try (Stream<Path> versions = Files.list(launcherHome())) {
            return versions.map(v -> v.resolve("commands")).filter(Files::isDirectory).mapToLong(c -> {
                try (Stream<Path> e = Files.list(c)) {
                    return e.filter(f -> {
                        try {
                            return Files.readString(f).endsWith(" " + mainClass);
                        } catch (IOException x) {
                            return false;
                        }
                    }).count();
                } catch (IOException x) {
                    return 0;
                }
            }).sum();
        }
    }

    /**
     * An alias runs from the top of the checkout and from a folder below it, also where a folder has the alias's name
     * (JBang took ./stress-case, the folder, for the script and failed: the README's on-stage demo did not run).
     */
    @Test
    void launcherRunsAnAliasFromAnyFolderEvenWhereAFolderHasItsName() throws IOException {
        Path root = TestServices.repoRoot();
        assertTrue(Files.isDirectory(root.resolve("stress-case")), "the folder that shadowed the alias");
        Path outside = Files.createTempDirectory("outside"); // no jbang-catalog.json above it: the launcher's own is used
        for (var c : List.of(Map.entry(root, List.of("./jbang", "stress-case", "--version")),
                Map.entry(root.resolve("stress-case"), List.of("../jbang", "seed-data", "--version")),
                Map.entry(root.resolve("postgres-client"), List.of("../jbang", "stress-case", "--version")),
                Map.entry(outside, List.of(root.resolve("jbang").toString(), "csv-splitter", "--version")))) {
            TestServices.Run r = TestServices.run(c.getKey(), Duration.ofMinutes(3), c.getValue());
            assertEquals(0, r.exitCode(), c + ": " + r.stderr());
            assertTrue(r.stdout().startsWith("py-utilities (Java) "), c + ": " + r.stdout() + r.stderr());
        }
    }

    /** docs/launcher.md, "Exporting a script": ./jbang export portable gives a jar (plus lib/) that runs with java -jar. */
    @Test
    void anExportedScriptRunsWithJavaDashJar() throws Exception {
        Path dir = Files.createTempDirectory("export");
        Path root = TestServices.repoRoot();
        TestServices.Run r = TestServices.jbang(dir, Duration.ofMinutes(5), "export", "portable", root.resolve("large-files/csv-splitter.java").toString());
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertTrue(Files.isRegularFile(dir.resolve("csv-splitter.jar")) && Files.isDirectory(dir.resolve("lib")), r.stderr());
        // class files for Java 21 (major version 65), whatever newer JDK compiled them: the jar runs where //JAVA 21+ says
        try (java.util.zip.ZipFile jar = new java.util.zip.ZipFile(dir.resolve("csv-splitter.jar").toFile())) {
            List<String> newer = new ArrayList<>();
            for (var e : java.util.Collections.list(jar.entries())) {
                if (!e.getName().endsWith(".class")) continue;
                try (var in = new java.io.DataInputStream(jar.getInputStream(e))) {
                    in.readInt();
                    in.readUnsignedShort();
                    int major = in.readUnsignedShort();
                    if (major > 65) newer.add(e.getName() + " (" + major + ")");
                }
            }
            assertEquals(List.of(), newer, "class files newer than Java 21");
        }
        Files.writeString(dir.resolve("in.csv"), "id,name\n1,a\n2,\"b,c\"\n3,d\n");
        String java = ProcessHandle.current().info().command().orElse("java"); // the JDK running the tests (21+)
        TestServices.Run run = TestServices.run(dir, Duration.ofMinutes(2),
                List.of(java, "-jar", "csv-splitter.jar", "-q", "in.csv", "--rows", "2", "-o", "parts"));
        assertEquals(0, run.exitCode(), run.stdout() + run.stderr());
        try (Stream<Path> parts = Files.list(dir.resolve("parts"))) {
            List<String> csv = parts.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".csv")).sorted().toList();
            assertEquals(2, csv.size(), "two parts of at most 2 rows: " + csv);
            assertEquals("id,name\n1,a\n2,\"b,c\"\n", Files.readString(dir.resolve("parts").resolve(csv.get(0))));
            assertEquals("id,name\n3,d\n", Files.readString(dir.resolve("parts").resolve(csv.get(1))));
        }
    }

    @Test
    void launcherBootstrapsFromMavenAndTwoFirstLaunchesCanRace() throws Exception {
        TestServices.requireTool("mvn", () -> TestServices.onPath("mvn"));
        Path home = Files.createTempDirectory("jbang-launcher");
        Path root = TestServices.repoRoot();
        List<String> cmd = List.of("env", "JBANG_LAUNCHER_FORCE_BOOTSTRAP=1", "JBANG_LAUNCHER_HOME=" + home,
                root.resolve("jbang").toString(), "--version");
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            var a = pool.submit(() -> TestServices.run(root, Duration.ofMinutes(5), cmd));
            var b = pool.submit(() -> TestServices.run(root, Duration.ofMinutes(5), cmd));
            for (TestServices.Run r : List.of(a.get(), b.get())) {
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals("0.132.1", (r.stdout() + r.stderr()).lines().map(String::strip)
                        .filter(l -> !l.isEmpty() && !l.startsWith("jbang launcher:")).findFirst().orElse(""));
            }
            assertTrue(Files.isRegularFile(home.resolve("0.132.1/lib/.complete")));
            String said = a.get().stderr() + b.get().stderr();
            assertTrue(said.contains("fetching JBang 0.132.1") && said.contains("jars copied"), "the first run says what it fetches and shows it move: " + said);
            try (Stream<Path> s = Files.list(home)) {
                assertEquals(List.of("0.132.1"), s.map(p -> p.getFileName().toString()).toList(), "no temp folder left behind");
            }
            // gson is overridden: 2.10.1 would empty every catalog
            try (Stream<Path> s = Files.list(home.resolve("0.132.1/lib"))) {
                List<String> gson = s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("gson-")).toList();
                assertEquals(List.of("gson-2.13.2.jar"), gson);
            }
            // and the bootstrapped JBang reads our catalog
            TestServices.Run aliases = TestServices.run(root, Duration.ofMinutes(2), List.of("env", "JBANG_LAUNCHER_FORCE_BOOTSTRAP=1",
                    "JBANG_LAUNCHER_HOME=" + home, root.resolve("jbang").toString(), "alias", "list"));
            assertTrue(aliases.stdout().contains("test"), aliases.stdout() + aliases.stderr());
        } finally {
            pool.shutdownNow();
            TestServices.run(root, Duration.ofMinutes(1), List.of("rm", "-rf", home.toString()));
        }
    }

    @Test
    void launcherSaysWhatToInstallWhenNothingIsThere() throws Exception {
        Path bin = Files.createTempDirectory("bin");
        for (String tool : List.of("sh", "sed", "dirname", "head", "mktemp", "cat", "mkdir", "env")) {
            Path real = Path.of("/usr/bin", tool);
            if (!Files.exists(real)) real = Path.of("/bin", tool);
            Files.createSymbolicLink(bin.resolve(tool), real);
        }
        Path home = Files.createTempDirectory("jbang-launcher");
        Path root = TestServices.repoRoot();
        TestServices.Run r = TestServices.run(root, Duration.ofMinutes(1), List.of("/usr/bin/env", "-i", "PATH=" + bin,
                "HOME=" + home, "JBANG_LAUNCHER_HOME=" + home, bin.resolve("sh").toString(), root.resolve("jbang").toString(), "--version"));
        assertNotEquals(0, r.exitCode());
        assertEquals(1, r.stderr().strip().lines().count(), r.stderr());
        assertTrue(r.stderr().contains("neither 'jbang' nor 'mvn' is installed") || r.stderr().contains("no Java found"), r.stderr());
    }

    @Test
    void aScriptCopiedWithLibRunsElsewhere() throws Exception {
        Path root = TestServices.repoRoot();
        Path script = root.resolve("data-generators/e-store.java");
        assertTrue(Files.isRegularFile(script), "the main job exists");
        Path demo = Files.createTempDirectory("demo");
        try {
            copyTree(root.resolve("lib"), demo.resolve("lib"));
            copyTree(script.getParent(), demo.resolve("data-generators"));
            TestServices.Run r = TestServices.jbang(demo, Duration.ofMinutes(5), "data-generators/e-store.java", "--help");
            assertEquals(0, r.exitCode(), r.stderr());
            assertTrue(r.stdout().contains("Usage:"), r.stdout());
            // run from the copy's root, e-store finds the settings.yaml kept beside it (here one with a mistake, to see it read)
            Path beside = demo.resolve("data-generators/settings.yaml");
            Files.writeString(beside, "num_customers: 5\nnum_custmers: 6\n");
            TestServices.Run s = TestServices.jbang(demo, Duration.ofMinutes(5), "data-generators/e-store.java", "--count", "1");
            assertNotEquals(0, s.exitCode(), s.stdout() + s.stderr());
            assertTrue(s.stderr().contains("settings.yaml:2") && s.stderr().contains("num_custmers"), s.stderr());
        } finally {
            TestServices.run(root, Duration.ofMinutes(1), List.of("rm", "-rf", demo.toString()));
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
    }
}
