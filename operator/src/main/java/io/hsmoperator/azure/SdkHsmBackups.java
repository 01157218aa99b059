package io.hsmoperator.azure;

import com.azure.core.util.polling.LongRunningOperationStatus;
import com.azure.core.util.polling.PollResponse;
import com.azure.security.keyvault.administration.models.KeyVaultBackupOperation;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.models.BlobItem;
import com.azure.storage.blob.models.BlobStorageException;
import com.azure.storage.blob.models.ListBlobsOptions;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * {@link HsmBackups}: the backup start through KeyVaultBackupClient, the job's status by its ID (which the SDK's poller
 * cannot resume from) with a GET on the data-plane pipeline ({@link JobStatus}), and the container through the Storage SDK.
 */
@Singleton
public class SdkHsmBackups implements HsmBackups {
    private final AzureClients clients;

    public SdkHsmBackups(AzureClients clients) {
        this.clients = clients;
    }

    @Override
    @AzureWrite
    public Job start(String hsmUri, String containerUrl, String sas) {
        return AzureError.call(() -> {
            // The poller sends the POST when it is made; waiting for NOT_STARTED returns that first answer without polling.
            PollResponse<KeyVaultBackupOperation> first = clients.backup(hsmUri).beginBackup(containerUrl, sas)
                    .waitUntil(LongRunningOperationStatus.NOT_STARTED);
            KeyVaultBackupOperation op = first.getValue();
            if (op == null || op.getOperationId() == null) {
                throw new AzureError(AzureError.Kind.TRANSIENT, 0, "NoJobId", "Azure accepted the backup but named no job", null, null);
            }
            return new Job(op.getOperationId(), op.getStatus() == null ? "InProgress" : op.getStatus(), op.getAzureStorageBlobContainerUrl(),
                    op.getStartTime() == null ? null : op.getStartTime().toInstant(), null, null, new Mutation("unknown", 202));
        });
    }

    @Override
    public Job job(String hsmUri, String jobId) {
        JobStatus.Read r = JobStatus.read(clients, hsmUri, "backup", jobId);
        return new Job(r.body().path("jobId").asText(jobId), r.body().path("status").asText("InProgress"), r.text("azureStorageBlobContainerUri"),
                r.epoch("startTime"), r.epoch("endTime"), r.error(), r.mutation());
    }

    @Override
    public List<String> blobs(String containerUrl, String sas, String folder) {
        return storage("list " + folder, sas == null, () -> {
            List<String> names = new ArrayList<>();
            for (BlobItem b : container(containerUrl, sas).listBlobs(new ListBlobsOptions().setPrefix(folder + "/"), clients.timeout())) {
                names.add(b.getName());
            }
            return names;
        });
    }

    @Override
    @AzureWrite
    public int deleteFolder(String containerUrl, String sas, String folder) {
        BlobContainerClient c = container(containerUrl, sas);
        List<String> names = blobs(containerUrl, sas, folder);
        for (String name : names) {
            storage("delete " + name, sas == null, () -> c.getBlobClient(name).deleteIfExists());
        }
        return names.size();
    }

    private BlobContainerClient container(String containerUrl, String sas) {
        return clients.container(containerUrl, sas);
    }

    /**
     * Runs a Storage SDK call; a refusal comes out classified, with the storage's status and error code only: its messages
     * can quote the request, and the request carries the SAS. {@code asOperator}: authorised as the operator's own identity,
     * whose missing role is then what a 403 says to grant.
     */
    private static <T> T storage(String what, boolean asOperator, Supplier<T> call) {
        try {
            return call.get();
        } catch (BlobStorageException e) {
            int s = e.getStatusCode();
            AzureError.Kind kind = s == 429 ? AzureError.Kind.THROTTLED : s >= 500 || s == 408 ? AzureError.Kind.TRANSIENT : s == 403
                    ? AzureError.Kind.FORBIDDEN : s == 404 ? AzureError.Kind.NOT_FOUND : s == 409 ? AzureError.Kind.CONFLICT
                    : AzureError.Kind.BAD_REQUEST;
            String code = e.getErrorCode() == null ? String.valueOf(s) : e.getErrorCode().toString();
            throw new AzureError(kind, s, code, "The storage account refused to " + what + " (" + code + ")" + (asOperator && s == 403
                    ? ": with useManagedIdentity, retention lists and deletes as the operator's own Azure identity, which needs "
                    + "Storage Blob Data Contributor on the container" : ""),
                    e.getResponse() == null ? null : AzureError.retryAfter(e.getResponse()), null);
        } catch (RuntimeException e) {
            AzureError err = AzureError.of(e);
            throw new AzureError(err.kind(), err.status(), err.code(), HsmBackups.redact(err.getMessage()), err.retryAfter(), null);
        }
    }
}
