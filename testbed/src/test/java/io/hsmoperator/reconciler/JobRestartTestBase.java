package io.hsmoperator.reconciler;

import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.sas.BlobContainerSasPermission;
import com.azure.storage.blob.sas.BlobServiceSasSignatureValues;
import io.hsmoperator.emulator.Azurite;
import org.junit.jupiter.api.AfterEach;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * What the tests share that kill the packaged operator while a backup or restore job it started runs in Azure: a Blob
 * service with a container for the test, the SAS Secret, and packaged operators watching the test's namespace (their
 * logs under target/{logDir}/{namespace}/), stopped after each test. The operator inside the test JVM only hosts the
 * emulator: subclasses run with a profile that makes it watch a namespace nobody uses.
 */
abstract class JobRestartTestBase extends OperatorTestBase {
    private final List<Process> processes = new ArrayList<>();
    private Azurite azurite;
    /** The SAS in the test's Secret. */
    private String sas;

    /** The folder under target/ for the operators' logs. */
    abstract String logDir();

    @AfterEach
    void stopProcesses() {
        processes.forEach(Process::destroyForcibly);
        if (azurite != null) {
            azurite.close();
        }
    }

    /**
     * A container of a Blob service started for this test, the Secret {@code sasSecret} with a SAS of {@code permissions}
     * for it, and the credentials the packaged operator signs in with.
     */
    BlobContainerClient storage(String account, String sasSecret, String permissions) {
        azurite = Azurite.start(emulator, List.of(account), null);
        BlobContainerClient container = blobContainer(azurite, account);
        sas = sas(container, permissions);
        sasSecret(ns, sasSecret, sas);
        packagedOperatorCredentials();
        return container;
    }

    static String sas(BlobContainerClient container, String permissions) {
        return container.generateSas(new BlobServiceSasSignatureValues(OffsetDateTime.now().plusHours(2),
                BlobContainerSasPermission.parse(permissions)));
    }

    /** The packaged operator as a pod would run it, watching this test's namespace only. */
    Process operator(String identity) throws IOException {
        Process p = PackagedOperator.watching(emulator, ns, log(identity));
        processes.add(p);
        return p;
    }

    Path log(String identity) {
        return Path.of("target", logDir(), ns, identity + ".log");
    }

    /** Whatever the operators logged, no trace of the SAS {@link #storage} put in the Secret. */
    void assertNoSasInTheLogs(String... identities) throws IOException {
        String signature = sas.substring(sas.indexOf("sig=") + 4).split("&")[0];
        for (String identity : identities) {
            assertFalse(Files.readString(log(identity)).contains(signature), "no SAS in the log of the " + identity + " operator");
        }
    }
}
