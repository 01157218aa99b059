package io.hsmoperator.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cel.bundle.Cel;
import dev.cel.bundle.CelFactory;
import dev.cel.common.types.SimpleType;
import dev.cel.extensions.CelExtensions;
import dev.cel.parser.CelStandardMacro;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The mock API server does not evaluate CEL, so this test does: every x-kubernetes-validations rule of the committed CRDs
 * is compiled and evaluated with a CEL library over (old, new) objects, after API-server-style defaulting. Each case states
 * whether the API server must accept the change or reject it with a given message; every rule must reject at least once.
 */
class CrdCelRulesTest {
    private static final Cel CEL = CelFactory.standardCelBuilder().setStandardMacros(CelStandardMacro.STANDARD_MACROS)
            .addCompilerLibraries(CelExtensions.strings()).addRuntimeLibraries(CelExtensions.strings())
            .addVar("self", SimpleType.DYN).addVar("oldSelf", SimpleType.DYN).build();
    /** Property names the API server escapes in CEL because they are CEL keywords. */
    private static final Set<String> CEL_KEYWORDS = SpecRules.CEL_KEYWORDS;
    private static final Map<String, JsonNode> CRDS = Crds.byKind();
    private static final Set<String> RULES_THAT_REJECTED = new LinkedHashSet<>();

    /** A rule and the schema path it is declared at (relative to the object's root: spec rules start with "spec"). */
    record Site(List<String> path, String rule, String message) {
    }

    /** old == null: a create. reject == null: must be accepted. */
    record Case(String kind, String name, Consumer<ObjectNode> old, Consumer<ObjectNode> change, String reject) {
    }

    static ObjectNode publish(ObjectNode spec) {
        return spec.has("publish") ? (ObjectNode) spec.get("publish") : spec.putObject("publish");
    }

