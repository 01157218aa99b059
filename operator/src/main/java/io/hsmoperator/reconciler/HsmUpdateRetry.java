package io.hsmoperator.reconciler;

import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;

/**
 * An update Azure reported Failed leaves the HSM Failed until another update succeeds: the desired state is sent again,
 * at a pace that doubles from 30 s (capped at hsm.reconcile.max-backoff), never faster. The attempts are counted in
 * status.pendingOperation (type RetryUpdate), so that the pace survives a restart of the operator.
 */
final class HsmUpdateRetry {
    private final ManagedHsmArm arm;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;

    HsmUpdateRetry(ManagedHsmArm arm, OperatorConfig config, Events events, Clock clock) {
        this.arm = arm;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /** Sends the update again once its turn has come; the wait before the next look either way. */
    Duration retry(ManagedHsm cr, ManagedHsmStatus st, ManagedHsmArm.Hsm hsm, String owner) {
        ManagedHsmStatus.PendingOperation p = st.pendingOperation != null && "RetryUpdate".equals(st.pendingOperation.type)
                ? st.pendingOperation : null;
        int attempts = p == null || p.attempts == null ? 0 : p.attempts;
        Duration pace = Duration.ofSeconds(30L << Math.min(attempts, 10));
        pace = pace.compareTo(config.reconcile().maxBackoff()) > 0 ? config.reconcile().maxBackoff() : pace;
        Instant due = p == null ? Instant.MIN : Instant.parse(p.startedAt).plus(pace);
        Instant now = Instant.now(clock);
        String failed = "Azure reported the last update of the HSM Failed (" + Objects.toString(hsm.statusMessage(), "no message") + ")";
        if (now.isBefore(due)) {
            progressing(st, Reason.Updating, failed + "; the operator sends it again with backoff.", gen(cr), clock);
            return Duration.between(now, due);
        }
        ManagedHsmSpec spec = cr.getSpec();
        ManagedHsmArm.Desired desired = HsmSpecs.toUpdate(cr, hsm, owner, st.managedTags, Boolean.TRUE.equals(st.adopted));
        Mutation m = arm.startUpdate(spec.subscriptionId, spec.resourceGroup, spec.azureName, desired);
        events.mutation(cr, "HsmUpdateRetried", failed + "; sent the update again (attempt " + (attempts + 1) + ")", m);
        ManagedHsmStatus.PendingOperation retry = new ManagedHsmStatus.PendingOperation();
        retry.type = "RetryUpdate";
        retry.startedAt = now.toString();
        retry.generation = gen(cr);
        retry.attempts = attempts + 1;
        st.pendingOperation = retry;
        progressing(st, Reason.Updating, failed + "; the operator sends it again with backoff.", gen(cr), clock);
        return config.reconcile().poll();
    }
}
