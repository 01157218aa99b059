package io.hsmoperator.emulator;

import com.azure.core.exception.HttpResponseException;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.models.KeyVaultAdministrationException;
import com.azure.security.keyvault.administration.models.KeyVaultDataAction;
import com.azure.security.keyvault.administration.models.KeyVaultPermission;
import com.azure.security.keyvault.administration.models.KeyVaultRoleAssignment;
import com.azure.security.keyvault.administration.models.KeyVaultRoleDefinition;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.administration.models.SetRoleDefinitionOptions;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Managed HSM local RBAC through KeyVaultAccessControlClient, and its enforcement on every data-plane call. */
class EmulatorRbacConformanceTest extends EmulatorTestBase {
    private String hsmUri;
    private KeyVaultAccessControlClient rbac;

    @BeforeAll
    void hsm() throws Exception {
        hsmUri = HsmFixtures.readyHsm(admin, "rg-rbac", hsmName("rbac"), HsmFixtures.CRYPTO_USER);
        rbac = admin.rbac(hsmUri);
    }

    @Test
    void builtInRolesHaveTheirFixedIds() {
        Map<String, String> roles = rbac.listRoleDefinitions(KeyVaultRoleScope.GLOBAL).stream()
                .collect(Collectors.toMap(KeyVaultRoleDefinition::getRoleName, KeyVaultRoleDefinition::getName));
        assertEquals("a290e904-7015-4bba-90c8-60543313cdb4", roles.get("Managed HSM Administrator"));
        assertEquals("515eb02d-2335-4d2d-92f2-b1cbdf9c3778", roles.get("Managed HSM Crypto Officer"));
        assertEquals("21dbd100-6940-42c2-9190-5d6cb909625b", roles.get("Managed HSM Crypto User"));
        assertEquals("4bd23610-cdcf-4971-bdee-bdc562cc28e4", roles.get("Managed HSM Policy Administrator"));
        assertEquals("33413926-3206-4cdd-b39a-83574fe37a17", roles.get("Managed HSM Crypto Service Encryption User"));
        assertEquals("21dbd100-6940-42c2-9190-5d6cb909625c", roles.get("Managed HSM Crypto Service Release User"));
        assertEquals("2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", roles.get("Managed HSM Crypto Auditor"));
        assertEquals("7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", roles.get("Managed HSM Backup User"));
        assertEquals("6efe6056-5259-49d2-8b3d-d3d73544b20b", roles.get("Managed HSM Restore User"));
        KeyVaultRoleDefinition officer = rbac.getRoleDefinition(KeyVaultRoleScope.GLOBAL, "515eb02d-2335-4d2d-92f2-b1cbdf9c3778");
        List<KeyVaultDataAction> officerActions = officer.getPermissions().get(0).getDataActions();
        assertTrue(officerActions.contains(KeyVaultDataAction.PURGE_DELETED_HSM_KEY));
        assertTrue(!officerActions.contains(KeyVaultDataAction.CREATE_HSM_KEY), "Crypto Officer cannot create keys on Managed HSM");
    }

    @Test
    void initialAdminsHoldAdministratorAtTheRoot() {
        List<KeyVaultRoleAssignment> all = rbac.listRoleAssignments(KeyVaultRoleScope.GLOBAL).stream().toList();
        assertTrue(all.stream().anyMatch(a -> a.getProperties().getPrincipalId().equals(admin.principal.objectId())
                && a.getProperties().getRoleDefinitionId().endsWith("a290e904-7015-4bba-90c8-60543313cdb4")
                && a.getProperties().getScope().toString().equals("/")));
    }

