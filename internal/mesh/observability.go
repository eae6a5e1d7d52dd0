package mesh

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/snapshot"
)

// Kind keys of the observability stack's custom resources that
// snapshot/kinds.go does not name (yet). Objects of these kinds are read
// for their existence and, when the loader decodes them, their spec.
const (
	KindPrometheus       = "Prometheus.monitoring.coreos.com"
	KindJaeger           = "Jaeger.jaegertracing.io"
	KindKiali            = "Kiali.kiali.io"
	KindGrafana          = "Grafana.grafana.integreatly.org"
	KindGrafanaDashboard = "GrafanaDashboard.grafana.integreatly.org"
)

// Observability tools recognised from container images.
const (
	ToolPrometheus    = "prometheus"
	ToolGrafana       = "grafana"
	ToolJaeger        = "jaeger"
	ToolKiali         = "kiali"
	ToolZipkin        = "zipkin"
	ToolTempo         = "tempo"
	ToolOtelCollector = "opentelemetry-collector"
	ToolFluentBit     = "fluent-bit"
	ToolFluentd       = "fluentd"
	ToolVector        = "vector"
	ToolLoki          = "loki"
	ToolPromtail      = "promtail"
	ToolAlloy         = "alloy"
	ToolFilebeat      = "filebeat"
	ToolLogstash      = "logstash"
)

// LogPipelineTools are the tools that ship or store logs.
var LogPipelineTools = []string{ToolFluentBit, ToolFluentd, ToolVector, ToolLoki, ToolPromtail, ToolOtelCollector, ToolAlloy, ToolFilebeat, ToolLogstash}

// ImageBaseName returns the last path segment of an image reference,
// without tag or digest, lower-cased: "quay.io/prometheus/prometheus:v3.1.0" -> "prometheus".
func ImageBaseName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	if i := strings.Index(image, ":"); i >= 0 {
		image = image[:i]
	}
	return strings.ToLower(image)
}

// ImageTool returns the observability tool an image runs, or "".
func ImageTool(image string) string {
	base := ImageBaseName(image)
	switch base {
	case "prometheus":
		return ToolPrometheus
	case "grafana", "grafana-oss", "grafana-enterprise":
		return ToolGrafana
	case "kiali":
		return ToolKiali
	case "zipkin", "zipkin-slim":
		return ToolZipkin
	case "tempo":
		return ToolTempo
	case "opentelemetry-collector", "opentelemetry-collector-contrib", "opentelemetry-collector-k8s", "otelcol", "otelcol-contrib", "otelcol-k8s":
		return ToolOtelCollector
	case "fluent-bit":
		return ToolFluentBit
	case "vector":
		return ToolVector
	case "loki":
		return ToolLoki
	case "promtail":
		return ToolPromtail
	case "alloy":
		return ToolAlloy
	case "filebeat":
		return ToolFilebeat
	case "logstash":
		return ToolLogstash
	}
	switch {
	case strings.HasPrefix(base, "jaeger") || strings.Contains(strings.ToLower(image), "jaegertracing/"):
		return ToolJaeger
	case strings.HasPrefix(base, "fluentd"):
		return ToolFluentd
	}
	return ""
}

// ToolWorkload is a workload running an observability tool.
type ToolWorkload struct {
	Workload
	Container *corev1.Container // the container running the tool
	Tool      string
}

// ToolWorkloads finds, in one pass over every Deployment, StatefulSet and
// DaemonSet, the workloads running a known observability tool, by tool.
// Reads Deployment, StatefulSet, DaemonSet.
func ToolWorkloads(r Reader) map[string][]ToolWorkload {
	out := map[string][]ToolWorkload{}
	visit := func(o *snapshot.Object, t *corev1.PodTemplateSpec, replicas int32) {
		for i := range t.Spec.Containers {
			c := &t.Spec.Containers[i]
			if tool := ImageTool(c.Image); tool != "" {
				out[tool] = append(out[tool], ToolWorkload{Workload{o, t, replicas}, c, tool})
				return
			}
		}
	}
	for _, o := range r.List(snapshot.Deployment) {
		if d, ok := o.Typed.(*appsv1.Deployment); ok {
			visit(o, &d.Spec.Template, replicas(d.Spec.Replicas))
		}
	}
	for _, o := range r.List(snapshot.StatefulSet) {
		if s, ok := o.Typed.(*appsv1.StatefulSet); ok {
			visit(o, &s.Spec.Template, replicas(s.Spec.Replicas))
		}
	}
	for _, o := range r.List(snapshot.DaemonSet) {
		if d, ok := o.Typed.(*appsv1.DaemonSet); ok {
			visit(o, &d.Spec.Template, -1)
		}
	}
	return out
}

