package io.hsmoperator.api;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

/** How the API classes appear on the wire: their properties and names, as Jackson and the CRD generator see them. */
public final class ApiFields {
    private ApiFields() {
    }

    /** Whether {@code type} is one of the API's own classes (a kind, a spec, a nested object or enum). */
    public static boolean isApiType(Class<?> type) {
        return type.getPackageName().startsWith(ApiFields.class.getPackageName());
    }

    /** The public instance fields of {@code type} and its superclasses: the properties of an API class. */
    public static List<Field> of(Class<?> type) {
        List<Field> out = new ArrayList<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers()) && Modifier.isPublic(f.getModifiers())) {
                    out.add(f);
                }
            }
        }
        return out;
    }

    /** The property's name in JSON. */
    public static String wireName(Field f) {
        JsonProperty p = f.getAnnotation(JsonProperty.class);
        return p != null && !p.value().isEmpty() ? p.value() : f.getName();
    }

    /** An enum constant's value in JSON (RSA-HSM for RSA_HSM). */
    public static String wireName(Class<?> type, Enum<?> constant) {
        try {
            JsonProperty p = type.getField(constant.name()).getAnnotation(JsonProperty.class);
            return p != null && !p.value().isEmpty() ? p.value() : constant.name();
        } catch (NoSuchFieldException e) {
            return constant.name();
        }
    }
}
