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
 * Scopes: ARM per subscription, the data plane per HSM host.
 */
@Singleton
public class ScopeGate {
    private static final Pattern SUBSCRIPTION = Pattern.compile("/subscriptions/([^/?]+)", Pattern.CASE_INSENSITIVE);
    private static final Duration DEFAULT_BACKOFF = Duration.ofSeconds(10);
    private final Map<String, Instant> notBefore = new ConcurrentHashMap<>();
    private final Clock clock;
    private final Duration keyCreationInterval;

    public ScopeGate() {
        this(Clock.systemUTC());
    }

    public ScopeGate(Clock clock) {
        this(clock, KEY_CREATION_INTERVAL);
    }

    public ScopeGate(Clock clock, Duration keyCreationInterval) {
        this.clock = clock;
        this.keyCreationInterval = keyCreationInterval;
    }

    @jakarta.inject.Inject
    public ScopeGate(OperatorConfig config) {
        this(Clock.systemUTC(), config.azure().keyCreationInterval());
    }

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
     * hsm.azure.key-creation-interval.
     */
    static final Duration KEY_CREATION_INTERVAL = Duration.ofMillis(1200);
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

    /** The pipeline policy: refuse locally while the scope waits; learn from every 429 and Retry-After. */
    public HttpPipelinePolicy policy() {
        return new HttpPipelinePolicy() {
            @Override
            public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
                String scope = scopeOf(context.getHttpRequest().getUrl());
                Optional<Duration> wait = waiting(scope);
                if (wait.isPresent()) {
                    return Mono.error(new AzureError(AzureError.Kind.THROTTLED, 429, "Throttled", "Azure throttled " + scope
                            + "; the next request waits " + wait.get().toSeconds() + "s for Retry-After", wait.get(), null));
                }
                Duration slot = slot(scope, context.getHttpRequest().getHttpMethod().name(), context.getHttpRequest().getUrl());
                Mono<HttpResponse> send = next.process().doOnNext(r -> observe(scope, r));
                return slot.isZero() ? send : Mono.delay(slot).then(send);
            }

            @Override
            public HttpResponse processSync(HttpPipelineCallContext context, com.azure.core.http.HttpPipelineNextSyncPolicy next) {
                String scope = scopeOf(context.getHttpRequest().getUrl());
                Optional<Duration> wait = waiting(scope);
                if (wait.isPresent()) {
                    throw new AzureError(AzureError.Kind.THROTTLED, 429, "Throttled", "Azure throttled " + scope
                            + "; the next request waits " + wait.get().toSeconds() + "s for Retry-After", wait.get(), null);
                }
                Duration slot = slot(scope, context.getHttpRequest().getHttpMethod().name(), context.getHttpRequest().getUrl());
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
