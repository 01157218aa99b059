package io.hsmoperator.reconciler;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Condition messages read the same on every retry of the same failure. */
class ReportsTest {
    @Test
    void perRequestIdsAreLeftOutOfConditionMessages() {
        assertEquals("400 BadParameter: Invalid key size: '1024'",
                Reports.stable("400 BadParameter: Invalid key size: '1024' (Activity ID: 3f1c2d4e-0000-4a4a-9b9b-123456789abc)"));
        assertEquals("403 Forbidden: Caller is not authorized. Caller: appid=x",
                Reports.stable("403 Forbidden: Caller is not authorized. Caller: appid=x RequestId: 0a1b2c3d-4e5f-6789-abcd-ef0123456789"));
        assertEquals("503 ServiceUnavailable: try later", Reports.stable("503 ServiceUnavailable: try later"));
        assertEquals(Reports.stable("409 Conflict (Activity ID: 11111111-2222-3333-4444-555555555555)"),
                Reports.stable("409 Conflict (Activity ID: 99999999-2222-3333-4444-555555555555)"));
    }

    @Test
    void aCachedCopyOlderThanTheOperatorsOwnStatusWriteIsRecognised() {
        org.junit.jupiter.api.Assertions.assertTrue(Reports.olderThan("41", "42"), "a user's edit just before the status write");
        org.junit.jupiter.api.Assertions.assertFalse(Reports.olderThan("43", "42"), "the cache caught up");
        org.junit.jupiter.api.Assertions.assertFalse(Reports.olderThan("42", null));
        org.junit.jupiter.api.Assertions.assertFalse(Reports.olderThan("opaque", "42"), "non-numeric versions keep the informer's copy");
    }

    @Test
    void resyncsAreSpreadButDueTimesAreKept() {
        java.time.Duration resync = java.time.Duration.ofHours(1);
        java.time.Duration due = java.time.Duration.ofMinutes(17);
        assertEquals(due, Reports.spread(due, resync), "a rotation falling due wakes the key exactly then");
        assertEquals(null, Reports.spread(null, resync));
        java.util.Set<java.time.Duration> seen = new java.util.HashSet<>();
        for (int i = 0; i < 200; i++) {
            java.time.Duration d = Reports.spread(resync, resync);
            org.junit.jupiter.api.Assertions.assertTrue(d.compareTo(resync) >= 0 && d.compareTo(resync.plusMinutes(6)) <= 0, d.toString());
            seen.add(d);
        }
        org.junit.jupiter.api.Assertions.assertTrue(seen.size() > 150, "200 resources converged together look again at different times");
    }
}
