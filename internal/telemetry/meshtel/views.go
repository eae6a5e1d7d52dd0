package meshtel

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/telemetry"
)

// ServiceSeries is what Prometheus holds for one service, by reporter
// ("destination": the server's proxy, "source": the callers' proxies).
type ServiceSeries struct {
	Requests  map[string]float64  // istio_requests_total rate, req/s
	Errors    map[string]float64  // of which response_code 5xx
	Latency   map[string]*Latency // from istio_request_duration_milliseconds
	Workloads []string            // destination_workload values seen
}

// Latency is what the request duration histogram says about a service, as
// one reporter saw it: its p99 (histogram_quantile) when the critical
// services are few enough for that to be cheap, else the share of its
// requests within the bucket bound at (or just above) the p99 threshold,
// which answers "is p99 above the threshold" from two buckets per series
// instead of all twenty.
type Latency struct {
	Exact  bool
	P99    float64 // ms (Exact); NaN: no request in the window
	Within float64 // share of requests of at most Bound ms (!Exact); NaN: no request
	Bound  float64
	inf    float64
	bound  float64
}

// String describes it: "p99 369 ms", or "99.98% of requests within 1000 ms".
func (l *Latency) String() string {
	switch {
	case l.Exact && math.IsNaN(l.P99):
		return "no request completed in the window"
	case l.Exact:
		return fmt.Sprintf("p99 %s ms", telemetry.FormatValue(math.Round(l.P99)))
	case math.IsNaN(l.Within):
		return "no request completed in the window"
	}
	return fmt.Sprintf("%s of requests within %s ms", Percent(l.Within), telemetry.FormatValue(l.Bound))
}

// Value is the number the evidence shows: the p99 (ms) or the share within Bound.
func (l *Latency) Value() float64 {
	if l.Exact {
		return l.P99
	}
	return l.Within
}

// Above reports whether the p99 exceeds th ms; known is false when no
// request completed in the window.
func (l *Latency) Above(th float64) (above, known bool) {
	if l.Exact {
		if math.IsNaN(l.P99) {
			return false, false
		}
		return l.P99 > th, true
	}
	if math.IsNaN(l.Within) {
		return false, false
	}
	// Bound is the smallest bucket bound at or above th: fewer than 99% of
	// requests within it means p99 > Bound >= th.
	return l.Within < 0.99, true
}

// maxExactP99 is the number of critical services up to which their p99 is
// computed exactly (the histogram query then selects only their series).
const maxExactP99 = 200

// boundFor is the smallest of Istio's default bucket bounds at or above th.
func boundFor(th float64) float64 {
	for _, b := range istioDurationBuckets {
		if b >= th {
			return b
		}
	}
	return istioDurationBuckets[len(istioDurationBuckets)-1]
}

var istioDurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// leMatcher matches a bucket bound however Prometheus wrote it ("1000" or,
// since Prometheus 3, "1000.0").
func leMatcher(b float64) string {
	f := strconv.FormatFloat(b, 'f', -1, 64)
	re := strings.ReplaceAll(f, ".", `\\.`)
	if !strings.Contains(f, ".") {
		re += `(\\.0)?`
	}
	return fmt.Sprintf(`le=~"%s|\\+Inf"`, re)
}

// Reporter is the reporter to read: the server's own proxy when it reports.
func (s *ServiceSeries) Reporter() string {
	if _, ok := s.Requests["destination"]; ok {
		return "destination"
	}
	return "source"
}

// ErrorShare is the 5xx share of the service's requests (reporter r).
func (s *ServiceSeries) ErrorShare(r string) float64 {
	total := s.Requests[r]
	if total <= 0 {
		return math.NaN()
	}
	return s.Errors[r] / total
}

// ServiceView is the batched request, 5xx and latency series of every
// critical service: three queries, however many services.
type ServiceView struct {
	RequestsExpr, ErrorsExpr, LatencyExpr string
	RequestsErr, ErrorsErr, LatencyErr    error
	By                                    map[Key]*ServiceSeries
	requests                              model.Vector
	// ExactP99: LatencyExpr is a histogram_quantile; else it reads the
	// buckets le=BoundMs and le=+Inf.
	ExactP99 bool
	BoundMs  float64
}

// Of returns a service's series (nil when Prometheus has none).
func (v *ServiceView) Of(k Key) *ServiceSeries { return v.By[k] }

