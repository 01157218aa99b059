package io.hsmoperator.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.kube.TestCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The committed CRDs, installed as they are in a real kube-apiserver: every case of {@link CrdCelRulesTest} is sent
 * through the API server (each refusal must carry its rule's message, each valid object or update must be accepted),
 * and no update that keeps an object's meaning is ever refused: each sample, and each kind's smallest valid object, is
 * re-applied with its defaults written out, with its optional fields removed, and with the fields that default to
 * another value (keyName, hsmRef.namespace, a role by name or by ID, ...) spelled out.
 */
class CrdAdmissionIT {
    private static final Map<String, JsonNode> CRDS = Crds.byKind();
    private static final AtomicInteger N = new AtomicInteger();
    private static final String PREFIX = "admission-" + UUID.randomUUID().toString().substring(0, 6) + "-";
    private static final List<String> NAMESPACES = new ArrayList<>();
    private static KubernetesClient client;

    @BeforeAll
    static void connect() {
        client = TestCluster.admin();
    }

    @AfterAll
    static void cleanUp() {
        NAMESPACES.forEach(ns -> client.namespaces().withName(ns).delete());
    }

    /**
     * A namespace of its own for each case, so that every object can carry its sample's metadata.name (rules such as
     * keyName's compare against it).
     */
    private static String namespace() {
        String ns = PREFIX + N.incrementAndGet();
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        NAMESPACES.add(ns);
        return ns;
    }

    private static String sampleName(String kind) {
        return Crds.samples().stream().filter(s -> kind.equals(s.path("kind").asText())).findFirst().orElseThrow()
                .path("metadata").path("name").asText();
    }

    @TestFactory
    Stream<DynamicTest> everyCelCaseThroughTheApiServer() {
        return CrdCelRulesTest.cases().stream().map(c -> DynamicTest.dynamicTest(c.kind() + ": " + c.name(), () -> run(c)));
    }

    private void run(CrdCelRulesTest.Case c) {
        String ns = namespace();
        String name = sampleName(c.kind());
        ObjectNode base = Crds.sampleSpec(c.kind());
        ObjectNode spec;
        if (c.old() != null) {
            ObjectNode old = base.deepCopy();
            c.old().accept(old);
            create(ns, c.kind(), name, old);
            spec = old.deepCopy();
        } else {
            spec = base.deepCopy();
        }
        c.change().accept(spec);
        try {
            if (c.old() != null) {
                replaceSpec(ns, c.kind(), name, spec);
            } else {
                create(ns, c.kind(), name, spec);
            }
            if (c.reject() != null) {
                fail("the API server accepted what must be refused with '" + c.reject() + "': " + spec);
            }
        } catch (KubernetesClientException e) {
            if (c.reject() == null) {
                fail("the API server refused a valid " + (c.old() != null ? "update" : "object") + ": " + e.getMessage());
            }
            assertEquals(422, e.getCode(), e.getMessage());
            assertTrue(e.getMessage().contains(c.reject()), "refused, but not with '" + c.reject() + "': " + e.getMessage());
        }
    }

    /** Each sample: created as written, then with every default explicit, then with every optional field removed. */
    @TestFactory
    Stream<DynamicTest> samplesSurviveEveryEquivalentSpelling() {
        return Crds.samples().stream().filter(s -> CRDS.containsKey(s.path("kind").asText())).map(sample -> {
            String kind = sample.path("kind").asText();
            return DynamicTest.dynamicTest(kind + " " + sample.path("metadata").path("name").asText(), () -> {
                ObjectNode written = (ObjectNode) sample.get("spec").deepCopy();
                ObjectNode explicit = withDefaults(kind, written);
                String name = sample.path("metadata").path("name").asText();
                equivalentUpdates(namespace(), kind, name, List.of(written, explicit, written, explicit));
                String ns = namespace();
                ObjectNode minimal = minimal(kind, written);
                ObjectNode spelled = spelledOut(kind, ns, name, withDefaults(kind, minimal));
                equivalentUpdates(ns, kind, name, List.of(minimal, spelled, minimal, withDefaults(kind, minimal), spelled));
            });
        });
    }

    /** A role by name, by GUID and by full role definition ID is the same role: switching between them is no change. */
    @Test
    void aRoleMayBeSpelledByNameOrById() {
        ObjectNode spec = Crds.sampleSpec("HsmRoleAssignment");
        String ns = namespace();
        String name = sampleName("HsmRoleAssignment");
        List<ObjectNode> spellings = new ArrayList<>();
        for (String role : List.of("Managed HSM Crypto User", "21dbd100-6940-42c2-9190-5d6cb909625b", "managed hsm crypto user",
                "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b",
                "/Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21DBD100-6940-42C2-9190-5D6CB909625B",
                "Managed HSM Crypto User")) {
            ObjectNode s = spec.deepCopy();
            s.put("role", role);
            spellings.add(s);
        }
        equivalentUpdates(ns, "HsmRoleAssignment", name, spellings);
        ObjectNode other = spec.deepCopy();
        other.put("role", "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3");
        KubernetesClientException refused = org.junit.jupiter.api.Assertions.assertThrows(KubernetesClientException.class,
                () -> replaceSpec(ns, "HsmRoleAssignment", name, other), "another role (Crypto Auditor by ID) is a change");
        assertTrue(refused.getMessage().contains("cannot change who, what or where"), refused.getMessage());
    }

    private void equivalentUpdates(String ns, String kind, String name, List<ObjectNode> specs) {
        create(ns, kind, name, specs.get(0));
        for (ObjectNode s : specs.subList(1, specs.size())) {
            try {
                replaceSpec(ns, kind, name, s);
            } catch (KubernetesClientException e) {
                fail(kind + " " + name + ": an update that keeps the meaning was refused: " + e.getMessage() + "\nspec: " + s);
            }
        }
    }

    // ---- building specs --------------------------------------------------------------------------------------------

    private static ObjectNode withDefaults(String kind, ObjectNode spec) {
        ObjectNode copy = spec.deepCopy();
        Crds.applyDefaults(Crds.specSchema(CRDS.get(kind)), copy);
        return copy;
    }

    /** Only the required fields of the sample (recursively), plus what a valid object of that kind cannot do without. */
    private static ObjectNode minimal(String kind, ObjectNode sample) {
        ObjectNode out = requiredOnly(Crds.specSchema(CRDS.get(kind)), sample);
        if (kind.equals("HsmRoleAssignment") && !out.has("scope") && !out.has("keyRef")) {
            out.set("keyRef", sample.get("keyRef").deepCopy());
        }
        if (kind.equals("HsmRoleAssignment")) {
            // one of a role and a role definition reference
            out.set(sample.has("role") ? "role" : "roleDefinitionRef", sample.get(sample.has("role") ? "role" : "roleDefinitionRef").deepCopy());
        }
        if (kind.equals("HsmRoleDefinition")) {
            // a role that permits nothing is refused
            out.set("dataActions", sample.get("dataActions").deepCopy());
        }
        if (kind.equals("HsmDiagnostics")) {
            out.set("logAnalyticsWorkspaceId", sample.get("logAnalyticsWorkspaceId").deepCopy());
        }
        if (kind.equals("HsmBackup") && !out.path("destination").has("sasTokenSecretRef")) {
            // optional in the schema, but one of it and useManagedIdentity is needed
            ((ObjectNode) out.get("destination")).set("sasTokenSecretRef", sample.get("destination").get("sasTokenSecretRef").deepCopy());
        }
        if (kind.equals("HsmRestore")) {
            // a restore of one key, or a confirmed full restore: never neither
            out.set("keyName", sample.get("keyName").deepCopy());
        }
        return out;
    }

    private static ObjectNode requiredOnly(JsonNode schema, JsonNode value) {
        ObjectNode out = Serialization.jsonMapper().createObjectNode();
        List<String> required = new ArrayList<>();
        schema.path("required").forEach(r -> required.add(r.asText()));
        for (String field : required) {
            JsonNode v = value.get(field);
            JsonNode fieldSchema = schema.path("properties").path(field);
            out.set(field, v != null && v.isObject() && fieldSchema.has("properties") ? requiredOnly(fieldSchema, v) : v.deepCopy());
        }
        return out;
    }

    /** The fields whose absence means another value, written out with that value. */
    private ObjectNode spelledOut(String kind, String ns, String name, ObjectNode spec) {
        ObjectNode s = spec.deepCopy();
        if (s.has("hsmRef")) {
            ((ObjectNode) s.get("hsmRef")).put("namespace", ns);
        }
        switch (kind) {
            case "HsmKey" -> {
                s.put("keyName", name);
                switch (s.path("keyType").asText()) {
                    case "RSA-HSM" -> s.put("keySize", 2048);
                    case "oct-HSM" -> s.put("keySize", 256);
                    default -> s.put("curve", "P-256");
                }
            }
            case "HsmRoleAssignment" -> {
                if (s.has("role")) {
                    String role = s.path("role").asText();
                    s.put("role", role.equals("Managed HSM Crypto User") ? "21dbd100-6940-42c2-9190-5d6cb909625b" : role);
                }
            }
            // every optional field of a role definition has its default in the schema (deletionPolicy Delete)
            case "HsmRoleDefinition" -> { }
            case "HsmDiagnostics" -> s.put("settingName", name);
            case "PrivateEndpoint" -> s.put("manualApproval", false);
            case "ManagedHsm", "HsmBackup", "HsmRestore" -> { }
            default -> throw new IllegalArgumentException(kind);
        }
        return s;
    }

    // ---- talking to the API server ---------------------------------------------------------------------------------

    private static ResourceDefinitionContext context(String kind) {
        JsonNode crd = CRDS.get(kind).path("spec");
        return new ResourceDefinitionContext.Builder().withGroup(crd.path("group").asText())
                .withVersion(crd.path("versions").get(0).path("name").asText()).withKind(kind)
                .withPlural(crd.path("names").path("plural").asText()).withNamespaced(true).build();
    }

    private static void create(String ns, String kind, String name, ObjectNode spec) {
        GenericKubernetesResource r = new GenericKubernetesResource();
        r.setApiVersion(CRDS.get(kind).path("spec").path("group").asText() + "/v1alpha1");
        r.setKind(kind);
        r.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        r.setAdditionalProperty("spec", Serialization.jsonMapper().convertValue(spec, Map.class));
        client.genericKubernetesResources(context(kind)).inNamespace(ns).resource(r).create();
    }

    private static void replaceSpec(String ns, String kind, String name, ObjectNode spec) {
        GenericKubernetesResource current = client.genericKubernetesResources(context(kind)).inNamespace(ns).withName(name).get();
        current.setAdditionalProperty("spec", Serialization.jsonMapper().convertValue(spec, Map.class));
        client.genericKubernetesResources(context(kind)).inNamespace(ns).resource(current).update();
    }
}
