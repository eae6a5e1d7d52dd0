package observability

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	telemetryapi "istio.io/api/telemetry/v1alpha1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// listed is how many names an aggregated finding spells out.
const listed = 10

func selectorOf(k meshtel.Key) string {
	return fmt.Sprintf(`destination_service_name=%q, destination_service_namespace=%q`, k.Name, k.Namespace)
}

func missingSeriesFix(s config.Service) string {
	return fmt.Sprintf("make sure %[1]s's pods run the istio-proxy sidecar (kubectl -n %[2]s get pods -o jsonpath='{..containers[*].name}'), that Prometheus scrapes the proxies (see telemetry.prometheus) and that requests reach %[1]s; then check:\n"+
		"sum by (reporter) (rate(istio_requests_total{destination_service_name=%[3]q, destination_service_namespace=%[2]q}[5m]))", s.Name, s.Namespace, s.Name)
}

// metricsServiceTelemetry is metrics.service: request (with response
// codes, for errors) and duration series exist for every critical service.
// Three batched queries cover all of them.
func metricsServiceTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	svcs := meshtel.Critical(c)
	if len(svcs) == 0 {
		c.NotApplicable("no critical services: none named in meshready.yaml and no Service in a mesh namespace")
		return
	}
	v := meshtel.Services(c, cl)
	if v.RequestsErr != nil {
		meshtel.Error(c, v.RequestsErr, "cannot read the services' request series")
		return
	}
	var reqOK, errOK, durOK []string
	for _, s := range svcs {
		k := meshtel.KeyOf(s)
		obj := c.Get(snapshot.Service, s.Namespace, s.Name)
		ss := v.Of(k)
		if ss == nil {
			c.Fail(obj, "no istio_requests_total series for critical service %s: no proxy reported a request to it in the last %s", k, meshtel.Window).
				Want("request, error and duration series for %s", s.Name).Fix(missingSeriesFix(s)).
				Query(cl.Query(v.RequestsExpr, "no series with "+selectorOf(k)))
			continue
		}
		r := ss.Reporter()
		reqOK = append(reqOK, fmt.Sprintf("%s %s", k, meshtel.Rate(ss.Requests[r])))
		if r == "source" {
			c.Warn(obj, "only the callers' proxies report requests to %s (%s): its own proxy reports none, so its server-side metrics (and the mTLS they record) are missing", k, meshtel.Rate(ss.Requests[r])).
				Want("reporter=\"destination\" series for %s", s.Name).Fix(missingSeriesFix(s)).
				Query(cl.Query(v.RequestsExpr, fmt.Sprintf("reporter=\"source\" only, %s", meshtel.Rate(ss.Requests[r]))))
		}
		if v.ErrorsErr == nil {
			errOK = append(errOK, fmt.Sprintf("%s %s (%s)", k, meshtel.Rate(ss.Errors[r]), meshtel.Percent(ss.ErrorShare(r))))
		}
		if v.LatencyErr == nil {
			l, ok := ss.Latency[r]
			if !ok {
				c.Fail(obj, "no istio_request_duration_milliseconds series for %s, though it has request series: its latency cannot be measured", k).
					Want("the request duration histogram").
					Fixf("look for a Telemetry resource disabling REQUEST_DURATION (spec.metrics[].overrides[] with match.metric REQUEST_DURATION and disabled: true) for namespace %s or the mesh, and remove it", s.Namespace).
					Query(cl.Query(v.LatencyExpr, "no series with "+selectorOf(k)))
				continue
			}
			durOK = append(durOK, fmt.Sprintf("%s %s", k, l))
		}
	}
	if len(reqOK) > 0 {
		c.Pass(nil, "request series (istio_requests_total) for %d of %d critical services: %s", len(reqOK), len(svcs), meshtel.List(reqOK, listed)).
			Query(cl.Query(v.RequestsExpr, meshtel.List(reqOK, listed)))
	}
	if v.ErrorsErr != nil {
		meshtel.Error(c, v.ErrorsErr, "cannot read the services' 5xx series")
	} else if len(errOK) > 0 {
		c.Pass(nil, "error series: the request series carry response_code; 5xx rates: %s", meshtel.List(errOK, listed)).
			Query(cl.Query(v.ErrorsExpr, meshtel.List(errOK, listed)+" (a service absent from the result had no 5xx)"))
	}
	if v.LatencyErr != nil {
		meshtel.Error(c, v.LatencyErr, "cannot read the services' duration series")
	} else if len(durOK) > 0 {
		c.Pass(nil, "duration series (istio_request_duration_milliseconds) for %d of %d critical services: %s", len(durOK), len(svcs), meshtel.List(durOK, listed)).
			Query(cl.Query(v.LatencyExpr, meshtel.List(durOK, listed)))
	}
}

