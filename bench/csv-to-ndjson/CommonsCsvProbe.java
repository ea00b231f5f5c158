///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../../lib/Csv.java
//JAVA_OPTIONS -XX:+UseSerialGC -Xmx192m
//DESCRIPTION The commons-csv measurement: parse with commons-csv, write typed NDJSON. Usage: CommonsCsvProbe.java IN.csv OUT.ndjson
//DESCRIPTION A best case for a commons-csv converter: types from the first 10,000 records, unchecked (ours checks every value).

import java.io.BufferedWriter;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

public class CommonsCsvProbe {
    static final Pattern INT = Pattern.compile("-?(0|[1-9][0-9]{0,17})");
    static final Pattern FLOAT = Pattern.compile("-?(0|[1-9][0-9]*)\\.[0-9]+([eE][+-]?[0-9]+)?");

    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        CSVFormat fmt = CSVFormat.RFC4180.builder().setHeader().setSkipHeaderRecord(true).get();
        long rows = 0;
        try (Reader in = Files.newBufferedReader(Path.of(args[0]), StandardCharsets.UTF_8);
             CSVParser p = CSVParser.parse(in, fmt);
             Writer out = new BufferedWriter(Files.newBufferedWriter(Path.of(args[1]), StandardCharsets.UTF_8), 1 << 16)) {
            List<String> names = p.getHeaderNames();
            int n = names.size();
            String[] keys = new String[n];
            for (int i = 0; i < n; i++) keys[i] = (i == 0 ? "{" : ",") + quote(names.get(i)) + ":";
            List<CSVRecord> sample = new ArrayList<>();
            var it = p.iterator();
            while (it.hasNext() && sample.size() < 10_000) sample.add(it.next());
            int[] type = new int[n]; // 0 string, 1 int, 2 float, 3 bool
            for (int c = 0; c < n; c++) {
                boolean i = true, f = true, b = true;
                for (CSVRecord r : sample) {
                    String v = r.get(c);
                    if (v.isEmpty()) continue;
                    i &= INT.matcher(v).matches();
                    f &= INT.matcher(v).matches() || FLOAT.matcher(v).matches();
                    b &= v.equalsIgnoreCase("true") || v.equalsIgnoreCase("false");
                }
                type[c] = b ? 3 : i ? 1 : f ? 2 : 0;
            }
            StringBuilder sb = new StringBuilder(512);
            for (CSVRecord r : sample) rows += write(r, keys, type, sb, out);
            while (it.hasNext()) rows += write(it.next(), keys, type, sb, out);
        }
        System.err.printf("commons-csv probe: %,d rows in %.2f s%n", rows, (System.nanoTime() - t0) / 1e9);
    }

    static int write(CSVRecord r, String[] keys, int[] type, StringBuilder sb, Writer out) throws Exception {
        sb.setLength(0);
        for (int c = 0; c < keys.length; c++) {
            sb.append(keys[c]);
            String v = r.get(c);
            if (v.isEmpty()) sb.append("null");
            else if (type[c] == 3) sb.append(v.equalsIgnoreCase("true") ? "true" : "false");
            else if (type[c] != 0) sb.append(v);
            else sb.append(quote(v));
        }
        sb.append("}\n");
        out.append(sb);
        return 1;
    }

    static String quote(String v) {
        StringBuilder sb = new StringBuilder(v.length() + 2).append('"');
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c == '\n') sb.append("\\n");
            else if (c == '\r') sb.append("\\r");
            else if (c == '\t') sb.append("\\t");
            else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }
}
