package io.hsmoperator.reconciler;

import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.models.BlobItem;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.backup.HsmBackupSpec;
import io.hsmoperator.api.backup.HsmBackupStatus;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HsmBackup against the emulator and a real Blob service (Azurite): backups land as folders in the container and status
 * names them; backup-now makes exactly one more per token; retention prunes only the resource's own folders; a job is
 * resumed by the ID status recorded; bad input and foreign HSMs cost no Azure call.
 */
@QuarkusTest
class HsmBackupReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String ACCOUNT = "hsmbackups";
    private BlobContainerClient container;

    @BeforeEach
    void storage() {
        container = azuriteContainer(ACCOUNT);
    }

    private String sas() {
        return container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(2),
                BlobContainerSasPermission.parse("crwdl")));
    }

    private void sasSecret(String name) {
        sasSecret(ns, name, sas());
    }

    private HsmBackup backup(String name, String every, Integer keepLast) {
        HsmBackup b = hsmBackup(ns, name, new HsmReference("hsm", null), container.getBlobContainerUrl(), "backup-sas", every);
        if (keepLast != null) {
            b.getSpec().retention = new HsmBackupSpec.Retention();
            b.getSpec().retention.keepLast = keepLast;
        }
        return b;
    }

    private static HsmBackupSpec.Window window(String start, String end) {
        HsmBackupSpec.Window w = new HsmBackupSpec.Window();
        w.start = start;
        w.end = end;
        return w;
    }

    private HsmBackup awaitFailed(String name, int size) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> {
            HsmBackup b = get(HsmBackup.class, name);
            return b.getStatus() != null && b.getStatus().history.size() == size && b.getStatus().running == null
                    && "BackupFailed".equals(condition(b, "Ready").getReason());
        });
        return get(HsmBackup.class, name);
    }

    /** The Azure name of this test's HSM: the tests of the class run at once, on one emulator, each with its own HSM. */
    private String thisHsm() {
        return get(ManagedHsm.class, "hsm").getSpec().azureName;
    }

    /** Backup jobs the operator started on this test's HSM since {@code mark} (accepted or not). */
    private long backupStarts(long mark) {
        String operator = emulator.builtInPrincipal().objectId();
        String hsm = thisHsm();
        return emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal()) && hsm.equals(e.endpoint())
                && e.method().equals("POST") && e.path().equals("/backup")).size();
    }

    /** Any request to this test's HSM's backup or restore API since {@code mark}. */
    private List<Controls.JournalEntry> backupCalls(long mark) {
        String hsm = thisHsm();
        return emulator.controls().journal(e -> e.seq() > mark && hsm.equals(e.endpoint())
                && (e.path().startsWith("/backup") || e.path().startsWith("/restore")));
    }

    private Set<String> blobs() {
        return container.listBlobs().stream().map(BlobItem::getName).collect(Collectors.toCollection(TreeSet::new));
    }

    private static String folderOf(String folderUrl) {
        return folderUrl.substring(folderUrl.lastIndexOf('/') + 1);
    }

    private void backupNow(String name, String token) {
        HsmBackup b = get(HsmBackup.class, name);
        var annotations = new HashMap<>(b.getMetadata().getAnnotations() == null ? java.util.Map.<String, String>of() : b.getMetadata().getAnnotations());
        annotations.put(Conditions.BACKUP_NOW_ANNOTATION, token);
        b.getMetadata().setAnnotations(annotations);
        update(b);
    }

    private HsmBackup awaitHistory(String name, int size) {
        try {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> {
                HsmBackup b = get(HsmBackup.class, name);
                return b.getStatus() != null && b.getStatus().history.size() == size && b.getStatus().running == null
                        && "True".equals(condition(b, "Ready").getStatus());
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
        return get(HsmBackup.class, name);
    }

    @Test
    void backsUpIntoTheContainerOncePerTokenAndPrunesOnlyItsOwnFolders() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        // Someone else's blobs beside ours: a note, and a folder named like a backup of this HSM that this resource did not make.
        container.getBlobClient("notes/readme.txt").upload(com.azure.core.util.BinaryData.fromString("not the operator's"));
        String foreignFolder = "mhsm-" + hsmName + "-2020010100000000";
        container.getBlobClient(foreignFolder + "/backup.json").upload(com.azure.core.util.BinaryData.fromString("someone's backup"));
        sasSecret("backup-sas");
        long mark = emulator.controls().lastSequence();
        apply(backup("nightly", "P1D", 2));

        HsmBackup first = awaitHistory("nightly", 1);
        HsmBackupStatus st = first.getStatus();
        assertNotNull(st.lastSuccessful, "status names the backup");
        assertTrue(st.lastSuccessful.folderUrl.startsWith(container.getBlobContainerUrl() + "/mhsm-" + hsmName + "-"), st.lastSuccessful.folderUrl);
        String folder1 = folderOf(st.lastSuccessful.folderUrl);
        assertTrue(blobs().contains(folder1 + "/backup.json"), "a real folder in the container: " + blobs());
        assertEquals(HsmBackupStatus.Outcome.Succeeded, st.history.get(0).outcome);
        assertEquals(HsmBackupStatus.Trigger.Schedule, st.history.get(0).trigger);
        assertEquals(List.of(st.lastSuccessful.folderUrl), st.folders.stream().map(f -> f.url).toList());
        assertNotNull(st.nextBackupTime);
        assertEquals(1, backupStarts(mark));
        assertTrue(eventReasons().containsAll(List.of("BackupStarted", "BackupSucceeded")), eventReasons().toString());
        // The gauges the chart's HsmBackupOverdue alert and the dashboard read, and the rules on this scrape: quiet.
        String m = scrape();
        String labels = "namespace=\"" + ns + "\"";
        assertEquals(OffsetDateTime.parse(st.lastSuccessful.time).toEpochSecond(),
                sample(m, "hsm_operator_backup_last_success_timestamp_seconds", labels, "name=\"nightly\"").orElseThrow(), 0.001, m);
        assertEquals(86400.0, sample(m, "hsm_operator_backup_interval_seconds", labels, "name=\"nightly\"").orElseThrow(), m);
        assertTrue(sample(m, "hsm_operator_backup_created_timestamp_seconds", labels, "name=\"nightly\"").orElseThrow() > 0, m);
        assertEquals(Duration.parse(st.lastSuccessful.duration).toMillis() / 1000.0,
                sample(m, "hsm_operator_backup_duration_seconds", labels, "name=\"nightly\"").orElseThrow(), 0.001, m);
        java.util.Set<String> missing = new java.util.TreeSet<>(io.hsmoperator.chart.PromTool.BACKUP_GAUGES);
        missing.removeAll(io.hsmoperator.chart.PromTool.scrapedNames(m));
        assertEquals(Set.of(), missing, "the gauges of an HsmBackup are in the operator's scrape");
        String ours = m.lines().filter(l -> !l.contains("namespace=\"") || l.contains(labels)).collect(Collectors.joining("\n"));
        io.hsmoperator.tools.GoTools.Run rules = io.hsmoperator.chart.PromTool.testRulesOn(ours, java.nio.file.Files.createTempDirectory("rules"));
        assertEquals(0, rules.exit(), "promtool test rules on the operator's scrape:\n" + rules.both());

        // backup-now: exactly one more per distinct token
        backupNow("nightly", "before-upgrade");
        HsmBackup second = awaitHistory("nightly", 2);
        assertEquals("before-upgrade", second.getStatus().lastBackupNowToken);
        assertEquals(HsmBackupStatus.Trigger.BackupNow, second.getStatus().history.get(0).trigger);
        touch(HsmBackup.class, "nightly");
        Thread.sleep(3000);
        assertEquals(2, backupStarts(mark), "one backup for the token, not one per reconcile");
        assertEquals(2, get(HsmBackup.class, "nightly").getStatus().history.size());

        // a third backup: keepLast 2 lets the oldest of its own folders go, and nothing else
        backupNow("nightly", "after-upgrade");
        HsmBackup third = awaitHistory("nightly", 3);
        await().atMost(WAIT).until(() -> get(HsmBackup.class, "nightly").getStatus().folders.size() == 2);
        assertEquals(3, backupStarts(mark));
        Set<String> left = blobs();
        assertTrue(left.stream().noneMatch(b -> b.startsWith(folder1 + "/")), "the oldest folder is pruned: " + left);
        assertTrue(left.contains(folderOf(second.getStatus().lastSuccessful.folderUrl) + "/backup.json"), left.toString());
        assertTrue(left.contains(folderOf(third.getStatus().lastSuccessful.folderUrl) + "/backup.json"), left.toString());
        assertTrue(left.contains("notes/readme.txt") && left.contains(foreignFolder + "/backup.json"), "foreign blobs stay: " + left);
        assertTrue(eventReasons().contains("BackupPruned"));

        // the schedule: a day later, one scheduled backup
        emulator.controls().advance(Duration.ofDays(1).plusMinutes(1));
        touch(HsmBackup.class, "nightly");
        HsmBackup fourth = awaitHistory("nightly", 4);
        assertEquals(HsmBackupStatus.Trigger.Schedule, fourth.getStatus().history.get(0).trigger);
        assertEquals(4, backupStarts(mark));

        String secret = sas();
        String signature = secret.substring(secret.indexOf("sig=") + 4).split("&")[0];
        String yaml = io.fabric8.kubernetes.client.utils.Serialization.asYaml(get(HsmBackup.class, "nightly"));
        assertFalse(yaml.contains("sig="), "no SAS in status");
        assertTrue(events().stream().noneMatch(e -> e.getMessage().contains("sig=")), "no SAS in events");
        assertFalse(CapturedLogs.all().contains(signature), "no SAS in the logs");
    }

    @Test
    void aJobIsResumedByTheIdStatusRecordedAndAnotherJobOfTheHsmIsWaitedFor() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        sasSecret("backup-sas");
        // Polls of any backup job fail for a while: the reconcile fails and starts again, as after a restart, with nothing
        // but status to go on.
        Controls.Fault polls = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/backup/[^/]+/pending", 503, 0, 3));
        long mark = emulator.controls().lastSequence();
        try {
            apply(backup("resumed", "P1D", null));
            await().atMost(WAIT).until(() -> polls.hits() >= 2);
            HsmBackupStatus during = get(HsmBackup.class, "resumed").getStatus();
            assertNotNull(during.running, "the job is recorded while the operator cannot see it");
            String jobId = during.running.jobId;
            HsmBackup done = awaitHistory("resumed", 1);
            assertEquals(jobId, done.getStatus().history.get(0).jobId, "the same job was resumed");
            assertEquals(1, backupStarts(mark), "no second backup was started");
            String operator = emulator.builtInPrincipal().objectId();
            assertTrue(emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal())
                    && e.path().startsWith("/backup/")).stream().allMatch(e -> e.path().equals("/backup/" + jobId + "/pending")),
                    "every poll asked for that job");
        } finally {
            emulator.controls().removeFault(polls);
        }

        // Azure runs one backup or restore per HSM: a 409 means wait, with a reason, and no failure.
        Controls.Fault busy = emulator.controls().addFault(Controls.Fault.status("POST", hsmName, "(?i)/backup", 409, 0, 1000));
        try {
            long before = emulator.controls().lastSequence();
            backupNow("resumed", "while-busy");
            HsmBackup waiting = awaitCondition(HsmBackup.class, "resumed", "Reconciling", "True", "AnotherJobRunning", WAIT);
            assertTrue(condition(waiting, "Ready").getMessage().contains("one at a time"), condition(waiting, "Ready").getMessage());
            assertEquals("False", condition(waiting, "Stalled").getStatus());
            assertTrue(backupStarts(before) >= 1);
        } finally {
            emulator.controls().removeFault(busy);
        }
        HsmBackup after = awaitHistory("resumed", 2);
        assertEquals("while-busy", after.getStatus().lastBackupNowToken);
    }

    @Test
    void badInputIsRefusedWithAClearMessageAndNoAzureCall() throws Exception {
        readyHsm("hsm");
        sasSecret("backup-sas");
        long mark = emulator.controls().lastSequence();

        HsmBackup notBlob = backup("not-blob", "P1D", null);
        notBlob.getSpec().destination.containerUrl = "https://contoso.vault.azure.net/backups";
        apply(notBlob);
        HsmBackup withSas = backup("with-sas", "P1D", null);
        // a SAS pasted into the URL (a made-up one: a refusal quotes the value)
        withSas.getSpec().destination.containerUrl = container.getBlobContainerUrl() + "?sv=2024-01-01&sp=rl&sig=not-a-secret";
        HsmBackup tooOften = backup("too-often", "PT5M", null);
        apply(tooOften);
        HsmBackup noSecret = backup("no-secret", "P1D", null);
        noSecret.getSpec().destination.sasTokenSecretRef.name = "missing";
        apply(noSecret);
        // useManagedIdentity on an HSM that has no identity: Azure would only fail the job; the operator says what to add.
        HsmBackup asIdentity = backup("as-identity", "P1D", null);
        asIdentity.getSpec().destination.sasTokenSecretRef = null;
        asIdentity.getSpec().destination.useManagedIdentity = true;
        apply(asIdentity);

        assertTrue(condition(awaitCondition(HsmBackup.class, "not-blob", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("not the URL of a blob container"));
        assertTrue(condition(awaitCondition(HsmBackup.class, "too-often", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("shorter than an hour"));
        assertTrue(condition(awaitCondition(HsmBackup.class, "no-secret", "Stalled", "True", "SecretMissing", WAIT), "Ready").getMessage()
                .contains("does not exist"));
        String noIdentity = condition(awaitCondition(HsmBackup.class, "as-identity", "Stalled", "True", "NoManagedIdentity", WAIT), "Ready")
                .getMessage();
        assertTrue(noIdentity.contains("spec.userAssignedIdentities") && noIdentity.contains("Storage Blob Data Contributor"), noIdentity);
        assertNull(get(HsmBackup.class, "as-identity").getStatus().running, "no job started");
        refusedAtAdmission(withSas, "containerUrl");
        refusedAtAdmission(backup("keep-none", "P1D", 0), "keepLast");
        HsmBackup both = backup("both", "P1D", null);
        both.getSpec().destination.useManagedIdentity = true;
        refusedAtAdmission(both, "remove sasTokenSecretRef");
        HsmBackup neither = backup("neither", "P1D", null);
        neither.getSpec().destination.sasTokenSecretRef = null;
        refusedAtAdmission(neither, "set sasTokenSecretRef");
        HsmBackup noLength = backup("no-length", "P1D", null);
        noLength.getSpec().schedule.window = window("03:00", "03:00");
        refusedAtAdmission(noLength, "start and end must differ");
        Thread.sleep(2000);
        assertEquals(List.of(), backupCalls(mark), "no backup call for bad input");
        assertEquals(Set.of(), blobs());
    }

    @Test
    void theHsmsManagedIdentityWritesOnceItHoldsTheRoleAndRetentionPrunesAsTheOperator() throws Exception {
        // An HSM with a user-assigned identity, which the operator may give it (the shipped identity-assign role).
        String principal = emulator.createUserAssignedIdentity(SUBSCRIPTION, "rg-ids", "backup-writer-" + ns, "westeurope");
        String assigner = emulator.defineArmRole(java.nio.file.Path.of("../config/azure/hsm-operator-identity-assign-role.json"));
        emulator.assignArmRole(emulator.builtInPrincipal().objectId(), assigner, "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-ids");
        apply(officersSecret("hsm-officers", 3, "2"));
        ManagedHsm declared = managedHsm("hsm", uniqueHsmName("hsm"));
        declared.getSpec().userAssignedIdentities = List.of("/subscriptions/" + SUBSCRIPTION
                + "/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/backup-writer-" + ns);
        apply(declared);
        awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", null, WAIT);
        HsmBackup b = backup("as-identity", "P1D", 1);
        b.getSpec().destination.sasTokenSecretRef = null;
        b.getSpec().destination.useManagedIdentity = true;
        long mark = emulator.controls().lastSequence();
        apply(b);

        // Without a storage role the job fails with the storage's own error, and the HsmBackup says so.
        HsmBackup refused = awaitFailed("as-identity", 1);
        String error = refused.getStatus().history.get(0).error;
        assertTrue(error.startsWith("AuthorizationPermissionMismatch: ") && error.contains("backup-writer-" + ns), error);
        assertTrue(condition(refused, "Ready").getMessage().contains("AuthorizationPermissionMismatch"), condition(refused, "Ready").getMessage());
        assertTrue(eventReasons().contains("BackupFailed"));
        assertEquals(Set.of(), blobs());

        // Granted Storage Blob Data Contributor on the container: the HSM writes as its identity, a real folder in Azurite.
        emulator.assignArmRole(principal, "Storage Blob Data Contributor", "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-storage"
                + "/providers/Microsoft.Storage/storageAccounts/" + ACCOUNT + "/blobServices/default/containers/" + ns);
        backupNow("as-identity", "granted");
        HsmBackup first = awaitHistory("as-identity", 2);
        String folder1 = folderOf(first.getStatus().lastSuccessful.folderUrl);
        assertTrue(blobs().contains(folder1 + "/backup.json"), "written with the identity's token: " + blobs());

        // keepLast 1: the operator lists and deletes the older folder with its own bearer token (Azurite's OAuth).
        backupNow("as-identity", "again");
        HsmBackup second = awaitHistory("as-identity", 3);
        await().atMost(WAIT).until(() -> get(HsmBackup.class, "as-identity").getStatus().folders.size() == 1);
        String folder2 = folderOf(second.getStatus().lastSuccessful.folderUrl);
        Set<String> left = blobs();
        assertTrue(left.stream().noneMatch(n -> n.startsWith(folder1 + "/")) && left.contains(folder2 + "/backup.json"), left.toString());
        assertEquals(3, backupStarts(mark));
        assertTrue(CapturedLogs.all().lines().noneMatch(l -> l.contains("Bearer ey")), "no token in the logs");
    }

    @Test
    void aJobAzureDoesNotShowYetIsWaitedForAndOnlyLaterCountsAsForgotten() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        sasSecret("backup-sas");
        String operator = emulator.builtInPrincipal().objectId();
        long mark = emulator.controls().lastSequence();
        // Reads lag writes by a few seconds: the job's first polls answer 404, and the backup still succeeds.
        try (AutoCloseable lag = emulator.controls().lagReads(Duration.ofSeconds(4))) {
            apply(backup("lagging", "P1D", null));
            HsmBackup done = awaitHistory("lagging", 1);
            assertEquals(HsmBackupStatus.Outcome.Succeeded, done.getStatus().history.get(0).outcome);
        }
        assertTrue(emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal()) && e.path().endsWith("/pending")
                && e.status() == 404).size() >= 1, "the operator did see the job unknown at first");

        // A job Azure never shows: waited for until the lag has passed, then failed as JobNotFound.
        Controls.Fault gone = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/backup/[^/]+/pending", 404, 0, 100000));
        try {
            backupNow("lagging", "unseen");
            await().atMost(WAIT).until(() -> gone.hits() >= 3);
            HsmBackup waiting = get(HsmBackup.class, "lagging");
            assertNotNull(waiting.getStatus().running, "still waited for");
            assertEquals(1, waiting.getStatus().history.size());
            assertEquals("BackingUp", condition(waiting, "Ready").getReason());
            emulator.controls().advance(io.hsmoperator.azure.Consistency.JOB_READ_LAG.plusMinutes(1));
            touch(HsmBackup.class, "lagging");
            HsmBackup forgotten = awaitFailed("lagging", 2);
            assertTrue(forgotten.getStatus().history.get(0).error.startsWith("JobNotFound: "), forgotten.getStatus().history.get(0).error);
        } finally {
            emulator.controls().removeFault(gone);
        }
    }

    @Test
    void aScheduledBackupWaitsForTheWindowAndBackupNowDoesNot() throws Exception {
        readyHsm("hsm");
        sasSecret("backup-sas");
        java.time.Instant now = emulator.controls().now();
        // A window of one hour that opens three hours from now (UTC): the first backup waits for it.
        java.time.LocalTime opens = now.plus(Duration.ofHours(3)).atOffset(java.time.ZoneOffset.UTC).toLocalTime().withSecond(0).withNano(0);
        String start = opens.toString();
        String end = opens.plusHours(1).toString();
        HsmBackup b = backup("windowed", "P1D", null);
        b.getSpec().schedule.window = window(start, end);
        long mark = emulator.controls().lastSequence();
        apply(b);
        HsmBackupStatus waiting = awaitCondition(HsmBackup.class, "windowed", "Reconciling", "True", "WaitingForWindow", WAIT).getStatus();
        java.time.Instant next = java.time.Instant.parse(waiting.nextBackupTime);
        assertEquals(opens, next.atOffset(java.time.ZoneOffset.UTC).toLocalTime(), "status.nextBackupTime is the window's opening");
        assertTrue(next.isAfter(now), waiting.nextBackupTime);
        Thread.sleep(2000);
        assertEquals(0, backupStarts(mark), "nothing outside the window");

        backupNow("windowed", "now-please");
        HsmBackup asked = awaitHistory("windowed", 1);
        assertEquals(HsmBackupStatus.Trigger.BackupNow, asked.getStatus().history.get(0).trigger);

        // A day after that backup the slot is outside the window again: at the window's next opening it starts.
        emulator.controls().advance(Duration.ofDays(1).plusMinutes(1));
        touch(HsmBackup.class, "windowed");
        Thread.sleep(2000);
        assertEquals(1, backupStarts(mark), "the slot fell outside the window");
        java.time.Instant opening = java.time.Instant.parse(get(HsmBackup.class, "windowed").getStatus().nextBackupTime);
        assertEquals(opens, opening.atOffset(java.time.ZoneOffset.UTC).toLocalTime());
        emulator.controls().advance(Duration.between(emulator.controls().now(), opening).plusMinutes(1));
        touch(HsmBackup.class, "windowed");
        HsmBackup scheduled = awaitHistory("windowed", 2);
        assertEquals(HsmBackupStatus.Trigger.Schedule, scheduled.getStatus().history.get(0).trigger);
    }

    @Test
    void anotherNamespaceCannotBackUpAnHsmItDoesNotOwn() throws Exception {
        readyHsm("hsm");
        String owners = ns;
        String other = otherNamespace();
        long mark = emulator.controls().lastSequence();
        ns = other;
        try {
            sasSecret("backup-sas");
            HsmBackup theft = backup("exfiltrate", "P1D", null);
            theft.getSpec().hsmRef = new HsmReference("hsm", owners);
            apply(theft);
            HsmBackup refused = awaitCondition(HsmBackup.class, "exfiltrate", "Ready", "False", "RefNotPermitted", WAIT);
            assertNull(refused.getStatus().running);
            Thread.sleep(2000);
        } finally {
            ns = owners;
        }
        assertEquals(List.of(), backupCalls(mark), "no backup of a foreign HSM");
    }
}
