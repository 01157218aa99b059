package io.hsmoperator.e2e;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.kube.TestCluster;
import io.hsmoperator.local.LocalApiServer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An operator that can no longer see a kind it serves exits, saying which and why, instead of running on deaf: the
 * installed operator loses one of its CRDs while it runs, and the kubelet restarts it, which the pod's restart count and
 * last state show.
 */
class DeafOperatorE2E {
    private static final Duration DEAF_AFTER = Duration.ofSeconds(5);

    @Test
    void anOperatorThatCanNoLongerWatchAKindExitsNonZeroSayingWhich() throws Exception {
        KubernetesClient admin = TestCluster.admin();
        String crdName = io.fabric8.kubernetes.api.model.HasMetadata.getFullResourceName(HsmDiagnostics.class);
        CustomResourceDefinition crd = TestCluster.committedCrds().stream().filter(c -> c.getMetadata().getName().equals(crdName))
                .findFirst().orElseThrow();
        try (Installation installation = new Installation(EmulatorConfig.inMemory(), Path.of("target", "e2e-deaf"), "deaf-apps")) {
            // helm install puts the CRDs in place: this test deletes one, so it must be the only user of HsmDiagnostics.
            Map<String, String> settings = Map.of("HSM_WATCH_DEAF_AFTER", "PT" + DEAF_AFTER.toSeconds() + "S");
            // A cluster identity of its own: the chart's read of kube-system (the default identity) is not what this is about.
            installation.helmInstall(Map.of("clusterId", "deaf-operator-e2e"), settings);
            try {
                assertEquals(List.of(), admin.resources(HsmDiagnostics.class).inAnyNamespace().list().getItems(),
                        "this test deletes the HsmDiagnostics CRD and needs a cluster without HsmDiagnostics");
                String pod = installation.readyPods().get(0).getMetadata().getName();

                admin.resource(crd).delete();
                await().atMost(Duration.ofMinutes(1)).until(() -> admin.apiextensions().v1().customResourceDefinitions()
                        .withName(crdName).get() == null);
                ContainerStatus restarted = await().atMost(DEAF_AFTER.plusSeconds(90)).pollInterval(Duration.ofMillis(500))
                        .until(() -> Installation.operatorContainer(installation.pod(pod)), c -> c.getRestartCount() > 0
                                && c.getLastState().getTerminated() != null);
                String log = installation.logs.of(pod);
                assertNotEquals(0, restarted.getLastState().getTerminated().getExitCode(),
                        "it exits with a failure, so that the kubelet restarts it and the restarts show:\n" + log);
                assertTrue(log.contains("The watch of HsmDiagnostics stopped for good"), "it says which kind:\n" + log);
                assertTrue(log.contains("hsm.watch.deaf-after"), "and why:\n" + log);
            } finally {
                LocalApiServer.install(admin, List.of(crd));
                installation.helmUninstall();
                admin.leases().inNamespace(Installation.SYSTEM).withName("hsm-operator-leader").delete();
            }
        }
    }
}
