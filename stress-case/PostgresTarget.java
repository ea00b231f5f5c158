import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import com.zaxxer.hikari.HikariDataSource;

/**
 * The PostgreSQL target: --sql with :named parameters sent as bind parameters through a HikariCP pool.
 * Why pgjdbc and a pool: the same driver and pool a web application would use; the query is prepared server side.
 * Invariant: every connection is open before the first measured request; values travel as bind parameters only.
 */
final class PostgresTarget implements LoadTarget {
    /** The original's question: one city's reports in a window, newest first. */
    static final String DEFAULT_SQL =
            "SELECT * FROM weather_reports WHERE site_name = :city AND timestamp > :start_time AND timestamp <= :end_time ORDER BY timestamp DESC";
    static final LoadTarget.Kind KIND = new LoadTarget.Kind("postgres", List.of("pg", "postgresql"),
            (run, wl) -> new PostgresTarget(run.pg.resolve(run.cfg), run.sql == null ? DEFAULT_SQL : run.sql, wl,
                    run.poolSize == null ? run.concurrency : run.poolSize, run.concurrency, run.timeout));
    final Pg.Target where;
    final String namedSql, sql;
    final int[] slots; // for each ?, the workload value index
    final int poolSize, workers;
    final Duration timeout;
    final Workload wl;
    HikariDataSource ds;

    PostgresTarget(Pg.Target t, String namedSql, Workload wl, int poolSize, int workers, Duration timeout) {
        List<String> names = new ArrayList<>();
        this.namedSql = namedSql;
        this.sql = bindNamed(namedSql, names);
        this.slots = new int[names.size()];
        for (int k = 0; k < names.size(); k++) {
            slots[k] = wl.indexOf(names.get(k));
            if (slots[k] < 0) {
                throw Cli.usage("--sql uses :" + names.get(k) + " but no --param " + names.get(k) + "=... defines it"
                        + " (any --param replaces the default parameters: give each one the query uses)");
            }
        }
        Properties p = new Properties();
        p.putAll(t.props());
        String opt = "-c statement_timeout=" + Math.max(1, timeout.toMillis());
        p.setProperty("options", p.containsKey("options") ? p.getProperty("options") + " " + opt : opt);
        p.setProperty("socketTimeout", Long.toString(timeout.toSeconds() + 5));
        p.putIfAbsent("connectTimeout", "10");
        p.putIfAbsent("socketFactory", BlockingSocketFactory.class.getName()); // blocking sockets, timeouts by Deadlines
        p.putIfAbsent("ApplicationName", "stress-case");
        this.where = new Pg.Target(t.jdbcUrl(), p);
        this.wl = wl;
        this.poolSize = poolSize;
        this.workers = workers;
        this.timeout = timeout;
    }

    public String name() {
        return "postgres";
    }

    public String describe() {
        return namedSql;
    }

    HikariDataSource pool() {
        if (ds == null) {
            try {
                ds = Pool.create(where, poolSize);
                ds.setConnectionTimeout(Math.max(250, Math.min(timeout.toMillis(), 30_000))); // a dead server: errors, not a 30 s hang
            } catch (SQLException | RuntimeException e) {
                throw new Cli.Failure("postgres: cannot connect to " + where.jdbcUrl().replaceFirst("^jdbc:postgresql://", "")
                        + (where.user() == null ? "" : " as " + where.user()) + ": " + StressCase.oneLine(e), e);
            }
        }
        return ds;
    }

