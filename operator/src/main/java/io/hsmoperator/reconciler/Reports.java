package io.hsmoperator.reconciler;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.CustomResource;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.metrics.OperatorMetrics;
import io.hsmoperator.metrics.ResourceMetrics;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import org.jboss.logging.Logger;

import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The reconcile shell every kind runs in: copy status, patch it only when it changed (and before a write that must be
 * recorded first), map Azure failures to conditions and backoff.
 */
public final class Reports {
    private static final Logger LOG = Logger.getLogger(Reports.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Integer> FAILURES = new ConcurrentHashMap<>();

    private Reports() {
    }

    /**
     * The reconcile every kind shares: work on a copy of the status, let {@code converge} observe, validate and act,
     * turn an Azure failure into conditions and a backoff, and write the status only if it changed.
     */
    public static <R extends CustomResource<?, S>, S extends HsmStatus> UpdateControl<R> reconcile(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, Class<S> type, Clock clock,
            io.hsmoperator.azure.OperatorConfig.Reconcile intervals, java.util.function.BiFunction<R, S, Duration> converge) {
        OperatorMetrics.Reconcile timing = OperatorMetrics.reconcile(cr.getKind());
        String outcome = "error";
        try {
            Outcome<R> result = converge(kubernetes, cr, type, clock, intervals, converge);
            outcome = result.outcome();
            return result.control();
        } finally {
            timing.done(outcome);
        }
    }

    /** What a reconcile returned, and its outcome for the metrics. */
    private record Outcome<R extends CustomResource<?, ?>>(UpdateControl<R> control, String outcome) {
    }

    private static <R extends CustomResource<?, S>, S extends HsmStatus> Outcome<R> converge(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, Class<S> type, Clock clock,
            io.hsmoperator.azure.OperatorConfig.Reconcile intervals, java.util.function.BiFunction<R, S, Duration> converge) {
        Duration maxBackoff = intervals.maxBackoff();
        S current = freshest(kubernetes, cr, type);
        S status = copy(current, type);
        Conditions.unknown(status, cr.getMetadata().getGeneration(), clock);
        java.util.List<String> unreadable = SpecReading.unreadable(cr);
        if (!unreadable.isEmpty()) {
            Conditions.stalled(status, Reason.InvalidSpec, "The operator cannot read the spec: " + String.join("; ", unreadable)
                    + ". Nothing was sent to Azure; correct the spec.", cr.getMetadata().getGeneration(), clock);
            return new Outcome<>(report(kubernetes, cr, current, status, maxBackoff, clock), "invalid-spec");
        }
        java.util.List<String> broken = io.hsmoperator.api.SpecRules.violations(cr.getSpec());
        if (!broken.isEmpty()) {
            Conditions.stalled(status, Reason.InvalidSpec, "The spec breaks the rules of its CRD (this API server did not enforce them): "
                    + String.join("; ", broken) + ". Nothing was sent to Azure; correct the spec.", cr.getMetadata().getGeneration(), clock);
            return new Outcome<>(report(kubernetes, cr, current, status, maxBackoff, clock), "invalid-spec");
        }
        Duration next;
        String outcome = "success";
        try {
            Refusals refused = REFUSED.get(key(cr));
            next = refused != null && refused.withholds(cr.getMetadata().getGeneration())
                    ? io.hsmoperator.azure.WriteGate.closed(refused.last(), () -> converge.apply(cr, status)) : converge.apply(cr, status);
            succeeded(cr);
        } catch (AzureError e) {
            next = failure(cr, status, e, clock, maxBackoff, intervals.resync());
            outcome = e.kind().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
            outcome = "kubernetes-error";
            // Publishing, restarting workloads, storing Secrets: the API server's refusals are reported and retried like
            // Azure's, never left to a retry budget that runs out silently.
            next = backoff(cr.getMetadata().getUid(), maxBackoff);
            LOG.warnf("%s %s/%s: Kubernetes %d: %s", cr.getKind(), cr.getMetadata().getNamespace(), cr.getMetadata().getName(), e.getCode(),
                    e.getMessage());
            Conditions.progressing(status, Reason.KubernetesWriteFailed, "The Kubernetes API refused or failed a request of the operator ("
                    + e.getCode() + (e.getStatus() == null || e.getStatus().getMessage() == null ? "" : ": " + e.getStatus().getMessage())
                    + "); the operator retries with backoff.", cr.getMetadata().getGeneration(), clock);
        }
        return new Outcome<>(report(kubernetes, cr, current, status, spread(next, intervals.resync()), clock), outcome);
    }

    /**
     * A look at least the resync interval away comes up to a tenth later, at random: resources that converged together
     * (all of them, after a restart) do not all look at Azure in the same second again. Shorter waits (polls, backoff,
     * a rotation falling due) are kept exactly.
     */
    static Duration spread(Duration next, Duration resync) {
        if (next == null || next.compareTo(resync) < 0) {
            return next;
        }
        return next.plusMillis(ThreadLocalRandom.current().nextLong(next.toMillis() / 10 + 1));
    }

    /**
     * What every deletion settles before it may touch Azure, in this order: a resource released by the abandon
     * annotation goes at once; one whose spec the operator could not read in full waits. Null: the deletion goes on.
     */
    public static <R extends CustomResource<?, S>, S extends HsmStatus> io.javaoperatorsdk.operator.api.reconciler.DeleteControl deletionStops(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, Events events, R cr, Class<S> type, Clock clock, Duration poll) {
        if (abandoned(events, cr)) {
            return io.javaoperatorsdk.operator.api.reconciler.DeleteControl.defaultDelete();
        }
        return deletionOfUnreadable(kubernetes, cr, type, clock, poll);
    }

    /**
     * A deletion decided on a spec the operator could not read in full could act on a default instead of what was
     * written (a deletionPolicy it could not read is not Delete, nor Retain): it waits, touching nothing in Azure, until
     * the spec is corrected or the resource is abandoned. Null when the spec was read in full.
     */
    private static <R extends CustomResource<?, S>, S extends HsmStatus> io.javaoperatorsdk.operator.api.reconciler.DeleteControl deletionOfUnreadable(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, Class<S> type, Clock clock, Duration poll) {
        java.util.List<String> unreadable = cr.getSpec() == null ? java.util.List.of("spec: missing") : SpecReading.unreadable(cr);
        if (unreadable.isEmpty()) {
            return null;
        }
        S st = copy(cr.getStatus(), type);
        Conditions.stalled(st, Reason.DeletionBlocked, "Deleting waits: the operator cannot read the spec in full (" + String.join("; ",
                unreadable) + "), so it cannot tell what the deletion policy asks. Correct the spec, or set the annotation "
                + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION + ": \"true\" to let the resource go without touching Azure.",
                cr.getMetadata().getGeneration(), clock);
        patchStatusIfChanged(kubernetes, cr, st);
        return io.javaoperatorsdk.operator.api.reconciler.DeleteControl.noFinalizerRemoval().rescheduleAfter(poll);
    }

    /** A deletion Azure did not complete: say so in status and try again (after Retry-After when throttled). */
    public static <R extends CustomResource<?, S>, S extends HsmStatus> io.javaoperatorsdk.operator.api.reconciler.DeleteControl deletionWaits(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, S st, AzureError e, Clock clock, Duration poll) {
        Conditions.stalled(st, Reason.DeletionBlocked, "Deleting waits until Azure answers: " + stable(e.describe()), cr.getMetadata().getGeneration(), clock);
        patchStatusIfChanged(kubernetes, cr, st);
        return io.javaoperatorsdk.operator.api.reconciler.DeleteControl.noFinalizerRemoval()
                .rescheduleAfter(e.retryAfter() != null ? e.retryAfter() : poll);
    }

    /**
     * The resource as the API server holds it now, for deletion: policy and ownership are decided on the latest persisted
     * spec, never on a cached copy (a policy may have changed to Retain a moment ago).
     */
    @SuppressWarnings("unchecked")
    public static <R extends CustomResource<?, ?>> R latest(io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cached) {
        R fresh = (R) kubernetes.resources(cached.getClass()).inNamespace(cached.getMetadata().getNamespace())
                .withName(cached.getMetadata().getName()).get();
        return fresh == null ? cached : fresh;
    }

    /** Whether the resource asks to be released without touching Azure ({@value Conditions#ABANDON_ANNOTATION}); says so if it does. */
    private static boolean abandoned(Events events, CustomResource<?, ?> cr) {
        var annotations = cr.getMetadata().getAnnotations();
        if (annotations == null || !"true".equalsIgnoreCase(annotations.get(io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION))) {
            return false;
        }
        events.warning(cr, "Abandoned", "Released " + cr.getKind() + " " + cr.getMetadata().getName() + " without touching Azure ("
                + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION + ": \"true\"): whatever it made there stays as it is.");
        return true;
    }

    public static <S extends HsmStatus> S copy(S status, Class<S> type) {
        try {
            return status == null ? type.getDeclaredConstructor().newInstance() : JSON.convertValue(status, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Writes the status only if it changed, replacing it whole with one JSON Patch operation ("add" replaces an existing
     * member): no index-based array edits computed from a stale cache, no reliance on merge-patch array semantics.
     * Then asks to be called again after {@code next}.
     */
    private static <R extends CustomResource<?, S>, S extends HsmStatus> UpdateControl<R> report(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, S current, S updated, Duration next, Clock clock) {
        updated.observedGeneration = cr.getMetadata().getGeneration();
        if (!JSON.valueToTree(updated).equals(JSON.valueToTree(current))) {
            writeStatus(kubernetes, cr, updated);
        }
        ResourceMetrics.observed(cr, updated, clock);
        UpdateControl<R> control = UpdateControl.noUpdate();
        return next == null ? control : control.rescheduleAfter(next);
    }

    private static <R extends CustomResource<?, S>, S extends HsmStatus> void writeStatus(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, S updated) {
        com.fasterxml.jackson.databind.JsonNode tree = JSON.valueToTree(updated);
        com.fasterxml.jackson.databind.node.ArrayNode patch = JSON.createArrayNode();
        patch.addObject().put("op", "add").put("path", "/status").set("value", tree);
        var result = kubernetes.resource(named(cr)).subresource("status").patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(
                        io.fabric8.kubernetes.client.dsl.base.PatchType.JSON), patch.toString());
        WRITTEN.put(key(cr), new Written(cr.getMetadata().getResourceVersion(), result == null ? null : result.getMetadata().getResourceVersion(),
                tree.toString()));
        cr.setStatus(updated);
    }

    /**
     * An empty resource of {@code cr}'s kind that only names it. A patch of a resource named by withName alone is
     * preceded by a GET of it (fabric8 reads the item to patch from the server when it has none); the JSON Patch
     * needs no item, and a full copy would be cloned.
     */
    @SuppressWarnings("unchecked")
    private static <R extends CustomResource<?, ?>> R named(R cr) {
        try {
            R named = (R) cr.getClass().getDeclaredConstructor().newInstance();
            named.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(cr.getMetadata().getName())
                    .withNamespace(cr.getMetadata().getNamespace()).build());
            return named;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The last status this process wrote for a resource, the resource version it was written over and the one it made.
     * The status is kept as JSON text, a third of the size of a tree of it, and only until the informer shows the write;
     * then only the two versions stay ({@code status} null), until a reconcile has started from a copy that holds it.
     */
    private record Written(String over, String made, String status) {
        Written shown() {
            return new Written(over, made, null);
        }
    }

    private static final Map<String, Written> WRITTEN = new ConcurrentHashMap<>();

    /**
     * The status to start from. The informer's copy can lag behind the status this process just wrote; while it still
     * shows the version that write replaced, or any version older than the one the write made (a user's edit that
     * landed just before it), start from what was written: a reconcile must not decide on a status that lacks its own
     * last record (an update it sent, say), nor write an older status back over a newer one. A reconcile handed such a
     * copy after the informer showed the write (the text is gone then) reads the resource from the API server.
     */
    private static <R extends CustomResource<?, S>, S extends HsmStatus> S freshest(io.fabric8.kubernetes.client.KubernetesClient kubernetes,
                                                                                    R cr, Class<S> type) {
        Written w = WRITTEN.get(key(cr));
        String seen = cr.getMetadata().getResourceVersion();
        if (w == null || seen == null) {
            return cr.getStatus();
        }
        if (seen.equals(w.over()) || olderThan(seen, w.made())) {
            if (w.status() == null) {
                return latest(kubernetes, cr).getStatus();
            }
            try {
                return JSON.readValue(w.status(), type);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        // The informer holds the write or a later version: every copy it shows from now on does.
        WRITTEN.remove(key(cr), w);
        return cr.getStatus();
    }

    /**
     * The informer shows {@code r} (called for every update it sees): once it holds the status this process wrote, or a
     * later version, the text of that status is dropped, whether or not a reconcile follows; no reconcile started after
     * this reads an older copy.
     */
    static void shown(io.fabric8.kubernetes.api.model.HasMetadata r) {
        String uid = r.getMetadata().getUid();
        Written w = uid == null ? null : WRITTEN.get(uid);
        String seen = r.getMetadata().getResourceVersion();
        if (w != null && w.status() != null && seen != null && !seen.equals(w.over()) && !olderThan(seen, w.made())) {
            WRITTEN.replace(uid, w, w.shown());
        }
    }

    /**
     * Whether resource version {@code a} predates {@code b}. Versions are opaque to clients, but every API server in use
     * writes etcd revisions, which grow; anything else compares as not older, which keeps the informer's copy.
     */
    static boolean olderThan(String a, String b) {
        if (b == null) {
            return false;
        }
        try {
            return Long.parseLong(a) < Long.parseLong(b);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Outside reconcile() (during cleanup), patches the status directly, only when it changed: every status write wakes
     * the resource's watch, so an unconditional write would loop.
     */
    public static <R extends CustomResource<?, S>, S extends HsmStatus> void patchStatusIfChanged(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, S updated) {
        updated.observedGeneration = cr.getMetadata().getGeneration();
        if (JSON.valueToTree(updated).equals(JSON.valueToTree(cr.getStatus()))) {
            return;
        }
        try {
            writeStatus(kubernetes, cr, updated);
        } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
            // informational only: the caller retries its work regardless
        }
    }

    /**
     * Records, before an Azure write whose result deletion must be able to find, what that write is about to make (a
     * deterministic name or ID): a crash or a lost status write after the write then cannot orphan it. Unlike the
     * report at the end of a reconcile, this write must succeed, or the Azure write is not sent.
     */
    @SuppressWarnings("unchecked")
    public static <R extends CustomResource<?, S>, S extends HsmStatus> void writeAhead(
            io.fabric8.kubernetes.client.KubernetesClient kubernetes, R cr, S st) {
        S copy = copy(st, (Class<S>) st.getClass());
        copy.observedGeneration = cr.getMetadata().getGeneration();
        if (!JSON.valueToTree(copy).equals(JSON.valueToTree(cr.getStatus()))) {
            writeStatus(kubernetes, cr, copy);
        }
    }

    /**
     * Writes the condition for an Azure failure and says when to try again: throttling waits for Retry-After, transient
     * failures back off exponentially with jitter, permanent ones are Stalled and retried at the capped interval.
     */
    public static Duration failure(CustomResource<?, ?> cr, HsmStatus s, AzureError e, Clock clock, Duration cap, Duration resync) {
        Long gen = cr.getMetadata().getGeneration();
        if (io.hsmoperator.azure.WriteGate.WITHHELD.equals(e.code())) {
            Conditions.stalled(s, Reason.WriteRefused, "Azure refused this resource's writes " + WRITE_REFUSALS + " times for good: "
                    + stable(REFUSED.get(key(cr)).last()) + ". The operator sends no write for it until its spec changes, and compares it "
                    + "with Azure every " + resync + " meanwhile.", gen, clock);
            return resync;
        }
        // The operator logs each Azure failure once, here, with its request ID; the SDK's own error logs are off.
        LOG.warnf("%s %s/%s: %s", cr.getKind(), cr.getMetadata().getNamespace(), cr.getMetadata().getName(), e.describe());
        Duration backoff = backoff(key(cr), cap);
        if (e.isWrite() && refusedForGood(e, key(cr))) {
            Refusals r = REFUSED.merge(key(cr), new Refusals(gen, 1, e.describe()), (old, now) -> Objects.equals(old.generation(), gen)
                    ? new Refusals(gen, old.count() + 1, now.last()) : now);
            if (r.withholds(gen)) {
                Conditions.stalled(s, Reason.WriteRefused, "Azure refused this resource's write " + r.count() + " times: " + stable(r.last())
                        + ". The operator sends no write for it until its spec changes, and compares it with Azure every " + resync
                        + " meanwhile.", gen, clock);
                return resync;
            }
        }
        switch (e.kind()) {
            case THROTTLED: {
                Duration wait = e.retryAfter() == null ? backoff : e.retryAfter();
                Conditions.progressing(s, Reason.Throttled, "Azure is throttling this scope; the next attempt waits for its Retry-After. "
                        + stable(e.getMessage()), gen, clock);
                wait = wait.isZero() ? Duration.ofSeconds(1) : wait;
                OperatorMetrics.throttleWait("retry-after", wait);
                return wait;
            }
            case TRANSIENT:
                Conditions.progressing(s, Reason.AzureUnavailable, "Azure did not answer; the operator retries with backoff: "
                        + stable(e.describe()), gen, clock);
                return backoff;
            case UNAUTHENTICATED:
                Conditions.stalled(s, Reason.AuthenticationFailed, "The operator cannot authenticate to Azure: " + stable(e.getMessage())
                        + " Check the operator's workload identity (client ID, federated credential) and tenant.", gen, clock);
                return cap;
            case FORBIDDEN:
                // A grant (the operator's own, right after it made it) takes minutes to reach the HSM: retry with backoff
                // for about as long as Azure's propagation takes, then stop and wait for a change.
                if (FAILURES.getOrDefault(key(cr), 0) <= PROPAGATION_RETRIES) {
                    Conditions.progressing(s, Reason.PermissionDenied, "Azure refused (" + stable(e.describe()) + "). Role assignments "
                            + "take minutes to propagate; the operator retries with backoff before it gives up.", gen, clock);
                    return backoff;
                }
                Conditions.stalled(s, Reason.PermissionDenied, "Azure refused: " + stable(e.describe()), gen, clock);
                return cap;
            default:
                Conditions.stalled(s, Reason.AzureRejected, "Azure refused the request: " + stable(e.describe()), gen, clock);
                return cap;
        }
    }

    /** Writes Azure refused for good, per resource and generation: after WRITE_REFUSALS, no write until the spec changes. */
    private record Refusals(Long generation, int count, String last) {
        boolean withholds(Long gen) {
            return Objects.equals(generation, gen) && count >= WRITE_REFUSALS;
        }
    }

    static final int WRITE_REFUSALS = 3;
    private static final Map<String, Refusals> REFUSED = new ConcurrentHashMap<>();

    /**
     * Whether Azure's answer to a write will not change by sending it again: a 400, a 404, a 409, or a 403 that outlasted
     * the time role assignments take to propagate.
     */
    private static boolean refusedForGood(AzureError e, String key) {
        return switch (e.kind()) {
            case BAD_REQUEST, NOT_FOUND, CONFLICT -> true;
            case FORBIDDEN -> FAILURES.getOrDefault(key, 0) > PROPAGATION_RETRIES;
            default -> false;
        };
    }

    private static final java.util.regex.Pattern PER_REQUEST = java.util.regex.Pattern.compile(
            "\\s*\\((?:Activity ID|Request ID|Correlation ID|x-ms-request-id)[: ]+[^)]*\\)|\\s*(?:Activity ID|RequestId|Request ID|CorrelationId)[: ]+[0-9a-fA-F-]{8,}",
            java.util.regex.Pattern.CASE_INSENSITIVE);

    /**
     * A message without the IDs Azure gives each request: a condition must read the same on every retry of the same
     * failure, or each status write would wake the resource again. The IDs go to the log line and the events.
     */
    static String stable(String message) {
        return message == null ? "" : PER_REQUEST.matcher(message).replaceAll("");
    }

    /** The next wait of a resource's growing backoff, for failures that are not Azure's (a Kubernetes write, say). */
    public static Duration backoffFor(CustomResource<?, ?> cr, Duration cap) {
        return backoff(cr.getMetadata().getUid(), cap);
    }

    /** Consecutive 403s retried at the backoff pace (5 s doubling: about ten minutes in all) before Stalled. */
    private static final int PROPAGATION_RETRIES = 7;

    private static String key(CustomResource<?, ?> cr) {
        return cr.getMetadata().getUid() == null ? "" : cr.getMetadata().getUid();
    }

    static Duration backoff(String key, Duration cap) {
        int n = FAILURES.merge(key == null ? "" : key, 1, Integer::sum);
        long seconds = Math.min(cap.toSeconds(), 5L << Math.min(n - 1, 10));
        long jitter = ThreadLocalRandom.current().nextLong(Math.max(1, seconds / 5) + 1);
        return Duration.ofSeconds(Math.min(cap.toSeconds(), seconds + jitter));
    }

    /** The resource is gone (its finalizer removed): so is what this process kept of it, and its gauges. */
    public static void released(CustomResource<?, ?> cr) {
        WRITTEN.remove(key(cr));
        FAILURES.remove(key(cr));
        REFUSED.remove(key(cr));
        ResourceMetrics.forget(cr);
    }

    /** A success resets the resource's backoff, and what it counted of refused writes. */
    public static void succeeded(CustomResource<?, ?> cr) {
        FAILURES.remove(key(cr));
        REFUSED.remove(key(cr));
    }
}
