package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.KeyVaultBackupClient;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.azure.Consistency;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HsmKeys after their HSM was restored from a full backup (Azure's restore job, run here as its owners would, into
 * Azurite and back): a key the restore brought back as the resource last saw it converges without a single write; a key
 * that went back in time (its newer versions gone) is reported and left alone until its owners accept what Azure holds.
 */
@QuarkusTest
class RestoredKeysIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String ACCOUNT = "restoredkeys";

    private HsmKey awaitKey(String name, java.util.function.Predicate<HsmKey> done, String what) {
        return awaitKey(name, done, what, WAIT);
    }

    private static boolean ready(HsmKey k, String reason) {
        var c = condition(k, "Ready");
        return c != null && (reason == null ? "True".equals(c.getStatus()) : reason.equals(c.getReason()))
                && k.getMetadata().getGeneration().equals(c.getObservedGeneration());
    }

    private void annotate(String name, String annotation, String value) {
        HsmKey k = get(HsmKey.class, name);
        Map<String, String> a = new HashMap<>(k.getMetadata().getAnnotations() == null ? Map.of() : k.getMetadata().getAnnotations());
        a.put(annotation, value);
        k.getMetadata().setAnnotations(a);
        update(k);
    }

    @Test
    void keysTheRestoreBroughtBackConvergeWithoutAWriteAndAKeyThatWentBackIsLeftAloneUntilAccepted() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String uri = hsm.getStatus().hsmUri;
        apply(hsmKey("steady", "hsm", HsmKeySpec.KeyType.EC_HSM));
        apply(hsmKey("rotated", "hsm", HsmKeySpec.KeyType.RSA_HSM));
        HsmKey steady = awaitKey("steady", k -> ready(k, null), "Ready");
        String v1 = awaitKey("rotated", k -> ready(k, null), "Ready").getStatus().currentVersion;

        // The owners' full backup, into a real Blob service.
        BlobContainerClient container = azuriteContainer(ACCOUNT);
        String sas = container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(2),
                BlobContainerSasPermission.parse("crwdl")));
        // As the HSM's administrator (the identity that created it), since the operator's own HsmRestore is not what is tested here.
        KeyVaultBackupClient backups = azureAs(emulator.builtInPrincipal()).backup(uri);
        String folder = backups.beginBackup(container.getBlobContainerUrl(), sas).getFinalResult();

        // After the backup, "rotated" gets a second version: the restore takes it away again.
        annotate("rotated", Conditions.ROTATE_NOW_ANNOTATION, "after-the-backup");
        String v2 = awaitKey("rotated", k -> k.getStatus().versionCount == 2 && ready(k, null), "its second version").getStatus().currentVersion;
        assertNotEquals(v1, v2);

        long mark = emulator.controls().lastSequence();
        backups.beginRestore(folder, sas).getFinalResult();
        long restored = emulator.controls().lastSequence();
        touch(HsmKey.class, "steady");
        touch(HsmKey.class, "rotated");

        // "steady" is as the resource last saw it: looked at again after the restore, Ready, the same version.
        String operator = emulator.builtInPrincipal().objectId();
        await().atMost(WAIT).until(() -> !emulator.controls().journal(e -> e.seq() > restored && operator.equals(e.principal())
                && e.method().equals("GET") && e.path().startsWith("/keys/steady")).isEmpty());
        awaitKey("steady", k -> ready(k, null) && k.getStatus().currentVersion.equals(steady.getStatus().currentVersion),
                "Ready after the restore");

        // "rotated": within the time reads may lag, the missing version may be a lagging read; past it, the key went back.
        emulator.controls().advance(Consistency.READ_LAG.plusSeconds(30));
        touch(HsmKey.class, "rotated");
        HsmKey held = awaitKey("rotated", k -> ready(k, Reason.VersionsGone.name()), "VersionsGone");
        String message = condition(held, "Ready").getMessage();
        assertTrue(message.contains(v2) && message.contains("current version is now " + v1), message);
        assertTrue(message.contains(Conditions.ACCEPT_KEY_STATE_ANNOTATION), message);
        assertEquals(v2, held.getStatus().currentVersion, "status keeps what the resource last converged");
        ConfigMap published = client.configMaps().inNamespace(ns).withName("rotated-key").get();
        assertEquals(v2, published.getData().get("currentVersion"), "nothing new is published before the owners accept");
        assertTrue(eventReasons().contains("VersionsGone"));
        touch(HsmKey.class, "rotated");
        touch(HsmKey.class, "steady");
        await().pollDelay(Duration.ofSeconds(3)).atMost(WAIT).until(() -> ready(get(HsmKey.class, "rotated"), Reason.VersionsGone.name()));
        assertEquals(List.of(), operatorWrites(mark, "/keys"), "the operator wrote nothing to any key after the restore");

        // Accepted: the operator takes Azure's key as it is and converges it from there (no rotation is due: no write).
        annotate("rotated", Conditions.ACCEPT_KEY_STATE_ANNOTATION, "restored-2026-12");
        HsmKey accepted = awaitKey("rotated", k -> ready(k, null) && v1.equals(k.getStatus().currentVersion), "Ready at " + v1);
        assertEquals(1, accepted.getStatus().versionCount);
        assertEquals("restored-2026-12", accepted.getStatus().lastAcceptKeyStateToken);
        assertEquals(v1, client.configMaps().inNamespace(ns).withName("rotated-key").get().getData().get("currentVersion"));
        assertTrue(eventReasons().contains("KeyStateAccepted"));
        assertEquals(List.of(), operatorWrites(mark, "/keys"), "accepting the key as it is writes nothing either");
    }
}
