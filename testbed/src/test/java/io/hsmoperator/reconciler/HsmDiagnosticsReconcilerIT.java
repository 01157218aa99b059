package io.hsmoperator.reconciler;

import com.azure.core.management.exception.ManagementException;
import com.azure.core.util.Context;
import com.azure.resourcemanager.monitor.fluent.DiagnosticSettingsOperationsClient;
import com.azure.resourcemanager.monitor.fluent.models.DiagnosticSettingsResourceInner;
import com.azure.resourcemanager.monitor.models.LogSettings;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.diagnostics.HsmDiagnosticsSpec;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.emulator.Controls;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
class HsmDiagnosticsReconcilerIT extends OperatorTestBase {
    private static final Duration WAIT = Duration.ofSeconds(40);

    private String workspace(String name) {
        return "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/" + name;
    }

    private HsmDiagnostics diagnostics(String name) {
        HsmDiagnostics d = new HsmDiagnostics();
        d.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
        HsmDiagnosticsSpec s = new HsmDiagnosticsSpec();
        s.hsmRef = new HsmReference("hsm", null);
        s.logAnalyticsWorkspaceId = workspace("law-security");
        d.setSpec(s);
        return d;
    }

    private DiagnosticSettingsOperationsClient azure() {
        return owner().monitor().serviceClient().getDiagnosticSettingsOperations();
    }

    private long writesTo(String setting) {
        return journalSinceMark(e -> e.isWrite() && e.path().toLowerCase().endsWith("/diagnosticsettings/" + setting.toLowerCase())).size();
    }

    @Test
    void aWriteAzureRefusesForGoodIsSentAFewTimesThenNotAgainUntilTheSpecChanges() throws Exception {
        readyHsm("hsm");
        journalMark = emulator.controls().lastSequence();
        var refusal = emulator.controls().addFault(io.hsmoperator.emulator.Controls.Fault.status("PUT", "arm", "(?i).*/diagnosticSettings/refused",
                400, 0, 1000));
        try {
            apply(diagnostics("refused"));
            HsmDiagnostics stalled = awaitCondition(HsmDiagnostics.class, "refused", "Ready", "False", "WriteRefused", Duration.ofSeconds(60));
            assertTrue(condition(stalled, "Ready").getMessage().contains("until its spec changes"), condition(stalled, "Ready").getMessage());
            assertEquals(3, writesTo("refused"), "three attempts, then no more");
            // Several resyncs (3 s here) and backoff caps (2 s) later, it still reads and still does not write.
            Thread.sleep(12_000);
            assertEquals(3, writesTo("refused"), "no write while the spec is what Azure refused");
            assertEquals("WriteRefused", condition(get(HsmDiagnostics.class, "refused"), "Ready").getReason());

            // A spec change is worth another try.
            HsmDiagnostics edited = get(HsmDiagnostics.class, "refused");
            edited.getSpec().metrics = false;
            update(edited);
            await().atMost(WAIT).until(() -> writesTo("refused") > 3);
            Thread.sleep(12_000);
            assertEquals(6, writesTo("refused"), "three more attempts for the new spec, then no more");
        } finally {
            emulator.controls().removeFault(refusal);
        }
    }

    @Test
    void sendsTheAuditLogCorrectsDriftAndDeletesOnDeletion() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmDiagnostics d = diagnostics("audit");
        d.getSpec().logAnalyticsDestinationType = HsmDiagnosticsSpec.DestinationType.Dedicated;
        d.getSpec().storageAccountId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg-mon/providers/Microsoft.Storage/storageAccounts/stlogs";
        apply(d);
        HsmDiagnostics ready = awaitCondition(HsmDiagnostics.class, "audit", "Ready", "True", "Ready", WAIT);
        String id = hsm.getStatus().resourceId;
        DiagnosticSettingsResourceInner inAzure = azure().get(id, "audit");
        assertEquals(workspace("law-security"), inAzure.workspaceId());
        assertEquals("Dedicated", inAzure.logAnalyticsDestinationType());
        assertTrue(inAzure.logs().stream().anyMatch(l -> "audit".equals(l.categoryGroup()) && l.enabled()), "categoryGroups default to audit");
        assertTrue(inAzure.metrics().get(0).enabled());
        assertEquals(inAzure.id(), ready.getStatus().settingId);
        assertEquals(2, ready.getStatus().destinations.size());
        assertEquals(List.of("audit"), ready.getStatus().logs);
        assertTrue(eventReasons().contains("DiagnosticSettingCreated"));

