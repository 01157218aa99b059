package io.hsmoperator.azure;

import com.azure.core.http.rest.Response;
import com.azure.core.management.exception.ManagementException;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.fluent.ManagedHsmsClient;
import com.azure.resourcemanager.keyvault.fluent.models.ManagedHsmInner;
import com.azure.resourcemanager.keyvault.fluent.models.MhsmGeoReplicatedRegionInner;
import com.azure.resourcemanager.keyvault.fluent.models.MhsmPrivateEndpointConnectionInner;
import com.azure.resourcemanager.keyvault.models.ManagedHsmProperties;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSku;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSkuFamily;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSkuName;
import com.azure.resourcemanager.keyvault.models.MhsmNetworkRuleSet;
import com.azure.resourcemanager.keyvault.models.MhsmPrivateLinkServiceConnectionState;
import com.azure.resourcemanager.keyvault.models.MhsmVirtualNetworkRule;
import com.azure.resourcemanager.keyvault.models.MhsmipRule;
import com.azure.resourcemanager.keyvault.models.NetworkRuleAction;
import com.azure.resourcemanager.keyvault.models.NetworkRuleBypassOptions;
import com.azure.resourcemanager.keyvault.models.PrivateEndpointServiceConnectionStatus;
import com.azure.resourcemanager.keyvault.models.ManagedServiceIdentity;
import com.azure.resourcemanager.keyvault.models.ManagedServiceIdentityType;
import com.azure.resourcemanager.keyvault.models.PublicNetworkAccess;
import com.azure.resourcemanager.keyvault.models.UserAssignedIdentity;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/** {@link ManagedHsmArm} on the resource-manager SDK's service client (the fluent wrappers call vault paths for PECs). */
@Singleton
public class ArmManagedHsms implements ManagedHsmArm {
    private final AzureClients clients;

    public ArmManagedHsms(AzureClients clients) {
        this.clients = clients;
    }

    private ManagedHsmsClient hsms(String subscription) {
        return clients.keyVault(subscription).serviceClient().getManagedHsms();
    }

    @Override
    public Optional<Hsm> get(String subscription, String resourceGroup, String name) {
        return AzureError.find(() -> toHsm(hsms(subscription).getByResourceGroupWithResponse(resourceGroup, name, Context.NONE).getValue()));
    }

    @Override
    public boolean isSoftDeleted(String subscription, String location, String name) {
        try {
            hsms(subscription).getDeletedWithResponse(name, location, Context.NONE);
            return true;
        } catch (RuntimeException e) {
            AzureError err = AzureError.of(e);
            if (err.is(AzureError.Kind.NOT_FOUND)) {
                return false;
            }
            throw err;
        }
    }

    @Override
    @AzureWrite
    public Mutation startCreate(String subscription, String resourceGroup, String name, Desired desired) {
        return create(subscription, resourceGroup, name, desired);
    }

    /**
     * A PATCH with only what the operator manages (tags, network access, purge protection), and of those only what is
     * desired: a PUT would reset whatever else the HSM has that the operator does not model (extra regions, future
     * properties), and a property the spec leaves to Azure is not sent at all.
     */
    @Override
    @AzureWrite
    public Mutation startUpdate(String subscription, String resourceGroup, String name, Desired d) {
        ManagedHsmProperties props = new ManagedHsmProperties().withEnablePurgeProtection(d.purgeProtection())
                .withPublicNetworkAccess(d.publicNetworkAccess() == null ? null : PublicNetworkAccess.fromString(d.publicNetworkAccess()))
                .withNetworkAcls(d.networkAcls() == null ? null : networkAcls(d.networkAcls()));
        ManagedHsmInner body = new ManagedHsmInner().withTags(new LinkedHashMap<>(d.tags())).withProperties(props)
                .withIdentity(identity(d.userAssignedIdentities()));
        return AzureError.call(() -> Mutation.started(hsms(subscription).updateWithResponseAsync(resourceGroup, name, body), clients.timeout()));
    }

