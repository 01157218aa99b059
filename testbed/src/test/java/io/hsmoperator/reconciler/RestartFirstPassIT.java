package io.hsmoperator.reconciler;

import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.KeyClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.hsmoperator.emulator.HsmFixtures;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A restarted operator (the packaged one, as its own process) trusts what the status of each converged HsmKey recorded:
 * one listing of the HSM confirms the keys, and only those whose key changed while no operator ran, or whose published
 * ConfigMap went away, are read in full and corrected. The operator inside this test JVM only hosts the emulator.
 */
@QuarkusTest
@TestProfile(LeaderElectionIT.Elsewhere.class)
class RestartFirstPassIT extends OperatorTestBase {
    private static final int KEYS = 24;
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final Pattern KEY_READ = Pattern.compile("/keys/([^/]+)(/versions|/[0-9a-f]{32})?");
    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void stopProcesses() {
        processes.forEach(Process::destroyForcibly);
    }

    private Process operator(String identity) throws Exception {
        return operator(identity, "P1D");
    }

    private Process operator(String identity, String keyFullRead) throws Exception {
        // The production intervals that matter here: a full read a day, drift listings every 10 minutes (the test settings
        // read every key every 3 seconds).
        Process p = PackagedOperator.watching(emulator, ns, Path.of("target", "restart-first-pass", ns, identity + ".log"),
                java.util.Map.of("hsm.reconcile.key-full-read", keyFullRead, "hsm.reconcile.drift-interval", "PT10M", "hsm.reconcile.resync", "PT1H"));
        processes.add(p);
        return p;
    }

    @Test
    void aRestartedOperatorReadsOnlyTheKeysThatChangedWhileItWasAway() throws Exception {
        packagedOperatorCredentials();
        Process first = operator("first");
        ManagedHsm hsm = readyHsm("hsm");
        String azureName = hsm.getSpec().azureName;
        for (int i = 0; i < KEYS; i++) {
            HsmKey k = hsmKey("k" + i, "hsm", HsmKeySpec.KeyType.EC_HSM);
            k.getSpec().curve = HsmKeySpec.Curve.P_256;
            apply(k);
        }
        for (int i = 0; i < KEYS; i++) {
            awaitKey("k" + i, k -> Conditions.isTrue(k.getStatus(), Conditions.READY) && k.getStatus().nextReadAt != null, "Ready", WAIT);
        }
        assertTrue(first.destroyForcibly().waitFor(10, TimeUnit.SECONDS), "the first operator is gone");

        // While no operator runs: someone disables one key in Azure, and deletes another's published ConfigMap.
        KeyClient keys = azureAs(emulator.builtInPrincipal()).keys(hsm.getStatus().hsmUri);
        azureAs(emulator.builtInPrincipal()).rbac(hsm.getStatus().hsmUri).createRoleAssignment(KeyVaultRoleScope.KEYS,
                HsmFixtures.CRYPTO_USER, emulator.builtInPrincipal().objectId());
        awaitRbacPropagation();
        keys.updateKeyProperties(keys.getKey("k7").getProperties().setEnabled(false));
        client.configMaps().inNamespace(ns).withName("k3-key").delete();
        await().atMost(WAIT).until(() -> client.configMaps().inNamespace(ns).withName("k3-key").get() == null);

        long mark = emulator.controls().lastSequence();
        Process second = operator("second");
        try {
            await().atMost(WAIT).until(() -> emulator.inspect(s -> s.hsms.get(azureName).keys.get("k7").latest().enabled)
                    && client.configMaps().inNamespace(ns).withName("k3-key").get() != null);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dump();
            throw e;
        }
        // Longer than the confirming listing's delay: any key read the first pass would make is made by now.
        Thread.sleep(KeyListings.CONFIRM_QUIET.toMillis() + 4000);

        List<Controls.JournalEntry> toHsm = emulator.controls().journal(e -> e.seq() > mark && azureName.equals(e.endpoint())
                && emulator.builtInPrincipal().objectId().equals(e.principal()));
        Set<String> readInFull = new TreeSet<>();
        long listings = 0;
        for (Controls.JournalEntry e : toHsm) {
            Matcher m = KEY_READ.matcher(e.path());
            if (e.path().equals("/keys")) {
                listings++;
            } else if (m.matches()) {
                readInFull.add(m.group(1));
            }
        }
        assertEquals(Set.of("k3", "k7"), readInFull, "only the changed key and the one whose ConfigMap went were read: " + toHsm);
        int pages = (KEYS + 9) / 10;
        assertTrue(listings >= pages && listings <= 2L * pages, "one listing of the HSM (" + pages + " pages) confirmed the rest, maybe "
                + "with the HSM's key count: " + listings + " list requests");
        assertEquals(List.of("PATCH /keys/k7/" + emulator.inspect(s -> s.hsms.get(azureName).keys.get("k7").latest().version)),
                toHsm.stream().filter(Controls.JournalEntry::isWrite).map(e -> e.method() + " " + e.path()).toList(),
                "the one write re-enables k7");

        // Restarted again with a shorter full-read interval: status's nextReadAt was reckoned with a day, but every key's
        // last full read is now older than the interval, so each is read at once rather than a day after.
        assertTrue(second.destroyForcibly().waitFor(10, TimeUnit.SECONDS), "the second operator is gone");
        long again = emulator.controls().lastSequence();
        operator("third", "PT5S");
        await().atMost(WAIT).until(() -> {
            Set<String> read = new TreeSet<>();
            for (Controls.JournalEntry e : emulator.controls().journal(x -> x.seq() > again && azureName.equals(x.endpoint())
                    && emulator.builtInPrincipal().objectId().equals(x.principal()))) {
                Matcher m = KEY_READ.matcher(e.path());
                if (m.matches()) {
                    read.add(m.group(1));
                }
            }
            return read.size() == KEYS;
        });
    }
}
