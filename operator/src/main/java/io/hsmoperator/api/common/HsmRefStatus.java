package io.hsmoperator.api.common;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** The status of a kind that references a ManagedHsm (spec.hsmRef). */
public abstract class HsmRefStatus extends HsmStatus {
    @JsonPropertyDescription("The ManagedHsm (namespace/name) this resource was made in. hsmRef is immutable: a spec whose hsmRef "
            + "resolves to another ManagedHsm is refused with ImmutableFieldChanged.")
    public String hsm;
}
