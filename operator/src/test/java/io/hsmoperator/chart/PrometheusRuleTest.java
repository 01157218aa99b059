package io.hsmoperator.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chart's PrometheusRule (metrics.prometheusRule) and the Grafana dashboard (config/grafana/hsm-operator.json),
 * checked by Prometheus's own promtool (tools/promtool): the rules load ({@code promtool check rules}), they fire as
 * operator/src/test/resources/prometheus/rules-test.yaml says over series with the operator's metric names and labels
 * ({@code promtool test rules}), the dashboard's expressions parse, and both read only metrics the operator exports.
 * testbed's HsmKeyReconcilerIT checks the same names against a real /q/metrics scrape.
 */
class PrometheusRuleTest {
    static final String NS = "hsm-system";

    /** The operator's timers (Prometheus: _seconds_count, _seconds_sum, _seconds_max) and counters (_total), by field. */
    static final Set<String> TIMERS = Set.of("RECONCILE", "AZURE_REQUESTS", "THROTTLE_WAITS");
    static final Set<String> COUNTERS = Set.of("FENCED_WRITES", "BACKUP_FAILURES", "RESTORES");

    @Test
    void theRenderedRulesPassPromtoolCheckRules(@TempDir Path dir) {
        for (Map<String, String> values : List.of(Map.<String, String>of(), Map.of("metrics.prometheusRule.keyRotationOverdueSeconds", "86400",
                "metrics.prometheusRule.hsmNotReadyFor", "2h", "metrics.prometheusRule.azureThrottledPerSecond", "2",
                "metrics.prometheusRule.reconcileErrorsPerSecond", "1", "metrics.prometheusRule.job", "hsm",
                "metrics.prometheusRule.keyExpiringWithinSeconds", "2592000", "metrics.prometheusRule.hsmKeysNearLimitRatio", "1"))) {
            JsonNode rule = PromTool.prometheusRule(NS, values);
            Path file = PromTool.writeRuleFile(rule, dir.resolve("rules.yaml"));
            io.hsmoperator.tools.GoTools.Run check = PromTool.promtool(dir, "check", "rules", "--lint=all", "--lint-fatal", file.getFileName().toString());
            assertEquals(0, check.exit(), values + ": promtool check rules:\n" + check.both());
            assertTrue(check.out().contains("SUCCESS: 11 rules found"), check.both());
        }
        Map<String, String> tuned = PromTool.expressions(PromTool.prometheusRule(NS, Map.of("metrics.prometheusRule.keyRotationOverdueSeconds",
                "86400", "metrics.prometheusRule.job", "hsm", "metrics.prometheusRule.azureThrottledPerSecond", "2")));
        assertEquals("-hsm_operator_key_next_rotation_seconds{job=\"hsm\"} > 86400", tuned.get("HsmKeyRotationOverdue"));
        assertTrue(tuned.get("HsmOperatorAzureThrottled").endsWith(" > 2"), tuned.get("HsmOperatorAzureThrottled"));
        // values.yaml's numbers reach the template as floats: a default of a million or more must not print as 1.2096e+06.
        assertEquals("hsm_operator_key_expiry_seconds{job=\"hsm\"} < 1209600", tuned.get("HsmKeyExpiringSoon"));
        assertEquals("hsm_operator_hsm_keys{job=\"hsm\"} / 5000 >= 0.9", tuned.get("HsmKeyCountNearLimit"));
    }

    @Test
    void theRulesFireAsTheirTestFileSays(@TempDir Path dir) throws IOException {
        JsonNode rule = PromTool.prometheusRule(NS, Map.of()).deepCopy();
        // Descriptions (long runbook text) are checked by check rules and the test below; summaries name the resource here.
        for (JsonNode group : rule.at("/spec/groups")) {
            for (JsonNode r : group.get("rules")) {
                ((ObjectNode) r.get("annotations")).remove("description");
            }
        }
        PromTool.writeRuleFile(rule, dir.resolve("rules.yaml"));
        try (InputStream in = getClass().getResourceAsStream("/prometheus/rules-test.yaml")) {
            assertNotNull(in, "prometheus/rules-test.yaml");
            Files.copy(in, dir.resolve("rules-test.yaml"));
        }
        io.hsmoperator.tools.GoTools.Run test = PromTool.promtool(dir, "test", "rules", "rules-test.yaml");
        assertEquals(0, test.exit(), "promtool test rules:\n" + test.both());
        assertTrue(test.both().contains("SUCCESS"), test.both());
        // Every alert has a case in the test file.
        String cases = Files.readString(dir.resolve("rules-test.yaml"));
        for (String alert : PromTool.expressions(rule).keySet()) {
            assertTrue(cases.contains("alertname: " + alert), alert + " has no case in rules-test.yaml");
        }
    }

