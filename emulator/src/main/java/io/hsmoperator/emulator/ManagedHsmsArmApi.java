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
 * Microsoft.KeyVault/managedHSMs as ARM's Managed HSM REST reference describes it: managed HSMs (list, get, create or
 * update, update, delete) and their long-running operations, deleted managed HSMs (list, get, purge), name
 * availability, and the HSM side of private endpoint connections.
 */
final class ManagedHsmsArmApi {
    private static final Pattern HSM_NAME = Pattern.compile("^[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9])+$");
    private static final List<String> SKUS = List.of("Standard_B1", "Custom_B32", "Custom_B6", "Custom_C42", "Custom_C10");

    private final Emulator emu;
    private final Arm arm;
    private final ResourcesArmApi resources;

    ManagedHsmsArmApi(Emulator emu, Arm arm, ResourcesArmApi resources) {
        this.emu = emu;
        this.arm = arm;
        this.resources = resources;
    }

    private static String iso(Instant t) {
        return t.truncatedTo(ChronoUnit.MILLIS).toString();
    }

    // ---- managed HSMs --------------------------------------------------------------------------

    Http.Response listHsms(Http.Request r, String sub, String rg) {
        return Http.Response.json(200, emu.read(() -> {
            ArrayNode value = Json.array();
            for (State.Hsm h : emu.state().hsms.values()) {
                if (h.subscriptionId.equalsIgnoreCase(sub) && (rg == null || h.resourceGroup.equalsIgnoreCase(rg))) {
                    value.add(hsmView(r, h, true));
                }
            }
            return Json.list(value);
        }));
    }

