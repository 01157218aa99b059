package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyRotationPolicy;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.HsmFixtures;
import io.hsmoperator.emulator.State;
import io.hsmoperator.publish.Workloads;
import io.hsmoperator.rotation.RotationSchedule;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Rotation against the emulator, with time moved forward on both sides at once (the operator's clock is the emulator's):
 * years of scheduled rotation, crashes at every point of a rotation, rotate-now tokens, grace periods seen by a token
 * validator, Azure-driven rotation, workloads that follow, and the version limit.
 */
@QuarkusTest
@TestProfile(HsmKeyRotationIT.FastResync.class)
class HsmKeyRotationIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private static final Duration DAY = Duration.ofDays(1);

    /**
     * The operator looks at every resource each second, so that a step of the clock is acted on at once. A converged
     * HsmKey is looked at again after hsm.reconcile.key-full-read (or when a rotation or grace period falls due, by the
     * clock it last read), not after resync: without it each step of the clock waits up to the test setting's 3 s.
     */
    public static class FastResync implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("hsm.reconcile.resync", "PT1S", "hsm.reconcile.key-full-read", "PT1S");
        }
    }

    private List<State.KeyVersion> azureVersions(ManagedHsm hsm, String name) {
        return emulator.inspect(s -> new ArrayList<>(s.hsms.get(hsm.getSpec().azureName).keys.get(name).versions));
    }

    private HsmKey rotatingKey(String name, String every) {
        HsmKey key = hsmKey(name, "hsm", HsmKeySpec.KeyType.EC_HSM);
        key.getSpec().rotation = new HsmKeySpec.Rotation();
        key.getSpec().rotation.every = every;
        return key;
    }

    private HsmKey awaitKey(String name, java.util.function.Predicate<HsmKey> done, String what) {
        return awaitKey(name, done, what, WAIT);
    }

    private void setToken(String name, String token) {
        HsmKey k = get(HsmKey.class, name);
        Map<String, String> a = k.getMetadata().getAnnotations() == null ? new HashMap<>() : new HashMap<>(k.getMetadata().getAnnotations());
        a.put(Conditions.ROTATE_NOW_ANNOTATION, token);
        k.getMetadata().setAnnotations(a);
        update(k);
    }

    private long creates(ManagedHsm hsm, String name) {
        return journalSinceMark(e -> e.endpoint().equals(hsm.getSpec().azureName) && e.method().equals("POST")
                && e.path().equals("/keys/" + name + "/create") && e.status() < 300).size();
    }

    /** The data-plane requests of the one reconcile that sent a request to {@code pathEnd} after {@code mark}. */
    private List<Controls.JournalEntry> reconcileAround(ManagedHsm hsm, String name, long mark, String pathEnd) {
        List<Controls.JournalEntry> all = emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(hsm.getSpec().azureName));
        Predicate<Controls.JournalEntry> start = e -> e.method().equals("GET") && e.path().matches("/keys/" + name + "/?");
        int hit = -1;
        for (int i = 0; i < all.size(); i++) {
            if (all.get(i).path().endsWith(pathEnd)) {
                hit = i;
            }
        }
        assertTrue(hit >= 0, "no request to " + pathEnd + " in " + all);
        int from = hit;
        while (from > 0 && !start.test(all.get(from))) {
            from--;
        }
        int to = hit + 1;
        while (to < all.size() && !start.test(all.get(to))) {
            to++;
        }
        return all.subList(from, to);
    }

    private Deployment deployment(String name, String app) {
        return new DeploymentBuilder().withNewMetadata().withName(name).withNamespace(ns).addToLabels("app", app).endMetadata()
                .withNewSpec().withNewSelector().addToMatchLabels("app", app).endSelector()
                .withNewTemplate().withNewMetadata().addToLabels("app", app).endMetadata()
                .withNewSpec().addNewContainer().withName("api").withImage("example/api:1").endContainer().endSpec().endTemplate()
                .endSpec().build();
    }

    @Test
    void threeYearsOfScheduledRotation() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(deployment("payments-api", "payments"));
        apply(deployment("unrelated", "other"));
        HsmKey key = rotatingKey("signing", "P90D");
        key.getSpec().expiresAfter = "P180D";
        key.getSpec().publish.restartWorkloads = new LabelSelectorBuilder().addToMatchLabels("app", "payments").build();
        apply(key);
        HsmKey k = awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
        Instant start = emulator.controls().now();
        assertEquals(1, k.getStatus().versionCount);
        assertEquals(Instant.parse(k.getStatus().versions.get(0).created).plus(Duration.ofDays(90)).toString(), k.getStatus().nextRotationTime);
        assertEquals("RotationScheduled", condition(k, Conditions.ROTATION).getReason());
        assertEquals("False", condition(k, Conditions.ROTATION).getStatus());

        int rotations = 0;
        int disabled = 0;
        String lastVersion = k.getStatus().currentVersion;
        long callsOfOneRotation = -1;
        long writesOfOneRotation = -1;
        // 45-day steps over three years: a rotation every other step, the version it pushes out disabled on the next.
        for (int step = 1; step <= 24; step++) {
            long mark = emulator.controls().lastSequence();
            emulator.controls().advance(Duration.ofDays(45));
            Instant now = emulator.controls().now();
            boolean rotates = step % 2 == 0;
            int expectedVersions = 1 + step / 2;
            // Enabled: the two newest, plus the one just pushed out while its 7-day grace period runs.
            int expectedEnabled = Math.min(expectedVersions, rotates && expectedVersions > 2 ? 3 : 2);
            HsmKey after = awaitKey("signing", x -> x.getStatus().versionCount == expectedVersions
                    && x.getStatus().versions.stream().filter(v -> v.enabled).count() == expectedEnabled
                    && "Ready".equals(condition(x, "Ready").getReason()), "step " + step + ": " + expectedVersions + " versions, "
                    + expectedEnabled + " enabled");
            rotations += rotates ? 1 : 0;
            disabled += !rotates && expectedVersions > 2 ? 1 : 0;

            List<State.KeyVersion> versions = azureVersions(hsm, "signing");
            assertEquals(expectedVersions, versions.size(), "exactly one version per period, step " + step);
            State.KeyVersion newest = versions.get(versions.size() - 1);
            assertEquals(newest.version, after.getStatus().currentVersion);
            if (rotates) {
                assertTrue(Math.abs(newest.created - now.getEpochSecond()) < 60, "created when it fell due (step " + step + ")");
                assertEquals(180L * 86400, newest.exp - newest.created, 2, "each version expires 180 days after its own creation");
                assertEquals(Instant.ofEpochSecond(newest.created).toString(), after.getStatus().lastRotationTime);
                assertFalse(newest.version.equals(lastVersion));
                lastVersion = newest.version;
                if (step == 4) {
                    // the reconcile that rotated (and released nothing yet): from its first read to the next reconcile's
                    List<Controls.JournalEntry> calls = reconcileAround(hsm, "signing", mark, "/keys/signing/create");
                    callsOfOneRotation = calls.size();
                    calls.forEach(e -> System.out.println("ROTATION-CALLS   " + e.method() + " " + e.path() + " -> " + e.status()));
                    writesOfOneRotation = calls.stream().filter(Controls.JournalEntry::isWrite).count();
                }
            }
            assertEquals(Instant.ofEpochSecond(newest.created).plus(Duration.ofDays(90)).toString(), after.getStatus().nextRotationTime);
            long enabledInAzure = versions.stream().filter(v -> v.enabled).count();
            assertEquals(expectedEnabled, enabledInAzure, "step " + step);
            for (int i = 0; i < versions.size() - 3; i++) {
                assertFalse(versions.get(i).enabled, "old versions are disabled, never deleted (step " + step + ")");
            }

            ConfigMap cm = client.configMaps().inNamespace(ns).withName("signing-key").get();
            assertEquals(after.getStatus().keyId, cm.getData().get("keyId"), "the ConfigMap follows each rotation at once");
            JsonNode jwks = new ObjectMapper().readTree(cm.getData().get("jwks.json"));
            assertEquals(expectedEnabled, jwks.get("keys").size(), "one JWK per enabled version");
            assertEquals(expectedEnabled, cm.getData().keySet().stream().filter(x -> x.endsWith(".pem")).count());
            Deployment d = client.apps().deployments().inNamespace(ns).withName("payments-api").get();
            assertEquals(newest.version, d.getSpec().getTemplate().getMetadata().getAnnotations()
                    .get(Workloads.annotation("signing")), "the matching Deployment is rolled onto the current version");
        }
        assertEquals(13, azureVersions(hsm, "signing").size());
        assertTrue(Duration.between(start, emulator.controls().now()).toDays() >= 3 * 360);
        List<String> reasons = eventReasons();
        assertEquals(rotations, reasons.stream().filter("KeyRotated"::equals).count());
        assertEquals(disabled, reasons.stream().filter("KeyVersionDisabled"::equals).count());
        assertEquals(rotations + 1, reasons.stream().filter("WorkloadsRestarted"::equals).count(),
                "the Deployment's pod template changed once when first matched and once per rotation");
        Deployment other = client.apps().deployments().inNamespace(ns).withName("unrelated").get();
        assertTrue(other.getSpec().getTemplate().getMetadata().getAnnotations() == null
                || !other.getSpec().getTemplate().getMetadata().getAnnotations().containsKey(Workloads.annotation("signing")));
        System.out.printf("ROTATION-CALLS Azure data-plane calls for one scheduled rotation: "
                + "%d requests, %d writes%n", callsOfOneRotation, writesOfOneRotation);
    }

    @Test
    void aCrashAtAnyPointOfARotationMakesExactlyOneVersion() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String endpoint = hsm.getSpec().azureName;
        // 1: the request never reached Azure; 2: Azure committed it but the answer was lost.
        Controls.FaultKind[] before = {Controls.FaultKind.DROP, Controls.FaultKind.DROP_AFTER_COMMIT};
        for (int i = 0; i < before.length; i++) {
            String name = "crash-" + i;
            apply(rotatingKey(name, "P30D"));
            awaitCondition(HsmKey.class, name, "Ready", "True", null, WAIT);
            Controls.Fault fault = emulator.controls().addFault(new Controls.Fault("POST", endpoint, "/keys/" + name + "/create",
                    before[i], 0, 0, 0, 1));
            emulator.controls().advance(Duration.ofDays(31));
            HsmKey k = awaitKey(name, x -> x.getStatus().versionCount == 2 && "Ready".equals(condition(x, "Ready").getReason()),
                    "a second version after " + before[i]);
            assertEquals(1, fault.hits());
            Thread.sleep(2500);
            assertEquals(2, azureVersions(hsm, name).size(), before[i] + ": exactly one new version");
            assertEquals(azureVersions(hsm, name).get(1).version, get(HsmKey.class, name).getStatus().currentVersion);
        }

        // 3: Azure answered, but the status write that would record it failed.
        String name = "crash-status";
        apply(rotatingKey(name, "P30D"));
        awaitCondition(HsmKey.class, name, "Ready", "True", null, WAIT);
        // The API server refuses every status write of this key (an admission policy) until Azure holds the new version.
        String probe = "{}";
        try (AdmissionRefusal refused = admissionRefuses(ns + "-" + name, "hsmoperator.io", "hsmkeys/status", "UPDATE",
                "object.metadata.name != '" + name + "'", () -> client.resources(HsmKey.class).inNamespace(ns).withName(name)
                        .subresource("status").patch(PatchContext.of(PatchType.JSON_MERGE), probe))) {
            setToken(name, "after-status-crash");
            await().atMost(WAIT).until(() -> azureVersions(hsm, name).size() == 2);
            await().atMost(WAIT).until(refused::bites);
            assertNull(get(HsmKey.class, name).getStatus().lastRotateNowToken, "the rotation was not recorded in status");
        }
        HsmKey k = awaitKey(name, x -> "after-status-crash".equals(x.getStatus().lastRotateNowToken) && x.getStatus().versionCount == 2,
                "the token recorded after the failed status write");
        Thread.sleep(2500);
        assertEquals(2, azureVersions(hsm, name).size(), "the version Azure holds was found by its marker, not made again");
        assertEquals("after-status-crash", azureVersions(hsm, name).get(1).tags.get(RotationSchedule.ROTATE_NOW_TAG));
        assertEquals(k.getStatus().currentVersion, azureVersions(hsm, name).get(1).version);
        assertEquals(1, events().stream().filter(e -> e.getReason().equals("KeyRotated") && e.getInvolvedObject().getName().equals(name))
                .count(), "one rotation, reported once");
    }

    @Test
    void rotateNowMakesOneVersionPerDistinctToken() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(hsmKey("manual", "hsm", HsmKeySpec.KeyType.RSA_HSM));
        HsmKey k = awaitCondition(HsmKey.class, "manual", "Ready", "True", null, WAIT);
        assertNull(condition(k, Conditions.ROTATION), "no rotation configured, no rotation condition");

        setToken("manual", "incident-42");
        k = awaitKey("manual", x -> "incident-42".equals(x.getStatus().lastRotateNowToken), "token handled");
        assertEquals(2, k.getStatus().versionCount);
        assertEquals("OnDemandOnly", condition(k, Conditions.ROTATION).getReason());

        // the same token again (another annotation changes): nothing new
        HsmKey again = get(HsmKey.class, "manual");
        again.getMetadata().getAnnotations().put("note", "reapplied");
        update(again);
        Thread.sleep(2500);
        assertEquals(2, azureVersions(hsm, "manual").size(), "the same token twice: one version");

        setToken("manual", "incident-43");
        k = awaitKey("manual", x -> "incident-43".equals(x.getStatus().lastRotateNowToken), "second token handled");
        assertEquals(3, k.getStatus().versionCount);
        assertEquals(3, azureVersions(hsm, "manual").size());
        assertEquals(3, creates(hsm, "manual"), "one create for the key, one per token");
        assertTrue(azureVersions(hsm, "manual").stream().allMatch(v -> v.enabled), "without spec.rotation nothing is disabled");

        setToken("manual", "x".repeat(201));
        k = awaitKey("manual", x -> "InvalidSpec".equals(condition(x, Conditions.ROTATION).getReason()), "a too-long token refused");
        assertTrue(condition(k, Conditions.ROTATION).getMessage().contains("longer than 200"));
        assertEquals(3, azureVersions(hsm, "manual").size(), "nothing was created for it");
        setToken("manual", "incident-44");
        k = awaitKey("manual", x -> "incident-44".equals(x.getStatus().lastRotateNowToken), "a valid token after it");
        assertEquals("OnDemandOnly", condition(k, Conditions.ROTATION).getReason(), "the refusal is gone with the token");
    }

    @Test
    void aValidatorKeepsVerifyingDuringTheGracePeriodAndTheOldVersionIsDisabledAfter() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = rotatingKey("tokens", "P90D");
        key.getSpec().rotation.keepEnabledVersions = 1;
        key.getSpec().rotation.gracePeriod = "P7D";
        apply(key);
        HsmKey k = awaitCondition(HsmKey.class, "tokens", "Ready", "True", null, WAIT);
        String oldKid = k.getStatus().keyId;

        Emulator.Principal issuer = emulator.registerPrincipal("token-issuer");
        azureAs(emulator.builtInPrincipal()).rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.fromString("/keys/tokens"),
                HsmFixtures.CRYPTO_USER, issuer.objectId());
        awaitRbacPropagation();
        byte[] payload = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0".getBytes();
        byte[] signature = azureAs(issuer).crypto(oldKid).sign(SignatureAlgorithm.ES256, MessageDigest.getInstance("SHA-256").digest(payload))
                .getSignature();

        setToken("tokens", "rotate-1");
        k = awaitKey("tokens", x -> x.getStatus().versionCount == 2, "rotated");
        ConfigMap cm = client.configMaps().inNamespace(ns).withName("tokens-key").get();
        JsonNode jwks = new ObjectMapper().readTree(cm.getData().get("jwks.json"));
        assertEquals(2, jwks.get("keys").size(), "during the grace period both versions are published");
        JsonNode oldJwk = null;
        for (JsonNode j : jwks.get("keys")) {
            if (j.get("kid").asText().equals(oldKid)) {
                oldJwk = j;
            }
        }
        assertNotNull(oldJwk, "the previous version is still in the JWKS");
        assertTrue(HsmKeyReconcilerIT.verifies(HsmKeyReconcilerIT.ecKey(oldJwk), payload, signature),
                "a token signed before the rotation verifies with the published JWKS alone");
        assertTrue(azureVersions(hsm, "tokens").get(0).enabled);

        emulator.controls().advance(Duration.ofDays(6));
        Thread.sleep(2500);
        assertTrue(azureVersions(hsm, "tokens").get(0).enabled, "six days in: still enabled");

        emulator.controls().advance(Duration.ofDays(2));
        awaitKey("tokens", x -> x.getStatus().versions.stream().filter(v -> v.enabled).count() == 1, "old version disabled");
        assertFalse(azureVersions(hsm, "tokens").get(0).enabled, "after the grace period the old version is disabled in Azure");
        assertEquals(2, azureVersions(hsm, "tokens").size(), "and kept");
        cm = client.configMaps().inNamespace(ns).withName("tokens-key").get();
        assertEquals(1, new ObjectMapper().readTree(cm.getData().get("jwks.json")).get("keys").size());
        assertThrows(RuntimeException.class, () -> azureAs(issuer).crypto(oldKid).sign(SignatureAlgorithm.ES256, new byte[32]),
                "the disabled version no longer signs");
        assertTrue(eventReasons().contains("KeyVersionDisabled"));
    }

    @Test
    void azureDrivenRotationIsSetAndFollowed() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmKey key = hsmKey("azure", "hsm", HsmKeySpec.KeyType.EC_HSM);
        key.getSpec().rotation = new HsmKeySpec.Rotation();
        key.getSpec().rotation.azurePolicy = new HsmKeySpec.AzurePolicy();
        key.getSpec().rotation.azurePolicy.timeAfterCreate = "P30D";
        key.getSpec().rotation.azurePolicy.expiryTime = "P60D";
        apply(key);
        HsmKey k = awaitCondition(HsmKey.class, "azure", "Ready", "True", null, WAIT);
        assertEquals("AzureRotationPolicy", condition(k, Conditions.ROTATION).getReason());
        KeyClient admin = adminKeys(hsm);
        KeyRotationPolicy policy = admin.getKeyRotationPolicy("azure");
        assertEquals("P30D", policy.getLifetimeActions().get(0).getTimeAfterCreate());
        assertEquals("P60D", policy.getExpiresIn());
        assertTrue(eventReasons().contains("RotationPolicySet"));

        emulator.controls().advance(Duration.ofDays(31));
        k = awaitKey("azure", x -> x.getStatus().versionCount == 2, "the version Azure created");
        String azureMade = azureVersions(hsm, "azure").get(1).version;
        assertEquals(azureMade, k.getStatus().currentVersion);
        ConfigMap cm = client.configMaps().inNamespace(ns).withName("azure-key").get();
        assertEquals(azureMade, cm.getData().get("currentVersion"));
        assertEquals(1, creates(hsm, "azure"), "the operator created the key, Azure the second version");
        assertFalse(eventReasons().contains("KeyRotated"));
        long policyWrites = journalSinceMark(e -> e.method().equals("PUT") && e.path().endsWith("/keys/azure/rotationpolicy")).size();
        assertEquals(1, policyWrites, "the policy is written once, then only read");

        // A change of the policy is written once, though Azure's reads show the old policy for a while.
        try (AutoCloseable lagging = emulator.controls().lagReads(Duration.ofSeconds(3))) {
            long mark = emulator.controls().lastSequence();
            HsmKey edit = get(HsmKey.class, "azure");
            edit.getSpec().rotation.azurePolicy.timeAfterCreate = "P45D";
            update(edit);
            await().atMost(WAIT).until(() -> !operatorWrites(mark, "/keys/azure/rotationpolicy").isEmpty());
            touch(HsmKey.class, "azure");
            Thread.sleep(1000);
            assertEquals(1, operatorWrites(mark, "/keys/azure/rotationpolicy").size(), "one write, not one per stale read");
        }
        await().atMost(WAIT).until(() -> "P45D".equals(admin.getKeyRotationPolicy("azure").getLifetimeActions().get(0).getTimeAfterCreate()));
    }

    @Test
    void badRotationSettingsAreRefusedBeforeAnythingIsSent() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        long mark = emulator.controls().lastSequence();
        HsmKey tooLong = rotatingKey("too-long", "P1Y");
        tooLong.getSpec().expiresAfter = "P90D";
        apply(tooLong);
        HsmKey shortPolicy = hsmKey("short-policy", "hsm", HsmKeySpec.KeyType.EC_HSM);
        shortPolicy.getSpec().rotation = new HsmKeySpec.Rotation();
        shortPolicy.getSpec().rotation.azurePolicy = new HsmKeySpec.AzurePolicy();
        shortPolicy.getSpec().rotation.azurePolicy.timeAfterCreate = "P7D";
        apply(shortPolicy);
        HsmKey daily = rotatingKey("hourly", "PT1H");
        apply(daily);
        HsmKey a = awaitCondition(HsmKey.class, "too-long", "Ready", "False", "InvalidSpec", WAIT);
        assertTrue(condition(a, "Ready").getMessage().contains("longer than expiresAfter"), condition(a, "Ready").getMessage());
        HsmKey b = awaitCondition(HsmKey.class, "short-policy", "Ready", "False", "InvalidSpec", WAIT);
        assertTrue(condition(b, "Ready").getMessage().contains("28 days"), condition(b, "Ready").getMessage());
        HsmKey c = awaitCondition(HsmKey.class, "hourly", "Ready", "False", "InvalidSpec", WAIT);
        assertTrue(condition(c, "Ready").getMessage().contains("shorter than a day"), condition(c, "Ready").getMessage());
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.endpoint().equals(hsm.getSpec().azureName)),
                "nothing was written to the HSM");
    }

    @Test
    void scheduledRotationStopsBeforeTheVersionLimit() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        apply(rotatingKey("full", "P1D"));
        HsmKey ready = awaitCondition(HsmKey.class, "full", "Ready", "True", null, WAIT);
        KeyClient admin = adminKeys(hsm);
        int limit = RotationSchedule.VERSION_LIMIT - RotationSchedule.RESERVED_FOR_ROTATE_NOW;
        // The operator reconciles while the versions are made. They carry what the spec says (its operations, the owner's
        // tag), so it has no drift to correct on them and writes nothing meanwhile.
        KeyOperation[] specOperations = KeySpecs.operations(ready.getSpec()).stream().map(KeyOperation::fromString)
                .toArray(KeyOperation[]::new);
        try (AutoCloseable fast = emulator.controls().suspendServiceLimits()) {
            while (azureVersions(hsm, "full").size() < limit) {
                admin.createEcKey(new CreateEcKeyOptions("full").setKeyOperations(specOperations)
                        .setTags(Map.of(Ownership.TAG, ownerTag(HsmKey.class, "full"))));
            }
        }
        // The clock moves only once a reconcile has read all of them: a reconcile that read the versions before the last
        // ones were made and the clock after the step would find a rotation due below the limit, make it, and so put the
        // limit a period off. Later reconciles read the versions after this one, so every reconcile the step reaches sees them all.
        awaitKey("full", x -> x.getStatus().versionCount == limit, "all " + limit + " versions seen before the clock moves");
        emulator.controls().advance(Duration.ofDays(2));
        HsmKey k = awaitKey("full", x -> condition(x, Conditions.ROTATION) != null
                && "VersionLimitApproaching".equals(condition(x, Conditions.ROTATION).getReason()), "the limit reported");
        assertEquals("True", condition(k, Conditions.ROTATION).getStatus());
        assertTrue(condition(k, Conditions.ROTATION).getMessage().contains("Scheduled rotation has stopped"));
        assertEquals(limit, azureVersions(hsm, "full").size(), "no scheduled rotation past the limit");
        assertEquals(20, k.getStatus().versions.size(), "status lists the 20 newest");
        assertEquals(limit, k.getStatus().versionCount);

        setToken("full", "emergency");
        awaitKey("full", x -> "emergency".equals(x.getStatus().lastRotateNowToken), "rotate-now within the reserve");
        assertEquals(limit + 1, azureVersions(hsm, "full").size());
        assertEquals(List.of(), journalSinceMark(e -> e.path().endsWith("/keys/full/create") && e.status() >= 400),
                "the operator never caused a failed create");
    }

    private KeyClient adminKeys(ManagedHsm hsm) {
        var admin = azureAs(emulator.builtInPrincipal());
        try {
            admin.rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER,
                    emulator.builtInPrincipal().objectId());
            awaitRbacPropagation();
        } catch (RuntimeException alreadyThere) {
            // granted by an earlier call
        }
        return admin.keys(hsm.getStatus().hsmUri);
    }
}