        // someone points the audit log elsewhere in the portal; the operator puts it back once, though Azure's reads still
        // show the wrong workspace for a while
        inAzure.withWorkspaceId(workspace("law-elsewhere"));
        azure().createOrUpdate(id, "audit", inAzure);
        try (AutoCloseable lagging = emulator.controls().lagReads(Duration.ofSeconds(3))) {
            long mark = emulator.controls().lastSequence();
            touch(HsmDiagnostics.class, "audit");
            await().atMost(WAIT).until(() -> !operatorWrites(mark, "/diagnosticSettings/audit").isEmpty());
            touch(HsmDiagnostics.class, "audit");
            Thread.sleep(1000);
            assertEquals(1, operatorWrites(mark, "/diagnosticSettings/audit").size(), "one correction, not one per stale read");
        }
        await().atMost(WAIT).until(() -> workspace("law-security").equals(azure().get(id, "audit").workspaceId()));
        assertTrue(eventReasons().contains("DiagnosticSettingUpdated"));

        long writes = writesTo("audit");
        Thread.sleep(4000);
        assertEquals(writes, writesTo("audit"), "no write while Azure matches the spec");

        client.resource(get(HsmDiagnostics.class, "audit")).delete();
        await().atMost(WAIT).until(() -> get(HsmDiagnostics.class, "audit") == null);
        ManagementException gone = assertThrows(ManagementException.class, () -> azure().getWithResponse(id, "audit", Context.NONE));
        assertEquals(404, gone.getResponse().getStatusCode());
    }

    @Test
    void aSettingOfTheSameNameWrittenBySomeoneElseIsLeftAlone() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        String id = hsm.getStatus().resourceId;
        azure().createOrUpdate(id, "theirs", new DiagnosticSettingsResourceInner().withWorkspaceId(workspace("law-theirs"))
                .withLogs(List.of(new LogSettings().withCategory("AuditEvent").withEnabled(true))));
        awaitReadable(id, "theirs");
        journalMark = emulator.controls().lastSequence();
        apply(diagnostics("theirs"));
        HsmDiagnostics conflict = awaitCondition(HsmDiagnostics.class, "theirs", "Ready", "False", "OwnershipConflict", WAIT);
        assertTrue(condition(conflict, "Ready").getMessage().contains("law-theirs"));
        assertEquals(0, writesTo("theirs"));
        assertEquals(workspace("law-theirs"), azure().get(id, "theirs").workspaceId());

        client.resource(conflict).delete();
        await().atMost(WAIT).until(() -> get(HsmDiagnostics.class, "theirs") == null);
        assertEquals(workspace("law-theirs"), azure().get(id, "theirs").workspaceId(), "deleting our resource did not delete theirs");

        // A setting with exactly our content is not ours either: it is adopted only when asked, and then never deleted.
        azure().createOrUpdate(id, "same", new DiagnosticSettingsResourceInner().withWorkspaceId(workspace("law-security"))
                .withLogs(List.of(new LogSettings().withCategoryGroup("audit").withEnabled(true))));
        awaitReadable(id, "same");
        apply(diagnostics("same"));
        HsmDiagnostics same = awaitCondition(HsmDiagnostics.class, "same", "Ready", "False", "OwnershipConflict", WAIT);
        same.getSpec().adoptExisting = true;
        update(same);
        HsmDiagnostics adopted = awaitCondition(HsmDiagnostics.class, "same", "Ready", "True", null, WAIT);
        assertEquals(Boolean.TRUE, adopted.getStatus().adopted);
        assertTrue(eventReasons().contains("DiagnosticSettingAdopted"));
        client.resource(adopted).delete();
        await().atMost(WAIT).until(() -> get(HsmDiagnostics.class, "same") == null);
        assertEquals(workspace("law-security"), azure().get(id, "same").workspaceId(), "an adopted setting stays (deletionPolicy Delete)");
        assertEquals(0, journalSinceMark(e -> e.method().equals("DELETE") && e.path().contains("diagnosticSettings/same")).size());
    }

    @Test
    void malformedDestinationsAreRefusedBeforeAnyCall() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        HsmDiagnostics wrongKind = diagnostics("wrong-kind");
        wrongKind.getSpec().logAnalyticsWorkspaceId = "/subscriptions/" + SUBSCRIPTION
                + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/notaworkspace";
        apply(wrongKind);
        HsmDiagnostics eh = diagnostics("bad-hub");
        eh.getSpec().logAnalyticsWorkspaceId = null;
        eh.getSpec().eventHub = new HsmDiagnosticsSpec.EventHub();
        eh.getSpec().eventHub.authorizationRuleId = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns";
        apply(eh);
        HsmDiagnostics both = diagnostics("both");
        both.getSpec().categories = List.of(HsmDiagnosticsSpec.Category.AuditEvent);
        both.getSpec().categoryGroups = List.of(HsmDiagnosticsSpec.CategoryGroup.allLogs);
        refusedAtAdmission(both, "not both");
        HsmDiagnostics none = diagnostics("none");
        none.getSpec().logAnalyticsWorkspaceId = null;
        refusedAtAdmission(none, "set at least one destination");
        assertTrue(condition(awaitCondition(HsmDiagnostics.class, "wrong-kind", "Ready", "False", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("not the resource ID of a Log Analytics workspace"));
        assertTrue(condition(awaitCondition(HsmDiagnostics.class, "bad-hub", "Ready", "False", "InvalidSpec", WAIT), "Ready").getMessage()
                .contains("authorization rule"));
        assertEquals(List.of(), journalSinceMark(e -> e.endpoint().equals("arm") && e.path().contains(hsm.getSpec().azureName)
                && e.path().toLowerCase().contains("diagnosticsettings")), "not even a read was sent");
    }

    @Test
    void transientFailuresConvergeAndRetainKeepsTheSetting() throws Exception {
        ManagedHsm hsm = readyHsm("hsm");
        emulator.controls().addFault(Controls.Fault.status("PUT", "arm", ".*/diagnosticSettings/kept", 503, 0, 2));
        emulator.controls().addFault(Controls.Fault.status("GET", "arm", ".*/diagnosticSettings/kept", 429, 1, 1));
        HsmDiagnostics d = diagnostics("kept");
        d.getSpec().deletionPolicy = HsmDiagnosticsSpec.DeletionPolicy.Retain;
        apply(d);
        HsmDiagnostics ready = awaitCondition(HsmDiagnostics.class, "kept", "Ready", "True", "Ready", WAIT);
        client.resource(ready).delete();
        await().atMost(WAIT).until(() -> get(HsmDiagnostics.class, "kept") == null);
        assertEquals(workspace("law-security"), azure().get(hsm.getStatus().resourceId, "kept").workspaceId());
        assertFalse(eventReasons().contains("DiagnosticSettingDeleted"));
    }

    /** A setting someone else made existed long before the resource: wait until Azure's reads (which lag) show it. */
    private void awaitReadable(String resourceId, String name) {
        await().atMost(WAIT).ignoreExceptions().until(() -> azure().get(resourceId, name) != null);
    }
}
