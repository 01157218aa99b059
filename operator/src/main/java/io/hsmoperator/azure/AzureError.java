package io.hsmoperator.azure;

import com.azure.core.exception.HttpResponseException;
import com.azure.core.http.HttpResponse;
import com.azure.core.management.exception.ManagementException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * An Azure failure, classified once for every caller: throttled and transient ones are retried (honouring Retry-After),
 * permanent ones stop writes until the spec changes. Messages carry Azure's error code and text, never credentials.
 */
public final class AzureError extends RuntimeException {
    public enum Kind {
        /** 429: wait for Retry-After; only this scope is slowed. */
        THROTTLED,
        /** 5xx, timeouts, broken connections: retry with backoff. */
        TRANSIENT,
        NOT_FOUND,
        CONFLICT,
        /** 403: a role or permission is missing. */
        FORBIDDEN,
        /** 401 or a token that cannot be obtained. */
        UNAUTHENTICATED,
        /** 400 and other client errors: the request itself is wrong. */
        BAD_REQUEST
    }

    private final Kind kind;
    private final int status;
    private final String code;
    private final Duration retryAfter;
    private final boolean write;

    public AzureError(Kind kind, int status, String code, String message, Duration retryAfter, Throwable cause) {
        this(kind, status, code, message, retryAfter, cause, false);
    }

    private AzureError(Kind kind, int status, String code, String message, Duration retryAfter, Throwable cause, boolean write) {
        super(message, cause, false, false);
        this.kind = kind;
        this.status = status;
        this.code = code;
        this.retryAfter = retryAfter;
        this.write = write;
    }

    /** A write the operator did not send, because Azure refused it for good before (see {@link WriteGate}). */
    static AzureError withheld(String what, String refusal) {
        return new AzureError(Kind.BAD_REQUEST, 0, WriteGate.WITHHELD, what + " was not sent: Azure refused this resource's last writes "
                + "for good (" + refusal + ")", null, null, true);
    }

    /** Whether Azure answered a request that changes something (not a GET or HEAD). */
    public boolean isWrite() {
        return write;
    }

