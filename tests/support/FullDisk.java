import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real full disk for tests: a small tmpfs mounted on a fresh folder (needs root, as CI runs), unmounted on close.
 * Writes past its size fail with ENOSPC ("No space left on device"), exactly as on a full disk.
 * Without root or mount, the test is skipped, or fails under CI=true (see TestServices).
 */
public final class FullDisk implements AutoCloseable {
    public final Path dir;

    private FullDisk(Path dir) {
        this.dir = dir;
    }

    /** Mounts a tmpfs of the given size (e.g. "64k", "1m") on a new folder under java.io.tmpdir. */
    public static FullDisk mount(String size) throws IOException, InterruptedException {
        Path d = Files.createTempDirectory("full-disk-");
        String why = null;
        try {
            Process p = new ProcessBuilder(List.of("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", d.toString()))
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) why = "mount -t tmpfs failed: " + out.strip();
        } catch (IOException e) {
            why = "mount is not available: " + e.getMessage();
        }
        if (why != null) {
            Files.deleteIfExists(d);
            final String reason = why;
            TestServices.requireTool("a small tmpfs for a full-disk test (needs root; " + reason + ")", () -> false);
        }
        return new FullDisk(d);
    }

    /** Fills the disk until one more byte does not fit, so the next write fails at once. */
    public void fill() throws IOException {
        byte[] chunk = new byte[4096];
        try (var out = Files.newOutputStream(dir.resolve(".filler"))) {
            while (true) out.write(chunk);
        } catch (IOException full) {
            // full: exactly what we wanted
        }
    }

    @Override
    public void close() throws Exception {
        new ProcessBuilder(List.of("umount", "-l", dir.toString())).redirectErrorStream(true).start().waitFor(20, TimeUnit.SECONDS);
        Files.deleteIfExists(dir);
    }
}
