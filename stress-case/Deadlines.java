import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

// Deadlines (a ticker that closes sockets past their deadline) and WatchedSocket (a blocking socket that uses them).
/**
 * Request timeouts without SO_TIMEOUT. A timed read (or a connect with a timeout) switches a JDK socket to
 * non-blocking mode for good: from then on every read of a platform thread that finds nothing yet costs three
 * system calls (read, poll, read) where a blocking socket needs one, and every read of a virtual thread that has
 * to wait schedules and cancels a timer. Measured on the 2-core bench machine against nginx: ~20 % more CPU per
 * request. Instead, sockets stay blocking and one daemon thread closes the socket of a request that is past its
 * deadline (checked every 10 ms); the blocked read then fails and the caller reports a timeout.
 */
final class Deadlines {
    static final long IDLE = 0, FIRED = -1;
    static final Set<Watched> watched = ConcurrentHashMap.newKeySet();
    private static Thread ticker;

    private Deadlines() {}

    /** One socket's deadline (System.nanoTime(), IDLE or FIRED) and how to close it (run on the ticker thread). */
    static final class Watched {
        final AtomicLong deadline = new AtomicLong(IDLE);
        final Runnable expire;

        Watched(Runnable expire) {
            this.expire = expire;
        }

        /** Watches this socket from now on (until {@link #unwatch}). */
        void watch() {
            if (watched.add(this)) startTicker();
        }

        void unwatch() {
            watched.remove(this);
        }

        /** Starts a deadline timeoutNanos from now; returns it, the token for {@link #disarm}. */
        long arm(long timeoutNanos) {
            long d = System.nanoTime() + timeoutNanos;
            if (d == IDLE || d == FIRED) d = 1;
            deadline.set(d);
            return d;
        }

        /** Ends the deadline; false when the ticker fired it first (the socket is closed or being closed). */
        boolean disarm(long token) {
            return deadline.compareAndSet(token, IDLE) || deadline.get() != FIRED;
        }

        boolean fired() {
            return deadline.get() == FIRED;
        }
    }

    private static synchronized void startTicker() {
        if (ticker == null) ticker = Thread.ofPlatform().daemon(true).name("stress-case-deadlines").start(Deadlines::tick);
        else LockSupport.unpark(ticker); // it sleeps while nothing is watched
    }

    private static void tick() {
        while (true) {
            if (watched.isEmpty()) LockSupport.park(); // a watch() after this check leaves a permit: no lost wake-up
            LockSupport.parkNanos(10_000_000L);
            long now = System.nanoTime();
            for (Watched w : watched) {
                long d = w.deadline.get();
                if (d != IDLE && d != FIRED && now - d >= 0 && w.deadline.compareAndSet(d, FIRED)) {
                    try {
                        w.expire.run();
                    } catch (RuntimeException ignored) {
                        // closing anyway
                    }
                }
            }
        }
    }
}

/** A blocking socket whose connect and read timeouts are {@link Deadlines}. */
final class WatchedSocket extends Socket {
    final Deadlines.Watched watch = new Deadlines.Watched(this::abort);
    volatile int soTimeoutMs;
    private InputStream in;

    private void abort() {
        try {
            super.close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }

    @Override
    public void connect(java.net.SocketAddress endpoint, int timeoutMs) throws IOException {
        watch.watch(); // once: the reads' deadlines need it too
        try {
            if (timeoutMs <= 0) {
                super.connect(endpoint, 0);
                return;
            }
            long token = watch.arm(timeoutMs * 1_000_000L);
            try {
                super.connect(endpoint, 0); // blocking; a connect with a timeout would make the socket non-blocking
            } catch (IOException e) {
                if (watch.fired()) throw new SocketTimeoutException("connect timed out after " + timeoutMs + " ms");
                throw e;
            }
            if (!watch.disarm(token)) throw new SocketTimeoutException("connect timed out after " + timeoutMs + " ms");
        } catch (IOException e) {
            watch.unwatch();
            throw e;
        }
    }

    @Override
    public void setSoTimeout(int timeout) {
        soTimeoutMs = Math.max(0, timeout); // enforced by the deadlines, the socket itself stays blocking
    }

    @Override
    public int getSoTimeout() {
        return soTimeoutMs;
    }

    @Override
    public synchronized InputStream getInputStream() throws IOException {
        if (in == null) {
            InputStream raw = super.getInputStream();
            in = new java.io.FilterInputStream(raw) {
                @Override
                public int read() throws IOException {
                    byte[] one = new byte[1];
                    int n = read(one, 0, 1);
                    return n < 0 ? -1 : one[0] & 0xff;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int t = soTimeoutMs;
                    if (t == 0) return raw.read(b, off, len);
                    long token = watch.arm(t * 1_000_000L);
                    try {
                        return raw.read(b, off, len);
                    } catch (IOException e) {
                        if (watch.fired()) throw new SocketTimeoutException("Read timed out after " + t + " ms");
                        throw e;
                    } finally {
                        watch.disarm(token); // a read that completed as the deadline fired: the next one fails
                    }
                }
            };
        }
        return in;
    }

    @Override
    public synchronized void close() throws IOException {
        watch.unwatch();
        super.close();
    }
}