// Services returns the run's ServiceView (queried once, shared by every item).
func Services(c *check.Context, cl *telemetry.Client) *ServiceView {
	cr := criticalOf(c) // before the memo: it records the reads on c
	return memo(cl, "view:services", func() *ServiceView { return servicesView(cl, cr) })
}

func servicesView(cl *telemetry.Client, cr *critical) *ServiceView {
	ns := cr.ns["destination_service_namespace"]
	by := "destination_service_namespace, destination_service_name"
	v := &ServiceView{
		RequestsExpr: fmt.Sprintf(`sum by (%s, destination_workload, reporter) (rate(istio_requests_total%s[%s]))`, by, sel(ns), Window),
		ErrorsExpr:   fmt.Sprintf(`sum by (%s, reporter) (rate(istio_requests_total%s[%s]))`, by, sel(ns, `response_code=~"5.."`), Window),
	}
	if len(cr.svcs) <= maxExactP99 {
		v.ExactP99 = true
		v.LatencyExpr = fmt.Sprintf(`histogram_quantile(0.99, sum by (%s, reporter, le) (rate(istio_request_duration_milliseconds_bucket%s[%s])))`, by, sel(ns, cr.names), Window)
	} else {
		v.BoundMs = boundFor(cr.p99Ms)
		v.LatencyExpr = fmt.Sprintf(`sum by (%s, reporter, le) (rate(istio_request_duration_milliseconds_bucket%s[%s]))`, by, sel(ns, leMatcher(v.BoundMs)), Window)
	}
	return memo(cl, "services\x00"+v.RequestsExpr, func() *ServiceView {
		v.By = map[Key]*ServiceSeries{}
		var req, errs, p99 model.Vector
		parallel(
			func() { req, v.RequestsErr = cl.Instant(bg, v.RequestsExpr) },
			func() { errs, v.ErrorsErr = cl.Instant(bg, v.ErrorsExpr) },
			func() { p99, v.LatencyErr = cl.Instant(bg, v.LatencyExpr) },
		)
		get := func(s *model.Sample) *ServiceSeries {
			k := Key{label(s, "destination_service_namespace"), label(s, "destination_service_name")}
			ss := v.By[k]
			if ss == nil {
				ss = &ServiceSeries{Requests: map[string]float64{}, Errors: map[string]float64{}, Latency: map[string]*Latency{}}
				v.By[k] = ss
			}
			return ss
		}
		v.requests = req
		for _, s := range req {
			ss := get(s)
			ss.Requests[label(s, "reporter")] += float64(s.Value)
			if w := label(s, "destination_workload"); w != "" && w != "unknown" && !contains(ss.Workloads, w) {
				ss.Workloads = append(ss.Workloads, w)
			}
		}
		for _, s := range errs {
			get(s).Errors[label(s, "reporter")] += float64(s.Value)
		}
		for _, s := range p99 {
			ss, r := get(s), label(s, "reporter")
			if v.ExactP99 {
				ss.Latency[r] = &Latency{Exact: true, P99: float64(s.Value)}
				continue
			}
			l := ss.Latency[r]
			if l == nil {
				l = &Latency{Bound: v.BoundMs}
				ss.Latency[r] = l
			}
			if label(s, "le") == "+Inf" {
				l.inf = float64(s.Value)
			} else {
				l.bound = float64(s.Value)
			}
		}
		for _, ss := range v.By {
			for _, l := range ss.Latency {
				if !l.Exact {
					l.Within = math.NaN()
					if l.inf > 0 {
						l.Within = l.bound / l.inf
					}
				}
			}
		}
		for _, ss := range v.By {
			sort.Strings(ss.Workloads)
		}
		return v
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Edge is the traffic from a workload to a service, as one reporter saw it.
type Edge struct {
	SrcNamespace, SrcWorkload string
	Dst                       Key
	Reporter, Policy          string // connection_security_policy
	RPS                       float64
}

// Source is "workload.namespace".
func (e Edge) Source() string { return e.SrcWorkload + "." + e.SrcNamespace }

// EdgeView is the batched request edges into the declared dependencies
// of the critical services (criticalServices[].dependsOn).
type EdgeView struct {
	Expr  string
	Err   error
	ByDst map[Key][]Edge
}

// Edges returns the run's EdgeView.
func Edges(c *check.Context, cl *telemetry.Client) *EdgeView {
	cr := criticalOf(c)
	return memo(cl, "view:edges", func() *EdgeView { return edgesView(cl, cr) })
}

func edgesView(cl *telemetry.Client, cr *critical) *EdgeView {
	v := &EdgeView{Expr: fmt.Sprintf(`sum by (reporter, source_workload_namespace, source_workload, destination_service_namespace, destination_service_name, connection_security_policy) (rate(istio_requests_total%s[%s]))`, sel(cr.depNS, cr.depNames), Window)}
	return memo(cl, "edges\x00"+v.Expr, func() *EdgeView {
		v.ByDst = map[Key][]Edge{}
		if cr.depNames == "" {
			return v // no dependency declared: nothing to ask
		}
		vec, err := cl.Instant(bg, v.Expr)
		v.Err = err
		for _, s := range vec {
			e := edgeOf(s)
			v.ByDst[e.Dst] = append(v.ByDst[e.Dst], e)
		}
		return v
	})
}

func edgeOf(s *model.Sample) Edge {
	return Edge{
		SrcNamespace: label(s, "source_workload_namespace"), SrcWorkload: label(s, "source_workload"),
		Dst:      Key{label(s, "destination_service_namespace"), label(s, "destination_service_name")},
		Reporter: label(s, "reporter"), Policy: label(s, "connection_security_policy"), RPS: float64(s.Value),
	}
}

// MTLSView is the mesh-wide share of mutual-TLS traffic (as the servers'
// proxies report it: one query by connection_security_policy) and the
// edges that carry anything else.
type MTLSView struct {
	ByPolicyExpr string
	ByPolicy     map[string]float64 // req/s by connection_security_policy
	Total        float64
	Share        float64
	HasShare     bool // false: no traffic reported by any server proxy in the window
	ByPolicyErr  error
	PlainExpr    string
	Plain        []Edge
	PlainErr     error
}

// PolicyList prints the rates by policy: "mutual_tls 103 req/s, none 1.67 req/s".
func (v *MTLSView) PolicyList() string {
	keys := make([]string, 0, len(v.ByPolicy))
	for k := range v.ByPolicy {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s %s", k, Rate(v.ByPolicy[k])))
	}
	if len(out) == 0 {
		return "no series"
	}
	return strings.Join(out, ", ")
}

// MTLS returns the run's MTLSView.
func MTLS(cl *telemetry.Client) *MTLSView {
	v := &MTLSView{
		ByPolicyExpr: fmt.Sprintf(`sum by (connection_security_policy) (rate(istio_requests_total{reporter="destination"}[%s]))`, Window),
		PlainExpr:    fmt.Sprintf(`sum by (source_workload_namespace, source_workload, destination_service_namespace, destination_service_name, connection_security_policy) (rate(istio_requests_total{reporter="destination", connection_security_policy!="mutual_tls"}[%s])) > 0`, Window),
	}
	return memo(cl, "mtls\x00"+v.ByPolicyExpr, func() *MTLSView {
		var byPolicy, plain model.Vector
		parallel(
			func() { byPolicy, v.ByPolicyErr = cl.Instant(bg, v.ByPolicyExpr) },
			func() { plain, v.PlainErr = cl.Instant(bg, v.PlainExpr) },
		)
		v.ByPolicy = map[string]float64{}
		for _, s := range byPolicy {
			v.ByPolicy[label(s, "connection_security_policy")] += float64(s.Value)
			v.Total += float64(s.Value)
		}
		if v.Total > 0 {
			v.Share, v.HasShare = v.ByPolicy["mutual_tls"]/v.Total, true
		}
		for _, s := range plain {
			e := edgeOf(s)
			e.Reporter = "destination"
			v.Plain = append(v.Plain, e)
		}
		sort.Slice(v.Plain, func(i, j int) bool { return v.Plain[i].RPS > v.Plain[j].RPS })
		return v
	})
}

// podIndex maps "namespace/workload" to the pods named after it.
type podIndex map[string][]string

// add indexes a pod under the workload names its name can derive from:
// <deployment>-<replicaset hash>-<5>, <statefulset>-<ordinal>, <daemonset>-<5>.
func (ix podIndex) add(ns, pod string) {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return
	}
	last := pod[i+1:]
	if isDigits(last) || (len(last) == 5 && isAlnum(last)) {
		ix.put(ns, pod[:i], pod)
	}
	if j := strings.LastIndexByte(pod[:i], '-'); j > 0 && len(last) == 5 && isAlnum(last) {
		if mid := pod[j+1 : i]; len(mid) >= 6 && len(mid) <= 10 && isAlnum(mid) {
			ix.put(ns, pod[:j], pod)
		}
	}
}

func (ix podIndex) put(ns, workload, pod string) {
	k := ns + "/" + workload
	if !contains(ix[k], pod) {
		ix[k] = append(ix[k], pod)
	}
}

// Of returns the pods of a workload, sorted.
func (ix podIndex) Of(ns, workload string) []string {
	out := append([]string(nil), ix[ns+"/"+workload]...)
	sort.Strings(out)
	return out
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z') {
			return false
		}
	}
	return true
}

