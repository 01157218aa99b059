package io.hsmoperator.reconciler;

import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.kube.TestCluster;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a user sees through kubectl (the one built with the API server) while the operator works: a manifest applied
 * with kubectl, {@code kubectl wait} on the Ready condition, the printer columns the server renders, field
 * documentation from {@code kubectl explain}, events in {@code kubectl describe}, a refusal with the rule's message, and
 * the published ConfigMap garbage-collected with its HsmKey. Every kind is waited for and shown with its columns, and the
 * statuses the operator wrote are Healthy for the Argo CD checks of config/argocd/ and Current for kstatus.
 */
@QuarkusTest
class KubectlIT extends OperatorTestBase {

    private String hsmKeyYaml(String name, String hsm, String extra) {
        return """
                apiVersion: hsmoperator.io/v1alpha1
                kind: HsmKey
                metadata: {name: %s, namespace: %s}
                spec:
                  hsmRef: {name: %s}
                  keyType: EC-HSM
                %s""".formatted(name, ns, hsm, extra);
    }

    @Test
    void aUserAppliesWaitsAndReadsTheColumns() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");

        TestCluster.Result applied = TestCluster.kubectl(hsmKeyYaml("signing", "hsm", "  curve: P-384\n  rotation: {every: P90D}\n"), "apply",
                "-f", "-");
        assertEquals(0, applied.exitCode(), applied.out());
        assertTrue(applied.out().contains("hsmkey.hsmoperator.io/signing created"), applied.out());
        String waited;
        try {
            waited = TestCluster.kubectlOk("wait", "-n", ns, "--for=condition=Ready", "hsmkey/signing", "--timeout=60s");
        } catch (AssertionError e) {
            dump();
            throw e;
        }
        assertTrue(waited.contains("condition met"), waited);
        HsmKey key = get(HsmKey.class, "signing");

        List<String> table = lines(TestCluster.kubectlOk("get", "hsmkeys", "-n", ns));
        assertEquals(List.of("NAME", "READY", "TYPE", "VERSION", "AGE"), columns(table.get(0)), table.get(0));
        List<String> row = columns(table.get(1));
        assertEquals(List.of("signing", "True", "EC-HSM", key.getStatus().currentVersion), row.subList(0, 4), table.get(1));
        List<String> wide = lines(TestCluster.kubectlOk("get", "hsmkey", "signing", "-n", ns, "-o", "wide"));
        assertTrue(wide.get(0).contains("KEY ID") && wide.get(0).contains("VERSIONS") && wide.get(0).contains("REASON"), wide.get(0));
        assertTrue(wide.get(1).contains(key.getStatus().keyId), wide.get(1));
        // The next rotation is in the future: shown as the time it falls due, not as kubectl's "<invalid>" for future dates.
        assertTrue(wide.get(0).contains("NEXT ROTATION") && wide.get(1).contains(key.getStatus().nextRotationTime), String.join("\n", wide));
        assertFalse(wide.get(1).contains("<invalid>"), wide.get(1));

        List<String> hsms = lines(TestCluster.kubectlOk("get", "mhsm", "-n", ns));
        assertEquals(List.of("NAME", "READY", "ACTIVATED", "URI", "AGE"), columns(hsms.get(0)), hsms.get(0));
        assertEquals(List.of("hsm", "True", "True", hsm.getStatus().hsmUri), columns(hsms.get(1)).subList(0, 4), hsms.get(1));
        String category = TestCluster.kubectlOk("get", "hsm", "-n", ns);
        assertTrue(category.contains("managedhsm.hsmoperator.io/hsm") && category.contains("hsmkey.hsmoperator.io/signing"), category);

        theOtherKindsAreWaitedForAndShowReadyAndTheirMainFact();
        for (String kind : List.of("managedhsm/hsm", "hsmkey/signing")) {
            healthyForArgoCdAndCurrentForKStatus(kind);
        }

        String described = TestCluster.kubectlOk("describe", "hsmkey", "signing", "-n", ns);
        assertTrue(described.contains("Events:") && described.contains("KeyCreated"), described);

