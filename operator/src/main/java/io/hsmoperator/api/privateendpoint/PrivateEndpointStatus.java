package io.hsmoperator.api.privateendpoint;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.hsmoperator.api.common.HsmRefStatus;

import java.util.ArrayList;
import java.util.List;

public class PrivateEndpointStatus extends HsmRefStatus {
    @JsonPropertyDescription("Resource ID of the private endpoint.")
    public String resourceId;

    @JsonPropertyDescription("Azure provisioning state of the private endpoint.")
    public String provisioningState;

    @JsonPropertyDescription("Name of the connection on the HSM side.")
    public String connectionName;

    @JsonPropertyDescription("Connection state: Pending, Approved, Rejected or Disconnected.")
    public String connectionState;

    @JsonPropertyDescription("Description that came with the connection state (approval or rejection message).")
    public String connectionDescription;

    @JsonPropertyDescription("Private IP addresses of the endpoint.")
    public List<String> privateIpAddresses = new ArrayList<>();

    @JsonPropertyDescription("FQDNs that resolve to the private IP addresses.")
    public List<String> fqdns = new ArrayList<>();

    @JsonPropertyDescription("With spec.region: that region's own data-plane host of the HSM ({hsm}.{region}.managedhsm.azure.net).")
    public String regionHsmUri;

    @JsonPropertyDescription("The last update the operator sent to correct drift (cleared once Azure reports the spec's values).")
    public io.hsmoperator.api.common.LastUpdate lastUpdate;
}