// ProxyView is the Envoy and agent series of the critical services' pods.
type ProxyView struct {
	EnvoyExpr, AgentExpr string
	EnvoyErr, AgentErr   error
	Live                 map[string]float64 // "ns/pod": min envoy_server_live
	Agent                map[string]bool
	Pods                 podIndex
}

// Proxies returns the run's ProxyView.
func Proxies(c *check.Context, cl *telemetry.Client) *ProxyView {
	cr := criticalOf(c)
	return memo(cl, "view:proxies", func() *ProxyView { return proxiesView(cl, cr) })
}

func proxiesView(cl *telemetry.Client, cr *critical) *ProxyView {
	ns := cr.ns["namespace"]
	v := &ProxyView{
		EnvoyExpr: fmt.Sprintf(`min by (namespace, pod) (envoy_server_live%s)`, sel(ns)),
		AgentExpr: fmt.Sprintf(`count by (namespace, pod) (%s)`, sel(`__name__=~"istio_agent_go_goroutines|istio_agent_process_virtual_memory_bytes"`, ns)),
	}
	return memo(cl, "proxies\x00"+v.EnvoyExpr, func() *ProxyView {
		v.Live, v.Agent, v.Pods = map[string]float64{}, map[string]bool{}, podIndex{}
		var envoy, agent model.Vector
		parallel(
			func() { envoy, v.EnvoyErr = cl.Instant(bg, v.EnvoyExpr) },
			func() { agent, v.AgentErr = cl.Instant(bg, v.AgentExpr) },
		)
		for _, s := range envoy {
			ns, pod := label(s, "namespace"), label(s, "pod")
			v.Live[ns+"/"+pod] = float64(s.Value)
			v.Pods.add(ns, pod)
		}
		for _, s := range agent {
			ns, pod := label(s, "namespace"), label(s, "pod")
			v.Agent[ns+"/"+pod] = true
			v.Pods.add(ns, pod)
		}
		return v
	})
}

