package io.hsmoperator.azure;

import java.util.List;
import java.util.Optional;

/** Managed HSM local RBAC: role definitions and role assignments at /, /keys or /keys/{name}. */
public interface HsmAccessControl {
    /**
     * Role assignments Managed HSM allows at one key's scope (/keys/{name}): "10 role assignments per individual key
     * scope" (Microsoft Learn, key-vault-limits.md, Managed HSM object limits; azure-managed-hsm.md G.1).
     */
    int ASSIGNMENTS_PER_KEY_SCOPE = 10;
    /** Role assignments Managed HSM allows at HSM scope (/ and /keys): "50 role assignments at HSM scope" (same source). */
    int ASSIGNMENTS_PER_HSM_SCOPE = 50;

    /** The number of role assignments Azure allows at {@code scope}. */
    static int assignmentLimit(String scope) {
        return scope != null && scope.toLowerCase(java.util.Locale.ROOT).startsWith("/keys/") ? ASSIGNMENTS_PER_KEY_SCOPE : ASSIGNMENTS_PER_HSM_SCOPE;
    }

    List<RoleDefinition> roleDefinitions(String hsmUri);

    Mutation defineRole(String hsmUri, String name, String description, List<String> dataActions);

    List<Assignment> assignments(String hsmUri, String scope);

    Optional<Assignment> assignment(String hsmUri, String scope, String name);

    /**
     * Assigns the role; empty when Azure answers that the name, or the same role for the same principal at the scope, is
     * already assigned (a 400 RoleAssignmentExists): after a write whose answer was lost, or while Azure's reads do not
     * show the assignment yet.
     */
    Optional<Mutation> assign(String hsmUri, String scope, String name, String roleDefinitionId, String principalId);

    Mutation unassign(String hsmUri, String scope, String name);

    record RoleDefinition(String id, String name, String roleName, String type, List<String> dataActions) {
    }

    record Assignment(String name, String scope, String roleDefinitionId, String principalId) {
        /** The role's GUID, whichever of the three spellings Azure used. */
        public String roleGuid() {
            return roleDefinitionId.substring(roleDefinitionId.lastIndexOf('/') + 1).toLowerCase();
        }
    }
}
