package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;

/**
 * The security-domain blob in Azure's format, the one {@code az keyvault security-domain restore-blob} and Azure
 * PowerShell read (azure-cli 2.91.0 {@code keyvault/custom.py}, {@code security_domain/}): the 32-byte domain key is
 * split with Shamir's scheme over GF(257) into one share per certificate, any {@code required} of which recover it;
 * each share is a JWE (RSA-OAEP-256 / A256CBC-HS512) to its certificate, found by the certificate's SHA-256 thumbprint
 * ({@code x5t_256}); the HSM's backup key is a JWE (dir / A256CBC-HS512) under a key derived from the domain key and
 * its tag ({@code hsm_backup}).
 *
 * <p>A share holds one 16-bit word per byte of the secret, little-endian: {@code (x << 9) | f(x)}, where x = 1..N is the
 * share's number and f(x), in 0..256 (9 bits), is the byte's own random polynomial of degree required-1 whose constant
 * term is the byte. The raw words are the JWE's plaintext.
 */
public final class SecurityDomainBlob {
    static final String BACKUP_TAG = "hsm_backup";
    private static final int P = 257;

    private SecurityDomainBlob() {
    }

    public static String create(byte[] domainKey, byte[] backupKey, List<X509Certificate> certs, int required) {
        try {
            ArrayNode shares = Json.array();
            byte[][] split = split(domainKey, certs.size(), required, () -> KeyCrypto.RANDOM.nextInt(P));
            for (int i = 0; i < certs.size(); i++) {
                String thumb = thumbprint(certs.get(i));
                shares.add(Json.object().put("enc_key", Jwe.encryptTo(certs.get(i).getPublicKey(), split[i], thumb))
                        .put("x5t_256", thumb));
            }
            ObjectNode sharedKeys = Json.object();
            sharedKeys.set("enc_shares", shares);
            sharedKeys.put("key_algorithm", "shamir_share").put("required", required);
            ObjectNode blob = Json.object();
            blob.set("EncData", encData(domainKey, backupKey));
            blob.set("SharedKeys", sharedKeys);
            blob.put("version", 2);
            return Json.string(blob);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Recovers the backup key from a blob as an officer's restore does: the share of each certificate (by thumbprint)
     * opened with its private key, the first {@code required} combined, the {@code hsm_backup} item decrypted.
     * {@code certs.get(i)} is {@code keys.get(i)}'s certificate. Throws IllegalArgumentException saying what failed.
     */
    public static byte[] recoverBackupKey(String blob, List<X509Certificate> certs, List<PrivateKey> keys) {
        JsonNode root = Json.parse(blob);
        JsonNode sharedKeys = root.path("SharedKeys");
        int required = sharedKeys.path("required").asInt();
        if (!"shamir_share".equals(sharedKeys.path("key_algorithm").asText()) || required < 2) {
            throw new IllegalArgumentException("Not a security domain of Shamir shares with a quorum of 2 or more");
        }
        List<byte[]> shares = new ArrayList<>();
        for (int i = 0; i < certs.size() && shares.size() < required; i++) {
            String thumb;
            try {
                thumb = thumbprint(certs.get(i));
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException("Officer certificate " + i + " cannot be read", e);
            }
            for (JsonNode s : sharedKeys.path("enc_shares")) {
                if (thumb.equals(s.path("x5t_256").asText())) {
                    try {
                        shares.add(Jwe.decryptWith(keys.get(i), s.path("enc_key").asText()));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("The share of certificate " + thumb + " does not open with the key given for it"
                                + " (a wrong key, or a damaged share): " + e.getMessage(), e);
                    }
                }
            }
        }
        if (shares.size() < required) {
            throw new IllegalArgumentException("Only " + shares.size() + " of the officers' certificates have a share in this security"
                    + " domain; the quorum is " + required);
        }
        try {
            return decryptItem(root.path("EncData"), combine(shares), BACKUP_TAG);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("The shares do not recover this security domain's key: " + e.getMessage(), e);
        }
    }

    /**
     * Reads what an upload sends ({@code az keyvault security-domain restore-blob}'s output): {@code WrappedKey} holds a
     * fresh domain key wrapped to the HSM's transfer key, {@code EncData} the items re-encrypted under it. Returns the
     * backup key; throws IllegalArgumentException saying what is wrong.
     */
    static byte[] readRestoreBlob(String restoreBlob, PrivateKey transferKey, String transferThumbprint) {
        JsonNode root;
        try {
            root = Json.parse(restoreBlob);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("The security domain is not JSON");
        }
        JsonNode wrapped = root.path("WrappedKey");
        if (!wrapped.path("enc_key").isTextual() || !root.path("EncData").path("data").isArray()) {
            throw new IllegalArgumentException("The security domain to upload needs WrappedKey.enc_key and EncData.data (the output "
                    + "of 'az keyvault security-domain restore-blob'; a downloaded security domain must be wrapped first)");
        }
        if (!transferThumbprint.equals(wrapped.path("x5t_256").asText())) {
            throw new IllegalArgumentException("The security domain is wrapped to another exchange key than this HSM's current one "
                    + "(x5t_256); get it with 'az keyvault security-domain init-recovery' and wrap again");
        }
        byte[] domainKey = Jwe.decryptWith(transferKey, wrapped.get("enc_key").asText());
        return decryptItem(root.path("EncData"), domainKey, BACKUP_TAG);
    }

    public static String thumbprint(X509Certificate cert) throws GeneralSecurityException {
        return Json.b64u(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
    }

    private static ObjectNode encData(byte[] domainKey, byte[] backupKey) {
        ArrayNode data = Json.array();
        data.add(Json.object().put("compact_jwe", Jwe.encryptDirect(backupKey, kdf(domainKey, BACKUP_TAG), BACKUP_TAG))
                .put("tag", BACKUP_TAG));
        ObjectNode encData = Json.object();
        encData.set("data", data);
        encData.put("kdf", "sp108_kdf");
        return encData;
    }

    /** The EncData item of {@code tag}, decrypted under the key derived from the domain key and the tag. */
    private static byte[] decryptItem(JsonNode encData, byte[] domainKey, String tag) {
        for (JsonNode item : encData.path("data")) {
            if (tag.equals(item.path("tag").asText())) {
                return Jwe.decryptDirect(item.path("compact_jwe").asText(), kdf(domainKey, tag));
            }
        }
        throw new IllegalArgumentException("The security domain has no EncData item tagged " + tag);
    }

    /** SP 800-108 counter-mode KDF with HMAC-SHA-512, empty context, 512 bits: one block, [1] || label || 0 || [] || [512]. */
    static byte[] kdf(byte[] key, String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA512");
            mac.init(new SecretKeySpec(key, "HmacSHA512"));
            mac.update(new byte[]{0, 0, 0, 1});
            mac.update(label.getBytes(StandardCharsets.UTF_8));
            mac.update(new byte[]{0, 0, 0, 2, 0});
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- Shamir secret sharing over GF(257) ----------------------------------------------------

    /**
     * {@code n} shares of {@code secret}, any {@code k} of which recover it; share i (x = i + 1) holds a little-endian
     * word {@code (x << 9) | f_b(x)} per secret byte b. {@code coefficient} draws each of f_b's k-1 random coefficients
     * in 0..256, fresh for every byte (a test passes fixed ones).
     */
    static byte[][] split(byte[] secret, int n, int k, IntSupplier coefficient) {
        if (k < 2 || k > n || n > 126) { // x must fit the word's 7 high bits
            throw new IllegalArgumentException("Cannot make " + n + " shares with a quorum of " + k);
        }
        byte[][] shares = new byte[n][2 * secret.length];
        int[] coeffs = new int[k]; // coeffs[0] is the highest power's, coeffs[k-1] the secret byte (Horner's order)
        for (int b = 0; b < secret.length; b++) {
            for (int c = 0; c < k - 1; c++) {
                coeffs[c] = coefficient.getAsInt();
            }
            coeffs[k - 1] = secret[b] & 0xff;
            for (int i = 0; i < n; i++) {
                int x = i + 1;
                int v = 0;
                for (int c : coeffs) {
                    v = (v * x + c) % P;
                }
                int word = (x << 9) | v;
                shares[i][2 * b] = (byte) word;
                shares[i][2 * b + 1] = (byte) (word >>> 8);
            }
        }
        return shares;
    }

    /** The secret from shares made by {@link #split}: Lagrange interpolation at x = 0, mod 257, for every byte. */
    static byte[] combine(List<byte[]> shares) {
        int len = shares.get(0).length;
        for (byte[] s : shares) {
            if (s.length != len || len % 2 != 0) {
                throw new IllegalArgumentException("The shares are not of one secret (their lengths differ or are odd)");
            }
        }
        byte[] out = new byte[len / 2];
        int k = shares.size();
        int[] xs = new int[k];
        int[] vs = new int[k];
        for (int b = 0; b < out.length; b++) {
            for (int i = 0; i < k; i++) {
                int word = (shares.get(i)[2 * b] & 0xff) | (shares.get(i)[2 * b + 1] & 0xff) << 8;
                xs[i] = word >>> 9;
                vs[i] = word & 0x1ff;
                if (xs[i] == 0 || vs[i] >= P) {
                    throw new IllegalArgumentException("A share is not in the GF(257) word format");
                }
            }
            int secret = 0;
            for (int i = 0; i < k; i++) {
                int num = 1;
                int den = 1;
                for (int j = 0; j < k; j++) {
                    if (j != i) {
                        if (xs[j] == xs[i]) {
                            throw new IllegalArgumentException("Two shares have the same number x = " + xs[i]);
                        }
                        num = num * xs[j] % P;
                        den = den * ((xs[j] - xs[i] + P) % P) % P;
                    }
                }
                secret = (secret + vs[i] * num % P * inverse(den)) % P;
            }
            if (secret > 255) {
                throw new IllegalArgumentException("The shares do not fit together (a byte came out as 256)");
            }
            out[b] = (byte) secret;
        }
        return out;
    }

    /** x^(p-2) = x^-1 mod p (Fermat). */
    private static int inverse(int x) {
        int r = 1;
        for (int e = P - 2, base = x; e > 0; e >>= 1, base = base * base % P) {
            if ((e & 1) != 0) {
                r = r * base % P;
            }
        }
        return r;
    }
}
