package io.hsmoperator.emulator;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/** Test controls: a clock that can be advanced, a journal of every request, and injectable faults. */
public final class Controls {
    private final AtomicLong clockOffset = new AtomicLong();
    private final List<JournalEntry> journal = new CopyOnWriteArrayList<>();
    private final List<Fault> faults = new CopyOnWriteArrayList<>();
    private volatile Map<String, String> policyTags = Map.of();
    private final AtomicLong sequence = new AtomicLong();
    private volatile Runnable onClockAdvance = () -> { };
    private volatile Duration regionAddDelay;

    // ---- clock ---------------------------------------------------------------------------------

    /** The emulated service time: wall clock plus whatever tests advanced it by. */
    public Instant now() {
        return Instant.now().plusMillis(clockOffset.get());
    }

    public long nowEpochSeconds() {
        return now().getEpochSecond();
    }

    public void advance(Duration d) {
        if (d.isNegative()) {
            throw new IllegalArgumentException("The emulator clock only moves forward");
        }
        clockOffset.addAndGet(d.toMillis());
        onClockAdvance.run();
    }

    public long clockOffsetMillis() {
        return clockOffset.get();
    }

    void restoreClockOffset(long millis) {
        clockOffset.set(millis);
    }

    void onClockAdvance(Runnable r) {
        this.onClockAdvance = r;
    }

    // ---- regions -------------------------------------------------------------------------------

    /**
     * How long adding an extended region takes from now on, in place of the configured delay (a test that needs a region
     * to stay Provisioning while it tries what Azure refuses then); null goes back to the configuration.
     */
    public void regionAddDelay(Duration delay) {
        this.regionAddDelay = delay;
    }

    Duration regionAddDelayOr(Duration configured) {
        Duration d = regionAddDelay;
        return d == null ? configured : d;
    }

    // ---- journal -------------------------------------------------------------------------------

