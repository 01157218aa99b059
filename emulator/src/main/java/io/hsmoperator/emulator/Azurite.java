package io.hsmoperator.emulator;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Azurite, the Azure Storage emulator, run as its own Node.js process: the real Blob service the emulated HSMs write their
 * backups to and the operator lists and prunes. Pinned by the package-lock.json beside this class (npm ci, into
 * ~/.cache/hsm-operator/azurite/, once per machine), served over HTTPS on loopback with a certificate from the emulator's
 * CA, and told to accept bearer tokens ({@code --oauth basic}). Storage accounts are path-style:
 * https://127.0.0.1:PORT/{account}/{container}.
 */
public final class Azurite implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Azurite.class.getName());
    private static final Pattern LISTENING = Pattern.compile("Blob service successfully listens on (https://\\S+)");

    /** A storage account and its key (Shared Key; SAS tokens are signed with it). */
    public record Account(String name, String key) {
        @Override
        public String toString() {
            return "Account[" + name + "]";
        }
    }

    private final Process process;
    private final String endpoint;
    private final Map<String, Account> accounts;
    private final Path workDir;

    private Azurite(Process process, String endpoint, Map<String, Account> accounts, Path workDir) {
        this.process = process;
        this.endpoint = endpoint;
        this.accounts = accounts;
        this.workDir = workDir;
    }

    /**
     * Starts Azurite's Blob service with {@code accountNames} (each with a fresh random key), its certificate issued by
     * {@code emulator}'s CA, and tells the emulator to write backups to it. {@code dataDir}: where Azurite keeps its blobs
     * (kept across restarts); null keeps them in memory.
     */
    public static Azurite start(Emulator emulator, List<String> accountNames, Path dataDir) {
        try {
            Path installed = install();
            Path work = Files.createTempDirectory("azurite");
            Tls.Issued cert = emulator.issueServerCertificate(List.of("127.0.0.1", "localhost"));
            Files.writeString(work.resolve("cert.pem"), cert.certificatePem());
            Tls.writePrivate(work.resolve("key.pem"), cert.privateKeyPem());
            Map<String, Account> accounts = new LinkedHashMap<>();
            SecureRandom random = new SecureRandom();
            for (String name : accountNames) {
                byte[] key = new byte[64];
                random.nextBytes(key);
                accounts.put(name, new Account(name, Base64.getEncoder().encodeToString(key)));
            }
            List<String> command = new ArrayList<>(List.of("node", installed.resolve("node_modules/azurite/dist/src/blob/main.js").toString(),
                    "--blobHost", "127.0.0.1", "--blobPort", "0", "--cert", work.resolve("cert.pem").toString(),
                    "--key", work.resolve("key.pem").toString(), "--oauth", "basic", "--silent", "--loose",
                    "--skipApiVersionCheck", "--disableTelemetry"));
            if (dataDir == null) {
                command.addAll(List.of("--inMemoryPersistence", "--extentMemoryLimit", "256"));
            } else {
                Files.createDirectories(dataDir);
                command.addAll(List.of("--location", dataDir.toString()));
            }
            ProcessBuilder pb = new ProcessBuilder(command).directory(work.toFile()).redirectErrorStream(true);
            StringBuilder accountsEnv = new StringBuilder();
            accounts.values().forEach(a -> accountsEnv.append(a.name()).append(':').append(a.key()).append(';'));
            pb.environment().put("AZURITE_ACCOUNTS", accountsEnv.toString());
            Process p = pb.start();
            String endpoint = awaitListening(p, Duration.ofSeconds(60));
            Azurite azurite = new Azurite(p, endpoint, accounts, work);
            emulator.useBlobStorage(endpoint);
            LOG.log(System.Logger.Level.INFO, "Azurite serves blob storage at " + endpoint + " (accounts " + accounts.keySet() + ")");
            return azurite;
        } catch (IOException e) {
            throw new UncheckedIOException("Azurite could not start: " + e.getMessage(), e);
        }
    }

    /** The Blob service's URL: https://127.0.0.1:PORT (accounts path-style below it). */
    public String endpoint() {
        return endpoint;
    }

    /** https://127.0.0.1:PORT/{account}: what the Azure Storage SDK takes as a service endpoint. */
    public String accountUrl(String account) {
        return endpoint + "/" + account(account).name();
    }

    public Account account(String name) {
        Account a = accounts.get(name);
        if (a == null) {
            throw new IllegalArgumentException("Azurite has no account " + name + " (it has " + accounts.keySet() + ")");
        }
        return a;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        try (var files = Files.walk(workDir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // a temporary directory left behind
        }
    }

    /** Reads Azurite's output until it says where it listens, then keeps draining it so the process never blocks. */
    private static String awaitListening(Process p, Duration timeout) throws IOException {
        CompletableFuture<String> found = new CompletableFuture<>();
        List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread reader = new Thread(() -> drain(p.getInputStream(), lines, found), "azurite-output");
        reader.setDaemon(true);
        reader.start();
        try {
            return found.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IOException("Azurite did not start within " + timeout.toSeconds() + " s; it printed: " + String.join("\n", lines));
        }
    }

    private static void drain(InputStream in, List<String> lines, CompletableFuture<String> found) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (!found.isDone()) {
                    lines.add(line);
                    Matcher m = LISTENING.matcher(line);
                    if (m.find()) {
                        found.complete(m.group(1));
                    }
                } else {
                    LOG.log(System.Logger.Level.DEBUG, "azurite: " + line);
                }
            }
        } catch (IOException e) {
            // the process ended
        } finally {
            found.completeExceptionally(new IOException("Azurite exited"));
        }
    }

    /**
     * The pinned Azurite, installed with npm ci from the package-lock.json beside this class into a directory named by
     * the lock's hash, once per machine; concurrent JVMs wait for each other on a file lock.
     */
    static Path install() throws IOException {
        byte[] packageJson = resource("package.json");
        byte[] lock = resource("package-lock.json");
        String hash;
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(packageJson);
            hash = HexFormat.of().formatHex(sha.digest(lock)).substring(0, 12);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "hsm-operator", "azurite");
        Path dir = cache.resolve(hash);
        if (Files.exists(dir.resolve(".installed"))) {
            return dir;
        }
        Files.createDirectories(cache);
        try (FileChannel ch = FileChannel.open(cache.resolve(hash + ".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = ch.lock()) {
            if (Files.exists(dir.resolve(".installed"))) {
                return dir;
            }
            Path tmp = Files.createTempDirectory(cache, hash + ".tmp");
            Files.write(tmp.resolve("package.json"), packageJson);
            Files.write(tmp.resolve("package-lock.json"), lock);
            LOG.log(System.Logger.Level.INFO, "Installing Azurite (npm ci) into " + dir);
            Process npm = new ProcessBuilder("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
                    .directory(tmp.toFile()).redirectErrorStream(true).start();
            String out = new String(npm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (npm.waitFor() != 0) {
                throw new IOException("npm ci for Azurite failed:\n" + out);
            }
            Files.writeString(tmp.resolve(".installed"), hash);
            if (Files.exists(dir)) {
                try (var files = Files.walk(dir)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                }
            }
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            return dir;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while installing Azurite", e);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("Cannot run program \"npm\"")) {
                throw new IOException("Azurite needs Node.js and npm on the PATH (Debian: apt-get install nodejs npm)", e);
            }
            throw e;
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = Azurite.class.getResourceAsStream("azurite/" + name)) {
            if (in == null) {
                throw new IOException("azurite/" + name + " is missing from the emulator's resources");
            }
            return in.readAllBytes();
        }
    }
}
