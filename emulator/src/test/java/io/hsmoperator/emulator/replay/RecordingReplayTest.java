package io.hsmoperator.emulator.replay;

import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Replays every recording under the recordings directory (the shipped copy of ../shared/conformance/recordings, or
 * -Dconformance.recordings=DIR) and prints one line per recording. A recording listed in skipped.txt is reported with
 * its reason instead; every other recording must pass.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RecordingReplayTest {
    static final Path SHIPPED = Path.of("src", "test", "resources", "conformance", "recordings");
    static final Path SKIPPED = Path.of("src", "test", "resources", "conformance", "skipped.txt");
    private Emulator emulator;
    private RecordingReplayer replayer;

    @BeforeAll
    void start() throws Exception {
        emulator = Emulator.start(EmulatorConfig.inMemory());
        replayer = new RecordingReplayer(emulator);
    }

    @AfterAll
    void stop() {
        emulator.close();
    }

    static Map<String, String> skipped() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(SKIPPED)) {
            if (!line.isBlank() && !line.startsWith("#")) {
                String[] parts = line.split("\\s+", 2);
                out.put(parts[0], parts.length > 1 ? parts[1] : "");
            }
        }
        return out;
    }

    static List<Path> recordings(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(p -> p.toString().endsWith(".json")).sorted().forEach(out::add);
        }
        return out;
    }

    /** The shipped recordings are a copy of ../shared/conformance/recordings; where that exists, they must be identical. */
    @org.junit.jupiter.api.Test
    void shippedCopyMatchesTheSharedRecordings() throws IOException {
        Path shared = Path.of("..", "..", "shared", "conformance", "recordings");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shared), "no ../shared checkout on this machine");
        List<Path> theirs = recordings(shared);
        assertTrue(theirs.size() == recordings(SHIPPED).size(), "the shared recordings changed: copy them into " + SHIPPED);
        for (Path f : theirs) {
            Path mine = SHIPPED.resolve(shared.relativize(f).toString());
            assertTrue(Files.exists(mine) && java.util.Arrays.equals(Files.readAllBytes(f), Files.readAllBytes(mine)),
                    "the shared recording " + f + " differs from the shipped copy");
        }
    }

    @TestFactory
    Stream<DynamicTest> everyRecording() throws IOException {
        Path dir = Path.of(System.getProperty("conformance.recordings", SHIPPED.toString()));
        List<Path> files = recordings(dir);
        assertTrue(!files.isEmpty(), "no recordings under " + dir);
        Map<String, String> skip = skipped();
        System.out.println("Replaying " + files.size() + " recordings from " + dir.toAbsolutePath());
        return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
            String name = f.getFileName().toString().replace(".json", "");
            if (skip.containsKey(name)) {
                System.out.println("SKIP " + name + "  (" + skip.get(name) + ")");
                return;
            }
            RecordingReplayer.Outcome outcome = replayer.replay(f);
            System.out.println(outcome.line());
            if (!outcome.passed()) {
                fail(outcome.line());
            }
        }));
    }
}
