package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Event;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Warnings before Azure refuses (issue 24), as a user sees them: an HSM near Managed HSM's 5,000 keys (status.keyCount,
 * the KeyCountNearLimit event, the hsm_operator_hsm_keys gauge) and a key that expires with nothing to replace it (the
 * ExpiryWarning condition and the ExpiryBeforeRotation event, Ready untouched). Time moves on both sides at once.
 */
@QuarkusTest
@TestProfile(HsmKeyRotationIT.FastResync.class)
class LimitWarningsIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);

    private List<Event> eventsOf(String reason, String name) {
        return events().stream().filter(e -> e.getReason().equals(reason) && e.getInvolvedObject().getName().equals(name)).toList();
    }

    @Test
    void anHsmNearItsKeyLimitIsCountedWarnedAboutOnceAndScraped() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(hsmKey("template", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "template", "Ready", "True", null, WAIT);
        String azureName = hsm.getSpec().azureName;
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "hsm").getStatus().keyCount != null);
        assertTrue(get(ManagedHsm.class, "hsm").getStatus().keyCount <= 1, "counted before the fillers exist");

        // Others fill the HSM to 90% of its 5,000 keys; the operator counts again after its drift interval (PT10M).
        assertEquals(4500, emulator.copyKey(azureName, KeySpecs.keyName(get(HsmKey.class, "template")), "filler-", 4499));
        emulator.controls().advance(Duration.ofMinutes(11));
        await().atMost(WAIT).until(() -> Integer.valueOf(4500).equals(get(ManagedHsm.class, "hsm").getStatus().keyCount));
        ManagedHsm counted = get(ManagedHsm.class, "hsm");
        assertEquals("True", condition(counted, "Ready").getStatus(), "a full HSM still works");
        await().atMost(WAIT).until(() -> eventsOf("KeyCountNearLimit", "hsm").size() == 1);
        Event warned = eventsOf("KeyCountNearLimit", "hsm").get(0);
        assertEquals("Warning", warned.getType());
        assertTrue(warned.getMessage().contains("4500 keys") && warned.getMessage().contains("5000"), warned.getMessage());

        String m = scrape();
        assertEquals(4500.0, sample(m, "hsm_operator_hsm_keys", "namespace=\"" + ns + "\"", "name=\"hsm\"").orElseThrow(), m);

        // Counted again a drift interval later, still near the limit: no second warning for the same crossing.
        String countedAt = counted.getStatus().keysCountedAt;
        emulator.controls().advance(Duration.ofMinutes(11));
        await().atMost(WAIT).until(() -> !countedAt.equals(get(ManagedHsm.class, "hsm").getStatus().keysCountedAt));
        Thread.sleep(1500);
        assertEquals(1, eventsOf("KeyCountNearLimit", "hsm").size(), "once per crossing, not per count");
        Event again = eventsOf("KeyCountNearLimit", "hsm").get(0);
        assertEquals(1, again.getCount() == null ? 1 : again.getCount(), "one event, not one repeated");
    }

    @Test
    void betweenTwoCountsTheHsmIsNotListedAgain() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "hsm").getStatus().keyCount != null);
        long mark = emulator.controls().lastSequence();
        Thread.sleep(3000);
        // The FastResync profile reconciles the HSM every second; none of those reconciles lists its keys.
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(hsm.getSpec().azureName)
                && e.method().equals("GET") && e.path().matches("/keys/?")), "no listing per reconcile");
    }

    /**
     * Issue 24: a version that expires within hsm.warnings.key-expiring-within (14 days) with nothing to replace it is
     * reported once, as an ExpiryBeforeRotation event and an ExpiryWarning condition, while Ready stays True; a rotation
     * that replaces it in time clears the condition.
     */
    @Test
    void aKeyExpiringWithNothingToReplaceItIsWarnedAboutOnceAndStaysReady() throws Exception {
        readyHsm("hsm");
        HsmKey key = hsmKey("expiring", "hsm", HsmKeySpec.KeyType.EC_HSM);
        key.getSpec().expiresAfter = "P60D";
        apply(key);
        HsmKey k = awaitCondition(HsmKey.class, "expiring", "Ready", "True", null, WAIT);
        assertNull(condition(k, Conditions.EXPIRY_WARNING), "60 days from expiry is outside the 14-day window");

        emulator.controls().advance(Duration.ofDays(50));
        k = awaitKey("expiring", x -> condition(x, Conditions.EXPIRY_WARNING) != null, "the expiry warning", WAIT);
        assertEquals("True", condition(k, Conditions.EXPIRY_WARNING).getStatus());
        assertEquals("ExpiryBeforeRotation", condition(k, Conditions.EXPIRY_WARNING).getReason());
        assertTrue(condition(k, Conditions.EXPIRY_WARNING).getMessage().contains("nothing rotates the key"),
                condition(k, Conditions.EXPIRY_WARNING).getMessage());
        assertEquals("True", condition(k, "Ready").getStatus(), "the key works until it expires");

        emulator.controls().advance(Duration.ofDays(1));
        Thread.sleep(2500);
        assertEquals("True", condition(get(HsmKey.class, "expiring"), Conditions.EXPIRY_WARNING).getStatus());
        List<io.fabric8.kubernetes.api.model.Event> warned = events().stream().filter(e -> e.getReason().equals("ExpiryBeforeRotation")
                && e.getInvolvedObject().getName().equals("expiring")).toList();
        assertEquals(1, warned.size(), "warned once per crossing, not per reconcile: " + warned);
        assertEquals("Warning", warned.get(0).getType());
        assertEquals(1, warned.get(0).getCount() == null ? 1 : warned.get(0).getCount(), "one event, not one repeated");

        // A schedule that rotates before the expiry: the new version expires 60 days on, and the warning goes.
        k = get(HsmKey.class, "expiring");
        k.getSpec().rotation = new HsmKeySpec.Rotation();
        k.getSpec().rotation.every = "P30D";
        update(k);
        k = awaitKey("expiring", x -> x.getStatus().versionCount == 2 && condition(x, Conditions.EXPIRY_WARNING) == null,
                "a rotation in time, and no warning", WAIT);
        assertEquals("True", condition(k, "Ready").getStatus());
    }

}
