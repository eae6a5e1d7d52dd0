// Package check defines what a checklist item is (metadata plus one
// function per evaluated part) and the Context those functions report into.
package check

import (
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// Part is one source of truth an item is evaluated from.
type Part string

const (
	Config    Part = "config"
	Live      Part = "live"
	Telemetry Part = "telemetry"
	Probe     Part = "probe"
	Docs      Part = "docs"
	Manual    Part = "manual"
)

// Parts lists the parts in a stable order.
var Parts = []Part{Config, Live, Telemetry, Probe, Docs, Manual}

// Meta is an item's identity, fixed by the checklist. IDs never derive from titles.
type Meta struct {
	ID       string // e.g. "security.mtls"; per-service items use "service.S.traffic"
	Section  string // "Core Components"
	Group    string // "Istio Control Plane"
	Title    string // the checklist's wording
	Kind     string // as checklist.md writes it: "config+live", "telemetry+config", ...
	Severity report.Severity
}

// PerService reports whether the item is expanded for each critical service.
func (m Meta) PerService() bool { return strings.HasPrefix(m.ID, "service.S.") }

// KindParts splits Kind into its parts, in the order written.
func (m Meta) KindParts() []Part {
	var out []Part
	for _, p := range strings.Split(m.Kind, "+") {
		out = append(out, Part(p))
	}
	return out
}

// Func evaluates one part of an item, reporting into c.
type Func func(c *Context)

// Check is the implementation of an item: what it reads, why it matters, how
// to fix it, and one Func per part it evaluates itself. Parts without a Func
// are handled by the engine: docs (documents exist), manual (attestations),
// probe (recorded evidence); live and telemetry without a Func are pending.
type Check struct {
	ID    string
	Reads []string // kind keys (snapshot.Deployment, ...) the Funcs read
	Why   string   // why the item matters, for `meshready explain`
	Fix   string   // the usual remediation, for `meshready explain`
	Docs  string   // upstream documentation URL

	Config    Func
	Live      Func
	Telemetry Func
	Probe     Func
	Docs_     Func // docs part beyond "the document exists" (e.g. runbook URLs)
	Manual    Func
}

// Func returns the implementation of one part, or nil.
func (c *Check) Func(p Part) Func {
	switch p {
	case Config:
		return c.Config
	case Live:
		return c.Live
	case Telemetry:
		return c.Telemetry
	case Probe:
		return c.Probe
	case Docs:
		return c.Docs_
	case Manual:
		return c.Manual
	}
	return nil
}

// Item is a Check joined with its Meta: what the registry hands the engine.
type Item struct {
	Meta
	*Check
}

// ServiceID returns the ID of a per-service item for one service.
func ServiceID(templateID, service string) string {
	return strings.Replace(templateID, ".S.", "."+service+".", 1)
}
