package io.hsmoperator.emulator;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The emulator's own CA and server certificate, kept in the state directory so clients can trust them across restarts. */
public final class Tls {
    private final X509Certificate ca;
    private final PrivateKey caKey;
    private final X509Certificate server;
    private final PrivateKey serverKey;
    private final SSLContext sslContext;

    private Tls(X509Certificate ca, PrivateKey caKey, X509Certificate server, PrivateKey serverKey) throws GeneralSecurityException, IOException {
        this.ca = ca;
        this.caKey = caKey;
        this.server = server;
        this.serverKey = serverKey;
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] pw = "emulator".toCharArray();
        ks.setKeyEntry("server", serverKey, pw, new java.security.cert.Certificate[]{server, ca});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, pw);
        this.sslContext = SSLContext.getInstance("TLS");
        sslContext.init(kmf.getKeyManagers(), null, new SecureRandom());
    }

    /** Loads the CA and server certificate from {@code dir}, creating what is missing; {@code dir == null} keeps them in memory. */
    public static Tls loadOrCreate(Path dir, List<String> hostNames) {
        try {
            Set<String> names = new LinkedHashSet<>(List.of("localhost", "127.0.0.1"));
            names.addAll(hostNames);
            X509Certificate ca;
            PrivateKey caKey;
            if (dir != null && Files.exists(dir.resolve("ca.crt")) && Files.exists(dir.resolve("ca.key"))) {
                ca = readCert(Files.readString(dir.resolve("ca.crt")));
                caKey = readKey(Files.readString(dir.resolve("ca.key")));
            } else {
                KeyPair kp = ecKeyPair();
                ca = issue(new X500Name("CN=hsm-operator emulator CA"), kp, new X500Name("CN=hsm-operator emulator CA"), kp.getPrivate(),
                        null, true, Duration.ofDays(3650));
                caKey = kp.getPrivate();
                if (dir != null) {
                    Files.createDirectories(dir);
                    writePrivate(dir.resolve("ca.key"), pem("PRIVATE KEY", caKey.getEncoded()));
                    Files.writeString(dir.resolve("ca.crt"), pem("CERTIFICATE", ca.getEncoded()));
                }
            }
            X509Certificate server = null;
            PrivateKey serverKey = null;
            if (dir != null && Files.exists(dir.resolve("server.crt")) && Files.exists(dir.resolve("server.key"))) {
                X509Certificate existing = readCert(Files.readString(dir.resolve("server.crt")));
                if (coversNames(existing, names) && existing.getNotAfter().toInstant().isAfter(Instant.now().plus(Duration.ofDays(7)))) {
                    server = existing;
                    serverKey = readKey(Files.readString(dir.resolve("server.key")));
                }
            }
            if (server == null) {
                KeyPair kp = ecKeyPair();
                server = issue(new X500Name("CN=hsm-operator emulator"), kp, X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()),
                        caKey, names, false, Duration.ofDays(825));
                serverKey = kp.getPrivate();
                if (dir != null) {
                    writePrivate(dir.resolve("server.key"), pem("PRIVATE KEY", serverKey.getEncoded()));
                    Files.writeString(dir.resolve("server.crt"), pem("CERTIFICATE", server.getEncoded()));
                }
            }
            return new Tls(ca, caKey, server, serverKey);
        } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException("Cannot prepare the emulator's TLS certificates: " + e.getMessage(), e);
        }
    }

    public SSLContext sslContext() {
        return sslContext;
    }

    public X509Certificate caCertificate() {
        return ca;
    }

    public String caPem() {
        try {
            return pem("CERTIFICATE", ca.getEncoded());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Signs a certificate for any RSA/EC public key; used by tests that need security-domain certificates. */
    public X509Certificate issueFor(String subject, java.security.PublicKey key) {
        try {
            return issue(new X500Name("CN=" + subject), new KeyPair(key, null), X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()),
                    caKey, null, false, Duration.ofDays(365));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A server certificate and its private key, PEM. */
    public record Issued(String certificatePem, String privateKeyPem) {
        @Override
        public String toString() {
            return "Issued[certificate]";
        }
    }

    /**
     * A server certificate from this CA for {@code names}, for another local service the emulator and its clients reach
     * (Azurite): whoever trusts the emulator's CA trusts it too.
     */
    public Issued issueServer(List<String> names) {
        try {
            KeyPair kp = ecKeyPair();
            X509Certificate cert = issue(new X500Name("CN=" + names.get(0)), kp, X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()),
                    caKey, new LinkedHashSet<>(names), false, Duration.ofDays(825));
            return new Issued(pem("CERTIFICATE", cert.getEncoded()), pem("PRIVATE KEY", kp.getPrivate().getEncoded()));
        } catch (Exception e) {
            throw new IllegalStateException("Cannot issue a certificate for " + names + ": " + e.getMessage(), e);
        }
    }

    /** A client TLS context that trusts this CA alone: the emulator reaching the services whose certificates it issued. */
    public SSLContext trustingThisCa() {
        try {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            ts.setCertificateEntry("ca", ca);
            javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            SSLContext c = SSLContext.getInstance("TLS");
            c.init(null, tmf.getTrustManagers(), new SecureRandom());
            return c;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A self-signed certificate for {@code keys} (an HSM's security-domain transfer key is handed out as one). */
    static X509Certificate selfSigned(String subject, KeyPair keys) {
        try {
            X500Name name = new X500Name("CN=" + subject);
            return issue(name, keys, name, keys.getPrivate(), null, false, Duration.ofDays(365));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean coversNames(X509Certificate cert, Set<String> names) throws GeneralSecurityException {
        Set<String> have = new LinkedHashSet<>();
        if (cert.getSubjectAlternativeNames() != null) {
            for (List<?> san : cert.getSubjectAlternativeNames()) {
                have.add(String.valueOf(san.get(1)));
            }
        }
        return have.containsAll(names);
    }

    private static KeyPair ecKeyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static X509Certificate issue(X500Name subject, KeyPair subjectKeys, X500Name issuer, PrivateKey issuerKey,
                                         Set<String> sans, boolean isCa, Duration validity)
            throws GeneralSecurityException, IOException, org.bouncycastle.operator.OperatorCreationException {
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, new BigInteger(64, new SecureRandom()),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(validity)), subject, subjectKeys.getPublic());
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(subjectKeys.getPublic()));
        if (isCa) {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
        } else {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            if (sans != null) {
                b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
                List<GeneralName> gn = new ArrayList<>();
                for (String n : sans) {
                    gn.add(isIp(n) ? new GeneralName(GeneralName.iPAddress, n) : new GeneralName(GeneralName.dNSName, n));
                }
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(gn.toArray(new GeneralName[0])));
            }
        }
        String alg = issuerKey.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        ContentSigner signer = new JcaContentSignerBuilder(alg).build(issuerKey);
        return new JcaX509CertificateConverter().getCertificate(b.build(signer));
    }

    private static boolean isIp(String n) {
        if (!n.matches("[0-9.]+") && !n.contains(":")) {
            return false;
        }
        try {
            InetAddress.getByName(n);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public static String pem(String type, byte[] der) {
        String b64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + type + "-----\n" + b64 + "\n-----END " + type + "-----\n";
    }

    public static byte[] unpem(String pem) {
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(body);
    }

    public static X509Certificate readCert(String pem) throws GeneralSecurityException {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(unpem(pem)));
    }

    private static PrivateKey readKey(String pem) throws GeneralSecurityException {
        return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(unpem(pem)));
    }

    static void writePrivate(Path file, String content) throws IOException {
        Files.writeString(file, content);
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system; nothing more to do
        }
    }
}
