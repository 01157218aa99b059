package io.hsmoperator.rotation;

import io.hsmoperator.rotation.RotationSchedule.Plan;
import io.hsmoperator.rotation.RotationSchedule.Policy;
import io.hsmoperator.rotation.RotationSchedule.Trigger;
import io.hsmoperator.rotation.RotationSchedule.Version;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RotationScheduleTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final Policy EVERY_90D = Policy.operatorDriven(IsoDuration.parse("P90D"), 2, IsoDuration.parse("P7D"));

    private static Version v(String name, Instant created, boolean enabled, Map<String, String> tags) {
        return new Version(name, created, null, enabled, tags);
    }

    private static Version v(String name, Instant created) {
        return v(name, created, true, Map.of());
    }

    private static Instant day(long d) {
        return T0.plus(Duration.ofDays(d));
    }

    @Test
    void aVersionYoungerThanThePeriodIsNotRotated() {
        Plan p = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), null, day(89));
        assertNull(p.rotate());
        assertEquals(day(90), p.nextRotation());
        assertEquals(day(90), p.nextLook());
    }

    @Test
    void theNewestVersionsAgeDecidesAndTheMarkerNamesTheSlot() {
        Plan p = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), null, day(90));
        assertEquals(Trigger.SCHEDULE, p.rotate().trigger());
        assertEquals(RotationSchedule.SCHEDULE_TAG, p.rotate().markerTag());
        assertEquals(day(90).toString(), p.rotate().markerValue());
    }

    @Test
    void afterLongDowntimeItRotatesOnceNotOncePerMissedPeriod() {
        List<Version> versions = new ArrayList<>(List.of(v("a", T0)));
        Instant now = day(1000);
        Plan p = RotationSchedule.plan(EVERY_90D, versions, null, now);
        assertNotNull(p.rotate());
        // the version the operator then creates is new: nothing more is due
        versions.add(v("b", now, true, Map.of(p.rotate().markerTag(), p.rotate().markerValue())));
        Plan after = RotationSchedule.plan(EVERY_90D, versions, null, now.plusSeconds(1));
        assertNull(after.rotate());
        assertEquals(now.plus(Duration.ofDays(90)), after.nextRotation());
    }

    @Test
    void aRotationWhoseVersionExistsIsNotMadeAgain() {
        // Azure committed the version for this slot; it is found by its marker even if it were not the newest
        Map<String, String> marker = Map.of(RotationSchedule.SCHEDULE_TAG, day(90).toString());
        Plan p = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0), v("b", T0.minusSeconds(10), true, marker)), null, day(90));
        assertNull(p.rotate());
    }

    @Test
    void rotateNowMakesOneVersionPerDistinctToken() {
        Plan first = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), "incident-42", day(3));
        assertEquals(Trigger.ROTATE_NOW, first.rotate().trigger());
        assertEquals("incident-42", first.rotate().markerValue());
        List<Version> after = List.of(v("a", T0), v("b", day(3), true, Map.of(RotationSchedule.ROTATE_NOW_TAG, "incident-42")));
        Plan again = RotationSchedule.plan(EVERY_90D, after, "incident-42", day(4));
        assertNull(again.rotate(), "the same token twice: one version");
        assertEquals("incident-42", again.tokenHandled());
        assertEquals(Trigger.ROTATE_NOW, RotationSchedule.plan(EVERY_90D, after, "incident-43", day(4)).rotate().trigger());
    }

    @Test
    void aTokenStatusRecordsAsHandledStaysHandledWhenItsVersionIsGone() {
        // The version incident-42 made was taken away by a restore of an older backup: no second rotation for the token.
        Plan restored = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), "incident-42", "incident-42", day(4));
        assertNull(restored.rotate());
        assertEquals("incident-42", restored.tokenHandled());
        assertEquals(Trigger.ROTATE_NOW, RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), "incident-43", "incident-42", day(4))
                .rotate().trigger(), "a new token still rotates");
        assertEquals(Trigger.SCHEDULE, RotationSchedule.plan(EVERY_90D, List.of(v("a", T0)), "incident-42", "incident-42", day(91))
                .rotate().trigger(), "and the schedule still runs");
    }

    @Test
    void versionsBeyondTheKeptOnesAreDisabledOnlyAfterTheGracePeriod() {
        List<Version> versions = List.of(v("a", T0), v("b", day(90)), v("c", day(180)));
        Plan during = RotationSchedule.plan(EVERY_90D, versions, null, day(186));
        assertEquals(List.of(), during.disable(), "a left the two enabled versions when c was created, 6 days ago");
        assertEquals(day(187), during.nextLook(), "it looks again when the grace period ends");
        Plan after = RotationSchedule.plan(EVERY_90D, versions, null, day(187));
        assertEquals(List.of("a"), after.disable());
        Plan disabled = RotationSchedule.plan(EVERY_90D, List.of(v("a", T0, false, Map.of()), v("b", day(90)), v("c", day(180))), null, day(200));
        assertEquals(List.of(), disabled.disable(), "a disabled version is never touched again");
    }

    @Test
    void scheduledRotationStopsBeforeTheVersionLimitAndRotateNowKeepsTheReserve() {
        List<Version> versions = new ArrayList<>();
        for (int i = 0; i < RotationSchedule.VERSION_LIMIT - RotationSchedule.RESERVED_FOR_ROTATE_NOW; i++) {
            versions.add(v("v" + i, day(i), i >= 93, Map.of()));
        }
        Plan p = RotationSchedule.plan(EVERY_90D, versions, null, day(1000));
        assertNull(p.rotate());
        assertTrue(p.limit().contains("Scheduled rotation has stopped"), p.limit());
        assertEquals(Trigger.ROTATE_NOW, RotationSchedule.plan(EVERY_90D, versions, "emergency", day(1000)).rotate().trigger());
        while (versions.size() < RotationSchedule.VERSION_LIMIT) {
            versions.add(v("x" + versions.size(), day(versions.size()), true, new HashMap<>()));
        }
        Plan full = RotationSchedule.plan(EVERY_90D, versions, "another", day(1000));
        assertNull(full.rotate(), "never a create Azure would refuse");
        assertTrue(full.limit().contains("cannot be honoured"), full.limit());
    }

    @Test
    void azureDrivenRotationIsPredictedNotMade() {
        Policy azure = Policy.azureDriven(IsoDuration.parse("P30D"), null, 2, IsoDuration.parse("P7D"));
        Plan p = RotationSchedule.plan(azure, List.of(v("a", T0)), null, day(45));
        assertNull(p.rotate(), "Azure rotates; the operator only reports");
        assertEquals(day(30), p.nextRotation());
        Policy beforeExpiry = Policy.azureDriven(null, IsoDuration.parse("P30D"), 2, IsoDuration.parse("P7D"));
        assertEquals(day(335), RotationSchedule.nextRotation(beforeExpiry, new Version("a", T0, day(365), true, Map.of())));
    }

    @Test
    void versionsCreatedInTheSameSecondAreOrderedAsGiven() {
        Policy keepOne = Policy.operatorDriven(IsoDuration.parse("P90D"), 1, IsoDuration.parse("P7D"));
        // Azure's times are whole seconds: a rotate-now right after the create shares its second
        Plan p = RotationSchedule.plan(keepOne, List.of(v("first", T0), v("current", T0)), null, day(8));
        assertEquals(List.of("first"), p.disable(), "the current version (last given) is the one kept");
        Plan q = RotationSchedule.plan(keepOne, List.of(v("current", T0), v("first", T0)), null, day(8));
        assertEquals(List.of("current"), q.disable(), "order decides, not chance");
    }

    @Test
    void yearsAndMonthsCountInCalendarTime() {
        Policy yearly = Policy.operatorDriven(IsoDuration.parse("P1Y"), 2, IsoDuration.parse("P7D"));
        Instant leap = Instant.parse("2028-02-29T12:00:00Z");
        assertEquals(Instant.parse("2029-02-28T12:00:00Z"), RotationSchedule.plan(yearly, List.of(v("a", leap)), null, leap).nextRotation());
    }

    @Test
    void settingsAreCheckedBeforeAnythingIsSent() {
        assertNull(RotationSchedule.validateEvery("P90D", "P7D", "P1Y"));
        assertTrue(RotationSchedule.validateEvery("PT12H", "P7D", null).contains("shorter than a day"));
        assertTrue(RotationSchedule.validateEvery("P1Y", "P7D", "P90D").contains("longer than expiresAfter"));
        assertTrue(RotationSchedule.validateEvery("P1M", "P7D", "P30D").contains("longer than expiresAfter"),
                "a month can be 31 days: refused against 30");
        assertTrue(RotationSchedule.validateEvery("P90D", "soon", null).contains("gracePeriod"));

        assertNull(RotationSchedule.validateAzurePolicy("P90D", null, "P1Y", null));
        assertNull(RotationSchedule.validateAzurePolicy(null, "P30D", "P1Y", "P1Y"));
        assertTrue(RotationSchedule.validateAzurePolicy("P27D", null, null, null).contains("28 days"));
        assertTrue(RotationSchedule.validateAzurePolicy("P90D", null, "P20D", null).contains("28 days"));
        assertTrue(RotationSchedule.validateAzurePolicy(null, "P60D", "P80D", null).contains("less than 28 days"));
        assertTrue(RotationSchedule.validateAzurePolicy(null, "P30D", null, null).contains("needs expiryTime"));
        assertTrue(RotationSchedule.validateAzurePolicy("P90D", "P30D", "P1Y", null).contains("exactly one"));
        assertTrue(RotationSchedule.validateAzurePolicy("P1Y", null, "P90D", null).contains("expire before they rotate"));
        assertTrue(RotationSchedule.validateAzurePolicy("P90D", null, "P1Y", "P2Y").contains("disagree"));
    }

    private static final Duration FOURTEEN_DAYS = Duration.ofDays(14);

    @Test
    void aKeyThatNeverExpiresIsNeverWarnedAbout() {
        assertNull(RotationSchedule.expiresUnreplaced(null, null, FOURTEEN_DAYS, T0));
    }

    @Test
    void anExpiryBeyondTheWindowIsNotWarnedAboutYet() {
        assertNull(RotationSchedule.expiresUnreplaced(day(15), null, FOURTEEN_DAYS, T0));
    }

    @Test
    void anExpiryWithinTheWindowAndNoRotationIsWarnedAbout() {
        assertEquals(day(14), RotationSchedule.expiresUnreplaced(day(14), null, FOURTEEN_DAYS, T0));
        assertEquals(day(3), RotationSchedule.expiresUnreplaced(day(3), null, FOURTEEN_DAYS, T0));
    }

    @Test
    void aRotationDueBeforeTheExpiryReplacesTheVersionInTime() {
        assertNull(RotationSchedule.expiresUnreplaced(day(10), day(9), FOURTEEN_DAYS, T0));
    }

    @Test
    void aRotationDueOnlyAtOrAfterTheExpiryComesTooLate() {
        assertEquals(day(10), RotationSchedule.expiresUnreplaced(day(10), day(10), FOURTEEN_DAYS, T0));
        assertEquals(day(10), RotationSchedule.expiresUnreplaced(day(10), day(40), FOURTEEN_DAYS, T0));
    }

    @Test
    void anExpiredVersionWithNothingToReplaceItIsStillWarnedAbout() {
        assertEquals(day(-1), RotationSchedule.expiresUnreplaced(day(-1), null, FOURTEEN_DAYS, T0));
    }

    @Test
    void anAzurePolicyBeforeExpiryAlwaysRotatesFirst() {
        Policy azure = Policy.azureDriven(null, IsoDuration.parse("P30D"), 2, IsoDuration.parse("P7D"));
        Version current = new Version("a", day(-300), day(10), true, Map.of());
        Instant next = RotationSchedule.nextRotation(azure, current);
        assertNull(RotationSchedule.expiresUnreplaced(current.expires(), next, FOURTEEN_DAYS, T0));
    }

    @Test
    void aScheduleLongerThanAnExpirySetOutOfBandComesTooLate() {
        Version current = new Version("a", T0, day(20), true, Map.of());
        Instant next = RotationSchedule.nextRotation(EVERY_90D, current);
        assertEquals(day(20), RotationSchedule.expiresUnreplaced(current.expires(), next, FOURTEEN_DAYS, day(7)));
    }

    @Test
    void theWarningsWindowOpensAtTheExpiryLessTheWindowAndNotBeforeNow() {
        assertEquals(day(16), RotationSchedule.expiryWarningFrom(day(30), FOURTEEN_DAYS, T0));
        assertNull(RotationSchedule.expiryWarningFrom(day(10), FOURTEEN_DAYS, T0));
        assertNull(RotationSchedule.expiryWarningFrom(null, FOURTEEN_DAYS, T0));
    }
}
