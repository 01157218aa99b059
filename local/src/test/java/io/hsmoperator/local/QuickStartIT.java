package io.hsmoperator.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.BufferedReader;
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
 * The README's quick start command, as a newcomer runs it on a machine without a cluster: a real API server is started
 * (from the binaries e2e/kube-binaries builds), the samples converge to Ready (the HsmBackup with a real backup in local
 * mode's Azurite), a digest is signed and verified with the published key ID, and the newcomer's own HsmKey applied with kubectl becomes Ready with its columns shown. Without the
 * binaries it falls back to an in-process mock API, which kubectl can still read.
 */
class QuickStartIT {
    private static final Path KUBECONFIG = Path.of("../.hsm-quickstart", "kubeconfig");
    private static final String MY_KEY = """
            apiVersion: hsmoperator.io/v1alpha1
            kind: HsmKey
            metadata: {name: my-key, namespace: default}
            spec:
              hsmRef: {name: payments-hsm}
              keyType: RSA-HSM
              keySize: 3072
            """;

    @Test
    void onARealApiServerTheSamplesConvergeAndANewcomerAppliesTheirOwnKey() throws Exception {
        Files.deleteIfExists(KUBECONFIG);
        Process p = new ProcessBuilder("../bin/quickstart", "-Dhsm.local.cluster=api-server").redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        try {
            String out = converged(p, lines);
            assertTrue(out.contains("runs against a real Kubernetes API server"), out);
            String kubectl = LocalApiServer.cachedBinaries().orElseThrow().resolve("kubectl").toString();
            assertTrue(out.contains(kubectl + " get hsm"), "the hint names the kubectl that matches the server: " + out);

            Process apply = new ProcessBuilder(kubectl, "--kubeconfig", KUBECONFIG.toString(), "apply", "-f", "-")
                    .redirectErrorStream(true).start();
            apply.getOutputStream().write(MY_KEY.getBytes(StandardCharsets.UTF_8));
            apply.getOutputStream().close();
            String applied = new String(apply.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(apply.waitFor(30, TimeUnit.SECONDS) && apply.exitValue() == 0, applied);
            run(kubectl, "--kubeconfig", KUBECONFIG.toString(), "wait", "--for=condition=Ready", "hsmkey/my-key", "--timeout=90s");

            List<String> table = List.of(run(kubectl, "--kubeconfig", KUBECONFIG.toString(), "get", "hsmkeys").trim().split("\n"));
            assertEquals(List.of("NAME", "READY", "TYPE", "VERSION", "AGE"), List.of(table.get(0).trim().split("\\s+")), table.get(0));
            String mine = table.stream().filter(l -> l.startsWith("my-key ")).findFirst().orElseThrow(() -> new AssertionError(table));
            assertTrue(mine.matches("my-key\\s+True\\s+RSA-HSM\\s+[0-9a-f]{32}\\s+\\S+"), mine);
            String described = run(kubectl, "--kubeconfig", KUBECONFIG.toString(), "describe", "hsmkey", "my-key");
            assertTrue(described.contains("KeyCreated") && described.contains("Created RSA-HSM key"), described);
            String all = run(kubectl, "--kubeconfig", KUBECONFIG.toString(), "get", "hsm");
            assertTrue(all.contains("managedhsm.hsmoperator.io/payments-hsm") && all.contains("hsmkey.hsmoperator.io/my-key"), all);
        } finally {
            stop(p);
        }
    }

    @Test
    void withoutTheBinariesTheInProcessMockStillConvergesAndKubectlCanReadIt() throws Exception {
        Files.deleteIfExists(KUBECONFIG);
        Process p = new ProcessBuilder("../bin/quickstart", "--in-process").redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        try {
            String out = converged(p, lines);
            assertTrue(out.contains("in-process mock Kubernetes API") && out.contains("It is not Kubernetes"), out);
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
            String kubectl = LocalApiServer.cachedBinaries().orElseThrow().resolve("kubectl").toString();
            String listed = run(kubectl, "--kubeconfig", KUBECONFIG.toString(), "get", "hsmkeys", "-o", "jsonpath={.items[0].status.keyId}");
            assertEquals(keyId.group(1), listed.trim(), "kubectl get hsmkeys reads the key's status");
        } finally {
            stop(p);
        }
    }

    @Test
    void exitsWithZeroOnceEverythingIsReady() throws Exception {
        Process p = new ProcessBuilder("../bin/quickstart", "--exit-when-ready").redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        CompletableFuture.runAsync(() -> readUntil(p, lines, "\u0000"));
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the quick start did not exit");
        assertEquals(0, p.exitValue(), () -> String.join("\n", lines));
    }

    /** Waits for the quick start to sign with the published key, checks what every run prints, and returns the output. */
    private static String converged(Process p, List<String> lines) throws Exception {
        CompletableFuture<Boolean> done = CompletableFuture.supplyAsync(() -> readUntil(p, lines, "Press Ctrl+C to stop."));
        boolean finished;
        try {
            finished = done.get(180, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            finished = false;
        }
        // What it printed says where it stopped.
        assertTrue(finished, () -> "the quick start did not finish in 180 s:\n" + String.join("\n", lines));
        String out;
        synchronized (lines) {
            out = String.join("\n", lines);
        }
        assertTrue(out.contains("ManagedHsm/payments-hsm") && out.contains("Ready=True  Ready  The HSM is provisioned, activated"), out);
        assertTrue(out.contains("HsmKey/payments-signing") && out.contains("Ready=True  Ready  Key https://"), out);
        // The sample ManagedHsm is replicated to a second region, which has its own data-plane host.
        assertTrue(Pattern.compile("ManagedHsm payments-hsm: https://127\\.0\\.0\\.1:\\d+/ \\(Active; .*; replica region northeurope "
                + "\\(Succeeded\\) at https://127\\.0\\.0\\.1:\\d+/\\)").matcher(out).find(), out);
        assertTrue(out.contains("All 8 resources are Ready"), "every sample converges: " + out);
        assertTrue(out.contains("HsmRoleDefinition/key-rotator") && out.contains("Ready=True  Ready  Role 'payments key rotator' is defined"), out);
        assertTrue(out.contains("HsmRoleAssignment/rotation-job-rotates Ready=True"), "the sample's custom role is granted: " + out);
        // The sample HsmBackup made a real backup: a folder of blobs in local mode's Azurite, which status names.
        assertTrue(out.contains("HsmBackup/payments-hsm-nightly") && out.contains("Ready=True  Ready  The last backup is https://127.0.0.1:"), out);
        Matcher backup = Pattern.compile("HsmBackup payments-hsm-nightly: backup folder (https://127\\.0\\.0\\.1:\\d+/paymentsbackups/hsm-backups/"
                + "mhsm-\\S+) holds (\\d+) blobs in Azurite").matcher(out);
        assertTrue(backup.find(), out);
        assertTrue(Integer.parseInt(backup.group(2)) > 0, "the backup folder holds the backup's blobs: " + backup.group(0));
        assertTrue(out.contains("HsmRoleAssignment/payments-api-signs Ready=True"), out);
        assertTrue(out.contains("verified by the HSM    true"), "the workload signs through the grant the operator made: " + out);
        assertTrue(out.contains("verified with jwks.json alone, without the HSM: true"), out);
        assertFalse(out.contains("security-domain.json\":") || out.contains("client_secret") || out.contains("eyJ") || out.contains("sig="),
                "no token, SAS, secret or security-domain blob is printed");
        // A newcomer's first screen has no Quarkus warning block about a bean it removed (the informer-stopped handler).
        assertFalse(out.contains("programmatic lookup problem"), out);
        return out;
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
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

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
