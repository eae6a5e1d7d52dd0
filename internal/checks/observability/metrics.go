package observability

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	telemetryapi "istio.io/api/telemetry/v1alpha1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

func metricsServiceCheck() *check.Check {
	return &check.Check{
		ID: "metrics.service",
		Why: "Request count, error and duration series (istio_requests_total, istio_request_duration_milliseconds) for every critical service " +
			"are what the SLOs, dashboards, alerts and rollback triggers are computed from; a service without them is invisible.",
		Fix: "Make sure Prometheus scrapes the proxies of the critical services (see telemetry.prometheus) and that no Telemetry resource disables their metrics; " +
			"then check with: istio_requests_total{destination_service_name=\"<service>\"}.",
		Docs:      "https://istio.io/latest/docs/reference/config/metrics/",
		Reads:     meshtel.Reads,
		Telemetry: metricsServiceTelemetry,
	}
}

func metricsProxyCheck() *check.Check {
	return &check.Check{
		ID: "metrics.proxy",
		Why: "Envoy and istio-agent series (envoy_cluster_*, envoy_server_*, istio_agent_*) show the health of each proxy: " +
			"upstream connection failures, overflow, memory, certificate rotation. Without them proxy problems look like application problems.",
		Fix: "Scrape the proxies' /stats/prometheus endpoint (port 15020 with merged metrics, or 15090) and keep the needed Envoy stats " +
			"(meshConfig.defaultConfig.proxyStatsMatcher for extra prefixes).",
		Docs:      "https://istio.io/latest/docs/ops/configuration/telemetry/envoy-stats/",
		Reads:     meshtel.Reads,
		Telemetry: metricsProxyTelemetry,
	}
}

func metricsControlPlaneCheck() *check.Check {
	return &check.Check{
		ID:    "metrics.control-plane",
		Reads: append([]string{snapshot.Deployment}, mesh.AlertRuleKinds...),
		Why: "istiod pushes every route, policy and certificate to the proxies. If it is down or its pushes fail, the mesh keeps running on stale configuration " +
			"and new pods get no certificates; only alerts on istiod's availability and pilot_* series (push errors, rejects, convergence) tell you in time.",
		Fix:       "Add alert rules for istiod: availability (up/absent on the istiod job) and push health (pilot_xds_push_errors, pilot_total_xds_rejects, pilot_proxy_convergence_time).",
		Docs:      "https://istio.io/latest/docs/reference/commands/pilot-discovery/#metrics",
		Config:    controlPlaneAlertsConfig,
		Telemetry: controlPlaneTelemetry,
	}
}

func controlPlaneAlertsConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	ist := istiodObject(c)
	rules := mesh.AlertRules(c)
	cov := mesh.CoverageOf(rules)
	th := c.Config.Thresholds
	if ist == nil {
		c.Fail(nil, "no istiod Deployment in %s: no control plane whose alerts could be checked", cp).
			Fix("install istiod in " + cp + " or set controlPlaneNamespace in meshready.yaml")
	}
	if len(rules) == 0 {
		c.Fail(ist, "no alert rules found (no PrometheusRule, no rule file in a ConfigMap): nothing alerts on istiod").
			Want("alerts on istiod availability and push errors").
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(mesh.TopicIstiodDown, th), mesh.AlertTopicRule(mesh.TopicXDSPushErrors, th)))
		return
	}
	if rs := cov[mesh.TopicIstiodDown]; len(rs) > 0 {
		c.Pass(rs[0].Object, "istiod availability alerted by %s", join(cov.Names(mesh.TopicIstiodDown)))
	} else {
		c.Fail(ist, "no alert rule fires when istiod is down (none of %d alert rules reads up{...istiod...}, absent(pilot_*) or the istiod Deployment's available replicas)", len(rules)).
			Want("an alert on istiod availability").
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(mesh.TopicIstiodDown, th)))
	}
	if rs := cov[mesh.TopicControlPlane]; len(rs) > 0 {
		c.Pass(rs[0].Object, "istiod push health alerted by %s", join(cov.Names(mesh.TopicControlPlane)))
	} else {
		c.Warn(ist, "no alert rule reads istiod's pilot_* series (push errors, xDS rejects, convergence time): istiod can be up and still fail to configure proxies").
			Want("an alert on pilot_xds_push_errors / pilot_total_xds_rejects").
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(mesh.TopicXDSPushErrors, th)))
	}
}

func metricsCustomCheck() *check.Check {
	return &check.Check{
		ID:    "metrics.custom",
		Reads: []string{snapshot.Telemetry, snapshot.EnvoyFilter, snapshot.ConfigMap, snapshot.Namespace},
		Why: "Custom dimensions (e.g. the LLM model or tenant as a metric tag) and trimmed metrics keep the dashboards useful and Prometheus affordable; " +
			"a malformed override silently drops the tag or the metric.",
		Fix:       "Customise metrics with the Telemetry API: spec.metrics[].overrides[] with match.metric and tagOverrides (operation UPSERT needs a value expression, REMOVE none).",
		Docs:      "https://istio.io/latest/docs/tasks/observability/metrics/customize-metrics/",
		Config:    metricsCustomConfig,
		Telemetry: customMetricsTelemetry,
	}
}