    public Kind kind() {
        return kind;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public Duration retryAfter() {
        return retryAfter;
    }

    public boolean isTransient() {
        return kind == Kind.THROTTLED || kind == Kind.TRANSIENT;
    }

    public boolean is(Kind k) {
        return kind == k;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Runs an Azure SDK call; any failure comes out classified. */
    public static <T> T call(java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (RuntimeException e) {
            throw of(e);
        }
    }

    /** Runs an Azure SDK read of one thing; 404 means it does not exist. */
    public static <T> java.util.Optional<T> find(java.util.function.Supplier<T> call) {
        try {
            return java.util.Optional.ofNullable(call.get());
        } catch (RuntimeException e) {
            AzureError err = of(e);
            if (err.is(Kind.NOT_FOUND)) {
                return java.util.Optional.empty();
            }
            throw err;
        }
    }

    /** Classifies anything an Azure SDK call can throw. */
    /**
     * The error of a data-plane answer the operator sent itself (no SDK client): Azure's {@code error.code} and message
     * when the body has them, the kind from the status.
     */
    static AzureError ofResponse(com.azure.core.http.HttpResponse r, byte[] bytes, String fallback) {
        String code = String.valueOf(r.getStatusCode());
        String message = fallback;
        try {
            com.fasterxml.jackson.databind.JsonNode err = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(bytes == null ? new byte[0] : bytes).path("error");
            code = err.path("code").asText(code);
            message = err.path("message").asText(message);
        } catch (java.io.IOException ignored) {
            // no JSON body
        }
        int s = r.getStatusCode();
        Kind kind = s == 429 ? Kind.THROTTLED : s >= 500 ? Kind.TRANSIENT : s == 403 ? Kind.FORBIDDEN : s == 409 ? Kind.CONFLICT
                : s == 401 ? Kind.UNAUTHENTICATED : s == 404 ? Kind.NOT_FOUND : Kind.BAD_REQUEST;
        return new AzureError(kind, s, code, message, retryAfter(r), null);
    }

    public static AzureError of(Throwable t) {
        Throwable e = t;
        while (e != null) {
            if (e instanceof AzureError) {
                return (AzureError) e;
            }
            if (e instanceof HttpResponseException && ((HttpResponseException) e).getResponse() != null) {
                return fromResponse((HttpResponseException) e);
            }
            if (e.getClass().getName().equals("com.azure.identity.CredentialUnavailableException")
                    || e.getClass().getName().equals("com.azure.core.exception.ClientAuthenticationException")) {
                return new AzureError(Kind.UNAUTHENTICATED, 401, "AuthenticationFailed",
                        "The operator could not obtain an Azure token: " + firstLine(e.getMessage()), null, t);
            }
            if (e instanceof IOException || e instanceof TimeoutException
                    || e.getClass().getName().startsWith("reactor.netty") || e.getClass().getName().startsWith("io.netty")) {
                return new AzureError(Kind.TRANSIENT, 0, "ConnectionFailed", "Azure could not be reached: " + firstLine(e.getMessage()),
                        null, t);
            }
            e = e.getCause() == e ? null : e.getCause();
        }
        return new AzureError(Kind.TRANSIENT, 0, "Unexpected", "Unexpected failure talking to Azure: " + firstLine(String.valueOf(t.getMessage())),
                null, t);
    }

    private static AzureError fromResponse(HttpResponseException e) {
        HttpResponse r = e.getResponse();
        int status = r.getStatusCode();
        String code = null;
        String message = null;
        if (e instanceof ManagementException && ((ManagementException) e).getValue() != null) {
            code = ((ManagementException) e).getValue().getCode();
            message = ((ManagementException) e).getValue().getMessage();
        }
        if (code == null) {
            try {
                Object v = e.getValue();
                JsonNode body = v instanceof String ? JSON.readTree((String) v) : v == null ? null : JSON.valueToTree(v);
                JsonNode err = body == null ? null : body.has("error") ? body.get("error") : body;
                if (err != null && err.has("code")) {
                    code = err.path("code").asText();
                    message = err.path("message").asText();
                    JsonNode inner = err.path("innererror").path("code");
                    if (!inner.isMissingNode()) {
                        code = code + "/" + inner.asText();
                    }
                }
            } catch (IOException | IllegalArgumentException ignored) {
                // not JSON: fall back to the exception's message
            }
        }
        if (message == null) {
            message = firstLine(e.getMessage());
        }
        Duration retryAfter = retryAfter(r);
        Kind kind;
        if (status == 429) {
            kind = Kind.THROTTLED;
        } else if (status == 408 || status >= 500) {
            kind = Kind.TRANSIENT;
        } else if (status == 404) {
            kind = Kind.NOT_FOUND;
        } else if (status == 409) {
            kind = Kind.CONFLICT;
        } else if (status == 403) {
            kind = Kind.FORBIDDEN;
        } else if (status == 401) {
            kind = Kind.UNAUTHENTICATED;
        } else {
            kind = Kind.BAD_REQUEST;
        }
        String method = r.getRequest() == null ? "GET" : r.getRequest().getHttpMethod().name();
        return new AzureError(kind, status, code == null ? String.valueOf(status) : code, message.replace("\r\n", " "), retryAfter, e,
                !method.equals("GET") && !method.equals("HEAD"));
    }

    static Duration retryAfter(HttpResponse r) {
        String ms = r.getHeaderValue("retry-after-ms");
        if (ms == null) {
            ms = r.getHeaderValue("x-ms-retry-after-ms");
        }
        try {
            if (ms != null) {
                return Duration.ofMillis(Long.parseLong(ms.trim()));
            }
            String s = r.getHeaderValue("Retry-After");
            return s == null ? null : Duration.ofSeconds(Long.parseLong(s.trim()));
        } catch (NumberFormatException ignored) {
            return null;
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).trim();
    }

    /** "403 Forbidden/ForbiddenByRbac: message" — what conditions show. */
    public String describe() {
        return (status > 0 ? status + " " : "") + code + ": " + getMessage();
    }
}
