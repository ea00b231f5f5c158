//SOURCES Cli.java
//SOURCES Json.java
//SOURCES TinybirdClient.java
//SOURCES TinybirdRowScanner.java

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The rows of an answer from Tinybird (an API Endpoint or the Query API), parsed as they arrive: memory stays flat
 * however long the answer. meta() is known at once (Tinybird sends it first); rowsBeforeLimitAtLeast() and
 * statistics() once the rows are consumed. Not thread-safe. Close it (or read to the end).
 *
 * <p>Why streamed: a transfer reads endpoints of millions of rows, and an answer held whole would cost its size
 * in memory before the first row is written. Invariant: a broken or cut answer is a {@link Cli.Failure} naming the
 * request and how many rows came, never a silent short read.
 */
public final class TinybirdRows implements Iterator<ObjectNode>, AutoCloseable {
    /** A column of an answer's meta: name and ClickHouse type. */
    public record Column(String name, String type) {}

    /** A whole answer in memory. rowsBeforeLimitAtLeast is null when the query had no LIMIT. */
    public record PipeResult(List<Column> meta, List<ObjectNode> data, long rows, Long rowsBeforeLimitAtLeast,
                             JsonNode statistics) {}

    private final InputStream in;
    private final JsonParser p;
    private final boolean ndjson;
    private final String what;
    private List<Column> meta = List.of();
    private Long rowsBeforeLimit;
    private JsonNode statistics;
    private Long rowsField;
    private long count;
    private ObjectNode next;
    private boolean inData, done;
    private final Runnable abort;
    private JsonParser tail;
    private TinybirdRowScanner scanner;

    TinybirdRows(InputStream in, boolean ndjson, String what) throws IOException {
        this(in, ndjson, what, null);
    }

