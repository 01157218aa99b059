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
@ValidationRule(value = "self.hsmRef == oldSelf.hsmRef && self.role == oldSelf.role && self.principalId == oldSelf.principalId"
        + " && has(self.scope) == has(oldSelf.scope) && (!has(self.scope) || self.scope == oldSelf.scope)"
        + " && has(self.keyRef) == has(oldSelf.keyRef) && (!has(self.keyRef) || self.keyRef == oldSelf.keyRef)",
        message = "an HsmRoleAssignment cannot change who, what or where: create a new one (only deletionPolicy may change)")
public class HsmRoleAssignmentSpec {
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

    @Required
    @Size(min = 1, max = 200)
    @JsonPropertyDescription("A built-in role name such as 'Managed HSM Crypto User', or a role definition ID (GUID or "
            + "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}). Roles that administer the HSM are "
            + "refused unless the operator's configuration allows them. Immutable.")
    public String role;

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
