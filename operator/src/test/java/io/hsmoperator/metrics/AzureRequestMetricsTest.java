package io.hsmoperator.metrics;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Operation tags: method and path template, with every name, ID and version replaced, so series stay bounded. */
class AzureRequestMetricsTest {
    @Test
    void dataPlanePathsBecomeTemplates() {
        assertEquals("POST /keys/{name}/create", AzureRequestMetrics.operation("POST", "/keys/payments-signing/create"));
        assertEquals("GET /keys/{name}", AzureRequestMetrics.operation("GET", "/keys/payments-signing/"));
        assertEquals("GET /keys/{name}/{version}", AzureRequestMetrics.operation("GET", "/keys/k1/0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
        assertEquals("POST /keys/{name}/{version}/sign", AzureRequestMetrics.operation("POST", "/keys/k1/0a1b2c/sign"));
        assertEquals("GET /keys/{name}/versions", AzureRequestMetrics.operation("GET", "/keys/k1/versions"));
        assertEquals("PUT /keys/{name}/rotationpolicy", AzureRequestMetrics.operation("PUT", "/keys/k1/rotationpolicy"));
        assertEquals("POST /deletedkeys/{name}/recover", AzureRequestMetrics.operation("POST", "/deletedkeys/k1/recover"));
        // A key named like an action is still a name.
        assertEquals("POST /keys/{name}/create", AzureRequestMetrics.operation("POST", "/keys/create/create"));
        assertEquals("PUT /providers/Microsoft.Authorization/roleAssignments/{id}",
                AzureRequestMetrics.operation("PUT", "/providers/Microsoft.Authorization/roleAssignments/5f0e6a6c-1111-4222-8333-944445555666"));
        assertEquals("GET /keys/providers/Microsoft.Authorization/roleAssignments/{id}",
                AzureRequestMetrics.operation("GET", "/keys/providers/Microsoft.Authorization/roleAssignments/5f0e6a6c-1111-4222-8333-944445555666"));
        assertEquals("GET /keys/{name}/providers/Microsoft.Authorization/roleDefinitions",
                AzureRequestMetrics.operation("GET", "/keys/k1/providers/Microsoft.Authorization/roleDefinitions"));
        assertEquals("GET /securitydomain/download/pending", AzureRequestMetrics.operation("GET", "/securitydomain/download/pending"));
        assertEquals("GET /", AzureRequestMetrics.operation("GET", "/"));
    }

    @Test
    void armPathsKeepCollectionsAndProvidersAndDropNames() {
        assertEquals("PUT /subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/managedHSMs/{}",
                AzureRequestMetrics.operation("PUT", "/subscriptions/6d3a2f1e-9b8c/resourceGroups/rg-payments/providers/Microsoft.KeyVault/managedHSMs/hsm-prod"));
        assertEquals("GET /subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/operationResults/{}",
                AzureRequestMetrics.operation("GET", "/subscriptions/6d3a/providers/Microsoft.KeyVault/locations/westeurope/operationResults/abc"));
        assertEquals("PUT /subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/managedHSMs/{}/providers/Microsoft.Insights/diagnosticSettings/{}",
                AzureRequestMetrics.operation("PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h"
                        + "/providers/Microsoft.Insights/diagnosticSettings/to-la"));
        assertEquals("POST /subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/managedHSMs/{}/activate",
                AzureRequestMetrics.operation("POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h/activate"));
    }
}
