package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.interfaces.RSAPublicKey;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * Entra ID as the Azure SDK meets it: the v2.0 token endpoint (client credentials with a client secret, or with a client
 * assertion as workload identity sends it), the discovery documents MSAL asks for, and signed JWT access tokens.
 * It also plays a cluster's service-account token issuer, so federated (workload identity) credentials can be tested.
 */
final class Entra {
    static final String FEDERATION_AUDIENCE = "api://AzureADTokenExchange";
    static final String HSM_AUDIENCE = "https://managedhsm.azure.net";
    private static final long TOKEN_LIFETIME_SECONDS = 3599;

    private final Emulator emulator;
    private final KeyPair signingKey;
    private final KeyPair federationKey;
    private final String signingKid;
    private final String federationKid;
    private final OidcIssuers externalIssuers = new OidcIssuers();

    Entra(Emulator emulator, KeyPair signingKey, KeyPair federationKey) {
        this.emulator = emulator;
        this.signingKey = signingKey;
        this.federationKey = federationKey;
        this.signingKid = Json.b64u(java.util.Arrays.copyOf(((RSAPublicKey) signingKey.getPublic()).getModulus().toByteArray(), 12));
        this.federationKid = Json.b64u(java.util.Arrays.copyOf(((RSAPublicKey) federationKey.getPublic()).getModulus().toByteArray(), 12));
    }

    String tenantId() {
        return emulator.state().tenantId;
    }

    String issuer() {
        return "https://sts.windows.net/" + tenantId() + "/";
    }

    /** The service-account issuer the emulator plays for workload identity. */
    String federationIssuer() {
        return emulator.baseUrl() + "/oidc";
    }

    /** Trusts tokens of another OpenID Connect issuer (a cluster's service-account issuer), reached at {@code reachAt}. */
    void trustIssuer(String issuer, java.net.URI reachAt, java.security.cert.X509Certificate ca) {
        externalIssuers.trust(issuer, reachAt, ca);
    }

    boolean handles(Http.Request r) {
        String first = r.seg(0);
        if (first == null) {
            return false;
        }
        return first.equalsIgnoreCase(tenantId()) || first.equalsIgnoreCase("common") || first.equalsIgnoreCase("organizations")
                || first.equalsIgnoreCase("oidc");
    }

    Http.Response handle(Http.Request r) {
        if (r.is(0, "oidc")) {
            return federationDiscovery(r);
        }
        if (r.is(1, "discovery") && r.is(2, "instance")) {
            return instanceDiscovery(r);
        }
        if (!r.is(0, tenantId()) && !r.is(0, "common") && !r.is(0, "organizations")) {
            throw new ApiException(400, "invalid_request", "AADSTS90002: Tenant '" + r.seg(0) + "' not found.");
        }
        if (r.method.equals("POST") && r.is(1, "oauth2") && (r.is(2, "token") || (r.is(2, "v2.0") && r.is(3, "token")))) {
            return token(r);
        }
        if (r.method.equals("GET") && r.path.toLowerCase().endsWith("/.well-known/openid-configuration")) {
            return Http.Response.json(200, openIdConfiguration(r));
        }
        if (r.method.equals("GET") && r.path.toLowerCase().endsWith("/discovery/v2.0/keys") || r.path.toLowerCase().endsWith("/discovery/keys")) {
            ObjectNode keys = Json.object();
            keys.set("keys", Json.array().add(Jwt.jwk((RSAPublicKey) signingKey.getPublic(), signingKid)));
            return Http.Response.json(200, keys);
        }
        throw new ApiException(404, "not_found", "No such Entra ID endpoint: " + r.path);
    }

