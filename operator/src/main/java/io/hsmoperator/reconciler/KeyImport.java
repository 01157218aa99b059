package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ConfigMap;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.publish.KeyPublisher;
import io.hsmoperator.rotation.IsoDuration;
import io.hsmoperator.rotation.RotationSchedule;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * Bring your own key (spec.importFrom), as Azure's BYOK specification has it: while the key does not exist, the operator
 * keeps a key exchange key (KEK) in the HSM (RSA-HSM, operation import only, named {@code <keyName>-kek}, tagged with the
 * HsmKey's owner), publishes its ID and public key for the on-premises HSM's BYOK tool, and imports the transfer blob
 * once the Secret holds it. Then the KEK is disabled (never deleted) and the key is an HsmKey like any other. The blob is
 * read from the HsmKey's own namespace only, and nothing of it reaches a log, an event, a condition or status.
 */
final class KeyImport {
    /** Managed HSM accepts 2048, 3072 and 4096-bit KEKs; the largest, as the BYOK documentation's example. */
    static final int KEK_SIZE = 4096;
    static final List<String> KEK_OPERATIONS = List.of("import");
    /** Tag on a KEK: the key it is for. */
    static final String KEK_TAG = "hsmoperator.io-kek-for";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HsmKeys keys;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final KeyPublisher publisher;
    private final Ownership ownership;
    private final Events events;
    private final Clock clock;

    KeyImport(HsmKeys keys, OperatorConfig config, KubernetesClient kubernetes, KeyPublisher publisher, Ownership ownership, Events events,
              Clock clock) {
        this.keys = keys;
        this.config = config;
        this.kubernetes = kubernetes;
        this.publisher = publisher;
        this.ownership = ownership;
        this.events = events;
        this.clock = clock;
    }

    static String kekName(String keyName) {
        return keyName + "-kek";
    }

    /** What {@link #acquire} came to: the imported key, or when to look again (the condition says why). */
    record Outcome(HsmKeys.Key key, Duration lookAgain) {
    }

    /**
     * The key does not exist and its name is free: keep the KEK ready and published, and import the transfer blob once
     * there is one. Nothing is imported with a KEK that is not this resource's, not fit for BYOK, or not the one the blob
     * names. {@code kekConfigMap}: the informer's copy of the ConfigMap that publishes the KEK, or null; {@code own} is told
     * of its write.
     */
    Outcome acquire(HsmKey cr, HsmKeyStatus st, HsmRefs.Resolution hsm, String name, String owner, ConfigMap kekConfigMap,
                    io.hsmoperator.publish.OwnWrites own) {
        String uri = hsm.hsmUri();
        HsmKeys.Key kek = keyExchangeKey(cr, st, hsm, name, owner);
        if (kek == null) {
            return new Outcome(null, config.reconcile().resync());
        }
        KeyPublisher.Publication published = publisher.publishKeyExchangeKey(cr, kek, kekConfigMap, own);
        if (published.foreign() != null) {
            stalled(st, Reason.PublishConflict, "ConfigMap " + published.foreign() + " exists and was not published by this HsmKey; the "
                    + "operator publishes the key exchange key there and never takes over a ConfigMap it did not create. Remove it.",
                    gen(cr), clock);
            return new Outcome(null, config.reconcile().resync());
        }
        st.keyExchangeKey = exchangeKey(st, kek, published.configMap());

        HsmKeySpec.SecretKeySelector ref = cr.getSpec().importFrom.secretRef;
        String ns = cr.getMetadata().getNamespace();
        Secret secret;
        try {
            secret = kubernetes.secrets().inNamespace(ns).withName(ref.name).get();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 403) {
                throw e;
            }
            stalled(st, Reason.ImportRefused, "The operator may not read Secret " + ref.name + " in namespace " + ns + " (forbidden): "
                    + "the Helm chart grants get on Secrets only in rbac.backupSecretNamespaces; add this namespace. Nothing was imported.",
                    gen(cr), clock);
            return new Outcome(null, config.reconcile().resync());
        }
        byte[] blob = value(secret, ref.key);
        if (blob == null) {
            progressing(st, Reason.AwaitingKeyMaterial, "Waiting for the key transfer blob in Secret " + ref.name + " (key " + ref.key
                    + "). Wrap the key with your HSM's BYOK tool for the key exchange key " + kek.id() + ", whose public key is in "
                    + "ConfigMap " + published.configMap() + " (kek.pem).", gen(cr), clock);
            // No watch on Secrets (the operator may only get them): look again about once a minute.
            return new Outcome(null, config.reconcile().poll().multipliedBy(6));
        }
        String version = secret.getMetadata().getResourceVersion();
        if (version != null && version.equals(st.keyExchangeKey.refusedSecretVersion)) {
            // Refused before, and the Secret did not change since: the condition still says why.
            return new Outcome(null, config.reconcile().resync());
        }
        String notFor = notFor(blob, kek);
        if (notFor != null) {
            st.keyExchangeKey.refusedSecretVersion = version;
            stalled(st, Reason.ImportRefused, "Secret " + ref.name + " (key " + ref.key + ") " + notFor + " Wrap the key for " + kek.id()
                    + " (ConfigMap " + published.configMap() + ") and update the Secret. Nothing was imported.", gen(cr), clock);
            return new Outcome(null, config.reconcile().resync());
        }

        HsmKeys.Created created;
        try {
            created = keys.importKey(uri, name, new HsmKeys.ImportedKey(KeySpecs.kty(cr.getSpec()), blob, KeySpecs.operations(cr.getSpec()),
                    cr.getSpec().enabled == null || cr.getSpec().enabled, RotationSchedule.expiry(IsoDuration.parse(cr.getSpec().expiresAfter),
                    Instant.now(clock)), KeySpecs.tags(cr.getSpec(), owner)));
        } catch (AzureError e) {
            if (!e.is(AzureError.Kind.BAD_REQUEST)) {
                throw e;
            }
            st.keyExchangeKey.refusedSecretVersion = version;
            stalled(st, Reason.ImportRefused, "Azure refused to import the transfer blob of Secret " + ref.name + " (key " + ref.key + "): "
                    + Reports.stable(e.describe()) + " Check that it was wrapped for " + kek.id() + " and holds a " + KeySpecs.kty(cr.getSpec())
                    + " key, then update the Secret. Nothing was imported.", gen(cr), clock);
            return new Outcome(null, config.reconcile().resync());
        }
        st.keyExchangeKey.refusedSecretVersion = null;
        HsmKeys.Key key = created.key();
        events.mutation(cr, "KeyImported", "Imported " + key.kty() + " key " + key.id() + " from Secret " + ref.name + ", wrapped for "
                + kek.id(), created.mutation());
        String mismatch = KeySpecs.immutableConflicts(cr.getSpec(), key);
        if (mismatch != null) {
            // Not the key the spec describes: keep it from being used, and say so; it stays for its owners to look at.
            Mutation m = keys.update(uri, name, key.version(), new HsmKeys.Update(false, null, key.operations(), null));
            events.mutation(cr, "KeyDisabled", "Disabled the imported key " + key.id() + ": " + mismatch, m);
            retire(cr, st, uri, name);
            stalled(st, Reason.ImportMismatch, "The imported key is not what the spec describes (" + mismatch + "); it was disabled. "
                    + "Delete it in Azure and import the right key with a new HsmKey, or describe this key in the spec.", gen(cr), clock);
            return new Outcome(null, config.reconcile().resync());
        }
        retire(cr, st, uri, name);
        return new Outcome(key, null);
    }

    /**
     * After the import: disable the KEK (never delete it), once. Also on later reconciles, when a disable did not
     * complete, or the key was imported before this status recorded it.
     */
    void retire(HsmKey cr, HsmKeyStatus st, String uri, String keyName) {
        if (st.keyExchangeKey != null && Boolean.FALSE.equals(st.keyExchangeKey.enabled)) {
            return;
        }
        HsmKeys.Key kek = keys.get(uri, kekName(keyName)).orElse(null);
        if (kek == null || !ownership.isOf(kek.tags().get(Ownership.TAG), cr)) {
            return;
        }
        if (kek.enabled()) {
            Mutation m = keys.update(uri, kek.name(), kek.version(), new HsmKeys.Update(false, null, kek.operations(), null));
            events.mutation(cr, "KeyExchangeKeyDisabled", "Disabled the key exchange key " + kek.id() + ": the key was imported", m);
        }
        st.keyExchangeKey = exchangeKey(st, kek, st.keyExchangeKey == null ? null : st.keyExchangeKey.configMap);
        st.keyExchangeKey.enabled = false;
    }

    /** The KEK, created when there is none; null when it cannot serve (the condition says why). */
    private HsmKeys.Key keyExchangeKey(HsmKey cr, HsmKeyStatus st, HsmRefs.Resolution hsm, String keyName, String owner) {
        String uri = hsm.hsmUri();
        String name = kekName(keyName);
        HsmKeys.Key kek = keys.get(uri, name).orElse(null);
        if (kek == null) {
            if (keys.getDeleted(uri, name).isPresent()) {
                stalled(st, Reason.NameHeldBySoftDeletedKey, "A soft-deleted key holds the name " + name + " that this key's key exchange "
                        + "key needs. The operator never purges it; recover it in Azure, or choose another keyName.", gen(cr), clock);
                return null;
            }
            Map<String, String> tags = new LinkedHashMap<>();
            tags.put(Ownership.TAG, owner);
            tags.put(KEK_TAG, keyName);
            HsmKeys.Created created = keys.create(uri, name, new HsmKeys.NewKey("RSA-HSM", KEK_SIZE, null, KEK_OPERATIONS, false, null, true,
                    null, tags));
            events.mutation(cr, "KeyExchangeKeyCreated", "Created the key exchange key " + created.key().id() + " (RSA-HSM " + KEK_SIZE
                    + ", import only) for importing " + keyName, created.mutation());
            return created.key();
        }
        Ownership.Verdict verdict = ownership.judge(kek.tags().get(Ownership.TAG), cr, HsmKey.class, hsm.hsm().getMetadata().getNamespace(),
                false);
        if (verdict instanceof Ownership.Verdict.Conflict c) {
            stalled(st, Reason.OwnershipConflict, "A key named " + name + ", the name of this key's key exchange key, exists in " + uri
                    + " but " + c.why() + " Nothing was imported.", gen(cr), clock);
            return null;
        }
        String unfit = !"RSA-HSM".equalsIgnoreCase(kek.kty()) ? "it is " + kek.kty() + ", not RSA-HSM"
                : !KEK_OPERATIONS.equals(kek.operations()) ? "its operations are " + kek.operations() + "; Azure imports only with a key "
                + "whose only operation is import"
                : !kek.enabled() ? "it is disabled" : null;
        if (unfit != null) {
            stalled(st, Reason.KeyExchangeKeyInvalid, "The key exchange key " + kek.id() + " cannot serve: " + unfit + ". It was changed "
                    + "outside the operator; set it back (RSA-HSM, operations [import], enabled). Nothing was imported.", gen(cr), clock);
            return null;
        }
        return kek;
    }

    private static HsmKeyStatus.KeyExchangeKey exchangeKey(HsmKeyStatus st, HsmKeys.Key kek, String configMap) {
        HsmKeyStatus.KeyExchangeKey k = st.keyExchangeKey != null ? st.keyExchangeKey : new HsmKeyStatus.KeyExchangeKey();
        k.id = kek.id();
        k.enabled = kek.enabled();
        k.configMap = configMap;
        return k;
    }

    /** The Secret's value under {@code key}; null when the Secret or the key is missing or empty. */
    private static byte[] value(Secret s, String key) {
        if (s == null) {
            return null;
        }
        if (s.getData() != null && s.getData().get(key) != null) {
            byte[] v = Base64.getDecoder().decode(s.getData().get(key));
            return v.length == 0 ? null : v;
        }
        if (s.getStringData() != null && s.getStringData().get(key) != null && !s.getStringData().get(key).isBlank()) {
            return s.getStringData().get(key).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        return null;
    }

    /**
     * Why the blob cannot be for this KEK, read from its header only; null when it names it. Says nothing of the blob's
     * content: only whether it parses and whether it names the KEK.
     */
    private static String notFor(byte[] blob, HsmKeys.Key kek) {
        JsonNode header;
        try {
            header = JSON.readTree(blob).path("header");
        } catch (Exception e) {
            header = null;
        }
        if (header == null || !header.isObject() || !header.hasNonNull("kid")) {
            return "does not hold a key transfer blob (the JSON a BYOK tool writes, with a header naming the key exchange key).";
        }
        String kid = header.get("kid").asText();
        String versionless = kek.id().substring(0, kek.id().lastIndexOf('/'));
        if (!kid.equalsIgnoreCase(kek.id()) && !kid.equalsIgnoreCase(versionless)) {
            return "holds a transfer blob made for another key exchange key than this resource's.";
        }
        return null;
    }
}
