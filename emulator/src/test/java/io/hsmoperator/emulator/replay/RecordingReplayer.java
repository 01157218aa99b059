package io.hsmoperator.emulator.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.Json;

import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.net.ssl.SSLContext;
import java.math.BigInteger;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replays real recorded Azure traffic (Azure SDK test-proxy recordings) against the emulator: requests in order, with
 * values Azure generated carried forward from earlier responses, comparing status codes and the shape of each JSON
 * response (field names, JSON types, fixed values such as kty or error codes; arrays whose order varies as sets).
 */
public final class RecordingReplayer {
    /** Fields whose values are fixed facts of the service, compared exactly. */
    private static final Set<String> FIXED = Set.of("kty", "crv", "recoveryLevel", "recoverableDays", "code", "type", "status",
            "provisioningState", "actionsRequired", "activationStatus", "key_format", "nameAvailable", "reason", "enableSoftDelete");
    /** Objects whose keys are data (tags), compared as string maps. */
    private static final Set<String> MAPS = Set.of("tags");
    /** Arrays of fixed values whose order varies: compared as sets. */
    private static final Set<String> VALUE_SETS = Set.of("key_ops");
    private static final Pattern KID = Pattern.compile("\"kid\"\\s*:\\s*\"https://[^\"/]+/keys/([^\"/]+)");

    public record Outcome(String name, int entries, boolean passed, String detail) {
        public String line() {
            return String.format(Locale.ROOT, "%-4s %-78s %4d entries  %s", passed ? "PASS" : "FAIL", name, entries,
                    detail == null ? "" : detail);
        }
    }

    private final Emulator emulator;
    private final HttpClient http;
    private final Map<String, String> tokens = new HashMap<>();
    private final List<X509Certificate> officerCertificates = new ArrayList<>();

