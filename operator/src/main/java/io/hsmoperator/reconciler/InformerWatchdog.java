package io.hsmoperator.reconciler;

import io.hsmoperator.azure.OperatorConfig;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RegisteredController;
import io.javaoperatorsdk.operator.health.InformerHealthIndicator;
import io.javaoperatorsdk.operator.health.InformerWrappingEventSourceHealthIndicator;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.quarkus.arc.Arc;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;

import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Decides when a watch has stopped for good. The operator SDK, with stop-on-informer-error-during-startup=false, retries
 * every failed list or watch except one it cannot deserialize, so an informer whose kind's CRD was deleted (404) or
 * whose RBAC was removed (403) never stops and the informer-stopped handler never runs: the process stays up and deaf.
 * Here a watch that synced once and has not been watching for hsm.watch.deaf-after counts as stopped, and the operator
 * exits the way the handler makes it exit.
 */
@Singleton
public class InformerWatchdog {
    private final OperatorInstance instance;
    private final Duration deafAfter;
    private final Map<String, Instant> deafSince = new ConcurrentHashMap<>();
    private final Set<String> synced = ConcurrentHashMap.newKeySet();
    private volatile ScheduledExecutorService timer;

    public InformerWatchdog(OperatorInstance instance, OperatorConfig config) {
        this.instance = instance;
        this.deafAfter = config.watch().deafAfter();
    }

    void onStart(@Observes StartupEvent event) {
        long every = Math.max(200, Math.min(5000, deafAfter.toMillis() / 5));
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "informer-watchdog");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::check, every, every, TimeUnit.MILLISECONDS);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    private void check() {
        var handle = Arc.container() == null ? null : Arc.container().instance(Operator.class);
        if (handle == null || !handle.isAvailable() || !handle.get().getRuntimeInfo().isStarted()) {
            return;
        }
        Instant now = Instant.now();
        Set<String> seen = new HashSet<>();
        for (RegisteredController<?> controller : handle.get().getRegisteredControllers()) {
            Map<String, InformerWrappingEventSourceHealthIndicator> sources =
                    controller.getControllerHealthInfo().informerEventSourceHealthIndicators();
            for (Map.Entry<String, InformerWrappingEventSourceHealthIndicator> source : sources.entrySet()) {
                Map<String, InformerHealthIndicator> informers = source.getValue().informerHealthIndicators();
                for (Map.Entry<String, InformerHealthIndicator> informer : informers.entrySet()) {
                    String key = controller.getConfiguration().getName() + "/" + source.getKey() + "/" + informer.getKey();
                    seen.add(key);
                    if (deaf(key, informer.getValue(), now)) {
                        instance.watchStoppedForGood(kind(source.getValue()), "unable to list or watch for "
                                + Duration.between(deafSince.get(key), now).toSeconds() + "s in " + namespace(informer.getKey())
                                + ", longer than hsm.watch.deaf-after (" + deafAfter + "); its CRD may be gone or the operator's "
                                + "RBAC to list and watch it removed");
                        return;
                    }
                }
            }
        }
        deafSince.keySet().retainAll(seen);
    }

    /** Whether this watch, which synced once, has not been watching for longer than deaf-after. */
    private boolean deaf(String key, InformerHealthIndicator informer, Instant now) {
        if (informer.hasSynced()) {
            synced.add(key);
        }
        // Before the first sync the operator SDK's start-up handling applies, and readiness stays down.
        if (!synced.contains(key) || (informer.isRunning() && informer.isWatching())) {
            deafSince.remove(key);
            return false;
        }
        Instant since = deafSince.computeIfAbsent(key, k -> now);
        return Duration.between(since, now).compareTo(deafAfter) > 0;
    }

    @SuppressWarnings("rawtypes")
    private static String kind(InformerWrappingEventSourceHealthIndicator source) {
        return source instanceof EventSource<?, ?> e ? e.resourceType().getSimpleName() : source.getClass().getSimpleName();
    }

    private static String namespace(String informerKey) {
        return "JOSDK_ALL_NAMESPACES".equals(informerKey) || informerKey.isEmpty() ? "all namespaces" : "namespace " + informerKey;
    }
}
