package io.hsmoperator.kube;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP forwarder in front of the API server that a test can take away: {@link #cut()} drops every connection and
 * refuses new ones (as an API server restarting looks to a client), {@link #blackhole()} keeps every connection open
 * and forwards nothing, in either direction, and connects nothing new (as a network partition looks: requests hang
 * until the client's own timeouts give up), until {@link #restore()}.
 */
public final class TcpProxy implements AutoCloseable {
    private final ServerSocket server;
    private final InetSocketAddress target;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile boolean down;
    private final Object gate = new Object();
    private boolean blackholed;

    public TcpProxy(String host, int port) throws IOException {
        this.target = new InetSocketAddress(host, port);
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::accept, "tcp-proxy-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    public void cut() {
        down = true;
        open.forEach(TcpProxy::quietlyClose);
        open.clear();
    }

    public void blackhole() {
        synchronized (gate) {
            blackholed = true;
        }
    }

    public void restore() {
        down = false;
        synchronized (gate) {
            blackholed = false;
            gate.notifyAll();
        }
    }

    /** Returns once bytes may flow; what was read meanwhile is delivered then, as TCP delivers it after a partition. */
    private void awaitForwarding() throws InterruptedException {
        synchronized (gate) {
            while (blackholed) {
                gate.wait();
            }
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                if (down) {
                    client.close();
                    continue;
                }
                open.add(client);
                Thread t = new Thread(() -> connect(client), "tcp-proxy-connect");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                // A refused or broken connection is what a client sees of an outage; keep accepting.
            }
        }
    }

    private void connect(Socket client) {
        try {
            awaitForwarding();
            Socket upstream = new Socket();
            upstream.connect(target, 5000);
            open.add(upstream);
            pipe(client, upstream);
            pipe(upstream, client);
        } catch (IOException | InterruptedException e) {
            quietlyClose(client);
            open.remove(client);
        }
    }

    private void pipe(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    awaitForwarding();
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // closed by cut() or by either side
            } finally {
                quietlyClose(from);
                quietlyClose(to);
                open.remove(from);
                open.remove(to);
            }
        }, "tcp-proxy-pipe");
        t.setDaemon(true);
        t.start();
    }

    private static void quietlyClose(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        cut();
        server.close();
    }
}