    @Override
    public Map<String, String> about() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("kind", "PostgreSQL");
        String url = where.jdbcUrl().replaceFirst("^jdbc:postgresql://", "");
        int slash = url.indexOf('/'), q = url.indexOf('?');
        a.put("host", Config.redact(slash < 0 ? url : url.substring(0, slash)));
        a.put("database", slash < 0 ? "" : Config.redact(url.substring(slash + 1, q > slash ? q : url.length())));
        try (Connection c = pool().getConnection()) {
            a.put("version", "PostgreSQL " + c.getMetaData().getDatabaseProductVersion() + ", pgjdbc " + c.getMetaData().getDriverVersion());
        } catch (SQLException e) {
            a.put("version", "unknown (" + StressCase.oneLine(e) + ")");
        }
        a.put("asks", namedSql);
        return a;
    }

    /** For the original's query: the first and last report in weather_reports. */
    @Override
    public LoadTarget.DataRange dataRange() {
        if (!namedSql.equals(DEFAULT_SQL)) return null;
        try (Connection c = pool().getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT min(timestamp), max(timestamp) FROM weather_reports")) {
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                LocalDateTime first = rs.getObject(1, LocalDateTime.class), last = rs.getObject(2, LocalDateTime.class);
                return first == null ? LoadTarget.DataRange.unknown("weather_reports", "the table is empty")
                        : new LoadTarget.DataRange("weather_reports", first, last, null);
            }
        } catch (SQLException e) {
            return LoadTarget.DataRange.unknown("weather_reports", StressCase.oneLine(e));
        }
    }

    @Override
    public List<String> cities() {
        try (Connection c = pool().getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT DISTINCT site_name FROM weather_reports WHERE site_name IS NOT NULL")) {
            List<String> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) out.add(rs.getString(1));
            }
            return out;
        } catch (SQLException e) {
            throw new Cli.Failure("postgres: cannot read the cities from weather_reports: " + StressCase.oneLine(e), e);
        }
    }

    /**
     * Every connection of the pool opened before the clock starts (HikariCP opens them one at a time in the
     * background: a run that started at once had ~40 of 50, and its workers queued for connections), then one
     * real query: a target down or a query failing at start is one clear error.
     */
    public void check() {
        try {
            Pool.fill(pool(), poolSize);
        } catch (SQLException e) {
            throw new Cli.Failure("postgres: cannot open the pool's " + poolSize + " connections: " + StressCase.oneLine(e), e);
        }
        try (LoadTarget.Session s = session()) {
            s.call(wl.values(Long.MAX_VALUE));
        } catch (Cli.Failure f) {
            throw f;
        } catch (Exception e) {
            throw new Cli.Failure("postgres: the query fails: " + StressCase.oneLine(e), e);
        }
    }

    /**
     * Each worker holds one connection of the pool and one PreparedStatement for the whole run, as pgbench's clients
     * hold theirs: taking a connection from HikariCP and preparing the statement again for every request cost ~2 µs of
     * client CPU a query (of ~20), which on a machine shared with the server the server loses (bench/README.md, beside
     * pgbench -S -M prepared). A smaller --pool than workers borrows a connection per request instead.
     * A failed request hands its connection back (HikariCP drops a broken one) and the next takes a fresh one.
     */
    public LoadTarget.Session session() {
        HikariDataSource pool = pool();
        if (poolSize < workers) {
            return new LoadTarget.Session() {
                public long call(Object[] v) throws SQLException {
                    try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                        return execute(ps, v);
                    }
                }

                public void close() {}
            };
        }
        return new LoadTarget.Session() {
            Connection c;
            PreparedStatement ps;

            public long call(Object[] v) throws SQLException {
                if (ps == null) {
                    c = pool.getConnection();
                    ps = c.prepareStatement(sql);
                }
                try {
                    return execute(ps, v);
                } catch (SQLException e) {
                    close(); // a broken connection goes back to the pool, which replaces it; the next call takes another
                    throw e;
                }
            }

            public void close() {
                try {
                    if (c != null) c.close();
                } catch (SQLException ignored) {
                    // back to the pool anyway
                }
                c = null;
                ps = null;
            }
        };
    }

    long execute(PreparedStatement ps, Object[] v) throws SQLException {
        for (int k = 0; k < slots.length; k++) {
            Object o = v[slots[k]];
            if (o instanceof Long l) ps.setLong(k + 1, l);
            else if (o instanceof LocalDateTime t) ps.setObject(k + 1, t);
            else ps.setString(k + 1, (String) o);
        }
        long rows = 0;
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) rows++;
        }
        return rows;
    }

    public void close() {
        if (ds != null) ds.close();
    }

    /** Replaces :name parameters with ? (lib/PgClient.named); returns the names in order. A bare ? is refused. */
    static String bindNamed(String sql, List<String> namesOut) {
        PgClient.Named q = PgClient.named(sql);
        if (q.bareMarks() > 0) throw Cli.usage("--sql: use :name parameters, not '?'");
        namesOut.addAll(q.names());
        return q.sql();
    }
}
