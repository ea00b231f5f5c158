import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PushbackInputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;

/**
 * HTTP plumbing of the emulator: query strings, request bodies (size limit, gzip by header or magic bytes),
 * multipart parts and plain answers, on the JDK's HttpServer.
 *
 * <p>Why hand-written: the emulator must answer exactly as Tinybird does (status, body text, headers) and inject
 * faults between reading a body and answering it, which a framework would hide. Invariant: a body is read before
 * any early answer ({@link #drain}), so the client sees the answer rather than a connection reset.
 */
final class EmulatorHttp {
    private EmulatorHttp() {}

    /** A 4xx/5xx with Tinybird's JSON error body {"error": ..., "documentation": ...}. */
    static final class BadRequest extends RuntimeException {
        final int status;

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    static Map<String, List<String>> parseQuery(String raw) {
        Map<String, List<String>> m = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) return m;
        for (String kv : raw.split("&")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            String k = dec(eq < 0 ? kv : kv.substring(0, eq));
            String v = eq < 0 ? "" : dec(kv.substring(eq + 1));
            m.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return m;
    }

    static String dec(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }

    static String first(Map<String, List<String>> q, String k) {
        List<String> v = q.get(k);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** Reads what is left of the request body, so an early answer is not lost to a connection reset. */
    static void drain(HttpExchange ex) {
        try {
            ex.getRequestBody().transferTo(OutputStream.nullOutputStream());
        } catch (IOException ignored) {
            // the client went away
        }
    }

    static void sendText(HttpExchange ex, int code, String text, String type) throws IOException {
        drain(ex);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
        ex.sendResponseHeaders(code, b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(b);
            }
        }
    }

    static void sendJson(HttpExchange ex, int code, JsonNode n) throws IOException {
        drain(ex);
        byte[] b = Json.MAPPER.writeValueAsBytes(n);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(code, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }


    /** Reads the request body (inflating gzip by header or magic bytes), at most limit wire bytes; null when over. */
    static byte[] readBody(HttpExchange ex, long limit, LongAdder bytesReceived) throws IOException {
        InputStream raw = ex.getRequestBody();
        CountingInput counted = new CountingInput(raw, limit);
        PushbackInputStream in = new PushbackInputStream(counted, 2);
        byte[] head = in.readNBytes(2);
        if (head.length > 0) in.unread(head);
        String enc = ex.getRequestHeaders().getFirst("Content-Encoding");
        boolean gz = (enc != null && enc.toLowerCase(Locale.ROOT).contains("gzip"))
                || (head.length == 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b);
        try {
            byte[] wire = in.readAllBytes();
            bytesReceived.add(counted.count);
            return gz ? gunzip(wire) : wire;
        } catch (TooBig e) {
            bytesReceived.add(counted.count);
            return null;
        }
    }

    /** Inflates a gzip body into an array sized by the gzip trailer (ISIZE), so the rows are copied once. */
    static byte[] gunzip(byte[] wire) throws IOException {
        GZIPInputStream g = new GZIPInputStream(new java.io.ByteArrayInputStream(wire), 64 * 1024);
        int isize = wire.length >= 18 ? (wire[wire.length - 4] & 0xff) | (wire[wire.length - 3] & 0xff) << 8
                | (wire[wire.length - 2] & 0xff) << 16 | (wire[wire.length - 1] & 0xff) << 24 : -1;
        if (isize < 0 || isize > 256_000_000) return g.readAllBytes();
        byte[] out = new byte[isize];
        int n = g.readNBytes(out, 0, isize);
        int next = g.read();
        if (n == isize && next == -1) return out;
        // several gzip members (ISIZE is the last one's): the rest the slow way
        ByteArrayOutputStream bos = new ByteArrayOutputStream(Math.max(n * 2, 1024));
        bos.write(out, 0, n);
        if (next != -1) bos.write(next);
        g.transferTo(bos);
        return bos.toByteArray();
    }

    static final class TooBig extends IOException {
        TooBig() {
            super("request body over the limit");
        }
    }

    static final class CountingInput extends InputStream {
        final InputStream in;
        final long limit;
        long count;

        CountingInput(InputStream in, long limit) {
            this.in = in;
            this.limit = limit;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0 && ++count > limit) throw new TooBig();
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                count += n;
                if (count > limit) throw new TooBig();
            }
            return n;
        }
    }

    record Part(String name, byte[] data) {}

    static Part multipartPart(byte[] body, String boundary) {
        byte[] delim = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        int pos = indexOf(body, delim, 0);
        while (pos >= 0) {
            int headStart = pos + delim.length;
            if (headStart + 2 <= body.length && body[headStart] == '-' && body[headStart + 1] == '-') return null;
            int headEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), headStart);
            if (headEnd < 0) return null;
            String headers = new String(body, headStart, headEnd - headStart, StandardCharsets.UTF_8);
            int dataStart = headEnd + 4;
            int next = indexOf(body, ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1), dataStart);
            if (next < 0) return null;
            Matcher m = Pattern.compile("(?i)name=\"([^\"]*)\"").matcher(headers);
            if (m.find() && List.of("csv", "ndjson", "parquet").contains(m.group(1))) {
                return new Part(m.group(1), Arrays.copyOfRange(body, dataStart, next));
            }
            pos = next + 2;
        }
        return null;
    }

    static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
