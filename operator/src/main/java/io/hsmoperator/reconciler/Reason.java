package io.hsmoperator.reconciler;

/** Every condition reason the operator writes: CamelCase, documented in the README, stable for alerting. */
public enum Reason {
    // progress
    Reconciling, Creating, Recovering, Provisioning, Updating, Activating, WaitingForHsm, WaitingForAccess, Deleting,
    // done
    Ready, Active, Retained,
    // rotation (condition RotationDue)
    RotationScheduled, RotationInProgress, RotateNowRequested, AzureRotationPolicy, OnDemandOnly,
    // warnings before Azure refuses (condition ExpiryWarning; events on ManagedHsm and HsmRoleAssignment)
    ExpiryBeforeRotation, KeyCountNearLimit, RoleAssignmentsNearLimit, RoleDefinitionsNearLimit,
    // backups (HsmBackup): a job running, another job of the HSM running, the last backup failed (retried on the schedule),
    // the first backup waits for the schedule's window
    BackingUp, AnotherJobRunning, BackupFailed, WaitingForWindow,
    // restores (HsmRestore): the job running, done, failed for good (a new HsmRestore tries again), the key to restore exists
    Restoring, Restored, RestoreFailed, KeyExists,
    // regions (ManagedHsm spec.regions, PrivateEndpoint spec.region): one being added or removed, a change Azure refuses
    // until an add completes (held, nothing sent), a region Azure cannot extend to, a region the HSM does not have
    AddingRegion, RemovingRegion, WaitingForRegion, RegionNotSupported, RegionNotInHsm,
    // key attestation (HsmKey condition Attested): every enabled version's evidence is kept, or Azure gave none for some
    Attested, AttestationUnavailable,
    // bring your own key (HsmKey spec.importFrom): waiting for the transfer blob; the blob, the key exchange key or the
    // imported key is not what the spec asks
    AwaitingKeyMaterial, ImportRefused, KeyExchangeKeyInvalid, ImportMismatch,
    // problems the operator retries on its own
    Throttled, AzureUnavailable,
    // problems that need a change from you
    InvalidSpec, OwnershipConflict, ImmutableFieldChanged, NotFound, NameHeldBySoftDeletedHsm, NameHeldBySoftDeletedKey,
    DeletedOutOfBand, ProvisioningFailed, AuthenticationFailed, PermissionDenied, AzureRejected, RefNotPermitted, HsmNotFound,
    HsmNotReady, SecurityDomainNotConfigured, SecurityDomainSecretMissing, SecurityDomainCertificateInvalid,
    SecurityDomainCertificatesInsufficient, SecurityDomainQuorumInvalid, SecurityDomainSecretHoldsPrivateKey,
    SecurityDomainNotStored, SecurityDomainRewrapMismatch, SecurityDomainMissing, SecurityDomainSecretConflict, ActivationFailed, OperatorNotAdministrator,
    ObserveOnly, DeletionBlocked, KeyMissing, VersionsGone,
    VersionLimitApproaching, RoleNotAllowed, KeyNotReady, AwaitingApproval, ConnectionRejected, NotPermitted, WriteRefused,
    PublishConflict, KubernetesWriteFailed, DriftNotConverging, SecretMissing, NoManagedIdentity,
    // custom roles: the referenced HsmRoleDefinition is not defined yet, the HSM holds as many custom roles as Azure allows
    RoleDefinitionNotReady, RoleDefinitionLimitReached
}
