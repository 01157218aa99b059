package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.kube.ProxiedApiServerResource;
import io.hsmoperator.kube.TcpProxy;
import io.hsmoperator.kube.TestCluster;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator reaches the API server through a proxy the test takes away for a while, as an API server restart or a
 * network partition would; the test itself reads the API server directly.
 */
@QuarkusTest
@TestProfile(ApiServerOutageIT.Proxied.class)
class ApiServerOutageIT extends OperatorTestBase {
    public static class Proxied implements QuarkusTestProfile {
        @Override
        public boolean disableGlobalTestResources() {
            return true;
        }

        /** A client that gives up after one retry, so that the outage reaches the operator's own handling. */
        @Override
        public java.util.Map<String, String> getConfigOverrides() {
            return java.util.Map.of("quarkus.kubernetes-client.request-retry-backoff-limit", "1");
        }

        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(ProxiedApiServerResource.class));
        }
    }

    @Test
    void aSecurityDomainDownloadedWhileTheApiServerIsAwayIsStoredWhenItReturnsAndNeverDownloadedTwice() throws Exception {
        TcpProxy proxy = ProxiedApiServerResource.proxy();
        apply(officersSecret("sd-officers", 3, "2"));
        String azureName = uniqueHsmName("outage");
        // Azure takes four seconds to answer the download: the API server goes away in the middle of it.
        emulator.controls().addFault(Controls.Fault.delay("POST", azureName, ".*securitydomain/download.*", 4000, 1));
        apply(managedHsm("sd", azureName));
        String output = "sd-security-domain";
        await().atMost(Duration.ofSeconds(60)).until(() -> TestCluster.admin().secrets().inNamespace(ns).withName(output).get() != null);
        proxy.cut();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> downloads() == 1);
            Thread.sleep(4000);
            Secret during = TestCluster.admin().secrets().inNamespace(ns).withName(output).get();
            assertFalse(during.getData() != null && during.getData().containsKey(ManagedHsmReconciler.BLOB_KEY),
                    "the API server was away when the blob arrived");
        } finally {
            proxy.restore();
        }
        assertTrue(CapturedLogs.all().contains("SecurityDomainNotStored"), "the failed write was reported, not retried blindly");
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "sd", "Ready", "True", null, Duration.ofSeconds(90));
        assertEquals(output, ready.getStatus().securityDomainSecret);
        Secret stored = TestCluster.admin().secrets().inNamespace(ns).withName(output).get();
        assertTrue(stored.getData().get(ManagedHsmReconciler.BLOB_KEY).length() > 100, "the blob held in memory was written");
        assertEquals(1L, downloads(), "stored from memory, never downloaded a second time");
        assertTrue(eventReasons().contains("SecurityDomainStored"));
    }

    private long downloads() {
        return journalSinceMark(e -> e.method().equals("POST") && e.path().contains("securitydomain/download") && e.status() < 300).size();
    }
}
