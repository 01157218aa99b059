package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.models.KeyVaultDataAction;
import com.azure.security.keyvault.administration.models.KeyVaultPermission;
import com.azure.security.keyvault.administration.models.KeyVaultRoleAssignment;
import com.azure.security.keyvault.administration.models.KeyVaultRoleDefinition;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.administration.models.SetRoleDefinitionOptions;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.HsmFixtures;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
class HsmRoleAssignmentReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final String CRYPTO_USER = "Managed HSM Crypto User";

    private HsmRoleAssignment assignment(String name, String role, String principal, String keyRef, HsmRoleAssignmentSpec.Scope scope) {
        return roleAssignment(ns, name, new HsmReference("hsm", null), role, principal, keyRef, scope);
    }

    private HsmKey readyKey(String name) {
        apply(hsmKey(name, "hsm", HsmKeySpec.KeyType.EC_HSM));
        return awaitCondition(HsmKey.class, name, "Ready", "True", null, WAIT);
    }

    private KeyVaultAccessControlClient rbac(ManagedHsm hsm) {
        return azureAs(emulator.builtInPrincipal()).rbac(hsm.getStatus().hsmUri);
    }

    /** Signs a digest with the key as {@code p}: true, or false when the HSM refuses with 403. */
    private boolean canSign(Emulator.Principal p, HsmKey key) {
        try {
            azureAs(p).crypto(key.getStatus().keyId).sign(SignatureAlgorithm.ES256, new byte[32]);
            return true;
        } catch (com.azure.core.exception.HttpResponseException e) {
            assertEquals(403, e.getResponse().getStatusCode(), e.getMessage());
            return false;
        }
    }

    private List<KeyVaultRoleAssignment> grantsTo(ManagedHsm hsm, String scope, String principal) {
        return rbac(hsm).listRoleAssignments(KeyVaultRoleScope.fromString(scope)).stream()
                .filter(a -> a.getProperties().getPrincipalId().equals(principal) && a.getProperties().getScope().toString().equals(scope)).toList();
    }

    @Test
    void aPrincipalSignsWithTheKeyOnlyWhileItsAssignmentExists() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = readyKey("signing");
        HsmKey other = readyKey("other");
        Emulator.Principal workload = emulator.registerPrincipal("payments-api");
        Emulator.Principal bystander = emulator.registerPrincipal("bystander");
        assertTrue(!canSign(workload, key), "before the assignment: 403");

        apply(assignment("signer", CRYPTO_USER, workload.objectId(), "signing", null));
        HsmRoleAssignment ready = awaitCondition(HsmRoleAssignment.class, "signer", "Ready", "True", "Ready", WAIT);
        assertEquals("/keys/signing", ready.getStatus().scope);
        assertEquals(HsmRoleAssignmentReconciler.assignmentName(ready), ready.getStatus().assignmentName);
        assertTrue(ready.getStatus().roleDefinitionId.endsWith("21dbd100-6940-42c2-9190-5d6cb909625b"));
        assertEquals(CRYPTO_USER, ready.getStatus().roleName);
        assertTrue(canSign(workload, key), "after Ready the principal signs");
        assertTrue(!canSign(workload, other), "with that key only");
        assertTrue(!canSign(bystander, key), "and no other principal does");
        assertTrue(eventReasons().contains("RoleAssigned"));

        client.resource(ready).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "signer") == null);
        // As in Azure, a revoked assignment keeps working until the revocation has propagated.
        await().atMost(WAIT).until(() -> !canSign(workload, key));
        assertEquals(List.of(), grantsTo(hsm, "/keys/signing", workload.objectId()));
        assertTrue(eventReasons().contains("RoleRevoked"));
    }

    @Test
    void anAssignmentRemovedOutsideIsGrantedAgainAndALostAnswerGrantsOnce() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = readyKey("signing");
        Emulator.Principal workload = emulator.registerPrincipal("api");
        var fault = emulator.controls().addFault(Controls.Fault.dropAfterCommit("PUT", hsm.getSpec().azureName,
                "/keys/signing/providers/Microsoft.Authorization/roleAssignments/.*", 1));
        apply(assignment("signer", CRYPTO_USER, workload.objectId(), "signing", null));
        HsmRoleAssignment ready = awaitCondition(HsmRoleAssignment.class, "signer", "Ready", "True", "Ready", WAIT);
        assertEquals(1, fault.hits(), "the answer to the grant was lost");
        assertEquals(1, grantsTo(hsm, "/keys/signing", workload.objectId()).size(), "granted exactly once");
        assertNotNull(ready.getStatus().grantedAt, "a grant whose answer was lost still waited for propagation before Ready");

        rbac(hsm).deleteRoleAssignment(KeyVaultRoleScope.fromString("/keys/signing"), ready.getStatus().assignmentName);
        assertTrue(grantsTo(hsm, "/keys/signing", workload.objectId()).isEmpty());
        await().atMost(WAIT).until(() -> grantsTo(hsm, "/keys/signing", workload.objectId()).size() == 1);
        await().atMost(WAIT).until(() -> canSign(workload, key));
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("RoleAssigned") && e.getMessage().startsWith("Granted again")));
    }

    /**
     * Issue 24: a grant that leaves a key's scope at 9 of the 10 role assignments Managed HSM allows there is reported
     * once, as a RoleAssignmentsNearLimit Warning on the HsmRoleAssignment; a grant on a scope with room is not.
     */
    @Test
    void aGrantThatLeavesAKeyScopeNearItsLimitIsWarnedAbout() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        readyKey("crowded");
        readyKey("roomy");
        // Others' grants, made behind the operator's back without Azure's five RBAC operations a second (not this test's subject).
        try (AutoCloseable fast = emulator.controls().suspendServiceLimits()) {
            for (int i = 0; i < 8; i++) {
                rbac(hsm).createRoleAssignment(KeyVaultRoleScope.fromString("/keys/crowded"), HsmFixtures.CRYPTO_USER,
                        emulator.registerPrincipal("reader-" + i).objectId(), UUID.randomUUID().toString());
            }
        }
        awaitRbacPropagation();
        apply(assignment("ninth", CRYPTO_USER, emulator.registerPrincipal("ninth").objectId(), "crowded", null));
        apply(assignment("first", CRYPTO_USER, emulator.registerPrincipal("first").objectId(), "roomy", null));
        awaitCondition(HsmRoleAssignment.class, "ninth", "Ready", "True", "Ready", WAIT);
        awaitCondition(HsmRoleAssignment.class, "first", "Ready", "True", "Ready", WAIT);
        List<io.fabric8.kubernetes.api.model.Event> warned = events().stream()
                .filter(e -> e.getReason().equals("RoleAssignmentsNearLimit")).toList();
        assertEquals(1, warned.size(), "the crowded scope only, once: " + warned);
        assertEquals("ninth", warned.get(0).getInvolvedObject().getName());
        assertEquals("Warning", warned.get(0).getType());
        assertTrue(warned.get(0).getMessage().contains("/keys/crowded now holds 9 role assignments")
                && warned.get(0).getMessage().contains("allows 10"), warned.get(0).getMessage());
    }

    @Test
    void anEqualAssignmentIsAdoptedOnlyWhenAskedWithoutAWriteAndIsNeverRevoked() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        Emulator.Principal workload = emulator.registerPrincipal("adopted");
        String existing = UUID.randomUUID().toString();
        rbac(hsm).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, workload.objectId(), existing);
        awaitRbacPropagation();
        long mark = emulator.controls().lastSequence();
        apply(assignment("adopt", CRYPTO_USER, workload.objectId(), null, HsmRoleAssignmentSpec.Scope.KEYS));
        HsmRoleAssignment conflict = awaitCondition(HsmRoleAssignment.class, "adopt", "Ready", "False", "OwnershipConflict", WAIT);
        assertTrue(condition(conflict, "Ready").getMessage().contains("by assignment " + existing));

        conflict.getSpec().adoptExisting = true;
        update(conflict);
        HsmRoleAssignment ready = awaitCondition(HsmRoleAssignment.class, "adopt", "Ready", "True", "Ready", WAIT);
        assertEquals(existing, ready.getStatus().assignmentName);
        assertEquals(Boolean.TRUE, ready.getStatus().adopted);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.endpoint().equals(hsm.getSpec().azureName)));
        assertTrue(eventReasons().contains("RoleAssignmentAdopted"));

        // Deleting the resource (deletionPolicy Delete) leaves the grant it did not make.
        client.resource(ready).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "adopt") == null);
        assertEquals(1, grantsTo(hsm, "/keys", workload.objectId()).size(), "the adopted grant stays");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.endpoint().equals(hsm.getSpec().azureName)));
    }

    @Test
    void administrativeRolesAndTheRootScopeAreRefusedBeforeAnythingIsSent() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        Emulator.Principal someone = emulator.registerPrincipal("someone");
        String custom = UUID.randomUUID().toString();
        rbac(hsm).setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, custom).setRoleName("key and role admin")
                .setPermissions(List.of(new KeyVaultPermission(List.of(), List.of(), List.of(
                        KeyVaultDataAction.READ_HSM_KEY, KeyVaultDataAction.WRITE_ROLE_ASSIGNMENT), List.of()))),
                com.azure.core.util.Context.NONE);
        long mark = emulator.controls().lastSequence();
        apply(assignment("admin", "Managed HSM Administrator", someone.objectId(), null, HsmRoleAssignmentSpec.Scope.KEYS));
        apply(assignment("officer", HsmFixtures.CRYPTO_OFFICER, someone.objectId(), null, HsmRoleAssignmentSpec.Scope.KEYS));
        apply(assignment("root", CRYPTO_USER, someone.objectId(), null, HsmRoleAssignmentSpec.Scope.ALL));
        apply(assignment("custom", custom, someone.objectId(), null, HsmRoleAssignmentSpec.Scope.KEYS));
        apply(assignment("unknown", "Managed HSM Superuser", someone.objectId(), null, HsmRoleAssignmentSpec.Scope.KEYS));
        for (String name : List.of("admin", "officer", "root", "custom")) {
            HsmRoleAssignment r = awaitCondition(HsmRoleAssignment.class, name, "Ready", "False", "RoleNotAllowed", WAIT);
            assertEquals("True", condition(r, "Stalled").getStatus());
        }
        HsmRoleAssignment unknown = awaitCondition(HsmRoleAssignment.class, "unknown", "Ready", "False", "InvalidSpec", WAIT);
        assertTrue(condition(unknown, "Ready").getMessage().contains("neither a built-in"));
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.endpoint().equals(hsm.getSpec().azureName)),
                "no grant was written");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(hsm.getSpec().azureName)
                && !e.path().contains("roleDefinitions")), "built-in refusals need no call at all; the custom role one read");
        assertEquals(List.of(), grantsTo(hsm, "/keys", someone.objectId()));
    }

    @Test
    void retainLeavesTheGrantAndThrottlingIsWaitedOut() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = readyKey("signing");
        Emulator.Principal workload = emulator.registerPrincipal("kept");
        emulator.controls().addFault(Controls.Fault.status("PUT", hsm.getSpec().azureName, ".*/roleAssignments/.*", 429, 1, 2));
        HsmRoleAssignment a = assignment("kept", CRYPTO_USER, workload.objectId(), "signing", null);
        a.getSpec().deletionPolicy = HsmRoleAssignmentSpec.DeletionPolicy.Retain;
        apply(a);
        HsmRoleAssignment ready = awaitCondition(HsmRoleAssignment.class, "kept", "Ready", "True", "Ready", WAIT);
        client.resource(ready).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "kept") == null);
        assertTrue(canSign(workload, key), "deletionPolicy Retain: the grant stays");
        assertTrue(eventReasons().contains("Retained"));
        assertFalse(eventReasons().contains("RoleRevoked"));
    }
}
