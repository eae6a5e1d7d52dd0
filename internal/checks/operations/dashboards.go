package operations

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/observability"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func opsDashboardsCheck() *check.Check {
	return &check.Check{
		ID:    "ops.dashboards",
		Reads: append([]string{snapshot.Service, snapshot.Namespace}, observability.GrafanaReads...),
		Why: "Beyond Istio's generic dashboards, each critical service needs its own view (its golden signals, its dependencies, its saturation) " +
			"so that on-call can tell at a glance whether qwen-llm, pbml-context or qdrant is the problem.",
		Fix: "Provision the Istio dashboards (see telemetry.grafana) and one dashboard per critical service, with the service's name in its title or queries " +
			"(e.g. istio_requests_total{destination_service_name=\"qwen-llm\"}), in a ConfigMap labelled grafana_dashboard: \"1\".",
		Docs:      "https://istio.io/latest/docs/ops/integrations/grafana/",
		Config:    dashboardsConfig,
		Telemetry: dashboardsTelemetry,
	}
}

const serviceDashboardSnippet = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-dashboard
  namespace: %[2]s
  labels:
    grafana_dashboard: "1"
data:
  %[1]s.json: |
    {"title": "%[1]s", "uid": "%[1]s",
     "panels": [
      {"type": "timeseries", "title": "Requests by code",
       "targets": [{"expr": "sum by (response_code) (rate(istio_requests_total{reporter=\"destination\",destination_service_name=\"%[1]s\"}[5m]))"}]},
      {"type": "timeseries", "title": "p99 latency (ms)",
       "targets": [{"expr": "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service_name=\"%[1]s\"}[5m])))"}]}]}`

func dashboardsConfig(c *check.Context) {
	ds, deployed := observability.CheckGrafana(c)
	if !deployed {
		return // CheckGrafana reported it; per-service dashboards need a Grafana first
	}
	svcs := mesh.CriticalServices(c, c.Config)
	if len(svcs) == 0 {
		c.Fail(nil, "no critical services: none named in meshready.yaml and no Service in a mesh namespace, so no service dashboard can be checked").
			Fix("name the critical services in meshready.yaml:\ncriticalServices:\n- name: qwen-llm\n  namespace: devmentor")
		return
	}
	names := make([]map[string]bool, len(ds))
	tokens := make([]map[string]bool, len(ds))
	for i, d := range ds {
		names[i], tokens[i] = d.NameTokens(), d.Tokens()
	}
	ns := c.Config.ControlPlaneNamespace
	if len(ds) > 0 {
		ns = ds[0].Object.Namespace
	}
	for _, s := range svcs {
		so := c.Get(snapshot.Service, s.Namespace, s.Name)
		// A dashboard named for the service is its own; one whose queries
		// name it (e.g. a caller's dependency panel) is the fallback.
		var found *mesh.Dashboard
		how := "its title, uid or file name"
		for _, set := range []([]map[string]bool){names, tokens} {
			for i := range ds {
				if ds[i].IstioDashboardKind() == "" && set[i][s.Name] {
					found = &ds[i]
					break
				}
			}
			if found != nil {
				break
			}
			how = "its queries"
		}
		if found == nil {
			c.Fail(so, "no provisioned dashboard for critical service %s/%s: no dashboard names %q in its title or queries", s.Namespace, s.Name, s.Name).
				Want("a dashboard for %s", s.Name).
				Fixf(serviceDashboardSnippet, s.Name, ns)
			continue
		}
		c.Pass(so, "critical service %s/%s has dashboard %q (%s), which names it in %s", s.Namespace, s.Name, found.Name(), found.Where(), how)
	}
}
