package io.hsmoperator.emulator;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/** One emulator per test class, in memory, with test controls on; clients act as its built-in principal. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class EmulatorTestBase {
    private static final AtomicInteger NAMES = new AtomicInteger();
    protected Emulator emulator;
    protected EmulatorClients admin;

    @BeforeAll
    void startEmulator() {
        emulator = Emulator.start(EmulatorConfig.inMemory());
        admin = new EmulatorClients(emulator, emulator.builtInPrincipal());
    }

    @AfterAll
    void stopEmulator() {
        if (emulator != null) {
            emulator.close();
        }
    }

    /** A fresh HSM name: names are global, like DNS names. */
    protected static String hsmName(String prefix) {
        return prefix + "-" + NAMES.incrementAndGet() + UUID.randomUUID().toString().substring(0, 4);
    }

    protected EmulatorClients as(Emulator.Principal p) {
        return new EmulatorClients(emulator, p);
    }
}
