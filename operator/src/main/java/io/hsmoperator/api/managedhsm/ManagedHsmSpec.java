package io.hsmoperator.api.managedhsm;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@ValidationRule(value = "self.azureName == oldSelf.azureName", message = "azureName is immutable: create a new ManagedHsm to use another HSM name")
@ValidationRule(value = "self.subscriptionId.lowerAscii() == oldSelf.subscriptionId.lowerAscii()", message = "subscriptionId is immutable")
@ValidationRule(value = "self.resourceGroup == oldSelf.resourceGroup", message = "resourceGroup is immutable")
@ValidationRule(value = "self.location == oldSelf.location", message = "location is immutable: a managed HSM cannot move between regions")
@ValidationRule(value = "(has(self.sku) ? self.sku : 'Standard_B1') == (has(oldSelf.sku) ? oldSelf.sku : 'Standard_B1')", message = "sku is immutable")
@ValidationRule(value = "!has(self.tenantId) || !has(oldSelf.tenantId) || self.tenantId.lowerAscii() == oldSelf.tenantId.lowerAscii()",
        message = "tenantId is immutable (unset means the operator's tenant; the operator checks a written-out tenant against the HSM's)")
@ValidationRule(value = "(has(self.initialAdminObjectIds) ? self.initialAdminObjectIds : []) == (has(oldSelf.initialAdminObjectIds) ? oldSelf.initialAdminObjectIds : [])",
        message = "initialAdminObjectIds is immutable: administrators are only set when the HSM is created; grant roles with HsmRoleAssignment instead")
@ValidationRule(value = "(has(self.softDeleteRetentionDays) ? self.softDeleteRetentionDays : 90) == (has(oldSelf.softDeleteRetentionDays) ? oldSelf.softDeleteRetentionDays : 90)",
        message = "softDeleteRetentionDays is immutable: Azure cannot change the retention of an existing HSM")
@ValidationRule(value = "!has(oldSelf.purgeProtection) || !oldSelf.purgeProtection || !has(self.purgeProtection) || self.purgeProtection",
        message = "purgeProtection cannot be turned off once it is on (Azure makes it irreversible; unset means Azure's value, which the operator checks)")
@ValidationRule(value = "!has(self.deletionPolicy) || self.deletionPolicy != 'Delete' || (has(self.confirmDeletionOf) && self.confirmDeletionOf == self.azureName)",
        message = "deletionPolicy Delete also needs confirmDeletionOf set to the azureName: deleting the CR then soft-deletes the HSM in Azure")
@ValidationRule(value = "!has(self.deletionPolicy) || self.deletionPolicy != 'Delete' || !has(self.purgeProtection) || self.purgeProtection",
        message = "deletionPolicy Delete needs purgeProtection: true, so a soft-deleted HSM can always be recovered")
public class ManagedHsmSpec {
    public enum Sku {
        Standard_B1, Custom_B32, Custom_B6, Custom_C42, Custom_C10
    }

    public enum PublicNetworkAccess {
        Enabled, Disabled
    }

    public enum Management {
        /** The operator creates, updates and activates the HSM. */
        Managed,
        /** The operator only reads the HSM and reports it; it never writes to Azure. */
        ObserveOnly
    }

    public enum DeletionPolicy {
        Retain, Delete
    }

    @Required
    @Size(min = 3, max = 24)
    @Pattern("^[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9])+$")
    @JsonPropertyDescription("Name of the HSM in Azure; it is also its DNS name ({azureName}.managedhsm.azure.net) and must be globally "
            + "unique. 3-24 letters, digits and single hyphens, starting with a letter. Immutable.")
    public String azureName;

