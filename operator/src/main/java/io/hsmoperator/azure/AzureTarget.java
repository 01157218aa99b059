package io.hsmoperator.azure;

import com.azure.core.credential.TokenCredential;
import com.azure.core.management.AzureEnvironment;

import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Where the operator's Azure is and who it is there: the cloud's endpoints, extra CAs to trust, the credential, and how
 * an HSM region's own data-plane host is named. Built from configuration for real Azure, or by the local mode for the
 * embedded emulator.
 */
public record AzureTarget(AzureEnvironment environment, List<X509Certificate> trust, TokenCredential credential, String tenantId,
                          boolean verifyChallengeResource, String description, RegionalHosts regionalHosts) {

    /** A target whose regions' hosts are named as Azure names them ({@link RegionalHosts#AZURE}). */
    public AzureTarget(AzureEnvironment environment, List<X509Certificate> trust, TokenCredential credential, String tenantId,
                       boolean verifyChallengeResource, String description) {
        this(environment, trust, credential, tenantId, verifyChallengeResource, description, RegionalHosts.AZURE);
    }
}
