package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"time"

	"github.com/meshready/meshready/internal/evidence"
)

// CircuitBreakerOptions configure `probe circuit-breaker`: a load beyond the
// service's connection-pool / pending-request limits.
type CircuitBreakerOptions struct {
	Common
	Target
	Plan
	// MinOverflowShare is the least share of 503s that shows the breaker tripped (default 0.01).
	MinOverflowShare float64
	// MaxFast503 is the slowest p90 a 503 may take to count as fast overflow (default 100ms).
	MaxFast503 time.Duration
}

// CircuitBreaker overloads the target and checks the excess was refused
// quickly with 503 (Envoy's overflow) rather than queued or timed out.
func CircuitBreaker(ctx context.Context, o CircuitBreakerOptions) (*evidence.Record, error) {
	if o.MinOverflowShare <= 0 {
		o.MinOverflowShare = 0.01
	}
	if o.MaxFast503 <= 0 {
		o.MaxFast503 = 100 * time.Millisecond
	}
	params := planParams(o.Target, o.Plan)
	params["minOverflowShare"] = o.MinOverflowShare
	params["maxFast503"] = o.MaxFast503.String()
	rec := newRecord(evidence.KindCircuitBreaker, o.URL, params)
	run, err := RunLoad(ctx, o.Target, o.Plan)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	n503 := run.Codes[http.StatusServiceUnavailable]
	share := 0.0
	if run.Requests > 0 {
		share = float64(n503) / float64(run.Requests)
	}
	cb := &evidence.CircuitBreakerResults{
		Overflow503: n503, Overflow503Share: share, EnvoyOverloaded: run.Overloaded,
		Latency503Ms: run.S503.Latency(), LatencyOKMs: run.OK.Latency(), MaxFast503Ms: ms(o.MaxFast503),
	}
	rec.Results.CircuitBreaker = cb
	p90 := run.S503.Quantile(90)
	transportShare := 0.0
	if run.Requests > 0 {
		transportShare = float64(run.Transport) / float64(run.Requests)
	}
	svcP99 := ms(run.Service.Quantile(99))
	rec.Reasons = []evidence.Reason{
		reason(share >= o.MinOverflowShare, "%.2f%% of %d requests got 503 overflow (at least %.2f%% shows the breaker tripped; %d carried x-envoy-overloaded)", 100*share, run.Requests, 100*o.MinOverflowShare, run.Overloaded),
		reason(n503 > 0 && p90 <= o.MaxFast503, "503 answers were fast: p90 %.3f ms (at most %s)", ms(p90), o.MaxFast503),
		reason(transportShare <= o.Thresholds.ErrorRate, "%d requests timed out or got no response (%.3f%%, limit %.3f%%): excess was refused, not dropped", run.Transport, 100*transportShare, 100*o.Thresholds.ErrorRate),
		reason(svcP99 <= o.Thresholds.P99LatencyMs, "no queueing: p99 response time %.3f ms (limit %.0f ms)", svcP99, o.Thresholds.P99LatencyMs),
	}
	return finish(rec, run.Interrupted), nil
}

// RetriesOptions configure `probe retries`.
type RetriesOptions struct {
	Common
	Target
	Plan
	// DirectURL reaches the failing upstream without the mesh's retries: its
	// error rate proves failures were being injected during the run.
	DirectURL string
	// MinInjected is the least direct error rate that counts as injected failures (default 0.01).
	MinInjected float64
}

