package io.hsmoperator.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hsmoperator.tools.GoTools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prometheus's own promtool (tools/promtool: github.com/prometheus/prometheus/cmd/promtool at the version its go.mod
 * pins), built from the Go module proxy on first use in a JVM through {@link GoTools}, and what the tests give it: the
 * chart's PrometheusRule, the Grafana dashboard, the metric names both use.
 */
public final class PromTool {
    static final ObjectMapper JSON = new ObjectMapper();
    /**
     * The gauges of each HsmBackup the alerts and the dashboard read: in a scrape only while an HsmBackup exists, so a
     * scrape of an operator that has none lacks them (HsmBackupReconcilerIT finds them in its own).
     */
    public static final Set<String> BACKUP_GAUGES = Set.of("hsm_operator_backup_last_success_timestamp_seconds",
            "hsm_operator_backup_interval_seconds", "hsm_operator_backup_created_timestamp_seconds", "hsm_operator_backup_duration_seconds");

    private PromTool() {
    }

    /** The built promtool; built (or found up to date) once per JVM. */
    public static Path binary() {
        return GoTools.binary("promtool");
    }

    /** Runs promtool with {@code args} in {@code dir}; never throws on a non-zero exit (the caller asserts). */
    public static GoTools.Run promtool(Path dir, String... args) {
        List<String> command = new ArrayList<>();
        command.add(binary().toString());
        command.addAll(List.of(args));
        return GoTools.run(command, dir, 5);
    }

    /** The chart's PrometheusRule (release hsm-operator in {@code namespace}, enabled, {@code values} added). */
    public static JsonNode prometheusRule(String namespace, Map<String, String> values) {
        Map<String, String> all = new java.util.HashMap<>(values);
        all.put("metrics.prometheusRule.enabled", "true");
        List<JsonNode> rules = Chart.render(namespace, all).stream().filter(d -> "PrometheusRule".equals(d.path("kind").asText())).toList();
        if (rules.size() != 1) {
            throw new IllegalStateException("expected one PrometheusRule, rendered " + rules.size());
        }
        return rules.get(0);
    }

