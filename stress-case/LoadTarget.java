import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the engine loads: a target makes sessions (one a worker) and answers one request per call.
 * Why: the engine, the report and the thresholds know targets only through this interface; adding a target is one
 * file with a KIND plus one line in StressCase.TARGETS (see stress-case/README.md).
 * Invariant: a session belongs to one worker; call() returns the rows of the answer (-1 when unknown) or throws.
 */
interface LoadTarget extends AutoCloseable {
    /**
     * A kind of target --target knows: its name, the other names it answers to, and how to make one from the run's
     * options. A new target is one file with a KIND like PostgresTarget's plus one line in StressCase.TARGETS.
     */
    record Kind(String name, List<String> aliases, Factory factory) {}

    interface Factory {
        LoadTarget make(StressCase run, Workload wl);
    }

    String name();

    /** What this target is asked, for the settings of the report (e.g. the SQL, the pipe, the URL; no secrets). */
    String describe();

    /**
     * The time range of the data this target's questions read (for the check that the window meets the data), or
     * null when the target can not tell (a query or URL of the user's). A range that could not be read says why.
     */
    default DataRange dataRange() {
        return null;
    }

    /** From the first to the last row's time; or, when first is null, why it is not known. */
    record DataRange(String where, LocalDateTime first, LocalDateTime last, String unknown) {
        static DataRange unknown(String where, String why) {
            return new DataRange(where, null, null, why);
        }
    }

    /**
     * What the report says this target is: kind, host, database or endpoint, version, what it is asked (in this
     * order, the keys the targets share; no secrets). Asked once, after check().
     */
    default Map<String, String> about() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("kind", name());
        a.put("asks", describe());
        return a;
    }

    /** The cities this target knows (for the 'city' parameter), or null when it can not list them. */
    default List<String> cities() {
        return null;
    }

    Session session();

    /** One real request before the run: a target that is down or misconfigured fails here with one line. */
    void check() throws Exception;

    @Override
    void close();

    /** One worker's connection to the target. */
    interface Session extends AutoCloseable {
        /** Sends request i's values; returns the rows in the answer (-1 when unknown); throws on any failure. */
        long call(Object[] values) throws Exception;

        @Override
        void close();
    }
}
