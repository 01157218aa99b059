package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.hsmoperator.api.common.HsmStatus;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Objects;

/**
 * The one place conditions are written, following the Kubernetes conventions and kstatus: Ready is the summary,
 * Reconciling says work is under way, Stalled says a change from the user is needed. lastTransitionTime moves only when
 * a condition's status changes.
 */
public final class Conditions {
    /** The generation of the spec a condition written now describes (its observedGeneration). */
    static Long gen(io.fabric8.kubernetes.api.model.HasMetadata resource) {
        return resource.getMetadata().getGeneration();
    }

    public static final String READY = io.hsmoperator.api.common.Conditions.READY;
    public static final String RECONCILING = io.hsmoperator.api.common.Conditions.RECONCILING;
    public static final String STALLED = io.hsmoperator.api.common.Conditions.STALLED;

    private Conditions() {
    }

    public static void set(HsmStatus s, String type, String status, Reason reason, String message, Long generation, Clock clock) {
        Condition existing = get(s, type);
        if (existing == null) {
            existing = new Condition();
            existing.setType(type);
            s.conditions.add(existing);
        }
        if (!Objects.equals(existing.getStatus(), status) || existing.getLastTransitionTime() == null) {
            existing.setLastTransitionTime(Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString());
        }
        existing.setStatus(status);
        existing.setReason(reason.name());
        existing.setMessage(message);
        existing.setObservedGeneration(generation);
    }

    public static Condition get(HsmStatus s, String type) {
        for (Condition c : s.conditions) {
            if (type.equals(c.getType())) {
                return c;
            }
        }
        return null;
    }

    public static boolean isTrue(HsmStatus s, String type) {
        Condition c = s == null ? null : get(s, type);
        return c != null && "True".equals(c.getStatus());
    }

    public static void remove(HsmStatus s, String type) {
        s.conditions.removeIf(c -> type.equals(c.getType()));
    }

    /** Converged: Ready=True, and neither reconciling nor stalled. */
    public static void ready(HsmStatus s, Reason reason, String message, Long gen, Clock clock) {
        set(s, READY, "True", reason, message, gen, clock);
        set(s, RECONCILING, "False", reason, message, gen, clock);
        set(s, STALLED, "False", reason, message, gen, clock);
    }

    /** Work under way (Azure is provisioning, a retry is scheduled): not ready, not stalled. */
    public static void progressing(HsmStatus s, Reason reason, String message, Long gen, Clock clock) {
        set(s, READY, "False", reason, message, gen, clock);
        set(s, RECONCILING, "True", reason, message, gen, clock);
        set(s, STALLED, "False", reason, message, gen, clock);
    }

    /** Stuck until the user changes something; the message says what. */
    public static void stalled(HsmStatus s, Reason reason, String message, Long gen, Clock clock) {
        set(s, READY, "False", reason, message, gen, clock);
        set(s, RECONCILING, "False", reason, message, gen, clock);
        set(s, STALLED, "True", reason, message, gen, clock);
    }

    /** First sight of a resource: Ready=Unknown while the operator looks. */
    public static void unknown(HsmStatus s, Long gen, Clock clock) {
        if (get(s, READY) == null) {
            set(s, READY, "Unknown", Reason.Reconciling, "The operator is reading Azure.", gen, clock);
            set(s, RECONCILING, "True", Reason.Reconciling, "The operator is reading Azure.", gen, clock);
        }
    }
}
