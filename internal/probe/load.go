// Package probe runs meshready's active verifications (load, resilience and
// security probes) against URLs and turns each run into an evidence record.
//
// # Load generation: why not fortio's runner
//
// fortio's periodic runner (fortio.org/fortio/periodic, the engine of the
// Istio project's load tester) gives each goroutine its share of the rate
// and sleeps between calls; the call itself blocks the goroutine, and the
// latency it records is measured from when the call actually started
// (periodic.runOne: fStart := time.Now() just before f.Run). When the
// target stalls, the requests that should have been sent during the stall
// are sent late and timed from their late start: the stall is counted once
// instead of for every request it delayed. That is coordinated omission,
// and it hides exactly the queueing a mesh gate must see. fortio has no
// option to time from the intended send time (NoCatchUp drops the late
// requests instead, which changes the rate), so meshready schedules the
// requests itself: request i is due at start + i/QPS whatever happened to
// the others (open loop); when it leaves late because every connection was
// busy, its latency runs from that due time (the wait is the target's
// doing); when its connection was idle and only the OS timer woke it late,
// from the actual send (that lag is the generator's, reported apart as
// scheduleLagMs). Values go into a high-resolution histogram (Hist). fortio's packages are
// still used, in the benchmark, to compare against its own measurements
// on the same server, and fortio JSON results can be imported as evidence
// (package evidence).
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/version"
)

// Target is what each request of a probe is sent to.
type Target struct {
	URL    string
	Method string // default GET
	Header http.Header
	Body   []byte
	// HTTP2 speaks HTTP/2: with prior knowledge (h2c) on http://, via ALPN on https://.
	HTTP2 bool
	// CAFile holds extra PEM roots for https targets; Insecure skips verification.
	CAFile     string
	Insecure   bool
	ServerName string        // TLS server name to verify (default the URL's host)
	Timeout    time.Duration // per request (default 30s)
	// GRPCService is the service name a grpc:// or grpcs:// target's
	// health is checked for ("" asks about the whole server).
	GRPCService string
}

func (t Target) method() string {
	if t.Method == "" {
		return http.MethodGet
	}
	return t.Method
}

// Client builds an HTTP client for the target allowing conns concurrent connections.
func (t Target) Client(conns int) (*http.Client, error) {
	if conns <= 0 {
		conns = 1
	}
	tlsConf, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // probes go to the URL given, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     tlsConf,
		DisableCompression:  true,
	}
	var p http.Protocols
	if t.HTTP2 {
		if strings.HasPrefix(t.URL, "https://") {
			p.SetHTTP2(true)
		} else {
			p.SetUnencryptedHTTP2(true)
		}
	} else {
		p.SetHTTP1(true)
	}
	tr.Protocols = &p
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a probe judges the response it got
		},
	}, nil
}

func (t Target) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure} //nolint:gosec // only when the user asks
	if t.CAFile != "" {
		pool, err := loadRoots(t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate found", file)
	}
	return pool, nil
}

// Plan is the schedule of a load run.
type Plan struct {
	QPS         float64
	Duration    time.Duration
	Connections int // concurrent requests (and connections for HTTP/1.1); default 16
	// TCPConnections is, for HTTP/2 and gRPC targets (Target.Multiplexed),
	// how many TCP connections carry the concurrent requests, taken in turn
	// (round-robin); default 1, at most Connections. Ignored for HTTP/1.1.
	TCPConnections int
	// Window splits the run into slices by intended send time (0: none).
	Window time.Duration
	// SlowAt counts responses whose service time is at least this (fault delay).
	SlowAt time.Duration
	// AttemptHeader is a response header reporting how many upstream attempts
	// a request took (an echo of Envoy's x-envoy-attempt-count).
	AttemptHeader string
	// Progress, when set, is called about 4 times a second.
	Progress func(Progress)
	// At, when set, runs callbacks at offsets into the run (fault apply/restore).
	At []Timed
}

// Timed is a callback run at an offset into a load run; Done receives its completion offset.
type Timed struct {
	Offset time.Duration
	Name   string
	Fn     func(ctx context.Context) error
}

