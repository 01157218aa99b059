package io.hsmoperator.api.diagnostics;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

import java.util.ArrayList;
import java.util.List;

public class HsmDiagnosticsStatus extends HsmRefStatus {
    @JsonPropertyDescription("Resource ID of the diagnostic setting.")
    public String settingId;

    @JsonPropertyDescription("Name of the diagnostic setting.")
    public String settingName;

    @JsonPropertyDescription("True when the setting existed before this resource and was adopted (spec.adoptExisting): deleting "
            + "this resource then leaves it in place.")
    public Boolean adopted;

    @JsonPropertyDescription("Destinations in effect, as Azure reports them.")
    public List<String> destinations = new ArrayList<>();

    @JsonPropertyDescription("Log categories or category groups in effect.")
    public List<String> logs = new ArrayList<>();

    @JsonPropertyDescription("The last update the operator sent to correct drift (cleared once Azure reports the spec's values).")
    public io.hsmoperator.api.common.LastUpdate lastUpdate;
}
