package io.hsmoperator.local;

import com.azure.core.management.AzureEnvironment;
import com.azure.identity.ClientSecretCredentialBuilder;
import io.hsmoperator.azure.AzureHttpClients;
import io.hsmoperator.azure.AzureTarget;
import io.hsmoperator.azure.LocalAzure;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.emulator.Azurite;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Local mode ({@code hsm.azure.mode=emulator}): starts the emulator in-process and points every Azure client at it,
 * authenticated as the emulator's built-in principal. The one place operator code meets the emulator.
 */
@Singleton
public class LocalEmulator implements LocalAzure {
    private static final Logger LOG = Logger.getLogger(LocalEmulator.class);
    private final OperatorConfig config;
    private final LocalConfig local;
    private volatile Emulator emulator;
    private volatile Azurite azurite;

    public LocalEmulator(OperatorConfig config, LocalConfig local) {
        this.config = config;
        this.local = local;
    }

    @Override
    public synchronized AzureTarget start() {
        if (emulator == null) {
            EmulatorConfig base = EmulatorConfig.inMemory();
            EmulatorConfig ec = local.stateDir().map(d -> base.withStateDir(Path.of(d), true)).orElse(base)
                    .withPort(local.port()).withTestControls(local.testControls())
                    .withDelays(local.provisioningDelay(), local.provisioningDelay().dividedBy(3), local.provisioningDelay().dividedBy(6),
                            local.provisioningDelay().dividedBy(3))
                    .withRbacPropagation(local.rbacPropagation()).withServiceLimits(local.serviceLimits())
                    .withStaleReads(local.staleReads()).withRegionDelays(local.regionAddDelay(), local.replicationDelay());
            emulator = Emulator.start(ec);
            local.armRole().ifPresent(file -> {
                String role = emulator.defineArmRole(Path.of(file));
                String operator = emulator.builtInPrincipal().objectId();
                emulator.revokeArmRoles(operator);
                emulator.assignArmRole(operator, role, "/");
                LOG.infof("Local mode: the operator holds exactly the ARM role '%s' (%s)", role, file);
            });
            LOG.infof("Local mode: the Azure emulator listens on %s (tenant %s, state %s)", emulator.baseUrl(), emulator.tenantId(),
                    local.stateDir().orElse("in memory"));
            if (local.blobStorage()) {
                startBlobStorage();
            }
        }
        Emulator.Principal p = emulator.builtInPrincipal();
        Map<String, String> endpoints = new HashMap<>(AzureEnvironment.AZURE.getEndpoints());
        endpoints.put("resourceManagerEndpointUrl", emulator.armEndpoint());
        endpoints.put("activeDirectoryEndpointUrl", emulator.authorityHost());
        AzureEnvironment env = new AzureEnvironment(endpoints);
        var http = AzureHttpClients.create(List.of(emulator.caCertificate()), config.azure().timeout());
        var credential = new ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost()).tenantId(emulator.tenantId())
                .clientId(p.clientId()).clientSecret(p.clientSecret()).disableInstanceDiscovery().httpClient(http).build();
        return new AzureTarget(env, List.of(emulator.caCertificate()), credential, emulator.tenantId(), false,
                "the embedded emulator at " + emulator.baseUrl(), (hsmName, hsmUri, region) -> emulator.regionUri(hsmName, region));
    }

    @Override
    public Clock clock() {
        Emulator e = emulator();
        return new Clock() {
            @Override
            public ZoneId getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return e.controls().now();
            }
        };
    }

    /**
     * Azurite for the emulated HSMs' backups, its blobs kept in the state directory when there is one. Without Node.js
     * local mode goes on without it, and says what is missing.
     */
    private void startBlobStorage() {
        try {
            azurite = Azurite.start(emulator, local.storageAccounts(), local.stateDir().map(d -> Path.of(d, "azurite")).orElse(null));
            LOG.infof("Local mode: Azurite serves blob storage at %s (storage accounts %s)", azurite.endpoint(), local.storageAccounts());
        } catch (RuntimeException e) {
            LOG.warnf("Local mode runs without a Blob service: %s. HsmBackups' backups stay inside the emulator "
                    + "(hsm.local.blob-storage=false silences this).", e.getMessage());
        }
    }

    /** The Blob service local mode started (Azurite), if it did. */
    public Optional<Azurite> azurite() {
        emulator();
        return Optional.ofNullable(azurite);
    }

    /** The running emulator, for the local quick start and for tests. */
    public Emulator emulator() {
        start();
        return emulator;
    }

    @PreDestroy
    synchronized void stop() {
        if (azurite != null) {
            azurite.close();
            azurite = null;
        }
        if (emulator != null) {
            emulator.close();
            emulator = null;
        }
    }
}
