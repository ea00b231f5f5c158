import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.Test;

/**
 * lib/CsvCore.java against commons-csv on generated documents: quotes, doubled quotes, CR/LF/CRLF inside quotes and as
 * line ends, empty fields, an empty last field, blank lines, a BOM, the delimiters , ; TAB |, ragged rows, non-ASCII
 * text, an unclosed quote at the end, text after a closing quote. For each document the core's records (the Parser,
 * fed a few bytes at a time and whole) equal commons-csv's, or both reject it; the splitter's record ends (the SWAR
 * scan, over chunks of random sizes) are where the records end. The core strips a leading BOM, so the oracle gets the
 * document without it. The scan is checked on the documents it is for (see quoteAfterAnotherDelimiter). Not generated: blanks between a closing quote and the delimiter, which commons-csv skips and
 * the core refuses (a quote inside a quoted field must be doubled). Seeded: a failure names the seed that repeats it.
 */
class CsvCoreTest {
    static final int DOCUMENTS = 12_000;
    static final byte[] DELIMITERS = {',', ';', '\t', '|'};

    record Doc(long seed, String text, byte delim, boolean bom) {
        byte[] bytes() {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            if (!bom) return b;
            byte[] out = new byte[b.length + 3];
            System.arraycopy(CsvCore.BOM, 0, out, 0, 3);
            System.arraycopy(b, 0, out, 3, b.length);
            return out;
        }

        String shown() {
            return "seed " + seed + ", delimiter '" + (delim == '\t' ? "\\t" : String.valueOf((char) delim)) + "'" + (bom ? ", BOM" : "")
                    + ", document: " + text.replace("\r", "\\r").replace("\n", "\\n\n");
        }
    }

    static Doc generate(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte delim = DELIMITERS[r.nextInt(DELIMITERS.length)];
        String[] ends = {"\n", "\r\n", "\r"};
        String docEnd = ends[r.nextInt(3)];
        boolean mixedEnds = r.nextInt(5) == 0;
        StringBuilder sb = new StringBuilder();
        int records = r.nextInt(8);
        int width = 1 + r.nextInt(5);
        for (int rec = 0; rec < records; rec++) {
            if (r.nextInt(12) == 0) sb.append(mixedEnds ? ends[r.nextInt(3)] : docEnd); // a blank line
            int fields = r.nextInt(6) == 0 ? 1 + r.nextInt(6) : width; // ragged rows now and then
            for (int f = 0; f < fields; f++) {
                if (f > 0) sb.append((char) delim);
                sb.append(field(r, delim));
            }
            boolean last = rec == records - 1;
            if (!last || r.nextBoolean()) sb.append(mixedEnds ? ends[r.nextInt(3)] : docEnd);
        }
        switch (r.nextInt(25)) {
            case 0 -> sb.append((char) delim).append("\"unclosed ").append(r.nextBoolean() ? "\n" : "").append("at the end");
            case 1 -> sb.append((char) delim).append("\"closed\"then text").append(docEnd);
            case 2 -> sb.append((char) delim).append("\"");
            default -> { }
        }
        return new Doc(seed, sb.toString(), delim, r.nextInt(5) == 0);
    }

    static String field(SplittableRandom r, byte delim) {
        // ¢ Ê ¬ » end in a byte that is " LF , ; with bit 7 set: the scan's byte masks must not take them for those
        String[] plain = {"a", "plain", "42", "-1.5", "café", "€ 3", "x y", "it's", "a\"b", "5'10\"", "a\"\"b", "#", "\u00a0nb",
                "¢ 5", "Ê", "1¬\"", "»\"x", "Ê\"¢\""};
        switch (r.nextInt(8)) {
            case 0, 1:
                return "";
            case 2, 3, 4:
                return plain[r.nextInt(plain.length)];
            default:
                StringBuilder q = new StringBuilder("\"");
                int parts = r.nextInt(4);
                for (int i = 0; i < parts; i++) {
                    switch (r.nextInt(8)) {
                        case 0 -> q.append("\"\"");
                        case 1 -> q.append((char) delim);
                        case 2 -> q.append('\n');
                        case 3 -> q.append("\r\n");
                        case 4 -> q.append('\r');
                        case 5 -> q.append(',').append(';').append('\t').append('|');
                        default -> q.append(plain[r.nextInt(plain.length)]);
                    }
                }
                return q.append('"').toString();
        }
    }

    /** commons-csv's records, or null when it rejects the document. */
    static List<List<String>> oracle(Doc d) {
        CSVFormat f = CSVFormat.RFC4180.builder().setDelimiter((char) d.delim()).setIgnoreEmptyLines(true).get();
        List<List<String>> out = new ArrayList<>();
        try (var p = f.parse(new java.io.StringReader(d.text()))) {
            for (CSVRecord rec : p) out.add(rec.toList());
            return out;
        } catch (IOException | UncheckedIOException e) {
            return null;
        }
    }

