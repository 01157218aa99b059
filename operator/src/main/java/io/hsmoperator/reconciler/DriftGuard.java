package io.hsmoperator.reconciler;

import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.api.common.LastUpdate;
import io.hsmoperator.azure.OperatorConfig;

import java.time.Clock;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * Whether to send an update that corrects drift. Azure's reads lag its writes, and Azure (or a policy) may rewrite
 * a value: resending on every look would be a write loop. A read that still shows the object as it was before the
 * last update is stale, so the operator waits; an update that Azure visibly applied but that did not remove the
 * drift is sent at most {@link #MAX_ATTEMPTS} times per generation of the spec, then the resource says which field
 * does not converge.
 */
final class DriftGuard {
    /** How long a read may lag an update before the operator stops treating it as stale. */
    static final Duration SETTLE = Duration.ofMinutes(2);
    static final int MAX_ATTEMPTS = 2;

    enum Verdict { WRITE, WAIT_FOR_READ, NOT_CONVERGING }

    private DriftGuard() {
    }

    /** The verdict for drift in {@code fields}, on an object Azure last modified at {@code modifiedNow}. */
    static Verdict verdict(LastUpdate last, String fields, String modifiedNow, Long generation, Instant now) {
        if (last == null || !fields.equals(last.fields) || !Objects.equals(generation, last.generation)) {
            return Verdict.WRITE;
        }
        boolean unchangedSince = Objects.equals(last.modifiedBefore, modifiedNow);
        if (unchangedSince && now.isBefore(Instant.parse(last.sentAt).plus(SETTLE))) {
            return Verdict.WAIT_FOR_READ;
        }
        return last.attempts != null && last.attempts >= MAX_ATTEMPTS ? Verdict.NOT_CONVERGING : Verdict.WRITE;
    }

    /**
     * Holds back an update of {@code fields} of {@code what} unless the verdict is to send it: sets the condition that says
     * why and returns when to look again; null when the update should go.
     */
    static Duration hold(HsmStatus st, LastUpdate last, String fields, String what, String modifiedNow, Long generation, Clock clock,
                         OperatorConfig.Reconcile reconcile) {
        switch (verdict(last, fields, modifiedNow, generation, Instant.now(clock))) {
            case WAIT_FOR_READ:
                Conditions.progressing(st, Reason.Updating, "Azure is applying the change to " + fields + " of " + what + "; its reads do "
                        + "not show it yet.", generation, clock);
                return reconcile.poll();
            case NOT_CONVERGING:
                Conditions.stalled(st, Reason.DriftNotConverging, "Azure took " + MAX_ATTEMPTS + " updates of " + fields + " of " + what
                        + " and still reports a different value, so the operator stopped sending them: something changes it back (an "
                        + "Azure Policy with the modify effect?) or Azure normalises it. Change the spec to try again.", generation, clock);
                return reconcile.resync();
            default:
                return null;
        }
    }

    /**
     * The same verdict for an update that must not hold up the rest of a reconcile (a key's Azure rotation policy, an
     * endpoint's tags): whether to send it now. One that does not converge is said once, in a Warning event (the record's
     * attempts then go one past the limit), and not sent again until the spec changes.
     */
    static boolean mayWrite(LastUpdate last, String fields, String what, String modifiedNow, Long generation, Instant now, Events events,
                            io.fabric8.kubernetes.api.model.HasMetadata cr) {
        switch (verdict(last, fields, modifiedNow, generation, now)) {
            case WRITE:
                return true;
            case NOT_CONVERGING:
                if (last.attempts <= MAX_ATTEMPTS) {
                    events.warning(cr, Reason.DriftNotConverging.name(), "Azure took " + MAX_ATTEMPTS + " updates of " + fields + " of "
                            + what + " and still reports a different value; the operator stopped sending them. Change the spec to try again.");
                    last.attempts = MAX_ATTEMPTS + 1;
                }
                return false;
            default:
                return false;
        }
    }

    /** What to remember of an update just sent. */
    static LastUpdate sent(LastUpdate last, String fields, String modifiedBefore, Long generation, Instant now) {
        LastUpdate u = new LastUpdate();
        u.fields = fields;
        u.modifiedBefore = modifiedBefore;
        u.sentAt = now.toString();
        u.generation = generation;
        boolean again = last != null && fields.equals(last.fields) && Objects.equals(generation, last.generation);
        u.attempts = again && last.attempts != null ? last.attempts + 1 : 1;
        return u;
    }
}
