package io.hsmoperator.azure;

import java.net.URI;
import java.util.Locale;
import java.util.Optional;

/**
 * The data-plane host of one region of a multi-region managed HSM. ARM does not report it: Azure names it
 * {hsm}.{region}.managedhsm.azure.net beside the global {hsm}.managedhsm.azure.net, which Traffic Manager sends to the
 * closest region. An emulator, which tells HSMs apart by port rather than by DNS name, answers with its own.
 */
@FunctionalInterface
public interface RegionalHosts {
    /** Azure's naming: the region's label after the HSM's in the global host name. */
    RegionalHosts AZURE = (hsmName, hsmUri, region) -> {
        URI uri = URI.create(hsmUri);
        String host = uri.getHost();
        int dot = host == null ? -1 : host.indexOf('.');
        if (dot < 0 || host.matches("[0-9.]+") || host.contains(":")) {
            return Optional.empty();
        }
        String label = region.replace(" ", "").toLowerCase(Locale.ROOT);
        return Optional.of("https://" + host.substring(0, dot) + "." + label + host.substring(dot) + "/");
    };

    /** The URI of {@code region}'s own data-plane host of the HSM {@code hsmName} at {@code hsmUri}, when it is known. */
    Optional<String> uri(String hsmName, String hsmUri, String region);
}
