package io.hsmoperator.local;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.api.Kinds;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;

/**
 * Local mode's Kubernetes, chosen before Quarkus starts so the operator's client is built against it: the cluster of the
 * current kubeconfig when it answers; otherwise a real kube-apiserver and etcd started here ({@link LocalApiServer})
 * when their binaries are cached or can be downloaded; otherwise, as a last resort, an in-process mock API (the Fabric8
 * mock server in CRUD mode), which is not Kubernetes and says so.
 */
public final class LocalCluster {
    private static KubernetesMockServer server;
    private static LocalApiServer apiServer;

    private LocalCluster() {
    }

    public static void prepare() {
        if (!"emulator".equalsIgnoreCase(setting("hsm.azure.mode", "HSM_AZURE_MODE"))) {
            return;
        }
        // The emulator provisions in seconds, not Azure's minutes: look again sooner. The health port must not collide.
        defaultTo("hsm.reconcile.poll", "HSM_RECONCILE_POLL", "PT1S");
        // The embedded emulator makes role assignments effective after hsm.local.rbac-propagation (2 s), not minutes.
        defaultTo("hsm.role-assignments.propagation", "HSM_ROLE_ASSIGNMENTS_PROPAGATION", "PT2S");
        defaultTo("quarkus.http.port", "QUARKUS_HTTP_PORT", "0");
        String choice = setting("hsm.local.cluster", "HSM_LOCAL_CLUSTER");
        choice = choice == null ? "auto" : choice.toLowerCase(Locale.ROOT);
        List<CustomResourceDefinition> crds = crds();
        if (!choice.equals("in-process") && clusterAnswers()) {
            try (KubernetesClient client = new KubernetesClientBuilder().build()) {
                install(client, crds);
            }
            System.out.println("Local mode: using the Kubernetes cluster of your kubeconfig (CRDs installed); the Azure emulator runs"
                    + " in-process. Apply config/samples/ with kubectl to see it work.");
            return;
        }
        if (choice.equals("kubeconfig")) {
            throw new IllegalStateException("hsm.local.cluster=kubeconfig, but the cluster of the kubeconfig does not answer");
        }
        if (!choice.equals("in-process")) {
            String why = startApiServer(crds);
            if (why == null) {
                return;
            }
            if (choice.equals("api-server")) {
                throw new IllegalStateException("hsm.local.cluster=api-server, but no Kubernetes API server could be started: " + why);
            }
            System.out.println("Local mode: no Kubernetes API server could be started (" + why + "); falling back to an in-process"
                    + " mock. Run e2e/kube-binaries once to build the real one.");
        }
        // The mock answers no SelfSubjectRulesReview, and no second instance can ever join it: no leader election.
        defaultTo("hsm.leader-election.enabled", "HSM_LEADER_ELECTION_ENABLED", "false");
        // Expectations (the discovery documents) and the CRUD store share one dispatcher: expectations answer first.
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), expectations,
                new ApplyAsMergePatch(expectations), true);
        server.init(InetAddress.getLoopbackAddress(), 0);
        Discovery.serve(server, crds);
        String url = server.url("/");
        try (KubernetesClient client = new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder().withMasterUrl(url).withTrustCerts(true).withNamespace("default").build()).build()) {
            install(client, crds);
            // A real API server makes kube-system itself; its UID names this cluster in ownership tags (OperatorInstance).
            client.namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder().withNewMetadata().withName("kube-system")
                    .withUid(java.util.UUID.randomUUID().toString()).endMetadata().build()).create();
        }
        System.setProperty("quarkus.kubernetes-client.api-server-url", url);
        System.setProperty("quarkus.kubernetes-client.trust-certs", "true");
        System.setProperty("quarkus.kubernetes-client.namespace", "default");
        writeKubeconfig(url);
        System.out.println("Local mode: the operator runs against an in-process mock Kubernetes API at " + url + ". It is not"
                + " Kubernetes: no schema or CEL validation, no admission, no RBAC, no printer columns; kubectl get works, kubectl"
                + " apply and create do not.");
    }

    /** Starts a real API server for local mode; returns null on success, otherwise why it could not. */
    private static String startApiServer(List<CustomResourceDefinition> crds) {
        boolean cached = LocalApiServer.cachedBinaries().isPresent();
        try {
            apiServer = LocalApiServer.start(true).withControllerManager();
        } catch (RuntimeException e) {
            return (cached ? "the cached binaries did not start: " : "none cached in ~/.kubeapitest and none downloadable: ") + e.getMessage();
        }
        try (KubernetesClient client = apiServer.adminClient()) {
            LocalApiServer.install(client, crds);
        }
        apiServer.quarkusClientProperties().forEach(System::setProperty);
        try {
            Path dir = Path.of(".hsm-quickstart");
            Files.createDirectories(dir);
            Files.copy(apiServer.kubeconfig(), dir.resolve("kubeconfig"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            System.out.println("Could not write .hsm-quickstart/kubeconfig: " + e.getMessage());
        }
        System.out.println("Local mode: no cluster in your kubeconfig answers, so the operator runs against a real Kubernetes API server "
                + apiServer.version() + " started here (etcd, kube-apiserver" + (apiServer.hasControllerManager() ? ", kube-controller-manager"
                : "; no kube-controller-manager, so nothing is garbage-collected") + "; binaries "
                + (apiServer.downloaded() ? "downloaded by kube-api-test" : "from " + apiServer.binaries()) + ") at "
                + apiServer.config().getMasterUrl());
        return null;
    }

    /** The committed CRDs (crds/ travels in the jar), one per kind of the API. */
    private static List<CustomResourceDefinition> crds() {
        List<CustomResourceDefinition> crds = new ArrayList<>();
        for (Class<? extends HasMetadata> kind : Kinds.ALL) {
            String file = "crds/" + HasMetadata.getFullResourceName(kind) + "-v1.yml";
            try (InputStream in = LocalCluster.class.getClassLoader().getResourceAsStream(file)) {
                if (in == null) {
                    throw new IllegalStateException("the jar lacks " + file + "; rebuild with ./mvnw package");
                }
                crds.add(Serialization.unmarshal(in, CustomResourceDefinition.class));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return crds;
    }

    private static void install(KubernetesClient client, List<CustomResourceDefinition> crds) {
        for (CustomResourceDefinition crd : crds) {
            client.resource(crd).createOr(existing -> existing.update());
        }
    }

    private static boolean clusterAnswers() {
        boolean configured = System.getenv("KUBECONFIG") != null || System.getenv("KUBERNETES_SERVICE_HOST") != null
                || Files.exists(Path.of(System.getProperty("user.home"), ".kube", "config"));
        if (!configured) {
            return false;
        }
        Config config = new ConfigBuilder(Config.autoConfigure(null)).withConnectionTimeout(2000).withRequestTimeout(3000).build();
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
            client.getKubernetesVersion();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** A kubeconfig for the in-process API, so kubectl can look at the quick start's resources. */
    private static void writeKubeconfig(String url) {
        try {
            Path dir = Path.of(".hsm-quickstart");
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("kubeconfig"), "apiVersion: v1\nkind: Config\nclusters:\n- name: hsm-quickstart\n  cluster:\n"
                    + "    server: " + url + "\n    insecure-skip-tls-verify: true\ncontexts:\n- name: hsm-quickstart\n  context:\n"
                    + "    cluster: hsm-quickstart\n    namespace: default\n    user: quickstart\ncurrent-context: hsm-quickstart\n"
                    + "users:\n- name: quickstart\n  user:\n    token: local\n");
        } catch (IOException e) {
            System.out.println("Could not write .hsm-quickstart/kubeconfig: " + e.getMessage());
        }
    }

    private static void defaultTo(String property, String env, String value) {
        if (setting(property, env) == null) {
            System.setProperty(property, value);
        }
    }

    static String setting(String property, String env) {
        String v = System.getProperty(property);
        return v != null ? v : System.getenv(env);
    }

    /** True when local mode started the Kubernetes API itself (real or mock), so the quick start may apply the samples. */
    public static boolean startedHere() {
        return server != null || apiServer != null;
    }

    /** The kubectl that matches the API server started here, or the one on the PATH. */
    public static String kubectl() {
        return apiServer != null ? apiServer.kubectl().toString() : "kubectl";
    }
}
