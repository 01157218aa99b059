package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

import static io.hsmoperator.emulator.HsmDataPlane.activity;
import static io.hsmoperator.emulator.HsmDataPlane.randomBytes;

/**
 * The Managed HSM key operations REST API: sign, verify, encrypt, decrypt, wrap key and unwrap key with a key held
 * in the HSM, and random bytes from the HSM's generator.
 */
final class CryptographyApi {
    static final Map<String, String> OP_ACTION = Map.of("sign", "sign", "verify", "verify", "encrypt", "encrypt",
            "decrypt", "decrypt", "wrapkey", "wrap", "unwrapkey", "unwrap");
    private static final Map<String, String> OP_NAME = Map.of("sign", "sign", "verify", "verify", "encrypt", "encrypt",
            "decrypt", "decrypt", "wrapkey", "wrapKey", "unwrapkey", "unwrapKey");

    private final Emulator emu;
    private final HsmDataPlane dataPlane;

    CryptographyApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
    }

    Http.Response keyOperation(Http.Request r, State.Hsm hsm, String name, String version, String op) {
        JsonNode body = r.json();
        String alg = Json.text(body, "alg");
        if (alg == null) {
            throw ApiException.badParameter("The parameter 'alg' is required." + activity());
        }
        State.KeyVersion v = emu.read(() -> KeysApi.version(KeysApi.key(hsm, name), version));
        String kid = r.baseUrl() + "/keys/" + emu.read(() -> KeysApi.key(hsm, name).name) + "/" + v.version;
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
                // The HSM's answer names the key version and algorithm with the verdict: recorded for HS256 on an oct-HSM key
                // and (issue 24) for ES256K on a P-256K key; assumed for RSA, which the SDKs verify locally.
                return Http.Response.json(200, Json.object().put("alg", alg).put("kid", kid)
                        .put("value", KeyCrypto.verify(v, alg, digest, value)));
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

    Http.Response rng(Http.Request r, State.Hsm hsm) {
        dataPlane.check(r, hsm, "rng/action", "/");
        int count = r.json().path("count").asInt(-1);
        if (count < 1 || count > 128) {
            throw ApiException.badParameter("count must be between 1 and 128." + activity());
        }
        return Http.Response.json(200, Json.object().put("value", Json.b64u(randomBytes(count))));
    }
}
