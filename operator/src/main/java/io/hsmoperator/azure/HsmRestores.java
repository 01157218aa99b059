package io.hsmoperator.azure;

import java.time.Instant;

/**
 * Managed HSM restores from a full backup folder: of every key (full restore) or of one key (selective restore), and the
 * status of their jobs. The SAS token is passed through and never kept, logged or put in a message. Nothing here deletes
 * or purges a key to make room for one.
 */
public interface HsmRestores {
    /**
     * Starts a full restore of the HSM from {@code folderUrl} (a backup folder: container URL and folder name): every key
     * of the HSM is replaced by the backup's. A 409 (another backup or restore runs on the HSM) is a CONFLICT AzureError.
     */
    Job startFull(String hsmUri, String folderUrl, String sas);

    /** Starts a restore of key {@code keyName} alone from {@code folderUrl}; a 409 is a CONFLICT AzureError. */
    Job startSelective(String hsmUri, String keyName, String folderUrl, String sas);

    /** The restore job {@code jobId} of the HSM (GET /restore/{jobId}/pending); a job Azure does not know is a NOT_FOUND AzureError. */
    Job job(String hsmUri, String jobId);

    /**
     * A restore job: InProgress, Succeeded or Failed; {@code details}: Azure's statusDetails (a selective restore counts the
     * key versions it restored and those it could not overwrite); {@code error}: "code: message", SAS redacted.
     */
    record Job(String id, String status, Instant start, Instant end, String details, String error, Mutation mutation) {
        public boolean running() {
            return !"Succeeded".equalsIgnoreCase(status) && !"Failed".equalsIgnoreCase(status) && !"Canceled".equalsIgnoreCase(status);
        }

        public boolean succeeded() {
            return "Succeeded".equalsIgnoreCase(status);
        }
    }

    /**
     * Whether a selective restore that Azure reports Succeeded restored nothing: Azure never overwrites an existing key, and
     * says so only in statusDetails ("Number of successful key versions restored: 0, Number of key versions could not
     * overwrite: 2", as recorded), not as a failure.
     */
    static boolean restoredNothing(String details) {
        return details != null && details.matches("(?is).*key versions restored:\\s*0\\b.*");
    }
}