// ToolNames lists "Kind/ns/name" of tool workloads, for evidence.
func ToolNames(ws []ToolWorkload) string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Object.ID())
	}
	return strings.Join(out, ", ")
}

// DecodeSpec decodes an object's spec (whatever typed form the loader gave
// it: a Go type with JSON tags, a map, an unstructured object) into v,
// through its JSON shape. It reports false when there is no decoded spec.
func DecodeSpec(o *snapshot.Object, v any) bool {
	if o == nil || o.Typed == nil {
		return false
	}
	raw, err := json.Marshal(o.Typed)
	if err != nil {
		return false
	}
	var w struct {
		Spec json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(raw, &w) != nil || len(w.Spec) == 0 || string(w.Spec) == "null" {
		return false
	}
	return json.Unmarshal(w.Spec, v) == nil
}

// ScrapeJob is one scrape_configs entry of a Prometheus configuration.
type ScrapeJob struct {
	Object *snapshot.Object // the ConfigMap
	Field  string           // "data[prometheus.yml].scrape_configs[3]"
	Name   string
	Path   string   // metrics_path
	Roles  []string // kubernetes_sd_configs roles
	// Namespaces restricts kubernetes_sd_configs discovery; empty: every namespace.
	Namespaces []string
	Targets    []string // static_configs targets
	Relabel    []RelabelRule
}

// RelabelRule is one relabel_configs entry, reduced to what the checks read.
type RelabelRule struct {
	SourceLabels []string
	Regex        string
	Action       string
}

// String renders a value written as a YAML scalar of any type.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprintf("%g", x)
	}
	return fmt.Sprint(v)
}

type promFile struct {
	ScrapeConfigs []struct {
		JobName     string `json:"job_name"`
		MetricsPath string `json:"metrics_path"`
		SD          []struct {
			Role       string `json:"role"`
			Namespaces struct {
				Names []string `json:"names"`
			} `json:"namespaces"`
		} `json:"kubernetes_sd_configs"`
		Static []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
		Relabel []struct {
			SourceLabels []string `json:"source_labels"`
			Regex        any      `json:"regex"`
			Action       string   `json:"action"`
		} `json:"relabel_configs"`
	} `json:"scrape_configs"`
}

// ScrapeJobs returns the scrape jobs of every ConfigMap holding a Prometheus
// configuration (a data value with a top-level scrape_configs list), in
// object and key order. Reads ConfigMap.
func ScrapeJobs(r Reader) []ScrapeJob {
	var out []ScrapeJob
	for _, o := range r.List(snapshot.ConfigMap) {
		cm, ok := o.Typed.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		var keys []string
		for k, v := range cm.Data {
			if strings.Contains(v, "scrape_configs:") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			var pf promFile
			if yaml.Unmarshal([]byte(cm.Data[k]), &pf) != nil {
				continue
			}
			for i, sc := range pf.ScrapeConfigs {
				j := ScrapeJob{Object: o, Field: fmt.Sprintf("data[%s].scrape_configs[%d]", k, i), Name: sc.JobName, Path: sc.MetricsPath}
				for _, sd := range sc.SD {
					j.Roles = append(j.Roles, sd.Role)
					j.Namespaces = append(j.Namespaces, sd.Namespaces.Names...)
				}
				for _, st := range sc.Static {
					j.Targets = append(j.Targets, st.Targets...)
				}
				for _, rl := range sc.Relabel {
					j.Relabel = append(j.Relabel, RelabelRule{SourceLabels: rl.SourceLabels, Regex: scalarString(rl.Regex), Action: strings.ToLower(rl.Action)})
				}
				out = append(out, j)
			}
		}
	}
	return out
}

