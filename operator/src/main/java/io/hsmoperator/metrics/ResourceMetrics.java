package io.hsmoperator.metrics;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.CustomResource;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.backup.HsmBackupStatus;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.rotation.IsoDuration;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;

/**
 * Gauges per HsmKey, per ManagedHsm and per HsmBackup, read from the status the operator last reported (never from Azure): a key's
 * current version's age, the time to its next rotation, the time until its current version expires and its version
 * count; an HSM's Ready and how many keys it holds; when an HsmBackup's last successful backup started, its interval and when it was created (so that
 * an alert can tell "no successful backup within twice the interval", also of one that never succeeded) and how long its
 * last successful backup took. Each resource's gauges are removed when its finalizer goes. A value the status does not give (no rotation scheduled) is NaN.
 */
public final class ResourceMetrics {
    static final String KEY_VERSION_AGE = "hsm.operator.key.version.age.seconds";
    static final String KEY_NEXT_ROTATION = "hsm.operator.key.next.rotation.seconds";
    static final String KEY_VERSIONS = "hsm.operator.key.versions";
    static final String KEY_EXPIRY = "hsm.operator.key.expiry.seconds";
    static final String HSM_READY = "hsm.operator.hsm.ready";
    static final String HSM_SECURITY_DOMAIN_MISSING = "hsm.operator.hsm.security.domain.missing";
    static final String HSM_KEYS = "hsm.operator.hsm.keys";
    static final String BACKUP_LAST_SUCCESS = "hsm.operator.backup.last.success.timestamp.seconds";
    static final String BACKUP_INTERVAL = "hsm.operator.backup.interval.seconds";
    static final String BACKUP_CREATED = "hsm.operator.backup.created.timestamp.seconds";
    static final String BACKUP_DURATION = "hsm.operator.backup.duration.seconds";

    private static final Map<String, Tracked> TRACKED = new ConcurrentHashMap<>();

    private ResourceMetrics() {
    }

    /** What one resource's gauges read: its latest status, and the meters to remove with it. */
    private static final class Tracked {
        final MeterRegistry registry;
        final Clock clock;
        final List<Meter> meters = new ArrayList<>();
        volatile HsmStatus status;
        volatile CustomResource<?, ?> resource;

        Tracked(MeterRegistry registry, Clock clock) {
            this.registry = registry;
            this.clock = clock;
        }
    }

    /** The status a reconcile of {@code cr} ended with (written or unchanged). */
    public static void observed(CustomResource<?, ?> cr, HsmStatus status, Clock clock) {
        if (!(status instanceof HsmKeyStatus) && !(status instanceof ManagedHsmStatus) && !(status instanceof HsmBackupStatus)) {
            return;
        }
        MeterRegistry registry = OperatorMetrics.registry();
        Tracked t = TRACKED.compute(key(cr), (k, old) -> {
            if (old != null && old.registry == registry) {
                return old;
            }
            Tracked fresh = new Tracked(registry, clock);
            fresh.status = status;
            fresh.resource = cr;
            Tags tags = Tags.of("namespace", cr.getMetadata().getNamespace(), "name", cr.getMetadata().getName());
            if (status instanceof HsmKeyStatus) {
                fresh.meters.add(gauge(registry, KEY_VERSION_AGE, "Age of the key's current version", tags, fresh, ResourceMetrics::versionAge));
                fresh.meters.add(gauge(registry, KEY_NEXT_ROTATION, "Seconds until the key's next scheduled rotation (negative: overdue)",
                        tags, fresh, ResourceMetrics::untilRotation));
                fresh.meters.add(gauge(registry, KEY_EXPIRY, "Seconds until the key's current version expires (negative: expired; "
                        + "NaN: it never expires)", tags, fresh, ResourceMetrics::untilExpiry));
                fresh.meters.add(gauge(registry, KEY_VERSIONS, "Versions the key has in Azure (Managed HSM allows 100)", tags, fresh,
                        s -> ((HsmKeyStatus) s.status).versionCount == null ? Double.NaN : ((HsmKeyStatus) s.status).versionCount));
            } else if (status instanceof HsmBackupStatus) {
                fresh.meters.add(gauge(registry, BACKUP_LAST_SUCCESS, "When the HsmBackup's last successful backup started (Unix "
                        + "seconds; NaN: none yet)", tags, fresh, ResourceMetrics::lastBackup));
                fresh.meters.add(gauge(registry, BACKUP_INTERVAL, "The HsmBackup's spec.schedule.every, in seconds (the longest "
                        + "length of a period in months or years)", tags, fresh, ResourceMetrics::backupInterval));
                fresh.meters.add(gauge(registry, BACKUP_CREATED, "When the HsmBackup was created (Unix seconds)", tags, fresh,
                        ResourceMetrics::backupCreated));
                fresh.meters.add(gauge(registry, BACKUP_DURATION, "How long the HsmBackup's last successful backup took, in seconds "
                        + "(NaN: none yet)", tags, fresh, ResourceMetrics::lastBackupDuration));
            } else {
                fresh.meters.add(gauge(registry, HSM_READY, "1 when the ManagedHsm is Ready, else 0", tags, fresh,
                        s -> ready(s.status) ? 1 : 0));
                fresh.meters.add(gauge(registry, HSM_SECURITY_DOMAIN_MISSING, "1 when the HSM is activated and the operator keeps no "
                        + "copy of its security domain (SecurityDomainMissing, or its Secret is another HSM's), else 0", tags, fresh,
                        s -> securityDomainMissing(s.status) ? 1 : 0));
                fresh.meters.add(gauge(registry, HSM_KEYS, "Keys in the HSM when the operator last counted them (status.keyCount; "
                        + "Managed HSM allows 5000; NaN: not counted yet)", tags, fresh,
                        s -> ((ManagedHsmStatus) s.status).keyCount == null ? Double.NaN : ((ManagedHsmStatus) s.status).keyCount));
            }
            return fresh;
        });
        t.status = status;
        t.resource = cr;
    }

