package io.hsmoperator.api.hsmkey;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.hsmoperator.api.common.HsmReference;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@ValidationRule(value = HsmReference.UNCHANGED, message = "hsmRef is immutable: a key cannot move to another HSM")
@ValidationRule(value = "self.keyType == oldSelf.keyType", message = "keyType is immutable: create a new HsmKey for another key type")
@ValidationRule(value = "(has(self.keySize) ? self.keySize : (self.keyType == 'RSA-HSM' ? " + HsmKeySpec.DEFAULT_RSA_SIZE + " : "
        + HsmKeySpec.DEFAULT_OCT_SIZE + ")) == (has(oldSelf.keySize) ? oldSelf.keySize : (oldSelf.keyType == 'RSA-HSM' ? "
        + HsmKeySpec.DEFAULT_RSA_SIZE + " : " + HsmKeySpec.DEFAULT_OCT_SIZE + "))", message = "keySize is immutable")
@ValidationRule(value = "(has(self.curve) ? self.curve : '" + HsmKeySpec.DEFAULT_CURVE + "') == (has(oldSelf.curve) ? oldSelf.curve : '"
        + HsmKeySpec.DEFAULT_CURVE + "')", message = "curve is immutable")
@ValidationRule(value = "has(self.exportable) == has(oldSelf.exportable) && (!has(self.exportable) || self.exportable == oldSelf.exportable)",
        message = "exportable is immutable")
@ValidationRule(value = "has(self.releasePolicy) == has(oldSelf.releasePolicy) && (!has(self.releasePolicy) || self.releasePolicy == oldSelf.releasePolicy)",
        message = "releasePolicy is immutable")
@ValidationRule(value = "!has(self.keySize) || self.keyType != 'EC-HSM'", message = "keySize applies to RSA-HSM and oct-HSM keys; EC-HSM keys take curve")
@ValidationRule(value = "!has(self.curve) || self.keyType == 'EC-HSM'", message = "curve applies to EC-HSM keys only")
@ValidationRule(value = "!has(self.keySize) || self.keyType != 'RSA-HSM' || self.keySize in [2048, 3072, 4096]",
        message = "RSA-HSM keySize must be 2048, 3072 or 4096")
@ValidationRule(value = "!has(self.keySize) || self.keyType != 'oct-HSM' || self.keySize in [128, 192, 256]",
        message = "oct-HSM keySize must be 128, 192 or 256")
@ValidationRule(value = "self.keyType != 'EC-HSM' || !has(self.operations) || self.operations.all(o, o in ['sign', 'verify'])",
        message = "EC-HSM keys support only the sign and verify operations")
@ValidationRule(value = "!has(self.exportable) || !self.exportable || has(self.releasePolicy)",
        message = "an exportable key needs a releasePolicy")
@ValidationRule(value = "!has(self.releasePolicy) || (has(self.exportable) && self.exportable)",
        message = "releasePolicy applies to exportable keys only")
public class HsmKeySpec {
    public enum KeyType {
        @JsonProperty("RSA-HSM") RSA_HSM,
        @JsonProperty("EC-HSM") EC_HSM,
        @JsonProperty("oct-HSM") OCT_HSM
    }

    public enum Curve {
        @JsonProperty("P-256") P_256,
        @JsonProperty("P-384") P_384,
        @JsonProperty("P-521") P_521,
        @JsonProperty("P-256K") P_256K
    }

    public enum Operation {
        encrypt, decrypt, sign, verify, wrapKey, unwrapKey, export
    }

    public enum DeletionPolicy {
        /** Leave the key in Azure. */
        Retain,
        /** Disable every version of the key, keep it. */
        Disable,
        /** Soft-delete the key (recoverable for the HSM's retention; never purged). */
        Delete
    }

    /** What an unset keySize or curve means (the rules compare effective values, so writing the default out is no change). */
    public static final int DEFAULT_RSA_SIZE = 2048;
    public static final int DEFAULT_OCT_SIZE = 256;
    public static final String DEFAULT_CURVE = "P-256";

