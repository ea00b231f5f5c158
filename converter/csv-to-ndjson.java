///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/CsvCore.java
//SOURCES FolderInputs.java
//JAVA_OPTIONS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms32m -Xmx160m
//DESCRIPTION Converts CSV to NDJSON with one type per column (integer, float, boolean, null, string), fast.
//DESCRIPTION Usage: csv-to-ndjson.java [FILE...|DIR...|-] [-o FILE|DIR] [--schema FILE] [options]
//DESCRIPTION Writes the Tinybird data source schema (jsonpaths) for the data with --schema.
//MAIN CsvToNdjson

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.Reader;
import java.io.SequenceInputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * CSV to NDJSON with one JSON type per column, decided from the whole input.
 *
 * <p>How: a byte-level RFC 4180 parser (quotes, "" escapes, multi-line fields, CRLF/LF) feeds a writer that copies
 * numbers verbatim and escapes strings straight from the input bytes. Types come from a sample (the first
 * {@code --sample} bytes) and every later value is checked against its column's type while writing; when one does
 * not fit, the whole input is classified and written again, so the types are always those of the whole input and
 * no value is ever altered. Reading (gunzip, transcoding, UTF-8 validation) and writing run on their own threads.
 * Memory is bounded by settings, never by the input: a record is held whole (fields are slices of the read buffer),
 * so --max-record caps it; chunks have a largest size; output buffers keep theirs (a long record is written in pieces).
 */
@Command(name = "csv-to-ndjson", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130, sortOptions = false,
        description = {"Converts CSV to NDJSON (one JSON object a line, keys in header order), with one type per column:",
                "integer (signed 64-bit), float, boolean (true/false in any case), null for empty cells, string otherwise.",
                "Values are never altered: 01234, 0x1F, 6164739959125e55, 3,50 and 20-digit integers stay strings;",
                "timestamps keep their text. Input: files or stdin (-), .gz by extension, UTF-8 (BOM stripped) or --encoding."},
        footer = {"", "Examples:",
                "  csv-to-ndjson.java weather.csv > weather.ndjson",
                "  csv-to-ndjson.java weather.csv -o weather.ndjson.gz --schema weather.datasource",
                "  cat a.csv | csv-to-ndjson.java --delimiter ';' --encoding windows-1252 --stream | head",
                "  csv-to-ndjson.java data/*.csv -o out/        (one .ndjson per input)",
                "  csv-to-ndjson.java data/                     (data/x.csv -> data/x.ndjson, each *.csv and *.csv.gz)",
                "  csv-to-ndjson.java --no-header --types column_3:string --empty omit raw.csv"})