        String explained = TestCluster.kubectlOk("explain", "hsmkey.spec.rotation");
        assertTrue(explained.contains("every") && explained.contains("Operator-driven rotation"), explained);
        assertTrue(explained.contains("gracePeriod") && explained.contains("keepEnabledVersions"), explained);

        TestCluster.Result refused = TestCluster.kubectl(hsmKeyYaml("weak", "hsm", "  keySize: 2048\n"), "apply", "-f", "-");
        assertTrue(refused.exitCode() != 0 && refused.out().contains("keySize applies to RSA-HSM and oct-HSM keys"), refused.out());
        assertEquals(null, get(HsmKey.class, "weak"), "a refused manifest is not stored");
    }

    /**
     * A role assignment, diagnostics and a private endpoint applied with kubectl on the ready HSM: one {@code kubectl wait
     * --for=condition=Ready} waits for all three, and each kind's table shows Ready and its main fact.
     */
    private void theOtherKindsAreWaitedForAndShowReadyAndTheirMainFact() throws Exception {
        String principal = emulator.registerPrincipal("payments-api").objectId();
        String sub = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/";
        String workspace = sub + "rg-mon/providers/Microsoft.OperationalInsights/workspaces/law-security";
        TestCluster.Result applied = TestCluster.kubectl("""
                apiVersion: hsmoperator.io/v1alpha1
                kind: HsmRoleAssignment
                metadata: {name: signer, namespace: %1$s}
                spec:
                  hsmRef: {name: hsm}
                  role: Managed HSM Crypto User
                  principalId: %2$s
                  keyRef: {name: signing}
                ---
                apiVersion: hsmoperator.io/v1alpha1
                kind: HsmRoleDefinition
                metadata: {name: rotator, namespace: %1$s}
                spec:
                  hsmRef: {name: hsm}
                  roleName: key rotator
                  dataActions: [Microsoft.KeyVault/managedHsm/keys/read/action, Microsoft.KeyVault/managedHsm/keys/rotate/action]
                ---
                apiVersion: hsmoperator.io/v1alpha1
                kind: HsmDiagnostics
                metadata: {name: audit, namespace: %1$s}
                spec:
                  hsmRef: {name: hsm}
                  logAnalyticsWorkspaceId: %3$s
                ---
                apiVersion: hsmoperator.io/v1alpha1
                kind: PrivateEndpoint
                metadata: {name: pe, namespace: %1$s}
                spec:
                  hsmRef: {name: hsm}
                  azureName: pe-%1$s
                  resourceGroup: rg-net-%1$s
                  location: westeurope
                  subnetId: %4$srg-net/providers/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-pe
                """.formatted(ns, principal, workspace, sub), "apply", "-f", "-");
        assertEquals(0, applied.exitCode(), applied.out());
        try {
            String waited = TestCluster.kubectlOk("wait", "-n", ns, "--for=condition=Ready", "hsmroleassignment/signer",
                    "hsmroledefinition/rotator", "hsmdiagnostics/audit", "privateendpoint/pe", "--timeout=90s");
            assertEquals(4, waited.lines().filter(l -> l.contains("condition met")).count(), waited);
        } catch (AssertionError e) {
            dump();
            throw e;
        }

        List<String> assignments = lines(TestCluster.kubectlOk("get", "hsmroleassignments", "-n", ns));
        assertEquals(List.of("NAME", "READY", "ROLE", "PRINCIPAL", "SCOPE", "AGE"), columns(assignments.get(0)), assignments.get(0));
        assertTrue(assignments.get(1).matches("signer\\s+True\\s+Managed HSM Crypto User\\s+" + principal + "\\s+/keys/signing\\s+.*"),
                assignments.get(1));

        List<String> roles = lines(TestCluster.kubectlOk("get", "hsmrd", "-n", ns));
        assertEquals(List.of("NAME", "READY", "ROLE", "AGE"), columns(roles.get(0)), roles.get(0));
        assertTrue(roles.get(1).matches("rotator\\s+True\\s+key rotator\\s+.*"), roles.get(1));
        List<String> rolesWide = lines(TestCluster.kubectlOk("get", "hsmroledefinition", "rotator", "-n", ns, "-o", "wide"));
        assertTrue(rolesWide.get(0).contains("DEFINITION") && rolesWide.get(1).contains(
                get(io.hsmoperator.api.roledefinition.HsmRoleDefinition.class, "rotator").getStatus().roleDefinitionName), String.join("\n", rolesWide));

        List<String> diagnostics = lines(TestCluster.kubectlOk("get", "hsmdiagnostics", "-n", ns));
        assertEquals(List.of("NAME", "READY", "SETTING", "DESTINATIONS", "AGE"), columns(diagnostics.get(0)), diagnostics.get(0));
        assertEquals(List.of("audit", "True", "audit"), columns(diagnostics.get(1)).subList(0, 3), diagnostics.get(1));
        assertTrue(diagnostics.get(1).contains(workspace), diagnostics.get(1));

        List<String> endpoints = lines(TestCluster.kubectlOk("get", "privateendpoints", "-n", ns));
        assertEquals(List.of("NAME", "READY", "CONNECTION", "IP", "AGE"), columns(endpoints.get(0)), endpoints.get(0));
        assertEquals(List.of("pe", "True", "Approved"), columns(endpoints.get(1)).subList(0, 3), endpoints.get(1));
        assertTrue(columns(endpoints.get(1)).get(3).matches("[0-9.]+"), endpoints.get(1));

        for (String kind : List.of("hsmroleassignment/signer", "hsmroledefinition/rotator", "hsmdiagnostics/audit", "privateendpoint/pe")) {
            healthyForArgoCdAndCurrentForKStatus(kind);
        }
    }

    /**
     * The status the operator really wrote, through Argo CD's health assessment with the checks of config/argocd/ and
     * kstatus's status.Compute, their own code (tools/gitops-health); kept in
     * target/gitops-captured/ to compare with (or refresh) the fixtures of src/test/resources/gitops/.
     */
    private void healthyForArgoCdAndCurrentForKStatus(String kind) throws Exception {
        String json = TestCluster.kubectlOk("get", kind, "-n", ns, "-o", "json");
        var resource = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        java.nio.file.Path captured = java.nio.file.Path.of("target", "gitops-captured", kind.replace('/', '-') + ".json");
        java.nio.file.Files.createDirectories(captured.getParent());
        java.nio.file.Files.writeString(captured, json);
        var result = io.hsmoperator.gitops.GitOpsHealth.of(resource);
        assertEquals("Healthy", result.argoCd().status(), kind + ": " + result.argoCd());
        assertEquals("Current", result.kstatus().status(), kind + ": " + result.kstatus());
    }

    @Test
    void deletingAnHsmKeyGarbageCollectsItsConfigMapButKeepsTheKey() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(TestCluster.server().hasControllerManager(),
                "garbage collection needs kube-controller-manager, which only e2e/kube-binaries provides");
        readyHsm("hsm");
        apply(hsmKey("gone", "hsm", io.hsmoperator.api.hsmkey.HsmKeySpec.KeyType.EC_HSM));
        HsmKey key = awaitCondition(HsmKey.class, "gone", "Ready", "True", null, Duration.ofSeconds(40));
        String configMap = key.getStatus().publishedConfigMap;
        assertTrue(client.configMaps().inNamespace(ns).withName(configMap).get() != null);

        TestCluster.kubectlOk("delete", "hsmkey", "gone", "-n", ns, "--wait=true", "--timeout=60s");
        await().atMost(Duration.ofSeconds(60)).until(() -> client.configMaps().inNamespace(ns).withName(configMap).get() == null);
        assertTrue(emulator.<Boolean>inspect(s -> s.hsms.values().stream().anyMatch(h -> h.keys.containsKey("gone"))),
                "deletionPolicy Retain: the key stays in the HSM");
    }

    private static List<String> lines(String out) {
        return Arrays.stream(out.split("\n")).filter(l -> !l.isBlank()).toList();
    }

    private static List<String> columns(String line) {
        return Arrays.asList(line.trim().split("\\s+"));
    }
}
