package io.hsmoperator.emulator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * How an emulator runs. {@code stateDir} holds the CA, the server certificate, the connection file and (when
 * {@code persistent}) the state; without a state directory everything lives in memory.
 */
public record EmulatorConfig(Path stateDir, boolean persistent, String bindAddress, String advertisedHost, int port,
                             Duration provisioningDelay, Duration activationDelay, Duration updateDelay, Duration jobDuration,
                             int retryAfterSeconds, boolean testControls, boolean implicitResourceGroups,
                             List<String> extraHostNames, String tenantId, Duration rbacPropagation,
                             boolean serviceLimits, Duration staleReads) {

    /** Defaults for a standalone emulator: persistent state, visible but short provisioning, test controls off. */
    public static EmulatorConfig standalone(Path stateDir) {
        return new EmulatorConfig(stateDir, true, "127.0.0.1", "127.0.0.1", 8443, Duration.ofSeconds(3), Duration.ofSeconds(2),
                Duration.ofSeconds(1), Duration.ofSeconds(2), 1, false, true, List.of(), null, Duration.ofSeconds(5), true, Duration.ofSeconds(2));
    }

    /** Defaults for tests: in memory, an ephemeral port, fast long-running operations, test controls on. */
    public static EmulatorConfig inMemory() {
        return new EmulatorConfig(null, false, "127.0.0.1", "127.0.0.1", 0, Duration.ofMillis(300), Duration.ofMillis(200),
                Duration.ofMillis(200), Duration.ofMillis(300), 1, true, true, List.of(), null, Duration.ZERO, false, Duration.ZERO);
    }

    public EmulatorConfig withStateDir(Path dir, boolean persistent) {
        return new EmulatorConfig(dir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withPort(int port) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withDelays(Duration provisioning, Duration activation, Duration update, Duration job) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioning, activation, update, job,
                retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withTestControls(boolean on) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, on, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withImplicitResourceGroups(boolean on) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, on, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withNetwork(String bindAddress, String advertisedHost, List<String> extraHostNames) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    public EmulatorConfig withTenantId(String tenantId) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits, staleReads);
    }

    /**
     * How long a new data-plane role assignment, or a new custom role definition, takes to become effective, and a
     * revoked assignment keeps working: Azure documents minutes. Zero for the conformance tier.
     */
    public EmulatorConfig withRbacPropagation(Duration delay) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, delay, serviceLimits, staleReads);
    }

    /**
     * Azure's per-HSM rate limits: one key creation per second, five RBAC operations per second; above them 429 with
     * Retry-After. Off for the conformance tier, whose recorded traffic ran at Azure's pace.
     */
    public EmulatorConfig withServiceLimits(boolean on) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, on, staleReads);
    }

    /**
     * How long, after an update of an existing HSM, key or rotation policy, a read may still answer what was there
     * before (Azure's reads lag its writes). Zero for the conformance tier.
     */
    public EmulatorConfig withStaleReads(Duration window) {
        return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay, updateDelay,
                jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId, rbacPropagation, serviceLimits,
                window);
    }
}
