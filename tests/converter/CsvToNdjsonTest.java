import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** converter/csv-to-ndjson.java: every type rule, dialect case and error, on real files and real bytes. */
class CsvToNdjsonTest {
    @TempDir Path dir;

    record Result(int rc, String out, String err, List<JsonNode> rows) {
        JsonNode row(int i) {
            return rows.get(i);
        }
    }

    /** Runs the command in-process on the bytes as a file, output to a file; parses every output line as JSON. */
    Result convert(byte[] csv, String... args) throws IOException {
        Path in = dir.resolve("in-" + System.nanoTime() + ".csv");
        Files.write(in, csv);
        Path out = dir.resolve("out-" + System.nanoTime() + ".ndjson");
        List<String> a = new ArrayList<>(List.of(args));
        a.add(0, in.toString());
        a.add("-o");
        a.add(out.toString());
        Result r = exec(null, a.toArray(String[]::new));
        String text = Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
        return new Result(r.rc, text, r.err, parse(text));
    }

    Result convert(String csv, String... args) throws IOException {
        return convert(csv.getBytes(StandardCharsets.UTF_8), args);
    }

    /** In-process run; stdin and stdout are byte streams. */
    static Result exec(byte[] stdin, String... args) throws IOException {
        CsvToNdjson cmd = new CsvToNdjson();
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        cmd.stdoutOverride = stdout;
        StringWriter out = new StringWriter(), err = new StringWriter();
        if (stdin != null) CsvToNdjson.STDIN_OVERRIDE.set(new ByteArrayInputStream(stdin));
        int rc;
        try {
            rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        } finally {
            CsvToNdjson.STDIN_OVERRIDE.remove();
        }
        String data = stdout.toString(StandardCharsets.UTF_8);
        return new Result(rc, data.isEmpty() ? out.toString() : data, err.toString(), parse(data));
    }

    static List<JsonNode> parse(String ndjson) throws IOException {
        List<JsonNode> rows = new ArrayList<>();
        for (String line : ndjson.split("\n", -1)) {
            if (line.isEmpty()) continue;
            rows.add(Json.MAPPER.readTree(line)); // every line parses as JSON, or the test fails here
        }
        return rows;
    }

    static void ok(Result r) {
        assertEquals(0, r.rc, "exit code; stderr: " + r.err);
    }

    static void fails(Result r, String... fragments) {
        assertEquals(1, r.rc, "should fail; stderr: " + r.err);
        assertEquals(1, r.err.strip().lines().count(), "one line: " + r.err);
        assertFalse(r.err.contains("\tat "), "no stack trace: " + r.err);
        for (String f : fragments) assertTrue(r.err.contains(f), "'" + f + "' in: " + r.err);
    }

    // ------------------------------------------------------------------ types

    @Test
    void typesPerColumnAndKeysInHeaderOrder() throws IOException {
        Result r = convert("""
                id,name,price,active,note,when
                1,Ann,3.5,true,,2024-01-02 03:04:05
                2,Bob,4,FALSE,hi,2024-01-02T03:04:05Z
                -3,Zoë,-0.25,True,,2024-01-02 03:04:05.123
                """);
        ok(r);
        assertEquals(3, r.rows.size(), "the first data row is kept");
        JsonNode a = r.row(0);
        assertEquals(List.of("id", "name", "price", "active", "note", "when"), fieldNames(a));
        assertEquals(JsonNodeType.NUMBER, a.get("id").getNodeType());
        assertTrue(a.get("id").isIntegralNumber());
        assertEquals(1, a.get("id").asLong());
        assertEquals(3.5, a.get("price").asDouble());
        assertTrue(r.row(1).get("price").isNumber(), "4 in a float column is a number");
        assertTrue(a.get("active").isBoolean());
        assertFalse(r.row(1).get("active").asBoolean());
        assertTrue(r.row(2).get("active").asBoolean());
        assertTrue(a.get("note").isNull(), "an empty cell is null");
        assertEquals("hi", r.row(1).get("note").asText());
        assertEquals("2024-01-02 03:04:05", a.get("when").asText(), "timestamps keep their text");
        assertEquals("2024-01-02T03:04:05Z", r.row(1).get("when").asText());
        assertEquals(-3, r.row(2).get("id").asLong());
        // the output's exact bytes: numbers verbatim, UTF-8 not \\u escapes
        assertTrue(r.out.contains("\"name\":\"Zoë\""), r.out);
        assertTrue(r.out.startsWith("{\"id\":1,\"name\":\"Ann\",\"price\":3.5,\"active\":true,\"note\":null,"), r.out);
    }

