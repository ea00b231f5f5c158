///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Json.java
//SOURCES LocalServices.java
//SOURCES DotEnv.java
//SOURCES DemoSteps.java
//DESCRIPTION The guided demo, offline: weather data into PostgreSQL and Tinybird, e-store events into Tinybird and an endpoint
//DESCRIPTION over them, an endpoint into PostgreSQL, stress-case side by side and its HTML report; each step is the collection's own script.
//DESCRIPTION   ./jbang demo            ./jbang demo --step stress --keep            ./jbang demo --cloud
//MAIN DemoTour

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130, sortOptions = false,
        description = {"The collection's tour in about 90 seconds, on the local stack (./jbang local: the Tinybird emulator and a PostgreSQL,",
                "started for the tour and stopped after it, unless one already runs): seed the weather data, stream e-store events into",
                "Tinybird and read an endpoint over them, move the reports endpoint into PostgreSQL with tb-to-postgres, run",
                "stress-case on both side by side and write its HTML report. Every step runs the collection's own script through",
                "./jbang and prints the one-liner that reruns it alone; the tour ends with what each step measured, each figure",
                "copied from that step's own output.",
                "It writes only to the stack it uses; with --cloud, only to the demo's own data sources and tables, named first."},
        footer = {"", "Steps, in this order: seed, stream, transfer, stress.", "", "Examples:",
                "  ./jbang demo                                # the whole tour on the local stack, then the stack stops",
                "  ./jbang demo --keep                         # leave the stack up and .env.local written, to rerun steps by hand",
                "  ./jbang demo --step stress --stress-duration 60s     # after one tour: the stack keeps its data",
                "  ./jbang demo --cloud                        # against TINYBIRD_HOST / TINYBIRD_TOKEN / DATABASE_URL; deploys nothing"})
