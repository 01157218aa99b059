package io.hsmoperator.api;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.hsmoperator.api.backup.HsmBackup;
import io.hsmoperator.api.diagnostics.HsmDiagnostics;
import io.hsmoperator.api.hsmkey.HsmKey;
import io.hsmoperator.api.managedhsm.ManagedHsm;
import io.hsmoperator.api.privateendpoint.PrivateEndpoint;
import io.hsmoperator.api.restore.HsmRestore;
import io.hsmoperator.api.roleassignment.HsmRoleAssignment;
import io.hsmoperator.api.roledefinition.HsmRoleDefinition;

import java.util.List;

/** The eight kinds of the API. */
public final class Kinds {
    public static final List<Class<? extends HasMetadata>> ALL = List.of(ManagedHsm.class, HsmKey.class, HsmRoleAssignment.class,
            HsmDiagnostics.class, PrivateEndpoint.class, HsmBackup.class, HsmRestore.class, HsmRoleDefinition.class);

    private Kinds() {
    }
}
