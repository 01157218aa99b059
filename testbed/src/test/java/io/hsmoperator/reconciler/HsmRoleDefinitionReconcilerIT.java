package io.hsmoperator.reconciler;

import com.azure.core.exception.HttpResponseException;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.models.KeyVaultDataAction;
import com.azure.security.keyvault.administration.models.KeyVaultPermission;
import com.azure.security.keyvault.administration.models.KeyVaultRoleDefinition;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.administration.models.SetRoleDefinitionOptions;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.api.roledefinition.HsmRoleDefinitionSpec;
import io.hsmoperator.emulator.Emulator;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** HsmRoleDefinition against the emulator: a custom role as the spec says, granted by reference, removed after its users. */
@QuarkusTest
class HsmRoleDefinitionReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final String P = "Microsoft.KeyVault/managedHsm/";

    private HsmRoleDefinition definition(String name, String roleName, String... dataActions) {
        HsmRoleDefinition d = new HsmRoleDefinition();
        d.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        HsmRoleDefinitionSpec s = new HsmRoleDefinitionSpec();
        s.hsmRef = new HsmReference("hsm", null);
        s.roleName = roleName;
        s.description = "test role";
        s.dataActions = List.of(dataActions);
        d.setSpec(s);
        return d;
    }

    private HsmRoleAssignment byRef(String name, String definition, String principal) {
        HsmRoleAssignment a = roleAssignment(ns, name, new HsmReference("hsm", null), null, principal, null, HsmRoleAssignmentSpec.Scope.KEYS);
        a.getSpec().roleDefinitionRef = new HsmRoleAssignmentSpec.RoleDefinitionReference(definition);
        return a;
    }

    private KeyVaultAccessControlClient rbac(ManagedHsm hsm) {
        return azureAs(emulator.builtInPrincipal()).rbac(hsm.getStatus().hsmUri);
    }

    private Optional<KeyVaultRoleDefinition> inAzure(ManagedHsm hsm, String name) {
        try {
            return Optional.of(rbac(hsm).getRoleDefinition(KeyVaultRoleScope.GLOBAL, name));
        } catch (HttpResponseException e) {
            assertEquals(404, e.getResponse().getStatusCode(), e.getMessage());
            return Optional.empty();
        }
    }

    private static List<String> dataActions(KeyVaultRoleDefinition d) {
        return d.getPermissions().stream().flatMap(p -> p.getDataActions().stream()).map(KeyVaultDataAction::toString).sorted().toList();
    }

    /** The name the definition of {@code name} in this namespace derives to (cluster test-cluster). */
    private String derivedName(String name) {
        return UUID.nameUUIDFromBytes(("hsmoperator.io/role-definition/test-cluster/" + ns + "/" + name).getBytes(StandardCharsets.UTF_8)).toString();
    }

    private List<io.hsmoperator.emulator.Controls.JournalEntry> definitionWrites(ManagedHsm hsm, String name) {
        return journalSinceMark(e -> e.isWrite() && e.endpoint().equalsIgnoreCase(hsm.getSpec().azureName)
                && e.path().contains("roleDefinitions/" + name));
    }

    /** Whether {@code p} can do it: true, or false when the HSM refuses with 403. */
    private static boolean can(Runnable call) {
        try {
            call.run();
            return true;
        } catch (HttpResponseException e) {
            assertEquals(403, e.getResponse().getStatusCode(), e.getMessage());
            return false;
        }
    }

    @Test
    void aCustomRoleLetsItsPrincipalDoExactlyItsDataActions() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey signing = hsmKey("signing", "hsm", HsmKeySpec.KeyType.EC_HSM);
        // Rotating on demand needs the key's rotation policy.
        signing.getSpec().rotation = new HsmKeySpec.Rotation();
        signing.getSpec().rotation.azurePolicy = new HsmKeySpec.AzurePolicy();
        signing.getSpec().rotation.azurePolicy.timeAfterCreate = "P90D";
        apply(signing);
        awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
        Emulator.Principal rotator = emulator.registerPrincipal("rotation job");

        // Applied together: the assignment waits for the definition, and for Azure to accept assignments of it.
        apply(byRef("rotator-rotates", "rotator", rotator.objectId()));
        apply(definition("rotator", "key rotator", P + "keys/read/action", P + "keys/rotate/action"));
        HsmRoleDefinition def = awaitCondition(HsmRoleDefinition.class, "rotator", "Ready", "True", "Ready", WAIT);
        assertEquals(derivedName("rotator"), def.getStatus().roleDefinitionName);
        KeyVaultRoleDefinition azure = inAzure(hsm, def.getStatus().roleDefinitionName).orElseThrow();
        assertEquals("key rotator", azure.getRoleName());
        assertEquals("CustomRole", azure.getRoleType().toString());
        assertEquals(List.of(P + "keys/read/action", P + "keys/rotate/action"), dataActions(azure));
        assertTrue(azure.getDescription().startsWith("test role [hsmoperator.io-owner: test-cluster/" + ns + "/rotator]"),
                azure.getDescription());

        HsmRoleAssignment granted = awaitCondition(HsmRoleAssignment.class, "rotator-rotates", "Ready", "True", "Ready", WAIT);
        assertEquals(def.getStatus().roleDefinitionId, granted.getStatus().roleDefinitionId);
        assertEquals("key rotator", granted.getStatus().roleName);
        awaitRbacPropagation();
        var keys = azureAs(rotator).keys(hsm.getStatus().hsmUri);
        assertTrue(can(() -> keys.rotateKey("signing")), "the role rotates");
        assertTrue(can(() -> keys.getKey("signing")), "and reads");
        assertFalse(can(() -> keys.createEcKey(new CreateEcKeyOptions("not-allowed"))), "but does not create");
        assertFalse(can(() -> keys.beginDeleteKey("signing")), "nor delete");
        assertTrue(eventReasons().contains("RoleDefined"));
    }

    @Test
    void aRoleChangedOrDeletedInAzureIsRestored() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(definition("reader", "key reader", P + "keys/read/action"));
        HsmRoleDefinition def = awaitCondition(HsmRoleDefinition.class, "reader", "Ready", "True", "Ready", WAIT);
        String name = def.getStatus().roleDefinitionName;
        KeyVaultRoleDefinition azure = inAzure(hsm, name).orElseThrow();

        // Someone widens the role in Azure, keeping the owner mark.
        rbac(hsm).setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, name).setRoleName("key reader")
                .setDescription(azure.getDescription()).setPermissions(List.of(new KeyVaultPermission(List.of(), List.of(),
                        List.of(KeyVaultDataAction.READ_HSM_KEY, KeyVaultDataAction.CREATE_HSM_KEY), List.of()))),
                com.azure.core.util.Context.NONE);
        await().atMost(WAIT).until(() -> inAzure(hsm, name).map(d -> dataActions(d).equals(List.of(P + "keys/read/action"))).orElse(false));
        await().atMost(WAIT).until(() -> eventReasons().contains("RoleDefinitionRestored"));

        // Someone deletes it.
        rbac(hsm).deleteRoleDefinition(KeyVaultRoleScope.GLOBAL, name);
        await().atMost(WAIT).until(() -> inAzure(hsm, name).isPresent());
        assertEquals(List.of(P + "keys/read/action"), dataActions(inAzure(hsm, name).orElseThrow()));

        // A spec change is an update, not drift.
        HsmRoleDefinition edited = get(HsmRoleDefinition.class, "reader");
        edited.getSpec().dataActions = List.of(P + "keys/read/action", P + "keys/encrypt/action");
        update(edited);
        await().atMost(WAIT).until(() -> inAzure(hsm, name).map(d -> dataActions(d).size() == 2).orElse(false));
        awaitCondition(HsmRoleDefinition.class, "reader", "Ready", "True", "Ready", WAIT);
        assertTrue(eventReasons().contains("RoleDefinitionUpdated"), eventReasons().toString());
    }

    @Test
    void deletionWaitsForTheAssignmentsThatUseTheRoleAndATeardownFinishes() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        Emulator.Principal p = emulator.registerPrincipal("reader");
        apply(definition("reader", "key reader", P + "keys/read/action"));
        apply(byRef("reader-reads", "reader", p.objectId()));
        String name = awaitCondition(HsmRoleDefinition.class, "reader", "Ready", "True", "Ready", WAIT).getStatus().roleDefinitionName;
        awaitCondition(HsmRoleAssignment.class, "reader-reads", "Ready", "True", "Ready", WAIT);

        client.resource(get(HsmRoleDefinition.class, "reader")).delete();
        HsmRoleDefinition waiting = awaitCondition(HsmRoleDefinition.class, "reader", "Ready", "False", "DeletionBlocked", WAIT);
        assertTrue(condition(waiting, "Ready").getMessage().contains(ns + "/reader-reads"), condition(waiting, "Ready").getMessage());
        assertTrue(inAzure(hsm, name).isPresent(), "the role stays while an assignment uses it");
        assertTrue(definitionWrites(hsm, name).stream().noneMatch(e -> e.method().equals("DELETE")), "no DELETE was even sent");
        HsmRoleAssignment stuck = awaitCondition(HsmRoleAssignment.class, "reader-reads", "Ready", "False", "RoleDefinitionNotReady", WAIT);
        assertTrue(condition(stuck, "Ready").getMessage().contains("being deleted"), condition(stuck, "Ready").getMessage());

        // The assignment goes first; the definition follows on its own.
        client.resource(get(HsmRoleAssignment.class, "reader-reads")).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "reader-reads") == null && get(HsmRoleDefinition.class, "reader") == null);
        assertTrue(inAzure(hsm, name).isEmpty(), "the role is deleted in Azure");
        assertTrue(eventReasons().contains("RoleDefinitionDeleted"));

        // A namespace teardown deletes both at once, the definition first: it finishes.
        apply(definition("writer", "key writer", P + "keys/read/action", P + "keys/write/action"));
        apply(byRef("writer-writes", "writer", p.objectId()));
        String second = awaitCondition(HsmRoleDefinition.class, "writer", "Ready", "True", "Ready", WAIT).getStatus().roleDefinitionName;
        awaitCondition(HsmRoleAssignment.class, "writer-writes", "Ready", "True", "Ready", WAIT);
        client.resource(get(HsmRoleDefinition.class, "writer")).delete();
        client.resource(get(HsmRoleAssignment.class, "writer-writes")).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "writer-writes") == null && get(HsmRoleDefinition.class, "writer") == null);
        assertTrue(inAzure(hsm, second).isEmpty());
    }

    @Test
    void anAdministrativeRoleIsRefusedBeforeAnythingIsSent() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(definition("everything", "all of it", P + "*"));
        apply(definition("exporter", "exporter", P + "keys/read/action", P + "keys/export/action"));
        apply(definition("delegator", "delegator", P + "roleAssignments/*"));
        for (String n : List.of("everything", "exporter", "delegator")) {
            HsmRoleDefinition refused = awaitCondition(HsmRoleDefinition.class, n, "Stalled", "True", "RoleNotAllowed", WAIT);
            assertTrue(condition(refused, "Ready").getMessage().contains("hsm.role-assignments.allowed-privileged-roles"));
            assertTrue(definitionWrites(hsm, derivedName(n)).isEmpty(), n + ": nothing was written");
        }
    }

    @Test
    void aDefinitionNotMadeByTheOperatorIsNeverOverwrittenOrDeleted() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String name = derivedName("taken");
        rbac(hsm).setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, name).setRoleName("someone's")
                .setDescription("made by hand").setPermissions(List.of(new KeyVaultPermission(List.of(), List.of(),
                        List.of(KeyVaultDataAction.READ_HSM_KEY), List.of()))), com.azure.core.util.Context.NONE);
        long mark = emulator.controls().lastSequence();
        apply(definition("taken", "mine", P + "keys/read/action", P + "keys/rotate/action"));
        awaitCondition(HsmRoleDefinition.class, "taken", "Stalled", "True", "OwnershipConflict", WAIT);
        client.resource(get(HsmRoleDefinition.class, "taken")).delete();
        await().atMost(WAIT).until(() -> get(HsmRoleDefinition.class, "taken") == null);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains(name)));
        assertEquals("made by hand", inAzure(hsm, name).orElseThrow().getDescription(), "not overwritten");
    }

    /** 50 custom roles per HSM: a definition that leaves 45 or more is warned of; one past 50 is not sent. */
    @Test
    void theCustomRoleLimitIsWarnedOfAndNeverRunInto() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        long custom = rbac(hsm).listRoleDefinitions(KeyVaultRoleScope.GLOBAL).stream()
                .filter(d -> d.getRoleType().toString().equals("CustomRole")).count();
        // Others' definitions, made behind the operator's back without Azure's five RBAC operations a second: the operator's
        // pace is not what this test is about, and 48 of them would wait about ten seconds of 429s.
        try (AutoCloseable fast = emulator.controls().suspendServiceLimits()) {
            for (long i = custom; i < 49; i++) {
                rbac(hsm).setRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString());
            }
        }
        apply(definition("fiftieth", "the fiftieth", P + "keys/read/action"));
        awaitCondition(HsmRoleDefinition.class, "fiftieth", "Ready", "True", "Ready", WAIT);
        await().atMost(WAIT).until(() -> eventReasons().contains("RoleDefinitionsNearLimit"));
        var warned = events().stream().filter(e -> e.getReason().equals("RoleDefinitionsNearLimit")).findFirst().orElseThrow();
        assertEquals("Warning", warned.getType());
        assertTrue(warned.getMessage().contains("now holds 50 custom role definitions"), warned.getMessage());

        apply(definition("fifty-first", "one too many", P + "keys/read/action"));
        HsmRoleDefinition full = awaitCondition(HsmRoleDefinition.class, "fifty-first", "Stalled", "True", "RoleDefinitionLimitReached", WAIT);
        assertEquals(50, full.getStatus().customRolesInHsm);
        assertTrue(definitionWrites(hsm, derivedName("fifty-first")).isEmpty(), "Azure's limit is not run into");
    }
}
