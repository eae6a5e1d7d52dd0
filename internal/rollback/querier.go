package rollback

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/telemetry"
)

// Querier is the part of the Prometheus HTTP API that triggers use.
// prometheus/v1.API implements it; FromTelemetry adapts the client that
// `meshready check --prometheus` uses.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// FromTelemetry adapts a telemetry.Client (credentials, custom CA,
// timeouts, classified errors: the same Prometheus access as `meshready
// check`) to Querier.
//
// MERGE NOTE: telemetry.Client has no range query. Until it has one, a
// `for` window is evaluated here as one instant query per step, which is
// what Prometheus does server-side for /api/v1/query_range (same lookback,
// same step alignment); only the number of requests differs. Once
// telemetry offers a range query, call it from QueryRange.
func FromTelemetry(c *telemetry.Client) Querier { return &telemetryQuerier{c: c, parallel: 8} }

type telemetryQuerier struct {
	c        *telemetry.Client
	parallel int
}

func (q *telemetryQuerier) Query(ctx context.Context, expr string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	vec, err := q.c.InstantAt(ctx, expr, ts)
	if err != nil {
		return nil, nil, nil, err
	}
	return vec, nil, nil, nil
}

func (q *telemetryQuerier) QueryRange(ctx context.Context, expr string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	if r.Step <= 0 || r.End.Before(r.Start) {
		return nil, nil, nil, fmt.Errorf("invalid range [%s, %s] step %s", r.Start, r.End, r.Step)
	}
	var times []time.Time
	for t := r.Start; !t.After(r.End); t = t.Add(r.Step) {
		times = append(times, t)
	}
	vecs := make([]model.Vector, len(times))
	errs := make([]error, len(times))
	sem := make(chan struct{}, q.parallel)
	var wg sync.WaitGroup
	for i, t := range times {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			vecs[i], errs[i] = q.c.InstantAt(ctx, expr, t)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, nil, err // the first; a failing Prometheus fails them all alike
		}
	}
	series := map[model.Fingerprint]*model.SampleStream{}
	for i, vec := range vecs {
		ts := model.TimeFromUnixNano(times[i].UnixNano())
		for _, s := range vec {
			fp := s.Metric.Fingerprint()
			ss := series[fp]
			if ss == nil {
				ss = &model.SampleStream{Metric: s.Metric}
				series[fp] = ss
			}
			ss.Values = append(ss.Values, model.SamplePair{Timestamp: ts, Value: s.Value})
		}
	}
	m := make(model.Matrix, 0, len(series))
	for _, ss := range series {
		m = append(m, ss)
	}
	sort.Sort(m)
	return m, nil, nil, nil
}

// explain turns a query error into one clear sentence and its fix.
func explain(address string, err error) string {
	var te *telemetry.Error
	if errors.As(err, &te) {
		if te.Fix != "" {
			return te.Message() + "; fix: " + te.Fix
		}
		return te.Message()
	}
	var ae *v1.Error
	if errors.As(err, &ae) && (ae.Type == v1.ErrBadData || ae.Type == v1.ErrExec) {
		return fmt.Sprintf("Prometheus at %s rejected the query: %s", address, ae.Msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("Prometheus at %s did not answer in time", address)
	}
	return fmt.Sprintf("Prometheus at %s: %v", address, err)
}
