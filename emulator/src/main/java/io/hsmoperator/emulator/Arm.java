package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Azure Resource Manager for the resource types the operator uses: Microsoft.KeyVault/managedHSMs (with soft delete,
 * name checks and private endpoint connections), Microsoft.Network/privateEndpoints (with DNS zone groups),
 * Microsoft.Insights/diagnosticSettings, resource groups. Long-running operations behave as in recorded traffic.
 * <p>
 * This class is ARM's front door: it authenticates each request, authorizes it with ARM RBAC, counts it against the
 * subscription's rate limits and routes it to the class of its API area: {@link ResourcesArmApi},
 * {@link ManagedHsmsArmApi}, {@link NetworkArmApi} and {@link InsightsArmApi}.
 */
final class Arm {
    static final Pattern RESOURCE_ID = Pattern.compile(
            "^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\\w._()]+/providers/[\\w.]+/[\\w.]+/[^/]+(/[\\w.]+/[^/]+)*$",
            Pattern.CASE_INSENSITIVE);

    private final Emulator emu;
    private final ResourcesArmApi resources;
    private final ManagedHsmsArmApi hsms;
    private final NetworkArmApi network;
    private final InsightsArmApi insights;
    private final ManagedIdentityArmApi identities;

    Arm(Emulator emu) {
        this.emu = emu;
        this.resources = new ResourcesArmApi(emu);
        this.identities = new ManagedIdentityArmApi(emu, resources);
        this.hsms = new ManagedHsmsArmApi(emu, this, resources);
        this.network = new NetworkArmApi(emu, this, resources, hsms);
        this.insights = new InsightsArmApi(emu, hsms);
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
        if (!Rbac.GUID.matcher(sub).matches()) {
            throw new ApiException(400, "InvalidSubscriptionId", "The provided subscription identifier '" + sub + "' is malformed or invalid.");
        }
        int insightsAt = InsightsArmApi.insightsIndex(r);
        if (insightsAt > 0) {
            return insights.diagnostics(r, insightsAt);
        }
        if (r.size() == 2 && r.method.equals("GET")) {
            return resources.subscription(sub);
        }
        if (r.is(2, "resourceGroups")) {
            if (r.size() <= 4) {
                return resources.resourceGroups(r, sub);
            }
            String rg = r.seg(3);
            if (r.is(4, "providers") && r.is(5, "Microsoft.KeyVault") && r.is(6, "managedHSMs")) {
                if (r.size() == 7) {
                    return hsms.listHsms(r, sub, rg);
                }
                return hsms.hsm(r, sub, rg, r.seg(7));
            }
            if (r.is(4, "providers") && r.is(5, "Microsoft.Network") && r.is(6, "privateEndpoints")) {
                return network.privateEndpoints(r, sub, rg);
            }
            if (r.is(4, "providers") && r.is(5, "Microsoft.ManagedIdentity") && r.is(6, "userAssignedIdentities") && r.size() == 8) {
                return identities.identity(r, sub, rg, r.seg(7));
            }
            throw ApiException.notFound("The resource type is not supported by the emulator: " + r.path);
        }
        if (r.is(2, "providers") && r.is(3, "Microsoft.KeyVault")) {
            if (r.size() == 5 && r.is(4, "managedHSMs") && r.method.equals("GET")) {
                return hsms.listHsms(r, sub, null);
            }
            if (r.size() == 5 && r.is(4, "deletedManagedHSMs") && r.method.equals("GET")) {
                return hsms.listDeleted(r, sub);
            }
            if (r.size() == 5 && r.is(4, "checkMhsmNameAvailability") && r.method.equals("POST")) {
                return hsms.nameAvailability(r);
            }
            if (r.size() >= 8 && r.is(4, "locations") && r.is(6, "deletedManagedHSMs")) {
                return hsms.deleted(r, sub, r.seg(5), r.seg(7));
            }
            if (r.size() == 8 && r.is(4, "locations") && r.is(6, "managedHsmOperationResults") && r.method.equals("GET")) {
                return hsms.operationResult(r);
            }
        }
        if (r.is(2, "providers") && r.is(3, "Microsoft.Network") && r.is(4, "locations") && r.size() == 8
                && (r.is(6, "operations") || r.is(6, "operationResults")) && r.method.equals("GET")) {
            return network.networkOperation(r, r.is(6, "operationResults"));
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

    ManagedIdentityArmApi identities() {
        return identities;
    }

    /** A linked resource (a subnet to join, a DNS zone to register in) needs its own permission: 403 LinkedAuthorizationFailed. */
    void requireLinked(Http.Request r, String primaryAction, String linkedAction, String linkedScope) {
        boolean allowed = emu.read(() -> ArmAuthorization.permits(emu.state(), r.principal, linkedAction, linkedScope));
        if (!allowed) {
            throw new ApiException(403, "LinkedAuthorizationFailed", "The client '" + r.appId + "' with object id '" + r.principal
                    + "' has permission to perform action '" + primaryAction + "' on scope '" + r.path + "'; however, it does not "
                    + "have permission to perform action(s) '" + linkedAction + "' on the linked scope(s) '" + linkedScope
                    + "' (respectively) or the linked scope(s) are invalid.");
        }
    }

    // ---- what every area shares: long-running operations, tags ---------------------------------

    /** See {@link ManagedHsmsArmApi#pollHint}: real Azure sends no Retry-After here; the hint only sets the SDK's polling pace. */
    String retryAfter() {
        return String.valueOf(emu.config().retryAfterSeconds());
    }

    String newOperation(long durationMillis) {
        State.Operation op = new State.Operation();
        op.id = UUID.randomUUID().toString();
        op.doneAtMillis = System.currentTimeMillis() + durationMillis;
        emu.state().operations.put(op.id, op);
        return op.id;
    }

    static Map<String, String> stringMap(JsonNode node) {
        Map<String, String> m = new LinkedHashMap<>();
        if (node != null && node.isObject()) {
            node.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
        }
        return m;
    }
}
