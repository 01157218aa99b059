package io.hsmoperator.api.roleassignment;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.common.HsmReference;

import java.util.Objects;

@ValidationRule(value = "has(self.scope) != has(self.keyRef)", message = "set exactly one of scope (/ or /keys) and keyRef")
@ValidationRule(value = "has(self.role) != has(self.roleDefinitionRef)",
        message = "set exactly one of role (a built-in role or a role definition ID) and roleDefinitionRef (an HsmRoleDefinition)")
@ValidationRule(value = HsmReference.UNCHANGED + " && has(self.role) == has(oldSelf.role) && (!has(self.role) || "
        + HsmRoleAssignmentSpec.ROLE_OF_SELF + " == " + HsmRoleAssignmentSpec.ROLE_OF_OLD + ")"
        + " && has(self.roleDefinitionRef) == has(oldSelf.roleDefinitionRef)"
        + " && (!has(self.roleDefinitionRef) || self.roleDefinitionRef.name == oldSelf.roleDefinitionRef.name)"
        + " && self.principalId.lowerAscii() == oldSelf.principalId.lowerAscii()"
        + " && has(self.scope) == has(oldSelf.scope) && (!has(self.scope) || self.scope == oldSelf.scope)"
        + " && has(self.keyRef) == has(oldSelf.keyRef) && (!has(self.keyRef) || self.keyRef == oldSelf.keyRef)",
        message = "an HsmRoleAssignment cannot change who, what or where: create a new one (only deletionPolicy and adoptExisting may change)")
public class HsmRoleAssignmentSpec {
    /**
     * CEL: built-in role names, in lower case, to their role definition GUIDs (the same in every HSM). Kept equal to
     * io.hsmoperator.azure.HsmRoles.BUILT_IN by CrdCelRulesTest.
     */
    public static final String BUILT_IN_ROLES_CEL = "{"
            + "'managed hsm administrator': 'a290e904-7015-4bba-90c8-60543313cdb4', "
            + "'managed hsm crypto officer': '515eb02d-2335-4d2d-92f2-b1cbdf9c3778', "
            + "'managed hsm crypto user': '21dbd100-6940-42c2-9190-5d6cb909625b', "
            + "'managed hsm policy administrator': '4bd23610-cdcf-4971-bdee-bdc562cc28e4', "
            + "'managed hsm crypto auditor': '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', "
            + "'managed hsm crypto service encryption user': '33413926-3206-4cdd-b39a-83574fe37a17', "
            + "'managed hsm crypto service release user': '21dbd100-6940-42c2-9190-5d6cb909625c', "
            + "'managed hsm backup user': '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', "
            + "'managed hsm restore user': '6efe6056-5259-49d2-8b3d-d3d73544b20b', "
            + "'managed hsm ekm administrator': 'abdd7ec4-a273-4265-bf38-e001014e2d8e'"
            + "}";

    /** CEL: the role GUID {@code self.role} means, whether written as a built-in name (any case), a GUID or a full ID. */
    static final String ROLE_OF_SELF = "(self.role.trim().lowerAscii() in " + BUILT_IN_ROLES_CEL + " ? " + BUILT_IN_ROLES_CEL
            + "[self.role.trim().lowerAscii()] : self.role.trim().lowerAscii().substring(self.role.trim().lastIndexOf('/') + 1))";
    static final String ROLE_OF_OLD = "(oldSelf.role.trim().lowerAscii() in " + BUILT_IN_ROLES_CEL + " ? " + BUILT_IN_ROLES_CEL
            + "[oldSelf.role.trim().lowerAscii()] : oldSelf.role.trim().lowerAscii().substring(oldSelf.role.trim().lastIndexOf('/') + 1))";

    public enum Scope {
        @JsonProperty("/") ALL,
        @JsonProperty("/keys") KEYS
    }

    public enum DeletionPolicy {
        /** Remove the role assignment from the HSM (revoke the access). */
        Delete,
        /** Leave the role assignment in place. */
        Retain
    }

    @Required
    @JsonPropertyDescription("The ManagedHsm the assignment is made in. Immutable.")
    public HsmReference hsmRef;

    @Size(min = 1, max = 200)
    @JsonPropertyDescription("A built-in role name such as 'Managed HSM Crypto User', or a role definition ID (GUID or "
            + "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}). Roles that administer the HSM are "
            + "refused unless the operator's configuration allows them. Exclusive with roleDefinitionRef. Immutable.")
    public String role;

    @JsonPropertyDescription("An HsmRoleDefinition in this namespace: its custom role is granted, once it is defined and Azure "
            + "accepts assignments of it. Exclusive with role. Immutable.")
    public RoleDefinitionReference roleDefinitionRef;

    @Required
    @Pattern("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    @JsonPropertyDescription("Entra object ID of the user, group, service principal or managed identity. Immutable.")
    public String principalId;

    @JsonPropertyDescription("Scope: / (the whole HSM) or /keys (every key). Use keyRef for a single key. Immutable.")
    public Scope scope;

    @JsonPropertyDescription("An HsmKey in this namespace: the assignment applies to that key only (/keys/{its key name}). Immutable.")
    public KeyReference keyRef;

    @Default("Delete")
    @JsonPropertyDescription("What deleting this resource does: Delete (default) revokes the assignment; Retain leaves it.")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Delete;

    @Default("false")
    @JsonPropertyDescription("Take over an equal role assignment (same principal, role and scope) that someone else made, instead "
            + "of reporting OwnershipConflict. An adopted assignment is never revoked by deleting this resource: only the "
            + "assignments it created are.")
    public Boolean adoptExisting = Boolean.FALSE;

    public static class RoleDefinitionReference {
        @Required
        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Name of the HsmRoleDefinition resource.")
        public String name;

        public RoleDefinitionReference() {
        }

        public RoleDefinitionReference(String name) {
            this.name = name;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof RoleDefinitionReference && Objects.equals(name, ((RoleDefinitionReference) o).name);
        }

        @Override
        public int hashCode() {
            return Objects.hashCode(name);
        }
    }

    public static class KeyReference {
        @Required
        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Name of the HsmKey resource.")
        public String name;

        @Override
        public boolean equals(Object o) {
            return o instanceof KeyReference && Objects.equals(name, ((KeyReference) o).name);
        }

        @Override
        public int hashCode() {
            return Objects.hashCode(name);
        }
    }
}
