package io.hsmoperator.emulator;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.azure.resourcemanager.keyvault.fluent.models.ManagedHsmInner;
import com.azure.resourcemanager.keyvault.models.ManagedHsmProperties;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSku;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSkuFamily;
import com.azure.resourcemanager.keyvault.models.ManagedHsmSkuName;
import com.azure.security.keyvault.administration.models.KeyVaultRoleScope;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;

/** Test fixtures: HSMs created, activated and granted through the real SDK, as a user would. */
public final class HsmFixtures {
    public static final String CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b";
    public static final String CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778";

    private HsmFixtures() {
    }

    /** Security-domain officers: RSA key pairs with certificates. */
    public record Officers(List<KeyPair> keys, List<X509Certificate> certificates) {
    }

    public static Officers officers(Emulator emulator, int n) throws Exception {
        List<KeyPair> keys = new ArrayList<>();
        List<X509Certificate> certs = new ArrayList<>();
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        for (int i = 0; i < n; i++) {
            KeyPair kp = g.generateKeyPair();
            keys.add(kp);
            certs.add(emulator.issueCertificate("security-domain-officer-" + i, kp.getPublic()));
        }
        return new Officers(keys, certs);
    }

    /** Officers with self-signed certificates, for clients that have no access to the emulator's CA. */
    public static Officers officersSelfSigned(int n) throws Exception {
        List<KeyPair> keys = new ArrayList<>();
        List<X509Certificate> certs = new ArrayList<>();
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        for (int i = 0; i < n; i++) {
            KeyPair kp = g.generateKeyPair();
            keys.add(kp);
            org.bouncycastle.asn1.x500.X500Name subject = new org.bouncycastle.asn1.x500.X500Name("CN=officer-" + i);
            var builder = new org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder(subject, java.math.BigInteger.valueOf(i + 1),
                    new java.util.Date(), new java.util.Date(System.currentTimeMillis() + 86_400_000L), subject, kp.getPublic());
            certs.add(new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter().getCertificate(
                    builder.build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withRSA").build(kp.getPrivate()))));
        }
        return new Officers(keys, certs);
    }

    public static ManagedHsmInner hsmBody(Emulator emulator, String location, String... admins) {
        return new ManagedHsmInner().withLocation(location)
                .withSku(new ManagedHsmSku().withFamily(ManagedHsmSkuFamily.B).withName(ManagedHsmSkuName.STANDARD_B1))
                .withProperties(new ManagedHsmProperties().withTenantId(UUID.fromString(emulator.tenantId()))
                        .withInitialAdminObjectIds(List.of(admins)).withSoftDeleteRetentionInDays(7).withEnablePurgeProtection(false));
    }

    public static ManagedHsmInner createHsm(EmulatorClients c, String rg, String name) {
        return createHsm(c, rg, name, c.principal.objectId());
    }

    public static ManagedHsmInner createHsm(EmulatorClients c, String rg, String name, String... admins) {
        return c.keyVault().serviceClient().getManagedHsms()
                .beginCreateOrUpdate(rg, name, hsmBody(c.emulator, "westeurope", admins)).getFinalResult();
    }

    public static ObjectNode certificateInfo(List<X509Certificate> certs, int required) throws Exception {
        ArrayNode list = Json.array();
        for (X509Certificate cert : certs) {
            ObjectNode jwk = Json.object().put("kty", "RSA").put("alg", "RSA-OAEP-256").put("kid", UUID.randomUUID().toString());
            jwk.set("key_ops", Json.array(List.of("verify", "encrypt", "wrapKey")));
            jwk.set("x5c", Json.array(List.of(Base64.getEncoder().encodeToString(cert.getEncoded()))));
            jwk.put("x5t#S256", Json.b64u(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded())));
            list.add(jwk);
        }
        ObjectNode body = Json.object();
        body.set("certificates", list);
        body.put("required", required);
        return body;
    }

    /** Downloads the security domain over an azure-core pipeline and waits until the HSM reports success. */
    public static String activate(EmulatorClients c, String hsmUri, Officers officers) throws Exception {
        return activateWith(c.http, c.credential, hsmUri, officers);
    }

    public static String activateWith(com.azure.core.http.HttpClient http, com.azure.core.credential.TokenCredential credential,
                                      String hsmUri, Officers officers) throws Exception {
        com.azure.core.http.HttpPipeline pipeline = new com.azure.core.http.HttpPipelineBuilder().httpClient(http).policies(
                new com.azure.core.http.policy.RetryPolicy(),
                new com.azure.core.http.policy.BearerTokenAuthenticationPolicy(credential, "https://managedhsm.azure.net/.default")).build();
        String base = hsmUri.endsWith("/") ? hsmUri.substring(0, hsmUri.length() - 1) : hsmUri;
        HttpRequest req = new HttpRequest(HttpMethod.POST, base + "/securitydomain/download?api-version=7.5")
                .setHeader("Content-Type", "application/json")
                .setBody(Json.string(certificateInfo(officers.certificates(), 2)));
        String blob;
        try (HttpResponse resp = pipeline.sendSync(req, Context.NONE)) {
            if (resp.getStatusCode() != 202) {
                throw new AssertionError("security domain download answered " + resp.getStatusCode() + ": " + resp.getBodyAsString().block());
            }
            blob = Json.parse(resp.getBodyAsByteArray().block()).get("value").asText();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            try (HttpResponse resp = pipeline.sendSync(new HttpRequest(HttpMethod.GET,
                    base + "/securitydomain/download/pending?api-version=7.5"), Context.NONE)) {
                JsonNode status = Json.parse(resp.getBodyAsByteArray().block());
                if ("Success".equals(status.path("status").asText())) {
                    return blob;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("activation did not complete");
    }

    /** Creates an activated HSM whose admin (the client's principal) also holds {@code role} at /keys. */
    public static String readyHsm(EmulatorClients c, String rg, String name, String role) throws Exception {
        ManagedHsmInner hsm = createHsm(c, rg, name);
        String uri = hsm.properties().hsmUri();
        activate(c, uri, officers(c.emulator, 3));
        if (role != null) {
            c.rbac(uri).createRoleAssignment(KeyVaultRoleScope.KEYS, role, c.principal.objectId());
        }
        return uri;
    }
}
