package io.hsmoperator.emulator.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hsmoperator.emulator.Emulator;
import io.hsmoperator.emulator.EmulatorConfig;
import io.hsmoperator.emulator.Json;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The replayer itself must be able to fail: a recording the emulator does not match is reported, with the difference. */
class RecordingReplayerSelfTest {
    @Test
    void shapeComparison() {
        JsonNode rec = Json.parse("{\"key\":{\"kty\":\"RSA-HSM\",\"key_ops\":[\"sign\",\"verify\"],\"n\":\"abc\"},\"tags\":{\"a\":\"b\"}}");
        assertNull(RecordingReplayer.shape(rec, Json.parse("{\"key\":{\"kty\":\"RSA-HSM\",\"key_ops\":[\"verify\",\"sign\"],\"n\":\"xyz\"},"
                + "\"tags\":{\"c\":\"d\"}}"), "$", null), "other values, same shape; key_ops in another order; other tags");
        assertNotNull(RecordingReplayer.shape(rec, Json.parse("{\"key\":{\"kty\":\"EC-HSM\",\"key_ops\":[\"sign\",\"verify\"],\"n\":\"x\"},"
                + "\"tags\":{}}"), "$", null), "a fixed value differs");
        assertNotNull(RecordingReplayer.shape(rec, Json.parse("{\"key\":{\"kty\":\"RSA-HSM\",\"key_ops\":[\"sign\"],\"n\":\"x\"},"
                + "\"tags\":{}}"), "$", null), "key_ops differ as a set");
        assertNotNull(RecordingReplayer.shape(rec, Json.parse("{\"key\":{\"kty\":\"RSA-HSM\",\"key_ops\":[\"sign\",\"verify\"],\"n\":1},"
                + "\"tags\":{}}"), "$", null), "a JSON type differs");
        assertNotNull(RecordingReplayer.shape(rec, Json.parse("{\"key\":{\"kty\":\"RSA-HSM\",\"key_ops\":[\"sign\",\"verify\"]},"
                + "\"tags\":{}}"), "$", null), "a field is missing");
        assertNotNull(RecordingReplayer.shape(Json.parse("{\"value\":[{\"a\":1}]}"), Json.parse("{\"value\":[{\"a\":1,\"b\":2}]}"), "$", null),
                "an array element of another shape");
    }

    @Test
    void aRecordingTheEmulatorDoesNotMatchFails() throws Exception {
        Path original = RecordingReplayTest.SHIPPED.resolve(
                "java/sdk/keyvault/azure-security-keyvault-keys/src/test/resources/session-records/KeyClientManagedHsmTest.createRsaKey[1].json");
        ObjectNode recording = (ObjectNode) Json.MAPPER.readTree(original.toFile());
        ((ObjectNode) recording.get("Entries").get(1).get("ResponseBody").get("attributes")).put("recoverableDays", 90);
        Path dir = Files.createTempDirectory("bad-recording");
        Path bad = dir.resolve("tampered.json");
        Files.write(bad, Json.bytes(recording));
        try (Emulator emulator = Emulator.start(EmulatorConfig.inMemory())) {
            RecordingReplayer replayer = new RecordingReplayer(emulator);
            RecordingReplayer.Outcome good = replayer.replay(original);
            assertTrue(good.passed(), good.line());
            RecordingReplayer.Outcome outcome = replayer.replay(bad);
            assertFalse(outcome.passed());
            assertTrue(outcome.detail().contains("recoverableDays"), outcome.line());
            assertEquals(2, outcome.entries());
        }
    }
}
