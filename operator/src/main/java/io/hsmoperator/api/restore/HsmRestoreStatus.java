package io.hsmoperator.api.restore;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

public class HsmRestoreStatus extends HsmRefStatus {
    public enum Phase {
        /** No job started yet (validating, waiting for the HSM or for another job). */
        Pending,
        /** The job runs in Azure; its ID is in jobId. */
        Running,
        Succeeded,
        Failed
    }

    @JsonPropertyDescription("Pending (no job yet), Running, Succeeded or Failed. Succeeded and Failed are final: the resource never "
            + "starts another job.")
    public Phase phase;

    @JsonPropertyDescription("Azure's ID of the restore job, recorded before the operator waits on it: a restarted operator polls the "
            + "same job and never starts a second.")
    public String jobId;

    @JsonPropertyDescription("When the operator asked Azure to start the job (RFC 3339), recorded before it asked and kept until "
            + "Azure named the job or certainly refused it: an answer lost on the way leaves it, and the restore is then Failed "
            + "(StartResultUnknown) rather than started a second time.")
    public String startRequestedAt;

    @JsonPropertyDescription("When the job started (RFC 3339).")
    public String startTime;

    @JsonPropertyDescription("When the job ended (RFC 3339).")
    public String endTime;

    @JsonPropertyDescription("The backup folder the job restores from.")
    public String restoredFrom;

    @JsonPropertyDescription("The key a selective restore restores.")
    public String keyName;

    @JsonPropertyDescription("True for a full restore (every key of the HSM replaced by the backup's).")
    public Boolean full;

    @JsonPropertyDescription("What Azure reported of the job's work (statusDetails), such as the number of key versions restored.")
    public String details;

    @JsonPropertyDescription("Why it failed: Azure's error code and message.")
    public String error;
}
