//DEPS com.zaxxer:HikariCP:7.1.0
//SOURCES Pg.java

import java.util.Map;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * A HikariCP connection pool for a resolved {@link Pg.Target}: {@code try (HikariDataSource ds = Pool.create(t, 20)) {...}}.
 * User, password and driver options travel as data-source properties (never in the URL), so any character works
 * in the password. The pool opens its connections eagerly; a wrong password or an unreachable server fails
 * {@code create} with the driver's own SQLException (Cli.run turns it into one line with the SQLSTATE).
 */
public final class Pool {
    private Pool() {}

    public static HikariDataSource create(Pg.Target t, int size) throws java.sql.SQLException {
        HikariConfig c = new HikariConfig();
        c.setJdbcUrl(t.jdbcUrl());
        for (Map.Entry<Object, Object> e : t.props().entrySet()) {
            String k = e.getKey().toString(), v = e.getValue().toString();
            switch (k) {
                case "user" -> c.setUsername(v);
                case "password" -> c.setPassword(v);
                default -> c.addDataSourceProperty(k, v);
            }
        }
        c.setMaximumPoolSize(Math.max(1, size));
        c.setMinimumIdle(Math.max(1, size));
        c.setPoolName("pool");
        c.setConnectionTimeout(30_000);
        c.setInitializationFailTimeout(1); // fail fast, with the driver's error as the cause
        c.setAutoCommit(true);
        try {
            return new HikariDataSource(c);
        } catch (RuntimeException e) {
            // HikariCP wraps the driver's error in PoolInitializationException; hand back the SQLException itself
            Throwable cause = e.getCause();
            if (cause instanceof java.sql.SQLException sql) throw sql;
            throw e;
        }
    }

    /**
     * Opens every connection of the pool now (HikariCP opens them one at a time in the background), then hands them
     * back: a load run that starts after this has all of them from its first request.
     */
    public static void fill(HikariDataSource ds, int size) throws java.sql.SQLException {
        java.util.List<java.sql.Connection> held = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < size; i++) held.add(ds.getConnection());
        } finally {
            for (java.sql.Connection c : held) {
                try {
                    c.close();
                } catch (java.sql.SQLException ignored) {
                    // back to the pool anyway
                }
            }
        }
    }
}
