package verification

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// attached evaluates an item's probe part and returns the load runs it attached.
func attached(t *testing.T, cfg *config.Config, id string) []report.LoadRun {
	t.Helper()
	for _, c := range Checks() {
		if c.ID == id {
			ctx := check.NewContext(snapshot.New(nil), cfg, nil, nil, check.Probe, now)
			c.Probe(ctx)
			return ctx.LoadRuns()
		}
	}
	t.Fatalf("no check %s", id)
	return nil
}

func ids(runs []report.LoadRun) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func curvePts(ms ...float64) []evidence.CurvePoint {
	var out []evidence.CurvePoint
	for i, p := range []float64{50, 90, 99, 99.9} {
		if i < len(ms) {
			out = append(out, evidence.CurvePoint{Percentile: p, Ms: ms[i]})
		}
	}
	return out
}

func TestItemsAttachTheRunsTheyRelyOn(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.EvidenceDir = dir
	if got := attached(t, cfg, "perf.latency-impact"); len(got) != 0 {
		t.Fatalf("no records, yet runs attached: %v", ids(got))
	}

	lat := &evidence.Latency{P50: 1, P90: 2, P99: 4, P999: 8}
	withBase := &evidence.Record{Kind: evidence.KindLoad, Target: "http://gw/api", Source: "meshready", Verdict: evidence.Pass,
		End: now.Add(-2 * time.Hour), Parameters: map[string]any{"qps": 100.0, "baselineURL": "http://10.0.0.7:8080/api"},
		Results: evidence.Results{Requests: 600, AchievedQPS: 99.5, LatencyMs: lat, LatencyCurve: curvePts(1, 2, 4, 8),
			Baseline:       &evidence.LoadSummary{Requests: 600, AchievedQPS: 99.9, LatencyMs: &evidence.Latency{P50: 0.5, P90: 1, P99: 2, P999: 3}, LatencyCurve: curvePts(0.5, 1, 2, 3)},
			AddedLatencyMs: &evidence.Latency{P50: 0.5, P90: 1, P99: 2, P999: 5}}}
	plain := &evidence.Record{Kind: evidence.KindLoad, Target: "http://gw/other", Verdict: evidence.Pass, End: now.Add(-time.Hour),
		Parameters: map[string]any{"qps": 50.0}, Results: evidence.Results{Requests: 300, LatencyMs: lat, LatencyCurve: curvePts(1, 2, 4, 8)}}
	step := &evidence.Record{Kind: evidence.KindStep, Target: "http://gw/api", Verdict: evidence.Fail, End: now.Add(-time.Hour),
		Results: evidence.Results{LatencyMs: lat, LatencyCurve: curvePts(1, 2, 4, 8),
			Steps: []evidence.Step{{LoadSummary: evidence.LoadSummary{TargetQPS: 100}}, {LoadSummary: evidence.LoadSummary{TargetQPS: 400}}, {LoadSummary: evidence.LoadSummary{TargetQPS: 200}}}}}
	fault := &evidence.Record{Kind: evidence.KindFault, Target: "http://gw/api", Verdict: evidence.Pass, End: now.Add(-time.Hour)}
	for _, r := range []*evidence.Record{withBase, plain, step, fault} {
		write(t, dir, r)
	}
	base := filepath.Base

	// latency-impact needs the baseline: the older record with one, not the newest load.
	got := attached(t, cfg, "perf.latency-impact")
	if len(got) != 1 || got[0].ID != base(withBase.File) {
		t.Fatalf("perf.latency-impact attached %v, want %s", ids(got), base(withBase.File))
	}
	r := got[0]
	if r.Kind != "load" || r.Target != "http://gw/api" || r.TargetQPS != 100 || r.Verdict != "pass" || r.File != withBase.File ||
		r.Start != withBase.Start.UTC().Format("2006-01-02T15:04:05.000Z") || len(r.Curve) != 4 || r.Curve[2] != (report.CurvePoint{Percentile: 99, Ms: 4}) {
		t.Errorf("run %+v", r)
	}
	if b := r.Baseline; b == nil || b.Target != "http://10.0.0.7:8080/api" || len(b.Curve) != 4 || b.LatencyMs.P99 != 2 || r.AddedLatencyMs.P999 != 5 {
		t.Errorf("baseline %+v, added %+v", r.Baseline, r.AddedLatencyMs)
	}

	// resource-overhead takes any load run: the newest.
	if got := attached(t, cfg, "perf.resource-overhead"); len(got) != 1 || got[0].ID != base(plain.File) || got[0].Baseline != nil {
		t.Errorf("perf.resource-overhead attached %v, want %s", ids(got), base(plain.File))
	}
	// A failed run decided the item: it is attached too, and a step run's rate is its highest step.
	if got := attached(t, cfg, "perf.scaling"); len(got) != 1 || got[0].Verdict != "fail" || got[0].TargetQPS != 400 {
		t.Errorf("perf.scaling attached %+v", got)
	}
	// Not load runs, and derived items: nothing.
	for _, id := range []string{"resilience.fault-injection", "final.performance", "final.e2e"} {
		if got := attached(t, cfg, id); len(got) != 0 {
			t.Errorf("%s attached %v, want none", id, ids(got))
		}
	}
}
