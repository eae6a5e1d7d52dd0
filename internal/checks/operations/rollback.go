package operations

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

const rollbackDocsURL = "https://istio.io/latest/docs/setup/upgrade/canary/"

const triggersSnippet = `rollback:
  triggers:
  - name: error-rate
    query: sum(rate(istio_requests_total{reporter="destination",response_code=~"5.."}[5m])) / sum(rate(istio_requests_total{reporter="destination"}[5m]))
    op: ">"
    threshold: 0.05
    for: 5m
  - name: p99-latency
    query: histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m])))
    op: ">"
    threshold: 2000
    for: 10m`

func rollbackTriggerChecks() []*check.Check {
	alertReads := mesh.AlertRuleKinds
	return []*check.Check{
		{
			ID: "rollback.thresholds",
			Why: "A rollback decided by feel comes late or not at all. Thresholds written down in advance (this query, above this value, for this long) " +
				"make the call mechanical and defensible.",
			Fix:    "Define the rollback triggers in meshready.yaml (rollback.triggers: name, PromQL query, op, threshold, for) and document them in documents.rollback.thresholds.",
			Docs:   rollbackDocsURL,
			Config: thresholdsConfig,
		},
		{
			ID:    "rollback.alerts",
			Reads: alertReads,
			Why:   "A rollback threshold that no alert watches is only crossed on paper: each trigger needs an alert rule on the same metrics so that someone is paged when it is crossed.",
			Fix:   "For each rollback trigger, add an alert rule whose expr reads the trigger's metrics (the trigger's query compared with its threshold, with its for duration).",
			Docs:  rollbackDocsURL,
			Config: func(c *check.Context) {
				triggerAlertsConfig(c, false)
			},
		},
		{
			ID: "rollback.decision-process",
			Why: "Someone must be allowed to say \"roll back\" without a meeting. The decision process names who decides, on which triggers, " +
				"and how fast; it is only as good as the triggers it rests on.",
			Fix:    "Document who decides a rollback and how (documents.rollback.decision-process), based on the triggers defined in meshready.yaml rollback.triggers.",
			Docs:   rollbackDocsURL,
			Config: decisionConfig,
		},
		{
			ID:    "rollback.communication-plan",
			Reads: alertReads,
			Why: "When a trigger fires, the right people must hear it at once and users must be told. The plan says who is notified and through which channel; " +
				"the alerts that carry the triggers must be routable (a severity label) to reach them.",
			Fix:  "Document the communication plan (documents.rollback.communication-plan) and give every rollback alert a severity label your Alertmanager routes to the on-call channel.",
			Docs: rollbackDocsURL,
			Config: func(c *check.Context) {
				triggerAlertsConfig(c, true)
			},
		},
	}
}

func noTriggers(c *check.Context) bool {
	if len(c.Config.Rollback.Triggers) > 0 {
		return false
	}
	c.Fail(nil, "no rollback triggers defined: meshready.yaml has no rollback.triggers").
		Field("rollback.triggers").Want("triggers with a PromQL query, op, threshold and for duration").
		Fix(triggersSnippet)
	return true
}

// thresholdsConfig checks each trigger is complete and its query well formed.
// There is no PromQL parser among meshready's dependencies, so a query is
// only checked for balanced brackets and closed quotes and for naming at
// least one metric (mesh.PromQLSanity, mesh.ParsePromQL).
func thresholdsConfig(c *check.Context) {
	if noTriggers(c) {
		return
	}
	for i, t := range c.Config.Rollback.Triggers {
		field := fmt.Sprintf("rollback.triggers[%d]", i)
		ok := true
		if err := mesh.PromQLSanity(t.Query); err != nil {
			ok = false
			c.Fail(nil, "rollback trigger %s: query is malformed (%v)", t.Name, err).
				Field(field+".query").Got("%s", t.Query).Want("a PromQL expression").
				Fix("correct the query; try it in the Prometheus UI or with: promtool query instant http://prometheus:9090 '<query>'")
		} else if len(mesh.ParsePromQL(t.Query).Metrics()) == 0 {
			ok = false
			c.Fail(nil, "rollback trigger %s: query %q reads no metric", t.Name, t.Query).
				Field(field+".query").Got("%s", t.Query).Want("a query over the mesh's metrics, e.g. istio_requests_total").
				Fix(triggersSnippet)
		}
		if t.For.D() <= 0 {
			ok = false
			c.Fail(nil, "rollback trigger %s has no for duration: one bad scrape would call for a rollback", t.Name).
				Field(field+".for").Got("0").Want("a duration such as 5m").
				Fixf("rollback:\n  triggers:\n  - name: %s\n    for: 5m", t.Name)
		}
		if ok {
			c.Pass(nil, "rollback trigger %s: %s %s %g for %s (query checked for balanced brackets and quotes, not parsed as PromQL)", t.Name, t.Query, t.Op, t.Threshold, fmtDur(t.For.D()))
		}
	}
}

