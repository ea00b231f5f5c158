/*
 * Ctrl-C and SIGTERM: the first stops generating at once and gives the events in flight --drain-timeout to be
 * acknowledged; then the Tinybird writers are abandoned (what has no answer counts as not acknowledged) and the
 * summary is printed. A second signal abandons at once. Either way, if the run does not come back within a few
 * seconds after abandoning (a sink stuck elsewhere), the summary is printed from what is known and the process
 * ends. Signals are taken by the process's own handlers (a JVM shutdown hook cannot see a second Ctrl-C); where
 * that is not possible (-Xrs, SIGHUP, tests run in-process) a shutdown hook does the bounded drain.
 * Why here: signal handling is plumbing; the script only installs it around a run.
 * Invariant: the summary is printed exactly once, whichever of the run, a signal or the shutdown hook ends first.
 */
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

final class EStoreStopper {
    static final long GRACE_MS = 3_000;
    final EStore cmd;
    final EStore.Run run;
    final Duration drain;
    final CountDownLatch finished = new CountDownLatch(1);
    final java.util.concurrent.atomic.AtomicBoolean summaryPrinted = new java.util.concurrent.atomic.AtomicBoolean();
    final java.util.concurrent.atomic.AtomicInteger signals = new java.util.concurrent.atomic.AtomicInteger();
    volatile int signal;
    final List<Object[]> previous = new ArrayList<>();
    Thread hook;

    EStoreStopper(EStore cmd, EStore.Run run, Duration drain) {
        this.cmd = cmd;
        this.run = run;
        this.drain = drain;
    }

    void install() {
        if (EStore.ownSignals()) {
            for (String name : List.of("INT", "TERM")) {
                try {
                    Object sig = SIGNAL.getConstructor(String.class).newInstance(name);
                    int number = (Integer) SIGNAL.getMethod("getNumber").invoke(sig);
                    Object handler = java.lang.reflect.Proxy.newProxyInstance(SIGNAL.getClassLoader(), new Class<?>[] {HANDLER},
                            (proxy, method, args) -> {
                                if (method.getName().equals("handle")) onSignal(number);
                                return null;
                            });
                    previous.add(new Object[] {sig, handle(sig, handler)});
                } catch (ReflectiveOperationException | RuntimeException notAllowed) {
                    // -Xrs or a signal the JVM keeps: the shutdown hook below does the drain
                }
            }
        }
        hook = new Thread(() -> {
            cmd.requestStop();
            if (!await(drain.toMillis())) {
                run.abandon();
                await(GRACE_MS);
            }
        }, "e-store-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    void uninstall() {
        finished.countDown();
        for (Object[] p : previous) {
            try {
                handle(p[0], p[1]);
            } catch (ReflectiveOperationException | RuntimeException ignored) {
                // the process ends soon anyway
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running and waits for us
        }
    }

    // sun.misc.Signal (jdk.unsupported) through reflection: the same calls, without javac's warning on every build
    static final Class<?> SIGNAL, HANDLER;

    static {
        Class<?> s = null, h = null;
        try {
            s = Class.forName("sun.misc.Signal");
            h = Class.forName("sun.misc.SignalHandler");
        } catch (ClassNotFoundException | LinkageError absent) {
            // a JVM without it: the shutdown hook does the drain
        }
        SIGNAL = s;
        HANDLER = h;
    }

    private static Object handle(Object sig, Object handler) throws ReflectiveOperationException {
        return SIGNAL.getMethod("handle", SIGNAL, HANDLER).invoke(null, sig, handler);
    }

    private void onSignal(int number) {
        int n = signals.incrementAndGet();
        if (n == 1) {
            signal = number;
            cmd.requestStop();
            if (!cmd.common.quiet && run.hasTinybird()) {
                cmd.note("stopping: waiting up to " + Timeouts.human(drain) + " for the events in flight (Ctrl-C again to stop at once)");
            }
            Thread t = new Thread(() -> {
                if (await(drain.toMillis())) return;
                run.abandon();
                if (!await(GRACE_MS)) forceExit();
            }, "e-store-drain");
            t.setDaemon(true);
            t.start();
        } else {
            run.abandon();
            if (!await(GRACE_MS)) forceExit();
        }
    }

    private boolean await(long ms) {
        try {
            return finished.await(ms, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /** The run did not come back: the summary from what is known, and out. */
    private void forceExit() {
        summaryOnce();
        Runtime.getRuntime().halt(128 + (signal == 0 ? 15 : signal));
    }

    void summaryOnce() {
        if (!summaryPrinted.compareAndSet(false, true)) return;
        EStoreStats st = run.snapshot();
        PrintWriter err = cmd.spec.commandLine().getErr();
        err.println(Config.redact(st.summary(cmd.spec.root().name())));
        err.flush();
    }
}