// Progress is a snapshot of a running load.
type Progress struct {
	Label     string
	Done      int64
	Planned   int64
	Errors    int64
	Elapsed   time.Duration
	Duration  time.Duration
	P50, P99  time.Duration
	TargetQPS float64
}

// Run is the aggregated outcome of one load run.
type Run struct {
	Target     string
	TargetQPS  float64
	Start, End time.Time
	Planned    int64
	Requests   int64 // completed (a response or a transport error)
	Errors     int64 // transport errors, non-2xx/3xx responses, gRPC checks not SERVING
	Transport  int64 // no HTTP response
	Codes      map[int]int64
	// GRPCCodes count what each gRPC health check got: the serving status
	// of an answered check (SERVING, NOT_SERVING...), else the RPC's status
	// code (UNAVAILABLE, DEADLINE_EXCEEDED...). Only SERVING is a success.
	GRPCCodes  map[string]int64
	All        *Hist // latency from the intended send time (what users see; see outcome.from)
	Lag        *Hist // how late requests were sent (busy connections, or OS timer slack)
	Service    *Hist // from the actual send time
	OK         *Hist // service time of 2xx/3xx responses
	S503       *Hist // service time of 503 responses
	Overloaded int64 // 503s with x-envoy-overloaded
	Retried    int64 // responses whose AttemptHeader said > 1
	Slow       int64 // service time >= Plan.SlowAt
	// Unsent requests were still waiting for a free connection when the
	// dispatch deadline (Duration + grace) passed: they count as requests
	// and errors, with the wait until the deadline as their latency (a lower bound).
	Unsent      int64
	Windows     []*RunWindow
	Interrupted bool
	FirstError  string
	Events      map[string]time.Duration // Timed callbacks: completion offsets
	EventErrors map[string]string
}

// RunWindow is one slice of a run.
type RunWindow struct {
	Requests, Errors int64
	Hist             *Hist
}

// ErrorRate is Errors / Requests.
func (r *Run) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// AchievedQPS is completed (sent and answered or failed) requests per second of the run.
func (r *Run) AchievedQPS() float64 {
	d := r.End.Sub(r.Start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r.Requests-r.Unsent) / d
}

// Summary is the run as an evidence load summary.
func (r *Run) Summary() *evidence.LoadSummary {
	return &evidence.LoadSummary{
		Target: r.Target, TargetQPS: r.TargetQPS, Requests: r.Requests, Errors: r.Errors, ErrorRate: r.ErrorRate(),
		AchievedQPS: r.AchievedQPS(), LatencyMs: r.All.Latency(), LatencyCurve: r.All.Curve(),
	}
}

// fill copies the run's common figures into results.
func (r *Run) fill(res *evidence.Results) {
	res.Requests = r.Requests
	res.Errors = r.Errors
	res.ErrorRate = r.ErrorRate()
	res.AchievedQPS = r.AchievedQPS()
	res.LatencyMs = r.All.Latency()
	res.LatencyCurve = r.All.Curve()
	res.ScheduleLagMs = r.Lag.Latency()
	res.TransportErrors = r.Transport
	res.Unsent = r.Unsent
	res.StatusCodes = statusCodes(r.Codes, r.GRPCCodes)
}

// statusCodes merges HTTP status counts and gRPC outcome counts (a run has one or the other).
func statusCodes(http map[int]int64, grpc map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for c, n := range http {
		out[strconv.Itoa(c)] += n
	}
	for c, n := range grpc {
		out[c] += n
	}
	return out
}

type outcome struct {
	// from is when the request's latency starts: its intended send time
	// when it was sent late because every connection was busy (the wait is
	// the server's doing: coordinated omission corrected), its actual send
	// time when its worker was idle and only the OS woke it late (that lag
	// is the load generator's, recorded apart in Run.Lag).
	intended, from, sent, done time.Time
	answer
}

func (r *Run) recordUnsent(intended, deadline time.Time, p *Plan) {
	r.Requests++
	r.Errors++
	r.Unsent++
	r.All.Record(deadline.Sub(intended))
	if r.FirstError == "" {
		r.FirstError = "requests still waiting for a connection at the end of the run were not sent"
	}
	if p.Window > 0 {
		i := int(intended.Sub(r.Start) / p.Window)
		for len(r.Windows) <= i {
			r.Windows = append(r.Windows, &RunWindow{Hist: NewHist()})
		}
		r.Windows[i].Requests++
		r.Windows[i].Errors++
		r.Windows[i].Hist.Record(deadline.Sub(intended))
	}
}

