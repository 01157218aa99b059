package io.hsmoperator.e2e;

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
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An operator that can no longer see a kind it serves exits, saying which and why, instead of running on deaf: the
 * installed operator (the chart's RBAC, its own process) loses one of its CRDs while it runs.
 */
class DeafOperatorE2E {
    private static final Duration DEAF_AFTER = Duration.ofSeconds(5);

    @Test
    void anOperatorThatCanNoLongerWatchAKindExitsNonZeroSayingWhich() throws Exception {
        KubernetesClient admin = TestCluster.admin();
        String crdName = io.fabric8.kubernetes.api.model.HasMetadata.getFullResourceName(HsmDiagnostics.class);
        CustomResourceDefinition crd = TestCluster.committedCrds().stream().filter(c -> c.getMetadata().getName().equals(crdName))
                .findFirst().orElseThrow();
        // The API server is shared with the other e2e tests: a CRD with instances would take them along.
        assertEquals(List.of(), admin.resources(HsmDiagnostics.class).inAnyNamespace().list().getItems(),
                "this test deletes the HsmDiagnostics CRD and needs a cluster without HsmDiagnostics");
        try (Installation installation = new Installation(EmulatorConfig.inMemory(), Path.of("target", "e2e-deaf"), "deaf-apps")) {
            Map<String, String> settings = Map.of("HSM_WATCH_DEAF_AFTER", "PT" + DEAF_AFTER.toSeconds() + "S");
            // A cluster identity of its own: the chart's read of kube-system (the default identity) is not what this is about.
            Map<String, String> values = Map.of("clusterId", "deaf-operator-e2e");
            installation.helmApply(values, settings);
            try {
                Pod pod = installation.startPod();
                await().atMost(Duration.ofMinutes(2)).until(pod::ready);

                admin.resource(crd).delete();
                await().atMost(Duration.ofMinutes(1)).until(() -> admin.apiextensions().v1().customResourceDefinitions()
                        .withName(crdName).get() == null);
                Integer exit = pod.exitCode(DEAF_AFTER.plusSeconds(60));
                assertNotNull(exit, "the operator still runs, deaf to HsmDiagnostics:\n" + pod.logText());
                assertNotEquals(0, exit, "it exits with a failure, so that Kubernetes restarts it and the restarts show");
                String log = pod.logText();
                assertTrue(log.contains("The watch of HsmDiagnostics stopped for good"), "it says which kind:\n" + log);
                assertTrue(log.contains("hsm.watch.deaf-after"), "and why:\n" + log);
            } finally {
                LocalApiServer.install(admin, List.of(crd));
                installation.helmUninstall(values, settings);
                admin.leases().inNamespace(Installation.SYSTEM).withName("hsm-operator-leader").delete();
            }
        }
    }
}
