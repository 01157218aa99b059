package io.hsmoperator.azure;

import com.azure.core.http.HttpHeaderName;
import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.models.KeyVaultDataAction;
import com.azure.security.keyvault.administration.models.KeyVaultPermission;
import com.azure.security.keyvault.administration.models.KeyVaultRoleAssignment;
import com.azure.security.keyvault.administration.models.KeyVaultRoleDefinition;
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
            client(hsmUri).listRoleDefinitions(KeyVaultRoleScope.GLOBAL).forEach(d -> out.add(toDefinition(d)));
            return out;
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public Optional<RoleDefinition> roleDefinition(String hsmUri, String name) {
        return AzureError.find(() -> toDefinition(client(hsmUri).getRoleDefinitionWithResponse(KeyVaultRoleScope.GLOBAL, name,
                Context.NONE).getValue()));
    }

    /**
     * Written over the data-plane pipeline, not the SDK: KeyVaultAccessControlClient (4.6) sends the definition's name as
     * its roleName, whatever the options say.
     */
    @Override
    @AzureWrite
    public Mutation defineRole(String hsmUri, String name, String roleName, String description, Permissions p) {
        ObjectNode body = JSON.createObjectNode();
        ObjectNode props = body.putObject("properties");
        props.put("roleName", roleName).put("description", description).put("type", CUSTOM_ROLE);
        ObjectNode permission = props.putArray("permissions").addObject();
        p.actions().forEach(permission.putArray("actions")::add);
        p.notActions().forEach(permission.putArray("notActions")::add);
        p.dataActions().forEach(permission.putArray("dataActions")::add);
        p.notDataActions().forEach(permission.putArray("notDataActions")::add);
        props.putArray("assignableScopes").add("/");
        HttpRequest req = new HttpRequest(HttpMethod.PUT, AzureClients.base(hsmUri) + "/providers/Microsoft.Authorization/roleDefinitions/"
                + name + "?" + RBAC_API).setHeader(HttpHeaderName.CONTENT_TYPE, "application/json").setBody(body.toString());
        try (HttpResponse r = AzureError.call(() -> clients.dataPlanePipeline().sendSync(req, Context.NONE))) {
            byte[] bytes = r.getBodyAsByteArray().block(clients.timeout());
            if (r.getStatusCode() != 201 && r.getStatusCode() != 200) {
                throw AzureError.ofResponse(r, bytes, "role definition write failed");
            }
            String requestId = r.getHeaderValue(HttpHeaderName.fromString("x-ms-request-id"));
            return new Mutation(requestId == null ? "unknown" : requestId, r.getStatusCode());
        }
    }

    /** The RBAC API version the administration SDK of the build speaks. */
    private static final String RBAC_API = "api-version=7.5";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    @AzureWrite
    public Mutation deleteRoleDefinition(String hsmUri, String name) {
        Mutation m = AzureError.call(() -> Mutation.of(client(hsmUri).deleteRoleDefinitionWithResponse(KeyVaultRoleScope.GLOBAL, name,
                Context.NONE)));
        // The SDK answers a 404 without throwing ("delete of a missing definition does not throw"): absence, said as such.
        if (m.status() == 404) {
            throw new AzureError(AzureError.Kind.NOT_FOUND, 404, "RoleDefinitionNotFound", "Requested role definition not found", null, null);
        }
        return m;
    }

    private static RoleDefinition toDefinition(KeyVaultRoleDefinition d) {
        List<String> actions = new ArrayList<>();
        List<String> notActions = new ArrayList<>();
        List<String> dataActions = new ArrayList<>();
        List<String> notDataActions = new ArrayList<>();
        if (d.getPermissions() != null) {
            for (KeyVaultPermission p : d.getPermissions()) {
                addAll(actions, p.getActions());
                addAll(notActions, p.getNotActions());
                addAll(dataActions, p.getDataActions());
                addAll(notDataActions, p.getNotDataActions());
            }
        }
        return new RoleDefinition(d.getId(), d.getName(), d.getRoleName(), String.valueOf(d.getRoleType()), d.getDescription(),
                new Permissions(actions, notActions, dataActions, notDataActions));
    }

    private static void addAll(List<String> out, List<?> in) {
        if (in != null) {
            in.forEach(a -> out.add(a.toString()));
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
