package io.hsmoperator.reconciler;

import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.rotation.IsoDuration;
import io.hsmoperator.rotation.RotationSchedule;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.hsmoperator.reconciler.Conditions.gen;

/**
 * The rotation step of an HsmKey: new versions when they fall due or are asked for, Azure's own rotation policy kept as
 * the spec says, old versions disabled after their grace period, and the Rotation condition. It acts and reports; when
 * to rotate and what to disable is {@link RotationSchedule}'s arithmetic alone.
 */
final class KeyRotation {
    private static final String POLICY = "rotation policy";
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;

    private final Ownership ownership;

    KeyRotation(HsmKeys keys, OperatorConfig config, Ownership ownership, Events events, Clock clock) {
        this.keys = keys;
        this.ownership = ownership;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /** The key after rotation: its current version, every version (oldest first), and when to look again. */
    record Rotated(HsmKeys.Key key, List<HsmKeys.Version> versions, Instant nextLook) {
    }

    /**
     * Operator-driven rotation (spec.rotation.every, the rotate-now annotation) creates at most one version per reconcile,
     * marked so that it is never made twice; Azure-driven rotation (spec.rotation.azurePolicy) keeps Azure's policy as the
     * spec says. Then versions beyond keepEnabledVersions are disabled once their grace period is over. Every decision
     * comes from {@link RotationSchedule}, over the versions Azure reports.
     */
    Rotated rotate(HsmKey cr, HsmKeyStatus st, String uri, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        HsmKeySpec.Rotation spec = cr.getSpec().rotation;
        String token = UpdateTriggers.token(cr);
        if (spec == null && token == null) {
            Conditions.remove(st, io.hsmoperator.api.common.Conditions.ROTATION);
            st.nextRotationTime = null;
            return new Rotated(key, versions, warnExpiry(cr, st, key, null));
        }
        String refused = null;
        if (token != null && token.length() > 200) {
            refused = "The " + io.hsmoperator.api.common.Conditions.ROTATE_NOW_ANNOTATION + " token is longer than 200 characters; it "
                    + "is stored as a tag on the new version. Use a shorter token.";
            token = null;
        }
        RotationSchedule.Policy policy = policy(spec);
        convergeAzurePolicy(cr, st, uri, key.name());
        Instant now = Instant.now(clock);
        RotationSchedule.Plan plan = RotationSchedule.plan(policy, schedule(versions), token, st.lastRotateNowToken, now);
        if (plan.rotate() != null) {
            RotationSchedule.Rotation r = plan.rotate();
            // Written first, so that a failed create leaves the condition saying a rotation is due.
            rotation(st, cr, "True", r.trigger() == RotationSchedule.Trigger.ROTATE_NOW ? Reason.RotateNowRequested : Reason.RotationInProgress,
                    "Creating a new version of " + key.name() + " for the " + r.describe() + ".");
            Map<String, String> tags = KeySpecs.tags(cr.getSpec(), ownership.tag(cr));
            tags.put(r.markerTag(), r.markerValue());
            HsmKeys.Created created = keys.create(uri, key.name(), KeySpecs.newVersion(cr.getSpec(), tags, key,
                    Boolean.TRUE.equals(st.adopted), Instant.now(clock)));
            events.mutation(cr, "KeyRotated", "Created version " + created.key().version() + " of key " + key.name() + " ("
                    + r.describe() + ")", created.mutation());
            key = created.key();
            versions = new ArrayList<>(versions);
            versions.add(HsmKeys.Version.of(key));
            plan = RotationSchedule.plan(policy, schedule(versions), token, st.lastRotateNowToken, now);
        }
        if (!plan.disable().isEmpty()) {
            versions = disable(cr, uri, key.name(), versions, plan.disable(), spec);
        }
        st.lastRotateNowToken = plan.tokenHandled() != null ? plan.tokenHandled() : st.lastRotateNowToken;
        st.nextRotationTime = plan.nextRotation() == null ? null : plan.nextRotation().toString();
        if (refused != null) {
            rotation(st, cr, "False", Reason.InvalidSpec, refused);
        } else if (plan.limit() != null) {
            rotation(st, cr, "True", Reason.VersionLimitApproaching, plan.limit());
        } else if (spec != null && spec.azurePolicy != null) {
            rotation(st, cr, "False", Reason.AzureRotationPolicy, "Azure rotates this key by its rotation policy"
                    + (plan.nextRotation() == null ? "." : "; the next rotation is due at " + plan.nextRotation() + "."));
        } else if (spec != null) {
            rotation(st, cr, "False", Reason.RotationScheduled, "The next rotation is due at " + plan.nextRotation() + ".");
        } else {
            rotation(st, cr, "False", Reason.OnDemandOnly, "The key rotates only when the "
                    + io.hsmoperator.api.common.Conditions.ROTATE_NOW_ANNOTATION + " annotation gets a new token.");
        }
        // A rotation withheld at the version limit replaces nothing.
        Instant warnFrom = warnExpiry(cr, st, key, plan.limit() == null ? plan.nextRotation() : null);
        return new Rotated(key, versions, RotationSchedule.earliest(plan.limit() == null ? plan.nextLook() : null, warnFrom));
    }

    /**
     * The ExpiryWarning condition, and the ExpiryBeforeRotation event once when it turns True: the current version expires
     * within hsm.warnings.key-expiring-within and no rotation replaces it first. Ready stays as it is; the key works
     * until it expires. Returns when to look again because the warning's window opens then, or null.
     */
    private Instant warnExpiry(HsmKey cr, HsmKeyStatus st, HsmKeys.Key key, Instant nextRotation) {
        String type = io.hsmoperator.api.common.Conditions.EXPIRY_WARNING;
        Instant now = Instant.now(clock);
        java.time.Duration within = config.warnings().keyExpiringWithin();
        Instant expires = RotationSchedule.expiresUnreplaced(key.expires(), nextRotation, within, now);
        if (expires == null) {
            Conditions.remove(st, type);
            return RotationSchedule.expiryWarningFrom(key.expires(), within, now);
        }
        String message = "Version " + key.version() + " of key " + key.name() + (expires.isAfter(now) ? " expires at " : " expired at ")
                + expires + (nextRotation == null ? " and nothing rotates the key" : " and the next rotation is due only at "
                + nextRotation) + ": Azure refuses to sign, encrypt or wrap with an expired version. Set spec.rotation.every "
                + "shorter than expiresAfter, annotate " + io.hsmoperator.api.common.Conditions.ROTATE_NOW_ANNOTATION
                + "=<a new token> to rotate now, or extend expiresAfter.";
        if (!Conditions.isTrue(st, type)) {
            events.warning(cr, Reason.ExpiryBeforeRotation.name(), message);
        }
        Conditions.set(st, type, "True", Reason.ExpiryBeforeRotation, message, gen(cr), clock);
        return null;
    }

    private static RotationSchedule.Policy policy(HsmKeySpec.Rotation spec) {
        if (spec == null) {
            // rotate-now only: nothing is scheduled and nothing is disabled
            return RotationSchedule.Policy.operatorDriven(null, Integer.MAX_VALUE, IsoDuration.parse("P7D"));
        }
        int keep = spec.keepEnabledVersions == null ? 2 : spec.keepEnabledVersions;
        IsoDuration grace = IsoDuration.parse(spec.gracePeriod == null ? "P7D" : spec.gracePeriod);
        if (spec.azurePolicy != null) {
            return RotationSchedule.Policy.azureDriven(IsoDuration.parse(spec.azurePolicy.timeAfterCreate),
                    IsoDuration.parse(spec.azurePolicy.timeBeforeExpiry), keep, grace);
        }
        return RotationSchedule.Policy.operatorDriven(IsoDuration.parse(spec.every), keep, grace);
    }

    private static List<RotationSchedule.Version> schedule(List<HsmKeys.Version> versions) {
        List<RotationSchedule.Version> out = new ArrayList<>();
        versions.forEach(v -> out.add(new RotationSchedule.Version(v.version(), v.created(), v.expires(), v.enabled(), v.tags())));
        return out;
    }

    /**
     * Azure-driven rotation: Azure's policy equals spec.rotation.azurePolicy. When the spec moves from azurePolicy to
     * operator-driven rotation, the policy is cleared, so that the key is not rotated twice.
     */
    private void convergeAzurePolicy(HsmKey cr, HsmKeyStatus st, String uri, String name) {
        HsmKeySpec.Rotation spec = cr.getSpec().rotation;
        var previous = Conditions.get(st, io.hsmoperator.api.common.Conditions.ROTATION);
        boolean wasAzure = previous != null && Reason.AzureRotationPolicy.name().equals(previous.getReason());
        HsmKeys.RotationPolicy want;
        if (spec != null && spec.azurePolicy != null) {
            want = new HsmKeys.RotationPolicy(spec.azurePolicy.timeAfterCreate, spec.azurePolicy.timeBeforeExpiry, spec.azurePolicy.expiryTime);
        } else if (wasAzure) {
            want = new HsmKeys.RotationPolicy(null, null, null);
        } else {
            return;
        }
        HsmKeys.RotationPolicy have = keys.rotationPolicy(uri, name).orElse(new HsmKeys.RotationPolicy(null, null, null));
        if (same(have.timeAfterCreate(), want.timeAfterCreate()) && same(have.timeBeforeExpiry(), want.timeBeforeExpiry())
                && same(have.expiryTime(), want.expiryTime())) {
            st.lastPolicyUpdate = null;
            return;
        }
        // A read of the policy may predate the operator's last PUT of it: the drift guard tells by Azure's updated time.
        if (!DriftGuard.mayWrite(st.lastPolicyUpdate, POLICY, "key " + name, have.updated(), gen(cr), Instant.now(clock), events, cr)) {
            return;
        }
        Mutation m = keys.setRotationPolicy(uri, name, want);
        st.lastPolicyUpdate = DriftGuard.sent(st.lastPolicyUpdate, POLICY, have.updated(), gen(cr), Instant.now(clock));
        events.mutation(cr, "RotationPolicySet", want.isEmpty() ? "Cleared the Azure rotation policy of key " + name
                + " (the operator rotates it now)" : "Set the Azure rotation policy of key " + name + " to rotate "
                + (want.timeAfterCreate() != null ? want.timeAfterCreate() + " after creation" : want.timeBeforeExpiry() + " before expiry")
                + (want.expiryTime() == null ? "" : ", versions expiring after " + want.expiryTime()), m);
    }

    private static boolean same(String a, String b) {
        return a == null ? b == null : a.equalsIgnoreCase(b);
    }

    /** Disables each named version, leaving its other attributes as they are; returns the versions as they now are. */
    private List<HsmKeys.Version> disable(HsmKey cr, String uri, String name, List<HsmKeys.Version> versions, List<String> disable,
                                          HsmKeySpec.Rotation spec) {
        List<HsmKeys.Version> out = new ArrayList<>();
        for (HsmKeys.Version v : versions) {
            if (!disable.contains(v.version())) {
                out.add(v);
                continue;
            }
            HsmKeys.Key k = keys.getVersion(uri, name, v.version());
            Mutation m = keys.update(uri, name, v.version(), new HsmKeys.Update(false, null, k.operations(), null));
            events.mutation(cr, "KeyVersionDisabled", "Disabled version " + v.version() + " of key " + name + ": beyond the "
                    + spec.keepEnabledVersions + " newest versions for longer than the grace period " + spec.gracePeriod
                    + "; it is kept, never deleted", m);
            out.add(new HsmKeys.Version(v.id(), v.version(), false, v.created(), v.expires(), v.tags()));
        }
        return out;
    }

    private void rotation(HsmKeyStatus st, HsmKey cr, String status, Reason reason, String message) {
        Conditions.set(st, io.hsmoperator.api.common.Conditions.ROTATION, status, reason, message, gen(cr), clock);
    }
}
