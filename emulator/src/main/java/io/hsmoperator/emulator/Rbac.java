package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Managed HSM local RBAC: the built-in roles with their fixed IDs and data actions, and the check applied to every call. */
public final class Rbac {
    /** Object IDs, role definition and assignment names, subscription IDs: Azure accepts GUIDs only. */
    static final Pattern GUID = Pattern.compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

    public static final String PREFIX = "Microsoft.KeyVault/managedHsm/";
    public static final String ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";
    public static final String ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4";

    /** Built-in roles in the order the service lists them (wire: listRoleDefinitions, api 2025-07-01). */
    static final Map<String, ObjectNode> BUILT_IN = new LinkedHashMap<>();

    static {
        builtIn("abdd7ec4-a273-4265-bf38-e001014e2d8e", "Managed HSM EKM Administrator", "ekm/read/action", "ekm/write/action",
                "ekm/delete/action");
        builtIn("6efe6056-5259-49d2-8b3d-d3d73544b20b", "Managed HSM Restore User", "restore/start/action", "restore/status/action",
                "keys/restore/action");
        builtIn("7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup User", "backup/start/action", "backup/status/action",
                "keys/backup/action");
        builtIn("33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User", "keys/read/action",
                "keys/wrap/action", "keys/unwrap/action");
        builtIn("21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User", "keys/release/action");
        builtIn("2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor", "roleAssignments/read/action",
                "roleDefinitions/read/action", "keys/read/action", "keys/deletedKeys/read/action");
        builtIn("4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator", "roleDefinitions/read/action",
                "roleDefinitions/write/action", "roleDefinitions/delete/action", "roleAssignments/read/action",
                "roleAssignments/write/action", "roleAssignments/delete/action");
        builtIn("21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User", "roleDefinitions/read/action",
                "roleAssignments/read/action", "keys/read/action", "keys/write/action", "keys/delete", "keys/create",
                "keys/rotate/action", "keys/import/action", "keys/release/action", "keys/backup/action", "keys/restore/action",
                "keys/encrypt/action", "keys/decrypt/action", "keys/wrap/action", "keys/unwrap/action", "keys/sign/action",
                "keys/verify/action", "keys/derive/action", "rng/action");
        builtIn("515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer", "roleAssignments/delete/action",
                "roleAssignments/read/action", "roleAssignments/write/action", "roleDefinitions/read/action",
                "roleDefinitions/write/action", "roleDefinitions/delete/action", "keys/deletedKeys/read/action",
                "keys/deletedKeys/delete", "keys/deletedKeys/recover/action", "keys/export/action");
        builtIn(ADMINISTRATOR, "Managed HSM Administrator", "roleAssignments/delete/action", "roleAssignments/read/action",
                "roleAssignments/write/action", "roleDefinitions/read/action", "roleDefinitions/write/action",
                "roleDefinitions/delete/action", "securitydomain/download/action", "securitydomain/download/read",
                "securitydomain/upload/action", "securitydomain/upload/read", "securitydomain/transferkey/read",
                "backup/start/action", "restore/start/action", "backup/status/action", "restore/status/action",
                "settings/read/action", "settings/write/action");
    }

    private Rbac() {
    }

    private static void builtIn(String id, String name, String... actions) {
        BUILT_IN.put(id, definition(id, name, "AKVBuiltInRole", "", List.of(actions)));
    }

    static ObjectNode definition(String id, String roleName, String type, String description, List<String> shortActions) {
        ArrayNode data = Json.array();
        shortActions.forEach(a -> data.add(PREFIX + a));
        ObjectNode perm = Json.object();
        perm.set("actions", Json.array());
        perm.set("dataActions", data);
        perm.set("notActions", Json.array());
        perm.set("notDataActions", Json.array());
        ObjectNode props = Json.object();
        props.set("assignableScopes", Json.array(List.of("/")));
        props.put("description", description);
        ArrayNode perms = Json.array();
        perms.add(perm);
        props.set("permissions", perms);
        props.put("roleName", roleName);
        props.put("type", type);
        ObjectNode def = Json.object().put("id", ROLE_ID_PREFIX + id).put("name", id);
        def.set("properties", props);
        def.put("type", "Microsoft.Authorization/roleDefinitions");
        return def;
    }

