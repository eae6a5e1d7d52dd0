package verification

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// The telemetry parts of simulation.production-load, .failure-scenarios
// and .recovery: Prometheus, over the window of the very record the probe
// part counted, must confirm what the probe saw from outside.

// minSeenShare is the share of a load run's achieved rate that Prometheus
// must have seen through the ingress gateway or into one critical service.
// The 10% allows for increase()'s extrapolation at the window's edges and
// for the scrape that falls just after the run; a run that bypassed the
// mesh (a port-forward, a pod IP) or proxies nobody scrapes show far less.
const minSeenShare = 0.9

// minJudgedRequests is the number of requests in a run's window below
// which a service's 5xx share and p99 are not judged: one failed request
// out of three says nothing about the production rate.
const minJudgedRequests = 100

// minAffectedRequests is the number of requests during a fault below which
// a service is not taken as hit by it (two failures out of three are noise).
const minAffectedRequests = 10

// minSignalShare is the share of the failures a probe saw that the mesh's
// telemetry must show too; below it (but above zero) the part warns.
const minSignalShare = 0.5

// maxSignalPad is how far past a failure run's end its failure signals are
// counted (at most half the run): the last requests' samples are scraped
// after it ends.
const maxSignalPad = 30 * time.Second

// telemetryEnv is what a simulation telemetry part needs: the Prometheus
// client and the evidence directory (nil env: the part was reported).
func telemetryEnv(c *check.Context) (*telemetry.Client, *env) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return nil, nil
	}
	e := newEnv(c.Config, c.Now)
	if e.listErr != nil {
		c.Error("cannot read the evidence directory %s: %v", e.dir, e.listErr).Fix("make evidenceDir in meshready.yaml point at a readable directory")
		return nil, nil
	}
	return cl, e
}

// passedRecord is the record a passing probe evaluation relied on (nil
// when the evaluation did not pass).
func passedRecord(e *env, res result) *evidence.Record {
	if res.status != report.Pass && res.status != report.Warn {
		return nil
	}
	for _, l := range res.lines {
		if l.status == report.Pass && l.fromRecord != "" {
			for _, r := range e.recs {
				if r.File == l.fromRecord {
					return r
				}
			}
		}
	}
	return nil
}

// whyNoRecord explains, from the probe part's own evaluation, why there
// is no run to confirm: its first line that is not a pass, and its fix.
func whyNoRecord(res result, cmd string) (string, string) {
	for _, l := range res.lines {
		if l.status != report.Pass {
			fix := l.fix
			if fix == "" {
				fix = cmd
			}
			return l.msg, fix
		}
	}
	return "no passing run", cmd
}

// runSpan is a record's window, or false (reported) when it has none.
func runSpan(c *check.Context, r *evidence.Record, cmd string) (meshtel.Span, bool) {
	if r.Start.IsZero() || !r.End.After(r.Start) {
		c.Error("the record %s has no usable start and end, so the window to read from Prometheus is unknown", base(r)).Fix("record the run again: " + cmd)
		return meshtel.Span{}, false
	}
	return meshtel.Span{From: r.Start, To: r.End}, true
}

// noSamples reports a window Prometheus holds nothing for: older than its
// retention, or before it ran. Not a failure: the telemetry cannot say.
func noSamples(c *check.Context, cl *telemetry.Client, s meshtel.Span, upExpr, r, cmd string) {
	c.Pending("Prometheus holds no sample at all for the window of %s, %s: it is older than Prometheus' retention, or Prometheus was not running then, so the telemetry cannot confirm the run", r, s).
		Fix("run the probe again while Prometheus scrapes the mesh, then run meshready check --prometheus within the retention: " + cmd).
		Query(s.Evidence(cl, upExpr, "0 samples"))
}

// ingressGateways are the ingress gateway workloads of the input, as "namespace/name".
func ingressGateways(c *check.Context) []string {
	var out []string
	for _, g := range mesh.GatewayWorkloads(c) {
		if !g.Egress {
			out = append(out, g.Object.Namespace+"/"+g.Object.Name)
		}
	}
	sort.Strings(out)
	return out
}