    @Test
    void customRoleDefinitionsAndAssignmentsAtEveryScope() {
        String roleName = UUID.randomUUID().toString();
        KeyVaultRoleDefinition custom = rbac.setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, roleName)
                .setRoleName("key reader").setPermissions(List.of(new KeyVaultPermission(null, null,
                        List.of(KeyVaultDataAction.READ_HSM_KEY), null))), com.azure.core.util.Context.NONE).getValue();
        assertEquals("CustomRole", custom.getRoleType().toString());
        // the Java SDK sends the definition's name as its roleName (as in the recorded traffic)
        KeyVaultRoleDefinition read = rbac.getRoleDefinition(KeyVaultRoleScope.GLOBAL, roleName);
        assertEquals(roleName, read.getRoleName());
        assertEquals(List.of(KeyVaultDataAction.READ_HSM_KEY), read.getPermissions().get(0).getDataActions());
        String principal = UUID.randomUUID().toString();
        KeyVaultRoleAssignment atKeys = rbac.createRoleAssignment(KeyVaultRoleScope.KEYS, custom.getId(), principal);
        assertEquals("/keys", atKeys.getProperties().getScope().toString());
        KeyVaultRoleAssignment atKey = rbac.createRoleAssignment(KeyVaultRoleScope.fromString("/keys/k1"), HsmFixtures.CRYPTO_USER, principal);
        assertEquals("/keys/k1", atKey.getProperties().getScope().toString());
        assertEquals(atKey.getName(), rbac.getRoleAssignment(KeyVaultRoleScope.fromString("/keys/k1"), atKey.getName()).getName());
        String fixedName = UUID.randomUUID().toString();
        rbac.createRoleAssignment(KeyVaultRoleScope.GLOBAL, HsmFixtures.CRYPTO_USER, UUID.randomUUID().toString(), fixedName);
        KeyVaultAdministrationException exists = assertThrows(KeyVaultAdministrationException.class,
                () -> rbac.createRoleAssignment(KeyVaultRoleScope.GLOBAL, HsmFixtures.CRYPTO_USER, UUID.randomUUID().toString(), fixedName));
        assertEquals(400, exists.getResponse().getStatusCode());
        assertTrue(exists.getMessage().contains("RoleAssignmentExists"), exists.getMessage());
        KeyVaultAdministrationException inUse = assertThrows(KeyVaultAdministrationException.class,
                () -> rbac.deleteRoleDefinition(KeyVaultRoleScope.GLOBAL, roleName));
        assertEquals(409, inUse.getResponse().getStatusCode(), "a role definition an assignment uses cannot be deleted");
        rbac.deleteRoleAssignment(KeyVaultRoleScope.fromString("/keys/k1"), atKey.getName());
        assertThrows(KeyVaultAdministrationException.class, () -> rbac.getRoleAssignment(KeyVaultRoleScope.GLOBAL, atKey.getName()));
        rbac.deleteRoleAssignment(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString());
        rbac.deleteRoleAssignment(KeyVaultRoleScope.KEYS, atKeys.getName());
        rbac.deleteRoleDefinition(KeyVaultRoleScope.GLOBAL, roleName);
        assertThrows(KeyVaultAdministrationException.class, () -> rbac.getRoleDefinition(KeyVaultRoleScope.GLOBAL, roleName));
    }

    @Test
    void aCustomRoleNameMustBeAGuidAndNotABuiltIn() {
        // As the JavaScript SDK's recordings show Azure answering (api 7.6).
        KeyVaultAdministrationException notGuid = assertThrows(KeyVaultAdministrationException.class, () -> rbac.setRoleDefinition(
                KeyVaultRoleScope.GLOBAL, "foo unique value"));
        assertEquals(400, notGuid.getResponse().getStatusCode());
        assertTrue(notGuid.getMessage().contains("BadParameter") && notGuid.getMessage().contains("Role definition name must be a GUID"),
                notGuid.getMessage());
        KeyVaultAdministrationException builtIn = assertThrows(KeyVaultAdministrationException.class, () -> rbac.setRoleDefinition(
                KeyVaultRoleScope.GLOBAL, "a290e904-7015-4bba-90c8-60543313cdb4"));
        assertEquals(400, builtIn.getResponse().getStatusCode());
        assertTrue(builtIn.getMessage().contains("Cannot re-use the name/GUID matching that of a built-in role"), builtIn.getMessage());
        // A missing definition: 404 RoleDefinitionNotFound, which the SDK's delete swallows (as recorded).
        rbac.deleteRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString());
        KeyVaultAdministrationException missing = assertThrows(KeyVaultAdministrationException.class,
                () -> rbac.getRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString()));
        assertEquals(404, missing.getResponse().getStatusCode());
        assertTrue(missing.getMessage().contains("RoleDefinitionNotFound"), missing.getMessage());
    }

    @Test
    void anHsmHoldsAtMostFiftyCustomRoles() throws Exception {
        String uri = HsmFixtures.readyHsm(admin, "rg-rbac-limit", hsmName("rbac-limit"), null);
        KeyVaultAccessControlClient c = admin.rbac(uri);
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < 50; i++) {
            names.add(c.setRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString()).getName());
        }
        long custom = c.listRoleDefinitions(KeyVaultRoleScope.GLOBAL).stream().filter(d -> d.getRoleType().toString().equals("CustomRole")).count();
        assertEquals(50, custom);
        KeyVaultAdministrationException full = assertThrows(KeyVaultAdministrationException.class,
                () -> c.setRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString()));
        assertEquals(400, full.getResponse().getStatusCode(), "the 51st custom role is refused");
        // Replacing one of the fifty is no new role.
        c.setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, names.get(0)).setPermissions(List.of(
                new KeyVaultPermission(null, null, List.of(KeyVaultDataAction.READ_HSM_KEY), null))), com.azure.core.util.Context.NONE);
        assertEquals(List.of(KeyVaultDataAction.READ_HSM_KEY),
                c.getRoleDefinition(KeyVaultRoleScope.GLOBAL, names.get(0)).getPermissions().get(0).getDataActions());
        c.deleteRoleDefinition(KeyVaultRoleScope.GLOBAL, names.get(1));
        c.setRoleDefinition(KeyVaultRoleScope.GLOBAL, UUID.randomUUID().toString());
    }

    @Test
    void aNewCustomRoleCannotBeAssignedUntilItsDefinitionPropagated() throws Exception {
        Emulator slow = Emulator.start(EmulatorConfig.inMemory().withRbacPropagation(java.time.Duration.ofSeconds(2)));
        try {
            EmulatorClients c = new EmulatorClients(slow, slow.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg-rbac-new-role", hsmName("rbac-new-role"), null);
            var admin = c.rbac(uri);
            String role = UUID.randomUUID().toString();
            KeyVaultRoleDefinition def = admin.setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, role)
                    .setRoleName("rotator").setPermissions(List.of(new KeyVaultPermission(null, null,
                            List.of(KeyVaultDataAction.READ_HSM_KEY, KeyVaultDataAction.fromString("Microsoft.KeyVault/managedHsm/keys/rotate/action")), null))),
                    com.azure.core.util.Context.NONE).getValue();
            assertEquals(role, admin.getRoleDefinition(KeyVaultRoleScope.GLOBAL, role).getName(), "the definition reads at once");
            KeyVaultAdministrationException early = assertThrows(KeyVaultAdministrationException.class,
                    () -> admin.createRoleAssignment(KeyVaultRoleScope.KEYS, def.getId(), UUID.randomUUID().toString()));
            assertEquals(400, early.getResponse().getStatusCode());
            assertTrue(early.getMessage().contains("BadParameter") && early.getMessage().contains("Unkown role definition"), early.getMessage());
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(6)).ignoreExceptions()
                    .until(() -> admin.createRoleAssignment(KeyVaultRoleScope.KEYS, def.getId(), UUID.randomUUID().toString()) != null);
        } finally {
            slow.close();
        }
    }

    @Test
    void aNewAssignmentIsNotReadableAtOnceAndItsNameIsTaken() throws Exception {
        Emulator lagging = Emulator.start(EmulatorConfig.inMemory().withStaleReads(java.time.Duration.ofSeconds(2)));
        try {
            EmulatorClients c = new EmulatorClients(lagging, lagging.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg-rbac-stale", hsmName("rbac-stale"), null);
            var admin = c.rbac(uri);
            String name = UUID.randomUUID().toString();
            String principal = UUID.randomUUID().toString();
            admin.createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, principal, name);
            KeyVaultAdministrationException absent = assertThrows(KeyVaultAdministrationException.class,
                    () -> admin.getRoleAssignment(KeyVaultRoleScope.KEYS, name));
            assertEquals(404, absent.getResponse().getStatusCode(), "right after the write a read does not find it");
            assertTrue(admin.listRoleAssignments(KeyVaultRoleScope.KEYS).stream().noneMatch(a -> a.getName().equals(name)),
                    "nor does a list");
            KeyVaultAdministrationException exists = assertThrows(KeyVaultAdministrationException.class,
                    () -> admin.createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, principal, name));
            assertEquals(400, exists.getResponse().getStatusCode());
            assertTrue(exists.getMessage().contains("RoleAssignmentExists"), "yet writing it again is refused: " + exists.getMessage());
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).ignoreExceptions()
                    .until(() -> admin.getRoleAssignment(KeyVaultRoleScope.KEYS, name).getProperties().getPrincipalId().equals(principal));
        } finally {
            lagging.close();
        }
    }

    @Test
    void everyDataPlaneCallIsAuthorizedByRole() throws Exception {
        KeyVaultKey k1 = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("rbac-k1"));
        KeyVaultKey k2 = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("rbac-k2"));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("x".getBytes());
        Emulator.Principal workload = emulator.registerPrincipal("workload");
        EmulatorClients w = as(workload);

        HttpResponseException before = assertThrows(HttpResponseException.class, () -> w.crypto(k1.getId()).sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, before.getResponse().getStatusCode());
        assertTrue(before.getMessage().contains("ForbiddenByRbac"));

        KeyVaultRoleAssignment grant = rbac.createRoleAssignment(KeyVaultRoleScope.fromString("/keys/rbac-k1"), HsmFixtures.CRYPTO_USER,
                workload.objectId());
        w.crypto(k1.getId()).sign(SignatureAlgorithm.ES256, digest);
        HttpResponseException other = assertThrows(HttpResponseException.class, () -> w.crypto(k2.getId()).sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, other.getResponse().getStatusCode(), "a key-scoped assignment covers that key only");
        assertThrows(HttpResponseException.class, () -> w.keys(hsmUri).createEcKey(new CreateEcKeyOptions("rbac-k3")));
        HttpResponseException noAdmin = assertThrows(HttpResponseException.class,
                () -> w.rbac(hsmUri).createRoleAssignment(KeyVaultRoleScope.GLOBAL, HsmFixtures.CRYPTO_USER, workload.objectId()));
        assertEquals(403, noAdmin.getResponse().getStatusCode());

        // Setting a rotation policy needs the key write permission, not rotate (Learn, "Configure key auto-rotation").
        KeyVaultRoleDefinition rotateOnly = rbac.setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL,
                UUID.randomUUID().toString()).setRoleName("rotate only").setPermissions(List.of(new KeyVaultPermission(null, null,
                List.of(KeyVaultDataAction.READ_HSM_KEY, KeyVaultDataAction.fromString("Microsoft.KeyVault/managedHsm/keys/rotate/action")), null))), com.azure.core.util.Context.NONE)
                .getValue();
        Emulator.Principal rotator = emulator.registerPrincipal("rotator");
        rbac.createRoleAssignment(KeyVaultRoleScope.KEYS, rotateOnly.getId(), rotator.objectId());
        com.azure.security.keyvault.keys.models.KeyRotationPolicy policy = new com.azure.security.keyvault.keys.models.KeyRotationPolicy()
                .setExpiresIn("P90D").setLifetimeActions(List.of(new com.azure.security.keyvault.keys.models.KeyRotationLifetimeAction(
                        com.azure.security.keyvault.keys.models.KeyRotationPolicyAction.ROTATE).setTimeAfterCreate("P30D")));
        HttpResponseException noWrite = assertThrows(HttpResponseException.class,
                () -> as(rotator).keys(hsmUri).updateKeyRotationPolicy("rbac-k2", policy));
        assertEquals(403, noWrite.getResponse().getStatusCode());
        admin.keys(hsmUri).updateKeyRotationPolicy("rbac-k2", policy);

        rbac.deleteRoleAssignment(KeyVaultRoleScope.fromString("/keys/rbac-k1"), grant.getName());
        HttpResponseException after = assertThrows(HttpResponseException.class, () -> w.crypto(k1.getId()).sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, after.getResponse().getStatusCode(), "revoking the assignment revokes the access at once");
    }

    @Test
    void nothingButTheSecurityDomainWorksBeforeActivation() throws Exception {
        String uri = HsmFixtures.createHsm(admin, "rg-rbac", hsmName("inactive")).properties().hsmUri();
        HttpResponseException keys = assertThrows(HttpResponseException.class, () -> admin.keys(uri).createEcKey(new CreateEcKeyOptions("k")));
        assertEquals(403, keys.getResponse().getStatusCode());
        assertTrue(keys.getMessage().contains("not activated"));
        assertThrows(HttpResponseException.class, () -> admin.rbac(uri).listRoleAssignments(KeyVaultRoleScope.GLOBAL).stream().count());
        Emulator.Principal stranger = emulator.registerPrincipal("stranger");
        assertThrows(AssertionError.class, () -> HsmFixtures.activate(as(stranger), uri, HsmFixtures.officers(emulator, 3)),
                "only an administrator may download the security domain");
        HsmFixtures.activate(admin, uri, HsmFixtures.officers(emulator, 3));
        assertTrue(admin.rbac(uri).listRoleAssignments(KeyVaultRoleScope.GLOBAL).stream().count() >= 1);
    }
}
