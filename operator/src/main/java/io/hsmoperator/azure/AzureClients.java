package io.hsmoperator.azure;

import com.azure.core.credential.TokenRequestContext;
import com.azure.core.http.HttpClient;
import com.azure.core.http.HttpPipeline;
import com.azure.core.http.HttpPipelineBuilder;
import com.azure.core.http.policy.BearerTokenAuthenticationPolicy;
import com.azure.core.http.policy.FixedDelayOptions;
import com.azure.core.http.policy.RequestIdPolicy;
import com.azure.core.http.policy.RetryOptions;
import com.azure.core.management.profile.AzureProfile;
import com.azure.resourcemanager.keyvault.KeyVaultManager;
import com.azure.resourcemanager.monitor.MonitorManager;
import com.azure.resourcemanager.network.NetworkManager;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClient;
import com.azure.security.keyvault.administration.KeyVaultAccessControlClientBuilder;
import com.azure.security.keyvault.administration.KeyVaultBackupClient;
import com.azure.security.keyvault.administration.KeyVaultBackupClientBuilder;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.KeyClientBuilder;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobContainerClientBuilder;
import com.azure.storage.common.policy.RequestRetryOptions;
import com.azure.storage.common.policy.RetryPolicyType;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hsmoperator.metrics.AzureRequestMetrics;
import jakarta.inject.Singleton;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every Azure SDK client the operator uses, built once per subscription or HSM: one HTTP client with timeouts and the
 * configured trust, the shared per-scope throttle, and no SDK-level retries (a retried create would make a second key
 * version; the reconcilers retry after observing Azure again). Data-plane clients never share the ARM pipeline. Every
 * request is counted by service, operation and status ({@link AzureRequestMetrics}).
 */
@Singleton
public class AzureClients {
    private static final RetryOptions NO_RETRIES = new RetryOptions(new FixedDelayOptions(0, Duration.ZERO));
    private final AzureTarget target;
    private final ScopeGate gate;
    private final HttpClient http;
    private final Duration timeout;
    private final Map<String, Object> clients = new ConcurrentHashMap<>();
    private volatile String principalId;

    public AzureClients(AzureTarget target, ScopeGate gate, OperatorConfig config) {
        this.target = target;
        this.gate = gate;
        this.timeout = config.azure().timeout();
        this.http = AzureHttpClients.create(target.trust(), timeout);
    }

    public Duration timeout() {
        return timeout;
    }

    public AzureTarget target() {
        return target;
    }

    private AzureProfile profile(String subscription) {
        return new AzureProfile(target.tenantId(), subscription, target.environment());
    }

    public KeyVaultManager keyVault(String subscription) {
        return (KeyVaultManager) clients.computeIfAbsent("kv:" + subscription, k -> KeyVaultManager.configure().withHttpClient(http)
                .withPolicy(gate.policy()).withPolicy(new AzureRequestMetrics("arm-keyvault")).withRetryOptions(NO_RETRIES).authenticate(target.credential(), profile(subscription)));
    }

    public NetworkManager network(String subscription) {
        return (NetworkManager) clients.computeIfAbsent("net:" + subscription, k -> NetworkManager.configure().withHttpClient(http)
                .withPolicy(gate.policy()).withPolicy(new AzureRequestMetrics("arm-network")).withRetryOptions(NO_RETRIES).authenticate(target.credential(), profile(subscription)));
    }

    public MonitorManager monitor(String subscription) {
        return (MonitorManager) clients.computeIfAbsent("mon:" + subscription, k -> MonitorManager.configure().withHttpClient(http)
                .withPolicy(gate.policy()).withPolicy(new AzureRequestMetrics("arm-monitor")).withRetryOptions(NO_RETRIES).authenticate(target.credential(), profile(subscription)));
    }

    public KeyClient keys(String hsmUri) {
        return (KeyClient) clients.computeIfAbsent("keys:" + base(hsmUri), k -> {
            KeyClientBuilder b = new KeyClientBuilder().vaultUrl(base(hsmUri)).credential(target.credential()).httpClient(http)
                    .retryOptions(NO_RETRIES).addPolicy(new RequestIdPolicy()).addPolicy(gate.policy())
                    .addPolicy(new AzureRequestMetrics("hsm-keys"));
            if (!target.verifyChallengeResource()) {
                b.disableChallengeResourceVerification();
            }
            return b.buildClient();
        });
    }