// productionLoadTelemetry: Prometheus saw the production-rate run the
// probe part counted (at least minSeenShare of its achieved rate through
// the ingress gateways or into one critical service), and over its window
// every critical service that served requests kept its 5xx share and p99
// within thresholds.errorRate and thresholds.p99LatencyMs.
func productionLoadTelemetry(c *check.Context) {
	cl, e := telemetryEnv(c)
	if e == nil {
		return
	}
	res := evalProductionLoad(e)
	r := passedRecord(e, res)
	if r == nil {
		msg, fix := whyNoRecord(res, "meshready probe load --url http://<gateway>/<path> --qps <thresholds.productionRPS> --duration 10m")
		c.Pending("no passing load run at the production rate to confirm in Prometheus (%s)", msg).Fix(fix)
		return
	}
	cmd := fmt.Sprintf("meshready probe load --url http://<gateway>/<path> --qps %.0f --duration 10m", e.cfg.Thresholds.ProductionRPS)
	span, ok := runSpan(c, r, cmd)
	if !ok {
		return
	}
	gws := ingressGateways(c)
	v := meshtel.Traffic(c, cl, span, gws, true)
	if err := v.Err(); err != nil {
		meshtel.Error(c, err, "cannot read the traffic during the load run "+base(r))
		return
	}
	if v.Samples == 0 {
		noSamples(c, cl, span, v.UpExpr, base(r), cmd)
		return
	}
	secs := float64(span.Secs())
	achieved := r.Results.AchievedQPS
	if achieved <= 0 && r.Results.Requests > 0 {
		achieved = float64(r.Results.Requests) / span.To.Sub(span.From).Seconds()
	}
	gwRate := v.GatewayTotal() / secs
	var busiest meshtel.Key
	svcRate := 0.0
	for _, s := range meshtel.Critical(c) {
		k := meshtel.KeyOf(s)
		if f := v.By[k]; f != nil && f.Served()/secs > svcRate {
			busiest, svcRate = k, f.Served()/secs
		}
	}
	seen, where, expr := gwRate, "through the ingress gateway(s) "+strings.Join(gws, ", "), v.GatewayExpr
	if svcRate > gwRate || len(gws) == 0 {
		seen, where, expr = svcRate, "into "+busiest.String()+" (the busiest critical service)", v.RequestsExpr
	}
	gwText := "no ingress gateway workload in the input"
	if len(gws) > 0 {
		gwText = meshtel.Rate(gwRate) + " through the ingress gateway(s) " + strings.Join(gws, ", ")
	}
	svcText := "no request into any critical service"
	if svcRate > 0 {
		svcText = fmt.Sprintf("at most %s into one critical service (%s)", meshtel.Rate(svcRate), busiest)
	}
	val := fmt.Sprintf("%s; %s; over %ds", gwText, svcText, span.Secs())
	run := fmt.Sprintf("the load run %s (%s, %s achieved)", base(r), span, meshtel.Rate(achieved))
	if achieved > 0 && seen < minSeenShare*achieved {
		c.Fail(nil, "Prometheus did not see %s: %s and %s, at best %s of the achieved rate (needs %.0f%%)", run, gwText, svcText, meshtel.Percent(seen/achieved), minSeenShare*100).
			Got("%s", meshtel.Rate(seen)).Want("at least %s", meshtel.Rate(minSeenShare*achieved)).
			Fix("send the load through the mesh (the ingress gateway's URL, not a port-forward or a pod IP), check that Prometheus scrapes the gateway's and the services' proxies (telemetry.prometheus, metrics.proxy), then run again: " + cmd).
			Query(span.Evidence(cl, expr, val))
		return
	}
	c.Pass(nil, "Prometheus saw %s: %s %s (%s of the achieved rate)", run, meshtel.Rate(seen), where, meshtel.Percent(seen/math.Max(achieved, 1e-9))).
		Query(span.Evidence(cl, expr, val))

	th := c.Config.Thresholds
	var within, idle []string
	for _, s := range meshtel.Critical(c) {
		k := meshtel.KeyOf(s)
		f := v.By[k]
		if f == nil || f.Requests[f.Reporter()] < minJudgedRequests {
			idle = append(idle, k.String())
			continue
		}
		rep := f.Reporter()
		share := f.ErrorShare()
		p99, hasP99 := f.P99[rep]
		good := true
		if share > th.ErrorRate {
			good = false
			c.Fail(nil, "during %s, %s answered %s 5xx (as its %s proxies report), above thresholds.errorRate %s", run, k, meshtel.Percent(share), reporterWho(rep), meshtel.Percent(th.ErrorRate)).
				Got("%s", meshtel.Percent(share)).Want("at most %s", meshtel.Percent(th.ErrorRate)).
				Fixf("find the errors at the production rate (kubectl logs of %s, its proxies' response_flags in istio_requests_total: UO overflow means the connection pool is too small for the rate), then run again: %s", s.Name, cmd).
				Query(span.Evidence(cl, v.ErrorsExpr, fmt.Sprintf("%s of %s requests for %s (reporter %s)", telemetry.FormatValue(math.Round(f.Errors[rep])), telemetry.FormatValue(math.Round(f.Requests[rep])), k, rep)))
		}
		if hasP99 && p99 > th.P99LatencyMs {
			good = false
			c.Fail(nil, "during %s, %s's p99 latency was %s ms, above thresholds.p99LatencyMs %s ms", run, k, meshtel.Num(p99), telemetry.FormatValue(th.P99LatencyMs)).
				Got("%s ms", meshtel.Num(p99)).Want("at most %s ms", telemetry.FormatValue(th.P99LatencyMs)).
				Fixf("find what queues at the production rate (replicas and HPA of %s, connection-pool limits in its DestinationRule, CPU throttling), then run again: %s", s.Name, cmd).
				Query(span.Evidence(cl, v.LatencyExpr, fmt.Sprintf("%s ms for %s (reporter %s)", telemetry.FormatValue(p99), k, rep)))
		}
		if good {
			lat := "no completed request in the latency histogram"
			if hasP99 {
				lat = "p99 " + meshtel.Num(p99) + " ms"
			}
			within = append(within, fmt.Sprintf("%s %s 5xx, %s", k, meshtel.Percent(share), lat))
		}
	}
	if len(within) > 0 {
		c.Pass(nil, "over the run's window, within thresholds.errorRate %s and p99LatencyMs %s ms: %s", meshtel.Percent(th.ErrorRate), telemetry.FormatValue(th.P99LatencyMs), meshtel.List(within, 10)).
			Query(span.Evidence(cl, v.ErrorsExpr, meshtel.List(within, 10)))
	}
	if len(idle) > 0 {
		c.Pass(nil, "fewer than %d requests to %s during the run: their 5xx share and latency are not judged by it", minJudgedRequests, meshtel.List(idle, 10))
	}
}

