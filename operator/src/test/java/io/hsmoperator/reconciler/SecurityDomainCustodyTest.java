package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which Secret holds this HSM's security domain, and the spool a download goes to first. */
class SecurityDomainCustodyTest {
    private static final String ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/payments";
    private static final String CREATED = "2025-03-01T10:00:00Z";

    private static Secret secret(String managedHsm, Map<String, String> annotations, boolean blob) {
        SecretBuilder b = new SecretBuilder().withNewMetadata().withName("payments-security-domain")
                .withLabels(managedHsm == null ? Map.of() : Map.of(SecurityDomainCustody.MANAGEDHSM_LABEL, managedHsm))
                .withAnnotations(annotations).endMetadata();
        return blob ? b.addToData(SecurityDomainCustody.BLOB_KEY, "e30=").build() : b.build();
    }

    private static SecurityDomainCustody.Held judge(Secret s) {
        return SecurityDomainCustody.judge(s, "payments", ID, CREATED);
    }

    @Test
    void aSecretIsThisHsmsOnlyWhenItRecordsThisHsm() {
        assertInstanceOf(SecurityDomainCustody.Absent.class, judge(null));
        assertEquals(new SecurityDomainCustody.Ours(true, "t1", null), judge(secret("payments", Map.of(SecurityDomainCustody.HSM_ID, ID.toUpperCase(),
                SecurityDomainCustody.HSM_CREATED_AT, CREATED, SecurityDomainCustody.DOWNLOAD_TOKEN, "t1"), true)));
        assertEquals(new SecurityDomainCustody.Ours(true, null, null), judge(secret("another-name", Map.of(SecurityDomainCustody.HSM_ID, ID,
                SecurityDomainCustody.HSM_CREATED_AT, CREATED), true)), "a ManagedHsm declared again for the same HSM finds it");
        assertEquals(new SecurityDomainCustody.Ours(true, null, null), judge(secret("payments", Map.of(SecurityDomainCustody.HSM_ID, ID), true)),
                "written before the creation time was recorded: the resource ID is all there is to go by");
        assertEquals(new SecurityDomainCustody.Ours(false, null, null), judge(secret("payments", Map.of(), false)),
                "an empty placeholder of this ManagedHsm made before the Secret recorded its HSM");

        assertTrue(((SecurityDomainCustody.Foreign) judge(secret("payments", Map.of(SecurityDomainCustody.HSM_ID, ID,
                SecurityDomainCustody.HSM_CREATED_AT, "2024-01-01T00:00:00Z"), true))).why().contains("earlier HSM of the same name"));
        assertTrue(((SecurityDomainCustody.Foreign) judge(secret("payments", Map.of(SecurityDomainCustody.HSM_ID, ID + "-old"), true)))
                .why().contains("another HSM"));
        assertTrue(((SecurityDomainCustody.Foreign) judge(secret(null, Map.of(), false))).why().contains("not created by the operator"));
        assertInstanceOf(SecurityDomainCustody.Foreign.class, judge(secret("payments", Map.of(), true)),
                "a blob that does not say whose it is is nobody's to take");
        assertInstanceOf(SecurityDomainCustody.Foreign.class, judge(secret("other", Map.of(), false)));
    }

    @Test
    void theBlobSaysWhomItIsEncryptedToInTheTermsOfTheOfficersSecret() throws Exception {
        // Three officers' certificates (public only; made once with openssl for this test).
        List<java.security.cert.X509Certificate> certs = new java.util.ArrayList<>();
        List<String> thumbprints = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            try (var in = getClass().getResourceAsStream("/officers/officer-" + i + ".pem")) {
                var cert = (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in);
                certs.add(cert);
                thumbprints.add(java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(
                        java.security.MessageDigest.getInstance("SHA-256").digest(cert.getEncoded())));
            }
        }
        // The shape Azure's download has (and az keyvault security-domain restore-blob reads): shares named by x5t_256.
        String blob = "{\"EncData\":{\"data\":[],\"kdf\":\"sp108_kdf\"},\"SharedKeys\":{\"enc_shares\":["
                + "{\"enc_key\":\"x\",\"x5t_256\":\"" + thumbprints.get(2) + "\"},{\"enc_key\":\"x\",\"x5t_256\":\"" + thumbprints.get(0)
                + "\"},{\"enc_key\":\"x\",\"x5t_256\":\"" + thumbprints.get(1) + "\"}],\"key_algorithm\":\"shamir_share\",\"required\":2},\"version\":2}";
        assertEquals(SecurityDomainCustody.wrappedFor(new OfficerCertificates.Parsed(certs, 2)), SecurityDomainCustody.wrappedFor(blob),
                "the same officers and quorum, in any order");
        assertFalse(SecurityDomainCustody.wrappedFor(new OfficerCertificates.Parsed(certs, 3)).equals(SecurityDomainCustody.wrappedFor(blob)),
                "another quorum");
        assertFalse(SecurityDomainCustody.wrappedFor(new OfficerCertificates.Parsed(certs.subList(0, 2), 2))
                .equals(SecurityDomainCustody.wrappedFor(blob)), "other officers");
        assertEquals(null, SecurityDomainCustody.wrappedFor("{}"), "a blob that does not say");
    }

    @Test
    void theSpoolKeepsEachHsmsBlobForItsOwnerOnlyAndNeverShowsIt(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("spool");
        SecurityDomainSpool spool = new SecurityDomainSpool(dir);
        SecurityDomainSpool.Entry e = new SecurityDomainSpool.Entry(ID, CREATED, "ns", "payments", "payments-security-domain", 2, 3,
                "2025-03-02T00:00:00Z", null, "{\"secret\":\"blob\"}");
        spool.put(e);
        List<Path> files;
        try (var list = Files.list(dir)) {
            files = list.toList();
        }
        assertEquals(1, files.size(), "one file, no temporary left: " + files);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(files.get(0))));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));

        SecurityDomainSpool restarted = new SecurityDomainSpool(dir);
        assertEquals(e, restarted.get(ID.toLowerCase(), CREATED).orElseThrow(), "a new process finds it");
        assertTrue(restarted.get(ID, "2024-01-01T00:00:00Z").isEmpty(), "an earlier HSM of the same name is another HSM");
        assertEquals(List.of(e), restarted.all());
        assertFalse(e.toString().contains("blob"), e.toString());
        restarted.remove(e);
        assertTrue(restarted.all().isEmpty());
    }
}
