package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OpenID Connect issuers that Entra trusts for federated credentials besides the emulator's own, such as a Kubernetes
 * cluster's service-account issuer: as Entra does for an AKS cluster, it reads the issuer's discovery document, checks
 * that it names the issuer, and verifies tokens with the keys its {@code jwks_uri} publishes (read again when a token
 * names a key it has not seen). The one liberty: Entra resolves the issuer URL through public DNS; here each issuer is
 * registered with the address it is reached at, because a test cluster's issuer ({@code https://localhost}) is not
 * served where its name says.
 */
final class OidcIssuers {
    private record Issuer(URI reachAt, HttpClient http, Map<String, RSAPublicKey> keys) {
    }

    private final Map<String, Issuer> issuers = new ConcurrentHashMap<>();

    void trust(String issuer, URI reachAt, X509Certificate ca) {
        // HTTP/1.1: the kube-apiserver answers the JDK client's HTTP/2 requests with GOAWAY.
        issuers.put(issuer, new Issuer(reachAt, HttpClient.newBuilder().sslContext(trusting(ca)).version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build(),
                new ConcurrentHashMap<>()));
    }

    boolean trusts(String issuer) {
        return issuers.containsKey(issuer);
    }

    /** The token's claims when its signature verifies with a key the issuer publishes; an AADSTS-style problem otherwise. */
    Verdict verify(String issuer, String token) {
        Issuer i = issuers.get(issuer);
        JsonNode header = Jwt.header(token);
        if (i == null || header == null) {
            return Verdict.problem("AADSTS700027: The client assertion is not signed by a trusted issuer.");
        }
        if (!"RS256".equals(header.path("alg").asText())) {
            return Verdict.problem("AADSTS5002730: Invalid JWT token. Unsupported key for the signing algorithm "
                    + header.path("alg").asText() + ".");
        }
        String kid = header.path("kid").asText();
        RSAPublicKey key = i.keys.get(kid);
        if (key == null) {
            try {
                i.keys.putAll(publishedKeys(issuer, i));
            } catch (IOException | RuntimeException e) {
                return Verdict.problem("AADSTS50166: Request to External OIDC endpoint failed: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Verdict.problem("AADSTS50166: Request to External OIDC endpoint was interrupted.");
            }
            key = i.keys.get(kid);
        }
        JsonNode claims = key == null ? null : Jwt.verify(token, key);
        return claims == null ? Verdict.problem("AADSTS700027: Client assertion failed signature validation with the keys issuer "
                + issuer + " publishes (kid '" + kid + "').") : new Verdict(claims, null);
    }

    record Verdict(JsonNode claims, String problem) {
        static Verdict problem(String problem) {
            return new Verdict(null, problem);
        }
    }

    private static Map<String, RSAPublicKey> publishedKeys(String issuer, Issuer i) throws IOException, InterruptedException {
        JsonNode discovery = get(i, URI.create(issuer + "/.well-known/openid-configuration"));
        if (!issuer.equals(discovery.path("issuer").asText())) {
            throw new IOException("the discovery document names issuer '" + discovery.path("issuer").asText() + "', not '" + issuer + "'");
        }
        JsonNode jwks = get(i, URI.create(discovery.path("jwks_uri").asText()));
        Map<String, RSAPublicKey> keys = new HashMap<>();
        for (JsonNode k : jwks.path("keys")) {
            if ("RSA".equals(k.path("kty").asText())) {
                keys.put(k.path("kid").asText(), rsa(k));
            }
        }
        return keys;
    }

    /** GETs an issuer URL at the address the issuer is reached at (same path and query). */
    private static JsonNode get(Issuer i, URI url) throws IOException, InterruptedException {
        URI at = i.reachAt.resolve(url.getRawPath() + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery()));
        HttpResponse<byte[]> r = i.http.send(HttpRequest.newBuilder(at).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new IOException("GET " + url + " answered " + r.statusCode());
        }
        return Json.parse(r.body());
    }

    private static RSAPublicKey rsa(JsonNode jwk) {
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(
                    new BigInteger(1, Json.unb64(jwk.path("n").asText())), new BigInteger(1, Json.unb64(jwk.path("e").asText()))));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("unusable RSA key " + jwk.path("kid").asText(), e);
        }
    }

    private static SSLContext trusting(X509Certificate ca) {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            store.setCertificateEntry("issuer-ca", ca);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, tmf.getTrustManagers(), null);
            return ssl;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
