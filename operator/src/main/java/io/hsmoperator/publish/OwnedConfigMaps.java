package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;

import java.util.Map;
import java.util.Objects;

/**
 * The ConfigMaps an HsmKey publishes: owned by it (so they go with it), labelled so the operator's informer sees them,
 * and never written over when another owner's ConfigMap holds the name.
 */
final class OwnedConfigMaps {
    private OwnedConfigMaps() {
    }

    /** Whether {@code existing} (non-null) is someone else's: it has no owner reference to {@code cr}. */
    static boolean foreign(ConfigMap existing, HsmKey cr) {
        return existing.getMetadata().getOwnerReferences().stream().noneMatch(o -> Objects.equals(o.getUid(), cr.getMetadata().getUid()));
    }

    /** Creates or replaces the data of ConfigMap {@code name} of {@code cr}'s namespace, unless it already holds {@code data}. */
    static void write(KubernetesClient kubernetes, HsmKey cr, String name, ConfigMap existing, Map<String, String> data) {
        if (existing != null && Objects.equals(existing.getData(), data)) {
            return;
        }
        String ns = cr.getMetadata().getNamespace();
        var owner = new OwnerReferenceBuilder().withApiVersion(cr.getApiVersion()).withKind(cr.getKind())
                .withName(cr.getMetadata().getName()).withUid(cr.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(false).build();
        if (existing == null) {
            kubernetes.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName(name).withNamespace(ns)
                    .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels(KeyPublisher.HSMKEY_LABEL, cr.getMetadata().getName())
                    .withOwnerReferences(owner).endMetadata().withData(data).build()).create();
        } else {
            kubernetes.configMaps().inNamespace(ns).withName(name).edit(c -> new ConfigMapBuilder(c).editMetadata()
                    .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels(KeyPublisher.HSMKEY_LABEL, cr.getMetadata().getName())
                    .withOwnerReferences(owner).endMetadata().withData(data).build());
        }
    }
}
