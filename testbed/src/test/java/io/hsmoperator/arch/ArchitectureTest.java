package io.hsmoperator.arch;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layering of ARCHITECTURE.md and the never-purge rule, checked on the compiled operator, emulator and local mode
 * together (this module sees all three). The module boundaries enforce most of it already: the operator's module cannot
 * see the emulator or local mode, and the emulator's cannot see the operator; these rules keep the packages inside the
 * operator in order and guard the boundaries should a dependency ever be added.
 */
class ArchitectureTest {
    private static JavaClasses operator;

    @BeforeAll
    static void load() {
        operator = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(location -> !location.contains("-tests.jar")).importPackages("io.hsmoperator");
        assertTrue(operator.size() > 50, "the operator's classes were found");
        for (String c : new String[]{"io.hsmoperator.reconciler.ManagedHsmReconciler", "io.hsmoperator.emulator.Emulator",
                "io.hsmoperator.local.LocalEmulator"}) {
            assertTrue(operator.contain(c), c + " is among the classes checked");
        }
    }

    @Test
    void operatorCodeNeverImportsTheEmulator() {
        // Only local mode (io.hsmoperator.local) starts the emulator; everything else reaches Azure through the Azure layer.
        noClasses().that().resideInAnyPackage("io.hsmoperator.api..", "io.hsmoperator.azure..", "io.hsmoperator.reconciler..",
                        "io.hsmoperator.rotation..", "io.hsmoperator.publish..")
                .should().dependOnClassesThat().resideInAPackage("io.hsmoperator.emulator..")
                .check(operator);
    }

    @Test
    void theEmulatorDependsOnNothingOfTheOperator() {
        noClasses().that().resideInAPackage("io.hsmoperator.emulator..")
                .should().dependOnClassesThat().resideInAnyPackage("io.hsmoperator.api..", "io.hsmoperator.reconciler..",
                        "io.hsmoperator.local..", "io.hsmoperator.rotation..", "io.hsmoperator.publish..")
                .check(operator);
    }

    @Test
    void onlyTheAzureLayerTalksToTheAzureSdk() {
        noClasses().that().resideInAnyPackage("io.hsmoperator.api..", "io.hsmoperator.reconciler..", "io.hsmoperator.rotation..")
                .should().dependOnClassesThat().resideInAnyPackage("com.azure.resourcemanager..", "com.azure.security..")
                .check(operator);
    }

    @Test
    void theApiDependsOnNoOtherLayer() {
        noClasses().that().resideInAPackage("io.hsmoperator.api..")
                .should().dependOnClassesThat().resideInAnyPackage("io.hsmoperator.azure..", "io.hsmoperator.reconciler..",
                        "io.hsmoperator.local..", "io.hsmoperator.emulator..")
                .check(operator);
    }

    @Test
    void thePublisherDependsOnNoReconciler() {
        // The publisher returns what it found and did; conditions and events are the reconciler's to write.
        noClasses().that().resideInAPackage("io.hsmoperator.publish..")
                .should().dependOnClassesThat().resideInAPackage("io.hsmoperator.reconciler..")
                .check(operator);
    }

    @Test
    void nothingOutsideTheEmulatorCallsAPurgeApi() {
        noClasses().that().resideOutsideOfPackage("io.hsmoperator.emulator..")
                .should().callMethodWhere(new DescribedPredicate<JavaMethodCall>("a purge method (purgeDeletedKey, beginPurgeDeleted, ...)") {
                    @Override
                    public boolean test(JavaMethodCall call) {
                        // Reading purge protection or a scheduled purge date is fine; any purge operation is not.
                        return call.getName().toLowerCase(Locale.ROOT).matches("(begin)?purge(?!protection).*");
                    }
                })
                .check(operator);
    }
}
