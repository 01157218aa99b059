package io.hsmoperator.azure;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which custom roles the operator refuses to grant unless its configuration allows them: those that administer the HSM. */
class HsmRolesTest {
    private static final String P = "Microsoft.KeyVault/managedHsm/";

    @Test
    void wildcardsThatReachAnAdministrativeActionAreAdministrative() {
        for (String granted : List.of("*", P + "*", P + "keys/*", P + "roleAssignments/*", P + "roleDefinitions/*", P + "securitydomain/*",
                P + "backup/*", P + "settings/*", P + "keys/deletedKeys/*", "microsoft.keyvault/MANAGEDHSM/keys/*", P + "*/write/action",
                P + "keys/*/action", "Microsoft.KeyVault/*")) {
            assertTrue(HsmRoles.administrative(List.of(P + "keys/read/action", granted)), granted + " is administrative");
        }
    }

    @Test
    void actionsThatLetAKeyLeaveTheHsmOrGoForGoodAreAdministrative() {
        for (String action : List.of("keys/release/action", "keys/export/action", "keys/backup/action", "keys/restore/action",
                "keys/deletedKeys/delete", "roleAssignments/write/action", "roleDefinitions/delete/action",
                "securitydomain/download/action", "backup/start/action", "restore/start/action", "settings/write/action", "ekm/write/action")) {
            assertTrue(HsmRoles.administrative(List.of(P + action)), action + " is administrative");
        }
    }

    @Test
    void usingAndManagingKeysIsNot() {
        assertFalse(HsmRoles.administrative(List.of(P + "keys/read/action", P + "keys/sign/action", P + "keys/verify/action",
                P + "keys/encrypt/action", P + "keys/decrypt/action", P + "keys/wrap/action", P + "keys/unwrap/action",
                P + "keys/create", P + "keys/write/action", P + "keys/rotate/action", P + "keys/delete", P + "keys/deletedKeys/read/action",
                P + "roleAssignments/read/action", P + "roleDefinitions/read/action", P + "settings/read/action", P + "rng/action")));
        assertFalse(HsmRoles.administrative(List.of(P + "keys/*/read/action", P + "keys/s*n/action")),
                "wildcards that reach only key use");
        assertFalse(HsmRoles.administrative(List.of()));
    }

    @Test
    void aNameThatOnlyContainsAnAdministrativeWordIsNotEnough() {
        // The substring rule took these for administrative, and missed the wildcards above.
        assertFalse(HsmRoles.administrative(List.of(P + "keys/read/action/backup/")));
        assertFalse(HsmRoles.grants(P + "keys/export", P + "keys/export/action"), "an action is matched whole, not as a prefix");
    }

    @Test
    void aCustomRolesControlPlaneActionsAreJudgedToo() {
        HsmAccessControl.Permissions quiet = new HsmAccessControl.Permissions(List.of(), List.of(), List.of(P + "keys/read/action"), List.of());
        assertFalse(HsmRoles.administrative(quiet));
        assertTrue(HsmRoles.administrative(new HsmAccessControl.Permissions(List.of("*"), List.of(), List.of(P + "keys/read/action"),
                List.of())), "a wildcard among the actions");
        assertTrue(HsmRoles.administrative(new HsmAccessControl.Permissions(List.of(), List.of(), List.of(P + "keys/*"),
                List.of(P + "keys/export/action"))), "notDataActions do not make a role acceptable");
    }

    @Test
    void theConfigurationListsRolesByNameGuidOrId() {
        String custom = "5e1f0c2a-0d5b-3c6e-9f7a-8b9c0d1e2f3a";
        assertTrue(HsmRoles.listed(List.of("Managed HSM Crypto Officer"), "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"));
        assertTrue(HsmRoles.listed(List.of(custom.toUpperCase()), custom));
        assertTrue(HsmRoles.listed(List.of(HsmRoles.definitionId(custom)), custom));
        assertFalse(HsmRoles.listed(List.of("Managed HSM Crypto Officer", "not a role"), custom));
        assertFalse(HsmRoles.listed(List.of(), custom));
    }

    @Test
    void permissionsCompareAsAzureDoes() {
        var a = new HsmAccessControl.Permissions(List.of(), List.of(), List.of(P + "keys/read/action", P + "keys/rotate/action"), List.of());
        var b = new HsmAccessControl.Permissions(List.of(), List.of(), List.of(P.toLowerCase() + "keys/rotate/action", P + "keys/read/action"),
                List.of());
        assertTrue(a.sameAs(b), "order and case do not matter");
        assertFalse(a.sameAs(new HsmAccessControl.Permissions(List.of(), List.of(), List.of(P + "keys/read/action"), List.of())));
        assertFalse(a.sameAs(new HsmAccessControl.Permissions(List.of(), List.of(), a.dataActions(), List.of(P + "keys/rotate/action"))));
    }

    @Test
    void onlyARefusalThatNamesTheRoleDefinitionMeansItHasNotPropagated() {
        assertTrue(HsmAccessControl.definitionNotYetAssignable(new AzureError(AzureError.Kind.BAD_REQUEST, 400, "BadParameter",
                "Unkown role definition 0b1c (Activity ID: x)", null, null)));
        assertFalse(HsmAccessControl.definitionNotYetAssignable(new AzureError(AzureError.Kind.BAD_REQUEST, 400, "RoleAssignmentLimitExceeded",
                "No more than 10 role assignments are allowed at scope /keys/k.", null, null)));
        assertFalse(HsmAccessControl.definitionNotYetAssignable(new AzureError(AzureError.Kind.NOT_FOUND, 404, "RoleDefinitionNotFound",
                "Requested role definition not found", null, null)));
    }
}
