// Package rollback makes the checklist's rollback section operational:
// it evaluates the config's rollback triggers against Prometheus (roll
// back now or hold), and derives from a snapshot the ordered steps that
// roll the mesh back, each with the command that verifies it.
package rollback

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/telemetry"
)

// Verdict of one trigger, or of all of them.
type Verdict string

const (
	Hold     Verdict = "hold"      // the condition does not hold now
	Pending  Verdict = "pending"   // it holds now, not yet for the trigger's whole `for`
	NoData   Verdict = "no-data"   // the query returned no series: as for an alert rule, nothing fires
	RollBack Verdict = "roll-back" // it holds (over the whole `for` window)
	Failed   Verdict = "error"     // Prometheus could not answer
)

// Result is one trigger's evaluation, with what a reader needs to rerun it.
type Result struct {
	Trigger config.Trigger
	Verdict Verdict
	// Value is the current value of the deciding series (the one that fires,
	// else the one closest to firing); Series names it when the query
	// returned several. HasValue is false for no-data and errors.
	Value    float64
	HasValue bool
	Series   string
	// Of a `for` window: the step of the range query, the points it should
	// have, and how long the condition has held up to now.
	Step   time.Duration
	Points int
	Held   time.Duration
	// Warnings Prometheus returned with the answer.
	Warnings []string
	Err      error
	// Message says why, in one line.
	Message string
}

// Report is the evaluation of every trigger at one time.
type Report struct {
	Prometheus string
	Time       time.Time
	Results    []Result
	Verdict    Verdict // RollBack if any fired; else Failed if any errored; else Hold
}

// Options of Evaluate.
type Options struct {
	Prometheus string    // the URL, for messages
	Now        time.Time // zero: time.Now()
	// Step of the range query that checks a `for` window; zero: the window
	// divided in 30, at least 15s (Prometheus' usual evaluation interval).
	Step time.Duration
}

// Fired reports whether the value satisfies "value <op> threshold".
// NaN never does, as in PromQL.
func Fired(op string, value, threshold float64) bool {
	if math.IsNaN(value) {
		return false
	}
	switch op {
	case ">":
		return value > threshold
	case ">=":
		return value >= threshold
	case "<":
		return value < threshold
	case "<=":
		return value <= threshold
	case "==":
		return value == threshold
	case "!=":
		return value != threshold
	}
	return false
}

// StepFor returns the range-query step for a `for` window.
func StepFor(window, step time.Duration) time.Duration {
	if step > 0 {
		return step
	}
	s := (window / 30).Truncate(time.Second)
	if s < 15*time.Second {
		s = 15 * time.Second
	}
	return s
}

// Evaluate evaluates every trigger at one time. A trigger holds "now" when
// an instant query of its query, compared in Go with the threshold, fires;
// with a `for`, a range query over [now-for, now] must fire at every step.
// The overall verdict is RollBack if any trigger fired (a known roll-back
// signal is never hidden by another trigger's error), else Failed if any
// could not be evaluated, else Hold.
func Evaluate(ctx context.Context, q Querier, triggers []config.Trigger, o Options) *Report {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.Truncate(time.Millisecond)
	r := &Report{Prometheus: o.Prometheus, Time: now, Verdict: Hold}
	failed := false
	for _, t := range triggers {
		res := evaluate(ctx, q, t, now, o)
		switch res.Verdict {
		case RollBack:
			r.Verdict = RollBack
		case Failed:
			failed = true
		}
		r.Results = append(r.Results, res)
	}
	if failed && r.Verdict != RollBack {
		r.Verdict = Failed
	}
	return r
}

