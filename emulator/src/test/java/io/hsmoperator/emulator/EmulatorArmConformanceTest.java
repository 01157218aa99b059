package io.hsmoperator.emulator;

import com.azure.core.management.exception.ManagementException;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.KeyVaultManager;
import com.azure.resourcemanager.keyvault.fluent.ManagedHsmsClient;
import com.azure.resourcemanager.keyvault.fluent.models.CheckMhsmNameAvailabilityResultInner;
import com.azure.resourcemanager.keyvault.fluent.models.DeletedManagedHsmInner;
import com.azure.resourcemanager.keyvault.fluent.models.ManagedHsmInner;
import com.azure.resourcemanager.keyvault.fluent.models.MhsmPrivateEndpointConnectionInner;
import com.azure.resourcemanager.keyvault.models.ActivationStatus;
import com.azure.resourcemanager.keyvault.models.CheckMhsmNameAvailabilityParameters;
import com.azure.resourcemanager.keyvault.models.CreateMode;
import com.azure.resourcemanager.keyvault.models.MhsmNetworkRuleSet;
import com.azure.resourcemanager.keyvault.models.MhsmPrivateLinkServiceConnectionState;
import com.azure.resourcemanager.keyvault.models.NetworkRuleAction;
import com.azure.resourcemanager.keyvault.models.PrivateEndpointServiceConnectionStatus;
import com.azure.resourcemanager.keyvault.models.ProvisioningState;
import com.azure.resourcemanager.keyvault.models.PublicNetworkAccess;
import com.azure.resourcemanager.monitor.MonitorManager;
import com.azure.resourcemanager.monitor.fluent.models.DiagnosticSettingsResourceInner;
import com.azure.resourcemanager.monitor.models.LogSettings;
import com.azure.resourcemanager.monitor.models.MetricSettings;
import com.azure.resourcemanager.network.NetworkManager;
import com.azure.resourcemanager.network.fluent.models.PrivateDnsZoneGroupInner;
import com.azure.resourcemanager.network.fluent.models.PrivateEndpointInner;
import com.azure.resourcemanager.network.fluent.models.SubnetInner;
import com.azure.resourcemanager.network.models.PrivateDnsZoneConfig;
import com.azure.resourcemanager.network.models.PrivateLinkServiceConnection;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ARM through the real resource-manager SDKs: managed HSMs, soft delete, names, PECs, private endpoints, diagnostics. */
class EmulatorArmConformanceTest extends EmulatorTestBase {
    private static final String RG = "rg-arm";

    private ManagedHsmsClient hsms() {
        return admin.keyVault().serviceClient().getManagedHsms();
    }

    @Test
    void createReportsProvisioningThenSucceededThenActivation() throws Exception {
        String name = hsmName("arm-create");
        var initial = hsms().createOrUpdateWithResponseAsync(RG, name, HsmFixtures.hsmBody(emulator, "westeurope",
                admin.principal.objectId())).block();
        assertEquals(200, initial.getStatusCode(), "Azure answers the create PUT with 200 and provisioningState Provisioning");
        ManagedHsmInner during = hsms().getByResourceGroup(RG, name);
        assertEquals(ProvisioningState.PROVISIONING, during.properties().provisioningState());
        assertEquals("Resource creation in progress. Allocating hardware...", during.properties().statusMessage());
        Thread.sleep(emulator.config().provisioningDelay().toMillis() + 50);
        ManagedHsmInner done = hsms().getByResourceGroup(RG, name);
        assertEquals(ProvisioningState.SUCCEEDED, done.properties().provisioningState());
        assertEquals(ActivationStatus.NOT_ACTIVATED, done.properties().securityDomainProperties().activationStatus());
        assertTrue(done.properties().hsmUri().startsWith("https://127.0.0.1:") && done.properties().hsmUri().endsWith("/"));
        assertEquals(List.of(admin.principal.objectId()), done.properties().initialAdminObjectIds());
        assertEquals(7, done.properties().softDeleteRetentionInDays());
        assertEquals("Microsoft.KeyVault/managedHSMs", done.type());
        HsmFixtures.activate(admin, done.properties().hsmUri(), HsmFixtures.officers(emulator, 3));
        assertEquals(ActivationStatus.ACTIVE, hsms().getByResourceGroup(RG, name).properties().securityDomainProperties().activationStatus());
    }

