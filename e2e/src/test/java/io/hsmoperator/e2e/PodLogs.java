package io.hsmoperator.e2e;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.LogWatch;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The logs of every container that ran in the pods of a label selector, each followed from the moment it runs into a file
 * of its own: a pod that a rolling update or an uninstall removes takes its logs with it, and a restarted container's
 * predecessor can only be read once ({@code --previous}).
 */
final class PodLogs implements AutoCloseable {
    private final KubernetesClient client;
    private final String namespace;
    private final Map<String, String> selector;
    private final Path dir;
    private final Map<String, LogWatch> followed = new LinkedHashMap<>();
    private final ScheduledExecutorService poll = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "pod-logs");
        t.setDaemon(true);
        return t;
    });

    PodLogs(KubernetesClient client, String namespace, Map<String, String> selector, Path dir) {
        this.client = client;
        this.namespace = namespace;
        this.selector = selector;
        this.dir = dir;
        poll.scheduleWithFixedDelay(this::follow, 0, 300, TimeUnit.MILLISECONDS);
    }

    private synchronized void follow() {
        try {
            for (Pod pod : client.pods().inNamespace(namespace).withLabels(selector).list().getItems()) {
                if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
                    continue;
                }
                for (ContainerStatus c : pod.getStatus().getContainerStatuses()) {
                    String key = pod.getMetadata().getName() + "_" + c.getName() + "_" + c.getRestartCount();
                    if (c.getState().getRunning() == null || followed.containsKey(key)) {
                        continue;
                    }
                    OutputStream out = Files.newOutputStream(dir.resolve(key + ".log"), StandardOpenOption.CREATE,
                            StandardOpenOption.APPEND);
                    followed.put(key, client.pods().inNamespace(namespace).withName(pod.getMetadata().getName())
                            .inContainer(c.getName()).watchLog(out));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            // the API server is busy or a pod went meanwhile: the next round tries again
        }
    }

    /** Everything every container of pod {@code name} wrote so far, its restarts in order. */
    String of(String name) {
        return all().entrySet().stream().filter(e -> e.getKey().startsWith(name + "_")).map(Map.Entry::getValue)
                .collect(Collectors.joining());
    }

    /** Each container's log by pod, container and restart count ({@code pod_container_restarts}). */
    synchronized Map<String, String> all() {
        follow();
        Map<String, String> logs = new LinkedHashMap<>();
        for (String key : followed.keySet()) {
            try {
                logs.put(key, Files.readString(dir.resolve(key + ".log")));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return logs;
    }

    @Override
    public synchronized void close() {
        poll.shutdownNow();
        followed.values().forEach(LogWatch::close);
    }
}
