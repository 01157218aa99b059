package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;

import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Where a reconciler reads the ManagedHsm its resources reference (namespace, name): the copy held by the informer that
 * wakes them when the HSM changes, or the API server while that informer has not seen it (just created, or the informer
 * still starting). One GET per reconcile of every referrer would cost the API server as much as the reconciles do.
 */
final class HsmLookup implements BiFunction<String, String, ManagedHsm> {
    private final KubernetesClient kubernetes;
    private volatile InformerEventSource<ManagedHsm, ?> informer;

    HsmLookup(KubernetesClient kubernetes) {
        this.kubernetes = kubernetes;
    }

    /**
     * The event source that wakes the referrers when what they read of their HSM changed ({@code reads}; see
     * {@link RelatedResources#referencedHsm}), whose cache this reads.
     */
    <P extends HasMetadata> InformerEventSource<ManagedHsm, P> watch(EventSourceContext<P> context, Function<P, HsmReference> ref,
                                                                     Function<ManagedHsm, ?> reads) {
        InformerEventSource<ManagedHsm, P> source = RelatedResources.referencedHsm(context, ref, reads);
        informer = source;
        return source;
    }

    @Override
    public ManagedHsm apply(String namespace, String name) {
        InformerEventSource<ManagedHsm, ?> cache = informer;
        return (cache == null ? java.util.Optional.<ManagedHsm>empty() : cache.get(new ResourceID(name, namespace)))
                .orElseGet(() -> kubernetes.resources(ManagedHsm.class).inNamespace(namespace).withName(name).get());
    }
}