    /** A stream that hands out 1 to 7 bytes a read, so records cross the parser's buffer ends. */
    static InputStream trickle(byte[] b, int from, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        return new ByteArrayInputStream(b, from, b.length - from) {
            @Override
            public synchronized int read(byte[] dst, int off, int len) {
                return super.read(dst, off, Math.min(len, 1 + r.nextInt(7)));
            }
        };
    }

    /** The core's records and where each ends in the document, or null when it rejects the document. */
    record Parsed(List<List<String>> records, List<Long> ends) {}

    static Parsed core(CsvCore.Parser p, int offset) throws IOException {
        List<List<String>> out = new ArrayList<>();
        List<Long> ends = new ArrayList<>();
        try {
            while (p.next()) {
                List<String> rec = new ArrayList<>();
                for (int i = 0; i < p.n; i++) rec.add(p.text(i));
                out.add(rec);
                ends.add(p.base + p.recEnd + offset);
            }
            return new Parsed(out, ends);
        } catch (Cli.Failure rejected) {
            return null;
        }
    }

    @Test
    void theCoreAndCommonsCsvAgreeOnEveryGeneratedDocument() throws IOException {
        long base = Long.getLong("csvcore.seed", 20_2612L);
        int accepted = 0, rejected = 0, scanned = 0;
        for (int k = 0; k < DOCUMENTS; k++) {
            long seed = base + k;
            Doc d = generate(seed);
            byte[] b = d.bytes();
            int bom = CsvCore.bomLength(b, b.length);
            assertEquals(d.bom() ? 3 : 0, bom, d.shown());
            List<List<String>> expected = oracle(d);
            Parsed streamed = core(new CsvCore.Parser(trickle(b, bom, seed), "doc", d.delim(), false), bom);
            byte[] body = Arrays.copyOfRange(b, bom, b.length);
            Parsed whole = core(new CsvCore.Parser(body, body.length, "doc", d.delim(), true), bom);
            if (expected == null) {
                assertNull(streamed, "commons-csv rejects, the core accepts: " + d.shown());
                assertNull(whole, "commons-csv rejects, the core (whole) accepts: " + d.shown());
                rejected++;
                continue;
            }
            assertNotNull(streamed, "the core rejects, commons-csv accepts: " + d.shown());
            assertEquals(expected, streamed.records(), d.shown());
            assertNotNull(whole, "the core (whole) rejects: " + d.shown());
            assertEquals(expected, whole.records(), d.shown());
            assertEquals(streamed.ends(), whole.ends(), d.shown());
            accepted++;
            if (!d.text().replace("\r\n", "").contains("\r") && !quoteAfterAnotherDelimiter(d)) {
                checkRecordEnds(d, b, bom, streamed.ends(), new SplittableRandom(seed));
                scanned++;
            }
        }
        assertTrue(accepted > DOCUMENTS / 2 && rejected > DOCUMENTS / 50, accepted + " accepted, " + rejected + " rejected");
        assertTrue(scanned > DOCUMENTS / 4, scanned + " documents scanned for record ends");
    }

    /**
     * The scan knows no delimiter: a quote after any of , ; TAB | may open a quoted field. It is checked where that
     * holds: no quote after one of the three that are not the document's delimiter. It ends records at line feeds only.
     */
    static boolean quoteAfterAnotherDelimiter(Doc d) {
        for (byte o : DELIMITERS) if (o != d.delim() && d.text().contains((char) o + "\"")) return true;
        return false;
    }

    /** The SWAR scan, over chunks of random sizes, finds exactly the record ends (and those of blank lines). */
    static void checkRecordEnds(Doc d, byte[] b, int bom, List<Long> coreEnds, SplittableRandom r) {
        List<Long> found = new ArrayList<>();
        CsvCore.ScanState state = new CsvCore.ScanState();
        for (int pos = 0; pos < b.length; ) {
            int n = Math.min(b.length - pos, 1 + r.nextInt(40));
            ByteBuffer buf = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
            buf.put(b, pos, n);
            CsvCore.scanRecordEnds(buf, Math.min(n, Math.max(0, bom - pos)), n, pos, state, found::add);
            pos += n;
        }
        assertFalse(state.insideQuotes(), "no quote open at the end of an accepted document: " + d.shown());
        Set<Long> core = new HashSet<>(coreEnds);
        Set<Long> swar = new HashSet<>(found);
        for (long e : coreEnds) {
            if (e == b.length && b[b.length - 1] != '\n') continue; // the last record without a line end: the splitter's end of file
            assertTrue(swar.contains(e), "the scan misses the record end at " + e + ": " + d.shown());
        }
        long prev = bom;
        for (long e : found) {
            String between = new String(b, (int) prev, (int) (e - prev), StandardCharsets.UTF_8);
            assertTrue(core.contains(e) || between.equals("\n") || between.equals("\r\n"),
                    "the scan ends a record at " + e + " where none ends: " + d.shown());
            prev = e;
        }
    }
}
