package io.hsmoperator.reconciler;

import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.models.BlobItem;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.backup.HsmBackupStatus;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged operator, as its own process, is killed (SIGKILL, as the kubelet does after a failed liveness probe or an
 * OOM) while a backup job it started runs in Azure; the process that replaces it knows the job only from what the first
 * recorded in status before it waited, and waits on that job instead of starting another. The operator inside this test
 * JVM only hosts the emulator; it watches a namespace nobody uses.
 */
@QuarkusTest
@TestProfile(LeaderElectionIT.Elsewhere.class)
class HsmBackupRestartIT extends JobRestartTestBase {
    private static final Duration WAIT = Duration.ofSeconds(90);

    @Override
    String logDir() {
        return "hsmbackup-restart";
    }

    @Test
    void theSuccessorOfAKilledOperatorWaitsOnTheRecordedJobAndStartsNoOther() throws Exception {
        BlobContainerClient container = storage("restarts", "backup-sas", "cwdl");

        Process first = operator("first");
        String hsmName = readyHsm("hsm").getSpec().azureName;
        // The job's polls fail while the first process runs: it has started the job and recorded it, and can see no more.
        Controls.Fault polls = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/backup/[^/]+/pending", 503, 0, 100000));
        long mark = emulator.controls().lastSequence();
        String jobId;
        try {
            apply(hsmBackup(ns, "nightly", new HsmReference("hsm", null), container.getBlobContainerUrl(), "backup-sas", "P1D"));
            await().atMost(WAIT).until(() -> {
                HsmBackup b = get(HsmBackup.class, "nightly");
                return b != null && b.getStatus() != null && b.getStatus().running != null;
            });
            jobId = get(HsmBackup.class, "nightly").getStatus().running.jobId;
            await().atMost(WAIT).until(() -> polls.hits() >= 2);
            assertTrue(first.destroyForcibly().waitFor(10, TimeUnit.SECONDS), "the first operator is gone");
        } finally {
            emulator.controls().removeFault(polls);
        }
        assertEquals(1, backupStarts(mark), "the first operator started one job");

        operator("second");
        HsmBackup done;
        try {
            done = await().atMost(WAIT).until(() -> get(HsmBackup.class, "nightly"),
                    b -> b.getStatus().running == null && b.getStatus().history.size() == 1);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
        HsmBackupStatus.Attempt attempt = done.getStatus().history.get(0);
        assertEquals(jobId, attempt.jobId, "the second operator waited on the job the first recorded");
        assertEquals(HsmBackupStatus.Outcome.Succeeded, attempt.outcome, attempt.error);
        String folder = attempt.folderUrl.substring(attempt.folderUrl.lastIndexOf('/') + 1);
        assertTrue(container.listBlobs().stream().map(BlobItem::getName).anyMatch(n -> n.startsWith(folder + "/")),
                "the job's folder is in the container");
        Thread.sleep(2000);
        assertEquals(1, backupStarts(mark), "no second job was started");
        assertNoSasInTheLogs("first", "second");
    }

    /** Backup jobs started on this test's HSM since {@code mark}, by any principal (other tests' resources live on). */
    private long backupStarts(long mark) {
        String hsm = get(ManagedHsm.class, "hsm").getSpec().azureName;
        return emulator.controls().journal(e -> e.seq() > mark && hsm.equals(e.endpoint()) && e.method().equals("POST")
                && e.path().equals("/backup")).size();
    }
}
