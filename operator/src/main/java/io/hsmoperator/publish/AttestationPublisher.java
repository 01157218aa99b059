package io.hsmoperator.publish;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import jakarta.inject.Singleton;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * spec.attestation: keeps Azure's key attestation of every enabled version in the ConfigMap {@code <name>-attestation},
 * for auditors. Evidence of a version never changes, so each version's is fetched once: what the ConfigMap already holds
 * for a version is kept, and only versions without it are asked of Azure. Certificates and attestation blobs are public
 * evidence, not secrets. Data, per version {@code v}: {@code v.certificates.pem} (the HSM's certificate chain, PEM),
 * {@code v.private-key-attestation} and {@code v.public-key-attestation} (base64url, as Azure returns them; no public
 * one for symmetric keys), {@code v.format} (Azure's {@code version} of the evidence); and {@code keyId},
 * {@code currentVersion}, {@code hsmUri}.
 */
@Singleton
public class AttestationPublisher {
    static final String CERTIFICATES = ".certificates.pem";
    static final String PRIVATE = ".private-key-attestation";
    static final String PUBLIC = ".public-key-attestation";
    static final String FORMAT = ".format";
    private final KubernetesClient kubernetes;
    private final HsmKeys keys;

    public AttestationPublisher(KubernetesClient kubernetes, HsmKeys keys) {
        this.kubernetes = kubernetes;
        this.keys = keys;
    }

    public static String configMapName(HsmKey cr) {
        return cr.getMetadata().getName() + "-attestation";
    }

    /**
     * What {@link #publish} did: the ConfigMap written (null when it is {@code foreign}: another owner's ConfigMap holds the
     * name, left untouched), and, in {@code unavailable}, the versions Azure gave no attestation for and why (null: none);
     * {@code lagging}: some of them answered 404, which a read lagging a new version's creation also answers.
     */
    public record Attestations(String configMap, String foreign, String unavailable, boolean lagging) {
    }

    /**
     * {@code versions}: every version of the key, oldest first; the enabled ones are attested. {@code cached}: the
     * informer's copy of the ConfigMap, or null when it has none; then it is read, so that a name someone else's
     * ConfigMap holds costs no request to Azure. {@code own} is told of the write.
     */
    public Attestations publish(HsmKey cr, String uri, HsmKeys.Key key, List<HsmKeys.Version> versions, ConfigMap cached, OwnWrites own) {
        String name = configMapName(cr);
        ConfigMap existing = cached != null ? cached : kubernetes.configMaps().inNamespace(cr.getMetadata().getNamespace()).withName(name).get();
        if (existing != null && OwnedConfigMaps.foreign(existing, cr)) {
            return new Attestations(null, name, null, false);
        }
        Map<String, String> held = existing == null || existing.getData() == null ? Map.of() : existing.getData();
        Map<String, String> data = new LinkedHashMap<>();
        data.put("keyId", key.id().substring(0, key.id().lastIndexOf('/')));
        data.put("currentVersion", key.version());
        data.put("hsmUri", uri);
        List<String> unavailable = new ArrayList<>();
        boolean lagging = false;
        for (int i = versions.size() - 1; i >= 0; i--) {
            HsmKeys.Version v = versions.get(i);
            if (!v.enabled()) {
                continue;
            }
            String p = v.version();
            if (held.containsKey(p + CERTIFICATES) && held.containsKey(p + PRIVATE)) {
                for (String suffix : List.of(CERTIFICATES, PRIVATE, PUBLIC, FORMAT)) {
                    if (held.containsKey(p + suffix)) {
                        data.put(p + suffix, held.get(p + suffix));
                    }
                }
                continue;
            }
            Refusal refused = fetch(uri, key.name(), p, data);
            if (refused != null) {
                unavailable.add(p + " (" + refused.why() + ")");
                lagging |= refused.notFound();
            }
        }
        if (OwnedConfigMaps.write(kubernetes, cr, name, existing, data, own).foreign()) {
            return new Attestations(null, name, null, false);
        }
        return new Attestations(name, null, unavailable.isEmpty() ? null : String.join("; ", unavailable), lagging);
    }

    /** Why Azure gave no attestation for a version; {@code notFound}: it answered 404. */
    private record Refusal(String why, boolean notFound) {
    }

    /** Puts version {@code version}'s evidence into {@code data}; null when done, otherwise Azure's refusal. */
    private Refusal fetch(String uri, String keyName, String version, Map<String, String> data) {
        HsmKeys.Attestation a;
        try {
            var answered = keys.attestation(uri, keyName, version);
            if (answered.isEmpty()) {
                return new Refusal("Azure answered the key without an attestation", false);
            }
            a = answered.get();
        } catch (AzureError e) {
            if (e.isTransient() || e.is(AzureError.Kind.THROTTLED)) {
                throw e;
            }
            // Refused for this version (a kind of key Azure does not attest, or a read lagging its creation): the other
            // versions still count.
            return new Refusal(e.describe(), e.is(AzureError.Kind.NOT_FOUND));
        }
        Base64.Encoder b64u = Base64.getUrlEncoder().withoutPadding();
        data.put(version + CERTIFICATES, new String(a.certificatePemFile(), StandardCharsets.US_ASCII));
        data.put(version + PRIVATE, b64u.encodeToString(a.privateKeyAttestation()));
        if (a.publicKeyAttestation() != null) {
            data.put(version + PUBLIC, b64u.encodeToString(a.publicKeyAttestation()));
        }
        if (a.version() != null) {
            data.put(version + FORMAT, a.version());
        }
        return null;
    }
}