    static Consumer<ObjectNode> none() {
        return s -> { };
    }

    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        String mhsm = "ManagedHsm";
        c.add(new Case(mhsm, "the sample is accepted", null, none(), null));
        c.add(new Case(mhsm, "mutable fields change", none(), s -> {
            s.putObject("tags").put("owner", "platform");
            s.put("publicNetworkAccess", "Disabled");
            s.putObject("networkAcls").put("defaultAction", "Deny");
            s.putArray("allowedNamespaces").add("*");
        }, null));
        c.add(new Case(mhsm, "azureName is immutable", none(), s -> s.put("azureName", "other-hsm"), "azureName is immutable"));
        c.add(new Case(mhsm, "subscriptionId is immutable", none(), s -> s.put("subscriptionId", "11111111-2222-3333-4444-555555555555"),
                "subscriptionId is immutable"));
        c.add(new Case(mhsm, "resourceGroup is immutable", none(), s -> s.put("resourceGroup", "rg-other"), "resourceGroup is immutable"));
        c.add(new Case(mhsm, "location is immutable", none(), s -> s.put("location", "northeurope"), "location is immutable"));
        c.add(new Case(mhsm, "sku is immutable", none(), s -> s.put("sku", "Custom_B32"), "sku is immutable"));
        // Unset means the operator's own tenant, which CEL cannot know: writing a tenant out is allowed, and the operator
        // checks it against the HSM's tenant in Azure (ImmutableFieldChanged when they differ).
        c.add(new Case(mhsm, "tenantId may be written out later", none(), s -> s.put("tenantId", "11111111-2222-3333-4444-555555555555"),
                null));
        c.add(new Case(mhsm, "tenantId cannot change", s -> s.put("tenantId", "11111111-2222-3333-4444-555555555555"),
                s -> s.put("tenantId", "99999999-2222-3333-4444-555555555555"), "tenantId is immutable"));
        c.add(new Case(mhsm, "tenantId in another case is the same tenant", s -> s.put("tenantId", "abcdef00-2222-3333-4444-555555555555"),
                s -> s.put("tenantId", "ABCDEF00-2222-3333-4444-555555555555"), null));
        c.add(new Case(mhsm, "defaults written out", none(), s -> s.put("sku", "Standard_B1").put("softDeleteRetentionDays", 90)
                .put("purgeProtection", true), null));
        c.add(new Case(mhsm, "no extra administrators, written out", s -> s.remove("initialAdminObjectIds"),
                s -> s.putArray("initialAdminObjectIds"), null));
        c.add(new Case(mhsm, "initialAdminObjectIds are immutable", none(),
                s -> s.withArray("initialAdminObjectIds").add("11111111-2222-3333-4444-555555555555"), "initialAdminObjectIds is immutable"));
        c.add(new Case(mhsm, "retention is immutable", none(), s -> s.put("softDeleteRetentionDays", 30), "softDeleteRetentionDays is immutable"));
        c.add(new Case(mhsm, "purge protection cannot be turned off", s -> s.put("purgeProtection", true), s -> s.put("purgeProtection", false),
                "purgeProtection cannot be turned off"));
        // Unset means Azure's value on an adopted HSM, which CEL cannot know: false may be written out, and the operator
        // reports ImmutableFieldChanged when purge protection is on in Azure.
        c.add(new Case(mhsm, "purge protection may be written out as false", s -> s.remove("purgeProtection"), s -> s.put("purgeProtection", false),
                null));
        c.add(new Case(mhsm, "purge protection can be turned on", s -> s.put("purgeProtection", false), s -> s.put("purgeProtection", true),
                null));
        c.add(new Case(mhsm, "Delete needs a confirmation", null, s -> s.put("deletionPolicy", "Delete"), "confirmDeletionOf"));
        c.add(new Case(mhsm, "Delete needs the right confirmation", null,
                s -> s.put("deletionPolicy", "Delete").put("confirmDeletionOf", "another-hsm"), "confirmDeletionOf"));
        c.add(new Case(mhsm, "Delete needs purge protection", null,
                s -> s.put("deletionPolicy", "Delete").put("confirmDeletionOf", "contoso-payments-hsm").put("purgeProtection", false),
                "needs purgeProtection: true"));
        c.add(new Case(mhsm, "Delete with confirmation and purge protection", null,
                s -> s.put("deletionPolicy", "Delete").put("confirmDeletionOf", "contoso-payments-hsm"), null));

