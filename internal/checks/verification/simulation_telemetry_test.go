package verification_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// simRules are the mesh's alerts as the scenario's Prometheus loads them:
// the 5xx share each service's callers see, over 5s so that it fires and
// resolves within the scenario's phases, and a Watchdog that always fires
// (it is about nothing: it must never count as an alert on a fault).
const simRules = `groups:
- name: mesh
  rules:
  - alert: MeshHigh5xx
    expr: sum by (destination_service_namespace, destination_service_name) (rate(istio_requests_total{reporter="source", response_code=~"5.."}[5s])) / sum by (destination_service_namespace, destination_service_name) (rate(istio_requests_total{reporter="source"}[5s])) > 0.02
  - alert: Watchdog
    expr: vector(1)
`

const ns = "devmentor"

// The scenario's phases (offsets from the moment Prometheus has scraped
// everything): each record below claims a window of it.
const (
	cbQuietFrom, cbQuietTo = 2, 12  // qdrant: 1% circuit-breaker overflow, below the alert's 2%
	loadFrom, loadTo       = 14, 24 // the ingress gateway sends 500 req/s instead of 100
	faultFrom, faultTo     = 28, 40 // pbml-context: 20% FI aborts + 10% UO overflow; qwen-llm: 20% retried
	qwenFrom, qwenTo       = 50, 58 // qwen-llm: 40% 503s, then 5% for good (never recovers)
	end                    = 72
)

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// simScenario is the DevMentor mesh's traffic through the phases above.
func simScenario() *promtest.Scenario {
	gw := func(phases ...promtest.Phase) promtest.Flow {
		return promtest.Flow{FromWorkload: "istio-ingressgateway", FromNamespace: "istio-ingress", To: "pbml-context", ToNamespace: ns, Phases: phases}
	}
	from := func(to string, phases ...promtest.Phase) promtest.Flow {
		return promtest.Flow{FromWorkload: "pbml-context", FromNamespace: ns, To: to, ToNamespace: ns, Phases: phases}
	}
	return &promtest.Scenario{Flows: []promtest.Flow{
		gw(promtest.Phase{RPS: 100, Errors: 0.001, LatencyMs: 120},
			promtest.Phase{At: sec(loadFrom), RPS: 500, Errors: 0.001, LatencyMs: 120},
			promtest.Phase{At: sec(loadTo), RPS: 100, Errors: 0.001, LatencyMs: 120},
			promtest.Phase{At: sec(faultFrom), RPS: 100, Aborts: 0.2, AbortFlags: "FI", Overflow: 0.1, LatencyMs: 120},
			promtest.Phase{At: sec(faultTo), RPS: 100, Errors: 0.001, LatencyMs: 120}),
		from("qdrant", promtest.Phase{RPS: 200, LatencyMs: 20},
			promtest.Phase{At: sec(cbQuietFrom), RPS: 200, Overflow: 0.01, LatencyMs: 20},
			promtest.Phase{At: sec(cbQuietTo), RPS: 200, LatencyMs: 20}),
		from("qwen-llm", promtest.Phase{RPS: 20, Errors: 0.001, LatencyMs: 400},
			promtest.Phase{At: sec(faultFrom), RPS: 20, Errors: 0.001, Retried: 0.2, LatencyMs: 400},
			promtest.Phase{At: sec(faultTo), RPS: 20, Errors: 0.001, LatencyMs: 400},
			promtest.Phase{At: sec(qwenFrom), RPS: 20, Errors: 0.4, LatencyMs: 400},
			promtest.Phase{At: sec(qwenTo), RPS: 20, Errors: 0.05, LatencyMs: 400}),
	}}
}

var exampleDir = filepath.Join("..", "..", "..", "examples", "devmentor")

