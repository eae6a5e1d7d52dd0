package promtest

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenario is telemetry that changes while a test runs: request flows
// whose rate, errors and latency change in phases (a load run, a fault, a
// recovery), and constant series (e.g. istiod's cAdvisor figures). Its
// clock starts when Prometheus has scraped it a few times (StartScenario),
// so a slow start-up cannot swallow a phase; phase offsets count from then.
// Counters are integrals of their phase rates over time, so increase() and
// rate() over a window give back the rates of the phases inside it.
type Scenario struct {
	Flows  []Flow
	Series []Series

	mu       sync.Mutex
	created  time.Time // counters start (uptime) seconds before this
	begin    time.Time // zero until the clock starts
	scraped  bool      // the first scrape (backdated) has been served
	compiled []Series
}

// Flow is requests from a workload to a service (whose workload has the
// service's name), reported by both proxies as Istio's standard metrics.
type Flow struct {
	FromWorkload, FromNamespace string
	To, ToNamespace             string
	// Phases, in order of At. The first one also covers the time before its At.
	Phases []Phase
}

// Phase is how a flow behaves from At (after the scenario's start) on.
type Phase struct {
	At  time.Duration
	RPS float64
	// Errors is the share the server answers 503 (both proxies report it).
	Errors float64
	// Aborts is the share the client's proxy answers 503 itself with
	// AbortFlags (FI: an injected fault, UO: circuit-breaker overflow):
	// only the source reporter sees them.
	Aborts     float64
	AbortFlags string
	// Overflow is the share the client's proxy rejects with 503 UO
	// (circuit-breaker overflow): only the source reporter sees it.
	Overflow float64
	// Retried is the share whose first attempt failed at the server (503
	// reported by the destination) and whose retry succeeded (the source
	// reports 200).
	Retried   float64
	LatencyMs float64 // p99 falls in the bucket holding it (as Mesh's histograms)
}

// Series is one series: a counter growing at its Steps' rates, or, without
// Steps, a gauge at Value.
type Series struct {
	Name   string
	Labels []string // name, value, name, value...
	Steps  []Step
	Value  float64
}

// Step is a counter's rate from At on (the first step also before it).
type Step struct {
	At   time.Duration
	Rate float64
}

// At is the wall-clock time of an offset into the scenario (after StartScenario).
func (sc *Scenario) At(offset time.Duration) time.Time {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.begin.Add(offset)
}

// WaitUntil sleeps until the offset, plus two scrape intervals so that
// Prometheus holds the samples up to it.
func (sc *Scenario) WaitUntil(offset, scrape time.Duration) {
	time.Sleep(time.Until(sc.At(offset).Add(2 * scrape)))
}

// StartScenario is Start with the scenario's series served beside the
// mesh's (a scrape job of its own); the scenario's clock starts once
// Prometheus has scraped every target.
func StartScenario(t testing.TB, m *Mesh, sc *Scenario, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	o = o.withDefaults()
	sc.created = time.Now()
	sc.compile()
	tgt := newTarget(m)
	mux := http.NewServeMux()
	mux.Handle("/", tgt.handler())
	mux.HandleFunc("/scenario/metrics", sc.serve)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	s := &Server{Target: ts, Dir: dir, Mesh: m}
	addr := strings.TrimPrefix(ts.URL, "http://")
	cfg := string(s.config(addr, m, o))
	cfg += fmt.Sprintf("- job_name: scenario\n  honor_labels: true\n  metrics_path: /scenario/metrics\n  static_configs:\n  - targets: [%q]\n    labels: {instance: scenario}\n", addr)
	s.launch(t, bin, []byte(cfg), o)
	s.waitScraped(t, m, o)
	// The scenario target is scraped too (one more up series).
	deadline := time.Now().Add(time.Duration(o.Scrapes+10)*o.ScrapeInterval + 60*time.Second)
	for len(s.Query(t, fmt.Sprintf(`count_over_time(up{job="scenario"}[5m]) >= %d`, o.Scrapes))) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape the scenario target\n%s", s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	sc.mu.Lock()
	sc.begin = time.Now()
	sc.mu.Unlock()
	return s
}