// metricsProxyTelemetry is metrics.proxy: Envoy (envoy_server_live) and
// agent (istio_agent_*) series exist for the proxies of every critical
// service, found by pod name from the service's workloads.
func metricsProxyTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	svcs := meshtel.Critical(c)
	if len(svcs) == 0 {
		c.NotApplicable("no critical services: none named in meshready.yaml and no Service in a mesh namespace")
		return
	}
	sv := meshtel.Services(c, cl) // for the workloads Prometheus saw serving each service
	pv := meshtel.Proxies(c, cl)
	if pv.EnvoyErr != nil {
		meshtel.Error(c, pv.EnvoyErr, "cannot read the proxies' Envoy series")
		return
	}
	if pv.AgentErr != nil {
		meshtel.Error(c, pv.AgentErr, "cannot read the proxies' istio-agent series")
	}
	var ok []string
	missing := 0
	for _, s := range svcs {
		k := meshtel.KeyOf(s)
		obj := c.Get(snapshot.Service, s.Namespace, s.Name)
		workloads, guessed := meshtel.Workloads(c, s, sv.Of(k))
		var pods []string
		for _, w := range workloads {
			pods = append(pods, pv.Pods.Of(s.Namespace, w)...)
		}
		sort.Strings(pods)
		if len(pods) == 0 {
			missing++
			how := "its workload(s) " + strings.Join(workloads, ", ")
			if guessed {
				how = "a workload named " + s.Name + " (assumed: the input has no workload behind the Service and Prometheus saw none serving it)"
			}
			c.Fail(obj, "no Envoy series (envoy_server_live) from the proxies of %s: no pod of %s in namespace %s reports one", k, how, s.Namespace).
				Want("Envoy and istio-agent series for every proxy of %s", s.Name).
				Fixf("check that %s's pods are injected and that Prometheus scrapes their proxies with the pod's namespace and pod as labels (Istio's sample scrape config and kube-prometheus PodMonitors do); check: envoy_server_live{namespace=%q}", s.Name, s.Namespace).
				Query(cl.Query(pv.EnvoyExpr, fmt.Sprintf("no series for the pods of %s in %s", strings.Join(workloads, ", "), s.Namespace)))
			continue
		}
		var notLive, noAgent []string
		for _, p := range pods {
			key := s.Namespace + "/" + p
			if live, has := pv.Live[key]; has && live != 1 {
				notLive = append(notLive, p)
			}
			if pv.AgentErr == nil && !pv.Agent[key] {
				noAgent = append(noAgent, p)
			}
		}
		if len(notLive) > 0 {
			c.Warn(obj, "%d proxies of %s report envoy_server_live 0 (not live: initializing or draining): %s", len(notLive), k, meshtel.List(notLive, 5)).
				Want("envoy_server_live 1").
				Fixf("kubectl -n %s describe pod %s   # and: istioctl proxy-status", s.Namespace, notLive[0]).
				Query(cl.Query(pv.EnvoyExpr, "0 for "+meshtel.List(notLive, 5)))
		}
		if len(noAgent) > 0 {
			c.Warn(obj, "%d of %d proxies of %s export Envoy stats but no istio_agent_* series: %s", len(noAgent), len(pods), k, meshtel.List(noAgent, 5)).
				Want("istio_agent_* series (the agent's, merged on :15020/stats/prometheus)").
				Fix("scrape the merged endpoint on port 15020 (/stats/prometheus, prometheus.io/port: \"15020\" with enablePrometheusMerge) instead of Envoy's own port 15090, which has no agent metrics").
				Query(cl.Query(pv.AgentExpr, "no series for "+meshtel.List(noAgent, 5)))
		}
		ok = append(ok, fmt.Sprintf("%s: %d proxies (%s)", k, len(pods), meshtel.List(pods, 3)))
	}
	if len(ok) > 0 {
		c.Pass(nil, "Envoy and agent series for the proxies of %d of %d critical services: %s", len(ok), len(svcs), meshtel.List(ok, listed)).
			Query(cl.Query(pv.EnvoyExpr, fmt.Sprintf("%d pods", len(pv.Live))))
	}
	if missing > 0 && len(pv.Live) == 0 {
		// Nothing matched at all: tell a label problem from no Envoy series.
		expr := "count(envoy_server_live)"
		if vec, err := cl.Instant(telCtx, expr); err == nil && len(vec) == 1 && vec[0].Value > 0 {
			c.Fail(nil, "envoy_server_live has %s series, but none with the namespace and pod labels of the critical services' pods: the scrape configuration does not set them", telemetry.FormatValue(float64(vec[0].Value))).
				Want("namespace and pod labels on proxy series").
				Fix("relabel in the proxies' scrape job:\n- source_labels: [__meta_kubernetes_namespace]\n  target_label: namespace\n- source_labels: [__meta_kubernetes_pod_name]\n  target_label: pod").
				Query(cl.Query(expr, telemetry.FormatValue(float64(vec[0].Value))))
		}
	}
}

