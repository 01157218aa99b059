package io.hsmoperator.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Helm chart (helm/hsm-operator), linted and rendered by the Helm inside helm-java (no helm binary needed). If that
 * Helm cannot run here, these tests fail: they never skip.
 */
class HelmChartTest {
    static final Path CHART = Chart.DIR;
    static final String NS = "hsm-system";
    static final String CLIENT_ID = "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    static final String TENANT_ID = "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f";
    static final Set<String> KINDS = Set.of("managedhsms", "hsmkeys", "hsmroleassignments", "hsmdiagnostics", "privateendpoints",
            "hsmbackups", "hsmrestores", "hsmroledefinitions");

    @Test
    void lintStrictPasses() {
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertFalse(lint.isFailed(), () -> "helm lint --strict: " + String.join("\n", lint.getMessages()));
    }

    @Test
    void defaults() {
        List<JsonNode> docs = render(Map.of());
        assertLeastPrivilege(docs);
        assertRestrictedPod(docs);
        assertTrue(find(docs, "PodDisruptionBudget").isEmpty(), "no PodDisruptionBudget with one replica");
        assertTrue(find(docs, "ServiceMonitor").isEmpty(), "ServiceMonitor off by default");
        JsonNode service = one(docs, "Service");
        assertEquals(8080, service.at("/spec/ports/0/port").asInt());
        // Watching all namespaces: the namespaced work rules are in a ClusterRole, Secrets only in a Role in the release namespace.
        JsonNode clusterRole = named(docs, "ClusterRole", "hsm-operator");
        assertTrue(grants(clusterRole, "hsmoperator.io", "managedhsms", "watch"));
        assertEquals(List.of(NS), namespacesOfRolesGranting(docs, "", "secrets"));
        assertEquals("JOSDK_ALL_NAMESPACES", env(docs, "QUARKUS_OPERATOR_SDK_NAMESPACES"));
        assertEquals("true", env(docs, "HSM_LEADER_ELECTION_ENABLED"));
        assertEquals("hsm-operator:0.1.0-SNAPSHOT", container(docs).path("image").asText(), "the tag defaults to the appVersion");
        assertEquals(List.of("java", "-XX:MaxRAMPercentage=75.0", "-XX:+UseSerialGC", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30",
                "-XX:TieredStopAtLevel=1", "-Djava.io.tmpdir=/tmp",
                "-Djava.util.logging.manager=org.jboss.logmanager.LogManager", "-jar", "/deployments/quarkus-run.jar"),
                strings(container(docs).path("command")));
        JsonNode operator = container(docs);
        assertEquals("/q/health/started", operator.at("/startupProbe/httpGet/path").asText());
        assertEquals("/q/health/live", operator.at("/livenessProbe/httpGet/path").asText());
        assertEquals("/q/health/ready", operator.at("/readinessProbe/httpGet/path").asText());
        for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
            assertEquals("http", operator.at("/" + probe + "/httpGet/port").asText(), probe + " on the http port");
        }
        assertEquals(8080, stream(operator.path("ports")).filter(p -> p.path("name").asText().equals("http")).findFirst().orElseThrow()
                .path("containerPort").asInt(), "the http port the probes name is 8080");
        assertTrue(operator.at("/startupProbe/periodSeconds").asInt() * operator.at("/startupProbe/failureThreshold").asInt() >= 60,
                "a minute at least to start before liveness counts");
        assertEquals("false", env(docs, "QUARKUS_LOG_CONSOLE_JSON_ENABLED"), "text logs by default");
    }

    @Test
    void jsonLogsWhenAsked() {
        assertEquals("true", env(render(Map.of("logFormat", "json")), "QUARKUS_LOG_CONSOLE_JSON_ENABLED"));
        IllegalStateException format = assertThrows(IllegalStateException.class, () -> render(Map.of("logFormat", "xml")));
        assertTrue(format.getMessage().contains("logFormat"), format.getMessage());
    }

    @Test
    void threeReplicasGetADisruptionBudget() {
        List<JsonNode> docs = render(Map.of("replicas", "3"));
        assertLeastPrivilege(docs);
        assertRestrictedPod(docs);
        assertEquals(3, one(docs, "Deployment").at("/spec/replicas").asInt());
        assertEquals(1, one(docs, "PodDisruptionBudget").at("/spec/minAvailable").asInt());
    }

    @Test
    void namespaceListGetsRolesPerNamespace() {
        List<JsonNode> docs = render(Map.of("watch.mode", "list", "watch.namespaces[0]", "team-a", "watch.namespaces[1]", "team-b"));
        assertLeastPrivilege(docs);
        for (String ns : List.of("team-a", "team-b")) {
            JsonNode role = docs.stream().filter(d -> kind(d, "Role") && ns.equals(d.at("/metadata/namespace").asText())
                    && grants(d, "hsmoperator.io", "hsmkeys", "patch")).findFirst().orElseThrow(() -> new AssertionError("no Role in " + ns));
            assertTrue(grants(role, "", "configmaps", "create"));
            assertFalse(grants(role, "apps", "deployments", "patch"), "workload restarts are off unless enabled");
            assertTrue(docs.stream().anyMatch(d -> kind(d, "RoleBinding") && ns.equals(d.at("/metadata/namespace").asText())
                    && d.at("/roleRef/name").asText().equals(role.at("/metadata/name").asText())), "RoleBinding in " + ns);
        }
        // No ClusterRole grants the namespaced resources, nor any write on the operator's kinds: only reads of them
        // (cross-namespace references, the ManagedHsm informer and the deletion check read them in any namespace).
        for (JsonNode cr : find(docs, "ClusterRole")) {
            for (JsonNode rule : cr.path("rules")) {
                Set<String> groups = Set.copyOf(strings(rule.path("apiGroups")));
                if (strings(rule.path("resources")).equals(List.of("namespaces"))) {
                    continue; // cluster-scoped: the kube-system namespace, read by name (checked in assertLeastPrivilege)
                }
                assertFalse(groups.contains("") || groups.contains("apps") || groups.contains("coordination.k8s.io"),
                        "ClusterRole " + cr.at("/metadata/name").asText() + " grants namespaced resources: " + rule);
                if (groups.contains("hsmoperator.io")) {
                    assertTrue(Set.of("get", "list", "watch").containsAll(strings(rule.path("verbs"))), "read-only: " + rule);
                }
            }
        }
        assertEquals("team-a,team-b", env(docs, "QUARKUS_OPERATOR_SDK_NAMESPACES"));
    }

    @Test
    void theOperatorsWarningsUseTheAlertsThresholds() {
        List<JsonNode> defaults = render(Map.of());
        assertEquals("PT1209600S", env(defaults, "HSM_WARNINGS_KEY_EXPIRING_WITHIN"), "HsmKeyExpiringSoon's 14 days, not 1.2096e+06");
        assertEquals("0.9", env(defaults, "HSM_WARNINGS_HSM_KEYS_NEAR_LIMIT_RATIO"));
        // (--set passes 0.75 as a string, which the schema refuses; 1 is a number)
        List<JsonNode> tuned = render(Map.of("metrics.prometheusRule.keyExpiringWithinSeconds", "2592000",
                "metrics.prometheusRule.hsmKeysNearLimitRatio", "1"));
        assertEquals("PT2592000S", env(tuned, "HSM_WARNINGS_KEY_EXPIRING_WITHIN"));
        assertEquals("1", env(tuned, "HSM_WARNINGS_HSM_KEYS_NEAR_LIMIT_RATIO"));
    }

    @Test
    void workloadRestartsAreOffByDefaultAndOnlyWhereAllowedWhenOn() {
        for (Map<String, String> values : List.of(Map.<String, String>of(), Map.of("watch.mode", "own"),
                Map.of("watch.mode", "list", "watch.namespaces[0]", "team-a"))) {
            List<JsonNode> docs = render(values);
            assertEquals(List.of(), namespacesOfRolesGranting(docs, "apps", "deployments"), "no Deployment patch by default: " + values);
            assertEquals(List.of(), namespacesOfRolesGranting(docs, "apps", "statefulsets"), values.toString());
            assertTrue(find(docs, "ClusterRole").stream().noneMatch(cr -> grants(cr, "apps", "deployments", "patch")));
            assertEquals("false", env(docs, "HSM_PUBLISH_RESTART_WORKLOADS"), "the operator is told restarts are off");
        }

        List<JsonNode> listed = render(Map.of("workloadRestarts.enabled", "true", "workloadRestarts.namespaces[0]", "payments"));
        assertLeastPrivilege(listed);
        assertEquals(List.of("payments"), namespacesOfRolesGranting(listed, "apps", "deployments"));
        assertEquals(List.of("payments"), namespacesOfRolesGranting(listed, "apps", "statefulsets"));
        assertTrue(find(listed, "ClusterRole").stream().noneMatch(cr -> grants(cr, "apps", "deployments", "patch")),
                "never cluster-wide, even when watching every namespace");
        assertEquals("true", env(listed, "HSM_PUBLISH_RESTART_WORKLOADS"));
        assertEquals("payments", env(listed, "HSM_PUBLISH_RESTART_NAMESPACES"));

        List<JsonNode> watched = render(Map.of("workloadRestarts.enabled", "true", "watch.mode", "list", "watch.namespaces[0]", "team-a",
                "watch.namespaces[1]", "team-b"));
        assertLeastPrivilege(watched);
        assertEquals(List.of("team-a", "team-b"), namespacesOfRolesGranting(watched, "apps", "deployments"),
                "the watched namespaces unless listed");
        assertEquals("team-a,team-b", env(watched, "HSM_PUBLISH_RESTART_NAMESPACES"));

        IllegalStateException everywhere = assertThrows(IllegalStateException.class, () -> render(Map.of("workloadRestarts.enabled", "true")));
        assertTrue(everywhere.getMessage().contains("workloadRestarts.namespaces"), everywhere.getMessage());
    }

    @Test
    void theClusterIdentityIsReadableInEveryWatchModeUnlessConfigured() {
        for (Map<String, String> values : List.of(Map.<String, String>of(), Map.of("watch.mode", "own"),
                Map.of("watch.mode", "list", "watch.namespaces[0]", "team-a"))) {
            List<JsonNode> docs = render(values);
            assertTrue(find(docs, "ClusterRole").stream().anyMatch(cr -> grants(cr, "", "namespaces", "get")),
                    "the operator reads the kube-system namespace's UID (" + values + ")");
            assertTrue(stream(container(docs).path("env")).noneMatch(e -> e.path("name").asText().equals("HSM_CLUSTER_ID")),
                    "no cluster identity is configured by default");
        }
        List<JsonNode> named = render(Map.of("clusterId", "prod-weu"));
        assertTrue(find(named, "ClusterRole").stream().noneMatch(cr -> grants(cr, "", "namespaces", "get")),
                "with clusterId set, no namespace is read");
        assertEquals("prod-weu", env(named, "HSM_CLUSTER_ID"));
    }

    @Test
    void ownNamespace() {
        List<JsonNode> docs = render(Map.of("watch.mode", "own"));
        assertLeastPrivilege(docs);
        assertEquals(NS, env(docs, "QUARKUS_OPERATOR_SDK_NAMESPACES"));
        assertTrue(find(docs, "ClusterRole").stream().noneMatch(cr -> grants(cr, "hsmoperator.io", "hsmkeys", "patch")));
    }

    @Test
    void workloadIdentity() {
        List<JsonNode> docs = render(Map.of("azure.workloadIdentity.clientId", CLIENT_ID, "azure.workloadIdentity.tenantId", TENANT_ID));
        assertLeastPrivilege(docs);
        JsonNode sa = one(docs, "ServiceAccount");
        assertEquals(CLIENT_ID, sa.at("/metadata/annotations").path("azure.workload.identity/client-id").asText());
        assertEquals(TENANT_ID, sa.at("/metadata/annotations").path("azure.workload.identity/tenant-id").asText());
        JsonNode deployment = one(docs, "Deployment");
        assertEquals("true", deployment.at("/spec/template/metadata/labels").path("azure.workload.identity/use").asText());
        assertEquals(sa.at("/metadata/name").asText(), deployment.at("/spec/template/spec/serviceAccountName").asText());
        assertEquals("workload-identity", env(docs, "HSM_AZURE_CREDENTIAL"));
        assertTrue(find(docs, "Role").stream().noneMatch(r -> r.at("/metadata/name").asText().endsWith("-azure-credential")));
    }

    @Test
    void clientSecretReadsOnlyThatSecret() {
        List<JsonNode> docs = render(Map.of("azure.credential", "client-secret", "azure.clientSecret.secretName", "hsm-operator-azure",
                "azure.clientSecret.tenantId", TENANT_ID, "azure.clientSecret.clientId", CLIENT_ID));
        assertLeastPrivilege(docs);
        JsonNode role = named(docs, "Role", "hsm-operator-azure-credential");
        assertEquals(NS, role.at("/metadata/namespace").asText());
        assertEquals(1, role.path("rules").size());
        JsonNode rule = role.path("rules").get(0);
        assertEquals(List.of("secrets"), strings(rule.path("resources")));
        assertEquals(List.of("hsm-operator-azure"), strings(rule.path("resourceNames")));
        assertEquals(List.of("get"), strings(rule.path("verbs")));
        assertEquals(NS + "/hsm-operator-azure", env(docs, "HSM_AZURE_CLIENT_SECRET_REF"));
        assertEquals("client-secret", env(docs, "HSM_AZURE_CREDENTIAL"));
        assertEquals(CLIENT_ID, env(docs, "HSM_AZURE_CLIENT_ID"));
        JsonNode deployment = one(docs, "Deployment");
        assertTrue(deployment.at("/spec/template/metadata/labels").path("azure.workload.identity/use").isMissingNode());
    }

    @Test
    void tenancyNamespacesGetSecretsThere() {
        List<JsonNode> docs = render(Map.of("tenancy.managedHsmNamespaces[0]", "platform=" + TENANT_ID + "/rg-hsm",
                "tenancy.managedHsmNamespaces[1]", "other-team=*/rg-shared"));
        assertLeastPrivilege(docs);
        // Secrets exactly where ManagedHsms may be declared: not in the release namespace, which the list no longer names.
        assertEquals(List.of("other-team", "platform"), namespacesOfRolesGranting(docs, "", "secrets"));
        assertEquals("platform=" + TENANT_ID + "/rg-hsm,other-team=*/rg-shared", env(docs, "HSM_TENANCY_MANAGED_HSM_NAMESPACES"));
    }

    @Test
    void hsmBackupsReadSecretsOnlyWhereTheyLive() {
        // Watching all namespaces: Secrets are never readable cluster-wide; HsmBackups work where ManagedHsms may be declared.
        List<JsonNode> all = render(Map.of());
        assertTrue(find(all, "Role").stream().noneMatch(r -> r.at("/metadata/name").asText().endsWith("-backup-secrets")));
        assertTrue(find(all, "ClusterRole").stream().noneMatch(cr -> grants(cr, "", "secrets", "get")), "never cluster-wide");
        assertTrue(grants(named(all, "ClusterRole", "hsm-operator"), "hsmoperator.io", "hsmbackups", "watch"));
        assertTrue(grants(named(all, "ClusterRole", "hsm-operator"), "hsmoperator.io", "hsmbackups/status", "patch"));
        assertTrue(grants(named(all, "ClusterRole", "hsm-operator-startup"), "apiextensions.k8s.io", "customresourcedefinitions", "get"));
        assertTrue(strings(named(all, "ClusterRole", "hsm-operator-startup").at("/rules/0/resourceNames")).contains("hsmbackups.hsmoperator.io"));

        // Listed: get, and only get, there; the release namespace already reads Secrets for its ManagedHsms.
        List<JsonNode> listed = render(Map.of("rbac.backupSecretNamespaces[0]", "payments", "rbac.backupSecretNamespaces[1]", NS));
        assertLeastPrivilege(listed);
        JsonNode payments = named(listed, "Role", "hsm-operator-backup-secrets");
        assertEquals("payments", payments.at("/metadata/namespace").asText());
        assertEquals(List.of("get"), strings(payments.at("/rules/0/verbs")));
        assertEquals(List.of(NS, "payments"), namespacesOfRolesGranting(listed, "", "secrets"));
        assertTrue(find(listed, "RoleBinding").stream().anyMatch(b -> b.at("/metadata/namespace").asText().equals("payments")
                && b.at("/roleRef/name").asText().equals("hsm-operator-backup-secrets")));

        // Watching a list: the watched namespaces, where HsmBackups can be reconciled at all.
        List<JsonNode> watched = render(Map.of("watch.mode", "list", "watch.namespaces[0]", "team-a", "watch.namespaces[1]", "team-b"));
        assertLeastPrivilege(watched);
        assertEquals(List.of(NS, "team-a", "team-b"), namespacesOfRolesGranting(watched, "", "secrets"));
        for (JsonNode role : find(watched, "Role")) {
            if (role.at("/metadata/name").asText().endsWith("-backup-secrets")) {
                assertEquals(List.of("get"), strings(role.at("/rules/0/verbs")), role.toString());
            }
        }
        assertEquals(List.of(NS), namespacesOfRolesGranting(render(Map.of("watch.mode", "own")), "", "secrets"),
                "watching its own namespace, whose ManagedHsms' Role reads Secrets already");
    }

    @Test
    void serviceMonitorWhenAsked() {
        List<JsonNode> docs = render(Map.of("metrics.serviceMonitor.enabled", "true"));
        assertEquals("/q/metrics", one(docs, "ServiceMonitor").at("/spec/endpoints/0/path").asText());
    }

    @Test
    void prometheusRuleOnlyWhenAskedWithTunableThresholds() {
        assertTrue(render(Map.of()).stream().noneMatch(d -> kind(d, "PrometheusRule")), "off by default");
        List<JsonNode> docs = render(Map.of("metrics.prometheusRule.enabled", "true", "metrics.prometheusRule.hsmNotReadyFor", "1h"));
        JsonNode rule = one(docs, "PrometheusRule");
        assertEquals("monitoring.coreos.com/v1", rule.get("apiVersion").asText());
        assertTrue(rule.toString().contains("\"for\":\"1h\""), rule.toString());
        IllegalStateException duration = assertThrows(IllegalStateException.class,
                () -> render(Map.of("metrics.prometheusRule.enabled", "true", "metrics.prometheusRule.hsmNotReadyFor", "an hour")));
        assertTrue(duration.getMessage().contains("hsmNotReadyFor"), duration.getMessage());
        IllegalStateException typo = assertThrows(IllegalStateException.class,
                () -> render(Map.of("metrics.prometheusRule.enabled", "true", "metrics.prometheusRule.keyRotationOverdue", "3600")));
        assertTrue(typo.getMessage().contains("keyRotationOverdue"), typo.getMessage());
        IllegalStateException job = assertThrows(IllegalStateException.class,
                () -> render(Map.of("metrics.prometheusRule.enabled", "true", "metrics.prometheusRule.job", "a\"} or vector(1) #")));
        assertTrue(job.getMessage().contains("job"), job.getMessage());
    }

    @Test
    void schemaRefusesBadValues() {
        IllegalStateException replicas = assertThrows(IllegalStateException.class, () -> render(Map.of("replicas", "0")));
        assertTrue(replicas.getMessage().contains("replicas"), replicas.getMessage());
        assertTrue(replicas.getMessage().toLowerCase().matches("(?s).*(minimum|greater than or equal).*"), replicas.getMessage());
        IllegalStateException mode = assertThrows(IllegalStateException.class, () -> render(Map.of("watch.mode", "some")));
        assertTrue(mode.getMessage().contains("watch.mode") || mode.getMessage().contains("mode"), mode.getMessage());
        IllegalStateException emptyList = assertThrows(IllegalStateException.class, () -> render(Map.of("watch.mode", "list")));
        assertTrue(emptyList.getMessage().contains("namespaces"), emptyList.getMessage());
        IllegalStateException secret = assertThrows(IllegalStateException.class, () -> render(Map.of("azure.credential", "client-secret")));
        assertTrue(secret.getMessage().contains("secretName"), secret.getMessage());
        IllegalStateException typo = assertThrows(IllegalStateException.class, () -> render(Map.of("replica", "2")));
        assertTrue(typo.getMessage().contains("replica"), typo.getMessage());
        IllegalStateException pattern = assertThrows(IllegalStateException.class,
                () -> render(Map.of("tenancy.managedHsmNamespaces[0]", "team-*=*/*")));
        assertTrue(pattern.getMessage().contains("rbac.secretNamespaces"), pattern.getMessage());
    }

    @Test
    void chartCrdsAreTheGeneratedCrds() throws IOException {
        Set<String> repo = fileNames(Path.of("../crds"));
        assertEquals(8, repo.size(), "the repository's crds/");
        assertEquals(repo, fileNames(CHART.resolve("crds")));
        for (String name : repo) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(Path.of("../crds", name)), Files.readAllBytes(CHART.resolve("crds").resolve(name))),
                    "helm/hsm-operator/crds/" + name + " differs from crds/" + name + ": copy it again");
        }
    }

    // --- assertions shared by every value set -----------------------------------------------------------------------

    static void assertLeastPrivilege(List<JsonNode> docs) {
        List<JsonNode> roles = docs.stream().filter(d -> kind(d, "Role") || kind(d, "ClusterRole")).toList();
        assertFalse(roles.isEmpty());
        for (JsonNode role : roles) {
            String what = role.path("kind").asText() + " " + role.at("/metadata/name").asText();
            for (JsonNode rule : role.path("rules")) {
                for (String field : List.of("apiGroups", "resources", "verbs", "resourceNames")) {
                    for (String v : strings(rule.path(field))) {
                        assertFalse(v.contains("*"), what + " has a wildcard in " + field + ": " + rule);
                    }
                }
                Set<String> verbs = Set.copyOf(strings(rule.path("verbs")));
                for (String forbidden : List.of("escalate", "bind", "impersonate", "deletecollection")) {
                    assertFalse(verbs.contains(forbidden), what + " grants " + forbidden);
                }
                assertTrue(rule.path("nonResourceURLs").isMissingNode(), what + " grants non-resource URLs");
                List<String> resources = strings(rule.path("resources"));
                List<String> groups = strings(rule.path("apiGroups"));
                if (resources.contains("secrets")) {
                    assertTrue(kind(role, "Role"), what + ": Secrets only through namespaced Roles");
                    assertEquals(List.of(""), groups);
                    assertEquals(List.of("secrets"), resources, "Secrets in a rule of their own");
                    assertFalse(verbs.contains("list") || verbs.contains("watch"), what + " lists or watches Secrets");
                    if (rule.has("resourceNames")) {
                        assertEquals(Set.of("get"), verbs, "the client secret is only read");
                    } else if (role.at("/metadata/name").asText().endsWith("-backup-secrets")) {
                        assertEquals(Set.of("get"), verbs, what + ": an HsmBackup's SAS Secret is only read");
                    } else {
                        assertEquals(Set.of("get", "create", "patch"), verbs, what + " Secrets verbs");
                    }
                }
                if (resources.contains("leases")) {
                    assertTrue(kind(role, "Role") && NS.equals(role.at("/metadata/namespace").asText()),
                            "Leases only in a Role in the release namespace, not " + what);
                    assertEquals(List.of("coordination.k8s.io"), groups);
                    assertTrue(Set.of("get", "create", "update", "patch").containsAll(verbs), what + " lease verbs " + verbs);
                }
                if (resources.contains("customresourcedefinitions")) {
                    assertEquals(Set.of("get"), verbs);
                    assertEquals(8, strings(rule.path("resourceNames")).size(), "only the operator's CRDs, by name");
                }
                if (resources.contains("events")) {
                    assertEquals(Set.of("create"), verbs);
                }
                if (resources.contains("namespaces")) {
                    assertEquals(List.of("namespaces"), resources, "namespaces in a rule of their own");
                    assertEquals(Set.of("get"), verbs, "a namespace is only read");
                    assertEquals(List.of("kube-system"), strings(rule.path("resourceNames")), "only kube-system, whose UID names the cluster");
                }
                if (resources.contains("deployments") || resources.contains("statefulsets")) {
                    assertTrue(kind(role, "Role"), what + ": workloads only through namespaced Roles (workloadRestarts)");
                    assertEquals(Set.of("get", "list", "patch"), verbs, what + " workload verbs");
                }
                for (String r : resources) {
                    assertTrue(r.equals("secrets") || r.equals("configmaps") || r.equals("events") || r.equals("leases")
                            || r.equals("deployments") || r.equals("statefulsets") || r.equals("customresourcedefinitions")
                            || r.equals("selfsubjectrulesreviews") || r.equals("namespaces") || KINDS.contains(r.split("/")[0]), what + " grants " + r);
                    assertFalse(verbs.contains("delete"), what + " deletes " + r + ": the operator deletes nothing in Kubernetes");
                }
            }
        }
        // Leader election works: a Role in the release namespace with get, create, update, patch on leases.
        Set<String> leaseVerbs = docs.stream().filter(d -> kind(d, "Role") && NS.equals(d.at("/metadata/namespace").asText()))
                .flatMap(r -> stream(r.path("rules"))).filter(rule -> strings(rule.path("resources")).contains("leases"))
                .flatMap(rule -> strings(rule.path("verbs")).stream()).collect(Collectors.toSet());
        assertEquals(Set.of("get", "create", "update", "patch"), leaseVerbs);
        // Every Role and ClusterRole is bound to the operator's ServiceAccount, and nothing else is bound.
        for (JsonNode binding : docs.stream().filter(d -> kind(d, "RoleBinding") || kind(d, "ClusterRoleBinding")).toList()) {
            assertEquals(1, binding.path("subjects").size());
            assertEquals("ServiceAccount", binding.at("/subjects/0/kind").asText());
            assertEquals(NS, binding.at("/subjects/0/namespace").asText());
            assertEquals(one(docs, "ServiceAccount").at("/metadata/name").asText(), binding.at("/subjects/0/name").asText());
            String roleKind = binding.at("/roleRef/kind").asText();
            String roleName = binding.at("/roleRef/name").asText();
            assertTrue(docs.stream().anyMatch(d -> kind(d, roleKind) && d.at("/metadata/name").asText().equals(roleName)
                    && (roleKind.equals("ClusterRole") || d.at("/metadata/namespace").asText().equals(binding.at("/metadata/namespace").asText()))),
                    "binding " + binding.at("/metadata/name").asText() + " refers to a role the chart renders");
        }
    }

    static void assertRestrictedPod(List<JsonNode> docs) {
        JsonNode pod = one(docs, "Deployment").at("/spec/template/spec");
        JsonNode psc = pod.path("securityContext");
        assertTrue(psc.path("runAsNonRoot").asBoolean());
        assertTrue(psc.path("runAsUser").asInt() > 0);
        assertEquals("RuntimeDefault", psc.at("/seccompProfile/type").asText());
        for (JsonNode c : pod.path("containers")) {
            JsonNode sc = c.path("securityContext");
            assertTrue(sc.path("runAsNonRoot").asBoolean());
            assertTrue(sc.path("runAsUser").asInt() > 0);
            assertTrue(sc.path("readOnlyRootFilesystem").asBoolean());
            assertFalse(sc.path("allowPrivilegeEscalation").asBoolean(true));
            assertEquals(List.of("ALL"), strings(sc.at("/capabilities/drop")));
            assertTrue(sc.at("/capabilities/add").isMissingNode());
            assertEquals("RuntimeDefault", sc.at("/seccompProfile/type").asText());
            for (String quantity : List.of("requests", "limits")) {
                assertFalse(c.at("/resources/" + quantity + "/cpu").asText().isEmpty(), quantity + ".cpu");
                assertFalse(c.at("/resources/" + quantity + "/memory").asText().isEmpty(), quantity + ".memory");
            }
            String tmpVolume = stream(c.path("volumeMounts")).filter(m -> m.path("mountPath").asText().equals("/tmp"))
                    .map(m -> m.path("name").asText()).findFirst().orElseThrow(() -> new AssertionError("no writable /tmp"));
            assertTrue(stream(pod.path("volumes")).anyMatch(v -> v.path("name").asText().equals(tmpVolume) && v.has("emptyDir")));
            // A downloaded security domain waits in the spool until stored: it must be writable and outlive the container.
            String spoolDir = stream(c.path("env")).filter(e -> e.path("name").asText().equals("HSM_SECURITY_DOMAIN_SPOOL_DIR"))
                    .map(e -> e.path("value").asText()).findFirst().orElseThrow(() -> new AssertionError("no security-domain spool"));
            String spoolVolume = stream(c.path("volumeMounts")).filter(m -> m.path("mountPath").asText().equals(spoolDir))
                    .map(m -> m.path("name").asText()).findFirst().orElseThrow(() -> new AssertionError("the spool is not mounted"));
            assertTrue(stream(pod.path("volumes")).anyMatch(v -> v.path("name").asText().equals(spoolVolume) && v.has("emptyDir")));
        }
        assertFalse(pod.path("hostNetwork").asBoolean(false) || pod.path("hostPID").asBoolean(false));
    }

    // --- helpers ---------------------------------------------------------------------------------------------------

    static List<JsonNode> render(Map<String, String> values) {
        return Chart.render(NS, values);
    }

    static boolean kind(JsonNode d, String kind) {
        return kind.equals(d.path("kind").asText());
    }

    static List<JsonNode> find(List<JsonNode> docs, String kind) {
        return docs.stream().filter(d -> kind(d, kind)).toList();
    }

    static JsonNode one(List<JsonNode> docs, String kind) {
        List<JsonNode> found = find(docs, kind);
        assertEquals(1, found.size(), "one " + kind);
        return found.get(0);
    }

    static JsonNode named(List<JsonNode> docs, String kind, String name) {
        return docs.stream().filter(d -> kind(d, kind) && name.equals(d.at("/metadata/name").asText())).findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " " + name));
    }

    static boolean grants(JsonNode role, String group, String resource, String verb) {
        return stream(role.path("rules")).anyMatch(r -> strings(r.path("apiGroups")).contains(group)
                && strings(r.path("resources")).contains(resource) && strings(r.path("verbs")).contains(verb));
    }

    static List<String> namespacesOfRolesGranting(List<JsonNode> docs, String group, String resource) {
        Predicate<JsonNode> grantsIt = r -> stream(r.path("rules")).anyMatch(rule -> strings(rule.path("apiGroups")).contains(group)
                && strings(rule.path("resources")).contains(resource) && !rule.has("resourceNames"));
        return docs.stream().filter(d -> kind(d, "Role")).filter(grantsIt).map(d -> d.at("/metadata/namespace").asText()).sorted().toList();
    }

    static JsonNode container(List<JsonNode> docs) {
        return one(docs, "Deployment").at("/spec/template/spec/containers/0");
    }

    static String env(List<JsonNode> docs, String name) {
        return stream(container(docs).path("env")).filter(e -> name.equals(e.path("name").asText())).map(e -> e.path("value").asText())
                .findFirst().orElseThrow(() -> new AssertionError("no env " + name));
    }

    static Stream<JsonNode> stream(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out.stream();
    }

    static List<String> strings(JsonNode array) {
        return stream(array).map(JsonNode::asText).toList();
    }

    static Set<String> fileNames(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
