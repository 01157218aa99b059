package io.hsmoperator.azure;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Facts about Managed HSM local RBAC roles: the built-in roles' fixed IDs, which of them administer the HSM, and how a
 * role definition ID is spelled. Used to refuse a privileged role before anything is sent to Azure.
 */
public final class HsmRoles {
    public static final String ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";

    /** Built-in role name → role definition GUID (the same in every HSM). */
    public static final Map<String, String> BUILT_IN = Map.ofEntries(
            Map.entry("Managed HSM Administrator", "a290e904-7015-4bba-90c8-60543313cdb4"),
            Map.entry("Managed HSM Crypto Officer", "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"),
            Map.entry("Managed HSM Crypto User", "21dbd100-6940-42c2-9190-5d6cb909625b"),
            Map.entry("Managed HSM Policy Administrator", "4bd23610-cdcf-4971-bdee-bdc562cc28e4"),
            Map.entry("Managed HSM Crypto Auditor", "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"),
            Map.entry("Managed HSM Crypto Service Encryption User", "33413926-3206-4cdd-b39a-83574fe37a17"),
            Map.entry("Managed HSM Crypto Service Release User", "21dbd100-6940-42c2-9190-5d6cb909625c"),
            Map.entry("Managed HSM Backup User", "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"),
            Map.entry("Managed HSM Restore User", "6efe6056-5259-49d2-8b3d-d3d73544b20b"),
            Map.entry("Managed HSM EKM Administrator", "abdd7ec4-a273-4265-bf38-e001014e2d8e"));

    /** Built-in roles that administer the HSM (roles, security domain, backups, settings, key export or purge). */
    public static final Set<String> PRIVILEGED = Set.of("a290e904-7015-4bba-90c8-60543313cdb4", "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
            "4bd23610-cdcf-4971-bdee-bdc562cc28e4", "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "6efe6056-5259-49d2-8b3d-d3d73544b20b",
            "abdd7ec4-a273-4265-bf38-e001014e2d8e");

    private static final String DATA_ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/";

    /**
     * The data actions Managed HSM defines that administer the HSM or let a key leave it: role management, the security
     * domain, full backup and restore, settings, EKM, and on keys export, release, backup, restore and purge. A
     * custom role is administrative when one of its data actions, wildcards expanded, grants any of these.
     */
    static final List<String> ADMINISTRATIVE = Stream.of("roleAssignments/write/action", "roleAssignments/delete/action",
            "roleDefinitions/write/action", "roleDefinitions/delete/action", "securitydomain/download/action",
            "securitydomain/download/read", "securitydomain/upload/action", "securitydomain/upload/read",
            "securitydomain/transferkey/read", "backup/start/action", "backup/status/action", "restore/start/action",
            "restore/status/action", "settings/write/action", "ekm/read/action", "ekm/write/action", "ekm/delete/action",
            "keys/export/action", "keys/release/action", "keys/backup/action", "keys/restore/action", "keys/deletedKeys/delete")
            .map(DATA_ACTION_PREFIX::concat).toList();

    private HsmRoles() {
    }

    /** The GUID of a role given as a built-in name, a GUID, or a full role definition ID; empty for an unknown name. */
    public static Optional<String> guidOf(String role) {
        String r = role.trim();
        for (var e : BUILT_IN.entrySet()) {
            if (e.getKey().equalsIgnoreCase(r)) {
                return Optional.of(e.getValue());
            }
        }
        String last = r.substring(r.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        return last.matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}") ? Optional.of(last) : Optional.empty();
    }

    public static String definitionId(String guid) {
        return ID_PREFIX + guid;
    }

    /**
     * Whether the operator's configuration lists a role (hsm.role-assignments.allowed-privileged-roles: built-in names,
     * GUIDs or role definition IDs) as one that may be granted, and defined, although it administers the HSM.
     */
    public static boolean listed(List<String> allowed, String guid) {
        return allowed.stream().map(HsmRoles::guidOf).anyMatch(g -> g.isPresent() && g.get().equalsIgnoreCase(guid));
    }

    /** The name of a built-in role; empty for a custom one. */
    public static Optional<String> nameOf(String guid) {
        return BUILT_IN.entrySet().stream().filter(e -> e.getValue().equalsIgnoreCase(guid)).map(Map.Entry::getKey).findFirst();
    }

    /**
     * Whether a custom role with these data actions can administer the HSM or take keys out of it, rather than only use
     * or manage keys. Its notDataActions are not subtracted: a role is judged by the most it may grant.
     */
    public static boolean administrative(HsmAccessControl.Permissions p) {
        return administrative(p.dataActions()) || administrative(p.actions());
    }

    /** As {@link #administrative(HsmAccessControl.Permissions)}, for data actions alone. */
    public static boolean administrative(List<String> dataActions) {
        return dataActions.stream().anyMatch(granted -> ADMINISTRATIVE.stream().anyMatch(action -> grants(granted, action)));
    }

    /** Whether a data action as a role writes it ({@code *} stands for any characters, case ignored) covers {@code action}. */
    static boolean grants(String granted, String action) {
        String regex = Stream.of(granted.trim().split("\\*", -1)).map(Pattern::quote).collect(Collectors.joining(".*"));
        return Pattern.compile(regex, Pattern.CASE_INSENSITIVE).matcher(action).matches();
    }
}
