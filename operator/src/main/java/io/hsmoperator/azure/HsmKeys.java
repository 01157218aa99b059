package io.hsmoperator.azure;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Keys in a Managed HSM: what the HsmKey reconciler reads and writes. Nothing here can purge. */
public interface HsmKeys {
    /**
     * Keys a Managed HSM holds at most: "5000 keys per HSM" (Microsoft Learn, key-vault-limits.md, Managed HSM object
     * limits; docs/shared reference azure-managed-hsm.md G.1). Azure refuses to create more.
     */
    int KEYS_PER_HSM = 5000;

    /** The newest version; empty when the key does not exist (it may be soft-deleted). */
    Optional<Key> get(String hsmUri, String name);

    /** One version (for its public key). */
    Key getVersion(String hsmUri, String name, String version);

    /** Every version, oldest first. */
    List<Version> versions(String hsmUri, String name);

    /**
     * Every key of the HSM as a listing shows it: the current version's attributes and tags, never its operations or
     * older versions. Azure answers about ten keys a page.
     */
    List<Listed> list(String hsmUri);

    Optional<Deleted> getDeleted(String hsmUri, String name);

    /** Creates a key, or a new version of it. Not idempotent: callers look for their marker tag before calling again. */
    Created create(String hsmUri, String name, NewKey key);

    /** Updates the mutable attributes of one version; null fields are left as they are. */
    Mutation update(String hsmUri, String name, String version, Update update);

    /** Soft-deletes the key (recoverable for the HSM's retention). */
    Mutation delete(String hsmUri, String name);

    Mutation recover(String hsmUri, String name);

    Optional<RotationPolicy> rotationPolicy(String hsmUri, String name);

    Mutation setRotationPolicy(String hsmUri, String name, RotationPolicy policy);

    /** A version with its public key ({@code jwk}: kty, n/e or crv/x/y, base64url) and attributes. */
    record Key(String id, String name, String version, String kty, Integer keySize, String curve, List<String> operations,
               boolean enabled, Instant created, Instant expires, Map<String, String> tags, boolean exportable, Map<String, String> jwk,
               Instant updated) {
    }

    record Version(String id, String version, boolean enabled, Instant created, Instant expires, Map<String, String> tags) {
        /** The version a full read or a create's answer shows. */
        public static Version of(Key key) {
            return new Version(key.id(), key.version(), key.enabled(), key.created(), key.expires(), key.tags());
        }
    }

    /** What a listing shows of a key. {@link #of} takes the same fields from a full read, so that the two compare. */
    record Listed(String name, boolean enabled, Instant created, Instant updated, Instant expires, Map<String, String> tags) {
        public static Listed of(Key key) {
            return new Listed(key.name(), key.enabled(), key.created(), key.updated(), key.expires(), key.tags() == null ? Map.of() : key.tags());
        }
    }

    record Deleted(String name, String recoveryId, Instant deletedOn, Instant scheduledPurge, Map<String, String> tags) {
    }

    record ReleasePolicy(String contentType, String data, boolean immutable) {
    }

    record NewKey(String kty, Integer keySize, String curve, List<String> operations, boolean exportable, ReleasePolicy releasePolicy,
                  boolean enabled, Instant expires, Map<String, String> tags) {
    }

    record Update(Boolean enabled, Instant expires, List<String> operations, Map<String, String> tags) {
    }

    record Created(Key key, Mutation mutation) {
    }

    /** Azure's rotation policy: one Rotate action by timeAfterCreate or timeBeforeExpiry, and the new versions' expiry. */
    /** {@code updated}: when Azure last changed the policy, as it reports it (null in a policy to set). */
    record RotationPolicy(String timeAfterCreate, String timeBeforeExpiry, String expiryTime, String updated) {
        public RotationPolicy(String timeAfterCreate, String timeBeforeExpiry, String expiryTime) {
            this(timeAfterCreate, timeBeforeExpiry, expiryTime, null);
        }

        public boolean isEmpty() {
            return timeAfterCreate == null && timeBeforeExpiry == null && expiryTime == null;
        }
    }
}
