package io.hsmoperator.reconciler;

import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.HsmRegionRules;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.RegionalHosts;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;

/**
 * A ManagedHsm's extended regions (spec.regions): what Azure would refuse of them, bringing Azure's regions to the spec one
 * add or remove at a time, holding what Azure refuses while a region is being added, and the regions in status.
 */
final class HsmReplication {
    /** A refusal of the spec: the condition's reason and what to change. */
    record Refusal(Reason reason, String message) {
    }

    private final ManagedHsmArm arm;
    private final RegionalHosts hosts;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;

    HsmReplication(ManagedHsmArm arm, RegionalHosts hosts, OperatorConfig config, Events events, Clock clock) {
        this.arm = arm;
        this.hosts = hosts;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /**
     * The extended regions the spec asks for, normalised; null when it leaves them to Azure (unset): a replica someone added
     * by hand is never removed because a field was left out, since removing one purges that region's pool.
     */
    static List<String> wanted(ManagedHsmSpec s) {
        if (s.regions == null) {
            return null;
        }
        return s.regions.stream().map(HsmRegionRules::normalise).distinct().toList();
    }

    /** What Azure would refuse of spec.regions on this HSM, checked before anything is sent; null when nothing. */
    static Refusal refusal(ManagedHsmSpec s, ManagedHsmArm.Hsm hsm) {
        if (s.regions == null) {
            return null;
        }
        List<String> wanted = wanted(s);
        if (wanted.stream().anyMatch(r -> HsmRegionRules.same(r, s.location))) {
            return new Refusal(Reason.InvalidSpec, "spec.regions lists " + s.location + ", the HSM's primary region (location); list only "
                    + "the extended regions to replicate it to. Nothing was changed.");
        }
        if (wanted.size() > HsmRegionRules.MAX_EXTENDED) {
            return new Refusal(Reason.InvalidSpec, "spec.regions lists " + wanted + ", but Azure extends a managed HSM to "
                    + HsmRegionRules.MAX_EXTENDED + " additional region only. Nothing was changed.");
        }
        List<String> have = hsm.extendedRegions().stream().map(r -> HsmRegionRules.normalise(r.name())).toList();
        List<String> refused = wanted.stream().filter(r -> !have.contains(r) && !HsmRegionRules.extendable(r)).toList();
        if (!refused.isEmpty()) {
            return new Refusal(Reason.RegionNotSupported, "Azure cannot extend a managed HSM to " + refused + " at this time (regions it "
                    + "excludes: " + HsmRegionRules.NOT_EXTENDABLE.stream().sorted().toList() + "); choose another region. Nothing was "
                    + "changed.");
        }
        return null;
    }

    /**
     * Whether an update of {@code drift} must wait: Azure refuses a change of the network rules while a region is being
     * added (up to 30 minutes), so it is held, with a condition that says so, and sent once the region is there.
     */
    Duration holdsUpdate(ManagedHsm cr, ManagedHsmStatus st, String drift, ManagedHsmArm.Hsm hsm) {
        boolean network = drift.contains("networkAcls") || drift.contains("publicNetworkAccess");
        if (!network || !hsm.addingRegion()) {
            return null;
        }
        progressing(st, Reason.WaitingForRegion, "The change to " + drift + " waits until Azure has added region " + adding(hsm) + ": Azure "
                + "refuses network-rule changes while a region is being added (up to 30 minutes). Nothing was sent yet.", gen(cr), clock);
        return config.reconcile().poll();
    }

    /** What is under way with the regions: said in the Ready condition's message; the reconcile comes back after {@code next}. */
    record Progress(String note, Duration next) {
    }

    /**
     * Brings Azure's extended regions to {@code wanted}: one PATCH of the regions when they differ and no add or remove is
     * under way. The HSM stays usable meanwhile (a region is added beside a working primary), so this does not hold Ready;
     * it returns what is under way, or null when Azure's regions are the spec's.
     */
    Progress converge(ManagedHsm cr, ManagedHsmStatus st, ManagedHsmArm.Hsm hsm, List<String> wanted) {
        ManagedHsmSpec spec = cr.getSpec();
        List<ManagedHsmArm.Region> extended = hsm.extendedRegions();
        List<String> have = extended.stream().filter(r -> !removing(r)).map(r -> HsmRegionRules.normalise(r.name())).toList();
        boolean differs = wanted != null && !(have.containsAll(wanted) && wanted.containsAll(have));
        List<ManagedHsmArm.Region> moving = extended.stream().filter(r -> !r.succeeded() && !"Failed".equalsIgnoreCase(r.provisioningState()))
                .toList();
        if (!differs) {
            st.regionsUpdate = null;
        }
        if (differs && moving.isEmpty()) {
            // A read that predates the last change of regions is no reason to send it again.
            DriftGuard.Verdict verdict = DriftGuard.verdict(st.regionsUpdate, "regions", hsm.lastModified(), gen(cr), Instant.now(clock));
            if (verdict == DriftGuard.Verdict.WAIT_FOR_READ) {
                return new Progress("Azure is applying the change of regions; its reads do not show it yet.", config.reconcile().poll());
            }
            if (verdict == DriftGuard.Verdict.NOT_CONVERGING) {
                return new Progress("Azure took " + DriftGuard.MAX_ATTEMPTS + " changes of the regions and still reports " + have
                        + "; the operator stopped sending them. Change the spec to try again.", config.reconcile().resync());
            }
            st.regionsUpdate = DriftGuard.sent(st.regionsUpdate, "regions", hsm.lastModified(), gen(cr), Instant.now(clock));
            List<String> added = wanted.stream().filter(r -> !have.contains(r)).toList();
            List<String> removed = have.stream().filter(r -> !wanted.contains(r)).toList();
            Mutation m = arm.startSetRegions(spec.subscriptionId, spec.resourceGroup, spec.azureName, hsm.location(), wanted);
            String what = (added.isEmpty() ? "" : "adding region " + String.join(", ", added)) + (added.isEmpty() || removed.isEmpty() ? "" : "; ")
                    + (removed.isEmpty() ? "" : "removing region " + String.join(", ", removed) + " (Azure purges the replica there; the "
                    + "primary keeps every key)");
            events.mutation(cr, added.isEmpty() ? "RegionRemoveStarted" : "RegionAddStarted", "Managed HSM " + hsm.id() + ": " + what, m);
            return new Progress("Azure is " + what + (added.isEmpty() ? "." : "; adding a region takes up to 30 minutes."),
                    config.reconcile().poll());
        }
        if (!moving.isEmpty()) {
            ManagedHsmArm.Region r = moving.get(0);
            return new Progress("Azure is " + (removing(r) ? "removing" : "adding") + " region " + r.name() + " (" + r.provisioningState()
                    + ")" + (removing(r) ? "." : "; adding a region takes up to 30 minutes."), config.reconcile().poll());
        }
        for (ManagedHsmArm.Region r : extended) {
            if ("Failed".equalsIgnoreCase(r.provisioningState())) {
                // Not retried in a loop: Azure keeps a failed region listed until it is removed.
                return new Progress("Azure reports region " + r.name() + " as Failed: remove it from spec.regions (and add it again "
                        + "later).", config.reconcile().resync());
            }
        }
        return null;
    }

    private static boolean removing(ManagedHsmArm.Region r) {
        return "Deleting".equalsIgnoreCase(r.provisioningState()) || "Cleanup".equalsIgnoreCase(r.provisioningState());
    }

    /** The regions of the HSM in status: Azure's list, each with its own data-plane host. */
    void report(ManagedHsmStatus st, ManagedHsmArm.Hsm hsm) {
        List<ManagedHsmStatus.Region> out = new ArrayList<>();
        for (ManagedHsmArm.Region r : hsm.regions()) {
            ManagedHsmStatus.Region s = new ManagedHsmStatus.Region();
            s.name = r.name();
            s.primary = r.primary();
            s.provisioningState = r.provisioningState();
            s.hsmUri = r.primary() ? hsm.hsmUri() : hsm.hsmUri() == null ? null : hosts.uri(hsm.name(), hsm.hsmUri(), r.name()).orElse(null);
            out.add(s);
        }
        st.regions = out;
        st.regionSummary = out.size() < 2 ? null : out.stream().map(r -> r.name + (Boolean.TRUE.equals(r.primary) ? " (primary)"
                : " (" + r.provisioningState + ")")).collect(Collectors.joining(", "));
    }

    private static String adding(ManagedHsmArm.Hsm hsm) {
        return hsm.extendedRegions().stream().filter(r -> HsmRegionRules.adding(r.provisioningState())).map(ManagedHsmArm.Region::name)
                .collect(Collectors.joining(", "));
    }
}
