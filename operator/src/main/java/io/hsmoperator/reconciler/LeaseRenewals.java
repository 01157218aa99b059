package io.hsmoperator.reconciler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.http.AsyncBody;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.http.Interceptor;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.hsmoperator.azure.WriteFence;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The operator's Kubernetes client (the one the operator SDK and its leader elector use), which tells the
 * {@link WriteFence} of every Lease write the API server accepts. The elector offers no hook for its renewals and builds
 * its lock itself, so they are seen on the wire: a 2xx answer to a write of the lease, with the renewal time the request
 * carried. The time is the one standbys count the lease from; recorded here, it needs no further call to the API server,
 * which is what may be unreachable when it matters.
 */
@Singleton
public class LeaseRenewals {
    private static final Logger LOG = Logger.getLogger(LeaseRenewals.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LEASES = Pattern.compile("^/apis/coordination\\.k8s\\.io/v1/namespaces/([^/]+)/leases(?:/([^/?]+))?$");

    /** Replaces the Kubernetes extension's default client: the same configuration and serialization, plus the observer. */
    @Produces
    @Singleton
    KubernetesClient kubernetesClient(KubernetesSerialization serialization, Config config, WriteFence fence) {
        return new KubernetesClientBuilder().withKubernetesSerialization(serialization).withConfig(config)
                .withHttpClientBuilderConsumer(b -> b.addOrReplaceInterceptor("hsm-lease-renewals", observer(fence))).build();
    }

    void close(@Disposes KubernetesClient client) {
        client.close();
    }

    static Interceptor observer(WriteFence fence) {
        return new Interceptor() {
            @Override
            public void after(HttpRequest request, HttpResponse<?> response, AsyncBody.Consumer<List<ByteBuffer>> consumer) {
                if (response.code() < 200 || response.code() >= 300 || request.method().equals("GET") || request.method().equals("DELETE")) {
                    return;
                }
                Matcher m = LEASES.matcher(request.uri().getPath());
                if (m.matches()) {
                    accepted(fence, m.group(1), m.group(2), request.bodyString());
                }
            }
        };
    }

    /** A write of a lease in {@code namespace} (named {@code name} in the path, or in the body of a create) was accepted. */
    static void accepted(WriteFence fence, String namespace, String name, String body) {
        if (body == null || fence.lease().isEmpty()) {
            return;
        }
        try {
            JsonNode lease = JSON.readTree(body);
            String leaseName = name != null ? name : lease.path("metadata").path("name").asText(null);
            JsonNode spec = lease.path("spec");
            String holder = spec.path("holderIdentity").asText(null);
            String renewTime = spec.path("renewTime").asText(null);
            if (leaseName == null || holder == null || renewTime == null) {
                return;
            }
            fence.renewed(namespace, leaseName, holder, renewed(renewTime));
        } catch (IOException | DateTimeParseException e) {
            LOG.warnf("A write of lease %s/%s was accepted, but its renewal time cannot be read (%s): writes to Azure stay "
                    + "fenced until one can", namespace, name, e.getMessage());
        }
    }

    /** A Lease's renewTime (a MicroTime: RFC 3339 with microseconds). */
    static Instant renewed(String renewTime) {
        return ZonedDateTime.parse(renewTime, DateTimeFormatter.ISO_DATE_TIME).toInstant();
    }
}
