package io.hsmoperator.emulator;

import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.KeyCurveName;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import org.junit.jupiter.api.Test;

import java.security.MessageDigest;

import static org.junit.jupiter.api.Assertions.assertTrue;

class EmulatorSmokeTest {
    @Test
    void createActivateSignVerify() throws Exception {
        try (Emulator emu = Emulator.start(EmulatorConfig.inMemory())) {
            EmulatorClients c = new EmulatorClients(emu, emu.builtInPrincipal());
            String uri = HsmFixtures.readyHsm(c, "rg1", "smoke-hsm", HsmFixtures.CRYPTO_USER);
            KeyClient keys = c.keys(uri);
            KeyVaultKey key = keys.createEcKey(new CreateEcKeyOptions("k1").setCurveName(KeyCurveName.P_256).setHardwareProtected(true));
            byte[] digest = MessageDigest.getInstance("SHA-256").digest("hello".getBytes());
            var crypto = c.crypto(key.getId());
            var sig = crypto.sign(SignatureAlgorithm.ES256, digest);
            assertTrue(crypto.verify(SignatureAlgorithm.ES256, digest, sig.getSignature()).isValid());
            emu.controls().journal().forEach(System.out::println);
        }
    }
}
