//SOURCES Cli.java
//SOURCES CursorValues.java

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import picocli.CommandLine.Option;

/**
 * The options of every transfer script: {@code @Mixin TransferOptions transfer;} (the source pipe and its
 * parameters, the cursor and window, --once / --every, --state, --dry-run, --on-error, --batch-rows).
 *
 * <p>Why one mixin: the four scripts read the same endpoints the same way, so they take the same options and a user
 * learns them once. Invariant: a bad value is a one-line usage error naming the option before anything is read or
 * written (picocli's converters for one option's value, {@link #check()} for the rest); --since and --until come out
 * in the form endpoints take.
 */
public final class TransferOptions {
    @Option(names = "--pipe", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "reports",
            description = "Source API Endpoint (pipe) name (default: ${DEFAULT-VALUE}).")
    public String pipe;

    @Option(names = "--param", paramLabel = "K=V", converter = CliTypes.NameValue.class, description = "Extra endpoint parameter; repeat for more (k=a --param k=b is an array).")
    public List<String> params = new ArrayList<>();

    @Option(names = "--cursor", paramLabel = "COLUMN", converter = CliTypes.Name.class, defaultValue = "timestamp",
            description = "Column that orders the rows and bounds the windows (default: ${DEFAULT-VALUE}).")
    public String cursor;

    @Option(names = "--start-param", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "start_time",
            description = "Endpoint parameter for the window's start, inclusive (default: ${DEFAULT-VALUE}).")
    public String startParam;

    @Option(names = "--end-param", paramLabel = "NAME", converter = CliTypes.Name.class, defaultValue = "end_time",
            description = "Endpoint parameter for the window's end, inclusive (default: ${DEFAULT-VALUE}).")
    public String endParam;

    @Option(names = "--limit-param", paramLabel = "NAME", converter = CliTypes.Name.class,
            description = "Endpoint parameter for the page size (e.g. max_results); set to --page-size on every call.")
    public String limitParam;

    @Option(names = "--page-size", paramLabel = "N", defaultValue = "1000", converter = CliTypes.PositiveInt.class,
            description = "Most rows the endpoint returns per call (its cap; default: ${DEFAULT-VALUE}). A page this full is narrowed.")
    public int pageSize;

    @Option(names = "--since", paramLabel = "VALUE",
            description = "Start from this cursor value (inclusive) when neither --state nor the target has a resume point: a timestamp "
                    + "(2024-04-29 16:00:00, 2024-04-29T16:00:00Z, with an offset: taken to UTC), a date (2024-04-29) or a number.")
    public String since;

    @Option(names = "--until", paramLabel = "VALUE", defaultValue = "now",
            description = "Window end: 'now' (UTC now minus --lag, as YYYY-MM-DD HH:MM:SS), 'none' (no end; numeric cursors), "
                    + "or a timestamp, date or number as --since takes.")
    public String until;

    @Option(names = "--lag", paramLabel = "DURATION", defaultValue = "0s", converter = CliTypes.DurationConverter.class,
            description = "With --until now: leave rows newer than now minus this for the next round (late ingestion).")
    public Duration lag;

    @Option(names = "--window", paramLabel = "DURATION", converter = CliTypes.DurationConverter.class,
            description = "Timestamp cursors: read at most this span per window (e.g. 7d for a first sync of a long history), "
                    + "oldest first; bounds memory and re-reads.")
    public Duration window;

    @Option(names = "--once", description = "One sync up to the window end, then exit (default: follow, every --every).")
    public boolean once;

    @Option(names = "--every", paramLabel = "DURATION", defaultValue = "60s", converter = CliTypes.DurationConverter.class,
            description = "Follow mode: time between syncs (default: ${DEFAULT-VALUE}). Ctrl-C stops cleanly after the batch in flight.")
    public Duration every;

    @Option(names = "--state", paramLabel = "FILE",
            description = "Keep the watermark in FILE too (resume from it first); written atomically after each batch.")
    public Path state;

    @Option(names = "--job", paramLabel = "NAME", converter = CliTypes.Name.class, description = "Name of this transfer in the target's state (default: the pipe name).")
    public String job;

    @Option(names = "--dry-run", description = "Read the source and show what would be written; change nothing.")
    public boolean dryRun;

    /** What a row the target can't take does to the run. */
    public enum OnError { fail, skip }

    @Option(names = "--on-error", paramLabel = "skip|fail", defaultValue = "fail",
            description = "A row the target can't take: 'fail' stops (default), 'skip' writes it to --reject-file and goes on.")
    public OnError onError;

    @Option(names = "--reject-file", paramLabel = "FILE", defaultValue = "rejected.ndjson",
            description = "With --on-error skip: rejected rows, one JSON object a line with the reason (default: ${DEFAULT-VALUE}).")
    public Path rejectFile;

    @Option(names = "--retry-for", paramLabel = "DURATION", defaultValue = "2m", converter = CliTypes.DurationConverter.class,
            description = "Keep retrying a failed read (429, 5xx, network) or write (target unreachable) for this long (default: ${DEFAULT-VALUE}).")
    public Duration retryFor;

    @Option(names = "--batch-rows", paramLabel = "N", converter = CliTypes.PositiveInt.class,
            description = "Most rows per write to the target, at most the target's own (PostgreSQL 50000, Tinybird 50000 "
                    + "through the Events API, MongoDB 5000), which is the default; each write commits a watermark.")
    public Integer batchRows;

    public String job() {
        return job != null ? job : pipe;
    }

    void check() {
        if (!once && every.isZero()) throw Cli.usage("--every must be more than 0");
        if (since != null) since = CursorValues.normalizeOption("--since", since);
        if (until != null && !until.equals("now") && !until.equals("none")) until = CursorValues.normalizeOption("--until", until);
    }

    /**
     * Refuses an empty list of names (--key with converter = CliTypes.Name.class, which checks each) with a usage error
     * naming the option; returns it.
     */
    public static List<String> names(String option, List<String> values) {
        if (values == null || values.isEmpty()) throw Cli.usage(option + " needs at least one name");
        return values;
    }
}
