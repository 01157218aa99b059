package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;

import java.time.Clock;
import java.time.Instant;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * Deleting an HsmKey applies its deletionPolicy to the key: Retain (the default) leaves it in Azure, Disable disables
 * every version, Delete soft-deletes it. Only a key that carries this resource's ownership tag is touched, and nothing
 * is ever purged: a deleted key stays recoverable for the HSM's retention period.
 */
final class KeyDeletion {
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;

    private final Ownership ownership;

    KeyDeletion(HsmKeys keys, OperatorConfig config, KubernetesClient kubernetes, HsmLookup hsms, Ownership ownership, Events events,
                Clock clock) {
        this.keys = keys;
        this.ownership = ownership;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = hsms;
        this.events = events;
        this.clock = clock;
    }

    DeleteControl delete(HsmKey stale) {
        HsmKey cr = Reports.latest(kubernetes, stale);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, HsmKeyStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        HsmKeySpec.DeletionPolicy policy = cr.getSpec().deletionPolicy == null ? HsmKeySpec.DeletionPolicy.Retain : cr.getSpec().deletionPolicy;
        if (policy == HsmKeySpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the HsmKey resource; the key " + KeySpecs.keyName(cr) + " stays in Azure (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        HsmKeyStatus st = Reports.copy(cr.getStatus(), HsmKeyStatus.class);
        HsmRefs.Resolution ref = HsmRefs.resolveMadeIn(cr, cr.getSpec().hsmRef, hsms);
        if (HsmRefs.releasedUntouched(ref, events, cr)) {
            return DeleteControl.defaultDelete();
        }
        if (ref.problem() == Reason.RefNotPermitted && st.versionlessKeyId != null) {
            // The HSM's owners withdrew this namespace's permission: its key is theirs to decide on now.
            stalled(st, Reason.DeletionBlocked, "deletionPolicy is " + policy + ", but " + ref.message() + " The key is not touched; "
                    + "deletion waits until the permission returns, or annotate " + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION
                    + "=true to release this resource without touching Azure.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        String uri = ref.ok() ? ref.hsmUri() : st.versionlessKeyId == null ? null
                : st.versionlessKeyId.substring(0, st.versionlessKeyId.indexOf("/keys/"));
        if (uri == null) {
            events.warning(cr, "DeletionSkipped", "The key was never created (no key ID in status and no usable ManagedHsm); nothing to "
                    + policy.name().toLowerCase() + ".");
            return DeleteControl.defaultDelete();
        }
        String name = KeySpecs.keyName(cr);
        try {
            var key = keys.get(uri, name);
            if (key.isEmpty() && st.recoveryStartedAt != null
                    && Instant.now(clock).isBefore(Instant.parse(st.recoveryStartedAt).plus(HsmKeyReconciler.RECOVERY_TIMEOUT))) {
                // Azure is still recovering it: the key answers 404 now, but comes back, and the policy applies to it.
                progressing(st, Reason.Deleting, "Deleting waits until Azure has recovered the key " + name + " (deletionPolicy "
                        + policy + " applies to it).", gen(cr), clock);
                Reports.patchStatusIfChanged(kubernetes, cr, st);
                return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
            }
            if (key.isEmpty()) {
                return DeleteControl.defaultDelete();
            }
            // Only a key that carries this resource's tag is disabled or deleted (adoption writes the tag first).
            if (!ownership.isOf(KeySpecs.ownerOf(key.get(), KeySpecs.oldestFirst(keys.versions(uri, name), key.get().version())), cr)) {
                events.warning(cr, "DeletionRefused", "The key " + key.get().id() + " is not owned by this resource; it was not changed.");
                return DeleteControl.defaultDelete();
            }
            if (policy == HsmKeySpec.DeletionPolicy.Disable) {
                for (HsmKeys.Version v : keys.versions(uri, name)) {
                    if (v.enabled()) {
                        Mutation m = keys.update(uri, name, v.version(), new HsmKeys.Update(false, null, key.get().operations(), null));
                        events.mutation(cr, "KeyDisabled", "Disabled version " + v.version() + " of key " + name + " (deletionPolicy Disable)", m);
                    }
                }
                return DeleteControl.defaultDelete();
            }
            Mutation m = keys.delete(uri, name);
            events.mutation(cr, "KeyDeleted", "Soft-deleted key " + key.get().id() + " (deletionPolicy Delete); it stays recoverable and is "
                    + "never purged", m);
            return DeleteControl.defaultDelete();
        } catch (AzureError e) {
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }
}
