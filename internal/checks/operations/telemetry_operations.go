package operations

import (
	"fmt"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/observability"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// dashboardsTelemetry is ops.dashboards with Grafana's API: the Istio
// dashboards exist in Grafana (as telemetry.grafana), and so does a
// dashboard for each critical service (its name in the title, uid or tags).
func dashboardsTelemetry(c *check.Context) {
	ds, ok := observability.GrafanaTelemetry(c)
	if !ok {
		return
	}
	q := c.Telemetry.APIQuery("grafana", telemetry.GrafanaSearchCall, fmt.Sprintf("%d dashboards", len(ds)))
	svcs := meshtel.Critical(c)
	names := make([]map[string]bool, len(ds))
	for i, d := range ds {
		v := observability.GrafanaView(d)
		if v.IstioDashboardKind() != "" {
			continue // Istio's generic dashboards are not a service's own
		}
		names[i] = v.NameTokens()
		for _, t := range d.Tags {
			names[i][strings.ToLower(t)] = true
		}
	}
	for _, s := range svcs {
		so := c.Get(snapshot.Service, s.Namespace, s.Name)
		found := -1
		for i := range ds {
			if names[i][s.Name] {
				found = i
				break
			}
		}
		if found < 0 {
			c.Fail(so, "Grafana has no dashboard for critical service %s/%s: none of its %d dashboards names %q in its title, uid or tags", s.Namespace, s.Name, len(ds), s.Name).
				Want("a dashboard for %s in Grafana", s.Name).
				Fixf(serviceDashboardSnippet+"\n# or import the same JSON in Grafana (Dashboards → New → Import)", s.Name, c.Config.ControlPlaneNamespace).
				Query(q)
			continue
		}
		d := ds[found]
		c.Pass(so, "Grafana has a dashboard for %s/%s: %q (uid %s)", s.Namespace, s.Name, d.Title, d.UID).Query(q)
	}
}

// alertRulesTelemetry is ops.alert-rules with Prometheus' /api/v1/rules,
// the third place alert rules live: the six conditions are covered by
// rules Prometheus has loaded, those rules evaluate, and every mesh alert
// carries a runbook_url.
func alertRulesTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	rv := meshtel.Rules(cl)
	if rv.Err != nil {
		meshtel.Error(c, rv.Err, "cannot read the rules Prometheus has loaded")
		return
	}
	q := cl.APIQuery("prometheus", "GET /api/v1/rules", rv.Summary)
	cp := c.Config.ControlPlaneNamespace
	th := c.Config.Thresholds
	if len(rv.Rules) == 0 {
		var rules []string
		for _, t := range mesh.OpsAlertTopics {
			rules = append(rules, mesh.AlertTopicRule(t, th))
		}
		c.Fail(nil, "Prometheus has loaded no alerting rule: whatever the manifests say, nothing would page").
			Want("alerts for: istiod down, xDS push errors, 5xx rate, p99 latency, certificate expiry, proxy not ready, loaded").
			Fix(mesh.PrometheusRuleSnippet(cp, rules...) + "# and make Prometheus load it: with the prometheus-operator the PrometheusRule's labels must match the Prometheus resource's ruleSelector; without it, list the file in rule_files").
			Query(q)
		return
	}
	cov := meshtel.Coverage(rv.Rules)
	for _, t := range mesh.OpsAlertTopics {
		if rs := cov[t]; len(rs) > 0 {
			c.Pass(nil, "%s covered by rules loaded in Prometheus: %s", t.Title(), meshtel.List(meshtel.Names(rs), 5)).Query(q)
			continue
		}
		c.Fail(nil, "no alert rule loaded in Prometheus covers %s (%d alerting rules loaded; classified from their PromQL: %s)", t.Title(), len(rv.Rules), topicHint(t)).
			Want("a loaded alert on %s", t.Title()).
			Fix(mesh.PrometheusRuleSnippet(cp, mesh.AlertTopicRule(t, th)) + "# and make Prometheus load it (ruleSelector / rule_files)").
			Query(q)
	}
	for _, r := range meshtel.Broken(rv.Rules) {
		c.Fail(nil, "alert %s (%s) is loaded but Prometheus fails to evaluate it: %s", r.Alert, r.Where(), r.LastError).
			Got("health err").Want("health ok").
			Fix("correct its expression (promtool check rules FILE; rerun it in Prometheus' UI): " + meshtel.OneLine(r.Expr)).Query(q)
	}
	for _, r := range rv.Rules {
		if !meshtel.IsMesh(r) {
			continue
		}
		if strings.TrimSpace(r.Annotations["runbook_url"]) == "" {
			c.Warn(nil, "alert %s (%s) has no runbook_url annotation: it would page on-call without saying what to do", r.Alert, r.Where()).
				Field("annotations.runbook_url").Want("a runbook_url").
				Fixf("annotations:\n  runbook_url: docs/runbooks/%s.md   # a document that exists (docs.runbooks checks it)", strings.ToLower(r.Alert)).Query(q)
		}
		if r.Firing > 0 {
			c.Warn(nil, "alert %s (%s) is firing now (%d alerts)", r.Alert, r.Where(), r.Firing).
				Got("firing").Want("inactive before the launch").
				Fixf("investigate it (its runbook: %s); ALERTS{alertname=%q}", r.Annotations["runbook_url"], r.Alert).Query(q)
		}
	}
}
