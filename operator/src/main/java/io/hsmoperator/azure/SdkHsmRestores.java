package io.hsmoperator.azure;

import com.azure.core.util.polling.LongRunningOperationStatus;
import com.azure.core.util.polling.PollResponse;
import com.azure.core.util.polling.SyncPoller;
import com.azure.security.keyvault.administration.models.KeyVaultLongRunningOperation;
import jakarta.inject.Singleton;

/**
 * {@link HsmRestores}: the starts through KeyVaultBackupClient (beginRestore, beginSelectiveKeyRestore), the job's status
 * by its ID with a GET on the data-plane pipeline ({@link JobStatus}), as for backups.
 */
@Singleton
public class SdkHsmRestores implements HsmRestores {
    private final AzureClients clients;

    public SdkHsmRestores(AzureClients clients) {
        this.clients = clients;
    }

    @Override
    @AzureWrite
    public Job startFull(String hsmUri, String folderUrl, String sas) {
        return AzureError.call(() -> started(clients.backup(hsmUri).beginRestore(trimmed(folderUrl), sas)));
    }

    @Override
    @AzureWrite
    public Job startSelective(String hsmUri, String keyName, String folderUrl, String sas) {
        return AzureError.call(() -> started(clients.backup(hsmUri).beginSelectiveKeyRestore(keyName, trimmed(folderUrl), sas)));
    }

    @Override
    public Job job(String hsmUri, String jobId) {
        JobStatus.Read r = JobStatus.read(clients, hsmUri, "restore", jobId);
        return new Job(r.body().path("jobId").asText(jobId), r.body().path("status").asText("InProgress"), r.epoch("startTime"),
                r.epoch("endTime"), r.text("statusDetails"), r.error(), r.mutation());
    }

    /** The job as Azure answered its start: the poller sends the PUT when it is made, and NOT_STARTED returns that answer. */
    private static Job started(SyncPoller<? extends KeyVaultLongRunningOperation, ?> poller) {
        PollResponse<? extends KeyVaultLongRunningOperation> first = poller.waitUntil(LongRunningOperationStatus.NOT_STARTED);
        KeyVaultLongRunningOperation op = first.getValue();
        if (op == null || op.getOperationId() == null) {
            throw new AzureError(AzureError.Kind.TRANSIENT, 0, "NoJobId", "Azure accepted the restore but named no job", null, null);
        }
        return new Job(op.getOperationId(), op.getStatus() == null ? "InProgress" : op.getStatus(),
                op.getStartTime() == null ? null : op.getStartTime().toInstant(), null, null, null, new Mutation("unknown", 202));
    }

    /** The SDK splits the URL at its last '/' into container and folder: a trailing '/' would leave the folder empty. */
    private static String trimmed(String folderUrl) {
        return folderUrl.replaceAll("/+$", "");
    }
}
