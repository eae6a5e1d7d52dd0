package promtest

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mesh describes the telemetry a test mesh exports: its services (each
// with workloads and pods whose proxies export Envoy, agent and cAdvisor
// series), the request edges between workloads and services (istio_requests_total
// and istio_request_duration_milliseconds as both proxies report them) and
// istiod's pilot_* series. Counters grow at the stated rates from the
// target's start, so rate() over them gives these rates back.
type Mesh struct {
	Services []Service
	Edges    []Edge
	// Gateways are proxies that call services (sources of edges) but are not services.
	Gateways []Workload
	// Istiod exports pilot_* series (and citadel's root certificate expiry).
	Istiod bool
	// NoXDSRejects leaves pilot_total_xds_rejects out (istiod exports it from the first reject).
	NoXDSRejects bool
	// CustomTag, when set, is a label (e.g. request_host) every istio_requests_total carries.
	CustomTag string
	// Shards splits the proxy and cAdvisor series over that many scrape
	// targets (default 1), so large meshes are scraped in parallel.
	Shards int

	once     sync.Once
	svcIndex map[string]*Service
	wlIndex  map[string]*Workload
}

// Workload is a pod-owning workload and its pods.
type Workload struct {
	Name, Namespace string
	Pods            []string
	NoSidecar       bool    // its pods export no proxy series (not injected or not scraped)
	NoAgent         bool    // Envoy stats only, no istio_agent_* (port 15090 scraped, not 15020)
	ProxyCPU        float64 // cores per istio-proxy container (cAdvisor)
	ProxyMemMiB     float64 // working set of each istio-proxy container
}

// Service is a Service and the workload behind it.
type Service struct {
	Name, Namespace string
	Workload        Workload
	ErrorRate       float64 // share of its requests answered 503
	LatencyMs       float64 // the histogram puts its p99 in the bucket holding this value
}

// Edge is traffic from a workload to a service.
type Edge struct {
	FromWorkload, FromNamespace string
	To, ToNamespace             string
	RPS                         float64
	Plaintext                   float64 // share of it with connection_security_policy="none"
}

// IstioDurationBuckets are Istio's default request duration buckets (ms).
var IstioDurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// convergenceBuckets are pilot_proxy_convergence_time's buckets (s).
var convergenceBuckets = []float64{0.1, 0.5, 1, 3, 5, 10, 20, 30}

// Pods names n pods of a Deployment the way the ReplicaSet controller does.
func Pods(workload string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-7d9f8b6c5d-%05x", workload, 0x2a3b4+i*7919)
	}
	return out
}

// StatefulPods names n pods of a StatefulSet.
func StatefulPods(workload string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = workload + "-" + strconv.Itoa(i)
	}
	return out
}

func (m *Mesh) shards() int {
	if m.Shards <= 0 {
		return 1
	}
	return m.Shards
}

func (m *Mesh) service(name, ns string) *Service {
	m.index()
	return m.svcIndex[ns+"/"+name]
}

func (m *Mesh) workload(name, ns string) *Workload {
	m.index()
	return m.wlIndex[ns+"/"+name]
}

// index builds the lookups once (the mesh does not change once served).
func (m *Mesh) index() {
	m.once.Do(func() {
		m.svcIndex, m.wlIndex = map[string]*Service{}, map[string]*Workload{}
		for i := range m.Services {
			s := &m.Services[i]
			m.svcIndex[s.Namespace+"/"+s.Name] = s
		}
		for _, w := range m.workloads() {
			if _, dup := m.wlIndex[w.Namespace+"/"+w.Name]; !dup {
				m.wlIndex[w.Namespace+"/"+w.Name] = w
			}
		}
	})
}

// workloads returns every workload: the services', then the gateways.
func (m *Mesh) workloads() []*Workload {
	var out []*Workload
	for i := range m.Services {
		out = append(out, &m.Services[i].Workload)
	}
	for i := range m.Gateways {
		out = append(out, &m.Gateways[i])
	}
	return out
}

// target serves the mesh's metrics.
type target struct {
	mesh  *Mesh
	start time.Time
	// edges and workloads by shard (an edge belongs to its destination's shard).
	edges     [][]*Edge
	workloads [][]*Workload

	mu      sync.Mutex
	scraped map[string]bool
}

