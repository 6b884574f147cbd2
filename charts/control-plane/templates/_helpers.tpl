{{- define "cp.fullname" -}}
{{- printf "%s-control-plane" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cp.labels" -}}
app.kubernetes.io/name: cellchat-control-plane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cp.secretName" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}{{ include "cp.fullname" . }}{{- end -}}
{{- end -}}
