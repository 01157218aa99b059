package io.hsmoperator.api.roledefinition;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

public class HsmRoleDefinitionStatus extends HsmRefStatus {
    @JsonPropertyDescription("Name (a GUID) of the role definition in the HSM, derived from this resource's cluster, namespace "
            + "and name. Assign it with an HsmRoleAssignment's spec.roleDefinitionRef.")
    public String roleDefinitionName;

    @JsonPropertyDescription("Role definition ID: Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{name}.")
    public String roleDefinitionId;

    @JsonPropertyDescription("When the operator last wrote the definition (RFC 3339). Azure refuses assignments of a new role "
            + "until its definition has propagated; assignments referencing it wait meanwhile.")
    public String definedAt;

    @JsonPropertyDescription("The generation of the spec the definition in Azure was last written from, or found equal to: a "
            + "definition that differs from the spec of this generation was changed outside the operator.")
    public Long definedGeneration;

    @JsonPropertyDescription("Custom role definitions the HSM held at the last look (Azure allows 50 per HSM).")
    public Integer customRolesInHsm;
}