// uptime is added to the elapsed time so that counters (and the integer
// histogram buckets) are large from the first scrape.
const uptime = 10000

func newTarget(m *Mesh) *target {
	t := &target{mesh: m, start: time.Now(), edges: make([][]*Edge, m.shards()), workloads: make([][]*Workload, m.shards())}
	shardOf := map[string]int{}
	for i, w := range m.workloads() {
		s := i % m.shards()
		shardOf[w.Namespace+"/"+w.Name] = s
		t.workloads[s] = append(t.workloads[s], w)
	}
	for i := range m.Edges {
		e := &m.Edges[i]
		s := 0
		if svc := m.service(e.To, e.ToNamespace); svc != nil {
			s = shardOf[svc.Workload.Namespace+"/"+svc.Workload.Name]
		}
		t.edges[s] = append(t.edges[s], e)
	}
	return t
}

// Backdate is how far back the first scrape of each target reports its
// samples (with explicit timestamps), so that rate(...[5m]) has a full
// window from the second scrape on instead of a few seconds of data.
const Backdate = 4 * time.Minute

func (t *target) elapsed() float64 { return time.Since(t.start).Seconds() + uptime }

// firstScrape reports whether this is the first scrape of a target (path and shard).
func (t *target) firstScrape(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scraped == nil {
		t.scraped = map[string]bool{}
	}
	first := !t.scraped[key]
	t.scraped[key] = true
	return first
}

// handler serves /stats/prometheus?shard=N (proxies), /metrics/cadvisor?shard=N
// and /istiod/metrics in the Prometheus text exposition format (version
// 0.0.4). client_golang's registry and promhttp would need modules this
// repository does not require (beorn7/perks, cespare/xxhash, prometheus/procfs),
// and so would prometheus/common/expfmt (pandatix/go-abnf), so the target
// writes the format itself: TYPE lines, escaped label values, histograms
// as cumulative _bucket{le} series plus _sum and _count. Each page is laid
// out once (series and their rates); a scrape only computes the values.
func (t *target) handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(path string, build func(p *page, shard int)) {
		pages := make([]*page, t.mesh.shards())
		var once = make([]sync.Once, len(pages))
		mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
			s, _ := strconv.Atoi(r.URL.Query().Get("shard"))
			if s < 0 || s >= len(pages) {
				http.NotFound(rw, r)
				return
			}
			once[s].Do(func() {
				pages[s] = &page{}
				build(pages[s], s)
			})
			el, ts := t.elapsed(), ""
			if t.firstScrape(path + "?" + strconv.Itoa(s)) {
				el -= Backdate.Seconds()
				ts = " " + strconv.FormatInt(time.Now().Add(-Backdate).UnixMilli(), 10)
			}
			rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w := bufio.NewWriterSize(rw, 1<<16)
			pages[s].write(w, el, ts)
			_ = w.Flush()
		})
	}
	serve("/stats/prometheus", t.proxies)
	serve("/metrics/cadvisor", t.cadvisor)
	serve("/istiod/metrics", func(p *page, _ int) { t.istiod(p) })
	return mux
}

var reqLabels = []string{"reporter", "source_workload", "source_workload_namespace", "source_principal",
	"destination_service", "destination_service_name", "destination_service_namespace",
	"destination_workload", "destination_workload_namespace", "destination_principal",
	"request_protocol", "response_code", "response_flags", "connection_security_policy"}

