package io.hsmoperator.azure;

import com.azure.core.http.rest.Response;
import com.azure.core.util.BinaryData;
import com.azure.core.util.Context;
import com.azure.json.JsonProviders;
import com.azure.json.JsonReader;
import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.CreateKeyOptions;
import com.azure.security.keyvault.keys.models.CreateOctKeyOptions;
import com.azure.security.keyvault.keys.models.CreateRsaKeyOptions;
import com.azure.security.keyvault.keys.models.DeletedKey;
import com.azure.security.keyvault.keys.models.JsonWebKey;
import com.azure.security.keyvault.keys.models.KeyCurveName;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyProperties;
import com.azure.security.keyvault.keys.models.KeyReleasePolicy;
import com.azure.security.keyvault.keys.models.KeyRotationLifetimeAction;
import com.azure.security.keyvault.keys.models.KeyRotationPolicy;
import com.azure.security.keyvault.keys.models.KeyRotationPolicyAction;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.math.BigInteger;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** {@link HsmKeys} on KeyClient. */
@Singleton
public class SdkHsmKeys implements HsmKeys {
    private final AzureClients clients;

    public SdkHsmKeys(AzureClients clients) {
        this.clients = clients;
    }

    private KeyClient client(String hsmUri) {
        return clients.keys(hsmUri);
    }

    @Override
    public Optional<Key> get(String hsmUri, String name) {
        return AzureError.find(() -> toKey(client(hsmUri).getKeyWithResponse(name, "", Context.NONE).getValue()));
    }

    @Override
    public Key getVersion(String hsmUri, String name, String version) {
        return AzureError.call(() -> toKey(client(hsmUri).getKeyWithResponse(name, version, Context.NONE).getValue()));
    }

    @Override
    public Optional<Attestation> attestation(String hsmUri, String name, String version) {
        // KeyClient 4.10.7 has getKeyAttestation and asks for it with its newest service version, 7.6, which the endpoint needs.
        var evidence = AzureError.call(() -> client(hsmUri).getKeyAttestationWithResponse(name, version, Context.NONE).getValue())
                .getProperties().getKeyAttestation();
        if (evidence == null || evidence.getCertificatePemFile() == null || evidence.getPrivateKeyAttestation() == null) {
            return Optional.empty();
        }
        return Optional.of(new Attestation(evidence.getCertificatePemFile(), evidence.getPrivateKeyAttestation(),
                evidence.getPublicKeyAttestation(), evidence.getVersion()));
    }

