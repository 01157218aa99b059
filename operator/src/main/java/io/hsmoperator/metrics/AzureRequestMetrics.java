package io.hsmoperator.metrics;

import com.azure.core.http.HttpPipelineCallContext;
import com.azure.core.http.HttpPipelineNextPolicy;
import com.azure.core.http.HttpPipelineNextSyncPolicy;
import com.azure.core.http.HttpPipelinePosition;
import com.azure.core.http.HttpResponse;
import com.azure.core.http.policy.HttpPipelinePolicy;
import io.micrometer.core.instrument.Timer;
import reactor.core.publisher.Mono;

import java.util.Locale;
import java.util.Set;

/**
 * An azure-core pipeline policy that counts and times every request an Azure client sends, by service, operation and
 * status code. The operation is the HTTP method and a path template: names, IDs and versions become placeholders, so
 * the number of series stays bounded whatever the keys are called.
 */
public final class AzureRequestMetrics implements HttpPipelinePolicy {
    private final String service;

    /** @param service the client's name in the metric: {@code arm-keyvault}, {@code hsm-keys}, {@code hsm-rbac}, … */
    public AzureRequestMetrics(String service) {
        this.service = service;
    }

    @Override
    public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
        String operation = operation(context.getHttpRequest().getHttpMethod().name(), context.getHttpRequest().getUrl().getPath());
        long start = System.nanoTime();
        return next.process()
                .doOnNext(r -> record(operation, String.valueOf(r.getStatusCode()), start))
                .doOnError(e -> record(operation, "error", start));
    }

    @Override
    public HttpResponse processSync(HttpPipelineCallContext context, HttpPipelineNextSyncPolicy next) {
        String operation = operation(context.getHttpRequest().getHttpMethod().name(), context.getHttpRequest().getUrl().getPath());
        long start = System.nanoTime();
        try {
            HttpResponse r = next.processSync();
            record(operation, String.valueOf(r.getStatusCode()), start);
            return r;
        } catch (RuntimeException e) {
            record(operation, "error", start);
            throw e;
        }
    }

    @Override
    public HttpPipelinePosition getPipelinePosition() {
        return HttpPipelinePosition.PER_RETRY;
    }

    private void record(String operation, String status, long start) {
        Timer.builder(OperatorMetrics.AZURE_REQUESTS).description("Requests sent to Azure, by service, operation and status code")
                .tag("service", service).tag("operation", operation).tag("status", status)
                .register(OperatorMetrics.registry()).record(java.time.Duration.ofNanos(System.nanoTime() - start));
    }

    /** Words of Azure's data-plane paths; any other segment is a name, an ID or a version. */
    private static final Set<String> WORDS = Set.of("keys", "deletedkeys", "create", "rotate", "versions", "rotationpolicy", "recover",
            "backup", "restore", "import", "release", "sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey", "pending",
            "securitydomain", "download", "upload", "settings", "providers", "microsoft.authorization", "roleassignments",
            "roledefinitions", "rng");

    /** {@code POST /keys/{name}/create}, {@code GET /subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/managedHSMs/{}}. */
    public static String operation(String method, String path) {
        String[] segments = path.split("/");
        StringBuilder out = new StringBuilder(method);
        boolean arm = path.regionMatches(true, 0, "/subscriptions/", 0, 15);
        String previous = "";
        boolean nameNext = false;
        for (String s : segments) {
            if (s.isEmpty()) {
                continue;
            }
            String lower = s.toLowerCase(Locale.ROOT);
            String part;
            if (arm) {
                // ARM alternates collection and name, but for "providers/Namespace".
                if (previous.equals("providers")) {
                    part = s;
                    nameNext = false;
                } else if (nameNext) {
                    part = "{}";
                    nameNext = false;
                } else {
                    part = s;
                    nameNext = !lower.equals("providers");
                }
            } else if ((previous.equals("keys") || previous.equals("deletedkeys")) && !lower.equals("providers")) {
                // A role assignment's scope "/keys" is followed by "/providers/…", not by a key's name.
                part = "{name}";
            } else if (WORDS.contains(lower)) {
                part = s;
            } else if (previous.equals("{name}")) {
                part = "{version}";
            } else {
                part = "{id}";
            }
            out.append(out.length() == method.length() ? " /" : "/").append(part);
            previous = part.equals("{name}") ? "{name}" : lower;
        }
        return out.length() == method.length() ? method + " /" : out.toString();
    }
}
