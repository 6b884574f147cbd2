{{- define "cp.fullname" -}}
{{- printf "%s-control-plane" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cp.labels" -}}
app.kubernetes.io/name: cellchat-control-plane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cp.selector" -}}
app.kubernetes.io/name: cellchat-control-plane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cp.secretName" -}}
{{- default (include "cp.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "cp.serviceAccountName" -}}
{{- default (include "cp.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* A value as an environment string: whole float64 numbers (how Helm reads YAML numbers)
     print as integers, not as "1e+06". */}}
{{- define "cp.env.str" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}
