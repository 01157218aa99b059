package io.hsmoperator.api.roledefinition;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A Managed HSM local custom role: which data actions it permits. It grants nothing by itself; an HsmRoleAssignment in the
 * same namespace grants it (spec.roleDefinitionRef). Its role definition name is derived from this resource's cluster,
 * namespace and name, so a re-created resource finds its own definition and two namespaces never share one.
 */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmrd")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Role", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.roleName")
@AdditionalPrinterColumn(name = "Definition", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.roleDefinitionName")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class HsmRoleDefinition extends CustomResource<HsmRoleDefinitionSpec, HsmRoleDefinitionStatus> implements Namespaced {
}
