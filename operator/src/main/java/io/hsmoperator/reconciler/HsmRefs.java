package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.common.HsmRefStatus;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec.HsmWideGrant;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;

/**
 * Resolves a reference to a ManagedHsm. Another namespace's HSM is usable for that namespace's own keys (and grants on
 * them) only when the HSM lists it in spec.allowedNamespaces, and for an HSM-wide kind (diagnostic settings, private
 * endpoints, grants at / or /keys) only when the HSM's owners granted that kind to it in spec.allowedHsmWideKinds. An
 * HSM that is ObserveOnly is written to by no kind. Nothing is sent to Azure for a reference that is not permitted.
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
            // What it waits for (the ManagedHsm made, Ready, with its URI) wakes it through the ManagedHsm's informer (every
            // kind watches the HSMs it references), so it is not polled: thousands of keys of an HSM that is gone or not Ready
            // would each be reconciled every poll interval. The resync is the safety net.
            Conditions.progressing(st, Reason.WaitingForHsm, r.message(), gen, clock);
            return timing.resync();
        }
        Conditions.stalled(st, r.problem(), r.message() + " Nothing was sent to Azure.", gen, clock);
        return timing.resync();
    }

    /**
     * For deletion: the HSM this resource was made in (its status says), else the one its spec names. It need not be
     * Ready, only known (a ManagedHsm that is itself being deleted waits for the resources that reference it, and they
     * must still reach its HSM to revoke or delete what they made); it must still permit this namespace.
     */
    public static Resolution resolveMadeIn(HasMetadata from, HsmReference ref, java.util.function.BiFunction<String, String, ManagedHsm> lookup) {
        String bound = boundOf(from);
        return resolve(from, bound == null ? ref : new HsmReference(bound.substring(bound.indexOf('/') + 1),
                bound.substring(0, bound.indexOf('/'))), false, lookup);
    }

    private static String boundOf(HasMetadata from) {
        return from instanceof CustomResource<?, ?> cr && cr.getStatus() instanceof HsmRefStatus st ? st.hsm : null;
    }

    /**
     * What a resolution and the resources that hold one read of an HSM: whom it admits, whether it is Ready, its URI and
     * resource ID, whether it is being deleted, its regions. Kept next to {@link #resolve}, so that the event source that
     * wakes referrers on a change of these (RelatedResources) follows what is read here. Anything else (a pending
     * operation, a private endpoint connection, a condition's wording) wakes none of them: with 5,000 keys in one HSM,
     * each such change would be 5,000 reconciles.
     */
    static java.util.List<Object> whatReferrersRead(ManagedHsm hsm) {
        return usability(hsm, hsm.getStatus() == null ? null : hsm.getStatus().regionSummary);
    }

    /**
     * What an HsmKey reads of its HSM: the same, but of the extended regions only the hosts it publishes, those Azure
     * finished adding; a region's progress before that wakes no key (each step would wake every key of the HSM).
     */
    static java.util.List<Object> whatKeysRead(ManagedHsm hsm) {
        return usability(hsm, io.hsmoperator.publish.KeyPublisher.regionUris(hsm));
    }

    private static java.util.List<Object> usability(ManagedHsm hsm, Object regions) {
        var st = hsm.getStatus();
        return java.util.Arrays.asList(hsm.getSpec() == null ? null : hsm.getSpec().allowedNamespaces,
                hsm.getSpec() == null ? null : hsm.getSpec().allowedHsmWideKinds,
                hsm.getSpec() == null ? null : hsm.getSpec().management, Conditions.isTrue(st, Conditions.READY),
                st == null ? null : st.hsmUri, st == null ? null : st.resourceId, hsm.getMetadata().getDeletionTimestamp() != null,
                regions);
    }

    /** For a kind that reads all of its HSM (a private endpoint follows each region's state): every change. */
    static Object everything(ManagedHsm hsm) {
        return hsm.getMetadata().getResourceVersion();
    }

    /** The HSM-wide kind a referrer declares, or null when it concerns only its own keys (an HsmKey, a grant with keyRef). */
    static HsmWideGrant.Kind hsmWide(HasMetadata referrer) {
        if (referrer instanceof HsmDiagnostics) {
            return HsmWideGrant.Kind.HsmDiagnostics;
        }
        if (referrer instanceof PrivateEndpoint) {
            return HsmWideGrant.Kind.PrivateEndpoint;
        }
        if (referrer instanceof HsmBackup) {
            return HsmWideGrant.Kind.HsmBackup;
        }
        if (referrer instanceof HsmRestore) {
            return HsmWideGrant.Kind.HsmRestore;
        }
        if (referrer instanceof HsmRoleAssignment a && a.getSpec() != null && a.getSpec().scope != null) {
            return HsmWideGrant.Kind.HsmRoleAssignment;
        }
        return null;
    }

    /** Whether the HSM lets resources of {@code namespace} use it for their own keys: its own namespace, or allowedNamespaces. */
    static boolean admitsKeys(ManagedHsm hsm, String namespace) {
        var allowed = hsm.getSpec() == null ? null : hsm.getSpec().allowedNamespaces;
        return hsm.getMetadata().getNamespace().equals(namespace) || allowed != null && (allowed.contains(namespace) || allowed.contains("*"));
    }

    /** Whether the HSM admits {@code referrer}: its own namespace's always; another's as allowedNamespaces or allowedHsmWideKinds say. */
    static boolean admits(ManagedHsm hsm, HasMetadata referrer) {
        String namespace = referrer.getMetadata().getNamespace();
        HsmWideGrant.Kind kind = hsmWide(referrer);
        if (kind == null || hsm.getMetadata().getNamespace().equals(namespace)) {
            return admitsKeys(hsm, namespace);
        }
        var grants = hsm.getSpec() == null ? null : hsm.getSpec().allowedHsmWideKinds;
        return grants != null && grants.stream().anyMatch(g -> (namespace.equals(g.namespace) || "*".equals(g.namespace))
                && g.kinds != null && g.kinds.contains(kind));
    }

    private static String refusal(ManagedHsm hsm, HasMetadata referrer) {
        String own = referrer.getMetadata().getNamespace();
        String name = hsm.getMetadata().getNamespace() + "/" + hsm.getMetadata().getName();
        HsmWideGrant.Kind kind = hsmWide(referrer);
        if (kind == null) {
            return "ManagedHsm " + name + " does not allow namespace " + own + " to use it: its owners must add " + own
                    + " to spec.allowedNamespaces.";
        }
        String what = switch (kind) {
            case HsmDiagnostics -> "A diagnostic setting (where the HSM's audit logs go)";
            case PrivateEndpoint -> "A private endpoint to the HSM";
            case HsmRoleAssignment -> "A grant at / or /keys (every key of the HSM)";
            case HsmBackup -> "A full backup (a copy of every key of the HSM)";
            case HsmRestore -> "A restore (it writes keys into the HSM; a full one replaces every key)";
        };
        return what + " is HSM-wide: ManagedHsm " + name + (admitsKeys(hsm, own) ? " lets namespace " + own + " use it for its own keys "
                + "only, and" : "") + " does not grant namespace " + own + " " + kind + ". Its owners must add {namespace: " + own
                + ", kinds: [" + kind + "]} to spec.allowedHsmWideKinds.";
    }

    /**
     * For deletion from an HSM that is ObserveOnly: nothing is written to it, and the resource is let go with a Warning
     * that says what stays in Azure (waiting instead would hold up the HSM's own deletion, which waits for it).
     */
    public static boolean releasedUntouched(Resolution r, Events events, HasMetadata cr) {
        if (r.problem() != Reason.ObserveOnly) {
            return false;
        }
        events.warning(cr, "Retained", "Deleted " + cr.getKind() + " " + cr.getMetadata().getName() + " without touching Azure: "
                + r.message() + " Whatever it made there stays.");
        return true;
    }

    /** The HSM {@code ref} names, found by {@code lookup} (namespace, name), if {@code from} may use it and it is Ready. */
    public static Resolution resolve(HasMetadata from, HsmReference ref, java.util.function.BiFunction<String, String, ManagedHsm> lookup) {
        return resolve(from, ref, true, lookup);
    }

    private static Resolution resolve(HasMetadata from, HsmReference ref, boolean ready,
                                      java.util.function.BiFunction<String, String, ManagedHsm> lookup) {
        String own = from.getMetadata().getNamespace();
        String ns = ref.namespaceOr(own);
        // The CRD's rule lets hsmRef.namespace be written out or left out (CEL cannot see metadata.namespace): check here
        // that the reference still names the HSM this resource was made in.
        String bound = boundOf(from);
        if (bound != null && !bound.equals(ns + "/" + ref.name)) {
            return new Resolution(null, null, Reason.ImmutableFieldChanged, "hsmRef now names ManagedHsm " + ns + "/" + ref.name
                    + ", but this resource was made in " + bound + ". hsmRef is immutable: set it back, or create a new resource.", false);
        }
        ManagedHsm hsm = lookup.apply(ns, ref.name);
        if (hsm == null) {
            return new Resolution(null, null, Reason.HsmNotFound, "ManagedHsm " + ns + "/" + ref.name + " does not exist (yet).", true);
        }
        if (!admits(hsm, from)) {
            return new Resolution(null, null, hsmWide(from) != null && admitsKeys(hsm, own) ? Reason.NotPermitted : Reason.RefNotPermitted,
                    refusal(hsm, from), false);
        }
        if (hsm.getSpec() != null && hsm.getSpec().management == ManagedHsmSpec.Management.ObserveOnly) {
            return new Resolution(hsm, null, Reason.ObserveOnly, "ManagedHsm " + ns + "/" + ref.name + " is ObserveOnly: the operator writes "
                    + "nothing to that HSM, for any kind.", false);
        }
        if ((ready && !Conditions.isTrue(hsm.getStatus(), Conditions.READY)) || hsm.getStatus() == null || hsm.getStatus().hsmUri == null) {
            return new Resolution(hsm, null, Reason.HsmNotReady, "Waiting for ManagedHsm " + ns + "/" + ref.name + " to be Ready.", true);
        }
        return new Resolution(hsm, hsm.getStatus().hsmUri, null, null, false);
    }
}
