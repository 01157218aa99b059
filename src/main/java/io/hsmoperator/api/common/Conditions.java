package io.hsmoperator.api.common;

/** Condition types and annotation keys that are part of the public API. */
public final class Conditions {
    public static final String READY = "Ready";
    public static final String RECONCILING = "Reconciling";
    public static final String STALLED = "Stalled";
    public static final String ACTIVATED = "Activated";
    public static final String ROTATION = "RotationDue";

    public static final String GROUP = "hsmoperator.io";
    /** Annotation: a new token rotates the key once. */
    public static final String ROTATE_NOW_ANNOTATION = GROUP + "/rotate-now";
    /** Annotation: a new value (a time, say) makes the operator look at Azure now instead of at the next resync. */
    public static final String RECONCILE_REQUEST_ANNOTATION = GROUP + "/reconcile-requested-at";
    /**
     * Annotation: {@code "true"} lets a deletion that waits (Azure failing, the HSM gone or no longer permitted) finish
     * without touching Azure; the operator says so in a Warning event.
     */
    public static final String ABANDON_ANNOTATION = GROUP + "/abandon";

    private Conditions() {
    }
}
