package io.hsmoperator.e2e;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hsmoperator.e2e.workload.SignWithPublishedKey;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;

/**
 * A team's workload in its own namespace, run as a Job on the node: {@link SignWithPublishedKey} on the Azure SDK of the
 * operator's image, with the key ID from the ConfigMap the operator published and the Azure identity the
 * workload-identity webhook gives a pod whose ServiceAccount names a client ID. The class and the emulator's CA (as a
 * trust store) come in a ConfigMap.
 */
final class Workload {
    private static final String CLASS = SignWithPublishedKey.class.getName();
    private static final String PASSWORD = "e2e-trust";

    private final Installation installation;
    private final String namespace;
    private final String publishedConfigMap;
    private int runs;

    record Run(boolean succeeded, String log, List<String> injectedEnv) {
    }

    Workload(Installation installation, String namespace, String publishedConfigMap) throws Exception {
        this.installation = installation;
        this.namespace = namespace;
        this.publishedConfigMap = publishedConfigMap;
        byte[] classFile;
        try (InputStream in = SignWithPublishedKey.class.getResourceAsStream(SignWithPublishedKey.class.getSimpleName() + ".class")) {
            classFile = in.readAllBytes();
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("azure-emulator", installation.emulator.caCertificate());
        ByteArrayOutputStream p12 = new ByteArrayOutputStream();
        trust.store(p12, PASSWORD.toCharArray());
        installation.admin.configMaps().inNamespace(namespace).resource(new ConfigMapBuilder().withNewMetadata().withName("e2e-workload")
                .endMetadata().addToBinaryData("class", Base64.getEncoder().encodeToString(classFile))
                .addToBinaryData("truststore.p12", Base64.getEncoder().encodeToString(p12.toByteArray())).build()).serverSideApply();
    }

    /** Runs the workload once as ServiceAccount {@code serviceAccount}, federated with Azure principal {@code objectId}. */
    Run run(String serviceAccount, String objectId) {
        var emulator = installation.emulator;
        String clientId = emulator.inspect(s -> s.principals.get(objectId).clientId);
        emulator.addFederatedCredential(clientId, installation.issuer, "system:serviceaccount:" + namespace + ":" + serviceAccount);
        installation.admin.serviceAccounts().inNamespace(namespace).resource(new ServiceAccountBuilder().withNewMetadata()
                .withName(serviceAccount).addToAnnotations("azure.workload.identity/client-id", clientId).endMetadata().build())
                .serverSideApply();
        // Unique, so that a node kept up between runs (-De2e.node.skip=true) takes the Job too.
        String name = "sign-" + serviceAccount + "-" + (++runs) + "-" + Long.toString(System.nanoTime() % 1_000_000, 36);
        Job job = new JobBuilder().withNewMetadata().withName(name).endMetadata().withNewSpec().withBackoffLimit(0)
                .withNewTemplate().withNewMetadata().addToLabels("azure.workload.identity/use", "true").endMetadata()
                .withNewSpec().withServiceAccountName(serviceAccount).withRestartPolicy("Never")
                .withNewSecurityContext().withRunAsNonRoot(true).withRunAsUser(185L).withNewSeccompProfile().withType("RuntimeDefault")
                .endSeccompProfile().endSecurityContext()
                .addNewContainer().withName("workload").withImage(Node.imageRepository() + ":" + Node.imageTag())
                .withCommand("java", "-XX:TieredStopAtLevel=1", "-Djavax.net.ssl.trustStore=/workload/truststore.p12",
                        "-Djavax.net.ssl.trustStoreType=PKCS12", "-Djavax.net.ssl.trustStorePassword=" + PASSWORD,
                        "-cp", "/workload/classes:/deployments/lib/main/*", CLASS)
                .addNewEnv().withName("KEY_ID").withNewValueFrom().withNewConfigMapKeyRef().withName(publishedConfigMap).withKey("keyId")
                .endConfigMapKeyRef().endValueFrom().endEnv()
                .withNewResources().addToLimits(Map.of("memory", new io.fabric8.kubernetes.api.model.Quantity("256Mi"),
                        "cpu", new io.fabric8.kubernetes.api.model.Quantity("1"))).endResources()
                .withNewSecurityContext().withReadOnlyRootFilesystem(true).withAllowPrivilegeEscalation(false).withNewCapabilities()
                .withDrop("ALL").endCapabilities().endSecurityContext()
                .addNewVolumeMount().withName("workload").withMountPath("/workload").withReadOnly(true).endVolumeMount()
                .addNewVolumeMount().withName("tmp").withMountPath("/tmp").endVolumeMount()
                .endContainer()
                .addNewVolume().withName("workload").withNewConfigMap().withName("e2e-workload")
                .addNewItem().withKey("class").withPath("classes/" + CLASS.replace('.', '/') + ".class").endItem()
                .addNewItem().withKey("truststore.p12").withPath("truststore.p12").endItem().endConfigMap().endVolume()
                .addNewVolume().withName("tmp").withNewEmptyDir().endEmptyDir().endVolume()
                .endSpec().endTemplate().endSpec().build();
        var jobs = installation.admin.batch().v1().jobs().inNamespace(namespace);
        jobs.resource(job).create();
        Job done = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500)).until(() -> jobs.withName(name).get(),
                j -> j.getStatus() != null && (nonZero(j.getStatus().getSucceeded()) || nonZero(j.getStatus().getFailed())));
        Pod pod = installation.admin.pods().inNamespace(namespace).withLabel("job-name", name).list().getItems().get(0);
        String log = installation.admin.pods().inNamespace(namespace).withName(pod.getMetadata().getName()).getLog();
        // What the API server admitted beyond the Job's own env (KEY_ID): the webhook's.
        List<String> injected = pod.getSpec().getContainers().get(0).getEnv().stream().map(EnvVar::getName)
                .filter(n -> !n.equals("KEY_ID")).toList();
        return new Run(nonZero(done.getStatus().getSucceeded()), log, injected);
    }

    private static boolean nonZero(Integer n) {
        return n != null && n > 0;
    }
}
