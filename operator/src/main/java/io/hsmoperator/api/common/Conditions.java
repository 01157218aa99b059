package io.hsmoperator.api.common;

/** Condition types and annotation keys that are part of the public API. */
public final class Conditions {
    public static final String READY = "Ready";
    public static final String RECONCILING = "Reconciling";
    public static final String STALLED = "Stalled";
    public static final String ACTIVATED = "Activated";
    public static final String ROTATION = "RotationDue";
    /**
     * HsmKey: True while the current version expires soon with no rotation to replace it (reason ExpiryBeforeRotation);
     * absent otherwise. Never makes Ready False: the key works until it expires.
     */
    public static final String EXPIRY_WARNING = "ExpiryWarning";

    public static final String GROUP = "hsmoperator.io";
    /** Annotation: a new token rotates the key once. */
    public static final String ROTATE_NOW_ANNOTATION = GROUP + "/rotate-now";
    /** Annotation on an HsmBackup: a new token makes one extra backup. */
    public static final String BACKUP_NOW_ANNOTATION = GROUP + "/backup-now";
    /**
     * Annotation on an HsmKey: a new token accepts the key as Azure now holds it after versions this resource saw went
     * away (a restore of an older backup), so the operator converges it again.
     */
    public static final String ACCEPT_KEY_STATE_ANNOTATION = GROUP + "/accept-key-state";
    /** Annotation: a new value (a time, say) makes the operator look at Azure now instead of at the next resync. */
    public static final String RECONCILE_REQUEST_ANNOTATION = GROUP + "/reconcile-requested-at";
    /**
     * Annotation on a ManagedHsm: a new token downloads the security domain of the active HSM once more, encrypted to the
     * officers' certificates of spec.securityDomain, into its Secret, when no copy of it is stored there.
     */
    public static final String DOWNLOAD_SECURITY_DOMAIN_ANNOTATION = GROUP + "/download-security-domain";
    /**
     * Annotation: {@code "true"} lets a deletion that waits (Azure failing, the HSM gone or no longer permitted) finish
     * without touching Azure; the operator says so in a Warning event.
     */
    public static final String ABANDON_ANNOTATION = GROUP + "/abandon";

    private Conditions() {
    }
}
