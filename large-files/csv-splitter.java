///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/CsvCore.java
//DESCRIPTION Splits huge CSV (or NDJSON) files into parts under a hard size cap, never cutting a record.
//DESCRIPTION Usage: csv-splitter.java FILE...|- [--max-size 100MB | --rows N | --parts N] [-o DIR] [--name '{base}_{n}.{ext}']
//DESCRIPTION Every part repeats the header and loads on its own; bytes are copied verbatim (quoting, CRLF, BOM kept).
//MAIN CsvSplitter

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;

import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Record-safe splitting of huge CSV and NDJSON files.
 *
 * <p>How it is fast: the input is read in large chunks into one direct buffer and scanned eight bytes at a
 * time (SWAR): quote and newline masks per 64-bit word, the quote parity as a prefix XOR, so a newline ends a
 * record only outside quotes (RFC 4180; doubled quotes toggle twice and cancel). Only the cut points are decided
 * while scanning; the bytes of each part are then copied by the kernel ({@link FileChannel#transferTo}), on a
 * writer thread that runs beside the scan. With {@code --gzip} or {@code --manifest} the bytes go through the JVM
 * (deflate, SHA-256). Memory stays small and constant: the scan buffer plus a copy buffer per writer.
 */
@Command(name = "csv-splitter", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        sortOptions = false,
        description = {
                "Splits huge CSV (or NDJSON) files into parts that each load on their own.",
                "The header is repeated in every part; a record is never cut (quoted fields",
                "may hold newlines); bytes are copied verbatim (quoting, CRLF, a UTF-8 BOM);",
                "rows stay in order; parts are numbered from 1, zero-padded.",
                "--max-size is a hard cap in bytes that counts the header: a part is bigger",
                "only when one record alone is, and then that record gets a part of its own",
                "and a warning. Parts are written to a temporary folder inside the output",
                "folder and moved into place together at the end (the parts of every input,",
                "and the --manifest): a failure (an unclosed quote, a full disk, Ctrl-C)",
                "leaves no parts behind, and no temporary files. A long header is copied",
                "from the input into each part, never held whole in memory.", ""},
        footer = {"", "Examples:",
                "  csv-splitter.java big.csv       # big_1.csv ... (100 MB at most), next to it",
                "  csv-splitter.java big.csv --max-size 10MiB -o parts/ --manifest parts/m.json",
                "  csv-splitter.java big.csv --rows 1000000 --name 'chunk-{n}.csv'",
                "  csv-splitter.java events.ndjson --parts 8 --gzip  # events_1.ndjson.gz ...",
                "  gzip -dc big.csv.gz | csv-splitter.java - -o parts/   # stdin_1.csv ...",
                "  gzip -dc events.ndjson.gz | csv-splitter.java -   # stdin_1.ndjson ... ('{' first: NDJSON)",
                "",
                "Sizes: 100MB = 100,000,000 bytes, 100MiB = 104,857,600 bytes (also KB/KiB,",
                "GB/GiB, or plain bytes). With --gzip, --max-size counts uncompressed bytes.",
                "Manifest (JSON): one entry per part: file, first and last record number",
                "(data records from 1, the header not counted), rows, bytes, and the sha256",
                "of the file as written."})
class CsvSplitter implements Callable<Integer> {
    static final long DEFAULT_MAX_SIZE = 100_000_000L;

    @Spec CommandSpec spec;
    @Mixin Cli.Common common;

    @Parameters(paramLabel = "FILE", arity = "1..*", description = "Input files; '-' reads standard input (spooled to a temporary file first).")
    List<String> files;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Limit limit;

    static final class Limit {
        @Option(names = "--max-size", paramLabel = "SIZE", converter = Cli.SizeConverter.class,
                description = "Hard cap per part in bytes, header included (default 100MB). Units: KB, MB, GB, KiB, MiB, GiB.")
        Long maxSize;

        @Option(names = "--rows", paramLabel = "N", description = "N records per part (the header not counted) instead of a size cap.")
        Long rows;

        @Option(names = "--parts", paramLabel = "N", description = "N parts of about equal size (by bytes) instead of a size cap.")
        Integer parts;
    }

    @Option(names = {"-o", "--output-dir"}, paramLabel = "DIR", description = "Folder for the parts (created if missing). Default: the input file's folder (stdin: the current folder).")
    Path outputDir;

    @Option(names = "--name", paramLabel = "TEMPLATE", defaultValue = "{base}_{n}.{ext}",
            description = "Part file names: {base} input name without extension, {n} part number, {ext} input extension (default: ${DEFAULT-VALUE}; '.gz' is added with --gzip).")
    String name;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "auto",
            description = "csv, ndjson, or auto (default): .ndjson/.jsonl files, and stdin whose first non-blank byte is '{', are NDJSON (split on lines, no header); anything else CSV.")
    String format;

    @Option(names = "--no-header", description = "The CSV has no header row (nothing is repeated).")
    boolean noHeader;

    @Option(names = "--bom-each", description = "Repeat a UTF-8 BOM of the input in every part (default: only the first part has it).")
    boolean bomEach;

    @Option(names = "--gzip", description = "Write gzip-compressed parts (.gz).")
    boolean gzip;

    @Option(names = "--manifest", paramLabel = "FILE", description = "Write a JSON manifest of the parts (name, first/last record, rows, bytes, sha256).")
    Path manifest;

    @Option(names = "--force", description = "Overwrite existing part files (and the manifest).")
    boolean force;

    /** Standard input; tests replace it. */
    InputStream stdin = System.in;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new CsvSplitter()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            Settings s = settings();
            Run run = new Run(s, spec.commandLine().getErr(), common.quiet);
            run.optionsForHint = optionsForHint();
            return run.execute(files, outputDir, stdin, manifest);
        });
    }

    Settings settings() {
        Mode mode = Mode.SIZE;
        long maxSize = DEFAULT_MAX_SIZE, rows = 0;
        int parts = 0;
        if (limit != null && limit.rows != null) {
            if (limit.rows <= 0) throw Cli.usage("--rows must be at least 1");
            mode = Mode.ROWS;
            rows = limit.rows;
        } else if (limit != null && limit.parts != null) {
            if (limit.parts <= 0) throw Cli.usage("--parts must be at least 1");
            mode = Mode.PARTS;
            parts = limit.parts;
        } else if (limit != null && limit.maxSize != null) {
            if (limit.maxSize <= 0) throw Cli.usage("--max-size must be at least 1 byte");
            maxSize = limit.maxSize;
        }
        String fmt = format.toLowerCase(Locale.ROOT);
        if (!Set.of("auto", "csv", "ndjson", "jsonl").contains(fmt))
            throw Cli.usage("--format must be csv, ndjson or auto, not '" + format + "'");
        if (!name.contains("{n}")) throw Cli.usage("--name must contain {n} (the part number): '" + name + "'");
        if (name.contains("/") || name.contains("\\")) throw Cli.usage("--name is a file name, not a path (use -o DIR): '" + name + "'");
        return new Settings(mode, maxSize, rows, parts, fmt, !noHeader, bomEach, gzip, manifest != null, name, force);
    }

    /** The options as given (shell-quoted), without -o and --name, for the command the gzip hint prints. */
    String optionsForHint() {
        StringBuilder sb = new StringBuilder();
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        if (pr == null) return "";
        for (CommandLine.Model.OptionSpec o : pr.matchedOptions()) {
            if (o.longestName().equals("--output-dir") || o.longestName().equals("--name")) continue;
            if (o.arity().max() == 0) sb.append(' ').append(o.longestName());
            else for (String v : o.originalStringValues()) sb.append(' ').append(o.longestName()).append(' ').append(shellQuoted(v));
        }
        return sb.toString();
    }

    static String shellQuoted(String s) {
        return s.matches("[A-Za-z0-9_./:=@%+-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    enum Mode { SIZE, ROWS, PARTS }

    record Settings(Mode mode, long maxSize, long rows, int parts, String format, boolean header, boolean bomEach,
                    boolean gzip, boolean digest, String nameTemplate, boolean force) {}

    /** One part as decided by the scan: the source bytes [start, end), after the repeated prefix when {@code prefixed}. */
    record Part(int index, long start, long end, boolean prefixed, long rows, long firstRecord) {}

    /** A written part: its temporary file, size and digest. */
    record Written(Part part, Path tmp, long bytes, String sha256) {}

    // ================================================================== one run over all inputs

    /** Splits every input into its temporary folder, then moves all parts into place at once. */
    static final class Run {
        final Settings s;
        final PrintWriter err;
        final boolean quiet;
        final List<Path> tempDirs = new ArrayList<>();
        int warnings;
        String optionsForHint = "";
        /** With --format auto, what the first non-blank byte of stdin says: NDJSON when it is '{'. */
        boolean stdinNdjson;

        Run(Settings s, PrintWriter err, boolean quiet) {
            this.s = s;
            this.err = err;
            this.quiet = quiet;
        }

        int execute(List<String> inputs, Path outDir, InputStream stdin, Path manifest) throws Exception {
            long t0 = System.nanoTime();
            if (inputs.stream().filter("-"::equals).count() > 1) throw Cli.usage("'-' (stdin) can be given only once");
            if (manifest != null && Files.exists(manifest) && !s.force)
                throw new Cli.Failure("already exists: " + manifest + " (use --force to overwrite)");
            Thread cleanup = new Thread(this::deleteTemps, "csv-splitter-cleanup");
            Runtime.getRuntime().addShutdownHook(cleanup);
            List<Job> jobs = new ArrayList<>();
            try {
                if (inputs.contains("-") && s.format.equals("auto")) stdin = sniff(stdin);
                for (String in : inputs) jobs.add(prepare(in, outDir));
                checkCollisions(jobs);
                long rows = 0, bytes = 0;
                int parts = 0;
                for (Job j : jobs) {
                    if (j.stdinSpool) spool(stdin, j);
                    new Splitter(this, j).run();
                    rows += j.records;
                    bytes += j.inputSize;
                    parts += j.written.size();
                }
                // all inputs split: now move every part (and the manifest) into place, all or none
                for (Job j : jobs) j.finalNames();
                checkCollisions(jobs);
                Path manifestTmp = manifest == null ? null : writeManifest(manifest, jobs);
                List<Path> moved = new ArrayList<>();
                try {
                    for (Job j : jobs) j.moveIntoPlace(moved);
                    if (manifest != null) moveManifest(manifestTmp, manifest);
                } catch (Throwable t) {
                    for (Path p : moved) {
                        try {
                            Files.deleteIfExists(p);
                        } catch (IOException ignored) {
                            // the failure at hand is the one to report
                        }
                    }
                    throw t;
                } finally {
                    if (manifestTmp != null) Files.deleteIfExists(manifestTmp);
                }
                Set<Path> dirs = new LinkedHashSet<>();
                for (Job j : jobs) dirs.add(j.outDir);
                String where = dirs.size() == 1 ? " in " + shown(dirs.iterator().next()) : " in " + dirs.size() + " folders";
                err.println(Cli.summary("split", rows, "rows", bytes, Duration.ofNanos(System.nanoTime() - t0))
                        + ", " + parts + (parts == 1 ? " part" : " parts") + where
                        + (warnings > 0 ? " (" + warnings + (warnings == 1 ? " warning" : " warnings") + ")" : ""));
                err.flush();
                return Cli.EXIT_OK;
            } finally {
                deleteTemps();
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs anyway
                }
            }
        }

        Job prepare(String in, Path outDir) throws IOException {
            boolean isStdin = in.equals("-");
            Path input = isStdin ? null : Path.of(in);
            if (input != null) {
                if (!Files.exists(input)) throw new NoSuchFileException(in);
                if (Files.isDirectory(input)) throw new Cli.Failure(in + ": is a folder, not a file");
                if (!Files.isReadable(input)) throw new AccessDeniedException(in);
            }
            String fileName = isStdin ? "stdin" : input.getFileName().toString();
            int dot = fileName.lastIndexOf('.');
            String base = isStdin || dot <= 0 ? fileName : fileName.substring(0, dot);
            String ext = isStdin || dot <= 0 ? "" : fileName.substring(dot + 1);
            boolean ndjson = switch (s.format) {
                case "ndjson", "jsonl" -> true;
                case "csv" -> false;
                default -> isStdin ? stdinNdjson : ext.equalsIgnoreCase("ndjson") || ext.equalsIgnoreCase("jsonl");
            };
            if (ext.isEmpty()) ext = ndjson ? "ndjson" : "csv";
            Path dir = outDir != null ? outDir : isStdin || input.getParent() == null ? Path.of("") : input.getParent();
            Path tmp = tempDir(dir);
            Job j = new Job(this, isStdin ? "stdin" : in, isStdin ? tmp.resolve("stdin.spool") : input, isStdin,
                    dir, tmp, base, ext, ndjson);
            j.checkExisting();
            return j;
        }

        static String shown(Path dir) {
            return dir.toString().isEmpty() ? "." : dir.toString();
        }

        Path tempDir(Path dir) {
            String shown = shown(dir);
            try {
                if (Files.exists(dir) && !Files.isDirectory(dir)) throw new Cli.Failure("output folder " + shown + " is not a folder");
                Files.createDirectories(dir);
                // not Files.createTempDirectory: its SecureRandom costs startup time; a unique name is enough here
                Path abs = dir.toAbsolutePath();
                for (int attempt = 0; ; attempt++) {
                    Path t = abs.resolve(".csv-splitter-" + ProcessHandle.current().pid() + "-"
                            + Long.toUnsignedString(System.nanoTime() ^ java.util.concurrent.ThreadLocalRandom.current().nextLong(), 36));
                    try {
                        Files.createDirectory(t);
                        tempDirs.add(t);
                        return t;
                    } catch (FileAlreadyExistsException e) {
                        if (attempt > 100) throw e;
                    }
                }
            } catch (Cli.Failure f) {
                throw f;
            } catch (AccessDeniedException e) {
                throw new Cli.Failure("cannot write to output folder " + shown + ": permission denied");
            } catch (FileSystemException e) {
                throw new Cli.Failure("cannot write to output folder " + shown + ": "
                        + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName()));
            } catch (IOException e) {
                throw new Cli.Failure("cannot write to output folder " + shown + ": " + e.getMessage());
            }
        }

        /**
         * Reads stdin up to its first byte that is not blank (nor a BOM) to tell NDJSON ('{') from CSV: a CSV split
         * of NDJSON would repeat the first event in every part. Returns stdin with the bytes read put back in front.
         */
        InputStream sniff(InputStream stdin) throws IOException {
            java.io.ByteArrayOutputStream seen = new java.io.ByteArrayOutputStream();
            boolean inBom = true;
            for (int c; seen.size() < 1 << 16 && (c = stdin.read()) >= 0; ) {
                int at = seen.size();
                seen.write(c);
                inBom = inBom && at < 3 && (byte) c == Splitter.BOM[at];
                if (inBom || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
                stdinNdjson = c == '{';
                break;
            }
            return new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(seen.toByteArray()), stdin);
        }

        void spool(InputStream stdin, Job j) throws IOException {
            OutputStream out;
            try {
                out = Files.newOutputStream(j.input, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw spoolFailure(j, e);
            }
            try (out) {
                byte[] b = new byte[1 << 16];
                for (int n; (n = stdin.read(b)) > 0; ) {
                    try {
                        out.write(b, 0, n);
                    } catch (IOException e) {
                        throw spoolFailure(j, e);
                    }
                }
            }
        }

        static Cli.Failure spoolFailure(Job j, IOException e) {
            return new Cli.Failure("cannot copy stdin into " + shown(j.outDir) + " (it is read twice): " + reason(e) + "; no parts written", e);
        }

        void checkCollisions(List<Job> jobs) {
            Set<String> seen = new LinkedHashSet<>();
            for (Job j : jobs) {
                String key = j.outDir.toAbsolutePath().normalize() + "/" + j.base + "/" + j.ext;
                if (!seen.add(key))
                    throw Cli.usage("two inputs would write the same part names (" + j.base + "_N." + j.ext + " in the same folder): use -o or --name");
                if (j.finalPaths != null) {
                    for (Path p : j.finalPaths) {
                        if (!seen.add(p.toAbsolutePath().normalize().toString()))
                            throw Cli.usage("two inputs would write the same part " + p + ": use -o or --name");
                    }
                }
            }
        }

        void warn(String msg) {
            warnings++;
            if (warnings <= 20) err.println("csv-splitter: warning: " + msg);
            else if (warnings == 21) err.println("csv-splitter: warning: (more warnings are only counted)");
            err.flush();
        }

        void deleteTemps() {
            for (Path t : List.copyOf(tempDirs)) {
                try (var walk = Files.walk(t)) {
                    for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                } catch (IOException | java.io.UncheckedIOException ignored) {
                    // best effort: a temporary folder that can't be deleted is harmless
                }
            }
        }

        /** The manifest in a temp file beside it (moved into place with the parts). */
        Path writeManifest(Path manifest, List<Job> jobs) throws IOException {
            StringBuilder sb = new StringBuilder("{\n  \"parts\": [");
            boolean first = true;
            for (Job j : jobs) {
                for (int i = 0; i < j.written.size(); i++) {
                    Written w = j.written.get(i);
                    Part p = w.part();
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
                throw new Cli.Failure("cannot write " + manifest + ": " + reason(e) + "; no parts written", e);
            }
        }

        static void moveManifest(Path tmp, Path manifest) {
            try {
                Files.move(tmp, manifest.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new Cli.Failure("cannot write " + manifest + ": " + reason(e) + "; no parts written", e);
            }
        }
    }

    static String reason(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    // ================================================================== one input

    static final class Job {
        final Run run;
        final String display;
        final Path input;
        final boolean stdinSpool;
        final Path outDir, tmpDir;
        final String base, ext;
        final boolean ndjson;
        final List<Written> written = new ArrayList<>();
        List<Path> finalPaths;
        long records, inputSize;

        Job(Run run, String display, Path input, boolean stdinSpool, Path outDir, Path tmpDir, String base, String ext, boolean ndjson) {
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
            String t = run.s.nameTemplate;
            if (run.s.gzip && !t.endsWith(".gz")) t += ".gz";
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
            if (run.s.force) return;
            List<Path> ex = existingParts();
            if (!ex.isEmpty())
                throw new Cli.Failure("already exists: " + outDir.resolve(ex.get(0).getFileName()) + (ex.size() > 1 ? " (and " + (ex.size() - 1) + " more parts)" : "")
                        + " (use --force to overwrite)");
        }

        /** A write failure (a full disk) as one line naming the part and the folder. */
        Cli.Failure cannotWrite(int part, IOException e) {
            return new Cli.Failure("cannot write part " + part + " of " + display + " in " + Run.shown(outDir) + ": " + reason(e)
                    + "; no parts written", e);
        }

        void finalNames() {
            int width = String.valueOf(Math.max(1, written.size())).length();
            finalPaths = new ArrayList<>();
            for (int i = 0; i < written.size(); i++) finalPaths.add(outDir.resolve(partName(i + 1, width)));
        }

        /** Renames the parts to their final names; each one renamed is added to moved (undone if a later one fails). */
        void moveIntoPlace(List<Path> moved) throws IOException {
            if (!run.s.force) {
                for (Path p : finalPaths) if (Files.exists(p)) throw new FileAlreadyExistsException(p.toString());
            }
            Set<String> mine = new LinkedHashSet<>();
            for (Path p : finalPaths) mine.add(p.getFileName().toString());
            List<Path> stale = new ArrayList<>();
            if (run.s.force) for (Path p : existingParts()) if (!mine.contains(p.getFileName().toString())) stale.add(p);
            for (int i = 0; i < written.size(); i++) {
                Path target = finalPaths.get(i);
                try {
                    if (run.s.force) Files.move(written.get(i).tmp(), target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    else Files.move(written.get(i).tmp(), target, StandardCopyOption.ATOMIC_MOVE);
                } catch (FileAlreadyExistsException e) {
                    throw e;
                } catch (IOException e) {
                    throw new Cli.Failure("cannot write " + target + ": " + reason(e) + "; no parts written", e);
                }
                moved.add(target);
            }
            if (!stale.isEmpty())
                run.warn(display + ": " + stale.size() + " older part file(s) remain from an earlier run, e.g. " + stale.get(0));
        }
    }

    // ================================================================== the scan

    /**
     * Finds record boundaries and decides the parts. Reads the input once, sequentially, into a few rotating
     * direct buffers; after each chunk is scanned it goes to the {@link Writer} thread with the cuts decided in it,
     * so scanning and writing overlap.
     */
    static final class Splitter implements CsvCore.RecordEnds {
        /** Bytes read and scanned at a time (a multiple of 8); tests make it tiny to cross chunk edges often. */
        static int chunkSize = 512 << 10;
        static final int BUFFERS = 4;
        static final byte[] BOM = CsvCore.BOM;
        /** A longer header is not held in memory (it would grow with the input): each part copies it from the input. */
        static final int MAX_PREFIX_IN_MEMORY = 1 << 20;

        final Run run;
        final Settings s;
        final Job job;
        final boolean csv;

        // decisions
        boolean headerPending;
        long bomLen, headerEnd, prefixLen, prefixCur;
        byte[] prefix = new byte[0]; // null: the header is long, parts get it copied from the input file
        boolean prefixBom;
        long partStart, prevEnd, rowsInPart, records, emittedRecords;
        int partCount;
        long[] targets; // PARTS mode: cut at the first record end >= targets[nextTarget]
        int nextTarget;
        long quoteState; // 0 outside quotes, HIGH inside
        List<Part> cuts = new ArrayList<>(); // parts decided in the current chunk
        FileChannel in;

        Splitter(Run run, Job job) {
            this.run = run;
            this.s = run.s;
            this.job = job;
            this.csv = !job.ndjson;
        }

        void run() throws Exception {
            try (FileChannel ch = FileChannel.open(job.input, StandardOpenOption.READ)) {
                in = ch;
                long size = ch.size();
                job.inputSize = size;
                if (size == 0) {
                    run.warn(job.display + ": empty input, no parts written");
                    return;
                }
                Writer writer = new Writer(this, ch);
                Thread wt = new Thread(writer, "csv-splitter-writer");
                wt.setDaemon(true);
                wt.start();
                boolean ok = false;
                try (Cli.Progress progress = Cli.Progress.bytes("split " + job.display, size, run.quiet)) {
                    scan(ch, size, progress, writer);
                    ok = true;
                } finally {
                    writer.queue.put(ok ? Writer.END : Writer.ABORT);
                    wt.join();
                    if (!ok) writer.stopCompression();
                }
                try {
                    writer.rethrow();
                    job.written.addAll(writer.results());
                } finally {
                    writer.stopCompression();
                }
                job.records = records;
            }
        }

        void scan(FileChannel ch, long size, Cli.Progress progress, Writer writer) throws Exception {
            int cap = (int) Math.min(chunkSize, Math.max(8, (size + 7) & ~7L));
            for (int i = 0; i < BUFFERS; i++) writer.free.put(ByteBuffer.allocateDirect(cap).order(ByteOrder.LITTLE_ENDIAN));
            long pos = 0;
            boolean first = true;
            while (pos < size) {
                ByteBuffer buf = writer.free.take();
                writer.rethrow(); // a write failed (a full disk): stop now
                buf.clear();
                while (buf.hasRemaining()) {
                    int r = ch.read(buf, pos + buf.position());
                    if (r < 0) break;
                }
                int n = buf.position();
                if (n == 0) { // the file shrank while we read it
                    writer.free.put(buf);
                    break;
                }
                if (first) {
                    first = false;
                    start(buf, n);
                }
                scanChunk(buf, n, pos);
                buf.limit(n);
                writer.queue.put(new Writer.Chunk(buf, pos, cuts, prevEnd));
                cuts = new ArrayList<>();
                pos += n;
                progress.add(n);
            }
            end(pos);
            writer.queue.put(new Writer.Chunk(null, pos, cuts, pos));
        }

        /** The first chunk: gzip input is refused, a BOM is noted, the header (if any) starts. */
        void start(ByteBuffer buf, int n) {
            if (n >= 2 && buf.get(0) == (byte) 0x1f && buf.get(1) == (byte) 0x8b)
                throw new Cli.Failure(job.display + ": looks gzip-compressed; decompress it on the way in: " + gunzipCommand());
            if (n >= 3 && buf.get(0) == BOM[0] && buf.get(1) == BOM[1] && buf.get(2) == BOM[2]) bomLen = 3;
            headerPending = csv && s.header();
            if (!headerPending) setupPrefix(bomLen);
        }

        /** The command that splits this input decompressed into the parts splitting it plain would give. */
        String gunzipCommand() {
            String cmd = " | csv-splitter.java -" + run.optionsForHint;
            if (!job.outDir.toString().isEmpty()) cmd += " -o " + shellQuoted(job.outDir.toString());
            if (job.stdinSpool) return "... | gzip -dc" + cmd;
            String plain = job.input.getFileName().toString().replaceFirst("(?i)\\.(gz|gzip)$", "");
            int dot = plain.lastIndexOf('.');
            String base = dot <= 0 ? plain : plain.substring(0, dot), ext = dot <= 0 ? "csv" : plain.substring(dot + 1);
            cmd += " --name " + shellQuoted(s.nameTemplate().replace("{base}", base).replace("{ext}", ext));
            if (s.format().equals("auto") && (ext.equalsIgnoreCase("ndjson") || ext.equalsIgnoreCase("jsonl"))) cmd += " --format ndjson";
            return "gzip -dc " + shellQuoted(job.input.toString()) + cmd;
        }

        /** The header ends at {@code end} (or there is none): the repeated prefix, its size check, the targets. */
        void setupPrefix(long end) {
            headerEnd = end;
            prevEnd = end;
            prefixBom = bomLen > 0 && s.bomEach();
            prefixLen = (prefixBom ? 3 : 0) + end - bomLen;
            if (prefixLen > MAX_PREFIX_IN_MEMORY) {
                prefix = null;
            } else {
                try {
                    ByteBuffer h = ByteBuffer.allocate((int) (end - bomLen));
                    while (h.hasRemaining()) if (in.read(h, bomLen + h.position()) < 0) break;
                    if (h.hasRemaining()) throw new IOException(job.display + ": the input shrank while it was being split");
                    prefix = new byte[(int) prefixLen];
                    if (prefixBom) System.arraycopy(BOM, 0, prefix, 0, 3);
                    System.arraycopy(h.array(), 0, prefix, prefixBom ? 3 : 0, h.position());
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            if (s.mode() == Mode.SIZE && (s.maxSize() < headerEnd || s.maxSize() < prefixLen))
                throw Cli.usage(job.display + ": --max-size " + s.maxSize() + " B is smaller than the header ("
                        + Math.max(headerEnd, prefixLen) + " bytes with its line end" + (bomLen > 0 ? " and BOM" : "") + ")");
            if (s.mode() == Mode.PARTS) {
                long dataLen = job.inputSize - end;
                targets = new long[Math.max(0, s.parts() - 1)];
                for (int i = 1; i < s.parts(); i++) targets[i - 1] = end + ceilDiv((long) i * dataLen, s.parts());
            }
        }

        static long ceilDiv(long a, long b) {
            return -Math.floorDiv(-a, b);
        }

        /** SWAR scan of one chunk; {@code base} is its position in the file. */
        void scanChunk(ByteBuffer buf, int n, long base) {
            if (csv) quoteState = CsvCore.scanRecordEnds(buf, n, base, quoteState, this);
            else CsvCore.scanLineEnds(buf, n, base, this);
        }

        /** A record ends at {@code e} (exclusive; just after its newline, or at the end of the file). */
        @Override
        public void record(long e) {
            if (headerPending) {
                headerPending = false;
                setupPrefix(e);
                return;
            }
            records++;
            switch (s.mode()) {
                case SIZE -> {
                    long cap = s.maxSize();
                    if (e - partStart + prefixCur > cap) {
                        if (rowsInPart > 0) cut(prevEnd);
                        if (e - partStart + prefixCur > cap) { // this record alone is too big
                            rowsInPart++;
                            prevEnd = e;
                            run.warn(job.display + ": record " + records + " is " + Cli.humanBytes(e - partStart + prefixCur)
                                    + (prefixCur > 0 || headerEnd > bomLen ? " with the header" : "") + ", over --max-size "
                                    + Cli.humanBytes(cap) + ": it gets part " + (partCount + 1) + " of its own");
                            cut(e);
                            return;
                        }
                    }
                    rowsInPart++;
                    prevEnd = e;
                }
                case ROWS -> {
                    rowsInPart++;
                    prevEnd = e;
                    if (rowsInPart == s.rows()) cut(e);
                }
                case PARTS -> {
                    rowsInPart++;
                    prevEnd = e;
                    if (nextTarget < targets.length && e >= targets[nextTarget]) {
                        cut(e);
                        while (nextTarget < targets.length && targets[nextTarget] <= e) nextTarget++;
                    }
                }
            }
        }

        /** The current part ends at {@code end}; the next one starts there. */
        void cut(long end) {
            partCount++;
            cuts.add(new Part(partCount, partStart, end, partCount > 1, rowsInPart, emittedRecords + 1));
            emittedRecords += rowsInPart;
            rowsInPart = 0;
            partStart = end;
            prefixCur = prefixLen;
        }

        void end(long size) throws IOException {
            if (quoteState != 0) {
                long line = 1 + countNewlines(prevEnd);
                String what = headerPending ? "the header" : "record " + (records + 1);
                throw new Cli.Failure(job.display + ": unclosed quote: " + what + ", starting on line " + line
                        + ", runs to the end of the file; no parts written");
            }
            if (prevEnd < size || headerPending) record(size); // the last record has no newline, or a header-only file without one
            if (rowsInPart > 0 || partCount == 0) cut(size);
        }

        long countNewlines(long upTo) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(1 << 20);
            long n = 0, pos = 0;
            while (pos < upTo) {
                b.clear();
                if (upTo - pos < b.capacity()) b.limit((int) (upTo - pos));
                int r = in.read(b, pos);
                if (r <= 0) break;
                byte[] a = b.array();
                for (int i = 0; i < r; i++) if (a[i] == '\n') n++;
                pos += r;
            }
            return n;
        }
    }

    // ================================================================== writing parts

    /**
     * Writes the parts, one after the other, from the scanned chunks (the bytes are read once). Bytes of a part that
     * are no longer in a buffer (the tail of a record that spans chunks) are copied from the input file.
     * Plain parts are written with {@link FileChannel#write}; --gzip and --manifest go through streams.
     */
    static final class Writer implements Runnable {
        record Chunk(ByteBuffer buf, long base, List<Part> cuts, long decided) {}

        static final Chunk END = new Chunk(null, -1, List.of(), -1), ABORT = new Chunk(null, -1, List.of(), -1);

        final Splitter sp;
        final FileChannel in;
        final java.util.concurrent.BlockingQueue<Chunk> queue = new java.util.concurrent.ArrayBlockingQueue<>(Splitter.BUFFERS + 2);
        final java.util.concurrent.BlockingQueue<ByteBuffer> free = new java.util.concurrent.ArrayBlockingQueue<>(Splitter.BUFFERS);
        final List<Written> written = new ArrayList<>();
        volatile Throwable failure;

        // the part being written
        int current = 1;
        long pos; // input bytes [0, pos) are written
        Path tmp;
        FileChannel outCh;
        OutputStream outStream;
        CountingStream counted;
        MessageDigest md;
        byte[] copyBuf;

        Writer(Splitter sp, FileChannel in) {
            this.sp = sp;
            this.in = in;
        }

        @Override
        public void run() {
            try {
                while (true) {
                    Chunk c = queue.take();
                    if (c == END || c == ABORT) break;
                    if (failure == null) {
                        try {
                            for (Part p : c.cuts()) {
                                advance(c, p.end());
                                finishPart(p);
                            }
                            advance(c, c.decided());
                        } catch (IOException e) {
                            failure = sp.job.cannotWrite(current, e);
                        } catch (Throwable t) {
                            failure = t;
                        }
                    }
                    if (c.buf() != null) free.put(c.buf());
                }
            } catch (InterruptedException e) {
                failure = e;
            } finally {
                closeQuietly();
            }
        }

        void rethrow() {
            Throwable t = failure;
            if (t != null) throw sneaky(t);
        }

        @SuppressWarnings("unchecked")
        static <T extends Throwable> RuntimeException sneaky(Throwable t) throws T {
            throw (T) t;
        }

        /** Writes input bytes [pos, to) to the current part: from the file before the chunk, then from the chunk. */
        void advance(Chunk c, long to) throws IOException, NoSuchAlgorithmException {
            if (to <= pos) return;
            open();
            long fromBuf = c.buf() == null ? to : Math.max(pos, c.base());
            if (pos < fromBuf) copyFromFile(pos, Math.min(to, fromBuf));
            if (fromBuf < to) {
                ByteBuffer slice = c.buf().slice((int) (fromBuf - c.base()), (int) (to - fromBuf));
                if (outCh != null) {
                    while (slice.hasRemaining()) outCh.write(slice);
                } else {
                    if (copyBuf == null) copyBuf = new byte[1 << 16];
                    while (slice.hasRemaining()) {
                        int k = Math.min(copyBuf.length, slice.remaining());
                        slice.get(copyBuf, 0, k);
                        outStream.write(copyBuf, 0, k);
                    }
                }
            }
            pos = to;
        }

        void copyFromFile(long from, long to) throws IOException {
            if (outCh != null) {
                while (from < to) {
                    long n = in.transferTo(from, to - from, outCh);
                    if (n <= 0) throw new Cli.Failure(sp.job.display + ": the input shrank while it was being split; no parts written");
                    from += n;
                }
                return;
            }
            ByteBuffer b = ByteBuffer.allocate(1 << 16);
            while (from < to) {
                b.clear();
                if (to - from < b.capacity()) b.limit((int) (to - from));
                int r = in.read(b, from);
                if (r <= 0) throw new Cli.Failure(sp.job.display + ": the input shrank while it was being split; no parts written");
                outStream.write(b.array(), 0, r);
                from += r;
            }
        }

        void open() throws IOException, NoSuchAlgorithmException {
            if (tmp != null) return;
            tmp = sp.job.tmpDir.resolve("part-" + current);
            if (sp.s.gzip() || !sp.s.digest()) { // with --gzip: the plain part first, compressed on the pool
                outCh = FileChannel.open(sp.s.gzip() ? raw(tmp) : tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } else {
                md = sp.s.digest() ? MessageDigest.getInstance("SHA-256") : null;
                OutputStream file = new java.io.BufferedOutputStream(
                        Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), 1 << 16);
                counted = new CountingStream(md == null ? file : new DigestOutputStream(file, md));
                outStream = counted;
            }
            if (current > 1) writePrefix();
        }

        /** The repeated header (and BOM with --bom-each), from memory or, when long, from the input file. */
        void writePrefix() throws IOException {
            byte[] head = sp.prefix != null ? sp.prefix : sp.prefixBom ? Splitter.BOM : new byte[0];
            if (outCh != null) {
                ByteBuffer pre = ByteBuffer.wrap(head);
                while (pre.hasRemaining()) outCh.write(pre);
            } else {
                outStream.write(head);
            }
            if (sp.prefix == null) copyFromFile(sp.bomLen, sp.headerEnd);
        }

        void finishPart(Part p) throws IOException, NoSuchAlgorithmException {
            open();
            long bytes;
            String sha = null;
            if (outCh != null && sp.s.gzip()) {
                outCh.close();
                outCh = null;
                Path gz = tmp;
                compressed.add(zipPool().submit(() -> gzip(p, raw(gz), gz)));
                tmp = null;
                current++;
                return;
            } else if (outCh != null) {
                bytes = outCh.size();
                outCh.close();
                outCh = null;
            } else {
                outStream.close();
                bytes = counted.count;
                if (md != null) sha = HexFormat.of().formatHex(md.digest());
                outStream = null;
            }
            written.add(new Written(p, tmp, bytes, sha));
            tmp = null;
            current++;
        }

        // --gzip: deflate is the slow part (about gzip -6 speed per core), so parts are compressed in parallel
        final List<Future<Written>> compressed = new ArrayList<>();
        ExecutorService zip;

        ExecutorService zipPool() {
            if (zip == null) {
                zip = Executors.newFixedThreadPool(Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), r -> {
                    Thread t = new Thread(r, "csv-splitter-gzip");
                    t.setDaemon(true);
                    return t;
                });
            }
            return zip;
        }

        static Path raw(Path part) {
            return part.resolveSibling(part.getFileName() + ".raw");
        }

        Written gzip(Part p, Path raw, Path gz) throws NoSuchAlgorithmException {
            MessageDigest digest = sp.s.digest() ? MessageDigest.getInstance("SHA-256") : null;
            CountingStream count;
            try {
                try (InputStream in = Files.newInputStream(raw);
                     OutputStream file = new java.io.BufferedOutputStream(
                             Files.newOutputStream(gz, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), 1 << 16)) {
                    count = new CountingStream(digest == null ? file : new DigestOutputStream(file, digest));
                    try (GZIPOutputStream z = new GZIPOutputStream(count, 1 << 16)) {
                        in.transferTo(z);
                    }
                }
                Files.delete(raw);
            } catch (IOException e) {
                throw sp.job.cannotWrite(p.index(), e);
            }
            return new Written(p, gz, count.count, digest == null ? null : HexFormat.of().formatHex(digest.digest()));
        }

        /** After the writer thread ended: the parts in order (waits for the compression of --gzip parts). */
        List<Written> results() throws InterruptedException {
            for (Future<Written> f : compressed) {
                try {
                    written.add(f.get());
                } catch (ExecutionException e) {
                    throw sneaky(e.getCause());
                }
            }
            return written;
        }

        void stopCompression() throws InterruptedException {
            if (zip != null) {
                zip.shutdownNow();
                zip.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
            }
        }

        void closeQuietly() {
            try {
                if (outCh != null) outCh.close();
                if (outStream != null) outStream.close();
            } catch (IOException ignored) {
                // the temporary folder is deleted anyway
            }
        }
    }

    /** Counts the bytes that reach the file. */
    static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
