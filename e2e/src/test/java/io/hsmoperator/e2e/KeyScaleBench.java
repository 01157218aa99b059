package io.hsmoperator.e2e;

import com.azure.security.keyvault.keys.KeyClient;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.readiness.Readiness;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.kube.TestCluster;
import io.hsmoperator.reconciler.KeyListings;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;

/**
 * The cost and scale benchmark (e2e/bench): a measurement that prints figures, not a test with thresholds. For each N it
 * installs the chart on the real node (its pod run by the kubelet), creates N EC-HSM HsmKeys on one HSM and measures: time from apply to
 * all Ready, Azure calls per key while converging, steady-state Azure calls per key per hour, drift latency (a key
 * disabled out of band until enabled again), the operator container's memory (working set, as the kubelet counts it) and heap. Steady state is measured for three
 * strategies with the same operator and emulator, chosen by settings alone: ours (list each HSM every drift interval,
 * read each key in full once a day), ASO's (read each key every hour) and Crossplane's (read each key every 10
 * minutes). Time runs {@link #SCALE} times faster than production: every interval is divided by it, and each window
 * of {@link #WINDOW} stands for one hour. Writes target/bench/results.md and two SVG charts.
 */
class KeyScaleBench {
    static final int SCALE = 120;
    static final Duration WINDOW = Duration.ofHours(1).dividedBy(SCALE);
    private static final String HSM_NAME = "contoso-payments-hsm";
    /** Azure holds at most 5,000 keys in one Managed HSM (and so does the emulator): a larger N spreads over more HSMs. */
    static final int KEYS_PER_HSM = 5000;

    record Strategy(String name, Duration driftInterval, Duration fullRead) {
        /** The strategy's settings with time compressed {@link #SCALE} times, for its steady hour. */
        Map<String, String> settings() {
            return settings(SCALE, true);
        }

        /**
         * The strategy's settings with every interval divided by {@code scale} (1: production pace); {@code paced}: the
         * operator's own key-creation pacing (one creation per 1.1 s per HSM) stays on, as for Azure's limits.
         */
        Map<String, String> settings(int scale, boolean paced) {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("HSM_RECONCILE_POLL", "PT0.5S");
            env.put("HSM_RECONCILE_MAX_BACKOFF", "PT5S");
            env.put("HSM_RECONCILE_RESYNC", iso(Duration.ofHours(1).dividedBy(scale)));
            env.put("HSM_RECONCILE_DRIFT_INTERVAL", iso(driftInterval.dividedBy(scale)));
            env.put("HSM_RECONCILE_KEY_FULL_READ", iso(fullRead.dividedBy(scale)));
            if (!paced) {
                env.put("HSM_AZURE_KEY_CREATION_INTERVAL", "PT0S");
            }
            env.put("HSM_LEADER_ELECTION_LEASE_DURATION", "PT6S");
            env.put("HSM_LEADER_ELECTION_RENEW_DEADLINE", "PT4S");
            env.put("HSM_LEADER_ELECTION_RETRY_PERIOD", "PT1S");
            return env;
        }
    }

    /** Listing off (its first run is half an interval away), so each key is read on its own every full read. */
    static final Duration NEVER = Duration.ofDays(3650);
    static final List<Strategy> STRATEGIES = List.of(
            new Strategy("hsm-operator (list per HSM every 10 min, full read daily)", Duration.ofMinutes(10), Duration.ofDays(1)),
            new Strategy("ASO-like (read each key every hour)", NEVER, Duration.ofHours(1)),
            new Strategy("Crossplane-like (read each key every 10 min)", NEVER, Duration.ofMinutes(10)));

    record Steady(Strategy strategy, double callsPerKeyHour, long writes, Duration driftLatency) {
    }

    /**
     * A restarted operator's first pass, at production pace: from the new replica taking the lease until it has
     * reconciled every HsmKey once and made the Azure calls that follow from that (the listing that confirms the keys it
     * took on trust from their status, and the full reads of those that differ). {@code handover}: from {@code helm
     * upgrade} to the new replica taking the lease (its start, the old replica's exit).
     */
    record Restart(Duration handover, Duration firstPass, double callsPerKey, long keysRead) {
    }

    /**
     * {@code applyAlone}: the same keys applied with no operator running, what this machine's API server and the bench's
     * appliers take by themselves, the floor under {@code toReady}; {@code applied}: the apply with the operator running;
     * {@code floorLoad} and {@code convergingLoad}: where the machine's CPU and the API server's requests went in each.
     */
    record Result(int n, String memoryLimit, Duration applyAlone, Duration applied, Duration toReady, double callsPerKeyConverging,
                  long rss, long heap, Restart restart,
                  List<Steady> steady, MachineLoad.Load floorLoad, MachineLoad.Load convergingLoad, double reconcilesPerKey) {
    }

