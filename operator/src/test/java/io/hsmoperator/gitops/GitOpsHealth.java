package io.hsmoperator.gitops;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hsmoperator.tools.GoTools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What Argo CD and kstatus make of Kubernetes objects, decided by their own code: {@code tools/gitops-health}, a small Go
 * program built on Argo CD's {@code util/lua} (and the gitops-engine health assessment its controller calls) and on
 * kstatus's {@code status.Compute} (sigs.k8s.io/cli-utils), at the versions its go.mod pins. The health scripts are
 * {@code config/argocd/*.lua}, installed as Argo CD's settings read argocd-cm.
 *
 * <p>The first use in a JVM runs {@code tools/gitops-health/build}, which builds the tool from the Go module proxy when
 * its sources changed (a few minutes the first time on a machine) and otherwise only prints where it is. Each call then
 * judges all its objects in one run of the tool; results are kept per object, so tests that judge the same fixtures again
 * do not start it again.
 *
 * <p>Built and run through {@link GoTools}, which says why from the tests rather than a Maven execution.
 */
public final class GitOpsHealth {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tool's answer: a status and its message, or the error the tool reported (a failing script, say). */
    public record Health(String status, String message, String error) {
    }

    /**
     * One object's results: {@code argoCd} what Argo CD shows (a resource being deleted is Progressing before any script
     * runs), {@code argoCdScript} what the kind's health script returns, {@code kstatus} kstatus's status. A health is null
     * when Argo CD has no check for the kind.
     */
    public record Result(String apiVersion, String kind, String namespace, String name, @JsonProperty("argocd") Health argoCd,
                         @JsonProperty("argocdScript") Health argoCdScript, Health kstatus) {
    }

    private static final Map<String, Result> JUDGED = new ConcurrentHashMap<>();

    private GitOpsHealth() {
    }

    /** Argo CD's health checks, one {@code <group>_<Kind>.lua} per kind, and argocd-cm.yaml with the same scripts. */
    public static Path argoCdDirectory() {
        return GoTools.root().resolve("config/argocd");
    }

    /** The built tool; built (or found up to date) once per JVM. */
    public static Path binary() {
        return GoTools.binary("gitops-health");
    }

    /** The results for one object, with the health checks of config/argocd/. */
    public static Result of(JsonNode object) {
        List<Result> results = of(List.of(object));
        return results.get(0);
    }

    /**
     * Each object's results, in order, with the health checks of config/argocd/: for the e2e, the statuses the operator
     * really wrote (say, {@code kubectl get ... -o json}'s items).
     */
    public static List<Result> of(List<? extends JsonNode> objects) {
        List<JsonNode> missing = objects.stream().filter(o -> !JUDGED.containsKey(o.toString())).map(o -> (JsonNode) o).toList();
        if (!missing.isEmpty()) {
            List<Result> results = judge(missing, List.of("--argocd-lua-dir", argoCdDirectory().toString()));
            for (int i = 0; i < missing.size(); i++) {
                JUDGED.put(missing.get(i).toString(), results.get(i));
            }
        }
        return objects.stream().map(o -> JUDGED.get(o.toString())).toList();
    }

    /** Each object's results with the given flags of the tool (say, {@code --argocd-cm config/argocd/argocd-cm.yaml}). */
    public static List<Result> judge(List<? extends JsonNode> objects, List<String> flags) {
        Path input = null;
        try {
            input = Files.createTempFile("gitops-health", ".json");
            StringBuilder lines = new StringBuilder();
            for (JsonNode o : objects) {
                if (!o.isObject()) {
                    throw new IllegalArgumentException("not a Kubernetes object: " + o);
                }
                lines.append(JSON.writeValueAsString(o)).append('\n');
            }
            Files.writeString(input, lines);
            List<String> command = new ArrayList<>();
            command.add(binary().toString());
            command.addAll(flags);
            command.add(input.toString());
            List<Result> results = new ArrayList<>();
            for (String line : GoTools.runOk(command, 1).lines().filter(l -> !l.isBlank()).toList()) {
                results.add(JSON.readValue(line, Result.class));
            }
            if (results.size() != objects.size()) {
                throw new IllegalStateException("gitops-health judged " + results.size() + " objects of " + objects.size());
            }
            return results;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (input != null) {
                input.toFile().delete();
            }
        }
    }
}
