package io.hsmoperator.emulator;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * Plays the on-premises HSM of Azure's bring-your-own-key flow in tests: wraps key material for a key exchange key (KEK)
 * as the BYOK specification says (CKM_RSA_AES_KEY_WRAP: RSA-OAEP of an ephemeral AES-256 key under the KEK's public key,
 * then AES key wrap with padding of the target key) and packs it into the transfer blob (the ".byok" file).
 */
public final class OnPremHsm {
    /** The specification's enc: RSA-OAEP with SHA-1. */
    public static final String CKM_RSA_AES_KEY_WRAP = "CKM_RSA_AES_KEY_WRAP";
    /** RSA-OAEP with SHA-256. */
    public static final String RSA_AES_KEY_WRAP_256 = "RSA_AES_KEY_WRAP_256";

    private OnPremHsm() {
    }

    /** The transfer blob (JSON) for {@code target} (PKCS#8 for RSA and EC, raw bytes for oct) wrapped for the KEK. */
    public static String transferBlob(String kekId, PublicKey kek, byte[] target, String enc) {
        try {
            String hash = enc.equals(RSA_AES_KEY_WRAP_256) ? "SHA-256" : "SHA-1";
            KeyGenerator g = KeyGenerator.getInstance("AES");
            g.init(256);
            SecretKey ephemeral = g.generateKey();
            Cipher rsa = Cipher.getInstance("RSA/ECB/OAEPPadding");
            rsa.init(Cipher.ENCRYPT_MODE, kek, new OAEPParameterSpec(hash, "MGF1", new MGF1ParameterSpec(hash), PSource.PSpecified.DEFAULT));
            Cipher kwp = Cipher.getInstance("AES/KWP/NoPadding");
            kwp.init(Cipher.ENCRYPT_MODE, ephemeral);
            ByteArrayOutputStream ciphertext = new ByteArrayOutputStream();
            ciphertext.write(rsa.doFinal(ephemeral.getEncoded()));
            ciphertext.write(kwp.doFinal(target));
            return "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"" + kekId + "\",\"alg\":\"dir\",\"enc\":\"" + enc + "\"},"
                    + "\"ciphertext\":\"" + Base64.getUrlEncoder().withoutPadding().encodeToString(ciphertext.toByteArray()) + "\","
                    + "\"generator\":\"hsm-operator tests; OnPremHsm\"}";
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The public key of a KEK as published in PEM ("-----BEGIN PUBLIC KEY-----"). */
    public static PublicKey fromPem(String pem) {
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        try {
            return KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(b64)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
