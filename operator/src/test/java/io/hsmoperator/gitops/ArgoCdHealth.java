package io.hsmoperator.gitops;

import com.fasterxml.jackson.databind.JsonNode;
import org.luaj.vm2.Globals;
import org.luaj.vm2.LoadState;
import org.luaj.vm2.LuaTable;
import org.luaj.vm2.LuaValue;
import org.luaj.vm2.compiler.LuaC;
import org.luaj.vm2.lib.PackageLib;
import org.luaj.vm2.lib.StringLib;
import org.luaj.vm2.lib.TableLib;
import org.luaj.vm2.lib.jse.JseBaseLib;
import org.luaj.vm2.lib.jse.JseMathLib;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

/**
 * Runs a health check of {@code config/argocd/} the way Argo CD runs a {@code resource.customizations.health} script:
 * the resource, converted from JSON to Lua tables, is the global {@code obj}; the script returns a table with
 * {@code status} and {@code message}. Only the libraries Argo CD opens are loaded (base, package, table, string, math:
 * no io, no os), so a script that needs more fails here as it would there.
 */
public final class ArgoCdHealth {
    public static final Path DIRECTORY = Path.of("../config/argocd");

    public record Result(String status, String message) {
    }

    private ArgoCdHealth() {
    }

    /** The health check's file for a kind: config/argocd/hsmoperator.io_{kind}.lua. */
    public static Path script(String kind) {
        return DIRECTORY.resolve("hsmoperator.io_" + kind + ".lua");
    }

    /** The health Argo CD would report for {@code resource} (its kind picks the script). */
    public static Result of(JsonNode resource) {
        String kind = resource.path("kind").asText();
        try {
            return run(Files.readString(script(kind)), kind, resource);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Result run(String lua, String name, JsonNode resource) {
        Globals globals = new Globals();
        globals.load(new JseBaseLib());
        globals.load(new PackageLib());
        globals.load(new TableLib());
        globals.load(new StringLib());
        globals.load(new JseMathLib());
        LoadState.install(globals);
        LuaC.install(globals);
        globals.set("obj", lua(resource));
        LuaValue returned = globals.load(lua, name).call();
        if (!returned.istable()) {
            throw new AssertionError(name + " returned " + returned.typename() + ", not a table");
        }
        LuaValue status = returned.get("status");
        LuaValue message = returned.get("message");
        return new Result(status.isnil() ? null : status.tojstring(), message.isnil() ? null : message.tojstring());
    }

    /** JSON as Argo CD hands it to Lua: objects and arrays become tables (arrays from index 1), null is absent. */
    static LuaValue lua(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return LuaValue.NIL;
        }
        if (node.isObject()) {
            LuaTable t = new LuaTable();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                t.set(e.getKey(), lua(e.getValue()));
            }
            return t;
        }
        if (node.isArray()) {
            LuaTable t = new LuaTable();
            for (int i = 0; i < node.size(); i++) {
                t.set(i + 1, lua(node.get(i)));
            }
            return t;
        }
        if (node.isBoolean()) {
            return LuaValue.valueOf(node.booleanValue());
        }
        if (node.isIntegralNumber()) {
            return node.canConvertToInt() ? LuaValue.valueOf(node.intValue()) : LuaValue.valueOf(node.doubleValue());
        }
        if (node.isNumber()) {
            return LuaValue.valueOf(node.doubleValue());
        }
        return LuaValue.valueOf(node.asText());
    }
}
