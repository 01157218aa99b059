package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.privateendpoint.PrivateEndpointSpec;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator as an adversarial tenant meets it on a shared cluster: another namespace tries to take over an HSM or a
 * key that a live resource owns, to declare an HSM where the operator's configuration does not let it, to grant on every
 * key of an HSM it may only use for its own keys, and to approve its own private endpoint. Every attempt is refused with
 * no Azure write; the owner's resources keep working. The test configuration lets namespaces t* declare HSMs in
 * subscription SUBSCRIPTION, resource groups rg-* (hsm.tenancy.managed-hsm-namespaces).
 */
@QuarkusTest
class TenancyIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);

    /** Runs {@code body} with this test's helpers (apply, get, awaitCondition) in another namespace. */
    private <T> T in(String namespace, Callable<T> body) throws Exception {
        String own = ns;
        ns = namespace;
        try {
            return body.call();
        } finally {
            ns = own;
        }
    }

    /** Azure writes since {@code mark} to the HSM named {@code azureName}: its ARM resource or its data plane. */
    private List<Controls.JournalEntry> writesSince(long mark, String azureName) {
        return emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && (e.endpoint().equals(azureName)
                || e.endpoint().equals("arm") && e.path().contains(azureName)));
    }

    private ManagedHsm allowing(ManagedHsm hsm, String namespace) {
        ManagedHsm h = get(ManagedHsm.class, hsm.getMetadata().getName());
        h.getSpec().allowedNamespaces = namespace == null ? List.of() : List.of(namespace);
        return update(h);
    }

    private HsmKey keyIn(String namespace, String name, String hsmNamespace) {
        HsmKey k = hsmKey(name, "hsm", HsmKeySpec.KeyType.EC_HSM);
        k.getMetadata().setNamespace(namespace);
        k.getSpec().hsmRef = new HsmReference("hsm", hsmNamespace);
        return k;
    }

    @Test
    void anotherNamespaceCannotTakeOverAnHsmWhoseOwnerLives() throws Exception {
        ManagedHsm owned = readyHsm("hsm");
        String azureName = owned.getSpec().azureName;
        String intruder = otherNamespace();
        long mark = emulator.controls().lastSequence();
        in(intruder, () -> {
            apply(officersSecret("stolen-officers", 3, "2"));
            ManagedHsm stolen = managedHsm("stolen", azureName);
            stolen.getSpec().resourceGroup = owned.getSpec().resourceGroup;
            stolen.getSpec().adoptExisting = true;
            stolen.getSpec().tags = Map.of("owner", "intruder");
            apply(stolen);
            ManagedHsm observer = managedHsm("observer", azureName);
            observer.getSpec().resourceGroup = owned.getSpec().resourceGroup;
            observer.getSpec().management = ManagedHsmSpec.Management.ObserveOnly;
            apply(observer);
            ManagedHsm s = awaitCondition(ManagedHsm.class, "stolen", "Ready", "False", "OwnershipConflict", WAIT);
            assertTrue(condition(s, "Ready").getMessage().contains("belongs to test-cluster/" + owned.getMetadata().getNamespace()
                    + "/hsm, which still exists"), condition(s, "Ready").getMessage());
            assertNull(s.getStatus().hsmUri, "nothing about the HSM is reported to the intruder");
            awaitCondition(ManagedHsm.class, "observer", "Ready", "False", "OwnershipConflict", WAIT);
            // Through its own (conflicting) ManagedHsm, the intruder cannot reach the HSM's keys either.
            HsmKey planted = keyIn(intruder, "planted", null);
            planted.getSpec().hsmRef = new HsmReference("stolen", null);
            apply(planted);
            awaitCondition(HsmKey.class, "planted", "Ready", "False", "WaitingForHsm", WAIT);
            client.resource(get(HsmKey.class, "planted")).delete();
            return null;
        });
        assertEquals(List.of(), writesSince(mark, azureName), "not one write for the intruder");
        assertEquals(ownerTag(ManagedHsm.class, "hsm"), azureHsm(azureName).orElseThrow().tags.get(Ownership.TAG));
        assertFalse(azureHsm(azureName).orElseThrow().tags.containsKey("owner"));

        // Once the owner is gone (deleted, Retain), the HSM is still not the other namespace's to take: it was made in ns.
        String home = ns;
        client.resource(get(ManagedHsm.class, "hsm")).delete();
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "hsm") == null);
        long gone = emulator.controls().lastSequence();
        in(intruder, () -> {
            touch(ManagedHsm.class, "stolen");
            await().atMost(WAIT).until(() -> condition(get(ManagedHsm.class, "stolen"), "Ready").getMessage()
                    .contains("was made by namespace " + home));
            return null;
        });
        Thread.sleep(1500);
        assertEquals(List.of(), writesSince(gone, azureName), "not one write for the intruder, owner or no owner");

        // Its own namespace may reclaim it, and says whose it was.
        apply(officersSecret("again-officers", 3, "2"));
        ManagedHsm again = managedHsm("again", azureName);
        again.getSpec().resourceGroup = owned.getSpec().resourceGroup;
        again.getSpec().adoptExisting = true;
        apply(again);
        awaitCondition(ManagedHsm.class, "again", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals(ownerTag(ManagedHsm.class, "again"), azureHsm(azureName).orElseThrow().tags.get(Ownership.TAG));
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("Adopted")
                && e.getMessage().contains("whose owner test-cluster/" + ns + "/hsm no longer exists")));
    }

    @Test
    void aKeyAnotherNamespaceMadeIsNeverTakenOverRecoveredOrGrantedOnFromHere() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        // The owner hands one key back to Azure (deleted with Retain) and crypto-shreds another (Delete: soft-deleted).
        apply(hsmKey("released", "hsm", HsmKeySpec.KeyType.EC_HSM));
        HsmKey shredded = hsmKey("shredded", "hsm", HsmKeySpec.KeyType.EC_HSM);
        shredded.getSpec().deletionPolicy = HsmKeySpec.DeletionPolicy.Delete;
        apply(shredded);
        awaitCondition(HsmKey.class, "released", "Ready", "True", null, WAIT);
        awaitCondition(HsmKey.class, "shredded", "Ready", "True", null, WAIT);
        client.resource(get(HsmKey.class, "released")).delete();
        client.resource(get(HsmKey.class, "shredded")).delete();
        await().atMost(WAIT).until(() -> get(HsmKey.class, "released") == null && get(HsmKey.class, "shredded") == null);
        assertTrue(emulator.<Boolean>inspect(st -> st.hsms.get(azureName).deletedKeys.containsKey("shredded")));
        // And a key made outside the operator (the portal, Terraform) carries no owner at all.
        azureAs(emulator.builtInPrincipal()).keys(hsm.getStatus().hsmUri)
                .createEcKey(new com.azure.security.keyvault.keys.models.CreateEcKeyOptions("portal"));

        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            HsmKey take = keyIn(team, "take", hsmNs);
            take.getSpec().keyName = "released";
            take.getSpec().adoptExisting = true;
            apply(take);
            HsmKey revive = keyIn(team, "revive", hsmNs);
            revive.getSpec().keyName = "shredded";
            revive.getSpec().recoverDeleted = true;
            apply(revive);
            HsmKey portal = keyIn(team, "portal", hsmNs);
            portal.getSpec().adoptExisting = true;
            apply(portal);
            apply(roleAssignment(team, "use-it", "take", null, hsmNs));
            assertTrue(condition(awaitCondition(HsmKey.class, "take", "Ready", "False", "OwnershipConflict", WAIT), "Ready").getMessage()
                    .contains("was made by namespace " + hsmNs));
            assertTrue(condition(awaitCondition(HsmKey.class, "revive", "Ready", "False", "OwnershipConflict", WAIT), "Ready").getMessage()
                    .contains("not recovered from here"));
            assertTrue(condition(awaitCondition(HsmKey.class, "portal", "Ready", "False", "OwnershipConflict", WAIT), "Ready").getMessage()
                    .contains("adopted only from the HSM's own namespace " + hsmNs));
            awaitCondition(HsmRoleAssignment.class, "use-it", "Ready", "False", "KeyNotReady", WAIT);
            return null;
        });
        Thread.sleep(1500);
        assertEquals(List.of(), writesSince(mark, azureName), "not one write for the other namespace: no adoption, recovery or grant");
        assertTrue(emulator.<Boolean>inspect(st -> st.hsms.get(azureName).deletedKeys.containsKey("shredded")), "still soft-deleted");

        // The HSM's own namespace may reclaim what is left in its HSM: its own released key, and the portal's.
        HsmKey reclaim = hsmKey("reclaim", "hsm", HsmKeySpec.KeyType.EC_HSM);
        reclaim.getSpec().keyName = "released";
        reclaim.getSpec().adoptExisting = true;
        apply(reclaim);
        HsmKey portal = hsmKey("portal", "hsm", HsmKeySpec.KeyType.EC_HSM);
        portal.getSpec().adoptExisting = true;
        apply(portal);
        awaitCondition(HsmKey.class, "reclaim", "Ready", "True", null, WAIT);
        awaitCondition(HsmKey.class, "portal", "Ready", "True", null, WAIT);
        assertEquals(ownerTag(HsmKey.class, "reclaim"), emulator.<String>inspect(st -> st.hsms.get(azureName).keys.get("released").latest()
                .tags.get(Ownership.TAG)));
    }

    @Test
    void theHsmsNamespaceReclaimsAKeyAnotherNamespaceLeftAndSaysSo() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        in(team, () -> {
            apply(keyIn(team, "left", hsmNs));
            awaitCondition(HsmKey.class, "left", "Ready", "True", null, WAIT);
            client.resource(get(HsmKey.class, "left")).delete();
            await().atMost(WAIT).until(() -> get(HsmKey.class, "left") == null);
            return null;
        });
        HsmKey reclaim = hsmKey("reclaimed", "hsm", HsmKeySpec.KeyType.EC_HSM);
        reclaim.getSpec().keyName = "left";
        reclaim.getSpec().adoptExisting = true;
        apply(reclaim);
        awaitCondition(HsmKey.class, "reclaimed", "Ready", "True", null, WAIT);
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("Adopted") && "Warning".equals(e.getType())
                && e.getMessage().contains("reclaimed it from another namespace")), String.valueOf(eventReasons()));
    }

    @Test
    void aGrantNeverReachesAKeyTheReferencedHsmKeyDoesNotOwnWhateverItsStatusSays() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        apply(hsmKey("crown-jewels", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "crown-jewels", "Ready", "True", null, WAIT);
        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            HsmKey fake = keyIn(team, "fake", hsmNs);
            fake.getSpec().keyName = "crown-jewels";
            apply(fake);
            awaitCondition(HsmKey.class, "fake", "Ready", "False", "OwnershipConflict", WAIT);
            // A tenant that may write its HsmKey's status claims it is Ready.
            client.resources(HsmKey.class).inNamespace(team).withName("fake").editStatus(k -> {
                k.getStatus().conditions.stream().filter(c -> c.getType().equals("Ready")).forEach(c -> {
                    c.setStatus("True");
                    c.setReason("Ready");
                });
                return k;
            });
            apply(roleAssignment(team, "steal", "fake", null, hsmNs));
            Thread.sleep(5000);
            return null;
        });
        assertEquals(List.of(), writesSince(mark, hsm.getSpec().azureName).stream().filter(e -> e.path().contains("roleAssignments")).toList(),
                "no grant on a key another namespace owns");
    }

    @Test
    void onlyConfiguredNamespacesDeclareHsmsAndOnlyWhereTheyMay() throws Exception {
        String outsider = "intruder-" + UUID.randomUUID().toString().substring(0, 6);
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(outsider).endMetadata().build()).create();
        long mark = emulator.controls().lastSequence();
        String azureName = uniqueHsmName("outside");
        in(outsider, () -> {
            apply(managedHsm("hsm", azureName));
            ManagedHsm r = awaitCondition(ManagedHsm.class, "hsm", "Ready", "False", "NotPermitted", WAIT);
            assertTrue(condition(r, "Ready").getMessage().contains("Namespace " + outsider + " may not declare a ManagedHsm"));
            return null;
        });
        ManagedHsm elsewhere = managedHsm("elsewhere", uniqueHsmName("elsewhere"));
        elsewhere.getSpec().resourceGroup = "prod-payments";
        elsewhere.getSpec().deletionPolicy = ManagedHsmSpec.DeletionPolicy.Delete;
        elsewhere.getSpec().confirmDeletionOf = elsewhere.getSpec().azureName;
        apply(elsewhere);
        assertTrue(condition(awaitCondition(ManagedHsm.class, "elsewhere", "Ready", "False", "NotPermitted", WAIT), "Ready").getMessage()
                .contains("resource group prod-payments"));
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && !e.endpoint().equals("entra")
                && (e.path().contains(azureName) || e.path().contains("prod-payments"))), "not even a read");

        // A refused ManagedHsm never reached Azure: deleting it, even with deletionPolicy Delete, touches nothing.
        client.resource(get(ManagedHsm.class, "elsewhere")).delete();
        await().atMost(WAIT).until(() -> get(ManagedHsm.class, "elsewhere") == null);
        assertEquals(List.of(), writesSince(mark, elsewhere.getSpec().azureName));
        client.namespaces().withName(outsider).delete();
    }

    @Test
    void anAllowedNamespaceUsesTheHsmForItsOwnKeysOnly() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            apply(keyIn(team, "team-key", hsmNs));
            awaitCondition(HsmKey.class, "team-key", "Ready", "True", null, WAIT);
            HsmRoleAssignment everything = roleAssignment(team, "everything", null, HsmRoleAssignmentSpec.Scope.KEYS, hsmNs);
            apply(everything);
            HsmRoleAssignment mine = roleAssignment(team, "mine", "team-key", null, hsmNs);
            apply(mine);
            HsmRoleAssignment refused = awaitCondition(HsmRoleAssignment.class, "everything", "Ready", "False", "NotPermitted", WAIT);
            assertTrue(condition(refused, "Ready").getMessage().contains("Scopes / and /keys can be granted only from " + hsmNs));
            awaitCondition(HsmRoleAssignment.class, "mine", "Ready", "True", null, WAIT);
            return null;
        });
        List<Controls.JournalEntry> grants = writesSince(mark, hsm.getSpec().azureName).stream()
                .filter(e -> e.path().contains("roleAssignments")).toList();
        assertEquals(1, grants.size(), "one grant, on the team's own key: " + grants);
        assertTrue(grants.get(0).path().contains("/keys/team-key/"), grants.toString());

        // A key of the HSM's own namespace cannot be adopted from the other namespace while its owner lives.
        apply(hsmKey("shared", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "shared", "Ready", "True", null, WAIT);
        long before = emulator.controls().lastSequence();
        in(team, () -> {
            HsmKey grab = keyIn(team, "grab", hsmNs);
            grab.getSpec().keyName = "shared";
            grab.getSpec().adoptExisting = true;
            grab.getSpec().enabled = false;
            apply(grab);
            HsmKey r = awaitCondition(HsmKey.class, "grab", "Ready", "False", "OwnershipConflict", WAIT);
            assertTrue(condition(r, "Ready").getMessage().contains("which still exists"), condition(r, "Ready").getMessage());
            return null;
        });
        assertEquals(List.of(), writesSince(before, hsm.getSpec().azureName).stream().filter(e -> e.path().contains("/keys/shared")).toList(),
                "the other namespace's key was not touched");
    }

    @Test
    void aPrivateEndpointFromAnotherNamespaceCannotApproveItself() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        in(team, () -> {
            PrivateEndpoint p = new PrivateEndpoint();
            p.setMetadata(new ObjectMetaBuilder().withName("self-approved").withNamespace(team).build());
            PrivateEndpointSpec s = new PrivateEndpointSpec();
            s.hsmRef = new HsmReference("hsm", hsmNs);
            s.azureName = "pe-self-" + team;
            s.resourceGroup = "rg-net-" + team;
            s.location = "westeurope";
            s.subnetId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe";
            s.manualApproval = true;
            s.approveConnection = true;
            p.setSpec(s);
            apply(p);
            await().atMost(WAIT).until(() -> {
                PrivateEndpoint r = get(PrivateEndpoint.class, "self-approved");
                return r != null && r.getStatus() != null && condition(r, Conditions.READY) != null
                        && "AwaitingApproval".equals(condition(r, Conditions.READY).getReason())
                        && condition(r, Conditions.READY).getMessage().contains("honoured only for a PrivateEndpoint in the HSM's own namespace");
            });
            return null;
        });
        Thread.sleep(1500);
        assertTrue(journalSinceMark(e -> e.isWrite() && e.path().contains("privateEndpointConnections")).isEmpty(),
                "the connection was not approved from the requesting namespace");
    }

    @Test
    void aKeyWhosePermissionWasWithdrawnIsNotTouchedAndAbandonReleasesIt() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        in(team, () -> {
            HsmKey k = keyIn(team, "doomed", hsmNs);
            k.getSpec().deletionPolicy = HsmKeySpec.DeletionPolicy.Delete;
            apply(k);
            return awaitCondition(HsmKey.class, "doomed", "Ready", "True", null, WAIT);
        });
        allowing(hsm, null);
        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            client.resource(get(HsmKey.class, "doomed")).delete();
            HsmKey waiting = awaitCondition(HsmKey.class, "doomed", "Ready", "False", "DeletionBlocked", WAIT);
            assertTrue(condition(waiting, "Ready").getMessage().contains("does not allow namespace " + team));
            return null;
        });
        assertEquals(List.of(), writesSince(mark, hsm.getSpec().azureName), "the key is not deleted while the permission is withdrawn");
        in(team, () -> {
            HsmKey k = get(HsmKey.class, "doomed");
            k.getMetadata().getAnnotations().put(Conditions.ABANDON_ANNOTATION, "true");
            client.resource(k).patch();
            await().atMost(WAIT).until(() -> get(HsmKey.class, "doomed") == null);
            return null;
        });
        assertEquals(List.of(), writesSince(mark, hsm.getSpec().azureName), "abandon releases the resource without touching Azure");
        assertTrue(emulator.<Boolean>inspect(s -> s.hsms.get(hsm.getSpec().azureName).keys.containsKey("doomed")));
        assertTrue(client.v1().events().inNamespace(team).list().getItems().stream()
                .anyMatch(e -> e.getReason().equals("Abandoned") && "Warning".equals(e.getType())));
    }

    private HsmRoleAssignment roleAssignment(String namespace, String name, String keyRef, HsmRoleAssignmentSpec.Scope scope, String hsmNs) {
        return roleAssignment(namespace, name, new HsmReference("hsm", hsmNs), "Managed HSM Crypto User", UUID.randomUUID().toString(),
                keyRef, scope);
    }
}