func decisionConfig(c *check.Context) {
	if noTriggers(c) {
		return
	}
	var names []string
	for _, t := range c.Config.Rollback.Triggers {
		names = append(names, fmt.Sprintf("%s (%s %g for %s)", t.Name, t.Op, t.Threshold, fmtDur(t.For.D())))
	}
	c.Pass(nil, "the rollback decision rests on %d defined trigger(s): %s", len(names), join(names))
}

// triggerAlertsConfig matches every trigger with the alert rules that watch
// what its query reads (mesh.ExprWatches: the same metrics, with the same
// identifying matchers such as job or response_code, and no matcher that
// excludes what the trigger reads); with routing, it also wants the matched
// alert to carry a severity label.
func triggerAlertsConfig(c *check.Context, routing bool) {
	if noTriggers(c) {
		return
	}
	rules := mesh.AlertRules(c)
	parsed := make([]mesh.PromQLExpr, len(rules))
	for i, r := range rules {
		parsed[i] = mesh.ParsePromQL(r.Expr)
	}
	ns := c.Config.ControlPlaneNamespace
	for i, t := range c.Config.Rollback.Triggers {
		field := fmt.Sprintf("rollback.triggers[%d]", i)
		q := mesh.ParsePromQL(t.Query)
		tm := q.Metrics()
		if len(tm) == 0 {
			c.Fail(nil, "rollback trigger %s: its query reads no metric, so no alert can be matched to it", t.Name).
				Field(field + ".query").Fix(triggersSnippet)
			continue
		}
		var matched []mesh.AlertRule
		for ri, r := range rules {
			if mesh.ExprWatches(parsed[ri], q) {
				matched = append(matched, r)
			}
		}
		if len(matched) == 0 {
			c.Fail(nil, "rollback trigger %s has no alert rule watching what it reads (%s, with the same job/response_code/service matchers): nobody is paged when it is crossed", t.Name, join(tm)).
				Field(field).Want("an alert rule on %s", join(tm)).
				Fix(mesh.PrometheusRuleSnippet(ns, triggerRule(t)))
			continue
		}
		if !routing {
			c.Pass(matched[0].Object, "rollback trigger %s is watched by alert %s (reads %s)", t.Name, alertNames(matched), join(tm))
			continue
		}
		var routed *mesh.AlertRule
		for k := range matched {
			if matched[k].Labels["severity"] != "" {
				routed = &matched[k]
				break
			}
		}
		if routed == nil {
			r := matched[0]
			c.Warn(r.Object, "alert %s (rollback trigger %s) has no severity label: Alertmanager routes usually key on it, so the page may reach nobody", r.Alert, t.Name).
				Field(r.Field + ".labels.severity").Want("severity: critical (or your routing label)").
				Fix("labels:\n  severity: critical")
			continue
		}
		c.Pass(routed.Object, "rollback trigger %s is announced by alert %s (severity=%s)", t.Name, routed.Alert, routed.Labels["severity"])
	}
}

func alertNames(rs []mesh.AlertRule) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Alert+" ("+r.Object.ID()+")")
	}
	return join(out)
}

// triggerRule turns a trigger into an alert rule item (for PrometheusRuleSnippet).
func triggerRule(t config.Trigger) string {
	name := "Rollback"
	for _, w := range strings.FieldsFunc(t.Name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		name += strings.ToUpper(w[:1]) + w[1:]
	}
	forDur := "5m"
	if t.For.D() > 0 {
		forDur = fmtDur(t.For.D())
	}
	expr := fmt.Sprintf("(%s) %s %g", t.Query, t.Op, t.Threshold)
	return fmt.Sprintf("- alert: %s\n  expr: '%s'\n  for: %s\n  labels:\n    severity: critical\n  annotations:\n    summary: \"rollback trigger %s crossed: consider rolling back\"\n    runbook_url: docs/rollback.md\n",
		name, strings.ReplaceAll(expr, "'", "''"), forDur, t.Name)
}

func join(xs []string) string { return strings.Join(xs, ", ") }

// fmtDur writes a duration as Prometheus does: 5m, 1h30m, 90s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Rollback procedure items: the documents (generic docs part) and a config
// part saying whether a rollback can be planned from the current state.

func rollbackProcedureChecks() []*check.Check {
	reads := []string{snapshot.Deployment, snapshot.Namespace, snapshot.MutatingWebhookConfiguration}
	mk := func(id, why, fix string) *check.Check {
		return &check.Check{ID: id, Reads: reads, Why: why, Fix: fix, Docs: rollbackDocsURL,
			Config: func(c *check.Context) { rollbackStateConfig(c) }}
	}
	return []*check.Check{
		mk("rollback.procedure",
			"A rollback under pressure must follow written steps: which istiod revision to return to, which namespaces to relabel, which workloads to restart, in which order.",
			"Document the step-by-step rollback (documents.rollback.procedure); keep istiod revisions labelled (istio.io/rev) and every mesh namespace's injection label explicit, so the steps can be derived from the state."),
		mk("rollback.continuity",
			"Rolling back must not cause the outage it is meant to end: the plan says how traffic keeps flowing while workloads restart onto the previous revision.",
			"Document the service continuity plan (documents.rollback.continuity): canary revisions side by side, restart order, PodDisruptionBudgets, traffic draining."),
		mk("rollback.data-preservation",
			"A rollback reverts configuration, not data: the plan says which configuration is restored from where, and how data written meanwhile (vector indexes, context stores) is kept.",
			"Document the data preservation strategy (documents.rollback.data-preservation): configuration backups to restore, what happens to data written by the new version."),
		mk("rollback.verification",
			"A rollback is finished only when it is verified: every proxy on the intended revision, no config errors, the critical services answering normally.",
			"Document the verification steps (documents.rollback.verification): istioctl proxy-status, istioctl analyze, the critical services' dashboards and smoke tests."),
	}
}