// controlPlaneTelemetry is metrics.control-plane with Prometheus: istiod's
// pilot series (pushes, convergence, rejects) and alert rules on istiod
// loaded in Prometheus.
func controlPlaneTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	cp := c.Config.ControlPlaneNamespace
	w := meshtel.Window
	v := meshtel.ControlPlane(cl)
	pushesExpr, convExpr, rejectsExpr := v.PushesExpr, v.ConvExpr, v.RejectsExpr
	pushes, conv, rejects := v.Pushes, v.Conv, v.Rejects
	pushesErr, convErr, rejectsErr := v.PushesErr, v.ConvErr, v.RejectsErr
	istiodFix := fmt.Sprintf(istiodServiceMonitor, cp, cp, "istiod")
	switch {
	case pushesErr != nil:
		meshtel.Error(c, pushesErr, "cannot read pilot_xds_pushes")
	case len(pushes) == 0:
		c.Fail(nil, "pilot_xds_pushes has no series: Prometheus does not scrape istiod's metrics (port 15014)").
			Want("istiod's pilot_* series").Fix(istiodFix).Query(cl.Query(pushesExpr, "no series"))
	default:
		var parts []string
		for _, s := range pushes {
			parts = append(parts, fmt.Sprintf("%s %s/s", s.Metric["type"], meshtel.Num(float64(s.Value))))
		}
		sort.Strings(parts)
		c.Pass(nil, "istiod pushes configuration: pilot_xds_pushes %s", strings.Join(parts, ", ")).Query(cl.Query(pushesExpr, strings.Join(parts, ", ")))
	}
	switch {
	case convErr != nil:
		meshtel.Error(c, convErr, "cannot read pilot_proxy_convergence_time")
	case len(conv) == 0:
		c.Fail(nil, "pilot_proxy_convergence_time has no series: how long proxies take to receive configuration is not measured").
			Want("the convergence histogram").Fix(istiodFix).Query(cl.Query(convExpr, "no series"))
	case math.IsNaN(float64(conv[0].Value)):
		c.Pass(nil, "pilot_proxy_convergence_time present (no push completed in the last %s)", w).Query(cl.Query(convExpr, "NaN"))
	default:
		v := float64(conv[0].Value)
		c.Pass(nil, "pilot_proxy_convergence_time present: p99 %s s", meshtel.Num(v)).Query(cl.Query(convExpr, telemetry.FormatValue(v)))
	}
	switch {
	case rejectsErr != nil:
		meshtel.Error(c, rejectsErr, "cannot read pilot_total_xds_rejects")
	case len(rejects) == 0:
		if len(pushes) > 0 {
			c.Pass(nil, "no xDS reject recorded: pilot_total_xds_rejects has no series while istiod's other pilot_* series do (istiod exports the counter from the first reject on)").
				Query(cl.Query(rejectsExpr, "no series"))
		}
	case rejects[0].Value > 0:
		v := telemetry.FormatValue(float64(rejects[0].Value))
		c.Warn(nil, "proxies reject istiod's configuration: pilot_total_xds_rejects grows at %s/s", v).
			Got("%s/s", v).Want("0").
			Fixf("find the rejected resource: istioctl analyze -A; kubectl -n %s logs deploy/istiod | grep -i reject", cp).Query(cl.Query(rejectsExpr, v))
	default:
		c.Pass(nil, "pilot_total_xds_rejects present: no reject in the last %s", w).Query(cl.Query(rejectsExpr, "0"))
	}
	rv := meshtel.Rules(cl)
	if rv.Err != nil {
		meshtel.Error(c, rv.Err, "cannot read the rules Prometheus has loaded")
		return
	}
	q := cl.APIQuery("prometheus", "GET /api/v1/rules", rv.Summary)
	cov := meshtel.Coverage(rv.Rules)
	th := c.Config.Thresholds
	if rs := cov[mesh.TopicIstiodDown]; len(rs) > 0 {
		c.Pass(nil, "Prometheus has loaded an alert on istiod's availability: %s", meshtel.List(meshtel.Names(rs), 5)).Query(q)
	} else {
		c.Fail(nil, "no alert rule loaded in Prometheus fires when istiod is down (%d alerting rules loaded; rules in the manifests that Prometheus does not load never fire)", len(rv.Rules)).
			Want("an alert on istiod's availability, loaded").
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(mesh.TopicIstiodDown, th)) + "# and make Prometheus load it: the PrometheusRule must match the Prometheus resource's ruleSelector (or the file be in rule_files)").Query(q)
	}
	if rs := cov[mesh.TopicControlPlane]; len(rs) > 0 {
		c.Pass(nil, "Prometheus has loaded alerts on istiod's pilot_* series: %s", meshtel.List(meshtel.Names(rs), 5)).Query(q)
	} else {
		c.Warn(nil, "no alert rule loaded in Prometheus reads istiod's pilot_* series (push errors, rejects): istiod can be up and still fail to configure proxies").
			Want("an alert on pilot_xds_push_errors / pilot_total_xds_rejects, loaded").
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(mesh.TopicXDSPushErrors, th))).Query(q)
	}
}

