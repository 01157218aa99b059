package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.publish.KeyPublisher;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.filter.OnUpdateFilter;
import io.javaoperatorsdk.operator.processing.event.source.informer.TransformingItemStore;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;

import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The resources whose changes wake a reconcile besides its own: the referenced ManagedHsm (it became Ready, changed its
 * allowedNamespaces, was deleted), an HsmKey's published ConfigMap (changed or deleted by someone), and the HsmKey a
 * role assignment grants on. Each maps a changed resource to the resources that depend on it, from the informer caches,
 * so nothing waits for the resync.
 */
public final class RelatedResources {
    private RelatedResources() {
    }

    /**
     * Wakes every resource of the primary kind whose hsmRef names the ManagedHsm, when what such resources read of it
     * ({@code reads}: {@link HsmRefs#whatReferrersRead}, or more or less for a kind that reads more or less) changed.
     */
    public static <P extends HasMetadata> InformerEventSource<ManagedHsm, P> referencedHsm(EventSourceContext<P> context, Function<P, HsmReference> ref,
                                                                                 Function<ManagedHsm, ?> reads) {
        var config = InformerEventSourceConfiguration.from(ManagedHsm.class, context.getPrimaryResourceClass())
                .withName("managedhsm-of-" + context.getPrimaryResourceClass().getSimpleName().toLowerCase())
                .withWatchAllNamespaces()
                .withItemStore(new LeanItemStore<>())
                .withOnUpdateFilter((now, before) -> !Objects.equals(reads.apply(now), reads.apply(before)))
                .withSecondaryToPrimaryMapper(hsm -> context.getPrimaryCache().list(p -> refersTo(p, ref.apply(p), hsm))
                        .map(ResourceID::fromResource).collect(Collectors.toSet()))
                .build();
        return new InformerEventSource<>(config, context);
    }

    /** Wakes the HsmKey whose published ConfigMap was changed or deleted (only ConfigMaps the operator labelled). */
    public static InformerEventSource<ConfigMap, HsmKey> publishedConfigMap(EventSourceContext<HsmKey> context) {
        var config = InformerEventSourceConfiguration.from(ConfigMap.class, HsmKey.class)
                .withName("published-configmap")
                .withLabelSelector(KeyPublisher.HSMKEY_LABEL)
                .withItemStore(new LeanItemStore<>())
                .withNamespacesInheritedFromController()
                .withOnUpdateFilter((now, before) -> !Objects.equals(now.getData(), before.getData()))
                .withSecondaryToPrimaryMapper(cm -> Set.of(new ResourceID(cm.getMetadata().getLabels().get(KeyPublisher.HSMKEY_LABEL),
                        cm.getMetadata().getNamespace())))
                .build();
        return new InformerEventSource<>(config, context);
    }

    /** Wakes the role assignments of a namespace that grant the HsmRoleDefinition that changed (its Ready, its deletion). */
    public static EventSource<HsmRoleDefinition, HsmRoleAssignment> grantedRole(EventSourceContext<HsmRoleAssignment> context) {
        return referencedByAssignments(context, HsmRoleDefinition.class, "granted-hsmroledefinition",
                a -> a.roleDefinitionRef == null ? null : a.roleDefinitionRef.name, new LeanItemStore<>(), (now, before) -> true);
    }

    /**
     * Wakes the role assignments of a namespace that grant on the HsmKey that changed what they read of it (its Ready, its
     * spec, its deletion). They read the HsmKey itself from the API server; this informer keeps only an outline of each
     * (one per HsmKey in the namespaces watched, beside the HsmKey controller's own full copy).
     */
    public static EventSource<HsmKey, HsmRoleAssignment> grantedKey(EventSourceContext<HsmRoleAssignment> context) {
        return referencedByAssignments(context, HsmKey.class, "granted-hsmkey", a -> a.keyRef == null ? null : a.keyRef.name,
                new TransformingItemStore<>(RelatedResources::outline),
                (now, before) -> !Objects.equals(whatGrantsRead(now), whatGrantsRead(before)));
    }

    /** What a role assignment reads of the HsmKey it grants on: whether it is Ready, its spec, whether it is being deleted. */
    static java.util.List<Object> whatGrantsRead(HsmKey key) {
        return java.util.Arrays.asList(Conditions.isTrue(key.getStatus(), Conditions.READY), key.getMetadata().getGeneration(),
                key.getMetadata().getDeletionTimestamp() != null);
    }

    /** An HsmKey reduced to what {@link #whatGrantsRead} and the informer need. */
    static HsmKey outline(HsmKey key) {
        HsmKey outline = new HsmKey();
        ObjectMeta m = key.getMetadata();
        outline.setMetadata(new ObjectMetaBuilder().withName(m.getName()).withNamespace(m.getNamespace()).withUid(m.getUid())
                .withResourceVersion(m.getResourceVersion()).withGeneration(m.getGeneration())
                .withDeletionTimestamp(m.getDeletionTimestamp()).build());
        HsmKeyStatus status = new HsmKeyStatus();
        Condition ready = key.getStatus() == null || key.getStatus().conditions == null ? null : Conditions.get(key.getStatus(), Conditions.READY);
        if (ready != null) {
            status.conditions = new java.util.ArrayList<>(java.util.List.of(ready));
        }
        outline.setStatus(status);
        return outline;
    }

    /** Wakes the role assignments that name the changed resource of {@code kind} in their own namespace ({@code ref}). */
    private static <S extends HasMetadata> EventSource<S, HsmRoleAssignment> referencedByAssignments(
            EventSourceContext<HsmRoleAssignment> context, Class<S> kind, String name,
            Function<io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec, String> ref, ItemStore<S> store,
            OnUpdateFilter<S> changed) {
        var config = InformerEventSourceConfiguration.from(kind, HsmRoleAssignment.class)
                .withName(name)
                .withNamespacesInheritedFromController()
                .withItemStore(store)
                .withOnUpdateFilter(changed)
                .withSecondaryToPrimaryMapper(r -> context.getPrimaryCache().list(a -> a.getSpec() != null
                                && r.getMetadata().getName().equals(ref.apply(a.getSpec()))
                                && r.getMetadata().getNamespace().equals(a.getMetadata().getNamespace()))
                        .map(ResourceID::fromResource).collect(Collectors.toSet()))
                .build();
        return new InformerEventSource<>(config, context);
    }

    private static boolean refersTo(HasMetadata from, HsmReference ref, ManagedHsm hsm) {
        return ref != null && hsm.getMetadata().getName().equals(ref.name)
                && hsm.getMetadata().getNamespace().equals(ref.namespaceOr(from.getMetadata().getNamespace()));
    }
}
