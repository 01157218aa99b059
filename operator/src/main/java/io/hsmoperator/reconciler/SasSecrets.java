package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hsmoperator.api.backup.HsmBackupSpec;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The SAS token of a blob container, read from the Secret an HsmBackup or HsmRestore names, at each reconcile. Never
 * logged, never put in status, an event or a message.
 */
final class SasSecrets {
    /** The token, or why there is none (a message for a SecretMissing condition). */
    record Sas(String token, String problem) {
    }

    private SasSecrets() {
    }

    /** {@code what}: what the SAS is for, as the message says it ("the container"). */
    static Sas read(KubernetesClient kubernetes, String namespace, HsmBackupSpec.SecretKeyRef ref, String what) {
        Secret s;
        try {
            s = kubernetes.secrets().inNamespace(namespace).withName(ref.name).get();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 403) {
                throw e;
            }
            return new Sas(null, "The operator may not read Secret " + ref.name + " in namespace " + namespace + " (forbidden): the "
                    + "Helm chart grants get on Secrets only in rbac.backupSecretNamespaces (by default the watched namespaces) and where "
                    + "ManagedHsms may be declared; add this namespace to rbac.backupSecretNamespaces. Nothing was sent to Azure.");
        }
        String value = null;
        if (s != null && s.getData() != null && s.getData().get(ref.key) != null) {
            value = new String(Base64.getDecoder().decode(s.getData().get(ref.key)), StandardCharsets.UTF_8);
        } else if (s != null && s.getStringData() != null) {
            value = s.getStringData().get(ref.key);
        }
        if (value == null || value.isBlank()) {
            return new Sas(null, "Secret " + ref.name + " in namespace " + namespace + " has no key " + ref.key + " (or does not exist): "
                    + "it must hold the SAS token for " + what + ". Nothing was sent to Azure.");
        }
        return new Sas(value.trim().replaceFirst("^\\?", ""), null);
    }
}