// DiscoversNamespace reports whether the job's Kubernetes discovery reaches ns.
func (j ScrapeJob) DiscoversNamespace(ns string) bool {
	if len(j.Namespaces) == 0 {
		return true
	}
	for _, n := range j.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// AnnotationDriven reports whether the job keeps only the pods annotated
// prometheus.io/scrape (the kubernetes-pods job of Istio's and the
// community's sample configurations).
func (j ScrapeJob) AnnotationDriven() bool {
	pod := false
	for _, r := range j.Roles {
		if r == "pod" {
			pod = true
		}
	}
	if !pod {
		return false
	}
	for _, rl := range j.Relabel {
		if rl.Action != "keep" {
			continue
		}
		for _, l := range rl.SourceLabels {
			if l == "__meta_kubernetes_pod_annotation_prometheus_io_scrape" || l == "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape" {
				return true
			}
		}
	}
	return false
}

// ServiceAnnotationDriven reports whether the job keeps only the endpoints
// of Services annotated prometheus.io/scrape (the kubernetes-service-endpoints
// job of the community's sample configuration).
func (j ScrapeJob) ServiceAnnotationDriven() bool {
	eps := false
	for _, r := range j.Roles {
		if r == "endpoints" || r == "endpointslice" {
			eps = true
		}
	}
	if !eps {
		return false
	}
	for _, rl := range j.Relabel {
		if rl.Action != "keep" {
			continue
		}
		for _, l := range rl.SourceLabels {
			if l == "__meta_kubernetes_service_annotation_prometheus_io_scrape" || l == "__meta_kubernetes_service_annotationpresent_prometheus_io_scrape" {
				return true
			}
		}
	}
	return false
}

// mentions reports whether a keep rule (or the job name or a static target)
// mentions one of the words.
func (j ScrapeJob) mentions(words ...string) bool {
	if containsAny(j.Name, words...) {
		return true
	}
	for _, t := range j.Targets {
		if containsAny(t, words...) {
			return true
		}
	}
	for _, rl := range j.Relabel {
		if rl.Action == "keep" && containsAny(rl.Regex, words...) {
			return true
		}
	}
	return false
}

// ScrapesIstiod reports whether the job is written for istiod (its name, a
// static target or a keep rule names istiod, pilot, port 15014 or the
// http-monitoring port).
func (j ScrapeJob) ScrapesIstiod() bool {
	return j.mentions("istiod", "pilot", "15014", "http-monitoring")
}

// ScrapesProxies reports whether the job is written for the Envoy proxies
// (metrics_path /stats/prometheus, or its name or a keep rule names envoy,
// istio-proxy or the proxy's metrics ports 15090/15020).
func (j ScrapeJob) ScrapesProxies() bool {
	return j.Path == "/stats/prometheus" || j.mentions("envoy", "istio-proxy", "15090", "15020")
}

// MonitorSpec is the part of a ServiceMonitor or PodMonitor spec the checks read.
type MonitorSpec struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector struct {
		Any        bool     `json:"any"`
		MatchNames []string `json:"matchNames"`
	} `json:"namespaceSelector"`
	Endpoints []MonitorEndpoint `json:"endpoints"`           // ServiceMonitor
	PodPoints []MonitorEndpoint `json:"podMetricsEndpoints"` // PodMonitor
}

// MonitorEndpoint is one scraped endpoint of a monitor.
type MonitorEndpoint struct {
	Port       string `json:"port"`
	TargetPort any    `json:"targetPort"`
	Path       string `json:"path"`
}

// Monitor is a ServiceMonitor or PodMonitor with its decoded spec (nil when
// the loader did not decode it).
type Monitor struct {
	Object *snapshot.Object
	Spec   *MonitorSpec
}

// Monitors returns the objects of a monitor kind (snapshot.ServiceMonitor or
// snapshot.PodMonitor) with their specs.
func Monitors(r Reader, kind string) []Monitor {
	var out []Monitor
	for _, o := range r.List(kind) {
		m := Monitor{Object: o}
		var s MonitorSpec
		if DecodeSpec(o, &s) {
			m.Spec = &s
		}
		out = append(out, m)
	}
	return out
}

// SelectsNamespace reports whether the monitor's namespaceSelector reaches
// ns (no selector: the monitor's own namespace).
func (m Monitor) SelectsNamespace(ns string) bool {
	if m.Spec == nil {
		return true
	}
	s := m.Spec.NamespaceSelector
	if s.Any {
		return true
	}
	if len(s.MatchNames) == 0 {
		return m.Object.Namespace == ns
	}
	for _, n := range s.MatchNames {
		if n == ns {
			return true
		}
	}
	return false
}

