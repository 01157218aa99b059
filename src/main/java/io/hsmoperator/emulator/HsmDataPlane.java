package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

/** The Managed HSM data plane of one emulated HSM: keys, cryptography, local RBAC, security domain, backup and settings. */
final class HsmDataPlane {
    static final int MAX_VERSIONS = 100;
    static final int MAX_KEYS = 5000;
    private static final Pattern KEY_NAME = Pattern.compile("^[0-9a-zA-Z-]{1,127}$");
    private static final Pattern GUID = Pattern.compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
    private static final int PAGE = 10;
    private static final Map<String, String> OP_ACTION = Map.of("sign", "sign", "verify", "verify", "encrypt", "encrypt",
            "decrypt", "decrypt", "wrapkey", "wrap", "unwrapkey", "unwrap");
    private static final Map<String, String> OP_NAME = Map.of("sign", "sign", "verify", "verify", "encrypt", "encrypt",
            "decrypt", "decrypt", "wrapkey", "wrapKey", "unwrapkey", "unwrapKey");

    private final Emulator emu;

    HsmDataPlane(Emulator emu) {
        this.emu = emu;
    }

    private final ServiceLimits limits = new ServiceLimits();

    private boolean limited() {
        return emu.config().serviceLimits() && !emu.controls().serviceLimitsSuspended();
    }

    Http.Response handle(Http.Request r) {
        String auth = r.header("Authorization");
        if (auth == null) {
            return challenge();
        }
        JsonNode claims = emu.entra().validate(auth);
        String aud = claims == null ? "" : claims.path("aud").asText().replaceAll("/+$", "");
        if (claims == null || !aud.equalsIgnoreCase(Entra.HSM_AUDIENCE)) {
            return challenge();
        }
        r.principal = claims.path("oid").asText();
        r.appId = claims.path("appid").asText();
        emu.applyFault(r);
        State.Hsm hsm = emu.read(() -> emu.state().hsms.get(r.endpoint.toLowerCase(Locale.ROOT)));
        if (hsm == null) {
            throw new ApiException(404, "NotFound", "The Managed HSM does not exist or has been deleted.");
        }
        if (System.currentTimeMillis() < hsm.provisionedAtMillis) {
            throw new ApiException(503, "ServiceUnavailable", "The Managed HSM is being provisioned. Retry after provisioning completes.")
                    .header("Retry-After", "5");
        }
        if (r.is(0, "securitydomain")) {
            return securityDomain(r, hsm);
        }
        if (!emu.isActive(hsm)) {
            throw new ApiException(403, "Forbidden", "Managed HSM is not activated. Download the security domain to activate it."
                    + activity());
        }
        int providers = indexOf(r, "providers");
        if (providers >= 0 && r.is(providers + 1, "Microsoft.Authorization")) {
            if (limited()) {
                limits.admit(hsm.name, "RBAC", ServiceLimits.RBAC_OPERATIONS_PER_SECOND);
            }
            return rbac(r, hsm, providers);
        }
        if (r.is(0, "keys")) {
            boolean creates = r.method.equals("POST") && r.size() == 3 && (r.is(2, "create") || r.is(2, "rotate"));
            if (creates && limited()) {
                limits.admit(hsm.name, "key creation", ServiceLimits.KEY_CREATES_PER_SECOND);
            }
            return keys(r, hsm);
        }
        if (r.is(0, "deletedkeys")) {
            return deletedKeys(r, hsm);
        }
        if (r.is(0, "rng") && r.method.equals("POST")) {
            return rng(r, hsm);
        }
        if (r.is(0, "settings")) {
            return settings(r, hsm);
        }
        if (r.is(0, "backup") || r.is(0, "prebackup") || r.is(0, "restore") || r.is(0, "prerestore")) {
            return fullBackup(r, hsm);
        }
        throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
    }

    private Http.Response challenge() {
        return Http.Response.empty(401).header("WWW-Authenticate", "Bearer authorization=\"" + emu.baseUrl() + "/"
                + emu.state().tenantId + "\", resource=\"" + Entra.HSM_AUDIENCE + "\"");
    }

    static String activity() {
        return " (Activity ID: " + UUID.randomUUID() + ")";
    }

    private static int indexOf(Http.Request r, String seg) {
        for (int i = 0; i < r.size(); i++) {
            if (r.is(i, seg)) {
                return i;
            }
        }
        return -1;
    }

    private void check(Http.Request r, State.Hsm hsm, String action, String scope) {
        emu.read(() -> {
            Rbac.check(hsm, r.principal, r.appId, action, scope);
            return null;
        });
    }

    // ---- keys ----------------------------------------------------------------------------------

