package meshtel

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
)

// This file holds the views over the window of a recorded probe run (a
// load run, a fault, a recovery): each query is evaluated at the window's
// end with a range selector as long as the window, so Prometheus answers
// for exactly that stretch of time however long ago it was.

// Span is a stretch of time: a probe run's window or a part of it.
type Span struct{ From, To time.Time }

// Secs is the span's length in whole seconds (at least 1), the range of its selectors.
func (s Span) Secs() int { return max(1, int(math.Ceil(s.To.Sub(s.From).Seconds()))) }

// String is "2026-11-27T11:00:00Z – 2026-11-27T11:10:00Z (10m0s)".
func (s Span) String() string {
	return fmt.Sprintf("%s – %s (%s)", s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339), s.To.Sub(s.From).Round(time.Second))
}

// Evidence is a query's evidence for a finding, evaluated at the span's end.
func (s Span) Evidence(cl *telemetry.Client, expr, value string) report.Query {
	q := cl.Query(expr, value)
	q.Time = s.To.UTC().Format(time.RFC3339Nano)
	return q
}

// Flow is one service's requests over a span, by reporter.
type Flow struct {
	Requests map[string]float64 // increase of istio_requests_total
	Errors   map[string]float64 // of which 5xx
	P99      map[string]float64 // ms; absent when no request completed
}

// Reporter is the view to judge by: the callers' proxies ("source") when
// they report, since they also see the 503s they answer themselves
// (injected aborts, circuit-breaker overflow) that never reach the server;
// else the server's own proxy.
func (f *Flow) Reporter() string {
	if f.Requests["source"] > 0 {
		return "source"
	}
	return "destination"
}

// ErrorShare is the 5xx share in the reporter's view (NaN without requests).
func (f *Flow) ErrorShare() float64 {
	r := f.Reporter()
	if f.Requests[r] <= 0 {
		return math.NaN()
	}
	return f.Errors[r] / f.Requests[r]
}

// Served is the number of requests the service's own proxies reported
// (else its callers').
func (f *Flow) Served() float64 {
	if n := f.Requests["destination"]; n > 0 {
		return n
	}
	return f.Requests["source"]
}

// TrafficView is what Prometheus holds for a span: the critical services'
// requests, 5xx and p99, the requests the ingress gateways sent, and
// whether Prometheus holds any sample at all in the span (runs older than
// its retention leave nothing).
type TrafficView struct {
	Span                                                       Span
	RequestsExpr, ErrorsExpr, LatencyExpr, GatewayExpr, UpExpr string
	RequestsErr, ErrorsErr, LatencyErr, GatewayErr, UpErr      error
	By                                                         map[Key]*Flow
	Gateways                                                   map[string]float64 // "namespace/workload": requests sent
	Samples                                                    float64            // samples of `up` in the span
}

// Err is the first error of the view's queries.
func (v *TrafficView) Err() error {
	for _, e := range []error{v.UpErr, v.RequestsErr, v.ErrorsErr, v.LatencyErr, v.GatewayErr} {
		if e != nil {
			return e
		}
	}
	return nil
}

// GatewayTotal is the requests all the ingress gateways sent in the span.
func (v *TrafficView) GatewayTotal() float64 {
	t := 0.0
	for _, n := range v.Gateways {
		t += n
	}
	return t
}

// Traffic returns the critical services' traffic over a span, and that of
// the ingress gateway workloads named "namespace/name" (none: not asked).
// latency adds the p99 query. Each span is queried once per run.
func Traffic(c *check.Context, cl *telemetry.Client, s Span, gateways []string, latency bool) *TrafficView {
	cr := criticalOf(c)
	key := fmt.Sprintf("view:traffic\x00%d\x00%d\x00%s\x00%t", s.From.UnixMilli(), s.To.UnixMilli(), strings.Join(gateways, ","), latency)
	return memo(cl, key, func() *TrafficView { return trafficView(cl, cr, s, gateways, latency) })
}

