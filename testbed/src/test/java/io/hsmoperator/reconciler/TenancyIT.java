package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.api.roledefinition.HsmRoleDefinitionSpec;
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
 * The operator as an adversarial tenant meets it on a shared cluster. What a namespace cannot make it do, each with 0
 * Azure writes asserted from the emulator's journal:
 * <ul>
 * <li>take over an HSM another namespace made, its owner alive or gone (only the HSM's own namespace reclaims it);</li>
 * <li>declare an HSM where the operator's configuration does not let it;</li>
 * <li>adopt, recover or grant on a key another namespace made, released or crypto-shredded, or adopt a key nobody
 * tagged (only the HSM's namespace may reclaim them, and says so);</li>
 * <li>grant on a key its HsmKey does not own, however Ready that HsmKey's status claims to be;</li>
 * <li>grant at / or /keys, send the HSM's audit logs to its workspace, open a private endpoint to the HSM, or copy every
 * key of the HSM into its own blob container with an HsmBackup, without the owners' grant of that kind; approve its own endpoint's connection; place an endpoint in a subnet or DNS zone the
 * operator's configuration does not give it;</li>
 * <li>restore into the HSM without the owners' grant of HsmRestore, or, granted it, restore a key an HsmKey of another
 * namespace declares;</li>
 * <li>write anything to an HSM its owners only observe, back it up or restore it;</li>
 * <li>touch a key whose namespace's permission was withdrawn;</li>
 * <li>have a key's attestation fetched that its HsmKey does not own, or its attestation written over a ConfigMap the
 * operator did not create;</li>
 * <li>import key material (spec.importFrom) from a Secret of another namespace, or into a key name, or with a key exchange
 * key, that another namespace's HsmKey holds.</li>
 * </ul>
 * The test configuration lets namespaces t* declare HSMs in subscription SUBSCRIPTION, resource groups rg-*
 * (hsm.tenancy.managed-hsm-namespaces), and place private endpoints anywhere in that subscription.
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

    /** The owners of ManagedHsm "hsm" grant {@code namespace} the HSM-wide {@code kinds}. */
    private void granting(String namespace, ManagedHsmSpec.HsmWideGrant.Kind... kinds) {
        ManagedHsm h = get(ManagedHsm.class, "hsm");
        h.getSpec().allowedHsmWideKinds = List.of(new ManagedHsmSpec.HsmWideGrant(namespace, List.of(kinds)));
        update(h);
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
    void attestationIsFetchedOnlyForOwnKeysAndNeverWrittenOverAnotherConfigMap() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        apply(hsmKey("owned", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "owned", "Ready", "True", null, WAIT);

        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            HsmKey snoop = keyIn(team, "snoop", hsmNs);
            snoop.getSpec().keyName = "owned";
            snoop.getSpec().adoptExisting = true;
            snoop.getSpec().attestation = true;
            apply(snoop);
            client.configMaps().inNamespace(team).resource(new io.fabric8.kubernetes.api.model.ConfigMapBuilder().withNewMetadata()
                    .withName("mine-attestation").endMetadata().addToData("app", "settings").build()).create();
            HsmKey mine = keyIn(team, "mine", hsmNs);
            mine.getSpec().attestation = true;
            apply(mine);
            awaitCondition(HsmKey.class, "snoop", "Ready", "False", "OwnershipConflict", WAIT);
            awaitCondition(HsmKey.class, "mine", "Ready", "False", "PublishConflict", WAIT);
            return null;
        });
        Thread.sleep(1500);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(azureName)
                && e.path().endsWith("/attestation")), "no attestation asked for: not of another's key, not into another's ConfigMap");
        assertNull(client.configMaps().inNamespace(team).withName("snoop-attestation").get());
        assertEquals(Map.of("app", "settings"), client.configMaps().inNamespace(team).withName("mine-attestation").get().getData());
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
            assertTrue(condition(refused, "Ready").getMessage().contains("spec.allowedHsmWideKinds"), condition(refused, "Ready").getMessage());
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

    /**
     * Custom roles: a namespace the HSM does not admit defines none in it; an admitted one does, and its role is granted
     * only from its own namespace: another namespace naming the role's GUID in spec.role is refused, nothing granted.
     */
    @Test
    void customRolesAreDefinedOnlyFromAdmittedNamespacesAndGrantedOnlyFromTheirOwn() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        String outsider = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        long mark = emulator.controls().lastSequence();
        in(outsider, () -> {
            apply(roleDefinition(outsider, "intruder-role", hsmNs));
            awaitCondition(HsmRoleDefinition.class, "intruder-role", "Ready", "False", "RefNotPermitted", WAIT);
            return null;
        });
        assertEquals(List.of(), writesSince(mark, hsm.getSpec().azureName), "not one write for a namespace the HSM does not admit");
        String teamRole = in(team, () -> {
            apply(roleDefinition(team, "team-role", hsmNs));
            return awaitCondition(HsmRoleDefinition.class, "team-role", "Ready", "True", null, WAIT).getStatus().roleDefinitionName;
        });
        long granted = emulator.controls().lastSequence();
        // The HSM's own namespace may grant at /keys, but not another namespace's custom role.
        HsmRoleAssignment byGuid = roleAssignment(ns, "by-guid", null, HsmRoleAssignmentSpec.Scope.KEYS, null);
        byGuid.getSpec().role = teamRole;
        apply(byGuid);
        HsmRoleAssignment refused = awaitCondition(HsmRoleAssignment.class, "by-guid", "Ready", "False", "RefNotPermitted", WAIT);
        assertTrue(condition(refused, "Ready").getMessage().contains(team + "/team-role"), condition(refused, "Ready").getMessage());
        assertEquals(List.of(), writesSince(granted, hsm.getSpec().azureName).stream()
                .filter(e -> e.path().contains("roleAssignments") && e.method().equals("PUT")).toList(), "nothing granted");
    }

    private HsmRoleDefinition roleDefinition(String namespace, String name, String hsmNs) {
        HsmRoleDefinition d = new HsmRoleDefinition();
        d.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
        HsmRoleDefinitionSpec s = new HsmRoleDefinitionSpec();
        s.hsmRef = new HsmReference("hsm", hsmNs);
        s.roleName = name;
        s.dataActions = List.of("Microsoft.KeyVault/managedHsm/keys/read/action");
        d.setSpec(s);
        return d;
    }

    @Test
    void anImportReadsOnlyItsOwnNamespacesSecretAndNeverUsesAnotherNamespacesKeyName() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        HsmKey vault = hsmKey("vault-key", "hsm", HsmKeySpec.KeyType.EC_HSM);
        vault.getSpec().importFrom = importFrom("vault-blob");
        apply(vault);
        awaitCondition(HsmKey.class, "vault-key", "Ready", "False", "AwaitingKeyMaterial", WAIT);
        long mark = emulator.controls().lastSequence();
        io.fabric8.kubernetes.api.model.ConfigMap teamKek = in(team, () -> {
            // The same key name as the HSM namespace's import: its key exchange key is that namespace's.
            HsmKey grab = keyIn(team, "grab", hsmNs);
            grab.getSpec().keyName = "vault-key";
            grab.getSpec().importFrom = importFrom("grab-blob");
            apply(grab);
            HsmKey r = awaitCondition(HsmKey.class, "grab", "Ready", "False", "OwnershipConflict", WAIT);
            assertTrue(condition(r, "Ready").getMessage().contains("vault-key-kek"), condition(r, "Ready").getMessage());
            // Its own key, whose transfer blob sits only in a Secret of the HSM's namespace.
            HsmKey own = keyIn(team, "own", hsmNs);
            own.getSpec().importFrom = importFrom("shared-blob");
            apply(own);
            awaitCondition(HsmKey.class, "own", "Ready", "False", "AwaitingKeyMaterial", WAIT);
            return client.configMaps().inNamespace(team).withName("own-kek").get();
        });
        java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("EC");
        g.initialize(new java.security.spec.ECGenParameterSpec("secp256r1"));
        String blob = io.hsmoperator.emulator.OnPremHsm.transferBlob(teamKek.getData().get("kid"),
                io.hsmoperator.emulator.OnPremHsm.fromPem(teamKek.getData().get("kek.pem")), g.generateKeyPair().getPrivate().getEncoded(),
                io.hsmoperator.emulator.OnPremHsm.CKM_RSA_AES_KEY_WRAP);
        apply(new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("shared-blob").withNamespace(hsmNs)
                .endMetadata().addToStringData("key.byok", blob).build());
        Thread.sleep(4000);
        in(team, () -> {
            assertEquals("AwaitingKeyMaterial", condition(get(HsmKey.class, "own"), "Ready").getReason(),
                    "a Secret of another namespace is never read");
            return null;
        });
        List<Controls.JournalEntry> writes = writesSince(mark, hsm.getSpec().azureName);
        assertEquals(List.of(), writes.stream().filter(e -> e.path().startsWith("/keys/vault-key")).toList(),
                "nothing written to the other namespace's key or key exchange key");
        assertEquals(List.of(), writes.stream().filter(e -> e.method().equals("PUT") && e.path().startsWith("/keys/")).toList(),
                "nothing imported");
    }

    private static HsmKeySpec.Import importFrom(String secret) {
        HsmKeySpec.Import i = new HsmKeySpec.Import();
        i.secretRef = new HsmKeySpec.SecretKeySelector();
        i.secretRef.name = secret;
        return i;
    }

    @Test
    void aPrivateEndpointFromAnotherNamespaceCannotApproveItself() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String team = otherNamespace();
        granting(team, ManagedHsmSpec.HsmWideGrant.Kind.PrivateEndpoint);
        String hsmNs = ns;
        in(team, () -> {
            PrivateEndpoint p = privateEndpoint(team, "self-approved", new HsmReference("hsm", hsmNs), SUBNET);
            p.getSpec().manualApproval = true;
            p.getSpec().approveConnection = true;
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

    @Test
    void anAllowedNamespaceDeclaresNothingHsmWideUntilTheOwnersGrantThatKind() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        long mark = emulator.controls().lastSequence();
        in(team, () -> {
            apply(diagnostics(team, "divert", new HsmReference("hsm", hsmNs)));
            apply(privateEndpoint(team, "tap", new HsmReference("hsm", hsmNs), SUBNET));
            apply(backup(team, "copy", new HsmReference("hsm", hsmNs)));
            for (String name : List.of("divert", "tap", "copy")) {
                Class<? extends io.fabric8.kubernetes.client.CustomResource<?, ? extends io.hsmoperator.api.common.HsmStatus>> kind =
                        name.equals("divert") ? io.hsmoperator.api.diagnostics.HsmDiagnostics.class
                                : name.equals("copy") ? HsmBackup.class : PrivateEndpoint.class;
                var refused = awaitCondition(kind, name, "Ready", "False", "NotPermitted", WAIT);
                assertTrue(condition(refused, "Ready").getMessage().contains("spec.allowedHsmWideKinds"), condition(refused, "Ready").getMessage());
            }
            return null;
        });
        assertEquals(List.of(), writesSince(mark, azureName), "audit logs are not diverted, no endpoint or backup is made");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains("privateEndpoints")));

        // The owners grant diagnostics, not endpoints: the setting is made, the endpoint still refused.
        granting(team, ManagedHsmSpec.HsmWideGrant.Kind.HsmDiagnostics);
        in(team, () -> {
            touch(io.hsmoperator.api.diagnostics.HsmDiagnostics.class, "divert");
            awaitCondition(io.hsmoperator.api.diagnostics.HsmDiagnostics.class, "divert", "Ready", "True", null, WAIT);
            touch(PrivateEndpoint.class, "tap");
            Thread.sleep(1500);
            assertEquals("NotPermitted", condition(get(PrivateEndpoint.class, "tap"), "Ready").getReason());
            return null;
        });
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains("privateEndpoints")));

        // Endpoints granted too: the endpoint is asked for, always as a manual connection the owners approve in Azure.
        granting(team, ManagedHsmSpec.HsmWideGrant.Kind.HsmDiagnostics, ManagedHsmSpec.HsmWideGrant.Kind.PrivateEndpoint);
        in(team, () -> {
            touch(PrivateEndpoint.class, "tap");
            await().atMost(WAIT).until(() -> "AwaitingApproval".equals(condition(get(PrivateEndpoint.class, "tap"), "Ready").getReason()));
            assertTrue(condition(get(PrivateEndpoint.class, "tap"), "Ready").getMessage().contains("always a manual connection"));
            return null;
        });
        assertTrue(emulator.<Boolean>inspect(st -> st.privateEndpoints.values().stream()
                .anyMatch(p -> p.name.equals("pe-tap-" + team) && p.manual)), "a manual connection, though the spec did not ask for one");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(azureName)
                && e.path().startsWith("/backup")),
                "no backup of the HSM into the other namespace's container while HsmBackup is not granted");

        // Backups granted: a full copy of the HSM's keys goes to the container the other namespace chose.
        granting(team, ManagedHsmSpec.HsmWideGrant.Kind.HsmDiagnostics, ManagedHsmSpec.HsmWideGrant.Kind.PrivateEndpoint,
                ManagedHsmSpec.HsmWideGrant.Kind.HsmBackup);
        in(team, () -> {
            touch(HsmBackup.class, "copy");
            awaitCondition(HsmBackup.class, "copy", "Ready", "True", null, WAIT);
            return null;
        });
        assertEquals(1, emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(azureName) && e.method().equals("POST")
                && e.path().equals("/backup")).size(), "one backup, once granted");
    }

    @Test
    void aRestoreIsHsmWideAndNeverWritesAKeyAnotherNamespaceDeclares() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        apply(hsmKey("owned", "hsm", HsmKeySpec.KeyType.EC_HSM));
        awaitCondition(HsmKey.class, "owned", "Ready", "True", null, WAIT);
        String team = otherNamespace();
        allowing(hsm, team);
        String hsmNs = ns;
        String folder = "https://teambackups.blob.core.windows.net/hsm-backups/mhsm-" + azureName + "-2026113002000007";
        long mark = emulator.controls().lastSequence();
        // Allowed to keep its own keys in the HSM, the team may not restore into it without the owners' grant of HsmRestore.
        in(team, () -> {
            apply(restore(team, "overwrite", new HsmReference("hsm", hsmNs), folder, null, azureName));
            apply(restore(team, "take", new HsmReference("hsm", hsmNs), folder, "owned", null));
            for (String name : List.of("overwrite", "take")) {
                var refused = awaitCondition(HsmRestore.class, name, "Ready", "False", "NotPermitted", WAIT);
                assertTrue(condition(refused, "Ready").getMessage().contains("spec.allowedHsmWideKinds"), condition(refused, "Ready").getMessage());
            }
            client.resource(get(HsmRestore.class, "overwrite")).delete();
            await().atMost(WAIT).until(() -> get(HsmRestore.class, "overwrite") == null);
            return null;
        });
        // Granted restores, it still may not write a key an HsmKey of the owners' namespace declares.
        granting(team, ManagedHsmSpec.HsmWideGrant.Kind.HsmRestore);
        in(team, () -> {
            touch(HsmRestore.class, "take");
            var refused = awaitCondition(HsmRestore.class, "take", "Stalled", "True", "OwnershipConflict", WAIT);
            assertTrue(condition(refused, "Ready").getMessage().contains("HsmKey " + hsmNs + "/owned"), condition(refused, "Ready").getMessage());
            return null;
        });
        assertEquals(List.of(), writesSince(mark, azureName), "no restore, full or of another namespace's key");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.endpoint().equals(azureName)
                && e.path().toLowerCase().contains("restore")), "not even a read of a restore job");
    }

    @Test
    void privateEndpointsGoOnlyInTheSubnetsAndDnsZonesTheOperatorsConfigurationAllows() throws Exception {
        readyHsm("hsm");
        long mark = emulator.controls().lastSequence();
        String elsewhere = "/subscriptions/0b0e0000-0000-4000-8000-00000000000b/resourceGroups/rg-net/providers/Microsoft.Network/"
                + "virtualNetworks/vnet/subnets/pe";
        apply(privateEndpoint(ns, "outside", new HsmReference("hsm", null), elsewhere));
        PrivateEndpoint zone = privateEndpoint(ns, "zone", new HsmReference("hsm", null), SUBNET);
        zone.getSpec().privateDnsZoneIds = List.of("/subscriptions/0b0e0000-0000-4000-8000-00000000000b/resourceGroups/rg-dns/providers/"
                + "Microsoft.Network/privateDnsZones/privatelink.managedhsm.azure.net");
        apply(zone);
        assertTrue(condition(awaitCondition(PrivateEndpoint.class, "outside", "Ready", "False", "NotPermitted", WAIT), "Ready").getMessage()
                .contains("hsm.tenancy.private-endpoint-subnets"));
        assertTrue(condition(awaitCondition(PrivateEndpoint.class, "zone", "Ready", "False", "NotPermitted", WAIT), "Ready").getMessage()
                .contains("hsm.tenancy.private-dns-zones"));
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && (e.path().contains("/pe-outside-" + ns)
                || e.path().contains("/pe-zone-" + ns))), "not even a read");
    }

    @Test
    void anotherNamespaceCannotAddOrRemoveTheRegionsOfAnHsmItDoesNotOwn() throws Exception {
        apply(officersSecret("hsm-officers", 3, "2"));
        ManagedHsm owned = managedHsm("hsm", uniqueHsmName("hsm"));
        owned.getSpec().regions = List.of("northeurope");
        apply(owned);
        String azureName = owned.getSpec().azureName;
        // the owner's HSM is replicated and settled: from here on its own resource writes nothing
        await().atMost(WAIT).until(() -> {
            ManagedHsm h = get(ManagedHsm.class, "hsm");
            return h != null && h.getStatus() != null && "westeurope (primary), northeurope (Succeeded)".equals(h.getStatus().regionSummary)
                    && condition(h, "Ready") != null && "True".equals(condition(h, "Ready").getStatus()) && h.getStatus().regionsUpdate == null;
        });
        String intruder = otherNamespace();
        long mark = emulator.controls().lastSequence();
        in(intruder, () -> {
            apply(officersSecret("taker-officers", 3, "2"));
            ManagedHsm taker = managedHsm("taker", azureName);
            taker.getSpec().resourceGroup = owned.getSpec().resourceGroup;
            taker.getSpec().adoptExisting = true;
            taker.getSpec().regions = List.of();
            apply(taker);
            ManagedHsm observer = managedHsm("observer", azureName);
            observer.getSpec().resourceGroup = owned.getSpec().resourceGroup;
            observer.getSpec().management = ManagedHsmSpec.Management.ObserveOnly;
            observer.getSpec().regions = List.of("uksouth");
            apply(observer);
            awaitCondition(ManagedHsm.class, "taker", "Ready", "False", "OwnershipConflict", WAIT);
            awaitCondition(ManagedHsm.class, "observer", "Ready", "False", "OwnershipConflict", WAIT);
            return null;
        });
        assertEquals(List.of(), writesSince(mark, azureName), "no region added or removed for another namespace");
        assertEquals(List.of("northeurope"), emulator.<List<String>>inspect(s -> s.hsms.get(azureName).extendedRegions.stream()
                .map(r -> r.name).toList()));
    }

    @Test
    void anObservedHsmIsWrittenToByNoKind() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        HsmKey kept = hsmKey("made-before", "hsm", HsmKeySpec.KeyType.EC_HSM);
        kept.getSpec().deletionPolicy = HsmKeySpec.DeletionPolicy.Delete;
        apply(kept);
        awaitCondition(HsmKey.class, "made-before", "Ready", "True", null, WAIT);
        ManagedHsm observed = get(ManagedHsm.class, "hsm");
        observed.getSpec().management = ManagedHsmSpec.Management.ObserveOnly;
        update(observed);
        long mark = emulator.controls().lastSequence();
        apply(hsmKey("new-key", "hsm", HsmKeySpec.KeyType.EC_HSM));
        apply(roleAssignment(ns, "reader", null, HsmRoleAssignmentSpec.Scope.KEYS, null));
        apply(diagnostics(ns, "audit", new HsmReference("hsm", null)));
        apply(privateEndpoint(ns, "pe", new HsmReference("hsm", null), SUBNET));
        apply(backup(ns, "nightly", new HsmReference("hsm", null)));
        apply(restore(ns, "undo", new HsmReference("hsm", null), "https://teambackups.blob.core.windows.net/hsm-backups/mhsm-" + azureName
                + "-2026113002000007", null, azureName));
        awaitCondition(HsmKey.class, "new-key", "Ready", "False", "ObserveOnly", WAIT);
        awaitCondition(HsmRoleAssignment.class, "reader", "Ready", "False", "ObserveOnly", WAIT);
        awaitCondition(io.hsmoperator.api.diagnostics.HsmDiagnostics.class, "audit", "Ready", "False", "ObserveOnly", WAIT);
        awaitCondition(PrivateEndpoint.class, "pe", "Ready", "False", "ObserveOnly", WAIT);
        awaitCondition(HsmBackup.class, "nightly", "Ready", "False", "ObserveOnly", WAIT);
        awaitCondition(HsmRestore.class, "undo", "Ready", "False", "ObserveOnly", WAIT);
        // Deleting a key made before the HSM was observed only: its policy says Delete, but nothing is written.
        client.resource(get(HsmKey.class, "made-before")).delete();
        await().atMost(WAIT).until(() -> get(HsmKey.class, "made-before") == null);
        Thread.sleep(1000);
        assertEquals(List.of(), writesSince(mark, azureName), "nothing written to an observed HSM");
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains("privateEndpoints")));
        assertTrue(emulator.<Boolean>inspect(st -> st.hsms.get(azureName).keys.containsKey("made-before")));
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("Retained") && "Warning".equals(e.getType())
                && e.getMessage().contains("ObserveOnly")));
    }

    /**
     * A daily HsmBackup of {@code hsmRef} in {@code namespace}, with its SAS Secret. No Blob service here: the emulator keeps
     * the folder itself, and without retention the operator never lists the container.
     */
    private HsmBackup backup(String namespace, String name, HsmReference hsmRef) {
        sasSecret(namespace, name + "-sas", "sv=2024-08-04&sr=c&sp=cw&sig=tenancy-test");
        return hsmBackup(namespace, name, hsmRef, "https://teambackups.blob.core.windows.net/hsm-backups", name + "-sas", "P1D");
    }

    /** An HsmRestore of {@code hsmRef} from {@code folderUrl} in {@code namespace}, with its SAS Secret (no Blob service here). */
    private HsmRestore restore(String namespace, String name, HsmReference hsmRef, String folderUrl, String keyName, String confirm) {
        sasSecret(namespace, name + "-sas", "sv=2024-08-04&sr=c&sp=rl&sig=tenancy-test");
        return hsmRestore(namespace, name, hsmRef, folderUrl, name + "-sas", keyName, confirm);
    }

    private HsmRoleAssignment roleAssignment(String namespace, String name, String keyRef, HsmRoleAssignmentSpec.Scope scope, String hsmNs) {
        return roleAssignment(namespace, name, new HsmReference("hsm", hsmNs), "Managed HSM Crypto User", UUID.randomUUID().toString(),
                keyRef, scope);
    }
}
