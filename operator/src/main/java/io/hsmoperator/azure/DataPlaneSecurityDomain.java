package io.hsmoperator.azure;

import com.azure.core.http.HttpHeaderName;
import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpRequest;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.Context;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.util.Base64;
import java.util.List;

/** {@link SecurityDomain} over an azure-core pipeline with the data-plane token: the one hand-written Azure call. */
@Singleton
public class DataPlaneSecurityDomain implements SecurityDomain {
    private static final String API = "api-version=7.5";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final AzureClients clients;

    public DataPlaneSecurityDomain(AzureClients clients) {
        this.clients = clients;
    }

    @Override
    @AzureWrite
    public Download download(String hsmUri, List<X509Certificate> certificates, int quorum) {
        ObjectNode body = JSON.createObjectNode();
        ArrayNode certs = body.putArray("certificates");
        try {
            for (X509Certificate c : certificates) {
                RSAPublicKey key = (RSAPublicKey) c.getPublicKey();
                ObjectNode jwk = certs.addObject();
                String thumb = b64u(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
                jwk.put("kty", "RSA").put("kid", thumb).put("alg", "RSA-OAEP-256").put("use", "enc");
                jwk.putArray("key_ops").add("wrapKey").add("encrypt").add("verify");
                jwk.put("n", b64u(unsigned(key.getModulus()))).put("e", b64u(unsigned(key.getPublicExponent())));
                jwk.putArray("x5c").add(Base64.getEncoder().encodeToString(c.getEncoded()));
                jwk.put("x5t#S256", thumb);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("A security-domain certificate cannot be encoded: " + e.getMessage(), e);
        }
        body.put("required", quorum);
        HttpRequest req = new HttpRequest(HttpMethod.POST, AzureClients.base(hsmUri) + "/securitydomain/download?" + API)
                .setHeader(HttpHeaderName.CONTENT_TYPE, "application/json").setBody(body.toString());
        try (HttpResponse r = send(req)) {
            byte[] bytes = r.getBodyAsByteArray().block(clients.timeout());
            if (r.getStatusCode() != 202 && r.getStatusCode() != 200) {
                throw failure(r, bytes);
            }
            JsonNode out = JSON.readTree(bytes);
            String value = out.path("value").isTextual() ? out.path("value").asText() : out.path("value").toString();
            String requestId = r.getHeaderValue(HttpHeaderName.fromString("x-ms-request-id"));
            return new Download(value, new Mutation(requestId == null ? "unknown" : requestId, r.getStatusCode()));
        } catch (IOException e) {
            throw AzureError.of(e);
        }
    }

    @Override
    public String status(String hsmUri) {
        HttpRequest req = new HttpRequest(HttpMethod.GET, AzureClients.base(hsmUri) + "/securitydomain/download/pending?" + API);
        try (HttpResponse r = send(req)) {
            byte[] bytes = r.getBodyAsByteArray().block(clients.timeout());
            if (r.getStatusCode() == 404) {
                return "NotStarted";
            }
            if (r.getStatusCode() != 200) {
                throw failure(r, bytes);
            }
            String status = JSON.readTree(bytes).path("status").asText("Unknown");
            return status.equals("Succeeded") ? "Success" : status;
        } catch (IOException e) {
            throw AzureError.of(e);
        }
    }

    private HttpResponse send(HttpRequest req) {
        return AzureError.call(() -> clients.dataPlanePipeline().sendSync(req, Context.NONE));
    }

    private static AzureError failure(HttpResponse r, byte[] bytes) {
        return AzureError.ofResponse(r, bytes, "security domain call failed");
    }

    private static String b64u(byte[] b) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static byte[] unsigned(BigInteger i) {
        byte[] b = i.toByteArray();
        return b[0] == 0 && b.length > 1 ? java.util.Arrays.copyOfRange(b, 1, b.length) : b;
    }
}
