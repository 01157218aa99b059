package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorClients;
import io.hsmoperator.emulator.State;
import io.hsmoperator.emulator.Tls;
import io.hsmoperator.kube.ApiServerResource;
import io.hsmoperator.kube.TestCluster;
import io.hsmoperator.local.LocalEmulator;
import io.quarkus.test.common.QuarkusTestResource;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;

import java.security.KeyPairGenerator;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static org.awaitility.Awaitility.await;

/**
 * Operator tier: a real kube-apiserver and etcd (shared by the JVM, see {@link TestCluster}), the emulator in-process
 * (local mode), and the real reconcilers. Each test gets its own namespace; on failure the test prints its resources,
 * their events and the emulator's journal.
 */
@QuarkusTestResource(ApiServerResource.class)
public abstract class OperatorTestBase {
    private static final AtomicInteger N = new AtomicInteger();
    public static final String SUBSCRIPTION = "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f";
    private static final String OWNER = "0a0e0000-0000-4000-8000-00000000000a";

    @Inject
    protected KubernetesClient client;
    @Inject
    protected LocalEmulator local;

    protected String ns;
    protected Emulator emulator;
    protected long journalMark;

    @BeforeEach
    void namespace() {
        CapturedLogs.install();
        emulator = local.emulator();
        ns = "t" + N.incrementAndGet() + "-" + UUID.randomUUID().toString().substring(0, 6);
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        journalMark = emulator.controls().lastSequence();
    }