func trafficView(cl *telemetry.Client, cr *critical, s Span, gateways []string, latency bool) *TrafficView {
	ns := cr.ns["destination_service_namespace"]
	by := "destination_service_namespace, destination_service_name, reporter"
	rng := fmt.Sprintf("[%ds]", s.Secs())
	v := &TrafficView{
		Span:         s,
		RequestsExpr: fmt.Sprintf(`sum by (%s) (increase(istio_requests_total%s%s))`, by, sel(ns, cr.names), rng),
		ErrorsExpr:   fmt.Sprintf(`sum by (%s) (increase(istio_requests_total%s%s))`, by, sel(ns, cr.names, `response_code=~"5.."`), rng),
		UpExpr:       fmt.Sprintf(`sum(count_over_time(up%s))`, rng),
		By:           map[Key]*Flow{},
		Gateways:     map[string]float64{},
	}
	if latency {
		v.LatencyExpr = fmt.Sprintf(`histogram_quantile(0.99, sum by (%s, le) (increase(istio_request_duration_milliseconds_bucket%s%s)))`, by, sel(ns, cr.names), rng)
	}
	if len(gateways) > 0 {
		var names, nss []string
		for _, g := range gateways {
			n, w, _ := strings.Cut(g, "/")
			names, nss = appendNew(names, w), appendNew(nss, n)
		}
		v.GatewayExpr = fmt.Sprintf(`sum by (source_workload_namespace, source_workload) (increase(istio_requests_total{reporter="source", source_workload_namespace=~"%s", source_workload=~"%s"}%s))`,
			strings.Join(nss, "|"), strings.Join(names, "|"), rng)
	}
	var req, errs, p99, gw, up model.Vector
	fns := []func(){
		func() { req, v.RequestsErr = cl.InstantAt(bg, v.RequestsExpr, s.To) },
		func() { errs, v.ErrorsErr = cl.InstantAt(bg, v.ErrorsExpr, s.To) },
		func() { up, v.UpErr = cl.InstantAt(bg, v.UpExpr, s.To) },
	}
	if v.LatencyExpr != "" {
		fns = append(fns, func() { p99, v.LatencyErr = cl.InstantAt(bg, v.LatencyExpr, s.To) })
	}
	if v.GatewayExpr != "" {
		fns = append(fns, func() { gw, v.GatewayErr = cl.InstantAt(bg, v.GatewayExpr, s.To) })
	}
	parallel(fns...)
	get := func(smp *model.Sample) *Flow {
		k := Key{label(smp, "destination_service_namespace"), label(smp, "destination_service_name")}
		f := v.By[k]
		if f == nil {
			f = &Flow{Requests: map[string]float64{}, Errors: map[string]float64{}, P99: map[string]float64{}}
			v.By[k] = f
		}
		return f
	}
	for _, smp := range req {
		get(smp).Requests[label(smp, "reporter")] += float64(smp.Value)
	}
	for _, smp := range errs {
		get(smp).Errors[label(smp, "reporter")] += float64(smp.Value)
	}
	for _, smp := range p99 {
		if x := float64(smp.Value); !math.IsNaN(x) {
			get(smp).P99[label(smp, "reporter")] = x
		}
	}
	for _, smp := range gw {
		v.Gateways[label(smp, "source_workload_namespace")+"/"+label(smp, "source_workload")] += float64(smp.Value)
	}
	for _, smp := range up {
		v.Samples += float64(smp.Value)
	}
	return v
}

func appendNew(xs []string, x string) []string {
	if contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

// Signal is failure requests one reporter recorded for a service: a
// response code and Envoy's response flags (UO overflow, FI/DI injected
// fault, URX retries exhausted, ...).
type Signal struct {
	Service     Key
	Reporter    string
	Code, Flags string
	Count       float64
}

// HasFlag reports whether the signal carries one of the flags (Envoy
// joins several with commas).
func (s Signal) HasFlag(flags ...string) bool {
	for _, f := range strings.Split(s.Flags, ",") {
		for _, want := range flags {
			if f == want {
				return true
			}
		}
	}
	return false
}

// SignalView is every failure signal in the mesh over a span: requests
// answered 5xx, and requests carrying a response flag, by service.
type SignalView struct {
	Span         Span
	Expr, UpExpr string
	Err, UpErr   error
	Signals      []Signal
	Samples      float64
}

// Signals returns the mesh's failure signals over a span (queried once per span).
func Signals(cl *telemetry.Client, s Span) *SignalView {
	rng := fmt.Sprintf("[%ds]", s.Secs())
	by := "destination_service_namespace, destination_service_name, reporter, response_code, response_flags"
	v := &SignalView{
		Span:   s,
		Expr:   fmt.Sprintf(`(sum by (%[1]s) (increase(istio_requests_total{response_code=~"5.."}%[2]s)) or sum by (%[1]s) (increase(istio_requests_total{response_flags!~"-|"}%[2]s))) > 0`, by, rng),
		UpExpr: fmt.Sprintf(`sum(count_over_time(up%s))`, rng),
	}
	return memo(cl, fmt.Sprintf("view:signals\x00%d\x00%d", s.From.UnixMilli(), s.To.UnixMilli()), func() *SignalView {
		var vec, up model.Vector
		parallel(
			func() { vec, v.Err = cl.InstantAt(bg, v.Expr, s.To) },
			func() { up, v.UpErr = cl.InstantAt(bg, v.UpExpr, s.To) },
		)
		for _, smp := range vec {
			v.Signals = append(v.Signals, Signal{
				Service:  Key{label(smp, "destination_service_namespace"), label(smp, "destination_service_name")},
				Reporter: label(smp, "reporter"), Code: label(smp, "response_code"), Flags: label(smp, "response_flags"),
				Count: float64(smp.Value),
			})
		}
		sort.Slice(v.Signals, func(i, j int) bool {
			a, b := v.Signals[i], v.Signals[j]
			if a.Service != b.Service {
				return a.Service.String() < b.Service.String()
			}
			return a.Reporter+a.Code+a.Flags < b.Reporter+b.Code+b.Flags
		})
		for _, smp := range up {
			v.Samples += float64(smp.Value)
		}
		return v
	})
}

// Alert is one alert series: its name and labels (alertstate left out).
type Alert struct {
	Name   string
	Labels map[string]string
}

// ID identifies the alert by all its labels.
func (a Alert) ID() string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(a.Name)
	for _, k := range keys {
		b.WriteString("," + k + "=" + a.Labels[k])
	}
	return b.String()
}

