package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAKeyGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Real cryptography for emulated HSM keys: generation, public JWKs, and the sign/verify/encrypt/decrypt/wrap/unwrap
 * algorithms that Managed HSM lists. The service never hashes: sign and verify take a digest.
 */
public final class KeyCrypto {
    static final SecureRandom RANDOM = new SecureRandom();
    private static final Provider BC = new BouncyCastleProvider();

    public static final List<String> RSA_OPS = List.of("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey");
    /** What an EC-HSM key gets without key_ops, and all it accepts (recorded: [sign, verify, deriveKey] in any order). */
    public static final List<String> EC_OPS = List.of("sign", "verify", "deriveKey");
    public static final List<String> OCT_OPS = List.of("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "deriveKey");
    public static final List<String> ALL_OPS = List.of("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import",
            "export", "deriveKey", "deriveBits");

    private static final Map<String, String> CURVES = Map.of("P-256", "secp256r1", "P-384", "secp384r1", "P-521", "secp521r1",
            "P-256K", "secp256k1");
    private static final Map<String, String> SIG_CURVE = Map.of("ES256", "P-256", "ES384", "P-384", "ES512", "P-521", "ES256K", "P-256K");
    private static final Map<String, Integer> DIGEST_LEN = Map.of("256", 32, "384", 48, "512", 64);

    private KeyCrypto() {
    }

    /** The JDK (and BouncyCastle) name of a curve Managed HSM supports. */
    static String jdkCurve(String crv) {
        return CURVES.get(crv);
    }

    /** Which supported curve has this field size; secp256k1 (P-256K) is the 256-bit one whose a is zero. Null: none. */
    static String curveOf(int fieldBits, boolean aIsZero) {
        switch (fieldBits) {
            case 256: return aIsZero ? "P-256K" : "P-256";
            case 384: return "P-384";
            case 521: return "P-521";
            default: return null;
        }
    }

    /** Normalises RSA/EC/oct to their HSM names; anything else is refused as Azure refuses it. */
    public static String hsmKty(String kty) {
        if (kty == null) {
            throw ApiException.badParameter("The parameter 'kty' is required.");
        }
        switch (kty) {
            case "RSA": case "RSA-HSM": return "RSA-HSM";
            case "EC": case "EC-HSM": return "EC-HSM";
            case "oct": case "oct-HSM": case "AES": return "oct-HSM";
            default: throw ApiException.badParameter("Invalid key type: '" + kty + "'");
        }
    }

    /** Generates key material; fills kty-specific fields of {@code v}. */
    public static void generate(State.KeyVersion v, Integer keySize, String crv, Integer publicExponent) {
        try {
            switch (v.kty) {
                case "RSA-HSM": {
                    int size = keySize == null || keySize == 0 ? 2048 : keySize;
                    if (size != 2048 && size != 3072 && size != 4096) {
                        throw ApiException.badParameter("Invalid key size: '" + size + "'");
                    }
                    int e = publicExponent == null || publicExponent == 0 ? 65537 : publicExponent;
                    if (e != 3 && e != 65537) {
                        throw ApiException.badParameter("Invalid public exponent: '" + e + "'");
                    }
                    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
                    g.initialize(new RSAKeyGenParameterSpec(size, BigInteger.valueOf(e)));
                    KeyPair kp = g.generateKeyPair();
                    v.keySize = size;
                    v.material = Base64.getEncoder().encodeToString(kp.getPrivate().getEncoded());
                    v.publicKey = Base64.getEncoder().encodeToString(kp.getPublic().getEncoded());
                    v.cache = kp;
                    break;
                }
                case "EC-HSM": {
                    String curve = crv == null ? "P-256" : crv;
                    String jdk = CURVES.get(curve);
                    if (jdk == null) {
                        throw ApiException.badParameter("Invalid curve name: '" + curve + "'");
                    }
                    if (keySize != null && keySize != 0) {
                        throw ApiException.badParameter("Key size is not supported for EC keys.");
                    }
                    // Bouncy Castle draws the key: the JDK's own EC key generation is a few milliseconds a key, a cost that
                    // made the emulator, not the operator, the bound of the benchmark's key creation. P-256, P-384 and P-521
                    // keys are then held as the JDK's, as when they are read back from the state.
                    KeyPairGenerator g = KeyPairGenerator.getInstance("EC", BC);
                    g.initialize(new ECGenParameterSpec(jdk));
                    KeyPair kp = g.generateKeyPair();
                    if (!curve.equals("P-256K")) {
                        KeyFactory kf = KeyFactory.getInstance("EC");
                        kp = new KeyPair(kf.generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded())),
                                kf.generatePrivate(new PKCS8EncodedKeySpec(kp.getPrivate().getEncoded())));
                    }
                    v.crv = curve;
                    v.material = Base64.getEncoder().encodeToString(kp.getPrivate().getEncoded());
                    v.publicKey = Base64.getEncoder().encodeToString(kp.getPublic().getEncoded());
                    v.cache = kp;
                    break;
                }
                case "oct-HSM": {
                    int size = keySize == null || keySize == 0 ? 256 : keySize;
                    if (size != 128 && size != 192 && size != 256) {
                        throw ApiException.badParameter("Invalid key size: '" + size + "'");
                    }
                    byte[] k = new byte[size / 8];
                    RANDOM.nextBytes(k);
                    v.keySize = size;
                    v.material = Base64.getEncoder().encodeToString(k);
                    break;
                }
                default:
                    throw ApiException.badParameter("Invalid key type: '" + v.kty + "'");
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Key generation failed", e);
        }
    }

