package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.State;
import io.hsmoperator.kube.TcpProxy;
import io.hsmoperator.kube.TestCluster;
import io.hsmoperator.rotation.RotationSchedule;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two replicas of the packaged operator (separate processes, as two pods would be) against one API server and one
 * emulator: only the holder of the Lease acts, a killed leader is replaced within the lease duration, a rotation
 * the killed leader started is finished by the next one exactly once, and a leader cut off from the API server writes
 * nothing to Azure once its renew deadline has passed. The operator inside this test JVM only hosts the emulator; it
 * watches a namespace nobody uses.
 */
@QuarkusTest
@TestProfile(LeaderElectionIT.Elsewhere.class)
class LeaderElectionIT extends OperatorTestBase {
    private static final Duration LEASE = PackagedOperator.LEASE;
    private static final Duration RENEW_DEADLINE = PackagedOperator.RENEW_DEADLINE;
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String LEASE_NAME = "hsm-operator-leader";
    private final List<Process> replicas = new ArrayList<>();

    public static class Elsewhere implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("quarkus.operator-sdk.namespaces", "leader-election-elsewhere");
        }
    }

    @AfterEach
    void stopReplicas() {
        replicas.forEach(Process::destroyForcibly);
    }

    @Test
    void onlyTheLeaderActsAndAKilledLeaderIsReplacedWithoutASecondRotation() throws Exception {
        client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("azure-credentials").endMetadata()
                .addToStringData("clientSecret", emulator.builtInPrincipal().clientSecret()).build()).create();
        Map<String, Process> byName = new LinkedHashMap<>();
        byName.put("replica-a", replica("replica-a"));
        byName.put("replica-b", replica("replica-b"));
        String leader = await().atMost(WAIT).until(this::holder, h -> h != null && byName.containsKey(h));
        String standby = byName.keySet().stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();
        // A standby watches like the leader and only does not reconcile: it is ready too, or a rolling update of two
        // replicas would wait for it forever (the chart's readiness probe reads this endpoint).
        await().atMost(WAIT).untilAsserted(() -> {
            assertEquals(200, health(standby, "ready"), "the standby is ready");
            assertEquals(200, health(leader, "ready"), "the leader is ready");
        });
        assertEquals(200, health(standby, "live"));
        assertEquals(200, health(standby, "started"));

        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = hsmKey("signing", "hsm", HsmKeySpec.KeyType.EC_HSM);
        apply(key);
        awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
        assertEquals(Set.of(leader), reporters(), "every event was reported by the leader; the standby did nothing");

        // The leader creates the new version, then cannot record it (the API server refuses the key's status), and dies.
        String probe = "{}";
        try (AdmissionRefusal refused = admissionRefuses(ns + "-handover", "hsmoperator.io", "hsmkeys/status", "UPDATE",
                "object.metadata.name != 'signing'", () -> client.resources(HsmKey.class).inNamespace(ns).withName("signing")
                        .subresource("status").patch(PatchContext.of(PatchType.JSON_MERGE), probe))) {
            HsmKey k = get(HsmKey.class, "signing");
            k.getMetadata().setAnnotations(Map.of(Conditions.ROTATE_NOW_ANNOTATION, "handover"));
            update(k);
            await().atMost(WAIT).until(() -> versions(hsm).size() == 2);
            byName.get(leader).destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        long killed = System.nanoTime();
        await().atMost(LEASE.multipliedBy(3)).pollInterval(Duration.ofMillis(100)).until(() -> standby.equals(holder()));
        Duration handover = Duration.ofNanos(System.nanoTime() - killed);
        System.out.printf("leader election: %s took over %d ms after %s was killed (lease duration %d s)%n", standby,
                handover.toMillis(), leader, LEASE.toSeconds());
        assertTrue(handover.compareTo(LEASE.plusSeconds(3)) < 0, "handed over within the lease duration (and a retry): " + handover);

        await().atMost(WAIT).until(() -> get(HsmKey.class, "signing"), x -> x.getStatus() != null
                && "handover".equals(x.getStatus().lastRotateNowToken) && Integer.valueOf(2).equals(x.getStatus().versionCount));
        Thread.sleep(LEASE.toMillis());
        List<State.KeyVersion> versions = versions(hsm);
        assertEquals(2, versions.size(), "the version the dead leader made was found by its marker, not made again");
        assertEquals("handover", versions.get(1).tags.get(RotationSchedule.ROTATE_NOW_TAG));
        // The leader may die between Azure's answer and its event: the event can be lost, the version cannot be doubled.
        assertTrue(events().stream().filter(e -> e.getReason().equals("KeyRotated")).count() <= 1, "one rotation at most reported");
        assertEquals(2, journalSinceMark(e -> e.method().equals("POST") && e.path().startsWith("/keys/signing/create")
                && e.status() < 300).size(), "one create for the key and one for the rotation, none after the handover");
        HsmKey edited = get(HsmKey.class, "signing");
        edited.getSpec().tags = Map.of("after", "handover");
        update(edited);
        await().atMost(WAIT).until(() -> "handover".equals(versions(hsm).get(1).tags.get("after")));
        await().atMost(WAIT).until(() -> events().stream().anyMatch(e -> e.getReason().equals("KeyUpdated")));
        assertEquals(Set.of(standby), events().stream().filter(e -> e.getReason().equals("KeyUpdated")).map(Event::getReportingInstance)
                .collect(java.util.stream.Collectors.toSet()), "the new leader acts, and says so");

        // A leader that can no longer renew its lease (cut off from the API server) stops acting before another takes
        // over: it halts, and a third replica leads.
        Process third = replica("replica-c");
        Process cutOff = byName.get(standby);
        try (AdmissionRefusal noRenewal = admissionRefuses(ns + "-renewal", "coordination.k8s.io", "leases", "UPDATE",
                "object.spec.holderIdentity != '" + standby + "'", () -> client.leases().inNamespace(ns).withName(LEASE_NAME).dryRun()
                        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"holderIdentity\":\"" + standby + "\"}}"))) {
            assertTrue(cutOff.waitFor(30, TimeUnit.SECONDS), "a leader that cannot renew its lease exits");
            assertEquals(1, cutOff.exitValue());
            await().atMost(WAIT).until(() -> "replica-c".equals(holder()));
        }

        // A replica told to stop (a rolling update) exits promptly instead of hanging in its shutdown.
        third.destroy();
        assertTrue(third.waitFor(30, TimeUnit.SECONDS), "the replica exits within 30 s of SIGTERM");
    }

    /**
     * The leader reaches the API server through a proxy that starts dropping every byte (a partition: no answer, no
     * closed connection) while rotations are due on many keys of one HSM. Managed HSM takes one key creation a second,
     * so the leader's rotations wait in line for their slots and would go on leaving after its renew deadline, from
     * its cache, while its elector waits for the API server. Each replica signs in to Azure as its own principal, so
     * the journal tells their writes apart.
     */
    @Test
    void aLeaderCutOffFromTheApiServerWritesNothingAfterItsRenewDeadlineAndEachRotationDueIsMadeOnce() throws Exception {
        Emulator.Principal first = emulator.builtInPrincipal();
        Emulator.Principal second = emulator.registerPrincipal("replica-b of the operator");
        emulator.assignArmRole(second.objectId(), "Owner", "/");
        for (var p : Map.of("azure-credentials", first, "azure-credentials-b", second).entrySet()) {
            client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName(p.getKey()).endMetadata()
                    .addToStringData("clientSecret", p.getValue().clientSecret()).build()).create();
        }
        URI api = URI.create(TestCluster.server().quarkusClientProperties().get("quarkus.kubernetes-client.api-server-url"));
        try (TcpProxy proxy = new TcpProxy(api.getHost(), api.getPort())) {
            Process leader = replica("replica-a", first, "azure-credentials", api.getScheme() + "://" + api.getHost() + ":" + proxy.port());
            await().atMost(WAIT).until(() -> "replica-a".equals(holder()));
            Process standby = replica("replica-b", second, "azure-credentials-b", null);

            // Both replicas administer the HSM, as both would with the one identity of an installation.
            apply(officersSecret("hsm-officers", 3, "2"));
            ManagedHsm declared = managedHsm("hsm", uniqueHsmName("hsm"));
            declared.getSpec().initialAdminObjectIds = List.of(second.objectId());
            apply(declared);
            ManagedHsm hsm = awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", null, WAIT);
            List<String> keys = java.util.stream.IntStream.range(0, 8).mapToObj(i -> "signing-" + i).toList();
            for (String name : keys) {
                apply(hsmKey(name, "hsm", HsmKeySpec.KeyType.EC_HSM));
            }
            for (String name : keys) {
                awaitCondition(HsmKey.class, name, "Ready", "True", null, WAIT);
            }

            long before = emulator.controls().lastSequence();
            for (String name : keys) {
                HsmKey k = get(HsmKey.class, name);
                k.getMetadata().setAnnotations(Map.of(Conditions.ROTATE_NOW_ANNOTATION, "partition"));
                update(k);
            }
            java.util.function.Predicate<Controls.JournalEntry> byOldLeader = e -> e.seq() > before
                    && first.objectId().equals(e.principal()) && e.isWrite() && !e.endpoint().equals("entra");
            await().atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> !emulator.controls().journal(e -> byOldLeader.test(e)
                    && e.path().matches("/keys/signing-\\d/create")).isEmpty());

            proxy.blackhole();
            Instant cut = Instant.now();
            // Its last renewal was before the cut, so its renew deadline is at the latest this.
            Instant deadline = cut.plus(RENEW_DEADLINE);
            assertTrue(leader.waitFor(60, TimeUnit.SECONDS), "a leader that cannot renew its lease halts");
            Instant halted = Instant.now();
            assertEquals(List.of(), emulator.controls().journal(e -> byOldLeader.test(e) && e.time().isAfter(deadline)),
                    "the cut-off leader wrote nothing to Azure after its renew deadline");
            assertEquals(1, leader.exitValue());
            String log = Files.readString(replicaLog("replica-a"));
            assertTrue(log.contains("could not renew the leader lease") && log.contains("past the renew deadline"), "it says why");
            assertTrue(Duration.between(cut, halted).compareTo(RENEW_DEADLINE.plusSeconds(3)) < 0,
                    "it halted soon after its renew deadline, not when its blocked call to the API server gave up: "
                            + Duration.between(cut, halted));

            await().atMost(WAIT).until(() -> "replica-b".equals(holder()));
            for (String name : keys) {
                await().atMost(WAIT).until(() -> get(HsmKey.class, name), x -> x.getStatus() != null
                        && "partition".equals(x.getStatus().lastRotateNowToken));
            }
            Thread.sleep(LEASE.toMillis());
            for (String name : keys) {
                List<State.KeyVersion> versions = versions(hsm, name);
                assertEquals(2, versions.size(), name + ": one version for the key, one for the rotation due during the handover");
                assertEquals("partition", versions.get(1).tags.get(RotationSchedule.ROTATE_NOW_TAG));
            }
            assertTrue(standby.isAlive());
        }
    }

    private final Map<String, Integer> httpPorts = new LinkedHashMap<>();

    /** The status code of a replica's /q/health/{check}. */
    private int health(String identity, String check) throws Exception {
        try {
            return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                    "http://localhost:" + httpPorts.get(identity) + "/q/health/" + check)).timeout(Duration.ofSeconds(5)).build(),
                    java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        }
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private String holder() {
        Lease lease = client.leases().inNamespace(ns).withName(LEASE_NAME).get();
        return lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
    }

    private Set<String> reporters() {
        Set<String> out = new java.util.TreeSet<>();
        for (Event e : events()) {
            out.add(String.valueOf(e.getReportingInstance()));
        }
        return out;
    }

    private List<State.KeyVersion> versions(ManagedHsm hsm) {
        return versions(hsm, "signing");
    }

    private List<State.KeyVersion> versions(ManagedHsm hsm, String key) {
        return emulator.inspect(s -> {
            State.Key k = s.hsms.get(hsm.getSpec().azureName).keys.get(key);
            return k == null ? List.<State.KeyVersion>of() : new ArrayList<>(k.versions);
        });
    }

    private Process replica(String identity) throws IOException {
        return replica(identity, emulator.builtInPrincipal(), "azure-credentials", null);
    }

    private Path replicaLog(String identity) {
        return Path.of("target", "leader-election", ns + "-" + identity + ".log");
    }

    /**
     * The packaged operator as another pod would run it: real-Azure mode against this JVM's emulator, as a custom cloud,
     * signed in as {@code principal} (its client secret in Secret {@code secret}), reaching the API server at
     * {@code apiServer} (null: directly).
     */
    private Process replica(String identity, Emulator.Principal principal, String secret, String apiServer) throws IOException {
        Map<String, String> props = PackagedOperator.properties(TestCluster.server().quarkusClientProperties(), emulator,
                principal, ns + "/" + secret);
        if (apiServer != null) {
            props.put("quarkus.kubernetes-client.api-server-url", apiServer);
        }
        httpPorts.put(identity, freePort());
        props.put("quarkus.http.port", String.valueOf(httpPorts.get(identity)));
        PackagedOperator.withLeaderElection(props, ns, identity);
        Process p = PackagedOperator.launch(props, replicaLog(identity));
        replicas.add(p);
        return p;
    }
}
