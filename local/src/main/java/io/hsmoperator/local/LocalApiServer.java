package io.hsmoperator.local;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Kubernetes control plane on loopback: etcd and kube-apiserver started by {@code io.fabric8:kube-api-test}
 * (RBAC authorization, service-account token issuance), and kube-controller-manager beside them on request (garbage
 * collection, namespace deletion, default ServiceAccounts). The binaries come from kube-api-test's cache directory
 * ({@code ~/.kubeapitest/k8s/<version>-<os>-<arch>/}, filled by {@code e2e/kube-binaries} on machines without internet)
 * or are downloaded by kube-api-test where the internet is reachable.
 */
public final class LocalApiServer implements AutoCloseable {
    /** Where kube-api-test keeps its binaries and certificates (it reads the same variable). */
    public static final String DIR_ENV = KubeAPIServerConfigBuilder.KUBE_API_TEST_DIR;

    private final KubeAPIServer server;
    private final Path binaries;
    private final boolean downloaded;
    private final Path kubeconfig;
    private Process controllerManager;
    private boolean attachedControllerManager;

    private LocalApiServer(KubeAPIServer server, Path binaries, boolean downloaded, Path kubeconfig) {
        this.server = server;
        this.binaries = binaries;
        this.downloaded = downloaded;
        this.kubeconfig = kubeconfig;
    }