    private Http.Response keys(Http.Request r, State.Hsm hsm) {
        int n = r.size();
        String m = r.method;
        if (n == 1 && m.equals("GET")) {
            check(r, hsm, "keys/read/action", "/keys");
            return listKeys(r, hsm);
        }
        if (n == 2 && r.is(1, "restore") && m.equals("POST")) {
            check(r, hsm, "keys/restore/action", "/keys");
            return restoreKey(r, hsm);
        }
        String name = r.seg(1);
        String scope = "/keys/" + name;
        if (n == 2) {
            switch (m) {
                case "GET": check(r, hsm, "keys/read/action", scope); return getKey(r, hsm, name, null);
                case "PATCH": check(r, hsm, "keys/write/action", scope); return updateKey(r, hsm, name, null);
                case "DELETE": check(r, hsm, "keys/delete", scope); return deleteKey(r, hsm, name);
                case "PUT": check(r, hsm, "keys/import/action", scope); return importKey(r, hsm, name);
                default: break;
            }
        }
        String third = r.seg(2) == null ? "" : r.seg(2).toLowerCase(Locale.ROOT);
        if (n == 3) {
            switch (third) {
                case "create":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/create", scope);
                        return createKey(r, hsm, name);
                    }
                    break;
                case "versions":
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return listVersions(r, hsm, name);
                    }
                    break;
                case "backup":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/backup/action", scope);
                        return backupKey(r, hsm, name);
                    }
                    break;
                case "rotate":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/rotate/action", scope);
                        return rotate(r, hsm, name);
                    }
                    break;
                case "rotationpolicy":
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return getPolicy(r, hsm, name);
                    }
                    if (m.equals("PUT")) {
                        // "Setting a rotation policy requires the Key Write permission" (Learn, Configure key auto-rotation).
                        check(r, hsm, "keys/write/action", scope);
                        return putPolicy(r, hsm, name);
                    }
                    break;
                case "restore":
                    if (m.equals("PUT")) {
                        check(r, hsm, "restore/start/action", "/");
                        return selectiveRestore(r, hsm, name);
                    }
                    break;
                case "release": case "attestation":
                    throw ApiException.badParameter("Key " + third + " needs an attestation service, which the emulator does not provide."
                            + activity());
                default:
                    if (OP_ACTION.containsKey(third) && m.equals("POST")) {
                        check(r, hsm, "keys/" + OP_ACTION.get(third) + "/action", scope);
                        return crypto(r, hsm, name, null, third);
                    }
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return getKey(r, hsm, name, r.seg(2));
                    }
                    if (m.equals("PATCH")) {
                        check(r, hsm, "keys/write/action", scope);
                        return updateKey(r, hsm, name, r.seg(2));
                    }
            }
        }
        if (n == 4) {
            String op = r.seg(3).toLowerCase(Locale.ROOT);
            if (OP_ACTION.containsKey(op) && m.equals("POST")) {
                check(r, hsm, "keys/" + OP_ACTION.get(op) + "/action", scope);
                return crypto(r, hsm, name, r.seg(2), op);
            }
            if (op.equals("release") || op.equals("attestation")) {
                throw ApiException.badParameter("Key " + op + " needs an attestation service, which the emulator does not provide." + activity());
            }
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method " + m + " is not allowed on " + r.path + activity());
    }

    private Http.Response createKey(Http.Request r, State.Hsm hsm, String name) {
        validName(name);
        JsonNode body = r.json();
        State.KeyVersion v = newVersion(body, KeyCrypto.hsmKty(Json.text(body, "kty")));
        Integer size = body.hasNonNull("key_size") ? body.get("key_size").asInt() : null;
        Integer exponent = body.hasNonNull("public_exponent") ? body.get("public_exponent").asInt() : null;
        KeyCrypto.generate(v, size, Json.text(body, "crv"), exponent);
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(hsm, name, v);
            return bundle(r, hsm, key, v);
        }));
    }

    private Http.Response importKey(Http.Request r, State.Hsm hsm, String name) {
        validName(name);
        JsonNode body = r.json();
        JsonNode jwk = body.get("key");
        if (jwk == null) {
            throw ApiException.badParameter("The parameter 'key' is required." + activity());
        }
        State.KeyVersion v = new State.KeyVersion();
        KeyCrypto.importJwk(v, jwk);
        State.KeyVersion attrs = newVersion(body, v.kty);
        attrs.material = v.material;
        attrs.publicKey = v.publicKey;
        attrs.keySize = v.keySize;
        if (jwk.has("key_ops")) {
            attrs.keyOps = ops(jwk.get("key_ops"), v.kty);
        }
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(hsm, name, attrs);
            return bundle(r, hsm, key, attrs);
        }));
    }

    /** Attributes, tags, operations and release policy shared by create, import and rotation. */
    private State.KeyVersion newVersion(JsonNode body, String kty) {
        State.KeyVersion v = new State.KeyVersion();
        v.kty = kty;
        v.version = HexFormat.of().formatHex(randomBytes(16));
        JsonNode attrs = body.path("attributes");
        v.enabled = !attrs.has("enabled") || attrs.get("enabled").asBoolean(true);
        v.nbf = attrs.hasNonNull("nbf") ? attrs.get("nbf").asLong() : null;
        v.exp = attrs.hasNonNull("exp") ? attrs.get("exp").asLong() : null;
        v.exportable = attrs.path("exportable").asBoolean(false);
        v.keyOps = body.hasNonNull("key_ops") ? ops(body.get("key_ops"), kty) : new ArrayList<>(KeyCrypto.defaultOps(kty));
        v.tags = tags(body.get("tags"));
        JsonNode policy = body.get("release_policy");
        if (policy != null && !policy.isNull()) {
            ObjectNode p = Json.object().put("contentType", policy.path("contentType").asText("application/json; charset=utf-8"))
                    .put("data", policy.path("data").asText()).put("immutable", policy.path("immutable").asBoolean(false));
            v.releasePolicy = p;
        }
        if (v.exportable && v.releasePolicy == null) {
            throw ApiException.badParameter("Exportable keys must have a release policy." + activity());
        }
        if (!v.exportable && v.releasePolicy != null) {
            throw ApiException.badParameter("Non-exportable keys must not have a release policy." + activity());
        }
        long now = emu.controls().nowEpochSeconds();
        v.created = now;
        v.updated = now;
        return v;
    }

    private static List<String> ops(JsonNode node, String kty) {
        List<String> out = new ArrayList<>();
        for (JsonNode o : node) {
            String op = o.asText();
            if (!KeyCrypto.ALL_OPS.contains(op)) {
                throw ApiException.badParameter("Invalid key operation: '" + op + "'" + activity());
            }
            if (!out.contains(op)) {
                out.add(op);
            }
        }
        if (kty.equals("EC-HSM")) {
            for (String op : out) {
                if (!List.of("sign", "verify", "deriveKey", "import", "export").contains(op)) {
                    throw ApiException.badParameter("Key operation '" + op + "' is not valid for EC keys." + activity());
                }
            }
        }
        return out;
    }

    private static Map<String, String> tags(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        Map<String, String> t = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> t.put(e.getKey(), e.getValue().asText()));
        if (t.size() > 15) {
            throw ApiException.badParameter("A key may have at most 15 tags." + activity());
        }
        return t;
    }

    private State.Key insertVersion(State.Hsm hsm, String name, State.KeyVersion v) {
        if (hsm.deletedKeys.containsKey(name.toLowerCase(Locale.ROOT))) {
            throw new ApiException(409, "Conflict", "Key " + name + " is currently in a deleted but recoverable state, and its name "
                    + "cannot be reused; in this state, the key can only be recovered or purged." + activity());
        }
        State.Key key = hsm.keys.get(name.toLowerCase(Locale.ROOT));
        if (key == null) {
            if (hsm.keys.size() >= MAX_KEYS) {
                throw ApiException.badParameter("The HSM holds the maximum of " + MAX_KEYS + " keys." + activity());
            }
            key = new State.Key();
            key.name = name;
            hsm.keys.put(name.toLowerCase(Locale.ROOT), key);
        } else if (key.versions.size() >= MAX_VERSIONS) {
            throw ApiException.badParameter("Key " + name + " has reached the maximum of " + MAX_VERSIONS + " versions." + activity());
        }
        key.versions.add(v);
        emu.dirty();
        return key;
    }

    private static void validName(String name) {
        if (!KEY_NAME.matcher(name).matches()) {
            throw ApiException.badParameter("The key name '" + name + "' is invalid: it must be 1-127 letters, digits or dashes." + activity());
        }
    }

    private State.Key key(State.Hsm hsm, String name, Http.Request r) {
        State.Key key = hsm.keys.get(name.toLowerCase(Locale.ROOT));
        if (key == null) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + name + activity());
        }
        return key;
    }

    private State.KeyVersion version(State.Key key, String version) {
        if (version == null || version.isEmpty()) {
            return key.latest();
        }
        State.KeyVersion v = key.version(version);
        if (v == null) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + key.name + "/" + version + activity());
        }
        return v;
    }

    private Http.Response getKey(Http.Request r, State.Hsm hsm, String name, String version) {
        return Http.Response.json(200, emu.read(() -> {
            State.Key key = key(hsm, name, r);
            State.KeyVersion v = version(key, version);
            return emu.staleReads().read(staleKey(hsm, name, v.version)).orElseGet(() -> bundle(r, hsm, key, v));
        }));
    }

    private static String staleKey(State.Hsm hsm, String name, String version) {
        return "key|" + hsm.name.toLowerCase(Locale.ROOT) + "|" + name.toLowerCase(Locale.ROOT) + "|" + version;
    }

    private Http.Response updateKey(Http.Request r, State.Hsm hsm, String name, String version) {
        JsonNode body = r.json();
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = key(hsm, name, r);
            State.KeyVersion v = version(key, version);
            emu.staleReads().beforeUpdate(staleKey(hsm, name, v.version), bundle(r, hsm, key, v));
            JsonNode attrs = body.path("attributes");
            if (attrs.has("exportable") && attrs.get("exportable").asBoolean() != v.exportable) {
                throw ApiException.badParameter("The exportable attribute cannot be changed." + activity());
            }
            if (attrs.has("enabled") && !attrs.get("enabled").isNull()) {
                v.enabled = attrs.get("enabled").asBoolean();
            }
            if (attrs.has("nbf")) {
                v.nbf = attrs.get("nbf").isNull() ? null : attrs.get("nbf").asLong();
            }
            if (attrs.has("exp")) {
                v.exp = attrs.get("exp").isNull() ? null : attrs.get("exp").asLong();
            }
            if (body.hasNonNull("key_ops")) {
                v.keyOps = ops(body.get("key_ops"), v.kty);
            }
            if (body.hasNonNull("tags")) {
                v.tags = tags(body.get("tags"));
            }
            if (body.hasNonNull("release_policy")) {
                if (v.releasePolicy != null && v.releasePolicy.path("immutable").asBoolean()) {
                    throw ApiException.badParameter("The release policy of this key is immutable." + activity());
                }
                JsonNode p = body.get("release_policy");
                v.releasePolicy = Json.object().put("contentType", p.path("contentType").asText("application/json; charset=utf-8"))
                        .put("data", p.path("data").asText()).put("immutable", p.path("immutable").asBoolean(false));
            }
            v.updated = emu.controls().nowEpochSeconds();
            emu.dirty();
            return bundle(r, hsm, key, v);
        }));
    }

    private Http.Response deleteKey(Http.Request r, State.Hsm hsm, String name) {
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = key(hsm, name, r);
            long now = emu.controls().nowEpochSeconds();
            key.deletedDate = now;
            key.scheduledPurgeDate = now + hsm.softDeleteRetentionInDays * 86400L;
            hsm.keys.remove(name.toLowerCase(Locale.ROOT));
            hsm.deletedKeys.put(name.toLowerCase(Locale.ROOT), key);
            emu.dirty();
            return deletedBundle(r, hsm, key);
        }));
    }

    private Http.Response listKeys(Http.Request r, State.Hsm hsm) {
        return page(r, "/keys", emu.read(() -> {
            List<ObjectNode> items = new ArrayList<>();
            for (State.Key k : hsm.keys.values()) {
                items.add(item(r, hsm, k, k.latest(), false));
            }
            return items;
        }));
    }

    private Http.Response listVersions(Http.Request r, State.Hsm hsm, String name) {
        return page(r, "/keys/" + name + "/versions", emu.read(() -> {
            State.Key k = key(hsm, name, r);
            List<ObjectNode> items = new ArrayList<>();
            for (State.KeyVersion v : k.versions) {
                items.add(item(r, hsm, k, v, true));
            }
            return items;
        }));
    }

    /** Pages of at most 10 items; like the real service, nextLink carries no api-version. */
    private Http.Response page(Http.Request r, String path, List<ObjectNode> items) {
        int max = 25;
        if (r.query.containsKey("maxresults")) {
            try {
                max = Integer.parseInt(r.query.get("maxresults"));
            } catch (NumberFormatException e) {
                max = -1;
            }
            if (max < 1 || max > 25) {
                throw ApiException.badParameter("maxresults must be between 1 and 25." + activity());
            }
        }
        int size = Math.min(max, PAGE);
        int offset = 0;
        String token = r.query.get("$skiptoken");
        if (token != null) {
            try {
                offset = Integer.parseInt(new String(Json.unb64(token), StandardCharsets.UTF_8));
            } catch (RuntimeException e) {
                throw ApiException.badParameter("The skip token is not valid." + activity());
            }
        }
        ArrayNode value = Json.array();
        for (int i = offset; i < Math.min(items.size(), offset + size); i++) {
            value.add(items.get(i));
        }
        ObjectNode out = Json.object();
        if (offset + size < items.size()) {
            out.put("nextLink", r.baseUrl() + path + "?maxresults=" + max + "&$skiptoken="
                    + Json.b64u(String.valueOf(offset + size).getBytes(StandardCharsets.UTF_8)));
        }
        out.set("value", value);
        return Http.Response.json(200, out);
    }

    private Http.Response backupKey(Http.Request r, State.Hsm hsm, String name) {
        String blob = emu.read(() -> {
            State.Key k = key(hsm, name, r);
            byte[] plain = Json.bytes(k);
            return Jwe.encryptDirect(plain, backupKey(hsm), "backup-protection-key");
        });
        return Http.Response.json(200, Json.object().put("value", Json.b64u(blob.getBytes(StandardCharsets.US_ASCII))));
    }

    private static byte[] backupKey(State.Hsm hsm) {
        return SecurityDomainBlob.kdf(Base64.getDecoder().decode(hsm.domainKey), "backup-protection-key");
    }

    private Http.Response restoreKey(Http.Request r, State.Hsm hsm) {
        String value = Json.text(r.json(), "value");
        State.Key restored;
        try {
            String jwe = new String(Json.unb64(value), StandardCharsets.US_ASCII);
            restored = Json.MAPPER.readValue(Jwe.decryptDirect(jwe, backupKey(hsm)), State.Key.class);
        } catch (Exception e) {
            throw ApiException.badParameter("Backup blob is corrupt or was made in another security domain." + activity());
        }
        return Http.Response.json(200, emu.write(() -> {
            String lower = restored.name.toLowerCase(Locale.ROOT);
            if (hsm.keys.containsKey(lower) || hsm.deletedKeys.containsKey(lower)) {
                throw new ApiException(409, "Conflict", "Key " + restored.name + " already exists or is in a deleted state." + activity());
            }
            restored.deletedDate = null;
            restored.scheduledPurgeDate = null;
            hsm.keys.put(lower, restored);
            emu.dirty();
            return bundle(r, hsm, restored, restored.latest());
        }));
    }

    private Http.Response rotate(Http.Request r, State.Hsm hsm, String name) {
        State.KeyVersion template = emu.read(() -> {
            State.Key k = key(hsm, name, r);
            if (k.rotationPolicy == null) {
                throw ApiException.badParameter("Key " + name + " has no rotation policy; set one before rotating on demand." + activity());
            }
            return k.latest();
        });
        State.KeyVersion v = rotatedVersion(hsm, name, template, emu.controls().nowEpochSeconds());
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(hsm, name, v);
            return bundle(r, hsm, key, v);
        }));
    }

    /** A new version like {@code template}: same type, size, curve, operations, tags and release policy. */
    State.KeyVersion rotatedVersion(State.Hsm hsm, String name, State.KeyVersion template, long createdAt) {
        State.KeyVersion v = new State.KeyVersion();
        v.version = HexFormat.of().formatHex(randomBytes(16));
        v.kty = template.kty;
        v.keyOps = new ArrayList<>(template.keyOps);
        v.tags = template.tags == null ? null : new LinkedHashMap<>(template.tags);
        v.exportable = template.exportable;
        v.releasePolicy = template.releasePolicy;
        v.created = createdAt;
        v.updated = createdAt;
        KeyCrypto.generate(v, v.kty.equals("EC-HSM") ? null : template.keySize, template.crv, null);
        State.Key k = emu.read(() -> hsm.keys.get(name.toLowerCase(Locale.ROOT)));
        String expiry = k == null || k.rotationPolicy == null ? "" : k.rotationPolicy.path("attributes").path("expiryTime").asText("");
        if (!expiry.isEmpty()) {
            v.exp = Durations.plus(createdAt, expiry);
        }
        return v;
    }

    private Http.Response getPolicy(Http.Request r, State.Hsm hsm, String name) {
        return Http.Response.json(200, emu.read(() -> {
            State.Key k = key(hsm, name, r);
            java.util.Optional<ObjectNode> stale = emu.staleReads().read(stalePolicy(hsm, name));
            if (stale.isPresent()) {
                return stale.get();
            }
            if (k.rotationPolicy == null) {
                ObjectNode attrs = Json.object().put("created", 0).put("expiryTime", "").put("updated", 0);
                ObjectNode empty = Json.object();
                empty.set("attributes", attrs);
                empty.put("id", "");
                return empty;
            }
            return policyView(r, k);
        }));
    }

    private static String stalePolicy(State.Hsm hsm, String name) {
        return "policy|" + hsm.name.toLowerCase(Locale.ROOT) + "|" + name.toLowerCase(Locale.ROOT);
    }

    private ObjectNode policyView(Http.Request r, State.Key k) {
        ObjectNode view = k.rotationPolicy.deepCopy();
        view.put("id", r.baseUrl() + "/keys/" + k.name + "/rotationpolicy");
        return view;
    }

    private Http.Response putPolicy(Http.Request r, State.Hsm hsm, String name) {
        JsonNode body = r.json();
        ObjectNode policy = validatePolicy(body);
        return Http.Response.json(200, emu.write(() -> {
            State.Key k = key(hsm, name, r);
            long now = emu.controls().nowEpochSeconds();
            ObjectNode attrs = (ObjectNode) policy.get("attributes");
            attrs.put("created", k.rotationPolicy == null ? now : k.rotationPolicy.path("attributes").path("created").asLong(now));
            attrs.put("updated", now);
            if (k.rotationPolicy != null) {
                emu.staleReads().beforeUpdate(stalePolicy(hsm, name), policyView(r, k));
            }
            k.rotationPolicy = policy;
            emu.dirty();
            return policyView(r, k);
        }));
    }

    /** The Managed HSM rules: Rotate only (no Notify), 28-day minimums, timeBeforeExpiry needs expiryTime. */
    static ObjectNode validatePolicy(JsonNode body) {
        long min = 28L * 86400;
        String expiry = body.path("attributes").path("expiryTime").asText("");
        if (!expiry.isEmpty()) {
            if (!Durations.valid(expiry)) {
                throw ApiException.badParameter("Invalid expiryTime: '" + expiry + "'" + activity());
            }
            if (Durations.seconds(expiry) < min) {
                throw ApiException.badParameter("expiryTime must be at least 28 days (P28D) for Managed HSM keys." + activity());
            }
        }
        ArrayNode actions = Json.array();
        for (JsonNode a : body.path("lifetimeActions")) {
            String type = a.path("action").path("type").asText("");
            if (type.equalsIgnoreCase("notify")) {
                throw ApiException.badParameter("Managed HSM does not support the Notify lifetime action; only Rotate is allowed."
                        + activity());
            }
            if (!type.equalsIgnoreCase("rotate")) {
                throw ApiException.badParameter("Invalid lifetime action type: '" + type + "'" + activity());
            }
            JsonNode trigger = a.path("trigger");
            String after = trigger.path("timeAfterCreate").asText("");
            String before = trigger.path("timeBeforeExpiry").asText("");
            if (after.isEmpty() == before.isEmpty()) {
                throw ApiException.badParameter("A trigger must have exactly one of timeAfterCreate or timeBeforeExpiry." + activity());
            }
            ObjectNode t = Json.object();
            if (!after.isEmpty()) {
                if (!Durations.valid(after) || Durations.seconds(after) < min) {
                    throw ApiException.badParameter("timeAfterCreate must be an ISO-8601 duration of at least 28 days (P28D)." + activity());
                }
                t.put("timeAfterCreate", after);
            } else {
                if (expiry.isEmpty()) {
                    throw ApiException.badParameter("A timeBeforeExpiry trigger requires attributes.expiryTime." + activity());
                }
                if (!Durations.valid(before) || Durations.seconds(before) > Durations.seconds(expiry) - min) {
                    throw ApiException.badParameter("timeBeforeExpiry must be at most expiryTime minus 28 days." + activity());
                }
                t.put("timeBeforeExpiry", before);
            }
            ObjectNode action = Json.object();
            action.set("trigger", t);
            // Azure answers with the action in lower case, whatever case it was sent in.
            action.set("action", Json.object().put("type", "rotate"));
            actions.add(action);
        }
        ObjectNode out = Json.object();
        out.set("lifetimeActions", actions);
        ObjectNode attrs = Json.object();
        if (!expiry.isEmpty()) {
            attrs.put("expiryTime", expiry);
        }
        out.set("attributes", attrs);
        return out;
    }

    /** Service-side rotation: creates the versions a rotation policy calls for up to {@code now}. Caller holds the write lock. */
    int rotateDue(State.Hsm hsm, long now) {
        int created = 0;
        for (State.Key k : hsm.keys.values()) {
            if (k.rotationPolicy == null) {
                continue;
            }
            for (int guard = 0; guard < MAX_VERSIONS && k.versions.size() < MAX_VERSIONS; guard++) {
                State.KeyVersion latest = k.latest();
                Long due = null;
                for (JsonNode a : k.rotationPolicy.path("lifetimeActions")) {
                    String after = a.path("trigger").path("timeAfterCreate").asText("");
                    String before = a.path("trigger").path("timeBeforeExpiry").asText("");
                    Long t = !after.isEmpty() ? Long.valueOf(Durations.plus(latest.created, after))
                            : latest.exp != null ? Long.valueOf(Durations.minus(latest.exp, before)) : null;
                    if (t != null && (due == null || t < due)) {
                        due = t;
                    }
                }
                if (due == null || due > now) {
                    break;
                }
                long at = Math.max(due, latest.created + 1);
                State.KeyVersion v = rotatedVersion(hsm, k.name, latest, at);
                k.versions.add(v);
                created++;
            }
        }
        return created;
    }

    private Http.Response crypto(Http.Request r, State.Hsm hsm, String name, String version, String op) {
        JsonNode body = r.json();
        String alg = Json.text(body, "alg");
        if (alg == null) {
            throw ApiException.badParameter("The parameter 'alg' is required." + activity());
        }
        State.KeyVersion v = emu.read(() -> version(key(hsm, name, r), version));
        String kid = r.baseUrl() + "/keys/" + emu.read(() -> key(hsm, name, r).name) + "/" + v.version;
        String opName = OP_NAME.get(op);
        // An empty key_ops (what the SDK sends when updating without operations) restricts nothing, as in JWK.
        List<String> permitted = v.keyOps.isEmpty() ? KeyCrypto.defaultOps(v.kty) : v.keyOps;
        if (!permitted.contains(opName)) {
            throw ApiException.badParameter("Operation " + opName + " is not allowed on this key." + activity());
        }
        if (!v.enabled) {
            throw new ApiException(403, "Forbidden", "Operation " + opName + " is not allowed on a disabled key." + activity());
        }
        long now = emu.controls().nowEpochSeconds();
        if (v.nbf != null && now < v.nbf) {
            throw new ApiException(403, "Forbidden", "Operation " + opName + " is not allowed on a key that is not yet valid." + activity());
        }
        if (v.exp != null && now > v.exp) {
            throw new ApiException(403, "Forbidden", "Operation " + opName + " is not allowed on an expired key." + activity());
        }
        byte[] value = Json.unb64(Json.text(body, "value"));
        ObjectNode out = Json.object().put("alg", alg).put("kid", kid);
        switch (op) {
            case "sign":
                out.put("value", Json.b64u(KeyCrypto.sign(v, alg, value)));
                break;
            case "verify": {
                byte[] digest = body.hasNonNull("digest") ? Json.unb64(body.get("digest").asText()) : null;
                if (digest == null) {
                    throw ApiException.badParameter("The parameter 'digest' is required." + activity());
                }
                ObjectNode verified = Json.object();
                if (alg.startsWith("HS")) {
                    // An HMAC is verified by the HSM itself, and the answer names the key and algorithm (as recorded);
                    // for RSA and EC keys the answer is the verdict alone.
                    verified.put("alg", alg).put("kid", kid);
                }
                return Http.Response.json(200, verified.put("value", KeyCrypto.verify(v, alg, digest, value)));
            }
            case "encrypt": case "wrapkey": {
                KeyCrypto.Sealed s = KeyCrypto.encrypt(v, alg, value, bytes(body, "iv"), bytes(body, "aad"));
                out.put("value", Json.b64u(s.value()));
                if (s.iv() != null) {
                    out.put("iv", Json.b64u(s.iv()));
                }
                if (s.tag() != null) {
                    out.put("tag", Json.b64u(s.tag()));
                }
                if (body.hasNonNull("aad")) {
                    out.put("aad", body.get("aad").asText());
                }
                break;
            }
            default:
                out.put("value", Json.b64u(KeyCrypto.decrypt(v, alg, value, bytes(body, "iv"), bytes(body, "aad"), bytes(body, "tag"))));
        }
        return Http.Response.json(200, out);
    }

    private static byte[] bytes(JsonNode body, String field) {
        return body.hasNonNull(field) ? Json.unb64(body.get(field).asText()) : null;
    }

    // ---- deleted keys --------------------------------------------------------------------------

    private Http.Response deletedKeys(Http.Request r, State.Hsm hsm) {
        int n = r.size();
        if (n == 1 && r.method.equals("GET")) {
            check(r, hsm, "keys/deletedKeys/read/action", "/keys");
            return page(r, "/deletedkeys", emu.read(() -> {
                List<ObjectNode> items = new ArrayList<>();
                for (State.Key k : hsm.deletedKeys.values()) {
                    ObjectNode item = item(r, hsm, k, k.latest(), false);
                    item.put("deletedDate", k.deletedDate).put("recoveryId", r.baseUrl() + "/deletedkeys/" + k.name)
                            .put("scheduledPurgeDate", k.scheduledPurgeDate);
                    items.add(item);
                }
                return items;
            }));
        }
        String name = n > 1 ? r.seg(1) : "";
        String scope = "/keys/" + name;
        if (n == 2 && r.method.equals("GET")) {
            check(r, hsm, "keys/deletedKeys/read/action", scope);
            return Http.Response.json(200, emu.read(() -> deletedBundle(r, hsm, deleted(r, hsm, name))));
        }
        if (n == 2 && r.method.equals("DELETE")) {
            check(r, hsm, "keys/deletedKeys/delete", scope);
            return emu.write(() -> {
                State.Key k = deleted(r, hsm, name);
                if (hsm.enablePurgeProtection) {
                    throw new ApiException(403, "Forbidden", "Operation \"purge\" is not allowed because purge protection is enabled "
                            + "for this Managed HSM. The key will be purged automatically after its scheduled purge date." + activity());
                }
                hsm.deletedKeys.remove(k.name.toLowerCase(Locale.ROOT));
                emu.dirty();
                return Http.Response.empty(204).header("Content-Type", "application/json; charset=utf-8");
            });
        }
        if (n == 3 && r.is(2, "recover") && r.method.equals("POST")) {
            check(r, hsm, "keys/deletedKeys/recover/action", scope);
            return Http.Response.json(200, emu.write(() -> {
                State.Key k = deleted(r, hsm, name);
                String lower = k.name.toLowerCase(Locale.ROOT);
                if (hsm.keys.containsKey(lower)) {
                    throw new ApiException(409, "Conflict", "A key named " + k.name + " already exists." + activity());
                }
                hsm.deletedKeys.remove(lower);
                k.deletedDate = null;
                k.scheduledPurgeDate = null;
                hsm.keys.put(lower, k);
                emu.dirty();
                return bundle(r, hsm, k, k.latest());
            }));
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method " + r.method + " is not allowed on " + r.path + activity());
    }

    private State.Key deleted(Http.Request r, State.Hsm hsm, String name) {
        State.Key k = hsm.deletedKeys.get(name.toLowerCase(Locale.ROOT));
        if (k == null) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + r.baseUrl() + "/deletedkeys/" + name + activity());
        }
        return k;
    }

    // ---- bundles -------------------------------------------------------------------------------

    private ObjectNode attributes(State.Hsm hsm, State.KeyVersion v) {
        ObjectNode a = Json.object().put("created", v.created).put("enabled", v.enabled);
        if (v.exp != null) {
            a.put("exp", v.exp);
        }
        a.put("exportable", v.exportable);
        if (v.nbf != null) {
            a.put("nbf", v.nbf);
        }
        a.put("recoverableDays", hsm.softDeleteRetentionInDays);
        a.put("recoveryLevel", recoveryLevel(hsm));
        a.put("updated", v.updated);
        return a;
    }

    /** API versions 7.6 and the dated ones after it (2025-07-01, 2026-03-01-preview…); not 7.6's previews or older. */
    static boolean reportsKeySize(String apiVersion) {
        return apiVersion != null && (apiVersion.equals("7.6") || apiVersion.matches("20\\d\\d-.*"));
    }

    static String recoveryLevel(State.Hsm hsm) {
        String base = hsm.softDeleteRetentionInDays < 90 ? "CustomizedRecoverable" : "Recoverable";
        return hsm.enablePurgeProtection ? base : base + "+Purgeable";
    }

    private ObjectNode bundle(Http.Request r, State.Hsm hsm, State.Key key, State.KeyVersion v) {
        ObjectNode b = Json.object();
        ObjectNode attributes = attributes(hsm, v);
        if ("oct-HSM".equals(v.kty) && reportsKeySize(r.apiVersion())) {
            // From API 7.6 on, a symmetric key's bundle says its size among its attributes (as recorded; not in lists or
            // deleted-key bundles).
            attributes.put("key_size", v.keySize);
        }
        b.set("attributes", attributes);
        ObjectNode jwk = KeyCrypto.jwk(v, r.baseUrl() + "/keys/" + key.name + "/" + v.version);
        if (v.keyOps.isEmpty()) {
            jwk.remove("key_ops");
        }
        b.set("key", jwk);
        if (v.releasePolicy != null) {
            b.set("release_policy", v.releasePolicy);
        }
        if (v.tags != null && !v.tags.isEmpty()) {
            b.set("tags", Json.object(v.tags));
        }
        return b;
    }

    private ObjectNode deletedBundle(Http.Request r, State.Hsm hsm, State.Key key) {
        ObjectNode b = bundle(r, hsm, key, key.latest());
        ObjectNode out = Json.object();
        out.set("attributes", ((ObjectNode) b.get("attributes")).without("key_size"));
        out.put("deletedDate", key.deletedDate);
        out.set("key", b.get("key"));
        out.put("recoveryId", r.baseUrl() + "/deletedkeys/" + key.name);
        out.put("scheduledPurgeDate", key.scheduledPurgeDate);
        if (b.has("release_policy")) {
            out.set("release_policy", b.get("release_policy"));
        }
        if (b.has("tags")) {
            out.set("tags", b.get("tags"));
        }
        return out;
    }

    private ObjectNode item(Http.Request r, State.Hsm hsm, State.Key k, State.KeyVersion v, boolean versioned) {
        ObjectNode i = Json.object();
        i.set("attributes", attributes(hsm, v));
        i.put("kid", r.baseUrl() + "/keys/" + k.name + (versioned ? "/" + v.version : ""));
        if (v.tags != null && !v.tags.isEmpty()) {
            i.set("tags", Json.object(v.tags));
        }
        return i;
    }

    // ---- rng and settings ----------------------------------------------------------------------

    private Http.Response rng(Http.Request r, State.Hsm hsm) {
        check(r, hsm, "rng/action", "/");
        int count = r.json().path("count").asInt(-1);
        if (count < 1 || count > 128) {
            throw ApiException.badParameter("count must be between 1 and 128." + activity());
        }
        return Http.Response.json(200, Json.object().put("value", Json.b64u(randomBytes(count))));
    }

    private Http.Response settings(Http.Request r, State.Hsm hsm) {
        if (r.size() == 1 && r.method.equals("GET")) {
            check(r, hsm, "settings/read/action", "/");
            ArrayNode list = Json.array();
            emu.read(() -> {
                hsm.settings.forEach((k, v) -> list.add(setting(k, v)));
                return null;
            });
            ObjectNode out = Json.object();
            out.set("settings", list);
            return Http.Response.json(200, out);
        }
        String name = r.seg(1);
        if (r.size() == 2 && r.method.equals("GET")) {
            check(r, hsm, "settings/read/action", "/");
            return Http.Response.json(200, emu.read(() -> setting(name, settingValue(hsm, name))));
        }
        if (r.size() == 2 && r.method.equals("PATCH")) {
            check(r, hsm, "settings/write/action", "/");
            String value = Json.text(r.json(), "value");
            if (!"true".equalsIgnoreCase(value) && !"false".equalsIgnoreCase(value)) {
                throw ApiException.badParameter("The setting value must be 'true' or 'false'." + activity());
            }
            return Http.Response.json(200, emu.write(() -> {
                settingValue(hsm, name);
                hsm.settings.put(name, value.toLowerCase(Locale.ROOT));
                emu.dirty();
                return setting(name, value.toLowerCase(Locale.ROOT));
            }));
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
    }

    private static String settingValue(State.Hsm hsm, String name) {
        String v = hsm.settings.get(name);
        if (v == null) {
            throw new ApiException(404, "SettingNotFound", "The setting '" + name + "' does not exist." + activity());
        }
        return v;
    }

    private static ObjectNode setting(String name, String value) {
        return Json.object().put("name", name).put("type", "boolean").put("value", value);
    }

    // ---- local RBAC ----------------------------------------------------------------------------

    private Http.Response rbac(Http.Request r, State.Hsm hsm, int providers) {
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
                check(r, hsm, "roleDefinitions/read/action", "/");
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
                        ObjectNode out = Json.object();
                        out.set("value", value);
                        return out;
                    }));
                }
                return Http.Response.json(200, emu.read(() -> roleDefinition(hsm, name)));
            case "PUT": {
                check(r, hsm, "roleDefinitions/write/action", "/");
                if (Rbac.BUILT_IN.containsKey(name.toLowerCase(Locale.ROOT))) {
                    throw ApiException.badParameter("Built-in role definitions cannot be changed." + activity());
                }
                if (!GUID.matcher(name).matches()) {
                    throw ApiException.badParameter("The role definition name must be a GUID." + activity());
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
                    if (!hsm.customRoles.containsKey(name.toLowerCase(Locale.ROOT)) && hsm.customRoles.size() >= 50) {
                        throw ApiException.badParameter("The HSM holds the maximum of 50 custom role definitions." + activity());
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
                check(r, hsm, "roleDefinitions/delete/action", "/");
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
                check(r, hsm, "roleAssignments/read/action", scope);
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
                            boolean inScope = atScope ? ra.scope.equalsIgnoreCase(scope) : Rbac.covers(scope, ra.scope);
                            if (inScope && (principal == null || principal.equalsIgnoreCase(ra.principalId))) {
                                value.add(assignment(ra));
                            }
                        }
                        ObjectNode out = Json.object();
                        out.set("value", value);
                        return out;
                    }));
                }
                return Http.Response.json(200, emu.read(() -> assignment(assignmentNamed(hsm, name))));
            case "PUT": {
                check(r, hsm, "roleAssignments/write/action", scope);
                JsonNode p = r.json().path("properties");
                String roleId = Json.text(p, "roleDefinitionId");
                String principal = Json.text(p, "principalId");
                if (roleId == null || principal == null) {
                    throw ApiException.badParameter("roleDefinitionId and principalId are required." + activity());
                }
                if (!GUID.matcher(principal).matches()) {
                    throw ApiException.badParameter("The principal ID '" + principal + "' is not a valid object ID." + activity());
                }
                if (!GUID.matcher(name).matches()) {
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
                    emu.dirty();
                    return assignment(ra);
                }));
            }
            case "DELETE":
                check(r, hsm, "roleAssignments/delete/action", scope);
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
            throw new ApiException(404, "RoleAssignmentNotFound", "Requested role assignment not found" + activity());
        }
        return ra;
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

    // ---- security domain -----------------------------------------------------------------------

    private Http.Response securityDomain(Http.Request r, State.Hsm hsm) {
        String second = r.seg(1) == null ? "" : r.seg(1).toLowerCase(Locale.ROOT);
        boolean pending = r.is(2, "pending");
        if (second.equals("download") && !pending && r.method.equals("POST")) {
            check(r, hsm, "securitydomain/download/action", "/");
            return download(r, hsm);
        }
        if (second.equals("download") && pending) {
            check(r, hsm, "securitydomain/download/read", "/");
            return Http.Response.json(200, emu.read(() -> {
                if (hsm.securityDomain == null) {
                    throw new ApiException(404, "NotFound", "No security domain download has been started for this HSM." + activity());
                }
                boolean done = emu.isActive(hsm);
                return Json.object().put("status", done ? "Success" : "InProgress")
                        .put("status_details", done ? "The Managed HSM is activated." : "Activation is in progress.");
            }));
        }
        if (second.equals("upload") && !pending && r.method.equals("GET")) {
            check(r, hsm, "securitydomain/transferkey/read", "/");
            ObjectNode out = Json.object().put("key_format", "jwk");
            out.set("transfer_key", emu.transferKey(hsm));
            return Http.Response.json(200, out);
        }
        if (second.equals("upload")) {
            throw ApiException.badParameter("Security domain upload (restore) is not supported by the emulator." + activity());
        }
        throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
    }

    private Http.Response download(Http.Request r, State.Hsm hsm) {
        JsonNode body = r.json();
        if (body.has("CertificateInfoObject")) {
            body = body.get("CertificateInfoObject");
        }
        JsonNode certs = body.path("certificates");
        if (!certs.isArray() || certs.size() < 3 || certs.size() > 10) {
            throw ApiException.badParameter("Between 3 and 10 certificates are required to download the security domain; got "
                    + (certs.isArray() ? certs.size() : 0) + "." + activity());
        }
        int required = body.path("required").asInt(0);
        if (required < 2 || required > certs.size()) {
            throw ApiException.badParameter("The quorum ('required') must be between 2 and the number of certificates ("
                    + certs.size() + "); got " + required + "." + activity());
        }
        List<X509Certificate> parsed = new ArrayList<>();
        List<String> thumbs = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (JsonNode c : certs) {
                JsonNode x5c = c.path("x5c");
                if (!x5c.isArray() || x5c.isEmpty()) {
                    throw ApiException.badParameter("Each certificate needs an x5c chain." + activity());
                }
                X509Certificate cert = (X509Certificate) cf.generateCertificate(new ByteArrayInputStream(
                        Base64.getDecoder().decode(x5c.get(0).asText())));
                if (!(cert.getPublicKey() instanceof RSAPublicKey) || ((RSAPublicKey) cert.getPublicKey()).getModulus().bitLength() < 2048) {
                    throw ApiException.badParameter("Security domain certificates must hold RSA keys of at least 2048 bits." + activity());
                }
                String thumb = SecurityDomainBlob.thumbprint(cert);
                if (thumbs.contains(thumb)) {
                    throw ApiException.badParameter("The same certificate was supplied twice." + activity());
                }
                thumbs.add(thumb);
                parsed.add(cert);
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw ApiException.badParameter("A certificate could not be parsed: " + e.getMessage() + activity());
        }
        byte[] domainKey = randomBytes(32);
        String blob = SecurityDomainBlob.create(domainKey, Base64.getDecoder().decode(hsm.domainKey), parsed, required);
        emu.write(() -> {
            if (hsm.securityDomain != null) {
                throw new ApiException(409, "Conflict", "The security domain of this HSM has already been downloaded." + activity());
            }
            State.SecurityDomain sd = new State.SecurityDomain();
            sd.required = required;
            sd.certificateThumbprints = thumbs;
            sd.downloadedAtMillis = System.currentTimeMillis();
            sd.activeAtMillis = sd.downloadedAtMillis + emu.config().activationDelay().toMillis();
            sd.key = Base64.getEncoder().encodeToString(domainKey);
            hsm.securityDomain = sd;
            emu.dirty();
            return null;
        });
        return Http.Response.json(202, Json.object().put("value", blob))
                .header("Azure-AsyncOperation", r.baseUrl() + "/securitydomain/download/pending")
                .header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
    }

    // ---- full backup and restore ---------------------------------------------------------------

    private Http.Response fullBackup(Http.Request r, State.Hsm hsm) {
        String first = r.seg(0).toLowerCase(Locale.ROOT);
        boolean pending = r.size() == 3 && r.is(2, "pending");
        if (pending) {
            check(r, hsm, first.equals("backup") ? "backup/status/action" : "restore/status/action", "/");
            return Http.Response.json(200, emu.read(() -> {
                State.Job job = hsm.jobs.get(r.seg(1).toLowerCase(Locale.ROOT));
                if (job == null) {
                    throw new ApiException(404, "NotFound", "No backup or restore job with ID " + r.seg(1) + "." + activity());
                }
                return jobView(job);
            }));
        }
        if (r.size() != 1) {
            throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
        }
        JsonNode body = r.json();
        switch (first) {
            case "backup": case "prebackup": {
                if (!r.method.equals("POST")) {
                    break;
                }
                check(r, hsm, "backup/start/action", "/");
                String container = Json.text(body, "storageResourceUri");
                if (container == null || !container.startsWith("https://")) {
                    throw ApiException.badParameter("storageResourceUri must be an https blob container URL." + activity());
                }
                boolean pre = first.equals("prebackup");
                State.Job job = startJob(hsm, pre ? "prebackup" : "backup", pre ? 0 : emu.config().jobDuration().toMillis());
                if (!pre) {
                    String folder = "mhsm-" + hsm.name + "-" + DateTimeFormatter.ofPattern("yyyyMMddHHmmssSS")
                            .format(emu.controls().now().atZone(ZoneOffset.UTC));
                    job.folderUri = container.replaceAll("/+$", "") + "/" + folder;
                    emu.write(() -> {
                        emu.state().backupFolders.put(job.folderUri.toLowerCase(Locale.ROOT), snapshot(hsm));
                        emu.dirty();
                        return null;
                    });
                }
                return jobStarted(job, r.baseUrl() + "/backup/" + job.jobId + "/pending");
            }
            case "restore": case "prerestore": {
                if (!r.method.equals("PUT")) {
                    break;
                }
                check(r, hsm, "restore/start/action", "/");
                JsonNode sas = body.path("sasTokenParameters");
                String folder = sas.path("storageResourceUri").asText("").replaceAll("/+$", "") + "/" + body.path("folderToRestore").asText("");
                boolean pre = first.equals("prerestore");
                State.Job job = startJob(hsm, first, pre ? 0 : emu.config().jobDuration().toMillis());
                String content = emu.read(() -> emu.state().backupFolders.get(folder.toLowerCase(Locale.ROOT)));
                if (content == null) {
                    job.error = Json.object().put("code", "InvalidBackupFolder").put("message",
                            "The backup folder " + folder + " was not found or is not readable.");
                } else if (!pre) {
                    emu.write(() -> {
                        Map<String, State.Key> keys = restoreSnapshot(hsm, content);
                        hsm.keys.clear();
                        hsm.keys.putAll(keys);
                        emu.dirty();
                        return null;
                    });
                }
                return jobStarted(job, r.baseUrl() + "/restore/" + job.jobId + "/pending");
            }
            default:
                break;
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
    }

    private Http.Response selectiveRestore(Http.Request r, State.Hsm hsm, String name) {
        JsonNode body = r.json();
        JsonNode sas = body.path("sasTokenParameters");
        String folder = sas.path("storageResourceUri").asText("").replaceAll("/+$", "") + "/" + body.path("folder").asText("");
        State.Job job = startJob(hsm, "restore", emu.config().jobDuration().toMillis());
        String content = emu.read(() -> emu.state().backupFolders.get(folder.toLowerCase(Locale.ROOT)));
        if (content == null) {
            job.error = Json.object().put("code", "InvalidBackupFolder").put("message", "The backup folder " + folder + " was not found.");
        } else {
            emu.write(() -> {
                State.Key source = restoreSnapshot(hsm, content).get(name.toLowerCase(Locale.ROOT));
                int restored = 0;
                int skipped = 0;
                if (source == null) {
                    job.error = Json.object().put("code", "KeyNotFound").put("message", "Key " + name + " is not in the backup.");
                } else {
                    State.Key target = hsm.keys.computeIfAbsent(name.toLowerCase(Locale.ROOT), k -> {
                        State.Key nk = new State.Key();
                        nk.name = source.name;
                        return nk;
                    });
                    for (State.KeyVersion v : source.versions) {
                        if (target.version(v.version) != null) {
                            skipped++;
                        } else {
                            target.versions.add(v);
                            restored++;
                        }
                    }
                    job.statusDetails = "Number of successful key versions restored: " + restored
                            + ", Number of key versions could not overwrite: " + skipped;
                }
                emu.dirty();
                return null;
            });
        }
        return jobStarted(job, r.baseUrl() + "/restore/" + job.jobId + "/pending");
    }

    private State.Job startJob(State.Hsm hsm, String kind, long durationMillis) {
        return emu.write(() -> {
            long now = System.currentTimeMillis();
            for (State.Job j : hsm.jobs.values()) {
                if (j.doneAtMillis > now && !j.kind.startsWith("pre")) {
                    throw new ApiException(409, "Conflict", "Another backup or restore operation is in progress on this HSM." + activity());
                }
            }
            State.Job job = new State.Job();
            job.jobId = HexFormat.of().formatHex(randomBytes(16));
            job.kind = kind;
            job.startTime = emu.controls().nowEpochSeconds();
            job.doneAtMillis = now + durationMillis;
            hsm.jobs.put(job.jobId, job);
            emu.dirty();
            return job;
        });
    }

    /** The answer that starts a job: always in progress, however quickly the job finishes (as recorded). */
    private Http.Response jobStarted(State.Job job, String url) {
        return Http.Response.json(202, jobView(job, false)).header("azure-asyncoperation", url)
                .header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
    }

    private ObjectNode jobView(State.Job job) {
        return jobView(job, System.currentTimeMillis() >= job.doneAtMillis);
    }

    private ObjectNode jobView(State.Job job, boolean done) {
        String status = !done ? "InProgress" : job.error != null ? "Failed" : "Succeeded";
        ObjectNode o = Json.object();
        if (job.kind.contains("backup")) {
            if (done && job.error == null && job.folderUri != null) {
                o.put("azureStorageBlobContainerUri", job.folderUri);
            } else {
                o.putNull("azureStorageBlobContainerUri");
            }
        }
        if (done) {
            o.put("endTime", job.startTime + (job.kind.startsWith("pre") ? 0 : emu.config().jobDuration().toSeconds()));
        } else {
            o.putNull("endTime");
        }
        if (done && job.error != null) {
            o.set("error", job.error);
        } else {
            o.putNull("error");
        }
        o.put("jobId", job.jobId).put("startTime", job.startTime).put("status", status);
        if (done && job.statusDetails != null) {
            o.put("statusDetails", job.statusDetails);
        } else {
            o.putNull("statusDetails");
        }
        return o;
    }

    private String snapshot(State.Hsm hsm) {
        return Jwe.encryptDirect(Json.bytes(hsm.keys), backupKey(hsm), "backup-protection-key");
    }

    private Map<String, State.Key> restoreSnapshot(State.Hsm hsm, String content) {
        try {
            byte[] plain = Jwe.decryptDirect(content, backupKey(hsm));
            return Json.MAPPER.readValue(plain, new com.fasterxml.jackson.core.type.TypeReference<LinkedHashMap<String, State.Key>>() {
            });
        } catch (Exception e) {
            throw ApiException.badParameter("The backup was made in another security domain and cannot be restored here." + activity());
        }
    }

    static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        KeyCrypto.RANDOM.nextBytes(b);
        return b;
    }
}
