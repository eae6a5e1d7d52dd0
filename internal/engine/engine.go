// Package engine evaluates the checklist: it expands per-service items, runs
// each part of each item against the sources that are present, applies
// waivers, derives item statuses and the verdict, and builds the report.
package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
)

// Options are the inputs of one evaluation besides the snapshot.
type Options struct {
	Config       *config.Config
	Items        []check.Item // in checklist order (checks.All())
	Only, Skip   []string     // item IDs, globs ("security.*"), ID prefixes or section/group names
	Now          time.Time
	Version      string
	Inputs       report.Inputs
	Attestations []attest.Record
	// AttestationsError, when set, is why the attestation store could not
	// be read: the manual and sign-off parts say error with it.
	AttestationsError error
	// Sources says which kinds of truth are available besides config and docs.
	Telemetry bool // a Prometheus was given
	// TelemetryMissing, when set, replaces the pending message of the
	// telemetry parts when no Prometheus is given (e.g. what `--prometheus
	// auto` searched and did not find).
	TelemetryMissing string
	// TelemetryClient, when set, evaluates the telemetry parts: their Funcs
	// reach it as check.Context.Telemetry (setting it implies Telemetry).
	TelemetryClient *telemetry.Client
	// Parallelism bounds concurrent item evaluation (default GOMAXPROCS).
	Parallelism int
}

// Run evaluates every selected item and returns the report.
func Run(snap *snapshot.Snapshot, o Options) *report.Report {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	cfg := o.Config
	units := filter(expand(snap, cfg, withRules(o.Items, cfg)), o.Only, o.Skip)

	// Sign-offs approve the evaluated state, so they are evaluated last,
	// against the digest of everything else.
	var state, signoffs []int
	for i, u := range units {
		if isSignoff(u.ID) {
			signoffs = append(signoffs, i)
		} else {
			state = append(state, i)
		}
	}
	results := make([]report.Item, len(units))
	runs := make([][]report.LoadRun, len(units))
	evaluateAll(snap, &o, units, state, results, runs)
	for _, i := range signoffs {
		results[i] = report.Item{ID: units[i].ID} // evaluated below, outside the digest
	}

	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "meshready", Version: o.Version},
		Inputs:        o.Inputs,
		Items:         results,
		LoadRuns:      collectLoadRuns(units, state, runs),
	}
	for _, e := range snap.InputErrors {
		r.InputErrors = append(r.InputErrors, report.InputError{File: e.File, Line: e.Line, Message: e.Message})
	}
	r.Waivers = applyWaivers(r.Items, cfg.Waivers, o.Now)
	for _, i := range state {
		setStatus(&r.Items[i])
	}
	r.Digest = Digest(r)
	for _, i := range signoffs {
		r.Items[i] = evaluateSignoff(&o, units[i], r)
		setStatus(&r.Items[i])
	}
	finish(r)
	return r
}

func isSignoff(id string) bool { return strings.HasPrefix(id, "signoff.") }

