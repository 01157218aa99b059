package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.function.Consumer;

/** The emulator's HTTP plumbing: a request and response model over the JDK's HTTPS server. */
public final class Http {
    private Http() {
    }

    /** One request as the emulator sees it, with the path normalised the way Azure tolerates it. */
    public static final class Request {
        public final String method;
        public final String rawTarget;
        public final String rawPath;
        /** Path with repeated slashes collapsed and no trailing slash; "/" for the root. */
        public final String path;
        public final List<String> segments;
        public final Map<String, String> query;
        public final Headers headers;
        public final byte[] body;
        public final String host;
        public final String scheme = "https";
        /** Which server answered: "arm" or the name of an HSM. */
        public final String endpoint;
        public String principal;
        public String appId;
        /** Set by an injected fault: commit the change, then drop the connection without answering. */
        public boolean dropAfterCommit;
        /** Set by an injected fault: the long-running operation this request starts ends Failed. */
        public boolean failAsync;
        private JsonNode json;

        Request(String endpoint, String method, String rawTarget, Headers headers, byte[] body, String host) {
            this.endpoint = endpoint;
            this.method = method.toUpperCase(Locale.ROOT);
            this.rawTarget = rawTarget;
            int q = rawTarget.indexOf('?');
            this.rawPath = q < 0 ? rawTarget : rawTarget.substring(0, q);
            this.query = parseQuery(q < 0 ? "" : rawTarget.substring(q + 1));
            List<String> segs = new ArrayList<>();
            for (String s : rawPath.split("/")) {
                if (!s.isEmpty()) {
                    segs.add(URLDecoder.decode(s, StandardCharsets.UTF_8));
                }
            }
            this.segments = Collections.unmodifiableList(segs);
            this.path = "/" + String.join("/", segs);
            this.headers = headers;
            this.body = body;
            this.host = host;
        }

        public String header(String name) {
            return headers.getFirst(name);
        }

        /** The request body as JSON, or an empty object when there is none. */
        public JsonNode json() {
            if (json == null) {
                JsonNode parsed = Json.parse(body);
                json = parsed == null ? Json.object() : parsed;
            }
            return json;
        }

        public boolean hasBody() {
            return body != null && body.length > 0;
        }

        public String baseUrl() {
            return scheme + "://" + host;
        }

        /** Segment i, compared case-insensitively by callers through {@link #is}. */
        public String seg(int i) {
            return i < segments.size() ? segments.get(i) : null;
        }

        public boolean is(int i, String value) {
            String s = seg(i);
            return s != null && s.equalsIgnoreCase(value);
        }

        public int size() {
            return segments.size();
        }

        public String apiVersion() {
            return query.get("api-version");
        }

        private static Map<String, String> parseQuery(String q) {
            Map<String, String> m = new LinkedHashMap<>();
            for (String part : q.split("&")) {
                if (part.isEmpty()) {
                    continue;
                }
                int eq = part.indexOf('=');
                String k = URLDecoder.decode(eq < 0 ? part : part.substring(0, eq), StandardCharsets.UTF_8);
                String v = eq < 0 ? "" : URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
                m.put(k, v);
            }
            return m;
        }
    }

    /** A response to write; headers keep their case. */
    public static final class Response {
        public final int status;
        public final Map<String, String> headers = new LinkedHashMap<>();
        public final byte[] body;
        /** Close the connection after the handler has committed, without answering (fault injection). */
        boolean drop;

        public Response(int status, byte[] body) {
            this.status = status;
            this.body = body;
        }

        public static Response json(int status, Object body) {
            Response r = new Response(status, Json.bytes(body));
            r.headers.put("Content-Type", "application/json; charset=utf-8");
            return r;
        }

        public static Response empty(int status) {
            return new Response(status, new byte[0]);
        }

        public Response header(String name, String value) {
            headers.put(name, value);
            return this;
        }
    }

    @FunctionalInterface
    public interface Handler {
        Response handle(Request request) throws Exception;
    }

    /** One HTTPS listener on loopback (or a configured address). */
    public static final class Listener implements AutoCloseable {
        private final HttpsServer server;
        private final String endpoint;

        Listener(String endpoint, String bindHost, int port, SSLContext ssl, ExecutorService executor,
                 Consumer<HttpExchange> dispatcher) throws IOException {
            this.endpoint = endpoint;
            this.server = HttpsServer.create(new InetSocketAddress(bindHost, port), 256);
            server.setHttpsConfigurator(new HttpsConfigurator(ssl));
            server.createContext("/", dispatcher::accept);
            server.setExecutor(executor);
            server.start();
        }

        public int port() {
            return server.getAddress().getPort();
        }

        public String endpoint() {
            return endpoint;
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    static Request read(String endpoint, HttpExchange exchange) throws IOException {
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
        }
        String host = exchange.getRequestHeaders().getFirst("Host");
        if (host == null) {
            host = exchange.getLocalAddress().getHostString() + ":" + exchange.getLocalAddress().getPort();
        }
        // URI.toString() returns the request target exactly as sent, so "///providers/..." survives.
        return new Request(endpoint, exchange.getRequestMethod(), exchange.getRequestURI().toString(),
                exchange.getRequestHeaders(), body, host);
    }

    static void write(HttpExchange exchange, Response response) throws IOException {
        Headers h = exchange.getResponseHeaders();
        response.headers.forEach(h::set);
        boolean noBody = response.body == null || response.body.length == 0
                || response.status == 204 || "HEAD".equalsIgnoreCase(exchange.getRequestMethod());
        exchange.sendResponseHeaders(response.status, noBody ? -1 : response.body.length);
        if (!noBody) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(response.body);
            }
        }
        exchange.close();
    }
}
