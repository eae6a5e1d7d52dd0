package render

import (
	"fmt"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// This file holds what several formats share: the checklist outline, the
// status marks, and which parts and findings an item shows.

// liveOrigin is the File of objects listed from a live cluster (see
// snapshot.Origin): a place to name, but not a file.
const liveOrigin = "cluster"

// mark is the one-glyph sign of a status, the same in every format.
func mark(s report.Status) string {
	switch s {
	case report.Pass:
		return "✅"
	case report.Warn:
		return "⚠️"
	case report.Fail:
		return "❌"
	case report.Pending:
		return "⏳"
	case report.NotApplicable:
		return "➖"
	case report.Error:
		return "⛔"
	}
	return "❓"
}

// statusName is a status as a word, for unknown or empty statuses too.
func statusName(s report.Status) string {
	if s == "" {
		return "unknown"
	}
	return string(s)
}

// legendEntry pairs a mark with its status, in report.Statuses order.
type legendEntry struct {
	Status report.Status
	Mark   string
}

func legend() []legendEntry {
	out := make([]legendEntry, 0, len(report.Statuses))
	for _, s := range report.Statuses {
		out = append(out, legendEntry{s, mark(s)})
	}
	return out
}

// verdictText is the verdict as one shouted phrase.
func verdictText(v string) string {
	switch v {
	case report.Ready:
		return "READY"
	case report.NotReady:
		return "NOT READY"
	case "":
		return "UNKNOWN"
	}
	return strings.ToUpper(strings.ReplaceAll(v, "-", " "))
}

func verdictMark(v string) string {
	if v == report.Ready {
		return mark(report.Pass)
	}
	return mark(report.Fail)
}

// section and group are the checklist outline: items in report order,
// grouped by Section then Group in order of first appearance.
type section struct {
	Name   string
	Groups []group
}

type group struct {
	Name  string
	Items []*report.Item // point into the report; read only
}

func outline(r *report.Report) []section {
	var out []section
	secIdx := map[string]int{}
	grpIdx := map[[2]string]int{}
	for i := range r.Items {
		it := &r.Items[i]
		si, ok := secIdx[it.Section]
		if !ok {
			si = len(out)
			secIdx[it.Section] = si
			out = append(out, section{Name: it.Section})
		}
		gk := [2]string{it.Section, it.Group}
		gi, ok := grpIdx[gk]
		if !ok {
			gi = len(out[si].Groups)
			grpIdx[gk] = gi
			out[si].Groups = append(out[si].Groups, group{Name: it.Group})
		}
		out[si].Groups[gi].Items = append(out[si].Groups[gi].Items, it)
	}
	return out
}

// itemByID finds an item for the blocking list.
func itemByID(r *report.Report, id string) *report.Item {
	for i := range r.Items {
		if r.Items[i].ID == id {
			return &r.Items[i]
		}
	}
	return nil
}

// blocker is one entry of "what blocks the verdict".
type blocker struct {
	ID     string
	Title  string // "" when the ID names no item of the report
	Status report.Status
}

func blockers(r *report.Report) []blocker {
	out := make([]blocker, 0, len(r.Blocking))
	for _, id := range r.Blocking {
		b := blocker{ID: id}
		if it := itemByID(r, id); it != nil {
			b.Title, b.Status = it.Title, it.Status
		}
		out = append(out, b)
	}
	return out
}

// partView is one part of an item with the findings shown under it.
type partView struct {
	Name     string
	Status   report.Status
	Message  string
	Findings []report.Finding
}

// itemDetails says what is shown under an item, part by part:
//   - verbose: every part and every finding;
//   - a passing item: only findings a waiver covers (and their part);
//   - any other item: the parts that did not pass, each with its findings that
//     did not pass, plus waived findings.
//
// A finding that only repeats its part's message is folded into the part.
// Findings whose part is not among the item's parts come last, grouped by part.
func itemDetails(it *report.Item, verbose bool) []partView {
	showF := func(f *report.Finding) bool {
		return verbose || f.Waiver != nil || (it.Status != report.Pass && f.Status != report.Pass)
	}
	var out []partView
	known := map[string]bool{}
	for _, p := range it.Parts {
		known[p.Part] = true
		var fs []report.Finding
		for i := range it.Findings {
			if f := &it.Findings[i]; f.Part == p.Part && showF(f) {
				fs = append(fs, *f)
			}
		}
		if len(fs) == 1 && bare(&fs[0]) && fs[0].Message == p.Message && fs[0].Status == p.Status {
			fs = nil
		}
		if verbose || len(fs) > 0 || (it.Status != report.Pass && p.Status != report.Pass) {
			out = append(out, partView{Name: p.Part, Status: p.Status, Message: p.Message, Findings: fs})
		}
	}
	orphan := map[string]int{}
	for i := range it.Findings {
		f := &it.Findings[i]
		if known[f.Part] || !showF(f) {
			continue
		}
		j, ok := orphan[f.Part]
		if !ok {
			j = len(out)
			orphan[f.Part] = j
			out = append(out, partView{Name: f.Part, Status: f.Status})
		}
		out[j].Status = report.Worse(out[j].Status, f.Status)
		out[j].Findings = append(out[j].Findings, *f)
	}
	for i := range out {
		if out[i].Name == "" {
			out[i].Name = "general"
		}
	}
	return out
}

// bare reports whether a finding says nothing beyond its message.
func bare(f *report.Finding) bool {
	return f.Remediation == "" && f.Object == nil && f.Field == "" && f.Observed == "" &&
		f.Expected == "" && f.Query == nil && f.Waiver == nil
}

// objectName is "Kind namespace/name", or "Kind name" for cluster-scoped objects.
func objectName(o *report.ObjectRef) string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// location is "file:line", "file", or "" when the object has no origin.
func location(file string, line int) string {
	switch {
	case file == "":
		return ""
	case line > 0:
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// objectText is "Kind ns/name (file:line)".
func objectText(o *report.ObjectRef) string {
	s := objectName(o)
	if l := location(o.File, o.Line); l != "" {
		s += " (" + l + ")"
	}
	return s
}

// queryText is "source: expr = value @ time".
func queryText(q *report.Query) string {
	s := q.Expr
	if q.Source != "" {
		s = q.Source + ": " + s
	}
	if q.Value != "" {
		s += " = " + q.Value
	}
	if q.Time != "" {
		s += " @ " + q.Time
	}
	return s
}

// waiverState classifies a configured waiver for the waiver lists.
func waiverState(w *report.Waiver) string {
	switch {
	case w.Expired:
		return "expired"
	case w.Used > 0:
		return "applied"
	}
	return "unused"
}

// waiverText is the note shown under a waived finding: "waived: <detail>"
// or "EXPIRED waiver: <detail>".
func waiverText(w *report.Waiver) string {
	if w.Expired {
		return "EXPIRED waiver: " + waiverDetail(w)
	}
	return "waived: " + waiverDetail(w)
}

// waiverDetail is "reason (by X, until/expired date)".
func waiverDetail(w *report.Waiver) string {
	s := orDash(w.Reason)
	var meta []string
	if w.By != "" {
		meta = append(meta, "by "+w.By)
	}
	if w.Expires != "" {
		if w.Expired {
			meta = append(meta, "expired "+w.Expires)
		} else {
			meta = append(meta, "until "+w.Expires)
		}
	}
	if len(meta) > 0 {
		s += " (" + strings.Join(meta, ", ") + ")"
	}
	return s
}

// waiverTarget is "item" or "item on object-glob".
func waiverTarget(w *report.Waiver) string {
	if w.Object == "" {
		return w.Item
	}
	return w.Item + " on " + w.Object
}

// attestationText is one line about a human statement.
func attestationText(a *report.Attestation) string {
	var b strings.Builder
	b.WriteString("attested by " + orDash(a.By))
	if a.At != "" {
		b.WriteString(" on " + a.At)
	}
	if a.Note != "" {
		b.WriteString(": " + a.Note)
	}
	var meta []string
	if a.Evidence != "" {
		meta = append(meta, "evidence "+a.Evidence)
	}
	if a.Digest != "" {
		meta = append(meta, "approves "+a.Digest)
	}
	if a.Expires != "" {
		meta = append(meta, "expires "+a.Expires)
	}
	if len(meta) > 0 {
		b.WriteString(" (" + strings.Join(meta, "; ") + ")")
	}
	if a.Status != report.Pass && a.Status != "" {
		b.WriteString(" — " + string(a.Status))
		if a.Reason != "" {
			b.WriteString(": " + a.Reason)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summaryParts is "3 pass", "1 warn", ... for every status, in order.
func summaryParts(s report.Summary) []string {
	out := make([]string, 0, len(report.Statuses))
	for _, st := range report.Statuses {
		out = append(out, fmt.Sprintf("%d %s", s.Count(st), st))
	}
	return out
}

func summaryTotal(s report.Summary) int {
	n := 0
	for _, st := range report.Statuses {
		n += s.Count(st)
	}
	return n
}

// toolName is the report's tool, "meshready" when unset.
func toolName(r *report.Report) string {
	if r.Tool.Name == "" {
		return "meshready"
	}
	return r.Tool.Name
}

// findingPlain is a finding as plain text, for junit bodies.
func findingPlain(f *report.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s\n", mark(f.Status), statusName(f.Status), indentRest(f.Message, "  "))
	writeFindingFields(&b, f, "  ")
	return b.String()
}

// writeFindingFields writes the labelled lines under a finding's message.
func writeFindingFields(b *strings.Builder, f *report.Finding, ind string) {
	line := func(label, v string) {
		if v != "" {
			b.WriteString(ind + label + indentRest(v, ind+strings.Repeat(" ", len(label))) + "\n")
		}
	}
	if f.Object != nil {
		line("object:   ", objectText(f.Object))
	}
	line("field:    ", f.Field)
	line("observed: ", f.Observed)
	line("expected: ", f.Expected)
	if f.Query != nil {
		line("query:    ", queryText(f.Query))
	}
	if f.Waiver != nil {
		b.WriteString(ind + indentRest(waiverText(f.Waiver), ind+"  ") + "\n")
	}
	writeFix(b, f.Remediation, ind)
}

// writeFix writes "fix: one line" or "fix:" and the remediation indented below.
func writeFix(b *strings.Builder, fix, ind string) {
	fix = strings.TrimRight(fix, "\n")
	if fix == "" {
		return
	}
	if !strings.Contains(fix, "\n") {
		b.WriteString(ind + "fix:      " + fix + "\n")
		return
	}
	b.WriteString(ind + "fix:\n")
	for _, l := range strings.Split(fix, "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(ind + "  " + l + "\n")
	}
}

// indentRest indents every line of s but the first.
func indentRest(s, ind string) string {
	s = strings.TrimRight(s, "\n")
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\n"+ind)
}

// looksLikeYAML guesses whether a remediation is a YAML snippet (for a code
// fence's language): several lines, most of them "key:" or "- " lines.
func looksLikeYAML(s string) bool {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 2 {
		return false
	}
	yamlish := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t == "---" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "- ") ||
			strings.HasSuffix(t, ":") || strings.Contains(t, ": ") {
			yamlish++
		}
	}
	return yamlish == len(lines)
}
