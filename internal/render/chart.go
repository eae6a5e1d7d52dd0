package render

import (
	"html"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// This file draws a load run's latency percentile curve as inline SVG, the
// way latency tools (HdrHistogram's plotter, fortio) draw it: the x axis is
// the "nines" scale, −log10(1 − p/100), so p90, p99, p99.9 and p99.99 are
// evenly spaced and the tail gets the room it deserves; the y axis is linear
// milliseconds from 0 with round ticks. Every number is written with a fixed
// format, so the same report gives the same bytes.

// Chart geometry in SVG user units: the plot area leaves room on the left
// for the y tick labels and below for the x tick labels and axis title.
const (
	chartW, chartH = 560, 300
	plotL, plotR   = 64, 532
	plotT, plotB   = 16, 246
)

// Colours of the two curves. The page's CSS overrides them (dark mode); the
// attributes keep an SVG copied out of the page readable.
const (
	meshColour     = "#0969da"
	baselineColour = "#bc4c00"
	// baselineDash also tells the curves apart without colour.
	baselineDash = "6 4"
)

// xTickPercentiles are the labelled percentiles of the nines axis.
var xTickPercentiles = []float64{50, 90, 99, 99.9, 99.99, 99.999, 99.9999}

// maxNines bounds the x axis (p99.9999): further points are not drawn.
const maxNines = 6

// nines maps a percentile to the nines axis: p0 → 0, p90 → 1, p99 → 2.
// p100 (the maximum) is at infinity and is never drawn.
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// latencyScale maps percentiles and milliseconds to SVG coordinates.
type latencyScale struct {
	xMax  float64 // nines at the right edge of the plot
	yMax  float64 // ms at the top edge: the last y tick
	yStep float64 // ms between y ticks
	yDec  int     // decimals of the y tick labels
}

// drawable reports whether a point can be drawn: a finite, non-negative
// latency at a percentile within [0, 100) and the axis bound.
func drawable(pt report.CurvePoint) bool {
	if pt.Percentile < 0 || pt.Percentile >= 100 || math.IsNaN(pt.Percentile) {
		return false
	}
	if math.IsNaN(pt.Ms) || math.IsInf(pt.Ms, 0) || pt.Ms < 0 {
		return false
	}
	return nines(pt.Percentile) <= maxNines+1e-9
}

// plotted returns the drawable points of a curve in percentile order.
func plotted(c []report.CurvePoint) []report.CurvePoint {
	out := make([]report.CurvePoint, 0, len(c))
	for _, pt := range c {
		if drawable(pt) {
			out = append(out, pt)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Percentile < out[j].Percentile })
	return out
}

// newLatencyScale fits the axes to the drawable points of the curves: x to
// the next whole nine past the highest percentile (at least p90), y to the
// round tick at or above the highest latency.
func newLatencyScale(curves ...[]report.CurvePoint) latencyScale {
	xMax, yMax := 1.0, 0.0
	for _, c := range curves {
		for _, pt := range plotted(c) {
			xMax = max(xMax, math.Ceil(nines(pt.Percentile)-1e-6))
			yMax = max(yMax, pt.Ms)
		}
	}
	s := latencyScale{xMax: min(xMax, maxNines)}
	if yMax <= 0 {
		yMax = 1
	}
	s.yStep = niceStep(yMax / 5)
	n := math.Ceil(yMax/s.yStep - 1e-9)
	s.yMax = n * s.yStep
	s.yDec = decimals(s.yStep)
	return s
}

// niceStep is the smallest of 1, 2, 2.5 and 5 times a power of ten that is
// at least raw (raw > 0).
func niceStep(raw float64) float64 {
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step := m * pow; step >= raw*(1-1e-9) {
			return step
		}
	}
	return 10 * pow
}

// decimals is how many decimals show a tick step exactly (at most 6).
func decimals(step float64) int {
	for d := 0; d < 6; d++ {
		v := step * math.Pow(10, float64(d))
		if math.Abs(v-math.Round(v)) < 1e-6*math.Max(1, v) {
			return d
		}
	}
	return 6
}

func (s latencyScale) x(p float64) float64 {
	return plotL + nines(p)/s.xMax*(plotR-plotL)
}

func (s latencyScale) y(ms float64) float64 {
	return plotB - ms/s.yMax*(plotB-plotT)
}

// yTicks are the y tick values, 0 to yMax.
func (s latencyScale) yTicks() []float64 {
	n := int(math.Round(s.yMax / s.yStep))
	out := make([]float64, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, float64(i)*s.yStep)
	}
	return out
}

// xTicks are the labelled percentiles within the axis.
func (s latencyScale) xTicks() []float64 {
	var out []float64
	for _, p := range xTickPercentiles {
		if nines(p) <= s.xMax+1e-9 {
			out = append(out, p)
		}
	}
	return out
}

func (s latencyScale) yLabel(ms float64) string { return strconv.FormatFloat(ms, 'f', s.yDec, 64) }

// path is the SVG path of a curve's drawable points ("" when none).
func (s latencyScale) path(c []report.CurvePoint) string {
	var b strings.Builder
	for i, pt := range plotted(c) {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		b.WriteString(coord(s.x(pt.Percentile)) + "," + coord(s.y(pt.Ms)))
	}
	return b.String()
}

