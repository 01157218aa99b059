package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Locale;
import java.util.UUID;

/**
 * The Managed HSM data plane of one emulated HSM: keys, cryptography, local RBAC, security domain, backup and settings.
 * <p>
 * This class is the data plane's front door: it answers the bearer challenge, finds the HSM, applies the service
 * limits and routes each path to the class of its API area: {@link KeysApi}, {@link CryptographyApi},
 * {@link AccessControlApi}, {@link SecurityDomainApi}, {@link BackupRestoreApi} and {@link SettingsApi}. Paths under
 * {@code /keys/{name}} belong to three of them (keys, cryptography, selective restore), so it routes those itself and
 * checks their data actions; every other area checks its own.
 */
final class HsmDataPlane {
    private final Emulator emu;
    private final KeysApi keys;
    private final CryptographyApi crypto;
    private final AccessControlApi accessControl;
    private final SecurityDomainApi securityDomain;
    private final BackupRestoreApi backups;
    private final SettingsApi settings;

    HsmDataPlane(Emulator emu) {
        this.emu = emu;
        this.keys = new KeysApi(emu, this);
        this.crypto = new CryptographyApi(emu, this);
        this.accessControl = new AccessControlApi(emu, this);
        this.securityDomain = new SecurityDomainApi(emu, this);
        this.backups = new BackupRestoreApi(emu, this);
        this.settings = new SettingsApi(emu, this);
    }

    /** The keys area, for the service-side rotation the emulator's clock drives. */
    KeysApi keys() {
        return keys;
    }

    private final ServiceLimits limits = new ServiceLimits();

    private boolean limited() {
        return emu.config().serviceLimits() && !emu.controls().serviceLimitsSuspended();
    }

    Http.Response handle(Http.Request r) {
        String auth = r.header("Authorization");
        if (auth == null) {
            return challenge();
        }
        JsonNode claims = emu.entra().validate(auth);
        String aud = claims == null ? "" : claims.path("aud").asText().replaceAll("/+$", "");
        if (claims == null || !aud.equalsIgnoreCase(Entra.HSM_AUDIENCE)) {
            return challenge();
        }
        r.principal = claims.path("oid").asText();
        r.appId = claims.path("appid").asText();
        emu.applyFault(r);
        String region = region(r);
        String name = region == null ? r.endpoint : r.endpoint.substring(0, r.endpoint.indexOf('@'));
        State.Hsm hsm = emu.read(() -> emu.state().hsms.get(name.toLowerCase(Locale.ROOT)));
        if (hsm == null) {
            throw new ApiException(404, "NotFound", "The Managed HSM does not exist or has been deleted.");
        }
        if (region != null) {
            State.Region extended = emu.read(() -> HsmRegions.find(hsm, region));
            if (extended == null || extended.removedAtMillis != 0) {
                throw new ApiException(404, "NotFound", "The Managed HSM has no region " + region + ".");
            }
            if (System.currentTimeMillis() < extended.readyAtMillis) {
                throw new ApiException(503, "ServiceUnavailable", "The region " + region + " of the Managed HSM is being added. Retry "
                        + "after it completes.").header("Retry-After", "5");
            }
        }
        if (System.currentTimeMillis() < hsm.provisionedAtMillis) {
            throw new ApiException(503, "ServiceUnavailable", "The Managed HSM is being provisioned. Retry after provisioning completes.")
                    .header("Retry-After", "5");
        }
        if (r.is(0, "securitydomain")) {
            return securityDomain.handle(r, hsm);
        }
        if (!emu.isActive(hsm)) {
            throw new ApiException(403, "Forbidden", "Managed HSM is not activated. Download the security domain to activate it, or upload one to restore it."
                    + activity());
        }
        int providers = indexOf(r, "providers");
        if (providers >= 0 && r.is(providers + 1, "Microsoft.Authorization")) {
            if (limited()) {
                limits.admit(hsm.name, "RBAC", ServiceLimits.RBAC_OPERATIONS_PER_SECOND);
            }
            return accessControl.handle(r, hsm, providers);
        }
        if (r.is(0, "keys")) {
            boolean creates = r.method.equals("POST") && r.size() == 3 && (r.is(2, "create") || r.is(2, "rotate"));
            if (creates && limited()) {
                limits.admit(hsm.name, "key creation", ServiceLimits.KEY_CREATES_PER_SECOND);
            }
            return routeKeys(r, hsm);
        }
        if (r.is(0, "deletedkeys")) {
            return keys.deletedKeys(r, hsm);
        }
        if (r.is(0, "rng") && r.method.equals("POST")) {
            return crypto.rng(r, hsm);
        }
        if (r.is(0, "settings")) {
            return settings.handle(r, hsm);
        }
        if (r.is(0, "backup") || r.is(0, "prebackup") || r.is(0, "restore") || r.is(0, "prerestore")) {
            return backups.fullBackup(r, hsm);
        }
        throw new ApiException(404, "NotFound", "The requested path was not found: " + r.path + activity());
    }