func reporterWho(rep string) string {
	if rep == "source" {
		return "callers'"
	}
	return "own"
}

// failureProbe is one failure scenario and the telemetry that shows it.
type failureProbe struct {
	id     string
	n      need
	signal string                           // what Prometheus must show, for messages
	match  func(s meshtel.Signal) bool      // a series that shows it
	expect func(r *evidence.Record) float64 // how many failures the probe itself saw (0: unknown)
	// alert: an alert on the symptoms must fire. Not for retries: they hide
	// the failures from clients by design, so paging on them is noise.
	alert bool
}

// failureProbes are simulation.failure-scenarios' members (as in specs).
var failureProbes = []failureProbe{
	{id: "resilience.circuit-breaking", n: circuitBreaking, alert: true,
		signal: "circuit-breaker overflow (istio_requests_total with response_flags UO)",
		match:  func(s meshtel.Signal) bool { return s.HasFlag("UO") },
		expect: func(r *evidence.Record) float64 {
			if cb := r.Results.CircuitBreaker; cb != nil {
				return float64(cb.Overflow503)
			}
			return 0
		}},
	{id: "resilience.retries", n: retries,
		signal: "the failed attempts (5xx reported by the servers' proxies, or response_flags URX)",
		match: func(s meshtel.Signal) bool {
			return (s.Reporter == "destination" && strings.HasPrefix(s.Code, "5")) || s.HasFlag("URX")
		},
		expect: func(r *evidence.Record) float64 {
			if rr := r.Results.Retries; rr != nil {
				return float64(rr.Retried)
			}
			return 0
		}},
	{id: "resilience.fault-injection", n: faultInjection, alert: true,
		signal: "the injected fault (istio_requests_total with response_flags FI or DI)",
		match:  func(s meshtel.Signal) bool { return s.HasFlag("FI", "DI") },
		expect: func(r *evidence.Record) float64 {
			if f := r.Results.Fault; f != nil {
				return float64(r.Results.Requests) * (f.ObservedAbortRate + f.ObservedDelayRate)
			}
			return 0
		}},
}

