package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.kube.TcpProxy;
import io.hsmoperator.kube.TestCluster;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged operator, as its own process with leader election, reaches the API server through a proxy that goes
 * silent (forwards nothing, closes nothing: a partition, not a refusal) while Azure answers the security-domain
 * download, for longer than the lease's renew deadline. The process loses its lease and halts (or, if it does not,
 * is killed, as a liveness probe would); a new process with the same spool directory (the pod's emptyDir) starts.
 * The operator inside this test JVM only hosts the emulator; it watches a namespace nobody uses.
 */
@QuarkusTest
@TestProfile(LeaderElectionIT.Elsewhere.class)
class SecurityDomainOutageIT extends OperatorTestBase {
    private static final Duration LEASE = PackagedOperator.LEASE;
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String LEASE_NAME = "hsm-operator-leader";
    private final List<Process> processes = new ArrayList<>();
    private TcpProxy proxy;

    @AfterEach
    void stop() throws IOException {
        processes.forEach(Process::destroyForcibly);
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void aSecurityDomainDownloadedWhileTheApiServerIsSilentIsStoredOnceByTheRestartedProcess() throws Exception {
        URI api = URI.create(TestCluster.server().quarkusClientProperties().get("quarkus.kubernetes-client.api-server-url"));
        proxy = new TcpProxy(api.getHost(), api.getPort());
        Path spool = Path.of("target", "security-domain-outage", ns, "spool");
        client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("azure-credentials").endMetadata()
                .addToStringData("clientSecret", emulator.builtInPrincipal().clientSecret()).build()).create();
        apply(officersSecret("sd-officers", 3, "2"));
        String azureName = uniqueHsmName("silent");
        // Azure answers the download well after the renew deadline (and after the client's 10 s request timeout, which is
        // when the operator notices that it could not renew): the lease is lost while the answer is on its way.
        emulator.controls().addFault(Controls.Fault.delay("POST", azureName, ".*securitydomain/download.*", 16000, 1));

        Process first = operator("first", spool);
        await().atMost(WAIT).until(() -> "first".equals(holder()));
        apply(managedHsm("sd", azureName));
        // The operator creates the Secret just before it sends the download: then the API server goes silent.
        String output = "sd-security-domain";
        await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> client.secrets().inNamespace(ns).withName(output).get() != null);
        proxy.blackhole();
        boolean halted;
        try {
            await().atMost(Duration.ofSeconds(40)).until(() -> downloads() == 1);
            await().atMost(Duration.ofSeconds(10)).until(() -> !spooled(spool).isEmpty());
            assertEquals(List.of("rw-------"), spooled(spool), "the blob waits on disk, readable by the operator alone");
            halted = first.waitFor(30, TimeUnit.SECONDS);
            if (!halted) {
                first.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            System.out.printf("security-domain outage: the first operator %s%n", halted ? "halted on losing its lease (exit "
                    + first.exitValue() + ")" : "was still running 30 s after the download and was killed");
            Secret during = client.secrets().inNamespace(ns).withName(output).get();
            assertFalse(during.getData() != null && during.getData().containsKey(ManagedHsmReconciler.BLOB_KEY),
                    "the API server was silent: the blob could not be stored");
        } finally {
            proxy.restore();
        }

        operator("second", spool);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "sd", "Ready", "True", null, WAIT);
        assertEquals(output, ready.getStatus().securityDomainSecret);
        Secret stored = client.secrets().inNamespace(ns).withName(output).get();
        String blob = new String(Base64.getDecoder().decode(stored.getData().get(ManagedHsmReconciler.BLOB_KEY)), StandardCharsets.UTF_8);
        assertTrue(blob.contains("\"enc_shares\""), "the security domain Azure answered is stored");
        assertEquals(ready.getStatus().resourceId, stored.getMetadata().getAnnotations().get("hsmoperator.io/hsm-resource-id"));
        Thread.sleep(LEASE.toMillis());
        assertEquals(1L, downloads(), "downloaded once: the restarted operator stored the spooled copy");
        assertEquals(1L, events().stream().filter(e -> e.getReason().equals("SecurityDomainStored")).count(), "stored once");
        assertEquals(List.of(), spooled(spool), "stored, so no longer spooled");
        String share = blob.substring(blob.indexOf("enc_key"), blob.indexOf("enc_key") + 60);
        for (Path log : List.of(log("first"), log("second"))) {
            assertFalse(Files.readString(log).contains(share), "no log line quotes the blob: " + log);
        }
    }

    private long downloads() {
        return journalSinceMark(e -> e.method().equals("POST") && e.path().contains("securitydomain/download") && e.status() < 300).size();
    }

    /** The permissions of each file the spool holds. */
    private static List<String> spooled(Path spool) throws IOException {
        if (!Files.isDirectory(spool)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(spool)) {
            List<String> out = new ArrayList<>();
            for (Path f : files.filter(f -> f.toString().endsWith(".json")).toList()) {
                out.add(PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
            }
            return out;
        }
    }

    private String holder() {
        Lease lease = client.leases().inNamespace(ns).withName(LEASE_NAME).get();
        return lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
    }

    private Path log(String identity) {
        return Path.of("target", "security-domain-outage", ns, identity + ".log");
    }

    /** The packaged operator as a pod would run it, reaching the API server through the proxy, with {@code spool} as its emptyDir. */
    private Process operator(String identity, Path spool) throws IOException {
        Map<String, String> props = PackagedOperator.properties(TestCluster.server().quarkusClientProperties(), emulator,
                emulator.builtInPrincipal(), ns + "/azure-credentials");
        URI api = URI.create(props.get("quarkus.kubernetes-client.api-server-url"));
        props.put("quarkus.kubernetes-client.api-server-url", api.getScheme() + "://" + api.getHost() + ":" + proxy.port());
        props.put("quarkus.http.port", "0");
        props.put("hsm.security-domain.spool-dir", spool.toAbsolutePath().toString());
        PackagedOperator.withLeaderElection(props, ns, identity);
        Process p = PackagedOperator.launch(props, log(identity));
        processes.add(p);
        return p;
    }
}