// endpoints returns both endpoint lists.
func (m Monitor) endpoints() []MonitorEndpoint {
	if m.Spec == nil {
		return nil
	}
	return append(append([]MonitorEndpoint(nil), m.Spec.Endpoints...), m.Spec.PodPoints...)
}

// ScrapesProxyPort reports whether one of its endpoints is the Envoy stats
// endpoint (path /stats/prometheus, or a port named for envoy/15090/15020).
// Without a decoded spec it falls back to the monitor's name.
func (m Monitor) ScrapesProxyPort() bool {
	if m.Spec == nil {
		return containsAny(m.Object.Name, "envoy", "proxy", "sidecar")
	}
	for _, e := range m.endpoints() {
		if e.Path == "/stats/prometheus" || containsAny(e.Port, "envoy", "15090", "15020") || containsAny(scalarString(e.TargetPort), "15090", "15020") {
			return true
		}
	}
	return false
}

// ScrapesMonitoringPort reports whether one of its endpoints is istiod's
// monitoring port (http-monitoring / 15014), or it names no port at all.
// Without a decoded spec it falls back to the monitor's name.
func (m Monitor) ScrapesMonitoringPort() bool {
	if m.Spec == nil {
		return containsAny(m.Object.Name, "istiod", "pilot", "control-plane")
	}
	for _, e := range m.endpoints() {
		if containsAny(e.Port, "http-monitoring", "15014") || containsAny(scalarString(e.TargetPort), "15014") || (e.Port == "" && e.TargetPort == nil) {
			return true
		}
	}
	return false
}

// Selects reports whether the monitor's label selector matches labels.
// An empty selector selects everything, as the operator reads it.
func (m Monitor) Selects(l map[string]string) bool {
	if m.Spec == nil {
		return false
	}
	return SelectorAllows(&m.Spec.Selector, l)
}

// Dashboard is one Grafana dashboard found in the configuration: a JSON
// value of a ConfigMap, or a grafana-operator GrafanaDashboard.
type Dashboard struct {
	Object       *snapshot.Object
	Key          string // the ConfigMap data key ("" for a GrafanaDashboard)
	Field        string // "data[istio-mesh-dashboard.json]" or "spec.json"
	Title        string
	UID          string
	GrafanaComID int    // a GrafanaDashboard's spec.grafanaCom.id
	Text         string // the dashboard JSON as written
}

// Name is the dashboard's title, else its key or object name, for messages.
func (d Dashboard) Name() string {
	switch {
	case d.Title != "":
		return d.Title
	case d.Key != "":
		return d.Key
	}
	return d.Object.Name
}

// Where is "ConfigMap/ns/name data[key]" for messages.
func (d Dashboard) Where() string { return d.Object.ID() + " " + d.Field }

type dashboardHead struct {
	Title  string          `json:"title"`
	UID    string          `json:"uid"`
	Panels json.RawMessage `json:"panels"`
	Rows   json.RawMessage `json:"rows"`
}

// GrafanaDashboards returns every dashboard of the ConfigMaps (data keys
// ending in .json whose value is a JSON object with a title or panels) and
// of the GrafanaDashboard objects. Reads ConfigMap, GrafanaDashboard.
func GrafanaDashboards(r Reader) []Dashboard {
	var out []Dashboard
	for _, o := range r.List(snapshot.ConfigMap) {
		cm, ok := o.Typed.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		var keys []string
		for k, v := range cm.Data {
			if strings.HasSuffix(strings.ToLower(k), ".json") && strings.HasPrefix(strings.TrimSpace(v), "{") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			var h dashboardHead
			if json.Unmarshal([]byte(cm.Data[k]), &h) != nil {
				continue
			}
			if h.Title == "" && len(h.Panels) == 0 && len(h.Rows) == 0 {
				continue
			}
			out = append(out, Dashboard{Object: o, Key: k, Field: "data[" + k + "]", Title: h.Title, UID: h.UID, Text: cm.Data[k]})
		}
	}
	for _, o := range r.List(KindGrafanaDashboard) {
		var spec struct {
			JSON       string `json:"json"`
			GrafanaCom struct {
				ID int `json:"id"`
			} `json:"grafanaCom"`
		}
		d := Dashboard{Object: o, Field: "spec.json"}
		if DecodeSpec(o, &spec) {
			d.Text, d.GrafanaComID = spec.JSON, spec.GrafanaCom.ID
			var h dashboardHead
			if spec.JSON != "" && json.Unmarshal([]byte(spec.JSON), &h) == nil {
				d.Title, d.UID = h.Title, h.UID
			}
		}
		out = append(out, d)
	}
	return out
}