        String key = "HsmKey";
        c.add(new Case(key, "the sample is accepted", null, none(), null));
        String emptySelector = "restartWorkloads needs matchLabels or matchExpressions";
        c.add(new Case(key, "restartWorkloads with an empty selector", null, s -> publish(s).putObject("restartWorkloads"), emptySelector));
        c.add(new Case(key, "restartWorkloads with empty matchLabels", null,
                s -> publish(s).putObject("restartWorkloads").putObject("matchLabels"), emptySelector));
        c.add(new Case(key, "restartWorkloads with a label", null,
                s -> publish(s).putObject("restartWorkloads").putObject("matchLabels").put("app", "payments-api"), null));
        c.add(new Case(key, "restartWorkloads with an expression", null, s -> publish(s).putObject("restartWorkloads")
                .putArray("matchExpressions").addObject().put("key", "app").put("operator", "Exists"), null));
        c.add(new Case(key, "mutable fields change", none(), s -> {
            s.put("enabled", false).put("expiresAfter", "P2Y");
            s.putArray("operations").add("verify");
            s.putObject("tags").put("purpose", "other");
            s.putObject("rotation").put("every", "P30D");
            s.put("deletionPolicy", "Delete").put("recoverDeleted", true);
        }, null));
        // Bring your own key: the sample rotates, which an imported key cannot.
        Consumer<ObjectNode> imported = s -> {
            s.remove("rotation");
            s.putObject("importFrom").putObject("secretRef").put("name", "payments-signing-byok");
        };
        c.add(new Case(key, "an imported key", null, imported, null));
        c.add(new Case(key, "an imported key cannot rotate", null, imported.andThen(s -> s.putObject("rotation").put("every", "P90D")),
                "cannot rotate"));
        c.add(new Case(key, "an imported key cannot be exportable", null, imported.andThen(s -> {
            s.put("keyType", "RSA-HSM").remove("curve");
            s.remove("operations");
            s.put("exportable", true);
            s.putObject("releasePolicy").put("data", "{\"version\":\"1.0.0\",\"anyOf\":[]}");
        }), "cannot be exportable"));
        c.add(new Case(key, "importFrom written out with its default key", imported,
                s -> ((ObjectNode) s.get("importFrom").get("secretRef")).put("key", "key.byok"), null));
        c.add(new Case(key, "importFrom is immutable", imported,
                s -> ((ObjectNode) s.get("importFrom").get("secretRef")).put("name", "other-secret"), "importFrom is immutable"));
        c.add(new Case(key, "importFrom cannot be removed", imported, s -> s.remove("importFrom"), "importFrom is immutable"));
        c.add(new Case(key, "importFrom cannot be added later", none(), s -> {
            s.remove("rotation");
            s.putObject("importFrom").putObject("secretRef").put("name", "payments-signing-byok");
        }, "importFrom is immutable"));
        c.add(new Case(key, "hsmRef is immutable", none(), s -> s.putObject("hsmRef").put("name", "other-hsm"), "hsmRef is immutable"));
        c.add(new Case(key, "keyName cannot be set later", none(), s -> s.put("keyName", "renamed"), "keyName is immutable"));
        c.add(new Case(key, "keyName written out as metadata.name", none(), s -> s.put("keyName", "payments-signing"), null));
        c.add(new Case(key, "keyName left out again", s -> s.put("keyName", "payments-signing"), s -> s.remove("keyName"), null));
        c.add(new Case(key, "hsmRef.namespace written out", none(), s -> ((ObjectNode) s.get("hsmRef")).put("namespace", "payments"), null));
        c.add(new Case(key, "hsmRef.namespace cannot change", s -> ((ObjectNode) s.get("hsmRef")).put("namespace", "payments"),
                s -> ((ObjectNode) s.get("hsmRef")).put("namespace", "other"), "hsmRef is immutable"));
        c.add(new Case(key, "the default curve left out", none(), s -> s.remove("curve"), null));
        c.add(new Case(key, "the default RSA size written out", k -> rsa(k, 2048).remove("keySize"), s -> s.put("keySize", 2048), null));
        c.add(new Case(key, "another RSA size than the default", k -> rsa(k, 2048).remove("keySize"), s -> s.put("keySize", 3072),
                "keySize is immutable"));
        c.add(new Case(key, "keyType is immutable", none(), s -> s.put("keyType", "RSA-HSM").remove("curve"), "keyType is immutable"));
        c.add(new Case(key, "curve is immutable", none(), s -> s.put("curve", "P-384"), "curve is immutable"));
        c.add(new Case(key, "keySize is immutable", k -> rsa(k, 2048), s -> s.put("keySize", 4096), "keySize is immutable"));
        c.add(new Case(key, "exportable is immutable", k -> rsa(k, 2048), s -> {
            s.put("exportable", true);
            s.putObject("releasePolicy").put("data", "{\"version\":\"1.0.0\",\"anyOf\":[]}");
        }, "exportable is immutable"));
        c.add(new Case(key, "releasePolicy is immutable", k -> exportable(rsa(k, 3072)),
                s -> ((ObjectNode) s.get("releasePolicy")).put("data", "{\"version\":\"1.0.0\",\"anyOf\":[{}]}"), "releasePolicy is immutable"));
        c.add(new Case(key, "an exportable RSA key with a policy", null, s -> exportable(rsa(s, 3072)), null));
        c.add(new Case(key, "keySize on an EC key", null, s -> s.put("keySize", 2048), "keySize applies to RSA-HSM and oct-HSM"));
        c.add(new Case(key, "curve on an RSA key", null, s -> rsa(s, 2048).put("curve", "P-256"), "curve applies to EC-HSM keys only"));
        c.add(new Case(key, "RSA 1024", null, s -> rsa(s, 1024), "RSA-HSM keySize must be"));
        c.add(new Case(key, "AES 512", null, s -> rsa(s, 512).put("keyType", "oct-HSM"), "oct-HSM keySize must be"));
        c.add(new Case(key, "AES 256", null, s -> rsa(s, 256).put("keyType", "oct-HSM"), null));
        c.add(new Case(key, "EC key that encrypts", null, s -> s.withArray("operations").add("encrypt"), "EC-HSM keys support only"));
        c.add(new Case(key, "exportable without policy", null, s -> rsa(s, 2048).put("exportable", true), "needs a releasePolicy"));
        c.add(new Case(key, "policy without exportable", null, s -> rsa(s, 2048).putObject("releasePolicy").put("data", "{}"),
                "releasePolicy applies to exportable keys only"));
        c.add(new Case(key, "both rotation modes", null, s -> ((ObjectNode) s.get("rotation")).putObject("azurePolicy")
                .put("timeAfterCreate", "P90D"), "cannot be combined"));
        c.add(new Case(key, "rotation with no mode", null, s -> s.putObject("rotation").put("keepEnabledVersions", 3),
                "rotation needs either every or azurePolicy"));
        c.add(new Case(key, "Azure policy with both triggers", null, s -> s.putObject("rotation").putObject("azurePolicy")
                .put("timeAfterCreate", "P90D").put("timeBeforeExpiry", "P30D").put("expiryTime", "P1Y"), "exactly one of timeAfterCreate"));
        c.add(new Case(key, "timeBeforeExpiry without expiry", null, s -> s.putObject("rotation").putObject("azurePolicy")
                .put("timeBeforeExpiry", "P30D"), "timeBeforeExpiry needs expiryTime"));
        c.add(new Case(key, "Azure policy", null, s -> s.putObject("rotation").putObject("azurePolicy")
                .put("timeBeforeExpiry", "P30D").put("expiryTime", "P1Y"), null));