    @Test
    void theSdkPollerWaitsForProvisioning() {
        String name = hsmName("arm-poll");
        ManagedHsmInner hsm = HsmFixtures.createHsm(admin, RG, name);
        assertEquals(ProvisioningState.SUCCEEDED, hsm.properties().provisioningState());
        List<String> listed = StreamSupport.stream(hsms().listByResourceGroup(RG).spliterator(), false).map(ManagedHsmInner::name).toList();
        assertTrue(listed.contains(name));
        assertTrue(StreamSupport.stream(hsms().list().spliterator(), false).anyMatch(h -> h.name().equals(name)));
    }

    @Test
    void updatesMutablePropertiesAndRefusesImmutableOnes() {
        String name = hsmName("arm-update");
        ManagedHsmInner hsm = HsmFixtures.createHsm(admin, RG, name);
        hsm.withTags(Map.of("env", "test"));
        var tagsOnly = hsms().createOrUpdateWithResponseAsync(RG, name, hsm).block();
        assertEquals(200, tagsOnly.getStatusCode(), "a tag change completes synchronously");
        hsm.properties().withPublicNetworkAccess(PublicNetworkAccess.DISABLED)
                .withNetworkAcls(new MhsmNetworkRuleSet().withDefaultAction(NetworkRuleAction.DENY));
        var update = hsms().createOrUpdateWithResponseAsync(RG, name, hsm).block();
        assertEquals(202, update.getStatusCode(), "a property change is a long-running update, as recorded");
        assertTrue(update.getHeaders().getValue("Location").contains("/managedHsmOperationResults/"));
        hsms().beginCreateOrUpdate(RG, name, hsm).waitForCompletion();
        ManagedHsmInner after = hsms().getByResourceGroup(RG, name);
        assertEquals(PublicNetworkAccess.DISABLED, after.properties().publicNetworkAccess());
        assertEquals(NetworkRuleAction.DENY, after.properties().networkAcls().defaultAction());
        assertEquals(Map.of("env", "test"), after.tags());

        hsm.properties().withSoftDeleteRetentionInDays(30);
        ManagementException retention = assertThrows(ManagementException.class, () -> hsms().createOrUpdate(RG, name, hsm));
        assertEquals(400, retention.getResponse().getStatusCode());
        assertTrue(retention.getMessage().contains("softDeleteRetentionInDays cannot be changed"));
        hsm.properties().withSoftDeleteRetentionInDays(7).withEnablePurgeProtection(true);
        hsms().beginCreateOrUpdate(RG, name, hsm).waitForCompletion();
        assertTrue(hsms().getByResourceGroup(RG, name).properties().enablePurgeProtection());
        hsm.properties().withEnablePurgeProtection(false);
        ManagementException off = assertThrows(ManagementException.class, () -> hsms().createOrUpdate(RG, name, hsm));
        assertTrue(off.getMessage().contains("enablePurgeProtection"));
    }

    @Test
    void softDeleteRecoverAndNameRules() {
        String name = hsmName("arm-delete");
        HsmFixtures.createHsm(admin, RG, name);
        CheckMhsmNameAvailabilityResultInner taken = hsms().checkMhsmNameAvailability(new CheckMhsmNameAvailabilityParameters().withName(name));
        assertFalse(taken.nameAvailable());
        assertEquals("AlreadyExists", taken.reason().toString());
        assertFalse(hsms().checkMhsmNameAvailability(new CheckMhsmNameAvailabilityParameters().withName("-bad")).nameAvailable());
        assertTrue(hsms().checkMhsmNameAvailability(new CheckMhsmNameAvailabilityParameters().withName(hsmName("free"))).nameAvailable());

        hsms().beginDelete(RG, name).getFinalResult();
        ManagementException gone = assertThrows(ManagementException.class, () -> hsms().getByResourceGroup(RG, name));
        assertEquals(404, gone.getResponse().getStatusCode());
        assertEquals("ResourceNotFound", gone.getValue().getCode());
        DeletedManagedHsmInner deleted = hsms().getDeleted(name, "westeurope");
        assertEquals("Microsoft.Keyvault/deletedManagedHSMs", deleted.type());
        assertTrue(deleted.properties().mhsmId().endsWith("/managedHSMs/" + name));
        assertTrue(StreamSupport.stream(hsms().listDeleted().spliterator(), false).anyMatch(d -> d.name().equals(name)));
        assertFalse(hsms().checkMhsmNameAvailability(new CheckMhsmNameAvailabilityParameters().withName(name)).nameAvailable(),
                "a soft-deleted name stays reserved");

        ManagementException conflict = assertThrows(ManagementException.class, () -> HsmFixtures.createHsm(admin, RG, name));
        assertEquals(409, conflict.getResponse().getStatusCode());
        assertEquals("ConflictError", conflict.getValue().getCode());

        ManagedHsmInner recover = HsmFixtures.hsmBody(emulator, "westeurope", admin.principal.objectId());
        recover.properties().withCreateMode(CreateMode.RECOVER);
        ManagedHsmInner recovered = hsms().beginCreateOrUpdate(RG, name, recover).getFinalResult();
        assertEquals(name, recovered.name());
        assertThrows(ManagementException.class, () -> hsms().getDeleted(name, "westeurope"));
    }

