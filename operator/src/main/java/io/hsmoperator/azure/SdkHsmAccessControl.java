package io.hsmoperator.azure;

import com.azure.core.util.Context;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.models.KeyVaultDataAction;
import com.azure.security.keyvault.administration.models.KeyVaultPermission;
import com.azure.security.keyvault.administration.models.KeyVaultRoleAssignment;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.administration.models.SetRoleDefinitionOptions;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** {@link HsmAccessControl} on KeyVaultAccessControlClient. */
@Singleton
public class SdkHsmAccessControl implements HsmAccessControl {
    private final AzureClients clients;

    public SdkHsmAccessControl(AzureClients clients) {
        this.clients = clients;
    }

    private KeyVaultAccessControlClient client(String hsmUri) {
        return clients.accessControl(hsmUri);
    }

    @Override
    public List<RoleDefinition> roleDefinitions(String hsmUri) {
        try {
            List<RoleDefinition> out = new ArrayList<>();
            client(hsmUri).listRoleDefinitions(KeyVaultRoleScope.GLOBAL).forEach(d -> {
                List<String> actions = new ArrayList<>();
                if (d.getPermissions() != null) {
                    d.getPermissions().forEach(p -> {
                        if (p.getDataActions() != null) {
                            p.getDataActions().forEach(a -> actions.add(a.toString()));
                        }
                    });
                }
                out.add(new RoleDefinition(d.getId(), d.getName(), d.getRoleName(), String.valueOf(d.getRoleType()), actions));
            });
            return out;
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation defineRole(String hsmUri, String name, String description, List<String> dataActions) {
        try {
            List<KeyVaultDataAction> actions = new ArrayList<>();
            dataActions.forEach(a -> actions.add(KeyVaultDataAction.fromString(a)));
            return Mutation.of(client(hsmUri).setRoleDefinitionWithResponse(new SetRoleDefinitionOptions(KeyVaultRoleScope.GLOBAL, name)
                    .setDescription(description).setPermissions(List.of(new KeyVaultPermission(List.of(), List.of(), actions, List.of()))),
                    Context.NONE));
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public List<Assignment> assignments(String hsmUri, String scope) {
        try {
            List<Assignment> out = new ArrayList<>();
            client(hsmUri).listRoleAssignments(KeyVaultRoleScope.fromString(scope)).forEach(a -> out.add(toAssignment(a)));
            return out;
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public Optional<Assignment> assignment(String hsmUri, String scope, String name) {
        return AzureError.find(() -> toAssignment(client(hsmUri).getRoleAssignmentWithResponse(KeyVaultRoleScope.fromString(scope), name,
                    Context.NONE).getValue()));
    }

    @Override
    @AzureWrite
    public Optional<Mutation> assign(String hsmUri, String scope, String name, String roleDefinitionId, String principalId) {
        try {
            return Optional.of(AzureError.call(() -> Mutation.of(client(hsmUri).createRoleAssignmentWithResponse(
                    KeyVaultRoleScope.fromString(scope), roleDefinitionId, principalId, name, Context.NONE))));
        } catch (AzureError e) {
            if (ASSIGNMENT_EXISTS.equals(e.code())) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Azure's error code (400) for an assignment that exists already, by name or by what it grants. */
    private static final String ASSIGNMENT_EXISTS = "RoleAssignmentExists";

    @Override
    @AzureWrite
    public Mutation unassign(String hsmUri, String scope, String name) {
        return AzureError.call(() -> Mutation.of(client(hsmUri).deleteRoleAssignmentWithResponse(KeyVaultRoleScope.fromString(scope), name, Context.NONE)));
    }

    private static Assignment toAssignment(KeyVaultRoleAssignment a) {
        return new Assignment(a.getName(), a.getProperties().getScope().toString(), a.getProperties().getRoleDefinitionId(),
                a.getProperties().getPrincipalId());
    }
}
