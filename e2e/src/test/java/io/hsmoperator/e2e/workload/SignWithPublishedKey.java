package io.hsmoperator.e2e.workload;

import com.azure.core.exception.HttpResponseException;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * A workload as a team writes one: it reads the key ID the operator published (the ConfigMap entry, through its
 * environment), authenticates as the identity the workload-identity webhook gave its pod (AZURE_CLIENT_ID,
 * AZURE_TENANT_ID, AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE), and signs a digest through the HSM. The end-to-end
 * suite runs it in a pod on the Azure SDK in the operator's image; this class reaches the pod through a ConfigMap, so
 * nothing of the tests is in the image. Exit 0: signed and verified; 3: Azure refused (the status is printed).
 */
public final class SignWithPublishedKey {
    private SignWithPublishedKey() {
    }

    public static void main(String[] args) throws Exception {
        String keyId = System.getenv("KEY_ID");
        // The emulator's HSMs are not under managedhsm.azure.net: the SDK's check of the challenge's resource would refuse them.
        CryptographyClient crypto = new CryptographyClientBuilder().keyIdentifier(keyId).disableChallengeResourceVerification()
                .credential(new WorkloadIdentityCredentialBuilder().disableInstanceDiscovery().build()).buildClient();
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("e2e".getBytes(StandardCharsets.UTF_8));
        try {
            byte[] signature = crypto.sign(SignatureAlgorithm.ES256, digest).getSignature();
            boolean valid = crypto.verify(SignatureAlgorithm.ES256, digest, signature).isValid();
            System.out.println("signed with " + keyId + "; verified: " + valid);
            System.exit(valid ? 0 : 1);
        } catch (HttpResponseException e) {
            System.out.println("refused: HTTP " + e.getResponse().getStatusCode());
            System.exit(3);
        }
    }
}
