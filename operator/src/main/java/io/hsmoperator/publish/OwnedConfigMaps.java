package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
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

    /** What {@link #write} did: the ConfigMap's resourceVersion as written or found, or {@code foreign}: left untouched. */
    record Written(String resourceVersion, boolean foreign) {
    }

    /**
     * Creates or replaces the data of ConfigMap {@code name} of {@code cr}'s namespace, unless it already holds {@code data}.
     * {@code existing}: the ConfigMap as last seen, or null when none was seen; then it is created, and read only when the
     * name turns out to be taken (by a ConfigMap the informer does not show: someone else's, or one made moments ago).
     * {@code own} is told of what was written.
     */
    static Written write(KubernetesClient kubernetes, HsmKey cr, String name, ConfigMap existing, Map<String, String> data, OwnWrites own) {
        String ns = cr.getMetadata().getNamespace();
        var owner = new OwnerReferenceBuilder().withApiVersion(cr.getApiVersion()).withKind(cr.getKind())
                .withName(cr.getMetadata().getName()).withUid(cr.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(false).build();
        if (existing == null) {
            try {
                ConfigMap created = kubernetes.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName(name)
                        .withNamespace(ns).addToLabels("app.kubernetes.io/managed-by", "hsm-operator")
                        .addToLabels(KeyPublisher.HSMKEY_LABEL, cr.getMetadata().getName()).withOwnerReferences(owner).endMetadata()
                        .withData(data).build()).create();
                own.wrote(created, null);
                return new Written(created.getMetadata().getResourceVersion(), false);
            } catch (KubernetesClientException e) {
                existing = e.getCode() == 409 ? kubernetes.configMaps().inNamespace(ns).withName(name).get() : null;
                if (existing == null) {
                    throw e;
                }
            }
            if (foreign(existing, cr)) {
                return new Written(null, true);
            }
        }
        if (Objects.equals(existing.getData(), data)) {
            return new Written(existing.getMetadata().getResourceVersion(), false);
        }
        ConfigMap edited = kubernetes.configMaps().inNamespace(ns).withName(name).edit(c -> new ConfigMapBuilder(c).editMetadata()
                .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels(KeyPublisher.HSMKEY_LABEL, cr.getMetadata().getName())
                .withOwnerReferences(owner).endMetadata().withData(data).build());
        own.wrote(edited, existing);
        return new Written(edited.getMetadata().getResourceVersion(), false);
    }
}