        String ra = "HsmRoleAssignment";
        c.add(new Case(ra, "the sample is accepted", null, none(), null));
        c.add(new Case(ra, "scope and keyRef together", null, s -> s.put("scope", "/keys"), "set exactly one of scope"));
        c.add(new Case(ra, "neither scope nor keyRef", null, s -> s.remove("keyRef"), "set exactly one of scope"));
        c.add(new Case(ra, "scope alone", null, s -> s.put("scope", "/keys").remove("keyRef"), null));
        c.add(new Case(ra, "principal cannot change", none(), s -> s.put("principalId", "11111111-2222-3333-4444-555555555555"),
                "cannot change who, what or where"));
        c.add(new Case(ra, "role cannot change", none(), s -> s.put("role", "Managed HSM Crypto Auditor"), "cannot change who"));
        c.add(new Case(ra, "deletionPolicy may change", none(), s -> s.put("deletionPolicy", "Retain"), null));
        c.add(new Case(ra, "the role by its ID", none(), s -> s.put("role", "21dbd100-6940-42c2-9190-5d6cb909625b"), null));
        c.add(new Case(ra, "the role by its full definition ID", s -> s.put("role", "21dbd100-6940-42c2-9190-5d6cb909625b"),
                s -> s.put("role", "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21DBD100-6940-42C2-9190-5D6CB909625B"),
                null));
        c.add(new Case(ra, "another role by ID", none(), s -> s.put("role", "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"), "cannot change who"));
        c.add(new Case(ra, "the principal in upper case", none(), s -> s.put("principalId", s.get("principalId").asText().toUpperCase()), null));

