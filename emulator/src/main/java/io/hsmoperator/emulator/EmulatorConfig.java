package io.hsmoperator.emulator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * How an emulator runs. {@code stateDir} holds the CA, the server certificate, the connection file and (when
 * {@code persistent}) the state; without a state directory everything lives in memory. Built from one of the two
 * starting points ({@link #standalone}, {@link #inMemory}) and changed one setting at a time with the {@code with…}
 * methods, each of which goes through {@link Builder}.
 */
public record EmulatorConfig(Path stateDir, boolean persistent, String bindAddress, String advertisedHost, int port,
                             Duration provisioningDelay, Duration activationDelay, Duration updateDelay, Duration jobDuration,
                             int retryAfterSeconds, boolean testControls, boolean implicitResourceGroups,
                             List<String> extraHostNames, String tenantId, Duration rbacPropagation,
                             boolean serviceLimits, Duration staleReads, Duration regionAddDelay, Duration replicationDelay) {

    /** Defaults for a standalone emulator: persistent state, visible but short provisioning, test controls off. */
    public static EmulatorConfig standalone(Path stateDir) {
        Builder b = new Builder();
        b.stateDir = stateDir;
        b.persistent = true;
        b.port = 8443;
        b.provisioningDelay = Duration.ofSeconds(3);
        b.activationDelay = Duration.ofSeconds(2);
        b.updateDelay = Duration.ofSeconds(1);
        b.jobDuration = Duration.ofSeconds(2);
        b.rbacPropagation = Duration.ofSeconds(5);
        b.serviceLimits = true;
        b.staleReads = Duration.ofSeconds(2);
        b.regionAddDelay = Duration.ofSeconds(5);
        b.replicationDelay = Duration.ofSeconds(2);
        return b.build();
    }

    /** Defaults for tests: in memory, an ephemeral port, fast long-running operations, test controls on. */
    public static EmulatorConfig inMemory() {
        Builder b = new Builder();
        b.testControls = true;
        return b.build();
    }

    /** Every setting of this configuration, to change some and build another. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    private EmulatorConfig with(java.util.function.Consumer<Builder> change) {
        Builder b = toBuilder();
        change.accept(b);
        return b.build();
    }

    public EmulatorConfig withStateDir(Path dir, boolean persistent) {
        return with(b -> {
            b.stateDir = dir;
            b.persistent = persistent;
        });
    }

    public EmulatorConfig withPort(int port) {
        return with(b -> b.port = port);
    }

    public EmulatorConfig withDelays(Duration provisioning, Duration activation, Duration update, Duration job) {
        return with(b -> {
            b.provisioningDelay = provisioning;
            b.activationDelay = activation;
            b.updateDelay = update;
            b.jobDuration = job;
        });
    }

    public EmulatorConfig withTestControls(boolean on) {
        return with(b -> b.testControls = on);
    }

    public EmulatorConfig withImplicitResourceGroups(boolean on) {
        return with(b -> b.implicitResourceGroups = on);
    }

    public EmulatorConfig withNetwork(String bindAddress, String advertisedHost, List<String> extraHostNames) {
        return with(b -> {
            b.bindAddress = bindAddress;
            b.advertisedHost = advertisedHost;
            b.extraHostNames = extraHostNames;
        });
    }

    public EmulatorConfig withTenantId(String tenantId) {
        return with(b -> b.tenantId = tenantId);
    }

    /**
     * How long a new data-plane role assignment, or a new custom role definition, takes to become effective, and a
     * revoked assignment keeps working: Azure documents minutes. Zero for the conformance tier.
     */
    public EmulatorConfig withRbacPropagation(Duration delay) {
        return with(b -> b.rbacPropagation = delay);
    }

    /**
     * Azure's per-HSM rate limits: one key creation per second, five RBAC operations per second; above them 429 with
     * Retry-After. Off for the conformance tier, whose recorded traffic ran at Azure's pace.
     */
    public EmulatorConfig withServiceLimits(boolean on) {
        return with(b -> b.serviceLimits = on);
    }

    /**
     * How long, after an update of an existing HSM, key or rotation policy, a read may still answer what was there
     * before (Azure's reads lag its writes). Zero for the conformance tier.
     */
    public EmulatorConfig withStaleReads(Duration window) {
        return with(b -> b.staleReads = window);
    }

    /**
     * How long adding an extended region takes (Azure: up to 30 minutes), and how long a data-plane write made through
     * one region's host takes to be seen through the other's (Azure documents up to 6 minutes).
     */
    public EmulatorConfig withRegionDelays(Duration regionAdd, Duration replication) {
        return with(b -> {
            b.regionAddDelay = regionAdd;
            b.replicationDelay = replication;
        });
    }

    /** The settings of an EmulatorConfig, one field each; starts from the in-memory test defaults. */
    public static final class Builder {
        public Path stateDir;
        public boolean persistent;
        public String bindAddress = "127.0.0.1";
        public String advertisedHost = "127.0.0.1";
        public int port;
        public Duration provisioningDelay = Duration.ofMillis(300);
        public Duration activationDelay = Duration.ofMillis(200);
        public Duration updateDelay = Duration.ofMillis(200);
        public Duration jobDuration = Duration.ofMillis(300);
        public int retryAfterSeconds = 1;
        public boolean testControls;
        public boolean implicitResourceGroups = true;
        public List<String> extraHostNames = List.of();
        public String tenantId;
        public Duration rbacPropagation = Duration.ZERO;
        public boolean serviceLimits;
        public Duration staleReads = Duration.ZERO;
        public Duration regionAddDelay = Duration.ofMillis(500);
        public Duration replicationDelay = Duration.ZERO;

        public Builder() {
        }

        Builder(EmulatorConfig c) {
            stateDir = c.stateDir;
            persistent = c.persistent;
            bindAddress = c.bindAddress;
            advertisedHost = c.advertisedHost;
            port = c.port;
            provisioningDelay = c.provisioningDelay;
            activationDelay = c.activationDelay;
            updateDelay = c.updateDelay;
            jobDuration = c.jobDuration;
            retryAfterSeconds = c.retryAfterSeconds;
            testControls = c.testControls;
            implicitResourceGroups = c.implicitResourceGroups;
            extraHostNames = c.extraHostNames;
            tenantId = c.tenantId;
            rbacPropagation = c.rbacPropagation;
            serviceLimits = c.serviceLimits;
            staleReads = c.staleReads;
            regionAddDelay = c.regionAddDelay;
            replicationDelay = c.replicationDelay;
        }

        public EmulatorConfig build() {
            return new EmulatorConfig(stateDir, persistent, bindAddress, advertisedHost, port, provisioningDelay, activationDelay,
                    updateDelay, jobDuration, retryAfterSeconds, testControls, implicitResourceGroups, extraHostNames, tenantId,
                    rbacPropagation, serviceLimits, staleReads, regionAddDelay, replicationDelay);
        }
    }
}
