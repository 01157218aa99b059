package io.hsmoperator.azure;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Microsoft.Network private endpoints to a Managed HSM (group managedhsm) and their DNS zone group. Writes never wait for LROs. */
public interface PrivateEndpoints {
    /** Sub-resource of a Managed HSM that private endpoints connect to. */
    String GROUP_ID = "managedhsm";
    /** The DNS zone group the operator manages on each endpoint. */
    String DNS_ZONE_GROUP = "default";

    /** The resource ID of private endpoint {@code name}: known before it exists, so it can be recorded before the PUT. */
    static String id(String subscription, String resourceGroup, String name) {
        return "/subscriptions/" + subscription + "/resourceGroups/" + resourceGroup + "/providers/Microsoft.Network/privateEndpoints/" + name;
    }

    Optional<Endpoint> get(String subscription, String resourceGroup, String name);

    /** Creates the endpoint, or applies {@code desired} to it (a PUT of the whole resource). */
    Mutation startPut(String subscription, String resourceGroup, String name, Desired desired);

    /** Asks Azure to delete the endpoint: 202 while it does, 200 when done at once, 204 when there was none. */
    Mutation startDelete(String subscription, String resourceGroup, String name);

    /** The private DNS zone IDs of the endpoint's DNS zone group {@value #DNS_ZONE_GROUP}; empty when there is none. */
    List<String> dnsZones(String subscription, String resourceGroup, String endpoint);

    Mutation putDnsZones(String subscription, String resourceGroup, String endpoint, List<String> zoneIds);

    record Desired(String location, String subnetId, String targetId, boolean manualApproval, String requestMessage, Map<String, String> tags) {
        public Desired withTags(Map<String, String> t) {
            return new Desired(location, subnetId, targetId, manualApproval, requestMessage, t);
        }
    }

    /** The endpoint and its one connection to the HSM (manual or automatic). */
    record Endpoint(String id, String provisioningState, String subnetId, String targetId, boolean manualApproval, String connectionName,
                    String connectionState, String connectionDescription, List<String> privateIps, List<String> fqdns, Map<String, String> tags,
                    String etag) {
    }
}
