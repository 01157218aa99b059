package io.hsmoperator.api.backup;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

import java.util.ArrayList;
import java.util.List;

public class HsmBackupStatus extends HsmRefStatus {
    /** What started a backup. */
    public enum Trigger {
        Schedule, BackupNow
    }

    public enum Outcome {
        Succeeded, Failed
    }

    @JsonPropertyDescription("The last backup that succeeded.")
    public LastSuccessful lastSuccessful;

    @JsonPropertyDescription("When the next scheduled backup may start (RFC 3339): every after the last start, or the "
            + "schedule window's next opening when that falls outside the window.")
    public String nextBackupTime;

    @JsonPropertyDescription("The backup job running now, recorded before the operator waits on it: a restarted operator resumes "
            + "waiting on the same job.")
    public Running running;

    @JsonPropertyDescription("The last 10 backups and their outcomes, newest first.")
    public List<Attempt> history = new ArrayList<>();

    @JsonPropertyDescription("The backup folders this resource made and keeps, oldest first: retention deletes only these.")
    public List<Folder> folders = new ArrayList<>();

    @JsonPropertyDescription("The last hsmoperator.io/backup-now token handled (one backup per distinct token).")
    public String lastBackupNowToken;

    public static class LastSuccessful {
        @JsonPropertyDescription("When the backup started (RFC 3339).")
        public String time;

        @JsonPropertyDescription("URL of the backup folder in the container.")
        public String folderUrl;

        @JsonPropertyDescription("How long the backup took (ISO-8601 duration).")
        public String duration;
    }

    public static class Running {
        @JsonPropertyDescription("Azure's ID of the backup job.")
        public String jobId;

        @JsonPropertyDescription("Schedule or BackupNow.")
        public Trigger trigger;

        @JsonPropertyDescription("The backup-now token the job answers, if it does.")
        public String token;

        @JsonPropertyDescription("When the operator started the job (RFC 3339).")
        public String startTime;
    }

    public static class Attempt {
        @JsonPropertyDescription("Azure's ID of the backup job.")
        public String jobId;

        @JsonPropertyDescription("Schedule or BackupNow.")
        public Trigger trigger;

        @JsonPropertyDescription("When the job started (RFC 3339).")
        public String startTime;

        @JsonPropertyDescription("When the job ended (RFC 3339).")
        public String endTime;

        @JsonPropertyDescription("Succeeded or Failed.")
        public Outcome outcome;

        @JsonPropertyDescription("The folder the backup wrote, when it succeeded.")
        public String folderUrl;

        @JsonPropertyDescription("Why it failed: Azure's error code and message.")
        public String error;
    }

    public static class Folder {
        @JsonPropertyDescription("URL of the backup folder.")
        public String url;

        @JsonPropertyDescription("When its backup started (RFC 3339).")
        public String time;
    }
}
