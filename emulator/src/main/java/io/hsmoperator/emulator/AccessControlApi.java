package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

import static io.hsmoperator.emulator.HsmDataPlane.activity;

/**
 * The Managed HSM local RBAC REST API (Microsoft.Authorization under the HSM): role definitions (list, get, create or
 * update, delete) and role assignments (list, get, create, delete).
 */
final class AccessControlApi {

    private final Emulator emu;
    private final HsmDataPlane dataPlane;

    AccessControlApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
    }

    Http.Response handle(Http.Request r, State.Hsm hsm, int providers) {
        String scope = "/" + String.join("/", r.segments.subList(0, providers));
        scope = Rbac.normaliseScope(scope);
        String kind = r.seg(providers + 2);
        String name = r.seg(providers + 3);
        if ("roleDefinitions".equalsIgnoreCase(kind)) {
            return roleDefinitions(r, hsm, name);
        }
        if ("roleAssignments".equalsIgnoreCase(kind)) {
            return roleAssignments(r, hsm, scope, name);
        }
        throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
    }

    private Http.Response roleDefinitions(Http.Request r, State.Hsm hsm, String name) {
        switch (r.method) {
            case "GET":
                dataPlane.check(r, hsm, "roleDefinitions/read/action", "/");
                if (name == null) {
                    return Http.Response.json(200, emu.read(() -> {
                        ArrayNode value = Json.array();
                        Rbac.BUILT_IN.values().forEach(value::add);
                        hsm.customRoles.values().forEach(value::add);
                        String filter = r.query.get("$filter");
                        if (filter != null && filter.startsWith("roleName eq ")) {
                            String wanted = filter.substring("roleName eq ".length()).replace("'", "");
                            ArrayNode filtered = Json.array();
                            value.forEach(d -> {
                                if (d.path("properties").path("roleName").asText().equals(wanted)) {
                                    filtered.add(d);
                                }
                            });
                            value = filtered;
                        }
                        return Json.list(value);
                    }));
                }
                return Http.Response.json(200, emu.read(() -> roleDefinition(hsm, name)));
            case "PUT": {
                dataPlane.check(r, hsm, "roleDefinitions/write/action", "/");
                // Azure's words (wire: the JavaScript SDK's recordings, api 7.6).
                if (!Rbac.GUID.matcher(name).matches()) {
                    throw ApiException.badParameter("Role definition name must be a GUID" + activity());
                }
                if (Rbac.BUILT_IN.containsKey(name.toLowerCase(Locale.ROOT))) {
                    throw ApiException.badParameter("Cannot re-use the name/GUID matching that of a built-in role. Please use a unique "
                            + "role ID." + activity());
                }
                JsonNode p = r.json().path("properties");
                ObjectNode def = Rbac.definition(name.toLowerCase(Locale.ROOT), p.path("roleName").asText(name),
                        "CustomRole", p.path("description").asText(""), List.of());
                ObjectNode props = (ObjectNode) def.get("properties");
                ArrayNode permissions = Json.array();
                for (JsonNode perm : p.path("permissions")) {
                    ObjectNode normalised = Json.object();
                    for (String field : List.of("actions", "dataActions", "notActions", "notDataActions")) {
                        normalised.set(field, perm.path(field).isArray() ? perm.get(field).deepCopy() : Json.array());
                    }
                    permissions.add(normalised);
                }
                props.set("permissions", permissions);
                if (p.has("assignableScopes")) {
                    props.set("assignableScopes", p.get("assignableScopes").deepCopy());
                }
                return Http.Response.json(201, emu.write(() -> {
                    // "50 custom role definitions per HSM" (Microsoft Learn, service limits); the answer's shape is not documented.
                    if (!hsm.customRoles.containsKey(name.toLowerCase(Locale.ROOT)) && hsm.customRoles.size() >= ServiceLimits.CUSTOM_ROLES_PER_HSM) {
                        throw ApiException.badParameter("The HSM holds the maximum of " + ServiceLimits.CUSTOM_ROLES_PER_HSM + " custom role "
                                + "definitions." + activity());
                    }
                    if (hsm.customRoles.put(name.toLowerCase(Locale.ROOT), def) == null) {
                        hsm.customRoleEffectiveAtMillis.put(name.toLowerCase(Locale.ROOT),
                                System.currentTimeMillis() + emu.config().rbacPropagation().toMillis());
                    }
                    emu.dirty();
                    return def;
                }));
            }
            case "DELETE":
                dataPlane.check(r, hsm, "roleDefinitions/delete/action", "/");
                return Http.Response.json(200, emu.write(() -> {
                    ObjectNode def = roleDefinition(hsm, name);
                    if (Rbac.BUILT_IN.containsKey(name.toLowerCase(Locale.ROOT))) {
                        throw ApiException.badParameter("Built-in role definitions cannot be deleted." + activity());
                    }
                    boolean used = hsm.roleAssignments.values().stream().anyMatch(a -> a.roleDefinitionId != null
                            && a.roleDefinitionId.toLowerCase(Locale.ROOT).endsWith("/" + name.toLowerCase(Locale.ROOT)));
                    if (used) {
                        throw new ApiException(409, "Conflict", "The role definition is in use by one or more role assignments and cannot "
                                + "be deleted. Delete the role assignments first." + activity());
                    }
                    hsm.customRoles.remove(name.toLowerCase(Locale.ROOT));
                    emu.dirty();
                    return def;
                }));
            default:
                throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
        }
    }

    private static ObjectNode roleDefinition(State.Hsm hsm, String name) {
        ObjectNode def = Rbac.role(hsm, name.toLowerCase(Locale.ROOT));
        if (def == null) {
            throw new ApiException(404, "RoleDefinitionNotFound", "Requested role definition not found" + activity());
        }
        return def;
    }

    private Http.Response roleAssignments(Http.Request r, State.Hsm hsm, String scope, String name) {
        switch (r.method) {
            case "GET":
                dataPlane.check(r, hsm, "roleAssignments/read/action", scope);
                if (name == null) {
                    return Http.Response.json(200, emu.read(() -> {
                        String filter = r.query.getOrDefault("$filter", "");
                        boolean atScope = filter.contains("atScope()");
                        String principal = null;
                        java.util.regex.Matcher m = Pattern.compile("principalId eq '([^']+)'").matcher(filter);
                        if (m.find()) {
                            principal = m.group(1);
                        }
                        ArrayNode value = Json.array();
                        for (State.RoleAssignment ra : hsm.roleAssignments.values()) {
                            if (emu.staleReads().unseen(staleAssignment(hsm, ra.name))) {
                                continue;
                            }
                            boolean inScope = atScope ? ra.scope.equalsIgnoreCase(scope) : Rbac.covers(scope, ra.scope);
                            if (inScope && (principal == null || principal.equalsIgnoreCase(ra.principalId))) {
                                value.add(assignment(ra));
                            }
                        }
                        return Json.list(value);
                    }));
                }
                return Http.Response.json(200, emu.read(() -> {
                    // Azure's role assignment reads lag its writes: a new assignment is not found at once (its PUT again: RoleAssignmentExists).
                    if (emu.staleReads().unseen(staleAssignment(hsm, name))) {
                        throw notFound();
                    }
                    return assignment(assignmentNamed(hsm, name));
                }));
            case "PUT": {
                dataPlane.check(r, hsm, "roleAssignments/write/action", scope);
                JsonNode p = r.json().path("properties");
                String roleId = Json.text(p, "roleDefinitionId");
                String principal = Json.text(p, "principalId");
                if (roleId == null || principal == null) {
                    throw ApiException.badParameter("roleDefinitionId and principalId are required." + activity());
                }
                if (!Rbac.GUID.matcher(principal).matches()) {
                    throw ApiException.badParameter("The principal ID '" + principal + "' is not a valid object ID." + activity());
                }
                if (!Rbac.GUID.matcher(name).matches()) {
                    throw ApiException.badParameter("The role assignment name must be a GUID." + activity());
                }
                String fixedScope = scope;
                return Http.Response.json(201, emu.write(() -> {
                    String guid = Rbac.roleGuid(roleId);
                    if (Rbac.role(hsm, guid) == null) {
                        throw new ApiException(404, "RoleDefinitionNotFound", "Requested role definition not found" + activity());
                    }
                    // A custom role is not known to assignments until its definition has propagated (Azure's spelling).
                    if (hsm.customRoleEffectiveAtMillis.getOrDefault(guid.toLowerCase(Locale.ROOT), 0L) > System.currentTimeMillis()) {
                        throw ApiException.badParameter("Unkown role definition " + guid + activity());
                    }
                    if (hsm.roleAssignments.containsKey(name.toLowerCase(Locale.ROOT))) {
                        throw new ApiException(400, "RoleAssignmentExists", "The role assignment already exists." + activity());
                    }
                    int atScope = 0;
                    for (State.RoleAssignment ra : hsm.roleAssignments.values()) {
                        if (ra.scope.equalsIgnoreCase(fixedScope)) {
                            atScope++;
                            if (ra.principalId.equalsIgnoreCase(principal) && Rbac.roleGuid(ra.roleDefinitionId).equals(guid)) {
                                throw new ApiException(400, "RoleAssignmentExists", "The role assignment already exists." + activity());
                            }
                        }
                    }
                    int limit = fixedScope.startsWith("/keys/") ? 10 : 50;
                    if (atScope >= limit) {
                        throw new ApiException(400, "RoleAssignmentLimitExceeded", "No more than " + limit
                                + " role assignments are allowed at scope " + fixedScope + "." + activity());
                    }
                    State.RoleAssignment ra = new State.RoleAssignment();
                    ra.name = name.toLowerCase(Locale.ROOT);
                    ra.scope = fixedScope;
                    ra.principalId = principal;
                    ra.roleDefinitionId = Rbac.ROLE_ID_PREFIX + guid;
                    ra.effectiveAtMillis = System.currentTimeMillis() + emu.config().rbacPropagation().toMillis();
                    hsm.roleAssignments.put(ra.name, ra);
                    emu.staleReads().created(staleAssignment(hsm, ra.name));
                    emu.dirty();
                    return assignment(ra);
                }));
            }
            case "DELETE":
                dataPlane.check(r, hsm, "roleAssignments/delete/action", scope);
                return Http.Response.json(200, emu.write(() -> {
                    State.RoleAssignment ra = assignmentNamed(hsm, name);
                    hsm.roleAssignments.remove(ra.name);
                    long now = System.currentTimeMillis();
                    hsm.revokedAssignments.removeIf(old -> old.revokedAtMillis <= now);
                    ra.revokedAtMillis = now + emu.config().rbacPropagation().toMillis();
                    if (ra.revokedAtMillis > now) {
                        hsm.revokedAssignments.add(ra);
                    }
                    emu.dirty();
                    return assignment(ra);
                }));
            default:
                throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
        }
    }

    private static State.RoleAssignment assignmentNamed(State.Hsm hsm, String name) {
        State.RoleAssignment ra = hsm.roleAssignments.get(name.toLowerCase(Locale.ROOT));
        if (ra == null) {
            throw notFound();
        }
        return ra;
    }

    private static ApiException notFound() {
        return new ApiException(404, "RoleAssignmentNotFound", "Requested role assignment not found" + activity());
    }

    private static String staleAssignment(State.Hsm hsm, String name) {
        return "assignment|" + hsm.name.toLowerCase(Locale.ROOT) + "|" + name.toLowerCase(Locale.ROOT);
    }

    static ObjectNode assignment(State.RoleAssignment ra) {
        String prefix = ra.scope.equals("/") ? "" : ra.scope;
        ObjectNode props = Json.object().put("principalId", ra.principalId).put("roleDefinitionId", ra.roleDefinitionId)
                .put("scope", ra.scope);
        ObjectNode o = Json.object().put("id", prefix + "/providers/Microsoft.Authorization/roleAssignments/" + ra.name)
                .put("name", ra.name);
        o.set("properties", props);
        o.put("type", "Microsoft.Authorization/roleAssignments");
        return o;
    }
}
