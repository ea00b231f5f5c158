///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DEPS io.vertx:vertx-pg-client:5.0.7
//SOURCES ../../lib/Latency.java
//JAVA_OPTIONS -XX:+UseSerialGC
//DESCRIPTION A non-blocking PostgreSQL driver (Vert.x 5 pg client) in stress-case's closed loop, for bench.sh's SQL part.
//MAIN PgVertx

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.pgclient.PgConnection;
import io.vertx.sqlclient.PreparedQuery;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * pgbench -S's question (SELECT abalance FROM pgbench_accounts WHERE aid = $1, a random aid) on CONNECTIONS
 * connections, one query in flight on each, driven by one event loop a core as pgbench's -j 2 threads drive theirs:
 * WARMUP s unmeasured, then DURATION s measured; prints queries/s, p50, p99 (ms) and this process's CPU per query.
 * Why: stress-case's PostgreSQL target runs pgjdbc on a thread a worker; this says whether a non-blocking driver
 * would cost the shared cores less (bench/README.md).
 *   ./jbang bench/stress-case/pg-vertx.java postgresql://user@host:port/db CONNECTIONS DURATION_S WARMUP_S MAX_AID
 */
class PgVertx {
    static final Recorder latency = new Recorder(1, TimeUnit.MINUTES.toMicros(1), 3);
    static final LongAdder errors = new LongAdder();
    static volatile long end = Long.MAX_VALUE;

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: pg-vertx.java postgresql://user@host:port/db CONNECTIONS DURATION_S WARMUP_S MAX_AID");
            System.exit(2);
        }
        URI u = URI.create(args[0]);
        int conns = Integer.parseInt(args[1]);
        double duration = Double.parseDouble(args[2]), warmup = Double.parseDouble(args[3]);
        int maxAid = Integer.parseInt(args[4]);
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(Math.min(conns, Runtime.getRuntime().availableProcessors())));
        PgConnectOptions o = new PgConnectOptions().setHost(u.getHost()).setPort(u.getPort() > 0 ? u.getPort() : 5432)
                .setDatabase(u.getPath().substring(1)).setUser(u.getUserInfo()).setCachePreparedStatements(true);
        PgConnection[] cs = new PgConnection[conns];
        for (int c = 0; c < conns; c++) cs[c] = PgConnection.connect(vertx, o).await();
        long t0 = System.nanoTime();
        end = t0 + (long) ((warmup + duration) * 1e9);
        for (int c = 0; c < conns; c++) {
            PreparedQuery<RowSet<Row>> q = cs[c].prepare("SELECT abalance FROM pgbench_accounts WHERE aid = $1").await().query();
            SplittableRandom r = new SplittableRandom(c);
            new Runnable() {
                public void run() {
                    if (System.nanoTime() >= end) return;
                    long start = System.nanoTime();
                    q.execute(Tuple.of(1 + r.nextInt(maxAid))).onComplete(ar -> {
                        if (ar.succeeded()) latency.recordValue(Math.max(1, (System.nanoTime() - start) / 1000));
                        else errors.increment();
                        run();
                    });
                }
            }.run();
        }
        sleepUntil(t0 + (long) (warmup * 1e9));
        latency.reset();
        long errorsBefore = errors.sum(), cpu0 = cpuNanos(), m0 = System.nanoTime();
        sleepUntil(end);
        long m1 = System.nanoTime(), cpu1 = cpuNanos();
        Histogram h = latency.getIntervalHistogram();
        long n = h.getTotalCount();
        // one key a line, as stress-case's --json: bench.sh reads both the same way
        System.out.printf(Locale.ROOT, "{%n  \"client\" : \"vertx-pg-client\",%n  \"rps\" : %.1f,%n  \"p50\" : %.3f,%n  \"p99\" : %.3f,%n  \"us_per_request\" : %.1f,%n  \"errors\" : %d%n}%n",
                n / ((m1 - m0) / 1e9), h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
                n == 0 ? Double.NaN : (cpu1 - cpu0) / 1000.0 / n, errors.sum() - errorsBefore);
        System.out.flush();
        System.exit(0);
    }

    static void sleepUntil(long t) throws InterruptedException {
        long w;
        while ((w = t - System.nanoTime()) > 0) TimeUnit.NANOSECONDS.sleep(w);
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
