package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status fixtures through kstatus's own {@code status.Compute} ({@link GitOpsHealth}; what Flux's {@code wait} and
 * {@code healthChecks} decide from): Current when Ready, InProgress while the operator works or has not seen the latest
 * generation, Failed when it is Stalled; and kstatus and the Argo CD checks agree wherever the operator has written a
 * status.
 */
class KStatusTest {
    static final List<StatusFixtures.Case> CASES = StatusFixtures.CASES;

    /** All fixtures in one run of the tool; the tests below find their results kept. */
    @BeforeAll
    static void judgeEveryFixture() {
        GitOpsHealth.of(CASES.stream().map(StatusFixtures.Case::resource).toList());
    }

    private static GitOpsHealth.Health kstatus(JsonNode resource) {
        GitOpsHealth.Health result = GitOpsHealth.of(resource).kstatus();
        assertTrue(result.error() == null, resource + ": " + result.error());
        return result;
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void eachStateHasItsKStatus(StatusFixtures.Case c) {
        GitOpsHealth.Health result = kstatus(c.resource());
        assertEquals(c.kstatus(), result.status(), c + ": " + result.message());
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void argoCdAndKStatusAgreeOnceTheOperatorHasWritten(StatusFixtures.Case c) {
        JsonNode resource = c.resource();
        if (resource.path("status").isMissingNode() || resource.path("metadata").has("deletionTimestamp")) {
            return; // the two documented differences: no status yet (kstatus: Current), deletion (kstatus: Terminating)
        }
        Map<String, String> kstatusOf = Map.of("Healthy", "Current", "Progressing", "InProgress", "Degraded", "Failed", "Suspended", "Failed");
        GitOpsHealth.Result result = GitOpsHealth.of(resource);
        assertEquals(kstatusOf.get(result.argoCdScript().status()), result.kstatus().status(), c.toString());
    }

    /** The Flux snippet waits for each kind, with the API version the CRDs serve and the names of config/samples/. */
    @Test
    void theFluxSnippetChecksEveryKind() throws Exception {
        JsonNode kustomization = StatusFixtures.YAML.readTree(java.nio.file.Path.of("../config/flux/kustomization.yaml").toFile());
        assertEquals("kustomize.toolkit.fluxcd.io/v1", kustomization.path("apiVersion").asText());
        java.util.Map<String, JsonNode> checked = new java.util.TreeMap<>();
        kustomization.path("spec").path("healthChecks").forEach(h -> checked.put(h.path("kind").asText(), h));
        assertEquals(io.hsmoperator.api.Kinds.ALL.size(), kustomization.path("spec").path("healthChecks").size());
        for (var kind : io.hsmoperator.api.Kinds.ALL) {
            String name = io.fabric8.kubernetes.api.model.HasMetadata.getKind(kind);
            JsonNode check = checked.get(name);
            assertTrue(check != null, name + " is not in healthChecks");
            assertEquals(io.fabric8.kubernetes.api.model.HasMetadata.getApiVersion(kind), check.path("apiVersion").asText(), name);
            JsonNode sample = StatusFixtures.YAML.readTree(java.nio.file.Path.of("../config/samples", name.toLowerCase(java.util.Locale.ROOT)
                    + ".yaml").toFile());
            assertEquals(sample.path("metadata").path("name").asText(), check.path("name").asText(), name);
        }
    }

    /** kstatus's rules as its code applies them to a kind it has no rules of its own for, as ours. */
    @Test
    void theRulesAsKStatusWritesThem() throws Exception {
        JsonNode gen = StatusFixtures.YAML.readTree("""
                kind: HsmKey
                metadata: {generation: 4}
                status:
                  observedGeneration: 3
                  conditions: [{type: Stalled, status: "True", message: stuck}]
                """);
        assertEquals(health("InProgress", "HsmKey generation is 4, but latest observed generation is 3"), kstatus(gen));
        JsonNode noObserved = StatusFixtures.YAML.readTree("""
                kind: HsmKey
                metadata: {generation: 4}
                status: {conditions: [{type: Stalled, status: "True", message: stuck}]}
                """);
        assertEquals(health("Failed", "stuck"), kstatus(noObserved), "no observedGeneration: the check is skipped");
        JsonNode firstWins = StatusFixtures.YAML.readTree("""
                kind: HsmKey
                status: {conditions: [{type: Stalled, status: "True", message: a}, {type: Reconciling, status: "True", message: b}]}
                """);
        assertEquals("Failed", kstatus(firstWins).status(), "the first of Reconciling/Stalled in list order decides");
        JsonNode readyUnknown = StatusFixtures.YAML.readTree("""
                kind: HsmKey
                status: {conditions: [{type: Ready, status: Unknown, message: looking}]}
                """);
        assertEquals(health("InProgress", "looking"), kstatus(readyUnknown));
        JsonNode other = StatusFixtures.YAML.readTree("""
                kind: HsmKey
                status: {conditions: [{type: RotationDue, status: "True"}]}
                """);
        assertEquals("Current", kstatus(other).status(), "no standard condition: Current");
        assertTrue(kstatus(StatusFixtures.YAML.readTree("kind: HsmKey\nmetadata: {deletionTimestamp: '2026-11-30T11:00:00Z'}"))
                .status().equals("Terminating"));
    }

    private static GitOpsHealth.Health health(String status, String message) {
        return new GitOpsHealth.Health(status, message, null);
    }
}
