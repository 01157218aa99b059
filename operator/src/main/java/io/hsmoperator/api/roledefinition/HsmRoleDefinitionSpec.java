package io.hsmoperator.api.roledefinition;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.common.HsmReference;

import java.util.ArrayList;
import java.util.List;

@ValidationRule(value = HsmReference.UNCHANGED, message = "hsmRef is immutable: a role definition stays in the HSM it was made in")
@ValidationRule(value = "(has(self.dataActions) ? size(self.dataActions) : 0) + (has(self.actions) ? size(self.actions) : 0) > 0",
        message = "a role definition must permit something: list at least one data action")
public class HsmRoleDefinitionSpec {
    /** An action as Managed HSM spells it: letters, digits and / . * - _, e.g. Microsoft.KeyVault/managedHsm/keys/read/action. */
    static final String ACTION = "^[A-Za-z0-9*][A-Za-z0-9/._*-]*$";

    public enum DeletionPolicy {
        /** Delete the role definition from the HSM, once no HsmRoleAssignment uses it. */
        Delete,
        /** Leave the role definition in the HSM. */
        Retain
    }

    @Required
    @JsonPropertyDescription("The ManagedHsm the role is defined in. Immutable.")
    public HsmReference hsmRef;

    @Required
    @Size(min = 1, max = 200)
    @JsonPropertyDescription("The role's name as Azure shows it (roleName).")
    public String roleName;

    @Size(max = 500)
    @JsonPropertyDescription("What the role is for. The operator appends its ownership mark, which names this resource.")
    public String description;

    @Size(max = 100)
    @JsonPropertyDescription("Data actions the role permits, e.g. Microsoft.KeyVault/managedHsm/keys/read/action; * is a wildcard. "
            + "A role that can administer the HSM (role management, security domain, backup, restore, settings) or take keys out "
            + "of it (export, release, backup, restore, purge) is refused unless the operator's configuration allows it.")
    public List<@Pattern(ACTION) String> dataActions = new ArrayList<>();

    @Size(max = 100)
    @JsonPropertyDescription("Data actions subtracted from dataActions. They do not make an administrative role acceptable: a role "
            + "is judged by the most its dataActions may grant.")
    public List<@Pattern(ACTION) String> notDataActions = new ArrayList<>();

    @Size(max = 100)
    @JsonPropertyDescription("Control-plane actions (Managed HSM local roles rarely use them); judged like dataActions.")
    public List<@Pattern(ACTION) String> actions = new ArrayList<>();

    @Size(max = 100)
    @JsonPropertyDescription("Control-plane actions subtracted from actions.")
    public List<@Pattern(ACTION) String> notActions = new ArrayList<>();

    @Default("Delete")
    @JsonPropertyDescription("What deleting this resource does: Delete (default, like HsmRoleAssignment) removes the role definition "
            + "from the HSM once no HsmRoleAssignment uses it; Retain leaves it.")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Delete;
}
