package probe

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/evidence"
)

func TestCircuitBreakerFast503VersusQueueing(t *testing.T) {
	// Limit 4 concurrent × 100 ms = 40 req/s capacity; 200 req/s offered.
	lim := newLoopbackServer(t, limiter(4, 100*time.Millisecond), false)
	eventually(t, func(p *problems) {
		rec, err := CircuitBreaker(ctxT(t), CircuitBreakerOptions{Common: testCommon(), Target: Target{URL: lim.URL}, Plan: Plan{QPS: 200, Duration: 500 * time.Millisecond, Connections: 64}})
		if err != nil {
			t.Fatal(err)
		}
		cb := rec.Results.CircuitBreaker
		// About 80% of the requests overflow; the 503s do no work: their
		// median stays far below the 100 ms of an accepted request.
		if rec.Verdict != evidence.Pass || cb.Overflow503Share < 0.6 || cb.Overflow503Share > 0.95 || cb.EnvoyOverloaded != cb.Overflow503 {
			p.add("verdict %s, 503 share %.2f (overloaded %d of %d): %+v", rec.Verdict, cb.Overflow503Share, cb.EnvoyOverloaded, cb.Overflow503, rec.Reasons)
		}
		if cb.Latency503Ms == nil || cb.LatencyOKMs == nil || cb.Latency503Ms.P50 > 30 || cb.LatencyOKMs.P50 < 100 {
			p.add("503 latency %+v (want p50 < 30 ms), accepted %+v (want p50 ≥ 100 ms)", cb.Latency503Ms, cb.LatencyOKMs)
		}
	})
	// A server that queues instead: no 503 at all, latency grows.
	q := newLoopbackServer(t, queuer(10*time.Millisecond), false)
	rec, err := CircuitBreaker(ctxT(t), CircuitBreakerOptions{Common: testCommon(), Target: Target{URL: q.URL}, Plan: Plan{QPS: 200, Duration: 250 * time.Millisecond, Connections: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != evidence.Fail || rec.Results.CircuitBreaker.Overflow503 != 0 {
		t.Errorf("queueing server: verdict %s, %d 503s", rec.Verdict, rec.Results.CircuitBreaker.Overflow503)
	}
}

// flaky fails the first attempt of 30% of requests; it echoes the attempt
// number the (simulated) sidecar put on the upstream request.
func flaky() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("X-Envoy-Attempt-Count")
		w.Header().Set("X-Envoy-Attempt-Count", a)
		if (a == "" || a == "1") && n.Add(1)%10 < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
}

// retrier stands in for Envoy's retry policy: up to 3 attempts on 5xx,
// numbering them in x-envoy-attempt-count.
func retrier(upstream string) http.Handler {
	u, _ := url.Parse(upstream)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for a := 1; ; a++ {
			rr := &statusRecorder{h: http.Header{}}
			p := httputil.NewSingleHostReverseProxy(u)
			r2 := r.Clone(r.Context())
			r2.Header.Set("X-Envoy-Attempt-Count", strconv.Itoa(a))
			p.ServeHTTP(rr, r2)
			if rr.code < 500 || a == 3 {
				for k, v := range rr.h {
					w.Header()[k] = v
				}
				w.WriteHeader(rr.code)
				w.Write(rr.body)
				return
			}
		}
	})
}

type statusRecorder struct {
	h    http.Header
	code int
	body []byte
}

func (s *statusRecorder) Header() http.Header { return s.h }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	s.body = append(s.body, b...)
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(c int) { s.code = c }

