package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.util.Arrays;

/** Compact JWE with enc A256CBC-HS512 and alg "dir" or "RSA-OAEP-256", as the security domain and key backups use them. */
public final class Jwe {
    private static final OAEPParameterSpec OAEP256 = new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256,
            PSource.PSpecified.DEFAULT);

    private Jwe() {
    }

    /** alg "dir": {@code cek} (64 bytes) is the content key itself. */
    public static String encryptDirect(byte[] plaintext, byte[] cek, String kid) {
        ObjectNode header = Json.object().put("alg", "dir").put("enc", "A256CBC-HS512").put("kid", kid);
        return seal(header, new byte[0], cek, plaintext);
    }

    public static byte[] decryptDirect(String jwe, byte[] cek) {
        String[] p = split(jwe);
        return open(p, cek);
    }

    /** alg "RSA-OAEP-256": a fresh content key wrapped to {@code recipient}. */
    public static String encryptTo(PublicKey recipient, byte[] plaintext, String x5tS256) {
        try {
            byte[] cek = new byte[64];
            KeyCrypto.RANDOM.nextBytes(cek);
            Cipher rsa = Cipher.getInstance("RSA/ECB/OAEPPadding");
            rsa.init(Cipher.ENCRYPT_MODE, recipient, OAEP256);
            ObjectNode header = Json.object().put("alg", "RSA-OAEP-256").put("enc", "A256CBC-HS512");
            if (x5tS256 != null) {
                header.put("x5t#S256", x5tS256);
            }
            return seal(header, rsa.doFinal(cek), cek, plaintext);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] decryptWith(PrivateKey key, String jwe) {
        try {
            String[] p = split(jwe);
            Cipher rsa = Cipher.getInstance("RSA/ECB/OAEPPadding");
            rsa.init(Cipher.DECRYPT_MODE, key, OAEP256);
            return open(p, rsa.doFinal(Json.unb64(p[1])));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("Cannot decrypt the JWE", e);
        }
    }

    public static JsonNode header(String jwe) {
        return Json.parse(Json.unb64(split(jwe)[0]));
    }

    private static String seal(ObjectNode header, byte[] encryptedKey, byte[] cek, byte[] plaintext) {
        try {
            String h = Json.b64u(Json.bytes(header));
            byte[] iv = new byte[16];
            KeyCrypto.RANDOM.nextBytes(iv);
            Cipher aes = Cipher.getInstance("AES/CBC/PKCS5Padding");
            aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(Arrays.copyOfRange(cek, 32, 64), "AES"), new IvParameterSpec(iv));
            byte[] c = aes.doFinal(plaintext);
            byte[] tag = tag(cek, h, iv, c);
            return h + "." + Json.b64u(encryptedKey) + "." + Json.b64u(iv) + "." + Json.b64u(c) + "." + Json.b64u(tag);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] open(String[] p, byte[] cek) {
        try {
            byte[] iv = Json.unb64(p[2]);
            byte[] c = Json.unb64(p[3]);
            if (cek.length != 64 || !MessageDigest.isEqual(tag(cek, p[0], iv, c), Json.unb64(p[4]))) {
                throw new IllegalArgumentException("JWE authentication failed");
            }
            Cipher aes = Cipher.getInstance("AES/CBC/PKCS5Padding");
            aes.init(Cipher.DECRYPT_MODE, new SecretKeySpec(Arrays.copyOfRange(cek, 32, 64), "AES"), new IvParameterSpec(iv));
            return aes.doFinal(c);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("JWE decryption failed", e);
        }
    }

    private static byte[] tag(byte[] cek, String protectedHeader, byte[] iv, byte[] c) throws GeneralSecurityException {
        byte[] aad = protectedHeader.getBytes(StandardCharsets.US_ASCII);
        Mac mac = Mac.getInstance("HmacSHA512");
        mac.init(new SecretKeySpec(Arrays.copyOf(cek, 32), "HmacSHA512"));
        mac.update(aad);
        mac.update(iv);
        mac.update(c);
        mac.update(ByteBuffer.allocate(8).putLong((long) aad.length * 8).array());
        return Arrays.copyOf(mac.doFinal(), 32);
    }

    private static String[] split(String jwe) {
        String[] p = jwe.split("\\.", -1);
        if (p.length != 5) {
            throw new IllegalArgumentException("Not a compact JWE");
        }
        return p;
    }
}
