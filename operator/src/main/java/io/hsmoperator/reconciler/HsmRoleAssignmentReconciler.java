package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentStatus;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmAccessControl;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.HsmRoles;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmRoleAssignment: Managed HSM local RBAC, least privilege by default. Roles that administer the HSM and the scope /
 * are refused before anything is sent, unless the operator's configuration allows them. The assignment name is derived
 * from the resource's UID, so retries never grant twice; an equal assignment that already exists is adopted. An
 * assignment removed outside the operator is granted again; deleting the resource revokes it (deletionPolicy Delete).
 */
@ControllerConfiguration(name = "hsmroleassignment", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmRoleAssignmentReconciler implements Reconciler<HsmRoleAssignment>, Cleaner<HsmRoleAssignment> {
    /** A grant that leaves a scope at this fraction of Azure's limit or more is reported (RoleAssignmentsNearLimit). */
    static final double ROLE_ASSIGNMENTS_NEAR_LIMIT_RATIO = 0.9;
    private final HsmAccessControl access;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;
    private final HsmKeys keys;
    private final Ownership ownership;

    public HsmRoleAssignmentReconciler(HsmAccessControl access, HsmKeys keys, Ownership ownership, OperatorConfig config,
                                       KubernetesClient kubernetes, Events events, Clock clock) {
        this.access = access;
        this.keys = keys;
        this.ownership = ownership;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, HsmRoleAssignment>> prepareEventSources(EventSourceContext<HsmRoleAssignment> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatReferrersRead), RelatedResources.grantedKey(context),
                RelatedResources.grantedRole(context));
    }

    @Override
    public UpdateControl<HsmRoleAssignment> reconcile(HsmRoleAssignment cr, Context<HsmRoleAssignment> context) {
        return Reports.reconcile(kubernetes, cr, HsmRoleAssignmentStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(HsmRoleAssignment cr, HsmRoleAssignmentStatus st) {
        HsmRoleAssignmentSpec spec = cr.getSpec();
        // validate what needs no Azure call
        if (spec != null && (spec.role == null) == (spec.roleDefinitionRef == null)) {
            stalled(st, Reason.InvalidSpec, "Set exactly one of role (a built-in role or a role definition ID) and roleDefinitionRef "
                    + "(an HsmRoleDefinition in this namespace).", gen(cr), clock);
            return config.reconcile().resync();
        }
        boolean byRef = spec != null && spec.roleDefinitionRef != null;
        Optional<String> guid = byRef ? Optional.ofNullable(definedRole(cr, st))
                : spec == null || spec.role == null ? Optional.empty() : HsmRoles.guidOf(spec.role);
        if (byRef && guid.isEmpty()) {
            return config.reconcile().poll();
        }
        if (guid.isEmpty()) {
            stalled(st, Reason.InvalidSpec, "role '" + (spec == null ? null : spec.role) + "' is neither a built-in Managed HSM role "
                    + "name (for example 'Managed HSM Crypto User') nor a role definition ID.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if ((spec.scope == null) == (spec.keyRef == null)) {
            stalled(st, Reason.InvalidSpec, "Set exactly one of scope (/ or /keys) and keyRef.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (spec.scope == HsmRoleAssignmentSpec.Scope.ALL && !config.roleAssignments().allowRootScope()) {
            stalled(st, Reason.RoleNotAllowed, "Scope / covers the HSM itself, not only its keys; the operator's configuration does not "
                    + "allow it (hsm.role-assignments.allow-root-scope). Use /keys or keyRef. Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (HsmRoles.PRIVILEGED.contains(guid.get()) && !allowed(guid.get())) {
            stalled(st, Reason.RoleNotAllowed, "Role '" + spec.role + "' administers the HSM; the operator's configuration does not "
                    + "allow granting it (hsm.role-assignments.allowed-privileged-roles). Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, spec.hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String scope = scope(cr, st);
        if (scope == null) {
            return config.reconcile().poll();
        }

        // observe: a custom role as the HSM defines it (built-in roles are the same everywhere and need no read)
        String uri = hsm.hsmUri();
        String roleName = HsmRoles.nameOf(guid.get()).orElse(null);
        if (roleName == null) {
            HsmAccessControl.RoleDefinition role = access.roleDefinitions(uri).stream().filter(d -> guid.get().equalsIgnoreCase(d.name()))
                    .findFirst().orElse(null);
            if (role == null && byRef) {
                // Defined moments ago: Azure's reads lag its writes.
                progressing(st, Reason.RoleDefinitionNotReady, "HsmRoleDefinition " + spec.roleDefinitionRef.name + " is defined, but "
                        + "Azure's reads do not show role definition " + guid.get() + " yet.", gen(cr), clock);
                return config.reconcile().poll();
            }
            if (role == null) {
                stalled(st, Reason.InvalidSpec, "The HSM has no role definition " + guid.get() + " ('" + spec.role + "').", gen(cr), clock);
                return config.reconcile().resync();
            }
            String definedBy = Ownership.markOf(role.description());
            if (definedBy != null && !ownership.inNamespaceOf(definedBy, cr)) {
                // Another namespace's HsmRoleDefinition: its owners may change what it permits at any time.
                stalled(st, Reason.RefNotPermitted, "Role definition " + guid.get() + " ('" + role.roleName() + "') is HsmRoleDefinition "
                        + definedBy + "'s; an HsmRoleAssignment may grant only custom roles defined in its own namespace. Nothing was "
                        + "granted.", gen(cr), clock);
                return config.reconcile().resync();
            }
            if (HsmRoles.administrative(role.permissions()) && !allowed(guid.get())) {
                stalled(st, Reason.RoleNotAllowed, "Custom role '" + role.roleName() + "' can administer the HSM (roles, security domain, "
                        + "backups, export or purge); the operator's configuration does not allow granting it. Nothing was written.",
                        gen(cr), clock);
                return config.reconcile().resync();
            }
            roleName = role.roleName();
        }

        // act: grant once, under a name that a retry reuses, or adopt an equal grant
        String name = st.assignmentName != null ? st.assignmentName : assignmentName(cr);
        Optional<HsmAccessControl.Assignment> current = access.assignment(uri, scope, name);
        if (current.isPresent() && !matches(current.get(), spec.principalId, guid.get())) {
            stalled(st, Reason.OwnershipConflict, "Role assignment " + name + " at " + scope + " grants something else (role "
                    + current.get().roleDefinitionId() + " to " + current.get().principalId() + "). Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (current.isPresent() && st.grantedAt == null && !Boolean.TRUE.equals(st.adopted)) {
            // Our name, never reported granted: our own grant whose answer was lost. Count it from now, so Ready still waits.
            st.grantedAt = Instant.now(clock).toString();
        }
        Instant now = Instant.now(clock);
        if (current.isEmpty() && name.equals(st.assignmentName) && st.grantedAt != null
                && now.isBefore(Instant.parse(st.grantedAt).plus(config.roleAssignments().propagation()))) {
            // Granted moments ago: Azure's reads lag its writes, so not finding it yet is no reason to grant it again.
            progressing(st, Reason.WaitingForAccess, "Role '" + roleName + "' was granted to " + spec.principalId + " at " + scope + " at "
                    + st.grantedAt + "; Azure's reads do not show the assignment yet.", gen(cr), clock);
            return config.reconcile().poll();
        }
        if (current.isEmpty()) {
            List<HsmAccessControl.Assignment> atScope = access.assignments(uri, scope).stream()
                    .filter(a -> scope.equalsIgnoreCase(a.scope())).toList();
            Optional<HsmAccessControl.Assignment> equal = atScope.stream().filter(a -> matches(a, spec.principalId, guid.get())).findFirst();
            if (equal.isPresent() && !Boolean.TRUE.equals(spec.adoptExisting)) {
                stalled(st, Reason.OwnershipConflict, "Role '" + roleName + "' is already granted to " + spec.principalId + " at " + scope
                        + " by assignment " + equal.get().name() + ", which this resource did not make. Set spec.adoptExisting: true to "
                        + "manage it from here (deleting this resource then leaves it in place), or remove it. Nothing was changed.",
                        gen(cr), clock);
                return config.reconcile().resync();
            }
            if (equal.isPresent()) {
                name = equal.get().name();
                st.adopted = true;
                events.normal(cr, "RoleAssignmentAdopted", "Role '" + roleName + "' was already granted to " + spec.principalId
                        + " at " + scope + " (assignment " + name + "); this resource now reports it and will not revoke it.");
            } else {
                String foreign = spec.keyRef == null ? null : keyNotOfRef(cr, uri, scope.substring("/keys/".length()));
                if (foreign != null) {
                    stalled(st, Reason.OwnershipConflict, foreign + " Nothing was granted.", gen(cr), clock);
                    return config.reconcile().resync();
                }
                boolean regrant = st.grantedAt != null;
                // Recorded before the grant: deletion revokes what a grant may have made, even if this process stops right after.
                st.assignmentName = name;
                st.scope = scope;
                Reports.writeAhead(kubernetes, cr, st);
                Optional<Mutation> m;
                try {
                    m = access.assign(uri, scope, name, HsmRoles.definitionId(guid.get()), spec.principalId);
                } catch (AzureError e) {
                    if (HsmRoles.nameOf(guid.get()).isPresent() || !HsmAccessControl.definitionNotYetAssignable(e)) {
                        throw e;
                    }
                    progressing(st, Reason.WaitingForAccess, "Azure does not accept assignments of role '" + roleName + "' yet: its "
                            + "definition has not propagated. Looking again shortly.", gen(cr), clock);
                    return config.reconcile().poll();
                }
                if (m.isEmpty()) {
                    // Our earlier grant (its answer lost) or an equal one: Azure's reads lag its writes. Look again once they
                    // show it; until then it counts as granted now, so Ready still waits for propagation.
                    st.grantedAt = st.grantedAt == null ? Instant.now(clock).toString() : st.grantedAt;
                    // Recorded, so that the next looks wait for reads to show it instead of writing it again.
                    st.assignmentName = name;
                    progressing(st, Reason.WaitingForAccess, "Azure says role '" + roleName + "' is already granted to " + spec.principalId
                            + " at " + scope + ", but its reads do not show the assignment yet; looking again shortly.", gen(cr), clock);
                    return config.reconcile().poll();
                }
                events.mutation(cr, "RoleAssigned", (regrant ? "Granted again, after it was removed outside the operator: " : "Granted ")
                        + "role '" + roleName + "' to " + spec.principalId + " at " + scope + " in " + uri, m.get());
                warnNearLimit(cr, scope, atScope.size() + 1);
                st.adopted = null;
                st.grantedAt = Instant.now(clock).toString();
            }
        }

        // report
        st.assignmentName = name;
        st.roleDefinitionId = HsmRoles.definitionId(guid.get());
        st.roleName = roleName;
        st.scope = scope;
        // The operator cannot act as the principal it granted, so it cannot see the grant work: it waits as long as
        // Azure documents role assignments take to propagate.
        Instant effective = st.grantedAt == null ? Instant.MIN : Instant.parse(st.grantedAt).plus(config.roleAssignments().propagation());
        if (Instant.now(clock).isBefore(effective)) {
            progressing(st, Reason.WaitingForAccess, "Role '" + roleName + "' was granted to " + spec.principalId + " at " + scope + " at "
                    + st.grantedAt + "; Azure takes up to " + config.roleAssignments().propagation() + " to make it effective.", gen(cr), clock);
            return Duration.between(Instant.now(clock), effective);
        }
        ready(st, Reason.Ready, "Role '" + roleName + "' is granted to " + spec.principalId + " at " + scope + ".", gen(cr), clock);
        return config.reconcile().resync();
    }

    /**
     * The GUID of the custom role the referenced HsmRoleDefinition defines, once it is Ready in the assignment's HSM (null
     * and a condition while waiting). The GUID is derived from the definition's namespace and name, never read from its
     * status.
     */
    private String definedRole(HsmRoleAssignment cr, HsmRoleAssignmentStatus st) {
        HsmRoleAssignmentSpec spec = cr.getSpec();
        HsmRoleDefinition def = kubernetes.resources(HsmRoleDefinition.class).inNamespace(cr.getMetadata().getNamespace())
                .withName(spec.roleDefinitionRef.name).get();
        if (def == null || def.getSpec() == null) {
            progressing(st, Reason.RoleDefinitionNotReady, "Waiting for HsmRoleDefinition " + spec.roleDefinitionRef.name + " to exist.",
                    gen(cr), clock);
            return null;
        }
        if (def.getMetadata().getDeletionTimestamp() != null) {
            stalled(st, Reason.RoleDefinitionNotReady, "HsmRoleDefinition " + spec.roleDefinitionRef.name + " is being deleted; it waits "
                    + "until no HsmRoleAssignment uses it. Delete this HsmRoleAssignment too, or recreate the definition after.",
                    gen(cr), clock);
            return null;
        }
        String defNs = def.getSpec().hsmRef.namespaceOr(def.getMetadata().getNamespace());
        String ownNs = spec.hsmRef.namespaceOr(cr.getMetadata().getNamespace());
        if (!def.getSpec().hsmRef.name.equals(spec.hsmRef.name) || !defNs.equals(ownNs)) {
            stalled(st, Reason.InvalidSpec, "HsmRoleDefinition " + spec.roleDefinitionRef.name + " defines its role in ManagedHsm " + defNs
                    + "/" + def.getSpec().hsmRef.name + ", not in " + ownNs + "/" + spec.hsmRef.name + ".", gen(cr), clock);
            return null;
        }
        if (!Conditions.isTrue(def.getStatus(), Conditions.READY)) {
            progressing(st, Reason.RoleDefinitionNotReady, "Waiting for HsmRoleDefinition " + spec.roleDefinitionRef.name + " to be Ready.",
                    gen(cr), clock);
            return null;
        }
        return ownership.derivedName(HsmRoleDefinitionReconciler.PURPOSE, def);
    }

    /** /, /keys, or /keys/{key name} of the referenced HsmKey once it is Ready (null and a condition while waiting). */
    private String scope(HsmRoleAssignment cr, HsmRoleAssignmentStatus st) {
        HsmRoleAssignmentSpec spec = cr.getSpec();
        if (spec.scope != null) {
            return spec.scope == HsmRoleAssignmentSpec.Scope.ALL ? "/" : "/keys";
        }
        HsmKey key = kubernetes.resources(HsmKey.class).inNamespace(cr.getMetadata().getNamespace()).withName(spec.keyRef.name).get();
        if (key == null || !Conditions.isTrue(key.getStatus(), Conditions.READY)) {
            progressing(st, Reason.KeyNotReady, "Waiting for HsmKey " + spec.keyRef.name + " to " + (key == null ? "exist" : "be Ready")
                    + ".", gen(cr), clock);
            return null;
        }
        String keyNs = key.getSpec().hsmRef.namespaceOr(key.getMetadata().getNamespace());
        String ownNs = spec.hsmRef.namespaceOr(cr.getMetadata().getNamespace());
        if (!key.getSpec().hsmRef.name.equals(spec.hsmRef.name) || !keyNs.equals(ownNs)) {
            stalled(st, Reason.InvalidSpec, "HsmKey " + spec.keyRef.name + " lives in ManagedHsm " + keyNs + "/" + key.getSpec().hsmRef.name
                    + ", not in " + ownNs + "/" + spec.hsmRef.name + ".", gen(cr), clock);
            return null;
        }
        return "/keys/" + KeySpecs.keyName(key);
    }

    /**
     * Why the key a keyRef grants on is not the referenced HsmKey's own in Azure (its ownership tag names someone else),
     * or null when it is: a grant never reaches a key another resource owns, whatever that HsmKey's status says.
     */
    private String keyNotOfRef(HsmRoleAssignment cr, String uri, String keyName) {
        HsmKey ref = kubernetes.resources(HsmKey.class).inNamespace(cr.getMetadata().getNamespace()).withName(cr.getSpec().keyRef.name).get();
        Optional<HsmKeys.Key> key = keys.get(uri, keyName);
        if (ref == null || key.isEmpty()) {
            return "The key " + keyName + " of HsmKey " + cr.getSpec().keyRef.name + " is not there to grant on.";
        }
        String tagged = KeySpecs.ownerOf(key.get(), key.get().tags().isEmpty() ? keys.versions(uri, keyName) : List.of());
        return ownership.isOf(tagged, ref) ? null : "The key " + keyName + " in " + uri + " is not HsmKey " + cr.getSpec().keyRef.name
                + "'s own (its owner tag names " + Ownership.Owner.parse(tagged).map(Ownership.Owner::toString).orElse(String.valueOf(tagged))
                + ").";
    }

    private boolean allowed(String guid) {
        return HsmRoles.listed(config.roleAssignments().allowedPrivilegedRoles().orElse(List.of()), guid);
    }

    private static boolean matches(HsmAccessControl.Assignment a, String principalId, String guid) {
        return a.principalId().equalsIgnoreCase(principalId) && a.roleGuid().equalsIgnoreCase(guid);
    }

    /** The same name on every attempt for this resource: a retry after a lost answer finds its grant instead of making another. */
    static String assignmentName(HsmRoleAssignment cr) {
        return UUID.nameUUIDFromBytes(("hsmoperator.io/role-assignment/" + cr.getMetadata().getUid()).getBytes(StandardCharsets.UTF_8)).toString();
    }

    @Override
    public DeleteControl cleanup(HsmRoleAssignment cached, Context<HsmRoleAssignment> context) {
        HsmRoleAssignment cr = Reports.latest(kubernetes, cached);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, HsmRoleAssignmentStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        HsmRoleAssignmentSpec spec = cr.getSpec();
        HsmRoleAssignmentStatus st = Reports.copy(cr.getStatus(), HsmRoleAssignmentStatus.class);
        if (spec.deletionPolicy == HsmRoleAssignmentSpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the HsmRoleAssignment resource; the grant stays in Azure (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        if (Boolean.TRUE.equals(st.adopted)) {
            events.normal(cr, "Retained", "Deleted the HsmRoleAssignment resource; assignment " + st.assignmentName + " was adopted, not "
                    + "made by it, and stays in Azure.");
            return DeleteControl.defaultDelete();
        }
        // What is revoked is the assignment only this resource can have made (its name derives from its UID), at the scope
        // recorded before the grant; status alone never names what is revoked.
        String name = assignmentName(cr);
        String scope = grantedScope(spec, st);
        if (scope == null) {
            // The scope is recorded before every grant: without it nothing was ever granted.
            return DeleteControl.defaultDelete();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolveMadeIn(cr, spec.hsmRef, hsms);
        if (HsmRefs.releasedUntouched(hsm, events, cr)) {
            return DeleteControl.defaultDelete();
        }
        if (!hsm.ok()) {
            // Never release a grant unrevoked: the access would outlive the resource that gave it.
            stalled(st, Reason.DeletionBlocked, "Role assignment " + name + " at " + scope + " cannot be revoked yet: "
                    + hsm.message() + " Deletion waits; annotate " + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION + "=true to "
                    + "release this resource and leave the grant in place.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        try {
            // No read first: one that finds nothing proves nothing (Azure's reads lag its writes); the DELETE's answer does.
            Mutation m = access.unassign(hsm.hsmUri(), scope, name);
            events.mutation(cr, "RoleRevoked", "Revoked role '" + java.util.Objects.toString(st.roleName, spec.role != null ? spec.role : "of HsmRoleDefinition " + spec.roleDefinitionRef.name) + "' from " + spec.principalId + " at " + scope, m);
            return DeleteControl.defaultDelete();
        } catch (AzureError e) {
            if (e.is(AzureError.Kind.NOT_FOUND)) {
                return DeleteControl.defaultDelete();
            }
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }

    /**
     * The scope this resource granted at: its spec's / or /keys, or for a keyRef the key scope recorded before the grant
     * (the HsmKey may be gone by now). Null when nothing was granted.
     */
    private static String grantedScope(HsmRoleAssignmentSpec spec, HsmRoleAssignmentStatus st) {
        if (st.scope == null) {
            return null;
        }
        if (spec.scope != null) {
            return spec.scope == HsmRoleAssignmentSpec.Scope.ALL ? "/" : "/keys";
        }
        return st.scope.startsWith("/keys/") && st.scope.length() > "/keys/".length() ? st.scope : null;
    }

    /**
     * The RoleAssignmentsNearLimit event, after a grant that leaves {@code count} assignments at {@code scope} (those the
     * grant's own listing found, and this one) at or above 90% of what Azure allows there. Counted only from the listing a
     * grant makes anyway: no listing of its own, so it is said once per grant.
     */
    private void warnNearLimit(HsmRoleAssignment cr, String scope, int count) {
        int limit = HsmAccessControl.assignmentLimit(scope);
        if (count >= HsmKeyCount.threshold(limit, ROLE_ASSIGNMENTS_NEAR_LIMIT_RATIO)) {
            events.warning(cr, Reason.RoleAssignmentsNearLimit.name(), "Scope " + scope + " now holds " + count + " role assignments; "
                    + "Managed HSM allows " + limit + " at " + (limit == HsmAccessControl.ASSIGNMENTS_PER_KEY_SCOPE ? "a key's scope" : "HSM scope")
                    + " and refuses more. Grant to a group instead of to each principal, or at /keys instead of at each key.");
        }
    }
}
