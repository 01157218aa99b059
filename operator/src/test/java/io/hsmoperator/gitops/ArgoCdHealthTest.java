package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.hsmoperator.api.Kinds;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.reconciler.Conditions;
import io.hsmoperator.reconciler.Reason;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Argo CD health checks of {@code config/argocd/}, run by Argo CD's own code ({@link GitOpsHealth}: its Lua VM and
 * its settings reading argocd-cm), against status fixtures shaped as the operator writes status; and the argocd-cm
 * snippet carries the same Lua as the files, and Argo CD reads the same health from it.
 */
class ArgoCdHealthTest {
    static final List<StatusFixtures.Case> CASES = StatusFixtures.CASES;

    /** All fixtures in one run of the tool; the tests below find their results kept. */
    @BeforeAll
    static void judgeEveryFixture() {
        GitOpsHealth.of(CASES.stream().map(StatusFixtures.Case::resource).toList());
    }

    /** The health check's file for a kind: config/argocd/hsmoperator.io_{kind}.lua. */
    static Path script(String kind) {
        return GitOpsHealth.argoCdDirectory().resolve("hsmoperator.io_" + kind + ".lua");
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void eachStateHasItsHealthAndTheReadyMessage(StatusFixtures.Case c) {
        JsonNode resource = c.resource();
        GitOpsHealth.Health health = GitOpsHealth.of(resource).argoCdScript();
        assertTrue(health != null && health.error() == null, c + ": " + health);
        assertEquals(c.argoCd(), health.status(), c + ": " + health.message());
        assertTrue(health.message() != null && !health.message().isBlank(), c + ": a health without a message");
        JsonNode ready = StatusFixtures.condition(resource, "Ready");
        long generation = resource.path("metadata").path("generation").asLong();
        boolean current = resource.path("status").path("observedGeneration").asLong() == generation;
        if (ready != null && current) {
            assertTrue(health.message().contains(ready.path("message").asText()), c + ": says the Ready message: " + health.message());
        } else if (ready != null) {
            assertTrue(health.message().contains("generation " + generation), c + ": says which generation waits: " + health.message());
        }
    }

    /**
     * What Argo CD shows is the script's health, except for a resource being deleted: Argo CD calls it Progressing
     * ("Pending deletion") before it runs any script (the README says so).
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void argoCdShowsTheScriptsHealthUnlessTheResourceIsBeingDeleted(StatusFixtures.Case c) {
        GitOpsHealth.Result result = GitOpsHealth.of(c.resource());
        if (c.resource().path("metadata").has("deletionTimestamp")) {
            assertEquals(new GitOpsHealth.Health("Progressing", "Pending deletion", null), result.argoCd(), c.toString());
        } else {
            assertEquals(result.argoCdScript(), result.argoCd(), c.toString());
        }
    }

    @Test
    void messagesLeadWithTheReason() {
        JsonNode invalid = new StatusFixtures.Case("HsmKey", "invalid-spec", null, null).resource();
        assertTrue(message(invalid).startsWith("InvalidSpec: The operator cannot read the spec: spec.curve"), message(invalid));
        JsonNode observed = new StatusFixtures.Case("ManagedHsm", "observe-only-ready", null, null).resource();
        assertTrue(message(observed).startsWith("ObserveOnly"), message(observed));
        JsonNode notActivated = new StatusFixtures.Case("ManagedHsm", "observe-only-not-activated", null, null).resource();
        assertEquals("ObserveOnly: The HSM is not activated; ObserveOnly never activates it.", message(notActivated));
    }

    private static String message(JsonNode resource) {
        return GitOpsHealth.of(resource).argoCd().message();
    }

    @Test
    void everyFixtureIsTestedAndEveryKindCoversEachHealth() {
        Set<String> listed = new TreeSet<>();
        CASES.forEach(c -> listed.add(c.toString()));
        Set<String> present = new TreeSet<>();
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String name = HasMetadata.getKind(kind);
            StatusFixtures.load(name).forEach(r -> {
                assertEquals(name, r.path("kind").asText(), StatusFixtures.file(name));
                present.add(name + "/" + r.path("metadata").path("name").asText());
            });
            Set<String> healths = new TreeSet<>();
            CASES.stream().filter(c -> c.kind().equals(name)).forEach(c -> healths.add(c.argoCd()));
            assertTrue(healths.containsAll(List.of("Progressing", "Healthy", "Degraded")), name + ": " + healths);
        }
        assertEquals(present, listed, "every fixture has an expectation and every expectation a fixture");
    }

    /**
     * The fixtures are what the operator writes: each status reads into its kind's status class with no unknown field, its
     * reasons are Reason values, and its Ready, Reconciling and Stalled conditions are exactly what the operator's one
     * condition helper writes for that outcome.
     */
    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void fixturesAreWhatTheOperatorWrites(StatusFixtures.Case c) throws Exception {
        JsonNode resource = c.resource();
        Class<? extends HasMetadata> type = Kinds.ALL.stream().filter(k -> HasMetadata.getKind(k).equals(c.kind())).findFirst().orElseThrow();
        ObjectMapper strict = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        // CustomResource<Spec, Status>: the kind's status class
        Class<?> statusType = (Class<?>) ((java.lang.reflect.ParameterizedType) type.getGenericSuperclass()).getActualTypeArguments()[1];
        JsonNode ready = StatusFixtures.condition(resource, "Ready");
        if (ready == null) {
            assertTrue(resource.path("status").isMissingNode(), c + ": conditions come with Ready");
            return;
        }
        strict.treeToValue(resource.path("status"), statusType);
        for (JsonNode condition : resource.path("status").path("conditions")) {
            Reason.valueOf(condition.path("reason").asText());
        }
        HsmStatus written = (HsmStatus) statusType.getDeclaredConstructor().newInstance();
        Reason reason = Reason.valueOf(ready.path("reason").asText());
        String message = ready.path("message").asText();
        long gen = ready.path("observedGeneration").asLong();
        Clock clock = Clock.fixed(Instant.parse("2026-11-30T12:00:00Z"), ZoneOffset.UTC);
        JsonNode stalled = StatusFixtures.condition(resource, "Stalled");
        switch (ready.path("status").asText()) {
            case "True" -> Conditions.ready(written, reason, message, gen, clock);
            case "Unknown" -> Conditions.unknown(written, gen, clock);
            default -> {
                if (stalled != null && "True".equals(stalled.path("status").asText())) {
                    Conditions.stalled(written, reason, message, gen, clock);
                } else {
                    Conditions.progressing(written, reason, message, gen, clock);
                }
            }
        }
        assertEquals(summary(wrap(strict.valueToTree(written))), summary(resource), c + ": Ready, Reconciling and Stalled as Conditions writes them");
    }

    private static Map<String, List<String>> summary(JsonNode resource) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (String type : List.of("Ready", "Reconciling", "Stalled")) {
            JsonNode c = StatusFixtures.condition(resource, type);
            out.put(type, c == null ? null : new ArrayList<>(List.of(c.path("status").asText(), c.path("reason").asText(),
                    c.path("message").asText(), c.path("observedGeneration").asText())));
        }
        return out;
    }

