package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.azure.Mutation;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.UUID;

/**
 * Kubernetes Events on the operator's resources: one per Azure mutation (with the Azure request ID and target), and one
 * Warning per refused destructive action or new permanent failure. Each is also logged at INFO. Never put secrets here.
 */
@Singleton
public class Events {
    private static final Logger LOG = Logger.getLogger(Events.class);
    private final KubernetesClient client;
    private final String instance;

    public Events(KubernetesClient client, OperatorInstance instance) {
        this.client = client;
        this.instance = instance.identity();
    }

    /** An Azure mutation: reason, what it changed, Azure's request ID. */
    public void mutation(HasMetadata on, String reason, String what, Mutation m) {
        emit(on, "Normal", reason, what + " (Azure request " + m.requestId() + ")");
    }

    public void normal(HasMetadata on, String reason, String message) {
        emit(on, "Normal", reason, message);
    }

    public void warning(HasMetadata on, String reason, String message) {
        emit(on, "Warning", reason, message);
    }

    private void emit(HasMetadata on, String type, String reason, String message) {
        String ns = on.getMetadata().getNamespace();
        LOG.infof("%s %s/%s %s: %s", on.getKind(), ns, on.getMetadata().getName(), reason, message);
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        try {
            client.v1().events().inNamespace(ns).resource(new EventBuilder()
                    .withNewMetadata().withName(on.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 13).replace("-", ""))
                    .withNamespace(ns).endMetadata()
                    .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion(on.getApiVersion()).withKind(on.getKind())
                            .withName(on.getMetadata().getName()).withNamespace(ns).withUid(on.getMetadata().getUid())
                            .withResourceVersion(on.getMetadata().getResourceVersion()).build())
                    .withType(type).withReason(reason).withMessage(message).withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .withNewSource().withComponent("hsm-operator").endSource().withReportingComponent("hsmoperator.io/hsm-operator")
                    .withReportingInstance(instance)
                    .build()).create();
        } catch (KubernetesClientException e) {
            LOG.warnf("Could not record event %s on %s/%s: %s", reason, ns, on.getMetadata().getName(), e.getMessage());
        }
    }
}
