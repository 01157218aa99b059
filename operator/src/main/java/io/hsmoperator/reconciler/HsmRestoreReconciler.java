package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.restore.HsmRestoreSpec;
import io.hsmoperator.api.restore.HsmRestoreStatus;
import io.hsmoperator.api.restore.HsmRestoreStatus.Phase;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.Consistency;
import io.hsmoperator.azure.HsmBackups;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.HsmRestores;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.metrics.OperatorMetrics;
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
import java.util.List;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmRestore: one restore of a Managed HSM from a full backup folder, of every key or of one key. It is one-shot: the
 * job's ID is recorded in status before the operator waits on it (a restarted operator polls the same job), and once
 * the job ended, Succeeded or Failed, nothing makes the resource start another. Nothing is ever deleted or purged to make
 * room for a key: a selective restore of a key that exists is refused before Azure is asked.
 */
@ControllerConfiguration(name = "hsmrestore", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmRestoreReconciler implements Reconciler<HsmRestore>, Cleaner<HsmRestore> {
    /**
     * How long after its start a job Azure answers 404 for is still taken as running: Azure's reads lag its writes, so a
     * job moments old may not be readable yet; after this, a 404 means Azure forgot the job (JobNotFound, Failed).
     */
    private final HsmRestores restores;
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;

    public HsmRestoreReconciler(HsmRestores restores, HsmKeys keys, OperatorConfig config, KubernetesClient kubernetes, Events events,
                                Clock clock) {
        this.restores = restores;
        this.keys = keys;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, HsmRestore>> prepareEventSources(EventSourceContext<HsmRestore> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatReferrersRead));
    }

    @Override
    public UpdateControl<HsmRestore> reconcile(HsmRestore cr, Context<HsmRestore> context) {
        return Reports.reconcile(kubernetes, cr, HsmRestoreStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(HsmRestore cr, HsmRestoreStatus st) {
        // One-shot: an ended restore only reports; a running one is only polled. Neither looks at the spec again.
        if (st.phase == Phase.Succeeded || st.phase == Phase.Failed) {
            report(cr, st);
            return config.reconcile().resync();
        }
        if (st.jobId != null) {
            return poll(cr, st);
        }
        if (st.startRequestedAt != null) {
            // A start was asked for and its answer lost (a crash, a dropped connection): Azure has no list of jobs to look
            // in, and a second start could run the restore twice. It ends here; the user checks the HSM and decides.
            unknownStart(cr, st);
            return config.reconcile().resync();
        }
        if (st.phase == null) {
            st.phase = Phase.Pending;
        }

        // validate: the spec alone, then against the HSM it names
        HsmRestoreSpec spec = cr.getSpec();
        String invalid = HsmBackups.folderUrlProblem(spec.source.folderUrl);
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, "source.folderUrl: " + invalid + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, spec.hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String hsmName = hsm.hsm().getSpec().azureName;
        String unconfirmed = spec.keyName == null ? fullRestoreRefusal(spec, hsmName) : null;
        if (unconfirmed != null) {
            stalled(st, Reason.InvalidSpec, unconfirmed + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String foreign = spec.keyName == null ? null : foreignKeyRefusal(cr, hsm);
        if (foreign != null) {
            stalled(st, Reason.OwnershipConflict, foreign + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        SasSecrets.Sas sas = SasSecrets.read(kubernetes, cr.getMetadata().getNamespace(), spec.source.sasTokenSecretRef,
                "the backup's container");
        if (sas.problem() != null) {
            stalled(st, Reason.SecretMissing, sas.problem(), gen(cr), clock);
            return config.reconcile().resync();
        }

        // observe: Azure runs one backup or restore per HSM; and a selective restore never overwrites a key
        String running = knownRunningJob(cr, hsm);
        if (running != null) {
            return anotherJobRunning(cr, st, hsmName, running);
        }
        if (spec.keyName != null) {
            String held = keyHeld(hsm.hsmUri(), spec.keyName, hsmName);
            if (held != null) {
                stalled(st, Reason.KeyExists, held, gen(cr), clock);
                return config.reconcile().resync();
            }
        }

        // act: record that a start is asked for, start the job, and record the job before waiting on it
        st.startRequestedAt = Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString();
        st.restoredFrom = spec.source.folderUrl;
        st.keyName = spec.keyName;
        st.full = spec.keyName == null ? Boolean.TRUE : null;
        Reports.writeAhead(kubernetes, cr, st);
        HsmRestores.Job started;
        try {
            started = spec.keyName == null ? restores.startFull(hsm.hsmUri(), spec.source.folderUrl, sas.token())
                    : restores.startSelective(hsm.hsmUri(), spec.keyName, spec.source.folderUrl, sas.token());
        } catch (AzureError e) {
            if (e.is(AzureError.Kind.TRANSIENT) && !"NotLeader".equals(e.code())) {
                throw e; // no answer, or one a gateway gave: the job may run; the next reconcile ends with StartResultUnknown
            }
            // Azure answered and started nothing, or the request never left (fenced): the start may be asked for again.
            st.startRequestedAt = null;
            if (!e.is(AzureError.Kind.CONFLICT)) {
                throw e;
            }
            return anotherJobRunning(cr, st, hsmName, "a job the operator does not know of (Azure answered 409)");
        }
        st.phase = Phase.Running;
        st.jobId = started.id();
        st.startTime = (started.start() != null ? started.start() : Instant.now(clock)).truncatedTo(ChronoUnit.SECONDS).toString();
        // Recorded before the operator waits on it: a restart polls this job instead of starting another.
        Reports.writeAhead(kubernetes, cr, st);
        events.mutation(cr, "RestoreStarted", "Started " + what(st) + " job " + started.id() + " of HSM " + hsmName + " from "
                + spec.source.folderUrl, started.mutation());
        progressing(st, Reason.Restoring, "Restore job " + started.id() + " (" + what(st) + ") started.", gen(cr), clock);
        return config.reconcile().poll();
    }

    /** Polls the recorded job: still running, or its end recorded once (outcome, event, metric). */
    private Duration poll(HsmRestore cr, HsmRestoreStatus st) {
        HsmRefs.Resolution hsm = HsmRefs.resolveMadeIn(cr, cr.getSpec().hsmRef, hsms);
        if (hsm.hsmUri() == null) {
            progressing(st, Reason.WaitingForHsm, "Restore job " + st.jobId + " runs in Azure; the operator cannot read it now: "
                    + hsm.message(), gen(cr), clock);
            return config.reconcile().poll();
        }
        Instant now = Instant.now(clock);
        HsmRestores.Job job;
        try {
            job = restores.job(hsm.hsmUri(), st.jobId);
        } catch (AzureError e) {
            if (!e.is(AzureError.Kind.NOT_FOUND)) {
                throw e;
            }
            // A 404 moments after the start proves nothing (reads lag); long after it, Azure has forgotten the job.
            if (now.isBefore(Instant.parse(st.startTime).plus(Consistency.JOB_READ_LAG))) {
                progressing(st, Reason.Restoring, "Restore job " + st.jobId + " (" + what(st) + ") started at " + st.startTime
                        + "; Azure does not show it yet.", gen(cr), clock);
                return config.reconcile().poll();
            }
            job = new HsmRestores.Job(st.jobId, "Failed", null, now, null, "JobNotFound: Azure no longer knows restore job " + st.jobId
                    + " (" + Consistency.JOB_READ_LAG.toMinutes() + " minutes after its start); whether it restored anything is unknown: "
                    + "check the keys of the HSM.", null);
        }
        if (job.running()) {
            progressing(st, Reason.Restoring, "Restore job " + st.jobId + " (" + what(st) + ") is running since " + st.startTime + ".",
                    gen(cr), clock);
            return config.reconcile().poll();
        }
        ended(cr, st, job, hsm.hsm().getSpec().azureName, now);
        report(cr, st);
        return config.reconcile().resync();
    }

    /** Records the end of the job, once: Succeeded only when Azure restored something. */
    private void ended(HsmRestore cr, HsmRestoreStatus st, HsmRestores.Job job, String hsmName, Instant now) {
        st.endTime = (job.end() != null ? job.end() : now).truncatedTo(ChronoUnit.SECONDS).toString();
        st.details = job.details();
        if (job.succeeded() && st.keyName != null && HsmRestores.restoredNothing(job.details())) {
            // Azure ends a selective restore of a key that exists "Succeeded", having overwritten nothing.
            st.error = "NothingRestored: Azure restored no version of key " + st.keyName + " (" + job.details() + "): the key existed "
                    + "in HSM " + hsmName + " when the job ran, and Azure never overwrites a key.";
        } else if (!job.succeeded()) {
            st.error = job.error() == null ? "Azure reported the job " + job.status() + " without an error." : job.error();
        }
        st.phase = st.error == null ? Phase.Succeeded : Phase.Failed;
        OperatorMetrics.restoreEnded(st.phase.name().toLowerCase(java.util.Locale.ROOT), st.keyName == null ? "full" : "selective");
        if (st.phase == Phase.Succeeded) {
            events.normal(cr, "RestoreSucceeded", "Restore job " + st.jobId + " (" + what(st) + ") of HSM " + hsmName + " from "
                    + st.restoredFrom + " succeeded" + (st.details == null ? "." : ": " + st.details + "."));
        } else {
            events.warning(cr, "RestoreFailed", "Restore job " + st.jobId + " (" + what(st) + ") of HSM " + hsmName + " failed: " + st.error);
        }
    }

    /** Ends a restore whose start was asked for and never answered: Failed, since it may not be started again. */
    private void unknownStart(HsmRestore cr, HsmRestoreStatus st) {
        st.phase = Phase.Failed;
        st.endTime = Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString();
        st.error = "StartResultUnknown: the operator asked Azure to start the restore at " + st.startRequestedAt + " and got no answer; "
                + "Azure lists no jobs, so whether one ran is unknown, and starting another could restore twice. Check the HSM's keys.";
        OperatorMetrics.restoreEnded("failed", st.keyName == null ? "full" : "selective");
        events.warning(cr, "RestoreFailed", "The start of the restore asked for at " + st.startRequestedAt + " was never answered: "
                + "not started again.");
        report(cr, st);
    }

    /** The conditions of an ended restore, from status alone. */
    private void report(HsmRestore cr, HsmRestoreStatus st) {
        if (st.phase == Phase.Succeeded) {
            ready(st, Reason.Restored, "Restored " + what(st) + " from " + st.restoredFrom + " (job " + st.jobId + ", ended " + st.endTime
                    + "). A restore runs once: create a new HsmRestore to restore again.", gen(cr), clock);
        } else {
            stalled(st, Reason.RestoreFailed, (st.jobId == null ? "The restore" : "Restore job " + st.jobId) + " (" + what(st)
                    + ") failed: " + st.error + " A restore runs once and is not retried: create a new HsmRestore to try again.",
                    gen(cr), clock);
        }
    }

    /** Why a full restore of the HSM named {@code hsmName} is not confirmed, or null. */
    static String fullRestoreRefusal(HsmRestoreSpec spec, String hsmName) {
        if (spec.confirmFullRestoreOf == null) {
            return "A full restore (no keyName) replaces every key of HSM " + hsmName + " with the backup's: set confirmFullRestoreOf: "
                    + hsmName + " to confirm it, or set keyName to restore one key.";
        }
        if (!spec.confirmFullRestoreOf.equals(hsmName)) {
            return "confirmFullRestoreOf is " + spec.confirmFullRestoreOf + ", but the target HSM is " + hsmName + " (the ManagedHsm's "
                    + "spec.azureName): a full restore replaces every key of " + hsmName + "; confirm that name, or check hsmRef.";
        }
        return null;
    }

    /**
     * Why a selective restore from this namespace may not write its key, or null: an HsmKey of another namespace declares
     * that key on the same HSM (a restore would write a key another team manages).
     */
    private String foreignKeyRefusal(HsmRestore cr, HsmRefs.Resolution hsm) {
        String own = cr.getMetadata().getNamespace();
        for (HsmKey k : kubernetes.resources(HsmKey.class).inAnyNamespace().list().getItems()) {
            if (k.getSpec() == null || k.getSpec().hsmRef == null || own.equals(k.getMetadata().getNamespace())) {
                continue;
            }
            String keyName = k.getSpec().keyName == null ? k.getMetadata().getName() : k.getSpec().keyName;
            boolean sameHsm = hsm.hsm().getMetadata().getName().equals(k.getSpec().hsmRef.name)
                    && hsm.hsm().getMetadata().getNamespace().equals(k.getSpec().hsmRef.namespaceOr(k.getMetadata().getNamespace()));
            if (sameHsm && keyName.equalsIgnoreCase(cr.getSpec().keyName)) {
                return "Key " + cr.getSpec().keyName + " of HSM " + hsm.hsm().getSpec().azureName + " is declared by HsmKey "
                        + k.getMetadata().getNamespace() + "/" + k.getMetadata().getName() + ": a restore from namespace " + own
                        + " may not write a key another namespace manages; restore it from namespace " + k.getMetadata().getNamespace() + ".";
            }
        }
        return null;
    }

    /**
     * A backup or restore job of the same HSM that this operator has recorded as running (namespace/name), or null. Azure
     * would refuse a second one with 409 anyway; knowing it first saves the refused call and names the job that blocks.
     */
    private String knownRunningJob(HsmRestore cr, HsmRefs.Resolution hsm) {
        String bound = hsm.boundTo();
        for (HsmRestore r : kubernetes.resources(HsmRestore.class).inAnyNamespace().list().getItems()) {
            var s = r.getStatus();
            if (s != null && s.phase == Phase.Running && s.jobId != null && bound.equals(s.hsm)
                    && !r.getMetadata().getUid().equals(cr.getMetadata().getUid())) {
                return "HsmRestore " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName() + " (job " + s.jobId + ")";
            }
        }
        for (HsmBackup b : kubernetes.resources(HsmBackup.class).inAnyNamespace().list().getItems()) {
            var s = b.getStatus();
            if (s != null && s.running != null && bound.equals(s.hsm)) {
                return "HsmBackup " + b.getMetadata().getNamespace() + "/" + b.getMetadata().getName() + " (job " + s.running.jobId + ")";
            }
        }
        return null;
    }

    private Duration anotherJobRunning(HsmRestore cr, HsmRestoreStatus st, String hsmName, String which) {
        progressing(st, Reason.AnotherJobRunning, "Another backup or restore runs on HSM " + hsmName + ": " + which + ". Azure runs one at "
                + "a time; the operator starts this restore once that one has ended. Nothing was started.", gen(cr), clock);
        return config.reconcile().poll();
    }

    /**
     * Why key {@code name} cannot be restored because the HSM holds it, live or soft-deleted, or null. A 404 here proves
     * only that the key was not there a moment ago: this check saves a useless job, and the job's own outcome is the answer.
     */
    private String keyHeld(String hsmUri, String name, String hsmName) {
        if (keys.get(hsmUri, name).isPresent()) {
            return "Key " + name + " exists in HSM " + hsmName + ", and Azure never overwrites a key in a restore. The operator never "
                    + "deletes or purges to make room: delete and purge it yourself (a soft-deleted key holds its name too), or restore "
                    + "the folder into another HSM of the same security domain. The operator looks again every resync. Nothing was "
                    + "sent to Azure.";
        }
        if (keys.getDeleted(hsmUri, name).isPresent()) {
            return "Key " + name + " is soft-deleted in HSM " + hsmName + ", which holds its name: Azure restores no key over it. The "
                    + "operator never purges to make room: recover it yourself (az keyvault key recover) and keep it, or purge it "
                    + "yourself if the backup's copy is the one you want. The operator looks again every resync. Nothing was sent to Azure.";
        }
        return null;
    }

    private static String what(HsmRestoreStatus st) {
        return st.keyName == null ? "full restore" : "restore of key " + st.keyName;
    }

    @Override
    public DeleteControl cleanup(HsmRestore cr, Context<HsmRestore> context) {
        // Nothing in Azure belongs to the resource: a restore cannot be cancelled, and what it restored stays.
        HsmRestoreStatus st = cr.getStatus();
        boolean running = st != null && st.phase == Phase.Running && st.jobId != null;
        events.normal(cr, "Retained", "Deleted the HsmRestore resource; nothing was changed in Azure" + (running ? ": restore job "
                + st.jobId + " runs to its end there" : "") + ".");
        Reports.released(cr);
        return DeleteControl.defaultDelete();
    }
}
