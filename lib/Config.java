//SOURCES Cli.java

import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Settings from the environment and from dotenv files, and redaction of secrets.
 *
 * <p>Precedence, highest first: real environment variables, then {@code --env-file FILE}, then
 * {@code .env.local}, then {@code .env} (both in the working directory, the original's convention).
 *
 * <p>Every value whose name looks secret (TOKEN, PASSWORD, SECRET, KEY, ...) is registered with
 * {@link #redact(String)}, so it never appears in an error message or a log line.
 */
public final class Config {
    private static final Pattern SECRET_NAME =
            Pattern.compile("(?i).*(TOKEN|PASSWORD|PASSWD|PASS|SECRET|KEY|CREDENTIAL|DATABASE_URL|CONNECTION_STRING).*");
    private static final Set<String> SECRETS = ConcurrentHashMap.newKeySet();

    private final Map<String, String> env;
    private final Map<String, String> files; // merged dotenv values, already in precedence order
    private final Map<String, String> origin; // key -> file it came from

    private Config(Map<String, String> env, Map<String, String> files, Map<String, String> origin) {
        this.env = env;
        this.files = files;
        this.origin = origin;
        env.forEach(Config::registerIfSecret);
        files.forEach(Config::registerIfSecret);
    }

    /**
     * The process environment, plus envFile (may be null), plus .env.local and .env of the working folder, then of the
     * script's own folder when the ./jbang launcher said where the script is (PY_UTILITIES_SCRIPT): a presenter who
     * runs {@code ./jbang data-generators/e-store.java} from the repo root gets the settings kept beside the script.
     */
    public static Config load(Path envFile) {
        List<Path> dirs = new ArrayList<>();
        dirs.add(Path.of("").toAbsolutePath());
        scriptDir().ifPresent(dirs::add);
        return of(System.getenv(), dirs, envFile);
    }

    /** The file of that name in the script's own folder (PY_UTILITIES_SCRIPT, set by the ./jbang launcher), when there is one. */
    public static Optional<Path> besideScript(String name) {
        return scriptDir().map(d -> d.resolve(name)).filter(Files::isRegularFile);
    }

    /** The folder of the running script, as the ./jbang launcher gives it in PY_UTILITIES_SCRIPT; empty otherwise. */
    private static Optional<Path> scriptDir() {
        String script = System.getenv("PY_UTILITIES_SCRIPT");
        if (script == null || script.isBlank()) return Optional.empty();
        return Optional.ofNullable(Path.of(script).toAbsolutePath().getParent()).filter(Files::isDirectory);
    }

    /** For tests and embedding: an explicit environment and folder. */
    public static Config of(Map<String, String> env, Path dir, Path envFile) {
        return of(env, List.of(dir), envFile);
    }

    /** An explicit environment and the folders whose .env.local and .env count, the first one winning. */
    public static Config of(Map<String, String> env, List<Path> dirs, Path envFile) {
        Map<String, String> merged = new LinkedHashMap<>();
        Map<String, String> origin = new LinkedHashMap<>();
        java.util.LinkedHashSet<Path> unique = new java.util.LinkedHashSet<>(); // a folder counts once, where it first stands
        for (Path d : dirs) {
            try {
                unique.add(d.toRealPath());
            } catch (IOException missing) {
                // no such folder: nothing to read there
            }
        }
        List<Path> folders = new ArrayList<>(unique);
        List<Path> order = new ArrayList<>(); // lowest precedence first: each file overrides the ones before it
        for (int i = folders.size() - 1; i >= 0; i--) {
            order.add(folders.get(i).resolve(".env"));
            order.add(folders.get(i).resolve(".env.local"));
        }
        for (Path p : order) {
            if (Files.isRegularFile(p)) put(merged, origin, p);
        }
        if (envFile != null) {
            if (!Files.isRegularFile(envFile)) throw new Cli.Failure("env file not found: " + envFile);
            put(merged, origin, envFile);
        }
        return new Config(Map.copyOf(env), merged, origin);
    }

    private static void put(Map<String, String> merged, Map<String, String> origin, Path p) {
        Map<String, String> values = parseDotenv(p);
        merged.putAll(values);
        values.keySet().forEach(k -> origin.put(k, p.toString()));
    }

    /** The value of the first of the keys that is set (and not blank), or empty. */
    public Optional<String> get(String... keys) {
        for (String k : keys) {
            String v = env.get(k);
            if (v == null) v = files.get(k);
            if (v != null && !v.isBlank()) return Optional.of(v);
        }
        return Optional.empty();
    }

    /** The value of the first key set, else def. */
    public String getOr(String key, String def) {
        return get(key).orElse(def);
    }

    /** The value of the first key set, else a one-line Failure naming all the keys. */
    public String require(String what, String... keys) {
        return get(keys).orElseThrow(() -> new Cli.Failure(
                what + " is not set: set " + String.join(" or ", keys)
                        + " in the environment, in .env / .env.local, or with --env-file"));
    }

    /** The settings files that were read, in the order read (lowest precedence first). */
    public List<String> files() {
        return new ArrayList<>(new java.util.LinkedHashSet<>(origin.values()));
    }

    /** Where a value came from ("environment", a file path, or null when unset); handy for --verbose. */
    public String originOf(String key) {
        if (env.containsKey(key)) return "environment";
        return origin.get(key);
    }

    // ---------------------------------------------------------------- dotenv

    /** Parses a dotenv file: KEY=VALUE, optional 'export ', # comments, '...' literal, "..." with escapes. */
    static Map<String, String> parseDotenv(Path p) {
        List<String> lines = readUtf8Lines(p);
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (i == 0 && line.startsWith("\uFEFF")) line = line.substring(1);
            if (line.isEmpty() || line.startsWith("#")) continue;
            if (line.startsWith("export ")) line = line.substring(7).strip();
            int eq = line.indexOf('=');
            if (eq <= 0) {
                throw new Cli.Failure(p + ":" + (i + 1) + ": expected KEY=VALUE");
            }
            String key = line.substring(0, eq).strip();
            if (!key.matches("[A-Za-z_][A-Za-z0-9_.]*")) {
                throw new Cli.Failure(p + ":" + (i + 1) + ": invalid variable name '" + key + "'");
            }
            String raw = line.substring(eq + 1).strip();
            String value;
            if (raw.startsWith("\"")) {
                StringBuilder sb = new StringBuilder();
                int j = 1;
                boolean closed = false;
                // a double-quoted value may span lines
                String cur = raw;
                while (true) {
                    for (; j < cur.length(); j++) {
                        char c = cur.charAt(j);
                        if (c == '\\' && j + 1 < cur.length()) {
                            char n = cur.charAt(++j);
                            sb.append(switch (n) { case 'n' -> '\n'; case 't' -> '\t'; case 'r' -> '\r'; default -> n; });
                        } else if (c == '"') {
                            closed = true;
                            break;
                        } else {
                            sb.append(c);
                        }
                    }
                    if (closed || i + 1 >= lines.size()) break;
                    sb.append('\n');
                    cur = lines.get(++i);
                    j = 0;
                }
                if (!closed) throw new Cli.Failure(p + ": unclosed double quote in the value of " + key);
                afterClosingQuote(p, i, key, cur.substring(j + 1), '"');
                value = sb.toString();
            } else if (raw.startsWith("'")) {
                int end = raw.indexOf('\'', 1);
                if (end < 0) throw new Cli.Failure(p + ":" + (i + 1) + ": unclosed single quote in the value of " + key);
                afterClosingQuote(p, i, key, raw.substring(end + 1), '\'');
                value = raw.substring(1, end);
            } else {
                int hash = raw.indexOf(" #");
                value = (hash >= 0 ? raw.substring(0, hash) : raw).strip();
            }
            out.put(key, value);
        }
        return out;
    }

    /**
     * After a closing quote only blanks and a comment may follow: a value cut at a quote it contains (a token with a
     * '"' in it) would otherwise be used silently, shorter than written.
     */
    private static void afterClosingQuote(Path p, int lineIndex, String key, String rest, char quote) {
        String r = rest.strip();
        if (r.isEmpty() || r.startsWith("#")) return;
        throw new Cli.Failure(p + ":" + (lineIndex + 1) + ": text after the closing " + (quote == '"' ? "double" : "single")
                + " quote in the value of " + key + (quote == '"'
                        ? " (write a \" inside a double-quoted value as \\\", or single-quote the whole value)"
                        : " (a single-quoted value can not hold a ': double-quote it instead)"));
    }

    /** The file's lines, decoded as strict UTF-8: a byte that is not UTF-8 is a one-line error naming the line. */
    private static List<String> readUtf8Lines(Path p) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            throw new Cli.Failure("env file not found: " + p);
        } catch (IOException e) {
            throw new Cli.Failure("cannot read env file " + p + ": " + e.getMessage());
        }
        java.nio.charset.CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= bytes.length; i++) {
            if (i < bytes.length && bytes[i] != '\n') continue;
            int end = i > start && bytes[i - 1] == '\r' ? i - 1 : i;
            if (i == bytes.length && start == bytes.length) break; // no line after a final newline
            try {
                lines.add(dec.decode(java.nio.ByteBuffer.wrap(bytes, start, end - start)).toString());
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new Cli.Failure(p + ":" + (lines.size() + 1) + ": not valid UTF-8 (save the file as UTF-8)");
            }
            start = i + 1;
        }
        return lines;
    }

    // ---------------------------------------------------------------- redaction

    private static void registerIfSecret(String key, String value) {
        if (value == null || value.isBlank()) return;
        if (SECRET_NAME.matcher(key).matches()) registerSecret(value);
    }

    /**
     * Registers a value that must never be printed (a token, a password), in every form it may be printed in: as
     * given, percent-decoded, and percent-encoded (a token with / + = travels encoded in URLs and form bodies, with
     * upper- or lower-case hex, + or %20 for a space). Short values are ignored.
     */
    public static void registerSecret(String value) {
        if (value == null || value.length() < 4) return;
        addForms(value);
        String decoded = percentDecode(value);
        if (!decoded.equals(value)) addForms(decoded);
        // a URL with a password: register the password itself too
        Matcher m = URL_USERINFO.matcher(value);
        while (m.find()) {
            String pw = m.group(2);
            addForms(pw);
            addForms(percentDecode(pw));
        }
    }

    private static void addForms(String v) {
        if (v.length() < 4) return;
        SECRETS.add(v);
        String enc = URLEncoder.encode(v, StandardCharsets.UTF_8);
        if (!enc.equals(v)) {
            SECRETS.add(enc);
            SECRETS.add(enc.replace("+", "%20"));
            Matcher hex = PERCENT_HEX.matcher(enc);
            StringBuilder lower = new StringBuilder();
            while (hex.find()) hex.appendReplacement(lower, hex.group().toLowerCase(java.util.Locale.ROOT));
            hex.appendTail(lower);
            SECRETS.add(lower.toString());
        }
    }

    private static final Pattern PERCENT_HEX = Pattern.compile("%[0-9A-F]{2}");

    private static String percentDecode(String s) {
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException notEncoded) {
            return s;
        }
    }

    private static final Pattern URL_USERINFO = Pattern.compile("(://[^:/@\\s]*:)([^@\\s/]+)@");
    private static final Pattern QUERY_SECRET =
            Pattern.compile("(?i)\\b(token|password|passwd|apikey|api_key|access_key|secret|key|sig|signature)=([^&\\s\"']+)");
    private static final Pattern BEARER = Pattern.compile("(?i)\\b(bearer|basic)\\s+[A-Za-z0-9._~+/=\\-]+");
    private static final Pattern JDBC_PASSWORD = Pattern.compile("(?i)(password\\s*[=:]\\s*)([^\\s&;,\"']+)");

    /** Removes every registered secret, URL password, token=..., Bearer ... from text. */
    public static String redact(String text) {
        if (text == null) return null;
        String s = text;
        for (String secret : SECRETS) {
            if (s.contains(secret)) s = s.replace(secret, "***");
        }
        s = URL_USERINFO.matcher(s).replaceAll("$1***@");
        s = QUERY_SECRET.matcher(s).replaceAll("$1=***");
        s = BEARER.matcher(s).replaceAll("$1 ***");
        s = JDBC_PASSWORD.matcher(s).replaceAll("$1***");
        return s;
    }
}
