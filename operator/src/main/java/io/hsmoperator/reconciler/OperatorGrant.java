package io.hsmoperator.reconciler;

import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.AzureClients;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmAccessControl;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.OperatorRole;

import java.time.Clock;
import java.time.Duration;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;

/**
 * The operator's own data-plane access to a ManagedHsm: {@link OperatorRole} assigned to it at /keys, which every
 * HsmKey on the HSM needs. An administrator of the HSM cannot read keys, so until this grant works no key can be
 * managed; a grant Azure has not propagated yet is waited for, never reported as a failure.
 */
final class OperatorGrant {
    /** The key the access check reads; it need not exist (and is never created). */
    static final String ACCESS_PROBE = "hsm-operator-access-probe";
    private final HsmAccessControl access;
    private final HsmKeys keys;
    private final AzureClients azure;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;

    OperatorGrant(HsmAccessControl access, HsmKeys keys, AzureClients azure, OperatorConfig config, Events events, Clock clock) {
        this.access = access;
        this.keys = keys;
        this.azure = azure;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /**
     * Ensures the operator holds its key-management role at /keys, and that Azure already honours it: null when it does,
     * otherwise the wait before the next look. The reads double as the data-plane check.
     */
    Duration ensure(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st) {
        String me = azure.principalId();
        String assignment = OperatorRole.assignmentName(me);
        boolean observeOnly = HsmSpecs.observeOnly(cr.getSpec());
        boolean granted = access.assignment(hsm.hsmUri(), OperatorRole.SCOPE, assignment).isPresent();
        if (!granted) {
            if (observeOnly) {
                return null;
            }
            boolean defined = access.roleDefinitions(hsm.hsmUri()).stream().anyMatch(d -> d.name().equalsIgnoreCase(OperatorRole.DEFINITION_NAME));
            if (!defined) {
                Mutation m = access.defineRole(hsm.hsmUri(), OperatorRole.DEFINITION_NAME, OperatorRole.NAME + ": create, read, update, "
                        + "rotate, import, delete and recover keys; no purge, export, release or cryptographic use", OperatorRole.DATA_ACTIONS);
                events.mutation(cr, "RoleDefined", "Defined role '" + OperatorRole.NAME + "' in " + hsm.hsmUri(), m);
            }
            Optional<Mutation> assigned;
            try {
                assigned = access.assign(hsm.hsmUri(), OperatorRole.SCOPE, assignment, OperatorRole.definitionId(), me);
            } catch (AzureError e) {
                // Assigning a role definition that exists is refused (400) until the definition has propagated.
                if (!HsmAccessControl.definitionNotYetAssignable(e)) {
                    throw e;
                }
                return waitingForAccess(cr, st, "The operator defined its role '" + OperatorRole.NAME + "'; Azure does not accept "
                        + "assignments of a new role until its definition has propagated.");
            }
            if (assigned.isPresent()) {
                events.mutation(cr, "OperatorRoleAssigned", "Granted the operator (" + me + ") role '" + OperatorRole.NAME + "' at "
                        + OperatorRole.SCOPE + " in " + hsm.hsmUri(), assigned.get());
            } else {
                // The same grant under another name (an administrator made it) serves as well; our own name not found yet
                // means Azure's reads lag the write.
                Optional<HsmAccessControl.Assignment> equal = access.assignments(hsm.hsmUri(), OperatorRole.SCOPE).stream()
                        .filter(x -> x.principalId().equalsIgnoreCase(me) && x.roleGuid().equalsIgnoreCase(OperatorRole.DEFINITION_NAME))
                        .findFirst();
                if (equal.isEmpty()) {
                    return waitingForAccess(cr, st, "Azure says the operator's role assignment exists, but its reads do not show it "
                            + "yet (they lag its writes).");
                }
                assignment = equal.get().name();
            }
        }
        ManagedHsmStatus.OperatorAccess a = new ManagedHsmStatus.OperatorAccess();
        a.roleDefinitionId = OperatorRole.definitionId();
        a.roleName = OperatorRole.NAME;
        a.scope = OperatorRole.SCOPE;
        a.assignmentName = assignment;
        st.operatorAccess = a;
        // Once Azure honoured the grant (the HSM was Ready), the assignment read above is check enough on later looks.
        if (observeOnly || (granted && Conditions.isTrue(cr.getStatus(), Conditions.READY))) {
            return null;
        }
        try {
            // Only the operator's role lets it read keys (administrators cannot): reading a key answers 200 or 404 once
            // the grant works, 403 before.
            keys.get(hsm.hsmUri(), ACCESS_PROBE);
            return null;
        } catch (AzureError e) {
            if (!e.is(AzureError.Kind.FORBIDDEN)) {
                throw e;
            }
            return waitingForAccess(cr, st, "The operator granted itself role '" + OperatorRole.NAME + "' at " + OperatorRole.SCOPE
                    + "; Azure does not honour it yet.");
        }
    }

    private Duration waitingForAccess(ManagedHsm cr, ManagedHsmStatus st, String why) {
        progressing(st, Reason.WaitingForAccess, why + " Role assignments take up to several minutes to propagate; the operator looks "
                + "again shortly (hsm.reconcile.poll) and is never Stalled by it.", gen(cr), clock);
        return config.reconcile().poll();
    }
}
