///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 22+
//DESCRIPTION Runs every test of the project: ./jbang tests/RunTests.java [ClassNamePattern...]
//DESCRIPTION Patterns are regular expressions or simple names (ConfigTest, Pg.*). Ends with 'N passed, N failed'.
//DEPS org.junit:junit-bom:5.14.4@pom
//DEPS org.junit.jupiter:junit-jupiter
//DEPS org.junit.jupiter:junit-jupiter-params
//DEPS org.junit.platform:junit-platform-launcher
//SOURCES ../lib/*.java
//SOURCES ../data-generators/*.java
//SOURCES ../data-transfer/*.java
//SOURCES ../stress-case/*.java
//SOURCES ../postgres-client/*.java
//SOURCES ../converter/*.java
//SOURCES ../large-files/*.java
//SOURCES ../demo/*.java
//SOURCES *.java
//SOURCES support/*.java
//SOURCES **/*Test.java
// last: the emulator's chDB binding needs --release 22 (FFM), and javac keeps the last --release it is given
//SOURCES ../tinybird/*.java
//JAVA_OPTIONS -Xss4m
//MAIN RunTests

import static org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClasspathRoots;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The test runner: JUnit 5 through the Launcher API over every {@code *Test} class compiled into this jar
 * (the scripts, lib/ and tests/ are all sourced above). Test services (PostgreSQL, dynalite, the Tinybird
 * emulator) start lazily, once per run, and stop at exit (see support/TestServices.java).
 */
public class RunTests {
    /** The runner's own JVM options. Scripts' //JAVA_OPTIONS (e.g. a small -Xmx) are merged in by JBang: not for us. */
    static final List<String> JVM_OPTIONS = List.of("-Xss4m", "-Xmx4g", "-XX:+UseG1GC", "--enable-native-access=ALL-UNNAMED",
            "-Dio.netty.noUnsafe=true"); // mongo-java-server's Netty: else JDK 24+ prints four sun.misc.Unsafe warnings into the run