func loadExample(t testing.TB) (*snapshot.Snapshot, *config.Config) {
	t.Helper()
	objs, _, err := loader.Load([]string{exampleDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(exampleDir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Thresholds.ProductionRPS = 500
	cfg.Thresholds.RecoverySeconds = 2
	return snapshot.New(objs), cfg
}

func itemsOf(ids ...string) []check.Item {
	var out []check.Item
	for _, it := range checks.All() {
		for _, id := range ids {
			if it.Meta.ID == id {
				out = append(out, it)
			}
		}
	}
	return out
}

// records builds the evidence of one case, its windows placed on the scenario's clock.
type records func(at func(int) time.Time) []*evidence.Record

func loadRun(from, to int) records {
	return func(at func(int) time.Time) []*evidence.Record {
		return []*evidence.Record{{Kind: evidence.KindLoad, Target: "http://istio-ingressgateway.istio-ingress/", Source: "meshready", Verdict: evidence.Pass,
			Start: at(from), End: at(to), Parameters: map[string]any{"qps": 500.0},
			Results: evidence.Results{Requests: int64(500 * (to - from)), AchievedQPS: 500, LatencyMs: &evidence.Latency{P50: 12, P99: 180}}}}
	}
}

func failureRuns(cbFrom, cbTo, cbOverflow, faultFrom, faultTo int) records {
	return func(at func(int) time.Time) []*evidence.Record {
		rec := func(kind string, from, to int, res evidence.Results) *evidence.Record {
			return &evidence.Record{Kind: kind, Target: "http://istio-ingressgateway.istio-ingress/", Source: "meshready", Verdict: evidence.Pass,
				Start: at(from), End: at(to), Parameters: map[string]any{}, Results: res}
		}
		n := int64(100 * (faultTo - faultFrom))
		return []*evidence.Record{
			rec(evidence.KindCircuitBreaker, cbFrom, cbTo, evidence.Results{Requests: 1000, CircuitBreaker: &evidence.CircuitBreakerResults{Overflow503: int64(cbOverflow)}}),
			rec(evidence.KindRetries, 28, 40, evidence.Results{Requests: 240, Retries: &evidence.RetriesResults{Retried: 48}}),
			rec(evidence.KindFault, faultFrom, faultTo, evidence.Results{Requests: n, Fault: &evidence.FaultResults{AbortStatus: 503, ExpectedAbortRate: 0.2, ObservedAbortRate: 0.2}}),
		}
	}
}

// recoveryRun is a passing recovery record (the probe recovered) whose
// fault ran from faultFrom to faultTo.
func recoveryRun(from, faultFrom, faultTo, to int) records {
	return func(at func(int) time.Time) []*evidence.Record {
		r := &evidence.Record{Kind: evidence.KindRecovery, Target: "http://istio-ingressgateway.istio-ingress/", Source: "meshready", Verdict: evidence.Pass,
			Start: at(from), End: at(to), Parameters: map[string]any{"applyAfter": sec(faultFrom - from).String()},
			Results: evidence.Results{Requests: int64(100 * (to - from)), Recovery: &evidence.RecoveryResults{BaselineErrorRate: 0.001, PeakErrorRate: 0.3, FaultObserved: true,
				FaultEndOffsetS: float64(faultTo - from), FaultEndFrom: "the restore command returned", Recovered: true, RecoverySeconds: 1, ThresholdSeconds: 2}}}
		for i := 0; i < to-from; i++ {
			rate := 0.001
			if i >= faultFrom-from && i < faultTo-from {
				rate = 0.3
			}
			r.Results.Windows = append(r.Results.Windows, evidence.Window{StartOffsetS: float64(i), Requests: 100, ErrorRate: rate})
		}
		return []*evidence.Record{r}
	}
}

// TestSimulationTelemetry runs the scenario in a real Prometheus and
// evaluates each simulation item's telemetry part over records whose
// windows fall on its phases: each passes on the healthy phases and
// catches the defect it names on the others.
func TestSimulationTelemetry(t *testing.T) {
	sc := simScenario()
	s := promtest.StartScenario(t, &promtest.Mesh{Istiod: true}, sc, promtest.Options{Rules: []byte(simRules)})
	snap, cfg := loadExample(t)
	at := func(off int) time.Time { return sc.At(sec(off)) }
	sc.WaitUntil(sec(end), time.Second)
	for _, c := range []struct {
		name, item string
		recs       records
		want       report.Status
		says       string
	}{
		{"load seen through the gateway", "simulation.production-load", loadRun(loadFrom, loadTo), report.Pass, "Prometheus saw the load run"},
		{"load Prometheus did not see", "simulation.production-load", loadRun(faultTo+1, faultTo+11), report.Fail, "Prometheus did not see the load run"},
		{"load older than the retention", "simulation.production-load", func(func(int) time.Time) []*evidence.Record {
			return loadRun(0, 600)(func(off int) time.Time { return time.Now().Add(-3 * time.Hour).Add(sec(off)) })
		}, report.Pending, "holds no sample at all"},
		{"no load recorded", "simulation.production-load", nil, report.Pending, "no passing load run at the production rate"},
		{"failures seen and alerted", "simulation.failure-scenarios", failureRuns(faultFrom, faultTo, 120, faultFrom, faultTo), report.Pass, "alerts fired during resilience.fault-injection"},
		{"overflow with no alert firing", "simulation.failure-scenarios", failureRuns(cbQuietFrom, cbQuietTo, 20, faultFrom, faultTo), report.Fail, "no alert about qdrant.devmentor fired"},
		{"fault the telemetry did not see", "simulation.failure-scenarios", failureRuns(faultFrom, faultTo, 120, qwenTo+2, end-2), report.Fail, "the mesh's telemetry did not see resilience.fault-injection"},
		{"recovered, alerts resolved", "simulation.recovery", recoveryRun(loadTo-2, faultFrom, faultTo, faultTo+8), report.Pass, "had resolved by"},
		{"error rate still elevated after recovery", "simulation.recovery", recoveryRun(qwenFrom-6, qwenFrom, qwenTo, end), report.Fail, "qwen-llm.devmentor's error rate was still 5%"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := *cfg
			cfg.EvidenceDir = t.TempDir()
			if c.recs != nil {
				for _, r := range c.recs(at) {
					if _, err := evidence.Write(cfg.EvidenceDir, r); err != nil {
						t.Fatal(err)
					}
				}
			}
			cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			rep := engine.Run(snap, engine.Options{Config: &cfg, Items: itemsOf(c.item), Only: []string{c.item}, TelemetryClient: cl})
			if len(rep.Items) != 1 || rep.Items[0].ID != c.item {
				t.Fatalf("want one item %s, got %d", c.item, len(rep.Items))
			}
			it := rep.Items[0]
			st, fs := partOf(it, "telemetry")
			if st != c.want {
				t.Fatalf("telemetry part %s, want %s:\n%s", st, c.want, describe(fs))
			}
			if !says(fs, c.want, c.says) {
				t.Errorf("no %s finding says %q:\n%s", c.want, c.says, describe(fs))
			}
			for _, f := range fs {
				if (f.Status == report.Fail || f.Status == report.Pending) && f.Remediation == "" {
					t.Errorf("finding without a fix: %s", f.Message)
				}
				if (f.Status == report.Fail || f.Status == report.Warn) && (f.Query == nil || f.Query.Expr == "") {
					t.Errorf("finding without its query: %s", f.Message)
				}
			}
			if c.recs != nil {
				if pst, pfs := partOf(it, "probe"); pst != report.Pass {
					t.Errorf("the records must pass the probe part (the telemetry judges them), got %s:\n%s", pst, describe(pfs))
				}
			}
			if testing.Verbose() {
				t.Logf("%s", describe(fs))
			}
		})
	}
}

// TestSimulationTelemetryPrometheusDown: with Prometheus unreachable the
// telemetry parts say error, with the reason and a fix, while the probe
// parts still evaluate the same records.
func TestSimulationTelemetryPrometheusDown(t *testing.T) {
	snap, cfg := loadExample(t)
	cfg.EvidenceDir = t.TempDir()
	now := time.Now()
	at := func(off int) time.Time { return now.Add(-10 * time.Minute).Add(sec(off)) }
	var recs []*evidence.Record
	recs = append(recs, loadRun(0, 60)(at)...)
	recs = append(recs, failureRuns(100, 130, 120, 100, 130)(at)...)
	recs = append(recs, recoveryRun(200, 210, 230, 300)(at)...)
	for _, r := range recs {
		if _, err := evidence.Write(cfg.EvidenceDir, r); err != nil {
			t.Fatal(err)
		}
	}
	// Port 1 on loopback: nothing listens there.
	cl, err := telemetry.New(telemetry.Options{Prometheus: "http://127.0.0.1:1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"simulation.production-load", "simulation.failure-scenarios", "simulation.recovery"}
	rep := engine.Run(snap, engine.Options{Config: cfg, Items: itemsOf(ids...), Only: ids, TelemetryClient: cl})
	if len(rep.Items) != len(ids) {
		t.Fatalf("%d items", len(rep.Items))
	}
	for _, it := range rep.Items {
		st, fs := partOf(it, "telemetry")
		if testing.Verbose() {
			t.Logf("%s:\n%s", it.ID, describe(fs))
		}
		if st != report.Error {
			t.Errorf("%s: telemetry part %s, want error:\n%s", it.ID, st, describe(fs))
		}
		for _, f := range fs {
			if f.Status == report.Error && (!strings.Contains(f.Message, "127.0.0.1:1") && !strings.Contains(strings.ToLower(f.Message), "refused") || f.Remediation == "") {
				t.Errorf("%s: error without the reason or a fix: %s [fix: %s]", it.ID, f.Message, f.Remediation)
			}
		}
		if pst, pfs := partOf(it, "probe"); pst != report.Pass {
			t.Errorf("%s: probe part %s, want pass:\n%s", it.ID, pst, describe(pfs))
		}
	}
}

func partOf(it report.Item, p string) (report.Status, []report.Finding) {
	var st report.Status
	for _, pr := range it.Parts {
		if pr.Part == p {
			st = pr.Status
		}
	}
	var fs []report.Finding
	for _, f := range it.Findings {
		if f.Part == p {
			fs = append(fs, f)
		}
	}
	return st, fs
}

func says(fs []report.Finding, st report.Status, text string) bool {
	for _, f := range fs {
		if f.Status == st && strings.Contains(f.Message, text) {
			return true
		}
	}
	return false
}

func describe(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  [" + string(f.Status) + "] " + f.Message)
		if f.Remediation != "" {
			b.WriteString("\n      fix: " + strings.SplitN(f.Remediation, "\n", 2)[0])
		}
		if f.Query != nil {
			b.WriteString("\n      query: " + f.Query.Expr + " @ " + f.Query.Time + " = " + f.Query.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}
