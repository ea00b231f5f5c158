//DEPS org.apache.commons:commons-csv:1.14.1

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.apache.commons.csv.QuoteMode;

/**
 * CSV where speed does not decide (a header, a query result): commons-csv, the library the field uses, rather than
 * hand-written quoting. The hot paths (csv-to-ndjson, csv-splitter) scan bytes themselves; a test checks their
 * scanner against commons-csv on generated documents.
 * Invariant: what is written reads back as the same values, and NULL (an empty field) stays apart from the empty
 * string (a quoted {@code ""}), as PostgreSQL's COPY and psql's {@code \copy ... csv} tell them apart.
 */
public final class Csv {
    private Csv() {}

    /** RFC 4180 with LF line ends, as psql writes; quotes only where needed. */
    static final CSVFormat LF = CSVFormat.RFC4180.builder().setRecordSeparator('\n').setQuoteMode(QuoteMode.MINIMAL).get();
    static final CSVFormat CRLF = CSVFormat.RFC4180.builder().setQuoteMode(QuoteMode.MINIMAL).get();

    /** A header or record that is not valid CSV; the message names the line. */
    public static final class BadCsv extends Exception {
        BadCsv(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The names in the first record of a UTF-8 CSV file (a BOM dropped, quotes undone, names stripped of blanks),
     * or an empty list for an empty file or a blank first line.
     */
    public static List<String> header(Path file, char delimiter) throws IOException, BadCsv {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            r.mark(1);
            if (r.read() != '\uFEFF') r.reset();
            CSVFormat f = CSVFormat.RFC4180.builder().setDelimiter(delimiter).setIgnoreEmptyLines(false).get();
            Iterator<CSVRecord> it = f.parse(r).iterator();
            List<String> out = new ArrayList<>();
            try {
                if (!it.hasNext()) return out;
                CSVRecord first = it.next();
                if (first.size() == 1 && first.get(0).isBlank()) return out;
                for (String v : first) out.add(v.strip());
            } catch (UncheckedIOException e) {
                throw new BadCsv("line 1: " + e.getCause().getMessage(), e);
            }
            return out;
        }
    }

    /** Writes one record: null as an empty field, the empty string as {@code ""}; LF or CRLF at its end. */
    public static void writeRecord(Appendable out, String[] values, boolean crlf) throws IOException {
        CSVFormat f = crlf ? CRLF : LF;
        for (int i = 0; i < values.length; i++) {
            String v = values[i];
            if (i > 0) out.append(f.getDelimiterString());
            // MINIMAL quoting leaves an empty value bare, which reads back as NULL: write it quoted
            if (v != null && v.isEmpty()) out.append("\"\"");
            else if (v != null) f.print(v, out, true);
        }
        f.println(out);
    }
}
