package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/**
 * The security-domain blob, built with real cryptography: the 32-byte domain key is split with Shamir's scheme over
 * GF(256) into one share per certificate (any {@code required} shares recover it), each share encrypted to its
 * certificate's RSA key (JWE RSA-OAEP-256 / A256CBC-HS512); the HSM's backup key is encrypted under a key derived
 * from the domain key. Its shape follows the real service's.
 */
public final class SecurityDomainBlob {
    private SecurityDomainBlob() {
    }

    public static String create(byte[] domainKey, byte[] backupKey, List<X509Certificate> certs, int required) {
        try {
            ArrayNode shares = Json.array();
            byte[][] split = split(domainKey, certs.size(), required);
            for (int i = 0; i < certs.size(); i++) {
                String thumb = thumbprint(certs.get(i));
                ObjectNode share = Json.object().put("x", i + 1).put("y", Json.b64u(split[i]));
                shares.add(Json.object().put("enc_key", Jwe.encryptTo(certs.get(i).getPublicKey(), Json.bytes(share), thumb))
                        .put("x5t_256", thumb));
            }
            ObjectNode sharedKeys = Json.object();
            sharedKeys.set("enc_shares", shares);
            sharedKeys.put("key_algorithm", "shamir_share").put("required", required);
            ArrayNode data = Json.array();
            data.add(Json.object().put("compact_jwe", Jwe.encryptDirect(backupKey, kdf(domainKey, "hsm_backup"), "hsm_backup"))
                    .put("tag", "hsm_backup"));
            ObjectNode encData = Json.object();
            encData.set("data", data);
            encData.put("kdf", "sp108_kdf");
            ObjectNode blob = Json.object();
            blob.set("EncData", encData);
            blob.set("SharedKeys", sharedKeys);
            blob.put("version", 2);
            return Json.string(blob);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Recovers the backup key from a blob with {@code required} private keys (what a DR restore does off-line). */
    public static byte[] recoverBackupKey(String blob, List<PrivateKey> keys) {
        JsonNode root = Json.parse(blob);
        JsonNode encShares = root.path("SharedKeys").path("enc_shares");
        List<int[]> xs = new ArrayList<>();
        List<byte[]> ys = new ArrayList<>();
        for (JsonNode s : encShares) {
            for (PrivateKey k : keys) {
                try {
                    JsonNode share = Json.parse(Jwe.decryptWith(k, s.get("enc_key").asText()));
                    xs.add(new int[]{share.get("x").asInt()});
                    ys.add(Json.unb64(share.get("y").asText()));
                    break;
                } catch (RuntimeException wrongKey) {
                    // not this certificate's key
                }
            }
        }
        int required = root.path("SharedKeys").path("required").asInt();
        if (xs.size() < required) {
            throw new IllegalArgumentException("Only " + xs.size() + " shares could be decrypted; the quorum is " + required);
        }
        byte[] domainKey = combine(xs.subList(0, required), ys.subList(0, required));
        String jwe = root.path("EncData").path("data").get(0).get("compact_jwe").asText();
        return Jwe.decryptDirect(jwe, kdf(domainKey, "hsm_backup"));
    }

    public static String thumbprint(X509Certificate cert) throws GeneralSecurityException {
        return Json.b64u(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
    }

    /** SP 800-108 counter-mode KDF with HMAC-SHA-512, 512 bits of output. */
    static byte[] kdf(byte[] key, String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA512");
            mac.init(new SecretKeySpec(key, "HmacSHA512"));
            mac.update(new byte[]{0, 0, 0, 1});
            mac.update(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            mac.update(new byte[]{0, 0, 0, 0, 2, 0});
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- Shamir secret sharing over GF(2^8) ----------------------------------------------------

    static byte[][] split(byte[] secret, int n, int k) {
        byte[][] shares = new byte[n][secret.length];
        byte[] coeffs = new byte[k];
        for (int b = 0; b < secret.length; b++) {
            KeyCrypto.RANDOM.nextBytes(coeffs);
            coeffs[0] = secret[b];
            for (int i = 0; i < n; i++) {
                int x = i + 1;
                int y = 0;
                for (int c = k - 1; c >= 0; c--) {
                    y = mul(y, x) ^ (coeffs[c] & 0xff);
                }
                shares[i][b] = (byte) y;
            }
        }
        return shares;
    }

    static byte[] combine(List<int[]> xs, List<byte[]> ys) {
        byte[] out = new byte[ys.get(0).length];
        for (int b = 0; b < out.length; b++) {
            int acc = 0;
            for (int i = 0; i < xs.size(); i++) {
                int xi = xs.get(i)[0];
                int num = 1;
                int den = 1;
                for (int j = 0; j < xs.size(); j++) {
                    if (i != j) {
                        int xj = xs.get(j)[0];
                        num = mul(num, xj);
                        den = mul(den, xi ^ xj);
                    }
                }
                acc ^= mul(ys.get(i)[b] & 0xff, mul(num, inv(den)));
            }
            out[b] = (byte) acc;
        }
        return out;
    }

    private static int mul(int a, int b) {
        int p = 0;
        while (b != 0) {
            if ((b & 1) != 0) {
                p ^= a;
            }
            a <<= 1;
            if ((a & 0x100) != 0) {
                a ^= 0x11b;
            }
            b >>= 1;
        }
        return p & 0xff;
    }

    private static int inv(int a) {
        int r = 1;
        for (int i = 0; i < 254; i++) {
            r = mul(r, a);
        }
        return r;
    }
}
