package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static io.hsmoperator.emulator.HsmDataPlane.activity;

/**
 * Bring your own key: the import of key material that an on-premises HSM wrapped for a key exchange key (KEK) of this
 * HSM, as Azure's BYOK specification describes it. The import request's JWK carries the transfer blob in {@code key_hsm}:
 * JSON {@code {schema_version, header: {kid, alg: "dir", enc}, ciphertext, generator}}, where ciphertext is
 * CKM_RSA_AES_KEY_WRAP: RSA-OAEP of an ephemeral AES key under the KEK, followed by AES key wrap with padding (RFC 5649)
 * of the target key (PKCS#8 for RSA and EC, the raw bytes for oct). The KEK must be an enabled RSA-HSM key of this HSM
 * whose only operation is import. Nothing of the blob or of the key it carries appears in an error.
 */
final class ByokImport {
    private static final Provider BC = new BouncyCastleProvider();
    /**
     * enc values and the OAEP hash each means. CKM_RSA_AES_KEY_WRAP is SHA-1 (BYOK specification); the _256 and _384
     * names are Azure's key-export algorithm names (KeyExportEncryptionAlgorithm), accepted here for import as well.
     */
    private static final Map<String, String> OAEP_HASH = Map.of("CKM_RSA_AES_KEY_WRAP", "SHA-1", "RSA_AES_KEY_WRAP_256", "SHA-256",
            "RSA_AES_KEY_WRAP_384", "SHA-384");

    private ByokImport() {
    }

    /** The transfer blob's header: which KEK of which key (kid) it was wrapped for. */
    record Blob(String kekName, String kekVersion, String enc, byte[] ciphertext) {
    }

    /** Parses the transfer blob (the decoded key_hsm) and checks it names a key of this HSM. */
    static Blob parse(byte[] transferBlob, String hsmBaseUrl) {
        JsonNode blob;
        try {
            blob = Json.MAPPER.readTree(transferBlob);
        } catch (Exception e) {
            blob = null;
        }
        if (blob == null || !blob.isObject() || !blob.path("header").isObject() || !blob.hasNonNull("ciphertext")) {
            throw ApiException.badParameter("The property \"key_hsm\" must be a key transfer blob: JSON with header and ciphertext."
                    + activity());
        }
        JsonNode header = blob.get("header");
        String alg = header.path("alg").asText("");
        String enc = header.path("enc").asText("");
        if (!alg.equals("dir") || !OAEP_HASH.containsKey(enc)) {
            throw ApiException.badParameter("Unsupported key transfer blob: header alg must be 'dir' and enc one of "
                    + String.join(", ", OAEP_HASH.keySet().stream().sorted().toList()) + "." + activity());
        }
        String kid = header.path("kid").asText("");
        String prefix = hsmBaseUrl.replaceAll("/+$", "") + "/keys/";
        if (!kid.toLowerCase(Locale.ROOT).startsWith(prefix.toLowerCase(Locale.ROOT))) {
            throw ApiException.badParameter("The key exchange key " + kid + " of the key transfer blob is not a key of this HSM."
                    + activity());
        }
        String[] parts = kid.substring(prefix.length()).split("/");
        if (parts.length < 1 || parts.length > 2 || parts[0].isEmpty()) {
            throw ApiException.badParameter("The key exchange key identifier " + kid + " is not a key identifier." + activity());
        }
        byte[] ciphertext;
        try {
            ciphertext = Json.unb64(blob.get("ciphertext").asText());
        } catch (ApiException e) {
            throw ApiException.badParameter("The ciphertext of the key transfer blob is not base64url." + activity());
        }
        return new Blob(parts[0], parts.length == 2 ? parts[1] : "", enc, ciphertext);
    }

    /** Why this version may not serve as a key exchange key; null when it may. */
    static String unfitKek(State.KeyVersion kek) {
        if (!"RSA-HSM".equals(kek.kty)) {
            return "it is " + kek.kty + ", not RSA-HSM";
        }
        if (!List.of("import").equals(kek.keyOps)) {
            return "its key_ops are " + kek.keyOps + "; a key exchange key must have exactly [import]";
        }
        if (!kek.enabled) {
            return "it is disabled";
        }
        return null;
    }