    /** The extended region whose host a request came to; null for the HSM's own (primary) host. */
    static String region(Http.Request r) {
        int at = r.endpoint.indexOf('@');
        return at < 0 ? null : r.endpoint.substring(at + 1);
    }

    private Http.Response challenge() {
        return Http.Response.empty(401).header("WWW-Authenticate", "Bearer authorization=\"" + emu.baseUrl() + "/"
                + emu.state().tenantId + "\", resource=\"" + Entra.HSM_AUDIENCE + "\"");
    }

    static String activity() {
        return " (Activity ID: " + UUID.randomUUID() + ")";
    }

    static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        KeyCrypto.RANDOM.nextBytes(b);
        return b;
    }

    private static int indexOf(Http.Request r, String seg) {
        for (int i = 0; i < r.size(); i++) {
            if (r.is(i, seg)) {
                return i;
            }
        }
        return -1;
    }

    void check(Http.Request r, State.Hsm hsm, String action, String scope) {
        emu.read(() -> {
            Rbac.check(hsm, r.principal, r.appId, action, scope);
            return null;
        });
    }

    // ---- /keys/{name}/...: keys, cryptography and selective restore share these paths ----------

    private Http.Response routeKeys(Http.Request r, State.Hsm hsm) {
        int n = r.size();
        String m = r.method;
        if (n == 1 && m.equals("GET")) {
            check(r, hsm, "keys/read/action", "/keys");
            return keys.listKeys(r, hsm);
        }
        if (n == 2 && r.is(1, "restore") && m.equals("POST")) {
            check(r, hsm, "keys/restore/action", "/keys");
            return keys.restoreKey(r, hsm);
        }
        String name = r.seg(1);
        String scope = "/keys/" + name;
        if (n == 2) {
            switch (m) {
                case "GET": check(r, hsm, "keys/read/action", scope); return keys.getKey(r, hsm, name, null);
                case "PATCH": check(r, hsm, "keys/write/action", scope); return keys.updateKey(r, hsm, name, null);
                case "DELETE": check(r, hsm, "keys/delete", scope); return keys.deleteKey(r, hsm, name);
                case "PUT": check(r, hsm, "keys/import/action", scope); return keys.importKey(r, hsm, name);
                default: break;
            }
        }
        String third = r.seg(2) == null ? "" : r.seg(2).toLowerCase(Locale.ROOT);
        if (n == 3) {
            switch (third) {
                case "create":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/create", scope);
                        return keys.createKey(r, hsm, name);
                    }
                    break;
                case "versions":
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return keys.listVersions(r, hsm, name);
                    }
                    break;
                case "backup":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/backup/action", scope);
                        return keys.backupKey(r, hsm, name);
                    }
                    break;
                case "rotate":
                    if (m.equals("POST")) {
                        check(r, hsm, "keys/rotate/action", scope);
                        return keys.rotate(r, hsm, name);
                    }
                    break;
                case "rotationpolicy":
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return keys.getPolicy(r, hsm, name);
                    }
                    if (m.equals("PUT")) {
                        // "Setting a rotation policy requires the Key Write permission" (Learn, Configure key auto-rotation).
                        check(r, hsm, "keys/write/action", scope);
                        return keys.putPolicy(r, hsm, name);
                    }
                    break;
                case "restore":
                    if (m.equals("PUT")) {
                        check(r, hsm, "restore/start/action", "/");
                        return backups.selectiveRestore(r, hsm, name);
                    }
                    break;
                case "attestation":
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return keys.getAttestation(r, hsm, name, null);
                    }
                    break;
                case "release":
                    throw ApiException.badParameter("Key release needs an attestation service, which the emulator does not provide."
                            + activity());
                default:
                    if (CryptographyApi.OP_ACTION.containsKey(third) && m.equals("POST")) {
                        check(r, hsm, "keys/" + CryptographyApi.OP_ACTION.get(third) + "/action", scope);
                        return crypto.keyOperation(r, hsm, name, null, third);
                    }
                    if (m.equals("GET")) {
                        check(r, hsm, "keys/read/action", scope);
                        return keys.getKey(r, hsm, name, r.seg(2));
                    }
                    if (m.equals("PATCH")) {
                        check(r, hsm, "keys/write/action", scope);
                        return keys.updateKey(r, hsm, name, r.seg(2));
                    }
            }
        }
        if (n == 4) {
            String op = r.seg(3).toLowerCase(Locale.ROOT);
            if (CryptographyApi.OP_ACTION.containsKey(op) && m.equals("POST")) {
                check(r, hsm, "keys/" + CryptographyApi.OP_ACTION.get(op) + "/action", scope);
                return crypto.keyOperation(r, hsm, name, r.seg(2), op);
            }
            if (op.equals("attestation") && m.equals("GET")) {
                check(r, hsm, "keys/read/action", scope);
                return keys.getAttestation(r, hsm, name, r.seg(2));
            }
            if (op.equals("release")) {
                throw ApiException.badParameter("Key release needs an attestation service, which the emulator does not provide." + activity());
            }
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method " + m + " is not allowed on " + r.path + activity());
    }
}
