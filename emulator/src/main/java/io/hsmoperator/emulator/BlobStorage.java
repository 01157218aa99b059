package io.hsmoperator.emulator;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;

/**
 * A real Azure Blob service (Azurite) as a Managed HSM's backup job reaches a storage account: over HTTPS, with the SAS
 * token the backup or restore request carried or a bearer token of the HSM's managed identity, through the Blob REST API. What the storage refuses (a SAS without the
 * permission, an expired SAS, a container that does not exist) fails the job with the storage's own error code.
 */
final class BlobStorage {
    /** The Blob REST version sent; Azurite runs with --skipApiVersionCheck, so any version it implements is accepted. */
    private static final String VERSION = "2025-01-05";

    private final String endpoint;
    private final HttpClient http;

    /** {@code endpoint}: the service URL (https://127.0.0.1:PORT), accounts path-style below it; {@code trust}: its TLS. */
    BlobStorage(String endpoint, SSLContext trust) {
        this.endpoint = endpoint.replaceAll("/+$", "");
        this.http = HttpClient.newBuilder().sslContext(trust).connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** How a job authenticates to the storage: a SAS token, or a bearer token of the HSM's managed identity. */
    record Credential(String sas, String bearer) {
        static Credential sas(String token) {
            return new Credential(token, null);
        }

        static Credential bearer(String token) {
            return new Credential(null, token);
        }

        @Override
        public String toString() {
            return bearer != null ? "Credential[bearer]" : "Credential[sas]";
        }
    }

    /** The account and container of a container URL of this service: https://127.0.0.1:PORT/{account}/{container}. */
    String[] accountAndContainer(String containerUri) {
        String[] p = containerUri.substring(endpoint.length() + 1).split("/");
        return new String[]{p[0], p.length > 1 ? p[1] : ""};
    }

    /** Whether {@code containerUri} is a container of this service (https://127.0.0.1:PORT/account/container). */
    boolean serves(String containerUri) {
        return containerUri.toLowerCase(Locale.ROOT).startsWith(endpoint.toLowerCase(Locale.ROOT) + "/");
    }

    /** A refusal or failure of the storage, as the job reports it. */
    static final class StorageException extends Exception {
        final int status;
        final String code;

        StorageException(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    /** Writes a block blob at {@code containerUri/name}. */
    void put(String containerUri, String name, String content, Credential credential) throws StorageException {
        HttpRequest.Builder b = request(containerUri, name, credential).header("x-ms-blob-type", "BlockBlob")
                .PUT(HttpRequest.BodyPublishers.ofString(content, StandardCharsets.UTF_8));
        HttpResponse<String> r = send(b.build());
        if (r.statusCode() != 201) {
            throw refusal(r, "write " + name);
        }
    }

    /** Reads {@code containerUri/name}; null when the blob (or its container) does not exist. */
    String get(String containerUri, String name, Credential credential) throws StorageException {
        HttpResponse<String> r = send(request(containerUri, name, credential).GET().build());
        if (r.statusCode() == 404) {
            return null;
        }
        if (r.statusCode() != 200) {
            throw refusal(r, "read " + name);
        }
        return r.body();
    }

    private HttpRequest.Builder request(String containerUri, String name, Credential credential) {
        String sas = credential.sas();
        String query = sas == null || sas.isBlank() ? "" : "?" + sas.replaceFirst("^\\?", "");
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(containerUri.replaceAll("/+$", "") + "/" + name + query))
                .timeout(Duration.ofSeconds(30)).header("x-ms-version", VERSION);
        return credential.bearer() == null ? b : b.header("Authorization", "Bearer " + credential.bearer());
    }

    private HttpResponse<String> send(HttpRequest request) throws StorageException {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new StorageException(0, "StorageUnreachable", "The storage account could not be reached: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StorageException(0, "StorageUnreachable", "Interrupted while reaching the storage account.");
        }
    }

    private static StorageException refusal(HttpResponse<String> r, String what) {
        String code = r.headers().firstValue("x-ms-error-code").orElse("Http" + r.statusCode());
        return new StorageException(r.statusCode(), code, "The storage account refused to " + what + ": " + r.statusCode() + " " + code + ".");
    }
}
