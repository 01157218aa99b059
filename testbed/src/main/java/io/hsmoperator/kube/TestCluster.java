package io.hsmoperator.kube;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.local.LocalApiServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The one real Kubernetes control plane a test JVM shares: etcd, kube-apiserver and kube-controller-manager started once
 * (from the binaries e2e/kube-binaries builds), with the committed CRDs of crds/ installed as they are. Tests isolate
 * themselves by namespace.
 */
public final class TestCluster {
    private static LocalApiServer server;
    private static KubernetesClient admin;

    private TestCluster() {
    }

    /**
     * The one server of this JVM, by its kubeconfig. Quarkus loads this class anew for each test application (and the
     * test class and its test resource may see different loads), so the JVM's state, not a static field, says which
     * server is the JVM's: otherwise each load starts a server of its own, and a test reaches another server than
     * the operator it tests.
     */
    private static final String SHARED = "testbed.api-server.kubeconfig";

    public static synchronized LocalApiServer server() {
        if (server == null) {
            // A lock every load finds: a string literal is one object in the whole JVM, whichever class loader loaded
            // the class (unlike the Properties object, whose lock System.setProperty takes).
            synchronized (SHARED) {
                String shared = System.getProperty(SHARED);
                if (shared != null) {
                    server = LocalApiServer.attach(Path.of(shared), Boolean.getBoolean(SHARED + ".controller-manager"));
                    admin = server.adminClient();
                    return server;
                }
                start();
                System.setProperty(SHARED + ".controller-manager", String.valueOf(server.hasControllerManager()));
                System.setProperty(SHARED, server.kubeconfig().toString());
            }
        }
        return server;
    }

    private static void start() {
        long start = System.nanoTime();
        try {
            server = LocalApiServer.start(true).withControllerManager();
        } catch (RuntimeException e) {
            throw new IllegalStateException("The operator tests need a real Kubernetes API server, and none could be started. "
                    + "Without internet access, build its binaries once with e2e/kube-binaries (.ci/run does).", e);
        }
        admin = server.adminClient();
        LocalApiServer.install(admin, committedCrds());
        settle();
        System.out.printf("Kubernetes %s API server up in %.1fs at %s (kubeconfig %s; kube-controller-manager: %s)%n",
                server.version(), (System.nanoTime() - start) / 1e9, server.config().getMasterUrl(), server.kubeconfig(),
                server.hasControllerManager() ? "running" : "absent, build it with e2e/kube-binaries");
    }

    /**
     * Waits until every kind answers lists steadily: right after its CRDs are established the server may still close the
     * first connections of a client that starts many informers at once.
     */
    private static void settle() {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        int steady = 0;
        while (steady < 5 && System.nanoTime() < deadline) {
            try {
                for (CustomResourceDefinition crd : committedCrds()) {
                    admin.genericKubernetesResources(crd.getSpec().getGroup() + "/" + crd.getSpec().getVersions().get(0).getName(),
                            crd.getSpec().getNames().getKind()).inAnyNamespace().list();
                }
                admin.configMaps().inAnyNamespace().list();
                steady++;
            } catch (KubernetesClientException e) {
                steady = 0;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** A client as the cluster's administrator. */
    public static synchronized KubernetesClient admin() {
        server();
        return admin;
    }

    /** The CRDs exactly as committed in crds/. */
    public static List<CustomResourceDefinition> committedCrds() {
        List<CustomResourceDefinition> crds = new ArrayList<>();
        try (Stream<Path> files = Files.list(Path.of("../crds"))) {
            for (Path f : files.sorted().toList()) {
                crds.add(Serialization.unmarshal(Files.readString(f), CustomResourceDefinition.class));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return crds;
    }

    /** What kubectl printed and how it exited. */
    public record Result(int exitCode, String out) {
    }

    /** Runs the kubectl built with the API server, against it, and returns its exit code and combined output. */
    public static Result kubectl(String stdin, String... args) {
        List<String> command = new ArrayList<>(List.of(server().kubectl().toString(), "--kubeconfig", server().kubeconfig().toString()));
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("kubectl " + String.join(" ", args) + " did not finish in 120 s");
            }
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS));
        } catch (Exception e) {
            throw new IllegalStateException("kubectl " + String.join(" ", args), e);
        }
    }

    /** kubectl that must succeed; returns its output. */
    public static String kubectlOk(String... args) {
        Result r = kubectl(null, args);
        if (r.exitCode() != 0) {
            throw new AssertionError("kubectl " + String.join(" ", args) + " exited " + r.exitCode() + ":\n" + r.out());
        }
        return r.out();
    }

    /**
     * After an operator instance stopped: lets go of everything the tests left behind (finalizers the stopped operator
     * would have removed) and deletes the test namespaces, so the next operator instance starts on a clean cluster.
     */
    public static synchronized void releaseTestNamespaces() {
        if (admin == null) {
            return;
        }
        for (CustomResourceDefinition crd : committedCrds()) {
            var context = new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                    .withGroup(crd.getSpec().getGroup()).withVersion(crd.getSpec().getVersions().get(0).getName())
                    .withPlural(crd.getSpec().getNames().getPlural()).withKind(crd.getSpec().getNames().getKind()).withNamespaced(true).build();
            for (GenericKubernetesResource r : admin.genericKubernetesResources(context).inAnyNamespace().list().getItems()) {
                if (!isTestNamespace(r)) {
                    continue;
                }
                var one = admin.genericKubernetesResources(context).inNamespace(r.getMetadata().getNamespace()).withName(r.getMetadata().getName());
                try {
                    one.patch(PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"finalizers\":null}}");
                    one.delete();
                } catch (KubernetesClientException e) {
                    // gone already
                }
            }
        }
        admin.namespaces().list().getItems().stream().filter(TestCluster::isTestNamespace)
                .forEach(n -> admin.namespaces().withName(n.getMetadata().getName()).delete());
    }

    private static boolean isTestNamespace(HasMetadata r) {
        String ns = r.getMetadata().getNamespace() != null ? r.getMetadata().getNamespace() : r.getMetadata().getName();
        return ns.matches("(t\\d+|intruder)-[0-9a-f]{6}");
    }
}
