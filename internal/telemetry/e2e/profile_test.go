package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/telemetry"
)

// TestTelemetryQueryProfileAt5000 lists every query the telemetry part
// asks at 5,000 services with its duration, in the run (queries in
// parallel, MaxInFlight at a time) and alone (one at a time, after the
// run), so the expensive ones show. A measurement, not a gate: run it with
// MESHREADY_TELEMETRY_SCALE=1 go test ./internal/telemetry/e2e -run QueryProfile -v
func TestTelemetryQueryProfileAt5000(t *testing.T) {
	if os.Getenv("MESHREADY_TELEMETRY_SCALE") == "" {
		t.Skip("a measurement (about 2 minutes): set MESHREADY_TELEMETRY_SCALE=1")
	}
	snap, cfg, s := startBig(t, 5000)
	items := telemetryOnly()
	cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	engine.Run(snap, engine.Options{Config: cfg, Items: items, TelemetryClient: cl})
	took := time.Since(start)
	recs := cl.Records()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Duration > recs[j].Duration })
	var b strings.Builder
	for _, r := range recs {
		if r.Err != "" {
			t.Errorf("%s: %s", shorten(r.Call), r.Err)
		}
		alone := "-"
		if r.Source == "prometheus" && !strings.HasPrefix(r.Call, "GET ") {
			one, _ := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 30 * time.Second, Time: cl.Time()})
			_, _ = one.Instant(context.Background(), "vector(1)")
			begin := time.Now()
			_, _ = one.Instant(context.Background(), r.Call)
			alone = time.Since(begin).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "\n  %8v (alone %6s) %-28s %s", r.Duration.Round(time.Millisecond), alone, shorten(r.Value), r.Call)
	}
	t.Logf("telemetry part in %v, %d calls:%s", took.Round(time.Millisecond), len(recs), b.String())
}