    @Test
    void everyAlertWaitsHasASeverityAndSaysWhatToDo() {
        JsonNode rule = PromTool.prometheusRule(NS, Map.of("metrics.prometheusRule.labels.release", "prometheus"));
        assertEquals("prometheus", rule.at("/metadata/labels/release").asText(), "labels for the Prometheus's ruleSelector");
        assertEquals(NS, rule.at("/metadata/namespace").asText());
        int alerts = 0;
        for (JsonNode group : rule.at("/spec/groups")) {
            for (JsonNode r : group.get("rules")) {
                alerts++;
                String name = r.get("alert").asText();
                assertTrue(r.hasNonNull("for"), name + ": for");
                assertTrue(Set.of("warning", "critical").contains(r.at("/labels/severity").asText()), name + ": severity");
                String summary = r.at("/annotations/summary").asText();
                String description = r.at("/annotations/description").asText();
                assertFalse(summary.isBlank(), name);
                assertTrue(description.length() > 100, name + ": a description that says what to do");
                String expr = r.get("expr").asText();
                assertTrue(expr.contains("job=\"hsm-operator-metrics\""), name + " reads only the operator's series: " + expr);
                if (expr.contains("hsm_operator_key_") || expr.contains("hsm_operator_hsm_") || expr.contains("hsm_operator_backup_")) {
                    assertTrue(summary.contains("{{ $labels.namespace }}/{{ $labels.name }}"), name + " names the resource: " + summary);
                    assertTrue(description.contains("kubectl describe"), name + ": " + description);
                }
            }
        }
        assertEquals(11, alerts);
    }

    @Test
    void theDashboardsExpressionsParse(@TempDir Path dir) throws IOException {
        Map<String, List<String>> exprs = PromTool.dashboardExpressions(PromTool.dashboard());
        assertTrue(exprs.size() >= 12, exprs.keySet().toString());
        // Each expression as a recording rule, Grafana's variables replaced, so that Prometheus's parser reads it.
        ObjectNode file = PromTool.JSON.createObjectNode();
        ArrayNode rules = file.putArray("groups").addObject().put("name", "dashboard").putArray("rules");
        int i = 0;
        for (Map.Entry<String, List<String>> e : exprs.entrySet()) {
            for (String expr : e.getValue()) {
                String q = expr.replace("$__rate_interval", "2m").replace("$job", ".*").replace("$namespace", ".*");
                if (q.startsWith("label_values(")) {
                    q = q.substring("label_values(".length(), q.lastIndexOf(','));
                }
                rules.addObject().put("record", "dashboard:expr_" + i++).put("expr", q);
            }
        }
        Files.writeString(dir.resolve("dashboard.yaml"), PromTool.JSON.writeValueAsString(file));
        io.hsmoperator.tools.GoTools.Run check = PromTool.promtool(dir, "check", "rules", "dashboard.yaml");
        assertEquals(0, check.exit(), "the dashboard's expressions, through promtool check rules:\n" + check.both());
        // Panels the issue asks for.
        for (String title : List.of("Keys by age of their current version", "Time to next rotation", "Azure requests by operation and status",
                "Azure 429 and 5xx", "Reconcile latency (mean and max)", "HSM readiness")) {
            assertTrue(exprs.containsKey(title), title);
        }
    }