func (r *Run) record(o outcome, p *Plan) {
	r.Requests++
	lat := o.done.Sub(o.from)
	svc := o.done.Sub(o.sent)
	r.Lag.Record(o.sent.Sub(o.intended))
	r.All.Record(lat)
	r.Service.Record(svc)
	bad := false
	switch {
	case o.err != nil:
		r.Transport++
		bad = true
		if r.FirstError == "" {
			r.FirstError = o.err.Error()
		}
	case o.grpc != "":
		r.GRPCCodes[o.grpc]++
		if !o.grpcOK {
			bad = true
			if r.FirstError == "" {
				r.FirstError = o.grpcDetail
			}
		}
	default:
		r.Codes[o.status]++
		if o.status >= 200 && o.status < 400 {
			r.OK.Record(svc)
		} else {
			bad = true
			if r.FirstError == "" {
				r.FirstError = fmt.Sprintf("HTTP %d", o.status)
			}
		}
		if o.status == http.StatusServiceUnavailable {
			r.S503.Record(svc)
			if o.overloaded {
				r.Overloaded++
			}
		}
		if o.attempts > 1 {
			r.Retried++
		}
	}
	if bad {
		r.Errors++
	}
	if p.SlowAt > 0 && svc >= p.SlowAt {
		r.Slow++
	}
	if p.Window > 0 {
		i := int(o.intended.Sub(r.Start) / p.Window)
		for len(r.Windows) <= i {
			r.Windows = append(r.Windows, &RunWindow{Hist: NewHist()})
		}
		w := r.Windows[i]
		w.Requests++
		w.Hist.Record(lat)
		if bad {
			w.Errors++
		}
	}
}

// DispatchGrace is how long after the planned duration late requests may
// still be sent: a tenth of the duration, at least 2 s, at most 1 min.
func DispatchGrace(d time.Duration) time.Duration {
	return min(max(d/10, 2*time.Second), time.Minute)
}

// DefaultConnections is the concurrency of a load run when none is given.
const DefaultConnections = 16

