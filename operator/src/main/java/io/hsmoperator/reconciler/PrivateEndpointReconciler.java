package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.HsmRegionRules;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.privateendpoint.PrivateEndpointSpec;
import io.hsmoperator.api.privateendpoint.PrivateEndpointStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.PrivateEndpoints;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * PrivateEndpoint: a Microsoft.Network private endpoint to the HSM (group managedhsm), with a DNS zone group for
 * privatelink.managedhsm.azure.net. Ready only when the connection is Approved; a pending manual connection is approved on
 * the HSM side when the spec asks for it. Long-running operations are started and observed, never waited for.
 */
@ControllerConfiguration(name = "privateendpoint", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class PrivateEndpointReconciler implements Reconciler<PrivateEndpoint>, Cleaner<PrivateEndpoint> {
    static final String DNS_ZONE = "privatelink.managedhsm.azure.net";
    private static final Duration AWAITING_APPROVAL = Duration.ofMinutes(1);
    private final PrivateEndpoints endpoints;
    private final ManagedHsmArm arm;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final HsmLookup hsms;
    private final Events events;
    private final Clock clock;
    private final Ownership ownership;
    private final HsmDeclarations declarations;

    public PrivateEndpointReconciler(PrivateEndpoints endpoints, ManagedHsmArm arm, OperatorConfig config, KubernetesClient kubernetes,
                                     Events events, Ownership ownership, HsmDeclarations declarations, Clock clock) {
        this.endpoints = endpoints;
        this.declarations = declarations;
        this.ownership = ownership;
        this.arm = arm;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, PrivateEndpoint>> prepareEventSources(EventSourceContext<PrivateEndpoint> context) {
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::everything));
    }

    @Override
    public UpdateControl<PrivateEndpoint> reconcile(PrivateEndpoint cr, Context<PrivateEndpoint> context) {
        return Reports.reconcile(kubernetes, cr, PrivateEndpointStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(PrivateEndpoint cr, PrivateEndpointStatus st) {
        PrivateEndpointSpec spec = cr.getSpec();
        String invalid = validate(spec);
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid + " Nothing was sent to Azure.", gen(cr), clock);
            return config.reconcile().resync();
        }
        Optional<String> refused = declarations.endpointRefusal(cr.getMetadata().getNamespace(), spec.subnetId,
                spec.privateDnsZoneIds == null ? List.of() : spec.privateDnsZoneIds);
        if (refused.isPresent()) {
            stalled(st, Reason.NotPermitted, refused.get(), gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, spec.hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        ManagedHsm target = hsm.hsm();
        Duration region = regionHold(cr, st, target);
        if (region != null) {
            return region;
        }
        String subscription = subscription(cr, target);
        if (st.resourceId != null && !ResourceIds.subscription(st.resourceId).equalsIgnoreCase(subscription)) {
            stalled(st, Reason.ImmutableFieldChanged, "subscriptionId now names " + subscription + ", but this resource manages "
                    + st.resourceId + ". subscriptionId is immutable: set it back, or create a new PrivateEndpoint. Nothing was changed.",
                    gen(cr), clock);
            return config.reconcile().resync();
        }
        String owner = ownership.tag(cr);
        // A connection asked for from another namespace waits for the HSM's owners to approve it, whatever its spec says.
        boolean hsmsOwnNamespace = target.getMetadata().getNamespace().equals(cr.getMetadata().getNamespace());
        PrivateEndpoints.Desired want = new PrivateEndpoints.Desired(spec.location, spec.subnetId, target.getStatus().resourceId,
                Boolean.TRUE.equals(spec.manualApproval) || !hsmsOwnNamespace, spec.requestMessage, tags(cr, owner));

        // observe; create once
        Optional<PrivateEndpoints.Endpoint> observed = endpoints.get(subscription, spec.resourceGroup, spec.azureName);
        if (observed.isEmpty()) {
            // Recorded before the PUT: deletion must find what a PUT may have made, even if this process stops right after it.
            st.resourceId = PrivateEndpoints.id(subscription, spec.resourceGroup, spec.azureName);
            Reports.writeAhead(kubernetes, cr, st);
            Mutation m = endpoints.startPut(subscription, spec.resourceGroup, spec.azureName, want);
            events.mutation(cr, "PrivateEndpointCreateStarted", "Creating private endpoint " + spec.azureName + " in " + spec.resourceGroup
                    + " to " + target.getStatus().resourceId + (want.manualApproval() ? " (manual approval)" : ""), m);
            progressing(st, Reason.Creating, "Azure is creating the private endpoint.", gen(cr), clock);
            return config.reconcile().poll();
        }
        PrivateEndpoints.Endpoint pe = observed.get();
        String tagged = pe.tags().get(Ownership.TAG);
        if (!ownership.isOf(tagged, cr)) {
            stalled(st, Reason.OwnershipConflict, "A private endpoint named " + spec.azureName + " exists in " + spec.resourceGroup + " but "
                    + (tagged == null ? "was not created by this resource" : "belongs to " + Ownership.Owner.parse(tagged)
                    .map(Ownership.Owner::toString).orElse(tagged)) + ". Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String immutable = immutableConflicts(want, pe);
        if (immutable != null) {
            stalled(st, Reason.ImmutableFieldChanged, immutable + ". A private endpoint's target, subnet and approval type cannot change: "
                    + "create a new PrivateEndpoint. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        report(st, pe);
        if (!"Succeeded".equalsIgnoreCase(pe.provisioningState())) {
            if ("Failed".equalsIgnoreCase(pe.provisioningState())) {
                stalled(st, Reason.ProvisioningFailed, "Azure could not provision the private endpoint (provisioningState Failed).", gen(cr), clock);
                return config.reconcile().resync();
            }
            progressing(st, Reason.Provisioning, "Azure is provisioning the private endpoint (" + pe.provisioningState() + ").", gen(cr), clock);
            return config.reconcile().poll();
        }

        // act: tags, DNS zone group, approval
        // Tags others add (an Azure Policy with the modify effect) are theirs: only the operator's own must be there.
        if (!pe.tags().entrySet().containsAll(want.tags().entrySet())) {
            // A read that predates the last update, or an update Azure keeps undoing, is no reason to send it again; the
            // endpoint's DNS registration and approval go on regardless.
            if (DriftGuard.mayWrite(st.lastUpdate, "tags", "private endpoint " + pe.id(), pe.etag(), gen(cr), Instant.now(clock), events, cr)) {
                Map<String, String> merged = new java.util.LinkedHashMap<>(pe.tags());
                merged.putAll(want.tags());
                Mutation m = endpoints.startPut(subscription, spec.resourceGroup, spec.azureName, want.withTags(merged));
                st.lastUpdate = DriftGuard.sent(st.lastUpdate, "tags", pe.etag(), gen(cr), Instant.now(clock));
                events.mutation(cr, "PrivateEndpointUpdated", "Updated the tags of private endpoint " + pe.id(), m);
            }
        } else {
            st.lastUpdate = null;
        }
        List<String> zones = spec.privateDnsZoneIds == null ? List.of() : spec.privateDnsZoneIds;
        if (!zones.isEmpty() && !lower(endpoints.dnsZones(subscription, spec.resourceGroup, spec.azureName)).equals(lower(zones))) {
            Mutation m = endpoints.putDnsZones(subscription, spec.resourceGroup, spec.azureName, zones);
            events.mutation(cr, "DnsZoneGroupSet", "Registered private endpoint " + spec.azureName + " in DNS zones "
                    + zones.stream().map(ResourceIds::name).toList(), m);
        }
        String state = pe.connectionState() == null ? "Pending" : pe.connectionState();
        switch (state.toLowerCase(Locale.ROOT)) {
            case "approved":
                ready(st, Reason.Ready, "Private endpoint " + spec.azureName + " is connected to " + target.getSpec().azureName + " at "
                        + String.join(", ", pe.privateIps()) + ".", gen(cr), clock);
                return config.reconcile().resync();
            case "pending":
                if (Boolean.TRUE.equals(spec.approveConnection) && hsmsOwnNamespace) {
                    return approve(cr, st, target, pe);
                }
                if (!hsmsOwnNamespace) {
                    progressing(st, Reason.AwaitingApproval, "The connection waits for the HSM's owners to approve it in Azure: a private "
                            + "endpoint asked for from another namespace is always a manual connection, and spec.approveConnection is "
                            + "honoured only for a PrivateEndpoint in the HSM's own namespace (" + target.getMetadata().getNamespace()
                            + ").", gen(cr), clock);
                    return min(AWAITING_APPROVAL, config.reconcile().resync());
                }
                progressing(st, Reason.AwaitingApproval, "The connection waits for the HSM's owner to approve it (manual approval). Set "
                        + "spec.approveConnection: true if this operator may approve it.", gen(cr), clock);
                // a person decides: look once a minute, not at the provisioning pace
                return min(AWAITING_APPROVAL, config.reconcile().resync());
            case "rejected":
                stalled(st, Reason.ConnectionRejected, "The HSM's owner rejected the connection" + (pe.connectionDescription() == null ? ""
                        : ": " + pe.connectionDescription()) + ". Delete and re-create this PrivateEndpoint to ask again.", gen(cr), clock);
                return config.reconcile().resync();
            default:
                stalled(st, Reason.ConnectionRejected, "The connection is " + state + (pe.connectionDescription() == null ? ""
                        : ": " + pe.connectionDescription()) + ".", gen(cr), clock);
                return config.reconcile().resync();
        }
    }

    /**
     * The HSM's regions, as its ManagedHsm last observed them: spec.region must be one of them and added, and while any region
     * is being added Azure refuses private-endpoint changes to the HSM, so nothing is sent until it is done.
     */
    private Duration regionHold(PrivateEndpoint cr, PrivateEndpointStatus st, ManagedHsm target) {
        String wanted = cr.getSpec().region;
        List<ManagedHsmStatus.Region> regions = target.getStatus() == null || target.getStatus().regions == null ? List.of()
                : target.getStatus().regions;
        if (wanted != null) {
            Optional<ManagedHsmStatus.Region> found = regions.stream().filter(r -> HsmRegionRules.same(r.name, wanted)).findFirst();
            if (found.isEmpty() && !HsmRegionRules.same(wanted, target.getSpec().location) && (target.getSpec().regions == null
                    || target.getSpec().regions.stream().noneMatch(r -> HsmRegionRules.same(r, wanted)))) {
                stalled(st, Reason.RegionNotInHsm, "spec.region is " + wanted + ", but the HSM " + target.getSpec().azureName + " is in "
                        + target.getSpec().location + " and its spec.regions does not list " + wanted + ". Add the region to the "
                        + "ManagedHsm, or change this endpoint's region. Nothing was sent to Azure.", gen(cr), clock);
                return config.reconcile().resync();
            }
            st.regionHsmUri = found.map(r -> r.hsmUri).orElse(null);
            if (found.isEmpty() || (!Boolean.TRUE.equals(found.get().primary) && !"Succeeded".equalsIgnoreCase(found.get().provisioningState))) {
                progressing(st, Reason.WaitingForRegion, "The HSM does not have region " + wanted + " yet (" + found.map(r -> r.provisioningState)
                        .orElse("not added") + "); the private endpoint waits for it. Nothing was sent to Azure.", gen(cr), clock);
                return config.reconcile().poll();
            }
        }
        // A region the HSM's spec declares and Azure has not finished is about to be added, or being added.
        Optional<String> adding = regions.stream().filter(r -> HsmRegionRules.adding(r.provisioningState)).map(r -> r.name).findFirst()
                .or(() -> (target.getSpec().regions == null ? List.<String>of() : target.getSpec().regions).stream()
                        .filter(d -> regions.stream().noneMatch(r -> HsmRegionRules.same(r.name, d))).findFirst());
        if (adding.isPresent()) {
            progressing(st, Reason.WaitingForRegion, "Region " + adding.get() + " is being added to the HSM, and Azure refuses private-"
                    + "endpoint changes until that completes (up to 30 minutes). Nothing was sent to Azure yet.", gen(cr), clock);
            return config.reconcile().poll();
        }
        return null;
    }

    /** Approves the pending connection on the HSM side (spec.approveConnection). */
    private Duration approve(PrivateEndpoint cr, PrivateEndpointStatus st, ManagedHsm target, PrivateEndpoints.Endpoint pe) {
        var h = target.getSpec();
        var hsm = arm.get(h.subscriptionId, h.resourceGroup, h.azureName).orElseThrow(() -> new AzureError(AzureError.Kind.NOT_FOUND, 404,
                "ResourceNotFound", "The HSM " + h.azureName + " was not found", null, null));
        Optional<ManagedHsmArm.Connection> connection = hsm.connections().stream()
                .filter(c -> c.privateEndpointId() != null && c.privateEndpointId().equalsIgnoreCase(pe.id())).findFirst();
        if (connection.isEmpty()) {
            progressing(st, Reason.AwaitingApproval, "The HSM does not list the connection yet.", gen(cr), clock);
            return config.reconcile().poll();
        }
        String description = "Approved by hsm-operator for " + cr.getMetadata().getNamespace() + "/" + cr.getMetadata().getName();
        Mutation m = arm.setConnectionState(h.subscriptionId, h.resourceGroup, h.azureName, connection.get().name(), "Approved", description);
        events.mutation(cr, "ConnectionApproved", "Approved connection " + connection.get().name() + " of private endpoint " + pe.id()
                + " on " + hsm.id(), m);
        progressing(st, Reason.AwaitingApproval, "The operator approved the connection; waiting for Azure to report it.", gen(cr), clock);
        return config.reconcile().poll();
    }

    static String validate(PrivateEndpointSpec s) {
        // Required fields and the subnet's form are the CRD's rules, checked by SpecRules before this.
        for (String z : s.privateDnsZoneIds == null ? List.<String>of() : s.privateDnsZoneIds) {
            if (!ResourceIds.isOfType(z, "Microsoft.Network/privateDnsZones") || !ResourceIds.name(z).toLowerCase(Locale.ROOT).startsWith("privatelink.")) {
                return "privateDnsZoneIds entry '" + z + "' is not the resource ID of a private DNS zone such as " + DNS_ZONE + ".";
            }
        }
        return null;
    }

    private static String immutableConflicts(PrivateEndpoints.Desired want, PrivateEndpoints.Endpoint pe) {
        if (pe.targetId() != null && !pe.targetId().equalsIgnoreCase(want.targetId())) {
            return "the endpoint connects to " + pe.targetId() + ", not to " + want.targetId();
        }
        if (pe.subnetId() != null && !pe.subnetId().equalsIgnoreCase(want.subnetId())) {
            return "the endpoint is in subnet " + pe.subnetId() + ", not " + want.subnetId();
        }
        if (pe.manualApproval() != want.manualApproval()) {
            return "the endpoint's connection is " + (pe.manualApproval() ? "manual" : "automatic") + " in Azure";
        }
        return null;
    }

    private static void report(PrivateEndpointStatus st, PrivateEndpoints.Endpoint pe) {
        st.resourceId = pe.id();
        st.provisioningState = pe.provisioningState();
        st.connectionName = pe.connectionName();
        st.connectionState = pe.connectionState();
        st.connectionDescription = pe.connectionDescription();
        st.privateIpAddresses = new ArrayList<>(pe.privateIps());
        st.fqdns = new ArrayList<>(pe.fqdns());
    }

    private static Map<String, String> tags(PrivateEndpoint cr, String owner) {
        Map<String, String> tags = new LinkedHashMap<>(cr.getSpec().tags == null ? Map.of() : cr.getSpec().tags);
        tags.put(Ownership.TAG, owner);
        return tags;
    }

    private static HashSet<String> lower(List<String> l) {
        HashSet<String> out = new HashSet<>();
        l.forEach(x -> out.add(x.toLowerCase(Locale.ROOT)));
        return out;
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private static String subscription(PrivateEndpoint cr, ManagedHsm target) {
        return cr.getSpec().subscriptionId != null ? cr.getSpec().subscriptionId : target.getSpec().subscriptionId;
    }

    @Override
    public DeleteControl cleanup(PrivateEndpoint cached, Context<PrivateEndpoint> context) {
        PrivateEndpoint cr = Reports.latest(kubernetes, cached);
        DeleteControl stop = Reports.deletionStops(kubernetes, events, cr, PrivateEndpointStatus.class, clock, config.reconcile().poll());
        if (stop != null) {
            return stop;
        }
        PrivateEndpointSpec spec = cr.getSpec();
        PrivateEndpointStatus st = Reports.copy(cr.getStatus(), PrivateEndpointStatus.class);
        if (spec.deletionPolicy == PrivateEndpointSpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the PrivateEndpoint resource; private endpoint " + spec.azureName
                    + " stays in Azure (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        if (st.resourceId == null) {
            // Recorded before every PUT: without it nothing was ever sent to Azure.
            return DeleteControl.defaultDelete();
        }
        // What is deleted is what the spec names; status says only that a PUT was sent, and in which subscription.
        String subscription = ResourceIds.subscription(st.resourceId);
        HsmRefs.Resolution hsm = HsmRefs.resolveMadeIn(cr, spec.hsmRef, hsms);
        if (HsmRefs.releasedUntouched(hsm, events, cr)) {
            return DeleteControl.defaultDelete();
        }
        String expected = spec.subscriptionId != null ? spec.subscriptionId : hsm.hsm() != null ? hsm.hsm().getSpec().subscriptionId : null;
        if (expected != null && !expected.equalsIgnoreCase(subscription)) {
            events.warning(cr, "DeletionRefused", "status.resourceId names subscription " + subscription + ", but this resource's "
                    + "endpoint is in " + expected + "; nothing was deleted.");
            return DeleteControl.defaultDelete();
        }
        try {
            Optional<PrivateEndpoints.Endpoint> pe = endpoints.get(subscription, spec.resourceGroup, spec.azureName);
            if (pe.isPresent() && !ownership.isOf(pe.get().tags().get(Ownership.TAG), cr)) {
                events.warning(cr, "DeletionRefused", "Private endpoint " + pe.get().id() + " is not owned by this resource; it was not deleted.");
                return DeleteControl.defaultDelete();
            }
            if (pe.isEmpty() || !"Deleting".equalsIgnoreCase(pe.get().provisioningState())) {
                // A read that finds nothing proves nothing (Azure's reads lag its writes): only the DELETE's answer does.
                Mutation m = endpoints.startDelete(subscription, spec.resourceGroup, spec.azureName);
                if (m.status() == 204) {
                    return DeleteControl.defaultDelete();
                }
                events.mutation(cr, "PrivateEndpointDeleteStarted", "Deleting private endpoint " + st.resourceId + " (deletionPolicy Delete)", m);
            }
            progressing(st, Reason.Deleting, "Azure is deleting the private endpoint.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
        } catch (AzureError e) {
            if (e.is(AzureError.Kind.NOT_FOUND)) {
                return DeleteControl.defaultDelete();
            }
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }
}
