package io.hsmoperator.kube;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/**
 * Points the operator under test at the JVM's shared real API server ({@link TestCluster}) as its administrator, and
 * cleans the test namespaces up when that operator instance stops.
 */
public class ApiServerResource implements QuarkusTestResourceLifecycleManager {
    @Override
    public Map<String, String> start() {
        return TestCluster.server().quarkusClientProperties();
    }

    @Override
    public void stop() {
        TestCluster.releaseTestNamespaces();
    }
}
