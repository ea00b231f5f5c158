import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Files a script writes get the user's umask, like any file the user makes: not owner-only, not a fixed mode. */
class FileModeTest {
    @Test
    void csvToNdjsonWritesItsOutputWithTheUsersUmask() throws Exception {
        Path root = TestServices.repoRoot();
        Path dir = Files.createTempDirectory("umask");
        try {
            Files.writeString(dir.resolve("in.csv"), "a,b\n1,2\n");
            for (String[] c : List.of(new String[] {"077", "rw-------"}, new String[] {"002", "rw-rw-r--"})) {
                Path out = dir.resolve("out-" + c[0] + ".ndjson");
                String cmd = "umask " + c[0] + " && exec " + root.resolve("jbang") + " " + root.resolve("converter/csv-to-ndjson.java")
                        + " in.csv -o " + out.getFileName();
                TestServices.Run r = TestServices.run(dir, Duration.ofMinutes(5), List.of("sh", "-c", cmd));
                assertEquals(0, r.exitCode(), r.stderr());
                assertEquals("{\"a\":1,\"b\":2}\n", Files.readString(out));
                assertEquals(c[1], PosixFilePermissions.toString(Files.getPosixFilePermissions(out)), "umask " + c[0]);
            }
        } finally {
            TestServices.run(root, Duration.ofMinutes(1), List.of("rm", "-rf", dir.toString()));
        }
    }
}
