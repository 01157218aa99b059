package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.azure.OperatorRole;
import io.hsmoperator.emulator.HsmFixtures;
import io.hsmoperator.emulator.State;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
class ManagedHsmReconcilerIT extends OperatorTestBase {

    @Test
    void givesTheHsmItsDeclaredIdentitiesReportsTheirPrincipalsAndRemovesThemWhenTheSpecDoes() throws Exception {
        apply(officersSecret("hsm-officers", 3, "2"));
        String azureName = uniqueHsmName("ident");
        String principal = emulator.createUserAssignedIdentity(SUBSCRIPTION, "rg-ids", "backup-writer-" + ns, "westeurope");
        // The operator runs with exactly the shipped ARM role, which cannot give identities away; the second shipped role
        // can, at the resource group of the identities meant for HSMs.
        String assigner = emulator.defineArmRole(java.nio.file.Path.of("../config/azure/hsm-operator-identity-assign-role.json"));
        emulator.assignArmRole(emulator.builtInPrincipal().objectId(), assigner, "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-ids");
        String id = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
                + "backup-writer-" + ns;
        ManagedHsm cr = managedHsm("hsm", azureName);
        cr.getSpec().userAssignedIdentities = List.of(id);
        apply(cr);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", Duration.ofSeconds(60));
        assertEquals(1, azureHsm(azureName).orElseThrow().userAssignedIdentities.size());
        assertTrue(azureHsm(azureName).orElseThrow().userAssignedIdentities.get(0).equalsIgnoreCase(id), "created with the identity");
        assertEquals(1, ready.getStatus().identities.size());
        assertEquals(principal, ready.getStatus().identities.get(0).principalId, "status names the principal to grant storage roles to");

        long mark = emulator.controls().lastSequence();
        cr.getSpec().userAssignedIdentities = List.of(id.toLowerCase(java.util.Locale.ROOT));
        cr = respec(cr);
        awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", Duration.ofSeconds(60));
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains(azureName)),
                "the same identity in another case is no drift: nothing is written");

        cr.getSpec().userAssignedIdentities = List.of();
        cr = respec(cr);
        await().atMost(Duration.ofSeconds(60)).until(() -> azureHsm(azureName).orElseThrow().userAssignedIdentities.isEmpty());
        await().atMost(Duration.ofSeconds(60)).until(() -> get(ManagedHsm.class, "hsm").getStatus().identities.isEmpty());

        cr.getSpec().userAssignedIdentities = List.of(id.replace("backup-writer-", "nobody-"));
        cr = respec(cr);
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            var c = condition(get(ManagedHsm.class, "hsm"), "Ready");
            return c != null && "False".equals(c.getStatus()) && c.getMessage().contains("nobody-" + ns) && c.getMessage().contains("not found");
        });
        assertTrue(azureHsm(azureName).orElseThrow().userAssignedIdentities.isEmpty(), "Azure refused it; nothing changed");

        emulator.createUserAssignedIdentity(SUBSCRIPTION, "rg-elsewhere", "powerful-" + ns, "westeurope");
        cr.getSpec().userAssignedIdentities = List.of("/subscriptions/" + SUBSCRIPTION
                + "/resourceGroups/rg-elsewhere/providers/Microsoft.ManagedIdentity/userAssignedIdentities/powerful-" + ns);
        cr = respec(cr);
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            var c = condition(get(ManagedHsm.class, "hsm"), "Ready");
            return c != null && "False".equals(c.getStatus()) && c.getMessage().contains("userAssignedIdentities/assign/action");
        });
        assertTrue(azureHsm(azureName).orElseThrow().userAssignedIdentities.isEmpty(),
                "an identity outside the assigner role's scope is not given to the HSM");
    }

    /** The user's edit of the ManagedHsm's spec, written over the latest copy (the operator writes status meanwhile). */
    private ManagedHsm respec(ManagedHsm edited) {
        ManagedHsm latest = get(ManagedHsm.class, edited.getMetadata().getName());
        latest.setSpec(edited.getSpec());
        return update(latest);
    }

    @Test
    void createsActivatesAndGrantsItselfTheLeastRole() throws Exception {
        apply(officersSecret("hsm-officers", 3, "2"));
        String azureName = uniqueHsmName("prod");
        ManagedHsm cr = managedHsm("hsm", azureName);
        cr.getSpec().tags = Map.of("env", "test");
        apply(cr);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", Duration.ofSeconds(60));

        State.Hsm hsm = azureHsm(azureName).orElseThrow();
        assertEquals(ownerTag(ManagedHsm.class, "hsm"), hsm.tags.get(Ownership.TAG), "the HSM carries its owner");
        assertEquals("test", hsm.tags.get("env"));
        String operator = ready.getStatus().operatorPrincipalId;
        assertTrue(hsm.initialAdminObjectIds.contains(operator), "the operator joined the initial administrators");
        assertEquals(7, hsm.softDeleteRetentionInDays);
        assertTrue(hsm.enablePurgeProtection, "purge protection is on by default");
        assertNotNull(hsm.securityDomain, "activated by downloading the security domain");

        assertEquals("Succeeded", ready.getStatus().provisioningState);
        assertEquals("Active", ready.getStatus().activationStatus);
        assertEquals("True", condition(ready, "Activated").getStatus());
        assertEquals("False", condition(ready, "Reconciling").getStatus());
        assertTrue(ready.getStatus().resourceId.endsWith("/managedHSMs/" + azureName));
        assertTrue(ready.getStatus().hsmUri.startsWith("https://"));
        assertEquals("hsm-security-domain", ready.getStatus().securityDomainSecret);

        Secret blob = client.secrets().inNamespace(ns).withName("hsm-security-domain").get();
        String stored = new String(Base64.getDecoder().decode(blob.getData().get("security-domain.json")));
        assertTrue(stored.contains("\"enc_shares\""), "the encrypted security domain is kept");
        assertTrue(blob.getMetadata().getOwnerReferences() == null || blob.getMetadata().getOwnerReferences().isEmpty(),
                "it survives the ManagedHsm resource");

        assertEquals(OperatorRole.SCOPE, ready.getStatus().operatorAccess.scope);
        State.RoleAssignment grant = hsm.roleAssignments.get(ready.getStatus().operatorAccess.assignmentName);
        assertEquals(operator, grant.principalId);
        assertEquals("/keys", grant.scope);
        List<String> actions = emulator.inspect(s -> {
            List<String> a = new java.util.ArrayList<>();
            s.hsms.get(azureName).customRoles.get(OperatorRole.DEFINITION_NAME).path("properties").path("permissions").get(0)
                    .path("dataActions").forEach(x -> a.add(x.asText()));
            return a;
        });
        assertFalse(actions.stream().anyMatch(a -> a.contains("deletedKeys/delete") || a.contains("export") || a.contains("sign")),
                "the operator's own role cannot purge, export or use keys: " + actions);
        assertTrue(eventReasons().containsAll(List.of("HsmCreateStarted", "SecurityDomainDownloaded", "RoleDefined", "OperatorRoleAssigned")));
        assertTrue(events().stream().filter(e -> e.getReason().equals("HsmCreateStarted")).allMatch(e -> e.getMessage().contains("Azure request")));
    }

    @Test
    void aCreateWhoseAnswerWasLostMakesExactlyOneHsm() throws Exception {
        apply(officersSecret("lost-officers", 3, "2"));
        String azureName = uniqueHsmName("lost");
        // Azure commits the create, then the connection drops: the operator never learns that it succeeded.
        var fault = emulator.controls().addFault(io.hsmoperator.emulator.Controls.Fault.dropAfterCommit("PUT", "arm",
                ".*/managedHSMs/" + azureName, 1));
        apply(managedHsm("lost", azureName));
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "lost", "Ready", "True", "Ready", Duration.ofSeconds(60));
        assertEquals(1, fault.hits(), "the answer to the create was lost");
        assertEquals(1, journalSinceMark(e -> e.method().equals("PUT") && e.path().endsWith("/managedHSMs/" + azureName)).size(),
                "the operator found the HSM Azure had created, by its ownership tag, and did not create it again");
        assertEquals(ownerTag(ManagedHsm.class, "lost"), azureHsm(azureName).orElseThrow().tags.get(Ownership.TAG));
        assertEquals("Active", ready.getStatus().activationStatus);
        assertEquals(1, journalSinceMark(e -> e.method().equals("POST") && e.path().contains("securitydomain/download")
                && e.status() < 300).size(), "the security domain was downloaded once");
    }

    @Test
    void newOfficersGetTheSecurityDomainRewrappedOnceWithThePreviousCopyKeptBesideIt() throws Exception {
        apply(officersSecret("hsm-officers", 3, "2"));
        String azureName = uniqueHsmName("rewrap");
        apply(managedHsm("hsm", azureName));
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "hsm", "Ready", "True", "Ready", Duration.ofSeconds(60));
        assertTrue(ready.getStatus().securityDomainWrappedFor.startsWith("quorum=2;officers="), ready.getStatus().securityDomainWrappedFor);
        String first = client.secrets().inNamespace(ns).withName("hsm-security-domain").get().getData().get("security-domain.json");

        long mark = emulator.controls().lastSequence();
        // The officers change: a fourth joins and the quorum rises (a PUT of the Secret, as kubectl apply of a new version).
        client.resource(officersSecret("hsm-officers", 4, "3")).update();
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            String w = get(ManagedHsm.class, "hsm").getStatus().securityDomainWrappedFor;
            return w != null && w.startsWith("quorum=3;");
        });
        Secret kept = client.secrets().inNamespace(ns).withName("hsm-security-domain").get();
        var blob = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Base64.getDecoder().decode(kept.getData().get("security-domain.json")));
        assertEquals(3, blob.path("SharedKeys").path("required").asInt(), "the new copy needs three officers");
        assertEquals(4, blob.path("SharedKeys").path("enc_shares").size(), "one share for each of the four");
        assertEquals(first, kept.getData().get("security-domain.previous.json"), "the previous copy is kept beside it");
        assertTrue(eventReasons().contains("SecurityDomainRewrapped"), eventReasons().toString());
        java.util.function.Supplier<Integer> downloads = () -> emulator.controls().journal(e -> e.seq() > mark && e.method().equals("POST")
                && e.path().contains("securitydomain/download") && e.status() < 300).size();
        assertEquals(1, downloads.get(), "downloaded once for the new officers");
        Thread.sleep(7000);
        assertEquals(1, downloads.get(), "and not again on later reconciles");
        assertEquals("True", condition(get(ManagedHsm.class, "hsm"), "Ready").getStatus());
    }

    @Test
    void steadyStateIssuesNoWrites() throws Exception {
        String azureName = readyHsm("steady").getSpec().azureName;
        long mark = emulator.controls().lastSequence();
        ManagedHsm cr = get(ManagedHsm.class, "steady");
        cr.getMetadata().setAnnotations(Map.of("touch", "1"));
        update(cr);
        Thread.sleep(2000);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite()
                && (e.endpoint().equals(azureName) || e.path().contains(azureName))), "observed equals desired: nothing to write");
    }

    @Test
    void updatesMutablePropertiesAndCorrectsDrift() throws Exception {
        ManagedHsm hsm = readyHsm("mutable");
        String azureName = hsm.getSpec().azureName;
        // Someone replicated the HSM to a second region; the spec leaves regions unset, so the operator's updates keep it.
        var hsms = owner().keyVault().serviceClient().getManagedHsms();
        var replicated = hsms.getByResourceGroup(hsm.getSpec().resourceGroup, azureName);
        replicated.properties().withRegions(List.of(new com.azure.resourcemanager.keyvault.fluent.models.MhsmGeoReplicatedRegionInner()
                .withName("northeurope")));
        hsms.createOrUpdate(hsm.getSpec().resourceGroup, azureName, replicated);
        hsm = get(ManagedHsm.class, "mutable");
        hsm.getSpec().publicNetworkAccess = ManagedHsmSpec.PublicNetworkAccess.Disabled;
        hsm.getSpec().tags = Map.of("owner", "platform");
        update(hsm);
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            State.Hsm h = azureHsm(azureName).orElseThrow();
            return "Disabled".equals(h.publicNetworkAccess) && "platform".equals(h.tags.get("owner"));
        });
        awaitCondition(ManagedHsm.class, "mutable", "Ready", "True", null, Duration.ofSeconds(30));
        assertTrue(eventReasons().contains("HsmUpdated"));
        assertEquals("northeurope", azureHsm(azureName).orElseThrow().extendedRegions.get(0).name,
                "the update kept the region it does not manage");

        var arm = owner().keyVault().serviceClient().getManagedHsms();
        var inner = arm.getByResourceGroup(hsm.getSpec().resourceGroup, azureName);
        java.util.Map<String, String> edited = new java.util.HashMap<>(inner.tags());
        edited.put("owner", "someone-else");
        inner.withTags(edited);
        arm.createOrUpdate(hsm.getSpec().resourceGroup, azureName, inner);
        touch(ManagedHsm.class, "mutable");
        await().atMost(Duration.ofSeconds(30)).until(() -> "platform".equals(azureHsm(azureName).orElseThrow().tags.get("owner")));

        // Tags others add (an Azure Policy "modify", a person) are theirs: never written over, never removed.
        inner = arm.getByResourceGroup(hsm.getSpec().resourceGroup, azureName);
        edited = new java.util.HashMap<>(inner.tags());
        edited.put("costCenter", "42");
        arm.createOrUpdate(hsm.getSpec().resourceGroup, azureName, inner.withTags(edited));
        long mark = emulator.controls().lastSequence();
        touch(ManagedHsm.class, "mutable");
        Thread.sleep(2000);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && e.path().contains(azureName)),
                "a foreign tag is no drift");
        // A tag the spec drops is removed only because the operator wrote it; the foreign one stays.
        ManagedHsm current = get(ManagedHsm.class, "mutable");
        assertEquals(List.of(Ownership.TAG, "owner"), current.getStatus().managedTags);
        current.getSpec().tags = Map.of("env", "prod");
        update(current);
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            Map<String, String> t = azureHsm(azureName).orElseThrow().tags;
            return "prod".equals(t.get("env")) && !t.containsKey("owner");
        });
        assertEquals("42", azureHsm(azureName).orElseThrow().tags.get("costCenter"));
    }

    @Test
    void anUpdateAzureReportsFailedIsSentAgainNotLeftStuck() throws Exception {
        ManagedHsm hsm = readyHsm("flaky");
        String azureName = hsm.getSpec().azureName;
        // Azure accepts the next update, then reports it Failed: the HSM stays Failed until an update succeeds.
        emulator.controls().addFault(io.hsmoperator.emulator.Controls.Fault.failAsync("PATCH", "arm", ".*/managedHSMs/" + azureName, 1));
        long mark = emulator.controls().lastSequence();
        hsm.getSpec().publicNetworkAccess = ManagedHsmSpec.PublicNetworkAccess.Disabled;
        update(hsm);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "flaky", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals("Succeeded", ready.getStatus().provisioningState);
        assertNull(ready.getStatus().pendingOperation);
        assertEquals("Disabled", azureHsm(azureName).orElseThrow().publicNetworkAccess);
        assertEquals(2, emulator.controls().journal(e -> e.seq() > mark && e.method().equals("PATCH") && e.path().contains(azureName)).size(),
                "the failed update, then one retry");
        assertTrue(eventReasons().contains("HsmUpdateRetried"));
    }

    @Test
    void badSecurityDomainInputsAreNamedAndChangeNothing() throws Exception {
        record Case(String name, Secret secret, String reason) {
        }
        List<Case> cases = List.of(
                new Case("missing", null, "SecurityDomainSecretMissing"),
                new Case("two", officersSecret("two-officers", 2, "2"), "SecurityDomainCertificatesInsufficient"),
                new Case("quorum", officersSecret("quorum-officers", 3, "1"), "SecurityDomainQuorumInvalid"),
                new Case("noquorum", officersSecret("noquorum-officers", 3, null), "SecurityDomainQuorumInvalid"),
                new Case("malformed", withEntry(officersSecret("malformed-officers", 3, "2"), "bad.pem", "-----BEGIN CERTIFICATE-----\nnope\n"),
                        "SecurityDomainCertificateInvalid"),
                new Case("private", withEntry(officersSecret("private-officers", 3, "2"), "officer-key.txt",
                        "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"), "SecurityDomainSecretHoldsPrivateKey"));
        for (Case c : cases) {
            if (c.secret() != null) {
                apply(c.secret());
            }
            apply(managedHsm(c.name(), uniqueHsmName(c.name())));
        }
        for (Case c : cases) {
            ManagedHsm r = awaitCondition(ManagedHsm.class, c.name(), "Activated", "False", c.reason(), Duration.ofSeconds(60));
            assertEquals("True", condition(r, "Stalled").getStatus(), c.name());
            assertFalse(condition(r, "Activated").getMessage().isBlank());
            assertNull(azureHsm(r.getSpec().azureName).orElseThrow().securityDomain, c.name() + ": no security domain was downloaded");
        }
    }

    @Test
    void officerSecretProblemsAreReportedWithoutQuotingTheSecret() throws Exception {
        apply(officersSecret("quorum-officers", 3, "canary-xyz"));
        apply(managedHsm("quorum", uniqueHsmName("quorum")));
        apply(withEntry(officersSecret("pem-officers", 3, "2"), "bad.pem", "-----BEGIN CERTIFICATE-----\ncanary-pem-xyz\n-----END CERTIFICATE-----\n"));
        apply(managedHsm("pem", uniqueHsmName("pem")));
        ManagedHsm quorum = awaitCondition(ManagedHsm.class, "quorum", "Activated", "False", "SecurityDomainQuorumInvalid",
                Duration.ofSeconds(60));
        assertTrue(condition(quorum, "Activated").getMessage().contains("'quorum'"), "the message names the key to fix");
        awaitCondition(ManagedHsm.class, "pem", "Activated", "False", "SecurityDomainCertificateInvalid", Duration.ofSeconds(60));
        // What anyone who may read ManagedHsms and Events in the namespace sees, but not the Secret.
        String visible = io.fabric8.kubernetes.client.utils.Serialization.asJson(List.of(get(ManagedHsm.class, "quorum"),
                get(ManagedHsm.class, "pem"))) + io.fabric8.kubernetes.client.utils.Serialization.asJson(events());
        assertFalse(visible.contains("canary-xyz"), "the quorum's value is not echoed");
        assertFalse(visible.contains("canary-pem-xyz"), "the certificate's content is not echoed");
    }

    private static Secret withEntry(Secret s, String key, String value) {
        s.getStringData().put(key, value);
        return s;
    }

    @Test
    void aNamespaceDeletedAsAWholeRevokesEveryGrantAndLeavesAzureAsThePoliciesSay() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.hsmoperator.kube.TestCluster.server().hasControllerManager(),
                "namespace deletion needs kube-controller-manager, which only e2e/kube-binaries provides");
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        apply(hsmKey("kept", "hsm", io.hsmoperator.api.hsmkey.HsmKeySpec.KeyType.EC_HSM));
        io.hsmoperator.api.hsmkey.HsmKey gone = hsmKey("gone", "hsm", io.hsmoperator.api.hsmkey.HsmKeySpec.KeyType.EC_HSM);
        gone.getSpec().deletionPolicy = io.hsmoperator.api.hsmkey.HsmKeySpec.DeletionPolicy.Delete;
        apply(gone);
        io.hsmoperator.api.roleassignment.HsmRoleAssignment grant = new io.hsmoperator.api.roleassignment.HsmRoleAssignment();
        grant.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("reader").withNamespace(ns).build());
        grant.setSpec(new io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec());
        grant.getSpec().hsmRef = new io.hsmoperator.api.common.HsmReference("hsm", null);
        grant.getSpec().role = "Managed HSM Crypto User";
        grant.getSpec().principalId = java.util.UUID.randomUUID().toString();
        grant.getSpec().keyRef = new io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec.KeyReference();
        grant.getSpec().keyRef.name = "kept";
        apply(grant);
        awaitCondition(io.hsmoperator.api.hsmkey.HsmKey.class, "kept", "Ready", "True", null, Duration.ofSeconds(40));
        awaitCondition(io.hsmoperator.api.hsmkey.HsmKey.class, "gone", "Ready", "True", null, Duration.ofSeconds(40));
        awaitCondition(io.hsmoperator.api.roleassignment.HsmRoleAssignment.class, "reader", "Ready", "True", null, Duration.ofSeconds(40));
        String principal = grant.getSpec().principalId;
        java.util.function.Supplier<Boolean> granted = () -> emulator.<Boolean>inspect(st -> st.hsms.get(azureName).roleAssignments.values()
                .stream().anyMatch(a -> principal.equalsIgnoreCase(a.principalId)));
        assertTrue(granted.get());

        long mark = emulator.controls().lastSequence();
        client.namespaces().withName(ns).delete();
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
                .until(() -> client.namespaces().withName(ns).get() == null);

        assertFalse(granted.get(), "the grant was revoked although everything was deleted at once");
        State.Hsm after = azureHsm(azureName).orElseThrow();
        assertTrue(after.keys.containsKey("kept"), "deletionPolicy Retain: the key stays");
        assertTrue(after.deletedKeys.containsKey("gone") && !after.keys.containsKey("gone"), "deletionPolicy Delete: soft-deleted");
        List<String> deletes = emulator.controls().journal(e -> e.seq() > mark && e.method().equals("DELETE") && e.status() < 300).stream()
                .map(e -> e.endpoint() + " " + e.path()).toList();
        assertEquals(2, deletes.size(), "one revocation and one key deletion, nothing else: " + deletes);
        assertTrue(deletes.stream().noneMatch(d -> d.startsWith("arm ")), "the HSM itself is retained: " + deletes);
    }

    @Test
    void theSecurityDomainIsNeverLost() throws Exception {
        String azureName = uniqueHsmName("sd");
        String output = "sd-security-domain";
        apply(officersSecret("sd-officers", 3, "2"));
        java.util.function.Supplier<Long> downloads = () -> (long) journalSinceMark(e -> e.method().equals("POST")
                && e.path().contains("securitydomain/download") && e.status() < 300).size();
        Secret probe = new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName(output).withNamespace(ns)
                .endMetadata().build();

        // 1. The Secret cannot even be created: nothing is downloaded.
        AdmissionRefusal noCreate = admissionRefuses(ns + "-sd-create", "", "secrets", "CREATE", "object.metadata.name != '" + output + "'",
                () -> client.secrets().inNamespace(ns).resource(probe).dryRun().create());
        apply(managedHsm("sd", azureName));
        ManagedHsm r = awaitCondition(ManagedHsm.class, "sd", "Activated", "False", "SecurityDomainNotStored", Duration.ofSeconds(60));
        assertTrue(condition(r, "Activated").getMessage().contains("cannot be created"), condition(r, "Activated").getMessage());
        Thread.sleep(1500);
        assertEquals(0L, downloads.get(), "nothing is downloaded before there is somewhere to keep it");

        // 2. The Secret can be created but not written: one download, held until it can be stored, never downloaded again.
        apply(new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("sd-probe").endMetadata().build());
        AdmissionRefusal noUpdate = admissionRefuses(ns + "-sd-update", "", "secrets", "UPDATE",
                "!(object.metadata.name in ['" + output + "', 'sd-probe'])",
                () -> client.secrets().inNamespace(ns).withName("sd-probe").dryRun().edit(s -> new io.fabric8.kubernetes.api.model.SecretBuilder(s)
                        .editMetadata().addToLabels("probe", "x").endMetadata().build()));
        noCreate.close();
        await().atMost(Duration.ofSeconds(60)).until(() -> downloads.get() == 1
                && condition(get(ManagedHsm.class, "sd"), "Activated").getMessage().contains("kept in the operator's spool"));
        Thread.sleep(3000);
        assertEquals(1L, downloads.get(), "retries write the blob it holds; they never download again");
        assertEquals(List.of("rw-------"), spooled(azureName), "meanwhile it waits on disk, readable by the operator alone");
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("SecurityDomainNotStored") && "Warning".equals(e.getType())));
        noUpdate.close();

        // 3. Writes pass again: stored, activated, still one download.
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "sd", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals(output, ready.getStatus().securityDomainSecret);
        assertTrue(client.secrets().inNamespace(ns).withName(output).get().getData().containsKey("security-domain.json"));
        assertEquals(1L, downloads.get());
        assertEquals(List.of(), spooled(azureName), "stored, so no longer spooled");
    }

    /** The permissions of each file in the operator's spool that holds this HSM's security domain. */
    private List<String> spooled(String azureName) throws Exception {
        java.nio.file.Path dir = java.nio.file.Path.of(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("hsm.security-domain.spool-dir", String.class));
        if (!java.nio.file.Files.isDirectory(dir)) {
            return List.of();
        }
        try (var files = java.nio.file.Files.list(dir)) {
            List<String> out = new java.util.ArrayList<>();
            for (java.nio.file.Path f : files.filter(f -> f.toString().endsWith(".json")).toList()) {
                if (new String(java.nio.file.Files.readAllBytes(f)).contains("/managedHSMs/" + azureName + "\"")) {
                    out.add(java.nio.file.attribute.PosixFilePermissions.toString(java.nio.file.Files.getPosixFilePermissions(f)));
                }
            }
            return out;
        }
    }

    @Test
    void aSecretLeftByAnEarlierHsmOfTheSameNameIsNeitherUsedNorOverwritten() throws Exception {
        String azureName = uniqueHsmName("again");
        apply(officersSecret("again-officers", 3, "2"));
        // What an earlier HSM of this name (deleted, purged, created anew) left: its Secret records the same resource ID,
        // but an older creation time, and holds that HSM's security domain.
        String earlier = "{\"EncData\":\"of the earlier HSM\"}";
        String resourceId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-" + ns + "/providers/Microsoft.KeyVault/managedHSMs/"
                + azureName;
        Secret left = apply(new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName("again-security-domain")
                .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels("hsmoperator.io/managedhsm", "again")
                .addToAnnotations("hsmoperator.io/hsm-resource-id", resourceId)
                .addToAnnotations("hsmoperator.io/hsm-created-at", "2024-01-02T03:04:05Z").endMetadata()
                .addToData("security-domain.json", Base64.getEncoder().encodeToString(earlier.getBytes())).build());
        apply(managedHsm("again", azureName));

        ManagedHsm r = awaitCondition(ManagedHsm.class, "again", "Ready", "False", "SecurityDomainSecretConflict", Duration.ofSeconds(60));
        assertEquals("True", condition(r, "Stalled").getStatus());
        assertTrue(condition(r, "Ready").getMessage().contains("earlier HSM of the same name"), condition(r, "Ready").getMessage());
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("SecurityDomainSecretConflict") && "Warning".equals(e.getType())));
        Thread.sleep(1500);
        Secret after = client.secrets().inNamespace(ns).withName("again-security-domain").get();
        assertEquals(left.getMetadata().getResourceVersion(), after.getMetadata().getResourceVersion(), "the earlier HSM's Secret is untouched");
        assertEquals(earlier, new String(Base64.getDecoder().decode(after.getData().get("security-domain.json"))));
        assertNull(r.getStatus().securityDomainSecret, "it is not reported as this HSM's security domain");
        assertNull(azureHsm(azureName).orElseThrow().securityDomain, "nothing was downloaded");
        assertTrue(journalSinceMark(e -> e.path().contains("securitydomain/download") && e.method().equals("POST")).isEmpty());
        assertFalse(String.valueOf(r.getStatus()).contains("of the earlier HSM"), "status never quotes a Secret");

        // Given a Secret of its own, the HSM is activated and its security domain kept there; the earlier one stays.
        r.getSpec().securityDomain.outputSecret = "again-security-domain-2";
        update(r);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "again", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals("again-security-domain-2", ready.getStatus().securityDomainSecret);
        Secret mine = client.secrets().inNamespace(ns).withName("again-security-domain-2").get();
        assertTrue(mine.getData().containsKey("security-domain.json"));
        assertEquals(ready.getStatus().resourceId, mine.getMetadata().getAnnotations().get("hsmoperator.io/hsm-resource-id"));
        assertNotNull(mine.getMetadata().getAnnotations().get("hsmoperator.io/hsm-created-at"), "it records which HSM of that name");
        assertEquals(left.getMetadata().getResourceVersion(), client.secrets().inNamespace(ns).withName("again-security-domain").get()
                .getMetadata().getResourceVersion());
    }

    @Test
    void anActiveHsmWithoutItsSecurityDomainSaysSoAndDownloadsItAgainOnlyWhenAsked() throws Exception {
        ManagedHsm hsm = readyHsm("kept");
        java.util.function.Supplier<Long> downloads = () -> (long) journalSinceMark(e -> e.method().equals("POST")
                && e.path().contains("securitydomain/download") && e.status() < 300).size();
        assertEquals(1L, downloads.get());
        String labels = "namespace=\"" + ns + "\"";
        assertEquals(0.0, metric("hsm_operator_hsm_security_domain_missing", labels, "name=\"kept\"").orElseThrow());

        // The only copy is lost (here: its Secret deleted); the HSM stays active in Azure.
        client.secrets().inNamespace(ns).withName("kept-security-domain").delete();
        await().atMost(Duration.ofSeconds(30)).until(() -> client.secrets().inNamespace(ns).withName("kept-security-domain").get() == null);
        touch(ManagedHsm.class, "kept");
        ManagedHsm missing = awaitCondition(ManagedHsm.class, "kept", "Ready", "False", "SecurityDomainMissing", Duration.ofSeconds(60));
        assertEquals("True", condition(missing, "Stalled").getStatus());
        assertEquals("True", condition(missing, "Activated").getStatus(), "Azure did activate it");
        assertTrue(condition(missing, "Ready").getMessage().contains("hsmoperator.io/download-security-domain"),
                "it says how to get a copy again: " + condition(missing, "Ready").getMessage());
        assertNull(missing.getStatus().securityDomainSecret);
        assertTrue(events().stream().anyMatch(e -> e.getReason().equals("SecurityDomainMissing") && "Warning".equals(e.getType())));
        await().atMost(Duration.ofSeconds(10)).until(() -> metric("hsm_operator_hsm_security_domain_missing", labels, "name=\"kept\"")
                .orElse(0) == 1.0);
        Thread.sleep(1500);
        assertEquals(1L, downloads.get(), "never downloaded again unasked");

        // The annotation asks for one new copy for the officers of spec.securityDomain.
        ManagedHsm annotated = get(ManagedHsm.class, "kept");
        annotated.getMetadata().getAnnotations().put("hsmoperator.io/download-security-domain", "lost-1");
        update(annotated);
        ManagedHsm ready = awaitCondition(ManagedHsm.class, "kept", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals("kept-security-domain", ready.getStatus().securityDomainSecret);
        Secret copy = client.secrets().inNamespace(ns).withName("kept-security-domain").get();
        assertTrue(new String(Base64.getDecoder().decode(copy.getData().get("security-domain.json"))).contains("\"enc_shares\""));
        assertEquals(hsm.getStatus().resourceId, copy.getMetadata().getAnnotations().get("hsmoperator.io/hsm-resource-id"));
        assertEquals("lost-1", copy.getMetadata().getAnnotations().get("hsmoperator.io/download-token"));
        assertTrue(eventReasons().contains("SecurityDomainStored"));
        touch(ManagedHsm.class, "kept");
        Thread.sleep(1500);
        assertEquals(2L, downloads.get(), "one download for the token, however often the HSM is looked at");
        assertEquals(0.0, metric("hsm_operator_hsm_security_domain_missing", labels, "name=\"kept\"").orElseThrow());
        assertTrue(events().stream().noneMatch(e -> e.getMessage().contains("enc_shares")), "no event quotes the blob");
    }

    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "quarkus.http.test-port", defaultValue = "8081")
    int httpPort;

    /** The value of the one series of /q/metrics named {@code name} whose labels include every {@code label="value"} given. */
    private java.util.OptionalDouble metric(String name, String... labels) throws Exception {
        String body = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://localhost:" + httpPort + "/q/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        return body.lines().filter(l -> l.startsWith(name + "{") && java.util.Arrays.stream(labels).allMatch(l::contains))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst();
    }

    @Test
    void anHsmThisResourceDidNotCreateIsNotTouchedUnlessAdopted() throws Exception {
        String azureName = uniqueHsmName("foreign");
        HsmFixtures.createHsm(owner(), "rg-" + ns, azureName, emulator.builtInPrincipal().objectId());
        journalMark = emulator.controls().lastSequence();
        apply(officersSecret("foreign-officers", 3, "2"));
        apply(managedHsm("foreign", azureName));
        ManagedHsm r = awaitCondition(ManagedHsm.class, "foreign", "Ready", "False", "OwnershipConflict", Duration.ofSeconds(30));
        assertTrue(condition(r, "Ready").getMessage().contains("adoptExisting"));
        assertEquals(List.of(), azureWrites(), "no write to an HSM the resource does not own");

        r.getSpec().adoptExisting = true;
        update(r);
        awaitCondition(ManagedHsm.class, "foreign", "Ready", "True", null, Duration.ofSeconds(60));
        assertEquals(ownerTag(ManagedHsm.class, "foreign"), azureHsm(azureName).orElseThrow().tags.get(Ownership.TAG));
    }

    @Test
    void adoptingAnHsmWritesOnlyWhatTheSpecStates() throws Exception {
        String azureName = uniqueHsmName("locked");
        var arm = owner();
        // Someone else's HSM, locked down: no public access, deny by default, one trusted range, no purge protection.
        var body = HsmFixtures.hsmBody(emulator, "westeurope", emulator.builtInPrincipal().objectId())
                .withTags(Map.of("costcenter", "42"));
        body.properties().withPublicNetworkAccess(com.azure.resourcemanager.keyvault.models.PublicNetworkAccess.DISABLED)
                .withNetworkAcls(new com.azure.resourcemanager.keyvault.models.MhsmNetworkRuleSet()
                        .withBypass(com.azure.resourcemanager.keyvault.models.NetworkRuleBypassOptions.NONE)
                        .withDefaultAction(com.azure.resourcemanager.keyvault.models.NetworkRuleAction.DENY)
                        .withIpRules(List.of(new com.azure.resourcemanager.keyvault.models.MhsmipRule().withValue("203.0.113.0/24"))));
        arm.keyVault().serviceClient().getManagedHsms().beginCreateOrUpdate("rg-" + ns, azureName, body).getFinalResult();
        ManagedHsm cr = managedHsm("locked", azureName);
        cr.getSpec().securityDomain = null;
        cr.getSpec().adoptExisting = true;
        cr.getSpec().tags = Map.of("team", "payments");
        apply(cr);
        ManagedHsm r = awaitCondition(ManagedHsm.class, "locked", "Ready", "False", "SecurityDomainNotConfigured", Duration.ofSeconds(60));
        assertEquals(Boolean.TRUE, r.getStatus().adopted);

        State.Hsm hsm = azureHsm(azureName).orElseThrow();
        assertEquals(Map.of("costcenter", "42", "team", "payments", Ownership.TAG, ownerTag(ManagedHsm.class, "locked")), hsm.tags,
                "the tags the spec states and the ownership tag are added; the others stay");
        assertFalse(hsm.enablePurgeProtection, "unset purgeProtection is not a write on an adopted HSM");
        assertEquals("Disabled", hsm.publicNetworkAccess, "unset publicNetworkAccess is not a write on an adopted HSM");
        assertEquals("Deny", hsm.networkAcls.path("defaultAction").asText());
        assertEquals("None", hsm.networkAcls.path("bypass").asText());
        assertEquals("203.0.113.0/24", hsm.networkAcls.path("ipRules").path(0).path("value").asText(), "the IP rules stay");

        // A spec that states a field is applied, and only that field.
        r.getSpec().networkAcls = new ManagedHsmSpec.NetworkAcls();
        r.getSpec().networkAcls.ipRules = List.of("198.51.100.7");
        update(r);
        await().atMost(Duration.ofSeconds(60)).until(() -> azureHsm(azureName).orElseThrow().networkAcls.path("ipRules").path(0)
                .path("value").asText().startsWith("198.51.100.7"));
        hsm = azureHsm(azureName).orElseThrow();
        assertEquals("Deny", hsm.networkAcls.path("defaultAction").asText(), "the default action the spec leaves unset stays");
        assertEquals("None", hsm.networkAcls.path("bypass").asText());
        assertEquals("Disabled", hsm.publicNetworkAccess);
        assertFalse(hsm.enablePurgeProtection);

        // Deleting with Delete needs purge protection on in Azure, whatever the spec leaves unset.
        r = get(ManagedHsm.class, "locked");
        r.getSpec().deletionPolicy = ManagedHsmSpec.DeletionPolicy.Delete;
        r.getSpec().confirmDeletionOf = azureName;
        update(r);
        client.resource(get(ManagedHsm.class, "locked")).delete();
        ManagedHsm blocked = awaitCondition(ManagedHsm.class, "locked", "Stalled", "True", "DeletionBlocked", Duration.ofSeconds(30));
        assertTrue(condition(blocked, "Stalled").getMessage().contains("purge protection is off"), condition(blocked, "Stalled").getMessage());
        assertTrue(azureHsm(azureName).isPresent(), "an HSM without purge protection is not deleted");
        assertTrue(journalSinceMark(e -> e.method().equals("DELETE")).isEmpty());
        blocked.getSpec().deletionPolicy = ManagedHsmSpec.DeletionPolicy.Retain;
        update(blocked);
        await().atMost(Duration.ofSeconds(30)).until(() -> get(ManagedHsm.class, "locked") == null);
        assertTrue(azureHsm(azureName).isPresent());
    }

    @Test
    void valuesAzureNormalisesOrAPolicyAddsAreNoDrift() throws Exception {
        // An Azure Policy with the modify effect tags every HSM on every write.
        emulator.controls().setPolicyTags(Map.of("costcenter", "from-policy"));
        try {
            ManagedHsm hsm = readyHsm("normal");
            String azureName = hsm.getSpec().azureName;
            long mark = emulator.controls().lastSequence();
            hsm = get(ManagedHsm.class, "normal");
            hsm.getSpec().networkAcls = new ManagedHsmSpec.NetworkAcls();
            hsm.getSpec().networkAcls.ipRules = List.of("203.0.113.9");
            hsm.getSpec().tags = Map.of("team", "payments");
            update(hsm);
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                State.Hsm h = azureHsm(azureName).orElseThrow();
                return "payments".equals(h.tags.get("team")) && "203.0.113.9/32".equals(h.networkAcls.path("ipRules").path(0).path("value").asText());
            });
            // Several resyncs later: Azure's /32 equals the spec's address, and the policy's tag is not the operator's to remove.
            Thread.sleep(8000);
            assertEquals(1, emulator.controls().journal(e -> e.seq() > mark && e.method().equals("PATCH") && e.path().contains(azureName)).size(),
                    "one update, not one per look");
            assertEquals("from-policy", azureHsm(azureName).orElseThrow().tags.get("costcenter"));
        } finally {
            emulator.controls().setPolicyTags(Map.of());
        }
    }

    @Test
    void aValueAzureKeepsChangingBackStopsAfterTwoUpdatesAndSaysWhich() throws Exception {
        ManagedHsm hsm = readyHsm("contested");
        String azureName = hsm.getSpec().azureName;
        // An Azure Policy (modify effect) sets the tag the spec also sets, on every write.
        emulator.controls().setPolicyTags(Map.of("owner", "policy"));
        try {
            long mark = emulator.controls().lastSequence();
            hsm = get(ManagedHsm.class, "contested");
            hsm.getSpec().tags = Map.of("owner", "platform");
            update(hsm);
            ManagedHsm stalled = awaitCondition(ManagedHsm.class, "contested", "Stalled", "True", "DriftNotConverging", Duration.ofSeconds(60));
            assertTrue(condition(stalled, "Stalled").getMessage().contains("tags"), condition(stalled, "Stalled").getMessage());
            Thread.sleep(4000);
            assertEquals(2, emulator.controls().journal(e -> e.seq() > mark && e.method().equals("PATCH") && e.path().contains(azureName)).size(),
                    "two updates, then none: not one per look, and none for a read that lagged the update");
        } finally {
            emulator.controls().setPolicyTags(Map.of());
        }
    }

    @Test
    void observeOnlyNeverWrites() throws Exception {
        String azureName = uniqueHsmName("observed");
        HsmFixtures.createHsm(owner(), "rg-" + ns, azureName, emulator.builtInPrincipal().objectId());
        ManagedHsm cr = managedHsm("observed", azureName);
        cr.getSpec().management = ManagedHsmSpec.Management.ObserveOnly;
        cr.getSpec().tags = Map.of("would", "change");
        long mark = emulator.controls().lastSequence();
        apply(cr);
        ManagedHsm r = awaitCondition(ManagedHsm.class, "observed", "Ready", "False", "ObserveOnly", Duration.ofSeconds(30));
        assertEquals("Succeeded", r.getStatus().provisioningState);
        assertEquals(List.of(), emulator.controls().journal(e -> e.seq() > mark && e.isWrite() && !e.endpoint().equals("entra")));
    }

    @Test
    void deletionRetainsByDefaultAndDeleteWaitsForKeysThenSoftDeletes() throws Exception {
        ManagedHsm kept = readyHsm("kept");
        client.resource(kept).delete();
        await().atMost(Duration.ofSeconds(20)).until(() -> get(ManagedHsm.class, "kept") == null);
        assertTrue(azureHsm(kept.getSpec().azureName).isPresent(), "Retain leaves the HSM in Azure");
        assertTrue(journalSinceMark(e -> e.method().equals("DELETE")).isEmpty(), "Retain sends no DELETE");

        ManagedHsm doomed = readyHsm("doomed");
        doomed.getSpec().deletionPolicy = ManagedHsmSpec.DeletionPolicy.Delete;
        doomed.getSpec().confirmDeletionOf = doomed.getSpec().azureName;
        update(doomed);
        var key = hsmKey("blocker", "doomed", io.hsmoperator.api.hsmkey.HsmKeySpec.KeyType.EC_HSM);
        apply(key);
        awaitCondition(io.hsmoperator.api.hsmkey.HsmKey.class, "blocker", "Ready", "True", null, Duration.ofSeconds(30));
        client.resource(get(ManagedHsm.class, "doomed")).delete();
        awaitCondition(ManagedHsm.class, "doomed", "Stalled", "True", "DeletionBlocked", Duration.ofSeconds(20));
        assertTrue(azureHsm(doomed.getSpec().azureName).isPresent(), "not deleted while an HsmKey references it");
        client.resource(get(io.hsmoperator.api.hsmkey.HsmKey.class, "blocker")).delete();
        await().atMost(Duration.ofSeconds(30)).until(() -> get(ManagedHsm.class, "doomed") == null);
        String name = doomed.getSpec().azureName;
        assertTrue(azureHsm(name).isEmpty());
        boolean softDeleted = emulator.inspect(s -> s.deletedHsms.containsKey(name));
        assertTrue(softDeleted, "soft-deleted, recoverable");
        assertTrue(journalSinceMark(e -> e.path().contains("/purge")).isEmpty(), "never purged");
    }
}
