package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Azure Resource Manager for the resource types the operator uses: Microsoft.KeyVault/managedHSMs (with soft delete,
 * name checks and private endpoint connections), Microsoft.Network/privateEndpoints (with DNS zone groups),
 * Microsoft.Insights/diagnosticSettings, resource groups. Long-running operations behave as in recorded traffic.
 */
final class Arm {
    static final Pattern HSM_NAME = Pattern.compile("^[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9])+$");
    private static final Pattern GUID = Pattern.compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
    private static final Pattern RESOURCE_ID = Pattern.compile(
            "^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\\w._()]+/providers/[\\w.]+/[\\w.]+/[^/]+(/[\\w.]+/[^/]+)*$",
            Pattern.CASE_INSENSITIVE);
    private static final List<String> SKUS = List.of("Standard_B1", "Custom_B32", "Custom_B6", "Custom_C42", "Custom_C10");

    private final Emulator emu;

    Arm(Emulator emu) {
        this.emu = emu;
    }

    Http.Response handle(Http.Request r) {
        JsonNode claims = emu.entra().validate(r.header("Authorization"));
        if (claims == null) {
            boolean missing = r.header("Authorization") == null;
            throw new ApiException(401, missing ? "AuthenticationFailed" : "InvalidAuthenticationToken",
                    missing ? "Authentication failed. The 'Authorization' header is missing."
                            : "The access token is invalid or has expired.")
                    .header("WWW-Authenticate", "Bearer authorization_uri=\"" + emu.baseUrl() + "/" + emu.state().tenantId
                            + "\", error=\"invalid_token\", error_description=\"The authentication failed.\"");
        }
        String aud = claims.path("aud").asText();
        if (!aud.startsWith("https://management.core.windows.net") && !aud.startsWith("https://management.azure.com")
                && !aud.startsWith(emu.baseUrl())) {
            throw new ApiException(401, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or"
                    + " resource '" + aud + "'. It should exactly match with one of the allowed audiences "
                    + "'https://management.core.windows.net/','https://management.azure.com/'.");
        }
        r.principal = claims.path("oid").asText();
        r.appId = claims.path("appid").asText();
        if (r.is(0, "subscriptions") && r.size() >= 2) {
            require(r, ArmAuthorization.action(r.method, r.segments), r.path);
        }
        emu.applyFault(r);
        return rateLimitHeaders(r, route(r));
    }

    /** Per subscription and hour, as ARM's classic limits count them. */
    private static final int READS_PER_HOUR = 12000;
    private static final int WRITES_PER_HOUR = 1200;
    private final Map<String, long[]> budgets = new java.util.concurrent.ConcurrentHashMap<>();

    /** ARM tells every caller how much of its subscription's hourly budget is left. */
    private Http.Response rateLimitHeaders(Http.Request r, Http.Response response) {
        if (!r.is(0, "subscriptions") || r.size() < 2) {
            return response;
        }
        boolean read = r.method.equals("GET") || r.method.equals("HEAD");
        long[] b = budgets.computeIfAbsent(r.seg(1).toLowerCase(Locale.ROOT), k -> new long[3]);
        long left;
        synchronized (b) {
            long now = System.currentTimeMillis();
            if (now - b[0] >= 3_600_000L) {
                b[0] = now;
                b[1] = 0;
                b[2] = 0;
            }
            left = read ? READS_PER_HOUR - ++b[1] : WRITES_PER_HOUR - ++b[2];
        }
        return response.header(read ? "x-ms-ratelimit-remaining-subscription-reads" : "x-ms-ratelimit-remaining-subscription-writes",
                String.valueOf(Math.max(0, left)));
    }

    private Http.Response route(Http.Request r) {
        if (!r.is(0, "subscriptions") || r.size() < 2) {
            throw ApiException.notFound("The requested resource path is not supported by the emulator: " + r.path);
        }
        String sub = r.seg(1);
        if (!GUID.matcher(sub).matches()) {
            throw new ApiException(400, "InvalidSubscriptionId", "The provided subscription identifier '" + sub + "' is malformed or invalid.");
        }
        int insights = insightsIndex(r);
        if (insights > 0) {
            return diagnostics(r, insights);
        }
        if (r.size() == 2 && r.method.equals("GET")) {
            ObjectNode s = Json.object().put("id", "/subscriptions/" + sub).put("authorizationSource", "RoleBased");
            s.set("managedByTenants", Json.array());
            s.set("tags", Json.object());
            s.put("subscriptionId", sub).put("tenantId", emu.state().tenantId).put("displayName", "Emulated subscription")
                    .put("state", "Enabled");
            s.set("subscriptionPolicies", Json.object().put("locationPlacementId", "Public_2014-09-01")
                    .put("quotaId", "PayAsYouGo_2014-09-01").put("spendingLimit", "Off"));
            return Http.Response.json(200, s);
        }
        if (r.is(2, "resourceGroups")) {
            if (r.size() <= 4) {
                return resourceGroups(r, sub);
            }
            String rg = r.seg(3);
            if (r.is(4, "providers") && r.is(5, "Microsoft.KeyVault") && r.is(6, "managedHSMs")) {
                if (r.size() == 7) {
                    return listHsms(r, sub, rg);
                }
                return hsm(r, sub, rg, r.seg(7));
            }
            if (r.is(4, "providers") && r.is(5, "Microsoft.Network") && r.is(6, "privateEndpoints")) {
                return privateEndpoints(r, sub, rg);
            }
            throw ApiException.notFound("The resource type is not supported by the emulator: " + r.path);
        }
        if (r.is(2, "providers") && r.is(3, "Microsoft.KeyVault")) {
            if (r.size() == 5 && r.is(4, "managedHSMs") && r.method.equals("GET")) {
                return listHsms(r, sub, null);
            }
            if (r.size() == 5 && r.is(4, "deletedManagedHSMs") && r.method.equals("GET")) {
                return listDeleted(r, sub);
            }
            if (r.size() == 5 && r.is(4, "checkMhsmNameAvailability") && r.method.equals("POST")) {
                return nameAvailability(r);
            }
            if (r.size() >= 8 && r.is(4, "locations") && r.is(6, "deletedManagedHSMs")) {
                return deleted(r, sub, r.seg(5), r.seg(7));
            }
            if (r.size() == 8 && r.is(4, "locations") && r.is(6, "managedHsmOperationResults") && r.method.equals("GET")) {
                return operationResult(r);
            }
        }
        if (r.is(2, "providers") && r.is(3, "Microsoft.Network") && r.is(4, "locations") && r.size() == 8
                && (r.is(6, "operations") || r.is(6, "operationResults")) && r.method.equals("GET")) {
            return networkOperation(r, r.is(6, "operationResults"));
        }
        throw ApiException.notFound("The requested resource path is not supported by the emulator: " + r.path);
    }

    /** 403 AuthorizationFailed, as ARM answers, unless the caller's role assignments permit the action at the scope. */
    private void require(Http.Request r, String action, String scope) {
        boolean allowed = emu.read(() -> {
            State.Principal p = emu.state().principals.get(r.principal);
            boolean denied = p != null && p.deniedArmActions.stream().anyMatch(a -> a.equalsIgnoreCase(action));
            return !denied && ArmAuthorization.permits(emu.state(), r.principal, action, scope);
        });
        if (!allowed) {
            throw new ApiException(403, "AuthorizationFailed", "The client '" + r.appId + "' with object id '" + r.principal
                    + "' does not have authorization to perform action '" + action + "' over scope '" + scope
                    + "' or the scope is invalid. If access was recently granted, please refresh your credentials.");
        }
    }

    /** A linked resource (a subnet to join, a DNS zone to register in) needs its own permission: 403 LinkedAuthorizationFailed. */
    private void requireLinked(Http.Request r, String primaryAction, String linkedAction, String linkedScope) {
        boolean allowed = emu.read(() -> ArmAuthorization.permits(emu.state(), r.principal, linkedAction, linkedScope));
        if (!allowed) {
            throw new ApiException(403, "LinkedAuthorizationFailed", "The client '" + r.appId + "' with object id '" + r.principal
                    + "' has permission to perform action '" + primaryAction + "' on scope '" + r.path + "'; however, it does not "
                    + "have permission to perform action(s) '" + linkedAction + "' on the linked scope(s) '" + linkedScope
                    + "' (respectively) or the linked scope(s) are invalid.");
        }
    }

