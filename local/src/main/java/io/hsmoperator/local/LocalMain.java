package io.hsmoperator.local;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/**
 * Local mode's entry point (bin/quickstart): decide which Kubernetes API to use before Quarkus builds the operator's
 * client (see {@link LocalCluster}), then run the operator. The operator's own image has no such step.
 */
@QuarkusMain
public class LocalMain {
    public static void main(String... args) {
        LocalCluster.prepare();
        Quarkus.run(args);
    }
}
