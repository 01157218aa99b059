package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.Signature;
import java.security.interfaces.RSAPublicKey;

/** Minimal RS256 JSON Web Tokens: enough to be Entra ID's token issuer and a cluster's service-account issuer. */
public final class Jwt {
    private Jwt() {
    }

    public static String sign(ObjectNode claims, KeyPair key, String kid) {
        ObjectNode header = Json.object().put("typ", "JWT").put("alg", "RS256").put("kid", kid);
        String signingInput = Json.b64u(Json.bytes(header)) + "." + Json.b64u(Json.bytes(claims));
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initSign(key.getPrivate());
            s.update(signingInput.getBytes(StandardCharsets.US_ASCII));
            return signingInput + "." + Json.b64u(s.sign());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Returns the claims when the signature verifies with {@code key}; null when it does not or the token is malformed. */
    public static JsonNode verify(String token, RSAPublicKey key) {
        String[] parts = token.split("\\.");
        if (parts.length != 3) {
            return null;
        }
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initVerify(key);
            s.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
            if (!s.verify(Json.unb64(parts[2]))) {
                return null;
            }
            return Json.parse(Json.unb64(parts[1]));
        } catch (GeneralSecurityException | RuntimeException e) {
            return null;
        }
    }

    /** The token's header (algorithm and key ID), or null when the token is malformed. */
    public static JsonNode header(String token) {
        return part(token, 0);
    }

    /** Reads the claims without checking the signature (to find which issuer to check against). */
    public static JsonNode peek(String token) {
        return part(token, 1);
    }

    private static JsonNode part(String token, int index) {
        String[] parts = token.split("\\.");
        if (parts.length != 3) {
            return null;
        }
        try {
            return Json.parse(Json.unb64(parts[index]));
        } catch (RuntimeException e) {
            return null;
        }
    }

    public static ObjectNode jwk(RSAPublicKey key, String kid) {
        return Json.object().put("kty", "RSA").put("use", "sig").put("kid", kid).put("alg", "RS256")
                .put("n", Json.b64u(KeyCrypto.unsigned(key.getModulus())))
                .put("e", Json.b64u(KeyCrypto.unsigned(key.getPublicExponent())));
    }
}