    @Required
    @Pattern("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    @JsonPropertyDescription("Azure subscription that holds the HSM. Immutable.")
    public String subscriptionId;

    @Required
    @Pattern("^[-\\w._()]{0,89}[-\\w()]$")
    @JsonPropertyDescription("Resource group that holds the HSM. Immutable.")
    public String resourceGroup;

    @Required
    @Pattern("^[A-Za-z0-9 ]+$")
    @JsonPropertyDescription("Azure region, for example westeurope. Immutable.")
    public String location;

    @Default("Standard_B1")
    @JsonPropertyDescription("SKU of the HSM pool. Immutable.")
    public Sku sku = Sku.Standard_B1;

    @Pattern("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    @JsonPropertyDescription("Entra ID tenant the HSM trusts for authentication; defaults to the operator's own tenant. Immutable.")
    public String tenantId;

    @Size(max = 20)
    @JsonPropertyDescription("Object IDs of the principals that become Managed HSM Administrators when the HSM is created. The "
            + "operator adds its own object ID, because it must be an administrator to activate the HSM. Immutable.")
    public List<@Pattern("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$") String> initialAdminObjectIds;

    @Min(7)
    @Max(90)
    @Default("90")
    @JsonPropertyDescription("Days a deleted HSM, and a deleted key, can be recovered before Azure purges it. 7 to 90. Immutable.")
    public Integer softDeleteRetentionDays = 90;

    @JsonPropertyDescription("Purge protection: deleted keys and the deleted HSM cannot be purged before their retention ends. May "
            + "only go from false to true. Unset: on for an HSM the operator creates; an adopted HSM keeps Azure's setting.")
    public Boolean purgeProtection;

    @JsonPropertyDescription("Whether the HSM accepts traffic from public networks. Use Disabled with a PrivateEndpoint. Unset: "
            + "Enabled for an HSM the operator creates; an adopted HSM keeps Azure's setting.")
    public PublicNetworkAccess publicNetworkAccess;

    @JsonPropertyDescription("Network rules of the HSM. A field left unset keeps Azure's value on an adopted HSM, and has its "
            + "documented default on an HSM the operator creates.")
    public NetworkAcls networkAcls;

    @JsonPropertyDescription("Resource IDs of user-assigned managed identities to give the HSM (/subscriptions/{s}/resourceGroups/{rg}/"
            + "providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}): a full backup with useManagedIdentity writes to "
            + "storage as the first of them, which needs Storage Blob Data Contributor on the storage account. The operator's "
            + "Azure identity needs Microsoft.ManagedIdentity/userAssignedIdentities/assign/action on each. Unset: none on an "
            + "HSM this resource creates, Azure's left as they are on an adopted one; empty: the HSM's identities are removed.")
    public List<@Pattern("^/subscriptions/[0-9a-fA-F-]{36}/resource[Gg]roups/[^/]+/providers/[Mm]icrosoft\\.[Mm]anaged[Ii]dentity/"
            + "user[Aa]ssigned[Ii]dentities/[^/]+$") String> userAssignedIdentities;

    @Size(max = 1)
    @JsonPropertyDescription("Extended regions to replicate the HSM to (multi-region replication), besides its primary region "
            + "(location). Azure allows one. Adding one takes Azure up to 30 minutes, during which the operator holds changes "
            + "to networkAcls, publicNetworkAccess and PrivateEndpoints of this HSM; some regions cannot be extended to "
            + "(RegionNotSupported). Removing a region removes that region's replica (Azure purges its pool there; the primary "
            + "keeps every key). Unset: Azure's regions are left as they are, whoever added them; empty: every extended "
            + "region is removed.")
    public List<@Pattern("^[A-Za-z0-9 ]+$") String> regions;

    @JsonPropertyDescription("Azure tags. The operator adds its ownership tag (hsmoperator.io-owner).")
    public Map<String, String> tags = new LinkedHashMap<>();

    @JsonPropertyDescription("How to activate the HSM. Without it the HSM is created but not activated.")
    public SecurityDomain securityDomain;

    @Default("Managed")
    @JsonPropertyDescription("Managed: create, update and activate the HSM. ObserveOnly: read and report an existing HSM, never write.")
    public Management management = Management.Managed;

    @Default("false")
    @JsonPropertyDescription("Adopt an HSM of this name that exists in Azure but was not created by this resource. Without it such an "
            + "HSM is reported as OwnershipConflict and left untouched.")
    public Boolean adoptExisting = Boolean.FALSE;

    @Default("Retain")
    @JsonPropertyDescription("What deleting this resource does in Azure. Retain (default): nothing. Delete: soft-delete the HSM "
            + "(never purge); needs purgeProtection on (in the spec and in Azure) and confirmDeletionOf. Waits while HsmKeys still reference the HSM.")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Retain;

    @JsonPropertyDescription("Must equal azureName for deletionPolicy Delete to be accepted: a deliberate second signature.")
    public String confirmDeletionOf;

    @Size(max = 64)
    @JsonPropertyDescription("Namespaces, besides its own, that may use this HSM for their own keys: create HsmKeys in it and grant "
            + "roles on those keys (HsmRoleAssignment with keyRef). Nothing HSM-wide: diagnostic settings, private endpoints and "
            + "grants at / or /keys from another namespace need allowedHsmWideKinds. \"*\" allows every namespace.")
    public List<@Pattern("^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$") String> allowedNamespaces = new ArrayList<>();

    @Size(max = 64)
    @JsonPropertyDescription("The HSM's owners' explicit grants of HSM-wide kinds to other namespaces: which namespace may declare "
            + "HsmDiagnostics (the HSM's audit logs go where it says), PrivateEndpoints (their connections still wait for the owners' "
            + "approval in Azure), HsmRoleAssignments at / or /keys (every key), HsmBackups (a full backup holds every key) or HsmRestores "
            + "(a restore writes keys; a full one replaces every key) for this HSM.")
    public List<HsmWideGrant> allowedHsmWideKinds = new ArrayList<>();

    /** One namespace and the HSM-wide kinds it may declare for this HSM. */
    public static class HsmWideGrant {
        public enum Kind { HsmDiagnostics, PrivateEndpoint, HsmRoleAssignment, HsmBackup, HsmRestore }

        @Required
        @Pattern("^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")
        @JsonPropertyDescription("The namespace granted, or \"*\" for every namespace.")
        public String namespace;

        @Required
        @Size(min = 1)
        @JsonPropertyDescription("What it may declare: HsmDiagnostics, PrivateEndpoint, HsmRoleAssignment (at / or /keys), HsmBackup, "
                + "HsmRestore (a restore writes keys HSM-wide; a full one replaces every key).")
        public List<Kind> kinds = new ArrayList<>();

        public HsmWideGrant() {
        }

        public HsmWideGrant(String namespace, List<Kind> kinds) {
            this.namespace = namespace;
            this.kinds = new ArrayList<>(kinds);
        }

        // Compared by value: a change of grants must wake the resources that reference the HSM (HsmRefs.whatReferrersRead).
        @Override
        public boolean equals(Object o) {
            return o instanceof HsmWideGrant g && java.util.Objects.equals(namespace, g.namespace) && java.util.Objects.equals(kinds, g.kinds);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(namespace, kinds);
        }
    }

    public static class NetworkAcls {
        public enum Bypass {
            AzureServices, None
        }

        public enum DefaultAction {
            Allow, Deny
        }

        @JsonPropertyDescription("Whether trusted Azure services bypass the network rules (default AzureServices).")
        public Bypass bypass;

        @JsonPropertyDescription("What happens to traffic that no rule matches (default Allow).")
        public DefaultAction defaultAction;

        @Size(max = 100)
        @JsonPropertyDescription("IPv4 addresses or CIDR ranges allowed through (default none).")
        public List<@Pattern("^[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2})?$") String> ipRules;

        @Size(max = 100)
        @JsonPropertyDescription("Resource IDs of virtual network subnets allowed through (default none).")
        public List<@Pattern("^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[Mm]icrosoft\\.[Nn]etwork/virtual[Nn]etworks/[^/]+/subnets/[^/]+$") String> virtualNetworkRules;
    }

    public static class SecurityDomain {
        @Required
        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Secret in this namespace with the security-domain officers' public certificates: at least 3 PEM "
                + "certificates (RSA, 2048 bits or more) in keys ending in .pem or .crt, and the quorum in key 'quorum' (2 to the "
                + "number of certificates). Only public certificates: never put private keys here.")
        public String certificatesSecret;

        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Secret the operator creates to hold the downloaded (encrypted) security domain; defaults to "
                + "<name>-security-domain. Copy it somewhere safe: it is needed to recover the HSM.")
        public String outputSecret;
    }

}
