package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.OperatorConfig;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Publishes an HsmKey to the workloads of its namespace: the ConfigMap of {@link KeyPublication} (owned by the HsmKey, so
 * that it goes with it), and the restart of the workloads that read the key only when they start. It returns what it
 * found and did; the reconciler turns that into conditions and events.
 */
@Singleton
public class KeyPublisher {
    /** Label on the ConfigMaps the operator publishes; the ConfigMap informer watches only those. */
    public static final String HSMKEY_LABEL = "hsmoperator.io/hsmkey";
    private final KubernetesClient kubernetes;
    private final HsmKeys keys;
    private final Workloads workloads;
    /** Public keys of versions never change: read each once. */
    private final Map<String, Map<String, String>> publicKeys = new ConcurrentHashMap<>();

    private final OperatorConfig.Publish settings;

    public KeyPublisher(KubernetesClient kubernetes, HsmKeys keys, Workloads workloads, OperatorConfig config) {
        this.kubernetes = kubernetes;
        this.keys = keys;
        this.workloads = workloads;
        this.settings = config.publish();
    }

    /** The name of the ConfigMap to publish, or null when publishing is off. */
    public static String configMapName(HsmKey cr) {
        HsmKeySpec.Publish p = cr.getSpec().publish;
        if (p != null && Boolean.FALSE.equals(p.enabled)) {
            return null;
        }
        return p != null && p.configMapName != null ? p.configMapName : cr.getMetadata().getName() + "-key";
    }

    /**
     * What {@link #publish} did: the ConfigMap published into (null when publishing is off), or, in {@code foreign}, the
     * name of a ConfigMap that exists and is not this HsmKey's (no owner reference to it), left untouched; and the
     * resourceVersion of the ConfigMap as this call wrote or found it.
     */
    public record Publication(String configMap, String foreign, String resourceVersion) {
        Publication(String configMap, String foreign) {
            this(configMap, foreign, null);
        }
    }

    /** The extended regions of the HSM that Azure has added (Succeeded), each with its own data-plane host, by region name. */
    public static Map<String, String> regionUris(ManagedHsm hsm) {
        Map<String, String> out = new java.util.TreeMap<>();
        if (hsm != null && hsm.getStatus() != null && hsm.getStatus().regions != null) {
            hsm.getStatus().regions.stream().filter(r -> !Boolean.TRUE.equals(r.primary) && r.hsmUri != null
                    && "Succeeded".equalsIgnoreCase(r.provisioningState)).forEach(r -> out.put(r.name, r.hsmUri));
        }
        return out;
    }

    /** The regional hosts a published ConfigMap names (its hsmUri.{region} entries), by region name. */
    public static Map<String, String> publishedRegionUris(ConfigMap published) {
        Map<String, String> out = new java.util.TreeMap<>();
        if (published != null && published.getData() != null) {
            published.getData().forEach((k, v) -> {
                if (k.startsWith("hsmUri.")) {
                    out.put(k.substring("hsmUri.".length()), v);
                }
            });
        }
        return out;
    }

    /**
     * Writes the workload ConfigMap when its content changed, never into a ConfigMap the HsmKey does not own.
     * {@code versions}: every version of the key, oldest first; the enabled ones are published. {@code own} is told of the write.
     */
    public Publication publish(HsmKey cr, String uri, ManagedHsm hsm, HsmKeys.Key key, List<HsmKeys.Version> versions, ConfigMap cached,
                               OwnWrites own) {
        String name = configMapName(cr);
        if (name == null) {
            return new Publication(null, null);
        }
        // The informer holds the ConfigMaps the operator labelled; any other is read only when creating finds the name taken.
        ConfigMap existing = cached != null && name.equals(cached.getMetadata().getName()) ? cached : null;
        if (existing != null && OwnedConfigMaps.foreign(existing, cr)) {
            return new Publication(null, name);
        }
        List<KeyPublication.PublishedVersion> enabled = new ArrayList<>();
        if (!key.kty().startsWith("oct")) {
            for (int i = versions.size() - 1; i >= 0; i--) {
                HsmKeys.Version v = versions.get(i);
                if (v.enabled()) {
                    Map<String, String> jwk = publicKeys.computeIfAbsent(v.id(),
                            id -> v.version().equals(key.version()) ? key.jwk() : keys.getVersion(uri, key.name(), v.version()).jwk());
                    enabled.add(new KeyPublication.PublishedVersion(v.id(), v.version(), jwk));
                }
            }
        }
        Map<String, String> data = KeyPublication.data(uri, regionUris(hsm), key.name(), key.kty(), key.id(), key.id().substring(0, key.id().lastIndexOf('/')),
                key.version(), key.operations(), enabled);
        OwnedConfigMaps.Written written = OwnedConfigMaps.write(kubernetes, cr, name, existing, data, own);
        return written.foreign() ? new Publication(null, name) : new Publication(name, null, written.resourceVersion());
    }

