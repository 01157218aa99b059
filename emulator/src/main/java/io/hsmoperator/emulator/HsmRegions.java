package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Multi-region replication of a managed HSM, as "Enable multi-region replication on Azure Managed HSM" documents it: the
 * primary region is the HSM's location; one extended region may be added ({@code properties.regions} on a PUT or
 * PATCH, as {@code az keyvault region add|remove} sends it), which takes a while (Azure: up to 30 minutes); some regions
 * cannot be extended to; every extended region must be removed before the HSM can be deleted. Each extended region has
 * its own data-plane host (Azure: {hsm}.{region}.managedhsm.azure.net; here a port of its own) serving the same HSM,
 * and data-plane writes reach the other region after a delay (Azure documents up to 6 minutes).
 * <p>
 * Guessed (see the README): the error codes and messages, that a network-rule or private-endpoint change is refused
 * with 409 while a region is being added, and that a removal takes the update delay.
 */
final class HsmRegions {
    /** The regions the documentation says cannot be extended regions "at this time". */
    static final Set<String> NOT_EXTENDABLE = Set.of("eastus", "southcentralus", "westus2", "switzerlandnorth", "westeurope",
            "centralindia", "canadacentral", "canadaeast", "japanwest", "qatarcentral", "polandcentral", "westcentralus");
    /** Azure extends an HSM to one additional region only. */
    static final int MAX_EXTENDED = 1;

    private final Emulator emu;

    HsmRegions(Emulator emu) {
        this.emu = emu;
    }

    static String normalise(String region) {
        return region == null ? "" : region.replace(" ", "").toLowerCase(Locale.ROOT);
    }

    /** The extended regions that still exist (a removed one is gone once its removal completed). */
    static List<State.Region> current(State.Hsm h) {
        long now = System.currentTimeMillis();
        List<State.Region> out = new ArrayList<>();
        for (State.Region region : h.extendedRegions) {
            if (!region.gone(now)) {
                out.add(region);
            }
        }
        return out;
    }

    /** Whether a region of the HSM is still being added: Azure then refuses network-rule and private-endpoint changes. */
    static boolean adding(State.Hsm h) {
        long now = System.currentTimeMillis();
        return current(h).stream().anyMatch(region -> region.removedAtMillis == 0 && now < region.readyAtMillis);
    }

    static State.Region find(State.Hsm h, String name) {
        for (State.Region region : current(h)) {
            if (normalise(region.name).equals(normalise(name))) {
                return region;
            }
        }
        return null;
    }

    /**
     * The extended regions a {@code regions} property asks for, checked as Azure checks them; null when it names the same
     * ones the HSM has (nothing to change).
     */
    List<String> requested(State.Hsm h, JsonNode given) {
        List<String> wanted = new ArrayList<>();
        for (JsonNode region : given) {
            String name = normalise(region.path("name").asText(""));
            if (name.isEmpty()) {
                throw new ApiException(400, "BadRequest", "Each entry of properties.regions needs a name.");
            }
            boolean primary = name.equals(normalise(h.location));
            if (region.path("isPrimary").asBoolean(false) && !primary) {
                throw new ApiException(400, "BadRequest", "The primary region of managed HSM '" + h.name + "' is " + h.location
                        + "; it cannot be changed to " + name + ".");
            }
            if (!primary && !wanted.contains(name)) {
                wanted.add(name);
            }
        }
        if (wanted.size() > MAX_EXTENDED) {
            throw new ApiException(400, "BadRequest", "A managed HSM can be extended to " + MAX_EXTENDED + " additional region only; "
                    + "the request names " + wanted + ".");
        }
        for (String name : wanted) {
            if (NOT_EXTENDABLE.contains(name) && find(h, name) == null) {
                throw new ApiException(400, "RegionNotSupported", "The region '" + name + "' cannot be an extended region of a "
                        + "managed HSM at this time.");
            }
        }
        List<String> have = current(h).stream().filter(region -> region.removedAtMillis == 0).map(region -> normalise(region.name)).toList();
        return have.size() == wanted.size() && have.containsAll(wanted) ? null : wanted;
    }

    /** Adds and removes extended regions so that the HSM has {@code wanted}; refused while one is still being added or removed. */
    void apply(State.Hsm h, List<String> wanted) {
        long now = System.currentTimeMillis();
        for (State.Region region : current(h)) {
            if (now < region.readyAtMillis || region.removedAtMillis != 0) {
                throw new ApiException(409, "Conflict", "The region " + region.name + " of managed HSM '" + h.name + "' is being "
                        + (region.removedAtMillis != 0 ? "removed" : "added") + ". Retry when that operation has completed.");
            }
        }
        h.extendedRegions.removeIf(region -> region.gone(now));
        for (State.Region region : h.extendedRegions) {
            if (!wanted.contains(normalise(region.name))) {
                // Azure purges the HSM pool of a removed region (the primary keeps every key): no soft-deleted copy of it.
                region.removedAtMillis = now + emu.config().updateDelay().toMillis();
            }
        }
        for (String name : wanted) {
            if (find(h, name) == null) {
                State.Region region = new State.Region();
                region.name = name;
                region.readyAtMillis = now + emu.controls().regionAddDelayOr(emu.config().regionAddDelay()).toMillis();
                h.extendedRegions.add(region);
                emu.openRegion(h, region);
            }
        }
        emu.dirty();
    }

    /** Forgets the regions whose removal completed and closes their hosts; run by the emulator's background tick. */
    void sweep(State.Hsm h) {
        long now = System.currentTimeMillis();
        for (State.Region region : List.copyOf(h.extendedRegions)) {
            if (region.gone(now)) {
                h.extendedRegions.remove(region);
                emu.closeRegion(h, region);
                emu.dirty();
            }
        }
    }

    /**
     * {@code properties.regions} of the resource: empty while the HSM has no extended region (as recorded on a new HSM),
     * otherwise the primary and each extended region with its state.
     */
    static ArrayNode view(State.Hsm h) {
        List<State.Region> regions = current(h);
        return regions.isEmpty() ? Json.array() : list(h);
    }

    /** The regions list ({@code GET …/regions}): the primary first, then the extended regions. */
    static ArrayNode list(State.Hsm h) {
        long now = System.currentTimeMillis();
        ArrayNode out = Json.array();
        out.add(Json.object().put("name", h.location).put("isPrimary", true).put("provisioningState", "Succeeded"));
        for (State.Region region : current(h)) {
            out.add(Json.object().put("name", region.name).put("isPrimary", false).put("provisioningState", region.provisioningState(now)));
        }
        return out;
    }
}