    /** ISO-8601 duration without lookaheads (the API server's RE2 has none); the reconciler parses it strictly. */
    private static final String DURATION = "^P(([0-9]+[YMWD])+(T([0-9]+[HMS])+)?|T([0-9]+[HMS])+)$";

    @Required
    @JsonPropertyDescription("The ManagedHsm that holds the key. Immutable.")
    public HsmReference hsmRef;

    /** A key name as Managed HSM allows it; an HsmRestore's keyName follows the same rule. */
    public static final String KEY_NAME = "^[0-9a-zA-Z-]{1,127}$";

    @Pattern(KEY_NAME)
    @JsonPropertyDescription("Name of the key in the HSM; defaults to metadata.name. 1-127 letters, digits and dashes. Immutable.")
    public String keyName;

    @Required
    @JsonPropertyDescription("Key type. Immutable.")
    public KeyType keyType;

    @JsonPropertyDescription("Size in bits: 2048, 3072 or 4096 for RSA-HSM (default 2048); 128, 192 or 256 for oct-HSM (default "
            + "256). Immutable.")
    public Integer keySize;

    @JsonPropertyDescription("Curve of an EC-HSM key (default P-256). Immutable.")
    public Curve curve;

    @Size(max = 7)
    @JsonPropertyDescription("Permitted operations. Unset: a key the operator creates gets every operation its type supports; an "
            + "adopted key keeps the operations it has.")
    public List<Operation> operations;

    @Default("false")
    @JsonPropertyDescription("Whether the private key may be released to an attested environment under releasePolicy. Immutable.")
    public Boolean exportable = Boolean.FALSE;

    @JsonPropertyDescription("Secure key release policy of an exportable key. Immutable.")
    public ReleasePolicy releasePolicy;

    @JsonPropertyDescription("Whether the current version may be used. Disabling refuses every cryptographic operation. Unset: a "
            + "key the operator creates is enabled; an adopted key keeps its state.")
    public Boolean enabled;

    @Pattern(DURATION)
    @JsonPropertyDescription("ISO-8601 duration after which each version expires, counted from that version's creation (for "
            + "example P1Y). Unset: versions do not expire.")
    public String expiresAfter;

    @Size(max = 13)
    @JsonPropertyDescription("Tags on every version of the key: at most 13 (Azure allows 15; the operator writes its ownership tag and a rotation marker).")
    public Map<String, String> tags = new LinkedHashMap<>();

    @JsonPropertyDescription("Scheduled rotation: operator-driven (every) or Azure's own rotation policy (azurePolicy).")
    public Rotation rotation;

    @JsonPropertyDescription("What is published for workloads: a ConfigMap with the key IDs, public keys (PEM) and a JWKS.")
    public Publish publish = new Publish();

    @Default("false")
    @JsonPropertyDescription("Keep Azure's key attestation (API 7.6) of every enabled version in the ConfigMap <name>-attestation, "
            + "so auditors can check the key lives in the HSM: the HSM's certificate chain and the attestation blobs, each version's "
            + "fetched once. Turning it off stops the fetching; the ConfigMap, which "
            + "the HsmKey owns, stays until you delete it or the HsmKey.")
    public Boolean attestation = Boolean.FALSE;

    @Default("Retain")
    @JsonPropertyDescription("What deleting this resource does in Azure. Retain (default): nothing. Disable: disable the key. "
            + "Delete: soft-delete it (recoverable; never purged).")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Retain;

    @Default("false")
    @JsonPropertyDescription("Adopt a key of this name that exists in the HSM but was not created by this resource. Without it such "
            + "a key is reported as OwnershipConflict and left untouched.")
    public Boolean adoptExisting = Boolean.FALSE;

    @Default("false")
    @JsonPropertyDescription("Recover a soft-deleted key of the same name instead of reporting NameHeldBySoftDeletedKey; also "
            + "recovers the key if it is deleted outside the operator.")
    public Boolean recoverDeleted = Boolean.FALSE;

