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

    /**
     * Custom role definitions Managed HSM allows in one HSM: "50 custom role definitions per HSM" (Microsoft Learn,
     * key-vault-limits.md, Managed HSM object limits; azure-managed-hsm.md G.1). The operator's own role counts too.
     */
    int CUSTOM_ROLES_PER_HSM = 50;

    /** Azure's role type of a custom role definition (built-ins are AKVBuiltInRole). */
    String CUSTOM_ROLE = "CustomRole";

    /**
     * Whether Azure refused an assignment because the role definition it names is too new: assignments of a custom role
     * are refused (400 BadParameter "Unkown role definition …", Azure's spelling) until its definition has propagated, even
     * though reads of the definition already show it. Other 400s (a full scope, a bad principal) are not this.
     */
    static boolean definitionNotYetAssignable(AzureError e) {
        return e.is(AzureError.Kind.BAD_REQUEST) && e.getMessage() != null
                && e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("role definition");
    }

    List<RoleDefinition> roleDefinitions(String hsmUri);

    /** One role definition by name; empty for a 404, which (Azure's reads lag its writes) proves nothing about a new one. */
    Optional<RoleDefinition> roleDefinition(String hsmUri, String name);

    Mutation defineRole(String hsmUri, String name, String description, List<String> dataActions);

    /** Creates or replaces the custom role definition {@code name} at scope /. */
    Mutation defineRole(String hsmUri, String name, String roleName, String description, Permissions permissions);

    /** Deletes a role definition; a NOT_FOUND AzureError when Azure answers that it is not there. */
    Mutation deleteRoleDefinition(String hsmUri, String name);

    List<Assignment> assignments(String hsmUri, String scope);

    Optional<Assignment> assignment(String hsmUri, String scope, String name);

    /**
     * Assigns the role; empty when Azure answers that the name, or the same role for the same principal at the scope, is
     * already assigned (a 400 RoleAssignmentExists): after a write whose answer was lost, or while Azure's reads do not
     * show the assignment yet.
     */
    Optional<Mutation> assign(String hsmUri, String scope, String name, String roleDefinitionId, String principalId);

    Mutation unassign(String hsmUri, String scope, String name);

    /** What a role permits, its permission entries taken together. */
    record Permissions(List<String> actions, List<String> notActions, List<String> dataActions, List<String> notDataActions) {
        public Permissions {
            actions = List.copyOf(actions);
            notActions = List.copyOf(notActions);
            dataActions = List.copyOf(dataActions);
            notDataActions = List.copyOf(notDataActions);
        }

        /** Equal as Azure compares actions: as sets, case ignored. */
        public boolean sameAs(Permissions o) {
            return same(actions, o.actions) && same(notActions, o.notActions) && same(dataActions, o.dataActions)
                    && same(notDataActions, o.notDataActions);
        }

        private static boolean same(List<String> a, List<String> b) {
            return lower(a).equals(lower(b));
        }

        private static java.util.Set<String> lower(List<String> l) {
            return l.stream().map(x -> x.trim().toLowerCase(java.util.Locale.ROOT)).collect(java.util.stream.Collectors.toSet());
        }
    }

    record RoleDefinition(String id, String name, String roleName, String type, String description, Permissions permissions) {
        public List<String> dataActions() {
            return permissions.dataActions();
        }

        public boolean custom() {
            return CUSTOM_ROLE.equalsIgnoreCase(type);
        }
    }

    record Assignment(String name, String scope, String roleDefinitionId, String principalId) {
        /** The role's GUID, whichever of the three spellings Azure used. */
        public String roleGuid() {
            return roleDefinitionId.substring(roleDefinitionId.lastIndexOf('/') + 1).toLowerCase();
        }
    }
}