// ResourceView is the istio-proxy containers' CPU and memory (cAdvisor)
// and the request rates through each workload's proxies.
type ResourceView struct {
	CPUExpr, MemExpr, InExpr, OutExpr string // InExpr is the ServiceView's RequestsExpr
	CPUErr, MemErr, InErr, OutErr     error
	CPU, Mem                          map[string]float64 // "ns/pod": cores, bytes
	In, Out                           map[string]float64 // "ns/workload": req/s served, req/s sent
	Pods                              podIndex
}

// Resources returns the run's ResourceView.
func Resources(c *check.Context, cl *telemetry.Client) *ResourceView {
	cr := criticalOf(c)
	return memo(cl, "view:resources", func() *ResourceView { return resourcesView(cl, cr) })
}

func resourcesView(cl *telemetry.Client, cr *critical) *ResourceView {
	v := &ResourceView{
		CPUExpr: fmt.Sprintf(`sum by (namespace, pod) (rate(container_cpu_usage_seconds_total%s[%s]))`, sel(`container="istio-proxy"`, cr.ns["namespace"]), Window),
		MemExpr: fmt.Sprintf(`max by (namespace, pod) (container_memory_working_set_bytes%s)`, sel(`container="istio-proxy"`, cr.ns["namespace"])),
		OutExpr: fmt.Sprintf(`sum by (source_workload_namespace, source_workload) (rate(istio_requests_total%s[%s]))`, sel(`reporter="source"`, cr.ns["source_workload_namespace"]), Window),
	}
	return memo(cl, "resources\x00"+v.CPUExpr, func() *ResourceView {
		v.CPU, v.Mem, v.In, v.Out, v.Pods = map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}, podIndex{}
		var cpu, mem, in, out model.Vector
		parallel(
			func() { cpu, v.CPUErr = cl.Instant(bg, v.CPUExpr) },
			func() { mem, v.MemErr = cl.Instant(bg, v.MemExpr) },
			func() {
				sv := servicesView(cl, cr)
				v.InExpr, v.InErr, in = sv.RequestsExpr, sv.RequestsErr, sv.requests
			},
			func() { out, v.OutErr = cl.Instant(bg, v.OutExpr) },
		)
		for _, s := range cpu {
			ns, pod := label(s, "namespace"), label(s, "pod")
			v.CPU[ns+"/"+pod] = float64(s.Value)
			v.Pods.add(ns, pod)
		}
		for _, s := range mem {
			ns, pod := label(s, "namespace"), label(s, "pod")
			v.Mem[ns+"/"+pod] = float64(s.Value)
			v.Pods.add(ns, pod)
		}
		for _, s := range in {
			if label(s, "reporter") == "destination" {
				v.In[label(s, "destination_service_namespace")+"/"+label(s, "destination_workload")] += float64(s.Value)
			}
		}
		for _, s := range out {
			v.Out[label(s, "source_workload_namespace")+"/"+label(s, "source_workload")] += float64(s.Value)
		}
		return v
	})
}

