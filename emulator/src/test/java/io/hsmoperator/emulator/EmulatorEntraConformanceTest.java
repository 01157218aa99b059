package io.hsmoperator.emulator;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenRequestContext;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredential;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Entra ID as azure-identity meets it: client secrets, workload identity (client assertions), signed JWTs. */
class EmulatorEntraConformanceTest extends EmulatorTestBase {
    private static JsonNode claims(String jwt) {
        return Json.parse(Base64.getUrlDecoder().decode(jwt.split("\\.")[1]));
    }

    @Test
    void clientSecretTokensCarryOidTidAndAudience() {
        AccessToken arm = admin.credential.getTokenSync(new TokenRequestContext().addScopes("https://management.core.windows.net//.default"));
        JsonNode c = claims(arm.getToken());
        assertEquals(admin.principal.objectId(), c.get("oid").asText());
        assertEquals(emulator.tenantId(), c.get("tid").asText());
        assertEquals("https://management.core.windows.net/", c.get("aud").asText());
        AccessToken hsm = admin.credential.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default"));
        assertEquals("https://managedhsm.azure.net", claims(hsm.getToken()).get("aud").asText());

        var wrong = new ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost()).tenantId(emulator.tenantId())
                .clientId(admin.principal.clientId()).clientSecret("not-the-secret").disableInstanceDiscovery().httpClient(admin.http).build();
        assertThrows(RuntimeException.class, () -> wrong.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default")));
    }

    @Test
    void workloadIdentityExchangesAServiceAccountToken() throws Exception {
        Emulator.Principal app = emulator.registerPrincipal("operator-workload");
        emulator.addFederatedCredential(app.clientId(), "system:serviceaccount:hsm-system:hsm-operator");
        Path tokenFile = Files.createTempFile("sa-token", ".jwt");
        Files.writeString(tokenFile, emulator.federatedToken("system:serviceaccount:hsm-system:hsm-operator"));
        WorkloadIdentityCredential wi = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                .disableInstanceDiscovery().httpClient(EmulatorHttp.azureClient(List.of(emulator.caCertificate()), Duration.ofSeconds(10))).build();
        AccessToken t = wi.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default"));
        assertEquals(app.objectId(), claims(t.getToken()).get("oid").asText());

        Files.writeString(tokenFile, emulator.federatedToken("system:serviceaccount:other:intruder"));
        WorkloadIdentityCredential other = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                .disableInstanceDiscovery().httpClient(EmulatorHttp.azureClient(List.of(emulator.caCertificate()), Duration.ofSeconds(10))).build();
        RuntimeException refused = assertThrows(RuntimeException.class,
                () -> other.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default")));
        assertTrue(String.valueOf(refused.getMessage()).contains("AADSTS70021") || refused.getCause() != null);
        Files.delete(tokenFile);
    }

    /**
     * A federated credential for another issuer (as for an AKS cluster's OIDC issuer): Entra reads that issuer's
     * discovery document and keys. A second emulator plays the other issuer.
     */
    @Test
    void workloadIdentityTrustsAnotherIssuerByItsPublishedKeys() throws Exception {
        try (Emulator cluster = Emulator.start(EmulatorConfig.inMemory())) {
            String token = cluster.federatedToken("system:serviceaccount:hsm-system:hsm-operator");
            String issuer = claims(token).path("iss").asText();
            Emulator.Principal app = emulator.registerPrincipal("aks-operator");
            emulator.addFederatedCredential(app.clientId(), issuer, "system:serviceaccount:hsm-system:hsm-operator");
            Path tokenFile = Files.createTempFile("sa-token", ".jwt");
            Files.writeString(tokenFile, token);
            var http = EmulatorHttp.azureClient(List.of(emulator.caCertificate()), Duration.ofSeconds(10));
            WorkloadIdentityCredential wi = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                    .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                    .disableInstanceDiscovery().httpClient(http).build();
            TokenRequestContext hsm = new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default");
            RuntimeException untrusted = assertThrows(RuntimeException.class, () -> wi.getTokenSync(hsm),
                    "an issuer Entra was not told to trust is refused");
            assertTrue(String.valueOf(untrusted.getMessage()).contains("AADSTS700027"), untrusted.getMessage());

            emulator.trustIssuer(issuer, java.net.URI.create(cluster.baseUrl()), cluster.caCertificate());
            assertEquals(app.objectId(), claims(wi.getTokenSync(hsm).getToken()).get("oid").asText());

            // Same issuer, another subject; and a token signed by a key the issuer does not publish.
            Files.writeString(tokenFile, cluster.federatedToken("system:serviceaccount:other:intruder"));
            WorkloadIdentityCredential intruder = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                    .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                    .disableInstanceDiscovery().httpClient(http).build();
            RuntimeException other = assertThrows(RuntimeException.class, () -> intruder.getTokenSync(hsm));
            assertTrue(String.valueOf(other.getMessage()).contains("AADSTS70021"), other.getMessage());
            String genuine = cluster.federatedToken("system:serviceaccount:hsm-system:hsm-operator");
            java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            String forged = Jwt.sign((com.fasterxml.jackson.databind.node.ObjectNode) claims(genuine), g.generateKeyPair(),
                    Jwt.header(genuine).path("kid").asText());
            Files.writeString(tokenFile, forged);
            WorkloadIdentityCredential forger = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                    .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                    .disableInstanceDiscovery().httpClient(http).build();
            RuntimeException bad = assertThrows(RuntimeException.class, () -> forger.getTokenSync(hsm));
            assertTrue(String.valueOf(bad.getMessage()).contains("AADSTS700027"), bad.getMessage());
            Files.delete(tokenFile);
        }
    }
}