    /** The newest complete set of binaries in kube-api-test's cache directory, if there is one. */
    public static Optional<Path> cachedBinaries() {
        Path k8s = home().resolve("k8s");
        if (!Files.isDirectory(k8s)) {
            return Optional.empty();
        }
        String suffix = "-" + osName() + "-" + arch();
        try (Stream<Path> dirs = Files.list(k8s)) {
            return dirs.filter(d -> d.getFileName().toString().endsWith(suffix))
                    .filter(d -> Stream.of("etcd", "kube-apiserver", "kubectl").allMatch(b -> Files.isExecutable(d.resolve(b))))
                    .max(Comparator.comparing(d -> versionKey(d.getFileName().toString().replace(suffix, ""))));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * Starts etcd and kube-apiserver from the cached binaries, or, when there are none and {@code download} is true,
     * lets kube-api-test download the official ones. Throws when neither works.
     */
    public static LocalApiServer start(boolean download) {
        Optional<Path> cached = cachedBinaries();
        KubeAPIServerConfigBuilder config = KubeAPIServerConfigBuilder.anAPIServerConfig().withTestDir(home().toString())
                .withStartupTimeout(180_000).withWaitForEtcdHealthCheckOnStartup(true);
        if (cached.isPresent()) {
            String dir = cached.get().getFileName().toString();
            config.withOfflineMode(true).withApiServerVersion(dir.substring(0, dir.indexOf('-')));
        } else if (!download) {
            throw new IllegalStateException("no Kubernetes binaries in " + home().resolve("k8s") + " (run e2e/kube-binaries)");
        }
        KubeAPIServer server = new KubeAPIServer(config.build());
        server.start();
        Path binaries = cached.or(LocalApiServer::cachedBinaries)
                .orElseThrow(() -> new IllegalStateException("kube-api-test started without binaries in " + home()));
        try {
            Path kubeconfig = Files.createTempFile("hsm-kubeconfig-", ".yaml");
            kubeconfig.toFile().deleteOnExit();
            Files.writeString(kubeconfig, server.getKubeConfigYaml());
            LocalApiServer local = new LocalApiServer(server, binaries, cached.isEmpty(), kubeconfig);
            Runtime.getRuntime().addShutdownHook(new Thread(local::close, "local-api-server-stop"));
            return local;
        } catch (IOException e) {
            server.stop();
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A server this JVM already runs, started elsewhere (the test bed: Quarkus loads it once per application, and each
     * load must reach the one server of the JVM). Closing the view leaves the server running; its starter stops it.
     */
    public static LocalApiServer attach(Path kubeconfig, boolean controllerManager) {
        Path binaries = cachedBinaries().orElseThrow(() -> new IllegalStateException("no Kubernetes binaries in " + home()));
        LocalApiServer view = new LocalApiServer(null, binaries, false, kubeconfig);
        view.attachedControllerManager = controllerManager;
        return view;
    }

    /**
     * Starts kube-controller-manager with the controllers a test or a newcomer notices when they are missing: garbage
     * collection (owned ConfigMaps go with their HsmKey), namespace deletion, and each namespace's default ServiceAccount.
     * kube-api-test downloads no kube-controller-manager: without e2e/kube-binaries' build there is none, and the server
     * runs without it ({@link #hasControllerManager()}).
     */
    public synchronized LocalApiServer withControllerManager() {
        if (controllerManager != null) {
            return this;
        }
        Path binary = binaries.resolve("kube-controller-manager");
        if (!Files.isExecutable(binary)) {
            return this;
        }
        try {
            File log = Files.createTempFile("kube-controller-manager-", ".log").toFile();
            log.deleteOnExit();
            controllerManager = new ProcessBuilder(binary.toString(), "--kubeconfig", kubeconfig.toString(),
                    "--controllers", "garbagecollector,namespace,serviceaccount", "--leader-elect=false", "--secure-port=0",
                    "--concurrent-gc-syncs=5", "--concurrent-namespace-syncs=5")
                    .redirectErrorStream(true).redirectOutput(log).start();
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public synchronized boolean hasControllerManager() {
        return attachedControllerManager || controllerManager != null && controllerManager.isAlive();
    }

    /** A client authenticated as the cluster's administrator (kube-api-test's client certificate). */
    public KubernetesClient adminClient() {
        return new KubernetesClientBuilder().withConfig(config()).build();
    }

    public Config config() {
        try {
            return Config.fromKubeconfig(null, Files.readString(kubeconfig), kubeconfig.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The client settings of the Quarkus Kubernetes client that reach this server as its administrator. */
    public Map<String, String> quarkusClientProperties() {
        Config c = config();
        return Map.of("quarkus.kubernetes-client.api-server-url", c.getMasterUrl(),
                "quarkus.kubernetes-client.ca-cert-file", c.getCaCertFile(),
                "quarkus.kubernetes-client.client-cert-file", c.getClientCertFile(),
                "quarkus.kubernetes-client.client-key-file", c.getClientKeyFile(),
                "quarkus.kubernetes-client.namespace", "default");
    }

    public Path kubeconfig() {
        return kubeconfig;
    }

    public Path kubectl() {
        return binaries.resolve("kubectl");
    }

    /** The Kubernetes version, from the binaries' directory name. */
    public String version() {
        String dir = binaries.getFileName().toString();
        return dir.substring(0, dir.indexOf('-'));
    }

    public Path binaries() {
        return binaries;
    }

    public boolean downloaded() {
        return downloaded;
    }

    /** Installs (or updates) CRDs and waits until the API server serves them. */
    public static void install(KubernetesClient client, List<CustomResourceDefinition> crds) {
        for (CustomResourceDefinition crd : crds) {
            crd.getMetadata().setResourceVersion(null);
            client.resource(crd).forceConflicts().serverSideApply();
        }
        for (CustomResourceDefinition crd : crds) {
            client.apiextensions().v1().customResourceDefinitions().withName(crd.getMetadata().getName())
                    .waitUntilCondition(c -> c != null && c.getStatus() != null && c.getStatus().getConditions() != null
                            && c.getStatus().getConditions().stream()
                            .anyMatch(x -> "Established".equals(x.getType()) && "True".equals(x.getStatus())), 60, TimeUnit.SECONDS);
        }
    }

    @Override
    public synchronized void close() {
        if (server == null) {
            return;
        }
        if (controllerManager != null) {
            controllerManager.destroy();
            try {
                if (!controllerManager.waitFor(10, TimeUnit.SECONDS)) {
                    controllerManager.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            controllerManager = null;
        }
        try {
            server.stop();
        } catch (RuntimeException e) {
            // already stopped (kube-api-test stops both processes when either exits)
        }
    }

    private static Path home() {
        String dir = System.getenv(DIR_ENV);
        return dir != null ? Path.of(dir) : Path.of(System.getProperty("user.home"), KubeAPIServerConfigBuilder.DIRECTORY_NAME);
    }

    private static String osName() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        return os.contains("mac") ? "darwin" : os.contains("win") ? "windows" : "linux";
    }

    private static String arch() {
        String a = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        return a.equals("aarch64") || a.equals("arm64") ? "arm64" : a.equals("ppc64le") ? "ppc64le" : a.equals("s390x") ? "s390x" : "amd64";
    }

    private static String versionKey(String version) {
        StringBuilder b = new StringBuilder();
        for (String part : version.split("\\.")) {
            b.append(String.format("%08d", part.matches("\\d+") ? Integer.parseInt(part) : 0));
        }
        return b.toString();
    }
}
