package io.hsmoperator.api.diagnostics;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** An Azure Monitor diagnostic setting on a Managed HSM: where its audit log goes. */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmdiag")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Setting", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.settingName")
@AdditionalPrinterColumn(name = "Destinations", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.destinations")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
@ValidationRule(value = "!has(self.spec) || !has(oldSelf.spec) || (has(self.spec.settingName) ? self.spec.settingName : self.metadata.name)"
        + " == (has(oldSelf.spec.settingName) ? oldSelf.spec.settingName : oldSelf.metadata.name)",
        message = "settingName is immutable (it defaults to metadata.name)")
public class HsmDiagnostics extends CustomResource<HsmDiagnosticsSpec, HsmDiagnosticsStatus> implements Namespaced {
}
