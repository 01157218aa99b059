package io.hsmoperator.rotation;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * All rotation arithmetic, as pure functions of the versions Azure reports and the time: whether a new version is due
 * (and the marker it must carry), which superseded versions to disable, and when to look again. Nothing here is
 * remembered between calls, so a restart of the operator changes no decision.
 *
 * <p>Due-ness: a scheduled rotation is due when the newest version is {@code every} old. After downtime of several
 * periods the newest version is simply old, so the operator rotates once, not once per missed period.
 *
 * <p>Exactly once: each new version carries a marker tag — {@link #SCHEDULE_TAG} with the instant the rotation fell due,
 * or {@link #ROTATE_NOW_TAG} with the rotate-now token — and a rotation whose marker any version already carries is not
 * made again. A version whose create Azure committed but whose answer was lost is therefore found, not duplicated.
 */
public final class RotationSchedule {
    /** Versions a Managed HSM key may have. */
    public static final int VERSION_LIMIT = 100;
    /** Versions kept free for rotate-now: scheduled rotation stops at {@code VERSION_LIMIT - RESERVED_FOR_ROTATE_NOW}. */
    public static final int RESERVED_FOR_ROTATE_NOW = 5;
    public static final String SCHEDULE_TAG = "hsmoperator.io-rotation-due";
    public static final String ROTATE_NOW_TAG = "hsmoperator.io-rotate-now";
    /** Managed HSM refuses rotation policies shorter than this. */
    public static final Duration AZURE_POLICY_MINIMUM = Duration.ofDays(28);
    public static final Duration SHORTEST_PERIOD = Duration.ofDays(1);

    private RotationSchedule() {
    }

    /** What the schedule needs of one version. */
    public record Version(String version, Instant created, Instant expires, boolean enabled, Map<String, String> tags) {
    }

    /**
     * The rotation settings: {@code every} for operator-driven rotation (null otherwise), how many newest versions stay
     * enabled and how long a version pushed beyond them stays enabled, and, for Azure-driven rotation, its policy.
     */
    public record Policy(IsoDuration every, int keepEnabledVersions, IsoDuration gracePeriod, IsoDuration azureAfterCreate,
                         IsoDuration azureBeforeExpiry) {
        public static Policy operatorDriven(IsoDuration every, int keep, IsoDuration grace) {
            return new Policy(every, keep, grace, null, null);
        }

        public static Policy azureDriven(IsoDuration afterCreate, IsoDuration beforeExpiry, int keep, IsoDuration grace) {
            return new Policy(null, keep, grace, afterCreate, beforeExpiry);
        }
    }

    public enum Trigger { SCHEDULE, ROTATE_NOW }

    /** A new version to create, with the marker tag it must carry. */
    public record Rotation(Trigger trigger, String markerTag, String markerValue) {
        public String describe() {
            return trigger == Trigger.SCHEDULE ? "scheduled rotation due at " + markerValue : "rotate-now token '" + markerValue + "'";
        }
    }

    /**
     * The decision. {@code rotate}: the one version to create now, or null. {@code disable}: versions to disable now.
     * {@code nextRotation}: when the next scheduled (or Azure) rotation is due. {@code nextLook}: the earliest instant
     * anything changes (rotation or a grace period ending). {@code tokenHandled}: the rotate-now token a version already
     * carries. {@code limit}: why a due rotation is withheld near the version limit, or null.
     */
    public record Plan(Rotation rotate, List<String> disable, Instant nextRotation, Instant nextLook, String tokenHandled, String limit) {
    }

    /**
     * The decision for {@code versions}, oldest first. Azure records creation times in whole seconds, so two versions can
     * share one: among equal times, the later in the list is taken as the newer (callers put the current version last).
     */
    public static Plan plan(Policy policy, List<Version> versions, String rotateNowToken, Instant now) {
        return plan(policy, versions, rotateNowToken, null, now);
    }

    /**
     * As {@link #plan(Policy, List, String, Instant)}, where {@code tokenHandledBefore} is the token the resource's status
     * records as handled: it stays handled even when no version carries it any more (a restore of an older backup took
     * that version away), so a token never rotates twice.
     */
    public static Plan plan(Policy policy, List<Version> versions, String rotateNowToken, String tokenHandledBefore, Instant now) {
        List<Version> newestFirst = new ArrayList<>(versions);
        java.util.Collections.reverse(newestFirst);
        // a stable sort: versions created in the same second keep their (reversed) order
        newestFirst.sort(Comparator.comparing(Version::created, Comparator.nullsFirst(Comparator.naturalOrder())).reversed());
        Version current = newestFirst.isEmpty() ? null : newestFirst.get(0);
        int count = newestFirst.size();

        Rotation rotate = null;
        String limit = null;
        String tokenHandled = null;
        if (rotateNowToken != null && !rotateNowToken.isBlank()) {
            if (rotateNowToken.equals(tokenHandledBefore) || carries(newestFirst, ROTATE_NOW_TAG, rotateNowToken)) {
                tokenHandled = rotateNowToken;
            } else if (count >= VERSION_LIMIT) {
                limit = "The key has " + count + " versions, the most Managed HSM allows: rotate-now token '" + rotateNowToken
                        + "' cannot be honoured. Move to a new HsmKey (a new key name).";
            } else {
                rotate = new Rotation(Trigger.ROTATE_NOW, ROTATE_NOW_TAG, rotateNowToken);
            }
        }

        Instant nextRotation = nextRotation(policy, current);
        if (rotate == null && policy.every() != null && current != null && !now.isBefore(nextRotation)) {
            String slot = nextRotation.toString();
            if (count >= VERSION_LIMIT - RESERVED_FOR_ROTATE_NOW) {
                limit = limit != null ? limit : "The key has " + count + " versions; Managed HSM allows " + VERSION_LIMIT + ". Scheduled rotation has stopped "
                        + "(the last " + RESERVED_FOR_ROTATE_NOW + " are kept for rotate-now). Move to a new HsmKey (a new key name).";
            } else if (!carries(newestFirst, SCHEDULE_TAG, slot)) {
                rotate = new Rotation(Trigger.SCHEDULE, SCHEDULE_TAG, slot);
            }
        }

        List<String> disable = new ArrayList<>();
        Instant nextLook = nextRotation;
        int keep = Math.max(1, policy.keepEnabledVersions());
        for (int i = keep; i < newestFirst.size(); i++) {
            Version v = newestFirst.get(i);
            if (!v.enabled()) {
                continue;
            }
            // It left the enabled window when the version `keep` places newer was created; the grace period runs from then.
            Instant pushedOut = newestFirst.get(i - keep).created();
            Instant disableAt = pushedOut == null ? now : policy.gracePeriod().addTo(pushedOut);
            if (!now.isBefore(disableAt)) {
                disable.add(v.version());
            } else {
                nextLook = earliest(nextLook, disableAt);
            }
        }
        return new Plan(rotate, disable, nextRotation, nextLook, tokenHandled, limit);
    }

    /** When the newest version falls due: by {@code every}, or by Azure's policy; null when nothing rotates the key. */
    public static Instant nextRotation(Policy policy, Version current) {
        if (current == null || current.created() == null) {
            return null;
        }
        if (policy.every() != null) {
            return policy.every().addTo(current.created());
        }
        if (policy.azureAfterCreate() != null) {
            return policy.azureAfterCreate().addTo(current.created());
        }
        if (policy.azureBeforeExpiry() != null && current.expires() != null) {
            return policy.azureBeforeExpiry().subtractFrom(current.expires());
        }
        return null;
    }

    /**
     * Whether the current version expires, within {@code warnWithin} of {@code now} (or already has), with nothing that
     * would replace it first: no rotation scheduled ({@code nextRotation} null: no rotation, rotate-now only, or rotation
     * withheld at the version limit), or the next one due only at or after the expiry. Null when the key never expires,
     * expires later than the window, or rotates before it expires; otherwise the expiry.
     */
    public static Instant expiresUnreplaced(Instant expires, Instant nextRotation, Duration warnWithin, Instant now) {
        if (expires == null || expires.isAfter(now.plus(warnWithin))) {
            return null;
        }
        return nextRotation != null && nextRotation.isBefore(expires) ? null : expires;
    }

    /** When {@link #expiresUnreplaced} may first warn about a version expiring at {@code expires}: a time to look again. */
    public static Instant expiryWarningFrom(Instant expires, Duration warnWithin, Instant now) {
        return expires == null || !expires.minus(warnWithin).isAfter(now) ? null : expires.minus(warnWithin);
    }

    /** The expiry of a version created at {@code created}: each version's expiry counts from its own creation. */
    public static Instant expiry(IsoDuration expiresAfter, Instant created) {
        return expiresAfter == null ? null : expiresAfter.addTo(created);
    }

    /**
     * Checks operator-driven settings before anything is sent: a parseable period of at least a day, a grace period, and
     * a period not longer than the versions' expiry (a version would expire before its successor exists).
     */
    public static String validateEvery(String every, String gracePeriod, String expiresAfter) {
        IsoDuration e = IsoDuration.parse(every);
        if (e == null) {
            return "rotation.every '" + every + "' is not an ISO-8601 duration (for example P90D or P1Y).";
        }
        if (e.atLeast().compareTo(SHORTEST_PERIOD) < 0) {
            return "rotation.every " + every + " is shorter than a day; rotate at most daily.";
        }
        String g = validateGrace(gracePeriod);
        if (g != null) {
            return g;
        }
        IsoDuration x = IsoDuration.parse(expiresAfter);
        if (x != null && e.atMost().compareTo(x.atLeast()) > 0) {
            return "rotation.every " + every + " is longer than expiresAfter " + expiresAfter + ": each version would expire before "
                    + "the next one exists. Rotate more often than versions expire.";
        }
        return null;
    }

    public static String validateGrace(String gracePeriod) {
        if (gracePeriod != null && IsoDuration.parse(gracePeriod) == null) {
            return "rotation.gracePeriod '" + gracePeriod + "' is not an ISO-8601 duration (for example P7D).";
        }
        return null;
    }

    /**
     * Checks an Azure rotation policy against the Managed HSM rules before it is sent: exactly one trigger, every
     * duration at least 28 days, a rotation before expiry that leaves 28 days, and no expiryTime that disagrees with
     * expiresAfter (both would set each version's expiry).
     */
    public static String validateAzurePolicy(String timeAfterCreate, String timeBeforeExpiry, String expiryTime, String expiresAfter) {
        if ((timeAfterCreate == null) == (timeBeforeExpiry == null)) {
            return "rotation.azurePolicy needs exactly one of timeAfterCreate and timeBeforeExpiry.";
        }
        IsoDuration after = IsoDuration.parse(timeAfterCreate);
        IsoDuration before = IsoDuration.parse(timeBeforeExpiry);
        IsoDuration expiry = IsoDuration.parse(expiryTime);
        for (String[] d : new String[][]{{"timeAfterCreate", timeAfterCreate}, {"timeBeforeExpiry", timeBeforeExpiry}, {"expiryTime", expiryTime}}) {
            if (d[1] != null && IsoDuration.parse(d[1]) == null) {
                return "rotation.azurePolicy." + d[0] + " '" + d[1] + "' is not an ISO-8601 duration.";
            }
        }
        if (after != null && after.atLeast().compareTo(AZURE_POLICY_MINIMUM) < 0) {
            return "rotation.azurePolicy.timeAfterCreate " + timeAfterCreate + " is shorter than 28 days, the Managed HSM minimum.";
        }
        if (expiry != null && expiry.atLeast().compareTo(AZURE_POLICY_MINIMUM) < 0) {
            return "rotation.azurePolicy.expiryTime " + expiryTime + " is shorter than 28 days, the Managed HSM minimum.";
        }
        if (before != null) {
            if (expiry == null) {
                return "rotation.azurePolicy.timeBeforeExpiry needs expiryTime.";
            }
            if (expiry.atLeast().minus(before.atMost()).compareTo(AZURE_POLICY_MINIMUM) < 0) {
                return "rotation.azurePolicy.timeBeforeExpiry " + timeBeforeExpiry + " leaves less than 28 days of expiryTime "
                        + expiryTime + " before a rotation; Managed HSM requires at least 28.";
            }
        }
        if (after != null && expiry != null && after.atMost().compareTo(expiry.atLeast()) >= 0) {
            return "rotation.azurePolicy.timeAfterCreate " + timeAfterCreate + " is not shorter than expiryTime " + expiryTime
                    + ": versions would expire before they rotate.";
        }
        if (expiresAfter != null && expiry != null && !expiresAfter.equals(expiryTime)) {
            return "expiresAfter " + expiresAfter + " and rotation.azurePolicy.expiryTime " + expiryTime + " disagree; with an Azure "
                    + "policy set expiryTime only, or the same value in both.";
        }
        return null;
    }

    private static boolean carries(List<Version> versions, String tag, String value) {
        return versions.stream().anyMatch(v -> v.tags() != null && value.equals(v.tags().get(tag)));
    }

    public static Instant earliest(Instant a, Instant b) {
        return a == null ? b : b == null ? a : a.isBefore(b) ? a : b;
    }
}
