{{- define "cell.fullname" -}}
{{- printf "cell-%s" .Values.cell.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cell.labels" -}}
app.kubernetes.io/name: cellchat-cell
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
cellchat.io/cell: {{ .Values.cell.name }}
cellchat.io/region: {{ .Values.cell.region }}
{{- end -}}

{{- define "cell.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
cellchat.io/cell: {{ .root.Values.cell.name }}
cellchat.io/role: {{ .role }}
{{- end -}}

{{- define "cell.secretName" -}}
{{- default (include "cell.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "cell.serviceAccountName" -}}
{{- default (include "cell.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* A value as an environment string. Helm reads numbers as float64, and `quote` of a float64
     of a million or more prints "1e+06": whole numbers are printed as integers instead. */}}
{{- define "cell.env.str" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}

{{- define "cell.gatewayUrl" -}}
{{- if .Values.cell.gatewayUrl -}}
{{ .Values.cell.gatewayUrl }}
{{- else if .Values.ingress.gateway.enabled -}}
{{ if .Values.ingress.gateway.tls }}wss{{ else }}ws{{ end }}://{{ .Values.ingress.gateway.host }}{{ .Values.ingress.gateway.path }}
{{- end -}}
{{- end -}}

{{/* The environment every cell process gets: settings from the ConfigMap, secrets from the Secret. */}}
{{- define "cell.env" -}}
- name: CELLCHAT_DATABASE__DSN
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: database-dsn}}
- name: CELLCHAT_REDIS__URL
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: redis-url}}
- name: CELLCHAT_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: admin-token}}
- name: CELLCHAT_FILES__SIGNING_KEY
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: files-signing-key, optional: true}}
{{- if eq .Values.storage.backend "s3" }}
- name: CELLCHAT_STORAGE__ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: s3-access-key-id, optional: true}}
- name: CELLCHAT_STORAGE__SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" . }}, key: s3-secret-access-key, optional: true}}
{{- end }}
{{- with .Values.storage.encryption.masterKeyId }}
# Files at rest sealed per workspace (docs/compliance.md): the key ring from the Secret.
- {name: CELLCHAT_STORAGE__MASTER_KEY_ID, value: {{ . | quote }}}
- name: CELLCHAT_STORAGE__MASTER_KEYS
  valueFrom: {secretKeyRef: {name: {{ include "cell.secretName" $ }}, key: files-master-keys}}
{{- end }}
{{- with .Values.tls }}
{{- if .server.enabled }}
- {name: CELLCHAT_API__TLS_CERT_FILE, value: /etc/cellchat/tls/server/tls.crt}
- {name: CELLCHAT_API__TLS_KEY_FILE, value: /etc/cellchat/tls/server/tls.key}
{{- end }}
{{- if .database.enabled }}
- {name: PGSSLMODE, value: {{ .database.mode | quote }}}
- {name: PGSSLROOTCERT, value: /etc/cellchat/tls/database/ca.crt}
{{- end }}
{{- if .redis.caSecret }}
- {name: SSL_CERT_FILE, value: /etc/cellchat/tls/redis/ca.crt}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The TLS material's volumes and mounts (values tls.*). */}}
{{- define "cell.tlsMounts" -}}
{{- with .Values.tls }}
{{- if .server.enabled }}
- {name: tls-server, mountPath: /etc/cellchat/tls/server, readOnly: true}
{{- end }}
{{- if .database.enabled }}
- {name: tls-database, mountPath: /etc/cellchat/tls/database, readOnly: true}
{{- end }}
{{- if .redis.caSecret }}
- {name: tls-redis, mountPath: /etc/cellchat/tls/redis, readOnly: true}
{{- end }}
{{- end }}
{{- end -}}

{{- define "cell.tlsVolumes" -}}
{{- with .Values.tls }}
{{- if .server.enabled }}
- name: tls-server
  secret: {secretName: {{ .server.secretName }}}
{{- end }}
{{- if .database.enabled }}
- name: tls-database
  secret: {secretName: {{ .database.caSecret }}}
{{- end }}
{{- if .redis.caSecret }}
- name: tls-redis
  secret: {secretName: {{ .redis.caSecret }}}
{{- end }}
{{- end }}
{{- end -}}

{{- define "cell.probes" -}}
{{- $p := .root.Values.probes -}}
{{- $scheme := ternary "HTTPS" "HTTP" .root.Values.tls.server.enabled -}}
startupProbe:
  httpGet: {path: /livez, port: {{ .port }}, scheme: {{ $scheme }}}
  {{- toYaml $p.startup | nindent 2 }}
livenessProbe:
  httpGet: {path: /livez, port: {{ .port }}, scheme: {{ $scheme }}}
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}, scheme: {{ $scheme }}}
  {{- toYaml $p.readiness | nindent 2 }}
{{- end -}}

{{/* One Deployment for a role ("all", "api", "gateway", "relay" or "worker"). */}}
{{- define "cell.deployment" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $spec := .spec -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cell.fullname" $root }}-{{ $role }}
  labels:
    {{- include "cell.labels" $root | nindent 4 }}
    cellchat.io/role: {{ $role }}
spec:
  {{- if not (and (hasKey $spec "autoscaling") $spec.autoscaling.enabled) }}
  replicas: {{ $spec.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if eq $role "relay" }}
  strategy: {type: Recreate}  # never two relays publishing one outbox
  {{- end }}
  selector:
    matchLabels:
      {{- include "cell.selector" (dict "root" $root "role" $role) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "cell.labels" $root | nindent 8 }}
        cellchat.io/role: {{ $role }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if $root.Values.monitoring.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $root.Values.cell.port | toString | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "cell.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 60
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if and $root.Values.migrations.enabled (has $role (list "api" "all")) }}
      # The schema first: numbered migrations, idempotent, serialised by an advisory lock.
      initContainers:
        - name: migrate
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-m", "cell.store.migrate"]
          env:
            {{- include "cell.env" $root | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- include "cell.tlsMounts" $root | nindent 12 }}
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
          # Every role, the relay included, serves /livez, /readyz and /metrics on this port.
          ports:
            - {name: http, containerPort: {{ $root.Values.cell.port }}}
          {{- include "cell.probes" (dict "root" $root "port" "http") | nindent 10 }}
          resources:
            {{- toYaml $spec.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- if eq $root.Values.storage.backend "local" }}
            - {name: files, mountPath: /var/lib/cellchat/files}
            {{- end }}
            {{- include "cell.tlsMounts" $root | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- include "cell.tlsVolumes" $root | nindent 8 }}
        {{- if eq $root.Values.storage.backend "local" }}
        - name: files
          {{- if $root.Values.storage.local.existingClaim }}
          persistentVolumeClaim: {claimName: {{ $root.Values.storage.local.existingClaim }}}
          {{- else }}
          emptyDir: {}  # only for a single combined pod: files are lost with it
          {{- end }}
        {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints: {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The roles this release runs, each with its spec from values. */}}
{{- define "cell.roles" -}}
{{- if .Values.combined -}}
all
{{- else -}}
api gateway relay worker
{{- end -}}
{{- end -}}
