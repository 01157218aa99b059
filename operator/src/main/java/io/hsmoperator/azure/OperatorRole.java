package io.hsmoperator.azure;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

/**
 * The least role the operator grants itself in an HSM to manage keys. No built-in role fits: Crypto Officer cannot create
 * keys on Managed HSM and can purge them; Crypto User can use every key. So a custom role with exactly the key-management
 * data actions, assigned at /keys (import: an HsmKey's spec.importFrom). It cannot purge, export, release, back up, or perform any cryptographic operation.
 */
public final class OperatorRole {
    public static final String NAME = "hsm-operator key manager";
    /** Fixed so that every HSM gets the same role definition name and a retry never defines a second one. */
    public static final String DEFINITION_NAME = UUID.nameUUIDFromBytes("hsmoperator.io/role/key-manager".getBytes(StandardCharsets.UTF_8)).toString();
    public static final String SCOPE = "/keys";
    private static final String P = "Microsoft.KeyVault/managedHsm/";
    public static final List<String> DATA_ACTIONS = List.of(P + "keys/read/action", P + "keys/write/action", P + "keys/create",
            P + "keys/delete", P + "keys/rotate/action", P + "keys/import/action", P + "keys/deletedKeys/read/action",
            P + "keys/deletedKeys/recover/action");

    private OperatorRole() {
    }

    /** The assignment name for a principal: the same on every retry. */
    public static String assignmentName(String principalId) {
        return UUID.nameUUIDFromBytes(("hsmoperator.io/assignment/key-manager/" + principalId).getBytes(StandardCharsets.UTF_8)).toString();
    }

    public static String definitionId() {
        return "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + DEFINITION_NAME;
    }
}
