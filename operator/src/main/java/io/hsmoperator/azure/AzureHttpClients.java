package io.hsmoperator.azure;

import com.azure.core.http.HttpClient;
import com.azure.core.http.netty.NettyAsyncHttpClientBuilder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Builds the one azure-core HTTP client every Azure SDK client of the operator uses: Netty, with timeouts, trusting the
 * JDK's CAs plus an optional extra CA bundle (how a private cloud endpoint or the emulator is reached).
 */
public final class AzureHttpClients {
    private AzureHttpClients() {
    }

    public static HttpClient create(List<X509Certificate> extraTrust, Duration responseTimeout) {
        try {
            SslContext ssl = SslContextBuilder.forClient().trustManager(trustManagerFactory(extraTrust)).build();
            // Idle connections are closed before a server's idle timeout would, so no request meets a half-closed socket.
            reactor.netty.resources.ConnectionProvider pool = reactor.netty.resources.ConnectionProvider.builder("hsm-operator")
                    .maxConnections(64).maxIdleTime(Duration.ofSeconds(20)).maxLifeTime(Duration.ofMinutes(5)).build();
            reactor.netty.http.client.HttpClient netty = reactor.netty.http.client.HttpClient.create(pool)
                    .secure(spec -> spec.sslContext(ssl));
            return new NettyAsyncHttpClientBuilder(netty)
                    .connectTimeout(Duration.ofSeconds(10))
                    .responseTimeout(responseTimeout)
                    .readTimeout(responseTimeout)
                    .writeTimeout(responseTimeout)
                    .build();
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("Cannot build the TLS trust for Azure clients: " + e.getMessage(), e);
        }
    }

    /** The JDK's default trust anchors plus {@code extra}. */
    public static TrustManagerFactory trustManagerFactory(List<X509Certificate> extra) throws GeneralSecurityException, IOException {
        TrustManagerFactory defaults = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        defaults.init((KeyStore) null);
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        int i = 0;
        for (javax.net.ssl.TrustManager tm : defaults.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                for (X509Certificate c : ((X509TrustManager) tm).getAcceptedIssuers()) {
                    ks.setCertificateEntry("default-" + i++, c);
                }
            }
        }
        for (X509Certificate c : extra) {
            ks.setCertificateEntry("extra-" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        return tmf;
    }

    /** Reads every certificate of a PEM bundle. */
    public static List<X509Certificate> readPemBundle(Path file) {
        try {
            return parsePem(Files.readString(file, StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read the CA bundle " + file + ": " + e.getMessage(), e);
        }
    }

    public static List<X509Certificate> parsePem(String pem) {
        try {
            Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
            List<X509Certificate> out = new ArrayList<>();
            for (Certificate c : certs) {
                out.add((X509Certificate) c);
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("Not a PEM certificate bundle: " + e.getMessage(), e);
        }
    }
}
