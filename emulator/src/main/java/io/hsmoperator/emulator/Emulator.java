package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The local Azure: Entra ID's token endpoint, ARM and one Managed HSM data plane per emulated HSM, each on its own
 * loopback HTTPS port so that key identifiers parse with the SDK. Usable in-process ({@link #start}) or as its own
 * process ({@link EmulatorMain}). Operator code never imports this package.
 */
public final class Emulator implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Emulator.class.getName());

    /** What a client needs to reach this emulator, as written to the connection file. */
    public record Principal(String objectId, String clientId, String clientSecret, String displayName) {
        @Override
        public String toString() {
            return "Principal[objectId=" + objectId + ", clientId=" + clientId + ", displayName=" + displayName + "]";
        }
    }

    private final EmulatorConfig config;
    private final Path stateDir;
    private final State state;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Controls controls = new Controls();
    private StaleReads staleReads;
    private final Tls tls;
    private final Entra entra;
    private final Arm arm;
    private final HsmDataPlane dataPlane;
    private final HsmRegions regions;
    private final AdminApi admin;
    private final ExecutorService executor;
    private final ScheduledExecutorService background;
    private final Map<String, Http.Listener> hsmListeners = new ConcurrentHashMap<>();
    private final AtomicBoolean dirty = new AtomicBoolean();
    private final Http.Listener main;
    private volatile BlobStorage blobStorage;
    private volatile boolean closed;

    private Emulator(EmulatorConfig config) throws IOException {
        this.config = config;
        this.staleReads = new StaleReads(() -> controls.staleReadsOverride().orElse(config.staleReads()));
        this.stateDir = config.stateDir() != null ? config.stateDir() : Files.createTempDirectory("hsm-emulator");
        Files.createDirectories(stateDir);
        this.state = loadState();
        // The certificate names the host every URL the emulator hands out carries (its advertised host), and the extra names.
        List<String> hostNames = new ArrayList<>(List.of(config.advertisedHost()));
        hostNames.addAll(config.extraHostNames());
        this.tls = Tls.loadOrCreate(stateDir, hostNames);
        Files.writeString(stateDir.resolve("ca.crt"), tls.caPem());
        this.entra = new Entra(this, rsaKey("entra-signing.key"), rsaKey("federation-issuer.key"));
        this.arm = new Arm(this);
        this.dataPlane = new HsmDataPlane(this);
        this.regions = new HsmRegions(this);
        this.admin = new AdminApi(this);
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "hsm-emulator-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.background = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "hsm-emulator-background");
            t.setDaemon(true);
            return t;
        });
        controls.restoreClockOffset(state.clockOffsetMillis);
        controls.onClockAdvance(this::tick);
        this.main = listen("arm", config.port());
        for (State.Hsm h : state.hsms.values()) {
            openHsm(h);
            HsmRegions.current(h).forEach(region -> openRegion(h, region));
        }
        background.scheduleWithFixedDelay(this::tickQuietly, 1, 1, TimeUnit.SECONDS);
        background.scheduleWithFixedDelay(this::saveIfDirty, 200, 200, TimeUnit.MILLISECONDS);
        writeConnectionFile();
    }

    public static Emulator start(EmulatorConfig config) {
        try {
            return new Emulator(config);
        } catch (IOException e) {
            throw new UncheckedIOException("The emulator could not start: " + e.getMessage(), e);
        }
    }

    // ---- what clients need ---------------------------------------------------------------------

    public EmulatorConfig config() {
        return config;
    }

    StaleReads staleReads() {
        return staleReads;
    }

    public Controls controls() {
        return controls;
    }

    public String baseUrl() {
        return "https://" + config.advertisedHost() + ":" + main.port();
    }

    public String armEndpoint() {
        return baseUrl() + "/";
    }

    public String authorityHost() {
        return baseUrl() + "/";
    }

    public int port() {
        return main.port();
    }

    public String tenantId() {
        return state.tenantId;
    }

    public X509Certificate caCertificate() {
        return tls.caCertificate();
    }

    public String caPem() {
        return tls.caPem();
    }

    public Path caCertificatePath() {
        return stateDir.resolve("ca.crt");
    }

    public Path connectionFile() {
        return stateDir.resolve("emulator.json");
    }

    public Path stateDir() {
        return stateDir;
    }

    /** The root CA of the emulator's key attestations: what an auditor trusts to check them ({@link AttestationEvidence}). */
    public X509Certificate attestationRoot() {
        String pem = write(() -> new KeyAttestations(this).rootCertificate());
        try {
            return Tls.readCert(pem);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Issues a certificate from the emulator's CA for any key: handy for security-domain certificates in tests. */
    public X509Certificate issueCertificate(String subject, java.security.PublicKey key) {
        return tls.issueFor(subject, key);
    }

    public Principal builtInPrincipal() {
        return read(() -> {
            State.Principal p = state.principals.values().iterator().next();
            return new Principal(p.objectId, p.clientId, p.clientSecret, p.displayName);
        });
    }

    /** Registers an Entra principal (an application with a client secret). */
    public Principal registerPrincipal(String displayName) {
        return registerPrincipal(displayName, null);
    }

    /** Registers a principal with a given object ID (for example the one a manifest names), or returns it if known. */
    public Principal registerPrincipal(String displayName, String objectId) {
        return write(() -> {
            State.Principal known = objectId == null ? null : state.principals.get(objectId);
            if (known != null) {
                return new Principal(known.objectId, known.clientId, known.clientSecret, known.displayName);
            }
            State.Principal p = newPrincipal(displayName);
            if (objectId != null) {
                p.objectId = objectId;
            }
            state.principals.put(p.objectId, p);
            dirty();
            return new Principal(p.objectId, p.clientId, p.clientSecret, p.displayName);
        });
    }

    /** Lets {@code clientId} authenticate with a service-account token for {@code subject} from the emulator's issuer. */
    public void addFederatedCredential(String clientId, String subject) {
        addFederatedCredential(clientId, entra.federationIssuer(), subject);
    }

    /**
     * Lets {@code clientId} authenticate with a token of another issuer (for example a Kubernetes cluster's service-account
     * issuer, trusted with {@link #trustIssuer}) whose subject is {@code subject}: a federated identity credential.
     */
    public void addFederatedCredential(String clientId, String issuer, String subject) {
        write(() -> {
            State.Principal p = state.principals.values().stream().filter(x -> x.clientId.equals(clientId)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("No principal with client ID " + clientId));
            p.federatedCredentials.add(Map.of("issuer", issuer, "subject", subject));
            dirty();
            return null;
        });
    }

    /**
     * Trusts an OpenID Connect issuer's tokens as Entra trusts an AKS cluster's OIDC issuer: by its discovery document
     * and JWKS, read at {@code reachAt} (the issuer URL itself may not resolve here) over TLS signed by {@code ca}.
     */
    public void trustIssuer(String issuer, java.net.URI reachAt, X509Certificate ca) {
        entra.trustIssuer(issuer, reachAt, ca);
    }

    /**
     * Backups to and restores from containers under {@code endpoint} (https://127.0.0.1:PORT, accounts path-style below it)
     * go to that Blob service, whose certificate this emulator's CA issued ({@link #issueServerCertificate}): Azurite.
     * Containers elsewhere (the recordings' storage accounts) stay in the emulator's own state, as before.
     */
    public void useBlobStorage(String endpoint) {
        blobStorage = new BlobStorage(endpoint, tls.trustingThisCa());
    }

    BlobStorage blobStorage() {
        return blobStorage;
    }

    /** A server certificate from the emulator's CA, for a local service its clients must trust as they trust it. */
    public Tls.Issued issueServerCertificate(List<String> names) {
        return tls.issueServer(names);
    }

    /**
     * A user-assigned managed identity, as {@code az identity create} makes one through ARM; returns its principal's
     * object ID. Giving it to an HSM still goes through ARM (and needs assign/action on it).
     */
    public String createUserAssignedIdentity(String subscription, String resourceGroup, String name, String location) {
        return write(() -> {
            String key = ManagedIdentityArmApi.resourceId(subscription, resourceGroup, name).toLowerCase(java.util.Locale.ROOT);
            State.UserAssignedIdentity known = state.userAssignedIdentities.get(key);
            if (known != null) {
                return known.principalId;
            }
            State.UserAssignedIdentity id = ManagedIdentityArmApi.create(state, subscription, resourceGroup, name, location);
            dirty();
            return id.principalId;
        });
    }

    /** A projected service-account token as a cluster would mount it for workload identity. */
    public String federatedToken(String subject) {
        return entra.federatedToken(subject, 3600);
    }

    /**
     * Assigns an ARM role to a principal at a scope ("/" for everything, or a subscription, resource group or resource
     * ID). The role is a built-in one (Owner, Contributor, Reader) or one defined with {@link #defineArmRole}. A principal
     * registered here starts with no ARM role, as a new service principal does; the built-in principal is Owner at "/".
     */
    public void assignArmRole(String objectId, String role, String scope) {
        write(() -> {
            if (ArmAuthorization.definition(state, role) == null) {
                throw new IllegalArgumentException("No ARM role named " + role);
            }
            state.armRoleAssignments.add(ArmAuthorization.assignment(objectId, role, scope));
            dirty();
            return null;
        });
    }

    /** Removes every ARM role assignment of a principal. */
    public void revokeArmRoles(String objectId) {
        write(() -> {
            state.armRoleAssignments.removeIf(a -> a.principalId.equalsIgnoreCase(objectId));
            dirty();
            return null;
        });
    }

    /** Defines a custom ARM role from a file in {@code az role definition create} format; returns its name. */
    public String defineArmRole(Path azCliRoleDefinition) {
        State.ArmRole role = ArmAuthorization.fromAzCliFile(azCliRoleDefinition);
        write(() -> {
            state.armRoleDefinitions.put(role.name.toLowerCase(java.util.Locale.ROOT), role);
            dirty();
            return null;
        });
        return role.name;
    }

    /** Refuses an ARM action (e.g. "Microsoft.KeyVault/managedHSMs/write") to a principal with 403 AuthorizationFailed. */
    public void denyArmAction(String objectId, String action) {
        write(() -> {
            state.principals.get(objectId).deniedArmActions.add(action);
            return null;
        });
    }

    /**
     * Removes key {@code keyName} of HSM {@code hsmName}, live or soft-deleted, as if someone had deleted and purged it
     * outside the operator: for tests that need a name free again (the operator never purges). False when there was none.
     */
    public boolean forgetKey(String hsmName, String keyName) {
        return write(() -> {
            State.Hsm h = state.hsms.get(hsmName.toLowerCase(java.util.Locale.ROOT));
            String lower = keyName.toLowerCase(java.util.Locale.ROOT);
            boolean removed = h != null && (h.keys.remove(lower) != null | h.deletedKeys.remove(lower) != null);
            dirty();
            return removed;
        });
    }

    /**
     * Adds {@code count} keys named {@code prefix}0, {@code prefix}1, ... to HSM {@code hsmName}, each one version copied
     * from key {@code template}'s current version (same material, a fresh version ID, no tags), as if others had created them
     * outside the operator: for tests of an HSM near its 5,000-key limit without thousands of creates. Refuses to go
     * beyond the limit, as Azure would. Returns how many keys the HSM then holds.
     */
    public int copyKey(String hsmName, String template, String prefix, int count) {
        return write(() -> {
            State.Hsm h = state.hsms.get(hsmName.toLowerCase(Locale.ROOT));
            State.Key source = h == null ? null : h.keys.get(template.toLowerCase(Locale.ROOT));
            if (source == null) {
                throw new IllegalArgumentException("no key " + template + " in HSM " + hsmName);
            }
            if (h.keys.size() + count > KeysApi.MAX_KEYS) {
                throw new IllegalArgumentException("HSM " + hsmName + " would hold more than " + KeysApi.MAX_KEYS + " keys");
            }
            var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
            for (int i = 0; i < count; i++) {
                State.KeyVersion v = mapper.convertValue(source.latest(), State.KeyVersion.class);
                v.version = UUID.randomUUID().toString().replace("-", "");
                v.tags = new java.util.LinkedHashMap<>();
                State.Key k = new State.Key();
                k.name = prefix + i;
                k.versions.add(v);
                h.keys.put(k.name.toLowerCase(Locale.ROOT), k);
            }
            dirty();
            return h.keys.size();
        });
    }

    /** Reads emulator state under its lock, for tests that check what Azure holds. */
    public <T> T inspect(Function<State, T> reader) {
        return read(() -> reader.apply(state));
    }

    /** Runs the service's time-driven work now (service-side rotation, expiry of soft-deleted objects). */
    public void tick() {
        write(() -> {
            long now = controls.nowEpochSeconds();
            Instant nowInstant = controls.now();
            for (State.Hsm h : state.hsms.values()) {
                regions.sweep(h);
                if (isActive(h) && dataPlane.keys().rotateDue(h, now) > 0) {
                    dirty();
                }
                if (h.deletedKeys.values().removeIf(k -> k.scheduledPurgeDate != null && k.scheduledPurgeDate <= now)) {
                    dirty();
                }
            }
            if (state.deletedHsms.values().removeIf(h -> h.scheduledPurgeDate != null
                    && !Instant.parse(h.scheduledPurgeDate).isAfter(nowInstant))) {
                dirty();
            }
            long stale = System.currentTimeMillis() - 3_600_000;
            state.operations.values().removeIf(op -> op.doneAtMillis < stale);
            if (state.clockOffsetMillis != controls.clockOffsetMillis()) {
                state.clockOffsetMillis = controls.clockOffsetMillis();
                dirty();
            }
            return null;
        });
    }

    private void tickQuietly() {
        try {
            tick();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Emulator background work failed", e);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        background.shutdownNow();
        main.close();
        hsmListeners.values().forEach(Http.Listener::close);
        hsmListeners.clear();
        saveIfDirty();
        executor.shutdownNow();
    }

    // ---- internals used by the API handlers ----------------------------------------------------

    State state() {
        return state;
    }

    Entra entra() {
        return entra;
    }

    <T> T read(Supplier<T> s) {
        lock.readLock().lock();
        try {
            return s.get();
        } finally {
            lock.readLock().unlock();
        }
    }

    <T> T write(Supplier<T> s) {
        lock.writeLock().lock();
        try {
            return s.get();
        } finally {
            lock.writeLock().unlock();
        }
    }

    void dirty() {
        dirty.set(true);
    }

    boolean isActive(State.Hsm h) {
        return h.securityDomain != null && System.currentTimeMillis() >= h.securityDomain.activeAtMillis;
    }

    String hsmUri(State.Hsm h) {
        return "https://" + config.advertisedHost() + ":" + h.port;
    }

    /** Starts the data-plane listener of an HSM, on the port it had before when it can (key IDs embed it). */
    void openHsm(State.Hsm h) {
        String key = h.name.toLowerCase(Locale.ROOT);
        if (hsmListeners.containsKey(key)) {
            return;
        }
        h.port = openListener(key, h.port, "HSM " + h.name);
    }

    /** Listens for {@code key} on {@code port} (0: a port no HSM had), or on a new port when that one is taken; returns the port. */
    private int openListener(String key, int port, String what) {
        Http.Listener l;
        try {
            l = port == 0 ? listenOnANewPort(key) : listen(key, port);
        } catch (UncheckedIOException e) {
            if (!(e.getCause() instanceof BindException) || port == 0) {
                throw e;
            }
            LOG.log(System.Logger.Level.WARNING, "Port " + port + " of " + what + " is taken; key IDs issued before change host");
            l = listenOnANewPort(key);
        }
        handedOut().add(l.port());
        hsmListeners.put(key, l);
        return l.port();
    }

    /**
     * Every HSM port the emulators of this process handed out: an HSM's host is its own, as its DNS name is in Azure.
     * Kept in the system properties, so that it is one set per JVM whatever class loader loaded this class: Quarkus
     * tests load the emulator anew with each application, while the Azure SDK, and its cache of hosts, stays loaded.
     */
    @SuppressWarnings("unchecked")
    private static Set<Integer> handedOut() {
        return (Set<Integer>) System.getProperties().computeIfAbsent("io.hsmoperator.emulator.hsm-ports",
                k -> ConcurrentHashMap.<Integer>newKeySet());
    }

    /**
     * A listener on a port no HSM of this process had before. The operating system reuses freed ports, and clients
     * remember things by host and port (the Key Vault SDK caches each host's authentication challenge, tenant included):
     * an HSM of a new emulator (another tenant) on a port an earlier HSM had would be answered with that HSM's tenant.
     */
    private Http.Listener listenOnANewPort(String key) {
        List<Http.Listener> reused = new ArrayList<>();
        try {
            while (true) {
                Http.Listener l = listen(key, 0);
                if (handedOut().add(l.port())) {
                    return l;
                }
                reused.add(l);
            }
        } finally {
            reused.forEach(Http.Listener::close);
        }
    }

    void closeHsm(State.Hsm h) {
        Http.Listener l = hsmListeners.remove(h.name.toLowerCase(Locale.ROOT));
        if (l != null) {
            executor.execute(l::close);
        }
        h.extendedRegions.forEach(region -> closeRegion(h, region));
    }

    /** The listener key of an extended region's data-plane host: the HSM's, then "@" and the region. */
    static String regionEndpoint(State.Hsm h, String region) {
        return h.name.toLowerCase(Locale.ROOT) + "@" + HsmRegions.normalise(region);
    }

    /** Starts the data-plane host of an extended region: a port of its own, as Azure gives it a DNS name of its own. */
    void openRegion(State.Hsm h, State.Region region) {
        String key = regionEndpoint(h, region.name);
        if (hsmListeners.containsKey(key)) {
            return;
        }
        region.port = openListener(key, region.port, "region " + region.name + " of HSM " + h.name);
        dirty();
    }

    void closeRegion(State.Hsm h, State.Region region) {
        Http.Listener l = hsmListeners.remove(regionEndpoint(h, region.name));
        if (l != null) {
            executor.execute(l::close);
        }
    }

    HsmRegions regions() {
        return regions;
    }

    /**
     * The data-plane URI of an HSM's region (Azure: https://{hsm}.{region}.managedhsm.azure.net/; here the region's own
     * port): the HSM's own for its primary region, empty when the HSM has no such region.
     */
    public java.util.Optional<String> regionUri(String hsmName, String region) {
        return read(() -> {
            State.Hsm h = state.hsms.get(hsmName.toLowerCase(Locale.ROOT));
            if (h == null) {
                return java.util.Optional.<String>empty();
            }
            if (HsmRegions.normalise(region).equals(HsmRegions.normalise(h.location))) {
                return java.util.Optional.of(hsmUri(h) + "/");
            }
            State.Region r = HsmRegions.find(h, region);
            return r == null || r.port == 0 ? java.util.Optional.<String>empty()
                    : java.util.Optional.of("https://" + config.advertisedHost() + ":" + r.port + "/");
        });
    }

    /** Applies an injected fault to a request that has been authenticated. */
    void applyFault(Http.Request r) {
        if (!config.testControls()) {
            return;
        }
        Controls.Fault f = controls.takeFault(r.method, r.endpoint, r.path);
        if (f == null) {
            return;
        }
        switch (f.kind) {
            case STATUS: {
                String code = f.status == 429 ? "Throttled" : f.status == 503 ? "ServiceUnavailable" : f.status >= 500
                        ? "InternalServerError" : "Injected";
                String msg = f.status == 429 ? "Request was not processed because too many requests were received. Reason: injected fault."
                        : "The service could not process the request (injected fault).";
                ApiException e = new ApiException(f.status, code, msg);
                if (f.retryAfterSeconds > 0) {
                    e.header("Retry-After", String.valueOf(f.retryAfterSeconds));
                }
                throw e;
            }
            case DELAY:
                try {
                    Thread.sleep(f.delayMillis);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
                return;
            case DROP:
                throw new DropConnection();
            case DROP_AFTER_COMMIT:
                r.dropAfterCommit = true;
                return;
            case FAIL_ASYNC:
                r.failAsync = true;
                return;
            default:
        }
    }

    /** Thrown to close a connection without answering. */
    static final class DropConnection extends RuntimeException {
        DropConnection() {
            super(null, null, false, false);
        }
    }

    // ---- request pipeline ----------------------------------------------------------------------

    private Http.Listener listen(String endpoint, int port) {
        try {
            return new Http.Listener(endpoint, config.bindAddress(), port, tls.sslContext(), executor, ex -> serve(endpoint, ex));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void serve(String endpoint, HttpExchange exchange) {
        Http.Request request = null;
        Http.Response response;
        String journalEndpoint = endpoint;
        long started = System.nanoTime();
        try {
            request = Http.read(endpoint, exchange);
            if (endpoint.equals("arm")) {
                if (request.is(0, "emulator")) {
                    journalEndpoint = "admin";
                    response = admin.handle(request);
                } else if (entra.handles(request)) {
                    journalEndpoint = "entra";
                    response = entra.handle(request);
                } else {
                    response = arm.handle(request);
                }
            } else {
                response = dataPlane.handle(request);
            }
        } catch (DropConnection d) {
            journal(journalEndpoint, request, 0);
            exchange.close();
            return;
        } catch (ApiException e) {
            response = Http.Response.json(e.status(), e.body());
            e.headers().forEach(response::header);
        } catch (Exception | Error e) {
            LOG.log(System.Logger.Level.ERROR, "Emulator failed to handle " + (request == null ? "a request" : request.method + " "
                    + request.path), e);
            response = Http.Response.json(500, new ApiException(500, "InternalServerError",
                    "The server encountered an internal error. Please retry the request.").body());
        }
        decorate(endpoint, request, response, started);
        if (!"admin".equals(journalEndpoint)) {
            journal(journalEndpoint, request, response.status);
        }
        try {
            if (request != null && request.dropAfterCommit) {
                exchange.close();
                return;
            }
            Http.write(exchange, response);
        } catch (IOException e) {
            exchange.close();
        }
    }

    private void journal(String endpoint, Http.Request r, int status) {
        if (r == null) {
            return;
        }
        int q = r.rawTarget.indexOf('?');
        controls.record(endpoint, r.principal, r.method, r.path, q < 0 ? "" : r.rawTarget.substring(q + 1), status,
                r.header("x-ms-client-request-id"));
    }

    private void decorate(String endpoint, Http.Request r, Http.Response resp, long started) {
        String requestId = UUID.randomUUID().toString();
        resp.headers.putIfAbsent("Content-Type", "application/json; charset=utf-8");
        resp.headers.put("Cache-Control", "no-cache");
        resp.headers.put("x-ms-request-id", requestId);
        if (r != null && r.header("x-ms-client-request-id") != null) {
            resp.headers.put("x-ms-client-request-id", r.header("x-ms-client-request-id"));
        }
        if (r != null && r.header("client-request-id") != null) {
            resp.headers.put("client-request-id", r.header("client-request-id"));
        }
        resp.headers.put("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
        resp.headers.put("X-Content-Type-Options", "nosniff");
        if (endpoint.equals("arm")) {
            resp.headers.put("Pragma", "no-cache");
            resp.headers.put("Expires", "-1");
            resp.headers.put("x-ms-correlation-request-id", requestId);
            resp.headers.put("x-ms-routing-request-id", "EMULATOR:" + requestId);
            if (r != null) {
                boolean write = !r.method.equals("GET") && !r.method.equals("HEAD");
                resp.headers.put(write ? "x-ms-ratelimit-remaining-subscription-writes" : "x-ms-ratelimit-remaining-subscription-reads",
                        write ? "1199" : "11999");
            }
        } else {
            resp.headers.put("Content-Security-Policy", "default-src 'self'");
            resp.headers.put("X-Frame-Options", "SAMEORIGIN");
            resp.headers.put("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=Ipv4;");
            int at = endpoint.indexOf('@');
            State.Hsm h = read(() -> state.hsms.get(at < 0 ? endpoint : endpoint.substring(0, at)));
            resp.headers.put("x-ms-keyvault-region", h == null ? "emulator" : at < 0 ? h.location : endpoint.substring(at + 1));
            resp.headers.put("x-ms-server-latency", String.valueOf((System.nanoTime() - started) / 1_000_000));
        }
    }

    // ---- persistence ---------------------------------------------------------------------------

    private State loadState() throws IOException {
        Path file = stateDir.resolve("state.json");
        if (config.persistent() && Files.exists(file)) {
            State s = Json.MAPPER.readValue(file.toFile(), State.class);
            if (config.tenantId() != null && !config.tenantId().equals(s.tenantId)) {
                throw new IllegalStateException("The state directory belongs to tenant " + s.tenantId + ", not " + config.tenantId());
            }
            ArmAuthorization.migrate(s);
            return s;
        }
        State s = new State();
        s.tenantId = config.tenantId() != null ? config.tenantId() : UUID.randomUUID().toString();
        State.Principal p = newPrincipal("hsm-operator (emulator built-in principal)");
        s.principals.put(p.objectId, p);
        ArmAuthorization.migrate(s);
        dirty.set(true);
        return s;
    }

    static State.Principal newPrincipal(String displayName) {
        State.Principal p = new State.Principal();
        p.objectId = UUID.randomUUID().toString();
        p.clientId = UUID.randomUUID().toString();
        p.clientSecret = Json.b64u(HsmDataPlane.randomBytes(30));
        p.displayName = displayName;
        return p;
    }

    private void saveIfDirty() {
        if (!config.persistent() || !dirty.getAndSet(false)) {
            return;
        }
        try {
            byte[] bytes = read(() -> {
                state.clockOffsetMillis = controls.clockOffsetMillis();
                return Json.bytes(state);
            });
            Path tmp = stateDir.resolve("state.json.tmp");
            Files.write(tmp, bytes);
            restrict(tmp);
            Files.move(tmp, stateDir.resolve("state.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            dirty.set(true);
            LOG.log(System.Logger.Level.WARNING, "Could not save emulator state: " + e.getMessage());
        }
    }

    private static void restrict(Path file) {
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException | IOException ignored) {
            // not a POSIX file system
        }
    }

    private KeyPair rsaKey(String fileName) throws IOException {
        Path file = stateDir.resolve(fileName);
        try {
            KeyFactory kf = KeyFactory.getInstance("RSA");
            if (Files.exists(file)) {
                PrivateKey priv = kf.generatePrivate(new PKCS8EncodedKeySpec(Tls.unpem(Files.readString(file))));
                RSAPrivateCrtKey crt = (RSAPrivateCrtKey) priv;
                return new KeyPair(kf.generatePublic(new RSAPublicKeySpec(crt.getModulus(), crt.getPublicExponent())), priv);
            }
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            KeyPair kp = g.generateKeyPair();
            if (config.stateDir() != null) {
                Tls.writePrivate(file, Tls.pem("PRIVATE KEY", kp.getPrivate().getEncoded()));
            }
            return kp;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The connection file: everything a client needs, including the built-in principal's secret (mode 0600). */
    ObjectNode connectionInfo() {
        Principal p = builtInPrincipal();
        ObjectNode o = Json.object()
                .put("armEndpoint", armEndpoint())
                .put("authorityHost", authorityHost())
                .put("tenantId", tenantId())
                .put("subscriptionId", UUID.nameUUIDFromBytes(("subscription:" + tenantId()).getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString())
                .put("clientId", p.clientId())
                .put("clientSecret", p.clientSecret())
                .put("objectId", p.objectId())
                .put("caCertificate", caCertificatePath().toAbsolutePath().toString())
                .put("managementScope", "https://management.core.windows.net//.default")
                .put("hsmScope", "https://managedhsm.azure.net/.default")
                .put("federationIssuer", entra.federationIssuer())
                .put("adminEndpoint", baseUrl() + "/emulator")
                .put("testControls", config.testControls());
        return o;
    }

    private void writeConnectionFile() throws IOException {
        Path tmp = stateDir.resolve("emulator.json.tmp");
        Files.write(tmp, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(connectionInfo()));
        restrict(tmp);
        Files.move(tmp, connectionFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    List<String> hsmNames() {
        return read(() -> new ArrayList<>(state.hsms.keySet()));
    }

    static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }
}
