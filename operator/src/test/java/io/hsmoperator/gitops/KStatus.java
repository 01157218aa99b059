package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * kstatus's status computation (sigs.k8s.io/cli-utils pkg/kstatus/status, {@code Compute}) for a resource of a kind it
 * has no built-in rules for, as ours: what Flux's {@code wait} and {@code healthChecks} and {@code kpt live status}
 * decide from. Written from its rules, in their order:
 * <ol>
 * <li>metadata.deletionTimestamp set: Terminating;</li>
 * <li>status.observedGeneration present and different from metadata.generation: InProgress;</li>
 * <li>the first condition, in the order they are listed, that is Reconciling=True (InProgress) or Stalled=True
 * (Failed);</li>
 * <li>a Ready condition: True is Current, False or Unknown InProgress;</li>
 * <li>otherwise Current, even without any status at all.</li>
 * </ol>
 */
public final class KStatus {
    public static final String CURRENT = "Current";
    public static final String IN_PROGRESS = "InProgress";
    public static final String FAILED = "Failed";
    public static final String TERMINATING = "Terminating";

    public record Result(String status, String message) {
    }

    private KStatus() {
    }

    public static Result compute(JsonNode resource) {
        JsonNode metadata = resource.path("metadata");
        if (!metadata.path("deletionTimestamp").asText("").isEmpty()) {
            return new Result(TERMINATING, "Resource scheduled for deletion");
        }
        JsonNode generation = metadata.path("generation");
        JsonNode observed = resource.path("status").path("observedGeneration");
        if (generation.isNumber() && observed.isNumber() && observed.longValue() != generation.longValue()) {
            return new Result(IN_PROGRESS, resource.path("kind").asText() + " generation is " + generation.longValue()
                    + ", but latest observed generation is " + observed.longValue());
        }
        JsonNode conditions = resource.path("status").path("conditions");
        for (JsonNode c : conditions) {
            boolean isTrue = "True".equals(c.path("status").asText());
            if ("Reconciling".equals(c.path("type").asText()) && isTrue) {
                return new Result(IN_PROGRESS, c.path("message").asText());
            }
            if ("Stalled".equals(c.path("type").asText()) && isTrue) {
                return new Result(FAILED, c.path("message").asText());
            }
        }
        for (JsonNode c : conditions) {
            if (!"Ready".equals(c.path("type").asText())) {
                continue;
            }
            switch (c.path("status").asText()) {
                case "True":
                    return new Result(CURRENT, "Resource is Ready");
                case "False":
                case "Unknown":
                    return new Result(IN_PROGRESS, c.path("message").asText());
                default:
                    break;
            }
        }
        return new Result(CURRENT, "Resource is current");
    }
}