// RunLoad sends requests to t at p.QPS for p.Duration, open loop: request i
// is due at start + i/QPS; up to p.Connections requests are in flight; a
// request that is due while all are busy waits, and its wait counts in its
// latency. When ctx ends the run stops, in-flight requests are abandoned
// (not counted) and Interrupted is set.
func RunLoad(ctx context.Context, t Target, p Plan) (*Run, error) {
	if p.QPS <= 0 {
		return nil, errors.New("the rate must be positive (--qps)")
	}
	if p.Duration <= 0 {
		return nil, errors.New("the duration must be positive (--duration)")
	}
	if p.Connections <= 0 {
		p.Connections = DefaultConnections
	}
	if p.TCPConnections > p.Connections {
		return nil, fmt.Errorf("%d TCP connections for %d concurrent requests: give at most as many TCP connections as concurrent requests (--tcp-connections, --connections)", p.TCPConnections, p.Connections)
	}
	c, err := t.caller(p)
	if err != nil {
		return nil, err
	}
	defer c.close()
	planned := int64(p.QPS * p.Duration.Seconds())
	if planned < 1 {
		planned = 1
	}
	run := &Run{
		Target: t.URL, TargetQPS: p.QPS, Planned: planned, Codes: map[int]int64{}, GRPCCodes: map[string]int64{},
		All: NewHist(), Lag: NewHist(), Service: NewHist(), OK: NewHist(), S503: NewHist(),
		Events: map[string]time.Duration{}, EventErrors: map[string]string{},
	}
	interval := float64(time.Second) / p.QPS
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu   sync.Mutex
		next atomic.Int64
		done atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	run.Start = start
	last := start
	// Past this, requests still waiting for a connection are not sent: a
	// target far slower than the rate must not stretch a 30 s run to hours.
	deadline := start.Add(p.Duration + DispatchGrace(p.Duration))
	send := func(intended time.Time, slept bool) {
		o := outcome{intended: intended, sent: time.Now()}
		o.from = intended
		if slept {
			o.from = o.sent
		}
		o.answer = c.call(runCtx)
		o.done = time.Now()
		if runCtx.Err() != nil {
			return // abandoned: neither success nor failure
		}
		mu.Lock()
		run.record(o, &p)
		if o.done.After(last) {
			last = o.done
		}
		mu.Unlock()
		done.Add(1)
	}
	for w := 0; w < p.Connections; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for {
				i := next.Add(1) - 1
				if i >= planned {
					return
				}
				intended := start.Add(time.Duration(float64(i) * interval))
				slept := false
				if d := time.Until(intended); d > 0 {
					slept = true
					timer.Reset(d)
					select {
					case <-runCtx.Done():
						return
					case <-timer.C:
					}
				} else if runCtx.Err() != nil {
					return
				} else if now := time.Now(); now.After(deadline) {
					mu.Lock()
					run.recordUnsent(intended, deadline, &p)
					mu.Unlock()
					continue
				}
				send(intended, slept)
			}
		}()
	}
	var evWG sync.WaitGroup
	for _, ev := range p.At {
		evWG.Add(1)
		go func() {
			defer evWG.Done()
			select {
			case <-runCtx.Done():
				return
			case <-time.After(time.Until(start.Add(ev.Offset))):
			}
			err := ev.Fn(runCtx)
			mu.Lock()
			run.Events[ev.Name] = time.Since(start)
			if err != nil {
				run.EventErrors[ev.Name] = err.Error()
			}
			mu.Unlock()
		}()
	}
	stopProgress := make(chan struct{})
	var progWG sync.WaitGroup
	if p.Progress != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			tk := time.NewTicker(250 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-tk.C:
					mu.Lock()
					pr := Progress{Done: done.Load(), Planned: planned, Errors: run.Errors, Elapsed: time.Since(start),
						Duration: p.Duration, P50: run.All.Quantile(50), P99: run.All.Quantile(99), TargetQPS: p.QPS}
					mu.Unlock()
					p.Progress(pr)
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		run.Interrupted = true
	}
	cancel()
	evWG.Wait()
	close(stopProgress)
	progWG.Wait()
	mu.Lock()
	defer mu.Unlock()
	run.End = last
	if run.Interrupted {
		run.End = time.Now()
	}
	return run, nil
}

// Common are the settings every probe shares.
type Common struct {
	Thresholds config.Thresholds
	// Now returns the time (tests fix it); default time.Now.
	Now func() time.Time
	// MinAchievedShare is the share of the target rate a load run must
	// achieve (default 0.95).
	MinAchievedShare float64
}

func newRecord(kind, target string, params map[string]any) *evidence.Record {
	return &evidence.Record{
		SchemaVersion: evidence.SchemaVersion, Kind: kind, Target: target, Source: "meshready",
		Parameters: params, Start: time.Now().UTC(), MeshreadyVersion: version.String(),
	}
}

// finish sets the record's end and verdict: partial when interrupted,
// else pass when every reason is met.
func finish(rec *evidence.Record, interrupted bool) *evidence.Record {
	rec.End = time.Now().UTC()
	if interrupted {
		rec.Verdict = evidence.Partial
		rec.Reasons = append([]evidence.Reason{{OK: false, Message: "the run was interrupted (Ctrl-C or --timeout): a partial run never counts"}}, rec.Reasons...)
		return rec
	}
	rec.Verdict = evidence.VerdictOf(rec.Reasons)
	return rec
}

func reason(ok bool, format string, args ...any) evidence.Reason {
	return evidence.Reason{OK: ok, Message: fmt.Sprintf(format, args...)}
}

func planParams(t Target, p Plan) map[string]any {
	m := map[string]any{
		"qps": p.QPS, "duration": p.Duration.String(), "connections": p.Connections,
		"method": t.method(), "http2": t.HTTP2,
		"latencyFrom": "intended send time (open loop, corrected for coordinated omission)",
	}
	if t.IsGRPC() {
		delete(m, "method")
		delete(m, "http2")
		m["protocol"] = "grpc"
		m["call"] = grpcHealthMethod
		m["grpcService"] = t.GRPCService
	}
	if p.Connections == 0 {
		m["connections"] = DefaultConnections
	}
	if t.Multiplexed() {
		m["tcpConnections"] = max(p.TCPConnections, 1)
	}
	return m
}

