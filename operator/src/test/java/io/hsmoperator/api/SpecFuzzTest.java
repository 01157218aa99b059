package io.hsmoperator.api;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.CustomResource;
import io.hsmoperator.reconciler.SpecReading;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random malformed specs of every kind, read the way the operator reads them. Whatever the input: reading never throws
 * (so a watch never stops), the operator's own check never throws, and every spec the API server would refuse (its
 * schema and its CEL rules, after its defaulting) the operator refuses too, before any Azure call.
 */
class SpecFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 20261130L);
    private static final int PER_KIND = 400;
    private static final ObjectMapper OPERATOR = SpecReading.lenient(new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false));
    private static final Map<String, JsonNode> CRDS = Crds.byKind();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    @TestFactory
    Stream<DynamicTest> malformedSpecsNeverEscapeTheOperator() {
        return Kinds.ALL.stream().map(k -> DynamicTest.dynamicTest(k.getSimpleName(), () -> fuzz(k.getSimpleName(), k)));
    }

    private static void fuzz(String kind, Class<?> type) throws Exception {
        Random random = new Random(SEED ^ kind.hashCode());
        JsonNode crd = CRDS.get(kind);
        JsonNode specSchema = Crds.specSchema(crd);
        int refusedByServer = 0;
        for (int i = 0; i < PER_KIND; i++) {
            ObjectNode spec = Crds.sampleSpec(kind);
            int mutations = 1 + random.nextInt(3);
            for (int m = 0; m < mutations; m++) {
                mutate(spec, specSchema, random);
            }
            pruneNulls(spec);
            Crds.applyDefaults(specSchema, spec);
            ObjectNode object = CrdCelRulesTest.object(kind, spec);
            ((ObjectNode) object.get("metadata")).put("uid", UUID.randomUUID().toString()).put("resourceVersion", "1");
            CustomResource<?, ?> read;
            List<String> operator = new ArrayList<>();
            try {
                read = (CustomResource<?, ?>) OPERATOR.treeToValue(object, type);
                operator.addAll(SpecReading.unreadable(read));
                operator.addAll(SpecRules.violations(read.getSpec()));
            } catch (Exception e) {
                fail("seed " + SEED + ", " + kind + " #" + i + ": the operator threw reading " + spec + ": " + e, e);
                return;
            }
            List<String> server = new ArrayList<>();
            SamplesSchemaTest.validateLoose(kind, spec).forEach(v -> server.add(v.toString()));
            try {
                server.addAll(CrdCelRulesTest.violations(Crds.rootSchema(crd), object, null));
            } catch (Exception e) {
                // A rule over a value of the wrong type: the API server's schema check has refused it already.
                server.add("CEL: " + e.getMessage());
            }
            if (!server.isEmpty()) {
                refusedByServer++;
                assertTrue(!operator.isEmpty(), "seed " + SEED + ", " + kind + " #" + i + ": the API server refuses " + spec + " (" + server
                        + ") but the operator would act on it");
            }
        }
        assertTrue(refusedByServer > PER_KIND / 4, kind + ": the fuzzer must produce mostly bad specs, it made " + refusedByServer);
    }

    /** The API server drops null values of fields that are not nullable before defaulting; none of ours is. */
    private static void pruneNulls(JsonNode node) {
        if (node instanceof ObjectNode o) {
            List<String> nulls = new ArrayList<>();
            o.fields().forEachRemaining(e -> {
                if (e.getValue().isNull()) {
                    nulls.add(e.getKey());
                } else {
                    pruneNulls(e.getValue());
                }
            });
            nulls.forEach(o::remove);
        } else if (node instanceof ArrayNode a) {
            a.forEach(SpecFuzzTest::pruneNulls);
        }
    }

    /** One random change: a field set to a value of the wrong kind, out of range, outside its enum or pattern, or removed. */
    private static void mutate(ObjectNode spec, JsonNode schema, Random random) {
        List<String> fields = new ArrayList<>();
        Iterator<String> names = schema.path("properties").fieldNames();
        names.forEachRemaining(fields::add);
        if (fields.isEmpty()) {
            return;
        }
        String field = fields.get(random.nextInt(fields.size()));
        JsonNode fieldSchema = schema.path("properties").path(field);
        if (fieldSchema.path("type").asText().equals("object") && fieldSchema.has("properties") && random.nextBoolean()) {
            JsonNode child = spec.get(field);
            ObjectNode nested = child instanceof ObjectNode o ? o : spec.putObject(field);
            mutate(nested, fieldSchema, random);
            return;
        }
        switch (random.nextInt(12)) {
            case 0 -> spec.remove(field);
            case 1 -> spec.put(field, "P-999");
            case 2 -> spec.put(field, -1);
            case 3 -> spec.put(field, 1024);
            case 4 -> spec.put(field, 1L << 40);
            case 5 -> spec.put(field, random.nextBoolean());
            case 6 -> spec.putNull(field);
            case 7 -> spec.putObject(field).put("unexpected", 1);
            case 8 -> {
                ArrayNode list = spec.putArray(field);
                list.add("encrypt").add(7).add(F.objectNode());
            }
            case 9 -> spec.put(field, "x".repeat(300));
            case 10 -> spec.put(field, "not a guid\n");
            default -> spec.put(field, "/subscriptions/x/resourceGroups/y");
        }
    }
}
