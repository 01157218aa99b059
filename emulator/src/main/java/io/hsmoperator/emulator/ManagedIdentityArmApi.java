package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Locale;

/**
 * Microsoft.ManagedIdentity/userAssignedIdentities (api-version 2023-01-31): create or update, get, delete. Each
 * identity is an Entra principal (its {@code principalId} is the object ID role assignments name) that cannot sign in
 * with a secret: only the Azure resource it is given to (a Managed HSM) obtains tokens for it.
 */
final class ManagedIdentityArmApi {
    private final Emulator emu;
    private final ResourcesArmApi resources;

    ManagedIdentityArmApi(Emulator emu, ResourcesArmApi resources) {
        this.emu = emu;
        this.resources = resources;
    }

    static String resourceId(String sub, String rg, String name) {
        return "/subscriptions/" + sub + "/resourcegroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name;
    }

    Http.Response identity(Http.Request r, String sub, String rg, String name) {
        String key = resourceId(sub, rg, name).toLowerCase(Locale.ROOT);
        switch (r.method) {
            case "GET":
                return Http.Response.json(200, emu.read(() -> view(find(key))));
            case "PUT":
            case "PATCH": {
                JsonNode body = r.json();
                return emu.write(() -> {
                    State.UserAssignedIdentity existing = emu.state().userAssignedIdentities.get(key);
                    if (existing != null) {
                        if (body.has("tags")) {
                            existing.tags = Arm.stringMap(body.get("tags"));
                        }
                        emu.dirty();
                        return Http.Response.json(200, view(existing));
                    }
                    if (r.method.equals("PATCH")) {
                        throw ApiException.notFound("The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "' under resource group '"
                                + rg + "' was not found.");
                    }
                    String location = Json.text(body, "location");
                    if (location == null || location.isBlank()) {
                        throw new ApiException(400, "LocationRequired", "The location property is required for this definition.");
                    }
                    resources.ensureResourceGroup(sub, rg, location);
                    State.Principal p = Emulator.newPrincipal(name);
                    p.clientSecret = null;
                    emu.state().principals.put(p.objectId, p);
                    State.UserAssignedIdentity id = new State.UserAssignedIdentity();
                    id.id = "/subscriptions/" + sub + "/resourcegroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name;
                    id.name = name;
                    id.location = location;
                    id.principalId = p.objectId;
                    id.clientId = p.clientId;
                    id.tags = Arm.stringMap(body.get("tags"));
                    emu.state().userAssignedIdentities.put(key, id);
                    emu.dirty();
                    return Http.Response.json(201, view(id));
                });
            }
            case "DELETE":
                return emu.write(() -> {
                    State.UserAssignedIdentity gone = emu.state().userAssignedIdentities.remove(key);
                    if (gone == null) {
                        return Http.Response.empty(204);
                    }
                    emu.state().principals.remove(gone.principalId);
                    emu.dirty();
                    return Http.Response.empty(200);
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    /** The identity a resource ID names; null when there is none. Called under the emulator's lock. */
    State.UserAssignedIdentity byId(String id) {
        return emu.state().userAssignedIdentities.get(id.toLowerCase(Locale.ROOT).replaceAll("/+$", ""));
    }

    private State.UserAssignedIdentity find(String key) {
        State.UserAssignedIdentity id = emu.state().userAssignedIdentities.get(key);
        if (id == null) {
            throw ApiException.notFound("The Resource was not found.");
        }
        return id;
    }

    private ObjectNode view(State.UserAssignedIdentity id) {
        ObjectNode o = Json.object().put("id", id.id).put("name", id.name).put("type", "Microsoft.ManagedIdentity/userAssignedIdentities")
                .put("location", id.location);
        o.set("tags", Json.MAPPER.valueToTree(id.tags));
        o.set("properties", Json.object().put("tenantId", emu.state().tenantId).put("principalId", id.principalId)
                .put("clientId", id.clientId));
        return o;
    }
}
