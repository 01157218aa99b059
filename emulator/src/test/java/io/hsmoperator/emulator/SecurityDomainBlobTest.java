package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The security domain's format, by the vectors of Azure's (the CLI's reader, PowerShell's writer): GF(257) shares, the KDF. */
class SecurityDomainBlobTest {
    private static final HexFormat HEX = HexFormat.of();

    private static byte[][] split(byte[] secret, int n, int k, int... coefficients) {
        int[] next = {0};
        return SecurityDomainBlob.split(secret, n, k, () -> coefficients[next[0]++]);
    }

    @Test
    void aShareIsOneLittleEndianWordPerByteWithXInTheHighSevenBits() {
        // f(x) = 5x + 0x41: x=1 → 70, x=2 → 75, x=3 → 80; word (x << 9) | f(x), little-endian.
        byte[][] shares = split(new byte[]{0x41}, 3, 2, 5);
        assertEquals("4602", HEX.formatHex(shares[0]));
        assertEquals("4b04", HEX.formatHex(shares[1]));
        assertEquals("5006", HEX.formatHex(shares[2]));
        assertArrayEquals(new byte[]{0x41}, SecurityDomainBlob.combine(List.of(shares[2], shares[0])));
    }

    @Test
    void theValueTakesNineBits() {
        // f(x) = 6x + 250: f(1) = 256 needs the ninth bit, f(2) = 262 mod 257 = 5.
        byte[][] shares = split(new byte[]{(byte) 250}, 2, 2, 6);
        assertEquals("0003", HEX.formatHex(shares[0]), "(1 << 9) | 256");
        assertEquals("0504", HEX.formatHex(shares[1]));
        assertArrayEquals(new byte[]{(byte) 250}, SecurityDomainBlob.combine(List.of(shares[0], shares[1])));
    }

    @Test
    void aQuorumOfThreeInterpolatesADegreeTwoPolynomialInAnyOrder() {
        // Coefficients highest power first, then the secret byte (Horner): f(x) = x² + 2x + 7 → 10, 15, 22, 31.
        byte[][] shares = split(new byte[]{7}, 4, 3, 1, 2);
        assertEquals("0a02", HEX.formatHex(shares[0]));
        assertEquals("0f04", HEX.formatHex(shares[1]));
        assertEquals("1606", HEX.formatHex(shares[2]));
        assertEquals("1f08", HEX.formatHex(shares[3]));
        assertArrayEquals(new byte[]{7}, SecurityDomainBlob.combine(List.of(shares[3], shares[1], shares[2])));
        assertArrayEquals(new byte[]{7}, SecurityDomainBlob.combine(List.of(shares[0], shares[2], shares[3])));
    }

    @Test
    void everyQuorumOfRandomSharesRecoversTheKeyAndEachByteHasItsOwnPolynomial() {
        byte[] secret = new byte[32]; // all zero: shares that repeat a word would show shared coefficients
        byte[][] shares = SecurityDomainBlob.split(secret, 5, 3, () -> KeyCrypto.RANDOM.nextInt(257));
        for (int a = 0; a < 5; a++) {
            for (int b = a + 1; b < 5; b++) {
                for (int c = b + 1; c < 5; c++) {
                    assertArrayEquals(secret, SecurityDomainBlob.combine(List.of(shares[a], shares[b], shares[c])), a + "," + b + "," + c);
                }
            }
        }
        Set<Integer> words = new HashSet<>();
        for (int b = 0; b < 32; b++) {
            words.add((shares[0][2 * b] & 0xff) | (shares[0][2 * b + 1] & 0xff) << 8);
        }
        assertTrue(words.size() > 1, "fresh coefficients for every byte");
        assertEquals(64, shares[0].length, "two bytes a secret byte");
    }

    @Test
    void sharesThatAreNotOfTheFormatAreRefused() {
        byte[][] shares = split(new byte[]{1}, 3, 2, 9);
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.combine(List.of(shares[0], shares[0])), "the same x twice");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.combine(List.of(shares[0], new byte[]{2, 0})), "x = 0");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.combine(List.of(shares[0], new byte[]{(byte) 0xff, 3})),
                "a value of 511");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.combine(List.of(shares[0], new byte[]{1, 4, 0, 0})),
                "lengths differ");
    }

    @Test
    void theKdfIsTheClisSp800108() {
        // HMAC-SHA-512(0x41 × 32, 00000001 ‖ "hsm_backup" ‖ 00 ‖ 00000200): the CLI's KDF.sp800_108(key, "hsm_backup", "", 512).
        assertEquals("869a099ed737965bc2f07dae28b75a7d030315bc3a6f08cf0d9598bca6a4d5963408c6dedfd6e3d300d68b8dfc79918a1939b7216ea25184f"
                + "145d97c26e797c7", HEX.formatHex(SecurityDomainBlob.kdf("A".repeat(32).getBytes(), "hsm_backup")));
    }

    @Test
    void aQuorumOfOfficersRecoversTheBackupKeyAndADamagedShareOrAWrongKeyFailsClearly() throws Exception {
        List<KeyPair> keys = new ArrayList<>();
        List<X509Certificate> certs = new ArrayList<>();
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        for (int i = 0; i < 3; i++) {
            keys.add(g.generateKeyPair());
            certs.add(Tls.selfSigned("officer-" + i, keys.get(i)));
        }
        byte[] domainKey = HsmDataPlane.randomBytes(32);
        byte[] backupKey = HsmDataPlane.randomBytes(32);
        String blob = SecurityDomainBlob.create(domainKey, backupKey, certs, 2);
        List<PrivateKey> privates = keys.stream().map(KeyPair::getPrivate).toList();

        assertArrayEquals(backupKey, SecurityDomainBlob.recoverBackupKey(blob, List.of(certs.get(2), certs.get(0)),
                List.of(privates.get(2), privates.get(0))));

        IllegalArgumentException wrongKey = assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(blob,
                List.of(certs.get(0), certs.get(1)), List.of(privates.get(1), privates.get(1))));
        assertTrue(wrongKey.getMessage().contains("does not open with the key given for it"), wrongKey.getMessage());

        ObjectNode tampered = (ObjectNode) Json.parse(blob);
        ObjectNode share = (ObjectNode) tampered.path("SharedKeys").path("enc_shares").get(1);
        String[] parts = share.get("enc_key").asText().split("\\.");
        byte[] ciphertext = Json.unb64(parts[3]);
        ciphertext[0] ^= 1;
        parts[3] = Json.b64u(ciphertext);
        share.put("enc_key", String.join(".", parts));
        IllegalArgumentException damaged = assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(
                Json.string(tampered), List.of(certs.get(0), certs.get(1)), List.of(privates.get(0), privates.get(1))));
        assertTrue(damaged.getMessage().contains("The share of certificate " + SecurityDomainBlob.thumbprint(certs.get(1))),
                damaged.getMessage());

        IllegalArgumentException tooFew = assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(blob,
                List.of(certs.get(0)), List.of(privates.get(0))));
        assertTrue(tooFew.getMessage().contains("the quorum is 2"), tooFew.getMessage());
    }
}
