package io.hsmoperator.azure;

import com.azure.core.credential.TokenCredential;
import com.azure.core.http.HttpClient;
import com.azure.core.management.AzureEnvironment;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds the {@link AzureTarget} from configuration: workload identity by default, a client secret from a Kubernetes
 * Secret only when configured explicitly, the public cloud unless another is named. Fails at start-up, with a message
 * that says what to set, when no credential source is configured.
 */
@ApplicationScoped
public class AzureTargets {
    @Produces
    @Singleton
    AzureTarget target(OperatorConfig config, Instance<LocalAzure> local, KubernetesClient kubernetes) {
        if (config.azure().mode() == OperatorConfig.Mode.EMULATOR) {
            if (!local.isResolvable()) {
                throw new IllegalStateException("hsm.azure.mode=emulator, but this build has no local mode");
            }
            return local.get().start();
        }
        return fromConfig(config.azure(), System.getenv(), kubernetes);
    }

    /**
     * The operator's clock, the one all rotation and expiry arithmetic uses: the system clock against Azure, the
     * emulator's service clock in local mode (so that tests can move time forward for both sides at once).
     */
    @Produces
    @Singleton
    java.time.Clock clock(OperatorConfig config, Instance<LocalAzure> local) {
        return config.azure().mode() == OperatorConfig.Mode.EMULATOR && local.isResolvable() ? local.get().clock() : java.time.Clock.systemUTC();
    }

    static AzureTarget fromConfig(OperatorConfig.Azure c, Map<String, String> env, KubernetesClient kubernetes) {
        AzureEnvironment environment = environment(c, env);
        List<X509Certificate> trust = c.caBundle().map(p -> AzureHttpClients.readPemBundle(Path.of(p))).orElse(List.of());
        HttpClient identityHttp = AzureHttpClients.create(trust, c.timeout());
        String authority = c.authorityHost().or(() -> Optional.ofNullable(env.get("AZURE_AUTHORITY_HOST")))
                .orElse(environment.getActiveDirectoryEndpoint());
        String tenant = c.tenantId().or(() -> Optional.ofNullable(env.get("AZURE_TENANT_ID"))).orElse(null);
        String clientId = c.clientId().or(() -> Optional.ofNullable(env.get("AZURE_CLIENT_ID"))).orElse(null);
        boolean customAuthority = !authority.startsWith("https://login.microsoftonline.com")
                && !authority.startsWith("https://login.chinacloudapi.cn") && !authority.startsWith("https://login.microsoftonline.us");
        TokenCredential credential;
        String how;
        if (c.credential() == OperatorConfig.Credential.CLIENT_SECRET) {
            String ref = c.clientSecretRef().orElseThrow(() -> new IllegalStateException(
                    "hsm.azure.credential=client-secret needs hsm.azure.client-secret-ref=<namespace>/<secret name>"));
            require(tenant, clientId, "client-secret");
            String secret = readSecret(kubernetes, ref, c.clientSecretKey());
            ClientSecretCredentialBuilder b = new ClientSecretCredentialBuilder().authorityHost(authority).tenantId(tenant)
                    .clientId(clientId).clientSecret(secret).httpClient(identityHttp);
            if (customAuthority) {
                b.disableInstanceDiscovery();
            }
            credential = b.build();
            how = "client secret from Secret " + ref;
        } else {
            String tokenFile = env.get("AZURE_FEDERATED_TOKEN_FILE");
            if (tenant == null || clientId == null || tokenFile == null) {
                throw new IllegalStateException("No Azure credential is configured. The operator uses workload identity: run it with a "
                        + "service account annotated azure.workload.identity/client-id and the pod label azure.workload.identity/use=true, "
                        + "so AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE are set (missing: "
                        + (tenant == null ? "AZURE_TENANT_ID " : "") + (clientId == null ? "AZURE_CLIENT_ID " : "")
                        + (tokenFile == null ? "AZURE_FEDERATED_TOKEN_FILE" : "") + "). For local use without Azure set "
                        + "hsm.azure.mode=emulator; to use a client secret set hsm.azure.credential=client-secret explicitly.");
            }
            if (!Files.isReadable(Path.of(tokenFile))) {
                throw new IllegalStateException("AZURE_FEDERATED_TOKEN_FILE " + tokenFile + " is not readable: is the workload identity "
                        + "webhook projecting the service account token into the pod?");
            }
            WorkloadIdentityCredentialBuilder b = new WorkloadIdentityCredentialBuilder().authorityHost(authority).tenantId(tenant)
                    .clientId(clientId).tokenFilePath(tokenFile).httpClient(identityHttp);
            if (customAuthority) {
                b.disableInstanceDiscovery();
            }
            credential = b.build();
            how = "workload identity (client " + clientId + ")";
        }
        boolean verify = c.cloud() != OperatorConfig.Cloud.CUSTOM && !c.disableChallengeResourceVerification();
        return new AzureTarget(environment, trust, credential, tenant, verify, c.cloud() + " with " + how);
    }

    private static void require(String tenant, String clientId, String what) {
        if (tenant == null || clientId == null) {
            throw new IllegalStateException("hsm.azure.credential=" + what + " needs hsm.azure.tenant-id and hsm.azure.client-id "
                    + "(or AZURE_TENANT_ID and AZURE_CLIENT_ID)");
        }
    }

    static AzureEnvironment environment(OperatorConfig.Azure c, Map<String, String> env) {
        switch (c.cloud()) {
            case AZURE_CHINA: return AzureEnvironment.AZURE_CHINA;
            case AZURE_US_GOVERNMENT: return AzureEnvironment.AZURE_US_GOVERNMENT;
            case CUSTOM: {
                Map<String, String> endpoints = new HashMap<>(AzureEnvironment.AZURE.getEndpoints());
                endpoints.put("resourceManagerEndpointUrl", slash(c.armEndpoint().orElseThrow(() -> new IllegalStateException(
                        "hsm.azure.cloud=custom needs hsm.azure.arm-endpoint"))));
                c.authorityHost().or(() -> Optional.ofNullable(env.get("AZURE_AUTHORITY_HOST")))
                        .ifPresent(a -> endpoints.put("activeDirectoryEndpointUrl", slash(a)));
                c.managementAudience().ifPresent(a -> endpoints.put("managementEndpointUrl", slash(a)));
                return new AzureEnvironment(endpoints);
            }
            default: return AzureEnvironment.AZURE;
        }
    }

    private static String slash(String url) {
        return url.endsWith("/") ? url : url + "/";
    }

    private static String readSecret(KubernetesClient kubernetes, String ref, String key) {
        String[] parts = ref.split("/", 2);
        if (parts.length != 2) {
            throw new IllegalStateException("hsm.azure.client-secret-ref must be <namespace>/<name>, not " + ref);
        }
        Secret s = kubernetes.secrets().inNamespace(parts[0]).withName(parts[1]).get();
        if (s == null || s.getData() == null || !s.getData().containsKey(key)) {
            throw new IllegalStateException("Secret " + ref + " with key " + key + " (the Azure client secret) was not found");
        }
        return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8).trim();
    }

    static Duration timeout(OperatorConfig config) {
        return config.azure().timeout();
    }
}
