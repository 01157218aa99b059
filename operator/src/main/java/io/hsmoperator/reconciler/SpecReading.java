package io.hsmoperator.reconciler;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.deser.ResolvableDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.hsmoperator.api.ApiFields;
import io.quarkus.kubernetes.client.KubernetesClientObjectMapperCustomizer;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads the operator's resources leniently. A value the model cannot hold (an enum constant such as curve P-999, a
 * number written as text, a number too large, a string where an object belongs) used to throw inside the informer's
 * watch, which stops that watch for good: the operator kept running, deaf to every resource of the kind. Admission
 * cannot be relied on to keep such objects out (objects stored before a CRD tightened a rule, an older operator beside a
 * newer CRD). Each of our kinds is now read as a tree first; every spec value that does not have exactly the type the
 * model declares (no coercion: 1 is not true, true is not "true") is dropped and remembered against the object's
 * version, and the shared reconcile reports the object {@code InvalidSpec}, naming the field, before anything is sent
 * to Azure.
 */
@Singleton
public class SpecReading implements KubernetesClientObjectMapperCustomizer {
    /**
     * Problems by object version ("uid@resourceVersion"): a reconcile may hold an older version than the one read last,
     * and must see that version's problems. Bounded: the oldest versions are forgotten first.
     */
    private static final int REMEMBERED = 10_000;
    private static final Map<String, List<String>> BY_VERSION = java.util.Collections.synchronizedMap(
            new java.util.LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, List<String>> eldest) {
                    return size() > REMEMBERED;
                }
            });

    @Override
    public void customize(ObjectMapper mapper) {
        lenient(mapper);
    }

    /** Makes {@code mapper} read the operator's kinds leniently (the Kubernetes client's mapper in the operator). */
    public static ObjectMapper lenient(ObjectMapper mapper) {
        return mapper.registerModule(new SimpleModule("hsm-operator-lenient-specs").setDeserializerModifier(new BeanDeserializerModifier() {
            @Override
            public JsonDeserializer<?> modifyDeserializer(DeserializationConfig config, BeanDescription bean, JsonDeserializer<?> deserializer) {
                Class<?> type = bean.getBeanClass();
                return CustomResource.class.isAssignableFrom(type) && ApiFields.isApiType(type) ? new Lenient(deserializer, type) : deserializer;
            }
        }));
    }

    /** What could not be read in this version of the resource's spec, as "spec.field: why"; empty when all of it was read. */
    public static List<String> unreadable(HasMetadata r) {
        if (r.getMetadata() == null || r.getMetadata().getUid() == null) {
            return List.of();
        }
        List<String> fields = BY_VERSION.get(r.getMetadata().getUid() + "@" + r.getMetadata().getResourceVersion());
        return fields == null ? List.of() : fields;
    }

    /** Reads the object as a tree, drops what the spec's model cannot hold, then lets the usual deserializer read the rest. */
    private static final class Lenient extends JsonDeserializer<Object> implements ResolvableDeserializer {
        private final JsonDeserializer<?> delegate;
        private final Type specType;
        private final Type statusType;

        Lenient(JsonDeserializer<?> delegate, Class<?> kind) {
            this.delegate = delegate;
            Type[] types = ((ParameterizedType) kind.getGenericSuperclass()).getActualTypeArguments();
            this.specType = types[0];
            this.statusType = types[1];
        }

        @Override
        public void resolve(DeserializationContext ctxt) throws com.fasterxml.jackson.databind.JsonMappingException {
            if (delegate instanceof ResolvableDeserializer r) {
                r.resolve(ctxt);
            }
        }

        @Override
        public Object deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            JsonNode tree = ctxt.readTree(p);
            if (tree instanceof ObjectNode object && object.get("spec") != null) {
                List<String> problems = new ArrayList<>();
                if (!fits(object.get("spec"), specType, "spec", problems)) {
                    object.remove("spec");
                }
                JsonNode meta = object.path("metadata");
                if (!problems.isEmpty() && meta.hasNonNull("uid")) {
                    BY_VERSION.put(meta.get("uid").asText() + "@" + meta.path("resourceVersion").asText(""), List.copyOf(problems));
                }
            }
            // The status is the operator's own record: a value it cannot hold (written by someone else) is dropped, and the
            // next status write replaces it; it must not stop the watch either.
            if (tree instanceof ObjectNode object && object.get("status") != null && !fits(object.get("status"), statusType, "status",
                    new ArrayList<>())) {
                object.remove("status");
            }
            JsonParser tp = tree.traverse(p.getCodec());
            tp.nextToken();
            return delegate.deserialize(tp, ctxt);
        }
    }

    /**
     * Whether {@code node} holds exactly what {@code type} declares; inside objects, fields that do not are removed (and
     * named in {@code problems}), so that the rest can be read.
     */
    private static boolean fits(JsonNode node, Type type, String path, List<String> problems) {
        if (node.isNull()) {
            return true;
        }
        if (type instanceof ParameterizedType pt && pt.getRawType() instanceof Class<?> raw) {
            if (List.class.isAssignableFrom(raw)) {
                if (!node.isArray()) {
                    return refuse(problems, path, describe(node) + " where a list belongs");
                }
                boolean all = true;
                for (int i = 0; i < node.size(); i++) {
                    all &= fits(node.get(i), pt.getActualTypeArguments()[0], path + "[" + i + "]", problems);
                }
                return all;
            }
            if (Map.class.isAssignableFrom(raw)) {
                if (!node.isObject()) {
                    return refuse(problems, path, describe(node) + " where an object belongs");
                }
                boolean all = true;
                for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    all &= fits(e.getValue(), pt.getActualTypeArguments()[1], path + "." + e.getKey(), problems);
                }
                return all;
            }
            return fits(node, raw, path, problems);
        }
        if (!(type instanceof Class<?> c)) {
            return true;
        }
        if (c == String.class) {
            return node.isTextual() || refuse(problems, path, describe(node) + " where a string belongs");
        }
        if (c == Boolean.class || c == boolean.class) {
            return node.isBoolean() || refuse(problems, path, describe(node) + " where true or false belongs");
        }
        if (c == Integer.class || c == int.class || c == Long.class || c == long.class) {
            if (node.isTextual()) {
                return refuse(problems, path, "'" + node.asText() + "' is not a number");
            }
            if (!node.isIntegralNumber()) {
                return refuse(problems, path, describe(node) + " where a whole number belongs");
            }
            boolean fitsInt = node.canConvertToInt();
            return fitsInt || c == Long.class || c == long.class || refuse(problems, path, node.asText() + " is too large");
        }
        if (c.isEnum()) {
            List<String> names = Arrays.stream(c.getEnumConstants()).map(k -> ApiFields.wireName(c, (Enum<?>) k)).toList();
            if (!node.isTextual()) {
                return refuse(problems, path, describe(node) + " where one of " + names + " belongs");
            }
            return names.contains(node.asText()) || refuse(problems, path, "'" + node.asText() + "' is not one of " + names);
        }
        if (ApiFields.isApiType(c)) {
            if (!node.isObject()) {
                return refuse(problems, path, describe(node) + " where an object belongs");
            }
            ObjectNode object = (ObjectNode) node;
            for (Field f : ApiFields.of(c)) {
                String name = ApiFields.wireName(f);
                JsonNode child = object.get(name);
                if (child != null && !fits(child, f.getGenericType(), path + "." + name, problems)) {
                    object.remove(name);
                }
            }
            return true;
        }
        // A type from the Kubernetes model (a label selector): it must read on its own.
        try {
            JSON.treeToValue(node, c);
            return true;
        } catch (Exception e) {
            return refuse(problems, path, "not a valid " + c.getSimpleName());
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private static boolean refuse(List<String> problems, String path, String why) {
        problems.add(path + ": " + why);
        return false;
    }

    private static String describe(JsonNode node) {
        if (node.isObject()) {
            return "an object";
        }
        if (node.isArray()) {
            return "a list";
        }
        if (node.isTextual()) {
            return "a string";
        }
        if (node.isBoolean()) {
            return node.asText();
        }
        if (node.isNumber()) {
            return "the number " + node.asText();
        }
        return node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    }
}
