package io.hsmoperator.emulator;

import com.azure.core.exception.HttpResponseException;
import com.azure.core.http.policy.FixedDelayOptions;
import com.azure.core.http.policy.RetryOptions;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.KeyClientBuilder;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The test controls: faults matched by method and path, the controllable clock, the journal; and parallel service. */
class EmulatorControlsTest extends EmulatorTestBase {
    private String hsmUri;
    private String hsm;
    private KeyClient keys;

    @BeforeAll
    void hsm() throws Exception {
        hsm = hsmName("controls");
        hsmUri = HsmFixtures.readyHsm(admin, "rg-controls", hsm, HsmFixtures.CRYPTO_USER);
        keys = admin.keys(hsmUri);
    }

    private KeyClient noRetryKeys() {
        return new KeyClientBuilder().vaultUrl(hsmUri).credential(admin.credential).httpClient(admin.http)
                .disableChallengeResourceVerification().retryOptions(new RetryOptions(new FixedDelayOptions(0, Duration.ZERO))).buildClient();
    }

    @Test
    void statusFaultsMatchMethodEndpointAndPath() {
        keys.createEcKey(new CreateEcKeyOptions("faulty"));
        emulator.controls().addFault(Controls.Fault.status("GET", hsm, "/keys/faulty", 429, 2, 1));
        HttpResponseException throttled = assertThrows(HttpResponseException.class, () -> noRetryKeys().getKey("faulty"));
        assertEquals(429, throttled.getResponse().getStatusCode());
        assertEquals("2", throttled.getResponse().getHeaderValue("Retry-After"));
        assertTrue(throttled.getMessage().contains("Throttled"));
        assertEquals("faulty", noRetryKeys().getKey("faulty").getName(), "the fault was for one request");

        emulator.controls().addFault(Controls.Fault.status("GET", hsm, "/keys/faulty", 503, 1, 1));
        Instant start = Instant.now();
        assertEquals("faulty", keys.getKey("faulty").getName(), "the SDK's retry policy recovers from a 503");
        assertTrue(Duration.between(start, Instant.now()).toMillis() >= 900, "and waited for Retry-After");
        List<Controls.JournalEntry> gets = emulator.controls().journal(e -> e.path().equals("/keys/faulty") && e.method().equals("GET"));
        assertTrue(gets.stream().anyMatch(e -> e.status() == 503));
        Controls.JournalEntry ok = gets.get(gets.size() - 1);
        assertEquals(200, ok.status());
        assertEquals(admin.principal.objectId(), ok.principal());
        assertEquals(hsm, ok.endpoint());
        assertTrue(ok.query().contains("api-version"));
    }

    @Test
    void aConnectionDroppedAfterCommitLeavesTheChangeMade() {
        emulator.controls().addFault(Controls.Fault.dropAfterCommit("POST", hsm, "/keys/dropped/create", 1));
        assertThrows(RuntimeException.class, () -> noRetryKeys().createEcKey(new CreateEcKeyOptions("dropped")));
        assertEquals(1, keys.listPropertiesOfKeyVersions("dropped").stream().count(), "Azure committed the version the client never saw");
        emulator.controls().addFault(Controls.Fault.dropAfterCommit("POST", hsm, "/keys/dropped/create", 1));
        keys.createEcKey(new CreateEcKeyOptions("dropped"));
        assertEquals(3, keys.listPropertiesOfKeyVersions("dropped").stream().count(),
                "a client that retries blindly creates a duplicate version: what the operator must guard against");
    }

    @Test
    void delaysAndDropsBeforeHandling() {
        emulator.controls().addFault(Controls.Fault.delay("GET", hsm, "/keys", 300, 1));
        Instant start = Instant.now();
        keys.listPropertiesOfKeys().stream().count();
        assertTrue(Duration.between(start, Instant.now()).toMillis() >= 300);
        emulator.controls().addFault(Controls.Fault.drop("POST", hsm, "/keys/never/create", 1));
        assertThrows(RuntimeException.class, () -> noRetryKeys().createEcKey(new CreateEcKeyOptions("never")));
        assertThrows(HttpResponseException.class, () -> keys.getKey("never"), "a request dropped before handling changes nothing");
    }

    @Test
    void theClockMovesServiceTimeOnly() {
        Instant before = emulator.controls().now();
        KeyVaultKey k1 = keys.createEcKey(new CreateEcKeyOptions("clocked"));
        emulator.controls().advance(Duration.ofDays(100));
        KeyVaultKey k2 = keys.createEcKey(new CreateEcKeyOptions("clocked"));
        long days = Duration.between(k1.getProperties().getCreatedOn(), k2.getProperties().getCreatedOn()).toDays();
        assertEquals(100, days, "creation times follow the emulated clock");
        assertTrue(emulator.controls().now().isAfter(before.plus(Duration.ofDays(99))));
        keys.getKey("clocked");
        assertThrows(IllegalArgumentException.class, () -> emulator.controls().advance(Duration.ofDays(-1)));
    }

    @Test
    void servesConcurrentRequestsInParallel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            Set<String> ids = ConcurrentHashMap.newKeySet();
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                int n = i;
                futures.add(pool.submit(() -> {
                    KeyVaultKey k = keys.createEcKey(new CreateEcKeyOptions("parallel-" + (n % 8)));
                    ids.add(k.getId());
                    keys.getKey("parallel-" + (n % 8));
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            assertEquals(64, ids.size(), "every concurrent create made its own version");
            long versions = 0;
            for (int i = 0; i < 8; i++) {
                versions += keys.listPropertiesOfKeyVersions("parallel-" + i).stream().count();
            }
            assertEquals(64, versions);
        } finally {
            pool.shutdownNow();
        }
        assertFalse(emulator.controls().journal(e -> e.status() >= 500).stream().anyMatch(e -> e.path().startsWith("/keys/parallel")));
    }
}
