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
import java.util.function.ToDoubleBiFunction;

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

    /** What one resource's gauges read, and the meters to remove with it. */
    private static final class Tracked {
        final MeterRegistry registry;
        final Clock clock;
        final List<Meter> meters = new ArrayList<>();
        volatile Values values;

        Tracked(MeterRegistry registry, Clock clock) {
            this.registry = registry;
            this.clock = clock;
        }

        /** A gauge of this resource's values, which are always of the type its kind's first reconcile gave them. */
        <V extends Values> void gauge(String name, String description, Tags tags, Class<V> type, ToDoubleBiFunction<V, Clock> value) {
            meters.add(Gauge.builder(name, this, t -> value.applyAsDouble(type.cast(t.values), t.clock)).description(description)
                    .tags(tags).strongReference(true).register(registry));
        }
    }

    /**
     * The few values the gauges read, taken from the status a reconcile ended with (and an HsmBackup's schedule and
     * creation time): no copy of the resource or its status is kept, which with 10,000 HsmKeys was 10,000 copies beside
     * the informer's. Null fields are NaN; times stay instants, so that ages and countdowns are reckoned at each scrape.
     */
    private sealed interface Values permits KeyValues, HsmValues, BackupValues {
    }

    private record KeyValues(Instant versionCreated, Instant expires, Instant nextRotation, Integer versionCount) implements Values {
        static KeyValues of(HsmKeyStatus s) {
            HsmKeyStatus.KeyVersion current = s.versions == null || s.currentVersion == null ? null
                    : s.versions.stream().filter(v -> s.currentVersion.equals(v.version)).findFirst().orElse(null);
            return new KeyValues(current == null ? null : instant(current.created), current == null ? null : instant(current.expires),
                    instant(s.nextRotationTime), s.versionCount);
        }
    }

    private record HsmValues(boolean ready, boolean securityDomainMissing, Integer keyCount) implements Values {
        static HsmValues of(ManagedHsmStatus s) {
            return new HsmValues(ResourceMetrics.ready(s), ResourceMetrics.securityDomainMissing(s), s.keyCount);
        }
    }

    private record BackupValues(Instant lastBackup, Double lastBackupSeconds, Double intervalSeconds, Instant created) implements Values {
        static BackupValues of(HsmBackup b, HsmBackupStatus s) {
            HsmBackupStatus.LastSuccessful last = s.lastSuccessful;
            return new BackupValues(last == null ? null : instant(last.time), last == null ? null : durationSeconds(last.duration),
                    backupInterval(b), instant(b.getMetadata().getCreationTimestamp()));
        }
    }

    /** The status a reconcile of {@code cr} ended with (written or unchanged). */
    public static void observed(CustomResource<?, ?> cr, HsmStatus status, Clock clock) {
        Values values;
        if (status instanceof HsmKeyStatus s) {
            values = KeyValues.of(s);
        } else if (status instanceof ManagedHsmStatus s) {
            values = HsmValues.of(s);
        } else if (status instanceof HsmBackupStatus s) {
            values = BackupValues.of((HsmBackup) cr, s);
        } else {
            return;
        }
        MeterRegistry registry = OperatorMetrics.registry();
        Tracked t = TRACKED.compute(key(cr), (k, old) -> {
            if (old != null && old.registry == registry) {
                return old;
            }
            Tracked fresh = new Tracked(registry, clock);
            fresh.values = values;
            Tags tags = Tags.of("namespace", cr.getMetadata().getNamespace(), "name", cr.getMetadata().getName());
            if (values instanceof KeyValues) {
                fresh.gauge(KEY_VERSION_AGE, "Age of the key's current version", tags, KeyValues.class,
                        (x, c) -> since(x.versionCreated(), c));
                fresh.gauge(KEY_NEXT_ROTATION, "Seconds until the key's next scheduled rotation (negative: overdue)", tags,
                        KeyValues.class, (x, c) -> until(x.nextRotation(), c));
                fresh.gauge(KEY_EXPIRY, "Seconds until the key's current version expires (negative: expired; NaN: it never "
                        + "expires)", tags, KeyValues.class, (x, c) -> until(x.expires(), c));
                fresh.gauge(KEY_VERSIONS, "Versions the key has in Azure (Managed HSM allows 100)", tags, KeyValues.class,
                        (x, c) -> number(x.versionCount()));
            } else if (values instanceof BackupValues) {
                fresh.gauge(BACKUP_LAST_SUCCESS, "When the HsmBackup's last successful backup started (Unix seconds; NaN: none "
                        + "yet)", tags, BackupValues.class, (x, c) -> epochSeconds(x.lastBackup()));
                fresh.gauge(BACKUP_INTERVAL, "The HsmBackup's spec.schedule.every, in seconds (the longest length of a period "
                        + "in months or years)", tags, BackupValues.class, (x, c) -> number(x.intervalSeconds()));
                fresh.gauge(BACKUP_CREATED, "When the HsmBackup was created (Unix seconds)", tags, BackupValues.class,
                        (x, c) -> epochSeconds(x.created()));
                fresh.gauge(BACKUP_DURATION, "How long the HsmBackup's last successful backup took, in seconds (NaN: none yet)",
                        tags, BackupValues.class, (x, c) -> number(x.lastBackupSeconds()));
            } else {
                fresh.gauge(HSM_READY, "1 when the ManagedHsm is Ready, else 0", tags, HsmValues.class, (x, c) -> x.ready() ? 1 : 0);
                fresh.gauge(HSM_SECURITY_DOMAIN_MISSING, "1 when the HSM is activated and the operator keeps no copy of its "
                        + "security domain (SecurityDomainMissing, or its Secret is another HSM's), else 0", tags, HsmValues.class,
                        (x, c) -> x.securityDomainMissing() ? 1 : 0);
                fresh.gauge(HSM_KEYS, "Keys in the HSM when the operator last counted them (status.keyCount; Managed HSM allows "
                        + "5000; NaN: not counted yet)", tags, HsmValues.class, (x, c) -> number(x.keyCount()));
            }
            return fresh;
        });
        t.values = values;
    }

    /** The resource is gone (its finalizer removed): so are its series. */
    public static void forget(CustomResource<?, ?> cr) {
        Tracked t = TRACKED.remove(key(cr));
        if (t != null) {
            t.meters.forEach(t.registry::remove);
        }
    }

    private static Instant instant(String rfc3339) {
        try {
            return rfc3339 == null ? null : Instant.parse(rfc3339);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static double since(Instant at, Clock clock) {
        return at == null ? Double.NaN : seconds(Duration.between(at, clock.instant()));
    }

    private static double until(Instant at, Clock clock) {
        return at == null ? Double.NaN : seconds(Duration.between(clock.instant(), at));
    }

    private static double epochSeconds(Instant at) {
        return at == null ? Double.NaN : at.toEpochMilli() / 1000.0;
    }

    private static double number(Number n) {
        return n == null ? Double.NaN : n.doubleValue();
    }

    /**
     * From status.lastSuccessful.duration. A gauge per HsmBackup, not a histogram: backups are hourly at most, so a
     * histogram would hold a handful of samples per day, lose them at every restart or change of leader, and mix HSMs of
     * different sizes; the last duration, read from status, survives both and can be compared with the interval or a
     * threshold, and its trend shows a growing HSM.
     */
    private static Double durationSeconds(String duration) {
        try {
            return duration == null ? null : seconds(Duration.parse(duration));
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** From spec.schedule.every; null (NaN) when it does not parse (the resource is then InvalidSpec). */
    private static Double backupInterval(HsmBackup b) {
        try {
            return seconds(IsoDuration.parse(b.getSpec().schedule.every).atMost());
        } catch (RuntimeException e) {
            return null;
        }
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
