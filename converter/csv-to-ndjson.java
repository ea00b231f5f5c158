///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/CsvCore.java
//SOURCES FolderInputs.java
//SOURCES OutputFiles.java
//SOURCES CsvInput.java
//SOURCES Conversion.java
//SOURCES ValueTypes.java
//SOURCES NdjsonOut.java
//JAVA_OPTIONS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms32m -Xmx160m
//DESCRIPTION Converts CSV to NDJSON with one type per column (integer, float, boolean, null, string), fast.
//DESCRIPTION Usage: csv-to-ndjson.java [FILE...|DIR...|-] [-o FILE|DIR] [--schema FILE] [options]
//DESCRIPTION Writes the Tinybird data source schema (jsonpaths) for the data with --schema.
//MAIN CsvToNdjson

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

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
 * <p>How: a byte-level RFC 4180 parser (lib/CsvCore: quotes, "" escapes, multi-line fields, CRLF/LF) feeds a writer that copies
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
                "  ./jbang csv-to-ndjson weather.csv > weather.ndjson",
                "  ./jbang csv-to-ndjson weather.csv -o weather.ndjson.gz --schema weather.datasource",
                "  cat a.csv | ./jbang csv-to-ndjson --delimiter ';' --encoding windows-1252 --stream | head",
                "  ./jbang csv-to-ndjson data/*.csv -o out/        # one .ndjson per input",
                "  ./jbang csv-to-ndjson data/                     # data/x.csv -> data/x.ndjson, each *.csv and *.csv.gz",
                "  ./jbang csv-to-ndjson --no-header --types column_3:string --empty omit raw.csv"})
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

    @Option(names = {"-d", "--delimiter"}, paramLabel = "CHAR", converter = Delimiter.class,
            description = "Field delimiter: , ; | tab (or \\t) or any one ASCII character. Default: detected among , ; TAB |.")
    Byte delimiter;

    @Option(names = "--no-header", description = "The first row is data; columns are named column_1, column_2, ...")
    boolean noHeader;

    @Option(names = "--columns", split = ",", paramLabel = "NAME",
            description = "Column names; the file has no header row (unless --replace-header).")
    List<String> columns;

    @Option(names = "--replace-header", description = "With --columns: the file's header row is skipped and replaced by --columns.")
    boolean replaceHeader;

    @Option(names = "--dedupe-headers", description = "Rename repeated header names to name_2, name_3, ... (default: an error).")
    boolean dedupeHeaders;

    @Option(names = "--encoding", paramLabel = "CHARSET", converter = CharsetName.class,
            description = "Input encoding (ISO-8859-1, windows-1252, UTF-16, ...); output is always UTF-8. Default: UTF-8.")
    Charset encoding = StandardCharsets.UTF_8;

    @Option(names = "--allow-ragged", description = "Pad short rows with empty cells and drop the extra cells of long rows (default: an error).")
    boolean allowRagged;

    /** What an empty cell becomes. */
    enum Empty {
        NULL, STRING, OMIT;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    @Option(names = "--empty", paramLabel = "MODE",
            description = "Empty cells become: null (default), string (\"\", which makes the column a string column) or omit (no key).")
    Empty empty = Empty.NULL;

    @Option(names = "--all-strings", description = "No type inference: every value is a string.")
    boolean allStrings;

    @Option(names = "--types", split = ",", paramLabel = "COL:TYPE", converter = ForcedType.Parser.class,
            description = "Force column types: string, integer, float, boolean (a value that does not fit is an error).")
    List<ForcedType> types;

    @Option(names = "--booleans", split = ",", paramLabel = "TRUE/FALSE", converter = BooleanPair.Parser.class,
            description = "More boolean spellings besides true/false, e.g. yes/no,1/0,y/n (any case).")
    List<BooleanPair> booleans;

    @Option(names = "--schema", paramLabel = "FILE",
            description = "Write the Tinybird schema (`col` Type `json:$.col`, one per line) to FILE; FILE.datasource gets a SCHEMA > block. One input only.")
    Path schema;

    @Option(names = "--stream", description = "Write as the input is read: types from the sample only; a later value that does not fit its column is an error (never a wrong value).")
    boolean stream;

    @Option(names = "--sample", paramLabel = "SIZE", converter = CliTypes.PositiveSize.class,
            description = "Bytes read to guess the types before writing (default: 1MB). Without --stream the guess is checked, so it only affects speed.")
    long sample = 1_000_000;

    @Option(names = "--max-record", paramLabel = "SIZE", converter = RecordLimit.class,
            description = "Longest record (row) accepted, in bytes (default: 32MB; at least 1MB, at most 1GB). A record is held whole in memory,"
                    + " so the limit bounds memory: a longer one is an error naming its line and column. A larger limit needs about 3 bytes of"
                    + " heap per byte of it: e.g. jbang -R-Xmx1g csv-to-ndjson.java --max-record 256MB ...")
    long maxRecord = DEFAULT_MAX_RECORD;

    static final long DEFAULT_MAX_RECORD = 32_000_000;

    // ================================================================== option values

    /** -d: one ASCII character other than a quote or a line break; tab, comma, semicolon and pipe by name too. */
    static final class Delimiter implements CommandLine.ITypeConverter<Byte> {
        public Byte convert(String d) {
            String v = switch (d.toLowerCase(Locale.ROOT)) {
                case "tab", "\\t", "\t" -> "\t";
                case "comma" -> ",";
                case "semicolon" -> ";";
                case "pipe" -> "|";
                default -> d;
            };
            if (v.length() != 1 || v.charAt(0) > 127 || "\"\r\n".indexOf(v.charAt(0)) >= 0) {
                throw new CommandLine.TypeConversionException("expected one ASCII character other than a quote or a line break, got '" + d + "'");
            }
            return (byte) v.charAt(0);
        }
    }

    static final class CharsetName implements CommandLine.ITypeConverter<Charset> {
        public Charset convert(String name) {
            try {
                return Charset.forName(name);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("unknown encoding '" + name + "' (examples: UTF-8, ISO-8859-1, windows-1252, UTF-16)");
            }
        }
    }

    /** --max-record: from 1MB to 1GiB. */
    static final class RecordLimit implements CommandLine.ITypeConverter<Long> {
        public Long convert(String value) {
            long n = new CliTypes.PositiveSize().convert(value);
            if (n < 1_000_000 || n > 1L << 30) throw new CommandLine.TypeConversionException("expected 1MB to 1GiB, got '" + value + "'");
            return n;
        }
    }

    /** A --types entry: COLUMN:TYPE, the type by any of its names. */
    record ForcedType(String column, int type) {
        static final class Parser implements CommandLine.ITypeConverter<ForcedType> {
            public ForcedType convert(String t) {
                int c = t.lastIndexOf(':');
                if (c <= 0) throw new CommandLine.TypeConversionException("expected COLUMN:TYPE, got '" + t + "'");
                int ty = switch (t.substring(c + 1).strip().toLowerCase(Locale.ROOT)) {
                    case "string", "str", "text" -> T_STRING;
                    case "integer", "int", "int64", "long" -> T_INT;
                    case "float", "double", "float64", "number" -> T_FLOAT;
                    case "boolean", "bool" -> T_BOOL;
                    default -> throw new CommandLine.TypeConversionException("unknown type '" + t.substring(c + 1) + "' in '" + t
                            + "' (string, integer, float, boolean)");
                };
                return new ForcedType(t.substring(0, c), ty);
            }
        }
    }

    /** A --booleans entry: TRUE/FALSE spellings, kept lower-case. */
    record BooleanPair(String trueWord, String falseWord) {
        static final class Parser implements CommandLine.ITypeConverter<BooleanPair> {
            public BooleanPair convert(String b) {
                String[] tf = b.split("/", -1);
                if (tf.length != 2 || tf[0].isEmpty() || tf[1].isEmpty() || tf[0].equalsIgnoreCase(tf[1])) {
                    throw new CommandLine.TypeConversionException("expected TRUE/FALSE pairs such as yes/no, got '" + b + "'");
                }
                return new BooleanPair(tf[0].toLowerCase(Locale.ROOT), tf[1].toLowerCase(Locale.ROOT));
            }
        }
    }

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
        if (delimiter != null) s.delim = delimiter;
        s.header = !noHeader && (columns == null || replaceHeader);
        if (replaceHeader && columns == null) throw Cli.usage("--replace-header needs --columns");
        if (noHeader && columns != null) throw Cli.usage("use either --no-header or --columns");
        s.columns = columns;
        s.dedupe = dedupeHeaders;
        s.charset = encoding;
        s.ragged = allowRagged;
        s.empty = switch (empty) {
            case NULL -> Settings.EMPTY_NULL;
            case STRING -> Settings.EMPTY_STRING;
            case OMIT -> Settings.EMPTY_OMIT;
        };
        s.allStrings = allStrings;
        if (types != null) for (ForcedType t : types) s.forced.put(t.column(), t.type());
        if (booleans != null) {
            for (BooleanPair b : booleans) {
                s.trueWords.add(b.trueWord().getBytes(StandardCharsets.UTF_8));
                s.falseWords.add(b.falseWord().getBytes(StandardCharsets.UTF_8));
            }
        }
        s.stream = stream;
        s.sampleBytes = (int) Math.min(sample, 256L << 20);
        s.schema = schema != null;
        s.quiet = common.quiet;
        long heap = Runtime.getRuntime().maxMemory();
        if (maxRecord > DEFAULT_MAX_RECORD && 3 * maxRecord + (64L << 20) > heap) {
            throw Cli.usage("--max-record " + Cli.humanBytes(maxRecord) + " needs about " + Cli.humanBytes(3 * maxRecord + (64L << 20))
                    + " of heap and this JVM has " + Cli.humanBytes(heap) + ": give it more, e.g. jbang -R-Xmx" + ((3 * maxRecord >> 30) + 1)
                    + "g csv-to-ndjson.java ...");
        }
        s.maxRecord = maxRecord;
        return s;
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
                        throw OutputFiles.cannotWrite(dir, e);
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
            OutputFiles.publishAll(done);
        } finally {
            for (Path[] d : done) OutputFiles.deleteQuietly(d[0]);
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
            OutputFiles.publishAll(done);
        } finally {
            for (Path[] d : done) OutputFiles.deleteQuietly(d[0]);
        }
        return totals;
    }

    final OutputFiles.Temps temps = new OutputFiles.Temps();

    /**
     * Converts the inputs into a temp file next to target and returns it, complete and closed (the caller renames it
     * into place); on failure the temp files are gone.
     */
    Path convertToFile(Settings s, List<String> inputs, Path target, Totals totals, Cli.Progress progress) throws Exception {
        Path parent = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw OutputFiles.cannotWrite(target, e);
        }
        boolean gz = target.getFileName().toString().endsWith(".gz");
        Path tmp = temps.create(parent, "." + target.getFileName(), ".tmp", target);
        List<Path> parts = new ArrayList<>();
        boolean ok = false;
        try {
            if (!gz && inputs.size() == 1 && !s.stream) {
                convertOne(s, inputs.get(0), tmp, target, null, totals, progress);
            } else if (s.stream) {
                try (OutputStream os = OutputFiles.open(tmp, gz, target)) {
                    for (String in : inputs) convertOne(s, in, null, target, os, totals, progress);
                }
            } else {
                for (String in : inputs) {
                    Path part = temps.create(parent, "." + target.getFileName(), ".part", target);
                    parts.add(part);
                    convertOne(s, in, part, target, null, totals, progress);
                }
                try (OutputStream os = OutputFiles.open(tmp, gz, target)) {
                    for (Path p : parts) Files.copy(p, os);
                }
            }
            ok = true;
            return tmp;
        } finally {
            if (!ok) OutputFiles.deleteQuietly(tmp);
            for (Path p : parts) OutputFiles.deleteQuietly(p);
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
                OutputFiles.deleteQuietly(part);
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
        CsvInput.Source src = input.equals("-") ? CsvInput.Source.stdin(s, temps) : CsvInput.Source.file(Path.of(input), s);
        try {
            Conversion.Job job = new Conversion.Job(s, src, progress);
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
            throw OutputFiles.cannotWrite(target, e);
        }
        Path tmp = temps.create(parent, "." + target.getFileName(), ".tmp", target);
        try {
            Files.writeString(tmp, text);
            return tmp;
        } catch (IOException e) {
            OutputFiles.deleteQuietly(tmp);
            throw OutputFiles.cannotWrite(target, e);
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

    /** The process's stdin; tests put their own here. */
    static final ThreadLocal<InputStream> STDIN_OVERRIDE = new ThreadLocal<>();
    static final java.util.function.Supplier<InputStream> STDIN = () -> {
        InputStream o = STDIN_OVERRIDE.get();
        return o != null ? o : new java.io.FileInputStream(java.io.FileDescriptor.in);
    };


    static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    // ================================================================== a value that does not fit its column

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

}