    @Test
    void theRulesAndTheDashboardReadOnlyMetricsTheOperatorExports() throws Exception {
        Set<String> exported = exportedNames();
        Set<String> used = PromTool.metricsUsed();
        assertTrue(used.containsAll(Set.of("hsm_operator_key_next_rotation_seconds", "hsm_operator_hsm_ready",
                "hsm_operator_azure_requests_seconds_count", "hsm_operator_reconcile_seconds_count")), used.toString());
        Set<String> unknown = new TreeSet<>(used);
        unknown.removeAll(exported);
        assertEquals(Set.of(), unknown, "metrics the operator does not export (exported: " + exported + ")");
        // The template's text gives the names the rendered rules read (testbed's IT reads the text, without Helm).
        Set<String> rendered = new TreeSet<>();
        PromTool.expressions(PromTool.prometheusRule(NS, Map.of())).values().forEach(e -> rendered.addAll(PromTool.metricNames(e)));
        Set<String> fromText = new TreeSet<>();
        PromTool.templateExpressions().forEach(e -> fromText.addAll(PromTool.metricNames(e)));
        assertEquals(rendered, fromText);
    }

    @Test
    void theRulesOnAScrapeStayQuietAndNameTheResourceWhenItFails(@TempDir Path dir) {
        // The format Micrometer serves (HsmKeyReconcilerIT gives the same method a real scrape).
        String scrape = """
                # HELP hsm_operator_hsm_ready 1 when the ManagedHsm is Ready, else 0
                # TYPE hsm_operator_hsm_ready gauge
                hsm_operator_hsm_ready{name="hsm",namespace="team-a"} 1.0
                hsm_operator_hsm_security_domain_missing{name="hsm",namespace="team-a"} 0.0
                hsm_operator_key_next_rotation_seconds{name="measured",namespace="team-a"} 2591999.5
                hsm_operator_key_next_rotation_seconds{name="static",namespace="team-a"} NaN
                hsm_operator_key_versions{name="measured",namespace="team-a"} 1.0
                hsm_operator_azure_requests_seconds_count{operation="POST /keys/{name}/create",service="hsm-keys",status="200"} 1
                hsm_operator_reconcile_seconds_count{kind="HsmKey",outcome="success"} 3
                process_start_time_seconds 1.765080000123E9
                """;
        io.hsmoperator.tools.GoTools.Run r = PromTool.testRulesOn(scrape, dir);
        assertEquals(0, r.exit(), "promtool test rules on a scrape:\n" + r.both());
    }

    @Test
    void metricNamesOfAnExpression() {
        assertEquals(Set.of("a_total", "b_seconds_sum"), PromTool.metricNames(
                "sum by (service, le) (rate(a_total{job=~\"$job\",status=~\"5..\"}[$__rate_interval])) / on(x) group_left max(b_seconds_sum offset 5m) > bool 3"));
        assertEquals(Set.of("hsm_operator_key_versions"), PromTool.metricNames("label_values(hsm_operator_key_versions{job=~\"$job\"}, namespace)"));
        assertEquals(Set.of("process_start_time_seconds"), PromTool.metricNames("changes(process_start_time_seconds{job=\"x\"}[30m]) > 0"));
    }

    /**
     * What the operator serves under its own names, from the metric classes' name constants (every constant must be
     * classed here as a timer, a counter or, in ResourceMetrics, a gauge), plus Micrometer's process_start_time_seconds
     * (Quarkus's process metrics).
     */
    static Set<String> exportedNames() throws Exception {
        Set<String> names = new TreeSet<>(Set.of("process_start_time_seconds"));
        for (String cls : List.of("io.hsmoperator.metrics.OperatorMetrics", "io.hsmoperator.metrics.ResourceMetrics")) {
            for (Field f : Class.forName(cls).getDeclaredFields()) {
                if (f.getType() != String.class || !Modifier.isStatic(f.getModifiers()) || !Modifier.isFinal(f.getModifiers())) {
                    continue;
                }
                f.setAccessible(true);
                String name = ((String) f.get(null)).replace('.', '_');
                if (TIMERS.contains(f.getName())) {
                    names.addAll(List.of(name + "_seconds_count", name + "_seconds_sum", name + "_seconds_max"));
                } else if (COUNTERS.contains(f.getName())) {
                    names.add(name + "_total");
                } else {
                    assertTrue(cls.endsWith("ResourceMetrics"), f + ": class it as a timer or a counter in this test");
                    names.add(name);
                }
            }
        }
        return names;
    }
}
