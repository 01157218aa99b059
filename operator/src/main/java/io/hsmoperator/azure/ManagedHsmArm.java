package io.hsmoperator.azure;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** ARM for Microsoft.KeyVault/managedHSMs: what the ManagedHsm reconciler reads and writes. Writes never wait for LROs. */
public interface ManagedHsmArm {
    /** The HSM as Azure reports it; empty when it does not exist (not even soft-deleted ones). */
    Optional<Hsm> get(String subscription, String resourceGroup, String name);

    /** Whether a soft-deleted HSM holds this name in this region. */
    boolean isSoftDeleted(String subscription, String location, String name);

    /** Starts creating the HSM; Azure provisions it afterwards (about 20 minutes). */
    Mutation startCreate(String subscription, String resourceGroup, String name, Desired desired);

    /** Starts applying the mutable properties of {@code desired} to an existing HSM. */
    Mutation startUpdate(String subscription, String resourceGroup, String name, Desired desired);

    /** Starts soft-deleting the HSM (it stays recoverable for its retention). */
    Mutation startDelete(String subscription, String resourceGroup, String name);

    /**
     * Starts making {@code extended} the HSM's extended regions (beside its primary, {@code primary}): a region not yet
     * there is added (Azure takes up to 30 minutes), one no longer listed is removed (Azure purges that region's pool; the
     * primary keeps every key). Sent as a PATCH of properties.regions, as az keyvault region add|remove does.
     */
    Mutation startSetRegions(String subscription, String resourceGroup, String name, String primary, List<String> extended);

    /** The HSM's regions as the regions list reports them (GET …/managedHSMs/{name}/regions): primary first. */
    List<Region> regions(String subscription, String resourceGroup, String name);

    /** Approves or rejects a private endpoint connection on the HSM. */
    Mutation setConnectionState(String subscription, String resourceGroup, String name, String connection, String status, String description);

    record NetworkRules(String bypass, String defaultAction, List<String> ipRules, List<String> virtualNetworkRules) {
        /**
         * Whether Azure holds the same rules: it answers a single address as a /32 range, and resource IDs in whatever
         * case it likes, so those compare equal and no update is sent (or sent again) for them.
         */
        public boolean sameAs(NetworkRules azure) {
            return bypass.equalsIgnoreCase(azure.bypass) && defaultAction.equalsIgnoreCase(azure.defaultAction)
                    && normalised(ipRules).equals(normalised(azure.ipRules))
                    && normalised(virtualNetworkRules).equals(normalised(azure.virtualNetworkRules));
        }

        /** Lower case, and a single address (no slash) as the /32 range Azure makes of it. */
        private static java.util.Set<String> normalised(List<String> values) {
            java.util.Set<String> out = new java.util.HashSet<>();
            values.forEach(v -> out.add((v.contains("/") ? v : v + "/32").toLowerCase(java.util.Locale.ROOT)));
            return out;
        }
    }

    /** One region of the HSM: its primary, or an extended region, with Azure's provisioning state of it. */
    record Region(String name, boolean primary, String provisioningState) {
        public boolean succeeded() {
            return "Succeeded".equalsIgnoreCase(provisioningState);
        }
    }

    record Connection(String name, String privateEndpointId, String status, String description) {
    }

    /** A user-assigned managed identity the HSM has: its resource ID and the principal Azure made for it. */
    record Identity(String resourceId, String principalId, String clientId) {
    }

    /** Whether two lists of identity resource IDs name the same identities (ARM answers IDs in its own case). */
    static boolean sameIdentities(List<String> a, List<String> b) {
        java.util.Set<String> x = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        java.util.Set<String> y = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        x.addAll(a);
        y.addAll(b);
        return x.equals(y);
    }

    /**
     * An HSM as ARM reports it. {@code createdAt} is ARM's systemData.createdAt: an HSM deleted (and purged) and created again
     * under the same name has the same resource ID but not the same creation time, so the two together name one HSM.
     */
    record Hsm(String id, String name, String location, String sku, String tenantId, Map<String, String> tags,
               List<String> initialAdminObjectIds, int softDeleteRetentionDays, boolean purgeProtection, String publicNetworkAccess,
               NetworkRules networkAcls, String hsmUri, String provisioningState, String statusMessage, String activationStatus,
               List<Connection> connections, List<Identity> identities, String lastModified, String createdAt, List<Region> regions) {
        public boolean provisioned() {
            return "Succeeded".equalsIgnoreCase(provisioningState);
        }

        public boolean active() {
            return "Active".equalsIgnoreCase(activationStatus);
        }

        /** The extended regions (every region but the primary), in Azure's order. */
        public List<Region> extendedRegions() {
            return regions.stream().filter(r -> !r.primary()).toList();
        }

        /** Whether a region is still being added: Azure refuses network-rule and private-endpoint changes until it is done. */
        public boolean addingRegion() {
            return extendedRegions().stream().anyMatch(r -> HsmRegionRules.adding(r.provisioningState()));
        }

        /** Whether the HSM has exactly these user-assigned identities. */
        public boolean hasIdentities(List<String> resourceIds) {
            return sameIdentities(resourceIds, identities.stream().map(Identity::resourceId).toList());
        }
    }

    /**
     * What the operator wants the HSM to be. On an update, a null purgeProtection, publicNetworkAccess, networkAcls or
     * userAssignedIdentities is not sent: Azure's value stays (an adopted HSM whose spec does not state it). An empty
     * userAssignedIdentities removes the HSM's identities.
     */
    record Desired(String location, String sku, String tenantId, Map<String, String> tags, List<String> initialAdminObjectIds,
                   int softDeleteRetentionDays, Boolean purgeProtection, String publicNetworkAccess, NetworkRules networkAcls,
                   List<String> userAssignedIdentities) {
    }
}
