package io.hsmoperator.rotation;

import java.time.Duration;
import java.time.Instant;
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

    /**
     * The decision. {@code lastStart}: when the previous backup (any outcome) started, null when there was none;
     * {@code token}: the backup-now annotation's token; {@code handledToken}: the last token a backup answered.
     */
    public static Plan plan(IsoDuration every, Instant lastStart, String token, String handledToken, Instant now) {
        Instant due = lastStart == null ? now : every.addTo(lastStart);
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
     * {@code maxAge}, or the newest of all; the others go. With neither rule set, every folder is kept.
     */
    public static List<Folder> expired(List<Folder> folders, Integer keepLast, IsoDuration maxAge, Instant now) {
        if (keepLast == null && maxAge == null) {
            return List.of();
        }
        List<Folder> newestFirst = new ArrayList<>(folders);
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

    /**
     * Checks the schedule and retention before anything is sent: a parseable interval of at least an hour, keepLast of
     * at least one, a parseable maxAge of at least the interval (a shorter one would keep only the newest backup).
     */
    public static String validate(String every, Integer keepLast, String maxAge) {
        IsoDuration e = IsoDuration.parse(every);
        if (e == null) {
            return "schedule.every '" + every + "' is not an ISO-8601 duration (for example P1D or PT6H).";
        }
        if (e.atLeast().compareTo(SHORTEST_INTERVAL) < 0) {
            return "schedule.every " + every + " is shorter than an hour: Managed HSM runs one backup or restore at a time and a "
                    + "backup takes minutes. Back up at most hourly.";
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
}