    @Test
    void oneTypePerColumnNeverPerValue() throws IOException {
        Result r = convert("a,b,c\n1,1,true\n2,2.5,false\nx,3,yes\n");
        ok(r);
        assertEquals("1", r.row(0).get("a").asText());
        assertTrue(r.row(0).get("a").isTextual(), "a column with one string is all strings");
        assertTrue(r.row(0).get("b").isNumber() && r.row(1).get("b").isNumber());
        assertTrue(r.row(0).get("c").isTextual() && r.row(2).get("c").isTextual(), "yes is not a boolean unless asked");
    }

    @Test
    void valuesAreNeverCorrupted() throws IOException {
        Result r = convert("""
                hex,hex2,zip,eu,big,min,max,over,exp,lead,plus,nan
                6164739959125e55,0x1F,01234,"3,50",99999999999999999999,-9223372036854775808,9223372036854775807,9223372036854775808,1.5e3,00.5,+5,NaN
                6164739959125e56,0x20,00001,"4,75",123,0,1,2,2.5,1,6,1.0
                """);
        ok(r);
        JsonNode a = r.row(0);
        for (String col : List.of("hex", "hex2", "zip", "eu", "big", "over", "lead", "plus", "nan")) {
            assertTrue(a.get(col).isTextual(), col + " stays a string: " + a.get(col));
        }
        assertEquals("6164739959125e55", a.get("hex").asText());
        assertEquals("0x1F", a.get("hex2").asText());
        assertEquals("01234", a.get("zip").asText());
        assertEquals("3,50", a.get("eu").asText());
        assertEquals("99999999999999999999", a.get("big").asText(), "past 64 bits: exact, as a string");
        assertEquals("9223372036854775808", a.get("over").asText());
        assertEquals(Long.MIN_VALUE, a.get("min").asLong());
        assertTrue(a.get("min").isIntegralNumber());
        assertEquals(Long.MAX_VALUE, a.get("max").asLong());
        assertTrue(a.get("exp").isNumber(), "1.5e3 is a float");
        assertTrue(r.out.contains("\"exp\":1.5e3"), "numbers are copied verbatim: " + r.out);
    }

    @Test
    void typesComeFromTheWholeInputNotJustTheSample() throws IOException {
        StringBuilder sb = new StringBuilder("n,x,late\n");
        for (int i = 0; i < 5000; i++) sb.append(i).append(',').append(i % 7).append(",\n");
        sb.append("5000,oops,42\n");
        // a 200-byte sample sees only numbers in x and nothing in late
        Result r = convert(sb.toString(), "--sample", "200");
        ok(r);
        assertEquals(5001, r.rows.size());
        for (JsonNode row : r.rows) assertTrue(row.get("x").isTextual(), "x has a string at the end: all strings");
        assertEquals("0", r.row(0).get("x").asText());
        assertTrue(r.row(5000).get("late").isIntegralNumber(), "a column empty in the sample gets its type from the rest");
        assertEquals(42, r.row(5000).get("late").asInt());
        assertTrue(r.row(0).get("n").isIntegralNumber());

        // --stream cannot go back: an error that names the line and the column, never a wrong value
        Result s = convert(sb.toString(), "--sample", "200", "--stream");
        fails(s, "line 5002", "column 'x'", "--types 'x:string'");
    }

    @Test
    void emptyCells() throws IOException {
        String csv = "a,b,c\n1,,x\n,2,\n";
        Result n = convert(csv);
        ok(n);
        assertTrue(n.row(0).get("b").isNull() && n.row(1).get("a").isNull());
        assertTrue(n.row(1).get("b").isIntegralNumber());
        Result s = convert(csv, "--empty", "string");
        ok(s);
        assertEquals("", s.row(0).get("b").asText());
        assertEquals("2", s.row(1).get("b").asText(), "with --empty string a column with empties is a string column");
        Result o = convert(csv, "--empty", "omit");
        ok(o);
        assertEquals(List.of("a", "c"), fieldNames(o.row(0)));
        assertEquals(List.of("b"), fieldNames(o.row(1)));
        assertEquals("{\"b\":2}", o.out.lines().toList().get(1), "no stray comma when the first key is omitted");
        assertEquals(2, convert(csv, "--empty", "bogus").rc);
    }

