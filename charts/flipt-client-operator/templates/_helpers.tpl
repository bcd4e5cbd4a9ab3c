{{/* Chart name, overridable with nameOverride. */}}
{{- define "flipt-client-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: fullnameOverride, else the release name when it already contains the chart name, else
<release>-<chart>. Truncated to 63 characters (a DNS label: it also names the Service).
*/}}
{{- define "flipt-client-operator.fullname" -}}
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

{{- define "flipt-client-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flipt-client-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flipt-client-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flipt-client-operator.labels" -}}
helm.sh/chart: {{ include "flipt-client-operator.chart" . }}
{{ include "flipt-client-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "flipt-client-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flipt-client-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the config ConfigMap and the exchange TLS Secret are mounted. */}}
{{- define "flipt-client-operator.configDir" -}}
/etc/flipt-client-operator
{{- end }}
{{- define "flipt-client-operator.tlsDir" -}}
/etc/flipt-client-operator/tls
{{- end }}

{{/*
The operator config as written to the ConfigMap: .Values.config, plus exchange.tls pointing at the
mounted Secret when exchange.tls.secretName is set, and jwt.jwksUrl pointing at this release's
Service when a target uses JWTs and the values do not say. Fails early on what the chart itself relies on
(the operator validates every other field when it starts).
*/}}
{{- define "flipt-client-operator.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if not $config.targets }}
{{- fail "config.targets: at least one target is required" }}
{{- end }}
{{- range $i, $t := $config.targets }}
{{- if not (and $t.name $t.namespace $t.configMap $t.workload) }}
{{- fail (printf "config.targets[%d]: name, namespace, configMap and workload are required" $i) }}
{{- end }}
{{- end }}
{{- /* A JWT target needs to tell Flipt where the JWKS is: this release's Service, exchange port. */}}
{{- $jwtTarget := false }}
{{- range $t := $config.targets }}{{ if eq ($t.credentialKind | default "staticToken") "jwt" }}{{ $jwtTarget = true }}{{ end }}{{ end }}
{{- $jwt := default dict $config.jwt }}
{{- if and $jwtTarget (not $jwt.jwksUrl) }}
{{- $scheme := ternary "https" "http" (not (empty .Values.exchange.tls.secretName)) }}
{{- $_ := set $jwt "jwksUrl" (printf "%s://%s.%s.svc:%s/.well-known/jwks.json" $scheme (include "flipt-client-operator.fullname" .) .Release.Namespace (include "flipt-client-operator.exchangePort" .)) }}
{{- $_ := set $config "jwt" $jwt }}
{{- end }}
{{- with .Values.exchange.tls.secretName }}
{{- $exchange := default dict $config.exchange }}
{{- $tlsDir := include "flipt-client-operator.tlsDir" $ }}
{{- $_ := set $exchange "tls" (dict "certFile" (printf "%s/tls.crt" $tlsDir) "keyFile" (printf "%s/tls.key" $tlsDir)) }}
{{- $_ := set $config "exchange" $exchange }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Ports, with the operator's defaults for fields the config leaves out. */}}
{{- define "flipt-client-operator.exchangeEnabled" -}}
{{- $exchange := .Values.config.exchange | default dict }}
{{- if or (not (hasKey $exchange "enabled")) $exchange.enabled }}true{{ end }}
{{- end }}
{{- define "flipt-client-operator.exchangePort" -}}
{{- (.Values.config.exchange | default dict).port | default 8443 | int }}
{{- end }}
{{- define "flipt-client-operator.metricsPort" -}}
{{- (.Values.config.metrics | default dict).port | default 8080 | int }}
{{- end }}
{{- define "flipt-client-operator.healthPort" -}}
{{- (.Values.config.health | default dict).port | default 8081 | int }}
{{- end }}

{{/*
PromQL label matchers selecting this installation's metrics: prometheusRule.selector, or by default
the job label a ServiceMonitor gives them (the Service's name).
*/}}
{{- define "flipt-client-operator.metricsSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q" (include "flipt-client-operator.fullname" .)) }}
{{- end }}

{{/*
Labels of the `helm test` Pod: this release's, but never both selector labels, so that the
Deployment's ReplicaSet never adopts it and the Services never route to it.
*/}}
{{- define "flipt-client-operator.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "flipt-client-operator.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "flipt-client-operator.testLabels" -}}
helm.sh/chart: {{ include "flipt-client-operator.chart" . }}
{{ include "flipt-client-operator.testSelectorLabels" . }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
