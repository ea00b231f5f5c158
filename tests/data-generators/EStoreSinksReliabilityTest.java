import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** data-generators/e-store.java when things go wrong: a full disk, lost PostgreSQL connections, bad settings files. */
class EStoreSinksReliabilityTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(java.util.function.Consumer<EStore> tune, String... args) {
        EStore cmd = new EStore();
        cmd.common.config(Config.of(Map.of(), tmp, null));
        if (tune != null) tune.accept(cmd);
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    // ------------------------------------------------------------------ --out on a full disk

    @Test
    void aFullDiskLeavesNoFinalFileAndTheErrorNamesIt() throws Exception {
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("ev.ndjson");
            Path tmpFile = disk.dir.resolve("ev.ndjson.tmp");

            Result r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertFalse(Files.exists(out), "no final name after a failed write");
            assertFalse(Files.exists(tmpFile), "the partial temp file is deleted");
            assertEquals("e-store: cannot write " + out + ": No space left on device\n", r.err);

            // a file of an earlier run under that name is left as it was
            Files.writeString(out, "{\"earlier\":true}\n");
            r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.contains(out.toString()), r.err);
            assertEquals("{\"earlier\":true}\n", Files.readString(out));
            assertFalse(Files.exists(tmpFile));

            // room enough: the whole file under its name, no temp file
            Files.delete(out);
            r = run(null, "--count", "200", "--seed", "1", "--out", out.toString());
            assertEquals(0, r.rc, r.err);
            assertEquals(200, Files.readAllLines(out).size());
            assertFalse(Files.exists(tmpFile));
        }
    }

    @Test
    void anUnwritableFolderIsOneLineNamingTheFile() {
        Path out = tmp.resolve("no-such-folder/ev.ndjson");
        Result r = run(null, "--count", "10", "--out", out.toString());
        assertEquals(1, r.rc, r.err);
        assertEquals("e-store: cannot write " + out + ": no such folder\n", r.err);
    }
}