    /** Imports a JWK (key import / BYOK of plain key material). */
    public static void importJwk(State.KeyVersion v, com.fasterxml.jackson.databind.JsonNode jwk) {
        String kty = hsmKty(Json.text(jwk, "kty"));
        v.kty = kty;
        try {
            switch (kty) {
                case "oct-HSM": {
                    byte[] k = Json.unb64(Json.text(jwk, "k"));
                    if (k.length != 16 && k.length != 24 && k.length != 32) {
                        throw ApiException.badParameter("Invalid key size: '" + k.length * 8 + "'");
                    }
                    v.keySize = k.length * 8;
                    v.material = Base64.getEncoder().encodeToString(k);
                    break;
                }
                case "RSA-HSM": {
                    BigInteger n = big(jwk, "n");
                    BigInteger e = big(jwk, "e");
                    BigInteger d = big(jwk, "d");
                    KeyFactory kf = KeyFactory.getInstance("RSA");
                    PrivateKey priv;
                    if (jwk.hasNonNull("p")) {
                        priv = kf.generatePrivate(new java.security.spec.RSAPrivateCrtKeySpec(n, e, d, big(jwk, "p"), big(jwk, "q"),
                                big(jwk, "dp"), big(jwk, "dq"), big(jwk, "qi")));
                    } else {
                        priv = kf.generatePrivate(new java.security.spec.RSAPrivateKeySpec(n, d));
                    }
                    PublicKey pub = kf.generatePublic(new java.security.spec.RSAPublicKeySpec(n, e));
                    v.keySize = n.bitLength();
                    v.material = Base64.getEncoder().encodeToString(priv.getEncoded());
                    v.publicKey = Base64.getEncoder().encodeToString(pub.getEncoded());
                    break;
                }
                default:
                    throw ApiException.badParameter("Importing keys of type '" + kty + "' is not supported by the emulator.");
            }
        } catch (GeneralSecurityException | ArithmeticException e) {
            throw ApiException.badParameter("The key material is not valid.");
        }
    }

