package io.hsmoperator.emulator;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Azure's per-HSM rate limits (the service-limits page, Managed HSM section): key creation 1 per second, RBAC
 * operations 5 per second. A request beyond them gets 429 Throttled with Retry-After, as the service answers.
 */
final class ServiceLimits {
    static final int KEY_CREATES_PER_SECOND = 1;
    static final int RBAC_OPERATIONS_PER_SECOND = 5;
    /** "50 custom role definitions per HSM" (Microsoft Learn, Managed HSM service limits): a 51st is refused. */
    static final int CUSTOM_ROLES_PER_HSM = 50;
    private final Map<String, Deque<Long>> windows = new ConcurrentHashMap<>();

    /** Admits one request of {@code kind} on {@code hsm}, or throws 429 when the last second already had {@code perSecond}. */
    void admit(String hsm, String kind, int perSecond) {
        Deque<Long> window = windows.computeIfAbsent(hsm.toLowerCase(Locale.ROOT) + "|" + kind, k -> new ArrayDeque<>());
        synchronized (window) {
            long now = System.currentTimeMillis();
            while (!window.isEmpty() && window.peekFirst() <= now - 1000) {
                window.pollFirst();
            }
            if (window.size() >= perSecond) {
                throw new ApiException(429, "Throttled", "Request was not processed because too many requests were received. Reason: "
                        + kind + " operations are limited to " + perSecond + " per second per HSM." + HsmDataPlane.activity())
                        .header("Retry-After", "1");
            }
            window.addLast(now);
        }
    }
}
