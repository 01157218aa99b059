package io.hsmoperator.emulator;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything the emulator remembers. Plain Jackson-serialisable objects guarded by the emulator's lock;
 * persisted as one JSON document in the state directory.
 */
public final class State {
    public String tenantId;
    public long clockOffsetMillis;
    public Map<String, Principal> principals = new LinkedHashMap<>();
    /** key: lower(subscription)/lower(resourceGroup) */
    public Map<String, ResourceGroup> resourceGroups = new LinkedHashMap<>();
    /** key: lower(hsm name); HSM names are global because they are DNS names. */
    public Map<String, Hsm> hsms = new LinkedHashMap<>();
    /** key: lower(hsm name) */
    public Map<String, Hsm> deletedHsms = new LinkedHashMap<>();
    /** key: lower(resource id) */
    public Map<String, PrivateEndpoint> privateEndpoints = new LinkedHashMap<>();
    /** key: lower(resource uri) + "|" + lower(setting name) */
    public Map<String, ObjectNode> diagnosticSettings = new LinkedHashMap<>();
    /** ARM asynchronous operations (managedHsmOperationResults, network operations). */
    public Map<String, Operation> operations = new LinkedHashMap<>();
    /** Custom ARM role definitions, by lower-case name (built-in roles: {@link ArmAuthorization#BUILT_IN}). */
    public Map<String, ArmRole> armRoleDefinitions = new LinkedHashMap<>();
    /** ARM role assignments; null in state files written before ARM RBAC was enforced. */
    public List<ArmRoleAssignment> armRoleAssignments;
    /** Full-backup folders written by HSM backups, keyed by folder URL (the emulator's stand-in for blob storage). */
    public Map<String, String> backupFolders = new LinkedHashMap<>();
    /** Microsoft.ManagedIdentity/userAssignedIdentities, by lower(resource id); each is also a principal. */
    public Map<String, UserAssignedIdentity> userAssignedIdentities = new LinkedHashMap<>();
    /** The root and intermediate CA of key attestation ({@link KeyAttestations}); made on first use. */
    public Attestation attestationAuthority;

    /** A certificate (PEM) and its EC private key (PKCS#8 PEM); the authority also holds its intermediate. */
    public static final class Attestation {
        public String certificate;
        public String key;
        public String intermediateCertificate;
        public String intermediateKey;
    }

    public static final class UserAssignedIdentity {
        public String id;
        public String name;
        public String location;
        public String principalId;
        public String clientId;
        public Map<String, String> tags = new LinkedHashMap<>();
    }

    public static final class Principal {
        public String objectId;
        public String clientId;
        public String clientSecret;
        public String displayName;
        /** Federated credentials: issuer + subject pairs accepted as client assertions (workload identity). */
        public List<Map<String, String>> federatedCredentials = new ArrayList<>();
        /** ARM actions refused to this principal with 403 AuthorizationFailed (to test permission errors). */
        public List<String> deniedArmActions = new ArrayList<>();
    }

    public static final class ArmRole {
        public String name;
        public List<String> actions = new ArrayList<>();
        public List<String> notActions = new ArrayList<>();
        /** Actions on data (a storage account's blobs), checked where a service acts on data for a principal. */
        public List<String> dataActions = new ArrayList<>();
    }

    public static final class ArmRoleAssignment {
        public String principalId;
        public String role;
        public String scope;
    }

    public static final class ResourceGroup {
        public String subscriptionId;
        public String name;
        public String location;
        public Map<String, String> tags = new LinkedHashMap<>();
    }

    public static final class Hsm {
        public String name;
        public String subscriptionId;
        public String resourceGroup;
        public String location;
        public String skuFamily;
        public String skuName;
        public String tenantId;
        public Map<String, String> tags = new LinkedHashMap<>();
        /** The resource IDs of the user-assigned managed identities given to the HSM (ARM {@code identity}). */
        public List<String> userAssignedIdentities = new ArrayList<>();
        public List<String> initialAdminObjectIds = new ArrayList<>();
        public int softDeleteRetentionInDays;
        public boolean enablePurgeProtection;
        public String publicNetworkAccess;
        public ObjectNode networkAcls;
        /** The extended regions the HSM is replicated to (Azure allows one), beside its primary region {@link #location}. */
        public List<Region> extendedRegions = new ArrayList<>();
        public String createdAt;
        public String createdBy;
        public String lastModifiedAt;
        public String lastModifiedBy;
        /** Wall-clock millis when provisioning completes. */
        public long provisionedAtMillis;
        /** Wall-clock millis when the last accepted update completes (0 when none is running). */
        public long updateDoneAtMillis;
        /** The last accepted update ended Failed: provisioningState Failed until another update succeeds. */
        public boolean updateFailed;
        public int port;
        /** The HSM's own secret: protects key backups so they restore only into the same security domain. */
        public String domainKey;
        /** The certificate that signs this HSM's key attestations, issued by the attestation intermediate on first use. */
        public Attestation attestation;
        public SecurityDomain securityDomain;
        /** The key an uploaded security domain is wrapped to: made on the first read, gone once an upload succeeds. */
        public TransferKey transferKey;
        public Map<String, Key> keys = new LinkedHashMap<>();
        public Map<String, Key> deletedKeys = new LinkedHashMap<>();
        public Map<String, ObjectNode> customRoles = new LinkedHashMap<>();
        public Map<String, RoleAssignment> roleAssignments = new LinkedHashMap<>();
        /** Revoked assignments that still grant until their revocation has propagated. */
        public List<RoleAssignment> revokedAssignments = new ArrayList<>();
        /** When each custom role definition (by lower-case name) becomes known to role assignments. */
        public Map<String, Long> customRoleEffectiveAtMillis = new LinkedHashMap<>();
        public Map<String, String> settings = new LinkedHashMap<>();
        public Map<String, Pec> privateEndpointConnections = new LinkedHashMap<>();
        public Map<String, Job> jobs = new LinkedHashMap<>();
        // soft-delete bookkeeping (set while in deletedHsms)
        public String deletionDate;
        public String scheduledPurgeDate;
        public long deletedAtEpoch;

