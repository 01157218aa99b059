package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.kube.TestCluster;
import io.hsmoperator.local.LocalApiServer;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two clusters that sync the same Git repository (prod and its DR twin) against one Azure: this JVM's operator on the
 * test cluster, and the packaged operator on a second API server, configured with no cluster identity at all (it takes
 * its kube-system namespace's UID), signed in to Azure as a principal of its own so that its every call is told apart.
 * The same manifests in the same namespace never make one cluster write to the other's Azure objects, and tearing the
 * namespace down in the second removes nothing of the first.
 */
@QuarkusTest
class TwoClustersIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** The same manifests, as both clusters apply them from Git. */
    private List<HasMetadata> manifests(String azureName, String principal) {
        ManagedHsm hsm = managedHsm("hsm", azureName);
        HsmKey key = hsmKey("signing", "hsm", HsmKeySpec.KeyType.EC_HSM);
        HsmRoleAssignment grant = roleAssignment(ns, "signer", new HsmReference("hsm", null), "Managed HSM Crypto User", principal, "signing",
                null);
        PrivateEndpoint pe = privateEndpoint(ns, "pe", new HsmReference("hsm", null), SUBNET);
        return List.of(hsm, key, grant, pe);
    }

    @Test
    void twoClustersSyncingTheSameManifestsNeverTouchEachOthersAzureObjects() throws Exception {
        Assumptions.assumeTrue(TestCluster.server().hasControllerManager(),
                "namespace deletion needs kube-controller-manager, which only e2e/kube-binaries provides");
        String azureName = uniqueHsmName("twins");
        String principal = UUID.randomUUID().toString();
        apply(officersSecret("hsm-officers", 3, "2"));
        for (HasMetadata r : manifests(azureName, principal)) {
            apply(r);
        }
        awaitCondition(PrivateEndpoint.class, "pe", "Ready", "True", null, WAIT);
        awaitCondition(HsmRoleAssignment.class, "signer", "Ready", "True", null, WAIT);

        Emulator.Principal second = emulator.registerPrincipal("the DR cluster's operator");
        emulator.assignArmRole(second.objectId(), "Owner", "/");
        // What it asks of Azure (signing in to Entra is not asking anything of Azure's resources).
        Supplier<List<Controls.JournalEntry>> itsCalls = () -> emulator.controls().journal(e -> second.objectId().equals(e.principal())
                && !e.endpoint().equals("entra"));
        try (LocalApiServer dr = LocalApiServer.start(true).withControllerManager(); KubernetesClient drClient = dr.adminClient()) {
            LocalApiServer.install(drClient, TestCluster.committedCrds());
            drClient.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
            drClient.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("azure-credentials").endMetadata()
                    .addToStringData("clientSecret", second.clientSecret()).build()).create();
            drClient.resource(officersSecret("hsm-officers", 3, "2")).inNamespace(ns).create();
            Map<String, String> props = PackagedOperator.properties(dr.quarkusClientProperties(), emulator, second, ns + "/azure-credentials");
            props.put("quarkus.http.port", "0");
            // Its lease lives outside the namespace that is torn down.
            props.put("hsm.leader-election.namespace", "default");
            Process operator = PackagedOperator.launch(props, Path.of("target", "two-clusters", ns + ".log"));
            try {
                for (HasMetadata r : manifests(azureName, principal)) {
                    drClient.resource(r).inNamespace(ns).create();
                }
                // The DR cluster's operator sees the HSM and leaves it alone: it is the other cluster's.
                await().atMost(WAIT).until(() -> {
                    ManagedHsm h = drClient.resources(ManagedHsm.class).inNamespace(ns).withName("hsm").get();
                    return h != null && h.getStatus() != null && condition(h, "Ready") != null
                            && "OwnershipConflict".equals(condition(h, "Ready").getReason());
                });
                ManagedHsm refused = drClient.resources(ManagedHsm.class).inNamespace(ns).withName("hsm").get();
                assertTrue(condition(refused, "Ready").getMessage().contains("managed from another cluster"), condition(refused, "Ready").getMessage());
                Thread.sleep(3000);
                assertEquals(List.of(), itsCalls.get().stream().filter(Controls.JournalEntry::isWrite).toList(),
                        "the DR cluster wrote nothing to the other cluster's objects");

                // Tearing the namespace down in the DR cluster removes nothing of the first.
                drClient.namespaces().withName(ns).delete();
                await().atMost(Duration.ofMinutes(2)).until(() -> drClient.namespaces().withName(ns).get() == null);
            } finally {
                operator.destroyForcibly();
            }
        }
        assertEquals(List.of(), itsCalls.get().stream().filter(Controls.JournalEntry::isWrite).toList(),
                "the DR cluster's teardown wrote nothing to Azure");
        assertTrue(emulator.<Boolean>inspect(st -> st.hsms.get(azureName).keys.containsKey("signing")));
        assertTrue(emulator.<Boolean>inspect(st -> st.hsms.get(azureName).roleAssignments.values().stream()
                .anyMatch(a -> principal.equalsIgnoreCase(a.principalId))), "the first cluster's grant stands");
        assertTrue(emulator.<Boolean>inspect(st -> st.privateEndpoints.keySet().stream()
                .anyMatch(k -> k.endsWith("/privateendpoints/pe-pe-" + ns.toLowerCase(Locale.ROOT)))), "its private endpoint stands");
        awaitCondition(PrivateEndpoint.class, "pe", "Ready", "True", null, WAIT);
        awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
    }
}
