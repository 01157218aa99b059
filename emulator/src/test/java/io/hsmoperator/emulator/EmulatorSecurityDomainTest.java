package io.hsmoperator.emulator;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.models.ActivationStatus;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Activation by security-domain download, and recovery into a new HSM by upload, over an azure-core pipeline (there is
 * no Java client for them); the officers' side of the recovery is the Azure CLI's own code (AzureCliSecurityDomain).
 */
class EmulatorSecurityDomainTest extends EmulatorTestBase {
    /** An answer of the HSM's security-domain API: status, Azure-AsyncOperation header, JSON body (null when empty). */
    private record Answer(int status, String asyncOperation, JsonNode body) {
    }

    private Answer send(HttpMethod method, String hsmUri, String path, String body) {
        HttpRequest req = new HttpRequest(method, hsmUri.replaceAll("/$", "") + path + "?api-version=7.5");
        if (body != null) {
            req.setHeader("Content-Type", "application/json").setBody(body);
        }
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(req, Context.NONE)) {
            byte[] b = r.getBodyAsByteArray().block();
            return new Answer(r.getStatusCode(), r.getHeaderValue("Azure-AsyncOperation"), b == null || b.length == 0 ? null : Json.parse(b));
        }
    }

    private int post(String uri, String body) {
        HttpRequest req = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json").setBody(body);
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(req, Context.NONE)) {
            return r.getStatusCode();
        }
    }

    @Test
    void badCertificateSetsAreRefusedAndChangeNothing() throws Exception {
        String name = hsmName("sd-bad");
        String uri = HsmFixtures.createHsm(admin, "rg-sd", name).properties().hsmUri();
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates().subList(0, 2), 2))), "two certificates");
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 1))), "quorum of one");
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 4))), "quorum above the count");
        ObjectNode malformed = HsmFixtures.certificateInfo(officers.certificates(), 2);
        ((ObjectNode) malformed.get("certificates").get(0)).putArray("x5c").add(Base64.getEncoder().encodeToString("junk".getBytes()));
        assertEquals(400, post(uri, Json.string(malformed)), "a malformed certificate");
        assertEquals(ActivationStatus.NOT_ACTIVATED, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus());
    }

    @Test
    void downloadActivatesOnceAndTheBlobRecoversWithAQuorum() throws Exception {
        String name = hsmName("sd-ok");
        String uri = HsmFixtures.createHsm(admin, "rg-sd", name).properties().hsmUri();
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        HttpRequest req = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json")
                .setBody("{\"CertificateInfoObject\":" + Json.string(HsmFixtures.certificateInfo(officers.certificates(), 2)) + "}");
        String blob;
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(req, Context.NONE)) {
            assertEquals(202, r.getStatusCode(), "the legacy wrapped body is accepted too");
            assertTrue(r.getHeaderValue("Azure-AsyncOperation").endsWith("/securitydomain/download/pending"));
            blob = Json.parse(r.getBodyAsByteArray().block()).get("value").asText();
        }
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(new HttpRequest(HttpMethod.GET,
                uri.replaceAll("/$", "") + "/securitydomain/download/pending"), Context.NONE)) {
            assertEquals("InProgress", Json.parse(r.getBodyAsByteArray().block()).get("status").asText());
        }
        assertEquals(409, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 2))),
                "no second download while the first activates the HSM");
        Thread.sleep(emulator.config().activationDelay().toMillis() + 50);
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(new HttpRequest(HttpMethod.GET,
                uri.replaceAll("/$", "") + "/securitydomain/download/pending"), Context.NONE)) {
            assertEquals("Success", Json.parse(r.getBodyAsByteArray().block()).get("status").asText());
        }
        assertEquals(ActivationStatus.ACTIVE, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus());

        JsonNode parsed = Json.parse(blob);
        assertEquals(3, parsed.path("SharedKeys").path("enc_shares").size());
        assertEquals(2, parsed.path("SharedKeys").path("required").asInt());
        List<X509Certificate> twoCerts = officers.certificates().subList(1, 3);
        List<PrivateKey> two = officers.keys().subList(1, 3).stream().map(KeyPair::getPrivate).toList();
        byte[] recovered = SecurityDomainBlob.recoverBackupKey(blob, twoCerts, two);
        byte[] domainKey = emulator.inspect(s -> Base64.getDecoder().decode(s.hsms.get(name.toLowerCase()).domainKey));
        assertArrayEquals(domainKey, recovered, "any two officers recover the HSM's key");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(blob,
                List.of(officers.certificates().get(0)), List.of(officers.keys().get(0).getPrivate())),
                "one officer alone cannot");

        // Once activated, a download is a new copy of the same security domain, for the officers named in it.
        HsmFixtures.Officers others = HsmFixtures.officers(emulator, 4);
        HttpRequest again = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json").setBody(Json.string(HsmFixtures.certificateInfo(others.certificates(), 3)));
        String copy;
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(again, Context.NONE)) {
            assertEquals(202, r.getStatusCode(), "an activated HSM's security domain can be downloaded again");
            copy = Json.parse(r.getBodyAsByteArray().block()).get("value").asText();
        }
        assertArrayEquals(domainKey, SecurityDomainBlob.recoverBackupKey(copy, others.certificates().subList(0, 3),
                others.keys().subList(0, 3).stream().map(KeyPair::getPrivate).toList()), "the new copy recovers the same HSM, with the new officers' quorum");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(copy, twoCerts, two), "and not with the old officers");
        assertEquals(ActivationStatus.ACTIVE, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus(), "the HSM stays active");
    }

    @Test
    void officersRecoverTheSecurityDomainIntoANewHsmWithTheAzureClisOwnCode(@TempDir Path dir) throws Exception {
        // The HSM that is lost: activated by a download to three officers (quorum 2); a key of it backed up.
        String lostUri = HsmFixtures.createHsm(admin, "rg-sd", hsmName("sd-lost")).properties().hsmUri();
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        Files.writeString(dir.resolve("sd.json"), HsmFixtures.activate(admin, lostUri, officers));
        admin.rbac(lostUri).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, admin.principal.objectId());
        admin.keys(lostUri).createEcKey(new CreateEcKeyOptions("precious"));
        byte[] keyBackup = admin.keys(lostUri).backupKey("precious");

        // A new HSM, not activated: its transfer key, written by the CLI's init-recovery.
        String name = hsmName("sd-new");
        String uri = HsmFixtures.createHsm(admin, "rg-sd", name).properties().hsmUri();
        Answer transfer = send(HttpMethod.GET, uri, "/securitydomain/upload", null);
        assertEquals(200, transfer.status());
        assertTrue(transfer.body().get("transfer_key").isTextual(), "transfer_key is a JSON string (the CLI json.loads it)");
        Files.writeString(dir.resolve("transfer.json"), Json.string(transfer.body()));
        assertCli(dir, "init-recovery", "transfer.json", "exchange.pem");

        // The officers' files as the CLI reads them: NAME.key (PEM, one with a password) and NAME.cer beside it.
        writeOfficer(dir, "officer2", officers, 2, "correct horse");
        writeOfficer(dir, "officer0", officers, 0, null);
        assertCli(dir, "restore-blob", "sd.json", "exchange.pem", "restore.json", "officer2.key", "officer0.key", "--passwords", "correct horse");

        // A damaged share, or a key that is not the certificate's: the CLI stops with an error and writes nothing.
        ObjectNode damaged = (ObjectNode) Json.parse(Files.readString(dir.resolve("sd.json")));
        ObjectNode share = (ObjectNode) damaged.path("SharedKeys").path("enc_shares").get(0);
        share.put("enc_key", flipACiphertextBit(share.get("enc_key").asText()));
        Files.writeString(dir.resolve("damaged.json"), Json.string(damaged));
        assertCliFails(dir, "restore-blob", "damaged.json", "exchange.pem", "out1.json", "officer2.key", "officer0.key", "--passwords",
                "correct horse");
        writeOfficer(dir, "imposter", new HsmFixtures.Officers(officers.keys().subList(1, 2), officers.certificates().subList(0, 1)), 0, null);
        assertCliFails(dir, "restore-blob", "sd.json", "exchange.pem", "out2.json", "imposter.key", "officer2.key");

        // An upload whose wrapped key was altered is refused, and leaves the HSM as it was.
        String restoreBlob = Files.readString(dir.resolve("restore.json"));
        ObjectNode altered = (ObjectNode) Json.parse(restoreBlob);
        ((ObjectNode) altered.get("WrappedKey")).put("enc_key", flipACiphertextBit(altered.path("WrappedKey").path("enc_key").asText()));
        assertEquals(400, send(HttpMethod.POST, uri, "/securitydomain/upload", Json.string(Json.object().put("value", Json.string(altered))))
                .status());
        assertEquals(ActivationStatus.NOT_ACTIVATED, activation(name));

        // The upload: as the SDK's poller needs it (202, Azure-AsyncOperation, a status), until Success.
        Answer accepted = send(HttpMethod.POST, uri, "/securitydomain/upload", Json.string(Json.object().put("value", restoreBlob)));
        assertEquals(202, accepted.status());
        assertTrue(accepted.asyncOperation().endsWith("/securitydomain/upload/pending"), accepted.asyncOperation());
        assertEquals("InProgress", accepted.body().path("status").asText());
        await().atMost(Duration.ofSeconds(20)).until(() ->
                "Success".equals(send(HttpMethod.GET, uri, "/securitydomain/upload/pending", null).body().path("status").asText()));
        assertEquals(ActivationStatus.ACTIVE, activation(name));

        // It is the lost HSM's security domain: the lost HSM's key backup restores into the new one.
        admin.rbac(uri).createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, admin.principal.objectId());
        assertEquals("precious", admin.keys(uri).restoreKeyBackup(keyBackup).getName());

        // The transfer key is spent (Azure deletes it), and an activated HSM takes no second security domain.
        Answer next = send(HttpMethod.GET, uri, "/securitydomain/upload", null);
        assertNotEquals(Json.parse(transfer.body().get("transfer_key").asText()).get("x5t#S256"),
                Json.parse(next.body().get("transfer_key").asText()).get("x5t#S256"));
        assertEquals(400, send(HttpMethod.POST, uri, "/securitydomain/upload", Json.string(Json.object().put("value", restoreBlob))).status(),
                "wrapped to the spent transfer key");
        Files.writeString(dir.resolve("transfer2.json"), Json.string(next.body()));
        assertCli(dir, "init-recovery", "transfer2.json", "exchange2.pem");
        assertCli(dir, "restore-blob", "sd.json", "exchange2.pem", "restore2.json", "officer2.key", "officer0.key", "--passwords",
                "correct horse");
        assertEquals(409, send(HttpMethod.POST, uri, "/securitydomain/upload",
                Json.string(Json.object().put("value", Files.readString(dir.resolve("restore2.json"))))).status());
    }

    private ActivationStatus activation(String name) {
        return admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name).properties()
                .securityDomainProperties().activationStatus();
    }

    private static void assertCli(Path dir, String command, String... args) {
        AzureCliSecurityDomain.Run r = AzureCliSecurityDomain.run(dir, command, args);
        assertEquals(0, r.exit(), "az keyvault security-domain " + command + " failed: " + r.err());
    }

    private static void assertCliFails(Path dir, String command, String... args) {
        AzureCliSecurityDomain.Run r = AzureCliSecurityDomain.run(dir, command, args);
        assertEquals(1, r.exit(), "az keyvault security-domain " + command + " should have failed: " + r.err());
        assertTrue(r.err().startsWith("ERROR: "), r.err());
        assertFalse(Files.exists(dir.resolve(args[2])), "nothing written");
    }

    private static String flipACiphertextBit(String compactJwe) {
        String[] parts = compactJwe.split("\\.");
        byte[] ciphertext = Json.unb64(parts[3]);
        ciphertext[5] ^= 1;
        parts[3] = Json.b64u(ciphertext);
        return String.join(".", parts);
    }

    /** Officer {@code i}'s private key as NAME.key (PEM PKCS#8, encrypted when a password is given) and certificate as NAME.cer. */
    private static void writeOfficer(Path dir, String name, HsmFixtures.Officers officers, int i, String password) throws Exception {
        PrivateKey key = officers.keys().get(i).getPrivate();
        String pem = password == null ? Tls.pem("PRIVATE KEY", key.getEncoded())
                : Tls.pem("ENCRYPTED PRIVATE KEY", new JcaPKCS8Generator(key, new JceOpenSSLPKCS8EncryptorBuilder(PKCS8Generator.AES_256_CBC)
                .setProvider(new BouncyCastleProvider()).setPassword(password.toCharArray()).build()).generate().getContent());
        Tls.writePrivate(dir.resolve(name + ".key"), pem);
        Files.writeString(dir.resolve(name + ".cer"), Tls.pem("CERTIFICATE", officers.certificates().get(i).getEncoded()));
    }
}