    private static String iso(Instant t) {
        return t.truncatedTo(ChronoUnit.MILLIS).toString();
    }

    // ---- resource groups -----------------------------------------------------------------------

    private Http.Response resourceGroups(Http.Request r, String sub) {
        if (r.size() == 3 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                ArrayNode value = Json.array();
                emu.state().resourceGroups.values().stream().filter(g -> g.subscriptionId.equalsIgnoreCase(sub))
                        .forEach(g -> value.add(rgView(g)));
                ObjectNode out = Json.object();
                out.set("value", value);
                return out;
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
                        g.tags = stringMap(r.json().get("tags"));
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
    private void ensureResourceGroup(String sub, String rg, String location) {
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

    // ---- managed HSMs --------------------------------------------------------------------------

    private Http.Response listHsms(Http.Request r, String sub, String rg) {
        return Http.Response.json(200, emu.read(() -> {
            ArrayNode value = Json.array();
            for (State.Hsm h : emu.state().hsms.values()) {
                if (h.subscriptionId.equalsIgnoreCase(sub) && (rg == null || h.resourceGroup.equalsIgnoreCase(rg))) {
                    value.add(hsmView(r, h, true));
                }
            }
            ObjectNode out = Json.object();
            out.set("value", value);
            return out;
        }));
    }

    private Http.Response hsm(Http.Request r, String sub, String rg, String name) {
        if (r.size() == 8) {
            switch (r.method) {
                case "GET": {
                    ObjectNode current = emu.read(() -> hsmView(r, find(sub, rg, name), true));
                    return pollHint(emu.staleReads().read("arm|" + name.toLowerCase(Locale.ROOT)).orElse(current));
                }
                case "PUT":
                    return putHsm(r, sub, rg, name, false);
                case "PATCH":
                    return putHsm(r, sub, rg, name, true);
                case "DELETE":
                    return deleteHsm(r, sub, rg, name);
                default:
                    throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
            }
        }
        String child = r.seg(8);
        if ("privateEndpointConnections".equalsIgnoreCase(child)) {
            return pecs(r, sub, rg, name);
        }
        if ("privateLinkResources".equalsIgnoreCase(child) && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                State.Hsm h = find(sub, rg, name);
                ObjectNode props = Json.object().put("groupId", "managedhsm");
                props.set("requiredMembers", Json.array(List.of("default")));
                props.set("requiredZoneNames", Json.array(List.of("privatelink.managedhsm.azure.net")));
                ObjectNode plr = Json.object().put("id", h.resourceId() + "/privateLinkResources/managedhsm").put("name", "managedhsm")
                        .put("type", "Microsoft.KeyVault/managedHSMs/privateLinkResources");
                plr.set("properties", props);
                ObjectNode out = Json.object();
                out.set("value", Json.array().add(plr));
                return out;
            }));
        }
        if ("regions".equalsIgnoreCase(child) && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                State.Hsm h = find(sub, rg, name);
                ObjectNode out = Json.object();
                out.set("value", Json.array().add(Json.object().put("name", h.location).put("isPrimary", true)
                        .put("provisioningState", "Succeeded")));
                return out;
            }));
        }
        throw ApiException.notFound("The requested resource path is not supported by the emulator: " + r.path);
    }

    State.Hsm find(String sub, String rg, String name) {
        State.Hsm h = emu.state().hsms.get(name.toLowerCase(Locale.ROOT));
        if (h == null || !h.subscriptionId.equalsIgnoreCase(sub) || !h.resourceGroup.equalsIgnoreCase(rg)) {
            throw ApiException.notFound("The specified resource does not exist. Follow this link for more information: "
                    + "https://go.microsoft.com/fwlink/?linkid=2147446");
        }
        return h;
    }

    State.Hsm findById(String id) {
        String[] p = id.split("/");
        // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/managedHSMs/{name}
        if (p.length != 9 || !p[6].equalsIgnoreCase("Microsoft.KeyVault") || !p[7].equalsIgnoreCase("managedHSMs")) {
            return null;
        }
        State.Hsm h = emu.state().hsms.get(p[8].toLowerCase(Locale.ROOT));
        return h != null && h.subscriptionId.equalsIgnoreCase(p[2]) && h.resourceGroup.equalsIgnoreCase(p[4]) ? h : null;
    }

    private Http.Response putHsm(Http.Request r, String sub, String rg, String name, boolean patch) {
        JsonNode body = r.json();
        JsonNode props = body.path("properties");
        return emu.write(() -> {
            State.Hsm existing = emu.state().hsms.get(name.toLowerCase(Locale.ROOT));
            if (existing != null && (!existing.subscriptionId.equalsIgnoreCase(sub) || !existing.resourceGroup.equalsIgnoreCase(rg))) {
                throw new ApiException(409, "Conflict", "The name '" + name + "' is already in use by another managed HSM.");
            }
            if (existing == null) {
                if (patch) {
                    throw ApiException.notFound("The specified resource does not exist.");
                }
                return create(r, sub, rg, name, body, props);
            }
            return update(r, existing, body, props, patch);
        });
    }

    private Http.Response create(Http.Request r, String sub, String rg, String name, JsonNode body, JsonNode props) {
        if (name.length() < 3 || name.length() > 24 || !HSM_NAME.matcher(name).matches()) {
            throw new ApiException(400, "BadRequest", "The name '" + name + "' is invalid. A managed HSM name must be 3-24 characters,"
                    + " start with a letter, contain only letters, digits and single hyphens, and not end with a hyphen.");
        }
        String createMode = props.path("createMode").asText("default");
        State.Hsm deleted = emu.state().deletedHsms.get(name.toLowerCase(Locale.ROOT));
        if (createMode.equalsIgnoreCase("recover")) {
            if (deleted == null || !deleted.subscriptionId.equalsIgnoreCase(sub)) {
                throw ApiException.notFound("No deleted managed HSM named '" + name + "' exists in this subscription to recover.");
            }
            emu.state().deletedHsms.remove(name.toLowerCase(Locale.ROOT));
            deleted.resourceGroup = rg;
            deleted.deletionDate = null;
            deleted.scheduledPurgeDate = null;
            deleted.provisionedAtMillis = System.currentTimeMillis() + emu.config().provisioningDelay().toMillis();
            emu.state().hsms.put(name.toLowerCase(Locale.ROOT), deleted);
            emu.openHsm(deleted);
            emu.dirty();
            return pollHint(hsmView(r, deleted, false));
        }
        if (deleted != null) {
            throw new ApiException(409, "ConflictError", "A managed HSM with the same name already exists in deleted state. "
                    + "You need to either recover or purge existing managed HSM.");
        }
        String location = Json.text(body, "location");
        if (location == null || location.isBlank()) {
            throw new ApiException(400, "LocationRequired", "The location property is required for this definition.");
        }
        String tenant = Json.text(props, "tenantId");
        if (tenant == null) {
            throw new ApiException(400, "BadRequest", "The property 'tenantId' is required to create a managed HSM.");
        }
        if (!tenant.equalsIgnoreCase(emu.state().tenantId)) {
            throw new ApiException(400, "BadRequest", "The tenant ID '" + tenant + "' does not match the subscription's tenant.");
        }
        List<String> admins = new ArrayList<>();
        props.path("initialAdminObjectIds").forEach(a -> admins.add(a.asText()));
        if (admins.isEmpty()) {
            throw new ApiException(400, "BadRequest", "At least one initial administrator (initialAdminObjectIds) is required.");
        }
        for (String a : admins) {
            if (!GUID.matcher(a).matches()) {
                throw new ApiException(400, "BadRequest", "The initial administrator '" + a + "' is not a valid object ID.");
            }
        }
        if (props.has("enableSoftDelete") && !props.get("enableSoftDelete").asBoolean(true)) {
            throw new ApiException(400, "BadRequest", "Soft delete cannot be disabled for a managed HSM.");
        }
        int retention = props.path("softDeleteRetentionInDays").asInt(90);
        if (retention < 7 || retention > 90) {
            throw new ApiException(400, "BadRequest", "softDeleteRetentionInDays must be between 7 and 90; got " + retention + ".");
        }
        String skuName = body.path("sku").path("name").asText("Standard_B1");
        if (!SKUS.contains(skuName)) {
            throw new ApiException(400, "BadRequest", "The SKU '" + skuName + "' is not valid; use one of " + SKUS + ".");
        }
        ensureResourceGroup(sub, rg, location);
        Instant now = emu.controls().now();
        State.Hsm h = new State.Hsm();
        h.name = name;
        h.subscriptionId = sub;
        h.resourceGroup = rg;
        h.location = location;
        h.skuName = skuName;
        h.skuFamily = body.path("sku").path("family").asText(skuName.contains("_C") ? "C" : "B");
        h.tenantId = tenant;
        h.tags = stringMap(body.get("tags"));
        h.tags.putAll(emu.controls().policyTags());
        h.initialAdminObjectIds = admins;
        h.softDeleteRetentionInDays = retention;
        h.enablePurgeProtection = props.path("enablePurgeProtection").asBoolean(true);
        h.publicNetworkAccess = props.path("publicNetworkAccess").asText("Enabled");
        h.networkAcls = networkAcls(props.get("networkAcls"));
        h.regions = regions(props.get("regions"));
        h.createdAt = iso(now);
        h.createdBy = r.appId;
        h.lastModifiedAt = h.createdAt;
        h.lastModifiedBy = r.appId;
        h.provisionedAtMillis = System.currentTimeMillis() + emu.config().provisioningDelay().toMillis();
        h.domainKey = java.util.Base64.getEncoder().encodeToString(HsmDataPlane.randomBytes(32));
        h.settings.put("AllowKeyManagementOperationsThroughARM", "false");
        for (String admin : admins) {
            State.RoleAssignment ra = new State.RoleAssignment();
            ra.name = UUID.nameUUIDFromBytes((name + "/" + admin).getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString();
            ra.scope = "/";
            ra.principalId = admin;
            ra.roleDefinitionId = Rbac.ROLE_ID_PREFIX + Rbac.ADMINISTRATOR;
            h.roleAssignments.put(ra.name, ra);
        }
        emu.state().hsms.put(name.toLowerCase(Locale.ROOT), h);
        emu.openHsm(h);
        emu.dirty();
        return pollHint(hsmView(r, h, false));
    }

    private Http.Response update(Http.Request r, State.Hsm h, JsonNode body, JsonNode props, boolean patch) {
        String location = Json.text(body, "location");
        if (location != null && !location.replace(" ", "").equalsIgnoreCase(h.location.replace(" ", ""))) {
            throw new ApiException(400, "InvalidResourceLocation", "The resource '" + h.name + "' already exists in location '"
                    + h.location + "' in resource group '" + h.resourceGroup + "'. A resource with the same name cannot be created in"
                    + " location '" + location + "'. Please select a new resource name.");
        }
        if (body.has("sku") && !body.path("sku").path("name").asText(h.skuName).equals(h.skuName)) {
            throw new ApiException(400, "BadRequest", "The SKU of a managed HSM cannot be changed after creation.");
        }
        if (props.has("tenantId") && !props.get("tenantId").asText().equalsIgnoreCase(h.tenantId)) {
            throw new ApiException(400, "BadRequest", "The tenant of a managed HSM cannot be changed.");
        }
        if (props.has("softDeleteRetentionInDays") && props.get("softDeleteRetentionInDays").asInt() != h.softDeleteRetentionInDays) {
            throw new ApiException(400, "BadRequest", "softDeleteRetentionInDays cannot be changed after a managed HSM is created.");
        }
        if (props.has("enablePurgeProtection") && h.enablePurgeProtection && !props.get("enablePurgeProtection").asBoolean()) {
            throw new ApiException(400, "BadRequest", "The property \"enablePurgeProtection\" cannot be set to false. Enabling purge "
                    + "protection for a managed HSM is an irreversible action.");
        }
        boolean provisioning = System.currentTimeMillis() < h.provisionedAtMillis;
        // An HSM whose last update failed takes any update as a new attempt, even one that changes nothing.
        boolean changed = h.updateFailed;
        if (props.has("enablePurgeProtection") && props.get("enablePurgeProtection").asBoolean() != h.enablePurgeProtection) {
            changed = true;
        }
        String pna = props.has("publicNetworkAccess") ? props.get("publicNetworkAccess").asText() : (patch ? h.publicNetworkAccess : "Enabled");
        if (!pna.equals(h.publicNetworkAccess)) {
            changed = true;
        }
        ObjectNode acls = props.has("networkAcls") ? networkAcls(props.get("networkAcls")) : (patch ? h.networkAcls : networkAcls(null));
        if (!acls.equals(h.networkAcls)) {
            changed = true;
        }
        // A PUT replaces the resource: what it leaves out goes back to its default (no extra regions). A PATCH keeps it.
        ArrayNode regions = props.has("regions") ? regions(props.get("regions")) : (patch && h.regions != null ? h.regions : regions(null));
        if (!regions.equals(h.regions == null ? regions(null) : h.regions)) {
            changed = true;
        }
        Map<String, String> tags = body.has("tags") ? stringMap(body.get("tags")) : (patch ? h.tags : new LinkedHashMap<>());
        tags = new LinkedHashMap<>(tags);
        tags.putAll(emu.controls().policyTags());
        boolean tagsChanged = !tags.equals(h.tags);
        if (provisioning && (changed || tagsChanged)) {
            throw new ApiException(409, "Conflict", "The managed HSM '" + h.name + "' is being provisioned. Retry the update when "
                    + "provisioning has completed.");
        }
        emu.staleReads().beforeUpdate("arm|" + h.name.toLowerCase(Locale.ROOT), hsmView(r, h, true));
        // Every accepted update is a modification, even one that changes nothing (systemData.lastModifiedAt).
        h.lastModifiedAt = iso(emu.controls().now());
        h.lastModifiedBy = r.appId;
        emu.dirty();
        if (changed || tagsChanged) {
            h.enablePurgeProtection = props.path("enablePurgeProtection").asBoolean(h.enablePurgeProtection);
            h.publicNetworkAccess = pna;
            h.networkAcls = acls;
            h.regions = regions;
            h.tags = tags;
            h.lastModifiedAt = iso(emu.controls().now());
            h.lastModifiedBy = r.appId;
            emu.dirty();
        }
        if (changed) {
            h.updateDoneAtMillis = System.currentTimeMillis() + emu.config().updateDelay().toMillis();
            h.updateFailed = r.failAsync;
            emu.dirty();
            String op = newOperation(emu.config().updateDelay().toMillis());
            if (r.failAsync) {
                State.Operation failed = emu.state().operations.get(op);
                failed.status = "Failed";
                failed.error = Json.object().put("code", "InternalError").put("message", "The update of the managed HSM failed. Retry the update.");
            }
            return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", retryAfter());
        }
        // An update answers with the resource as GET shows it (statusMessage, hsmUri with its slash), as recorded.
        return pollHint(hsmView(r, h, true));
    }

    /**
     * While provisioning, a Retry-After hint lets SDK pollers poll at the emulator's pace instead of their 30-second
     * default. Real Azure sends none here; the header changes no client's behaviour but its wait.
     */
    private Http.Response pollHint(ObjectNode view) {
        Http.Response resp = Http.Response.json(200, view);
        if (!"Succeeded".equals(view.path("properties").path("provisioningState").asText())) {
            resp.header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
        }
        return resp;
    }

    /** See {@link #pollHint}: real Azure sends no Retry-After here; the hint only sets the SDK's polling pace. */
    private String retryAfter() {
        return String.valueOf(emu.config().retryAfterSeconds());
    }

    private String newOperation(long durationMillis) {
        State.Operation op = new State.Operation();
        op.id = UUID.randomUUID().toString();
        op.doneAtMillis = System.currentTimeMillis() + durationMillis;
        emu.state().operations.put(op.id, op);
        return op.id;
    }

    private String operationUrl(Http.Request r, State.Hsm h, String op) {
        return emu.baseUrl() + "/subscriptions/" + h.subscriptionId + "/providers/Microsoft.KeyVault/locations/" + h.location
                + "/managedHsmOperationResults/" + op + "?api-version=" + r.apiVersion();
    }

    private Http.Response operationResult(Http.Request r) {
        State.Operation op = emu.read(() -> emu.state().operations.get(r.seg(7)));
        if (op == null) {
            throw ApiException.notFound("The operation '" + r.seg(7) + "' was not found.");
        }
        if (System.currentTimeMillis() < op.doneAtMillis) {
            return Http.Response.empty(202).header("Location", emu.baseUrl() + r.rawTarget).header("Retry-After",
                    String.valueOf(emu.config().retryAfterSeconds()));
        }
        return Http.Response.empty(200);
    }

    private Http.Response deleteHsm(Http.Request r, String sub, String rg, String name) {
        return emu.write(() -> {
            State.Hsm h = emu.state().hsms.get(name.toLowerCase(Locale.ROOT));
            if (h == null || !h.subscriptionId.equalsIgnoreCase(sub) || !h.resourceGroup.equalsIgnoreCase(rg)) {
                return Http.Response.empty(204);
            }
            Instant now = emu.controls().now();
            h.deletionDate = now.truncatedTo(ChronoUnit.SECONDS).toString();
            h.scheduledPurgeDate = now.plus(h.softDeleteRetentionInDays, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS).toString();
            h.deletedAtEpoch = now.getEpochSecond();
            emu.state().hsms.remove(name.toLowerCase(Locale.ROOT));
            emu.state().deletedHsms.put(name.toLowerCase(Locale.ROOT), h);
            emu.closeHsm(h);
            emu.dirty();
            String op = newOperation(emu.config().updateDelay().toMillis());
            return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", retryAfter());
        });
    }

    ObjectNode hsmView(Http.Request r, State.Hsm h, boolean get) {
        long nowMillis = System.currentTimeMillis();
        ObjectNode o = Json.object();
        o.set("sku", Json.object().put("family", h.skuFamily).put("name", h.skuName));
        o.put("id", h.resourceId()).put("name", h.name).put("type", "Microsoft.KeyVault/managedHSMs").put("location", h.location);
        o.set("tags", Json.object(h.tags));
        ObjectNode sys = Json.object().put("createdBy", h.createdBy).put("createdByType", "Application").put("createdAt", h.createdAt)
                .put("lastModifiedBy", h.lastModifiedBy).put("lastModifiedByType", "Application").put("lastModifiedAt", h.lastModifiedAt);
        o.set("systemData", sys);
        ObjectNode p = Json.object().put("tenantId", h.tenantId);
        p.put("hsmUri", emu.hsmUri(h) + (get ? "/" : ""));
        p.set("initialAdminObjectIds", Json.array(h.initialAdminObjectIds));
        p.put("enableSoftDelete", true).put("softDeleteRetentionInDays", h.softDeleteRetentionInDays)
                .put("enablePurgeProtection", h.enablePurgeProtection);
        String state;
        String message;
        if (nowMillis < h.provisionedAtMillis) {
            state = "Provisioning";
            long half = h.provisionedAtMillis - emu.config().provisioningDelay().toMillis() / 2;
            message = nowMillis < half ? "Resource creation in progress. Allocating hardware..."
                    : "Resource creation in progress. Starting service...";
        } else if (nowMillis < h.updateDoneAtMillis) {
            state = "Updating";
            message = "Resource update in progress.";
        } else if (h.updateFailed) {
            state = "Failed";
            message = "The update of the managed HSM failed. Retry the update.";
        } else {
            state = "Succeeded";
            message = "The Managed HSM is provisioned and ready to use.";
        }
        p.put("provisioningState", state);
        if (get) {
            p.put("statusMessage", message);
        }
        p.set("networkAcls", h.networkAcls.deepCopy());
        if (h.regions != null && !h.regions.isEmpty()) {
            p.set("regions", h.regions.deepCopy());
        }
        if (!h.privateEndpointConnections.isEmpty()) {
            ArrayNode pecs = Json.array();
            for (State.Pec pec : h.privateEndpointConnections.values()) {
                ObjectNode item = Json.object().put("id", h.resourceId() + "/privateEndpointConnections/" + pec.name).put("etag", pec.etag);
                item.set("properties", pecProperties(pec));
                pecs.add(item);
            }
            p.set("privateEndpointConnections", pecs);
        }
        p.put("publicNetworkAccess", h.publicNetworkAccess);
        p.set("regions", Json.array());
        if (newerThan(r.apiVersion(), "2023-07-01")) {
            boolean active = emu.isActive(h);
            p.set("securityDomainProperties", Json.object().put("activationStatus", active ? "Active" : "NotActivated")
                    .put("activationStatusMessage", active ? "Your HSM has been activated and can be used for cryptographic operations."
                            : "Your HSM has been provisioned, but cannot be used for cryptographic operations until it is activated. "
                            + "To activate the HSM, download the security domain."));
        }
        o.set("properties", p);
        return o;
    }

    /** securityDomainProperties appears in newer API versions only; the 2023-02-01 recording has none. */
    private static boolean newerThan(String apiVersion, String threshold) {
        return apiVersion == null || apiVersion.compareTo(threshold) >= 0;
    }

    private static ArrayNode regions(JsonNode given) {
        ArrayNode out = Json.array();
        if (given != null && given.isArray()) {
            for (JsonNode region : given) {
                out.add(Json.object().put("name", region.path("name").asText()).put("isPrimary", region.path("isPrimary").asBoolean(false))
                        .put("provisioningState", "Succeeded"));
            }
        }
        return out;
    }

    private static ObjectNode networkAcls(JsonNode acls) {
        ObjectNode o = Json.object().put("bypass", acls == null ? "AzureServices" : acls.path("bypass").asText("AzureServices"))
                .put("defaultAction", acls == null ? "Allow" : acls.path("defaultAction").asText("Allow"));
        ArrayNode ip = Json.array();
        ArrayNode vnet = Json.array();
        if (acls != null) {
            // Azure stores a single address as a /32 range and answers with that.
            acls.path("ipRules").forEach(rule -> {
                String v = rule.path("value").asText();
                ip.add(Json.object().put("value", v.contains("/") ? v : v + "/32"));
            });
            acls.path("virtualNetworkRules").forEach(rule -> vnet.add(Json.object().put("id", rule.path("id").asText())));
        }
        o.set("ipRules", ip);
        o.set("virtualNetworkRules", vnet);
        return o;
    }

    private static Map<String, String> stringMap(JsonNode node) {
        Map<String, String> m = new LinkedHashMap<>();
        if (node != null && node.isObject()) {
            node.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
        }
        return m;
    }

    // ---- deleted HSMs and names ----------------------------------------------------------------

    private Http.Response listDeleted(Http.Request r, String sub) {
        return Http.Response.json(200, emu.read(() -> {
            ArrayNode value = Json.array();
            emu.state().deletedHsms.values().stream().filter(h -> h.subscriptionId.equalsIgnoreCase(sub)).forEach(h -> value.add(deletedView(h)));
            ObjectNode out = Json.object();
            out.set("value", value);
            return out;
        }));
    }

    private Http.Response deleted(Http.Request r, String sub, String location, String name) {
        if (r.size() == 8 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> deletedView(findDeleted(sub, location, name))));
        }
        if (r.size() == 9 && r.is(8, "purge") && r.method.equals("POST")) {
            return emu.write(() -> {
                State.Hsm h = findDeleted(sub, location, name);
                if (h.enablePurgeProtection && emu.controls().now().isBefore(Instant.parse(h.scheduledPurgeDate))) {
                    throw new ApiException(409, "Conflict", "The managed HSM '" + name + "' has purge protection enabled and cannot be "
                            + "purged before its scheduled purge date " + h.scheduledPurgeDate + ".");
                }
                emu.state().deletedHsms.remove(name.toLowerCase(Locale.ROOT));
                emu.dirty();
                String op = newOperation(emu.config().updateDelay().toMillis());
                return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", retryAfter());
            });
        }
        throw ApiException.notFound("The requested resource path is not supported by the emulator: " + r.path);
    }

    private State.Hsm findDeleted(String sub, String location, String name) {
        State.Hsm h = emu.state().deletedHsms.get(name.toLowerCase(Locale.ROOT));
        if (h == null || !h.subscriptionId.equalsIgnoreCase(sub)
                || !h.location.replace(" ", "").equalsIgnoreCase(location.replace(" ", ""))) {
            throw ApiException.notFound("The specified deleted managed HSM '" + name + "' does not exist.");
        }
        return h;
    }

    private static ObjectNode deletedView(State.Hsm h) {
        ObjectNode p = Json.object().put("mhsmId", h.resourceId()).put("location", h.location).put("deletionDate", h.deletionDate)
                .put("scheduledPurgeDate", h.scheduledPurgeDate).put("purgeProtectionEnabled", h.enablePurgeProtection);
        p.set("tags", Json.object(h.tags));
        ObjectNode o = Json.object().put("id", "/subscriptions/" + h.subscriptionId + "/providers/Microsoft.KeyVault/locations/"
                + h.location + "/deletedManagedHSMs/" + h.name).put("name", h.name).put("type", "Microsoft.Keyvault/deletedManagedHSMs");
        o.set("properties", p);
        return o;
    }

    private Http.Response nameAvailability(Http.Request r) {
        String name = Json.text(r.json(), "name");
        if (name == null || name.length() < 3 || name.length() > 24 || !HSM_NAME.matcher(name).matches()) {
            return Http.Response.json(200, Json.object().put("nameAvailable", false).put("reason", "AccountNameInvalid")
                    .put("message", "The name '" + name + "' is not a valid managed HSM name."));
        }
        boolean taken = emu.read(() -> emu.state().hsms.containsKey(name.toLowerCase(Locale.ROOT))
                || emu.state().deletedHsms.containsKey(name.toLowerCase(Locale.ROOT)));
        if (taken) {
            return Http.Response.json(200, Json.object().put("nameAvailable", false).put("reason", "AlreadyExists")
                    .put("message", "The name '" + name + "' is already in use."));
        }
        return Http.Response.json(200, Json.object().put("nameAvailable", true));
    }

    // ---- private endpoint connections (HSM side) -----------------------------------------------

    private Http.Response pecs(Http.Request r, String sub, String rg, String name) {
        if (r.size() == 9 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                State.Hsm h = find(sub, rg, name);
                ArrayNode value = Json.array();
                h.privateEndpointConnections.values().forEach(pec -> value.add(pecView(h, pec)));
                ObjectNode out = Json.object();
                out.set("value", value);
                return out;
            }));
        }
        String pecName = r.seg(9);
        switch (r.method) {
            case "GET":
                return Http.Response.json(200, emu.read(() -> {
                    State.Hsm h = find(sub, rg, name);
                    return pecView(h, pec(h, pecName));
                }));
            case "PUT": {
                JsonNode state = r.json().path("properties").path("privateLinkServiceConnectionState");
                String status = state.path("status").asText("");
                if (!List.of("Approved", "Rejected", "Pending", "Disconnected").contains(status)) {
                    throw new ApiException(400, "BadRequest", "The private link service connection status '" + status + "' is not valid.");
                }
                return Http.Response.json(200, emu.write(() -> {
                    State.Hsm h = find(sub, rg, name);
                    State.Pec pec = pec(h, pecName);
                    if (pec.status.equals("Disconnected")) {
                        throw new ApiException(400, "BadRequest", "The private endpoint connection is disconnected and cannot be changed.");
                    }
                    pec.status = status;
                    pec.description = state.path("description").asText(pec.description);
                    pec.actionsRequired = state.path("actionsRequired").asText("None");
                    pec.etag = "W/\"" + UUID.randomUUID() + "\"";
                    emu.dirty();
                    return pecView(h, pec);
                })).header("Retry-After", "0");
            }
            case "DELETE":
                return emu.write(() -> {
                    State.Hsm h = find(sub, rg, name);
                    State.Pec pec = h.privateEndpointConnections.remove(pecName.toLowerCase(Locale.ROOT));
                    emu.dirty();
                    return pec == null ? Http.Response.empty(204) : Http.Response.json(200, pecView(h, pec));
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    private static State.Pec pec(State.Hsm h, String name) {
        State.Pec pec = h.privateEndpointConnections.get(name.toLowerCase(Locale.ROOT));
        if (pec == null) {
            throw ApiException.notFound("Private endpoint connection '" + name + "' was not found on managed HSM '" + h.name + "'.");
        }
        return pec;
    }

    private static ObjectNode pecProperties(State.Pec pec) {
        ObjectNode p = Json.object().put("provisioningState", pec.provisioningState);
        p.set("privateEndpoint", Json.object().put("id", pec.privateEndpointId));
        p.set("privateLinkServiceConnectionState", Json.object().put("status", pec.status).put("description", pec.description)
                .put("actionsRequired", pec.actionsRequired));
        return p;
    }

    private static ObjectNode pecView(State.Hsm h, State.Pec pec) {
        ObjectNode o = Json.object().put("id", h.resourceId() + "/privateEndpointConnections/" + pec.name).put("name", pec.name)
                .put("type", "Microsoft.KeyVault/managedHSMs/privateEndpointConnections").put("etag", pec.etag);
        o.set("properties", pecProperties(pec));
        return o;
    }

    // ---- Microsoft.Network private endpoints ---------------------------------------------------

    private Http.Response privateEndpoints(Http.Request r, String sub, String rg) {
        if (r.size() == 7 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                ArrayNode value = Json.array();
                for (State.PrivateEndpoint pe : emu.state().privateEndpoints.values()) {
                    if (pe.subscriptionId.equalsIgnoreCase(sub) && pe.resourceGroup.equalsIgnoreCase(rg)) {
                        value.add(peView(pe));
                    }
                }
                ObjectNode out = Json.object();
                out.set("value", value);
                return out;
            }));
        }
        String name = r.seg(7);
        String id = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/privateEndpoints/" + name;
        if (r.size() >= 9 && r.is(8, "privateDnsZoneGroups")) {
            return dnsZoneGroups(r, id);
        }
        switch (r.method) {
            case "GET":
                return Http.Response.json(200, emu.read(() -> peView(pe(id))));
            case "PUT":
                return putPrivateEndpoint(r, sub, rg, name, id);
            case "DELETE":
                return emu.write(() -> {
                    State.PrivateEndpoint pe = emu.state().privateEndpoints.remove(id.toLowerCase(Locale.ROOT));
                    if (pe == null) {
                        return Http.Response.empty(204);
                    }
                    State.Hsm h = findById(pe.targetId);
                    if (h != null && pe.pecName != null) {
                        h.privateEndpointConnections.remove(pe.pecName.toLowerCase(Locale.ROOT));
                    }
                    emu.dirty();
                    String op = newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.empty(202).header("Azure-AsyncOperation", networkOperationUrl(sub, pe.location, op, false, r))
                            .header("Location", networkOperationUrl(sub, pe.location, op, true, r)).header("Retry-After", retryAfter());
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    private State.PrivateEndpoint pe(String id) {
        State.PrivateEndpoint pe = emu.state().privateEndpoints.get(id.toLowerCase(Locale.ROOT));
        if (pe == null) {
            String name = id.substring(id.lastIndexOf('/') + 1);
            throw ApiException.notFound("The Resource 'Microsoft.Network/privateEndpoints/" + name + "' under resource group '"
                    + id.split("/")[4] + "' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix");
        }
        return pe;
    }

    private Http.Response putPrivateEndpoint(Http.Request r, String sub, String rg, String name, String id) {
        JsonNode body = r.json();
        JsonNode props = body.path("properties");
        String location = Json.text(body, "location");
        String subnet = props.path("subnet").path("id").asText(null);
        List<JsonNode> conns = new ArrayList<>();
        props.path("privateLinkServiceConnections").forEach(conns::add);
        int automatic = conns.size();
        props.path("manualPrivateLinkServiceConnections").forEach(conns::add);
        if (subnet != null) {
            requireLinked(r, "Microsoft.Network/privateEndpoints/write", "Microsoft.Network/virtualNetworks/subnets/join/action", subnet);
        }
        return emu.write(() -> {
            State.PrivateEndpoint existing = emu.state().privateEndpoints.get(id.toLowerCase(Locale.ROOT));
            if (existing != null) {
                if (subnet != null && !subnet.equalsIgnoreCase(existing.subnetId)) {
                    throw new ApiException(400, "CannotChangeSubnetOfPrivateEndpoint", "The subnet of private endpoint " + id
                            + " cannot be changed.");
                }
                existing.tags = body.has("tags") ? stringMap(body.get("tags")) : existing.tags;
                emu.dirty();
                return Http.Response.json(200, peView(existing));
            }
            if (location == null) {
                throw new ApiException(400, "LocationRequired", "The location property is required for this definition.");
            }
            if (subnet == null || !RESOURCE_ID.matcher(subnet).matches() || !subnet.toLowerCase(Locale.ROOT).contains("/subnets/")) {
                throw new ApiException(400, "InvalidRequestFormat", "Cannot parse the request: properties.subnet.id '" + subnet
                        + "' is not a valid subnet resource ID.");
            }
            if (conns.size() != 1) {
                throw new ApiException(400, "PrivateEndpointMustHaveOneConnection", "A private endpoint must have exactly one private "
                        + "link service connection.");
            }
            JsonNode c = conns.get(0);
            String target = c.path("properties").path("privateLinkServiceId").asText("");
            State.Hsm h = findById(target);
            if (h == null) {
                throw new ApiException(400, "LinkedInvalidPropertyId",
                        "Property id '" + target + "' at path 'properties.privateLinkServiceConnections[0].properties.privateLinkServiceId'"
                                + " does not refer to an existing managed HSM.");
            }
            List<String> groups = new ArrayList<>();
            c.path("properties").path("groupIds").forEach(g -> groups.add(g.asText()));
            if (groups.size() != 1 || !groups.get(0).equalsIgnoreCase("managedhsm")) {
                throw new ApiException(400, "InvalidGroupId", "Group id(s) " + groups + " are not valid for resource " + target
                        + ". Valid group ids: [managedhsm].");
            }
            if (h.privateEndpointConnections.size() >= 64) {
                throw new ApiException(400, "LimitExceeded", "A managed HSM supports at most 64 private endpoints.");
            }
            ensureResourceGroup(sub, rg, location);
            State.PrivateEndpoint pe = new State.PrivateEndpoint();
            pe.id = id;
            pe.name = name;
            pe.subscriptionId = sub;
            pe.resourceGroup = rg;
            pe.location = location;
            pe.subnetId = subnet;
            pe.tags = stringMap(body.get("tags"));
            pe.manual = automatic == 0;
            pe.connectionName = c.path("name").asText(name);
            pe.requestMessage = c.path("properties").path("requestMessage").asText(null);
            pe.groupId = "managedhsm";
            pe.targetId = h.resourceId();
            pe.pecName = name + "." + UUID.randomUUID();
            pe.nicName = name + ".nic." + UUID.randomUUID();
            int hash = Math.abs(id.toLowerCase(Locale.ROOT).hashCode());
            pe.privateIp = "10." + (hash % 250) + "." + ((hash / 250) % 250) + "." + (4 + (hash / 62500) % 250);
            pe.readyAtMillis = System.currentTimeMillis() + emu.config().updateDelay().toMillis();
            State.Pec pec = new State.Pec();
            pec.name = pe.pecName;
            pec.privateEndpointId = id;
            pec.status = pe.manual ? "Pending" : "Approved";
            pec.description = pe.manual ? (pe.requestMessage == null ? "Awaiting approval" : pe.requestMessage) : "Auto-Approved";
            pec.etag = "W/\"" + UUID.randomUUID() + "\"";
            h.privateEndpointConnections.put(pec.name.toLowerCase(Locale.ROOT), pec);
            emu.state().privateEndpoints.put(id.toLowerCase(Locale.ROOT), pe);
            emu.dirty();
            String op = newOperation(emu.config().updateDelay().toMillis());
            return Http.Response.json(201, peView(pe)).header("Azure-AsyncOperation", networkOperationUrl(sub, location, op, false, r))
                    .header("Retry-After", retryAfter());
        });
    }

    private String networkOperationUrl(String sub, String location, String op, boolean result, Http.Request r) {
        return emu.baseUrl() + "/subscriptions/" + sub + "/providers/Microsoft.Network/locations/" + location.replace(" ", "").toLowerCase(Locale.ROOT)
                + (result ? "/operationResults/" : "/operations/") + op + "?api-version=" + r.apiVersion();
    }

    private Http.Response networkOperation(Http.Request r, boolean result) {
        State.Operation op = emu.read(() -> emu.state().operations.get(r.seg(7)));
        if (op == null) {
            throw ApiException.notFound("The operation '" + r.seg(7) + "' was not found.");
        }
        boolean done = System.currentTimeMillis() >= op.doneAtMillis;
        if (result) {
            return done ? Http.Response.empty(204) : Http.Response.empty(202).header("Location", emu.baseUrl() + r.rawTarget)
                    .header("Retry-After", retryAfter());
        }
        return Http.Response.json(200, Json.object().put("status", done ? op.status : "InProgress"));
    }

    private ObjectNode peView(State.PrivateEndpoint pe) {
        boolean ready = System.currentTimeMillis() >= pe.readyAtMillis;
        State.Hsm h = findById(pe.targetId);
        State.Pec pec = h == null ? null : h.privateEndpointConnections.get(pe.pecName.toLowerCase(Locale.ROOT));
        ObjectNode state = Json.object();
        if (pec == null) {
            state.put("status", "Disconnected").put("description", "The private endpoint connection was removed by the resource owner.")
                    .put("actionsRequired", "None");
        } else {
            state.put("status", pec.status).put("description", pec.description).put("actionsRequired", pec.actionsRequired);
        }
        ObjectNode connProps = Json.object().put("provisioningState", "Succeeded").put("privateLinkServiceId", pe.targetId);
        connProps.set("groupIds", Json.array(List.of(pe.groupId)));
        if (pe.requestMessage != null) {
            connProps.put("requestMessage", pe.requestMessage);
        }
        connProps.set("privateLinkServiceConnectionState", state);
        String kind = pe.manual ? "manualPrivateLinkServiceConnections" : "privateLinkServiceConnections";
        ObjectNode conn = Json.object().put("name", pe.connectionName).put("id", pe.id + "/" + kind + "/" + pe.connectionName)
                .put("etag", "W/\"" + Integer.toHexString(pe.id.hashCode()) + "\"")
                .put("type", "Microsoft.Network/privateEndpoints/privateLinkServiceConnections");
        conn.set("properties", connProps);
        ObjectNode props = Json.object().put("provisioningState", ready ? "Succeeded" : "Updating")
                .put("resourceGuid", UUID.nameUUIDFromBytes(pe.id.getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString());
        props.set("privateLinkServiceConnections", pe.manual ? Json.array() : Json.array().add(conn));
        props.set("manualPrivateLinkServiceConnections", pe.manual ? Json.array().add(conn) : Json.array());
        props.put("customNetworkInterfaceName", "");
        props.set("subnet", Json.object().put("id", pe.subnetId));
        props.set("ipConfigurations", Json.array());
        props.set("networkInterfaces", Json.array().add(Json.object().put("id", "/subscriptions/" + pe.subscriptionId
                + "/resourceGroups/" + pe.resourceGroup + "/providers/Microsoft.Network/networkInterfaces/" + pe.nicName)));
        String hsmName = pe.targetId.substring(pe.targetId.lastIndexOf('/') + 1);
        ObjectNode dns = Json.object().put("fqdn", hsmName.toLowerCase(Locale.ROOT) + ".managedhsm.azure.net");
        dns.set("ipAddresses", Json.array(List.of(pe.privateIp)));
        props.set("customDnsConfigs", Json.array().add(dns));
        ObjectNode o = Json.object().put("name", pe.name).put("id", pe.id).put("etag", "W/\"" + Integer.toHexString(pe.id.hashCode()) + "\"")
                .put("type", "Microsoft.Network/privateEndpoints").put("location", pe.location);
        if (!pe.tags.isEmpty()) {
            o.set("tags", Json.object(pe.tags));
        }
        o.set("properties", props);
        return o;
    }

    private Http.Response dnsZoneGroups(Http.Request r, String peId) {
        if (r.size() == 9 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                State.PrivateEndpoint pe = pe(peId);
                ArrayNode value = Json.array();
                pe.dnsZoneGroups.values().forEach(value::add);
                ObjectNode out = Json.object();
                out.set("value", value);
                return out;
            }));
        }
        String name = r.seg(9);
        switch (r.method) {
            case "GET":
                return Http.Response.json(200, emu.read(() -> {
                    ObjectNode g = pe(peId).dnsZoneGroups.get(name.toLowerCase(Locale.ROOT));
                    if (g == null) {
                        throw ApiException.notFound("Private DNS zone group '" + name + "' was not found.");
                    }
                    return g;
                }));
            case "PUT": {
                JsonNode configs = r.json().path("properties").path("privateDnsZoneConfigs");
                for (JsonNode c : configs) {
                    String zoneId = c.path("properties").path("privateDnsZoneId").asText("");
                    if (!zoneId.isEmpty()) {
                        requireLinked(r, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/write",
                                "Microsoft.Network/privateDnsZones/join/action", zoneId);
                    }
                }
                return emu.write(() -> {
                    State.PrivateEndpoint pe = pe(peId);
                    String hsmName = pe.targetId.substring(pe.targetId.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
                    ArrayNode out = Json.array();
                    for (JsonNode c : configs) {
                        String zoneId = c.path("properties").path("privateDnsZoneId").asText("");
                        if (!zoneId.toLowerCase(Locale.ROOT).matches("^/subscriptions/[0-9a-f-]{36}/resourcegroups/[^/]+/providers/"
                                + "microsoft\\.network/privatednszones/[^/]+$")) {
                            throw new ApiException(400, "LinkedInvalidPropertyId", "Property id '" + zoneId + "' at path "
                                    + "'properties.privateDnsZoneConfigs[].properties.privateDnsZoneId' is invalid. Expect a private DNS zone resource ID.");
                        }
                        String zone = zoneId.substring(zoneId.lastIndexOf('/') + 1);
                        ObjectNode record = Json.object().put("recordType", "A").put("recordSetName", hsmName)
                                .put("fqdn", hsmName + "." + zone).put("ttl", 10).put("provisioningState", "Succeeded");
                        record.set("ipAddresses", Json.array(List.of(pe.privateIp)));
                        ObjectNode cp = Json.object().put("privateDnsZoneId", zoneId);
                        cp.set("recordSets", Json.array().add(record));
                        String cname = c.path("name").asText(zone.replace('.', '-'));
                        ObjectNode cfg = Json.object().put("name", cname).put("id", peId + "/privateDnsZoneGroups/" + name
                                + "/privateDnsZoneConfigs/" + cname);
                        cfg.set("properties", cp);
                        out.add(cfg);
                    }
                    ObjectNode props = Json.object().put("provisioningState", "Succeeded");
                    props.set("privateDnsZoneConfigs", out);
                    ObjectNode g = Json.object().put("name", name).put("id", peId + "/privateDnsZoneGroups/" + name)
                            .put("etag", "W/\"" + UUID.randomUUID() + "\"");
                    g.set("properties", props);
                    boolean created = pe.dnsZoneGroups.put(name.toLowerCase(Locale.ROOT), g) == null;
                    emu.dirty();
                    String op = newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.json(created ? 201 : 200, g).header("Azure-AsyncOperation",
                            networkOperationUrl(pe.subscriptionId, pe.location, op, false, r)).header("Retry-After", retryAfter());
                });
            }
            case "DELETE":
                return emu.write(() -> {
                    State.PrivateEndpoint pe = pe(peId);
                    ObjectNode g = pe.dnsZoneGroups.remove(name.toLowerCase(Locale.ROOT));
                    emu.dirty();
                    if (g == null) {
                        return Http.Response.empty(204);
                    }
                    String op = newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.empty(202).header("Azure-AsyncOperation", networkOperationUrl(pe.subscriptionId, pe.location,
                            op, false, r)).header("Location", networkOperationUrl(pe.subscriptionId, pe.location, op, true, r));
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    // ---- Microsoft.Insights diagnostic settings ------------------------------------------------

    private static int insightsIndex(Http.Request r) {
        for (int i = 2; i + 2 < r.size() + 1; i++) {
            if (r.is(i, "providers") && r.is(i + 1, "Microsoft.Insights")
                    && (r.is(i + 2, "diagnosticSettings") || r.is(i + 2, "diagnosticSettingsCategories"))) {
                return i;
            }
        }
        return -1;
    }

    private Http.Response diagnostics(Http.Request r, int providers) {
        String resourceUri = "/" + String.join("/", r.segments.subList(0, providers));
        boolean categories = r.is(providers + 2, "diagnosticSettingsCategories");
        String name = r.seg(providers + 3);
        State.Hsm h = emu.read(() -> findById(resourceUri));
        if (h == null) {
            throw ApiException.notFound("The Resource '" + resourceUri + "' was not found.");
        }
        String lowerUri = resourceUri.toLowerCase(Locale.ROOT);
        if (categories) {
            return Http.Response.json(200, categoriesView(lowerUri, name));
        }
        String key = lowerUri + "|" + (name == null ? "" : name.toLowerCase(Locale.ROOT));
        switch (r.method) {
            case "GET":
                if (name == null) {
                    return Http.Response.json(200, emu.read(() -> {
                        ArrayNode value = Json.array();
                        emu.state().diagnosticSettings.forEach((k, v) -> {
                            if (k.startsWith(lowerUri + "|")) {
                                value.add(diagView(v, h.location));
                            }
                        });
                        ObjectNode out = Json.object();
                        out.set("value", value);
                        return out;
                    }));
                }
                return Http.Response.json(200, emu.read(() -> {
                    ObjectNode s = emu.state().diagnosticSettings.get(key);
                    if (s == null) {
                        throw new ApiException(404, "ResourceNotFound", "The diagnostic setting '" + name + "' doesn't exist.",
                                ApiException.Envelope.BARE);
                    }
                    return diagView(s, h.location);
                }));
            case "PUT": {
                ObjectNode setting = validateDiagnostic(r.json(), lowerUri, name);
                return Http.Response.json(200, emu.write(() -> {
                    long count = emu.state().diagnosticSettings.keySet().stream().filter(k -> k.startsWith(lowerUri + "|")).count();
                    if (!emu.state().diagnosticSettings.containsKey(key) && count >= 5) {
                        throw new ApiException(400, "BadRequest", "A resource can have at most 5 diagnostic settings.",
                                ApiException.Envelope.BARE);
                    }
                    emu.state().diagnosticSettings.forEach((k, other) -> {
                        if (k.startsWith(lowerUri + "|") && !k.equals(key)) {
                            refuseSharedSink(setting, other);
                        }
                    });
                    emu.state().diagnosticSettings.put(key, setting);
                    emu.dirty();
                    return diagView(setting, null);
                }));
            }
            case "DELETE":
                return emu.write(() -> {
                    ObjectNode removed = emu.state().diagnosticSettings.remove(key);
                    emu.dirty();
                    return removed == null ? Http.Response.empty(204) : Http.Response.empty(200);
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.", ApiException.Envelope.BARE);
        }
    }

    private static ObjectNode categoriesView(String lowerUri, String name) {
        ArrayNode value = Json.array();
        ObjectNode audit = Json.object().put("id", lowerUri + "/providers/microsoft.insights/diagnosticSettingsCategories/AuditEvent")
                .put("type", "Microsoft.Insights/diagnosticSettingsCategories").put("name", "AuditEvent");
        ObjectNode ap = Json.object().put("categoryType", "Logs");
        ap.set("categoryGroups", Json.array(List.of("audit", "allLogs")));
        audit.set("properties", ap);
        ObjectNode metrics = Json.object().put("id", lowerUri + "/providers/microsoft.insights/diagnosticSettingsCategories/AllMetrics")
                .put("type", "Microsoft.Insights/diagnosticSettingsCategories").put("name", "AllMetrics");
        ObjectNode mp = Json.object().put("categoryType", "Metrics");
        mp.set("categoryGroups", Json.array());
        metrics.set("properties", mp);
        if (name != null) {
            if (name.equalsIgnoreCase("AuditEvent")) {
                return audit;
            }
            if (name.equalsIgnoreCase("AllMetrics")) {
                return metrics;
            }
            throw new ApiException(404, "ResourceNotFound", "Category '" + name + "' is not supported.", ApiException.Envelope.BARE);
        }
        value.add(audit);
        value.add(metrics);
        ObjectNode out = Json.object();
        out.set("value", value);
        return out;
    }

    private static ObjectNode validateDiagnostic(JsonNode body, String lowerUri, String name) {
        JsonNode p = body.path("properties");
        String ws = nullable(p, "workspaceId");
        String sa = nullable(p, "storageAccountId");
        String eh = nullable(p, "eventHubAuthorizationRuleId");
        String partner = nullable(p, "marketplacePartnerId");
        String sb = nullable(p, "serviceBusRuleId");
        checkId(ws, "workspaceId", "microsoft.operationalinsights/workspaces");
        checkId(sa, "storageAccountId", "microsoft.storage/storageaccounts");
        checkId(eh, "eventHubAuthorizationRuleId", "microsoft.eventhub/namespaces");
        if (ws == null && sa == null && eh == null && partner == null && sb == null) {
            throw new ApiException(400, "BadRequest", "Diagnostic setting does not have any destination set. Set at least one of "
                    + "storage account, event hub, Log Analytics workspace or partner solution.", ApiException.Envelope.BARE);
        }
        boolean anyCategory = false;
        boolean anyGroup = false;
        ArrayNode logs = Json.array();
        for (JsonNode l : p.path("logs")) {
            String cat = nullable(l, "category");
            String group = nullable(l, "categoryGroup");
            anyCategory |= cat != null;
            anyGroup |= group != null;
            if (cat != null && !cat.equalsIgnoreCase("AuditEvent")) {
                throw new ApiException(400, "BadRequest", "Category '" + cat + "' is not supported.", ApiException.Envelope.BARE);
            }
            if (group != null && !group.equalsIgnoreCase("audit") && !group.equalsIgnoreCase("allLogs")) {
                throw new ApiException(400, "BadRequest", "Category group '" + group + "' is not supported.", ApiException.Envelope.BARE);
            }
            logs.add(l);
        }
        if (anyCategory && anyGroup) {
            throw new ApiException(400, "BadRequest", "Diagnostic setting does not support mix of log category and log category group.",
                    ApiException.Envelope.BARE);
        }
        for (JsonNode entry : concat(p.path("logs"), p.path("metrics"))) {
            if (entry.path("retentionPolicy").path("enabled").asBoolean(false)) {
                throw new ApiException(400, "BadRequest", "Diagnostic settings does not support retention for new diagnostic settings.",
                        ApiException.Envelope.BARE);
            }
        }
        for (JsonNode m : p.path("metrics")) {
            String cat = nullable(m, "category");
            if (cat != null && !cat.equalsIgnoreCase("AllMetrics")) {
                throw new ApiException(400, "BadRequest", "Metric category '" + cat + "' is not supported.", ApiException.Envelope.BARE);
            }
        }
        String dest = nullable(p, "logAnalyticsDestinationType");
        if (dest != null && !dest.equals("AzureDiagnostics") && !dest.equals("Dedicated")) {
            throw new ApiException(400, "BadRequest", "logAnalyticsDestinationType must be AzureDiagnostics or Dedicated.",
                    ApiException.Envelope.BARE);
        }
        ObjectNode s = Json.object().put("resourceUri", lowerUri).put("name", name);
        ObjectNode props = Json.object();
        props.put("storageAccountId", sa).put("serviceBusRuleId", sb).put("workspaceId", ws).put("eventHubAuthorizationRuleId", eh)
                .put("eventHubName", nullable(p, "eventHubName"));
        ArrayNode metricsOut = Json.array();
        boolean metricsEnabled = false;
        for (JsonNode m : p.path("metrics")) {
            metricsEnabled |= m.path("enabled").asBoolean(false);
        }
        metricsOut.add(metricEntry(metricsEnabled));
        props.set("metrics", metricsOut);
        ArrayNode logsOut = Json.array();
        if (anyGroup) {
            logsOut.add(logEntry(null, "audit", groupEnabled(logs, "audit")));
            logsOut.add(logEntry(null, "allLogs", groupEnabled(logs, "allLogs")));
        } else {
            boolean enabled = false;
            for (JsonNode l : logs) {
                enabled |= l.path("enabled").asBoolean(false);
            }
            logsOut.add(logEntry("AuditEvent", null, enabled));
        }
        props.set("logs", logsOut);
        props.putNull("marketplacePartnerId");
        if (partner != null) {
            props.put("marketplacePartnerId", partner);
        }
        props.put("logAnalyticsDestinationType", dest == null ? "AzureDiagnostics" : dest);
        s.set("properties", props);
        return s;
    }

    private static List<JsonNode> concat(JsonNode a, JsonNode b) {
        List<JsonNode> out = new ArrayList<>();
        a.forEach(out::add);
        b.forEach(out::add);
        return out;
    }

    /** Azure lets one destination receive a category of a resource through one of its settings only: 409 otherwise. */
    private static void refuseSharedSink(ObjectNode setting, ObjectNode other) {
        JsonNode mine = setting.path("properties");
        JsonNode theirs = other.path("properties");
        for (String sink : List.of("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId")) {
            String id = nullable(mine, sink);
            if (id == null || !id.equalsIgnoreCase(nullable(theirs, sink))) {
                continue;
            }
            String category = anyEnabled(mine.path("logs")) && anyEnabled(theirs.path("logs")) ? "AuditEvent"
                    : anyEnabled(mine.path("metrics")) && anyEnabled(theirs.path("metrics")) ? "AllMetrics" : null;
            if (category != null) {
                throw new ApiException(409, "Conflict", "Data sink '" + id + "' is already used in diagnostic setting '"
                        + other.path("name").asText() + "' for category '" + category + "'. Data sinks can't be reused in different "
                        + "settings on the same category for the same resource.", ApiException.Envelope.BARE);
            }
        }
    }

    private static boolean anyEnabled(JsonNode entries) {
        for (JsonNode e : entries) {
            if (e.path("enabled").asBoolean(false)) {
                return true;
            }
        }
        return false;
    }

    private static boolean groupEnabled(ArrayNode logs, String group) {
        for (JsonNode l : logs) {
            if (group.equalsIgnoreCase(nullable(l, "categoryGroup"))) {
                return l.path("enabled").asBoolean(false);
            }
        }
        return false;
    }

    private static ObjectNode logEntry(String category, String group, boolean enabled) {
        ObjectNode e = Json.object();
        e.put("category", category);
        e.put("categoryGroup", group);
        e.put("enabled", enabled);
        e.set("retentionPolicy", Json.object().put("enabled", false).put("days", 0));
        return e;
    }

    private static ObjectNode metricEntry(boolean enabled) {
        ObjectNode e = Json.object().put("category", "AllMetrics");
        e.putNull("timeGrain");
        e.put("enabled", enabled);
        e.set("retentionPolicy", Json.object().put("enabled", false).put("days", 0));
        return e;
    }

    private static void checkId(String id, String property, String type) {
        if (id == null) {
            return;
        }
        if (!RESOURCE_ID.matcher(id).matches() || !id.toLowerCase(Locale.ROOT).contains("/providers/" + type + "/")) {
            throw new ApiException(400, "LinkedInvalidPropertyId", "Property id '" + id + "' at path 'properties." + property
                    + "' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                    + "'/providers/{resourceProviderNamespace}/'.");
        }
    }

    private static String nullable(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() || v.asText().isEmpty() ? null : v.asText();
    }

    private static ObjectNode diagView(ObjectNode s, String location) {
        String uri = s.get("resourceUri").asText();
        String name = s.get("name").asText();
        ObjectNode o = Json.object().put("id", uri + "/providers/microsoft.insights/diagnosticSettings/" + name)
                .put("type", "Microsoft.Insights/diagnosticSettings").put("name", name);
        o.put("location", location);
        o.putNull("kind");
        o.putNull("tags");
        o.set("properties", s.get("properties").deepCopy());
        o.putNull("identity");
        return o;
    }
}
