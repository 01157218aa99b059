package io.hsmoperator.local;

import com.azure.security.keyvault.administration.KeyVaultAccessControlClientBuilder;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobServiceClientBuilder;
import com.azure.storage.blob.models.BlobItem;
import com.azure.storage.blob.models.ListBlobsOptions;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import com.azure.storage.common.StorageSharedKeyCredential;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.common.HsmStatus;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;
import io.hsmoperator.azure.AzureHttpClients;
import io.hsmoperator.emulator.Azurite;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.publish.KeyPublication;
import io.javaoperatorsdk.operator.Operator;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The quick start: with the in-process Kubernetes API, apply the samples, print each resource's conditions as they
 * converge, then sign and verify a digest as the sample's workload identity with the key ID the operator published.
 */
@Singleton
public class QuickStart {
    private static final List<Class<? extends io.fabric8.kubernetes.client.CustomResource<?, ? extends HsmStatus>>> KINDS = List.of(
            ManagedHsm.class, HsmKey.class, HsmRoleAssignment.class, HsmDiagnostics.class, PrivateEndpoint.class, HsmBackup.class,
            HsmRoleDefinition.class);
    private final KubernetesClient client;
    private final LocalEmulator local;
    private final String samples;
    private final boolean exitWhenReady;
    private final Duration timeout;
    private final List<String> storageAccounts;

    private final Operator operator;

    public QuickStart(KubernetesClient client, LocalEmulator local, LocalConfig config, Operator operator) {
        this.client = client;
        this.operator = operator;
        this.local = local;
        this.samples = config.samples();
        this.exitWhenReady = config.exitWhenReady();
        this.timeout = config.timeout();
        this.storageAccounts = config.storageAccounts();
    }

    void onStart(@Observes StartupEvent event) {
        if (!LocalCluster.startedHere()) {
            return;
        }
        Thread t = new Thread(this::run, "quickstart");
        t.setDaemon(true);
        t.start();
    }

    private void run() {
        try {
            int code = quickStart() ? 0 : 1;
            if (exitWhenReady) {
                Quarkus.asyncExit(code);
            } else {
                String kubectl = LocalCluster.kubectl();
                say("The operator keeps running. Look around with kubectl:");
                say("  export KUBECONFIG=$PWD/.hsm-quickstart/kubeconfig");
                say("  " + kubectl + " get hsm                       # every kind, with its columns");
                say("  " + kubectl + " describe hsmkey payments-signing   # conditions and events");
                say("  " + kubectl + " apply -f my-key.yaml               # your own HsmKey (hsmRef: payments-hsm)");
                say("  " + kubectl + " annotate hsmbackup payments-hsm-nightly hsmoperator.io/backup-now=$(date +%s)   # one more backup");
                say("Press Ctrl+C to stop.");
            }
        } catch (Exception e) {
            say("The quick start failed: " + e);
            if (exitWhenReady) {
                Quarkus.asyncExit(2);
            }
        }
    }

