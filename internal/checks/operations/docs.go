package operations

import (
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/engine"
)

// headingGroup is one section a document must have, under any of several names.
type headingGroup struct {
	Name  string   // how messages name it
	Words []string // a heading containing any of these (lower-case) counts
}

// architectureHeadings are the sections an architecture document needs at
// the least: what the system is (an overview) and what it is made of (its
// components, services or topology). Matching is lenient: any heading that
// contains one of the words, at any level.
var architectureHeadings = []headingGroup{
	{Name: "Overview", Words: []string{"overview", "introduction", "summary", "context", "purpose", "scope"}},
	{Name: "Components", Words: []string{"component", "services", "topology", "building blocks", "design", "traffic flow", "data flow"}},
}

func docsArchitectureCheck() *check.Check {
	return &check.Check{
		ID: "docs.architecture",
		Why: "On-call engineers who did not build the platform need a map: which services exist, which call which through the mesh, " +
			"where istiod, the gateways and the observability stack run. Without it every incident starts with archaeology.",
		Fix: "Write the architecture document (at least an Overview section and a Components section listing the services, gateways and their dependencies) " +
			"and name it in meshready.yaml under documents.docs.architecture. A later version of meshready will generate the mesh's topology from the manifests to start it from.",
		Docs:  "https://istio.io/latest/docs/ops/deployment/architecture/",
		Docs_: architectureDocs,
	}
}

// architectureDocs checks the architecture document exists, is not empty and
// has an overview and a components section.
func architectureDocs(c *check.Context) {
	id := "docs.architecture"
	p, ok := c.Config.Documents[id]
	if !ok || strings.Contains(p, "://") {
		engine.CheckDocument(c, id, nil) // reports the missing document, or records the link
		return
	}
	doc, err := engine.ReadDocument(c.Config.Resolve(p))
	if err != nil || strings.TrimSpace(doc.Text) == "" {
		engine.CheckDocument(c, id, nil) // reports why
		return
	}
	var missing []string
	for _, g := range architectureHeadings {
		if !hasHeadingWith(doc, g.Words) {
			missing = append(missing, g.Name)
		}
	}
	if len(missing) > 0 {
		c.Fail(nil, "document %s lacks the section(s) %s (looked for headings containing: %s)", p, strings.Join(missing, ", "), headingWords(missing)).
			Got("headings: %s", strings.Join(doc.Headings, "; ")).
			Want("an Overview and a Components section").
			Fixf("add to %s:\n## Overview\nWhat the platform does, who uses it, what is in the mesh.\n## Components\nEach service (namespace, owner, what it calls), the ingress gateway, istiod, the observability stack.", p)
		return
	}
	engine.CheckDocument(c, id, nil)
	c.Pass(nil, "document %s has an overview and a components section", p)
}

func hasHeadingWith(d *engine.Document, words []string) bool {
	for _, h := range d.Headings {
		for _, w := range words {
			if strings.Contains(h, w) {
				return true
			}
		}
	}
	return false
}

func headingWords(names []string) string {
	var out []string
	for _, g := range architectureHeadings {
		for _, n := range names {
			if g.Name == n {
				out = append(out, strings.Join(g.Words, "/"))
			}
		}
	}
	return strings.Join(out, "; ")
}

// docCheck is an item whose docs part is the engine's generic one (the
// configured document exists and is not empty).
func docCheck(id, why, fix, docs string) *check.Check {
	return &check.Check{ID: id, Why: why, Fix: fix, Docs: docs}
}

func documentFix(id, file string) string {
	return "Write it and name it in meshready.yaml:\ndocuments:\n  " + id + ": docs/" + file
}

func genericDocChecks() []*check.Check {
	return []*check.Check{
		docCheck("docs.configuration-guides",
			"Configuration guides tell a developer how to give a new service its VirtualService, DestinationRule, AuthorizationPolicy and timeouts the way this platform expects, "+
				"so that the mesh stays consistent as services are added.",
			"Write the configuration guide (onboarding a service to the mesh, traffic and security defaults, how to change them). "+documentFix("docs.configuration-guides", "configuration-guide.md"),
			"https://istio.io/latest/docs/ops/configuration/"),
		docCheck("docs.troubleshooting",
			"Mesh failures have their own symptoms (503 UF/UH/NR response flags, mTLS handshake errors, stale config, injection missing); a troubleshooting guide turns them into a checklist with istioctl commands.",
			"Write the troubleshooting guide (istioctl analyze, proxy-status, proxy-config, response flags, common 503 causes). "+documentFix("docs.troubleshooting", "troubleshooting.md"),
			"https://istio.io/latest/docs/ops/common-problems/"),
		docCheck("ops.backup",
			"The mesh's configuration (Istio resources, mesh config, the CA root if Istio-managed) is what makes traffic flow; without a backup procedure, a bad change or a lost cluster means rebuilding it from memory.",
			"Document how the mesh configuration is backed up and restored (GitOps repository, Velero, the istio-ca-secret / cacerts handling). "+documentFix("ops.backup", "backup.md")+
				"\nA later version of meshready will export the evaluated mesh configuration as a backup.",
			"https://istio.io/latest/docs/ops/best-practices/deployment/"),
		docCheck("ops.incident-response",
			"An incident response plan says who is paged, who decides, where the team talks and how the status is communicated, so that a mesh outage does not start with a debate.",
			"Write the incident response plan (severity levels, on-call rotation, escalation, communication channels, post-incident review). "+documentFix("ops.incident-response", "incident-response.md"),
			"https://istio.io/latest/docs/ops/diagnostic-tools/"),
		docCheck("rollback.service-verification",
			"After a rollback, each critical service must be verified (requests succeed, latency normal, mTLS on) before the incident is closed; written steps keep that from being skipped under pressure.",
			"Write the post-rollback service verification steps per critical service (smoke requests, dashboards to check, istioctl proxy-status). "+documentFix("rollback.service-verification", "rollback-service-verification.md"),
			"https://istio.io/latest/docs/setup/upgrade/canary/"),
		docCheck("rollback.communication-templates",
			"Ready-made messages (rollback started, completed, impact) let the incident lead inform users and stakeholders in minutes instead of drafting under pressure.",
			"Write the communication templates (internal and user-facing; start, progress, resolution). "+documentFix("rollback.communication-templates", "rollback-communication-templates.md"),
			"https://istio.io/latest/docs/setup/upgrade/canary/"),
		docCheck("rollback.incident-review",
			"A blameless review after each rollback finds the cause and the missing guard, so the next release does not fail the same way.",
			"Write the incident review process (timeline, root cause, actions, owner, due date). "+documentFix("rollback.incident-review", "incident-review.md"),
			"https://istio.io/latest/docs/ops/diagnostic-tools/"),
		docCheck("rollback.improvement-tracking",
			"Review actions that are not tracked are not done; tracking them (tickets with owners) is how the platform gets more reliable after a rollback.",
			"Document where improvement actions are tracked and how they are followed up. "+documentFix("rollback.improvement-tracking", "improvement-tracking.md"),
			"https://istio.io/latest/docs/ops/diagnostic-tools/"),
	}
}
