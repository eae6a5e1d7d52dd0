package verification_test

import (
	"testing"
	"time"

	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// BenchmarkSimulationTelemetry is the cost of the three simulation
// telemetry parts (and their probe parts) over recorded runs, against the
// scenario's real Prometheus: a fresh client per iteration, so every
// query is really sent.
func BenchmarkSimulationTelemetry(b *testing.B) {
	sc := simScenario()
	s := promtest.StartScenario(b, &promtest.Mesh{Istiod: true}, sc, promtest.Options{Rules: []byte(simRules)})
	snap, cfg := loadExample(b)
	cfg.EvidenceDir = b.TempDir()
	// Windows over the backdated history and the first scrapes.
	now := time.Now()
	at := func(off int) time.Time { return now.Add(-3 * time.Minute).Add(sec(off)) }
	var recs []*evidence.Record
	recs = append(recs, loadRun(0, 170)(at)...)
	recs = append(recs, failureRuns(0, 170, 100, 0, 170)(at)...)
	recs = append(recs, recoveryRun(0, 60, 120, 178)(at)...)
	for _, r := range recs {
		if _, err := evidence.Write(cfg.EvidenceDir, r); err != nil {
			b.Fatal(err)
		}
	}
	ids := []string{"simulation.production-load", "simulation.failure-scenarios", "simulation.recovery"}
	calls := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		rep := engine.Run(snap, engine.Options{Config: cfg, Items: itemsOf(ids...), Only: ids, TelemetryClient: cl})
		if len(rep.Items) != len(ids) {
			b.Fatalf("%d items", len(rep.Items))
		}
		calls += len(cl.Records())
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
}
