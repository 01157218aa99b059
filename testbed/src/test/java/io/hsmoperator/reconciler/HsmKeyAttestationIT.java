package io.hsmoperator.reconciler;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.AttestationEvidence;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * spec.attestation: the key's attestation, as an auditor reads it from the ConfigMap the operator keeps, checked against
 * the emulator's attestation root with nothing but the JDK; each version's evidence asked of Azure once.
 */
@QuarkusTest
class HsmKeyAttestationIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);

    /** The attestation requests sent to this test's HSM since the test started, by path. */
    private Map<String, Long> attestationRequests(ManagedHsm hsm) {
        return journalSinceMark(e -> e.endpoint().equals(hsm.getSpec().azureName) && e.method().equals("GET")
                && e.path().endsWith("/attestation")).stream().collect(Collectors.groupingBy(Controls.JournalEntry::path, Collectors.counting()));
    }

    /** The public key (DER SubjectPublicKeyInfo) the workload ConfigMap publishes for {@code version}. */
    private byte[] publishedPublicKey(String hsmKey, String version) {
        String pem = client.configMaps().inNamespace(ns).withName(hsmKey + "-key").get().getData().get(version + ".pem");
        return Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
    }

    /** Checks version {@code version}'s evidence in the ConfigMap as an auditor would, and returns its claims. */
    private JsonNode auditedClaims(ConfigMap cm, String version, String hsmKey) throws Exception {
        X509Certificate root = emulator.attestationRoot();
        byte[] chain = cm.getData().get(version + ".certificates.pem").getBytes(StandardCharsets.US_ASCII);
        assertTrue(cm.getData().get(version + ".certificates.pem").startsWith("-----BEGIN CERTIFICATE-----"));
        JsonNode privateClaims = AttestationEvidence.verify(chain, Base64.getUrlDecoder().decode(cm.getData().get(version
                + ".private-key-attestation")), root);
        JsonNode publicClaims = AttestationEvidence.verify(chain, Base64.getUrlDecoder().decode(cm.getData().get(version
                + ".public-key-attestation")), root);
        assertArrayEquals(publishedPublicKey(hsmKey, version), Base64.getDecoder().decode(publicClaims.path("publicKey").asText()),
                "the evidence binds the very public key workloads are given");
        assertTrue(privateClaims.path("kid").asText().endsWith("/keys/" + hsmKey + "/" + version));
        assertTrue(privateClaims.path("generatedInHsm").asBoolean(), "a key the operator creates is born in the HSM");
        assertEquals("hsm-emulator-attestation-1", cm.getData().get(version + ".format"));
        return privateClaims;
    }

    @Test
    void everyEnabledVersionsEvidenceVerifiesToTheRootAndIsAskedForOnce() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = hsmKey("attested", "hsm", HsmKeySpec.KeyType.RSA_HSM);
        key.getSpec().attestation = true;
        apply(key);
        HsmKey ready = awaitCondition(HsmKey.class, "attested", "Attested", "True", "Attested", WAIT);
        assertEquals("attested-attestation", ready.getStatus().attestationConfigMap);
        String first = ready.getStatus().currentVersion;

        ConfigMap cm = client.configMaps().inNamespace(ns).withName("attested-attestation").get();
        assertEquals("HsmKey", cm.getMetadata().getOwnerReferences().get(0).getKind(), "the evidence goes with the HsmKey");
        assertEquals(ready.getStatus().versionlessKeyId, cm.getData().get("keyId"));
        assertEquals(first, cm.getData().get("currentVersion"));
        assertEquals("RSA-HSM", auditedClaims(cm, first, "attested").path("kty").asText());

        // A rotation adds the new version's evidence; the first version's is kept, not asked for again.
        HsmKey k = get(HsmKey.class, "attested");
        Map<String, String> annotations = k.getMetadata().getAnnotations() == null ? new HashMap<>()
                : new HashMap<>(k.getMetadata().getAnnotations());
        annotations.put(Conditions.ROTATE_NOW_ANNOTATION, "audit-1");
        k.getMetadata().setAnnotations(annotations);
        update(k);
        HsmKey rotated = awaitKey("attested", x -> !first.equals(x.getStatus().currentVersion), "a rotation", WAIT);
        String second = rotated.getStatus().currentVersion;
        await(() -> {
            ConfigMap now = client.configMaps().inNamespace(ns).withName("attested-attestation").get();
            return now.getData().containsKey(second + ".private-key-attestation") && second.equals(now.getData().get("currentVersion"));
        });
        ConfigMap after = client.configMaps().inNamespace(ns).withName("attested-attestation").get();
        auditedClaims(after, second, "attested");
        assertEquals(cm.getData().get(first + ".private-key-attestation"), after.getData().get(first + ".private-key-attestation"),
                "the first version's evidence is kept as fetched");
        touch(HsmKey.class, "attested");
        Thread.sleep(1500);
        Map<String, Long> asked = attestationRequests(hsm);
        assertEquals(Map.of("/keys/attested/" + first + "/attestation", 1L, "/keys/attested/" + second + "/attestation", 1L), asked,
                "each version's attestation is asked of Azure once");
    }

    @Test
    void withoutAttestationThereIsNoConfigMapAndNoAttestationRequest() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(hsmKey("plain", "hsm", HsmKeySpec.KeyType.EC_HSM));
        HsmKey ready = awaitCondition(HsmKey.class, "plain", "Ready", "True", "Ready", WAIT);
        touch(HsmKey.class, "plain");
        Thread.sleep(1500);
        assertNull(ready.getStatus().attestationConfigMap);
        assertNull(condition(get(HsmKey.class, "plain"), "Attested"));
        assertNull(client.configMaps().inNamespace(ns).withName("plain-attestation").get());
        assertEquals(Map.of(), attestationRequests(hsm));
        assertNotNull(client.configMaps().inNamespace(ns).withName("plain-key").get(), "publishing goes on as before");
    }

    @Test
    void aConfigMapSomeoneElseMadeIsNotOverwrittenAndNothingIsAsked() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        client.configMaps().inNamespace(ns).resource(new io.fabric8.kubernetes.api.model.ConfigMapBuilder().withNewMetadata()
                .withName("taken-attestation").endMetadata().addToData("owner", "another app").build()).create();
        HsmKey key = hsmKey("taken", "hsm", HsmKeySpec.KeyType.EC_HSM);
        key.getSpec().attestation = true;
        apply(key);
        HsmKey stalled = awaitCondition(HsmKey.class, "taken", "Ready", "False", "PublishConflict", WAIT);
        assertTrue(condition(stalled, "Ready").getMessage().contains("taken-attestation"));
        assertEquals(Map.of("owner", "another app"), client.configMaps().inNamespace(ns).withName("taken-attestation").get().getData());
        assertEquals(Map.of(), attestationRequests(hsm));

        // Once the other ConfigMap is gone, the evidence is kept there.
        client.configMaps().inNamespace(ns).withName("taken-attestation").delete();
        touch(HsmKey.class, "taken");
        HsmKey attested = awaitCondition(HsmKey.class, "taken", "Attested", "True", "Attested", WAIT);
        ConfigMap cm = client.configMaps().inNamespace(ns).withName("taken-attestation").get();
        assertEquals("EC-HSM", auditedClaims(cm, attested.getStatus().currentVersion, "taken").path("kty").asText());
        assertFalse(cm.getData().containsKey("owner"));
        assertEquals(List.of("/keys/taken/" + attested.getStatus().currentVersion + "/attestation"), List.copyOf(attestationRequests(hsm).keySet()));
    }

    @Test
    void aVersionAzureRefusesToAttestIsSaidAndTheKeyStaysReady() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        Controls.Fault refusing = emulator.controls().addFault(Controls.Fault.status("GET", hsm.getSpec().azureName,
                "/keys/refused/.*/attestation", 400, 0, -1));
        try {
            HsmKey key = hsmKey("refused", "hsm", HsmKeySpec.KeyType.EC_HSM);
            key.getSpec().attestation = true;
            apply(key);
            HsmKey said = awaitCondition(HsmKey.class, "refused", "Attested", "False", "AttestationUnavailable", WAIT);
            assertEquals("True", condition(said, "Ready").getStatus(), "the key itself is usable");
            String message = condition(said, "Attested").getMessage();
            assertTrue(message.contains(said.getStatus().currentVersion) && message.contains("400"), message);
            assertFalse(message.contains("Activity ID"), "no per-request IDs in a condition: " + message);
            ConfigMap cm = client.configMaps().inNamespace(ns).withName("refused-attestation").get();
            assertFalse(cm.getData().containsKey(said.getStatus().currentVersion + ".private-key-attestation"));
        } finally {
            emulator.controls().removeFault(refusing);
        }
        touch(HsmKey.class, "refused");
        HsmKey attested = awaitCondition(HsmKey.class, "refused", "Attested", "True", "Attested", WAIT);
        auditedClaims(client.configMaps().inNamespace(ns).withName("refused-attestation").get(), attested.getStatus().currentVersion,
                "refused");
    }

    private void await(java.util.concurrent.Callable<Boolean> done) {
        try {
            org.awaitility.Awaitility.await().atMost(WAIT).pollInterval(Duration.ofMillis(100)).until(done);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
    }
}
