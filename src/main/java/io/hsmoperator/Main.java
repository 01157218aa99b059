package io.hsmoperator;

import io.hsmoperator.local.LocalCluster;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/** The operator's entry point. In local mode, first decide which Kubernetes API to use (see {@link LocalCluster}). */
@QuarkusMain
public class Main {
    public static void main(String... args) {
        LocalCluster.prepare();
        Quarkus.run(args);
    }
}
