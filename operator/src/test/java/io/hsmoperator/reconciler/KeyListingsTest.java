package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The per-HSM listing: which HsmKeys it wakes, and what one listing per HSM costs. */
class KeyListingsTest {
    private static final String HSM = "https://hsm-1.managedhsm.azure.net";
    private static final Instant T = Instant.parse("2026-11-30T10:00:00Z");

    /** Azure as a listing sees it; every other call is out of scope here. */
    private static final class Listing implements HsmKeys {
        final List<Listed> keys = new ArrayList<>();
        final AtomicInteger lists = new AtomicInteger();
        boolean failing;

        @Override
        public List<Listed> list(String hsmUri) {
            lists.incrementAndGet();
            if (failing) {
                throw AzureError.of(new RuntimeException("connection reset"));
            }
            return List.copyOf(keys);
        }

        @Override
        public Optional<Key> get(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Key getVersion(String hsmUri, String name, String version) {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<Version> versions(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Optional<Deleted> getDeleted(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Optional<Attestation> attestation(String hsmUri, String name, String version) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Created create(String hsmUri, String name, NewKey key) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Created importKey(String hsmUri, String name, ImportedKey key) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Mutation update(String hsmUri, String name, String version, Update update) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Mutation delete(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Mutation recover(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Optional<RotationPolicy> rotationPolicy(String hsmUri, String name) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Mutation setRotationPolicy(String hsmUri, String name, RotationPolicy policy) {
            throw new UnsupportedOperationException();
        }
    }

    private static HsmKeys.Key key(String name, boolean enabled, Map<String, String> tags) {
        return new HsmKeys.Key(HSM + "/keys/" + name + "/v1", name, "v1", "EC-HSM", null, "P-256", List.of("sign", "verify"), enabled,
                T, null, tags, false, Map.of(), T);
    }

    private static HsmKey cr(String name) {
        HsmKey k = new HsmKey();
        k.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("payments").build());
        return k;
    }

    @Test
    void onlyTheKeysThatChangedAreReconciledAndEachHsmIsListedOnce() {
        Listing azure = new Listing();
        KeyListings listings = new KeyListings(azure, Duration.ofMinutes(10), new KeyCounts(), java.time.Clock.systemUTC());
        List<ResourceID> woken = new ArrayList<>();
        listings.setEventHandler(e -> woken.add(e.getRelatedCustomResourceID()));
        for (String name : List.of("a", "b", "c", "d")) {
            HsmKeys.Key k = key(name, true, Map.of("team", "payments"));
            listings.saw(cr(name), HSM, k);
            azure.keys.add(HsmKeys.Listed.of(k));
        }

        listings.look();
        assertEquals(List.of(), woken, "nothing changed: no reconcile, no read of any key");
        assertEquals(1, azure.lists.get(), "one listing for the HSM, whatever the number of keys");

        // Out of band: b disabled, c retagged (name in other case, as Azure may answer), d deleted.
        azure.keys.set(1, HsmKeys.Listed.of(key("b", false, Map.of("team", "payments"))));
        azure.keys.set(2, HsmKeys.Listed.of(key("C", true, Map.of("team", "someone-else"))));
        azure.keys.remove(3);
        listings.look();
        assertEquals(List.of(ResourceID.fromResource(cr("b")), ResourceID.fromResource(cr("c")), ResourceID.fromResource(cr("d"))),
                woken.stream().sorted(java.util.Comparator.comparing(ResourceID::getName)).toList());

        // Woken once: until their reconcile records what it saw, they are not watched.
        woken.clear();
        listings.look();
        assertEquals(List.of(), woken);

        // A key a reconcile no longer watches (not converged, or deleted) is not woken either.
        listings.forget(cr("a"));
        azure.keys.set(0, HsmKeys.Listed.of(key("a", false, Map.of())));
        listings.look();
        assertEquals(List.of(), woken);
    }

    @Test
    void aKeyTakenOnTrustIsWokenWhenItsListingDiffersInWhatStatusRecorded() {
        Listing azure = new Listing();
        KeyListings listings = new KeyListings(azure, Duration.ofMinutes(10), new KeyCounts(), java.time.Clock.systemUTC());
        List<ResourceID> woken = new ArrayList<>();
        listings.setEventHandler(e -> woken.add(e.getRelatedCustomResourceID()));
        for (String name : List.of("a", "b", "c", "d")) {
            HsmKeys.Key k = key(name, true, Map.of("team", "payments"));
            azure.keys.add(HsmKeys.Listed.of(k));
            // What a status records: no tags; any change of them moves updated.
            listings.trust(cr(name), HSM, new HsmKeys.Listed(name, true, T, T, null, null));
        }
        listings.look();
        assertEquals(List.of(), woken, "status and the listing agree: no key is read");

        // b disabled, c retagged (Azure moves updated), d gone.
        azure.keys.set(1, new HsmKeys.Listed("b", false, T, T.plusSeconds(60), null, Map.of("team", "payments")));
        azure.keys.set(2, new HsmKeys.Listed("c", true, T, T.plusSeconds(60), null, Map.of("team", "other")));
        azure.keys.remove(3);
        listings.look();
        assertEquals(List.of(ResourceID.fromResource(cr("b")), ResourceID.fromResource(cr("c")), ResourceID.fromResource(cr("d"))),
                woken.stream().sorted(java.util.Comparator.comparing(ResourceID::getName)).toList());
    }

    @Test
    void aFailingListingWakesNothing() {
        Listing azure = new Listing();
        KeyListings listings = new KeyListings(azure, Duration.ofMinutes(10), new KeyCounts(), java.time.Clock.systemUTC());
        List<Event> woken = new ArrayList<>();
        listings.setEventHandler(woken::add);
        listings.saw(cr("a"), HSM, key("a", true, Map.of()));
        azure.failing = true;
        listings.look();
        listings.look();
        assertEquals(List.of(), woken, "a listing that fails says nothing about the keys; their full reads still run");
        azure.failing = false;
        listings.look();
        assertEquals(1, woken.size(), "the key missing from a listing that works is woken");
    }

    /** Only what HsmKeyCount reads of the configuration: the drift interval and the near-limit ratio. */
    private static io.hsmoperator.azure.OperatorConfig config(Duration driftInterval) {
        return proxy(io.hsmoperator.azure.OperatorConfig.class, m -> switch (m) {
            case "reconcile" -> proxy(io.hsmoperator.azure.OperatorConfig.Reconcile.class, r -> r.equals("driftInterval") ? driftInterval : null);
            case "warnings" -> proxy(io.hsmoperator.azure.OperatorConfig.Warnings.class, w -> w.equals("hsmKeysNearLimitRatio") ? 0.9 : null);
            default -> null;
        });
    }

    private static <T> T proxy(Class<T> type, java.util.function.Function<String, Object> answer) {
        return type.cast(java.lang.reflect.Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type},
                (p, method, args) -> answer.apply(method.getName())));
    }

    private static final class SettableClock extends java.time.Clock {
        Instant now = T;

        @Override
        public java.time.ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public java.time.Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @Test
    void theDriftListingIsTheHsmsKeyCountSoTheHsmIsNotListedTwice() {
        Listing azure = new Listing();
        KeyCounts counts = new KeyCounts();
        SettableClock clock = new SettableClock();
        Duration interval = Duration.ofMinutes(10);
        KeyListings listings = new KeyListings(azure, interval, counts, clock);
        for (String name : List.of("a", "b", "c")) {
            HsmKeys.Key k = key(name, true, Map.of());
            listings.saw(cr(name), HSM, k);
            azure.keys.add(HsmKeys.Listed.of(k));
        }
        listings.look();
        assertEquals(1, azure.lists.get());

        HsmKeyCount count = new HsmKeyCount(azure, counts, config(interval), null, clock);
        var st = new io.hsmoperator.api.managedhsm.ManagedHsmStatus();
        clock.now = T.plusSeconds(120);
        // ARM gives the HSM's URI with a trailing slash; the HsmKeys' listing had it from the ManagedHsm without.
        count.count(new io.hsmoperator.api.managedhsm.ManagedHsm(), st, HSM + "/");
        assertEquals(3, st.keyCount);
        assertEquals(T.toString(), st.keysCountedAt, "the count is the drift listing's, made two minutes before");
        assertEquals(1, azure.lists.get(), "no second listing to count the keys");

        // Two drift intervals after that listing, with no other meanwhile (the HsmKeys gone, say): the count lists on its own.
        azure.keys.add(HsmKeys.Listed.of(key("d", true, Map.of())));
        clock.now = T.plus(interval.multipliedBy(2)).plusSeconds(1);
        count.count(new io.hsmoperator.api.managedhsm.ManagedHsm(), st, HSM + "/");
        assertEquals(4, st.keyCount);
        assertEquals(2, azure.lists.get());
        assertEquals(clock.now.toString(), st.keysCountedAt);
    }

    @Test
    void keysTakenOnTrustOneAfterAnotherAreConfirmedByOneListingOnceTheyPause() throws Exception {
        Listing azure = new Listing();
        KeyListings listings = new KeyListings(azure, Duration.ofMinutes(10), new KeyCounts(), java.time.Clock.systemUTC());
        listings.setEventHandler(e -> { });
        listings.start();
        try {
            // A restart's first reconciles: a key taken on trust every 400 ms, for longer than the quiet period.
            for (String name : List.of("a", "b", "c", "d")) {
                azure.keys.add(HsmKeys.Listed.of(key(name, true, Map.of())));
                listings.trust(cr(name), HSM, new HsmKeys.Listed(name, true, T, T, null, null));
                Thread.sleep(400);
            }
            assertEquals(0, azure.lists.get(), "no listing while keys keep coming");
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (azure.lists.get() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(1, azure.lists.get(), "one listing once they paused");
            Thread.sleep(KeyListings.CONFIRM_QUIET.toMillis() + 500);
            assertEquals(1, azure.lists.get(), "and only one");
        } finally {
            listings.stop();
        }
    }
}