// Retries checks that transient upstream failures are retried by the mesh
// and hidden from the client: the client's error rate stays within the SLO
// while failures demonstrably happen (on the direct path, or reported by
// the upstream's echo of the attempt count).
func Retries(ctx context.Context, o RetriesOptions) (*evidence.Record, error) {
	if o.MinInjected <= 0 {
		o.MinInjected = 0.01
	}
	if o.AttemptHeader == "" {
		o.AttemptHeader = "X-Envoy-Attempt-Count"
	}
	params := planParams(o.Target, o.Plan)
	params["attemptHeader"] = o.AttemptHeader
	if o.DirectURL != "" {
		params["directURL"] = o.DirectURL
	}
	rec := newRecord(evidence.KindRetries, o.URL, params)
	rr := &evidence.RetriesResults{}
	rec.Results.Retries = rr
	var direct *Run
	if o.DirectURL != "" {
		dt := o.Target
		dt.URL = o.DirectURL
		dp := o.Plan
		dp.Progress = labelProgress(o.Progress, "direct")
		var err error
		if direct, err = RunLoad(ctx, dt, dp); err != nil {
			return nil, fmt.Errorf("direct: %w", err)
		}
		rr.Direct = direct.Summary()
		if direct.Interrupted {
			return finish(rec, true), nil
		}
	}
	mp := o.Plan
	mp.Progress = labelProgress(o.Progress, "mesh")
	run, err := RunLoad(ctx, o.Target, mp)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	rr.ClientErrorRate = run.ErrorRate()
	rr.Retried = run.Retried
	injected := run.Retried > 0
	var how string
	switch {
	case direct != nil && direct.ErrorRate() >= o.MinInjected:
		injected = true
		how = fmt.Sprintf("the direct path failed %.2f%% of requests", 100*direct.ErrorRate())
	case run.Retried > 0:
		how = fmt.Sprintf("%d responses reported more than one attempt (%s)", run.Retried, o.AttemptHeader)
	case direct != nil:
		how = fmt.Sprintf("the direct path failed only %.2f%% of requests (at least %.2f%% needed) and no response reported a retry", 100*direct.ErrorRate(), 100*o.MinInjected)
	default:
		how = "no evidence that failures were injected: give --direct-url (the upstream without the mesh) or have the upstream echo " + o.AttemptHeader
	}
	rec.Reasons = []evidence.Reason{
		reason(injected, "transient failures happened: %s", how),
		reason(run.ErrorRate() <= o.Thresholds.ErrorRate, "the client saw %.3f%% errors (limit %.3f%%): failures were hidden by retries", 100*run.ErrorRate(), 100*o.Thresholds.ErrorRate),
		reason(run.Requests > 0, "%d requests completed", run.Requests),
	}
	return finish(rec, run.Interrupted), nil
}

// FaultOptions configure `probe fault`: the fault the route is configured with.
type FaultOptions struct {
	Common
	Target
	Plan
	AbortPercent float64 // configured abort percentage (0–100)
	AbortStatus  int     // configured abort HTTP status (default 503)
	DelayPercent float64 // configured delay percentage
	Delay        time.Duration
	// Z is the two-sided normal quantile of the tolerance (default 3.29, 99.9%).
	Z float64
}

// binomialTolerance is z standard deviations of an observed share over n
// trials with true probability p, plus half a trial for discreteness.
func binomialTolerance(p float64, n int64, z float64) float64 {
	if n <= 0 {
		return 1
	}
	return z*math.Sqrt(p*(1-p)/float64(n)) + 0.5/float64(n)
}

