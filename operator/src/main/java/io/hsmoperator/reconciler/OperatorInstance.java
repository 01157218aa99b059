package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.WriteFence;
import io.javaoperatorsdk.operator.api.config.InformerStoppedHandler;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.quarkus.arc.Unremovable;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.Dependent;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * This replica of the operator: the namespace it runs in, the name it goes by (in the leader Lease and in the Events it
 * reports), and the leader election that lets only one replica reconcile at a time.
 */
@Singleton
public class OperatorInstance {
    private static final Logger LOG = Logger.getLogger(OperatorInstance.class);
    private final String namespace;
    private final String identity;
    private final String clusterId;
    private final OperatorConfig.LeaderElection election;
    private final java.time.Duration downloadGrace;
    private final Duration writeTimeout;
    private final WriteFence fence;
    private volatile boolean stopping;
    private volatile Instant leadingSince;
    private final java.util.concurrent.atomic.AtomicBoolean watching = new java.util.concurrent.atomic.AtomicBoolean();

    public OperatorInstance(OperatorConfig config, KubernetesClient kubernetes, WriteFence fence) {
        this.fence = fence;
        this.writeTimeout = config.azure().writeTimeout();
        this.namespace = config.tenancy().operatorNamespace().or(() -> Optional.ofNullable(System.getenv("POD_NAMESPACE")))
                .orElseGet(() -> kubernetes.getNamespace() == null ? "default" : kubernetes.getNamespace());
        // A restarted process is a new contender: with the pod name alone it could take over its predecessor's lease at
        // once, while that predecessor may still be finishing a write.
        String host = Optional.ofNullable(System.getenv("HOSTNAME")).filter(h -> !h.isBlank()).orElse("hsm-operator");
        this.identity = config.leaderElection().identity().orElseGet(() -> host + "-" + UUID.randomUUID().toString().substring(0, 8));
        this.election = config.leaderElection();
        this.downloadGrace = config.azure().timeout().plusSeconds(5);
        this.clusterId = clusterId(config.clusterId(), () -> {
            var kubeSystem = kubernetes.namespaces().withName("kube-system").get();
            return kubeSystem == null ? null : kubeSystem.getMetadata().getUid();
        });
        LOG.infof("This cluster is %s in the ownership tags of the Azure objects the operator makes", clusterId);
    }

    /** Values that every install would share: as a cluster's identity they would make two clusters one owner. */
    static final java.util.Set<String> SHARED_IDS = java.util.Set.of("default");

    /**
     * The configured cluster identity, else the UID of the kube-system namespace: unique per cluster, stable for its life.
     * A value every install shares is refused, so that two clusters syncing the same manifests never own each other's
     * Azure objects.
     */
    static String clusterId(Optional<String> configured, java.util.function.Supplier<String> kubeSystemUid) {
        if (configured.isPresent()) {
            String id = configured.get().trim();
            if (id.isEmpty() || id.contains("/") || SHARED_IDS.contains(id.toLowerCase(java.util.Locale.ROOT))) {
                throw new IllegalStateException("hsm.cluster-id '" + id + "' cannot identify this cluster: it is "
                        + (id.isEmpty() ? "empty" : id.contains("/") ? "not allowed to contain '/'" : "a value every install shares")
                        + ". Two clusters with the same identity treat each other's Azure objects as their own. Leave it unset "
                        + "(the UID of the kube-system namespace is used) or set a name unique to this cluster.");
            }
            return id;
        }
        String uid = kubeSystemUid.get();
        if (uid == null || uid.isBlank()) {
            throw new IllegalStateException("hsm.cluster-id is unset and the kube-system namespace cannot be read to derive this "
                    + "cluster's identity from its UID. Grant the operator get on namespaces/kube-system, or set hsm.cluster-id to "
                    + "a name unique to this cluster.");
        }
        return uid;
    }

    /** This cluster's name in ownership tags (see {@link Ownership}). */
    public String clusterId() {
        return clusterId;
    }

    /** The namespace the operator runs in (its configuration's, else POD_NAMESPACE, else its client's). */
    public String namespace() {
        return namespace;
    }

    public String identity() {
        return identity;
    }

    /** Read by the operator SDK at start-up; null turns leader election off. */
    @Produces
    @Dependent
    LeaderElectionConfiguration leaderElection() {
        if (!election.enabled()) {
            LOG.warn("Leader election is off (hsm.leader-election.enabled=false): never run a second replica like this");
            return null;
        }
        String leaseNamespace = election.namespace().orElse(namespace);
        Duration usable = election.leaseDuration().minus(election.retryPeriod());
        if (writeTimeout.compareTo(usable) >= 0) {
            throw new IllegalStateException("hsm.azure.write-timeout (" + writeTimeout + ") must be shorter than the lease duration "
                    + "less the retry period (" + election.leaseDuration() + " - " + election.retryPeriod() + "): a write leaves only "
                    + "while the leader lease stays valid for longer than it may take, so no write would ever leave.");
        }
        LOG.infof("Leader election on Lease %s/%s as %s: this replica reconciles only while it holds the lease",
                leaseNamespace, election.leaseName(), identity);
        fence.elect(new WriteFence.Lease(leaseNamespace, election.leaseName(), identity, election.leaseDuration()));
        LeaderCallbacks callbacks = new LeaderCallbacks(this::startedLeading, this::stoppedLeading, leader -> {
            if (!identity.equals(leader)) {
                fence.leading(false);
            }
            LOG.infof("The leader is %s", leader);
        });
        watchRenewals();
        // Not the SDK's exit-on-stop: it calls System.exit from the shutdown hook too, which hangs a rolling update.
        return new LeaderElectionConfiguration(election.leaseName(), leaseNamespace, election.leaseDuration(),
                election.renewDeadline(), election.retryPeriod(), identity, callbacks, false);
    }

