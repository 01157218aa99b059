package io.hsmoperator.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * The real single-node cluster that e2e/node/node started for this run (the e2e module's pre-integration-test phase):
 * where its API server is, the address on its pod network where pods reach this machine, its image registry, and what
 * only the container runtime can do (kill -9 a container).
 */
final class Node {
    private static final Path SCRIPT = Path.of("node", "node");
    private static Properties nodeEnv;

    private Node() {
    }

    /** The address of this machine on the pod network (the bridge's gateway): pods reach the API server and Azure here. */
    static String gateway() {
        return env("HSM_NODE_GATEWAY");
    }

    /** The API server's port on {@link #gateway()}: pods have no kube-proxy, so they are pointed at it directly. */
    static String apiServerPort() {
        return env("HSM_NODE_API_PORT");
    }

    /** The operator's image in the node's registry, as the chart's image.repository value. */
    static String imageRepository() {
        return env("HSM_NODE_REGISTRY") + "/hsm-operator";
    }

    /** The workload-identity webhook's image in the node's registry (e2e/node/e2e-up pushed it). */
    static String webhookImage() {
        return env("HSM_NODE_REGISTRY") + "/azure-workload-identity/webhook:v1.5.1";
    }

    /** What `node up` wrote to node.env in its run directory. */
    private static synchronized String env(String name) {
        if (nodeEnv == null) {
            Path file = Path.of(required("hsm.e2e.node.run"), "node.env");
            Properties p = new Properties();
            try (var in = java.nio.file.Files.newBufferedReader(file)) {
                p.load(in);
            } catch (IOException e) {
                throw new IllegalStateException("the node is not up (" + file + "): the end-to-end suite runs through e2e/run", e);
            }
            nodeEnv = p;
        }
        return nodeEnv.getProperty(name);
    }

    /** The operator's image tag (the project's version, the chart's appVersion). */
    static String imageTag() {
        return required("hsm.e2e.image.tag");
    }

    static Path kubeconfig() {
        return Path.of(required("testbed.api-server.kubeconfig"));
    }

    /** SIGKILL to a container through containerd, as the OOM killer or a crash would end it; the kubelet restarts it. */
    static void kill(String containerId) {
        run(List.of("kill", containerId));
    }

    /**
     * A container's memory as the kubelet counts it against the limit (its working set: usage less inactive page cache),
     * read from its cgroup on this machine (cgroup v1 or v2, the kubelet's cgroupfs layout).
     */
    static long memoryWorkingSet(io.fabric8.kubernetes.api.model.Pod pod) {
        String rel = cgroup(pod);
        try {
            Path v1 = Path.of("/sys/fs/cgroup/memory", rel);
            if (java.nio.file.Files.isDirectory(v1)) {
                return Long.parseLong(java.nio.file.Files.readString(v1.resolve("memory.usage_in_bytes")).trim())
                        - stat(v1.resolve("memory.stat"), "total_inactive_file");
            }
            Path v2 = Path.of("/sys/fs/cgroup", rel);
            return Long.parseLong(java.nio.file.Files.readString(v2.resolve("memory.current")).trim()) - stat(v2.resolve("memory.stat"), "inactive_file");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The CPU time the pod's first container has used so far, in seconds, from its cgroup (v1 cpuacct or v2 cpu.stat). */
    static double cpuSeconds(io.fabric8.kubernetes.api.model.Pod pod) {
        String rel = cgroup(pod);
        try {
            Path v1 = Path.of("/sys/fs/cgroup/cpuacct", rel);
            if (java.nio.file.Files.isDirectory(v1)) {
                return Long.parseLong(java.nio.file.Files.readString(v1.resolve("cpuacct.usage")).trim()) / 1e9;
            }
            return stat(Path.of("/sys/fs/cgroup", rel, "cpu.stat"), "usage_usec") / 1e6;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The cgroup of the pod's first container, relative to a hierarchy's root (the kubelet's cgroupfs layout). */
    private static String cgroup(io.fabric8.kubernetes.api.model.Pod pod) {
        String qos = pod.getStatus().getQosClass().toLowerCase(java.util.Locale.ROOT);
        String id = pod.getStatus().getContainerStatuses().get(0).getContainerID().replaceFirst("^containerd://", "");
        return "kubepods/" + (qos.equals("guaranteed") ? "" : qos + "/") + "pod" + pod.getMetadata().getUid() + "/" + id;
    }

    private static long stat(Path file, String key) throws IOException {
        for (String line : java.nio.file.Files.readAllLines(file)) {
            if (line.startsWith(key + " ")) {
                return Long.parseLong(line.substring(key.length() + 1).trim());
            }
        }
        return 0;
    }

    private static void run(List<String> args) {
        List<String> command = new ArrayList<>(List.of(SCRIPT.toString()));
        command.addAll(args);
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
            pb.environment().put("HSM_NODE_RUN", required("hsm.e2e.node.run"));
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(command + " failed: " + out);
            }
        } catch (IOException e) {
            throw new IllegalStateException(command + " could not run", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String required(String property) {
        String v = System.getProperty(property);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("system property " + property + " is not set: the end-to-end suite runs on the node that "
                    + "e2e/run starts (./mvnw verify -Pe2e -pl e2e -am)");
        }
        return v;
    }
}
