package io.hsmoperator.reconciler;

import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A resource is reconciled when something it depends on changes, not at the next resync: here the resync is ten
 * minutes, and each change must be acted on within seconds.
 */
@QuarkusTest
@TestProfile(RelatedResourcesIT.LongResync.class)
class RelatedResourcesIT extends OperatorTestBase {
    private static final Duration SOON = Duration.ofSeconds(20);

    public static class LongResync implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("hsm.reconcile.resync", "PT10M", "hsm.reconcile.max-backoff", "PT10M");
        }
    }

    @Test
    void aForbiddenAnswerWhileAGrantPropagatesIsRetriedWithinSeconds() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        // Azure answers 403 for a while after the operator granted itself its role: two refusals, then it passes.
        emulator.controls().addFault(io.hsmoperator.emulator.Controls.Fault.status("POST", hsm.getSpec().azureName, "/keys/fresh/create",
                403, 0, 2));
        apply(hsmKey("fresh", "hsm", HsmKeySpec.KeyType.EC_HSM));
        // With a ten-minute backoff cap, a 403 treated as final would wait ten minutes.
        awaitCondition(HsmKey.class, "fresh", "Ready", "True", null, Duration.ofSeconds(40));
        assertEquals(3, journalSinceMark(e -> e.method().equals("POST") && e.path().startsWith("/keys/fresh/create")).size());
    }

    @Test
    void aKeyFollowsItsHsmsPermissionAndItsPublishedConfigMap() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        HsmKey k = hsmKey("team-key", "hsm", HsmKeySpec.KeyType.EC_HSM);
        k.getMetadata().setNamespace(team);
        k.getSpec().hsmRef = new HsmReference("hsm", ns);
        apply(k);
        String hsmNs = ns;
        ns = team;
        try {
            awaitCondition(HsmKey.class, "team-key", "Ready", "False", "RefNotPermitted", SOON);
            // The HSM's owners allow the namespace: the key (Stalled, next look in ten minutes) is created within seconds.
            ManagedHsm h = client.resources(ManagedHsm.class).inNamespace(hsmNs).withName("hsm").get();
            h.getSpec().allowedNamespaces = List.of(team);
            update(h);
            HsmKey ready = awaitCondition(HsmKey.class, "team-key", "Ready", "True", null, SOON);

            // Someone deletes the published ConfigMap: it is published again at once.
            String cm = ready.getStatus().publishedConfigMap;
            client.configMaps().inNamespace(team).withName(cm).delete();
            await().atMost(SOON).until(() -> {
                var c = client.configMaps().inNamespace(team).withName(cm).get();
                return c != null && ready.getStatus().keyId.equals(c.getData().get("keyId"));
            });
            // Someone edits it: the operator's content comes back.
            client.configMaps().inNamespace(team).withName(cm).edit(c -> {
                c.getData().put("keyId", "https://evil.example/keys/x/1");
                return c;
            });
            await().atMost(SOON).until(() -> ready.getStatus().keyId.equals(
                    client.configMaps().inNamespace(team).withName(cm).get().getData().get("keyId")));
            assertEquals(hsm.getStatus().hsmUri, client.configMaps().inNamespace(team).withName(cm).get().getData().get("hsmUri"));
        } finally {
            ns = hsmNs;
        }
    }
}