// metricNames maps the Telemetry API's metric selectors to the Prometheus
// series a tag shows on.
var metricNames = map[string]string{
	"ALL_METRICS": "istio_requests_total", "REQUEST_COUNT": "istio_requests_total",
	"REQUEST_DURATION": "istio_request_duration_milliseconds_count", "REQUEST_SIZE": "istio_request_bytes_count",
	"RESPONSE_SIZE": "istio_response_bytes_count", "TCP_OPENED_CONNECTIONS": "istio_tcp_connections_opened_total",
	"TCP_CLOSED_CONNECTIONS": "istio_tcp_connections_closed_total", "TCP_SENT_BYTES": "istio_tcp_sent_bytes_total",
	"TCP_RECEIVED_BYTES": "istio_tcp_received_bytes_total", "GRPC_REQUEST_MESSAGES": "istio_request_messages_total",
	"GRPC_RESPONSE_MESSAGES": "istio_response_messages_total",
}

var labelNameRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// customMetricsTelemetry is metrics.custom with Prometheus: every tag a
// Telemetry resource adds shows on the series of its metric (in the
// namespace it applies to), and every tag it removes is gone.
func customMetricsTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	type want struct {
		obj           *snapshot.Object
		field, metric string
		series, tag   string
		remove        bool
		scope         string // PromQL matcher for the namespace it applies to, or ""
	}
	var wants []want
	root := c.Config.RootNamespace
	for _, o := range c.List(snapshot.Telemetry) {
		t, ok := o.Typed.(*telemetryv1.Telemetry)
		if !ok {
			continue
		}
		for i, m := range t.Spec.GetMetrics() {
			for j, ov := range m.GetOverrides() {
				metric := overrideMetric(ov)
				series, known := metricNames[metric]
				if !known || ov.GetDisabled().GetValue() {
					continue
				}
				scope := ""
				if o.Namespace != root {
					lbl := "destination_workload_namespace"
					if ov.GetMatch().GetMode() == telemetryapi.WorkloadMode_CLIENT {
						lbl = "source_workload_namespace"
					}
					scope = fmt.Sprintf("%s=%q", lbl, o.Namespace)
				}
				for _, tag := range sortedKeys(ov.GetTagOverrides()) {
					to := ov.GetTagOverrides()[tag]
					remove := to.GetOperation() == telemetryapi.MetricsOverrides_TagOverride_REMOVE
					if !remove && strings.TrimSpace(to.GetValue()) == "" {
						continue // the config part reports the malformed override
					}
					wants = append(wants, want{o, fmt.Sprintf("spec.metrics[%d].overrides[%d].tagOverrides[%s]", i, j, tag), metric, series, tag, remove, scope})
				}
			}
		}
	}
	if len(wants) == 0 {
		c.NotApplicable("no Telemetry resource adds or removes a metric tag, so there is no tag to look for in the series (the config part reports what is configured)")
		return
	}
	for _, w := range wants {
		if !labelNameRe.MatchString(w.tag) {
			c.Warn(w.obj, "%s: tag %q is not a valid Prometheus label name, so it cannot be found in the series as written", w.obj.ID(), w.tag).Field(w.field).
				Fix("name tags with letters, digits and underscores only (e.g. request_host)")
			continue
		}
		matchers := []string{fmt.Sprintf("%s!=\"\"", w.tag)}
		if w.scope != "" {
			matchers = append(matchers, w.scope)
		}
		expr := fmt.Sprintf("count(%s{%s})", w.series, strings.Join(matchers, ", "))
		vec, err := cl.Instant(telCtx, expr)
		if err != nil {
			meshtel.Error(c, err, fmt.Sprintf("cannot look for tag %s", w.tag))
			continue
		}
		n := 0.0
		if len(vec) == 1 {
			n = float64(vec[0].Value)
		}
		val := telemetry.FormatValue(n) + " series"
		where := "the mesh"
		if w.scope != "" {
			where = "namespace " + w.obj.Namespace
		}
		switch {
		case w.remove && n > 0:
			c.Fail(w.obj, "%s removes tag %s from %s, but %s series of %s in %s still carry it", w.obj.ID(), w.tag, w.metric, telemetry.FormatValue(n), w.series, where).
				Field(w.field).Got("%s", val).Want("no series with %s", w.tag).
				Fixf("check that istiod accepted %s (istioctl analyze) and restart the affected workloads' pods if they predate it", w.obj.ID()).Query(cl.Query(expr, val))
		case w.remove:
			c.Pass(w.obj, "%s removes tag %s from %s: no series of %s in %s carries it", w.obj.ID(), w.tag, w.metric, w.series, where).Field(w.field).Query(cl.Query(expr, val))
		case n == 0:
			c.Fail(w.obj, "%s adds tag %s to %s, but no series of %s in %s carries it", w.obj.ID(), w.tag, w.metric, w.series, where).
				Field(w.field).Got("0 series").Want("series with %s", w.tag).
				Fixf("check that istiod accepted %s (istioctl analyze; kubectl -n %s logs deploy/istiod | grep -i telemetry), that the proxies picked it up (restart pods older than it) and that traffic went through them since", w.obj.ID(), c.Config.ControlPlaneNamespace).
				Query(cl.Query(expr, val))
		default:
			c.Pass(w.obj, "%s adds tag %s to %s: %s series of %s in %s carry it", w.obj.ID(), w.tag, w.metric, telemetry.FormatValue(n), w.series, where).Field(w.field).Query(cl.Query(expr, val))
		}
	}
}

