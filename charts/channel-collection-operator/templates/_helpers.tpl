{{/* Chart name, overridable. */}}
{{- define "cco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name, plus the chart name unless the release name has it. */}}
{{- define "cco.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the leader-election Role (suffix kept within 63 characters). */}}
{{- define "cco.leaderElectionName" -}}
{{- printf "%s-leader-election" (include "cco.fullname" . | trunc 47 | trimSuffix "-") -}}
{{- end -}}

{{/* Name of a user-facing ClusterRole, `(list . "view")` (suffix kept within 63 characters). */}}
{{- define "cco.userRoleName" -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "cco.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{/* Name of the metrics Service (suffix kept within 63 characters). */}}
{{- define "cco.metricsServiceName" -}}
{{- printf "%s-metrics" (include "cco.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{/* Name of the Grafana dashboard ConfigMap (suffix kept within 63 characters). */}}
{{- define "cco.dashboardName" -}}
{{- printf "%s-dashboard" (include "cco.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{/* PromQL label matchers of the operator's own scrape target (its `up` and operator metrics). */}}
{{- define "cco.operatorSelector" -}}
{{- default (printf "job=%q,namespace=%q" (include "cco.metricsServiceName" .) .Release.Namespace) .Values.metrics.prometheusRule.operatorSelector -}}
{{- end -}}

{{- define "cco.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the operator pods; never change them (Deployment selectors are immutable). */}}
{{- define "cco.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "cco.labels" -}}
helm.sh/chart: {{ include "cco.chart" . }}
{{ include "cco.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: channel-collection-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations of every object, when there are any (objects at the top level of a template). */}}
{{- define "cco.annotations" -}}
{{- with .Values.commonAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "cco.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cco.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace whose ChannelCollections are watched when watch.scope is Namespace. */}}
{{- define "cco.watchNamespace" -}}
{{- default .Release.Namespace .Values.watch.namespace -}}
{{- end -}}

{{/* repository:tag or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "cco.imageRef" -}}
{{- $image := index . 0 -}}
{{- $chart := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The RBAC rules of operator/rbac.json except Leases, which are granted in the release namespace only. */}}
{{- define "cco.watchRules" -}}
- apiGroups: ["collection.mtproto.dev"]
  resources: ["channelcollections"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["collection.mtproto.dev"]
  resources: ["channelcollections/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# The collector pods' states (a missing Secret, an image that cannot be pulled), cached by a
# watch of the operator's own pods only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{- define "cco.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "patch"]
{{- end -}}
