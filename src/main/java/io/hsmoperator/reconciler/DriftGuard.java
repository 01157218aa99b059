package io.hsmoperator.reconciler;

import io.hsmoperator.api.common.LastUpdate;

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
