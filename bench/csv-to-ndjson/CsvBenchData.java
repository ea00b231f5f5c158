///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DESCRIPTION Writes the benchmark CSV: ROWS rows of 11 mixed columns, the same bytes for the same ROWS (seeded).
//DESCRIPTION Usage: CsvBenchData.java ROWS FILE

import java.io.BufferedOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * 11 columns: id (int), event_time (ISO timestamp), session_id (16 hex digits, some of them all digits but one e,
 * like 6164739959125e55), city (UTF-8, some quoted with a comma), price (float), quantity (int), in_stock (boolean),
 * discount (float, 30% empty), category (string), rating (int, 10% empty), comment (mostly empty, 1% quoted and
 * multi-line with "" escapes). About 100 bytes a row.
 */
public class CsvBenchData {
    static final String[] CITIES = {"Madrid", "\"São Paulo, BR\"", "Zürich", "Kraków", "\"Washington, D.C.\"", "New York",
            "Reykjavík", "München", "\"Paris, FR\"", "Tōkyō", "Denver", "Lisboa", "\"Québec, QC\"", "Oslo", "Córdoba", "Austin"};
    static final String[] CATEGORIES = {"electronics", "books", "garden", "toys", "grocery", "fashion", "sports", "beauty"};
    static final String[] COMMENTS = {"\"Great product,\nwould buy again\"", "\"He said \"\"wow\"\"\r\nthen left\"",
            "\"Line one\nline two\nline three\"", "\"Ça marche, très bien\""};
    static final char[] HEX = "0123456789abcdef".toCharArray();

    public static void main(String[] args) throws Exception {
        long rows = Long.parseLong(args[0]);
        Path out = Path.of(args[1]);
        SplittableRandom r = new SplittableRandom(42);
        long t0 = 1_704_067_200L; // 2024-01-01T00:00:00Z
        StringBuilder sb = new StringBuilder(1 << 16);
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(out), 1 << 20)) {
            sb.append("id,event_time,session_id,city,price,quantity,in_stock,discount,category,rating,comment\n");
            for (long i = 1; i <= rows; i++) {
                sb.append(1_000_000_000L + i * 7).append(',');
                long ms = (t0 + i * 3) * 1000 + r.nextInt(3000);
                sb.append(java.time.Instant.ofEpochMilli(ms - ms % 1000 + 1 + ms % 999).toString()).append(',');
                if (r.nextInt(100) == 0) { // all digits but one e: a hex id that looks like a float
                    for (int k = 0; k < 13; k++) sb.append((char) ('0' + r.nextInt(10)));
                    sb.append('e').append((char) ('1' + r.nextInt(9))).append((char) ('0' + r.nextInt(10)));
                } else {
                    for (int k = 0; k < 16; k++) sb.append(HEX[r.nextInt(16)]);
                }
                sb.append(',');
                sb.append(CITIES[r.nextInt(CITIES.length)]).append(',');
                int cents = r.nextInt(1, 100_000);
                sb.append(cents / 100).append('.').append((char) ('0' + cents / 10 % 10)).append((char) ('0' + cents % 10)).append(',');
                sb.append(r.nextInt(1, 20)).append(',');
                sb.append(r.nextBoolean() ? "true" : "false").append(',');
                if (r.nextInt(10) >= 3) sb.append("0.").append(r.nextInt(5, 50)); // some are 0.5..0.9: still floats
                sb.append(',');
                sb.append(CATEGORIES[r.nextInt(CATEGORIES.length)]).append(',');
                if (r.nextInt(10) != 0) sb.append(r.nextInt(1, 6));
                sb.append(',');
                if (r.nextInt(100) == 0) sb.append(COMMENTS[r.nextInt(COMMENTS.length)]);
                sb.append('\n');
                if (sb.length() > 60_000) {
                    os.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                    sb.setLength(0);
                }
            }
            os.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}