    @Test
    void emulatorOwnPurgeTest_purgeIsRefusedUnderPurgeProtection() {
        String name = hsmName("arm-purge");
        ManagedHsmInner body = HsmFixtures.hsmBody(emulator, "westeurope", admin.principal.objectId());
        body.properties().withEnablePurgeProtection(true);
        hsms().beginCreateOrUpdate(RG, name, body).getFinalResult();
        hsms().beginDelete(RG, name).getFinalResult();
        ManagementException refused = assertThrows(ManagementException.class, () -> hsms().beginPurgeDeleted(name, "westeurope").getFinalResult());
        assertEquals(409, refused.getResponse().getStatusCode());
        assertNotNull(hsms().getDeleted(name, "westeurope"), "the HSM stays recoverable");
        emulator.controls().advance(Duration.ofDays(8));
        assertThrows(ManagementException.class, () -> hsms().getDeleted(name, "westeurope"),
                "after the retention the service purges it itself");

        String plain = hsmName("arm-purge2");
        HsmFixtures.createHsm(admin, RG, plain);
        hsms().beginDelete(RG, plain).getFinalResult();
        hsms().beginPurgeDeleted(plain, "westeurope").getFinalResult();
        assertTrue(hsms().checkMhsmNameAvailability(new CheckMhsmNameAvailabilityParameters().withName(plain)).nameAvailable());
    }

