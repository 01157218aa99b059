package io.hsmoperator.reconciler;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.emulator.AzureCliSecurityDomain;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorClients;
import io.hsmoperator.emulator.HsmFixtures;
import io.hsmoperator.emulator.Tls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The recovery drill, step by step as the README's runbook ("Recovering a lost HSM") gives it: a scheduled backup of an
 * HSM whose security domain the operator keeps for three officers; the HSM is lost; a new HSM is declared without a
 * security domain (recovery mode); two of the officers recover the security domain with the Azure CLI's own code and
 * upload it; an HsmRestore brings the backup back; the lost HSM's resources are deleted, all at once, and nothing is sent
 * for it; the keys are declared against the new HSM and adopt what the restore brought. Then what the users check: the
 * same key name signs again, and a signature made before the loss verifies with the JWKS the operator publishes now.
 * Last, the new HSM's security domain goes back into the operator's custody.
 */
@QuarkusTest
class RecoveryDrillIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String ACCOUNT = "drillbackups";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aLostHsmIsRecoveredByTheRunbookAndItsKeysSignAndVerifyAsBefore(@TempDir Path officersDesk) throws Exception {
        // ---- before the loss ------------------------------------------------------------------------------------------
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        apply(officersSecret("payments-officers", officers));
        apply(managedHsm("payments", uniqueHsmName("payments")));
        ManagedHsm lost = awaitCondition(ManagedHsm.class, "payments", "Ready", "True", null, WAIT);
        String lostUri = lost.getStatus().hsmUri;

        HsmKey signing = hsmKey("signing", "payments", HsmKeySpec.KeyType.EC_HSM);
        signing.getSpec().operations = List.of(HsmKeySpec.Operation.sign, HsmKeySpec.Operation.verify);
        apply(signing);
        awaitCondition(HsmKey.class, "signing", "Ready", "True", null, WAIT);
        Emulator.Principal workload = emulator.registerPrincipal("payments-api (drill)");
        apply(roleAssignment(ns, "payments-api-signs", new HsmReference("payments", null), "Managed HSM Crypto User", workload.objectId(),
                "signing", null));
        awaitCondition(HsmRoleAssignment.class, "payments-api-signs", "Ready", "True", null, WAIT);
        awaitRbacPropagation();
        byte[] invoice = "invoice 42, signed before the loss".getBytes(StandardCharsets.UTF_8);
        byte[] before = azureAs(workload).crypto(published("signing-key").getData().get("keyId"))
                .sign(SignatureAlgorithm.ES256, sha256(invoice)).getSignature();

