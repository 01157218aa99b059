package io.hsmoperator.local;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionNames;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;

import java.util.List;

/**
 * The API discovery documents the Fabric8 mock server does not serve, built from the CRDs, so that kubectl can talk to
 * the in-process API ({@code kubectl get hsmkeys}, {@code kubectl get hsm}).
 */
final class Discovery {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> VERBS = List.of("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch");
    /** The core kinds a user of the quick start looks at: name, kind, namespaced. */
    private static final String[][] CORE = {
            {"namespaces", "Namespace", "false"}, {"secrets", "Secret", "true"}, {"configmaps", "ConfigMap", "true"},
            {"events", "Event", "true"}, {"pods", "Pod", "true"}, {"serviceaccounts", "ServiceAccount", "true"}};

    private Discovery() {
    }

    static void serve(KubernetesMockServer server, List<CustomResourceDefinition> crds) {
        String group = crds.get(0).getSpec().getGroup();
        String version = crds.get(0).getSpec().getVersions().get(0).getName();
        String groupVersion = group + "/" + version;

        ArrayNode resources = JSON.createArrayNode();
        for (CustomResourceDefinition crd : crds) {
            CustomResourceDefinitionNames names = crd.getSpec().getNames();
            boolean namespaced = "Namespaced".equals(crd.getSpec().getScope());
            ObjectNode r = resource(names.getPlural(), names.getKind(), namespaced, VERBS);
            r.put("singularName", names.getSingular());
            names.getShortNames().forEach(r.withArray("shortNames")::add);
            names.getCategories().forEach(r.withArray("categories")::add);
            resources.add(r);
            resources.add(resource(names.getPlural() + "/status", names.getKind(), namespaced, List.of("get", "patch", "update")));
        }
        ArrayNode core = JSON.createArrayNode();
        for (String[] k : CORE) {
            core.add(resource(k[0], k[1], Boolean.parseBoolean(k[2]), VERBS));
        }

        ObjectNode gv = JSON.createObjectNode().put("groupVersion", groupVersion).put("version", version);
        ObjectNode apiGroup = JSON.createObjectNode().put("kind", "APIGroup").put("apiVersion", "v1").put("name", group);
        apiGroup.withArray("versions").add(gv);
        apiGroup.set("preferredVersion", gv);
        ObjectNode groups = JSON.createObjectNode().put("kind", "APIGroupList").put("apiVersion", "v1");
        groups.withArray("groups").add(apiGroup.deepCopy().without(List.of("kind", "apiVersion")));

        respond(server, "/api", JSON.createObjectNode().put("kind", "APIVersions").set("versions", JSON.createArrayNode().add("v1")));
        respond(server, "/apis", groups);
        respond(server, "/apis/" + group, apiGroup);
        respond(server, "/apis/" + groupVersion, resourceList(groupVersion, resources));
        respond(server, "/api/v1", resourceList("v1", core));
    }

    private static ObjectNode resource(String name, String kind, boolean namespaced, List<String> verbs) {
        ObjectNode r = JSON.createObjectNode().put("name", name).put("singularName", "").put("namespaced", namespaced).put("kind", kind);
        verbs.forEach(r.withArray("verbs")::add);
        return r;
    }

    private static ObjectNode resourceList(String groupVersion, ArrayNode resources) {
        ObjectNode list = JSON.createObjectNode().put("kind", "APIResourceList").put("apiVersion", "v1").put("groupVersion", groupVersion);
        list.set("resources", resources);
        return list;
    }

    private static void respond(KubernetesMockServer server, String path, Object body) {
        String json = body.toString();
        // kubectl adds ?timeout=32s to discovery requests.
        server.expect().get().withPath(path).andReturn(200, json).always();
        server.expect().get().withPath(path + "?timeout=32s").andReturn(200, json).always();
    }
}
