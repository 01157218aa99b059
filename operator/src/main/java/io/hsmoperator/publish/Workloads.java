package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import jakarta.inject.Singleton;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Workloads that read a key ID from environment variables do not see a changed ConfigMap. For those named by
 * spec.publish.restartWorkloads, the operator writes the key's current version into the pod template's annotations, so
 * Kubernetes rolls them once per new version (and once when they are first matched).
 */
@Singleton
public class Workloads {
    static final String ANNOTATION_PREFIX = "key-version.hsmoperator.io/";
    private final KubernetesClient kubernetes;

    public Workloads(KubernetesClient kubernetes) {
        this.kubernetes = kubernetes;
    }

    /** Sets the annotation where it differs; returns the workloads changed, as Kind/name. */
    public List<String> follow(HsmKey cr, LabelSelector selector, String version) {
        String ns = cr.getMetadata().getNamespace();
        String key = annotation(cr.getMetadata().getName());
        List<String> rolled = new ArrayList<>();
        for (Deployment d : kubernetes.apps().deployments().inNamespace(ns).withLabelSelector(selector).list().getItems()) {
            if (!version.equals(current(d.getSpec().getTemplate(), key))) {
                kubernetes.apps().deployments().inNamespace(ns).withName(d.getMetadata().getName()).edit(x -> new DeploymentBuilder(x)
                        .editSpec().editTemplate().editOrNewMetadata().addToAnnotations(key, version).endMetadata().endTemplate().endSpec().build());
                rolled.add("Deployment/" + d.getMetadata().getName());
            }
        }
        for (StatefulSet s : kubernetes.apps().statefulSets().inNamespace(ns).withLabelSelector(selector).list().getItems()) {
            if (!version.equals(current(s.getSpec().getTemplate(), key))) {
                kubernetes.apps().statefulSets().inNamespace(ns).withName(s.getMetadata().getName()).edit(x -> new StatefulSetBuilder(x)
                        .editSpec().editTemplate().editOrNewMetadata().addToAnnotations(key, version).endMetadata().endTemplate().endSpec().build());
                rolled.add("StatefulSet/" + s.getMetadata().getName());
            }
        }
        return rolled;
    }

    /** key-version.hsmoperator.io/{HsmKey name}; names longer than an annotation name allows are shortened with a hash. */
    public static String annotation(String hsmKeyName) {
        if (hsmKeyName.length() <= 63) {
            return ANNOTATION_PREFIX + hsmKeyName;
        }
        try {
            String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(hsmKeyName.getBytes(StandardCharsets.UTF_8)));
            return ANNOTATION_PREFIX + hsmKeyName.substring(0, 54).replaceAll("[^a-z0-9]+$", "") + "-" + hash.substring(0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String current(PodTemplateSpec template, String key) {
        return template == null || template.getMetadata() == null || template.getMetadata().getAnnotations() == null ? null
                : template.getMetadata().getAnnotations().get(key);
    }
}
