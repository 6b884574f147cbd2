{{- define "router.fullname" -}}
{{- printf "%s-router" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "router.labels" -}}
app.kubernetes.io/name: cellchat-router
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "router.selector" -}}
app.kubernetes.io/name: cellchat-router
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "router.secretName" -}}
{{- default (include "router.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "router.serviceAccountName" -}}
{{- default (include "router.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* A value as an environment string: whole float64 numbers (how Helm reads YAML numbers)
     print as integers, not as "1e+06". */}}
{{- define "router.env.str" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}
