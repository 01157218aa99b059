package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * Deleting a ManagedHsm applies its deletionPolicy to the HSM: Retain (and ObserveOnly, whatever the policy) leaves it
 * in Azure, Delete soft-deletes it. Only an HSM that carries this resource's ownership tag and has purge protection on
 * is deleted, and nothing is ever purged. Deletion waits while any resource still references the HSM.
 */
final class HsmDeletion {
    private final ManagedHsmArm arm;
    private final HsmDeclarations declarations;
    private final Ownership ownership;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final Events events;
    private final Clock clock;

    HsmDeletion(ManagedHsmArm arm, HsmDeclarations declarations, Ownership ownership, OperatorConfig config, KubernetesClient kubernetes,
                Events events, Clock clock) {
        this.arm = arm;
        this.declarations = declarations;
        this.ownership = ownership;
        this.config = config;
        this.kubernetes = kubernetes;
        this.events = events;
        this.clock = clock;
    }

    DeleteControl delete(ManagedHsm stale) {
        ManagedHsm cr = Reports.latest(kubernetes, stale);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, ManagedHsmStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        ManagedHsmSpec spec = cr.getSpec();
        // Whatever the policy, the HSM stays known while anything still references it: their own deletion needs it to
        // revoke grants, delete keys and settings (a namespace deleted as a whole deletes everything at once).
        List<String> referencing = referencing(cr);
        if (!referencing.isEmpty()) {
            ManagedHsmStatus waiting = Reports.copy(cr.getStatus(), ManagedHsmStatus.class);
            stalled(waiting, Reason.DeletionBlocked, "Resources still reference this HSM: " + referencing + ". Deleting waits until "
                    + "they are gone, so that each can revoke or delete what it made in the HSM.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, waiting);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
        }
        if (spec.deletionPolicy != ManagedHsmSpec.DeletionPolicy.Delete || HsmSpecs.observeOnly(spec)) {
            events.normal(cr, "Retained", "Deleted the ManagedHsm resource; the HSM " + spec.azureName + " stays in Azure (deletionPolicy "
                    + spec.deletionPolicy + (HsmSpecs.observeOnly(spec) ? ", ObserveOnly" : "") + ").");
            return DeleteControl.defaultDelete();
        }
        ManagedHsmStatus st = Reports.copy(cr.getStatus(), ManagedHsmStatus.class);
        Optional<String> refused = declarations.refusal(cr.getMetadata().getNamespace(), spec.subscriptionId, spec.resourceGroup);
        if (refused.isPresent()) {
            if (st.resourceId == null) {
                events.normal(cr, "Retained", "Deleted the ManagedHsm resource; it never reached Azure (" + Reason.NotPermitted + ").");
                return DeleteControl.defaultDelete();
            }
            stalled(st, Reason.DeletionBlocked, "deletionPolicy is Delete, but " + refused.get(), gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        try {
            var observed = arm.get(spec.subscriptionId, spec.resourceGroup, spec.azureName);
            if (observed.isEmpty()) {
                return DeleteControl.defaultDelete();
            }
            // Only an HSM that carries this resource's tag is deleted: adoption writes the tag first, and a tag that names
            // anyone else (alive or not) means this resource never managed it.
            if (!ownership.isOf(observed.get().tags().get(Ownership.TAG), cr)) {
                events.warning(cr, "DeletionRefused", "The HSM " + observed.get().id() + " is not owned by this resource; it was not deleted.");
                return DeleteControl.defaultDelete();
            }
            // An adopted HSM may have purge protection off whatever the spec leaves unset: its soft-deleted copy could then
            // be purged by anyone allowed to, so the operator does not delete it.
            if (!observed.get().purgeProtection()) {
                stalled(st, Reason.DeletionBlocked, "deletionPolicy is Delete, but purge protection is off on " + observed.get().id()
                        + " in Azure, so its soft-deleted copy could be purged. Turn purge protection on in Azure (az keyvault "
                        + "update-hsm --enable-purge-protection; irreversible), or set deletionPolicy: Retain.", gen(cr), clock);
                Reports.patchStatusIfChanged(kubernetes, cr, st);
                return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
            }
            // Azure deletes an HSM only once its extended regions are gone (their replicas are purged; the primary, soft-
            // deleted next, keeps every key): removed first, and waited for.
            List<ManagedHsmArm.Region> extended = observed.get().extendedRegions();
            if (!extended.isEmpty()) {
                boolean busy = extended.stream().anyMatch(r -> !r.succeeded() && !"Failed".equalsIgnoreCase(r.provisioningState()));
                if (!busy) {
                    Mutation m = arm.startSetRegions(spec.subscriptionId, spec.resourceGroup, spec.azureName, observed.get().location(), List.of());
                    events.mutation(cr, "RegionRemoveStarted", "Removing the extended regions " + extended.stream().map(ManagedHsmArm.Region::name)
                            .toList() + " of managed HSM " + observed.get().id() + " before deleting it (deletionPolicy Delete)", m);
                }
                Conditions.progressing(st, Reason.RemovingRegion, "Deleting the HSM waits until Azure has removed its extended regions "
                        + extended.stream().map(r -> r.name() + " (" + r.provisioningState() + ")").toList() + ": Azure deletes a "
                        + "replicated HSM only after its extended regions.", gen(cr), clock);
                Reports.patchStatusIfChanged(kubernetes, cr, st);
                return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
            }
            if (!"Deleting".equalsIgnoreCase(observed.get().provisioningState())) {
                Mutation m = arm.startDelete(spec.subscriptionId, spec.resourceGroup, spec.azureName);
                events.mutation(cr, "HsmDeleteStarted", "Soft-deleting managed HSM " + observed.get().id() + " (deletionPolicy Delete); "
                        + "it stays recoverable for " + observed.get().softDeleteRetentionDays() + " days and is never purged", m);
            }
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
        } catch (AzureError e) {
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }

    /** Every HsmKey, HsmRoleAssignment, HsmDiagnostics, PrivateEndpoint and HsmRoleDefinition that references this ManagedHsm, read now. */
    private List<String> referencing(ManagedHsm cr) {
        List<String> out = new ArrayList<>();
        referencing(cr, HsmKey.class, k -> k.getSpec() == null ? null : k.getSpec().hsmRef, out);
        referencing(cr, HsmRoleAssignment.class, a -> a.getSpec() == null ? null : a.getSpec().hsmRef, out);
        referencing(cr, HsmDiagnostics.class, d -> d.getSpec() == null ? null : d.getSpec().hsmRef, out);
        referencing(cr, PrivateEndpoint.class, p -> p.getSpec() == null ? null : p.getSpec().hsmRef, out);
        referencing(cr, HsmRoleDefinition.class, d -> d.getSpec() == null ? null : d.getSpec().hsmRef, out);
        return out;
    }

    private <T extends HasMetadata> void referencing(ManagedHsm cr, Class<T> kind, Function<T, HsmReference> ref, List<String> out) {
        for (T r : kubernetes.resources(kind).inAnyNamespace().list().getItems()) {
            HsmReference to = ref.apply(r);
            // A namespace this HSM does not admit made nothing in it, and must not be able to hold its deletion up.
            if (to != null && cr.getMetadata().getName().equals(to.name)
                    && cr.getMetadata().getNamespace().equals(to.namespaceOr(r.getMetadata().getNamespace()))
                    && HsmRefs.admits(cr, r)) {
                out.add(r.getKind() + " " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName());
            }
        }
    }
}
