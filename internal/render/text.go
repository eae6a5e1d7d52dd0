package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/meshready/meshready/internal/report"
)

// textRenderer prints the checklist in its own layout for a terminal:
//
//	Core Components                 section
//	═══════════════
//	  Istio Control Plane           group
//	    ❌ High availability configured  [controlplane.high-availability]
//	       config: fail — istiod is a single replica      part that did not pass
//	         ❌ istiod runs 1 replica                     finding
//	            object:   Deployment istio-system/istiod (manifests/istiod.yaml:3)
//	            fix:      ...
//
// then the summary, input errors, waivers, what blocks the verdict, and the
// verdict on the last line.
type textRenderer struct{}

func (textRenderer) Name() string { return "text" }
func (textRenderer) Ext() string  { return "txt" }

// Indents of the text layout, in columns.
const (
	textGroupInd   = "  "
	textItemInd    = "    "
	textPartInd    = "       " // under the item's title
	textFindingInd = "         "
	textFieldInd   = "            " // under the finding's message
)

// ANSI SGR codes.
const (
	sgrBold    = "1"
	sgrDim     = "2"
	sgrRed     = "31"
	sgrGreen   = "32"
	sgrYellow  = "33"
	sgrMagenta = "35"
	sgrCyan    = "36"
	sgrGray    = "90"
)

func statusSGR(s report.Status) string {
	switch s {
	case report.Pass:
		return sgrGreen
	case report.Warn:
		return sgrYellow
	case report.Fail:
		return sgrRed
	case report.Pending:
		return sgrCyan
	case report.NotApplicable:
		return sgrGray
	case report.Error:
		return sgrMagenta
	}
	return ""
}

type painter bool

