//SOURCES Cli.java
//SOURCES Config.java
//SOURCES Json.java

import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A non-2xx answer from Tinybird as a one-line {@link Cli.Failure}: the status, the server's text, what was asked of
 * which host (never the token); 401, 403 and region-mismatch 404 are explained (scope? region? which host?). Also
 * how long an answer asks the client to wait (Retry-After, X-RateLimit-Reset).
 *
 * <p>Why here: the reader, the importer and the writer meet the same answers, and a user should read the same
 * explanation whichever tool met it. Invariant: the message is redacted, one line, and names what was asked of which
 * host.
 */
public final class TinybirdApiException extends Cli.Failure {
    public final int status;
    public final String serverText;
    /** How long the server asked to wait, in ms (Retry-After; for a 429 else X-RateLimit-Reset); null when it did not say. */
    public final Long retryAfterMillis;

    public TinybirdApiException(int status, String serverText, String message) {
        this(status, serverText, message, null);
    }

    public TinybirdApiException(int status, String serverText, String message, Long retryAfterMillis) {
        super(Config.redact(message));
        this.status = status;
        this.serverText = serverText;
        this.retryAfterMillis = retryAfterMillis;
    }

    static String oneLine(String s) {
        if (s == null) return "";
        String t = s.strip().replaceAll("\\s*\\n\\s*", " ");
        return t.length() > 500 ? t.substring(0, 500) + "..." : t;
    }

    /** The server's message: the {@code error} of a JSON body, else the plain text. */
    static String serverText(String body) {
        if (body == null) return "";
        String b = body.strip();
        if (b.startsWith("{")) {
            try {
                JsonNode n = Json.MAPPER.readTree(b);
                if (n.hasNonNull("error") && n.get("error").isTextual()) return n.get("error").asText();
                if (n.has("errors")) return n.get("errors").toString();
            } catch (IOException notJson) {
                // plain text after all
            }
        }
        return b;
    }

    static TinybirdApiException of(String host, int status, String body, String what, String scopeHint) {
        return of(host, status, body, what, scopeHint, null);
    }

    static TinybirdApiException of(String host, int status, String body, String what, String scopeHint, Long retryAfterMillis) {
        String text = oneLine(serverText(body));
        String msg = "Tinybird answered " + status + (text.isEmpty() ? "" : " (" + text + ")") + " to " + what + " at " + host;
        if (status == 401) {
            msg += ": the token is not valid here: check its value (TINYBIRD_TOKEN or --token), and the region (--host / --region)";
        } else if (status == 403) {
            msg += ": the token was refused: check that it exists in this workspace, that it has the scope "
                    + scopeHint + ", and the region (--host / --region)";
        } else if (status == 404 && text.toLowerCase(Locale.ROOT).contains("region")) {
            msg += ": the token belongs to another region: point --host (or --region) at the host named above";
        } else if (status == 404 && what.startsWith("GET /v0/pipes") || status == 404 && what.startsWith("POST /v0/pipes")) {
            msg += " (is the pipe published as an API Endpoint in this workspace and region?)";
        }
        return new TinybirdApiException(status, text, msg, retryAfterMillis);
    }

    /** The wait an answer asks for, in ms: Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (seconds); null when none. */
    static Long serverWait(HttpResponse<?> r) {
        return serverWait(h -> r.headers().firstValue(h).orElse(null));
    }

    /** serverWait of an answer whose headers are looked up by name (null when absent). */
    static Long serverWait(java.util.function.Function<String, String> header) {
        String ra = header.apply("Retry-After");
        Long ms = ra != null ? parseRetryAfter(ra) : null;
        if (ms == null) {
            String reset = header.apply("X-RateLimit-Reset");
            if (reset != null) {
                try {
                    ms = (long) (Double.parseDouble(reset.strip()) * 1000);
                } catch (NumberFormatException ignored) {
                    // no usable hint
                }
            }
        }
        return ms;
    }

    static Long parseRetryAfter(String v) {
        String t = v.strip();
        try {
            return (long) (Double.parseDouble(t) * 1000);
        } catch (NumberFormatException notSeconds) {
            try {
                ZonedDateTime when = ZonedDateTime.parse(t, DateTimeFormatter.RFC_1123_DATE_TIME);
                return Math.max(0, Duration.between(Instant.now(), when.toInstant()).toMillis());
            } catch (java.time.format.DateTimeParseException bad) {
                return null;
            }
        }
    }
}
