//DEPS info.picocli:picocli:4.7.7
//DEPS me.tongfei:progressbar:0.10.1
//DEPS org.slf4j:slf4j-api:2.0.17 org.slf4j:slf4j-nop:2.0.17
//SOURCES Config.java
//SOURCES CliTypes.java
// the progress bar's terminal library loads a native library: JDK 24+ warns above the bar unless allowed
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED
// class files for Java 21, as //JAVA 21+ promises, whichever newer JDK compiles them (an exported jar runs on 21)
//COMPILE_OPTIONS --release 21

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpTimeoutException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/**
 * Command-line pieces every script shares: the version, the common options, one-line error handling,
 * a progress bar and the summary line.
 *
 * <p>Exit codes: 0 ok, 1 failure, 2 usage (picocli's default for bad options).
 *
 * <p>slf4j-nop (with its API pinned at 2.x, over the AWS SDK's 1.7): the libraries' logging (HikariCP, the AWS SDK, the
 * MongoDB driver) stays quiet, and SLF4J's own "Failed to load class org.slf4j.impl.StaticLoggerBinder" warning, three
 * lines above every tb-to-dynamodb run, is gone; the scripts report what matters themselves.
 */
public final class Cli {
    private Cli() {}

    public static final String VERSION = "1.0.0";
    public static final int EXIT_OK = 0, EXIT_FAILURE = 1, EXIT_USAGE = 2;

