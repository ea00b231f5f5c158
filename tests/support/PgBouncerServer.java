import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real PgBouncer (the Debian package's binary) in front of the test PostgreSQL, for tests: its own config and
 * auth file in a temp folder, a free loopback port, started in the foreground and stopped by {@link #close()} (and at
 * JVM exit). PgBouncer refuses to run as root, so under root it runs as the postgres (else nobody) user.
 */
public final class PgBouncerServer implements AutoCloseable {
    private final Process process;
    private final Path dir;
    public final int port;

    private PgBouncerServer(Process process, Path dir, int port) {
        this.process = process;
        this.dir = dir;
        this.port = port;
    }

    /** The pgbouncer binary, or null when it is not installed (Debian puts it in /usr/sbin). */
    public static String binary() {
        for (String p : List.of("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer")) {
            if (Files.isExecutable(Path.of(p))) return p;
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                if (Files.isExecutable(Path.of(d, "pgbouncer"))) return Path.of(d, "pgbouncer").toString();
            }
        }
        return null;
    }

    /**
     * Starts PgBouncer in front of backend (its host and port) in the given pool mode, with users (name to password)
     * in its auth file; clients authenticate with scram-sha-256 and PgBouncer logs in to the server with the same password.
     */
    public static PgBouncerServer start(Pg.Target backend, String poolMode, int poolSize, Map<String, String> users) {
        return start(backend, poolMode, poolSize, users, false);
    }

    /**
     * As above; with requireTls, clients must use SSL (client_tls_sslmode = require, a self-signed certificate made
     * with openssl), as Supabase and most hosted PostgreSQL do.
     */
    public static PgBouncerServer start(Pg.Target backend, String poolMode, int poolSize, Map<String, String> users, boolean requireTls) {
        String bin = binary();
        if (bin == null) throw new IllegalStateException("pgbouncer is not installed");
        try {
            String hostPort = backend.jdbcUrl().replaceAll("^jdbc:postgresql://([^/]+)/.*$", "$1");
            String host = hostPort.substring(0, hostPort.lastIndexOf(':'));
            String bport = hostPort.substring(hostPort.lastIndexOf(':') + 1);
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            Path dir = Files.createTempDirectory("pgbouncer");
            StringBuilder auth = new StringBuilder();
            users.forEach((u, p) -> auth.append('"').append(u.replace("\"", "\"\"")).append("\" \"")
                    .append(p.replace("\"", "\"\"")).append("\"\n"));
            Path authFile = dir.resolve("userlist.txt");
            Files.writeString(authFile, auth, StandardCharsets.UTF_8);
            Path ini = dir.resolve("pgbouncer.ini");
            Files.writeString(ini, """
                    [databases]
                    * = host=%s port=%s

                    [pgbouncer]
                    listen_addr = 127.0.0.1
                    listen_port = %d
                    unix_socket_dir =
                    auth_type = scram-sha-256
                    auth_file = %s
                    pool_mode = %s
                    default_pool_size = %d
                    min_pool_size = 0
                    max_client_conn = 500
                    ignore_startup_parameters = extra_float_digits,options
                    server_reset_query =
                    logfile =
                    pidfile =
                    """.formatted(host, bport, port, authFile, poolMode, poolSize), StandardCharsets.UTF_8);
            List<Path> files = new ArrayList<>(List.of(dir, authFile, ini));
            if (requireTls) {
                Path key = dir.resolve("key.pem"), cert = dir.resolve("cert.pem");
                Process ssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(),
                        "-out", cert.toString(), "-days", "2", "-subj", "/CN=localhost").redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!ssl.waitFor(60, TimeUnit.SECONDS) || ssl.exitValue() != 0) throw new IllegalStateException("openssl could not make a certificate");
                Files.writeString(ini, "client_tls_sslmode = require\nclient_tls_key_file = " + key + "\nclient_tls_cert_file = " + cert + "\n",
                        StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
                Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
                files.addAll(List.of(key, cert));
            }
            List<String> cmd = new ArrayList<>();
            if ("root".equals(System.getProperty("user.name"))) {
                String user = userExists("postgres") ? "postgres" : "nobody";
                UserPrincipal owner = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(user);
                for (Path p : files) Files.setOwner(p, owner);
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
                cmd.addAll(List.of("runuser", "-u", user, "--"));
            }
            cmd.addAll(List.of(bin, ini.toString()));
            Path log = Files.createTempFile("pgbouncer", ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            PgBouncerServer b = new PgBouncerServer(p, dir, port);
            Runtime.getRuntime().addShutdownHook(new Thread(b::close, "stop-pgbouncer"));
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            while (true) {
                if (!p.isAlive()) throw new IllegalStateException("pgbouncer exited with " + p.exitValue() + ": " + Files.readString(log));
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                    break;
                } catch (IOException notYet) {
                    if (System.nanoTime() > until) {
                        b.close();
                        throw new IllegalStateException("pgbouncer did not listen on " + port + ": " + Files.readString(log));
                    }
                    Thread.sleep(50);
                }
            }
            return b;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start pgbouncer", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static boolean userExists(String name) {
        try {
            return Files.readAllLines(Path.of("/etc/passwd")).stream().anyMatch(l -> l.startsWith(name + ":"));
        } catch (IOException e) {
            return false;
        }
    }

    /** The same server settings, pointed at PgBouncer's port. */
    public Pg.Target front(Pg.Target t) {
        java.util.Properties p = new java.util.Properties();
        p.putAll(t.props());
        return new Pg.Target(t.jdbcUrl().replaceFirst("^jdbc:postgresql://[^/]+/", "jdbc:postgresql://127.0.0.1:" + port + "/"), p);
    }

    @Override
    public synchronized void close() {
        if (process.isAlive()) {
            process.descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.descendants().forEach(ProcessHandle::destroyForcibly);
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // temp files
        }
    }
}
