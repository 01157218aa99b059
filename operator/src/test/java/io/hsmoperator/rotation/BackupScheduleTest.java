package io.hsmoperator.rotation;

import io.hsmoperator.azure.HsmBackups;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackupScheduleTest {
    private static final Instant T0 = Instant.parse("2027-03-01T02:00:00Z");
    private static final IsoDuration DAY = IsoDuration.parse("P1D");

    private static BackupSchedule.Folder folder(String name, Instant time) {
        return new BackupSchedule.Folder("https://acct.blob.core.windows.net/backups/" + name, time);
    }

    @Test
    void theFirstBackupIsDueAtOnceAndTheNextAnIntervalAfterTheLastStart() {
        BackupSchedule.Plan first = BackupSchedule.plan(DAY, null, null, null, T0);
        assertEquals(BackupSchedule.Trigger.SCHEDULE, first.trigger());
        assertEquals(T0, first.nextDue());

        BackupSchedule.Plan waiting = BackupSchedule.plan(DAY, T0, null, null, T0.plusSeconds(3600));
        assertNull(waiting.trigger());
        assertEquals(T0.plusSeconds(86400), waiting.nextDue());

        BackupSchedule.Plan due = BackupSchedule.plan(DAY, T0, null, null, T0.plusSeconds(86400));
        assertEquals(BackupSchedule.Trigger.SCHEDULE, due.trigger());
    }

    @Test
    void aWeekOfDowntimeMakesOneBackupNotSeven() {
        Instant back = T0.plusSeconds(7 * 86400 + 600);
        BackupSchedule.Plan plan = BackupSchedule.plan(DAY, T0, null, null, back);
        assertEquals(BackupSchedule.Trigger.SCHEDULE, plan.trigger());
        // once that backup started (at `back`), the next is a day after it, not at the missed slots
        BackupSchedule.Plan after = BackupSchedule.plan(DAY, back, null, null, back.plusSeconds(60));
        assertNull(after.trigger());
        assertEquals(back.plusSeconds(86400), after.nextDue());
    }

    @Test
    void eachDistinctBackupNowTokenMakesOneBackup() {
        BackupSchedule.Plan now = BackupSchedule.plan(DAY, T0, "release-42", null, T0.plusSeconds(60));
        assertEquals(BackupSchedule.Trigger.BACKUP_NOW, now.trigger());
        assertEquals("release-42", now.token());
        assertNull(BackupSchedule.plan(DAY, T0, "release-42", "release-42", T0.plusSeconds(60)).trigger(), "handled once");
        assertEquals(BackupSchedule.Trigger.BACKUP_NOW, BackupSchedule.plan(DAY, T0, "release-43", "release-42", T0.plusSeconds(60)).trigger());
        assertNull(BackupSchedule.plan(DAY, T0, "  ", null, T0.plusSeconds(60)).trigger(), "a blank token asks for nothing");
    }

    @Test
    void keepLastKeepsTheNewestAndLetsTheOldestGo() {
        List<BackupSchedule.Folder> folders = List.of(folder("a", T0), folder("c", T0.plusSeconds(172800)), folder("b", T0.plusSeconds(86400)));
        List<BackupSchedule.Folder> expired = BackupSchedule.expired(folders, 2, null, T0.plusSeconds(172900));
        assertEquals(List.of(folder("a", T0)), expired);
        assertEquals(List.of(), BackupSchedule.expired(folders, 3, null, T0), "three kept of three");
        assertEquals(List.of(), BackupSchedule.expired(folders, null, null, T0), "no retention: all kept");
    }

    @Test
    void ofTwoBackupsStartedInTheSameSecondTheOneRecordedLaterIsTheNewer() {
        List<BackupSchedule.Folder> folders = List.of(folder("first", T0), folder("second", T0));
        assertEquals(List.of(folder("first", T0)), BackupSchedule.expired(folders, 1, null, T0.plusSeconds(5)));
    }

    @Test
    void maxAgeLetsOldFoldersGoButNeverTheNewest() {
        List<BackupSchedule.Folder> folders = List.of(folder("a", T0), folder("b", T0.plusSeconds(86400)));
        Instant later = T0.plusSeconds(40 * 86400L);
        assertEquals(List.of(folder("a", T0)), BackupSchedule.expired(folders, null, IsoDuration.parse("P30D"), later),
                "both are older than 30 days; the newest stays (backups may have failed for a month)");
        assertEquals(List.of(), BackupSchedule.expired(folders, null, IsoDuration.parse("P60D"), later));
    }

    @Test
    void withBothRulesAFolderEitherRuleKeepsStays() {
        Instant now = T0.plusSeconds(10 * 86400L);
        List<BackupSchedule.Folder> folders = List.of(folder("old", T0), folder("week", now.minusSeconds(7 * 86400L)),
                folder("day", now.minusSeconds(86400)), folder("new", now.minusSeconds(60)));
        // keepLast 2 keeps new and day; maxAge P8D keeps week too; old goes
        assertEquals(List.of(folder("old", T0)), BackupSchedule.expired(folders, 2, IsoDuration.parse("P8D"), now));
        // keepLast 3 keeps week by count even with a short maxAge
        assertEquals(List.of(folder("old", T0)), BackupSchedule.expired(folders, 3, IsoDuration.parse("P1D"), now));
    }

    @Test
    void badSchedulesAndRetentionsAreRefusedWithWhatToChange() {
        assertNull(BackupSchedule.validate("P1D", 7, "P30D"));
        assertNull(BackupSchedule.validate("PT1H", null, null));
        assertTrue(BackupSchedule.validate("PT30M", 7, null).contains("shorter than an hour"));
        assertTrue(BackupSchedule.validate("daily", 7, null).contains("not an ISO-8601 duration"));
        assertTrue(BackupSchedule.validate("P1D", 0, null).contains("keep at least 1"));
        assertTrue(BackupSchedule.validate("P1D", null, "30 days").contains("retention.maxAge"));
        assertTrue(BackupSchedule.validate("P7D", null, "P1D").contains("shorter than schedule.every"));
    }

    private static final BackupSchedule.Window NIGHT = BackupSchedule.Window.of("01:00", "05:00");
    private static final BackupSchedule.Window AROUND_MIDNIGHT = BackupSchedule.Window.of("22:00", "02:00");

    private static Instant at(String time) {
        return Instant.parse("2027-03-01T" + time + ":00Z");
    }

    @Test
    void aSlotInsideTheWindowIsKeptAndOneOutsideWaitsForTheNextOpening() {
        // last backup 02:00 yesterday: the slot (02:00 today) is inside 01:00-05:00
        BackupSchedule.Plan inside = BackupSchedule.plan(DAY, at("02:00").minusSeconds(86400), null, null, at("01:30"), NIGHT);
        assertNull(inside.trigger());
        assertEquals(at("02:00"), inside.nextDue());
        assertEquals(BackupSchedule.Trigger.SCHEDULE,
                BackupSchedule.plan(DAY, at("02:00").minusSeconds(86400), null, null, at("02:00"), NIGHT).trigger());

        // last backup 12:00 yesterday (made with backup-now): the slot (12:00 today) waits until 01:00 tomorrow
        Instant lastNoon = at("12:00").minusSeconds(86400);
        BackupSchedule.Plan outside = BackupSchedule.plan(DAY, lastNoon, null, null, at("12:00"), NIGHT);
        assertNull(outside.trigger(), "due at noon, outside the window");
        assertEquals(at("01:00").plusSeconds(86400), outside.nextDue());
        assertEquals(BackupSchedule.Trigger.SCHEDULE, BackupSchedule.plan(DAY, lastNoon, null, null, at("01:00").plusSeconds(86400), NIGHT)
                .trigger(), "at the opening");

        // the first backup of a new resource waits for the window too
        BackupSchedule.Plan first = BackupSchedule.plan(DAY, null, null, null, at("09:15"), NIGHT);
        assertNull(first.trigger());
        assertEquals(at("01:00").plusSeconds(86400), first.nextDue());
        // the window's end is exclusive
        assertEquals(at("01:00").plusSeconds(86400), BackupSchedule.plan(DAY, null, null, null, at("05:00"), NIGHT).nextDue());
    }

    @Test
    void aWindowMaySpanMidnight() {
        assertTrue(AROUND_MIDNIGHT.contains(at("23:30")));
        assertTrue(AROUND_MIDNIGHT.contains(at("00:00")));
        assertTrue(AROUND_MIDNIGHT.contains(at("01:59")));
        assertFalse(AROUND_MIDNIGHT.contains(at("02:00")));
        assertFalse(AROUND_MIDNIGHT.contains(at("21:59")));
        assertEquals(at("22:00"), AROUND_MIDNIGHT.opening(at("02:00")), "the same day's evening");
        assertEquals(at("00:30"), AROUND_MIDNIGHT.opening(at("00:30")), "inside: at once");
        BackupSchedule.Plan plan = BackupSchedule.plan(DAY, at("15:00").minusSeconds(86400), null, null, at("15:00"), AROUND_MIDNIGHT);
        assertNull(plan.trigger());
        assertEquals(at("22:00"), plan.nextDue());
        assertEquals(BackupSchedule.Trigger.SCHEDULE,
                BackupSchedule.plan(DAY, at("15:00").minusSeconds(86400), null, null, at("23:00"), AROUND_MIDNIGHT).trigger());
    }

    @Test
    void afterALongOutageOneBackupAtTheWindowAndNoneOutsideIt() {
        Instant last = at("02:00").minusSeconds(10 * 86400L);
        // back at 08:00, ten days later: overdue, but the window has closed; the next opening, not now
        BackupSchedule.Plan morning = BackupSchedule.plan(DAY, last, null, null, at("08:00"), NIGHT);
        assertNull(morning.trigger());
        assertEquals(at("01:00").plusSeconds(86400), morning.nextDue());
        // back at 03:00: inside the window, one backup now
        BackupSchedule.Plan night = BackupSchedule.plan(DAY, last, null, null, at("03:00"), NIGHT);
        assertEquals(BackupSchedule.Trigger.SCHEDULE, night.trigger());
        // once it started, the next is a day later, still inside
        assertEquals(at("03:00").plusSeconds(86400), BackupSchedule.plan(DAY, at("03:00"), null, null, at("03:05"), NIGHT).nextDue());
    }

    @Test
    void anIntervalShorterThanTheWindowBacksUpInsideItOnlyAndOneLongerLandsOnItsOpenings() {
        IsoDuration hourly = IsoDuration.parse("PT1H");
        assertEquals(at("02:00"), BackupSchedule.plan(hourly, at("01:00"), null, null, at("01:10"), NIGHT).nextDue(), "hourly inside");
        // 04:30 + 1h = 05:30, after the window: the next night
        assertEquals(at("01:00").plusSeconds(86400), BackupSchedule.plan(hourly, at("04:30"), null, null, at("04:40"), NIGHT).nextDue());
        // a window shorter than the interval's remainder: every 36 hours from 01:00 falls at 13:00, then 01:00 two days on
        IsoDuration dayAndAHalf = IsoDuration.parse("PT36H");
        assertEquals(at("01:00").plusSeconds(2 * 86400L), BackupSchedule.plan(dayAndAHalf, at("01:00"), null, null, at("02:00"), NIGHT)
                .nextDue());
    }

    @Test
    void backupNowIgnoresTheWindow() {
        BackupSchedule.Plan now = BackupSchedule.plan(DAY, at("02:00"), "before-upgrade", null, at("14:00"), NIGHT);
        assertEquals(BackupSchedule.Trigger.BACKUP_NOW, now.trigger());
        assertEquals(at("02:00").plusSeconds(86400), now.nextDue(), "the schedule is unchanged");
    }

    @Test
    void badWindowsAreRefusedWithWhatToChange() {
        assertNull(BackupSchedule.validate("P1D", "01:00", "05:00", null, null));
        assertNull(BackupSchedule.validate("P1D", "22:00", "02:00", null, null));
        assertTrue(BackupSchedule.validate("P1D", "01:00", "01:00", null, null).contains("must have a length"));
        assertTrue(BackupSchedule.validate("P1D", "1:00", "05:00", null, null).contains("not HH:MM"));
        assertTrue(BackupSchedule.validate("P1D", "01:00", "24:00", null, null).contains("not HH:MM"));
        assertTrue(BackupSchedule.validate("P1D", "01:00", null, null, null).contains("both start and end"));
    }

    @Test
    void onlyBlobContainerUrlsAreTaken() {
        assertNull(HsmBackups.containerUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups"));
        assertNull(HsmBackups.containerUrlProblem("https://127.0.0.1:10000/devstoreaccount1/hsm-backups"), "path-style (Azurite)");
        assertFalse(HsmBackups.containerUrlProblem("http://backupsacct.blob.core.windows.net/hsm-backups") == null, "not https");
        assertTrue(HsmBackups.containerUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups?sv=2024&sig=abc")
                .contains("put the SAS token in the Secret"));
        assertFalse(HsmBackups.containerUrlProblem("https://backupsacct.blob.core.windows.net/") == null, "no container");
        assertFalse(HsmBackups.containerUrlProblem("https://backupsacct.blob.core.windows.net/Bad_Name") == null, "not a container name");
        assertFalse(HsmBackups.containerUrlProblem("https://backupsacct.vault.azure.net/hsm-backups") == null, "not a blob endpoint");
        assertFalse(HsmBackups.containerUrlProblem("https://backupsacct.blob.core.windows.net/c/extra") == null, "a path in a container");
    }

    @Test
    void onlyTheHsmsOwnBackupFoldersMatch() {
        assertTrue(HsmBackups.isBackupFolderOf("mhsm-contoso-2027030102000012", "contoso"));
        assertFalse(HsmBackups.isBackupFolderOf("mhsm-contoso-prod-2027030102000012", "contoso"), "another HSM's folder");
        assertFalse(HsmBackups.isBackupFolderOf("notes", "contoso"));
        assertFalse(HsmBackups.isBackupFolderOf("mhsm-contoso-2027/../notes", "contoso"));
        assertEquals("x?sv=1&sig=REDACTED&se=2", HsmBackups.redact("x?sv=1&sig=abc%2Bdef&se=2"));
    }

    /** What an HsmRestore takes as its source: a backup folder (of any HSM) directly in a blob container. */
    @Test
    void onlyBackupFolderUrlsAreTaken() {
        assertNull(HsmBackups.folderUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups/mhsm-contoso-prod-2027030102000012"));
        assertNull(HsmBackups.folderUrlProblem("https://127.0.0.1:10000/devstoreaccount1/hsm-backups/mhsm-contoso-2027030102000012/"),
                "path-style (Azurite), a trailing slash");
        assertTrue(HsmBackups.folderUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups/mhsm-contoso-2027030102000012?sp=rl"
                + "&sig=abc").contains("put the SAS token in the Secret"));
        assertFalse(HsmBackups.folderUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups") == null, "a container, no folder");
        assertFalse(HsmBackups.folderUrlProblem("https://backupsacct.blob.core.windows.net/hsm-backups/notes") == null, "not a backup's folder");
        assertFalse(HsmBackups.folderUrlProblem("https://backupsacct.blob.core.windows.net/a/b/mhsm-contoso-2027030102000012") == null,
                "a folder below a folder");
        assertFalse(HsmBackups.folderUrlProblem("https://backupsacct.vault.azure.net/hsm-backups/mhsm-contoso-2027030102000012") == null,
                "not a blob endpoint");
        assertFalse(HsmBackups.folderUrlProblem("http://backupsacct.blob.core.windows.net/hsm-backups/mhsm-contoso-2027030102000012") == null,
                "not https");
    }
}