// errorLogsTelemetry is logging.error-logs with Prometheus: the 5xx share
// of every critical service is under thresholds.errorRate (one ratio
// query for all of them), and an alert on the 5xx rate or proxy errors is
// loaded in Prometheus and evaluates.
func errorLogsTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	svcs := meshtel.Critical(c)
	th := c.Config.Thresholds
	w := meshtel.Window
	if len(svcs) > 0 {
		sv := meshtel.Services(c, cl)
		switch {
		case sv.RequestsErr != nil:
			meshtel.Error(c, sv.RequestsErr, "cannot read the services' request series")
		case sv.ErrorsErr != nil:
			meshtel.Error(c, sv.ErrorsErr, "cannot read the services' 5xx series")
		default:
			var ok, quiet []string
			for _, s := range svcs {
				k := meshtel.KeyOf(s)
				ss := sv.Of(k)
				if ss == nil || ss.Requests["destination"] == 0 {
					quiet = append(quiet, k.String())
					continue
				}
				v := ss.ErrorShare("destination")
				if v > th.ErrorRate {
					c.Fail(c.Get(snapshot.Service, s.Namespace, s.Name), "%s answers 5xx to %s of its requests over the last %s (%s of %s; threshold %s)", k, meshtel.Percent(v), w, meshtel.Rate(ss.Errors["destination"]), meshtel.Rate(ss.Requests["destination"]), meshtel.Percent(th.ErrorRate)).
						Got("%s", meshtel.Percent(v)).Want("at most %s (thresholds.errorRate)", meshtel.Percent(th.ErrorRate)).
						Fixf("find the failing requests: kubectl -n %[1]s logs deploy/%[2]s -c istio-proxy | grep '\" 5[0-9][0-9] '; the response_flags of istio_requests_total{destination_service_name=%[3]q, response_code=~\"5..\"} tell Envoy failures (UF, UH, UO, URX, UT) from the application's own 5xx", s.Namespace, s.Name, s.Name).
						Query(cl.Query(sv.ErrorsExpr, fmt.Sprintf("%s for reporter=\"destination\", %s (of %s in the request query)", telemetry.FormatValue(ss.Errors["destination"]), selectorOf(k), telemetry.FormatValue(ss.Requests["destination"]))))
					continue
				}
				ok = append(ok, fmt.Sprintf("%s %s", k, meshtel.Percent(v)))
			}
			if len(ok) > 0 {
				msg := fmt.Sprintf("5xx share under %s for %d of %d critical services: %s", meshtel.Percent(th.ErrorRate), len(ok), len(svcs), meshtel.List(ok, listed))
				if len(quiet) > 0 {
					msg += fmt.Sprintf("; no server-reported request in the window for %s (see metrics.service)", meshtel.List(quiet, listed))
				}
				c.Pass(nil, "%s", msg).Query(cl.Query(sv.ErrorsExpr, meshtel.List(ok, listed)+" (5xx rates, divided by the request rates of the request query; a service absent from the result answered no 5xx)"))
			} else if len(quiet) > 0 {
				c.Warn(nil, "no critical service had a server-reported request in the last %s, so no 5xx share could be measured: %s", w, meshtel.List(quiet, listed)).
					Fix("send traffic through the mesh (see metrics.service for the missing series) and check again").Query(cl.Query(sv.RequestsExpr, "no reporter=\"destination\" series"))
			}
		}
	}
	rv := meshtel.Rules(cl)
	if rv.Err != nil {
		meshtel.Error(c, rv.Err, "cannot read the rules Prometheus has loaded")
		return
	}
	q := cl.APIQuery("prometheus", "GET /api/v1/rules", rv.Summary)
	cov := meshtel.Coverage(rv.Rules)
	rs := append(append([]meshtel.LoadedRule(nil), cov[mesh.Topic5xxRate]...), cov[mesh.TopicProxyErrors]...)
	if len(rs) == 0 {
		c.Fail(nil, "no alert rule on the 5xx rate or proxy errors is loaded in Prometheus (%d alerting rules loaded)", len(rv.Rules)).
			Want("a loaded alert on the 5xx share of istio_requests_total").
			Fix(mesh.PrometheusRuleSnippet(c.Config.ControlPlaneNamespace, mesh.AlertTopicRule(mesh.Topic5xxRate, th)) + "# and make Prometheus load it (ruleSelector / rule_files)").Query(q)
		return
	}
	seen := map[string]bool{}
	var good []meshtel.LoadedRule
	for _, r := range rs {
		if seen[r.Group+"/"+r.Alert] {
			continue
		}
		seen[r.Group+"/"+r.Alert] = true
		if len(meshtel.Broken([]meshtel.LoadedRule{r})) > 0 {
			c.Fail(nil, "alert %s (%s) is loaded but Prometheus fails to evaluate it: %s", r.Alert, r.Where(), r.LastError).
				Got("health err").Want("health ok").Fix("correct its expression: " + meshtel.OneLine(r.Expr)).Query(q)
			continue
		}
		good = append(good, r)
	}
	if len(good) > 0 {
		c.Pass(nil, "5xx / proxy errors alerted by rules loaded in Prometheus: %s", meshtel.List(meshtel.Names(good), 5)).Query(q)
	}
}
