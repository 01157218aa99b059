package io.hsmoperator.azure;

import jakarta.inject.Singleton;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;

/**
 * Whether this replica may send an Azure write now. With leader election, a write leaves only while this replica leads
 * and its lease, counted from the renewal it last saw succeed, stays valid for longer than the write may take: a standby
 * takes over once the lease lapses, and until then it is the only one that can. The elector itself notices a lost lease
 * only when its blocked call to the API server returns, which can be long after the lease lapsed; this fence does not
 * wait for it. Without leader election (a single instance) it is open.
 */
@Singleton
public class WriteFence {
    private final Clock clock;
    private volatile Lease lease;
    private volatile boolean leading;
    private volatile Instant lastRenewal;

    /** The lease this replica holds when it leads: where it lives, whom it names, how long it lasts. */
    public record Lease(String namespace, String name, String identity, Duration duration) {
    }

    public WriteFence() {
        this(Clock.systemUTC());
    }

    public WriteFence(Clock clock) {
        this.clock = clock;
    }

    /** Leader election is on: from now on writes leave only under a valid lease of {@code lease}. */
    public void elect(Lease lease) {
        this.lease = lease;
    }

    public Optional<Lease> lease() {
        return Optional.ofNullable(lease);
    }

    /** The elector says this replica leads (true) or no longer does (false). */
    public void leading(boolean leading) {
        this.leading = leading;
    }

    public boolean leads() {
        return lease != null && leading;
    }

    /**
     * The API server accepted a write of a lease naming {@code holder}, renewed at {@code renewTime} (this replica's clock,
     * as the record says: standbys count the lease from that time).
     */
    public void renewed(String namespace, String name, String holder, Instant renewTime) {
        Lease l = lease;
        if (l == null || !l.namespace().equals(namespace) || !l.name().equals(name) || !l.identity().equals(holder)) {
            return;
        }
        synchronized (this) {
            if (lastRenewal == null || renewTime.isAfter(lastRenewal)) {
                lastRenewal = renewTime;
            }
        }
    }

    /** When the API server last accepted this replica's renewal of its lease, if ever. */
    public Optional<Instant> lastRenewal() {
        return Optional.ofNullable(lastRenewal);
    }

    /**
     * Why a write that may take up to {@code callTimeout} must not leave now, or empty when it may. The lease must stay
     * valid until the write is answered or abandoned: after that a standby may already be writing.
     */
    public Optional<String> refusal(Duration callTimeout) {
        Lease l = lease;
        if (l == null) {
            return Optional.empty();
        }
        if (!leading) {
            return Optional.of(l.identity() + " does not hold the leader lease " + l.namespace() + "/" + l.name());
        }
        Instant renewed = lastRenewal;
        if (renewed == null) {
            return Optional.of(l.identity() + " has not yet renewed the leader lease " + l.namespace() + "/" + l.name());
        }
        Duration left = Duration.between(clock.instant(), renewed.plus(l.duration()));
        if (left.compareTo(callTimeout) <= 0) {
            return Optional.of(String.format(Locale.ROOT, "the leader lease of %s was last renewed %.1fs ago and is valid for "
                    + "%.1fs more, less than the %ss a write may take (hsm.azure.write-timeout): another replica may take over "
                    + "before it is answered", l.identity(), Duration.between(renewed, clock.instant()).toMillis() / 1000.0,
                    Math.max(0, left.toMillis()) / 1000.0, callTimeout.toMillis() / 1000.0));
        }
        return Optional.empty();
    }
}
