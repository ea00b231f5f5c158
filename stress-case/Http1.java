import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import javax.net.ssl.SSLSocketFactory;

/**
 * Our HTTP/1.1 client: one blocking keep-alive connection, GET only, Content-Length and chunked bodies, TLS
 * with the host checked; HttpLoop.java drives the same wire format from selector threads for the closed model.
 * Why hand-written: a load generator must cost less than the server it measures, and on a machine it shares with
 * the server every µs of the client's CPU is the server's loss. bench/stress-case/bench.sh runs wrk, this client and
 * the well-kept libraries (bench/stress-case/http-clients.java: Vert.x 5 HttpClient and WebClient, raw Netty 4.2,
 * java.net.http) in one run, alternating, with 50 connections to the same nginx and the same 3 s warm-up. On 2
 * shared cores (bench/README.md, 2026-12-07) this client held 0.91x wrk's requests/s at 12.4 µs of CPU a request
 * (wrk: 11.5); the libraries 0.08x (WebClient) to 0.56x (raw Netty) at 30-210 µs. Given 10 s to warm up, raw Netty
 * kept up with wrk, the others did not; a warm-up is the user's time, so the client that is near wrk after 3 s stays.
 * Invariant: an answer is read to its last byte before the next request goes out on the connection (a stale
 * keep-alive connection is retried once on a new one), and only a bounded tail of a long answer is kept.
 */
final class Http1 implements AutoCloseable {
    final String host, hostHeader;
    final int port, timeoutMs;
    final boolean tls;
    volatile Socket raw; // the TCP socket under TLS, closed by the deadline ticker
    final Deadlines.Watched watch = new Deadlines.Watched(this::expire);
    Socket socket;
    InputStream in;
    OutputStream out;
    final byte[] buf = new byte[16 * 1024];
    int pos, lim;
    byte[] body = new byte[16 * 1024];
    int bodyLen;
    boolean received;
    /** Only the end of an answer is needed (the measured requests: Tinybird's row count is at its end). */
    boolean tailOnly;

    Http1(URI u, int timeoutMs) {
        this.host = u.getHost();
        this.tls = u.getScheme().equals("https");
        this.port = u.getPort() > 0 ? u.getPort() : tls ? 443 : 80;
        this.hostHeader = hostHeader(u);
        this.timeoutMs = timeoutMs;
    }

    /** Connects (blocking: see {@link Deadlines}; the caller's deadline bounds it). */
    void connect() throws IOException {
        Socket r = new Socket();
        raw = r;
        watch.watch();
        if (watch.fired()) r.close(); // the deadline passed before the socket was there to close
        Socket s = r;
        try {
            r.setTcpNoDelay(true);
            // --connect-timeout and --ca-file (TinybirdOptions) hold for every HTTP target; the request's own
            // deadline (--timeout) still bounds the whole exchange
            TinybirdNet net = TinybirdNet.current();
            r.connect(new InetSocketAddress(host, port), (int) Math.max(1, Math.min(timeoutMs, net.connectTimeout().toMillis())));
            if (tls) {
                SSLSocketFactory f = net.ssl() != null ? net.ssl().getSocketFactory() : (SSLSocketFactory) SSLSocketFactory.getDefault();
                javax.net.ssl.SSLSocket t = (javax.net.ssl.SSLSocket) f.createSocket(r, host, port, true);
                javax.net.ssl.SSLParameters sp = t.getSSLParameters();
                sp.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the host
                t.setSSLParameters(sp);
                s = t;
            }
        } catch (IOException e) {
            r.close();
            raw = null;
            throw e;
        }
        socket = s;
        in = s.getInputStream();
        out = s.getOutputStream();
        pos = lim = 0;
    }

    void expire() {
        Socket r = raw;
        if (r != null) {
            try {
                r.close();
            } catch (IOException ignored) {
                // closed anyway
            }
        }
    }

    byte[] request(String pathAndQuery, String extraHeaders) {
        return getRequest(hostHeader, pathAndQuery, extraHeaders);
    }

    int get(String pathAndQuery, String extraHeaders) throws IOException {
        return send(request(pathAndQuery, extraHeaders));
    }

