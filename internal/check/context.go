package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
)

// Context is what one part of one item sees while it is evaluated: the
// snapshot (only through the kinds the check declared), the config, the
// critical service for per-service items, and a place to report findings.
type Context struct {
	Config  *config.Config
	Service *config.Service // the critical service, for service.S.* items
	Now     time.Time
	// ItemID is the catalog ID of the item being evaluated (service.S.* for per-service items).
	ItemID string
	// Attestations are the recorded human attestations.
	Attestations []attest.Record
	// Telemetry queries Prometheus (and Grafana, Jaeger, Kiali) for the
	// telemetry parts; nil when no telemetry URL was given.
	Telemetry *telemetry.Client

	snap     *snapshot.Snapshot
	declared map[string]bool
	// Undeclared records kinds read without being declared: a meta-test fails on them.
	Undeclared map[string]bool
	part       Part
	findings   []report.Finding
	status     report.Status
	summary    string
	loadRuns   []report.LoadRun // see AttachLoadRun
}

// NewContext prepares a context for one part of one item.
func NewContext(snap *snapshot.Snapshot, cfg *config.Config, svc *config.Service, reads []string, part Part, now time.Time) *Context {
	d := make(map[string]bool, len(reads))
	for _, k := range reads {
		d[k] = true
	}
	return &Context{Config: cfg, Service: svc, Now: now, snap: snap, declared: d, part: part}
}

func (c *Context) read(kind string) {
	if !c.declared[kind] {
		if c.Undeclared == nil {
			c.Undeclared = map[string]bool{}
		}
		c.Undeclared[kind] = true
	}
	if ke, ok := c.snap.KindErrors[kind]; ok {
		c.kindError(kind, ke)
	}
}

// kindErrorsSeen keeps one error finding per unreadable kind.
func (c *Context) kindError(kind string, ke snapshot.KindError) {
	msg := fmt.Sprintf("cannot read %s: %s", kind, ke.Message)
	for _, f := range c.findings {
		if f.Status == report.Error && f.Message == msg {
			return
		}
	}
	c.add(report.Error, nil, "%s", msg).Fix(ke.Remediation)
}

// Unreadable reports whether a kind could not be read (forbidden, missing
// CRD, timeout): an absent object of that kind proves nothing.
func (c *Context) Unreadable(kind string) bool {
	c.read(kind)
	_, bad := c.snap.KindErrors[kind]
	return bad
}

// List returns every object of a declared kind.
func (c *Context) List(kind string) []*snapshot.Object {
	c.read(kind)
	return c.snap.List(kind)
}

// InNamespace returns the objects of a declared kind in one namespace.
func (c *Context) InNamespace(kind, ns string) []*snapshot.Object {
	c.read(kind)
	return c.snap.InNamespace(kind, ns)
}

// Get returns one object of a declared kind, or nil.
func (c *Context) Get(kind, ns, name string) *snapshot.Object {
	c.read(kind)
	return c.snap.Get(kind, ns, name)
}

// ByHost returns the objects of a declared kind indexed under a host FQDN
// (VirtualService, DestinationRule, ServiceEntry, Gateway: see snapshot.HostIndex).
func (c *Context) ByHost(kind, fqdn string) []*snapshot.Object {
	c.read(kind)
	return c.snap.ByHost(kind, fqdn)
}

// Live returns the live cluster's description, nil offline.
func (c *Context) Live() *snapshot.LiveInfo { return c.snap.Live }

// Part is the part being evaluated.
func (c *Context) Part() Part { return c.part }

// F is a finding under construction; its methods fill the optional fields.
type F struct{ f *report.Finding }

func (c *Context) add(st report.Status, obj *snapshot.Object, format string, args ...any) F {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	c.findings = append(c.findings, report.Finding{Status: st, Part: string(c.part), Message: msg, Object: Ref(obj)})
	c.status = report.Worse(c.status, st)
	return F{&c.findings[len(c.findings)-1]}
}

// Pass records positive evidence: what was checked and found right.
func (c *Context) Pass(obj *snapshot.Object, format string, args ...any) F {
	return c.add(report.Pass, obj, format, args...)
}

// Fail records a defect that fails the item.
func (c *Context) Fail(obj *snapshot.Object, format string, args ...any) F {
	return c.add(report.Fail, obj, format, args...)
}

// Warn records a weakness that does not fail the item.
func (c *Context) Warn(obj *snapshot.Object, format string, args ...any) F {
	return c.add(report.Warn, obj, format, args...)
}

// Error records that something could not be evaluated, and why.
func (c *Context) Error(format string, args ...any) F {
	return c.add(report.Error, nil, format, args...)
}

// ErrorAt records that one object could not be evaluated, and why.
func (c *Context) ErrorAt(obj *snapshot.Object, format string, args ...any) F {
	return c.add(report.Error, obj, format, args...)
}

// Pending records that evaluation waits for something (named in the message).
func (c *Context) Pending(format string, args ...any) F {
	return c.add(report.Pending, nil, format, args...)
}

// NotApplicable says the part does not apply, and why.
func (c *Context) NotApplicable(format string, args ...any) {
	c.add(report.NotApplicable, nil, format, args...)
}

// Summary sets the part's one-line summary (otherwise the engine derives one).
func (c *Context) Summary(format string, args ...any) { c.summary = fmt.Sprintf(format, args...) }

// Fix sets the remediation: a command or a YAML snippet a user can apply.
func (f F) Fix(remediation string) F { f.f.Remediation = remediation; return f }

// Fixf sets the remediation from a format.
func (f F) Fixf(format string, args ...any) F {
	f.f.Remediation = fmt.Sprintf(format, args...)
	return f
}

// Field names the field path the finding is about.
func (f F) Field(path string) F { f.f.Field = path; return f }

// Got records what was observed.
func (f F) Got(format string, args ...any) F { f.f.Observed = fmt.Sprintf(format, args...); return f }

// Want records what was expected.
func (f F) Want(format string, args ...any) F { f.f.Expected = fmt.Sprintf(format, args...); return f }

// Query records the query the finding relied on.
func (f F) Query(q report.Query) F { f.f.Query = &q; return f }

// Ref makes an ObjectRef of an object (nil for nil).
func Ref(o *snapshot.Object) *report.ObjectRef {
	if o == nil {
		return nil
	}
	return &report.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, File: o.Origin.File, Line: o.Origin.Line}
}

// Result returns the part's status and findings, sorted for stable output.
// A part that reported nothing passes with no evidence only if it said so;
// otherwise it is an error, so that a silent check can never look green.
func (c *Context) Result() (report.Status, string, []report.Finding) {
	st := c.status
	if len(c.findings) == 0 {
		return report.Error, "the check reported nothing (a bug in meshready: please report it)", nil
	}
	if st == "" {
		st = report.NotApplicable
	}
	fs := c.findings
	sort.SliceStable(fs, func(i, j int) bool { return findingLess(fs[i], fs[j]) })
	return st, c.summary, fs
}

func findingLess(a, b report.Finding) bool {
	if c := compareRef(a.Object, b.Object); c != 0 {
		return c < 0
	}
	if a.Field != b.Field {
		return a.Field < b.Field
	}
	return a.Message < b.Message
}

// compareRef orders findings by object (none first), without allocating.
func compareRef(a, b *report.ObjectRef) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