    /**
     * The mode with Azure's limits on (e2e/bench limits): the emulator's one key creation per second per HSM and five RBAC
     * operations per second, the operator's default pacing; {@code perHsm} keys on each of {@code hsms} HSMs at once.
     */
    record Limited(int perHsm, int hsms, Duration toReady, Map<String, Long> throttledByEndpoint, Duration pacingWaited,
                   Duration retryAfterWaited, double callsPerKey) {
        Duration limit() {
            return Duration.ofSeconds(perHsm);
        }

        long throttled() {
            return throttledByEndpoint.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /**
     * This benchmark's figures before issue 25 (docs/bench at commit f0945e8): a restart read every key, a new key cost
     * four calls and a second full read, and every HsmKey reconcile read its ManagedHsm and ConfigMap from the API server.
     * Shown beside the new ones in the tables and charts.
     */
    record Before(int n, double toReadySeconds, double callsPerKeyConverging, long rssMiB, double firstPassSeconds,
                  double firstPassCallsPerKey, double ourCallsPerKeyHour, double ourDriftMinutes) {
    }

    static final List<Before> BEFORE = List.of(
            new Before(100, 4.8, 4.75, 225, 12, 2.11, 0.61, 7.4),
            new Before(1000, 36.9, 4.98, 254, 22, 2.30, 0.60, 7.3),
            new Before(10000, 305.7, 6.00, 585, 133, 4.20, 0.45, 17.4));

    static java.util.Optional<Before> before(int n) {
        return BEFORE.stream().filter(b -> b.n() == n).findFirst();
    }

    /**
     * The peers' strategies read every key on their own schedule: at 120× compressed time 10,000 keys would need about
     * 670 (ASO-like) and 4,000 (Crossplane-like) reads a second, more than this machine serves, so they are measured
     * up to this N only. Their cost per key-hour does not depend on N.
     */
    static final int PEERS_UP_TO = 1000;

    /** The chart's memory limit (512Mi) holds a few thousand keys; README "Cost and scale" says 1Gi for 10,000. */
    static String memoryLimit(int n) {
        return n > 2000 ? "1Gi" : "512Mi";
    }

    @Test
    void bench() throws Exception {
        List<Integer> sizes = new ArrayList<>();
        boolean limits = false;
        for (String n : System.getProperty("bench.sizes", "100,1000").split(",")) {
            if (n.trim().equals("limits")) {
                limits = true;
            } else {
                sizes.add(Integer.parseInt(n.trim()));
            }
        }
        List<Result> results = new ArrayList<>();
        List<Limited> limited = new ArrayList<>();
        if (limits) {
            limited.add(limited(LIMITED_PER_HSM, 2));
            write(results, limited);
        }
        for (int i = 0; i < sizes.size(); i++) {
            int n = sizes.get(i);
            results.add(run(n, i == sizes.size() - 1));
            // Written after each size, so that a long run that fails later keeps what it measured.
            write(results, limited);
        }
        System.out.println(table(results, limited));
        System.out.println("Written: " + Path.of("target", "bench", "results.md") + ", cost-vs-latency.svg, time-to-ready.svg, restart.svg");
    }

    /** Keys per HSM in the mode with Azure's limits on: 200 creations at one a second is about 200 s. */
    static final int LIMITED_PER_HSM = 200;

    private static void write(List<Result> results, List<Limited> limited) throws java.io.IOException {
        Path out = Files.createDirectories(Path.of("target", "bench"));
        Files.writeString(out.resolve("results.md"), table(results, limited));
        if (!results.isEmpty()) {
            Files.writeString(out.resolve("cost-vs-latency.svg"), Charts.costVersusLatency(results));
            Files.writeString(out.resolve("time-to-ready.svg"), Charts.timeToReady(results));
            Files.writeString(out.resolve("restart.svg"), Charts.restart(results));
        }
    }

    static int hsms(int n) {
        return (n + KEYS_PER_HSM - 1) / KEYS_PER_HSM;
    }

    /** The sample ManagedHsm is the first; the others are copies of it under other names. */
    private static String hsmRef(int h) {
        return h == 0 ? "payments-hsm" : "payments-hsm-" + (h + 1);
    }

    private static EmulatorConfig emulator(boolean serviceLimits) {
        return EmulatorConfig.inMemory().withServiceLimits(serviceLimits)
                .withDelays(Duration.ofSeconds(1), Duration.ofMillis(300), Duration.ofMillis(200), Duration.ofMillis(300))
                .withRbacPropagation(Duration.ofMillis(500)).withStaleReads(Duration.ZERO);
    }

    /** Applies the sample ManagedHsm and {@code count - 1} copies of it, and waits until all are Ready, their region added. */
    private static void readyHsms(Installation inst, String apps, int count) throws java.io.IOException {
        TestCluster.kubectlOk("apply", "-n", apps, "-f", "../config/samples/security-domain-officers.yaml", "-f",
                "../config/samples/managedhsm.yaml");
        String sample = Files.readString(Path.of("../config/samples/managedhsm.yaml"));
        for (int h = 1; h < count; h++) {
            Path copy = inst.dir.resolve(hsmRef(h) + ".yaml");
            Files.writeString(copy, sample.replace("name: payments-hsm\n", "name: " + hsmRef(h) + "\n")
                    .replace("azureName: " + HSM_NAME, "azureName: contoso-" + hsmRef(h))
                    .replace("outputSecret: payments-hsm-security-domain", "outputSecret: " + hsmRef(h) + "-security-domain"));
            TestCluster.kubectlOk("apply", "-n", apps, "-f", copy.toString());
        }
        for (int h = 0; h < count; h++) {
            TestCluster.kubectlOk("wait", "-n", apps, "--for=condition=Ready", "managedhsm/" + hsmRef(h), "--timeout=180s");
            // Ready comes before the sample's extended region is added; its hosts, once added, are published in every key's
            // ConfigMap. The keys are applied to a settled HSM, so that the measure is the keys' convergence alone.
            String name = hsmRef(h);
            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> {
                var st = inst.admin.resources(io.hsmoperator.api.managedhsm.ManagedHsm.class).inNamespace(apps).withName(name).require().getStatus();
                return st.regions != null && !st.regions.isEmpty() && st.regions.stream().allMatch(r -> "Succeeded".equals(r.provisioningState));
            });
        }
    }

    /** Requests in flight while the keys are applied: one at a time, the bench would time its own round trips. */
    static final int APPLIERS = 4;

    /**
     * Applies {@code n} keys spread over {@code hsms} HSMs, as fast as the API server takes them ({@link #APPLIERS} at a
     * time), and watches them: the time until all are Ready. A watch, not a list of every HsmKey every few seconds, which
     * at 10,000 keys cost the API server and this machine's two cores more than the operator's own requests.
     */
    private static Applied applyUntilReady(Installation inst, String apps, int n, int hsms) throws Exception {
        Set<String> ready = ConcurrentHashMap.newKeySet();
        CountDownLatch allReady = new CountDownLatch(1);
        ResourceEventHandler<HsmKey> watcher = new ResourceEventHandler<>() {
            @Override
            public void onAdd(HsmKey k) {
                if (k.getStatus() != null && k.getStatus().conditions != null && k.getStatus().conditions.stream()
                        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))
                        && ready.add(k.getMetadata().getName()) && ready.size() >= n) {
                    allReady.countDown();
                }
            }

            @Override
            public void onUpdate(HsmKey before, HsmKey now) {
                onAdd(now);
            }

            @Override
            public void onDelete(HsmKey k, boolean unknownFinalState) {
            }
        };
        try (var informer = inst.admin.resources(HsmKey.class).inNamespace(apps).inform(watcher)) {
            long start = System.nanoTime();
            Duration applied = apply(inst, apps, n, hsms);
            System.out.printf("bench: %d keys applied in %.1f s%n", n, applied.toMillis() / 1000.0);
            if (!allReady.await(30, TimeUnit.MINUTES)) {
                throw new AssertionError(ready.size() + " of " + n + " keys Ready after 30 minutes");
            }
            return new Applied(applied, Duration.ofNanos(System.nanoTime() - start));
        }
    }

    /** How long applying the keys took, and until all were Ready, both from the first apply. */
    record Applied(Duration applied, Duration ready) {
    }

    /** Applies {@code n} keys spread over {@code hsms} HSMs, {@link #APPLIERS} requests at a time; how long that took. */
    private static Duration apply(Installation inst, String namespace, int n, int hsms) throws Exception {
        long start = System.nanoTime();
        ExecutorService appliers = Executors.newFixedThreadPool(APPLIERS);
        try {
            List<Future<?>> applied = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                HsmKey key = key(namespace, i, hsmRef(i % hsms));
                applied.add(appliers.submit(() -> inst.admin.resource(key).serverSideApply()));
            }
            for (Future<?> f : applied) {
                f.get();
            }
        } finally {
            appliers.shutdown();
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /**
     * The floor: the keys applied as {@link #applyUntilReady} applies them, into a namespace of their own while no operator
     * runs (its Deployment scaled to zero), then deleted with their namespace (nothing holds a finalizer on them), and the
     * operator scaled back.
     */
    private static Floor applyAlone(Installation inst, int n, int hsms) throws Exception {
        String floor = "bench-floor";
        scale(inst, 0);
        inst.admin.namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder().withNewMetadata().withName(floor)
                .endMetadata().build()).serverSideApply();
        MachineLoad.Snapshot before = MachineLoad.snapshot(null);
        Duration took = apply(inst, floor, n, hsms);
        MachineLoad.Load load = MachineLoad.between(before, MachineLoad.snapshot(null), n);
        System.out.printf("bench: %d keys applied in %.1f s with no operator running: %s%n", n, took.toMillis() / 1000.0, load.describe());
        // The namespace's deletion removes the keys on the API server's side, however long 10,000 take; a client's
        // delete of the collection would time out.
        teardown(inst, floor);
        scale(inst, 1);
        return new Floor(took, load);
    }

    /** Applying with no operator: how long it took, and the machine's load meanwhile. */
    record Floor(Duration took, MachineLoad.Load load) {
    }

    /** {@code kubectl scale} of the operator's Deployment, until that many replicas run and are Ready. */
    private static void scale(Installation inst, int replicas) {
        TestCluster.kubectlOk("scale", "-n", Installation.SYSTEM, "deployment/" + Installation.RELEASE, "--replicas=" + replicas);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500))
                .until(() -> inst.pods().size() == replicas && inst.readyPods().size() == replicas);
    }

    /** One size; {@code last}: no size follows, so its keys may stay. */
    private Result run(int n, boolean last) throws Exception {
        // A namespace per size, deleted at its end (see teardown) unless no size follows.
        String apps = "bench-" + n;
        try (Installation inst = new Installation(emulator(false), Path.of("target", "bench", "n" + n), apps)) {
            Strategy ours = STRATEGIES.get(0);
            Map<String, String> values = Map.of("resources.limits.memory", memoryLimit(n));
            // Converging and the restart at production pace (drift listing every 10 minutes, keys counted as often), with
            // the operator's creation pacing off: the emulator's limits are off too.
            Map<String, String> production = ours.settings(1, false);
            inst.helmInstall(values, production);
            Floor floor = applyAlone(inst, n, hsms(n));
            Pod pod = inst.readyPods().get(0);
            readyHsms(inst, apps, hsms(n));

            long mark = inst.emulator.controls().lastSequence();
            MachineLoad.Snapshot before = MachineLoad.snapshot(pod);
            Applied applied = applyUntilReady(inst, apps, n, hsms(n));
            MachineLoad.Load load = MachineLoad.between(before, MachineLoad.snapshot(pod), n);
            double reconcilesPerKey = reconciles(inst, pod, "HsmKey") / (double) n;
            System.out.printf("bench N=%d, apply -> all Ready: %.2f HsmKey reconciles per key; %s%n", n, reconcilesPerKey, load.describe());
            Duration toReady = applied.ready();
            double converging = keyCalls(inst, mark, e -> true) / (double) n;
            long rss = Node.memoryWorkingSet(pod);
            long heap = heapUsed(inst, pod);
            System.out.printf("bench N=%d: all Ready in %.1f s, %.2f Azure calls per key (by operation: %s), memory %d MiB, heap %d MiB "
                    + "(JVM: %s)%n", n, toReady.toMillis() / 1000.0, converging, byOperation(inst, mark), rss >> 20, heap >> 20, jvmMemory(inst, pod));

            Restart restart = restart(inst, n, values, production);

            String hsmUri = inst.admin.resources(HsmKey.class).inNamespace(apps).withName(keyName(0)).require().getStatus()
                    .versionlessKeyId.replaceAll("/keys/.*", "");
            KeyClient portal = inst.portal(hsmUri, Installation.SAMPLE_HSM_ADMIN);
            List<Steady> steady = new ArrayList<>();
            for (Strategy s : n > PEERS_UP_TO ? STRATEGIES.subList(0, 1) : STRATEGIES) {
                steady.add(steady(inst, s, n, portal, values));
            }
            if (!last) {
                teardown(inst, apps);
            }
            return new Result(n, memoryLimit(n), floor.took(), applied.applied(), toReady, converging, rss, heap, restart, steady, floor.load(), load,
                    reconcilesPerKey);
        }
    }

    /**
     * Deletes a namespace and waits until it is gone. For a size's keys and HSMs, while its operator and emulator still
     * run, as namespace teardown does it (everything at once; deletionPolicy Retain: Azure keeps the keys): left behind,
     * they would point the next size's operator at an emulator that is gone, thousands of keys waiting on it, a load the
     * next measure would carry.
     */
    private static void teardown(Installation inst, String apps) {
        inst.admin.namespaces().withName(apps).delete();
        await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofSeconds(2)).until(() -> inst.admin.namespaces().withName(apps).get() == null);
    }

    /** Rolls the operator to a new pod ({@code helm upgrade} with a pod annotation of its own) that runs {@code settings}. */
    private static void roll(Installation inst, Map<String, String> values, Map<String, String> settings) throws Exception {
        Map<String, String> restart = new LinkedHashMap<>(values);
        restart.put("podAnnotations.hsm-bench-restart", "r" + System.nanoTime());
        inst.helmUpgrade(restart, settings);
        TestCluster.kubectlOk("rollout", "status", "-n", Installation.SYSTEM, "deployment/" + Installation.RELEASE, "--timeout=180s");
    }

    /**
     * A restart with N converged keys, at production pace: the new leader's first pass ends once it has reconciled every
     * HsmKey (its reconcile count, from /q/metrics) and its Azure calls have stopped for a few seconds (the confirming
     * listing comes {@link KeyListings#CONFIRM_QUIET} after the last key taken on trust; at production pace nothing else is due).
     */
    private Restart restart(Installation inst, int n, Map<String, String> values, Map<String, String> settings) throws Exception {
        long mark = inst.emulator.controls().lastSequence();
        java.time.Instant upgraded = java.time.Instant.now();
        roll(inst, values, settings);
        Pod leader = newLeader(inst);
        java.time.Instant led = inst.admin.leases().inNamespace(Installation.SYSTEM).withName("hsm-operator-leader").get().getSpec()
                .getAcquireTime().toInstant();
        await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(250)).until(() -> reconciles(inst, leader, "HsmKey") >= n);
        java.time.Instant reconciled = java.time.Instant.now();
        String operator = inst.operatorIdentity.objectId();
        Duration quiet = KeyListings.CONFIRM_QUIET.plusSeconds(7);
        Supplier<List<Controls.JournalEntry>> keyCalls = () -> inst.emulator.controls()
                .journal(e -> e.seq() > mark && operator.equals(e.principal()) && e.path().startsWith("/keys"));
        // The end of the first pass: the operator's last key call, or its last reconcile if that came later.
        Function<List<Controls.JournalEntry>, java.time.Instant> end = calls -> calls.isEmpty()
                || calls.get(calls.size() - 1).time().isBefore(reconciled) ? reconciled : calls.get(calls.size() - 1).time();
        List<Controls.JournalEntry> calls = await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(500))
                .until(keyCalls::get, c -> Duration.between(end.apply(c), java.time.Instant.now()).compareTo(quiet) > 0);
        long read = calls.stream().map(Controls.JournalEntry::path).filter(p -> p.matches("/keys/bench-\\d+(/versions)?"))
                .map(p -> p.replaceAll("/versions$", "")).distinct().count();
        Restart r = new Restart(Duration.between(upgraded, led), Duration.between(led, end.apply(calls)), calls.size() / (double) n, read);
        System.out.printf("bench N=%d restart: new leader %.1f s after helm upgrade; first pass %.1f s (all reconciled after %.1f s), "
                        + "%.3f Azure calls per key (%s), %d keys read in full%n", n, r.handover().toMillis() / 1000.0,
                r.firstPass().toMillis() / 1000.0, Duration.between(led, reconciled).toMillis() / 1000.0, r.callsPerKey(),
                byOperation(inst, mark), read);
        return r;
    }

    /** The pod that holds the lease once the rolled-out replica has taken it over. */
    private static Pod newLeader(Installation inst) {
        return await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> {
            String name = inst.leader();
            Pod p = name == null ? null : inst.pod(name);
            return p != null && p.getMetadata().getDeletionTimestamp() == null && Readiness.isPodReady(p) ? p : null;
        }, java.util.Objects::nonNull);
    }

    /** The pod's count of reconciles of {@code kind} (every outcome), from its metrics. */
    private static long reconciles(Installation inst, Pod pod, String kind) {
        long total = 0;
        Matcher m = Pattern.compile("(?m)^hsm_operator_reconcile_seconds_count\\{[^}]*kind=\"" + kind + "\"[^}]*} ([0-9.eE+]+)$")
                .matcher(inst.get(pod, "/q/metrics"));
        while (m.find()) {
            total += (long) Double.parseDouble(m.group(1));
        }
        return total;
    }

    /**
     * Azure's limits on: {@code perHsm} keys on each of {@code hsms} HSMs applied at once, against Azure's one creation a
     * second per HSM; counts the 429s the operator drew and the time it waited, by its own pacing and for Retry-After.
     */
    private Limited limited(int perHsm, int hsms) throws Exception {
        String apps = "bench-limits";
        int n = perHsm * hsms;
        try (Installation inst = new Installation(emulator(true), Path.of("target", "bench", "limits"), apps)) {
            inst.helmInstall(Map.of(), STRATEGIES.get(0).settings(1, true));
            Pod pod = inst.readyPods().get(0);
            readyHsms(inst, apps, hsms);
            long mark = inst.emulator.controls().lastSequence();
            Duration toReady = applyUntilReady(inst, apps, n, hsms).ready();
            String operator = inst.operatorIdentity.objectId();
            Map<String, Long> throttled = new java.util.TreeMap<>();
            inst.emulator.controls().journal(e -> e.seq() > mark && operator.equals(e.principal()) && e.status() == 429)
                    .forEach(e -> throttled.merge(e.endpoint() + " " + e.method() + " " + e.path().replaceAll("/keys/[^/]+", "/keys/{name}"),
                            1L, Long::sum));
            String metrics = inst.get(pod, "/q/metrics");
            Limited l = new Limited(perHsm, hsms, toReady, throttled, waited(metrics, "key-creation-pacing"), waited(metrics, "retry-after"),
                    keyCalls(inst, mark, e -> true) / (double) n);
            System.out.printf("bench limits: %d keys on each of %d HSMs Ready in %.1f s (Azure's limit: %d s); %d responses 429 %s; "
                            + "paced %.0f s in all, waited for Retry-After %.0f s; %.2f Azure calls per key%n", perHsm, hsms,
                    toReady.toMillis() / 1000.0, l.limit().toSeconds(), l.throttled(), throttled, l.pacingWaited().toMillis() / 1000.0,
                    l.retryAfterWaited().toMillis() / 1000.0, l.callsPerKey());
            teardown(inst, apps);
            return l;
        }
    }

    /** The total of the operator's throttle waits of one cause, from its metrics. */
    private static Duration waited(String metrics, String cause) {
        Matcher m = Pattern.compile("(?m)^hsm_operator_azure_throttle_waits_seconds_sum\\{[^}]*cause=\"" + cause + "\"[^}]*} ([0-9.eE+]+)$")
                .matcher(metrics);
        double seconds = 0;
        while (m.find()) {
            seconds += Double.parseDouble(m.group(1));
        }
        return Duration.ofMillis((long) (seconds * 1000));
    }

    /** Restarts the operator with the strategy's settings, lets the start-up reads pass, then measures a window. */
    private Steady steady(Installation inst, Strategy s, int n, KeyClient portal, Map<String, String> values) throws Exception {
        roll(inst, values, s.settings());
        // The new replica's start-up (its first reconciles, the listing that confirms what it took on trust, its first key
        // count) begins when it takes the lease, which can be seconds after the rollout.
        newLeader(inst);
        // Wait until the reads of single keys run at the strategy's own steady rate (with a margin; at compressed time the
        // full reads of ASO's and Crossplane's strategies fall due as soon as the new leader starts), so that the window
        // measures steady state only.
        Duration slice = Duration.ofSeconds(3);
        double steadyReads = 2.0 * n * slice.toMillis() / s.fullRead().dividedBy(SCALE).toMillis();
        // Past the listing that confirms the keys the new leader took on trust.
        Thread.sleep(KeyListings.CONFIRM_QUIET.plusSeconds(5).toMillis());
        while (true) {
            long before = inst.emulator.controls().lastSequence();
            Thread.sleep(slice.toMillis());
            if (keyCalls(inst, before, e -> e.path().matches("/keys/bench-\\d+(/versions)?")) <= 1.5 * steadyReads + 5) {
                break;
            }
        }
        long mark = inst.emulator.controls().lastSequence();
        Thread.sleep(WINDOW.toMillis());
        double perKeyHour = keyCalls(inst, mark, e -> true) / (double) n;
        long writes = keyCalls(inst, mark, Controls.JournalEntry::isWrite);
        System.out.printf("bench N=%d %s: calls in the hour by operation: %s%n", n, s.name(), byOperation(inst, mark));

        // Drift: a key disabled out of band, until the operator enables it again.
        // A key in the first HSM, where the portal client points.
        String name = keyName(n / 2 / hsms(n) * hsms(n));
        var props = portal.getKey(name).getProperties();
        portal.updateKeyProperties(props.setEnabled(false));
        long disabled = System.nanoTime();
        await().atMost(WINDOW.multipliedBy(3).plusSeconds(30)).pollInterval(Duration.ofMillis(100))
                .until(() -> inst.emulator.inspect(st -> st.hsms.get(HSM_NAME).keys.get(name).latest().enabled));
        Duration latency = Duration.ofNanos(System.nanoTime() - disabled).multipliedBy(SCALE);
        System.out.printf("bench N=%d %s: %.2f calls per key-hour, drift seen after %s%n", n, s.name(), perKeyHour, human(latency));
        return new Steady(s, perKeyHour, writes, latency);
    }

    private static long keyCalls(Installation inst, long after, Predicate<Controls.JournalEntry> which) {
        String operator = inst.operatorIdentity.objectId();
        return inst.emulator.controls().journal(e -> e.seq() > after && operator.equals(e.principal()) && e.path().startsWith("/keys")
                && which.test(e)).size();
    }

    /** The operator's key calls after a mark, counted by method and path with names and versions left out. */
    private static Map<String, Long> byOperation(Installation inst, long after) {
        String operator = inst.operatorIdentity.objectId();
        Map<String, Long> out = new java.util.TreeMap<>();
        inst.emulator.controls().journal(e -> e.seq() > after && operator.equals(e.principal()) && e.path().startsWith("/keys"))
                .forEach(e -> out.merge(e.method() + " " + e.path().replaceAll("/keys/[^/]+", "/keys/{name}")
                        .replaceAll("(/keys/\\{name})/[0-9a-f]{32}", "$1/{version}"), 1L, Long::sum));
        return out;
    }

    private static long heapUsed(Installation inst, Pod pod) {
        long total = 0;
        Matcher m = Pattern.compile("(?m)^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*} ([0-9.eE+]+)$").matcher(inst.get(pod, "/q/metrics"));
        while (m.find()) {
            total += (long) Double.parseDouble(m.group(1));
        }
        return total;
    }

    /** Where the operator's memory goes, from its JVM metrics: committed heap and non-heap, and the live data after the last full GC. */
    private static String jvmMemory(Installation inst, Pod pod) {
        String metrics = inst.get(pod, "/q/metrics");
        Map<String, Long> out = new LinkedHashMap<>();
        for (String area : List.of("heap", "nonheap")) {
            Matcher m = Pattern.compile("(?m)^jvm_memory_committed_bytes\\{[^}]*area=\"" + area + "\"[^}]*} ([0-9.eE+]+)$").matcher(metrics);
            long total = 0;
            while (m.find()) {
                total += (long) Double.parseDouble(m.group(1));
            }
            out.put(area + " committed", total >> 20);
        }
        Matcher live = Pattern.compile("(?m)^jvm_gc_live_data_size_bytes(\\{[^}]*})? ([0-9.eE+]+)$").matcher(metrics);
        if (live.find()) {
            out.put("live after last full GC", (long) Double.parseDouble(live.group(2)) >> 20);
        }
        return out.toString().replace("=", " ").replace("}", " MiB}");
    }

    private static HsmKey key(String apps, int i, String hsm) {
        HsmKey k = new HsmKey();
        k.setMetadata(new ObjectMetaBuilder().withName(keyName(i)).withNamespace(apps).build());
        HsmKeySpec spec = new HsmKeySpec();
        spec.hsmRef = new HsmReference();
        spec.hsmRef.name = hsm;
        spec.keyType = HsmKeySpec.KeyType.EC_HSM;
        spec.operations = List.of(HsmKeySpec.Operation.sign, HsmKeySpec.Operation.verify);
        k.setSpec(spec);
        return k;
    }

    private static String keyName(int i) {
        return String.format(Locale.ROOT, "bench-%05d", i);
    }

    static String iso(Duration d) {
        return d.toString();
    }

    static String human(Duration d) {
        return d.toMinutes() >= 1 ? String.format(Locale.ROOT, "%.1f min", d.toMillis() / 60000.0)
                : String.format(Locale.ROOT, "%.0f s", d.toMillis() / 1000.0);
    }

    static String table(List<Result> results, List<Limited> limited) {
        StringBuilder t = new StringBuilder();
        if (!results.isEmpty()) {
            t.append("| N | apply → all Ready | of which applying | applying with no operator | Azure calls per key (converging) | restart: first pass | its Azure calls per key | keys read in full | operator memory (working set) | heap | memory limit |\n");
            t.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Result r : results) {
                var b = before(r.n());
                t.append(String.format(Locale.ROOT, "| %,d | %.1f s%s | %.1f s | %.1f s | %.2f%s | %.1f s%s | %.3f%s | %d | %d MiB%s | %d MiB | %s |%n", r.n(),
                        r.toReady().toMillis() / 1000.0, b.map(x -> String.format(Locale.ROOT, " (was %.1f s)", x.toReadySeconds())).orElse(""),
                        r.applied().toMillis() / 1000.0, r.applyAlone().toMillis() / 1000.0,
                        r.callsPerKeyConverging(), b.map(x -> String.format(Locale.ROOT, " (was %.2f)", x.callsPerKeyConverging())).orElse(""),
                        r.restart().firstPass().toMillis() / 1000.0, b.map(x -> String.format(Locale.ROOT, " (was %.0f s)", x.firstPassSeconds())).orElse(""),
                        r.restart().callsPerKey(), b.map(x -> String.format(Locale.ROOT, " (was %.2f)", x.firstPassCallsPerKey())).orElse(""),
                        r.restart().keysRead(), r.rss() >> 20, b.map(x -> " (was " + x.rssMiB() + " MiB)").orElse(""), r.heap() >> 20, r.memoryLimit()));
            }
            t.append("\n| N | phase | wall | CPU used (of 2 cores) | API server | operator | bench and emulator | etcd | the rest | API requests per key | HsmKey reconciles per key |\n");
            t.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
            for (Result r : results) {
                for (var phase : List.of(Map.entry("applying with no operator", r.floorLoad()), Map.entry("apply → all Ready", r.convergingLoad()))) {
                    MachineLoad.Load l = phase.getValue();
                    double rest = l.cpu("the rest") + l.cpu("controller manager") + l.cpu("kubelet") + l.cpu("containerd");
                    t.append(String.format(Locale.ROOT, "| %,d | %s | %.1f s | %.0f s | %.0f s | %.0f s | %.0f s | %.0f s | %.0f s | %.2f: %s | %s |%n", r.n(),
                            phase.getKey(), l.seconds(), l.all(), l.cpu("API server"), l.cpu("operator"), l.cpu("bench and emulator"), l.cpu("etcd"),
                            rest, l.requestsPerKeyInAll(), l.requestsPerKey().entrySet().stream()
                                    .map(e -> String.format(Locale.ROOT, "%s %.2f", e.getKey(), e.getValue())).collect(java.util.stream.Collectors.joining(", ")),
                            phase.getValue() == r.convergingLoad() ? String.format(Locale.ROOT, "%.2f", r.reconcilesPerKey()) : "—"));
                }
            }
            t.append("\nCPU seconds by process while the keys were applied, from /proc and the operator container's cgroup; the API server's "
                    + "requests from its own counters (apiserver_request_total), per key; the rest: kubelet, containerd, the controller manager "
                    + "and what no named process used.\n");
            t.append("\n| N | strategy | Azure calls per key per hour (steady) | writes in that hour | drift seen after | cost vs ASO | latency vs ASO |\n");
            t.append("|---:|---|---:|---:|---:|---:|---:|\n");
            for (Result r : results) {
                Steady aso = r.steady().size() > 1 ? r.steady().get(1) : null;
                for (Steady s : r.steady()) {
                    var b = s == r.steady().get(0) ? before(r.n()) : java.util.Optional.<Before>empty();
                    t.append(String.format(Locale.ROOT, "| %,d | %s | %.2f%s | %d | %s%s | %s | %s |%n", r.n(), s.strategy().name(),
                            s.callsPerKeyHour(), b.map(x -> String.format(Locale.ROOT, " (was %.2f)", x.ourCallsPerKeyHour())).orElse(""),
                            s.writes(), human(s.driftLatency()), b.map(x -> String.format(Locale.ROOT, " (was %.1f min)", x.ourDriftMinutes())).orElse(""),
                            aso == null ? "—" : String.format(Locale.ROOT, "%.2f×", s.callsPerKeyHour() / aso.callsPerKeyHour()),
                            aso == null ? "—" : String.format(Locale.ROOT, "%.2f×", s.driftLatency().toMillis() / (double) aso.driftLatency().toMillis())));
                }
            }
            t.append(String.format(Locale.ROOT, "%nApply → Ready, the calls while converging and the restart ran at production pace (drift listing every "
                    + "10 minutes, full reads daily), with the emulator's rate limits off and the operator's key-creation pacing 0; the "
                    + "restart's first pass runs from the new replica taking the lease until it has reconciled every key and its Azure calls "
                    + "have stopped. The steady hours ran %d× faster than production (each %d s window stands for an hour; every interval "
                    + "divided by %d). The peers' strategies are measured up to N=%,d: beyond it, compressed time asks more reads a second "
                    + "than this machine serves. Azure holds at most %,d keys in one HSM: N=10,000 is two HSMs. \"was\": this benchmark "
                    + "before issue 25.%n", SCALE, WINDOW.toSeconds(), SCALE, PEERS_UP_TO, KEYS_PER_HSM));
        }
        if (!limited.isEmpty()) {
            t.append("\n| Azure's limits on | apply → all Ready | Azure's limit (1 key creation a second per HSM) | responses 429 | operator's own pacing (sum of waits) | waits for Retry-After | Azure calls per key |\n");
            t.append("|---|---:|---:|---:|---:|---:|---:|\n");
            for (Limited l : limited) {
                t.append(String.format(Locale.ROOT, "| %d keys on each of %d HSMs | %.1f s | %d s | %d | %.0f s | %.0f s | %.2f |%n", l.perHsm(), l.hsms(),
                        l.toReady().toMillis() / 1000.0, l.limit().toSeconds(), l.throttled(), l.pacingWaited().toMillis() / 1000.0,
                        l.retryAfterWaited().toMillis() / 1000.0, l.callsPerKey()));
            }
            t.append(String.format(Locale.ROOT, "%nThe emulator's limits as Azure's (one key creation a second per HSM, five RBAC operations a second, "
                    + "429 with Retry-After above them), the operator's default pacing (a creation per %s per HSM), production pace.%n",
                    "1.1 s"));
        }
        return t.toString();
    }
}
