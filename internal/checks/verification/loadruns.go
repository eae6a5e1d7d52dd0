package verification

import (
	"path/filepath"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
)

// attachLoadRuns hands the load-generating records an item relied on to the
// report, where the HTML report charts their latency curves. Only the items
// that judge a record attach it: the derived final.* items do not (their
// members already name the runs).
func attachLoadRuns(c *check.Context, used []*evidence.Record) {
	for _, r := range used {
		if run, ok := loadRun(r); ok {
			c.AttachLoadRun(run)
		}
	}
}

// loadRun converts a load, step or soak record; other kinds are not load runs.
func loadRun(r *evidence.Record) (report.LoadRun, bool) {
	switch r.Kind {
	case evidence.KindLoad, evidence.KindStep, evidence.KindSoak:
	default:
		return report.LoadRun{}, false
	}
	res := &r.Results
	run := report.LoadRun{
		ID: filepath.Base(r.File), File: r.File, Kind: r.Kind, Target: r.Target, Source: r.Source, Verdict: r.Verdict,
		Start: stamp(r.Start), End: stamp(r.End), TargetQPS: targetQPS(r),
		AchievedQPS: res.AchievedQPS, Requests: res.Requests, ErrorRate: res.ErrorRate,
		LatencyMs: latency(res.LatencyMs), Curve: curve(res.LatencyCurve), AddedLatencyMs: latency(res.AddedLatencyMs),
	}
	if b := res.Baseline; b != nil {
		run.Baseline = &report.LoadRunBaseline{Target: b.Target, AchievedQPS: b.AchievedQPS, Requests: b.Requests,
			ErrorRate: b.ErrorRate, LatencyMs: latency(b.LatencyMs), Curve: curve(b.LatencyCurve)}
		if run.Baseline.Target == "" {
			run.Baseline.Target = paramString(r, "baselineURL")
		}
	}
	return run, true
}

// stamp is a fixed-width UTC time, so that report times sort as strings.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// targetQPS is the rate asked for: qps, or the highest of a step run's rates.
func targetQPS(r *evidence.Record) float64 {
	if q := paramFloat(r, "qps"); q > 0 {
		return q
	}
	top := 0.0
	for _, s := range r.Results.Steps {
		top = max(top, s.TargetQPS)
	}
	return top
}

func paramString(r *evidence.Record, key string) string {
	s, _ := r.Parameters[key].(string)
	return s
}

func latency(l *evidence.Latency) *report.LatencyMs {
	if l == nil {
		return nil
	}
	return &report.LatencyMs{P50: l.P50, P90: l.P90, P99: l.P99, P999: l.P999}
}

func curve(c []evidence.CurvePoint) []report.CurvePoint {
	if len(c) == 0 {
		return nil
	}
	out := make([]report.CurvePoint, len(c))
	for i, p := range c {
		out[i] = report.CurvePoint{Percentile: p.Percentile, Ms: p.Ms}
	}
	return out
}