        c.add(new Case(ra, "a role and a role definition reference", null, s -> s.putObject("roleDefinitionRef").put("name", "key-rotator"),
                "set exactly one of role"));
        c.add(new Case(ra, "neither a role nor a reference", null, s -> s.remove("role"), "set exactly one of role"));
        c.add(new Case(ra, "a role definition reference", null, s -> {
            s.remove("role");
            s.putObject("roleDefinitionRef").put("name", "key-rotator");
        }, null));
        c.add(new Case(ra, "the reference cannot change", s -> {
            s.remove("role");
            s.putObject("roleDefinitionRef").put("name", "key-rotator");
        },
                s -> s.putObject("roleDefinitionRef").put("name", "other"), "cannot change who"));
        c.add(new Case(ra, "a role cannot become a reference", none(), s -> {
            s.remove("role");
            s.putObject("roleDefinitionRef").put("name", "x");
        },
                "cannot change who"));

        String rd = "HsmRoleDefinition";
        c.add(new Case(rd, "the sample is accepted", null, none(), null));
        c.add(new Case(rd, "a role that permits nothing", null, s -> s.remove("dataActions"), "must permit something"));
        c.add(new Case(rd, "hsmRef is immutable", none(), s -> s.putObject("hsmRef").put("name", "x"), "hsmRef is immutable"));
        c.add(new Case(rd, "data actions may change", none(), s -> s.putArray("dataActions").add("Microsoft.KeyVault/managedHsm/keys/read/action"), null));

        String diag = "HsmDiagnostics";
        c.add(new Case(diag, "the sample is accepted", null, none(), null));
        c.add(new Case(diag, "no destination", null, s -> s.remove("logAnalyticsWorkspaceId"), "set at least one destination"));
        c.add(new Case(diag, "categories and groups", null, s -> s.putArray("categories").add("AuditEvent"), "not both"));
        c.add(new Case(diag, "hsmRef is immutable", none(), s -> s.putObject("hsmRef").put("name", "x"), "hsmRef is immutable"));
        c.add(new Case(diag, "settingName is immutable", none(), s -> s.put("settingName", "renamed"), "settingName is immutable"));
        c.add(new Case(diag, "settingName written out as metadata.name", none(), s -> s.put("settingName", "payments-hsm-audit"), null));
        c.add(new Case(diag, "destinations may change", none(), s -> s.put("storageAccountId",
                "/subscriptions/6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"), null));

        String pe = "PrivateEndpoint";
        c.add(new Case(pe, "the sample is accepted", null, none(), null));
        c.add(new Case(pe, "azureName is immutable", none(), s -> s.put("azureName", "pe-other"), "are immutable"));
        c.add(new Case(pe, "subnet is immutable", none(), s -> s.put("subnetId", s.get("subnetId").asText() + "2"), "are immutable"));
        c.add(new Case(pe, "manualApproval is immutable", none(), s -> s.put("manualApproval", true), "manualApproval is immutable"));
        c.add(new Case(pe, "requestMessage needs manual approval", null, s -> s.put("requestMessage", "please"), "manualApproval connections only"));
        c.add(new Case(pe, "manual approval with a message", null, s -> s.put("manualApproval", true).put("requestMessage", "please"), null));
        c.add(new Case(pe, "DNS zones may change", none(), s -> s.putArray("privateDnsZoneIds"), null));
        c.add(new Case(pe, "subscriptionId written out", none(), s -> s.put("subscriptionId", "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f"), null));
        c.add(new Case(pe, "subscriptionId cannot change", s -> s.put("subscriptionId", "6d3a2f1e-9b8c-4d7e-a5f6-1c2b3a4d5e6f"),
                s -> s.put("subscriptionId", "11111111-2222-3333-4444-555555555555"), "are immutable"));

