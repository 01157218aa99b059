package io.hsmoperator.reconciler;

import io.hsmoperator.azure.OperatorConfig;
import jakarta.inject.Singleton;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What the operator's configuration lets each namespace declare: a ManagedHsm in which subscriptions and resource groups
 * ({@code hsm.tenancy.managed-hsm-namespaces}), a PrivateEndpoint in which subnets and with its record in which private
 * DNS zones ({@code hsm.tenancy.private-endpoint-subnets}, {@code hsm.tenancy.private-dns-zones}). Checked before any Azure
 * call, so a namespace outside them cannot make the operator create, adopt, observe or delete anything there for it.
 */
@Singleton
public class HsmDeclarations {
    private static final String OPERATOR_NAMESPACE = "{operator-namespace}";

    /** One entry: namespace=subscription/resourceGroup, as patterns. */
    record Entry(String text, Pattern namespace, Pattern subscription, Pattern resourceGroup) {
        boolean permits(String ns, String sub, String rg) {
            return namespace.matcher(ns).matches() && subscription.matcher(sub.toLowerCase(Locale.ROOT)).matches()
                    && resourceGroup.matcher(rg.toLowerCase(Locale.ROOT)).matches();
        }
    }

    /** One entry: namespace=Azure resource ID, both as patterns. */
    record Placement(String text, Pattern namespace, Pattern resourceId) {
        boolean permits(String ns, String id) {
            return namespace.matcher(ns).matches() && resourceId.matcher(id.toLowerCase(Locale.ROOT)).matches();
        }
    }

    private final List<Entry> entries;
    private final List<Placement> subnets;
    private final List<Placement> dnsZones;

    public HsmDeclarations(OperatorConfig config, OperatorInstance instance) {
        String own = instance.namespace();
        this.entries = config.tenancy().managedHsmNamespaces().stream().map(e -> parse(e.replace(OPERATOR_NAMESPACE, own))).toList();
        this.subnets = config.tenancy().privateEndpointSubnets().stream()
                .map(e -> placement("hsm.tenancy.private-endpoint-subnets", e.replace(OPERATOR_NAMESPACE, own))).toList();
        this.dnsZones = config.tenancy().privateDnsZones().stream()
                .map(e -> placement("hsm.tenancy.private-dns-zones", e.replace(OPERATOR_NAMESPACE, own))).toList();
    }

    /** Why the namespace may not place a private endpoint in that subnet or register it in those zones, or empty. */
    public Optional<String> endpointRefusal(String namespace, String subnetId, List<String> dnsZoneIds) {
        if (subnets.stream().noneMatch(p -> p.permits(namespace, subnetId))) {
            return Optional.of("Namespace " + namespace + " may not place a private endpoint in subnet " + subnetId + ": the operator's "
                    + "configuration (hsm.tenancy.private-endpoint-subnets) allows only " + subnets.stream().map(Placement::text).toList()
                    + ". Nothing was sent to Azure.");
        }
        for (String zone : dnsZoneIds) {
            if (dnsZones.stream().noneMatch(p -> p.permits(namespace, zone))) {
                return Optional.of("Namespace " + namespace + " may not register a private endpoint in DNS zone " + zone + ": the "
                        + "operator's configuration (hsm.tenancy.private-dns-zones) allows only " + dnsZones.stream().map(Placement::text)
                        .toList() + ". Nothing was sent to Azure.");
            }
        }
        return Optional.empty();
    }

    static Placement placement(String setting, String entry) {
        String e = entry.trim();
        int eq = e.indexOf('=');
        if (eq <= 0 || eq == e.length() - 1) {
            throw new IllegalArgumentException(setting + ": '" + entry + "' is not namespace=resourceId");
        }
        return new Placement(e, glob(e.substring(0, eq)), glob(e.substring(eq + 1).toLowerCase(Locale.ROOT)));
    }

    /** Why the namespace may not declare an HSM there, or empty when it may. */
    public Optional<String> refusal(String namespace, String subscription, String resourceGroup) {
        if (entries.stream().anyMatch(e -> e.permits(namespace, subscription, resourceGroup))) {
            return Optional.empty();
        }
        return Optional.of("Namespace " + namespace + " may not declare a ManagedHsm in subscription " + subscription + ", resource group "
                + resourceGroup + ": the operator's configuration (hsm.tenancy.managed-hsm-namespaces) allows only "
                + entries.stream().map(Entry::text).toList() + ". Ask the operator's administrators, or reference an HSM another namespace "
                + "declares (its spec.allowedNamespaces must list this one). Nothing was sent to Azure.");
    }

    static Entry parse(String entry) {
        String e = entry.trim();
        int eq = e.indexOf('=');
        int slash = e.indexOf('/', eq + 1);
        if (eq <= 0 || slash < 0) {
            throw new IllegalArgumentException("hsm.tenancy.managed-hsm-namespaces: '" + entry + "' is not namespace=subscription/resourceGroup");
        }
        return new Entry(e, glob(e.substring(0, eq)), glob(e.substring(eq + 1, slash).toLowerCase(Locale.ROOT)),
                glob(e.substring(slash + 1).toLowerCase(Locale.ROOT)));
    }

    private static Pattern glob(String g) {
        return Pattern.compile(Arrays.stream(g.split("\\*", -1)).map(Pattern::quote).collect(Collectors.joining(".*")));
    }
}
