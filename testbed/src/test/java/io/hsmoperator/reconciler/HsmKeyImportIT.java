package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyProperties;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.EmulatorClients;
import io.hsmoperator.emulator.HsmFixtures;
import io.hsmoperator.emulator.OnPremHsm;
import io.hsmoperator.emulator.State;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bring your own key (HsmKey spec.importFrom). The test plays the on-premises HSM: it reads the key exchange key the
 * operator published, wraps a key it generated itself as Azure's BYOK specification says ({@link OnPremHsm}), and puts
 * the transfer blob in a Secret.
 */
@QuarkusTest
class HsmKeyImportIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private State.Key azureKey(ManagedHsm hsm, String name) {
        return emulator.inspect(s -> s.hsms.get(hsm.getSpec().azureName).keys.get(name.toLowerCase(Locale.ROOT)));
    }

    private HsmKey importing(String name, HsmKeySpec.KeyType type, String secret) {
        HsmKey key = hsmKey(name, "hsm", type);
        key.getSpec().importFrom = new HsmKeySpec.Import();
        key.getSpec().importFrom.secretRef = new HsmKeySpec.SecretKeySelector();
        key.getSpec().importFrom.secretRef.name = secret;
        return key;
    }

    /** The key exchange key as the on-premises HSM's BYOK tool gets it: from the published ConfigMap. */
    private ConfigMap awaitPublishedKek(String name) {
        awaitCondition(HsmKey.class, name, "Ready", "False", "AwaitingKeyMaterial", WAIT);
        return client.configMaps().inNamespace(ns).withName(name + "-kek").get();
    }

    private void blobSecret(String name, String blob) {
        apply(new SecretBuilder().withNewMetadata().withName(name).withNamespace(ns).endMetadata()
                .addToStringData("key.byok", blob).build());
    }

    /** PUT /keys/{name} (import) requests to this test's HSM. */
    private List<Controls.JournalEntry> imports(ManagedHsm hsm, String keyName) {
        return journalSinceMark(e -> e.method().equals("PUT") && e.endpoint().equals(hsm.getSpec().azureName)
                && e.path().equalsIgnoreCase("/keys/" + keyName));
    }

    private static KeyPair ecKeyPair() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    @Test
    void importsTheKeyTheOnPremisesHsmWrappedForThePublishedKeyExchangeKey() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey spec = importing("byok", HsmKeySpec.KeyType.EC_HSM, "byok-blob");
        spec.getSpec().operations = List.of(HsmKeySpec.Operation.sign, HsmKeySpec.Operation.verify);
        apply(spec);

        ConfigMap kekMap = awaitPublishedKek("byok");
        State.KeyVersion kek = azureKey(hsm, "byok-kek").latest();
        assertEquals("RSA-HSM", kek.kty);
        assertEquals(4096, kek.keySize);
        assertEquals(List.of("import"), kek.keyOps, "Azure's BYOK: the key exchange key may only import");
        assertTrue(kek.enabled);
        assertTrue(kekMap.getData().get("kid").endsWith("/keys/byok-kek/" + kek.version));
        assertNull(azureKey(hsm, "byok"), "nothing is generated in Azure for an imported key");

        KeyPair local = ecKeyPair();
        String blob = OnPremHsm.transferBlob(kekMap.getData().get("kid"), OnPremHsm.fromPem(kekMap.getData().get("kek.pem")),
                local.getPrivate().getEncoded(), OnPremHsm.CKM_RSA_AES_KEY_WRAP);
        blobSecret("byok-blob", blob);
        HsmKey ready = awaitCondition(HsmKey.class, "byok", "Ready", "True", "Ready", WAIT);

        State.Key imported = azureKey(hsm, "byok");
        assertEquals(1, imported.versions.size());
        assertEquals("EC-HSM", imported.latest().kty);
        assertEquals("P-256", imported.latest().crv);
        assertEquals(List.of("sign", "verify"), imported.latest().keyOps);
        PublicKey inAzure = KeyFactory.getInstance("EC").generatePublic(new X509EncodedKeySpec(Base64.getDecoder()
                .decode(imported.latest().publicKey)));
        assertEquals(((ECPublicKey) local.getPublic()).getW(), ((ECPublicKey) inAzure).getW(), "the HSM holds the key made on premises");
        assertEquals(imported.latest().version, ready.getStatus().currentVersion);
        assertFalse(azureKey(hsm, "byok-kek").latest().enabled, "the key exchange key is disabled after use");
        assertFalse(ready.getStatus().keyExchangeKey.enabled);
        assertTrue(eventReasons().containsAll(List.of("KeyExchangeKeyCreated", "KeyImported", "KeyExchangeKeyDisabled")));

        // A signature made through the HSM with the published key ID verifies with the key the on-premises HSM holds.
        ConfigMap published = client.configMaps().inNamespace(ns).withName("byok-key").get();
        byte[] data = "signed in the HSM".getBytes();
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(data);
        io.hsmoperator.emulator.Emulator.Principal workload = emulator.registerPrincipal("byok-signer-" + ns);
        azureAs(emulator.builtInPrincipal()).rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.fromString("/keys/byok"),
                HsmFixtures.CRYPTO_USER, workload.objectId());
        awaitRbacPropagation();
        byte[] signature = azureAs(workload).crypto(published.getData().get("keyId")).sign(SignatureAlgorithm.ES256, digest).getSignature();
        Signature verify = Signature.getInstance("SHA256withECDSAinP1363Format");
        verify.initVerify(local.getPublic());
        verify.update(data);
        assertTrue(verify.verify(signature));

        // Imported once: later reconciles import nothing again.
        touch(HsmKey.class, "byok");
        Thread.sleep(3500);
        assertEquals(1, imports(hsm, "byok").size(), "exactly one import");
        assertEquals(1, azureKey(hsm, "byok").versions.size());

        // Nothing of the blob anywhere a user or an operator reads.
        String ciphertext = blob.substring(blob.indexOf("\"ciphertext\":\"") + 14);
        String canary = ciphertext.substring(ciphertext.length() / 2, ciphertext.length() / 2 + 40);
        StringBuilder visible = new StringBuilder(CapturedLogs.all());
        visible.append(io.fabric8.kubernetes.client.utils.Serialization.asJson(get(HsmKey.class, "byok")));
        client.configMaps().inNamespace(ns).list().getItems().forEach(c -> visible.append(io.fabric8.kubernetes.client.utils.Serialization.asJson(c)));
        events().forEach(e -> visible.append(e.getMessage()));
        assertFalse(visible.toString().contains(canary), "the transfer blob is never logged, reported or published");
    }

    @Test
    void refusesABlobForAnotherKeyMaterialOfAnotherTypeAndAKeyExchangeKeyWithOtherOperations() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(importing("stranger", HsmKeySpec.KeyType.EC_HSM, "stranger-blob"));
        HsmKey rsa = importing("mistyped", HsmKeySpec.KeyType.RSA_HSM, "mistyped-blob");
        apply(rsa);
        apply(importing("widened", HsmKeySpec.KeyType.EC_HSM, "widened-blob"));
        ConfigMap strangerKek = awaitPublishedKek("stranger");
        ConfigMap mistypedKek = awaitPublishedKek("mistyped");
        ConfigMap widenedKek = awaitPublishedKek("widened");
        byte[] target = ecKeyPair().getPrivate().getEncoded();

        // Wrapped for another RSA key, though the header names this resource's key exchange key.
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(KeyImport.KEK_SIZE);
        blobSecret("stranger-blob", OnPremHsm.transferBlob(strangerKek.getData().get("kid"), g.generateKeyPair().getPublic(), target,
                OnPremHsm.CKM_RSA_AES_KEY_WRAP));
        // An EC key for an RSA-HSM HsmKey.
        blobSecret("mistyped-blob", OnPremHsm.transferBlob(mistypedKek.getData().get("kid"),
                OnPremHsm.fromPem(mistypedKek.getData().get("kek.pem")), target, OnPremHsm.CKM_RSA_AES_KEY_WRAP));
        // The key exchange key got another operation outside the operator: the operator sees it (once Azure's reads show it)
        // and imports nothing with it, whatever blob comes.
        KeyClient security = adminKeys(hsm);
        KeyProperties widened = security.getKey("widened-kek").getProperties();
        security.updateKeyProperties(widened, KeyOperation.IMPORT, KeyOperation.DECRYPT);
        HsmKey kekOps = awaitCondition(HsmKey.class, "widened", "Ready", "False", "KeyExchangeKeyInvalid", WAIT);
        assertTrue(condition(kekOps, "Ready").getMessage().contains("[import, decrypt]"), condition(kekOps, "Ready").getMessage());
        blobSecret("widened-blob", OnPremHsm.transferBlob(widenedKek.getData().get("kid"),
                OnPremHsm.fromPem(widenedKek.getData().get("kek.pem")), target, OnPremHsm.CKM_RSA_AES_KEY_WRAP));

        HsmKey stranger = awaitCondition(HsmKey.class, "stranger", "Ready", "False", "ImportRefused", WAIT);
        assertTrue(condition(stranger, "Ready").getMessage().contains("could not be unwrapped"), condition(stranger, "Ready").getMessage());
        HsmKey mistyped = awaitCondition(HsmKey.class, "mistyped", "Ready", "False", "ImportRefused", WAIT);
        assertTrue(condition(mistyped, "Ready").getMessage().contains("Invalid key type"), condition(mistyped, "Ready").getMessage());

        for (String name : List.of("stranger", "mistyped", "widened")) {
            assertNull(azureKey(hsm, name), name + ": nothing created");
            assertTrue(azureKey(hsm, name + "-kek").latest().enabled, name + ": the key exchange key stays for the next attempt");
        }
        assertTrue(imports(hsm, "widened").isEmpty(), "no import with a key exchange key that may do more than import");
        int refusedImports = imports(hsm, "stranger").size() + imports(hsm, "mistyped").size();
        touch(HsmKey.class, "stranger");
        Thread.sleep(3500);
        assertEquals("KeyExchangeKeyInvalid", condition(get(HsmKey.class, "widened"), "Ready").getReason());
        assertTrue(imports(hsm, "widened").isEmpty(), "no import with a key exchange key that may do more than import");
        assertEquals(refusedImports, imports(hsm, "stranger").size() + imports(hsm, "mistyped").size(),
                "a refused blob is not sent again until its Secret changes");
    }

    private KeyClient adminKeys(ManagedHsm hsm) {
        EmulatorClients a = azureAs(emulator.builtInPrincipal());
        try {
            a.rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, emulator.builtInPrincipal().objectId());
            awaitRbacPropagation();
        } catch (RuntimeException alreadyThere) {
            // granted by an earlier call
        }
        return a.keys(hsm.getStatus().hsmUri);
    }
}
