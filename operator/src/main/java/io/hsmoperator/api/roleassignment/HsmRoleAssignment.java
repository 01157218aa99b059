package io.hsmoperator.api.roleassignment;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A Managed HSM local RBAC role assignment: who may do what with which keys. Deleting it revokes the access. */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmra")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Role", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.role")
@AdditionalPrinterColumn(name = "Principal", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.principalId")
@AdditionalPrinterColumn(name = "Scope", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.scope")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class HsmRoleAssignment extends CustomResource<HsmRoleAssignmentSpec, HsmRoleAssignmentStatus> implements Namespaced {
}
