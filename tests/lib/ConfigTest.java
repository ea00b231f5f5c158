import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir Path dir;

    @Test
    void precedenceEnvThenEnvFileThenEnvLocalThenEnv() throws Exception {
        Files.writeString(dir.resolve(".env"), "A=from-env\nB=from-env\nC=from-env\nD=from-env\n");
        Files.writeString(dir.resolve(".env.local"), "B=from-local\nC=from-local\nD=from-local\n");
        Path extra = dir.resolve("extra.env");
        Files.writeString(extra, "C=from-file\nD=from-file\n");
        Config c = Config.of(Map.of("D", "from-real-env"), dir, extra);
        assertEquals("from-env", c.get("A").orElseThrow());
        assertEquals("from-local", c.get("B").orElseThrow());
        assertEquals("from-file", c.get("C").orElseThrow());
        assertEquals("from-real-env", c.get("D").orElseThrow());
        assertEquals("environment", c.originOf("D"));
        assertTrue(c.get("MISSING").isEmpty());
        assertEquals("x", c.getOr("MISSING", "x"));
        assertEquals("from-env", c.get("MISSING", "A").orElseThrow(), "first key that is set wins");
    }

    @Test
    void theWorkingFolderWinsOverTheScriptsFolder() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work")), script = Files.createDirectories(dir.resolve("tool"));
        Files.writeString(script.resolve(".env"), "A=script-env\nB=script-env\nC=script-env\n");
        Files.writeString(script.resolve(".env.local"), "B=script-local\nC=script-local\n");
        Files.writeString(work.resolve(".env"), "C=work-env\n");
        Config c = Config.of(Map.of(), List.of(work, script), null);
        assertEquals("script-env", c.get("A").orElseThrow());
        assertEquals("script-local", c.get("B").orElseThrow());
        assertEquals("work-env", c.get("C").orElseThrow(), "any file of the working folder beats the script's folder");
        assertEquals(List.of(script.resolve(".env").toRealPath().toString(), script.resolve(".env.local").toRealPath().toString(),
                work.resolve(".env").toRealPath().toString()), c.files());
        assertEquals(c.files(), Config.of(Map.of(), List.of(work, script, work), null).files(), "a folder counts once");
    }

    @Test
    void dotenvSyntax() throws Exception {
        Files.writeString(dir.resolve(".env"), """
                # comment
                export EXPORTED=yes
                PLAIN = value with spaces   # trailing comment
                SINGLE='lit #eral $X'
                DOUBLE="line1\\nline2 \\"q\\""
                EMPTY=
                URL=postgresql://u:p%40ss@h:5432/db?sslmode=require
                """);
        Config c = Config.of(Map.of(), dir, null);
        assertEquals("yes", c.get("EXPORTED").orElseThrow());
        assertEquals("value with spaces", c.get("PLAIN").orElseThrow());
        assertEquals("lit #eral $X", c.get("SINGLE").orElseThrow());
        assertEquals("line1\nline2 \"q\"", c.get("DOUBLE").orElseThrow());
        assertTrue(c.get("EMPTY").isEmpty(), "blank counts as unset");
        assertEquals("postgresql://u:p%40ss@h:5432/db?sslmode=require", c.get("URL").orElseThrow());
    }

    @Test
    void badDotenvLineNamesFileAndLine() throws Exception {
        Files.writeString(dir.resolve(".env"), "OK=1\nthis is not an assignment\n");
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Config.of(Map.of(), dir, null));
        assertTrue(f.getMessage().contains(".env:2"), f.getMessage());
    }

    @Test
    void textAfterAClosingQuoteIsAnErrorNotACutValue() throws Exception {
        Files.writeString(dir.resolve(".env"), "OK=\"fine\"   # a comment may follow\nTINYBIRD_TOKEN=\"p.abc\"def\"\n");
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Config.of(Map.of(), dir, null));
        assertTrue(f.getMessage().contains(".env:2") && f.getMessage().contains("TINYBIRD_TOKEN"), f.getMessage());
        assertFalse(f.getMessage().contains("p.abc"), "the value is not echoed: " + f.getMessage());
        Files.writeString(dir.resolve(".env"), "A='one'two\n");
        f = assertThrows(Cli.Failure.class, () -> Config.of(Map.of(), dir, null));
        assertTrue(f.getMessage().contains(".env:1") && f.getMessage().contains(" A "), f.getMessage());
        Files.writeString(dir.resolve(".env"), "OK=\"fine\"   # a comment\nS='x' # too\n");
        Config c = Config.of(Map.of(), dir, null);
        assertEquals("fine", c.get("OK").orElseThrow());
        assertEquals("x", c.get("S").orElseThrow());
    }

    @Test
    void invalidUtf8NamesTheFileAndLine() throws Exception {
        byte[] latin1 = "A=1\nB=caf\u00e9\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        Files.write(dir.resolve(".env"), latin1);
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Config.of(Map.of(), dir, null));
        assertTrue(f.getMessage().contains(".env:2") && f.getMessage().contains("UTF-8"), f.getMessage());
        Files.writeString(dir.resolve(".env"), "A=1\r\nB=caf\u00e9\r\nC=3");
        Config c = Config.of(Map.of(), dir, null);
        assertEquals("caf\u00e9", c.get("B").orElseThrow());
        assertEquals("3", c.get("C").orElseThrow());
    }

    @Test
    void missingEnvFileIsOneLine() {
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> Config.of(Map.of(), dir, dir.resolve("nope.env")));
        assertTrue(f.getMessage().startsWith("env file not found"), f.getMessage());
    }

    @Test
    void requireNamesEveryKey() {
        Config c = Config.of(Map.of(), dir, null);
        Cli.Failure f = assertThrows(Cli.Failure.class, () -> c.require("Tinybird token", "TINYBIRD_TOKEN", "TINYBIRD_KEY"));
        assertEquals("Tinybird token is not set: set TINYBIRD_TOKEN or TINYBIRD_KEY in the environment, in .env / .env.local, or with --env-file", f.getMessage());
    }

    @Test
    void secretsFromSettingsAreRedacted() {
        Config.of(Map.of("TINYBIRD_TOKEN", "p.eyJ1IjoiMTIzNDU2Nzg5MCJ9.abcdef", "PGPASSWORD", "s3cr3t!pw", "NAME", "public-value"), dir, null);
        String msg = "failed with token p.eyJ1IjoiMTIzNDU2Nzg5MCJ9.abcdef and password s3cr3t!pw for public-value";
        String r = Config.redact(msg);
        assertFalse(r.contains("p.eyJ1IjoiMTIzNDU2Nzg5MCJ9"), r);
        assertFalse(r.contains("s3cr3t!pw"), r);
        assertTrue(r.contains("public-value"), r);
    }

    @Test
    void redactionPatterns() {
        assertEquals("postgresql://user:***@db.example:5432/x", Config.redact("postgresql://user:hunter2x@db.example:5432/x"));
        assertEquals("GET /v0/pipes/x.json?city=a&token=***&b=1", Config.redact("GET /v0/pipes/x.json?city=a&token=abcd.efg&b=1"));
        assertEquals("Authorization: Bearer ***", Config.redact("Authorization: Bearer abc.def-ghi"));
        assertEquals("password=*** user=x", Config.redact("password=topsecret user=x"));
        assertEquals("nothing secret here", Config.redact("nothing secret here"));
    }
}
