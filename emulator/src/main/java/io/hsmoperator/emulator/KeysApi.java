package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

import static io.hsmoperator.emulator.HsmDataPlane.activity;
import static io.hsmoperator.emulator.HsmDataPlane.randomBytes;

/**
 * The Managed HSM keys REST API: create, import, get, update, list and delete keys and their versions, deleted keys
 * (get, list, recover, purge), backup and restore of a single key, rotation and the rotation policy, and the key
 * bundles they answer with.
 */
final class KeysApi {
    static final int MAX_VERSIONS = 100;
    static final int MAX_KEYS = 5000;
    private static final Pattern KEY_NAME = Pattern.compile("^[0-9a-zA-Z-]{1,127}$");
    private static final int PAGE = 10;

    private final Emulator emu;
    private final HsmDataPlane dataPlane;
    private final KeyAttestations attestations;

    KeysApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
        this.attestations = new KeyAttestations(emu);
    }

    Http.Response createKey(Http.Request r, State.Hsm hsm, String name) {
        validName(name);
        JsonNode body = r.json();
        State.KeyVersion v = newVersion(body, KeyCrypto.hsmKty(Json.text(body, "kty")));
        Integer size = body.hasNonNull("key_size") ? body.get("key_size").asInt() : null;
        Integer exponent = body.hasNonNull("public_exponent") ? body.get("public_exponent").asInt() : null;
        KeyCrypto.generate(v, size, Json.text(body, "crv"), exponent);
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(r, hsm, name, v);
            return bundle(r, hsm, key, v);
        }));
    }

    Http.Response importKey(Http.Request r, State.Hsm hsm, String name) {
        validName(name);
        JsonNode body = r.json();
        JsonNode jwk = body.get("key");
        if (jwk == null) {
            throw ApiException.badParameter("The parameter 'key' is required." + activity());
        }
        State.KeyVersion v = new State.KeyVersion();
        if (jwk.hasNonNull("key_hsm")) {
            // Bring your own key: material an on-premises HSM wrapped for a key exchange key of this HSM.
            v.kty = KeyCrypto.hsmKty(Json.text(jwk, "kty"));
            ByokImport.Blob blob = ByokImport.parse(Json.unb64(Json.text(jwk, "key_hsm")), r.baseUrl());
            State.KeyVersion kek = emu.read(() -> {
                State.Key k = hsm.keys.get(blob.kekName().toLowerCase(Locale.ROOT));
                State.KeyVersion found = k == null || k.recovering() ? null
                        : blob.kekVersion().isEmpty() ? k.latest() : k.version(blob.kekVersion());
                if (found == null) {
                    throw ApiException.badParameter("The key exchange key " + blob.kekName() + "/" + blob.kekVersion() + " named by the key "
                            + "transfer blob was not found in this HSM." + activity());
                }
                String unfit = ByokImport.unfitKek(found);
                if (unfit != null) {
                    throw ApiException.badParameter("The key " + blob.kekName() + " cannot serve as a key exchange key: " + unfit + "."
                            + activity());
                }
                return found;
            });
            ByokImport.unwrapInto(v, blob, kek);
        } else {
            KeyCrypto.importJwk(v, jwk);
        }
        State.KeyVersion attrs = newVersion(body, v.kty);
        attrs.material = v.material;
        attrs.publicKey = v.publicKey;
        attrs.keySize = v.keySize;
        attrs.origin = "imported";
        attrs.crv = v.crv;
        if (jwk.has("key_ops")) {
            attrs.keyOps = ops(jwk.get("key_ops"), v.kty);
        }
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(r, hsm, name, attrs);
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

    private State.Key insertVersion(Http.Request r, State.Hsm hsm, String name, State.KeyVersion v) {
        v.writtenIn = HsmDataPlane.region(r);
        v.replicatedAtMillis = System.currentTimeMillis() + emu.config().replicationDelay().toMillis();
        if (hsm.deletedKeys.containsKey(name.toLowerCase(Locale.ROOT))) {
            throw new ApiException(409, "Conflict", "Key " + name + " is currently in a deleted but recoverable state, and its name "
                    + "cannot be reused; in this state, the key can only be recovered or purged." + activity());
        }
        State.Key key = hsm.keys.get(name.toLowerCase(Locale.ROOT));
        if (key != null && key.recovering()) {
            throw new ApiException(409, "Conflict", "Key " + name + " is currently being recovered, and its name cannot be used until the "
                    + "recovery completes." + activity());
        }
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

    static State.Key key(State.Hsm hsm, String name) {
        State.Key key = hsm.keys.get(name.toLowerCase(Locale.ROOT));
        if (key == null || key.recovering()) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + name + activity());
        }
        return key;
    }

    static State.KeyVersion version(State.Key key, String version) {
        if (version == null || version.isEmpty()) {
            return key.latest();
        }
        State.KeyVersion v = key.version(version);
        if (v == null) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + key.name + "/" + version + activity());
        }
        return v;
    }

    /**
     * Whether a version is seen through the host {@code r} came to: at once where it was written, in the other region of a
     * replicated HSM only once the write has replicated.
     */
    static boolean replicated(Http.Request r, State.KeyVersion v) {
        String here = HsmDataPlane.region(r);
        boolean writtenHere = here == null ? v.writtenIn == null : here.equalsIgnoreCase(v.writtenIn);
        return writtenHere || System.currentTimeMillis() >= v.replicatedAtMillis;
    }

    /** The newest version seen through this host, or null when none has replicated to it yet. */
    static State.KeyVersion latestSeen(Http.Request r, State.Key key) {
        for (int i = key.versions.size() - 1; i >= 0; i--) {
            if (replicated(r, key.versions.get(i))) {
                return key.versions.get(i);
            }
        }
        return null;
    }

    /** {@link #version} as this host sees it: a version not yet replicated here is not found. */
    static State.KeyVersion seen(Http.Request r, State.Key key, String version) {
        State.KeyVersion v = version == null || version.isEmpty() ? latestSeen(r, key) : version(key, version);
        if (v == null || !replicated(r, v)) {
            throw new ApiException(404, "KeyNotFound", "Key not found: " + key.name + (version == null ? "" : "/" + version) + activity());
        }
        return v;
    }

    Http.Response getKey(Http.Request r, State.Hsm hsm, String name, String version) {
        return Http.Response.json(200, emu.read(() -> {
            State.Key key = key(hsm, name);
            State.KeyVersion v = seen(r, key, version);
            return emu.staleReads().read(staleKey(hsm, name, v.version)).orElseGet(() -> bundle(r, hsm, key, v));
        }));
    }

    /** The key bundle with {@code attributes.attestation}: evidence of the emulator's own format ({@link KeyAttestations}). */
    Http.Response getAttestation(Http.Request r, State.Hsm hsm, String name, String version) {
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = key(hsm, name);
            State.KeyVersion v = version(key, version);
            ObjectNode b = bundle(r, hsm, key, v);
            ((ObjectNode) b.get("attributes")).set("attestation",
                    attestations.attestation(hsm, v, r.baseUrl() + "/keys/" + key.name + "/" + v.version, r.apiVersion()));
            return b;
        }));
    }

    private static String staleKey(State.Hsm hsm, String name, String version) {
        return "key|" + hsm.name.toLowerCase(Locale.ROOT) + "|" + name.toLowerCase(Locale.ROOT) + "|" + version;
    }

    Http.Response updateKey(Http.Request r, State.Hsm hsm, String name, String version) {
        JsonNode body = r.json();
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = key(hsm, name);
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

    Http.Response deleteKey(Http.Request r, State.Hsm hsm, String name) {
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = key(hsm, name);
            long now = emu.controls().nowEpochSeconds();
            key.deletedDate = now;
            key.scheduledPurgeDate = now + hsm.softDeleteRetentionInDays * 86400L;
            hsm.keys.remove(name.toLowerCase(Locale.ROOT));
            hsm.deletedKeys.put(name.toLowerCase(Locale.ROOT), key);
            emu.dirty();
            return deletedBundle(r, hsm, key);
        }));
    }

    Http.Response listKeys(Http.Request r, State.Hsm hsm) {
        return page(r, "/keys", emu.read(() -> {
            List<ObjectNode> items = new ArrayList<>();
            for (State.Key k : hsm.keys.values()) {
                State.KeyVersion latest = k.recovering() ? null : latestSeen(r, k);
                if (latest == null) {
                    continue;
                }
                items.add(item(r, hsm, k, latest, false));
            }
            return items;
        }));
    }

    Http.Response listVersions(Http.Request r, State.Hsm hsm, String name) {
        return page(r, "/keys/" + name + "/versions", emu.read(() -> {
            State.Key k = key(hsm, name);
            List<ObjectNode> items = new ArrayList<>();
            for (State.KeyVersion v : k.versions) {
                if (replicated(r, v)) {
                    items.add(item(r, hsm, k, v, true));
                }
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

    Http.Response backupKey(Http.Request r, State.Hsm hsm, String name) {
        String blob = emu.read(() -> {
            State.Key k = key(hsm, name);
            byte[] plain = Json.bytes(k);
            return Jwe.encryptDirect(plain, BackupRestoreApi.backupKey(hsm), "backup-protection-key");
        });
        return Http.Response.json(200, Json.object().put("value", Json.b64u(blob.getBytes(StandardCharsets.US_ASCII))));
    }

    Http.Response restoreKey(Http.Request r, State.Hsm hsm) {
        String value = Json.text(r.json(), "value");
        State.Key restored;
        try {
            String jwe = new String(Json.unb64(value), StandardCharsets.US_ASCII);
            restored = Json.MAPPER.readValue(Jwe.decryptDirect(jwe, BackupRestoreApi.backupKey(hsm)), State.Key.class);
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

    Http.Response rotate(Http.Request r, State.Hsm hsm, String name) {
        State.KeyVersion template = emu.read(() -> {
            State.Key k = key(hsm, name);
            if (k.rotationPolicy == null) {
                throw ApiException.badParameter("Key " + name + " has no rotation policy; set one before rotating on demand." + activity());
            }
            return k.latest();
        });
        State.KeyVersion v = rotatedVersion(hsm, name, template, emu.controls().nowEpochSeconds());
        return Http.Response.json(200, emu.write(() -> {
            State.Key key = insertVersion(r, hsm, name, v);
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

    Http.Response getPolicy(Http.Request r, State.Hsm hsm, String name) {
        return Http.Response.json(200, emu.read(() -> {
            State.Key k = key(hsm, name);
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

    Http.Response putPolicy(Http.Request r, State.Hsm hsm, String name) {
        JsonNode body = r.json();
        ObjectNode policy = validatePolicy(body);
        return Http.Response.json(200, emu.write(() -> {
            State.Key k = key(hsm, name);
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
            if (k.rotationPolicy == null || k.recovering()) {
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
    // ---- deleted keys --------------------------------------------------------------------------

    Http.Response deletedKeys(Http.Request r, State.Hsm hsm) {
        int n = r.size();
        if (n == 1 && r.method.equals("GET")) {
            dataPlane.check(r, hsm, "keys/deletedKeys/read/action", "/keys");
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
            dataPlane.check(r, hsm, "keys/deletedKeys/read/action", scope);
            return Http.Response.json(200, emu.read(() -> deletedBundle(r, hsm, deleted(r, hsm, name))));
        }
        if (n == 2 && r.method.equals("DELETE")) {
            dataPlane.check(r, hsm, "keys/deletedKeys/delete", scope);
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
            dataPlane.check(r, hsm, "keys/deletedKeys/recover/action", scope);
            return Http.Response.json(200, emu.write(() -> {
                State.Key k = deleted(r, hsm, name);
                String lower = k.name.toLowerCase(Locale.ROOT);
                if (hsm.keys.containsKey(lower)) {
                    throw new ApiException(409, "Conflict", "A key named " + k.name + " already exists." + activity());
                }
                hsm.deletedKeys.remove(lower);
                k.deletedDate = null;
                k.scheduledPurgeDate = null;
                // Recovery completes in the background: the key answers 404 for a while, as the SDK's poller expects.
                k.recoveringUntil = emu.staleReads().visibleAtMillis();
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
}