    public static class ReleasePolicy {
        @Required
        @Size(min = 2, max = 10240)
        @JsonPropertyDescription("The policy document as JSON, for example {\"version\":\"1.0.0\",\"anyOf\":[...]}.")
        public String data;

        @Default("application/json; charset=utf-8")
        @JsonPropertyDescription("Content type of the policy.")
        public String contentType = "application/json; charset=utf-8";

        @Default("false")
        @JsonPropertyDescription("Make the policy immutable in Azure.")
        public Boolean immutable = Boolean.FALSE;

        @Override
        public boolean equals(Object o) {
            return o instanceof ReleasePolicy && java.util.Objects.equals(data, ((ReleasePolicy) o).data)
                    && java.util.Objects.equals(contentType, ((ReleasePolicy) o).contentType)
                    && java.util.Objects.equals(immutable, ((ReleasePolicy) o).immutable);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(data, contentType, immutable);
        }
    }

    @ValidationRule(value = "!(has(self.every) && has(self.azurePolicy))",
            message = "rotation.every (operator-driven) and rotation.azurePolicy (Azure-driven) cannot be combined: choose one")
    @ValidationRule(value = "has(self.every) || has(self.azurePolicy)", message = "rotation needs either every or azurePolicy")
    public static class Rotation {
        @Pattern(DURATION)
        @JsonPropertyDescription("Operator-driven rotation: a new version when the current one is this old (ISO-8601, at least P1D).")
        public String every;

        @Min(1)
        @Max(50)
        @Default("2")
        @JsonPropertyDescription("How many of the newest versions stay enabled; older ones are disabled after gracePeriod, never deleted.")
        public Integer keepEnabledVersions = 2;

        @Pattern(DURATION)
        @Default("P7D")
        @JsonPropertyDescription("How long a version beyond keepEnabledVersions stays enabled after it was superseded (ISO-8601).")
        public String gracePeriod = "P7D";

        @JsonPropertyDescription("Azure-driven rotation: the key's service-side rotation policy (Managed HSM: at least 28 days).")
        public AzurePolicy azurePolicy;
    }

    @ValidationRule(value = "has(self.timeAfterCreate) != has(self.timeBeforeExpiry)",
            message = "azurePolicy needs exactly one of timeAfterCreate or timeBeforeExpiry")
    @ValidationRule(value = "!has(self.timeBeforeExpiry) || has(self.expiryTime)", message = "timeBeforeExpiry needs expiryTime")
    public static class AzurePolicy {
        @Pattern(DURATION)
        @JsonPropertyDescription("Rotate when a version is this old (ISO-8601, at least P28D).")
        public String timeAfterCreate;

        @Pattern(DURATION)
        @JsonPropertyDescription("Rotate this long before a version expires (ISO-8601; at most expiryTime minus 28 days).")
        public String timeBeforeExpiry;

        @Pattern(DURATION)
        @JsonPropertyDescription("Expiry Azure gives each new version (ISO-8601, at least P28D).")
        public String expiryTime;
    }

    @ValidationRule(value = "!has(self.restartWorkloads) || (has(self.restartWorkloads.matchLabels) && size(self.restartWorkloads.matchLabels) > 0)"
            + " || (has(self.restartWorkloads.matchExpressions) && size(self.restartWorkloads.matchExpressions) > 0)",
            message = "restartWorkloads needs matchLabels or matchExpressions: an empty selector would restart every Deployment and "
                    + "StatefulSet in the namespace")
    public static class Publish {
        @Default("true")
        @JsonPropertyDescription("Publish a ConfigMap for workloads.")
        public Boolean enabled = Boolean.TRUE;

        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Name of the ConfigMap; defaults to <name>-key.")
        public String configMapName;

        @JsonPropertyDescription("Deployments and StatefulSets in this namespace matching this selector (not empty) get a "
                + "pod-template annotation with the current version, so they restart when the key rotates. Applied only where the "
                + "installation allows workload restarts (hsm.publish.restart-workloads).")
        public LabelSelector restartWorkloads;
    }
}
