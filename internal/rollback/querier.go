package rollback

import (
	"context"
	"errors"
	"fmt"
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
// timeouts, classified errors, and a record of every query: the same
// Prometheus access as `meshready check`) to Querier. A `for` window is one
// range query (telemetry.Client.Range), as Prometheus evaluates it.
func FromTelemetry(c *telemetry.Client) Querier { return &telemetryQuerier{c: c} }

type telemetryQuerier struct {
	c *telemetry.Client
}

func (q *telemetryQuerier) Query(ctx context.Context, expr string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	vec, err := q.c.InstantAt(ctx, expr, ts)
	if err != nil {
		return nil, nil, nil, err
	}
	return vec, nil, nil, nil
}

func (q *telemetryQuerier) QueryRange(ctx context.Context, expr string, r v1.Range, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	m, err := q.c.Range(ctx, expr, r.Start, r.End, r.Step)
	if err != nil {
		return nil, nil, nil, err
	}
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
