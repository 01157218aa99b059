package io.hsmoperator.emulator;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.models.ActivationStatus;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Activation by security-domain download over an azure-core pipeline (there is no Java client for it). */
class EmulatorSecurityDomainTest extends EmulatorTestBase {
    private int post(String uri, String body) {
        HttpRequest req = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json").setBody(body);
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(req, Context.NONE)) {
            return r.getStatusCode();
        }
    }

    @Test
    void badCertificateSetsAreRefusedAndChangeNothing() throws Exception {
        String name = hsmName("sd-bad");
        String uri = HsmFixtures.createHsm(admin, "rg-sd", name).properties().hsmUri();
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates().subList(0, 2), 2))), "two certificates");
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 1))), "quorum of one");
        assertEquals(400, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 4))), "quorum above the count");
        ObjectNode malformed = HsmFixtures.certificateInfo(officers.certificates(), 2);
        ((ObjectNode) malformed.get("certificates").get(0)).putArray("x5c").add(Base64.getEncoder().encodeToString("junk".getBytes()));
        assertEquals(400, post(uri, Json.string(malformed)), "a malformed certificate");
        assertEquals(ActivationStatus.NOT_ACTIVATED, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus());
    }

    @Test
    void downloadActivatesOnceAndTheBlobRecoversWithAQuorum() throws Exception {
        String name = hsmName("sd-ok");
        String uri = HsmFixtures.createHsm(admin, "rg-sd", name).properties().hsmUri();
        HsmFixtures.Officers officers = HsmFixtures.officers(emulator, 3);
        HttpRequest req = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json")
                .setBody("{\"CertificateInfoObject\":" + Json.string(HsmFixtures.certificateInfo(officers.certificates(), 2)) + "}");
        String blob;
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(req, Context.NONE)) {
            assertEquals(202, r.getStatusCode(), "the legacy wrapped body is accepted too");
            assertTrue(r.getHeaderValue("Azure-AsyncOperation").endsWith("/securitydomain/download/pending"));
            blob = Json.parse(r.getBodyAsByteArray().block()).get("value").asText();
        }
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(new HttpRequest(HttpMethod.GET,
                uri.replaceAll("/$", "") + "/securitydomain/download/pending"), Context.NONE)) {
            assertEquals("InProgress", Json.parse(r.getBodyAsByteArray().block()).get("status").asText());
        }
        assertEquals(409, post(uri, Json.string(HsmFixtures.certificateInfo(officers.certificates(), 2))),
                "no second download while the first activates the HSM");
        Thread.sleep(emulator.config().activationDelay().toMillis() + 50);
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(new HttpRequest(HttpMethod.GET,
                uri.replaceAll("/$", "") + "/securitydomain/download/pending"), Context.NONE)) {
            assertEquals("Success", Json.parse(r.getBodyAsByteArray().block()).get("status").asText());
        }
        assertEquals(ActivationStatus.ACTIVE, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus());

        JsonNode parsed = Json.parse(blob);
        assertEquals(3, parsed.path("SharedKeys").path("enc_shares").size());
        assertEquals(2, parsed.path("SharedKeys").path("required").asInt());
        List<X509Certificate> twoCerts = officers.certificates().subList(1, 3);
        List<PrivateKey> two = officers.keys().subList(1, 3).stream().map(KeyPair::getPrivate).toList();
        byte[] recovered = SecurityDomainBlob.recoverBackupKey(blob, twoCerts, two);
        byte[] domainKey = emulator.inspect(s -> Base64.getDecoder().decode(s.hsms.get(name.toLowerCase()).domainKey));
        assertArrayEquals(domainKey, recovered, "any two officers recover the HSM's key");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(blob,
                List.of(officers.certificates().get(0)), List.of(officers.keys().get(0).getPrivate())),
                "one officer alone cannot");

        // Once activated, a download is a new copy of the same security domain, for the officers named in it.
        HsmFixtures.Officers others = HsmFixtures.officers(emulator, 4);
        HttpRequest again = new HttpRequest(HttpMethod.POST, uri.replaceAll("/$", "") + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json").setBody(Json.string(HsmFixtures.certificateInfo(others.certificates(), 3)));
        String copy;
        try (HttpResponse r = admin.dataPlanePipeline().sendSync(again, Context.NONE)) {
            assertEquals(202, r.getStatusCode(), "an activated HSM's security domain can be downloaded again");
            copy = Json.parse(r.getBodyAsByteArray().block()).get("value").asText();
        }
        assertArrayEquals(domainKey, SecurityDomainBlob.recoverBackupKey(copy, others.certificates().subList(0, 3),
                others.keys().subList(0, 3).stream().map(KeyPair::getPrivate).toList()), "the new copy recovers the same HSM, with the new officers' quorum");
        assertThrows(IllegalArgumentException.class, () -> SecurityDomainBlob.recoverBackupKey(copy, twoCerts, two), "and not with the old officers");
        assertEquals(ActivationStatus.ACTIVE, admin.keyVault().serviceClient().getManagedHsms().getByResourceGroup("rg-sd", name)
                .properties().securityDomainProperties().activationStatus(), "the HSM stays active");
    }
}