    @Test
    void overrides() throws IOException {
        String csv = "id,flag,code,yn\n1,1,10,yes\n2,0,20,NO\n";
        Result all = convert(csv, "--all-strings");
        ok(all);
        assertEquals("1", all.row(0).get("id").asText());
        assertTrue(all.row(0).get("id").isTextual());
        Result d = convert(csv);
        assertTrue(d.row(0).get("flag").isIntegralNumber(), "1/0 are integers unless asked");
        assertTrue(d.row(0).get("yn").isTextual());
        Result b = convert(csv, "--booleans", "yes/no,1/0");
        ok(b);
        assertTrue(b.row(0).get("flag").asBoolean() && b.row(0).get("flag").isBoolean());
        assertFalse(b.row(1).get("yn").asBoolean());
        assertTrue(b.row(1).get("yn").isBoolean());
        assertTrue(b.row(0).get("code").isIntegralNumber());
        Result t = convert(csv, "--types", "code:string,id:float");
        ok(t);
        assertEquals("10", t.row(0).get("code").asText());
        assertTrue(t.row(0).get("code").isTextual());
        assertTrue(t.row(0).get("id").isNumber());
        fails(convert("a\n1\nx\n", "--types", "a:integer"), "line 3", "column 'a'", "'x' is not an integer");
        assertEquals(2, convert(csv, "--types", "nosuch:string").rc);
        assertEquals(2, convert(csv, "--types", "code:date").rc);
    }

    // ------------------------------------------------------------------ dialect

    @Test
    void quotedFieldsMultiLineAndEscapes() throws IOException {
        Result r = convert("id,text,n\r\n1,\"say \"\"hi\"\", then\r\nleave\",5\r\n2,\"a\\b\ttab\",6\r\n3,\"\",7\r\n");
        ok(r);
        assertEquals(3, r.rows.size());
        assertEquals("say \"hi\", then\r\nleave", r.row(0).get("text").asText());
        assertEquals(5, r.row(0).get("n").asInt(), "CRLF line ends are not part of the values");
        assertEquals("a\\b\ttab", r.row(1).get("text").asText());
        assertTrue(r.row(2).get("text").isNull(), "a quoted empty cell is empty");
        assertEquals(7, r.row(2).get("n").asInt());
    }

    @Test
    void delimiterIsDetectedOrGiven() throws IOException {
        for (String d : List.of(",", ";", "\t", "|")) {
            Result r = convert("a" + d + "b" + d + "c\n1" + d + "\"x" + d + "y\"" + d + "3.5\n2" + d + "z" + d + "4\n");
            ok(r);
            assertEquals(List.of("a", "b", "c"), fieldNames(r.row(0)), "delimiter " + d);
            assertEquals("x" + d + "y", r.row(0).get("b").asText());
            assertEquals(3.5, r.row(0).get("c").asDouble());
        }
        Result eu = convert("price;qty\n3,50;1\n4,75;2\n");
        ok(eu);
        assertEquals("3,50", eu.row(0).get("price").asText(), "3,50 never becomes 350 or 3.5");
        Result given = convert("a,b|c\n1,2|3\n", "--delimiter", "|");
        ok(given);
        assertEquals("1,2", given.row(0).get("a,b").asText());
        Result tab = convert("a\tb\n1\t2\n", "-d", "tab");
        assertEquals(2, tab.row(0).get("b").asInt());
        assertEquals(2, convert("a\n1\n", "-d", "ab").rc);
    }

    @Test
    void bomIsStrippedAndOtherEncodingsAreTranscoded() throws IOException {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        byte[] body = "city,n\nZürich,1\n".getBytes(StandardCharsets.UTF_8);
        byte[] withBom = new byte[bom.length + body.length];
        System.arraycopy(bom, 0, withBom, 0, 3);
        System.arraycopy(body, 0, withBom, 3, body.length);
        Result r = convert(withBom);
        ok(r);
        assertEquals(List.of("city", "n"), fieldNames(r.row(0)), "the BOM is not part of the first name");
        assertEquals("Zürich", r.row(0).get("city").asText());

        Result latin = convert("city,n\nMünchen,1\nCórdoba,2\n".getBytes(StandardCharsets.ISO_8859_1), "--encoding", "ISO-8859-1");
        ok(latin);
        assertEquals("München", latin.row(0).get("city").asText());
        assertTrue(latin.out.contains("Córdoba"), "written as UTF-8");
        Result win = convert("name,price\n“Quote” – €,1\n".getBytes(Charset.forName("windows-1252")), "--encoding", "windows-1252");
        ok(win);
        assertEquals("“Quote” – €", win.row(0).get("name").asText());
        assertEquals(2, convert("a\n1\n", "--encoding", "klingon").rc);
    }

