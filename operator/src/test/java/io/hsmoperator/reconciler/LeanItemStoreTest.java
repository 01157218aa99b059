package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.FieldsV1;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class LeanItemStoreTest {
    @Test
    void cachedObjectsKeepEverythingButManagedFieldsAndTheLastAppliedCopy() {
        ConfigMap cm = new ConfigMapBuilder().withNewMetadata().withName("payments-signing-key").withNamespace("payments")
                .withResourceVersion("42").addToLabels("hsmoperator.io/hsmkey", "payments-signing")
                .addToAnnotations(LeanItemStore.LAST_APPLIED, "{\"apiVersion\":\"v1\"}")
                .addToAnnotations("hsmoperator.io/rotate-now", "2026-11-30")
                .withManagedFields(new ManagedFieldsEntryBuilder().withManager("kubectl").withOperation("Apply")
                        .withFieldsV1(new FieldsV1()).build())
                .endMetadata().withData(Map.of("keyId", "https://contoso.managedhsm.azure.net/keys/payments-signing/1")).build();
        LeanItemStore<ConfigMap> store = new LeanItemStore<>();
        store.put(Cache.metaNamespaceKeyFunc(cm), cm);

        ConfigMap cached = store.get("payments/payments-signing-key");
        assertNull(cached.getMetadata().getManagedFields());
        assertEquals(Map.of("hsmoperator.io/rotate-now", "2026-11-30"), cached.getMetadata().getAnnotations());
        assertEquals(Map.of("hsmoperator.io/hsmkey", "payments-signing"), cached.getMetadata().getLabels());
        assertEquals("42", cached.getMetadata().getResourceVersion());
        assertEquals("https://contoso.managedhsm.azure.net/keys/payments-signing/1", cached.getData().get("keyId"));
    }
}
