package io.hsmoperator.azure;

import com.azure.core.http.HttpHeaderName;
import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.time.Instant;

/**
 * The status of a backup or restore job by its ID (GET /{backup|restore}/{jobId}/pending), read on the data-plane
 * pipeline: the SDK's pollers cannot resume from a job ID alone, and a restarted operator has nothing else.
 */
final class JobStatus {
    private static final String API = "api-version=7.5";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The job's JSON as Azure answered, the request ID of the answer, and its error as "code: message" (SAS redacted) or null. */
    record Read(JsonNode body, String error, Mutation mutation) {
        String text(String field) {
            JsonNode v = body.path(field);
            return v.isTextual() && !v.asText().isEmpty() ? v.asText() : null;
        }

        Instant epoch(String field) {
            JsonNode n = body.path(field);
            return n.isNumber() ? Instant.ofEpochSecond(n.asLong()) : null;
        }
    }

    private JobStatus() {
    }

    /** {@code kind}: backup or restore. A status other than 200 is a classified AzureError (404: NOT_FOUND). */
    static Read read(AzureClients clients, String hsmUri, String kind, String jobId) {
        HttpRequest req = new HttpRequest(HttpMethod.GET, AzureClients.base(hsmUri) + "/" + kind + "/" + jobId + "/pending?" + API);
        try (HttpResponse r = AzureError.call(() -> clients.dataPlanePipeline().sendSync(req, Context.NONE))) {
            byte[] bytes = r.getBodyAsByteArray().block(clients.timeout());
            JsonNode body = bytes == null || bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
            if (r.getStatusCode() != 200) {
                JsonNode err = body.path("error");
                int s = r.getStatusCode();
                AzureError.Kind k = s == 429 ? AzureError.Kind.THROTTLED : s >= 500 ? AzureError.Kind.TRANSIENT : s == 403
                        ? AzureError.Kind.FORBIDDEN : s == 401 ? AzureError.Kind.UNAUTHENTICATED : s == 404 ? AzureError.Kind.NOT_FOUND
                        : AzureError.Kind.BAD_REQUEST;
                throw new AzureError(k, s, err.path("code").asText(String.valueOf(s)), err.path("message").asText(kind + " job status"),
                        AzureError.retryAfter(r), null);
            }
            JsonNode error = body.path("error");
            String failure = error.isObject() ? HsmBackups.redact(error.path("code").asText("Failed") + ": " + error.path("message").asText(""))
                    : null;
            String requestId = r.getHeaderValue(HttpHeaderName.fromString("x-ms-request-id"));
            return new Read(body, failure, new Mutation(requestId == null ? "unknown" : requestId, 200));
        } catch (IOException e) {
            throw AzureError.of(e);
        }
    }
}
