package services

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// communicationTelemetry is service.S.communication with Prometheus: each
// dependency the config declares for S is observed (requests from S's
// workloads to it in the last 5m, from one batched query for every
// critical service) and reported by the dependency's own proxy as mutual TLS.
func communicationTelemetry(c *check.Context) {
	if !service(c) {
		return
	}
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	s := *c.Service
	deps := s.Dependencies()
	if len(deps) == 0 {
		c.NotApplicable("no dependencies declared for %s (criticalServices[].dependsOn in meshready.yaml): no call to observe", s.Name)
		return
	}
	ev := meshtel.Edges(c, cl)
	if ev.Err != nil {
		meshtel.Error(c, ev.Err, "cannot read the request edges")
		return
	}
	sv := meshtel.Services(c, cl)
	workloads, guessed := meshtel.Workloads(c, s, sv.Of(meshtel.KeyOf(s)))
	from := map[string]bool{}
	for _, w := range workloads {
		from[w] = true
	}
	who := fmt.Sprintf("%s's workload(s) %s", s.Name, strings.Join(workloads, ", "))
	if guessed {
		who = fmt.Sprintf("%s's workload (assumed named %s)", s.Name, s.Name)
	}
	for _, d := range deps {
		dk := meshtel.KeyOf(d)
		dObj := c.Get(snapshot.Service, d.Namespace, d.Name)
		var serverTotal, serverMTLS, clientTotal float64
		policies := map[string]float64{}
		for _, e := range ev.ByDst[dk] {
			if e.SrcNamespace != s.Namespace || !from[e.SrcWorkload] {
				continue
			}
			switch e.Reporter {
			case "destination":
				serverTotal += e.RPS
				policies[e.Policy] += e.RPS
				if e.Policy == "mutual_tls" {
					serverMTLS += e.RPS
				}
			case "source":
				clientTotal += e.RPS
			}
		}
		edge := fmt.Sprintf("%s → %s", s.Name, d.Name)
		sel := fmt.Sprintf("source_workload=~%q, source_workload_namespace=%q, destination_service_name=%q, destination_service_namespace=%q", strings.Join(workloads, "|"), s.Namespace, d.Name, d.Namespace)
		switch {
		case serverTotal == 0 && clientTotal == 0:
			c.Warn(dObj, "%s not observed: no request from %s to %s in the last %s, so the call path is not verified", edge, who, dk, meshtel.Window).
				Want("requests from %s to %s over mutual TLS", s.Name, d.Name).
				Fixf("send traffic that makes %s call %s (e.g. through the ingress, or meshready probe) and check again within 5 minutes; if %s does call it, check its workload name in source_workload:\nsum by (source_workload, reporter) (rate(istio_requests_total{destination_service_name=%q}[5m]))", s.Name, d.Name, s.Name, d.Name).
				Query(cl.Query(ev.Expr, "no series with "+sel))
		case serverTotal == 0:
			c.Fail(dObj, "%s is observed only by %s's proxy (%s): %s's own proxy reports none of these requests, so it has no sidecar (or is not scraped) and the call is not mutual TLS", edge, s.Name, meshtel.Rate(clientTotal), d.Name).
				Got("reporter=\"source\" only").Want("reporter=\"destination\" with connection_security_policy=\"mutual_tls\"").
				Fixf("inject %[1]s: kubectl label namespace %[2]s istio-injection=enabled --overwrite && kubectl -n %[2]s rollout restart deploy,statefulset -l app=%[1]s", d.Name, d.Namespace).
				Query(cl.Query(ev.Expr, fmt.Sprintf("reporter=\"source\" %s, no reporter=\"destination\" series with %s", telemetry.FormatValue(clientTotal), sel)))
		case serverMTLS < serverTotal:
			share := serverMTLS / serverTotal
			c.Fail(dObj, "%s: only %s of %s is mutual TLS as %s's proxy reports it (%s)", edge, meshtel.Percent(share), meshtel.Rate(serverTotal), d.Name, policyList(policies)).
				Got("%s mutual_tls", meshtel.Percent(share)).Want("100%% mutual_tls").
				Fixf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: %s\nspec:\n  mtls:\n    mode: STRICT\n# and make sure no DestinationRule for %s sets tls.mode DISABLE/SIMPLE (see the config part)", d.Namespace, d.Host()).
				Query(cl.Query(ev.Expr, fmt.Sprintf("%s with %s", policyList(policies), sel)))
		default:
			c.Pass(dObj, "%s observed over mutual TLS: %s, as %s's proxy reports it", edge, meshtel.Rate(serverTotal), d.Name).
				Query(cl.Query(ev.Expr, fmt.Sprintf("%s mutual_tls with %s", telemetry.FormatValue(serverTotal), sel)))
		}
	}
}

