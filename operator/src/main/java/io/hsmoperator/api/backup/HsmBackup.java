package io.hsmoperator.api.backup;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * Full backups of a Managed HSM on a schedule, into a blob container, with retention of the folders it made. The
 * annotation {@code hsmoperator.io/backup-now: <token>} makes exactly one extra backup per distinct token.
 */
@Group("hsmoperator.io")
@Version("v1alpha1")
@ShortNames("hsmbackup")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Last backup", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.lastSuccessful.time")
// A date column shows a future time as "<invalid>" in kubectl: the timestamp itself reads better.
@AdditionalPrinterColumn(name = "Next backup", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.nextBackupTime")
@AdditionalPrinterColumn(name = "Folder", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.lastSuccessful.folderUrl")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class HsmBackup extends CustomResource<HsmBackupSpec, HsmBackupStatus> implements Namespaced {
}
