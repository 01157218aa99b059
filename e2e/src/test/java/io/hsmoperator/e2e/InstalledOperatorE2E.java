package io.hsmoperator.e2e;

import com.azure.core.exception.HttpResponseException;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.models.KeyProperties;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.azure.AzureHttpClients;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.emulator.State;
import io.hsmoperator.kube.TestCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator installed as a user installs it, end to end on a real API server: the chart's objects applied as
 * rendered, the packaged operator run as the chart's Deployment runs it (see {@link Pod}), authorised only by the
 * chart's RBAC through its ServiceAccount's token, and authenticated to Azure (the emulator) by workload identity: the
 * API server issues the ServiceAccount token and the emulator's Entra checks it against the API server's OIDC discovery
 * and JWKS. The steps build on one another, in order: install, the samples converge, a workload signs, rotate-now, a
 * rolling upgrade to two replicas, kill -9 while 50 keys are created, uninstall.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class InstalledOperatorE2E {
    private static final String APPS = "payments";
    private static final String WORKLOAD_PRINCIPAL = "0f4e1b2c-3d5a-4e6f-8a9b-7c6d5e4f3a2b";
    private static final String HSM_NAME = "contoso-payments-hsm";
    private static final Duration LEASE = Duration.ofSeconds(6);
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final Duration DRIFT = Duration.ofSeconds(3);
    private static final int BULK = 50;
    private static final ObjectMapper JSON = new ObjectMapper();

    private Installation installation;
    private KubernetesClient admin;
    private Emulator emulator;
    private Emulator.Principal operatorIdentity;
    private Map<String, Pod> pods;

    @BeforeAll
    void cluster() throws Exception {
        installation = new Installation(EmulatorConfig.inMemory().withServiceLimits(true)
                .withDelays(Duration.ofSeconds(2), Duration.ofMillis(700), Duration.ofMillis(300), Duration.ofMillis(700))
                .withRbacPropagation(Duration.ofSeconds(1)).withStaleReads(Duration.ofMillis(500)), Path.of("target", "e2e"), APPS);
        admin = installation.admin;
        emulator = installation.emulator;
        operatorIdentity = installation.operatorIdentity;
        pods = installation.pods;
    }

    @AfterAll
    void stop() {
        if (installation != null) {
            installation.close();
        }
    }

    @Test
    @Order(1)
    void install() throws Exception {
        installation.helmApply(Map.of(), SETTINGS);
        Pod first = installation.startPod();
        await().atMost(WAIT).until(first::ready);
        await().atMost(WAIT).until(() -> installation.leader() == first);
        // Quarkus prints this when a bean looked up at run time was removed at build time: the operator SDK's lookup of
        // the informer-stopped handler, which makes a deaf operator exit, was one.
        assertFalse(first.logText().contains("programmatic lookup problem"), "a bean the operator needs was removed at build time:\n"
                + first.logText());
    }

    @Test
    @Order(2)
    void samplesConverge() {
        TestCluster.kubectlOk("apply", "-n", APPS, "-f", "../config/samples/");
        for (String kind : List.of("managedhsms", "hsmkeys", "hsmroleassignments", "hsmdiagnostics", "privateendpoints")) {
            // What a user or a CI pipeline waits on; it works on every kind because every kind has a Ready condition.
            TestCluster.kubectlOk("wait", "-n", APPS, "--for=condition=Ready", kind, "--all", "--timeout=" + WAIT.toSeconds() + "s");
        }
        State.Hsm hsm = emulator.inspect(s -> s.hsms.get(HSM_NAME));
        assertEquals("production", hsm.tags.get("environment"), "the HSM carries the sample's tags");
        assertEquals("EC-HSM", emulator.inspect(s -> s.hsms.get(HSM_NAME).keys.get("payments-signing").versions.get(0).kty));
    }

    @Test
    @Order(3)
    void theWorkloadSignsWithThePublishedKeyAndNobodyElseCan() throws Exception {
        emulator.registerPrincipal("payments-api", WORKLOAD_PRINCIPAL);
        CryptographyClient workload = workloadCrypto("payments-api", WORKLOAD_PRINCIPAL);
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("e2e".getBytes(StandardCharsets.UTF_8));
        byte[] signature = workload.sign(SignatureAlgorithm.ES256, digest).getSignature();
        assertTrue(workload.verify(SignatureAlgorithm.ES256, digest, signature).isValid());

        Emulator.Principal other = emulator.registerPrincipal("intruder");
        CryptographyClient intruder = workloadCrypto("intruder", other.objectId());
        HttpResponseException refused = assertThrows(HttpResponseException.class, () -> intruder.sign(SignatureAlgorithm.ES256, digest));
        assertEquals(403, refused.getResponse().getStatusCode(), "a principal without the role cannot sign");
    }

    @Test
    @Order(4)
    void rotateNow() {
        String before = publishedKeyId();
        rotateNow("e2e-rotation-1");
        await().atMost(WAIT).until(() -> !publishedKeyId().equals(before));
        assertEquals(2, versions("payments-signing"));
    }

    @Test
    @Order(5)
    void driftIsFoundByListingTheHsmNotByReadingEachKey() throws Exception {
        // Settled (the rotation's own follow-ups, such as the reconcile its ConfigMap update causes, are over): nothing is
        // due, so the operator only lists the HSM's keys every drift interval.
        Thread.sleep(DRIFT.toMillis());
        long mark = emulator.controls().lastSequence();
        Thread.sleep(DRIFT.multipliedBy(3).toMillis());
        List<Controls.JournalEntry> quiet = emulator.controls().journal(e -> e.seq() > mark && e.principal() != null
                && e.principal().equals(operatorIdentity.objectId()) && e.method().equals("GET"));
        long listings = quiet.stream().filter(e -> e.path().equals("/keys")).count();
        long keyReads = quiet.stream().filter(e -> e.path().startsWith("/keys/payments-signing")).count();
        System.out.printf("e2e: in %d s of steady state the operator listed the HSM's keys %d times and read the key %d times%n",
                DRIFT.multipliedBy(3).toSeconds(), listings, keyReads);
        assertTrue(listings >= 2, "the HSM's keys are listed every drift interval: " + listings);
        assertEquals(0, keyReads, () -> "a converged key is not read on its own: " + quiet.stream()
                .map(e -> e.time() + " " + e.method() + " " + e.path() + "?" + e.query()).toList());

        // Someone disables the key in the portal: the next listing shows it, and only then is the key read and fixed.
        String hsmUri = publishedKeyId().substring(0, publishedKeyId().indexOf("/keys/"));
        KeyClient portal = installation.portal(hsmUri, Installation.SAMPLE_HSM_ADMIN);
        KeyProperties props = await().atMost(WAIT).ignoreExceptions().until(() -> portal.getKey("payments-signing").getProperties(),
                p -> p != null);
        portal.updateKeyProperties(props.setEnabled(false));
        long disabled = System.nanoTime();
        await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> emulator.inspect(st ->
                st.hsms.get(HSM_NAME).keys.get("payments-signing").latest().enabled));
        Duration latency = Duration.ofNanos(System.nanoTime() - disabled);
        System.out.printf("e2e: a key disabled out of band was enabled again after %d ms (drift interval %d s)%n", latency.toMillis(),
                DRIFT.toSeconds());
        assertTrue(latency.compareTo(DRIFT.multipliedBy(2).plusSeconds(5)) < 0, "seen within the drift interval: " + latency);
    }

    @Test
    @Order(6)
    void rollingUpgradeToTwoReplicasHandsOverWithoutASecondVersion() throws Exception {
        Pod old = pods.values().iterator().next();
        installation.helmApply(Map.of("replicas", "2", "azure.timeout", "PT25S"), SETTINGS);
        assertEquals("PT25S", env(installation.deployment(), "HSM_AZURE_TIMEOUT"), "the upgraded Deployment is what the new pods run");
        // A rolling update: a new pod, ready before the old one is told to stop, then the second new pod.
        Pod surge = installation.startPod();
        await().atMost(WAIT).until(surge::ready);
        assertEquals(old, installation.leader(), "the standby is ready without taking the lease");

        rotateNow("e2e-rotation-2");
        long stopped = System.nanoTime();
        assertStoppedBySigterm(old);
        Pod second = installation.startPod();
        // Either new pod may win the lease: the surge pod, standing by, or the second one, started meanwhile.
        Pod next = await().atMost(LEASE.multipliedBy(3)).pollInterval(Duration.ofMillis(100))
                .until(installation::leader, p -> p == surge || p == second);
        Duration gap = Duration.ofNanos(System.nanoTime() - stopped);
        System.out.printf("e2e: %s leads %d ms after %s was told to stop (lease %d s)%n", next.name, gap.toMillis(), old.name,
                LEASE.toSeconds());
        assertTrue(gap.compareTo(LEASE.plusSeconds(2)) <= 0, "no gap longer than the lease: " + gap);
        await().atMost(WAIT).until(second::ready);

        await().atMost(WAIT).until(() -> "e2e-rotation-2".equals(keyStatus("payments-signing").path("lastRotateNowToken").asText()));
        Thread.sleep(LEASE.toMillis());
        assertEquals(3, versions("payments-signing"), "one version per rotation across the handover");
        assertEquals(3, creates("payments-signing"), "one create per version, none repeated by the new leader");
    }

    @Test
    @Order(7)
    void killNineWhileFiftyKeysAreCreated() throws Exception {
        StringBuilder yaml = new StringBuilder();
        IntStream.range(0, BULK).forEach(i -> yaml.append("""
                apiVersion: hsmoperator.io/v1alpha1
                kind: HsmKey
                metadata:
                  name: bulk-%02d
                spec:
                  hsmRef:
                    name: payments-hsm
                  keyType: EC-HSM
                  curve: P-256
                  operations: [sign, verify]
                ---
                """.formatted(i)));
        TestCluster.kubectl(yaml.toString(), "apply", "-n", APPS, "-f", "-");
        await().atMost(WAIT).until(() -> bulkKeysInAzure() >= 10);
        Pod leader = installation.leader();
        int atKill = bulkKeysInAzure();
        leader.kill();
        pods.remove(leader.name);
        Pod replacement = installation.startPod();
        TestCluster.kubectlOk("wait", "-n", APPS, "--for=condition=Ready", "hsmkeys", "--all", "--timeout=240s");
        System.out.printf("e2e: killed the leader with %d of %d keys created; all Ready after the handover%n", atKill, BULK);
        await().atMost(WAIT).until(replacement::ready);
        for (int i = 0; i < BULK; i++) {
            String name = "bulk-%02d".formatted(i);
            assertEquals(1, versions(name), name + " has exactly one version");
            assertEquals(1, creates(name), name + " was created exactly once");
        }
    }

    @Test
    @Order(8)
    void uninstallLeavesAzureAsEachDeletionPolicySays() throws Exception {
        // As the README says: the resources first, while the operator still runs to honour their deletion policies.
        TestCluster.kubectlOk("delete", "-n", APPS, "hsmroleassignments,hsmdiagnostics,privateendpoints,hsmkeys", "--all",
                "--timeout=" + WAIT.toSeconds() + "s");
        TestCluster.kubectlOk("delete", "-n", APPS, "managedhsms", "--all", "--timeout=" + WAIT.toSeconds() + "s");
        State.Hsm hsm = emulator.inspect(s -> s.hsms.get(HSM_NAME));
        assertTrue(hsm != null, "ManagedHsm deletionPolicy Retain: the HSM stays");
        long keptKeys = emulator.inspect(s -> s.hsms.get(HSM_NAME).keys.values().stream().filter(k -> k.deletedDate == null).count());
        assertEquals(BULK + 1, keptKeys, "HsmKey deletionPolicy Retain (the default): every key stays");
        boolean granted = emulator.inspect(s -> s.hsms.get(HSM_NAME).roleAssignments.values().stream()
                .anyMatch(a -> a.principalId.equals(WORKLOAD_PRINCIPAL)));
        assertFalse(granted, "HsmRoleAssignment deletionPolicy Delete: the grant is revoked");
        boolean endpoints = emulator.inspect(s -> s.privateEndpoints.isEmpty());
        assertTrue(endpoints, "PrivateEndpoint deletionPolicy Delete");
        boolean settings = emulator.inspect(s -> s.diagnosticSettings.isEmpty());
        assertTrue(settings, "HsmDiagnostics deletionPolicy Delete");

        // helm uninstall: the Deployment's pods stop, the release's objects go, the CRDs stay.
        for (Pod p : pods.values()) {
            assertStoppedBySigterm(p);
        }
        installation.helmUninstall(Map.of("replicas", "2", "azure.timeout", "PT25S"), SETTINGS);
        assertEquals(5, admin.apiextensions().v1().customResourceDefinitions().list().getItems().stream()
                .filter(c -> c.getSpec().getGroup().equals("hsmoperator.io")).count(), "helm uninstall keeps the CRDs");

        // Every call the operator made was allowed by the chart's RBAC: a missing rule shows as a refusal in its log.
        for (Pod p : installation.everyPod) {
            Matcher forbidden = Pattern.compile(".*(is forbidden|Forbidden).*").matcher(p.logText());
            assertFalse(forbidden.find(), p.name + " was refused by the API server: " + (forbidden.find(0) ? forbidden.group() : ""));
        }
    }

    /** A JVM that ran its shutdown on SIGTERM exits 143 (128 + 15), which Kubernetes counts as a normal stop. */
    private static void assertStoppedBySigterm(Pod pod) throws InterruptedException {
        int status = pod.terminate(Duration.ofSeconds(30));
        assertTrue(status == 0 || status == 143, pod.name + " stops on SIGTERM without an error, exit status " + status);
    }

    // ---- the chart ----------------------------------------------------------------------------------

    /** Shorter than production so the suite runs in minutes; passed as users pass any other setting (extraEnv). */
    private static final Map<String, String> SETTINGS = Map.of("HSM_RECONCILE_POLL", "PT0.5S", "HSM_RECONCILE_MAX_BACKOFF", "PT5S",
            "HSM_RECONCILE_RESYNC", "PT30S", "HSM_RECONCILE_DRIFT_INTERVAL", "PT" + DRIFT.toSeconds() + "S",
            "HSM_ROLE_ASSIGNMENTS_PROPAGATION", "PT2S", "HSM_LEADER_ELECTION_LEASE_DURATION", "PT" + LEASE.toSeconds() + "S",
            "HSM_LEADER_ELECTION_RENEW_DEADLINE", "PT4S", "HSM_LEADER_ELECTION_RETRY_PERIOD", "PT1S");

    private static String env(JsonNode deployment, String name) {
        for (JsonNode e : deployment.at("/spec/template/spec/containers/0/env")) {
            if (name.equals(e.path("name").asText())) {
                return e.path("value").asText();
            }
        }
        return null;
    }

    // ---- what the test looks at -------------------------------------------------------------------------

    private CryptographyClient workloadCrypto(String serviceAccount, String objectId) throws Exception {
        admin.serviceAccounts().inNamespace(APPS).resource(new ServiceAccountBuilder().withNewMetadata().withName(serviceAccount)
                .endMetadata().build()).serverSideApply();
        String clientId = emulator.inspect(s -> s.principals.get(objectId).clientId);
        emulator.addFederatedCredential(clientId, installation.issuer, "system:serviceaccount:" + APPS + ":" + serviceAccount);
        Path token = installation.dir.resolve(serviceAccount + ".token");
        Files.writeString(token, Pod.token(admin, APPS, serviceAccount, Pod.AZURE_AUDIENCE));
        var http = AzureHttpClients.create(List.of(emulator.caCertificate()), Duration.ofSeconds(30));
        var credential = new WorkloadIdentityCredentialBuilder().tenantId(emulator.tenantId()).clientId(clientId)
                .tokenFilePath(token.toString()).authorityHost(emulator.authorityHost()).disableInstanceDiscovery().httpClient(http).build();
        return new CryptographyClientBuilder().keyIdentifier(publishedKeyId()).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
    }

    private String publishedKeyId() {
        return admin.configMaps().inNamespace(APPS).withName("payments-signing-key").require().getData().get("keyId");
    }

    private void rotateNow(String token) {
        admin.resources(HsmKey.class).inNamespace(APPS).withName("payments-signing")
                .edit(k -> {
                    Map<String, String> annotations = new LinkedHashMap<>(k.getMetadata().getAnnotations() == null ? Map.of()
                            : k.getMetadata().getAnnotations());
                    annotations.put(Conditions.ROTATE_NOW_ANNOTATION, token);
                    k.getMetadata().setAnnotations(annotations);
                    return k;
                });
    }

    private JsonNode keyStatus(String name) {
        HsmKey k = admin.resources(HsmKey.class).inNamespace(APPS).withName(name).get();
        return k == null || k.getStatus() == null ? JSON.createObjectNode() : JSON.valueToTree(k.getStatus());
    }

    private int versions(String key) {
        return emulator.inspect(s -> {
            State.Key k = s.hsms.get(HSM_NAME).keys.get(key);
            return k == null ? 0 : k.versions.size();
        });
    }

    /** Successful key creates (new keys and new versions) of one key in Azure. */
    private long creates(String key) {
        return emulator.controls().journal(e -> e.method().equals("POST") && e.path().startsWith("/keys/" + key + "/create") && e.status() < 300)
                .size();
    }

    private int bulkKeysInAzure() {
        return emulator.inspect(s -> (int) s.hsms.get(HSM_NAME).keys.keySet().stream().filter(n -> n.startsWith("bulk-")).count());
    }
}
