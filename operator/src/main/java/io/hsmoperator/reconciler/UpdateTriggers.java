package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.hsmoperator.api.common.Conditions;
import io.javaoperatorsdk.operator.processing.event.source.filter.OnUpdateFilter;

import java.util.Map;
import java.util.Objects;

/**
 * The updates of a resource that need a reconcile: spec changes (generation), deletion, finalizer changes, and five
 * annotations that are metadata and so would be ignored by generation-aware processing: a new
 * hsmoperator.io/rotate-now or hsmoperator.io/accept-key-state token (HsmKey), a new hsmoperator.io/backup-now token (HsmBackup), a new hsmoperator.io/download-security-domain token (ManagedHsm) and a new
 * hsmoperator.io/reconcile-requested-at value (every kind: look at Azure now rather than at the next resync). Status writes and other metadata changes are not reconciled again.
 */
public class UpdateTriggers implements OnUpdateFilter<HasMetadata> {
    @Override
    public boolean accept(HasMetadata updated, HasMetadata old) {
        // Every update of a resource passes here, reconciled or not: where the process learns its own status write landed.
        Reports.shown(updated);
        return !Objects.equals(updated.getMetadata().getGeneration(), old.getMetadata().getGeneration())
                || updated.getMetadata().getDeletionTimestamp() != null
                || !Objects.equals(updated.getMetadata().getFinalizers(), old.getMetadata().getFinalizers())
                || !Objects.equals(token(updated), token(old))
                || !Objects.equals(token(updated, Conditions.BACKUP_NOW_ANNOTATION), token(old, Conditions.BACKUP_NOW_ANNOTATION))
                || !Objects.equals(token(updated, Conditions.ACCEPT_KEY_STATE_ANNOTATION), token(old, Conditions.ACCEPT_KEY_STATE_ANNOTATION))
                || !Objects.equals(annotation(updated, Conditions.RECONCILE_REQUEST_ANNOTATION), annotation(old, Conditions.RECONCILE_REQUEST_ANNOTATION))
                || !Objects.equals(annotation(updated, Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION),
                        annotation(old, Conditions.DOWNLOAD_SECURITY_DOMAIN_ANNOTATION));
    }

    static String token(HasMetadata r) {
        return token(r, Conditions.ROTATE_NOW_ANNOTATION);
    }

    /** The token of a "do it once more" annotation (rotate-now, backup-now), trimmed; null when unset or blank. */
    static String token(HasMetadata r, String annotation) {
        String t = annotation(r, annotation);
        return t == null || t.isBlank() ? null : t.trim();
    }

    /** The value of annotation {@code name} of {@code r}, as set (null when unset). */
    static String annotation(HasMetadata r, String name) {
        Map<String, String> a = r.getMetadata().getAnnotations();
        return a == null ? null : a.get(name);
    }
}