    @Test
    void headers() throws IOException {
        Result nh = convert("1,x\n2,y\n", "--no-header");
        ok(nh);
        assertEquals(2, nh.rows.size());
        assertEquals(List.of("column_1", "column_2"), fieldNames(nh.row(0)));
        assertEquals(1, nh.row(0).get("column_1").asInt());
        Result cols = convert("1,x\n2,y\n", "--columns", "id,name");
        ok(cols);
        assertEquals(2, cols.rows.size());
        assertEquals("x", cols.row(0).get("name").asText());
        Result rep = convert("a,b\n1,x\n", "--columns", "id,name", "--replace-header");
        ok(rep);
        assertEquals(1, rep.rows.size());
        assertEquals(1, rep.row(0).get("id").asInt());
        Result keep = convert("\"Weird \"\"key\"\"\",Ünï cödé, spaced \n1,2,3\n");
        ok(keep);
        assertEquals(List.of("Weird \"key\"", "Ünï cödé", " spaced "), fieldNames(keep.row(0)), "keys keep the header's text");

        fails(convert("a,b,a\n1,2,3\n"), "duplicate column name 'a'", "columns 1 and 3", "--dedupe-headers");
        Result dd = convert("a,b,a,a\n1,2,3,4\n", "--dedupe-headers");
        ok(dd);
        assertEquals(List.of("a", "b", "a_2", "a_3"), fieldNames(dd.row(0)));
    }

    @Test
    void raggedRows() throws IOException {
        String csv = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n";
        fails(convert(csv), "line 3 (record 2)", "2 fields, expected 3", "--allow-ragged");
        Result r = convert(csv, "--allow-ragged");
        ok(r);
        assertEquals(3, r.rows.size());
        assertTrue(r.row(1).get("c").isNull(), "short rows are padded with empty cells");
        assertEquals(List.of("a", "b", "c"), fieldNames(r.row(2)), "long rows are truncated");
        assertTrue(r.err.contains("2 ragged rows"), r.err);
    }

    @Test
    void blankLinesAndMissingFinalNewline() throws IOException {
        Result r = convert("a,b\n\n1,2\n\n3,4");
        ok(r);
        assertEquals(2, r.rows.size());
        assertEquals(4, r.row(1).get("b").asInt());
        Result cr = convert("a,b\r1,2\r3,4\r");
        ok(cr);
        assertEquals(2, cr.rows.size(), "old Mac line ends");
    }

    @Test
    void recordsSpanningBufferBoundariesAndFallbackAcrossChunks() throws IOException {
        // about 6 MB: several 1 MiB read chunks, multi-line quoted fields everywhere, a late string forcing a second pass
        StringBuilder sb = new StringBuilder("id,text,v,w\n");
        int n = 60_000;
        for (int i = 0; i < n; i++) {
            sb.append(i).append(",\"line ").append(i).append("\nsecond, \"\"q\"\" ").append("x".repeat(i % 50)).append("\",")
                    .append(i * 0.5).append(',').append(i == n - 1 ? "late" : String.valueOf(i)).append('\n');
        }
        Result r = convert(sb.toString(), "--verbose");
        ok(r);
        assertEquals(n, r.rows.size());
        assertTrue(r.err.matches("(?s).*; [1-9][0-9]* of [0-9]+ chunks read one record at a time.*"),
                "some cuts fell inside quotes and were caught: " + r.err);
        for (int i = 0; i < n; i += 997) {
            JsonNode row = r.row(i);
            assertEquals(i, row.get("id").asInt());
            assertEquals("line " + i + "\nsecond, \"q\" " + "x".repeat(i % 50), row.get("text").asText());
            assertEquals(i * 0.5, row.get("v").asDouble());
            assertTrue(row.get("w").isTextual(), "w is a string column because of its last value");
        }
        assertEquals("late", r.row(n - 1).get("w").asText());
    }

