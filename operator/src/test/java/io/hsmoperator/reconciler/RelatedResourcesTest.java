package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertFalse;
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
        ManagedHsm now = readyHsm();
        change.accept(now);
        return RelatedResources.usabilityChanged(now, readyHsm());
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
}
