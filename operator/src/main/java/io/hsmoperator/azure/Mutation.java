package io.hsmoperator.azure;

/** The outcome of an Azure write, for the Event that records it: Azure's request ID and the HTTP status. */
public record Mutation(String requestId, int status) {
    /**
     * The first response of a long-running operation, which is all the operator waits for: its body is read to the end
     * (so the connection is released) and the operation is observed by later reconciles.
     */
    public static Mutation started(reactor.core.publisher.Mono<com.azure.core.http.rest.Response<reactor.core.publisher.Flux<java.nio.ByteBuffer>>> call,
                                   java.time.Duration timeout) {
        com.azure.core.http.rest.Response<reactor.core.publisher.Flux<java.nio.ByteBuffer>> r = call
                .flatMap(response -> response.getValue().then(reactor.core.publisher.Mono.just(response))).block(timeout);
        return of(r);
    }

    public static Mutation of(com.azure.core.http.rest.Response<?> r) {
        String id = r.getHeaders().getValue(com.azure.core.http.HttpHeaderName.fromString("x-ms-request-id"));
        return new Mutation(id == null ? "unknown" : id, r.getStatusCode());
    }
}
