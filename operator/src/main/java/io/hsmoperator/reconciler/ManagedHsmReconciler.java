package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.AzureClients;
import io.hsmoperator.azure.HsmAccessControl;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.SecurityDomain;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * ManagedHsm: observe the HSM in Azure, validate the spec against it, act with the fewest writes (create, update the
 * mutable properties, download the security domain once, grant the operator its key-management role), report status.
 * Long-running operations are started and polled on later passes, never waited for. This class sequences the steps;
 * what the spec means for the HSM is {@link HsmSpecs}, activation and the security domain {@link HsmActivation}, the
 * operator's own role in the HSM {@link OperatorGrant}, the retry of a Failed update {@link HsmUpdateRetry}, and
 * deletion {@link HsmDeletion}.
 */
@ControllerConfiguration(name = "managedhsm", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class ManagedHsmReconciler implements Reconciler<ManagedHsm>, Cleaner<ManagedHsm> {
    static final String BLOB_KEY = SecurityDomainCustody.BLOB_KEY;
    private final ManagedHsmArm arm;
    private final AzureClients azure;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final Events events;
    private final Clock clock;
    private final HsmDeclarations declarations;
    private final Ownership ownership;
    private final HsmActivation activation;
    private final OperatorGrant operatorGrant;
    private final HsmUpdateRetry retry;
    private final HsmDeletion deletion;
    private final HsmKeyCount keyCount;
    private final HsmReplication replication;

    public ManagedHsmReconciler(ManagedHsmArm arm, SecurityDomain securityDomain, HsmAccessControl access, AzureClients azure,
                                OperatorConfig config, KubernetesClient kubernetes, Events events, Clock clock,
                                HsmDeclarations declarations, HsmKeys keys, KeyCounts counts, Ownership ownership,
                                SecurityDomainCustody custody, SecurityDomainSpool spool) {
        this.arm = arm;
        this.azure = azure;
        this.config = config;
        this.kubernetes = kubernetes;
        this.events = events;
        this.clock = clock;
        this.declarations = declarations;
        this.ownership = ownership;
        this.activation = new HsmActivation(kubernetes, securityDomain, custody, spool, azure, config, events, clock);
        this.operatorGrant = new OperatorGrant(access, keys, azure, config, events, clock);
        this.retry = new HsmUpdateRetry(arm, config, events, clock);
        this.deletion = new HsmDeletion(arm, declarations, ownership, config, kubernetes, events, clock);
        this.keyCount = new HsmKeyCount(keys, counts, config, events, clock);
        this.replication = new HsmReplication(arm, azure.target().regionalHosts(), config, events, clock);
    }

    @Override
    public UpdateControl<ManagedHsm> reconcile(ManagedHsm cr, Context<ManagedHsm> context) {
        return Reports.reconcile(kubernetes, cr, ManagedHsmStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(ManagedHsm cr, ManagedHsmStatus st) {
        // validate what needs no Azure call, and that this namespace may manage HSMs where the spec puts this one
        ManagedHsmSpec spec = cr.getSpec();
        String invalid = HsmSpecs.validate(spec);
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid, gen(cr), clock);
            return config.reconcile().resync();
        }
        Optional<String> refused = declarations.refusal(cr.getMetadata().getNamespace(), spec.subscriptionId, spec.resourceGroup);
        if (refused.isPresent()) {
            stalled(st, Reason.NotPermitted, refused.get(), gen(cr), clock);
            return config.reconcile().resync();
        }

        // observe the HSM; create it only when the name is free
        st.operatorPrincipalId = azure.principalId();
        var observed = arm.get(spec.subscriptionId, spec.resourceGroup, spec.azureName);
        if (observed.isEmpty()) {
            return absent(cr, st);
        }
        ManagedHsmArm.Hsm hsm = observed.get();

        // validate what Azure holds: whose the HSM is, and that the spec does not change what cannot change
        String owner = ownership.tag(cr);
        String tagged = hsm.tags().get(Ownership.TAG);
        boolean observeOnly = HsmSpecs.observeOnly(spec);
        // An HSM's home is the namespace its tag names: only there may it be taken over once its owner is gone.
        String home = Ownership.Owner.parse(tagged).map(Ownership.Owner::namespace).orElse(cr.getMetadata().getNamespace());
        // Ours: it carries our tag, or it lost its tags but is the HSM this resource already reported as its own.
        Ownership.Verdict verdict = tagged == null && hsm.id().equalsIgnoreCase(String.valueOf(st.resourceId)) ? new Ownership.Verdict.Ours()
                : ownership.judge(tagged, cr, ManagedHsm.class, home, observeOnly || Boolean.TRUE.equals(spec.adoptExisting));
        if (verdict instanceof Ownership.Verdict.Conflict c) {
            stalled(st, Reason.OwnershipConflict, "An HSM named " + spec.azureName + " exists in Azure but " + c.why()
                    + (c.adoptable() ? " (Or set management: ObserveOnly to only report it.)" : " Neither adoptExisting nor ObserveOnly "
                    + "takes it over; reference its ManagedHsm instead (its spec.allowedNamespaces must list this namespace).")
                    + " Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        boolean ours = verdict instanceof Ownership.Verdict.Ours;
        observe(st, hsm);
        replication.report(st, hsm);
        // A security domain downloaded earlier and not yet stored comes before anything else: it exists nowhere else, and
        // Azure may already call the HSM active.
        Duration unstored = activation.storeSpooled(cr, st, hsm);
        if (unstored != null) {
            return unstored;
        }
        List<String> immutable = HsmSpecs.immutableConflicts(spec, hsm);
        if (!immutable.isEmpty()) {
            stalled(st, Reason.ImmutableFieldChanged, String.join("; ", immutable) + ". Azure cannot change these on an existing HSM: "
                    + "set them back, or create a new ManagedHsm for a new HSM. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmReplication.Refusal regions = observeOnly ? null : HsmReplication.refusal(spec, hsm);
        if (regions != null) {
            stalled(st, regions.reason(), regions.message(), gen(cr), clock);
            return config.reconcile().resync();
        }

        // act: wait for provisioning, bring the mutable properties to the spec, activate, grant the operator its role
        if (!hsm.provisioned()) {
            boolean createFailed = st.pendingOperation != null && "Create".equals(st.pendingOperation.type);
            if ("Failed".equalsIgnoreCase(hsm.provisioningState()) && !observeOnly && ours && !createFailed) {
                return retry.retry(cr, st, hsm, owner);
            }
            if ("Failed".equalsIgnoreCase(hsm.provisioningState())) {
                stalled(st, Reason.ProvisioningFailed, "Azure failed to provision the HSM: " + hsm.statusMessage(), gen(cr), clock);
                return config.reconcile().resync();
            }
            progressing(st, Reason.Provisioning, "Azure is provisioning the HSM (" + hsm.provisioningState() + "): "
                    + Objects.toString(hsm.statusMessage(), ""), gen(cr), clock);
            return config.reconcile().poll();
        }
        st.pendingOperation = null;
        if (!observeOnly) {
            // Said once: until Azure's reads show the ownership tag, later looks still see the HSM as not ours.
            if (verdict instanceof Ownership.Verdict.Adopt a && !Boolean.TRUE.equals(st.adopted)) {
                events.normal(cr, "Adopted", "Adopting managed HSM " + hsm.id() + ", " + a.why() + " (spec.adoptExisting); this "
                        + "resource now manages it.");
            }
            if (!ours) {
                st.adopted = true;
            }
            ManagedHsmArm.Desired desired = HsmSpecs.toUpdate(cr, hsm, owner, st.managedTags, Boolean.TRUE.equals(st.adopted));
            String drift = HsmSpecs.drift(desired, hsm);
            if (drift != null) {
                Duration waiting = replication.holdsUpdate(cr, st, drift, hsm);
                if (waiting != null) {
                    return waiting;
                }
                Duration held = DriftGuard.hold(st, st.lastUpdate, drift, "managed HSM " + spec.azureName, hsm.lastModified(), gen(cr),
                        clock, config.reconcile());
                if (held != null) {
                    return held;
                }
                Mutation m = arm.startUpdate(spec.subscriptionId, spec.resourceGroup, spec.azureName, desired);
                st.lastUpdate = DriftGuard.sent(st.lastUpdate, drift, hsm.lastModified(), gen(cr), Instant.now(clock));
                events.mutation(cr, "HsmUpdated", "Updated " + drift + " of managed HSM " + hsm.id(), m);
                progressing(st, Reason.Updating, "Azure is applying the change to " + drift + ".", gen(cr), clock);
                return config.reconcile().poll();
            }
            st.lastUpdate = null;
            st.managedTags = Ownership.managedKeys(HsmSpecs.tags(spec));
        }
        Duration activating = activation.activate(cr, hsm, st);
        if (activating != null) {
            return activating;
        }
        Duration grant = operatorGrant.ensure(cr, hsm, st);
        if (grant != null) {
            return grant;
        }

        // replicate it to the spec's extended regions (after activation: a region replicates the activated HSM)
        HsmReplication.Progress replicating = observeOnly ? null
                : replication.converge(cr, st, hsm, HsmReplication.wanted(spec));

        // report how full it is: one listing per drift interval at most, a warning near Azure's key limit
        keyCount.count(cr, st, hsm.hsmUri());

        // Ready comes last: referrers wait for it before they use the HSM, and need every step above done. A region being
        // added does not hold it: the primary serves meanwhile.
        ready(st, Reason.Ready, "The HSM is provisioned, activated, and its data plane answers at " + hsm.hsmUri() + "."
                + (replicating == null ? "" : " " + replicating.note()), gen(cr), clock);
        return replicating == null ? config.reconcile().resync() : replicating.next();
    }

    /** What Azure holds, in status before any later step can stop the reconcile: a Stalled HSM still shows its state. */
    private static void observe(ManagedHsmStatus st, ManagedHsmArm.Hsm hsm) {
        st.resourceId = hsm.id();
        st.hsmUri = hsm.hsmUri();
        st.provisioningState = hsm.provisioningState();
        st.activationStatus = hsm.activationStatus();
        st.identities = new ArrayList<>();
        for (ManagedHsmArm.Identity i : hsm.identities()) {
            ManagedHsmStatus.Identity si = new ManagedHsmStatus.Identity();
            si.resourceId = i.resourceId();
            si.principalId = i.principalId();
            si.clientId = i.clientId();
            st.identities.add(si);
        }
        st.privateEndpointConnections = new ArrayList<>();
        for (ManagedHsmArm.Connection c : hsm.connections()) {
            ManagedHsmStatus.PrivateEndpointConnection pc = new ManagedHsmStatus.PrivateEndpointConnection();
            pc.name = c.name();
            pc.privateEndpointId = c.privateEndpointId();
            pc.status = c.status();
            pc.description = c.description();
            st.privateEndpointConnections.add(pc);
        }
    }

    /**
     * No HSM of that name in Azure: create it, with the operator among its initial administrators (only they can download
     * the security domain); never under ObserveOnly, in place of this resource's HSM gone from Azure, or where a
     * soft-deleted HSM holds the name.
     */
    private Duration absent(ManagedHsm cr, ManagedHsmStatus st) {
        ManagedHsmSpec spec = cr.getSpec();
        if (HsmSpecs.observeOnly(spec)) {
            stalled(st, Reason.NotFound, "No HSM named " + spec.azureName + " exists in resource group " + spec.resourceGroup
                    + "; management ObserveOnly never creates one.", gen(cr), clock);
            return config.reconcile().resync();
        }
        boolean softDeleted = arm.isSoftDeleted(spec.subscriptionId, spec.location, spec.azureName);
        if (st.resourceId != null && st.pendingOperation == null) {
            stalled(st, Reason.DeletedOutOfBand, "The HSM " + st.resourceId + " was deleted outside the operator" + (softDeleted
                    ? " and is soft-deleted: recover it in Azure (for example az keyvault recover --hsm-name " + spec.azureName + ")."
                    : " and no longer exists, not even soft-deleted.") + " The operator does not create a new, empty HSM in its place;"
                    + " delete and re-apply this resource to create one.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (softDeleted) {
            stalled(st, Reason.NameHeldBySoftDeletedHsm, "A soft-deleted HSM holds the name " + spec.azureName + " in " + spec.location
                    + ". Recover it in Azure, or choose another azureName; the operator never purges. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String tenant = spec.tenantId != null ? spec.tenantId : azure.target().tenantId();
        if (tenant == null) {
            stalled(st, Reason.InvalidSpec, "Set spec.tenantId: the operator's own tenant is not known.", gen(cr), clock);
            return config.reconcile().resync();
        }
        LinkedHashSet<String> admins = new LinkedHashSet<>(spec.initialAdminObjectIds == null ? List.of() : spec.initialAdminObjectIds);
        admins.add(azure.principalId());
        String owner = ownership.tag(cr);
        Mutation m = arm.startCreate(spec.subscriptionId, spec.resourceGroup, spec.azureName,
                HsmSpecs.toCreate(cr, tenant, new ArrayList<>(admins), owner));
        events.mutation(cr, "HsmCreateStarted", "Creating managed HSM " + spec.azureName + " in " + spec.resourceGroup + " ("
                + spec.location + "), with the operator " + azure.principalId() + " among its initial administrators", m);
        ManagedHsmStatus.PendingOperation op = new ManagedHsmStatus.PendingOperation();
        op.type = "Create";
        op.startedAt = Instant.now(clock).toString();
        op.generation = gen(cr);
        st.pendingOperation = op;
        st.provisioningState = "Provisioning";
        progressing(st, Reason.Creating, "Azure is creating the HSM; provisioning takes about 20 minutes.", gen(cr), clock);
        return config.reconcile().poll();
    }

    @Override
    public DeleteControl cleanup(ManagedHsm stale, Context<ManagedHsm> context) {
        DeleteControl control = deletion.delete(stale);
        if (control.isRemoveFinalizer()) {
            Reports.released(stale);
        }
        return control;
    }
}
