package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * Microsoft.Network as ARM's Virtual Network REST reference describes it, for what the operator uses: private
 * endpoints (list, get, create or update, delete) with their private DNS zone groups, and the network operations that
 * report on them.
 */
final class NetworkArmApi {
    private final Emulator emu;
    private final Arm arm;
    private final ResourcesArmApi resources;
    private final ManagedHsmsArmApi hsms;

    NetworkArmApi(Emulator emu, Arm arm, ResourcesArmApi resources, ManagedHsmsArmApi hsms) {
        this.emu = emu;
        this.arm = arm;
        this.resources = resources;
        this.hsms = hsms;
    }

    Http.Response privateEndpoints(Http.Request r, String sub, String rg) {
        if (r.size() == 7 && r.method.equals("GET")) {
            return Http.Response.json(200, emu.read(() -> {
                ArrayNode value = Json.array();
                for (State.PrivateEndpoint pe : emu.state().privateEndpoints.values()) {
                    if (pe.subscriptionId.equalsIgnoreCase(sub) && pe.resourceGroup.equalsIgnoreCase(rg)) {
                        value.add(peView(pe));
                    }
                }
                return Json.list(value);
            }));
        }
        String name = r.seg(7);
        String id = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/privateEndpoints/" + name;
        if (r.size() >= 9 && r.is(8, "privateDnsZoneGroups")) {
            return dnsZoneGroups(r, id);
        }
        switch (r.method) {
            case "GET":
                return Http.Response.json(200, emu.read(() -> {
                    State.PrivateEndpoint pe = pe(id);
                    return emu.staleReads().read(stale(id)).orElseGet(() -> peView(pe));
                }));
            case "PUT":
                return putPrivateEndpoint(r, sub, rg, name, id);
            case "DELETE":
                return emu.write(() -> {
                    State.PrivateEndpoint pe = emu.state().privateEndpoints.remove(id.toLowerCase(Locale.ROOT));
                    if (pe == null) {
                        return Http.Response.empty(204);
                    }
                    State.Hsm h = hsms.findById(pe.targetId);
                    if (h != null && pe.pecName != null) {
                        h.privateEndpointConnections.remove(pe.pecName.toLowerCase(Locale.ROOT));
                    }
                    emu.dirty();
                    String op = arm.newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.empty(202).header("Azure-AsyncOperation", networkOperationUrl(sub, pe.location, op, false, r))
                            .header("Location", networkOperationUrl(sub, pe.location, op, true, r)).header("Retry-After", arm.retryAfter());
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }

    private static String stale(String id) {
        return "pe|" + id.toLowerCase(Locale.ROOT);
    }

    private static String newEtag() {
        return "W/\"" + UUID.randomUUID() + "\"";
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
            arm.requireLinked(r, "Microsoft.Network/privateEndpoints/write", "Microsoft.Network/virtualNetworks/subnets/join/action", subnet);
        }
        return emu.write(() -> {
            State.PrivateEndpoint existing = emu.state().privateEndpoints.get(id.toLowerCase(Locale.ROOT));
            if (existing != null) {
                if (subnet != null && !subnet.equalsIgnoreCase(existing.subnetId)) {
                    throw new ApiException(400, "CannotChangeSubnetOfPrivateEndpoint", "The subnet of private endpoint " + id
                            + " cannot be changed.");
                }
                emu.staleReads().beforeUpdate(stale(id), peView(existing));
                existing.tags = body.has("tags") ? Arm.stringMap(body.get("tags")) : existing.tags;
                existing.etag = newEtag();
                emu.dirty();
                return Http.Response.json(200, peView(existing));
            }
            if (location == null) {
                throw new ApiException(400, "LocationRequired", "The location property is required for this definition.");
            }
            if (subnet == null || !Arm.RESOURCE_ID.matcher(subnet).matches() || !subnet.toLowerCase(Locale.ROOT).contains("/subnets/")) {
                throw new ApiException(400, "InvalidRequestFormat", "Cannot parse the request: properties.subnet.id '" + subnet
                        + "' is not a valid subnet resource ID.");
            }
            if (conns.size() != 1) {
                throw new ApiException(400, "PrivateEndpointMustHaveOneConnection", "A private endpoint must have exactly one private "
                        + "link service connection.");
            }
            JsonNode c = conns.get(0);
            String target = c.path("properties").path("privateLinkServiceId").asText("");
            State.Hsm h = hsms.findById(target);
            if (h == null) {
                throw new ApiException(400, "LinkedInvalidPropertyId",
                        "Property id '" + target + "' at path 'properties.privateLinkServiceConnections[0].properties.privateLinkServiceId'"
                                + " does not refer to an existing managed HSM.");
            }
            if (HsmRegions.adding(h)) {
                throw new ApiException(409, "Conflict", "A region is being added to the managed HSM '" + h.name + "'; private "
                        + "endpoints to it cannot be created until that completes.");
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
            resources.ensureResourceGroup(sub, rg, location);
            State.PrivateEndpoint pe = new State.PrivateEndpoint();
            pe.id = id;
            pe.name = name;
            pe.subscriptionId = sub;
            pe.resourceGroup = rg;
            pe.location = location;
            pe.subnetId = subnet;
            pe.tags = Arm.stringMap(body.get("tags"));
            pe.etag = newEtag();
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
            String op = arm.newOperation(emu.config().updateDelay().toMillis());
            return Http.Response.json(201, peView(pe)).header("Azure-AsyncOperation", networkOperationUrl(sub, location, op, false, r))
                    .header("Retry-After", arm.retryAfter());
        });
    }

    private String networkOperationUrl(String sub, String location, String op, boolean result, Http.Request r) {
        return emu.baseUrl() + "/subscriptions/" + sub + "/providers/Microsoft.Network/locations/" + location.replace(" ", "").toLowerCase(Locale.ROOT)
                + (result ? "/operationResults/" : "/operations/") + op + "?api-version=" + r.apiVersion();
    }

    Http.Response networkOperation(Http.Request r, boolean result) {
        State.Operation op = emu.read(() -> emu.state().operations.get(r.seg(7)));
        if (op == null) {
            throw ApiException.notFound("The operation '" + r.seg(7) + "' was not found.");
        }
        boolean done = System.currentTimeMillis() >= op.doneAtMillis;
        if (result) {
            return done ? Http.Response.empty(204) : Http.Response.empty(202).header("Location", emu.baseUrl() + r.rawTarget)
                    .header("Retry-After", arm.retryAfter());
        }
        return Http.Response.json(200, Json.object().put("status", done ? op.status : "InProgress"));
    }

    private ObjectNode peView(State.PrivateEndpoint pe) {
        boolean ready = System.currentTimeMillis() >= pe.readyAtMillis;
        State.Hsm h = hsms.findById(pe.targetId);
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
        ObjectNode o = Json.object().put("name", pe.name).put("id", pe.id)
                .put("etag", pe.etag != null ? pe.etag : "W/\"" + Integer.toHexString(pe.id.hashCode()) + "\"")
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
                return Json.list(value);
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
                        arm.requireLinked(r, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/write",
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
                    String op = arm.newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.json(created ? 201 : 200, g).header("Azure-AsyncOperation",
                            networkOperationUrl(pe.subscriptionId, pe.location, op, false, r)).header("Retry-After", arm.retryAfter());
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
                    String op = arm.newOperation(emu.config().updateDelay().toMillis());
                    return Http.Response.empty(202).header("Azure-AsyncOperation", networkOperationUrl(pe.subscriptionId, pe.location,
                            op, false, r)).header("Location", networkOperationUrl(pe.subscriptionId, pe.location, op, true, r));
                });
            default:
                throw new ApiException(405, "MethodNotAllowed", "Method " + r.method + " is not allowed.");
        }
    }
}