// failureScenariosTelemetry: over the window of each failure probe the
// probe part counted, the mesh's telemetry shows the failure (a fault it
// did not see is a monitoring blind spot: fail), and, for overload and
// injected faults, an alert about the services that failed fired.
func failureScenariosTelemetry(c *check.Context) {
	cl, e := telemetryEnv(c)
	if e == nil {
		return
	}
	relevant := faultAlertNames(cl)
	for _, p := range failureProbes {
		res := p.n.eval(e)
		r := passedRecord(e, res)
		if r == nil {
			msg, fix := whyNoRecord(res, p.n.cmd)
			c.Pending("%s: no passing %s to check in Prometheus (%s)", p.id, p.n.what, msg).Fix(fix)
			continue
		}
		span, ok := runSpan(c, r, p.n.cmd)
		if !ok {
			continue
		}
		pad := min(maxSignalPad, span.To.Sub(span.From)/2)
		padded := meshtel.Span{From: span.From, To: span.To.Add(pad)}
		if now := cl.Time(); padded.To.After(now) {
			padded.To = now
		}
		sv := meshtel.Signals(cl, padded)
		if sv.Err != nil || sv.UpErr != nil {
			meshtel.Error(c, firstErr(sv.Err, sv.UpErr), fmt.Sprintf("%s: cannot read the failures during %s", p.id, base(r)))
			continue
		}
		if sv.Samples == 0 {
			noSamples(c, cl, padded, sv.UpExpr, p.id+"'s run "+base(r), p.n.cmd)
			continue
		}
		seen := 0.0
		var where []meshtel.Key
		var detail []string
		for _, s := range sv.Signals {
			if p.match(s) {
				seen += s.Count
				if !containsKey(where, s.Service) {
					where = append(where, s.Service)
				}
				detail = append(detail, fmt.Sprintf("%s %s %s/%s: %s", s.Service, s.Reporter, s.Code, s.Flags, telemetry.FormatValue(math.Round(s.Count))))
			}
		}
		run := fmt.Sprintf("%s's run %s (%s)", p.id, base(r), span)
		want := p.expect(r)
		val := fmt.Sprintf("%s; the probe saw %s", noneIfEmpty(detail), telemetry.FormatValue(want))
		q := padded.Evidence(cl, sv.Expr, val)
		switch {
		case seen == 0:
			c.Fail(nil, "the mesh's telemetry did not see %s: Prometheus holds no request showing %s, although the probe saw %s failures: a monitoring blind spot", run, p.signal, telemetry.FormatValue(want)).
				Want("%s during the run", p.signal).
				Fix("check that the proxies on the probe's path are scraped (metrics.proxy) and that no Telemetry override drops response_code or response_flags from istio_requests_total; then run again: " + p.n.cmd).
				Query(q)
			continue
		case want > 0 && seen < minSignalShare*want:
			c.Warn(nil, "the mesh's telemetry saw only part of %s: %s requests with %s against %s failures the probe saw (less than %.0f%%)", run, telemetry.FormatValue(math.Round(seen)), p.signal, telemetry.FormatValue(want), minSignalShare*100).
				Got("%s", telemetry.FormatValue(math.Round(seen))).Want("at least %s", telemetry.FormatValue(math.Ceil(minSignalShare*want))).
				Fix("look for proxies on the path that Prometheus does not scrape (metrics.proxy), or a scrape interval longer than the run; run it longer: " + p.n.cmd).
				Query(q)
		default:
			c.Pass(nil, "the mesh's telemetry saw %s: %s requests with %s, at %s", run, telemetry.FormatValue(math.Round(seen)), p.signal, keyList(where)).Query(q)
		}
		if !p.alert {
			continue
		}
		alertSpan := meshtel.Span{From: span.From, To: span.To.Add(alertLinger)}
		if now := cl.Time(); alertSpan.To.After(now) {
			alertSpan.To = now
		}
		av := meshtel.FiringDuring(cl, alertSpan)
		if av.Err != nil {
			meshtel.Error(c, av.Err, p.id+": cannot read ALERTS for "+base(r))
			continue
		}
		var fired []string
		for _, a := range av.Alerts {
			if (relevant == nil || relevant[a.Name]) && a.About(where) {
				fired = append(fired, a.String())
			}
		}
		aq := alertSpan.Evidence(cl, av.Expr, "firing: "+noneIfEmpty(av.Names()))
		if len(fired) == 0 {
			c.Fail(nil, "no alert about %s fired during %s or in the %s after it: the failure was visible in the telemetry but would page no one", keyList(where), run, alertLinger).
				Want("an alert on the 5xx rate, latency or proxy errors of %s firing", keyList(where)).
				Fix("add or tighten an alert whose expression catches this failure for these services (e.g. the 5xx share by destination_service_name as the callers report it, reporter=\"source\", which includes the 503s their proxies answer themselves: UO overflow, FI aborts), with a `for` shorter than the run; then run again: " + p.n.cmd).
				Query(aq)
			continue
		}
		c.Pass(nil, "alerts fired during %s: %s", run, strings.Join(fired, ", ")).Query(aq)
	}
}

