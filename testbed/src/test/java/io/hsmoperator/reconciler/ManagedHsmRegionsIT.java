package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.emulator.State;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multi-region replication of a ManagedHsm (spec.regions) against the emulator on the real API server: the replica is
 * added and reported with its own host, published to workloads, removed with the spec; what Azure refuses is refused
 * before anything is sent, what Azure refuses while a region is added waits, and deletion removes the replica first.
 */
@QuarkusTest
class ManagedHsmRegionsIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private ManagedHsm respec(ManagedHsm edited) {
        ManagedHsm latest = get(ManagedHsm.class, edited.getMetadata().getName());
        latest.setSpec(edited.getSpec());
        return update(latest);
    }

    private Optional<ManagedHsmStatus.Region> region(String name, String region) {
        ManagedHsm h = get(ManagedHsm.class, name);
        return h == null || h.getStatus() == null || h.getStatus().regions == null ? Optional.empty()
                : h.getStatus().regions.stream().filter(r -> r.name.equalsIgnoreCase(region)).findFirst();
    }

    private List<String> azureRegions(String azureName) {
        return emulator.inspect(s -> s.hsms.get(azureName).extendedRegions.stream().filter(r -> r.removedAtMillis == 0)
                .map(r -> r.name).toList());
    }

    @Test
    void replicatesToTheDeclaredRegionPublishesItsHostAndRemovesTheReplicaWithTheSpec() throws Exception {
        apply(officersSecret("hsm-officers", 3, "2"));
        String azureName = uniqueHsmName("regions");
        ManagedHsm cr = managedHsm("hsm", azureName);
        cr.getSpec().regions = List.of("northeurope");
        apply(cr);
        awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", WAIT);
        await().atMost(WAIT).until(() -> region("hsm", "northeurope").map(r -> "Succeeded".equals(r.provisioningState)).orElse(false));
        String regional = emulator.regionUri(azureName, "northeurope").orElseThrow();
        ManagedHsm ready = get(ManagedHsm.class, "hsm");
        assertEquals(regional, region("hsm", "northeurope").orElseThrow().hsmUri, "status names the region's own data-plane host");
        assertEquals("westeurope", ready.getStatus().regions.get(0).name);
        assertTrue(ready.getStatus().regions.get(0).primary);
        assertEquals("westeurope (primary), northeurope (Succeeded)", ready.getStatus().regionSummary);
        assertEquals(List.of("northeurope"), azureRegions(azureName));
        assertTrue(eventReasons().contains("RegionAddStarted"));

        // a workload pinned to the region reads its key through the published regional host with the Azure SDK
        apply(hsmKey("signing", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(io.hsmoperator.api.hsmkey.HsmKey.class, "signing", "Ready", "True", null, WAIT);
        await().atMost(WAIT).until(() -> {
            ConfigMap cm = client.configMaps().inNamespace(ns).withName("signing-key").get();
            return cm != null && regional.equals(cm.getData().get("hsmUri.northeurope"));
        });
        ConfigMap cm = client.configMaps().inNamespace(ns).withName("signing-key").get();
        var keys = azureAs(emulator.builtInPrincipal()).keys(cm.getData().get("hsmUri.northeurope"));
        await().atMost(WAIT).ignoreExceptions().until(() -> keys.getKey(cm.getData().get("keyName")).getProperties().getVersion()
                .equals(cm.getData().get("currentVersion")));

        // removing the region from the spec removes the replica in Azure (the primary keeps the key)
        cr = get(ManagedHsm.class, "hsm");
        cr.getSpec().regions = List.of();
        respec(cr);
        await().atMost(WAIT).until(() -> azureRegions(azureName).isEmpty());
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "hsm").getStatus().regions.size() == 1);
        assertTrue(eventReasons().contains("RegionRemoveStarted"));
        assertTrue(emulator.<Boolean>inspect(s -> s.hsms.get(azureName).keys.containsKey("signing")), "the primary keeps every key");
        await().atMost(WAIT).until(() -> !client.configMaps().inNamespace(ns).withName("signing-key").get().getData()
                .containsKey("hsmUri.northeurope"));
    }

    @Test
    void refusesARegionAzureRefusesAndThePrimaryWithoutSendingAnything() throws Exception {
        ManagedHsm cr = readyHsm("hsm");
        String azureName = cr.getSpec().azureName;
        long mark = emulator.controls().lastSequence();
        cr.getSpec().regions = List.of("eastus");
        respec(cr);
        ManagedHsm refused = awaitCondition(ManagedHsm.class, "hsm", "Ready", "False", "RegionNotSupported", WAIT);
        assertTrue(condition(refused, "Ready").getMessage().contains("eastus"), condition(refused, "Ready").getMessage());
        cr = get(ManagedHsm.class, "hsm");
        cr.getSpec().regions = List.of("West Europe");
        respec(cr);
        ManagedHsm primary = awaitCondition(ManagedHsm.class, "hsm", "Ready", "False", "InvalidSpec", WAIT);
        assertTrue(condition(primary, "Ready").getMessage().contains("primary region"), condition(primary, "Ready").getMessage());
        assertEquals(List.of(), operatorWrites(mark, azureName), "nothing was sent to Azure");
        assertEquals(List.of(), azureRegions(azureName));
    }

    @Test
    void networkRulesAndPrivateEndpointsWaitWhileARegionIsAdded() throws Exception {
        ManagedHsm cr = readyHsm("hsm");
        String azureName = cr.getSpec().azureName;
        emulator.controls().regionAddDelay(Duration.ofSeconds(15));
        try {
            cr.getSpec().regions = List.of("uksouth");
            respec(cr);
            await().atMost(WAIT).until(() -> region("hsm", "uksouth").map(r -> "Provisioning".equals(r.provisioningState)).orElse(false));
        } finally {
            emulator.controls().regionAddDelay(null);
        }
        // the HSM stays Ready (its primary serves) and says what Azure is doing
        ManagedHsm adding = awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", WAIT);
        assertTrue(condition(adding, "Ready").getMessage().contains("adding region uksouth"), condition(adding, "Ready").getMessage());
        long mark = emulator.controls().lastSequence();
        apply(privateEndpoint(ns, "pe", new HsmReference("hsm", null), SUBNET));
        awaitCondition(PrivateEndpoint.class, "pe", "Ready", "False", "WaitingForRegion", WAIT);
        cr = get(ManagedHsm.class, "hsm");
        cr.getSpec().publicNetworkAccess = ManagedHsmSpec.PublicNetworkAccess.Disabled;
        respec(cr);
        ManagedHsm waiting = awaitCondition(ManagedHsm.class, "hsm", "Ready", "False", "WaitingForRegion", WAIT);
        assertTrue(condition(waiting, "Ready").getMessage().contains("publicNetworkAccess"), condition(waiting, "Ready").getMessage());
        assertTrue(region("hsm", "uksouth").map(r -> "Provisioning".equals(r.provisioningState)).orElse(false), "still being added");
        assertEquals(List.of(), operatorWrites(mark, azureName), "no network-rule change sent while the region is added");
        assertEquals(List.of(), operatorWrites(mark, "privateEndpoints"), "no private endpoint created while the region is added");

        // once the region is there, both go through
        await().atMost(WAIT).until(() -> "Disabled".equals(azureHsm(azureName).orElseThrow().publicNetworkAccess));
        awaitCondition(PrivateEndpoint.class, "pe", "Ready", "True", null, WAIT);
        awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", WAIT);
        assertEquals(List.of("uksouth"), azureRegions(azureName));
    }

    @Test
    void deletingRemovesTheExtendedRegionBeforeTheHsmAndRetainLeavesBoth() throws Exception {
        apply(officersSecret("gone-officers", 3, "2"));
        apply(officersSecret("kept-officers", 3, "2"));
        ManagedHsm gone = managedHsm("gone", uniqueHsmName("gone"));
        gone.getSpec().regions = List.of("northeurope");
        gone.getSpec().purgeProtection = true;
        gone.getSpec().deletionPolicy = ManagedHsmSpec.DeletionPolicy.Delete;
        gone.getSpec().confirmDeletionOf = gone.getSpec().azureName;
        ManagedHsm kept = managedHsm("kept", uniqueHsmName("kept"));
        kept.getSpec().regions = List.of("northeurope");
        apply(gone);
        apply(kept);
        await().atMost(WAIT).until(() -> region("gone", "northeurope").map(r -> "Succeeded".equals(r.provisioningState)).orElse(false)
                && region("kept", "northeurope").map(r -> "Succeeded".equals(r.provisioningState)).orElse(false));
        String goneName = gone.getSpec().azureName;
        String keptName = kept.getSpec().azureName;
        long mark = emulator.controls().lastSequence();
        client.resource(get(ManagedHsm.class, "gone")).delete();
        client.resource(get(ManagedHsm.class, "kept")).delete();
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "gone") == null && get(ManagedHsm.class, "kept") == null);

        boolean softDeleted = emulator.inspect(s -> s.deletedHsms.containsKey(goneName));
        assertTrue(softDeleted, "deletionPolicy Delete soft-deleted the HSM");
        List<String> writes = operatorWrites(mark, goneName).stream().map(e -> e.method()).toList();
        assertEquals("PATCH", writes.get(0), "the extended region was removed first: " + writes);
        assertTrue(writes.contains("DELETE"), writes.toString());
        assertFalse(operatorWrites(mark, goneName).stream().anyMatch(e -> e.method().equals("DELETE") && e.status() == 409),
                "never sent while the HSM was still replicated");
        assertEquals(List.of(), operatorWrites(mark, keptName), "Retain removes nothing");
        assertEquals(List.of("northeurope"), azureRegions(keptName));
        State.Hsm still = azureHsm(keptName).orElseThrow();
        assertEquals(1, still.extendedRegions.size());
    }
}
