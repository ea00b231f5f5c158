///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DEPS io.vertx:vertx-stack-depchain:5.0.7@pom
//DEPS io.vertx:vertx-core
//DEPS io.vertx:vertx-web-client
//SOURCES ../../lib/Latency.java
//JAVA_OPTIONS -XX:+UseSerialGC
//DESCRIPTION The well-kept HTTP clients stress-case's own (stress-case/Http1.java) is measured against, for bench.sh.
//MAIN HttpClients

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * One well-kept HTTP client in a closed loop: CONNECTIONS keep-alive connections, one request in flight on each,
 * WARMUP s unmeasured, then DURATION s measured; prints requests/s, p50, p99 (ms) and this process's CPU per request.
 * Why: Http1.java's header says why stress-case speaks HTTP/1.1 itself; bench.sh runs these beside wrk and stress-case
 * against the same nginx, so that claim is re-measured in one run. Each client is used as its documentation shows,
 * with one event-loop thread a core (wrk's -t2 on the 2-core bench machine) and its pool sized to the connections.
 *   ./jbang bench/stress-case/http-clients.java vertx-httpclient|vertx-webclient|netty|jdk URL CONNECTIONS DURATION_S WARMUP_S
 */
class HttpClients {
    static final Recorder latency = new Recorder(1, TimeUnit.MINUTES.toMicros(1), 3);
    static final LongAdder errors = new LongAdder();
    static volatile long end = Long.MAX_VALUE;

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: http-clients.java vertx-httpclient|vertx-webclient|netty|jdk URL CONNECTIONS DURATION_S WARMUP_S");
            System.exit(2);
        }
        String client = args[0];
        URI url = URI.create(args[1]);
        int conns = Integer.parseInt(args[2]);
        double duration = Double.parseDouble(args[3]), warmup = Double.parseDouble(args[4]);
        int threads = Math.min(conns, Runtime.getRuntime().availableProcessors());
        long t0 = System.nanoTime();
        end = t0 + (long) ((warmup + duration) * 1e9);
        AutoCloseable running = switch (client) {
            case "vertx-httpclient" -> vertxHttpClient(url, conns, threads);
            case "vertx-webclient" -> vertxWebClient(url, conns, threads);
            case "netty" -> netty(url, conns, threads);
            case "jdk" -> jdk(url, conns);
            default -> throw new IllegalArgumentException("unknown client " + client);
        };
        sleepUntil(t0 + (long) (warmup * 1e9));
        latency.reset();
        long errorsBefore = errors.sum(), cpu0 = cpuNanos(), m0 = System.nanoTime();
        sleepUntil(end);
        long m1 = System.nanoTime(), cpu1 = cpuNanos();
        Histogram h = latency.getIntervalHistogram();
        long n = h.getTotalCount();
        double secs = (m1 - m0) / 1e9;
        // one key a line, as stress-case's --json: bench.sh reads both the same way
        System.out.printf(Locale.ROOT, "{%n  \"client\" : \"%s\",%n  \"rps\" : %.1f,%n  \"p50\" : %.3f,%n  \"p99\" : %.3f,%n  \"us_per_request\" : %.1f,%n  \"errors\" : %d%n}%n",
                client, n / secs, h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
                n == 0 ? Double.NaN : (cpu1 - cpu0) / 1000.0 / n, errors.sum() - errorsBefore);
        System.out.flush();
        try {
            running.close();
        } finally {
            System.exit(0); // a client's non-daemon threads must not keep the bench waiting
        }
    }

    static void sleepUntil(long t) throws InterruptedException {
        long w;
        while ((w = t - System.nanoTime()) > 0) TimeUnit.NANOSECONDS.sleep(w);
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    static void done(long start, boolean ok) {
        if (ok) latency.recordValue(Math.max(1, (System.nanoTime() - start) / 1000));
        else errors.increment();
    }

    static String pathOf(URI u) {
        return (u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath()) + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
    }

    static int portOf(URI u) {
        return u.getPort() > 0 ? u.getPort() : 80;
    }

    // ------------------------------------------------------------------ Vert.x 5 HttpClient
    static AutoCloseable vertxHttpClient(URI u, int conns, int threads) {
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(threads));
        HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
                new PoolOptions().setHttp1MaxSize(conns));
        String host = u.getHost(), path = pathOf(u);
        int port = portOf(u);
        for (int c = 0; c < conns; c++) {
            new Runnable() {
                public void run() {
                    if (System.nanoTime() >= end) return;
                    long start = System.nanoTime();
                    client.request(io.vertx.core.http.HttpMethod.GET, port, host, path)
                            .compose(req -> req.send().compose(resp -> resp.body()))
                            .onComplete(ar -> {
                                done(start, ar.succeeded());
                                run();
                            });
                }
            }.run();
        }
        return () -> vertx.close();
    }

    // ------------------------------------------------------------------ Vert.x 5 WebClient
    static AutoCloseable vertxWebClient(URI u, int conns, int threads) {
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(threads));
        WebClient client = WebClient.create(vertx, new WebClientOptions().setKeepAlive(true), new PoolOptions().setHttp1MaxSize(conns));
        String abs = u.toString();
        for (int c = 0; c < conns; c++) {
            new Runnable() {
                public void run() {
                    if (System.nanoTime() >= end) return;
                    long start = System.nanoTime();
                    client.getAbs(abs).send().onComplete(ar -> {
                        done(start, ar.succeeded() && ar.result().statusCode() == 200);
                        run();
                    });
                }
            }.run();
        }
        return () -> vertx.close();
    }

    // ------------------------------------------------------------------ raw Netty 4.2
    static AutoCloseable netty(URI u, int conns, int threads) throws InterruptedException {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
        String host = u.getHost(), path = pathOf(u), hostHeader = host + ":" + portOf(u);
        Bootstrap b = new Bootstrap().group(group).channel(NioSocketChannel.class).option(ChannelOption.TCP_NODELAY, true)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20),
                                new SimpleChannelInboundHandler<FullHttpResponse>() {
                                    long start;

                                    @Override
                                    public void channelActive(ChannelHandlerContext ctx) {
                                        send(ctx);
                                    }

                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse resp) {
                                        done(start, resp.status().code() == 200);
                                        send(ctx);
                                    }

                                    void send(ChannelHandlerContext ctx) {
                                        if (System.nanoTime() >= end) return;
                                        FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
                                        req.headers().set(HttpHeaderNames.HOST, hostHeader);
                                        start = System.nanoTime();
                                        ctx.writeAndFlush(req);
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        errors.increment();
                                        ctx.close();
                                    }
                                });
                    }
                });
        Channel[] chs = new Channel[conns];
        for (int c = 0; c < conns; c++) chs[c] = b.connect(host, portOf(u)).sync().channel();
        return () -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    // ------------------------------------------------------------------ java.net.http
    static AutoCloseable jdk(URI u, int conns) {
        java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(u).GET().build();
        for (int c = 0; c < conns; c++) {
            new Runnable() {
                public void run() {
                    if (System.nanoTime() >= end) return;
                    long start = System.nanoTime();
                    client.sendAsync(req, java.net.http.HttpResponse.BodyHandlers.ofByteArray()).whenComplete((resp, e) -> {
                        done(start, e == null && resp.statusCode() == 200);
                        run();
                    });
                }
            }.run();
        }
        return client::close;
    }
}
