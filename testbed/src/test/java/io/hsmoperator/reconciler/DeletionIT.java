package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.State;
import io.hsmoperator.kube.TestCluster;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deletions the way GitOps and namespace teardown do them: everything at once, moments after creation, while Azure's
 * reads still lag its writes. Only Azure's answer to a DELETE proves that something is gone; nothing is left in Azure
 * that a deleted resource made (unless its policy says Retain), and no deletion waits forever on another.
 */
@QuarkusTest
class DeletionIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private boolean granted(String azureName, String principal) {
        return emulator.<Boolean>inspect(s -> s.hsms.get(azureName).roleAssignments.values().stream()
                .anyMatch(a -> principal.equalsIgnoreCase(a.principalId)));
    }

    private boolean diagnosticSetting(String name) {
        return emulator.<Boolean>inspect(s -> s.diagnosticSettings.keySet().stream().anyMatch(k -> k.endsWith("|" + name.toLowerCase(Locale.ROOT))));
    }

    private boolean privateEndpointExists(String azureName) {
        return emulator.<Boolean>inspect(s -> s.privateEndpoints.keySet().stream()
                .anyMatch(k -> k.endsWith("/privateendpoints/" + azureName.toLowerCase(Locale.ROOT))));
    }

    private boolean accepted(String method, String pathPart) {
        return !emulator.controls().journal(e -> e.seq() > journalMark && e.method().equals(method) && e.status() < 300
                && e.path().toLowerCase(Locale.ROOT).contains(pathPart.toLowerCase(Locale.ROOT))).isEmpty();
    }

    @Test
    void eachKindDeletedMomentsAfterAzureAcceptedItLeavesNothingBehind() throws Exception {
        String azureName = readyHsm("hsm").getSpec().azureName;
        journalMark = emulator.controls().lastSequence();
        String principal = UUID.randomUUID().toString();
        HsmRoleAssignment grant = roleAssignment(ns, "grant", new HsmReference("hsm", null), "Managed HSM Crypto User", principal, null,
                HsmRoleAssignmentSpec.Scope.KEYS);
        PrivateEndpoint pe = privateEndpoint(ns, "pe", new HsmReference("hsm", null), SUBNET);
        // For ten seconds after each write, Azure's reads answer as before it: the new grant and setting read as absent.
        try (AutoCloseable lagging = emulator.controls().lagReads(Duration.ofSeconds(10))) {
            List<HasMetadata> made = List.of(apply(grant), apply(diagnostics(ns, "audit", new HsmReference("hsm", null))), apply(pe));
            await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> accepted("PUT", "/roleAssignments/")
                    && accepted("PUT", "/diagnosticSettings/audit") && accepted("PUT", "/privateEndpoints/" + pe.getSpec().azureName));
            made.forEach(r -> client.resource(r).delete());
            await().atMost(WAIT).until(() -> get(HsmRoleAssignment.class, "grant") == null && get(HsmDiagnostics.class, "audit") == null
                    && get(PrivateEndpoint.class, "pe") == null);
        }
        assertFalse(granted(azureName, principal), "the grant was revoked: no principal keeps access with no resource behind it");
        assertFalse(diagnosticSetting("audit"), "the diagnostic setting was deleted");
        assertFalse(privateEndpointExists(pe.getSpec().azureName), "the private endpoint was deleted");
    }

    @Test
    void aNamespaceDeletedAsAWholeMomentsAfterCreationFinishesAndLeavesAzureAsThePoliciesSay() throws Exception {
        Assumptions.assumeTrue(TestCluster.server().hasControllerManager(),
                "namespace deletion needs kube-controller-manager, which only e2e/kube-binaries provides");
        Samples samples = applySamples();
        // Moments after creation: as soon as Azure has accepted the HSM's create and the first key.
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50)).until(() -> accepted("PUT", "/managedHSMs/" + samples.azureName)
                && accepted("POST", "/keys/" + samples.keyName + "/create"));
        tearDown(samples);
    }

    @Test
    void aNamespaceDeletedAsAWholeTheMomentItsResourcesAreAppliedFinishes() throws Exception {
        Assumptions.assumeTrue(TestCluster.server().hasControllerManager(),
                "namespace deletion needs kube-controller-manager, which only e2e/kube-binaries provides");
        tearDown(applySamples());
    }

    @Test
    void aNamespaceDeletedAsAWholeOnceEverythingIsReadyFinishesAndLeavesAzureAsThePoliciesSay() throws Exception {
        Assumptions.assumeTrue(TestCluster.server().hasControllerManager(),
                "namespace deletion needs kube-controller-manager, which only e2e/kube-binaries provides");
        Samples samples = applySamples();
        for (HasMetadata r : samples.resources) {
            @SuppressWarnings("unchecked")
            Class<? extends io.fabric8.kubernetes.client.CustomResource<?, ? extends io.hsmoperator.api.common.HsmStatus>> kind =
                    (Class<? extends io.fabric8.kubernetes.client.CustomResource<?, ? extends io.hsmoperator.api.common.HsmStatus>>) r.getClass();
            awaitCondition(kind, r.getMetadata().getName(), "Ready", "True", null, Duration.ofSeconds(90));
        }
        assertTrue(granted(samples.azureName, samples.principal));
        assertTrue(privateEndpointExists(samples.endpointName));
        tearDown(samples);
    }

    @Test
    void referrersFromNamespacesTheHsmDoesNotAdmitDoNotHoldUpItsDeletion() throws Exception {
        readyHsm("hsm");
        String hsmNs = ns;
        String intruder = otherNamespace();
        HsmKey squatter = hsmKey("squatter", "hsm", HsmKeySpec.KeyType.EC_HSM);
        squatter.getMetadata().setNamespace(intruder);
        squatter.getSpec().hsmRef = new HsmReference("hsm", hsmNs);
        apply(squatter);
        await().atMost(WAIT).until(() -> {
            HsmKey k = client.resources(HsmKey.class).inNamespace(intruder).withName("squatter").get();
            return k != null && k.getStatus() != null && condition(k, "Ready") != null && "RefNotPermitted".equals(condition(k, "Ready").getReason());
        });
        client.resource(get(ManagedHsm.class, "hsm")).delete();
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "hsm") == null);
    }

    /** The five samples of config/samples, in this test's namespace, with names of their own. */
    private record Samples(List<HasMetadata> resources, String azureName, String keyName, String principal, String endpointName) {
    }

    private Samples applySamples() throws Exception {
        Path dir = Path.of("../config/samples");
        try (InputStream officers = new FileInputStream(dir.resolve("security-domain-officers.yaml").toFile())) {
            Secret secret = client.secrets().load(officers).item();
            secret.getMetadata().setNamespace(ns);
            apply(secret);
        }
        ManagedHsm hsm = load(dir, "managedhsm.yaml", ManagedHsm.class);
        hsm.getSpec().azureName = uniqueHsmName("samples");
        hsm.getSpec().resourceGroup = "rg-" + ns;
        HsmKey key = load(dir, "hsmkey.yaml", HsmKey.class);
        HsmRoleAssignment grant = load(dir, "hsmroleassignment.yaml", HsmRoleAssignment.class);
        HsmDiagnostics audit = load(dir, "hsmdiagnostics.yaml", HsmDiagnostics.class);
        PrivateEndpoint pe = load(dir, "privateendpoint.yaml", PrivateEndpoint.class);
        pe.getSpec().azureName = "pe-" + ns;
        List<HasMetadata> all = new ArrayList<>();
        for (HasMetadata r : List.<HasMetadata>of(hsm, key, grant, audit, pe)) {
            all.add(apply(r));
        }
        return new Samples(all, hsm.getSpec().azureName, KeySpecs.keyName(key), grant.getSpec().principalId, pe.getSpec().azureName);
    }

    private <T extends HasMetadata> T load(Path dir, String file, Class<T> type) throws Exception {
        try (InputStream in = new FileInputStream(dir.resolve(file).toFile())) {
            T r = client.resources(type).load(in).item();
            r.getMetadata().setNamespace(ns);
            return r;
        }
    }

    /** Deletes the namespace as a whole; every resource goes within two minutes, and Azure is left as each policy says. */
    private void tearDown(Samples samples) {
        long mark = emulator.controls().lastSequence();
        client.namespaces().withName(ns).delete();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> client.namespaces().withName(ns).get() == null);

        State.Hsm hsm = azureHsm(samples.azureName).orElseThrow();
        assertFalse(granted(samples.azureName, samples.principal), "the grant was revoked");
        assertFalse(diagnosticSetting(samples.resources.get(3).getMetadata().getName()), "the diagnostic setting was deleted");
        assertFalse(privateEndpointExists(samples.endpointName), "the private endpoint was deleted");
        if (accepted("POST", "/keys/" + samples.keyName + "/create")) {
            assertTrue(hsm.keys.containsKey(samples.keyName), "deletionPolicy Retain: the key stays");
        }
        List<Controls.JournalEntry> deletes = emulator.controls().journal(e -> e.seq() > mark && e.method().equals("DELETE") && e.status() < 300
                && (e.endpoint().equals(samples.azureName) && e.path().matches("/keys/[^/?]+(\\?.*)?")
                || e.path().matches(".*/managedHSMs/" + samples.azureName + "(\\?.*)?")));
        assertEquals(List.of(), deletes, "the key and the HSM are retained (deletionPolicy Retain)");
    }
}
