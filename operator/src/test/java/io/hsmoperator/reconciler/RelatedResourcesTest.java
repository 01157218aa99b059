package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelatedResourcesTest {
    private static ManagedHsm readyHsm() {
        ManagedHsm hsm = new ManagedHsm();
        hsm.setMetadata(new ObjectMetaBuilder().withName("payments-hsm").withNamespace("payments").build());
        hsm.setSpec(new ManagedHsmSpec());
        hsm.getSpec().allowedNamespaces = List.of("payments-api");
        hsm.setStatus(new ManagedHsmStatus());
        hsm.getStatus().hsmUri = "https://contoso-payments-hsm.managedhsm.azure.net/";
        hsm.getStatus().resourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/contoso-payments-hsm";
        Conditions.ready(hsm.getStatus(), Reason.Ready, "Ready.", 1L, Clock.systemUTC());
        return hsm;
    }

    private static boolean wakes(Consumer<ManagedHsm> change) {
        return wakes(HsmRefs::whatReferrersRead, change);
    }

    private static boolean wakes(java.util.function.Function<ManagedHsm, ?> reads, Consumer<ManagedHsm> change) {
        ManagedHsm now = readyHsm();
        change.accept(now);
        return !java.util.Objects.equals(reads.apply(now), reads.apply(readyHsm()));
    }

    private static ManagedHsmStatus.Region region(String name, String state) {
        ManagedHsmStatus.Region r = new ManagedHsmStatus.Region();
        r.name = name;
        r.provisioningState = state;
        r.hsmUri = "https://contoso-payments-hsm-" + name + ".managedhsm.azure.net/";
        return r;
    }

    @Test
    void keysAreWokenByARegionOnlyOnceAzureFinishedAddingIt() {
        Consumer<ManagedHsm> adding = h -> {
            h.getStatus().regions = List.of(region("northeurope", "Provisioning"));
            h.getStatus().regionSummary = "westeurope (primary), northeurope (Provisioning)";
        };
        Consumer<ManagedHsm> added = h -> {
            h.getStatus().regions = List.of(region("northeurope", "Succeeded"));
            h.getStatus().regionSummary = "westeurope (primary), northeurope (Succeeded)";
        };
        assertFalse(wakes(HsmRefs::whatKeysRead, adding), "a region being added: no host to publish yet");
        assertTrue(wakes(HsmRefs::whatKeysRead, added), "a region added: its host is published");
        assertTrue(wakes(adding), "other referrers follow each step of it");
        assertTrue(wakes(HsmRefs::whatKeysRead, h -> h.getStatus().hsmUri = null), "keys read what every referrer reads");
        assertTrue(wakes(HsmRefs::everything, h -> h.getMetadata().setResourceVersion("99")), "a private endpoint reads every change");
    }

    @Test
    void keysAreWokenOnlyWhenWhatTheyReadOfTheirHsmChanges() {
        assertTrue(wakes(h -> Conditions.progressing(h.getStatus(), Reason.Ready, "Updating.", 2L, Clock.systemUTC())), "no longer Ready");
        assertTrue(wakes(h -> h.getSpec().allowedNamespaces = List.of()), "a namespace's permission withdrawn");
        assertTrue(wakes(h -> h.getSpec().allowedHsmWideKinds = List.of(new ManagedHsmSpec.HsmWideGrant("platform",
                List.of(ManagedHsmSpec.HsmWideGrant.Kind.HsmDiagnostics)))), "an HSM-wide kind granted");
        assertTrue(wakes(h -> h.getSpec().management = ManagedHsmSpec.Management.ObserveOnly), "no longer written to");
        assertTrue(wakes(h -> h.getStatus().hsmUri = null), "no URI");
        assertTrue(wakes(h -> h.getMetadata().setDeletionTimestamp("2026-11-30T16:00:00Z")), "being deleted");

        assertFalse(wakes(h -> { }), "nothing changed");
        assertFalse(wakes(h -> Conditions.ready(h.getStatus(), Reason.Ready, "Ready, with new words.", 3L, Clock.systemUTC())),
                "a condition's message");
        assertFalse(wakes(h -> h.getStatus().privateEndpointConnections.add(new ManagedHsmStatus.PrivateEndpointConnection())),
                "a private endpoint connection");
        assertFalse(wakes(h -> h.getMetadata().setResourceVersion("99")), "a new resource version");
    }

    private static HsmKey readyKey() {
        HsmKey key = new HsmKey();
        key.setMetadata(new ObjectMetaBuilder().withName("payments-signing").withNamespace("payments").withUid("u-1")
                .withResourceVersion("41").withGeneration(2L).build());
        key.setSpec(new HsmKeySpec());
        key.setStatus(new HsmKeyStatus());
        key.getStatus().versionlessKeyId = "https://contoso-payments-hsm.managedhsm.azure.net/keys/payments-signing";
        key.getStatus().versions.add(new HsmKeyStatus.KeyVersion());
        Conditions.ready(key.getStatus(), Reason.Ready, "Ready.", 2L, Clock.systemUTC());
        return key;
    }

    /** Whether a grant on the key wakes when it changes so, judged as the informer does: the new full copy against its outline. */
    private static boolean grantWakes(Consumer<HsmKey> change) {
        HsmKey now = readyKey();
        change.accept(now);
        return !RelatedResources.whatGrantsRead(now).equals(RelatedResources.whatGrantsRead(RelatedResources.outline(readyKey())));
    }

    @Test
    void theGrantsInformerKeepsAnOutlineOfEachKeyAndWakesGrantsOnlyWhenWhatTheyReadChanges() {
        HsmKey outline = RelatedResources.outline(readyKey());
        assertEquals("payments-signing", outline.getMetadata().getName());
        assertEquals("u-1", outline.getMetadata().getUid());
        assertNull(outline.getSpec(), "no spec kept");
        assertNull(outline.getStatus().versionlessKeyId, "no status kept but Ready");
        assertEquals(List.of("Ready"), outline.getStatus().conditions.stream().map(c -> c.getType()).toList());
        HsmKey unread = readyKey();
        unread.setStatus(null);
        assertEquals(RelatedResources.whatGrantsRead(unread), RelatedResources.whatGrantsRead(RelatedResources.outline(unread)),
                "a key with no status yet");

        assertTrue(grantWakes(k -> Conditions.progressing(k.getStatus(), Reason.Ready, "Rotating.", 2L, Clock.systemUTC())), "no longer Ready");
        assertTrue(grantWakes(k -> k.getMetadata().setGeneration(3L)), "its spec changed");
        assertTrue(grantWakes(k -> k.getMetadata().setDeletionTimestamp("2026-12-07T16:00:00Z")), "being deleted");

        assertFalse(grantWakes(k -> { }), "nothing changed");
        assertFalse(grantWakes(k -> k.getStatus().versions.add(new HsmKeyStatus.KeyVersion())), "a new version");
        assertFalse(grantWakes(k -> k.getMetadata().setResourceVersion("42")), "a status write");
    }
}
