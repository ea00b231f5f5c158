//DEPS org.postgresql:postgresql:42.7.14
//SOURCES Cli.java
//SOURCES Config.java
//SOURCES NetErrors.java

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

import picocli.CommandLine.Option;

/**
 * PostgreSQL connection settings, resolved the way libpq users expect, and turned into pgjdbc's form.
 *
 * <p>Sources, first found wins for each part: {@code --url} (libpq URI {@code postgresql://user:p%40ss@host:5432/db?sslmode=require},
 * libpq key=value {@code host=h dbname=d user=u password='x y'}, or {@code jdbc:postgresql://...}), then {@code DATABASE_URL},
 * then the PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGAPPNAME, PGCONNECT_TIMEOUT),
 * then the original's POSTGRES_DATABASE_{HOST,PORT,NAME,USER,PASSWORD} and DATABASE_{HOST,PORT,NAME,USER,PASSWORD};
 * defaults: localhost, 5432, the OS user. With no password anywhere, pgjdbc reads ~/.pgpass (or PGPASSFILE).
 * User and password travel as connection properties, never in the URL, so any character works in them.
 */
public final class Pg {
    private Pg() {}

    /** Options for scripts that talk to PostgreSQL: {@code @Mixin Pg.Options pg;} */
    public static final class Options {
        @Option(names = "--url", paramLabel = "URL",
                description = "PostgreSQL connection: postgresql://user:pass@host:5432/db?sslmode=require, "
                        + "key=value, or jdbc:postgresql://... (default: DATABASE_URL, PG* variables, POSTGRES_DATABASE_*).")
        public String url;

        @Option(names = "--prepare-threshold", paramLabel = "N",
                description = "pgjdbc prepareThreshold; 0 turns server-side prepared statements off, needed behind "
                        + "PgBouncer/Supavisor in transaction mode.")
        public Integer prepareThreshold;

        public Target resolve(Config cfg) {
            Target t = Pg.resolve(url, cfg);
            if (prepareThreshold != null) t.props().setProperty("prepareThreshold", prepareThreshold.toString());
            return t;
        }
    }

    /**
     * Where and how to connect. {@code props} holds user, password and driver options. {@link #toString()} is safe to print.
     */
    public record Target(String jdbcUrl, Properties props) {
        public String user() {
            return props.getProperty("user");
        }

        public String database() {
            String rest = jdbcUrl.substring("jdbc:postgresql://".length());
            int slash = rest.indexOf('/');
            if (slash < 0) return user();
            String db = rest.substring(slash + 1);
            int q = db.indexOf('?');
            return URLDecoder.decode(q < 0 ? db : db.substring(0, q), StandardCharsets.UTF_8);
        }

        /** A copy pointing at another database on the same server. */
        public Target withDatabase(String db) {
            String rest = jdbcUrl.substring("jdbc:postgresql://".length());
            int slash = rest.indexOf('/');
            String hosts = slash < 0 ? rest.replaceAll("\\?.*", "") : rest.substring(0, slash);
            int q = rest.indexOf('?');
            String query = q < 0 ? "" : rest.substring(q);
            Properties p = new Properties();
            p.putAll(props);
            return new Target("jdbc:postgresql://" + hosts + "/" + URLEncoder.encode(db, StandardCharsets.UTF_8) + query, p);
        }

        /** A libpq URI with the password, for tools such as psql or pgbench (do not print it). */
        public String libpqUri() {
            String rest = jdbcUrl.substring("jdbc:postgresql://".length());
            String user = props.getProperty("user");
            String pw = props.getProperty("password");
            String userinfo = user == null ? "" : enc(user) + (pw == null ? "" : ":" + enc(pw)) + "@";
            return "postgresql://" + userinfo + rest;
        }

        private static String enc(String s) {
            return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
        }

        @Override
        public String toString() {
            String u = props.getProperty("user");
            return jdbcUrl.replaceFirst("^jdbc:", "").replaceFirst("^postgresql://", "postgresql://" + (u == null ? "" : u + "@"));
        }
    }

