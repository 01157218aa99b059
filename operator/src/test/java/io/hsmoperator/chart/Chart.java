package io.hsmoperator.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The chart in helm/hsm-operator rendered by the Helm inside helm-java, as `helm template` would. */
public final class Chart {
    public static final Path DIR = Path.of("../helm", "hsm-operator");
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private Chart() {
    }

    /** The objects of release hsm-operator in {@code namespace} with {@code values} given as --set pairs. */
    public static List<JsonNode> render(String namespace, Map<String, String> values) {
        TemplateCommand template = new Helm(DIR).template().withName("hsm-operator").withNamespace(namespace);
        values.forEach(template::set);
        String yaml = template.call();
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNext()) {
                JsonNode d = it.next();
                if (d != null && !d.isNull() && !d.isMissingNode() && d.size() > 0) {
                    docs.add(d);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("helm template rendered YAML that does not parse: " + e + "\n" + yaml, e);
        }
        if (docs.isEmpty()) {
            throw new IllegalStateException("helm template rendered nothing");
        }
        return docs;
    }
}
