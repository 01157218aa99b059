package io.hsmoperator.azure;

import com.azure.core.http.HttpPipelineCallContext;
import com.azure.core.http.HttpPipelineNextPolicy;
import com.azure.core.http.HttpPipelinePosition;
import com.azure.core.http.HttpResponse;
import com.azure.core.http.policy.HttpPipelinePolicy;
import io.hsmoperator.metrics.OperatorMetrics;
import jakarta.inject.Singleton;
import reactor.core.publisher.Mono;

import java.net.URL;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One throttle per Azure scope, shared by every client and reconcile thread: after a 429 (or a 503 with Retry-After),
 * no request to that scope leaves the process before Retry-After has passed; a throttled HSM slows only itself.
 * Scopes: ARM per subscription, the data plane per HSM host. Every request passes here, so this is also where a write
 * is held to the leader lease ({@link WriteFence}) and to its timeout.
 */
@Singleton
public class ScopeGate {
    private static final Pattern SUBSCRIPTION = Pattern.compile("/subscriptions/([^/?]+)", Pattern.CASE_INSENSITIVE);
    private static final Duration DEFAULT_BACKOFF = Duration.ofSeconds(10);
    private final Map<String, Instant> notBefore = new ConcurrentHashMap<>();
    private final Clock clock;
    private final Duration keyCreationInterval;
    private final WriteFence fence;
    private final Duration writeTimeout;

    public ScopeGate() {
        this(Clock.systemUTC());
    }

    public ScopeGate(Clock clock) {
        this(clock, KEY_CREATION_INTERVAL);
    }

    public ScopeGate(Clock clock, Duration keyCreationInterval) {
        this(clock, keyCreationInterval, new WriteFence(clock), WRITE_TIMEOUT);
    }

    public ScopeGate(Clock clock, Duration keyCreationInterval, WriteFence fence, Duration writeTimeout) {
        this.clock = clock;
        this.keyCreationInterval = keyCreationInterval;
        this.fence = fence;
        this.writeTimeout = writeTimeout;
    }

    @jakarta.inject.Inject
    public ScopeGate(OperatorConfig config, WriteFence fence) {
        this(Clock.systemUTC(), config.azure().keyCreationInterval(), fence, config.azure().writeTimeout());
    }

    /** The default of hsm.azure.write-timeout. */
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(8);

    /** A request that changes something in Azure. Token requests are not: they never pass the operator's pipelines. */
    static boolean isWrite(String method) {
        return !method.equals("GET") && !method.equals("HEAD") && !method.equals("OPTIONS");
    }

    /** Refuses a write the fence does not let out; a transient failure, so the reconcile is retried (by the leader). */
    private void fenced(String method, URL url) {
        if (!isWrite(method)) {
            return;
        }
        Optional<String> refusal = fence.refusal(writeTimeout);
        if (refusal.isPresent()) {
            OperatorMetrics.fencedWrite();
            throw new AzureError(AzureError.Kind.TRANSIENT, 0, "NotLeader", "Not sent (" + method + " " + url.getPath()
                    + "): " + refusal.get(), null, null);
        }
    }

