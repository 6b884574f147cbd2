{{- define "cell.fullname" -}}
{{- printf "cell-%s" .Values.cell.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cell.labels" -}}
app.kubernetes.io/name: cellchat-cell
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
cellchat.io/cell: {{ .Values.cell.name }}
cellchat.io/region: {{ .Values.cell.region }}
{{- end -}}

{{- define "cell.secretName" -}}
{{- if .Values.existingSecret -}}{{ .Values.existingSecret }}{{- else -}}{{ include "cell.fullname" . }}{{- end -}}
{{- end -}}

{{/* The environment every cell process gets: settings from the ConfigMap, secrets from the Secret. */}}
{{- define "cell.env" -}}
- name: CELLCHAT_DATABASE__DSN
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: database-dsn}}
- name: CELLCHAT_REDIS__URL
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: redis-url}}
- name: CELLCHAT_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: admin-token}}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* One Deployment for a role ("all", "api", "gateway" or "relay"). */}}
{{- define "cell.deployment" -}}
{{- $root := .root -}}
{{- $role := .role -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cell.fullname" $root }}-{{ $role }}
  labels:
    {{- include "cell.labels" $root | nindent 4 }}
    cellchat.io/role: {{ $role }}
spec:
  replicas: {{ .replicas }}
  {{- if eq $role "relay" }}
  strategy: {type: Recreate}  # never two relays publishing one outbox
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $root.Release.Name }}
      cellchat.io/cell: {{ $root.Values.cell.name }}
      cellchat.io/role: {{ $role }}
  template:
    metadata:
      labels:
        {{- include "cell.labels" $root | nindent 8 }}
        cellchat.io/role: {{ $role }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    spec:
      terminationGracePeriodSeconds: 60
      {{- if and $root.Values.migrations.enabled (has $role (list "api" "all")) }}
      # The schema first: numbered migrations, idempotent, serialised by an advisory lock.
      initContainers:
        - name: migrate
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-c", "import os; from cell.store import migrate; print(migrate.apply_all(os.environ['CELLCHAT_DATABASE__DSN']))"]
          env:
            {{- include "cell.env" $root | nindent 12 }}
      {{- end }}
      containers:
        - name: cell
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-m", "cell.server", "--role", "{{ $role }}"]
          envFrom:
            - configMapRef: {name: {{ include "cell.fullname" $root }}}
          env:
            {{- include "cell.env" $root | nindent 12 }}
          {{- if ne $role "relay" }}
          ports:
            - {name: http, containerPort: {{ $root.Values.cell.port }}}
          readinessProbe:
            httpGet: {path: /v1/health, port: http}
            periodSeconds: 5
          livenessProbe:
            tcpSocket: {port: http}
            periodSeconds: 10
          {{- end }}
          resources:
            {{- toYaml .resources | nindent 12 }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
