package verification

import (
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func run(t *testing.T, cfg *config.Config, id string) (report.Status, []report.Finding) {
	t.Helper()
	for _, c := range Checks() {
		if c.ID == id {
			ctx := check.NewContext(snapshot.New(nil), cfg, nil, nil, check.Probe, now)
			c.Probe(ctx)
			st, _, fs := ctx.Result()
			return st, fs
		}
	}
	t.Fatalf("no check %s", id)
	return "", nil
}

func write(t *testing.T, dir string, r *evidence.Record) {
	t.Helper()
	if r.Start.IsZero() {
		r.Start = r.End.Add(-time.Minute)
	}
	if _, err := evidence.Write(dir, r); err != nil {
		t.Fatal(err)
	}
}

func messages(fs []report.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, string(f.Status)+": "+f.Message+" [fix: "+f.Remediation+"]")
	}
	return strings.Join(s, "\n")
}

func TestEveryProbeItemImplemented(t *testing.T) {
	want := []string{"perf.latency-impact", "perf.resource-overhead", "perf.scaling", "perf.stability",
		"resilience.circuit-breaking", "resilience.retries", "resilience.fault-injection", "resilience.recovery",
		"sectest.mtls-encryption", "sectest.policy-enforcement", "sectest.authentication", "sectest.authorization",
		"final.e2e", "final.performance", "final.security", "final.resilience",
		"simulation.production-load", "simulation.failure-scenarios", "simulation.recovery", "simulation.monitoring"}
	got := map[string]*check.Check{}
	for _, c := range Checks() {
		got[c.ID] = c
	}
	for _, id := range want {
		c := got[id]
		if c == nil || c.Probe == nil || c.Why == "" || c.Fix == "" || c.Docs == "" {
			t.Errorf("%s: missing or incomplete", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d checks, want %d", len(got), len(want))
	}
}

func TestEvidenceDecides(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.EvidenceDir = dir

	// Nothing recorded: pending, naming the command.
	st, fs := run(t, cfg, "perf.latency-impact")
	if st != report.Pending || !strings.Contains(fs[0].Remediation, "meshready probe load") || !strings.Contains(fs[0].Remediation, "--baseline-url") {
		t.Errorf("empty: %s\n%s", st, messages(fs))
	}

	// A load run without a baseline does not count for latency impact.
	load := &evidence.Record{Kind: evidence.KindLoad, Target: "http://127.0.0.1:1/", Verdict: evidence.Pass, End: now.Add(-2 * time.Hour),
		Parameters: map[string]any{"qps": 100.0}, Results: evidence.Results{Requests: 100, AchievedQPS: 100, LatencyMs: &evidence.Latency{P50: 1, P99: 3}}}
	write(t, dir, load)
	if st, fs := run(t, cfg, "perf.latency-impact"); st != report.Pending {
		t.Errorf("load without baseline: %s\n%s", st, messages(fs))
	}
	if st, fs := run(t, cfg, "perf.resource-overhead"); st != report.Pass {
		t.Errorf("resource overhead: %s\n%s", st, messages(fs))
	}

	// With a baseline: pass; judged again against today's thresholds.
	withBase := *load
	withBase.End = now.Add(-time.Hour)
	withBase.Results.AddedLatencyMs = &evidence.Latency{P50: 1.5, P90: 3, P99: 8}
	write(t, dir, &withBase)
	if st, fs := run(t, cfg, "perf.latency-impact"); st != report.Pass {
		t.Errorf("with baseline: %s\n%s", st, messages(fs))
	}
	strict := *cfg
	strict.Thresholds.AddedLatencyP50Ms = 1
	if st, fs := run(t, &strict, "perf.latency-impact"); st != report.Fail || !strings.Contains(messages(fs), "addedLatencyP50Ms") {
		t.Errorf("stricter threshold: %s\n%s", st, messages(fs))
	}

	// A newer failing run fails the item, even with an older pass; a newer partial one changes nothing.
	failing := withBase
	failing.End = now.Add(-30 * time.Minute)
	failing.Verdict = evidence.Fail
	failing.Reasons = []evidence.Reason{{OK: false, Message: "added p99 latency 42 ms (limit 10 ms)"}}
	write(t, dir, &failing)
	partial := withBase
	partial.End = now.Add(-10 * time.Minute)
	partial.Verdict = evidence.Partial
	write(t, dir, &partial)
	if st, fs := run(t, cfg, "perf.latency-impact"); st != report.Fail || !strings.Contains(fs[0].Message, "42 ms") {
		t.Errorf("newest failed: %s\n%s", st, messages(fs))
	}

	// Too old: pending, saying so.
	old := config.Default()
	old.EvidenceDir = dir
	old.EvidenceMaxAge = config.Duration(time.Minute)
	if st, fs := run(t, old, "perf.resource-overhead"); st != report.Pending || !strings.Contains(fs[0].Message, "older than evidenceMaxAge") {
		t.Errorf("old: %s\n%s", st, messages(fs))
	}
}

func TestDerivedAndSimulation(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.EvidenceDir = dir
	pass := func(kind string, mod func(*evidence.Record)) {
		r := &evidence.Record{Kind: kind, Target: "http://127.0.0.1:1/", Verdict: evidence.Pass, End: now.Add(-time.Hour), Parameters: map[string]any{}}
		if mod != nil {
			mod(r)
		}
		write(t, dir, r)
	}
	pass(evidence.KindMTLS, nil)
	pass(evidence.KindAuthn, nil)
	pass(evidence.KindAuthz, func(r *evidence.Record) {
		r.Results.Authz = []evidence.Case{{Name: "anonymous delete", Expect: "deny", Status: 401, Got: "deny", OK: true}}
	})
	// A deny answered 401 is not proof of policy enforcement (403).
	st, fs := run(t, cfg, "final.security")
	if st != report.Pending || !strings.Contains(messages(fs), "sectest.policy-enforcement") {
		t.Errorf("final.security without a 403: %s\n%s", st, messages(fs))
	}
	pass(evidence.KindAuthz, func(r *evidence.Record) {
		r.End = now.Add(-time.Minute)
		r.Results.Authz = []evidence.Case{{Name: "other namespace", Expect: "deny", Status: 403, Got: "deny", OK: true}}
	})
	if st, fs := run(t, cfg, "final.security"); st != report.Pass {
		t.Errorf("final.security: %s\n%s", st, messages(fs))
	}
	if st, _ := run(t, cfg, "final.e2e"); st != report.Pending {
		t.Errorf("final.e2e with only security: %s", st)
	}
	// Production load: pending without the rate; a run below the rate does not count.
	if st, fs := run(t, cfg, "simulation.production-load"); st != report.Pending || !strings.Contains(fs[0].Message, "productionRPS") {
		t.Errorf("no productionRPS: %s\n%s", st, messages(fs))
	}
	cfg.Thresholds.ProductionRPS = 500
	pass(evidence.KindLoad, func(r *evidence.Record) { r.Parameters["qps"] = 100.0 })
	if st, _ := run(t, cfg, "simulation.production-load"); st != report.Pending {
		t.Errorf("load at 100 for 500: %s", st)
	}
	pass(evidence.KindSoak, func(r *evidence.Record) { r.Parameters["qps"] = 600.0 })
	if st, fs := run(t, cfg, "simulation.production-load"); st != report.Pass {
		t.Errorf("soak at 600: %s\n%s", st, messages(fs))
	}
	// Failure scenarios: one failing member fails the derived item.
	pass(evidence.KindCircuitBreaker, nil)
	pass(evidence.KindRetries, nil)
	pass(evidence.KindFault, func(r *evidence.Record) {
		r.Verdict = evidence.Fail
		r.Reasons = []evidence.Reason{{Message: "abort rate: observed 2% vs 10% configured"}}
	})
	if st, fs := run(t, cfg, "simulation.failure-scenarios"); st != report.Fail || !strings.Contains(messages(fs), "resilience.fault-injection") {
		t.Errorf("failure scenarios: %s\n%s", st, messages(fs))
	}
}