        @JsonIgnore
        public String resourceId() {
            return "/subscriptions/" + subscriptionId + "/resourceGroups/" + resourceGroup
                    + "/providers/Microsoft.KeyVault/managedHSMs/" + name;
        }
    }

    /** An extended region of an HSM: a second HSM pool there, with its own data-plane host (here: its own port). */
    public static final class Region {
        public String name;
        /** Wall-clock millis when adding the region completes (Provisioning until then). */
        public long readyAtMillis;
        /** Wall-clock millis when removing the region completes (Deleting until then); 0 while it stays. */
        public long removedAtMillis;
        public int port;

        @JsonIgnore
        public boolean gone(long now) {
            return removedAtMillis != 0 && now >= removedAtMillis;
        }

        @JsonIgnore
        public String provisioningState(long now) {
            return removedAtMillis != 0 ? "Deleting" : now < readyAtMillis ? "Provisioning" : "Succeeded";
        }
    }

    public static final class SecurityDomain {
        public int required;
        public List<String> certificateThumbprints = new ArrayList<>();
        public long downloadedAtMillis;
        public long activeAtMillis;
        /** Base64 of the 32-byte security-domain key that the blob's shares protect (null after an upload). */
        public String key;
        /** When the HSM was activated by uploading a security domain (0: by a download). */
        public long uploadedAtMillis;
    }

    public static final class TransferKey {
        /** PKCS#8, base64: the emulator's private half, as it keeps key material. */
        public String privateKey;
        /** The self-signed certificate of the public half (DER, base64), served as the JWK's x5c. */
        public String certificate;
    }

    public static final class Key {
        public String name;
        public List<KeyVersion> versions = new ArrayList<>();
        public ObjectNode rotationPolicy;
        public Long deletedDate;
        public Long scheduledPurgeDate;
        /** While a recover runs (epoch millis it completes): the key is neither deleted nor yet readable. */
        public Long recoveringUntil;

        @JsonIgnore
        public boolean recovering() {
            return recoveringUntil != null && recoveringUntil > System.currentTimeMillis();
        }

        @JsonIgnore
        public KeyVersion latest() {
            return versions.get(versions.size() - 1);
        }

        @JsonIgnore
        public KeyVersion version(String v) {
            for (KeyVersion kv : versions) {
                if (kv.version.equalsIgnoreCase(v)) {
                    return kv;
                }
            }
            return null;
        }
    }

    public static final class KeyVersion {
        public String version;
        public String kty;
        public Integer keySize;
        public String crv;
        public List<String> keyOps = new ArrayList<>();
        public boolean enabled = true;
        public Long nbf;
        public Long exp;
        public long created;
        public long updated;
        public boolean exportable;
        public JsonNode releasePolicy;
        public Map<String, String> tags;
        /** PKCS#8 (RSA/EC) or raw key bytes (oct), base64. Never leaves the emulator except in a protected backup blob. */
        public String material;
        /** X.509 SubjectPublicKeyInfo, base64 (RSA/EC only). */
        public String publicKey;
        /** The region whose data-plane host wrote this version (null: the primary's, or written before regions existed). */
        public String writtenIn;
        /** Wall-clock millis when the other regions of the HSM see this version (Azure replicates writes within minutes). */
        public long replicatedAtMillis;
        /** "imported" for a version imported (PUT /keys/{name}); null for one generated in the HSM. Kept by backup/restore. */
        public String origin;

        @JsonIgnore
        public transient Object cache;
    }

    public static final class RoleAssignment {
        public String name;
        public String scope;
        public String roleDefinitionId;
        public String principalId;
        /** When it starts to grant (Azure propagates assignments for minutes); 0: at once. */
        public long effectiveAtMillis;
        /** For a revoked assignment that still grants while the revocation propagates: until when. */
        public long revokedAtMillis;
    }

    public static final class Pec {
        public String name;
        public String privateEndpointId;
        public String status;
        public String description;
        public String actionsRequired = "None";
        public String provisioningState = "Succeeded";
        public String etag;
    }

    public static final class Job {
        public String jobId;
        public String kind;
        public long startTime;
        public long doneAtMillis;
        public String folderUri;
        public String statusDetails;
        public ObjectNode error;
    }

    public static final class PrivateEndpoint {
        public String id;
        public String name;
        /** Changes on every write, as Azure's does. */
        public String etag;
        public String subscriptionId;
        public String resourceGroup;
        public String location;
        public String subnetId;
        public Map<String, String> tags = new LinkedHashMap<>();
        public boolean manual;
        public String connectionName;
        public String requestMessage;
        public String groupId;
        public String targetId;
        /** Name of the connection on the HSM side. */
        public String pecName;
        public String privateIp;
        public String nicName;
        public long readyAtMillis;
        public Map<String, ObjectNode> dnsZoneGroups = new LinkedHashMap<>();
    }

    public static final class Operation {
        public String id;
        public long doneAtMillis;
        public String status = "Succeeded";
        public ObjectNode error;
    }
}