    private void startedLeading() {
        leadingSince = Instant.now();
        fence.leading(true);
        LOG.infof("%s leads: reconciling", identity);
    }

    /**
     * The elector notices a lapsed renew deadline only between its calls to the API server, and one call can block for
     * as long as the client's timeouts and retries allow. This watchdog does not wait for it: a leader whose last
     * accepted renewal is older than the renew deadline halts, as a lost lease does.
     */
    private void watchRenewals() {
        if (!watching.compareAndSet(false, true)) {
            return;
        }
        long every = Math.max(100, Math.min(1000, election.renewDeadline().toMillis() / 10));
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "leader-lease-watchdog");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::checkRenewal, every, every, TimeUnit.MILLISECONDS);
    }

    private void checkRenewal() {
        Instant since = leadingSince;
        if (!fence.leads() || since == null || stopping) {
            return;
        }
        Instant last = fence.lastRenewal().orElse(since);
        Duration age = Duration.between(last, Instant.now());
        if (age.compareTo(election.renewDeadline()) > 0 && !jvmShuttingDown()) {
            fence.leading(false);
            halt(String.format("%s could not renew the leader lease for %.1fs, past the renew deadline of %s (the API server may "
                    + "be unreachable; another replica takes over once the lease lapses)", identity, age.toMillis() / 1000.0,
                    election.renewDeadline()));
        }
    }

    /**
     * An informer that stops with an error (a watch the API server refuses for good) leaves the operator deaf to that
     * kind while it looks healthy. It exits instead, saying why, so that Kubernetes restarts it and the watch starts
     * afresh. The operator SDK does this by default, but its Quarkus extension installs no handler unless one is produced.
     * The extension finds it by a programmatic lookup (ArcContainer.instance when it builds its ConfigurationService),
     * which ArC cannot see at build time: without {@link Unremovable} the bean is removed as unused and the lookup
     * finds nothing.
     */
    @Produces
    @Singleton
    @Unremovable
    InformerStoppedHandler informerStopped() {
        return (informer, error) -> {
            String kind = informer.getApiTypeClass().getSimpleName();
            // Before the first sync the operator SDK's start-up handling applies (stop-on-informer-error-during-startup).
            if (error == null || !informer.hasSynced() || stopping || jvmShuttingDown()) {
                LOG.debugf("The watch of %s stopped", kind);
                return;
            }
            watchStoppedForGood(kind, error.toString());
        };
    }

    /**
     * The one exit of a deaf operator, whether the operator SDK stopped the watch or {@link InformerWatchdog} judged it
     * stopped: one line saying which kind and why, then a non-zero exit so that Kubernetes restarts the process.
     */
    void watchStoppedForGood(String kind, String why) {
        if (stopping || jvmShuttingDown()) {
            return;
        }
        stopping = true;
        LOG.errorf("The watch of %s stopped for good (%s): the operator can no longer see changes to them; exiting so that "
                + "Kubernetes restarts it", kind, why);
        io.quarkus.runtime.Quarkus.asyncExit(1);
    }

    /** Before the operator SDK stops (its observer has priority 3123), so that the lease it then gives up is no surprise. */
    void onShutdown(@Observes @Priority(1) ShutdownEvent event) {
        stopping = true;
    }

    /**
     * Losing the lease outside a shutdown means another replica may lead now: this one must not send another write,
     * so it halts at once (no graceful shutdown that would let running reconciles go on); Kubernetes restarts it.
     */
    private void stoppedLeading() {
        fence.leading(false);
        if (stopping || jvmShuttingDown()) {
            LOG.infof("%s stopped leading: shutting down", identity);
            return;
        }
        halt(identity + " lost the leader lease (it could not renew it within " + election.renewDeadline() + ")");
    }

    /**
     * Halts at once, but never while Azure is answering a security-domain download: that answer is the only copy of the
     * HSM's security domain, and Azure activates the HSM whether or not anyone reads it. The download is already sent,
     * so waiting for it (at most the Azure call's timeout) lets its answer reach the spool on disk, which the restarted
     * process stores. Every path that halts the operator goes through here.
     */
    void halt(String why) {
        if (SecurityDomainSpool.downloadsInFlight() > 0) {
            LOG.errorf("%s: waiting up to %s for a security-domain download in flight to reach the spool before halting", why,
                    downloadGrace);
            if (!SecurityDomainSpool.awaitNoDownloadInFlight(downloadGrace)) {
                LOG.errorf("A security-domain download is still unanswered after %s; halting without it", downloadGrace);
            }
        }
        LOG.errorf("%s: halting so that no two replicas act", why);
        Runtime.getRuntime().halt(1);
    }

    private static boolean jvmShuttingDown() {
        Thread probe = new Thread(() -> { });
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }
}
