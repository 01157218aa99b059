package io.hsmoperator.reconciler;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hsmoperator.azure.OperatorConfig;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Security domains downloaded and not yet stored in their Secret, kept on local disk ({@code hsm.security-domain.spool-dir})
 * as Azure sent them, encrypted to the officers' certificates. Azure answers a download once with the blob and activates
 * the HSM; the Secret write that follows can fail, hang on an unreachable API server, or be cut short when the process
 * halts on losing its lease. Whatever is in the spool survives that and is stored when the process runs again.
 *
 * <p>One file per HSM (its resource ID and creation time), readable by the operator's user only (0600, in a 0700
 * directory), written to a temporary name, flushed and moved into place, so a file is either whole or absent.
 */
@Singleton
public class SecurityDomainSpool {
    private static final Logger LOG = Logger.getLogger(SecurityDomainSpool.class);
    private static final ObjectMapper JSON = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final String SUFFIX = ".json";
    private static final Object IN_FLIGHT_LOCK = new Object();
    private static int inFlight;

    private final Path dir;
    /** What could not be written to disk (a full or read-only volume): held here, which is all there is of it. */
    private final Map<String, Entry> unwritten = new ConcurrentHashMap<>();

    @jakarta.inject.Inject
    public SecurityDomainSpool(OperatorConfig config) {
        this(Path.of(config.securityDomain().spoolDir()));
    }

    SecurityDomainSpool(Path dir) {
        this.dir = dir.toAbsolutePath();
    }

    /**
     * A downloaded security domain and where it goes: the HSM it belongs to (resource ID and ARM creation time), the
     * ManagedHsm that downloaded it and its Secret, the officers' count and quorum, and the annotation token that asked
     * for it (null for the activation). Its toString never shows the blob.
     */
    public record Entry(String hsmResourceId, String hsmCreatedAt, String namespace, String managedHsm, String secret, int quorum,
                        int officers, String downloadedAt, String token, String blob) {
        @Override
        public String toString() {
            return "security domain of " + hsmResourceId + " (created " + hsmCreatedAt + ") for Secret " + namespace + "/" + secret
                    + ", downloaded at " + downloadedAt;
        }
    }

    public Path directory() {
        return dir;
    }

    /** Writes the entry to disk, durably, before returning; if that fails it is still held in memory, and this throws. */
    public void put(Entry e) throws IOException {
        String name = fileName(e.hsmResourceId(), e.hsmCreatedAt());
        unwritten.put(name, e);
        Files.createDirectories(dir, ownerOnly("rwx------"));
        Path tmp = Files.createTempFile(dir, ".partial-", ".tmp", ownerOnly("rw-------"));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(JSON.writeValueAsBytes(e)));
                ch.force(true);
            }
            try {
                Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException notAtomic) {
                Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory();
        } finally {
            Files.deleteIfExists(tmp);
        }
        unwritten.remove(name);
    }

    /** The spooled security domain of this HSM, if any. */
    public Optional<Entry> get(String hsmResourceId, String hsmCreatedAt) {
        String name = fileName(hsmResourceId, hsmCreatedAt);
        Entry held = unwritten.get(name);
        if (held != null) {
            return Optional.of(held);
        }
        return read(dir.resolve(name));
    }

    /** Everything spooled, oldest first by name order (unordered in practice: there is rarely more than one). */
    public List<Entry> all() {
        List<Entry> out = new ArrayList<>(unwritten.values());
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(p -> p.getFileName().toString().endsWith(SUFFIX)).sorted().forEach(p -> read(p)
                    .filter(e -> !unwritten.containsKey(p.getFileName().toString())).ifPresent(out::add));
        } catch (IOException e) {
            LOG.errorf("The security-domain spool %s cannot be listed: %s", dir, e.toString());
        }
        return out;
    }

    /** Only once its Secret holds it. */
    public void remove(Entry e) throws IOException {
        String name = fileName(e.hsmResourceId(), e.hsmCreatedAt());
        Files.deleteIfExists(dir.resolve(name));
        syncDirectory();
        unwritten.remove(name);
    }

    private Optional<Entry> read(Path file) {
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(Files.readAllBytes(file), Entry.class));
        } catch (IOException e) {
            // Never quote the file: it holds the blob.
            LOG.errorf("The spooled security domain %s cannot be read (%s); it is left in place for an administrator",
                    file, e.getClass().getSimpleName());
            return Optional.empty();
        }
    }

    private void syncDirectory() {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not every file system lets a directory be opened; the rename is then as durable as it gets.
        }
    }

    private static java.nio.file.attribute.FileAttribute<?>[] ownerOnly(String perms) {
        return FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
                ? new java.nio.file.attribute.FileAttribute<?>[]{PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(perms))}
                : new java.nio.file.attribute.FileAttribute<?>[0];
    }

    /** One HSM, one file: the resource ID alone would also name an earlier HSM of the same name. */
    static String fileName(String hsmResourceId, String hsmCreatedAt) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest((hsmResourceId.toLowerCase(Locale.ROOT) + "\n"
                    + (hsmCreatedAt == null ? "" : hsmCreatedAt)).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 16) + SUFFIX;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- downloads in flight -------------------------------------------------------------------

    /** A download is about to be sent: until {@link #downloadSettled()}, its blob exists only in this process. */
    static void downloadStarted() {
        synchronized (IN_FLIGHT_LOCK) {
            inFlight++;
        }
    }

    /** The download failed, or its blob is spooled. */
    static void downloadSettled() {
        synchronized (IN_FLIGHT_LOCK) {
            inFlight--;
            IN_FLIGHT_LOCK.notifyAll();
        }
    }

    /**
     * Waits, at most {@code max}, until no download's answer is on its way to the spool; true when none is. A process
     * about to halt calls this first: halting while Azure answers a download loses the only copy of the security domain
     * of an HSM that Azure then activates.
     */
    public static boolean awaitNoDownloadInFlight(Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        synchronized (IN_FLIGHT_LOCK) {
            while (inFlight > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    IN_FLIGHT_LOCK.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return inFlight == 0;
                }
            }
            return true;
        }
    }

    static int downloadsInFlight() {
        synchronized (IN_FLIGHT_LOCK) {
            return inFlight;
        }
    }
}
