package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayInputStream;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import static io.hsmoperator.emulator.HsmDataPlane.activity;
import static io.hsmoperator.emulator.HsmDataPlane.randomBytes;

/**
 * The Managed HSM security domain REST API: download (which activates the HSM, or gives a new copy of an activated HSM's
 * security domain) and its pending status, and the transfer key of an upload; the upload itself is not emulated.
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
            ObjectNode out = Json.object().put("key_format", "jwk");
            out.set("transfer_key", emu.transferKey(hsm));
            return Http.Response.json(200, out);
        }
        if (second.equals("upload")) {
            throw ApiException.badParameter("Security domain upload (restore) is not supported by the emulator." + activity());
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
}
