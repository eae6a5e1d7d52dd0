package render

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/report"
)

// This file holds what the formats show of the report's load runs: the HTML
// chart section (one figure per run: caption, SVG curve, percentile table)
// and the one-line summary the text and Markdown formats print per run.

// htmlRun is one load run's figure in the HTML report.
type htmlRun struct {
	Anchor  string // element ID, "run-1"
	Run     *report.LoadRun
	Mark    string // the run's verdict as a status mark
	Caption string
	When    string
	SVG     template.HTML // "" when the run has no curve to draw
	Rows    []runRow
	Base    bool // the table has baseline columns
	Figures string
}

// runRow is one percentile of the table beside the chart.
type runRow struct {
	Label, Mesh, Base, Added string
}

// runLink points from an item to the figure of a run it used.
type runLink struct {
	Anchor, ID string
}

// htmlRuns builds the figures, and the links from each item to its runs.
func htmlRuns(r *report.Report) ([]htmlRun, map[string][]runLink) {
	if len(r.LoadRuns) == 0 {
		return nil, nil
	}
	links := map[string][]runLink{}
	out := make([]htmlRun, 0, len(r.LoadRuns))
	for i := range r.LoadRuns {
		run := &r.LoadRuns[i]
		hr := htmlRun{Anchor: "run-" + strconv.Itoa(i+1), Run: run, Mark: mark(runStatus(run)), Caption: runCaption(run), When: runWhen(run)}
		hr.Rows, hr.Base = runRows(run)
		hr.Figures = runFigures(run)
		if chartable(run) {
			hr.SVG = template.HTML(latencySVG(run, hr.Anchor, hr.Caption, runDesc(run)))
		}
		for _, id := range run.UsedBy {
			links[id] = append(links[id], runLink{Anchor: hr.Anchor, ID: run.ID})
		}
		out = append(out, hr)
	}
	return out, links
}

// runStatus maps a run's verdict to a status for its mark.
func runStatus(run *report.LoadRun) report.Status {
	switch run.Verdict {
	case "pass":
		return report.Pass
	case "fail":
		return report.Fail
	}
	return ""
}

// runCaption names a run: kind, target, rate, when, and the items that used it.
func runCaption(run *report.LoadRun) string {
	parts := []string{orDash(run.Kind) + " run of " + orDash(run.Target)}
	if rate := runRate(run); rate != "" {
		parts = append(parts, rate)
	}
	if when := runWhen(run); when != "" {
		parts = append(parts, when)
	}
	if len(run.UsedBy) > 0 {
		parts = append(parts, "used by "+strings.Join(run.UsedBy, ", "))
	}
	return strings.Join(parts, " · ")
}

func runRate(run *report.LoadRun) string {
	if run.TargetQPS <= 0 {
		return ""
	}
	s := strconv.FormatFloat(run.TargetQPS, 'f', -1, 64) + " req/s"
	if run.Kind == "step" {
		s = "up to " + s
	}
	return s
}

// runWhen is the run's start to the minute, or the report's text when it is
// not a time meshready wrote.
func runWhen(run *report.LoadRun) string {
	if run.Start == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, run.Start)
	if err != nil {
		return run.Start
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// runRows are the judged percentiles, mesh beside baseline and the added latency.
func runRows(run *report.LoadRun) ([]runRow, bool) {
	m := run.LatencyMs
	if m == nil {
		return nil, false
	}
	var b, a *report.LatencyMs
	if run.Baseline != nil {
		b = run.Baseline.LatencyMs
	}
	a = run.AddedLatencyMs
	pick := func(l *report.LatencyMs, i int) string {
		if l == nil {
			return "—"
		}
		return msText([]float64{l.P50, l.P90, l.P99, l.P999}[i])
	}
	var rows []runRow
	for i, label := range []string{"p50", "p90", "p99", "p99.9"} {
		rows = append(rows, runRow{Label: label, Mesh: pick(m, i), Base: pick(b, i), Added: pick(a, i)})
	}
	return rows, b != nil
}

// runFigures are the run's counts in one line.
func runFigures(run *report.LoadRun) string {
	s := fmt.Sprintf("%d requests, %s req/s achieved, %s errors", run.Requests,
		strconv.FormatFloat(run.AchievedQPS, 'f', 1, 64), strconv.FormatFloat(100*run.ErrorRate, 'f', 3, 64)+"%")
	if run.Kind == "step" {
		s += "; the curve merges every step"
	}
	return s
}

// runDesc describes the chart for screen readers: what the curves show.
func runDesc(run *report.LoadRun) string {
	var b strings.Builder
	b.WriteString("Latency percentile curve, percentile on a nines scale against milliseconds")
	if l := run.LatencyMs; l != nil {
		fmt.Fprintf(&b, ". Mesh: p50 %s, p90 %s, p99 %s, p99.9 %s", msText(l.P50), msText(l.P90), msText(l.P99), msText(l.P999))
	}
	if run.Baseline != nil && run.Baseline.LatencyMs != nil {
		l := run.Baseline.LatencyMs
		fmt.Fprintf(&b, ". Baseline without the mesh: p50 %s, p90 %s, p99 %s, p99.9 %s", msText(l.P50), msText(l.P90), msText(l.P99), msText(l.P999))
	}
	b.WriteString(".")
	return b.String()
}

// runSummary is a run in one line for the text and Markdown formats: the
// rate, when, p50 and p99 of the mesh and of the baseline.
func runSummary(run *report.LoadRun) string {
	head := orDash(run.Kind) + " " + orDash(run.Target)
	if rate := runRate(run); rate != "" {
		head += " at " + rate
	}
	if when := runWhen(run); when != "" {
		head += " (" + when + ")"
	}
	p := func(l *report.LatencyMs) string {
		return "p50 " + strconv.FormatFloat(l.P50, 'f', 2, 64) + " / p99 " + msText(l.P99)
	}
	var figs []string
	if run.LatencyMs != nil {
		figs = append(figs, "mesh "+p(run.LatencyMs))
	}
	if run.Baseline != nil && run.Baseline.LatencyMs != nil {
		figs = append(figs, "baseline "+p(run.Baseline.LatencyMs))
	}
	if len(figs) > 0 {
		head += ": " + strings.Join(figs, "; ")
	}
	if len(run.UsedBy) > 0 {
		head += " — " + strings.Join(run.UsedBy, ", ")
	}
	return head
}

// textLoadRuns lists the load runs, one line each, in the text footer.
func textLoadRuns(b *bytes.Buffer, r *report.Report, p painter) {
	if len(r.LoadRuns) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s\n", p.paint(sgrBold, fmt.Sprintf("load runs (%d; the HTML report charts their latency):", len(r.LoadRuns))))
	for i := range r.LoadRuns {
		run := &r.LoadRuns[i]
		st := runStatus(run)
		fmt.Fprintf(b, "  %s %s\n", p.paint(statusSGR(st), mark(st)), oneLine(runSummary(run)))
	}
}

// mdLoadRuns lists the load runs, one bullet each, before the checklist.
func mdLoadRuns(b *bytes.Buffer, r *report.Report) {
	if len(r.LoadRuns) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Load runs (%d)\n\n", len(r.LoadRuns))
	for i := range r.LoadRuns {
		run := &r.LoadRuns[i]
		fmt.Fprintf(b, "- %s %s %s\n", mark(runStatus(run)), mdEsc(runSummary(run)), mdCode(run.ID))
	}
}
