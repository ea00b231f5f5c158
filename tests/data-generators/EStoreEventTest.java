import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The event's one definition (data-generators/EStoreEvent.java): the hand encoder escapes every string it is given,
 * for JSON and for PostgreSQL's COPY; and adding a field is one line that reaches the NDJSON and the table.
 */
class EStoreEventTest {
    @TempDir Path tmp;

    /** Strings a text() field may return: quotes, backslashes, every control character, non-ASCII, broken surrogates. */
    static List<String> hostile() {
        StringBuilder controls = new StringBuilder();
        for (char c = 0; c < 0x20; c++) controls.append(c);
        controls.append('\u007f');
        return List.of("plain", "", "\"quoted\" and \\backslash\\ \\\" \\u0041", controls.toString(), "tab\tnew\nline\rcr",
                "é ß 漢字 😀 \u2028\u2029", "lone high \uD800 here", "lone low \uDC00 here", "high at the end \uD83D",
                "low then high \uDE00\uD83D", "NUL\u0000inside", "</script>{\"a\":1}\n{");
    }

    /** What survives: a lone surrogate is not text in UTF-8, so it becomes U+FFFD. */
    static String expected(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                sb.append(c).append(s.charAt(++i));
            } else {
                sb.append(Character.isSurrogate(c) ? '\uFFFD' : c);
            }
        }
        return sb.toString();
    }

    @Test
    void theJsonEncoderEscapesEveryStringItIsGiven() throws Exception {
        for (String s : hostile()) {
            EStoreEvent.ByteBuf b = new EStoreEvent.ByteBuf(16);
            b.ascii("{\"v\":\"");
            EStoreEvent.escapeJson(b, s);
            b.ascii("\"}");
            byte[] bytes = java.util.Arrays.copyOf(b.a, b.len);
            // valid UTF-8 (a strict decoder throws on anything else) and one JSON object with the value as given
            StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes));
            JsonNode n = Json.MAPPER.readTree(bytes);
            assertEquals(expected(s), n.get("v").asText(), "for " + Cli.jsonString(s));
            for (byte x : bytes) assertTrue(x < 0 || x >= 0x20, "no raw control byte in " + Cli.jsonString(s));
        }
    }

    @Test
    void theCopyEncoderEscapesEveryStringItIsGivenAndPostgresReadsItBack() throws Exception {
        Pg.Target db = TestServices.newDatabase();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE t (i int, v text)");
            EStoreEvent.ByteBuf b = new EStoreEvent.ByteBuf(16);
            List<String> in = hostile();
            for (int i = 0; i < in.size(); i++) {
                b.digits(i);
                b.put((byte) '\t');
                EStoreEvent.escapeCopy(b, in.get(i));
                b.put((byte) '\n');
            }
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn("COPY t (i, v) FROM STDIN",
                    new java.io.ByteArrayInputStream(b.a, 0, b.len));
            try (ResultSet rs = st.executeQuery("SELECT i, v FROM t ORDER BY i")) {
                int n = 0;
                while (rs.next()) {
                    String want = expected(in.get(rs.getInt(1))).replace('\u0000', '\uFFFD'); // PostgreSQL text holds no NUL
                    assertEquals(want, rs.getString(2), "row " + rs.getInt(1));
                    n++;
                }
                assertEquals(in.size(), n);
            }
        }
    }

    /** The edit data-generators/README.md shows: one line in the definition. */
    static final String SESSION_ID = "        text(\"session_id\", e -> \"session_\" + e.customer % 1000),";

    @Test
    @Timeout(600)
    void addingASessionIdIsOneLineAndReachesTheJsonAndThePostgresTable() throws Exception {
        Path root = TestServices.repoRoot();
        // the README shows exactly the line this test adds
        String readme = Files.readString(root.resolve("data-generators/README.md"));
        assertTrue(readme.contains(SESSION_ID.strip()), "README shows the edit: " + SESSION_ID.strip());

        Path demo = tmp.resolve("demo");
        RepoTest.copyTree(root.resolve("lib"), demo.resolve("lib"));
        RepoTest.copyTree(root.resolve("data-generators"), demo.resolve("data-generators"));
        Path def = demo.resolve("data-generators/EStoreEvent.java");
        List<String> lines = new ArrayList<>(Files.readAllLines(def));
        int at = -1;
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).strip().startsWith("cents(\"price\"")) at = i;
        assertTrue(at > 0, "the definition has the price line to add after");
        lines.add(at + 1, SESSION_ID);
        Files.write(def, lines);

        Pg.Target db = TestServices.newDatabase();
        try (Connection c = Pg.connect(db); Statement st = c.createStatement()) {
            // a table made before the field was added: the column is added to it
            st.execute("CREATE TABLE events (event_id uuid, customer_id text, product_id text, action text, price numeric(10,2),"
                    + " timestamp timestamptz)");
        }
        TestServices.Run r = TestServices.jbang(demo, Duration.ofMinutes(5), "data-generators/e-store.java", "--count", "200", "--seed", "4",
                "--pg-events", "--url", db.libpqUri(), "--db-update-interval", "1h");
        assertEquals(0, r.exitCode(), r.stderr());
        List<String> out = r.stdout().lines().toList();
        assertEquals(200, out.size(), r.stdout());
        for (String l : out) {
            JsonNode j = Json.MAPPER.readTree(l);
            assertEquals("session_" + Integer.parseInt(j.get("customer_id").asText().substring("customer_".length())) % 1000,
                    j.path("session_id").asText(), l);
        }
        try (Connection c = Pg.connect(db); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT count(*), count(session_id), count(*) FILTER (WHERE session_id = 'session_'"
                        + " || (substr(customer_id, 10)::int % 1000)) FROM events")) {
            assertTrue(rs.next());
            assertEquals(200, rs.getLong(1), "every event copied");
            assertEquals(200, rs.getLong(2), "with the new column filled");
            assertEquals(200, rs.getLong(3), "with the value the definition makes");
        }
    }
}
