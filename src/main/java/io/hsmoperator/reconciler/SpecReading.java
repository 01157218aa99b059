package io.hsmoperator.reconciler;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.deser.ValueInstantiator;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.quarkus.kubernetes.client.KubernetesClientObjectMapperCustomizer;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads the operator's resources leniently. A value the model does not know (an enum constant such as curve P-999, a
 * number written as text, a string where an object belongs) used to throw inside the informer's watch, which stops that
 * watch for good: the operator kept running, deaf to every resource of the kind. Admission cannot be relied on to keep
 * such objects out (objects stored before a CRD tightened a rule, an older operator beside a newer CRD). Now the value
 * is read as unset and remembered against the object's version, and the shared reconcile reports the object
 * {@code InvalidSpec}, naming the field, before anything is sent to Azure.
 */
@Singleton
public class SpecReading implements KubernetesClientObjectMapperCustomizer {
    private record Unreadable(String resourceVersion, List<String> fields) {
    }

    private static final Map<String, Unreadable> BY_UID = new ConcurrentHashMap<>();

    @Override
    public void customize(ObjectMapper mapper) {
        lenient(mapper);
    }

    /** Makes {@code mapper} read the operator's kinds leniently (the Kubernetes client's mapper in the operator). */
    public static ObjectMapper lenient(ObjectMapper mapper) {
        return mapper.addHandler(new Handler());
    }

    /** What could not be read in this version of the resource's spec, as "spec.field: why"; empty when all of it was read. */
    public static List<String> unreadable(HasMetadata r) {
        String uid = r.getMetadata() == null ? null : r.getMetadata().getUid();
        Unreadable u = uid == null ? null : BY_UID.get(uid);
        if (u == null) {
            return List.of();
        }
        if (!u.resourceVersion().equals(r.getMetadata().getResourceVersion())) {
            BY_UID.remove(uid, u);
            return List.of();
        }
        return u.fields();
    }

    private static final class Handler extends DeserializationProblemHandler {
        @Override
        public Object handleWeirdStringValue(DeserializationContext ctxt, Class<?> targetType, String value, String failureMsg) {
            return remember(ctxt.getParser(), "'" + value + "' is not " + expected(targetType)) ? null : NOT_HANDLED;
        }

        @Override
        public Object handleWeirdNumberValue(DeserializationContext ctxt, Class<?> targetType, Number value, String failureMsg) {
            return remember(ctxt.getParser(), value + " is not " + expected(targetType)) ? null : NOT_HANDLED;
        }

        @Override
        public Object handleUnexpectedToken(DeserializationContext ctxt, JavaType targetType, JsonToken t, JsonParser p,
                                            String failureMsg) throws IOException {
            if (!remember(p, describe(t) + " where " + expected(targetType.getRawClass()) + " belongs")) {
                return NOT_HANDLED;
            }
            p.skipChildren();
            return null;
        }

        @Override
        public Object handleMissingInstantiator(DeserializationContext ctxt, Class<?> instClass, ValueInstantiator valueInsta,
                                                JsonParser p, String msg) throws IOException {
            if (!remember(p, describe(p.currentToken()) + " where " + expected(instClass) + " belongs")) {
                return NOT_HANDLED;
            }
            p.skipChildren();
            return null;
        }
    }

    /** Records a problem at the parser's position if it lies in the spec of one of our resources; false otherwise. */
    private static boolean remember(JsonParser p, String why) {
        JsonStreamContext at = p.getParsingContext();
        CustomResource<?, ?> owner = null;
        for (JsonStreamContext c = at; c != null; c = c.getParent()) {
            if (c.getCurrentValue() instanceof CustomResource<?, ?> cr && cr.getClass().getPackageName().startsWith("io.hsmoperator.api")) {
                owner = cr;
                break;
            }
        }
        String path = at.pathAsPointer().toString();
        int spec = path.indexOf("/spec");
        if (owner == null || spec < 0 || owner.getMetadata() == null || owner.getMetadata().getUid() == null) {
            return false;
        }
        String field = path.substring(spec + 1).replace('/', '.');
        String uid = owner.getMetadata().getUid();
        String version = String.valueOf(owner.getMetadata().getResourceVersion());
        BY_UID.compute(uid, (k, u) -> {
            List<String> fields = new ArrayList<>(u == null || !u.resourceVersion().equals(version) ? List.of() : u.fields());
            String entry = field + ": " + why;
            if (!fields.contains(entry)) {
                fields.add(entry);
            }
            return new Unreadable(version, List.copyOf(fields));
        });
        return true;
    }

    private static String expected(Class<?> type) {
        if (type.isEnum()) {
            return "one of " + Arrays.stream(type.getEnumConstants()).map(c -> wireName(type, (Enum<?>) c)).toList();
        }
        if (Number.class.isAssignableFrom(type) || type.isPrimitive()) {
            return "a number";
        }
        if (type == Boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        return "an object";
    }

    private static String wireName(Class<?> type, Enum<?> constant) {
        try {
            JsonProperty p = type.getField(constant.name()).getAnnotation(JsonProperty.class);
            return p != null && !p.value().isEmpty() ? p.value() : constant.name();
        } catch (NoSuchFieldException e) {
            return constant.name();
        }
    }

    private static String describe(JsonToken t) {
        if (t == null) {
            return "nothing";
        }
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "a list";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "true or false";
            case VALUE_NULL -> "null";
            default -> t.asString() == null ? t.name() : t.asString();
        };
    }
}