    /** The resource is gone (its finalizer removed): so are its series. */
    public static void forget(CustomResource<?, ?> cr) {
        Tracked t = TRACKED.remove(key(cr));
        if (t != null) {
            t.meters.forEach(t.registry::remove);
        }
    }

    private static Meter gauge(MeterRegistry registry, String name, String description, Tags tags, Tracked t,
            ToDoubleFunction<Tracked> value) {
        return Gauge.builder(name, t, value).description(description).tags(tags).strongReference(true).register(registry);
    }

    private static double versionAge(Tracked t) {
        HsmKeyStatus s = (HsmKeyStatus) t.status;
        if (s.versions == null || s.currentVersion == null) {
            return Double.NaN;
        }
        return s.versions.stream().filter(v -> s.currentVersion.equals(v.version) && v.created != null).findFirst()
                .map(v -> seconds(Duration.between(Instant.parse(v.created), t.clock.instant()))).orElse(Double.NaN);
    }

    /** From the current version's expiry in status.versions (Azure's exp attribute, as the operator last read it). */
    private static double untilExpiry(Tracked t) {
        HsmKeyStatus s = (HsmKeyStatus) t.status;
        if (s.versions == null || s.currentVersion == null) {
            return Double.NaN;
        }
        return s.versions.stream().filter(v -> s.currentVersion.equals(v.version) && v.expires != null).findFirst()
                .map(v -> seconds(Duration.between(t.clock.instant(), Instant.parse(v.expires)))).orElse(Double.NaN);
    }

    /** From status.nextRotationTime, which the rotation schedule computed; nothing is recomputed here. */
    private static double untilRotation(Tracked t) {
        String next = ((HsmKeyStatus) t.status).nextRotationTime;
        return next == null ? Double.NaN : seconds(Duration.between(t.clock.instant(), Instant.parse(next)));
    }

    /** From status.lastSuccessful.time. */
    private static double lastBackup(Tracked t) {
        HsmBackupStatus.LastSuccessful last = ((HsmBackupStatus) t.status).lastSuccessful;
        return last == null || last.time == null ? Double.NaN : Instant.parse(last.time).toEpochMilli() / 1000.0;
    }

    /**
     * From status.lastSuccessful.duration. A gauge per HsmBackup, not a histogram: backups are hourly at most, so a
     * histogram would hold a handful of samples per day, lose them at every restart or change of leader, and mix HSMs of
     * different sizes; the last duration, read from status, survives both and can be compared with the interval or a
     * threshold, and its trend shows a growing HSM.
     */
    private static double lastBackupDuration(Tracked t) {
        HsmBackupStatus.LastSuccessful last = ((HsmBackupStatus) t.status).lastSuccessful;
        try {
            return last == null || last.duration == null ? Double.NaN : seconds(Duration.parse(last.duration));
        } catch (RuntimeException e) {
            return Double.NaN;
        }
    }

    /** From spec.schedule.every; NaN when it does not parse (the resource is then InvalidSpec). */
    private static double backupInterval(Tracked t) {
        HsmBackup b = (HsmBackup) t.resource;
        try {
            return seconds(IsoDuration.parse(b.getSpec().schedule.every).atMost());
        } catch (RuntimeException e) {
            return Double.NaN;
        }
    }

    private static double backupCreated(Tracked t) {
        String created = t.resource.getMetadata().getCreationTimestamp();
        return created == null ? Double.NaN : Instant.parse(created).toEpochMilli() / 1000.0;
    }

    private static boolean ready(HsmStatus s) {
        Condition c = condition(s, Conditions.READY);
        return c != null && "True".equals(c.getStatus());
    }

    /** Read from the Activated condition: True (Azure activated the HSM) with a reason that says no copy is kept. */
    private static boolean securityDomainMissing(HsmStatus s) {
        Condition c = condition(s, Conditions.ACTIVATED);
        return c != null && "True".equals(c.getStatus())
                && ("SecurityDomainMissing".equals(c.getReason()) || "SecurityDomainSecretConflict".equals(c.getReason()));
    }

    private static Condition condition(HsmStatus s, String type) {
        if (s.conditions == null) {
            return null;
        }
        for (Condition c : s.conditions) {
            if (type.equals(c.getType())) {
                return c;
            }
        }
        return null;
    }

    private static double seconds(Duration d) {
        return d.toMillis() / 1000.0;
    }

    private static String key(CustomResource<?, ?> cr) {
        return cr.getKind() + "/" + cr.getMetadata().getNamespace() + "/" + cr.getMetadata().getName();
    }
}