// recoveryTelemetry: for the recovery run the probe part counted,
// Prometheus saw the error rate of the critical services the fault hit
// rise during the fault and fall back to within their pre-fault baseline
// + thresholds.errorRate (the probe's own tolerance) once
// thresholds.recoverySeconds had passed after the fault ended; and the
// alerts that fired about them during the fault stopped firing within
// alertLinger after that deadline (their rate windows and `for` clear).
func recoveryTelemetry(c *check.Context) {
	cl, e := telemetryEnv(c)
	if e == nil {
		return
	}
	res := recovery.eval(e)
	r := passedRecord(e, res)
	if r == nil {
		msg, fix := whyNoRecord(res, cmdRecovery)
		c.Pending("no passing recovery run to confirm in Prometheus (%s)", msg).Fix(fix)
		return
	}
	span, ok := runSpan(c, r, cmdRecovery)
	if !ok {
		return
	}
	rr := r.Results.Recovery
	if rr == nil || !rr.FaultObserved {
		c.Pending("the recovery record %s has no fault timing (results.recovery.faultEndOffsetS), so the fault's window is unknown", base(r)).Fix("record it with meshready: " + cmdRecovery)
		return
	}
	th := c.Config.Thresholds
	faultStart, found := r.Start, false
	for _, w := range r.Results.Windows {
		if w.ErrorRate > th.ErrorRate {
			faultStart, found = r.Start.Add(seconds(w.StartOffsetS)), true
			break
		}
	}
	if !found {
		if d, err := time.ParseDuration(fmt.Sprint(r.Parameters["applyAfter"])); err == nil {
			faultStart = r.Start.Add(d)
		}
	}
	faultEnd := r.Start.Add(seconds(rr.FaultEndOffsetS))
	deadline := faultEnd.Add(seconds(th.RecoverySeconds))
	if !faultEnd.After(faultStart) {
		faultStart = r.Start
	}
	if !r.End.After(deadline) {
		c.Pending("the recovery run %s ended %s after the fault ended, before the recovery deadline (thresholds.recoverySeconds %ss): Prometheus cannot show the error rate after it",
			base(r), r.End.Sub(faultEnd).Round(time.Second), telemetry.FormatValue(th.RecoverySeconds)).
			Fixf("run the probe for at least %ss more after the restore: %s", telemetry.FormatValue(th.RecoverySeconds+60), cmdRecovery)
		return
	}
	pre := meshtel.Span{From: span.From, To: faultStart}
	during := meshtel.Span{From: faultStart, To: faultEnd}
	after := meshtel.Span{From: deadline, To: span.To}
	var vPre, vDuring, vAfter *meshtel.TrafficView
	vDuring = meshtel.Traffic(c, cl, during, nil, false)
	if pre.To.After(pre.From) {
		vPre = meshtel.Traffic(c, cl, pre, nil, false)
	}
	vAfter = meshtel.Traffic(c, cl, after, nil, false)
	for _, v := range []*meshtel.TrafficView{vDuring, vPre, vAfter} {
		if v != nil && v.Err() != nil {
			meshtel.Error(c, v.Err(), "cannot read the error rates around the fault of "+base(r))
			return
		}
	}
	if vDuring.Samples == 0 {
		noSamples(c, cl, during, vDuring.UpExpr, "the recovery run "+base(r), cmdRecovery)
		return
	}
	tol := th.ErrorRate
	var affected []meshtel.Key
	for _, s := range meshtel.Critical(c) {
		k := meshtel.KeyOf(s)
		baseShare, known := 0.0, false
		if vPre != nil {
			if f := vPre.By[k]; f != nil && !math.IsNaN(f.ErrorShare()) {
				baseShare, known = f.ErrorShare(), true
			}
		}
		peak := math.NaN()
		if f := vDuring.By[k]; f != nil && f.Requests[f.Reporter()] >= minAffectedRequests {
			peak = f.ErrorShare()
		}
		if math.IsNaN(peak) || peak <= baseShare+tol {
			continue
		}
		affected = append(affected, k)
		baseTxt := "baseline " + meshtel.Percent(baseShare)
		if !known {
			baseTxt = "no pre-fault sample, baseline taken as 0%"
		}
		now := math.NaN()
		if f := vAfter.By[k]; f != nil {
			now = f.ErrorShare()
		}
		val := fmt.Sprintf("%s: %s during the fault, %s after the deadline (%s)", k, meshtel.Percent(peak), meshtel.Percent(now), baseTxt)
		q := after.Evidence(cl, vAfter.ErrorsExpr, val)
		switch {
		case math.IsNaN(now):
			c.Pending("Prometheus has no request to %s between the recovery deadline and the run's end (%s): too short for its scrape interval, or the traffic stopped", k, after).
				Fixf("run the probe longer after the restore (at least two scrape intervals past thresholds.recoverySeconds): %s", cmdRecovery).Query(q)
		case now > baseShare+tol:
			c.Fail(nil, "%s's error rate was still %s after the recovery deadline (%s after the fault ended at %s), above its pre-fault %s + thresholds.errorRate %s: it did not recover",
				k, meshtel.Percent(now), seconds(th.RecoverySeconds), faultEnd.UTC().Format(time.RFC3339), baseTxt, meshtel.Percent(tol)).
				Got("%s", meshtel.Percent(now)).Want("at most %s", meshtel.Percent(baseShare+tol)).
				Fixf("find what keeps %s failing after the fault is removed (outlier ejection that never ends, exhausted connection pools, pods that did not come back: kubectl -n %s get pods; its proxies' response_flags), then run again: %s", s.Name, s.Namespace, cmdRecovery).
				Query(q)
		default:
			c.Pass(nil, "%s's error rate rose to %s during the fault and was back to %s after the recovery deadline (%s; tolerance %s)", k, meshtel.Percent(peak), meshtel.Percent(now), baseTxt, meshtel.Percent(tol)).Query(q)
		}
	}
	if len(affected) == 0 {
		c.Fail(nil, "Prometheus saw no critical service's error rate rise above its baseline + thresholds.errorRate %s during the fault of %s (%s), although the probe saw a peak of %s: the fault is invisible to the mesh's telemetry, so its recovery cannot be confirmed there",
			meshtel.Percent(tol), base(r), during, meshtel.Percent(rr.PeakErrorRate)).
			Want("the error rate of the services the fault hits rising in istio_requests_total").
			Fix("check that the proxies on the probe's path are scraped (metrics.proxy, metrics.service) and that the fault hit a critical service; then run again: " + cmdRecovery).
			Query(during.Evidence(cl, vDuring.ErrorsExpr, "no critical service above its baseline"))
		return
	}
	recoveryAlerts(c, cl, during, deadline, affected)
}