    /** One request as the emulator answered it. {@code endpoint} is "arm", "entra", "admin" or an HSM name. */
    public record JournalEntry(long seq, Instant time, Instant serviceTime, String endpoint, String principal, String method,
                               String path, String query, int status, String clientRequestId) {
        public boolean isWrite() {
            return !method.equals("GET") && !method.equals("HEAD");
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "#%d %s %s %s %s%s -> %d (principal %s, request %s)", seq, time, endpoint, method,
                    path, query == null || query.isEmpty() ? "" : "?" + query, status, principal, clientRequestId);
        }
    }

    void record(String endpoint, String principal, String method, String path, String query, int status, String clientRequestId) {
        journal.add(new JournalEntry(sequence.incrementAndGet(), Instant.now(), now(), endpoint, principal, method, path, query,
                status, clientRequestId));
    }

    public List<JournalEntry> journal() {
        return List.copyOf(journal);
    }

    public List<JournalEntry> journal(Predicate<JournalEntry> filter) {
        List<JournalEntry> out = new ArrayList<>();
        for (JournalEntry e : journal) {
            if (filter.test(e)) {
                out.add(e);
            }
        }
        return out;
    }

    public long lastSequence() {
        return sequence.get();
    }

    public void clearJournal() {
        journal.clear();
    }

    // ---- faults --------------------------------------------------------------------------------

    public enum FaultKind {
        /** Answer with a status (429, 500, 503...) and an Azure error body, without doing anything. */
        STATUS,
        /** Wait, then handle the request normally. */
        DELAY,
        /** Handle (commit) the request, then close the connection without answering. */
        DROP_AFTER_COMMIT,
        /** Close the connection without handling the request. */
        DROP,
        /** Accept the request, but let the long-running operation it starts end Failed (provisioningState Failed). */
        FAIL_ASYNC
    }

    /**
     * A fault applied to the next {@code times} requests matching method, endpoint and path pattern
     * ({@code times < 0}: until removed). Matching is done after authentication, as Azure throttles callers it knows.
     */
    public static final class Fault {
        public final String method;
        public final String endpoint;
        public final Pattern path;
        public final FaultKind kind;
        public final int status;
        public final int retryAfterSeconds;
        public final long delayMillis;
        private final AtomicInteger remaining;
        private final AtomicInteger hits = new AtomicInteger();

        public Fault(String method, String endpoint, String pathRegex, FaultKind kind, int status, int retryAfterSeconds,
                     long delayMillis, int times) {
            this.method = method == null ? "*" : method.toUpperCase(Locale.ROOT);
            this.endpoint = endpoint == null ? "*" : endpoint;
            this.path = Pattern.compile(pathRegex == null ? ".*" : pathRegex, Pattern.CASE_INSENSITIVE);
            this.kind = kind;
            this.status = status;
            this.retryAfterSeconds = retryAfterSeconds;
            this.delayMillis = delayMillis;
            this.remaining = new AtomicInteger(times);
        }

        public static Fault status(String method, String endpoint, String pathRegex, int status, int retryAfterSeconds, int times) {
            return new Fault(method, endpoint, pathRegex, FaultKind.STATUS, status, retryAfterSeconds, 0, times);
        }

        public static Fault delay(String method, String endpoint, String pathRegex, long millis, int times) {
            return new Fault(method, endpoint, pathRegex, FaultKind.DELAY, 0, 0, millis, times);
        }

        public static Fault dropAfterCommit(String method, String endpoint, String pathRegex, int times) {
            return new Fault(method, endpoint, pathRegex, FaultKind.DROP_AFTER_COMMIT, 0, 0, 0, times);
        }

        public static Fault failAsync(String method, String endpoint, String pathRegex, int times) {
            return new Fault(method, endpoint, pathRegex, FaultKind.FAIL_ASYNC, 0, 0, 0, times);
        }

        public static Fault drop(String method, String endpoint, String pathRegex, int times) {
            return new Fault(method, endpoint, pathRegex, FaultKind.DROP, 0, 0, 0, times);
        }

        public int hits() {
            return hits.get();
        }

        public boolean exhausted() {
            int r = remaining.get();
            return r == 0;
        }

        boolean matches(String method, String endpoint, String path) {
            return (this.method.equals("*") || this.method.equals(method))
                    && (this.endpoint.equals("*") || this.endpoint.equalsIgnoreCase(endpoint))
                    && this.path.matcher(path).matches();
        }

        boolean take() {
            while (true) {
                int r = remaining.get();
                if (r == 0) {
                    return false;
                }
                if (r < 0 || remaining.compareAndSet(r, r - 1)) {
                    hits.incrementAndGet();
                    return true;
                }
            }
        }
    }

    /**
     * Tags an Azure Policy with the {@code modify} effect adds (or overwrites) on every create and update of a managed
     * HSM; empty turns it off.
     */
    public void setPolicyTags(Map<String, String> tags) {
        policyTags = Map.copyOf(tags);
    }

    Map<String, String> policyTags() {
        return policyTags;
    }

    private volatile boolean serviceLimitsSuspended;

    /**
     * Lifts the service limits until closed: for a test that prepares, say, a hundred key versions, which Azure's one
     * creation per second would make a hundred-second wait.
     */
    public AutoCloseable suspendServiceLimits() {
        serviceLimitsSuspended = true;
        return () -> serviceLimitsSuspended = false;
    }

    boolean serviceLimitsSuspended() {
        return serviceLimitsSuspended;
    }

    private volatile Duration staleReads;

    /**
     * Makes reads lag writes made until closed by {@code window} instead of the configured time: for a test that must
     * look again while a read is still stale.
     */
    public AutoCloseable lagReads(Duration window) {
        staleReads = window;
        return () -> staleReads = null;
    }

    java.util.Optional<Duration> staleReadsOverride() {
        return java.util.Optional.ofNullable(staleReads);
    }

    public Fault addFault(Fault fault) {
        faults.add(fault);
        return fault;
    }

    public void removeFault(Fault fault) {
        faults.remove(fault);
    }

    public void clearFaults() {
        faults.clear();
    }

    Fault takeFault(String method, String endpoint, String path) {
        for (Fault f : faults) {
            if (f.matches(method, endpoint, path) && f.take()) {
                return f;
            }
        }
        return null;
    }
}
