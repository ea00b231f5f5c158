import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * The --manifest of csv-splitter: one JSON entry per part (input, file, first and last record, rows, bytes, sha256),
 * written to a temp file beside its name and moved into place with the parts. Invariant: the manifest names exactly
 * the parts that were moved into place.
 */
final class PartsManifest {
    private PartsManifest() {}

    /** The manifest in a temp file beside it (moved into place with the parts). */
    static Path write(Path manifest, List<SplitInput> jobs) throws IOException {
        StringBuilder sb = new StringBuilder("{\n  \"parts\": [");
        boolean first = true;
        for (SplitInput j : jobs) {
            for (int i = 0; i < j.written.size(); i++) {
                CsvSplitter.Written w = j.written.get(i);
                CsvSplitter.Part p = w.part();
                sb.append(first ? "\n" : ",\n");
                first = false;
                sb.append("    {\"input\": ").append(Cli.jsonString(j.display))
                        .append(", \"file\": ").append(Cli.jsonString(j.finalPaths.get(i).getFileName().toString()))
                        .append(", \"path\": ").append(Cli.jsonString(j.finalPaths.get(i).toString()))
                        .append(", \"part\": ").append(p.index())
                        .append(", \"first_record\": ").append(p.rows() == 0 ? "null" : String.valueOf(p.firstRecord()))
                        .append(", \"last_record\": ").append(p.rows() == 0 ? "null" : String.valueOf(p.firstRecord() + p.rows() - 1))
                        .append(", \"rows\": ").append(p.rows())
                        .append(", \"bytes\": ").append(w.bytes())
                        .append(", \"sha256\": ").append(Cli.jsonString(w.sha256()))
                        .append('}');
            }
        }
        sb.append(first ? "]\n}\n" : "\n  ]\n}\n");
        Path abs = manifest.toAbsolutePath();
        // not Files.createTempFile: it makes the file private (0600); the manifest is an ordinary file
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".tmp");
        try {
            Files.createDirectories(abs.getParent());
            Files.writeString(tmp, sb.toString(), StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            return tmp;
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new Cli.Failure("cannot write " + manifest + ": " + CsvSplitter.reason(e) + "; no parts written", e);
        }
    }

    /** Renames the manifest into place (an existing one is replaced: --force was checked before the run). */
    static void moveIntoPlace(Path tmp, Path manifest) {
        try {
            Files.move(tmp, manifest.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new Cli.Failure("cannot write " + manifest + ": " + CsvSplitter.reason(e) + "; no parts written", e);
        }
    }
}
