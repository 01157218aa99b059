package io.hsmoperator.api.diagnostics;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.common.HsmReference;

import java.util.List;

@ValidationRule(value = "has(self.logAnalyticsWorkspaceId) || has(self.storageAccountId) || has(self.eventHub)",
        message = "set at least one destination: logAnalyticsWorkspaceId, storageAccountId or eventHub")
@ValidationRule(value = "!(has(self.categories) && has(self.categoryGroups))",
        message = "set categories or categoryGroups, not both (Azure does not mix them)")
@ValidationRule(value = HsmReference.UNCHANGED, message = "hsmRef is immutable")
public class HsmDiagnosticsSpec {
    public enum Category {
        AuditEvent
    }

    public enum CategoryGroup {
        audit, allLogs
    }

    public enum DestinationType {
        AzureDiagnostics, Dedicated
    }

    public enum DeletionPolicy {
        Delete, Retain
    }

    private static final String RESOURCE_ID = "^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[^/]+/[^/]+/[^/]+(/[^/]+/[^/]+)*$";

    @Required
    @JsonPropertyDescription("The ManagedHsm whose logs and metrics are sent. Immutable.")
    public HsmReference hsmRef;

    @Size(min = 1, max = 260)
    @Pattern("^[^<>*%&:\\\\?+/]+$")
    @JsonPropertyDescription("Name of the diagnostic setting in Azure; defaults to metadata.name. Immutable.")
    public String settingName;

    @Pattern(RESOURCE_ID)
    @JsonPropertyDescription("Resource ID of a Log Analytics workspace (Microsoft.OperationalInsights/workspaces).")
    public String logAnalyticsWorkspaceId;

    @JsonPropertyDescription("Log Analytics tables: AzureDiagnostics (default) or Dedicated (resource-specific AZKVAuditLogs).")
    public DestinationType logAnalyticsDestinationType;

    @Pattern(RESOURCE_ID)
    @JsonPropertyDescription("Resource ID of a storage account (Microsoft.Storage/storageAccounts).")
    public String storageAccountId;

    @JsonPropertyDescription("An Event Hub to stream the logs to.")
    public EventHub eventHub;

    @Size(max = 1)
    @JsonPropertyDescription("Log categories to send; Managed HSM has one, AuditEvent. Leave both this and categoryGroups unset "
            + "for categoryGroups [audit].")
    public List<Category> categories;

    @Size(max = 2)
    @JsonPropertyDescription("Log category groups to send: audit or allLogs.")
    public List<CategoryGroup> categoryGroups;

    @Default("true")
    @JsonPropertyDescription("Send the AllMetrics metrics too.")
    public Boolean metrics = Boolean.TRUE;

    @Default("Delete")
    @JsonPropertyDescription("What deleting this resource does: Delete (default) removes the setting; Retain leaves it.")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Delete;

    @Default("false")
    @JsonPropertyDescription("Take over a diagnostic setting of this name that someone else made (it is then set as this spec says), "
            + "instead of reporting OwnershipConflict. An adopted setting is never deleted by deleting this resource.")
    public Boolean adoptExisting = Boolean.FALSE;

    public static class EventHub {
        @Required
        @Pattern(RESOURCE_ID)
        @JsonPropertyDescription("Resource ID of the namespace authorization rule, for example "
                + ".../Microsoft.EventHub/namespaces/ns/authorizationRules/RootManageSharedAccessKey.")
        public String authorizationRuleId;

        @Size(min = 1, max = 256)
        @JsonPropertyDescription("Event hub name; unset: one hub per category, created by Azure.")
        public String name;
    }
}