// The Istio dashboards the checklist asks for.
const (
	DashboardMesh         = "mesh"
	DashboardService      = "service"
	DashboardWorkload     = "workload"
	DashboardControlPlane = "control-plane"
)

// IstioDashboards are the required Istio dashboards, in report order.
var IstioDashboards = []string{DashboardMesh, DashboardService, DashboardWorkload, DashboardControlPlane}

// IstioDashboardTitles are the titles Istio's published dashboards carry.
var IstioDashboardTitles = map[string]string{
	DashboardMesh:         "Istio Mesh Dashboard",
	DashboardService:      "Istio Service Dashboard",
	DashboardWorkload:     "Istio Workload Dashboard",
	DashboardControlPlane: "Istio Control Plane Dashboard",
}

// istioGrafanaComIDs are the grafana.com IDs Istio publishes its dashboards under.
var istioGrafanaComIDs = map[int]string{7639: DashboardMesh, 7636: DashboardService, 7630: DashboardWorkload, 7645: DashboardControlPlane}

// IstioDashboardKind says which Istio dashboard a dashboard is, by its
// title, else its file (data key) or object name: "mesh", "service",
// "workload", "control-plane", or "" for any other dashboard.
func (d Dashboard) IstioDashboardKind() string {
	if k, ok := istioGrafanaComIDs[d.GrafanaComID]; ok {
		return k
	}
	for _, s := range []string{d.Title, d.Key, d.Object.Name} {
		l := strings.ToLower(s)
		if l == "" {
			continue
		}
		if k := istioDashboardWords(l); k != "" {
			return k
		}
		if d.Title != "" {
			// A titled dashboard is what its title says; the file name
			// only decides for an untitled one.
			return ""
		}
	}
	return ""
}

func istioDashboardWords(l string) string {
	switch {
	case strings.Contains(l, "pilot-dashboard") || (strings.Contains(l, "istio") && (strings.Contains(l, "control plane") || strings.Contains(l, "control-plane") || strings.Contains(l, "istiod"))):
		return DashboardControlPlane
	case !strings.Contains(l, "istio"):
		return ""
	case strings.Contains(l, "mesh"):
		return DashboardMesh
	case strings.Contains(l, "workload"):
		return DashboardWorkload
	case strings.Contains(l, "service"):
		return DashboardService
	}
	return ""
}

// Tokens returns the set of words (runs of [a-z0-9-]) of the dashboard's
// JSON, lower-cased, with every run of their hyphen-separated parts
// ("devmentor-qwen-llm" also gives "qwen-llm"): built once, it answers "does
// this dashboard name service X" without a scan per service.
func (d Dashboard) Tokens() map[string]bool { return wordSet(d.Text + " " + d.Title) }

// NameTokens is Tokens for the dashboard's title, uid and file (data key) only.
func (d Dashboard) NameTokens() map[string]bool {
	return wordSet(d.Title + " " + d.UID + " " + strings.TrimSuffix(d.Key, ".json"))
}

func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	text := strings.ToLower(s)
	start := -1
	for i := 0; i <= len(text); i++ {
		word := i < len(text) && (text[i] == '-' || (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '0' && text[i] <= '9'))
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			addWordRuns(out, strings.Trim(text[start:i], "-"))
			start = -1
		}
	}
	return out
}

// addWordRuns adds a word and every contiguous run of its hyphen-separated
// parts (for words of at most 8 parts).
func addWordRuns(set map[string]bool, w string) {
	if w == "" {
		return
	}
	set[w] = true
	parts := strings.Split(w, "-")
	if len(parts) < 2 || len(parts) > 8 {
		return
	}
	for i := range parts {
		for j := i + 1; j <= len(parts); j++ {
			set[strings.Join(parts[i:j], "-")] = true
		}
	}
}
