package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.event.source.informer.TransformingItemStore;

/**
 * The informer caches keep what reconciles read, not an object's history: metadata.managedFields (server-side apply's
 * record of who set which field) and kubectl's last-applied-configuration copy are dropped before an object is stored.
 * Together they are often as large as the rest of the object, and every kind is cached at least once, HsmKeys and
 * ManagedHsms more than once. Nothing in the operator reads either; writes never send a cached object's
 * managedFields back.
 */
public class LeanItemStore<R extends HasMetadata> extends TransformingItemStore<R> {
    static final String LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

    public LeanItemStore() {
        super(LeanItemStore::lean);
    }

    static <R extends HasMetadata> R lean(R r) {
        r.getMetadata().setManagedFields(null);
        if (r.getMetadata().getAnnotations() != null && r.getMetadata().getAnnotations().containsKey(LAST_APPLIED)) {
            var annotations = new java.util.LinkedHashMap<>(r.getMetadata().getAnnotations());
            annotations.remove(LAST_APPLIED);
            r.getMetadata().setAnnotations(annotations);
        }
        return r;
    }
}