        BlobContainerClient container = azuriteContainer(ACCOUNT);
        sasSecret(ns, "backup-sas", container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(2),
                BlobContainerSasPermission.parse("crwdl"))));
        apply(hsmBackup(ns, "nightly", new HsmReference("payments", null), container.getBlobContainerUrl(), "backup-sas", "P1D"));
        String folder = awaitCondition(HsmBackup.class, "nightly", "Ready", "True", null, WAIT).getStatus().lastSuccessful.folderUrl;
        // The officers' copy of the security domain: what the operator stored in its Secret (encrypted to their certificates).
        Secret kept = client.secrets().inNamespace(ns).withName("payments-security-domain").get();
        Files.write(officersDesk.resolve("sd.json"), Base64.getDecoder().decode(kept.getData().get("security-domain.json")));

        // ---- the loss: the HSM is deleted in Azure, and its keys with it ------------------------------------------------
        owner().keyVault().serviceClient().getManagedHsms().delete("rg-" + ns, lost.getSpec().azureName);
        boolean gone = emulator.inspect(s -> !s.hsms.containsKey(lost.getSpec().azureName));
        assertTrue(gone, "the HSM is gone");

        // ---- step 1: a new HSM in recovery mode (no spec.securityDomain: provisioned, not activated) ------------------
        ManagedHsm dr = managedHsm("payments-dr", uniqueHsmName("paydr"));
        dr.getSpec().securityDomain = null;
        apply(dr);
        dr = awaitCondition(ManagedHsm.class, "payments-dr", "Ready", "False", "SecurityDomainNotConfigured", WAIT);
        String drUri = dr.getStatus().hsmUri;
        String drName = dr.getSpec().azureName;

        // ---- step 2: two of the three officers recover the security domain with the Azure CLI's code, and upload it ---
        EmulatorClients hsmAdmin = azureAs(emulator.builtInPrincipal());
        JsonNode transfer = send(hsmAdmin, HttpMethod.GET, drUri, "/securitydomain/upload", null);
        Files.writeString(officersDesk.resolve("transfer.json"), JSON.writeValueAsString(transfer));
        cli(officersDesk, "init-recovery", "transfer.json", "exchange.pem");
        writeOfficer(officersDesk, "officer0", officers, 0);
        writeOfficer(officersDesk, "officer2", officers, 2);
        cli(officersDesk, "restore-blob", "sd.json", "exchange.pem", "restore.json", "officer0.key", "officer2.key");
        send(hsmAdmin, HttpMethod.POST, drUri, "/securitydomain/upload",
                JSON.writeValueAsString(JSON.createObjectNode().put("value", Files.readString(officersDesk.resolve("restore.json")))));
        await().atMost(WAIT).until(() -> "Success".equals(send(hsmAdmin, HttpMethod.GET, drUri, "/securitydomain/upload/pending", null)
                .path("status").asText()));
        touch(ManagedHsm.class, "payments-dr");
        awaitCondition(ManagedHsm.class, "payments-dr", "Ready", "True", null, WAIT);

        // ---- step 3: the full restore of the last backup --------------------------------------------------------------
        apply(hsmRestore(ns, "payments-dr-from-nightly", new HsmReference("payments-dr", null), folder, "backup-sas", null, drName));
        HsmRestore restore = awaitCondition(HsmRestore.class, "payments-dr-from-nightly", "Ready", "True", null, WAIT);
        assertEquals(folder, restore.getStatus().restoredFrom);

        // ---- step 4: the lost HSM's resources go, all at once; none waits on the HSM that is gone ---------------------
        // (First: while the HsmKey that made a key exists, no other resource may adopt that key.)
        // A grant in the lost HSM cannot be revoked (and would come back if that HSM were ever recovered): its resource is
        // released deliberately, as the runbook says, not by the operator guessing that the HSM is gone for good.
        HsmRoleAssignment grant = get(HsmRoleAssignment.class, "payments-api-signs");
        grant.getMetadata().setAnnotations(Map.of(io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION, "true"));
        update(grant);
        long beforeDeletion = emulator.controls().lastSequence();
        client.resource(get(HsmRoleAssignment.class, "payments-api-signs")).delete();
        client.resource(get(HsmKey.class, "signing")).delete();
        client.resource(get(HsmBackup.class, "nightly")).delete();
        client.resource(get(ManagedHsm.class, "payments")).delete();
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "payments") == null && get(HsmKey.class, "signing") == null
                && get(HsmBackup.class, "nightly") == null && get(HsmRoleAssignment.class, "payments-api-signs") == null);
        String lostName = lost.getSpec().azureName;
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > beforeDeletion && e.isWrite()
                && (lostName.equals(e.endpoint()) || e.path().contains(lostName))), "Retain: nothing sent for the lost HSM");

        // ---- step 5: the keys and grants, declared against the new HSM; the keys adopt what the restore brought -------
        HsmKey again = hsmKey("signing-dr", "payments-dr", HsmKeySpec.KeyType.EC_HSM);
        again.getSpec().keyName = "signing";
        again.getSpec().operations = List.of(HsmKeySpec.Operation.sign, HsmKeySpec.Operation.verify);
        again.getSpec().adoptExisting = true;
        apply(again);
        HsmKey adopted = awaitCondition(HsmKey.class, "signing-dr", "Ready", "True", null, WAIT);
        assertTrue(adopted.getStatus().adopted);
        apply(roleAssignment(ns, "payments-api-signs-dr", new HsmReference("payments-dr", null), "Managed HSM Crypto User",
                workload.objectId(), "signing-dr", null));
        awaitCondition(HsmRoleAssignment.class, "payments-api-signs-dr", "Ready", "True", null, WAIT);
        awaitRbacPropagation();

        // ---- what the users check -------------------------------------------------------------------------------------
        ConfigMap now = published("signing-dr-key");
        String keyId = now.getData().get("keyId");
        assertTrue(keyId.startsWith(drUri.replaceAll("/+$", "") + "/keys/signing/"), keyId);
        JsonNode jwk = JSON.readTree(now.getData().get("jwks.json")).get("keys").get(0);
        assertTrue(HsmKeyReconcilerIT.verifies(HsmKeyReconcilerIT.ecKey(jwk), invoice, before),
                "a signature made before the loss verifies with the JWKS published now");
        byte[] invoice43 = "invoice 43, signed after the recovery".getBytes(StandardCharsets.UTF_8);
        byte[] after = azureAs(workload).crypto(keyId).sign(SignatureAlgorithm.ES256, sha256(invoice43)).getSignature();
        assertTrue(HsmKeyReconcilerIT.verifies(HsmKeyReconcilerIT.ecKey(jwk), invoice43, after), "the same key name signs again");

        // ---- step 6: the recovered HSM's security domain in the operator's custody again, for today's officers --------
        ManagedHsm custody = get(ManagedHsm.class, "payments-dr");
        custody.getSpec().securityDomain = new io.hsmoperator.api.managedhsm.ManagedHsmSpec.SecurityDomain();
        custody.getSpec().securityDomain.certificatesSecret = "payments-officers";
        custody = update(custody);
        // Activated by someone else's upload: the operator says no copy is kept, and downloads one only when asked.
        awaitCondition(ManagedHsm.class, "payments-dr", "Activated", "True", "SecurityDomainMissing", WAIT);
        custody = get(ManagedHsm.class, "payments-dr");
        custody.getMetadata().setAnnotations(Map.of(io.hsmoperator.api.common.Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION, "after-drill"));
        update(custody);
        await().atMost(WAIT).until(() -> {
            Secret s = client.secrets().inNamespace(ns).withName("payments-dr-security-domain").get();
            return s != null && s.getData() != null && s.getData().containsKey("security-domain.json");
        });
    }

    private ConfigMap published(String name) {
        return client.configMaps().inNamespace(ns).withName(name).get();
    }

    private Secret officersSecret(String name, HsmFixtures.Officers officers) throws Exception {
        SecretBuilder b = new SecretBuilder().withNewMetadata().withName(name).withNamespace(ns).endMetadata();
        for (int i = 0; i < officers.certificates().size(); i++) {
            b.addToStringData("officer-" + i + ".pem", Tls.pem("CERTIFICATE", officers.certificates().get(i).getEncoded()));
        }
        return b.addToStringData("quorum", "2").build();
    }

    /** Officer {@code i}'s files as the CLI reads them: NAME.key (PEM PKCS#8, owner-only) and NAME.cer beside it. */
    private static void writeOfficer(Path dir, String name, HsmFixtures.Officers officers, int i) throws Exception {
        Path key = dir.resolve(name + ".key");
        Files.writeString(key, Tls.pem("PRIVATE KEY", officers.keys().get(i).getPrivate().getEncoded()));
        Files.setPosixFilePermissions(key, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.writeString(dir.resolve(name + ".cer"), Tls.pem("CERTIFICATE", officers.certificates().get(i).getEncoded()));
    }

    private static void cli(Path dir, String command, String... args) {
        AzureCliSecurityDomain.Run r = AzureCliSecurityDomain.run(dir, command, args);
        assertEquals(0, r.exit(), "az keyvault security-domain " + command + " failed: " + r.err());
    }

    private static JsonNode send(EmulatorClients as, HttpMethod method, String hsmUri, String path, String body) throws Exception {
        HttpRequest req = new HttpRequest(method, hsmUri.replaceAll("/$", "") + path + "?api-version=7.5");
        if (body != null) {
            req.setHeader("Content-Type", "application/json").setBody(body);
        }
        try (HttpResponse r = as.dataPlanePipeline().sendSync(req, Context.NONE)) {
            byte[] b = r.getBodyAsByteArray().block();
            assertTrue(r.getStatusCode() < 300, method + " " + path + ": " + r.getStatusCode() + " " + (b == null ? "" : new String(b)));
            return b == null || b.length == 0 ? JSON.createObjectNode() : JSON.readTree(b);
        }
    }

    private static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }
}
