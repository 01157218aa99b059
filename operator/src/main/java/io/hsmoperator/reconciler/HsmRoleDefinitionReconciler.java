package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.api.roledefinition.HsmRoleDefinitionSpec;
import io.hsmoperator.api.roledefinition.HsmRoleDefinitionStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.Consistency;
import io.hsmoperator.azure.HsmAccessControl;
import io.hsmoperator.azure.HsmRoles;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmRoleDefinition: a Managed HSM local custom role, kept as the spec says. Its name (a GUID) derives from the resource's
 * cluster, namespace and name; its description carries the owner, since role definitions have no tags, and a definition
 * that names another owner (or none) is never overwritten or deleted. A role that can administer the HSM is refused
 * before anything is sent, as HsmRoleAssignment refuses granting one, unless the operator's configuration lists it.
 * Azure's limit of custom roles per HSM is warned of before it is reached and not run into. Deletion waits while any
 * HsmRoleAssignment uses the role: the assignments go first, the definition waits for them, never the other way round.
 */
@ControllerConfiguration(name = "hsmroledefinition", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmRoleDefinitionReconciler implements Reconciler<HsmRoleDefinition>, Cleaner<HsmRoleDefinition> {
    /** A definition that leaves the HSM at this fraction of Azure's limit or more is reported (RoleDefinitionsNearLimit). */
    static final double CUSTOM_ROLES_NEAR_LIMIT_RATIO = 0.9;
    /** The purpose in the derived name: {@link Ownership#derivedName}. */
    static final String PURPOSE = "role-definition";
    private final HsmAccessControl access;
    private final Ownership ownership;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;

    public HsmRoleDefinitionReconciler(HsmAccessControl access, Ownership ownership, OperatorConfig config, KubernetesClient kubernetes,
                                       Events events, Clock clock) {
        this.access = access;
        this.ownership = ownership;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, HsmRoleDefinition>> prepareEventSources(EventSourceContext<HsmRoleDefinition> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatReferrersRead));
    }

    @Override
    public UpdateControl<HsmRoleDefinition> reconcile(HsmRoleDefinition cr, Context<HsmRoleDefinition> context) {
        return Reports.reconcile(kubernetes, cr, HsmRoleDefinitionStatus.class, clock, config.reconcile(), this::converge);
    }

    /** The role definition name of a resource: the same for every resource of that cluster, namespace and name. */
    String definitionName(HsmRoleDefinition cr) {
        return ownership.derivedName(PURPOSE, cr);
    }

    private Duration converge(HsmRoleDefinition cr, HsmRoleDefinitionStatus st) {
        HsmRoleDefinitionSpec spec = cr.getSpec();
        String name = definitionName(cr);
        HsmAccessControl.Permissions wanted = permissions(spec);
        // validate what needs no Azure call
        if (HsmRoles.administrative(wanted) && !HsmRoles.listed(config.roleAssignments().allowedPrivilegedRoles().orElse(List.of()), name)) {
            stalled(st, Reason.RoleNotAllowed, "Role '" + spec.roleName + "' can administer the HSM or take keys out of it (role "
                    + "management, security domain, backup, restore, settings, export, release or purge, wildcards included); the "
                    + "operator's configuration does not allow defining it (list its definition name " + name + " in "
                    + "hsm.role-assignments.allowed-privileged-roles to allow it). Nothing was written.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, spec.hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String uri = hsm.hsmUri();

        // observe: one listing shows our definition and how many custom roles the HSM holds
        List<HsmAccessControl.RoleDefinition> all = access.roleDefinitions(uri);
        Optional<HsmAccessControl.RoleDefinition> current = all.stream().filter(d -> name.equalsIgnoreCase(d.name())).findFirst();
        int customRoles = (int) all.stream().filter(HsmAccessControl.RoleDefinition::custom).count();
        String description = Ownership.marked(spec.description, ownership.nameTag(cr));
        st.roleDefinitionName = name;
        st.roleDefinitionId = HsmRoles.definitionId(name);
        st.customRolesInHsm = customRoles;
        if (current.isPresent()) {
            String owner = Ownership.markOf(current.get().description());
            if (!ownership.isOf(owner, cr)) {
                stalled(st, Reason.OwnershipConflict, "Role definition " + name + " in " + uri + " ('" + current.get().roleName() + "') "
                        + (owner == null ? "carries no owner mark: the operator did not make it" : "belongs to " + owner)
                        + "; it is never overwritten or deleted from here. Nothing was written.", gen(cr), clock);
                return config.reconcile().resync();
            }
            if (upToDate(current.get(), spec.roleName, description, wanted)) {
                st.definedGeneration = gen(cr);
                ready(st, Reason.Ready, "Role '" + spec.roleName + "' is defined in " + uri + " as " + name + " (" + customRoles + " of "
                        + HsmAccessControl.CUSTOM_ROLES_PER_HSM + " custom roles).", gen(cr), clock);
                return config.reconcile().resync();
            }
        } else if (customRoles >= HsmAccessControl.CUSTOM_ROLES_PER_HSM && !recentlyDefined(st)) {
            // (One defined moments ago may be ours that Azure's reads do not show yet: writing it again adds no role.)
            stalled(st, Reason.RoleDefinitionLimitReached, "The HSM " + uri + " holds " + customRoles + " custom role definitions, as many "
                    + "as Azure allows (" + HsmAccessControl.CUSTOM_ROLES_PER_HSM + "). Remove a custom role you no longer use; "
                    + "nothing was sent.", gen(cr), clock);
            return config.reconcile().resync();
        }

        // act: the definition's PUT replaces it whole, so one write both creates and restores
        boolean restore = current.isPresent() || st.definedAt != null;
        // A definition that differs from a spec not written yet is an update, not drift.
        boolean specChanged = !java.util.Objects.equals(gen(cr), st.definedGeneration);
        // Recorded before the write: deletion removes what a write may have made, even if this process stops right after.
        Reports.writeAhead(kubernetes, cr, st);
        boolean lagging = recentlyDefined(st);
        Mutation m = access.defineRole(uri, name, spec.roleName, description, wanted);
        st.definedAt = Instant.now(clock).toString();
        st.definedGeneration = gen(cr);
        if (!restore) {
            events.mutation(cr, "RoleDefined", "Defined role '" + spec.roleName + "' as " + name + " in " + uri, m);
            warnNearLimit(cr, uri, customRoles + 1);
            st.customRolesInHsm = customRoles + 1;
        } else if (current.isPresent() && specChanged) {
            events.mutation(cr, "RoleDefinitionUpdated", "Updated role '" + spec.roleName + "' (" + name + ") in " + uri + " to the spec", m);
        } else if (current.isPresent()) {
            events.mutation(cr, "RoleDefinitionRestored", "Role '" + spec.roleName + "' (" + name + ") in " + uri + " was changed "
                    + "outside the operator; restored it as the spec says", m);
        } else {
            // The PUT is idempotent: writing again what a lagging read did not show yet does no harm.
            events.mutation(cr, "RoleDefinitionRestored", "Role '" + spec.roleName + "' (" + name + ") was not found in " + uri
                    + (lagging ? " (Azure's reads may not show the last write yet)" : " (deleted outside the operator)")
                    + "; wrote it again as the spec says", m);
        }

        // report
        ready(st, Reason.Ready, "Role '" + spec.roleName + "' is defined in " + uri + " as " + name + ". Azure refuses assignments of a "
                + "new or changed role until its definition has propagated; HsmRoleAssignments using it wait meanwhile.", gen(cr), clock);
        return config.reconcile().resync();
    }

    /** Whether the operator wrote the definition so recently that a read may not show it yet. */
    private boolean recentlyDefined(HsmRoleDefinitionStatus st) {
        return st.definedAt != null && Instant.now(clock).isBefore(Instant.parse(st.definedAt).plus(Consistency.READ_LAG));
    }

    static HsmAccessControl.Permissions permissions(HsmRoleDefinitionSpec spec) {
        return new HsmAccessControl.Permissions(orEmpty(spec.actions), orEmpty(spec.notActions), orEmpty(spec.dataActions),
                orEmpty(spec.notDataActions));
    }

    private static List<String> orEmpty(List<String> l) {
        return l == null ? List.of() : l;
    }

    private static boolean upToDate(HsmAccessControl.RoleDefinition d, String roleName, String description, HsmAccessControl.Permissions p) {
        return roleName.equals(d.roleName()) && description.equals(d.description() == null ? "" : d.description().strip())
                && p.sameAs(d.permissions());
    }

    /**
     * The RoleDefinitionsNearLimit event, after a definition that leaves {@code count} custom roles in the HSM at or above
     * 90% of what Azure allows. Counted from the listing each look makes anyway.
     */
    private void warnNearLimit(HsmRoleDefinition cr, String uri, int count) {
        if (count >= HsmKeyCount.threshold(HsmAccessControl.CUSTOM_ROLES_PER_HSM, CUSTOM_ROLES_NEAR_LIMIT_RATIO)) {
            events.warning(cr, Reason.RoleDefinitionsNearLimit.name(), "The HSM " + uri + " now holds " + count + " custom role "
                    + "definitions; Managed HSM allows " + HsmAccessControl.CUSTOM_ROLES_PER_HSM + " and refuses more. Share roles "
                    + "between assignments instead of defining one per workload.");
        }
    }

    /**
     * The HsmRoleAssignments that use the definition: those of its namespace that name it, by spec.roleDefinitionRef or by
     * its GUID in spec.role. Another namespace's assignment cannot have granted it (it is refused, RefNotPermitted), so it
     * cannot hold the deletion up either: a namespace that owns nothing must not keep another's role alive. Assignments
     * Azure holds that no HsmRoleAssignment manages are Azure's to refuse (409). Read now from the API server.
     */
    private List<String> users(HsmRoleDefinition cr, String name) {
        return kubernetes.resources(HsmRoleAssignment.class).inNamespace(cr.getMetadata().getNamespace()).list().getItems().stream()
                .filter(a -> a.getSpec() != null && (a.getSpec().roleDefinitionRef != null
                        ? cr.getMetadata().getName().equals(a.getSpec().roleDefinitionRef.name)
                        : a.getSpec().role != null && HsmRoles.guidOf(a.getSpec().role).map(name::equalsIgnoreCase).orElse(false)))
                .map(a -> a.getMetadata().getNamespace() + "/" + a.getMetadata().getName()).sorted().toList();
    }

    @Override
    public DeleteControl cleanup(HsmRoleDefinition cached, Context<HsmRoleDefinition> context) {
        HsmRoleDefinition cr = Reports.latest(kubernetes, cached);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, HsmRoleDefinitionStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        HsmRoleDefinitionSpec spec = cr.getSpec();
        HsmRoleDefinitionStatus st = Reports.copy(cr.getStatus(), HsmRoleDefinitionStatus.class);
        if (spec.deletionPolicy == HsmRoleDefinitionSpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the HsmRoleDefinition resource; the role definition stays in Azure (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        if (st.roleDefinitionName == null) {
            // The name is recorded before every write: without it nothing was ever defined.
            return DeleteControl.defaultDelete();
        }
        // What is deleted is only the definition this resource's name derives to; status alone never names it.
        String name = definitionName(cr);
        List<String> users = users(cr, name);
        if (!users.isEmpty()) {
            // The assignments go first (their deletion revokes the grants); this waits for them, they never wait for it.
            stalled(st, Reason.DeletionBlocked, "Role definition " + name + " is still used by HsmRoleAssignment " + String.join(", ", users)
                    + ". Deletion waits until they are gone; delete them too.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
        }
        HsmRefs.Resolution hsm = HsmRefs.resolveMadeIn(cr, spec.hsmRef, hsms);
        if (HsmRefs.releasedUntouched(hsm, events, cr)) {
            return DeleteControl.defaultDelete();
        }
        if (!hsm.ok()) {
            stalled(st, Reason.DeletionBlocked, "Role definition " + name + " cannot be deleted yet: " + hsm.message() + " Deletion waits; "
                    + "annotate " + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION + "=true to release this resource and leave "
                    + "the definition in place.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        try {
            // A definition found under our name that names another owner is left alone; one not found (a read proves
            // nothing) is deleted by name all the same, and only the DELETE's answer proves it gone.
            Optional<HsmAccessControl.RoleDefinition> found = access.roleDefinition(hsm.hsmUri(), name);
            if (found.isPresent() && !ownership.isOf(Ownership.markOf(found.get().description()), cr)) {
                events.warning(cr, "Retained", "Role definition " + name + " in " + hsm.hsmUri() + " does not name this resource as its "
                        + "owner; it stays in Azure.");
                return DeleteControl.defaultDelete();
            }
            Mutation m = access.deleteRoleDefinition(hsm.hsmUri(), name);
            events.mutation(cr, "RoleDefinitionDeleted", "Deleted role '" + spec.roleName + "' (" + name + ") from " + hsm.hsmUri(), m);
            return DeleteControl.defaultDelete();
        } catch (AzureError e) {
            if (e.is(AzureError.Kind.NOT_FOUND)) {
                return DeleteControl.defaultDelete();
            }
            if (e.is(AzureError.Kind.CONFLICT)) {
                // Azure refuses to delete a role that assignments still use: ones no HsmRoleAssignment manages (Retained, or
                // made by hand), or whose revocation Azure has not finished.
                stalled(st, Reason.DeletionBlocked, "Azure refuses to delete role definition " + name + ": role assignments in the HSM "
                        + "still use it (" + Reports.stable(e.getMessage()) + "). Deletion waits until they are removed; annotate "
                        + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION + "=true to leave the definition in place.", gen(cr), clock);
                Reports.patchStatusIfChanged(kubernetes, cr, st);
                return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
            }
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }
}
