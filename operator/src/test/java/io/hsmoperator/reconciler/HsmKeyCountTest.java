package io.hsmoperator.reconciler;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The arithmetic of the HSM's key count: when to count again, and when a count is a crossing worth one warning. */
class HsmKeyCountTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final Duration TEN_MINUTES = Duration.ofMinutes(10);

    @Test
    void ninetyPercentOfFiveThousandIsFourThousandFiveHundred() {
        assertEquals(4500, HsmKeyCount.threshold(0.9));
        assertEquals(3750, HsmKeyCount.threshold(0.75));
        assertEquals(5000, HsmKeyCount.threshold(1.0));
    }

    @Test
    void aCountAtOrAboveTheThresholdFromBelowIsACrossing() {
        assertTrue(HsmKeyCount.crossed(4499, 4500, 0.9));
        assertTrue(HsmKeyCount.crossed(10, 4999, 0.9));
        assertFalse(HsmKeyCount.crossed(4000, 4499, 0.9));
    }

    @Test
    void theFirstCountWarnsWhenItIsAlreadyNearTheLimit() {
        assertTrue(HsmKeyCount.crossed(null, 4600, 0.9));
        assertFalse(HsmKeyCount.crossed(null, 12, 0.9));
    }

    @Test
    void stayingNearTheLimitWarnsOnceAndDroppingBelowThenCrossingAgainWarnsAgain() {
        assertFalse(HsmKeyCount.crossed(4500, 4501, 0.9), "once per crossing, not per count");
        assertFalse(HsmKeyCount.crossed(4600, 4400, 0.9));
        assertTrue(HsmKeyCount.crossed(4400, 4550, 0.9));
    }

    @Test
    void keysAreCountedAtMostOncePerDriftInterval() {
        assertTrue(HsmKeyCount.due(null, TEN_MINUTES, T0), "never counted");
        assertFalse(HsmKeyCount.due(T0, TEN_MINUTES, T0.plusSeconds(599)));
        assertTrue(HsmKeyCount.due(T0, TEN_MINUTES, T0.plus(TEN_MINUTES)));
    }

    @Test
    void ninetyPercentOfTheRoleAssignmentLimitsIsNineAndFortyFive() {
        assertEquals(9, HsmKeyCount.threshold(io.hsmoperator.azure.HsmAccessControl.assignmentLimit("/keys/signing"), 0.9));
        assertEquals(45, HsmKeyCount.threshold(io.hsmoperator.azure.HsmAccessControl.assignmentLimit("/keys"), 0.9));
        assertEquals(45, HsmKeyCount.threshold(io.hsmoperator.azure.HsmAccessControl.assignmentLimit("/"), 0.9));
    }
}
