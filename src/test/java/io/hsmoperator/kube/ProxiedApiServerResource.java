package io.hsmoperator.kube;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;

/** Like {@link ApiServerResource}, but the operator reaches the API server through a {@link TcpProxy} a test can cut. */
public class ProxiedApiServerResource implements QuarkusTestResourceLifecycleManager {
    private static TcpProxy proxy;

    public static synchronized TcpProxy proxy() {
        if (proxy == null) {
            URI api = URI.create(TestCluster.server().quarkusClientProperties().get("quarkus.kubernetes-client.api-server-url"));
            try {
                proxy = new TcpProxy(api.getHost(), api.getPort());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return proxy;
    }

    @Override
    public Map<String, String> start() {
        Map<String, String> props = new HashMap<>(TestCluster.server().quarkusClientProperties());
        URI api = URI.create(props.get("quarkus.kubernetes-client.api-server-url"));
        props.put("quarkus.kubernetes-client.api-server-url", api.getScheme() + "://" + api.getHost() + ":" + proxy().port());
        return props;
    }

    @Override
    public void stop() {
        proxy().restore();
        TestCluster.releaseTestNamespaces();
    }
}