    private ObjectNode openIdConfiguration(Http.Request r) {
        String base = emulator.baseUrl() + "/" + tenantId();
        ObjectNode c = Json.object()
                .put("token_endpoint", base + "/oauth2/v2.0/token")
                .put("authorization_endpoint", base + "/oauth2/v2.0/authorize")
                .put("device_authorization_endpoint", base + "/oauth2/v2.0/devicecode")
                .put("issuer", emulator.baseUrl() + "/" + tenantId() + "/v2.0")
                .put("jwks_uri", base + "/discovery/v2.0/keys")
                .put("tenant_region_scope", "EU")
                .put("cloud_instance_name", "emulator.local");
        c.set("token_endpoint_auth_methods_supported", Json.array(java.util.List.of("client_secret_post", "private_key_jwt",
                "client_secret_basic")));
        c.set("response_types_supported", Json.array(java.util.List.of("code", "id_token", "code id_token", "id_token token")));
        c.set("id_token_signing_alg_values_supported", Json.array(java.util.List.of("RS256")));
        return c;
    }

    private Http.Response instanceDiscovery(Http.Request r) {
        String host = r.host;
        ObjectNode meta = Json.object().put("preferred_network", host).put("preferred_cache", host);
        meta.set("aliases", Json.array(java.util.List.of(host)));
        ObjectNode doc = Json.object().put("tenant_discovery_endpoint",
                emulator.baseUrl() + "/" + tenantId() + "/v2.0/.well-known/openid-configuration").put("api-version", "1.1");
        ArrayNode metadata = Json.array();
        metadata.add(meta);
        doc.set("metadata", metadata);
        return Http.Response.json(200, doc);
    }

    private Http.Response federationDiscovery(Http.Request r) {
        if (r.path.toLowerCase().endsWith("/.well-known/openid-configuration")) {
            ObjectNode c = Json.object().put("issuer", federationIssuer()).put("jwks_uri", federationIssuer() + "/keys");
            return Http.Response.json(200, c);
        }
        if (r.path.toLowerCase().endsWith("/keys")) {
            ObjectNode keys = Json.object();
            keys.set("keys", Json.array().add(Jwt.jwk((RSAPublicKey) federationKey.getPublic(), federationKid)));
            return Http.Response.json(200, keys);
        }
        throw new ApiException(404, "not_found", "No such issuer endpoint: " + r.path);
    }

