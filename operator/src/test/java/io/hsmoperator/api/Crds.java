package io.hsmoperator.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** The committed CRDs and samples, read the way the API server reads them. */
public final class Crds {
    public static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    public static final Path CRDS = Path.of("../crds");
    public static final Path SAMPLES = Path.of("../config", "samples");

    private Crds() {
    }

    /** CRDs by kind. */
    public static Map<String, JsonNode> byKind() {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(CRDS)) {
            for (Path f : files.sorted().toList()) {
                JsonNode crd = YAML.readTree(f.toFile());
                out.put(crd.path("spec").path("names").path("kind").asText(), crd);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static JsonNode rootSchema(JsonNode crd) {
        return crd.path("spec").path("versions").get(0).path("schema").path("openAPIV3Schema");
    }

    public static JsonNode specSchema(JsonNode crd) {
        return crd.path("spec").path("versions").get(0).path("schema").path("openAPIV3Schema").path("properties").path("spec");
    }

    /** Every document of every sample file. */
    public static List<JsonNode> samples() {
        List<JsonNode> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(SAMPLES)) {
            for (Path f : files.sorted().toList()) {
                try (var parser = YAML.getFactory().createParser(f.toFile())) {
                    Iterator<JsonNode> docs = YAML.readValues(parser, JsonNode.class);
                    docs.forEachRemaining(out::add);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static ObjectNode sampleSpec(String kind) {
        return (ObjectNode) samples().stream().filter(s -> kind.equals(s.path("kind").asText())).findFirst()
                .orElseThrow(() -> new AssertionError("no sample of kind " + kind)).get("spec").deepCopy();
    }

    /** Applies schema defaults the way the API server does before validation. */
    public static void applyDefaults(JsonNode schema, JsonNode value) {
        if (value == null || !value.isObject()) {
            if (value != null && value.isArray() && schema.has("items")) {
                value.forEach(v -> applyDefaults(schema.get("items"), v));
            }
            return;
        }
        ObjectNode obj = (ObjectNode) value;
        schema.path("properties").fields().forEachRemaining(p -> {
            JsonNode child = obj.get(p.getKey());
            if (child == null && p.getValue().has("default")) {
                obj.set(p.getKey(), p.getValue().get("default").deepCopy());
            } else if (child != null) {
                applyDefaults(p.getValue(), child);
            }
        });
    }

    /** A copy of the schema where objects without additionalProperties reject unknown fields (the server would prune them). */
    public static JsonNode strict(JsonNode schema) {
        JsonNode copy = schema.deepCopy();
        tighten(copy);
        return copy;
    }

    private static void tighten(JsonNode node) {
        if (node.isObject()) {
            ObjectNode o = (ObjectNode) node;
            if ("object".equals(o.path("type").asText()) && o.has("properties") && !o.has("additionalProperties")
                    && !o.path("x-kubernetes-preserve-unknown-fields").asBoolean(false)) {
                o.put("additionalProperties", false);
            }
            o.fields().forEachRemaining(e -> tighten(e.getValue()));
        } else if (node.isArray()) {
            ((ArrayNode) node).forEach(Crds::tighten);
        }
    }
}
