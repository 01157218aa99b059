package io.hsmoperator.reconciler;

import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.storage.blob.BlobContainerClient;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.restore.HsmRestoreStatus;
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
 * The packaged operator, as its own process, is killed (SIGKILL) while a restore job it started runs in Azure; the
 * process that replaces it knows the job only from what the first recorded in status before it waited, and waits on
 * that job instead of starting another, then never starts one again. The operator inside this test JVM only hosts the
 * emulator; it watches a namespace nobody uses.
 */
@QuarkusTest
@TestProfile(LeaderElectionIT.Elsewhere.class)
class HsmRestoreRestartIT extends JobRestartTestBase {
    private static final Duration WAIT = Duration.ofSeconds(90);

    @Override
    String logDir() {
        return "hsmrestore-restart";
    }

    @Test
    void theSuccessorOfAKilledOperatorWaitsOnTheRecordedRestoreAndStartsNoOther() throws Exception {
        BlobContainerClient container = storage("restorerestarts", "restore-sas", "rl");

        Process first = operator("first");
        ManagedHsm hsm = readyHsm("hsm");
        String hsmName = hsm.getSpec().azureName;
        var team = azureAs(emulator.builtInPrincipal());
        team.rbac(hsm.getStatus().hsmUri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                io.hsmoperator.emulator.HsmFixtures.CRYPTO_USER, emulator.builtInPrincipal().objectId());
        awaitRbacPropagation();
        String kept = team.keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept")).getId();
        String folderUrl = team.backup(hsm.getStatus().hsmUri).beginBackup(container.getBlobContainerUrl(), sas(container, "crwdl"))
                .getFinalResult();
        team.keys(hsm.getStatus().hsmUri).createEcKey(new CreateEcKeyOptions("kept"));
        // The job's polls fail while the first process runs: it has started the job and recorded it, and can see no more.
        Controls.Fault polls = emulator.controls().addFault(Controls.Fault.status("GET", hsmName, "(?i)/restore/[^/]+/pending", 503, 0, 100000));
        long mark = emulator.controls().lastSequence();
        String jobId;
        try {
            apply(hsmRestore(ns, "undo", new HsmReference("hsm", null), folderUrl, "restore-sas", null, hsmName));
            await().atMost(WAIT).until(() -> {
                HsmRestore r = get(HsmRestore.class, "undo");
                return r != null && r.getStatus() != null && r.getStatus().jobId != null;
            });
            jobId = get(HsmRestore.class, "undo").getStatus().jobId;
            await().atMost(WAIT).until(() -> polls.hits() >= 2);
            assertTrue(first.destroyForcibly().waitFor(10, TimeUnit.SECONDS), "the first operator is gone");
        } finally {
            emulator.controls().removeFault(polls);
        }
        assertEquals(1, restoreStarts(mark), "the first operator started one job");

        operator("second");
        HsmRestore done;
        try {
            done = await().atMost(WAIT).until(() -> get(HsmRestore.class, "undo"),
                    r -> r.getStatus().phase == HsmRestoreStatus.Phase.Succeeded);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
        assertEquals(jobId, done.getStatus().jobId, "the second operator waited on the job the first recorded");
        assertEquals(kept, team.keys(hsm.getStatus().hsmUri).getKey("kept").getId(), "the backup's version is back");
        touch(HsmRestore.class, "undo");
        Thread.sleep(2000);
        assertEquals(1, restoreStarts(mark), "no second job was started, after the restart nor after the restore ended");
        assertNoSasInTheLogs("first", "second");
    }

    /** Full restore jobs started on this test's HSM since {@code mark}, by any principal (other tests' resources live on). */
    private long restoreStarts(long mark) {
        String hsm = get(ManagedHsm.class, "hsm").getSpec().azureName;
        return emulator.controls().journal(e -> e.seq() > mark && hsm.equals(e.endpoint()) && e.method().equals("PUT")
                && e.path().equals("/restore")).size();
    }
}