// Fault measures the abort (and delay) rates the route produces and checks
// they match the configured fault within a binomial tolerance: with n
// requests and a configured share p, the observed share must be within
// z·sqrt(p(1−p)/n) (+ 1/2n) of p; z = 3.29 makes a correct fault fail only
// once in a thousand runs.
func Fault(ctx context.Context, o FaultOptions) (*evidence.Record, error) {
	if o.AbortPercent <= 0 && o.DelayPercent <= 0 {
		return nil, errors.New("give the configured fault: --abort-percent and/or --delay-percent with --delay")
	}
	if o.AbortPercent < 0 || o.AbortPercent > 100 || o.DelayPercent < 0 || o.DelayPercent > 100 {
		return nil, errors.New("fault percentages must be within 0–100")
	}
	if o.DelayPercent > 0 && o.Delay <= 0 {
		return nil, errors.New("--delay-percent needs --delay (the configured fixed delay)")
	}
	if o.AbortStatus == 0 {
		o.AbortStatus = http.StatusServiceUnavailable
	}
	if o.Z <= 0 {
		o.Z = 3.29
	}
	if o.Delay > 0 {
		// A delayed request takes at least the delay; 90% of it leaves room
		// for timer granularity without counting ordinary slow responses.
		o.SlowAt = o.Delay * 9 / 10
	}
	params := planParams(o.Target, o.Plan)
	params["abortPercent"], params["abortStatus"] = o.AbortPercent, o.AbortStatus
	if o.DelayPercent > 0 {
		params["delayPercent"], params["delay"] = o.DelayPercent, o.Delay.String()
	}
	rec := newRecord(evidence.KindFault, o.URL, params)
	run, err := RunLoad(ctx, o.Target, o.Plan)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	n := run.Requests
	fr := &evidence.FaultResults{AbortStatus: o.AbortStatus, Z: o.Z, Confidence: confidence(o.Z)}
	rec.Results.Fault = fr
	if o.AbortPercent > 0 {
		p := o.AbortPercent / 100
		fr.ExpectedAbortRate = p
		if n > 0 {
			fr.ObservedAbortRate = float64(run.Codes[o.AbortStatus]) / float64(n)
		}
		fr.AbortTolerance = binomialTolerance(p, n, o.Z)
		rec.Reasons = append(rec.Reasons, reason(math.Abs(fr.ObservedAbortRate-p) <= fr.AbortTolerance,
			"abort rate: observed %.3f%% HTTP %d vs %.3f%% configured (tolerance ±%.3f%% at %.1f%% confidence over %d requests)",
			100*fr.ObservedAbortRate, o.AbortStatus, 100*p, 100*fr.AbortTolerance, 100*fr.Confidence, n))
		other := run.Errors - run.Codes[o.AbortStatus]
		rec.Reasons = append(rec.Reasons, reason(float64(other) <= max(1, o.Thresholds.ErrorRate*float64(n)),
			"%d errors other than the injected HTTP %d (limit %.3f%%)", other, o.AbortStatus, 100*o.Thresholds.ErrorRate))
	}
	if o.DelayPercent > 0 {
		p := o.DelayPercent / 100
		fr.DelayMs = ms(o.Delay)
		fr.ExpectedDelayRate = p
		// Aborted requests are answered at once, without the delay.
		base := n - run.Codes[o.AbortStatus]
		if o.AbortPercent <= 0 {
			base = n
		}
		if base > 0 {
			fr.ObservedDelayRate = float64(run.Slow) / float64(base)
		}
		fr.DelayTolerance = binomialTolerance(p, base, o.Z)
		rec.Reasons = append(rec.Reasons, reason(math.Abs(fr.ObservedDelayRate-p) <= fr.DelayTolerance,
			"delay rate: %.3f%% of %d responses took ≥ %s vs %.3f%% configured (tolerance ±%.3f%%)",
			100*fr.ObservedDelayRate, base, o.SlowAt, 100*p, 100*fr.DelayTolerance))
	}
	rec.Reasons = append(rec.Reasons, reason(n >= 100, "%d requests (at least 100 for a meaningful rate)", n))
	return finish(rec, run.Interrupted), nil
}

func confidence(z float64) float64 { return math.Erf(z / math.Sqrt2) }

// RecoveryOptions configure `probe recovery`.
type RecoveryOptions struct {
	Common
	Target
	Plan // Window default 1s
	// Apply and Restore, when set, inject the fault at ApplyAt and remove it
	// at RestoreAt (offsets into the run). Without them the fault is applied
	// and removed by hand during the run.
	Apply, Restore     func(ctx context.Context) error
	ApplyAt, RestoreAt time.Duration
	// Description of the commands, for the record.
	ApplyDesc, RestoreDesc string
}

// ShellCommand runs a command line with sh -c (for --apply-cmd / --restore-cmd).
func ShellCommand(line string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", line, err, trimOutput(out))
		}
		return nil
	}
}

func trimOutput(b []byte) string {
	if len(b) > 300 {
		b = b[len(b)-300:]
	}
	return string(b)
}

