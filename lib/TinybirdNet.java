//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Timeouts.java

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * How a Tinybird client connects: the connect and read timeouts and, with a CA file, a TLS context that trusts the
 * JVM's CAs plus the file's. {@link #current()}: the settings of clients created without explicit ones (set by the
 * command's options, so a script's second connection gets them too). {@code @Mixin TinybirdNet.Options net;} (part
 * of {@link TinybirdOptions}) gives a script --connect-timeout, --read-timeout and --ca-file.
 *
 * <p>Why a private CA is added to the JVM's rather than replacing them: a server behind a corporate proxy and
 * api.tinybird.co must both stay reachable from one run. Invariant: a bad --ca-file is a one-line error naming
 * the file, never a stack trace or a client that silently trusts nothing extra.
 */
public record TinybirdNet(Duration connectTimeout, Duration readTimeout, Path caFile, javax.net.ssl.SSLContext ssl) {
    static volatile TinybirdNet current = new TinybirdNet(Timeouts.CONNECT, Timeouts.READ, null);

    public TinybirdNet(Duration connectTimeout, Duration readTimeout, Path caFile) {
        this(connectTimeout, readTimeout, caFile, caFile == null ? null : trusting(caFile));
    }

    public static TinybirdNet current() {
        return current;
    }

    /** A TLS context that trusts the JVM's default CAs and every certificate in a PEM file. */
    static javax.net.ssl.SSLContext trusting(Path pem) {
        String where = "--ca-file " + pem;
        java.util.Collection<? extends java.security.cert.Certificate> certs;
        try (InputStream in = Files.newInputStream(pem)) {
            certs = java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (java.nio.file.NoSuchFileException e) {
            throw Cli.usage(where + ": no such file");
        } catch (IOException e) {
            throw Cli.usage(where + ": cannot read it (" + e.getMessage() + ")");
        } catch (java.security.cert.CertificateException e) {
            throw Cli.usage(where + ": not a PEM certificate file (" + e.getMessage() + ")");
        }
        if (certs.isEmpty()) throw Cli.usage(where + ": no certificate in it (expected -----BEGIN CERTIFICATE-----)");
        try {
            java.security.KeyStore ks = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
            ks.load(null, null);
            javax.net.ssl.TrustManagerFactory jvm = javax.net.ssl.TrustManagerFactory.getInstance(
                    javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            jvm.init((java.security.KeyStore) null);
            int i = 0;
            for (javax.net.ssl.TrustManager tm : jvm.getTrustManagers()) {
                if (tm instanceof javax.net.ssl.X509TrustManager x) {
                    for (java.security.cert.X509Certificate c : x.getAcceptedIssuers()) ks.setCertificateEntry("jvm-" + i++, c);
                }
            }
            int j = 0;
            for (java.security.cert.Certificate c : certs) ks.setCertificateEntry("ca-file-" + j++, c);
            javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                    javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (java.security.GeneralSecurityException | IOException e) {
            throw new Cli.Failure(where + ": cannot build a trust store from it: " + e.getMessage());
        }
    }

    /**
     * Timeouts and trust of every Tinybird connection: {@code @Mixin TinybirdNet.Options net;} (part of
     * {@link TinybirdOptions}). {@link #net(Config)} makes them the settings of every client the command creates after it.
     */
    public static final class Options {
        @Mixin public Timeouts.Options timeouts = new Timeouts.Options();

        @Option(names = "--ca-file", paramLabel = "FILE",
                description = "Also trust the certificate authorities in FILE (PEM, one or more certificates), for a server "
                        + "whose certificate a private CA signed (default: TINYBIRD_CA_FILE; the JVM's own CAs are always trusted).")
        public Path caFile;

        /** The settings (--ca-file, else TINYBIRD_CA_FILE), made the default of new clients. */
        public TinybirdNet net(Config cfg) {
            Path ca = caFile;
            if (ca == null && cfg != null) ca = cfg.get("TINYBIRD_CA_FILE").map(Path::of).orElse(null);
            TinybirdNet n = new TinybirdNet(timeouts.connect(), timeouts.read(), ca);
            TinybirdNet.current = n;
            return n;
        }
    }
}
