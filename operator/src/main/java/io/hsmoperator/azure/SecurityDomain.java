package io.hsmoperator.azure;

import java.security.cert.X509Certificate;
import java.util.List;

/** Managed HSM activation: the security-domain download (there is no SDK client for it). */
public interface SecurityDomain {
    /** Downloads the security domain, encrypted to {@code certificates} with {@code quorum}; Azure then activates the HSM. */
    Download download(String hsmUri, List<X509Certificate> certificates, int quorum);

    /** Success, InProgress, Failed, or NotStarted when no download was made. */
    String status(String hsmUri);

    /** The encrypted security domain. Its toString never shows the blob. */
    final class Download {
        private final String blob;
        private final Mutation mutation;

        public Download(String blob, Mutation mutation) {
            this.blob = blob;
            this.mutation = mutation;
        }

        public String blob() {
            return blob;
        }

        public Mutation mutation() {
            return mutation;
        }

        @Override
        public String toString() {
            return "Download[request " + mutation.requestId() + ", blob of " + blob.length() + " characters]";
        }
    }
}