// proxies lays out what the proxies of one shard export: Istio's standard
// metrics (both reporters), Envoy's server stats and the agent's.
func (t *target) proxies(w *page, shard int) {
	m := t.mesh
	labels := reqLabels
	if m.CustomTag != "" {
		labels = append(append([]string(nil), reqLabels...), m.CustomTag)
	}
	type hist struct {
		vals          []string
		rate, latency float64
	}
	var hists []hist
	w.typ("istio_requests_total", "counter")
	for _, e := range t.edges[shard] {
		dst := m.service(e.To, e.ToNamespace)
		src := m.workload(e.FromWorkload, e.FromNamespace)
		if dst == nil {
			continue
		}
		dw := dst.Workload
		fqdn := e.To + "." + e.ToNamespace + ".svc.cluster.local"
		srcPrincipal := "spiffe://cluster.local/ns/" + e.FromNamespace + "/sa/" + e.FromWorkload
		dstPrincipal := "spiffe://cluster.local/ns/" + e.ToNamespace + "/sa/" + dw.Name
		for _, reporter := range []string{"destination", "source"} {
			switch {
			case reporter == "destination" && dw.NoSidecar:
				continue
			case reporter == "source" && (src == nil || src.NoSidecar):
				continue
			}
			type part struct {
				policy string
				share  float64
			}
			parts := []part{{"mutual_tls", 1 - e.Plaintext}, {"none", e.Plaintext}}
			if reporter == "source" {
				// The client proxy does not know the server's policy.
				parts = []part{{"unknown", 1}}
			}
			for _, p := range parts {
				if p.share <= 0 {
					continue
				}
				for _, code := range []struct {
					code  string
					share float64
				}{{"200", 1 - dst.ErrorRate}, {"503", dst.ErrorRate}} {
					rate := e.RPS * p.share * code.share
					if rate <= 0 {
						continue
					}
					vals := []string{reporter, e.FromWorkload, e.FromNamespace, srcPrincipal,
						fqdn, e.To, e.ToNamespace, dw.Name, dw.Namespace, dstPrincipal,
						"http", code.code, "-", p.policy}
					if m.CustomTag != "" {
						vals = append(vals, fqdn+":8080")
					}
					w.sample("istio_requests_total", labels, vals, rate, 0)
					if code.code == "200" && reporter == "destination" {
						hists = append(hists, hist{vals, rate, dst.LatencyMs})
					}
				}
			}
		}
	}
	w.typ("istio_request_duration_milliseconds", "histogram")
	for _, h := range hists {
		// 98% of the requests in the bucket holding latency/10, 2% in the
		// bucket holding latency: p99 interpolates to the middle of latency's bucket.
		fast := h.latency / 10
		fracs := make([]float64, len(IstioDurationBuckets))
		for i, b := range IstioDurationBuckets {
			if fast <= b {
				fracs[i] += 0.98
			}
			if h.latency <= b {
				fracs[i] += 0.02
			}
		}
		w.histogram("istio_request_duration_milliseconds", labels, h.vals, IstioDurationBuckets, fracs, h.rate, h.rate*(0.98*fast+0.02*h.latency))
	}
	pod := []string{"namespace", "pod"}
	for _, g := range []struct {
		name, typ   string
		rate, konst float64
	}{
		{"envoy_server_live", "gauge", 0, 1}, {"envoy_server_state", "gauge", 0, 0}, {"envoy_server_uptime", "gauge", 1, 0},
		{"istio_agent_go_goroutines", "gauge", 0, 42}, {"istio_agent_process_virtual_memory_bytes", "gauge", 0, 1.5e9},
	} {
		w.typ(g.name, g.typ)
		for _, wl := range t.workloads[shard] {
			if wl.NoSidecar || (wl.NoAgent && strings.HasPrefix(g.name, "istio_agent_")) {
				continue
			}
			for _, p := range wl.Pods {
				w.sample(g.name, pod, []string{wl.Namespace, p}, g.rate, g.konst)
			}
		}
	}
}

// cadvisor lays out the kubelet's cAdvisor series for the pods of one shard.
func (t *target) cadvisor(w *page, shard int) {
	lbl := []string{"namespace", "pod", "container"}
	w.typ("container_cpu_usage_seconds_total", "counter")
	for _, wl := range t.workloads[shard] {
		for _, p := range wl.Pods {
			w.sample("container_cpu_usage_seconds_total", lbl, []string{wl.Namespace, p, "app"}, 0.25, 0)
			if !wl.NoSidecar {
				w.sample("container_cpu_usage_seconds_total", lbl, []string{wl.Namespace, p, "istio-proxy"}, wl.ProxyCPU, 0)
			}
		}
	}
	w.typ("container_memory_working_set_bytes", "gauge")
	for _, wl := range t.workloads[shard] {
		for _, p := range wl.Pods {
			w.sample("container_memory_working_set_bytes", lbl, []string{wl.Namespace, p, "app"}, 0, 512<<20)
			if !wl.NoSidecar {
				w.sample("container_memory_working_set_bytes", lbl, []string{wl.Namespace, p, "istio-proxy"}, 0, wl.ProxyMemMiB*(1<<20))
			}
		}
	}
}

