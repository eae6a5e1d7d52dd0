package engine

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

func loadRunFixture(id, start string, ms99 float64) report.LoadRun {
	return report.LoadRun{ID: id, File: "/evidence/" + id, Kind: "load", Target: "http://gw/", Verdict: "pass", Start: start, TargetQPS: 100,
		LatencyMs: &report.LatencyMs{P50: 1, P90: 2, P99: ms99, P999: 9},
		Curve:     []report.CurvePoint{{Percentile: 50, Ms: 1}, {Percentile: 99, Ms: ms99}},
		Baseline:  &report.LoadRunBaseline{Curve: []report.CurvePoint{{Percentile: 50, Ms: 0.1}, {Percentile: 99, Ms: 0.30000000000000004}}},
		UsedBy:    []string{"ignored: the engine fills usedBy"}}
}

// probeAttaching is a probe part that passes and attaches the given runs.
func probeAttaching(runs ...report.LoadRun) *check.Check {
	return &check.Check{Probe: func(c *check.Context) {
		for _, r := range runs {
			c.AttachLoadRun(r)
		}
		c.Pass(nil, "ran")
	}}
}

func TestLoadRunsListedOnceWithTheirUsers(t *testing.T) {
	a := loadRunFixture("load-b.json", "2026-11-20T10:00:00.000Z", 4)
	b := loadRunFixture("load-a.json", "2026-11-21T10:00:00.000Z", 5)
	items := []check.Item{
		item("perf.z", "probe", report.Blocker, probeAttaching(a)),
		item("perf.a", "probe", report.Blocker, probeAttaching(b, a)),
		item("perf.none", "probe", report.Blocker, probeAttaching()),
	}
	r := run(t, nil, items, nil)
	if got := []string{r.LoadRuns[0].ID, r.LoadRuns[1].ID}; len(r.LoadRuns) != 2 || !reflect.DeepEqual(got, []string{"load-b.json", "load-a.json"}) {
		t.Fatalf("runs %+v, want load-b.json then load-a.json (start order)", r.LoadRuns)
	}
	if got := r.LoadRuns[0].UsedBy; !reflect.DeepEqual(got, []string{"perf.a", "perf.z"}) {
		t.Errorf("usedBy %q, want both items, sorted", got)
	}
	if got := r.LoadRuns[1].UsedBy; !reflect.DeepEqual(got, []string{"perf.a"}) {
		t.Errorf("usedBy %q", got)
	}
	if none := run(t, nil, items[2:], nil); none.LoadRuns != nil {
		t.Errorf("no runs attached, yet loadRuns %+v", none.LoadRuns)
	}
}

// The digest covers the runs' figures (a record rewritten under its name
// makes a sign-off stale), not where the evidence directory is, and a JSON
// report re-parsed gives the same digest back (meshready signoff relies on it).
func TestDigestCoversLoadRuns(t *testing.T) {
	digest := func(runs ...report.LoadRun) string {
		items := []check.Item{item("perf.x", "probe", report.Blocker, probeAttaching(runs...))}
		return Run(snapshot.New(nil), Options{Config: config.Default(), Items: items, Now: now}).Digest
	}
	base := loadRunFixture("load-1.json", "2026-11-20T10:00:00.000Z", 4)
	d := digest(base)
	if again := digest(base); again != d {
		t.Fatalf("same state, two digests: %s %s", d, again)
	}
	if d == digest() {
		t.Error("the digest ignores the load runs")
	}
	moved := base
	moved.File = "/elsewhere/load-1.json"
	if digest(moved) != d {
		t.Error("the digest changed with the evidence directory's location")
	}
	changed := base
	changed.Baseline = &report.LoadRunBaseline{Curve: []report.CurvePoint{{Percentile: 50, Ms: 0.1}, {Percentile: 99, Ms: 0.3}}}
	if digest(changed) == d {
		t.Error("the digest ignores a change in the baseline curve")
	}

	items := []check.Item{item("perf.x", "probe", report.Blocker, probeAttaching(base))}
	r := Run(snapshot.New(nil), Options{Config: config.Default(), Items: items, Now: now})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got := Digest(&back); got != r.Digest {
		t.Errorf("re-parsed JSON report: digest %s, want %s", got, r.Digest)
	}
}
