package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// A fault window's alerts are read from Prometheus' own ALERTS series: the
// defective mesh answers 5% 503s, so the fast 5xx alert fires (the slow
// one stays pending).
const faultRules = `groups:
- name: fault-alerts
  rules:
  - alert: Fast5xx
    expr: sum by (destination_service_name) (rate(istio_requests_total{reporter="destination", response_code=~"5.."}[1m])) / sum by (destination_service_name) (rate(istio_requests_total{reporter="destination"}[1m])) > 0.01
    annotations: {runbook_url: docs/runbooks/high-5xx-rate.md}
  - alert: Slow5xx
    expr: sum by (destination_service_name) (rate(istio_requests_total{reporter="destination", response_code=~"5.."}[5m])) / sum by (destination_service_name) (rate(istio_requests_total{reporter="destination"}[5m])) > 0.01
    for: 1h
    annotations: {runbook_url: docs/runbooks/high-5xx-rate.md}
`

func TestSimulationMonitoringReadsALERTS(t *testing.T) {
	s := promtest.Start(t, promtest.DevMentor(true), promtest.Options{Rules: []byte(faultRules)})
	snap, cfg := loadExample(t)
	// The fault is on from the start; its alert fires at the first
	// evaluation with two samples in the [1m] window.
	deadline := time.Now().Add(30 * time.Second)
	for len(s.Query(t, `ALERTS{alertname="Fast5xx", alertstate="firing"}`)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Fast5xx never fired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range []struct {
		name       string
		start, end time.Time
		status     report.Status
		says       string
	}{
		{"alerts fired in the window", time.Now().Add(-20 * time.Second), time.Now(), report.Pass, "alerts fired during the fault window"},
		{"window before any alert", time.Now().Add(-3 * time.Hour), time.Now().Add(-170 * time.Minute), report.Fail, "no alert on the fault's symptoms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c2 := *cfg
			c2.EvidenceDir = t.TempDir()
			c2.EvidenceMaxAge = 0
			if _, err := evidence.Write(c2.EvidenceDir, &evidence.Record{Kind: evidence.KindFault, Target: "http://gateway/", Source: "meshready",
				Start: c.start, End: c.end, Verdict: evidence.Pass}); err != nil {
				t.Fatal(err)
			}
			cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL})
			if err != nil {
				t.Fatal(err)
			}
			r := engine.Run(snap, engine.Options{Config: &c2, Items: itemsOf("simulation.monitoring"), TelemetryClient: cl})
			it := r.Items[0]
			pr, _ := part(it, "telemetry")
			fs := findings(it, "telemetry")
			if pr.Status != c.status {
				t.Fatalf("telemetry part %s, want %s:\n%s", pr.Status, c.status, describe(fs))
			}
			for _, f := range fs {
				if f.Status == c.status && strings.Contains(f.Message, c.says) {
					if f.Query == nil || !strings.Contains(f.Query.Expr, "ALERTS") {
						t.Errorf("no ALERTS query: %+v", f.Query)
					}
					if c.status == report.Pass && !strings.Contains(f.Message, "Fast5xx") {
						t.Errorf("want Fast5xx among the fired alerts: %s", f.Message)
					}
					t.Logf("%s\n%s", f.Message, f.Query.Value)
					return
				}
			}
			t.Errorf("no %s finding says %q:\n%s", c.status, c.says, describe(fs))
		})
	}
}