    @Test
    void privateEndpointsCreateConnectionsTheHsmCanApprove() {
        String name = hsmName("arm-pe");
        ManagedHsmInner hsm = HsmFixtures.createHsm(admin, RG, name);
        NetworkManager net = admin.network();
        String subnet = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe";
        PrivateEndpointInner manual = new PrivateEndpointInner().withLocation("westeurope").withSubnet(new SubnetInner().withId(subnet))
                .withManualPrivateLinkServiceConnections(List.of(new PrivateLinkServiceConnection().withName("conn")
                        .withPrivateLinkServiceId(hsm.id()).withGroupIds(List.of("managedhsm")).withRequestMessage("payments team")));
        PrivateEndpointInner created = net.serviceClient().getPrivateEndpoints().createOrUpdate("rg-net", "pe-manual", manual);
        assertEquals("Pending", created.manualPrivateLinkServiceConnections().get(0).privateLinkServiceConnectionState().status());
        assertEquals("Succeeded", created.provisioningState().toString());
        assertFalse(created.customDnsConfigs().get(0).ipAddresses().isEmpty());
        assertEquals(name.toLowerCase() + ".managedhsm.azure.net", created.customDnsConfigs().get(0).fqdn());

        KeyVaultManager kv = admin.keyVault();
        List<MhsmPrivateEndpointConnectionInner> pecs = StreamSupport.stream(kv.serviceClient().getMhsmPrivateEndpointConnections()
                .listByResource(RG, name).spliterator(), false).toList();
        assertEquals(1, pecs.size());
        MhsmPrivateEndpointConnectionInner pec = pecs.get(0);
        assertEquals(PrivateEndpointServiceConnectionStatus.PENDING, pec.privateLinkServiceConnectionState().status());
        assertEquals(created.id(), pec.privateEndpoint().id());
        pec.withPrivateLinkServiceConnectionState(new MhsmPrivateLinkServiceConnectionState()
                .withStatus(PrivateEndpointServiceConnectionStatus.APPROVED).withDescription("approved by platform"));
        MhsmPrivateEndpointConnectionInner approved = kv.serviceClient().getMhsmPrivateEndpointConnections().put(RG, name, pec.name(), pec);
        assertEquals(PrivateEndpointServiceConnectionStatus.APPROVED, approved.privateLinkServiceConnectionState().status());
        assertEquals("Approved", net.serviceClient().getPrivateEndpoints().getByResourceGroup("rg-net", "pe-manual")
                .manualPrivateLinkServiceConnections().get(0).privateLinkServiceConnectionState().status());
        assertEquals(1, hsms().getByResourceGroup(RG, name).properties().privateEndpointConnections().size());

        PrivateEndpointInner auto = new PrivateEndpointInner().withLocation("westeurope").withSubnet(new SubnetInner().withId(subnet))
                .withPrivateLinkServiceConnections(List.of(new PrivateLinkServiceConnection().withName("auto")
                        .withPrivateLinkServiceId(hsm.id()).withGroupIds(List.of("managedhsm"))));
        assertEquals("Approved", net.serviceClient().getPrivateEndpoints().createOrUpdate("rg-net", "pe-auto", auto)
                .privateLinkServiceConnections().get(0).privateLinkServiceConnectionState().status());
        String zone = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
                + "privatelink.managedhsm.azure.net";
        PrivateDnsZoneGroupInner group = net.serviceClient().getPrivateDnsZoneGroups().createOrUpdate("rg-net", "pe-auto", "default",
                new PrivateDnsZoneGroupInner().withPrivateDnsZoneConfigs(List.of(new PrivateDnsZoneConfig().withName("hsm")
                        .withPrivateDnsZoneId(zone))));
        assertEquals(name.toLowerCase() + ".privatelink.managedhsm.azure.net",
                group.privateDnsZoneConfigs().get(0).recordSets().get(0).fqdn());

        PrivateEndpointInner wrongGroup = new PrivateEndpointInner().withLocation("westeurope").withSubnet(new SubnetInner().withId(subnet))
                .withPrivateLinkServiceConnections(List.of(new PrivateLinkServiceConnection().withName("bad")
                        .withPrivateLinkServiceId(hsm.id()).withGroupIds(List.of("vault"))));
        ManagementException bad = assertThrows(ManagementException.class,
                () -> net.serviceClient().getPrivateEndpoints().createOrUpdate("rg-net", "pe-bad", wrongGroup));
        assertEquals("InvalidGroupId", bad.getValue().getCode());

        net.serviceClient().getPrivateEndpoints().delete("rg-net", "pe-manual");
        assertEquals(1, hsms().getByResourceGroup(RG, name).properties().privateEndpointConnections().size(),
                "deleting the endpoint removes its connection from the HSM");
    }