// istiod lays out istiod's pilot_* series.
func (t *target) istiod(w *page) {
	m := t.mesh
	if !m.Istiod {
		return
	}
	w.typ("pilot_xds_pushes", "counter")
	for i, typ := range []string{"cds", "eds", "lds", "rds"} {
		w.sample("pilot_xds_pushes", []string{"type"}, []string{typ}, float64(i+1)*0.5, 0)
	}
	fracs := make([]float64, len(convergenceBuckets))
	for i, b := range convergenceBuckets {
		switch {
		case b >= 0.5:
			fracs[i] = 1
		case b >= 0.1:
			fracs[i] = 0.9
		}
	}
	w.typ("pilot_proxy_convergence_time", "histogram")
	w.histogram("pilot_proxy_convergence_time", nil, nil, convergenceBuckets, fracs, 2, 0.3)
	if !m.NoXDSRejects {
		w.typ("pilot_total_xds_rejects", "counter")
		w.sample("pilot_total_xds_rejects", nil, nil, 0, 0)
	}
	w.typ("pilot_xds", "gauge")
	w.sample("pilot_xds", []string{"version"}, []string{"1.28.0"}, 0, float64(len(m.workloads())))
	w.typ("citadel_server_root_cert_expiry_timestamp", "gauge")
	w.sample("citadel_server_root_cert_expiry_timestamp", nil, nil, 0, float64(time.Now().Add(300*24*time.Hour).Unix()))
}

// page is a laid-out exposition: each line's text before the value, and
// the value as rate × uptime + konst (floored for histogram counts).
type page struct{ lines []line }

type line struct {
	prefix      string // "# TYPE ...\n" (no value) or "name{labels} "
	rate, konst float64
	floor, text bool
}

func (p *page) write(w *bufio.Writer, el float64, ts string) {
	var buf []byte
	for _, l := range p.lines {
		w.WriteString(l.prefix)
		if l.text {
			continue
		}
		v := l.rate*el + l.konst
		if l.floor {
			v = math.Floor(v)
		}
		buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
		w.Write(buf)
		w.WriteString(ts)
		w.WriteByte('\n')
	}
}

func (p *page) typ(name, typ string) {
	p.lines = append(p.lines, line{prefix: "# TYPE " + name + " " + typ + "\n", text: true})
}

var labelEscaper = strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n")

func series(name string, labels, vals []string, extra ...string) string {
	var b strings.Builder
	b.WriteString(name)
	if len(labels)+len(extra) > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l + "=\"" + labelEscaper.Replace(vals[i]) + "\"")
		}
		for i := 0; i+1 < len(extra); i += 2 {
			if len(labels) > 0 || i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(extra[i] + "=\"" + extra[i+1] + "\"")
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	return b.String()
}

func (p *page) sample(name string, labels, vals []string, rate, konst float64) {
	p.lines = append(p.lines, line{prefix: series(name, labels, vals), rate: rate, konst: konst})
}

// histogram lays out cumulative bucket counts (fracs[i] of the requests at
// most bounds[i]), +Inf, sum and count, growing at countRate and sumRate.
func (p *page) histogram(name string, labels, vals []string, bounds, fracs []float64, countRate, sumRate float64) {
	for i, b := range bounds {
		p.lines = append(p.lines, line{prefix: series(name+"_bucket", labels, vals, "le", strconv.FormatFloat(b, 'g', -1, 64)), rate: fracs[i] * countRate, floor: true})
	}
	p.lines = append(p.lines, line{prefix: series(name+"_bucket", labels, vals, "le", "+Inf"), rate: countRate, floor: true})
	p.lines = append(p.lines, line{prefix: series(name+"_sum", labels, vals), rate: sumRate})
	p.lines = append(p.lines, line{prefix: series(name+"_count", labels, vals), rate: countRate, floor: true})
}
