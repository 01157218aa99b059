package io.hsmoperator.api.hsmkey;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A key inside a Managed HSM: created, kept as the spec says, rotated, and published to workloads. The annotation
 * {@code hsmoperator.io/rotate-now: <token>} creates exactly one new version per distinct token.
 */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmkey")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Type", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.keyType")
@AdditionalPrinterColumn(name = "Version", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.currentVersion")
@AdditionalPrinterColumn(name = "Key ID", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.keyId")
@AdditionalPrinterColumn(name = "Versions", type = AdditionalPrinterColumn.Type.INTEGER, priority = 1, jsonPath = ".status.versionCount")
// A date column shows a future time as "<invalid>" in kubectl: the timestamp itself reads better.
@AdditionalPrinterColumn(name = "Next rotation", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.nextRotationTime")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
@ValidationRule(value = "!has(self.spec) || !has(oldSelf.spec) || (has(self.spec.keyName) ? self.spec.keyName : self.metadata.name)"
        + " == (has(oldSelf.spec.keyName) ? oldSelf.spec.keyName : oldSelf.metadata.name)",
        message = "keyName is immutable (it defaults to metadata.name): create a new HsmKey for another key")
public class HsmKey extends CustomResource<HsmKeySpec, HsmKeyStatus> implements Namespaced {
}