    /** Resolves --url (may be null) against the settings. */
    public static Target resolve(String url, Config cfg) {
        Map<String, String> p = new LinkedHashMap<>(); // libpq keywords
        String given = url != null && !url.isBlank() ? url : cfg.get("DATABASE_URL").orElse(null);
        if (given != null) {
            p.putAll(parse(given.strip())); // its password is registered for redaction below, with the one from the variables
        }
        fill(p, "host", cfg, "PGHOST", "POSTGRES_DATABASE_HOST", "DATABASE_HOST");
        fill(p, "port", cfg, "PGPORT", "POSTGRES_DATABASE_PORT", "DATABASE_PORT");
        fill(p, "dbname", cfg, "PGDATABASE", "POSTGRES_DATABASE_NAME", "DATABASE_NAME");
        fill(p, "user", cfg, "PGUSER", "POSTGRES_DATABASE_USER", "DATABASE_USER");
        fill(p, "password", cfg, "PGPASSWORD", "POSTGRES_DATABASE_PASSWORD", "DATABASE_PASSWORD");
        fill(p, "sslmode", cfg, "PGSSLMODE");
        fill(p, "application_name", cfg, "PGAPPNAME");
        fill(p, "connect_timeout", cfg, "PGCONNECT_TIMEOUT");
        fill(p, "sslrootcert", cfg, "PGSSLROOTCERT");
        if (p.get("password") != null) Config.registerSecret(p.get("password"));
        return toJdbc(p);
    }

    private static void fill(Map<String, String> p, String key, Config cfg, String... vars) {
        if (p.get(key) != null && !p.get(key).isEmpty()) return;
        cfg.get(vars).ifPresent(v -> p.put(key, v));
    }

    /** Parses a libpq URI, a libpq key=value string or a JDBC URL into libpq keywords. */
    public static Map<String, String> parse(String s) {
        if (s.startsWith("postgresql://") || s.startsWith("postgres://")) return parseUri(s);
        if (s.startsWith("jdbc:postgresql:")) return parseJdbc(s);
        if (s.contains("=")) return parseKeyValue(s);
        throw Cli.usage("not a PostgreSQL connection string (expected postgresql://..., key=value or jdbc:postgresql://...): "
                + Config.redact(s));
    }

    static Map<String, String> parseUri(String s) {
        Map<String, String> p = new LinkedHashMap<>();
        String rest = s.substring(s.indexOf("://") + 3);
        int q = rest.indexOf('?');
        String query = q < 0 ? "" : rest.substring(q + 1);
        if (q >= 0) rest = rest.substring(0, q);
        int at = rest.lastIndexOf('@');
        if (at >= 0) {
            String userinfo = rest.substring(0, at);
            rest = rest.substring(at + 1);
            int colon = userinfo.indexOf(':');
            if (colon >= 0) {
                p.put("user", dec(userinfo.substring(0, colon)));
                p.put("password", dec(userinfo.substring(colon + 1)));
            } else if (!userinfo.isEmpty()) {
                p.put("user", dec(userinfo));
            }
        }
        int slash = rest.indexOf('/');
        String hostPart = slash < 0 ? rest : rest.substring(0, slash);
        if (slash >= 0 && slash + 1 < rest.length()) p.put("dbname", dec(rest.substring(slash + 1)));
        if (!hostPart.isEmpty()) {
            List<String> hosts = new ArrayList<>(), ports = new ArrayList<>();
            for (String hp : hostPart.split(",")) {
                String h = hp, port = "";
                if (hp.startsWith("[")) {
                    int end = hp.indexOf(']');
                    if (end < 0) throw Cli.usage("bad IPv6 host in PostgreSQL URL: " + Config.redact(s));
                    h = hp.substring(0, end + 1);
                    if (end + 1 < hp.length() && hp.charAt(end + 1) == ':') port = hp.substring(end + 2);
                } else {
                    int c = hp.lastIndexOf(':');
                    if (c >= 0) {
                        h = hp.substring(0, c);
                        port = hp.substring(c + 1);
                    }
                }
                hosts.add(dec(h));
                ports.add(port);
            }
            p.put("host", String.join(",", hosts));
            if (ports.stream().anyMatch(x -> !x.isEmpty())) p.put("port", String.join(",", ports));
        }
        for (String kv : query.split("&")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            String k = dec(eq < 0 ? kv : kv.substring(0, eq));
            String v = eq < 0 ? "" : dec(kv.substring(eq + 1));
            p.put(k, v);
        }
        return p;
    }

