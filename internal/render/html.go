package render

import (
	"bytes"
	"html/template"
	"io"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// htmlRenderer writes one self-contained HTML page: inline CSS, a few lines
// of inline JS (expand/collapse all, open the item a link points to), no
// external fetches. The verdict is a big badge; the status counts are chips
// that double as filters (checkboxes, filtering by CSS :has); "blocks the
// verdict" links to the items; then the checklist, each item a <details>
// with its parts, findings and remediations. Everything from the report goes
// through html/template's contextual escaping.
//
// Every part of every item is shown; findings follow Options.Verbose like the
// text format (without it, pass evidence is left out).
//
// The "charts" block, after the waivers, shows each load run of the report
// (report.LoadRun) as a figure: its latency percentile curve, mesh and
// baseline, as inline SVG (chart.go) with a table of the percentiles beside
// it; items link to the runs they used. Without runs it renders nothing.
type htmlRenderer struct{}

func (htmlRenderer) Name() string { return "html" }
func (htmlRenderer) Ext() string  { return "html" }

type htmlPage struct {
	R           *report.Report
	Tool        string
	VerdictText string
	VerdictMark string
	Ready       bool
	Total       int
	Chips       []htmlChip
	Blockers    []blocker
	Sections    []htmlSection
	Legend      []legendEntry
	Runs        []htmlRun // loadruns.go
}

type htmlChip struct {
	Status report.Status
	Mark   string
	Count  int
}

type htmlSection struct {
	Name   string
	Groups []htmlGroup
}

type htmlGroup struct {
	Name  string
	Items []htmlItem
}

type htmlItem struct {
	*report.Item
	Open    bool
	Details []partView
	Shown   int       // findings shown (Details may leave out pass evidence)
	Runs    []runLink // the load runs the item used, charted above
}

func (htmlRenderer) Render(w io.Writer, r *report.Report, o Options) error {
	page := htmlPage{
		R:           r,
		Tool:        toolName(r),
		VerdictText: verdictText(r.Verdict),
		VerdictMark: verdictMark(r.Verdict),
		Ready:       r.Verdict == report.Ready,
		Total:       summaryTotal(r.Summary),
		Blockers:    blockers(r),
		Legend:      legend(),
	}
	if r.Tool.Version != "" {
		page.Tool += " " + r.Tool.Version
	}
	for _, st := range report.Statuses {
		page.Chips = append(page.Chips, htmlChip{st, mark(st), r.Summary.Count(st)})
	}
	var runLinks map[string][]runLink
	page.Runs, runLinks = htmlRuns(r)
	for _, sec := range outline(r) {
		hs := htmlSection{Name: sec.Name}
		for _, g := range sec.Groups {
			hg := htmlGroup{Name: g.Name}
			for _, it := range g.Items {
				hi := htmlItem{Item: it, Open: it.Status == report.Fail || it.Status == report.Error, Runs: runLinks[it.ID]}
				hi.Details = itemDetails(it, o.Verbose)
				for _, pv := range hi.Details {
					hi.Shown += len(pv.Findings)
				}
				hg.Items = append(hg.Items, hi)
			}
			hs.Groups = append(hs.Groups, hg)
		}
		page.Sections = append(page.Sections, hs)
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, page); err != nil {
		return err
	}
	return writeAll(w, &b)
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"mark":         mark,
	"statusName":   statusName,
	"objectName":   objectName,
	"location":     location,
	"queryText":    queryText,
	"waiverText":   waiverText,
	"waiverDetail": func(w report.Waiver) string { return waiverDetail(&w) },
	"waiverState":  func(w report.Waiver) string { return waiverState(&w) },
	"attestation":  func(a report.Attestation) string { return attestationText(&a) },
	"trimNL":       func(s string) string { return strings.Trim(s, "\n") },
	"notBlocker":   func(s report.Severity) bool { return s != "" && s != report.Blocker },
}).Parse(htmlSource))

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.VerdictText}} · Istio beta-readiness · {{.Tool}}</title>
<style>
:root {
  --bg: #f6f7f9; --fg: #1d2330; --muted: #5d6678; --card: #ffffff; --line: #dde1e8; --code: #f0f2f5;
  --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --pending: #0969da; --na: #6e7781; --error: #8250df;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1217; --fg: #e6e9ef; --muted: #9aa4b5; --card: #171b22; --line: #2b313c; --code: #1f252e;
    --pass: #3fb950; --warn: #d29922; --fail: #f85149; --pending: #58a6ff; --na: #8b949e; --error: #bc8cff;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 64px; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: var(--code); padding: 1px 5px; border-radius: 4px; }
pre { background: var(--code); padding: 10px 12px; border-radius: 6px; overflow-x: auto; margin: 6px 0; }
pre code { background: none; padding: 0; }
a { color: var(--pending); }
header.top { display: flex; gap: 24px; align-items: center; flex-wrap: wrap; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; }
.badge { font-size: 30px; font-weight: 800; letter-spacing: .04em; color: #fff; padding: 12px 26px; border-radius: 10px; white-space: nowrap; }
.badge.ready { background: var(--pass); }
.badge.not-ready { background: var(--fail); }
header h1 { margin: 0 0 4px; font-size: 22px; }
.meta { color: var(--muted); margin: 0; }
dl.inputs { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 10px 0 0; font-size: 14px; }
dl.inputs dt { color: var(--muted); }
dl.inputs dd { margin: 0; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 18px 0; align-items: center; }
.chip { display: inline-flex; gap: 6px; align-items: center; border: 1px solid var(--line); background: var(--card); border-radius: 999px; padding: 4px 12px; cursor: pointer; user-select: none; }
.chip b { font-size: 16px; }
.chip input { margin: 0; }
.chip:has(input:not(:checked)) { opacity: .45; }
.tools { margin-left: auto; display: flex; gap: 6px; }
.tools button { font: inherit; font-size: 13px; border: 1px solid var(--line); background: var(--card); color: var(--fg); border-radius: 6px; padding: 3px 10px; cursor: pointer; }
.box { background: var(--card); border: 1px solid var(--line); border-left-width: 5px; border-radius: 8px; padding: 12px 18px; margin: 14px 0; }
.box h2 { font-size: 17px; margin: 0 0 6px; }
.box ul { margin: 0; padding-left: 20px; }
.box.blocking { border-left-color: var(--fail); }
.box.clear { border-left-color: var(--pass); }
.box.inputs-bad { border-left-color: var(--error); }
.box.waivers { border-left-color: var(--warn); }
section.sec > h2 { font-size: 21px; margin: 34px 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3.grp { font-size: 16px; margin: 18px 0 6px; color: var(--muted); }
details.item { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--na); border-radius: 6px; margin: 5px 0; }
details.item > summary { cursor: pointer; padding: 7px 12px; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
details.item > summary .title { font-weight: 600; }
details.item > summary .id { color: var(--muted); font-size: 12px; }
details.item > summary .st { margin-left: auto; font-size: 13px; color: var(--muted); }
details.item > .body { padding: 4px 16px 12px 40px; border-top: 1px solid var(--line); }
details.item:target { outline: 2px solid var(--pending); }
.sev { font-size: 12px; border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; color: var(--muted); }
.item.st-pass, .finding.st-pass { border-left-color: var(--pass) !important; }
.item.st-warn, .finding.st-warn { border-left-color: var(--warn) !important; }
.item.st-fail, .finding.st-fail { border-left-color: var(--fail) !important; }
.item.st-pending, .finding.st-pending { border-left-color: var(--pending) !important; }
.item.st-not-applicable, .finding.st-not-applicable { border-left-color: var(--na) !important; }
.item.st-error, .finding.st-error { border-left-color: var(--error) !important; }
table.parts { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
table.parts td { padding: 2px 14px 2px 0; vertical-align: top; }
table.parts td:first-child { color: var(--muted); }
.finding { border-left: 3px solid var(--line); padding: 4px 0 4px 12px; margin: 10px 0; }
.finding .msg { font-weight: 500; }
.finding dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0 0; font-size: 14px; }
.finding dt { color: var(--muted); }
.finding dd { margin: 0; overflow-wrap: anywhere; }
.oe { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 4px; }
.oe div { background: var(--code); border-radius: 6px; padding: 4px 10px; font-size: 14px; overflow-wrap: anywhere; }
.lbl { display: block; color: var(--muted); font-size: 12px; margin-top: 6px; }
.oe .lbl { margin-top: 0; }
.waiver, .attest { font-size: 14px; margin: 4px 0; }
.none { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; }
:root { --mesh: #0969da; --base: #bc4c00; }
@media (prefers-color-scheme: dark) { :root { --mesh: #58a6ff; --base: #f0883e; } }
section.runs > h2 { font-size: 21px; margin: 34px 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
figure.run { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 12px 0; }
figure.run figcaption { font-weight: 600; margin-bottom: 6px; overflow-wrap: anywhere; }
.run-body { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
svg.lat { width: 100%; max-width: 560px; height: auto; color: var(--fg); }
svg.lat .grid { stroke: var(--line); }
svg.lat .axis { stroke: var(--muted); }
.c-mesh { stroke: var(--mesh); fill: var(--mesh); }
.c-base { stroke: var(--base); fill: var(--base); }
table.pct { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
table.pct th, table.pct td { padding: 2px 10px; text-align: right; border-bottom: 1px solid var(--line); }
table.pct th[scope=row], table.pct thead th:first-child { text-align: left; color: var(--muted); font-weight: 500; }
.key { display: inline-block; width: 14px; height: 0; border-top: 3px solid; margin: 0 5px 3px 0; vertical-align: middle; }
.key.c-mesh { border-color: var(--mesh); }
.key.c-base { border-top-style: dashed; border-color: var(--base); }
.runlink { font-size: 14px; margin: 4px 0; }
body:has(#f-pass:not(:checked)) .item.st-pass,
body:has(#f-warn:not(:checked)) .item.st-warn,
body:has(#f-fail:not(:checked)) .item.st-fail,
body:has(#f-pending:not(:checked)) .item.st-pending,
body:has(#f-not-applicable:not(:checked)) .item.st-not-applicable,
body:has(#f-error:not(:checked)) .item.st-error { display: none; }
@media print { .chips input, .tools { display: none; } }
</style>
</head>
<body>
<main>
<header class="top">
  <div class="badge {{if .Ready}}ready{{else}}not-ready{{end}}">{{.VerdictMark}} {{.VerdictText}}</div>
  <div>
    <h1>Istio beta-readiness</h1>
    <p class="meta">{{.Tool}} · {{.Total}} items · {{.R.Inputs.Objects}} objects{{with .R.SchemaVersion}} · schema {{.}}{{end}}</p>
    <dl class="inputs">
      <dt>inputs</dt><dd>{{range $i, $p := .R.Inputs.Paths}}{{if $i}}, {{end}}<code>{{$p}}</code>{{else}}<span class="none">none</span>{{end}}</dd>
      <dt>config</dt><dd>{{with .R.Inputs.Config}}<code>{{.}}</code>{{else}}<span class="none">defaults</span>{{end}}</dd>
      <dt>cluster</dt><dd>{{with .R.Inputs.Cluster}}<code>{{.}}</code>{{else}}<span class="none">offline</span>{{end}}</dd>
      <dt>prometheus</dt><dd>{{with .R.Inputs.Prometheus}}<code>{{.}}</code>{{else}}<span class="none">none</span>{{end}}</dd>
      {{- with .R.Digest}}
      <dt>digest</dt><dd><code>{{.}}</code></dd>
      {{- end}}
    </dl>
  </div>
</header>

<div class="chips" role="group" aria-label="Show items by status">
  {{- range .Chips}}
  <label class="chip st-{{.Status}}" title="show {{.Status}} items"><input type="checkbox" id="f-{{.Status}}" checked> {{.Mark}} {{.Status}} <b>{{.Count}}</b></label>
  {{- end}}
  <span class="tools"><button type="button" data-open="1">expand all</button><button type="button" data-open="0">collapse all</button></span>
</div>

{{if .Blockers -}}
<div class="box blocking">
  <h2>Blocks the verdict ({{len .Blockers}})</h2>
  <ul>
    {{- range .Blockers}}
    {{- if .Title}}
    <li>{{mark .Status}} <a href="#item-{{.ID}}">{{.Title}}</a> <code>{{.ID}}</code> — {{.Status}}</li>
    {{- else}}
    <li>{{mark ""}} <code>{{.ID}}</code> (not in this report)</li>
    {{- end}}
    {{- end}}
  </ul>
</div>
{{- else -}}
<div class="box clear"><h2>Nothing blocks the verdict</h2></div>
{{- end}}

{{with .R.InputErrors -}}
<div class="box inputs-bad">
  <h2>Input errors ({{len .}})</h2>
  <ul>
    {{- range .}}
    <li><code>{{location .File .Line}}</code> — {{.Message}}</li>
    {{- end}}
  </ul>
</div>
{{- end}}

{{with .R.Waivers -}}
<div class="box waivers">
  <h2>Waivers ({{len .}})</h2>
  <ul>
    {{- range .}}
    <li><b>{{waiverState .}}</b> <code>{{.Item}}</code>{{with .Object}} on <code>{{.}}</code>{{end}}{{if not .Expired}}, covered {{.Used}} finding(s){{end}} — {{waiverDetail .}}</li>
    {{- end}}
  </ul>
</div>
{{- end}}

{{/* ==== charts: the load runs' latency curves (loadruns.go, chart.go) ==== */}}
{{- block "charts" .}}
{{- with .Runs}}
<section class="runs" aria-label="Load runs">
<h2>Load runs ({{len .}})</h2>
{{- range .}}
<figure class="run" id="{{.Anchor}}">
  <figcaption>{{.Mark}} {{.Caption}} <code>{{.Run.ID}}</code></figcaption>
  <div class="run-body">
    {{- if .SVG}}
    {{.SVG}}
    {{- else}}
    <p class="none">No latency curve recorded in this run.</p>
    {{- end}}
    <div>
      {{- if .Rows}}
      <table class="pct">
        <thead><tr><th scope="col">percentile</th><th scope="col"><span class="key c-mesh"></span>mesh</th>{{if .Base}}<th scope="col"><span class="key c-base"></span>baseline</th><th scope="col">added</th>{{end}}</tr></thead>
        <tbody>
        {{- $base := .Base}}
        {{- range .Rows}}
        <tr><th scope="row">{{.Label}}</th><td>{{.Mesh}}</td>{{if $base}}<td>{{.Base}}</td><td>{{.Added}}</td>{{end}}</tr>
        {{- end}}
        </tbody>
      </table>
      {{- end}}
      <p class="meta">{{.Figures}}</p>
      {{- with .Run.Baseline}}{{with .Target}}
      <p class="meta">baseline: <code>{{.}}</code></p>
      {{- end}}{{end}}
    </div>
  </div>
</figure>
{{- end}}
</section>
{{- end}}
{{- end}}
{{- /* ==== end charts ==== */}}

{{range .Sections -}}
<section class="sec">
<h2>{{.Name}}</h2>
{{- range .Groups}}
<h3 class="grp">{{.Name}}</h3>
{{- range .Items}}
<details class="item st-{{.Status}}" id="item-{{.ID}}"{{if .Open}} open{{end}}>
  <summary><span class="mark">{{mark .Status}}</span> <span class="title">{{.Title}}</span>{{if notBlocker .Severity}} <span class="sev">{{.Severity}}</span>{{end}} <code class="id">{{.ID}}</code><span class="st">{{statusName .Status}}</span></summary>
  <div class="body">
    {{- if .Parts}}
    <table class="parts">
      {{- range .Parts}}
      <tr><td>{{.Part}}</td><td>{{mark .Status}} {{.Status}}</td><td>{{.Message}}</td></tr>
      {{- end}}
    </table>
    {{- end}}
    {{- range .Details}}{{$part := .Name}}
    {{- range .Findings}}
    <div class="finding st-{{.Status}}">
      <div class="msg">{{mark .Status}} {{.Message}} <span class="sev">{{$part}}</span></div>
      {{- if or .Object .Field .Query}}
      <dl>
        {{- with .Object}}
        <dt>object</dt><dd><code>{{objectName .}}</code>{{with location .File .Line}} <code>{{.}}</code>{{end}}</dd>
        {{- end}}
        {{- with .Field}}
        <dt>field</dt><dd><code>{{.}}</code></dd>
        {{- end}}
        {{- with .Query}}
        <dt>query</dt><dd><code>{{queryText .}}</code></dd>
        {{- end}}
      </dl>
      {{- end}}
      {{- if or .Observed .Expected}}
      <div class="oe"><div><span class="lbl">observed</span>{{with .Observed}}<code>{{.}}</code>{{else}}—{{end}}</div><div><span class="lbl">expected</span>{{with .Expected}}<code>{{.}}</code>{{else}}—{{end}}</div></div>
      {{- end}}
      {{- with .Waiver}}
      <p class="waiver">{{if .Expired}}⌛{{else}}🛡️{{end}} {{waiverText .}}</p>
      {{- end}}
      {{- with trimNL .Remediation}}
      <div class="lbl">fix</div>
      <pre><code>{{.}}</code></pre>
      {{- end}}
    </div>
    {{- end}}
    {{- end}}
    {{- range .Attestations}}
    <p class="attest">{{mark .Status}} {{attestation .}}</p>
    {{- end}}
    {{- range .Runs}}
    <p class="runlink">📈 latency chart: <a href="#{{.Anchor}}">{{.ID}}</a></p>
    {{- end}}
    {{- if and (not .Parts) (not .Shown) (not .Attestations)}}
    <p class="none">{{if .Item.Findings}}Passing evidence is not shown in this report.{{else}}No evidence recorded.{{end}}</p>
    {{- end}}
  </div>
</details>
{{- end}}
{{- end}}
</section>
{{end}}
<footer>
  <p>Legend: {{range .Legend}}{{.Mark}} {{.Status}} &nbsp; {{end}}</p>
  <p>Generated by {{.Tool}}. Verdict: {{.VerdictText}}.</p>
</footer>
</main>
<script>
(function () {
  document.querySelectorAll("button[data-open]").forEach(function (b) {
    b.addEventListener("click", function () {
      var open = b.getAttribute("data-open") === "1";
      document.querySelectorAll("details.item").forEach(function (d) { d.open = open; });
    });
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var d = id && document.getElementById(id);
    if (d && d.tagName === "DETAILS") { d.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
</script>
</body>
</html>
`
