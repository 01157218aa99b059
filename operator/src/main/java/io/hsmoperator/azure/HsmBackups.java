package io.hsmoperator.azure;

import java.net.URI;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Managed HSM full backups, and the blob container they go to: what the HsmBackup reconciler starts, waits on, lists and
 * prunes. The SAS token is passed through and never kept, logged or put in a message. Nothing here restores or purges
 * (restores are {@link HsmRestores}).
 *
 * <p>A null {@code sas} means managed identities, as in the Azure SDK: the HSM writes the backup as its own user-assigned
 * identity ({@code useManagedIdentity: true}, no token), and the operator lists and deletes as its own Azure identity
 * (a bearer token for Azure Storage), which needs Storage Blob Data Contributor on the container.
 */
public interface HsmBackups {
    /**
     * Starts a full backup of the HSM into {@code containerUrl} with {@code sas} (null: as the HSM's managed identity);
     * returns the job as Azure answered the start (in progress). A 409 (another backup or restore runs on the HSM) comes
     * out as a CONFLICT AzureError.
     */
    Job start(String hsmUri, String containerUrl, String sas);

    /** The job {@code jobId} of the HSM (GET /backup/{jobId}/pending); a job Azure does not know is a NOT_FOUND AzureError. */
    Job job(String hsmUri, String jobId);

    /** The names of the blobs under {@code folder}/ in the container ({@code sas} null: as the operator's identity). */
    List<String> blobs(String containerUrl, String sas, String folder);

    /**
     * Deletes every blob under {@code folder}/ in the container (a folder is only a name prefix); returns how many.
     * {@code sas} null: as the operator's identity.
     */
    int deleteFolder(String containerUrl, String sas, String folder);

    /** A backup job: InProgress, Succeeded or Failed; {@code folderUrl} once it succeeded; {@code error} once it failed. */
    record Job(String id, String status, String folderUrl, Instant start, Instant end, String error, Mutation mutation) {
        public boolean running() {
            return !"Succeeded".equalsIgnoreCase(status) && !"Failed".equalsIgnoreCase(status);
        }

        public boolean succeeded() {
            return "Succeeded".equalsIgnoreCase(status);
        }
    }

    /** A container name as Azure Storage allows it: 3-63 of lower-case letters, digits and single hyphens. */
    Pattern CONTAINER = Pattern.compile("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$");
    Pattern ACCOUNT = Pattern.compile("^[a-z0-9]{3,24}$");

    /**
     * Why {@code url} is not the URL of a blob container, or null when it is: https, no query (a SAS belongs in the
     * Secret), and either https://{account}.blob.{suffix}/{container} or path-style https://{host}/{account}/{container}
     * (Azurite, Azure Stack).
     */
    static String containerUrlProblem(String url) {
        URI u;
        try {
            u = URI.create(url);
        } catch (IllegalArgumentException e) {
            return "'" + url + "' is not a URL.";
        }
        if (!"https".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
            return "'" + url + "' is not an https URL of a blob container.";
        }
        if (u.getRawQuery() != null || u.getRawFragment() != null) {
            return "the container URL has a query or fragment; give the container's URL alone and put the SAS token in the Secret.";
        }
        String[] path = u.getPath().replaceAll("^/+|/+$", "").split("/");
        String host = u.getHost().toLowerCase(Locale.ROOT);
        boolean blobHost = host.matches("^[a-z0-9]{3,24}\\.blob\\.[a-z0-9.-]+$");
        if (blobHost && path.length == 1 && CONTAINER.matcher(path[0]).matches()) {
            return null;
        }
        if (!blobHost && path.length == 2 && ACCOUNT.matcher(path[0]).matches() && CONTAINER.matcher(path[1]).matches()) {
            return null;
        }
        return "'" + url + "' is not the URL of a blob container: expected https://{account}.blob.core.windows.net/{container} "
                + "(or path-style https://{host}/{account}/{container}), with a container name of 3-63 lower-case letters, digits "
                + "and hyphens.";
    }

    /** The folders a full backup of the HSM named {@code hsmName} makes: mhsm-{name}-{yyyyMMddHHmmss…}. */
    static boolean isBackupFolderOf(String folder, String hsmName) {
        return folder.matches("^mhsm-" + Pattern.quote(hsmName.toLowerCase(Locale.ROOT)) + "-[0-9]{8,}$");
    }

    /** A folder a full backup of any HSM makes: mhsm-{name}-{yyyyMMddHHmmss…}. */
    Pattern BACKUP_FOLDER = Pattern.compile("^mhsm-[a-z0-9](?:[a-z0-9]|-[a-z0-9])+-[0-9]{8,}$");

    /**
     * Why {@code url} is not the URL of a full backup's folder, or null when it is: the URL of a blob container (as
     * {@link #containerUrlProblem} says), then one more segment named as a backup names its folder, mhsm-{hsm}-{time}.
     */
    static String folderUrlProblem(String url) {
        if (url != null && (url.contains("?") || url.contains("#"))) {
            return "the folder URL has a query or fragment; give the folder's URL alone and put the SAS token in the Secret.";
        }
        String trimmed = url == null ? "" : url.replaceAll("/+$", "");
        int slash = trimmed.lastIndexOf('/');
        boolean inContainer = slash > "https://".length() && containerUrlProblem(trimmed.substring(0, slash)) == null;
        if (!inContainer || !BACKUP_FOLDER.matcher(trimmed.substring(slash + 1).toLowerCase(Locale.ROOT)).matches()) {
            return "'" + url + "' is not the URL of a backup folder: expected https://{account}.blob.core.windows.net/{container}/"
                    + "mhsm-{hsm}-{time} (or path-style https://{host}/{account}/{container}/mhsm-{hsm}-{time}), as an HsmBackup's "
                    + "status.lastSuccessful.folderUrl names it.";
        }
        return null;
    }

    /** Whatever a SAS might have left in a message (its signature), removed. */
    static String redact(String message) {
        return message == null ? null : message.replaceAll("(?i)sig=[^&\\s\"']+", "sig=REDACTED");
    }
}
