package io.hsmoperator.rotation;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * All backup schedule and retention arithmetic, as pure functions of what status records and the time: whether a
 * backup is due (and why), when the next one falls due, and which of the resource's own folders retention lets go.
 *
 * <p>Due-ness: a backup falls due {@code every} after the previous one started, whatever its outcome (a failed backup is
 * retried at the next slot, not in a loop). After downtime of several periods the previous backup is simply old, so the
 * operator makes one backup, not one per missed period. A backup-now token not yet handled makes one extra backup.
 *
 * <p>Window: with a time-of-day window (UTC), a scheduled backup starts only inside it. A slot that falls outside waits for
 * the window's next opening; a slot missed while the operator was down, found when the window has closed, waits for the
 * next opening too (one backup, as without a window). Backup-now ignores the window: someone asked for it now.
 *
 * <p>Minimum interval: {@link #SHORTEST_INTERVAL}, an hour. Managed HSM runs one backup or restore at a time per HSM and a
 * full backup takes minutes; an hour leaves a restore (or another HsmBackup of the same HSM) room between backups, and
 * still allows hourly recovery points.
 */
public final class BackupSchedule {
    public static final Duration SHORTEST_INTERVAL = Duration.ofHours(1);

    private BackupSchedule() {
    }

    public enum Trigger { SCHEDULE, BACKUP_NOW }

    /** A backup to start now ({@code trigger} null: none) and when the next scheduled one falls due. */
    public record Plan(Trigger trigger, String token, Instant nextDue) {
    }

    /** A backup folder the resource made, and when its backup started. */
    public record Folder(String url, Instant time) {
    }

    /** Hours of the day (UTC) in which scheduled backups start: [start, end), spanning midnight when end is before start. */
    public record Window(LocalTime start, LocalTime end) {
        /** The window of HH:MM strings; null when either is unset (no window). Call {@link #validate} first. */
        public static Window of(String start, String end) {
            return start == null || end == null ? null : new Window(LocalTime.parse(start), LocalTime.parse(end));
        }

        /** Whether {@code t} is inside the window. */
        public boolean contains(Instant t) {
            LocalTime time = t.atOffset(ZoneOffset.UTC).toLocalTime();
            return start.isBefore(end) ? !time.isBefore(start) && time.isBefore(end) : !time.isBefore(start) || time.isBefore(end);
        }

        /** {@code t} itself when it is inside the window, else the window's next opening after it. */
        public Instant opening(Instant t) {
            if (contains(t)) {
                return t;
            }
            Instant today = t.truncatedTo(ChronoUnit.DAYS).plusSeconds(start.toSecondOfDay());
            return today.isAfter(t) ? today : today.plus(1, ChronoUnit.DAYS);
        }
    }

    /** {@link #plan(IsoDuration, Instant, String, String, Instant, Window)} without a window. */
    public static Plan plan(IsoDuration every, Instant lastStart, String token, String handledToken, Instant now) {
        return plan(every, lastStart, token, handledToken, now, null);
    }

    /**
     * The decision. {@code lastStart}: when the previous backup (any outcome) started, null when there was none;
     * {@code token}: the backup-now annotation's token; {@code handledToken}: the last token a backup answered;
     * {@code window}: when scheduled backups may start, null for any time. {@code nextDue} is when the next scheduled
     * backup may start: the slot, moved to the window's next opening when it falls outside.
     */
    public static Plan plan(IsoDuration every, Instant lastStart, String token, String handledToken, Instant now, Window window) {
        Instant slot = lastStart == null ? now : every.addTo(lastStart);
        Instant due = window == null ? slot : window.opening(slot);
        if (!now.isBefore(due) && window != null && !window.contains(now)) {
            // Due, but the window has closed since (the operator was down, or another job held the HSM): its next opening.
            due = window.opening(now);
        }
        if (token != null && !token.isBlank() && !token.equals(handledToken)) {
            return new Plan(Trigger.BACKUP_NOW, token, due);
        }
        if (!now.isBefore(due)) {
            return new Plan(Trigger.SCHEDULE, null, due);
        }
        return new Plan(null, null, due);
    }

    /**
     * The folders retention lets go: a folder is kept when it is among the newest {@code keepLast}, or younger than
     * {@code maxAge}, or the newest of all; the others go. With neither rule set, every folder is kept. {@code folders}
     * in the order status records them, oldest first.
     */
    public static List<Folder> expired(List<Folder> folders, Integer keepLast, IsoDuration maxAge, Instant now) {
        if (keepLast == null && maxAge == null) {
            return List.of();
        }
        // Status lists folders oldest first, and job start times have whole seconds: of two backups started in the same
        // second, the one recorded later is the newer (reversed first, then a stable sort keeps that order on ties).
        List<Folder> newestFirst = new ArrayList<>(folders);
        java.util.Collections.reverse(newestFirst);
        newestFirst.sort(Comparator.comparing(Folder::time).reversed());
        Instant cutoff = maxAge == null ? null : maxAge.subtractFrom(now);
        List<Folder> out = new ArrayList<>();
        for (int i = 1; i < newestFirst.size(); i++) {
            Folder f = newestFirst.get(i);
            boolean keptByCount = keepLast != null && i < keepLast;
            boolean keptByAge = cutoff != null && f.time().isAfter(cutoff);
            if (!keptByCount && !keptByAge) {
                out.add(f);
            }
        }
        return out;
    }

    /** {@link #validate(String, String, String, Integer, String)} without a window. */
    public static String validate(String every, Integer keepLast, String maxAge) {
        return validate(every, null, null, keepLast, maxAge);
    }

    /**
     * Checks the schedule and retention before anything is sent: a parseable interval of at least an hour, a window of
     * two different HH:MM times (both or neither), keepLast of at least one, a parseable maxAge of at least the interval
     * (a shorter one would keep only the newest backup).
     */
    public static String validate(String every, String windowStart, String windowEnd, Integer keepLast, String maxAge) {
        IsoDuration e = IsoDuration.parse(every);
        if (e == null) {
            return "schedule.every '" + every + "' is not an ISO-8601 duration (for example P1D or PT6H).";
        }
        if (e.atLeast().compareTo(SHORTEST_INTERVAL) < 0) {
            return "schedule.every " + every + " is shorter than an hour: Managed HSM runs one backup or restore at a time and a "
                    + "backup takes minutes. Back up at most hourly.";
        }
        String window = validateWindow(windowStart, windowEnd);
        if (window != null) {
            return window;
        }
        if (keepLast != null && keepLast < 1) {
            return "retention.keepLast " + keepLast + " would keep no backup; keep at least 1.";
        }
        if (maxAge != null) {
            IsoDuration a = IsoDuration.parse(maxAge);
            if (a == null) {
                return "retention.maxAge '" + maxAge + "' is not an ISO-8601 duration (for example P30D).";
            }
            if (a.atMost().compareTo(e.atLeast()) < 0) {
                return "retention.maxAge " + maxAge + " is shorter than schedule.every " + every + ": only the newest backup would "
                        + "ever be kept. Keep backups for at least one interval.";
            }
        }
        return null;
    }

    private static String validateWindow(String start, String end) {
        if (start == null && end == null) {
            return null;
        }
        if (start == null || end == null) {
            return "schedule.window needs both start and end (HH:MM, UTC), for example start 01:00 and end 05:00.";
        }
        for (String t : new String[]{start, end}) {
            if (!t.matches("^([01][0-9]|2[0-3]):[0-5][0-9]$")) {
                return "schedule.window time '" + t + "' is not HH:MM in UTC (00:00 to 23:59), for example 01:00.";
            }
        }
        try {
            if (LocalTime.parse(start).equals(LocalTime.parse(end))) {
                return "schedule.window start and end are both " + start + ": a window must have a length; unset the window to "
                        + "allow backups at any time.";
            }
        } catch (DateTimeParseException x) {
            return "schedule.window time is not HH:MM in UTC: " + x.getParsedString() + ".";
        }
        return null;
    }
}
