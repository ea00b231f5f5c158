import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;

/**
 * How csv-to-ndjson writes files: a temp file beside the target, renamed into place only when complete (all of a run's
 * files together), temp files removed on failure and on Ctrl-C, and a write error (a full disk) as one line naming
 * the file the user asked for. Invariant: an output file either appears complete or does not appear.
 */
final class OutputFiles {
    private OutputFiles() {}

    /** The run's temporary files: removed at the end of the run, after a failure, and on Ctrl-C (a shutdown hook). */
    static final class Temps {
        final java.util.Set<Path> paths = java.util.concurrent.ConcurrentHashMap.newKeySet();

        /**
         * A new temp file in dir, created with the user's umask like any file the user makes, since it becomes the
         * output by a rename (Files.createTempFile would make it owner-only); without dir, a private one in the
         * system's temp folder. Write errors name shownAs (the file the user asked for).
         */
        Path create(Path dir, String prefix, String suffix, Path shownAs) {
            try {
                Path p = dir == null ? Files.createTempFile(prefix, suffix) : createBeside(dir, prefix, suffix);
                paths.add(p);
                return p;
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        private static Path createBeside(Path dir, String prefix, String suffix) throws IOException {
            for (int i = 0; ; i++) {
                Path p = dir.resolve(prefix + "." + Long.toHexString(System.nanoTime()) + suffix);
                try {
                    return Files.createFile(p);
                } catch (java.nio.file.FileAlreadyExistsException taken) {
                    if (i == 100) throw taken;
                }
            }
        }

        void deleteAll() {
            for (Path p : List.copyOf(paths)) {
                deleteQuietly(p);
                paths.remove(p);
            }
        }
    }


    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a temp file that cannot be deleted is reported by nothing better than the failure at hand
        }
    }

    /** A write failure (a full disk, a read-only folder) as one line that names the file. */
    static Cli.Failure cannotWrite(Path file, Throwable e) {
        return new Cli.Failure("cannot write " + file + ": " + reason(e), e);
    }

    static String reason(Throwable e) {
        if (e instanceof Cli.Failure f) return f.getMessage();
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        if (e instanceof java.nio.file.FileSystemException f) return e.getClass().getSimpleName() + " " + f.getFile();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }


    /** Renames complete temp files to their final names; if one rename fails, those already renamed are removed. */
    static void publishAll(List<Path[]> done) {
        List<Path> published = new ArrayList<>();
        try {
            for (Path[] d : done) {
                publish(d[0], d[1]);
                published.add(d[1]);
            }
        } catch (RuntimeException e) {
            for (Path p : published) deleteQuietly(p);
            throw e;
        }
    }

    /** Renames the complete temp file into place (it was created with the user's umask). */
    static void publish(Path tmp, Path target) {
        try {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw cannotWrite(target, e);
        }
    }

    /** A buffered (or gzip) stream to the temp file p; write errors name shownAs. */
    static OutputStream open(Path p, boolean gz, Path shownAs) throws IOException {
        OutputStream file;
        try {
            file = Files.newOutputStream(p, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw cannotWrite(shownAs, e);
        }
        OutputStream os = new Named(file, shownAs);
        return gz ? new GZIPOutputStream(os, 1 << 16) : new java.io.BufferedOutputStream(os, 1 << 16);
    }

    /** A file's write errors (a full disk) as a one-line failure naming the file the user asked for. */
    static final class Named extends java.io.FilterOutputStream {
        final Path shownAs;

        Named(OutputStream out, Path shownAs) {
            super(out);
            this.shownAs = shownAs;
        }

        @Override
        public void write(int b) {
            try {
                out.write(b);
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void flush() {
            try {
                out.flush();
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }

        @Override
        public void close() {
            try {
                out.close();
            } catch (IOException e) {
                throw cannotWrite(shownAs, e);
            }
        }
    }
}