// String is "Name{service=...}" with the labels that say where.
func (a Alert) String() string {
	var where []string
	for _, k := range alertServiceLabels {
		if v := a.Labels[k]; v != "" {
			where = append(where, k+"="+v)
		}
	}
	if len(where) == 0 {
		return a.Name
	}
	return a.Name + "{" + strings.Join(where, ", ") + "}"
}

// alertServiceLabels are the labels by which an alert names the service it is about.
var alertServiceLabels = []string{"destination_service_name", "destination_service", "service", "destination_workload", "workload"}

// About reports whether the alert is about one of the services: it names
// one of them, or names no service at all (a mesh-wide alert).
func (a Alert) About(svcs []Key) bool {
	named := false
	for _, k := range alertServiceLabels {
		v := a.Labels[k]
		if v == "" {
			continue
		}
		named = true
		for _, s := range svcs {
			if v == s.Name || v == s.Name+"."+s.Namespace+".svc.cluster.local" {
				return true
			}
		}
	}
	return !named
}

// AlertsView is the alerts that were firing during a span (ALERTS).
type AlertsView struct {
	Span   Span
	Expr   string
	Err    error
	Alerts []Alert
}

// FiringDuring returns the alerts firing at any time in the span.
func FiringDuring(cl *telemetry.Client, s Span) *AlertsView {
	expr := fmt.Sprintf(`max_over_time(ALERTS{alertstate="firing"}[%ds])`, s.Secs())
	return alertsAt(cl, s, expr)
}

// FiringAt returns the alerts firing at one instant.
func FiringAt(cl *telemetry.Client, at time.Time) *AlertsView {
	return alertsAt(cl, Span{From: at, To: at}, `ALERTS{alertstate="firing"}`)
}

func alertsAt(cl *telemetry.Client, s Span, expr string) *AlertsView {
	return memo(cl, fmt.Sprintf("view:alerts\x00%d\x00%s", s.To.UnixMilli(), expr), func() *AlertsView {
		v := &AlertsView{Span: s, Expr: expr}
		vec, err := cl.InstantAt(bg, expr, s.To)
		v.Err = err
		seen := map[string]bool{}
		for _, smp := range vec {
			a := Alert{Name: label(smp, "alertname"), Labels: map[string]string{}}
			for k, val := range smp.Metric {
				if k != "alertstate" && k != "alertname" && k != model.MetricNameLabel {
					a.Labels[string(k)] = string(val)
				}
			}
			if !seen[a.ID()] {
				seen[a.ID()] = true
				v.Alerts = append(v.Alerts, a)
			}
		}
		sort.Slice(v.Alerts, func(i, j int) bool { return v.Alerts[i].ID() < v.Alerts[j].ID() })
		return v
	})
}

// Names lists the alerts as strings, sorted.
func (v *AlertsView) Names() []string {
	var out []string
	for _, a := range v.Alerts {
		out = append(out, a.String())
	}
	return out
}
