package io.hsmoperator.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each sample validates against its CRD's OpenAPI schema; unknown fields count as errors (the server would drop them). */
class SamplesSchemaTest {
    private static final Map<String, JsonNode> CRDS = Crds.byKind();
    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4);

    /** As the API server validates: unknown fields are pruned, not refused. */
    static List<ValidationMessage> validateLoose(String kind, JsonNode spec) {
        return List.copyOf(FACTORY.getSchema(Crds.specSchema(CRDS.get(kind))).validate(spec));
    }

    static List<ValidationMessage> validate(String kind, JsonNode spec) {
        JsonSchema schema = FACTORY.getSchema(Crds.strict(Crds.specSchema(CRDS.get(kind))));
        return List.copyOf(schema.validate(spec));
    }

    @Test
    void thereIsOneSamplePerKind() {
        Set<String> kinds = Crds.samples().stream().map(s -> s.path("kind").asText()).filter(CRDS::containsKey).collect(Collectors.toSet());
        assertEquals(CRDS.keySet(), kinds);
        assertEquals(8, CRDS.size());
    }

    @TestFactory
    Stream<DynamicTest> samplesMatchTheirSchema() {
        return Crds.samples().stream().filter(s -> CRDS.containsKey(s.path("kind").asText()))
                .map(s -> DynamicTest.dynamicTest(s.path("kind").asText() + " " + s.path("metadata").path("name").asText(), () -> {
                    assertEquals("hsmoperator.io/v1alpha1", s.path("apiVersion").asText());
                    assertEquals(List.of(), validate(s.path("kind").asText(), s.get("spec")));
                }));
    }

    @Test
    void theValidatorRejectsWhatTheSchemaForbids() throws Exception {
        ObjectNode typo = Crds.sampleSpec("HsmKey");
        typo.put("keySise", 2048);
        assertFalse(validate("HsmKey", typo).isEmpty(), "an unknown field must be reported");
        ObjectNode badEnum = Crds.sampleSpec("HsmKey");
        badEnum.put("keyType", "RSA");
        assertFalse(validate("HsmKey", badEnum).isEmpty(), "a value outside the enum must be reported");
        ObjectNode badName = Crds.sampleSpec("ManagedHsm");
        badName.put("azureName", "-bad-");
        assertFalse(validate("ManagedHsm", badName).isEmpty(), "a name outside the pattern must be reported");
        ObjectNode retention = Crds.sampleSpec("ManagedHsm");
        retention.put("softDeleteRetentionDays", 120);
        assertTrue(validate("ManagedHsm", retention).stream().anyMatch(e -> e.toString().contains("softDeleteRetentionDays")));
        ObjectNode missing = Crds.sampleSpec("HsmRoleAssignment");
        missing.remove("principalId");
        assertFalse(validate("HsmRoleAssignment", missing).isEmpty(), "a missing required field must be reported");
    }
}