    public RecordingReplayer(Emulator emulator) throws Exception {
        this.emulator = emulator;
        SSLContext ssl = io.hsmoperator.emulator.EmulatorHttp.sslContext(List.of(emulator.caCertificate()));
        this.http = HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(10)).build();
        java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        for (int i = 0; i < 3; i++) {
            officerCertificates.add(emulator.issueCertificate("replay-officer-" + i, g.generateKeyPair().getPublic()));
        }
    }

    public Outcome replay(Path file) {
        String name = file.getFileName().toString().replace(".json", "");
        JsonNode recording;
        try {
            recording = Json.MAPPER.readTree(file.toFile());
        } catch (Exception e) {
            return new Outcome(name, 0, false, "unreadable: " + e.getMessage());
        }
        List<JsonNode> entries = new ArrayList<>();
        recording.path("Entries").forEach(entries::add);
        try {
            Session s = new Session(recording, entries);
            String mismatch = s.run();
            return new Outcome(name, entries.size(), mismatch == null, mismatch);
        } catch (Exception e) {
            return new Outcome(name, entries.size(), false, "replay error: " + e);
        }
    }

    /** One recording's replay: its substitutions, its HSM and its position. */
    private final class Session {
        private final JsonNode recording;
        private final List<JsonNode> entries;
        private final boolean arm;
        private final Map<String, String> subs = new LinkedHashMap<>();
        private final Map<String, JsonNode> jwkByKey = new HashMap<>();
        private String base;

        Session(JsonNode recording, List<JsonNode> entries) {
            this.recording = recording;
            this.entries = entries;
            this.arm = !entries.isEmpty() && entries.get(0).path("RequestUri").asText().startsWith("https://management.azure.com");
        }

        String run() throws Exception {
            if (arm) {
                base = emulator.baseUrl();
                subs.put("https://management.azure.com", base);
                String tenant = recording.path("Variables").path("TENANT_ID").asText(null);
                if (tenant != null) {
                    subs.put(tenant, emulator.tenantId());
                }
            } else {
                base = newHsm();
                subs.put("https://REDACTED", base);
                // The .NET and JavaScript suites keep their HSM's (sanitized or real) host name: it is the HSM under test.
                URI first = URI.create(entries.get(0).path("RequestUri").asText());
                subs.put(first.getScheme() + "://" + first.getRawAuthority(), base);
                prepopulate();
            }
            for (int i = 0; i < entries.size(); ) {
                int end = pollGroupEnd(i);
                String mismatch = end > i ? poll(i, end) : step(i, entries.get(i));
                if (mismatch != null) {
                    return "entry " + i + " " + entries.get(i).path("RequestMethod").asText() + " " + path(entries.get(i)) + ": " + mismatch;
                }
                i = end + 1;
            }
            return null;
        }

        private String path(JsonNode e) {
            String u = e.path("RequestUri").asText();
            return u.replaceFirst("^https://[^/]+", "");
        }

        // ---- one request ----------------------------------------------------------------------

        private String step(int index, JsonNode e) throws Exception {
            HttpResponse<byte[]> resp = send(e);
            return compareAndLearn(e, resp);
        }

        private HttpResponse<byte[]> send(JsonNode e) throws Exception {
            String method = e.path("RequestMethod").asText();
            String uri = substitute(e.path("RequestUri").asText()).replace("api-version=**", "api-version=2023-02-01");
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(60));
            JsonNode headers = e.path("RequestHeaders");
            String contentType = headers.path("Content-Type").asText(null);
            if (contentType != null) {
                b.header("Content-Type", contentType);
            }
            if (headers.has("Authorization")) {
                b.header("Authorization", "Bearer " + token(arm ? "https://management.core.windows.net//.default"
                        : "https://managedhsm.azure.net/.default"));
            }
            JsonNode body = e.get("RequestBody");
            String text = body == null || body.isNull() ? null : body.isTextual() ? body.asText() : Json.string(body);
            if (text != null && !text.isEmpty()) {
                text = reencrypt(e, substitute(text));
            }
            b.method(method, text == null || text.isEmpty() ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(text));
            return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        }

        /** Decrypt/unwrap requests carry ciphertext made with the recorded key's public key: redo it with ours. */
        private String reencrypt(JsonNode e, String body) throws Exception {
            String p = path(e).toLowerCase(Locale.ROOT);
            if (!e.path("RequestMethod").asText().equals("POST") || !(p.contains("/decrypt") || p.contains("/unwrapkey"))) {
                return body;
            }
            JsonNode req = Json.parse(body);
            String alg = req.path("alg").asText();
            JsonNode recordedPlain = e.path("ResponseBody").path("value");
            Matcher m = Pattern.compile("/keys/([^/?]+)/").matcher(p);
            if (!alg.startsWith("RSA") || recordedPlain.isMissingNode() || !m.find()) {
                return body;
            }
            JsonNode jwk = jwkByKey.get(m.group(1));
            if (jwk == null) {
                return body;
            }
            PublicKey key = KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(
                    new BigInteger(1, Json.unb64(jwk.path("n").asText())), new BigInteger(1, Json.unb64(jwk.path("e").asText()))));
            Cipher c;
            if (alg.equals("RSA1_5")) {
                c = Cipher.getInstance("RSA/ECB/PKCS1Padding");
                c.init(Cipher.ENCRYPT_MODE, key);
            } else {
                c = Cipher.getInstance("RSA/ECB/OAEPPadding");
                boolean sha256 = alg.equals("RSA-OAEP-256");
                c.init(Cipher.ENCRYPT_MODE, key, new OAEPParameterSpec(sha256 ? "SHA-256" : "SHA-1", "MGF1",
                        sha256 ? MGF1ParameterSpec.SHA256 : MGF1ParameterSpec.SHA1, PSource.PSpecified.DEFAULT));
            }
            ((ObjectNode) req).put("value", Json.b64u(c.doFinal(Json.unb64(recordedPlain.asText()))));
            return Json.string(req);
        }

        private String compareAndLearn(JsonNode e, HttpResponse<byte[]> resp) {
            int want = e.path("StatusCode").asInt();
            if (resp.statusCode() != want) {
                return "status " + resp.statusCode() + ", recorded " + want + " (" + new String(resp.body(), StandardCharsets.UTF_8) + ")";
            }
            if (want == 401 && !arm) {
                String challenge = resp.headers().firstValue("WWW-Authenticate").orElse("");
                if (!challenge.startsWith("Bearer authorization=\"https://") || !challenge.contains("resource=\"https://managedhsm.azure.net\"")) {
                    return "the 401 has no Managed HSM challenge: " + challenge;
                }
            }
            learnHeaders(e.path("ResponseHeaders"), resp);
            JsonNode recorded = e.get("ResponseBody");
            if (recorded == null || !(recorded.isObject() || recorded.isArray())) {
                return null;
            }
            JsonNode ours;
            try {
                ours = Json.parse(resp.body());
            } catch (RuntimeException ex) {
                return "the response is not JSON";
            }
            if (ours == null) {
                return "empty body where Azure answered JSON";
            }
            String mismatch = shape(recorded, ours, "$", null);
            if (mismatch == null) {
                learn(recorded, ours);
                rememberKeys(ours);
            }
            return mismatch;
        }

        // ---- polling --------------------------------------------------------------------------

        /** Consecutive identical requests whose responses show an operation in progress: a poll loop. */
        private int pollGroupEnd(int i) {
            JsonNode first = entries.get(i);
            int end = i;
            boolean inProgress = false;
            while (end + 1 < entries.size() && same(first, entries.get(end + 1))) {
                inProgress |= inProgress(entries.get(end));
                end++;
            }
            return inProgress ? end : i;
        }

        private boolean same(JsonNode a, JsonNode b) {
            return a.path("RequestMethod").asText().equals(b.path("RequestMethod").asText())
                    && a.path("RequestUri").asText().equals(b.path("RequestUri").asText())
                    && String.valueOf(a.get("RequestBody")).equals(String.valueOf(b.get("RequestBody")));
        }

        private boolean inProgress(JsonNode e) {
            if (e.path("StatusCode").asInt() == 202) {
                return true;
            }
            JsonNode body = e.path("ResponseBody");
            String status = body.path("status").asText("");
            String state = body.path("properties").path("provisioningState").asText("");
            return status.equals("InProgress") || List.of("Provisioning", "Updating", "Deleting", "Activated").contains(state);
        }

        private String poll(int first, int last) throws Exception {
            JsonNode finalEntry = entries.get(last);
            for (int attempt = 0; attempt < 400; attempt++) {
                HttpResponse<byte[]> resp = send(entries.get(first));
                if (!progressOf(resp).equals(progressOf(finalEntry))) {
                    String mismatch = compareAndLearn(entries.get(first), resp);
                    if (mismatch != null) {
                        return "while polling: " + mismatch;
                    }
                    Thread.sleep(50);
                    continue;
                }
                return compareAndLearn(finalEntry, resp);
            }
            return "polling never reached the recorded final state " + progressOf(finalEntry);
        }

        private String progressOf(JsonNode e) {
            JsonNode body = e.path("ResponseBody");
            return e.path("StatusCode").asInt() + "/" + body.path("status").asText("") + "/"
                    + body.path("properties").path("provisioningState").asText("");
        }

        private String progressOf(HttpResponse<byte[]> resp) {
            JsonNode body = null;
            try {
                body = Json.parse(resp.body());
            } catch (RuntimeException ignored) {
                // not JSON
            }
            body = body == null ? Json.object() : body;
            return resp.statusCode() + "/" + body.path("status").asText("") + "/" + body.path("properties").path("provisioningState").asText("");
        }

        // ---- carrying values forward ----------------------------------------------------------

        private String substitute(String s) {
            List<String> keys = new ArrayList<>(subs.keySet());
            keys.sort(Comparator.comparingInt(String::length).reversed());
            for (String k : keys) {
                s = s.replace(k, subs.get(k));
            }
            return s;
        }

        private void learnHeaders(JsonNode recorded, HttpResponse<byte[]> resp) {
            for (String h : List.of("Location", "Azure-AsyncOperation", "azure-asyncoperation")) {
                String rec = recorded.path(h).asText(null);
                String ours = resp.headers().firstValue(h).orElse(null);
                if (rec != null && ours != null) {
                    learnString(rec, ours);
                }
            }
        }

        /** Pairs up values Azure generated (different in our response) so later requests can name ours. */
        private void learn(JsonNode rec, JsonNode ours) {
            if (rec.isObject() && ours.isObject()) {
                rec.fields().forEachRemaining(f -> {
                    if (ours.has(f.getKey())) {
                        learn(f.getValue(), ours.get(f.getKey()));
                    }
                });
            } else if (rec.isArray() && ours.isArray() && rec.size() == ours.size() && rec.size() == 1) {
                learn(rec.get(0), ours.get(0));
            } else if (rec.isTextual() && ours.isTextual()) {
                learnString(rec.asText(), ours.asText());
            }
        }

        private void learnString(String rec, String ours) {
            if (rec.equals(ours) || rec.length() < 8) {
                return;
            }
            if (rec.startsWith("https://") && ours.startsWith("https://")) {
                String[] a = rec.split("[/?&=]");
                String[] b = ours.split("[/?&=]");
                if (a.length == b.length) {
                    for (int i = 0; i < a.length; i++) {
                        if (!a[i].equals(b[i]) && a[i].length() >= 8 && !a[i].equals("REDACTED")) {
                            subs.put(a[i], b[i]);
                        }
                    }
                    return;
                }
            }
            subs.put(rec, ours);
        }

        private void rememberKeys(JsonNode ours) {
            JsonNode key = ours.path("key");
            Matcher m = Pattern.compile("/keys/([^/]+)/").matcher(key.path("kid").asText(""));
            if (m.find() && key.has("n")) {
                jwkByKey.put(m.group(1).toLowerCase(Locale.ROOT), key);
            }
        }

        // ---- set-up ---------------------------------------------------------------------------

        /** An activated HSM (retention 7 days, no purge protection) where the principal holds every key role. */
        private String newHsm() throws Exception {
            String name = "replay-" + UUID.randomUUID().toString().substring(0, 8);
            String principal = emulator.builtInPrincipal().objectId();
            String id = base(emulator.baseUrl()) + "/subscriptions/6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f/resourceGroups/rg-replay/providers/"
                    + "Microsoft.KeyVault/managedHSMs/" + name + "?api-version=2025-05-01";
            ObjectNode body = Json.object().put("location", "westeurope");
            body.putObject("sku").put("family", "B").put("name", "Standard_B1");
            body.putObject("properties").put("tenantId", emulator.tenantId()).put("softDeleteRetentionInDays", 7)
                    .put("enablePurgeProtection", false).putArray("initialAdminObjectIds").add(principal);
            String armToken = token("https://management.core.windows.net//.default");
            JsonNode created = call("PUT", id, Json.string(body), armToken, 200);
            String hsmUri = created.path("properties").path("hsmUri").asText().replaceAll("/$", "");
            for (int i = 0; i < 200; i++) {
                if (call("GET", id, null, armToken, 200).path("properties").path("provisioningState").asText().equals("Succeeded")) {
                    break;
                }
                Thread.sleep(50);
            }
            String hsmToken = token("https://managedhsm.azure.net/.default");
            ObjectNode sd = Json.object().put("required", 2);
            var certs = sd.putArray("certificates");
            for (X509Certificate c : officerCertificates) {
                ObjectNode jwk = certs.addObject().put("kty", "RSA");
                jwk.putArray("x5c").add(Base64.getEncoder().encodeToString(c.getEncoded()));
                jwk.put("x5t#S256", Json.b64u(MessageDigest.getInstance("SHA-256").digest(c.getEncoded())));
            }
            call("POST", hsmUri + "/securitydomain/download?api-version=7.5", Json.string(sd), hsmToken, 202);
            for (int i = 0; i < 200; i++) {
                if (call("GET", hsmUri + "/securitydomain/download/pending", null, hsmToken, 200).path("status").asText().equals("Success")) {
                    break;
                }
                Thread.sleep(50);
            }
            for (String role : List.of("21dbd100-6940-42c2-9190-5d6cb909625b", "515eb02d-2335-4d2d-92f2-b1cbdf9c3778")) {
                ObjectNode ra = Json.object();
                ra.putObject("properties").put("roleDefinitionId", "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + role)
                        .put("principalId", principal);
                call("PUT", hsmUri + "///providers/Microsoft.Authorization/roleAssignments/" + UUID.randomUUID() + "?api-version=7.5",
                        Json.string(ra), hsmToken, 201);
            }
            return hsmUri;
        }

        /** Keys the recording lists but does not create existed in the recorded HSM before: create them first. */
        private void prepopulate() throws Exception {
            Set<String> created = new LinkedHashSet<>();
            Set<String> listed = new TreeSet<>();
            Pattern createPath = Pattern.compile("/keys/([^/?]+)(/create)?\\?");
            for (JsonNode e : entries) {
                String p = path(e);
                String m = e.path("RequestMethod").asText();
                Matcher cm = createPath.matcher(p);
                if (cm.find() && (cm.group(2) != null && m.equals("POST") || cm.group(2) == null && m.equals("PUT"))) {
                    created.add(cm.group(1));
                }
                if (m.equals("GET") && p.matches("/keys(\\?.*)?")) {
                    Matcher k = KID.matcher(String.valueOf(e.get("ResponseBody")));
                    while (k.find()) {
                        listed.add(k.group(1));
                    }
                }
            }
            listed.removeAll(created);
            String hsmToken = token("https://managedhsm.azure.net/.default");
            for (String name : listed) {
                call("POST", base + "/keys/" + name + "/create?api-version=7.5", "{\"kty\":\"EC-HSM\"}", hsmToken, 200);
            }
        }

        private String base(String s) {
            return s.replaceAll("/$", "");
        }
    }

    // ---- comparison ------------------------------------------------------------------------------

    /** Null when {@code ours} has the recorded shape; otherwise the first difference. */
    static String shape(JsonNode rec, JsonNode ours, String path, String field) {
        if (rec.getNodeType() != ours.getNodeType() && !(rec.isNumber() && ours.isNumber())) {
            return path + ": " + ours.getNodeType() + " where Azure answered " + rec.getNodeType();
        }
        if (rec.isObject()) {
            if (field != null && MAPS.contains(field)) {
                for (Iterator<JsonNode> it = ours.elements(); it.hasNext(); ) {
                    if (!it.next().isTextual()) {
                        return path + ": a map of strings was expected";
                    }
                }
                return null;
            }
            Set<String> want = new TreeSet<>();
            rec.fieldNames().forEachRemaining(want::add);
            Set<String> have = new TreeSet<>();
            ours.fieldNames().forEachRemaining(have::add);
            if (!want.equals(have)) {
                Set<String> missing = new TreeSet<>(want);
                missing.removeAll(have);
                Set<String> extra = new TreeSet<>(have);
                extra.removeAll(want);
                return path + ": fields differ; missing " + missing + ", unexpected " + extra;
            }
            for (String f : want) {
                String m = shape(rec.get(f), ours.get(f), path + "." + f, f);
                if (m != null) {
                    return m;
                }
            }
            return null;
        }
        if (rec.isArray()) {
            if (rec.isEmpty() != ours.isEmpty()) {
                return path + ": " + (ours.isEmpty() ? "empty where Azure answered items" : "items where Azure answered none");
            }
            if (field != null && VALUE_SETS.contains(field)) {
                Set<String> a = new TreeSet<>();
                rec.forEach(x -> a.add(x.asText()));
                Set<String> b = new TreeSet<>();
                ours.forEach(x -> b.add(x.asText()));
                return a.equals(b) ? null : path + ": " + b + " where Azure answered " + a;
            }
            for (JsonNode mine : ours) {
                String closest = null;
                for (JsonNode r : rec) {
                    String m = shape(r, mine, path + "[]", field);
                    if (m == null) {
                        closest = null;
                        break;
                    }
                    closest = closest == null ? m : closest;
                }
                if (closest != null) {
                    return closest;
                }
            }
            return null;
        }
        if (field != null && FIXED.contains(field) && !rec.asText().equals(ours.asText())) {
            return path + ": '" + ours.asText() + "' where Azure answered '" + rec.asText() + "'";
        }
        return null;
    }

    // ---- plumbing ----------------------------------------------------------------------------

    private String token(String scope) throws Exception {
        String cached = tokens.get(scope);
        if (cached != null) {
            return cached;
        }
        Emulator.Principal p = emulator.builtInPrincipal();
        String form = "grant_type=client_credentials&client_id=" + p.clientId() + "&client_secret="
                + URLEncoder.encode(p.clientSecret(), StandardCharsets.UTF_8) + "&scope=" + URLEncoder.encode(scope, StandardCharsets.UTF_8);
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(emulator.baseUrl() + "/" + emulator.tenantId()
                + "/oauth2/v2.0/token")).header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form)).build(), HttpResponse.BodyHandlers.ofByteArray());
        String token = Json.parse(r.body()).path("access_token").asText();
        tokens.put(scope, token);
        return token;
    }

    private JsonNode call(String method, String uri, String body, String token, int expected) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(uri)).header("Authorization", "Bearer " + token)
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != expected) {
            throw new IllegalStateException(method + " " + uri + " answered " + r.statusCode() + ": " + new String(r.body(), StandardCharsets.UTF_8));
        }
        JsonNode parsed = Json.parse(r.body());
        return parsed == null ? Json.object() : parsed;
    }
}
