package io.hsmoperator.api.privateendpoint;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A Microsoft.Network private endpoint to a Managed HSM, so workloads reach it without the public internet. */
@Group("hsmoperator.io")
@Version("v1alpha1")
@Plural("privateendpoints")
@ShortNames("hsmpe")
@Categories("hsm")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Connection", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.connectionState")
@AdditionalPrinterColumn(name = "IP", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.privateIpAddresses[0]")
@AdditionalPrinterColumn(name = "Reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1, jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class PrivateEndpoint extends CustomResource<PrivateEndpointSpec, PrivateEndpointStatus> implements Namespaced {
}
