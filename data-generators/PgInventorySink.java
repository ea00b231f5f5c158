import java.io.IOException;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * ecomm_totals (a row per interval: the interval's counts and the running totals, unique events only),
 * product_inventory (seeded at start, updated every interval in one transaction by the stock change), and
 * optionally every event sent into 'events' with COPY (on a second connection, in the background).
 *
 * <p>A lost connection (server restart, network, a terminated backend) is survived: each interval's update and
 * each COPY batch is one transaction, retried whole on a fresh connection for up to retryFor. Each of those
 * transactions also inserts its own row into e_store_commits (run, part, seq), keyed: when a COMMIT's answer is
 * lost, the retry's insert of that row finds it (or waits for the first attempt to end) and the batch is not
 * written twice. The counters count committed work only.
 */
final class PgInventorySink implements EStoreSinks.Sink {
    static final String LEDGER = "e_store_commits";
    final Pg.Target target;
    final Shop model;
    final long intervalNanos;
    final boolean events;
    final String shardText;
    final Duration retryFor;
    final PrintWriter notes; // retry notices; null: quiet
    final String runId = java.util.UUID.randomUUID().toString();
    final Link main = new Link("totals"), copyLink = new Link("events");
    boolean opened;
    long nextFlush;
    final long[] interval = new long[5], totals = new long[5];
    long intervalEvents, intervalSeq, copySeq;
    int[] lastStock;
    long rowsWritten, eventsCopied;
    final java.util.concurrent.atomic.AtomicLong reconnects = new java.util.concurrent.atomic.AtomicLong();
    long clockMicros;
    // COPY
    ExecutorService copier;
    final Semaphore inflight = new Semaphore(3);
    volatile Throwable copyError;
    /** Set once a transaction gave up: the others stop retrying too (the run is failing). */
    volatile boolean gaveUp;
    EStoreEvent.ByteBuf copyBuf;

    PgInventorySink(Pg.Target target, Shop model, Duration interval, boolean events, String shardText, Duration retryFor, PrintWriter notes) {
        java.util.Properties props = new java.util.Properties();
        props.putAll(target.props());
        // a read that never returns (a silently dropped connection) fails instead, and is retried like any lost connection
        props.putIfAbsent("socketTimeout", "120");
        this.target = new Pg.Target(target.jdbcUrl(), props);
        this.model = model;
        this.intervalNanos = interval.toNanos();
        this.events = events;
        this.shardText = shardText;
        this.retryFor = retryFor;
        this.notes = notes;
    }

    public String name() {
        return "postgres " + target;
    }

    /** One of the sink's connections, opened again after it was lost. Used by one thread at a time. */
    final class Link {
        final String part;
        Connection c;

        Link(String part) {
            this.part = part;
        }

        Connection get() throws SQLException {
            if (c == null || c.isClosed()) {
                c = Pg.connect(target);
                c.setAutoCommit(false);
            }
            return c;
        }

        void drop() {
            if (c == null) return;
            try {
                c.close();
            } catch (SQLException ignored) {
                // already broken: that is why it is dropped
            }
            c = null;
        }
    }

    interface SqlWork<T> {
        T run(Connection c) throws SQLException;
    }

    /**
     * Runs work in one transaction; a connection-level failure rolls it back (or the server does, with the
     * connection) and the whole transaction runs again on a new connection, with backoff, for up to retryFor.
     */
    <T> T transaction(Link link, String what, SqlWork<T> work) throws SQLException, InterruptedException {
        long deadline = 0, backoff = 100;
        while (true) {
            Connection c = null;
            try {
                c = link.get();
                T r = work.run(c);
                c.commit();
                return r;
            } catch (SQLException e) {
                if (c != null) {
                    try {
                        if (!c.isClosed()) c.rollback();
                    } catch (SQLException ignored) {
                        // the connection is gone; the server rolls back what it had
                    }
                }
                boolean retryable = Pg.retryable(e) || "55P03".equals(e.getSQLState()); // 55P03: lock_timeout, below
                if (!retryable || gaveUp) throw e;
                long now = System.nanoTime();
                if (deadline == 0) deadline = now + retryFor.toNanos();
                String why = Config.redact(String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
                if (now - deadline > 0) {
                    gaveUp = true;
                    throw new Cli.Failure("postgres " + what + ": the connection was lost and did not come back within "
                            + retryFor.toString().substring(2).toLowerCase(Locale.ROOT) + ": " + why, e);
                }
                link.drop();
                long wait = backoff + java.util.concurrent.ThreadLocalRandom.current().nextLong(backoff / 4 + 1);
                if (notes != null) {
                    notes.println("e-store: postgres " + what + ": " + why + "; reconnecting in " + wait + " ms");
                    notes.flush();
                }
                Thread.sleep(wait);
                backoff = Math.min(backoff * 2, 5000);
                reconnects.incrementAndGet();
            }
        }
    }

    /**
     * Runs work in a transaction that also records (run, part, seq) in the ledger, so it commits once however
     * often it is tried. True when this call committed it, false when an earlier attempt had (its answer lost).
     */
    boolean commitOnce(Link link, String what, long seq, long rows, SqlWork<Void> work) throws SQLException, InterruptedException {
        return transaction(link, what, c -> {
            // an earlier attempt stranded on a half-open connection holds this row until the server notices: waiting
            // for it is bounded, and then retried like a lost connection
            try (Statement st = c.createStatement()) {
                st.execute("SET LOCAL lock_timeout = '10s'");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + LEDGER + " (run_id, part, seq, rows, committed_at)"
                    + " VALUES (?::uuid, ?, ?, ?, now()) ON CONFLICT DO NOTHING")) {
                ps.setString(1, runId);
                ps.setString(2, link.part);
                ps.setLong(3, seq);
                ps.setLong(4, rows);
                // 0: committed by an earlier attempt; an attempt still running on a lost connection makes this wait
                if (ps.executeUpdate() == 0) return false;
            }
            try (Statement st = c.createStatement()) {
                st.execute("SET LOCAL lock_timeout = 0");
            }
            work.run(c);
            return true;
        });
    }

    void open(long nowNanos) throws SQLException, InterruptedException {
        main.get(); // a wrong URL or password fails at once: only a connection that worked is waited for
        transaction(main, "set-up", c -> {
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS ecomm_totals (timestamp timestamptz, total_orders bigint, total_returns bigint,"
                        + " total_carts bigint, total_uncarts bigint, total_views bigint)");
                st.execute("ALTER TABLE ecomm_totals ADD COLUMN IF NOT EXISTS orders bigint, ADD COLUMN IF NOT EXISTS returns bigint,"
                        + " ADD COLUMN IF NOT EXISTS carts bigint, ADD COLUMN IF NOT EXISTS uncarts bigint,"
                        + " ADD COLUMN IF NOT EXISTS views bigint, ADD COLUMN IF NOT EXISTS shard text");
                st.execute("CREATE TABLE IF NOT EXISTS product_inventory (product_id text PRIMARY KEY, description text,"
                        + " price numeric(10,2), on_hand integer, updated_at timestamptz)");
                st.execute("CREATE TABLE IF NOT EXISTS " + LEDGER + " (run_id uuid NOT NULL, part text NOT NULL, seq bigint NOT NULL,"
                        + " rows bigint, committed_at timestamptz, PRIMARY KEY (run_id, part, seq))");
                if (events) {
                    // the table follows the event's definition: a field added there is a column added here
                    StringBuilder cols = new StringBuilder(), add = new StringBuilder();
                    for (EStoreEvent.Field f : EStoreEvent.FIELDS) {
                        cols.append(cols.length() == 0 ? "" : ", ").append(Pg.ident(f.name())).append(' ').append(f.pgType());
                        add.append(add.length() == 0 ? "" : ", ").append("ADD COLUMN IF NOT EXISTS ").append(Pg.ident(f.name())).append(' ').append(f.pgType());
                    }
                    st.execute("CREATE TABLE IF NOT EXISTS events (" + cols + ")");
                    st.execute("ALTER TABLE events " + add);
                }
            }
            seedInventory(c);
            return null;
        });
        lastStock = model.stockShare.clone();
        nextFlush = nowNanos + intervalNanos;
        opened = true;
        if (events) {
            copyLink.get();
            copier = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "e-store-copy");
                t.setDaemon(true);
                return t;
            });
            copyBuf = new EStoreEvent.ByteBuf(1 << 20);
        }
    }

    /** Idempotent, so it can be retried: a single process seeds afresh, shards add what is missing. */
    private void seedInventory(Connection c) throws SQLException {
        Shop.Catalog cat = model.catalog;
        String sql = "INSERT INTO product_inventory (product_id, description, price, on_hand, updated_at) VALUES (?, ?, ?, ?, now())"
                + (model.shardCount == 1
                        ? " ON CONFLICT (product_id) DO UPDATE SET description = EXCLUDED.description, price = EXCLUDED.price,"
                                + " on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at"
                        : " ON CONFLICT (product_id) DO NOTHING");
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int p = 0; p < cat.size(); p++) {
                ps.setString(1, "product_" + p);
                ps.setString(2, cat.description()[p]);
                ps.setBigDecimal(3, java.math.BigDecimal.valueOf(cat.priceCents()[p], 2));
                ps.setInt(4, cat.initialStock()[p]);
                ps.addBatch();
                if (p % 1000 == 999) ps.executeBatch();
            }
            ps.executeBatch();
        }
    }

    public void accept(EStoreEvent.Batch b) throws Exception {
        for (int i = 0; i < b.n; i++) {
            if (!b.duplicate[i]) {
                interval[b.action[i]]++;
                intervalEvents++;
            }
        }
        if (events) copyBuf.bytes(b.copy.a, 0, b.copy.len);
        if (events && copyBuf.len >= (1 << 20)) submitCopy();
    }

    private void submitCopy() throws Exception {
        checkCopy();
        if (copyBuf.len == 0) return;
        byte[] chunk = java.util.Arrays.copyOf(copyBuf.a, copyBuf.len);
        int rows = 0;
        for (int i = 0; i < chunk.length; i++) if (chunk[i] == '\n') rows++;
        copyBuf.len = 0;
        inflight.acquire();
        int n = rows;
        long seq = ++copySeq;
        copier.execute(() -> {
            try {
                if (copyError == null) {
                    commitOnce(copyLink, "events", seq, n, c -> {
                        try {
                            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn(
                                    "COPY events (" + EStoreEvent.copyColumns() + ") FROM STDIN",
                                    new java.io.ByteArrayInputStream(chunk));
                        } catch (IOException e) {
                            throw new SQLException("COPY: " + e.getMessage(), "08006", e); // cannot come from a byte array: the link
                        }
                        return null;
                    });
                    synchronized (this) {
                        eventsCopied += n;
                    }
                }
            } catch (Throwable t) {
                copyError = t;
            } finally {
                inflight.release();
            }
        });
    }

    private void checkCopy() throws Exception {
        Throwable t = copyError;
        if (t instanceof Exception e) throw e;
        if (t != null) throw new RuntimeException(t);
    }

    public void tick(long nowNanos, long clockMicros) throws Exception {
        this.clockMicros = clockMicros;
        if (nowNanos >= nextFlush) {
            flushInterval();
            nextFlush = nowNanos + intervalNanos;
        }
    }

    /** One transaction: the totals row and the inventory changes since the last one; the state moves on once committed. */
    void flushInterval() throws SQLException, InterruptedException {
        long[] newTotals = new long[5];
        for (int i = 0; i < 5; i++) newTotals[i] = totals[i] + interval[i];
        int[] stockNow = model.stock.clone();
        Timestamp now = new Timestamp(Math.floorDiv(clockMicros, 1000));
        now.setNanos((int) Math.floorMod(clockMicros, 1_000_000L) * 1000);
        commitOnce(main, "totals", intervalSeq + 1, 1, c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO ecomm_totals (timestamp, total_orders, total_returns,"
                    + " total_carts, total_uncarts, total_views, orders, returns, carts, uncarts, views, shard)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setTimestamp(1, now);
                int[] order = {Shop.PURCHASE, Shop.RETURN, Shop.CART, Shop.UNCART, Shop.VIEW};
                for (int i = 0; i < 5; i++) {
                    ps.setLong(2 + i, newTotals[order[i]]);
                    ps.setLong(7 + i, interval[order[i]]);
                }
                ps.setString(12, shardText);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE product_inventory SET on_hand = on_hand + ?, updated_at = ? WHERE product_id = ?")) {
                int n = 0;
                for (int p = 0; p < lastStock.length; p++) {
                    int d = stockNow[p] - lastStock[p];
                    if (d == 0) continue;
                    ps.setInt(1, d);
                    ps.setTimestamp(2, now);
                    ps.setString(3, "product_" + p);
                    ps.addBatch();
                    n++;
                }
                if (n > 0) ps.executeBatch();
            }
            return null;
        });
        intervalSeq++;
        System.arraycopy(newTotals, 0, totals, 0, 5);
        lastStock = stockNow;
        java.util.Arrays.fill(interval, 0);
        intervalEvents = 0;
        rowsWritten++;
    }

    public void close() throws Exception {
        Throwable failure = null;
        try {
            if (opened && (intervalEvents > 0 || rowsWritten == 0)) flushInterval();
        } catch (Throwable t) {
            failure = t;
        }
        try {
            if (events && copier != null) {
                if (failure == null) submitCopy();
                copier.shutdown();
                copier.awaitTermination(10, TimeUnit.MINUTES);
                checkCopy();
            }
        } catch (Throwable t) {
            if (failure == null) failure = t;
        } finally {
            main.drop();
            copyLink.drop();
        }
        if (failure instanceof Exception e) throw e;
        if (failure instanceof Error e) throw e;
    }

    /** The summary's part: what was committed, and how often a lost connection was opened again. */
    String line() {
        String s = String.format(Locale.ROOT, "postgres: %,d totals rows", rowsWritten);
        if (events) s += String.format(Locale.ROOT, ", %,d events copied", delivered());
        if (reconnects.get() > 0) s += String.format(Locale.ROOT, ", %,d reconnects", reconnects.get());
        return s;
    }

    public long delivered() {
        synchronized (this) {
            return events ? eventsCopied : 0;
        }
    }
}
