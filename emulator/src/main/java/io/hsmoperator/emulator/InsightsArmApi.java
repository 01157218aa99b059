package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Microsoft.Insights as Azure Monitor's REST reference describes it, for a managed HSM: Diagnostic Settings (list,
 * get, create or update, delete) and Diagnostic Settings Category (list, get).
 */
final class InsightsArmApi {
    private final Emulator emu;
    private final ManagedHsmsArmApi hsms;

    InsightsArmApi(Emulator emu, ManagedHsmsArmApi hsms) {
        this.emu = emu;
        this.hsms = hsms;
    }

    static int insightsIndex(Http.Request r) {
        for (int i = 2; i + 2 < r.size() + 1; i++) {
            if (r.is(i, "providers") && r.is(i + 1, "Microsoft.Insights")
                    && (r.is(i + 2, "diagnosticSettings") || r.is(i + 2, "diagnosticSettingsCategories"))) {
                return i;
            }
        }
        return -1;
    }

    Http.Response diagnostics(Http.Request r, int providers) {
        String resourceUri = "/" + String.join("/", r.segments.subList(0, providers));
        boolean categories = r.is(providers + 2, "diagnosticSettingsCategories");
        String name = r.seg(providers + 3);
        State.Hsm h = emu.read(() -> hsms.findById(resourceUri));
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
                            if (k.startsWith(lowerUri + "|") && !emu.staleReads().unseen("diag|" + k)) {
                                value.add(diagView(v, h.location));
                            }
                        });
                        return Json.list(value);
                    }));
                }
                return Http.Response.json(200, emu.read(() -> {
                    ObjectNode s = emu.state().diagnosticSettings.get(key);
                    if (s == null || emu.staleReads().unseen("diag|" + key)) {
                        throw new ApiException(404, "ResourceNotFound", "The diagnostic setting '" + name + "' doesn't exist.",
                                ApiException.Envelope.BARE);
                    }
                    return emu.staleReads().read("diag|" + key).orElseGet(() -> diagView(s, h.location));
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
                    ObjectNode before = emu.state().diagnosticSettings.get(key);
                    if (before == null) {
                        emu.staleReads().created("diag|" + key);
                    } else {
                        emu.staleReads().beforeUpdate("diag|" + key, diagView(before, h.location));
                    }
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
        return Json.list(value);
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
        if (!Arm.RESOURCE_ID.matcher(id).matches() || !id.toLowerCase(Locale.ROOT).contains("/providers/" + type + "/")) {
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