    public static void main(String[] args) throws Exception {
        List<String> jvmArgs = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments();
        if (System.getProperty("runtests.child") == null && !jvmArgs.equals(JVM_OPTIONS)) {
            // Run again in a JVM with our own options (same java, same classpath); Ctrl-C reaches both.
            List<String> cmd = new ArrayList<>();
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            cmd.addAll(JVM_OPTIONS);
            cmd.add("-Druntests.child=1");
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(RunTests.class.getName());
            cmd.addAll(List.of(args));
            Process child = new ProcessBuilder(cmd).inheritIO().start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                if (child.isAlive()) {
                    child.destroy();
                    try {
                        child.waitFor();
                    } catch (InterruptedException ignored) {
                        child.destroyForcibly();
                    }
                }
            }));
            System.exit(child.waitFor());
        }
        PrintStream out = System.out;
        List<String> patterns = new ArrayList<>();
        for (String a : args) {
            if (a.equals("-h") || a.equals("--help")) {
                out.println("usage: ./jbang tests/RunTests.java [ClassNamePattern...]   (e.g. ConfigTest, 'Pg.*')");
                return;
            }
            patterns.add(a.matches("[A-Za-z0-9_$]+") ? "(.*\\.)?" + a : a);
        }
        if (patterns.isEmpty()) patterns.add(".*Test");

        Path root = Path.of(RunTests.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClasspathRoots(Set.of(root)))
                .filters(includeClassNamePatterns(patterns.toArray(String[]::new)))
                .configurationParameter("junit.jupiter.execution.timeout.default", "10 m")
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "false")
                .build();

        Listener listener = new Listener(out);
        Launcher launcher = LauncherFactory.create();
        long t0 = System.nanoTime();
        launcher.execute(request, listener);
        double secs = (System.nanoTime() - t0) / 1e9;

        if (!listener.failures.isEmpty()) {
            out.println();
            out.println("Failures:");
            for (String f : listener.failures) out.println(f);
        }
        if (!listener.skipReasons.isEmpty()) {
            out.println();
            out.println("Skipped (install what they need to run them; CI=true makes a missing tool a failure):");
            listener.skipReasons.forEach((reason, n) -> out.println("  " + n + " test" + (n == 1 ? "" : "s") + ": " + reason));
        }
        out.printf("%ntime: %.1f s%n", secs);
        out.println(listener.passed + " passed, " + listener.failed + " failed, " + listener.skipped + " skipped");
        out.flush();
        int rc = listener.failed.get() > 0 ? 1 : (listener.passed.get() == 0 ? 1 : 0);
        if (listener.passed.get() == 0 && listener.failed.get() == 0) System.err.println("no test ran");
        System.exit(rc);
    }

    static final class Listener implements TestExecutionListener {
        final PrintStream out;
        final AtomicInteger passed = new AtomicInteger(), failed = new AtomicInteger(), skipped = new AtomicInteger();
        final List<String> failures = new ArrayList<>();
        final Map<String, Long> started = new ConcurrentHashMap<>();
        final Set<String> reported = ConcurrentHashMap.newKeySet();
        /** Why tests were skipped (a missing tool or service), with how many. */
        final Map<String, Integer> skipReasons = new java.util.TreeMap<>();
        /** A test class's counts: passed, failed, skipped; a class whose tests all pass is one line. */
        final Map<String, int[]> perClass = new ConcurrentHashMap<>();
        TestPlan plan;

        Listener(PrintStream out) {
            this.out = out;
        }

        @Override
        public void testPlanExecutionStarted(TestPlan testPlan) {
            this.plan = testPlan;
            long n = testPlan.countTestIdentifiers(TestIdentifier::isTest);
            out.println("running " + n + " tests");
        }

        private String name(TestIdentifier id) {
            String cls = plan.getParent(id).map(TestIdentifier::getDisplayName).orElse("");
            return (cls.isEmpty() ? "" : cls + " > ") + id.getDisplayName();
        }

        /** The test class a test or container belongs to (the container right below the engine), or null for the engine. */
        private String classOf(TestIdentifier id) {
            TestIdentifier cur = id;
            while (true) {
                TestIdentifier parent = plan.getParent(cur).orElse(null);
                if (parent == null) return null;
                if (plan.getParent(parent).isEmpty()) return cur.getUniqueId();
                cur = parent;
            }
        }

        private void count(TestIdentifier id, int which, int n) {
            String c = classOf(id);
            if (c != null) perClass.computeIfAbsent(c, k -> new int[3])[which] += n;
        }

        private synchronized void skippedBecause(String reason, int n) {
            String r = reason == null || reason.isBlank() ? "(no reason given)" : reason.lines().findFirst().orElse("").strip();
            skipReasons.merge(r, n, Integer::sum);
        }

        @Override
        public void executionStarted(TestIdentifier id) {
            started.put(id.getUniqueId(), System.nanoTime());
        }

        @Override
        public void executionSkipped(TestIdentifier id, String reason) {
            if (id.isTest()) {
                skipped.incrementAndGet();
                count(id, 2, 1);
                skippedBecause(reason, 1);
                out.println("SKIP " + name(id) + ": " + reason);
            } else if (id.isContainer()) {
                long n = plan.getDescendants(id).stream().filter(TestIdentifier::isTest).count();
                skipped.addAndGet((int) n);
                count(id, 2, (int) n);
                skippedBecause(reason, (int) n);
                out.println("SKIP " + id.getDisplayName() + " (" + n + " tests): " + reason);
            }
        }

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            Long t = started.remove(id.getUniqueId());
            String ms = t == null ? "" : String.format(" (%d ms)", (System.nanoTime() - t) / 1_000_000);
            if (id.isContainer() && id.getUniqueId().equals(classOf(id)) && result.getStatus() != TestExecutionResult.Status.FAILED) {
                int[] c = perClass.getOrDefault(id.getUniqueId(), new int[3]);
                if (c[0] + c[1] + c[2] > 0) {
                    String secs = t == null ? "" : String.format(", %.1f s", (System.nanoTime() - t) / 1e9);
                    out.println((c[1] > 0 ? "FAIL " : "ok   ") + id.getDisplayName() + " (" + c[0] + " passed"
                            + (c[1] > 0 ? ", " + c[1] + " failed" : "") + (c[2] > 0 ? ", " + c[2] + " skipped" : "") + secs + ")");
                }
                return;
            }
            switch (result.getStatus()) {
                case SUCCESSFUL -> {
                    if (id.isTest()) {
                        passed.incrementAndGet();
                        reported.add(id.getUniqueId());
                        count(id, 0, 1);
                    }
                }
                case ABORTED -> {
                    if (id.isTest()) {
                        skipped.incrementAndGet();
                        reported.add(id.getUniqueId());
                        count(id, 2, 1);
                        String why = result.getThrowable().map(Throwable::getMessage).orElse("");
                        skippedBecause(why, 1);
                        out.println("SKIP " + name(id) + ": " + why);
                    }
                }
                case FAILED -> {
                    if (id.isTest()) {
                        failed.incrementAndGet();
                        reported.add(id.getUniqueId());
                        count(id, 1, 1);
                    } else {
                        // a class-level failure (@BeforeAll / @AfterAll): its unreported tests count as failed
                        long n = plan.getDescendants(id).stream()
                                .filter(d -> d.isTest() && !reported.contains(d.getUniqueId())).count();
                        failed.addAndGet((int) Math.max(1, n));
                        count(id, 1, (int) Math.max(1, n));
                    }
                    out.println("FAIL " + name(id) + ms);
                    java.io.StringWriter sw = new java.io.StringWriter();
                    result.getThrowable().ifPresent(e -> e.printStackTrace(new java.io.PrintWriter(sw)));
                    String trace = trimTrace(sw.toString());
                    failures.add("--- " + name(id) + "\n" + trace);
                    out.println(indent(trace));
                }
            }
        }

        private static String trimTrace(String trace) {
            StringBuilder sb = new StringBuilder();
            int frames = 0;
            for (String l : trace.split("\n")) {
                if (l.startsWith("\tat ")) {
                    if (l.contains("org.junit.") || l.contains("java.base/jdk.internal.reflect")
                            || l.contains("java.base/java.lang.reflect") || l.contains("java.base/java.util.ArrayList.forEach")) continue;
                    if (++frames > 12) continue;
                } else {
                    frames = 0;
                }
                sb.append(l).append('\n');
            }
            return sb.toString().stripTrailing();
        }

        private static String indent(String s) {
            return "     " + s.replace("\n", "\n     ");
        }
    }
}
