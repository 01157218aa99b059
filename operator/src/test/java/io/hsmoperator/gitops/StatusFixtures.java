package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The status fixtures of {@code src/test/resources/gitops/} (one file per kind, one document per state, named by
 * metadata.name) and what Argo CD's health check and kstatus should make of each: one table for both tests.
 */
final class StatusFixtures {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** A fixture and its expected Argo CD health (what the kind's script returns) and kstatus status. */
    record Case(String kind, String name, String argoCd, String kstatus) {
        JsonNode resource() {
            return load(kind).stream().filter(r -> name.equals(r.path("metadata").path("name").asText())).findFirst()
                    .orElseThrow(() -> new AssertionError("no fixture " + name + " in " + file(kind)));
        }

        @Override
        public String toString() {
            return kind + "/" + name;
        }
    }

    static final List<Case> CASES = List.of(
            // no status: the operator has not looked yet. kstatus counts a resource without conditions as Current.
            new Case("ManagedHsm", "applied", "Progressing", "Current"),
            new Case("ManagedHsm", "first-look", "Progressing", "InProgress"),
            new Case("ManagedHsm", "creating", "Progressing", "InProgress"),
            new Case("ManagedHsm", "activating", "Progressing", "InProgress"),
            new Case("ManagedHsm", "ready", "Healthy", "Current"),
            new Case("ManagedHsm", "spec-changed", "Progressing", "InProgress"),
            new Case("ManagedHsm", "security-domain-not-configured", "Degraded", "Failed"),
            new Case("ManagedHsm", "throttled", "Progressing", "InProgress"),
            new Case("ManagedHsm", "observe-only-ready", "Healthy", "Current"),
            new Case("ManagedHsm", "observe-only-not-activated", "Suspended", "Failed"),
            new Case("ManagedHsm", "observe-only-not-found", "Degraded", "Failed"),
            new Case("HsmKey", "applied", "Progressing", "Current"),
            new Case("HsmKey", "waiting-for-hsm", "Progressing", "InProgress"),
            new Case("HsmKey", "ready", "Healthy", "Current"),
            new Case("HsmKey", "spec-changed", "Progressing", "InProgress"),
            new Case("HsmKey", "invalid-spec", "Degraded", "Failed"),
            new Case("HsmKey", "throttled", "Progressing", "InProgress"),
            new Case("HsmKey", "immutable-field-changed", "Degraded", "Failed"),
            // Argo CD reports a resource being deleted as Progressing before it runs the script; kstatus says Terminating.
            new Case("HsmKey", "deletion-blocked", "Degraded", "Terminating"),
            new Case("HsmRoleDefinition", "applied", "Progressing", "Current"),
            new Case("HsmRoleDefinition", "ready", "Healthy", "Current"),
            new Case("HsmRoleDefinition", "limit-reached", "Degraded", "Failed"),
            new Case("HsmRoleAssignment", "applied", "Progressing", "Current"),
            new Case("HsmRoleAssignment", "propagating", "Progressing", "InProgress"),
            new Case("HsmRoleAssignment", "ready", "Healthy", "Current"),
            new Case("HsmRoleAssignment", "root-scope-not-allowed", "Degraded", "Failed"),
            new Case("HsmRoleAssignment", "permission-denied-retrying", "Progressing", "InProgress"),
            new Case("HsmRoleAssignment", "permission-denied", "Degraded", "Failed"),
            new Case("HsmDiagnostics", "applied", "Progressing", "Current"),
            new Case("HsmDiagnostics", "updating", "Progressing", "InProgress"),
            new Case("HsmDiagnostics", "ready", "Healthy", "Current"),
            new Case("HsmDiagnostics", "spec-changed", "Progressing", "InProgress"),
            new Case("HsmDiagnostics", "ownership-conflict", "Degraded", "Failed"),
            new Case("PrivateEndpoint", "applied", "Progressing", "Current"),
            new Case("PrivateEndpoint", "creating", "Progressing", "InProgress"),
            new Case("PrivateEndpoint", "awaiting-approval", "Progressing", "InProgress"),
            new Case("PrivateEndpoint", "ready", "Healthy", "Current"),
            new Case("PrivateEndpoint", "rejected", "Degraded", "Failed"),
            new Case("PrivateEndpoint", "azure-unavailable", "Progressing", "InProgress"),
            new Case("HsmBackup", "applied", "Progressing", "Current"),
            new Case("HsmBackup", "backing-up", "Progressing", "InProgress"),
            new Case("HsmBackup", "another-job-running", "Progressing", "InProgress"),
            new Case("HsmBackup", "ready", "Healthy", "Current"),
            new Case("HsmBackup", "spec-changed", "Progressing", "InProgress"),
            new Case("HsmBackup", "backup-failed", "Degraded", "Failed"),
            new Case("HsmBackup", "secret-missing", "Degraded", "Failed"),
            new Case("HsmRestore", "applied", "Progressing", "Current"),
            new Case("HsmRestore", "restoring", "Progressing", "InProgress"),
            new Case("HsmRestore", "another-job-running", "Progressing", "InProgress"),
            new Case("HsmRestore", "restored", "Healthy", "Current"),
            new Case("HsmRestore", "restore-failed", "Degraded", "Failed"),
            new Case("HsmRestore", "key-exists", "Degraded", "Failed"));

    private StatusFixtures() {
    }

    static String file(String kind) {
        return "gitops/" + kind.toLowerCase(Locale.ROOT) + ".yaml";
    }

    static List<JsonNode> load(String kind) {
        try (InputStream in = StatusFixtures.class.getClassLoader().getResourceAsStream(file(kind))) {
            if (in == null) {
                throw new AssertionError("missing src/test/resources/" + file(kind));
            }
            List<JsonNode> out = new ArrayList<>();
            try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(in)) {
                it.forEachRemaining(out::add);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The Ready condition of a fixture, or null. */
    static JsonNode condition(JsonNode resource, String type) {
        for (JsonNode c : resource.path("status").path("conditions")) {
            if (type.equals(c.path("type").asText())) {
                return c;
            }
        }
        return null;
    }
}
