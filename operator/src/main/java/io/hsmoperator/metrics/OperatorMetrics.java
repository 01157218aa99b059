package io.hsmoperator.metrics;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.time.Duration;

/**
 * The operator's own metrics, served at /q/metrics (Prometheus names: dots become underscores, timers gain
 * {@code _seconds}). Called from the shared paths (Reports, the Azure pipeline, ScopeGate), so that reconcilers stay free
 * of metric code. Outside a running Quarkus (unit tests) the meters go to a private registry nobody reads.
 */
public final class OperatorMetrics {
    static final String RECONCILE = "hsm.operator.reconcile";
    static final String AZURE_REQUESTS = "hsm.operator.azure.requests";
    static final String THROTTLE_WAITS = "hsm.operator.azure.throttle.waits";
    static final String FENCED_WRITES = "hsm.operator.azure.writes.fenced";
    static final String BACKUP_FAILURES = "hsm.operator.backup.failures";
    static final String RESTORES = "hsm.operator.restores";

    private static final MeterRegistry DETACHED = new SimpleMeterRegistry();

    private OperatorMetrics() {
    }

    /** The application's registry while Quarkus runs (looked up each time: tests restart Quarkus in one JVM). */
    static MeterRegistry registry() {
        io.quarkus.arc.ArcContainer arc = io.quarkus.arc.Arc.container();
        if (arc == null || !arc.isRunning()) {
            return DETACHED;
        }
        io.quarkus.arc.InstanceHandle<MeterRegistry> r = arc.instance(MeterRegistry.class);
        return r.isAvailable() ? r.get() : DETACHED;
    }

    /** Starts timing one reconcile of a kind; {@link Reconcile#done(String)} records it with its outcome. */
    public static Reconcile reconcile(String kind) {
        return new Reconcile(kind, System.nanoTime());
    }

    public record Reconcile(String kind, long startNanos) {
        /**
         * @param outcome {@code success}, {@code invalid-spec}, {@code kubernetes-error}, {@code error} (an unexpected
         *                exception, retried by the operator SDK) or the class of an Azure failure (AzureError.Kind in
         *                lower case, words joined by '-': {@code throttled}, {@code transient}, {@code not-found}, …)
         */
        public void done(String outcome) {
            Timer.builder(RECONCILE).description("Reconciles by kind and outcome, and how long they took")
                    .tag("kind", kind).tag("outcome", outcome).register(registry())
                    .record(Duration.ofNanos(System.nanoTime() - startNanos));
        }
    }

    /**
     * Time the operator holds back work because of Azure's limits. {@code cause}: {@code key-creation-pacing} and
     * {@code rbac-pacing} (a request waits for its slot under Managed HSM's per-second limits), {@code retry-after} (a
     * reconcile waits for the Retry-After of a 429, or of a request refused locally while its scope is throttled).
     */
    public static void throttleWait(String cause, Duration waited) {
        Timer.builder(THROTTLE_WAITS).description("Waits imposed by Azure's rate limits (pacing and Retry-After)")
                .tag("cause", cause).register(registry()).record(waited);
    }

    /** An Azure write not sent: this replica could not be sure it would still lead until the write was answered. */
    public static void fencedWrite() {
        io.micrometer.core.instrument.Counter.builder(FENCED_WRITES)
                .description("Azure writes not sent because the leader lease might lapse before they were answered")
                .register(registry()).increment();
    }

    /** A backup job that ended Failed; {@code reason}: Azure's error code for it (or JobNotFound). */
    public static void backupFailed(String reason) {
        io.micrometer.core.instrument.Counter.builder(BACKUP_FAILURES).description("HsmBackup backup jobs that failed, by Azure's error code")
                .tag("reason", reason).register(registry()).increment();
    }

    /** A restore job that ended; {@code outcome}: succeeded or failed; {@code type}: full or selective. */
    public static void restoreEnded(String outcome, String type) {
        io.micrometer.core.instrument.Counter.builder(RESTORES).description("HsmRestore restore jobs that ended, by outcome and type")
                .tag("outcome", outcome).tag("type", type).register(registry()).increment();
    }

    static void remove(Meter meter) {
        registry().remove(meter);
    }
}
