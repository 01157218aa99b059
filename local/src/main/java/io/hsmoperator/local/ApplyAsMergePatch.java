package io.hsmoperator.local;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Queue;

/**
 * The in-process fallback API (the Fabric8 mock server) has no server-side apply, which the operator uses to add its
 * finalizers. The only apply patches it sends set fields the operator owns alone, so on the mock a JSON merge patch of
 * the same document has the same effect. Only the fallback uses this: a real API server applies them itself.
 */
final class ApplyAsMergePatch extends KubernetesMixedDispatcher {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    ApplyAsMergePatch(Map<ServerRequest, Queue<ServerResponse>> expectations) {
        super(expectations, List.of());
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
        String type = request.getHeader("Content-Type");
        if ("PATCH".equalsIgnoreCase(request.getMethod()) && type != null && type.startsWith("application/apply-patch")) {
            try {
                byte[] json = YAML.readTree(request.getUtf8Body()).toString().getBytes(StandardCharsets.UTF_8);
                request = new RecordedRequest(request.getHttpVersion(), request.method(), request.getPath(),
                        request.getHeaders().newBuilder().set("Content-Type", "application/merge-patch+json").build(), new Buffer(json));
            } catch (IOException e) {
                return new MockResponse().setResponseCode(400).setBody("{\"kind\":\"Status\",\"code\":400,\"message\":\"bad apply patch\"}");
            }
        }
        return super.dispatch(request);
    }
}
