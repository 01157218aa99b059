package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.restore.HsmRestoreStatus;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.EmulatorClients;
import io.hsmoperator.emulator.HsmFixtures;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HsmRestore against the emulator and a real Blob service (Azurite): a full restore puts the backup's keys back, the
 * versions a workload signed with among them; a selective restore brings back a key that is gone and refuses, before any
 * call, one that exists; an unconfirmed full restore or a folder that is no backup folder costs no Azure call; a folder
 * that was tampered with fails the job, and a restore that ended never runs again.
 */
@QuarkusTest
class HsmRestoreReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String ACCOUNT = "hsmrestores";
    private static final byte[] DIGEST = sha256("the payment of 2026-11-30");
    private BlobContainerClient container;
    /** The SAS the restore Secret holds now (a test looks for it where it must not be). */
    private String readSas;

    @BeforeEach
    void storage() {
        container = azuriteContainer(ACCOUNT);
    }

    private String sas(String permissions) {
        return container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(2),
                BlobContainerSasPermission.parse(permissions)));
    }

    /** Azure as the HSM's security team: keys made, signed with and backed up outside the operator. */
    private EmulatorClients team(ManagedHsm hsm) {
        EmulatorClients a = azureAs(emulator.builtInPrincipal());
        try {
            a.rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, emulator.builtInPrincipal().objectId());
            awaitRbacPropagation();
        } catch (RuntimeException alreadyThere) {
            // granted by an earlier call
        }
        return a;
    }

    /** A full backup of the HSM into this test's container, as an HsmBackup would make it; its folder's URL. */
    private String backUp(ManagedHsm hsm) {
        return azureAs(emulator.builtInPrincipal()).backup(hsm.getStatus().hsmUri).beginBackup(container.getBlobContainerUrl(), sas("crwdl"))
                .getFinalResult();
    }

    private HsmRestore restore(String name, String folderUrl, String keyName, String confirm) {
        readSas = sas("rl");
        sasSecret(ns, "restore-sas", readSas);
        return hsmRestore(ns, name, new HsmReference("hsm", null), folderUrl, "restore-sas", keyName, confirm);
    }

    /** Restore jobs the operator started since {@code mark} (full or selective, accepted or not). */
    private List<Controls.JournalEntry> restoreStarts(long mark) {
        String operator = emulator.builtInPrincipal().objectId();
        String hsm = get(ManagedHsm.class, "hsm").getSpec().azureName;
        return emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal()) && hsm.equals(e.endpoint()) && e.method().equals("PUT")
                && (e.path().equals("/restore") || e.path().matches("(?i)/keys/[^/]+/restore")));
    }

    private HsmRestore awaitPhase(String name, HsmRestoreStatus.Phase phase) {
        try {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> {
                HsmRestore r = get(HsmRestore.class, name);
                return r.getStatus() != null && r.getStatus().phase == phase;
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
        return get(HsmRestore.class, name);
    }

    private boolean verifies(EmulatorClients team, KeyVaultKey version, byte[] signature) {
        return team.crypto(version.getId()).verify(SignatureAlgorithm.ES256, DIGEST, signature).isValid();
    }

    @Test
    void aFullRestorePutsTheBackupsKeysBackAndRunsOnce() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        EmulatorClients team = team(hsm);
        KeyClient keys = team.keys(hsm.getStatus().hsmUri);
        KeyVaultKey signing = keys.createEcKey(new CreateEcKeyOptions("signing"));
        byte[] signature = team.crypto(signing.getId()).sign(SignatureAlgorithm.ES256, DIGEST).getSignature();
        String folderUrl = backUp(hsm);
        // After the backup: a new version of the key, and a key the backup does not hold.
        keys.createEcKey(new CreateEcKeyOptions("signing"));
        keys.createEcKey(new CreateEcKeyOptions("later"));
        long mark = emulator.controls().lastSequence();

        apply(restore("undo", folderUrl, null, hsmName));
        HsmRestore done = awaitPhase("undo", HsmRestoreStatus.Phase.Succeeded);
        HsmRestoreStatus st = done.getStatus();
        assertEquals("True", condition(done, "Ready").getStatus());
        assertEquals("Restored", condition(done, "Ready").getReason());
        assertEquals(Boolean.TRUE, st.full);
        assertNull(st.keyName);
        assertEquals(folderUrl, st.restoredFrom);
        assertNotNull(st.jobId);
        assertNotNull(st.startTime);
        assertNotNull(st.endTime);
        assertNull(st.error);

        // What a user checks: the key is the backup's, its version signs and verifies as before, the later key is gone.
        KeyVaultKey restored = keys.getKey("signing");
        assertEquals(signing.getId(), restored.getId(), "the backup's version is the current one again");
        assertEquals(com.azure.security.keyvault.keys.models.KeyType.EC_HSM, restored.getKeyType());
        assertEquals(1, keys.listPropertiesOfKeyVersions("signing").stream().count(), "the version made after the backup is gone");
        assertTrue(verifies(team, restored, signature), "what the backup's version signed still verifies");
        byte[] again = team.crypto(restored.getId()).sign(SignatureAlgorithm.ES256, DIGEST).getSignature();
        assertTrue(verifies(team, signing, again), "and the restored version signs");
        assertFalse(emulator.<Boolean>inspect(s -> s.hsms.get(hsmName).keys.containsKey("later")), "a full restore replaced every key");
        assertTrue(eventReasons().containsAll(List.of("RestoreStarted", "RestoreSucceeded")), eventReasons().toString());

        // One-shot: a request to reconcile (as after a restart or a resync) starts nothing.
        touch(HsmRestore.class, "undo");
        Thread.sleep(3000);
        assertEquals(1, restoreStarts(mark).size(), "one job, however often the resource is reconciled");
        assertEquals(HsmRestoreStatus.Phase.Succeeded, get(HsmRestore.class, "undo").getStatus().phase);

        String yaml = io.fabric8.kubernetes.client.utils.Serialization.asYaml(get(HsmRestore.class, "undo"));
        assertFalse(yaml.contains("sig="), "no SAS in status");
        assertTrue(events().stream().noneMatch(e -> e.getMessage().contains("sig=")), "no SAS in events");
        assertFalse(CapturedLogs.all().contains(readSas.substring(readSas.indexOf("sig=") + 4).split("&")[0]), "no SAS in the logs");
    }

    @Test
    void anUnconfirmedFullRestoreOrAFolderThatIsNoBackupIsRefusedWithNoAzureCall() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        String folderUrl = backUp(hsm);
        long mark = emulator.controls().lastSequence();

        refusedAtAdmission(restore("unconfirmed", folderUrl, null, null), "set confirmFullRestoreOf");
        apply(restore("wrong-hsm", folderUrl, null, "contoso-other-hsm"));
        String wrong = condition(awaitCondition(HsmRestore.class, "wrong-hsm", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage();
        assertTrue(wrong.contains("the target HSM is " + hsmName) && wrong.contains("Nothing was sent to Azure"), wrong);
        // A URL the CRD's pattern lets through, but whose folder is not inside a container.
        apply(restore("nested", "https://hsmrestores.blob.core.windows.net/a/b/" + folderUrl.substring(folderUrl.lastIndexOf('/') + 1),
                "signing", null));
        String nested = condition(awaitCondition(HsmRestore.class, "nested", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage();
        assertTrue(nested.contains("not the URL of a backup folder"), nested);
        refusedAtAdmission(restore("container", container.getBlobContainerUrl(), "signing", null), "folderUrl");
        HsmRestore noSecret = restore("no-secret", folderUrl, null, hsmName);
        noSecret.getSpec().source.sasTokenSecretRef.name = "missing";
        apply(noSecret);
        awaitCondition(HsmRestore.class, "no-secret", "Stalled", "True", "SecretMissing", WAIT);
        Thread.sleep(2000);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && hsmName.equals(e.endpoint())
                && e.path().toLowerCase().contains("restore")), "no restore call for a refused restore");
        assertEquals(HsmRestoreStatus.Phase.Pending, get(HsmRestore.class, "wrong-hsm").getStatus().phase);
    }

    @Test
    void aSelectiveRestoreBringsBackAKeyThatIsGoneAndRefusesOneThatExists() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        EmulatorClients team = team(hsm);
        KeyClient keys = team.keys(hsm.getStatus().hsmUri);
        KeyVaultKey lost = keys.createEcKey(new CreateEcKeyOptions("lost"));
        byte[] signature = team.crypto(lost.getId()).sign(SignatureAlgorithm.ES256, DIGEST).getSignature();
        keys.createEcKey(new CreateEcKeyOptions("present"));
        keys.createEcKey(new CreateEcKeyOptions("binned"));
        String folderUrl = backUp(hsm);
        KeyVaultKey newer = keys.createEcKey(new CreateEcKeyOptions("present"));
        keys.beginDeleteKey("binned").waitForCompletion();
        // Someone deleted and purged "lost" (the test's own control: the operator never purges).
        assertTrue(emulator.forgetKey(hsmName, "lost"));
        long mark = emulator.controls().lastSequence();

        apply(restore("lost", folderUrl, "lost", null));
        HsmRestore back = awaitPhase("lost", HsmRestoreStatus.Phase.Succeeded);
        assertEquals("lost", back.getStatus().keyName);
        assertNull(back.getStatus().full);
        assertTrue(back.getStatus().details.contains("restored: 1"), back.getStatus().details);
        assertEquals(lost.getId(), keys.getKey("lost").getId(), "the backup's key is back");
        assertTrue(verifies(team, keys.getKey("lost"), signature), "and what it signed verifies");

        apply(restore("present", folderUrl, "present", null));
        apply(restore("binned", folderUrl, "binned", null));
        String exists = condition(awaitCondition(HsmRestore.class, "present", "Stalled", "True", "KeyExists", WAIT), "Ready").getMessage();
        assertTrue(exists.contains("Key present exists in HSM " + hsmName) && exists.contains("never deletes or purges"), exists);
        String binned = condition(awaitCondition(HsmRestore.class, "binned", "Stalled", "True", "KeyExists", WAIT), "Ready").getMessage();
        assertTrue(binned.contains("soft-deleted") && binned.contains("never purges"), binned);
        Thread.sleep(1500);
        assertEquals(1, restoreStarts(mark).size(), "only the restore of the key that was gone was started");
        assertEquals(newer.getId(), keys.getKey("present").getId(), "the existing key is unchanged");
        assertEquals(2, keys.listPropertiesOfKeyVersions("present").stream().count());
        assertTrue(emulator.<Boolean>inspect(s -> s.hsms.get(hsmName).deletedKeys.containsKey("binned")), "still soft-deleted");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && hsmName.equals(e.endpoint())
                && (e.method().equals("DELETE") || e.path().toLowerCase().contains("purge"))), "nothing deleted or purged to make room");
    }

    @Test
    void aTamperedFolderFailsTheRestoreForGood() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        team(hsm).keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        String folderUrl = backUp(hsm);
        container.getBlobClient(folderUrl.substring(folderUrl.lastIndexOf('/') + 1) + "/keys/kept").delete();
        long mark = emulator.controls().lastSequence();

        apply(restore("pruned", folderUrl, null, hsmName));
        HsmRestore failed = awaitPhase("pruned", HsmRestoreStatus.Phase.Failed);
        assertTrue(failed.getStatus().error.startsWith("InvalidBackupFolder: ") && failed.getStatus().error.contains("keys/kept"),
                failed.getStatus().error);
        assertEquals("False", condition(failed, "Ready").getStatus());
        assertEquals("True", condition(failed, "Stalled").getStatus());
        assertEquals("RestoreFailed", condition(failed, "Ready").getReason());
        assertTrue(condition(failed, "Ready").getMessage().contains("create a new HsmRestore"), condition(failed, "Ready").getMessage());
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("RestoreFailed") && "Warning".equals(e.getType())));
        assertTrue(emulator.<Boolean>inspect(s -> s.hsms.get(hsmName).keys.containsKey("kept")), "a failed restore changed nothing");

        touch(HsmRestore.class, "pruned");
        Thread.sleep(3000);
        assertEquals(1, restoreStarts(mark).size(), "a failed restore is not retried");
    }

    @Test
    void anotherJobOfTheHsmAndAJobAzureDoesNotShowYetAreWaitedFor() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        team(hsm).keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        String folderUrl = backUp(hsm);
        long mark = emulator.controls().lastSequence();
        // Azure runs one backup or restore at a time: its 409 means wait, not fail.
        Controls.Fault busy = emulator.controls().addFault(Controls.Fault.status("PUT", hsmName, "(?i)/restore", 409, 0, 1000));
        Controls.Fault unseen;
        try {
            apply(restore("later", folderUrl, null, hsmName));
            HsmRestore waiting = awaitCondition(HsmRestore.class, "later", "Reconciling", "True", "AnotherJobRunning", WAIT);
            assertTrue(condition(waiting, "Ready").getMessage().contains("one at a time"), condition(waiting, "Ready").getMessage());
            assertEquals(HsmRestoreStatus.Phase.Pending, waiting.getStatus().phase);
            assertNull(waiting.getStatus().jobId);
            // Once the HSM is free, the job starts; its first reads answer 404 (Azure's reads lag): not a failure.
            unseen = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/restore/[^/]+/pending", 404, 0, 3));
        } finally {
            emulator.controls().removeFault(busy);
        }
        try {
            HsmRestore done = awaitPhase("later", HsmRestoreStatus.Phase.Succeeded);
            assertTrue(unseen.hits() >= 1, "the job's first reads were refused");
            assertEquals(1, emulator.controls().journal(e -> e.seq() > mark && hsmName.equals(e.endpoint()) && e.method().equals("PUT")
                    && e.path().equals("/restore") && e.status() == 202).size(), "one job started");
            assertNull(done.getStatus().error);
        } finally {
            emulator.controls().removeFault(unseen);
        }
    }

    @Test
    void aBackupTheOperatorKnowsRunningHoldsTheRestoreBackWithoutACall() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        team(hsm).keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        String folderUrl = backUp(hsm);
        sasSecret(ns, "backup-sas", sas("crwdl"));
        // The HsmBackup's job stays running as far as the operator can tell: its polls fail.
        Controls.Fault polls = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/backup/[^/]+/pending", 503, 0, 100000));
        long mark = emulator.controls().lastSequence();
        try {
            apply(hsmBackup(ns, "nightly", new HsmReference("hsm", null), container.getBlobContainerUrl(), "backup-sas", "P1D"));
            await().atMost(WAIT).until(() -> {
                var b = get(io.hsmoperator.api.backup.HsmBackup.class, "nightly");
                return b.getStatus() != null && b.getStatus().running != null;
            });
            apply(restore("after-backup", folderUrl, null, hsmName));
            HsmRestore waiting = awaitCondition(HsmRestore.class, "after-backup", "Reconciling", "True", "AnotherJobRunning", WAIT);
            assertTrue(condition(waiting, "Ready").getMessage().contains("HsmBackup " + ns + "/nightly"), condition(waiting, "Ready").getMessage());
            Thread.sleep(1500);
            assertEquals(List.of(), restoreStarts(mark), "the known job saved the call Azure would refuse");
        } finally {
            emulator.controls().removeFault(polls);
        }
        // The backup ends; the restore starts then, once.
        awaitPhase("after-backup", HsmRestoreStatus.Phase.Succeeded);
        assertEquals(1, restoreStarts(mark).size());
    }

    @Test
    void aStartWhoseAnswerWasLostIsNeverAskedForAgain() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        team(hsm).keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        String folderUrl = backUp(hsm);
        long mark = emulator.controls().lastSequence();
        // Azure starts the job, and its answer never arrives: the operator cannot learn the job's ID.
        Controls.Fault lost = emulator.controls().addFault(Controls.Fault.dropAfterCommit("PUT", hsmName, "/restore", 1));
        try {
            apply(restore("unanswered", folderUrl, null, hsmName));
            HsmRestore failed = awaitPhase("unanswered", HsmRestoreStatus.Phase.Failed);
            assertTrue(failed.getStatus().error.startsWith("StartResultUnknown: "), failed.getStatus().error);
            assertNull(failed.getStatus().jobId);
            assertNotNull(failed.getStatus().startRequestedAt);
            assertEquals("RestoreFailed", condition(failed, "Ready").getReason());
            assertEquals(1, lost.hits());
        } finally {
            emulator.controls().removeFault(lost);
        }
        touch(HsmRestore.class, "unanswered");
        Thread.sleep(2000);
        assertEquals(1, restoreStarts(mark).size(), "Azure was asked once: a second start could restore twice");
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