const customMetricsSnippet = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-metrics
  namespace: %s
spec:
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
        mode: CLIENT_AND_SERVER
      tagOverrides:
        request_host:
          value: request.host`

var metricsProviderKinds = map[string]bool{"prometheus": true, "stackdriver": true}

func metricsCustomConfig(c *check.Context) {
	mcObj, mc := meshConfig(c)
	kinds := providerKinds(mc)
	found := 0
	for _, o := range c.List(snapshot.Telemetry) {
		t, ok := o.Typed.(*telemetryv1.Telemetry)
		if !ok || len(t.Spec.GetMetrics()) == 0 {
			continue
		}
		var what []string
		bad := false
		for i, m := range t.Spec.GetMetrics() {
			for _, p := range m.GetProviders() {
				if k := providerOf(kinds, p.GetName()); !metricsProviderKinds[k] {
					bad = true
					c.Fail(o, "%s sends metrics to provider %q, which the mesh config does not define as a metrics provider", o.ID(), p.GetName()).
						Field(fmt.Sprintf("spec.metrics[%d].providers", i)).Got("%s", p.GetName()).Want("prometheus (built in) or a defined metrics provider").
						Fix("spec:\n  metrics:\n  - providers:\n    - name: prometheus")
				}
			}
			for j, ov := range m.GetOverrides() {
				metric := overrideMetric(ov)
				if ov.GetDisabled().GetValue() {
					what = append(what, "disables "+metric)
				}
				for _, tag := range sortedKeys(ov.GetTagOverrides()) {
					to := ov.GetTagOverrides()[tag]
					if to.GetOperation() == telemetryapi.MetricsOverrides_TagOverride_UPSERT && strings.TrimSpace(to.GetValue()) == "" {
						bad = true
						c.Fail(o, "%s: tag override %q on %s is an UPSERT without a value expression: istiod rejects it and the tag is not added", o.ID(), tag, metric).
							Field(fmt.Sprintf("spec.metrics[%d].overrides[%d].tagOverrides[%s].value", i, j, tag)).Got("empty").Want("a CEL expression, e.g. request.host").
							Fixf("tagOverrides:\n  %s:\n    value: request.host   # an attribute expression\n# or operation: REMOVE to drop the tag", tag)
						continue
					}
					op := "adds/sets"
					if to.GetOperation() == telemetryapi.MetricsOverrides_TagOverride_REMOVE {
						op = "removes"
					}
					what = append(what, fmt.Sprintf("%s tag %s on %s", op, tag, metric))
				}
			}
		}
		switch {
		case bad:
			found++ // configured, though wrongly: reported above
		case len(what) > 0:
			found++
			c.Pass(o, "%s customises metrics: %s", o.ID(), join(what))
		}
	}
	for _, o := range c.List(snapshot.EnvoyFilter) {
		ef, ok := o.Typed.(*networkingv1alpha3.EnvoyFilter)
		if !ok {
			continue
		}
		js, err := protojson.Marshal(&ef.Spec)
		if err != nil {
			continue
		}
		s := string(js)
		if strings.Contains(s, "istio.stats") || strings.Contains(s, "stats.PluginConfig") || strings.Contains(s, "stats_tags") {
			found++
			c.Pass(o, "%s configures the Istio stats filter (an EnvoyFilter: prefer the Telemetry API, which survives upgrades)", o.ID())
		}
	}
	if dc := mc.GetDefaultConfig(); dc != nil {
		if tags := dc.GetExtraStatTags(); len(tags) > 0 {
			found++
			c.Pass(mcObj, "the mesh config declares extra stat tags %s (defaultConfig.extraStatTags)", join(tags))
		}
		if m := dc.GetProxyStatsMatcher(); m != nil && (len(m.GetInclusionPrefixes()) > 0 || len(m.GetInclusionRegexps()) > 0 || len(m.GetInclusionSuffixes()) > 0) {
			found++
			c.Pass(mcObj, "the mesh config keeps extra Envoy stats (defaultConfig.proxyStatsMatcher)")
		}
	}
	if found == 0 {
		root := c.Config.RootNamespace
		c.Fail(firstObject(namespaceObject(c, root), mcObj), "no custom metrics configured: no Telemetry resource overrides metrics or tags, no EnvoyFilter configures the stats filter, and the mesh config adds no stat tags or Envoy stats").
			Want("Telemetry API metric overrides or custom tags").
			Fixf(customMetricsSnippet, root)
	}
}

func overrideMetric(ov *telemetryapi.MetricsOverrides) string {
	m := ov.GetMatch()
	if m == nil {
		return "ALL_METRICS"
	}
	if cm := m.GetCustomMetric(); cm != "" {
		return cm
	}
	return m.GetMetric().String()
}
