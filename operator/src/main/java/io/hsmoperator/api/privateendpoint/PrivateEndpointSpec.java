package io.hsmoperator.api.privateendpoint;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.hsmoperator.api.common.HsmReference;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@ValidationRule(value = HsmReference.UNCHANGED + " && self.azureName == oldSelf.azureName && self.resourceGroup == oldSelf.resourceGroup"
        + " && self.location == oldSelf.location && self.subnetId == oldSelf.subnetId && (!has(self.subscriptionId)"
        + " || !has(oldSelf.subscriptionId) || self.subscriptionId.lowerAscii() == oldSelf.subscriptionId.lowerAscii())",
        message = "hsmRef, azureName, subscriptionId, resourceGroup, location and subnetId are immutable: create a new PrivateEndpoint")
@ValidationRule(value = "(has(self.manualApproval) && self.manualApproval) == (has(oldSelf.manualApproval) && oldSelf.manualApproval)",
        message = "manualApproval is immutable: the connection type of a private endpoint cannot change")
@ValidationRule(value = "!has(self.requestMessage) || (has(self.manualApproval) && self.manualApproval)",
        message = "requestMessage applies to manualApproval connections only")
public class PrivateEndpointSpec {
    public enum DeletionPolicy {
        Delete, Retain
    }

    @Required
    @JsonPropertyDescription("The ManagedHsm to connect to. Immutable.")
    public HsmReference hsmRef;

    @Required
    @Pattern("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,78}[a-zA-Z0-9_]$")
    @JsonPropertyDescription("Name of the private endpoint in Azure. Immutable.")
    public String azureName;

    @Pattern("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    @JsonPropertyDescription("Subscription of the private endpoint; defaults to the HSM's. Immutable.")
    public String subscriptionId;

    @Required
    @Pattern("^[-\\w._()]{0,89}[-\\w()]$")
    @JsonPropertyDescription("Resource group of the private endpoint. Immutable.")
    public String resourceGroup;

    @Required
    @Pattern("^[A-Za-z0-9 ]+$")
    @JsonPropertyDescription("Azure region of the private endpoint (that of its virtual network). Immutable.")
    public String location;

    @Required
    @Pattern("^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[Mm]icrosoft\\.[Nn]etwork/virtual[Nn]etworks/[^/]+/subnets/[^/]+$")
    @JsonPropertyDescription("Resource ID of the subnet the endpoint's network interface goes into. Immutable.")
    public String subnetId;

    @Pattern("^[A-Za-z0-9 ]+$")
    @JsonPropertyDescription("For an HSM replicated to several regions (ManagedHsm spec.regions): the region whose HSM pool this "
            + "endpoint is for, as Azure recommends one private endpoint per region. The endpoint waits until the HSM has the "
            + "region (WaitingForRegion; RegionNotInHsm when the HSM's spec does not list it either), and status.regionHsmUri "
            + "names that region's own data-plane host. Unset: the HSM as a whole.")
    public String region;

    @Size(max = 5)
    @JsonPropertyDescription("Private DNS zones (privatelink.managedhsm.azure.net) to register the HSM's A record in, through a DNS "
            + "zone group named 'default'.")
    public List<@Pattern("^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[Mm]icrosoft\\.[Nn]etwork/private[Dd]ns[Zz]ones/[^/]+$") String> privateDnsZoneIds = new ArrayList<>();

    @Default("false")
    @JsonPropertyDescription("Request the connection for manual approval by the HSM's owner instead of automatic approval. Immutable.")
    public Boolean manualApproval = Boolean.FALSE;

    @Size(max = 140)
    @JsonPropertyDescription("Message shown to the HSM owner with a manual approval request.")
    public String requestMessage;

    @Default("false")
    @JsonPropertyDescription("Approve the pending connection on the HSM side too (when the operator manages both).")
    public Boolean approveConnection = Boolean.FALSE;

    @JsonPropertyDescription("Azure tags on the private endpoint.")
    public Map<String, String> tags = new LinkedHashMap<>();

    @Default("Delete")
    @JsonPropertyDescription("What deleting this resource does: Delete (default) removes the private endpoint; Retain leaves it.")
    public DeletionPolicy deletionPolicy = DeletionPolicy.Delete;
}