// evaluateAll evaluates the units at the given indexes on a bounded pool;
// runs[i] receives the load runs unit i relied on.
func evaluateAll(snap *snapshot.Snapshot, o *Options, units []Unit, idx []int, results []report.Item, runs [][]report.LoadRun) {
	par := o.Parallelism
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], runs[i] = evaluate(snap, o, units[i])
			}
		}()
	}
	for _, i := range idx {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Unit is one item to evaluate: a catalog item, or a per-service item bound to one service.
type Unit struct {
	check.Item
	ID      string
	Group   string
	Service *config.Service
}

func expand(snap *snapshot.Snapshot, cfg *config.Config, items []check.Item) []Unit {
	var perSvc []check.Item
	for _, it := range items {
		if it.PerService() {
			perSvc = append(perSvc, it)
		}
	}
	var out []Unit
	inserted := false
	for _, it := range items {
		if !it.PerService() {
			out = append(out, Unit{Item: it, ID: it.Meta.ID, Group: it.Group})
			continue
		}
		if inserted {
			continue
		}
		// All per-service items stand together, service by service, where
		// the first of them stands in the catalog.
		inserted = true
		services := mesh.CriticalServices(snap, cfg)
		names := serviceNames(services)
		for i := range services {
			s := services[i]
			group := s.Title
			if group == "" {
				group = s.Name + " (" + s.Namespace + ")"
			}
			for _, pi := range perSvc {
				out = append(out, Unit{Item: pi, ID: check.ServiceID(pi.Meta.ID, names[i]), Group: group, Service: &s})
			}
		}
	}
	return out
}

// serviceNames returns the name used in service.<name>.* IDs: the Service's
// name, or name.namespace when two critical services share a name.
func serviceNames(svcs []config.Service) []string {
	count := map[string]int{}
	for _, s := range svcs {
		count[s.Name]++
	}
	out := make([]string, len(svcs))
	for i, s := range svcs {
		if count[s.Name] > 1 {
			out[i] = s.Name + "." + s.Namespace
		} else {
			out[i] = s.Name
		}
	}
	return out
}

// Selected reports whether an item matches one of the selectors: an exact
// ID, a glob, an ID prefix ("security" selects security.*), or a section or
// group name (case-insensitive).
func Selected(u Unit, selectors []string) bool {
	for _, s := range selectors {
		switch {
		case s == u.ID || s == u.Meta.ID:
			return true
		case strings.HasPrefix(u.ID, s+"."):
			return true
		case strings.EqualFold(s, u.Section) || strings.EqualFold(s, u.Group):
			return true
		}
		if ok, _ := path.Match(s, u.ID); ok {
			return true
		}
	}
	return false
}

func filter(units []Unit, only, skip []string) []Unit {
	if len(only) == 0 && len(skip) == 0 {
		return units
	}
	var out []Unit
	for _, u := range units {
		if len(only) > 0 && !Selected(u, only) {
			continue
		}
		if Selected(u, skip) {
			continue
		}
		out = append(out, u)
	}
	return out
}

// evaluate runs every part of one unit; it also returns the load runs its
// parts attached.
func evaluate(snap *snapshot.Snapshot, o *Options, u Unit) (report.Item, []report.LoadRun) {
	it := report.Item{
		ID: u.ID, Section: u.Section, Group: u.Group, Title: u.Title,
		Kind: u.Kind, Severity: u.Severity, Findings: []report.Finding{},
	}
	if u.Service != nil {
		it.Service = u.Service.Name
	}
	var runs []report.LoadRun
	for _, p := range u.KindParts() {
		st, msg, fs := evaluatePart(snap, o, u, p, &it, &runs)
		it.Parts = append(it.Parts, report.PartResult{Part: string(p), Status: st, Message: msg})
		it.Findings = append(it.Findings, fs...)
	}
	return it, runs
}

func evaluatePart(snap *snapshot.Snapshot, o *Options, u Unit, p check.Part, it *report.Item, runs *[]report.LoadRun) (st report.Status, msg string, fs []report.Finding) {
	defer func() {
		// A check's bug must not take the run down: the item says error.
		if r := recover(); r != nil {
			st = report.Error
			msg = fmt.Sprintf("internal error while evaluating: %v (a bug in meshready: please report it)", r)
			fs = []report.Finding{{Status: report.Error, Part: string(p), Message: msg}}
		}
	}()
	fn := u.Check.Func(p)
	switch p {
	case check.Live:
		if snap.Live == nil {
			return pending(p, "needs a live cluster: run `meshready check` without paths (current kubeconfig context) or with --kubeconfig/--context")
		}
		if fn == nil {
			return pending(p, "the live part of this item is not evaluated by this version of meshready")
		}
	case check.Telemetry:
		if !o.Telemetry && o.TelemetryClient == nil {
			if o.TelemetryMissing != "" {
				return pending(p, o.TelemetryMissing)
			}
			return pending(p, "needs Prometheus: pass --prometheus URL")
		}
		if fn == nil {
			return pending(p, "the telemetry part of this item is not evaluated by this version of meshready")
		}
	case check.Probe:
		if fn == nil {
			return pending(p, "needs a recorded probe result: run `meshready probe` (see `meshready explain "+u.Meta.ID+"`) or import a fortio JSON result into the evidence directory")
		}
	case check.Docs:
		if fn == nil {
			fn = documentExists
		}
	case check.Manual:
		if fn == nil {
			return manualPart(o, u, it)
		}
	case check.Config:
		if fn == nil {
			return report.Error, "not implemented", []report.Finding{{Status: report.Error, Part: string(p), Message: "the config part of this item has no implementation in this version of meshready"}}
		}
	}
	c := check.NewContext(snap, o.Config, u.Service, u.Check.Reads, p, o.Now)
	c.ItemID = u.Meta.ID
	c.Attestations = o.Attestations
	c.Telemetry = o.TelemetryClient
	fn(c)
	*runs = append(*runs, c.LoadRuns()...)
	return c.Result()
}

func pending(p check.Part, msg string) (report.Status, string, []report.Finding) {
	return report.Pending, msg, []report.Finding{{Status: report.Pending, Part: string(p), Message: msg}}
}

// documentExists is the generic docs part: the document the config names
// for this item exists and is not empty. Links are recorded, not fetched.
func documentExists(c *check.Context) {
	CheckDocument(c, c.ItemID, nil)
}

// CheckDocument checks the document configured for an item, requiring the
// given headings (case-insensitive, any level). Exported for checks that
// need more than existence.
func CheckDocument(c *check.Context, itemID string, headings []string) {
	p, ok := c.Config.Documents[itemID]
	if !ok {
		c.Fail(nil, "no document configured for %s", itemID).
			Fixf("write the document and name it in meshready.yaml:\ndocuments:\n  %s: docs/%s.md", itemID, strings.ReplaceAll(itemID, ".", "-"))
		return
	}
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		c.Pass(nil, "document linked at %s (a link is recorded, not fetched)", p)
		return
	}
	full := c.Config.Resolve(p)
	doc, err := ReadDocument(full)
	if err != nil {
		c.Fail(nil, "document %s for %s: %v", p, itemID, err).Fixf("create %s (path relative to meshready.yaml) or correct documents.%s", p, itemID)
		return
	}
	if strings.TrimSpace(doc.Text) == "" {
		c.Fail(nil, "document %s is empty", p).Fixf("write the content of %s", p)
		return
	}
	var missing []string
	for _, h := range headings {
		if !doc.HasHeading(h) {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		c.Fail(nil, "document %s lacks the heading(s): %s", p, strings.Join(missing, ", ")).
			Fixf("add the sections %s to %s", strings.Join(missing, ", "), p)
		return
	}
	c.Pass(nil, "document %s (%d lines)", filepath.ToSlash(p), doc.Lines)
}

// manualPart reads the newest attestation for the item.
func manualPart(o *Options, u Unit, it *report.Item) (report.Status, string, []report.Finding) {
	p := string(check.Manual)
	if o.AttestationsError != nil {
		reason, fix := attest.Explain(o.AttestationsError)
		msg := "cannot read the attestation store: " + reason
		return report.Error, msg, []report.Finding{{Status: report.Error, Part: p, Message: msg, Remediation: fix}}
	}
	rec := attest.Latest(o.Attestations, u.Meta.ID)
	if rec == nil {
		msg := fmt.Sprintf("no attestation recorded: run `meshready attest %s --by NAME --evidence URL` (or add it to %s)", u.Meta.ID, attestPath(o.Config))
		return report.Pending, msg, []report.Finding{{Status: report.Pending, Part: p, Message: msg}}
	}
	a := report.Attestation{Item: rec.Item, By: rec.By, At: rec.At.UTC().Format(time.RFC3339), Evidence: rec.Evidence, Note: rec.Note, Digest: rec.Digest, Status: report.Pass}
	if !rec.Expires.IsZero() {
		a.Expires = rec.Expires.UTC().Format(time.RFC3339)
	}
	f := report.Finding{Status: report.Pass, Part: p, Message: fmt.Sprintf("attested by %s on %s", rec.By, a.At)}
	switch {
	case !rec.Expires.IsZero() && !o.Now.Before(rec.Expires):
		a.Status, a.Reason = report.Fail, "expired on "+a.Expires
		f.Status = report.Fail
		f.Message = fmt.Sprintf("attestation by %s expired on %s", rec.By, a.Expires)
		f.Remediation = fmt.Sprintf("renew it: meshready attest %s --by NAME --evidence URL --expires 90d", u.Meta.ID)
	case rec.Evidence == "":
		a.Status, a.Reason = report.Warn, "no evidence link"
		f.Status = report.Warn
		f.Message = fmt.Sprintf("attested by %s on %s without an evidence link", rec.By, a.At)
		f.Remediation = "record the attestation again with --evidence URL"
	}
	it.Attestations = append(it.Attestations, a)
	return f.Status, f.Message, []report.Finding{f}
}

func attestPath(cfg *config.Config) string {
	if cfg.Attestations == "" {
		return "the attestations file named in meshready.yaml"
	}
	return cfg.Attestations
}

// applyWaivers marks non-pass findings covered by an unexpired waiver.
func applyWaivers(items []report.Item, ws []config.Waiver, now time.Time) []report.Waiver {
	if len(ws) == 0 {
		return nil
	}
	out := make([]report.Waiver, len(ws))
	for i, w := range ws {
		out[i] = report.Waiver{Item: w.Item, Object: w.Object, Reason: w.Reason, By: w.By,
			Expires: w.Expires.UTC().Format(time.RFC3339), Expired: !now.Before(w.Expires.Time)}
	}
	for ii := range items {
		it := &items[ii]
		for fi := range it.Findings {
			f := &it.Findings[fi]
			if f.Status != report.Fail && f.Status != report.Warn {
				continue
			}
			for wi, w := range ws {
				if out[wi].Expired || !waiverMatches(w, it.ID, f.Object) {
					continue
				}
				wr := out[wi]
				f.Waiver = &wr
				out[wi].Used++
				break
			}
		}
		recomputeParts(it)
	}
	for i := range out {
		for ii := range items {
			for fi := range items[ii].Findings {
				if f := items[ii].Findings[fi].Waiver; f != nil && f.Item == out[i].Item && f.Object == out[i].Object {
					f.Used = out[i].Used
				}
			}
		}
	}
	return out
}

func waiverMatches(w config.Waiver, itemID string, obj *report.ObjectRef) bool {
	if ok, _ := path.Match(w.Item, itemID); !ok && w.Item != itemID {
		return false
	}
	if w.Object == "" {
		return true
	}
	if obj == nil {
		return false
	}
	id := obj.Kind + "/" + obj.Namespace + "/" + obj.Name
	ok, _ := path.Match(w.Object, id)
	return ok
}

// recomputeParts derives part statuses again after waivers: a waived finding
// counts as pass.
func recomputeParts(it *report.Item) {
	for pi := range it.Parts {
		p := &it.Parts[pi]
		if p.Status != report.Fail && p.Status != report.Warn {
			continue
		}
		st := report.Status("")
		for _, f := range it.Findings {
			if f.Part != p.Part {
				continue
			}
			fst := f.Status
			if f.Waiver != nil {
				fst = report.Pass
			}
			st = report.Worse(st, fst)
		}
		if st != "" {
			p.Status = st
		}
	}
}

// setStatus derives an item's status: the worst of its parts.
func setStatus(it *report.Item) {
	st := report.Status("")
	for _, p := range it.Parts {
		st = report.Worse(st, p.Status)
	}
	if st == "" {
		st = report.NotApplicable
	}
	it.Status = st
}

// finish derives the summary, blockers and verdict.
func finish(r *report.Report) {
	for i := range r.Items {
		it := &r.Items[i]
		r.Summary.Add(it.Status)
		if it.Severity == report.Blocker && it.Status != report.Pass && it.Status != report.NotApplicable {
			r.Blocking = append(r.Blocking, it.ID)
		}
	}
	r.Verdict = report.Ready
	if len(r.Blocking) > 0 || len(r.Items) == 0 {
		r.Verdict = report.NotReady
	}
}

// Digest hashes the evaluated state: item IDs, statuses and findings, and the
// load runs they relied on (see digestLoadRuns), not the report's time,
// attestations or sign-offs (a sign-off must not change what it signs). Fields are written to the hash directly, each followed by a NUL, in
// item-ID order, so the digest is the same whatever the output format and
// however the report was produced (a JSON report re-parsed gives it back).
func Digest(r *report.Report) string {
	idx := make([]int, 0, len(r.Items))
	for i := range r.Items {
		if !isSignoff(r.Items[i].ID) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.Items[idx[a]].ID < r.Items[idx[b]].ID })
	h := sha256.New()
	w := bufio.NewWriterSize(h, 1<<16)
	field := func(s string) {
		w.WriteString(s)
		w.WriteByte(0)
	}
	for _, i := range idx {
		it := &r.Items[i]
		field("item")
		field(it.ID)
		field(string(it.Status))
		for fi := range it.Findings {
			f := &it.Findings[fi]
			field("finding")
			field(string(f.Status))
			field(f.Part)
			field(f.Message)
			field(f.Remediation)
			field(f.Field)
			field(f.Observed)
			field(f.Expected)
			if o := f.Object; o != nil {
				field(o.Kind)
				field(o.Namespace)
				field(o.Name)
				field(o.File)
				field(strconv.Itoa(o.Line))
			}
			if q := f.Query; q != nil {
				field(q.Source)
				field(q.Expr)
				field(q.Value)
			}
			if f.Waiver != nil {
				field("waived")
				field(f.Waiver.Item)
				field(f.Waiver.Object)
			}
		}
	}
	digestLoadRuns(field, r.LoadRuns)
	w.Flush()
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
