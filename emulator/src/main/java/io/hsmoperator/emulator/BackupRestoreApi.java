package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static io.hsmoperator.emulator.HsmDataPlane.activity;
import static io.hsmoperator.emulator.HsmDataPlane.randomBytes;

/**
 * The Managed HSM full backup and restore REST API: full backup, full restore, selective key restore, their
 * pre-checks (pre-backup, pre-restore) and the status of their jobs.
 */
final class BackupRestoreApi {
    private final Emulator emu;
    private final HsmDataPlane dataPlane;

    BackupRestoreApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
    }

    Http.Response fullBackup(Http.Request r, State.Hsm hsm) {
        String first = r.seg(0).toLowerCase(Locale.ROOT);
        boolean pending = r.size() == 3 && r.is(2, "pending");
        if (pending) {
            dataPlane.check(r, hsm, first.equals("backup") ? "backup/status/action" : "restore/status/action", "/");
            return Http.Response.json(200, emu.read(() -> {
                State.Job job = hsm.jobs.get(r.seg(1).toLowerCase(Locale.ROOT));
                if (job == null || emu.staleReads().unseen(staleJob(hsm, job.jobId))) {
                    throw new ApiException(404, "NotFound", "No backup or restore job with ID " + r.seg(1) + "." + activity());
                }
                return jobView(job);
            }));
        }
        if (r.size() != 1) {
            throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
        }
        JsonNode body = r.json();
        switch (first) {
            case "backup": case "prebackup": {
                if (!r.method.equals("POST")) {
                    break;
                }
                dataPlane.check(r, hsm, "backup/start/action", "/");
                String container = Json.text(body, "storageResourceUri");
                if (container == null || !container.startsWith("https://")) {
                    throw ApiException.badParameter("storageResourceUri must be an https blob container URL." + activity());
                }
                boolean pre = first.equals("prebackup");
                State.Job job = startJob(hsm, pre ? "prebackup" : "backup", pre ? 0 : emu.config().jobDuration().toMillis());
                if (!pre) {
                    String folder = "mhsm-" + hsm.name + "-" + DateTimeFormatter.ofPattern("yyyyMMddHHmmssSS")
                            .format(emu.controls().now().atZone(ZoneOffset.UTC));
                    String base = container.replaceAll("/+$", "");
                    BlobStorage storage = emu.blobStorage();
                    if (storage != null && storage.serves(base)) {
                        ObjectNode failure = writeFolder(storage, hsm, base, folder, body);
                        emu.write(() -> {
                            job.error = failure;
                            job.folderUri = failure == null ? base + "/" + folder : null;
                            emu.dirty();
                            return null;
                        });
                    } else {
                        job.folderUri = base + "/" + folder;
                        emu.write(() -> {
                            emu.state().backupFolders.put(job.folderUri.toLowerCase(Locale.ROOT), snapshot(hsm));
                            emu.dirty();
                            return null;
                        });
                    }
                    // Azure's reads lag its writes: the status of a backup started just now may answer 404 for a while. Only
                    // while a test asks for lagging reads (Controls.lagReads): clients that poll the job at once (the SDK's
                    // poller, az CLI in local mode) keep working with the configured lag.
                    if (emu.controls().staleReadsOverride().isPresent()) {
                        emu.staleReads().created(staleJob(hsm, job.jobId));
                    }
                }
                return jobStarted(job, r.baseUrl() + "/backup/" + job.jobId + "/pending");
            }
            case "restore": case "prerestore": {
                if (!r.method.equals("PUT")) {
                    break;
                }
                dataPlane.check(r, hsm, "restore/start/action", "/");
                JsonNode sas = body.path("sasTokenParameters");
                boolean pre = first.equals("prerestore");
                State.Job job = startJob(hsm, first, pre ? 0 : emu.config().jobDuration().toMillis());
                try {
                    Map<String, State.Key> keys = readBackup(hsm, sas, body.path("folderToRestore").asText(""));
                    if (!pre) {
                        emu.write(() -> {
                            hsm.keys.clear();
                            hsm.keys.putAll(keys);
                            emu.dirty();
                            return null;
                        });
                    }
                } catch (JobFailure f) {
                    emu.write(() -> {
                        job.error = f.error;
                        emu.dirty();
                        return null;
                    });
                }
                return jobStarted(job, r.baseUrl() + "/restore/" + job.jobId + "/pending");
            }
            default:
                break;
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
    }

    /**
     * Restores one key from a full backup folder. As recorded (KeyVaultBackupClientTest.beginSelectiveKeyRestore): a key
     * that exists is not overwritten, and the job still ends Succeeded, its statusDetails counting the versions it could
     * not overwrite ("restored: 0"). A name held by a soft-deleted key fails the job with the Conflict Azure gives a key
     * restore (POST /keys/restore) in that case (guessed for the job: see the README).
     */
    Http.Response selectiveRestore(Http.Request r, State.Hsm hsm, String name) {
        JsonNode body = r.json();
        State.Job job = startJob(hsm, "restore", emu.config().jobDuration().toMillis());
        Map<String, State.Key> backup;
        try {
            backup = readBackup(hsm, body.path("sasTokenParameters"), body.path("folder").asText(""));
        } catch (JobFailure f) {
            emu.write(() -> {
                job.error = f.error;
                emu.dirty();
                return null;
            });
            backup = null;
        }
        if (backup != null) {
            Map<String, State.Key> restoredFrom = backup;
            emu.write(() -> {
                String lower = name.toLowerCase(Locale.ROOT);
                State.Key source = restoredFrom.get(lower);
                if (source == null) {
                    job.error = Json.object().put("code", "KeyNotFound").put("message", "Key " + name + " is not in the backup.");
                } else if (hsm.deletedKeys.containsKey(lower)) {
                    job.error = Json.object().put("code", "Conflict").put("message", "Key " + name + " is currently in a deleted but "
                            + "recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.");
                } else if (hsm.keys.containsKey(lower)) {
                    job.statusDetails = "Number of successful key versions restored: 0, Number of key versions could not overwrite: "
                            + source.versions.size();
                } else {
                    hsm.keys.put(lower, source);
                    job.statusDetails = "Number of successful key versions restored: " + source.versions.size()
                            + ", Number of key versions could not overwrite: 0";
                }
                emu.dirty();
                return null;
            });
        }
        return jobStarted(job, r.baseUrl() + "/restore/" + job.jobId + "/pending");
    }

    private State.Job startJob(State.Hsm hsm, String kind, long durationMillis) {
        return emu.write(() -> {
            long now = System.currentTimeMillis();
            for (State.Job j : hsm.jobs.values()) {
                if (j.doneAtMillis > now && !j.kind.startsWith("pre")) {
                    throw new ApiException(409, "Conflict", "Another backup or restore operation is in progress on this HSM." + activity());
                }
            }
            State.Job job = new State.Job();
            job.jobId = HexFormat.of().formatHex(randomBytes(16));
            job.kind = kind;
            job.startTime = emu.controls().nowEpochSeconds();
            job.doneAtMillis = now + durationMillis;
            hsm.jobs.put(job.jobId, job);
            emu.dirty();
            return job;
        });
    }

    private static String staleJob(State.Hsm hsm, String jobId) {
        return "job|" + hsm.name.toLowerCase(Locale.ROOT) + "|" + jobId;
    }

    /** The answer that starts a job: always in progress, however quickly the job finishes (as recorded). */
    private Http.Response jobStarted(State.Job job, String url) {
        return Http.Response.json(202, jobView(job, false)).header("azure-asyncoperation", url)
                .header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
    }

    private ObjectNode jobView(State.Job job) {
        return jobView(job, System.currentTimeMillis() >= job.doneAtMillis);
    }

    private ObjectNode jobView(State.Job job, boolean done) {
        String status = !done ? "InProgress" : job.error != null ? "Failed" : "Succeeded";
        ObjectNode o = Json.object();
        if (job.kind.contains("backup")) {
            if (done && job.error == null && job.folderUri != null) {
                o.put("azureStorageBlobContainerUri", job.folderUri);
            } else {
                o.putNull("azureStorageBlobContainerUri");
            }
        }
        if (done) {
            o.put("endTime", job.startTime + (job.kind.startsWith("pre") ? 0 : emu.config().jobDuration().toSeconds()));
        } else {
            o.putNull("endTime");
        }
        if (done && job.error != null) {
            o.set("error", job.error);
        } else {
            o.putNull("error");
        }
        o.put("jobId", job.jobId).put("startTime", job.startTime).put("status", status);
        if (done && job.statusDetails != null) {
            o.put("statusDetails", job.statusDetails);
        } else {
            o.putNull("statusDetails");
        }
        return o;
    }

    /** What made a job fail, as its {@code error}. */
    private static final class JobFailure extends Exception {
        final ObjectNode error;

        JobFailure(String code, String message) {
            super(message);
            this.error = Json.object().put("code", code).put("message", message);
        }
    }

    /** The folder's blob that lists its keys; written last, so a backup cut short has none and does not restore. */
    static final String MANIFEST = "backup.json";
    private static final String KID = "backup-protection-key";

    /**
     * Writes the HSM's keys into {@code container/folder} on the Blob service: one blob per key under keys/, then the
     * manifest. Each is sealed with the HSM's backup key (authenticated encryption), so only an HSM of the same security
     * domain reads them and an altered blob fails the restore. Returns the job's error, or null.
     */
    private ObjectNode writeFolder(BlobStorage storage, State.Hsm hsm, String container, String folder, JsonNode request) {
        BlobStorage.Credential credential;
        try {
            credential = credential(storage, hsm, container, request, "write");
        } catch (JobFailure f) {
            return f.error;
        }
        byte[] key = backupKey(hsm);
        Map<String, String> blobs = emu.read(() -> {
            Map<String, String> sealed = new LinkedHashMap<>();
            com.fasterxml.jackson.databind.node.ArrayNode names = Json.array();
            for (Map.Entry<String, State.Key> k : hsm.keys.entrySet()) {
                sealed.put(folder + "/keys/" + k.getKey(), Jwe.encryptDirect(Json.bytes(k.getValue()), key, KID));
                names.add(k.getKey());
            }
            ObjectNode manifest = Json.object().put("hsm", hsm.name).put("folder", folder);
            manifest.set("keys", names);
            sealed.put(folder + "/" + MANIFEST, Jwe.encryptDirect(Json.bytes(manifest), key, KID));
            return sealed;
        });
        try {
            for (Map.Entry<String, String> b : blobs.entrySet()) {
                storage.put(container, b.getKey(), b.getValue(), credential);
            }
            return null;
        } catch (BlobStorage.StorageException e) {
            return Json.object().put("code", e.code).put("message", e.getMessage());
        }
    }

    /** The keys of a backup folder: from the Blob service for its containers, else from the emulator's own state. */
    private Map<String, State.Key> readBackup(State.Hsm hsm, JsonNode sasParameters, String folder) throws JobFailure {
        String container = sasParameters.path("storageResourceUri").asText("").replaceAll("/+$", "");
        BlobStorage storage = emu.blobStorage();
        if (storage == null || !storage.serves(container)) {
            String content = emu.read(() -> emu.state().backupFolders.get((container + "/" + folder).toLowerCase(Locale.ROOT)));
            if (content == null) {
                throw new JobFailure("InvalidBackupFolder", "The backup folder " + container + "/" + folder + " was not found or is not readable.");
            }
            return restoreSnapshot(hsm, content);
        }
        BlobStorage.Credential sas = credential(storage, hsm, container, sasParameters, "read");
        byte[] key = backupKey(hsm);
        try {
            JsonNode manifest = open(storage.get(container, folder + "/" + MANIFEST, sas), key, folder, MANIFEST);
            Map<String, State.Key> keys = new LinkedHashMap<>();
            for (JsonNode n : manifest.path("keys")) {
                String blob = "keys/" + n.asText();
                keys.put(n.asText(), Json.MAPPER.treeToValue(open(storage.get(container, folder + "/" + blob, sas), key, folder, blob), State.Key.class));
            }
            return keys;
        } catch (BlobStorage.StorageException e) {
            throw new JobFailure(e.code, e.getMessage());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new JobFailure("InvalidBackupFolder", "The backup folder " + folder + " holds a key this HSM cannot read.");
        }
    }

    /**
     * The SAS the request carried, or, with {@code useManagedIdentity}, a token of the HSM's user-assigned identity for
     * Azure Storage, which the identity may use only with a role that grants the blob data action (Storage Blob Data
     * Contributor for a backup, Reader or Contributor for a restore) on the account or container, or above. Azurite
     * accepts any well-formed token, so the emulator checks the role here, as Azure Storage would.
     */
    private BlobStorage.Credential credential(BlobStorage storage, State.Hsm hsm, String container, JsonNode parameters, String access)
            throws JobFailure {
        if (!parameters.path("useManagedIdentity").asBoolean(false)) {
            return BlobStorage.Credential.sas(Json.text(parameters, "token"));
        }
        String[] accountAndContainer = storage.accountAndContainer(container);
        String dataAction = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/" + access;
        String token = emu.read(() -> {
            if (hsm.userAssignedIdentities == null || hsm.userAssignedIdentities.isEmpty()) {
                return null;
            }
            State.UserAssignedIdentity id = emu.state().userAssignedIdentities.get(hsm.userAssignedIdentities.get(0).toLowerCase(Locale.ROOT));
            State.Principal p = id == null ? null : emu.state().principals.get(id.principalId);
            if (p == null || !ArmAuthorization.permitsData(emu.state(), p.objectId, dataAction, accountAndContainer[0], accountAndContainer[1])) {
                return "";
            }
            return emu.entra().accessToken(p, "https://storage.azure.com");
        });
        if (token == null) {
            throw new JobFailure("InvalidManagedIdentity", "useManagedIdentity needs a user-assigned managed identity on the HSM; this HSM has none.");
        }
        if (token.isEmpty()) {
            throw new JobFailure("AuthorizationPermissionMismatch", "The HSM's managed identity " + hsm.userAssignedIdentities.get(0)
                    + " is not authorized to perform " + dataAction + " on storage account " + accountAndContainer[0]
                    + " (a Storage Blob Data role on the account or the container is needed).");
        }
        return BlobStorage.Credential.bearer(token);
    }

    private static JsonNode open(String sealed, byte[] key, String folder, String blob) throws JobFailure {
        if (sealed == null) {
            throw new JobFailure("InvalidBackupFolder", blob.equals(MANIFEST)
                    ? "The backup folder " + folder + " was not found, or it is incomplete (it has no " + MANIFEST + ")."
                    : "The backup folder " + folder + " is incomplete: " + blob + " is missing.");
        }
        try {
            return Json.parse(Jwe.decryptDirect(sealed, key));
        } catch (RuntimeException e) {
            throw new JobFailure("InvalidBackupFolder", "The backup folder " + folder + " cannot be restored here: " + blob
                    + " was altered, or the backup was made in another security domain.");
        }
    }

    private String snapshot(State.Hsm hsm) {
        return Jwe.encryptDirect(Json.bytes(hsm.keys), backupKey(hsm), "backup-protection-key");
    }

    private Map<String, State.Key> restoreSnapshot(State.Hsm hsm, String content) {
        try {
            byte[] plain = Jwe.decryptDirect(content, backupKey(hsm));
            return Json.MAPPER.readValue(plain, new com.fasterxml.jackson.core.type.TypeReference<LinkedHashMap<String, State.Key>>() {
            });
        } catch (Exception e) {
            throw ApiException.badParameter("The backup was made in another security domain and cannot be restored here." + activity());
        }
    }

    /** The key that protects backups, of a single key and of the whole HSM alike: derived from the HSM's domain key. */
    static byte[] backupKey(State.Hsm hsm) {
        return SecurityDomainBlob.kdf(Base64.getDecoder().decode(hsm.domainKey), "backup-protection-key");
    }
}
