package io.hsmoperator.reconciler;

import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.OperatorConfig;
import org.jboss.logging.Logger;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * How full an HSM is: its keys counted with one listing at most once per drift interval (never per reconcile), in
 * status.keyCount (the gauge hsm_operator_hsm_keys reads it), and a KeyCountNearLimit Warning event once each time the
 * count crosses hsm.warnings.hsm-keys-near-limit-ratio of {@link HsmKeys#KEYS_PER_HSM}. A failed count changes nothing:
 * the HSM works, and the count is tried again on a later reconcile.
 */
final class HsmKeyCount {
    private static final Logger LOG = Logger.getLogger(HsmKeyCount.class);
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;
    private final KeyCounts counts;

    HsmKeyCount(HsmKeys keys, KeyCounts counts, OperatorConfig config, Events events, Clock clock) {
        this.keys = keys;
        this.counts = counts;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /**
     * Counts the keys of the HSM at {@code hsmUri} when the last count is a drift interval old, and warns on a crossing.
     * The drift listing of its HsmKeys, when it ran within the interval, is that count: the HSM is not listed twice.
     */
    void count(ManagedHsm cr, ManagedHsmStatus st, String hsmUri) {
        Instant now = Instant.now(clock);
        Duration interval = config.reconcile().driftInterval();
        Instant counted = st.keysCountedAt == null ? null : Instant.parse(st.keysCountedAt);
        if (!due(counted, interval, now)) {
            return;
        }
        // A drift listing starts every interval and takes a while: the last to finish may have started up to two ago. Only
        // a listing newer than the count in status will do, or a count would be taken from itself forever.
        Optional<KeyCounts.Count> listed = counts.since(hsmUri, now.minus(interval.multipliedBy(2)))
                .filter(c -> counted == null || c.at().isAfter(counted));
        if (listed.isEmpty()) {
            try {
                listed = Optional.of(new KeyCounts.Count(keys.list(hsmUri).size(), now));
            } catch (AzureError e) {
                LOG.debugf("Cannot count the keys of %s (%s); counting again on a later reconcile", hsmUri, e.describe());
                return;
            }
            counts.listed(hsmUri, listed.get());
        }
        int count = listed.get().keys();
        double ratio = config.warnings().hsmKeysNearLimitRatio();
        if (crossed(st.keyCount, count, ratio)) {
            events.warning(cr, Reason.KeyCountNearLimit.name(), "The HSM holds " + count + " keys; Managed HSM allows "
                    + HsmKeys.KEYS_PER_HSM + " and refuses to create more. Delete keys no one uses, or put new keys in another HSM. "
                    + "(Warned at " + threshold(ratio) + " keys, hsm.warnings.hsm-keys-near-limit-ratio " + ratio + ".)");
        }
        st.keyCount = count;
        st.keysCountedAt = listed.get().at().toString();
    }

    /** Whether a count last made at {@code counted} (null: never) is due again. */
    static boolean due(Instant counted, Duration interval, Instant now) {
        return counted == null || !now.isBefore(counted.plus(interval));
    }

    /** The fewest keys that are near the limit at {@code ratio}. */
    static int threshold(double ratio) {
        return threshold(HsmKeys.KEYS_PER_HSM, ratio);
    }

    /** The fewest of {@code limit} that are near it at {@code ratio}: 4500 of 5000 keys, 9 of 10 role assignments at 0.9. */
    static int threshold(int limit, double ratio) {
        // rounded first, so that 0.9 of 10 is 9 and not 10 (0.9 * 10 is 9.000000000000002)
        return (int) Math.ceil(Math.round(ratio * limit * 1e6) / 1e6);
    }

    /** Whether {@code count} is near the limit and {@code before} (null: never counted) was not: once per crossing. */
    static boolean crossed(Integer before, int count, double ratio) {
        int at = threshold(ratio);
        return count >= at && (before == null || before < at);
    }
}
