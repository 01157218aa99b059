package io.hsmoperator.metrics;

import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * The operator SDK's own metrics, per controller only. The extension's default also keeps timers and counters for every
 * resource: with 1,000 HsmKeys that was about 3,000 histograms in the heap and as many series on each scrape, growing with
 * every tenant's objects. Per-resource figures that matter (version age, next rotation) are in {@link ResourceMetrics}.
 */
@Singleton
public class SdkMetrics {
    @Produces
    @Singleton
    Metrics metrics(MeterRegistry registry) {
        return MicrometerMetrics.withoutPerResourceMetrics(registry);
    }
}