func TestRetriesHiddenFromClient(t *testing.T) {
	up := newLoopbackServer(t, flaky(), false)
	mesh := newLoopbackServer(t, retrier(up.URL), false)
	plan := Plan{QPS: 200, Duration: 500 * time.Millisecond}
	eventually(t, func(p *problems) {
		rec, err := Retries(ctxT(t), RetriesOptions{Common: testCommon(), Target: Target{URL: mesh.URL}, DirectURL: up.URL, Plan: plan})
		if err != nil {
			t.Fatal(err)
		}
		rr := rec.Results.Retries
		if rec.Verdict != evidence.Pass || rr.ClientErrorRate != 0 || rr.Retried < 20 || rr.Direct.ErrorRate < 0.25 {
			p.add("verdict %s, client errors %.3f, retried %d, direct error rate %.3f: %+v", rec.Verdict, rr.ClientErrorRate, rr.Retried, rr.Direct.ErrorRate, rec.Reasons)
		}
	})
	// Without the retrying layer the client sees the failures.
	rec, err := Retries(ctxT(t), RetriesOptions{Common: testCommon(), Target: Target{URL: up.URL}, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != evidence.Fail {
		t.Errorf("no retries: verdict %s", rec.Verdict)
	}
}

func TestFaultObservedRateWithinBinomialTolerance(t *testing.T) {
	// 10% aborts drawn at random (seeded), 20% delayed 200 ms (long enough
	// that scheduling noise on a busy machine is not taken for it).
	eventually(t, func(p *problems) {
		in := newInjector(spread(80, time.Duration(0), 20, 200*time.Millisecond), 0.10)
		s := newLoopbackServer(t, in, false)
		rec, err := Fault(ctxT(t), FaultOptions{Common: testCommon(), Target: Target{URL: s.URL}, Plan: Plan{QPS: 500, Duration: time.Second, Connections: 128},
			AbortPercent: 10, DelayPercent: 20, Delay: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		f := rec.Results.Fault
		// n = 500, p = 0.1: tolerance 3.29·sqrt(0.09/500) + 0.001 = 4.51 points.
		if rec.Verdict != evidence.Pass || f.AbortTolerance < 0.044 || f.AbortTolerance > 0.046 {
			p.add("verdict %s, observed %.4f ± %.4f: %+v", rec.Verdict, f.ObservedAbortRate, f.AbortTolerance, rec.Reasons)
		}
	})
	// The same fault judged against a 25% configured abort must fail.
	s := newLoopbackServer(t, newInjector(nil, 0.10), false)
	rec, err := Fault(ctxT(t), FaultOptions{Common: testCommon(), Target: Target{URL: s.URL}, Plan: Plan{QPS: 1000, Duration: 500 * time.Millisecond}, AbortPercent: 25})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != evidence.Fail {
		t.Errorf("10%% observed vs 25%% configured: verdict %s", rec.Verdict)
	}
}

// faultSwitch fails half of the requests while on; after Off it keeps
// failing for linger (a slow recovery).
type faultSwitch struct {
	on     atomic.Bool
	until  atomic.Int64 // unix nanos until which it still fails after Off
	linger time.Duration
	n      atomic.Int64
}

func (f *faultSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	failing := f.on.Load() || time.Now().UnixNano() < f.until.Load()
	if failing && f.n.Add(1)%2 == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func TestRecovery(t *testing.T) {
	for _, tc := range []struct {
		name        string
		linger      time.Duration
		limitS      float64
		wantVerdict string
		lo, hi      float64
	}{
		{"immediate", 0, 0.2, evidence.Pass, 0, 0.15},
		{"slow", 400 * time.Millisecond, 0.2, evidence.Fail, 0.3, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eventually(t, func(p *problems) {
				fs := &faultSwitch{linger: tc.linger}
				s := newLoopbackServer(t, fs, false)
				c := testCommon()
				c.Thresholds.RecoverySeconds = tc.limitS
				rec, err := Recovery(ctxT(t), RecoveryOptions{
					Common: c, Target: Target{URL: s.URL}, Plan: Plan{QPS: 400, Duration: 1100 * time.Millisecond, Window: 100 * time.Millisecond},
					Apply: func(context.Context) error { fs.on.Store(true); return nil },
					Restore: func(context.Context) error {
						fs.until.Store(time.Now().Add(fs.linger).UnixNano())
						fs.on.Store(false)
						return nil
					},
					ApplyAt: 200 * time.Millisecond, RestoreAt: 450 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				rr := rec.Results.Recovery
				if rec.Verdict != tc.wantVerdict || !rr.FaultObserved || !rr.Recovered || rr.RecoverySeconds < tc.lo || rr.RecoverySeconds > tc.hi {
					p.add("verdict %s, fault %v, recovered %v after %.2f s (want %s, %.2f–%.2f s): %+v", rec.Verdict, rr.FaultObserved, rr.Recovered, rr.RecoverySeconds, tc.wantVerdict, tc.lo, tc.hi, rec.Reasons)
				}
			})
		})
	}
	// No fault at all: the probe cannot confirm anything.
	s := newLoopbackServer(t, &faultSwitch{}, false)
	eventually(t, func(p *problems) {
		rec, err := Recovery(ctxT(t), RecoveryOptions{Common: testCommon(), Target: Target{URL: s.URL}, Plan: Plan{QPS: 200, Duration: 300 * time.Millisecond, Window: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Verdict != evidence.Fail || rec.Results.Recovery.FaultObserved {
			p.add("no fault: verdict %s, fault observed %v: %+v", rec.Verdict, rec.Results.Recovery.FaultObserved, rec.Reasons)
		}
	})
}

// Without apply/restore commands the fault is toggled by hand during the
// run; its end is taken from the error rate (last window at half the peak).
func TestRecoveryManualFault(t *testing.T) {
	eventually(t, func(p *problems) {
		fs := &faultSwitch{}
		s := newLoopbackServer(t, fs, false)
		on := time.AfterFunc(200*time.Millisecond, func() { fs.on.Store(true) })
		off := time.AfterFunc(500*time.Millisecond, func() { fs.on.Store(false) })
		defer on.Stop()
		defer off.Stop()
		c := testCommon()
		c.Thresholds.RecoverySeconds = 0.2
		rec, err := Recovery(ctxT(t), RecoveryOptions{Common: c, Target: Target{URL: s.URL}, Plan: Plan{QPS: 400, Duration: 900 * time.Millisecond, Window: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		rr := rec.Results.Recovery
		if rec.Verdict != evidence.Pass || rr.FaultEndOffsetS < 0.45 || rr.FaultEndOffsetS > 0.65 || rr.PeakErrorRate < 0.4 {
			p.add("verdict %s, fault end %.2f s (%s), peak %.2f, recovery %.2f s: %+v", rec.Verdict, rr.FaultEndOffsetS, rr.FaultEndFrom, rr.PeakErrorRate, rr.RecoverySeconds, rec.Reasons)
		}
	})
}
