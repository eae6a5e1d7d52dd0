package rollback

// These tests run the trigger evaluation against a loopback httptest server
// that answers /api/v1/query and /api/v1/query_range in the Prometheus HTTP
// API's documented JSON format (https://prometheus.io/docs/prometheus/latest/querying/api/).
// It is a stand-in for the wire format only: the tests that run real PromQL
// against a real Prometheus live in the telemetry package.
//
// Every case runs through both Queriers: the telemetry client the CLI uses
// and the Prometheus Go API client directly (both ask a `for` window as one
// range query).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/telemetry"
)

// fakeSeries is one series the fake Prometheus returns for a query.
type fakeSeries struct {
	labels map[string]string
	// at gives the value at a time; ok false leaves the point out.
	at func(t time.Time) (v float64, ok bool)
}

// fakeProm answers the Prometheus HTTP API for the queries it knows.
type fakeProm struct {
	t      *testing.T
	series map[string][]fakeSeries // by query text
	// status, when set, is returned for every request with body.
	status int
	body   string

	client string // which Querier the test uses

	mu       sync.Mutex
	requests []string // "query <q> <time>" or "query_range <q> <start> <end> <step>"
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("parse form: %v", err)
	}
	q := r.Form.Get("query")
	f.mu.Lock()
	switch r.URL.Path {
	case "/api/v1/query":
		f.requests = append(f.requests, "query "+q+" "+r.Form.Get("time"))
	case "/api/v1/query_range":
		f.requests = append(f.requests, "query_range "+q+" "+r.Form.Get("start")+" "+r.Form.Get("end")+" "+r.Form.Get("step"))
	}
	f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
		return
	}
	ss, known := f.series[q]
	if q == "vector(1)" { // the telemetry client's first question
		ss, known = []fakeSeries{{at: constant(1)}}, true
	}
	if !known {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "bad_data", "error": "1:1: parse error: unknown query " + strconv.Quote(q)})
		return
	}
	var data map[string]any
	switch r.URL.Path {
	case "/api/v1/query":
		ts := parseTime(f.t, r.Form.Get("time"))
		result := []any{}
		for _, s := range ss {
			if v, ok := s.at(ts); ok {
				result = append(result, map[string]any{"metric": labelsOrEmpty(s.labels), "value": []any{unix(ts), promValue(v)}})
			}
		}
		data = map[string]any{"resultType": "vector", "result": result}
	case "/api/v1/query_range":
		start, end := parseTime(f.t, r.Form.Get("start")), parseTime(f.t, r.Form.Get("end"))
		stepSec, err := strconv.ParseFloat(r.Form.Get("step"), 64)
		if err != nil {
			f.t.Errorf("step %q: %v", r.Form.Get("step"), err)
		}
		step := time.Duration(stepSec * float64(time.Second))
		result := []any{}
		for _, s := range ss {
			var values []any
			for ts := start; !ts.After(end); ts = ts.Add(step) {
				if v, ok := s.at(ts); ok {
					values = append(values, []any{unix(ts), promValue(v)})
				}
			}
			if len(values) > 0 {
				result = append(result, map[string]any{"metric": labelsOrEmpty(s.labels), "values": values})
			}
		}
		data = map[string]any{"resultType": "matrix", "result": result}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

func parseTime(t *testing.T, s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("time %q: %v", s, err)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC()
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

func promValue(v float64) string { return FormatValue(v) }

func constant(v float64) func(time.Time) (float64, bool) {
	return func(time.Time) (float64, bool) { return v, true }
}

// since returns v from `from` on, and nothing before (the series appeared then).
func since(from time.Time, v float64) func(time.Time) (float64, bool) {
	return func(t time.Time) (float64, bool) { return v, !t.Before(from) }
}

// above returns high from `from` on and low before.
func above(from time.Time, low, high float64) func(time.Time) (float64, bool) {
	return func(t time.Time) (float64, bool) {
		if t.Before(from) {
			return low, true
		}
		return high, true
	}
}

var now = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

func dur(s string) config.Duration {
	d, err := config.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return config.Duration(d)
}

// clients are the two ways to reach Prometheus that Evaluate is run with.
var clients = []string{"telemetry", "prometheus-v1"}

func serve(t *testing.T, f *fakeProm, client string) (Querier, string) {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(f) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return querier(t, srv.URL, client, 0), srv.URL
}

func querier(t *testing.T, url, client string, timeout time.Duration) Querier {
	t.Helper()
	switch client {
	case "telemetry":
		c, err := telemetry.New(telemetry.Options{Prometheus: url, Time: now, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return FromTelemetry(c)
	case "prometheus-v1":
		c, err := api.NewClient(api.Config{Address: url})
		if err != nil {
			t.Fatal(err)
		}
		return v1.NewAPI(c)
	}
	t.Fatalf("unknown client %s", client)
	return nil
}

const (
	q5xx = `sum(rate(istio_requests_total{response_code=~"5.."}[5m])) / sum(rate(istio_requests_total[5m]))`
	qUp  = `(sum(up{job="istiod"}) or vector(0))`
	qP99 = `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket[5m])))`
)

var (
	t5xx = config.Trigger{Name: "rollback-5xx", Query: q5xx, Op: ">", Threshold: 0.05, For: dur("5m")}
	tUp  = config.Trigger{Name: "rollback-istiod", Query: qUp, Op: "<", Threshold: 1}
	tP99 = config.Trigger{Name: "rollback-p99", Query: qP99, Op: ">", Threshold: 30000, For: dur("10m")}
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		triggers []config.Trigger
		series   map[string][]fakeSeries
		want     []Verdict
		overall  Verdict
		check    func(t *testing.T, r *Report, f *fakeProm)
	}{{
		name:     "hold",
		triggers: []config.Trigger{t5xx, tUp},
		series: map[string][]fakeSeries{
			q5xx: {{at: constant(0.002)}},
			qUp:  {{at: constant(3)}},
		},
		want:    []Verdict{Hold, Hold},
		overall: Hold,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			// A condition that does not hold now needs no range query.
			for _, q := range f.requests {
				if strings.HasPrefix(q, "query_range") {
					t.Errorf("unexpected range query: %s", q)
				}
			}
			if r.Results[0].Value != 0.002 || r.Results[0].Message != "not 0.002 > 0.05" {
				t.Errorf("result = %+v", r.Results[0])
			}
		},
	}, {
		name:     "roll back: no for",
		triggers: []config.Trigger{tUp},
		series:   map[string][]fakeSeries{qUp: {{at: constant(0)}}},
		want:     []Verdict{RollBack},
		overall:  RollBack,
	}, {
		name:     "roll back: held over the whole for window",
		triggers: []config.Trigger{t5xx, tUp},
		series: map[string][]fakeSeries{
			q5xx: {{at: above(now.Add(-20*time.Minute), 0.01, 0.12)}},
			qUp:  {{at: constant(3)}},
		},
		want:    []Verdict{RollBack, Hold},
		overall: RollBack,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			res := r.Results[0]
			if res.Value != 0.12 || res.Step != 15*time.Second || res.Points != 21 || res.Held != 5*time.Minute {
				t.Errorf("result = %+v", res)
			}
			// The window [now-5m, now] at 15s steps is one range query,
			// through either client, and no instant query but at now.
			start := now.Add(-5 * time.Minute)
			want := fmt.Sprintf("query_range %s %d %d 15", q5xx, start.Unix(), now.Unix())
			if !contains(f.requests, want) {
				t.Errorf("requests %q: want %q", f.requests, want)
			}
			for _, q := range f.requests {
				if strings.HasPrefix(q, "query ") && !strings.HasSuffix(q, fmt.Sprint(now.Unix())) {
					t.Errorf("an instant query off the evaluation time: %s", q)
				}
			}
		},
	}, {
		name:     "for window not yet satisfied",
		triggers: []config.Trigger{tP99},
		series: map[string][]fakeSeries{
			// Above 30 s for the last 4 minutes of a 10 minute window.
			qP99: {{at: above(now.Add(-4*time.Minute), 900, 45000)}},
		},
		want:    []Verdict{Pending},
		overall: Hold,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			res := r.Results[0]
			if res.Step != 20*time.Second || res.Points != 31 || res.Held != 4*time.Minute {
				t.Errorf("result = %+v", res)
			}
			if res.Message != "45000 > 30000 now, but held only 4m0s of 10m" {
				t.Errorf("message = %q", res.Message)
			}
		},
	}, {
		name:     "for window: the series appeared mid-window",
		triggers: []config.Trigger{t5xx},
		series:   map[string][]fakeSeries{q5xx: {{at: since(now.Add(-2*time.Minute), 0.5)}}},
		want:     []Verdict{Pending},
		overall:  Hold,
	}, {
		name:     "empty result",
		triggers: []config.Trigger{t5xx},
		series:   map[string][]fakeSeries{q5xx: nil},
		want:     []Verdict{NoData},
		overall:  Hold,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			if r.Results[0].HasValue {
				t.Errorf("no-data result has a value: %+v", r.Results[0])
			}
		},
	}, {
		name:     "NaN never fires",
		triggers: []config.Trigger{t5xx},
		series:   map[string][]fakeSeries{q5xx: {{at: constant(math.NaN())}}},
		want:     []Verdict{Hold},
		overall:  Hold,
	}, {
		name:     "several series: the one that fires decides",
		triggers: []config.Trigger{{Name: "per-service-5xx", Query: q5xx, Op: ">", Threshold: 0.05}},
		series: map[string][]fakeSeries{q5xx: {
			{labels: map[string]string{"destination_service_name": "qdrant"}, at: constant(0.01)},
			{labels: map[string]string{"destination_service_name": "qwen-llm"}, at: constant(0.2)},
		}},
		want:    []Verdict{RollBack},
		overall: RollBack,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			if r.Results[0].Series != `{destination_service_name="qwen-llm"}` || r.Results[0].Value != 0.2 {
				t.Errorf("result = %+v", r.Results[0])
			}
		},
	}, {
		name:     "a query Prometheus rejects is an error; the others still evaluate",
		triggers: []config.Trigger{{Name: "typo", Query: "sum(rate(", Op: ">", Threshold: 1}, tUp},
		series:   map[string][]fakeSeries{qUp: {{at: constant(2)}}},
		want:     []Verdict{Failed, Hold},
		overall:  Failed,
		check: func(t *testing.T, r *Report, f *fakeProm) {
			if msg := r.Results[0].Message; !strings.Contains(msg, "rejected the query") || !strings.Contains(msg, "unknown query") {
				t.Errorf("message = %q", msg)
			}
		},
	}, {
		name:     "a fired trigger is not hidden by another's error",
		triggers: []config.Trigger{{Name: "typo", Query: "sum(rate(", Op: ">", Threshold: 1}, tUp},
		series:   map[string][]fakeSeries{qUp: {{at: constant(0)}}},
		want:     []Verdict{Failed, RollBack},
		overall:  RollBack,
	}}
	for _, client := range clients {
		for _, tt := range tests {
			t.Run(client+"/"+tt.name, func(t *testing.T) {
				f := &fakeProm{series: tt.series, client: client}
				q, url := serve(t, f, client)
				r := Evaluate(context.Background(), q, tt.triggers, Options{Prometheus: url, Now: now})
				var got []Verdict
				for _, res := range r.Results {
					got = append(got, res.Verdict)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) || r.Verdict != tt.overall {
					var b bytes.Buffer
					_ = r.WriteText(&b)
					t.Fatalf("verdicts %v overall %s, want %v overall %s\n%s", got, r.Verdict, tt.want, tt.overall, b.String())
				}
				if tt.check != nil {
					tt.check(t, r, f)
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestEvaluateHTTPErrors: through the client the CLI uses, a Prometheus
// that fails says so, with the URL, the reason and the fix.
func TestEvaluateHTTPErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"500", http.StatusInternalServerError, `{"status":"error","errorType":"internal","error":"query processing would load too many samples"}`,
			[]string{"HTTP 500", "too many samples", "fix:"}},
		{"503 text", http.StatusServiceUnavailable, "Service Unavailable\n", []string{"HTTP 503", "fix:"}},
		{"401", http.StatusUnauthorized, "Unauthorized\n", []string{"refused meshready's credentials", "--prometheus-token-file"}},
		{"404 wrong URL", http.StatusNotFound, "404 page not found\n", []string{"HTTP 404", "base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeProm{status: tt.status, body: tt.body}
			q, url := serve(t, f, "telemetry")
			r := Evaluate(context.Background(), q, []config.Trigger{t5xx, tUp}, Options{Prometheus: url, Now: now})
			if r.Verdict != Failed {
				t.Fatalf("verdict %s, want error", r.Verdict)
			}
			for _, res := range r.Results {
				if res.Verdict != Failed || res.Err == nil {
					t.Errorf("%s: %+v", res.Trigger.Name, res)
				}
				for _, w := range append(tt.want, url) {
					if !strings.Contains(res.Message, w) {
						t.Errorf("%s: message %q does not say %q", res.Trigger.Name, res.Message, w)
					}
				}
			}
			var b bytes.Buffer
			_ = r.WriteText(&b)
			if !strings.Contains(b.String(), "Verdict: UNKNOWN: 2 of 2 triggers could not be evaluated") {
				t.Errorf("text:\n%s", b.String())
			}
		})
	}
}

func TestEvaluateUnreachableAndTimeout(t *testing.T) {
	// A closed loopback port: connection refused.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := Evaluate(context.Background(), querier(t, url, "telemetry", 0), []config.Trigger{tUp}, Options{Prometheus: url, Now: now})
	if r.Verdict != Failed || !strings.Contains(r.Results[0].Message, "unreachable") || !strings.Contains(r.Results[0].Message, url) {
		t.Errorf("unreachable: %s %q", r.Verdict, r.Results[0].Message)
	}

	// A Prometheus slower than the timeout.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(block) })
	start := time.Now()
	r = Evaluate(context.Background(), querier(t, slow.URL, "telemetry", 300*time.Millisecond), []config.Trigger{t5xx, tUp}, Options{Prometheus: slow.URL, Now: now})
	if r.Verdict != Failed || !strings.Contains(r.Results[0].Message, "did not answer in time") {
		t.Errorf("slow: %s %q", r.Verdict, r.Results[0].Message)
	}
	// One timeout, not one per trigger.
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("slow Prometheus took %s to give up", el)
	}
}

func TestHeldFor(t *testing.T) {
	tr := config.Trigger{Op: ">", Threshold: 1}
	start := now.Add(-time.Minute)
	pts := func(vals ...float64) []modelPair { return pairs(start, 15*time.Second, vals...) }
	tests := []struct {
		vals  []modelPair
		held  time.Duration
		whole bool
	}{
		{pts(2, 2, 2, 2, 2), time.Minute, true},
		{pts(0, 2, 2, 2, 2), 45 * time.Second, false},
		{pts(2, 2, 2, 2, 0), 0, false},
		{pts(2, 2, 2, 2), 0, false}, // the last point is missing
		{pts(), 0, false},
	}
	for i, tt := range tests {
		held, whole := heldFor(tt.vals, tr, start, 15*time.Second, 5)
		if held != tt.held || whole != tt.whole {
			t.Errorf("%d: heldFor = %s %v, want %s %v", i, held, whole, tt.held, tt.whole)
		}
	}
}

func TestFired(t *testing.T) {
	for _, tt := range []struct {
		op   string
		v    float64
		want bool
	}{
		{">", 2, true}, {">", 1, false}, {">=", 1, true}, {"<", 0, true}, {"<=", 1, true}, {"<=", 1.5, false},
		{"==", 1, true}, {"!=", 1, false}, {"!=", 2, true}, {">", math.NaN(), false}, {"!=", math.NaN(), false},
		{">", math.Inf(1), true},
	} {
		if got := Fired(tt.op, tt.v, 1); got != tt.want {
			t.Errorf("Fired(%s, %v, 1) = %v", tt.op, tt.v, got)
		}
	}
}

func TestStepFor(t *testing.T) {
	for _, tt := range []struct{ window, step, want time.Duration }{
		{5 * time.Minute, 0, 15 * time.Second},
		{10 * time.Minute, 0, 20 * time.Second},
		{time.Hour, 0, 2 * time.Minute},
		{time.Hour, time.Minute, time.Minute},
	} {
		if got := StepFor(tt.window, tt.step); got != tt.want {
			t.Errorf("StepFor(%s, %s) = %s, want %s", tt.window, tt.step, got, tt.want)
		}
	}
}

func TestReportOutput(t *testing.T) {
	f := &fakeProm{series: map[string][]fakeSeries{
		q5xx: {{at: above(now.Add(-20*time.Minute), 0.01, 0.12)}},
		qUp:  {{at: constant(3)}},
		qP99: {{at: above(now.Add(-4*time.Minute), 900, 45000)}},
	}}
	q, _ := serve(t, f, "telemetry")
	r := Evaluate(context.Background(), q, []config.Trigger{t5xx, tP99, tUp}, Options{Prometheus: "http://prometheus.monitoring:9090", Now: now})
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := `Rollback triggers at 2026-05-04T12:00:00Z (Prometheus http://prometheus.monitoring:9090)

ROLL-BACK  rollback-5xx
  value      0.12
  threshold  > 0.05 for 5m
  verdict    roll-back: 0.12 > 0.05, at every 15s step for 5m
  query      ` + q5xx + `
  window     range query [now-5m, now], step 15s (21 points)

PENDING    rollback-p99
  value      45000
  threshold  > 30000 for 10m
  verdict    pending: 45000 > 30000 now, but held only 4m0s of 10m
  query      ` + qP99 + `
  window     range query [now-10m, now], step 20s (31 points)

HOLD       rollback-istiod
  value      3
  threshold  < 1
  verdict    hold: not 3 < 1
  query      ` + qUp + `

Verdict: ROLL BACK: 1 of 3 triggers fired (rollback-5xx). Next: meshready rollback plan
`
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Verdict  string
		Triggers []map[string]any
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Verdict != "roll-back" || len(out.Triggers) != 3 || out.Triggers[0]["value"] != "0.12" || out.Triggers[1]["held"] != "4m0s" {
		t.Errorf("json: %s", js.String())
	}
}

type modelPair = model.SamplePair

func pairs(start time.Time, step time.Duration, vals ...float64) []model.SamplePair {
	var out []model.SamplePair
	for i, v := range vals {
		out = append(out, model.SamplePair{Timestamp: model.TimeFromUnixNano(start.Add(time.Duration(i) * step).UnixNano()), Value: model.SampleValue(v)})
	}
	return out
}
