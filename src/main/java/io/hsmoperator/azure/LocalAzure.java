package io.hsmoperator.azure;

/** Provides the Azure target in local mode; implemented outside the Azure layer (it starts the embedded emulator). */
public interface LocalAzure {
    AzureTarget start();
}
