package io.hsmoperator.reconciler;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpecReadingTest {
    private static final ObjectMapper LENIENT = SpecReading.lenient(new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false));

    private static String hsmKey(String uid, String version, String spec) {
        return """
                {"apiVersion":"hsmoperator.io/v1alpha1","kind":"HsmKey",
                 "metadata":{"name":"k","namespace":"team-a","uid":"%s","resourceVersion":"%s","generation":1},
                 "spec":%s}""".formatted(uid, version, spec);
    }

    @Test
    void valuesTheModelDoesNotKnowAreReadAsUnsetAndNamed() throws Exception {
        String uid = UUID.randomUUID().toString();
        HsmKey k = LENIENT.readValue(hsmKey(uid, "7", """
                {"hsmRef":{"name":"hsm"},"keyType":"EC-HSM","curve":"P-999","keySize":"big","operations":"sign",
                 "rotation":{"keepEnabledVersions":{"n":2}},"deletionPolicy":"Dlete"}"""), HsmKey.class);
        assertEquals(HsmKeySpec.KeyType.EC_HSM, k.getSpec().keyType, "what can be read is read");
        assertNull(k.getSpec().curve);
        assertNull(k.getSpec().keySize);
        List<String> unreadable = SpecReading.unreadable(k);
        assertTrue(unreadable.contains("spec.curve: 'P-999' is not one of [P-256, P-384, P-521, P-256K]"), unreadable.toString());
        assertTrue(unreadable.contains("spec.keySize: 'big' is not a number"), unreadable.toString());
        assertTrue(unreadable.stream().anyMatch(u -> u.startsWith("spec.operations: a string where a list belongs")), unreadable.toString());
        assertTrue(unreadable.stream().anyMatch(u -> u.startsWith("spec.rotation.keepEnabledVersions: an object where a whole number belongs")),
                unreadable.toString());
        assertTrue(unreadable.stream().anyMatch(u -> u.startsWith("spec.deletionPolicy: 'Dlete'")), unreadable.toString());

        HsmKey fixed = LENIENT.readValue(hsmKey(uid, "8", "{\"hsmRef\":{\"name\":\"hsm\"},\"keyType\":\"EC-HSM\",\"curve\":\"P-384\"}"),
                HsmKey.class);
        assertEquals(List.of(), SpecReading.unreadable(fixed), "a corrected version is read in full");
        assertEquals(unreadable, SpecReading.unreadable(k), "a reconcile still holding the old version sees its problems");
    }

    @Test
    void aStringWhereAnObjectBelongsIsNamedToo() throws Exception {
        String uid = UUID.randomUUID().toString();
        HsmRoleAssignment a = LENIENT.readValue("""
                {"apiVersion":"hsmoperator.io/v1alpha1","kind":"HsmRoleAssignment",
                 "metadata":{"name":"a","namespace":"team-a","uid":"%s","resourceVersion":"1"},
                 "spec":{"hsmRef":"payments-hsm","role":"Managed HSM Crypto User","principalId":"x"}}""".formatted(uid),
                HsmRoleAssignment.class);
        assertNull(a.getSpec().hsmRef);
        assertTrue(SpecReading.unreadable(a).stream().anyMatch(u -> u.startsWith("spec.hsmRef: a string where an object belongs")),
                SpecReading.unreadable(a).toString());
    }

    @Test
    void aStatusValueTheModelCannotHoldIsDroppedNotThrown() throws Exception {
        HsmKey k = LENIENT.readValue("""
                {"apiVersion":"hsmoperator.io/v1alpha1","kind":"HsmKey",
                 "metadata":{"name":"k","namespace":"team-a","uid":"%s","resourceVersion":"3"},
                 "spec":{"hsmRef":{"name":"hsm"},"keyType":"EC-HSM"},
                 "status":{"versionCount":3000000000,"currentVersion":"abc"}}""".formatted(UUID.randomUUID()), HsmKey.class);
        assertEquals("abc", k.getStatus().currentVersion);
        assertNull(k.getStatus().versionCount);
        assertEquals(List.of(), SpecReading.unreadable(k), "the status is the operator's to rewrite, not an invalid spec");
    }

    @Test
    void otherObjectsAreReadAsStrictlyAsBefore() {
        assertThrows(Exception.class, () -> LENIENT.readValue("{\"curve\":\"P-999\"}", HsmKeySpec.class),
                "outside one of our resources nothing is swallowed");
    }
}