class DemoTour implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;

    @Option(names = "--step", paramLabel = "NAME", split = ",", description = "Run only these steps (${COMPLETION-CANDIDATES}); repeatable.")
    EnumSet<DemoSteps.Step> steps = EnumSet.allOf(DemoSteps.Step.class);

    @Option(names = "--keep", description = "Leave the local stack running and write its settings to .env.local (other lines kept).")
    boolean keep;

    @Option(names = "--cloud", description = "Use the workspace and database of your settings instead of the local stack; checks the "
            + "workspace has the project's resources first and deploys nothing.")
    boolean cloud;

    @Option(names = "--dir", paramLabel = "DIR", description = "The local stack's folder (default: that of ./jbang local).")
    Path dir;

    @Option(names = "--report", paramLabel = "FILE", defaultValue = "demo-report.html", description = "stress-case's HTML report (default: ${DEFAULT-VALUE}).")
    Path report;

    @Option(names = "--stream-duration", paramLabel = "TIME", defaultValue = "5s", converter = CliTypes.DurationConverter.class,
            description = "How long e-store streams (default: ${DEFAULT-VALUE}).")
    Duration streamDuration;

    @Option(names = "--stress-duration", paramLabel = "TIME", defaultValue = "20s", converter = CliTypes.DurationConverter.class,
            description = "How long stress-case runs (default: ${DEFAULT-VALUE}).")
    Duration stressDuration;

    /** Where --keep writes the stack's settings: the working folder's .env.local, which every script reads. */
    Path envLocal = Path.of(".env.local");

    /** Stops what the tour started (run once: at the end, or by the JVM on Ctrl-C). */
    Thread stopper;

    /** What the steps measured, in order; printed at the end, or on Ctrl-C as far as the tour got. */
    final List<DemoSteps.Figure> figures = java.util.Collections.synchronizedList(new ArrayList<>());
    private final java.util.concurrent.atomic.AtomicBoolean summarized = new java.util.concurrent.atomic.AtomicBoolean();

    synchronized void summary(PrintWriter out, String heading) {
        if (!summarized.compareAndSet(false, true)) return;
        out.println();
        out.println(heading);
        synchronized (figures) {
            figures.forEach(out::println);
        }
        out.flush();
    }

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new DemoTour()).execute(args));
    }

    static boolean runs(String name, LocalServices s) {
        return s.recorded(name).map(LocalServices.Service::running).orElse(false);
    }

    private boolean stopped;

    /**
     * Synchronized, so that when Ctrl-C comes while the tour's own thread is stopping the stack, the JVM's hook waits
     * for that stop to finish instead of letting the JVM halt half-way through it.
     */
    synchronized void stopStarted(LocalServices s, List<String> names, PrintWriter out) {
        if (names.isEmpty() || stopped) return;
        stopped = true;
        out.println("\n== stopping what the tour started");
        try {
            s.down(names, out);
        } catch (Exception e) {
            out.println("could not stop the stack: " + e.getMessage() + " (./jbang local down" + s.dirOption() + ")");
        }
        out.flush();
    }

    /** False when the JVM is already exiting (Ctrl-C): then the hook runs (or has run) by itself. */
    static boolean removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
            return true;
        } catch (IllegalStateException shuttingDown) {
            return false;
        }
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::execute);
    }

    int execute() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (cloud && (keep || dir != null)) throw Cli.usage("--keep and --dir are about the local stack: not with --cloud");
        Path repo = LocalServices.repoRoot();
        long t0 = System.nanoTime();
        DemoSteps tour;
        LocalServices stack = null;
        if (cloud) {
            tour = DemoSteps.cloud(repo, common.config(), out);
            tour.envFile = common.envFile;
        } else {
            stack = new LocalServices(dir != null ? dir : LocalServices.defaultDir(), repo, out);
            out.println("== the local stack (" + stack.dir + ")");
            LocalServices st = stack;
            List<String> before = LocalServices.NAMES.stream().filter(n -> runs(n, st)).toList();
            // Ctrl-C (or a failed start) must not leave behind what the tour started: the services run in their own sessions
            stopper = new Thread(() -> stopStarted(st, LocalServices.NAMES.stream().filter(n -> !before.contains(n)).toList(), out), "demo-stop-stack");
            if (!keep) Runtime.getRuntime().addShutdownHook(stopper);
            try {
                stack.up(null, null, out, false);
                tour = DemoSteps.local(repo, stack, out);
            } catch (Exception | Error e) {
                stopper.run();
                removeHook(stopper);
                throw e;
            }
        }
        Thread interrupted = new Thread(() -> summary(out, "== interrupted: what the steps measured so far"), "demo-summary");
        Runtime.getRuntime().addShutdownHook(interrupted);
        try {
            tour.report = report.toAbsolutePath();
            tour.streamDuration = streamDuration;
            tour.stressDuration = stressDuration;
            for (DemoSteps.Step s : steps) figures.addAll(tour.run(s));
        } catch (Exception | Error e) {
            if (!figures.isEmpty()) summary(out, "== the tour stopped; what the steps before measured");
            throw e;
        } finally {
            if (stack != null && keep) {
                Path env = envLocal.toAbsolutePath();
                try {
                    DotEnv.write(env, stack.settings(), false);
                    out.println("\nthe stack stays up; its settings are in " + env + " (./jbang local down" + stack.dirOption() + " stops it)");
                } catch (Cli.Failure e) {
                    out.println("\nthe stack stays up; .env.local left as it was (" + e.getMessage() + "); ./jbang local env --write --replace");
                }
            } else if (stopper != null) {
                stopper.run(); // the hook stays registered until this is done: see stopStarted
                removeHook(stopper);
            }
            removeHook(interrupted);
            out.flush();
        }
        summary(out, String.format("== done in %.0f s; what each step measured (the numbers its script or endpoint reported)", (System.nanoTime() - t0) / 1e9));
        if (steps.contains(DemoSteps.Step.stress) && Files.isRegularFile(tour.report)) {
            out.println("report: " + tour.report + "  (open " + tour.report.toUri() + ")");
        }
        out.println("rerun a step alone: " + tour.launcher() + " demo --step NAME" + (cloud ? " --cloud" : "") + (common.envFile != null ? " --env-file " + DemoSteps.shellQuote(common.envFile.toString()) : "")
                + (cloud || keep ? ", or the one-liner it printed" : ", or --keep the stack and run the one-liner it printed"));
        return 0;
    }
}
