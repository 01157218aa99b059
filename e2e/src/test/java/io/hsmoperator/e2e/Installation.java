package io.hsmoperator.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.chart.Chart;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.kube.TestCluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The operator installed on the test cluster as the README's AKS steps install it, against an emulator: the operator's
 * Azure identity with the shipped ARM role and a federated credential for the chart's ServiceAccount, the emulator's
 * Entra trusting the API server's service-account issuer, the chart rendered and applied in {@link #SYSTEM}, and pods of
 * its Deployment run as processes ({@link Pod}).
 */
final class Installation implements AutoCloseable {
    static final String SYSTEM = "hsm-system";
    static final String SUBSCRIPTION = "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f";
    /** The sample HSM's initial administrators, the security team (config/samples/managedhsm.yaml). */
    static final String SAMPLE_HSM_ADMIN = "7a1c3e5f-2b4d-4f6a-8c9e-0d1f2a3b4c5d";
    private static final ObjectMapper JSON = new ObjectMapper();

    final KubernetesClient admin;
    final Emulator emulator;
    final Emulator.Principal operatorIdentity;
    /** The API server's service-account issuer, which the emulator's Entra trusts. */
    final String issuer;
    final Path dir;
    private final String apps;
    /** The pods running now, by name, and every pod that ever ran. */
    final Map<String, Pod> pods = new LinkedHashMap<>();
    final List<Pod> everyPod = new ArrayList<>();
    private int podSerial;

