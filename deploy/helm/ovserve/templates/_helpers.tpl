{{/* Chart name, at most 63 characters. */}}
{{- define "ovserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, with the chart name unless it holds it. */}}
{{- define "ovserve.fullname" -}}
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

{{- define "ovserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ovserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ovserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ovserve.commonLabels" -}}
helm.sh/chart: {{ include "ovserve.chart" . }}
{{ include "ovserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ovserve.labels" -}}
{{ include "ovserve.commonLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* The metrics Service's labels: ServiceMonitors select it by component=metrics. */}}
{{- define "ovserve.metricsLabels" -}}
{{ include "ovserve.commonLabels" . }}
app.kubernetes.io/component: metrics
{{- end }}

{{- define "ovserve.eppServiceName" -}}
{{- default (printf "%s-epp" (include "ovserve.fullname" .)) .Values.inferencePool.endpointPicker.serviceName }}
{{- end }}

{{/* The startup probe's failureThreshold: loadTimeoutSeconds / periodSeconds, rounded up. */}}
{{- define "ovserve.startupFailureThreshold" -}}
{{- $period := int .Values.probes.startup.periodSeconds }}
{{- div (add (int .Values.probes.startup.loadTimeoutSeconds) (sub $period 1)) $period }}
{{- end }}

{{- define "ovserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ovserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A flag value: YAML numbers arrive as float64; print integers without an exponent. */}}
{{- define "ovserve.flagValue" -}}
{{- if and (kindIs "float64" .) (eq (. | int64 | float64) .) }}
{{- . | int64 }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* Values that cannot work together fail the render with a message. */}}
{{- define "ovserve.validate" -}}
{{- if lt (int .Values.tensorParallelSize) 1 }}
{{- fail "tensorParallelSize must be >= 1" }}
{{- end }}
{{- if and (not .Values.model.volume.existingClaim) (not .Values.model.volume.hostPath) }}
{{- fail "set model.volume.existingClaim or model.volume.hostPath: the pod needs the model folder" }}
{{- end }}
{{- if not (hasPrefix (printf "%s/" (trimSuffix "/" .Values.model.volume.mountPath)) .Values.model.dir) }}
{{- fail (printf "model.dir %s must lie under model.volume.mountPath %s" .Values.model.dir .Values.model.volume.mountPath) }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.apiKey.enabled (not .Values.apiKey.existingSecret) }}
{{- fail "apiKey.enabled needs apiKey.existingSecret (a Secret made outside the chart; the chart holds no key material)" }}
{{- end }}
{{- if lt (int .Values.probes.startup.loadTimeoutSeconds) (int .Values.probes.startup.periodSeconds) }}
{{- fail "probes.startup.loadTimeoutSeconds must be >= probes.startup.periodSeconds" }}
{{- end }}
{{- $ports := list (int .Values.server.grpcPort) (int .Values.server.httpPort) (int .Values.server.metricsPort) }}
{{- if ne (len (uniq $ports)) 3 }}
{{- fail "server.grpcPort, server.httpPort and server.metricsPort must differ" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.clientPodLabels) (not .Values.networkPolicy.gateway.namespaceSelector) (not .Values.networkPolicy.extraIngress) }}
{{- fail "networkPolicy.enabled with no clientPodLabels, gateway.namespaceSelector or extraIngress would close the API ports to everyone" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" }}
{{- end }}
{{- end }}

{{/* The container's arguments: `ovserve serve` and its flags, each quoted. */}}
{{- define "ovserve.args" -}}
- serve
- {{ printf "--model=%s" .Values.model.dir | quote }}
{{- with .Values.model.name }}
- {{ printf "--model-name=%s" . | quote }}
{{- end }}
- "--host=0.0.0.0"
- {{ printf "--port=%d" (int .Values.server.grpcPort) | quote }}
- {{ printf "--http-port=%d" (int .Values.server.httpPort) | quote }}
- {{ printf "--metrics-port=%d" (int .Values.server.metricsPort) | quote }}
- {{ printf "--threads=%d" (int .Values.server.threads) | quote }}
{{- if .Values.gpu.enabled }}
- "--device=cuda"
- {{ printf "--tensor-parallel-size=%d" (int .Values.tensorParallelSize) | quote }}
- {{ printf "--gpu-memory-fraction=%v" .Values.gpu.memoryFraction | quote }}
{{- else }}
- "--device=cpu"
{{- end }}
- {{ printf "--drain-timeout-ms=%d" (mul (int .Values.server.drainTimeoutSeconds) 1000) | quote }}
- {{ printf "--log-level=%s" .Values.server.logLevel | quote }}
- {{ printf "--log-json=%t" .Values.server.logJson | quote }}
{{- range $name, $value := .Values.server.flags }}
- {{ printf "--%s=%s" $name (include "ovserve.flagValue" $value) | quote }}
{{- end }}
{{- if .Values.tls.enabled }}
- "--tls-cert=/etc/ovserve/tls/tls.crt"
- "--tls-key=/etc/ovserve/tls/tls.key"
{{- if .Values.tls.clientAuth }}
- "--tls-client-ca=/etc/ovserve/tls/ca.crt"
{{- end }}
{{- end }}
{{- if .Values.apiKey.enabled }}
- {{ printf "--api-key-file=/etc/ovserve/api-key/%s" .Values.apiKey.secretKey | quote }}
{{- end }}
{{- range .Values.server.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* A probe: native gRPC health (grpc.health.v1) in plaintext. With TLS on (kubelet's gRPC
probes cannot speak TLS) the HTTP API's /health over HTTPS, which the kubelet asks without
verifying the certificate: 200 while serving, 503 while loading or draining, open without an
API key, like grpc.health.v1. */}}
{{- define "ovserve.probe" -}}
{{- if .root.Values.tls.enabled -}}
httpGet:
  path: /health
  port: http
  scheme: HTTPS
{{- else -}}
grpc:
  port: {{ .root.Values.server.grpcPort }}
  service: {{ .service | quote }}
{{- end }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .failureThreshold | default .probe.failureThreshold }}
{{- end }}

{{/* A NetworkPolicyPeer from {namespaceSelector, podSelector} values; nothing when both are empty. */}}
{{- define "ovserve.namespacePeer" -}}
{{- if .namespaceSelector }}
- namespaceSelector:
    {{- toYaml .namespaceSelector | nindent 4 }}
  {{- with .podSelector }}
  podSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
