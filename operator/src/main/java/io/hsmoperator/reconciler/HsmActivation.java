package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.managedhsm.ManagedHsmSpec;
import io.hsmoperator.api.managedhsm.ManagedHsmStatus;
import io.hsmoperator.azure.AzureClients;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.azure.SecurityDomain;

import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static io.hsmoperator.api.common.Conditions.ACTIVATED;
import static io.hsmoperator.api.common.Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION;
import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * The activation step of a ManagedHsm, and the Activated condition: the security domain downloaded once, to the
 * officers' certificates, and kept where the spec says. Where it is kept, and whose a Secret is, is
 * {@link SecurityDomainCustody}'s; the officers' Secret is read by {@link OfficerCertificates}. This class decides when
 * to download and reports what it found.
 */
final class HsmActivation {
    private final KubernetesClient kubernetes;
    private final SecurityDomain securityDomain;
    private final SecurityDomainCustody custody;
    private final SecurityDomainSpool spool;
    private final AzureClients azure;
    private final OperatorConfig config;
    private final Events events;
    private final Clock clock;

    HsmActivation(KubernetesClient kubernetes, SecurityDomain securityDomain, SecurityDomainCustody custody, SecurityDomainSpool spool,
                  AzureClients azure, OperatorConfig config, Events events, Clock clock) {
        this.kubernetes = kubernetes;
        this.securityDomain = securityDomain;
        this.custody = custody;
        this.spool = spool;
        this.azure = azure;
        this.config = config;
        this.events = events;
        this.clock = clock;
    }

    /**
     * Null when the HSM is active and its security domain is where it should be (or nobody asked the operator to keep
     * it); otherwise the wait before the next look. A security domain exists only in Azure's answer to a download, so
     * each step keeps it somewhere that outlives the process before taking the next: the Secret is created (and proved
     * to be this HSM's) before the download, the answer goes to the spool on disk before anything else, and leaves the
     * spool only once the Secret holds it.
     */
    Duration activate(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st) {
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
            st.securityDomainWrappedFor = o.wrappedFor();
            Duration rewrapping = rewrapForTheOfficers(cr, hsm, st, output, o);
            if (rewrapping != null) {
                return rewrapping;
            }
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
                    + DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + "=<token>.");
            return null;
        }
        if (!requested) {
            String message = "The HSM is activated, but no copy of its security domain is stored in Secret " + output + " or waiting "
                    + "in the operator's spool: if the HSM is lost, nothing can recover it. Download a new copy, encrypted to the "
                    + "officers' certificates in Secret " + cr.getSpec().securityDomain.certificatesSecret + ": kubectl annotate mhsm "
                    + cr.getMetadata().getName() + " " + DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + "=<token>"
                    + (token != null ? " with a token other than the one already used." : ".");
            if (!Reason.SecurityDomainMissing.name().equals(conditionReason(cr, Conditions.READY))) {
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

    /**
     * The officers' certificates or quorum in the spec's Secret are no longer those the kept copy is encrypted to: the
     * security domain is downloaded again for them (Azure allows it on an active HSM), spooled, then stored in place of
     * the old copy, which the Secret keeps beside it ({@link SecurityDomainCustody#PREVIOUS_BLOB_KEY}). Null when nothing
     * changed, the officers' Secret cannot be read (the copy held stays), or a download for these officers was already
     * made and Azure's copy still names others (then it says so instead of downloading again).
     */
    private Duration rewrapForTheOfficers(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st, String output,
                                          SecurityDomainCustody.Ours held) {
        if (held.wrappedFor() == null || !(officers(cr, hsm) instanceof OfficerCertificates.Parsed officers)) {
            return null;
        }
        String wanted = SecurityDomainCustody.wrappedFor(officers);
        if (wanted.equals(held.wrappedFor())) {
            return null;
        }
        if (wanted.equals(st.securityDomainRewrapRequestedFor)) {
            String message = "The security domain was downloaded again for the officers in Secret " + cr.getSpec().securityDomain.certificatesSecret
                    + ", but the copy in Secret " + output + " is still encrypted to other certificates; the operator does not download "
                    + "it again for the same officers.";
            cond(st, cr, "True", Reason.SecurityDomainRewrapMismatch, message);
            stalled(st, Reason.SecurityDomainRewrapMismatch, message, gen(cr), clock);
            return config.reconcile().resync();
        }
        st.securityDomainRewrapRequestedFor = wanted;
        Duration notYetStored = downloadAndStore(cr, hsm, st, officers, output, held.token());
        events.normal(cr, "SecurityDomainRewrapped", "The officers' certificates or quorum in Secret "
                + cr.getSpec().securityDomain.certificatesSecret + " changed (now " + officers.certificates().size() + " certificates, quorum "
                + officers.quorum() + "): downloaded the security domain again, encrypted to them"
                + (notYetStored == null ? ", and stored it in Secret " + output + "; the previous copy is kept there as "
                + SecurityDomainCustody.PREVIOUS_BLOB_KEY + "." : "; it waits in the spool to be stored."));
        if (notYetStored != null) {
            return notYetStored;
        }
        st.securityDomainWrappedFor = wanted;
        return null;
    }

    /** Downloads the security domain (spooled at once) and stores it; null once stored, otherwise the wait. */
    private Duration downloadAndStore(ManagedHsm cr, ManagedHsmArm.Hsm hsm, ManagedHsmStatus st, OfficerCertificates.Parsed officers,
                                      String output, String token) {
        custody.download(cr, hsm, officers, output, token, d -> events.mutation(cr, "SecurityDomainDownloaded", "Downloaded the security "
                + "domain of " + hsm.id() + " for " + officers.certificates().size() + " officers with quorum " + officers.quorum()
                + (token == null ? "" : " (" + DOWNLOAD_SECURITY_DOMAIN_ANNOTATION + " " + token + ")")
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
    Duration storeSpooled(ManagedHsm cr, ManagedHsmStatus st, ManagedHsmArm.Hsm hsm) {
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
        if (!Reason.SecurityDomainSecretConflict.name().equals(conditionReason(cr, Conditions.READY))) {
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
    private static String downloadToken(ManagedHsm cr) {
        Map<String, String> a = cr.getMetadata().getAnnotations();
        String t = a == null ? null : a.get(DOWNLOAD_SECURITY_DOMAIN_ANNOTATION);
        return t == null || t.isBlank() ? null : t.trim();
    }

    private Duration notStored(ManagedHsm cr, ManagedHsmStatus st, String message) {
        if (!Reason.SecurityDomainNotStored.name().equals(conditionReason(cr, ACTIVATED))) {
            events.warning(cr, Reason.SecurityDomainNotStored.name(), message);
        }
        cond(st, cr, "False", Reason.SecurityDomainNotStored, message);
        stalled(st, Reason.SecurityDomainNotStored, message, gen(cr), clock);
        return Reports.backoffFor(cr, config.reconcile().maxBackoff());
    }

    /** The reason a condition had when this reconcile began, so that a Warning is emitted once, not on every look. */
    private static String conditionReason(ManagedHsm cr, String type) {
        var c = cr.getStatus() == null ? null : Conditions.get(cr.getStatus(), type);
        return c == null ? null : c.getReason();
    }

    private Duration notActivated(ManagedHsm cr, ManagedHsmStatus st, Reason reason, String message) {
        cond(st, cr, "False", reason, message);
        stalled(st, reason, message, gen(cr), clock);
        return config.reconcile().resync();
    }

    private void cond(ManagedHsmStatus st, ManagedHsm cr, String status, Reason reason, String message) {
        Conditions.set(st, ACTIVATED, status, reason, message, gen(cr), clock);
    }
}
