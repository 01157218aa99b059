package io.hsmoperator.api;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The CRD generator sorts additionalPrinterColumns by JSON path (Age first); kubectl shows them in the CRD's order. This
 * build-time post-processor (quarkus.operator-sdk.crd.post-processor) puts them in the order each kind declares its
 * {@code @AdditionalPrinterColumn}s: Ready first, Age last.
 */
public class PrinterColumnOrder implements CRDPostProcessor {
    @Override
    public HasMetadata process(HasMetadata crd, String crdSpecVersion) {
        if (!(crd instanceof CustomResourceDefinition definition)) {
            return crd;
        }
        String kind = definition.getSpec().getNames().getKind();
        List<String> declared = Kinds.ALL.stream().filter(k -> k.getSimpleName().equals(kind)).findFirst()
                .map(k -> Arrays.stream(k.getAnnotationsByType(AdditionalPrinterColumn.class)).map(AdditionalPrinterColumn::name).toList())
                .orElse(List.of());
        for (var version : definition.getSpec().getVersions()) {
            List<CustomResourceColumnDefinition> columns = version.getAdditionalPrinterColumns();
            if (columns != null && !declared.isEmpty()) {
                columns.sort(Comparator.comparingInt(c -> declared.indexOf(c.getName())));
            }
        }
        return crd;
    }
}
