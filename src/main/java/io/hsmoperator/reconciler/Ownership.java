package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;

/**
 * Which resource owns an Azure object: a tag {@value #TAG} = {cluster}/{namespace}/{name}. One writer per object, across
 * clusters; an object without our tag is adopted only when the spec says so.
 */
public final class Ownership {
    public static final String TAG = "hsmoperator.io-owner";

    private Ownership() {
    }

    public static String of(String clusterId, HasMetadata resource) {
        return clusterId + "/" + resource.getMetadata().getNamespace() + "/" + resource.getMetadata().getName();
    }
}