        String backup = "HsmBackup";
        c.add(new Case(backup, "the sample is accepted", null, none(), null));
        c.add(new Case(backup, "schedule, retention and the Secret may change", none(), s -> {
            ((ObjectNode) s.get("schedule")).put("every", "PT12H");
            ((ObjectNode) s.get("retention")).put("keepLast", 7).remove("maxAge");
            ((ObjectNode) s.get("destination").get("sasTokenSecretRef")).put("name", "rotated-sas");
        }, null));
        c.add(new Case(backup, "hsmRef is immutable", none(), s -> s.putObject("hsmRef").put("name", "other-hsm"), "hsmRef is immutable"));
        c.add(new Case(backup, "hsmRef.namespace written out", none(), s -> ((ObjectNode) s.get("hsmRef")).put("namespace", "payments"), null));
        c.add(new Case(backup, "containerUrl is immutable", none(), s -> ((ObjectNode) s.get("destination"))
                .put("containerUrl", "https://otherbackups.blob.core.windows.net/hsm-backups"), "destination.containerUrl is immutable"));
        c.add(new Case(backup, "retention with neither rule", null, s -> s.putObject("retention"), "set keepLast, maxAge or both"));
        c.add(new Case(backup, "retention by age alone", null, s -> ((ObjectNode) s.get("retention")).remove("keepLast"), null));
        c.add(new Case(backup, "no retention keeps everything", null, s -> s.remove("retention"), null));
        c.add(new Case(backup, "the HSM's managed identity instead of a SAS", null, s -> ((ObjectNode) s.get("destination"))
                .put("useManagedIdentity", true).remove("sasTokenSecretRef"), null));
        c.add(new Case(backup, "a SAS with useManagedIdentity false written out", null, s -> ((ObjectNode) s.get("destination"))
                .put("useManagedIdentity", false), null));
        c.add(new Case(backup, "both a SAS and the managed identity", null, s -> ((ObjectNode) s.get("destination"))
                .put("useManagedIdentity", true), "remove sasTokenSecretRef"));
        c.add(new Case(backup, "neither a SAS nor the managed identity", null, s -> ((ObjectNode) s.get("destination"))
                .remove("sasTokenSecretRef"), "set sasTokenSecretRef"));
        c.add(new Case(backup, "from a SAS to the managed identity", none(), s -> ((ObjectNode) s.get("destination"))
                .put("useManagedIdentity", true).remove("sasTokenSecretRef"), null));
        c.add(new Case(backup, "a window spanning midnight", null, s -> ((ObjectNode) s.get("schedule")).putObject("window")
                .put("start", "22:00").put("end", "02:00"), null));
        c.add(new Case(backup, "a window of no length", null, s -> ((ObjectNode) s.get("schedule")).putObject("window")
                .put("start", "03:00").put("end", "03:00"), "start and end must differ"));

