package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// markdownRenderer writes the checklist as GitHub-flavoured Markdown (for a
// PR comment or a wiki page): the verdict and a summary table first, then
// what blocks the verdict, input errors and waivers, then every section with
// its items as task boxes ("- [x]" for pass and not-applicable) and their
// evidence as nested bullets, remediations in fenced code blocks.
type markdownRenderer struct{}

func (markdownRenderer) Name() string { return "markdown" }
func (markdownRenderer) Ext() string  { return "md" }

func (markdownRenderer) Render(w io.Writer, r *report.Report, o Options) error {
	var b bytes.Buffer
	title := toolName(r)
	if r.Tool.Version != "" {
		title += " " + r.Tool.Version
	}
	fmt.Fprintf(&b, "# Istio beta-readiness: %s %s\n\n", verdictMark(r.Verdict), verdictText(r.Verdict))
	meta := []string{mdEsc(title)}
	if r.SchemaVersion != "" {
		meta = append(meta, "schema "+mdCode(r.SchemaVersion))
	}
	if r.Digest != "" {
		meta = append(meta, "digest "+mdCode(r.Digest))
	}
	b.WriteString(strings.Join(meta, " · ") + "\n\n")

	var paths []string
	for _, p := range r.Inputs.Paths {
		paths = append(paths, mdCode(p))
	}
	mdField(&b, "Inputs", strings.Join(paths, ", "), "none")
	mdField(&b, "Config", mdCodeOpt(r.Inputs.Config), "defaults")
	mdField(&b, "Cluster", mdCodeOpt(r.Inputs.Cluster), "offline")
	mdField(&b, "Prometheus", mdCodeOpt(r.Inputs.Prometheus), "none")
	fmt.Fprintf(&b, "- **Objects:** %d\n\n", r.Inputs.Objects)

	b.WriteString("| Status | Items |\n| :-- | --: |\n")
	for _, st := range report.Statuses {
		fmt.Fprintf(&b, "| %s %s | %d |\n", mark(st), st, r.Summary.Count(st))
	}
	fmt.Fprintf(&b, "| **total** | **%d** |\n", summaryTotal(r.Summary))

	bl := blockers(r)
	fmt.Fprintf(&b, "\n## What blocks the verdict (%d)\n\n", len(bl))
	if len(bl) == 0 {
		b.WriteString("Nothing.\n")
	}
	for _, x := range bl {
		if x.Title == "" {
			fmt.Fprintf(&b, "- %s %s (not in this report)\n", mark(""), mdCode(x.ID))
			continue
		}
		fmt.Fprintf(&b, "- %s **%s** %s — %s\n", mark(x.Status), mdEsc(x.Title), mdCode(x.ID), x.Status)
	}

	if len(r.InputErrors) > 0 {
		fmt.Fprintf(&b, "\n## Input errors (%d)\n\n", len(r.InputErrors))
		for _, e := range r.InputErrors {
			fmt.Fprintf(&b, "- %s — %s\n", mdCode(orDash(location(e.File, e.Line))), mdEsc(e.Message))
		}
	}

	if len(r.Waivers) > 0 {
		fmt.Fprintf(&b, "\n## Waivers (%d)\n\n", len(r.Waivers))
		for i := range r.Waivers {
			wv := &r.Waivers[i]
			target := mdCode(wv.Item)
			if wv.Object != "" {
				target += " on " + mdCode(wv.Object)
			}
			used := ""
			if !wv.Expired {
				used = fmt.Sprintf(", covered %d finding%s", wv.Used, plural(wv.Used))
			}
			fmt.Fprintf(&b, "- **%s** %s%s — %s\n", waiverState(wv), target, used, mdEsc(waiverDetail(wv)))
		}
	}

	mdLoadRuns(&b, r) // loadruns.go

	for _, sec := range outline(r) {
		fmt.Fprintf(&b, "\n## %s\n", mdEsc(orDash(sec.Name)))
		for _, g := range sec.Groups {
			fmt.Fprintf(&b, "\n### %s\n\n", mdEsc(orDash(g.Name)))
			for _, it := range g.Items {
				mdItem(&b, it, o)
			}
		}
	}
	return writeAll(w, &b)
}