    /** A second namespace for this test (another team), cleaned up with the others. */
    protected String otherNamespace() {
        String other = "t" + N.incrementAndGet() + "-" + UUID.randomUUID().toString().substring(0, 6);
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(other).endMetadata().build()).create();
        return other;
    }

    /**
     * Someone with Owner on the emulated subscriptions, for what a test does in Azure behind the operator's back: the
     * operator's own principal holds only the role in config/azure, as it would in Azure.
     */
    protected EmulatorClients owner() {
        Emulator.Principal p = emulator.registerPrincipal("subscription owner (tests)", OWNER);
        boolean assigned = emulator.inspect(s -> s.armRoleAssignments.stream().anyMatch(a -> a.principalId.equals(OWNER)));
        if (!assigned) {
            emulator.assignArmRole(OWNER, "Owner", "/");
        }
        return azureAs(p);
    }

    /** Waits as long as the emulator takes to make a role assignment made just now effective (Azure takes minutes). */
    protected void awaitRbacPropagation() {
        try {
            Thread.sleep(emulator.config().rbacPropagation().toMillis() + 200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    protected EmulatorClients azureAs(Emulator.Principal p) {
        return new EmulatorClients(emulator, p, SUBSCRIPTION);
    }

    // ---- resources -----------------------------------------------------------------------------

    protected String uniqueHsmName(String prefix) {
        return (prefix + "-" + UUID.randomUUID().toString().substring(0, 8)).toLowerCase(Locale.ROOT);
    }

    protected ManagedHsm managedHsm(String name, String azureName) {
        ManagedHsm h = new ManagedHsm();
        h.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        ManagedHsmSpec s = new ManagedHsmSpec();
        s.azureName = azureName;
        s.subscriptionId = SUBSCRIPTION;
        s.resourceGroup = "rg-" + ns;
        s.location = "westeurope";
        s.softDeleteRetentionDays = 7;
        s.securityDomain = new ManagedHsmSpec.SecurityDomain();
        s.securityDomain.certificatesSecret = name + "-officers";
        h.setSpec(s);
        return h;
    }

    /** A Secret with {@code n} officers' certificates (public only) and the quorum. */
    protected Secret officersSecret(String name, int n, String quorum) throws Exception {
        SecretBuilder b = new SecretBuilder().withNewMetadata().withName(name).withNamespace(ns).endMetadata();
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        for (int i = 0; i < n; i++) {
            b.addToStringData("officer-" + i + ".pem", Tls.pem("CERTIFICATE", emulator.issueCertificate("officer " + i,
                    g.generateKeyPair().getPublic()).getEncoded()));
        }
        if (quorum != null) {
            b.addToStringData("quorum", quorum);
        }
        return b.build();
    }

    protected HsmKey hsmKey(String name, String hsm, HsmKeySpec.KeyType type) {
        HsmKey k = new HsmKey();
        k.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        HsmKeySpec s = new HsmKeySpec();
        s.hsmRef = new HsmReference(hsm, null);
        s.keyType = type;
        k.setSpec(s);
        return k;
    }

    /** A role assignment of {@code role} to {@code principal}, on {@code keyRef} (a key of its namespace) or at {@code scope}. */
    protected io.hsmoperator.api.roleassignment.HsmRoleAssignment roleAssignment(String namespace, String name, HsmReference hsmRef,
            String role, String principal, String keyRef, io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec.Scope scope) {
        var a = new io.hsmoperator.api.roleassignment.HsmRoleAssignment();
        a.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        var s = new io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec();
        s.hsmRef = hsmRef;
        s.role = role;
        s.principalId = principal;
        s.scope = scope;
        if (keyRef != null) {
            s.keyRef = new io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec.KeyReference();
            s.keyRef.name = keyRef;
        }
        a.setSpec(s);
        return a;
    }

    /** A subnet of the test subscription, where the test configuration lets the test namespaces place private endpoints. */
    protected static final String SUBNET = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-net/providers/Microsoft.Network/"
            + "virtualNetworks/vnet/subnets/pe";

    /** A private endpoint {@code name} (Azure name pe-{name}-{namespace}) in {@code namespace} to {@code hsmRef}, in {@code subnet}. */
    protected io.hsmoperator.api.privateendpoint.PrivateEndpoint privateEndpoint(String namespace, String name, HsmReference hsmRef,
                                                                               String subnet) {
        var p = new io.hsmoperator.api.privateendpoint.PrivateEndpoint();
        p.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        var s = new io.hsmoperator.api.privateendpoint.PrivateEndpointSpec();
        s.hsmRef = hsmRef;
        s.azureName = "pe-" + name + "-" + namespace;
        s.resourceGroup = "rg-net-" + namespace;
        s.location = "westeurope";
        s.subnetId = subnet;
        p.setSpec(s);
        return p;
    }

    /** A diagnostic setting {@code name} in {@code namespace} sending {@code hsmRef}'s audit logs to a Log Analytics workspace. */
    protected io.hsmoperator.api.diagnostics.HsmDiagnostics diagnostics(String namespace, String name, HsmReference hsmRef) {
        var d = new io.hsmoperator.api.diagnostics.HsmDiagnostics();
        d.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        var s = new io.hsmoperator.api.diagnostics.HsmDiagnosticsSpec();
        s.hsmRef = hsmRef;
        s.logAnalyticsWorkspaceId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-mon/providers/"
                + "Microsoft.OperationalInsights/workspaces/law";
        d.setSpec(s);
        return d;
    }

    /**
     * An HsmBackup {@code name} in {@code namespace} of {@code hsmRef} into {@code containerUrl}, every {@code every}, its SAS
     * under the key sas of Secret {@code sasSecret}; no retention.
     */
    protected io.hsmoperator.api.backup.HsmBackup hsmBackup(String namespace, String name, HsmReference hsmRef, String containerUrl,
            String sasSecret, String every) {
        var b = new io.hsmoperator.api.backup.HsmBackup();
        b.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        var s = new io.hsmoperator.api.backup.HsmBackupSpec();
        s.hsmRef = hsmRef;
        s.destination = new io.hsmoperator.api.backup.HsmBackupSpec.Destination();
        s.destination.containerUrl = containerUrl;
        s.destination.sasTokenSecretRef = new io.hsmoperator.api.backup.HsmBackupSpec.SecretKeyRef();
        s.destination.sasTokenSecretRef.name = sasSecret;
        s.destination.sasTokenSecretRef.key = "sas";
        s.schedule = new io.hsmoperator.api.backup.HsmBackupSpec.Schedule();
        s.schedule.every = every;
        b.setSpec(s);
        return b;
    }

    /**
     * An HsmRestore {@code name} in {@code namespace} into {@code hsmRef} from {@code folderUrl}, its SAS under the key sas of
     * Secret {@code sasSecret}: of key {@code keyName}, or, when it is null, a full restore confirmed as {@code confirm}.
     */
    protected io.hsmoperator.api.restore.HsmRestore hsmRestore(String namespace, String name, HsmReference hsmRef, String folderUrl,
            String sasSecret, String keyName, String confirm) {
        var r = new io.hsmoperator.api.restore.HsmRestore();
        r.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        var s = new io.hsmoperator.api.restore.HsmRestoreSpec();
        s.hsmRef = hsmRef;
        s.source = new io.hsmoperator.api.restore.HsmRestoreSpec.Source();
        s.source.folderUrl = folderUrl;
        s.source.sasTokenSecretRef = new io.hsmoperator.api.backup.HsmBackupSpec.SecretKeyRef();
        s.source.sasTokenSecretRef.name = sasSecret;
        s.source.sasTokenSecretRef.key = "sas";
        s.keyName = keyName;
        s.confirmFullRestoreOf = confirm;
        r.setSpec(s);
        return r;
    }

    /** The Blob service of the test class that asked for one ({@link #azuriteContainer}); stopped after the class. */
    private static io.hsmoperator.emulator.Azurite classAzurite;

    /**
     * A blob container named as this test's namespace in {@code account} of an Azurite the test class shares: started
     * with that account by the first test that asks, stopped after the class.
     */
    protected com.azure.storage.blob.BlobContainerClient azuriteContainer(String account) {
        if (classAzurite == null) {
            classAzurite = io.hsmoperator.emulator.Azurite.start(emulator, List.of(account), null);
        }
        return blobContainer(classAzurite, account);
    }

    @org.junit.jupiter.api.AfterAll
    static void stopClassAzurite() {
        if (classAzurite != null) {
            classAzurite.close();
            classAzurite = null;
        }
    }

    /** A blob container named as this test's namespace in {@code account} of {@code azurite}, made now. */
    protected com.azure.storage.blob.BlobContainerClient blobContainer(io.hsmoperator.emulator.Azurite azurite, String account) {
        io.hsmoperator.emulator.Azurite.Account a = azurite.account(account);
        return new com.azure.storage.blob.BlobServiceClientBuilder().endpoint(azurite.accountUrl(account))
                .credential(new com.azure.storage.common.StorageSharedKeyCredential(a.name(), a.key()))
                .httpClient(io.hsmoperator.emulator.EmulatorHttp.azureClient(List.of(emulator.caCertificate()), Duration.ofSeconds(30)))
                .buildClient().createBlobContainer(ns);
    }

    /** The Secret azure-credentials in this test's namespace, with the client secret a packaged operator signs in with. */
    protected void packagedOperatorCredentials() {
        client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("azure-credentials").endMetadata()
                .addToStringData("clientSecret", emulator.builtInPrincipal().clientSecret()).build()).create();
    }

    /** A Secret {@code name} in {@code namespace} holding {@code sas} under the key sas, as an HsmBackup reads it. */
    protected void sasSecret(String namespace, String name, String sas) {
        client.secrets().inNamespace(namespace).resource(new SecretBuilder().withNewMetadata().withName(name).endMetadata()
                .addToStringData("sas", sas).build()).createOr(existing -> existing.update());
    }

    protected <T extends HasMetadata> T apply(T resource) {
        return client.resource(resource).inNamespace(resource.getMetadata().getNamespace() == null ? ns
                : resource.getMetadata().getNamespace()).create();
    }

    /**
     * Asserts that the API server refuses the resource at admission (422, the CRD's schema or CEL rule) with a message
     * containing {@code message}: it is never stored, so the operator never sees it.
     */
    protected void refusedAtAdmission(HasMetadata resource, String message) {
        try {
            apply(resource);
        } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
            org.junit.jupiter.api.Assertions.assertEquals(422, e.getCode(), e.getMessage());
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(message), "refused, but not for '" + message + "': "
                    + e.getMessage());
            return;
        }
        throw new AssertionError("the API server stored " + resource.getKind() + " " + resource.getMetadata().getName()
                + ", which its CRD must refuse (" + message + ")");
    }

    /**
     * Makes the API server refuse some writes in this test's namespace until closed: a ValidatingAdmissionPolicy on
     * {@code resource} (of {@code group}) for {@code operation} (CREATE or UPDATE), denying when {@code allowed} (CEL over
     * {@code object}) is false. Returns once a {@code probe} write (a harmless one, or a dry run) is refused.
     */
    protected AdmissionRefusal admissionRefuses(String policy, String group, String resource, String operation, String allowed,
                                                Runnable probe) {
        String namespace = ns;
        client.resource(io.fabric8.kubernetes.client.utils.Serialization.<HasMetadata>unmarshal("""
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingAdmissionPolicy
                metadata: {name: %s}
                spec:
                  failurePolicy: Fail
                  matchConstraints:
                    resourceRules:
                    - {apiGroups: ["%s"], apiVersions: ["*"], operations: [%s], resources: ["%s"]}
                  validations:
                  - expression: "request.namespace != '%s' || (%s)"
                    message: injected write failure
                """.formatted(policy, group, operation, resource, namespace, allowed))).create();
        client.resource(io.fabric8.kubernetes.client.utils.Serialization.<HasMetadata>unmarshal("""
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingAdmissionPolicyBinding
                metadata: {name: %s}
                spec: {policyName: %s, validationActions: [Deny]}
                """.formatted(policy, policy))).create();
        AdmissionRefusal refusal = new AdmissionRefusal(policy, probe);
        await().atMost(Duration.ofSeconds(30)).until(refusal::bites);
        return refusal;
    }

    /** An admission policy in force; closing it lets the writes through again. */
    protected final class AdmissionRefusal implements AutoCloseable {
        private final String policy;
        private final Runnable probe;

        AdmissionRefusal(String policy, Runnable probe) {
            this.policy = policy;
            this.probe = probe;
        }

        /** Whether the probe write is refused by this policy now. */
        public boolean bites() {
            try {
                probe.run();
                return false;
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                return e.getMessage().contains("injected write failure");
            }
        }

        @Override
        public void close() {
            client.genericKubernetesResources("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding").withName(policy).delete();
            client.genericKubernetesResources("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy").withName(policy).delete();
            await().atMost(Duration.ofSeconds(30)).until(() -> !bites());
        }
    }

    /**
     * Writes a user's edit of a resource (spec, annotations, labels) as kubectl edit would: the operator writes status
     * all the time, so a conflict on the resource version is retried on the latest copy.
     */
    @SuppressWarnings("unchecked")
    protected <S, T extends CustomResource<S, ?>> T update(T edited) {
        T attempt = edited;
        for (int i = 0; ; i++) {
            try {
                return client.resource(attempt).update();
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409 || i >= 20) {
                    throw e;
                }
                T latest = (T) client.resources(edited.getClass()).inNamespace(edited.getMetadata().getNamespace())
                        .withName(edited.getMetadata().getName()).get();
                latest.setSpec(edited.getSpec());
                latest.getMetadata().setAnnotations(edited.getMetadata().getAnnotations());
                latest.getMetadata().setLabels(edited.getMetadata().getLabels());
                attempt = latest;
            }
        }
    }

    /** Asks for a reconcile as a user would (hsmoperator.io/reconcile-requested-at): the operator looks at Azure now. */
    protected <S, T extends CustomResource<S, ? extends HsmStatus>> void touch(Class<T> type, String name) {
        T r = get(type, name);
        Map<String, String> annotations = new java.util.HashMap<>(r.getMetadata().getAnnotations() == null ? Map.of()
                : r.getMetadata().getAnnotations());
        annotations.put(io.hsmoperator.api.common.Conditions.RECONCILE_REQUEST_ANNOTATION, java.time.Instant.now() + "/" + System.nanoTime());
        r.getMetadata().setAnnotations(annotations);
        update(r);
    }

    /** Writes the operator sent since {@code mark} whose path contains {@code pathPart}. */
    protected List<Controls.JournalEntry> operatorWrites(long mark, String pathPart) {
        String operator = emulator.builtInPrincipal().objectId();
        return emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && operator.equals(e.principal()) && e.path().contains(pathPart));
    }

    /** A ready ManagedHsm (and its officers' Secret) in this test's namespace. */
    protected ManagedHsm readyHsm(String name) throws Exception {
        apply(officersSecret(name + "-officers", 3, "2"));
        apply(managedHsm(name, uniqueHsmName(name)));
        return awaitCondition(ManagedHsm.class, name, "Ready", "True", null, Duration.ofSeconds(60));
    }

    /** The HsmKey {@code name} once {@code done} holds for it (with a status); dumps the namespace and fails after {@code wait}. */
    protected io.hsmoperator.api.hsmkey.HsmKey awaitKey(String name, java.util.function.Predicate<io.hsmoperator.api.hsmkey.HsmKey> done,
                                                       String what, Duration wait) {
        try {
            org.awaitility.Awaitility.await().atMost(wait).pollInterval(Duration.ofMillis(100)).until(() -> {
                io.hsmoperator.api.hsmkey.HsmKey k = get(io.hsmoperator.api.hsmkey.HsmKey.class, name);
                return k != null && k.getStatus() != null && done.test(k);
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw new AssertionError("HsmKey " + name + " never reached: " + what, e);
        }
        return get(io.hsmoperator.api.hsmkey.HsmKey.class, name);
    }

    protected <T extends CustomResource<?, ? extends HsmStatus>> T get(Class<T> type, String name) {
        return client.resources(type).inNamespace(ns).withName(name).get();
    }

    protected <T extends CustomResource<?, ? extends HsmStatus>> T awaitCondition(Class<T> type, String name, String condition,
                                                                                 String status, String reason, Duration timeout) {
        try {
            await().atMost(timeout).pollInterval(Duration.ofMillis(100)).until(() -> {
                T r = get(type, name);
                Condition c = r == null || r.getStatus() == null ? null : Conditions.get(r.getStatus(), condition);
                return c != null && status.equals(c.getStatus()) && (reason == null || reason.equals(c.getReason()))
                        && r.getMetadata().getGeneration().equals(r.getStatus().observedGeneration);
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw new AssertionError(type.getSimpleName() + " " + ns + "/" + name + " never reached " + condition + "=" + status
                    + (reason == null ? "" : " (" + reason + ")") + " within " + timeout + "; see the dump above", e);
        }
        return get(type, name);
    }

    protected static Condition condition(CustomResource<?, ? extends HsmStatus> r, String type) {
        return Conditions.get(r.getStatus(), type);
    }

    // ---- what Azure holds ----------------------------------------------------------------------

    /** The ownership tag the operator writes on what resource {@code name} of {@code type} in this test's namespace makes. */
    protected String ownerTag(Class<? extends HasMetadata> type, String name) {
        return "test-cluster/" + ns + "/" + name + "/" + client.resources(type).inNamespace(ns).withName(name).get().getMetadata().getUid();
    }

    protected Optional<State.Hsm> azureHsm(String azureName) {
        return Optional.ofNullable(emulator.inspect(s -> s.hsms.get(azureName.toLowerCase(Locale.ROOT))));
    }

    protected List<Controls.JournalEntry> journalSinceMark(Predicate<Controls.JournalEntry> filter) {
        return emulator.controls().journal(e -> e.seq() > journalMark && filter.test(e));
    }

    /** Azure writes since the test started, by the operator (entra token requests excluded). */
    protected List<Controls.JournalEntry> azureWrites() {
        return journalSinceMark(e -> e.isWrite() && !e.endpoint().equals("entra"));
    }

    protected List<Event> events() {
        return client.v1().events().inNamespace(ns).list().getItems();
    }

    protected List<String> eventReasons() {
        return events().stream().map(Event::getReason).toList();
    }

    protected void dump() {
        System.out.println("===== namespace " + ns + " =====");
        for (Class<? extends HasMetadata> kind : io.hsmoperator.api.Kinds.ALL) {
            client.resources(kind).inNamespace(ns).list().getItems().forEach(r -> System.out.println(
                    io.fabric8.kubernetes.client.utils.Serialization.asYaml(r)));
        }
        events().forEach(e -> System.out.println("event " + e.getType() + " " + e.getReason() + " " + e.getInvolvedObject().getName()
                + ": " + e.getMessage()));
        emulator.controls().journal(e -> e.seq() > journalMark).forEach(e -> System.out.println("azure " + e));
    }

    protected static Map<String, String> tagsOf(State.Hsm h) {
        return h.tags;
    }

    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "quarkus.http.test-port", defaultValue = "8081")
    protected int httpPort;

    /** /q/metrics as Prometheus reads it. */
    protected String scrape() throws Exception {
        var response = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://localhost:" + httpPort + "/q/metrics")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        org.junit.jupiter.api.Assertions.assertEquals(200, response.statusCode(), response.body());
        return response.body();
    }

    /** The value of the one series named {@code name} whose labels include every {@code label="value"} given. */
    protected static java.util.OptionalDouble sample(String metrics, String name, String... labels) {
        return metrics.lines().filter(l -> l.startsWith(name + "{") && java.util.Arrays.stream(labels).allMatch(l::contains))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst();
    }
}
