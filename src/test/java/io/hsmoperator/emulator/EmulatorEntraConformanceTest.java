package io.hsmoperator.emulator;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenRequestContext;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredential;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import io.hsmoperator.azure.AzureHttpClients;
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
                .disableInstanceDiscovery().httpClient(AzureHttpClients.create(List.of(emulator.caCertificate()), Duration.ofSeconds(10))).build();
        AccessToken t = wi.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default"));
        assertEquals(app.objectId(), claims(t.getToken()).get("oid").asText());

        Files.writeString(tokenFile, emulator.federatedToken("system:serviceaccount:other:intruder"));
        WorkloadIdentityCredential other = new WorkloadIdentityCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(app.clientId()).tokenFilePath(tokenFile.toString())
                .disableInstanceDiscovery().httpClient(AzureHttpClients.create(List.of(emulator.caCertificate()), Duration.ofSeconds(10))).build();
        RuntimeException refused = assertThrows(RuntimeException.class,
                () -> other.getTokenSync(new TokenRequestContext().addScopes("https://managedhsm.azure.net/.default")));
        assertTrue(String.valueOf(refused.getMessage()).contains("AADSTS70021") || refused.getCause() != null);
        Files.delete(tokenFile);
    }
}
