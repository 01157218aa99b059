package io.hsmoperator.reconciler;

import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.rotation.IsoDuration;
import io.hsmoperator.rotation.RotationSchedule;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An HsmKey's spec in the terms of the {@link HsmKeys} port: the key and versions it asks for, what of a key it may never
 * change, the update that brings a key Azure holds to it, and whose that key is. Pure functions of the spec and of what
 * was observed, so that the reconciler only sequences them.
 */
final class KeySpecs {
    /** Tags the operator writes on versions; spec.tags may not use them. */
    private static final List<String> RESERVED_TAGS = List.of(Ownership.TAG, RotationSchedule.SCHEDULE_TAG, RotationSchedule.ROTATE_NOW_TAG);

    private KeySpecs() {
    }

    static String keyName(HsmKey cr) {
        return cr.getSpec().keyName != null ? cr.getSpec().keyName : cr.getMetadata().getName();
    }

    /** What the spec asks that Azure would refuse or ignore, as a message that says what to change; null when nothing. */
    static String validate(HsmKeySpec s) {
        // The CRD's own rules (required fields, sizes, combinations) were checked by SpecRules before this.
        for (String reserved : RESERVED_TAGS) {
            if (s.tags != null && s.tags.containsKey(reserved)) {
                return "The tag " + reserved + " is reserved for the operator's own records; remove it from spec.tags.";
            }
        }
        if (s.expiresAfter != null && IsoDuration.parse(s.expiresAfter) == null) {
            return "expiresAfter '" + s.expiresAfter + "' is not an ISO-8601 duration (for example P1Y or P90D).";
        }
        HsmKeySpec.Rotation r = s.rotation;
        if (r != null) {
            String invalid = r.every != null ? RotationSchedule.validateEvery(r.every, r.gracePeriod, s.expiresAfter)
                    : RotationSchedule.validateAzurePolicy(r.azurePolicy.timeAfterCreate, r.azurePolicy.timeBeforeExpiry,
                    r.azurePolicy.expiryTime, s.expiresAfter);
            if (invalid == null) {
                invalid = RotationSchedule.validateGrace(r.gracePeriod);
            }
            if (invalid != null) {
                return invalid;
            }
        }
        return null;
    }

    /**
     * The first version (current null) or a rotated one: the spec's parameters, expiry counted from now (its creation),
     * the given tags; what an adopted key's spec leaves unset follows the current version.
     */
    static HsmKeys.NewKey newVersion(HsmKeySpec s, Map<String, String> tags, HsmKeys.Key current, boolean adopted, Instant now) {
        return new HsmKeys.NewKey(kty(s), defaultSize(s), curve(s), wantOperations(s, current, adopted), Boolean.TRUE.equals(s.exportable),
                s.releasePolicy == null ? null : new HsmKeys.ReleasePolicy(s.releasePolicy.contentType, s.releasePolicy.data,
                        Boolean.TRUE.equals(s.releasePolicy.immutable)),
                wantEnabled(s, current, adopted), RotationSchedule.expiry(IsoDuration.parse(s.expiresAfter), now), tags);
    }

    /** The spec's tags and the ownership tag, for a new version. */
    static Map<String, String> tags(HsmKeySpec s, String owner) {
        Map<String, String> tags = new LinkedHashMap<>(s.tags == null ? Map.of() : s.tags);
        tags.put(Ownership.TAG, owner);
        return tags;
    }

    /** The spec's enabled; unset: enabled on a key this resource created, the key's own state on an adopted key. */
    private static boolean wantEnabled(HsmKeySpec s, HsmKeys.Key key, boolean adopted) {
        return s.enabled != null ? s.enabled : !adopted || key == null || key.enabled();
    }

    /** The spec's operations; unset: every operation of the type on a key this resource created, the key's own on an adopted key. */
    private static List<String> wantOperations(HsmKeySpec s, HsmKeys.Key key, boolean adopted) {
        boolean unset = s.operations == null || s.operations.isEmpty();
        return unset && adopted && key != null ? key.operations() : operations(s);
    }

    static String kty(HsmKeySpec s) {
        switch (s.keyType) {
            case RSA_HSM: return "RSA-HSM";
            case EC_HSM: return "EC-HSM";
            default: return "oct-HSM";
        }
    }

    private static Integer defaultSize(HsmKeySpec s) {
        if (s.keyType == HsmKeySpec.KeyType.EC_HSM) {
            return null;
        }
        return s.keySize != null ? s.keySize : s.keyType == HsmKeySpec.KeyType.RSA_HSM ? HsmKeySpec.DEFAULT_RSA_SIZE : HsmKeySpec.DEFAULT_OCT_SIZE;
    }

    private static String curve(HsmKeySpec s) {
        if (s.keyType != HsmKeySpec.KeyType.EC_HSM) {
            return null;
        }
        if (s.curve == null) {
            return HsmKeySpec.DEFAULT_CURVE;
        }
        switch (s.curve) {
            case P_384: return "P-384";
            case P_521: return "P-521";
            case P_256K: return "P-256K";
            default: return "P-256";
        }
    }