    /**
     * The write's deadline, from the fence's check to Azure's answer: past it the write is abandoned, so that none is
     * still on its way once the lease the fence counted on may have lapsed. The HTTP client closes the connection at its
     * response timeout, set to the same; the send runs off the caller's thread so that a blocking one (a synchronous
     * client's) cannot hold the caller past the deadline either.
     */
    private Mono<HttpResponse> deadline(HttpPipelineCallContext context, HttpPipelineNextPolicy next, String method, URL url) {
        // A security-domain download is fenced when it leaves like any write, but its answer is never abandoned: it carries
        // the only copy of the blob Azure activates the HSM with, and abandoning it cannot take the request back. A replica
        // that loses its lease meanwhile waits for it to reach the spool before it halts (OperatorInstance.halt).
        if (!isWrite(method) || url.getPath().endsWith(SECURITY_DOMAIN_DOWNLOAD)) {
            return next.process();
        }
        context.setData(RESPONSE_TIMEOUT, writeTimeout);
        return next.process().subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic()).timeout(writeTimeout,
                Mono.error(() -> new AzureError(AzureError.Kind.TRANSIENT, 0, "WriteTimeout", method + " " + url.getPath()
                        + " was not answered within " + writeTimeout.toMillis() / 1000.0 + "s (hsm.azure.write-timeout) and was "
                        + "abandoned; Azure may or may not have applied it", null, null)));
    }

    /** The path of Managed HSM's security-domain download (POST). */
    private static final String SECURITY_DOMAIN_DOWNLOAD = "/securitydomain/download";

    /** azure-core's per-request override of the HTTP client's response timeout. */
    private static final String RESPONSE_TIMEOUT = "azure-response-timeout";

    /** The scope a request belongs to. */
    public static String scopeOf(URL url) {
        Matcher m = SUBSCRIPTION.matcher(url.getPath());
        if (m.find()) {
            return "arm:" + m.group(1).toLowerCase();
        }
        return "hsm:" + url.getHost() + (url.getPort() > 0 ? ":" + url.getPort() : "");
    }

    /**
     * Managed HSM creates at most one key (or key version) per second per HSM: such requests leave one per slot, a
     * little over a second apart, since two sent a second apart may arrive closer. The default of
     * hsm.azure.key-creation-interval: 200 keys on one HSM take 220 s against Azure's 200 (e2e/bench limits).
     */
    static final Duration KEY_CREATION_INTERVAL = Duration.ofMillis(1100);
    private static final Pattern KEY_CREATION = Pattern.compile("^/keys/[^/]+/(create|rotate)$", Pattern.CASE_INSENSITIVE);
    /**
     * Managed HSM allows five RBAC operations per second per HSM. Four in any window of 1.1 s keeps below that with
     * room for requests that arrive closer than they left, and lets a short burst (a grant's read, role list and write)
     * go at once.
     */
    static final int RBAC_PER_WINDOW = 4;
    static final Duration RBAC_WINDOW = Duration.ofMillis(1100);
    private final Map<String, Window> windows = new ConcurrentHashMap<>();

    /**
     * How long this request must wait for its slot: zero but for key creations and RBAC operations, which are paced
     * per HSM so that many HsmKeys or grants on one HSM meet Azure's limits instead of drawing a 429 each.
     */
    Duration slot(String scope, String method, URL url) {
        if (!scope.startsWith("hsm:")) {
            return Duration.ZERO;
        }
        if (method.equals("POST") && KEY_CREATION.matcher(url.getPath()).matches()) {
            return paced("key-creation-pacing", take(scope + "|create", 1, keyCreationInterval));
        }
        if (url.getPath().contains("/providers/Microsoft.Authorization/")) {
            return paced("rbac-pacing", take(scope + "|rbac", RBAC_PER_WINDOW, RBAC_WINDOW));
        }
        return Duration.ZERO;
    }

    private static Duration paced(String cause, Duration wait) {
        if (!wait.isZero()) {
            OperatorMetrics.throttleWait(cause, wait);
        }
        return wait;
    }

    /** The send times granted last in a queue: a request leaves once the oldest of the last {@code n} is a window old. */
    private static final class Window {
        final Instant[] sent;
        int oldest;

        Window(int n) {
            sent = new Instant[n];
        }
    }

    private Duration take(String queue, int n, Duration window) {
        Instant now = clock.instant();
        Window w = windows.computeIfAbsent(queue, k -> new Window(n));
        Instant mine;
        synchronized (w) {
            Instant free = w.sent[w.oldest] == null ? now : w.sent[w.oldest].plus(window);
            mine = free.isBefore(now) ? now : free;
            w.sent[w.oldest] = mine;
            w.oldest = (w.oldest + 1) % n;
        }
        return Duration.between(now, mine);
    }

    public void throttled(String scope, Duration retryAfter) {
        Instant until = clock.instant().plus(retryAfter == null ? DEFAULT_BACKOFF : retryAfter);
        notBefore.merge(scope, until, (a, b) -> a.isAfter(b) ? a : b);
    }

    /** How long requests to the scope must still wait, if at all. */
    public Optional<Duration> waiting(String scope) {
        Instant until = notBefore.get(scope);
        if (until == null) {
            return Optional.empty();
        }
        Duration left = Duration.between(clock.instant(), until);
        if (left.isNegative() || left.isZero()) {
            notBefore.remove(scope, until);
            return Optional.empty();
        }
        return Optional.of(left);
    }

    /**
     * Admits a request to its scope, the same for both paths: refused (429, locally) while the scope waits for
     * Retry-After; otherwise it takes its pacing slot, and this is how long it must wait for it.
     */
    private Duration admit(String scope, String method, URL url) {
        Optional<Duration> wait = waiting(scope);
        if (wait.isPresent()) {
            throw new AzureError(AzureError.Kind.THROTTLED, 429, "Throttled", "Azure throttled " + scope
                    + "; the next request waits " + wait.get().toSeconds() + "s for Retry-After", wait.get(), null);
        }
        return slot(scope, method, url);
    }

    /** The pipeline policy: refuse locally while the scope waits; learn from every 429 and Retry-After. */
    public HttpPipelinePolicy policy() {
        return new HttpPipelinePolicy() {
            @Override
            public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
                String method = context.getHttpRequest().getHttpMethod().name();
                URL url = context.getHttpRequest().getUrl();
                String scope = scopeOf(url);
                Duration slot;
                try {
                    slot = admit(scope, method, url);
                } catch (AzureError refused) {
                    return Mono.error(refused);
                }
                // The fence is asked when the write leaves, after its pacing slot, which can be long in a busy queue.
                Mono<HttpResponse> send = Mono.defer(() -> {
                    fenced(method, url);
                    return deadline(context, next, method, url);
                }).doOnNext(r -> observe(scope, r));
                return slot.isZero() ? send : Mono.delay(slot).then(send);
            }

            @Override
            public HttpResponse processSync(HttpPipelineCallContext context, com.azure.core.http.HttpPipelineNextSyncPolicy next) {
                String method = context.getHttpRequest().getHttpMethod().name();
                if (isWrite(method)) {
                    // A blocking send cannot be abandoned at a deadline; the asynchronous one can.
                    return HttpPipelinePolicy.super.processSync(context, next);
                }
                // A read has no deadline to keep, so the blocking send serves.
                URL url = context.getHttpRequest().getUrl();
                String scope = scopeOf(url);
                Duration slot = admit(scope, method, url);
                if (!slot.isZero()) {
                    try {
                        Thread.sleep(slot.toMillis());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new AzureError(AzureError.Kind.TRANSIENT, 0, "Interrupted", "Interrupted while pacing key creation", null, e);
                    }
                }
                HttpResponse r = next.processSync();
                observe(scope, r);
                return r;
            }

            @Override
            public HttpPipelinePosition getPipelinePosition() {
                return HttpPipelinePosition.PER_RETRY;
            }
        };
    }

    private void observe(String scope, HttpResponse r) {
        if (r.getStatusCode() == 429 || (r.getStatusCode() == 503 && r.getHeaderValue("Retry-After") != null)) {
            throttled(scope, AzureError.retryAfter(r));
        }
    }
}
