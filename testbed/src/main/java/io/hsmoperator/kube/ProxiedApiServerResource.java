package io.hsmoperator.kube;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;

/** {@link ApiServerResource}, but the operator reaches the API server through a {@link TcpProxy} a test can cut. */
public class ProxiedApiServerResource extends ApiServerResource {
    private static final String URL = "quarkus.kubernetes-client.api-server-url";
    private static TcpProxy proxy;

    public static synchronized TcpProxy proxy() {
        if (proxy == null) {
            URI api = URI.create(TestCluster.server().quarkusClientProperties().get(URL));
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
        Map<String, String> props = new HashMap<>(super.start());
        URI api = URI.create(props.get(URL));
        props.put(URL, api.getScheme() + "://" + api.getHost() + ":" + proxy().port());
        return props;
    }

    @Override
    public void stop() {
        proxy().restore();
        super.stop();
    }
}
