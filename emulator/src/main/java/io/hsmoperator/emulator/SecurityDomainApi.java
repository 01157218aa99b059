package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayInputStream;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import static io.hsmoperator.emulator.HsmDataPlane.activity;
import static io.hsmoperator.emulator.HsmDataPlane.randomBytes;

/**
 * The Managed HSM security domain REST API: download (which activates the HSM, or gives a new copy of an activated HSM's
 * security domain) and its pending status; the transfer key, and the upload that activates a new HSM with the security
 * domain of another (what officers send after {@code az keyvault security-domain restore-blob}) and its pending status.
 */
final class SecurityDomainApi {
    private final Emulator emu;
    private final HsmDataPlane dataPlane;

    SecurityDomainApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
    }

    Http.Response handle(Http.Request r, State.Hsm hsm) {
        String second = r.seg(1) == null ? "" : r.seg(1).toLowerCase(Locale.ROOT);
        boolean pending = r.is(2, "pending");
        if (second.equals("download") && !pending && r.method.equals("POST")) {
            dataPlane.check(r, hsm, "securitydomain/download/action", "/");
            return download(r, hsm);
        }
        if (second.equals("download") && pending) {
            dataPlane.check(r, hsm, "securitydomain/download/read", "/");
            return Http.Response.json(200, emu.read(() -> {
                if (hsm.securityDomain == null) {
                    throw new ApiException(404, "NotFound", "No security domain download has been started for this HSM." + activity());
                }
                boolean done = emu.isActive(hsm);
                return Json.object().put("status", done ? "Success" : "InProgress")
                        .put("status_details", done ? "The Managed HSM is activated." : "Activation is in progress.");
            }));
        }
        if (second.equals("upload") && !pending && r.method.equals("GET")) {
            dataPlane.check(r, hsm, "securitydomain/transferkey/read", "/");
            return Http.Response.json(200, Json.object().put("key_format", "jwk").put("transfer_key", Json.string(transferKeyJwk(hsm))));
        }
        if (second.equals("upload") && !pending && r.method.equals("POST")) {
            dataPlane.check(r, hsm, "securitydomain/upload/action", "/");
            return upload(r, hsm);
        }
        if (second.equals("upload") && pending) {
            dataPlane.check(r, hsm, "securitydomain/upload/read", "/");
            return Http.Response.json(200, emu.read(() -> {
                if (hsm.securityDomain == null || hsm.securityDomain.uploadedAtMillis == 0) {
                    throw new ApiException(404, "NotFound", "No security domain upload has been started for this HSM." + activity());
                }
                boolean done = emu.isActive(hsm);
                return Json.object().put("status", done ? "Success" : "InProgress")
                        .put("status_details", done ? "The security domain is restored; the Managed HSM is activated."
                                : "The security domain is being restored.");
            }));
        }
        throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
    }

    private Http.Response download(Http.Request r, State.Hsm hsm) {
        JsonNode body = r.json();
        if (body.has("CertificateInfoObject")) {
            body = body.get("CertificateInfoObject");
        }
        JsonNode certs = body.path("certificates");
        if (!certs.isArray() || certs.size() < 3 || certs.size() > 10) {
            throw ApiException.badParameter("Between 3 and 10 certificates are required to download the security domain; got "
                    + (certs.isArray() ? certs.size() : 0) + "." + activity());
        }
        int required = body.path("required").asInt(0);
        if (required < 2 || required > certs.size()) {
            throw ApiException.badParameter("The quorum ('required') must be between 2 and the number of certificates ("
                    + certs.size() + "); got " + required + "." + activity());
        }
        List<X509Certificate> parsed = new ArrayList<>();
        List<String> thumbs = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (JsonNode c : certs) {
                JsonNode x5c = c.path("x5c");
                if (!x5c.isArray() || x5c.isEmpty()) {
                    throw ApiException.badParameter("Each certificate needs an x5c chain." + activity());
                }
                X509Certificate cert = (X509Certificate) cf.generateCertificate(new ByteArrayInputStream(
                        Base64.getDecoder().decode(x5c.get(0).asText())));
                if (!(cert.getPublicKey() instanceof RSAPublicKey) || ((RSAPublicKey) cert.getPublicKey()).getModulus().bitLength() < 2048) {
                    throw ApiException.badParameter("Security domain certificates must hold RSA keys of at least 2048 bits." + activity());
                }
                String thumb = SecurityDomainBlob.thumbprint(cert);
                if (thumbs.contains(thumb)) {
                    throw ApiException.badParameter("The same certificate was supplied twice." + activity());
                }
                thumbs.add(thumb);
                parsed.add(cert);
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw ApiException.badParameter("A certificate could not be parsed: " + e.getMessage() + activity());
        }
        byte[] domainKey = randomBytes(32);
        String blob = SecurityDomainBlob.create(domainKey, Base64.getDecoder().decode(hsm.domainKey), parsed, required);
        // Guessed (not in the recordings): a download on an activated HSM is how Azure lets an administrator take a new
        // copy of its security domain (the same domain, encrypted to the certificates given), and it changes nothing; a
        // second download while the first still activates the HSM is refused.
        emu.write(() -> {
            if (hsm.securityDomain != null && !emu.isActive(hsm)) {
                throw new ApiException(409, "Conflict", "The security domain of this HSM is being downloaded; the HSM is still "
                        + "activating." + activity());
            }
            if (hsm.securityDomain != null) {
                return null;
            }
            State.SecurityDomain sd = new State.SecurityDomain();
            sd.required = required;
            sd.certificateThumbprints = thumbs;
            sd.downloadedAtMillis = System.currentTimeMillis();
            sd.activeAtMillis = sd.downloadedAtMillis + emu.config().activationDelay().toMillis();
            sd.key = Base64.getEncoder().encodeToString(domainKey);
            hsm.securityDomain = sd;
            emu.dirty();
            return null;
        });
        return Http.Response.json(202, Json.object().put("value", blob))
                .header("Azure-AsyncOperation", r.baseUrl() + "/securitydomain/download/pending")
                .header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
    }

    /**
     * Activates an HSM that is not activated with an uploaded security domain: the backup key wrapped in it becomes this
     * HSM's, so the full and key backups of the HSM it came from restore here. The body is {"value": "<JSON>"}, the
     * JSON being {@code restore-blob}'s output wrapped to this HSM's transfer key.
     */
    private Http.Response upload(Http.Request r, State.Hsm hsm) {
        JsonNode value = r.json().path("value");
        // The SDKs send the security domain as a JSON string in "value"; an object is taken too.
        String restoreBlob = value.isTextual() ? value.asText() : value.isObject() ? Json.string(value) : null;
        if (restoreBlob == null) {
            throw ApiException.badParameter("The body must be {\"value\": \"<security domain>\"}." + activity());
        }
        State.TransferKey tk = emu.read(() -> hsm.transferKey);
        if (tk == null) {
            throw ApiException.badParameter("This HSM has no transfer key to unwrap a security domain with: get it first "
                    + "(GET /securitydomain/upload; az keyvault security-domain init-recovery)." + activity());
        }
        byte[] backupKey;
        try {
            backupKey = SecurityDomainBlob.readRestoreBlob(restoreBlob, privateKey(tk), SecurityDomainBlob.thumbprint(certificate(tk)));
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            throw ApiException.badParameter("The security domain cannot be restored: " + e.getMessage() + "." + activity());
        }
        emu.write(() -> {
            // Guessed: Azure restores a security domain only into an HSM that is not activated (one created to recover
            // into); an activated or activating HSM keeps its own.
            if (hsm.securityDomain != null) {
                throw new ApiException(409, "Conflict", "The Managed HSM is already activated, or activating; a security domain"
                        + " is uploaded only to an HSM that is not activated." + activity());
            }
            State.SecurityDomain sd = new State.SecurityDomain();
            sd.uploadedAtMillis = System.currentTimeMillis();
            sd.activeAtMillis = sd.uploadedAtMillis + emu.config().activationDelay().toMillis();
            hsm.securityDomain = sd;
            hsm.domainKey = Base64.getEncoder().encodeToString(backupKey);
            // Azure deletes the exchange key once a security domain is uploaded (Azure/azure-cli#15065): a new upload
            // starts with a new init-recovery.
            hsm.transferKey = null;
            emu.dirty();
            return null;
        });
        return Http.Response.json(202, Json.object().put("status", "InProgress").put("status_details", "The security domain is being restored."))
                .header("Azure-AsyncOperation", r.baseUrl() + "/securitydomain/upload/pending")
                .header("Retry-After", String.valueOf(emu.config().retryAfterSeconds()));
    }

    /** The HSM's transfer key as the JWK Azure serves (as a JSON string): RSA-OAEP-256, its certificate in x5c. */
    private ObjectNode transferKeyJwk(State.Hsm hsm) {
        State.TransferKey tk = emu.read(() -> hsm.transferKey);
        if (tk == null) {
            State.TransferKey made = newTransferKey(hsm); // outside the lock: an RSA key takes a while
            tk = emu.write(() -> {
                if (hsm.transferKey == null) {
                    hsm.transferKey = made;
                    emu.dirty();
                }
                return hsm.transferKey;
            });
        }
        try {
            X509Certificate cert = certificate(tk);
            RSAPublicKey pub = (RSAPublicKey) cert.getPublicKey();
            String thumb = SecurityDomainBlob.thumbprint(cert);
            ObjectNode jwk = Json.object().put("kty", "RSA");
            jwk.set("key_ops", Json.array(List.of("wrapKey", "encrypt")));
            jwk.put("n", Json.b64u(KeyCrypto.unsigned(pub.getModulus()))).put("e", Json.b64u(KeyCrypto.unsigned(pub.getPublicExponent())))
                    .put("alg", "RSA-OAEP-256").put("kid", "transfer-key-" + hsm.name + "-" + thumb.substring(0, 8));
            jwk.set("x5c", Json.array(List.of(tk.certificate)));
            jwk.put("x5t#S256", thumb);
            return jwk;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static State.TransferKey newTransferKey(State.Hsm hsm) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            KeyPair kp = g.generateKeyPair();
            State.TransferKey tk = new State.TransferKey();
            tk.privateKey = Base64.getEncoder().encodeToString(kp.getPrivate().getEncoded());
            tk.certificate = Base64.getEncoder().encodeToString(Tls.selfSigned("security domain transfer key of " + hsm.name, kp).getEncoded());
            return tk;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static X509Certificate certificate(State.TransferKey tk) throws GeneralSecurityException {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(Base64.getDecoder().decode(tk.certificate)));
    }

    private static PrivateKey privateKey(State.TransferKey tk) throws GeneralSecurityException {
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(tk.privateKey)));
    }
}