// Workloads returns the names of the workloads behind a service: those
// its Service selects in the input, and those Prometheus saw serving it
// (destination_workload). guessed is set when neither knows and the
// service's own name is assumed (the usual Deployment naming). Reads
// Service and the workload kinds.
func Workloads(c *check.Context, s config.Service, seen *ServiceSeries) (names []string, guessed bool) {
	var ws []mesh.Workload
	if c.Telemetry != nil {
		// One index of the workloads by pod label per run: a selector
		// lookup per service instead of a scan of its namespace.
		ix := memo(c.Telemetry, "workload-index", func() *mesh.WorkloadIndex { return mesh.NewWorkloadIndex(c) })
		if _, svc := mesh.ServiceOf(c, s); svc != nil {
			ws = ix.Select(s.Namespace, svc.Spec.Selector)
		}
	} else {
		ws = mesh.BackingWorkloads(c, s)
	}
	for _, w := range ws {
		if !contains(names, w.Object.Name) {
			names = append(names, w.Object.Name)
		}
	}
	if seen != nil {
		for _, w := range seen.Workloads {
			if !contains(names, w) {
				names = append(names, w)
			}
		}
	}
	if len(names) == 0 {
		return []string{s.Name}, true
	}
	sort.Strings(names)
	return names, false
}

// CountRequestsExpr counts istio_requests_total's series (telemetry.prometheus).
const CountRequestsExpr = "count(istio_requests_total)"

// ControlPlaneView is istiod's pilot series: push rates by type, p99
// proxy convergence, and the xDS reject rate.
type ControlPlaneView struct {
	PushesExpr, ConvExpr, RejectsExpr string
	Pushes, Conv, Rejects             model.Vector
	PushesErr, ConvErr, RejectsErr    error
}

// ControlPlane returns the run's ControlPlaneView.
func ControlPlane(cl *telemetry.Client) *ControlPlaneView {
	v := &ControlPlaneView{
		PushesExpr:  fmt.Sprintf("sum by (type) (rate(pilot_xds_pushes[%s]))", Window),
		ConvExpr:    fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(pilot_proxy_convergence_time_bucket[%s])))", Window),
		RejectsExpr: fmt.Sprintf("sum(rate(pilot_total_xds_rejects[%s]))", Window),
	}
	return memo(cl, "controlplane", func() *ControlPlaneView {
		parallel(
			func() { v.Pushes, v.PushesErr = cl.Instant(bg, v.PushesExpr) },
			func() { v.Conv, v.ConvErr = cl.Instant(bg, v.ConvExpr) },
			func() { v.Rejects, v.RejectsErr = cl.Instant(bg, v.RejectsExpr) },
		)
		return v
	})
}