// compile turns the flows into series.
func (sc *Scenario) compile() {
	type key struct{ name, labels string }
	idx := map[key]int{}
	var out []Series
	// add sets a counter's rate during phase i of n (0 in the others).
	add := func(name string, labels []string, ats []time.Duration, i int, rate float64) {
		k := key{name, strings.Join(labels, "\x00")}
		j, ok := idx[k]
		if !ok {
			steps := make([]Step, len(ats))
			for p, at := range ats {
				steps[p].At = at
			}
			out = append(out, Series{Name: name, Labels: labels, Steps: steps})
			j = len(out) - 1
			idx[k] = j
		}
		out[j].Steps[i].Rate += rate
	}
	for _, f := range sc.Flows {
		ats := make([]time.Duration, len(f.Phases))
		for i, p := range f.Phases {
			ats[i] = p.At
		}
		fqdn := f.To + "." + f.ToNamespace + ".svc.cluster.local"
		base := func(reporter, code, flags, policy string) []string {
			return []string{"reporter", reporter, "source_workload", f.FromWorkload, "source_workload_namespace", f.FromNamespace,
				"source_principal", "spiffe://cluster.local/ns/" + f.FromNamespace + "/sa/" + f.FromWorkload,
				"destination_service", fqdn, "destination_service_name", f.To, "destination_service_namespace", f.ToNamespace,
				"destination_workload", f.To, "destination_workload_namespace", f.ToNamespace,
				"destination_principal", "spiffe://cluster.local/ns/" + f.ToNamespace + "/sa/" + f.To,
				"request_protocol", "http", "response_code", code, "response_flags", flags, "connection_security_policy", policy}
		}
		for i, p := range f.Phases {
			ok := p.RPS * (1 - p.Errors - p.Aborts - p.Overflow)
			flags := p.AbortFlags
			if flags == "" {
				flags = "-"
			}
			for _, r := range []struct {
				reporter, policy string
				ok, err503       float64
			}{
				{"source", "unknown", ok, p.RPS * p.Errors},
				{"destination", "mutual_tls", ok, p.RPS * (p.Errors + p.Retried)},
			} {
				add("istio_requests_total", base(r.reporter, "200", "-", r.policy), ats, i, r.ok)
				add("istio_requests_total", base(r.reporter, "503", "-", r.policy), ats, i, r.err503)
				if r.reporter == "source" {
					add("istio_requests_total", base(r.reporter, "503", flags, r.policy), ats, i, p.RPS*p.Aborts)
					add("istio_requests_total", base(r.reporter, "503", "UO", r.policy), ats, i, p.RPS*p.Overflow)
				}
				// The 200s' durations: 98% within latency/10, 2% at latency.
				lbl := base(r.reporter, "200", "-", r.policy)
				fast := p.LatencyMs / 10
				for _, b := range IstioDurationBuckets {
					frac := 0.0
					if fast <= b {
						frac += 0.98
					}
					if p.LatencyMs <= b {
						frac += 0.02
					}
					add("istio_request_duration_milliseconds_bucket", append(append([]string(nil), lbl...), "le", strconv.FormatFloat(b, 'g', -1, 64)), ats, i, r.ok*frac)
				}
				add("istio_request_duration_milliseconds_bucket", append(append([]string(nil), lbl...), "le", "+Inf"), ats, i, r.ok)
				add("istio_request_duration_milliseconds_sum", lbl, ats, i, r.ok*(0.98*fast+0.02*p.LatencyMs))
				add("istio_request_duration_milliseconds_count", lbl, ats, i, r.ok)
			}
		}
	}
	out = append(out, sc.Series...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	sc.compiled = out
}

// value is a series' value at time now.
func (sc *Scenario) value(s Series, now time.Time) float64 {
	if len(s.Steps) == 0 {
		return s.Value
	}
	origin := sc.created.Add(-uptime * time.Second)
	v := 0.0
	for i, st := range s.Steps {
		from := origin
		if i > 0 {
			from = sc.boundary(st.At)
		}
		to := now
		if i+1 < len(s.Steps) {
			if b := sc.boundary(s.Steps[i+1].At); b.Before(to) {
				to = b
			}
		}
		if to.After(from) {
			v += st.Rate * to.Sub(from).Seconds()
		}
	}
	return v
}

// boundary is the wall-clock time of a phase offset: far in the future
// while the clock has not started.
func (sc *Scenario) boundary(at time.Duration) time.Time {
	if sc.begin.IsZero() {
		return time.Now().Add(24 * time.Hour)
	}
	return sc.begin.Add(at)
}

func (sc *Scenario) serve(rw http.ResponseWriter, _ *http.Request) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	// As the mesh's target: the first scrape is backdated (explicit
	// timestamps), so that rate() over Window has a full window at once.
	now, ts := time.Now(), ""
	if !sc.scraped {
		sc.scraped = true
		now = now.Add(-Backdate)
		ts = " " + strconv.FormatInt(now.UnixMilli(), 10)
	}
	rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w := bufio.NewWriterSize(rw, 1<<16)
	for _, s := range sc.compiled {
		var b strings.Builder
		b.WriteString(s.Name)
		if len(s.Labels) > 0 {
			b.WriteByte('{')
			for i := 0; i+1 < len(s.Labels); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(s.Labels[i] + "=\"" + labelEscaper.Replace(s.Labels[i+1]) + "\"")
			}
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(sc.value(s, now), 'g', -1, 64))
		b.WriteString(ts)
		b.WriteByte('\n')
		w.WriteString(b.String())
	}
	_ = w.Flush()
}