    /** The spec's operations, or every operation the key type supports. */
    static List<String> operations(HsmKeySpec s) {
        if (s.operations != null && !s.operations.isEmpty()) {
            List<String> out = new ArrayList<>();
            s.operations.forEach(o -> out.add(o.name()));
            return out;
        }
        switch (s.keyType) {
            case EC_HSM: return List.of("sign", "verify");
            case RSA_HSM: return List.of("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey");
            default: return List.of("encrypt", "decrypt", "wrapKey", "unwrapKey");
        }
    }

    static String immutableConflicts(HsmKeySpec s, HsmKeys.Key k) {
        String kty = kty(s);
        if (k.kty() != null && !k.kty().equalsIgnoreCase(kty)) {
            return "keyType is " + k.kty() + " in Azure, " + kty + " in spec";
        }
        if (s.keyType == HsmKeySpec.KeyType.RSA_HSM && k.keySize() != null && !k.keySize().equals(defaultSize(s))) {
            return "keySize is " + k.keySize() + " in Azure, " + defaultSize(s) + " in spec";
        }
        if (s.keyType == HsmKeySpec.KeyType.EC_HSM && k.curve() != null && !k.curve().equalsIgnoreCase(curve(s))) {
            return "curve is " + k.curve() + " in Azure, " + curve(s) + " in spec";
        }
        if (k.exportable() != Boolean.TRUE.equals(s.exportable)) {
            return "exportable is " + k.exportable() + " in Azure, " + s.exportable + " in spec";
        }
        return null;
    }

    /** The update that brings the current version to the spec, or null when it already matches. */
    static HsmKeys.Update drift(HsmKeySpec s, String owner, HsmKeys.Key key, List<String> managedTags, boolean adopted) {
        boolean wantEnabled = wantEnabled(s, key, adopted);
        Instant wantExpiry = s.expiresAfter == null || key.created() == null ? null : IsoDuration.parse(s.expiresAfter).addTo(key.created());
        // A minute of tolerance: the operator computes a new version's expiry from its own clock, Azure records its own.
        boolean expiryDiffers = wantExpiry != null && (key.expires() == null
                || Math.abs(ChronoUnit.SECONDS.between(key.expires(), wantExpiry)) > 60);
        List<String> wantOps = wantOperations(s, key, adopted);
        // Empty key_ops in Azure means unrestricted: write the wanted operations explicitly, unless they are the key's own.
        boolean opsDiffer = !new HashSet<>(wantOps).equals(new HashSet<>(key.operations()));
        // Tags others added, and the rotation marker of the version, stay; a tag leaves only if the operator wrote it.
        Map<String, String> wantTags = Ownership.tags(key.tags(), s.tags == null ? Map.of() : s.tags, owner, managedTags);
        boolean tagsDiffer = !wantTags.equals(key.tags());
        if (key.enabled() == wantEnabled && !expiryDiffers && !opsDiffer && !tagsDiffer) {
            return null;
        }
        // Operations always go explicitly: the SDK would send key_ops [] otherwise, clearing them.
        return new HsmKeys.Update(key.enabled() != wantEnabled ? wantEnabled : null, expiryDiffers ? wantExpiry : null, wantOps,
                tagsDiffer ? wantTags : null);
    }

    /** The properties an update changes, for the drift guard: operations only when they differ from Azure's. */
    static String fields(HsmKeys.Update u, HsmKeys.Key key) {
        List<String> what = new ArrayList<>();
        if (u.enabled() != null) {
            what.add("enabled");
        }
        if (u.expires() != null) {
            what.add("expiry");
        }
        if (u.tags() != null) {
            what.add("tags");
        }
        if (!new HashSet<>(u.operations()).equals(new HashSet<>(key.operations()))) {
            what.add("operations");
        }
        return String.join(", ", what);
    }

    static String describe(HsmKeys.Update u) {
        List<String> what = new ArrayList<>();
        if (u.enabled() != null) {
            what.add(u.enabled() ? "enabled" : "disabled");
        }
        if (u.expires() != null) {
            what.add("expiry");
        }
        if (u.tags() != null) {
            what.add("tags");
        }
        what.add("operations " + u.operations());
        return String.join(", ", what);
    }

    /**
     * Who owns the key: the ownership tag of the current version, or, when a version Azure rotated on its own carries no
     * tags, of the newest version that has one.
     */
    static String ownerOf(HsmKeys.Key key, List<HsmKeys.Version> versions) {
        String tagged = key.tags().get(Ownership.TAG);
        if (tagged != null || key.tags().size() > 0) {
            return tagged;
        }
        for (int i = versions.size() - 1; i >= 0; i--) {
            String t = versions.get(i).tags().get(Ownership.TAG);
            if (t != null) {
                return t;
            }
        }
        return null;
    }

    /**
     * Versions by creation time, the current one (Azure's newest) last among any created in the same second: Azure's
     * creation times are whole seconds, and a rotate-now can follow a create within one.
     */
    static List<HsmKeys.Version> oldestFirst(List<HsmKeys.Version> versions, String current) {
        List<HsmKeys.Version> out = new ArrayList<>(versions);
        out.sort(Comparator.comparing(HsmKeys.Version::created, Comparator.nullsFirst(Comparator.naturalOrder()))
                .thenComparing(v -> v.version().equals(current)));
        return out;
    }
}
