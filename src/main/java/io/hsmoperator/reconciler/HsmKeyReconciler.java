package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.hsmkey.HsmKeySpec;
import io.hsmoperator.api.hsmkey.HsmKeyStatus;
import io.hsmoperator.azure.AzureError;
import io.hsmoperator.azure.HsmKeys;
import io.hsmoperator.azure.Mutation;
import io.hsmoperator.azure.OperatorConfig;
import io.hsmoperator.metrics.ResourceMetrics;
import io.hsmoperator.publish.KeyPublication;
import io.hsmoperator.rotation.IsoDuration;
import io.hsmoperator.rotation.RotationSchedule;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

import static io.hsmoperator.reconciler.Conditions.progressing;
import static io.hsmoperator.reconciler.Conditions.ready;
import static io.hsmoperator.reconciler.Conditions.stalled;

/**
 * HsmKey: observe the key in its HSM, validate the spec against it, create it once or keep its mutable attributes as
 * the spec says (no write when they match), publish what workloads need, report versions. A key deleted outside the
 * operator is reported and recovered only when allowed, never replaced by a new, different key; nothing is purged.
 */
@ControllerConfiguration(name = "hsmkey", generationAwareEventProcessing = false,
        informer = @Informer(onUpdateFilter = UpdateTriggers.class, itemStore = LeanItemStore.class))
public class HsmKeyReconciler implements Reconciler<HsmKey>, Cleaner<HsmKey> {
    static final int STATUS_VERSIONS = 20;
    /** Recovering a key is a background operation in Azure, usually seconds; past this the operator reports it instead of waiting. */
    static final Duration RECOVERY_TIMEOUT = Duration.ofMinutes(10);
    private static final String POLICY = "rotation policy";
    /** Tags the operator writes on versions; spec.tags may not use them. */
    private static final List<String> RESERVED_TAGS = List.of(Ownership.TAG, RotationSchedule.SCHEDULE_TAG, RotationSchedule.ROTATE_NOW_TAG);
    private final HsmKeys keys;
    private final OperatorConfig config;
    private final KubernetesClient kubernetes;
    private final Events events;
    private final Workloads workloads;
    private final Clock clock;
    /** Public keys of versions never change: read each once. */
    private final Map<String, Map<String, String>> publicKeys = new ConcurrentHashMap<>();
    private final KeyListings listings;

    public HsmKeyReconciler(HsmKeys keys, OperatorConfig config, KubernetesClient kubernetes, Events events, Workloads workloads,
                            Clock clock) {
        this.workloads = workloads;
        this.clock = clock;
        this.keys = keys;
        this.config = config;
        this.kubernetes = kubernetes;
        this.events = events;
        this.listings = new KeyListings(keys, config.reconcile().driftInterval());
    }

    @Override
    public List<EventSource<?, HsmKey>> prepareEventSources(EventSourceContext<HsmKey> context) {
        return List.of(RelatedResources.referencedHsm(context, r -> r.getSpec() == null ? null : r.getSpec().hsmRef),
                RelatedResources.publishedConfigMap(context), listings);
    }

    @Override
    public UpdateControl<HsmKey> reconcile(HsmKey cr, Context<HsmKey> context) {
        return Reports.reconcile(kubernetes, cr, HsmKeyStatus.class, clock, config.reconcile(), this::converge);
    }

    static String keyName(HsmKey cr) {
        return cr.getSpec().keyName != null ? cr.getSpec().keyName : cr.getMetadata().getName();
    }

