package io.hsmoperator.azure;

/** Provides the Azure target in local mode; implemented outside the Azure layer (it starts the embedded emulator). */
public interface LocalAzure {
    AzureTarget start();

    /** The emulated service's time (tests move it forward), which the operator then uses as its own. */
    java.time.Clock clock();
}