        String restore = "HsmRestore";
        Consumer<ObjectNode> confirmedFull = s -> {
            s.remove("keyName");
            s.put("confirmFullRestoreOf", "contoso-payments-hsm");
        };
        c.add(new Case(restore, "the sample (a selective restore) is accepted", null, none(), null));
        c.add(new Case(restore, "a confirmed full restore is accepted", null, confirmedFull, null));
        c.add(new Case(restore, "a full restore needs its confirmation", null, s -> s.remove("keyName"), "set confirmFullRestoreOf"));
        c.add(new Case(restore, "a confirmation beside keyName", null, s -> s.put("confirmFullRestoreOf", "contoso-payments-hsm"),
                "confirmFullRestoreOf is for a full restore only"));
        c.add(new Case(restore, "keyName is immutable", none(), s -> s.put("keyName", "payments-other"), "create a new HsmRestore"));
        c.add(new Case(restore, "a selective restore cannot become a full one", none(), confirmedFull, "create a new HsmRestore"));
        c.add(new Case(restore, "the folder is immutable", none(), s -> ((ObjectNode) s.get("source")).put("folderUrl",
                "https://paymentsbackups.blob.core.windows.net/hsm-backups/mhsm-contoso-payments-hsm-2026113002000007"),
                "create a new HsmRestore"));
        c.add(new Case(restore, "the SAS Secret is immutable", none(), s -> ((ObjectNode) s.get("source").get("sasTokenSecretRef"))
                .put("name", "rotated-sas"), "create a new HsmRestore"));
        c.add(new Case(restore, "hsmRef is immutable", none(), s -> s.putObject("hsmRef").put("name", "other-hsm"), "hsmRef is immutable"));
        c.add(new Case(restore, "hsmRef.namespace written out", none(), s -> ((ObjectNode) s.get("hsmRef")).put("namespace", "payments"), null));
        return c;
    }

    /** The whole object as the API server evaluates root-level rules: the sample's name, and this spec. */
    static ObjectNode object(String kind, ObjectNode spec) {
        ObjectNode o = Crds.YAML.createObjectNode();
        JsonNode sample = Crds.samples().stream().filter(s -> kind.equals(s.path("kind").asText())).findFirst().orElseThrow();
        o.put("apiVersion", sample.path("apiVersion").asText()).put("kind", kind);
        o.putObject("metadata").put("name", sample.path("metadata").path("name").asText());
        o.set("spec", spec);
        return o;
    }

    static ObjectNode rsa(ObjectNode s, int size) {
        s.put("keyType", "RSA-HSM").put("keySize", size).remove(List.of("curve", "operations"));
        return s;
    }

    static ObjectNode exportable(ObjectNode s) {
        s.put("exportable", true);
        s.putObject("releasePolicy").put("data", "{\"version\":\"1.0.0\",\"anyOf\":[]}");
        return s;
    }

    @TestFactory
    Stream<DynamicTest> everyCase() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.kind() + ": " + c.name(), () -> run(c)));
    }

    private void run(Case c) throws Exception {
        JsonNode crd = CRDS.get(c.kind());
        JsonNode schema = Crds.rootSchema(crd);
        ObjectNode base = Crds.sampleSpec(c.kind());
        ObjectNode old = null;
        if (c.old() != null) {
            old = base.deepCopy();
            c.old().accept(old);
            Crds.applyDefaults(Crds.specSchema(crd), old);
            assertEquals(List.of(), violations(schema, object(c.kind(), old), null), "the old object of this case must itself be valid");
        }
        ObjectNode updated = (old != null ? old : base).deepCopy();
        c.change().accept(updated);
        Crds.applyDefaults(Crds.specSchema(crd), updated);
        List<Site> violated = violationSites(schema, object(c.kind(), updated), old == null ? null : object(c.kind(), old));
        List<String> messages = violated.stream().map(Site::message).toList();
        if (c.reject() == null) {
            assertEquals(List.of(), messages, "the API server must accept this");
        } else {
            assertTrue(messages.stream().anyMatch(m -> m.contains(c.reject())),
                    "the API server must reject this with a message containing '" + c.reject() + "'; violations were " + messages);
            violated.forEach(s -> RULES_THAT_REJECTED.add(c.kind() + " " + s.path() + " " + s.rule()));
        }
        if (old == null) {
            // The operator enforces the same rules before any Azure call (an API server may not have): same verdict, same words.
            List<String> operator = SpecRules.violations(operatorView(c.kind(), updated));
            if (c.reject() == null) {
                assertEquals(List.of(), operator, "the operator must accept what the API server accepts");
            } else {
                assertTrue(operator.stream().anyMatch(m -> m.contains(c.reject())), "the operator must refuse this too, saying '"
                        + c.reject() + "'; it said " + operator);
            }
        }
    }

    /** The spec as the operator reads it. */
    private static Object operatorView(String kind, ObjectNode spec) throws Exception {
        Class<?> type = Kinds.ALL.stream().filter(k -> k.getSimpleName().equals(kind)).findFirst().orElseThrow();
        io.fabric8.kubernetes.client.CustomResource<?, ?> r = (io.fabric8.kubernetes.client.CustomResource<?, ?>)
                new com.fasterxml.jackson.databind.ObjectMapper().configure(
                        com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                        .treeToValue(object(kind, spec), type);
        return r.getSpec();
    }

    /** The role names the immutability rule understands are exactly the built-in roles the operator knows. */
    @org.junit.jupiter.api.Test
    void theRuleKnowsEveryBuiltInRole() throws Exception {
        Object map = CEL.createProgram(CEL.compile(io.hsmoperator.api.roleassignment.HsmRoleAssignmentSpec.BUILT_IN_ROLES_CEL).getAst()).eval();
        Map<String, String> expected = new HashMap<>();
        io.hsmoperator.azure.HsmRoles.BUILT_IN.forEach((name, id) -> expected.put(name.toLowerCase(java.util.Locale.ROOT), id));
        assertEquals(expected, new HashMap<>((Map<?, ?>) map));
    }

    @AfterAll
    static void everyRuleRejectsSomething() {
        List<String> idle = new ArrayList<>();
        CRDS.forEach((kind, crd) -> sites(Crds.rootSchema(crd), new ArrayList<>(), new ArrayList<>()).forEach(s -> {
            if (!RULES_THAT_REJECTED.contains(kind + " " + s.path() + " " + s.rule())) {
                idle.add(kind + " " + s.path() + ": " + s.rule());
            }
        }));
        if (!idle.isEmpty()) {
            fail("these CEL rules were never shown to reject anything; add cases for them: " + idle);
        }
    }

    static List<String> violations(JsonNode schema, JsonNode updated, JsonNode old) throws Exception {
        return violationSites(schema, updated, old).stream().map(Site::message).toList();
    }

    static List<Site> violationSites(JsonNode schema, JsonNode updated, JsonNode old) throws Exception {
        List<Site> out = new ArrayList<>();
        for (Site s : sites(schema, new ArrayList<>(), new ArrayList<>())) {
            JsonNode self = at(updated, s.path());
            JsonNode oldSelf = old == null ? null : at(old, s.path());
            boolean transition = s.rule().contains("oldSelf");
            if (self == null || (transition && oldSelf == null)) {
                continue;
            }
            Map<String, Object> vars = new HashMap<>();
            vars.put("self", toCel(self));
            if (transition) {
                vars.put("oldSelf", toCel(oldSelf));
            }
            Object result = CEL.createProgram(CEL.compile(s.rule()).getAst()).eval(vars);
            if (!Boolean.TRUE.equals(result)) {
                out.add(s);
            }
        }
        return out;
    }

    static List<Site> sites(JsonNode schema, List<String> path, List<Site> out) {
        for (JsonNode v : schema.path("x-kubernetes-validations")) {
            out.add(new Site(List.copyOf(path), v.path("rule").asText(), v.path("message").asText()));
        }
        schema.path("properties").fields().forEachRemaining(p -> {
            List<String> child = new ArrayList<>(path);
            child.add(p.getKey());
            sites(p.getValue(), child, out);
        });
        return out;
    }

    private static JsonNode at(JsonNode node, List<String> path) {
        JsonNode n = node;
        for (String p : path) {
            n = n == null ? null : n.get(p);
        }
        return n;
    }

    static Object toCel(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            n.fields().forEachRemaining(e -> m.put(CEL_KEYWORDS.contains(e.getKey()) ? "__" + e.getKey() + "__" : e.getKey(),
                    toCel(e.getValue())));
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(e -> l.add(toCel(e)));
            return l;
        }
        if (n.isIntegralNumber()) {
            return n.asLong();
        }
        if (n.isNumber()) {
            return n.asDouble();
        }
        if (n.isBoolean()) {
            return n.asBoolean();
        }
        return n.asText();
    }
}
