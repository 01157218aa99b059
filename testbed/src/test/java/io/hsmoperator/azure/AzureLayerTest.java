package io.hsmoperator.azure;

import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Azure layer on its own, against the emulator as a custom cloud: how it finds its credential, who it is, how it
 * classifies failures, and how one throttled scope waits for Retry-After without slowing another.
 */
class AzureLayerTest {
    private static Emulator emulator;
    private static KubernetesMockServer kubernetes;
    private static KubernetesClient kube;

    @BeforeAll
    static void start() {
        emulator = Emulator.start(EmulatorConfig.inMemory());
        kubernetes = new KubernetesMockServer(new io.fabric8.mockwebserver.Context(), new io.fabric8.mockwebserver.MockWebServer(),
                new HashMap<>(), new io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher(), true);
        kubernetes.init();
        kube = kubernetes.createClient();
    }

    @AfterAll
    static void stop() {
        kube.close();
        kubernetes.destroy();
        emulator.close();
    }

    @Test
    void withoutACredentialSourceStartupSaysWhatToSet() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> AzureTargets.fromConfig(new AzureSettings(), Map.of(), kube));
        assertTrue(e.getMessage().contains("No Azure credential is configured"), e.getMessage());
        assertTrue(e.getMessage().contains("missing: AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_FEDERATED_TOKEN_FILE"), e.getMessage());
        assertTrue(e.getMessage().contains("hsm.azure.mode=emulator"), "it names the local alternative: " + e.getMessage());

        Map<String, String> env = Map.of("AZURE_CLIENT_ID", "c", "AZURE_TENANT_ID", "t", "AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token");
        e = assertThrows(IllegalStateException.class, () -> AzureTargets.fromConfig(new AzureSettings(), env, kube));
        assertTrue(e.getMessage().contains("/nonexistent/token is not readable"), e.getMessage());

        AzureSettings secret = new AzureSettings();
        secret.credential = OperatorConfig.Credential.CLIENT_SECRET;
        e = assertThrows(IllegalStateException.class, () -> AzureTargets.fromConfig(secret, Map.of(), kube));
        assertTrue(e.getMessage().contains("hsm.azure.client-secret-ref"), e.getMessage());
    }

    @Test
    void workloadIdentityFindsItsOwnObjectId() throws Exception {
        Emulator.Principal operator = emulator.registerPrincipal("hsm-operator");
        emulator.assignArmRole(operator.objectId(), "Reader", "/");
        emulator.addFederatedCredential(operator.clientId(), "system:serviceaccount:hsm-system:hsm-operator");
        Path token = Files.createTempFile("sa-token", "");
        Files.writeString(token, emulator.federatedToken("system:serviceaccount:hsm-system:hsm-operator"));
        Map<String, String> env = Map.of("AZURE_CLIENT_ID", operator.clientId(), "AZURE_TENANT_ID", emulator.tenantId(),
                "AZURE_FEDERATED_TOKEN_FILE", token.toString(), "AZURE_AUTHORITY_HOST", emulator.authorityHost());

        AzureTarget target = AzureTargets.fromConfig(emulatorCloud(), env, kube);
        AzureClients clients = new AzureClients(target, new ScopeGate(), config(emulatorCloud()));
        assertEquals(operator.objectId(), clients.principalId(), "read from the oid claim of its own token");
        assertEquals(0, clients.keyVault(UUID.randomUUID().toString()).serviceClient().getManagedHsms().list().stream().count());
    }

    @Test
    void aClientSecretIsReadFromTheNamedSecretOnlyWhenAskedFor() {
        Emulator.Principal operator = emulator.registerPrincipal("hsm-operator-secret");
        kube.secrets().inNamespace("hsm-system").resource(new SecretBuilder().withNewMetadata().withName("azure").endMetadata()
                .addToData("clientSecret", b64(operator.clientSecret())).build()).create();
        AzureSettings settings = emulatorCloud();
        settings.credential = OperatorConfig.Credential.CLIENT_SECRET;
        settings.clientSecretRef = "hsm-system/azure";
        settings.tenantId = emulator.tenantId();
        settings.clientId = operator.clientId();
        AzureTarget target = AzureTargets.fromConfig(settings, Map.of(), kube);
        assertEquals(operator.objectId(), new AzureClients(target, new ScopeGate(), config(settings)).principalId());

        settings.clientSecretRef = "hsm-system/missing";
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> AzureTargets.fromConfig(settings, Map.of(), kube));
        assertTrue(e.getMessage().contains("hsm-system/missing") && !e.getMessage().contains(operator.clientSecret()), e.getMessage());
    }

    @Test
    void keyCreationsArePacedPerHsmAndNothingElseIs() throws Exception {
        MutableClock clock = new MutableClock();
        ScopeGate gate = new ScopeGate(clock);
        java.net.URL create = new java.net.URL("https://payments.managedhsm.azure.net/keys/a/create?api-version=7.6");
        java.net.URL rotate = new java.net.URL("https://payments.managedhsm.azure.net/keys/b/rotate?api-version=7.6");
        java.net.URL get = new java.net.URL("https://payments.managedhsm.azure.net/keys/a?api-version=7.6");
        java.net.URL elsewhere = new java.net.URL("https://audit.managedhsm.azure.net/keys/a/create?api-version=7.6");
        String scope = ScopeGate.scopeOf(create);
        assertEquals(Duration.ZERO, gate.slot(scope, "POST", create));
        assertEquals(ScopeGate.KEY_CREATION_INTERVAL, gate.slot(scope, "POST", rotate), "a new version is a creation too: the next slot");
        assertEquals(ScopeGate.KEY_CREATION_INTERVAL.multipliedBy(2), gate.slot(scope, "POST", create));
        assertTrue(ScopeGate.KEY_CREATION_INTERVAL.compareTo(Duration.ofSeconds(1)) > 0, "never faster than Azure's one per second");
        assertEquals(Duration.ZERO, gate.slot(scope, "GET", get), "reads are not paced");
        assertEquals(Duration.ZERO, gate.slot(ScopeGate.scopeOf(elsewhere), "POST", elsewhere), "another HSM has its own slots");
        java.net.URL grant = new java.net.URL("https://payments.managedhsm.azure.net/keys/providers/Microsoft.Authorization/roleAssignments/x?api-version=7.6");
        java.util.List<Duration> sent = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) {
            sent.add(gate.slot(scope, i % 2 == 0 ? "PUT" : "GET", grant));
        }
        assertEquals(java.util.Collections.nCopies(ScopeGate.RBAC_PER_WINDOW, Duration.ZERO), sent.subList(0, ScopeGate.RBAC_PER_WINDOW),
                "RBAC operations have their own slots, and a short burst goes at once");
        assertEquals(ScopeGate.RBAC_WINDOW, sent.get(ScopeGate.RBAC_PER_WINDOW));
        for (Duration t : sent) {
            long inOneSecond = sent.stream().filter(u -> u.compareTo(t) >= 0 && u.compareTo(t.plusMillis(1099)) <= 0).count();
            assertTrue(inOneSecond < 5, "never five in a second, even arriving 100 ms closer than they left: " + sent);
        }
        clock.advance(Duration.ofSeconds(10));
        assertEquals(Duration.ZERO, gate.slot(scope, "POST", create), "idle slots are not saved up");
    }

    @Test
    void aThrottledScopeWaitsForRetryAfterAndSlowsOnlyItself() {
        MutableClock clock = new MutableClock();
        AzureSettings settings = emulatorCloud();
        settings.credential = OperatorConfig.Credential.CLIENT_SECRET;
        AzureTarget target = new AzureTarget(AzureTargets.environment(settings, Map.of()),
                java.util.List.of(emulator.caCertificate()), new com.azure.identity.ClientSecretCredentialBuilder()
                .authorityHost(emulator.authorityHost()).tenantId(emulator.tenantId()).clientId(emulator.builtInPrincipal().clientId())
                .clientSecret(emulator.builtInPrincipal().clientSecret()).disableInstanceDiscovery()
                .httpClient(AzureHttpClients.create(java.util.List.of(emulator.caCertificate()), Duration.ofSeconds(10))).build(),
                emulator.tenantId(), false, "emulator");
        AzureClients clients = new AzureClients(target, new ScopeGate(clock), config(settings));
        String throttled = UUID.randomUUID().toString();
        String other = UUID.randomUUID().toString();
        Controls.Fault fault = emulator.controls().addFault(Controls.Fault.status("GET", "arm", "/subscriptions/" + throttled + "/.*", 429, 30, -1));
        try {
            AzureError first = AzureError.of(assertThrows(RuntimeException.class, () -> list(clients, throttled)));
            assertEquals(AzureError.Kind.THROTTLED, first.kind());
            assertEquals(Duration.ofSeconds(30), first.retryAfter());
            assertEquals(1, fault.hits());

            AzureError held = AzureError.of(assertThrows(RuntimeException.class, () -> list(clients, throttled)));
            assertEquals(AzureError.Kind.THROTTLED, held.kind());
            assertEquals(1, fault.hits(), "no request left the process before Retry-After");
            assertEquals(0, list(clients, other), "another subscription is not slowed");

            clock.advance(Duration.ofSeconds(31));
            emulator.controls().clearFaults();
            assertEquals(0, list(clients, throttled), "after Retry-After the scope is open again");
        } finally {
            emulator.controls().clearFaults();
        }
    }

    @Test
    void failuresAreClassifiedAsTransientOrPermanent() {
        AzureClients clients = new AzureClients(AzureTargets.fromConfig(secretSettings(), Map.of(), kube), new ScopeGate(),
                config(secretSettings()));
        String sub = UUID.randomUUID().toString();
        emulator.controls().addFault(Controls.Fault.status("GET", "arm", "/subscriptions/" + sub + "/.*", 503, 0, 1));
        AzureError unavailable = AzureError.of(assertThrows(RuntimeException.class, () -> list(clients, sub)));
        assertEquals(AzureError.Kind.TRANSIENT, unavailable.kind());
        assertTrue(unavailable.isTransient());

        AzureError missing = AzureError.of(assertThrows(RuntimeException.class,
                () -> clients.keyVault(sub).serviceClient().getManagedHsms().getByResourceGroup("rg", "nope")));
        assertEquals(AzureError.Kind.NOT_FOUND, missing.kind());
        assertTrue(missing.describe().startsWith("404 "), missing.describe());

        Emulator.Principal nobody = emulator.registerPrincipal("denied");
        emulator.denyArmAction(nobody.objectId(), "Microsoft.KeyVault/managedHSMs/read");
        AzureSettings denied = secretSettings();
        kube.secrets().inNamespace("hsm-system").resource(new SecretBuilder().withNewMetadata().withName("denied").endMetadata()
                .addToData("clientSecret", b64(nobody.clientSecret())).build()).create();
        denied.clientSecretRef = "hsm-system/denied";
        denied.clientId = nobody.clientId();
        AzureClients deniedClients = new AzureClients(AzureTargets.fromConfig(denied, Map.of(), kube), new ScopeGate(), config(denied));
        AzureError forbidden = AzureError.of(assertThrows(RuntimeException.class, () -> list(deniedClients, sub)));
        assertEquals(AzureError.Kind.FORBIDDEN, forbidden.kind());
        assertEquals("AuthorizationFailed", forbidden.code());
        assertTrue(!forbidden.isTransient());
    }

    /** Managed HSM, Key Vault and the CLI word a refusal differently: the status decides, never the message. */
    @Test
    void aRefusalIsForbiddenWhateverItsWording() {
        for (String body : List.of(
                "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not authorized to perform action on resource.\","
                        + "\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}",
                "{\"error\":{\"code\":\"AccessDenied\",\"message\":\"Not authorized to access the key payments.\"}}",
                "{\"error\":{\"code\":\"Forbidden\",\"message\":\"The user, group or application does not have keys get permission.\"}}")) {
            com.azure.core.http.HttpRequest request = new com.azure.core.http.HttpRequest(com.azure.core.http.HttpMethod.GET,
                    "https://payments.managedhsm.azure.net/keys/payments?api-version=7.6");
            com.azure.core.http.HttpResponse response = new com.azure.core.http.HttpResponse(request) {
                @Override public int getStatusCode() { return 403; }
                @Override @Deprecated public String getHeaderValue(String name) { return null; }
                @Override public com.azure.core.http.HttpHeaders getHeaders() { return new com.azure.core.http.HttpHeaders(); }
                @Override public reactor.core.publisher.Flux<java.nio.ByteBuffer> getBody() {
                    return reactor.core.publisher.Flux.just(java.nio.ByteBuffer.wrap(body.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
                }
                @Override public reactor.core.publisher.Mono<byte[]> getBodyAsByteArray() {
                    return reactor.core.publisher.Mono.just(body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
                @Override public reactor.core.publisher.Mono<String> getBodyAsString() { return reactor.core.publisher.Mono.just(body); }
                @Override public reactor.core.publisher.Mono<String> getBodyAsString(java.nio.charset.Charset charset) { return getBodyAsString(); }
            };
            AzureError e = AzureError.of(new com.azure.core.exception.HttpResponseException("Status code 403, " + body, response));
            assertEquals(AzureError.Kind.FORBIDDEN, e.kind(), body);
            assertEquals(403, e.status(), body);
        }
    }

    /** As the API server stores it (the mock server does not turn stringData into data). */
    private static String b64(String s) {
        return java.util.Base64.getEncoder().encodeToString(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static long list(AzureClients clients, String subscription) {
        return clients.keyVault(subscription).serviceClient().getManagedHsms().list().stream().count();
    }

    private AzureSettings secretSettings() {
        String name = "builtin-" + UUID.randomUUID().toString().substring(0, 6);
        kube.secrets().inNamespace("hsm-system").resource(new SecretBuilder().withNewMetadata().withName(name).endMetadata()
                .addToData("clientSecret", b64(emulator.builtInPrincipal().clientSecret())).build()).create();
        AzureSettings s = emulatorCloud();
        s.credential = OperatorConfig.Credential.CLIENT_SECRET;
        s.clientSecretRef = "hsm-system/" + name;
        s.tenantId = emulator.tenantId();
        s.clientId = emulator.builtInPrincipal().clientId();
        return s;
    }

    /** The emulator as a custom cloud: its ARM endpoint and authority, its CA in the trust bundle. */
    private static AzureSettings emulatorCloud() {
        AzureSettings s = new AzureSettings();
        s.cloud = OperatorConfig.Cloud.CUSTOM;
        s.armEndpoint = emulator.armEndpoint();
        s.authorityHost = emulator.authorityHost();
        s.caBundle = emulator.caCertificatePath().toString();
        return s;
    }

    private static OperatorConfig config(OperatorConfig.Azure azure) {
        return (OperatorConfig) Proxy.newProxyInstance(OperatorConfig.class.getClassLoader(), new Class<?>[]{OperatorConfig.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("azure")) {
                        return azure;
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    /** hsm.azure.* as a test sets it; defaults as in OperatorConfig. */
    static final class AzureSettings implements OperatorConfig.Azure {
        OperatorConfig.Cloud cloud = OperatorConfig.Cloud.AZURE_PUBLIC;
        OperatorConfig.Credential credential = OperatorConfig.Credential.WORKLOAD_IDENTITY;
        String armEndpoint;
        String authorityHost;
        String caBundle;
        String tenantId;
        String clientId;
        String clientSecretRef;

        public OperatorConfig.Mode mode() {
            return OperatorConfig.Mode.AZURE;
        }

        public OperatorConfig.Cloud cloud() {
            return cloud;
        }

        public Optional<String> armEndpoint() {
            return Optional.ofNullable(armEndpoint);
        }

        public Optional<String> authorityHost() {
            return Optional.ofNullable(authorityHost);
        }

        public Optional<String> managementAudience() {
            return Optional.empty();
        }

        public Optional<String> caBundle() {
            return Optional.ofNullable(caBundle);
        }

        public OperatorConfig.Credential credential() {
            return credential;
        }

        public Optional<String> tenantId() {
            return Optional.ofNullable(tenantId);
        }

        public Optional<String> clientId() {
            return Optional.ofNullable(clientId);
        }

        public Optional<String> clientSecretRef() {
            return Optional.ofNullable(clientSecretRef);
        }

        public String clientSecretKey() {
            return "clientSecret";
        }

        public Duration timeout() {
            return Duration.ofSeconds(10);
        }

        @Override
        public Duration writeTimeout() {
            return Duration.ofSeconds(8);
        }

        public Duration keyCreationInterval() {
            return Duration.ofMillis(1200);
        }

        public boolean disableChallengeResourceVerification() {
            return true;
        }
    }

    static final class MutableClock extends Clock {
        private Instant now = Instant.now();

        void advance(Duration d) {
            now = now.plus(d);
        }

        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        public Instant instant() {
            return now;
        }
    }
}