    public KeyVaultAccessControlClient accessControl(String hsmUri) {
        return (KeyVaultAccessControlClient) clients.computeIfAbsent("rbac:" + base(hsmUri), k -> {
            KeyVaultAccessControlClientBuilder b = new KeyVaultAccessControlClientBuilder().vaultUrl(base(hsmUri))
                    .credential(target.credential()).httpClient(http).retryOptions(NO_RETRIES).addPolicy(new RequestIdPolicy())
                    .addPolicy(gate.policy()).addPolicy(new AzureRequestMetrics("hsm-rbac"));
            if (!target.verifyChallengeResource()) {
                b.disableChallengeResourceVerification();
            }
            return b.buildClient();
        });
    }

    public KeyVaultBackupClient backup(String hsmUri) {
        return (KeyVaultBackupClient) clients.computeIfAbsent("backup:" + base(hsmUri), k -> {
            KeyVaultBackupClientBuilder b = new KeyVaultBackupClientBuilder().vaultUrl(base(hsmUri)).credential(target.credential())
                    .httpClient(http).retryOptions(NO_RETRIES).addPolicy(new RequestIdPolicy()).addPolicy(gate.policy())
                    .addPolicy(new AzureRequestMetrics("hsm-backup"));
            if (!target.verifyChallengeResource()) {
                b.disableChallengeResourceVerification();
            }
            return b.buildClient();
        });
    }

    /**
     * A client of one blob container, authorised by {@code sas}, or, when it is null, by the operator's own Azure
     * credential (a bearer token for Azure Storage). Built for each use and never cached: the SAS must not outlive the
     * call that read it from its Secret.
     */
    public BlobContainerClient container(String containerUrl, String sas) {
        BlobContainerClientBuilder b = new BlobContainerClientBuilder().endpoint(containerUrl).httpClient(http)
                .retryOptions(new RequestRetryOptions(RetryPolicyType.FIXED, 1, timeout, null, null, null))
                .addPolicy(gate.policy()).addPolicy(new AzureRequestMetrics("storage-blob"));
        return (sas == null ? b.credential(target.credential()) : b.sasToken(sas)).buildClient();
    }

    /** A pipeline for the security-domain calls, which have no SDK client. */
    public HttpPipeline dataPlanePipeline() {
        return (HttpPipeline) clients.computeIfAbsent("pipeline", k -> new HttpPipelineBuilder().httpClient(http)
                .policies(new RequestIdPolicy(), gate.policy(), new BearerTokenAuthenticationPolicy(target.credential(), hsmScope()),
                        new AzureRequestMetrics("hsm-admin")).build());
    }

    /** Token scope of the Managed HSM data plane in this cloud (https://managedhsm.azure.net/.default in the public cloud). */
    public String hsmScope() {
        String suffix = target.environment().getManagedHsmDnsSuffix();
        return "https://" + (suffix.startsWith(".") ? suffix.substring(1) : suffix) + "/.default";
    }

    /** The Entra object ID the operator authenticates as, read from its own access token's oid claim. */
    public String principalId() {
        String p = principalId;
        if (p == null) {
            try {
                String token = target.credential().getTokenSync(new TokenRequestContext()
                        .addScopes(target.environment().getManagementEndpoint() + "/.default")).getToken();
                String payload = token.split("\\.")[1];
                p = new ObjectMapper().readTree(Base64.getUrlDecoder().decode(payload)).path("oid").asText(null);
                if (p == null || p.isEmpty()) {
                    throw new AzureError(AzureError.Kind.UNAUTHENTICATED, 0, "NoObjectId", "The operator's access token carries no oid claim",
                            null, null);
                }
            } catch (AzureError e) {
                throw e;
            } catch (Exception e) {
                throw AzureError.of(e);
            }
            principalId = p;
        }
        return p;
    }

    static String base(String hsmUri) {
        return hsmUri.endsWith("/") ? hsmUri.substring(0, hsmUri.length() - 1) : hsmUri;
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
