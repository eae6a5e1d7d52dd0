package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fortioResult is the part of fortio's JSON result (HTTPRunnerResults or
// GRPCRunnerResults, as written by `fortio load -json FILE` or the fortio UI)
// that meshready reads.
type fortioResult struct {
	RunType                 string
	Labels                  string
	StartTime               time.Time
	RequestedQPS            string
	RequestedDuration       string
	ActualQPS               float64
	ActualDuration          int64 // nanoseconds
	NumThreads              int
	Version                 string
	DurationHistogram       *fortioHistogram
	ErrorsDurationHistogram *fortioHistogram
	RetCodes                map[string]int64
	URL                     string
	Destination             string
}

type fortioHistogram struct {
	Count int64
	Min   float64
	Max   float64
	Sum   float64
	Avg   float64
	Data  []struct {
		Start, End float64
		Percent    float64
		Count      int64
	}
	Percentiles []struct {
		Percentile float64
		Value      float64
	}
}

// Limits are the pass criteria applied to an imported load run.
type Limits struct {
	ErrorRate float64 // highest acceptable error share
	P99Ms     float64 // highest acceptable p99 latency, ms (0: not checked)
}

// ImportFortio turns a fortio JSON result into a load record judged against
// limits. Fortio's latencies are in seconds in its DurationHistogram; its
// percentiles are taken when it computed them (it does for 50, 75, 90, 99,
// 99.9 by default) and interpolated from its histogram buckets otherwise.
// Note that fortio's runner measures latency from the actual send time, not
// the intended one, so under overload its percentiles understate the
// latency users see (coordinated omission); the record says so.
func ImportFortio(data []byte, lim Limits) (*Record, error) {
	var fr fortioResult
	if err := json.Unmarshal(data, &fr); err != nil {
		return nil, fmt.Errorf("not a fortio JSON result: %w", err)
	}
	if fr.DurationHistogram == nil || fr.RunType == "" {
		return nil, errors.New("not a fortio JSON result: no RunType or DurationHistogram (write one with `fortio load -json result.json ...`)")
	}
	h := fr.DurationHistogram
	target := fr.URL
	if target == "" {
		target = fr.Destination
	}
	dur := time.Duration(fr.ActualDuration)
	rec := &Record{
		SchemaVersion: SchemaVersion,
		Kind:          KindLoad,
		Target:        target,
		Source:        "fortio",
		Start:         fr.StartTime,
		End:           fr.StartTime.Add(dur),
		Parameters: map[string]any{
			"runType":           fr.RunType,
			"requestedQPS":      fr.RequestedQPS,
			"requestedDuration": fr.RequestedDuration,
			"connections":       fr.NumThreads,
			"fortioVersion":     fr.Version,
			"labels":            fr.Labels,
			"latencyFrom":       "actual send time (fortio; not corrected for coordinated omission)",
		},
	}
	if q, err := strconv.ParseFloat(fr.RequestedQPS, 64); err == nil {
		rec.Parameters["qps"] = q
	}
	res := &rec.Results
	res.Requests = h.Count
	res.AchievedQPS = fr.ActualQPS
	res.StatusCodes = map[string]int64{}
	var ok int64
	for code, n := range fr.RetCodes {
		res.StatusCodes[code] = n
		if c, err := strconv.Atoi(code); err == nil {
			if c >= 200 && c < 400 {
				ok += n
			}
			if c < 0 {
				res.TransportErrors += n
			}
		} else if code == "SERVING" || code == "OK" {
			ok += n
		}
	}
	switch {
	case fr.ErrorsDurationHistogram != nil:
		res.Errors = fr.ErrorsDurationHistogram.Count
	case len(fr.RetCodes) > 0:
		res.Errors = h.Count - ok
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
	}
	pct := func(p float64) float64 { return 1000 * h.percentile(p) }
	res.LatencyMs = &Latency{P50: pct(50), P90: pct(90), P99: pct(99), P999: pct(99.9), Min: 1000 * h.Min, Mean: 1000 * h.Avg, Max: 1000 * h.Max}
	for _, p := range CurvePercentiles {
		res.LatencyCurve = append(res.LatencyCurve, CurvePoint{Percentile: p, Ms: pct(p)})
	}
	JudgeLoad(rec, lim)
	return rec, nil
}

// CurvePercentiles are the points of a latency curve.
var CurvePercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100}

// percentile returns fortio's value for p when it computed it, else an
// interpolation in its buckets (as fortio itself does), in seconds.
func (h *fortioHistogram) percentile(p float64) float64 {
	for _, pp := range h.Percentiles {
		if math.Abs(pp.Percentile-p) < 1e-9 {
			return pp.Value
		}
	}
	if p <= 0 {
		return h.Min
	}
	if p >= 100 || len(h.Data) == 0 {
		return h.Max
	}
	data := h.Data
	sort.Slice(data, func(i, j int) bool { return data[i].Start < data[j].Start })
	prev := 0.0
	for _, b := range data {
		if b.Percent >= p {
			lo, hi := math.Max(b.Start, h.Min), math.Min(b.End, h.Max)
			if b.Percent == prev {
				return hi
			}
			return lo + (hi-lo)*(p-prev)/(b.Percent-prev)
		}
		prev = b.Percent
	}
	return h.Max
}

// JudgeLoad sets a load record's verdict and reasons from its error rate
// and p99 against limits (the added latency when it has a baseline is
// judged by the caller, who knows those thresholds).
func JudgeLoad(rec *Record, lim Limits) {
	r := &rec.Results
	var rs []Reason
	rs = append(rs, Reason{OK: r.Requests > 0, Message: fmt.Sprintf("%d requests completed", r.Requests)})
	rs = append(rs, Reason{OK: r.ErrorRate <= lim.ErrorRate, Message: fmt.Sprintf("error rate %.4f%% (limit %.4f%%)", 100*r.ErrorRate, 100*lim.ErrorRate)})
	if lim.P99Ms > 0 && r.LatencyMs != nil {
		rs = append(rs, Reason{OK: r.LatencyMs.P99 <= lim.P99Ms, Message: fmt.Sprintf("p99 latency %.3f ms (limit %.0f ms)", r.LatencyMs.P99, lim.P99Ms)})
	}
	rec.Reasons = append(rec.Reasons, rs...)
	rec.Verdict = VerdictOf(rec.Reasons)
}

// VerdictOf is pass when every reason is met.
func VerdictOf(rs []Reason) string {
	if len(rs) == 0 {
		return Fail
	}
	for _, r := range rs {
		if !r.OK {
			return Fail
		}
	}
	return Pass
}

// FailedReasons joins the unmet reasons.
func (r *Record) FailedReasons() string {
	var out []string
	for _, x := range r.Reasons {
		if !x.OK {
			out = append(out, x.Message)
		}
	}
	return strings.Join(out, "; ")
}
