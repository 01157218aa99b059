package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.hsmoperator.api.Kinds;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.reconciler.Conditions;
import io.hsmoperator.reconciler.Reason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.file.Files;
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
 * The Argo CD health checks of {@code config/argocd/}, run as Argo CD runs them (a Lua interpreter, {@code obj} the
 * resource, only Argo CD's libraries), against status fixtures shaped as the operator writes status; and the argocd-cm
 * snippet carries the same Lua as the files.
 */
class ArgoCdHealthTest {
    static final List<StatusFixtures.Case> CASES = StatusFixtures.CASES;

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void eachStateHasItsHealthAndTheReadyMessage(StatusFixtures.Case c) {
        JsonNode resource = c.resource();
        ArgoCdHealth.Result health = ArgoCdHealth.of(resource);
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

    @Test
    void messagesLeadWithTheReason() {
        JsonNode invalid = new StatusFixtures.Case("HsmKey", "invalid-spec", null, null).resource();
        assertTrue(ArgoCdHealth.of(invalid).message().startsWith("InvalidSpec: The operator cannot read the spec: spec.curve"),
                ArgoCdHealth.of(invalid).message());
        JsonNode observed = new StatusFixtures.Case("ManagedHsm", "observe-only-ready", null, null).resource();
        assertTrue(ArgoCdHealth.of(observed).message().startsWith("ObserveOnly"), ArgoCdHealth.of(observed).message());
        JsonNode notActivated = new StatusFixtures.Case("ManagedHsm", "observe-only-not-activated", null, null).resource();
        assertEquals("ObserveOnly: The HSM is not activated; ObserveOnly never activates it.", ArgoCdHealth.of(notActivated).message());
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
        JsonNode cm = StatusFixtures.YAML.readTree(ArgoCdHealth.DIRECTORY.resolve("argocd-cm.yaml").toFile());
        assertEquals("ConfigMap", cm.path("kind").asText());
        assertEquals("argocd-cm", cm.path("metadata").path("name").asText());
        Set<String> expected = new TreeSet<>();
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String name = HasMetadata.getKind(kind);
            assertEquals("hsmoperator.io", HasMetadata.getGroup(kind));
            String key = "resource.customizations.health." + HasMetadata.getGroup(kind) + "_" + name;
            expected.add(key);
            String file = Files.readString(ArgoCdHealth.script(name));
            assertEquals(file, cm.path("data").path(key).asText(), key + " differs from " + ArgoCdHealth.script(name)
                    + ": copy the file into argocd-cm.yaml, indented by four spaces");
        }
        Set<String> keys = new TreeSet<>();
        cm.path("data").fieldNames().forEachRemaining(keys::add);
        assertEquals(expected, keys);
        try (var files = Files.list(ArgoCdHealth.DIRECTORY)) {
            assertEquals(Kinds.ALL.size(), files.filter(f -> f.toString().endsWith(".lua")).count(), "one script per kind");
        }
    }

    @Test
    void scriptsUseOnlyWhatArgoCdOffers() throws Exception {
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String lua = Files.readString(ArgoCdHealth.script(HasMetadata.getKind(kind)));
            // Argo CD's Lua is 5.1 (gopher-lua) without io and with a restricted os; luaj is 5.2: keep to the common part
            for (String absent : List.of("io.", "os.", "require", "goto", "//", "load(", "dofile", "string.pack")) {
                assertFalse(lua.contains(absent), HasMetadata.getKind(kind) + " uses " + absent);
            }
        }
    }
}