    @Test
    void diagnosticSettingsOnTheHsm() {
        String name = hsmName("arm-diag");
        ManagedHsmInner hsm = HsmFixtures.createHsm(admin, RG, name);
        MonitorManager monitor = admin.monitor();
        var ops = monitor.serviceClient().getDiagnosticSettingsOperations();
        String ws = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/law";
        DiagnosticSettingsResourceInner setting = new DiagnosticSettingsResourceInner().withWorkspaceId(ws)
                .withLogs(List.of(new LogSettings().withCategoryGroup("audit").withEnabled(true)))
                .withMetrics(List.of(new MetricSettings().withCategory("AllMetrics").withEnabled(true)));
        DiagnosticSettingsResourceInner put = ops.createOrUpdate(hsm.id(), "audit", setting);
        assertTrue(put.id().startsWith(hsm.id().toLowerCase().replace("managedhsms", "managedhsms")), "the id is lower-cased");
        DiagnosticSettingsResourceInner got = ops.get(hsm.id(), "audit");
        assertEquals(ws, got.workspaceId());
        assertEquals(2, got.logs().size(), "a category group setting lists both groups");
        assertEquals("AzureDiagnostics", got.logAnalyticsDestinationType());
        assertEquals(1, ops.list(hsm.id()).stream().count());

        DiagnosticSettingsResourceInner none = new DiagnosticSettingsResourceInner()
                .withLogs(List.of(new LogSettings().withCategory("AuditEvent").withEnabled(true)));
        ManagementException noDest = assertThrows(ManagementException.class, () -> ops.createOrUpdate(hsm.id(), "x", none));
        assertEquals(400, noDest.getResponse().getStatusCode());
        DiagnosticSettingsResourceInner mixed = new DiagnosticSettingsResourceInner().withWorkspaceId(ws)
                .withLogs(List.of(new LogSettings().withCategory("AuditEvent").withEnabled(true),
                        new LogSettings().withCategoryGroup("audit").withEnabled(true)));
        ManagementException mix = assertThrows(ManagementException.class, () -> ops.createOrUpdate(hsm.id(), "x", mixed));
        assertTrue(mix.getMessage().contains("does not support mix of log category and log category group"));
        DiagnosticSettingsResourceInner badId = new DiagnosticSettingsResourceInner().withWorkspaceId("law-by-name")
                .withLogs(List.of(new LogSettings().withCategoryGroup("audit").withEnabled(true)));
        assertThrows(ManagementException.class, () -> ops.createOrUpdate(hsm.id(), "x", badId));
        DiagnosticSettingsResourceInner retained = new DiagnosticSettingsResourceInner().withWorkspaceId(ws)
                .withLogs(List.of(new LogSettings().withCategoryGroup("audit").withEnabled(true)
                        .withRetentionPolicy(new com.azure.resourcemanager.monitor.models.RetentionPolicy().withEnabled(true).withDays(30))));
        ManagementException retention = assertThrows(ManagementException.class, () -> ops.createOrUpdate(hsm.id(), "x", retained));
        assertEquals(400, retention.getResponse().getStatusCode());
        assertTrue(retention.getMessage().contains("does not support retention for new diagnostic settings"));
        DiagnosticSettingsResourceInner sameSink = new DiagnosticSettingsResourceInner().withWorkspaceId(ws)
                .withLogs(List.of(new LogSettings().withCategory("AuditEvent").withEnabled(true)));
        ManagementException reused = assertThrows(ManagementException.class, () -> ops.createOrUpdate(hsm.id(), "second", sameSink));
        assertEquals(409, reused.getResponse().getStatusCode());
        assertTrue(reused.getMessage().contains("Data sink '" + ws + "' is already used in diagnostic setting 'audit'"), reused.getMessage());
        ops.createOrUpdate(hsm.id(), "audit", setting);
        ops.delete(hsm.id(), "audit");
        assertEquals(0, ops.list(hsm.id()).stream().count());
        ManagementException missing = assertThrows(ManagementException.class, () -> ops.getWithResponse(hsm.id(), "audit", Context.NONE));
        assertEquals(404, missing.getResponse().getStatusCode());
    }