// DefaultMinAchievedShare is the share of the target rate a load run must achieve.
const DefaultMinAchievedShare = 0.95

func judgeRun(r *Run, c Common, label string) []evidence.Reason {
	th := c.Thresholds
	share := c.MinAchievedShare
	if share <= 0 {
		share = DefaultMinAchievedShare
	}
	var rs []evidence.Reason
	rs = append(rs, reason(r.Requests > 0, "%s%d requests completed", label, r.Requests))
	first := ""
	if r.FirstError != "" {
		first = "; first error: " + r.FirstError
	}
	rs = append(rs, reason(r.ErrorRate() <= th.ErrorRate, "%serror rate %.3f%% (limit %.3f%%)%s", label, 100*r.ErrorRate(), 100*th.ErrorRate, first))
	p99 := ms(r.All.Quantile(99))
	rs = append(rs, reason(p99 <= th.P99LatencyMs, "%sp99 latency %.3f ms (limit %.0f ms)", label, p99, th.P99LatencyMs))
	ach := r.AchievedQPS()
	rs = append(rs, reason(ach >= share*r.TargetQPS, "%sachieved %.1f req/s of %.1f targeted (at least %.0f%%)", label, ach, r.TargetQPS, 100*share))
	return rs
}

// LoadOptions configure `probe load`.
type LoadOptions struct {
	Common
	Target
	Plan
	// BaselineURL is the same service reached directly (not through the
	// mesh): it is loaded first with the same plan, and the difference of
	// the percentiles is the mesh's added latency.
	BaselineURL string
}

// Load runs a constant-rate load (and its baseline) and judges it.
func Load(ctx context.Context, o LoadOptions) (*evidence.Record, error) {
	params := planParams(o.Target, o.Plan)
	if o.BaselineURL != "" {
		params["baselineURL"] = o.BaselineURL
	}
	rec := newRecord(evidence.KindLoad, o.URL, params)
	th := o.Thresholds
	var base *Run
	if o.BaselineURL != "" {
		bt := o.Target
		bt.URL = o.BaselineURL
		bp := o.Plan
		bp.Progress = labelProgress(o.Progress, "baseline")
		var err error
		base, err = RunLoad(ctx, bt, bp)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		rec.Results.Baseline = base.Summary()
		if base.Interrupted {
			return finish(rec, true), nil
		}
	}
	mp := o.Plan
	if base != nil {
		mp.Progress = labelProgress(o.Progress, "mesh")
	}
	run, err := RunLoad(ctx, o.Target, mp)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	rec.Reasons = judgeRun(run, o.Common, "")
	if base != nil {
		rec.Reasons = append(rec.Reasons, judgeRun(base, o.Common, "baseline: ")...)
		m, b := run.All, base.All
		add := &evidence.Latency{
			P50: ms(m.Quantile(50) - b.Quantile(50)), P90: ms(m.Quantile(90) - b.Quantile(90)),
			P99: ms(m.Quantile(99) - b.Quantile(99)), P999: ms(m.Quantile(99.9) - b.Quantile(99.9)),
		}
		rec.Results.AddedLatencyMs = add
		rec.Reasons = append(rec.Reasons,
			reason(add.P50 <= th.AddedLatencyP50Ms, "added p50 latency %.3f ms (limit %.1f ms)", add.P50, th.AddedLatencyP50Ms),
			reason(add.P90 <= th.AddedLatencyP90Ms, "added p90 latency %.3f ms (limit %.1f ms)", add.P90, th.AddedLatencyP90Ms),
			reason(add.P99 <= th.AddedLatencyP99Ms, "added p99 latency %.3f ms (limit %.1f ms)", add.P99, th.AddedLatencyP99Ms))
	}
	return finish(rec, run.Interrupted), nil
}

func labelProgress(f func(Progress), label string) func(Progress) {
	if f == nil {
		return nil
	}
	return func(p Progress) { p.Label = label; f(p) }
}

// StepOptions configure `probe step`: one load run per rate, each Duration long.
type StepOptions struct {
	Common
	Target
	Plan
	Rates []float64
}