    /** Accepts the three spellings clients send: the MHSM form, an ARM-style path, or a bare GUID. */
    public static String roleGuid(String roleDefinitionId) {
        if (roleDefinitionId == null) {
            return null;
        }
        int slash = roleDefinitionId.lastIndexOf('/');
        return (slash < 0 ? roleDefinitionId : roleDefinitionId.substring(slash + 1)).toLowerCase();
    }

    static ObjectNode role(State.Hsm hsm, String guid) {
        ObjectNode b = BUILT_IN.get(guid);
        return b != null ? b : hsm.customRoles.get(guid);
    }

    /** True when an assignment at {@code assignmentScope} covers a request at {@code requestScope}. */
    static boolean covers(String assignmentScope, String requestScope) {
        String a = normaliseScope(assignmentScope);
        String r = normaliseScope(requestScope);
        if (a.equals("/")) {
            return true;
        }
        if (a.equalsIgnoreCase("/keys")) {
            return r.toLowerCase().startsWith("/keys");
        }
        return a.equalsIgnoreCase(r);
    }

    static String normaliseScope(String scope) {
        if (scope == null || scope.isBlank()) {
            return "/";
        }
        String s = scope.replaceAll("/+", "/");
        if (s.length() > 1 && s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        return s.startsWith("/") ? s : "/" + s;
    }

    static boolean allows(ObjectNode role, String dataAction) {
        for (JsonNode perm : role.path("properties").path("permissions")) {
            boolean granted = false;
            for (JsonNode a : perm.path("dataActions")) {
                if (matches(a.asText(), dataAction)) {
                    granted = true;
                }
            }
            for (JsonNode a : perm.path("notDataActions")) {
                if (matches(a.asText(), dataAction)) {
                    granted = false;
                }
            }
            if (granted) {
                return true;
            }
        }
        return false;
    }

    /** An action pattern with * wildcards, compared case-insensitively (data actions and ARM actions alike). */
    static boolean matches(String pattern, String action) {
        if (!pattern.contains("*")) {
            return pattern.equalsIgnoreCase(action);
        }
        String regex = Pattern.quote(pattern).replace("*", "\\E.*\\Q");
        return Pattern.compile(regex, Pattern.CASE_INSENSITIVE).matcher(action).matches();
    }

    /** Throws 403 ForbiddenByRbac unless one of the principal's assignments grants the action at the scope. */
    static void check(State.Hsm hsm, String principal, String appId, String dataAction, String scope) {
        String action = PREFIX + dataAction;
        long now = System.currentTimeMillis();
        // What grants now: assignments whose creation has propagated, and revoked ones whose revocation has not.
        List<State.RoleAssignment> effective = new java.util.ArrayList<>();
        hsm.roleAssignments.values().stream().filter(ra -> ra.effectiveAtMillis <= now).forEach(effective::add);
        hsm.revokedAssignments.stream().filter(ra -> ra.revokedAtMillis > now).forEach(effective::add);
        for (State.RoleAssignment ra : effective) {
            if (ra.principalId.equalsIgnoreCase(principal) && covers(ra.scope, scope)) {
                ObjectNode role = role(hsm, roleGuid(ra.roleDefinitionId));
                if (role != null && allows(role, action)) {
                    return;
                }
            }
        }
        throw new ApiException(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\n"
                + "If role assignments were recently changed, please wait several minutes for role assignments to become effective.\r\n"
                + "Caller: appid=" + appId + ";oid=" + principal + "\r\n"
                + "Action: '" + action + "'\r\n"
                + "Resource: '" + normaliseScope(scope) + "' (Activity ID: " + java.util.UUID.randomUUID() + ")")
                .inner("ForbiddenByRbac");
    }
}
