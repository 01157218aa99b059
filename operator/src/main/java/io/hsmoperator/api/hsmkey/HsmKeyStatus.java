package io.hsmoperator.api.hsmkey;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

import java.util.ArrayList;
import java.util.List;

public class HsmKeyStatus extends HsmRefStatus {
    @JsonPropertyDescription("Versioned key identifier of the current version; what workloads pass to a CryptographyClient.")
    public String keyId;

    @JsonPropertyDescription("Key identifier without a version: always resolves to the newest version.")
    public String versionlessKeyId;

    @JsonPropertyDescription("Current (newest) version.")
    public String currentVersion;

    @JsonPropertyDescription("Keys of the tags the operator wrote on the key (spec.tags and its ownership tag). Tags others add are "
            + "left alone; a tag removed from spec.tags is removed from Azure only if it is listed here.")
    public java.util.List<String> managedTags;

    @JsonPropertyDescription("True when the key existed before this resource and was adopted (spec.adoptExisting): the operator "
            + "then writes only what the spec states (enabled, operations), never a default.")
    public Boolean adopted;

    @JsonPropertyDescription("When the operator asked Azure to recover the soft-deleted key (spec.recoverDeleted); cleared once "
            + "the key answers. Azure recovers in the background and answers 404 meanwhile: no second key is created.")
    public String recoveryStartedAt;

    @JsonPropertyDescription("The last update the operator sent to correct drift (cleared once Azure reports the spec's values).")
    public io.hsmoperator.api.common.LastUpdate lastUpdate;

    @JsonPropertyDescription("The last change of the key's Azure rotation policy the operator sent (spec.rotation.azurePolicy), "
            + "cleared once Azure reports the spec's policy.")
    public io.hsmoperator.api.common.LastUpdate lastPolicyUpdate;

    @JsonPropertyDescription("The newest versions (at most 20), newest first.")
    public List<KeyVersion> versions = new ArrayList<>();

    @JsonPropertyDescription("Number of versions the key has in Azure (Managed HSM allows 100).")
    public Integer versionCount;

    @JsonPropertyDescription("When the current version was created by a rotation (RFC 3339).")
    public String lastRotationTime;

    @JsonPropertyDescription("When the next scheduled rotation is due (RFC 3339).")
    public String nextRotationTime;

    @JsonPropertyDescription("The last hsmoperator.io/rotate-now token handled.")
    public String lastRotateNowToken;

    @JsonPropertyDescription("The last hsmoperator.io/accept-key-state token handled: the key as Azure then held it was accepted "
            + "after versions this resource had seen went away.")
    public String lastAcceptKeyStateToken;

    @JsonPropertyDescription("Name of the ConfigMap published for workloads.")
    public String publishedConfigMap;

    @JsonPropertyDescription("When Azure last changed the current version (its attributes or tags), as the operator last read it "
            + "(RFC 3339). A restarted operator compares it with a listing of the HSM instead of reading every key again.")
    public String keyUpdated;

    @JsonPropertyDescription("When the operator last read the key in full, its versions included (RFC 3339).")
    public String readAt;

    @JsonPropertyDescription("When the operator reads the key in full next (RFC 3339): hsm.reconcile.key-full-read after readAt, or "
            + "sooner when a rotation, the end of a grace period or an expiry warning falls due. A restarted operator reads the "
            + "key then, or when a listing of the HSM shows it changed.")
    public String nextReadAt;

    public static class KeyVersion {
        @JsonPropertyDescription("Version identifier.")
        public String version;
        @JsonPropertyDescription("Creation time (RFC 3339).")
        public String created;
        @JsonPropertyDescription("Expiry time (RFC 3339), if any.")
        public String expires;
        @JsonPropertyDescription("Whether the version is enabled.")
        public Boolean enabled;
    }
}
