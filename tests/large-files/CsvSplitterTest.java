import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * large-files/csv-splitter.java on adversarial inputs. Every split is checked against an independent CSV parser
 * (a plain character state machine, not the splitter's word-at-a-time scan): every part under the cap (except a
 * record that alone is bigger, which gets a part of its own), every part parses as CSV and starts with the same
 * header, parts are as full as the cap allows, and the parts without their repeated headers, concatenated, equal
 * the input byte for byte. The scan's chunk size is made tiny in most tests so records straddle chunk edges.
 */
class CsvSplitterTest {
    static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    static final int DEFAULT_CHUNK = SplitScan.chunkSize;

    @TempDir Path dir;

    @AfterEach
    void restoreChunk() {
        SplitScan.chunkSize = DEFAULT_CHUNK;
    }

    // ------------------------------------------------------------------ running the command in-process

    record Result(int rc, String out, String err) {}

    static Result exec(InputStream stdin, String... args) {
        CsvSplitter cmd = new CsvSplitter();
        if (stdin != null) cmd.stdin = stdin;
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    static Result exec(String... args) {
        return exec(null, args);
    }

    /** The part files in a folder, in part order (names sort by their zero-padded numbers). */
    static List<Path> parts(Path folder, String glob) throws IOException {
        List<Path> l = new ArrayList<>();
        try (var ds = Files.newDirectoryStream(folder, glob)) {
            for (Path p : ds) l.add(p);
        }
        l.sort(null);
        return l;
    }

    static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ------------------------------------------------------------------ the oracle: a strict RFC 4180 parser

    /** Splits bytes into records (each with its line end); fails on malformed quoting or an unclosed quote. */
    static List<byte[]> records(byte[] b, int from) {
        List<byte[]> out = new ArrayList<>();
        int start = from, i = from;
        int state = 0; // 0 field start, 1 unquoted, 2 quoted, 3 quote in quoted (closing or first of a pair)
        while (i < b.length) {
            byte c = b[i];
            switch (state) {
                case 0, 1 -> {
                    if (c == '"') {
                        assertEquals(0, state, "quote inside an unquoted field at byte " + i);
                        state = 2;
                    } else if (c == '\n') {
                        out.add(Arrays.copyOfRange(b, start, i + 1));
                        start = i + 1;
                        state = 0;
                    } else state = c == ',' ? 0 : 1;
                }
                case 2 -> { if (c == '"') state = 3; }
                case 3 -> {
                    if (c == '"') state = 2;
                    else if (c == ',') state = 0;
                    else if (c == '\n') {
                        out.add(Arrays.copyOfRange(b, start, i + 1));
                        start = i + 1;
                        state = 0;
                    } else if (c == '\r' && i + 1 < b.length && b[i + 1] == '\n') state = 1;
                    else fail("text after a closing quote at byte " + i);
                }
                default -> throw new IllegalStateException();
            }
            i++;
        }
        assertNotEquals(2, state, "unclosed quote at the end");
        if (start < b.length) out.add(Arrays.copyOfRange(b, start, b.length));
        return out;
    }

    static boolean hasBom(byte[] b) {
        return b.length >= 3 && b[0] == BOM[0] && b[1] == BOM[1] && b[2] == BOM[2];
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    /**
     * Checks a CSV split: prefixes, byte-exact reassembly, parsing, the cap and its fullness.
     * cap < 0: no size check. Returns the number of oversized parts (one record alone over the cap).
     */
    static int verify(byte[] input, List<Path> partFiles, long cap, boolean header, boolean bomEach) throws IOException {
        boolean bom = hasBom(input);
        int off = bom ? 3 : 0;
        List<byte[]> inRecords = records(input, off);
        byte[] head = header && !inRecords.isEmpty() ? inRecords.get(0) : new byte[0];
        byte[] prefix = concat(bom && bomEach ? BOM : new byte[0], head);
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        List<List<byte[]>> partRecords = new ArrayList<>();
        int oversized = 0;
        for (int i = 0; i < partFiles.size(); i++) {
            byte[] p = Files.readAllBytes(partFiles.get(i));
            String name = partFiles.get(i).getFileName().toString();
            byte[] body;
            if (i == 0) {
                body = p;
                assertEquals(bom, hasBom(p), name + ": the first part keeps the input's BOM");
            } else {
                assertTrue(p.length >= prefix.length && Arrays.equals(p, 0, prefix.length, prefix, 0, prefix.length),
                        name + " starts with the " + (bom && bomEach ? "BOM and " : "") + "header");
                body = Arrays.copyOfRange(p, prefix.length, p.length);
                if (!bomEach) assertFalse(hasBom(p), name + ": no BOM without --bom-each");
            }
            joined.writeBytes(body);
            List<byte[]> recs = records(p, hasBom(p) ? 3 : 0);
            if (header) assertArrayEquals(head, recs.get(0), name + ": same header");
            List<byte[]> data = header ? recs.subList(1, recs.size()) : recs;
            if (!(i == 0 && data.isEmpty())) assertFalse(data.isEmpty(), name + ": a part holds at least one record");
            partRecords.add(data);
            if (cap >= 0 && p.length > cap) {
                assertEquals(1, data.size(), name + " is " + p.length + " bytes, over the cap " + cap + ", with " + data.size() + " records");
                oversized++;
            }
        }
        assertArrayEquals(input, joined.toByteArray(), "the parts without their repeated headers equal the input");
        if (cap >= 0) { // as full as the cap allows: the next part's first record would not have fitted
            for (int i = 0; i + 1 < partFiles.size(); i++) {
                long size = Files.size(partFiles.get(i));
                long next = partRecords.get(i + 1).get(0).length;
                assertTrue(size + next > cap, partFiles.get(i).getFileName() + " (" + size + " B) had room for the next record (" + next + " B)");
            }
        }
        return oversized;
    }

    // ------------------------------------------------------------------ adversarial inputs

    /** A deterministic CSV: mixed quoting, doubled quotes, ~30 % records with newlines inside quotes. */
    static byte[] csv(long seed, int rows, boolean crlf, boolean bom, boolean trailingNewline, int multilinePercent) {
        SplittableRandom r = new SplittableRandom(seed);
        String nl = crlf ? "\r\n" : "\n";
        StringBuilder sb = new StringBuilder();
        sb.append("id,name,\"note, quoted\",price").append(nl);
        for (int i = 1; i <= rows; i++) {
            sb.append(i).append(',');
            switch (r.nextInt(4)) {
                case 0 -> sb.append("plain").append(r.nextInt(1000));
                case 1 -> sb.append("\"with, comma\"");
                case 2 -> sb.append("\"say \"\"hi\"\"\"");
                default -> sb.append("");
            }
            sb.append(',');
            if (r.nextInt(100) < multilinePercent) {
                sb.append('"').append("line one").append(nl).append("line \"\"two\"\"");
                if (r.nextBoolean()) sb.append("\n\n,\"\"");
                sb.append('"');
            } else {
                sb.append("x".repeat(r.nextInt(40)));
            }
            sb.append(',').append(r.nextInt(100000) / 100.0);
            if (i < rows || trailingNewline) sb.append(nl);
        }
        byte[] body = sb.toString().getBytes(StandardCharsets.UTF_8);
        return bom ? concat(BOM, body) : body;
    }

    Path write(String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    // ------------------------------------------------------------------ the tests

    @Test
    void adversarialInputsUnderManyCapsAndChunkSizes() throws IOException {
        int[] chunks = {8, 16, 24, 64, 1 << 20};
        int run = 0, file = 0;
        for (boolean crlf : new boolean[] {false, true})
            for (boolean bom : new boolean[] {false, true})
                for (boolean trailing : new boolean[] {true, false}) {
                    byte[] input = csv(++file, 300, crlf, bom, trailing, 30);
                    Path in = write("in" + file + ".csv", input);
                    for (long cap : new long[] {200, 1000, 4096, 1_000_000}) {
                        SplitScan.chunkSize = chunks[run % chunks.length];
                        Path out = dir.resolve("out" + run);
                        Result r = exec("-q", in.toString(), "--max-size", String.valueOf(cap), "-o", out.toString());
                        assertEquals(0, r.rc, r.err);
                        List<Path> parts = parts(out, "in" + file + "_*.csv");
                        assertFalse(parts.isEmpty());
                        String what = "crlf=" + crlf + " bom=" + bom + " trailing=" + trailing + " cap=" + cap;
                        int oversized = verify(input, parts, cap, true, false);
                        assertEquals(cap == 200 ? oversized > 0 : false, r.err.contains("warning"), what + ": " + r.err);
                        if (cap == 1_000_000) assertEquals(1, parts.size(), what);
                        assertTrue(r.err.contains("split: 300 rows"), r.err);
                        run++;
                    }
                }
    }

    @Test
    void recordsCrossingChunkEdgesAtEveryOffset() throws IOException {
        // one record longer than a chunk, quotes and newlines at every position mod 8
        byte[] input = ("h1,h2\n" + "1,\"a\nb\"\"c\n\"\n" + "2," + "\"" + "q\n".repeat(40) + "\"\n" + "3,\"\"\"\"\n4,x\n")
                .getBytes(StandardCharsets.UTF_8);
        for (int chunk = 8; chunk <= 48; chunk += 8) {
            for (long cap : new long[] {20, 40, 100, 1000}) {
                SplitScan.chunkSize = chunk;
                Path in = write("edge.csv", input);
                Path out = dir.resolve("edge_" + chunk + "_" + cap);
                Result r = exec("-q", in.toString(), "--max-size", cap + "B", "-o", out.toString());
                assertEquals(0, r.rc, r.err);
                verify(input, parts(out, "edge_*.csv"), cap, true, false);
            }
        }
    }

    @Test
    void theCapCountsHeaderAndBomAndIsHard() throws IOException {
        byte[] input = csv(1, 5000, false, true, true, 30);
        Path in = write("cap.csv", input);
        Result r = exec("-q", in.toString(), "--max-size", "10KiB", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "cap_*.csv");
        assertTrue(parts.size() > 10);
        for (Path p : parts) assertTrue(Files.size(p) <= 10 * 1024, p + " is " + Files.size(p));
        assertEquals(0, verify(input, parts, 10 * 1024, true, false));
        assertTrue(hasBom(Files.readAllBytes(parts.get(0))));
        assertFalse(hasBom(Files.readAllBytes(parts.get(1))));
    }

    @Test
    void bomEachPutsTheBomInEveryPart() throws IOException {
        byte[] input = csv(2, 500, true, true, true, 30);
        Path in = write("bom.csv", input);
        Result r = exec("-q", in.toString(), "--max-size", "4000", "--bom-each", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "bom_*.csv");
        assertTrue(parts.size() > 3);
        for (Path p : parts) {
            assertTrue(hasBom(Files.readAllBytes(p)), p.toString());
            assertTrue(Files.size(p) <= 4000);
        }
        verify(input, parts, 4000, true, true);
    }

    @Test
    void aRecordLargerThanTheCapGetsAPartOfItsOwnAndAWarning() throws IOException {
        String big = "\"" + "long text, with\nnewlines ".repeat(100) + "\"";
        byte[] input = ("id,text\n1,a\n2,b\n3," + big + "\n4,c\n5,d\n").getBytes(StandardCharsets.UTF_8);
        SplitScan.chunkSize = 64;
        Path in = write("big.csv", input);
        Result r = exec("-q", in.toString(), "--max-size", "30", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "big_*.csv");
        assertEquals(List.of("big_1.csv", "big_2.csv", "big_3.csv"), parts.stream().map(p -> p.getFileName().toString()).toList());
        assertEquals("id,text\n1,a\n2,b\n", Files.readString(parts.get(0)));
        assertEquals("id,text\n3," + big + "\n", Files.readString(parts.get(1)));
        assertEquals("id,text\n4,c\n5,d\n", Files.readString(parts.get(2)));
        assertEquals(1, verify(input, parts, 30, true, false));
        assertTrue(r.err.contains("warning: " + in + ": record 3 is") && r.err.contains("part 2 of its own"), r.err);
        assertTrue(r.err.contains("(1 warning)"), r.err);
    }

    @Test
    void aCapSmallerThanTheHeaderIsRefusedAndWritesNothing() throws IOException {
        Path in = write("h.csv", "a_long_header,another_column\n1,2\n".getBytes(StandardCharsets.UTF_8));
        Path out = dir.resolve("o");
        Result r = exec("-q", in.toString(), "--max-size", "10", "-o", out.toString());
        assertEquals(2, r.rc);
        assertEquals("csv-splitter: " + in + ": --max-size 10 B is smaller than the header (29 bytes with its line end)\n", r.err);
        assertEquals(List.of(), names(out), "no parts and no temporary folder left");
    }

    @Test
    void emptyFileGivesNoPartsAndSaysSo() throws IOException {
        Path in = write("empty.csv", new byte[0]);
        Result r = exec("-q", in.toString(), "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        assertTrue(r.err.contains("warning: " + in + ": empty input, no parts written"), r.err);
        assertTrue(r.err.contains("split: 0 rows") && r.err.contains("0 parts"), r.err);
        assertEquals(List.of(), names(dir.resolve("o")));
    }

    @Test
    void headerOnlyFileGivesOnePartEqualToIt() throws IOException {
        for (String content : List.of("a,b,c\n", "a,b,c", "\uFEFFa,\"b\nb\",c\r\n")) {
            Path out = dir.resolve("o" + content.length());
            Path in = write("ho.csv", content.getBytes(StandardCharsets.UTF_8));
            Result r = exec("-q", in.toString(), "--max-size", "100", "-o", out.toString());
            assertEquals(0, r.rc, r.err);
            assertEquals(List.of("ho_1.csv"), names(out));
            assertEquals(content, Files.readString(out.resolve("ho_1.csv")));
        }
    }

    @Test
    void noTrailingNewlineAndCrlfAreKeptVerbatim() throws IOException {
        byte[] input = "a,b\r\n1,\"x\r\ny\"\r\n2,2\r\n3,3".getBytes(StandardCharsets.UTF_8);
        Path in = write("t.csv", input);
        Result r = exec("-q", in.toString(), "--max-size", "16", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "t_*.csv");
        assertEquals("a,b\r\n1,\"x\r\ny\"\r\n", Files.readString(parts.get(0)));
        assertEquals("a,b\r\n2,2\r\n3,3", Files.readString(parts.get(1)));
        verify(input, parts, 16, true, false);
    }

    @Test
    void rowsPerPart() throws IOException {
        byte[] input = csv(3, 1003, false, false, true, 30);
        SplitScan.chunkSize = 256;
        Path in = write("rows.csv", input);
        Result r = exec("-q", in.toString(), "--rows", "100", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "rows_*.csv");
        assertEquals(11, parts.size());
        assertEquals("rows_01.csv", parts.get(0).getFileName().toString(), "zero-padded to the same width");
        verify(input, parts, -1, true, false);
        for (int i = 0; i < parts.size(); i++)
            assertEquals(i < 10 ? 101 : 4, records(Files.readAllBytes(parts.get(i)), 0).size(), parts.get(i).toString());
    }

    @Test
    void partsOfAboutEqualSize() throws IOException {
        byte[] input = csv(4, 3000, false, false, true, 30);
        Path in = write("even.csv", input);
        Result r = exec("-q", in.toString(), "--parts", "4", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "even_*.csv");
        assertEquals(4, parts.size());
        verify(input, parts, -1, true, false);
        for (Path p : parts) {
            long size = Files.size(p);
            assertTrue(Math.abs(size - input.length / 4.0) < input.length * 0.02, p + ": " + size + " of " + input.length);
        }
    }

    @Test
    void ndjsonSplitsOnLinesWithoutHeader() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 500; i++) sb.append("{\"id\":").append(i).append(",\"s\":\"a \\\"quoted\\\" \\n text\"}\n");
        byte[] input = sb.toString().getBytes(StandardCharsets.UTF_8);
        SplitScan.chunkSize = 128;
        Path in = write("events.ndjson", input);
        Result r = exec("-q", in.toString(), "--max-size", "2000", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(dir.resolve("o"), "events_*.ndjson");
        assertTrue(parts.size() > 5);
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        for (Path p : parts) {
            byte[] b = Files.readAllBytes(p);
            assertTrue(b.length <= 2000);
            String s = new String(b, StandardCharsets.UTF_8);
            assertTrue(s.startsWith("{\"id\":") && s.endsWith("}\n"), p.toString());
            joined.writeBytes(b);
        }
        assertArrayEquals(input, joined.toByteArray());
    }

    /** A quote inside an unquoted field (5'10") is text, as for commons-csv and csv-to-ndjson: no cut inside a quoted field. */
    @Test
    void aQuoteInsideAnUnquotedFieldIsText() throws IOException {
        String head = "id,h,note\n";
        String[] recs = {"1,5'10\",a\n", "2,\"x\ny\",b\n", "3,z,c\n", "4,6'1\",d\n", "5;\"\",\"q\"\"\"\"\",e\n", "6,a\"\"b,\"\n\"\n"};
        byte[] input = (head + String.join("", recs)).getBytes(StandardCharsets.UTF_8);
        for (int chunk : new int[] {8, 16, 24, 512 << 10}) {
            SplitScan.chunkSize = chunk;
            Path out = dir.resolve("o" + chunk);
            Result r = exec("-q", write("q.csv", input).toString(), "--rows", "1", "-o", out.toString(), "--force");
            assertEquals(0, r.rc, r.err);
            List<Path> parts = parts(out, "q_*.csv");
            assertEquals(recs.length, parts.size(), "chunk " + chunk + ": " + names(out));
            for (int i = 0; i < recs.length; i++) assertEquals(head + recs[i], Files.readString(parts.get(i)), "chunk " + chunk + ", part " + (i + 1));
        }
    }

    @Test
    void noHeaderRepeatsNothing() throws IOException {
        byte[] input = "1,\"a\nb\"\n2,b\n3,c\n4,d\n".getBytes(StandardCharsets.UTF_8);
        Path in = write("nh.csv", input);
        Result r = exec("-q", in.toString(), "--no-header", "--rows", "2", "-o", dir.resolve("o").toString());
        assertEquals(0, r.rc, r.err);
        assertEquals("1,\"a\nb\"\n2,b\n", Files.readString(dir.resolve("o/nh_1.csv")));
        assertEquals("3,c\n4,d\n", Files.readString(dir.resolve("o/nh_2.csv")));
        assertTrue(r.err.contains("split: 4 rows"), r.err);
    }

    @Test
    void standardInput() throws IOException {
        byte[] input = csv(5, 400, false, false, true, 30);
        Path out = dir.resolve("o");
        Result r = exec(new ByteArrayInputStream(input), "-q", "-", "--max-size", "3000", "-o", out.toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(out, "stdin_*.csv");
        assertTrue(parts.size() > 3);
        verify(input, parts, 3000, true, false);
        assertEquals(parts.size(), names(out).size(), "only the parts remain (no spool file)");
    }

    /** NDJSON on stdin: its first event must not become a "header" repeated at the top of every part. */
    @Test
    void ndjsonOnStandardInputSplitsOnLinesWithoutHeader() throws IOException {
        StringBuilder sb = new StringBuilder("\n  ");
        for (int i = 1; i <= 300; i++) sb.append("{\"id\":").append(i).append(",\"s\":\"a \\\"q\\\" , x\"}\n");
        byte[] input = sb.toString().getBytes(StandardCharsets.UTF_8);
        SplitScan.chunkSize = 128;
        Path out = dir.resolve("o");
        Result r = exec(new ByteArrayInputStream(input), "-q", "-", "--max-size", "2000", "-o", out.toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(out, "stdin_*.ndjson");
        assertTrue(parts.size() >= 4, names(out).toString());
        assertEquals(parts.size(), names(out).size(), "only NDJSON parts: " + names(out));
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        for (int i = 0; i < parts.size(); i++) {
            byte[] b = Files.readAllBytes(parts.get(i));
            assertTrue(b.length <= 2000, parts.get(i) + " is " + b.length + " bytes");
            String s = new String(b, StandardCharsets.UTF_8);
            if (i > 0) assertFalse(s.startsWith("{\"id\":1,"), parts.get(i) + " repeats the first event");
            assertTrue(s.endsWith("}\n"), parts.get(i) + ": a line is never cut");
            joined.writeBytes(b);
        }
        assertArrayEquals(input, joined.toByteArray(), "the parts concatenate to the input byte for byte");

        // --format still decides: CSV on request, the first line is then the header of every part
        Path csvOut = dir.resolve("c");
        r = exec(new ByteArrayInputStream(input), "-q", "-", "--rows", "100", "--format", "csv", "-o", csvOut.toString());
        assertEquals(0, r.rc, r.err);
        assertEquals(List.of("stdin_1.csv", "stdin_2.csv", "stdin_3.csv"), names(csvOut));

        // CSV on stdin keeps its header in every part
        byte[] csv = "\uFEFFid,name\n1,a\n2,b\n".getBytes(StandardCharsets.UTF_8);
        Path csvOut2 = dir.resolve("c2");
        r = exec(new ByteArrayInputStream(csv), "-q", "-", "--rows", "1", "-o", csvOut2.toString());
        assertEquals(0, r.rc, r.err);
        assertEquals("id,name\n2,b\n", Files.readString(csvOut2.resolve("stdin_2.csv")));
    }

    /** Splits a shell command line into words (single quotes only, as the hint writes them). */
    static List<String> shellWords(String cmd) {
        List<String> words = new ArrayList<>();
        StringBuilder w = null;
        for (int i = 0; i < cmd.length(); i++) {
            char c = cmd.charAt(i);
            if (c == '\'') {
                if (w == null) w = new StringBuilder();
                int end = cmd.indexOf('\'', i + 1);
                w.append(cmd, i + 1, end);
                i = end;
            } else if (c == '\\') {
                if (w == null) w = new StringBuilder();
                w.append(cmd.charAt(++i));
            } else if (c == ' ') {
                if (w != null) words.add(w.toString());
                w = null;
            } else {
                if (w == null) w = new StringBuilder();
                w.append(c);
            }
        }
        if (w != null) words.add(w.toString());
        return words;
    }

    /** The hint for gzip input is a command that works: run, it gives the parts the plain file gives. */
    @Test
    void theGzipHintIsACommandThatGivesTheSameParts() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 200; i++) sb.append("{\"id\":").append(i).append(",\"note\":\"it's\"}\n");
        byte[] input = sb.toString().getBytes(StandardCharsets.UTF_8);
        Path data = Files.createDirectories(dir.resolve("my data"));
        Path gz = data.resolve("events.ndjson.gz");
        try (var o = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            o.write(input);
        }
        Result r = exec(gz.toString(), "--max-size", "1500");
        assertEquals(1, r.rc);
        assertEquals(1, r.err.lines().count(), r.err);
        String prefix = "csv-splitter: " + gz + ": looks gzip-compressed; decompress it on the way in: ";
        assertTrue(r.err.startsWith(prefix), r.err);
        String command = r.err.substring(prefix.length()).strip();
        String[] pipeline = command.split(" \\| ");
        assertEquals(2, pipeline.length, command);

        // the left side, through a shell, gives the input back
        Process p = new ProcessBuilder("bash", "-c", pipeline[0]).redirectErrorStream(false).start();
        byte[] decompressed = p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor(), new String(p.getErrorStream().readAllBytes()));
        assertArrayEquals(input, decompressed);

        // the right side, in-process, on that stdin
        List<String> words = shellWords(pipeline[1]);
        assertEquals("csv-splitter.java", words.get(0), command);
        r = exec(new ByteArrayInputStream(decompressed), words.subList(1, words.size()).toArray(String[]::new));
        assertEquals(0, r.rc, r.err);

        // the same parts as the plain file split with the same options
        Path plain = Files.createDirectories(dir.resolve("plain")).resolve("events.ndjson");
        Files.write(plain, input);
        assertEquals(0, exec("-q", plain.toString(), "--max-size", "1500").rc);
        List<Path> expected = parts(plain.getParent(), "events_*.ndjson");
        List<Path> got = parts(data, "events_*.ndjson");
        assertTrue(expected.size() > 2);
        assertEquals(expected.stream().map(x -> x.getFileName().toString()).toList(), got.stream().map(x -> x.getFileName().toString()).toList());
        for (int i = 0; i < expected.size(); i++) assertArrayEquals(Files.readAllBytes(expected.get(i)), Files.readAllBytes(got.get(i)));
    }

    @Test
    void gzipPartsDecompressToTheSplit() throws Exception {
        byte[] input = csv(6, 800, false, false, true, 30);
        Path in = write("z.csv", input);
        Path manifest = dir.resolve("gz.json");
        Result r = exec("-q", in.toString(), "--max-size", "5000", "--gzip", "-o", dir.resolve("gz").toString(), "--manifest", manifest.toString());
        assertEquals(0, r.rc, r.err);
        r = exec("-q", in.toString(), "--max-size", "5000", "-o", dir.resolve("plain").toString());
        assertEquals(0, r.rc, r.err);
        List<Path> gz = parts(dir.resolve("gz"), "z_*.csv.gz"), plain = parts(dir.resolve("plain"), "z_*.csv");
        assertEquals(plain.size(), gz.size());
        for (int i = 0; i < gz.size(); i++) {
            try (InputStream s = new GZIPInputStream(Files.newInputStream(gz.get(i)))) {
                assertArrayEquals(Files.readAllBytes(plain.get(i)), s.readAllBytes());
            }
            assertTrue(Files.size(gz.get(i)) < Files.size(plain.get(i)));
        }
        // the manifest describes the .gz files as written
        Matcher m = Pattern.compile("\"file\": \"([^\"]+)\".*?\"bytes\": (\\d+), \"sha256\": \"([0-9a-f]{64})\"").matcher(Files.readString(manifest));
        for (Path p : gz) {
            assertTrue(m.find());
            assertEquals(p.getFileName().toString(), m.group(1));
            assertEquals(Files.size(p), Long.parseLong(m.group(2)));
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))), m.group(3));
        }
        assertFalse(m.find());
        assertEquals(gz.size(), names(dir.resolve("gz")).size(), "no raw parts left");
    }

    @Test
    void manifestDescribesEveryPart() throws Exception {
        byte[] input = csv(7, 600, false, false, true, 30);
        Path in = write("m.csv", input);
        Path out = dir.resolve("o"), manifest = dir.resolve("meta/m.json");
        Result r = exec("-q", in.toString(), "--max-size", "8000", "-o", out.toString(), "--manifest", manifest.toString());
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(out, "m_*.csv");
        String json = Files.readString(manifest);
        Matcher m = Pattern.compile("\\{\"input\": \"([^\"]*)\", \"file\": \"([^\"]*)\", \"path\": \"([^\"]*)\", \"part\": (\\d+), "
                + "\"first_record\": (\\d+), \"last_record\": (\\d+), \"rows\": (\\d+), \"bytes\": (\\d+), \"sha256\": \"([0-9a-f]{64})\"\\}").matcher(json);
        long expectFirst = 1;
        int n = 0;
        while (m.find()) {
            Path p = parts.get(n);
            assertEquals(in.toString(), m.group(1));
            assertEquals(p.getFileName().toString(), m.group(2));
            assertEquals(p.toString(), m.group(3));
            assertEquals(n + 1, Integer.parseInt(m.group(4)));
            long first = Long.parseLong(m.group(5)), last = Long.parseLong(m.group(6)), rows = Long.parseLong(m.group(7));
            assertEquals(expectFirst, first);
            assertEquals(rows, last - first + 1);
            assertEquals(rows, records(Files.readAllBytes(p), 0).size() - 1, "rows = records without the header");
            assertEquals(Files.size(p), Long.parseLong(m.group(8)));
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))), m.group(9));
            expectFirst = last + 1;
            n++;
        }
        assertEquals(parts.size(), n, json);
        assertEquals(601, expectFirst);
        assertEquals(List.of("m.json"), names(manifest.getParent()), "no temporary file left");
        Path ordinary = Files.writeString(dir.resolve("ordinary"), "");
        assertEquals(Files.getPosixFilePermissions(ordinary), Files.getPosixFilePermissions(manifest), "an ordinary file, not a private temp file");
        assertTrue(n > 3);
    }

    @Test
    void unclosedQuoteNamesTheLineAndLeavesNothing() throws IOException {
        byte[] input = "a,b\n1,2\n2,\"fine\nstill fine\"\n3,\"never closed\n4,4\n5,5\n".getBytes(StandardCharsets.UTF_8);
        SplitScan.chunkSize = 8;
        Path in = write("bad.csv", input);
        Path out = dir.resolve("o");
        Result r = exec("-q", in.toString(), "--max-size", "30", "-o", out.toString());
        assertEquals(1, r.rc);
        assertEquals("csv-splitter: " + in + ": unclosed quote: record 3, starting on line 5, runs to the end of the file; no parts written\n", r.err);
        assertEquals(List.of(), names(out), "no parts and no temporary folder left");
    }

    @Test
    void aFullDiskIsOneLineNamingThePartAndLeavesNothing() throws Exception {
        byte[] input = csv(11, 20_000, false, false, true, 30); // about 1 MB
        Path in = write("big.csv", input);
        try (FullDisk disk = FullDisk.mount("256k")) {
            String expected = "csv-splitter: cannot write part [0-9]+ of " + Pattern.quote(in.toString()) + " in "
                    + Pattern.quote(disk.dir.toString()) + ": No space left on device; no parts written\n";
            for (String extra : new String[] {"--force", "--gzip", "--manifest=" + dir.resolve("m.json")}) {
                Result r = exec("-q", in.toString(), "--max-size", "100KB", "-o", disk.dir.toString(), extra);
                assertEquals(1, r.rc, r.err);
                assertTrue(r.err.matches(expected), extra + ": " + r.err);
                assertEquals(List.of(), names(disk.dir), extra + ": no parts, no temporary folder");
            }
            assertFalse(Files.exists(dir.resolve("m.json")), "no manifest either");
            Result r = exec(new ByteArrayInputStream(input), "-q", "-", "-o", disk.dir.toString());
            assertEquals(1, r.rc, r.err);
            assertEquals("csv-splitter: cannot copy stdin into " + disk.dir + " (it is read twice): No space left on device; no parts written\n", r.err);
            assertEquals(List.of(), names(disk.dir));
        }
        // the manifest does not fit: the parts (which did) are not moved into place either
        Path out = dir.resolve("o");
        try (FullDisk disk = FullDisk.mount("64k")) {
            disk.fill();
            Path manifest = disk.dir.resolve("m.json");
            Result r = exec("-q", in.toString(), "--max-size", "100KB", "-o", out.toString(), "--manifest", manifest.toString());
            assertEquals(1, r.rc, r.err);
            assertEquals("csv-splitter: cannot write " + manifest + ": No space left on device; no parts written\n", r.err);
            assertEquals(List.of(), names(out), "no parts without their manifest");
            assertEquals(List.of(".filler"), names(disk.dir));
        }
    }

    @Test
    void aLongHeaderIsCopiedNotHeldInMemory() throws Exception {
        // a 24 MB header line, split in a JVM with 16 MB of heap
        StringBuilder sb = new StringBuilder("c0");
        for (int i = 1; sb.length() < 24_000_000; i++) sb.append(",a_rather_long_column_name_").append(i);
        sb.append('\n');
        for (int i = 1; i <= 5; i++) sb.append("row ").append(i).append('\n');
        byte[] input = sb.toString().getBytes(StandardCharsets.UTF_8);
        Path in = write("wide.csv", input);
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        TestServices.Run run = TestServices.run(dir, Duration.ofMinutes(3), List.of(javaBin, "-Xmx16m", "-cp", System.getProperty("java.class.path"),
                "CsvSplitter", "-q", in.toString(), "--rows", "2", "-o", "parts"));
        assertEquals(0, run.exitCode(), run.stderr());
        List<Path> parts = parts(dir.resolve("parts"), "wide_*.csv");
        assertEquals(3, parts.size());
        verify(input, parts, -1, true, false);
    }

    @Test
    void existingPartsAreNotOverwrittenWithoutForce() throws IOException {
        byte[] input = csv(8, 100, false, false, true, 30);
        Path in = write("f.csv", input);
        Path out = dir.resolve("o");
        Files.createDirectories(out);
        Files.writeString(out.resolve("f_1.csv"), "precious");
        Result r = exec("-q", in.toString(), "--max-size", "2000", "-o", out.toString());
        assertEquals(1, r.rc);
        assertEquals("csv-splitter: already exists: " + out.resolve("f_1.csv") + " (use --force to overwrite)\n", r.err);
        assertEquals(List.of("f_1.csv"), names(out));
        assertEquals("precious", Files.readString(out.resolve("f_1.csv")));

        Files.writeString(out.resolve("f_99.csv"), "stale");
        r = exec("-q", in.toString(), "--max-size", "2000", "-o", out.toString(), "--force");
        assertEquals(0, r.rc, r.err);
        List<Path> parts = parts(out, "f_?.csv");
        verify(input, parts, 2000, true, false);
        assertTrue(r.err.contains("older part file(s) remain from an earlier run, e.g. " + out.resolve("f_99.csv")), r.err);
    }

    @Test
    void unwritableOutputFolderIsOneClearLine() throws IOException {
        Path in = write("w.csv", "a\n1\n".getBytes(StandardCharsets.UTF_8));
        Path file = write("not-a-folder", new byte[] {1});
        Result r = exec("-q", in.toString(), "-o", file.toString());
        assertEquals(1, r.rc);
        assertEquals("csv-splitter: output folder " + file + " is not a folder\n", r.err);
        r = exec("-q", in.toString(), "-o", file.resolve("sub").toString());
        assertEquals(1, r.rc);
        assertTrue(r.err.startsWith("csv-splitter: cannot write to output folder " + file.resolve("sub") + ": "), r.err);
        assertEquals(1, r.err.lines().count(), r.err);
        assertEquals("a\n1\n", Files.readString(in));
    }

    @Test
    void userMistakes() throws IOException {
        Path in = write("u.csv", "a\n1\n".getBytes(StandardCharsets.UTF_8));
        Result r = exec(dir.resolve("missing.csv").toString());
        assertEquals(1, r.rc);
        assertEquals("csv-splitter: no such file or folder: " + dir.resolve("missing.csv") + "\n", r.err);
        assertEquals(2, exec(in.toString(), "--rows", "5", "--parts", "2").rc, "--rows and --parts exclude each other");
        r = exec(in.toString(), "--max-size", "lots");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("not a size: 'lots'"), r.err);
        r = exec(in.toString(), "--name", "part.csv");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("'--name': must contain {n}"), r.err);
        r = exec(in.toString(), "--rows", "0");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("'--rows': expected a whole number of at least 1, got '0'"), r.err);
        r = exec(in.toString(), "--format", "xml");
        assertEquals(2, r.rc);
        assertTrue(r.err.contains("'--format': expected one of [csv, ndjson, jsonl, auto]") && r.err.contains("'xml'"), r.err);
        Path gz = write("g.csv", new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0});
        r = exec("-q", gz.toString(), "-o", dir.resolve("g").toString());
        assertEquals(1, r.rc);
        assertTrue(r.err.contains("looks gzip-compressed"), r.err);
    }

    @Test
    void nameTemplateAndDefaultFolderNextToTheInput() throws IOException {
        byte[] input = csv(9, 50, false, false, true, 30);
        Path sub = Files.createDirectories(dir.resolve("data"));
        Path in = sub.resolve("orders.csv");
        Files.write(in, input);
        Result r = exec("-q", in.toString(), "--parts", "2", "--name", "chunk-{n}-of-{base}.{ext}");
        assertEquals(0, r.rc, r.err);
        assertEquals(List.of("chunk-1-of-orders.csv", "chunk-2-of-orders.csv", "orders.csv"), names(sub));
        verify(input, parts(sub, "chunk-*.csv"), -1, true, false);
    }

    @Test
    void runsAsAScriptThroughJbang() throws IOException {
        byte[] input = csv(10, 200, false, false, true, 30);
        Path in = write("s.csv", input);
        Path script = TestServices.repoRoot().resolve("large-files/csv-splitter.java");
        TestServices.Run run = TestServices.jbang(dir, Duration.ofMinutes(3), script.toString(), "s.csv", "--max-size", "3KB", "-o", "parts");
        assertEquals(0, run.exitCode(), run.stderr());
        List<Path> parts = parts(dir.resolve("parts"), "s_*.csv");
        verify(input, parts, 3000, true, false);
        assertTrue(run.stderr().contains("split: 200 rows"), run.stderr());
        assertEquals("", run.stdout());
    }
}
