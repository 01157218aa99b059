package io.hsmoperator.api.restore;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.backup.HsmBackupSpec;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKeySpec;

@ValidationRule(value = HsmReference.UNCHANGED, message = "hsmRef is immutable: an HsmRestore runs once; create a new HsmRestore")
@ValidationRule(value = HsmRestoreSpec.UNCHANGED, message = "an HsmRestore runs once and its spec is immutable: create a new HsmRestore")
@ValidationRule(value = "has(self.keyName) || has(self.confirmFullRestoreOf)", message = "a full restore (no keyName) replaces every key "
        + "of the HSM: set confirmFullRestoreOf to the target ManagedHsm's spec.azureName, or set keyName to restore one key")
@ValidationRule(value = "!has(self.keyName) || !has(self.confirmFullRestoreOf)", message = "confirmFullRestoreOf is for a full restore "
        + "only: a restore of keyName replaces no key; remove one of them")
public class HsmRestoreSpec {
    /**
     * CEL: nothing but the spelling of hsmRef changes (that rule is {@link HsmReference#UNCHANGED}, which lets its namespace
     * be written out or left out): a one-shot restore has nothing to update.
     */
    static final String UNCHANGED = "self.source == oldSelf.source"
            + " && (has(self.keyName) ? has(oldSelf.keyName) && self.keyName == oldSelf.keyName : !has(oldSelf.keyName))"
            + " && (has(self.confirmFullRestoreOf) ? has(oldSelf.confirmFullRestoreOf)"
            + " && self.confirmFullRestoreOf == oldSelf.confirmFullRestoreOf : !has(oldSelf.confirmFullRestoreOf))";

    @Required
    @JsonPropertyDescription("The ManagedHsm to restore into. A ManagedHsm in another namespace must grant this namespace HsmRestore "
            + "in spec.allowedHsmWideKinds: a restore writes keys HSM-wide.")
    public HsmReference hsmRef;

    @Required
    @JsonPropertyDescription("The backup folder to restore from, and the SAS token that lets the HSM read it.")
    public Source source;

    @Pattern(HsmKeySpec.KEY_NAME)
    @JsonPropertyDescription("Restore only this key (selective restore); it must not exist in the HSM, live or soft-deleted: the "
            + "operator never deletes or purges to make room. Unset: a full restore, which replaces every key of the HSM with the "
            + "backup's and needs confirmFullRestoreOf.")
    public String keyName;

    @Size(min = 3, max = 24)
    @Pattern("^[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9])+$")
    @JsonPropertyDescription("For a full restore, required: the target ManagedHsm's spec.azureName, written out to confirm that every "
            + "key of that HSM is replaced by the backup's.")
    public String confirmFullRestoreOf;

    public static class Source {
        /** A backup folder's URL: https, no query, its last segment mhsm-{hsm}-{digits} (HsmBackups.folderUrlProblem checks it all). */
        public static final String FOLDER_URL = "^https://[^?#]+/mhsm-[a-zA-Z0-9-]+-[0-9]{8,}/?$";

        @Required
        @Size(max = 2048)
        @Pattern(FOLDER_URL)
        @JsonPropertyDescription("URL of the backup folder, https://{account}.blob.core.windows.net/{container}/mhsm-{hsm}-{time} (or "
                + "path-style, https://{host}/{account}/{container}/mhsm-{hsm}-{time}), as an HsmBackup's status.lastSuccessful.folderUrl "
                + "names it, without a SAS: the SAS goes in the Secret.")
        public String folderUrl;

        @Required
        @JsonPropertyDescription("The Secret in this namespace that holds the SAS token for the container (permissions: read, list; "
                + "sp=rl). Never logged and never shown in status.")
        public HsmBackupSpec.SecretKeyRef sasTokenSecretRef;
    }
}
