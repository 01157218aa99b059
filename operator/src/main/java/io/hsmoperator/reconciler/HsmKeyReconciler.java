package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.Consistency;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.publish.AttestationPublisher;
import io.hsmoperator.publish.KeyPublisher;
import io.hsmoperator.publish.Workloads;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.hsmoperator.api.managedhsm.ManagedHsm;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.hsmoperator.reconciler.Conditions.gen;
import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmKey: observe the key in its HSM, validate the spec against it, create it once or keep its mutable attributes as
 * the spec says (no write when they match), publish what workloads need, report versions. A key deleted outside the
 * operator is reported and recovered only when allowed, never replaced by a new, different key; nothing is purged.
 * This class sequences the steps; what the spec means for the key is {@link KeySpecs}, rotation {@link KeyRotation},
 * publication {@link KeyPublisher}, deletion {@link KeyDeletion}, and drift between reconciles {@link KeyListings}.
 */
@ControllerConfiguration(name = "hsmkey", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmKeyReconciler implements Reconciler<HsmKey>, Cleaner<HsmKey> {
    static final int STATUS_VERSIONS = 20;
    /** Condition: whether the ConfigMap of spec.attestation holds the evidence of every enabled version. */
    static final String ATTESTED = "Attested";
    /** Recovering a key is a background operation in Azure, usually seconds; past this the operator reports it instead of waiting. */
    static final Duration RECOVERY_TIMEOUT = Duration.ofMinutes(10);
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final Events events;
    private final Clock clock;
    private final KeyListings listings;
    private final KeyRotation rotation;
    private final KeyPublisher publisher;
    private final KeyDeletion deletion;
    private final KeyImport keyImport;
    private final Ownership ownership;
    /**
     * What this process last did for each HsmKey it reconciled since it started (or became leader); a key missing here is
     * one whose status a restarted operator may trust.
     */
    private final Map<ResourceID, Looked> looked = new java.util.concurrent.ConcurrentHashMap<>();

    /** The reconcile-requested-at annotation then handled, and the resourceVersion of the published ConfigMap then. */
    private record Looked(String reconcileRequest, String configMapVersion) {
    }
    private final HsmLookup hsms;
    private volatile InformerEventSource<ConfigMap, HsmKey> publishedConfigMaps;
    private final AttestationPublisher attestations;

    public HsmKeyReconciler(HsmKeys keys, OperatorConfig config, KubernetesClient kubernetes, Events events, KeyPublisher publisher,
                            AttestationPublisher attestations, Ownership ownership, KeyCounts counts, Clock clock) {
        this.keys = keys;
        this.attestations = attestations;
        this.ownership = ownership;
        this.config = config;
        this.kubernetes = kubernetes;
        this.hsms = new HsmLookup(kubernetes);
        this.events = events;
        this.publisher = publisher;
        this.clock = clock;
        this.listings = new KeyListings(keys, config.reconcile().driftInterval(), counts, clock);
        this.rotation = new KeyRotation(keys, config, ownership, events, clock);
        this.deletion = new KeyDeletion(keys, config, kubernetes, hsms, ownership, events, clock);
        this.keyImport = new KeyImport(keys, config, kubernetes, publisher, ownership, events, clock);
    }

    @Override
    public List<EventSource<?, HsmKey>> prepareEventSources(EventSourceContext<HsmKey> context) {
        publishedConfigMaps = RelatedResources.publishedConfigMap(context);
        return List.of(hsms.watch(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef, HsmRefs::whatKeysRead), publishedConfigMaps, listings);
    }

    @Override
    public UpdateControl<HsmKey> reconcile(HsmKey cr, Context<HsmKey> context) {
        return Reports.reconcile(kubernetes, cr, HsmKeyStatus.class, clock, config.reconcile(), this::converge);
    }

    private Duration converge(HsmKey cr, HsmKeyStatus st) {
        // Watched by the per-HSM listing again only once this reconcile converges.
        KeyListings.Seen watched = listings.forget(cr);

        // validate what needs no Azure call, and that the key is still the one this resource made
        String invalid = KeySpecs.validate(cr.getSpec());
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid, gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(cr, cr.getSpec().hsmRef, hsms);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String uri = hsm.hsmUri();
        Duration trusted = trusted(cr, st, uri, hsm.hsm(), watched);
        if (trusted != null) {
            return trusted;
        }
        String name = KeySpecs.keyName(cr);
        String owner = ownership.tag(cr);
        if (cr.getSpec().importFrom == null && st.keyExchangeKey != null && st.keyId == null) {
            stalled(st, Reason.ImmutableFieldChanged, "importFrom was removed, but this resource is importing its key (key exchange key "
                    + st.keyExchangeKey.id + "). importFrom is immutable: set it back, or create a new HsmKey to generate a key in Azure. "
                    + "Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (cr.getSpec().importFrom != null && KeyImport.kekName(name).length() > 127) {
            stalled(st, Reason.InvalidSpec, "An imported key's name may have at most 123 characters: its key exchange key is named "
                    + KeyImport.kekName(name) + ", and Managed HSM key names have at most 127. Choose a shorter keyName.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String madeAs = st.versionlessKeyId;
        if (madeAs != null && !madeAs.equalsIgnoreCase(uri.replaceAll("/+$", "") + "/keys/" + name)) {
            stalled(st, Reason.ImmutableFieldChanged, "keyName now names " + name + ", but this resource manages " + madeAs + ". keyName is "
                    + "immutable: set it back, or create a new HsmKey. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }

        // observe the key; create it once when the name is free
        var observed = keys.get(uri, name);
        HsmKeys.Key key;
        List<HsmKeys.Version> versions;
        if (observed.isEmpty()) {
            // A name this resource never held is created at once: Azure refuses it (409) when a soft-deleted key holds
            // it, and only then is the deleted key looked for. A key it held, is recovering or is told to recover is
            // looked for first.
            boolean neverHeld = st.keyId == null && st.recoveryStartedAt == null && !Boolean.TRUE.equals(cr.getSpec().recoverDeleted);
            Duration wait = neverHeld ? null : absent(cr, st, hsm, name);
            if (wait != null) {
                return wait;
            }
            HsmKeys.Created created;
            try {
                if (cr.getSpec().importFrom != null) {
                    // Bring your own key: the material comes from the Secret, wrapped for a key exchange key, never made here.
                    KeyImport.Outcome imported = keyImport.acquire(cr, st, hsm, name, owner,
                            cachedConfigMap(cr, KeyPublisher.keyExchangeKeyConfigMapName(cr)), this::wrote);
                    if (imported.key() == null) {
                        return imported.lookAgain();
                    }
                    created = null;
                    key = imported.key();
                } else {
                    created = keys.create(uri, name, KeySpecs.newVersion(cr.getSpec(), KeySpecs.tags(cr.getSpec(), owner), null, false,
                            Instant.now(clock)));
                    key = created.key();
                }
            } catch (AzureError e) {
                Duration held = e.kind() == AzureError.Kind.CONFLICT && neverHeld ? absent(cr, st, hsm, name) : null;
                if (held != null) {
                    return held;
                }
                throw e;
            }
            if (created != null) {
                events.mutation(cr, "KeyCreated", "Created " + KeySpecs.kty(cr.getSpec()) + " key " + key.id(), created.mutation());
            }
            // Azure's answer is the whole first version: listing the versions would only read it back.
            versions = List.of(HsmKeys.Version.of(key));
        } else {
            key = observed.get();
            versions = KeySpecs.oldestFirst(keys.versions(uri, name), key.version());
        }
        // A key this resource recovered is adopted as recoverDeleted allowed, where its earlier owner is gone.
        boolean recovered = st.recoveryStartedAt != null;
        st.recoveryStartedAt = null;

        // validate what Azure holds: whose the key is, and that the spec does not change what cannot change
        Duration notOurs = ownership(cr, st, hsm, name, key, versions, recovered);
        if (notOurs != null) {
            return notOurs;
        }
        String immutable = KeySpecs.immutableConflicts(cr.getSpec(), key);
        if (immutable != null) {
            stalled(st, Reason.ImmutableFieldChanged, immutable + ". A key's type, size, curve and exportability cannot change: set "
                    + "them back, or create a new HsmKey. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        Duration wentBack = wentBack(cr, st, key, versions);
        if (wentBack != null) {
            return wentBack;
        }
        if (cr.getSpec().importFrom != null) {
            keyImport.retire(cr, st, uri, name);
        }

        // act: bring the current version's attributes to the spec, then rotate
        HsmKeys.Update update = KeySpecs.drift(cr.getSpec(), owner, key, st.managedTags, Boolean.TRUE.equals(st.adopted));
        if (update != null) {
            // Per version: a new version (someone else's, say) with the same drift is a new update, not a repeat.
            String fields = KeySpecs.fields(update, key) + " of version " + key.version();
            String updated = String.valueOf(key.updated());
            Duration held = DriftGuard.hold(st, st.lastUpdate, fields, "key " + key.name(), updated, gen(cr), clock, config.reconcile());
            if (held != null) {
                return held;
            }
            Mutation m = keys.update(uri, name, key.version(), update);
            st.lastUpdate = DriftGuard.sent(st.lastUpdate, fields, updated, gen(cr), Instant.now(clock));
            events.mutation(cr, "KeyUpdated", "Updated " + KeySpecs.describe(update) + " of key " + key.id(), m);
            key = keys.get(uri, name).orElse(key);
        } else {
            st.lastUpdate = null;
        }
        st.managedTags = Ownership.managedKeys(cr.getSpec().tags == null ? Map.of() : cr.getSpec().tags);
        KeyRotation.Rotated rotated = rotation.rotate(cr, st, uri, key, versions);
        key = rotated.key();
        versions = rotated.versions();

        // report what Azure now holds, then publish it to the workloads
        report(st, key, versions);
        KeyPublisher.Publication publication = publisher.publish(cr, uri, hsm.hsm(), key, versions, publishedConfigMap(cr), this::wrote);
        if (publication.foreign() != null) {
            stalled(st, Reason.PublishConflict, "ConfigMap " + publication.foreign() + " exists and was not published by this HsmKey; the "
                    + "operator never takes over a ConfigMap it did not create. Remove it, or set spec.publish.configMapName to another "
                    + "name.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String published = publication.configMap();
        st.publishedConfigMap = published;
        AttestationPublisher.Attestations attested = attest(cr, st, uri, key, versions);
        if (attested != null && attested.foreign() != null) {
            return config.reconcile().resync();
        }
        KeyPublisher.Restarts restarts = publisher.followWorkloads(cr, key);
        if (!restarts.rolled().isEmpty()) {
            events.normal(cr, "WorkloadsRestarted", "Set annotation " + Workloads.annotation(cr.getMetadata().getName()) + "="
                    + key.version() + " on the pod template of " + String.join(", ", restarts.rolled())
                    + ", so they restart with the current version.");
        }
        // The key itself is ready; the Ready message says what of the spec the installation does not do.
        ready(st, Reason.Ready, "Key " + key.id() + " is ready" + (published == null ? "." : "; published in ConfigMap " + published + ".")
                + (restarts.refused() == null ? "" : " spec.publish.restartWorkloads is not applied: " + restarts.refused() + "."),
                gen(cr), clock);
        listings.saw(cr, uri, key);
        // A version whose attestation answered 404 may be one Azure's reads do not show yet: ask again soon.
        Duration next = attested != null && attested.lagging() ? config.reconcile().poll() : nextLook(rotated.nextLook());
        st.nextReadAt = Instant.now(clock).plus(next).truncatedTo(ChronoUnit.SECONDS).toString();
        looked.put(ResourceID.fromResource(cr), new Looked(UpdateTriggers.annotation(cr, io.hsmoperator.api.common.Conditions.RECONCILE_REQUEST_ANNOTATION),
                publication.resourceVersion()));
        return next;
    }

    /**
     * Whether a key that converged for its current spec needs no read of Azure now: a restarted operator's (or a new
     * leader's) first look at it, where the HSM's listing, made moments later for all such keys at once, wakes it if
     * Azure's copy differs from what status recorded; or a reconcile woken by nothing that concerns Azure (the echo of
     * the operator's own ConfigMap write, when the watch outran {@link #wrote}) while the listing still watches it. The
     * key is read when its full read, a rotation or its expiry warning falls due, and at once when status cannot vouch
     * for what is asked (a new annotation token, a published ConfigMap gone or changed). Null: read it now.
     */
    private Duration trusted(HsmKey cr, HsmKeyStatus st, String uri, ManagedHsm hsm, KeyListings.Seen watched) {
        ResourceID id = ResourceID.fromResource(cr);
        Looked last = looked.get(id);
        String request = UpdateTriggers.annotation(cr, io.hsmoperator.api.common.Conditions.RECONCILE_REQUEST_ANNOTATION);
        if (last != null && (watched == null || !java.util.Objects.equals(last.reconcileRequest(), request))) {
            return null;
        }
        ConfigMap published = st.publishedConfigMap == null ? null : cachedConfigMap(cr, st.publishedConfigMap);
        if (st.publishedConfigMap != null && (published == null || (last == null
                ? !java.util.Objects.equals(st.keyId, published.getData() == null ? null : published.getData().get("keyId"))
                : !java.util.Objects.equals(last.configMapVersion(), published.getMetadata().getResourceVersion())))) {
            return null;
        }
        // The HSM gained or lost a region since the ConfigMap was published: publish its hosts now.
        if (published != null && !KeyPublisher.regionUris(hsm).equals(KeyPublisher.publishedRegionUris(published))) {
            return null;
        }
        if (st.attestationConfigMap != null && cachedConfigMap(cr, st.attestationConfigMap) == null) {
            return null;
        }
        var ready = Conditions.get(st, Conditions.READY);
        Long gen = gen(cr);
        if (ready == null || !"True".equals(ready.getStatus()) || !java.util.Objects.equals(ready.getObservedGeneration(), gen)
                || st.keyUpdated == null || st.nextReadAt == null || st.versions.isEmpty() || st.currentVersion == null
                || !st.currentVersion.equals(st.versions.get(0).version) || st.lastUpdate != null
                || !uri.replaceAll("/+$", "").concat("/keys/" + KeySpecs.keyName(cr)).equalsIgnoreCase(st.versionlessKeyId)
                || !java.util.Objects.equals(UpdateTriggers.token(cr), st.lastRotateNowToken)
                || UpdateTriggers.token(cr, io.hsmoperator.api.common.Conditions.ACCEPT_KEY_STATE_ANNOTATION) != null
                && !UpdateTriggers.token(cr, io.hsmoperator.api.common.Conditions.ACCEPT_KEY_STATE_ANNOTATION).equals(st.lastAcceptKeyStateToken)) {
            return null;
        }
        HsmKeyStatus.KeyVersion current = st.versions.get(0);
        Instant now = Instant.now(clock);
        Instant expires = current.expires == null ? null : Instant.parse(current.expires);
        Instant due = Instant.parse(st.nextReadAt);
        // nextReadAt was reckoned with the full-read interval of the operator that wrote it: one configured shorter since
        // brings the full read forward.
        if (st.readAt != null && Instant.parse(st.readAt).plus(config.reconcile().keyFullRead()).isBefore(due)) {
            due = Instant.parse(st.readAt).plus(config.reconcile().keyFullRead());
        }
        if (!due.isAfter(now)) {
            return null;
        }
        if (last == null) {
            listings.trust(cr, uri, new HsmKeys.Listed(KeySpecs.keyName(cr), !Boolean.FALSE.equals(current.enabled),
                    current.created == null ? null : Instant.parse(current.created), Instant.parse(st.keyUpdated), expires, null));
            looked.put(id, new Looked(request, published == null ? null : published.getMetadata().getResourceVersion()));
        } else {
            listings.resume(cr, watched);
        }
        return Duration.between(now, due).plusSeconds(1);
    }

    /**
     * A ConfigMap this reconcile wrote goes into the informer's cache at once (JOSDK's temporary cache, until the watch
     * brings the same version): the next reconcile reads it there, and the watch event of the write itself, which the
     * cache then already holds, wakes no reconcile. A later change by anyone else is a new version, and wakes the key.
     */
    private void wrote(ConfigMap written, ConfigMap replaced) {
        InformerEventSource<ConfigMap, HsmKey> cache = publishedConfigMaps;
        if (cache == null) {
            return;
        }
        if (replaced == null) {
            cache.handleRecentResourceCreate(ResourceID.fromResource(written), written);
        } else {
            cache.handleRecentResourceUpdate(ResourceID.fromResource(written), written, replaced);
        }
    }

    /** The informer's copy of the ConfigMap this HsmKey published for workloads, or null. */
    private ConfigMap publishedConfigMap(HsmKey cr) {
        String name = KeyPublisher.configMapName(cr);
        return name == null ? null : cachedConfigMap(cr, name);
    }

    /** The informer's copy of ConfigMap {@code name} of the HsmKey's namespace (it holds those the operator labelled), or null. */
    private ConfigMap cachedConfigMap(HsmKey cr, String name) {
        return publishedConfigMaps == null ? null : publishedConfigMaps.get(new ResourceID(name, cr.getMetadata().getNamespace())).orElse(null);
    }

    /**
     * spec.attestation: keep each enabled version's evidence for auditors, and say in condition Attested whether all of it
     * is there. Null when attestation is off; stalled when another owner's ConfigMap holds the name.
     */
    private AttestationPublisher.Attestations attest(HsmKey cr, HsmKeyStatus st, String uri, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        if (!Boolean.TRUE.equals(cr.getSpec().attestation)) {
            st.attestationConfigMap = null;
            Conditions.remove(st, ATTESTED);
            return null;
        }
        AttestationPublisher.Attestations a = attestations.publish(cr, uri, key, versions,
                cachedConfigMap(cr, AttestationPublisher.configMapName(cr)), this::wrote);
        if (a.foreign() != null) {
            stalled(st, Reason.PublishConflict, "ConfigMap " + a.foreign() + " exists and was not written by this HsmKey; the operator "
                    + "never takes over a ConfigMap it did not create. Remove it to keep the key's attestation there, or set "
                    + "spec.attestation: false.", gen(cr), clock);
            return a;
        }
        st.attestationConfigMap = a.configMap();
        if (a.unavailable() != null) {
            Conditions.set(st, ATTESTED, "False", Reason.AttestationUnavailable, "Azure gave no attestation for version(s) "
                    + Reports.stable(a.unavailable()) + "; the other enabled versions' evidence is in ConfigMap " + a.configMap() + ". Asked again "
                    + (a.lagging() ? "shortly" : "at the next full read, or when you request a reconcile") + ".", gen(cr), clock);
        } else {
            Conditions.set(st, ATTESTED, "True", Reason.Attested, "The attestation of every enabled version is in ConfigMap "
                    + a.configMap() + ".", gen(cr), clock);
        }
        return a;
    }

    /** The key does not exist: recover it or report why it must not be created; null when the name is free to create. */
    private Duration absent(HsmKey cr, HsmKeyStatus st, HsmRefs.Resolution hsm, String name) {
        String uri = hsm.hsmUri();
        var deleted = keys.getDeleted(uri, name);
        Instant recovering = st.recoveryStartedAt == null ? null : Instant.parse(st.recoveryStartedAt);
        if (recovering != null && Instant.now(clock).isBefore(recovering.plus(RECOVERY_TIMEOUT))) {
            // Recovery runs in the background: the key answers 404 (and may still be listed as deleted) until it is done.
            progressing(st, Reason.Recovering, "Azure is recovering the soft-deleted key " + name + " (asked at " + st.recoveryStartedAt
                    + "); it answers 404 until the recovery completes.", gen(cr), clock);
            return config.reconcile().poll();
        }
        if (deleted.isPresent()) {
            Ownership.Verdict verdict = ownership.judge(deleted.get().tags().get(Ownership.TAG), cr, HsmKey.class,
                    hsm.hsm().getMetadata().getNamespace(), Boolean.TRUE.equals(cr.getSpec().recoverDeleted));
            if (verdict instanceof Ownership.Verdict.Conflict c && !c.adoptable()) {
                // Recovering it would bring back another owner's key, crypto-shredded on purpose, for this resource to use.
                stalled(st, Reason.OwnershipConflict, "A soft-deleted key holds the name " + name + " in " + uri + " and " + c.why()
                        + " It is not recovered from here, and the operator never purges it. Choose another keyName.", gen(cr), clock);
                return config.reconcile().resync();
            }
            if (Boolean.TRUE.equals(cr.getSpec().recoverDeleted)) {
                Mutation m = keys.recover(uri, name);
                st.recoveryStartedAt = Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString();
                events.mutation(cr, "KeyRecovered", "Started recovering the soft-deleted key " + name + " in " + uri, m);
                progressing(st, Reason.Recovering, "Recovering the soft-deleted key " + name + ".", gen(cr), clock);
                return config.reconcile().poll();
            }
            boolean ours = st.keyId != null;
            stalled(st, ours ? Reason.DeletedOutOfBand : Reason.NameHeldBySoftDeletedKey, (ours ? "The key was deleted outside the "
                    + "operator and is soft-deleted" : "A soft-deleted key holds the name " + name) + " until " + deleted.get().scheduledPurge()
                    + ". Set spec.recoverDeleted: true to recover it" + (ours ? "" : ", or choose another keyName")
                    + ". The operator never purges and never replaces it with a new key.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (recovering != null) {
            stalled(st, Reason.KeyMissing, "Azure was asked at " + st.recoveryStartedAt + " to recover the soft-deleted key " + name
                    + ", but after " + RECOVERY_TIMEOUT.toMinutes() + " minutes the key is neither back nor soft-deleted. The operator "
                    + "creates no new key in its place; find out in Azure what happened to it.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (st.keyId != null) {
            stalled(st, Reason.KeyMissing, "The key " + st.versionlessKeyId + " no longer exists in Azure, not even soft-deleted (it was "
                    + "purged outside the operator). Its versions cannot be brought back; to create a new, different key under this "
                    + "name, delete and re-apply this HsmKey.", gen(cr), clock);
            return config.reconcile().resync();
        }
        return null;
    }

    /** Null when the key is this resource's, or is adopted now as the spec allows; otherwise whose it is, in a condition. */
    private Duration ownership(HsmKey cr, HsmKeyStatus st, HsmRefs.Resolution hsm, String name, HsmKeys.Key key,
                               List<HsmKeys.Version> versions, boolean recovered) {
        Ownership.Verdict verdict = ownership.judge(KeySpecs.ownerOf(key, versions), cr, HsmKey.class, hsm.hsm().getMetadata().getNamespace(),
                Boolean.TRUE.equals(cr.getSpec().adoptExisting) || recovered);
        if (verdict instanceof Ownership.Verdict.Conflict c) {
            stalled(st, Reason.OwnershipConflict, "A key named " + name + " exists in " + hsm.hsmUri() + " but " + c.why()
                    + " Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (verdict instanceof Ownership.Verdict.Adopt a) {
            if (!Boolean.TRUE.equals(st.adopted)) {
                String message = "Adopting key " + key.id() + ", " + a.why() + " (spec.adoptExisting); this resource now manages it.";
                if (a.warning()) {
                    events.warning(cr, "Adopted", message + " The HSM's own namespace reclaimed it from another namespace.");
                } else {
                    events.normal(cr, "Adopted", message);
                }
            }
            st.adopted = true;
        }
        return null;
    }

    /**
     * Null when Azure holds every version this resource last reported, or when the user accepted what it holds now (a new
     * hsmoperator.io/accept-key-state token). Otherwise nothing is written: a version made moments ago may be missing from
     * a lagging read; one older than that is gone (a full restore of an older backup, say), and converging blindly would
     * rotate, re-enable or re-tag a key its owners should look at first.
     */
    private Duration wentBack(HsmKey cr, HsmKeyStatus st, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        java.util.Set<String> held = new java.util.HashSet<>();
        versions.forEach(v -> held.add(v.version()));
        List<HsmKeyStatus.KeyVersion> gone = st.versions.stream().filter(v -> !held.contains(v.version)).toList();
        if (gone.isEmpty()) {
            return null;
        }
        Instant now = Instant.now(clock);
        Instant settled = gone.stream().map(v -> v.created == null ? now : Instant.parse(v.created)).max(Instant::compareTo).orElse(now)
                .plus(Consistency.READ_LAG);
        String names = String.join(", ", gone.stream().map(v -> v.version).toList());
        if (now.isBefore(settled)) {
            // Most likely a read that lags the operator's own rotation: no write, and no condition flaps; look again soon.
            return config.reconcile().poll();
        }
        String token = UpdateTriggers.token(cr, io.hsmoperator.api.common.Conditions.ACCEPT_KEY_STATE_ANNOTATION);
        if (token != null && !token.equals(st.lastAcceptKeyStateToken)) {
            st.lastAcceptKeyStateToken = token;
            events.normal(cr, "KeyStateAccepted", "Accepted key " + key.name() + " as Azure holds it (current version " + key.version()
                    + "; gone: " + names + ") for token '" + token + "'; the operator converges it to the spec from here.");
            return null;
        }
        var ready = Conditions.get(st, Conditions.READY);
        boolean first = ready == null || !Reason.VersionsGone.name().equals(ready.getReason());
        String message = "Version(s) " + names + " of key " + key.name() + ", which this resource saw, are no longer in Azure; its "
                + "current version is now " + key.version() + " (the HSM was restored from an older backup, or the key deleted and "
                + "brought back). What the gone versions encrypted or wrapped cannot be decrypted or unwrapped by this HSM. The "
                + "operator writes nothing to the key (no rotation, no attribute change) and publishes nothing new until you accept "
                + "what Azure holds: annotate this HsmKey " + io.hsmoperator.api.common.Conditions.ACCEPT_KEY_STATE_ANNOTATION
                + "=<a new token>.";
        if (first) {
            events.warning(cr, "VersionsGone", message);
        }
        stalled(st, Reason.VersionsGone, message, gen(cr), clock);
        return config.reconcile().resync();
    }

    private void report(HsmKeyStatus st, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        st.keyId = key.id();
        st.currentVersion = key.version();
        st.versionlessKeyId = key.id().substring(0, key.id().lastIndexOf('/'));
        st.versionCount = versions.size();
        List<HsmKeyStatus.KeyVersion> out = new ArrayList<>();
        for (int i = versions.size() - 1; i >= 0 && out.size() < STATUS_VERSIONS; i--) {
            HsmKeys.Version v = versions.get(i);
            HsmKeyStatus.KeyVersion kv = new HsmKeyStatus.KeyVersion();
            kv.version = v.version();
            kv.created = v.created() == null ? null : v.created().toString();
            kv.expires = v.expires() == null ? null : v.expires().toString();
            kv.enabled = v.enabled();
            out.add(kv);
        }
        st.versions = out;
        st.lastRotationTime = versions.size() > 1 && key.created() != null ? key.created().toString() : null;
        st.keyUpdated = key.updated() == null ? null : key.updated().toString();
        st.readAt = Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString();
    }

    /**
     * The next full read of a converged key (drift in between shows in the per-HSM listing), or sooner when a rotation
     * falls due or a grace period ends before it.
     */
    private Duration nextLook(Instant at) {
        Duration resync = config.reconcile().keyFullRead();
        if (at == null) {
            return resync;
        }
        Duration until = Duration.between(Instant.now(clock), at).plusSeconds(1);
        return until.isNegative() || until.compareTo(resync) > 0 ? resync : until;
    }

    @Override
    public DeleteControl cleanup(HsmKey stale, Context<HsmKey> context) {
        listings.forget(stale);
        looked.remove(ResourceID.fromResource(stale));
        DeleteControl control = deletion.delete(stale);
        if (control.isRemoveFinalizer()) {
            Reports.released(stale);
            publisher.forget(stale);
        }
        return control;
    }
}
