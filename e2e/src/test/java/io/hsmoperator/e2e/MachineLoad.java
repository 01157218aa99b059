package io.hsmoperator.e2e;

import io.hsmoperator.kube.TestCluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Where this machine's CPU and its API server's requests went during a phase of the benchmark: CPU seconds by component
 * (read from /proc and the operator container's cgroup) and the API server's requests by verb and resource (its
 * {@code apiserver_request_total}). Both are counters: a phase's figures are the difference of two snapshots.
 */
final class MachineLoad {
    /** Host processes by their command name (/proc/PID/comm, at most 15 characters), as the real node runs them. */
    private static final Map<String, String> COMPONENTS = Map.of(
            "kube-apiserver", "API server", "etcd", "etcd", "kube-controller", "controller manager",
            "kubelet", "kubelet", "containerd", "containerd", "containerd-shim", "containerd");
    private static final Pattern REQUEST = Pattern.compile(
            "(?m)^apiserver_request_total\\{([^}]*)} ([0-9.eE+]+)$");
    private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");
    private static final long HZ = 100;

    record Snapshot(Map<String, Double> cpuSeconds, Map<String, Long> requests, long nanos) {
    }

    private MachineLoad() {
    }

    /** CPU seconds by component so far, the operator container's from its cgroup, and the API server's request counts. */
    static Snapshot snapshot(io.fabric8.kubernetes.api.model.Pod operator) {
        Map<String, Double> cpu = new TreeMap<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String comm = Files.readString(p.resolve("comm")).trim();
                    String component = Long.parseLong(p.getFileName().toString()) == self ? "bench and emulator" : COMPONENTS.get(comm);
                    if (component != null) {
                        cpu.merge(component, processSeconds(p), Double::sum);
                    }
                } catch (IOException | RuntimeException gone) {
                    // the process ended while being read
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        if (operator != null) {
            cpu.put("operator", Node.cpuSeconds(operator));
        }
        cpu.put("all", machineSeconds());
        return new Snapshot(cpu, requests(), System.nanoTime());
    }

    /**
     * A phase: its length, the CPU seconds each component used (and {@code all}: the whole machine), and the API server's
     * requests per key by "VERB resource", those under a twentieth per key left out.
     */
    record Load(double seconds, Map<String, Double> cpuSeconds, double all, Map<String, Double> requestsPerKey, double requestsPerKeyInAll) {
        /** CPU seconds of a component, 0 when it used none; "the rest": what no named component used. */
        double cpu(String component) {
            return cpuSeconds.getOrDefault(component, 0.0);
        }

        String describe() {
            String cpuLine = cpuSeconds.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                    .map(e -> String.format("%s %.0f s", e.getKey(), e.getValue())).collect(Collectors.joining(", "));
            String requestLine = requestsPerKey.entrySet().stream().map(e -> String.format("%s %.2f", e.getKey(), e.getValue()))
                    .collect(Collectors.joining(", "));
            return String.format("CPU in %.1f s (%d cores, %.0f CPU-seconds used): %s%nAPI server requests per key (%.2f in all): %s",
                    seconds, Runtime.getRuntime().availableProcessors(), all, cpuLine, requestsPerKeyInAll, requestLine);
        }
    }

    /** The phase between two snapshots, for {@code keys} keys. */
    static Load between(Snapshot from, Snapshot to, int keys) {
        Map<String, Double> cpu = new LinkedHashMap<>();
        to.cpuSeconds().forEach((k, v) -> cpu.put(k, Math.max(0, v - from.cpuSeconds().getOrDefault(k, 0.0))));
        double all = cpu.remove("all");
        double named = cpu.values().stream().mapToDouble(Double::doubleValue).sum();
        cpu.put("the rest", Math.max(0, all - named));
        Map<String, Double> perKey = new LinkedHashMap<>();
        long total = 0;
        List<Map.Entry<String, Long>> delta = new java.util.ArrayList<>();
        for (var e : to.requests().entrySet()) {
            long d = e.getValue() - from.requests().getOrDefault(e.getKey(), 0L);
            if (d > 0) {
                delta.add(Map.entry(e.getKey(), d));
                total += d;
            }
        }
        delta.sort(Map.Entry.<String, Long>comparingByValue().reversed());
        delta.stream().filter(e -> e.getValue() >= Math.max(1, keys / 20)).forEach(e -> perKey.put(e.getKey(), e.getValue() / (double) keys));
        return new Load((to.nanos() - from.nanos()) / 1e9, cpu, all, perKey, total / (double) keys);
    }

    /** utime + stime of a process and its reaped children, in seconds. */
    private static double processSeconds(Path proc) throws IOException {
        String stat = Files.readString(proc.resolve("stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // fields 14-17 of stat (utime, stime, cutime, cstime), counted from "state" as the third
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / (double) HZ;
    }

    /** CPU seconds the whole machine spent busy (everything but idle and iowait), from /proc/stat. */
    private static double machineSeconds() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long busy = 0;
            // user nice system idle iowait irq softirq steal (guest time is counted in user already)
            for (int i = 1; i <= 8 && i < f.length; i++) {
                if (i != 4 && i != 5) {
                    busy += Long.parseLong(f[i]);
                }
            }
            return busy / (double) HZ;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The API server's requests so far by "VERB resource[/subresource]", every response code together. */
    private static Map<String, Long> requests() {
        Map<String, Long> counts = new TreeMap<>();
        Matcher m = REQUEST.matcher(TestCluster.kubectlOk("get", "--raw", "/metrics"));
        while (m.find()) {
            Map<String, String> labels = new LinkedHashMap<>();
            Matcher l = LABEL.matcher(m.group(1));
            while (l.find()) {
                labels.put(l.group(1), l.group(2));
            }
            String sub = labels.getOrDefault("subresource", "");
            String key = labels.getOrDefault("verb", "?") + " " + labels.getOrDefault("resource", "?") + (sub.isEmpty() ? "" : "/" + sub);
            counts.merge(key, (long) Double.parseDouble(m.group(2)), Long::sum);
        }
        return counts;
    }
}
