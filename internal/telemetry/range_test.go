package telemetry_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// TestRangeAgainstPrometheus: Client.Range against a real Prometheus,
// behind a loopback proxy that wants a bearer token: the token is sent,
// the answer is a matrix with a point per step, the same range is asked
// once however often it is called, and the record says start, end and step.
func TestRangeAgainstPrometheus(t *testing.T) {
	s := promtest.Start(t, promtest.DevMentor(false), promtest.Options{Scrapes: 8})
	var unauthorized int64
	px, n := proxy(t, s.URL, false, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer range-token" {
			atomic.AddInt64(&unauthorized, 1)
			http.Error(w, "no", http.StatusUnauthorized)
			return false
		}
		return true
	})
	tok := writeFile(t, "token", "range-token\n")
	end := time.Now().Add(-time.Second).Truncate(time.Second)
	start, step := end.Add(-3*time.Second), time.Second
	cl, err := telemetry.New(telemetry.Options{Prometheus: px.URL, PrometheusTokenFile: tok, Time: end})
	if err != nil {
		t.Fatal(err)
	}
	const expr = `count(up{job="istiod"})`
	for i := 0; i < 3; i++ {
		m, err := cl.Range(ctx, expr, start, end, step)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || len(m[0].Values) != 4 || m[0].Values[0].Timestamp.Time().Unix() != start.Unix() || m[0].Values[3].Value != 1 {
			t.Fatalf("matrix %v, want one series with 4 points from %s", m, start)
		}
	}
	if got := atomic.LoadInt64(n); got != 2 || unauthorized != 0 { // the preflight and the range query
		t.Errorf("%d requests (%d unauthorized), want 2", got, unauthorized)
	}
	recs := cl.Records()
	if len(recs) != 1 {
		t.Fatalf("records %+v", recs)
	}
	r := recs[0]
	if !r.IsRange() || r.Call != expr || !r.Start.Equal(start) || !r.Time.Equal(end) || r.Step != step || r.Value != "{}: 4 points" || r.Err != "" {
		t.Errorf("record %+v", r)
	}
	if want := "GET /api/v1/query_range?end="; !strings.HasPrefix(r.Rerun(), want) || !strings.Contains(r.Rerun(), "step=1s") {
		t.Errorf("rerun %q", r.Rerun())
	}
	ev := cl.RangeQuery(expr, start, end, step, "1")
	if !strings.Contains(ev.Time, "/") || !strings.HasSuffix(ev.Time, " step 1s") {
		t.Errorf("evidence %+v", ev)
	}

	t.Run("a query Prometheus rejects", func(t *testing.T) {
		_, err := cl.Range(ctx, "sum(rate(", start, end, step)
		if kindOf(err) != telemetry.BadQuery || !strings.Contains(err.Error(), "rejected the query") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("an invalid range is refused without a request", func(t *testing.T) {
		before := atomic.LoadInt64(n)
		if _, err := cl.Range(ctx, expr, end, start, step); kindOf(err) != telemetry.BadQuery {
			t.Errorf("end before start: %v", err)
		}
		if _, err := cl.Range(ctx, expr, start, end, 0); kindOf(err) != telemetry.BadQuery {
			t.Errorf("zero step: %v", err)
		}
		if atomic.LoadInt64(n) != before {
			t.Errorf("an invalid range was sent")
		}
	})
	t.Run("credentials refused", func(t *testing.T) {
		bad, err := telemetry.New(telemetry.Options{Prometheus: px.URL, PrometheusTokenFile: writeFile(t, "bad", "nope"), Time: end})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Range(ctx, expr, start, end, step)
		if kindOf(err) != telemetry.Unauthorized || !strings.Contains(err.Error(), "refused meshready's credentials") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("no Prometheus", func(t *testing.T) {
		none, _ := telemetry.New(telemetry.Options{})
		if _, err := none.Range(ctx, expr, start, end, step); kindOf(err) != telemetry.ConfigError {
			t.Errorf("err %v", err)
		}
	})
}

// TestTransportExcludesPrometheusCredentials: through a given transport
// (the API server's proxy) meshready's own Prometheus credentials cannot
// apply; New says so instead of sending them nowhere. No request is made.
func TestTransportExcludesPrometheusCredentials(t *testing.T) {
	tok := writeFile(t, "token", "t")
	_, err := telemetry.New(telemetry.Options{Prometheus: "https://127.0.0.1:1/api/v1/namespaces/m/services/p:9090/proxy", PrometheusTransport: http.DefaultTransport, PrometheusTokenFile: tok})
	if err == nil || !strings.Contains(err.Error(), "service proxy") {
		t.Errorf("err %v", err)
	}
}