    /**
     * Sends a GET and reads the whole answer within timeoutMs (connecting included); returns the status. Retries
     * once on a stale keep-alive connection. A request past its deadline fails with SocketTimeoutException.
     */
    int send(byte[] req) throws IOException {
        long token = watch.arm(timeoutMs * 1_000_000L);
        try {
            boolean reused = socket != null;
            if (socket == null) connect();
            received = false;
            try {
                out.write(req);
                out.flush();
                return readResponse();
            } catch (IOException e) {
                close();
                if (!reused || received || watch.fired()) throw e;
                connect();
                out.write(req);
                out.flush();
                return readResponse();
            }
        } catch (IOException e) {
            if (!watch.fired()) throw e;
            close();
            throw new SocketTimeoutException("no complete answer within " + timeoutMs + " ms");
        } finally {
            if (!watch.disarm(token)) close(); // fired just as the answer completed: reconnect next time
        }
    }

    private int fill() throws IOException {
        if (pos < lim) return lim - pos;
        pos = 0;
        lim = in.read(buf, 0, buf.length);
        if (lim < 0) {
            lim = 0;
            return -1;
        }
        received = true;
        return lim;
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder(64);
        while (true) {
            if (fill() < 0) throw new EOFException("connection closed by the server");
            while (pos < lim) {
                byte b = buf[pos++];
                if (b == '\n') {
                    int l = sb.length();
                    if (l > 0 && sb.charAt(l - 1) == '\r') sb.setLength(l - 1);
                    return sb.toString();
                }
                sb.append((char) (b & 0xff));
                if (sb.length() > 65_536) throw new IOException("HTTP header line too long");
            }
        }
    }

    /** Index just past the blank line ending the header block, reading more as needed. */
    private int headerEnd() throws IOException {
        int from = pos;
        while (true) {
            for (int i = Math.max(from, pos + 3); i < lim; i++) {
                if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') return i + 1;
            }
            from = Math.max(pos, lim - 3);
            if (pos > 0) { // compact
                System.arraycopy(buf, pos, buf, 0, lim - pos);
                from -= pos;
                lim -= pos;
                pos = 0;
            }
            if (lim == buf.length) throw new IOException("HTTP headers over " + buf.length + " bytes");
            int n = in.read(buf, lim, buf.length - lim);
            if (n < 0) throw new EOFException(received ? "connection closed in the middle of a response" : "connection closed by the server");
            received = true;
            lim += n;
        }
    }

    private int readResponse() throws IOException {
        int end = headerEnd();
        Head h = Head.parse(buf, pos, end);
        if (h.interim()) {
            pos = end;
            return readResponse();
        }
        int code = h.code();
        long length = h.length();
        boolean chunked = h.chunked(), closeAfter = h.closeAfter();
        pos = end;
        bodyLen = 0;
        if (h.noBody()) {
            // no body
        } else if (chunked) {
            while (true) {
                String sz = line();
                int semi = sz.indexOf(';');
                long n = Long.parseLong((semi < 0 ? sz : sz.substring(0, semi)).strip(), 16);
                if (n == 0) {
                    while (!line().isEmpty()) { /* trailers */ }
                    break;
                }
                readBody(n);
                line();
            }
        } else if (length >= 0) {
            readBody(length);
        } else {
            while (fill() > 0) {
                append(lim - pos);
            }
            closeAfter = true;
        }
        if (closeAfter) close();
        return code;
    }

    private void readBody(long n) throws IOException {
        while (n > 0) {
            if (fill() < 0) throw new EOFException("connection closed in the middle of a response");
            int take = (int) Math.min(n, lim - pos);
            append(take);
            n -= take;
        }
    }

    private void append(int take) {
        if (bodyLen + take > body.length && tailOnly && body.length >= HttpLoop.KEEP) {
            // a long answer: keep its last TAIL bytes, so the buffer stays about KEEP bytes (as HttpLoop.compact)
            int keep = Math.min(bodyLen, HttpLoop.TAIL);
            System.arraycopy(body, bodyLen - keep, body, 0, keep);
            bodyLen = keep;
        }
        if (bodyLen + take > body.length) {
            body = java.util.Arrays.copyOf(body, Math.max(body.length * 2, bodyLen + take));
        }
        System.arraycopy(buf, pos, body, bodyLen, take);
        bodyLen += take;
        pos += take;
    }

    String bodyText() {
        return new String(body, 0, bodyLen, StandardCharsets.UTF_8);
    }

