import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One input of csv-splitter and its parts' names: the {base}/{n}/{ext} template, the parts an earlier run left
 * (refused without --force), and the move of the finished parts from the temporary folder to their names. It exists
 * so the script's run reads as "prepare every input, split each, move all into place".
 * Invariant: a part reaches its final name only by an atomic rename of a complete file.
 */
final class SplitInput {
    final CsvSplitter.Run run;
    final String display;
    final Path input;
    final boolean stdinSpool;
    final Path outDir, tmpDir;
    final String base, ext;
    final boolean ndjson;
    final List<CsvSplitter.Written> written = new ArrayList<>();
    List<Path> finalPaths;
    long records, inputSize;

    SplitInput(CsvSplitter.Run run, String display, Path input, boolean stdinSpool, Path outDir, Path tmpDir, String base, String ext, boolean ndjson) {
        this.run = run;
        this.display = display;
        this.input = input;
        this.stdinSpool = stdinSpool;
        this.outDir = outDir;
        this.tmpDir = tmpDir;
        this.base = base;
        this.ext = ext;
        this.ndjson = ndjson;
    }

    String template() {
        String t = run.s.nameTemplate();
        if (run.s.gzip() && !t.endsWith(".gz")) t += ".gz";
        return t;
    }

    String partName(int n, int width) {
        String num = String.format("%0" + width + "d", n);
        return template().replace("{base}", base).replace("{ext}", ext).replace("{n}", num);
    }

    /** Files that look like parts of this input (any number): existing ones are refused without --force. */
    Pattern partPattern() {
        StringBuilder re = new StringBuilder();
        String t = template();
        int i = 0;
        while (i < t.length()) {
            if (t.startsWith("{base}", i)) { re.append(Pattern.quote(base)); i += 6; }
            else if (t.startsWith("{ext}", i)) { re.append(Pattern.quote(ext)); i += 5; }
            else if (t.startsWith("{n}", i)) { re.append("[0-9]+"); i += 3; }
            else { re.append(Pattern.quote(String.valueOf(t.charAt(i)))); i++; }
        }
        return Pattern.compile(re.toString());
    }

    List<Path> existingParts() throws IOException {
        List<Path> found = new ArrayList<>();
        Path dir = outDir.toString().isEmpty() ? Path.of(".") : outDir;
        if (!Files.isDirectory(dir)) return found;
        Pattern p = partPattern();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path f : ds) if (p.matcher(f.getFileName().toString()).matches() && Files.isRegularFile(f)) found.add(f);
        }
        found.sort(Comparator.naturalOrder());
        return found;
    }

    void checkExisting() throws IOException {
        if (run.s.force()) return;
        List<Path> ex = existingParts();
        if (!ex.isEmpty())
            throw new Cli.Failure("already exists: " + outDir.resolve(ex.get(0).getFileName()) + (ex.size() > 1 ? " (and " + (ex.size() - 1) + " more parts)" : "")
                    + " (use --force to overwrite)");
    }

    /** A write failure (a full disk) as one line naming the part and the folder. */
    Cli.Failure cannotWrite(int part, IOException e) {
        return new Cli.Failure("cannot write part " + part + " of " + display + " in " + CsvSplitter.Run.shown(outDir) + ": " + CsvSplitter.reason(e)
                + "; no parts written", e);
    }

    void finalNames() {
        int width = String.valueOf(Math.max(1, written.size())).length();
        finalPaths = new ArrayList<>();
        for (int i = 0; i < written.size(); i++) finalPaths.add(outDir.resolve(partName(i + 1, width)));
    }

    /** Renames the parts to their final names; each one renamed is added to moved (undone if a later one fails). */
    void moveIntoPlace(List<Path> moved) throws IOException {
        if (!run.s.force()) {
            for (Path p : finalPaths) if (Files.exists(p)) throw new FileAlreadyExistsException(p.toString());
        }
        Set<String> mine = new LinkedHashSet<>();
        for (Path p : finalPaths) mine.add(p.getFileName().toString());
        List<Path> stale = new ArrayList<>();
        if (run.s.force()) for (Path p : existingParts()) if (!mine.contains(p.getFileName().toString())) stale.add(p);
        for (int i = 0; i < written.size(); i++) {
            Path target = finalPaths.get(i);
            try {
                if (run.s.force()) Files.move(written.get(i).tmp(), target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                else Files.move(written.get(i).tmp(), target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException e) {
                throw e;
            } catch (IOException e) {
                throw new Cli.Failure("cannot write " + target + ": " + CsvSplitter.reason(e) + "; no parts written", e);
            }
            moved.add(target);
        }
        if (!stale.isEmpty())
            run.warn(display + ": " + stale.size() + " older part file(s) remain from an earlier run, e.g. " + stale.get(0));
    }
}
