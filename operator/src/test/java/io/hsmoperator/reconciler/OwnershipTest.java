package io.hsmoperator.reconciler;

import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cluster identity in ownership tags, and the tags' two formats. */
class OwnershipTest {
    private static final String KUBE_SYSTEM_UID = "8b7e54c1-3f0a-4d8e-9a51-0c2d4e6f8a1b";

    @Test
    void anUnsetClusterIdIsTheKubeSystemNamespacesUid() {
        assertEquals(KUBE_SYSTEM_UID, OperatorInstance.clusterId(Optional.empty(), () -> KUBE_SYSTEM_UID));
        assertEquals("prod-weu", OperatorInstance.clusterId(Optional.of(" prod-weu "), () -> {
            throw new AssertionError("a configured identity needs no read");
        }));
    }

    @Test
    void aClusterIdEveryInstallSharesIsRefusedAtStartUp() {
        for (String shared : new String[]{"default", "Default", ""}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> OperatorInstance.clusterId(Optional.of(shared),
                    () -> KUBE_SYSTEM_UID));
            assertTrue(e.getMessage().contains("Two clusters with the same identity"), e.getMessage());
        }
        IllegalStateException slash = assertThrows(IllegalStateException.class, () -> OperatorInstance.clusterId(Optional.of("a/b"),
                () -> KUBE_SYSTEM_UID));
        assertTrue(slash.getMessage().contains("'/'"), slash.getMessage());
        IllegalStateException unreadable = assertThrows(IllegalStateException.class, () -> OperatorInstance.clusterId(Optional.empty(),
                () -> null));
        assertTrue(unreadable.getMessage().contains("namespaces/kube-system"), unreadable.getMessage());
    }

    @Test
    void aTagNamesItsOwnerExactlyAndTheEarlierFormatStillParses() {
        assertEquals(Optional.of(new Ownership.Owner("c1", "team-a", "signing", "0b1c")), Ownership.Owner.parse("c1/team-a/signing/0b1c"));
        assertEquals(Optional.of(new Ownership.Owner("c1", "team-a", "signing", null)), Ownership.Owner.parse("c1/team-a/signing"));
        assertEquals("c1/team-a/signing", Ownership.Owner.parse("c1/team-a/signing/0b1c").orElseThrow().toString());
        for (String foreign : new String[]{"terraform", "a/b", "a//c/d", "a/b/c/d/e", ""}) {
            assertTrue(Ownership.Owner.parse(foreign).isEmpty(), foreign);
        }
        assertTrue(Ownership.Owner.parse(null).isEmpty());
    }

    @Test
    void anObjectWithoutTagsCarriesItsOwnerAtTheEndOfItsDescription() {
        String marked = Ownership.marked("Rotate the payments keys", "c1/payments/key-rotator");
        assertEquals("Rotate the payments keys [hsmoperator.io-owner: c1/payments/key-rotator]", marked);
        assertEquals("c1/payments/key-rotator", Ownership.markOf(marked));
        assertEquals("[hsmoperator.io-owner: c1/a/b]", Ownership.marked(null, "c1/a/b"));
        assertEquals("c1/a/b", Ownership.markOf(Ownership.marked("  ", "c1/a/b")));
        for (String unmarked : new String[]{null, "", "made by hand", "[hsmoperator.io-owner: c1/a/b] then more words",
                "[hsmoperator.io-owner: ]"}) {
            assertEquals(null, Ownership.markOf(unmarked), unmarked);
        }
    }
}