    /** Prepares the cluster and Azure for a release whose ManagedHsms live in namespace {@code apps}. */
    Installation(EmulatorConfig emulatorConfig, Path dir, String apps) throws Exception {
        this.admin = TestCluster.admin();
        this.emulator = Emulator.start(emulatorConfig.withTestControls(true));
        this.dir = dir;
        this.apps = apps;
        if (Files.exists(dir)) {
            try (var files = Files.walk(dir)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(f);
                }
            }
        }
        Files.createDirectories(dir);
        for (String ns : List.of(SYSTEM, apps)) {
            admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).serverSideApply();
            admin.serviceAccounts().inNamespace(ns).resource(new ServiceAccountBuilder().withNewMetadata().withName("default").endMetadata()
                    .build()).serverSideApply();
        }
        // An AKS cluster's OIDC issuer is public; here the API server serves discovery and keys to anonymous callers.
        admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
                .withName("e2e-service-account-issuer-discovery").endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
                .withKind("ClusterRole").withName("system:service-account-issuer-discovery").endRoleRef().addNewSubject()
                .withApiGroup("rbac.authorization.k8s.io").withKind("Group").withName("system:unauthenticated").endSubject().build())
                .serverSideApply();

        operatorIdentity = emulator.registerPrincipal("hsm-operator");
        String role = emulator.defineArmRole(Path.of("../config", "azure", "hsm-operator-arm-role.json"));
        emulator.assignArmRole(operatorIdentity.objectId(), role, "/subscriptions/" + SUBSCRIPTION);
        admin.serviceAccounts().inNamespace("default").resource(new ServiceAccountBuilder().withNewMetadata().withName("issuer-probe")
                .endMetadata().build()).serverSideApply();
        String probe = Pod.token(admin, "default", "issuer-probe", Pod.AZURE_AUDIENCE);
        issuer = JSON.readTree(Base64.getUrlDecoder().decode(probe.split("\\.")[1])).path("iss").asText();
        try (var in = Files.newInputStream(Path.of(admin.getConfiguration().getCaCertFile()))) {
            emulator.trustIssuer(issuer, java.net.URI.create(admin.getConfiguration().getMasterUrl()),
                    (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        emulator.addFederatedCredential(operatorIdentity.clientId(), issuer, "system:serviceaccount:" + SYSTEM + ":hsm-operator");
        admin.configMaps().inNamespace(SYSTEM).resource(new ConfigMapBuilder().withNewMetadata().withName("azure-ca").endMetadata()
                .addToData("ca.crt", emulator.caPem()).build()).serverSideApply();
    }

    /** helm install / helm upgrade: the rendered objects applied (these upgrades only add and change objects). */
    void helmApply(Map<String, String> values, Map<String, String> env) {
        for (JsonNode d : render(values, env)) {
            admin.resource(resource(d)).forceConflicts().serverSideApply();
        }
    }

    /** helm uninstall: the release's objects deleted (the CRDs, in the chart's crds/, stay). */
    void helmUninstall(Map<String, String> values, Map<String, String> env) {
        for (JsonNode d : render(values, env)) {
            admin.resource(resource(d)).delete();
        }
    }

    /** The chart with the values that point it at the emulator, {@code values}, and {@code env} as extraEnv. */
    List<JsonNode> render(Map<String, String> values, Map<String, String> env) {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("azure.workloadIdentity.clientId", operatorIdentity.clientId());
        v.put("azure.cloud", "custom");
        v.put("azure.armEndpoint", emulator.armEndpoint());
        v.put("azure.authorityHost", emulator.authorityHost());
        v.put("azure.caBundle.configMap", "azure-ca");
        // The suite's leases are 6 s: a write must fit within the lease less the retry period, or none would ever leave
        // (the chart sets HSM_AZURE_WRITE_TIMEOUT from this value; an extraEnv of the same name would duplicate it).
        v.put("azure.writeTimeout", "PT3S");
        v.put("tenancy.managedHsmNamespaces[0]", apps + "=" + SUBSCRIPTION + "/rg-*");
        v.put("tenancy.privateEndpointSubnets[0]", apps + "=/subscriptions/" + SUBSCRIPTION + "/*");
        v.put("tenancy.privateDnsZones[0]", apps + "=/subscriptions/" + SUBSCRIPTION + "/*");
        int i = 0;
        for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
            v.put("extraEnv[" + i + "].name", e.getKey());
            v.put("extraEnv[" + i + "].value", e.getValue());
            i++;
        }
        v.putAll(values);
        return Chart.render(SYSTEM, v);
    }

    JsonNode deployment() {
        return JSON.valueToTree(admin.apps().deployments().inNamespace(SYSTEM).withName("hsm-operator").require());
    }

    /** A pod of the Deployment as it is in the API server now, named as its ReplicaSet would name it. */
    Pod startPod() throws Exception {
        String name = "hsm-operator-" + (char) ('a' + podSerial++);
        Pod p = Pod.start(admin, deployment(), name, emulator.tenantId(), emulator.authorityHost(), dir);
        pods.put(name, p);
        everyPod.add(p);
        return p;
    }

    /** The running pod whose replica holds the lease (its identity is the pod name and a suffix per process). */
    Pod leader() {
        Lease lease = admin.leases().inNamespace(SYSTEM).withName("hsm-operator-leader").get();
        String holder = lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
        return holder == null ? null : pods.values().stream().filter(p -> holder.startsWith(p.name + "-")).findFirst().orElse(null);
    }

    /**
     * The keys of an HSM as one of its administrators reaches them with the Azure SDK, outside the operator (the portal,
     * a script): {@code adminObjectId} is one of the HSM's initial administrators, who grants itself Crypto User.
     */
    com.azure.security.keyvault.keys.KeyClient portal(String hsmUri, String adminObjectId) {
        if (!emulator.inspect(s -> s.principals.containsKey(adminObjectId))) {
            emulator.registerPrincipal("HSM administrator", adminObjectId);
        }
        String clientId = emulator.inspect(s -> s.principals.get(adminObjectId).clientId);
        String secret = emulator.inspect(s -> s.principals.get(adminObjectId).clientSecret);
        var http = io.hsmoperator.azure.AzureHttpClients.create(List.of(emulator.caCertificate()), java.time.Duration.ofSeconds(30));
        var credential = new com.azure.identity.ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(clientId).clientSecret(secret).disableInstanceDiscovery().httpClient(http).build();
        try {
            new com.azure.security.keyvault.administration.KeyVaultAccessControlClientBuilder().vaultUrl(hsmUri).credential(credential)
                    .httpClient(http).disableChallengeResourceVerification().buildClient()
                    .createRoleAssignment(com.azure.security.keyvault.administration.models.KeyVaultRoleScope.KEYS,
                            io.hsmoperator.emulator.HsmFixtures.CRYPTO_USER, adminObjectId);
        } catch (RuntimeException alreadyGranted) {
            // a second portal for the same administrator
        }
        var keys = new com.azure.security.keyvault.keys.KeyClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
        // The grant takes effect after the emulated propagation.
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60)).ignoreExceptions()
                .untilAsserted(() -> keys.listPropertiesOfKeys().iterator().hasNext());
        return keys;
    }

    private static GenericKubernetesResource resource(JsonNode d) {
        return Serialization.unmarshal(d.toString(), GenericKubernetesResource.class);
    }

    @Override
    public void close() {
        pods.values().forEach(Pod::close);
        emulator.close();
    }
}