    private boolean quickStart() throws Exception {
        long start = System.nanoTime();
        List<HasMetadata> applied = apply();
        say("Applied " + applied.size() + " samples from " + samples + "; watching them converge (Azure is the embedded emulator):");
        Map<String, String> last = new LinkedHashMap<>();
        long deadline = start + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            boolean allReady = true;
            for (HasMetadata r : applied) {
                var current = client.resources(kindOf(r)).inNamespace(ns(r)).withName(r.getMetadata().getName()).get();
                String line = describe(current);
                String key = r.getKind() + "/" + r.getMetadata().getName();
                if (!line.equals(last.get(key))) {
                    last.put(key, line);
                    say(String.format("[%5.1fs] %-36s %s", (System.nanoTime() - start) / 1e9, key, line));
                }
                allReady &= line.startsWith("Ready=True");
            }
            if (allReady) {
                say(String.format("All %d resources are Ready after %.1fs.", applied.size(), (System.nanoTime() - start) / 1e9));
                summary(applied);
                return true;
            }
            Thread.sleep(250);
        }
        say("Not every resource became Ready within " + timeout + ". Conditions above say why.");
        return false;
    }

    private List<HasMetadata> apply() throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        List<Path> files;
        try (Stream<Path> s = Files.list(Path.of(samples))) {
            files = s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList();
        }
        Set<Class<?>> reconciled = operator.getRegisteredControllers().stream()
                .map(c -> (Class<?>) c.getConfiguration().getResourceClass()).collect(Collectors.toSet());
        List<HasMetadata> crs = new ArrayList<>();
        for (Path f : files) {
            Iterator<JsonNode> docs = yaml.readValues(yaml.getFactory().createParser(f.toFile()), JsonNode.class);
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if ("HsmRestore".equals(doc.path("kind").asText())) {
                    // A restore replaces keys, once, when someone asks for it: never as part of bringing the samples up.
                    say("Skipping " + f.getFileName() + ": a restore runs once, when you ask for one (apply it after a backup, with "
                            + "that backup's folder).");
                    continue;
                }
                var kind = KINDS.stream().filter(k -> k.getSimpleName().equals(doc.path("kind").asText())).findFirst();
                if (kind.isPresent() && !reconciled.contains(kind.get())) {
                    say("Skipping " + f.getFileName() + ": this build has no reconciler for " + kind.get().getSimpleName() + " yet.");
                    continue;
                }
                HasMetadata r = kind.isPresent() ? Serialization.unmarshal(doc.toString(), kind.get()) : Serialization.unmarshal(doc.toString());
                if (r.getMetadata().getNamespace() == null) {
                    r.getMetadata().setNamespace("default");
                }
                String unserved = r instanceof HsmBackup b ? toLocalStorage(b) : null;
                if (unserved != null) {
                    say("Skipping " + f.getFileName() + ": " + unserved);
                    continue;
                }
                client.resource(r).createOr(existing -> existing.update());
                if (kindOf(r) != null) {
                    crs.add(r);
                }
            }
        }
        return crs;
    }

    /**
     * Points a sample HsmBackup at local mode's Azurite: its container https://{account}.blob.core.windows.net/{container}
     * becomes https://127.0.0.1:PORT/{account}/{container}, made if missing, and the Secret the sample names gets a SAS for
     * it (create, write, list, delete; never printed). Returns why it cannot, or null.
     */
    private String toLocalStorage(HsmBackup b) {
        URI url = URI.create(b.getSpec().destination.containerUrl);
        String account = url.getHost().split("\\.")[0].toLowerCase(Locale.ROOT);
        String name = url.getPath().replaceAll("^/+|/+$", "");
        Optional<Azurite> azurite = local.azurite();
        if (azurite.isEmpty()) {
            return "local mode has no Blob service for " + url + " (Azurite needs Node.js and npm; see the log above).";
        }
        if (!storageAccounts.contains(account)) {
            return "local mode's Azurite has no storage account " + account + " (hsm.local.storage-accounts: " + storageAccounts + ").";
        }
        BlobContainerClient container = container(azurite.get(), account, name);
        if (!container.exists()) {
            container.create();
        }
        String sas = container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusDays(30),
                BlobContainerSasPermission.parse("cwdl")));
        var ref = b.getSpec().destination.sasTokenSecretRef;
        client.resource(new SecretBuilder().withNewMetadata().withName(ref.name).withNamespace(b.getMetadata().getNamespace()).endMetadata()
                .addToStringData(ref.key, sas).build()).createOr(existing -> existing.update());
        b.getSpec().destination.containerUrl = container.getBlobContainerUrl();
        say("HsmBackup " + b.getMetadata().getName() + " backs up into Azurite's " + container.getBlobContainerUrl() + " in place of "
                + url + " (SAS in Secret " + ref.name + ").");
        return null;
    }

    /** A container of Azurite, as its account's owner reaches it (Shared Key). */
    private BlobContainerClient container(Azurite azurite, String account, String name) {
        Azurite.Account a = azurite.account(account);
        return new BlobServiceClientBuilder().endpoint(azurite.accountUrl(account))
                .credential(new StorageSharedKeyCredential(a.name(), a.key()))
                .httpClient(AzureHttpClients.create(List.of(local.emulator().caCertificate()), Duration.ofSeconds(30)))
                .buildClient().getBlobContainerClient(name);
    }

    @SuppressWarnings("unchecked")
    private static Class<? extends io.fabric8.kubernetes.client.CustomResource<?, ? extends HsmStatus>> kindOf(HasMetadata r) {
        for (var k : KINDS) {
            if (k.getSimpleName().equals(r.getKind())) {
                return k;
            }
        }
        return null;
    }

    private static String ns(HasMetadata r) {
        return r.getMetadata().getNamespace() == null ? "default" : r.getMetadata().getNamespace();
    }

    private static String describe(io.fabric8.kubernetes.client.CustomResource<?, ? extends HsmStatus> r) {
        if (r == null || r.getStatus() == null || r.getStatus().conditions == null) {
            return "waiting for the operator";
        }
        for (var c : r.getStatus().conditions) {
            if ("Ready".equals(c.getType())) {
                return "Ready=" + c.getStatus() + "  " + c.getReason() + "  " + c.getMessage();
            }
        }
        return "waiting for the operator";
    }

    /** What a workload does with what the operator published: sign through the HSM, verify with the JWKS alone. */
    private void summary(List<HasMetadata> applied) throws Exception {
        Emulator emulator = local.emulator();
        for (HasMetadata r : applied) {
            var current = client.resources(kindOf(r)).inNamespace(ns(r)).withName(r.getMetadata().getName()).get();
            say("  " + r.getKind() + " " + r.getMetadata().getName() + ": " + (current instanceof HsmBackup b ? backupFact(b) : fact(current)));
        }
        HsmKey key = (HsmKey) applied.stream().filter(r -> r instanceof HsmKey || r.getKind().equals("HsmKey")).findFirst()
                .map(r -> client.resources(HsmKey.class).inNamespace(ns(r)).withName(r.getMetadata().getName()).get()).orElse(null);
        if (key == null || key.getStatus().publishedConfigMap == null) {
            return;
        }
        ConfigMap cm = client.configMaps().inNamespace(key.getMetadata().getNamespace()).withName(key.getStatus().publishedConfigMap).get();
        String keyId = cm.getData().get("keyId");
        String workloadId = applied.stream().filter(r -> r.getKind().equals("HsmRoleAssignment")).findFirst()
                .map(r -> client.resources(HsmRoleAssignment.class).inNamespace(ns(r)).withName(r.getMetadata().getName()).get().getSpec().principalId)
                .orElse(null);
        Emulator.Principal workload = emulator.registerPrincipal("quick-start workload", workloadId);
        if (workloadId == null) {
            grant(emulator, cm.getData().get("hsmUri"), key.getStatus().versionlessKeyId, workload);
        }
        var http = AzureHttpClients.create(List.of(emulator.caCertificate()), Duration.ofSeconds(30));
        var credential = new com.azure.identity.ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(workload.clientId()).clientSecret(workload.clientSecret())
                .disableInstanceDiscovery().httpClient(http).build();
        CryptographyClient crypto = new CryptographyClientBuilder().keyIdentifier(keyId).credential(credential).httpClient(http)
                .disableChallengeResourceVerification().buildClient();
        byte[] message = "hello from hsm-operator".getBytes();
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(message);
        byte[] signature = crypto.sign(SignatureAlgorithm.ES256, digest).getSignature();
        boolean byHsm = crypto.verify(SignatureAlgorithm.ES256, digest, signature).isValid();
        JsonNode jwk = new ObjectMapper().readTree(cm.getData().get(KeyPublication.JWKS)).get("keys").get(0);
        Map<String, String> members = new LinkedHashMap<>();
        jwk.fields().forEachRemaining(e -> members.put(e.getKey(), e.getValue().asText()));
        PublicKey pub = KeyPublication.publicKey(members);
        Signature verifier = Signature.getInstance("SHA256withECDSAinP1363Format");
        verifier.initVerify(pub);
        verifier.update(message);
        boolean byJwks = verifier.verify(signature);
        say("Signing as the workload identity " + workload.objectId() + " with the key ID from ConfigMap " + cm.getMetadata().getName() + ":");
        say("  key ID                 " + keyId);
        say("  digest (SHA-256)       " + HexFormat.of().formatHex(digest));
        say("  signature (ES256)      " + Base64.getUrlEncoder().withoutPadding().encodeToString(signature));
        say("  verified by the HSM    " + byHsm);
        say("  verified with jwks.json alone, without the HSM: " + byJwks);
        if (!byHsm || !byJwks) {
            throw new IllegalStateException("the signature did not verify");
        }
    }

    private void grant(Emulator emulator, String hsmUri, String versionlessKeyId, Emulator.Principal workload) {
        Emulator.Principal admin = emulator.builtInPrincipal();
        var http = AzureHttpClients.create(List.of(emulator.caCertificate()), Duration.ofSeconds(30));
        var credential = new com.azure.identity.ClientSecretCredentialBuilder().authorityHost(emulator.authorityHost())
                .tenantId(emulator.tenantId()).clientId(admin.clientId()).clientSecret(admin.clientSecret()).disableInstanceDiscovery()
                .httpClient(http).build();
        new KeyVaultAccessControlClientBuilder().vaultUrl(hsmUri).credential(credential).httpClient(http).disableChallengeResourceVerification()
                .buildClient().createRoleAssignment(KeyVaultRoleScope.fromString(versionlessKeyId.substring(versionlessKeyId.indexOf("/keys/"))),
                        "21dbd100-6940-42c2-9190-5d6cb909625b", workload.objectId());
    }

    private static String fact(io.fabric8.kubernetes.client.CustomResource<?, ? extends HsmStatus> r) {
        if (r instanceof ManagedHsm) {
            var s = ((ManagedHsm) r).getStatus();
            String replicas = s.regions == null ? "" : s.regions.stream().filter(g -> !Boolean.TRUE.equals(g.primary))
                    .map(g -> "; replica region " + g.name + " (" + g.provisioningState + ") at " + g.hsmUri).collect(Collectors.joining());
            return s.hsmUri + " (" + s.activationStatus + "; security domain in Secret " + s.securityDomainSecret + replicas + ")";
        }
        if (r instanceof HsmKey) {
            var s = ((HsmKey) r).getStatus();
            return s.keyId + " (published in ConfigMap " + s.publishedConfigMap + ")";
        }
        return describe(r);
    }

    /** The folder the HsmBackup's last backup wrote, and the blobs Azurite holds in it. */
    private String backupFact(HsmBackup b) {
        var last = b.getStatus().lastSuccessful;
        String containerUrl = b.getSpec().destination.containerUrl;
        String[] accountAndContainer = URI.create(containerUrl).getPath().replaceAll("^/+|/+$", "").split("/");
        String folder = last.folderUrl.substring(last.folderUrl.lastIndexOf('/') + 1);
        List<String> blobs = container(local.azurite().orElseThrow(), accountAndContainer[0], accountAndContainer[1])
                .listBlobs(new ListBlobsOptions().setPrefix(folder + "/"), Duration.ofSeconds(30)).stream().map(BlobItem::getName).toList();
        return "backup folder " + last.folderUrl + " holds " + blobs.size() + " blobs in Azurite (" + String.join(", ", blobs)
                + "); the next backup is due at " + b.getStatus().nextBackupTime;
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