    @Test
    void aLongFieldConvertsInTheScriptsOwnHeap() throws Exception {
        // 24 MB in one quoted field, with "" pairs, line breaks, control characters and UTF-8 (up to 6 output bytes an
        // input byte), run with the script's own JVM options (its small -Xmx)
        String csvUnit = "ab\"\"c\n\u0001\u00e9,", jsonUnit = "ab\\\"c\\n\\u0001\u00e9,";
        int n = 24_000_000 / csvUnit.getBytes(StandardCharsets.UTF_8).length;
        Path in = dir.resolve("long.csv"), out = dir.resolve("long.ndjson");
        Files.writeString(in, "id,blob,n\n1,\"" + csvUnit.repeat(n) + "\",5\n2,y,6\n");
        List<String> opts = new ArrayList<>();
        for (String l : Files.readAllLines(TestServices.repoRoot().resolve("converter/csv-to-ndjson.java"))) {
            if (l.startsWith("//JAVA_OPTIONS ")) opts.addAll(List.of(l.substring(15).trim().split("\\s+")));
        }
        assertTrue(opts.stream().anyMatch(o -> o.startsWith("-Xmx")), "the script sets its heap: " + opts);
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        cmd.addAll(opts);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "CsvToNdjson", "-q", in.toString(), "-o", out.toString()));
        TestServices.Run run = TestServices.run(dir, Duration.ofMinutes(3), cmd);
        assertEquals(0, run.exitCode(), run.stderr());
        String expected = "{\"id\":1,\"blob\":\"" + jsonUnit.repeat(n) + "\",\"n\":5}\n{\"id\":2,\"blob\":\"y\",\"n\":6}\n";
        String got = Files.readString(out, StandardCharsets.UTF_8);
        assertEquals(expected.length(), got.length());
        assertTrue(expected.equals(got), "the output, byte for byte");
    }

    @Test
    void aRecordOverMaxRecordIsOneLineNamingLineAndColumn() throws IOException {
        String big = "x".repeat(1_500_000);
        // in the middle of the input (parallel chunks, then one record at a time), in the sample, on stdin with --stream
        Result mid = convert("id,blob,n\n1,a,1\n2,\"" + big + "\",2\n3,c,3\n", "--max-record", "1MB");
        fails(mid, "line 3 (record 2), column 'blob': the record is longer than --max-record 1.0 MB (this field alone is ", "give a larger --max-record");
        assertEquals("", mid.out, "no output file");
        fails(convert("id,blob\n1,\"" + big + "\"\n", "--max-record", "1MB", "--sample", "4MB"), "line 2 (record 1), column 'blob': the record is longer than --max-record");
        fails(exec(("id,n,blob\n1,2," + big + "\n").getBytes(StandardCharsets.UTF_8), "--stream", "--max-record", "1MB"),
                "stdin: line 2 (record 1), column 'blob': the record is longer than --max-record");
        // raised, it converts
        Result raised = convert("id,blob,n\n1,a,1\n2,\"" + big + "\",2\n", "--max-record", "2MB");
        ok(raised);
        assertEquals(big, raised.row(1).get("blob").asText());
        assertEquals(2, exec(null, "--max-record", "10kB", "x.csv").rc, "below 1MB is a usage error");
    }

    @Test
    void longRecordsAreWrittenInPiecesWithTheSameBytes() throws IOException {
        // records over 1/6 MiB take the piecewise writer: every type, "" pairs across piece edges (even and odd), escapes
        String pairs = "\"\"".repeat(300_000), odd = "x" + pairs, mixed = "\u00e9\t\u0002\\ \"\"q\"\" \n".repeat(40_000);
        String fl = "0." + "1".repeat(900);
        String csv = "s,t,u,i,f,b,e\n"
                + "\"" + pairs + "\",\"" + odd + "\",\"" + mixed + "\",12,0.5,true,\n"
                + "short,x,y,-3," + fl + ",FALSE,\n";
        Result r = convert(csv);
        ok(r);
        assertEquals(2, r.rows.size());
        JsonNode a = r.row(0), b = r.row(1);
        assertEquals("\"".repeat(300_000), a.get("s").asText());
        assertEquals("x" + "\"".repeat(300_000), a.get("t").asText());
        assertEquals("\u00e9\t\u0002\\ \"q\" \n".repeat(40_000), a.get("u").asText());
        assertEquals(12, a.get("i").asLong());
        assertTrue(a.get("b").asBoolean());
        assertTrue(a.get("e").isNull());
        assertFalse(b.get("b").asBoolean());
        assertTrue(r.out.contains(",\"f\":" + fl + ","), "a float copied verbatim");
        assertTrue(r.out.startsWith("{\"s\":\"\\\"\\\""), r.out.substring(0, 20));
        assertTrue(r.out.contains("\\u0002"), "control characters as \\u escapes");
        // the same rows with --empty omit: no key for the empty cell
        Result omit = convert(csv, "--empty", "omit");
        ok(omit);
        assertFalse(omit.row(0).has("e"));
        assertEquals(r.row(0).get("u"), omit.row(0).get("u"));
    }

    // ------------------------------------------------------------------ errors

    @Test
    void unclosedQuoteNamesTheLineWhereTheRecordStarted() throws IOException {
        fails(convert("a,b\n1,2\n3,\"never\nclosed\n4,5\n"), "unclosed quote", "starts on line 3");
        fails(convert("a,b\n1,\"x\"y\n"), "line 2", "text after a closing quote");
    }

    @Test
    void invalidUtf8NamesTheOffsetAndSuggestsEncoding() throws IOException {
        byte[] csv = "city\nM\u00fcnchen\n".getBytes(StandardCharsets.ISO_8859_1); // ü as the single byte 0xFC
        fails(convert(csv), "invalid UTF-8 at byte offset 6", "--encoding");
    }

    @Test
    void emptyInputSaysSo() throws IOException {
        fails(convert(""), "empty");
        fails(convert("\n\n"), "empty");
        Result headerOnly = convert("a,b\n");
        ok(headerOnly);
        assertEquals("", headerOnly.out);
    }

    @Test
    void aFailureLeavesNoFileBehind() throws IOException {
        Path out = dir.resolve("result.ndjson");
        Path in = dir.resolve("bad.csv");
        StringBuilder sb = new StringBuilder("a,b\n");
        for (int i = 0; i < 200_000; i++) sb.append(i).append(",x\n");
        sb.append("1,2,3\n");
        Files.writeString(in, sb);
        Result r = exec(null, in.toString(), "-o", out.toString());
        fails(r, "line 200002", "3 fields, expected 2");
        assertFalse(Files.exists(out), "no half file");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("bad.csv"), s.map(p -> p.getFileName().toString()).toList(), "no temp file either");
        }
        // an existing output is not overwritten without --force, and survives a failure
        Files.writeString(out, "keep\n");
        fails(exec(null, in.toString(), "-o", out.toString()), "already exists");
        fails(exec(null, in.toString(), "-o", out.toString(), "--force"), "3 fields");
        assertEquals("keep\n", Files.readString(out));
    }

    @Test
    void aFullDiskIsOneLineNamingTheFileAndLeavesNoFile() throws Exception {
        StringBuilder sb = new StringBuilder("id,name\n");
        for (int i = 0; i < 50_000; i++) sb.append(i).append(",name ").append(i).append('\n'); // about 1.5 MB of NDJSON
        Path big = dir.resolve("big.csv"), small = dir.resolve("small.csv");
        Files.writeString(big, sb);
        Files.writeString(small, "a\n1\n");
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("big.ndjson");
            fails(exec(null, big.toString(), "-o", out.toString()), "cannot write " + out + ": No space left on device");
            assertEquals(List.of(), names(disk.dir), "no file under the final name, no temp file");
            fails(exec(null, big.toString(), "-o", out.toString(), "--stream"), "cannot write " + out + ": No space left on device");
            assertEquals(List.of(), names(disk.dir));
            fails(exec(null, small.toString(), big.toString(), "-o", out.toString()), "cannot write " + out + ": No space left on device");
            assertEquals(List.of(), names(disk.dir));
            // -o DIR: small.ndjson fits, big.ndjson does not: all of the run's files appear together, or none
            fails(exec(null, small.toString(), big.toString(), "-o", disk.dir + "/"),
                    "cannot write " + disk.dir.resolve("big.ndjson") + ": No space left on device");
            assertEquals(List.of(), names(disk.dir), "small.ndjson is not published without big.ndjson");
            // the schema goes with the data: nothing of either
            Path schema = disk.dir.resolve("big.datasource");
            fails(exec(null, big.toString(), "-o", out.toString(), "--schema", schema.toString()), "cannot write " + out);
            assertEquals(List.of(), names(disk.dir));
        }
        // with room, the same -o DIR run writes both
        Path room = dir.resolve("room");
        ok(exec(null, small.toString(), big.toString(), "-o", room + "/"));
        assertEquals(List.of("big.ndjson", "small.ndjson"), names(room));
    }

    @Test
    void ctrlCLeavesNoTempFileBehind() throws Exception {
        Path outDir = Files.createDirectories(dir.resolve("o")), tmp = Files.createDirectories(dir.resolve("tmp"));
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        // env --default-signal: a runner started in the background by a shell ignores SIGINT, and its children would too
        List<String> cmd = List.of("env", "--default-signal=INT", javaBin, "-Djava.io.tmpdir=" + tmp, "-cp", System.getProperty("java.class.path"),
                "CsvToNdjson", "-", "-o", outDir.resolve("x.ndjson").toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try (var stdin = p.getOutputStream()) {
            stdin.write("a,b\n1,2\n".getBytes(StandardCharsets.UTF_8));
            stdin.flush(); // and stdin stays open: the run waits for more
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (System.nanoTime() < deadline && (names(outDir).isEmpty() || names(tmp).isEmpty())) Thread.sleep(20);
            assertEquals(1, names(outDir).size(), "the output's temp file exists while stdin is read");
            assertEquals(1, names(tmp).size(), "so does the spool of stdin");
            assertEquals(0, new ProcessBuilder("sh", "-c", "kill -INT " + p.pid()).start().waitFor());
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "stopped by Ctrl-C");
        } finally {
            p.destroyForcibly();
        }
        assertEquals(List.of(), names(outDir), "no temp file and no output");
        assertEquals(List.of(), names(tmp), "no spool");
    }

    static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ------------------------------------------------------------------ inputs and outputs

    @Test
    void stdinToStdout() throws IOException {
        byte[] csv = "a,b\n1,x\n2,y\n".getBytes(StandardCharsets.UTF_8);
        Result r = exec(csv);
        ok(r);
        assertEquals("{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n", r.out);
        assertTrue(r.err.startsWith("converted: 2 rows"), "the summary line: " + r.err);
        Result dash = exec(csv, "-", "--stream");
        ok(dash);
        assertEquals(r.out, dash.out);
        // a fallback pass works on stdin too (it is spooled)
        StringBuilder sb = new StringBuilder("v\n");
        for (int i = 0; i < 3000; i++) sb.append(i).append('\n');
        sb.append("end\n");
        Result late = exec(sb.toString().getBytes(StandardCharsets.UTF_8), "--sample", "100");
        ok(late);
        assertEquals("\"0\"", late.rows.get(0).get("v").toString());
    }

    @Test
    void gzipInAndOutAndOneFilePerInputInADirectory() throws IOException {
        Path gz = dir.resolve("data.csv.gz");
        try (var os = new GZIPOutputStream(Files.newOutputStream(gz))) {
            os.write("a,b\n1,x\n".getBytes(StandardCharsets.UTF_8));
        }
        Path plain = dir.resolve("other.csv");
        Files.writeString(plain, "c\ntrue\n");
        Path outGz = dir.resolve("all.ndjson.gz");
        ok(exec(null, gz.toString(), plain.toString(), "-o", outGz.toString()));
        String all;
        try (var in = new GZIPInputStream(Files.newInputStream(outGz))) {
            all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertEquals("{\"a\":1,\"b\":\"x\"}\n{\"c\":true}\n", all);

        // each input has its own dialect and types
        Path semi = dir.resolve("semi.csv"), tab = dir.resolve("tab.csv");
        Files.writeString(semi, "a;b\n1;x\n");
        Files.writeString(tab, "c\td\n2.5\t\"y\nz\"\n");
        Result two = exec(null, semi.toString(), tab.toString());
        ok(two);
        assertEquals("{\"a\":1,\"b\":\"x\"}\n{\"c\":2.5,\"d\":\"y\\nz\"}\n", two.out);

        Path outDir = dir.resolve("out");
        Result r = exec(null, gz.toString(), plain.toString(), "-o", outDir + "/");
        ok(r);
        assertTrue(r.err.contains("from 2 files"), r.err);
        try (var in = new GZIPInputStream(Files.newInputStream(outDir.resolve("data.ndjson.gz")))) {
            assertEquals("{\"a\":1,\"b\":\"x\"}\n", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        assertEquals("{\"c\":true}\n", Files.readString(outDir.resolve("other.ndjson")));
        Path reference = Files.createFile(dir.resolve("reference"));
        assertEquals(Files.getPosixFilePermissions(reference), Files.getPosixFilePermissions(outDir.resolve("other.ndjson")),
                "written with the user's umask, like any file the user creates");
        Files.delete(reference);
        fails(exec(null, dir.resolve("missing.csv").toString()), "no such file", "missing.csv");
    }

    static List<String> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).map(p -> root.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void aFolderConvertsEachCsvBesideItAndABadFileDoesNotStopTheOthers() throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        Files.writeString(data.resolve("a.csv"), "id,name\n1,x\n2,y\n");
        try (var os = new GZIPOutputStream(Files.newOutputStream(data.resolve("b.csv.gz")))) {
            os.write("n\n1.5\n".getBytes(StandardCharsets.UTF_8));
        }
        Files.writeString(data.resolve("bad.csv"), "a,b\n1,2\n3,\"never\nclosed\n");
        Files.writeString(data.resolve("notes.txt"), "not,a csv\n");
        Files.writeString(Files.createDirectories(data.resolve("sub")).resolve("d.csv"), "d\ntrue\n");

        Result r = exec(null, data.toString());
        assertEquals(1, r.rc, "one bad file: exit 1; stderr: " + r.err);
        assertEquals("{\"id\":1,\"name\":\"x\"}\n{\"id\":2,\"name\":\"y\"}\n", Files.readString(data.resolve("a.ndjson")));
        try (var in = new GZIPInputStream(Files.newInputStream(data.resolve("b.ndjson.gz")))) {
            assertEquals("{\"n\":1.5}\n", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
        assertEquals(List.of("a.csv", "a.ndjson", "b.csv.gz", "b.ndjson.gz", "bad.csv", "notes.txt", "sub/d.csv"), tree(data),
                "no output for the bad file, none for subfolders without --recursive, no temp file");
        List<String> lines = r.err.lines().toList();
        assertEquals(4, lines.size(), r.err);
        assertTrue(lines.get(0).startsWith(data.resolve("a.csv") + " -> " + data.resolve("a.ndjson") + ": 2 rows"), r.err);
        assertTrue(lines.get(1).startsWith(data.resolve("b.csv.gz") + " -> " + data.resolve("b.ndjson.gz") + ": 1 rows"), r.err);
        assertEquals("csv-to-ndjson: " + data.resolve("bad.csv") + ": unclosed quote in the record that starts on line 3", lines.get(2));
        assertTrue(lines.get(3).startsWith("converted: 3 rows") && lines.get(3).contains(" from 2 files; 1 failed, not written"), r.err);

        // an existing output is an error unless --force, and nothing is converted
        Files.delete(data.resolve("bad.csv"));
        Files.writeString(data.resolve("a.ndjson"), "keep\n");
        fails(exec(null, data.toString()), "already exists: " + data.resolve("a.ndjson"), "--force");
        assertEquals("keep\n", Files.readString(data.resolve("a.ndjson")));
        Result forced = exec(null, data.toString(), "--force");
        ok(forced);
        assertTrue(forced.err.contains("converted: 3 rows") && forced.err.contains(" from 2 files"), forced.err);
        assertEquals("{\"id\":1,\"name\":\"x\"}\n{\"id\":2,\"name\":\"y\"}\n", Files.readString(data.resolve("a.ndjson")));

        // into -o DIR, subfolders too with --recursive
        Path out = dir.resolve("out");
        ok(exec(null, data.toString(), "--recursive", "-o", out + "/"));
        assertEquals(List.of("a.ndjson", "b.ndjson.gz", "sub/d.ndjson"), tree(out));
        assertEquals("{\"d\":true}\n", Files.readString(out.resolve("sub/d.ndjson")));

        // with -o FILE the folder's files are concatenated, as if listed
        Path one = dir.resolve("one.ndjson");
        ok(exec(null, data.toString(), "-o", one.toString()));
        assertEquals("{\"id\":1,\"name\":\"x\"}\n{\"id\":2,\"name\":\"y\"}\n{\"n\":1.5}\n", Files.readString(one));

        // a folder without CSV files says so
        Path empty = Files.createDirectories(dir.resolve("empty"));
        fails(exec(null, empty.toString()), empty + ": no *.csv or *.csv.gz files");
    }

    @Test
    void schemaForTinybird() throws IOException {
        Path schema = dir.resolve("events.datasource");
        Result r = convert("""
                id,price,ok,name,ts,ts_ms,day,maybe,weird name
                1,1.5,true,a,2024-01-02 03:04:05,2024-01-02T03:04:05.123Z,2024-01-02,,x
                2,2,false,b,2024-01-02 03:04:06,2024-01-02T03:04:05.1Z,2024-01-03,7,y
                """, "--schema", schema.toString());
        ok(r);
        assertEquals("""
                SCHEMA >
                    `id` Int64 `json:$.id`,
                    `price` Float64 `json:$.price`,
                    `ok` Bool `json:$.ok`,
                    `name` String `json:$.name`,
                    `ts` DateTime `json:$.ts`,
                    `ts_ms` DateTime64(3) `json:$.ts_ms`,
                    `day` Date `json:$.day`,
                    `maybe` Nullable(Int64) `json:$.maybe`,
                    `weird_name` String `json:$.['weird name']`
                """, Files.readString(schema));
        Path plain = dir.resolve("schema.txt");
        ok(convert("a,b\n1,\n", "--schema", plain.toString()));
        assertEquals("`a` Int64 `json:$.a`,\n`b` Nullable(String) `json:$.b`\n", Files.readString(plain));
    }

    @Test
    void helpShowsExamples() throws IOException {
        Result h = exec(null, "--help");
        assertEquals(0, h.rc);
        assertTrue(h.out.contains("--schema") && h.out.contains("Examples:"), h.out);
    }

    @Test
    void runsAsAScriptThroughJbang() throws IOException {
        Path in = dir.resolve("s.csv");
        Files.writeString(in, "id,city\n1,\"Zürich, CH\"\n");
        TestServices.Run r = TestServices.jbang(null, Duration.ofMinutes(5), "converter/csv-to-ndjson.java", in.toString());
        assertEquals(0, r.exitCode(), r.stderr());
        assertEquals("{\"id\":1,\"city\":\"Zürich, CH\"}\n", r.stdout());
        assertTrue(r.stderr().contains("converted: 1 rows"), r.stderr());
    }

    static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
