package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.diagnostics.HsmDiagnosticsSpec;
import io.hsmoperator.api.diagnostics.HsmDiagnosticsStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.DiagnosticSettings;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.ResourceIds;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmDiagnostics: an Azure Monitor diagnostic setting on the HSM, so its audit log reaches Log Analytics, storage or an
 * Event Hub. Destinations are checked before anything is sent; drift is corrected; a setting of the same name that this
 * resource did not write and that says something else is left alone.
 */
@ControllerConfiguration(name = "hsmdiagnostics", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmDiagnosticsReconciler implements Reconciler<HsmDiagnostics>, Cleaner<HsmDiagnostics> {
    private static final String WORKSPACE = "Microsoft.OperationalInsights/workspaces";
    private static final String STORAGE = "Microsoft.Storage/storageAccounts";
    private static final String EVENT_HUB_RULE = "Microsoft.EventHub/namespaces/authorizationRules";
    private final DiagnosticSettings settings;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;

    public HsmDiagnosticsReconciler(DiagnosticSettings settings, OperatorConfig config, KubernetesClient kubernetes, Events events, Clock clock) {
        this.settings = settings;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, HsmDiagnostics>> prepareEventSources(EventSourceContext<HsmDiagnostics> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatReferrersRead));
    }

    @Override
    public UpdateControl<HsmDiagnostics> reconcile(HsmDiagnostics cr, Context<HsmDiagnostics> context) {
        return Reports.reconcile(kubernetes, cr, HsmDiagnosticsStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(HsmDiagnostics cr, HsmDiagnosticsStatus st) {
        String invalid = validate(cr.getSpec());
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, cr.getSpec().hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String resourceId = hsm.hsm().getStatus().resourceId;
        String name = settingName(cr);
        if (st.settingName != null && !st.settingName.equals(name)) {
            stalled(st, Reason.ImmutableFieldChanged, "settingName now names " + name + ", but this resource manages the setting "
                    + st.settingName + ". settingName is immutable: set it back, or create a new HsmDiagnostics. Nothing was changed.",
                    gen(cr), clock);
            return config.reconcile().resync();
        }
        DiagnosticSettings.Setting want = desired(cr.getSpec());

        Optional<DiagnosticSettings.Setting> observed = settings.get(resourceId, name);
        if (observed.isPresent() && st.settingId == null) {
            if (!Boolean.TRUE.equals(cr.getSpec().adoptExisting)) {
                stalled(st, Reason.OwnershipConflict, "The HSM already has a diagnostic setting named " + name + " that this resource did "
                        + "not write, sending " + describe(observed.get()) + ". Choose another settingName, remove that setting, or set "
                        + "spec.adoptExisting: true to manage it from here (deleting this resource then leaves it in place). Nothing was "
                        + "changed.", gen(cr), clock);
                return config.reconcile().resync();
            }
            st.adopted = true;
            events.normal(cr, "DiagnosticSettingAdopted", "Adopted diagnostic setting " + name + " on " + resourceId + " (spec.adoptExisting); "
                    + "deleting this resource will leave it in place.");
        }
        String drift = observed.isEmpty() ? "the whole setting" : drift(observed.get(), want);
        if (drift != null) {
            // A diagnostic setting carries no last-modified time: the guard cannot tell a lagging read from a value changed
            // back, so after a write it waits a while for reads to show it before writing again.
            Duration held = DriftGuard.hold(st, st.lastUpdate, drift, "diagnostic setting " + name, null, gen(cr), clock, config.reconcile());
            if (held != null) {
                return held;
            }
            // Recorded before the PUT: deletion must find what a PUT may have made, even if this process stops right after it.
            st.settingId = DiagnosticSettings.settingId(resourceId, name);
            st.settingName = name;
            Reports.writeAhead(kubernetes, cr, st);
            Mutation m = settings.put(resourceId, name, want);
            st.lastUpdate = DriftGuard.sent(st.lastUpdate, drift, null, gen(cr), Instant.now(clock));
            events.mutation(cr, observed.isEmpty() ? "DiagnosticSettingCreated" : "DiagnosticSettingUpdated", (observed.isEmpty()
                    ? "Created" : "Corrected") + " diagnostic setting " + name + " on " + resourceId + ": " + describe(want), m);
            progressing(st, Reason.Updating, "Azure is applying diagnostic setting " + name + ": " + describe(want) + ".", gen(cr), clock);
            return config.reconcile().poll();
        } else {
            st.lastUpdate = null;
        }
        DiagnosticSettings.Setting in = observed.get();
        st.settingId = in.id();
        st.settingName = name;
        st.destinations = destinations(in);
        st.logs = new ArrayList<>(in.categories().isEmpty() ? in.categoryGroups() : in.categories());
        ready(st, Reason.Ready, "Diagnostic setting " + name + " sends " + describe(in) + ".", gen(cr), clock);
        return config.reconcile().resync();
    }

    /** Resource IDs must name the right kind of resource: a malformed one is refused here, not by Azure. */
    static String validate(HsmDiagnosticsSpec s) {
        // Required fields, at least one destination, categories or groups: the CRD's rules, checked by SpecRules before this.
        if (s.logAnalyticsWorkspaceId != null && !ResourceIds.isOfType(s.logAnalyticsWorkspaceId, WORKSPACE)) {
            return "logAnalyticsWorkspaceId '" + s.logAnalyticsWorkspaceId + "' is not the resource ID of a Log Analytics workspace "
                    + "(/subscriptions/…/resourceGroups/…/providers/" + WORKSPACE + "/{name}).";
        }
        if (s.storageAccountId != null && !ResourceIds.isOfType(s.storageAccountId, STORAGE)) {
            return "storageAccountId '" + s.storageAccountId + "' is not the resource ID of a storage account (…/providers/" + STORAGE + "/{name}).";
        }
        if (s.eventHub != null && !ResourceIds.isOfType(s.eventHub.authorizationRuleId, EVENT_HUB_RULE)) {
            return "eventHub.authorizationRuleId '" + s.eventHub.authorizationRuleId + "' is not the resource ID of an Event Hubs namespace "
                    + "authorization rule (…/providers/Microsoft.EventHub/namespaces/{namespace}/authorizationRules/{rule}).";
        }
        return null;
    }

    private static DiagnosticSettings.Setting desired(HsmDiagnosticsSpec s) {
        List<String> categories = new ArrayList<>();
        List<String> groups = new ArrayList<>();
        if (s.categories != null && !s.categories.isEmpty()) {
            s.categories.forEach(c -> categories.add(c.name()));
        } else if (s.categoryGroups != null && !s.categoryGroups.isEmpty()) {
            s.categoryGroups.forEach(g -> groups.add(g.name()));
        } else {
            groups.add(HsmDiagnosticsSpec.CategoryGroup.audit.name());
        }
        return new DiagnosticSettings.Setting(null, s.logAnalyticsWorkspaceId,
                s.logAnalyticsWorkspaceId == null ? null : s.logAnalyticsDestinationType == null ? "AzureDiagnostics" : s.logAnalyticsDestinationType.name(),
                s.storageAccountId, s.eventHub == null ? null : s.eventHub.authorizationRuleId, s.eventHub == null ? null : s.eventHub.name,
                categories, groups, !Boolean.FALSE.equals(s.metrics));
    }

    /** The properties of {@code have} that differ from {@code want} (IDs compared as Azure normalises them), or null. */
    private static String drift(DiagnosticSettings.Setting have, DiagnosticSettings.Setting want) {
        List<String> fields = new ArrayList<>();
        if (!eq(have.workspaceId(), want.workspaceId()) || (want.workspaceId() != null && !eq(have.destinationType(), want.destinationType()))
                || !eq(have.storageAccountId(), want.storageAccountId()) || !eq(have.eventHubAuthorizationRuleId(), want.eventHubAuthorizationRuleId())
                || !Objects.equals(have.eventHubName(), want.eventHubName())) {
            fields.add("destinations");
        }
        if (!lower(have.categories()).equals(lower(want.categories())) || !lower(have.categoryGroups()).equals(lower(want.categoryGroups()))) {
            fields.add("logs");
        }
        if (have.metrics() != want.metrics()) {
            fields.add("metrics");
        }
        return fields.isEmpty() ? null : String.join(", ", fields);
    }

    private static boolean eq(String a, String b) {
        return a == null ? b == null : a.equalsIgnoreCase(b);
    }

    private static HashSet<String> lower(List<String> l) {
        HashSet<String> out = new HashSet<>();
        l.forEach(x -> out.add(x.toLowerCase(Locale.ROOT)));
        return out;
    }

    private static List<String> destinations(DiagnosticSettings.Setting s) {
        List<String> d = new ArrayList<>();
        if (s.workspaceId() != null) {
            d.add(s.workspaceId());
        }
        if (s.storageAccountId() != null) {
            d.add(s.storageAccountId());
        }
        if (s.eventHubAuthorizationRuleId() != null) {
            d.add(s.eventHubAuthorizationRuleId() + (s.eventHubName() == null ? "" : " (hub " + s.eventHubName() + ")"));
        }
        return d;
    }

    private static String describe(DiagnosticSettings.Setting s) {
        List<String> logs = s.categories().isEmpty() ? s.categoryGroups() : s.categories();
        return "logs " + logs + (s.metrics() ? " and AllMetrics" : "") + " to " + String.join(", ", destinations(s).stream()
                .map(ResourceIds::name).toList());
    }

    static String settingName(HsmDiagnostics cr) {
        return cr.getSpec().settingName != null ? cr.getSpec().settingName : cr.getMetadata().getName();
    }

    @Override
    public DeleteControl cleanup(HsmDiagnostics cached, Context<HsmDiagnostics> context) {
        HsmDiagnostics cr = Reports.latest(kubernetes, cached);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, HsmDiagnosticsStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        HsmDiagnosticsStatus st = Reports.copy(cr.getStatus(), HsmDiagnosticsStatus.class);
        if (cr.getSpec().deletionPolicy == HsmDiagnosticsSpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the HsmDiagnostics resource; diagnostic setting " + settingName(cr)
                    + " stays on the HSM (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        if (st.settingId == null) {
            return DeleteControl.defaultDelete();
        }
        if (Boolean.TRUE.equals(st.adopted)) {
            events.normal(cr, "Retained", "Deleted the HsmDiagnostics resource; diagnostic setting " + settingName(cr) + " was adopted, "
                    + "not made by it, and stays on the HSM.");
            return DeleteControl.defaultDelete();
        }
        // What is deleted is the setting the spec names on the HSM this resource was made in; status says only that a PUT
        // was sent.
        HsmRefs.Resolution hsm = HsmRefs.resolveMadeIn(cr, cr.getSpec().hsmRef, hsms);
        if (HsmRefs.releasedUntouched(hsm, events, cr)) {
            return DeleteControl.defaultDelete();
        }
        String resourceId = hsm.hsm() == null || hsm.hsm().getStatus() == null ? null : hsm.hsm().getStatus().resourceId;
        if (resourceId == null || !resourceId.equalsIgnoreCase(DiagnosticSettings.resourceOf(st.settingId))) {
            stalled(st, Reason.DeletionBlocked, "Diagnostic setting " + settingName(cr) + " cannot be deleted yet: " + (resourceId == null
                    ? Objects.toString(hsm.message(), "the HSM it was made on is not known.") : "status names it on another resource than "
                    + "this resource's HSM " + resourceId + ".") + " Deletion waits; annotate " + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION
                    + "=true to release this resource and leave the setting in place.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        try {
            // No read first: one that finds nothing proves nothing (Azure's reads lag its writes); the DELETE's answer does.
            Mutation m = settings.delete(resourceId, settingName(cr));
            if (m.status() != 204) {
                events.mutation(cr, "DiagnosticSettingDeleted", "Deleted diagnostic setting " + settingName(cr) + " from " + resourceId, m);
            }
            return DeleteControl.defaultDelete();
        } catch (AzureError e) {
            if (e.is(AzureError.Kind.NOT_FOUND)) {
                return DeleteControl.defaultDelete();
            }
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }
}
