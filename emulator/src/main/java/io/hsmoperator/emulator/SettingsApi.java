package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Locale;

import static io.hsmoperator.emulator.HsmDataPlane.activity;

/** The Managed HSM settings REST API: list, get and update the HSM's account settings. */
final class SettingsApi {
    private final Emulator emu;
    private final HsmDataPlane dataPlane;

    SettingsApi(Emulator emu, HsmDataPlane dataPlane) {
        this.emu = emu;
        this.dataPlane = dataPlane;
    }

    Http.Response handle(Http.Request r, State.Hsm hsm) {
        if (r.size() == 1 && r.method.equals("GET")) {
            dataPlane.check(r, hsm, "settings/read/action", "/");
            ArrayNode list = Json.array();
            emu.read(() -> {
                hsm.settings.forEach((k, v) -> list.add(setting(k, v)));
                return null;
            });
            ObjectNode out = Json.object();
            out.set("settings", list);
            return Http.Response.json(200, out);
        }
        String name = r.seg(1);
        if (r.size() == 2 && r.method.equals("GET")) {
            dataPlane.check(r, hsm, "settings/read/action", "/");
            return Http.Response.json(200, emu.read(() -> setting(name, settingValue(hsm, name))));
        }
        if (r.size() == 2 && r.method.equals("PATCH")) {
            dataPlane.check(r, hsm, "settings/write/action", "/");
            String value = Json.text(r.json(), "value");
            if (!"true".equalsIgnoreCase(value) && !"false".equalsIgnoreCase(value)) {
                throw ApiException.badParameter("The setting value must be 'true' or 'false'." + activity());
            }
            return Http.Response.json(200, emu.write(() -> {
                settingValue(hsm, name);
                hsm.settings.put(name, value.toLowerCase(Locale.ROOT));
                emu.dirty();
                return setting(name, value.toLowerCase(Locale.ROOT));
            }));
        }
        throw new ApiException(405, "MethodNotAllowed", "The requested method is not allowed on " + r.path + activity());
    }

    private static String settingValue(State.Hsm hsm, String name) {
        String v = hsm.settings.get(name);
        if (v == null) {
            // Azure answers a name it does not know as a bad request, not as a missing resource (issue 24).
            throw ApiException.badParameter("The setting name '" + name + "' is not valid." + activity());
        }
        return v;
    }

    private static ObjectNode setting(String name, String value) {
        return Json.object().put("name", name).put("type", "boolean").put("value", value);
    }
}