    /** The one version provider: {@code versionProvider = Cli.Version.class}. */
    public static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"py-utilities (Java) " + VERSION,
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }

    /** Options every script has: {@code @Mixin Cli.Common common;} */
    public static final class Common {
        @Option(names = {"-q", "--quiet"}, description = "No progress output (errors and the summary line still print).")
        public boolean quiet;

        @Option(names = {"-v", "--verbose"}, description = "More detail, and stack traces on errors.")
        public boolean verbose;

        @Option(names = "--env-file", paramLabel = "FILE",
                description = "Read settings from FILE too. Precedence: environment, then FILE, then .env.local and .env of the "
                        + "working folder, then of the script's folder (when run through ./jbang); --verbose names the files read.")
        public Path envFile;

        private Config config;

        /** The settings (environment + dotenv files), loaded once. */
        public Config config() {
            if (config == null) {
                config = Config.load(envFile);
                if (verbose && !config.files().isEmpty()) System.err.println("settings read from " + String.join(", ", config.files()));
            }
            return config;
        }

        /** For tests: use these settings instead of the process environment. */
        public void config(Config c) {
            this.config = c;
        }
    }

    /**
     * The command line every script runs: {@code System.exit(Cli.commandLine(new MyCommand()).execute(args))}. A bad
     * option or value is one line naming it, with picocli's suggestions and a pointer to --help, exit code 2: the
     * whole usage after a typo hides the one line that matters. Choices (enums) are taken in any case: --format CSV.
     */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler(Cli::shortUsageError);
        return cl;
    }

    static int shortUsageError(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        String message = firstLine(ex.getMessage());
        if (message.startsWith("Error: ")) message = message.substring("Error: ".length()); // an arg group's; the name says whose
        StringBuilder line = new StringBuilder(cl.getCommandSpec().qualifiedName()).append(": ").append(message);
        if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
            line.append(" (did you mean ").append(String.join(" or ", u.getSuggestions().stream().limit(3).toList())).append("?)");
        }
        line.append("; see --help");
        err.println(Config.redact(line.toString()));
        err.flush();
        return cl.getCommandSpec().exitCodeOnInvalidInput();
    }

    /** A user mistake or an expected failure: printed as one line (no stack trace), exit code 1. */
    public static class Failure extends RuntimeException {
        public final int exitCode;

        public Failure(String message) {
            this(message, null, EXIT_FAILURE);
        }

        public Failure(String message, Throwable cause) {
            this(message, cause, EXIT_FAILURE);
        }

        public Failure(String message, Throwable cause, int exitCode) {
            super(message, cause);
            this.exitCode = exitCode;
        }
    }

    /** A mistake in the options or their values: one line, exit code 2. */
    public static Failure usage(String message) {
        return new Failure(message, null, EXIT_USAGE);
    }

    /**
     * Runs a command body: exceptions become one clear, redacted line on stderr and an exit code.
     * Use in {@code call()}: {@code return Cli.run(spec, common, () -> { ...; return 0; });}
     */
    public static int run(CommandSpec spec, Common common, Callable<Integer> body) {
        PrintWriter err = spec.commandLine().getErr();
        String name = spec.root().name();
        try {
            Integer rc = body.call();
            return rc == null ? EXIT_OK : rc;
        } catch (Throwable t) {
            boolean verbose = common != null && common.verbose;
            Throwable shown = unwrap(t);
            String line = describe(shown);
            boolean known = line != null;
            if (!known) line = shown.getClass().getSimpleName() + (shown.getMessage() == null ? "" : ": " + shown.getMessage());
            err.println(name + ": " + Config.redact(line));
            if (verbose || !known) {
                java.io.StringWriter sw = new java.io.StringWriter();
                shown.printStackTrace(new PrintWriter(sw));
                err.print(Config.redact(sw.toString()));
            }
            err.flush();
            if (shown instanceof InterruptedException) Thread.currentThread().interrupt();
            return shown instanceof Failure f ? f.exitCode : EXIT_FAILURE;
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof UncheckedIOException || t instanceof java.util.concurrent.ExecutionException
                || t instanceof java.util.concurrent.CompletionException
                || (t instanceof RuntimeException && t.getClass() == RuntimeException.class))
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** One line for the failures a user can act on, or null for a bug. */
    static String describe(Throwable t) {
        if (t instanceof Failure) return t.getMessage();
        if (t instanceof NoSuchFileException e) return "no such file or folder: " + e.getFile();
        if (t instanceof AccessDeniedException e) return "permission denied: " + e.getFile();
        if (t instanceof FileAlreadyExistsException e) return "already exists: " + e.getFile() + " (use --force to overwrite)";
        if (t instanceof NotDirectoryException e) return "not a folder: " + e.getFile();
        if (t instanceof FileNotFoundException) return t.getMessage();
        if (t instanceof UnknownHostException) return "unknown host: " + t.getMessage();
        if (t instanceof ConnectException) return "connection refused" + (t.getMessage() == null ? "" : ": " + t.getMessage());
        if (t instanceof SocketTimeoutException || t instanceof HttpTimeoutException) return "timed out: " + t.getMessage();
        if (t instanceof SQLException e) {
            String state = e.getSQLState() == null ? "" : " [SQLSTATE " + e.getSQLState() + "]";
            return "database error" + state + ": " + firstLine(e.getMessage());
        }
        if (t instanceof InterruptedException) return "interrupted";
        if (t instanceof IOException) return "I/O error: " + (t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
        return null;
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    // ---------------------------------------------------------------- progress

    /** True when stderr is an interactive terminal. */
    public static boolean isTerminal() {
        java.io.Console c = System.console();
        if (c == null) return false;
        try { // Java 22+: System.console() may exist without a terminal
            return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(c);
        } catch (ReflectiveOperationException e) {
            return true;
        }
    }

    /**
     * A progress bar on stderr when it is a terminal (silent otherwise or with --quiet). Counting is cheap
     * ({@link #add}) and thread-safe; the bar is redrawn from the counter a few times a second.
     */
    public static final class Progress implements AutoCloseable {
        private final AtomicLong done = new AtomicLong();
        private final ProgressBar bar;
        private final ScheduledExecutorService ticker;

        private Progress(String task, long total, String unit, long unitSize, boolean show) {
            if (show) {
                bar = new ProgressBarBuilder()
                        .setTaskName(task)
                        .setInitialMax(total > 0 ? total : -1)
                        .setUnit(unit, unitSize)
                        .setStyle(ProgressBarStyle.ASCII)
                        .setUpdateIntervalMillis(250)
                        .showSpeed()
                        .setConsumer(new ConsoleProgressBarConsumer(System.err))
                        .build();
                ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread th = new Thread(r, "progress");
                    th.setDaemon(true);
                    return th;
                });
                ticker.scheduleAtFixedRate(() -> bar.stepTo(done.get()), 200, 200, TimeUnit.MILLISECONDS);
            } else {
                bar = null;
                ticker = null;
            }
        }

        /** Progress over bytes (shown in MB). */
        public static Progress bytes(String task, long totalBytes, boolean quiet) {
            return new Progress(task, totalBytes, " MB", 1_000_000, !quiet && isTerminal());
        }

        /** Progress over items (rows, events, requests); total -1 when unknown. */
        public static Progress items(String task, long total, String unit, boolean quiet) {
            return new Progress(task, total, " " + unit, 1, !quiet && isTerminal());
        }

        public void add(long n) {
            done.addAndGet(n);
        }

        public void set(long n) {
            done.set(n);
        }

        public long done() {
            return done.get();
        }

        public boolean visible() {
            return bar != null;
        }

        /** A short note after the bar, such as what the run waits for; null clears it. */
        public void status(String text) {
            if (bar != null) bar.setExtraMessage(text == null ? "" : Config.redact(text));
        }

        @Override
        public void close() {
            if (bar != null) {
                ticker.shutdownNow();
                bar.stepTo(done.get());
                bar.close();
            }
        }
    }

    // ---------------------------------------------------------------- summary

    /** A JSON string literal of v (quotes, backslashes and control characters escaped; UTF-8 kept), or null for null. */
    public static String jsonString(String v) {
        if (v == null) return "null";
        StringBuilder sb = new StringBuilder(v.length() + 2).append('"');
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }

    /** CPU time of this process (all threads) in nanoseconds, or -1 where the JVM cannot tell. */
    public static long processCpuNanos() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    /** "done: 1,000,000 rows, 100.0 MB in 1.23 s (813,008 rows/s, 81.3 MB/s)" */
    public static String summary(String verb, long items, String unit, long bytes, Duration elapsed) {
        double s = Math.max(elapsed.toNanos() / 1e9, 1e-9);
        StringBuilder sb = new StringBuilder();
        sb.append(verb).append(": ").append(String.format(Locale.ROOT, "%,d", items)).append(' ').append(unit);
        if (bytes >= 0) sb.append(", ").append(humanBytes(bytes));
        sb.append(String.format(Locale.ROOT, " in %.2f s (%,.0f %s/s", s, items / s, unit));
        if (bytes >= 0) sb.append(String.format(Locale.ROOT, ", %.1f MB/s", bytes / s / 1e6));
        sb.append(')');
        return sb.toString();
    }

    public static String humanBytes(long b) {
        if (b < 1000) return b + " B";
        if (b < 1_000_000) return String.format(Locale.ROOT, "%.1f kB", b / 1e3);
        if (b < 1_000_000_000) return String.format(Locale.ROOT, "%.1f MB", b / 1e6);
        return String.format(Locale.ROOT, "%.2f GB", b / 1e9);
    }
}
