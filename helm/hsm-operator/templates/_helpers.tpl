{{- define "hsm-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hsm-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hsm-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hsm-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hsm-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hsm-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "hsm-operator.serviceAccountName" -}}
{{- default (include "hsm-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The namespaces the operator watches, one per line; empty for mode all. */}}
{{- define "hsm-operator.watchedNamespaces" -}}
{{- if eq .Values.watch.mode "own" -}}
{{ .Release.Namespace }}
{{- else if eq .Values.watch.mode "list" -}}
{{- range (.Values.watch.namespaces | uniq) }}
{{ . }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Namespaces where the operator handles Secrets: where ManagedHsms may be declared (tenancy entries
namespace=subscription/resourceGroup; {operator-namespace} is the release namespace) plus rbac.secretNamespaces.
A namespace written as a pattern cannot be named in RBAC: it must be listed in rbac.secretNamespaces.
*/}}
{{- define "hsm-operator.secretNamespaces" -}}
{{- $out := list -}}
{{- range .Values.tenancy.managedHsmNamespaces -}}
{{- $ns := trim (index (splitList "=" .) 0) -}}
{{- if eq $ns "{operator-namespace}" -}}
{{- $out = append $out $.Release.Namespace -}}
{{- else if contains "*" $ns -}}
{{- if eq (len $.Values.rbac.secretNamespaces) 0 -}}
{{- fail (printf "tenancy.managedHsmNamespaces entry %q names namespaces by a pattern: list those namespaces by name in rbac.secretNamespaces, so that the chart can grant Secrets there (RBAC has no patterns)" .) -}}
{{- end -}}
{{- else -}}
{{- $out = append $out $ns -}}
{{- end -}}
{{- end -}}
{{- range .Values.rbac.secretNamespaces -}}
{{- $out = append $out . -}}
{{- end -}}
{{- range ($out | uniq) }}
{{ . }}
{{- end -}}
{{- end -}}

{{/*
Namespaces where HsmBackups and HsmRestores read the SAS token of their container from a Secret (get only): rbac.backupSecretNamespaces,
else the watched namespaces (watch.mode own or list). With watch.mode all and no list, none: Secrets are never readable
cluster-wide, so HsmBackups then work only where ManagedHsms may be declared (secretNamespaces, which grant get already).
The namespaces secretNamespaces names are left out: their Role grants get already.
*/}}
{{- define "hsm-operator.backupSecretNamespaces" -}}
{{- $out := .Values.rbac.backupSecretNamespaces -}}
{{- if eq (len $out) 0 -}}
{{- $out = include "hsm-operator.watchedNamespaces" . | trim | splitList "\n" | compact -}}
{{- end -}}
{{- $granted := include "hsm-operator.secretNamespaces" . | trim | splitList "\n" -}}
{{- range ($out | uniq) }}
{{- if not (has . $granted) }}
{{ . }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Namespaces where HsmKeys may restart workloads (workloadRestarts.enabled): workloadRestarts.namespaces, else the
watched namespaces (watch.mode own or list). With watch.mode all they must be listed: a restart is a rollout of
someone's workload, never granted cluster-wide.
*/}}
{{- define "hsm-operator.restartNamespaces" -}}
{{- if .Values.workloadRestarts.enabled -}}
{{- $out := .Values.workloadRestarts.namespaces -}}
{{- if eq (len $out) 0 -}}
{{- if eq .Values.watch.mode "all" -}}
{{- fail "workloadRestarts.enabled with watch.mode all: list the namespaces where HsmKeys may restart workloads in workloadRestarts.namespaces (the chart never grants patch on Deployments and StatefulSets cluster-wide)" -}}
{{- end -}}
{{- $out = include "hsm-operator.watchedNamespaces" . | trim | splitList "\n" -}}
{{- end -}}
{{- range ($out | uniq) }}
{{ . }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hsm-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Rules in every watched namespace (a ClusterRole with watch.mode all). */}}
{{- define "hsm-operator.workRules" -}}
- apiGroups: ["hsmoperator.io"]
  resources: ["managedhsms", "hsmkeys", "hsmroleassignments", "hsmdiagnostics", "privateendpoints", "hsmbackups", "hsmrestores", "hsmroledefinitions"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["hsmoperator.io"]
  resources: ["managedhsms/status", "hsmkeys/status", "hsmroleassignments/status", "hsmdiagnostics/status", "privateendpoints/status", "hsmbackups/status", "hsmrestores/status", "hsmroledefinitions/status"]
  verbs: ["patch", "update"]
- apiGroups: ["hsmoperator.io"]
  resources: ["managedhsms/finalizers", "hsmkeys/finalizers", "hsmroleassignments/finalizers", "hsmdiagnostics/finalizers", "privateendpoints/finalizers", "hsmbackups/finalizers", "hsmrestores/finalizers", "hsmroledefinitions/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