    private static JsonNode wrap(JsonNode status) {
        return new ObjectMapper().createObjectNode().set("status", status);
    }

    @Test
    void argocdCmCarriesTheSameLuaAsTheFiles() throws Exception {
        Path cmFile = GitOpsHealth.argoCdDirectory().resolve("argocd-cm.yaml");
        JsonNode cm = StatusFixtures.YAML.readTree(cmFile.toFile());
        assertEquals("ConfigMap", cm.path("kind").asText());
        assertEquals("argocd-cm", cm.path("metadata").path("name").asText());
        Set<String> expected = new TreeSet<>();
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String name = HasMetadata.getKind(kind);
            assertEquals("hsmoperator.io", HasMetadata.getGroup(kind));
            String key = "resource.customizations.health." + HasMetadata.getGroup(kind) + "_" + name;
            expected.add(key);
            String file = Files.readString(script(name));
            assertEquals(file, cm.path("data").path(key).asText(), key + " differs from " + script(name)
                    + ": copy the file into argocd-cm.yaml, indented by four spaces");
        }
        Set<String> keys = new TreeSet<>();
        cm.path("data").fieldNames().forEachRemaining(keys::add);
        assertEquals(expected, keys);
        try (var files = Files.list(GitOpsHealth.argoCdDirectory())) {
            assertEquals(Kinds.ALL.size(), files.filter(f -> f.toString().endsWith(".lua")).count(), "one script per kind");
        }
        // and Argo CD, reading argocd-cm.yaml with its own settings code, judges every fixture as from the files
        List<JsonNode> fixtures = CASES.stream().map(StatusFixtures.Case::resource).toList();
        assertEquals(GitOpsHealth.of(fixtures), GitOpsHealth.judge(fixtures, List.of("--argocd-cm", cmFile.toString())));
    }

    @Test
    void scriptsUseOnlyWhatArgoCdOffers() throws Exception {
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String lua = Files.readString(script(HasMetadata.getKind(kind)));
            // Argo CD's Lua is 5.1 (gopher-lua) with only its base, package and table libraries and a restricted os:
            // nothing newer, nothing that loads code or touches files
            for (String absent : List.of("io.", "os.", "require", "goto", "//", "load(", "dofile", "string.pack")) {
                assertFalse(lua.contains(absent), HasMetadata.getKind(kind) + " uses " + absent);
            }
        }
    }

    /**
     * The tool runs scripts with the libraries Argo CD opens for a health customization and no more: no string or math
     * library (a script calling string.format fails in Argo CD, Unknown with the error), and Lua 5.1.
     */
    @Test
    void theScriptsRunWithArgoCdsLibrariesOnly(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("example.com_Probe.lua"), """
                local hs = {}
                hs.status = "Healthy"
                hs.message = string.format("%s", obj.metadata.name) .. " " .. _VERSION .. " " .. tostring(math)
                return hs
                """);
        Files.writeString(dir.resolve("example.com_Plain.lua"), """
                return {status = "Healthy", message = _VERSION .. " " .. table.concat({"a", "b"}, ",")}
                """);
        List<JsonNode> objects = List.of(
                StatusFixtures.YAML.readTree("{apiVersion: example.com/v1, kind: Probe, metadata: {name: p}}"),
                StatusFixtures.YAML.readTree("{apiVersion: example.com/v1, kind: Plain, metadata: {name: q}}"));
        List<GitOpsHealth.Result> results = GitOpsHealth.judge(objects, List.of("--argocd-lua-dir", dir.toString()));
        GitOpsHealth.Health probe = results.get(0).argoCd();
        assertEquals("Unknown", probe.status(), probe.toString());
        assertTrue(probe.message().contains("attempt to index a non-table object(nil) with key 'format'"), probe.toString());
        assertEquals(new GitOpsHealth.Health("Healthy", "Lua 5.1 a,b", null), results.get(1).argoCd());
    }
}
