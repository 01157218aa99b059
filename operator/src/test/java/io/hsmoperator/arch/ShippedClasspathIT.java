package io.hsmoperator.arch;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the chart's image runs (target/quarkus-app, copied as is by the Dockerfile and the e2e image) holds the operator
 * and its libraries, and nothing that only local mode or the tests need: no Azure emulator with its own token issuer, no
 * Kubernetes mock or test API server, no test library, no test configuration.
 */
class ShippedClasspathIT {
    private static final Path APP = Path.of("target", "quarkus-app");
    /** group:artifact prefixes that must never ship. */
    private static final List<String> FORBIDDEN = List.of(
            "io.hsmoperator:hsm-emulator", "io.hsmoperator:hsm-operator-local", "io.hsmoperator:hsm-testbed",
            "io.fabric8:kube-api-test", "io.fabric8:kubernetes-server-mock", "io.fabric8:mockwebserver",
            "org.junit", "junit:", "org.opentest4j:", "org.apiguardian:", "org.awaitility:", "org.mockito:", "org.assertj:",
            "io.quarkus:quarkus-junit", "io.quarkus:quarkus-test", "com.tngtech.archunit:", "com.marcnuri.helm-java:",
            "org.luaj:", "com.networknt:");

    @Test
    void theDependencyListHoldsNoEmulatorMockOrTestLibrary() throws IOException {
        List<String> deps = Files.readAllLines(APP.resolve("quarkus-app-dependencies.txt"), StandardCharsets.UTF_8);
        // The list is the real one: the operator's own runtime is in it.
        assertTrue(deps.stream().anyMatch(d -> d.startsWith("io.quarkiverse.operatorsdk:quarkus-operator-sdk:")), "operator SDK listed");
        assertTrue(deps.stream().anyMatch(d -> d.startsWith("com.azure:azure-security-keyvault-keys:")), "Azure SDK listed");
        List<String> shipped = deps.stream().filter(d -> FORBIDDEN.stream().anyMatch(d::startsWith)).toList();
        assertEquals(List.of(), shipped, "the operator's image must not carry these");
    }

    @Test
    void theLibraryDirectoryMatchesTheList() throws IOException {
        try (Stream<Path> jars = Files.list(APP.resolve("lib").resolve("main"))) {
            List<String> names = jars.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.size() > 100, "lib/main is the packaged application's: " + names.size() + " jars");
            List<String> shipped = names.stream().filter(n -> n.contains("junit") || n.contains("mockwebserver")
                    || n.contains("kubernetes-server-mock") || n.contains("kube-api-test") || n.startsWith("io.hsmoperator.")).toList();
            assertEquals(List.of(), shipped, "the operator's image must not carry these");
        }
    }

    @Test
    void theOperatorsOwnJarHoldsNeitherEmulatorNorLocalModeNorTestSettings() throws IOException {
        Path jar;
        try (Stream<Path> app = Files.list(APP.resolve("app"))) {
            jar = app.filter(p -> p.getFileName().toString().startsWith("hsm-operator-")).findFirst().orElseThrow();
        }
        try (JarFile f = new JarFile(jar.toFile())) {
            List<String> entries = f.stream().map(e -> e.getName()).toList();
            assertTrue(entries.stream().anyMatch(e -> e.startsWith("io/hsmoperator/reconciler/")), "the reconcilers are in " + jar);
            assertEquals(List.of(), entries.stream().filter(e -> e.startsWith("io/hsmoperator/emulator/")
                    || e.startsWith("io/hsmoperator/local/") || e.startsWith("io/hsmoperator/kube/")).toList());
            String properties = new String(f.getInputStream(f.getEntry("application.properties")).readAllBytes(), StandardCharsets.UTF_8);
            assertFalse(properties.contains("%test."), "test settings ship in the image's application.properties");
        }
    }
}