    private static String dec(String s) {
        // percent-decoding only: '+' is a literal plus in libpq URIs
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    static Map<String, String> parseKeyValue(String s) {
        Map<String, String> p = new LinkedHashMap<>();
        int i = 0, n = s.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(s.charAt(i))) i++;
            if (i >= n) break;
            int eq = s.indexOf('=', i);
            if (eq < 0) throw Cli.usage("bad key=value connection string near '" + Config.redact(s.substring(i)) + "'");
            String key = s.substring(i, eq).strip();
            i = eq + 1;
            while (i < n && Character.isWhitespace(s.charAt(i))) i++;
            StringBuilder v = new StringBuilder();
            if (i < n && s.charAt(i) == '\'') {
                i++;
                while (i < n && s.charAt(i) != '\'') {
                    if (s.charAt(i) == '\\' && i + 1 < n) i++;
                    v.append(s.charAt(i++));
                }
                if (i >= n) throw Cli.usage("unclosed quote in the connection string value of " + key);
                i++;
            } else {
                while (i < n && !Character.isWhitespace(s.charAt(i))) {
                    if (s.charAt(i) == '\\' && i + 1 < n) i++;
                    v.append(s.charAt(i++));
                }
            }
            p.put(key, v.toString());
        }
        return p;
    }

    static Map<String, String> parseJdbc(String s) {
        Map<String, String> p = parseUri("postgresql://" + s.substring("jdbc:postgresql://".length()));
        // JDBC spelling of a few keys
        move(p, "ApplicationName", "application_name");
        move(p, "connectTimeout", "connect_timeout");
        return p;
    }

    private static void move(Map<String, String> p, String from, String to) {
        if (p.containsKey(from)) p.put(to, p.remove(from));
    }

    /** libpq keywords to a pgjdbc URL and properties. */
    static Target toJdbc(Map<String, String> in) {
        Map<String, String> p = new LinkedHashMap<>(in);
        String hostList = p.remove("host");
        String portList = p.remove("port");
        if (p.containsKey("hostaddr") && hostList == null) hostList = p.get("hostaddr");
        p.remove("hostaddr");
        if (hostList == null || hostList.isEmpty()) hostList = "localhost";
        String[] hosts = hostList.split(",");
        String[] ports = portList == null ? new String[0] : portList.split(",", -1);
        StringBuilder url = new StringBuilder("jdbc:postgresql://");
        for (int i = 0; i < hosts.length; i++) {
            String h = hosts[i].strip();
            if (h.startsWith("/")) {
                throw Cli.usage("Unix-socket connections (host=" + h + ") are not supported by the Java driver; use host=localhost");
            }
            String port = ports.length == 0 ? "" : ports[Math.min(i, ports.length - 1)].strip();
            if (port.isEmpty()) port = "5432";
            if (!port.matches("[0-9]{1,5}")) throw Cli.usage("not a port number: '" + port + "'");
            if (i > 0) url.append(',');
            url.append(h.contains(":") && !h.startsWith("[") ? "[" + h + "]" : h).append(':').append(port);
        }
        Properties props = new Properties();
        String user = p.remove("user");
        if (user == null || user.isEmpty()) user = System.getProperty("user.name");
        props.setProperty("user", user);
        String pw = p.remove("password");
        if (pw != null) props.setProperty("password", pw);
        String db = p.remove("dbname");
        if (db == null || db.isEmpty()) db = user;
        url.append('/').append(URLEncoder.encode(db, StandardCharsets.UTF_8).replace("+", "%20"));
        for (Map.Entry<String, String> e : p.entrySet()) {
            String k = e.getKey(), v = e.getValue();
            switch (k) {
                case "connect_timeout" -> props.setProperty("connectTimeout", v);
                case "application_name" -> props.setProperty("ApplicationName", v);
                case "target_session_attrs" -> props.setProperty("targetServerType", switch (v.toLowerCase(Locale.ROOT)) {
                    case "read-write", "primary" -> "primary";
                    case "read-only", "standby" -> "secondary";
                    case "prefer-standby" -> "preferSecondary";
                    default -> "any";
                });
                case "keepalives" -> props.setProperty("tcpKeepAlive", "1".equals(v) ? "true" : "false");
                case "gssencmode" -> props.setProperty("gssEncMode", v);
                default -> props.setProperty(k, v);
            }
        }
        props.putIfAbsent("connectTimeout", "10");
        return new Target(url.toString(), props);
    }

    /** Opens a connection. Errors become one line with the SQLSTATE, never with the password. */
    public static Connection connect(Target t) throws SQLException {
        return DriverManager.getConnection(t.jdbcUrl(), t.props());
    }

    /**
     * A failure of the connection or the server rather than of the statement (restart, network, a terminated backend,
     * too many connections, a serialization conflict): the transaction can be run again on a new connection. Not an
     * untrusted certificate or an unknown host (see NetErrors): those fail the same way every time.
     */
    public static boolean retryable(SQLException e) {
        if (NetErrors.permanent(e) != null) return false;
        String st = e.getSQLState();
        return st == null || st.startsWith("08") || st.startsWith("57P") || st.equals("53300") || st.equals("40001") || st.equals("40P01");
    }

    /** A quoted SQL identifier: {@code "my ""table"""}. */
    public static String ident(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    /** A possibly schema-qualified name (schema.table) as quoted identifiers. */
    public static String qualified(String name) {
        int dot = name.indexOf('.');
        if (dot < 0 || name.startsWith("\"")) return ident(name);
        return ident(name.substring(0, dot)) + "." + ident(name.substring(dot + 1));
    }
}
