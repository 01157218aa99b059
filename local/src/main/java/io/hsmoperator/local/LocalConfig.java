package io.hsmoperator.local;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Local mode's settings ({@code hsm.local.*}): the embedded emulator and the quick start. They exist only in local mode's
 * application; the operator's image has none of them.
 */
@ConfigMapping(prefix = "hsm.local")
public interface LocalConfig {
    /** Emulator state directory in emulator mode; unset: in memory. */
    Optional<String> stateDir();

    /** Port of the embedded emulator (0: any free port). */
    @WithDefault("0")
    int port();

    /**
     * Provisioning time of an emulated HSM. The emulator's other long-running work is in proportion: activation
     * (the security domain download) and backup jobs take a third of it, an HSM update a sixth.
     */
    @WithDefault("PT3S")
    Duration provisioningDelay();

    /**
     * An ARM role definition file (az role definition format, e.g. config/azure/hsm-operator-arm-role.json) the
     * operator's principal holds in the embedded emulator instead of Owner, so that a call outside it is refused.
     */
    Optional<String> armRole();

    /**
     * How long adding an extended region (ManagedHsm spec.regions) takes in the embedded emulator; Azure takes up to 30
     * minutes. Short by default so that the quick start's replica region is ready in seconds.
     */
    @WithDefault("PT3S")
    Duration regionAddDelay();

    /**
     * How long a data-plane write made through one region's host of a multi-region HSM takes to be seen through the
     * other's in the embedded emulator (Azure documents up to 6 minutes).
     */
    @WithDefault("PT2S")
    Duration replicationDelay();

    /** How long a new role assignment in the embedded emulator takes to become effective (and a revoked one to stop). */
    @WithDefault("PT2S")
    Duration rbacPropagation();

    /** How long after an update the embedded emulator's reads may still answer the old value (Azure's reads lag). */
    @WithDefault("PT2S")
    Duration staleReads();

    /** Enforce Azure's per-HSM rate limits in the embedded emulator (1 key creation, 5 RBAC operations per second). */
    @WithDefault("true")
    boolean serviceLimits();

    /**
     * Start a real Blob service beside the emulator: Azurite, the Azure Storage emulator (Node.js, installed once per machine
     * with npm), on loopback with a certificate of the emulator's CA. The emulated HSMs write their backups into it and the
     * operator lists and prunes them there, as with Azure Storage. Off: backups stay inside the emulator.
     */
    @WithDefault("true")
    boolean blobStorage();

    /**
     * The storage accounts of that Blob service, path-style: https://127.0.0.1:PORT/{account}/{container}. The quick start's
     * sample HsmBackup writes to paymentsbackups.
     */
    @WithDefault("paymentsbackups")
    List<String> storageAccounts();

    /** Turn the emulator's test controls on (faults, clock, journal). */
    @WithDefault("false")
    boolean testControls();

    /**
     * Which Kubernetes API local mode uses: auto (default: the kubeconfig's cluster when it answers, otherwise a real
     * API server started here when its binaries are available, otherwise an in-process mock), kubeconfig, api-server,
     * or in-process. Read before Quarkus starts, see io.hsmoperator.local.LocalCluster.
     */
    @WithDefault("auto")
    String cluster();

    /** Directory of manifests the quick start applies to the in-process Kubernetes API. */
    @WithDefault("config/samples")
    String samples();

    /** Stop the quick start once every sample is Ready (exit 0) or the timeout passed (exit 1). */
    @WithDefault("false")
    boolean exitWhenReady();

    /** How long the quick start waits for the samples to become Ready. */
    @WithDefault("PT3M")
    Duration timeout();
}
