package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.HsmRefStatus;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.managedhsm.ManagedHsm;

/**
 * Resolves a reference to a ManagedHsm. Another namespace's HSM is usable only when it lists the referring namespace in
 * spec.allowedNamespaces; nothing is sent to Azure for a reference that is not permitted.
 */
public final class HsmRefs {
    /** A usable HSM, or why not: {@code waiting} problems resolve themselves, the others need a change. */
    public record Resolution(ManagedHsm hsm, String hsmUri, Reason problem, String message, boolean waiting) {
        public boolean ok() {
            return problem == null;
        }

        /** namespace/name of the resolved ManagedHsm. */
        String boundTo() {
            return hsm.getMetadata().getNamespace() + "/" + hsm.getMetadata().getName();
        }
    }

    private HsmRefs() {
    }

    /**
     * For a reference that cannot be used yet or at all: the condition that says why, and when to look again; null when
     * the HSM is usable.
     */
    public static java.time.Duration unusable(Resolution r, io.hsmoperator.api.common.HsmStatus st, Long gen, java.time.Clock clock,
                                              io.hsmoperator.azure.OperatorConfig.Reconcile timing) {
        if (r.ok()) {
            if (st instanceof HsmRefStatus bound) {
                bound.hsm = r.boundTo();
            }
            return null;
        }
        if (r.waiting()) {
            Conditions.progressing(st, Reason.WaitingForHsm, r.message(), gen, clock);
            return timing.poll();
        }
        Conditions.stalled(st, r.problem(), r.message() + " Nothing was sent to Azure.", gen, clock);
        return timing.resync();
    }

    /**
     * For deletion: the HSM this resource was made in (its status says), else the one its spec names. It need not be
     * Ready, only known (a ManagedHsm that is itself being deleted waits for the resources that reference it, and they
     * must still reach its HSM to revoke or delete what they made); it must still permit this namespace.
     */
    public static Resolution resolveMadeIn(KubernetesClient kubernetes, HasMetadata from, HsmReference ref) {
        String bound = boundOf(from);
        return resolve(kubernetes, from, bound == null ? ref : new HsmReference(bound.substring(bound.indexOf('/') + 1),
                bound.substring(0, bound.indexOf('/'))), false);
    }

    private static String boundOf(HasMetadata from) {
        return from instanceof CustomResource<?, ?> cr && cr.getStatus() instanceof HsmRefStatus st ? st.hsm : null;
    }

    /**
     * What a resolution and the resources that hold one read of an HSM: whom it admits, whether it is Ready, its URI and
     * resource ID, whether it is being deleted. Kept next to {@link #resolve}, so that the event source that wakes
     * referrers on a change of these (RelatedResources) follows what is read here.
     */
    static java.util.List<Object> whatReferrersRead(ManagedHsm hsm) {
        var st = hsm.getStatus();
        return java.util.Arrays.asList(hsm.getSpec() == null ? null : hsm.getSpec().allowedNamespaces, Conditions.isTrue(st, Conditions.READY),
                st == null ? null : st.hsmUri, st == null ? null : st.resourceId, hsm.getMetadata().getDeletionTimestamp() != null);
    }

    /** Whether resources of {@code namespace} may use the HSM: its own namespace, or one its spec.allowedNamespaces lists. */
    static boolean admits(ManagedHsm hsm, String namespace) {
        var allowed = hsm.getSpec() == null ? null : hsm.getSpec().allowedNamespaces;
        return hsm.getMetadata().getNamespace().equals(namespace) || allowed != null && (allowed.contains(namespace) || allowed.contains("*"));
    }

    public static Resolution resolve(KubernetesClient kubernetes, HasMetadata from, HsmReference ref) {
        return resolve(kubernetes, from, ref, true);
    }

    private static Resolution resolve(KubernetesClient kubernetes, HasMetadata from, HsmReference ref, boolean ready) {
        String own = from.getMetadata().getNamespace();
        String ns = ref.namespaceOr(own);
        // The CRD's rule lets hsmRef.namespace be written out or left out (CEL cannot see metadata.namespace): check here
        // that the reference still names the HSM this resource was made in.
        String bound = boundOf(from);
        if (bound != null && !bound.equals(ns + "/" + ref.name)) {
            return new Resolution(null, null, Reason.ImmutableFieldChanged, "hsmRef now names ManagedHsm " + ns + "/" + ref.name
                    + ", but this resource was made in " + bound + ". hsmRef is immutable: set it back, or create a new resource.", false);
        }
        ManagedHsm hsm = kubernetes.resources(ManagedHsm.class).inNamespace(ns).withName(ref.name).get();
        if (hsm == null) {
            return new Resolution(null, null, Reason.HsmNotFound, "ManagedHsm " + ns + "/" + ref.name + " does not exist (yet).", true);
        }
        if (!admits(hsm, own)) {
            return new Resolution(null, null, Reason.RefNotPermitted, "ManagedHsm " + ns + "/" + ref.name + " does not allow namespace "
                    + own + " to use it: its owners must add " + own + " to spec.allowedNamespaces.", false);
        }
        if ((ready && !Conditions.isTrue(hsm.getStatus(), Conditions.READY)) || hsm.getStatus() == null || hsm.getStatus().hsmUri == null) {
            return new Resolution(hsm, null, Reason.HsmNotReady, "Waiting for ManagedHsm " + ns + "/" + ref.name + " to be Ready.", true);
        }
        return new Resolution(hsm, hsm.getStatus().hsmUri, null, null, false);
    }
}
