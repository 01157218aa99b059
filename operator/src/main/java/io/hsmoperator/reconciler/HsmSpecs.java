package io.hsmoperator.reconciler;

import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.azure.ManagedHsmArm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A ManagedHsm's spec in the terms of the {@link ManagedHsmArm} port: the HSM it asks for, what of an existing HSM it may
 * never change, and what differs between it and the HSM Azure holds. Pure functions of the spec and of what was
 * observed, so that the reconciler only sequences them.
 */
final class HsmSpecs {
    private HsmSpecs() {
    }

    /** What the spec asks that the CRD cannot refuse (or an API server without CEL would let through); null when nothing. */
    static String validate(ManagedHsmSpec s) {
        // Required fields and the CRD's other rules were checked by SpecRules before this.
        if (s.tags != null && s.tags.containsKey(Ownership.TAG)) {
            return "The tag " + Ownership.TAG + " is reserved for the operator's ownership record; remove it from spec.tags.";
        }
        return null;
    }

    static boolean observeOnly(ManagedHsmSpec s) {
        return s.management == ManagedHsmSpec.Management.ObserveOnly;
    }

    static Map<String, String> tags(ManagedHsmSpec s) {
        return s.tags == null ? Map.of() : s.tags;
    }

    /** The HSM to create: the spec's, with the defaults for what it leaves unset. */
    static ManagedHsmArm.Desired toCreate(ManagedHsm cr, String tenant, List<String> admins, String owner) {
        return desired(cr, tenant, admins, Ownership.tags(Map.of(), tags(cr.getSpec()), owner, null), null, false);
    }

    /**
     * The existing HSM as the spec wants it. Its tenant and initial administrators are Azure's (they cannot change);
     * {@code managedTags} are the tags this resource set before, so that those the spec dropped are removed.
     */
    static ManagedHsmArm.Desired toUpdate(ManagedHsm cr, ManagedHsmArm.Hsm hsm, String owner, List<String> managedTags, boolean adopted) {
        return desired(cr, hsm.tenantId(), hsm.initialAdminObjectIds(), Ownership.tags(hsm.tags(), tags(cr.getSpec()), owner, managedTags),
                hsm, adopted);
    }

    /**
     * The HSM as the spec wants it. A field the spec leaves unset has its default on an HSM this resource created; on an
     * adopted HSM ({@code adopted}) it is null, so it is neither compared nor sent and Azure's value stays.
     */
    private static ManagedHsmArm.Desired desired(ManagedHsm cr, String tenant, List<String> admins, Map<String, String> tags,
                                                 ManagedHsmArm.Hsm observed, boolean adopted) {
        ManagedHsmSpec s = cr.getSpec();
        return new ManagedHsmArm.Desired(s.location, s.sku == null ? "Standard_B1" : s.sku.name(), tenant, tags, admins,
                s.softDeleteRetentionDays == null ? 90 : s.softDeleteRetentionDays,
                s.purgeProtection != null ? s.purgeProtection : adopted ? null : Boolean.TRUE,
                s.publicNetworkAccess != null ? s.publicNetworkAccess.name() : adopted ? null : "Enabled",
                networkRules(s.networkAcls, observed == null ? null : observed.networkAcls(), adopted),
                s.userAssignedIdentities != null ? List.copyOf(s.userAssignedIdentities) : adopted ? null : List.of());
    }

    /** Spec fields over Azure's (adopted) or over the defaults; null when an adopted HSM's spec states no rule at all. */
    private static ManagedHsmArm.NetworkRules networkRules(ManagedHsmSpec.NetworkAcls acl, ManagedHsmArm.NetworkRules azure, boolean adopted) {
        if (adopted && acl == null) {
            return null;
        }
        ManagedHsmSpec.NetworkAcls a = acl == null ? new ManagedHsmSpec.NetworkAcls() : acl;
        ManagedHsmArm.NetworkRules base = adopted && azure != null ? azure
                : new ManagedHsmArm.NetworkRules("AzureServices", "Allow", List.of(), List.of());
        return new ManagedHsmArm.NetworkRules(a.bypass != null ? a.bypass.name() : base.bypass(),
                a.defaultAction != null ? a.defaultAction.name() : base.defaultAction(),
                a.ipRules != null ? List.copyOf(a.ipRules) : base.ipRules(),
                a.virtualNetworkRules != null ? List.copyOf(a.virtualNetworkRules) : base.virtualNetworkRules());
    }

    /** What the spec asks differently of fields Azure cannot change on an existing HSM, one entry each. */
    static List<String> immutableConflicts(ManagedHsmSpec s, ManagedHsmArm.Hsm hsm) {
        List<String> out = new ArrayList<>();
        if (!hsm.location().replace(" ", "").equalsIgnoreCase(s.location.replace(" ", ""))) {
            out.add("location is " + hsm.location() + " in Azure, " + s.location + " in spec");
        }
        String sku = s.sku == null ? "Standard_B1" : s.sku.name();
        if (hsm.sku() != null && !hsm.sku().equalsIgnoreCase(sku)) {
            out.add("sku is " + hsm.sku() + " in Azure, " + sku + " in spec");
        }
        if (s.tenantId != null && hsm.tenantId() != null && !hsm.tenantId().equalsIgnoreCase(s.tenantId)) {
            out.add("tenantId is " + hsm.tenantId() + " in Azure, " + s.tenantId + " in spec");
        }
        int retention = s.softDeleteRetentionDays == null ? 90 : s.softDeleteRetentionDays;
        if (hsm.softDeleteRetentionDays() != retention) {
            out.add("softDeleteRetentionDays is " + hsm.softDeleteRetentionDays() + " in Azure, " + retention + " in spec");
        }
        if (hsm.purgeProtection() && Boolean.FALSE.equals(s.purgeProtection)) {
            out.add("purgeProtection is on in Azure and cannot be turned off");
        }
        return out;
    }

    /** What differs between the desired mutable properties and Azure, or null. The spec's tags are authoritative. */
    static String drift(ManagedHsmArm.Desired d, ManagedHsmArm.Hsm hsm) {
        List<String> what = new ArrayList<>();
        if (!d.tags().equals(hsm.tags())) {
            what.add("tags");
        }
        if (d.publicNetworkAccess() != null && !d.publicNetworkAccess().equalsIgnoreCase(hsm.publicNetworkAccess())) {
            what.add("publicNetworkAccess");
        }
        ManagedHsmArm.NetworkRules n = d.networkAcls();
        if (n != null && !n.sameAs(hsm.networkAcls())) {
            what.add("networkAcls");
        }
        if (Boolean.TRUE.equals(d.purgeProtection()) && !hsm.purgeProtection()) {
            what.add("purgeProtection");
        }
        if (d.userAssignedIdentities() != null && !hsm.hasIdentities(d.userAssignedIdentities())) {
            what.add("userAssignedIdentities");
        }
        return what.isEmpty() ? null : String.join(", ", what);
    }
}
