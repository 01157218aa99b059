package io.hsmoperator.emulator;

import com.azure.core.exception.HttpResponseException;
import com.azure.core.exception.ResourceNotFoundException;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateRsaKeyOptions;
import com.azure.security.keyvault.keys.models.ImportKeyOptions;
import com.azure.security.keyvault.keys.models.JsonWebKey;
import com.azure.security.keyvault.keys.models.KeyCurveName;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyType;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bring your own key through the real KeyClient.importKey: a JsonWebKey whose {@code t} (key_hsm on the wire) is the
 * transfer blob an on-premises HSM made for a key exchange key of this HSM ({@link OnPremHsm}).
 */
class EmulatorByokConformanceTest extends EmulatorTestBase {
    private KeyClient keys;
    private KeyVaultKey kek;

    @BeforeAll
    void hsm() throws Exception {
        String hsmUri = HsmFixtures.readyHsm(admin, "rg-byok", hsmName("byok"), HsmFixtures.CRYPTO_USER);
        keys = admin.keys(hsmUri);
        kek = keys.createRsaKey(new CreateRsaKeyOptions("kek").setKeySize(2048).setHardwareProtected(true)
                .setKeyOperations(KeyOperation.IMPORT));
    }

    private static PublicKey publicKey(KeyVaultKey k) {
        return k.getKey().toRsa().getPublic();
    }

    private static JsonWebKey byok(KeyType kty, String blob) {
        return new JsonWebKey().setKeyType(kty).setT(OnPremHsm.utf8(blob));
    }

    @Test
    void importsAnEcKeyWrappedForTheKekAndSignsWithIt() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair local = g.generateKeyPair();
        String blob = OnPremHsm.transferBlob(kek.getId(), publicKey(kek), local.getPrivate().getEncoded(), OnPremHsm.CKM_RSA_AES_KEY_WRAP);

        KeyVaultKey imported = keys.importKey(new ImportKeyOptions("byok-ec",
                byok(KeyType.EC_HSM, blob).setKeyOps(List.of(KeyOperation.SIGN, KeyOperation.VERIFY))).setHardwareProtected(true));

        assertEquals(KeyType.EC_HSM, imported.getKeyType());
        assertEquals(KeyCurveName.P_256, imported.getKey().getCurveName());
        ECPublicKey pub = (ECPublicKey) local.getPublic();
        assertEquals(pub.getW().getAffineX(), new BigInteger(1, imported.getKey().getX()));
        assertEquals(pub.getW().getAffineY(), new BigInteger(1, imported.getKey().getY()));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(OnPremHsm.utf8("imported"));
        byte[] sig = new CryptographyClientBuilder().keyIdentifier(imported.getId()).credential(admin.credential).httpClient(admin.http)
                .disableChallengeResourceVerification().buildClient().sign(SignatureAlgorithm.ES256, digest).getSignature();
        Signature verify = Signature.getInstance("SHA256withECDSAinP1363Format");
        verify.initVerify(local.getPublic());
        verify.update(OnPremHsm.utf8("imported"));
        assertTrue(verify.verify(sig), "the HSM signs with the key the on-premises HSM generated");
    }

    @Test
    void importsRsaAndOctKeysWithEitherOaepHash() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(3072);
        KeyPair local = g.generateKeyPair();
        KeyVaultKey rsa = keys.importKey(new ImportKeyOptions("byok-rsa", byok(KeyType.RSA_HSM, OnPremHsm.transferBlob(kek.getId(),
                publicKey(kek), local.getPrivate().getEncoded(), OnPremHsm.RSA_AES_KEY_WRAP_256))).setHardwareProtected(true));
        assertEquals(KeyType.RSA_HSM, rsa.getKeyType());
        assertEquals(((RSAPublicKey) local.getPublic()).getModulus(), new BigInteger(1, rsa.getKey().getN()));

        byte[] aes = new byte[32];
        new java.security.SecureRandom().nextBytes(aes);
        KeyVaultKey oct = keys.importKey(new ImportKeyOptions("byok-oct", byok(KeyType.OCT_HSM, OnPremHsm.transferBlob(kek.getId(),
                publicKey(kek), aes, OnPremHsm.CKM_RSA_AES_KEY_WRAP))).setHardwareProtected(true));
        assertEquals(KeyType.OCT_HSM, oct.getKeyType());
        byte[] wrapped = new CryptographyClientBuilder().keyIdentifier(oct.getId()).credential(admin.credential).httpClient(admin.http)
                .disableChallengeResourceVerification().buildClient()
                .wrapKey(com.azure.security.keyvault.keys.cryptography.models.KeyWrapAlgorithm.A256KW, new byte[16]).getEncryptedKey();
        javax.crypto.Cipher kw = javax.crypto.Cipher.getInstance("AESWrap");
        kw.init(javax.crypto.Cipher.UNWRAP_MODE, new javax.crypto.spec.SecretKeySpec(aes, "AES"));
        assertArrayEquals(new byte[16], kw.unwrap(wrapped, "AES", javax.crypto.Cipher.SECRET_KEY).getEncoded(),
                "the imported AES key is the one the on-premises HSM wrapped");
    }

    @Test
    void refusesBlobsForAnotherKeyOfTheWrongTypeOrForAnUnfitKek() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        byte[] target = g.generateKeyPair().getPrivate().getEncoded();
        KeyPairGenerator r = KeyPairGenerator.getInstance("RSA");
        r.initialize(2048);
        PublicKey stranger = r.generateKeyPair().getPublic();

        HttpResponseException otherKey = assertThrows(HttpResponseException.class, () -> keys.importKey(new ImportKeyOptions("refused-1",
                byok(KeyType.EC_HSM, OnPremHsm.transferBlob(kek.getId(), stranger, target, OnPremHsm.CKM_RSA_AES_KEY_WRAP)))));
        assertBadParameter(otherKey, "could not be unwrapped");

        HttpResponseException wrongType = assertThrows(HttpResponseException.class, () -> keys.importKey(new ImportKeyOptions("refused-2",
                byok(KeyType.RSA_HSM, OnPremHsm.transferBlob(kek.getId(), publicKey(kek), target, OnPremHsm.CKM_RSA_AES_KEY_WRAP)))));
        assertBadParameter(wrongType, "Invalid key type");

        KeyVaultKey wide = keys.createRsaKey(new CreateRsaKeyOptions("wide-kek").setKeySize(2048).setHardwareProtected(true)
                .setKeyOperations(KeyOperation.IMPORT, KeyOperation.DECRYPT));
        HttpResponseException unfit = assertThrows(HttpResponseException.class, () -> keys.importKey(new ImportKeyOptions("refused-3",
                byok(KeyType.EC_HSM, OnPremHsm.transferBlob(wide.getId(), publicKey(wide), target, OnPremHsm.CKM_RSA_AES_KEY_WRAP)))));
        assertBadParameter(unfit, "cannot serve as a key exchange key");

        for (String name : List.of("refused-1", "refused-2", "refused-3")) {
            assertThrows(ResourceNotFoundException.class, () -> keys.getKey(name), "a refused import creates nothing");
        }
    }

    private static void assertBadParameter(HttpResponseException e, String says) {
        assertEquals(400, e.getResponse().getStatusCode());
        assertTrue(e.getMessage().contains("BadParameter") && e.getMessage().contains(says), e.getMessage());
    }
}
