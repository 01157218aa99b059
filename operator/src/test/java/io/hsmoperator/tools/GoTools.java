package io.hsmoperator.tools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The project's Go tools (tools/NAME/build: Argo CD's and kstatus's health code, Prometheus's promtool), each built from
 * the Go module proxy on first use in a JVM, and the way the tests run them. Built from the tests rather than by a
 * Maven execution because their users run in different modules and phases (the operator's unit tests, testbed's
 * integration tests, the e2e) and from an IDE; the build scripts are a hash check when the tool is up to date and take a
 * lock, so the test JVMs that run side by side build each once.
 */
public final class GoTools {
    private static final Map<String, Path> BUILT = new HashMap<>();

    private GoTools() {
    }

    /** What a command printed and how it exited. */
    public record Run(int exit, String out, String err) {
        public String both() {
            return out + err;
        }
    }

    /** The project's root: the first directory upwards from the working directory (a module's) with mvnw and tools/. */
    public static Path root() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("mvnw")) && Files.isDirectory(p.resolve("tools"))) {
                return p;
            }
        }
        throw new IllegalStateException("no project root (mvnw and tools/) above " + Path.of("").toAbsolutePath());
    }

    /** Tool {@code name}'s binary, built (or found up to date) by tools/NAME/build once per JVM. */
    public static synchronized Path binary(String name) {
        return BUILT.computeIfAbsent(name, n -> {
            String out = runOk(List.of("bash", root().resolve("tools").resolve(n).resolve("build").toString()), 30);
            List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
            return Path.of(lines.get(lines.size() - 1));
        });
    }

    /** Runs {@code command} in {@code dir} (null: here); never throws on a non-zero exit (the caller asserts). */
    public static Run run(List<String> command, Path dir, long minutes) {
        try {
            Path out = Files.createTempFile("go-tool", ".out");
            Path err = Files.createTempFile("go-tool", ".err");
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
                if (dir != null) {
                    pb.directory(dir.toFile());
                }
                Process p = pb.start();
                p.getOutputStream().close();
                if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(command + " took more than " + minutes + " min");
                }
                return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Runs {@code command} and returns its stdout; its stderr goes to the test's output, a non-zero exit throws. */
    public static String runOk(List<String> command, long minutes) {
        Run r = run(command, null, minutes);
        if (!r.err().isBlank()) {
            System.err.print(r.err());
        }
        if (r.exit() != 0) {
            throw new IllegalStateException(command + " exited with " + r.exit() + ": " + r.err());
        }
        return r.out();
    }
}
