package io.hsmoperator.emulator;

import com.azure.security.keyvault.administration.KeyVaultBackupClient;
import com.azure.security.keyvault.administration.models.KeyVaultLongRunningOperation;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobServiceClientBuilder;
import com.azure.storage.blob.models.BlobItem;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import com.azure.storage.common.StorageSharedKeyCredential;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.OffsetDateTime;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Full backups written to and restored from a real Blob service (Azurite), through the administration SDK on the HSM
 * side and the Storage SDK on the storage side: the folder's blobs are in the container, a pruned or altered folder does
 * not restore, and the storage's refusals (a SAS that cannot write, an expired SAS, no such container) fail the job.
 */
class EmulatorAzuriteBackupTest extends EmulatorTestBase {
    private Azurite azurite;
    private String hsmUri;
    private String hsmName;
    private BlobContainerClient container;

    @BeforeAll
    void storage() throws Exception {
        azurite = Azurite.start(emulator, List.of("hsmbackups"), null);
        Azurite.Account account = azurite.account("hsmbackups");
        container = new BlobServiceClientBuilder().endpoint(azurite.accountUrl("hsmbackups"))
                .credential(new StorageSharedKeyCredential(account.name(), account.key()))
                .httpClient(EmulatorHttp.azureClient(List.of(emulator.caCertificate()), java.time.Duration.ofSeconds(30)))
                .buildClient().createBlobContainer("backups");
        container.getBlobClient("notes/readme.txt").upload(com.azure.core.util.BinaryData.fromString("not the operator's"));
        hsmName = hsmName("azurite");
        hsmUri = HsmFixtures.readyHsm(admin, "rg-azurite", hsmName, HsmFixtures.CRYPTO_USER);
        admin.rbac(hsmUri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                HsmFixtures.CRYPTO_OFFICER, admin.principal.objectId());
    }

    @AfterAll
    void stopStorage() {
        if (azurite != null) {
            azurite.close();
        }
    }

    private String sas(BlobContainerSasPermission permission, OffsetDateTime expiry) {
        return container.generateSas(new BlobServiceSasSignatureValues(expiry, permission));
    }

    private String writeSas() {
        return sas(BlobContainerSasPermission.parse("crwdl"), OffsetDateTime.now().plusHours(1));
    }

    private Set<String> blobsUnder(String folder) {
        return container.listBlobs().stream().map(BlobItem::getName).filter(n -> n.startsWith(folder + "/"))
                .collect(Collectors.toCollection(TreeSet::new));
    }

    /** The job's error ("code: message"), once the SDK's poller saw it end Failed. */
    private static String failure(com.azure.core.util.polling.SyncPoller<? extends KeyVaultLongRunningOperation, ?> poller) {
        com.azure.core.util.polling.PollResponse<? extends KeyVaultLongRunningOperation> last = poller.waitForCompletion();
        assertEquals(com.azure.core.util.polling.LongRunningOperationStatus.FAILED, last.getStatus(), "the job failed");
        return last.getValue().getError().getCode() + ": " + last.getValue().getError().getMessage();
    }

    private static String folderName(String folderUrl) {
        return folderUrl.substring(folderUrl.lastIndexOf('/') + 1);
    }

    @Test
    void aBackupIsBlobsInTheContainerAndRestoresFromThem() {
        KeyVaultKey precious = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("precious"));
        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String folderUrl = backup.beginBackup(container.getBlobContainerUrl(), writeSas()).getFinalResult();
        assertTrue(folderUrl.startsWith(container.getBlobContainerUrl() + "/mhsm-"), folderUrl);
        String folder = folderName(folderUrl);
        Set<String> blobs = blobsUnder(folder);
        assertTrue(blobs.contains(folder + "/backup.json") && blobs.contains(folder + "/keys/precious"), blobs.toString());
        assertTrue(container.getBlobClient("notes/readme.txt").exists(), "the other blobs in the container are untouched");

        admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("precious"));
        assertEquals(2, admin.keys(hsmUri).listPropertiesOfKeyVersions("precious").stream().count());
        backup.beginRestore(folderUrl, sas(BlobContainerSasPermission.parse("rl"), OffsetDateTime.now().plusHours(1))).waitForCompletion();
        assertEquals(1, admin.keys(hsmUri).listPropertiesOfKeyVersions("precious").stream().count(), "the restore brought back the backup");
        assertEquals(precious.getId(), admin.keys(hsmUri).getKey("precious").getId());
    }

    @Test
    void aPrunedOrAlteredFolderDoesNotRestore() {
        admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String pruned = backup.beginBackup(container.getBlobContainerUrl(), writeSas()).getFinalResult();
        container.getBlobClient(folderName(pruned) + "/keys/kept").delete();
        String e = failure(backup.beginRestore(pruned, writeSas()));
        assertTrue(e.startsWith("InvalidBackupFolder: ") && e.contains("incomplete") && e.contains("keys/kept"), e);

        String altered = backup.beginBackup(container.getBlobContainerUrl(), writeSas()).getFinalResult();
        var blob = container.getBlobClient(folderName(altered) + "/keys/kept");
        String sealed = blob.downloadContent().toString();
        char c = sealed.charAt(sealed.length() - 5);
        blob.upload(com.azure.core.util.BinaryData.fromString(sealed.substring(0, sealed.length() - 5) + (c == 'A' ? 'B' : 'A')
                + sealed.substring(sealed.length() - 4)), true);
        e = failure(backup.beginRestore(altered, writeSas()));
        assertTrue(e.contains("keys/kept was altered"), e);
        assertEquals(1, admin.keys(hsmUri).listPropertiesOfKeyVersions("kept").stream().count(), "a failed restore changed nothing");
    }

    /**
     * A selective restore never overwrites (as recorded in KeyVaultBackupClientTest.beginSelectiveKeyRestore): a key that
     * exists keeps its versions and the job ends Succeeded with "restored: 0"; a soft-deleted name fails the job
     * (Conflict); a name that is free gets the backup's key back, versions and all.
     */
    @Test
    void aSelectiveRestoreBringsBackAMissingKeyAndNeverOverwrites() {
        KeyVaultKey single = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("single"));
        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String folderUrl = backup.beginBackup(container.getBlobContainerUrl(), writeSas()).getFinalResult();
        KeyVaultKey newer = admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("single"));
        String readSas = sas(BlobContainerSasPermission.parse("rl"), OffsetDateTime.now().plusHours(1));

        var exists = backup.beginSelectiveKeyRestore("single", folderUrl, readSas).waitForCompletion();
        assertEquals(com.azure.core.util.polling.LongRunningOperationStatus.SUCCESSFULLY_COMPLETED, exists.getStatus());
        assertEquals("Number of successful key versions restored: 0, Number of key versions could not overwrite: 1",
                exists.getValue().getStatusDetails());
        assertEquals(2, admin.keys(hsmUri).listPropertiesOfKeyVersions("single").stream().count(), "nothing merged into the key");
        assertEquals(newer.getId(), admin.keys(hsmUri).getKey("single").getId(), "nor overwritten");

        admin.keys(hsmUri).beginDeleteKey("single").waitForCompletion();
        String deleted = failure(backup.beginSelectiveKeyRestore("single", folderUrl, readSas));
        assertTrue(deleted.startsWith("Conflict: ") && deleted.contains("deleted but recoverable"), deleted);

        assertTrue(emulator.forgetKey(hsmName, "single"), "the test purges it behind the HSM's back");
        var restored = backup.beginSelectiveKeyRestore("single", folderUrl, readSas).waitForCompletion();
        assertEquals(com.azure.core.util.polling.LongRunningOperationStatus.SUCCESSFULLY_COMPLETED, restored.getStatus());
        assertEquals("Number of successful key versions restored: 1, Number of key versions could not overwrite: 0",
                restored.getValue().getStatusDetails());
        assertEquals(single.getId(), admin.keys(hsmUri).getKey("single").getId(), "the backup's key is back");

        String absent = failure(backup.beginSelectiveKeyRestore("never-backed-up", folderUrl, readSas));
        assertTrue(absent.startsWith("KeyNotFound: "), absent);
    }

    @Test
    void theStoragesRefusalsFailTheJob() throws Exception {
        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String readOnly = failure(backup.beginBackup(container.getBlobContainerUrl(),
                sas(BlobContainerSasPermission.parse("rl"), OffsetDateTime.now().plusHours(1))));
        assertTrue(readOnly.startsWith("AuthorizationPermissionMismatch: "), readOnly);
        String expired = failure(backup.beginBackup(container.getBlobContainerUrl(),
                sas(BlobContainerSasPermission.parse("crwdl"), OffsetDateTime.now().minusMinutes(5))));
        assertTrue(expired.contains(" 403 "), expired);
        BlobContainerClient absent = container.getServiceClient().getBlobContainerClient("no-such-container");
        String none = failure(backup.beginBackup(absent.getBlobContainerUrl(), absent.generateSas(
                new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(1), BlobContainerSasPermission.parse("crwdl")))));
        assertTrue(none.startsWith("ContainerNotFound: "), none);
        String identity = failure(admin.backup(HsmFixtures.readyHsm(admin, "rg-azurite", hsmName("noidentity"), null))
                .beginBackup(container.getBlobContainerUrl(), null));
        assertTrue(identity.startsWith("InvalidManagedIdentity: "), identity);
        assertFalse(readOnly.contains("sig=") || expired.contains("sig=") || none.contains("sig="), "no SAS in a job's error");
    }

    @Test
    void theHsmsManagedIdentityWritesTheBackupOnceItHoldsABlobDataRole() throws Exception {
        // A user-assigned identity through ARM, given to the HSM through the Key Vault resource manager SDK.
        var pipeline = admin.keyVault().serviceClient().getHttpPipeline();
        String identityId = "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-azurite/providers/Microsoft.ManagedIdentity/"
                + "userAssignedIdentities/hsm-backup-writer";
        var put = new com.azure.core.http.HttpRequest(com.azure.core.http.HttpMethod.PUT, emulator.armEndpoint() + identityId.substring(1)
                + "?api-version=2023-01-31").setHeader(com.azure.core.http.HttpHeaderName.CONTENT_TYPE, "application/json")
                .setBody("{\"location\":\"westeurope\"}");
        String principalId;
        try (var response = pipeline.sendSync(put, com.azure.core.util.Context.NONE)) {
            byte[] body = response.getBodyAsBinaryData().toBytes();
            assertEquals(201, response.getStatusCode(), new String(body, java.nio.charset.StandardCharsets.UTF_8));
            principalId = Json.parse(body).path("properties").path("principalId").asText();
        }
        var hsms = admin.keyVault().serviceClient().getManagedHsms();
        var inner = hsms.getByResourceGroup("rg-azurite", hsmName);
        inner.withIdentity(new com.azure.resourcemanager.keyvault.models.ManagedServiceIdentity()
                .withType(com.azure.resourcemanager.keyvault.models.ManagedServiceIdentityType.USER_ASSIGNED)
                .withUserAssignedIdentities(java.util.Map.of(identityId, new com.azure.resourcemanager.keyvault.models.UserAssignedIdentity())));
        hsms.createOrUpdate("rg-azurite", hsmName, inner);
        var updated = hsms.getByResourceGroup("rg-azurite", hsmName);
        assertEquals(principalId, String.valueOf(updated.identity().userAssignedIdentities().values().iterator().next().principalId()),
                "ARM reports the identity's principal on the HSM");

        KeyVaultBackupClient backup = admin.backup(hsmUri);
        String refused = failure(backup.beginBackup(container.getBlobContainerUrl(), null));
        assertTrue(refused.startsWith("AuthorizationPermissionMismatch: ") && refused.contains("hsm-backup-writer"), refused);
        emulator.assignArmRole(principalId, "Storage Blob Data Reader", "/subscriptions/" + admin.subscriptionId + "/resourceGroups/rg-storage"
                + "/providers/Microsoft.Storage/storageAccounts/hsmbackups");
        assertTrue(failure(backup.beginBackup(container.getBlobContainerUrl(), null)).startsWith("AuthorizationPermissionMismatch: "),
                "reading is not writing");
        emulator.assignArmRole(principalId, "Storage Blob Data Contributor", "/subscriptions/" + admin.subscriptionId
                + "/resourceGroups/rg-storage/providers/Microsoft.Storage/storageAccounts/otheraccount");
        assertTrue(failure(backup.beginBackup(container.getBlobContainerUrl(), null)).startsWith("AuthorizationPermissionMismatch: "),
                "a role on another storage account does not count");
        emulator.assignArmRole(principalId, "Storage Blob Data Contributor", "/subscriptions/" + admin.subscriptionId
                + "/resourceGroups/rg-storage/providers/Microsoft.Storage/storageAccounts/hsmbackups/blobServices/default/containers/backups");
        String folderUrl = backup.beginBackup(container.getBlobContainerUrl(), null).getFinalResult();
        assertTrue(blobsUnder(folderName(folderUrl)).contains(folderName(folderUrl) + "/backup.json"), "written with the identity's token");
        assertEquals(com.azure.core.util.polling.LongRunningOperationStatus.SUCCESSFULLY_COMPLETED,
                backup.beginRestore(folderUrl, null).waitForCompletion().getStatus(), "and read back with it");
    }

    @Test
    void anotherSecurityDomainCannotRestoreTheFolder() throws Exception {
        admin.keys(hsmUri).createEcKey(new CreateEcKeyOptions("domain-bound"));
        String folderUrl = admin.backup(hsmUri).beginBackup(container.getBlobContainerUrl(), writeSas()).getFinalResult();
        String other = HsmFixtures.readyHsm(admin, "rg-azurite", hsmName("elsewhere"), HsmFixtures.CRYPTO_USER);
        String e = failure(admin.backup(other).beginRestore(folderUrl, writeSas()));
        assertTrue(e.contains("another security domain"), e);
    }
}