    @Test
    void armRefusesMissingTokensAndDeniedPrincipals() throws Exception {
        HttpClient raw = HttpClient.newBuilder().sslContext(trustEmulator()).build();
        HttpResponse<String> noToken = raw.send(HttpRequest.newBuilder(URI.create(emulator.armEndpoint() + "subscriptions/"
                + admin.subscriptionId + "/providers/Microsoft.KeyVault/managedHSMs?api-version=2025-05-01")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, noToken.statusCode());
        assertTrue(noToken.body().contains("AuthenticationFailed"));

        Emulator.Principal reader = emulator.registerPrincipal("reader");
        emulator.assignArmRole(reader.objectId(), "Owner", "/");
        emulator.denyArmAction(reader.objectId(), "Microsoft.KeyVault/managedHSMs/write");
        ManagementException denied = assertThrows(ManagementException.class, () -> HsmFixtures.createHsm(as(reader), RG, hsmName("denied")));
        assertEquals(403, denied.getResponse().getStatusCode());
        assertEquals("AuthorizationFailed", denied.getValue().getCode());
    }

    @Test
    void armAuthorizesByRoleAssignmentsActionsNotActionsAndLinkedScopes() throws Exception {
        java.nio.file.Path shipped = java.nio.file.Path.of("../config/azure/hsm-operator-arm-role.json");
        String role = emulator.defineArmRole(shipped);
        Emulator.Principal operator = emulator.registerPrincipal("operator");
        ManagedHsmsClient asOperator = as(operator).keyVault().serviceClient().getManagedHsms();
        String name = hsmName("arm-role");
        ManagementException none = assertThrows(ManagementException.class, () -> asOperator.getByResourceGroup(RG, name));
        assertEquals(403, none.getResponse().getStatusCode(), "a new principal holds no ARM role");
        assertEquals("AuthorizationFailed", none.getValue().getCode());
        assertTrue(none.getValue().getMessage().contains("'Microsoft.KeyVault/managedHSMs/read' over scope '/subscriptions/"),
                none.getValue().getMessage());

        emulator.assignArmRole(operator.objectId(), role, "/subscriptions/" + admin.subscriptionId);
        // What the operator does: the first answer of a create, reads, an update, the deleted-HSM check, a delete.
        assertEquals(200, asOperator.createOrUpdateWithResponseAsync(RG, name, HsmFixtures.hsmBody(emulator, "westeurope",
                operator.objectId())).block().getStatusCode());
        Thread.sleep(emulator.config().provisioningDelay().toMillis() + 50);
        var read = asOperator.getByResourceGroupWithResponse(RG, name, Context.NONE);
        assertNotNull(read.getHeaders().getValue("x-ms-ratelimit-remaining-subscription-reads"), "ARM reports the budget left");
        asOperator.updateWithResponseAsync(RG, name, new ManagedHsmInner().withTags(java.util.Map.of("a", "b"))).block();
        ManagementException notDeleted = assertThrows(ManagementException.class, () -> asOperator.getDeleted(name, "westeurope"));
        assertEquals(404, notDeleted.getResponse().getStatusCode(), "allowed, and not found");
        // Outside the assignment's scope: another subscription.
        ManagementException elsewhere = assertThrows(ManagementException.class, () -> new EmulatorClients(emulator, operator,
                "11111111-2222-3333-4444-555555555555").keyVault().serviceClient().getManagedHsms().getByResourceGroup(RG, name));
        assertEquals(403, elsewhere.getResponse().getStatusCode());
        // The shipped role names purge in notActions: refused even though the operator may delete.
        asOperator.deleteWithResponseAsync(RG, name).block();
        await().atMost(java.time.Duration.ofSeconds(10)).until(() -> emulator.inspect(st -> st.deletedHsms.containsKey(name.toLowerCase())));
        ManagementException purge = assertThrows(ManagementException.class, () -> asOperator.beginPurgeDeleted(name, "westeurope").getFinalResult());
        assertEquals(403, purge.getResponse().getStatusCode());
        assertTrue(purge.getValue().getMessage().contains("'Microsoft.KeyVault/locations/deletedManagedHSMs/purge/action'"));
        // Reader reads and writes nothing.
        Emulator.Principal reader = emulator.registerPrincipal("reader-role");
        emulator.assignArmRole(reader.objectId(), "Reader", "/");
        as(reader).keyVault().serviceClient().getManagedHsms().listByResourceGroup(RG).stream().count();
        ManagementException readOnly = assertThrows(ManagementException.class, () -> as(reader).keyVault().serviceClient().getManagedHsms()
                .createOrUpdateWithResponseAsync(RG, hsmName("reader"), HsmFixtures.hsmBody(emulator, "westeurope", reader.objectId())).block());
        assertEquals(403, readOnly.getResponse().getStatusCode());

        // A private endpoint needs to join its subnet: without subnets/join/action ARM refuses the linked scope.
        java.nio.file.Path noJoin = java.nio.file.Files.createTempFile("role", ".json");
        java.nio.file.Files.writeString(noJoin, java.nio.file.Files.readString(shipped).replace("\"Name\": \"hsm-operator\"", "\"Name\": \"no-join\"")
                .replace("\"Microsoft.Network/virtualNetworks/subnets/join/action\",", ""));
        Emulator.Principal partial = emulator.registerPrincipal("no-join");
        emulator.assignArmRole(partial.objectId(), emulator.defineArmRole(noJoin), "/");
        ManagedHsmInner target = HsmFixtures.createHsm(admin, RG, hsmName("arm-link"));
        String subnet = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe";
        PrivateEndpointInner pe = new PrivateEndpointInner().withLocation("westeurope").withSubnet(new SubnetInner().withId(subnet))
                .withManualPrivateLinkServiceConnections(List.of(new PrivateLinkServiceConnection().withName("conn")
                        .withPrivateLinkServiceId(target.id()).withGroupIds(List.of("managedhsm"))));
        ManagementException linked = assertThrows(ManagementException.class, () -> as(partial).network().serviceClient().getPrivateEndpoints()
                .createOrUpdate("rg-net", "pe-no-join", pe));
        assertEquals(403, linked.getResponse().getStatusCode());
        assertEquals("LinkedAuthorizationFailed", linked.getValue().getCode());
        assertTrue(linked.getValue().getMessage().contains("'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '"
                + subnet + "'"), linked.getValue().getMessage());
        emulator.assignArmRole(operator.objectId(), role, "/");
        // The operator reads the first answer only and looks again later: it never polls operation results.
        assertEquals(201, as(operator).network().serviceClient().getPrivateEndpoints().createOrUpdateWithResponseAsync("rg-net", "pe-joined", pe)
                .block().getStatusCode(), "the shipped role joins the subnet");
    }

    @Test
    void readsLagUpdatesForTheStaleReadWindow() throws Exception {
        Emulator lagging = Emulator.start(EmulatorConfig.inMemory().withStaleReads(java.time.Duration.ofSeconds(2)));
        try {
            EmulatorClients c = new EmulatorClients(lagging, lagging.builtInPrincipal());
            String name = hsmName("stale");
            ManagedHsmsClient hsms = c.keyVault().serviceClient().getManagedHsms();
            ManagedHsmInner created = HsmFixtures.createHsm(c, RG, name);
            assertEquals(name, hsms.getByResourceGroup(RG, name).name(), "a new HSM reads at once");
            hsms.update(RG, name, new ManagedHsmInner().withTags(java.util.Map.of("env", "prod")));
            ManagedHsmInner stale = hsms.getByResourceGroup(RG, name);
            assertTrue(stale.tags() == null || !stale.tags().containsKey("env"), "right after the update a read still answers the old HSM");
            assertEquals(created.systemData().lastModifiedAt(), stale.systemData().lastModifiedAt(), "and says when it was last modified");
            await().atMost(java.time.Duration.ofSeconds(5)).until(() -> "prod".equals(hsms.getByResourceGroup(RG, name).tags().get("env")));
            assertNotEquals(created.systemData().lastModifiedAt(), hsms.getByResourceGroup(RG, name).systemData().lastModifiedAt());
        } finally {
            lagging.close();
        }
    }

    @Test
    void armDerivesTheActionFromTheResourceTypeAndMethod() {
        List<String> hsm = List.of("subscriptions", "s", "resourceGroups", "rg", "providers", "Microsoft.KeyVault", "managedHSMs", "h");
        assertEquals("Microsoft.KeyVault/managedHSMs/read", ArmAuthorization.action("GET", hsm));
        assertEquals("Microsoft.KeyVault/managedHSMs/write", ArmAuthorization.action("PATCH", hsm));
        assertEquals("Microsoft.KeyVault/managedHSMs/delete", ArmAuthorization.action("DELETE", hsm));
        assertEquals("Microsoft.KeyVault/locations/deletedManagedHSMs/purge/action", ArmAuthorization.action("POST",
                List.of("subscriptions", "s", "providers", "Microsoft.KeyVault", "locations", "westeurope", "deletedManagedHSMs", "h", "purge")));
        assertEquals("Microsoft.KeyVault/checkMhsmNameAvailability/action", ArmAuthorization.action("POST",
                List.of("subscriptions", "s", "providers", "Microsoft.KeyVault", "checkMhsmNameAvailability")));
        List<String> setting = new java.util.ArrayList<>(hsm);
        setting.addAll(List.of("providers", "Microsoft.Insights", "diagnosticSettings", "audit"));
        assertEquals("Microsoft.Insights/diagnosticSettings/write", ArmAuthorization.action("PUT", setting));
        assertEquals("Microsoft.Resources/subscriptions/resourceGroups/write", ArmAuthorization.action("PUT",
                List.of("subscriptions", "s", "resourceGroups", "rg")));
        assertTrue(Rbac.matches("*/read", "Microsoft.KeyVault/managedHSMs/read"));
        assertTrue(Rbac.matches("Microsoft.Authorization/*/Write", "microsoft.authorization/roleAssignments/write"));
        assertFalse(Rbac.matches("Microsoft.KeyVault/managedHSMs/read", "Microsoft.KeyVault/managedHSMs/write"));
    }

    private javax.net.ssl.SSLContext trustEmulator() throws Exception {
        return EmulatorHttp.sslContext(List.of(emulator.caCertificate()));
    }
}