    /** The "rows" count of a Tinybird JSON answer (it follows "data"), or -1. */
    long tinybirdRows() {
        return tinybirdRows(body, 0, bodyLen);
    }

    @Override
    public void close() {
        Socket s = socket, r = raw;
        socket = null;
        raw = null;
        watch.unwatch();
        for (Socket x : new Socket[] {s, r}) {
            if (x == null) continue;
            try {
                x.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /** The "rows" count of a Tinybird JSON answer in body[from, to) (it follows "data"), or -1. */
    static long tinybirdRows(byte[] body, int from, int to) {
        byte[] key = ROWS_KEY;
        outer:
        for (int i = to - key.length; i >= from; i--) {
            for (int k = 0; k < key.length; k++) if (body[i + k] != key[k]) continue outer;
            int j = i + key.length;
            while (j < to && body[j] == ' ') j++;
            long n = 0;
            boolean any = false;
            while (j < to && body[j] >= '0' && body[j] <= '9') {
                n = n * 10 + (body[j++] - '0');
                any = true;
            }
            return any ? n : -1;
        }
        return -1;
    }

    static final byte[] ROWS_KEY = "\"rows\":".getBytes(StandardCharsets.US_ASCII);

    /** A GET request's bytes. */
    static byte[] getRequest(String hostHeader, String pathAndQuery, String extraHeaders) {
        return ("GET " + pathAndQuery + " HTTP/1.1\r\nHost: " + hostHeader
                + "\r\nUser-Agent: stress-case\r\nAccept: */*\r\n" + extraHeaders + "\r\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The Host header for a URL: the port only when the URL names one. */
    static String hostHeader(URI u) {
        return u.getPort() > 0 ? u.getHost() + ":" + u.getPort() : u.getHost();
    }
}

/** An HTTP/1.x answer's status line and headers, as far as a client reading answers needs them. */
record Head(int code, long length, boolean chunked, boolean closeAfter) {
    /** Parses the header block buf[p, end) (end just past the blank line). */
    static Head parse(byte[] buf, int p, int end) throws IOException {
        int eol = p;
        while (buf[eol] != '\n') eol++;
        String status = new String(buf, p, eol - p, StandardCharsets.ISO_8859_1).strip();
        if (!status.startsWith("HTTP/1.") || status.length() < 12) throw new IOException("not an HTTP response: " + StressCase.shorten(status));
        int code;
        try {
            code = Integer.parseInt(status.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("bad HTTP status line: " + StressCase.shorten(status));
        }
        long length = -1;
        boolean chunked = false, closeAfter = status.startsWith("HTTP/1.0");
        p = eol + 1;
        while (p < end - 2) {
            eol = p;
            while (buf[eol] != '\n') eol++;
            int colon = p;
            while (colon < eol && buf[colon] != ':') colon++;
            if (colon < eol) {
                int nameLen = colon - p;
                if (nameIs(buf, p, nameLen, "content-length")) {
                    long n = 0;
                    for (int i = colon + 1; i < eol; i++) if (buf[i] >= '0' && buf[i] <= '9') n = n * 10 + (buf[i] - '0');
                    length = n;
                } else if (nameIs(buf, p, nameLen, "transfer-encoding")) {
                    chunked = new String(buf, colon + 1, eol - colon - 1, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT).contains("chunked");
                } else if (nameIs(buf, p, nameLen, "connection")) {
                    String lv = new String(buf, colon + 1, eol - colon - 1, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
                    if (lv.contains("close")) closeAfter = true;
                    else if (lv.contains("keep-alive")) closeAfter = false;
                }
            }
            p = eol + 1;
        }
        return new Head(code, length, chunked, closeAfter);
    }

    /** An interim answer (1xx but 101): the real one follows on the same connection. */
    boolean interim() {
        return code >= 100 && code < 200 && code != 101;
    }

    /** An answer with this status has no body, whatever its headers say. */
    boolean noBody() {
        return code == 204 || code == 304 || (code >= 100 && code < 200);
    }

    private static boolean nameIs(byte[] b, int off, int len, String name) {
        if (len != name.length()) return false;
        for (int i = 0; i < len; i++) if (Character.toLowerCase((char) (b[off + i] & 0xff)) != name.charAt(i)) return false;
        return true;
    }
}