// coord is a coordinate with one decimal (never "-0.0").
func coord(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// percentileLabel is a percentile as the axis and tables write it: 99.9, not 99.900.
func percentileLabel(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// msText is a latency in the charts' tables and texts.
func msText(ms float64) string { return strconv.FormatFloat(ms, 'f', 2, 64) + " ms" }

// chartable reports whether a run has a curve worth drawing.
func chartable(run *report.LoadRun) bool {
	if len(plotted(run.Curve)) >= 2 {
		return true
	}
	return run.Baseline != nil && len(plotted(run.Baseline.Curve)) >= 2
}

// latencySVG draws one run's percentile curves. id prefixes the element IDs
// (unique in the page); title and desc are its accessible name and
// description. Every text from the report is escaped here: the result goes
// into the page as trusted HTML.
func latencySVG(run *report.LoadRun, id, title, desc string) string {
	var base []report.CurvePoint
	if run.Baseline != nil {
		base = run.Baseline.Curve
	}
	s := newLatencyScale(run.Curve, base)
	esc := html.EscapeString
	var b strings.Builder
	w := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	n := strconv.Itoa
	w(`<svg xmlns="http://www.w3.org/2000/svg" class="lat" viewBox="0 0 `, n(chartW), ` `, n(chartH), `" width="`, n(chartW), `" height="`, n(chartH),
		`" role="img" aria-labelledby="`, esc(id), `-t `, esc(id), `-d" font-family="system-ui, sans-serif" font-size="12">`, "\n")
	w(`<title id="`, esc(id), `-t">`, esc(title), `</title>`, "\n")
	w(`<desc id="`, esc(id), `-d">`, esc(desc), `</desc>`, "\n")

	// Grid and tick labels.
	w(`<g class="grid" stroke="#d0d7de" stroke-width="1">`, "\n")
	for _, v := range s.yTicks() {
		y := coord(s.y(v))
		w(`<line x1="`, coord(plotL), `" y1="`, y, `" x2="`, coord(plotR), `" y2="`, y, `"/>`, "\n")
	}
	for _, p := range s.xTicks() {
		x := coord(s.x(p))
		w(`<line x1="`, x, `" y1="`, coord(plotT), `" x2="`, x, `" y2="`, coord(plotB), `"/>`, "\n")
	}
	w(`</g>`, "\n")
	w(`<g class="axis" stroke="#57606a" stroke-width="1"><line x1="`, coord(plotL), `" y1="`, coord(plotB), `" x2="`, coord(plotR), `" y2="`, coord(plotB),
		`"/><line x1="`, coord(plotL), `" y1="`, coord(plotT), `" x2="`, coord(plotL), `" y2="`, coord(plotB), `"/></g>`, "\n")
	w(`<g class="ticks" fill="currentColor">`, "\n")
	for _, v := range s.yTicks() {
		w(`<text x="`, coord(plotL-6), `" y="`, coord(s.y(v)+4), `" text-anchor="end">`, s.yLabel(v), `</text>`, "\n")
	}
	for _, p := range s.xTicks() {
		w(`<text x="`, coord(s.x(p)), `" y="`, coord(plotB+16), `" text-anchor="middle">`, percentileLabel(p), `</text>`, "\n")
	}
	w(`<text x="`, coord((plotL+plotR)/2.0), `" y="`, coord(plotB+36), `" text-anchor="middle">percentile (nines scale)</text>`, "\n")
	w(`<text transform="rotate(-90)" x="`, coord(-(plotT+plotB)/2.0), `" y="16" text-anchor="middle">latency (ms)</text>`, "\n")
	w(`</g>`, "\n")

	// Curves: the baseline under the mesh, each with a marker per point.
	curve := func(class, colour, dash string, c []report.CurvePoint) {
		d := s.path(c)
		if d == "" {
			return
		}
		w(`<g class="`, class, `" stroke="`, colour, `" fill="`, colour, `">`, "\n")
		w(`<path d="`, d, `" fill="none" stroke-width="2"`)
		if dash != "" {
			w(` stroke-dasharray="`, dash, `"`)
		}
		w(`/>`, "\n")
		for _, pt := range plotted(c) {
			w(`<circle cx="`, coord(s.x(pt.Percentile)), `" cy="`, coord(s.y(pt.Ms)), `" r="2.5"/>`, "\n")
		}
		w(`</g>`, "\n")
	}
	curve("c-base", baselineColour, baselineDash, base)
	curve("c-mesh", meshColour, "", run.Curve)

	// Legend, top left: the curves rise to the right, so that corner is free.
	w(`<g class="legend" fill="currentColor">`, "\n")
	ly := plotT + 14
	entry := func(class, colour, dash, label string) {
		w(`<line class="`, class, `" x1="`, coord(plotL+12), `" y1="`, coord(float64(ly)-4), `" x2="`, coord(plotL+36), `" y2="`, coord(float64(ly)-4),
			`" stroke="`, colour, `" stroke-width="2"`)
		if dash != "" {
			w(` stroke-dasharray="`, dash, `"`)
		}
		w(`/><text x="`, coord(plotL+42), `" y="`, coord(float64(ly)), `">`, esc(label), `</text>`, "\n")
		ly += 18
	}
	entry("c-mesh", meshColour, "", "mesh")
	if len(plotted(base)) > 0 {
		entry("c-base", baselineColour, baselineDash, "baseline (no mesh)")
	}
	w(`</g>`, "\n")
	w(`</svg>`)
	return b.String()
}
