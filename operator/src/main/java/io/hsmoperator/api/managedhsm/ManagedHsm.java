package io.hsmoperator.api.managedhsm;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** An Azure Key Vault Managed HSM: created or adopted, activated, and kept as the spec says. */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("mhsm")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Activated", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Activated\")].status")
@AdditionalPrinterColumn(name = "URI", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.hsmUri")
@AdditionalPrinterColumn(name = "Regions", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.regionSummary")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class ManagedHsm extends CustomResource<ManagedHsmSpec, ManagedHsmStatus> implements Namespaced {
}