func policyList(m map[string]float64) string {
	var out []string
	for p, v := range m {
		out = append(out, fmt.Sprintf("%s %s", p, meshtel.Rate(v)))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// monitoringTelemetry is service.S.monitoring with Prometheus: S's request,
// error and latency series exist (read from the batched queries shared by
// every critical service), with their current values; p99 above
// thresholds.p99LatencyMs is a warning.
func monitoringTelemetry(c *check.Context) {
	if !service(c) {
		return
	}
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	s := *c.Service
	k := meshtel.KeyOf(s)
	obj := c.Get(snapshot.Service, s.Namespace, s.Name)
	v := meshtel.Services(c, cl)
	if v.RequestsErr != nil {
		meshtel.Error(c, v.RequestsErr, "cannot read "+s.Name+"'s request series")
		return
	}
	sel := fmt.Sprintf("destination_service_name=%q, destination_service_namespace=%q", s.Name, s.Namespace)
	ss := v.Of(k)
	if ss == nil {
		c.Fail(obj, "no request, error or latency series for %s: no proxy reported a request to it in the last %s", k, meshtel.Window).
			Want("istio_requests_total and istio_request_duration_milliseconds series for %s", s.Name).
			Fixf("make sure %[1]s's pods run the istio-proxy sidecar, that Prometheus scrapes the proxies (telemetry.prometheus) and that requests reach %[1]s; then check:\nsum by (reporter) (rate(istio_requests_total{%[2]s}[5m]))", s.Name, sel).
			Query(cl.Query(v.RequestsExpr, "no series with "+sel))
		return
	}
	r := ss.Reporter()
	c.Pass(obj, "requests: %s to %s (reporter %s)", meshtel.Rate(ss.Requests[r]), k, r).
		Query(cl.Query(v.RequestsExpr, fmt.Sprintf("%s for reporter=%q, %s", telemetry.FormatValue(ss.Requests[r]), r, sel)))
	if r == "source" {
		c.Warn(obj, "only the callers' proxies report requests to %s: its own proxy reports none, so its server-side latency and the mTLS of its inbound calls are not measured", k).
			Want("reporter=\"destination\" series").
			Fixf("inject %[1]s's pods (kubectl -n %[2]s get pods -o jsonpath='{..containers[*].name}' must list istio-proxy) and scrape their proxies", s.Name, s.Namespace).
			Query(cl.Query(v.RequestsExpr, "reporter=\"source\" only for "+sel))
	}
	if v.ErrorsErr != nil {
		meshtel.Error(c, v.ErrorsErr, "cannot read "+s.Name+"'s 5xx series")
	} else {
		c.Pass(obj, "errors: %s answered 5xx (%s of its requests; judged against thresholds.errorRate by logging.error-logs)", meshtel.Rate(ss.Errors[r]), meshtel.Percent(ss.ErrorShare(r))).
			Query(cl.Query(v.ErrorsExpr, fmt.Sprintf("%s for reporter=%q, %s (absent: no 5xx)", telemetry.FormatValue(ss.Errors[r]), r, sel)))
	}
	if v.LatencyErr != nil {
		meshtel.Error(c, v.LatencyErr, "cannot read "+s.Name+"'s latency series")
		return
	}
	l, ok := ss.Latency[r]
	th := c.Config.Thresholds.P99LatencyMs
	if !ok {
		c.Fail(obj, "no latency series (istio_request_duration_milliseconds) for %s, though it has request series", k).
			Want("the request duration histogram").
			Fixf("remove any Telemetry override disabling REQUEST_DURATION for namespace %s or the mesh", s.Namespace).
			Query(cl.Query(v.LatencyExpr, "no series with "+sel))
		return
	}
	val := fmt.Sprintf("%s for reporter=%q, %s", telemetry.FormatValue(l.Value()), r, sel)
	above, known := l.Above(th)
	switch {
	case !known:
		c.Pass(obj, "latency: istio_request_duration_milliseconds present (no request completed in the last %s)", meshtel.Window).
			Query(cl.Query(v.LatencyExpr, val))
	case above:
		c.Warn(obj, "latency: %s, so p99 is above thresholds.p99LatencyMs (%s ms)", l, telemetry.FormatValue(th)).
			Got("%s", l).Want("p99 at most %s ms", telemetry.FormatValue(th)).
			Fixf("find where the time goes (traces of %s in Jaeger, istio_request_duration_milliseconds by source_workload); if %s is slow by design (e.g. LLM generation), waive this finding for service.%s.monitoring with the reason", s.Name, s.Name, s.Name).
			Query(cl.Query(v.LatencyExpr, val))
	default:
		c.Pass(obj, "latency: %s (p99 threshold %s ms)", l, telemetry.FormatValue(th)).
			Query(cl.Query(v.LatencyExpr, val))
	}
}