// rollbackStateConfig checks what a rollback plan needs from the current
// state: the istiod revision(s) and, for every mesh namespace, the
// injection label that selects its revision.
func rollbackStateConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	istiods := mesh.Istiods(c, cp)
	if len(istiods) == 0 {
		c.Fail(nil, "no istiod Deployment in %s: the control-plane revision a rollback returns to cannot be identified", cp).
			Fix("include the control plane's manifests (helm template istiod istio/istiod -n " + cp + ") or set controlPlaneNamespace in meshready.yaml")
		return
	}
	var revs []string
	for _, ist := range istiods {
		v, src, ok := ist.Version()
		desc := "version unknown"
		if ok {
			desc = "Istio " + v.String() + " from " + src
		}
		revs = append(revs, ist.Revision)
		c.Pass(ist.Object, "istiod revision %s (%s)", ist.Revision, desc)
	}
	names := mesh.RevisionNames(c, istiods)
	hasDefault := false
	for _, ist := range istiods {
		if ist.Revision == mesh.DefaultRevision {
			hasDefault = true
		}
	}
	if _, ok := names[mesh.DefaultRevision]; ok {
		hasDefault = true
	}
	nss := mesh.Namespaces(c, c.Config)
	if len(nss) == 0 {
		c.Fail(nil, "no mesh namespaces: none listed in meshready.yaml meshNamespaces and no Namespace labelled for injection, so there is nothing a rollback would re-point").
			Fix("label the mesh namespaces (kubectl label namespace <ns> istio.io/rev=<revision>) or list them in meshready.yaml meshNamespaces")
		return
	}
	plannable := true
	for _, ns := range nss {
		o := c.Get(snapshot.Namespace, "", ns)
		if o == nil {
			plannable = false
			c.Fail(nil, "mesh namespace %s has no Namespace object in the input: its injection label, which a rollback re-points, is unknown", ns).
				Fixf("include the Namespace manifest (kubectl get namespace %s -o yaml)", ns)
			continue
		}
		inj, rev := o.Labels[mesh.LabelInjection], o.Labels[mesh.LabelRev]
		switch {
		case rev != "" && inj != "enabled":
			if target, ok := names[rev]; ok {
				c.Pass(o, "namespace %s injects from %s=%s (istiod revision %s)", ns, mesh.LabelRev, rev, target)
			} else {
				plannable = false
				c.Fail(o, "namespace %s is labelled %s=%s, which names no istiod revision or revision tag (revisions: %s): a rollback cannot re-point it", ns, mesh.LabelRev, rev, join(revs)).
					Field("metadata.labels["+mesh.LabelRev+"]").Got("%s", rev).Want("one of %s", join(sortedNames(names))).
					Fixf("kubectl label namespace %s %s=%s --overwrite", ns, mesh.LabelRev, revs[0])
			}
		case inj == "enabled" && rev == "":
			if hasDefault {
				c.Pass(o, "namespace %s injects from the default revision (%s=enabled)", ns, mesh.LabelInjection)
			} else {
				plannable = false
				c.Fail(o, "namespace %s is labelled %s=enabled, but no istiod is the default revision (revisions: %s) and no \"default\" revision tag exists", ns, mesh.LabelInjection, join(revs)).
					Field("metadata.labels").Want("%s=<revision>", mesh.LabelRev).
					Fixf("kubectl label namespace %s %s- %s=%s", ns, mesh.LabelInjection, mesh.LabelRev, revs[0])
			}
		case inj == "enabled" && rev != "":
			plannable = false
			c.Fail(o, "namespace %s carries both %s=enabled and %s=%s: which revision injects it is ambiguous", ns, mesh.LabelInjection, mesh.LabelRev, rev).
				Field("metadata.labels").Want("one injection label").
				Fixf("kubectl label namespace %s %s-", ns, mesh.LabelInjection)
		default:
			plannable = false
			c.Fail(o, "mesh namespace %s has no injection label (%s or %s): the revision its proxies come from is unknown", ns, mesh.LabelInjection, mesh.LabelRev).
				Field("metadata.labels").Want("%s=<revision>", mesh.LabelRev).
				Fixf("kubectl label namespace %s %s=%s", ns, mesh.LabelRev, revs[0])
		}
	}
	if plannable {
		c.Pass(nil, "a rollback can be planned from this state: istiod revision(s) %s and the injection label of all %d mesh namespace(s) are known. "+
			"This version of meshready does not print the plan: `meshready rollback plan` and `meshready export` come in a later version; until then follow the rollback documents.", join(revs), len(nss))
	}
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
