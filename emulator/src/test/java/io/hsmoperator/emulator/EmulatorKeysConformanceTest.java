package io.hsmoperator.emulator;

import com.azure.core.exception.HttpResponseException;
import com.azure.core.exception.ResourceModifiedException;
import com.azure.core.exception.ResourceNotFoundException;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.models.DecryptParameters;
import com.azure.security.keyvault.keys.cryptography.models.EncryptParameters;
import com.azure.security.keyvault.keys.cryptography.models.EncryptResult;
import com.azure.security.keyvault.keys.cryptography.models.EncryptionAlgorithm;
import com.azure.security.keyvault.keys.cryptography.models.KeyWrapAlgorithm;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.CreateOctKeyOptions;
import com.azure.security.keyvault.keys.models.CreateRsaKeyOptions;
import com.azure.security.keyvault.keys.models.DeletedKey;
import com.azure.security.keyvault.keys.models.KeyCurveName;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyProperties;
import com.azure.security.keyvault.keys.models.KeyRotationLifetimeAction;
import com.azure.security.keyvault.keys.models.KeyRotationPolicy;
import com.azure.security.keyvault.keys.models.KeyRotationPolicyAction;
import com.azure.security.keyvault.keys.models.KeyType;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import com.azure.security.keyvault.keys.models.KeyVaultKeyIdentifier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Keys and cryptography through KeyClient and CryptographyClient, with Crypto User and Crypto Officer at /keys. */
class EmulatorKeysConformanceTest extends EmulatorTestBase {
    private String hsmUri;
    private KeyClient keys;

    @BeforeAll
    void hsm() throws Exception {
        hsmUri = HsmFixtures.readyHsm(admin, "rg-keys", hsmName("keys"), HsmFixtures.CRYPTO_USER);
        admin.rbac(hsmUri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                HsmFixtures.CRYPTO_OFFICER, admin.principal.objectId());
        keys = admin.keys(hsmUri);
    }

    @Test
    void theFirstRequestIsChallengedWithTheManagedHsmResource() {
        long before = emulator.controls().lastSequence();
        KeyClient fresh = new EmulatorClients(emulator, emulator.builtInPrincipal()).keys(hsmUri);
        fresh.listPropertiesOfKeys().stream().count();
        // the SDK caches a challenge per host:port, so only a host it has never seen is challenged; this one was seen.
        assertTrue(emulator.controls().journal(e -> e.seq() > before && e.status() == 401).isEmpty());
        String other = HsmFixtures.createHsm(admin, "rg-keys", hsmName("challenge")).properties().hsmUri();
        long mark = emulator.controls().lastSequence();
        assertThrows(HttpResponseException.class, () -> admin.keys(other).getKey("missing"));
        var first = emulator.controls().journal(e -> e.seq() > mark && !e.endpoint().equals("entra")).get(0);
        assertEquals(401, first.status());
        assertNull(first.principal(), "the challenged request carries no token");
    }

    @Test
    void createsEveryKeyTypeSizeAndCurve() {
        for (int size : new int[]{2048, 3072, 4096}) {
            KeyVaultKey k = keys.createRsaKey(new CreateRsaKeyOptions("rsa-" + size).setKeySize(size).setHardwareProtected(true));
            assertEquals(KeyType.RSA_HSM, k.getKeyType());
            assertEquals(size, new java.math.BigInteger(1, k.getKey().getN()).bitLength());
            assertEquals(6, k.getKeyOperations().size());
            assertTrue(k.getProperties().getRecoveryLevel().startsWith("CustomizedRecoverable"));
            assertEquals(7, k.getProperties().getRecoverableDays());
        }
        for (KeyCurveName crv : List.of(KeyCurveName.P_256, KeyCurveName.P_384, KeyCurveName.P_521, KeyCurveName.P_256K)) {
            KeyVaultKey k = keys.createEcKey(new CreateEcKeyOptions("ec-" + crv.toString().replace("-", "").toLowerCase())
                    .setCurveName(crv).setHardwareProtected(true));
            assertEquals(KeyType.EC_HSM, k.getKeyType());
            assertEquals(crv, k.getKey().getCurveName());
            assertEquals(java.util.Set.of(KeyOperation.SIGN, KeyOperation.VERIFY, KeyOperation.fromString("deriveKey")),
                    new java.util.HashSet<>(k.getKeyOperations()), "as recorded: an EC key without key_ops can also derive");
        }
        for (int size : new int[]{128, 192, 256}) {
            KeyVaultKey k = keys.createOctKey(new CreateOctKeyOptions("aes-" + size).setKeySize(size).setHardwareProtected(true));
            assertEquals(KeyType.OCT_HSM, k.getKeyType());
            assertNull(k.getKey().getK(), "symmetric key material never leaves the HSM");
        }
        HttpResponseException bad = assertThrows(HttpResponseException.class,
                () -> keys.createOctKey(new CreateOctKeyOptions("aes-64").setKeySize(64).setHardwareProtected(true)));
        assertEquals(400, bad.getResponse().getStatusCode());
        assertTrue(bad.getMessage().contains("Invalid key size: '64'"));
        assertThrows(HttpResponseException.class, () -> keys.createRsaKey(new CreateRsaKeyOptions("bad_name")));
    }

