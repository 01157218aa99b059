package io.hsmoperator.reconciler;

import io.hsmoperator.emulator.Emulator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged operator (target/quarkus-app, what the image runs) as its own process, as a pod would run it: real-Azure
 * mode against this JVM's emulator as a custom cloud, signed in as {@code principal} with the client secret in a Secret.
 */
final class PackagedOperator {
    private PackagedOperator() {
    }

    /** The settings every such process takes: Azure (the emulator), its identity, and the operator tests' short intervals. */
    static Map<String, String> properties(Map<String, String> kubernetes, Emulator emulator, Emulator.Principal principal, String secretRef) {
        Map<String, String> props = new LinkedHashMap<>(kubernetes);
        props.put("hsm.azure.mode", "azure");
        props.put("hsm.azure.cloud", "custom");
        props.put("hsm.azure.arm-endpoint", emulator.armEndpoint());
        props.put("hsm.azure.authority-host", emulator.authorityHost());
        props.put("hsm.azure.ca-bundle", emulator.caCertificatePath().toAbsolutePath().toString());
        props.put("hsm.azure.tenant-id", emulator.tenantId());
        props.put("hsm.azure.client-id", principal.clientId());
        props.put("hsm.azure.credential", "client-secret");
        props.put("hsm.azure.client-secret-ref", secretRef);
        props.put("hsm.tenancy.managed-hsm-namespaces", "t*=" + OperatorTestBase.SUBSCRIPTION + "/rg-*");
        props.put("hsm.tenancy.private-endpoint-subnets", "t*=/subscriptions/" + OperatorTestBase.SUBSCRIPTION + "/*");
        props.put("hsm.tenancy.private-dns-zones", "t*=/subscriptions/" + OperatorTestBase.SUBSCRIPTION + "/*");
        props.put("hsm.reconcile.poll", "PT0.3S");
        props.put("hsm.reconcile.resync", "PT3S");
        props.put("hsm.reconcile.key-full-read", "PT3S");
        props.put("hsm.reconcile.max-backoff", "PT5S");
        // Its own spool, not the default under /tmp that every process on the machine would share.
        props.put("hsm.security-domain.spool-dir", Path.of("target", "packaged-spool", java.util.UUID.randomUUID().toString())
                .toAbsolutePath().toString());
        return props;
    }

    /** The lease the leader-election tests give every replica: short, so that handovers take seconds. */
    static final Duration LEASE = Duration.ofSeconds(6);
    static final Duration RENEW_DEADLINE = Duration.ofSeconds(4);

    /** Adds leader election on a Lease in {@code namespace} as {@code identity}, with {@link #LEASE} and {@link #RENEW_DEADLINE}. */
    static Map<String, String> withLeaderElection(Map<String, String> props, String namespace, String identity) {
        props.put("hsm.cluster-id", "test-cluster");
        props.put("hsm.leader-election.identity", identity);
        return withShortLease(props, namespace);
    }

    /**
     * The Lease in {@code namespace}, with {@link #LEASE} and {@link #RENEW_DEADLINE}: the successor of a killed process
     * leads seconds after it, not the production 15 s, and no other test's process holds it.
     */
    static Map<String, String> withShortLease(Map<String, String> props, String namespace) {
        props.put("hsm.leader-election.namespace", namespace);
        props.put("hsm.leader-election.lease-duration", "PT" + LEASE.toSeconds() + "S");
        props.put("hsm.leader-election.renew-deadline", "PT" + RENEW_DEADLINE.toSeconds() + "S");
        props.put("hsm.leader-election.retry-period", "PT1S");
        // A write leaves only while the lease stays valid for longer than it may take: below the lease duration less the
        // retry period (the default 8 s never would).
        props.put("hsm.azure.write-timeout", "PT3S");
        return props;
    }

    /**
     * Starts it as a pod would run it, watching {@code namespace} only (its Lease there, {@link #withShortLease}), signed in as the emulator's built-in principal with
     * the client secret in Secret azure-credentials of that namespace, its output in {@code log}.
     */
    static Process watching(Emulator emulator, String namespace, Path log) throws IOException {
        return watching(emulator, namespace, log, Map.of());
    }

    /** As {@link #watching(Emulator, String, Path)}, with {@code settings} over the test settings. */
    static Process watching(Emulator emulator, String namespace, Path log, Map<String, String> settings) throws IOException {
        Map<String, String> props = properties(io.hsmoperator.kube.TestCluster.server().quarkusClientProperties(), emulator,
                emulator.builtInPrincipal(), namespace + "/azure-credentials");
        props.put("quarkus.http.port", "0");
        props.put("quarkus.operator-sdk.namespaces", namespace);
        withShortLease(props, namespace);
        props.putAll(settings);
        return launch(props, log);
    }

    /** Starts it with {@code props}, its output in {@code log}. */
    static Process launch(Map<String, String> props, Path log) throws IOException {
        Path jar = Path.of("../operator/target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.exists(jar), "the packaged operator (mvn package) is needed: " + jar.toAbsolutePath());
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("-Xmx256m");
        props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-jar");
        cmd.add(jar.toString());
        Files.createDirectories(log.getParent());
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
