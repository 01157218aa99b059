package io.hsmoperator.azure;

import com.azure.core.util.Context;
import com.azure.resourcemanager.network.fluent.PrivateEndpointsClient;
import com.azure.resourcemanager.network.fluent.models.PrivateDnsZoneGroupInner;
import com.azure.resourcemanager.network.fluent.models.PrivateEndpointInner;
import com.azure.resourcemanager.network.fluent.models.SubnetInner;
import com.azure.resourcemanager.network.models.PrivateDnsZoneConfig;
import com.azure.resourcemanager.network.models.PrivateLinkServiceConnection;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** {@link PrivateEndpoints} on the Network resource manager's service client. */
@Singleton
public class ArmPrivateEndpoints implements PrivateEndpoints {
    private final AzureClients clients;

    public ArmPrivateEndpoints(AzureClients clients) {
        this.clients = clients;
    }

    private PrivateEndpointsClient endpoints(String subscription) {
        return clients.network(subscription).serviceClient().getPrivateEndpoints();
    }

    @Override
    public Optional<Endpoint> get(String subscription, String resourceGroup, String name) {
        return AzureError.find(() -> toEndpoint(endpoints(subscription).getByResourceGroupWithResponse(resourceGroup, name, null, Context.NONE)
                    .getValue()));
    }

    @Override
    @AzureWrite
    public Mutation startPut(String subscription, String resourceGroup, String name, Desired d) {
        PrivateLinkServiceConnection connection = new PrivateLinkServiceConnection().withName(name).withPrivateLinkServiceId(d.targetId())
                .withGroupIds(List.of(GROUP_ID)).withRequestMessage(d.manualApproval() ? d.requestMessage() : null);
        PrivateEndpointInner body = new PrivateEndpointInner().withLocation(d.location()).withTags(new LinkedHashMap<>(d.tags()))
                .withSubnet(new SubnetInner().withId(d.subnetId()));
        if (d.manualApproval()) {
            body.withManualPrivateLinkServiceConnections(List.of(connection));
        } else {
            body.withPrivateLinkServiceConnections(List.of(connection));
        }
        try {
            // The first response only: provisioning is observed by later reconciles.
            return Mutation.started(endpoints(subscription).createOrUpdateWithResponseAsync(resourceGroup, name, body), clients.timeout());
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation startDelete(String subscription, String resourceGroup, String name) {
        return AzureError.call(() -> Mutation.started(endpoints(subscription).deleteWithResponseAsync(resourceGroup, name), clients.timeout()));
    }

    @Override
    public List<String> dnsZones(String subscription, String resourceGroup, String endpoint) {
        try {
            PrivateDnsZoneGroupInner g = clients.network(subscription).serviceClient().getPrivateDnsZoneGroups()
                    .getWithResponse(resourceGroup, endpoint, DNS_ZONE_GROUP, Context.NONE).getValue();
            List<String> zones = new ArrayList<>();
            if (g.privateDnsZoneConfigs() != null) {
                g.privateDnsZoneConfigs().forEach(c -> zones.add(c.privateDnsZoneId()));
            }
            return zones;
        } catch (RuntimeException e) {
            AzureError err = AzureError.of(e);
            if (err.is(AzureError.Kind.NOT_FOUND)) {
                return List.of();
            }
            throw err;
        }
    }

    @Override
    @AzureWrite
    public Mutation putDnsZones(String subscription, String resourceGroup, String endpoint, List<String> zoneIds) {
        List<PrivateDnsZoneConfig> configs = new ArrayList<>();
        zoneIds.forEach(z -> configs.add(new PrivateDnsZoneConfig().withName(ResourceIds.name(z).replace('.', '-')).withPrivateDnsZoneId(z)));
        return AzureError.call(() -> Mutation.started(clients.network(subscription).serviceClient().getPrivateDnsZoneGroups()
                    .createOrUpdateWithResponseAsync(resourceGroup, endpoint, DNS_ZONE_GROUP, new PrivateDnsZoneGroupInner()
                            .withPrivateDnsZoneConfigs(configs)), clients.timeout()));
    }

    private static Endpoint toEndpoint(PrivateEndpointInner p) {
        boolean manual = p.manualPrivateLinkServiceConnections() != null && !p.manualPrivateLinkServiceConnections().isEmpty();
        List<PrivateLinkServiceConnection> connections = manual ? p.manualPrivateLinkServiceConnections()
                : p.privateLinkServiceConnections() == null ? List.of() : p.privateLinkServiceConnections();
        PrivateLinkServiceConnection c = connections.isEmpty() ? null : connections.get(0);
        List<String> ips = new ArrayList<>();
        List<String> fqdns = new ArrayList<>();
        if (p.customDnsConfigs() != null) {
            p.customDnsConfigs().forEach(d -> {
                if (d.fqdn() != null) {
                    fqdns.add(d.fqdn());
                }
                if (d.ipAddresses() != null) {
                    d.ipAddresses().stream().filter(ip -> !ips.contains(ip)).forEach(ips::add);
                }
            });
        }
        var state = c == null ? null : c.privateLinkServiceConnectionState();
        Map<String, String> tags = p.tags() == null ? Map.of() : new LinkedHashMap<>(p.tags());
        return new Endpoint(p.id(), p.provisioningState() == null ? null : p.provisioningState().toString(),
                p.subnet() == null ? null : p.subnet().id(), c == null ? null : c.privateLinkServiceId(), manual,
                c == null ? null : c.name(), state == null ? null : state.status(), state == null ? null : state.description(), ips, fqdns, tags, p.etag());
    }
}
