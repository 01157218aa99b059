package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.backup.HsmBackupSpec;
import io.hsmoperator.api.backup.HsmBackupStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.Consistency;
import io.hsmoperator.azure.HsmBackups;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.metrics.OperatorMetrics;
import io.hsmoperator.rotation.BackupSchedule;
import io.hsmoperator.rotation.IsoDuration;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmBackup: full backups of a Managed HSM into a blob container on a schedule (and once per backup-now token), with
 * retention of the folders it made. A backup is a job in Azure: its ID is recorded in status before the operator waits
 * on it, so a restarted operator polls the same job; a job of the HSM already running (Azure allows one at a time) is
 * waited for, and one Azure does not show yet is waited for too, until {@link Consistency#JOB_READ_LAG}. The storage is
 * reached with the SAS from the spec's Secret, or with managed identities (the HSM's writes, the operator's prunes). When
 * a backup is due (its window included) and what retention lets go is {@link BackupSchedule}'s arithmetic alone.
 */
@ControllerConfiguration(name = "hsmbackup", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmBackupReconciler implements Reconciler<HsmBackup>, Cleaner<HsmBackup> {
    static final int HISTORY = 10;
    private final HsmBackups backups;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;

    public HsmBackupReconciler(HsmBackups backups, OperatorConfig config, KubernetesClient kubernetes, Events events, Clock clock) {
        this.backups = backups;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, HsmBackup>> prepareEventSources(EventSourceContext<HsmBackup> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatReferrersRead));
    }

    @Override
    public UpdateControl<HsmBackup> reconcile(HsmBackup cr, Context<HsmBackup> context) {
        return Reports.reconcile(kubernetes, cr, HsmBackupStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(HsmBackup cr, HsmBackupStatus st) {
        HsmBackupSpec spec = cr.getSpec();
        String invalid = validate(spec);
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, spec.hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String uri = hsm.hsmUri();
        String hsmName = hsm.hsm().getSpec().azureName;
        Instant now = Instant.now(clock);

        if (st.running != null) {
            // The job needs no credential to be watched: a Secret gone meanwhile does not hide its outcome.
            Duration waiting = awaitJob(cr, st, uri, hsmName, now);
            if (waiting != null) {
                return waiting;
            }
        }

        // The storage credential: the SAS from its Secret, or null for managed identities (the HSM's, then the operator's).
        String sas = null;
        if (spec.destination.managedIdentity()) {
            String noIdentity = noIdentity(hsm.hsm());
            if (noIdentity != null) {
                stalled(st, Reason.NoManagedIdentity, noIdentity, gen(cr), clock);
                return config.reconcile().resync();
            }
        } else {
            SasSecrets.Sas secret = SasSecrets.read(kubernetes, cr.getMetadata().getNamespace(), spec.destination.sasTokenSecretRef,
                    "the container");
            if (secret.problem() != null) {
                stalled(st, Reason.SecretMissing, secret.problem(), gen(cr), clock);
                return config.reconcile().resync();
            }
            sas = secret.token();
        }

        prune(cr, st, sas, hsmName, now);

        IsoDuration every = IsoDuration.parse(spec.schedule.every);
        String token = UpdateTriggers.token(cr, io.hsmoperator.api.common.Conditions.BACKUP_NOW_ANNOTATION);
        BackupSchedule.Plan plan = BackupSchedule.plan(every, lastStart(st), token, st.lastBackupNowToken, now, window(spec));
        st.nextBackupTime = plan.nextDue().truncatedTo(ChronoUnit.SECONDS).toString();
        if (plan.trigger() != null) {
            HsmBackupStatus.Trigger trigger = plan.trigger() == BackupSchedule.Trigger.BACKUP_NOW ? HsmBackupStatus.Trigger.BackupNow
                    : HsmBackupStatus.Trigger.Schedule;
            HsmBackups.Job started;
            try {
                started = backups.start(uri, spec.destination.containerUrl, sas);
            } catch (AzureError e) {
                if (!e.is(AzureError.Kind.CONFLICT)) {
                    throw e;
                }
                // Azure runs one backup or restore at a time per HSM: another one (a restore, another HsmBackup) runs now.
                progressing(st, Reason.AnotherJobRunning, "A " + describe(trigger, plan.token()) + " is due, but another backup or "
                        + "restore is running on HSM " + hsmName + " (Azure allows one at a time); the operator starts it once that "
                        + "one has ended.", gen(cr), clock);
                return config.reconcile().poll();
            }
            st.running = new HsmBackupStatus.Running();
            st.running.jobId = started.id();
            st.running.trigger = trigger;
            st.running.token = plan.token();
            st.running.startTime = (started.start() != null ? started.start() : now).truncatedTo(ChronoUnit.SECONDS).toString();
            // Recorded before the operator waits on it: a restart polls this job instead of starting another.
            Reports.writeAhead(kubernetes, cr, st);
            events.mutation(cr, "BackupStarted", "Started backup job " + started.id() + " of HSM " + hsmName + " into "
                    + spec.destination.containerUrl + " (" + describe(trigger, plan.token()) + ")", started.mutation());
            progressing(st, Reason.BackingUp, "Backup job " + started.id() + " (" + describe(trigger, plan.token()) + ") started.",
                    gen(cr), clock);
            return config.reconcile().poll();
        }
        report(cr, st);
        return until(plan.nextDue(), now);
    }

    /** Polls the running job: the time to look again while it runs, or null once its outcome is recorded. */
    private Duration awaitJob(HsmBackup cr, HsmBackupStatus st, String uri, String hsmName, Instant now) {
        HsmBackups.Job job;
        try {
            job = backups.job(uri, st.running.jobId);
        } catch (AzureError e) {
            if (!e.is(AzureError.Kind.NOT_FOUND)) {
                throw e;
            }
            if (now.isBefore(Instant.parse(st.running.startTime).plus(Consistency.JOB_READ_LAG))) {
                // Azure's reads lag its writes: a job started moments ago may not show yet. Not a failure before the lag.
                progressing(st, Reason.BackingUp, "Backup job " + st.running.jobId + " (" + describe(st.running.trigger,
                        st.running.token) + ") started at " + st.running.startTime + "; Azure does not show it yet (its reads "
                        + "lag its writes), the operator looks again.", gen(cr), clock);
                return config.reconcile().poll();
            }
            job = new HsmBackups.Job(st.running.jobId, "Failed", null, null, now, "JobNotFound: Azure does not know backup job "
                    + st.running.jobId + ", " + Consistency.JOB_READ_LAG.toMinutes() + " minutes after it started.", null);
        }
        if (job.running()) {
            progressing(st, Reason.BackingUp, "Backup job " + job.id() + " (" + describe(st.running.trigger, st.running.token)
                    + ") is running since " + st.running.startTime + ".", gen(cr), clock);
            return config.reconcile().poll();
        }
        finished(cr, st, job, hsmName);
        return null;
    }

    /** Records the outcome of the job that ended: history, folders, lastSuccessful, the token it answered, an event. */
    private void finished(HsmBackup cr, HsmBackupStatus st, HsmBackups.Job job, String hsmName) {
        HsmBackupStatus.Running run = st.running;
        HsmBackupStatus.Attempt a = new HsmBackupStatus.Attempt();
        a.jobId = job.id();
        a.trigger = run.trigger;
        a.startTime = job.start() != null ? job.start().toString() : run.startTime;
        a.endTime = job.end() == null ? Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString() : job.end().toString();
        boolean ok = job.succeeded() && job.folderUrl() != null;
        a.outcome = ok ? HsmBackupStatus.Outcome.Succeeded : HsmBackupStatus.Outcome.Failed;
        if (ok) {
            a.folderUrl = job.folderUrl();
            HsmBackupStatus.LastSuccessful last = new HsmBackupStatus.LastSuccessful();
            last.time = a.startTime;
            last.folderUrl = job.folderUrl();
            last.duration = Duration.between(Instant.parse(a.startTime), Instant.parse(a.endTime)).toString();
            st.lastSuccessful = last;
            HsmBackupStatus.Folder f = new HsmBackupStatus.Folder();
            f.url = job.folderUrl();
            f.time = a.startTime;
            st.folders.add(f);
            events.normal(cr, "BackupSucceeded", "Backup job " + job.id() + " of HSM " + hsmName + " wrote " + job.folderUrl() + ".");
        } else {
            a.error = job.error() == null ? "Azure reported the job " + job.status() + " without a folder." : job.error();
            OperatorMetrics.backupFailed(failureReason(a.error));
            events.warning(cr, "BackupFailed", "Backup job " + job.id() + " of HSM " + hsmName + " failed: " + a.error);
        }
        st.history.add(0, a);
        while (st.history.size() > HISTORY) {
            st.history.remove(st.history.size() - 1);
        }
        if (run.token != null) {
            st.lastBackupNowToken = run.token;
        }
        st.running = null;
    }

    /**
     * Deletes the folders retention lets go: only folders status records as this resource's own, in its container, named
     * as a backup of its HSM. Each is dropped from status once its blobs are deleted.
     */
    private void prune(HsmBackup cr, HsmBackupStatus st, String sas, String hsmName, Instant now) {
        HsmBackupSpec.Retention r = cr.getSpec().retention;
        if (r == null || st.folders.isEmpty()) {
            return;
        }
        List<BackupSchedule.Folder> own = new ArrayList<>();
        st.folders.forEach(f -> own.add(new BackupSchedule.Folder(f.url, Instant.parse(f.time))));
        String container = cr.getSpec().destination.containerUrl.replaceAll("/+$", "");
        for (BackupSchedule.Folder f : BackupSchedule.expired(own, r.keepLast, IsoDuration.parse(r.maxAge), now)) {
            String folder = f.url().startsWith(container + "/") ? f.url().substring(container.length() + 1) : null;
            if (folder == null || !HsmBackups.isBackupFolderOf(folder, hsmName)) {
                // Never ours to delete: status names it, but not as a backup of this HSM in this container.
                events.warning(cr, "RetentionSkipped", "Left " + f.url() + " in place: it is not a backup folder of HSM " + hsmName
                        + " in " + container + ".");
                st.folders.removeIf(x -> x.url.equals(f.url()));
                continue;
            }
            int deleted = backups.deleteFolder(container, sas, folder);
            st.folders.removeIf(x -> x.url.equals(f.url()));
            events.normal(cr, "BackupPruned", "Deleted backup folder " + f.url() + " (" + deleted + " blobs) by retention "
                    + retention(r) + ".");
        }
    }

    /** Ready from the last backup's outcome: a failed backup is not a failed HSM; it is retried at the next slot. */
    private void report(HsmBackup cr, HsmBackupStatus st) {
        HsmBackupStatus.Attempt last = st.history.isEmpty() ? null : st.history.get(0);
        if (last != null && last.outcome == HsmBackupStatus.Outcome.Failed) {
            stalled(st, Reason.BackupFailed, "The last backup (job " + last.jobId + ") failed: " + last.error + " The next attempt is at "
                    + st.nextBackupTime + (st.lastSuccessful == null ? "; there is no successful backup yet." : "; the last successful "
                    + "backup is " + st.lastSuccessful.folderUrl + " of " + st.lastSuccessful.time + "."), gen(cr), clock);
            return;
        }
        if (st.lastSuccessful == null) {
            // Only a window delays a first backup: nothing is backed up yet, and nothing is wrong.
            progressing(st, Reason.WaitingForWindow, "No backup yet: the first is due at " + st.nextBackupTime + ", when the schedule "
                    + "window opens (backup-now does not wait for it).", gen(cr), clock);
            return;
        }
        ready(st, Reason.Ready, "The last backup is " + st.lastSuccessful.folderUrl + " of " + st.lastSuccessful.time + "; the next is due at "
                + st.nextBackupTime + ". " + st.folders.size() + " backup folder(s) kept.", gen(cr), clock);
    }

    /** The spec's problems the CRD cannot catch (or that an API server without its rules let through), or null. */
    static String validate(HsmBackupSpec s) {
        if (s.destination.managedIdentity() && s.destination.sasTokenSecretRef != null) {
            return "destination: useManagedIdentity writes as the HSM's managed identity, with no SAS: remove sasTokenSecretRef.";
        }
        if (!s.destination.managedIdentity() && s.destination.sasTokenSecretRef == null) {
            return "destination: set sasTokenSecretRef (the Secret holding a SAS token for the container), or useManagedIdentity: "
                    + "true to write as the HSM's managed identity.";
        }
        String url = HsmBackups.containerUrlProblem(s.destination.containerUrl);
        if (url != null) {
            return "destination.containerUrl: " + url;
        }
        HsmBackupSpec.Window w = s.schedule.window;
        return BackupSchedule.validate(s.schedule.every, w == null ? null : w.start, w == null ? null : w.end,
                s.retention == null ? null : s.retention.keepLast, s.retention == null ? null : s.retention.maxAge);
    }

    private static BackupSchedule.Window window(HsmBackupSpec s) {
        return s.schedule.window == null ? null : BackupSchedule.Window.of(s.schedule.window.start, s.schedule.window.end);
    }

    /**
     * Why the HSM cannot write a backup as its managed identity, or null: it must have one (declared in the spec, or, on an
     * adopted HSM whose spec leaves them unset, reported by Azure). Azure would only fail the job, after a round trip.
     */
    private static String noIdentity(io.hsmoperator.api.managedhsm.ManagedHsm hsm) {
        boolean declared = hsm.getSpec().userAssignedIdentities != null && !hsm.getSpec().userAssignedIdentities.isEmpty();
        boolean reported = hsm.getStatus() != null && hsm.getStatus().identities != null && !hsm.getStatus().identities.isEmpty();
        if (declared || reported) {
            return null;
        }
        return "destination.useManagedIdentity is true, but ManagedHsm " + hsm.getMetadata().getName() + " has no managed identity: "
                + "add a user-assigned identity to its spec.userAssignedIdentities and grant that identity Storage Blob Data "
                + "Contributor on the storage account or container (or use sasTokenSecretRef). Nothing was sent to Azure.";
    }

    private static Instant lastStart(HsmBackupStatus st) {
        return st.history.isEmpty() ? null : Instant.parse(st.history.get(0).startTime);
    }

    private Duration until(Instant due, Instant now) {
        Duration resync = config.reconcile().resync();
        Duration d = Duration.between(now, due).plusSeconds(1);
        return d.isNegative() || d.compareTo(resync) > 0 ? resync : d;
    }

    private static String describe(HsmBackupStatus.Trigger trigger, String token) {
        return trigger == HsmBackupStatus.Trigger.BackupNow ? "backup-now token '" + token + "'" : "scheduled backup";
    }

    private static String retention(HsmBackupSpec.Retention r) {
        return (r.keepLast == null ? "" : "keepLast " + r.keepLast) + (r.keepLast != null && r.maxAge != null ? ", " : "")
                + (r.maxAge == null ? "" : "maxAge " + r.maxAge);
    }

    /** The error code of a job's failure ("Code: message"), for the failures metric. */
    static String failureReason(String error) {
        int colon = error.indexOf(':');
        String code = colon > 0 ? error.substring(0, colon) : "Unknown";
        return code.matches("^[A-Za-z0-9_.-]{1,64}$") ? code : "Unknown";
    }

    @Override
    public DeleteControl cleanup(HsmBackup cr, Context<HsmBackup> context) {
        // Nothing in Azure belongs to the resource alone: the backups it made stay in the container, for a restore.
        String container = cr.getSpec() == null || cr.getSpec().destination == null ? "their container" : cr.getSpec().destination.containerUrl;
        events.normal(cr, "Retained", "Deleted the HsmBackup resource; its backup folders stay in " + container
                + (cr.getStatus() != null && cr.getStatus().running != null ? ", and backup job " + cr.getStatus().running.jobId
                + " runs to its end in Azure" : "") + ".");
        Reports.released(cr);
        return DeleteControl.defaultDelete();
    }
}
