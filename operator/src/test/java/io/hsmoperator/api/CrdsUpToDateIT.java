package io.hsmoperator.api;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * crds/ is committed on purpose; it must be exactly what this build generated from the API classes (printer columns in
 * declared order through the build's {@link PrinterColumnOrder} post-processor).
 */
class CrdsUpToDateIT {
    @Test
    void committedCrdsMatchTheBuild() throws Exception {
        Path generated = Path.of("target", "kubernetes");
        TreeSet<String> built = names(generated);
        TreeSet<String> committed = names(Crds.CRDS);
        assertEquals(8, built.size(), "the build should generate eight CRDs in " + generated);
        assertEquals(built, committed, "crds/ lists other CRDs than the build generates; run bin/update-crds and commit");
        for (String name : built) {
            String want = Files.readString(generated.resolve(name));
            String have = Files.readString(Crds.CRDS.resolve(name));
            if (!want.equals(have)) {
                fail("crds/" + name + " differs from what the build generates from the API classes; run bin/update-crds and commit");
            }
        }
    }

    private static TreeSet<String> names(Path dir) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".hsmoperator.io-v1.yml"))
                    .collect(java.util.stream.Collectors.toCollection(TreeSet::new));
        }
    }
}
