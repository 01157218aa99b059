package io.hsmoperator.e2e;

import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.models.KeyProperties;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.chart.PromTool;
import io.hsmoperator.gitops.GitOpsHealth;
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

import java.nio.file.Path;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator installed as a user installs it, end to end on a real node: the chart installed by Helm, the operator's
 * image pulled from a registry and run by the kubelet under the chart's security context, authorised only by the chart's
 * RBAC through its ServiceAccount, and authenticated to Azure (the emulator) by workload identity: the real webhook
 * projects the ServiceAccount token into the pod and the emulator's Entra checks it against the API server's OIDC
 * discovery and JWKS. The steps build on one another, in order: install, the samples converge, a workload pod signs,
 * rotate-now, drift, a rolling upgrade to two replicas, a drain under the PodDisruptionBudget, kill -9 while 50 keys are
 * created, uninstall.
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
    private Workload workload;

    @BeforeAll
    void cluster() throws Exception {
        installation = new Installation(EmulatorConfig.inMemory().withServiceLimits(true)
                .withDelays(Duration.ofSeconds(2), Duration.ofMillis(700), Duration.ofMillis(300), Duration.ofMillis(700))
                .withRbacPropagation(Duration.ofSeconds(1)).withStaleReads(Duration.ofMillis(500)), Path.of("target", "e2e"), APPS);
        admin = installation.admin;
        emulator = installation.emulator;
        operatorIdentity = installation.operatorIdentity;
        workload = new Workload(installation, APPS, "payments-signing-key");
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
        installation.helmInstall(Map.of(), SETTINGS);
        Pod first = installation.readyPods().get(0);
        String name = first.getMetadata().getName();
        await().atMost(WAIT).until(() -> name.equals(installation.leader()));

        // The workload-identity webhook, not the chart or the test, gave the pod its Azure identity.
        Map<String, String> env = new LinkedHashMap<>();
        first.getSpec().getContainers().get(0).getEnv().forEach(e -> env.put(e.getName(), e.getValue()));
        assertEquals(operatorIdentity.clientId(), env.get("AZURE_CLIENT_ID"));
        assertEquals(emulator.tenantId(), env.get("AZURE_TENANT_ID"));
        assertEquals(emulator.authorityHost(), env.get("AZURE_AUTHORITY_HOST"));
        String tokenFile = env.get("AZURE_FEDERATED_TOKEN_FILE");
        assertTrue(first.getSpec().getVolumes().stream().anyMatch(v -> v.getProjected() != null && v.getProjected().getSources().stream()
                .anyMatch(s -> s.getServiceAccountToken() != null && Installation.AZURE_AUDIENCE.equals(s.getServiceAccountToken().getAudience()))),
                "the webhook projects a token for " + Installation.AZURE_AUDIENCE);
        assertEquals("185\n", TestCluster.kubectlOk("exec", "-n", Installation.SYSTEM, name, "-c", "operator", "--", "id", "-u"),
                "the chart's non-root user");
        assertTrue(TestCluster.kubectl(null, "exec", "-n", Installation.SYSTEM, name, "-c", "operator", "--", "touch", "/deployments/x")
                .exitCode() != 0, "the root file system is read-only");
        assertTrue(TestCluster.kubectlOk("exec", "-n", Installation.SYSTEM, name, "-c", "operator", "--", "head", "-c", "3", tokenFile)
                .startsWith("eyJ"), "the projected token is where AZURE_FEDERATED_TOKEN_FILE says");
        // The JVM sizes its heap from the container's memory limit (512Mi, MaxRAMPercentage 75), not the machine's.
        long heapMax = metric(installation.get(first, "/q/metrics"), "jvm_memory_max_bytes", "area=\"heap\"");
        System.out.printf("e2e: the operator's heap may grow to %d MiB under the chart's 512Mi limit%n", heapMax >> 20);
        assertTrue(heapMax > 256L << 20 && heapMax <= 512L << 20, "heap maximum from the container's limit: " + (heapMax >> 20) + " MiB");
        // Quarkus prints this when a bean looked up at run time was removed at build time: the operator SDK's lookup of
        // the informer-stopped handler, which makes a deaf operator exit, was one.
        String log = installation.logs.of(name);
        assertFalse(log.contains("programmatic lookup problem"), "a bean the operator needs was removed at build time:\n" + log);
    }

    @Test
    @Order(2)
    void samplesConverge() throws Exception {
        TestCluster.kubectlOk("apply", "-n", APPS, "-f", "../config/samples/");
        for (String kind : List.of("managedhsms", "hsmkeys", "hsmroledefinitions", "hsmroleassignments", "hsmdiagnostics", "privateendpoints")) {
            // What a user or a CI pipeline waits on; it works on every kind because every kind has a Ready condition.
            TestCluster.kubectlOk("wait", "-n", APPS, "--for=condition=Ready", kind, "--all", "--timeout=" + WAIT.toSeconds() + "s");
        }
        State.Hsm hsm = emulator.inspect(s -> s.hsms.get(HSM_NAME));
        assertEquals("production", hsm.tags.get("environment"), "the HSM carries the sample's tags");
        assertEquals("EC-HSM", emulator.inspect(s -> s.hsms.get(HSM_NAME).keys.get("payments-signing").versions.get(0).kty));

        // What Argo CD and kstatus (Flux, kpt, cli-utils) make of the statuses the operator wrote, judged by their own code;
        // the operator's Deployment with them, by Argo CD's built-in check.
        List<JsonNode> objects = new java.util.ArrayList<>();
        for (String kind : List.of("managedhsms", "hsmkeys", "hsmroledefinitions", "hsmroleassignments", "hsmdiagnostics", "privateendpoints")) {
            readTree(TestCluster.kubectlOk("get", "-n", APPS, kind, "-o", "json")).path("items").forEach(objects::add);
        }
        objects.add(readTree(TestCluster.kubectlOk("get", "-n", Installation.SYSTEM, "deployment/hsm-operator", "-o", "json")));
        for (GitOpsHealth.Result r : GitOpsHealth.of(objects)) {
            String what = r.kind() + " " + r.name();
            assertEquals("Healthy", r.argoCd().status(), what + " in Argo CD: " + r.argoCd());
            assertEquals("Current", r.kstatus().status(), what + " in kstatus: " + r.kstatus());
        }
        System.out.printf("e2e: %d objects Healthy in Argo CD's checks and Current in kstatus, as the operator wrote them%n", objects.size());

        // The chart's alerts on what the leader's pod exports (its /q/metrics over the pod network), through Prometheus's
        // own promtool: every metric they and the dashboard read is there, none fires on a converged install, and
        // HsmNotReady names the HSM when its readiness drops.
        String scrape = installation.get(installation.pod(installation.leader()), "/q/metrics");
        java.util.Set<String> missing = new java.util.TreeSet<>(PromTool.metricsUsed());
        missing.removeAll(PromTool.scrapedNames(scrape));
        // The sample HsmBackup has no SAS Secret here: its gauges are checked on a real backup by testbed's HsmBackupReconcilerIT.
        missing.removeAll(PromTool.BACKUP_GAUGES);
        // Counted only from their first use: a wait for Azure's limits, a write fenced by a lost lease.
        assertTrue(java.util.Set.of("hsm_operator_azure_throttle_waits_seconds_sum", "hsm_operator_azure_writes_fenced_total")
                .containsAll(missing), "the alerts and the dashboard read metrics the pod does not export: " + missing);
        java.nio.file.Path rulesDir = java.nio.file.Files.createDirectories(installation.dir.resolve("prometheus-rules"));
        io.hsmoperator.tools.GoTools.Run rules = PromTool.testRulesOn(scrape, rulesDir);
        assertEquals(0, rules.exit(), "promtool test rules on the pod's scrape (" + rulesDir + "):\n" + rules.both());
    }

    private static JsonNode readTree(String json) {
        try {
            return JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Order(3)
    void theWorkloadSignsWithThePublishedKeyAndNobodyElseCan() throws Exception {
        emulator.registerPrincipal("payments-api", WORKLOAD_PRINCIPAL);
        Workload.Run run = workload.run("payments-api", WORKLOAD_PRINCIPAL);
        assertTrue(run.succeeded() && run.log().contains("verified: true"), "the workload signs through its identity:\n" + run.log());
        assertTrue(run.injectedEnv().contains("AZURE_FEDERATED_TOKEN_FILE"), "the webhook gave the workload its identity: " + run.injectedEnv());

        Emulator.Principal other = emulator.registerPrincipal("intruder");
        Workload.Run intruder = workload.run("intruder", other.objectId());
        assertFalse(intruder.succeeded(), "a principal without the role cannot sign:\n" + intruder.log());
        assertTrue(intruder.log().contains("refused: HTTP 403"), intruder.log());
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
        String old = installation.leader();
        installation.helmUpgrade(Map.of("replicas", "2", "azure.timeout", "PT25S"), SETTINGS);
        rotateNow("e2e-rotation-2");
        // The Deployment controller rolls: a new pod, Ready before the old one is told to stop (maxUnavailable 0 of 2), then
        // the second. The lease passes from the old pod to a new one when the old one stops.
        long stopping = 0;
        String next = null;
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (next == null && System.nanoTime() < deadline) {
            Pod p = installation.pod(old);
            if (stopping == 0 && (p == null || p.getMetadata().getDeletionTimestamp() != null)) {
                stopping = System.nanoTime();
            }
            String leader = installation.leader();
            if (leader != null && !leader.equals(old)) {
                next = leader;
            }
            Thread.sleep(100);
        }
        assertTrue(next != null && stopping != 0, "the lease passed from " + old + " to a new pod (leader now " + next + ")");
        Duration gap = Duration.ofNanos(System.nanoTime() - stopping);
        System.out.printf("e2e: %s leads %d ms after %s was told to stop (lease %d s)%n", next, gap.toMillis(), old, LEASE.toSeconds());
        assertTrue(gap.compareTo(LEASE.plusSeconds(2)) <= 0, "no gap longer than the lease: " + gap);
        TestCluster.kubectlOk("rollout", "status", "-n", Installation.SYSTEM, "deployment/hsm-operator", "--timeout=" + WAIT.toSeconds() + "s");
        assertEquals(2, installation.readyPods().size(), "two replicas Ready");
        for (Pod p : installation.readyPods()) {
            assertEquals("PT25S", env(p, "HSM_AZURE_TIMEOUT"), "the new pods run the upgraded Deployment");
        }
        assertStoppedBySigterm(old);

        await().atMost(WAIT).until(() -> "e2e-rotation-2".equals(keyStatus("payments-signing").path("lastRotateNowToken").asText()));
        Thread.sleep(LEASE.toMillis());
        assertEquals(3, versions("payments-signing"), "one version per rotation across the handover");
        assertEquals(3, creates("payments-signing"), "one create per version, none repeated by the new leader");
    }

    @Test
    @Order(7)
    void aDrainEvictsOneReplicaAtATime() throws Exception {
        // kubectl drain cordons the node, then evicts. The chart's PodDisruptionBudget (minAvailable 1) lets the first
        // replica go; its replacement cannot start on the cordoned node, so the second eviction is refused (429) and
        // one replica, the leader here, keeps reconciling until the first is back.
        // From the end of the upgrade's rollout: while it runs, a third pod counts in the budget.
        TestCluster.kubectlOk("rollout", "status", "-n", Installation.SYSTEM, "deployment/hsm-operator", "--timeout=" + WAIT.toSeconds() + "s");
        await().atMost(WAIT).until(() -> installation.pods().size() == 2 && installation.readyPods().size() == 2);
        String node = admin.nodes().list().getItems().get(0).getMetadata().getName();
        var budget = admin.policy().v1().podDisruptionBudget().inNamespace(Installation.SYSTEM).withName("hsm-operator");
        await().atMost(WAIT).until(() -> budget.get().getStatus() != null && budget.get().getStatus().getDisruptionsAllowed() == 1);
        String leader = installation.leader();
        String standby = installation.readyPods().stream().map(p -> p.getMetadata().getName()).filter(n -> !n.equals(leader))
                .findFirst().orElseThrow();
        admin.nodes().withName(node).edit(n -> { n.getSpec().setUnschedulable(true); return n; });
        try {
            assertTrue(admin.pods().inNamespace(Installation.SYSTEM).withName(standby).evict(), "the budget lets the standby go");
            assertFalse(admin.pods().inNamespace(Installation.SYSTEM).withName(leader).evict(),
                    "the budget refuses the leader's eviction while the standby's replacement cannot start");
            assertEquals(leader, installation.leader(), "the leader kept its lease");
            assertTrue(installation.pod(leader).getMetadata().getDeletionTimestamp() == null, "the leader was not told to stop");
        } finally {
            admin.nodes().withName(node).edit(n -> { n.getSpec().setUnschedulable(false); return n; });
        }
        TestCluster.kubectlOk("rollout", "status", "-n", Installation.SYSTEM, "deployment/hsm-operator", "--timeout=" + WAIT.toSeconds() + "s");
        await().atMost(WAIT).until(() -> installation.readyPods().size() == 2);
    }

    @Test
    @Order(8)
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
        String leader = installation.leader();
        ContainerStatus before = Installation.operatorContainer(installation.pod(leader));
        int atKill = bulkKeysInAzure();
        Node.kill(before.getContainerID());
        TestCluster.kubectlOk("wait", "-n", APPS, "--for=condition=Ready", "hsmkeys", "--all", "--timeout=240s");
        System.out.printf("e2e: killed the leader's container with %d of %d keys created; all Ready after the handover%n", atKill, BULK);
        // The kubelet restarted the container in the same pod, and says how it ended.
        ContainerStatus after = await().atMost(WAIT).until(() -> Installation.operatorContainer(installation.pod(leader)),
                c -> c.getRestartCount() > before.getRestartCount() && Boolean.TRUE.equals(c.getReady()));
        assertEquals(137, after.getLastState().getTerminated().getExitCode(), "ended by SIGKILL (128 + 9)");
        for (int i = 0; i < BULK; i++) {
            String name = "bulk-%02d".formatted(i);
            assertEquals(1, versions(name), name + " has exactly one version");
            assertEquals(1, creates(name), name + " was created exactly once");
        }
    }

    @Test
    @Order(9)
    void uninstallLeavesAzureAsEachDeletionPolicySays() throws Exception {
        // As the README says: the resources first, while the operator still runs to honour their deletion policies.
        TestCluster.kubectlOk("delete", "-n", APPS, "hsmrestores,hsmbackups,hsmroleassignments,hsmroledefinitions,hsmdiagnostics,privateendpoints,hsmkeys", "--all",
                "--timeout=" + WAIT.toSeconds() + "s");
        TestCluster.kubectlOk("delete", "-n", APPS, "managedhsms", "--all", "--timeout=" + WAIT.toSeconds() + "s");
        State.Hsm hsm = emulator.inspect(s -> s.hsms.get(HSM_NAME));
        assertTrue(hsm != null, "ManagedHsm deletionPolicy Retain: the HSM stays");
        long keptKeys = emulator.inspect(s -> s.hsms.get(HSM_NAME).keys.values().stream().filter(k -> k.deletedDate == null).count());
        assertEquals(BULK + 1, keptKeys, "HsmKey deletionPolicy Retain (the default): every key stays");
        boolean granted = emulator.inspect(s -> s.hsms.get(HSM_NAME).roleAssignments.values().stream()
                .anyMatch(a -> a.principalId.equals(WORKLOAD_PRINCIPAL)));
        assertFalse(granted, "HsmRoleAssignment deletionPolicy Delete: the grant is revoked");
        boolean customRole = emulator.inspect(s -> s.hsms.get(HSM_NAME).customRoles.values().stream()
                .anyMatch(d -> d.path("properties").path("roleName").asText().equals("payments key rotator")));
        assertFalse(customRole, "HsmRoleDefinition deletionPolicy Delete: the custom role is removed, after the assignment using it");
        boolean endpoints = emulator.inspect(s -> s.privateEndpoints.isEmpty());
        assertTrue(endpoints, "PrivateEndpoint deletionPolicy Delete");
        boolean settings = emulator.inspect(s -> s.diagnosticSettings.isEmpty());
        assertTrue(settings, "HsmDiagnostics deletionPolicy Delete");

        // helm uninstall: the kubelet stops the Deployment's pods, the release's objects go, the CRDs stay.
        List<String> running = installation.pods().stream().map(p -> p.getMetadata().getName()).toList();
        java.time.LocalDateTime uninstallStarted = java.time.LocalDateTime.now(java.time.ZoneOffset.UTC);
        installation.helmUninstall();
        await().atMost(WAIT).until(() -> installation.pods().isEmpty());
        for (String p : running) {
            assertStoppedBySigterm(p);
        }
        assertEquals(io.hsmoperator.api.Kinds.ALL.size(), admin.apiextensions().v1().customResourceDefinitions().list().getItems().stream()
                .filter(c -> c.getSpec().getGroup().equals("hsmoperator.io")).count(), "helm uninstall keeps the CRDs");

        // Every call the operator made was allowed by the chart's RBAC: a missing rule shows as a refusal in its log. Only
        // until helm uninstall began: it deletes the Roles together with the Deployment, so a standby still trying for
        // the lease before its SIGTERM arrives is refused, which says nothing of the rules.
        for (Map.Entry<String, String> log : installation.logs.all().entrySet()) {
            String beforeUninstall = linesBefore(log.getValue(), uninstallStarted);
            Matcher forbidden = Pattern.compile(".*(is forbidden|Forbidden).*").matcher(beforeUninstall);
            assertFalse(forbidden.find(), log.getKey() + " was refused by the API server: " + (forbidden.find(0) ? forbidden.group() : ""));
        }
    }

    /**
     * The operator in pod {@code name} ran its shutdown when the kubelet sent SIGTERM: Quarkus logs that it stopped, which
     * neither SIGKILL at the end of the grace period nor a crash would let it write.
     */
    private static final Pattern LOG_TIME = Pattern.compile("^(\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2},\\d{3}) ");

    /** The log's lines up to the first record stamped at or after {@code cutoff} (the pods log in UTC, as this machine). */
    private static String linesBefore(String log, java.time.LocalDateTime cutoff) {
        java.time.format.DateTimeFormatter f = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss,SSS");
        StringBuilder kept = new StringBuilder();
        for (String line : log.split("\n")) {
            Matcher m = LOG_TIME.matcher(line);
            if (m.find() && !java.time.LocalDateTime.parse(m.group(1), f).isBefore(cutoff)) {
                break;
            }
            kept.append(line).append('\n');
        }
        return kept.toString();
    }

    private void assertStoppedBySigterm(String name) {
        await().atMost(Duration.ofSeconds(30)).until(() -> installation.pod(name) == null);
        String log = installation.logs.of(name);
        assertTrue(Pattern.compile(" stopped in [0-9.]+s").matcher(log).find(),
                name + " stops on SIGTERM, running its shutdown:\n" + tail(log));
    }

    private static String tail(String log) {
        return log.length() > 3000 ? log.substring(log.length() - 3000) : log;
    }

    // ---- the chart ----------------------------------------------------------------------------------

    /** Shorter than production so the suite runs in minutes; passed as users pass any other setting (extraEnv). */
    private static final Map<String, String> SETTINGS = Map.of("HSM_RECONCILE_POLL", "PT0.5S", "HSM_RECONCILE_MAX_BACKOFF", "PT5S",
            "HSM_RECONCILE_RESYNC", "PT30S", "HSM_RECONCILE_DRIFT_INTERVAL", "PT" + DRIFT.toSeconds() + "S",
            "HSM_ROLE_ASSIGNMENTS_PROPAGATION", "PT2S", "HSM_LEADER_ELECTION_LEASE_DURATION", "PT" + LEASE.toSeconds() + "S",
            "HSM_LEADER_ELECTION_RENEW_DEADLINE", "PT4S", "HSM_LEADER_ELECTION_RETRY_PERIOD", "PT1S");

    private static String env(Pod pod, String name) {
        return pod.getSpec().getContainers().get(0).getEnv().stream().filter(e -> e.getName().equals(name)).map(EnvVar::getValue)
                .findFirst().orElse(null);
    }

    /** The sum of a metric's samples whose labels include {@code label} (the Prometheus text format). */
    private static long metric(String metrics, String name, String label) {
        long total = 0;
        Matcher m = Pattern.compile("(?m)^" + name + "\\{([^}]*)} ([0-9.eE+-]+)$").matcher(metrics);
        while (m.find()) {
            double v = Double.parseDouble(m.group(2));
            if (m.group(1).contains(label) && v > 0) {
                total += (long) v;
            }
        }
        return total;
    }

    // ---- what the test looks at -------------------------------------------------------------------------

    private String publishedKeyId() {
        return admin.configMaps().inNamespace(APPS).withName("payments-signing-key").require().getData().get("keyId");
    }

    /**
     * As {@code kubectl annotate --overwrite} does: a merge patch without a resourceVersion, so the operator's own status
     * writes in the meantime cannot make it fail with a conflict.
     */
    private void rotateNow(String token) {
        admin.resources(HsmKey.class).inNamespace(APPS).withName("payments-signing").patch(PatchContext.of(PatchType.JSON_MERGE),
                JSON.createObjectNode().set("metadata", JSON.createObjectNode().set("annotations",
                        JSON.createObjectNode().put(Conditions.ROTATE_NOW_ANNOTATION, token))).toString());
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
