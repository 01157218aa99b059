package io.hsmoperator.reconciler;

import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.emulator.Emulator;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Azure makes a role assignment effective minutes after it is made; here six seconds. The operator waits for its own
 * grant without ever being Stalled, and reports a workload's grant Ready only once it can work.
 */
@QuarkusTest
@TestProfile(PropagationIT.SlowRbac.class)
class PropagationIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);

    public static class SlowRbac implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("hsm.local.rbac-propagation", "PT6S", "hsm.role-assignments.propagation", "PT6S");
        }
    }

    @Test
    void grantsAreWaitedForNotTreatedAsFailures() throws Exception {
        apply(officersSecret("slow-officers", 3, "2"));
        apply(managedHsm("slow", uniqueHsmName("slow")));
        ManagedHsm waiting = awaitCondition(ManagedHsm.class, "slow", "Ready", "False", "WaitingForAccess", WAIT);
        var stalled = condition(waiting, "Stalled");
        assertTrue(stalled == null || "False".equals(stalled.getStatus()), "waiting for Azure is not a failure");
        assertTrue(condition(waiting, "Ready").getMessage().contains("propagate"), condition(waiting, "Ready").getMessage());
        awaitCondition(ManagedHsm.class, "slow", "Ready", "True", null, WAIT);
        // The operator's role works once the HSM is Ready: its keys are created without a refusal.
        long mark = emulator.controls().lastSequence();
        apply(hsmKey("signing", "slow", HsmKeySpec.KeyType.EC_HSM));
        HsmKey key = awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
        assertEquals(0, emulator.controls().journal(e -> e.seq() > mark && e.status() == 403).size(), "no 403 after Ready");

        Emulator.Principal workload = emulator.registerPrincipal("payments-api");
        HsmRoleAssignment grant = roleAssignment(ns, "signer", new HsmReference("slow", null), "Managed HSM Crypto User",
                workload.objectId(), "signing", null);
        Instant applied = Instant.now();
        apply(grant);
        awaitCondition(HsmRoleAssignment.class, "signer", "Ready", "False", "WaitingForAccess", WAIT);
        awaitCondition(HsmRoleAssignment.class, "signer", "Ready", "True", "Ready", WAIT);
        assertTrue(Duration.between(applied, Instant.now()).toSeconds() >= 6, "Ready no sooner than Azure makes the grant effective");
        azureAs(workload).crypto(key.getStatus().keyId).sign(SignatureAlgorithm.ES256, new byte[32]);
    }
}
