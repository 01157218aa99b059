package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.api.common.Conditions;
import io.hsmoperator.api.common.HsmReference;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.azure.AzureClients;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmAccessControl;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.OperatorRole;
import io.hsmoperator.azure.SecurityDomain;
import io.hsmoperator.metrics.ResourceMetrics;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * ManagedHsm: observe the HSM in Azure, validate the spec against it, act with the fewest writes (create, update the
 * mutable properties, download the security domain once, grant the operator its key-management role), report status.
 * Long-running operations are started and polled on later passes, never waited for.
 */
@ControllerConfiguration(name = "managedhsm", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class ManagedHsmReconciler implements Reconciler<ManagedHsm>, Cleaner<ManagedHsm> {
    static final String BLOB_KEY = SecurityDomainCustody.BLOB_KEY;
    private final ManagedHsmArm arm;
    private final SecurityDomain securityDomain;
    private final HsmAccessControl access;
    private final AzureClients azure;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final Events events;
    private final Clock clock;
    private final HsmDeclarations declarations;
    private final HsmKeys keys;
    private final Ownership ownership;
    private final SecurityDomainCustody custody;
    private final SecurityDomainSpool spool;
    private final OperatorGrant operatorGrant;
    private final HsmUpdateRetry retry;
    private final HsmDeletion deletion;

    public ManagedHsmReconciler(ManagedHsmArm arm, SecurityDomain securityDomain, HsmAccessControl access, AzureClients azure,
                                OperatorConfig config, KubernetesClient kubernetes, Events events, Clock clock,
                                HsmDeclarations declarations, HsmKeys keys, Ownership ownership, SecurityDomainCustody custody,
                                SecurityDomainSpool spool) {
        this.custody = custody;
        this.spool = spool;
        this.keys = keys;
        this.ownership = ownership;
        this.clock = clock;
        this.declarations = declarations;
        this.arm = arm;
        this.securityDomain = securityDomain;
        this.access = access;
        this.azure = azure;
        this.config = config;
        this.kubernetes = kubernetes;
        this.events = events;
        this.operatorGrant = new OperatorGrant(access, keys, azure, config, events, clock);
        this.retry = new HsmUpdateRetry(arm, config, events, clock);
        this.deletion = new HsmDeletion(arm, declarations, ownership, config, kubernetes, events, clock);
    }

    @Override
    public UpdateControl<ManagedHsm> reconcile(ManagedHsm cr, Context<ManagedHsm> context) {
        return Reports.reconcile(kubernetes, cr, ManagedHsmStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(ManagedHsm cr, ManagedHsmStatus st) {
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
        st.operatorPrincipalId = azure.principalId();
        var observed = arm.get(spec.subscriptionId, spec.resourceGroup, spec.azureName);
        if (observed.isEmpty()) {
            return absent(cr, st);
        }
        ManagedHsmArm.Hsm hsm = observed.get();
        // Ours: it carries our tag, or it lost its tags but is the HSM this resource already reported as its own.
        String owner = ownership.tag(cr);
        String tagged = hsm.tags().get(Ownership.TAG);
        boolean observeOnly = HsmSpecs.observeOnly(spec);
        // An HSM's home is the namespace its tag names: only there may it be taken over once its owner is gone.
        String home = Ownership.Owner.parse(tagged).map(Ownership.Owner::namespace).orElse(cr.getMetadata().getNamespace());
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
        // A security domain downloaded earlier and not yet stored comes before anything else: it exists nowhere else, and
        // Azure may already call the HSM active.
        Duration unstored = storeSpooled(cr, st, hsm);
        if (unstored != null) {
            return unstored;
        }
        List<String> immutable = HsmSpecs.immutableConflicts(spec, hsm);
        if (!immutable.isEmpty()) {
            stalled(st, Reason.ImmutableFieldChanged, String.join("; ", immutable) + ". Azure cannot change these on an existing HSM: "
                    + "set them back, or create a new ManagedHsm for a new HSM. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
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
        Duration activation = activation(cr, hsm, st);
        if (activation != null) {
            return activation;
        }
        Duration grant = operatorGrant.ensure(cr, hsm, st);
        if (grant != null) {
            return grant;
        }
        ready(st, Reason.Ready, "The HSM is provisioned, activated, and its data plane answers at " + hsm.hsmUri() + ".", gen(cr), clock);
        return config.reconcile().resync();
    }

    private static void observe(ManagedHsmStatus st, ManagedHsmArm.Hsm hsm) {
        st.resourceId = hsm.id();
        st.hsmUri = hsm.hsmUri();
        st.provisioningState = hsm.provisioningState();
        st.activationStatus = hsm.activationStatus();
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

    // ---- activation ----------------------------------------------------------------------------

    /**
     * Null when the HSM is active and its security domain is where it should be (or nobody asked the operator to keep
     * it); otherwise the wait before the next look. A security domain exists only in Azure's answer to a download, so
     * each step keeps it somewhere that outlives the process before taking the next: the Secret is created (and proved
     * to be this HSM's) before the download, the answer goes to the spool on disk before anything else, and leaves the
     * spool only once the Secret holds it.
     */
    private Duration activation(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st) {
        ManagedHsmSpec spec = cr.getSpec();
        String ns = cr.getMetadata().getNamespace();
        String output = outputSecret(cr);
        Secret existing = kubernetes.secrets().inNamespace(ns).withName(output).get();
        SecurityDomainCustody.Held held = custody.judge(existing, cr.getMetadata().getName(), hsm);
        boolean stored = held instanceof SecurityDomainCustody.Ours o && o.holdsBlob();
        boolean observeOnly = HsmSpecs.observeOnly(spec);
        if (hsm.active()) {
            st.securityDomainSecret = stored ? output : null;
            if (observeOnly || spec.securityDomain == null) {
                cond(st, cr, "True", Reason.Active, "The HSM is activated.");
                return null;
            }
            return keptSecurityDomain(cr, hsm, st, output, held);
        }
        if (observeOnly) {
            cond(st, cr, "False", Reason.ObserveOnly, "The HSM is not activated; ObserveOnly never activates it.");
            stalled(st, Reason.ObserveOnly, "The HSM is not activated; ObserveOnly never activates it.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (spec.securityDomain == null) {
            return notActivated(cr, st, Reason.SecurityDomainNotConfigured, "The HSM is provisioned but not activated. Set "
                    + "spec.securityDomain.certificatesSecret to a Secret with at least 3 officers' certificates and a quorum.");
        }
        if (held instanceof SecurityDomainCustody.Foreign f) {
            return conflict(cr, hsm, st, output, f, false);
        }
        if (stored) {
            st.securityDomainSecret = output;
            String status = securityDomain.status(hsm.hsmUri());
            if ("Failed".equalsIgnoreCase(status)) {
                return notActivated(cr, st, Reason.ActivationFailed, "Azure reports that activation failed after the security domain "
                        + "was downloaded (kept in Secret " + output + "). Contact Azure support; do not delete that Secret.");
            }
            cond(st, cr, "False", Reason.Activating, "The security domain is stored in Secret " + output + "; Azure is activating the HSM ("
                    + status + ").");
            progressing(st, Reason.Activating, "Azure is activating the HSM.", gen(cr), clock);
            return config.reconcile().poll();
        }
        Object officers = officers(cr, hsm);
        if (officers instanceof OfficerCertificates.Problem p) {
            return notActivated(cr, st, p.reason(), p.message());
        }
        if (held instanceof SecurityDomainCustody.Absent) {
            String placeholder = custody.placeholder(cr, output, hsm);
            if (placeholder != null) {
                return notStored(cr, st, placeholder + " Nothing was downloaded yet.");
            }
        }
        String before = securityDomain.status(hsm.hsmUri());
        if (!"NotStarted".equalsIgnoreCase(before)) {
            return notActivated(cr, st, Reason.SecurityDomainNotStored, "The security domain of this HSM was already downloaded (status "
                    + before + ") but Secret " + output + " does not hold it and the operator's spool has no copy: it was downloaded "
                    + "elsewhere, or the operator stopped before spooling it. Only the copy from that download can recover the HSM.");
        }
        Duration notYetStored = downloadAndStore(cr, hsm, st, (OfficerCertificates.Parsed) officers, output, null);
        if (notYetStored != null) {
            return notYetStored;
        }
        cond(st, cr, "False", Reason.Activating, "The security domain is stored in Secret " + output + "; Azure is activating the HSM.");
        progressing(st, Reason.Activating, "Azure is activating the HSM.", gen(cr), clock);
        return config.reconcile().poll();
    }

    /**
     * An active HSM whose security domain the spec asks the operator to keep: null when the Secret holds it, or when the
     * HSM was activated before this resource adopted it and nothing asks for a copy. An HSM this resource created, or
     * whose Secret it made, without its security domain stored is {@code SecurityDomainMissing}: only a new download,
     * asked for with the annotation, gives a copy again.
     */
    private Duration keptSecurityDomain(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st, String output,
                                        SecurityDomainCustody.Held held) {
        if (held instanceof SecurityDomainCustody.Foreign f) {
            return conflict(cr, hsm, st, output, f, true);
        }
        if (held instanceof SecurityDomainCustody.Ours o && o.holdsBlob()) {
            cond(st, cr, "True", Reason.Active, "The HSM is activated; its security domain is kept in Secret " + output + ".");
            return null;
        }
        String token = downloadToken(cr);
        String used = held instanceof SecurityDomainCustody.Ours o ? o.token() : null;
        boolean requested = token != null && !token.equals(used);
        // Ours to keep: this resource made the HSM (so the operator activated it), or made the Secret for it. An HSM
        // adopted already active was activated by someone who kept its security domain themselves.
        boolean expected = !Boolean.TRUE.equals(st.adopted) || held instanceof SecurityDomainCustody.Ours;
        if (!requested && !expected) {
            cond(st, cr, "True", Reason.Active, "The HSM was activated before this resource adopted it; the operator keeps no copy of "
                    + "its security domain. To keep one in Secret " + output + ", annotate this resource "
                    + Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + "=<token>.");
            return null;
        }
        if (!requested) {
            String message = "The HSM is activated, but no copy of its security domain is stored in Secret " + output + " or waiting "
                    + "in the operator's spool: if the HSM is lost, nothing can recover it. Download a new copy, encrypted to the "
                    + "officers' certificates in Secret " + cr.getSpec().securityDomain.certificatesSecret + ": kubectl annotate mhsm "
                    + cr.getMetadata().getName() + " " + Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + "=<token>"
                    + (token != null ? " with a token other than the one already used." : ".");
            if (!Reason.SecurityDomainMissing.name().equals(conditionReason(cr, io.hsmoperator.reconciler.Conditions.READY))) {
                events.warning(cr, Reason.SecurityDomainMissing.name(), message);
            }
            cond(st, cr, "True", Reason.SecurityDomainMissing, message);
            stalled(st, Reason.SecurityDomainMissing, message, gen(cr), clock);
            return config.reconcile().resync();
        }
        Object officers = officers(cr, hsm);
        if (officers instanceof OfficerCertificates.Problem p) {
            cond(st, cr, "True", p.reason(), "The HSM is activated; a new copy of its security domain cannot be downloaded: " + p.message());
            stalled(st, p.reason(), p.message(), gen(cr), clock);
            return config.reconcile().resync();
        }
        if (held instanceof SecurityDomainCustody.Absent) {
            String placeholder = custody.placeholder(cr, output, hsm);
            if (placeholder != null) {
                return notStored(cr, st, placeholder + " Nothing was downloaded yet.");
            }
        }
        Duration notYetStored = downloadAndStore(cr, hsm, st, (OfficerCertificates.Parsed) officers, output, token);
        if (notYetStored != null) {
            return notYetStored;
        }
        cond(st, cr, "True", Reason.Active, "The HSM is activated; its security domain is kept in Secret " + output + ".");
        return null;
    }

    /** Downloads the security domain (spooled at once) and stores it; null once stored, otherwise the wait. */
    private Duration downloadAndStore(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st, OfficerCertificates.Parsed officers,
                                      String output, String token) {
        custody.download(cr, hsm, officers, output, token, d -> events.mutation(cr, "SecurityDomainDownloaded", "Downloaded the security "
                + "domain of " + hsm.id() + " for " + officers.certificates().size() + " officers with quorum " + officers.quorum()
                + (token == null ? "" : " (" + Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + " " + token + ")")
                + "; storing it in Secret " + output, d.mutation()));
        return storeSpooled(cr, st, hsm);
    }

    /** The officers' certificates and quorum from the spec's Secret, or what is wrong with them. */
    private Object officers(ManagedHsm cr, ManagedHsmArm.Hsm hsm) {
        String ns = cr.getMetadata().getNamespace();
        String name = cr.getSpec().securityDomain.certificatesSecret;
        Secret certs = kubernetes.secrets().inNamespace(ns).withName(name).get();
        if (certs == null) {
            return new OfficerCertificates.Problem(Reason.SecurityDomainSecretMissing, "Secret " + name
                    + " (the officers' certificates and quorum) does not exist in namespace " + ns + ".");
        }
        Object parsed = OfficerCertificates.parse(certs);
        if (parsed instanceof OfficerCertificates.Problem) {
            return parsed;
        }
        String me = azure.principalId();
        if (hsm.initialAdminObjectIds().stream().noneMatch(me::equalsIgnoreCase)) {
            return new OfficerCertificates.Problem(Reason.OperatorNotAdministrator, "Downloading the security domain needs a Managed "
                    + "HSM Administrator; the operator (" + me + ") is not among the HSM's initial administrators "
                    + hsm.initialAdminObjectIds() + ". Download it yourself (az keyvault security-domain download) or recreate the HSM "
                    + "with the operator as an initial administrator.");
        }
        return parsed;
    }

    /**
     * Writes this HSM's spooled security domain into its Secret; null when none is spooled or it is now stored. Until
     * then the blob stays in the spool, and nothing is downloaded again.
     */
    private Duration storeSpooled(ManagedHsm cr, ManagedHsmStatus st, ManagedHsmArm.Hsm hsm) {
        Optional<SecurityDomainSpool.Entry> spooled = spool.get(hsm.id(), hsm.createdAt());
        if (spooled.isEmpty()) {
            return null;
        }
        SecurityDomainSpool.Entry e = spooled.get();
        SecurityDomainCustody.Stored result;
        try {
            result = custody.store(e);
        } catch (KubernetesClientException x) {
            return notStored(cr, st, "The security domain was downloaded at " + e.downloadedAt() + " and is kept in the operator's spool "
                    + "on local disk (hsm.security-domain.spool-dir), but Secret " + e.secret() + " cannot be written (" + x.getCode() + " "
                    + (x.getStatus() == null ? "" : x.getStatus().getReason()) + "). The operator keeps retrying and does not download "
                    + "it again. The spool outlives a restart of the operator's container, not the deletion of its pod: do not "
                    + "delete the pod before this is fixed.");
        }
        if (result == SecurityDomainCustody.Stored.FOREIGN) {
            return conflict(cr, hsm, st, e.secret(), new SecurityDomainCustody.Foreign("does not record this HSM"), hsm.active());
        }
        if (result == SecurityDomainCustody.Stored.STORED) {
            events.normal(cr, "SecurityDomainStored", "Stored the security domain of " + hsm.id() + " in Secret " + e.secret() + ".");
        }
        st.securityDomainSecret = e.secret();
        return null;
    }

    /** The output Secret belongs to another HSM or to someone else: nothing is downloaded into it, used or overwritten. */
    private Duration conflict(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st, String output, SecurityDomainCustody.Foreign f,
                              boolean active) {
        String message = "Secret " + output + " " + f.why() + "; it is not this HSM's (" + hsm.id() + (hsm.createdAt() == null ? ""
                : ", created at " + hsm.createdAt()) + ") security domain, and the operator neither takes it for one nor writes "
                + "into it." + (active ? "" : " Nothing was downloaded.") + " Move that Secret away, or set "
                + "spec.securityDomain.outputSecret to another name.";
        if (!Reason.SecurityDomainSecretConflict.name().equals(conditionReason(cr, io.hsmoperator.reconciler.Conditions.READY))) {
            events.warning(cr, Reason.SecurityDomainSecretConflict.name(), message);
        }
        st.securityDomainSecret = null;
        cond(st, cr, active ? "True" : "False", Reason.SecurityDomainSecretConflict, message);
        stalled(st, Reason.SecurityDomainSecretConflict, message, gen(cr), clock);
        return config.reconcile().resync();
    }

    private static String outputSecret(ManagedHsm cr) {
        ManagedHsmSpec.SecurityDomain sd = cr.getSpec().securityDomain;
        return sd == null || sd.outputSecret == null ? cr.getMetadata().getName() + "-security-domain" : sd.outputSecret;
    }

    /** The download annotation's token, trimmed; null when absent or blank. */
    static String downloadToken(ManagedHsm cr) {
        Map<String, String> a = cr.getMetadata().getAnnotations();
        String t = a == null ? null : a.get(Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION);
        return t == null || t.isBlank() ? null : t.trim();
    }

    private Duration notStored(ManagedHsm cr, ManagedHsmStatus st, String message) {
        if (!Reason.SecurityDomainNotStored.name().equals(conditionReason(cr, Conditions.ACTIVATED))) {
            events.warning(cr, Reason.SecurityDomainNotStored.name(), message);
        }
        cond(st, cr, "False", Reason.SecurityDomainNotStored, message);
        stalled(st, Reason.SecurityDomainNotStored, message, gen(cr), clock);
        return Reports.backoffFor(cr, config.reconcile().maxBackoff());
    }

    private static String conditionReason(ManagedHsm cr, String type) {
        var c = cr.getStatus() == null ? null : io.hsmoperator.reconciler.Conditions.get(cr.getStatus(), type);
        return c == null ? null : c.getReason();
    }

    private Duration notActivated(ManagedHsm cr, ManagedHsmStatus st, Reason reason, String message) {
        cond(st, cr, "False", reason, message);
        stalled(st, reason, message, gen(cr), clock);
        return config.reconcile().resync();
    }

    private void cond(ManagedHsmStatus st, ManagedHsm cr, String status, Reason reason, String message) {
        io.hsmoperator.reconciler.Conditions.set(st, Conditions.ACTIVATED, status, reason, message, gen(cr), clock);
    }

    @Override
    public DeleteControl cleanup(ManagedHsm stale, Context<ManagedHsm> context) {
        DeleteControl control = deletion.delete(stale);
        if (control.isRemoveFinalizer()) {
            ResourceMetrics.forget(stale);
        }
        return control;
    }

    private static Long gen(ManagedHsm cr) {
        return cr.getMetadata().getGeneration();
    }
}
