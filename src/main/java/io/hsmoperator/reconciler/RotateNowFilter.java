package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.hsmoperator.api.common.Conditions;
import io.javaoperatorsdk.operator.processing.event.source.filter.OnUpdateFilter;

import java.util.Map;
import java.util.Objects;

/**
 * HsmKey updates that need a reconcile: spec changes (generation), deletion, finalizer changes, and a new
 * hsmoperator.io/rotate-now token, which is metadata and so would be ignored by generation-aware processing.
 * Status writes and unrelated metadata changes are not reconciled again.
 */
public class RotateNowFilter implements OnUpdateFilter<HasMetadata> {
    @Override
    public boolean accept(HasMetadata updated, HasMetadata old) {
        return !Objects.equals(updated.getMetadata().getGeneration(), old.getMetadata().getGeneration())
                || updated.getMetadata().getDeletionTimestamp() != null
                || !Objects.equals(updated.getMetadata().getFinalizers(), old.getMetadata().getFinalizers())
                || !Objects.equals(token(updated), token(old));
    }

    static String token(HasMetadata r) {
        Map<String, String> a = r.getMetadata().getAnnotations();
        String t = a == null ? null : a.get(Conditions.ROTATE_NOW_ANNOTATION);
        return t == null || t.isBlank() ? null : t.trim();
    }
}