    private static BigInteger big(com.fasterxml.jackson.databind.JsonNode jwk, String f) {
        String s = Json.text(jwk, f);
        if (s == null) {
            throw ApiException.badParameter("The JWK member '" + f + "' is required.");
        }
        return new BigInteger(1, Json.unb64(s));
    }

    public static List<String> defaultOps(String kty) {
        switch (kty) {
            case "RSA-HSM": return RSA_OPS;
            case "EC-HSM": return EC_OPS;
            default: return OCT_OPS;
        }
    }

    /** The public JWK of a version, as the key bundle's "key" member; oct keys carry no key material. */
    public static ObjectNode jwk(State.KeyVersion v, String kid) {
        ObjectNode k = Json.object();
        switch (v.kty) {
            case "RSA-HSM": {
                RSAPublicKey pub = (RSAPublicKey) publicKey(v);
                k.put("e", Json.b64u(unsigned(pub.getPublicExponent())));
                k.set("key_ops", Json.array(v.keyOps));
                k.put("kid", kid);
                k.put("kty", v.kty);
                k.put("n", Json.b64u(unsigned(pub.getModulus())));
                break;
            }
            case "EC-HSM": {
                ECPublicKey pub = (ECPublicKey) publicKey(v);
                int len = (pub.getParams().getCurve().getField().getFieldSize() + 7) / 8;
                k.put("crv", v.crv);
                k.set("key_ops", Json.array(v.keyOps));
                k.put("kid", kid);
                k.put("kty", v.kty);
                k.put("x", Json.b64u(fixed(pub.getW().getAffineX(), len)));
                k.put("y", Json.b64u(fixed(pub.getW().getAffineY(), len)));
                break;
            }
            default:
                k.set("key_ops", Json.array(v.keyOps));
                k.put("kid", kid);
                k.put("kty", v.kty);
        }
        return k;
    }

    public static PublicKey publicKey(State.KeyVersion v) {
        return keyPair(v).getPublic();
    }

