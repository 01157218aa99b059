package io.hsmoperator.api.restore;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * One restore of a Managed HSM from a full backup folder: every key (full restore) or one key (selective restore). It
 * runs once; once it ended, Succeeded or Failed, it never starts another job. To try again, create a new HsmRestore.
 */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmrestore")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Phase", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.phase")
@AdditionalPrinterColumn(name = "Key", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.keyName")
@AdditionalPrinterColumn(name = "Folder", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".spec.source.folderUrl")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class HsmRestore extends CustomResource<HsmRestoreSpec, HsmRestoreStatus> implements Namespaced {
}
