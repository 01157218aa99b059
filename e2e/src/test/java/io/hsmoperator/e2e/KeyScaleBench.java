package io.hsmoperator.e2e;

import com.azure.security.keyvault.keys.KeyClient;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.kube.TestCluster;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
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
        Map<String, String> settings() {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("HSM_RECONCILE_POLL", "PT0.5S");
            env.put("HSM_RECONCILE_MAX_BACKOFF", "PT5S");
            env.put("HSM_RECONCILE_RESYNC", iso(Duration.ofHours(1).dividedBy(SCALE)));
            env.put("HSM_RECONCILE_DRIFT_INTERVAL", iso(driftInterval.dividedBy(SCALE)));
            env.put("HSM_RECONCILE_KEY_FULL_READ", iso(fullRead.dividedBy(SCALE)));
            env.put("HSM_AZURE_KEY_CREATION_INTERVAL", "PT0S");
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

    record Steady(Strategy strategy, Duration firstPass, double firstPassCallsPerKey, double callsPerKeyHour, long writes,
                  Duration driftLatency) {
    }

    record Result(int n, String memoryLimit, Duration toReady, double callsPerKeyConverging, long rss, long heap, List<Steady> steady) {
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
        for (String n : System.getProperty("bench.sizes", "100,1000").split(",")) {
            sizes.add(Integer.parseInt(n.trim()));
        }
        List<Result> results = new ArrayList<>();
        for (int n : sizes) {
            results.add(run(n));
            // Written after each size, so that a long run that fails later keeps what it measured.
            write(results);
        }
        System.out.println(table(results));
        System.out.println("Written: " + Path.of("target", "bench", "results.md") + ", cost-vs-latency.svg, time-to-ready.svg");
    }

    private static void write(List<Result> results) throws java.io.IOException {
        Path out = Files.createDirectories(Path.of("target", "bench"));
        Files.writeString(out.resolve("results.md"), table(results));
        Files.writeString(out.resolve("cost-vs-latency.svg"), Charts.costVersusLatency(results));
        Files.writeString(out.resolve("time-to-ready.svg"), Charts.timeToReady(results));
    }

    static int hsms(int n) {
        return (n + KEYS_PER_HSM - 1) / KEYS_PER_HSM;
    }

    /** The sample ManagedHsm is the first; the others are copies of it under other names. */
    private static String hsmRef(int h) {
        return h == 0 ? "payments-hsm" : "payments-hsm-" + (h + 1);
    }

    private Result run(int n) throws Exception {
        EmulatorConfig emulator = EmulatorConfig.inMemory().withServiceLimits(false)
                .withDelays(Duration.ofSeconds(1), Duration.ofMillis(300), Duration.ofMillis(200), Duration.ofMillis(300))
                .withRbacPropagation(Duration.ofMillis(500)).withStaleReads(Duration.ZERO);
        // A namespace per size: the keys of a smaller run stay behind (deletionPolicy Retain), pointing at its emulator.
        String apps = "bench-" + n;
        try (Installation inst = new Installation(emulator, Path.of("target", "bench", "n" + n), apps)) {
            Strategy ours = STRATEGIES.get(0);
            Map<String, String> values = Map.of("resources.limits.memory", memoryLimit(n));
            inst.helmInstall(values, ours.settings());
            Pod pod = inst.readyPods().get(0);
            TestCluster.kubectlOk("apply", "-n", apps, "-f", "../config/samples/security-domain-officers.yaml", "-f",
                    "../config/samples/managedhsm.yaml");
            String sample = Files.readString(Path.of("../config/samples/managedhsm.yaml"));
            for (int h = 1; h < hsms(n); h++) {
                Path copy = inst.dir.resolve(hsmRef(h) + ".yaml");
                Files.writeString(copy, sample.replace("name: payments-hsm\n", "name: " + hsmRef(h) + "\n")
                        .replace("azureName: " + HSM_NAME, "azureName: contoso-" + hsmRef(h))
                        .replace("outputSecret: payments-hsm-security-domain", "outputSecret: " + hsmRef(h) + "-security-domain"));
                TestCluster.kubectlOk("apply", "-n", apps, "-f", copy.toString());
            }
            for (int h = 0; h < hsms(n); h++) {
                TestCluster.kubectlOk("wait", "-n", apps, "--for=condition=Ready", "managedhsm/" + hsmRef(h), "--timeout=180s");
            }

            // Apply N keys, as fast as the API server takes them, and wait for all to be Ready.
            long mark = inst.emulator.controls().lastSequence();
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                inst.admin.resource(key(apps, i, hsmRef(i % hsms(n)))).serverSideApply();
            }
            // Listing every HsmKey costs the API server and this machine's two cores too: poll less often as N grows.
            await().atMost(Duration.ofMinutes(30)).pollInterval(Duration.ofSeconds(Math.max(1, n / 2000))).until(() -> ready(inst, apps) >= n);
            Duration toReady = Duration.ofNanos(System.nanoTime() - start);
            double converging = keyCalls(inst, mark, e -> true) / (double) n;
            long rss = Node.memoryWorkingSet(pod);
            long heap = heapUsed(inst, pod);
            System.out.printf("bench N=%d: all Ready in %.1f s, %.2f Azure calls per key, memory %d MiB, heap %d MiB%n", n,
                    toReady.toMillis() / 1000.0, converging, rss >> 20, heap >> 20);

            String hsmUri = inst.admin.resources(HsmKey.class).inNamespace(apps).withName(keyName(0)).require().getStatus()
                    .versionlessKeyId.replaceAll("/keys/.*", "");
            KeyClient portal = inst.portal(hsmUri, Installation.SAMPLE_HSM_ADMIN);
            List<Steady> steady = new ArrayList<>();
            for (Strategy s : n > PEERS_UP_TO ? STRATEGIES.subList(0, 1) : STRATEGIES) {
                steady.add(steady(inst, s, n, portal, values));
            }
            return new Result(n, memoryLimit(n), toReady, converging, rss, heap, steady);
        }
    }

    /** Restarts the operator with the strategy's settings, lets the start-up reads pass, then measures a window. */
    private Steady steady(Installation inst, Strategy s, int n, KeyClient portal, Map<String, String> values) throws Exception {
        long started = inst.emulator.controls().lastSequence();
        long podStart = System.nanoTime();
        // helm upgrade with the strategy's settings and a pod annotation of its own: the Deployment rolls to a new pod that
        // runs them, also when the settings are those the operator runs already (the first strategy's are the install's).
        Map<String, String> restart = new LinkedHashMap<>(values);
        restart.put("podAnnotations.hsm-bench-restart", "r" + System.nanoTime());
        inst.helmUpgrade(restart, s.settings());
        TestCluster.kubectlOk("rollout", "status", "-n", Installation.SYSTEM, "deployment/" + Installation.RELEASE, "--timeout=180s");
        // A new leader reads every key once at start (its first pass): wait until it has, then until the reads of single
        // keys fall to the strategy's own steady rate (with a margin), so that the window measures steady state only.
        await().atMost(Duration.ofMinutes(20)).pollInterval(Duration.ofSeconds(1))
                .until(() -> keyCalls(inst, started, e -> e.path().matches("/keys/bench-\\d+/versions")) >= n);
        Duration slice = Duration.ofSeconds(3);
        double steadyReads = 2.0 * n * slice.toMillis() / s.fullRead().dividedBy(SCALE).toMillis();
        while (true) {
            long before = inst.emulator.controls().lastSequence();
            Thread.sleep(slice.toMillis());
            if (keyCalls(inst, before, e -> e.path().matches("/keys/bench-\\d+(/versions)?")) <= 1.5 * steadyReads + 5) {
                break;
            }
        }
        Duration firstPass = Duration.ofNanos(System.nanoTime() - podStart);
        long mark = inst.emulator.controls().lastSequence();
        double firstPassCalls = keyCalls(inst, started, e -> true) / (double) n;
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
        System.out.printf("bench N=%d %s: first pass %.0f s (%.2f calls per key), %.2f calls per key-hour, drift seen after %s%n", n,
                s.name(), firstPass.toMillis() / 1000.0, firstPassCalls, perKeyHour, human(latency));
        return new Steady(s, firstPass, firstPassCalls, perKeyHour, writes, latency);
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

    private static long ready(Installation inst, String apps) {
        return inst.admin.resources(HsmKey.class).inNamespace(apps).list().getItems().stream().filter(k -> k.getStatus() != null
                && k.getStatus().conditions != null && k.getStatus().conditions.stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))).count();
    }

    private static long heapUsed(Installation inst, Pod pod) {
        long total = 0;
        Matcher m = Pattern.compile("(?m)^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*} ([0-9.eE+]+)$").matcher(inst.get(pod, "/q/metrics"));
        while (m.find()) {
            total += (long) Double.parseDouble(m.group(1));
        }
        return total;
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

    static String table(List<Result> results) {
        StringBuilder t = new StringBuilder();
        t.append("| N | apply → all Ready | with Azure's 1 create/s | Azure calls per key (converging) | operator memory (working set) | heap | memory limit |\n");
        t.append("|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            t.append(String.format(Locale.ROOT, "| %,d | %.1f s | ≥ %,.0f s | %.2f | %d MiB | %d MiB | %s |%n", r.n(), r.toReady().toMillis() / 1000.0,
                    r.n() * 1.2, r.callsPerKeyConverging(), r.rss() >> 20, r.heap() >> 20, r.memoryLimit()));
        }
        t.append("\n| N | strategy | restart: first pass | Azure calls per key per hour (steady) | writes in that hour | drift seen after | cost vs ASO | latency vs ASO |\n");
        t.append("|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            Steady aso = r.steady().size() > 1 ? r.steady().get(1) : null;
            for (Steady s : r.steady()) {
                t.append(String.format(Locale.ROOT, "| %,d | %s | %.0f s, %.2f calls per key | %.2f | %d | %s | %s | %s |%n", r.n(),
                        s.strategy().name(), s.firstPass().toMillis() / 1000.0, s.firstPassCallsPerKey(), s.callsPerKeyHour(), s.writes(), human(s.driftLatency()),
                        aso == null ? "—" : String.format(Locale.ROOT, "%.2f×", s.callsPerKeyHour() / aso.callsPerKeyHour()),
                        aso == null ? "—" : String.format(Locale.ROOT, "%.2f×", s.driftLatency().toMillis() / (double) aso.driftLatency().toMillis())));
            }
        }
        t.append(String.format(Locale.ROOT, "%nTime ran %d× faster than production (each %d s window stands for an hour; every interval "
                + "divided by %d; the first pass, from a restarted operator's start to the end of its reads of every key, is in real time); the emulator's rate limits were off and the operator's key-creation pacing 0. The peers' "
                + "strategies are measured up to N=%,d: beyond it, compressed time asks more reads a second than this machine "
                + "serves. Azure holds at most %,d keys in one HSM: N=10,000 is two HSMs.%n", SCALE, WINDOW.toSeconds(), SCALE, PEERS_UP_TO,
                KEYS_PER_HSM));
        return t.toString();
    }
}
