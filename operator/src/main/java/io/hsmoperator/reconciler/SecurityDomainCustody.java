package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.azure.ManagedHsmArm;
import io.hsmoperator.azure.SecurityDomain;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;

/**
 * Where a ManagedHsm's security domain is kept: the Secret the operator creates for it, which records the HSM it holds
 * the security domain of, and the spool on local disk that a download goes to first.
 *
 * <p>"This HSM" is its ARM resource ID together with ARM's creation time of it (systemData.createdAt). The resource ID
 * alone does not tell an HSM from an earlier one of the same name (deleted, purged and created again, in the same
 * resource group: the same ID string), and that earlier HSM's security domain recovers nothing of this one. The
 * ManagedHsm's UID would not do either: a ManagedHsm deleted with Retain and declared again (a GitOps re-sync) is a new
 * resource for the same HSM, whose security domain must still be found. A Secret that records another HSM is never
 * written into and never taken for this HSM's.
 */
@Singleton
public class SecurityDomainCustody {
    private static final Logger LOG = Logger.getLogger(SecurityDomainCustody.class);
    static final String BLOB_KEY = "security-domain.json";
    static final String MANAGEDHSM_LABEL = "hsmoperator.io/managedhsm";
    static final String HSM_ID = "hsmoperator.io/hsm-resource-id";
    static final String HSM_CREATED_AT = "hsmoperator.io/hsm-created-at";
    static final String DOWNLOAD_TOKEN = "hsmoperator.io/download-token";
    /** The copy a re-wrap replaced, kept beside the new one: officers holding the old keys can still recover the HSM. */
    static final String PREVIOUS_BLOB_KEY = "security-domain.previous.json";

    private final KubernetesClient kubernetes;
    private final SecurityDomainSpool spool;
    private final SecurityDomain securityDomain;
    private final Clock clock;
    private final Events events;

    public SecurityDomainCustody(KubernetesClient kubernetes, SecurityDomainSpool spool, SecurityDomain securityDomain, Clock clock,
                                 Events events) {
        this.events = events;
        this.kubernetes = kubernetes;
        this.spool = spool;
        this.securityDomain = securityDomain;
        this.clock = clock;
    }

    /** What the output Secret is to this HSM. */
    sealed interface Held {
    }

    /** No Secret of that name. */
    record Absent() implements Held {
    }

    /**
     * The operator's Secret for this HSM; {@code token} is the download annotation's token its blob was downloaded for,
     * {@code wrappedFor} whom the blob is encrypted to ({@link #wrappedFor(String)}; null without a blob).
     */
    record Ours(boolean holdsBlob, String token, String wrappedFor) implements Held {
    }

    /** Someone else's Secret, or the operator's for another HSM: never written into, never taken for this HSM's. */
    record Foreign(String why) implements Held {
    }

    Held judge(Secret s, String managedHsm, ManagedHsmArm.Hsm hsm) {
        return judge(s, managedHsm, hsm.id(), hsm.createdAt());
    }

    static Held judge(Secret s, String managedHsm, String hsmId, String hsmCreatedAt) {
        if (s == null) {
            return new Absent();
        }
        Map<String, String> labels = s.getMetadata().getLabels() == null ? Map.of() : s.getMetadata().getLabels();
        Map<String, String> notes = s.getMetadata().getAnnotations() == null ? Map.of() : s.getMetadata().getAnnotations();
        boolean blob = s.getData() != null && s.getData().containsKey(BLOB_KEY);
        if (!labels.containsKey(MANAGEDHSM_LABEL)) {
            return new Foreign("was not created by the operator");
        }
        String recordedId = notes.get(HSM_ID);
        if (recordedId == null) {
            // Made before the Secret recorded its HSM: an empty placeholder of this ManagedHsm is still its own.
            return managedHsm.equals(labels.get(MANAGEDHSM_LABEL)) && !blob ? new Ours(false, null, null)
                    : new Foreign("was created for ManagedHsm " + labels.get(MANAGEDHSM_LABEL) + " and does not record which HSM it holds");
        }
        if (!recordedId.equalsIgnoreCase(hsmId)) {
            return new Foreign("holds the security domain of another HSM, " + recordedId);
        }
        String recordedAt = notes.get(HSM_CREATED_AT);
        // A Secret written before the creation time was recorded can only be told apart by its resource ID.
        if (recordedAt != null && hsmCreatedAt != null && !recordedAt.equals(hsmCreatedAt)) {
            return new Foreign("holds the security domain of an earlier HSM of the same name, created at " + recordedAt
                    + " (this one was created at " + hsmCreatedAt + ")");
        }
        return new Ours(blob, notes.get(DOWNLOAD_TOKEN),
                blob ? wrappedFor(new String(Base64.getDecoder().decode(s.getData().get(BLOB_KEY)), StandardCharsets.UTF_8)) : null);
    }

