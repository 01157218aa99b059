package io.hsmoperator.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cel.bundle.Cel;
import dev.cel.bundle.CelFactory;
import dev.cel.common.CelValidationException;
import dev.cel.common.types.SimpleType;
import dev.cel.extensions.CelExtensions;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

import java.lang.reflect.AnnotatedParameterizedType;
import java.lang.reflect.AnnotatedType;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The rules the CRDs enforce at admission, enforced again by the operator before any Azure call, from the same source:
 * the annotations on the API classes that the CRD generator turns into the schema ({@code @Required}, {@code @Pattern},
 * {@code @Min}, {@code @Max}, {@code @Size}) and the CEL expressions of {@code @ValidationRule}, evaluated here with the
 * CEL library the API server's dialect comes from. Transition rules (those that read {@code oldSelf}) need the previous
 * object and are left to the reconcilers, which compare with what they manage. The operator cannot rely on admission:
 * objects stored before a rule tightened, a newer CRD beside an older operator, a cluster without CEL.
 */
public final class SpecRules {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The API server's CEL: standard macros and the strings extension (lowerAscii). */
    private static final Cel CEL = CelFactory.standardCelBuilder().setStandardMacros(CelStandardMacro.STANDARD_MACROS)
            .addCompilerLibraries(CelExtensions.strings()).addRuntimeLibraries(CelExtensions.strings())
            .addVar("self", SimpleType.DYN).build();
    private static final Map<String, CelRuntime.Program> PROGRAMS = new ConcurrentHashMap<>();

    private SpecRules() {
    }

    /** Every rule {@code spec} breaks, as "spec.field: why", in the order of the fields; empty when it keeps them all. */
    public static List<String> violations(Object spec) {
        if (spec == null) {
            return List.of("spec: Required value");
        }
        List<String> out = new ArrayList<>();
        check(spec, "spec", out);
        return out;
    }

    private static void check(Object value, String path, List<String> out) {
        Class<?> type = value.getClass();
        for (Field f : ApiFields.of(type)) {
            Object v;
            try {
                v = f.get(value);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            String at = path + "." + ApiFields.wireName(f);
            if (v == null) {
                if (f.isAnnotationPresent(Required.class)) {
                    out.add(at + ": Required value");
                }
                continue;
            }
            checkValue(v, f.getAnnotatedType(), at, out);
        }
        // Rules of the object itself come after its fields, as the API server reports them.
        for (ValidationRule rule : type.getAnnotationsByType(ValidationRule.class)) {
            if (rule.value().contains("oldSelf")) {
                continue;
            }
            if (!holds(rule.value(), JSON.convertValue(value, Map.class))) {
                out.add(path + ": " + (rule.message().isEmpty() ? "failed rule: " + rule.value() : rule.message()));
            }
        }
    }

    private static void checkValue(Object v, AnnotatedType annotated, String at, List<String> out) {
        Pattern pattern = annotated.getAnnotation(Pattern.class);
        if (pattern != null && v instanceof String s && !regex(pattern.value()).matcher(s).find()) {
            out.add(at + ": '" + s + "' should match '" + pattern.value() + "'");
        }
        Min min = annotated.getAnnotation(Min.class);
        if (min != null && v instanceof Number n && n.doubleValue() < min.value()) {
            out.add(at + ": " + n + " should be greater than or equal to " + format(min.value()));
        }
        Max max = annotated.getAnnotation(Max.class);
        if (max != null && v instanceof Number n && n.doubleValue() > max.value()) {
            out.add(at + ": " + n + " should be less than or equal to " + format(max.value()));
        }
        Size size = annotated.getAnnotation(Size.class);
        if (size != null) {
            long length = v instanceof String s ? s.codePointCount(0, s.length()) : v instanceof Collection<?> c ? c.size()
                    : v instanceof Map<?, ?> m ? m.size() : -1;
            if (length >= 0 && length < size.min()) {
                out.add(at + ": should have at least " + size.min() + (v instanceof String ? " characters" : " items"));
            }
            if (length >= 0 && length > size.max()) {
                out.add(at + ": should have at most " + size.max() + (v instanceof String ? " characters" : " items"));
            }
        }
        if (v instanceof List<?> list && annotated instanceof AnnotatedParameterizedType p) {
            AnnotatedType element = p.getAnnotatedActualTypeArguments()[0];
            for (int i = 0; i < list.size(); i++) {
                if (list.get(i) != null) {
                    checkValue(list.get(i), element, at + "[" + i + "]", out);
                }
            }
        } else if (ApiFields.isApiType(v.getClass()) && !v.getClass().isEnum()) {
            check(v, at, out);
        }
    }

    private static final Map<String, java.util.regex.Pattern> REGEXES = new ConcurrentHashMap<>();

    /**
     * A schema pattern as the API server reads it (Go's RE2, unanchored search): there a final {@code $} matches only at
     * the end of the text, where Java's would also match before a trailing newline.
     */
    private static java.util.regex.Pattern regex(String pattern) {
        return REGEXES.computeIfAbsent(pattern, p -> java.util.regex.Pattern.compile(
                p.endsWith("$") && !p.endsWith("\\$") ? p.substring(0, p.length() - 1) + "\\z" : p));
    }

    private static boolean holds(String expression, Object self) {
        CelRuntime.Program program = PROGRAMS.computeIfAbsent(expression, e -> {
            try {
                return CEL.createProgram(CEL.compile(e).getAst());
            } catch (CelValidationException | CelEvaluationException ex) {
                throw new IllegalStateException("The CRD rule '" + e + "' does not compile: " + ex.getMessage(), ex);
            }
        });
        try {
            return Boolean.TRUE.equals(program.eval(Map.of("self", cel(self))));
        } catch (CelEvaluationException e) {
            // The API server refuses an object whose rule cannot be evaluated (a missing field read without has()).
            return false;
        }
    }

    /** Property names the API server escapes in CEL (as __name__) because they are CEL keywords. */
    static final java.util.Set<String> CEL_KEYWORDS = java.util.Set.of("as", "break", "const", "continue", "else", "false", "for",
            "function", "if", "import", "in", "let", "loop", "package", "namespace", "null", "return", "true", "var", "void", "while");

    /** JSON as the API server's CEL sees it: integers are 64-bit, keyword property names escaped. */
    private static Object cel(Object json) {
        if (json instanceof Map<?, ?> m) {
            Map<String, Object> out = new java.util.LinkedHashMap<>();
            m.forEach((k, v) -> {
                if (v != null) {
                    String key = String.valueOf(k);
                    out.put(CEL_KEYWORDS.contains(key) ? "__" + key + "__" : key, cel(v));
                }
            });
            return out;
        }
        if (json instanceof List<?> l) {
            return l.stream().map(SpecRules::cel).toList();
        }
        if (json instanceof Integer || json instanceof Short || json instanceof Byte) {
            return ((Number) json).longValue();
        }
        return json;
    }

    private static String format(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }
}
