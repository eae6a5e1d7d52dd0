package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/meshgen"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// bigMesh is meshgen's mesh of n services (every one critical: the strict
// default) and the telemetry of those services: two pods each, each
// service called by the one before it in its namespace.
func bigMesh(t testing.TB, n int) (*snapshot.Snapshot, *config.Config, *promtest.Mesh) {
	dir := t.TempDir()
	o := meshgen.Options{Services: n}
	if _, err := meshgen.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	objs, _, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	nss := max(1, n/250) // meshgen's default
	m := &promtest.Mesh{Istiod: true, Shards: 20,
		Gateways: []promtest.Workload{{Name: "istio-ingressgateway", Namespace: "istio-ingress", Pods: promtest.Pods("istio-ingressgateway", 3), ProxyCPU: 0.2, ProxyMemMiB: 80}}}
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("team-%04d", i%nss)
		name := fmt.Sprintf("svc-%05d", i)
		m.Services = append(m.Services, promtest.Service{Name: name, Namespace: ns, ErrorRate: 0.001, LatencyMs: 40,
			Workload: promtest.Workload{Name: name, Namespace: ns, Pods: promtest.Pods(name, 2), ProxyCPU: 0.02, ProxyMemMiB: 45}})
		if i >= nss {
			m.Edges = append(m.Edges, promtest.Edge{FromWorkload: fmt.Sprintf("svc-%05d", i-nss), FromNamespace: ns, To: name, ToNamespace: ns, RPS: 10})
		} else {
			m.Edges = append(m.Edges, promtest.Edge{FromWorkload: "istio-ingressgateway", FromNamespace: "istio-ingress", To: name, ToNamespace: ns, RPS: 10})
		}
	}
	return snapshot.New(objs), cfg, m
}

// telemetryOnly are the catalog items reduced to their telemetry part, so
// that a run measures the telemetry part of the checklist alone.
func telemetryOnly() []check.Item {
	var out []check.Item
	for _, it := range checks.All() {
		if it.Check.Telemetry == nil {
			continue
		}
		meta := it.Meta
		meta.Kind = "telemetry"
		out = append(out, check.Item{Meta: meta, Check: &check.Check{ID: it.Check.ID, Reads: it.Check.Reads, Telemetry: it.Check.Telemetry}})
	}
	return out
}

func startBig(t testing.TB, n int) (*snapshot.Snapshot, *config.Config, *promtest.Server) {
	snap, cfg, m := bigMesh(t, n)
	start := time.Now()
	s := promtest.Start(t, m, promtest.Options{Rules: exampleRules(t, false), ScrapeInterval: 15 * time.Second, EvaluationInterval: time.Minute, Scrapes: 2})
	n0 := s.Query(t, "prometheus_tsdb_head_series")
	t.Logf("%d services: Prometheus up and scraped in %v (%v head series)", n, time.Since(start).Round(time.Millisecond), n0)
	return snap, cfg, s
}

// TestTelemetryPartAt5000Services measures, with 5,000 services' series in
// the real Prometheus and all 5,000 critical (30,000 per-service items), how
// long the telemetry part of the whole checklist takes. It is a measurement,
// not a gate (timings are not asserted in tests): run it with
// MESHREADY_TELEMETRY_SCALE=1 go test ./internal/telemetry/e2e -run At5000 -v
func TestTelemetryPartAt5000Services(t *testing.T) {
	if os.Getenv("MESHREADY_TELEMETRY_SCALE") == "" {
		t.Skip("a measurement (about 2 minutes): set MESHREADY_TELEMETRY_SCALE=1")
	}
	const services = 5000
	snap, cfg, s := startBig(t, services)
	items := telemetryOnly()
	var best time.Duration
	for i := 0; i < 3; i++ {
		cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := engine.Run(snap, engine.Options{Config: cfg, Items: items, TelemetryClient: cl})
		took := time.Since(start)
		if i == 0 || took < best {
			best = took
		}
		counts := map[report.Status]int{}
		var bad []string
		for _, it := range r.Items {
			counts[it.Status]++
			if it.Status != report.Pass && it.Status != report.NotApplicable && it.Status != report.Pending {
				bad = append(bad, fmt.Sprintf("%s %s", it.ID, it.Status))
				for _, f := range it.Findings {
					if f.Status == it.Status && len(bad) < 5 {
						bad[len(bad)-1] += ": " + f.Message
						break
					}
				}
			}
		}
		if len(bad) > 0 {
			t.Errorf("%d items not passing, e.g. %v", len(bad), bad[:min(5, len(bad))])
		}
		recs := cl.Records()
		sort.Slice(recs, func(i, j int) bool { return recs[i].Duration > recs[j].Duration })
		var slow []string
		for _, rec := range recs {
			if rec.Err != "" {
				t.Errorf("%s: %s", shorten(rec.Call), rec.Err)
			}
			slow = append(slow, fmt.Sprintf("%v %s", rec.Duration.Round(time.Millisecond), shorten(rec.Call)))
		}
		// The same run again on the same client: every answer cached, so
		// this is meshready's own share (views, 10,000 items, findings).
		start = time.Now()
		engine.Run(snap, engine.Options{Config: cfg, Items: items, TelemetryClient: cl})
		own := time.Since(start)
		t.Logf("run %d: telemetry part of %d items in %v (meshready's own share, answers cached: %v), %d calls; statuses %v; slowest calls:\n  %s",
			i+1, len(r.Items), took.Round(time.Millisecond), own.Round(time.Millisecond), len(cl.Records()), counts, slow[0]+"\n  "+slow[1]+"\n  "+slow[2])
	}
	t.Logf("telemetry part at %d services: best of 3 runs %v (target 2 s)", services, best)
}

func shorten(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}