    /**
     * Whom a security-domain blob is encrypted to, read from the blob itself (its shares name their certificates by
     * SHA-256 thumbprint, x5t_256, and the quorum is {@code required}): "quorum=2;officers=<sorted thumbprints>". Null
     * when the blob does not say.
     */
    static String wrappedFor(String blob) {
        try {
            com.fasterxml.jackson.databind.JsonNode shared = new com.fasterxml.jackson.databind.ObjectMapper().readTree(blob).path("SharedKeys");
            java.util.List<String> officers = new java.util.ArrayList<>();
            shared.path("enc_shares").forEach(sh -> officers.add(sh.path("x5t_256").asText()));
            if (officers.isEmpty() || !shared.path("required").canConvertToInt()) {
                return null;
            }
            return fingerprint(shared.path("required").asInt(), officers);
        } catch (java.io.IOException e) {
            return null;
        }
    }

    /** Whom a download for these officers encrypts the security domain to, in the terms of {@link #wrappedFor(String)}. */
    static String wrappedFor(OfficerCertificates.Parsed officers) {
        java.util.List<String> thumbprints = new java.util.ArrayList<>();
        for (java.security.cert.X509Certificate c : officers.certificates()) {
            try {
                byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(c.getEncoded());
                thumbprints.add(Base64.getUrlEncoder().withoutPadding().encodeToString(digest));
            } catch (java.security.GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }
        return fingerprint(officers.quorum(), thumbprints);
    }

    private static String fingerprint(int quorum, java.util.List<String> thumbprints) {
        return "quorum=" + quorum + ";officers=" + String.join(",", new java.util.TreeSet<>(thumbprints));
    }

    /**
     * Creates the output Secret empty, labelled, recording this HSM, before anything is downloaded: a download needs
     * somewhere to go. Null when it now exists, otherwise why not.
     */
    String placeholder(ManagedHsm cr, String name, ManagedHsmArm.Hsm hsm) {
        try {
            kubernetes.secrets().inNamespace(cr.getMetadata().getNamespace()).resource(new SecretBuilder().withNewMetadata().withName(name)
                    .withNamespace(cr.getMetadata().getNamespace()).withLabels(labels(cr.getMetadata().getName()))
                    .withAnnotations(identity(hsm.id(), hsm.createdAt())).endMetadata().withType("Opaque").build()).create();
            return null;
        } catch (KubernetesClientException e) {
            return "Secret " + name + " cannot be created (" + e.getCode() + " " + (e.getStatus() == null ? "" : e.getStatus().getReason())
                    + "), so the security domain would have nowhere to go.";
        }
    }

    /**
     * Downloads the security domain and spools it before anything else happens to it (an event, a Secret write, even a
     * log line could be where the process stops). A halt waits for this (see {@link SecurityDomainSpool#awaitNoDownloadInFlight}).
     */
    SecurityDomainSpool.Entry download(ManagedHsm cr, ManagedHsmArm.Hsm hsm, OfficerCertificates.Parsed officers, String output,
                                       String token, java.util.function.Consumer<SecurityDomain.Download> downloaded) {
        SecurityDomain.Download d;
        SecurityDomainSpool.Entry e;
        SecurityDomainSpool.downloadStarted();
        try {
            d = securityDomain.download(hsm.hsmUri(), officers.certificates(), officers.quorum());
            e = new SecurityDomainSpool.Entry(hsm.id(), hsm.createdAt(), cr.getMetadata().getNamespace(), cr.getMetadata().getName(),
                    output, officers.quorum(), officers.certificates().size(), Instant.now(clock).toString(), token, d.blob());
            try {
                spool.put(e);
            } catch (IOException io) {
                LOG.errorf("The %s cannot be written to the spool %s (%s): it is held in memory only until its Secret is written",
                        e, spool.directory(), io.toString());
            }
        } finally {
            SecurityDomainSpool.downloadSettled();
        }
        downloaded.accept(d);
        return e;
    }

    enum Stored { STORED, ALREADY_HELD, FOREIGN }

    /**
     * Writes a spooled security domain into the Secret it was downloaded for, then removes it from the spool. A Secret
     * that already holds this HSM's security domain keeps it (this process wrote it and stopped before it could clear
     * the spool); one that records another HSM is left alone and the spool keeps the blob. Throws when the Secret
     * cannot be read or written.
     */
    synchronized Stored store(SecurityDomainSpool.Entry e) {
        if (spool.get(e.hsmResourceId(), e.hsmCreatedAt()).filter(e::equals).isEmpty()) {
            // Stored meanwhile by the other caller (the start-up pass or a reconcile).
            return Stored.ALREADY_HELD;
        }
        var secrets = kubernetes.secrets().inNamespace(e.namespace());
        Secret s = secrets.withName(e.secret()).get();
        Held held = judge(s, e.managedHsm(), e.hsmResourceId(), e.hsmCreatedAt());
        if (held instanceof Foreign) {
            return Stored.FOREIGN;
        }
        Stored result = Stored.ALREADY_HELD;
        // A copy for other officers (a re-wrap after the officers' certificates or quorum changed) replaces the one held,
        // which is kept beside it; the same copy, spooled again because the spool could not be cleared, changes nothing.
        String previous = held instanceof Ours o && o.holdsBlob() && o.wrappedFor() != null
                && !o.wrappedFor().equals(wrappedFor(e.blob())) ? s.getData().get(BLOB_KEY) : null;
        if (!(held instanceof Ours o && o.holdsBlob()) || previous != null) {
            Map<String, String> notes = identity(e.hsmResourceId(), e.hsmCreatedAt());
            notes.put("hsmoperator.io/quorum", String.valueOf(e.quorum()));
            notes.put("hsmoperator.io/officers", String.valueOf(e.officers()));
            notes.put("hsmoperator.io/downloaded-at", e.downloadedAt());
            if (e.token() != null) {
                notes.put(DOWNLOAD_TOKEN, e.token());
            }
            String data = Base64.getEncoder().encodeToString(e.blob().getBytes(StandardCharsets.UTF_8));
            if (s == null) {
                // The placeholder was deleted after the download: the blob still goes where it was meant to.
                secrets.resource(new SecretBuilder().withNewMetadata().withName(e.secret()).withNamespace(e.namespace())
                        .withLabels(labels(e.managedHsm())).withAnnotations(notes).endMetadata().withType("Opaque")
                        .addToData(BLOB_KEY, data).build()).create();
            } else {
                secrets.withName(e.secret()).edit(x -> {
                    SecretBuilder b = new SecretBuilder(x).editMetadata().addToLabels(labels(e.managedHsm())).addToAnnotations(notes)
                            .endMetadata().addToData(BLOB_KEY, data);
                    return (previous == null ? b : b.addToData(PREVIOUS_BLOB_KEY, previous)).build();
                });
            }
            result = Stored.STORED;
        }
        try {
            spool.remove(e);
        } catch (IOException io) {
            // Harmless: the next look finds the Secret holding it and tries again.
            LOG.warnf("The stored %s could not be removed from the spool: %s", e, io.toString());
        }
        return result;
    }

    /**
     * On start, before this replica leads (or if it never does): what an earlier run of this container downloaded and
     * could not store goes to its Secret now. A failure is left to the reconciles, which try again.
     */
    void onStart(@Observes StartupEvent event) {
        var pending = spool.all();
        if (pending.isEmpty()) {
            return;
        }
        Thread t = new Thread(() -> pending.forEach(e -> {
            try {
                Stored result = store(e);
                LOG.infof("The %s, spooled by an earlier run: %s", e, result);
                ManagedHsm cr = result == Stored.STORED ? kubernetes.resources(ManagedHsm.class).inNamespace(e.namespace())
                        .withName(e.managedHsm()).get() : null;
                if (cr != null) {
                    events.normal(cr, "SecurityDomainStored", "Stored the security domain of " + e.hsmResourceId() + " in Secret "
                            + e.secret() + "; an earlier run of the operator downloaded it at " + e.downloadedAt() + " and kept it in its spool.");
                }
            } catch (KubernetesClientException ex) {
                LOG.warnf("The spooled %s cannot be stored yet (%s); the operator tries again when it reconciles its ManagedHsm", e,
                        ex.getCode());
            }
        }), "security-domain-spool");
        t.setDaemon(true);
        t.start();
    }

    private static Map<String, String> labels(String managedHsm) {
        return new java.util.LinkedHashMap<>(Map.of("app.kubernetes.io/managed-by", "hsm-operator", MANAGEDHSM_LABEL, managedHsm));
    }

    private static Map<String, String> identity(String hsmId, String hsmCreatedAt) {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put(HSM_ID, hsmId);
        if (hsmCreatedAt != null) {
            m.put(HSM_CREATED_AT, hsmCreatedAt);
        }
        return m;
    }
}
