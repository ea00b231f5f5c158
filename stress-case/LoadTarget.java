/**
 * What the engine loads: a target makes sessions (one a worker) and answers one request per call.
 * Why: the engine, the report and the thresholds know targets only through this interface; adding a target is one
 * file with a KIND plus one line in StressCase.TARGETS (see stress-case/README.md).
 * Invariant: a session belongs to one worker; call() returns the rows of the answer (-1 when unknown) or throws.
 */
interface LoadTarget extends AutoCloseable {
    String name();

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
