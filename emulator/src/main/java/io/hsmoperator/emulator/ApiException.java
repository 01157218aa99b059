package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An error answered the way Azure answers it: a status, an error code and message, and the envelope
 * that service uses ({"error":{...}} for ARM and the data plane, a bare object for Microsoft.Insights).
 */
public class ApiException extends RuntimeException {
    public enum Envelope { WRAPPED, BARE, EMPTY }

    private final int status;
    private final String code;
    private final Envelope envelope;
    private final Map<String, String> headers = new LinkedHashMap<>();
    private String innerCode;

    public ApiException(int status, String code, String message) {
        this(status, code, message, Envelope.WRAPPED);
    }

    public ApiException(int status, String code, String message, Envelope envelope) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.envelope = envelope;
    }

    public ApiException inner(String innerCode) {
        this.innerCode = innerCode;
        return this;
    }

    public ApiException header(String name, String value) {
        headers.put(name, value);
        return this;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public Envelope envelope() {
        return envelope;
    }

    public Map<String, String> headers() {
        return headers;
    }

    public ObjectNode body() {
        ObjectNode error = Json.object().put("code", code).put("message", getMessage());
        if (innerCode != null) {
            error.set("innererror", Json.object().put("code", innerCode));
        }
        if (envelope == Envelope.BARE) {
            return error;
        }
        ObjectNode wrapped = Json.object();
        wrapped.set("error", error);
        return wrapped;
    }

    public static ApiException notFound(String message) {
        return new ApiException(404, "ResourceNotFound", message);
    }

    public static ApiException badParameter(String message) {
        return new ApiException(400, "BadParameter", message);
    }
}
