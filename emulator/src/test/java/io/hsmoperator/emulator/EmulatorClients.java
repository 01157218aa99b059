package io.hsmoperator.emulator;

import com.azure.core.credential.TokenCredential;
import com.azure.core.http.HttpClient;
import com.azure.core.http.HttpPipeline;
import com.azure.core.http.HttpPipelineBuilder;
import com.azure.core.http.policy.BearerTokenAuthenticationPolicy;
import com.azure.core.http.policy.RetryPolicy;
import com.azure.core.management.AzureEnvironment;
import com.azure.core.management.profile.AzureProfile;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.resourcemanager.keyvault.KeyVaultManager;
import com.azure.resourcemanager.monitor.MonitorManager;
import com.azure.resourcemanager.network.NetworkManager;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClientBuilder;
import com.azure.security.keyvault.administration.KeyVaultBackupClient;
import com.azure.security.keyvault.administration.KeyVaultBackupClientBuilder;
import com.azure.security.keyvault.administration.KeyVaultSettingsClient;
import com.azure.security.keyvault.administration.KeyVaultSettingsClientBuilder;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.KeyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Real Azure SDK clients pointed at an emulator, the way any client that read the connection file would build them. */
public final class EmulatorClients {
    public final Emulator emulator;
    public final Emulator.Principal principal;
    public final HttpClient http;
    public final TokenCredential credential;
    public final AzureProfile profile;
    public final String subscriptionId;

    public EmulatorClients(Emulator emulator, Emulator.Principal principal) {
        this(emulator, principal, "00000000-0000-0000-0000-0000000000aa");
    }

    public EmulatorClients(Emulator emulator, Emulator.Principal principal, String subscriptionId) {
        this.emulator = emulator;
        this.principal = principal;
        this.http = EmulatorHttp.azureClient(List.of(emulator.caCertificate()), Duration.ofSeconds(30));
        this.credential = new ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost()).tenantId(emulator.tenantId())
                .clientId(principal.clientId()).clientSecret(principal.clientSecret()).disableInstanceDiscovery().httpClient(http).build();
        this.subscriptionId = subscriptionId;
        Map<String, String> endpoints = new HashMap<>(AzureEnvironment.AZURE.getEndpoints());
        endpoints.put("resourceManagerEndpointUrl", emulator.armEndpoint());
        endpoints.put("activeDirectoryEndpointUrl", emulator.authorityHost());
        this.profile = new AzureProfile(emulator.tenantId(), subscriptionId, new AzureEnvironment(endpoints));
    }

    public KeyVaultManager keyVault() {
        return KeyVaultManager.configure().withHttpClient(http).authenticate(credential, profile);
    }

    public NetworkManager network() {
        return NetworkManager.configure().withHttpClient(http).authenticate(credential, profile);
    }

    public MonitorManager monitor() {
        return MonitorManager.configure().withHttpClient(http).authenticate(credential, profile);
    }

    public KeyClient keys(String hsmUri) {
        return new KeyClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http).disableChallengeResourceVerification()
                .buildClient();
    }

    public CryptographyClient crypto(String keyId) {
        return new CryptographyClientBuilder().keyIdentifier(keyId).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
    }

    public KeyVaultAccessControlClient rbac(String hsmUri) {
        return new KeyVaultAccessControlClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
    }

    public KeyVaultBackupClient backup(String hsmUri) {
        return new KeyVaultBackupClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
    }

    public KeyVaultSettingsClient settings(String hsmUri) {
        return new KeyVaultSettingsClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
    }

    /** An azure-core pipeline for the security-domain calls, which have no SDK client. */
    public HttpPipeline dataPlanePipeline() {
        return new HttpPipelineBuilder().httpClient(http).policies(new RetryPolicy(),
                new BearerTokenAuthenticationPolicy(credential, "https://managedhsm.azure.net/.default")).build();
    }
}