    private Http.Response token(Http.Request r) {
        Map<String, String> form = form(new String(r.body, StandardCharsets.UTF_8));
        String grant = form.get("grant_type");
        if (!"client_credentials".equals(grant)) {
            return oauthError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '" + grant + "'.");
        }
        String clientId = form.get("client_id");
        State.Principal p = emulator.read(() -> emulator.state().principals.values().stream()
                .filter(x -> x.clientId.equalsIgnoreCase(String.valueOf(clientId))).findFirst().orElse(null));
        if (p == null) {
            return oauthError(400, "unauthorized_client", "AADSTS700016: Application with identifier '" + clientId
                    + "' was not found in the directory '" + tenantId() + "'.");
        }
        String assertion = form.get("client_assertion");
        String secret = form.get("client_secret");
        if (assertion != null) {
            String problem = checkAssertion(p, assertion, form.get("client_assertion_type"));
            if (problem != null) {
                return oauthError(401, "invalid_client", problem);
            }
        } else if (secret == null || p.clientSecret == null || !constantTimeEquals(secret, p.clientSecret)) {
            return oauthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the"
                    + " request is the client secret value, not the client secret ID, for a secret added to app '" + clientId + "'.");
        }
        String scope = form.getOrDefault("scope", "");
        String resource = scope.split(" ")[0];
        if (resource.endsWith("/.default")) {
            resource = resource.substring(0, resource.length() - "/.default".length());
        }
        if (resource.isEmpty()) {
            return oauthError(400, "invalid_scope", "AADSTS70011: The provided request must include a 'scope' input parameter.");
        }
        String token = accessToken(p, resource);
        ObjectNode out = Json.object().put("token_type", "Bearer").put("expires_in", TOKEN_LIFETIME_SECONDS)
                .put("ext_expires_in", TOKEN_LIFETIME_SECONDS).put("access_token", token);
        r.principal = p.objectId;
        return Http.Response.json(200, out);
    }

    String accessToken(State.Principal p, String audience) {
        long now = Instant.now().getEpochSecond();
        ObjectNode claims = Json.object().put("aud", audience).put("iss", issuer()).put("iat", now).put("nbf", now)
                .put("exp", now + TOKEN_LIFETIME_SECONDS).put("appid", p.clientId).put("appidacr", "1").put("idp", issuer())
                .put("idtyp", "app").put("oid", p.objectId).put("sub", p.objectId).put("tid", tenantId())
                .put("uti", UUID.randomUUID().toString().replace("-", "")).put("ver", "1.0");
        return Jwt.sign(claims, signingKey, signingKid);
    }

    /** A service-account token as a cluster would project it, for a principal's federated credential. */
    String federatedToken(String subject, long lifetimeSeconds) {
        long now = Instant.now().getEpochSecond();
        ObjectNode claims = Json.object().put("aud", FEDERATION_AUDIENCE).put("iss", federationIssuer()).put("sub", subject)
                .put("iat", now).put("nbf", now).put("exp", now + lifetimeSeconds);
        return Jwt.sign(claims, federationKey, federationKid);
    }

    private String checkAssertion(State.Principal p, String assertion, String type) {
        if (!"urn:ietf:params:oauth:client-assertion-type:jwt-bearer".equals(type)) {
            return "AADSTS50027: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.";
        }
        JsonNode unverified = Jwt.peek(assertion);
        String claimedIssuer = unverified == null ? "" : unverified.path("iss").asText();
        JsonNode claims;
        if (externalIssuers.trusts(claimedIssuer)) {
            OidcIssuers.Verdict v = externalIssuers.verify(claimedIssuer, assertion);
            if (v.problem() != null) {
                return v.problem();
            }
            claims = v.claims();
        } else {
            claims = Jwt.verify(assertion, (RSAPublicKey) federationKey.getPublic());
        }
        if (claims == null) {
            return "AADSTS700027: The client assertion's signature is not valid for any issuer this emulator trusts.";
        }
        if (claims.path("exp").asLong() < Instant.now().getEpochSecond()) {
            return "AADSTS700024: Client assertion is not within its valid time range.";
        }
        // A JWT's aud is one string or an array of them; Kubernetes issues an array.
        JsonNode aud = claims.path("aud");
        boolean forEntra = aud.isArray() ? java.util.stream.StreamSupport.stream(aud.spliterator(), false)
                .anyMatch(a -> FEDERATION_AUDIENCE.equals(a.asText())) : FEDERATION_AUDIENCE.equals(aud.asText());
        if (!forEntra) {
            return "AADSTS700212: No matching federated identity record found for presented assertion audience '"
                    + (aud.isArray() ? aud.toString() : aud.asText()) + "'.";
        }
        String iss = claims.path("iss").asText();
        String sub = claims.path("sub").asText();
        for (Map<String, String> fc : p.federatedCredentials) {
            if (iss.equals(fc.get("issuer")) && sub.equals(fc.get("subject"))) {
                return null;
            }
        }
        return "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '" + iss
                + "'. Assertion Subject: '" + sub + "'.";
    }

    /** Validates a bearer token; returns its claims or null. Tokens expire by the wall clock, not the emulated one. */
    JsonNode validate(String authorization) {
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        JsonNode claims = Jwt.verify(authorization.substring(7).trim(), (RSAPublicKey) signingKey.getPublic());
        if (claims == null || claims.path("exp").asLong() < Instant.now().getEpochSecond()
                || !tenantId().equals(claims.path("tid").asText())) {
            return null;
        }
        return claims;
    }

    private static Http.Response oauthError(int status, String error, String description) {
        String trace = UUID.randomUUID().toString();
        ObjectNode o = Json.object().put("error", error).put("error_description", description + "\r\nTrace ID: " + trace)
                .put("timestamp", Instant.now().toString()).put("trace_id", trace)
                .put("correlation_id", UUID.randomUUID().toString());
        return Http.Response.json(status, o);
    }

    private static Map<String, String> form(String body) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String part : body.split("&")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                m.put(URLDecoder.decode(part.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return m;
    }

    private static boolean constantTimeEquals(String a, String b) {
        return java.security.MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }
}