    private Mutation create(String subscription, String resourceGroup, String name, Desired d) {
        ManagedHsmInner body = new ManagedHsmInner().withLocation(d.location()).withTags(new LinkedHashMap<>(d.tags()))
                .withSku(new ManagedHsmSku().withFamily(d.sku().contains("_C") ? ManagedHsmSkuFamily.fromString("C") : ManagedHsmSkuFamily.B)
                        .withName(ManagedHsmSkuName.fromString(d.sku())))
                .withProperties(new ManagedHsmProperties().withTenantId(UUID.fromString(d.tenantId()))
                        .withInitialAdminObjectIds(d.initialAdminObjectIds()).withEnableSoftDelete(true)
                        .withSoftDeleteRetentionInDays(d.softDeleteRetentionDays()).withEnablePurgeProtection(d.purgeProtection())
                        .withPublicNetworkAccess(PublicNetworkAccess.fromString(d.publicNetworkAccess()))
                        .withNetworkAcls(networkAcls(d.networkAcls())))
                .withIdentity(d.userAssignedIdentities() == null || d.userAssignedIdentities().isEmpty() ? null
                        : identity(d.userAssignedIdentities()));
        try {
            // The first response only: provisioning is observed by later reconciles, never waited for here.
            return Mutation.started(hsms(subscription).createOrUpdateWithResponseAsync(resourceGroup, name, body), clients.timeout());
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation startDelete(String subscription, String resourceGroup, String name) {
        return AzureError.call(() -> Mutation.started(hsms(subscription).deleteWithResponseAsync(resourceGroup, name), clients.timeout()));
    }

    /**
     * A PATCH of properties.regions alone: the primary (marked so) and the extended regions wanted. Nothing else is sent,
     * so tags, network rules and identities stay as they are.
     */
    @Override
    @AzureWrite
    public Mutation startSetRegions(String subscription, String resourceGroup, String name, String primary, List<String> extended) {
        List<MhsmGeoReplicatedRegionInner> regions = new ArrayList<>();
        regions.add(new MhsmGeoReplicatedRegionInner().withName(HsmRegionRules.normalise(primary)).withIsPrimary(true));
        extended.forEach(r -> regions.add(new MhsmGeoReplicatedRegionInner().withName(HsmRegionRules.normalise(r)).withIsPrimary(false)));
        ManagedHsmInner body = new ManagedHsmInner().withProperties(new ManagedHsmProperties().withRegions(regions));
        return AzureError.call(() -> Mutation.started(hsms(subscription).updateWithResponseAsync(resourceGroup, name, body), clients.timeout()));
    }

    @Override
    public List<Region> regions(String subscription, String resourceGroup, String name) {
        return AzureError.call(() -> {
            List<Region> out = new ArrayList<>();
            clients.keyVault(subscription).serviceClient().getMhsmRegions().listByResource(resourceGroup, name, Context.NONE)
                    .forEach(r -> out.add(region(r)));
            return out;
        });
    }

    private static Region region(MhsmGeoReplicatedRegionInner r) {
        return new Region(r.name(), Boolean.TRUE.equals(r.isPrimary()), r.provisioningState() == null ? null : r.provisioningState().toString());
    }

    @Override
    @AzureWrite
    public Mutation setConnectionState(String subscription, String resourceGroup, String name, String connection, String status,
                                       String description) {
        try {
            MhsmPrivateEndpointConnectionInner body = new MhsmPrivateEndpointConnectionInner().withPrivateLinkServiceConnectionState(
                    new MhsmPrivateLinkServiceConnectionState().withStatus(PrivateEndpointServiceConnectionStatus.fromString(status))
                            .withDescription(description));
            Response<?> r = clients.keyVault(subscription).serviceClient().getMhsmPrivateEndpointConnections()
                    .putWithResponse(resourceGroup, name, connection, body, Context.NONE);
            return Mutation.of(r);
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    /** The identity block for {@code ids}: null sends none (Azure's stay), an empty list the type None (removes them). */
    private static ManagedServiceIdentity identity(List<String> ids) {
        if (ids == null) {
            return null;
        }
        if (ids.isEmpty()) {
            return new ManagedServiceIdentity().withType(ManagedServiceIdentityType.NONE);
        }
        Map<String, UserAssignedIdentity> assigned = new LinkedHashMap<>();
        ids.forEach(id -> assigned.put(id, new UserAssignedIdentity()));
        return new ManagedServiceIdentity().withType(ManagedServiceIdentityType.USER_ASSIGNED).withUserAssignedIdentities(assigned);
    }

    private static MhsmNetworkRuleSet networkAcls(NetworkRules n) {
        List<MhsmipRule> ip = new ArrayList<>();
        n.ipRules().forEach(v -> ip.add(new MhsmipRule().withValue(v)));
        List<MhsmVirtualNetworkRule> vnet = new ArrayList<>();
        n.virtualNetworkRules().forEach(v -> vnet.add(new MhsmVirtualNetworkRule().withId(v)));
        return new MhsmNetworkRuleSet().withBypass(NetworkRuleBypassOptions.fromString(n.bypass()))
                .withDefaultAction(NetworkRuleAction.fromString(n.defaultAction())).withIpRules(ip).withVirtualNetworkRules(vnet);
    }

    static Hsm toHsm(ManagedHsmInner h) {
        ManagedHsmProperties p = h.properties();
        MhsmNetworkRuleSet acl = p.networkAcls();
        List<String> ip = new ArrayList<>();
        List<String> vnet = new ArrayList<>();
        if (acl != null && acl.ipRules() != null) {
            acl.ipRules().forEach(r -> ip.add(r.value()));
        }
        if (acl != null && acl.virtualNetworkRules() != null) {
            acl.virtualNetworkRules().forEach(r -> vnet.add(r.id()));
        }
        NetworkRules rules = new NetworkRules(acl == null || acl.bypass() == null ? "AzureServices" : acl.bypass().toString(),
                acl == null || acl.defaultAction() == null ? "Allow" : acl.defaultAction().toString(), ip, vnet);
        List<Connection> connections = new ArrayList<>();
        if (p.privateEndpointConnections() != null) {
            p.privateEndpointConnections().forEach(c -> connections.add(new Connection(c.id().substring(c.id().lastIndexOf('/') + 1),
                    c.privateEndpoint() == null ? null : c.privateEndpoint().id(),
                    c.privateLinkServiceConnectionState() == null ? null : String.valueOf(c.privateLinkServiceConnectionState().status()),
                    c.privateLinkServiceConnectionState() == null ? null : c.privateLinkServiceConnectionState().description())));
        }
        List<Identity> identities = new ArrayList<>();
        if (h.identity() != null && h.identity().userAssignedIdentities() != null) {
            h.identity().userAssignedIdentities().forEach((id, ua) -> identities.add(new Identity(id,
                    ua == null || ua.principalId() == null ? null : ua.principalId().toString(),
                    ua == null || ua.clientId() == null ? null : ua.clientId().toString())));
        }
        return new Hsm(h.id(), h.name(), h.location(), h.sku() == null ? null : h.sku().name().toString(),
                p.tenantId() == null ? null : p.tenantId().toString(), h.tags() == null ? new LinkedHashMap<>() : new LinkedHashMap<>(h.tags()),
                p.initialAdminObjectIds() == null ? List.of() : p.initialAdminObjectIds(),
                p.softDeleteRetentionInDays() == null ? 90 : p.softDeleteRetentionInDays(), Boolean.TRUE.equals(p.enablePurgeProtection()),
                p.publicNetworkAccess() == null ? "Enabled" : p.publicNetworkAccess().toString(), rules, p.hsmUri(),
                p.provisioningState() == null ? null : p.provisioningState().toString(), p.statusMessage(),
                p.securityDomainProperties() == null || p.securityDomainProperties().activationStatus() == null ? "Unknown"
                        : p.securityDomainProperties().activationStatus().toString(), connections, identities,
                h.systemData() == null || h.systemData().lastModifiedAt() == null ? null : h.systemData().lastModifiedAt().toString(),
                h.systemData() == null || h.systemData().createdAt() == null ? null : h.systemData().createdAt().toInstant().toString(),
                regions(h.location(), p.regions()));
    }

    /**
     * The HSM's regions from its properties: the primary first (its location, when Azure lists no region at all, as it
     * does for an HSM that was never extended), then the extended ones.
     */
    private static List<Region> regions(String location, List<MhsmGeoReplicatedRegionInner> listed) {
        List<Region> out = new ArrayList<>();
        out.add(new Region(location, true, "Succeeded"));
        if (listed != null) {
            listed.stream().filter(r -> !Boolean.TRUE.equals(r.isPrimary()) && !HsmRegionRules.same(r.name(), location))
                    .forEach(r -> out.add(region(r)));
        }
        return out;
    }

    static boolean notFound(ManagementException e) {
        return e.getResponse() != null && e.getResponse().getStatusCode() == 404;
    }
}