// recoveryAlerts: the alerts that fired about the affected services during
// the fault stopped firing within alertLinger after the recovery deadline.
func recoveryAlerts(c *check.Context, cl *telemetry.Client, during meshtel.Span, deadline time.Time, affected []meshtel.Key) {
	relevant := faultAlertNames(cl)
	av := meshtel.FiringDuring(cl, during)
	if av.Err != nil {
		meshtel.Error(c, av.Err, "cannot read ALERTS for the fault window")
		return
	}
	fired := map[string]meshtel.Alert{}
	for _, a := range av.Alerts {
		if (relevant == nil || relevant[a.Name]) && a.About(affected) {
			fired[a.ID()] = a
		}
	}
	dq := during.Evidence(cl, av.Expr, "firing: "+noneIfEmpty(av.Names()))
	if len(fired) == 0 {
		c.Pass(nil, "no alert about %s fired during the fault, so none had to resolve (simulation.monitoring judges whether one should have fired)", keyList(affected)).Query(dq)
		return
	}
	at, final := deadline.Add(alertLinger), true
	if now := cl.Time(); at.After(now) {
		at, final = now, false
	}
	fv := meshtel.FiringAt(cl, at)
	if fv.Err != nil {
		meshtel.Error(c, fv.Err, "cannot read ALERTS after the recovery deadline")
		return
	}
	var names, still []string
	for _, a := range fired {
		names = append(names, a.String())
	}
	for _, a := range fv.Alerts {
		if _, ok := fired[a.ID()]; ok {
			still = append(still, a.String())
		}
	}
	sort.Strings(names)
	q := meshtel.Span{From: at, To: at}.Evidence(cl, fv.Expr, "firing: "+noneIfEmpty(fv.Names()))
	switch {
	case len(still) == 0:
		c.Pass(nil, "the alerts that fired during the fault (%s) had resolved by %s", strings.Join(names, ", "), at.UTC().Format(time.RFC3339)).Query(q)
	case final:
		c.Fail(nil, "alerts that fired during the fault were still firing %s after the recovery deadline (%s): %s", alertLinger, at.UTC().Format(time.RFC3339), strings.Join(still, ", ")).
			Want("the fault's alerts resolved").
			Fix("find what still trips them (the error rate per service, above), or shorten their rate windows so that a recovered mesh stops paging; then run again: " + cmdRecovery).
			Query(q)
	default:
		c.Pending("alerts that fired during the fault are still firing at %s: %s; whether they resolve is judged %s after the recovery deadline, at %s",
			at.UTC().Format(time.RFC3339), strings.Join(still, ", "), alertLinger, deadline.Add(alertLinger).UTC().Format(time.RFC3339)).
			Fixf("run meshready check --prometheus again after %s", deadline.Add(alertLinger).UTC().Format(time.RFC3339)).
			Query(q)
	}
}

// faultAlertNames are the loaded alerts on the symptoms a fault shows
// (5xx, latency, proxy errors); nil when the loaded rules are unknown or
// none is classified, so that any firing alert counts.
func faultAlertNames(cl *telemetry.Client) map[string]bool {
	rv := meshtel.Rules(cl)
	if rv.Err != nil {
		return nil
	}
	out := map[string]bool{}
	cov := meshtel.Coverage(rv.Rules)
	for _, t := range []mesh.AlertTopic{mesh.Topic5xxRate, mesh.TopicP99Latency, mesh.TopicProxyErrors} {
		for _, r := range cov[t] {
			out[r.Alert] = true
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func containsKey(ks []meshtel.Key, k meshtel.Key) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func keyList(ks []meshtel.Key) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.String())
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "no service"
	}
	return meshtel.List(out, 10)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
