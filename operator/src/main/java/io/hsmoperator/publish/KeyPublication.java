package io.hsmoperator.publish;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.jce.spec.ECNamedCurveParameterSpec;
import org.bouncycastle.jce.spec.ECPublicKeySpec;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What workloads read from the ConfigMap of an HsmKey: the key IDs, the current version, the HSM URI, the public key of
 * every enabled version in PEM, and a JWKS token validators can use as is (kid = versioned key ID). Symmetric keys publish
 * IDs only. Never any private material: the HSM never returns it.
 */
public final class KeyPublication {
    public static final String JWKS = "jwks.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final BouncyCastleProvider BC = new BouncyCastleProvider();
    private static final Map<String, String> CURVES = Map.of("P-256", "secp256r1", "P-384", "secp384r1", "P-521", "secp521r1",
            "P-256K", "secp256k1");
    private static final Map<String, String> EC_ALG = Map.of("P-256", "ES256", "P-384", "ES384", "P-521", "ES512", "P-256K", "ES256K");

    /** One enabled version: its versioned key ID and public JWK members (kty, n/e or crv/x/y). */
    public record PublishedVersion(String keyId, String version, Map<String, String> jwk) {
    }

    private KeyPublication() {
    }

    /**
     * ConfigMap data. {@code versions}: enabled versions, newest first. {@code regionUris}: of a replicated HSM, each extended
     * region's own data-plane host (published as hsmUri.{region}), for a workload that must stay in one region; hsmUri
     * reaches the closest healthy region.
     */
    public static Map<String, String> data(String hsmUri, Map<String, String> regionUris, String keyName, String keyType, String keyId,
                                           String versionlessKeyId, String currentVersion, List<String> operations,
                                           List<PublishedVersion> versions) {
        Map<String, String> data = new LinkedHashMap<>();
        data.put("keyId", keyId);
        data.put("versionlessKeyId", versionlessKeyId);
        data.put("currentVersion", currentVersion);
        data.put("keyName", keyName);
        data.put("keyType", keyType);
        data.put("hsmUri", hsmUri);
        regionUris.forEach((region, uri) -> data.put("hsmUri." + region, uri));
        if (keyType.startsWith("oct")) {
            return data;
        }
        ArrayNode keys = JSON.createArrayNode();
        boolean signing = operations == null || operations.isEmpty() || operations.contains("sign") || operations.contains("verify");
        for (PublishedVersion v : versions) {
            data.put(v.version() + ".pem", pem(publicKey(v.jwk())));
            ObjectNode jwk = keys.addObject();
            if (v.jwk().containsKey("n")) {
                jwk.put("kty", "RSA").put("kid", v.keyId()).put("use", signing ? "sig" : "enc").put("n", v.jwk().get("n"))
                        .put("e", v.jwk().get("e"));
            } else {
                String crv = v.jwk().get("crv");
                jwk.put("kty", "EC").put("kid", v.keyId()).put("use", "sig").put("alg", EC_ALG.get(crv)).put("crv", crv)
                        .put("x", v.jwk().get("x")).put("y", v.jwk().get("y"));
            }
        }
        ObjectNode jwks = JSON.createObjectNode();
        jwks.set("keys", keys);
        data.put(JWKS, jwks.toPrettyString());
        return data;
    }

    public static PublicKey publicKey(Map<String, String> jwk) {
        try {
            if (jwk.containsKey("n")) {
                return KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(big(jwk.get("n")), big(jwk.get("e"))));
            }
            ECNamedCurveParameterSpec curve = org.bouncycastle.jce.ECNamedCurveTable.getParameterSpec(CURVES.get(jwk.get("crv")));
            var point = curve.getCurve().createPoint(big(jwk.get("x")), big(jwk.get("y")));
            return KeyFactory.getInstance("EC", BC).generatePublic(new ECPublicKeySpec(point, curve));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IllegalArgumentException("Azure returned a public key the operator cannot encode: " + e.getMessage(), e);
        }
    }

    private static BigInteger big(String b64u) {
        return new BigInteger(1, Base64.getUrlDecoder().decode(b64u));
    }

    static String pem(PublicKey key) {
        return "-----BEGIN PUBLIC KEY-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(key.getEncoded())
                + "\n-----END PUBLIC KEY-----\n";
    }
}
