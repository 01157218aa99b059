package io.hsmoperator.reconciler;

import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.javaoperatorsdk.operator.OperatorException;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.AbstractEventSource;
import org.jboss.logging.Logger;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
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

/**
 * Drift in keys, seen per HSM instead of per key. Every drift interval each HSM's keys are listed once (a page holds
 * about ten keys, with each one's current attributes and tags), and compared with what each HsmKey's last reconcile saw
 * of its key; only the HsmKeys whose key differs are reconciled: changed, disabled, expired, retagged, given a new
 * version, or deleted out of band. A converged key therefore costs a fraction of a listing page per interval instead of
 * two or three reads. What a listing cannot show is left to the key's full read (hsm.reconcile.key-full-read). Runs only
 * while this replica leads: event sources start with the controllers.
 */
public final class KeyListings extends AbstractEventSource<HsmKeys.Listed, HsmKey> {
    private static final Logger LOG = Logger.getLogger(KeyListings.class);

    /**
     * What the last reconcile of an HsmKey saw of its key, and in which HSM. A key taken on trust from its status was not
     * read by this process: its tags are unknown (null) and are not compared; any change to them moves {@code updated}.
     */
    record Seen(String hsmUri, String name, HsmKeys.Listed listed) {
        boolean matches(HsmKeys.Listed now) {
            if (listed.tags() != null) {
                return listed.equals(now);
            }
            return now != null && now.enabled() == listed.enabled() && Objects.equals(now.created(), listed.created())
                    && Objects.equals(now.updated(), listed.updated()) && Objects.equals(now.expires(), listed.expires());
        }
    }

    /**
     * A key taken on trust is confirmed by a listing of its HSM once no other key of that HSM was taken on trust for this
     * long: a restart's first reconciles come all at once, and one listing confirms them all.
     */
    public static final Duration CONFIRM_QUIET = Duration.ofSeconds(1);
    /**
     * At the latest this long after the first key awaiting confirmation was taken on trust, however many follow it. Longer
     * than a restart's first wave of reconciles takes (12 s for 10,000 keys on two cores): each listing it cuts short is
     * a whole listing more (e2e/bench measured three where one would do at 5 s).
     */
    static final Duration CONFIRM_AFTER = Duration.ofSeconds(60);

    private final HsmKeys keys;
    private final Duration interval;
    private final KeyCounts counts;
    private final Clock clock;
    private final Map<ResourceID, Seen> seen = new ConcurrentHashMap<>();
    private final Set<String> failing = ConcurrentHashMap.newKeySet();
    /** HSMs with a confirming listing scheduled, and when (System.nanoTime) the first key awaiting it was taken on trust. */
    private final Map<String, Long> confirming = new ConcurrentHashMap<>();
    /** When (System.nanoTime) a key of each HSM was last taken on trust. */
    private final Map<String, Long> lastTrusted = new ConcurrentHashMap<>();
    /** HSMs whose periodic listing runs now: a listing that outlasts the interval is not started twice. */
    private final Set<String> listing = ConcurrentHashMap.newKeySet();
    /** Listings of different HSMs run side by side, so that one large HSM does not hold up the others' drift. */
    static final int THREADS = 4;
    private volatile ScheduledExecutorService timer;

    KeyListings(HsmKeys keys, Duration interval, KeyCounts counts, Clock clock) {
        super(HsmKeys.Listed.class, "azure-key-listings");
        this.keys = keys;
        this.interval = interval;
        this.counts = counts;
        this.clock = clock;
    }

    /** Records what a reconcile that converged saw of the key, as a listing would show it. */
    void saw(HsmKey cr, String hsmUri, HsmKeys.Key key) {
        seen.put(ResourceID.fromResource(cr), new Seen(hsmUri, key.name(), HsmKeys.Listed.of(key)));
    }