// paint wraps s in an SGR sequence when colour is on.
func (p painter) paint(sgr, s string) string {
	if !p || sgr == "" || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

func (textRenderer) Render(w io.Writer, r *report.Report, o Options) error {
	var b bytes.Buffer
	p := painter(o.Color)
	textHeader(&b, r, p)
	for _, sec := range outline(r) {
		name := orDash(sec.Name)
		fmt.Fprintf(&b, "\n%s\n%s\n", p.paint(sgrBold, name), strings.Repeat("═", utf8.RuneCountInString(name)))
		for _, g := range sec.Groups {
			fmt.Fprintf(&b, "\n%s%s\n", textGroupInd, p.paint(sgrBold, orDash(g.Name)))
			for _, it := range g.Items {
				textItem(&b, it, o, p)
			}
		}
	}
	textFooter(&b, r, p)
	return writeAll(w, &b)
}

func textHeader(b *bytes.Buffer, r *report.Report, p painter) {
	title := toolName(r)
	if r.Tool.Version != "" {
		title += " " + r.Tool.Version
	}
	fmt.Fprintf(b, "%s — Istio beta-readiness report\n", p.paint(sgrBold, title))
	field := func(label, v string) {
		fmt.Fprintf(b, "%-12s%s\n", label+":", v)
	}
	if len(r.Inputs.Paths) > 0 {
		field("inputs", strings.Join(r.Inputs.Paths, ", "))
	} else {
		field("inputs", "(none)")
	}
	field("config", orNone(r.Inputs.Config, "(defaults)"))
	field("cluster", orNone(r.Inputs.Cluster, "(offline)"))
	field("prometheus", orNone(r.Inputs.Prometheus, "(none)"))
	field("objects", fmt.Sprint(r.Inputs.Objects))
	if r.Digest != "" {
		field("digest", r.Digest)
	}
	if r.SchemaVersion != "" {
		field("schema", r.SchemaVersion)
	}
	var lg []string
	for _, e := range legend() {
		lg = append(lg, e.Mark+" "+string(e.Status))
	}
	field("legend", strings.Join(lg, "  "))
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func textItem(b *bytes.Buffer, it *report.Item, o Options, p painter) {
	sgr := statusSGR(it.Status)
	line := textItemInd + p.paint(sgr, mark(it.Status)+" "+it.Title)
	if it.Severity != "" && it.Severity != report.Blocker {
		line += "  (" + string(it.Severity) + ")"
	}
	line += "  " + p.paint(sgrDim, "["+it.ID+"]")
	b.WriteString(line + "\n")

	for _, pv := range itemDetails(it, o.Verbose) {
		st := p.paint(statusSGR(pv.Status), statusName(pv.Status))
		if pv.Message != "" {
			fmt.Fprintf(b, "%s%s: %s — %s\n", textPartInd, pv.Name, st, indentRest(pv.Message, textPartInd+"  "))
		} else {
			fmt.Fprintf(b, "%s%s: %s\n", textPartInd, pv.Name, st)
		}
		for i := range pv.Findings {
			f := &pv.Findings[i]
			fmt.Fprintf(b, "%s%s %s\n", textFindingInd, p.paint(statusSGR(f.Status), mark(f.Status)), indentRest(f.Message, textFieldInd))
			var fb strings.Builder
			writeFindingFields(&fb, f, textFieldInd)
			b.WriteString(fb.String())
		}
	}
	for i := range it.Attestations {
		a := &it.Attestations[i]
		fmt.Fprintf(b, "%s%s %s\n", textPartInd, p.paint(statusSGR(a.Status), mark(a.Status)), attestationText(a))
	}
}

func textFooter(b *bytes.Buffer, r *report.Report, p painter) {
	rule := strings.Repeat("─", 64)
	fmt.Fprintf(b, "\n%s\n", rule)

	var counts []string
	for _, st := range report.Statuses {
		n := r.Summary.Count(st)
		s := fmt.Sprintf("%d %s", n, st)
		if n > 0 {
			s = p.paint(statusSGR(st), s)
		}
		counts = append(counts, s)
	}
	fmt.Fprintf(b, "summary: %d items — %s\n", summaryTotal(r.Summary), strings.Join(counts, " · "))

	if len(r.InputErrors) > 0 {
		fmt.Fprintf(b, "\n%s\n", p.paint(sgrBold, fmt.Sprintf("input errors (%d):", len(r.InputErrors))))
		for _, e := range r.InputErrors {
			fmt.Fprintf(b, "  %s: %s\n", orDash(location(e.File, e.Line)), indentRest(e.Message, "    "))
		}
	}

	if len(r.Waivers) > 0 {
		fmt.Fprintf(b, "\n%s\n", p.paint(sgrBold, fmt.Sprintf("waivers (%d):", len(r.Waivers))))
		for i := range r.Waivers {
			wv := &r.Waivers[i]
			state := waiverState(wv)
			label := fmt.Sprintf("%-8s", state)
			switch state {
			case "expired":
				label = p.paint(sgrRed, label)
			case "applied":
				label = p.paint(sgrYellow, label)
			}
			used := ""
			if !wv.Expired {
				used = fmt.Sprintf(", covered %d finding%s", wv.Used, plural(wv.Used))
			}
			fmt.Fprintf(b, "  %s %s%s — %s\n", label, waiverTarget(wv), used, waiverDetail(wv))
		}
	}

	textLoadRuns(b, r, p) // loadruns.go

	bl := blockers(r)
	if len(bl) == 0 {
		fmt.Fprintf(b, "\n%s nothing\n", p.paint(sgrBold, "blocks the verdict:"))
	} else {
		fmt.Fprintf(b, "\n%s\n", p.paint(sgrBold, fmt.Sprintf("blocks the verdict (%d):", len(bl))))
	}
	for _, x := range bl {
		if x.Title == "" {
			fmt.Fprintf(b, "  %s %s  [%s]\n", mark(""), "(not in this report)", x.ID)
			continue
		}
		fmt.Fprintf(b, "  %s  [%s]  %s\n", p.paint(statusSGR(x.Status), mark(x.Status)+" "+x.Title), x.ID, x.Status)
	}

	verdict := "VERDICT: " + verdictMark(r.Verdict) + " " + verdictText(r.Verdict)
	if r.Verdict != report.Ready && len(bl) > 0 {
		verdict += fmt.Sprintf(" — %d item%s block%s it", len(bl), plural(len(bl)), singularS(len(bl)))
	}
	sgr := sgrBold + ";97;41"
	if r.Verdict == report.Ready {
		sgr = sgrBold + ";97;42"
	}
	fmt.Fprintf(b, "\n%s\n", p.paint(sgr, verdict))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// singularS is the verb's "s" for a singular subject.
func singularS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}
