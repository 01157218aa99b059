package io.hsmoperator.api.managedhsm;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmStatus;

import java.util.ArrayList;
import java.util.List;

public class ManagedHsmStatus extends HsmStatus {
    @JsonPropertyDescription("Azure resource ID of the HSM.")
    public String resourceId;

    @JsonPropertyDescription("Data-plane URI of the HSM, for example https://contoso.managedhsm.azure.net/.")
    public String hsmUri;

    @JsonPropertyDescription("Azure's provisioning state: Provisioning, Updating, Succeeded, Failed, ...")
    public String provisioningState;

    @JsonPropertyDescription("Security-domain activation: NotActivated, Active, Failed or Unknown.")
    public String activationStatus;

    @JsonPropertyDescription("Name of the Secret holding the downloaded, encrypted security domain.")
    public String securityDomainSecret;

    @JsonPropertyDescription("Keys of the Azure tags the operator wrote (spec.tags and its ownership tag). Tags others add are left "
            + "alone; a tag removed from spec.tags is removed from Azure only if it is listed here.")
    public List<String> managedTags;

    @JsonPropertyDescription("True when the HSM existed before this resource and was adopted (spec.adoptExisting, or ObserveOnly "
            + "turned Managed): the operator then writes only what the spec states, never a default.")
    public Boolean adopted;

    @JsonPropertyDescription("The last update the operator sent to correct drift (cleared once Azure reports the spec's values).")
    public io.hsmoperator.api.common.LastUpdate lastUpdate;

    @JsonPropertyDescription("Keys in the HSM when the operator last counted them (Managed HSM allows 5,000); counted at most once "
            + "per drift interval (hsm.reconcile.drift-interval), on the HSM's reconciles.")
    public Integer keyCount;

    @JsonPropertyDescription("When keyCount was counted.")
    public String keysCountedAt;

    @JsonPropertyDescription("Object ID the operator authenticates as.")
    public String operatorPrincipalId;

    @JsonPropertyDescription("The role the operator granted itself in the HSM to manage keys.")
    public OperatorAccess operatorAccess;

    @JsonPropertyDescription("Whom the kept copy of the security domain is encrypted to, read from the copy: the quorum and the "
            + "SHA-256 thumbprints (x5t#S256) of the officers' certificates. When the officers' Secret names others, the "
            + "operator downloads the security domain again for them.")
    public String securityDomainWrappedFor;

    @JsonPropertyDescription("The officers (as in securityDomainWrappedFor) a re-wrap last downloaded the security domain for.")
    public String securityDomainRewrapRequestedFor;

    @JsonPropertyDescription("The HSM's user-assigned managed identities, as Azure reports them: grant storage roles to their principalId.")
    public List<Identity> identities = new ArrayList<>();

    @JsonPropertyDescription("The HSM's regions as Azure reports them: the primary first, then each extended region, with its "
            + "provisioning state and its own data-plane host.")
    public List<Region> regions = new ArrayList<>();

    @JsonPropertyDescription("The regions in one line, for kubectl get -o wide: each region, (primary) or its state.")
    public String regionSummary;

    @JsonPropertyDescription("The last change of regions the operator sent (cleared once Azure reports the spec's regions).")
    public io.hsmoperator.api.common.LastUpdate regionsUpdate;

    @JsonPropertyDescription("Private endpoint connections of the HSM, as Azure reports them.")
    public List<PrivateEndpointConnection> privateEndpointConnections = new ArrayList<>();

    @JsonPropertyDescription("Set while an Azure operation started by the operator is running (for example the initial create).")
    public PendingOperation pendingOperation;

    public static class OperatorAccess {
        @JsonPropertyDescription("Role definition ID.")
        public String roleDefinitionId;
        @JsonPropertyDescription("Role name.")
        public String roleName;
        @JsonPropertyDescription("Scope of the assignment, /keys.")
        public String scope;
        @JsonPropertyDescription("Name of the role assignment.")
        public String assignmentName;
    }

    public static class Identity {
        @JsonPropertyDescription("Resource ID of the user-assigned identity.")
        public String resourceId;
        @JsonPropertyDescription("Object ID of its principal (what role assignments name).")
        public String principalId;
        @JsonPropertyDescription("Client ID of its principal.")
        public String clientId;
    }

    public static class Region {
        @JsonPropertyDescription("Azure region name, for example northeurope.")
        public String name;
        @JsonPropertyDescription("True for the primary region (the HSM's location).")
        public Boolean primary;
        @JsonPropertyDescription("Azure's state of the region: Preprovisioning, Provisioning, Succeeded, Failed, Deleting, Cleanup.")
        public String provisioningState;
        @JsonPropertyDescription("The region's own data-plane host ({hsm}.{region}.managedhsm.azure.net in Azure), for a workload "
                + "that must stay in one region; hsmUri reaches the closest healthy region. The primary's is hsmUri.")
        public String hsmUri;
    }

    public static class PrivateEndpointConnection {
        @JsonPropertyDescription("Name of the connection on the HSM.")
        public String name;
        @JsonPropertyDescription("Resource ID of the private endpoint.")
        public String privateEndpointId;
        @JsonPropertyDescription("Pending, Approved, Rejected or Disconnected.")
        public String status;
        @JsonPropertyDescription("Description given with the last state change.")
        public String description;
    }

    public static class PendingOperation {
        @JsonPropertyDescription("Create, or RetryUpdate while the operator resends an update Azure reported Failed.")
        public String type;
        @JsonPropertyDescription("How many times a Failed update was sent again (RetryUpdate).")
        public Integer attempts;
        @JsonPropertyDescription("When the operation was started (RFC 3339).")
        public String startedAt;
        @JsonPropertyDescription("Generation of the spec the operation applies.")
        public Long generation;
    }
}
