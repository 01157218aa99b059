package io.hsmoperator.emulator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/** Runs the emulator as its own process: {@code bin/hsm-emulator [options]}. */
public final class EmulatorMain {
    private EmulatorMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        Path dir = Path.of(".hsm-emulator");
        boolean persistent = true;
        int port = 8443;
        boolean testControls = false;
        String bind = "127.0.0.1";
        String advertise = "127.0.0.1";
        List<String> names = new ArrayList<>();
        Duration provisioning = Duration.ofSeconds(3);
        Duration propagation = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--state-dir": dir = Path.of(args[++i]); break;
                case "--in-memory": persistent = false; break;
                case "--port": port = Integer.parseInt(args[++i]); break;
                case "--test-controls": testControls = true; break;
                case "--bind": bind = args[++i]; break;
                case "--advertise": advertise = args[++i]; names.add(advertise); break;
                case "--host-name": names.add(args[++i]); break;
                case "--provisioning-seconds": provisioning = Duration.ofSeconds(Long.parseLong(args[++i])); break;
                case "--rbac-propagation-seconds": propagation = Duration.ofSeconds(Long.parseLong(args[++i])); break;
                case "-h": case "--help":
                    usage();
                    return;
                default:
                    System.err.println("Unknown option: " + args[i]);
                    usage();
                    System.exit(2);
            }
        }
        EmulatorConfig base = EmulatorConfig.standalone(dir);
        EmulatorConfig config = base.withStateDir(dir, persistent).withPort(port).withTestControls(testControls)
                .withNetwork(bind, advertise, names)
                .withDelays(provisioning, base.activationDelay(), base.updateDelay(), base.jobDuration())
                .withRbacPropagation(propagation != null ? propagation : base.rbacPropagation());
        Emulator emulator = Emulator.start(config);
        Runtime.getRuntime().addShutdownHook(new Thread(emulator::close));
        System.out.println("hsm-operator Azure emulator listening on " + emulator.baseUrl());
        System.out.println("  ARM endpoint and authority host: " + emulator.armEndpoint());
        System.out.println("  tenant: " + emulator.tenantId());
        System.out.println("  CA certificate: " + emulator.caCertificatePath().toAbsolutePath());
        System.out.println("  connection file (client ID and secret of the built-in principal): "
                + emulator.connectionFile().toAbsolutePath());
        System.out.println("  state: " + (persistent ? dir.toAbsolutePath() : "in memory") + ", test controls: "
                + (testControls ? "on" : "off"));
        System.out.println("Press Ctrl+C to stop.");
        new CountDownLatch(1).await();
    }

    private static void usage() {
        System.out.println("Usage: bin/hsm-emulator [--state-dir DIR] [--in-memory] [--port N] [--test-controls]\n"
                + "                       [--bind ADDRESS] [--advertise HOST] [--host-name NAME] [--provisioning-seconds N]\n"
                + "                       [--rbac-propagation-seconds N]  (default 5: a new role assignment works after N seconds)\n"
                + "Serves ARM, Entra ID and one Managed HSM data plane per emulated HSM over HTTPS (default port 8443).");
    }
}
