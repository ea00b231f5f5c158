///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//DESCRIPTION Writes the benchmark CSV deterministically: GenCsv.java OUT RECORDS (about 100 bytes a record).
//DESCRIPTION Mixed quoting: plain fields, quoted fields with commas and doubled quotes, 5 % multi-line fields.
//MAIN CsvSplitterBenchData

import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

class CsvSplitterBenchData {
    static final String[] WORDS = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"};

    public static void main(String[] args) throws Exception {
        String out = args[0];
        long records = Long.parseLong(args[1]);
        SplittableRandom r = new SplittableRandom(42);
        StringBuilder sb = new StringBuilder(1 << 16);
        try (OutputStream os = new BufferedOutputStream(new FileOutputStream(out), 1 << 20)) {
            os.write("id,customer,email,product,comment,price,quantity,created_at\n".getBytes(StandardCharsets.UTF_8));
            for (long i = 1; i <= records; i++) {
                sb.append(i).append(',');
                int kind = r.nextInt(10);
                String w1 = WORDS[r.nextInt(WORDS.length)], w2 = WORDS[r.nextInt(WORDS.length)];
                if (kind < 3) sb.append('"').append(w1).append(", ").append(w2).append('"');          // quoted with a comma
                else if (kind < 4) sb.append('"').append(w1).append(" \"\"").append(w2).append("\"\"\""); // doubled quotes
                else sb.append(w1).append('_').append(w2);
                sb.append(',').append(w1).append('.').append(w2).append(r.nextInt(1000)).append("@example.com");
                sb.append(',').append("sku-").append(r.nextInt(100_000)).append(',');
                int c = r.nextInt(100);
                if (c < 5) sb.append("\"line one ").append(w2).append("\nline two, with a comma\nline three\"");  // multi-line
                else if (c < 40) sb.append('"').append(w2).append(" said \"\"hi\"\", then left").append('"');
                else sb.append(w1).append(' ').append(w2).append(' ').append(WORDS[r.nextInt(WORDS.length)]);
                sb.append(',').append(r.nextInt(100_000) / 100.0).append(',').append(1 + r.nextInt(20))
                  .append(",2026-").append(1 + r.nextInt(12)).append('-').append(1 + r.nextInt(28))
                  .append('T').append(r.nextInt(24)).append(':').append(r.nextInt(60)).append(":00Z\n");
                if (sb.length() > 60_000) {
                    os.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                    sb.setLength(0);
                }
            }
            os.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}