    /** The rule file Prometheus would load: the PrometheusRule's spec ({@code groups:}), written as JSON (which is YAML). */
    public static Path writeRuleFile(JsonNode prometheusRule, Path file) {
        try {
            ObjectNode spec = (ObjectNode) prometheusRule.get("spec");
            Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(spec));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every alert's expression in a PrometheusRule, by alert name. */
    public static Map<String, String> expressions(JsonNode prometheusRule) {
        Map<String, String> exprs = new java.util.LinkedHashMap<>();
        for (JsonNode group : prometheusRule.at("/spec/groups")) {
            for (JsonNode rule : group.get("rules")) {
                exprs.put(rule.has("alert") ? rule.get("alert").asText() : rule.get("record").asText(), rule.get("expr").asText());
            }
        }
        return exprs;
    }

    /**
     * The alerts' expressions read from the template's text (helm/hsm-operator/templates/prometheusrule.yaml), template
     * actions removed: for a test without Helm (testbed's). Enough to name the metrics they read; PrometheusRuleTest checks
     * that these names are the rendered rules'.
     */
    public static List<String> templateExpressions() {
        try {
            List<String> exprs = new ArrayList<>();
            for (String line : Files.readAllLines(GoTools.root().resolve("helm/hsm-operator/templates/prometheusrule.yaml"))) {
                String t = line.trim();
                if (t.startsWith("expr:")) {
                    exprs.add(t.substring("expr:".length()).replaceAll("\\{\\{[^}]*\\}\\}", " ").trim());
                }
            }
            return exprs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every metric name the chart's alerts and the Grafana dashboard read. */
    public static Set<String> metricsUsed() {
        Set<String> names = new TreeSet<>();
        templateExpressions().forEach(e -> names.addAll(metricNames(e)));
        dashboardExpressions(dashboard()).values().forEach(l -> l.forEach(e -> names.addAll(metricNames(e))));
        return names;
    }

    /**
     * Runs {@code promtool test rules} with the chart's rules (default values, job="hsm-operator-metrics") on a real scrape
     * of the operator ({@code exposition}: every sample of a metric the rules read, held for an hour, with the job and
     * instance labels Prometheus adds): as scraped, no alert fires; with every {@code hsm_operator_hsm_ready} series at
     * 0 instead, HsmNotReady fires for each of them, with the scrape's labels and a summary naming the resource.
     */
    public static GoTools.Run testRulesOn(String exposition, Path dir) {
        JsonNode rule = prometheusRule("hsm-system", Map.of()).deepCopy();
        for (JsonNode group : rule.at("/spec/groups")) {
            for (JsonNode r : group.get("rules")) {
                ((ObjectNode) r.get("annotations")).remove("description");
            }
        }
        writeRuleFile(rule, dir.resolve("rules.yaml"));
        Set<String> used = new TreeSet<>();
        expressions(rule).values().forEach(e -> used.addAll(metricNames(e)));
        String extra = "job=\"hsm-operator-metrics\",instance=\"10.0.0.5:8080\"";
        Pattern sample = Pattern.compile("^([A-Za-z_:][A-Za-z0-9_:]*)(?:\\{(.*)\\})? (\\S+)(?: \\d+)?$");
        Pattern label = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
        StringBuilder asScraped = new StringBuilder();
        StringBuilder notReady = new StringBuilder();
        StringBuilder expected = new StringBuilder();
        for (String line : exposition.lines().toList()) {
            Matcher m = sample.matcher(line.trim());
            if (line.startsWith("#") || !m.matches() || !used.contains(m.group(1))) {
                continue;
            }
            String labels = m.group(2) == null || m.group(2).isBlank() ? extra : m.group(2).replaceAll(",$", "") + "," + extra;
            String series = m.group(1) + "{" + labels + "}";
            String value = m.group(3);
            String held = String.join(" ", java.util.Collections.nCopies(61, value));
            asScraped.append("      - series: ").append(quote(series)).append("\n        values: ").append(quote(held)).append("\n");
            boolean ready = m.group(1).equals("hsm_operator_hsm_ready");
            notReady.append("      - series: ").append(quote(series)).append("\n        values: ")
                    .append(quote(ready ? String.join(" ", java.util.Collections.nCopies(61, "0")) : held)).append("\n");
            if (ready) {
                Map<String, String> l = new java.util.TreeMap<>();
                Matcher lm = label.matcher(labels);
                while (lm.find()) {
                    l.put(lm.group(1), lm.group(2));
                }
                expected.append("          - exp_labels: {severity: critical");
                l.forEach((k, v) -> expected.append(", ").append(k).append(": ").append(quote(v)));
                expected.append("}\n            exp_annotations:\n              summary: ")
                        .append(quote("ManagedHsm " + l.get("namespace") + "/" + l.get("name") + " has not been Ready for 30m")).append("\n");
            }
        }
        if (expected.isEmpty()) {
            throw new IllegalStateException("the scrape has no hsm_operator_hsm_ready series:\n" + exposition);
        }
        StringBuilder file = new StringBuilder("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n");
        file.append("  - name: the operator's scrape, held for an hour\n    interval: 1m\n    input_series:\n").append(asScraped)
                .append("    alert_rule_test:\n");
        for (String alert : expressions(rule).keySet()) {
            file.append("      - eval_time: 60m\n        alertname: ").append(alert).append("\n        exp_alerts: []\n");
        }
        file.append("  - name: the same with its HSMs not Ready\n    interval: 1m\n    input_series:\n").append(notReady)
                .append("    alert_rule_test:\n      - eval_time: 60m\n        alertname: HsmNotReady\n        exp_alerts:\n").append(expected);
        try {
            Files.writeString(dir.resolve("scrape-test.yaml"), file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return promtool(dir, "test", "rules", "scrape-test.yaml");
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    /** The Grafana dashboard shipped in config/grafana/. */
    public static JsonNode dashboard() {
        try {
            return JSON.readTree(GoTools.root().resolve("config/grafana/hsm-operator.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every PromQL expression of the dashboard (panels' targets and templating queries), by panel title. */
    public static Map<String, List<String>> dashboardExpressions(JsonNode dashboard) {
        Map<String, List<String>> exprs = new java.util.LinkedHashMap<>();
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                if (target.hasNonNull("expr")) {
                    exprs.computeIfAbsent(panel.path("title").asText(), t -> new ArrayList<>()).add(target.get("expr").asText());
                }
            }
        }
        for (JsonNode variable : dashboard.at("/templating/list")) {
            JsonNode query = variable.path("query");
            String q = query.isObject() ? query.path("query").asText() : query.asText();
            if ("query".equals(variable.path("type").asText()) && !q.isBlank()) {
                exprs.computeIfAbsent("$" + variable.path("name").asText(), t -> new ArrayList<>()).add(q);
            }
        }
        return exprs;
    }

    private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "le");
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");
    private static final Pattern BRACES = Pattern.compile("\\{[^{}]*\\}");
    private static final Pattern RANGE = Pattern.compile("\\[[^\\]]*\\]");
    private static final Pattern GROUPING = Pattern.compile("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)");
    private static final Pattern IDENT = Pattern.compile("(?<![A-Za-z0-9_:$.])([A-Za-z_:][A-Za-z0-9_:]*)(\\s*\\()?");

    /**
     * The metric names a PromQL expression reads (Grafana's {@code label_values(metric, label)} too): identifiers that are
     * neither functions (followed by "("), keywords, label names (inside braces or grouping clauses), durations, numbers,
     * strings nor Grafana variables ($name). Enough for the expressions of the rules and the dashboard, which the tests
     * also give to promtool and Prometheus's own parser; not a PromQL parser.
     */
    public static Set<String> metricNames(String expr) {
        String s = STRING.matcher(expr).replaceAll("\"\"");
        s = s.replaceAll("label_values\\(\\s*([A-Za-z_:][A-Za-z0-9_:]*)\\s*(\\{[^}]*\\})?\\s*,\\s*[A-Za-z_][A-Za-z0-9_]*\\s*\\)", "$1");
        String before;
        do {
            before = s;
            s = BRACES.matcher(s).replaceAll(" ");
        } while (!s.equals(before));
        s = RANGE.matcher(s).replaceAll(" ");
        s = GROUPING.matcher(s).replaceAll(" ");
        Set<String> names = new TreeSet<>();
        Matcher m = IDENT.matcher(s);
        while (m.find()) {
            if (m.group(2) == null && !KEYWORDS.contains(m.group(1).toLowerCase(java.util.Locale.ROOT))) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    /** Metric names in Prometheus's exposition format ({@code name{labels} value} and {@code name value} lines). */
    public static Set<String> scrapedNames(String exposition) {
        Set<String> names = new TreeSet<>();
        exposition.lines().filter(l -> !l.isBlank() && !l.startsWith("#"))
                .forEach(l -> names.add(l.split("[{ ]", 2)[0]));
        return names;
    }
}
