package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;

/**
 * Told of each ConfigMap the operator just created or replaced, with what it replaced (null: it created it), before
 * the watch brings the change back: the reconciler hands it to its informer, so that the echo of its own write does not
 * wake the HsmKey again.
 */
@FunctionalInterface
public interface OwnWrites {
    void wrote(ConfigMap written, ConfigMap replaced);
}
