package io.hsmoperator.azure;

import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Azure's rules for the regions of a managed HSM ("Enable multi-region replication on Azure Managed HSM"): one extended
 * region at most; some regions cannot be extended to; adding one takes up to 30 minutes, during which the HSM's network
 * rules and private endpoints must not change; every extended region is removed before the HSM can be deleted.
 */
public final class HsmRegionRules {
    /** Azure extends a managed HSM to a single additional region. */
    public static final int MAX_EXTENDED = 1;

    /** The regions Azure documents as not possible extended regions "at this time" (2025-06). */
    public static final Set<String> NOT_EXTENDABLE = Set.of("eastus", "southcentralus", "westus2", "switzerlandnorth", "westeurope",
            "centralindia", "canadacentral", "canadaeast", "japanwest", "qatarcentral", "polandcentral", "westcentralus");

    private HsmRegionRules() {
    }

    /** A region name as ARM compares it: lower case, no spaces (West Europe is westeurope). */
    public static String normalise(String region) {
        return region == null ? "" : region.replace(" ", "").toLowerCase(Locale.ROOT);
    }

    public static boolean same(String a, String b) {
        return normalise(a).equals(normalise(b));
    }

    /** Whether Azure refuses {@code region} as an extended region. */
    public static boolean extendable(String region) {
        return !NOT_EXTENDABLE.contains(normalise(region));
    }

    /** Whether a region in this provisioning state is on its way in (the states before Succeeded). */
    public static boolean adding(String provisioningState) {
        return List.of("preprovisioning", "provisioning").contains(String.valueOf(provisioningState).toLowerCase(Locale.ROOT));
    }
}
