{{/* The release's full name: the release name, or release-chart when the release name does not contain the chart's. */}}
{{- define "botwarden.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "botwarden.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "botwarden.labels" -}}
{{ include "botwarden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The in-cluster name the mesh's extension providers call. */}}
{{- define "botwarden.serviceHost" -}}
{{ include "botwarden.fullname" . }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{- define "botwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "botwarden.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding session keys and challenge secrets; empty when there is none. */}}
{{- define "botwarden.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{ .Values.secrets.existingSecret }}
{{- else if or .Values.secrets.sessionKeys .Values.secrets.challengeSecrets -}}
{{ include "botwarden.fullname" . }}
{{- end -}}
{{- end -}}

{{/* A config value with botwarden's default: section, key, default. */}}
{{- define "botwarden.setting" -}}
{{- $s := index (.root.Values.config | default dict) .section | default dict -}}
{{- if hasKey $s .key }}{{ index $s .key }}{{ else }}{{ .default }}{{ end -}}
{{- end -}}

{{/* The challenge endpoint's prefix, with one trailing slash. */}}
{{- define "botwarden.challengePrefix" -}}
{{- include "botwarden.setting" (dict "root" . "section" "challenge" "key" "prefix" "default" "/.well-known/botwarden") | trimSuffix "/" -}}/
{{- end -}}

{{/* botwarden.yaml: .Values.config plus what the chart wires (policy file, active key). */}}
{{- define "botwarden.config" -}}
{{- $c := deepCopy (.Values.config | default dict) -}}
{{- if .Values.policy -}}
{{- $p := deepCopy (get $c "policy" | default dict) -}}
{{- $_ := set $p "file" "/etc/botwarden/policy/policy.yaml" -}}
{{- $_ := set $c "policy" $p -}}
{{- end -}}
{{- $active := include "botwarden.activeKey" . | int -}}
{{- if $active -}}
{{- $s := deepCopy (get $c "session" | default dict) -}}
{{- $_ := set $s "active_key" $active -}}
{{- $_ := set $c "session" $s -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* session.active_key: secrets.activeKey, or the first session key's id. */}}
{{- define "botwarden.activeKey" -}}
{{- if .Values.secrets.activeKey -}}
{{ .Values.secrets.activeKey }}
{{- else if .Values.secrets.sessionKeys -}}
{{ (first .Values.secrets.sessionKeys).id }}
{{- else -}}
0
{{- end -}}
{{- end -}}
