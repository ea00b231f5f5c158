import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What csv-to-ndjson writes where when a folder is among its inputs: the folder stands for its *.csv and *.csv.gz
 * files (sorted by name; those in subfolders only with --recursive), and each input gets its own .ndjson, beside it
 * or under -o DIR (keeping the subfolders of a recursive walk). A folder of exports converts in one command.
 * Invariant: no two inputs share an output file, and no output is one of the inputs.
 */
final class FolderInputs {
    private FolderInputs() {}

    /** One input and the file it converts to. */
    record Item(String input, Path target) {}

    /** x.csv -> x.ndjson, x.csv.gz -> x.ndjson.gz (the output is compressed as its input was). */
    static String outputName(String input) {
        String n = Path.of(input).getFileName().toString();
        boolean gz = n.endsWith(".gz");
        if (gz) n = n.substring(0, n.length() - 3);
        int dot = n.lastIndexOf('.');
        if (dot > 0) n = n.substring(0, dot);
        return n + ".ndjson" + (gz ? ".gz" : "");
    }

    static boolean isFolder(String input) {
        return !input.equals("-") && Files.isDirectory(Path.of(input));
    }

    static boolean isCsvName(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return !n.startsWith(".") && (n.endsWith(".csv") || n.endsWith(".csv.gz"));
    }

    /** The CSV files of a folder, sorted by path; a folder without any is an error naming it. */
    static List<Path> csvFiles(Path folder, boolean recursive) throws IOException {
        List<Path> found;
        try (Stream<Path> s = recursive ? Files.walk(folder) : Files.list(folder)) {
            found = s.filter(p -> isCsvName(p) && Files.isRegularFile(p)).sorted().toList();
        }
        if (found.isEmpty())
            throw new Cli.Failure(folder + ": no *.csv or *.csv.gz files in this folder" + (recursive ? " or below" : " (--recursive looks in subfolders)"));
        return found;
    }

    /** The inputs with every folder replaced by its CSV files (a -o FILE run concatenates them, as if listed). */
    static List<String> expand(List<String> inputs, boolean recursive) throws IOException {
        List<String> out = new ArrayList<>();
        for (String in : inputs) {
            if (isFolder(in)) for (Path p : csvFiles(Path.of(in), recursive)) out.add(p.toString());
            else out.add(in);
        }
        return out;
    }

    /** Each input with its output: under outDir when given, else beside the input. */
    static List<Item> plan(List<String> inputs, Path outDir, boolean recursive) throws IOException {
        List<Item> items = new ArrayList<>();
        Map<Path, String> claimed = new HashMap<>();
        for (String in : inputs) {
            if (in.equals("-")) throw Cli.usage("stdin has no name: with a folder among the inputs give files");
            List<Path> files = isFolder(in) ? csvFiles(Path.of(in), recursive) : List.of(Path.of(in));
            for (Path f : files) {
                Path dir;
                if (outDir == null) dir = f.getParent();
                else if (isFolder(in) && Path.of(in).relativize(f).getParent() != null) dir = outDir.resolve(Path.of(in).relativize(f).getParent());
                else dir = outDir;
                Path target = dir == null ? Path.of(outputName(f.toString())) : dir.resolve(outputName(f.toString()));
                Path key = target.toAbsolutePath().normalize();
                String other = claimed.putIfAbsent(key, f.toString());
                if (other != null) throw Cli.usage(other + " and " + f + " would both write " + target + ": convert them into different folders (-o DIR)");
                if (key.equals(f.toAbsolutePath().normalize())) throw Cli.usage(f + " would be overwritten by its own output");
                items.add(new Item(f.toString(), target));
            }
        }
        return items;
    }
}
