///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/CsvCore.java
//SOURCES SplitInput.java
//SOURCES SplitScan.java
//SOURCES PartWriter.java
//SOURCES PartsManifest.java
//DESCRIPTION Splits huge CSV (or NDJSON) files into parts under a hard size cap, never cutting a record.
//DESCRIPTION Usage: csv-splitter.java FILE...|- [--max-size 100MB | --rows N | --parts N] [-o DIR] [--name '{base}_{n}.{ext}']
//DESCRIPTION Every part repeats the header and loads on its own; bytes are copied verbatim (quoting, CRLF, BOM kept).
//MAIN CsvSplitter

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

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
 * record only outside quotes (RFC 4180; doubled quotes toggle twice and cancel; the scan is lib/CsvCore's, checked
 * against commons-csv). Only the cut points are decided
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
                "  ./jbang csv-splitter big.csv       # big_1.csv ... (100 MB at most), next to it",
                "  ./jbang csv-splitter big.csv --max-size 10MiB -o parts/ --manifest parts/m.json",
                "  ./jbang csv-splitter big.csv --rows 1000000 --name 'chunk-{n}.csv'",
                "  ./jbang csv-splitter events.ndjson --parts 8 --gzip  # events_1.ndjson.gz ...",
                "  gzip -dc big.csv.gz | ./jbang csv-splitter - -o parts/   # stdin_1.csv ...",
                "  gzip -dc events.ndjson.gz | ./jbang csv-splitter -   # stdin_1.ndjson ... ('{' first: NDJSON)",
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
        @Option(names = "--max-size", paramLabel = "SIZE", converter = CliTypes.PositiveSize.class,
                description = "Hard cap per part in bytes, header included (default 100MB). Units: KB, MB, GB, KiB, MiB, GiB.")
        Long maxSize;

        @Option(names = "--rows", paramLabel = "N", converter = CliTypes.PositiveLong.class,
                description = "N records per part (the header not counted) instead of a size cap.")
        Long rows;

        @Option(names = "--parts", paramLabel = "N", converter = CliTypes.PositiveInt.class,
                description = "N parts of about equal size (by bytes) instead of a size cap.")
        Integer parts;
    }

    @Option(names = {"-o", "--output-dir"}, paramLabel = "DIR", description = "Folder for the parts (created if missing). Default: the input file's folder (stdin: the current folder).")
    Path outputDir;

    @Option(names = "--name", paramLabel = "TEMPLATE", defaultValue = "{base}_{n}.{ext}", converter = PartName.class,
            description = "Part file names: {base} input name without extension, {n} part number, {ext} input extension (default: ${DEFAULT-VALUE}; '.gz' is added with --gzip).")
    String name;

    /** A --name template: a file name (the folder is -o's) with the part number in it. */
    static final class PartName implements CommandLine.ITypeConverter<String> {
        public String convert(String name) {
            if (!name.contains("{n}")) throw new CommandLine.TypeConversionException("must contain {n} (the part number): '" + name + "'");
            if (name.contains("/") || name.contains("\\")) {
                throw new CommandLine.TypeConversionException("a file name, not a path (use -o DIR): '" + name + "'");
            }
            return name;
        }
    }

    enum Format { csv, ndjson, jsonl, auto }

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "auto",
            description = "${COMPLETION-CANDIDATES} (default: auto): .ndjson/.jsonl files, and stdin whose first non-blank byte is '{', are NDJSON (split on lines, no header); anything else CSV.")
    Format format;

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
            mode = Mode.ROWS;
            rows = limit.rows;
        } else if (limit != null && limit.parts != null) {
            mode = Mode.PARTS;
            parts = limit.parts;
        } else if (limit != null && limit.maxSize != null) {
            maxSize = limit.maxSize;
        }
        return new Settings(mode, maxSize, rows, parts, format.name(), !noHeader, bomEach, gzip, manifest != null, name, force);
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
            List<SplitInput> jobs = new ArrayList<>();
            try {
                if (inputs.contains("-") && s.format.equals("auto")) stdin = sniff(stdin);
                for (String in : inputs) jobs.add(prepare(in, outDir));
                checkCollisions(jobs);
                long rows = 0, bytes = 0;
                int parts = 0;
                for (SplitInput j : jobs) {
                    if (j.stdinSpool) spool(stdin, j);
                    new SplitScan(this, j).run();
                    rows += j.records;
                    bytes += j.inputSize;
                    parts += j.written.size();
                }
                // all inputs split: now move every part (and the manifest) into place, all or none
                for (SplitInput j : jobs) j.finalNames();
                checkCollisions(jobs);
                Path manifestTmp = manifest == null ? null : PartsManifest.write(manifest, jobs);
                List<Path> moved = new ArrayList<>();
                try {
                    for (SplitInput j : jobs) j.moveIntoPlace(moved);
                    if (manifest != null) PartsManifest.moveIntoPlace(manifestTmp, manifest);
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
                for (SplitInput j : jobs) dirs.add(j.outDir);
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

        SplitInput prepare(String in, Path outDir) throws IOException {
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
            SplitInput j = new SplitInput(this, isStdin ? "stdin" : in, isStdin ? tmp.resolve("stdin.spool") : input, isStdin,
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
                inBom = inBom && at < 3 && (byte) c == SplitScan.BOM[at];
                if (inBom || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
                stdinNdjson = c == '{';
                break;
            }
            return new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(seen.toByteArray()), stdin);
        }

        void spool(InputStream stdin, SplitInput j) throws IOException {
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

        static Cli.Failure spoolFailure(SplitInput j, IOException e) {
            return new Cli.Failure("cannot copy stdin into " + shown(j.outDir) + " (it is read twice): " + reason(e) + "; no parts written", e);
        }

        void checkCollisions(List<SplitInput> jobs) {
            Set<String> seen = new LinkedHashSet<>();
            for (SplitInput j : jobs) {
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
    }

    static String reason(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
