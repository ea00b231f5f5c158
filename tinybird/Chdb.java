// The FFM API (java.lang.foreign) is final from Java 22: this file raises the release that lib/Cli.java sets to 21.
// JBang passes the options of //SOURCES files in order and javac keeps the last --release, so a script (or the test
// runner) must pull this file in after lib/Cli.java.
//COMPILE_OPTIONS --release 22
//JAVA_OPTIONS --enable-native-access=ALL-UNNAMED

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Embedded ClickHouse (chDB's libchdb.so) called through Java's FFM API: the engine under the Tinybird emulator.
 *
 * <p>Why: Tinybird is ClickHouse underneath; running the same engine in-process makes the emulator's SQL real SQL
 * (what runs here runs there) and keeps rows off the JVM heap. The library is npm's {@code @chdb/lib-linux-x64-gnu}
 * (chdb@3.4.0's platform package), pinned by tinybird/package.json and package-lock.json and installed once with
 * {@code npm ci} into a cache folder (about 178 MB to download, 540 MB on disk; later runs reuse it).
 * {@code CHDB_LIBRARY=/path/to/libchdb.so} uses a library already on the machine instead.
 *
 * <p>Invariants: chDB's own signal handlers are switched off before the first connect (with them, the JVM dies at
 * its first implicit null check); there is one engine per process (chDB refuses a second with another path), shared
 * by every emulator in the JVM, and it lives while one connection is open, so the first one is held until the JVM exits
 * (then every connection is closed, the engine's threads stop before the process goes); a connection runs one
 * statement at a time, so callers take one per thread ({@link #connect()}); results live in native memory until
 * {@link Result#close()}.
 */
final class Chdb {
    static final String PACKAGE = "@chdb/lib-linux-x64-gnu";
    static final String VERSION = "26.7.3-stable.1";

    private static Chdb engine;

    final Path dataDir; // null = in memory
    private final MethodHandle connect, closeConn, queryN, streamQueryN, streamFetch, streamCancel, resultBuffer, resultLength, resultError, resultElapsed,
            resultRowsRead, resultBytesRead, destroyResult;
    private final List<String> argv;
    /** Held for the life of the process: closing every connection would stop the engine (an in-memory one loses all). */
    private Connection anchor;
    private final java.util.Set<Connection> open = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Set when the JVM exits: no new connection (it would start a second engine), statements on closed ones fail. */
    volatile boolean stopping;

    /** The process's engine: in memory (dataDir null) or on disk; an engine already open must have the same path. */
    static synchronized Chdb engine(Path dataDir) {
        Path dir = dataDir == null ? null : dataDir.toAbsolutePath().normalize();
        if (engine != null) {
            if (!java.util.Objects.equals(engine.dataDir, dir)) {
                throw new IllegalStateException("chDB runs one engine per process, already open "
                        + (engine.dataDir == null ? "in memory" : "on " + engine.dataDir) + "; cannot also open "
                        + (dir == null ? "one in memory" : dir));
            }
            return engine;
        }
        engine = new Chdb(dir);
        return engine;
    }

    private Chdb(Path dataDir) {
        this.dataDir = dataDir;
        Path lib = library();
        Linker linker = Linker.nativeLinker();
        SymbolLookup l;
        try {
            l = SymbolLookup.libraryLookup(lib, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("cannot load " + lib + " (" + e.getMessage() + "): chDB needs linux with glibc; "
                    + "set CHDB_LIBRARY to a libchdb.so built for this machine", e);
        }
        ValueLayout.OfLong size = ValueLayout.JAVA_LONG;
        MethodHandle signals = linker.downcallHandle(find(l, "chdb_set_signal_handlers_enabled"), FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
        connect = linker.downcallHandle(find(l, "chdb_connect"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        closeConn = linker.downcallHandle(find(l, "chdb_close_conn"), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        queryN = linker.downcallHandle(find(l, "chdb_query_n"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, size, ValueLayout.ADDRESS, size));
        streamQueryN = linker.downcallHandle(find(l, "chdb_stream_query_n"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, size, ValueLayout.ADDRESS, size));
        streamFetch = linker.downcallHandle(find(l, "chdb_stream_fetch_result"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        streamCancel = linker.downcallHandle(find(l, "chdb_stream_cancel_query"), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        resultBuffer = linker.downcallHandle(find(l, "chdb_result_buffer"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        resultLength = linker.downcallHandle(find(l, "chdb_result_length"), FunctionDescriptor.of(size, ValueLayout.ADDRESS));
        resultError = linker.downcallHandle(find(l, "chdb_result_error"), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        resultElapsed = linker.downcallHandle(find(l, "chdb_result_elapsed"), FunctionDescriptor.of(ValueLayout.JAVA_DOUBLE, ValueLayout.ADDRESS));
        resultRowsRead = linker.downcallHandle(find(l, "chdb_result_rows_read"), FunctionDescriptor.of(size, ValueLayout.ADDRESS));
        resultBytesRead = linker.downcallHandle(find(l, "chdb_result_bytes_read"), FunctionDescriptor.of(size, ValueLayout.ADDRESS));
        destroyResult = linker.downcallHandle(find(l, "chdb_destroy_query_result"), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        List<String> a = new ArrayList<>(List.of("clickhouse"));
        if (dataDir != null) {
            try {
                Files.createDirectories(dataDir);
            } catch (IOException e) {
                throw new IllegalStateException("cannot create the data folder " + dataDir + ": " + e.getMessage(), e);
            }
            a.add("--path=" + dataDir);
        }
        argv = List.copyOf(a);
        try {
            signals.invokeExact(0);
        } catch (Throwable t) {
            throw new IllegalStateException("chdb_set_signal_handlers_enabled failed", t);
        }
        anchor = connect(); // the engine starts with the first connection and stops with the last: this one stays open
        Runtime.getRuntime().addShutdownHook(new Thread(this::shutdown, "chdb-shutdown"));
    }

    /**
     * At JVM exit: every connection closed, the anchor last, so the engine stops its own threads before the process
     * tears down (left running, one of them can touch freed memory and crash the exiting JVM with SIGSEGV).
     */
    private void shutdown() {
        stopping = true;
        for (Connection c : open.toArray(Connection[]::new)) {
            if (c != anchor) c.close();
        }
        if (anchor != null) anchor.close();
    }

    private static MemorySegment find(SymbolLookup l, String name) {
        return l.find(name).orElseThrow(() -> new IllegalStateException("libchdb.so lacks " + name + ": use chDB " + VERSION));
    }

    /** A new connection to the engine (2-3 ms); one statement at a time each. */
    Connection connect() {
        if (stopping) throw new IllegalStateException("chDB is shutting down with the JVM");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment args = a.allocate(ValueLayout.ADDRESS, argv.size());
            for (int i = 0; i < argv.size(); i++) args.setAtIndex(ValueLayout.ADDRESS, i, a.allocateFrom(argv.get(i)));
            MemorySegment c = (MemorySegment) connect.invokeExact(argv.size(), args);
            if (c.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("chDB did not start" + (dataDir == null ? "" : " on " + dataDir
                        + " (is another process using that folder?)"));
            }
            Connection conn = new Connection(c.reinterpret(ValueLayout.ADDRESS.byteSize()));
            open.add(conn);
            return conn;
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("chdb_connect failed", t);
        }
    }

    /** A statement's error (ClickHouse's own text, e.g. "Code: 62. DB::Exception: Syntax error ..."). */
    static final class QueryException extends RuntimeException {
        final int code;

        QueryException(String message) {
            super(message.strip());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("Code: (\\d+)\\.").matcher(message);
            this.code = m.find() ? Integer.parseInt(m.group(1)) : 0;
        }
    }

    /** One connection: statements run one at a time (synchronized), results stay native until closed. */
    final class Connection implements AutoCloseable {
        private final MemorySegment handle; // chdb_connection *
        private boolean closed;

        Connection(MemorySegment handle) {
            this.handle = handle;
        }

        /** Runs sql (UTF-8); format names the output format (JSON, CSV, JSONEachRow...; null = ClickHouse's default). */
        Result query(String sql, String format) {
            return query(sql.getBytes(StandardCharsets.UTF_8), format);
        }

        /** Runs a statement given as bytes (an INSERT may carry its rows after the FORMAT clause). */
        synchronized Result query(byte[] sql, String format) {
            if (closed) throw new IllegalStateException("connection closed");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment q = a.allocate(sql.length + 1L);
                MemorySegment.copy(sql, 0, q, ValueLayout.JAVA_BYTE, 0, sql.length);
                byte[] f = (format == null ? "" : format).getBytes(StandardCharsets.US_ASCII);
                MemorySegment fs = a.allocate(f.length + 1L);
                MemorySegment.copy(f, 0, fs, ValueLayout.JAVA_BYTE, 0, f.length);
                MemorySegment conn = handle.get(ValueLayout.ADDRESS, 0);
                MemorySegment r = (MemorySegment) queryN.invokeExact(conn, q, (long) sql.length, fs, (long) f.length);
                if (r.equals(MemorySegment.NULL)) throw new QueryException("chDB returned no result");
                MemorySegment err = (MemorySegment) resultError.invokeExact(r);
                if (!err.equals(MemorySegment.NULL)) {
                    String msg = err.reinterpret(Long.MAX_VALUE).getString(0);
                    destroyResult.invokeExact(r);
                    throw new QueryException(msg);
                }
                return new Result(r);
            } catch (QueryException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("chdb_query failed", t);
            }
        }

        /**
         * Runs a SELECT and hands its output to out chunk by chunk as the engine makes it (a large answer is never whole
         * in memory). The first chunk is fetched before out.start() is called, so an error in the query is thrown as a
         * QueryException before anything is sent; an IOException from out cancels the query.
         */
        synchronized void stream(String sql, String format, ChunkSink out) throws IOException {
            if (closed) throw new IllegalStateException("connection closed");
            byte[] q = sql.getBytes(StandardCharsets.UTF_8), f = format.getBytes(StandardCharsets.US_ASCII);
            MemorySegment conn = handle.get(ValueLayout.ADDRESS, 0);
            MemorySegment h;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment qs = a.allocate(q.length + 1L), fs = a.allocate(f.length + 1L);
                MemorySegment.copy(q, 0, qs, ValueLayout.JAVA_BYTE, 0, q.length);
                MemorySegment.copy(f, 0, fs, ValueLayout.JAVA_BYTE, 0, f.length);
                h = (MemorySegment) streamQueryN.invokeExact(conn, qs, (long) q.length, fs, (long) f.length);
            } catch (Throwable t) {
                throw new IllegalStateException("chdb_stream_query failed", t);
            }
            boolean done = false, started = false;
            try {
                String err = error(h);
                if (err != null) throw new QueryException(err);
                while (true) {
                    MemorySegment c = (MemorySegment) streamFetch.invokeExact(conn, h);
                    try (Result chunk = new Result(c)) {
                        String e = error(c);
                        if (e != null) throw new QueryException(e);
                        if (!started) {
                            out.start();
                            started = true;
                        }
                        if (chunk.length == 0) {
                            done = true;
                            break;
                        }
                        out.write(chunk);
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("chdb_stream_fetch_result failed", t);
            } finally {
                try {
                    if (!done) streamCancel.invokeExact(conn, h);
                    destroyResult.invokeExact(h);
                } catch (Throwable t) {
                    throw new IllegalStateException("chdb_stream_cancel_query failed", t);
                }
            }
        }

        private String error(MemorySegment r) throws Throwable {
            MemorySegment err = (MemorySegment) resultError.invokeExact(r);
            return err.equals(MemorySegment.NULL) ? null : err.reinterpret(Long.MAX_VALUE).getString(0);
        }

        /** Runs a statement whose output is not needed. */
        void execute(String sql) {
            query(sql, null).close();
        }

        /** The statement's output as text. */
        String text(String sql, String format) {
            try (Result r = query(sql, format)) {
                return new String(r.bytes(), StandardCharsets.UTF_8);
            }
        }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            open.remove(this);
            try {
                closeConn.invokeExact(handle);
            } catch (Throwable t) {
                throw new IllegalStateException("chdb_close_conn failed", t);
            }
        }
    }

    /** Where a streamed answer goes: start() once before the first chunk, then each chunk (valid until write returns). */
    interface ChunkSink {
        void start() throws IOException;

        void write(Result chunk) throws IOException;
    }

    /** A materialized result in native memory: read it, then close it. */
    final class Result implements AutoCloseable {
        private MemorySegment r;
        final long length;
        private final MemorySegment data;

        Result(MemorySegment r) throws Throwable {
            this.r = r;
            this.length = (long) resultLength.invokeExact(r);
            MemorySegment b = (MemorySegment) resultBuffer.invokeExact(r);
            this.data = length == 0 || b.equals(MemorySegment.NULL) ? MemorySegment.NULL : b.reinterpret(length);
        }

        byte[] bytes() {
            return length == 0 ? new byte[0] : data.toArray(ValueLayout.JAVA_BYTE);
        }

        /** Writes the output in 64 KB slices, so a large result is never copied whole onto the heap. */
        void writeTo(OutputStream os) throws IOException {
            byte[] buf = new byte[(int) Math.min(length, 64 * 1024)];
            for (long off = 0; off < length; off += buf.length) {
                int n = (int) Math.min(buf.length, length - off);
                MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off, buf, 0, n);
                os.write(buf, 0, n);
            }
        }

        double elapsed() {
            try {
                return (double) resultElapsed.invokeExact(r);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        long rowsRead() {
            try {
                return (long) resultRowsRead.invokeExact(r);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        long bytesRead() {
            try {
                return (long) resultBytesRead.invokeExact(r);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        @Override
        public void close() {
            if (r == null) return;
            try {
                destroyResult.invokeExact(r);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            r = null;
        }
    }

    // ------------------------------------------------------------------ finding (or installing) libchdb.so

    /** CHDB_LIBRARY, else the pinned package in the cache folder, installed there on first use. */
    static Path library() {
        String env = System.getenv("CHDB_LIBRARY");
        if (env != null && !env.isBlank()) {
            Path p = Path.of(env.strip());
            if (!Files.isRegularFile(p)) throw new IllegalStateException("CHDB_LIBRARY=" + p + " is not a file");
            return p;
        }
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT), arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new IllegalStateException("chDB: the pinned package is for linux x86-64, this is " + os + " " + arch
                    + ": install chDB's library (npm i chdb, or pip install chdb) and set CHDB_LIBRARY=/path/to/libchdb.so");
        }
        Path home = cacheHome().resolve("chdb-" + VERSION);
        Path lib = home.resolve("node_modules/" + PACKAGE + "/libchdb.so");
        if (Files.isRegularFile(lib)) return lib;
        install(home);
        return lib;
    }

    static Path cacheHome() {
        String x = System.getenv("XDG_CACHE_HOME");
        Path base = x != null && !x.isBlank() ? Path.of(x) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("py-utilities-java");
    }

    /** npm ci of tinybird/package-lock.json into a temp folder beside home, renamed to home when complete. */
    static void install(Path home) {
        Path lock = lockFile().orElseThrow(() -> new IllegalStateException(
                "chDB is not installed and tinybird/package-lock.json was not found: run from the checkout, or set CHDB_LIBRARY=/path/to/libchdb.so"));
        try {
            Files.createDirectories(home.getParent());
            Path tmp = Files.createTempDirectory(home.getParent(), home.getFileName() + ".tmp");
            Files.copy(lock, tmp.resolve("package-lock.json"));
            Files.copy(lock.resolveSibling("package.json"), tmp.resolve("package.json"));
            System.err.println("chDB: installing " + PACKAGE + "@" + VERSION + " (libchdb.so, about 178 MB to download, once) into " + home);
            Process p;
            try {
                p = new ProcessBuilder("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
                        .directory(tmp.toFile()).redirectErrorStream(true).redirectOutput(tmp.resolve("npm.log").toFile()).start();
            } catch (IOException e) {
                throw new IllegalStateException("chDB is not installed and npm is missing: install Node.js (npm), "
                        + "or set CHDB_LIBRARY=/path/to/libchdb.so");
            }
            if (!p.waitFor(15, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException("chDB: npm ci took over 15 minutes (log: " + tmp.resolve("npm.log") + ")");
            }
            if (p.exitValue() != 0) {
                String log = Files.readString(tmp.resolve("npm.log")).strip().lines().findFirst().orElse("");
                throw new IllegalStateException("chDB: npm ci failed (" + log + "; log: " + tmp.resolve("npm.log") + ")");
            }
            try {
                Files.move(tmp, home, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (!Files.isDirectory(home)) throw e; // another process installed it meanwhile: theirs is as good
            }
        } catch (IOException e) {
            throw new IllegalStateException("chDB: cannot install into " + home + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("chDB: install interrupted", e);
        }
    }

    /** tinybird/package-lock.json: beside the running script, or in a tinybird/ folder above it or the working folder. */
    static Optional<Path> lockFile() {
        List<Path> starts = new ArrayList<>();
        String script = System.getenv("PY_UTILITIES_SCRIPT");
        if (script != null && !script.isBlank()) starts.add(Path.of(script).toAbsolutePath().getParent());
        starts.add(Path.of("").toAbsolutePath());
        for (Path s : starts) {
            for (Path d = s; d != null; d = d.getParent()) {
                for (Path c : List.of(d.resolve("package-lock.json"), d.resolve("tinybird/package-lock.json"))) {
                    try {
                        if (Files.isRegularFile(c) && Files.readString(c).contains("\"" + PACKAGE + "\"")) return Optional.of(c);
                    } catch (IOException ignored) {
                        // unreadable: look further
                    }
                }
            }
        }
        return Optional.empty();
    }
}