    @Override
    public List<Version> versions(String hsmUri, String name) {
        try {
            List<Version> out = new ArrayList<>();
            for (KeyProperties p : client(hsmUri).listPropertiesOfKeyVersions(name)) {
                out.add(new Version(p.getId(), p.getVersion(), Boolean.TRUE.equals(p.isEnabled()), instant(p.getCreatedOn()),
                        instant(p.getExpiresOn()), p.getTags() == null ? Map.of() : new LinkedHashMap<>(p.getTags())));
            }
            out.sort((a, b) -> a.created() == null || b.created() == null ? 0 : a.created().compareTo(b.created()));
            return out;
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public List<Listed> list(String hsmUri) {
        try {
            List<Listed> out = new ArrayList<>();
            for (KeyProperties p : client(hsmUri).listPropertiesOfKeys()) {
                out.add(new Listed(p.getName(), Boolean.TRUE.equals(p.isEnabled()), instant(p.getCreatedOn()), instant(p.getUpdatedOn()),
                        instant(p.getExpiresOn()), p.getTags() == null ? Map.of() : new LinkedHashMap<>(p.getTags())));
            }
            return out;
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public Optional<Deleted> getDeleted(String hsmUri, String name) {
        try {
            DeletedKey d = client(hsmUri).getDeletedKeyWithResponse(name, Context.NONE).getValue();
            return Optional.of(new Deleted(d.getName(), d.getRecoveryId(), instant(d.getDeletedOn()), instant(d.getScheduledPurgeDate()),
                    d.getProperties().getTags() == null ? Map.of() : Map.copyOf(d.getProperties().getTags())));
        } catch (RuntimeException e) {
            AzureError err = AzureError.of(e);
            if (err.is(AzureError.Kind.NOT_FOUND)) {
                return Optional.empty();
            }
            throw err;
        }
    }

    @Override
    @AzureWrite
    public Created create(String hsmUri, String name, NewKey k) {
        CreateKeyOptions options;
        switch (k.kty()) {
            case "RSA-HSM":
                options = new CreateRsaKeyOptions(name).setKeySize(k.keySize()).setHardwareProtected(true);
                break;
            case "EC-HSM":
                options = new CreateEcKeyOptions(name).setCurveName(k.curve() == null ? null : KeyCurveName.fromString(k.curve()))
                        .setHardwareProtected(true);
                break;
            default:
                options = new CreateOctKeyOptions(name).setKeySize(k.keySize()).setHardwareProtected(true);
        }
        if (k.operations() != null) {
            options.setKeyOperations(ops(k.operations()));
        }
        options.setEnabled(k.enabled()).setTags(k.tags()).setExpiresOn(offset(k.expires()));
        if (k.exportable()) {
            options.setExportable(true).setReleasePolicy(new KeyReleasePolicy(BinaryData.fromString(k.releasePolicy().data()))
                    .setContentType(k.releasePolicy().contentType()).setImmutable(k.releasePolicy().immutable()));
        }
        try {
            // The generic createKey sends only what CreateKeyOptions itself holds: the size and the curve would be lost.
            KeyClient client = client(hsmUri);
            Response<KeyVaultKey> r = options instanceof CreateRsaKeyOptions rsa ? client.createRsaKeyWithResponse(rsa, Context.NONE)
                    : options instanceof CreateEcKeyOptions ec ? client.createEcKeyWithResponse(ec, Context.NONE)
                    : client.createOctKeyWithResponse((CreateOctKeyOptions) options, Context.NONE);
            return new Created(toKey(r.getValue()), Mutation.of(r));
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation update(String hsmUri, String name, String version, Update u) {
        KeyProperties props = properties(AzureClients.base(hsmUri) + "/keys/" + name + "/" + version);
        if (u.enabled() != null) {
            props.setEnabled(u.enabled());
        }
        if (u.expires() != null) {
            props.setExpiresOn(offset(u.expires()));
        }
        if (u.tags() != null) {
            props.setTags(u.tags());
        }
        try {
            // The SDK sends key_ops [] when no operations are passed, which clears them: always pass what is meant.
            KeyOperation[] operations = u.operations() == null ? new KeyOperation[0] : ops(u.operations());
            return Mutation.of(client(hsmUri).updateKeyPropertiesWithResponse(props, Context.NONE, operations));
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation delete(String hsmUri, String name) {
        return begun(() -> client(hsmUri).beginDeleteKey(name));
    }

    @Override
    @AzureWrite
    public Mutation recover(String hsmUri, String name) {
        return begun(() -> client(hsmUri).beginRecoverDeletedKey(name));
    }

    /** Starts a key operation the SDK only offers as a poller, which does not expose the first response's request ID. */
    private static Mutation begun(java.util.function.Supplier<?> begin) {
        AzureError.call(begin);
        return new Mutation("unavailable", 200);
    }

    @Override
    public Optional<RotationPolicy> rotationPolicy(String hsmUri, String name) {
        try {
            KeyRotationPolicy p = client(hsmUri).getKeyRotationPolicyWithResponse(name, Context.NONE).getValue();
            String after = null;
            String before = null;
            if (p.getLifetimeActions() != null) {
                for (KeyRotationLifetimeAction a : p.getLifetimeActions()) {
                    // Azure answers "rotate" where the SDK's constant is "Rotate": compare the names, not the instances.
                    if (a.getAction() != null && KeyRotationPolicyAction.ROTATE.toString().equalsIgnoreCase(a.getAction().toString())) {
                        after = a.getTimeAfterCreate();
                        before = a.getTimeBeforeExpiry();
                    }
                }
            }
            String expiry = p.getExpiresIn() == null || p.getExpiresIn().isEmpty() ? null : p.getExpiresIn();
            RotationPolicy policy = new RotationPolicy(after, before, expiry, p.getUpdatedOn() == null ? null : p.getUpdatedOn().toString());
            return policy.isEmpty() ? Optional.empty() : Optional.of(policy);
        } catch (RuntimeException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    @AzureWrite
    public Mutation setRotationPolicy(String hsmUri, String name, RotationPolicy policy) {
        List<KeyRotationLifetimeAction> actions = new ArrayList<>();
        if (policy.timeAfterCreate() != null || policy.timeBeforeExpiry() != null) {
            actions.add(new KeyRotationLifetimeAction(KeyRotationPolicyAction.ROTATE).setTimeAfterCreate(policy.timeAfterCreate())
                    .setTimeBeforeExpiry(policy.timeBeforeExpiry()));
        }
        return AzureError.call(() -> Mutation.of(client(hsmUri).updateKeyRotationPolicyWithResponse(name, new KeyRotationPolicy().setLifetimeActions(actions)
                    .setExpiresIn(policy.expiryTime()), Context.NONE)));
    }

    /** KeyProperties naming one version, without reading it first. */
    private static KeyProperties properties(String kid) {
        try (JsonReader reader = JsonProviders.createReader("{\"kid\":\"" + kid + "\",\"attributes\":{}}")) {
            return KeyProperties.fromJson(reader);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static KeyOperation[] ops(List<String> operations) {
        return operations.stream().map(KeyOperation::fromString).toArray(KeyOperation[]::new);
    }

    static Key toKey(KeyVaultKey k) {
        KeyProperties p = k.getProperties();
        JsonWebKey jwk = k.getKey();
        Map<String, String> pub = new LinkedHashMap<>();
        String kty = jwk.getKeyType() == null ? null : jwk.getKeyType().toString();
        Integer size = null;
        if (jwk.getN() != null) {
            pub.put("n", b64u(jwk.getN()));
            pub.put("e", b64u(jwk.getE()));
            size = new BigInteger(1, jwk.getN()).bitLength();
        }
        if (jwk.getX() != null) {
            pub.put("crv", jwk.getCurveName().toString());
            pub.put("x", b64u(jwk.getX()));
            pub.put("y", b64u(jwk.getY()));
        }
        List<String> operations = new ArrayList<>();
        if (jwk.getKeyOps() != null) {
            jwk.getKeyOps().forEach(o -> operations.add(o.toString()));
        }
        return new Key(p.getId(), p.getName(), p.getVersion(), kty, size, jwk.getCurveName() == null ? null : jwk.getCurveName().toString(),
                operations, Boolean.TRUE.equals(p.isEnabled()), instant(p.getCreatedOn()), instant(p.getExpiresOn()),
                p.getTags() == null ? Map.of() : new LinkedHashMap<>(p.getTags()), Boolean.TRUE.equals(p.isExportable()), pub,
                instant(p.getUpdatedOn()));
    }

    private static String b64u(byte[] b) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static Instant instant(OffsetDateTime t) {
        return t == null ? null : t.toInstant();
    }

    private static OffsetDateTime offset(Instant t) {
        return t == null ? null : t.atOffset(ZoneOffset.UTC);
    }
}
