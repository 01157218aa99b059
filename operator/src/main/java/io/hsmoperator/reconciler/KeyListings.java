package io.hsmoperator.reconciler;

import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.javaoperatorsdk.operator.OperatorException;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.AbstractEventSource;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Drift in keys, seen per HSM instead of per key. Every drift interval each HSM's keys are listed once (a page holds
 * about ten keys, with each one's current attributes and tags), and compared with what each HsmKey's last reconcile saw
 * of its key; only the HsmKeys whose key differs are reconciled: changed, disabled, expired, retagged, given a new
 * version, or deleted out of band. A converged key therefore costs a fraction of a listing page per interval instead of
 * two or three reads. What a listing cannot show is left to the key's full read (hsm.reconcile.key-full-read). Runs only
 * while this replica leads: event sources start with the controllers.
 */
final class KeyListings extends AbstractEventSource<HsmKeys.Listed, HsmKey> {
    private static final Logger LOG = Logger.getLogger(KeyListings.class);

    /** What the last reconcile of an HsmKey saw of its key, and in which HSM. */
    private record Seen(String hsmUri, String name, HsmKeys.Listed listed) {
    }

    private final HsmKeys keys;
    private final Duration interval;
    private final Map<ResourceID, Seen> seen = new ConcurrentHashMap<>();
    private final Set<String> failing = ConcurrentHashMap.newKeySet();
    private volatile ScheduledExecutorService timer;

    KeyListings(HsmKeys keys, Duration interval) {
        super(HsmKeys.Listed.class, "azure-key-listings");
        this.keys = keys;
        this.interval = interval;
    }

    /** Records what a reconcile that converged saw of the key, as a listing would show it. */
    void saw(HsmKey cr, String hsmUri, HsmKeys.Key key) {
        seen.put(ResourceID.fromResource(cr), new Seen(hsmUri, key.name(), HsmKeys.Listed.of(key)));
    }

    /** The HsmKey is not converged, or gone: its own reconciles look at Azure until it converges again. */
    void forget(HsmKey cr) {
        seen.remove(ResourceID.fromResource(cr));
    }

    @Override
    public synchronized void start() throws OperatorException {
        super.start();
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "azure-key-listings");
            t.setDaemon(true);
            return t;
        });
        // Spread over the interval, so that replicas started together do not list in step. At a fixed rate, not delay:
        // a listing of many pages must not push every later one back, or drift would wait longer than the interval.
        long first = interval.toMillis() / 2 + ThreadLocalRandom.current().nextLong(Math.max(1, interval.toMillis() / 2));
        timer.scheduleAtFixedRate(this::lookSafely, first, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public synchronized void stop() throws OperatorException {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
        super.stop();
    }

    @Override
    public Set<HsmKeys.Listed> getSecondaryResources(HsmKey primary) {
        return Set.of();
    }

    /** A scheduled task that throws is never run again: drift watching must outlive any one failure. */
    private void lookSafely() {
        try {
            look();
        } catch (RuntimeException e) {
            LOG.errorf(e, "Looking for drift in keys failed; trying again in %s", interval);
        }
    }

    /** One listing per HSM with converged keys; an event for each key that differs from what its reconcile saw. */
    void look() {
        Map<String, List<Map.Entry<ResourceID, Seen>>> byHsm = seen.entrySet().stream()
                .collect(Collectors.groupingBy(e -> e.getValue().hsmUri()));
        byHsm.forEach((uri, watched) -> {
            Map<String, HsmKeys.Listed> listed = new HashMap<>();
            try {
                keys.list(uri).forEach(l -> listed.put(l.name().toLowerCase(Locale.ROOT), l));
                if (failing.remove(uri)) {
                    LOG.infof("Listing the keys of %s works again", uri);
                }
            } catch (AzureError e) {
                // The keys' own full reads still run; one line per failure streak, not one per interval.
                if (failing.add(uri)) {
                    LOG.warnf("Cannot list the keys of %s to look for drift (%s); retrying every %s", uri, e.describe(), interval);
                }
                return;
            }
            for (Map.Entry<ResourceID, Seen> e : watched) {
                HsmKeys.Listed now = listed.get(e.getValue().name().toLowerCase(Locale.ROOT));
                if (!Objects.equals(now, e.getValue().listed()) && seen.remove(e.getKey(), e.getValue())) {
                    LOG.debugf("Key %s in %s changed outside the operator: reconciling HsmKey %s", e.getValue().name(), uri, e.getKey());
                    getEventHandler().handleEvent(new Event(e.getKey()));
                }
            }
        });
    }
}
