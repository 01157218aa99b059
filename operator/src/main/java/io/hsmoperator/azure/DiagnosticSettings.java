package io.hsmoperator.azure;

import java.util.List;
import java.util.Optional;

/** Azure Monitor diagnostic settings on a resource (the HSM): what the HsmDiagnostics reconciler reads and writes. */
public interface DiagnosticSettings {
    /** The ID of diagnostic setting {@code name} of the resource {@code resourceId}. */
    static String settingId(String resourceId, String name) {
        return resourceId + "/providers/Microsoft.Insights/diagnosticSettings/" + name;
    }

    /** The resource a diagnostic setting's ID belongs to (Azure returns the ID in any case). */
    static String resourceOf(String settingId) {
        return settingId.substring(0, settingId.toLowerCase(java.util.Locale.ROOT).indexOf("/providers/microsoft.insights/"));
    }

    Optional<Setting> get(String resourceId, String name);

    Mutation put(String resourceId, String name, Setting setting);

    Mutation delete(String resourceId, String name);

    /**
     * A setting: destinations, and the enabled log categories or category groups and whether AllMetrics is on. Azure lists
     * disabled groups too; only enabled ones appear here.
     */
    record Setting(String id, String workspaceId, String destinationType, String storageAccountId, String eventHubAuthorizationRuleId,
                   String eventHubName, List<String> categories, List<String> categoryGroups, boolean metrics) {
    }
}