func mdField(b *bytes.Buffer, label, v, none string) {
	if v == "" {
		v = "_" + none + "_"
	}
	fmt.Fprintf(b, "- **%s:** %s\n", label, v)
}

func mdItem(b *bytes.Buffer, it *report.Item, o Options) {
	box := "[ ]"
	if it.Status == report.Pass || it.Status == report.NotApplicable {
		box = "[x]"
	}
	line := fmt.Sprintf("- %s %s %s %s", box, mark(it.Status), mdEsc(it.Title), mdCode(it.ID))
	if it.Severity != "" && it.Severity != report.Blocker {
		line += " _(" + string(it.Severity) + ")_"
	}
	b.WriteString(line + "\n")

	for _, pv := range itemDetails(it, o.Verbose) {
		if pv.Message != "" {
			fmt.Fprintf(b, "  - **%s**: %s — %s\n", mdEsc(pv.Name), statusName(pv.Status), mdEsc(pv.Message))
		} else {
			fmt.Fprintf(b, "  - **%s**: %s\n", mdEsc(pv.Name), statusName(pv.Status))
		}
		for i := range pv.Findings {
			mdFinding(b, &pv.Findings[i])
		}
	}
	for i := range it.Attestations {
		a := &it.Attestations[i]
		fmt.Fprintf(b, "  - %s %s\n", mark(a.Status), mdEsc(attestationText(a)))
	}
}

func mdFinding(b *bytes.Buffer, f *report.Finding) {
	const ind = "      " // content column of the field bullets
	fmt.Fprintf(b, "    - %s %s\n", mark(f.Status), mdEsc(f.Message))
	if f.Object != nil {
		s := "object: " + mdCode(objectName(f.Object))
		if l := location(f.Object.File, f.Object.Line); l != "" {
			s += " (" + mdCode(l) + ")"
		}
		b.WriteString(ind + "- " + s + "\n")
	}
	if f.Field != "" {
		b.WriteString(ind + "- field: " + mdCode(f.Field) + "\n")
	}
	var oe []string
	if f.Observed != "" {
		oe = append(oe, "observed "+mdCode(f.Observed))
	}
	if f.Expected != "" {
		oe = append(oe, "expected "+mdCode(f.Expected))
	}
	if len(oe) > 0 {
		b.WriteString(ind + "- " + strings.Join(oe, ", ") + "\n")
	}
	if f.Query != nil {
		b.WriteString(ind + "- query: " + mdCode(queryText(f.Query)) + "\n")
	}
	if f.Waiver != nil {
		b.WriteString(ind + "- " + mdEsc(waiverText(f.Waiver)) + "\n")
	}
	if fix := strings.Trim(f.Remediation, "\n"); fix != "" {
		b.WriteString(ind + "- fix:\n")
		mdFence(b, fix, ind+"  ")
	}
}

// mdFence writes code in a fence long enough not to be closed by its content.
func mdFence(b *bytes.Buffer, code, ind string) {
	fence := strings.Repeat("`", max(3, longestRun(code, '`')+1))
	lang := ""
	if looksLikeYAML(code) {
		lang = "yaml"
	}
	b.WriteString(ind + fence + lang + "\n")
	for _, l := range strings.Split(code, "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(ind + l + "\n")
	}
	b.WriteString(ind + fence + "\n")
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// mdCode is s as an inline code span (newlines folded to spaces).
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	ticks := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || len(ticks) > 1 {
		return ticks + " " + s + " " + ticks
	}
	return ticks + s + ticks
}

func mdCodeOpt(s string) string {
	if s == "" {
		return ""
	}
	return mdCode(s)
}

// mdEsc escapes the characters Markdown (and GitHub's HTML) would interpret,
// and folds newlines so that text stays in its bullet.
func mdEsc(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '~', '#':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// oneLine folds line breaks (and the indentation after them) into one space.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}
