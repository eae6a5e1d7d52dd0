package operations

import (
	"path/filepath"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// AnnotationRunbook is the alert annotation that links a runbook.
const AnnotationRunbook = "runbook_url"

func docsRunbooksCheck() *check.Check {
	return &check.Check{
		ID:    "docs.runbooks",
		Reads: append([]string{snapshot.Namespace}, mesh.AlertRuleKinds...),
		Why: "An alert that fires at 3 a.m. must say what to do. A runbook_url on every mesh alert takes the on-call engineer from the page " +
			"to the diagnosis and the fix; a link to nowhere is worse than none.",
		Fix: "Write a runbook per alert (what it means, how to confirm, how to mitigate, when to roll back), name the runbooks' index in documents.docs.runbooks, " +
			"and set annotations.runbook_url on every alert rule (a path relative to meshready.yaml, or an https link).",
		Docs:   "https://istio.io/latest/docs/ops/diagnostic-tools/",
		Config: runbooksConfig,
	}
}

// meshAlerts returns the alert rules about the mesh: reading Istio/Envoy
// series, or defined in the control-plane or a mesh namespace.
func meshAlerts(c *check.Context) []mesh.AlertRule {
	nss := append([]string{c.Config.ControlPlaneNamespace}, mesh.Namespaces(c, c.Config)...)
	var out []mesh.AlertRule
	for _, r := range mesh.AlertRules(c) {
		if mesh.IsMeshAlert(r, nss) {
			out = append(out, r)
		}
	}
	return out
}

// slug makes a Markdown heading's anchor as GitHub does: lower-case,
// punctuation dropped, spaces to hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

type docResult struct {
	doc *engine.Document
	err error
}

func runbooksConfig(c *check.Context) {
	rules := meshAlerts(c)
	if len(rules) == 0 {
		c.Fail(nil, "no alert rules for the mesh were found (PrometheusRule objects, or rule files in ConfigMaps), so there is no runbook to check").
			Want("mesh alert rules, each with annotations.runbook_url").
			Fix("add the mesh's alert rules first (see `meshready explain ops.alert-rules`), each with:\nannotations:\n  runbook_url: docs/runbooks/<alert>.md")
		return
	}
	cache := map[string]docResult{}
	read := func(p string) docResult {
		if r, ok := cache[p]; ok {
			return r
		}
		d, err := engine.ReadDocument(p)
		cache[p] = docResult{d, err}
		return cache[p]
	}
	for _, r := range rules {
		field := r.Field + ".annotations." + AnnotationRunbook
		u := strings.TrimSpace(r.Annotations[AnnotationRunbook])
		switch {
		case u == "":
			c.Fail(r.Object, "alert %s has no %s annotation: the page does not say what to do", r.Alert, AnnotationRunbook).
				Field(field).Want("a runbook path or link").
				Fixf("annotations:\n  %s: docs/runbooks/%s.md   # relative to meshready.yaml, or an https link", AnnotationRunbook, strings.ToLower(r.Alert))
		case strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://"):
			c.Pass(r.Object, "alert %s: runbook %s (a link is recorded, not fetched)", r.Alert, u)
		case strings.Contains(u, "{{"):
			c.Warn(r.Object, "alert %s: runbook_url %s is a template, so meshready cannot resolve it offline", r.Alert, u).
				Field(field).Got("%s", u).
				Fix("use a literal path or link per alert, or check the rendered URLs by hand")
		default:
			path, frag, _ := strings.Cut(u, "#")
			full := c.Config.Resolve(path)
			res := read(full)
			switch {
			case res.err != nil:
				c.Fail(r.Object, "alert %s: runbook_url %s does not resolve to a document: %s %v (paths are relative to meshready.yaml)", r.Alert, u, filepath.ToSlash(full), res.err).
					Field(field).Got("%s", u).Want("an existing document").
					Fixf("create %s, or correct the annotation:\nannotations:\n  %s: <path relative to meshready.yaml, or https link>", path, AnnotationRunbook)
			case strings.TrimSpace(res.doc.Text) == "":
				c.Fail(r.Object, "alert %s: runbook %s is empty", r.Alert, path).
					Field(field).Fixf("write the runbook in %s: what the alert means, how to confirm, how to mitigate, when to roll back", path)
			case frag != "" && !hasAnchor(res.doc, frag):
				c.Warn(r.Object, "alert %s: runbook %s has no section #%s", r.Alert, path, frag).
					Field(field).Got("#%s", frag).Want("the anchor of one of its headings").
					Fixf("add a heading whose anchor is #%s to %s, or correct the link", frag, path)
			default:
				c.Pass(r.Object, "alert %s: runbook %s (%d lines)", r.Alert, u, res.doc.Lines)
			}
		}
	}
}

func hasAnchor(d *engine.Document, frag string) bool {
	frag = strings.ToLower(frag)
	for _, h := range d.Headings {
		if slug(h) == frag {
			return true
		}
	}
	return false
}
