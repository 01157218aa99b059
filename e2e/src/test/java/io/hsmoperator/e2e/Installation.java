package io.hsmoperator.e2e;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.UpgradeCommand;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.readiness.Readiness;
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
 * The operator installed on the real node as the README's AKS steps install it, against an emulator listening on the pod
 * network: the operator's Azure identity with the shipped ARM role and a federated credential for the chart's
 * ServiceAccount, the emulator's Entra trusting the API server's service-account issuer, the real workload-identity
 * webhook, and the chart installed by Helm in {@link #SYSTEM} with the image from the node's registry. The kubelet runs
 * the pods; {@link #logs} keeps what each of their containers wrote.
 */
final class Installation implements AutoCloseable {
    static final String SYSTEM = "hsm-system";
    static final String RELEASE = "hsm-operator";
    static final String SUBSCRIPTION = "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f";
    static final String AZURE_AUDIENCE = "api://AzureADTokenExchange";
    /** The sample HSM's initial administrators, the security team (config/samples/managedhsm.yaml). */
    static final String SAMPLE_HSM_ADMIN = "7a1c3e5f-2b4d-4f6a-8c9e-0d1f2a3b4c5d";
    private static final Map<String, String> PODS = Map.of("app.kubernetes.io/name", "hsm-operator", "app.kubernetes.io/instance", RELEASE);
    private static final ObjectMapper JSON = new ObjectMapper();

    final KubernetesClient admin;
    final Emulator emulator;
    final Emulator.Principal operatorIdentity;
    /** The API server's service-account issuer, which the emulator's Entra trusts. */
    final String issuer;
    final Path dir;
    final PodLogs logs;
    private final String apps;

    /** Prepares the cluster and Azure for a release whose ManagedHsms live in namespace {@code apps}. */
    Installation(EmulatorConfig emulatorConfig, Path dir, String apps) throws Exception {
        this.admin = TestCluster.admin();
        this.emulator = Emulator.start(WorkloadIdentityWebhook.azure(emulatorConfig.withTestControls(true)));
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
        // A release a failed test class left behind would make helm install refuse.
        Helm.uninstall(RELEASE).withNamespace(SYSTEM).withKubeConfig(Node.kubeconfig()).ignoreNotFound().call();
        for (String ns : List.of(SYSTEM, apps)) {
            admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).serverSideApply();
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
        String probe = token(admin, "default", "issuer-probe", AZURE_AUDIENCE);
        issuer = JSON.readTree(Base64.getUrlDecoder().decode(probe.split("\\.")[1])).path("iss").asText();
        try (var in = Files.newInputStream(Path.of(admin.getConfiguration().getCaCertFile()))) {
            emulator.trustIssuer(issuer, java.net.URI.create(admin.getConfiguration().getMasterUrl()),
                    (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        emulator.addFederatedCredential(operatorIdentity.clientId(), issuer, "system:serviceaccount:" + SYSTEM + ":hsm-operator");
        admin.configMaps().inNamespace(SYSTEM).resource(new ConfigMapBuilder().withNewMetadata().withName("azure-ca").endMetadata()
                .addToData("ca.crt", emulator.caPem()).build()).serverSideApply();
        WorkloadIdentityWebhook.install(admin, emulator);
        logs = new PodLogs(admin, SYSTEM, PODS, dir);
    }

    /** helm install --wait: returns once the Deployment's pods are Ready. */
    void helmInstall(Map<String, String> values, Map<String, String> env) throws Exception {
        InstallCommand install = new Helm(Chart.DIR).install().withName(RELEASE).withNamespace(SYSTEM).withKubeConfig(Node.kubeconfig())
                .withValuesFile(valuesFile(env)).waitReady().withTimeout(180);
        values(values).forEach(install::set);
        install.call();
    }

    /** helm upgrade, without --wait: the test watches the rolling update itself. */
    void helmUpgrade(Map<String, String> values, Map<String, String> env) throws Exception {
        UpgradeCommand upgrade = new Helm(Chart.DIR).upgrade().withName(RELEASE).withNamespace(SYSTEM).withKubeConfig(Node.kubeconfig())
                .withValuesFile(valuesFile(env));
        values(values).forEach(upgrade::set);
        upgrade.call();
    }

    /** helm uninstall: the release's objects deleted (the CRDs, in the chart's crds/, stay). */
    void helmUninstall() {
        Helm.uninstall(RELEASE).withNamespace(SYSTEM).withKubeConfig(Node.kubeconfig()).call();
    }

    /** The chart values that point it at the node's registry and the emulator, then {@code values} (as --set). */
    private Map<String, String> values(Map<String, String> values) {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("image.repository", Node.imageRepository());
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
        v.putAll(values);
        return v;
    }

    /**
     * extraEnv as a values file (--set would turn a value such as 6443 into a number): {@code env} and where the API server
     * is, since the node has no kube-proxy to make the kubernetes Service's address work (an explicit env wins over the one
     * the kubelet derives from the Service).
     */
    private Path valuesFile(Map<String, String> env) throws Exception {
        Map<String, String> all = new TreeMap<>(env);
        all.put("KUBERNETES_SERVICE_HOST", Node.gateway());
        all.put("KUBERNETES_SERVICE_PORT", Node.apiServerPort());
        List<Map<String, String>> extraEnv = new ArrayList<>();
        all.forEach((k, v) -> extraEnv.add(Map.of("name", k, "value", v)));
        Path file = dir.resolve("values-" + System.nanoTime() + ".json");
        Files.writeString(file, JSON.writeValueAsString(Map.of("extraEnv", extraEnv)));
        return file;
    }

    /** The operator's pods now, oldest first (those being deleted included). */
    List<Pod> pods() {
        return admin.pods().inNamespace(SYSTEM).withLabels(PODS).list().getItems().stream()
                .sorted(Comparator.comparing(p -> p.getMetadata().getCreationTimestamp())).toList();
    }

    /** The pods that are Ready and not being deleted. */
    List<Pod> readyPods() {
        return pods().stream().filter(p -> p.getMetadata().getDeletionTimestamp() == null && Readiness.isPodReady(p)).toList();
    }

    Pod pod(String name) {
        return admin.pods().inNamespace(SYSTEM).withName(name).get();
    }

    /** The body of GET {@code path} on a pod's HTTP port (metrics, health), over the pod network. */
    String get(Pod pod, String path) {
        try {
            var request = java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + pod.getStatus().getPodIP() + ":8080" + path))
                    .timeout(java.time.Duration.ofSeconds(5)).build();
            return java.net.http.HttpClient.newHttpClient().send(request, java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static ContainerStatus operatorContainer(Pod pod) {
        return pod.getStatus().getContainerStatuses().stream().filter(c -> c.getName().equals("operator")).findFirst().orElseThrow();
    }

    /** The name of the pod whose operator holds the lease (its identity is the pod name and a suffix per process). */
    String leader() {
        Lease lease = admin.leases().inNamespace(SYSTEM).withName("hsm-operator-leader").get();
        String holder = lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
        return holder == null ? null : pods().stream().map(p -> p.getMetadata().getName()).filter(n -> holder.startsWith(n + "-"))
                .findFirst().orElse(null);
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

    static String token(KubernetesClient admin, String ns, String serviceAccount, String audience) {
        return admin.serviceAccounts().inNamespace(ns).withName(serviceAccount).tokenRequest(new TokenRequestBuilder().withNewSpec()
                .withAudiences(audience == null ? List.of() : List.of(audience)).withExpirationSeconds(3600L).endSpec().build())
                .getStatus().getToken();
    }

    @Override
    public void close() {
        logs.close();
        emulator.close();
    }
}
