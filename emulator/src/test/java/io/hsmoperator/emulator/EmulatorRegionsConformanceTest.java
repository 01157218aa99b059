package io.hsmoperator.emulator;

import com.azure.core.management.exception.ManagementException;
import com.azure.resourcemanager.keyvault.fluent.ManagedHsmsClient;
import com.azure.resourcemanager.keyvault.fluent.models.ManagedHsmInner;
import com.azure.resourcemanager.keyvault.fluent.models.MhsmGeoReplicatedRegionInner;
import com.azure.resourcemanager.keyvault.models.GeoReplicationRegionProvisioningState;
import com.azure.resourcemanager.keyvault.models.ManagedHsmProperties;
import com.azure.resourcemanager.keyvault.models.PublicNetworkAccess;
import com.azure.resourcemanager.network.fluent.models.PrivateEndpointInner;
import com.azure.resourcemanager.network.fluent.models.SubnetInner;
import com.azure.resourcemanager.network.models.PrivateLinkServiceConnection;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.models.KeyType;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.StreamSupport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multi-region replication through the real resource-manager SDK (properties.regions, the MhsmRegions list) and the real
 * Key Vault keys client on each region's own data-plane host: the add takes time, writes replicate after a delay, and
 * what Azure refuses (a second extended region, an excluded region, network and private-endpoint changes while a region
 * is added, deleting a replicated HSM) is refused.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EmulatorRegionsConformanceTest {
    private static final String RG = "rg-regions";
    private static final Duration ADD = Duration.ofMillis(1500);
    private static final Duration REPLICATION = Duration.ofMillis(1500);
    private Emulator emulator;
    private EmulatorClients admin;

    @BeforeAll
    void start() {
        emulator = Emulator.start(EmulatorConfig.inMemory().withRegionDelays(ADD, REPLICATION));
        admin = new EmulatorClients(emulator, emulator.builtInPrincipal());
    }

    @AfterAll
    void stop() {
        emulator.close();
    }

    private ManagedHsmsClient hsms() {
        return admin.keyVault().serviceClient().getManagedHsms();
    }

    private static String name(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** The PATCH az keyvault region add|remove sends: properties.regions alone. */
    private static ManagedHsmInner regions(String primary, String... extended) {
        List<MhsmGeoReplicatedRegionInner> list = new java.util.ArrayList<>();
        list.add(new MhsmGeoReplicatedRegionInner().withName(primary).withIsPrimary(true));
        for (String r : extended) {
            list.add(new MhsmGeoReplicatedRegionInner().withName(r).withIsPrimary(false));
        }
        return new ManagedHsmInner().withProperties(new ManagedHsmProperties().withRegions(list));
    }

    private List<MhsmGeoReplicatedRegionInner> listed(String name) {
        return StreamSupport.stream(admin.keyVault().serviceClient().getMhsmRegions().listByResource(RG, name).spliterator(), false).toList();
    }

    @Test
    void anExtendedRegionIsAddedOverTimeAndServesTheSameKeysFromItsOwnHost() throws Exception {
        String name = name("reg-add");
        String primaryUri = HsmFixtures.readyHsm(admin, RG, name, HsmFixtures.CRYPTO_USER);
        assertEquals(1, listed(name).size(), "an HSM never extended lists its primary region only");
        assertTrue(hsms().getByResourceGroup(RG, name).properties().regions().isEmpty(), "and its properties.regions is empty, as recorded");
        KeyVaultKey before = admin.keys(primaryUri).createRsaKey(new com.azure.security.keyvault.keys.models.CreateRsaKeyOptions("before"));

        var started = hsms().updateWithResponseAsync(RG, name, regions("westeurope", "northeurope")).block();
        assertEquals(202, started.getStatusCode(), "adding a region is a long-running update");
        List<MhsmGeoReplicatedRegionInner> during = listed(name);
        assertEquals(List.of("westeurope", "northeurope"), during.stream().map(MhsmGeoReplicatedRegionInner::name).toList());
        assertTrue(during.get(0).isPrimary());
        assertEquals(GeoReplicationRegionProvisioningState.PROVISIONING, during.get(1).provisioningState());
        String regionUri = emulator.regionUri(name, "northeurope").orElseThrow();
        assertNotEquals(primaryUri, regionUri, "each region has its own data-plane host");

        await().atMost(Duration.ofSeconds(10)).until(() -> GeoReplicationRegionProvisioningState.SUCCEEDED.equals(
                hsms().getByResourceGroup(RG, name).properties().regions().get(1).provisioningState()));
        KeyClient region = admin.keys(regionUri);
        KeyVaultKey seen = region.getKey("before");
        assertEquals(before.getKey().getN().length, seen.getKey().getN().length);
        assertTrue(seen.getId().startsWith(regionUri.replaceAll("/$", "")), "the key ID names the host that answered");

        // a write through the extended region's host reaches the primary's after the replication delay
        KeyVaultKey written = region.createKey("written-in-region", KeyType.RSA_HSM);
        assertThrows(com.azure.core.exception.ResourceNotFoundException.class, () -> admin.keys(primaryUri).getKey("written-in-region"),
                "not replicated yet");
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            try {
                return admin.keys(primaryUri).getKey("written-in-region").getProperties().getVersion()
                        .equals(written.getProperties().getVersion());
            } catch (com.azure.core.exception.ResourceNotFoundException e) {
                return false;
            }
        });
    }

    @Test
    void refusesWhatAzureRefuses() throws Exception {
        String name = name("reg-refuse");
        ManagedHsmInner hsm = HsmFixtures.createHsm(admin, RG, name);

        ManagementException excluded = assertThrows(ManagementException.class, () -> hsms().update(RG, name, regions("westeurope", "eastus")));
        assertEquals(400, excluded.getResponse().getStatusCode());
        assertEquals("RegionNotSupported", excluded.getValue().getCode());
        ManagementException two = assertThrows(ManagementException.class,
                () -> hsms().update(RG, name, regions("westeurope", "northeurope", "uksouth")));
        assertEquals(400, two.getResponse().getStatusCode());
        ManagementException primary = assertThrows(ManagementException.class, () -> hsms().update(RG, name,
                new ManagedHsmInner().withProperties(new ManagedHsmProperties().withRegions(List.of(
                        new MhsmGeoReplicatedRegionInner().withName("uksouth").withIsPrimary(true))))));
        assertEquals(400, primary.getResponse().getStatusCode(), "the primary region cannot move");

        emulator.controls().regionAddDelay(Duration.ofSeconds(30));
        try {
            hsms().updateWithResponseAsync(RG, name, regions("westeurope", "uksouth")).block();
            ManagementException network = assertThrows(ManagementException.class, () -> hsms().update(RG, name, new ManagedHsmInner()
                    .withProperties(new ManagedHsmProperties().withPublicNetworkAccess(PublicNetworkAccess.DISABLED))));
            assertEquals(409, network.getResponse().getStatusCode(), "no network-rule change while a region is being added");
            String subnet = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe";
            PrivateEndpointInner pe = new PrivateEndpointInner().withLocation("uksouth").withSubnet(new SubnetInner().withId(subnet))
                    .withPrivateLinkServiceConnections(List.of(new PrivateLinkServiceConnection().withName("c")
                            .withPrivateLinkServiceId(hsm.id()).withGroupIds(List.of("managedhsm"))));
            ManagementException endpoint = assertThrows(ManagementException.class,
                    () -> admin.network().serviceClient().getPrivateEndpoints().createOrUpdate("rg-net", "pe-" + name, pe));
            assertEquals(409, endpoint.getResponse().getStatusCode(), "no private endpoint while a region is being added");
            ManagementException removeWhileAdding = assertThrows(ManagementException.class, () -> hsms().update(RG, name, regions("westeurope")));
            assertEquals(409, removeWhileAdding.getResponse().getStatusCode());
            ManagementException delete = assertThrows(ManagementException.class, () -> hsms().delete(RG, name));
            assertEquals(409, delete.getResponse().getStatusCode(), "a replicated HSM is deleted only after its extended regions");
        } finally {
            emulator.controls().regionAddDelay(null);
        }
    }

    @Test
    void aRemovedRegionGoesAwayAndThenTheHsmCanBeDeleted() {
        String name = name("reg-remove");
        HsmFixtures.createHsm(admin, RG, name);
        hsms().beginUpdate(RG, name, regions("westeurope", "northeurope")).waitForCompletion();
        await().atMost(Duration.ofSeconds(10)).until(() -> listed(name).size() == 2 && listed(name).get(1).provisioningState()
                .equals(GeoReplicationRegionProvisioningState.SUCCEEDED));
        hsms().updateWithResponseAsync(RG, name, regions("westeurope")).block();
        assertEquals(GeoReplicationRegionProvisioningState.DELETING, listed(name).get(1).provisioningState());
        await().atMost(Duration.ofSeconds(10)).until(() -> listed(name).size() == 1);
        assertTrue(emulator.regionUri(name, "northeurope").isEmpty(), "the region's host is gone with it");
        hsms().beginDelete(RG, name).waitForCompletion();
        boolean softDeleted = emulator.inspect(s -> s.deletedHsms.containsKey(name.toLowerCase()));
        assertTrue(softDeleted, "then the HSM is soft-deleted");
    }
}