// Recovery sends a steady load through a fault and its removal and measures
// how long the error rate takes to return to its baseline after the fault
// ends. Baseline: the windows before the first faulty one (a window is
// faulty when its error rate exceeds baseline + the SLO's error rate). Fault
// end: when the restore command returned, or else the end of the last
// window at half the peak error rate or more. Recovered: from the first
// window after the fault end from which every window is back within
// baseline + the SLO's error rate.
func Recovery(ctx context.Context, o RecoveryOptions) (*evidence.Record, error) {
	if o.Window <= 0 {
		o.Window = time.Second
	}
	if o.Restore != nil && o.RestoreAt <= o.ApplyAt {
		return nil, errors.New("the restore must come after the apply (--restore-after > --apply-after)")
	}
	params := planParams(o.Target, o.Plan)
	params["window"] = o.Window.String()
	if o.ApplyDesc != "" {
		params["applyCmd"], params["applyAfter"] = o.ApplyDesc, o.ApplyAt.String()
	}
	if o.RestoreDesc != "" {
		params["restoreCmd"], params["restoreAfter"] = o.RestoreDesc, o.RestoreAt.String()
	}
	rec := newRecord(evidence.KindRecovery, o.URL, params)
	p := o.Plan
	if o.Apply != nil {
		p.At = append(p.At, Timed{Offset: o.ApplyAt, Name: "apply", Fn: o.Apply})
	}
	if o.Restore != nil {
		p.At = append(p.At, Timed{Offset: o.RestoreAt, Name: "restore", Fn: o.Restore})
	}
	run, err := RunLoad(ctx, o.Target, p)
	if err != nil {
		return nil, err
	}
	run.fill(&rec.Results)
	rr := &evidence.RecoveryResults{ThresholdSeconds: o.Thresholds.RecoverySeconds}
	rec.Results.Recovery = rr
	rates := make([]float64, len(run.Windows))
	for i, w := range run.Windows {
		if w.Requests > 0 {
			rates[i] = float64(w.Errors) / float64(w.Requests)
		}
		rec.Results.Windows = append(rec.Results.Windows, evidence.Window{
			StartOffsetS: (time.Duration(i) * o.Window).Seconds(), Requests: w.Requests, Errors: w.Errors, ErrorRate: rates[i], P99Ms: ms(w.Hist.Quantile(99)),
		})
	}
	for name, msg := range run.EventErrors {
		rec.Reasons = append(rec.Reasons, reason(false, "the %s command failed: %s", name, msg))
	}
	limit := o.Thresholds.ErrorRate
	// Baseline: windows before the first one above the SLO's error rate.
	first := -1
	for i, r := range rates {
		if r > limit {
			first = i
			break
		}
	}
	var be, br int64
	for i := 0; i < first; i++ {
		be += run.Windows[i].Errors
		br += run.Windows[i].Requests
	}
	if br > 0 {
		rr.BaselineErrorRate = float64(be) / float64(br)
	}
	tol := rr.BaselineErrorRate + limit
	peak, peakAt := 0.0, -1
	for i, r := range rates {
		if r > peak {
			peak, peakAt = r, i
		}
	}
	rr.PeakErrorRate = peak
	rr.FaultObserved = first >= 0 && peak > tol
	if !rr.FaultObserved {
		rec.Reasons = append(rec.Reasons, reason(false, "no fault was observed: no window's error rate exceeded %.3f%% (apply the fault during the run, or give --apply-cmd)", 100*tol))
		return finish(rec, run.Interrupted), nil
	}
	endOff := time.Duration(-1)
	if at, ok := run.Events["restore"]; ok {
		endOff, rr.FaultEndFrom = at, "the restore command returned"
	} else {
		last := peakAt
		for i := peakAt; i < len(rates); i++ {
			if rates[i] >= peak/2 {
				last = i
			}
		}
		endOff, rr.FaultEndFrom = time.Duration(last+1)*o.Window, "end of the last window at half the peak error rate or more"
	}
	rr.FaultEndOffsetS = endOff.Seconds()
	// Recovered from the first window (starting at or after the fault's
	// window) from which every later window is within tolerance.
	from := int(endOff / o.Window)
	calm := -1
	for i := len(rates) - 1; i >= from && i >= 0; i-- {
		if rates[i] > tol || run.Windows[i].Requests == 0 {
			break
		}
		calm = i
	}
	// At least two windows of calm, so that one lucky window is not taken for recovery.
	if calm >= 0 && len(rates)-calm >= 2 {
		rr.Recovered = true
		at := time.Duration(calm) * o.Window
		if at < endOff {
			at = endOff
		}
		rr.RecoveredOffsetS = at.Seconds()
		rr.RecoverySeconds = (at - endOff).Seconds()
	}
	rec.Reasons = append(rec.Reasons,
		reason(true, "fault observed: peak error rate %.2f%% against a baseline of %.3f%%", 100*peak, 100*rr.BaselineErrorRate),
		reason(rr.Recovered, "error rate back within %.3f%% (baseline + SLO) and stayed there until the end of the run", 100*tol))
	if rr.Recovered {
		rec.Reasons = append(rec.Reasons, reason(rr.RecoverySeconds <= o.Thresholds.RecoverySeconds,
			"recovered %.1f s after the fault ended (%s; limit %.0f s)", rr.RecoverySeconds, rr.FaultEndFrom, o.Thresholds.RecoverySeconds))
	}
	return finish(rec, run.Interrupted), nil
}