    Http.Response hsm(Http.Request r, String sub, String rg, String name) {
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
                return Json.list(Json.array().add(plr));
            }));
        }
        if ("regions".equalsIgnoreCase(child) && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                State.Hsm h = find(sub, rg, name);
                return Json.list(HsmRegions.list(h));
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
            if (!Rbac.GUID.matcher(a).matches()) {
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
        List<String> identities = identities(r, body.get("identity"));
        resources.ensureResourceGroup(sub, rg, location);
        Instant now = emu.controls().now();
        State.Hsm h = new State.Hsm();
        h.userAssignedIdentities = identities;
        h.name = name;
        h.subscriptionId = sub;
        h.resourceGroup = rg;
        h.location = location;
        h.skuName = skuName;
        h.skuFamily = body.path("sku").path("family").asText(skuName.contains("_C") ? "C" : "B");
        h.tenantId = tenant;
        h.tags = Arm.stringMap(body.get("tags"));
        h.tags.putAll(emu.controls().policyTags());
        h.initialAdminObjectIds = admins;
        h.softDeleteRetentionInDays = retention;
        h.enablePurgeProtection = props.path("enablePurgeProtection").asBoolean(true);
        h.publicNetworkAccess = props.path("publicNetworkAccess").asText("Enabled");
        h.networkAcls = networkAcls(props.get("networkAcls"));
        if (props.has("regions")) {
            // Azure adds extended regions to an existing HSM (az keyvault region add); a create names at most its primary.
            List<String> extended = emu.regions().requested(h, props.get("regions"));
            if (extended != null && !extended.isEmpty()) {
                throw new ApiException(400, "BadRequest", "Extended regions can only be added to a provisioned managed HSM.");
            }
        }
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
        // A PUT replaces the resource: what it leaves out goes back to its default (no extended region). A PATCH keeps it.
        List<String> regions = props.has("regions") ? emu.regions().requested(h, props.get("regions"))
                : patch ? null : emu.regions().requested(h, Json.array());
        if (regions != null) {
            changed = true;
        }
        boolean networkChange = !pna.equals(h.publicNetworkAccess) || !acls.equals(h.networkAcls);
        if (networkChange && HsmRegions.adding(h)) {
            throw new ApiException(409, "Conflict", "A region is being added to the managed HSM '" + h.name + "'; its network rules "
                    + "cannot change until that completes.");
        }
        // A PUT without an identity removes the HSM's identities; a PATCH without one keeps them.
        List<String> identities = body.has("identity") || !patch ? identities(r, body.get("identity")) : h.userAssignedIdentities;
        if (!sameIds(identities, h.userAssignedIdentities)) {
            changed = true;
        }
        Map<String, String> tags = body.has("tags") ? Arm.stringMap(body.get("tags")) : (patch ? h.tags : new LinkedHashMap<>());
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
            if (regions != null) {
                emu.regions().apply(h, regions);
            }
            h.userAssignedIdentities = identities;
            h.tags = tags;
            h.lastModifiedAt = iso(emu.controls().now());
            h.lastModifiedBy = r.appId;
            emu.dirty();
        }
        if (changed) {
            h.updateDoneAtMillis = System.currentTimeMillis() + emu.config().updateDelay().toMillis();
            h.updateFailed = r.failAsync;
            emu.dirty();
            String op = arm.newOperation(emu.config().updateDelay().toMillis());
            if (r.failAsync) {
                State.Operation failed = emu.state().operations.get(op);
                failed.status = "Failed";
                failed.error = Json.object().put("code", "InternalError").put("message", "The update of the managed HSM failed. Retry the update.");
            }
            return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", arm.retryAfter());
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

    private String operationUrl(Http.Request r, State.Hsm h, String op) {
        return emu.baseUrl() + "/subscriptions/" + h.subscriptionId + "/providers/Microsoft.KeyVault/locations/" + h.location
                + "/managedHsmOperationResults/" + op + "?api-version=" + r.apiVersion();
    }

    Http.Response operationResult(Http.Request r) {
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
            if (!HsmRegions.current(h).isEmpty()) {
                throw new ApiException(409, "Conflict", "The managed HSM '" + h.name + "' is replicated to " + HsmRegions.current(h).stream()
                        .map(region -> region.name).toList() + ". Remove its extended regions before deleting it.");
            }
            Instant now = emu.controls().now();
            h.deletionDate = now.truncatedTo(ChronoUnit.SECONDS).toString();
            h.scheduledPurgeDate = now.plus(h.softDeleteRetentionInDays, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS).toString();
            h.deletedAtEpoch = now.getEpochSecond();
            emu.state().hsms.remove(name.toLowerCase(Locale.ROOT));
            emu.state().deletedHsms.put(name.toLowerCase(Locale.ROOT), h);
            emu.closeHsm(h);
            emu.dirty();
            String op = arm.newOperation(emu.config().updateDelay().toMillis());
            return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", arm.retryAfter());
        });
    }

    ObjectNode hsmView(Http.Request r, State.Hsm h, boolean get) {
        long nowMillis = System.currentTimeMillis();
        ObjectNode o = Json.object();
        o.set("sku", Json.object().put("family", h.skuFamily).put("name", h.skuName));
        o.put("id", h.resourceId()).put("name", h.name).put("type", "Microsoft.KeyVault/managedHSMs").put("location", h.location);
        o.set("tags", Json.object(h.tags));
        if (h.userAssignedIdentities != null && !h.userAssignedIdentities.isEmpty()) {
            ObjectNode assigned = Json.object();
            for (String id : h.userAssignedIdentities) {
                State.UserAssignedIdentity ua = arm.identities().byId(id);
                ObjectNode entry = assigned.putObject(id);
                if (ua != null) {
                    entry.put("principalId", ua.principalId).put("clientId", ua.clientId);
                }
            }
            ObjectNode identity = Json.object().put("type", "UserAssigned");
            identity.set("userAssignedIdentities", assigned);
            o.set("identity", identity);
        }
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
        p.set("regions", HsmRegions.view(h));
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

    /**
     * The user-assigned identities an {@code identity} asks for. Each must exist, and giving one to a resource needs
     * {@code Microsoft.ManagedIdentity/userAssignedIdentities/assign/action} on it (403 LinkedAuthorizationFailed), as in
     * Azure. Managed HSM takes user-assigned identities only (the type SystemAssigned is refused: a guess, see README).
     */
    private List<String> identities(Http.Request r, JsonNode identity) {
        List<String> ids = new ArrayList<>();
        if (identity == null || identity.isNull() || "None".equalsIgnoreCase(identity.path("type").asText("None"))) {
            return ids;
        }
        String type = identity.path("type").asText();
        if (!type.equalsIgnoreCase("UserAssigned")) {
            throw new ApiException(400, "BadRequest", "The identity type '" + type + "' is not supported by a managed HSM; use "
                    + "'UserAssigned' (or 'None').");
        }
        java.util.Iterator<String> names = identity.path("userAssignedIdentities").fieldNames();
        while (names.hasNext()) {
            String id = names.next();
            if (arm.identities().byId(id) == null) {
                throw new ApiException(400, "BadRequest", "Resource '" + id + "' was not found: the user-assigned identity does not exist.");
            }
            arm.requireLinked(r, "Microsoft.KeyVault/managedHSMs/write", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", id);
            ids.add(id);
        }
        if (ids.isEmpty()) {
            throw new ApiException(400, "BadRequest", "The identity type 'UserAssigned' needs at least one userAssignedIdentities entry.");
        }
        return ids;
    }

    private static boolean sameIds(List<String> a, List<String> b) {
        java.util.Set<String> x = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        java.util.Set<String> y = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        x.addAll(a == null ? List.of() : a);
        y.addAll(b == null ? List.of() : b);
        return x.equals(y);
    }

    /** securityDomainProperties appears in newer API versions only; the 2023-02-01 recording has none. */
    private static boolean newerThan(String apiVersion, String threshold) {
        return apiVersion == null || apiVersion.compareTo(threshold) >= 0;
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

    // ---- deleted HSMs and names ----------------------------------------------------------------

    Http.Response listDeleted(Http.Request r, String sub) {
        return Http.Response.json(200, emu.read(() -> {
            ArrayNode value = Json.array();
            emu.state().deletedHsms.values().stream().filter(h -> h.subscriptionId.equalsIgnoreCase(sub)).forEach(h -> value.add(deletedView(h)));
            return Json.list(value);
        }));
    }

    Http.Response deleted(Http.Request r, String sub, String location, String name) {
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
                String op = arm.newOperation(emu.config().updateDelay().toMillis());
                return Http.Response.empty(202).header("Location", operationUrl(r, h, op)).header("Retry-After", arm.retryAfter());
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

    Http.Response nameAvailability(Http.Request r) {
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
                return Json.list(value);
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
                    refuseWhileAdding(h);
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
                    refuseWhileAdding(h);
                    State.Pec pec = h.privateEndpointConnections.remove(pecName.toLowerCase(Locale.ROOT));
                    emu.dirty();
                    return pec == null ? Http.Response.empty(204) : Http.Response.json(200, pecView(h, pec));
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    private static void refuseWhileAdding(State.Hsm h) {
        if (HsmRegions.adding(h)) {
            throw new ApiException(409, "Conflict", "A region is being added to the managed HSM '" + h.name + "'; its private endpoint "
                    + "connections cannot change until that completes.");
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
}