    /** abort: drops the connection when the answer is closed before its end (else closing would drain it). */
    TinybirdRows(InputStream in, boolean ndjson, String what, Runnable abort) throws IOException {
        this.in = in;
        this.ndjson = ndjson;
        this.what = what;
        this.abort = abort;
        this.p = Json.FACTORY.createParser(in);
        if (!ndjson) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException("expected a JSON object");
            readFieldsUntilData(p);
        }
    }

    /** Reads the answer's fields from q up to the start of its data array (or its end). */
    private void readFieldsUntilData(JsonParser q) throws IOException {
        JsonToken t;
        while ((t = q.nextToken()) == JsonToken.FIELD_NAME) {
            String f = q.currentName();
            q.nextToken();
            switch (f) {
                case "data" -> {
                    if (q.currentToken() != JsonToken.START_ARRAY) throw new IOException("'data' is not an array");
                    inData = true;
                    return;
                }
                case "meta" -> {
                    List<Column> cols = new ArrayList<>();
                    for (JsonNode c : (JsonNode) Json.MAPPER.readTree(q)) cols.add(new Column(c.path("name").asText(), c.path("type").asText()));
                    meta = List.copyOf(cols);
                }
                case "rows" -> rowsField = q.getValueAsLong();
                case "rows_before_limit_at_least" -> rowsBeforeLimit = q.getValueAsLong();
                case "statistics" -> statistics = Json.MAPPER.readTree(q);
                default -> q.skipChildren();
            }
        }
        if (t != JsonToken.END_OBJECT) throw new IOException("unexpected " + t);
        done = true;
    }

    public List<Column> meta() {
        return meta;
    }

    /** TinybirdRows read so far. */
    public long count() {
        return count;
    }

    public Long rowsBeforeLimitAtLeast() {
        return rowsBeforeLimit;
    }

    public JsonNode statistics() {
        return statistics;
    }

    /** The {@code rows} field of the answer (null until read, and for ndjson). */
    public Long rowsField() {
        return rowsField;
    }

    @Override
    public boolean hasNext() {
        if (next != null) return true;
        try {
            if (!atRow()) return false;
            next = Json.MAPPER.readTree(p);
            return true;
        } catch (IOException e) {
            throw broken(e);
        }
    }

    /** Moves to the next row's START_OBJECT; false (and the trailing fields read) after the last row. */
    private boolean atRow() throws IOException {
        if (done) return false;
        JsonToken t = p.nextToken();
        if (ndjson ? t == null : t == JsonToken.END_ARRAY) {
            if (!ndjson) {
                inData = false;
                readFieldsUntilData(p);
            }
            done = true;
            return false;
        }
        if (t != JsonToken.START_OBJECT) throw new IOException("expected a row object, got " + t);
        return true;
    }

    private Cli.Failure broken(IOException e) {
        done = true;
        return new Cli.Failure("broken answer from Tinybird to " + what + " after " + count + " rows: " + TinybirdClient.describe(e), e);
    }

    @Override
    public ObjectNode next() {
        if (!hasNext()) throw new NoSuchElementException();
        ObjectNode r = next;
        next = null;
        count++;
        return r;
    }

    /**
     * The next row as an array of values in the order of {@code index} (field name -> position; fields not in it
     * are skipped, absent ones stay null), parsed straight from the bytes with no tokens or tree in between:
     * String, Long or BigInteger, BigDecimal (exact, from the number's text; never a double), Boolean, null, and a
     * JsonNode for arrays and objects. Returns null after the last row. A faster alternative to {@link #next()}
     * for bulk reads; don't mix the two on one answer. JSON answers go through {@link TinybirdRowScanner} (the trailing
     * fields, rows_before_limit_at_least and statistics, through Jackson again); NDJSON through Jackson.
     */
    public Object[] nextValues(Map<String, Integer> index, int width) {
        if (next != null) throw new IllegalStateException("nextValues() after hasNext(): use next()");
        try {
            if (!ndjson) {
                if (done) return null;
                if (scanner == null) {
                    ByteArrayOutputStream rest = new ByteArrayOutputStream();
                    if (p.releaseBuffered(rest) < 0) throw new IOException("cannot hand the answer over to the row scanner");
                    scanner = new TinybirdRowScanner(new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(rest.toByteArray()), in), index, width);
                }
                Object[] r = scanner.next();
                if (r != null) {
                    count++;
                    return r;
                }
                // after the data array: the answer's other fields, through Jackson (as an object of its own)
                inData = false;
                if (scanner.atTrailingFields()) {
                    byte[] head = {'{'};
                    tail = Json.FACTORY.createParser(new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(head), scanner.remaining()));
                    tail.nextToken();
                    readFieldsUntilData(tail);
                    if (inData) throw new IOException("a second 'data' array");
                }
                done = true;
                return null;
            }
            if (!atRow()) return null;
            Object[] r = new Object[width];
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                Integer i = index.get(p.currentName());
                t = p.nextToken();
                if (i == null) {
                    p.skipChildren();
                    continue;
                }
                r[i] = switch (t) {
                    case VALUE_STRING -> p.getText();
                    case VALUE_NUMBER_INT -> p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? p.getBigIntegerValue() : (Object) p.getLongValue();
                    case VALUE_NUMBER_FLOAT -> p.getDecimalValue();
                    case VALUE_TRUE -> Boolean.TRUE;
                    case VALUE_FALSE -> Boolean.FALSE;
                    case VALUE_NULL -> null;
                    default -> Json.MAPPER.readTree(p);
                };
            }
            if (t != JsonToken.END_OBJECT) throw new IOException("unexpected " + t + " in a row");
            count++;
            return r;
        } catch (IOException e) {
            throw broken(e);
        }
    }

    /** Reads the rest into memory. */
    public PipeResult toResult() {
        List<ObjectNode> data = new ArrayList<>();
        while (hasNext()) data.add(next());
        return new PipeResult(meta, data, rowsField != null ? rowsField : data.size(), rowsBeforeLimit, statistics);
    }

    @Override
    public void close() {
        if (!done && abort != null) abort.run(); // an answer left unread: drop the connection, don't drain it
        try {
            p.close();
            if (tail != null) tail.close();
            in.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
