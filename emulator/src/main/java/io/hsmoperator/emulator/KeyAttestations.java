package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;

/**
 * Key attestation (API 7.6, {@code GET /keys/{name}/{version}/attestation}): evidence that a key version lives in the HSM.
 *
 * <p>Azure answers with certificates and attestation blobs of the physical HSM's vendor (Marvell LiquidSecurity, a binary
 * format signed by keys in the device), which nothing outside such a device can produce. The emulator answers in the same
 * fields with evidence of its own, which really binds the key to an HSM of this emulator:
 * <ul>
 * <li>{@code certificatePemFile} (base64url of PEM): the HSM's attestation certificate, then the emulator's attestation
 *     intermediate CA, then its root CA ("HSM Emulator Attestation Root"). The root is the emulator's, per state
 *     directory; trust it only to check the emulator;</li>
 * <li>{@code privateKeyAttestation} (base64url of a compact JWS, ES256, signed by the HSM certificate's key): claims
 *     {@code format}, {@code kid}, {@code kty}, {@code crv}/{@code keySize}, {@code keyOps}, {@code exportable},
 *     {@code generatedInHsm} (false for imported keys, as PKCS#11's CKA_LOCAL), {@code created}, and for RSA and EC keys
 *     {@code publicKeySha256} (base64url SHA-256 of the DER SubjectPublicKeyInfo);</li>
 * <li>{@code publicKeyAttestation} (RSA and EC keys only, as in Azure): the same, with {@code publicKey} (base64 DER
 *     SubjectPublicKeyInfo) instead of its digest;</li>
 * <li>{@code version}: {@link #FORMAT}.</li>
 * </ul>
 * API 7.6-preview.2 named the certificates {@code certificates} and had no {@code version} (as recorded).
 */
final class KeyAttestations {
    static final String FORMAT = "hsm-emulator-attestation-1";
    private static final String SIGNATURE = "SHA256withECDSAinP1363Format";

    private final Emulator emu;

    KeyAttestations(Emulator emu) {
        this.emu = emu;
    }

    /** The attestation of {@code v}, in the fields of the API version asked for. Called under the write lock. */
    ObjectNode attestation(State.Hsm hsm, State.KeyVersion v, String kid, String apiVersion) {
        State.Attestation hsmSigner = hsmSigner(hsm);
        State.Attestation authority = authority();
        String chain = hsmSigner.certificate + authority.intermediateCertificate + authority.certificate;
        ObjectNode claims = Json.object().put("format", FORMAT).put("kid", kid).put("kty", v.kty);
        if (v.crv != null) {
            claims.put("crv", v.crv);
        }
        if (v.keySize != null) {
            claims.put("keySize", v.keySize);
        }
        var ops = claims.putArray("keyOps");
        v.keyOps.forEach(ops::add);
        claims.put("exportable", v.exportable).put("generatedInHsm", !"imported".equals(v.origin)).put("created", v.created)
                .put("hsm", hsm.name);
        ObjectNode out = Json.object();
        out.put(apiVersion != null && apiVersion.startsWith("7.6-preview") ? "certificates" : "certificatePemFile",
                Json.b64u(chain.getBytes(StandardCharsets.US_ASCII)));
        PrivateKey signer = privateKey(hsmSigner.key);
        if (v.publicKey != null) {
            byte[] spki = Base64.getDecoder().decode(v.publicKey);
            out.put("privateKeyAttestation", Json.b64u(jws(claims.deepCopy().put("attests", "privateKey")
                    .put("publicKeySha256", Json.b64u(sha256(spki))), signer)));
            out.put("publicKeyAttestation", Json.b64u(jws(claims.deepCopy().put("attests", "publicKey")
                    .put("publicKey", v.publicKey), signer)));
        } else {
            out.put("privateKeyAttestation", Json.b64u(jws(claims.deepCopy().put("attests", "privateKey"), signer)));
        }
        if (apiVersion == null || !apiVersion.startsWith("7.6-preview")) {
            out.put("version", FORMAT);
        }
        return out;
    }

    /** The root CA's certificate (PEM). Called under the write lock. */
    String rootCertificate() {
        return authority().certificate;
    }

    /** The emulator's attestation root and intermediate CA, made once per state. */
    private State.Attestation authority() {
        State s = emu.state();
        if (s.attestationAuthority == null) {
            KeyPair root = ecKeyPair();
            KeyPair intermediate = ecKeyPair();
            X500Name rootName = new X500Name("CN=HSM Emulator Attestation Root,O=hsm-operator emulator");
            X500Name intermediateName = new X500Name("CN=HSM Emulator Attestation Intermediate,O=hsm-operator emulator");
            State.Attestation a = new State.Attestation();
            a.certificate = Tls.pem("CERTIFICATE", der(issue(rootName, root.getPublic(), rootName, root.getPrivate(), 1)));
            a.key = Tls.pem("PRIVATE KEY", root.getPrivate().getEncoded());
            a.intermediateCertificate = Tls.pem("CERTIFICATE", der(issue(intermediateName, intermediate.getPublic(), rootName,
                    root.getPrivate(), 0)));
            a.intermediateKey = Tls.pem("PRIVATE KEY", intermediate.getPrivate().getEncoded());
            s.attestationAuthority = a;
            emu.dirty();
        }
        return s.attestationAuthority;
    }

    /** The HSM's own attestation certificate (the one that signs its evidence), issued by the intermediate on first use. */
    private State.Attestation hsmSigner(State.Hsm hsm) {
        if (hsm.attestation == null) {
            State.Attestation authority = authority();
            KeyPair keys = ecKeyPair();
            State.Attestation a = new State.Attestation();
            a.certificate = Tls.pem("CERTIFICATE", der(issue(new X500Name("CN=" + hsm.name + " attestation,O=hsm-operator emulator"),
                    keys.getPublic(), new X500Name("CN=HSM Emulator Attestation Intermediate,O=hsm-operator emulator"),
                    privateKey(authority.intermediateKey), -1)));
            a.key = Tls.pem("PRIVATE KEY", keys.getPrivate().getEncoded());
            hsm.attestation = a;
            emu.dirty();
        }
        return hsm.attestation;
    }

    private static byte[] jws(ObjectNode claims, PrivateKey key) {
        ObjectNode header = Json.object().put("alg", "ES256").put("typ", FORMAT);
        String input = Json.b64u(Json.bytes(header)) + "." + Json.b64u(Json.bytes(claims));
        try {
            Signature s = Signature.getInstance(SIGNATURE);
            s.initSign(key);
            s.update(input.getBytes(StandardCharsets.US_ASCII));
            return (input + "." + Json.b64u(s.sign())).getBytes(StandardCharsets.US_ASCII);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** pathLen: the CA's path length constraint, or -1 for an end-entity certificate. */
    private static X509Certificate issue(X500Name subject, PublicKey subjectKey, X500Name issuer, PrivateKey issuerKey, int pathLen) {
        try {
            Instant now = Instant.now();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, new BigInteger(64, KeyCrypto.RANDOM),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(3650))), subject, subjectKey);
            b.addExtension(Extension.subjectKeyIdentifier, false, new JcaX509ExtensionUtils().createSubjectKeyIdentifier(subjectKey));
            if (pathLen >= 0) {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(pathLen));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            }
            return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey)));
        } catch (Exception e) {
            throw new IllegalStateException("cannot issue an attestation certificate", e);
        }
    }

    private static KeyPair ecKeyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static PrivateKey privateKey(String pem) {
        try {
            return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Tls.unpem(pem)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] der(X509Certificate c) {
        try {
            return c.getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
