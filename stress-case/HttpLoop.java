import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The closed model on a plain-http target the way wrk drives it: a few selector threads, each keeping its share
 * of the keep-alive connections busy. With a thread a connection, each thread blocks and wakes once a request: on
 * the 2-core bench machine that scheduling was 41 % of the client's CPU. Here one epoll_wait serves every
 * connection that is ready. The bookkeeping is {@link LoadEngine#work}'s: a request starts when its connection is
 * free, its latency runs to the last byte of the answer, --timeout bounds it (connecting included, checked every
 * 10 ms), a stale keep-alive connection is retried once on a new one, and a connection that could not connect
 * waits 10 ms before the next try (no hot loop on a dead server).
 */
final class HttpLoop implements Runnable {
    static final long TICK_NS = 10_000_000L;
    static final int MAX_ANSWER = 1 << 30; // a header or a chunk this long is refused
    static final int KEEP = 1 << 20, TAIL = 64 * 1024; // of a longer answer, the last TAIL bytes are kept (compact)
    final LoadEngine engine;
    final LiveTarget live;
    final HttpTarget target;
    final Selector selector;
    final List<Conn> conns = new ArrayList<>();
    final long timeoutNs;
    final byte[] fixed;
    final String hostHeader, extraHeaders;
    final int port;
    InetSocketAddress address;
    long resolvedAt;
    int retired;
    volatile boolean aborted;

    /** One keep-alive connection and the request on it. */
    static final class Conn {
        SocketChannel ch;
        SelectionKey key;
        ByteBuffer out, inBuf;
        byte[] in = new byte[16 * 1024];
        int len, headEnd = -1, scanned, chunkAt;
        long dropped; // body bytes of this answer let go (see compact)
        Head head;
        long intended, deadline, wakeAt;
        boolean measured, busy, reused, received, retried, retired;
    }

    HttpLoop(LoadEngine engine, LiveTarget live, HttpTarget target, int connections) throws IOException {
        this.engine = engine;
        this.live = live;
        this.target = target;
        this.selector = Selector.open();
        this.timeoutNs = engine.s.timeout().toNanos();
        this.hostHeader = Http1.hostHeader(target.base);
        this.extraHeaders = target.headers();
        this.port = target.base.getPort() > 0 ? target.base.getPort() : 80;
        this.fixed = target.wl.names.isEmpty() ? Http1.getRequest(hostHeader, target.pathAndQuery(new Object[0]), extraHeaders) : null;
        for (int k = 0; k < connections; k++) {
            Conn c = new Conn();
            c.inBuf = ByteBuffer.wrap(c.in);
            conns.add(c);
        }
        this.resolvedAt = System.nanoTime();
        this.address = new InetSocketAddress(target.base.getHost(), port); // once, as wrk does
        target.loops.add(this);
    }

    /** Ends the loop at once: in-flight requests are dropped uncounted, as a closed connection's are. */
    void abort() {
        aborted = true;
        selector.wakeup();
    }

    @Override
    public void run() {
        try {
            for (Conn c : conns) next(c, System.nanoTime()); // each request's clock starts as it is sent
            long nextTick = System.nanoTime() + TICK_NS;
            while (retired < conns.size() && !aborted) {
                long wait = Math.max(1, (nextTick - System.nanoTime()) / 1_000_000);
                selector.select(this::ready, wait);
                long now = System.nanoTime();
                if (now - nextTick >= 0) {
                    nextTick = now + TICK_NS;
                    for (Conn c : conns) {
                        if (c.retired) continue;
                        if (c.busy && now - c.deadline >= 0) {
                            c.retried = true; // no second try past the deadline
                            fail(c, new SocketTimeoutException("no complete answer within " + timeoutNs / 1_000_000 + " ms"), now);
                        }
                        resume(c, now);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // the selector itself failed: counted once, this loop's connections end
            if (!live.stop) engine.failed(live, System.nanoTime() - engine.measureStart >= 0, e);
        } finally {
            for (Conn c : conns) if (!c.retired) retire(c);
            try {
                selector.close();
            } catch (IOException ignored) {
                // closing anyway
            }
            target.loops.remove(this);
        }
    }

    /** Starts the connection's next request, or retires it when the run has none left for it. */
    void next(Conn c, long now) {
        while (true) {
            if (live.stop || now - engine.end >= 0) {
                retire(c);
                return;
            }
            long i = live.seq.getAndIncrement();
            boolean measured = now - engine.measureStart >= 0;
            if (measured && engine.s.maxRequests() != null && live.measuredIssued.incrementAndGet() > engine.s.maxRequests()) {
                live.endNs = now;
                live.stop = true;
                retire(c);
                return;
            }
            c.intended = now;
            c.measured = measured;
            c.deadline = now + timeoutNs;
            c.busy = true;
            c.retried = false;
            c.out = ByteBuffer.wrap(fixed != null ? fixed : Http1.getRequest(hostHeader, target.pathAndQuery(target.wl.values(i)), extraHeaders));
            if (send(c, now) || c.busy || c.retired || now - c.wakeAt < 0) return; // sent, retried, or waiting
            now = System.nanoTime(); // failed at once (counted): the next request
        }
    }

    /** Sends c.out on the open connection or a new one; false when the request failed at once (already counted). */
    boolean send(Conn c, long now) {
        c.len = 0;
        c.headEnd = -1;
        c.dropped = 0;
        c.scanned = 0;
        c.received = false;
        c.reused = c.ch != null;
        try {
            if (c.ch == null) {
                if (address.isUnresolved()) { // looked up again at most once a second (a lookup blocks the loop)
                    if (now - resolvedAt >= 1_000_000_000L) {
                        resolvedAt = now;
                        address = new InetSocketAddress(target.base.getHost(), port);
                    }
                    if (address.isUnresolved()) throw new UnknownHostException(target.base.getHost());
                }
                SocketChannel ch = SocketChannel.open();
                c.ch = ch;
                ch.configureBlocking(false);
                ch.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                boolean connected = ch.connect(address);
                c.key = ch.register(selector, connected ? SelectionKey.OP_READ : SelectionKey.OP_CONNECT, c);
                if (!connected) return true;
            }
            write(c);
            return true;
        } catch (IOException e) {
            fail(c, e, now);
            return false;
        }
    }

    void write(Conn c) throws IOException {
        try {
            c.ch.write(c.out);
        } catch (IOException e) {
            throw connectionError(e);
        }
        c.key.interestOps(c.out.hasRemaining() ? SelectionKey.OP_READ | SelectionKey.OP_WRITE : SelectionKey.OP_READ);
    }

    void ready(SelectionKey k) {
        Conn c = (Conn) k.attachment();
        if (!k.isValid() || c.key != k || !c.busy) return;
        try {
            if (k.isConnectable()) {
                try {
                    c.ch.finishConnect();
                } catch (IOException e) {
                    throw connectionError(e);
                }
                write(c);
                return;
            }
            if (k.isWritable()) write(c);
            if (k.isReadable()) read(c);
        } catch (IOException | RuntimeException e) {
            long now = System.nanoTime();
            fail(c, e instanceof IOException io ? io : new IOException(e.toString(), e), now);
            resume(c, now);
        }
    }

    /** A channel's own failure ("Broken pipe", "Connection reset by peer") as the socket would name it. */
    static IOException connectionError(IOException e) {
        if (e instanceof SocketException || e instanceof EOFException) return e;
        SocketException s = new SocketException(e.getMessage());
        s.initCause(e);
        return s;
    }

    /** After a failure: the next request now, unless the connection waits (or is retired). */
    void resume(Conn c, long now) {
        if (!c.busy && !c.retired && now - c.wakeAt >= 0) next(c, now);
    }

    void read(Conn c) throws IOException {
        while (true) {
            if (c.len == c.in.length && c.len >= KEEP) compact(c);
            if (c.len == c.in.length) {
                if (c.in.length >= MAX_ANSWER) throw new IOException("an answer over " + (MAX_ANSWER >> 20) + " MB");
                c.in = Arrays.copyOf(c.in, c.in.length * 2);
                c.inBuf = ByteBuffer.wrap(c.in);
            }
            c.inBuf.limit(c.in.length).position(c.len);
            int n;
            try {
                n = c.ch.read(c.inBuf);
            } catch (IOException e) {
                throw connectionError(e);
            }
            if (n == 0) return;
            if (n < 0) {
                if (c.headEnd >= 0 && !c.head.noBody() && !c.head.chunked() && c.head.length() < 0) {
                    done(c, c.len, true); // the body ran to the end of the connection
                    return;
                }
                throw new EOFException(c.received ? "connection closed in the middle of a response" : "connection closed by the server");
            }
            c.received = true;
            c.len += n;
            int end = answerEnd(c);
            if (end >= 0) {
                done(c, end, end < c.len || c.head.closeAfter());
                return;
            }
            if (c.len < c.in.length) return; // all there was for now
        }
    }

    /** Where the answer in c.in ends, or -1 while it is incomplete. */
    int answerEnd(Conn c) throws IOException {
        if (c.headEnd < 0) {
            byte[] b = c.in;
            for (int i = Math.max(3, c.scanned); i < c.len; i++) {
                if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
                    c.headEnd = i + 1;
                    break;
                }
            }
            if (c.headEnd < 0) {
                c.scanned = c.len;
                if (c.len > 64 * 1024) throw new IOException("HTTP headers over 64 KB");
                return -1;
            }
            c.head = Head.parse(b, 0, c.headEnd);
            c.chunkAt = c.headEnd;
            if (c.head.interim()) { // 100 Continue, 103 Early Hints: the answer follows
                System.arraycopy(b, c.headEnd, b, 0, c.len - c.headEnd);
                c.len -= c.headEnd;
                c.headEnd = -1;
                c.scanned = 0;
                return answerEnd(c);
            }
        }
        Head h = c.head;
        if (h.noBody()) return c.headEnd;
        if (h.chunked()) return chunkedEnd(c);
        if (h.length() >= 0) return c.len - c.headEnd + c.dropped >= h.length() ? (int) (c.headEnd + h.length() - c.dropped) : -1;
        return -1; // until the server closes the connection
    }

    /**
     * A long answer: only its end is needed (Tinybird's row count follows the data), so the body read so far is cut
     * to its last TAIL bytes and the buffer stays about KEEP bytes, whatever the answer's size (50 connections x
     * 100 MB answers were 5 GB of heap). A chunked body keeps its complete chunks as one chunk of their last TAIL
     * data bytes, so the chunk walk and dechunk go on as before.
     */
    static void compact(Conn c) throws IOException {
        if (c.headEnd < 0 || c.head.noBody()) return;
        byte[] b = c.in;
        if (!c.head.chunked()) {
            int body = c.len - c.headEnd;
            if (body <= TAIL) return;
            System.arraycopy(b, c.len - TAIL, b, c.headEnd, TAIL);
            c.dropped += body - TAIL;
            c.len = c.headEnd + TAIL;
            return;
        }
        if (c.chunkAt - c.headEnd <= 2 * TAIL) return; // too little walked to be worth it; the buffer grows
        byte[] data = dechunkTo(c, c.chunkAt);
        if (data.length == 0) return; // (only the last chunk is empty; a chunk of 0 bytes here would end the body)
        int keep = Math.min(data.length, TAIL);
        byte[] size = (Integer.toHexString(keep) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        int rest = c.len - c.chunkAt, at = c.headEnd;
        System.arraycopy(size, 0, b, at, size.length);
        at += size.length;
        System.arraycopy(data, data.length - keep, b, at, keep);
        at += keep;
        b[at++] = '\r';
        b[at++] = '\n';
        System.arraycopy(b, c.chunkAt, b, at, rest);
        c.dropped += c.chunkAt - at;
        c.chunkAt = at;
        c.len = at + rest;
    }

    /** The data of the complete chunks in c.in[headEnd, to). */
    static byte[] dechunkTo(Conn c, int to) throws IOException {
        byte[] b = c.in, data = new byte[to - c.headEnd];
        int n = 0, p = c.headEnd;
        while (p < to) {
            int nl = indexOf(b, '\n', p, to);
            int size = (int) chunkSize(b, p, nl);
            System.arraycopy(b, nl + 1, data, n, size);
            n += size;
            p = indexOf(b, '\n', nl + 1 + size, to) + 1;
        }
        return Arrays.copyOf(data, n);
    }

    /** Walks the chunks received so far (remembering complete ones); the answer's end, or -1. */
    static int chunkedEnd(Conn c) throws IOException {
        byte[] b = c.in;
        while (true) {
            int nl = indexOf(b, '\n', c.chunkAt, c.len);
            if (nl < 0) return -1;
            long size = chunkSize(b, c.chunkAt, nl);
            if (size == 0) { // trailers up to an empty line
                int p = nl + 1;
                while (true) {
                    int e = indexOf(b, '\n', p, c.len);
                    if (e < 0) return -1;
                    if (e == p || (e == p + 1 && b[p] == '\r')) return e + 1;
                    p = e + 1;
                }
            }
            long dataEnd = nl + 1 + size;
            if (dataEnd >= c.len) return -1;
            int e = indexOf(b, '\n', (int) dataEnd, c.len);
            if (e < 0) return -1;
            c.chunkAt = e + 1;
        }
    }

    static long chunkSize(byte[] b, int from, int nl) throws IOException {
        int to = nl;
        for (int i = from; i < nl; i++) {
            if (b[i] == ';') {
                to = i;
                break;
            }
        }
        String sz = new String(b, from, to - from, StandardCharsets.ISO_8859_1).strip();
        try {
            long n = Long.parseLong(sz, 16);
            if (n < 0 || n > MAX_ANSWER) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new IOException("bad chunk size: " + StressCase.shorten(sz));
        }
    }

    static int indexOf(byte[] b, char ch, int from, int to) {
        for (int i = from; i < to; i++) if (b[i] == ch) return i;
        return -1;
    }

    /** The body of a chunked answer in c.in, joined. */
    static byte[] dechunk(Conn c, int end) throws IOException {
        byte[] b = c.in, body = new byte[end - c.headEnd];
        int n = 0, p = c.headEnd;
        while (true) {
            int nl = indexOf(b, '\n', p, end);
            long size = chunkSize(b, p, nl);
            if (size == 0) return Arrays.copyOf(body, n);
            System.arraycopy(b, nl + 1, body, n, (int) size);
            n += (int) size;
            p = indexOf(b, '\n', nl + 1 + (int) size, end) + 1;
        }
    }

    /** The answer in c.in[0, end) is complete: counts it, then starts the next request. */
    void done(Conn c, int end, boolean close) throws IOException {
        long now = System.nanoTime();
        int code = c.head.code();
        if (code >= 200 && code <= 299) {
            long rows = -1;
            if (target.tinybird) {
                if (c.head.chunked()) {
                    byte[] body = dechunk(c, end);
                    rows = Http1.tinybirdRows(body, 0, body.length);
                } else {
                    rows = Http1.tinybirdRows(c.in, c.headEnd, end);
                }
            }
            engine.succeeded(live, c.intended, c.measured, rows, now);
        } else {
            engine.failed(live, c.measured, new HttpStatus(code, ""));
        }
        c.busy = false;
        if (close || c.out.hasRemaining()) closeChannel(c); // "Connection: close", stray bytes, or answered before sent in full
        next(c, now);
    }

    /**
     * A request failed: once more on a new connection when a kept-alive one turned out stale, else counted, and
     * the connection waits 10 ms after a connection error (the caller starts the next request: {@link #resume}).
     */
    void fail(Conn c, IOException e, long now) {
        closeChannel(c);
        if (c.reused && !c.received && !c.retried && now - c.deadline < 0) {
            c.retried = true;
            c.out.rewind();
            send(c, now);
            return;
        }
        c.busy = false;
        if (live.stop) {
            retire(c);
            return;
        }
        engine.failed(live, c.measured, e);
        c.wakeAt = LoadEngine.errorKind(e).equals("connection") ? now + TICK_NS : now;
    }

    void closeChannel(Conn c) {
        SocketChannel ch = c.ch;
        c.ch = null;
        c.key = null;
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closed anyway
            }
        }
    }

    void retire(Conn c) {
        if (c.retired) return;
        c.retired = true;
        c.busy = false;
        closeChannel(c);
        retired++;
        live.done.countDown();
    }
}
