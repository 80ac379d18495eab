{{/* Names, labels and secret references shared by every template. */}}

{{- define "canopy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "canopy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "canopy.agentFullname" -}}
{{- printf "%s-agent" (include "canopy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Kubernetes recommended labels, as Canopy puts them on a user's service. */}}
{{- define "canopy.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: canopy
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "canopy.portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canopy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: portal
{{- end }}

{{- define "canopy.portal.labels" -}}
{{ include "canopy.commonLabels" . }}
{{ include "canopy.portal.selectorLabels" . }}
{{- end }}

{{- define "canopy.agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canopy.name" . }}-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "canopy.agent.labels" -}}
{{ include "canopy.commonLabels" . }}
{{ include "canopy.agent.selectorLabels" . }}
{{- end }}

{{- define "canopy.portal.serviceAccountName" -}}
{{- if .Values.portal.serviceAccount.create }}
{{- default (include "canopy.fullname" .) .Values.portal.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.portal.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "canopy.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "canopy.agentFullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* `repository:tag` or `repository@digest`; the tag defaults to the chart's appVersion. */}}
{{- define "canopy.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The chart's own Secret, holding the secret values given inline in values. */}}
{{- define "canopy.secretName" -}}
{{- include "canopy.fullname" . }}
{{- end }}

{{/*
The Secret and key of one secret setting: its existingSecret/existingSecretKey, else the chart's
Secret under `chartKey` when the value is given inline. Called with (list $root $setting
"chartKey" "inlineField"); prints nothing when neither is set.
*/}}
{{- define "canopy.secretRef" -}}
{{- $root := index . 0 }}
{{- $setting := index . 1 }}
{{- $chartKey := index . 2 }}
{{- $inline := index . 3 }}
{{- if $setting.existingSecret -}}
name: {{ $setting.existingSecret }}
key: {{ $setting.existingSecretKey }}
{{- else if (index $setting $inline) -}}
name: {{ include "canopy.secretName" $root }}
key: {{ $chartKey }}
{{- end }}
{{- end }}

{{/* Whether the chart creates its own Secret (any secret value given inline). */}}
{{- define "canopy.hasChartSecret" -}}
{{- $p := .Values.portal }}
{{- if or (and (not $p.database.existingSecret) $p.database.url) (and (not $p.apiToken.existingSecret) $p.apiToken.value) (and $p.github.enabled (not $p.github.existingSecret) $p.github.clientSecret) (and (not $p.smtp.existingSecret) $p.smtp.password) (and (not $p.energy.electricityMaps.existingSecret) $p.energy.electricityMaps.token) }}true{{ end }}
{{- end }}
