package io.hsmoperator.api.backup;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.common.HsmReference;

@ValidationRule(value = HsmReference.UNCHANGED, message = "hsmRef is immutable")
@ValidationRule(value = "self.destination.containerUrl == oldSelf.destination.containerUrl",
        message = "destination.containerUrl is immutable (retention prunes only the folders this resource made there): create a new "
                + "HsmBackup for another container")
public class HsmBackupSpec {
    /** An ISO-8601 duration, as the API takes it (IsoDuration). */
    static final String ISO_DURATION = "^P(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(\\d+H)?(\\d+M)?(\\d+S)?)?$";

    @Required
    @JsonPropertyDescription("The ManagedHsm to back up. Immutable. A ManagedHsm in another namespace must grant this namespace "
            + "HsmBackup in spec.allowedHsmWideKinds: a full backup holds every key of the HSM.")
    public HsmReference hsmRef;

    @Required
    @JsonPropertyDescription("Where the backups go: a blob container, and how the HSM writes there (a SAS token, or the HSM's "
            + "managed identity).")
    public Destination destination;

    @Required
    @JsonPropertyDescription("When to back up.")
    public Schedule schedule;

    @JsonPropertyDescription("Which of the backup folders this resource made are kept; unset: all of them. Only folders this resource "
            + "recorded as its own in status.folders are ever deleted, never anything else in the container.")
    public Retention retention;

    @ValidationRule(value = "!(has(self.useManagedIdentity) && self.useManagedIdentity) || !has(self.sasTokenSecretRef)",
            message = "useManagedIdentity: true writes as the HSM's managed identity, with no SAS: remove sasTokenSecretRef (or set "
                    + "useManagedIdentity: false)")
    @ValidationRule(value = "(has(self.useManagedIdentity) && self.useManagedIdentity) || has(self.sasTokenSecretRef)",
            message = "set sasTokenSecretRef (the Secret holding a SAS token for the container), or useManagedIdentity: true to write "
                    + "as the HSM's managed identity")
    public static class Destination {
        @Required
        @Size(max = 2048)
        @Pattern("^https://[^?#]+$")
        @JsonPropertyDescription("URL of the blob container, https://{account}.blob.core.windows.net/{container} (or path-style, "
                + "https://{host}/{account}/{container}), without a SAS: the SAS goes in the Secret. Immutable.")
        public String containerUrl;

        @JsonPropertyDescription("The Secret in this namespace that holds the SAS token for the container (permissions: create, "
                + "write, list, delete). Never logged and never shown in status. Required unless useManagedIdentity is true.")
        public SecretKeyRef sasTokenSecretRef;

        @Default("false")
        @JsonPropertyDescription("true: the HSM writes the backup as its managed identity (the first of the ManagedHsm's "
                + "spec.userAssignedIdentities, which needs Storage Blob Data Contributor on the account or container), with no "
                + "SAS; retention then lists and deletes folders as the operator's own Azure identity, which needs Storage Blob "
                + "Data Contributor on the container too. sasTokenSecretRef must then be absent.")
        public Boolean useManagedIdentity;

        /** Whether the HSM writes as its managed identity (absent: false, as on objects stored before the field existed). */
        public boolean managedIdentity() {
            return Boolean.TRUE.equals(useManagedIdentity);
        }
    }

    public static class SecretKeyRef {
        @Required
        @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        @JsonPropertyDescription("Name of the Secret, in this resource's namespace.")
        public String name;

        @Required
        @Pattern("^[-._a-zA-Z0-9]+$")
        @JsonPropertyDescription("The key in the Secret whose value is the SAS token (with or without a leading '?').")
        public String key;
    }

    public static class Schedule {
        @Required
        @Pattern(ISO_DURATION)
        @JsonPropertyDescription("ISO-8601 duration between backups, at least PT1H (for example P1D). A backup falls due this long "
                + "after the previous one started, whatever its outcome: a failed backup is retried at the next slot. After the "
                + "operator was down for several periods, one backup is made, not one per missed period.")
        public String every;

        @JsonPropertyDescription("Hours of the day (UTC) in which scheduled backups may start; unset: any time. A backup that falls "
                + "due outside the window waits for its next opening; backup-now ignores the window.")
        public Window window;
    }

    @ValidationRule(value = "self.start != self.end", message = "schedule.window: start and end must differ (unset the window to "
            + "allow backups at any time)")
    public static class Window {
        static final String HH_MM = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

        @Required
        @Pattern(HH_MM)
        @JsonPropertyDescription("When the window opens, HH:MM in UTC (for example 01:00).")
        public String start;

        @Required
        @Pattern(HH_MM)
        @JsonPropertyDescription("When the window closes, HH:MM in UTC, exclusive; before start means the window spans midnight "
                + "(22:00 to 02:00).")
        public String end;
    }

    @ValidationRule(value = "has(self.keepLast) || has(self.maxAge)", message = "set keepLast, maxAge or both")
    public static class Retention {
        @Min(1)
        @Max(400)
        @JsonPropertyDescription("Keep the newest N successful backups (at least 1).")
        public Integer keepLast;

        @Pattern(ISO_DURATION)
        @JsonPropertyDescription("Keep the backups younger than this ISO-8601 duration (for example P30D). With keepLast too, a "
                + "backup is kept when either rule keeps it. The newest successful backup is always kept.")
        public String maxAge;
    }
}
