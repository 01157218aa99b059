package io.hsmoperator.azure;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpPipeline;
import com.azure.core.http.HttpPipelineBuilder;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A write leaves only while this replica leads under a lease that outlasts the write; reads are never held back. */
class WriteFenceTest {
    private static final Instant T0 = Instant.parse("2025-06-01T12:00:00Z");
    private static final WriteFence.Lease LEASE = new WriteFence.Lease("ops", "hsm-operator-leader", "replica-a", Duration.ofSeconds(15));

    private static final class MovableClock extends Clock {
        Instant now = T0;

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private static HttpResponse ok(HttpRequest request) {
        return new HttpResponse(request) {
            @Override
            public int getStatusCode() {
                return 200;
            }

            @Override
            @Deprecated
            public String getHeaderValue(String name) {
                return null;
            }

            @Override
            public com.azure.core.http.HttpHeaders getHeaders() {
                return new com.azure.core.http.HttpHeaders();
            }

            @Override
            public reactor.core.publisher.Flux<java.nio.ByteBuffer> getBody() {
                return reactor.core.publisher.Flux.empty();
            }

            @Override
            public Mono<byte[]> getBodyAsByteArray() {
                return Mono.just(new byte[0]);
            }

            @Override
            public Mono<String> getBodyAsString() {
                return Mono.just("");
            }

            @Override
            public Mono<String> getBodyAsString(java.nio.charset.Charset charset) {
                return Mono.just("");
            }
        };
    }

    @Test
    void withoutLeaderElectionTheFenceIsOpen() {
        assertTrue(new WriteFence(Clock.systemUTC()).refusal(Duration.ofSeconds(8)).isEmpty());
    }

    @Test
    void aWriteLeavesOnlyWhileTheLeaseOutlastsIt() {
        MovableClock clock = new MovableClock();
        WriteFence fence = new WriteFence(clock);
        fence.elect(LEASE);
        assertTrue(fence.refusal(Duration.ofSeconds(8)).orElseThrow().contains("does not hold the leader lease"), "a standby sends nothing");
        fence.leading(true);
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isPresent(), "no renewal seen yet");

        fence.renewed("ops", "hsm-operator-leader", "replica-a", T0);
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isEmpty());
        clock.now = T0.plusSeconds(6);
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isEmpty(), "valid 9 s more, the write takes at most 8");
        clock.now = T0.plusSeconds(7);
        String refusal = fence.refusal(Duration.ofSeconds(8)).orElseThrow();
        assertTrue(refusal.contains("last renewed 7.0s ago") && refusal.contains("hsm.azure.write-timeout"), refusal);

        // Another lease, or this one naming another holder, is not this replica's renewal.
        fence.renewed("ops", "hsm-operator-leader", "replica-b", T0.plusSeconds(7));
        fence.renewed("other", "hsm-operator-leader", "replica-a", T0.plusSeconds(7));
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isPresent());
        fence.renewed("ops", "hsm-operator-leader", "replica-a", T0.plusSeconds(7));
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isEmpty());
        fence.leading(false);
        assertTrue(fence.refusal(Duration.ofSeconds(8)).isPresent(), "a replica that stopped leading sends nothing");
    }

    @Test
    void theGateRefusesAFencedWriteBeforeItLeavesAndLetsReadsThrough() {
        MovableClock clock = new MovableClock();
        WriteFence fence = new WriteFence(clock);
        fence.elect(LEASE);
        fence.leading(true);
        fence.renewed("ops", "hsm-operator-leader", "replica-a", T0.minusSeconds(10));
        AtomicInteger sent = new AtomicInteger();
        HttpPipeline pipeline = new HttpPipelineBuilder().httpClient(r -> {
            sent.incrementAndGet();
            return Mono.just(ok(r));
        }).policies(new ScopeGate(clock, Duration.ZERO, fence, Duration.ofSeconds(8)).policy()).build();

        for (HttpMethod write : new HttpMethod[] {HttpMethod.PUT, HttpMethod.POST, HttpMethod.PATCH, HttpMethod.DELETE}) {
            HttpRequest request = new HttpRequest(write, "https://hsm.managedhsm.azure.net/keys/k/create");
            AzureError sync = assertThrows(AzureError.class, () -> pipeline.sendSync(request, Context.NONE));
            assertTrue(sync.isTransient() && sync.code().equals("NotLeader"), sync.describe());
            AzureError async = assertThrows(AzureError.class, () -> pipeline.send(request).block());
            assertEquals("NotLeader", async.code());
        }
        assertEquals(0, sent.get(), "no fenced write left the process");
        try (HttpResponse read = pipeline.sendSync(new HttpRequest(HttpMethod.GET, "https://hsm.managedhsm.azure.net/keys/k"), Context.NONE)) {
            assertEquals(200, read.getStatusCode());
        }
        fence.renewed("ops", "hsm-operator-leader", "replica-a", T0);
        try (HttpResponse write = pipeline.sendSync(new HttpRequest(HttpMethod.PUT, "https://hsm.managedhsm.azure.net/keys/k"), Context.NONE)) {
            assertEquals(200, write.getStatusCode());
        }
    }

    @Test
    void aWriteNotAnsweredWithinTheWriteTimeoutIsAbandoned() {
        HttpPipeline pipeline = new HttpPipelineBuilder().httpClient(r -> Mono.never())
                .policies(new ScopeGate(Clock.systemUTC(), Duration.ZERO, new WriteFence(), Duration.ofMillis(300)).policy()).build();
        long start = System.nanoTime();
        AzureError e = assertThrows(AzureError.class, () -> pipeline.sendSync(
                new HttpRequest(HttpMethod.POST, "https://hsm.managedhsm.azure.net/keys/k/rotate"), Context.NONE));
        assertEquals("WriteTimeout", e.code());
        assertTrue(e.isTransient());
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(5)) < 0);
    }
}