    /**
     * The key exchange key of an imported key (spec.importFrom), for the on-premises HSM's BYOK tool: ConfigMap
     * {@code <name>-kek} with its ID ({@code kid}, what the transfer blob's header must name) and its public key
     * ({@code kek.pem}). Owned by the HsmKey like the workload ConfigMap; never written into a ConfigMap it does not own.
     * {@code existing}: the informer's copy of the ConfigMap, or null when it has none. {@code own} is told of the write.
     */
    public Publication publishKeyExchangeKey(HsmKey cr, HsmKeys.Key kek, ConfigMap existing, OwnWrites own) {
        String name = keyExchangeKeyConfigMapName(cr);
        if (existing != null && OwnedConfigMaps.foreign(existing, cr)) {
            return new Publication(null, name);
        }
        Map<String, String> data = new java.util.LinkedHashMap<>();
        data.put("kid", kek.id());
        data.put("kek.pem", KeyPublication.pem(KeyPublication.publicKey(kek.jwk())));
        data.put("keyName", cr.getSpec().keyName != null ? cr.getSpec().keyName : cr.getMetadata().getName());
        OwnedConfigMaps.Written written = OwnedConfigMaps.write(kubernetes, cr, name, existing, data, own);
        return written.foreign() ? new Publication(null, name) : new Publication(name, null, written.resourceVersion());
    }

    public static String keyExchangeKeyConfigMapName(HsmKey cr) {
        return cr.getMetadata().getName() + "-kek";
    }

    /** The HsmKey is gone: the public keys of its versions need not be remembered any longer. */
    public void forget(HsmKey cr) {
        String key = cr.getStatus() == null ? null : cr.getStatus().versionlessKeyId;
        if (key != null) {
            publicKeys.keySet().removeIf(id -> id.startsWith(key + "/"));
        }
    }

    /**
     * What {@link #followWorkloads} did: the workloads rolled now, as Kind/name (none when every one already runs the
     * current version), or, in {@code refused}, why the installation does not let this HsmKey restart workloads.
     */
    public record Restarts(List<String> rolled, String refused) {
        static final Restarts NONE = new Restarts(List.of(), null);
    }

    /** spec.publish.restartWorkloads: roll the matching Deployments and StatefulSets onto the current version, where allowed. */
    public Restarts followWorkloads(HsmKey cr, HsmKeys.Key key) {
        HsmKeySpec.Publish p = cr.getSpec().publish;
        if (p == null || p.restartWorkloads == null) {
            return Restarts.NONE;
        }
        if (!settings.restartWorkloads()) {
            return new Restarts(List.of(), "this installation does not restart workloads (hsm.publish.restart-workloads, the chart's "
                    + "workloadRestarts.enabled)");
        }
        String ns = cr.getMetadata().getNamespace();
        List<String> allowed = settings.restartNamespaces().orElse(List.of());
        if (!allowed.isEmpty() && allowed.stream().noneMatch(a -> ns.matches(java.util.Arrays.stream(a.split("\\*", -1))
                .map(java.util.regex.Pattern::quote).collect(java.util.stream.Collectors.joining(".*"))))) {
            return new Restarts(List.of(), "this installation restarts workloads only in namespaces " + String.join(", ", allowed)
                    + " (hsm.publish.restart-namespaces, the chart's workloadRestarts.namespaces)");
        }
        return new Restarts(workloads.follow(cr, p.restartWorkloads, key.version()), null);
    }
}
