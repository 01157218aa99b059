package io.hsmoperator.azure;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** The operator's typed configuration ({@code hsm.*} in application.properties, or HSM_* environment variables). */
@ConfigMapping(prefix = "hsm")
public interface OperatorConfig {
    /**
     * Names this cluster in the ownership tag of every Azure object the operator creates
     * ({cluster}/{namespace}/{name}/{uid}). Unset: the UID of this cluster's kube-system namespace, unique per cluster.
     */
    Optional<String> clusterId();

    Azure azure();

    Reconcile reconcile();

    RoleAssignments roleAssignments();

    Tenancy tenancy();

    Publish publish();

    Warnings warnings();

    @io.smallrye.config.WithName("security-domain")
    SecurityDomainCustody securityDomain();

    /** Custody of a downloaded security domain between Azure's answer and its Secret. */
    interface SecurityDomainCustody {
        /**
         * Where a downloaded security domain is written, as Azure sent it (encrypted to the officers' certificates), before
         * anything else is done with it, and kept until its Secret holds it: a process that stops in between (a lost lease
         * halts it) finds it here when it starts again. The chart mounts an emptyDir here, which outlives a restart of
         * the container (not the deletion of the pod).
         */
        @WithDefault("${java.io.tmpdir}/hsm-operator/security-domain-spool")
        String spoolDir();
    }

    /** What an HsmKey may do to the workloads of its namespace besides publishing a ConfigMap. */
    interface Publish {
        /**
         * Whether spec.publish.restartWorkloads is honoured: a rollout of the matching Deployments and StatefulSets on a
         * new version. Off unless the installation turns it on (the chart's workloadRestarts.enabled), because whoever may
         * create an HsmKey could then roll the workloads of the namespace.
         */
        @WithDefault("false")
        boolean restartWorkloads();

        /**
         * The namespaces where workloads may be restarted (the chart grants patch only there), each a name or a pattern
         * with {@code *}; empty means any.
         */
        Optional<List<String>> restartNamespaces();
    }

    LeaderElection leaderElection();

    Watch watch();

    /** How the operator notices it can no longer see the resources it serves. */
    interface Watch {
        /**
         * A watch that synced once and has been unable to watch for this long (its kind's CRD deleted, the operator's
         * RBAC to list or watch it removed) counts as stopped for good: the operator exits, saying which kind and why,
         * so that Kubernetes restarts it and the failure shows as restarts instead of a process that runs and sees nothing.
         */
        @WithDefault("PT5M")
        Duration deafAfter();
    }

    /**
     * Leader election on a Lease: of all replicas only the holder reconciles, so two never mutate Azure at once. A
     * replica that stops renewing (killed, partitioned) loses the lease after leaseDuration and another takes over.
     */
    interface LeaderElection {
        /** Off only for a single instance that no other can ever join (the quick start's in-process mock API). */
        @WithDefault("true")
        boolean enabled();

        @WithDefault("hsm-operator-leader")
        String leaseName();

        /** Namespace of the Lease; defaults to the operator's namespace (see tenancy.operator-namespace). */
        Optional<String> namespace();

        /** This replica's name in the Lease and in its Events; defaults to the pod name plus a random suffix. */
        Optional<String> identity();

        /** How long a lease the holder stops renewing stays valid: the longest a handover takes. */
        @WithDefault("PT15S")
        Duration leaseDuration();

        /** The holder steps down when it could not renew for this long (less than leaseDuration). */
        @WithDefault("PT10S")
        Duration renewDeadline();

        /** How often replicas try to acquire or renew. */
        @WithDefault("PT2S")
        Duration retryPeriod();
    }

    interface Azure {
        /** azure (default): real Azure. emulator: the embedded emulator, which only local mode's application has (LocalAzure). */
        @WithDefault("azure")
        Mode mode();

        /** Which Azure cloud: azure-public (default), azure-china, azure-us-government, or custom with the endpoints below. */
        @WithDefault("azure-public")
        Cloud cloud();

        /** ARM endpoint for cloud custom, for example https://management.contoso.example/. */
        Optional<String> armEndpoint();

        /** Entra ID authority host for cloud custom (overrides AZURE_AUTHORITY_HOST). */
        Optional<String> authorityHost();

        /** Token audience of ARM for cloud custom; defaults to https://management.core.windows.net/. */
        Optional<String> managementAudience();

        /** PEM bundle of extra CAs to trust, for private endpoints of ARM or the HSM. */
        Optional<String> caBundle();

        /** workload-identity (default) or client-secret (only when set explicitly). */
        @WithDefault("workload-identity")
        Credential credential();

        /** Tenant of the operator's identity; defaults to AZURE_TENANT_ID. */
        Optional<String> tenantId();

        /** Client ID of the operator's identity; defaults to AZURE_CLIENT_ID. */
        Optional<String> clientId();

        /** For credential client-secret: the Secret holding the client secret, as namespace/name. */
        Optional<String> clientSecretRef();

        /** Key of the client secret in that Secret. */
        @WithDefault("clientSecret")
        String clientSecretKey();