    /**
     * Unwraps the target key with the KEK and fills {@code v} (kty already set) with its material. Refuses key material
     * of another type than {@code v.kty}.
     */
    static void unwrapInto(State.KeyVersion v, Blob blob, State.KeyVersion kek) {
        byte[] plain = unwrap(blob, kek);
        try {
            switch (v.kty) {
                case "oct-HSM": {
                    if (plain.length != 16 && plain.length != 24 && plain.length != 32) {
                        throw ApiException.badParameter("Invalid key type: the key material of key_hsm is not an AES key of 128, 192 or "
                                + "256 bits." + activity());
                    }
                    v.keySize = plain.length * 8;
                    v.material = Base64.getEncoder().encodeToString(plain);
                    return;
                }
                case "RSA-HSM": {
                    PrivateKey priv = pkcs8("RSA", plain, v.kty);
                    if (!(priv instanceof RSAPrivateCrtKey crt)) {
                        throw ApiException.badParameter("Invalid key type: the RSA key material of key_hsm lacks its CRT parameters."
                                + activity());
                    }
                    RSAPublicKey pub = (RSAPublicKey) KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(crt.getModulus(),
                            crt.getPublicExponent()));
                    int size = crt.getModulus().bitLength();
                    if (size != 2048 && size != 3072 && size != 4096) {
                        throw ApiException.badParameter("Invalid key size: '" + size + "'" + activity());
                    }
                    v.keySize = size;
                    v.material = Base64.getEncoder().encodeToString(priv.getEncoded());
                    v.publicKey = Base64.getEncoder().encodeToString(pub.getEncoded());
                    return;
                }
                default: {
                    // BouncyCastle reads every curve Managed HSM has (P-256K too) and derives the public point.
                    org.bouncycastle.jce.interfaces.ECPrivateKey priv = (org.bouncycastle.jce.interfaces.ECPrivateKey) pkcs8BC(plain, v.kty);
                    var params = priv.getParameters();
                    String crv = KeyCrypto.curveOf(params.getCurve().getFieldSize(), params.getCurve().getA().isZero());
                    if (crv == null) {
                        throw ApiException.badParameter("Invalid curve: the EC key of key_hsm is on a curve Managed HSM does not support."
                                + activity());
                    }
                    var q = params.getG().multiply(priv.getD()).normalize();
                    // Stored as a generated key of that curve is, so that the emulator's crypto reads both alike.
                    KeyFactory kf = crv.equals("P-256K") ? KeyFactory.getInstance("EC", BC) : KeyFactory.getInstance("EC");
                    java.security.AlgorithmParameters named = java.security.AlgorithmParameters.getInstance("EC", kf.getProvider());
                    named.init(new java.security.spec.ECGenParameterSpec(KeyCrypto.jdkCurve(crv)));
                    var spec = named.getParameterSpec(java.security.spec.ECParameterSpec.class);
                    var pub = kf.generatePublic(new java.security.spec.ECPublicKeySpec(new java.security.spec.ECPoint(
                            q.getAffineXCoord().toBigInteger(), q.getAffineYCoord().toBigInteger()), spec));
                    var privateKey = kf.generatePrivate(new java.security.spec.ECPrivateKeySpec(priv.getD(), spec));
                    v.crv = crv;
                    v.material = Base64.getEncoder().encodeToString(privateKey.getEncoded());
                    v.publicKey = Base64.getEncoder().encodeToString(pub.getEncoded());
                }
            }
        } catch (GeneralSecurityException e) {
            throw ApiException.badParameter("Invalid key type: the key material of key_hsm is not a valid " + v.kty + " key." + activity());
        }
    }

    private static byte[] unwrap(Blob blob, State.KeyVersion kek) {
        Key kekPrivate;
        try {
            kekPrivate = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(kek.material)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Stored key material is unreadable", e);
        }
        int modulus = (((java.security.interfaces.RSAKey) kekPrivate).getModulus().bitLength() + 7) / 8;
        byte[] c = blob.ciphertext();
        if (c.length <= modulus) {
            throw ApiException.badParameter("The ciphertext of the key transfer blob is too short for the key exchange key." + activity());
        }
        try {
            String hash = OAEP_HASH.get(blob.enc());
            Cipher rsa = Cipher.getInstance("RSA/ECB/OAEPPadding");
            rsa.init(Cipher.DECRYPT_MODE, kekPrivate, new OAEPParameterSpec(hash, "MGF1", new MGF1ParameterSpec(hash), PSource.PSpecified.DEFAULT));
            byte[] aes = rsa.doFinal(c, 0, modulus);
            if (aes.length != 16 && aes.length != 24 && aes.length != 32) {
                throw new GeneralSecurityException("wrapping key size");
            }
            Cipher kwp = Cipher.getInstance("AES/KWP/NoPadding");
            kwp.init(Cipher.DECRYPT_MODE, new SecretKeySpec(aes, "AES"));
            return kwp.doFinal(c, modulus, c.length - modulus);
        } catch (GeneralSecurityException e) {
            throw ApiException.badParameter("The key transfer blob could not be unwrapped with the key exchange key: it was wrapped "
                    + "for another key, or is corrupt." + activity());
        }
    }

    private static PrivateKey pkcs8(String algorithm, byte[] der, String kty) throws GeneralSecurityException {
        try {
            return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw ApiException.badParameter("Invalid key type: the key material of key_hsm is not a PKCS#8 " + kty + " key." + activity());
        }
    }

    private static PrivateKey pkcs8BC(byte[] der, String kty) {
        try {
            PrivateKey k = KeyFactory.getInstance("EC", BC).generatePrivate(new PKCS8EncodedKeySpec(der));
            if (!(k instanceof org.bouncycastle.jce.interfaces.ECPrivateKey)) {
                throw new GeneralSecurityException("not EC");
            }
            return k;
        } catch (GeneralSecurityException | RuntimeException e) {
            throw ApiException.badParameter("Invalid key type: the key material of key_hsm is not a PKCS#8 " + kty + " key." + activity());
        }
    }
}