    @Test
    void keyCreationIsLimitedToOnePerSecondPerHsm() throws Exception {
        Emulator limited = Emulator.start(EmulatorConfig.inMemory().withServiceLimits(true));
        try {
            EmulatorClients c = new EmulatorClients(limited, limited.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg-limits", hsmName("limits"), HsmFixtures.CRYPTO_USER);
            KeyClient noRetries = new com.azure.security.keyvault.keys.KeyClientBuilder().vaultUrl(uri).credential(c.credential)
                    .httpClient(c.http).disableChallengeResourceVerification()
                    .retryPolicy(new com.azure.core.http.policy.RetryPolicy(new com.azure.core.http.policy.FixedDelay(0, java.time.Duration.ZERO)))
                    .buildClient();
            noRetries.createEcKey(new CreateEcKeyOptions("first"));
            HttpResponseException second = assertThrows(HttpResponseException.class, () -> noRetries.createEcKey(new CreateEcKeyOptions("second")));
            assertEquals(429, second.getResponse().getStatusCode());
            assertEquals("1", second.getResponse().getHeaderValue("Retry-After"));
            assertNotNull(noRetries.getKey("first"), "reads are not limited like creations");
            Thread.sleep(1100);
            noRetries.createEcKey(new CreateEcKeyOptions("second"));
        } finally {
            limited.close();
        }
    }

    @Test
    void keyReadsLagUpdatesForTheStaleReadWindow() throws Exception {
        Emulator lagging = Emulator.start(EmulatorConfig.inMemory().withStaleReads(java.time.Duration.ofSeconds(2)));
        try {
            EmulatorClients c = new EmulatorClients(lagging, lagging.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg-stale", hsmName("stale-keys"), HsmFixtures.CRYPTO_USER);
            KeyClient k = c.keys(uri);
            KeyVaultKey key = k.createEcKey(new CreateEcKeyOptions("lagging"));
            assertTrue(k.getKey("lagging").getProperties().isEnabled(), "a new key reads at once");
            k.updateKeyProperties(key.getProperties().setEnabled(false));
            assertTrue(k.getKey("lagging").getProperties().isEnabled(), "right after the update a read still answers the old key");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).until(() -> !k.getKey("lagging").getProperties().isEnabled());
        } finally {
            lagging.close();
        }
    }

    @Test
    void aRecoveredKeyAnswers404UntilItsRecoveryCompletesAndItsNameCannotBeTaken() throws Exception {
        Emulator lagging = Emulator.start(EmulatorConfig.inMemory().withStaleReads(java.time.Duration.ofSeconds(2)));
        try {
            EmulatorClients c = new EmulatorClients(lagging, lagging.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg-recover", hsmName("recovering"), HsmFixtures.CRYPTO_USER);
            c.rbac(uri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                    HsmFixtures.CRYPTO_OFFICER, c.principal.objectId());
            KeyClient k = c.keys(uri);
            KeyVaultKey key = k.createEcKey(new CreateEcKeyOptions("phoenix"));
            k.beginDeleteKey("phoenix").waitForCompletion();
            var poller = k.beginRecoverDeletedKey("phoenix");
            com.azure.core.exception.ResourceNotFoundException absent = org.junit.jupiter.api.Assertions.assertThrows(
                    com.azure.core.exception.ResourceNotFoundException.class, () -> k.getKey("phoenix"));
            assertEquals(404, absent.getResponse().getStatusCode(), "right after the recover started the key is not readable yet");
            org.junit.jupiter.api.Assertions.assertThrows(com.azure.core.exception.ResourceNotFoundException.class,
                    () -> k.getDeletedKey("phoenix"), "nor is it listed as deleted");
            com.azure.core.exception.HttpResponseException taken = org.junit.jupiter.api.Assertions.assertThrows(
                    com.azure.core.exception.HttpResponseException.class, () -> k.createEcKey(new CreateEcKeyOptions("phoenix")));
            assertEquals(409, taken.getResponse().getStatusCode(), "its name cannot be taken by a new key meanwhile");
            assertEquals(com.azure.core.util.polling.LongRunningOperationStatus.SUCCESSFULLY_COMPLETED,
                    poller.waitForCompletion(java.time.Duration.ofSeconds(10)).getStatus(), "the SDK's poller waits until the key answers");
            assertEquals(key.getId(), k.getKey("phoenix").getId(), "the same key came back");
        } finally {
            lagging.close();
        }
    }

    @Test
    void versionsListingPagingAndUpdates() {
        KeyVaultKey v1 = keys.createEcKey(new CreateEcKeyOptions("versioned").setTags(Map.of("a", "1")));
        KeyVaultKey v2 = keys.createEcKey(new CreateEcKeyOptions("versioned").setTags(Map.of("a", "2")));
        assertNotEquals(v1.getProperties().getVersion(), v2.getProperties().getVersion());
        assertTrue(v2.getProperties().getVersion().matches("[0-9a-f]{32}"));
        assertEquals(v2.getId(), keys.getKey("versioned").getId(), "the versionless get returns the newest version");
        assertEquals(v1.getId(), keys.getKey("versioned", v1.getProperties().getVersion()).getId());
        KeyVaultKeyIdentifier id = new KeyVaultKeyIdentifier(v2.getId());
        assertEquals("versioned", id.getName());
        assertEquals(v2.getProperties().getVersion(), id.getVersion());
        // KeyVaultKeyIdentifier.getVaultUrl() drops the port: never derive an HSM URL from a key ID in local mode.
        List<String> versions = new ArrayList<>();
        keys.listPropertiesOfKeyVersions("versioned").forEach(p -> versions.add(p.getVersion()));
        assertEquals(List.of(v1.getProperties().getVersion(), v2.getProperties().getVersion()), versions);

        for (int i = 0; i < 23; i++) {
            keys.createOctKey(new CreateOctKeyOptions("page-" + i));
        }
        Set<String> names = new HashSet<>();
        keys.listPropertiesOfKeys().forEach(p -> names.add(p.getName()));
        assertTrue(names.size() >= 25, "paging through nextLink (pages of 10, no api-version) returns every key");

        KeyProperties props = v2.getProperties().setEnabled(false).setExpiresOn(OffsetDateTime.now().plusDays(30).withNano(0))
                .setTags(Map.of("b", "x"));
        KeyVaultKey updated = keys.updateKeyProperties(props, KeyOperation.SIGN);
        assertFalse(updated.getProperties().isEnabled());
        assertEquals(Map.of("b", "x"), updated.getProperties().getTags());
        assertEquals(List.of(KeyOperation.SIGN), updated.getKeyOperations());
        assertTrue(keys.getKey("versioned", v1.getProperties().getVersion()).getProperties().isEnabled(), "updates touch one version");
    }

    @Test
    void signAndVerifyWithEveryAlgorithm() throws Exception {
        byte[] data = "the payload".getBytes();
        KeyVaultKey rsa = keys.createRsaKey(new CreateRsaKeyOptions("signer-rsa").setKeySize(2048));
        CryptographyClient rc = admin.crypto(rsa.getId());
        for (SignatureAlgorithm alg : List.of(SignatureAlgorithm.RS256, SignatureAlgorithm.RS384, SignatureAlgorithm.RS512,
                SignatureAlgorithm.PS256, SignatureAlgorithm.PS384, SignatureAlgorithm.PS512)) {
            var sig = rc.signData(alg, data);
            assertTrue(rc.verifyData(alg, data, sig.getSignature()).isValid(), alg + " verifies");
            byte[] tampered = sig.getSignature().clone();
            tampered[5] ^= 1;
            assertFalse(rc.verifyData(alg, data, tampered).isValid(), alg + " rejects a tampered signature");
        }
        // verified without the HSM: the public key alone (what a token validator has)
        var rs256 = rc.signData(SignatureAlgorithm.RS256, data);
        Signature jdk = Signature.getInstance("SHA256withRSA");
        jdk.initVerify(KeyFactory.getInstance("RSA").generatePublic(new java.security.spec.RSAPublicKeySpec(
                new java.math.BigInteger(1, rsa.getKey().getN()), new java.math.BigInteger(1, rsa.getKey().getE()))));
        jdk.update(data);
        assertTrue(jdk.verify(rs256.getSignature()));

        for (var c : List.of(new Object[]{KeyCurveName.P_256, SignatureAlgorithm.ES256, "SHA-256"},
                new Object[]{KeyCurveName.P_384, SignatureAlgorithm.ES384, "SHA-384"},
                new Object[]{KeyCurveName.P_521, SignatureAlgorithm.ES512, "SHA-512"},
                new Object[]{KeyCurveName.P_256K, SignatureAlgorithm.ES256K, "SHA-256"})) {
            KeyVaultKey ec = keys.createEcKey(new CreateEcKeyOptions("signer-" + c[0].toString().replace("-", "").toLowerCase())
                    .setCurveName((KeyCurveName) c[0]));
            CryptographyClient ecc = admin.crypto(ec.getId());
            byte[] digest = MessageDigest.getInstance((String) c[2]).digest(data);
            var sig = ecc.sign((SignatureAlgorithm) c[1], digest);
            assertTrue(ecc.verify((SignatureAlgorithm) c[1], digest, sig.getSignature()).isValid(), c[1] + " verifies");
        }
        KeyVaultKey p256 = keys.getKey("signer-p256");
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(data);
        byte[] raw = admin.crypto(p256.getId()).sign(SignatureAlgorithm.ES256, digest).getSignature();
        assertEquals(64, raw.length, "ECDSA signatures are R||S as JWS wants them");
        ECPublicKey pub = (ECPublicKey) p256.getKey().toEc(false).getPublic();
        Signature ecdsa = Signature.getInstance("SHA256withECDSAinP1363Format");
        ecdsa.initVerify(pub);
        ecdsa.update(data);
        assertTrue(ecdsa.verify(raw));
        HttpResponseException wrongAlg = assertThrows(HttpResponseException.class,
                () -> admin.crypto(p256.getId()).sign(SignatureAlgorithm.ES384, MessageDigest.getInstance("SHA-384").digest(data)));
        assertEquals(400, wrongAlg.getResponse().getStatusCode());
    }

    @Test
    void encryptDecryptAndWrapUnwrap() {
        byte[] secret = "0123456789abcdef0123456789abcdef".getBytes();
        KeyVaultKey rsa = keys.createRsaKey(new CreateRsaKeyOptions("crypt-rsa"));
        CryptographyClient rc = admin.crypto(rsa.getId());
        for (EncryptionAlgorithm alg : List.of(EncryptionAlgorithm.RSA_OAEP, EncryptionAlgorithm.RSA_OAEP_256, EncryptionAlgorithm.RSA1_5)) {
            EncryptResult e = rc.encrypt(alg, secret);
            assertArrayEquals(secret, rc.decrypt(alg, e.getCipherText()).getPlainText(), alg.toString());
        }
        for (KeyWrapAlgorithm alg : List.of(KeyWrapAlgorithm.RSA_OAEP, KeyWrapAlgorithm.RSA_OAEP_256, KeyWrapAlgorithm.RSA1_5)) {
            var w = rc.wrapKey(alg, secret);
            assertArrayEquals(secret, rc.unwrapKey(alg, w.getEncryptedKey()).getKey(), alg.toString());
        }
        for (int size : new int[]{128, 192, 256}) {
            KeyVaultKey aes = keys.createOctKey(new CreateOctKeyOptions("crypt-aes-" + size).setKeySize(size));
            CryptographyClient ac = admin.crypto(aes.getId());
            EncryptResult g = ac.encrypt(gcmParams(size, secret), null);
            assertEquals(12, g.getIv().length);
            assertEquals(16, g.getAuthenticationTag().length);
            assertArrayEquals(secret, ac.decrypt(gcmDecrypt(size, g), null).getPlainText());
            byte[] iv = "0123456789012345".getBytes();
            EncryptResult cbc = ac.encrypt(cbcParams(size, secret, iv, false), null);
            assertArrayEquals(secret, ac.decrypt(cbcDecrypt(size, cbc.getCipherText(), iv, false), null).getPlainText());
            EncryptResult pad = ac.encrypt(cbcParams(size, "not a multiple of 16".getBytes(), iv, true), null);
            assertArrayEquals("not a multiple of 16".getBytes(), ac.decrypt(cbcDecrypt(size, pad.getCipherText(), iv, true), null).getPlainText());
            KeyWrapAlgorithm kw = KeyWrapAlgorithm.fromString("A" + size + "KW");
            var w = ac.wrapKey(kw, secret);
            assertArrayEquals(secret, ac.unwrapKey(kw, w.getEncryptedKey()).getKey());
            var ckm = ac.wrapKey(KeyWrapAlgorithm.CKM_AES_KEY_WRAP_PAD, "seventeen bytes!!".getBytes());
            assertArrayEquals("seventeen bytes!!".getBytes(), ac.unwrapKey(KeyWrapAlgorithm.CKM_AES_KEY_WRAP_PAD,
                    ckm.getEncryptedKey()).getKey());
        }
        KeyVaultKey aes = keys.getKey("crypt-aes-256");
        HttpResponseException tampered = assertThrows(HttpResponseException.class, () -> {
            EncryptResult g = admin.crypto(aes.getId()).encrypt(gcmParams(256, secret), null);
            byte[] tag = g.getAuthenticationTag().clone();
            tag[0] ^= 1;
            admin.crypto(aes.getId()).decrypt(DecryptParameters.createA256GcmParameters(g.getCipherText(), g.getIv(), tag, null), null);
        });
        assertEquals(400, tampered.getResponse().getStatusCode());
    }

    private static EncryptParameters gcmParams(int size, byte[] p) {
        return size == 128 ? EncryptParameters.createA128GcmParameters(p) : size == 192 ? EncryptParameters.createA192GcmParameters(p)
                : EncryptParameters.createA256GcmParameters(p);
    }

    private static DecryptParameters gcmDecrypt(int size, EncryptResult g) {
        return size == 128 ? DecryptParameters.createA128GcmParameters(g.getCipherText(), g.getIv(), g.getAuthenticationTag(), g.getAdditionalAuthenticatedData())
                : size == 192 ? DecryptParameters.createA192GcmParameters(g.getCipherText(), g.getIv(), g.getAuthenticationTag(), g.getAdditionalAuthenticatedData())
                : DecryptParameters.createA256GcmParameters(g.getCipherText(), g.getIv(), g.getAuthenticationTag(), g.getAdditionalAuthenticatedData());
    }

    private static EncryptParameters cbcParams(int size, byte[] p, byte[] iv, boolean pad) {
        switch (size) {
            case 128: return pad ? EncryptParameters.createA128CbcPadParameters(p, iv) : EncryptParameters.createA128CbcParameters(p, iv);
            case 192: return pad ? EncryptParameters.createA192CbcPadParameters(p, iv) : EncryptParameters.createA192CbcParameters(p, iv);
            default: return pad ? EncryptParameters.createA256CbcPadParameters(p, iv) : EncryptParameters.createA256CbcParameters(p, iv);
        }
    }

    private static DecryptParameters cbcDecrypt(int size, byte[] c, byte[] iv, boolean pad) {
        switch (size) {
            case 128: return pad ? DecryptParameters.createA128CbcPadParameters(c, iv) : DecryptParameters.createA128CbcParameters(c, iv);
            case 192: return pad ? DecryptParameters.createA192CbcPadParameters(c, iv) : DecryptParameters.createA192CbcParameters(c, iv);
            default: return pad ? DecryptParameters.createA256CbcPadParameters(c, iv) : DecryptParameters.createA256CbcParameters(c, iv);
        }
    }

    @Test
    void disabledExpiredAndForbiddenOperations() throws Exception {
        KeyVaultKey k = keys.createRsaKey(new CreateRsaKeyOptions("limited").setKeyOperations(KeyOperation.VERIFY));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("x".getBytes());
        HttpResponseException notAllowed = assertThrows(HttpResponseException.class,
                () -> admin.crypto(k.getId()).sign(SignatureAlgorithm.RS256, digest));
        assertEquals(400, notAllowed.getResponse().getStatusCode());
        KeyVaultKey signer = keys.createEcKey(new CreateEcKeyOptions("disabled-key"));
        KeyVaultKey tagged = keys.updateKeyProperties(signer.getProperties().setTags(Map.of("t", "1")));
        assertTrue(tagged.getKeyOperations() == null || tagged.getKeyOperations().isEmpty(), "the SDK sends key_ops [] here");
        admin.crypto(signer.getId()).sign(SignatureAlgorithm.ES256, digest);
        keys.updateKeyProperties(signer.getProperties().setEnabled(false));
        HttpResponseException disabled = assertThrows(HttpResponseException.class,
                () -> admin.crypto(signer.getId()).sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, disabled.getResponse().getStatusCode());
        KeyVaultKey expiring = keys.createEcKey(new CreateEcKeyOptions("expiring").setExpiresOn(OffsetDateTime.now().plusDays(1)));
        admin.crypto(expiring.getId()).sign(SignatureAlgorithm.ES256, digest);
        emulator.controls().advance(Duration.ofDays(2));
        HttpResponseException expired = assertThrows(HttpResponseException.class,
                () -> admin.crypto(expiring.getId()).sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, expired.getResponse().getStatusCode());
    }

    @Test
    void softDeleteGetListRecoverAndNameHeld() {
        KeyVaultKey k = keys.createEcKey(new CreateEcKeyOptions("deleted-key").setTags(Map.of("t", "v")));
        var poller = keys.beginDeleteKey("deleted-key");
        poller.waitForCompletion();
        DeletedKey deleted = poller.poll().getValue();
        assertEquals(k.getId(), deleted.getId());
        assertNotNull(deleted.getRecoveryId());
        assertEquals(deleted.getDeletedOn().plusDays(7).toEpochSecond(), deleted.getScheduledPurgeDate().toEpochSecond());
        assertThrows(ResourceNotFoundException.class, () -> keys.getKey("deleted-key"));
        assertTrue(keys.listDeletedKeys().stream().anyMatch(d -> d.getName().equals("deleted-key")));
        assertEquals("deleted-key", keys.getDeletedKey("deleted-key").getName());
        ResourceModifiedException held = assertThrows(ResourceModifiedException.class, () -> keys.createEcKey(new CreateEcKeyOptions("deleted-key")));
        assertEquals(409, held.getResponse().getStatusCode());
        var recovery = keys.beginRecoverDeletedKey("deleted-key");
        recovery.waitForCompletion();
        KeyVaultKey recovered = keys.getKey("deleted-key");
        assertEquals(k.getId(), recovered.getId(), "recovery restores the same key, with its versions");
        assertEquals(Map.of("t", "v"), recovered.getProperties().getTags());
    }

    @Test
    void emulatorOwnPurgeTest_deletedKeyPurgeAndExpiry() {
        keys.createEcKey(new CreateEcKeyOptions("to-purge"));
        keys.beginDeleteKey("to-purge").waitForCompletion();
        keys.purgeDeletedKey("to-purge");
        assertThrows(ResourceNotFoundException.class, () -> keys.getDeletedKey("to-purge"));
        keys.createEcKey(new CreateEcKeyOptions("to-expire"));
        keys.beginDeleteKey("to-expire").waitForCompletion();
        emulator.controls().advance(Duration.ofDays(8));
        assertThrows(ResourceNotFoundException.class, () -> keys.getDeletedKey("to-expire"), "the service purges after the retention");
    }

    @Test
    void backupRestoresOnlyInTheSameSecurityDomain() throws Exception {
        KeyVaultKey k = keys.createRsaKey(new CreateRsaKeyOptions("backed-up"));
        keys.createRsaKey(new CreateRsaKeyOptions("backed-up"));
        byte[] blob = keys.backupKey("backed-up");
        keys.beginDeleteKey("backed-up").waitForCompletion();
        assertThrows(ResourceModifiedException.class, () -> keys.restoreKeyBackup(blob), "the name is held while soft-deleted");
        keys.purgeDeletedKey("backed-up");
        KeyVaultKey restored = keys.restoreKeyBackup(blob);
        assertEquals(2, keys.listPropertiesOfKeyVersions("backed-up").stream().count(), "every version is restored");
        assertArrayEquals(k.getKey().getN(), keys.getKey("backed-up", k.getProperties().getVersion()).getKey().getN());
        assertNotNull(restored);

        String other = HsmFixtures.readyHsm(admin, "rg-keys", hsmName("other-domain"), HsmFixtures.CRYPTO_USER);
        HttpResponseException foreign = assertThrows(HttpResponseException.class, () -> admin.keys(other).restoreKeyBackup(blob));
        assertEquals(400, foreign.getResponse().getStatusCode());
    }

    @Test
    void rotationPolicyFollowsManagedHsmRules() {
        keys.createEcKey(new CreateEcKeyOptions("rotating"));
        KeyRotationPolicy empty = keys.getKeyRotationPolicy("rotating");
        assertTrue(empty.getId() == null || empty.getId().isEmpty(), "no policy yet: the service answers 200 with an empty policy");
        assertTrue(empty.getLifetimeActions() == null || empty.getLifetimeActions().isEmpty());
        HttpResponseException early = assertThrows(HttpResponseException.class, () -> keys.rotateKey("rotating"));
        assertEquals(400, early.getResponse().getStatusCode(), "on-demand rotation needs a policy");

        KeyRotationPolicy tooShort = new KeyRotationPolicy().setLifetimeActions(List.of(
                new KeyRotationLifetimeAction(KeyRotationPolicyAction.ROTATE).setTimeAfterCreate("P7D")));
        assertThrows(HttpResponseException.class, () -> keys.updateKeyRotationPolicy("rotating", tooShort));
        KeyRotationPolicy notify = new KeyRotationPolicy().setExpiresIn("P90D").setLifetimeActions(List.of(
                new KeyRotationLifetimeAction(KeyRotationPolicyAction.NOTIFY).setTimeBeforeExpiry("P30D")));
        assertThrows(HttpResponseException.class, () -> keys.updateKeyRotationPolicy("rotating", notify));

        KeyRotationPolicy ok = keys.updateKeyRotationPolicy("rotating", new KeyRotationPolicy().setExpiresIn("P90D")
                .setLifetimeActions(List.of(new KeyRotationLifetimeAction(KeyRotationPolicyAction.ROTATE).setTimeAfterCreate("P30D"))));
        assertEquals("P90D", ok.getExpiresIn());
        assertNotNull(ok.getId());
        KeyVaultKey rotated = keys.rotateKey("rotating");
        assertEquals(2, keys.listPropertiesOfKeyVersions("rotating").stream().count());
        assertNotNull(rotated.getProperties().getExpiresOn(), "rotation gives the new version the policy's expiry");

        emulator.controls().advance(Duration.ofDays(61));
        assertEquals(4, keys.listPropertiesOfKeyVersions("rotating").stream().count(),
                "the service rotates on its own clock: two 30-day slots passed");
    }

    @Test
    void randomBytesNeedTheRoleAtTheHsmScope() {
        HttpResponseException scoped = assertThrows(HttpResponseException.class, () -> keys.getRandomBytes(32),
                "Crypto User at /keys does not cover the HSM-level rng action");
        assertEquals(403, scoped.getResponse().getStatusCode());
        admin.rbac(hsmUri).createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.GLOBAL,
                HsmFixtures.CRYPTO_USER, admin.principal.objectId());
        byte[] r = keys.getRandomBytes(32);
        assertEquals(32, r.length);
        assertFalse(java.util.Arrays.equals(r, keys.getRandomBytes(32)));
        assertThrows(HttpResponseException.class, () -> keys.getRandomBytes(129));
    }

    @Test
    void attestationChainsToTheEmulatorRootAndBindsTheKeysPublicKey() throws Exception {
        KeyVaultKey rsa = keys.createRsaKey(new CreateRsaKeyOptions("attested-rsa").setKeySize(2048));
        KeyVaultKey attested = keys.getKeyAttestation("attested-rsa");
        assertEquals(rsa.getId(), attested.getId());
        var evidence = attested.getProperties().getKeyAttestation();
        assertNotNull(evidence, "the SDK reads attributes.attestation");
        assertEquals("hsm-emulator-attestation-1", evidence.getVersion());
        java.security.cert.X509Certificate root = emulator.attestationRoot();
        byte[] spki = rsa.getKey().toRsa().getPublic().getEncoded();

        var priv = AttestationEvidence.verify(evidence.getCertificatePemFile(), evidence.getPrivateKeyAttestation(), root);
        assertEquals(rsa.getId(), priv.path("kid").asText());
        assertTrue(priv.path("generatedInHsm").asBoolean());
        assertEquals(java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(MessageDigest.getInstance("SHA-256").digest(spki)),
                priv.path("publicKeySha256").asText());
        var pub = AttestationEvidence.verify(evidence.getCertificatePemFile(), evidence.getPublicKeyAttestation(), root);
        assertArrayEquals(spki, java.util.Base64.getDecoder().decode(pub.path("publicKey").asText()));

        // evidence under another root, or a blob whose claims were changed, does not verify
        java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("EC");
        g.initialize(256);
        var stranger = emulator.issueCertificate("not-the-attestation-root", g.generateKeyPair().getPublic());
        assertThrows(java.security.GeneralSecurityException.class,
                () -> AttestationEvidence.verify(evidence.getCertificatePemFile(), evidence.getPrivateKeyAttestation(), stranger));
        String[] jws = new String(evidence.getPrivateKeyAttestation(), java.nio.charset.StandardCharsets.US_ASCII).split("\\.");
        String forged = jws[0] + "." + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(
                new String(java.util.Base64.getUrlDecoder().decode(jws[1])).replace("\"generatedInHsm\":true", "\"generatedInHsm\":false")
                        .getBytes()) + "." + jws[2];
        assertThrows(java.security.GeneralSecurityException.class, () -> AttestationEvidence.verify(evidence.getCertificatePemFile(),
                forged.getBytes(java.nio.charset.StandardCharsets.US_ASCII), root));

        // a named version's evidence is that version's; a symmetric key has no public key attestation (as Azure documents)
        KeyVaultKey second = keys.createRsaKey(new CreateRsaKeyOptions("attested-rsa").setKeySize(2048));
        var older = keys.getKeyAttestationWithResponse("attested-rsa", rsa.getProperties().getVersion(), com.azure.core.util.Context.NONE)
                .getValue().getProperties().getKeyAttestation();
        assertEquals(rsa.getId(), AttestationEvidence.verify(older.getCertificatePemFile(), older.getPrivateKeyAttestation(), root)
                .path("kid").asText());
        assertEquals(second.getId(), AttestationEvidence.verify(keys.getKeyAttestation("attested-rsa").getProperties().getKeyAttestation()
                .getCertificatePemFile(), keys.getKeyAttestation("attested-rsa").getProperties().getKeyAttestation()
                .getPrivateKeyAttestation(), root).path("kid").asText());
        keys.createOctKey(new CreateOctKeyOptions("attested-oct").setHardwareProtected(true));
        var oct = keys.getKeyAttestation("attested-oct").getProperties().getKeyAttestation();
        assertNull(oct.getPublicKeyAttestation());
        assertEquals("oct-HSM", AttestationEvidence.verify(oct.getCertificatePemFile(), oct.getPrivateKeyAttestation(), root)
                .path("kty").asText());

        // an imported key is attested too, and its evidence says it was not born in the HSM
        java.security.KeyPairGenerator rg = java.security.KeyPairGenerator.getInstance("RSA");
        rg.initialize(2048);
        var pair = rg.generateKeyPair();
        keys.importKey("attested-imported", com.azure.security.keyvault.keys.models.JsonWebKey.fromRsa(pair)
                .setKeyType(KeyType.RSA_HSM));
        var imported = keys.getKeyAttestation("attested-imported").getProperties().getKeyAttestation();
        assertFalse(AttestationEvidence.verify(imported.getCertificatePemFile(), imported.getPrivateKeyAttestation(), root)
                .path("generatedInHsm").asBoolean(true));
    }

    @Test
    void aVerifyAnswerNamesTheKeyAndAlgorithmForEcKeysAsRecorded() throws Exception {
        KeyVaultKey k = keys.createEcKey(new CreateEcKeyOptions("verify-256k").setCurveName(KeyCurveName.P_256K));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("a payload".getBytes());
        byte[] signature = admin.crypto(k.getId()).sign(SignatureAlgorithm.ES256K, digest).getSignature();
        java.util.Base64.Encoder b64u = java.util.Base64.getUrlEncoder().withoutPadding();
        var req = new com.azure.core.http.HttpRequest(com.azure.core.http.HttpMethod.POST, k.getId() + "/verify?api-version=7.6")
                .setHeader("Content-Type", "application/json").setBody("{\"alg\":\"ES256K\",\"digest\":\"" + b64u.encodeToString(digest)
                        + "\",\"value\":\"" + b64u.encodeToString(signature) + "\"}");
        try (var r = admin.dataPlanePipeline().sendSync(req, com.azure.core.util.Context.NONE)) {
            assertEquals(200, r.getStatusCode());
            var body = Json.parse(r.getBodyAsByteArray().block());
            Set<String> fields = new HashSet<>();
            body.fieldNames().forEachRemaining(fields::add);
            assertEquals(Set.of("alg", "kid", "value"), fields);
            assertEquals("ES256K", body.path("alg").asText());
            assertEquals(k.getId(), body.path("kid").asText());
            assertTrue(body.path("value").asBoolean());
        }
    }
}
