package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.Locale;

/**
 * The emulator's own API under {@code /emulator}: connection info and principal registration always; faults, the clock
 * and the request journal only when test controls are on. It is served on loopback next to ARM and needs no token.
 */
final class AdminApi {
    private final Emulator emu;

    AdminApi(Emulator emu) {
        this.emu = emu;
    }

    Http.Response handle(Http.Request r) {
        String what = r.seg(1) == null ? "" : r.seg(1).toLowerCase(Locale.ROOT);
        switch (what) {
            case "info":
                return Http.Response.json(200, emu.connectionInfo());
            case "principals":
                return principals(r);
            case "federated-token": {
                JsonNode b = r.json();
                String subject = Json.text(b, "subject");
                if (subject == null) {
                    throw ApiException.badParameter("'subject' is required.");
                }
                return Http.Response.json(200, Json.object().put("token", emu.federatedToken(subject)));
            }
            default:
                break;
        }
        if (!emu.config().testControls()) {
            throw new ApiException(404, "NotFound", "Test controls are off; start the emulator with --test-controls to use " + r.path);
        }
        switch (what) {
            case "faults":
                return faults(r);
            case "clock":
                return clock(r);
            case "journal":
                return journal(r);
            case "tick":
                emu.tick();
                return Http.Response.empty(204);
            default:
                throw new ApiException(404, "NotFound", "No such emulator endpoint: " + r.path);
        }
    }

    private Http.Response principals(Http.Request r) {
        if (r.method.equals("POST")) {
            JsonNode b = r.json();
            Emulator.Principal p = emu.registerPrincipal(b.path("displayName").asText("principal"));
            for (JsonNode subject : b.path("federatedSubjects")) {
                emu.addFederatedCredential(p.clientId(), subject.asText());
            }
            return Http.Response.json(201, Json.object().put("objectId", p.objectId()).put("clientId", p.clientId())
                    .put("clientSecret", p.clientSecret()).put("displayName", p.displayName()));
        }
        ArrayNode list = Json.array();
        emu.inspect(s -> {
            s.principals.values().forEach(p -> list.add(Json.object().put("objectId", p.objectId).put("clientId", p.clientId)
                    .put("displayName", p.displayName)));
            return null;
        });
        return Http.Response.json(200, Json.list(list));
    }

    private Http.Response faults(Http.Request r) {
        if (r.method.equals("DELETE")) {
            emu.controls().clearFaults();
            return Http.Response.empty(204);
        }
        JsonNode b = r.json();
        Controls.FaultKind kind = Controls.FaultKind.valueOf(b.path("kind").asText("STATUS").toUpperCase(Locale.ROOT).replace('-', '_'));
        Controls.Fault f = new Controls.Fault(Json.text(b, "method"), Json.text(b, "endpoint"), Json.text(b, "path"), kind,
                b.path("status").asInt(503), b.path("retryAfterSeconds").asInt(0), b.path("delayMillis").asLong(0),
                b.path("times").asInt(1));
        emu.controls().addFault(f);
        return Http.Response.json(201, Json.object().put("kind", kind.name()));
    }

    private Http.Response clock(Http.Request r) {
        if (r.method.equals("POST")) {
            JsonNode b = r.json();
            Duration d = b.has("seconds") ? Duration.ofSeconds(b.get("seconds").asLong())
                    : Duration.ofSeconds(Durations.seconds(b.path("duration").asText("PT0S")));
            emu.controls().advance(d);
        }
        return Http.Response.json(200, Json.object().put("now", emu.controls().now().toString())
                .put("offsetMillis", emu.controls().clockOffsetMillis()));
    }

    private Http.Response journal(Http.Request r) {
        if (r.method.equals("DELETE")) {
            emu.controls().clearJournal();
            return Http.Response.empty(204);
        }
        long since = Long.parseLong(r.query.getOrDefault("since", "0"));
        ArrayNode entries = Json.array();
        for (Controls.JournalEntry e : emu.controls().journal(e -> e.seq() > since)) {
            entries.add(Json.object().put("seq", e.seq()).put("time", e.time().toString()).put("serviceTime", e.serviceTime().toString())
                    .put("endpoint", e.endpoint()).put("principal", e.principal()).put("method", e.method()).put("path", e.path())
                    .put("query", e.query()).put("status", e.status()).put("clientRequestId", e.clientRequestId()));
        }
        ObjectNode out = Json.object();
        out.set("entries", entries);
        return Http.Response.json(200, out);
    }
}