    /**
     * Records a key as its status says it was last seen ({@code tags} unknown), for a process that has not read it: the
     * HSM is listed soon after, and the key woken if Azure's copy differs.
     */
    void trust(HsmKey cr, String hsmUri, HsmKeys.Listed recorded) {
        seen.put(ResourceID.fromResource(cr), new Seen(hsmUri, recorded.name(), recorded));
        long now = System.nanoTime();
        lastTrusted.put(hsmUri, now);
        ScheduledExecutorService t = timer;
        if (t != null && confirming.putIfAbsent(hsmUri, now) == null) {
            t.schedule(() -> confirm(hsmUri), CONFIRM_QUIET.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Lists the HSM to confirm the keys taken on trust, once their stream has paused (or at the latest CONFIRM_AFTER). */
    private void confirm(String hsmUri) {
        long now = System.nanoTime();
        long first = confirming.getOrDefault(hsmUri, now);
        Long last = lastTrusted.get(hsmUri);
        long wait = Math.min((last == null ? first : last) + CONFIRM_QUIET.toNanos(), first + CONFIRM_AFTER.toNanos()) - now;
        ScheduledExecutorService t = timer;
        if (wait > 0 && t != null) {
            t.schedule(() -> confirm(hsmUri), wait, TimeUnit.NANOSECONDS);
            return;
        }
        confirming.remove(hsmUri);
        if (last != null) {
            // Unless a key was trusted since: its confirmation, scheduled anew, reckons from it.
            lastTrusted.remove(hsmUri, last);
        }
        lookSafely(() -> look(hsmUri));
    }

    /** The HsmKey is not converged, or gone: its own reconciles look at Azure until it converges again. */
    Seen forget(HsmKey cr) {
        return seen.remove(ResourceID.fromResource(cr));
    }

    /** Watches the key again as it was seen before {@link #forget}: a reconcile that found nothing to read. */
    void resume(HsmKey cr, Seen before) {
        seen.putIfAbsent(ResourceID.fromResource(cr), before);
    }

    @Override
    public synchronized void start() throws OperatorException {
        super.start();
        timer = Executors.newScheduledThreadPool(THREADS, r -> {
            Thread t = new Thread(r, "azure-key-listings");
            t.setDaemon(true);
            return t;
        });
        // Spread over the interval, so that replicas started together do not list in step. At a fixed rate, not delay:
        // a listing of many pages must not push every later one back, or drift would wait longer than the interval.
        long first = interval.toMillis() / 2 + ThreadLocalRandom.current().nextLong(Math.max(1, interval.toMillis() / 2));
        timer.scheduleAtFixedRate(this::lookAtEachHsm, first, interval.toMillis(), TimeUnit.MILLISECONDS);
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
    private void lookSafely(Runnable look) {
        try {
            look.run();
        } catch (RuntimeException e) {
            LOG.errorf(e, "Looking for drift in keys failed; trying again in %s", interval);
        }
    }

    /** The periodic look: each HSM's listing on a thread of its own, unless its previous listing still runs. */
    private void lookAtEachHsm() {
        ScheduledExecutorService t = timer;
        for (String uri : seen.values().stream().map(Seen::hsmUri).distinct().toList()) {
            if (t != null && listing.add(uri)) {
                t.execute(() -> {
                    try {
                        lookSafely(() -> look(uri));
                    } finally {
                        listing.remove(uri);
                    }
                });
            }
        }
    }

    /** One listing per HSM with converged keys, one after the other; an event for each key that differs from what its reconcile saw. */
    void look() {
        seen.values().stream().map(Seen::hsmUri).distinct().toList().forEach(this::look);
    }

    /** One listing of the HSM; an event for each of its watched keys that differs from what was seen. */
    void look(String uri) {
        Map<String, HsmKeys.Listed> listed = new HashMap<>();
        try {
            Instant started = clock.instant();
            List<HsmKeys.Listed> all = keys.list(uri);
            all.forEach(l -> listed.put(l.name().toLowerCase(Locale.ROOT), l));
            // As of its start: a key created while the listing ran may be missing from it.
            counts.listed(uri, new KeyCounts.Count(all.size(), started));
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
        for (Map.Entry<ResourceID, Seen> e : List.copyOf(seen.entrySet())) {
            if (!e.getValue().hsmUri().equals(uri)) {
                continue;
            }
            HsmKeys.Listed now = listed.get(e.getValue().name().toLowerCase(Locale.ROOT));
            if (!e.getValue().matches(now) && seen.remove(e.getKey(), e.getValue())) {
                LOG.debugf("Key %s in %s changed outside the operator: reconciling HsmKey %s", e.getValue().name(), uri, e.getKey());
                getEventHandler().handleEvent(new Event(e.getKey()));
            }
        }
    }
}
