import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.security.cert.CertificateException;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Which network errors retrying can not fix. A certificate the JVM does not trust, a TLS handshake that fails or an
 * unknown host fail the same way on every attempt: retrying them for minutes only hides the cause behind retry lines.
 * Everything else (refused, reset, timed out, cut short) may be a blip and stays the retry loop's business.
 *
 * <p>Invariant: {@link #permanent(Throwable)} returns null for every error a retry could fix, and for the others one
 * line that says what is wrong and how to fix it (no stack trace, no secret: the caller redacts the host it adds).
 */
public final class NetErrors {
    private NetErrors() {}

    /** What to tell the user when a certificate is not trusted. */
    public static final String TRUST_HINT = "trust its CA with --ca-file FILE (or TINYBIRD_CA_FILE=FILE), or use http:// for a local server";

    /** A one-line reason when no retry can help, else null. Walks the cause chain. */
    public static String permanent(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof UnknownHostException u) {
                return "unknown host " + u.getMessage() + " (check the host name)";
            }
            if (c instanceof NoRouteToHostException) return "no route to host (check the host and the network)";
            if (c instanceof CertificateException || isPkix(c)) {
                return "the server's TLS certificate is not trusted (" + firstLine(root(c)) + "): " + TRUST_HINT;
            }
            if (c instanceof SSLPeerUnverifiedException) {
                return "the server's TLS certificate does not match its host name (" + firstLine(c) + ")";
            }
            if (c instanceof SSLHandshakeException) {
                return "the TLS handshake failed (" + firstLine(root(c)) + "): " + TRUST_HINT;
            }
            if (c instanceof SSLException s && s.getMessage() != null && s.getMessage().contains("plaintext")) {
                return "the server does not speak TLS (" + firstLine(s) + "): use http:// for it";
            }
            // drivers that time out waiting for a server give its last error as text only (MongoDB's cluster state)
            String m = c.getMessage();
            java.util.regex.Matcher u = m == null ? null : UNKNOWN_HOST_TEXT.matcher(m);
            if (u != null && u.find()) return "unknown host " + u.group(1) + " (check the host name)";
        }
        return null;
    }

    private static final java.util.regex.Pattern UNKNOWN_HOST_TEXT =
            java.util.regex.Pattern.compile("java\\.net\\.UnknownHostException: ([^\\s:}\\]]+)");

    private static boolean isPkix(Throwable c) {
        String m = c.getMessage();
        return m != null && (m.contains("PKIX path") || m.contains("unable to find valid certification path"));
    }

    private static Throwable root(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) r = r.getCause();
        return r;
    }

    private static String firstLine(Throwable t) {
        String m = t.getMessage();
        if (m == null || m.isBlank()) return t.getClass().getSimpleName();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
