package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads the security-domain officers' Secret: PEM certificates in keys ending in .pem, .crt or .cer, and the quorum in key
 * "quorum". Every problem is one specific reason with a message saying what to fix, naming keys but never quoting a
 * value: status and Events are read by more people than the Secret is. Nothing here talks to Azure.
 */
public final class OfficerCertificates {
    public record Parsed(List<X509Certificate> certificates, int quorum) {
    }

    public record Problem(Reason reason, String message) {
    }

    private OfficerCertificates() {
    }

    /** Either the certificates and quorum, or the problem. */
    public static Object parse(Secret secret) {
        String name = secret.getMetadata().getName();
        Map<String, String> data = new TreeMap<>();
        if (secret.getData() != null) {
            secret.getData().forEach((k, v) -> data.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
        }
        if (secret.getStringData() != null) {
            data.putAll(secret.getStringData());
        }
        List<X509Certificate> certs = new ArrayList<>();
        for (Map.Entry<String, String> e : data.entrySet()) {
            String key = e.getKey();
            String value = e.getValue();
            if (value.contains("PRIVATE KEY-----")) {
                return new Problem(Reason.SecurityDomainSecretHoldsPrivateKey, "Secret " + name + " key " + key + " holds a private key. "
                        + "The operator needs only the officers' public certificates: remove every private key from the Secret and keep "
                        + "them offline.");
            }
            if (!(key.endsWith(".pem") || key.endsWith(".crt") || key.endsWith(".cer"))) {
                continue;
            }
            try {
                CertificateFactory cf = CertificateFactory.getInstance("X.509");
                var parsed = cf.generateCertificates(new ByteArrayInputStream(value.getBytes(StandardCharsets.US_ASCII)));
                if (parsed.isEmpty()) {
                    throw new CertificateException("no certificate found");
                }
                for (Certificate c : parsed) {
                    X509Certificate x = (X509Certificate) c;
                    if (!(x.getPublicKey() instanceof RSAPublicKey)) {
                        return new Problem(Reason.SecurityDomainCertificateInvalid, "Secret " + name + " key " + key
                                + ": the certificate's key is " + x.getPublicKey().getAlgorithm() + "; security-domain officers need RSA keys.");
                    }
                    int bits = ((RSAPublicKey) x.getPublicKey()).getModulus().bitLength();
                    if (bits < 2048) {
                        return new Problem(Reason.SecurityDomainCertificateInvalid, "Secret " + name + " key " + key + ": the RSA key has "
                                + bits + " bits; at least 2048 are required.");
                    }
                    certs.add(x);
                }
            } catch (CertificateException | RuntimeException ex) {
                // The parser's message may quote what it read, and status and Events are readable by more people than
                // the Secret is.
                return new Problem(Reason.SecurityDomainCertificateInvalid, "Secret " + name + " key " + key
                        + " is not a PEM certificate (one or more -----BEGIN CERTIFICATE----- blocks).");
            }
        }
        if (certs.size() < 3) {
            return new Problem(Reason.SecurityDomainCertificatesInsufficient, "Secret " + name + " holds " + certs.size()
                    + " certificate(s); Managed HSM needs at least 3 officers' certificates (keys ending in .pem).");
        }
        if (certs.size() > 10) {
            return new Problem(Reason.SecurityDomainCertificatesInsufficient, "Secret " + name + " holds " + certs.size()
                    + " certificates; Managed HSM accepts at most 10.");
        }
        String q = data.get("quorum");
        int quorum;
        try {
            quorum = Integer.parseInt(q == null ? "" : q.trim());
        } catch (NumberFormatException ex) {
            return new Problem(Reason.SecurityDomainQuorumInvalid, "Secret " + name + " needs key 'quorum' with the number of officers "
                    + "required to recover the HSM (2 to " + certs.size() + ")" + (q == null ? "." : "; its value is not a number."));
        }
        if (quorum < 2 || quorum > certs.size()) {
            return new Problem(Reason.SecurityDomainQuorumInvalid, "Secret " + name + ": key 'quorum' is out of range; it must be "
                    + "between 2 and the number of certificates (" + certs.size() + ").");
        }
        return new Parsed(certs, quorum);
    }
}