// Step runs increasing rates and checks that throughput follows and the
// latency and errors stay within the SLO up to the highest (target) rate.
func Step(ctx context.Context, o StepOptions) (*evidence.Record, error) {
	if len(o.Rates) == 0 {
		return nil, errors.New("give the rates to step through (--rates 100,200,400)")
	}
	params := planParams(o.Target, o.Plan)
	delete(params, "qps")
	params["rates"] = o.Rates
	rec := newRecord(evidence.KindStep, o.URL, params)
	all := NewHist()
	var total Run
	total.Codes, total.GRPCCodes = map[int]int64{}, map[string]int64{}
	interrupted := false
	for i, q := range o.Rates {
		p := o.Plan
		p.QPS = q
		p.Progress = labelProgress(o.Progress, fmt.Sprintf("step %d/%d", i+1, len(o.Rates)))
		run, err := RunLoad(ctx, o.Target, p)
		if err != nil {
			return nil, err
		}
		rs := judgeRun(run, o.Common, fmt.Sprintf("step %.0f req/s: ", q))
		st := evidence.Step{LoadSummary: *run.Summary(), OK: evidence.VerdictOf(rs) == evidence.Pass}
		st.Target = ""
		rec.Results.Steps = append(rec.Results.Steps, st)
		rec.Reasons = append(rec.Reasons, rs...)
		all.Merge(run.All)
		total.Requests += run.Requests
		total.Errors += run.Errors
		total.Transport += run.Transport
		total.Unsent += run.Unsent
		for c, n := range run.Codes {
			total.Codes[c] += n
		}
		for c, n := range run.GRPCCodes {
			total.GRPCCodes[c] += n
		}
		if run.Interrupted {
			interrupted = true
			break
		}
	}
	total.All = all
	rec.Results.Requests, rec.Results.Errors, rec.Results.ErrorRate = total.Requests, total.Errors, total.ErrorRate()
	rec.Results.LatencyMs, rec.Results.LatencyCurve = all.Latency(), all.Curve()
	if n := len(rec.Results.Steps); n > 0 {
		rec.Results.AchievedQPS = rec.Results.Steps[n-1].AchievedQPS
	}
	rec.Results.TransportErrors = total.Transport
	rec.Results.Unsent = total.Unsent
	rec.Results.StatusCodes = statusCodes(total.Codes, total.GRPCCodes)
	return finish(rec, interrupted), nil
}

// SoakOptions configure `probe soak`: a long constant-rate run judged window by window.
type SoakOptions struct {
	Common
	Target
	Plan // Window default: Duration/20 within [1s, 1m]
}

// Soak runs a long load and checks every window stays within the SLO.
func Soak(ctx context.Context, o SoakOptions) (*evidence.Record, error) {
	if o.Window <= 0 {
		o.Window = min(max(o.Duration/20, time.Second), time.Minute)
	}
	params := planParams(o.Target, o.Plan)
	params["window"] = o.Window.String()
	rec := newRecord(evidence.KindSoak, o.URL, params)
	run, err := RunLoad(ctx, o.Target, o.Plan)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	rec.Reasons = judgeRun(run, o.Common, "whole run: ")
	badErr, badLat := 0, 0
	for i, w := range run.Windows {
		ew := evidence.Window{StartOffsetS: (time.Duration(i) * o.Window).Seconds(), Requests: w.Requests, Errors: w.Errors, P99Ms: ms(w.Hist.Quantile(99))}
		if w.Requests > 0 {
			ew.ErrorRate = float64(w.Errors) / float64(w.Requests)
		}
		// A window may hold the error share the SLO allows, rounded up to a
		// whole request (one error in a small window is not a breach).
		if float64(w.Errors) > max(1, o.Thresholds.ErrorRate*float64(w.Requests)) {
			badErr++
		}
		if ew.P99Ms > o.Thresholds.P99LatencyMs {
			badLat++
		}
		rec.Results.Windows = append(rec.Results.Windows, ew)
	}
	rec.Reasons = append(rec.Reasons,
		reason(badErr == 0, "%d of %d windows of %s above the error-rate limit", badErr, len(run.Windows), o.Window),
		reason(badLat == 0, "%d of %d windows of %s above the p99 limit", badLat, len(run.Windows), o.Window))
	return finish(rec, run.Interrupted), nil
}
