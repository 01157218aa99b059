package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * How an auditor checks the emulator's key attestation evidence ({@link KeyAttestations}) with nothing but the JDK: the
 * certificate chain must validate (PKIX) up to the trusted emulator attestation root, and the attestation blob must be
 * a JWS signed by the chain's first certificate. Returns the attested claims; it does not decide what they must say.
 */
public final class AttestationEvidence {
    private AttestationEvidence() {
    }

    /**
     * @param certificatePemFile the decoded {@code certificatePemFile}: PEM certificates, the signer's first
     * @param blob               a decoded {@code privateKeyAttestation} or {@code publicKeyAttestation}
     * @param root               the emulator's attestation root ({@link Emulator#attestationRoot()})
     * @throws GeneralSecurityException when the chain does not lead to {@code root} or the signature does not verify
     */
    public static JsonNode verify(byte[] certificatePemFile, byte[] blob, X509Certificate root) throws GeneralSecurityException {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> chain = new ArrayList<>();
        for (var c : cf.generateCertificates(new ByteArrayInputStream(certificatePemFile))) {
            chain.add((X509Certificate) c);
        }
        if (chain.isEmpty()) {
            throw new GeneralSecurityException("no certificates in the attestation");
        }
        List<X509Certificate> path = chain.stream().filter(c -> !c.getSubjectX500Principal().equals(c.getIssuerX500Principal())).toList();
        CertPath certPath = cf.generateCertPath(path);
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        params.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(certPath, params);
        String[] jws = new String(blob, StandardCharsets.US_ASCII).split("\\.");
        if (jws.length != 3) {
            throw new GeneralSecurityException("the attestation is not a compact JWS");
        }
        Signature s = Signature.getInstance("SHA256withECDSAinP1363Format");
        s.initVerify(chain.get(0).getPublicKey());
        s.update((jws[0] + "." + jws[1]).getBytes(StandardCharsets.US_ASCII));
        if (!s.verify(Json.unb64(jws[2]))) {
            throw new GeneralSecurityException("the attestation's signature does not verify with the HSM's attestation certificate");
        }
        return Json.parse(Json.unb64(jws[1]));
    }
}
