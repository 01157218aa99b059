package io.hsmoperator.e2e;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.kube.TestCluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;

/**
 * The real azure-workload-identity mutating webhook (v1.5.1, built by e2e/node/wi-webhook/build from its own upstream
 * manifest) running in the cluster with its own certificates, configured like an AKS cluster's: the tenant and the Entra
 * authority it injects into labelled pods are the emulator's. It is installed once per test JVM, so every emulator of
 * the suite listens where it says: on the pod network's gateway, at a fixed port, with a fixed tenant.
 */
final class WorkloadIdentityWebhook {
    static final String NAMESPACE = "azure-workload-identity-system";
    private static final int AZURE_PORT = 8443;
    private static final String TENANT = "3f1c7a52-8d4e-4b6a-9e2f-5a7c1d3b9e80";
    private static boolean installed;

    private WorkloadIdentityWebhook() {
    }

    /** The emulator where the webhook's pods find Azure: on the pod network, at the tenant and port it was installed with. */
    static EmulatorConfig azure(EmulatorConfig config) {
        return config.withNetwork(Node.gateway(), Node.gateway(), List.of()).withPort(AZURE_PORT).withTenantId(TENANT);
    }

    /** Installs the webhook (once) and returns when it mutates pods. */
    static synchronized void install(KubernetesClient admin, Emulator emulator) {
        if (installed) {
            return;
        }
        String manifest;
        try {
            manifest = Files.readString(Path.of(System.getProperty("hsm.e2e.node.run"), "wi-webhook.yaml"));
        } catch (IOException e) {
            throw new UncheckedIOException("e2e/node/e2e-up puts the webhook's manifest in the node's run directory", e);
        }
        manifest = manifest.replace("__IMAGE__", Node.webhookImage()).replace("__REPLICAS__", "1")
                .replace("__AZURE_TENANT_ID__", emulator.tenantId()).replace("__AZURE_AUTHORITY_HOST__", emulator.authorityHost())
                .replace("__KUBERNETES_SERVICE_HOST__", Node.gateway()).replace("__KUBERNETES_SERVICE_PORT__", Node.apiServerPort());
        long start = System.nanoTime();
        TestCluster.Result applied = TestCluster.kubectl(manifest, "apply", "-f", "-");
        if (applied.exitCode() != 0) {
            throw new IllegalStateException("kubectl apply of the webhook's manifest failed: " + applied.out());
        }
        // Ready once it has made its certificate and the kubelet has put it into the pod; then a labelled pod is mutated.
        admin.serviceAccounts().inNamespace("default").resource(new ServiceAccountBuilder().withNewMetadata().withName("wi-probe")
                .addToAnnotations("azure.workload.identity/client-id", "00000000-0000-0000-0000-000000000001").endMetadata().build())
                .serverSideApply();
        Pod probe = new PodBuilder().withNewMetadata().withName("wi-probe").withNamespace("default")
                .addToLabels("azure.workload.identity/use", "true").endMetadata().withNewSpec().withServiceAccountName("wi-probe")
                .addNewContainer().withName("probe").withImage(Node.webhookImage()).endContainer().endSpec().build();
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(1)).ignoreExceptions().until(() -> admin.pods()
                .inNamespace("default").resource(probe).dryRun().create().getSpec().getContainers().get(0).getEnv().stream()
                .map(EnvVar::getName).anyMatch("AZURE_FEDERATED_TOKEN_FILE"::equals));
        System.out.printf("e2e: the workload-identity webhook mutates pods %.1f s after it was applied%n", (System.nanoTime() - start) / 1e9);
        installed = true;
    }
}
