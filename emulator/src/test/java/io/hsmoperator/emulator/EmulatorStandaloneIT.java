package io.hsmoperator.emulator;

import com.azure.core.credential.TokenCredential;
import com.azure.core.http.HttpClient;
import com.azure.core.management.AzureEnvironment;
import com.azure.core.management.profile.AzureProfile;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.resourcemanager.keyvault.KeyVaultManager;
import com.azure.resourcemanager.keyvault.fluent.models.ManagedHsmInner;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClientBuilder;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.KeyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The emulator started alone with the README's command (bin/hsm-emulator), used by a client that knows nothing but
 * the connection file, then restarted on the same state directory.
 */
class EmulatorStandaloneIT {
    @Test
    void aClientWithOnlyTheConnectionFileCreatesActivatesSignsAndVerifies() throws Exception {
        Path dir = Files.createTempDirectory("emulator-state");
        String kid;
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("standalone".getBytes());
        Process p = start(dir);
        try {
            JsonNode conn = waitForConnectionFile(dir, p);
            Client c = new Client(conn);
            String hsmName = "standalone-" + UUID.randomUUID().toString().substring(0, 6);
            ManagedHsmInner hsm = c.arm().serviceClient().getManagedHsms().beginCreateOrUpdate("rg-standalone", hsmName,
                    new ManagedHsmInner().withLocation("westeurope").withProperties(new com.azure.resourcemanager.keyvault.models.ManagedHsmProperties()
                            .withTenantId(UUID.fromString(conn.get("tenantId").asText()))
                            .withInitialAdminObjectIds(java.util.List.of(conn.get("objectId").asText()))))
                    .getFinalResult();
            String uri = hsm.properties().hsmUri();
            HsmFixtures.Officers officers = HsmFixtures.officersSelfSigned(3);
            HsmFixtures.activateWith(c.http, c.credential, uri, officers);
            new KeyVaultAccessControlClientBuilder().vaultUrl(uri).credential(c.credential).httpClient(c.http)
                    .disableChallengeResourceVerification().buildClient()
                    .createRoleAssignment(KeyVaultRoleScope.KEYS, HsmFixtures.CRYPTO_USER, conn.get("objectId").asText());
            var keyClient = new KeyClientBuilder().vaultUrl(uri).credential(c.credential).httpClient(c.http)
                    .disableChallengeResourceVerification().buildClient();
            // As in Azure, the new role assignment works only once it has propagated (5 s by default here).
            KeyVaultKey key = org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
                    .pollInterval(java.time.Duration.ofMillis(500)).ignoreExceptions()
                    .until(() -> keyClient.createEcKey(new CreateEcKeyOptions("persisted")), java.util.Objects::nonNull);
            kid = key.getId();
            CryptographyClient crypto = c.crypto(kid);
            assertTrue(crypto.verify(SignatureAlgorithm.ES256, digest, crypto.sign(SignatureAlgorithm.ES256, digest).getSignature()).isValid());
        } finally {
            stop(p);
        }
        Process again = start(dir);
        try {
            Client c = new Client(waitForConnectionFile(dir, again));
            CryptographyClient crypto = c.crypto(kid);
            assertTrue(crypto.verify(SignatureAlgorithm.ES256, digest, crypto.sign(SignatureAlgorithm.ES256, digest).getSignature()).isValid(),
                    "after a restart the same key ID still signs: HSM, key, role assignment and port persisted");
        } finally {
            stop(again);
        }
    }

    private static Process start(Path dir) throws Exception {
        Files.deleteIfExists(dir.resolve("emulator.json"));
        return new ProcessBuilder("../bin/hsm-emulator", "--state-dir", dir.toString(), "--port", "0")
                .redirectErrorStream(true).redirectOutput(dir.resolve("emulator.log").toFile()).start();
    }

    private static void stop(Process p) throws Exception {
        p.destroy();
        p.waitFor();
    }

    private static JsonNode waitForConnectionFile(Path dir, Process p) throws Exception {
        Path file = dir.resolve("emulator.json");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!Files.exists(file)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("the emulator did not start: " + Files.readString(dir.resolve("emulator.log")));
            }
            Thread.sleep(100);
        }
        return Json.parse(Files.readAllBytes(file));
    }

    /** Everything below comes from the connection file. */
    private static final class Client {
        final HttpClient http;
        final TokenCredential credential;
        final JsonNode conn;

        Client(JsonNode conn) throws Exception {
            this.conn = conn;
            this.http = EmulatorHttp.azureClient(List.of(EmulatorHttp.readCa(new File(conn.get("caCertificate").asText()).toPath())),
                    Duration.ofSeconds(30));
            this.credential = new ClientSecretCredentialBuilder().authorityHost(conn.get("authorityHost").asText())
                    .tenantId(conn.get("tenantId").asText()).clientId(conn.get("clientId").asText())
                    .clientSecret(conn.get("clientSecret").asText()).disableInstanceDiscovery().httpClient(http).build();
        }

        KeyVaultManager arm() {
            Map<String, String> endpoints = new HashMap<>(AzureEnvironment.AZURE.getEndpoints());
            endpoints.put("resourceManagerEndpointUrl", conn.get("armEndpoint").asText());
            endpoints.put("activeDirectoryEndpointUrl", conn.get("authorityHost").asText());
            return KeyVaultManager.configure().withHttpClient(http).authenticate(credential,
                    new AzureProfile(conn.get("tenantId").asText(), conn.get("subscriptionId").asText(), new AzureEnvironment(endpoints)));
        }

        CryptographyClient crypto(String kid) {
            return new CryptographyClientBuilder().keyIdentifier(kid).credential(credential).httpClient(http)
                    .disableChallengeResourceVerification().buildClient();
        }
    }
}
