package io.hsmoperator.azure;

import com.azure.core.util.Context;
import com.azure.resourcemanager.monitor.fluent.DiagnosticSettingsOperationsClient;
import com.azure.resourcemanager.monitor.fluent.models.DiagnosticSettingsResourceInner;
import com.azure.resourcemanager.monitor.models.LogSettings;
import com.azure.resourcemanager.monitor.models.MetricSettings;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** {@link DiagnosticSettings} on the Monitor resource manager's service client. */
@Singleton
public class ArmDiagnosticSettings implements DiagnosticSettings {
    static final String ALL_METRICS = "AllMetrics";
    private final AzureClients clients;

    public ArmDiagnosticSettings(AzureClients clients) {
        this.clients = clients;
    }

    private DiagnosticSettingsOperationsClient ops(String resourceId) {
        return clients.monitor(ResourceIds.subscription(resourceId)).serviceClient().getDiagnosticSettingsOperations();
    }

    @Override
    public Optional<Setting> get(String resourceId, String name) {
        return AzureError.find(() -> toSetting(ops(resourceId).getWithResponse(resourceId, name, Context.NONE).getValue()));
    }

    @Override
    @AzureWrite
    public Mutation put(String resourceId, String name, Setting s) {
        List<LogSettings> logs = new ArrayList<>();
        s.categories().forEach(c -> logs.add(new LogSettings().withCategory(c).withEnabled(true)));
        s.categoryGroups().forEach(g -> logs.add(new LogSettings().withCategoryGroup(g).withEnabled(true)));
        DiagnosticSettingsResourceInner body = new DiagnosticSettingsResourceInner().withWorkspaceId(s.workspaceId())
                .withLogAnalyticsDestinationType(s.workspaceId() == null ? null : s.destinationType())
                .withStorageAccountId(s.storageAccountId()).withEventHubAuthorizationRuleId(s.eventHubAuthorizationRuleId())
                .withEventHubName(s.eventHubName()).withLogs(logs)
                .withMetrics(List.of(new MetricSettings().withCategory(ALL_METRICS).withEnabled(s.metrics())));
        return AzureError.call(() -> Mutation.of(ops(resourceId).createOrUpdateWithResponse(resourceId, name, body, Context.NONE)));
    }

    @Override
    @AzureWrite
    public Mutation delete(String resourceId, String name) {
        return AzureError.call(() -> Mutation.of(ops(resourceId).deleteWithResponse(resourceId, name, Context.NONE)));
    }

    private static Setting toSetting(DiagnosticSettingsResourceInner d) {
        List<String> categories = new ArrayList<>();
        List<String> groups = new ArrayList<>();
        if (d.logs() != null) {
            for (LogSettings l : d.logs()) {
                if (!l.enabled()) {
                    continue;
                }
                if (l.category() != null) {
                    categories.add(l.category());
                } else if (l.categoryGroup() != null) {
                    groups.add(l.categoryGroup());
                }
            }
        }
        boolean metrics = d.metrics() != null && d.metrics().stream().anyMatch(m -> m.enabled() && ALL_METRICS.equalsIgnoreCase(m.category()));
        return new Setting(d.id(), d.workspaceId(), d.logAnalyticsDestinationType(), d.storageAccountId(), d.eventHubAuthorizationRuleId(),
                d.eventHubName(), categories, groups, metrics);
    }
}
