package io.hsmoperator.emulator;

import com.azure.core.http.HttpClient;
import com.azure.core.http.netty.NettyAsyncHttpClientBuilder;
import io.netty.handler.ssl.SslContextBuilder;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;

/**
 * How the emulator's clients (the SDK's, the replayer's) reach it: trusting its CA and nothing else. The emulator is
 * tested with the clients a user has, not with the operator's own HTTP client, which it must not depend on.
 */
public final class EmulatorHttp {
    private EmulatorHttp() {
    }

    /** An azure-core client (Netty, as the SDK uses by default) that trusts {@code cas}. */
    public static HttpClient azureClient(List<X509Certificate> cas, Duration timeout) {
        try {
            var ssl = SslContextBuilder.forClient().trustManager(trusting(cas)).build();
            return new NettyAsyncHttpClientBuilder(reactor.netty.http.client.HttpClient.create().secure(spec -> spec.sslContext(ssl)))
                    .responseTimeout(timeout).readTimeout(timeout).writeTimeout(timeout).build();
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A JDK SSL context that trusts {@code cas}. */
    public static SSLContext sslContext(List<X509Certificate> cas) throws GeneralSecurityException, IOException {
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, trusting(cas).getTrustManagers(), null);
        return ssl;
    }

    /** The CA certificate the emulator wrote to its connection file. */
    public static X509Certificate readCa(Path pem) throws GeneralSecurityException, IOException {
        return Tls.readCert(Files.readString(pem));
    }

    private static TrustManagerFactory trusting(List<X509Certificate> cas) throws GeneralSecurityException, IOException {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        for (int i = 0; i < cas.size(); i++) {
            ks.setCertificateEntry("ca-" + i, cas.get(i));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        return tmf;
    }
}
