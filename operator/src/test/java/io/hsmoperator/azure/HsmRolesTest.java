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
}
