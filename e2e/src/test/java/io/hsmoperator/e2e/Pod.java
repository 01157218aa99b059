package io.hsmoperator.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One pod of the operator's Deployment, run the way a kubelet and the workload-identity webhook would run it, but as a
 * process on this machine: the container's command and environment exactly as the chart rendered them (field and
 * ConfigMap references resolved), its ConfigMap and emptyDir volumes as directories, the memory limit as the heap
 * bound, the packaged application in place of the image's copy, and the ServiceAccount's identity as two tokens the
 * API server issues: one for the API server itself (in the kubeconfig, as a mounted service-account token would be),
 * and one with audience {@code api://AzureADTokenExchange} where {@code AZURE_FEDERATED_TOKEN_FILE} points, as the
 * webhook projects it.
 */
final class Pod implements AutoCloseable {
    static final String IMAGE_JAR = "/deployments/quarkus-run.jar";
    static final String AZURE_AUDIENCE = "api://AzureADTokenExchange";
    private static final Path JAR = Path.of("../operator/target", "quarkus-app", "quarkus-run.jar");

    final String name;
    final int httpPort;
    final Path log;
    private final Process process;

    private Pod(String name, int httpPort, Path log, Process process) {
        this.name = name;
        this.httpPort = httpPort;
        this.log = log;
        this.process = process;
    }

    /**
     * Starts a pod of {@code deployment} (read back from the API server) named {@code name}. {@code authorityHost} is
     * what the workload-identity webhook injects as AZURE_AUTHORITY_HOST (its cluster-wide setting).
     */
    static Pod start(KubernetesClient admin, JsonNode deployment, String name, String tenantId, String authorityHost, Path dir)
            throws IOException {
        if (!Files.exists(JAR)) {
            throw new IllegalStateException("the packaged operator (mvn package) is needed: " + JAR.toAbsolutePath());
        }
        String ns = deployment.at("/metadata/namespace").asText();
        JsonNode template = deployment.at("/spec/template");
        JsonNode container = template.at("/spec/containers/0");
        Path root = Files.createDirectories(dir.resolve(name));

        Map<String, Path> mounts = new LinkedHashMap<>();
        for (JsonNode m : container.path("volumeMounts")) {
            JsonNode volume = volume(template, m.path("name").asText());
            Path local = Files.createDirectories(root.resolve("volumes").resolve(m.path("name").asText()));
            if (volume.has("configMap")) {
                ConfigMap cm = admin.configMaps().inNamespace(ns).withName(volume.at("/configMap/name").asText()).require();
                for (Map.Entry<String, String> e : cm.getData().entrySet()) {
                    Files.writeString(local.resolve(e.getKey()), e.getValue());
                }
            } else if (!volume.has("emptyDir")) {
                throw new IllegalStateException("volume kind not emulated: " + volume);
            }
            mounts.put(m.path("mountPath").asText(), local);
        }

        String serviceAccount = template.at("/spec/serviceAccountName").asText();
        Map<String, String> env = new LinkedHashMap<>();
        for (JsonNode e : container.path("env")) {
            env.put(e.path("name").asText(), e.has("value") ? mounted(e.path("value").asText(), mounts) : valueFrom(admin, ns, name, e.path("valueFrom")));
        }
        env.put("KUBECONFIG", kubeconfig(admin, ns, serviceAccount, root).toString());
        if ("true".equals(template.at("/metadata/labels").path("azure.workload.identity/use").asText())) {
            ServiceAccount sa = admin.serviceAccounts().inNamespace(ns).withName(serviceAccount).require();
            Map<String, String> annotations = sa.getMetadata().getAnnotations() == null ? Map.of() : sa.getMetadata().getAnnotations();
            Path token = root.resolve("azure-identity-token");
            Files.writeString(token, token(admin, ns, serviceAccount, AZURE_AUDIENCE));
            env.put("AZURE_CLIENT_ID", annotations.getOrDefault("azure.workload.identity/client-id", ""));
            env.put("AZURE_TENANT_ID", annotations.getOrDefault("azure.workload.identity/tenant-id", tenantId));
            env.put("AZURE_FEDERATED_TOKEN_FILE", token.toString());
            env.put("AZURE_AUTHORITY_HOST", authorityHost);
        }
        env.put("HOSTNAME", name);
        int port = freePort();
        // Each pod has its own network namespace; here they share the machine's ports.
        env.put("QUARKUS_HTTP_PORT", String.valueOf(port));

        List<String> command = new ArrayList<>();
        for (JsonNode arg : container.path("command")) {
            String a = arg.asText();
            if (a.equals("java")) {
                command.add(ProcessHandle.current().info().command().orElse("java"));
                // Inside a container the JVM sees the CPU limit as its processor count (and picks its collector and
                // thread pools by it); here it would see the machine's.
                command.add("-XX:ActiveProcessorCount=" + processors(container.at("/resources/limits/cpu").asText()));
                // Inside a container the JVM takes the memory limit for the machine's memory: the heap's maximum
                // (MaxRAMPercentage) and its initial size are fractions of it. Here they would be of the machine's.
                command.add("-XX:MaxRAM=" + bytes(container.at("/resources/limits/memory").asText()));
                if (Boolean.getBoolean("bench.nmt")) {
                    // e2e/bench with -Dbench.nmt=true: where the resident memory goes (costs a few MiB itself).
                    command.add("-XX:NativeMemoryTracking=summary");
                }
            } else if (a.equals(IMAGE_JAR)) {
                command.add(JAR.toAbsolutePath().toString());
            } else {
                command.add(mounted(a, mounts));
            }
        }
        Path log = root.resolve("operator.log");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().clear();
        pb.environment().put("PATH", System.getenv("PATH"));
        pb.environment().putAll(env);
        return new Pod(name, port, log, pb.start());
    }

    /** 200 from /q/health/ready: what the Deployment's readiness probe asks. */
    boolean ready() {
        return status("/q/health/ready") == 200;
    }

    int status(String path) {
        try {
            HttpResponse<Void> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
            return r.statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    boolean alive() {
        return process.isAlive();
    }

    /** The JVM's native memory summary (jcmd VM.native_memory), when the pod was started with tracking on. */
    String nativeMemory() {
        Path jcmd = Path.of(ProcessHandle.current().info().command().orElseThrow()).resolveSibling("jcmd");
        try {
            Process p = new ProcessBuilder(jcmd.toString(), String.valueOf(process.pid()), "VM.native_memory", "summary")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            p.waitFor();
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Resident memory of the process in bytes (VmRSS), as the container's memory usage would show it. */
    long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(process.pid()), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalStateException("no VmRSS for " + name);
    }

    /** The body of GET {@code path} on the pod's HTTP port (metrics, health). */
    String get(String path) {
        try {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** What the kubelet does when the pod is deleted: SIGTERM, then waits for the exit. Returns the exit code. */
    int terminate(Duration grace) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError(name + " did not exit within " + grace + " of SIGTERM");
        }
        return process.exitValue();
    }

    /** The exit code once the process exits within {@code wait}, else null (it still runs). */
    Integer exitCode(Duration wait) throws InterruptedException {
        return process.waitFor(wait.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : null;
    }

    /** kill -9. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }

    static String token(KubernetesClient admin, String ns, String serviceAccount, String audience) {
        return admin.serviceAccounts().inNamespace(ns).withName(serviceAccount).tokenRequest(new TokenRequestBuilder().withNewSpec()
                .withAudiences(audience == null ? List.of() : List.of(audience)).withExpirationSeconds(3600L).endSpec().build())
                .getStatus().getToken();
    }

    /** A kubeconfig as a pod's in-cluster configuration amounts to: the cluster's CA and a token of its ServiceAccount. */
    private static Path kubeconfig(KubernetesClient admin, String ns, String serviceAccount, Path root) throws IOException {
        Config c = admin.getConfiguration();
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: cluster
                  cluster:
                    server: %s
                    certificate-authority: %s
                users:
                - name: %s
                  user:
                    token: %s
                contexts:
                - name: pod
                  context:
                    cluster: cluster
                    user: %s
                    namespace: %s
                current-context: pod
                """.formatted(c.getMasterUrl(), c.getCaCertFile(), serviceAccount, token(admin, ns, serviceAccount, null), serviceAccount, ns);
        Path file = root.resolve("kubeconfig");
        Files.writeString(file, yaml);
        return file;
    }

    private static String valueFrom(KubernetesClient admin, String ns, String pod, JsonNode from) {
        String field = from.at("/fieldRef/fieldPath").asText();
        switch (field) {
            case "metadata.namespace":
                return ns;
            case "metadata.name":
                return pod;
            case "":
                break;
            default:
                throw new IllegalStateException("fieldRef not emulated: " + field);
        }
        if (from.has("configMapKeyRef")) {
            return admin.configMaps().inNamespace(ns).withName(from.at("/configMapKeyRef/name").asText()).require().getData()
                    .get(from.at("/configMapKeyRef/key").asText());
        }
        throw new IllegalStateException("valueFrom not emulated: " + from);
    }

    private static JsonNode volume(JsonNode template, String name) {
        for (Iterator<JsonNode> it = template.at("/spec/volumes").elements(); it.hasNext(); ) {
            JsonNode v = it.next();
            if (name.equals(v.path("name").asText())) {
                return v;
            }
        }
        throw new IllegalStateException("volumeMount without volume: " + name);
    }

    private static String mounted(String value, Map<String, Path> mounts) {
        for (Map.Entry<String, Path> m : mounts.entrySet()) {
            int at = value.indexOf(m.getKey());
            if (at >= 0 && (value.length() == at + m.getKey().length() || value.charAt(at + m.getKey().length()) == '/')) {
                return value.substring(0, at) + m.getValue() + value.substring(at + m.getKey().length());
            }
        }
        return value;
    }

    private static int processors(String quantity) {
        double cpus = quantity.endsWith("m") ? Double.parseDouble(quantity.substring(0, quantity.length() - 1)) / 1000
                : Double.parseDouble(quantity);
        return (int) Math.max(1, Math.ceil(cpus));
    }

    private static long bytes(String quantity) {
        if (quantity.endsWith("Mi")) {
            return Long.parseLong(quantity.substring(0, quantity.length() - 2)) << 20;
        }
        if (quantity.endsWith("Gi")) {
            return Long.parseLong(quantity.substring(0, quantity.length() - 2)) << 30;
        }
        throw new IllegalStateException("memory quantity not understood: " + quantity);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