    private static KeyPair keyPair(State.KeyVersion v) {
        Object c = v.cache;
        if (c instanceof KeyPair) {
            return (KeyPair) c;
        }
        try {
            KeyFactory kf;
            if (v.kty.equals("RSA-HSM")) {
                kf = KeyFactory.getInstance("RSA");
            } else if ("P-256K".equals(v.crv)) {
                kf = KeyFactory.getInstance("EC", BC);
            } else {
                kf = KeyFactory.getInstance("EC");
            }
            KeyPair kp = new KeyPair(kf.generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(v.publicKey))),
                    kf.generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(v.material))));
            v.cache = kp;
            return kp;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Stored key material is unreadable", e);
        }
    }

    private static byte[] secret(State.KeyVersion v) {
        return Base64.getDecoder().decode(v.material);
    }

    // ---- signatures --------------------------------------------------------------------------

    public static byte[] sign(State.KeyVersion v, String alg, byte[] digest) {
        try {
            switch (v.kty) {
                case "RSA-HSM": {
                    PrivateKey key = keyPair(v).getPrivate();
                    if (alg.startsWith("RS")) {
                        byte[] input = alg.equals("RSNULL") ? digest : digestInfo(alg.substring(2), digest);
                        Signature s = Signature.getInstance("NONEwithRSA");
                        s.initSign(key);
                        s.update(input);
                        return s.sign();
                    }
                    if (alg.startsWith("PS")) {
                        String bits = alg.substring(2);
                        checkDigest(bits, digest);
                        byte[] em = Pss.encode(digest, "SHA-" + bits, ((RSAPrivateKey) key).getModulus().bitLength() - 1);
                        Cipher raw = Cipher.getInstance("RSA/ECB/NoPadding");
                        raw.init(Cipher.ENCRYPT_MODE, key);
                        return fixed(new BigInteger(1, raw.doFinal(em)), (((RSAPrivateKey) key).getModulus().bitLength() + 7) / 8);
                    }
                    throw badAlg(alg, v);
                }
                case "EC-HSM": {
                    String curve = SIG_CURVE.get(alg);
                    if (curve == null || !curve.equals(v.crv)) {
                        throw badAlg(alg, v);
                    }
                    Signature s = curve.equals("P-256K") ? Signature.getInstance("NONEwithECDSA", BC) : Signature.getInstance("NONEwithECDSA");
                    s.initSign(keyPair(v).getPrivate());
                    s.update(digest);
                    ECPublicKey pub = (ECPublicKey) keyPair(v).getPublic();
                    int len = (pub.getParams().getOrder().bitLength() + 7) / 8;
                    return derToRaw(s.sign(), len);
                }
                default: {
                    if (!alg.startsWith("HS")) {
                        throw badAlg(alg, v);
                    }
                    Mac mac = Mac.getInstance("HmacSHA" + alg.substring(2));
                    mac.init(new SecretKeySpec(secret(v), "HmacSHA" + alg.substring(2)));
                    return mac.doFinal(digest);
                }
            }
        } catch (GeneralSecurityException e) {
            throw ApiException.badParameter("The operation failed: " + e.getMessage());
        }
    }

    public static boolean verify(State.KeyVersion v, String alg, byte[] digest, byte[] signature) {
        try {
            switch (v.kty) {
                case "RSA-HSM": {
                    PublicKey key = keyPair(v).getPublic();
                    if (alg.startsWith("RS")) {
                        byte[] input = alg.equals("RSNULL") ? digest : digestInfo(alg.substring(2), digest);
                        Signature s = Signature.getInstance("NONEwithRSA");
                        s.initVerify(key);
                        s.update(input);
                        return s.verify(signature);
                    }
                    if (alg.startsWith("PS")) {
                        String bits = alg.substring(2);
                        checkDigest(bits, digest);
                        RSAPublicKey rsa = (RSAPublicKey) key;
                        BigInteger sig = new BigInteger(1, signature);
                        if (sig.compareTo(rsa.getModulus()) >= 0) {
                            return false;
                        }
                        int emBits = rsa.getModulus().bitLength() - 1;
                        byte[] em = fixed(sig.modPow(rsa.getPublicExponent(), rsa.getModulus()), (emBits + 7) / 8);
                        return Pss.verify(digest, em, "SHA-" + bits, emBits);
                    }
                    throw badAlg(alg, v);
                }
                case "EC-HSM": {
                    String curve = SIG_CURVE.get(alg);
                    if (curve == null || !curve.equals(v.crv)) {
                        throw badAlg(alg, v);
                    }
                    Signature s = curve.equals("P-256K") ? Signature.getInstance("NONEwithECDSA", BC) : Signature.getInstance("NONEwithECDSA");
                    s.initVerify(keyPair(v).getPublic());
                    s.update(digest);
                    return s.verify(rawToDer(signature));
                }
                default:
                    return MessageDigest.isEqual(sign(v, alg, digest), signature);
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false;
        }
    }

    private static void checkDigest(String bits, byte[] digest) {
        Integer len = DIGEST_LEN.get(bits);
        if (len == null || digest.length != len) {
            throw ApiException.badParameter("Invalid digest length: " + digest.length + " bytes for SHA-" + bits + ".");
        }
    }

    private static byte[] digestInfo(String bits, byte[] digest) {
        checkDigest(bits, digest);
        String oid;
        switch (bits) {
            case "256": oid = "3031300d060960864801650304020105000420"; break;
            case "384": oid = "3041300d060960864801650304020205000430"; break;
            default: oid = "3051300d060960864801650304020305000440";
        }
        byte[] prefix = hex(oid);
        byte[] out = Arrays.copyOf(prefix, prefix.length + digest.length);
        System.arraycopy(digest, 0, out, prefix.length, digest.length);
        return out;
    }

    // ---- encryption and key wrapping ----------------------------------------------------------

    /** Result of an encrypt/wrap: ciphertext plus the iv and tag AES-GCM produces. */
    public record Sealed(byte[] value, byte[] iv, byte[] tag) {
    }

    public static Sealed encrypt(State.KeyVersion v, String alg, byte[] plaintext, byte[] iv, byte[] aad) {
        try {
            if (v.kty.equals("RSA-HSM")) {
                Cipher c = rsaCipher(alg, v);
                c.init(Cipher.ENCRYPT_MODE, keyPair(v).getPublic(), rsaParams(alg));
                return new Sealed(c.doFinal(plaintext), null, null);
            }
            if (!v.kty.equals("oct-HSM")) {
                throw badAlg(alg, v);
            }
            byte[] key = aesKey(v, alg);
            String a = alg.toUpperCase(Locale.ROOT);
            if (a.endsWith("GCM")) {
                if (iv != null && iv.length > 0) {
                    throw ApiException.badParameter("The initialization vector is generated by the service for AES-GCM and must not be supplied.");
                }
                byte[] nonce = new byte[12];
                RANDOM.nextBytes(nonce);
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
                if (aad != null) {
                    c.updateAAD(aad);
                }
                byte[] out = c.doFinal(plaintext);
                return new Sealed(Arrays.copyOf(out, out.length - 16), nonce, Arrays.copyOfRange(out, out.length - 16, out.length));
            }
            if (a.endsWith("CBC") || a.endsWith("CBCPAD")) {
                if (iv == null || iv.length != 16) {
                    throw ApiException.badParameter("AES-CBC requires a 16-byte initialization vector.");
                }
                Cipher c = Cipher.getInstance(a.endsWith("CBCPAD") ? "AES/CBC/PKCS5Padding" : "AES/CBC/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
                return new Sealed(c.doFinal(plaintext), iv, null);
            }
            if (a.endsWith("KW") || a.equals("CKM_AES_KEY_WRAP")) {
                Cipher c = Cipher.getInstance("AES/KW/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
                return new Sealed(c.doFinal(plaintext), null, null);
            }
            if (a.equals("CKM_AES_KEY_WRAP_PAD")) {
                Cipher c = Cipher.getInstance("AES/KWP/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
                return new Sealed(c.doFinal(plaintext), null, null);
            }
            throw badAlg(alg, v);
        } catch (GeneralSecurityException e) {
            throw ApiException.badParameter("The operation failed: " + e.getMessage());
        }
    }

    public static byte[] decrypt(State.KeyVersion v, String alg, byte[] ciphertext, byte[] iv, byte[] aad, byte[] tag) {
        try {
            if (v.kty.equals("RSA-HSM")) {
                Cipher c = rsaCipher(alg, v);
                c.init(Cipher.DECRYPT_MODE, keyPair(v).getPrivate(), rsaParams(alg));
                return c.doFinal(ciphertext);
            }
            if (!v.kty.equals("oct-HSM")) {
                throw badAlg(alg, v);
            }
            byte[] key = aesKey(v, alg);
            String a = alg.toUpperCase(Locale.ROOT);
            if (a.endsWith("GCM")) {
                if (iv == null || tag == null) {
                    throw ApiException.badParameter("AES-GCM decryption requires 'iv' and 'tag'.");
                }
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(tag.length * 8, iv));
                if (aad != null) {
                    c.updateAAD(aad);
                }
                byte[] in = Arrays.copyOf(ciphertext, ciphertext.length + tag.length);
                System.arraycopy(tag, 0, in, ciphertext.length, tag.length);
                return c.doFinal(in);
            }
            if (a.endsWith("CBC") || a.endsWith("CBCPAD")) {
                if (iv == null || iv.length != 16) {
                    throw ApiException.badParameter("AES-CBC requires a 16-byte initialization vector.");
                }
                Cipher c = Cipher.getInstance(a.endsWith("CBCPAD") ? "AES/CBC/PKCS5Padding" : "AES/CBC/NoPadding");
                c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
                return c.doFinal(ciphertext);
            }
            if (a.endsWith("KW") || a.equals("CKM_AES_KEY_WRAP")) {
                Cipher c = Cipher.getInstance("AES/KW/NoPadding");
                c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"));
                return c.doFinal(ciphertext);
            }
            if (a.equals("CKM_AES_KEY_WRAP_PAD")) {
                Cipher c = Cipher.getInstance("AES/KWP/NoPadding");
                c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"));
                return c.doFinal(ciphertext);
            }
            throw badAlg(alg, v);
        } catch (javax.crypto.BadPaddingException e) {
            throw ApiException.badParameter("Decryption failed: the ciphertext, key or parameters do not match.");
        } catch (GeneralSecurityException e) {
            throw ApiException.badParameter("The operation failed: " + e.getMessage());
        }
    }

    private static Cipher rsaCipher(String alg, State.KeyVersion v) throws GeneralSecurityException {
        switch (alg) {
            case "RSA-OAEP": case "RSA-OAEP-256": return Cipher.getInstance("RSA/ECB/OAEPPadding");
            case "RSA1_5": return Cipher.getInstance("RSA/ECB/PKCS1Padding");
            default: throw badAlg(alg, v);
        }
    }

    private static OAEPParameterSpec rsaParams(String alg) {
        switch (alg) {
            case "RSA-OAEP": return new OAEPParameterSpec("SHA-1", "MGF1", MGF1ParameterSpec.SHA1, PSource.PSpecified.DEFAULT);
            case "RSA-OAEP-256": return new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
            default: return null;
        }
    }

    private static byte[] aesKey(State.KeyVersion v, String alg) {
        byte[] key = secret(v);
        String a = alg.toUpperCase(Locale.ROOT);
        int wanted = a.startsWith("A128") ? 16 : a.startsWith("A192") ? 24 : a.startsWith("A256") ? 32 : key.length;
        if (!a.startsWith("A") && !a.startsWith("CKM_AES")) {
            throw badAlg(alg, v);
        }
        if (wanted != key.length) {
            throw ApiException.badParameter("Algorithm " + alg + " requires a " + wanted * 8 + "-bit key; this key has " + key.length * 8 + " bits.");
        }
        return key;
    }

    private static ApiException badAlg(String alg, State.KeyVersion v) {
        return ApiException.badParameter("Invalid algorithm '" + alg + "' for a key of type " + v.kty + (v.crv == null ? "" : " " + v.crv) + ".");
    }

    // ---- encodings ---------------------------------------------------------------------------

    public static byte[] unsigned(BigInteger i) {
        byte[] b = i.toByteArray();
        return b[0] == 0 && b.length > 1 ? Arrays.copyOfRange(b, 1, b.length) : b;
    }

    static byte[] fixed(BigInteger i, int len) {
        byte[] b = unsigned(i);
        if (b.length == len) {
            return b;
        }
        byte[] out = new byte[len];
        System.arraycopy(b, Math.max(0, b.length - len), out, Math.max(0, len - b.length), Math.min(len, b.length));
        return out;
    }

    private static byte[] derToRaw(byte[] der, int len) {
        int offset = 2;
        if ((der[1] & 0x80) != 0) {
            offset += der[1] & 0x7f;
        }
        int rLen = der[offset + 1];
        BigInteger r = new BigInteger(1, Arrays.copyOfRange(der, offset + 2, offset + 2 + rLen));
        int sOff = offset + 2 + rLen;
        int sLen = der[sOff + 1];
        BigInteger s = new BigInteger(1, Arrays.copyOfRange(der, sOff + 2, sOff + 2 + sLen));
        byte[] out = new byte[len * 2];
        System.arraycopy(fixed(r, len), 0, out, 0, len);
        System.arraycopy(fixed(s, len), 0, out, len, len);
        return out;
    }

    private static byte[] rawToDer(byte[] raw) {
        if (raw.length % 2 != 0) {
            throw new IllegalArgumentException("Bad signature length");
        }
        int half = raw.length / 2;
        byte[] r = new BigInteger(1, Arrays.copyOf(raw, half)).toByteArray();
        byte[] s = new BigInteger(1, Arrays.copyOfRange(raw, half, raw.length)).toByteArray();
        int seqLen = 2 + r.length + 2 + s.length;
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(0x30);
        if (seqLen > 127) {
            out.write(0x81);
        }
        out.write(seqLen);
        out.write(0x02);
        out.write(r.length);
        out.write(r, 0, r.length);
        out.write(0x02);
        out.write(s.length);
        out.write(s, 0, s.length);
        return out.toByteArray();
    }

    static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    /** EMSA-PSS (RFC 8017 §9.1) over a precomputed digest, salt length = digest length, MGF1 with the same hash. */
    static final class Pss {
        private Pss() {
        }

        static byte[] encode(byte[] mHash, String hash, int emBits) throws GeneralSecurityException {
            int hLen = mHash.length;
            int emLen = (emBits + 7) / 8;
            byte[] salt = new byte[hLen];
            RANDOM.nextBytes(salt);
            MessageDigest md = MessageDigest.getInstance(hash);
            md.update(new byte[8]);
            md.update(mHash);
            byte[] h = md.digest(salt);
            byte[] db = new byte[emLen - hLen - 1];
            db[db.length - hLen - 1] = 1;
            System.arraycopy(salt, 0, db, db.length - hLen, hLen);
            byte[] mask = mgf1(h, db.length, hash);
            for (int i = 0; i < db.length; i++) {
                db[i] ^= mask[i];
            }
            db[0] &= (byte) (0xFF >>> (8 * emLen - emBits));
            byte[] em = new byte[emLen];
            System.arraycopy(db, 0, em, 0, db.length);
            System.arraycopy(h, 0, em, db.length, hLen);
            em[emLen - 1] = (byte) 0xBC;
            return em;
        }

        static boolean verify(byte[] mHash, byte[] em, String hash, int emBits) throws GeneralSecurityException {
            int hLen = mHash.length;
            int emLen = (emBits + 7) / 8;
            if (em.length != emLen || emLen < 2 * hLen + 2 || em[emLen - 1] != (byte) 0xBC) {
                return false;
            }
            byte[] db = Arrays.copyOf(em, emLen - hLen - 1);
            byte[] h = Arrays.copyOfRange(em, emLen - hLen - 1, emLen - 1);
            byte[] mask = mgf1(h, db.length, hash);
            for (int i = 0; i < db.length; i++) {
                db[i] ^= mask[i];
            }
            db[0] &= (byte) (0xFF >>> (8 * emLen - emBits));
            int ps = db.length - hLen - 1;
            for (int i = 0; i < ps; i++) {
                if (db[i] != 0) {
                    return false;
                }
            }
            if (db[ps] != 1) {
                return false;
            }
            byte[] salt = Arrays.copyOfRange(db, db.length - hLen, db.length);
            MessageDigest md = MessageDigest.getInstance(hash);
            md.update(new byte[8]);
            md.update(mHash);
            return MessageDigest.isEqual(md.digest(salt), h);
        }

        private static byte[] mgf1(byte[] seed, int len, String hash) throws GeneralSecurityException {
            MessageDigest md = MessageDigest.getInstance(hash);
            byte[] out = new byte[len];
            int pos = 0;
            for (int counter = 0; pos < len; counter++) {
                md.update(seed);
                md.update(new byte[]{(byte) (counter >>> 24), (byte) (counter >>> 16), (byte) (counter >>> 8), (byte) counter});
                byte[] d = md.digest();
                int n = Math.min(d.length, len - pos);
                System.arraycopy(d, 0, out, pos, n);
                pos += n;
            }
            return out;
        }
    }
}
