package io.hsmoperator.api.common;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.List;

/** What every kind reports: Kubernetes conditions and the generation they describe. Unset fields are left out. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public abstract class HsmStatus {
    @JsonPropertyDescription("The metadata.generation this status describes.")
    public Long observedGeneration;

    @JsonPropertyDescription("Conditions following the Kubernetes conventions. Ready is the summary; Reconciling and Stalled say "
            + "whether the operator is still working or needs a change from you.")
    public List<Condition> conditions = new ArrayList<>();
}
