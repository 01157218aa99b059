package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Locale;

/**
 * Microsoft.Resources as ARM's REST reference describes it: Subscriptions - Get for the emulated subscription, and
 * Resource Groups (list, get, check existence, create or update).
 */
final class ResourcesArmApi {
    private final Emulator emu;

    ResourcesArmApi(Emulator emu) {
        this.emu = emu;
    }

    Http.Response subscription(String sub) {
        ObjectNode s = Json.object().put("id", "/subscriptions/" + sub).put("authorizationSource", "RoleBased");
        s.set("managedByTenants", Json.array());
        s.set("tags", Json.object());
        s.put("subscriptionId", sub).put("tenantId", emu.state().tenantId).put("displayName", "Emulated subscription")
                .put("state", "Enabled");
        s.set("subscriptionPolicies", Json.object().put("locationPlacementId", "Public_2014-09-01")
                .put("quotaId", "PayAsYouGo_2014-09-01").put("spendingLimit", "Off"));
        return Http.Response.json(200, s);
    }

    // ---- resource groups -----------------------------------------------------------------------

    Http.Response resourceGroups(Http.Request r, String sub) {
        if (r.size() == 3 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                ArrayNode value = Json.array();
                emu.state().resourceGroups.values().stream().filter(g -> g.subscriptionId.equalsIgnoreCase(sub))
                        .forEach(g -> value.add(rgView(g)));
                return Json.list(value);
            }));
        }
        String rg = r.seg(3);
        String key = (sub + "/" + rg).toLowerCase(Locale.ROOT);
        switch (r.method) {
            case "GET": case "HEAD":
                return emu.read(() -> {
                    State.ResourceGroup g = emu.state().resourceGroups.get(key);
                    if (g == null) {
                        throw new ApiException(404, "ResourceGroupNotFound", "Resource group '" + rg + "' could not be found.");
                    }
                    return r.method.equals("HEAD") ? Http.Response.empty(204) : Http.Response.json(200, rgView(g));
                });
            case "PUT": {
                String location = Json.text(r.json(), "location");
                if (location == null) {
                    throw new ApiException(400, "LocationRequired", "The location property is required for this definition.");
                }
                return emu.write(() -> {
                    State.ResourceGroup g = emu.state().resourceGroups.get(key);
                    boolean created = g == null;
                    if (created) {
                        g = new State.ResourceGroup();
                        g.subscriptionId = sub;
                        g.name = rg;
                        g.location = location;
                        emu.state().resourceGroups.put(key, g);
                    }
                    if (r.json().has("tags")) {
                        g.tags = Arm.stringMap(r.json().get("tags"));
                    }
                    emu.dirty();
                    return Http.Response.json(created ? 201 : 200, rgView(g));
                });
            }
            default:
                throw new ApiException(405, "MethodNotAllowed", "The emulator does not support " + r.method + " on resource groups.");
        }
    }

    private static ObjectNode rgView(State.ResourceGroup g) {
        ObjectNode o = Json.object().put("id", "/subscriptions/" + g.subscriptionId + "/resourceGroups/" + g.name).put("name", g.name)
                .put("type", "Microsoft.Resources/resourceGroups").put("location", g.location);
        o.set("tags", Json.object(g.tags));
        o.set("properties", Json.object().put("provisioningState", "Succeeded"));
        return o;
    }

    /** Resource groups exist when created, or implicitly when the emulator is configured to create them on first use. */
    void ensureResourceGroup(String sub, String rg, String location) {
        String key = (sub + "/" + rg).toLowerCase(Locale.ROOT);
        if (emu.state().resourceGroups.containsKey(key)) {
            return;
        }
        if (!emu.config().implicitResourceGroups()) {
            throw new ApiException(404, "ResourceGroupNotFound", "Resource group '" + rg + "' could not be found.");
        }
        State.ResourceGroup g = new State.ResourceGroup();
        g.subscriptionId = sub;
        g.name = rg;
        g.location = location;
        emu.state().resourceGroups.put(key, g);
    }
}
