package io.hsmoperator.emulator;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Azure CLI's own security-domain commands ({@code init-recovery}, {@code restore-blob}) as officers run them, from
 * the azure-cli release that tools/az-security-domain pins: prepared (downloaded from PyPI into the user's cache) by
 * its build script once per JVM, run with python3 (or $HSM_PYTHON). Like the operator's GoTools: a tool the tests fetch
 * on first use, so that what they prove is what Azure's users run.
 */
public final class AzureCliSecurityDomain {
    private static Path prepared;

    private AzureCliSecurityDomain() {
    }

    /** How a command exited and what it printed (the commands write their results to files; stderr has the errors). */
    public record Run(int exit, String out, String err) {
    }

    /** Runs {@code az_sd.py command args...} in {@code dir}; never throws on a non-zero exit (the caller asserts). */
    public static Run run(Path dir, String command, String... args) {
        List<String> cmd = new ArrayList<>(List.of(python(), "-I", prepared().resolve("az_sd.py").toString(), command));
        cmd.addAll(List.of(args));
        return exec(cmd, dir);
    }

    private static synchronized Path prepared() {
        if (prepared == null) {
            Run r = exec(List.of("bash", root().resolve("tools/az-security-domain/build").toString()), null);
            if (r.exit() != 0) {
                throw new IllegalStateException("tools/az-security-domain/build failed (it needs python3 with pip, and PyPI on"
                        + " first use): " + r.err());
            }
            List<String> lines = r.out().lines().filter(l -> !l.isBlank()).toList();
            prepared = Path.of(lines.get(lines.size() - 1));
        }
        return prepared;
    }

    private static Run exec(List<String> command, Path dir) {
        try {
            Path out = Files.createTempFile("az-sd", ".out");
            Path err = Files.createTempFile("az-sd", ".err");
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
                if (dir != null) {
                    pb.directory(dir.toFile());
                }
                Process p = pb.start();
                p.getOutputStream().close();
                if (!p.waitFor(5, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(command + " took more than 5 min");
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

    private static String python() {
        String p = System.getenv("HSM_PYTHON");
        return p == null || p.isBlank() ? "python3" : p;
    }

    /** The project's root: the first directory upwards from the working directory (a module's) with mvnw and tools/. */
    private static Path root() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("mvnw")) && Files.isDirectory(p.resolve("tools"))) {
                return p;
            }
        }
        throw new IllegalStateException("no project root (mvnw and tools/) above " + Path.of("").toAbsolutePath());
    }
}
