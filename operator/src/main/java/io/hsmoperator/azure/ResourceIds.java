package io.hsmoperator.azure;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Azure resource IDs: their parts, and whether one names the kind of resource a field expects. */
public final class ResourceIds {
    private static final Pattern ID = Pattern.compile("^/subscriptions/([^/]+)/resource[Gg]roups/([^/]+)/providers/([^/]+)/([^/]+)/([^/]+)((/[^/]+/[^/]+)*)$");

    private ResourceIds() {
    }

    public static String subscription(String id) {
        return part(id, 1);
    }

    public static String resourceGroup(String id) {
        return part(id, 2);
    }

    public static String name(String id) {
        return id.substring(id.lastIndexOf('/') + 1);
    }

    /**
     * Whether {@code id} is a resource ID of {@code type}, for example "Microsoft.OperationalInsights/workspaces" or
     * "Microsoft.EventHub/namespaces/authorizationRules" (provider and type names compare case-insensitively, as Azure does).
     */
    public static boolean isOfType(String id, String type) {
        if (id == null) {
            return false;
        }
        Matcher m = ID.matcher(id);
        if (!m.matches()) {
            return false;
        }
        StringBuilder actual = new StringBuilder(m.group(3)).append('/').append(m.group(4));
        String[] rest = m.group(6).isEmpty() ? new String[0] : m.group(6).substring(1).split("/");
        for (int i = 0; i < rest.length; i += 2) {
            actual.append('/').append(rest[i]);
        }
        return actual.toString().equalsIgnoreCase(type);
    }

    private static String part(String id, int group) {
        Matcher m = ID.matcher(id);
        if (!m.matches()) {
            throw new IllegalArgumentException("not an Azure resource ID: " + id);
        }
        return m.group(group);
    }
}
