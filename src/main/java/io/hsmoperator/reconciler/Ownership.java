package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which resource owns an Azure object: a tag {@value #TAG} = {cluster}/{namespace}/{name}. One writer per object, across
 * clusters: an object whose tag names another resource that still exists is never taken over; one without our tag, or
 * whose tagged owner is gone, is adopted only when the spec says so.
 */
public final class Ownership {
    public static final String TAG = "hsmoperator.io-owner";

    private Ownership() {
    }

    public static String of(String clusterId, HasMetadata resource) {
        return clusterId + "/" + resource.getMetadata().getNamespace() + "/" + resource.getMetadata().getName();
    }

    /**
     * The tags an Azure object should carry: what it has, less the tags the operator wrote before that the spec no longer
     * lists, plus the spec's tags and the ownership tag. Tags others added (Azure Policy, people) are left alone.
     */
    public static Map<String, String> tags(Map<String, String> current, Map<String, String> spec, String owner, List<String> managedBefore) {
        Map<String, String> out = new LinkedHashMap<>(current);
        if (managedBefore != null) {
            managedBefore.stream().filter(k -> !spec.containsKey(k) && !k.equals(TAG)).forEach(out::remove);
        }
        out.putAll(spec);
        out.put(TAG, owner);
        return out;
    }

    /** The tag keys the operator writes for a spec: recorded in status once Azure holds them. */
    public static List<String> managedKeys(Map<String, String> spec) {
        java.util.TreeSet<String> keys = new java.util.TreeSet<>(spec.keySet());
        keys.add(TAG);
        return List.copyOf(keys);
    }

    /**
     * Whether the owner a tag names still exists, read from the API server (not a cache). Another cluster's resources,
     * and tags this operator did not write in its format, cannot be checked here and count as alive.
     */
    public static boolean alive(KubernetesClient kubernetes, String clusterId, String tag, Class<? extends HasMetadata> kind) {
        String[] p = tag.split("/", -1);
        if (p.length != 3 || !p[0].equals(clusterId) || p[1].isEmpty() || p[2].isEmpty()) {
            return true;
        }
        return kubernetes.resources(kind).inNamespace(p[1]).withName(p[2]).get() != null;
    }
}
