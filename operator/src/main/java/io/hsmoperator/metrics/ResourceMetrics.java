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
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.prometheus.client.Collector;
import io.prometheus.client.Collector.MetricFamilySamples;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.GaugeMetricFamily;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleBiFunction;

/**
 * Gauges per HsmKey, per ManagedHsm and per HsmBackup, read from the status the operator last reported (never from Azure): a key's
 * current version's age, the time to its next rotation, the time until its current version expires and its version
 * count; an HSM's Ready and how many keys it holds; when an HsmBackup's last successful backup started, its interval and when it was created (so that
 * an alert can tell "no successful backup within twice the interval", also of one that never succeeded) and how long its
 * last successful backup took. Each resource's gauges are removed when its finalizer goes. They are collected at each
 * scrape from what the last reconciles reported, not kept as a meter each. A value the status does not give (no rotation scheduled) is NaN.
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
    /** The Prometheus registry the gauges are collected into (null outside a running Quarkus); see {@link #exportTo}. */
    private static volatile CollectorRegistry exportedTo;

    private ResourceMetrics() {
    }

    /** One resource's series: its labels, the values its last reconcile reported, and the clock ages are reckoned by. */
    private record Tracked(String namespace, String name, Values values, Clock clock) {
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

    /** One gauge: its name, its help, and how it reads a value of its kind. */
    private record Family<V extends Values>(String name, String help, Class<V> kind, ToDoubleBiFunction<V, Clock> value) {
        void collect(Collection<Tracked> tracked, List<MetricFamilySamples> into) {
            GaugeMetricFamily family = new GaugeMetricFamily(name.replace('.', '_'), help, LABELS);
            for (Tracked t : tracked) {
                if (kind.isInstance(t.values())) {
                    family.addMetric(List.of(t.name(), t.namespace()), value.applyAsDouble(kind.cast(t.values()), t.clock()));
                }
            }
            if (!family.samples.isEmpty()) {
                into.add(family);
            }
        }
    }

    /** As Micrometer wrote a resource's tags: in the order of their keys. */
    private static final List<String> LABELS = List.of("name", "namespace");

    private static final List<Family<?>> FAMILIES = List.of(
            new Family<>(KEY_VERSION_AGE, "Age of the key's current version", KeyValues.class, (v, c) -> since(v.versionCreated(), c)),
            new Family<>(KEY_NEXT_ROTATION, "Seconds until the key's next scheduled rotation (negative: overdue)", KeyValues.class,
                    (v, c) -> until(v.nextRotation(), c)),
            new Family<>(KEY_EXPIRY, "Seconds until the key's current version expires (negative: expired; NaN: it never expires)",
                    KeyValues.class, (v, c) -> until(v.expires(), c)),
            new Family<>(KEY_VERSIONS, "Versions the key has in Azure (Managed HSM allows 100)", KeyValues.class,
                    (v, c) -> number(v.versionCount())),
            new Family<>(HSM_READY, "1 when the ManagedHsm is Ready, else 0", HsmValues.class, (v, c) -> v.ready() ? 1 : 0),
            new Family<>(HSM_SECURITY_DOMAIN_MISSING, "1 when the HSM is activated and the operator keeps no copy of its security "
                    + "domain (SecurityDomainMissing, or its Secret is another HSM's), else 0", HsmValues.class,
                    (v, c) -> v.securityDomainMissing() ? 1 : 0),
            new Family<>(HSM_KEYS, "Keys in the HSM when the operator last counted them (status.keyCount; Managed HSM allows 5000; NaN: "
                    + "not counted yet)", HsmValues.class, (v, c) -> number(v.keyCount())),
            new Family<>(BACKUP_LAST_SUCCESS, "When the HsmBackup's last successful backup started (Unix seconds; NaN: none yet)",
                    BackupValues.class, (v, c) -> epochSeconds(v.lastBackup())),
            new Family<>(BACKUP_INTERVAL, "The HsmBackup's spec.schedule.every, in seconds (the longest length of a period in months "
                    + "or years)", BackupValues.class, (v, c) -> number(v.intervalSeconds())),
            new Family<>(BACKUP_CREATED, "When the HsmBackup was created (Unix seconds)", BackupValues.class,
                    (v, c) -> epochSeconds(v.created())),
            new Family<>(BACKUP_DURATION, "How long the HsmBackup's last successful backup took, in seconds (NaN: none yet)",
                    BackupValues.class, (v, c) -> number(v.lastBackupSeconds())));

    /**
     * Reads every tracked resource's values at each scrape. One Micrometer gauge per resource and figure cost about a
     * kilobyte each in meters, IDs, tags and the registries' maps: 40,000 of them at 10,000 HsmKeys.
     */
    private static final Collector COLLECTOR = new Collector() {
        @Override
        public List<MetricFamilySamples> collect() {
            Collection<Tracked> tracked = TRACKED.values();
            List<MetricFamilySamples> families = new ArrayList<>(FAMILIES.size());
            FAMILIES.forEach(f -> f.collect(tracked, families));
            return families;
        }
    };

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
        exportTo(prometheus(OperatorMetrics.registry()));
        TRACKED.put(key(cr), new Tracked(cr.getMetadata().getNamespace(), cr.getMetadata().getName(), values, clock));
    }

    /**
     * Registers the collector with the running application's Prometheus registry. A new one (a restarted Quarkus, as
     * tests do in one JVM) starts with no series: the resources it reconciles report theirs again.
     */
    private static void exportTo(CollectorRegistry registry) {
        if (registry == exportedTo) {
            return;
        }
        synchronized (ResourceMetrics.class) {
            if (registry != exportedTo) {
                TRACKED.clear();
                if (registry != null) {
                    registry.register(COLLECTOR);
                }
                exportedTo = registry;
            }
        }
    }

    /** The Prometheus registry in {@code registry} (Quarkus's is a composite), or null. */
    private static CollectorRegistry prometheus(MeterRegistry registry) {
        if (registry instanceof PrometheusMeterRegistry p) {
            return p.getPrometheusRegistry();
        }
        if (registry instanceof CompositeMeterRegistry c) {
            for (MeterRegistry child : c.getRegistries()) {
                CollectorRegistry found = prometheus(child);
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    /** The resource is gone (its finalizer removed): so are its series. */
    public static void forget(CustomResource<?, ?> cr) {
        TRACKED.remove(key(cr));
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
