package rollback

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// TestForWindowIsOneRangeQueryOnRealPrometheus evaluates `for` triggers
// against a real Prometheus (promtest: /usr/bin/prometheus on loopback,
// scraping a loopback target every second) through the telemetry client the
// CLI uses. The query counts the istiod samples scraped so far, so it grows
// by one a second and the test can place the threshold inside the window:
// a trigger that crossed it only for the last part of the window holds
// (pending), one that stayed past it at every step rolls back. The
// client's records prove each window was one /api/v1/query_range request
// (no instant query but at the evaluation time), and rerunning the
// recorded request by hand gives the same points.
func TestForWindowIsOneRangeQueryOnRealPrometheus(t *testing.T) {
	srv := promtest.Start(t, promtest.DevMentor(false), promtest.Options{Scrapes: 8})
	const expr = `count_over_time(up{job="istiod"}[1h])`
	window, step := 3*time.Second, time.Second
	// A little in the past, so the latest scrape is in.
	now := time.Now().Add(-1500 * time.Millisecond).Truncate(time.Millisecond)

	// The values at both ends of the window, asked by a separate client so
	// the evaluated clients' records hold only what Evaluate asked.
	setup, err := telemetry.New(telemetry.Options{Prometheus: srv.URL, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	valueAt := func(at time.Time) float64 {
		vec, err := setup.InstantAt(context.Background(), expr, at)
		if err != nil || len(vec) != 1 {
			t.Fatalf("%s at %s: %v %v", expr, at, vec, err)
		}
		return float64(vec[0].Value)
	}
	first, last := valueAt(now.Add(-window)), valueAt(now)
	if first < 1 || last-first < 2 {
		t.Fatalf("want samples all over the window and one more each second: %g at the start, %g at the end", first, last)
	}

	evaluate := func(tr config.Trigger) (*Report, *telemetry.Client) {
		c, err := telemetry.New(telemetry.Options{Prometheus: srv.URL, Time: now})
		if err != nil {
			t.Fatal(err)
		}
		r := Evaluate(context.Background(), FromTelemetry(c), []config.Trigger{tr}, Options{Prometheus: srv.URL, Now: now, Step: step})
		return r, c
	}
	tests := []struct {
		name      string
		threshold float64
		verdict   Verdict
		overall   Verdict
	}{
		// Past the threshold at the last step only: not for the whole window.
		{"crossed for part of the window", last - 0.5, Pending, Hold},
		// Past it at every step, from the window's start.
		{"past it over the whole window", first - 0.5, RollBack, RollBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := config.Trigger{Name: "samples", Query: expr, Op: ">", Threshold: tt.threshold, For: config.Duration(window)}
			r, c := evaluate(tr)
			res := r.Results[0]
			if res.Verdict != tt.verdict || r.Verdict != tt.overall {
				t.Fatalf("verdict %s overall %s, want %s overall %s: %s", res.Verdict, r.Verdict, tt.verdict, tt.overall, res.Message)
			}
			if tt.verdict == Pending && res.Held >= window {
				t.Errorf("held %s of a %s window, yet pending", res.Held, window)
			}
			var ranges []telemetry.Record
			for _, rec := range c.Records() {
				switch {
				case rec.Err != "":
					t.Errorf("failed call %+v", rec)
				case rec.IsRange():
					ranges = append(ranges, rec)
				case !rec.Time.Equal(now):
					t.Errorf("an instant query at %s, not at the evaluation time %s: %s", rec.Time, now, rec.Call)
				}
			}
			if len(ranges) != 1 {
				t.Fatalf("range queries %+v, want one", ranges)
			}
			rec := ranges[0]
			if rec.Call != expr || !rec.Start.Equal(now.Add(-window)) || !rec.Time.Equal(now) || rec.Step != step {
				t.Errorf("range record %+v, want %s over [%s, %s] step %s", rec, expr, now.Add(-window), now, step)
			}
			if !strings.Contains(rec.Value, "4 points") {
				t.Errorf("range record value %q, want the window's 4 points", rec.Value)
			}
			// The record is enough to rerun the query by hand.
			rerun := rec.Rerun()
			if !strings.HasPrefix(rerun, "GET /api/v1/query_range?") {
				t.Fatalf("rerun %q", rerun)
			}
			resp, err := http.Get(srv.URL + strings.TrimPrefix(rerun, "GET "))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Status string `json:"status"`
				Data   struct {
					Result []struct {
						Values [][2]any `json:"values"`
					} `json:"result"`
				} `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" || len(out.Data.Result) != 1 || len(out.Data.Result[0].Values) != 4 {
				t.Errorf("rerunning %s: %+v %v", rerun, out, err)
			}
		})
	}
}
