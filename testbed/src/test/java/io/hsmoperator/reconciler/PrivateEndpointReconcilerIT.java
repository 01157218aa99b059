package io.hsmoperator.reconciler;

import com.azure.core.management.exception.ManagementException;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.fluent.models.MhsmPrivateEndpointConnectionInner;
import com.azure.resourcemanager.keyvault.models.MhsmPrivateLinkServiceConnectionState;
import com.azure.resourcemanager.keyvault.models.PrivateEndpointServiceConnectionStatus;
import com.azure.resourcemanager.network.fluent.NetworkManagementClient;
import com.azure.resourcemanager.network.fluent.models.PrivateEndpointInner;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.privateendpoint.PrivateEndpointSpec;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
class PrivateEndpointReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final String SUBNET = "/subscriptions/" + SUBSCRIPTION
            + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-pe";
    private static final String ZONE = "/subscriptions/" + SUBSCRIPTION
            + "/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.managedhsm.azure.net";

    private PrivateEndpoint endpoint(String name, boolean manual) {
        PrivateEndpoint p = new PrivateEndpoint();
        p.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        PrivateEndpointSpec s = new PrivateEndpointSpec();
        s.hsmRef = new HsmReference("hsm", null);
        s.azureName = "pe-" + name + "-" + ns;
        s.resourceGroup = "rg-net-" + ns;
        s.location = "westeurope";
        s.subnetId = SUBNET;
        s.privateDnsZoneIds = List.of(ZONE);
        s.manualApproval = manual;
        s.tags = Map.of("team", "payments");
        p.setSpec(s);
        return p;
    }

    private NetworkManagementClient network() {
        return owner().network().serviceClient();
    }

    private PrivateEndpointInner inAzure(PrivateEndpoint p) {
        return network().getPrivateEndpoints().getByResourceGroup(p.getSpec().resourceGroup, p.getSpec().azureName);
    }

    private List<MhsmPrivateEndpointConnectionInner> connections(ManagedHsm hsm) {
        return StreamSupport.stream(owner().keyVault().serviceClient().getMhsmPrivateEndpointConnections()
                .listByResource(hsm.getSpec().resourceGroup, hsm.getSpec().azureName).spliterator(), false).toList();
    }

    private void setConnection(ManagedHsm hsm, String status, String description) {
        MhsmPrivateEndpointConnectionInner pec = connections(hsm).get(0);
        pec.withPrivateLinkServiceConnectionState(new MhsmPrivateLinkServiceConnectionState()
                .withStatus(PrivateEndpointServiceConnectionStatus.fromString(status)).withDescription(description));
        owner().keyVault().serviceClient().getMhsmPrivateEndpointConnections()
                .put(hsm.getSpec().resourceGroup, hsm.getSpec().azureName, pec.name(), pec);
    }

    @Test
    void anEndpointForOneRegionWaitsForTheRegionAndNamesItsHost() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        PrivateEndpoint elsewhere = endpoint("elsewhere", false);
        elsewhere.getSpec().region = "uksouth";
        apply(elsewhere);
        var refused = awaitCondition(PrivateEndpoint.class, "elsewhere", "Ready", "False", "RegionNotInHsm", WAIT);
        assertTrue(condition(refused, "Ready").getMessage().contains("uksouth"), condition(refused, "Ready").getMessage());

        // the HSM's owners add the region; an endpoint for it waits until Azure has added it
        long mark = emulator.controls().lastSequence();
        emulator.controls().regionAddDelay(Duration.ofSeconds(6));
        try {
            ManagedHsm latest = get(ManagedHsm.class, "hsm");
            latest.getSpec().regions = List.of("northeurope");
            update(latest);
            PrivateEndpoint p = endpoint("replica", false);
            p.getSpec().region = "northeurope";
            p.getSpec().location = "northeurope";
            apply(p);
            awaitCondition(PrivateEndpoint.class, "replica", "Ready", "False", "WaitingForRegion", WAIT);
            assertEquals(List.of(), operatorWrites(mark, "privateEndpoints"), "nothing sent for a region the HSM does not have yet");
        } finally {
            emulator.controls().regionAddDelay(null);
        }
        PrivateEndpoint p = get(PrivateEndpoint.class, "replica");
        var ready = awaitCondition(PrivateEndpoint.class, "replica", "Ready", "True", null, WAIT);
        assertEquals(emulator.regionUri(hsm.getSpec().azureName, "northeurope").orElseThrow(), ready.getStatus().regionHsmUri,
                "status names the region's own data-plane host");
        assertEquals("northeurope", inAzure(p).location());
        assertEquals(1, connections(hsm).size());
    }

    @Test
    void anAutomaticEndpointConnectsRegistersDnsCorrectsDriftAndIsDeleted() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        PrivateEndpoint p = endpoint("auto", false);
        apply(p);
        PrivateEndpoint ready = awaitCondition(PrivateEndpoint.class, "auto", "Ready", "True", "Ready", WAIT);
        PrivateEndpointInner pe = inAzure(p);
        assertEquals(hsm.getStatus().resourceId, pe.privateLinkServiceConnections().get(0).privateLinkServiceId());
        assertEquals(List.of("managedhsm"), pe.privateLinkServiceConnections().get(0).groupIds());
        assertEquals(ownerTag(PrivateEndpoint.class, "auto"), pe.tags().get(Ownership.TAG));
        assertEquals(pe.id(), ready.getStatus().resourceId);
        assertEquals("Approved", ready.getStatus().connectionState);
        assertFalse(ready.getStatus().privateIpAddresses.isEmpty());
        assertEquals(hsm.getSpec().azureName + ".managedhsm.azure.net", ready.getStatus().fqdns.get(0));
        assertEquals(ZONE, network().getPrivateDnsZoneGroups().get(p.getSpec().resourceGroup, p.getSpec().azureName, "default")
                .privateDnsZoneConfigs().get(0).privateDnsZoneId());
        assertTrue(eventReasons().containsAll(List.of("PrivateEndpointCreateStarted", "DnsZoneGroupSet")));
        await().atMost(WAIT).until(() -> {
            ManagedHsm h = get(ManagedHsm.class, "hsm");
            return h.getStatus().privateEndpointConnections.size() == 1
                    && pe.id().equalsIgnoreCase(h.getStatus().privateEndpointConnections.get(0).privateEndpointId);
        });

        // tags changed in the portal are put back, once, though Azure's reads still show the old tags for a while
        Map<String, String> tags = new HashMap<>(pe.tags());
        tags.put("team", "someone-else");
        network().getPrivateEndpoints().createOrUpdate(p.getSpec().resourceGroup, p.getSpec().azureName, pe.withTags(tags));
        try (AutoCloseable lagging = emulator.controls().lagReads(Duration.ofSeconds(3))) {
            long mark = emulator.controls().lastSequence();
            touch(PrivateEndpoint.class, "auto");
            await().atMost(WAIT).until(() -> !operatorWrites(mark, "/privateEndpoints/" + p.getSpec().azureName).isEmpty());
            touch(PrivateEndpoint.class, "auto");
            Thread.sleep(1000);
            assertEquals(1, operatorWrites(mark, "/privateEndpoints/" + p.getSpec().azureName).size(), "one correction, not one per stale read");
        }
        await().atMost(WAIT).until(() -> "payments".equals(inAzure(p).tags().get("team")));

        // A tag someone else adds (an Azure Policy with the modify effect) is theirs: no drift, no write.
        Map<String, String> withPolicyTag = new HashMap<>(inAzure(p).tags());
        withPolicyTag.put("costCenter", "42");
        network().getPrivateEndpoints().createOrUpdate(p.getSpec().resourceGroup, p.getSpec().azureName, inAzure(p).withTags(withPolicyTag));
        await().atMost(WAIT).until(() -> "42".equals(inAzure(p).tags().get("costCenter")));
        long foreign = emulator.controls().lastSequence();
        touch(PrivateEndpoint.class, "auto");
        awaitCondition(PrivateEndpoint.class, "auto", "Ready", "True", null, WAIT);
        Thread.sleep(1000);
        assertEquals(List.of(), operatorWrites(foreign, "/privateEndpoints/" + p.getSpec().azureName), "a foreign tag is no drift");
        assertEquals("42", inAzure(p).tags().get("costCenter"));

        client.resource(get(PrivateEndpoint.class, "auto")).delete();
        await().atMost(WAIT).until(() -> get(PrivateEndpoint.class, "auto") == null);
        ManagementException gone = assertThrows(ManagementException.class, () -> network().getPrivateEndpoints()
                .getByResourceGroupWithResponse(p.getSpec().resourceGroup, p.getSpec().azureName, null, Context.NONE));
        assertEquals(404, gone.getResponse().getStatusCode());
        assertEquals(List.of(), connections(hsm), "deleting the endpoint removed its connection from the HSM");
    }

    @Test
    void aManualConnectionWaitsForApprovalAndSaysWhenItIsRejected() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        PrivateEndpoint p = endpoint("manual", true);
        p.getSpec().requestMessage = "payments API, change 4711";
        apply(p);
        PrivateEndpoint waiting = awaitCondition(PrivateEndpoint.class, "manual", "Ready", "False", "AwaitingApproval", WAIT);
        assertEquals("Pending", waiting.getStatus().connectionState);
        assertEquals("False", condition(waiting, "Stalled").getStatus(), "waiting for a person is not a failure");
        assertEquals("payments API, change 4711", inAzure(p).manualPrivateLinkServiceConnections().get(0).requestMessage());

        setConnection(hsm, "Approved", "ok by the HSM owners");
        PrivateEndpoint ready = awaitCondition(PrivateEndpoint.class, "manual", "Ready", "True", "Ready", WAIT);
        assertEquals("ok by the HSM owners", ready.getStatus().connectionDescription);

        setConnection(hsm, "Rejected", "not this subnet");
        PrivateEndpoint rejected = awaitCondition(PrivateEndpoint.class, "manual", "Ready", "False", "ConnectionRejected", WAIT);
        assertTrue(condition(rejected, "Ready").getMessage().contains("not this subnet"));
    }

    @Test
    void theOperatorApprovesWhenTheSpecSaysSo() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        PrivateEndpoint p = endpoint("approved", true);
        p.getSpec().approveConnection = true;
        apply(p);
        awaitCondition(PrivateEndpoint.class, "approved", "Ready", "True", "Ready", WAIT);
        assertEquals("Approved", connections(hsm).get(0).privateLinkServiceConnectionState().status().toString());
        assertTrue(connections(hsm).get(0).privateLinkServiceConnectionState().description().contains(ns + "/approved"));
        assertTrue(eventReasons().contains("ConnectionApproved"));
    }

    @Test
    void badInputIsRefusedAndRetainKeepsTheEndpoint() throws Exception {
        readyHsm("hsm");
        PrivateEndpoint badSubnet = endpoint("bad-subnet", false);
        badSubnet.getSpec().subnetId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet";
        refusedAtAdmission(badSubnet, "spec.subnetId");
        PrivateEndpoint badZone = endpoint("bad-zone", false);
        badZone.getSpec().privateDnsZoneIds = List.of("/subscriptions/" + SUBSCRIPTION
                + "/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/contoso.com");
        apply(badZone);
        assertTrue(condition(awaitCondition(PrivateEndpoint.class, "bad-zone", "Ready", "False", "InvalidSpec", WAIT), "Ready")
                .getMessage().contains("private DNS zone"));
        assertEquals(List.of(), journalSinceMark(e -> e.endpoint().equals("arm") && e.path().contains("privateEndpoints/pe-bad")
                && e.path().contains(ns)), "nothing was sent for either");

        emulator.controls().addFault(Controls.Fault.status("PUT", "arm", ".*/privateEndpoints/pe-kept-.*", 429, 1, 1));
        emulator.controls().addFault(Controls.Fault.status("GET", "arm", ".*/privateEndpoints/pe-kept-.*", 503, 0, 1));
        PrivateEndpoint kept = endpoint("kept", false);
        kept.getSpec().deletionPolicy = PrivateEndpointSpec.DeletionPolicy.Retain;
        apply(kept);
        PrivateEndpoint ready = awaitCondition(PrivateEndpoint.class, "kept", "Ready", "True", "Ready", WAIT);
        client.resource(ready).delete();
        await().atMost(WAIT).until(() -> get(PrivateEndpoint.class, "kept") == null);
        assertEquals(ready.getStatus().resourceId, inAzure(kept).id(), "deletionPolicy Retain: the endpoint stays");
    }
}
