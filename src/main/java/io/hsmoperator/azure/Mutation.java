package io.hsmoperator.azure;

/** The outcome of an Azure write, for the Event that records it: Azure's request ID and the HTTP status. */
public record Mutation(String requestId, int status) {
    public static Mutation of(com.azure.core.http.rest.Response<?> r) {
        String id = r.getHeaders().getValue(com.azure.core.http.HttpHeaderName.fromString("x-ms-request-id"));
        return new Mutation(id == null ? "unknown" : id, r.getStatusCode());
    }
}