    private Duration converge(HsmKey cr, HsmKeyStatus st) {
        // Watched by the per-HSM listing again only once this reconcile converges.
        listings.forget(cr);
        String invalid = validate(cr);
        if (invalid != null) {
            stalled(st, Reason.InvalidSpec, invalid, gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmRefs.Resolution hsm = HsmRefs.resolve(kubernetes, cr, cr.getSpec().hsmRef);
        Duration unusable = HsmRefs.unusable(hsm, st, gen(cr), clock, config.reconcile());
        if (unusable != null) {
            return unusable;
        }
        String uri = hsm.hsmUri();
        String name = keyName(cr);
        String madeAs = st.versionlessKeyId;
        if (madeAs != null && !madeAs.equalsIgnoreCase(uri.replaceAll("/+$", "") + "/keys/" + name)) {
            stalled(st, Reason.ImmutableFieldChanged, "keyName now names " + name + ", but this resource manages " + madeAs + ". keyName is "
                    + "immutable: set it back, or create a new HsmKey. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        var observed = keys.get(uri, name);
        HsmKeys.Key key;
        if (observed.isEmpty()) {
            Duration wait = absent(cr, st, uri, name);
            if (wait != null) {
                return wait;
            }
            HsmKeys.Created created = keys.create(uri, name, newVersion(cr, tags(cr), null, false));
            events.mutation(cr, "KeyCreated", "Created " + kty(cr.getSpec()) + " key " + created.key().id(), created.mutation());
            key = created.key();
        } else {
            key = observed.get();
            st.recoveryStartedAt = null;
        }
        List<HsmKeys.Version> versions = oldestFirst(keys.versions(uri, name), key.version());
        String owner = Ownership.of(config.clusterId(), cr);
        String tagged = ownerOf(key, versions);
        if (!owner.equals(tagged) && tagged != null && Ownership.alive(kubernetes, config.clusterId(), tagged, HsmKey.class)) {
            stalled(st, Reason.OwnershipConflict, "A key named " + name + " exists in " + uri + " and belongs to " + tagged + ", which "
                    + "still exists. Only its owner manages it: adoptExisting does not take it over. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (!owner.equals(tagged) && !Boolean.TRUE.equals(cr.getSpec().adoptExisting)) {
            stalled(st, Reason.OwnershipConflict, "A key named " + name + " exists in " + uri + " but " + (tagged == null
                    ? "was not created by this resource" : "belongs to " + tagged + ", which no longer exists") + ". Set "
                    + "spec.adoptExisting: true to manage it from here. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        if (!owner.equals(tagged)) {
            if (!Boolean.TRUE.equals(st.adopted)) {
                events.normal(cr, "Adopted", "Adopting key " + key.id() + (tagged == null ? ", which had no owner" : ", whose owner "
                        + tagged + " no longer exists") + " (spec.adoptExisting); this resource now manages it.");
            }
            st.adopted = true;
        }
        String immutable = immutableConflicts(cr.getSpec(), key);
        if (immutable != null) {
            stalled(st, Reason.ImmutableFieldChanged, immutable + ". A key's type, size, curve and exportability cannot change: set "
                    + "them back, or create a new HsmKey. Nothing was changed.", gen(cr), clock);
            return config.reconcile().resync();
        }
        HsmKeys.Update update = drift(cr, key, st.managedTags, Boolean.TRUE.equals(st.adopted));
        if (update != null) {
            // Per version: a new version (someone else's, say) with the same drift is a new update, not a repeat.
            String fields = fields(update, key) + " of version " + key.version();
            String updated = String.valueOf(key.updated());
            Duration held = DriftGuard.hold(st, st.lastUpdate, fields, "key " + key.name(), updated, gen(cr), clock, config.reconcile());
            if (held != null) {
                return held;
            }
            Mutation m = keys.update(uri, name, key.version(), update);
            st.lastUpdate = DriftGuard.sent(st.lastUpdate, fields, updated, gen(cr), Instant.now(clock));
            events.mutation(cr, "KeyUpdated", "Updated " + describe(update) + " of key " + key.id(), m);
            key = keys.get(uri, name).orElse(key);
        } else {
            st.lastUpdate = null;
        }
        st.managedTags = Ownership.managedKeys(cr.getSpec().tags == null ? Map.of() : cr.getSpec().tags);
        Rotated rotated = rotate(cr, st, uri, key, versions);
        key = rotated.key();
        versions = rotated.versions();
        report(st, key, versions);
        String foreign = foreignConfigMap(cr);
        if (foreign != null) {
            stalled(st, Reason.PublishConflict, "ConfigMap " + foreign + " exists and was not published by this HsmKey; the operator never "
                    + "takes over a ConfigMap it did not create. Remove it, or set spec.publish.configMapName to another name.", gen(cr), clock);
            return config.reconcile().resync();
        }
        String published = publish(cr, uri, key, versions);
        st.publishedConfigMap = published;
        followWorkloads(cr, key);
        ready(st, Reason.Ready, "Key " + key.id() + " is ready" + (published == null ? "." : "; published in ConfigMap " + published + "."),
                gen(cr), clock);
        listings.saw(cr, uri, key);
        return nextLook(rotated.nextLook());
    }

    private String validate(HsmKey cr) {
        // The CRD's own rules (required fields, sizes, combinations) were checked by SpecRules before this.
        HsmKeySpec s = cr.getSpec();
        for (String reserved : RESERVED_TAGS) {
            if (s.tags != null && s.tags.containsKey(reserved)) {
                return "The tag " + reserved + " is reserved for the operator's own records; remove it from spec.tags.";
            }
        }
        if (s.expiresAfter != null && IsoDuration.parse(s.expiresAfter) == null) {
            return "expiresAfter '" + s.expiresAfter + "' is not an ISO-8601 duration (for example P1Y or P90D).";
        }
        HsmKeySpec.Rotation r = s.rotation;
        if (r != null) {
            String invalid = r.every != null ? RotationSchedule.validateEvery(r.every, r.gracePeriod, s.expiresAfter)
                    : RotationSchedule.validateAzurePolicy(r.azurePolicy.timeAfterCreate, r.azurePolicy.timeBeforeExpiry,
                    r.azurePolicy.expiryTime, s.expiresAfter);
            if (invalid == null) {
                invalid = RotationSchedule.validateGrace(r.gracePeriod);
            }
            if (invalid != null) {
                return invalid;
            }
        }
        return null;
    }

    /** The key does not exist: recover it or report why it must not be created; null when the name is free to create. */
    private Duration absent(HsmKey cr, HsmKeyStatus st, String uri, String name) {
        var deleted = keys.getDeleted(uri, name);
        Instant recovering = st.recoveryStartedAt == null ? null : Instant.parse(st.recoveryStartedAt);
        if (recovering != null && Instant.now(clock).isBefore(recovering.plus(RECOVERY_TIMEOUT))) {
            // Recovery runs in the background: the key answers 404 (and may still be listed as deleted) until it is done.
            progressing(st, Reason.Recovering, "Azure is recovering the soft-deleted key " + name + " (asked at " + st.recoveryStartedAt
                    + "); it answers 404 until the recovery completes.", gen(cr), clock);
            return config.reconcile().poll();
        }
        if (deleted.isPresent()) {
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

    /**
     * The first version (current null) or a rotated one: the spec's parameters, expiry counted from now (its creation),
     * the given tags; what an adopted key's spec leaves unset follows the current version.
     */
    private HsmKeys.NewKey newVersion(HsmKey cr, Map<String, String> tags, HsmKeys.Key current, boolean adopted) {
        HsmKeySpec s = cr.getSpec();
        return new HsmKeys.NewKey(kty(s), defaultSize(s), curve(s), wantOperations(s, current, adopted), Boolean.TRUE.equals(s.exportable),
                s.releasePolicy == null ? null : new HsmKeys.ReleasePolicy(s.releasePolicy.contentType, s.releasePolicy.data,
                        Boolean.TRUE.equals(s.releasePolicy.immutable)),
                wantEnabled(s, current, adopted), RotationSchedule.expiry(IsoDuration.parse(s.expiresAfter), Instant.now(clock)), tags);
    }

    /** The spec's enabled; unset: enabled on a key this resource created, the key's own state on an adopted key. */
    private static boolean wantEnabled(HsmKeySpec s, HsmKeys.Key key, boolean adopted) {
        return s.enabled != null ? s.enabled : !adopted || key == null || key.enabled();
    }

    /** The spec's operations; unset: every operation of the type on a key this resource created, the key's own on an adopted key. */
    private static List<String> wantOperations(HsmKeySpec s, HsmKeys.Key key, boolean adopted) {
        boolean unset = s.operations == null || s.operations.isEmpty();
        return unset && adopted && key != null ? key.operations() : operations(s);
    }

    /**
     * Who owns the key: the ownership tag of the current version, or, when a version Azure rotated on its own carries no
     * tags, of the newest version that has one.
     */
    private static String ownerOf(HsmKeys.Key key, List<HsmKeys.Version> versions) {
        String tagged = key.tags().get(Ownership.TAG);
        if (tagged != null || key.tags().size() > 0) {
            return tagged;
        }
        for (int i = versions.size() - 1; i >= 0; i--) {
            String t = versions.get(i).tags().get(Ownership.TAG);
            if (t != null) {
                return t;
            }
        }
        return null;
    }

    private Map<String, String> tags(HsmKey cr) {
        Map<String, String> tags = new LinkedHashMap<>(cr.getSpec().tags == null ? Map.of() : cr.getSpec().tags);
        tags.put(Ownership.TAG, Ownership.of(config.clusterId(), cr));
        return tags;
    }

    static String kty(HsmKeySpec s) {
        switch (s.keyType) {
            case RSA_HSM: return "RSA-HSM";
            case EC_HSM: return "EC-HSM";
            default: return "oct-HSM";
        }
    }

    private static Integer defaultSize(HsmKeySpec s) {
        if (s.keyType == HsmKeySpec.KeyType.EC_HSM) {
            return null;
        }
        return s.keySize != null ? s.keySize : s.keyType == HsmKeySpec.KeyType.RSA_HSM ? HsmKeySpec.DEFAULT_RSA_SIZE : HsmKeySpec.DEFAULT_OCT_SIZE;
    }

    private static String curve(HsmKeySpec s) {
        if (s.keyType != HsmKeySpec.KeyType.EC_HSM) {
            return null;
        }
        if (s.curve == null) {
            return HsmKeySpec.DEFAULT_CURVE;
        }
        switch (s.curve) {
            case P_384: return "P-384";
            case P_521: return "P-521";
            case P_256K: return "P-256K";
            default: return "P-256";
        }
    }

    /** The spec's operations, or every operation the key type supports. */
    static List<String> operations(HsmKeySpec s) {
        if (s.operations != null && !s.operations.isEmpty()) {
            List<String> out = new ArrayList<>();
            s.operations.forEach(o -> out.add(o.name()));
            return out;
        }
        switch (s.keyType) {
            case EC_HSM: return List.of("sign", "verify");
            case RSA_HSM: return List.of("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey");
            default: return List.of("encrypt", "decrypt", "wrapKey", "unwrapKey");
        }
    }

    private static String immutableConflicts(HsmKeySpec s, HsmKeys.Key k) {
        String kty = kty(s);
        if (k.kty() != null && !k.kty().equalsIgnoreCase(kty)) {
            return "keyType is " + k.kty() + " in Azure, " + kty + " in spec";
        }
        if (s.keyType == HsmKeySpec.KeyType.RSA_HSM && k.keySize() != null && !k.keySize().equals(defaultSize(s))) {
            return "keySize is " + k.keySize() + " in Azure, " + defaultSize(s) + " in spec";
        }
        if (s.keyType == HsmKeySpec.KeyType.EC_HSM && k.curve() != null && !k.curve().equalsIgnoreCase(curve(s))) {
            return "curve is " + k.curve() + " in Azure, " + curve(s) + " in spec";
        }
        if (k.exportable() != Boolean.TRUE.equals(s.exportable)) {
            return "exportable is " + k.exportable() + " in Azure, " + s.exportable + " in spec";
        }
        return null;
    }

    /** The update that brings the current version to the spec, or null when it already matches. */
    private HsmKeys.Update drift(HsmKey cr, HsmKeys.Key key, List<String> managedTags, boolean adopted) {
        HsmKeySpec s = cr.getSpec();
        boolean wantEnabled = wantEnabled(s, key, adopted);
        Instant wantExpiry = s.expiresAfter == null || key.created() == null ? null : IsoDuration.parse(s.expiresAfter).addTo(key.created());
        // A minute of tolerance: the operator computes a new version's expiry from its own clock, Azure records its own.
        boolean expiryDiffers = wantExpiry != null && (key.expires() == null
                || Math.abs(ChronoUnit.SECONDS.between(key.expires(), wantExpiry)) > 60);
        List<String> wantOps = wantOperations(s, key, adopted);
        // Empty key_ops in Azure means unrestricted: write the wanted operations explicitly, unless they are the key's own.
        boolean opsDiffer = !new HashSet<>(wantOps).equals(new HashSet<>(key.operations()));
        // Tags others added, and the rotation marker of the version, stay; a tag leaves only if the operator wrote it.
        Map<String, String> wantTags = Ownership.tags(key.tags(), s.tags == null ? Map.of() : s.tags, Ownership.of(config.clusterId(), cr),
                managedTags);
        boolean tagsDiffer = !wantTags.equals(key.tags());
        if (key.enabled() == wantEnabled && !expiryDiffers && !opsDiffer && !tagsDiffer) {
            return null;
        }
        // Operations always go explicitly: the SDK would send key_ops [] otherwise, clearing them.
        return new HsmKeys.Update(key.enabled() != wantEnabled ? wantEnabled : null, expiryDiffers ? wantExpiry : null, wantOps,
                tagsDiffer ? wantTags : null);
    }

    /** The properties an update changes, for the drift guard: operations only when they differ from Azure's. */
    private static String fields(HsmKeys.Update u, HsmKeys.Key key) {
        List<String> what = new ArrayList<>();
        if (u.enabled() != null) {
            what.add("enabled");
        }
        if (u.expires() != null) {
            what.add("expiry");
        }
        if (u.tags() != null) {
            what.add("tags");
        }
        if (!new HashSet<>(u.operations()).equals(new HashSet<>(key.operations()))) {
            what.add("operations");
        }
        return String.join(", ", what);
    }

    private static String describe(HsmKeys.Update u) {
        List<String> what = new ArrayList<>();
        if (u.enabled() != null) {
            what.add(u.enabled() ? "enabled" : "disabled");
        }
        if (u.expires() != null) {
            what.add("expiry");
        }
        if (u.tags() != null) {
            what.add("tags");
        }
        what.add("operations " + u.operations());
        return String.join(", ", what);
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
    }

    // ---- rotation ------------------------------------------------------------------------------

    /** The key after rotation: its current version, every version (oldest first), and when to look again. */
    private record Rotated(HsmKeys.Key key, List<HsmKeys.Version> versions, Instant nextLook) {
    }

    /**
     * Operator-driven rotation (spec.rotation.every, the rotate-now annotation) creates at most one version per reconcile,
     * marked so that it is never made twice; Azure-driven rotation (spec.rotation.azurePolicy) keeps Azure's policy as the
     * spec says. Then versions beyond keepEnabledVersions are disabled once their grace period is over. Every decision
     * comes from {@link RotationSchedule}, over the versions Azure reports.
     */
    private Rotated rotate(HsmKey cr, HsmKeyStatus st, String uri, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        HsmKeySpec.Rotation spec = cr.getSpec().rotation;
        String token = UpdateTriggers.token(cr);
        if (spec == null && token == null) {
            Conditions.remove(st, io.hsmoperator.api.common.Conditions.ROTATION);
            st.nextRotationTime = null;
            return new Rotated(key, versions, null);
        }
        String refused = null;
        if (token != null && token.length() > 200) {
            refused = "The " + io.hsmoperator.api.common.Conditions.ROTATE_NOW_ANNOTATION + " token is longer than 200 characters; it "
                    + "is stored as a tag on the new version. Use a shorter token.";
            token = null;
        }
        RotationSchedule.Policy policy = policy(spec);
        convergeAzurePolicy(cr, st, uri, key.name());
        Instant now = Instant.now(clock);
        RotationSchedule.Plan plan = RotationSchedule.plan(policy, schedule(versions), token, now);
        if (plan.rotate() != null) {
            RotationSchedule.Rotation r = plan.rotate();
            // Written first, so that a failed create leaves the condition saying a rotation is due.
            rotation(st, cr, "True", r.trigger() == RotationSchedule.Trigger.ROTATE_NOW ? Reason.RotateNowRequested : Reason.RotationInProgress,
                    "Creating a new version of " + key.name() + " for the " + r.describe() + ".");
            Map<String, String> tags = tags(cr);
            tags.put(r.markerTag(), r.markerValue());
            HsmKeys.Created created = keys.create(uri, key.name(), newVersion(cr, tags, key, Boolean.TRUE.equals(st.adopted)));
            events.mutation(cr, "KeyRotated", "Created version " + created.key().version() + " of key " + key.name() + " ("
                    + r.describe() + ")", created.mutation());
            key = created.key();
            versions = new ArrayList<>(versions);
            versions.add(new HsmKeys.Version(key.id(), key.version(), key.enabled(), key.created(), key.expires(), key.tags()));
            plan = RotationSchedule.plan(policy, schedule(versions), token, now);
        }
        if (!plan.disable().isEmpty()) {
            versions = disable(cr, uri, key.name(), versions, plan.disable(), spec);
        }
        st.lastRotateNowToken = plan.tokenHandled() != null ? plan.tokenHandled() : st.lastRotateNowToken;
        st.nextRotationTime = plan.nextRotation() == null ? null : plan.nextRotation().toString();
        if (refused != null) {
            rotation(st, cr, "False", Reason.InvalidSpec, refused);
        } else if (plan.limit() != null) {
            rotation(st, cr, "True", Reason.VersionLimitApproaching, plan.limit());
        } else if (spec != null && spec.azurePolicy != null) {
            rotation(st, cr, "False", Reason.AzureRotationPolicy, "Azure rotates this key by its rotation policy"
                    + (plan.nextRotation() == null ? "." : "; the next rotation is due at " + plan.nextRotation() + "."));
        } else if (spec != null) {
            rotation(st, cr, "False", Reason.RotationScheduled, "The next rotation is due at " + plan.nextRotation() + ".");
        } else {
            rotation(st, cr, "False", Reason.OnDemandOnly, "The key rotates only when the "
                    + io.hsmoperator.api.common.Conditions.ROTATE_NOW_ANNOTATION + " annotation gets a new token.");
        }
        return new Rotated(key, versions, plan.limit() == null ? plan.nextLook() : null);
    }

    /**
     * Versions by creation time, the current one (Azure's newest) last among any created in the same second: Azure's
     * creation times are whole seconds, and a rotate-now can follow a create within one.
     */
    private static List<HsmKeys.Version> oldestFirst(List<HsmKeys.Version> versions, String current) {
        List<HsmKeys.Version> out = new ArrayList<>(versions);
        out.sort(java.util.Comparator.comparing(HsmKeys.Version::created, java.util.Comparator.nullsFirst(java.util.Comparator.naturalOrder()))
                .thenComparing(v -> v.version().equals(current)));
        return out;
    }

    private static RotationSchedule.Policy policy(HsmKeySpec.Rotation spec) {
        if (spec == null) {
            // rotate-now only: nothing is scheduled and nothing is disabled
            return RotationSchedule.Policy.operatorDriven(null, Integer.MAX_VALUE, IsoDuration.parse("P7D"));
        }
        int keep = spec.keepEnabledVersions == null ? 2 : spec.keepEnabledVersions;
        IsoDuration grace = IsoDuration.parse(spec.gracePeriod == null ? "P7D" : spec.gracePeriod);
        if (spec.azurePolicy != null) {
            return RotationSchedule.Policy.azureDriven(IsoDuration.parse(spec.azurePolicy.timeAfterCreate),
                    IsoDuration.parse(spec.azurePolicy.timeBeforeExpiry), keep, grace);
        }
        return RotationSchedule.Policy.operatorDriven(IsoDuration.parse(spec.every), keep, grace);
    }

    private static List<RotationSchedule.Version> schedule(List<HsmKeys.Version> versions) {
        List<RotationSchedule.Version> out = new ArrayList<>();
        versions.forEach(v -> out.add(new RotationSchedule.Version(v.version(), v.created(), v.expires(), v.enabled(), v.tags())));
        return out;
    }

    /**
     * Azure-driven rotation: Azure's policy equals spec.rotation.azurePolicy. When the spec moves from azurePolicy to
     * operator-driven rotation, the policy is cleared, so that the key is not rotated twice.
     */
    private void convergeAzurePolicy(HsmKey cr, HsmKeyStatus st, String uri, String name) {
        HsmKeySpec.Rotation spec = cr.getSpec().rotation;
        var previous = Conditions.get(st, io.hsmoperator.api.common.Conditions.ROTATION);
        boolean wasAzure = previous != null && Reason.AzureRotationPolicy.name().equals(previous.getReason());
        HsmKeys.RotationPolicy want;
        if (spec != null && spec.azurePolicy != null) {
            want = new HsmKeys.RotationPolicy(spec.azurePolicy.timeAfterCreate, spec.azurePolicy.timeBeforeExpiry, spec.azurePolicy.expiryTime);
        } else if (wasAzure) {
            want = new HsmKeys.RotationPolicy(null, null, null);
        } else {
            return;
        }
        HsmKeys.RotationPolicy have = keys.rotationPolicy(uri, name).orElse(new HsmKeys.RotationPolicy(null, null, null));
        if (same(have.timeAfterCreate(), want.timeAfterCreate()) && same(have.timeBeforeExpiry(), want.timeBeforeExpiry())
                && same(have.expiryTime(), want.expiryTime())) {
            st.lastPolicyUpdate = null;
            return;
        }
        // A read of the policy may predate the operator's last PUT of it: the drift guard tells by Azure's updated time.
        switch (DriftGuard.verdict(st.lastPolicyUpdate, POLICY, have.updated(), gen(cr), Instant.now(clock))) {
            case WAIT_FOR_READ:
                return;
            case NOT_CONVERGING:
                // Said once: the record's attempts go one past the limit when the warning has been given.
                if (st.lastPolicyUpdate.attempts <= DriftGuard.MAX_ATTEMPTS) {
                    events.warning(cr, Reason.DriftNotConverging.name(), "Azure took " + DriftGuard.MAX_ATTEMPTS + " updates of the "
                            + "rotation policy of key " + name + " and still reports a different one; the operator stopped sending it. "
                            + "Change the spec to try again.");
                    st.lastPolicyUpdate.attempts = DriftGuard.MAX_ATTEMPTS + 1;
                }
                return;
            default:
                break;
        }
        Mutation m = keys.setRotationPolicy(uri, name, want);
        st.lastPolicyUpdate = DriftGuard.sent(st.lastPolicyUpdate, POLICY, have.updated(), gen(cr), Instant.now(clock));
        events.mutation(cr, "RotationPolicySet", want.isEmpty() ? "Cleared the Azure rotation policy of key " + name
                + " (the operator rotates it now)" : "Set the Azure rotation policy of key " + name + " to rotate "
                + (want.timeAfterCreate() != null ? want.timeAfterCreate() + " after creation" : want.timeBeforeExpiry() + " before expiry")
                + (want.expiryTime() == null ? "" : ", versions expiring after " + want.expiryTime()), m);
    }

    private static boolean same(String a, String b) {
        return a == null ? b == null : a.equalsIgnoreCase(b);
    }

    /** Disables each named version, leaving its other attributes as they are; returns the versions as they now are. */
    private List<HsmKeys.Version> disable(HsmKey cr, String uri, String name, List<HsmKeys.Version> versions, List<String> disable,
                                          HsmKeySpec.Rotation spec) {
        List<HsmKeys.Version> out = new ArrayList<>();
        for (HsmKeys.Version v : versions) {
            if (!disable.contains(v.version())) {
                out.add(v);
                continue;
            }
            HsmKeys.Key k = keys.getVersion(uri, name, v.version());
            Mutation m = keys.update(uri, name, v.version(), new HsmKeys.Update(false, null, k.operations(), null));
            events.mutation(cr, "KeyVersionDisabled", "Disabled version " + v.version() + " of key " + name + ": beyond the "
                    + spec.keepEnabledVersions + " newest versions for longer than the grace period " + spec.gracePeriod
                    + "; it is kept, never deleted", m);
            out.add(new HsmKeys.Version(v.id(), v.version(), false, v.created(), v.expires(), v.tags()));
        }
        return out;
    }

    private void rotation(HsmKeyStatus st, HsmKey cr, String status, Reason reason, String message) {
        Conditions.set(st, io.hsmoperator.api.common.Conditions.ROTATION, status, reason, message, gen(cr), clock);
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

    /** spec.publish.restartWorkloads: roll the matching Deployments and StatefulSets onto the current version. */
    private void followWorkloads(HsmKey cr, HsmKeys.Key key) {
        HsmKeySpec.Publish p = cr.getSpec().publish;
        if (p == null || p.restartWorkloads == null) {
            return;
        }
        List<String> rolled = workloads.follow(cr, p.restartWorkloads, key.version());
        if (!rolled.isEmpty()) {
            events.normal(cr, "WorkloadsRestarted", "Set annotation " + Workloads.annotation(cr.getMetadata().getName()) + "="
                    + key.version() + " on the pod template of " + String.join(", ", rolled) + ", so they restart with the current version.");
        }
    }

    /** Writes the workload ConfigMap when its content changed; returns its name, or null when publishing is off. */
    /** The name of the ConfigMap to publish, or null when publishing is off. */
    private static String configMapName(HsmKey cr) {
        HsmKeySpec.Publish p = cr.getSpec().publish;
        if (p != null && Boolean.FALSE.equals(p.enabled)) {
            return null;
        }
        return p != null && p.configMapName != null ? p.configMapName : cr.getMetadata().getName() + "-key";
    }

    /** The ConfigMap to publish into when it exists and is not this HsmKey's (no owner reference to it); else null. */
    private String foreignConfigMap(HsmKey cr) {
        String name = configMapName(cr);
        ConfigMap existing = name == null ? null : kubernetes.configMaps().inNamespace(cr.getMetadata().getNamespace()).withName(name).get();
        boolean ours = existing == null || existing.getMetadata().getOwnerReferences().stream()
                .anyMatch(o -> Objects.equals(o.getUid(), cr.getMetadata().getUid()));
        return ours ? null : name;
    }

    private String publish(HsmKey cr, String uri, HsmKeys.Key key, List<HsmKeys.Version> versions) {
        String name = configMapName(cr);
        if (name == null) {
            return null;
        }
        List<KeyPublication.PublishedVersion> enabled = new ArrayList<>();
        if (!key.kty().startsWith("oct")) {
            for (int i = versions.size() - 1; i >= 0; i--) {
                HsmKeys.Version v = versions.get(i);
                if (v.enabled()) {
                    Map<String, String> jwk = publicKeys.computeIfAbsent(v.id(),
                            id -> v.version().equals(key.version()) ? key.jwk() : keys.getVersion(uri, key.name(), v.version()).jwk());
                    enabled.add(new KeyPublication.PublishedVersion(v.id(), v.version(), jwk));
                }
            }
        }
        Map<String, String> data = KeyPublication.data(uri, key.name(), key.kty(), key.id(), key.id().substring(0, key.id().lastIndexOf('/')),
                key.version(), key.operations(), enabled);
        String ns = cr.getMetadata().getNamespace();
        ConfigMap existing = kubernetes.configMaps().inNamespace(ns).withName(name).get();
        if (existing != null && Objects.equals(existing.getData(), data)) {
            return name;
        }
        var owner = new OwnerReferenceBuilder().withApiVersion(cr.getApiVersion()).withKind(cr.getKind())
                .withName(cr.getMetadata().getName()).withUid(cr.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(false).build();
        if (existing == null) {
            kubernetes.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName(name).withNamespace(ns)
                    .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels(RelatedResources.HSMKEY_LABEL, cr.getMetadata().getName())
                    .withOwnerReferences(owner).endMetadata().withData(data).build()).create();
        } else {
            kubernetes.configMaps().inNamespace(ns).withName(name).edit(c -> new ConfigMapBuilder(c).editMetadata()
                    .addToLabels("app.kubernetes.io/managed-by", "hsm-operator").addToLabels(RelatedResources.HSMKEY_LABEL, cr.getMetadata().getName())
                    .withOwnerReferences(owner).endMetadata().withData(data).build());
        }
        return name;
    }

    // ---- deletion ------------------------------------------------------------------------------

    @Override
    public DeleteControl cleanup(HsmKey stale, Context<HsmKey> context) {
        listings.forget(stale);
        DeleteControl control = delete(stale);
        if (control.isRemoveFinalizer()) {
            ResourceMetrics.forget(stale);
        }
        return control;
    }

    private DeleteControl delete(HsmKey stale) {
        HsmKey cr = Reports.latest(kubernetes, stale);
        if (Reports.abandoned(events, cr)) {
            return DeleteControl.defaultDelete();
        }
        DeleteControl unreadable = Reports.deletionOfUnreadable(kubernetes, cr, HsmKeyStatus.class, clock, config.reconcile().poll());
        if (unreadable != null) {
            return unreadable;
        }
        HsmKeySpec.DeletionPolicy policy = cr.getSpec().deletionPolicy == null ? HsmKeySpec.DeletionPolicy.Retain : cr.getSpec().deletionPolicy;
        if (policy == HsmKeySpec.DeletionPolicy.Retain) {
            events.normal(cr, "Retained", "Deleted the HsmKey resource; the key " + keyName(cr) + " stays in Azure (deletionPolicy Retain).");
            return DeleteControl.defaultDelete();
        }
        HsmKeyStatus st = Reports.copy(cr.getStatus(), HsmKeyStatus.class);
        HsmRefs.Resolution ref = HsmRefs.resolveMadeIn(kubernetes, cr, cr.getSpec().hsmRef);
        if (ref.problem() == Reason.RefNotPermitted && st.versionlessKeyId != null) {
            // The HSM's owners withdrew this namespace's permission: its key is theirs to decide on now.
            stalled(st, Reason.DeletionBlocked, "deletionPolicy is " + policy + ", but " + ref.message() + " The key is not touched; "
                    + "deletion waits until the permission returns, or annotate " + io.hsmoperator.api.common.Conditions.ABANDON_ANNOTATION
                    + "=true to release this resource without touching Azure.", gen(cr), clock);
            Reports.patchStatusIfChanged(kubernetes, cr, st);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().resync());
        }
        String uri = ref.ok() ? ref.hsmUri() : st.versionlessKeyId == null ? null
                : st.versionlessKeyId.substring(0, st.versionlessKeyId.indexOf("/keys/"));
        if (uri == null) {
            events.warning(cr, "DeletionSkipped", "The key was never created (no key ID in status and no usable ManagedHsm); nothing to "
                    + policy.name().toLowerCase() + ".");
            return DeleteControl.defaultDelete();
        }
        String name = keyName(cr);
        try {
            var key = keys.get(uri, name);
            if (key.isEmpty() && st.recoveryStartedAt != null
                    && Instant.now(clock).isBefore(Instant.parse(st.recoveryStartedAt).plus(RECOVERY_TIMEOUT))) {
                // Azure is still recovering it: the key answers 404 now, but comes back, and the policy applies to it.
                progressing(st, Reason.Deleting, "Deleting waits until Azure has recovered the key " + name + " (deletionPolicy "
                        + policy + " applies to it).", gen(cr), clock);
                Reports.patchStatusIfChanged(kubernetes, cr, st);
                return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.reconcile().poll());
            }
            if (key.isEmpty()) {
                return DeleteControl.defaultDelete();
            }
            // Only a key that carries this resource's tag is disabled or deleted (adoption writes the tag first).
            if (!Ownership.of(config.clusterId(), cr).equals(ownerOf(key.get(), oldestFirst(keys.versions(uri, name), key.get().version())))) {
                events.warning(cr, "DeletionRefused", "The key " + key.get().id() + " is not owned by this resource; it was not changed.");
                return DeleteControl.defaultDelete();
            }
            if (policy == HsmKeySpec.DeletionPolicy.Disable) {
                for (HsmKeys.Version v : keys.versions(uri, name)) {
                    if (v.enabled()) {
                        Mutation m = keys.update(uri, name, v.version(), new HsmKeys.Update(false, null, key.get().operations(), null));
                        events.mutation(cr, "KeyDisabled", "Disabled version " + v.version() + " of key " + name + " (deletionPolicy Disable)", m);
                    }
                }
                return DeleteControl.defaultDelete();
            }
            Mutation m = keys.delete(uri, name);
            events.mutation(cr, "KeyDeleted", "Soft-deleted key " + key.get().id() + " (deletionPolicy Delete); it stays recoverable and is "
                    + "never purged", m);
            return DeleteControl.defaultDelete();
        } catch (AzureError e) {
            return Reports.deletionWaits(kubernetes, cr, st, e, clock, config.reconcile().poll());
        }
    }

    private static Long gen(HsmKey cr) {
        return cr.getMetadata().getGeneration();
    }
}
