package operations

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func opsAlertRulesCheck() *check.Check {
	return &check.Check{
		ID:    "ops.alert-rules",
		Reads: append([]string{snapshot.Namespace}, mesh.AlertRuleKinds...),
		Why: "The six conditions that take a mesh down or degrade it for users must page someone: istiod down, xDS push errors (proxies on stale config), " +
			"a rising 5xx rate, p99 latency over the SLO, certificates about to expire, and proxies not ready.",
		Fix: "Add a PrometheusRule with one alert per condition: up/absent on istiod, pilot_xds_push_errors / pilot_total_xds_rejects, the 5xx share of istio_requests_total, " +
			"histogram_quantile(0.99, istio_request_duration_milliseconds_bucket), citadel_server_root_cert_expiry_timestamp, and istio-proxy readiness.",
		Docs:      "https://istio.io/latest/docs/ops/best-practices/observability/",
		Config:    alertRulesConfig,
		Telemetry: alertRulesTelemetry,
	}
}

func alertRulesConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	th := c.Config.Thresholds
	all := mesh.AlertRules(c)
	if len(all) == 0 {
		var rules []string
		for _, t := range mesh.OpsAlertTopics {
			rules = append(rules, mesh.AlertTopicRule(t, th))
		}
		c.Fail(nil, "no alert rules found: no PrometheusRule and no Prometheus rule file in a ConfigMap").
			Want("alerts for: istiod down, xDS push errors, 5xx rate, p99 latency, certificate expiry, proxy not ready").
			Fix(mesh.PrometheusRuleSnippet(cp, rules...))
		return
	}
	meshRules := meshAlerts(c)
	anchor := all[0].Object
	if len(meshRules) > 0 {
		anchor = meshRules[0].Object
	}
	cov := mesh.CoverageOf(all)
	for _, t := range mesh.OpsAlertTopics {
		if rs := cov[t]; len(rs) > 0 {
			c.Pass(rs[0].Object, "%s covered by %s", t.Title(), join(cov.Names(t)))
			continue
		}
		c.Fail(anchor, "no alert rule covers %s (classified from the rules' PromQL: %s)", t.Title(), topicHint(t)).
			Want("an alert on %s", t.Title()).
			Fix(mesh.PrometheusRuleSnippet(anchorNS(anchor, cp), mesh.AlertTopicRule(t, th)))
	}
	// The rules themselves: expressions must at least be well formed, and a
	// rate alert must not compare a raw counter.
	for _, r := range meshRules {
		if err := mesh.PromQLSanity(r.Expr); err != nil {
			c.Fail(r.Object, "alert %s: expr is malformed (%v), so Prometheus rejects the whole rule group", r.Alert, err).
				Field(r.Field+".expr").Got("%s", r.Expr).Want("a valid PromQL expression").
				Fix("correct the expression; check it with: promtool check rules <file>")
			continue
		}
		e := mesh.ParsePromQL(r.Expr)
		usesRequests := false
		for _, m := range e.Metrics() {
			if m == "istio_requests_total" {
				usesRequests = true
			}
		}
		if usesRequests && !e.Calls("rate") && !e.Calls("irate") && !e.Calls("increase") {
			c.Warn(r.Object, "alert %s compares the counter istio_requests_total without rate()/increase(): it measures requests since each proxy started, not now", r.Alert).
				Field(r.Field+".expr").Got("%s", r.Expr).Want("rate(istio_requests_total{...}[5m])").
				Fix("wrap the counter: sum(rate(istio_requests_total{reporter=\"destination\",response_code=~\"5..\"}[5m])) / sum(rate(istio_requests_total{reporter=\"destination\"}[5m]))")
		}
	}
}

func anchorNS(o *snapshot.Object, def string) string {
	if o != nil && o.Namespace != "" {
		return o.Namespace
	}
	return def
}

// topicHint says what the classifier looks for, so a user can see why a
// rule they believe covers the topic did not count.
func topicHint(t mesh.AlertTopic) string {
	switch t {
	case mesh.TopicIstiodDown:
		return `up{job|app=~".*istiod.*"}, absent(...istiod/pilot_...), kube_deployment_status_replicas_available{deployment=~"istiod.*"}`
	case mesh.TopicXDSPushErrors:
		return "pilot_xds_push_errors, pilot_total_xds_rejects, pilot_total_xds_internal_errors, pilot_xds_*_reject"
	case mesh.Topic5xxRate:
		return `istio_requests_total{response_code=~"5.."}, envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}`
	case mesh.TopicP99Latency:
		return "histogram_quantile(0.99, ...istio_request_duration_milliseconds_bucket...)"
	case mesh.TopicCertExpiry:
		return "a *cert*expir* series such as citadel_server_root_cert_expiry_timestamp"
	case mesh.TopicProxyNotReady:
		return `envoy_server_state, envoy_server_live, kube_pod_container_status_ready{container="istio-proxy"}`
	}
	return ""
}
