import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.concurrent.Callable;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

class CliTest {
    @Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class)
    static class Demo implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @CommandLine.Option(names = "--what") String what = "ok";

        public Integer call() {
            return Cli.run(spec, common, () -> switch (what) {
                case "failure" -> throw new Cli.Failure("input.csv:3: field 'price': not a number");
                case "nofile" -> throw new NoSuchFileException("missing.csv");
                case "secret" -> throw new Cli.Failure("cannot reach postgresql://u:topsecret1@h/db");
                case "bug" -> throw new NullPointerException("boom");
                case "usage" -> throw Cli.usage("--rows must be positive");
                default -> 0;
            });
        }
    }

    record Result(int rc, String out, String err) {}

    static Result exec(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(new Demo()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    @Test
    void userMistakesAreOneLineWithoutStackTrace() {
        Result r = exec("--what", "failure");
        assertEquals(1, r.rc);
        assertEquals("demo: input.csv:3: field 'price': not a number\n", r.err);
        r = exec("--what", "nofile");
        assertEquals(1, r.rc);
        assertEquals("demo: no such file or folder: missing.csv\n", r.err);
    }

    @Test
    void verboseAddsTheStackTrace() {
        Result r = exec("--what", "failure", "--verbose");
        assertTrue(r.err.contains("\tat "), r.err);
    }

    @Test
    void secretsNeverReachStderr() {
        Result r = exec("--what", "secret");
        assertFalse(r.err.contains("topsecret1"), r.err);
        assertTrue(r.err.contains("u:***@h"), r.err);
    }

    @Test
    void exitCodes() {
        assertEquals(0, exec().rc);
        assertEquals(2, exec("--what", "usage").rc);
        assertEquals(2, exec("--no-such-option").rc);
        Result bug = exec("--what", "bug");
        assertEquals(1, bug.rc);
        assertTrue(bug.err.contains("NullPointerException"), "a bug shows its stack trace: " + bug.err);
    }

    @Test
    void aBadOptionIsOneLineWithASuggestionAndAPointerToHelp() {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Cli.commandLine(new Demo()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute("--wht");
        assertEquals(2, rc);
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("demo: Unknown option: '--wht'") && err.toString().contains("--what")
                && err.toString().contains("see --help"), err.toString());
        assertFalse(err.toString().contains("Usage:"), err.toString());
        assertEquals("", out.toString());
    }

    @Test
    void versionAndHelp() {
        assertTrue(exec("--version").out.contains(Cli.VERSION));
        Result h = exec("--help");
        assertTrue(h.out.contains("--quiet") && h.out.contains("--env-file") && h.out.contains("--verbose"), h.out);
    }

    @Test
    void sizesAndDurations() {
        assertEquals(100_000_000L, CliTypes.parseSize("100MB"));
        assertEquals(10L * 1024 * 1024, CliTypes.parseSize("10 MiB"));
        assertEquals(1536, CliTypes.parseSize("1.5KiB"));
        assertEquals(512, CliTypes.parseSize("512"));
        assertEquals(2_000_000_000L, CliTypes.parseSize("2gb"));
        assertThrows(CommandLine.TypeConversionException.class, () -> CliTypes.parseSize("ten"));
        assertEquals(Duration.ofSeconds(10), CliTypes.parseDuration("10s"));
        assertEquals(Duration.ofMinutes(90), CliTypes.parseDuration("1h30m"));
        assertEquals(Duration.ofMillis(250), CliTypes.parseDuration("250ms"));
        assertEquals(Duration.ofSeconds(60), CliTypes.parseDuration("60"));
        assertThrows(CommandLine.TypeConversionException.class, () -> CliTypes.parseDuration("10 parsecs"));
    }

    @Command(name = "typed")
    static class Typed implements Callable<Integer> {
        enum Via { events, datasources }

        @CommandLine.Option(names = "--rows", converter = CliTypes.PositiveInt.class) int rows = 1;
        @CommandLine.Option(names = "--every", converter = CliTypes.PositiveDuration.class) Duration every = Duration.ofSeconds(1);
        @CommandLine.Option(names = "--max-size", converter = CliTypes.PositiveSize.class) long maxSize = 1;
        @CommandLine.Option(names = "--rate", converter = CliTypes.Rate.class) double rate = 1;
        @CommandLine.Option(names = "--param", paramLabel = "NAME=VALUE", converter = CliTypes.NameValue.class) java.util.List<String> params = new java.util.ArrayList<>();
        @CommandLine.Option(names = "--via") Via via = Via.events;
        @CommandLine.ArgGroup(exclusive = true) Query query;

        static class Query {
            @CommandLine.Option(names = "--sql", paramLabel = "SQL") String sql;
            @CommandLine.Option(names = "--file", paramLabel = "FILE") String file;
        }

        public Integer call() {
            return 0;
        }
    }

    static Result typed(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Cli.commandLine(new Typed()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    @Test
    void aConvertersRefusalIsOneLineNamingTheOptionAndTheValue() {
        Result r = typed("--rows", "0");
        assertEquals(2, r.rc);
        assertEquals("typed: Invalid value for option '--rows': expected a whole number of at least 1, got '0'; see --help\n", r.err);
        assertEquals("typed: Invalid value for option '--every': expected a duration of more than 0, got '0s'; see --help\n",
                typed("--every", "0s").err);
        assertEquals("typed: Invalid value for option '--every': not a duration: '10 parsecs' (examples: 500ms, 10s, 10m, 1h30m); see --help\n",
                typed("--every", "10 parsecs").err);
        assertEquals("typed: Invalid value for option '--max-size': not a size: 'lots' (examples: 100MB, 10MiB, 512KB, 1GB); see --help\n",
                typed("--max-size", "lots").err);
        assertEquals("typed: Invalid value for option '--rate': not a rate: 'fast' (examples: 100, 10000/s); see --help\n",
                typed("--rate", "fast").err);
        assertEquals("typed: Invalid value for option '--param' (NAME=VALUE): expected NAME=VALUE, got '=x'; see --help\n", typed("--param", "=x").err);
        for (String[] bad : new String[][] {{"--rows", "x"}, {"--rows", "99999999999"}, {"--rate", "0"}, {"--rate", "20000000/s"}, {"--max-size", "0"}}) {
            Result b = typed(bad);
            assertEquals(2, b.rc, String.join(" ", bad));
            assertEquals(1, b.err.lines().count(), b.err);
            assertTrue(b.err.contains("'" + bad[0] + "'") && b.err.contains("'" + bad[1] + "'"), b.err);
        }
    }

    @Test
    void anEnumRefusesOtherValuesAndListsTheChoices() {
        Result r = typed("--via", "email");
        assertEquals(2, r.rc);
        assertEquals("typed: Invalid value for option '--via': expected one of [events, datasources] (case-insensitive) but was 'email'; see --help\n", r.err);
        assertEquals(0, typed("--via", "DataSources").rc, "a choice is taken in any case");
    }

    @Test
    void exclusiveOptionsAreOneLineNamingBoth() {
        Result r = typed("--sql", "SELECT 1", "--file", "q.sql");
        assertEquals(2, r.rc);
        assertEquals("typed: --sql=SQL, --file=FILE are mutually exclusive (specify only one); see --help\n", r.err);
        assertEquals(0, typed("--file", "q.sql").rc);
    }

    @Test
    void convertersKeepTheSpellingsTheScriptsTake() {
        assertEquals(10_000.0, new CliTypes.Rate().convert("10_000/s"));
        assertEquals(1000.0, new CliTypes.Rate().convert("1,000"));
        assertEquals(2.5, new CliTypes.Rate().convert("2.5"));
        assertEquals(Duration.ofMillis(500), new CliTypes.PositiveDuration().convert("500ms"));
        assertEquals(Duration.ofMinutes(1), new CliTypes.PositiveDuration().convert("1m"));
        assertEquals(Duration.ofSeconds(10), new CliTypes.NonNegativeDuration().convert("PT10S"));
        assertEquals(Duration.ZERO, new CliTypes.NonNegativeDuration().convert("0s"));
        assertEquals(100_000_000L, new CliTypes.PositiveSize().convert("100MB"));
        assertEquals(12, new CliTypes.PositiveInt().convert("+12"));
        assertEquals(0L, new CliTypes.NonNegativeLong().convert("0"));
        assertEquals(7.5, new CliTypes.Percent().convert("7.5"));
        assertEquals("a=b=c", new CliTypes.NameValue().convert("a=b=c"));
    }

    @Test
    void summaryLine() {
        assertEquals("converted: 1,000,000 rows, 100.0 MB in 2.00 s (500,000 rows/s, 50.0 MB/s)",
                Cli.summary("converted", 1_000_000, "rows", 100_000_000, Duration.ofSeconds(2)));
        assertEquals("sent: 10 events in 1.00 s (10 events/s)", Cli.summary("sent", 10, "events", -1, Duration.ofSeconds(1)));
    }

    @Test
    void jsonStringEscapesWhatJsonNeedsAndKeepsUtf8() throws Exception {
        String v = "a\"b\\c\nd\re\tf\u0001g Zürich 😀";
        String lit = Cli.jsonString(v);
        assertEquals("\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g Zürich 😀\"", lit);
        assertEquals(v, Json.MAPPER.readValue(lit, String.class), "Jackson reads back the same string");
        assertEquals("null", Cli.jsonString(null));
    }
}