func evaluate(ctx context.Context, q Querier, t config.Trigger, now time.Time, o Options) Result {
	res := Result{Trigger: t}
	fail := func(err error) Result {
		res.Verdict, res.Err, res.Message = Failed, err, explain(o.Prometheus, err)
		return res
	}
	val, warns, _, err := q.Query(ctx, t.Query, now)
	res.Warnings = append(res.Warnings, warns...)
	if err != nil {
		return fail(err)
	}
	series, err := instantSeries(val)
	if err != nil {
		return fail(err)
	}
	if len(series) == 0 {
		res.Verdict = NoData
		res.Message = "the query returned no series: nothing to compare (as with an alert rule, no series fires nothing; add `or vector(0)` if absence must count)"
		return res
	}
	// The deciding series: one that fires, else the one closest to firing
	// (among several that fire, the furthest past the threshold).
	best := 0
	for i := 1; i < len(series); i++ {
		fi, fb := Fired(t.Op, series[i].v, t.Threshold), Fired(t.Op, series[best].v, t.Threshold)
		if (fi && !fb) || (fi == fb && closer(t.Op, series[i].v, series[best].v)) {
			best = i
		}
	}
	res.Value, res.HasValue = series[best].v, true
	if len(series) > 1 {
		res.Series = series[best].labels
	}
	cond := fmt.Sprintf("%s %s %s", FormatValue(res.Value), t.Op, FormatValue(t.Threshold))
	if !Fired(t.Op, res.Value, t.Threshold) {
		res.Verdict = Hold
		res.Message = "not " + cond
		return res
	}
	window := t.For.D()
	if window <= 0 {
		res.Verdict = RollBack
		res.Message = cond
		return res
	}

	// The condition holds now; it must have held at every step of the window.
	step := StepFor(window, o.Step)
	res.Step = step
	res.Points = int(window/step) + 1
	start := now.Add(-window)
	val, warns, _, err = q.QueryRange(ctx, t.Query, v1.Range{Start: start, End: now, Step: step})
	res.Warnings = append(res.Warnings, warns...)
	if err != nil {
		return fail(err)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		return fail(fmt.Errorf("range query returned a %s, not a matrix", val.Type()))
	}
	var held time.Duration
	for _, s := range m {
		h, whole := heldFor(s.Values, t, start, step, res.Points)
		if whole {
			res.Verdict = RollBack
			res.Held = window
			if len(m) > 1 {
				res.Series = s.Metric.String()
			}
			res.Message = fmt.Sprintf("%s, at every %s step for %s", cond, step, fmtDuration(window))
			return res
		}
		if h > held {
			held = h
		}
	}
	res.Verdict = Pending
	res.Held = held
	res.Message = fmt.Sprintf("%s now, but held only %s of %s", cond, held, fmtDuration(window))
	return res
}

// heldFor returns how long the condition has held up to the window's last
// step, and whether it held at every one of the window's points. A missing
// point (the series was absent) breaks the run, as it resets a pending alert.
func heldFor(vals []model.SamplePair, t config.Trigger, start time.Time, step time.Duration, points int) (time.Duration, bool) {
	at := map[int]float64{}
	for _, p := range vals {
		off := p.Timestamp.Time().Sub(start)
		i := int((off + step/2) / step)
		at[i] = float64(p.Value)
	}
	run := 0
	for i := points - 1; i >= 0; i-- {
		v, ok := at[i]
		if !ok || !Fired(t.Op, v, t.Threshold) {
			break
		}
		run++
	}
	if run == 0 {
		return 0, false
	}
	return time.Duration(run-1) * step, run == points
}

type sample struct {
	labels string
	v      float64
}

func instantSeries(v model.Value) ([]sample, error) {
	switch x := v.(type) {
	case model.Vector:
		out := make([]sample, 0, len(x))
		for _, s := range x {
			out = append(out, sample{s.Metric.String(), float64(s.Value)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
		return out, nil
	case *model.Scalar:
		return []sample{{"", float64(x.Value)}}, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("the query returned a %s; a trigger needs an instant vector or a scalar", v.Type())
}

// closer reports whether a is nearer to firing than b for op.
func closer(op string, a, b float64) bool {
	if math.IsNaN(b) {
		return !math.IsNaN(a)
	}
	switch op {
	case ">", ">=":
		return a > b
	case "<", "<=":
		return a < b
	}
	return false
}

// FormatValue prints a sample value as Prometheus does.
func FormatValue(v float64) string { return telemetry.FormatExact(v) }
