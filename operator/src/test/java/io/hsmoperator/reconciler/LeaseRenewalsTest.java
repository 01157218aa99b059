package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaderElectionRecord;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.hsmoperator.azure.WriteFence;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The renewal time is read from the Lease the elector writes, as Fabric8 serializes it: an upgrade that changes the
 * form fails here, not as a leader that fences itself off.
 */
class LeaseRenewalsTest {
    /** Fabric8's own lock, asked for the resource it sends when it renews. */
    private static final class Written extends LeaseLock {
        Written() {
            super("ops", "hsm-operator-leader", "replica-a");
        }

        String body(LeaderElectionRecord record) {
            return new KubernetesSerialization().asJson(toResource(record, new ObjectMetaBuilder().withNamespace("ops")
                    .withName("hsm-operator-leader").withResourceVersion("42")));
        }
    }

    @Test
    void theRenewalTimeTheElectorWritesIsWhatTheFenceCountsFrom() {
        WriteFence fence = new WriteFence();
        fence.elect(new WriteFence.Lease("ops", "hsm-operator-leader", "replica-a", Duration.ofSeconds(15)));
        ZonedDateTime renewed = ZonedDateTime.of(2025, 6, 1, 12, 0, 3, 123_456_000, ZoneOffset.UTC);
        String body = new Written().body(new LeaderElectionRecord("replica-a", Duration.ofSeconds(15), renewed.minusMinutes(5), renewed, 2));

        LeaseRenewals.accepted(fence, "ops", "hsm-operator-leader", body);
        assertEquals(renewed.toInstant(), fence.lastRenewal().orElseThrow());

        // A create names the lease in its body; a write by another holder is not this replica's renewal.
        WriteFence created = new WriteFence();
        created.elect(new WriteFence.Lease("ops", "hsm-operator-leader", "replica-a", Duration.ofSeconds(15)));
        LeaseRenewals.accepted(created, "ops", null, body);
        assertEquals(renewed.toInstant(), created.lastRenewal().orElseThrow());
        WriteFence other = new WriteFence();
        other.elect(new WriteFence.Lease("ops", "hsm-operator-leader", "replica-b", Duration.ofSeconds(15)));
        LeaseRenewals.accepted(other, "ops", "hsm-operator-leader", body);
        assertTrue(other.lastRenewal().isEmpty());
    }
}
