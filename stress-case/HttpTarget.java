import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;


/**
 * The plain URL target (--target http --http-url URL): GET the URL plus the --param values as query parameters.
 * Also the base of the Tinybird target. Requests go over our own HTTP/1.1 client (Http1.java, HttpLoop.java).
 * Invariant: a connection belongs to one session; close() closes every connection still open.
 */
class HttpTarget implements LoadTarget {
    static final LoadTarget.Kind KIND = new LoadTarget.Kind("http", List.of(), (run, wl) -> {
        if (run.httpUrl == null) throw Cli.usage("--target http needs --http-url URL");
        return new HttpTarget("http", run.httpUrl, null, wl, run.timeout, false);
    });
    final String name;
    final URI base;
    final String token;
    final Workload wl;
    final Duration timeout;
    final boolean tinybird;
    final List<Http1> open = new CopyOnWriteArrayList<>();
    final List<HttpLoop> loops = new CopyOnWriteArrayList<>();

    HttpTarget(String name, String url, String token, Workload wl, Duration timeout, boolean tinybird) {
        this.name = name;
        try {
            this.base = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw Cli.usage(name + ": not a URL: " + Config.redact(url));
        }
        if (base.getHost() == null || !(base.getScheme().equals("http") || base.getScheme().equals("https"))) {
            throw Cli.usage(name + ": not an http(s) URL: " + Config.redact(url));
        }
        this.token = token;
        this.wl = wl;
        this.timeout = timeout;
        this.tinybird = tinybird;
    }

    public String name() {
        return name;
    }

    /** Plain http (the event loop speaks no TLS). */
    boolean plain() {
        return base.getScheme().equals("http");
    }

    Http1 connection() {
        Http1 h = new Http1(base, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        open.add(h);
        return h;
    }

    String pathAndQuery(Object[] v) {
        StringBuilder sb = new StringBuilder(base.getRawPath().isEmpty() ? "/" : base.getRawPath());
        boolean q = base.getRawQuery() != null;
        if (q) sb.append('?').append(base.getRawQuery());
        for (int k = 0; k < v.length; k++) {
            sb.append(q ? '&' : '?');
            q = true;
            sb.append(StressCase.enc(wl.names.get(k))).append('=').append(StressCase.enc(Workload.text(v[k])));
        }
        return sb.toString();
    }

    String headers() {
        return token == null ? "" : "Authorization: Bearer " + token + "\r\n";
    }

    @Override
    public Map<String, String> about() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("kind", "HTTP GET");
        a.put("host", base.getScheme() + "://" + base.getAuthority());
        a.put("path", base.getRawPath().isEmpty() ? "/" : base.getRawPath());
        a.put("asks", describe());
        return a;
    }

    public String describe() {
        return "GET " + Config.redact(base.toString());
    }

    public void check() {
        try (LoadTarget.Session s = session()) {
            s.call(wl.values(Long.MAX_VALUE));
        } catch (HttpStatus e) {
            if (e.status >= 500 || e.status == 429) return; // the server is there; its failures are counted during the run
            throw new Cli.Failure(name + ": " + base.getScheme() + "://" + base.getAuthority() + base.getRawPath()
                    + " answered HTTP " + e.status + ": " + StressCase.shorten(e.body), e);
        } catch (Exception e) {
            throw new Cli.Failure(name + ": cannot reach " + base.getScheme() + "://" + base.getAuthority() + ": " + StressCase.oneLine(e), e);
        }
    }

    public LoadTarget.Session session() {
        Http1 h = connection();
        h.tailOnly = true; // the answers are counted, not kept (an error's text is its end)
        String hdr = headers();
        byte[] fixed = wl.names.isEmpty() ? h.request(pathAndQuery(new Object[0]), hdr) : null;
        return new LoadTarget.Session() {
            public long call(Object[] v) throws IOException {
                int status = fixed != null ? h.send(fixed) : h.get(pathAndQuery(v), hdr);
                if (status < 200 || status > 299) throw new HttpStatus(status, h.bodyText());
                return tinybird ? h.tinybirdRows() : -1;
            }

            public void close() {
                h.close();
                open.remove(h);
            }
        };
    }

    public void close() {
        for (Http1 h : open) h.close();
        for (HttpLoop l : loops) l.abort();
    }
}

final class HttpStatus extends IOException {
    final int status;
    final String body;

    HttpStatus(int status, String body) {
        super("HTTP " + status);
        this.status = status;
        this.body = body;
    }
}