class CsvToNdjson implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;

    @Parameters(paramLabel = "FILE", description = "CSV files (.gz decompressed); - or none: stdin. A folder stands for its *.csv and *.csv.gz files:"
            + " each is converted to its own .ndjson (.ndjson.gz), beside it or into -o DIR, with one summary line per file;"
            + " a file that fails is reported and the others still convert (exit 1).")
    List<String> files = new ArrayList<>();

    @Option(names = {"-r", "--recursive"}, description = "A folder input includes the CSV files of its subfolders (into -o DIR: the same subfolders).")
    boolean recursive;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE|DIR",
            description = "Write to FILE (.gz compresses), or into DIR as <name>.ndjson per input (an existing folder or a path ending in /). Default: stdout."
                    + " A file appears only complete: written to a temp file beside it, renamed at the end (with DIR, all of the run's files together),"
                    + " so a failure (bad input, a full disk, Ctrl-C) leaves no output file and no temp file.")
    String output;

    @Option(names = {"-f", "--force"}, description = "Overwrite existing output files.")
    boolean force;

    @Option(names = {"-d", "--delimiter"}, paramLabel = "CHAR",
            description = "Field delimiter: , ; | tab (or \\t) or any one ASCII character. Default: detected among , ; TAB |.")
    String delimiter;

    @Option(names = "--no-header", description = "The first row is data; columns are named column_1, column_2, ...")
    boolean noHeader;

    @Option(names = "--columns", split = ",", paramLabel = "NAME",
            description = "Column names; the file has no header row (unless --replace-header).")
    List<String> columns;

    @Option(names = "--replace-header", description = "With --columns: the file's header row is skipped and replaced by --columns.")
    boolean replaceHeader;

    @Option(names = "--dedupe-headers", description = "Rename repeated header names to name_2, name_3, ... (default: an error).")
    boolean dedupeHeaders;

    @Option(names = "--encoding", paramLabel = "CHARSET", description = "Input encoding (ISO-8859-1, windows-1252, UTF-16, ...); output is always UTF-8. Default: UTF-8.")
    String encoding = "UTF-8";

    @Option(names = "--allow-ragged", description = "Pad short rows with empty cells and drop the extra cells of long rows (default: an error).")
    boolean allowRagged;

    @Option(names = "--empty", paramLabel = "MODE", description = "Empty cells become: null (default), string (\"\", which makes the column a string column) or omit (no key).")
    String empty = "null";

    @Option(names = "--all-strings", description = "No type inference: every value is a string.")
    boolean allStrings;

    @Option(names = "--types", split = ",", paramLabel = "COL:TYPE",
            description = "Force column types: string, integer, float, boolean (a value that does not fit is an error).")
    List<String> types;

    @Option(names = "--booleans", split = ",", paramLabel = "TRUE/FALSE",
            description = "More boolean spellings besides true/false, e.g. yes/no,1/0,y/n (any case).")
    List<String> booleans;

    @Option(names = "--schema", paramLabel = "FILE",
            description = "Write the Tinybird schema (`col` Type `json:$.col`, one per line) to FILE; FILE.datasource gets a SCHEMA > block. One input only.")
    Path schema;

    @Option(names = "--stream", description = "Write as the input is read: types from the sample only; a later value that does not fit its column is an error (never a wrong value).")
    boolean stream;

    @Option(names = "--sample", paramLabel = "SIZE", converter = Cli.SizeConverter.class,
            description = "Bytes read to guess the types before writing (default: 1MB). Without --stream the guess is checked, so it only affects speed.")
    long sample = 1_000_000;

    @Option(names = "--max-record", paramLabel = "SIZE", converter = Cli.SizeConverter.class,
            description = "Longest record (row) accepted, in bytes (default: 32MB; at least 1MB, at most 1GB). A record is held whole in memory,"
                    + " so the limit bounds memory: a longer one is an error naming its line and column. A larger limit needs about 3 bytes of"
                    + " heap per byte of it: e.g. jbang -R-Xmx1g csv-to-ndjson.java --max-record 256MB ...")
    long maxRecord = DEFAULT_MAX_RECORD;

    static final long DEFAULT_MAX_RECORD = 32_000_000;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new CsvToNdjson()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, () -> {
            Settings s = settings();
            long t0 = System.nanoTime();
            List<String> inputs = files.isEmpty() ? List.of("-") : files;
            Thread cleanup = new Thread(temps::deleteAll, "csv-to-ndjson-cleanup");
            Runtime.getRuntime().addShutdownHook(cleanup); // Ctrl-C: no temp file stays behind
            Totals totals;
            try {
                totals = convertAll(s, inputs);
            } finally {
                temps.deleteAll();
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs anyway
                }
            }
            PrintWriter err = spec.commandLine().getErr();
            String line = Cli.summary("converted", totals.rows, "rows", totals.bytes, Duration.ofNanos(System.nanoTime() - t0));
            if (totals.files + totals.failed == 0 && inputs.size() > 1) line += " from " + inputs.size() + " files";
            if (totals.files + totals.failed > 0) line += " from " + totals.files + (totals.files == 1 ? " file" : " files")
                    + (totals.failed > 0 ? "; " + totals.failed + " failed, not written" : "");
            if (totals.ragged > 0) line += "; " + String.format(Locale.ROOT, "%,d", totals.ragged) + " ragged rows padded or truncated";
            if (totals.restarts > 0 && common.verbose) line += "; types corrected after the sample (" + totals.restarts + " extra pass)";
            if (common.verbose) line += "; " + totals.sequentialChunks + " of " + totals.chunks + " chunks read one record at a time (a cut inside quotes)";
            err.println(line);
            err.flush();
            return totals.failed > 0 ? Cli.EXIT_FAILURE : Cli.EXIT_OK;
        });
    }

    // ================================================================== options -> settings

    Settings settings() {
        Settings s = new Settings();
        if (delimiter != null) s.delim = parseDelimiter(delimiter);
        s.header = !noHeader && (columns == null || replaceHeader);
        if (replaceHeader && columns == null) throw Cli.usage("--replace-header needs --columns");
        if (noHeader && columns != null) throw Cli.usage("use either --no-header or --columns");
        s.columns = columns;
        s.dedupe = dedupeHeaders;
        try {
            s.charset = Charset.forName(encoding);
        } catch (IllegalArgumentException e) {
            throw Cli.usage("unknown --encoding '" + encoding + "' (examples: UTF-8, ISO-8859-1, windows-1252, UTF-16)");
        }
        s.ragged = allowRagged;
        s.empty = switch (empty.toLowerCase(Locale.ROOT)) {
            case "null" -> Settings.EMPTY_NULL;
            case "string" -> Settings.EMPTY_STRING;
            case "omit" -> Settings.EMPTY_OMIT;
            default -> throw Cli.usage("--empty must be null, string or omit, not '" + empty + "'");
        };
        s.allStrings = allStrings;
        if (types != null) {
            for (String t : types) {
                int c = t.lastIndexOf(':');
                if (c <= 0) throw Cli.usage("--types wants COLUMN:TYPE, not '" + t + "'");
                int ty = switch (t.substring(c + 1).strip().toLowerCase(Locale.ROOT)) {
                    case "string", "str", "text" -> T_STRING;
                    case "integer", "int", "int64", "long" -> T_INT;
                    case "float", "double", "float64", "number" -> T_FLOAT;
                    case "boolean", "bool" -> T_BOOL;
                    default -> throw Cli.usage("--types: unknown type '" + t.substring(c + 1) + "' (string, integer, float, boolean)");
                };
                s.forced.put(t.substring(0, c), ty);
            }
        }
        if (booleans != null) {
            for (String b : booleans) {
                String[] tf = b.split("/", -1);
                if (tf.length != 2 || tf[0].isEmpty() || tf[1].isEmpty() || tf[0].equalsIgnoreCase(tf[1])) {
                    throw Cli.usage("--booleans wants TRUE/FALSE pairs such as yes/no, not '" + b + "'");
                }
                s.trueWords.add(tf[0].toLowerCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8));
                s.falseWords.add(tf[1].toLowerCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8));
            }
        }
        s.stream = stream;
        if (sample < 1) throw Cli.usage("--sample must be positive");
        s.sampleBytes = (int) Math.min(sample, 256L << 20);
        s.schema = schema != null;
        s.quiet = common.quiet;
        if (maxRecord < 1_000_000 || maxRecord > 1L << 30) throw Cli.usage("--max-record must be between 1MB and 1GiB, not " + maxRecord + " bytes");
        long heap = Runtime.getRuntime().maxMemory();
        if (maxRecord > DEFAULT_MAX_RECORD && 3 * maxRecord + (64L << 20) > heap) {
            throw Cli.usage("--max-record " + Cli.humanBytes(maxRecord) + " needs about " + Cli.humanBytes(3 * maxRecord + (64L << 20))
                    + " of heap and this JVM has " + Cli.humanBytes(heap) + ": give it more, e.g. jbang -R-Xmx" + ((3 * maxRecord >> 30) + 1)
                    + "g csv-to-ndjson.java ...");
        }
        s.maxRecord = maxRecord;
        return s;
    }

    static byte parseDelimiter(String d) {
        String v = switch (d.toLowerCase(Locale.ROOT)) {
            case "tab", "\\t", "\t" -> "\t";
            case "comma" -> ",";
            case "semicolon" -> ";";
            case "pipe" -> "|";
            default -> d;
        };
        if (v.length() != 1 || v.charAt(0) > 127 || "\"\r\n".indexOf(v.charAt(0)) >= 0) {
            throw Cli.usage("--delimiter must be one ASCII character other than a quote or a line break, not '" + d + "'");
        }
        return (byte) v.charAt(0);
    }

    // ================================================================== driving the conversion

    static final class Totals {
        long rows, bytes, ragged, chunks, sequentialChunks;
        int restarts;
        int files, failed; // a run with a folder among its inputs: files converted, files that failed

        void add(Totals t) {
            rows += t.rows;
            bytes += t.bytes;
            ragged += t.ragged;
            chunks += t.chunks;
            sequentialChunks += t.sequentialChunks;
            restarts += t.restarts;
        }
    }

    Totals convertAll(Settings s, List<String> inputs) throws Exception {
        if (inputs.stream().filter("-"::equals).count() > 1) throw Cli.usage("stdin (-) can be read only once");
        boolean toDir = output != null && (output.endsWith("/") || Files.isDirectory(Path.of(output)));
        if (inputs.stream().anyMatch(FolderInputs::isFolder)) {
            if (output == null || toDir) return convertEach(s, FolderInputs.plan(inputs, toDir ? Path.of(output) : null, recursive));
            inputs = FolderInputs.expand(inputs, recursive);
        }
        if (schema != null && inputs.size() != 1) throw Cli.usage("--schema works with one input file");
        if (schema != null && Files.exists(schema) && !force) throw new java.nio.file.FileAlreadyExistsException(schema.toString());
        Totals totals = new Totals();
        List<Path[]> done = new ArrayList<>(); // {complete temp file, final name}: all renamed at the end, or none
        try {
            try (Cli.Progress progress = Cli.Progress.bytes("csv-to-ndjson", totalSize(inputs), s.quiet)) {
                if (toDir) {
                    Path dir = Path.of(output);
                    try {
                        Files.createDirectories(dir);
                    } catch (IOException e) {
                        throw cannotWrite(dir, e);
                    }
                    for (String in : inputs) {
                        if (in.equals("-")) throw Cli.usage("stdin has no name: with -o DIR give files");
                        Path target = dir.resolve(FolderInputs.outputName(in));
                        if (Files.exists(target) && !force) throw new java.nio.file.FileAlreadyExistsException(target.toString());
                    }
                    for (String in : inputs) {
                        Path target = dir.resolve(FolderInputs.outputName(in));
                        done.add(new Path[] {convertToFile(s, List.of(in), target, totals, progress), target});
                    }
                } else if (output != null) {
                    Path target = Path.of(output);
                    if (Files.exists(target) && !force) throw new java.nio.file.FileAlreadyExistsException(target.toString());
                    done.add(new Path[] {convertToFile(s, inputs, target, totals, progress), target});
                } else {
                    convertToStdout(s, inputs, totals, progress);
                }
            }
            if (schema != null) done.add(new Path[] {writeTemp(schema, schemaText), schema});
            publishAll(done);
        } finally {
            for (Path[] d : done) deleteQuietly(d[0]);
        }
        return totals;
    }

    static long totalSize(List<String> inputs) {
        long t = 0;
        for (String in : inputs) {
            try {
                if (in.equals("-") || in.endsWith(".gz")) return -1;
                t += Files.size(Path.of(in));
            } catch (IOException e) {
                return -1;
            }
        }
        return t;
    }

    /**
     * A folder among the inputs: each input to its own file, published together at the end; a file that fails is
     * reported in one line and the others still convert.
     */
    Totals convertEach(Settings s, List<FolderInputs.Item> items) throws Exception {
        if (schema != null && items.size() != 1) throw Cli.usage("--schema works with one input file");
        if (schema != null && Files.exists(schema) && !force) throw new java.nio.file.FileAlreadyExistsException(schema.toString());
        if (!force) {
            for (FolderInputs.Item it : items)
                if (Files.exists(it.target())) throw new java.nio.file.FileAlreadyExistsException(it.target().toString());
        }
        PrintWriter err = spec.commandLine().getErr();
        Totals totals = new Totals();
        List<Path[]> done = new ArrayList<>();
        try {
            try (Cli.Progress progress = Cli.Progress.bytes("csv-to-ndjson", totalSize(items.stream().map(FolderInputs.Item::input).toList()), s.quiet)) {
                for (FolderInputs.Item it : items) {
                    Totals one = new Totals();
                    long t0 = System.nanoTime();
                    try {
                        done.add(new Path[] {convertToFile(s, List.of(it.input()), it.target(), one, progress), it.target()});
                        totals.files++;
                        err.println(Cli.summary(it.input() + " -> " + it.target(), one.rows, "rows", one.bytes, Duration.ofNanos(System.nanoTime() - t0)));
                    } catch (Exception e) {
                        Throwable t = e;
                        while ((t instanceof java.io.UncheckedIOException || t instanceof java.util.concurrent.ExecutionException
                                || t.getClass() == RuntimeException.class) && t.getCause() != null) t = t.getCause();
                        String line = Cli.describe(t);
                        if (line == null || t instanceof InterruptedException) throw e; // a bug or Ctrl-C ends the run
                        totals.failed++;
                        err.println("csv-to-ndjson: " + (line.startsWith(it.input()) ? line : it.input() + ": " + line));
                    }
                    err.flush();
                    totals.add(one);
                }
            }
            if (schema != null && !done.isEmpty()) done.add(new Path[] {writeTemp(schema, schemaText), schema});
            publishAll(done);
        } finally {
            for (Path[] d : done) deleteQuietly(d[0]);
        }
        return totals;
    }

    /** The run's temporary files: removed at the end of the run, after a failure, and on Ctrl-C (a shutdown hook). */
    static final class Temps {
        final java.util.Set<Path> paths = java.util.concurrent.ConcurrentHashMap.newKeySet();

        /** A new temp file in dir; write errors name shownAs (the file the user asked for). */
        Path create(Path dir, String prefix, String suffix, Path shownAs) {
            try {
                Path p = dir == null ? Files.createTempFile(prefix, suffix) : Files.createTempFile(dir, prefix, suffix);
                paths.add(p);
                return p;
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        void deleteAll() {
            for (Path p : List.copyOf(paths)) {
                deleteQuietly(p);
                paths.remove(p);
            }
        }
    }

    final Temps temps = new Temps();

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a temp file that cannot be deleted is reported by nothing better than the failure at hand
        }
    }

    /** A write failure (a full disk, a read-only folder) as one line that names the file. */
    static Cli.Failure cannotWrite(Path file, Throwable e) {
        return new Cli.Failure("cannot write " + file + ": " + reason(e), e);
    }

    static String reason(Throwable e) {
        if (e instanceof Cli.Failure f) return f.getMessage();
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        if (e instanceof java.nio.file.FileSystemException f) return e.getClass().getSimpleName() + " " + f.getFile();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * Converts the inputs into a temp file next to target and returns it, complete and closed (the caller renames it
     * into place); on failure the temp files are gone.
     */
    Path convertToFile(Settings s, List<String> inputs, Path target, Totals totals, Cli.Progress progress) throws Exception {
        Path parent = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw cannotWrite(target, e);
        }
        boolean gz = target.getFileName().toString().endsWith(".gz");
        Path tmp = temps.create(parent, "." + target.getFileName(), ".tmp", target);
        List<Path> parts = new ArrayList<>();
        boolean ok = false;
        try {
            if (!gz && inputs.size() == 1 && !s.stream) {
                convertOne(s, inputs.get(0), tmp, target, null, totals, progress);
            } else if (s.stream) {
                try (OutputStream os = open(tmp, gz, target)) {
                    for (String in : inputs) convertOne(s, in, null, target, os, totals, progress);
                }
            } else {
                for (String in : inputs) {
                    Path part = temps.create(parent, "." + target.getFileName(), ".part", target);
                    parts.add(part);
                    convertOne(s, in, part, target, null, totals, progress);
                }
                try (OutputStream os = open(tmp, gz, target)) {
                    for (Path p : parts) Files.copy(p, os);
                }
            }
            ok = true;
            return tmp;
        } finally {
            if (!ok) deleteQuietly(tmp);
            for (Path p : parts) deleteQuietly(p);
        }
    }

    /** Renames complete temp files to their final names; if one rename fails, those already renamed are removed. */
    static void publishAll(List<Path[]> done) {
        List<Path> published = new ArrayList<>();
        try {
            for (Path[] d : done) {
                publish(d[0], d[1]);
                published.add(d[1]);
            }
        } catch (RuntimeException e) {
            for (Path p : published) deleteQuietly(p);
            throw e;
        }
    }

    /** Gives the temp file ordinary permissions (temp files are created owner-only) and renames it into place. */
    static void publish(Path tmp, Path target) {
        try {
            try {
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw cannotWrite(target, e);
        }
    }

    /** A buffered (or gzip) stream to the temp file p; write errors name shownAs. */
    static OutputStream open(Path p, boolean gz, Path shownAs) throws IOException {
        OutputStream file;
        try {
            file = Files.newOutputStream(p, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw cannotWrite(shownAs, e);
        }
        OutputStream os = new Named(file, shownAs);
        return gz ? new GZIPOutputStream(os, 1 << 16) : new java.io.BufferedOutputStream(os, 1 << 16);
    }

    /** A file's write errors (a full disk) as a one-line failure naming the file the user asked for. */
    static final class Named extends java.io.FilterOutputStream {
        final Path shownAs;

        Named(OutputStream out, Path shownAs) {
            super(out);
            this.shownAs = shownAs;
        }

        @Override
        public void write(int b) {
            try {
                out.write(b);
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void flush() {
            try {
                out.flush();
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void close() {
            try {
                out.close();
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }
    }

    void convertToStdout(Settings s, List<String> inputs, Totals totals, Cli.Progress progress) throws Exception {
        OutputStream stdout = stdout();
        if (s.stream) {
            for (String in : inputs) convertOne(s, in, null, null, stdout, totals, progress);
            stdout.flush();
            return;
        }
        for (String in : inputs) {
            Path part = temps.create(null, "csv-to-ndjson", ".ndjson", Path.of(System.getProperty("java.io.tmpdir")));
            try {
                convertOne(s, in, part, part, null, totals, progress);
                Files.copy(part, stdout);
                stdout.flush();
            } finally {
                deleteQuietly(part);
            }
        }
    }

    /** Where data goes when there is no -o: tests set this; the script writes to the process's stdout. */
    OutputStream stdoutOverride;

    OutputStream stdout() {
        if (stdoutOverride != null) return stdoutOverride;
        return new java.io.FileOutputStream(java.io.FileDescriptor.out) {
            @Override
            public void close() throws IOException {
                flush(); // never close the process's stdout
            }
        };
    }

    /** The --schema text of the (one) input, published with the data at the end. */
    String schemaText;

    /** Converts one input to the file part (restartable) or to the stream out (--stream); write errors name shownAs. */
    void convertOne(Settings s, String input, Path part, Path shownAs, OutputStream out, Totals totals, Cli.Progress progress) throws Exception {
        Source src = input.equals("-") ? Source.stdin(s, temps) : Source.file(Path.of(input), s);
        try {
            Job job = new Job(s, src, progress);
            job.shownAs = shownAs;
            job.run(part, out);
            totals.rows += job.rows;
            totals.bytes += job.bytesIn;
            totals.ragged += job.raggedRows;
            totals.restarts += job.restarts;
            totals.chunks += job.chunks;
            totals.sequentialChunks += job.sequentialChunks;
            if (schema != null) schemaText = job.schemaText(schema.getFileName().toString().endsWith(".datasource"));
        } finally {
            src.cleanup();
        }
    }

    /** text in a temp file next to target, complete and closed. */
    Path writeTemp(Path target, String text) {
        Path parent = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw cannotWrite(target, e);
        }
        Path tmp = temps.create(parent, "." + target.getFileName(), ".tmp", target);
        try {
            Files.writeString(tmp, text);
            return tmp;
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw cannotWrite(target, e);
        }
    }

    // ================================================================== settings and types

    static final int T_UNDECIDED = 0, T_STRING = 1, T_INT = 2, T_FLOAT = 3, T_BOOL = 4;
    static final int M_INT = 1, M_FLOAT = 2, M_BOOL = 4, M_ALL = 7;
    static final String[] TYPE_NAMES = {"undecided", "string", "integer", "float", "boolean"};

    static final class Settings {
        static final int EMPTY_NULL = 0, EMPTY_STRING = 1, EMPTY_OMIT = 2;
        byte delim; // 0: detect
        boolean header = true, dedupe, ragged, allStrings, stream, schema, quiet;
        List<String> columns;
        Charset charset = StandardCharsets.UTF_8;
        int empty = EMPTY_NULL;
        Map<String, Integer> forced = new LinkedHashMap<>();
        List<byte[]> trueWords = new ArrayList<>(), falseWords = new ArrayList<>();
        int sampleBytes = 1_000_000;
        long maxRecord = DEFAULT_MAX_RECORD;

        boolean utf8() {
            return charset.equals(StandardCharsets.UTF_8);
        }
    }

    static int typeOf(int mask) {
        if ((mask & M_BOOL) != 0) return T_BOOL;
        if ((mask & M_INT) != 0) return T_INT;
        if ((mask & M_FLOAT) != 0) return T_FLOAT;
        return T_STRING;
    }

    // ================================================================== the input: a re-openable byte source

    /** An input that can be opened again (a file, or stdin spooled to a temp file while it is read). */
    abstract static class Source {
        final String name;
        final Settings s;

        Source(String name, Settings s) {
            this.name = name;
            this.s = s;
        }

        /** The raw bytes from the start (still compressed, still in the input's encoding). */
        abstract InputStream openRaw() throws IOException;

        abstract boolean reopenable();

        void cleanup() throws IOException {}

        /** The decoded stream: gunzip when the bytes say gzip, transcoding to UTF-8; BOM and validation are in Prefetch. */
        InputStream open() throws IOException {
            InputStream raw = new java.io.BufferedInputStream(openRaw(), 1 << 16);
            raw.mark(2);
            int a = raw.read(), b = raw.read();
            raw.reset();
            InputStream in = raw;
            if (a == 0x1f && b == 0x8b) in = new GZIPInputStream(raw, 1 << 16);
            if (!s.utf8()) in = new Transcoder(in, s.charset);
            return in;
        }

        static Source file(Path p, Settings s) throws IOException {
            if (Files.isDirectory(p)) throw new Cli.Failure(p + ": is a folder, not a CSV file");
            if (!Files.exists(p)) throw new java.nio.file.NoSuchFileException(p.toString());
            return new Source(p.toString(), s) {
                InputStream openRaw() throws IOException {
                    return Files.newInputStream(p);
                }

                boolean reopenable() {
                    return true;
                }
            };
        }

        /** stdin: read as it comes with --stream; otherwise first copied to a temp file, so a second pass can read it. */
        static Source stdin(Settings s, Temps temps) throws IOException {
            if (s.stream) {
                return new Source("stdin", s) {
                    boolean opened;

                    InputStream openRaw() {
                        if (opened) throw new IllegalStateException("stdin read twice");
                        opened = true;
                        return STDIN.get();
                    }

                    boolean reopenable() {
                        return false;
                    }
                };
            }
            Path spool = temps.create(null, "csv-to-ndjson-stdin", ".csv", Path.of(System.getProperty("java.io.tmpdir")));
            try (OutputStream os = new Named(Files.newOutputStream(spool, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), spool)) {
                STDIN.get().transferTo(os);
            } catch (IOException | RuntimeException e) {
                deleteQuietly(spool);
                throw e;
            }
            return new Source("stdin", s) {
                InputStream openRaw() throws IOException {
                    return Files.newInputStream(spool);
                }

                boolean reopenable() {
                    return true;
                }

                @Override
                void cleanup() throws IOException {
                    Files.deleteIfExists(spool);
                }
            };
        }
    }

    /** The process's stdin; tests put their own here. */
    static final ThreadLocal<InputStream> STDIN_OVERRIDE = new ThreadLocal<>();
    static final java.util.function.Supplier<InputStream> STDIN = () -> {
        InputStream o = STDIN_OVERRIDE.get();
        return o != null ? o : new java.io.FileInputStream(java.io.FileDescriptor.in);
    };

    /** Any charset to UTF-8 bytes. */
    static final class Transcoder extends InputStream {
        final Reader reader;
        final char[] chars = new char[1 << 15];
        byte[] out = new byte[0];
        int pos, lim;
        char pendingHigh;
        boolean eof;

        Transcoder(InputStream in, Charset cs) {
            this.reader = new InputStreamReader(in, cs.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT));
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (pos >= lim) {
                if (eof) return -1;
                int start = 0;
                if (pendingHigh != 0) {
                    chars[0] = pendingHigh;
                    pendingHigh = 0;
                    start = 1;
                }
                int n;
                try {
                    n = reader.read(chars, start, chars.length - start);
                } catch (java.nio.charset.CharacterCodingException e) {
                    throw new Cli.Failure("the input is not valid in its --encoding: " + e.getMessage());
                }
                if (n < 0) {
                    eof = true;
                    n = 0;
                }
                int total = start + n;
                if (!eof && total > 0 && Character.isHighSurrogate(chars[total - 1])) pendingHigh = chars[--total];
                out = new String(chars, 0, total).getBytes(StandardCharsets.UTF_8);
                pos = 0;
                lim = out.length;
            }
            int k = Math.min(len, lim - pos);
            System.arraycopy(out, pos, b, off, k);
            pos += k;
            return k;
        }

        @Override
        public void close() throws IOException {
            reader.close();
        }
    }

    // ================================================================== reading on its own thread, with UTF-8 validation

    static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    /**
     * Reads the decoded stream on a background thread in 1 MiB chunks, strips a UTF-8 BOM and validates UTF-8
     * there (errors name the byte offset); the parser copies chunks out.
     */
    static final class Prefetch extends InputStream {
        static final byte[] END = new byte[0];
        final BlockingQueue<Object> full = new ArrayBlockingQueue<>(4);
        final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(6);
        final Thread thread;
        final String name;
        volatile boolean closed;
        byte[] cur;
        int curPos, curLim;
        boolean done;

        Prefetch(InputStream in, String name) {
            this.name = name;
            for (int i = 0; i < 5; i++) free.add(new byte[1 << 20]);
            thread = new Thread(() -> pump(in), "csv-reader");
            thread.setDaemon(true);
            thread.start();
        }

        private void pump(InputStream in) {
            Utf8 utf8 = new Utf8();
            long offset = 0;
            boolean first = true;
            try (in) {
                while (!closed) {
                    byte[] b = free.take();
                    int n = 0;
                    while (n < b.length) {
                        int r = in.read(b, n, b.length - n);
                        if (r < 0) break;
                        n += r;
                        if (n >= 1 << 16 && in.available() <= 0) break; // a pipe: hand over what we have
                    }
                    if (n == 0) break;
                    int start = 0;
                    if (first) {
                        first = false;
                        if (n >= 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF) start = 3;
                    }
                    long bad = utf8.check(b, start, n, offset);
                    if (bad >= 0) throw badUtf8(bad);
                    offset += n;
                    full.put(new int[] {start, n});
                    full.put(b);
                }
                if (utf8.need > 0) throw badUtf8(utf8.seqStart);
                full.put(END);
            } catch (InterruptedException e) {
                // closed
            } catch (Throwable t) {
                try {
                    full.put(t);
                } catch (InterruptedException ignored) {
                    // closed
                }
            }
        }

        Cli.Failure badUtf8(long offset) {
            return new Cli.Failure(name + ": invalid UTF-8 at byte offset " + offset
                    + " (use --encoding, e.g. --encoding windows-1252 or ISO-8859-1)");
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            while (cur == null || curPos >= curLim) {
                if (done) return -1;
                if (cur != null) {
                    free.add(cur);
                    cur = null;
                }
                Object o;
                try {
                    o = full.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
                if (o == END) {
                    done = true;
                    return -1;
                }
                if (o instanceof Throwable t) {
                    done = true;
                    if (t instanceof IOException io) throw io;
                    if (t instanceof RuntimeException re) throw re;
                    throw new IOException(t);
                }
                int[] range = (int[]) o;
                try {
                    cur = (byte[]) full.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
                curPos = range[0];
                curLim = range[1];
            }
            int k = Math.min(len, curLim - curPos);
            System.arraycopy(cur, curPos, b, off, k);
            curPos += k;
            return k;
        }

        @Override
        public void close() {
            closed = true;
            thread.interrupt();
        }
    }

    /** A streaming UTF-8 validator (rejects overlongs, surrogates, > U+10FFFF), 8 ASCII bytes at a time. */
    static final class Utf8 {
        int need, lo = 0x80, hi = 0xBF;
        long seqStart;

        /** -1 when valid so far, else the offset of the first bad sequence; base is the offset of b[0]. */
        long check(byte[] b, int from, int to, long base) {
            int i = from;
            while (i < to) {
                if (need == 0) {
                    while (i + 8 <= to && ((long) LONGS.get(b, i) & 0x8080808080808080L) == 0) i += 8;
                    if (i >= to) break;
                    int c = b[i] & 0xff;
                    if (c < 0x80) {
                        i++;
                        continue;
                    }
                    if (c >= 0xC2 && c <= 0xDF) {
                        need = 1; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xE0) {
                        need = 2; lo = 0xA0; hi = 0xBF;
                    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
                        need = 2; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xED) {
                        need = 2; lo = 0x80; hi = 0x9F;
                    } else if (c == 0xF0) {
                        need = 3; lo = 0x90; hi = 0xBF;
                    } else if (c >= 0xF1 && c <= 0xF3) {
                        need = 3; lo = 0x80; hi = 0xBF;
                    } else if (c == 0xF4) {
                        need = 3; lo = 0x80; hi = 0x8F;
                    } else {
                        return base + i;
                    }
                    seqStart = base + i;
                    i++;
                } else {
                    int c = b[i] & 0xff;
                    if (c < lo || c > hi) return seqStart;
                    lo = 0x80;
                    hi = 0xBF;
                    need--;
                    i++;
                }
            }
            return -1;
        }
    }

    // ================================================================== the parser

    /** Thrown (without a stack trace) when a value does not fit its column's tentative type. */
    static final class Violation extends RuntimeException {
        final int column;
        final long record, line;

        Violation(int column, long record, long line) {
            super(null, null, false, false);
            this.column = column;
            this.record = record;
            this.line = line;
        }
    }

    // ================================================================== one input: sample, write, check, maybe again

    static final class Job {
        final Settings s;
        final Source src;
        final Cli.Progress progress;
        String[] names;
        byte[][] keys; // ,"name":
        int ncols;
        int[] type, forcedType, sampleMask;
        boolean[] hasEmpty;
        int[] dateState; // schema only: see Dates
        long rows, bytesIn, raggedRows, sequentialChunks, chunks;
        byte delim;
        int restarts;
        byte[] head;
        int headLen;
        boolean headIsAll;
        Path shownAs; // the output file named in write errors

        Job(Settings s, Source src, Cli.Progress progress) {
            this.s = s;
            this.src = src;
            this.progress = progress;
            CURRENT_BOOLS.set(new Bools(s.trueWords, s.falseWords));
        }

        void run(Path part, OutputStream out) throws Exception {
            long progress0 = progress.done();
            InputStream first = new Prefetch(src.open(), src.name);
            try {
                readHead(first);
                delim = s.delim != 0 ? s.delim : CsvCore.detectDelimiter(head, headLen); // per input
                sample();
                try {
                    write(new SequenceInputStream(new ByteArrayInputStream(head, 0, headLen), first), part, out, progress0);
                    return;
                } catch (Violation v) {
                    if (s.stream || !src.reopenable()) {
                        String col = names[v.column];
                        throw new Cli.Failure(src.name + ": line " + v.line + " (record " + v.record + "), column '" + col
                                + "': value does not fit the type " + TYPE_NAMES[type[v.column]]
                                + " guessed from the first records (--stream); rerun without --stream, or with --types '" + col + ":string'");
                    }
                }
            } finally {
                first.close();
            }
            // A value did not fit: classify the whole input, then write again with the final types.
            restarts++;
            classifyAll();
            try (InputStream again = new Prefetch(src.open(), src.name)) {
                write(again, part, out, progress0);
            }
        }

        private void readHead(InputStream in) throws IOException {
            head = new byte[Math.max(s.sampleBytes, 4096)];
            headLen = in.readNBytes(head, 0, head.length);
            headIsAll = headLen < head.length;
            if (headLen == 0) throw new Cli.Failure(src.name + ": the input is empty");
        }

        /** Header and the first records of the head: names, keys and tentative types. */
        private void sample() throws IOException {
            CsvCore.Parser p = new CsvCore.Parser(new ByteArrayInputStream(head, 0, headLen), src.name, delim, !headIsAll);
            p.maxRecord = s.maxRecord;
            // make sure the header is inside the head
            boolean got = p.next();
            if (!got && !headIsAll) throw new Cli.Failure(src.name + ": the first record is longer than --sample " + s.sampleBytes + " bytes; give a larger --sample");
            if (!got) throw new Cli.Failure(src.name + ": the input is empty (no records)");
            setColumns(p);
            p.columns = names;
            if (s.header) p.records = 0; // record numbers count data records
            sampleMask = new int[ncols];
            boolean[] seen = new boolean[ncols];
            Arrays.fill(sampleMask, M_ALL);
            boolean more = s.header ? p.next() : true;
            while (more) {
                int m = Math.min(p.n, ncols);
                for (int c = 0; c < m; c++) {
                    int st = p.start[c], en = p.end[c];
                    if (st == en) continue;
                    seen[c] = true;
                    sampleMask[c] &= classify(p.buf, st, en, p.flags[c]);
                }
                more = p.next();
            }
            type = new int[ncols];
            for (int c = 0; c < ncols; c++) {
                type[c] = forcedType[c] != 0 ? forcedType[c] : s.allStrings ? T_STRING : !seen[c] ? T_UNDECIDED : typeOf(sampleMask[c]);
                if (s.empty == Settings.EMPTY_STRING && type[c] > T_STRING && forcedType[c] == 0) type[c] = T_STRING;
            }
        }

        private void setColumns(CsvCore.Parser p) {
            List<String> raw = new ArrayList<>();
            if (s.columns != null) raw.addAll(s.columns);
            else if (s.header) for (int i = 0; i < p.n; i++) raw.add(p.text(i));
            else for (int i = 0; i < p.n; i++) raw.add("column_" + (i + 1));
            if (raw.size() == 1 && raw.get(0).isEmpty() && s.header) throw new Cli.Failure(src.name + ": the header row is empty");
            Map<String, Integer> seen = new HashMap<>();
            List<String> out = new ArrayList<>();
            for (int i = 0; i < raw.size(); i++) {
                String name = raw.get(i);
                Integer prev = seen.putIfAbsent(name, i);
                if (prev != null) {
                    if (!s.dedupe) throw new Cli.Failure(src.name + ": duplicate column name '" + name + "' (columns " + (prev + 1) + " and " + (i + 1)
                            + "); use --dedupe-headers to rename it");
                    int k = 2;
                    while (seen.containsKey(name + "_" + k) || raw.contains(name + "_" + k)) k++;
                    name = name + "_" + k;
                    seen.put(name, i);
                }
                out.add(name);
            }
            names = out.toArray(String[]::new);
            ncols = names.length;
            keys = new byte[ncols][];
            for (int i = 0; i < ncols; i++) {
                String k = "," + Cli.jsonString(names[i]) + ":";
                keys[i] = k.getBytes(StandardCharsets.UTF_8);
            }
            forcedType = new int[ncols];
            for (Map.Entry<String, Integer> e : s.forced.entrySet()) {
                int idx = Arrays.asList(names).indexOf(e.getKey());
                if (idx < 0) throw Cli.usage("--types: no column named '" + e.getKey() + "' in " + src.name + " (columns: " + String.join(", ", names) + ")");
                forcedType[idx] = e.getValue();
            }
        }

        /** The fallback: every value of the whole input decides its column's type. */
        private void classifyAll() throws IOException {
            int[] mask = new int[ncols];
            boolean[] seen = new boolean[ncols];
            Arrays.fill(mask, M_ALL);
            try (InputStream in = new Prefetch(src.open(), src.name)) {
                CsvCore.Parser p = new CsvCore.Parser(in, src.name, delim, false);
                p.maxRecord = s.maxRecord;
                p.columns = names;
                if (s.header) {
                    p.next();
                    p.records = 0; // record numbers count data records
                }
                while (p.next()) {
                    int m = Math.min(p.n, ncols);
                    for (int c = 0; c < m; c++) {
                        int st = p.start[c], en = p.end[c];
                        if (st == en) continue;
                        seen[c] = true;
                        mask[c] &= classify(p.buf, st, en, p.flags[c]);
                    }
                }
            }
            for (int c = 0; c < ncols; c++) {
                if (forcedType[c] != 0 || s.allStrings) continue;
                type[c] = seen[c] ? typeOf(mask[c]) : T_STRING;
                if (s.empty == Settings.EMPTY_STRING) type[c] = T_STRING;
            }
        }

        /**
         * Converts the stream on all cores: a chunker cuts it into about 1 MiB chunks after a line feed, workers parse
         * and format the chunks in parallel, and this thread writes their output in order. A cut is a guess (the line
         * feed may be inside a quoted field): a chunk counts only when its records end exactly at its cut. When one
         * does not, or a chunk fails (a ragged row, a value that does not fit), the rest of the input from that chunk
         * on is converted here, one record after another, which gives exact line numbers in the error.
         */
        private void write(InputStream in, Path part, OutputStream out, long progress0) throws Exception {
            progress.set(progress0);
            rows = 0;
            raggedRows = 0;
            hasEmpty = new boolean[ncols];
            dateState = new int[ncols];
            Arrays.fill(dateState, Dates.START);
            int[] ty = type.clone();
            Sink sink = part != null ? new AsyncFileSink(part, shownAs) : new StreamSink(out);
            Chunker chunker = new Chunker(in, progress, progress0);
            int nWorkers = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
            java.util.concurrent.ExecutorService workers = java.util.concurrent.Executors.newFixedThreadPool(nWorkers, r -> {
                Thread th = new Thread(r, "csv-worker");
                th.setDaemon(true);
                return th;
            });
            chunker.workers = workers;
            chunker.work = c -> convertChunk(c, ty);
            Thread chunkThread = new Thread(chunker, "csv-chunker");
            chunkThread.setDaemon(true);
            chunkThread.start();
            boolean ok = false;
            long lines = 0, records = 0;
            sequentialChunks = 0;
            try {
                for (;;) {
                    Chunk c = chunker.next();
                    if (c == null) break;
                    ChunkResult r = c.result.get();
                    if (r.error == null && r.clean) {
                        for (int i = 0; i < r.bufs.size(); i++) BUFFERS.release(sink.swap(r.bufs.get(i), r.lens.get(i)));
                        r.writer.mergeInto(this);
                        rows += r.rows;
                        raggedRows += r.ragged;
                        lines += r.lines;
                        records += r.records;
                        BUFFERS.release(c.data);
                        continue;
                    }
                    // this chunk's cut was inside a quoted field, or it failed: go on one record at a time from here,
                    // up to the first chunk end that is also a record end; the chunks after it were cut right
                    ChunkStream cs = new ChunkStream(chunker, c);
                    CsvCore.Parser p = new CsvCore.Parser(cs, src.name, delim, false);
                    p.maxRecord = s.maxRecord;
                    p.columns = names;
                    p.line = 1 + lines;
                    p.records = records;
                    Writer w = new Writer(this, sink, ty);
                    if (c.index == 0 && s.header) {
                        if (!p.next()) throw new Cli.Failure(src.name + ": the input is empty");
                        p.records = 0; // record numbers count data records
                    }
                    boolean more = false;
                    while (p.next()) {
                        if (p.n != ncols) {
                            if (!s.ragged) throw new Cli.Failure(src.name + ": line " + p.recordLine + " (record " + p.records + ") has "
                                    + p.n + " fields, expected " + ncols + " (--allow-ragged pads or truncates such rows)");
                            raggedRows++;
                        }
                        w.record(p);
                        rows++;
                        if (p.pos == p.lim && cs.atChunkEnd() && !cs.cur.last) {
                            more = true;
                            break;
                        }
                    }
                    w.finish();
                    w.mergeInto(this);
                    lines = p.line - 1;
                    records = p.records;
                    sequentialChunks += cs.chunks;
                    if (!more) break;
                }
                ok = true;
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) throw ex;
                throw new IOException(cause);
            } finally {
                chunker.abandon = true;
                chunkThread.interrupt();
                workers.shutdownNow();
                sink.close(ok);
            }
            if (chunker.failure != null) throw chunker.failure;
            type = ty; // UNDECIDED columns settled while writing
            bytesIn = chunker.bytes;
            chunks = chunker.count;
        }

        /** A worker's job: parse and format one chunk into pooled buffers; errors are kept for the in-order check. */
        ChunkResult convertChunk(Chunk c, int[] ty) {
            ChunkResult r = new ChunkResult();
            if (c.abandoned()) {
                r.error = new IllegalStateException("abandoned");
                return r;
            }
            CsvCore.Parser p = new CsvCore.Parser(c.data, c.len, src.name, delim, c.last);
            p.maxRecord = s.maxRecord;
            CollectSink cs = new CollectSink(r);
            try {
                Writer w = new Writer(this, cs, ty);
                r.writer = w;
                if (c.index == 0 && s.header) {
                    if (!p.next()) throw new Cli.Failure(src.name + ": the input is empty");
                    p.records = 0;
                }
                while (p.next()) {
                    if (p.n != ncols) {
                        if (!s.ragged) throw new Cli.Failure("ragged");
                        r.ragged++;
                    }
                    w.record(p);
                    r.rows++;
                }
                w.finish();
                r.clean = !p.incomplete;
                r.lines = p.line - 1;
                r.records = p.records;
            } catch (Throwable e) {
                r.error = e;
            }
            if (r.error != null || !r.clean) {
                for (byte[] b : r.bufs) BUFFERS.release(b);
                r.bufs.clear();
                r.lens.clear();
            }
            return r;
        }

        String schemaText(boolean datasourceFile) {
            StringBuilder sb = new StringBuilder();
            if (datasourceFile) sb.append("SCHEMA >\n");
            Map<String, Integer> used = new HashMap<>();
            for (int c = 0; c < ncols; c++) {
                String ch = switch (type[c]) {
                    case T_INT -> "Int64";
                    case T_FLOAT -> "Float64";
                    case T_BOOL -> "Bool";
                    default -> Dates.clickhouseType(dateState[c]);
                };
                boolean nullable = hasEmpty[c] && s.empty != Settings.EMPTY_STRING;
                if (nullable) ch = "Nullable(" + ch + ")";
                String col = columnName(names[c], used);
                sb.append(datasourceFile ? "    " : "").append('`').append(col).append("` ").append(ch).append(" `json:")
                        .append(jsonPath(names[c])).append('`').append(c + 1 < ncols ? "," : "").append('\n');
            }
            return sb.toString();
        }
    }

    /** Reused 1 MiB buffers (input chunks and output), so a big file allocates little. */
    static final class Pool {
        static final int SIZE = 1 << 20;
        final java.util.concurrent.ConcurrentLinkedQueue<byte[]> free = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();

        byte[] get(int min) {
            if (min <= SIZE) {
                byte[] b = free.poll();
                if (b != null) {
                    count.decrementAndGet();
                    return b;
                }
                return new byte[SIZE];
            }
            return new byte[min];
        }

        void release(byte[] b) {
            if (b != null && b.length == SIZE && count.incrementAndGet() <= 48) free.add(b);
            else if (b != null && b.length == SIZE) count.decrementAndGet();
        }
    }

    static final Pool BUFFERS = new Pool();

    /** A piece of the input that ends just after a line feed (or at the end of the input). */
    static final class Chunk {
        final int index, len;
        final byte[] data;
        final boolean last;
        final Chunker owner;
        java.util.concurrent.Future<ChunkResult> result;

        Chunk(Chunker owner, int index, byte[] data, int len, boolean last) {
            this.owner = owner;
            this.index = index;
            this.data = data;
            this.len = len;
            this.last = last;
        }

        boolean abandoned() {
            return owner.abandon;
        }
    }

    static final class ChunkResult {
        final List<byte[]> bufs = new ArrayList<>();
        final List<Integer> lens = new ArrayList<>();
        Writer writer;
        long rows, ragged, lines, records;
        boolean clean;
        Throwable error;
    }

    /** Collects a worker's output buffers. */
    static final class CollectSink implements Sink {
        final ChunkResult r;

        CollectSink(ChunkResult r) {
            this.r = r;
        }

        public byte[] swap(byte[] full, int len) {
            r.bufs.add(full);
            r.lens.add(len);
            return BUFFERS.get(full.length);
        }

        public void close(boolean ok) {}
    }

    /** Cuts the input into chunks after the last line feed of each MiB and hands them to the workers, in order. */
    static final class Chunker implements Runnable {
        static final Chunk END = new Chunk(null, -1, null, 0, true);
        /** The largest chunk: chunks in flight stay bounded whatever the records (a longer one goes one record at a time). */
        static final int MAX_CHUNK = 8 << 20;
        final InputStream in;
        final Cli.Progress progress;
        final long progress0;
        final BlockingQueue<Chunk> queue = new ArrayBlockingQueue<>(6);
        java.util.concurrent.ExecutorService workers;
        java.util.function.Function<Chunk, ChunkResult> work;
        volatile boolean abandon;
        volatile Exception failure;
        volatile long bytes;
        volatile int count;

        Chunker(InputStream in, Cli.Progress progress, long progress0) {
            this.in = in;
            this.progress = progress;
            this.progress0 = progress0;
        }

        @Override
        public void run() {
            try {
                byte[] b = BUFFERS.get(Pool.SIZE);
                int n = 0, index = 0;
                long total = 0;
                for (;;) {
                    int r = n < b.length ? in.read(b, n, b.length - n) : 0;
                    if (r < 0) {
                        if (n > 0 || index == 0) put(new Chunk(this, index++, b, n, true));
                        break;
                    }
                    n += r;
                    total += r;
                    bytes = total;
                    progress.set(progress0 + total);
                    if (n < b.length) continue;
                    int cut = n;
                    while (cut > 0 && b[cut - 1] != '\n') cut--;
                    if (cut == 0) {
                        if (b.length < MAX_CHUNK) { // no line feed yet: a long record, read on into a bigger buffer
                            b = Arrays.copyOf(b, Math.min(MAX_CHUNK, b.length * 2));
                            continue;
                        }
                        cut = n; // still none: cut anyway; the check will fail and the rest goes one record at a time
                    }
                    byte[] next = BUFFERS.get(Math.min(MAX_CHUNK, Math.max(Pool.SIZE, (n - cut) * 2)));
                    System.arraycopy(b, cut, next, 0, n - cut);
                    put(new Chunk(this, index++, b, cut, false));
                    n = n - cut;
                    b = next;
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                failure = e;
            }
            try {
                queue.put(END);
            } catch (InterruptedException ignored) {
                // closing
            }
        }

        private void put(Chunk c) throws InterruptedException {
            Chunk chunk = c;
            count = c.index + 1;
            chunk.result = workers.submit(() -> work.apply(chunk));
            queue.put(chunk);
        }

        /** The next chunk in input order, or null at the end (a read failure is thrown). */
        Chunk next() throws Exception {
            Chunk c = queue.take();
            if (c == END) {
                if (failure != null) throw failure;
                return null;
            }
            return c;
        }
    }

    /** The input from a chunk on, chunk after chunk (one chunk's bytes per read), for the one-record-at-a-time path. */
    static final class ChunkStream extends InputStream {
        final Chunker chunker;
        Chunk cur;
        int pos, chunks = 1;

        ChunkStream(Chunker chunker, Chunk first) {
            this.chunker = chunker;
            this.cur = first;
        }

        /** True when every byte of the current chunk has been read. */
        boolean atChunkEnd() {
            return pos >= cur.len;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] dst, int off, int len) throws IOException {
            while (pos >= cur.len) {
                if (cur.last) return -1;
                Chunk c;
                try {
                    c = chunker.next();
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
                if (c == null) return -1;
                cur = c;
                pos = 0;
                chunks++;
            }
            int k = Math.min(len, cur.len - pos);
            System.arraycopy(cur.data, pos, dst, off, k);
            pos += k;
            return k;
        }
    }

    /** A Tinybird column name: letters, digits and _, not starting with a digit; unique. */
    static String columnName(String name, Map<String, Integer> used) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            sb.append((ch < 128 && (Character.isLetterOrDigit(ch) || ch == '_')) ? ch : '_');
        }
        if (sb.isEmpty() || Character.isDigit(sb.charAt(0))) sb.insert(0, '_');
        String base = sb.toString(), n = base;
        int k = used.merge(base.toLowerCase(Locale.ROOT), 1, Integer::sum);
        if (k > 1) n = base + "_" + k;
        return n;
    }

    /** $.name for plain names, $.['odd name'] otherwise. */
    static String jsonPath(String name) {
        if (name.matches("[A-Za-z_][A-Za-z0-9_]*")) return "$." + name;
        return "$.['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']";
    }

    // ================================================================== value classification

    static final byte[] MAX_LONG = "9223372036854775807".getBytes(StandardCharsets.US_ASCII);
    static final byte[] MIN_LONG = "9223372036854775808".getBytes(StandardCharsets.US_ASCII);

    /** Everything a non-empty value could be: M_INT | M_FLOAT | M_BOOL bits (0: a string). */
    static int classify(byte[] b, int s, int e, byte flags) {
        if ((flags & CsvCore.Parser.FLAG_ESC) != 0) return 0;
        int first = b[s];
        if (first == '-' || (first >= '0' && first <= '9')) {
            if (isInt(b, s, e)) return M_INT | M_FLOAT | (CURRENT_BOOLS.get().numeric ? boolBit(b, s, e) : 0);
            return isFloat(b, s, e) ? M_FLOAT : (CURRENT_BOOLS.get().numeric ? boolBit(b, s, e) : 0);
        }
        return boolBit(b, s, e);
    }

    static int boolBit(byte[] b, int s, int e) {
        return boolValue(b, s, e, CURRENT_BOOLS.get()) >= 0 ? M_BOOL : 0;
    }

    /** The extra boolean spellings of the running conversion (per thread, so tests can run in parallel). */
    static final class Bools {
        final byte[][] trues, falses;
        final boolean numeric;

        Bools(List<byte[]> t, List<byte[]> f) {
            trues = t.toArray(byte[][]::new);
            falses = f.toArray(byte[][]::new);
            boolean num = false;
            for (byte[] w : trues) num |= w.length > 0 && (w[0] == '-' || (w[0] >= '0' && w[0] <= '9'));
            for (byte[] w : falses) num |= w.length > 0 && (w[0] == '-' || (w[0] >= '0' && w[0] <= '9'));
            numeric = num;
        }
    }

    static final ThreadLocal<Bools> CURRENT_BOOLS = ThreadLocal.withInitial(() -> new Bools(List.of(), List.of()));

    static boolean isInt(byte[] b, int s, int e) {
        int i = s;
        boolean neg = false;
        if (b[i] == '-') {
            neg = true;
            i++;
        }
        int n = e - i;
        if (n <= 0 || n > 19) return false;
        if (b[i] == '0') return n == 1;
        for (int k = i; k < e; k++) {
            int c = b[k] - '0';
            if (c < 0 || c > 9) return false;
        }
        if (n < 19) return true;
        byte[] lim = neg ? MIN_LONG : MAX_LONG;
        for (int k = 0; k < 19; k++) {
            int d = b[i + k] - lim[k];
            if (d != 0) return d < 0;
        }
        return true;
    }

    /** A JSON number that means what it says: needs a decimal point (1e5 and 6164739959125e55 are hex-id lookalikes), finite. */
    static boolean isFloat(byte[] b, int s, int e) {
        int i = s;
        if (b[i] == '-') i++;
        if (i >= e) return false;
        if (b[i] == '0') i++;
        else if (b[i] >= '1' && b[i] <= '9') {
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
        } else return false;
        boolean dot = false, exp = false;
        if (i < e && b[i] == '.') {
            int st = ++i;
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
            if (i == st) return false;
            dot = true;
        }
        if (i < e && (b[i] | 0x20) == 'e') {
            i++;
            if (i < e && (b[i] == '+' || b[i] == '-')) i++;
            int st = i;
            while (i < e && b[i] >= '0' && b[i] <= '9') i++;
            if (i == st) return false;
            exp = true;
        }
        if (i != e) return false;
        if (!dot) return !exp && isInt(b, s, e);
        if (exp) {
            double d = Double.parseDouble(new String(b, s, e - s, StandardCharsets.US_ASCII));
            return Double.isFinite(d);
        }
        return true;
    }

    /** 1 true, 0 false, -1 neither (true/false in any case, plus --booleans). */
    static int boolValue(byte[] b, int s, int e, Bools extra) {
        int n = e - s;
        if (n == 4 && (b[s] | 0x20) == 't' && (b[s + 1] | 0x20) == 'r' && (b[s + 2] | 0x20) == 'u' && (b[s + 3] | 0x20) == 'e') return 1;
        if (n == 5 && (b[s] | 0x20) == 'f' && (b[s + 1] | 0x20) == 'a' && (b[s + 2] | 0x20) == 'l' && (b[s + 3] | 0x20) == 's'
                && (b[s + 4] | 0x20) == 'e') return 0;
        for (byte[] w : extra.trues) if (equalsIgnoreCase(b, s, e, w)) return 1;
        for (byte[] w : extra.falses) if (equalsIgnoreCase(b, s, e, w)) return 0;
        return -1;
    }

    static boolean equalsIgnoreCase(byte[] b, int s, int e, byte[] lower) {
        if (e - s != lower.length) return false;
        for (int i = 0; i < lower.length; i++) {
            int c = b[s + i];
            if (c >= 'A' && c <= 'Z') c += 32;
            if (c != lower[i]) return false;
        }
        return true;
    }

    /** Date and date-time text, for the schema: DateTime, DateTime64(p) or Date when every value of a column is one. */
    static final class Dates {
        // state: bit 0 all dates, bit 1 all datetimes, bit 2 some value outside DateTime's 1970-2105, bits 8+: max fraction digits
        static final int START = 3, ALL_DATES = 1, ALL_DT = 2, WIDE = 4;

        static int update(int state, byte[] b, int s, int e) {
            if ((state & 3) == 0) return state;
            int n = e - s;
            if (n < 10 || !digits(b, s, 4) || b[s + 4] != '-' || !digits(b, s + 5, 2) || b[s + 7] != '-' || !digits(b, s + 8, 2)) return 0;
            int year = num(b, s, 4), month = num(b, s + 5, 2), day = num(b, s + 8, 2);
            if (month < 1 || month > 12 || day < 1 || day > 31) return 0;
            if (year < 1970 || year > 2105) state |= WIDE;
            if (n == 10) return state & ~ALL_DT;
            state &= ~ALL_DATES;
            if (n < 19 || (b[s + 10] != ' ' && b[s + 10] != 'T') || !digits(b, s + 11, 2) || b[s + 13] != ':' || !digits(b, s + 14, 2)
                    || b[s + 16] != ':' || !digits(b, s + 17, 2)) return 0;
            if (num(b, s + 11, 2) > 23 || num(b, s + 14, 2) > 59 || num(b, s + 17, 2) > 59) return 0;
            int i = s + 19, frac = 0;
            if (i < e && b[i] == '.') {
                int st = ++i;
                while (i < e && b[i] >= '0' && b[i] <= '9') i++;
                frac = i - st;
                if (frac == 0 || frac > 9) return 0;
            }
            if (i < e) {
                if (b[i] == 'Z' && i + 1 == e) i++;
                else if ((b[i] == '+' || b[i] == '-') && e - i == 6 && digits(b, i + 1, 2) && b[i + 3] == ':' && digits(b, i + 4, 2)) i += 6;
                else return 0;
            }
            return (state & ~0xff00) | (Math.max((state >> 8) & 0xff, frac) << 8);
        }

        /** Two states of one column over different records, combined. */
        static int merge(int a, int b) {
            boolean sa = (a & 0x10000000) != 0, sb = (b & 0x10000000) != 0;
            if (!sa) return b;
            if (!sb) return a;
            int flags = (a & b & 3) | ((a | b) & WIDE);
            int frac = Math.max((a >> 8) & 0xff, (b >> 8) & 0xff);
            return 0x10000000 | frac << 8 | flags;
        }

        static boolean digits(byte[] b, int s, int n) {
            for (int i = s; i < s + n; i++) if (b[i] < '0' || b[i] > '9') return false;
            return true;
        }

        static int num(byte[] b, int s, int n) {
            int v = 0;
            for (int i = s; i < s + n; i++) v = v * 10 + (b[i] - '0');
            return v;
        }

        static String clickhouseType(int state) {
            boolean seen = (state & 0x10000000) != 0;
            if (!seen || (state & 3) == 0) return "String";
            int frac = (state >> 8) & 0xff;
            if ((state & ALL_DATES) != 0) return (state & WIDE) != 0 ? "Date32" : "Date";
            if (frac == 0 && (state & WIDE) == 0) return "DateTime";
            int p = frac <= 3 ? 3 : frac <= 6 ? 6 : 9;
            return "DateTime64(" + p + ")";
        }
    }

    // ================================================================== the writer

    /** Where output bytes go: full buffers are handed over and an empty one comes back. */
    interface Sink {
        byte[] swap(byte[] full, int len) throws IOException;

        void close(boolean ok) throws IOException;
    }

    static final class StreamSink implements Sink {
        final OutputStream out;

        StreamSink(OutputStream out) {
            this.out = out;
        }

        public byte[] swap(byte[] full, int len) throws IOException {
            out.write(full, 0, len);
            return full;
        }

        public void close(boolean ok) throws IOException {
            out.flush();
        }
    }

    /** Writes buffers to a file on a background thread (the page-cache copy is real work on 2 cores). */
    static final class AsyncFileSink implements Sink {
        final FileChannel ch;
        final Path shownAs;
        final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(3);
        final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(4);
        final Thread thread;
        volatile Throwable failure;
        static final Object STOP = new Object();

        /** Writes to p; errors name shownAs (the file the user asked for, p being its temp file). */
        AsyncFileSink(Path p, Path shownAs) throws IOException {
            this.shownAs = shownAs;
            try {
                ch = FileChannel.open(p, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.CREATE);
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
            for (int i = 0; i < 3; i++) free.add(new byte[Writer.BUF]);
            thread = new Thread(this::loop, "ndjson-writer");
            thread.setDaemon(true);
            thread.start();
        }

        private void loop() {
            try {
                for (;;) {
                    Object o = queue.take();
                    if (o == STOP) return;
                    Object[] item = (Object[]) o;
                    byte[] b = (byte[]) item[0];
                    int len = (Integer) item[1];
                    if (failure == null) {
                        try {
                            ByteBuffer bb = ByteBuffer.wrap(b, 0, len);
                            while (bb.hasRemaining()) ch.write(bb);
                        } catch (Throwable t) {
                            failure = t;
                        }
                    }
                    free.put(b);
                }
            } catch (InterruptedException e) {
                // closing
            }
        }

        public byte[] swap(byte[] full, int len) throws IOException {
            check();
            try {
                queue.put(new Object[] {full, len});
                byte[] next = free.take();
                if (next.length < full.length) next = new byte[full.length];
                return next;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            }
        }

        private void check() {
            Throwable t = failure;
            if (t != null) throw cannotWrite(shownAs, t);
        }

        public void close(boolean ok) throws IOException {
            try {
                queue.put(STOP);
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                ch.close();
            } catch (IOException e) {
                if (ok) throw cannotWrite(shownAs, e);
            }
            if (ok) check();
        }
    }

    /** Formats records as JSON lines into a buffer; numbers are copied, strings escaped, straight from the input bytes. */
    static final class Writer {
        static final int BUF = 1 << 20;
        static final byte[] NULL = "null".getBytes(StandardCharsets.US_ASCII), TRUE = "true".getBytes(StandardCharsets.US_ASCII),
                FALSE = "false".getBytes(StandardCharsets.US_ASCII), HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
        final Job job;
        final Sink sink;
        final int[] ty;
        final byte[][] keys;
        final int ncols, empty, keysLen;
        final boolean schema, ragged;
        final Bools bools;
        byte[] ob = BUFFERS.get(BUF);
        int op;
        final boolean[] hasEmpty;
        final int[] dateState;

        Writer(Job job, Sink sink, int[] ty) {
            this.job = job;
            this.sink = sink;
            this.ty = ty;
            this.keys = job.keys;
            this.ncols = job.ncols;
            this.empty = job.s.empty;
            this.schema = job.s.schema;
            this.ragged = job.s.ragged;
            this.bools = new Bools(job.s.trueWords, job.s.falseWords);
            CURRENT_BOOLS.set(bools);
            int kl = 0;
            for (byte[] k : keys) kl += k.length;
            keysLen = kl;
            hasEmpty = new boolean[ncols];
            dateState = new int[ncols];
            Arrays.fill(dateState, Dates.START);
        }

        /** Adds this writer's column statistics (empties, date shapes) to the job's. */
        void mergeInto(Job j) {
            for (int c = 0; c < ncols; c++) {
                j.hasEmpty[c] |= hasEmpty[c];
                j.dateState[c] = Dates.merge(j.dateState[c], dateState[c]);
            }
        }

        void record(CsvCore.Parser p) throws IOException {
            long need = (p.recEnd - p.recStart) * 6L + keysLen + ncols * 8L + 8;
            if (op + need > ob.length) {
                flush();
                if (need > ob.length) {
                    recordLarge(p);
                    return;
                }
            }
            final byte[] b = p.buf, o = ob;
            final int[] st = p.start, en = p.end;
            final int n = Math.min(p.n, ncols);
            int q = op;
            o[q++] = '{';
            boolean firstKey = true;
            for (int c = 0; c < ncols; c++) {
                int s, e;
                byte fl;
                if (c < n) {
                    s = st[c];
                    e = en[c];
                    fl = p.flags[c];
                } else {
                    s = e = 0;
                    fl = 0;
                }
                if (s == e) {
                    hasEmpty[c] = true;
                    if (empty == Settings.EMPTY_OMIT) continue;
                    q = key(o, q, c, firstKey);
                    firstKey = false;
                    if (empty == Settings.EMPTY_NULL) {
                        System.arraycopy(NULL, 0, o, q, 4);
                        q += 4;
                    } else {
                        o[q++] = '"';
                        o[q++] = '"';
                    }
                    continue;
                }
                q = key(o, q, c, firstKey);
                firstKey = false;
                switch (ty[c]) {
                    case T_INT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !isInt(b, s, e)) throw bad(p, c);
                        System.arraycopy(b, s, o, q, e - s);
                        q += e - s;
                    }
                    case T_FLOAT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !isFloat(b, s, e)) throw bad(p, c);
                        System.arraycopy(b, s, o, q, e - s);
                        q += e - s;
                    }
                    case T_BOOL -> {
                        int v = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? -1 : boolValue(b, s, e, bools);
                        if (v < 0) throw bad(p, c);
                        byte[] w = v == 1 ? TRUE : FALSE;
                        System.arraycopy(w, 0, o, q, w.length);
                        q += w.length;
                    }
                    case T_UNDECIDED -> {
                        // the sample had no value here: a plain string settles it, anything else needs the whole input
                        if (classify(b, s, e, fl) != 0 && !job.s.stream) throw bad(p, c);
                        ty[c] = T_STRING;
                        q = string(b, s, e, fl, o, q);
                        if (schema) dateState[c] = Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                    default -> {
                        q = string(b, s, e, fl, o, q);
                        if (schema) dateState[c] = Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                }
            }
            o[q++] = '}';
            o[q++] = '\n';
            op = q;
        }

        /**
         * A record that may not fit one output buffer (up to 6 output bytes an input byte): the same bytes as
         * {@link #record}, written in pieces, so output buffers keep their size whatever the record.
         */
        private void recordLarge(CsvCore.Parser p) throws IOException {
            final byte[] b = p.buf;
            final int n = Math.min(p.n, ncols);
            put(OPEN, 0, 1);
            boolean firstKey = true;
            for (int c = 0; c < ncols; c++) {
                int s = c < n ? p.start[c] : 0, e = c < n ? p.end[c] : 0;
                byte fl = c < n ? p.flags[c] : 0;
                if (s == e) {
                    hasEmpty[c] = true;
                    if (empty == Settings.EMPTY_OMIT) continue;
                    put(keys[c], firstKey ? 1 : 0, keys[c].length);
                    firstKey = false;
                    if (empty == Settings.EMPTY_NULL) put(NULL, 0, 4);
                    else put(EMPTY_STRING, 0, 2);
                    continue;
                }
                put(keys[c], firstKey ? 1 : 0, keys[c].length);
                firstKey = false;
                switch (ty[c]) {
                    case T_INT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !isInt(b, s, e)) throw bad(p, c);
                        put(b, s, e);
                    }
                    case T_FLOAT -> {
                        if ((fl & CsvCore.Parser.FLAG_ESC) != 0 || !isFloat(b, s, e)) throw bad(p, c);
                        put(b, s, e);
                    }
                    case T_BOOL -> {
                        int v = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? -1 : boolValue(b, s, e, bools);
                        if (v < 0) throw bad(p, c);
                        byte[] w = v == 1 ? TRUE : FALSE;
                        put(w, 0, w.length);
                    }
                    case T_UNDECIDED -> {
                        if (classify(b, s, e, fl) != 0 && !job.s.stream) throw bad(p, c);
                        ty[c] = T_STRING;
                        stringLarge(b, s, e, fl);
                        if (schema) dateState[c] = Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                    default -> {
                        stringLarge(b, s, e, fl);
                        if (schema) dateState[c] = Dates.update(dateState[c], b, s, e) | 0x10000000;
                    }
                }
            }
            put(CLOSE, 0, 2);
        }

        static final byte[] OPEN = {'{'}, CLOSE = {'}', '\n'}, QUOTE = {'"'}, EMPTY_STRING = {'"', '"'};

        /** Copies src[s, e) to the output, flushing full buffers. */
        private void put(byte[] src, int s, int e) throws IOException {
            while (s < e) {
                if (op == ob.length) flush();
                int k = Math.min(e - s, ob.length - op);
                System.arraycopy(src, s, ob, op, k);
                op += k;
                s += k;
            }
        }

        /** A JSON string of any length, escaped a piece at a time (a piece never splits a "" pair). */
        private void stringLarge(byte[] b, int s, int e, byte fl) throws IOException {
            put(QUOTE, 0, 1);
            int piece = ob.length / 8;
            for (int i = s; i < e; ) {
                int j = Math.min(e, i + piece);
                if ((fl & CsvCore.Parser.FLAG_ESC) != 0 && j < e) {
                    int k = j;
                    while (k > i && b[k - 1] == '"') k--;
                    if (((j - k) & 1) == 1) j++; // the run of quotes ends with the first of a pair
                }
                if (op + (j - i) * 6 > ob.length) flush();
                op = stringBody(b, i, j, fl, ob, op);
                i = j;
            }
            put(QUOTE, 0, 1);
        }

        private int key(byte[] o, int q, int c, boolean first) {
            byte[] k = keys[c];
            if (first) {
                System.arraycopy(k, 1, o, q, k.length - 1);
                return q + k.length - 1;
            }
            System.arraycopy(k, 0, o, q, k.length);
            return q + k.length;
        }

        private RuntimeException bad(CsvCore.Parser p, int c) {
            if (job.forcedType[c] != 0) {
                String v = p.preview(c);
                return new Cli.Failure(job.src.name + ": line " + p.recordLine + " (record " + p.records + "), column '" + job.names[c]
                        + "': '" + v + "' is not " + (ty[c] == T_INT ? "an " : "a ") + TYPE_NAMES[ty[c]] + " (--types)");
            }
            return new Violation(c, p.records, p.recordLine);
        }

        /** A JSON string from the field bytes: "" pairs become \", control characters are escaped, UTF-8 is copied. */
        static int string(byte[] b, int s, int e, byte fl, byte[] o, int q) {
            o[q++] = '"';
            q = stringBody(b, s, e, fl, o, q);
            o[q++] = '"';
            return q;
        }

        /** The inside of {@link #string}. */
        static int stringBody(byte[] b, int s, int e, byte fl, byte[] o, int q) {
            int step = (fl & CsvCore.Parser.FLAG_ESC) != 0 ? 2 : 1;
            int i = s;
            while (i < e) {
                int clean = cleanRun(b, i, e);
                if (clean > i) {
                    System.arraycopy(b, i, o, q, clean - i);
                    q += clean - i;
                    i = clean;
                    if (i >= e) break;
                }
                byte c = b[i];
                if (c == '"') {
                    o[q++] = '\\';
                    o[q++] = '"';
                    i += (fl & CsvCore.Parser.FLAG_QUOTED) != 0 ? step : 1;
                    continue;
                }
                o[q++] = '\\';
                switch (c) {
                    case '\\' -> o[q++] = '\\';
                    case '\n' -> o[q++] = 'n';
                    case '\r' -> o[q++] = 'r';
                    case '\t' -> o[q++] = 't';
                    case '\b' -> o[q++] = 'b';
                    case '\f' -> o[q++] = 'f';
                    default -> {
                        o[q++] = 'u';
                        o[q++] = '0';
                        o[q++] = '0';
                        o[q++] = HEX[(c >> 4) & 0xf];
                        o[q++] = HEX[c & 0xf];
                    }
                }
                i++;
            }
            return q;
        }

        /** The end of the run of bytes that need no escaping (no ", \ or control character), 8 at a time. */
        static int cleanRun(byte[] b, int i, int e) {
            while (i + 8 <= e) {
                long x = (long) LONGS.get(b, i);
                long quote = x ^ 0x2222222222222222L, bs = x ^ 0x5C5C5C5C5C5C5C5CL;
                long t = ((quote - 0x0101010101010101L) & ~quote) | ((bs - 0x0101010101010101L) & ~bs)
                        | ((x - 0x2020202020202020L) & ~x);
                t &= 0x8080808080808080L;
                if (t != 0) return i + (Long.numberOfTrailingZeros(t) >> 3);
                i += 8;
            }
            while (i < e) {
                byte c = b[i];
                if ((c >= 0 && c < 0x20) || c == '"' || c == '\\') return i;
                i++;
            }
            return e;
        }

        void flush() throws IOException {
            if (op > 0) ob = sink.swap(ob, op);
            op = 0;
        }

        void finish() throws IOException {
            flush();
            BUFFERS.release(ob);
            ob = null;
        }
    }
}
