package io.hsmoperator.emulator;

import com.azure.security.keyvault.administration.KeyVaultBackupClient;
import com.azure.security.keyvault.administration.KeyVaultSettingsClient;
import com.azure.security.keyvault.administration.models.KeyVaultSetting;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Full backup, full and selective restore, and settings, through the administration SDK. */
class EmulatorBackupSettingsConformanceTest extends EmulatorTestBase {
    private String hsmUri;

    @BeforeAll
    void hsm() throws Exception {
        hsmUri = HsmFixtures.readyHsm(admin, "rg-backup", hsmName("backup"), HsmFixtures.CRYPTO_USER);
        admin.rbac(hsmUri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                HsmFixtures.CRYPTO_OFFICER, admin.principal.objectId());
    }

    @Test
    void fullBackupRestoreAndSelectiveRestore() {
        KeyVaultKey k = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("precious"));
        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String container = "https://account.blob.core.windows.net/backups";
        String folder = backup.beginBackup(container, "sas-token").getFinalResult();
        assertTrue(folder.startsWith(container + "/mhsm-"), folder);
        admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("precious"));
        assertEquals(2, admin.keys(hsmUri).listPropertiesOfKeyVersions("precious").stream().count());
        backup.beginRestore(folder, "sas-token").waitForCompletion();
        assertEquals(1, admin.keys(hsmUri).listPropertiesOfKeyVersions("precious").stream().count(), "a full restore brings back the backup");
        assertEquals(k.getId(), admin.keys(hsmUri).getKey("precious").getId());
        admin.keys(hsmUri).beginDeleteKey("precious").waitForCompletion();
        admin.keys(hsmUri).beginRecoverDeletedKey("precious").waitForCompletion();
        var selective = backup.beginSelectiveKeyRestore("precious", folder, "sas-token").waitForCompletion();
        assertEquals("Number of successful key versions restored: 0, Number of key versions could not overwrite: 1",
                selective.getValue().getStatusDetails(), "a key that exists is not overwritten (as recorded)");
    }

    @Test
    void settings() {
        KeyVaultSettingsClient settings = admin.settings(hsmUri);
        KeyVaultSetting arm = settings.getSetting("AllowKeyManagementOperationsThroughARM");
        assertFalse(arm.asBoolean());
        assertEquals(1, settings.getSettings().getSettings().size());
        assertTrue(settings.updateSetting(new KeyVaultSetting("AllowKeyManagementOperationsThroughARM", true)).asBoolean());
        assertTrue(settings.getSetting("AllowKeyManagementOperationsThroughARM").asBoolean());
        com.azure.core.exception.HttpResponseException unknown = org.junit.jupiter.api.Assertions.assertThrows(
                com.azure.core.exception.HttpResponseException.class, () -> settings.getSetting("NoSuchSetting"));
        assertEquals(400, unknown.getResponse().getStatusCode(), "a setting name Azure does not know is a bad request (issue 24)");
        assertTrue(unknown.getMessage().contains("BadParameter"), unknown.getMessage());
    }
}