        /**
         * Least time between two key creations (new keys and versions) sent to one HSM. Managed HSM allows one a second;
         * change it only for an HSM whose limit differs (the benchmark runs the emulator without limits). The default
         * leaves 100 ms for requests that arrive closer together than they left.
         */
        @WithDefault("PT1.1S")
        Duration keyCreationInterval();

        /** Timeout of every Azure call. */
        @WithDefault("PT30S")
        Duration timeout();

        /**
         * Timeout of every Azure write (PUT, POST, PATCH, DELETE), from the moment it leaves to Azure's answer; a write not
         * answered by then is abandoned. With leader election a write leaves only while the leader lease stays valid for
         * longer than this, so it must be well below the lease duration (less the retry period).
         */
        @WithDefault("PT8S")
        Duration writeTimeout();

        /** Skip the check that the data-plane host matches the challenge's resource (needed for non-Azure hosts). */
        @WithDefault("false")
        boolean disableChallengeResourceVerification();
    }

    enum Mode {
        AZURE, EMULATOR
    }

    enum Cloud {
        AZURE_PUBLIC, AZURE_CHINA, AZURE_US_GOVERNMENT, CUSTOM
    }

    enum Credential {
        WORKLOAD_IDENTITY, CLIENT_SECRET
    }

    interface Reconcile {
        /** How often a converged resource is read again from Azure (drift detection). */
        @WithDefault("PT1H")
        Duration resync();

        /**
         * How often each HSM's keys are listed to find drift (attributes and tags of each key's current version, a new
         * version, a deletion); only the HsmKeys whose key changed are then reconciled.
         */
        @WithDefault("PT10M")
        Duration driftInterval();

        /**
         * How often a Ready HsmKey is read in full anyway: what a listing cannot show (operations, older versions, the
         * Azure rotation policy). Rotations and grace periods wake a key when they fall due, whatever this says.
         */
        @WithDefault("PT24H")
        Duration keyFullRead();

        /** How soon to look again while Azure works on something (provisioning, activation). */
        @WithDefault("PT10S")
        Duration poll();

        /** Longest wait between attempts after failures. */
        @WithDefault("PT10M")
        Duration maxBackoff();
    }

    /**
     * When the operator warns (an event and a condition) before Azure refuses something. The chart sets both from the
     * PrometheusRule's thresholds, so that an alert and its event speak of the same number.
     */
    interface Warnings {
        /**
         * ExpiryBeforeRotation: the current version of a key expires within this long and no rotation would replace it
         * first. The chart's metrics.prometheusRule.keyExpiringWithinSeconds (HsmKeyExpiringSoon); default 14 days.
         */
        @WithDefault("PT336H")
        Duration keyExpiringWithin();

        /**
         * HsmKeyCountNearLimit: the fraction of Managed HSM's keys-per-HSM limit ({@link HsmKeys#KEYS_PER_HSM}) at which an
         * HSM's key count is reported. The chart's metrics.prometheusRule.hsmKeysNearLimitRatio; default 0.9.
         */
        @WithDefault("0.9")
        double hsmKeysNearLimitRatio();
    }

    interface RoleAssignments {
        /**
         * Roles that administer the HSM, and the scope /, refused for HsmRoleAssignment unless listed here (names or IDs);
         * an administrative HsmRoleDefinition is refused unless its definition name is listed. Default: none.
         */
        Optional<List<String>> allowedPrivilegedRoles();

        @WithDefault("false")
        boolean allowRootScope();

        /**
         * How long Azure takes to make a new role assignment effective. The operator cannot act as the principal it
         * granted, so it cannot observe the grant working: an HsmRoleAssignment is Ready this long after the grant.
         */
        @WithDefault("PT5M")
        Duration propagation();
    }

    /** Who may declare what on a cluster shared by many teams (see the README's security model). */
    interface Tenancy {
        /**
         * Which namespaces may declare a ManagedHsm, and for which Azure subscriptions and resource groups: entries
         * {@code namespace=subscription/resourceGroup}, each part a name or a pattern with {@code *} (Azure names match
         * case-insensitively). {@code {operator-namespace}} stands for the namespace the operator runs in. A ManagedHsm
         * that matches no entry is NotPermitted and nothing is sent to Azure. Default: the operator's own namespace only.
         */
        @WithDefault("{operator-namespace}=*/*")
        List<String> managedHsmNamespaces();

        /**
         * Which subnets each namespace's PrivateEndpoints may be placed in: entries {@code namespace=subnet resource ID},
         * each a name or a pattern with {@code *}. A PrivateEndpoint whose subnet matches no entry for its namespace is
         * NotPermitted and nothing is sent to Azure. Default: the operator's own namespace, any subnet.
         */
        @WithDefault("{operator-namespace}=*")
        List<String> privateEndpointSubnets();

        /**
         * Which private DNS zones each namespace's PrivateEndpoints may register the HSM's record in: entries
         * {@code namespace=private DNS zone resource ID}, as patterns. Default: the operator's own namespace, any zone.
         */
        @WithDefault("{operator-namespace}=*")
        List<String> privateDnsZones();

        /** The namespace the operator runs in; defaults to POD_NAMESPACE, else the namespace of its Kubernetes client. */
        Optional<String> operatorNamespace();
    }
}
