package io.hsmoperator.api.roleassignment;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

public class HsmRoleAssignmentStatus extends HsmRefStatus {
    @JsonPropertyDescription("Name of the role assignment in the HSM (derived from this resource's UID).")
    public String assignmentName;

    @JsonPropertyDescription("Role definition ID the role resolved to.")
    public String roleDefinitionId;

    @JsonPropertyDescription("Name of the role.")
    public String roleName;

    @JsonPropertyDescription("Scope in effect: /, /keys or /keys/{key name}.")
    public String scope;

    @JsonPropertyDescription("When the operator made the assignment (RFC 3339). Azure takes minutes to make it effective; the "
            + "resource is Ready once hsm.role-assignments.propagation has passed since.")
    public String grantedAt;

    @JsonPropertyDescription("True when the assignment existed before this resource and was adopted (spec.adoptExisting): deleting "
            + "this resource then leaves it in place.")
    public Boolean adopted;
}
