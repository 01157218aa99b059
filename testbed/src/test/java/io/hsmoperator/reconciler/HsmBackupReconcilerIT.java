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

    /** Backup jobs the operator started since {@code mark} (accepted or not). */
    private long backupStarts(long mark) {
        String operator = emulator.builtInPrincipal().objectId();
        return emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal()) && e.method().equals("POST")
                && e.path().equals("/backup")).size();
    }

    /** Any request of the operator to the HSM's backup API or to the storage since {@code mark}. */
    private List<Controls.JournalEntry> backupCalls(long mark) {
        return emulator.controls().journal(e -> e.seq() > mark && (e.path().startsWith("/backup") || e.path().startsWith("/restore")));
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

        assertTrue(condition(awaitCondition(HsmBackup.class, "not-blob", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("not the URL of a blob container"));
        assertTrue(condition(awaitCondition(HsmBackup.class, "too-often", "Stalled", "True", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("shorter than an hour"));
        assertTrue(condition(awaitCondition(HsmBackup.class, "no-secret", "Stalled", "True", "SecretMissing", WAIT), "Ready").getMessage()
                .contains("does not exist"));
        refusedAtAdmission(withSas, "containerUrl");
        refusedAtAdmission(backup("keep-none", "P1D", 0), "keepLast");
        Thread.sleep(2000);
        assertEquals(List.of(), backupCalls(mark), "no backup call for bad input");
        assertEquals(Set.of(), blobs());
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
