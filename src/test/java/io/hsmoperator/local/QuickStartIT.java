package io.hsmoperator.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's quick start command, as a newcomer runs it on a machine without a cluster: the samples converge to
 * Ready, a digest is signed and verified with the published key ID, and kubectl can read the in-process API.
 */
class QuickStartIT {
    private static final Path KUBECONFIG = Path.of(".hsm-quickstart", "kubeconfig");

    @Test
    void bringsTheSamplesToReadyAndSignsWithThePublishedKey() throws Exception {
        Files.deleteIfExists(KUBECONFIG);
        Process p = new ProcessBuilder("bin/quickstart", "--in-process").redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        try {
            CompletableFuture<Boolean> done = CompletableFuture.supplyAsync(() -> readUntil(p, lines, "verified with jwks.json alone"));
            assertTrue(done.get(180, TimeUnit.SECONDS), () -> "the quick start did not finish:\n" + String.join("\n", lines));
            String out;
            synchronized (lines) {
                out = String.join("\n", lines);
            }
            assertTrue(out.contains("ManagedHsm/payments-hsm") && out.contains("Ready=True  Ready  The HSM is provisioned, activated"), out);
            assertTrue(out.contains("HsmKey/payments-signing") && out.contains("Ready=True  Ready  Key https://"), out);
            assertTrue(out.contains("All 5 resources are Ready"), "every sample converges: " + out);
            assertTrue(out.contains("HsmRoleAssignment/payments-api-signs Ready=True"), out);
            assertTrue(out.contains("verified by the HSM    true"), "the workload signs through the grant the operator made: " + out);
            assertTrue(out.contains("verified with jwks.json alone, without the HSM: true"), out);
            assertFalse(out.contains("security-domain.json\":") || out.contains("client_secret") || out.contains("eyJ"),
                    "no token, secret or security-domain blob is printed");
            Matcher keyId = Pattern.compile("key ID\\s+(https://\\S+/keys/payments-signing/[0-9a-f]{32})").matcher(out);
            assertTrue(keyId.find(), out);

            // The in-process API serves discovery, so kubectl (and any discovery-driven client) finds the kinds.
            String server = Files.readAllLines(KUBECONFIG).stream().filter(l -> l.trim().startsWith("server:"))
                    .map(l -> l.trim().substring("server:".length()).trim()).findFirst().orElseThrow();
            JsonNode resources = new ObjectMapper().readTree(get(server + "apis/hsmoperator.io/v1alpha1?timeout=32s"));
            JsonNode hsmkeys = null;
            for (JsonNode r : resources.get("resources")) {
                if (r.get("name").asText().equals("hsmkeys")) {
                    hsmkeys = r;
                }
            }
            assertNotNull(hsmkeys, resources.toString());
            assertEquals("hsmkey", hsmkeys.get("shortNames").get(0).asText());
            assertEquals("hsm", hsmkeys.get("categories").get(0).asText());
            if (onPath("kubectl")) {
                String listed = run("kubectl", "--kubeconfig", KUBECONFIG.toString(), "get", "hsmkeys", "-o", "jsonpath={.items[0].status.keyId}");
                assertEquals(keyId.group(1), listed.trim(), "kubectl get hsmkeys reads the key's status");
                String all = run("kubectl", "--kubeconfig", KUBECONFIG.toString(), "get", "hsm");
                assertTrue(all.contains("payments-hsm") && all.contains("payments-signing"), all);
            }
        } finally {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void exitsWithZeroOnceEverythingIsReady() throws Exception {
        Process p = new ProcessBuilder("bin/quickstart", "--in-process", "--exit-when-ready").redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        CompletableFuture.runAsync(() -> readUntil(p, lines, "\u0000"));
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the quick start did not exit");
        assertEquals(0, p.exitValue(), () -> String.join("\n", lines));
    }

    /** Reads the output until a line contains the marker; then keeps draining, so the process never blocks on the pipe. */
    private static boolean readUntil(Process p, List<String> lines, String marker) {
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                synchronized (lines) {
                    lines.add(line);
                }
                if (line.contains(marker)) {
                    CompletableFuture.runAsync(() -> {
                        try {
                            r.transferTo(java.io.Writer.nullWriter());
                        } catch (java.io.IOException ignored) {
                            // the process ended
                        }
                    });
                    return true;
                }
            }
            return false;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static String get(String url) throws Exception {
        SSLContext ssl = SSLContext.getInstance("TLS");
        // The in-process API server's certificate is self-signed for loopback; this reads public discovery data only.
        ssl.init(null, new TrustManager[]{new X509TrustManager() {
            public void checkClientTrusted(X509Certificate[] c, String a) {
            }

            public void checkServerTrusted(X509Certificate[] c, String a) {
            }

            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        }}, null);
        HttpResponse<String> r = HttpClient.newBuilder().sslContext(ssl).build()
                .send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv("PATH").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
