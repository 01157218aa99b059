package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Azure RBAC on the management plane as ARM enforces it: role definitions (actions and notActions, with {@code *}
 * wildcards, case-insensitive) assigned to principals at scopes. A request needs an assignment at its scope or above
 * whose role permits the action ARM derives from the request's resource type and method; linked resources (a subnet a
 * private endpoint joins, a DNS zone a zone group names) need their join action at their own scope.
 */
final class ArmAuthorization {
    /** The built-in roles a test or the emulator's own principal is given (Contributor as Azure defines it, abridged). */
    static final Map<String, State.ArmRole> BUILT_IN = Map.of(
            "owner", role("Owner", List.of("*"), List.of()),
            "contributor", role("Contributor", List.of("*"), List.of("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                    "Microsoft.Authorization/elevateAccess/Action")),
            "reader", role("Reader", List.of("*/read"), List.of()),
            "storage blob data contributor", dataRole("Storage Blob Data Contributor",
                    List.of("Microsoft.Storage/storageAccounts/blobServices/containers/delete",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
                    List.of("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action")),
            "storage blob data reader", dataRole("Storage Blob Data Reader",
                    List.of("Microsoft.Storage/storageAccounts/blobServices/containers/read",
                            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
                    List.of("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read")));

    private ArmAuthorization() {
    }

    static State.ArmRole role(String name, List<String> actions, List<String> notActions) {
        State.ArmRole r = new State.ArmRole();
        r.name = name;
        r.actions = new ArrayList<>(actions);
        r.notActions = new ArrayList<>(notActions);
        return r;
    }

    private static State.ArmRole dataRole(String name, List<String> actions, List<String> dataActions) {
        State.ArmRole r = role(name, actions, List.of());
        r.dataActions = new ArrayList<>(dataActions);
        return r;
    }

    /** A role definition in the format of {@code az role definition create --role-definition @file}. */
    static State.ArmRole fromAzCliFile(Path file) {
        try {
            JsonNode d = Json.MAPPER.readTree(file.toFile());
            List<String> actions = new ArrayList<>();
            List<String> notActions = new ArrayList<>();
            d.path("Actions").forEach(a -> actions.add(a.asText()));
            d.path("NotActions").forEach(a -> notActions.add(a.asText()));
            if (d.path("Name").asText("").isEmpty() || actions.isEmpty()) {
                throw new IllegalArgumentException(file + " is not a role definition (Name and Actions are required)");
            }
            return role(d.path("Name").asText(), actions, notActions);
        } catch (IOException e) {
            throw new IllegalArgumentException("Cannot read the role definition " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The action of an ARM request: {@code Namespace/type[/subtype…]/read|write|delete}, or {@code …/name/action} for a
     * POST to an operation (the last path segment after the resource's name, or a provider-level operation).
     */
    static String action(String method, List<String> seg) {
        int providers = -1;
        for (int i = 2; i + 1 < seg.size(); i++) {
            if (seg.get(i).equalsIgnoreCase("providers")) {
                providers = i;
            }
        }
        String verb = switch (method) {
            case "GET", "HEAD" -> "read";
            case "DELETE" -> "delete";
            default -> "write";
        };
        if (providers < 0) {
            if (seg.size() <= 2) {
                return "Microsoft.Resources/subscriptions/" + verb;
            }
            return "Microsoft.Resources/subscriptions/resourceGroups/" + verb;
        }
        List<String> rest = seg.subList(providers + 2, seg.size());
        StringBuilder a = new StringBuilder(seg.get(providers + 1));
        boolean operation = method.equals("POST") && rest.size() % 2 == 1;
        int types = operation ? rest.size() - 1 : rest.size();
        for (int i = 0; i < types; i += 2) {
            a.append('/').append(rest.get(i));
        }
        return operation ? a.append('/').append(rest.get(rest.size() - 1)).append("/action").toString() : a.append('/').append(verb).toString();
    }

    /** Whether the principal holds the action at the scope (a resource ID, or a prefix of one). */
    static boolean permits(State state, String principal, String action, String scope) {
        for (State.ArmRoleAssignment a : state.armRoleAssignments) {
            if (!a.principalId.equalsIgnoreCase(principal) || !within(scope, a.scope)) {
                continue;
            }
            State.ArmRole role = definition(state, a.role);
            if (role != null && role.actions.stream().anyMatch(p -> Rbac.matches(p, action))
                    && role.notActions.stream().noneMatch(p -> Rbac.matches(p, action))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the principal may perform {@code dataAction} on the blobs of a container of the storage account named
     * {@code account}: a role with the data action assigned at the account, its blob service or the container, or above
     * (a resource group or subscription: the emulator's Blob service, Azurite, is no ARM resource, so an assignment at any
     * resource group or subscription counts, and one naming another account or container does not).
     */
    static boolean permitsData(State state, String principal, String dataAction, String account, String container) {
        java.util.regex.Pattern storage = java.util.regex.Pattern.compile("^/subscriptions/[^/]+(/resourcegroups/[^/]+"
                + "(/providers/microsoft\\.storage/storageaccounts/" + java.util.regex.Pattern.quote(account.toLowerCase(Locale.ROOT))
                + "(/blobservices/default(/containers/" + java.util.regex.Pattern.quote(container.toLowerCase(Locale.ROOT)) + ")?)?)?)?$");
        for (State.ArmRoleAssignment a : state.armRoleAssignments) {
            String scope = a.scope.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
            if (!a.principalId.equalsIgnoreCase(principal) || !(scope.isEmpty() || storage.matcher(scope).matches())) {
                continue;
            }
            State.ArmRole role = definition(state, a.role);
            if (role != null && role.dataActions != null && role.dataActions.stream().anyMatch(p -> Rbac.matches(p, dataAction))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Done once when state is created or loaded: state files written before ARM RBAC was enforced keep their built-in
     * principal the Owner of everything it could reach before.
     */
    static void migrate(State state) {
        if (state.armRoleAssignments == null) {
            state.armRoleAssignments = new ArrayList<>();
            state.armRoleAssignments.add(assignment(state.principals.keySet().iterator().next(), "Owner", "/"));
        }
    }

    static State.ArmRoleAssignment assignment(String principal, String role, String scope) {
        State.ArmRoleAssignment a = new State.ArmRoleAssignment();
        a.principalId = principal;
        a.role = role;
        a.scope = scope;
        return a;
    }

    static State.ArmRole definition(State state, String name) {
        State.ArmRole custom = state.armRoleDefinitions.get(name.toLowerCase(Locale.ROOT));
        return custom != null ? custom : BUILT_IN.get(name.toLowerCase(Locale.ROOT));
    }

    private static boolean within(String scope, String assigned) {
        String s = scope.toLowerCase(Locale.ROOT);
        String a = assigned.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
        return a.isEmpty() || s.equals(a) || s.startsWith(a + "/");
    }
}
