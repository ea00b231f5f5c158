import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Updates a dotenv file (.env.local) with the local stack's settings and nothing else: every other line stays as it
 * is, a line of ours (NAME=value with the same value, or one we wrote before, marked by the comment above it) is
 * replaced, and a line that sets one of our names to something else is an error unless the caller asks to replace
 * it (then it is commented out, not deleted). Written to a temp file and renamed, readable by its owner only.
 */
final class DotEnv {
    static final String MARK = "# local stack (./jbang local env --write):";
    private static final Pattern ASSIGN = Pattern.compile("^\\s*(?:export\\s+)?([A-Za-z_][A-Za-z0-9_]*)\\s*=\\s*(.*?)\\s*$");

    private DotEnv() {}

    static void write(Path file, Map<String, String> settings, boolean replace) throws IOException {
        List<String> in = Files.isRegularFile(file) ? Files.readAllLines(file) : List.of();
        List<String> kept = new ArrayList<>();
        Set<String> conflicts = new LinkedHashSet<>();
        for (int i = 0; i < in.size(); i++) {
            String line = in.get(i);
            if (line.equals(MARK)) continue;
            boolean oursBefore = i > 0 && in.get(i - 1).equals(MARK);
            Matcher m = ASSIGN.matcher(line);
            if (m.matches() && settings.containsKey(m.group(1))) {
                String name = m.group(1), value = unquote(m.group(2));
                if (oursBefore || value.equals(settings.get(name))) continue;
                if (!replace) {
                    conflicts.add(file + ":" + (i + 1) + " sets " + name);
                    continue;
                }
                kept.add("# replaced by the local stack: " + line);
                continue;
            }
            kept.add(line);
        }
        if (!conflicts.isEmpty()) {
            throw new Cli.Failure(String.join(", ", conflicts) + " to another value: edit it, or pass --replace to comment it out");
        }
        while (!kept.isEmpty() && kept.get(kept.size() - 1).isBlank()) kept.remove(kept.size() - 1);
        if (!kept.isEmpty()) kept.add("");
        for (Map.Entry<String, String> e : settings.entrySet()) {
            kept.add(MARK);
            kept.add(e.getKey() + "=" + e.getValue());
        }
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp"); // owner-only on POSIX: it holds the token
        try {
            Files.write(tmp, kept);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && (v.startsWith("\"") && v.endsWith("\"") || v.startsWith("'") && v.endsWith("'"))) return v.substring(1, v.length() - 1);
        return v;
    }
}
