package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Objects the API server stored under a looser CRD (an older schema, a cluster where a rule was not enforced) reach the
 * operator although today's CRD would refuse them. None of them may stop a watch or reach Azure.
 */
@QuarkusTest
class InvalidSpecIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final String HSM_KEYS = "hsmkeys.hsmoperator.io";

    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "quarkus.http.test-port", defaultValue = "8081")
    int readinessPort;

    @Test
    void objectsStoredUnderALooserCrdAreReportedAndTheWatchGoesOn() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        long mark = emulator.controls().lastSequence();
        Map<String, Map<String, Object>> bad = Map.of(
                "unknown-curve", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "EC-HSM", "curve", "P-999"),
                "small-rsa", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "RSA-HSM", "keySize", 1024),
                "size-as-text", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "oct-HSM", "keySize", "big"),
                "ec-encrypts", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "EC-HSM", "operations", List.of("encrypt")),
                "policy-typo", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "EC-HSM", "deletionPolicy", "Dlete"));
        CustomResourceDefinition today = client.apiextensions().v1().customResourceDefinitions().withName(HSM_KEYS).get();
        loosen(today);
        try {
            bad.forEach((name, spec) -> await().atMost(WAIT).ignoreExceptions().until(() -> store(name, spec) != null));
        } finally {
            restore(today);
        }
        apply(hsmKey("good", "hsm", HsmKeySpec.KeyType.EC_HSM));

        Map<String, String> named = Map.of("unknown-curve", "spec.curve: 'P-999' is not one of [P-256, P-384, P-521, P-256K]",
                "small-rsa", "RSA-HSM keySize must be 2048, 3072 or 4096",
                "size-as-text", "spec.keySize: 'big' is not a number",
                "ec-encrypts", "EC-HSM keys support only the sign and verify operations",
                "policy-typo", "spec.deletionPolicy: 'Dlete' is not one of [Retain, Disable, Delete]");
        named.forEach((name, why) -> {
            HsmKey k = awaitCondition(HsmKey.class, name, "Ready", "False", "InvalidSpec", WAIT);
            String message = condition(k, "Ready").getMessage();
            assertTrue(message.contains(why) && message.contains("Nothing was sent to Azure"), name + ": " + message);
            assertEquals("True", condition(k, "Stalled").getStatus());
        });
        awaitCondition(HsmKey.class, "good", "Ready", "True", null, WAIT);
        apply(hsmKey("after", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "after", "Ready", "True", null, WAIT);
        assertEquals(List.of(), journalSinceMark(e -> e.isWrite() && bad.keySet().stream().anyMatch(n -> e.path().contains("/keys/" + n + "/"))),
                "nothing was written to Azure for an invalid spec");
        assertTrue(!CapturedLogs.all().contains("will stop"), "no watch stopped");
        // The operator SDK's readiness check reports its informers: all of them still watch.
        java.net.http.HttpResponse<String> ready = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://localhost:" + readinessPort + "/q/health/ready")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("\"status\": \"UP\"") && ready.body().contains("hsmkey"), ready.body());

        // Deleting one whose deletion policy could not be read waits, touching nothing, until it is abandoned (or corrected).
        client.resources(HsmKey.class).inNamespace(ns).withName("policy-typo").delete();
        HsmKey blocked = awaitCondition(HsmKey.class, "policy-typo", "Ready", "False", "DeletionBlocked", WAIT);
        assertTrue(condition(blocked, "Ready").getMessage().contains("cannot tell what the deletion policy asks"),
                condition(blocked, "Ready").getMessage());
        client.resources(HsmKey.class).inNamespace(ns).withName("policy-typo").edit(k -> {
            k.getMetadata().setAnnotations(Map.of(io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION, "true"));
            return k;
        });
        await().atMost(WAIT).until(() -> get(HsmKey.class, "policy-typo") == null);

        // Corrected (a mutable field; the others are immutable: delete and re-create), an object converges like any other.
        HsmKey fixed = get(HsmKey.class, "ec-encrypts");
        fixed.getSpec().operations = List.of(HsmKeySpec.Operation.sign);
        update(fixed);
        awaitCondition(HsmKey.class, "ec-encrypts", "Ready", "True", null, WAIT);
    }

    private GenericKubernetesResource store(String name, Map<String, Object> spec) {
        GenericKubernetesResource r = new GenericKubernetesResourceBuilder().withApiVersion("hsmoperator.io/v1alpha1").withKind("HsmKey")
                .withNewMetadata().withName(name).withNamespace(ns).endMetadata().build();
        r.setAdditionalProperty("spec", spec);
        try {
            return client.genericKubernetesResources("hsmoperator.io/v1alpha1", "HsmKey").inNamespace(ns).resource(r).create();
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                return client.genericKubernetesResources("hsmoperator.io/v1alpha1", "HsmKey").inNamespace(ns).withName(name).get();
            }
            throw e;
        }
    }

    /** Today's HsmKey CRD with a spec schema that checks nothing, as an older or unenforced schema would. */
    private void loosen(CustomResourceDefinition today) {
        CustomResourceDefinition loose = Serialization.clone(today);
        JSONSchemaProps spec = loose.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().getProperties().get("spec");
        JSONSchemaProps anything = new JSONSchemaProps();
        anything.setType("object");
        anything.setXKubernetesPreserveUnknownFields(true);
        anything.setDescription(spec.getDescription());
        loose.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().getProperties().put("spec", anything);
        loose.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().setXKubernetesValidations(null);
        client.resource(loose).update();
    }

    private void restore(CustomResourceDefinition today) {
        await().atMost(WAIT).ignoreExceptions().until(() -> {
            CustomResourceDefinition now = client.apiextensions().v1().customResourceDefinitions().withName(HSM_KEYS).get();
            now.setSpec(today.getSpec());
            client.resource(now).update();
            return true;
        });
        // Today's schema is in force again once it refuses what the loose one took.
        await().atMost(WAIT).until(() -> {
            try {
                client.genericKubernetesResources("hsmoperator.io/v1alpha1", "HsmKey").inNamespace(ns).resource(
                        new GenericKubernetesResourceBuilder().withApiVersion("hsmoperator.io/v1alpha1").withKind("HsmKey")
                                .withNewMetadata().withName("probe").endMetadata()
                                .withAdditionalProperties(Map.of("spec", Map.of("hsmRef", Map.of("name", "hsm"), "keyType", "EC-HSM",
                                        "curve", "P-999"))).build()).dryRun().create();
                return false;
            } catch (KubernetesClientException e) {
                return e.getCode() == 422;
            }
        });
    }
}
